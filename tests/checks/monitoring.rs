//! `manifests/monitoring/`: the Prometheus alert rules and the Grafana dashboard. The
//! rules pass `promtool check rules` and their unit tests (`promtool test rules`, from
//! Debian's `prometheus` package, fetched by `scripts/promtool`); every alert says its
//! runbook scenario and links to a section of docs/operations.md that exists; every
//! expression, of the rules and of the dashboard, names only metrics the daemon's own
//! registry declares.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn monitoring(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/monitoring").join(name)
}

/// promtool: `$ETCD_WARDEN_PROMTOOL`, or the one `scripts/promtool` fetched, or the
/// PATH's. Missing, the test fails saying how to get it: it is never skipped.
fn promtool() -> PathBuf {
    if let Some(path) = std::env::var_os("ETCD_WARDEN_PROMTOOL") {
        return PathBuf::from(path);
    }
    let cached = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/prometheus/promtool");
    if cached.is_file() {
        return cached;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| panic!("promtool is missing: run scripts/promtool (scripts/test does)"))
}

fn run_promtool(args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(monitoring(""))
        .output()
        .unwrap_or_else(|e| panic!("promtool {args:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Every sample name the daemon's registry declares (`_total`, `_bucket`, ... included).
fn exported() -> BTreeSet<String> {
    etcd_warden::metrics::Metrics::default().declared().iter().flat_map(|d| d.samples()).collect()
}

/// PromQL's functions, aggregations and keywords that an expression of ours may use.
const PROMQL_WORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "by",
    "without",
    "bool",
    "offset",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "time",
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "label_values",
    "absent",
    "clamp_min",
    "vector",
];

/// The metric names an expression reads: what is left once strings, label matchers,
/// ranges, label lists (`on (cluster)`, `by (le)`) and PromQL's own words are taken out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Grafana's `label_values(metric, label)`: its second argument is a label.
    let expr = match expr.strip_prefix("label_values(") {
        Some(rest) => rest.split(',').next().unwrap_or(rest),
        None => expr,
    };
    let mut text = String::new();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    let mut in_string = false;
    for ch in expr.chars() {
        match ch {
            '"' if depth_braces == 0 => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            _ if depth_braces > 0 || depth_brackets > 0 => {}
            c => text.push(c),
        }
    }
    let mut names = BTreeSet::new();
    let mut words = Vec::new();
    let mut word = String::new();
    for ch in text.chars().chain([' ']) {
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == ':' || ch == '$' {
            word.push(ch);
        } else {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            if ch == '(' || ch == ')' || ch == ',' {
                words.push(ch.to_string());
            }
        }
    }
    let mut label_list = false;
    let mut previous = "";
    for w in &words {
        match w.as_str() {
            "(" if ["on", "ignoring", "by", "without", "group_left", "group_right"].contains(&previous) => {
                label_list = true;
            }
            ")" => label_list = false,
            _ if label_list => {}
            w if w.starts_with('$') || w.chars().all(|c| c.is_ascii_digit()) => {}
            w if w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && !PROMQL_WORDS.contains(&w) =>
            {
                names.insert(w.to_owned());
            }
            _ => {}
        }
        previous = w.as_str();
    }
    names
}

#[test]
fn the_metric_names_of_an_expression_are_found_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{cluster="$cluster", x=~"b|c"}[$__rate_interval]))) > on (cluster) b_total * 86400 unless c{d="e"} == 1"#,
    );
    assert_eq!(names, ["a_bucket", "b_total", "c"].map(String::from).into());
    assert_eq!(metric_names(r#"time() > d"#), ["d"].map(String::from).into());
    assert_eq!(metric_names("label_values(e, cluster)"), ["e"].map(String::from).into());
}

fn alerts() -> Vec<serde_yaml_ng::Value> {
    let text = std::fs::read_to_string(monitoring("alerts.yaml")).expect("alerts.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("alerts.yaml is YAML");
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .collect()
}

fn field<'a>(rule: &'a serde_yaml_ng::Value, path: &[&str]) -> &'a str {
    let mut value = rule;
    for key in path {
        value = &value[*key];
    }
    value.as_str().unwrap_or_else(|| panic!("{path:?} missing in {rule:?}"))
}

#[test]
fn the_alert_rules_pass_promtools_check_and_their_unit_tests() {
    let checked = run_promtool(&["check", "rules", "alerts.yaml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = run_promtool(&["test", "rules", "alerts.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The alerts the issue asks for are there, each tested firing and not firing.
#[test]
fn every_alert_is_tested_both_firing_and_silent() {
    let names: BTreeSet<String> = alerts().iter().map(|r| field(r, &["alert"]).to_owned()).collect();
    for wanted in [
        "EtcdWardenQuorumAtRisk",
        "EtcdWardenQuorumLost",
        "EtcdWardenRestoreRequired",
        "EtcdWardenBackupTooOld",
        "EtcdWardenDrillFailed",
        "EtcdWardenNoSpace",
        "EtcdWardenPlatformUnreachable",
        "EtcdWardenOperationStuck",
        "EtcdWardenCertificateExpiring",
    ] {
        assert!(names.contains(wanted), "{wanted} missing from alerts.yaml");
    }
    let text = std::fs::read_to_string(monitoring("alerts.test.yaml")).expect("alerts.test.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    for name in &names {
        let (mut fires, mut silent) = (false, false);
        for test in doc["tests"].as_sequence().expect("tests") {
            let clusters: BTreeSet<&str> = test["input_series"]
                .as_sequence()
                .expect("input_series")
                .iter()
                .filter_map(|s| s["series"].as_str())
                .filter_map(|s| s.split("cluster=\"").nth(1).and_then(|r| r.split('"').next()))
                .collect();
            for case in test["alert_rule_test"].as_sequence().expect("alert_rule_test") {
                if case["alertname"].as_str() != Some(name.as_str()) {
                    continue;
                }
                let expected = case["exp_alerts"].as_sequence().cloned().unwrap_or_default();
                let firing: BTreeSet<&str> =
                    expected.iter().filter_map(|a| a["exp_labels"]["cluster"].as_str()).collect();
                fires |= !firing.is_empty();
                silent |= clusters.iter().any(|c| !firing.contains(c));
            }
        }
        assert!(fires && silent, "{name}: tested firing {fires}, tested silent {silent}");
    }
}

#[test]
fn every_alert_names_its_runbook_scenario_and_links_to_a_section_that_exists() {
    let runbook = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
        .expect("operations.md");
    // GitHub's anchors: a heading in lower case, spaces as dashes, punctuation dropped.
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("### ").or_else(|| l.strip_prefix("## ")))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    for rule in alerts() {
        let name = field(&rule, &["alert"]);
        assert!(!field(&rule, &["annotations", "summary"]).is_empty(), "{name}: a summary");
        let description = field(&rule, &["annotations", "description"]);
        assert!(description.contains("scenario"), "{name}: the description names its runbook scenario");
        let url = field(&rule, &["annotations", "runbook_url"]);
        let anchor = url.strip_prefix("docs/operations.md#").unwrap_or_else(|| panic!("{name}: {url}"));
        assert!(anchors.contains(anchor), "{name}: no section #{anchor} in docs/operations.md");
        assert!(
            ["critical", "warning"].contains(&field(&rule, &["labels", "severity"])),
            "{name}: severity critical or warning"
        );
    }
}

#[test]
fn the_alerts_read_only_metrics_the_daemon_exports() {
    let exported = exported();
    for rule in alerts() {
        let expr = field(&rule, &["expr"]);
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{}: {name} is not a metric of the daemon",
                field(&rule, &["alert"])
            );
        }
    }
}

/// Every query of the dashboard, with the title of its panel.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn panels(list: &Value, out: &mut Vec<(String, String)>) {
        for panel in list.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr =
                    target["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target without expr"));
                out.push((title.clone(), expr.to_owned()));
            }
            panels(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(query) = variable["query"]["query"].as_str() {
            out.push((format!("variable {}", variable["name"]), query.to_owned()));
        }
    }
    out
}

#[test]
fn the_dashboard_has_a_row_per_cluster_and_reads_only_metrics_the_daemon_exports() {
    let text = std::fs::read_to_string(monitoring("dashboard.json")).expect("dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard.json is JSON");
    let rows: Vec<&Value> =
        dashboard["panels"].as_array().expect("panels").iter().filter(|p| p["type"] == "row").collect();
    assert!(rows.iter().any(|r| r["repeat"] == "cluster"), "a row repeated per cluster");
    let queries = dashboard_queries(&dashboard);
    let exported = exported();
    let mut read = BTreeSet::new();
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: {expr}");
        for name in names {
            assert!(exported.contains(&name), "{title}: {name} is not a metric of the daemon");
            read.insert(name);
        }
        if !title.starts_with("variable") {
            assert!(expr.contains("cluster=\"$cluster\""), "{title}: {expr} is about the row's cluster");
        }
    }
    // What the issue asks each row to show.
    for wanted in [
        "etcd_warden_members_healthy",
        "etcd_warden_fault_tolerance",
        "etcd_warden_reconcile_passes_total",
        "etcd_warden_steps_total",
        "etcd_warden_backup_age_seconds",
        "etcd_warden_condition",
        "etcd_warden_defragmentation_reclaimed_bytes_total",
        "etcd_warden_platform_observe_duration_seconds_bucket",
    ] {
        assert!(read.contains(wanted), "the dashboard shows {wanted}");
    }
    let titles: BTreeSet<&str> =
        dashboard["panels"].as_array().into_iter().flatten().filter_map(|p| p["title"].as_str()).collect();
    assert!(titles.contains("Last drill"), "{titles:?}");
}
