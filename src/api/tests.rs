//! The API's guards over a real socket: the token, the body limit and the names in
//! paths. Raw HTTP, so that paths reach the server exactly as written (`..` included).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{BODY_LIMIT, router};
use crate::controller::{Controller, ControllerConfig};
use crate::manifest::parse_str;
use crate::metrics::Metrics;
use crate::store::Store;

/// A served API over a temp store holding the cluster `single` (no worker runs).
struct Served {
    _dir: tempfile::TempDir,
    address: std::net::SocketAddr,
}

async fn serve(token: Option<&str>) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("state")).expect("store");
    let doc =
        parse_str("test", include_str!("../../manifests/local-single.yaml")).expect("manifest").remove(0);
    let value = serde_json::to_value(&doc.manifest).expect("JSON");
    store.put_desired(&doc.desired.name, value, Timestamp::now()).expect("put");
    let controller = Controller::new(
        store,
        Arc::new(Metrics::default()),
        ControllerConfig { resync: Duration::from_secs(60), clock: crate::clock::Clock::start() },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let app = router(controller, token.map(str::to_owned));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served { _dir: dir, address }
}

/// Sends one request and returns the status code and the body.
async fn call(served: &Served, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(served.address).await.expect("connect");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    // The server may answer (413) before it reads the whole body.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let code = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn with_a_token_every_route_but_healthz_needs_it() {
    let served = serve(Some("t0ken-abc")).await;
    assert_eq!(call(&served, "GET", "/healthz", None, b"").await.0, 200);
    for path in [
        "/metrics",
        "/v1/clusters",
        "/v1/clusters/single/status",
        "/v1/clusters/single/events",
        "/ui/clusters",
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer t0ken-ab"),
            Some("Bearer t0ken-abcd"),
            Some("t0ken-abc"),
        ] {
            let (code, body) = call(&served, "GET", path, auth, b"").await;
            assert_eq!(code, 401, "{path} with {auth:?}: {body}");
            assert!(body.contains("a valid bearer token is required"), "{body}");
            assert!(!body.contains("t0ken-abc"), "the token is never echoed: {body}");
        }
        let (code, body) = call(&served, "GET", path, Some("Bearer t0ken-abc"), b"").await;
        assert_ne!(code, 401, "{path} with the token: {body}");
    }
    let (code, _) = call(&served, "POST", "/v1/clusters", None, b"{}").await;
    assert_eq!(code, 401, "a write without the token");
    let (code, _) = call(&served, "DELETE", "/v1/clusters/single", Some("Bearer nope"), b"").await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_naming_the_limit() {
    let served = serve(None).await;
    let mut big = b"{\"pad\": \"".to_vec();
    big.resize(BODY_LIMIT + 1, b'x');
    for path in ["/v1/clusters", "/v1/plan", "/v1/clusters/single/restore"] {
        let (code, body) = call(&served, "POST", path, None, &big).await;
        assert_eq!(code, 413, "{path}: {body}");
        assert!(body.contains("larger than the limit of 1 MiB (1048576 bytes)"), "{path}: {body}");
    }
    let (code, body) = call(&served, "POST", "/v1/clusters", None, b"{\"kind\": 3}").await;
    assert_eq!(code, 400, "a small bad body is still a 400: {body}");
}

#[tokio::test]
async fn names_in_paths_that_could_leave_the_state_directory_are_refused_with_400() {
    let served = serve(None).await;
    let long = "a".repeat(41);
    let names =
        ["..", ".", "..%2F..%2Fetc", "%2Fetc%2Fpasswd", "a%2Fb", "a%00b", "%2E%2E", long.as_str(), "Kube"];
    for name in names {
        for (method, suffix) in [
            ("GET", "/status"),
            ("GET", "/events"),
            ("GET", "/plan"),
            ("GET", "/backups"),
            ("POST", "/backups"),
        ] {
            let path = format!("/v1/clusters/{name}{suffix}");
            let (code, body) = call(&served, method, &path, None, b"").await;
            assert_eq!(code, 400, "{method} {path}: {body}");
            assert!(
                body.contains("is not allowed (a DNS label: 1-40 characters of a-z, 0-9 and '-'"),
                "{body}"
            );
        }
        let (code, body) =
            call(&served, "DELETE", &format!("/v1/clusters/{name}?purge=true"), None, b"").await;
        assert_eq!(code, 400, "DELETE {name}: {body}");
    }
    for from in ["../../etc/passwd", "/etc/passwd", "20261125T203000123Z-r1/..", "a\u{0}", &"1".repeat(65)] {
        let body = serde_json::json!({ "from": from }).to_string();
        let (code, answer) =
            call(&served, "POST", "/v1/clusters/single/restore", None, body.as_bytes()).await;
        assert_eq!(code, 400, "from {from:?}: {answer}");
        assert!(answer.contains("is not a backup ID (allowed:"), "{answer}");
    }
}

/// Found by the `api` fuzz target: axum's own refusals came as empty or plain-text
/// bodies. Every 4xx now has the JSON error body.
#[tokio::test]
async fn axum_refusals_have_the_json_error_body() {
    let served = serve(None).await;
    let cases = [
        ("GET", "/nope", 404, "there is no route /nope (allowed: /, /healthz"),
        ("GET", "/v1/clusters/single/x", 404, "there is no route"),
        ("PUT", "/v1/clusters", 405, "PUT is not allowed on /v1/clusters (allowed: GET, POST)"),
        ("POST", "/healthz", 405, "POST is not allowed on /healthz (allowed: GET)"),
        ("GET", "/v1/clusters/single/restore", 405, "(allowed: POST)"),
        ("POST", "/v1/clusters?dryRun=maybe", 400, "dryRun"),
        ("GET", "/v1/clusters/%ff%fe/status", 400, ""),
    ];
    for (method, path, code, words) in cases {
        let (got, body) = call(&served, method, path, None, b"{}").await;
        assert_eq!(got, code, "{method} {path}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
        let error = error["error"].as_str().expect("an error sentence");
        assert!(!error.is_empty() && error.contains(words), "{method} {path}: {error}");
    }
}

/// The status page's frame: with a token it holds a sign-in form and no cluster; the
/// clusters come from `/ui/clusters`, behind the token. Without a token the frame holds
/// them already, for a browser that runs no script.
#[tokio::test]
async fn the_status_page_shows_no_cluster_without_the_token_when_one_is_set() {
    let served = serve(Some("t0ken-abc")).await;
    let (code, frame) = call(&served, "GET", "/", None, b"").await;
    assert_eq!(code, 200, "{frame}");
    assert!(frame.contains("id=\"login\"") && frame.contains("data-token=\"required\""), "{frame}");
    assert!(!frame.contains("single"), "no cluster's name without the token: {frame}");
    for asset in ["/ui/page.js", "/ui/page.css"] {
        assert_eq!(call(&served, "GET", asset, None, b"").await.0, 200, "{asset}");
    }
    let (code, clusters) = call(&served, "GET", "/ui/clusters", Some("Bearer t0ken-abc"), b"").await;
    assert_eq!(code, 200, "{clusters}");
    assert!(clusters.contains("id=\"cluster-single\""), "{clusters}");
    let open = serve(None).await;
    let (code, frame) = call(&open, "GET", "/", None, b"").await;
    assert_eq!(code, 200, "{frame}");
    assert!(frame.contains("id=\"cluster-single\"") && !frame.contains("id=\"login\""), "{frame}");
}
