//! The fake's HTTP server, as Admin Router shows it (§1.1): every request recorded,
//! the test's faults (§1.1: 502 text/html while the scheduler moves; malformed JSON),
//! the token check (401 `text/html` with `WWW-Authenticate: acsjwt`, §1.3, §9.9), then
//! the IAM, Cosmos, Mesos and the SDK scheduler under `/service/<svc>/`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::world::{World, lock};
use super::{Fault, RecordedRequest, commands, cosmos, iam, render};

/// What the handlers share: the world and the IAM's keys.
pub struct Shared {
    pub world: Mutex<World>,
    pub iam: iam::Keys,
}

/// The routes, behind Admin Router's recording, faults and token check.
pub fn router(shared: Arc<Shared>, service: &str) -> Router {
    let base = format!("/service/{service}/v1");
    Router::new()
        .route(iam::LOGIN_PATH, post(iam::login))
        .route("/mesos/master/state", get(master_state))
        .route("/cosmos/service/describe", post(cosmos::describe))
        .route("/cosmos/service/update", post(cosmos::update))
        .route("/service/marathon/v2/deployments", get(marathon_deployments))
        .route("/agent/{agent}/files/read", get(read_file))
        .route(&format!("{base}/pod"), get(pod_list))
        .route(&format!("{base}/pod/status"), get(all_status))
        .route(&format!("{base}/pod/{{pod}}/status"), get(pod_status))
        .route(&format!("{base}/pod/{{pod}}/info"), get(pod_info))
        .route(&format!("{base}/pod/{{pod}}/restart"), post(restart))
        .route(&format!("{base}/pod/{{pod}}/replace"), post(replace))
        .route(&format!("{base}/plans"), get(plans))
        .route(&format!("{base}/plans/{{plan}}"), get(plan))
        .fallback(not_routed)
        .layer(middleware::from_fn_with_state(shared.clone(), admin_router))
        .with_state(shared)
}

/// An HTML page with a status, as Admin Router (nginx) answers its own errors.
pub fn html(status: u16, title: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n<center><h1>{status} {title}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
    );
    let status = StatusCode::from_u16(status).expect("an HTTP status");
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// A pretty-printed JSON reply (2-space indents, as the SDK writes).
pub fn json(status: u16, content_type: &str, value: &Value) -> Response {
    let body = serde_json::to_string_pretty(value).expect("serialize a reply");
    let status = StatusCode::from_u16(status).expect("an HTTP status");
    (status, [(header::CONTENT_TYPE, content_type.to_owned())], body).into_response()
}

fn not_found(thing: &str, name: &str) -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain")], format!("{thing} {name} not found"))
        .into_response()
}

async fn admin_router(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let fault = {
        let mut w = lock(&shared.world);
        w.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        match w.fault {
            Some((until, fault)) if Instant::now() < until => Some(fault),
            _ => None,
        }
    };
    match fault {
        Some(Fault::Status(status)) => return html(status, "Fault"),
        Some(Fault::Garbage) => {
            let garbage = "{\"pods\": [{\"name\": \"etcd-0\", \"tasks\": [{\"id\": ";
            return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], garbage).into_response();
        }
        Some(Fault::PodStatusNotFound(index))
            if parts.uri.path().ends_with(&format!("/v1/pod/etcd-{index}/status")) =>
        {
            return not_found("Pod", &format!("etcd-{index}"));
        }
        Some(Fault::PodStatusNotFound(_)) | None => {}
    }
    if parts.uri.path() != iam::LOGIN_PATH && !iam::authorized(&shared, &parts.headers) {
        let mut reply = html(401, "Authorization Required");
        reply.headers_mut().insert(header::WWW_AUTHENTICATE, "acsjwt".parse().expect("a header value"));
        return reply;
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn not_routed() -> Response {
    html(404, "Not Found")
}

const JSON: &str = "application/json";

/// Marathon's running deployments: the scheduler's, while a Cosmos update redeploys it.
async fn marathon_deployments(State(shared): State<Arc<Shared>>) -> Response {
    let w = lock(&shared.world);
    let running: Vec<Value> = w
        .marathon_deployment
        .iter()
        .filter(|(_, until, _)| Instant::now() < *until)
        .map(|(id, _, _)| {
            serde_json::json!({
                "id": id,
                "version": "2026-12-07T05:00:00.000Z",
                "affectedApps": [format!("/{}", w.service)],
                "affectedPods": [],
                "steps": [{"actions": [{"action": "RestartApplication", "app": format!("/{}", w.service)}]}],
                "currentActions": [{"action": "RestartApplication", "app": format!("/{}", w.service)}],
                "currentStep": 1,
                "totalSteps": 1,
            })
        })
        .collect();
    json(200, JSON, &Value::Array(running))
}

/// An agent's `/files/read` of a pod task's sandbox (`/frameworks/<FID>/executors/<EID>/
/// runs/latest/tasks/<task ID>/stderr`): the log of the pod's etcd while that task is
/// its current one; `offset=-1` gives the length. Anything else is Mesos's 404.
async fn read_file(
    State(shared): State<Arc<Shared>>,
    Path(agent): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let w = lock(&shared.world);
    let path = query.get("path").map(String::as_str).unwrap_or_default();
    let prefix = format!(
        "/frameworks/{}/executors/{}/runs/latest/tasks/",
        w.framework_id,
        super::world::executor_id(&w.service)
    );
    let task = path.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix("/stderr"));
    let pod = task.and_then(|id| w.pods.iter().find(|p| p.peer.id == id && p.agent == agent));
    let Some(pod) = pod else { return not_found("File", path) };
    let log = pod.log_file(&w.dir.join("logs"));
    let bytes = std::fs::read(&log).unwrap_or_default();
    let offset: i64 = query.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let Ok(start) = usize::try_from(offset) else {
        return json(200, JSON, &serde_json::json!({"data": "", "offset": bytes.len()}));
    };
    let length: usize = query.get("length").and_then(|l| l.parse().ok()).unwrap_or(bytes.len());
    let piece = bytes
        .get(start.min(bytes.len())..(start.saturating_add(length)).min(bytes.len()))
        .unwrap_or_default();
    json(200, JSON, &serde_json::json!({"data": String::from_utf8_lossy(piece), "offset": start}))
}

async fn master_state(State(shared): State<Arc<Shared>>) -> Response {
    json(200, JSON, &render::master_state(&lock(&shared.world)))
}

async fn pod_list(State(shared): State<Arc<Shared>>) -> Response {
    json(200, JSON, &render::pod_list(&lock(&shared.world)))
}

async fn all_status(State(shared): State<Arc<Shared>>) -> Response {
    json(200, JSON, &render::all_status(&lock(&shared.world)))
}

async fn pod_status(State(shared): State<Arc<Shared>>, Path(pod): Path<String>) -> Response {
    let w = lock(&shared.world);
    match w.pod(&pod) {
        Some(p) => json(200, JSON, &render::pod_status(&w, p.index)),
        None => not_found("Pod", &pod),
    }
}

async fn pod_info(State(shared): State<Arc<Shared>>, Path(pod): Path<String>) -> Response {
    let w = lock(&shared.world);
    match w.pod(&pod) {
        Some(p) => json(200, JSON, &render::pod_info(&w, p.index)),
        None => not_found("Pod", &pod),
    }
}

async fn restart(State(shared): State<Arc<Shared>>, Path(pod): Path<String>) -> Response {
    match commands::restart(&mut lock(&shared.world), &pod) {
        Some(reply) => json(200, JSON, &reply),
        None => not_found("Pod", &pod),
    }
}

async fn replace(State(shared): State<Arc<Shared>>, Path(pod): Path<String>) -> Response {
    let mut w = lock(&shared.world);
    match w.lose_next_replace_answer.take() {
        Some(true) => {
            let _ = commands::replace(&mut w, &pod);
            return html(504, "Gateway Timeout");
        }
        Some(false) => return html(504, "Gateway Timeout"),
        None => {}
    }
    match commands::replace(&mut w, &pod) {
        Some(reply) => json(200, JSON, &reply),
        None => not_found("Pod", &pod),
    }
}

async fn plans() -> Response {
    json(200, JSON, &serde_json::json!(["deploy", "recovery"]))
}

async fn plan(State(shared): State<Arc<Shared>>, Path(plan): Path<String>, _headers: HeaderMap) -> Response {
    let w = lock(&shared.world);
    let (status, body) = match plan.as_str() {
        "deploy" => render::plan(&w.deploy),
        "recovery" => render::plan(&w.recovery),
        _ => return not_found("Plan", &plan),
    };
    json(status, JSON, &body)
}
