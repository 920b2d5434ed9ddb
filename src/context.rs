//! The one context a cluster's work runs with: a reconcile pass (observe, plan, act),
//! a backup, a restore. The controller makes it from the adapters it keeps for the
//! cluster (see `controller::Adapters`), once per pass or per backup; the layers below
//! read it and never build another.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::domain::ClusterName;
use crate::etcd::EtcdApi;
use crate::manifest::DesiredCluster;
use crate::metrics::Metrics;
use crate::model::Observed;
use crate::platform::{Platform, PlatformError};
use crate::store::Store;
use crate::store::atomic::ensure_private_dir;

/// Everything one piece of a cluster's work needs.
pub struct Context<'a, P> {
    /// The desired state: the cluster's name, its members, its backup policy.
    pub desired: &'a DesiredCluster,
    /// Where members run.
    pub platform: &'a P,
    /// etcd access (its connections are kept between passes).
    pub admin: &'a dyn EtcdApi,
    /// The state directory: history, status, events, the backup catalog's cache.
    pub store: &'a Store,
    /// Metrics.
    pub metrics: &'a Metrics,
    /// The cluster's backup lock: backups never overlap (a backup before a scale-up
    /// takes it too).
    pub backup_lock: Arc<Mutex<()>>,
    /// The clock failure windows are measured with.
    pub clock: Clock,
    /// A longer gap between two observations starts every failure window again.
    pub max_gap: Duration,
    /// When the work began (a pass's start), on `clock`.
    pub now: Timestamp,
    /// The same moment on the monotonic clock: `now` plus its elapsed time is when a
    /// long step ended.
    pub started: tokio::time::Instant,
}

impl<P> Context<'_, P> {
    /// The cluster.
    pub fn name(&self) -> &ClusterName {
        &self.desired.name
    }

    /// Where snapshots taken before replacements and survivors' copies are kept.
    pub fn snapshots(&self) -> PathBuf {
        self.store.cluster_dir(self.name()).join("snapshots")
    }

    /// A path for a temporary snapshot file of this cluster, in its private `tmp/`
    /// directory under the state directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn temp_file(&self, purpose: &str) -> std::io::Result<PathBuf> {
        let dir = self.store.cluster_dir(self.name()).join("tmp");
        ensure_private_dir(&dir)?;
        Ok(dir.join(format!("{purpose}-{}.db", self.clock.now().as_millisecond())))
    }
}

impl<P: Platform> Context<'_, P> {
    /// Observes the cluster as a pass does: the answers of another etcd cluster than
    /// the one last seen with a quorum are set aside.
    ///
    /// # Errors
    /// When the platform cannot be observed.
    pub async fn observe(&self, at: Timestamp) -> Result<Observed, PlatformError> {
        let last_seen = match self.store.history(self.name()) {
            Ok(history) => history.seen.lineage.current(),
            Err(e) => {
                tracing::warn!(error = %e, "history unreadable: the cluster answering at the most slots is taken");
                None
            }
        };
        let latency =
            self.metrics.platform_latency.get_or_create(&Metrics::cluster(self.name().as_str())).clone();
        crate::observe::observe(self.platform, self.admin, at, last_seen, &latency).await
    }
}
