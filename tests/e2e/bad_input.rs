//! Bad input through the binary: one clear error, exit status 1 (2 for usage), and
//! nothing changes in the store.

use crate::support;
use std::path::Path;
use std::time::Duration;

use crate::support::{Harness, local_manifest};

const HEAD: &str = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: kubernetes\n";

fn spec(body: &str) -> String {
    format!("{HEAD}spec:\n{body}")
}

/// Every file under the state directory with its content, to prove nothing changed.
fn snapshot_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "desired.json") {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn invalid_manifests_are_refused_with_one_clear_error_and_change_nothing() {
    let h = Harness::start();
    // An existing cluster whose desired state must survive every bad apply.
    h.apply("good.yaml", &local_manifest("kubernetes", 1, ""));
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "wrong kind",
            "apiVersion: etcd-warden/v1alpha1\nkind: EtcdBackup\nmetadata:\n  name: kubernetes\nspec: {}\n"
                .into(),
            &["kind", "EtcdCluster"],
        ),
        (
            "wrong apiVersion",
            "apiVersion: v1\nkind: EtcdCluster\nmetadata:\n  name: kubernetes\nspec: {}\n".into(),
            &["apiVersion", "etcd-warden/v1alpha1"],
        ),
        ("unknown field", spec("  highAvailability: true\n  replicas: 3\n"), &["spec.replicas", "allowed"]),
        (
            "nested unknown field",
            spec("  recovery:\n    restartGrase: 5s\n"),
            &["spec.recovery.restartGrase", "restartGrace"],
        ),
        ("members 0", spec("  members: 0\n"), &["spec.members", "1, 3 or 5"]),
        ("members 2", spec("  highAvailability: true\n  members: 2\n"), &["spec.members", "1, 3 or 5"]),
        ("members 4", spec("  highAvailability: true\n  members: 4\n"), &["spec.members", "1, 3 or 5"]),
        ("members 6", spec("  highAvailability: true\n  members: 6\n"), &["spec.members", "1, 3 or 5"]),
        (
            "members contradict HA",
            spec("  highAvailability: false\n  members: 3\n"),
            &["spec.members", "highAvailability"],
        ),
        (
            "bad name",
            "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: Kube_Prod\nspec: {}\n"
                .into(),
            &["metadata.name", "DNS label"],
        ),
        ("bad duration", spec("  recovery:\n    restartGrace: soon\n"), &["spec.recovery.restartGrace"]),
        (
            "bad cron",
            spec("  backup:\n    schedule: \"every tuesday\"\n    destination: file:///tmp/b\n"),
            &["spec.backup.schedule"],
        ),
        (
            "two platforms",
            spec(
                "  platform:\n    local: {}\n    dcos:\n      url: https://dcos.example.com\n      service: kubernetes\n      credentials: { tokenFile: t }\n",
            ),
            &["spec.platform", "exactly one"],
        ),
        ("no platform", spec("  platform: {}\n"), &["spec.platform"]),
        ("empty file", String::new(), &["empty"]),
        (
            "truncated YAML",
            format!("{HEAD}spec:\n  recovery:\n    restartGrace: \"5s"),
            &["line", "not well-formed"],
        ),
        (
            "number where a string belongs",
            spec("  platform:\n    local:\n      host: 127\n"),
            &["spec.platform.local.host"],
        ),
        ("string where a bool belongs", spec("  paused: \"yes\"\n"), &["spec.paused", "true or false"]),
    ];
    assert!(cases.len() >= 15);
    let before = snapshot_of(&h.state_dir());
    for (name, yaml, expected) in &cases {
        let path = h.manifest("bad.yaml", yaml);
        for command in ["apply", "validate"] {
            let out = h.cli(&[command, "-f", path.to_str().expect("utf-8")]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name}: {command} exit status; stderr: {stderr}");
            assert!(stderr.starts_with("error: "), "{name}: {stderr}");
            assert!(stderr.contains("bad.yaml"), "{name}: the file is named: {stderr}");
            for word in *expected {
                assert!(stderr.contains(word), "{name}: {word:?} missing from: {stderr}");
            }
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        }
    }
    assert_eq!(snapshot_of(&h.state_dir()), before, "a refused manifest changed the store");
}

#[test]
fn the_api_refuses_bad_requests_in_one_sentence_and_usage_errors_exit_2() {
    let h = Harness::start();
    let unknown = h.cli(&["status", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nosuch is not managed"), "{unknown:?}");
    let bad_name = h.cli(&["events", "Bad_Name"]);
    assert_eq!(bad_name.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("cluster name"), "{bad_name:?}");
    let usage = h.cli(&["status", "-o", "yaml"]);
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
    let usage = h.cli(&["apply"]);
    assert_eq!(usage.status.code(), Some(2));
    // A raw request with a body that is not a manifest.
    let answer = support::http_post(&format!("{}/v1/clusters", h.server()), "{\"kind\": 3}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    let answer = support::http_post(&format!("{}/v1/clusters", h.server()), "not json at all");
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("must be one EtcdCluster manifest"),
        "{answer}"
    );
    // The daemon still serves after all that.
    assert!(support::http_get(&format!("{}/healthz", h.server())).is_ok());
}

#[test]
fn changing_the_platform_or_member_count_of_a_cluster_is_refused_and_changes_nothing() {
    let mut h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 1, ""));
    h.wait_healthy("kubernetes", 1, Duration::from_secs(60));
    let before = snapshot_of(&h.state_dir());
    let path = h.manifest("scale.yaml", &local_manifest("kubernetes", 3, ""));
    let out = h.cli(&["apply", "-f", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.members"), "{out:?}");
    assert_eq!(snapshot_of(&h.state_dir()), before);
    let dcos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/dcos-ha.yaml");
    let out = h.cli(&["apply", "-f", dcos.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.platform cannot change from local to dcos"),
        "{out:?}"
    );
    assert_eq!(snapshot_of(&h.state_dir()), before);
    // The same manifest again is accepted and keeps the generation.
    let same = h.manifest("same.yaml", &local_manifest("kubernetes", 1, ""));
    let out = h.cli_ok(&["apply", "-f", same.to_str().expect("utf-8")]);
    assert!(out.contains("unchanged (generation 1)"), "{out}");
    let dry = h.cli_ok(&["apply", "--dry-run", "-f", same.to_str().expect("utf-8")]);
    assert!(dry.contains("dry run"), "{dry}");
    assert_eq!(snapshot_of(&h.state_dir()), before);
    // `run -f` goes through the same admission: the daemon does not start, and says why.
    h.kill_daemon();
    for (file, why) in [(&path, "spec.members"), (&dcos, "spec.platform cannot change from local to dcos")] {
        let out = std::process::Command::new(support::BIN)
            .args(["run", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(h.state_dir())
            .arg("-f")
            .arg(file)
            .output()
            .expect("run the daemon");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{out:?}");
        assert_eq!(snapshot_of(&h.state_dir()), before, "nothing stored");
    }
    h.start_daemon();
}
