//! `etcd-warden run`: the daemon.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::net::TcpListener;

use super::RunArgs;
use crate::controller::{Controller, ControllerConfig};
use crate::manifest;
use crate::metrics::Metrics;
use crate::store::Store;

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory is unusable.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A start-up manifest is invalid.
    #[error("{0}")]
    Manifest(String),
    /// The API address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// The controller failed to start.
    #[error(transparent)]
    Controller(#[from] crate::controller::ControllerError),
    /// The server failed.
    #[error("the API server failed: {0}")]
    Serve(std::io::Error),
}

/// Runs the daemon until SIGINT or SIGTERM.
///
/// # Errors
/// When it cannot start; once serving, only a server failure ends it with an error.
pub async fn run(args: RunArgs, token: Option<String>) -> Result<(), DaemonError> {
    let store = Store::open(&args.state_dir)?;
    for file in &args.files {
        let docs = manifest::load_file(file).map_err(|e| DaemonError::Manifest(e.to_string()))?;
        for doc in docs {
            let value =
                serde_json::to_value(&doc.manifest).map_err(|e| DaemonError::Manifest(e.to_string()))?;
            let (generation, changed) = store.put_desired(&doc.desired.name, value, Timestamp::now())?;
            tracing::info!(cluster = %doc.desired.name, generation = generation.0, changed, "applied start-up manifest");
        }
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|source| DaemonError::Listen { address: args.listen.clone(), source })?;
    let metrics = Arc::new(Metrics::default());
    let controller = Controller::new(store, metrics, ControllerConfig { resync: args.resync });
    controller.start().await?;
    let app = crate::api::router(controller.clone(), token);
    tracing::info!(listen = %args.listen, state_dir = %args.state_dir.display(), "etcd-warden daemon serving");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    controller.shutdown().await;
    tracing::info!("etcd-warden daemon stopped; members keep running");
    served.map_err(DaemonError::Serve)
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
