//! The status page, served by the daemon at `/`: read-only, everything in the binary
//! (no framework, no CDN, nothing fetched at run time).
//!
//! `/` is the page's frame. Without a token configured (the API then listens on loopback
//! only), it holds every cluster already, so that a terminal browser, which runs no
//! script, reads it whole. With a token, it holds a sign-in form instead: the token is
//! kept in the browser's session storage and sent as a bearer token, like any API call.
//! `/ui/clusters` is the clusters' HTML, behind the API's token; the page's script
//! fetches it every 2 s and swaps only the blocks that changed (`data-key`), so the
//! page never reloads and a reader's place is kept.

mod render;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use render::{ClusterView, TIMELINE};

use super::{ApiError, Shared};
use crate::controller::ControllerError;

/// The page's script.
const SCRIPT: &str = include_str!("page.js");
/// The page's style sheet.
const STYLE: &str = include_str!("page.css");

/// Scripts and styles only from the daemon itself; no frames, no other origin.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Every cluster as the page shows it, read from the store.
fn views(state: &super::ApiState) -> Result<Vec<ClusterView>, ApiError> {
    let store = state.controller.store();
    let mut views = Vec::new();
    for name in store.clusters().map_err(ControllerError::from)? {
        let status = store.status(&name).map_err(ControllerError::from)?;
        let events = store.events(&name).map_err(ControllerError::from)?;
        let records = store.backups(&name).map_err(ControllerError::from)?;
        let newest_verified = crate::model::catalog::newest_verified(&records).cloned();
        views.push(ClusterView { name, status, events, newest_verified });
    }
    Ok(views)
}

fn with_policy(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /`: the page.
pub(super) async fn page(State(state): State<Shared>) -> Result<Response, ApiError> {
    let token = state.token.is_some();
    let clusters =
        if token { None } else { Some(render::clusters(&views(&state)?, state.controller.clock().now())) };
    Ok(with_policy(Html(frame(token, clusters).into_string()).into_response()))
}

/// `GET /ui/clusters`: the clusters' HTML, for the page's script.
pub(super) async fn clusters(State(state): State<Shared>) -> Result<Response, ApiError> {
    let html = render::clusters(&views(&state)?, state.controller.clock().now());
    Ok(with_policy(Html(html.into_string()).into_response()))
}

/// `GET /ui/page.js`.
pub(super) async fn script() -> Response {
    with_policy(([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response())
}

/// `GET /ui/page.css`.
pub(super) async fn style() -> Response {
    with_policy(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response())
}

fn frame(token: bool, clusters: Option<Markup>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "etcd-warden" }
                link rel="stylesheet" href="/ui/page.css";
                script src="/ui/page.js" defer {}
            }
            body data-token=(if token { "required" } else { "none" }) {
                header {
                    h1 { "etcd-warden" }
                    p #live role="status" aria-live="polite" {
                        @if token { "Sign in to see the clusters." } @else { "Refreshes every 2 s while scripts run." }
                    }
                }
                @if token {
                    form #login {
                        p { "This daemon needs its API token (" code { "--token" } " or " code { "ETCD_WARDEN_TOKEN" } "). It is kept in this tab's session storage only." }
                        label for="token" { "Token" }
                        " "
                        input #token type="password" name="token" autocomplete="current-password" required;
                        " "
                        button type="submit" { "Sign in" }
                        p #login-error role="alert" {}
                    }
                    noscript { p { "With a token, this page needs scripts to send it: use " code { "etcd-warden status" } " instead." } }
                }
                main #clusters {
                    @if let Some(clusters) = clusters { (clusters) } @else { (PreEscaped("")) }
                }
            }
        }
    }
}
