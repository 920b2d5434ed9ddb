//! The DC/OS client against a loopback fake of Admin Router: the requests it makes
//! (method, path, authorization), the retries of reads, the single send of commands,
//! and a new token after a 401.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tempfile::TempDir;

use super::client::DcosClient;
use super::shapes::SdkReply;
use crate::domain::PodName;
use crate::manifest::desired::{DcosCredentials, DcosSpec};

/// One canned answer: status, content type, body.
pub(super) type Canned = (u16, &'static str, String);

/// A request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) authorization: String,
    pub(super) content_type: Option<String>,
    pub(super) accept: Option<String>,
    pub(super) body: String,
}

#[derive(Default)]
pub(super) struct Fake {
    /// `METHOD path authorization` of every request, in order.
    seen: Mutex<Vec<String>>,
    /// Every request in full, in order.
    requests: Mutex<Vec<Seen>>,
    /// Answers to give, in order; then 200 with `fallback`.
    answers: Mutex<VecDeque<Canned>>,
    fallback: Mutex<String>,
    /// A token the fake refuses with 401, and the token file to rewrite when it does.
    refused: Mutex<Option<(String, std::path::PathBuf, String)>>,
}

async fn serve(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let text = |name| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let auth = text(header::AUTHORIZATION).unwrap_or_default();
    let (content_type, accept) = (text(header::CONTENT_TYPE), text(header::ACCEPT));
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
    let method = parts.method.to_string();
    let body = axum::body::to_bytes(body, 1 << 20).await.expect("a request body");
    let body = String::from_utf8(body.to_vec()).expect("a UTF-8 body");
    fake.seen.lock().expect("lock").push(format!("{method} {path} {auth}"));
    let authorization = auth.clone();
    fake.requests.lock().expect("lock").push(Seen {
        method,
        path,
        authorization,
        content_type,
        accept,
        body,
    });
    if let Some((token, file, next)) = fake.refused.lock().expect("lock").clone()
        && auth == format!("token={token}")
    {
        std::fs::write(&file, next).expect("rotate the token file");
        // Admin Router's 401: an HTML page with `WWW-Authenticate` (§9.9).
        let page = "<html><head><title>401 Authorization Required</title></head></html>";
        let headers = [(header::WWW_AUTHENTICATE, "acsjwt"), (header::CONTENT_TYPE, "text/html")];
        return (StatusCode::UNAUTHORIZED, headers, page).into_response();
    }
    let (status, kind, body) = fake
        .answers
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or_else(|| (200, "application/json", fake.fallback.lock().expect("lock").clone()));
    (StatusCode::from_u16(status).expect("status"), [(header::CONTENT_TYPE, kind)], body).into_response()
}

pub(super) fn jwt(uid: &str) -> String {
    let claims = serde_json::json!({ "uid": uid, "exp": jiff::Timestamp::now().as_second() + 3600 });
    let key = jsonwebtoken::EncodingKey::from_secret(b"test").expect("a key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("a token")
}

pub(super) struct Bench {
    pub(super) fake: Arc<Fake>,
    pub(super) client: DcosClient,
    pub(super) token: String,
    pub(super) token_file: std::path::PathBuf,
    _dir: TempDir,
}

pub(super) async fn bench() -> Bench {
    let fake = Arc::new(Fake::default());
    let app = Router::new().fallback(serve).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let token = jwt("etcd-warden");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let spec = DcosSpec {
        url: format!("{url}/"),
        service: "/prod/kubernetes".into(),
        ca_file: None,
        credentials: DcosCredentials::Token { token_file: token_file.clone() },
    };
    let client = DcosClient::new(&spec).expect("client");
    Bench { fake, client, token, token_file, _dir: dir }
}

impl Bench {
    pub(super) fn answer(&self, answers: Vec<Canned>) {
        self.fake.answers.lock().expect("lock").extend(answers);
    }

    pub(super) fn seen(&self) -> Vec<String> {
        self.fake.seen.lock().expect("lock").clone()
    }

    pub(super) fn requests(&self) -> Vec<Seen> {
        self.fake.requests.lock().expect("lock").clone()
    }

    /// A token the fake refuses with Admin Router's 401, rotating the token file to `next`.
    pub(super) fn refuse_token(&self, next: &str) {
        *self.fake.refused.lock().expect("lock") =
            Some((self.token.clone(), self.token_file.clone(), next.to_owned()));
    }
}

fn pod(i: u8) -> PodName {
    PodName::new(i).expect("pod")
}

#[tokio::test]
async fn reads_go_to_the_service_and_mesos_paths_with_the_token() {
    let b = bench().await;
    b.answer(vec![
        (200, "application/json", include_str!("fixtures/sdk-pod-status-etcd-1.json").to_owned()),
        (200, "application/json", include_str!("fixtures/sdk-pod-info-etcd-1.json").to_owned()),
        (200, "application/json", include_str!("fixtures/constructed-mesos-master-state.json").to_owned()),
        (404, "text/plain", "Pod etcd-4 not found".to_owned()),
    ]);
    let status = b.client.pod_status(pod(1)).await.expect("pod status");
    assert!(matches!(status, SdkReply::Found(ref s) if s.name == "etcd-1"), "{status:?}");
    assert!(matches!(b.client.pod_info(pod(1)).await.expect("pod info"), SdkReply::Found(_)));
    b.client.master_state().await.expect("master state");
    let missing = b.client.pod_status(pod(4)).await.expect("the SDK's own 404");
    assert!(matches!(missing, SdkReply::NotFound(ref n) if n.name == "etcd-4"), "{missing:?}");
    let auth = format!("token={}", b.token);
    assert_eq!(
        b.seen(),
        [
            format!("GET /service/prod/kubernetes/v1/pod/etcd-1/status {auth}"),
            format!("GET /service/prod/kubernetes/v1/pod/etcd-1/info {auth}"),
            format!("GET /mesos/master/state {auth}"),
            format!("GET /service/prod/kubernetes/v1/pod/etcd-4/status {auth}"),
        ]
    );
}

#[tokio::test]
async fn reads_are_retried_through_admin_router_errors_and_error_pages() {
    let b = bench().await;
    *b.fake.fallback.lock().expect("lock") = include_str!("fixtures/sdk-pod-status-etcd-1.json").to_owned();
    b.answer(vec![
        (502, "text/html", "<html>Bad Gateway</html>".to_owned()),
        (404, "text/html", "<html>404 Not Found</html>".to_owned()),
    ]);
    let status = b.client.pod_status(pod(1)).await.expect("answered in the end");
    assert!(matches!(status, SdkReply::Found(_)));
    assert_eq!(b.seen().len(), 3, "two errors, then the answer");
}

#[tokio::test]
async fn a_command_is_sent_once_and_says_whether_it_was_certainly_not_made() {
    let b = bench().await;
    b.answer(vec![(503, "text/html", "<html>Service Unavailable</html>".to_owned())]);
    let error = b.client.replace(pod(1)).await.expect_err("503");
    assert!(error.certainly_not_made(), "{error}");
    b.answer(vec![(504, "text/html", "<html>Gateway Timeout</html>".to_owned())]);
    let error = b.client.replace(pod(1)).await.expect_err("504");
    assert!(!error.certainly_not_made(), "a 504 may have reached the scheduler: {error}");
    b.answer(vec![(502, "text/html", "<html>Bad Gateway</html>".to_owned())]);
    let error = b.client.replace(pod(1)).await.expect_err("502");
    assert!(
        !error.certainly_not_made() && error.to_string().contains("may have acted"),
        "nginx's 502 to a command may come after the scheduler acted: {error}"
    );
    b.answer(vec![(
        200,
        "application/json",
        include_str!("fixtures/sdk-pod-replace-etcd-1.json").to_owned(),
    )]);
    let reply = b.client.replace(pod(1)).await.expect("replaced");
    assert!(matches!(reply, SdkReply::Found(ref r) if r.tasks.len() == 2), "{reply:?}");
    b.answer(vec![(200, "application/json", r#"{"pod":"etcd-1","tasks":["etcd-1-peer"]}"#.to_owned())]);
    b.client.restart(pod(1)).await.expect("restarted");
    let posts: Vec<String> =
        b.seen().into_iter().map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        posts,
        [
            "POST /service/prod/kubernetes/v1/pod/etcd-1/replace",
            "POST /service/prod/kubernetes/v1/pod/etcd-1/replace",
            "POST /service/prod/kubernetes/v1/pod/etcd-1/replace",
            "POST /service/prod/kubernetes/v1/pod/etcd-1/replace",
            "POST /service/prod/kubernetes/v1/pod/etcd-1/restart",
        ],
        "one request per call, never a retry of a command"
    );
}

#[tokio::test]
async fn a_401_gets_a_new_token_and_the_request_is_made_again_with_it() {
    let b = bench().await;
    let rotated = jwt("etcd-warden-rotated");
    *b.fake.refused.lock().expect("lock") = Some((b.token.clone(), b.token_file.clone(), rotated.clone()));
    *b.fake.fallback.lock().expect("lock") = include_str!("fixtures/sdk-pod-status-etcd-1.json").to_owned();
    b.client.pod_status(pod(1)).await.expect("answered with the new token");
    let seen = b.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].ends_with(&format!("token={}", b.token)));
    assert!(seen[1].ends_with(&format!("token={rotated}")));
}

#[tokio::test]
async fn admin_routers_html_401_gets_a_new_token_for_a_command_too() {
    let b = bench().await;
    let rotated = jwt("etcd-warden-rotated");
    *b.fake.refused.lock().expect("lock") = Some((b.token.clone(), b.token_file.clone(), rotated.clone()));
    b.answer(vec![(200, "application/json", r#"{"pod":"etcd-1","tasks":["etcd-1-peer"]}"#.to_owned())]);
    b.client.restart(pod(1)).await.expect("restarted with the new token");
    let seen = b.seen();
    assert_eq!(
        seen,
        [
            format!("POST /service/prod/kubernetes/v1/pod/etcd-1/restart token={}", b.token),
            format!("POST /service/prod/kubernetes/v1/pod/etcd-1/restart token={rotated}"),
        ],
        "a 401 was refused by Admin Router, so the command is sent again with the new token"
    );
}
