//! `etcd-warden run`: the daemon.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
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
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {address}: it is not a loopback address and no token is set (set ETCD_WARDEN_TOKEN or --token, or listen on 127.0.0.1)"
    )]
    Exposed {
        /// The address.
        address: SocketAddr,
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
    let token = token.filter(|t| !t.is_empty());
    let store = Store::open(&args.state_dir)?;
    let clock = Clock::start();
    for file in &args.files {
        let docs = manifest::load_file(file).map_err(|e| DaemonError::Manifest(e.to_string()))?;
        for doc in docs {
            let value =
                serde_json::to_value(&doc.manifest).map_err(|e| DaemonError::Manifest(e.to_string()))?;
            // The same admission as `apply` through the API: a refused change stops the
            // start, naming the field, and nothing is stored.
            let name = &doc.desired.name;
            let stored = store.desired(name)?;
            let current = match &stored {
                Some(s) => Some((
                    manifest::desired_from_json(&s.manifest).map_err(|reason| {
                        DaemonError::Manifest(format!(
                            "the stored desired state of {name} is invalid: {reason}"
                        ))
                    })?,
                    s.generation,
                )),
                None => None,
            };
            let current = current.as_ref().map(|(d, g)| (d, *g));
            let applied =
                crate::api::admission::apply(&store, current, &doc.desired, value, clock.now(), false)
                    .map_err(|e| DaemonError::Manifest(format!("{}: {e}", file.display())))?;
            tracing::info!(cluster = %name, generation = applied.generation.0, changed = applied.changed, "applied start-up manifest");
        }
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|source| DaemonError::Listen { address: args.listen.clone(), source })?;
    let address = listener
        .local_addr()
        .map_err(|source| DaemonError::Listen { address: args.listen.clone(), source })?;
    exposure_allowed(address, token.as_deref())?;
    let metrics = Arc::new(Metrics::default());
    let controller = Controller::new(store, metrics, ControllerConfig { resync: args.resync, clock });
    controller.start().await?;
    let app = crate::api::router(controller.clone(), token);
    tracing::info!(listen = %args.listen, state_dir = %args.state_dir.display(), "etcd-warden daemon serving");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    controller.shutdown().await;
    tracing::info!("etcd-warden daemon stopped; members keep running");
    served.map_err(DaemonError::Serve)
}

/// Whether the API may listen on `address`: loopback always, anything else only with
/// a token.
///
/// # Errors
/// [`DaemonError::Exposed`] for a non-loopback address (including `0.0.0.0`) without
/// a token.
pub fn exposure_allowed(address: SocketAddr, token: Option<&str>) -> Result<(), DaemonError> {
    if address.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(DaemonError::Exposed { address })
    }
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

#[cfg(test)]
mod tests {
    use super::{DaemonError, exposure_allowed};

    #[test]
    fn the_api_listens_beyond_loopback_only_with_a_token() {
        let at = |a: &str| a.parse().expect("a socket address");
        assert!(exposure_allowed(at("127.0.0.1:7379"), None).is_ok());
        assert!(exposure_allowed(at("[::1]:7379"), None).is_ok());
        for exposed in ["0.0.0.0:7379", "10.0.0.5:7379", "[::]:7379"] {
            let refused = exposure_allowed(at(exposed), None).expect_err(exposed);
            assert!(matches!(refused, DaemonError::Exposed { .. }));
            assert!(refused.to_string().contains("no token is set"), "{refused}");
            assert!(exposure_allowed(at(exposed), Some("")).is_err(), "an empty token is no token");
            assert!(exposure_allowed(at(exposed), Some("t0ken")).is_ok(), "{exposed} with a token");
        }
    }
}
