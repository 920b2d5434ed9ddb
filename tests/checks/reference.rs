//! docs/reference.md, the user's reference (the manifest's fields, status fields, phases,
//! conditions and reasons, the command line and its exit status), is generated from
//! what the binary really has: the manifest's JSON Schema, the doc comments of the
//! status types, and the command line's own help. It is checked here to be current;
//! `UPDATE_REFERENCE=1 cargo test --test checks reference::` writes it again.

use std::fmt::Write as _;

use clap::CommandFactory;
use serde_json::Value;

const HEADER: &str = "# Reference

What a user of etcd-warden relies on: the manifest, status, and the command line. Scripts
drive etcd-warden through these names; they are added to, never renamed. The decision
rules are in [decisions.md](decisions.md), the runbook in [operations.md](operations.md).

This file is generated from the binary's own definitions (the manifest's JSON Schema, the
status types' documentation, the command line's help) by `tests/checks/reference.rs`, which
fails when it is stale: `UPDATE_REFERENCE=1 cargo test --test checks reference::` writes it again.
";

/// The manifest: one table per object of the schema, fields in the schema's order.
fn manifest() -> String {
    let schema = etcd_warden::manifest::schema();
    let mut out = String::from(
        "\n## Manifest (`apiVersion: etcd-warden/v1alpha1`, `kind: EtcdCluster`)\n\n\
         The whole schema: [`manifests/schema.json`](../manifests/schema.json) (`etcd-warden schema`).\n",
    );
    let mut objects: Vec<(String, &Value)> = vec![("EtcdCluster".to_owned(), &schema)];
    if let Some(defs) = schema["$defs"].as_object() {
        objects.extend(defs.iter().map(|(name, def)| (name.clone(), def)));
    }
    for (name, def) in objects {
        let Some(properties) = def["properties"].as_object() else {
            // An enumeration or a one-of: its description says the forms.
            let description = one_line(def["description"].as_str().unwrap_or_default());
            let _ = write!(out, "\n### `{name}`\n\n{description}\n");
            continue;
        };
        let required: Vec<&str> =
            def["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let _ = write!(out, "\n### `{name}`\n\n");
        if let Some(description) = def["description"].as_str() {
            let _ = write!(out, "{}\n\n", one_line(description));
        }
        out.push_str("| Field | Type | Required | Meaning |\n|---|---|---|---|\n");
        for (field, property) in properties {
            let _ = writeln!(
                out,
                "| `{field}` | {} | {} | {} |",
                type_of(property),
                if required.contains(&field.as_str()) { "yes" } else { "" },
                one_line(property["description"].as_str().unwrap_or_default()).replace('|', "\\|")
            );
        }
    }
    out
}

/// A property's type as a person reads it.
fn type_of(property: &Value) -> String {
    if let Some(reference) = property["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("`{name}`");
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(options) = property[key].as_array() {
            let kinds: Vec<String> =
                options.iter().map(type_of).filter(|t| t != "`null`").collect::<Vec<_>>();
            return kinds.join(" or ");
        }
    }
    match &property["type"] {
        Value::String(kind) if kind == "array" => format!("list of {}", type_of(&property["items"])),
        Value::String(kind) => format!("`{kind}`"),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| *k != "null")
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" or "),
        _ if property["enum"].is_array() => property["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "any".to_owned(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An item of `src/status/mod.rs`: a struct's fields or an enum's variants, each with
/// its doc comment, as serde writes their names.
struct Item {
    name: String,
    doc: String,
    enumeration: bool,
    entries: Vec<(String, String)>,
}

/// `snake_case` as serde's `camelCase` writes it.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads the public structs and enums of a source file, with their doc comments.
fn items(source: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let (mut doc, mut attrs) = (Vec::<String>::new(), Vec::<String>::new());
    let mut current: Option<Item> = None;
    let mut camel_case = false;
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some(text) = trimmed.strip_prefix("///") {
            doc.push(text.trim().to_owned());
            continue;
        }
        if trimmed.starts_with("#[") {
            attrs.push(trimmed.to_owned());
            continue;
        }
        let text = one_line(&doc.join(" "));
        if let Some(item) = current.as_mut() {
            if line.starts_with('}') {
                items.extend(current.take());
            } else if line.starts_with("    ") && !line.starts_with("     ") && !trimmed.is_empty() {
                let renamed = attrs.iter().find_map(|a| {
                    a.split("rename = \"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned)
                });
                let entry = if item.enumeration {
                    let variant = trimmed.split([',', ' ', '{', '(']).next().unwrap_or_default();
                    renamed.unwrap_or_else(|| {
                        if camel_case {
                            let mut chars = variant.chars();
                            chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
                        } else {
                            variant.to_owned()
                        }
                    })
                } else {
                    let field = trimmed.strip_prefix("pub ").and_then(|f| f.split(':').next());
                    match field {
                        Some(field) => renamed.unwrap_or_else(|| camel(field)),
                        None => String::new(),
                    }
                };
                if !entry.is_empty() && !doc.is_empty() {
                    item.entries.push((entry, text));
                }
            }
        } else if let Some(rest) = trimmed
            .strip_prefix("pub struct ")
            .or_else(|| trimmed.strip_prefix("pub enum "))
            .filter(|_| trimmed.ends_with('{'))
        {
            camel_case = attrs.iter().any(|a| a.contains("rename_all = \"camelCase\""));
            let name = rest.split([' ', '{', '<']).next().unwrap_or_default().to_owned();
            let enumeration = trimmed.starts_with("pub enum");
            current = Some(Item { name, doc: text, enumeration, entries: Vec::new() });
        }
        doc.clear();
        attrs.clear();
    }
    items
}

/// Status: every type of `src/status/mod.rs`, fields and values with their meaning.
fn status() -> String {
    let source =
        [include_str!("../../src/status/mod.rs"), include_str!("../../src/status/operation.rs")].concat();
    let mut out = String::from(
        "\n## Status (`etcd-warden status NAME -o json`)\n\n\
         `ClusterStatus` is the document; members are listed in pod order. Conditions have a \
         `type`, a `status` (`True`, `False`, `Unknown`), a `reason` (one word, stable for \
         alerting), a `message` and a `lastTransitionTime`. Events (what was done or refused, \
         and why) are listed by `etcd-warden events NAME`.\n",
    );
    for item in items(&source) {
        let _ = write!(out, "\n### `{}`\n\n{}\n\n", item.name, item.doc);
        let heading = if item.enumeration { "| Value | Meaning |" } else { "| Field | Meaning |" };
        let _ = writeln!(out, "{heading}\n|---|---|");
        for (entry, doc) in &item.entries {
            let _ = writeln!(out, "| `{entry}` | {} |", doc.replace('|', "\\|"));
        }
    }
    out
}

/// The command line: each command's own help, then the exit status.
fn command_line() -> String {
    // The help never shows a value from this process's environment (a token).
    let mut cli = etcd_warden::cli::Cli::command()
        .term_width(100)
        .mut_args(|a| a.hide_env_values(true))
        .mut_subcommands(|c| c.mut_args(|a| a.hide_env_values(true)));
    let mut out = String::from("\n## Command line\n\n```text\n");
    out.push_str(&cli.render_long_help().to_string());
    out.push_str("```\n");
    let names: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in names {
        let Some(sub) = cli.find_subcommand_mut(&name).filter(|_| name != "help") else { continue };
        let mut sub = sub.clone().bin_name(format!("etcd-warden {name}"));
        let _ = write!(out, "\n### `etcd-warden {name}`\n\n```text\n{}```\n", sub.render_long_help());
    }
    out.push_str(
        "\n### Exit status\n\n\
         | Status | When |\n|---|---|\n\
         | 0 | success |\n\
         | 1 | a refusal or a failure, with one sentence on standard error saying what and why |\n\
         | 2 | a usage error (an unknown flag, a missing argument), with the usage |\n",
    );
    out
}

/// The metrics, as the daemon's own registry declares them (`/metrics`).
fn metrics() -> String {
    let metrics = etcd_warden::metrics::Metrics::default();
    let mut out = String::from(
        "\n## Metrics (`GET /metrics`)\n\n\
         In the OpenMetrics text format; every series has a `cluster` label, and member series a \
         `pod` label. A counter's samples end in `_total`, a histogram's in `_bucket`, `_sum` and \
         `_count`. `etcd_warden_phase` and `etcd_warden_condition` are 1 for what status says \
         and 0 for the rest; member and operation series exist while their member slot or \
         operation does. A metric shows once it has a series (a drill's, once a drill ran).\n\n\
         | Metric | Type | Meaning |\n|---|---|---|\n",
    );
    for d in metrics.declared() {
        let samples = d.samples().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "| {samples} | {} | {}. |", d.kind, d.help);
    }
    out
}

fn generated() -> String {
    let text = format!("{HEADER}{}{}{}{}", manifest(), status(), metrics(), command_line());
    // No trailing spaces (clap pads its help).
    let mut out: String = text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

#[test]
fn the_reference_is_generated_from_the_binarys_own_definitions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    let generated = generated();
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(&path, &generated).expect("write docs/reference.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/reference.md is stale; write it again with\n    UPDATE_REFERENCE=1 cargo test --test checks reference::"
    );
}

/// The reference names every condition type and reason there is, and every field of
/// the manifest's top level: a new one cannot be left out.
#[test]
fn the_reference_names_every_condition_reason_and_spec_field() {
    let text = generated();
    for item in items(include_str!("../../src/status/mod.rs")) {
        assert!(!item.entries.is_empty(), "{} has no documented entry", item.name);
    }
    for kind in
        ["RestartRequired", "OperationStuck", "NoSpace", "Available", "LaunchSettingsDiffer", "QuorumHealthy"]
    {
        assert!(text.contains(&format!("| `{kind}` |")), "{kind} missing");
    }
    let schema = etcd_warden::manifest::schema();
    for field in schema["$defs"]["ClusterSpec"]["properties"].as_object().expect("the spec's fields").keys() {
        assert!(text.contains(&format!("| `{field}` |")), "spec field {field} missing");
    }
    for command in [
        "run", "apply", "plan", "status", "events", "backup", "backups", "restore", "delete", "validate",
        "schema",
    ] {
        assert!(text.contains(&format!("### `etcd-warden {command}`")), "command {command} missing");
    }
}

/// A user who clones the repository has what the README points to: it names no file
/// outside the repository.
#[test]
fn the_readme_points_only_inside_the_repository() {
    let readme = include_str!("../../README.md");
    for (number, line) in readme.lines().enumerate() {
        assert!(!line.contains("../"), "README.md line {}: {line}", number + 1);
    }
    for link in readme.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
        if link.starts_with("http") || link.starts_with('#') {
            continue;
        }
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(link.split('#').next().unwrap_or(link));
        assert!(path.exists(), "README.md links to {link}, which is not in the repository");
    }
}
