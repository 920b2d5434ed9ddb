//! Cosmos `service/describe` and `service/update` (§3, §9.10): versioned media types
//! in `Content-Type` and `Accept`, options stored per service, `replace: false`
//! deep-merges, and turning `kubernetes.high_availability` on scales one member to
//! three through the deploy plan.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::http::{Shared, json as reply};
use super::world::{World, lock, uuid};

const DESCRIBE_REQUEST: &str = "application/vnd.dcos.service.describe-request+json;charset=utf-8;version=v1";
const DESCRIBE_RESPONSE: &str =
    "application/vnd.dcos.service.describe-response+json;charset=utf-8;version=v1";
const UPDATE_REQUEST: &str = "application/vnd.dcos.service.update-request+json;charset=utf-8;version=v1";
const UPDATE_RESPONSE: &str = "application/vnd.dcos.service.update-response+json;charset=utf-8;version=v1";

/// A Cosmos error: 400 `{type, message, data}`.
fn error(kind: &str, message: &str, data: Value) -> Response {
    reply(400, "application/json", &json!({"type": kind, "message": message, "data": data}))
}

/// Why Cosmos refuses a request, before it becomes the 400 reply.
struct Refusal {
    kind: &'static str,
    message: String,
    data: Value,
}

impl Refusal {
    fn reply(&self) -> Response {
        error(self.kind, &self.message, self.data.clone())
    }
}

/// Media types compare without spaces and case.
fn same_media_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The request's body as JSON, if both media types are the ones Cosmos wants.
fn checked_body(headers: &HeaderMap, body: &[u8], request: &str, response: &str) -> Result<Value, Refusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !same_media_type(content_type, request) {
        let message = format!("Unsupported Content-Type: {content_type:?}; expected {request}");
        return Err(Refusal { kind: "UnsupportedContentType", message, data: json!({"expected": request}) });
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !accept.split(',').any(|a| same_media_type(a, response)) {
        let message = format!("Not acceptable: {accept:?}; Cosmos answers {response}");
        return Err(Refusal { kind: "NotAcceptable", message, data: json!({"expected": response}) });
    }
    serde_json::from_slice(body).map_err(|e| Refusal {
        kind: "JsonParsingError",
        message: format!("malformed JSON: {e}"),
        data: json!({}),
    })
}

/// Finds the service the request names, or the 400 Cosmos gives.
fn app(w: &World, request: &Value) -> Result<(), Refusal> {
    let app_id = request["appId"].as_str().unwrap_or_default();
    if app_id.trim_start_matches('/') == w.service {
        Ok(())
    } else {
        let message = format!("Unable to locate service with marathon appId: '{app_id}'");
        Err(Refusal { kind: "MarathonAppNotFound", message, data: json!({"appId": app_id}) })
    }
}

/// The package's defaults deep-merged with the user's options.
pub fn resolved(w: &World) -> Value {
    let mut options = json!({
        "service": {"name": w.service},
        "kubernetes": {"high_availability": false},
        "etcd": {"cpus": 0.5, "mem": 1024},
    });
    merge(&mut options, &w.options);
    options
}

/// Deep-merges `patch` into `base`: objects key by key, anything else replaced.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn package(w: &World) -> Value {
    json!({"name": w.package.0, "version": w.package.1})
}

/// On the 2.x line Cosmos does not act itself: the package names a manager (MKE, the
/// `kubernetes` service), and Cosmos forwards describe and update to it through Admin
/// Router with the caller's token (`CustomPackageManagerRouter.scala`). Recorded as
/// the request MKE receives.
fn forward_to_manager(w: &mut World, headers: &HeaderMap, verb: &str, body: &[u8]) {
    if w.package.0 != "kubernetes-cluster" {
        return;
    }
    let keep = |name: &header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let authorization = keep(&header::AUTHORIZATION).unwrap_or_default();
    w.requests.push(super::RecordedRequest {
        method: "POST".to_owned(),
        path: format!("/service/kubernetes/service/{verb}"),
        headers: vec![("authorization".to_owned(), authorization)],
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

/// `POST /cosmos/service/describe`.
pub async fn describe(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match checked_body(&headers, &body, DESCRIBE_REQUEST, DESCRIBE_RESPONSE) {
        Ok(request) => request,
        Err(refusal) => return refusal.reply(),
    };
    let mut w = lock(&shared.world);
    if let Err(refusal) = app(&w, &request) {
        return refusal.reply();
    }
    forward_to_manager(&mut w, &headers, "describe", &body);
    let body = json!({
        "package": package(&w),
        "upgradesTo": [],
        "downgradesTo": [],
        "resolvedOptions": resolved(&w),
        "userProvidedOptions": w.options,
    });
    reply(200, DESCRIBE_RESPONSE, &body)
}

/// `POST /cosmos/service/update`.
pub async fn update(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match checked_body(&headers, &body, UPDATE_REQUEST, UPDATE_RESPONSE) {
        Ok(request) => request,
        Err(refusal) => return refusal.reply(),
    };
    let mut w = lock(&shared.world);
    if w.cosmos_forbidden_until.is_some_and(|until| std::time::Instant::now() < until) {
        return super::http::html(403, "403 Forbidden");
    }
    if let Err(refusal) = app(&w, &request) {
        return refusal.reply();
    }
    let lost = w.lose_next_update_answer.take();
    if lost == Some(false) {
        return super::http::html(504, "Gateway Timeout");
    }
    let Some(replace) = request["replace"].as_bool() else {
        return error("JsonSchemaMismatch", "field \"replace\" (a boolean) is required", json!({}));
    };
    let options = request.get("options").cloned().unwrap_or_else(|| json!({}));
    if !options.is_object() {
        return error("JsonSchemaMismatch", "field \"options\" must be an object", json!({}));
    }
    if replace {
        w.options = options;
    } else {
        merge(&mut w.options, &options);
    }
    forward_to_manager(&mut w, &headers, "update", &body);
    let resolved = resolved(&w);
    // Marathon redeploys the scheduler with the new options; once it runs again, its
    // deploy plan grows etcd (2.4+: five members with `etcd.5_etcd_nodes`; the 1.x line
    // knows no such option).
    let five = resolved["etcd"]["5_etcd_nodes"] == true && w.package.0 == "kubernetes-cluster";
    let target = match resolved["kubernetes"]["high_availability"] == true {
        true if five => 5,
        true => 3,
        false => w.pods.len(),
    };
    let deployment = uuid();
    let until = std::time::Instant::now() + w.marathon_deploy;
    w.marathon_deployment = Some((deployment.clone(), until, target));
    if lost.is_some() {
        return super::http::html(504, "Gateway Timeout");
    }
    let body =
        json!({"package": package(&w), "resolvedOptions": resolved, "marathonDeploymentId": deployment});
    reply(200, UPDATE_RESPONSE, &body)
}
