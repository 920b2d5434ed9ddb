//! What every request passes before a handler sees it: the bearer token (compared in
//! constant time) and the body size limit. Owns no state of its own.

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
