//! What every request passes before a handler sees it: the bearer token (compared in
//! constant time) and the body size limit; and what every refusal leaves with: a JSON
//! error body. Owns no state of its own.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared};

/// The largest request body the API reads: 1 MiB, far above any manifest.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Lets a request through when no token is configured, or when it carries
/// `Authorization: Bearer <token>`; answers 401 otherwise.
pub(super) async fn authorize(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        if !given.is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required (--token or ETCD_WARDEN_TOKEN)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Gives axum's own refusals (no such route, a method not allowed, a path or query that
/// does not parse), which come as plain text or empty, the API's form: a JSON body
/// `{"error": "<one sentence>"}` naming what is allowed.
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::NOT_FOUND => format!(
            "there is no route {path} (allowed: /, /healthz, /metrics, /ui/clusters, /v1/plan, /v1/clusters, /v1/clusters/NAME and its /status, /events, /plan, /backups, /restore)"
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or_else(|| methods_of(&path));
            format!("{method} is not allowed on {path} (allowed: {allowed})")
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("the request is refused").to_owned(),
        _ => text,
    };
    let mut refused = ApiError::new(status, message).into_response();
    if let Some(allow) = allow {
        refused.headers_mut().insert(header::ALLOW, allow);
    }
    refused
}

/// The methods a route takes, as `router` declares them.
fn methods_of(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1", "clusters"] | ["v1", "clusters", _, "backups"] => "GET, POST",
        ["v1", "plan"] | ["v1", "clusters", _, "restore"] => "POST",
        ["v1", "clusters", _] => "GET, DELETE",
        _ => "GET",
    }
}

/// Whether `given` equals `expected`, in a time that depends only on the length of
/// `expected` (no early exit on the first differing byte).
pub(super) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = usize::from(given.len() != expected.len());
    for (i, byte) in expected.iter().enumerate() {
        let other = given.get(i).copied().unwrap_or(!byte);
        diff |= usize::from(std::hint::black_box(other ^ byte));
    }
    std::hint::black_box(diff) == 0
}

/// The API error for a body that could not be read as `what`: 413 naming the limit
/// when it is too large, 400 otherwise.
pub(super) fn body_rejected(rejection: &JsonRejection, what: &str) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of 1 MiB ({BODY_LIMIT} bytes)"),
        );
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("the request body must be {what}: {}", rejection.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_every_byte_and_the_length_match() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3creT", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"), "a prefix");
        assert!(!same_secret(b"s3crets", b"s3cret"), "a longer string");
        assert!(!same_secret(b"", b"s3cret"));
        assert!(!same_secret(b"\xff\xff", b"\x00\x00"), "missing bytes never count as equal");
    }
}
