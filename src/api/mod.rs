//! The daemon's HTTP API (loopback by default, optional bearer token).
//!
//! Every error is a JSON body `{"error": "<one sentence>"}` with a fitting status
//! code; a rejected request changes nothing. With a token, every route needs it but
//! `/healthz` and the status page's frame, script and style (`/`, which hold no data
//! then); bodies are limited to [`BODY_LIMIT`]; names in paths are parsed into
//! `ClusterName` (a DNS label) before anything touches the store.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

pub mod admission;
mod guard;
pub mod page;
#[cfg(test)]
mod tests;

pub use guard::BODY_LIMIT;

use crate::controller::{Controller, ControllerError};
use crate::domain::{ClusterName, Generation};
use crate::manifest::{self, DesiredCluster};
use crate::status::Phase;

/// An API error: a status code and one sentence.
#[derive(Debug)]
pub struct ApiError {
    code: StatusCode,
    message: String,
}

impl ApiError {
    fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<ControllerError> for ApiError {
    fn from(e: ControllerError) -> Self {
        use crate::backup::drill::DrillError;
        use crate::backup::run::BackupError;
        let code = match &e {
            ControllerError::Drill(DrillError::AlreadyRunning | DrillError::NoBackup(_)) => {
                StatusCode::CONFLICT
            }
            ControllerError::Drill(DrillError::NotConfigured(_)) => StatusCode::BAD_REQUEST,
            ControllerError::Drill(DrillError::NoSpace { .. }) => StatusCode::INSUFFICIENT_STORAGE,
            ControllerError::NotManaged(_) => StatusCode::NOT_FOUND,
            ControllerError::Backup(BackupError::AlreadyRunning(_)) => StatusCode::CONFLICT,
            ControllerError::Backup(BackupError::NotConfigured(_)) => StatusCode::BAD_REQUEST,
            ControllerError::Platform(crate::platform::PlatformError::Unsupported(_)) => {
                StatusCode::NOT_IMPLEMENTED
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// The answer to an apply.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// The cluster.
    pub name: ClusterName,
    /// Its generation after the apply.
    pub generation: Generation,
    /// Whether the desired state changed.
    pub changed: bool,
    /// Whether this was only a check.
    pub dry_run: bool,
}

/// One line of the cluster list.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
    /// The cluster.
    pub name: ClusterName,
    /// Its desired generation.
    pub generation: Generation,
    /// The phase, once observed.
    pub phase: Option<Phase>,
    /// Healthy members, once observed.
    pub healthy: Option<usize>,
    /// Desired members.
    pub desired: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplyQuery {
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Default, Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    purge: bool,
}

type Shared = Arc<ApiState>;

struct ApiState {
    controller: Controller,
    token: Option<String>,
}

/// The API's routes.
pub fn router(controller: Controller, token: Option<String>) -> Router {
    let state = Arc::new(ApiState { controller, token });
    let guarded = Router::new()
        .route("/v1/clusters", post(apply).get(list))
        .route("/v1/clusters/{name}", get(status).delete(delete))
        .route("/v1/clusters/{name}/status", get(status))
        .route("/v1/clusters/{name}/events", get(events))
        .route("/v1/clusters/{name}/plan", get(plan_stored))
        .route("/v1/clusters/{name}/backups", post(backup_now).get(backups))
        .route("/v1/clusters/{name}/restore", post(restore))
        .route("/v1/clusters/{name}/drills", post(drill_now))
        .route("/v1/plan", post(plan_manifest))
        .route("/metrics", get(metrics))
        .route("/ui/clusters", get(page::clusters))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::authorize));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        // The page's frame and its script and style hold no cluster's data when a token
        // is set: the clusters come from /ui/clusters, behind the token.
        .route("/", get(page::page))
        .route("/ui/page.js", get(page::script))
        .route("/ui/page.css", get(page::style))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(guard::json_errors))
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// Every request in a span of its own: method and path.
async fn request_span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    next.run(request).instrument(span).await
}

async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.controller.metrics().render(),
    )
}

fn rejected(rejection: JsonRejection) -> ApiError {
    guard::body_rejected(&rejection, "one EtcdCluster manifest as JSON")
}

fn cluster_name(raw: &str) -> Result<ClusterName, ApiError> {
    raw.parse().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cluster name {e}")))
}

fn validate(body: &serde_json::Value) -> Result<DesiredCluster, ApiError> {
    manifest::desired_from_json(body).map_err(|reason| ApiError::new(StatusCode::BAD_REQUEST, reason))
}

fn managed(state: &ApiState, name: &ClusterName) -> Result<(DesiredCluster, Generation), ApiError> {
    state.controller.desired(name)?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("cluster {name} is not managed by this daemon"))
    })
}

async fn apply(
    State(state): State<Shared>,
    Query(query): Query<ApplyQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<ApplyResponse>, ApiError> {
    let Json(body) = body.map_err(rejected)?;
    let desired = validate(&body)?;
    let name = desired.name.clone();
    let current = state.controller.desired(&name)?;
    let current = current.as_ref().map(|(d, g)| (d, *g));
    let store = state.controller.store();
    let applied =
        admission::apply(store, current, &desired, body, state.controller.clock().now(), query.dry_run);
    let admission::Applied { generation, changed } = match applied {
        Ok(applied) => applied,
        Err(admission::ApplyError::Refused(refusal)) => {
            if refusal.scale {
                state.controller.wake(&name).await;
            }
            return Err(ApiError::new(StatusCode::CONFLICT, refusal.message));
        }
        Err(admission::ApplyError::Store(e)) => return Err(ControllerError::from(e).into()),
    };
    if query.dry_run {
        return Ok(Json(ApplyResponse { name, generation, changed: false, dry_run: true }));
    }
    if changed {
        tracing::info!(cluster = %name, generation = generation.0, "desired state applied");
    }
    state.controller.wake(&name).await;
    Ok(Json(ApplyResponse { name, generation, changed, dry_run: false }))
}

async fn list(State(state): State<Shared>) -> Result<Json<Vec<ClusterSummary>>, ApiError> {
    let store = state.controller.store();
    let mut out = Vec::new();
    for name in store.clusters().map_err(ControllerError::from)? {
        let generation =
            store.desired(&name).map_err(ControllerError::from)?.map(|d| d.generation).unwrap_or_default();
        let status = store.status(&name).map_err(ControllerError::from)?;
        out.push(ClusterSummary {
            name,
            generation,
            phase: status.as_ref().map(|s| s.phase),
            healthy: status.as_ref().map(|s| s.members.iter().filter(|m| m.healthy).count()),
            desired: status.as_ref().map(|s| s.desired_members),
        });
    }
    Ok(Json(out))
}

async fn status(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    let (_, generation) = managed(&state, &name)?;
    match state.controller.store().status(&name).map_err(ControllerError::from)? {
        Some(status) => Ok(Json(status).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "cluster {name} has no status yet (generation {generation} was applied; the first pass is running)"
            ),
        )),
    }
}

async fn events(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    let events = state.controller.store().events(&name).map_err(ControllerError::from)?;
    if events.is_empty() && state.controller.desired(&name)?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("cluster {name} is not managed by this daemon"),
        ));
    }
    Ok(Json(events).into_response())
}

async fn plan_stored(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    let (desired, _) = managed(&state, &name)?;
    Ok(Json(state.controller.plan(&desired).await?).into_response())
}

async fn plan_manifest(
    State(state): State<Shared>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(rejected)?;
    let desired = validate(&body)?;
    Ok(Json(state.controller.plan(&desired).await?).into_response())
}

async fn delete(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    managed(&state, &name)?;
    state.controller.delete(&name, query.purge).await?;
    tracing::info!(cluster = %name, purge = query.purge, "cluster deleted");
    Ok(Json(serde_json::json!({ "name": name, "deleted": true, "purged": query.purge })).into_response())
}

async fn backup_now(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    managed(&state, &name)?;
    Ok(Json(state.controller.backup_now(&name).await?).into_response())
}

/// A restore drill now: its report (200 whether it passed or failed), or the reason it
/// could not run.
async fn drill_now(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    managed(&state, &name)?;
    Ok(Json(state.controller.drill_now(&name).await?).into_response())
}

async fn backups(State(state): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    managed(&state, &name)?;
    let records = state.controller.store().backups(&name).map_err(ControllerError::from)?;
    Ok(Json(records).into_response())
}

#[derive(Debug, Deserialize)]
struct RestoreRequest {
    /// A backup ID, or `latest`.
    from: String,
}

async fn restore(
    State(state): State<Shared>,
    Path(name): Path<String>,
    body: Result<Json<RestoreRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let name = cluster_name(&name)?;
    managed(&state, &name)?;
    let Json(request) = body.map_err(|e| guard::body_rejected(&e, "{\"from\": \"ID\" or \"latest\"}"))?;
    let from = match request.from.as_str() {
        "latest" => None,
        id => Some(id.parse().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("from: {e}")))?),
    };
    let report = state.controller.restore(&name, from).await?;
    Ok(Json(report).into_response())
}
