//! Backups: etcd snapshots streamed to files, verified by their hashes, stored at a
//! destination with a catalog record each (the records and the catalog's rules are
//! values, in `model::catalog`); retention; restore.

pub mod adopt;
pub mod bbolt;
pub mod data_dirs;
pub mod destination;
pub mod drill;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod scratch;
pub mod snapshot;
pub mod tool;
pub mod wal;

use jiff::Timestamp;

use crate::etcd::EtcdApi;
use crate::manifest::DesiredCluster;
use crate::store::Store;
use crate::store::atomic::ensure_private_dir;
use run::BackupError;

/// The parts of one cluster that a backup or a restore works with.
pub struct ClusterAccess<'a, P> {
    /// Where members run.
    pub platform: &'a P,
    /// etcd access.
    pub admin: &'a dyn EtcdApi,
    /// The state directory (catalog cache, temporary files).
    pub store: &'a Store,
    /// The desired state, with its backup policy.
    pub desired: &'a DesiredCluster,
}

impl<P: crate::platform::Platform> ClusterAccess<'_, P> {
    /// Observes the cluster as a pass does: the answers of another etcd cluster than
    /// the one last seen with a quorum are set aside.
    ///
    /// # Errors
    /// When the platform cannot be observed.
    pub async fn observe(
        &self,
        at: Timestamp,
    ) -> Result<crate::model::Observed, crate::platform::PlatformError> {
        let last_seen = match self.store.history(&self.desired.name) {
            Ok(history) => history.seen.lineage.current(),
            Err(e) => {
                tracing::warn!(error = %e, "history unreadable: the cluster answering at the most slots is taken");
                None
            }
        };
        crate::observe::observe(self.platform, self.admin, at, last_seen).await
    }
}

impl<P> ClusterAccess<'_, P> {
    /// A path for a temporary snapshot file of this cluster, in its private `tmp/`
    /// directory under the state directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn temp_file(&self, purpose: &str) -> Result<std::path::PathBuf, BackupError> {
        let dir = self.store.cluster_dir(&self.desired.name).join("tmp");
        ensure_private_dir(&dir).map_err(BackupError::Temp)?;
        Ok(dir.join(format!("{purpose}-{}.db", Timestamp::now().as_millisecond())))
    }
}
