//! Table-driven tests of the validation rules, on manifests built in code.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn manifest() -> Manifest {
    Manifest {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: Metadata { name: "kubernetes".to_owned() },
        spec: ClusterSpec::default(),
    }
}

fn dcos(login: DcosLogin) -> PlatformSection {
    PlatformSection {
        local: None,
        dcos: Some(DcosSection {
            url: "https://dcos.example.com".to_owned(),
            service: "/prod/kubernetes".to_owned(),
            ca_file: None,
            credentials: login,
        }),
    }
}

fn token() -> DcosLogin {
    DcosLogin { token_file: Some("token".to_owned()), ..DcosLogin::default() }
}

fn backup(destination: &str) -> BackupSection {
    BackupSection {
        schedule: BackupSchedule::Cron("*/30 * * * *".to_owned()),
        destination: destination.to_owned(),
        s3: None,
        retention: None,
        fresh_for: None,
        drill: None,
    }
}

/// The rendered errors of a manifest that must be refused.
fn errors(manifest: &Manifest) -> Vec<String> {
    match manifest.validate() {
        Ok(desired) => panic!("accepted: {desired:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_refused(manifest: &Manifest, expected: &str) {
    let errors = errors(manifest);
    assert!(errors.iter().any(|e| e.contains(expected)), "expected {expected:?} in {errors:#?}");
}

#[test]
fn member_count_follows_high_availability_and_members() {
    let cases = [
        (None, None, Ok(MemberCount::One)),
        (Some(false), None, Ok(MemberCount::One)),
        (Some(true), None, Ok(MemberCount::Three)),
        (None, Some(5), Ok(MemberCount::Five)),
        (Some(false), Some(1), Ok(MemberCount::One)),
        (Some(true), Some(3), Ok(MemberCount::Three)),
        (Some(true), Some(5), Ok(MemberCount::Five)),
        (Some(false), Some(5), Err("5 contradicts highAvailability: false")),
        (Some(true), Some(1), Err("1 contradicts highAvailability: true")),
        (None, Some(2), Err("2 is not allowed (1, 3 or 5")),
        (Some(true), Some(7), Err("7 is not allowed (1, 3 or 5")),
    ];
    for (high_availability, members, expected) in cases {
        let mut m = manifest();
        m.spec.high_availability = high_availability;
        m.spec.members = members;
        match expected {
            Ok(count) => assert_eq!(m.validate().map(|d| d.members), Ok(count)),
            Err(message) => assert_refused(&m, message),
        }
    }
}

#[test]
fn every_error_of_a_manifest_is_reported_at_once() {
    let mut m = manifest();
    m.metadata.name = "Bad_Name".to_owned();
    m.spec.members = Some(4);
    m.spec.recovery =
        Some(RecoverySection { restart_grace: Some("soon".into()), ..RecoverySection::default() });
    let mut section = backup("file:///b");
    section.schedule = BackupSchedule::Cron("* 25 * * *".to_owned());
    m.spec.backup = Some(section);
    let paths: Vec<String> = m.validate().err().unwrap_or_default().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        ["metadata.name", "spec.members", "spec.backup.schedule", "spec.recovery.restartGrace"]
    );
    assert_refused(&m, "the hour field \"25\": number out of bounds");
}

#[test]
fn drill_schedules_are_off_unless_set_and_checked_like_backup_schedules() {
    let policy = |drill: Option<BackupSchedule>| {
        let mut m = manifest();
        let mut section = backup("file:///b");
        section.drill = drill;
        m.spec.backup = Some(section);
        m
    };
    let drill_of = |m: &Manifest| m.validate().map(|d| d.backup.and_then(|b| b.drill));
    assert_eq!(drill_of(&policy(None)), Ok(None), "no drill unless set");
    let daily = policy(Some(BackupSchedule::Every("24h".into())));
    assert_eq!(drill_of(&daily), Ok(Some(Schedule::Every(Duration::from_secs(86_400)))));
    let cron = policy(Some(BackupSchedule::Cron(" 0 4 * * * ".to_owned())));
    assert_eq!(drill_of(&cron), Ok(Some(Schedule::Cron("0 4 * * *".to_owned()))));
    let cases = [
        (BackupSchedule::Every("0s".into()), "spec.backup.drill.every"),
        (BackupSchedule::Every("daily".into()), "spec.backup.drill.every"),
        (BackupSchedule::Cron("0 4 * *".to_owned()), "spec.backup.drill: \"0 4 * *\" has 4 fields"),
        (
            BackupSchedule::Cron("0 4 * * 9".to_owned()),
            "spec.backup.drill: \"0 4 * * 9\" is not a valid cron",
        ),
    ];
    for (drill, expected) in cases {
        assert_refused(&policy(Some(drill)), expected);
    }
    let yaml = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata: { name: k }\nspec:\n  backup:\n    schedule: \"*/30 * * * *\"\n    destination: file:///b\n    drill: { every: 12h }\n";
    let parsed: Manifest = serde_yaml_ng::from_str(yaml).expect("parses");
    assert_eq!(drill_of(&parsed), Ok(Some(Schedule::Every(Duration::from_secs(43_200)))));
    let unknown = yaml.replace("{ every: 12h }", "{ every: 12h, at: 4 }");
    assert!(serde_yaml_ng::from_str::<Manifest>(&unknown).is_err(), "unknown drill fields are refused");
}

#[test]
fn endpoint_templates_need_pod_and_only_known_placeholders() {
    let cases = [
        ("https://{pod}-peer.{service}.autoip:2379", None),
        ("https://{pod}.example:2379", None),
        ("https://etcd.example:2379", Some("that contains {pod}")),
        ("etcd-{pod}:2379", Some("an http:// or https:// URL template")),
        ("https://{pod}.{zone}:2379", Some("{zone} is not a placeholder")),
    ];
    for (template, refusal) in cases {
        let mut m = manifest();
        m.spec.platform = Some(dcos(token()));
        m.spec.etcd = Some(EtcdSection {
            endpoints: Some(Endpoints::Template(template.to_owned())),
            ..EtcdSection::default()
        });
        match refusal {
            None => assert_eq!(
                m.validate().map(|d| d.etcd.endpoints),
                Ok(EndpointsSpec::Template(template.to_owned()))
            ),
            Some(message) => assert_refused(&m, message),
        }
    }
}

#[test]
fn endpoint_maps_name_every_member_and_only_members() {
    let mut m = manifest();
    m.spec.members = Some(3);
    m.spec.platform = Some(dcos(token()));
    let urls = [("etcd-0", "https://a:2379"), ("etcd-1", "http://b:2379"), ("etcd-3", "https://d:2379")];
    m.spec.etcd = Some(EtcdSection {
        tls: None,
        endpoints: Some(Endpoints::Map(
            urls.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        )),
        ..EtcdSection::default()
    });
    assert_refused(&m, "spec.etcd.endpoints.etcd-3: \"etcd-3\" is not a member pod of this 3-member cluster");
    assert_refused(&m, "spec.etcd.endpoints: etcd-2 has no client URL");
}

#[test]
fn the_metrics_port_is_the_packages_2381_on_dcos_zero_turns_it_off_and_local_refuses_it() {
    let mut m = manifest();
    m.spec.platform = Some(dcos(token()));
    assert_eq!(m.validate().map(|d| d.etcd.metrics_port), Ok(Some(2381)), "no etcd section");
    for (given, expected) in [(None, Some(2381)), (Some(0), None), (Some(12381), Some(12381))] {
        m.spec.etcd = Some(EtcdSection { metrics_port: given, ..EtcdSection::default() });
        assert_eq!(m.validate().map(|d| d.etcd.metrics_port), Ok(expected), "{given:?}");
    }
    let mut local = manifest();
    assert_eq!(local.validate().map(|d| d.etcd.metrics_port), Ok(None));
    local.spec.etcd = Some(EtcdSection { metrics_port: Some(2381), ..EtcdSection::default() });
    assert_refused(&local, "spec.etcd.metricsPort: is not allowed with the local platform");
}

#[test]
fn dcos_credentials_need_exactly_one_kind() {
    let cases = [
        (DcosLogin::default(), "no credentials are given"),
        (
            DcosLogin {
                uid: Some("ops".to_owned()),
                token_file: Some("t".to_owned()),
                ..DcosLogin::default()
            },
            "more than one kind of credentials",
        ),
        (
            DcosLogin { uid: Some("ops".to_owned()), ..DcosLogin::default() },
            "credentials.passwordFile: is missing (uid needs passwordFile",
        ),
    ];
    for (login, message) in cases {
        let mut m = manifest();
        m.spec.platform = Some(dcos(login));
        assert_refused(&m, message);
    }
    let mut m = manifest();
    m.spec.platform = Some(dcos(DcosLogin {
        uid: Some("ops".to_owned()),
        password_file: Some("/etc/pw".to_owned()),
        ..DcosLogin::default()
    }));
    let Ok(PlatformSpec::Dcos(spec)) = m.validate().map(|d| d.platform) else {
        panic!("dcos platform expected");
    };
    assert_eq!(
        spec.credentials,
        DcosCredentials::Password { uid: "ops".to_owned(), password_file: PathBuf::from("/etc/pw") }
    );
}

#[test]
fn s3_settings_belong_to_s3_destinations_only() {
    let options = |key: Option<&str>, file: Option<&str>, endpoint: Option<&str>| S3Options {
        endpoint: endpoint.map(str::to_owned),
        region: Some("eu-west-1".to_owned()),
        access_key_id: key.map(str::to_owned),
        secret_access_key_file: file.map(str::to_owned),
    };
    let cases = [
        ("file:///b", options(None, None, None), "spec.backup.s3: is not allowed with a file:// destination"),
        ("s3://bucket", options(Some("AKIA"), None, None), "secretAccessKeyFile: is missing"),
        ("s3://bucket", options(None, Some("f"), None), "accessKeyId: is missing"),
        (
            "s3://bucket",
            options(None, None, Some("minio:9000")),
            "s3.endpoint: \"minio:9000\" is not allowed",
        ),
        ("s3://Bucket_1/x", options(None, None, None), "with a bucket name of 3-63 characters"),
    ];
    for (destination, s3, message) in cases {
        let mut m = manifest();
        let mut section = backup(destination);
        section.s3 = Some(s3);
        m.spec.backup = Some(section);
        assert_refused(&m, message);
    }
    let mut m = manifest();
    let mut section = backup("s3://etcd-backups/prod/");
    section.s3 = Some(options(Some("AKIA"), Some("/etc/s3-secret"), Some("http://127.0.0.1:9000")));
    m.spec.backup = Some(section);
    let destination = m.validate().ok().and_then(|d| d.backup).map(|b| b.destination);
    let Some(Destination::S3(s3)) = destination else {
        panic!("s3 destination expected");
    };
    assert_eq!(s3.prefix, "prod");
    assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(s3.credentials.map(|c| c.access_key_id), Some("AKIA".to_owned()));
}

#[test]
fn base_ports_leave_room_for_every_member() {
    for (members, base, accepted) in [(3, 65530, true), (3, 65531, false), (1, 1023, false), (5, 2379, true)]
    {
        let mut m = manifest();
        m.spec.members = Some(members);
        m.spec.platform = Some(PlatformSection {
            local: Some(LocalSection { ports: Some(Ports::Base(base)), ..LocalSection::default() }),
            dcos: None,
        });
        assert_eq!(m.validate().is_ok(), accepted, "{members} members from port {base}");
    }
}

#[test]
fn zero_is_allowed_only_where_it_means_something() {
    let mut m = manifest();
    m.spec.recovery =
        Some(RecoverySection { restart_grace: Some("0s".into()), ..RecoverySection::default() });
    m.spec.policy = Some(PolicySection { max_data_loss: Some("0s".into()), ..PolicySection::default() });
    let desired = m.validate().expect("zero grace and zero data loss are allowed");
    assert_eq!(desired.recovery.restart_grace, Duration::ZERO);
    assert_eq!(desired.policy.max_data_loss, Duration::ZERO);
    m.spec.recovery = Some(RecoverySection {
        unresponsive_after: Some("0s".into()),
        bootstrap_timeout: Some("0m".into()),
        operation_deadline: Some("0s".into()),
        ..RecoverySection::default()
    });
    let refused = errors(&m);
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().any(|e| e.to_string().contains("spec.recovery.operationDeadline")), "{refused:?}");
}

#[test]
fn backup_first_needs_somewhere_to_write_the_backup() {
    let mut m = manifest();
    m.spec.policy = Some(PolicySection { scale_up: Some(ScaleUp::BackupFirst), ..PolicySection::default() });
    assert_refused(&m, "spec.policy.scaleUp: BackupFirst is not allowed without a backup section");
    m.spec.backup = Some(backup("file:///var/backups"));
    assert!(m.validate().is_ok());
}

proptest! {
    #[test]
    fn only_odd_counts_up_to_five_are_accepted(members in 0u32..100) {
        let mut m = manifest();
        m.spec.members = Some(members);
        prop_assert_eq!(m.validate().is_ok(), matches!(members, 1 | 3 | 5));
    }

    #[test]
    fn durations_with_a_unit_parse(amount in 1u64..100_000, unit in 0usize..4) {
        let (suffix, seconds) = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)][unit];
        let mut m = manifest();
        m.spec.recovery = Some(RecoverySection {
            agent_lost_after: Some(format!("{amount}{suffix}").as_str().into()),
            ..RecoverySection::default()
        });
        let desired = m.validate();
        prop_assert_eq!(
            desired.map(|d| d.recovery.agent_lost_after),
            Ok(Duration::from_secs(amount * seconds))
        );
    }
}

#[test]
fn maintenance_defaults_to_defragmentation_on_and_nospace_manual() {
    let d = manifest().validate().expect("valid");
    assert_eq!(d.maintenance, Maintenance::default());
    let defrag = &d.maintenance.defragmentation;
    assert!(defrag.enabled && defrag.window.is_none());
    assert_eq!((defrag.min_fragmentation, defrag.min_reclaimable_bytes), (0.45, 64 * 1024 * 1024));
    assert_eq!(defrag.pause_between_members, Duration::from_secs(30));
    assert_eq!((d.maintenance.no_space, d.maintenance.quota_backend_bytes), (NoSpacePolicy::Manual, None));
}

#[test]
fn maintenance_settings_parse_byte_sizes_and_refuse_bad_values_one_error_each() {
    let text = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: k\nspec:\n  etcd:\n    quotaBackendBytes: 16MiB\n  policy:\n    noSpace: Recover\n  maintenance:\n    defragmentation:\n      minFragmentation: 0.2\n      minReclaimable: 8MiB\n      pauseBetweenMembers: 1s\n      window:\n        schedule: \"0 3 * * *\"\n        duration: 30m\n";
    let d = parse_str("m", text).expect("valid").remove(0).desired;
    assert_eq!(d.maintenance.quota_backend_bytes, Some(16 * 1024 * 1024));
    assert_eq!(d.maintenance.no_space, NoSpacePolicy::Recover);
    assert_eq!(d.maintenance.defragmentation.min_reclaimable_bytes, 8 * 1024 * 1024);
    assert_eq!(d.maintenance.defragmentation.pause_between_members, Duration::from_secs(1));
    assert!(d.maintenance.defragmentation.window.is_some());
    let section = |f: DefragmentationSection| {
        let mut m = manifest();
        m.spec.maintenance = Some(MaintenanceSection { defragmentation: Some(f) });
        m
    };
    let cases = [
        (
            section(DefragmentationSection { min_fragmentation: Some(0.0), ..Default::default() }),
            "spec.maintenance.defragmentation.minFragmentation: 0 is not allowed (allowed: a share of the database, more than 0 and at most 1, e.g. 0.45)",
        ),
        (
            section(DefragmentationSection { min_fragmentation: Some(1.5), ..Default::default() }),
            "spec.maintenance.defragmentation.minFragmentation: 1.5 is not allowed",
        ),
        (
            section(DefragmentationSection {
                min_reclaimable: Some("64 parsecs".into()),
                ..Default::default()
            }),
            "spec.maintenance.defragmentation.minReclaimable: \"64 parsecs\" is not a byte size",
        ),
        (
            section(DefragmentationSection {
                window: Some(MaintenanceWindowSection {
                    schedule: BackupSchedule::Cron("61 * * * *".into()),
                    duration: "0s".into(),
                }),
                ..Default::default()
            }),
            "spec.maintenance.defragmentation.window.schedule: \"61 * * * *\" is not a valid cron expression",
        ),
    ];
    for (m, message) in cases {
        assert_refused(&m, message);
    }
    for (quota, message) in [
        ("16KiB", "spec.etcd.quotaBackendBytes: 16.0 KiB is not allowed (allowed: 1MiB to 8GiB"),
        ("9GiB", "spec.etcd.quotaBackendBytes: 9.0 GiB is not allowed"),
        ("lots", "spec.etcd.quotaBackendBytes: \"lots\" is not a byte size"),
    ] {
        let mut m = manifest();
        m.spec.etcd = Some(EtcdSection { quota_backend_bytes: Some(quota.into()), ..EtcdSection::default() });
        assert_refused(&m, message);
    }
}

/// Found by the `manifest` fuzz target: the YAML parser takes time quadratic in the
/// nesting of `[` and `{` (100 KB of `{"a":` held it for over a minute), so deep
/// brackets are refused before any parser runs, quickly and with one sentence.
#[test]
fn brackets_nested_too_deep_are_refused_quickly_before_parsing() {
    let texts = [
        format!("a: {}", "[".repeat(1 << 20)),
        format!("{{\"apiVersion\": 1, \"a\": {}", "{\"a\":".repeat(200_000)),
        format!("a: {}", "&x [".repeat(20_000)),
    ];
    for text in texts {
        let start = std::time::Instant::now();
        let error = parse_str("deep.yaml", &text).expect_err("too deep").to_string();
        assert!(error.contains("brackets nested deeper than 128 levels are not allowed"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }
    let at_the_limit = format!("a: {}1{}", "[".repeat(128), "]".repeat(128));
    let error = parse_str("deep.yaml", &at_the_limit).expect_err("not a manifest").to_string();
    assert!(!error.contains("nested deeper"), "128 levels are the parsers' to judge: {error}");
}

/// Found by the `manifest` fuzz target: a manifest whose value holds many `[` was
/// accepted as YAML, but its stored JSON form was refused by the nesting check. JSON
/// is read by serde_json first, brackets in strings and all.
#[test]
fn brackets_inside_a_stored_json_string_are_not_nesting() {
    let yaml = include_str!("../../manifests/local-single.yaml");
    let mut manifest: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("the shipped manifest");
    manifest["spec"]["backup"]["destination"] = serde_json::json!(format!("file:///tmp/{}", "[".repeat(200)));
    let desired = desired_from_json(&manifest).expect("brackets in a string are no nesting");
    assert!(desired.backup.is_some());
}
