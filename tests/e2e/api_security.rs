//! The daemon's API and files through the binary: secrets never leave their files
//! (logs, status, events, metrics, CLI output), and state and backup files are
//! private (0600 files in 0700 directories).

use crate::support;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Harness, free_port, healthy_members, local_manifest, wait_for, wait_for_or_none};

const TOKEN: &str = "api-token-Vq7Lx2Rz9Kp4";
const S3_SECRET: &str = "s3-secret-Hn3Wd8Tj6Bc1";
const DCOS_KEY: &str = "dcos-private-key-Mf5Yg2Qs7Ze0";
const DCOS_PASSWORD: &str = "dcos-password-Ur4Ka9Nx3Lw6";
const SECRETS: [&str; 4] = [TOKEN, S3_SECRET, DCOS_KEY, DCOS_PASSWORD];

/// A raw GET with an optional bearer token: the whole answer, status line first.
fn get(h: &Harness, path: &str, token: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", h.port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn dcos_manifest(name: &str, credentials: &str) -> String {
    format!(
        "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  highAvailability: true\n  platform:\n    dcos:\n      url: http://127.0.0.1:{}\n      service: kubernetes\n      credentials: {credentials}\n  recovery:\n    restartGrace: 1s\n",
        free_port()
    )
}

#[test]
fn secrets_never_appear_in_logs_status_events_metrics_or_cli_output() {
    let mut h = Harness::start();
    h.kill_daemon();
    h.start_daemon_with(&[("ETCD_WARDEN_TOKEN", TOKEN)]);
    let file = |name: &str, content: &str| -> PathBuf {
        let path = h.dir.path().join(name);
        std::fs::write(&path, content).expect("write a secret file");
        path
    };
    let s3_secret = file("s3-secret", S3_SECRET);
    let sa_secret = file(
        "sa-secret.json",
        &serde_json::json!({
            "uid": "etcd-warden",
            "private_key": format!("-----BEGIN PRIVATE KEY-----\n{DCOS_KEY}\n-----END PRIVATE KEY-----\n"),
            "login_endpoint": format!("http://127.0.0.1:{}/acs/api/v1/auth/login", free_port()),
        })
        .to_string(),
    );
    let password = file("dcos-password", DCOS_PASSWORD);
    let local = format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: s3://backups/etcd\n    s3:\n      endpoint: http://127.0.0.1:{}\n      region: us-east-1\n      accessKeyId: warden\n      secretAccessKeyFile: {}\n",
        local_manifest("local", 1, ""),
        free_port(),
        s3_secret.display()
    );
    let manifests = [
        ("local.yaml", local),
        ("sa.yaml", dcos_manifest("sa", &format!("{{ serviceAccountSecretFile: {} }}", sa_secret.display()))),
        ("pw.yaml", dcos_manifest("pw", &format!("{{ uid: warden, passwordFile: {} }}", password.display()))),
    ];
    let mut outputs = Vec::new();
    let mut run = |token: &str, args: &[&str]| {
        let mut command = std::process::Command::new(support::BIN);
        command.args(args).env("ETCD_WARDEN_SERVER", h.server()).env_remove("ETCD_WARDEN_TOKEN");
        if !token.is_empty() {
            command.env("ETCD_WARDEN_TOKEN", token);
        }
        let out = command.output().expect("run the CLI");
        outputs.push(format!(
            "{}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    };
    for (file, yaml) in &manifests {
        let path = h.manifest(file, yaml);
        let out = run(TOKEN, &["apply", "-f", path.to_str().expect("utf-8")]);
        assert!(out.status.success(), "{}", outputs.last().expect("output"));
    }
    let token_file = file("token", &format!("{TOKEN}\n"));
    let from_file = run("", &["--token-file", token_file.to_str().expect("utf-8"), "status"]);
    assert!(from_file.status.success(), "the token from a file: {}", outputs.last().expect("output"));
    let refused = run("wrong-token", &["status", "local"]);
    assert_eq!(refused.status.code(), Some(1), "a wrong token is refused");
    assert!(get(&h, "/v1/clusters", None).starts_with("HTTP/1.1 401"), "no token, no answer");
    assert!(get(&h, "/metrics", Some("wrong-token")).starts_with("HTTP/1.1 401"));
    wait_for("the local cluster healthy", Duration::from_secs(60), || {
        let status = serde_json::from_str(body(&get(&h, "/v1/clusters/local/status", Some(TOKEN)))).ok()?;
        (healthy_members(&status) == 1).then_some(())
    });
    let backup = run(TOKEN, &["backup", "local"]);
    assert_eq!(backup.status.code(), Some(1), "a backup to an unreachable S3 fails: {}", outputs.join("\n"));
    for name in ["sa", "pw"] {
        let seen = wait_for_or_none(Duration::from_secs(30), || {
            let events = body(&get(&h, &format!("/v1/clusters/{name}/events"), Some(TOKEN))).to_owned();
            (events.len() > 2).then_some(())
        });
        let status = get(&h, &format!("/v1/clusters/{name}/status"), Some(TOKEN));
        assert!(seen.is_some(), "{name}: a failed login is reported: {status}");
    }
    let mut seen = vec![("daemon log".to_owned(), h.daemon_log()), ("CLI".to_owned(), outputs.join("\n"))];
    for name in ["local", "sa", "pw"] {
        for what in ["status", "events", "backups"] {
            let answer = get(&h, &format!("/v1/clusters/{name}/{what}"), Some(TOKEN));
            seen.push((format!("{name} {what}"), answer));
        }
    }
    seen.push(("metrics".to_owned(), get(&h, "/metrics", Some(TOKEN))));
    seen.push(("cluster list".to_owned(), get(&h, "/v1/clusters", Some(TOKEN))));
    for path in files_under(&h.state_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        seen.push((path.display().to_string(), text));
    }
    for (place, text) in &seen {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} appears in the {place}:\n{text}");
        }
    }
    let log = h.daemon_log();
    assert!(log.contains("local"), "the log is not empty: {log}");
}

/// Every file and directory under `dir` (not `dir` itself).
fn entries_under(dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                stack.push(path.clone());
            }
            out.push((path, is_dir));
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    entries_under(dir).into_iter().filter(|(_, is_dir)| !is_dir).map(|(p, _)| p).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn state_and_backup_files_are_0600_in_0700_directories() {
    let h = Harness::start();
    let backups = h.dir.path().join("backups");
    let yaml = format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    retention: {{ keepLast: 5 }}\n    freshFor: 15m\n",
        local_manifest("kubernetes", 1, ""),
        backups.display()
    );
    h.apply("c.yaml", &yaml);
    h.wait_healthy("kubernetes", 1, Duration::from_secs(60));
    h.cli_ok(&["backup", "kubernetes"]);
    let mut wrong = Vec::new();
    for root in [h.state_dir(), backups.clone()] {
        assert_eq!(mode(&root), 0o700, "{}", root.display());
        let entries = entries_under(&root);
        assert!(entries.iter().any(|(_, is_dir)| !is_dir), "files under {}", root.display());
        for (path, is_dir) in entries {
            let expected = if is_dir { 0o700 } else { 0o600 };
            if mode(&path) != expected {
                wrong.push(format!("{:o} {}", mode(&path), path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "not private:\n{}", wrong.join("\n"));
}
