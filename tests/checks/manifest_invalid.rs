//! Manifests that are refused, one case per rule: each error is one clear message that
//! names the file, the document, the field path and what is allowed.

use etcd_warden::manifest::parse_str;

const HEADER: &str = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\n";
const VALID: &str = "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: kubernetes\n";

/// A valid manifest with `spec` given as YAML lines (indented by two spaces).
fn with_spec(spec: &str) -> String {
    format!("{VALID}spec:\n{spec}")
}

struct Case {
    name: &'static str,
    text: String,
    expected: &'static [&'static str],
}

fn case(name: &'static str, text: impl Into<String>, expected: &'static [&'static str]) -> Case {
    Case { name, text: text.into(), expected }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "wrong kind",
            "apiVersion: etcd-warden/v1alpha1\nkind: Deployment\nmetadata:\n  name: kubernetes\n",
            &["cluster.yaml: document 1: kind: ", "\"Deployment\" is not allowed", "allowed: EtcdCluster"],
        ),
        case(
            "wrong apiVersion",
            "apiVersion: v1\nkind: EtcdCluster\nmetadata:\n  name: kubernetes\n",
            &["document 1: apiVersion: ", "\"v1\" is not allowed", "allowed: etcd-warden/v1alpha1"],
        ),
        case(
            "unknown top-level field",
            format!("{VALID}status: {{}}\n"),
            &[
                "document 1: status: unknown field \"status\"",
                "allowed here: apiVersion, kind, metadata, spec",
            ],
        ),
        case(
            "unknown nested field",
            with_spec("  recovery:\n    restartGrase: 5s\n"),
            &[
                "document 1: spec.recovery.restartGrase: unknown field",
                "allowed here: restartGrace",
                "line 7 column 5",
            ],
        ),
        case(
            "zero members",
            with_spec("  members: 0\n"),
            &["document 1: spec.members: 0 is not allowed (1, 3 or 5"],
        ),
        case(
            "two members",
            with_spec("  members: 2\n"),
            &[
                "cluster.yaml: document 1: spec.members: 2 is not allowed (1, 3 or 5: an even member count tolerates no more failures than the odd count below it)",
            ],
        ),
        case("four members", with_spec("  members: 4\n"), &["spec.members: 4 is not allowed (1, 3 or 5"]),
        case("six members", with_spec("  members: 6\n"), &["spec.members: 6 is not allowed (1, 3 or 5"]),
        case(
            "three members without high availability",
            with_spec("  highAvailability: false\n  members: 3\n"),
            &[
                "spec.members: 3 contradicts highAvailability: false",
                "allowed with highAvailability false: 1",
            ],
        ),
        case(
            "one member with high availability",
            with_spec("  highAvailability: true\n  members: 1\n"),
            &[
                "spec.members: 1 contradicts highAvailability: true",
                "allowed with highAvailability true: 3 or 5",
            ],
        ),
        case(
            "uppercase name",
            format!("{HEADER}metadata:\n  name: Kubernetes\n"),
            &["document 1: metadata.name: \"Kubernetes\" is not allowed (a DNS label"],
        ),
        case(
            "name too long",
            format!("{HEADER}metadata:\n  name: {}\n", "a".repeat(41)),
            &["metadata.name: ", "is not allowed (a DNS label: 1-40 characters"],
        ),
        case(
            "empty name",
            format!("{HEADER}metadata:\n  name: \"\"\n"),
            &["metadata.name: \"\" is not allowed (a DNS label"],
        ),
        case(
            "missing name",
            format!("{HEADER}metadata: {{}}\n"),
            &["document 1: metadata.name: is missing (this field is required)"],
        ),
        case(
            "bad duration",
            with_spec("  recovery:\n    unresponsiveAfter: 5 minutes later\n"),
            &[
                "spec.recovery.unresponsiveAfter: \"5 minutes later\" is not a duration",
                "allowed: a number and a unit",
            ],
        ),
        case(
            "duration without a unit",
            with_spec("  recovery:\n    restartGrace: 30\n"),
            &[
                "spec.recovery.restartGrace: integer 30 is not allowed",
                "allowed: a duration with a unit",
                "line 7 column",
            ],
        ),
        case(
            "zero duration where it makes no sense",
            with_spec("  recovery:\n    agentLostAfter: 0s\n"),
            &["spec.recovery.agentLostAfter: \"0s\" is not allowed (a duration of more than 0"],
        ),
        case(
            "bad cron",
            with_spec("  backup:\n    schedule: \"61 */2 * * *\"\n    destination: file:///var/backups\n"),
            &[
                "spec.backup.schedule: \"61 */2 * * *\" is not a valid cron expression: the minute field \"61\": number out of bounds",
                "allowed: a 5-field cron expression",
            ],
        ),
        case(
            "cron with six fields",
            with_spec("  backup:\n    schedule: \"0 */30 * * * *\"\n    destination: file:///var/backups\n"),
            &["spec.backup.schedule: \"0 */30 * * * *\" has 6 fields", "allowed: a 5-field cron expression"],
        ),
        case(
            "zero interval",
            with_spec("  backup:\n    schedule: { every: 0m }\n    destination: file:///var/backups\n"),
            &["spec.backup.schedule.every: \"0m\" is not allowed (a duration of more than 0"],
        ),
        case(
            "two platforms",
            with_spec(
                "  platform:\n    local: {}\n    dcos: { url: https://d, service: k, credentials: { tokenFile: t } }\n",
            ),
            &["spec.platform: both local and dcos are set (allowed: exactly one of local, dcos)"],
        ),
        case(
            "empty platform",
            with_spec("  platform: {}\n"),
            &["spec.platform: no platform is chosen (allowed: exactly one of local, dcos)"],
        ),
        case("empty file", "", &["cluster.yaml: no EtcdCluster document found (the file is empty)"]),
        case(
            "only comments",
            "# nothing here yet\n---\n",
            &[
                "cluster.yaml: no EtcdCluster document found (the file holds only comments or empty documents)",
            ],
        ),
        case(
            "truncated YAML",
            with_spec("  backup:\n    schedule: \"*/30 * * *\n"),
            &[
                "cluster.yaml: document 1: line 8 column 1: the YAML is not well-formed",
                "while scanning a quoted scalar at line 7",
                "the file looks truncated",
            ],
        ),
        case(
            "broken indentation",
            with_spec("  members: 3\n   paused: true\n"),
            &[
                "cluster.yaml: document 1: line 7 column 10: the YAML is not well-formed: mapping values are not allowed",
            ],
        ),
        case(
            "a number where a string belongs",
            with_spec("  backup:\n    schedule: 30\n    destination: file:///var/backups\n"),
            &[
                "document 1: spec.backup.schedule: integer 30 is not allowed",
                "allowed: a 5-field cron expression",
                "line 7 column 15",
            ],
        ),
        case(
            "a string where a bool belongs",
            with_spec("  paused: yes\n"),
            &[
                "document 1: spec.paused: string \"yes\" is not allowed (allowed: true or false) (line 6 column 11)",
            ],
        ),
        case(
            "a string where a number belongs",
            with_spec("  members: three\n"),
            &["document 1: spec.members: string \"three\" is not allowed (allowed: a whole number)"],
        ),
        case(
            "bad destination scheme",
            with_spec("  backup:\n    schedule: { every: 1h }\n    destination: ftp://host/x\n"),
            &[
                "spec.backup.destination: \"ftp://host/x\" is not allowed (allowed: file:///absolute/path or s3://bucket/prefix)",
            ],
        ),
        case(
            "relative file path",
            with_spec("  backup:\n    schedule: { every: 1h }\n    destination: file://backups\n"),
            &[
                "spec.backup.destination: \"file://backups\" is not allowed (an absolute path: file:///absolute/path)",
            ],
        ),
        case(
            "s3 without bucket",
            with_spec("  backup:\n    schedule: { every: 1h }\n    destination: s3:///prefix\n"),
            &["spec.backup.destination: \"s3:///prefix\" is not allowed (s3://bucket/prefix"],
        ),
        case(
            "keepLast zero",
            with_spec(
                "  backup:\n    schedule: { every: 1h }\n    destination: file:///b\n    retention: { keepLast: 0 }\n",
            ),
            &["spec.backup.retention.keepLast: 0 is not allowed (at least 1"],
        ),
        case(
            "duplicate names across documents",
            format!("{VALID}---\n{VALID}"),
            &[
                "cluster.yaml: document 2: metadata.name: \"kubernetes\" is already used by document 1 (allowed: each cluster name once per file)",
            ],
        ),
        case(
            "endpoints map with a bad pod name",
            with_spec(
                "  members: 3\n  platform:\n    dcos: { url: https://dcos, service: kubernetes, credentials: { tokenFile: t } }\n  etcd:\n    endpoints:\n      etcd-0: https://a:2379\n      etcd-1: https://b:2379\n      etcd-2: https://c:2379\n      node-3: https://d:2379\n",
            ),
            &[
                "spec.etcd.endpoints.node-3: \"node-3\" is not a member pod of this 3-member cluster (allowed: etcd-0 .. etcd-2)",
            ],
        ),
        case(
            "endpoints with the local platform",
            with_spec("  etcd:\n    endpoints: \"https://{pod}:2379\"\n"),
            &["spec.etcd.endpoints: is not allowed with the local platform"],
        ),
        case(
            "unknown policy value",
            with_spec("  policy:\n    quorumLoss: Automatic\n"),
            &["spec.policy.quorumLoss: \"Automatic\" is not allowed (allowed: Manual, Restore)"],
        ),
        case(
            "dcos url without scheme",
            with_spec(
                "  platform:\n    dcos: { url: dcos.example.com, service: kubernetes, credentials: { tokenFile: t } }\n",
            ),
            &["spec.platform.dcos.url: \"dcos.example.com\" is not allowed (an http:// or https:// URL"],
        ),
        case(
            "empty tls file",
            with_spec("  etcd:\n    tls: { caFile: ca.pem, certFile: \"\", keyFile: key.pem }\n"),
            &["spec.etcd.tls.certFile: an empty path is not allowed"],
        ),
        case(
            "local tls neither auto nor files",
            with_spec("  platform:\n    local:\n      tls: on\n"),
            &[
                "spec.platform.local.tls: string \"on\" is not allowed",
                "allowed: auto, or a map with caFile, certFile and keyFile",
            ],
        ),
        case(
            "local tls as a boolean",
            with_spec("  platform:\n    local:\n      tls: true\n"),
            &["spec.platform.local.tls: boolean true is not allowed", "allowed: auto, or a map with caFile"],
        ),
        case(
            "local tls files without the key",
            with_spec("  platform:\n    local:\n      tls: { caFile: ca.crt, certFile: member.crt }\n"),
            &["spec.platform.local.tls.keyFile: is missing"],
        ),
        case(
            "local tls with an empty file",
            with_spec(
                "  platform:\n    local:\n      tls: { caFile: ca.crt, certFile: member.crt, keyFile: \"\" }\n  etcd:\n    tls: { caFile: ca.crt, certFile: c.crt, keyFile: c.key }\n",
            ),
            &["spec.platform.local.tls.keyFile: an empty path is not allowed"],
        ),
        case(
            "local tls with both forms",
            with_spec("  platform:\n    local:\n      tls: { auto: true, caFile: ca.crt }\n"),
            &["spec.platform.local.tls.auto: unknown field", "allowed here: caFile, certFile, keyFile"],
        ),
        case(
            "local tls files without a client certificate",
            with_spec(
                "  platform:\n    local:\n      tls: { caFile: ca.crt, certFile: m.crt, keyFile: m.key }\n",
            ),
            &[
                "spec.etcd.tls: is missing (spec.platform.local.tls with files needs the client certificate etcd-warden presents",
                "or use tls: auto",
            ],
        ),
        case(
            "tls on the dcos platform",
            with_spec(
                "  platform:\n    dcos: { url: https://dcos.example.com, service: kubernetes, credentials: { tokenFile: t }, tls: auto }\n",
            ),
            &["spec.platform.dcos.tls: unknown field", "allowed here: url, service, caFile, credentials"],
        ),
        case(
            "bootstrap attempts out of range",
            with_spec("  recovery:\n    bootstrapAttempts: 11\n"),
            &["spec.recovery.bootstrapAttempts: 11 is not allowed (1 to 10 attempts)"],
        ),
        case(
            "error in the second document",
            format!("{VALID}---\n{HEADER}metadata:\n  name: other\nspec:\n  members: 2\n"),
            &["cluster.yaml: document 2: spec.members: 2 is not allowed"],
        ),
        case(
            "a list instead of a manifest",
            "- a\n- b\n",
            &["cluster.yaml: document 1: a list is not allowed (allowed: an EtcdCluster mapping"],
        ),
        case(
            "broken JSON",
            "{\"apiVersion\": \"etcd-warden/v1alpha1\", \"kind\": \"EtcdCluster\",\n \"metadata\": {\"name\": \"k\"}",
            &[
                "cluster.yaml: document 1: line 2 column 26: the JSON is not well-formed: EOF while parsing an object; the file looks truncated",
            ],
        ),
        case(
            "a number where a string belongs in JSON",
            "{\"apiVersion\": \"etcd-warden/v1alpha1\", \"kind\": \"EtcdCluster\",\n \"metadata\": {\"name\": 42}}",
            &[
                "cluster.yaml: document 1: metadata.name: integer 42 is not allowed (allowed: a string) (line 2 column 24)",
            ],
        ),
    ]
}

#[test]
fn every_invalid_manifest_is_refused_with_one_clear_message() {
    let mut failures = Vec::new();
    for case in cases() {
        let message = match parse_str("cluster.yaml", &case.text) {
            Ok(loaded) => format!("accepted ({} documents)", loaded.len()),
            Err(error) => error.to_string(),
        };
        let missing: Vec<_> = case.expected.iter().filter(|expected| !message.contains(**expected)).collect();
        let first_line = message.lines().next().unwrap_or_default();
        if !missing.is_empty() || !first_line.starts_with("cluster.yaml: ") {
            failures.push(format!("{}:\n  got: {message}\n  missing: {missing:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn there_are_at_least_twenty_distinct_cases() {
    let cases = cases();
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 20 && names.len() == cases.len());
}

#[test]
fn several_errors_in_one_document_are_listed_one_per_line() {
    let text = with_spec("  members: 2\n  recovery:\n    restartGrace: soon\n");
    let error = parse_str("cluster.yaml", &text).expect_err("two errors");
    let message = error.to_string();
    let lines: Vec<_> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message}");
    assert!(lines[0].starts_with("cluster.yaml: document 1: spec.members: 2 is not allowed"));
    assert!(lines[1].starts_with("cluster.yaml: document 1: spec.recovery.restartGrace: \"soon\""));
    assert_eq!(error.field_errors().len(), 2);
    assert_eq!(error.document(), Some(1));
}
