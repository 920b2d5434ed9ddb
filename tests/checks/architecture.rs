//! The module boundaries of docs/architecture.md, checked on the source: the pure core
//! (values, decisions, status) does no I/O and imports only the core, and the top-level
//! modules import each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Text that marks I/O: an adapter's crate, the file system, the network, processes.
const IO_MARKS: &[&str] = &[
    "etcd_client",
    "reqwest",
    "tokio",
    "std::fs",
    "std::net",
    "std::process",
    "std::io",
    "axum",
    "nix::",
    "rustix::",
];

/// Text that reads the wall clock or the monotonic one: the core is given the time.
const CLOCK_MARKS: &[&str] = &["Timestamp::now", "SystemTime::now", "Instant::now", "Zoned::now"];

/// The layers that do a cluster's work through the `Platform` trait, and the text that
/// would ask which platform it is instead of asking the adapter (a method or a
/// capability): each adapter's name, and a match on the manifest's platform section.
const PLATFORM_BLIND: &[&str] =
    &["act", "backup", "reconcile", "observe.rs", "context.rs", "controller", "status", "plan/view.rs"];
const PLATFORM_NAMES: &[&str] = &[
    "AnyPlatform::Local",
    "AnyPlatform::Dcos",
    "LocalPlatform",
    "DcosPlatform",
    "PlatformSpec::Local",
    "PlatformSpec::Dcos",
];

/// What a section of the manifest may import: the domain and the other pure parts of
/// the manifest (never `load`, which reads files).
const SECTION_IMPORTS: &[&str] = &[
    "domain",
    "manifest::backup",
    "manifest::check",
    "manifest::cluster",
    "manifest::error",
    "manifest::etcd",
    "manifest::maintenance",
    "manifest::members",
    "manifest::platform",
    "manifest::policy",
    "manifest::recovery",
    "manifest::tls",
    "manifest::values",
];

/// The pure core, and what each part may import from the crate. The manifest's
/// sections hold the validated desired state (`manifest::desired` gathers it) with
/// the raw types and the rules that make it.
const CORE: &[(&str, &[&str])] = &[
    ("domain.rs", &[]),
    ("manifest/backup.rs", SECTION_IMPORTS),
    ("manifest/check.rs", SECTION_IMPORTS),
    ("manifest/cluster.rs", SECTION_IMPORTS),
    ("manifest/etcd.rs", SECTION_IMPORTS),
    ("manifest/maintenance.rs", SECTION_IMPORTS),
    ("manifest/members.rs", SECTION_IMPORTS),
    ("manifest/platform.rs", SECTION_IMPORTS),
    ("manifest/policy.rs", SECTION_IMPORTS),
    ("manifest/recovery.rs", SECTION_IMPORTS),
    ("manifest/tls.rs", SECTION_IMPORTS),
    ("manifest/values.rs", SECTION_IMPORTS),
    ("model", &["domain", "manifest::desired", "model"]),
    ("plan", &["domain", "manifest::desired", "model", "plan"]),
    ("status", &["domain", "manifest::desired", "model", "plan", "status"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("read src").flatten() {
        files.extend(rust_files(&entry.path()));
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "rs"));
    files
}

/// Every `crate::a::b` path in `text`, as `a::b` (or `a` when `a` is a file module).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        paths.insert(path.trim_end_matches(':').to_owned());
    }
    paths
}

fn code(text: &str) -> String {
    // Comments may name anything; an inline test module (at the end of its file, as
    // rustfmt keeps it) is test code.
    let lines: Vec<&str> = text.lines().collect();
    let tests = lines.windows(2).position(|w| {
        w[0].trim() == "#[cfg(test)]" && w[1].starts_with("mod ") && w[1].trim_end().ends_with('{')
    });
    let product = &lines[..tests.unwrap_or(lines.len())];
    product.iter().filter(|l| !l.trim_start().starts_with("//")).copied().collect::<Vec<_>>().join("\n")
}

/// Test-only files: the planner's tests (`plan/tests/`), the middle layer's
/// (`testing/tests_*.rs`) and the builders they share (`testing/world.rs`). They sit
/// at the bottom of no stack: the rules below are about the product.
fn is_test_only(file: &Path) -> bool {
    let relative = file.strip_prefix(src()).unwrap_or(file);
    let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    relative.components().any(|c| c.as_os_str() == "tests")
        || name.starts_with("tests_")
        || name == "world.rs"
}

#[test]
fn the_pure_core_does_no_io_and_imports_only_the_core() {
    let mut problems = Vec::new();
    for (part, allowed) in CORE {
        for file in rust_files(&src().join(part)).into_iter().filter(|f| !is_test_only(f)) {
            let text = code(&std::fs::read_to_string(&file).expect("read"));
            let name = file.strip_prefix(src()).unwrap_or(&file).display().to_string();
            for mark in IO_MARKS.iter().chain(CLOCK_MARKS).filter(|m| text.contains(**m)) {
                problems.push(format!("{name} uses {mark}"));
            }
            for path in crate_paths(&text) {
                if !allowed.iter().any(|a| path == *a || path.starts_with(&format!("{a}::"))) {
                    problems.push(format!("{name} imports crate::{path} (allowed: {allowed:?})"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "the pure core reaches out:\n{}", problems.join("\n"));
}

#[test]
fn no_layer_above_the_platforms_asks_which_platform_it_is() {
    let mut problems = Vec::new();
    for part in PLATFORM_BLIND {
        for file in rust_files(&src().join(part)).into_iter().filter(|f| !is_test_only(f)) {
            let text = code(&std::fs::read_to_string(&file).expect("read"));
            let name = file.strip_prefix(src()).unwrap_or(&file).display().to_string();
            for mark in PLATFORM_NAMES.iter().filter(|m| text.contains(**m)) {
                problems.push(format!("{name} names {mark}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ask the adapter (a `Platform` method or its capabilities), not its name:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(src()).expect("read src").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if ["lib", "main"].contains(&name.as_str()) {
            continue;
        }
        let deps = graph.entry(name.clone()).or_default();
        for file in rust_files(&path).into_iter().filter(|f| !is_test_only(f)) {
            let text = code(&std::fs::read_to_string(&file).expect("read"));
            for path in crate_paths(&text) {
                let top = path.split("::").next().unwrap_or_default().to_owned();
                if top != name {
                    deps.insert(top);
                }
            }
        }
    }
    assert!(graph.contains_key("plan") && graph.contains_key("model"), "{graph:?}");
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
}
