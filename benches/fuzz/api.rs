//! Target `api`: the daemon's HTTP API in process (`api::router`, driven with
//! `tower::ServiceExt::oneshot`) over a temp state directory holding the cluster
//! `single`. Random methods, paths (cluster names with traversal attempts, bad
//! percent-encoding, queries), headers (token, content type) and bodies (mutated
//! manifests, restore requests, garbage, deep nesting, over the 1 MiB limit).
//!
//! Invariants: no panic; never a 5xx; every 4xx has a JSON body `{"error": "..."}`
//! with a non-empty sentence; a 4xx changes nothing in the state directory; the token
//! is never echoed.
//!
//! Nothing here may act on the world: a request that would (an accepted apply starts
//! a worker that launches etcd, a plan of a manifest connects to its hosts, a backup or
//! restore of `single`) is rewritten to a dry-run apply, or not sent (`Skipped`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use etcd_warden::api::{BODY_LIMIT, router};
use etcd_warden::controller::{Controller, ControllerConfig};
use etcd_warden::domain::BackupId;
use etcd_warden::manifest::desired_from_json;
use etcd_warden::metrics::Metrics;
use etcd_warden::store::Store;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::engine::{Case, Rng, Target, Verdict};
use super::manifest::{mutated_manifest, seed_values};
use super::mutate::{HARD_STRINGS, mutate_text};

const TOKEN: &str = "fuzz-t0ken-5ecret";
const MANAGED: &str = "single";

const NAMES: &[&str] = &[
    MANAGED,
    MANAGED,
    "other",
    "..",
    ".",
    "%2e%2e",
    "%2E%2E%2F%2E%2E",
    "..%2F..%2Fetc",
    "%2Fetc%2Fpasswd",
    "a%2Fb",
    "a%00b",
    "%00",
    "%ff%fe",
    "%zz",
    "%",
    "%C3%A9",
    "%E2%80%AE",
    "Single",
    "-a",
    "a-",
    "a_b",
    "sin%67le",
    "%73ingle",
    "single%20",
    "single.",
    "",
    "x%0Ay",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];
const SUFFIXES: &[&str] =
    &["", "", "/status", "/events", "/plan", "/backups", "/restore", "/", "/x", "/status/..", "//"];
const QUERIES: &[&str] = &[
    "",
    "",
    "",
    "?dryRun=true",
    "?dryRun=false",
    "?dryRun=maybe",
    "?dryRun",
    "?purge=true",
    "?purge=1",
    "?purge=%ff",
    "?purge=true&purge=false",
    "?%zz",
    "?&&&",
    "?dryRun=true&dryRun=true",
    "?a=%00",
];
const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "FUZZ",
];

pub struct ApiTarget {
    runtime: tokio::runtime::Runtime,
    world: World,
    manifests: Vec<Value>,
}

/// A state directory holding `single`, and the router over it.
struct World {
    _dir: tempfile::TempDir,
    state: PathBuf,
    app: Router,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let store = Store::open(&state).expect("store");
    let mut manifest: Value =
        serde_yaml_ng::from_str(include_str!("../../manifests/local-single.yaml")).expect("manifest");
    // Never launched, never backed up outside the temp dir: nothing here runs etcd.
    manifest["spec"]["platform"]["local"]["etcdBinary"] = json!("/nonexistent/etcd-fuzz");
    manifest["spec"]["backup"]["destination"] =
        json!(format!("file://{}", dir.path().join("backups").display()));
    let desired = desired_from_json(&manifest).expect("valid");
    store.put_desired(&desired.name, manifest, Timestamp::now()).expect("put");
    let controller = Controller::new(
        store,
        Arc::new(Metrics::default()),
        ControllerConfig { resync: Duration::from_secs(3600), clock: etcd_warden::clock::Clock::start() },
    );
    let app = router(controller, Some(TOKEN.to_owned()));
    World { _dir: dir, state, app }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Whether `single`'s scale refusal was recorded between the two snapshots (with what
/// its woken worker may have written meanwhile).
fn scale_refused(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> bool {
    after.iter().any(|(path, bytes)| path.ends_with("scale-refusal.json") && before.get(path) != Some(bytes))
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        files.insert(dir.clone(), Vec::new());
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    files
}

impl ApiTarget {
    pub fn new() -> Self {
        Self { runtime: runtime(), world: world(), manifests: seed_values() }
    }

    fn body(&self, rng: &mut Rng) -> Vec<u8> {
        match rng.below(100) {
            0..=39 => mutated_manifest(rng, &self.manifests).to_string().into_bytes(),
            40..=54 => {
                let from = if rng.chance(50) { rng.pick(HARD_STRINGS).to_string() } else { "latest".into() };
                let body = if rng.chance(80) {
                    json!({ "from": from })
                } else {
                    json!({ "from": rng.below(3), "x": from })
                };
                body.to_string().into_bytes()
            }
            55..=74 => Vec::new(),
            75..=76 => {
                let mut big = b"{\"pad\": \"".to_vec();
                big.resize(BODY_LIMIT + rng.below(3) * 1000, b'x');
                big
            }
            77..=79 => {
                let depth = *rng.pick(&[127, 128, 129, 10_000, 100_000]);
                format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
            }
            _ => {
                let mut data = if rng.chance(50) { b"{\"kind\": 3}".to_vec() } else { Vec::new() };
                mutate_text(rng, &mut data);
                data
            }
        }
    }
}

/// A request as the label holds it: method, URI, authorization, content type.
struct Line {
    method: String,
    uri: String,
    auth: String,
    content_type: String,
}

impl Line {
    fn label(&self) -> String {
        [&self.method, &self.uri, &self.auth, &self.content_type].map(|s| s.replace('\n', " ")).join("\n")
    }

    fn parse(label: &str) -> Self {
        let mut parts = label.split('\n').map(str::to_owned);
        let mut next = || parts.next().unwrap_or_default();
        Self { method: next(), uri: next(), auth: next(), content_type: next() }
    }
}

/// Keeps the bytes a URI may hold, percent-encodes the rest.
fn uri_safe(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/?=&%:@!$'()*+,;".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether sending the request could act on `single` (a backup, a restore, a delete).
fn acts_on_managed(line: &Line, body: &[u8]) -> bool {
    let path = percent_decoded(line.uri.split('?').next().unwrap_or_default());
    if !path.contains(MANAGED) || matches!(line.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return false;
    }
    let restore_could_run = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("from")?.as_str().map(|f| f == "latest" || f.parse::<BackupId>().is_ok()))
        .unwrap_or(false);
    line.method != "POST" || path.contains("backups") || restore_could_run
}

impl Target for ApiTarget {
    fn name(&self) -> &'static str {
        "api"
    }

    fn generate(&mut self, rng: &mut Rng) -> Case {
        let method = rng.pick(METHODS).to_string();
        let path = match rng.below(20) {
            0 => "/v1/plan".to_owned(),
            1 => "/metrics".to_owned(),
            2 => "/healthz".to_owned(),
            3 => {
                let mut raw = b"/v1/clusters/".to_vec();
                mutate_text(rng, &mut raw);
                String::from_utf8_lossy(&raw).into_owned()
            }
            4..=7 => "/v1/clusters".to_owned(),
            _ => format!("/v1/clusters/{}{}", rng.pick(NAMES), rng.pick(SUFFIXES)),
        };
        let uri = uri_safe(&format!("{path}{}", rng.pick(QUERIES)));
        let auth = match rng.below(10) {
            0 => String::new(),
            1 => "Bearer wrong".into(),
            2 => format!("bearer {TOKEN}"),
            3 => TOKEN.into(),
            _ => format!("Bearer {TOKEN}"),
        };
        let content_type = rng
            .pick(&[
                "application/json",
                "application/json",
                "application/json",
                "",
                "text/plain",
                "application/json; charset=utf-8",
                "application/jsonx",
            ])
            .to_string();
        let line = Line { method, uri, auth, content_type };
        Case { label: line.label(), data: self.body(rng) }
    }

    fn check(&mut self, case: &Case) -> Verdict {
        let mut line = Line::parse(&case.label);
        let mut body = case.data.clone();
        let valid_manifest =
            serde_json::from_slice::<Value>(&body).ok().is_some_and(|v| desired_from_json(&v).is_ok());
        if valid_manifest {
            // Only a dry run: an accepted apply would start a worker, a plan would
            // connect to whatever hosts the manifest names.
            line = Line {
                method: "POST".into(),
                uri: "/v1/clusters?dryRun=true".into(),
                auth: format!("Bearer {TOKEN}"),
                content_type: "application/json".into(),
            };
        } else if acts_on_managed(&line, &body) {
            return Verdict::Skipped;
        }
        let Ok(method) = axum::http::Method::from_bytes(line.method.as_bytes()) else {
            return Verdict::Finding(format!("harness: method {:?}", line.method));
        };
        let mut request = Request::builder().method(method).uri(line.uri.as_str());
        if !line.auth.is_empty() {
            request = request.header(header::AUTHORIZATION, line.auth.as_str());
        }
        if !line.content_type.is_empty() {
            request = request.header(header::CONTENT_TYPE, line.content_type.as_str());
        }
        let request = match request.body(Body::from(std::mem::take(&mut body))) {
            Ok(r) => r,
            Err(_) => return Verdict::Skipped, // no client can send it
        };
        let before = snapshot(&self.world.state);
        let app = self.world.app.clone();
        let answer = self.runtime.block_on(async move {
            let response = app.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let json = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let bytes =
                axum::body::to_bytes(response.into_body(), 16 << 20).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, json, bytes))
        });
        let (status, json, bytes) = match answer {
            Ok(a) => a,
            Err(e) => return Verdict::Finding(format!("no answer: {e}")),
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let request = format!("{} {}", line.method, line.uri);
        if text.contains(TOKEN) {
            return Verdict::Finding(format!("{request}: the token is echoed: {text}"));
        }
        if status.is_server_error() {
            return Verdict::Finding(format!("{request}: {status}: {text}"));
        }
        let after = snapshot(&self.world.state);
        let changed = after != before;
        if status.as_u16() == 409 && scale_refused(&before, &after) {
            // The one change a refusal makes, by design (SPEC scenario 2; the CLI's
            // check of every document relies on it): the refused member count change
            // is recorded for the status, and `single`'s worker is woken. A new world
            // (and runtime: the worker's task goes with it) for the next case.
            self.runtime = runtime();
            self.world = world();
            return Verdict::Rejected("409 scale refusal (recorded for the status)".into());
        }
        if status.is_client_error() && line.method == "HEAD" {
            // A HEAD answer has no body by HTTP's rules: only the status and the state.
            return if changed {
                Verdict::Finding(format!("{request}: {status}, but the state directory changed"))
            } else {
                Verdict::Rejected(format!("{} (HEAD)", status.as_u16()))
            };
        }
        if status.is_client_error() {
            let error = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| Some(v.get("error")?.as_str()?.to_owned()));
            return match error {
                _ if !json => Verdict::Finding(format!("{request}: {status} without a JSON body: {text:?}")),
                None => Verdict::Finding(format!("{request}: {status} without an error sentence: {text}")),
                Some(e) if e.trim().is_empty() => {
                    Verdict::Finding(format!("{request}: {status} with an empty error"))
                }
                Some(_) if changed => {
                    Verdict::Finding(format!("{request}: {status}, but the state directory changed"))
                }
                Some(e) => Verdict::Rejected(format!("{} {e}", status.as_u16())),
            };
        }
        if valid_manifest && changed {
            return Verdict::Finding(format!("{request}: an accepted dry run changed the state directory"));
        }
        if changed {
            self.world = world();
        }
        Verdict::Accepted
    }
}
