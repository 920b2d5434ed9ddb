//! The HTTP client of the daemon's API, used by the client commands and the tests.

use serde::de::DeserializeOwned;

use crate::api::{ApplyResponse, ClusterSummary};
use crate::event::Event;
use crate::model::catalog::BackupRecord;
use crate::model::drill::DrillReport;
use crate::status::ClusterStatus;

/// Why a request failed: one sentence for stderr.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon could not be reached.
    #[error("cannot reach the etcd-warden daemon at {server} (is `etcd-warden run` running?): {source}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(String),
    /// The daemon answered something unexpected.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

/// A client of the daemon.
#[derive(Debug, Clone)]
pub struct ApiClient {
    server: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the daemon at `server`.
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self { server: server.trim_end_matches('/').to_owned(), token, http: reqwest::Client::new() }
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable { server: self.server.clone(), source })?;
        let code = response.status();
        let body = response.bytes().await.map_err(|e| ClientError::Protocol(e.to_string()))?;
        if !code.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("the daemon answered {code}"));
            return Err(ClientError::Refused(message));
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Applies one manifest document (as JSON).
    ///
    /// # Errors
    /// When the daemon is unreachable or refuses the manifest.
    pub async fn apply(
        &self,
        manifest: &serde_json::Value,
        dry_run: bool,
    ) -> Result<ApplyResponse, ClientError> {
        let url = self.url(&format!("/v1/clusters?dryRun={dry_run}"));
        self.send(self.http.post(url).json(manifest)).await
    }

    /// Every managed cluster.
    ///
    /// # Errors
    /// When the daemon is unreachable.
    pub async fn list(&self) -> Result<Vec<ClusterSummary>, ClientError> {
        self.send(self.http.get(self.url("/v1/clusters"))).await
    }

    /// One cluster's status.
    ///
    /// # Errors
    /// When the daemon is unreachable or does not know the cluster.
    pub async fn status(&self, name: &str) -> Result<ClusterStatus, ClientError> {
        self.send(self.http.get(self.url(&format!("/v1/clusters/{name}/status")))).await
    }

    /// One cluster's events, oldest first.
    ///
    /// # Errors
    /// When the daemon is unreachable or does not know the cluster.
    pub async fn events(&self, name: &str) -> Result<Vec<Event>, ClientError> {
        self.send(self.http.get(self.url(&format!("/v1/clusters/{name}/events")))).await
    }

    /// The next pass's plan for a managed cluster.
    ///
    /// # Errors
    /// When the daemon is unreachable or does not know the cluster.
    pub async fn plan(&self, name: &str) -> Result<serde_json::Value, ClientError> {
        self.send(self.http.get(self.url(&format!("/v1/clusters/{name}/plan")))).await
    }

    /// The plan for a manifest that is not applied.
    ///
    /// # Errors
    /// When the daemon is unreachable or refuses the manifest.
    pub async fn plan_manifest(
        &self,
        manifest: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.send(self.http.post(self.url("/v1/plan")).json(manifest)).await
    }

    /// Takes a backup now and returns its record.
    ///
    /// # Errors
    /// When the daemon is unreachable, refuses, or the backup fails.
    pub async fn backup(&self, name: &str) -> Result<BackupRecord, ClientError> {
        self.send(self.http.post(self.url(&format!("/v1/clusters/{name}/backups")))).await
    }

    /// Runs a restore drill of the newest verified backup now and returns its report,
    /// passed or failed.
    ///
    /// # Errors
    /// When the daemon is unreachable or the drill cannot run (another drill runs, no
    /// verified backup, not enough disk space).
    pub async fn drill(&self, name: &str) -> Result<DrillReport, ClientError> {
        self.send(self.http.post(self.url(&format!("/v1/clusters/{name}/drills")))).await
    }

    /// The backup catalog of a cluster, oldest first.
    ///
    /// # Errors
    /// When the daemon is unreachable or does not know the cluster.
    pub async fn backups(&self, name: &str) -> Result<Vec<BackupRecord>, ClientError> {
        self.send(self.http.get(self.url(&format!("/v1/clusters/{name}/backups")))).await
    }

    /// Restores every member from a backup (`latest` or an ID).
    ///
    /// # Errors
    /// When the daemon is unreachable, refuses, or the restore fails.
    pub async fn restore(&self, name: &str, from: &str) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({ "from": from });
        self.send(self.http.post(self.url(&format!("/v1/clusters/{name}/restore"))).json(&body)).await
    }

    /// Deletes a cluster.
    ///
    /// # Errors
    /// When the daemon is unreachable or does not know the cluster.
    pub async fn delete(&self, name: &str, purge: bool) -> Result<serde_json::Value, ClientError> {
        self.send(self.http.delete(self.url(&format!("/v1/clusters/{name}?purge={purge}")))).await
    }
}
