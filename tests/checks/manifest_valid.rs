//! Manifests that are accepted, and the defaults they get.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_warden::manifest::{
    Destination, EndpointsSpec, LocalTlsSpec, MemberCount, PlatformSpec, PortsSpec, QuorumLossPolicy,
    ReconcileMode, ScaleUpPolicy, Schedule, load_file, parse_str,
};

const MINIMAL: &str = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: kubernetes\n";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests").join(name)
}

#[test]
fn a_minimal_manifest_gets_every_default() {
    let loaded = parse_str("cluster.yaml", MINIMAL).expect("minimal manifest is valid");
    assert_eq!(loaded.len(), 1);
    let desired = &loaded[0].desired;
    assert_eq!(desired.name.as_str(), "kubernetes");
    assert_eq!(desired.members, MemberCount::One);
    assert_eq!(desired.reconcile, ReconcileMode::Active);
    let PlatformSpec::Local(local) = &desired.platform else {
        panic!("local is the default platform, got {:?}", desired.platform);
    };
    assert_eq!(local.etcd_binary, PathBuf::from("etcd"));
    assert_eq!(local.host, "127.0.0.1");
    assert_eq!(local.ports, PortsSpec::Auto);
    assert_eq!(desired.etcd.endpoints, EndpointsSpec::Default);
    assert_eq!(desired.etcd.tls, None);
    assert_eq!(desired.backup, None);
    assert_eq!(desired.policy.scale_up, ScaleUpPolicy::RequireFreshBackup);
    assert_eq!(desired.policy.quorum_loss, QuorumLossPolicy::Manual);
    assert_eq!(desired.policy.max_data_loss, Duration::from_secs(3600));
    let recovery = desired.recovery;
    assert_eq!(recovery.restart_grace, Duration::from_secs(30));
    assert_eq!(recovery.unresponsive_after, Duration::from_secs(300));
    assert_eq!(recovery.agent_lost_after, Duration::from_secs(60));
    assert_eq!(recovery.bootstrap_attempts, 3);
    assert_eq!(recovery.bootstrap_timeout, Duration::from_secs(60));
}

#[test]
fn high_availability_alone_means_three_members() {
    let text = format!("{MINIMAL}spec:\n  highAvailability: true\n");
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    assert_eq!(loaded[0].desired.members, MemberCount::Three);
    let text = format!("{MINIMAL}spec:\n  highAvailability: true\n  members: 5\n");
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    assert_eq!(loaded[0].desired.members, MemberCount::Five);
    let text = format!("{MINIMAL}spec:\n  members: 3\n");
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    assert_eq!(loaded[0].desired.members, MemberCount::Three);
}

#[test]
fn backup_defaults_fresh_for_to_fifteen_minutes() {
    let text = format!(
        "{MINIMAL}spec:\n  paused: true\n  platform:\n    local:\n  backup:\n    schedule: {{ every: 30m }}\n    destination: s3://etcd-backups/prod/k8s/\n"
    );
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    let desired = &loaded[0].desired;
    assert_eq!(desired.reconcile, ReconcileMode::Paused);
    let backup = desired.backup.as_ref().expect("backup section");
    assert_eq!(backup.fresh_for, Duration::from_secs(15 * 60));
    assert_eq!(backup.schedule, Schedule::Every(Duration::from_secs(30 * 60)));
    let Destination::S3(s3) = &backup.destination else {
        panic!("s3 destination expected, got {:?}", backup.destination);
    };
    assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("etcd-backups", "prod/k8s"));
    assert_eq!(backup.retention.keep_last, None);
}

#[test]
fn json_input_works_and_round_trips() {
    let text = r#"{"apiVersion": "etcd-warden/v1alpha1", "kind": "EtcdCluster",
        "metadata": {"name": "kubernetes"},
        "spec": {"members": 3, "platform": {"local": {"ports": 23790}},
                 "backup": {"schedule": "*/30 * * * *", "destination": "file:///var/backups"}}}"#;
    let loaded = parse_str("cluster.json", text).expect("valid JSON");
    let desired = &loaded[0].desired;
    assert_eq!(desired.members, MemberCount::Three);
    let PlatformSpec::Local(local) = &desired.platform else {
        panic!("local platform expected");
    };
    assert_eq!(local.ports, PortsSpec::Base(23790));
    // The daemon stores the raw manifest as JSON and validates it again on load.
    let stored = serde_json::to_string(&loaded[0].manifest).expect("serialize");
    let again = parse_str("stored kubernetes", &stored).expect("stored form is valid");
    assert_eq!(again[0].manifest, loaded[0].manifest);
    assert_eq!(again[0].desired, loaded[0].desired);
}

#[test]
fn several_documents_load_in_order() {
    let text =
        format!("# two clusters\n{MINIMAL}---\n---\n{}\n---\n", MINIMAL.replace("kubernetes", "other"));
    let loaded = parse_str("clusters.yaml", &text).expect("valid");
    let names: Vec<_> = loaded.iter().map(|l| (l.document, l.desired.name.to_string())).collect();
    assert_eq!(names, [(1, "kubernetes".to_owned()), (3, "other".to_owned())]);
    let json = format!(
        "{}\n{}",
        r#"{"apiVersion":"etcd-warden/v1alpha1","kind":"EtcdCluster","metadata":{"name":"a"}}"#,
        r#"{"apiVersion":"etcd-warden/v1alpha1","kind":"EtcdCluster","metadata":{"name":"b"}}"#
    );
    let loaded = parse_str("clusters.json", &json).expect("valid JSON stream");
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[1].document, 2);
}

#[test]
fn endpoint_maps_name_every_member() {
    let text = format!(
        "{MINIMAL}spec:\n  members: 3\n  platform:\n    dcos:\n      url: https://dcos.example.com\n      service: kubernetes\n      credentials: {{ tokenFile: token }}\n  etcd:\n    endpoints:\n      etcd-0: https://10.0.0.1:2379\n      etcd-1: https://10.0.0.2:2379\n      etcd-2: https://10.0.0.3:2379\n"
    );
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    let EndpointsSpec::Map(map) = &loaded[0].desired.etcd.endpoints else {
        panic!("a map of endpoints expected");
    };
    assert_eq!(map.len(), 3);
    assert_eq!(map[2].0.to_string(), "etcd-2");
    // On DC/OS a lost agent gets 5 minutes to come back (Mesos has already waited
    // 75 s before it calls the agent lost); the other windows are the same.
    let recovery = loaded[0].desired.recovery;
    assert_eq!(recovery.agent_lost_after, Duration::from_secs(300));
    assert_eq!(recovery.restart_grace, Duration::from_secs(30));
    let text = format!("{text}  recovery:\n    agentLostAfter: 90s\n");
    let loaded = parse_str("cluster.yaml", &text).expect("valid");
    assert_eq!(loaded[0].desired.recovery.agent_lost_after, Duration::from_secs(90), "a value given wins");
}

#[test]
fn local_tls_is_auto_or_the_operators_files_with_a_client_certificate() {
    let auto = format!("{MINIMAL}spec:\n  platform:\n    local:\n      tls: auto\n");
    let loaded = parse_str("cluster.yaml", &auto).expect("auto is valid");
    let PlatformSpec::Local(local) = &loaded[0].desired.platform else { panic!("local expected") };
    assert_eq!(local.tls, Some(LocalTlsSpec::Auto));
    assert_eq!(loaded[0].desired.etcd.tls, None, "the generated client certificate is used");
    let files = format!(
        "{MINIMAL}spec:\n  platform:\n    local:\n      tls:\n        caFile: /pki/ca.crt\n        certFile: /pki/member.crt\n        keyFile: /pki/member.key\n  etcd:\n    tls: {{ caFile: /pki/ca.crt, certFile: /pki/warden.crt, keyFile: /pki/warden.key }}\n"
    );
    let loaded = parse_str("cluster.yaml", &files).expect("files with a client certificate are valid");
    let PlatformSpec::Local(local) = &loaded[0].desired.platform else { panic!("local expected") };
    let Some(LocalTlsSpec::Files(member)) = &local.tls else { panic!("files expected: {local:?}") };
    assert_eq!(member.cert_file, Path::new("/pki/member.crt"));
    assert_eq!(
        loaded[0].desired.etcd.tls.as_ref().map(|t| t.key_file.clone()),
        Some("/pki/warden.key".into())
    );
    let json = r#"{"apiVersion":"etcd-warden/v1alpha1","kind":"EtcdCluster","metadata":{"name":"k"},"spec":{"platform":{"local":{"tls":"auto"}}}}"#;
    let loaded = parse_str("cluster.json", json).expect("JSON too");
    assert!(
        matches!(&loaded[0].desired.platform, PlatformSpec::Local(l) if l.tls == Some(LocalTlsSpec::Auto))
    );
    let plain = parse_str("cluster.yaml", &format!("{MINIMAL}spec:\n")).expect("valid");
    assert!(
        matches!(&plain[0].desired.platform, PlatformSpec::Local(l) if l.tls.is_none()),
        "plain http by default"
    );
}

#[test]
fn every_example_manifest_is_valid() {
    for name in ["local-single.yaml", "local-ha.yaml", "dcos-ha.yaml"] {
        let loaded = load_file(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.len(), 1, "{name} holds one cluster");
    }
    let ha = load_file(&example("local-ha.yaml")).expect("valid");
    assert_eq!(ha[0].desired.members, MemberCount::Three);
    assert_eq!(ha[0].desired.recovery.restart_grace, Duration::from_secs(5));
    let dcos = load_file(&example("dcos-ha.yaml")).expect("valid");
    assert!(matches!(dcos[0].desired.platform, PlatformSpec::Dcos(_)));
}

#[test]
fn a_missing_file_names_the_file() {
    let error = load_file(Path::new("does-not-exist.yaml")).expect_err("missing file");
    let message = error.to_string();
    assert!(message.starts_with("does-not-exist.yaml: cannot read the manifest"), "{message}");
}

#[test]
fn empty_sections_mean_their_defaults() {
    let text = format!("{MINIMAL}spec:\n");
    let loaded = parse_str("cluster.yaml", &text).expect("empty spec is valid");
    assert_eq!(loaded[0].desired.members, MemberCount::One);
    let text = format!("{MINIMAL}spec:\n  platform:\n    local:\n  recovery:\n");
    let loaded = parse_str("cluster.yaml", &text).expect("empty local is valid");
    assert!(matches!(loaded[0].desired.platform, PlatformSpec::Local(_)));
}
