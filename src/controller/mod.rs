//! The controller: one worker per cluster, each running reconcile passes in a loop.
//!
//! A worker wakes on its resync interval, at the end of a rule's window, or when the
//! desired state changes; a failed pass is retried with `backon` exponential backoff
//! (per cluster, reset on success). Workers stop between passes, never inside one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

mod backups;
mod drills;
mod worker;

use crate::clock::Clock;
use crate::context::Context;
use crate::domain::{ClusterName, Generation};
use crate::etcd::{ClientTls, EtcdAdmin};
use crate::manifest::desired::EtcdAccess;
use crate::manifest::{self, DesiredCluster, PlatformSpec};
use crate::metrics::Metrics;
use crate::model::platform::PlatformObservation;
use crate::plan::Plan;
use crate::platform::{AnyPlatform, Platform, PlatformError};
use crate::reconcile::{PassMemory, PassReport, ReconcileError, dry_run, reconcile};
use crate::retry::ErrorKind;
use crate::store::{Store, StoreError};

/// Why the controller could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored manifest no longer validates.
    #[error("the stored desired state of {name} is invalid: {reason}")]
    InvalidStored {
        /// The cluster.
        name: ClusterName,
        /// What is wrong.
        reason: String,
    },
    /// A pass failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The cluster is not managed by this daemon.
    #[error("cluster {0} is not managed by this daemon")]
    NotManaged(ClusterName),
    /// A backup failed or was refused.
    #[error(transparent)]
    Backup(#[from] crate::backup::run::BackupError),
    /// A restore failed.
    #[error(transparent)]
    Restore(#[from] crate::backup::restore::RestoreClusterError),
    /// A restore drill could not run.
    #[error(transparent)]
    Drill(#[from] crate::backup::drill::DrillError),
    /// The platform cannot be set up from the manifest (an unreadable CA file).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The etcd client TLS files cannot be read.
    #[error(transparent)]
    Tls(#[from] crate::etcd::TlsFileError),
}

/// Whether building the clients may generate the certificates of `tls: auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certificates {
    /// Generate them if there are none yet (a pass, a backup, a restore).
    Generate,
    /// Use them only if they exist (a dry run changes nothing).
    Existing,
}

struct Worker {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// How long a shutdown waits for the workers' current passes.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How often a healthy cluster is looked at.
    pub resync: Duration,
    /// The clock every decision and record is dated by.
    pub clock: Clock,
}

/// What a cluster's platform is made from: the manifest's platform and etcd settings
/// and its quota.
type MadeFrom = (PlatformSpec, EtcdAccess, Option<u64>);

fn made_from(desired: &DesiredCluster) -> MadeFrom {
    (desired.platform.clone(), desired.etcd.clone(), desired.maintenance.quota_backend_bytes)
}

/// The adapters kept for `desired`'s cluster, if they were made from its settings as
/// they are now.
fn kept_for<'a>(kept: &'a HashMap<ClusterName, Adapters>, desired: &DesiredCluster) -> Option<&'a Adapters> {
    kept.get(&desired.name).filter(|a| a.made_from == made_from(desired))
}

/// One cluster's adapters, made from its manifest and kept between passes: the
/// platform (its launch lock, its DC/OS login) and the etcd admin (its open
/// connections, one per member; made again when the client TLS files change).
struct Adapters {
    /// What the platform was made from: both are made again when it changes.
    made_from: MadeFrom,
    platform: Arc<AnyPlatform>,
    admin: EtcdAdmin,
}

struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    config: ControllerConfig,
    /// Each cluster's adapters, kept between passes.
    adapters: std::sync::Mutex<HashMap<ClusterName, Adapters>>,
    workers: Mutex<HashMap<ClusterName, Worker>>,
    /// The clock failure windows are measured with.
    clock: Clock,
    /// One lock per cluster: backups never overlap.
    backup_locks: std::sync::Mutex<HashMap<ClusterName, Arc<Mutex<()>>>>,
    /// One restore drill at a time in this daemon, whatever the cluster: each one
    /// takes disk space and starts an etcd.
    drill_lock: Arc<Mutex<()>>,
}

/// The controller. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

impl ControllerError {
    /// Whether a retry can help: an invalid stored manifest or an unsupported platform
    /// stays so until the desired state changes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidStored { .. } | Self::NotManaged(_) => ErrorKind::Permanent,
            Self::Platform(e) => e.retry(),
            // A TLS file may appear (a secret mounted late): try again.
            Self::Tls(_) => ErrorKind::Transient,
            Self::Reconcile(e) => e.kind(),
            Self::Store(e) => e.retry(),
            Self::Backup(e) => e.retry(),
            Self::Restore(_) | Self::Drill(_) => ErrorKind::Transient,
        }
    }
}

impl Controller {
    /// A controller over `store`; no worker runs until [`Controller::start`].
    pub fn new(store: Store, metrics: Arc<Metrics>, config: ControllerConfig) -> Self {
        let inner = Inner {
            store,
            metrics,
            clock: config.clock,
            config,
            adapters: std::sync::Mutex::new(HashMap::new()),
            workers: Mutex::new(HashMap::new()),
            backup_locks: std::sync::Mutex::new(HashMap::new()),
            drill_lock: Arc::new(Mutex::new(())),
        };
        Self { inner: Arc::new(inner) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The clock every decision and record is dated by.
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Starts a worker for every cluster in the store.
    ///
    /// # Errors
    /// When the store cannot be listed.
    pub async fn start(&self) -> Result<(), ControllerError> {
        for name in self.inner.store.clusters()? {
            self.wake(&name).await;
        }
        Ok(())
    }

    /// Wakes the cluster's worker, starting one if none runs.
    pub async fn wake(&self, name: &ClusterName) {
        let mut workers = self.inner.workers.lock().await;
        if let Some(worker) = workers.get(name).filter(|w| !w.handle.is_finished()) {
            worker.wake.notify_one();
            return;
        }
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn(worker::run(self.clone(), name.clone(), wake.clone(), stop.clone()));
        workers.insert(name.clone(), Worker { wake, stop, handle });
    }

    /// Stops the cluster's worker after its current pass.
    pub async fn stop(&self, name: &ClusterName) {
        let worker = self.inner.workers.lock().await.remove(name);
        if let Some(worker) = worker {
            worker.stop.store(true, Ordering::SeqCst);
            worker.wake.notify_one();
            if let Err(error) = worker.handle.await {
                tracing::warn!(cluster = %name, %error, "worker ended abnormally");
            }
        }
    }

    /// Stops every worker after its current pass, all at once, waiting at most
    /// [`SHUTDOWN_DEADLINE`]: a pass still running then (a restore step can take
    /// minutes) ends with the process, and its next start resumes from the history,
    /// as after a crash.
    pub async fn shutdown(&self) {
        let workers: Vec<(ClusterName, Worker)> = self.inner.workers.lock().await.drain().collect();
        for (_, worker) in &workers {
            worker.stop.store(true, Ordering::SeqCst);
            worker.wake.notify_one();
        }
        let ended = workers.into_iter().map(|(name, worker)| async move { (name, worker.handle.await) });
        match tokio::time::timeout(SHUTDOWN_DEADLINE, futures::future::join_all(ended)).await {
            Ok(results) => {
                for (name, result) in results {
                    if let Err(error) = result {
                        tracing::warn!(cluster = %name, %error, "worker ended abnormally");
                    }
                }
            }
            Err(_) => {
                tracing::warn!(
                    deadline = ?SHUTDOWN_DEADLINE,
                    "workers still in a pass at the shutdown deadline: they end with the process and resume from the history at the next start"
                );
            }
        }
    }

    /// The stored desired state, validated again.
    ///
    /// # Errors
    /// When it cannot be read or no longer validates.
    pub fn desired(
        &self,
        name: &ClusterName,
    ) -> Result<Option<(DesiredCluster, Generation)>, ControllerError> {
        let Some(stored) = self.inner.store.desired(name)? else {
            return Ok(None);
        };
        let desired = manifest::desired_from_json(&stored.manifest)
            .map_err(|reason| ControllerError::InvalidStored { name: name.clone(), reason })?;
        Ok(Some((desired, stored.generation)))
    }

    /// The cluster's platform and an etcd admin with its client TLS files, read now:
    /// `spec.etcd.tls`, else the client certificate the platform made (the local
    /// platform's `tls: auto`; generated now if there is none yet, unless
    /// `certificates` says a dry run). The platform is the one kept for the cluster
    /// while the manifest's platform and etcd settings and its quota stay the same,
    /// the admin while the TLS files do too; a dry run of other settings gets its own
    /// and keeps nothing.
    fn clients(
        &self,
        desired: &DesiredCluster,
        certificates: Certificates,
    ) -> Result<(Arc<AnyPlatform>, EtcdAdmin), ControllerError> {
        let mut kept = self.inner.adapters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = kept_for(&kept, desired);
        let platform = match same {
            Some(adapters) => adapters.platform.clone(),
            None => self.make_platform(desired)?,
        };
        let files = match &desired.etcd.tls {
            Some(files) => Some(files.clone()),
            None => platform.client_tls_files(certificates == Certificates::Generate)?,
        };
        let tls = files.as_ref().map(ClientTls::load).transpose()?;
        let admin = match same.filter(|a| a.admin.client_tls() == tls.as_ref()) {
            Some(adapters) => adapters.admin.clone(),
            None => EtcdAdmin::with_tls(tls),
        };
        if same.is_some() || certificates == Certificates::Generate {
            let adapters =
                Adapters { made_from: made_from(desired), platform: platform.clone(), admin: admin.clone() };
            kept.insert(desired.name.clone(), adapters);
        }
        Ok((platform, admin))
    }

    fn make_platform(&self, desired: &DesiredCluster) -> Result<Arc<AnyPlatform>, PlatformError> {
        Ok(Arc::new(AnyPlatform::for_cluster(desired, self.inner.store.platform_dir(&desired.name))?))
    }

    /// Resolves when the platform reports that something in `observation` changed by
    /// itself (a member process exited); never, when it cannot tell. Watched on the
    /// kept platform (made now only when the settings changed since the last pass),
    /// without the etcd admin and its TLS files, which a watch does not need.
    async fn platform_changed(&self, desired: &DesiredCluster, observation: &PlatformObservation) {
        let kept = {
            let adapters = self.inner.adapters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            kept_for(&adapters, desired).map(|a| a.platform.clone())
        };
        match kept.map_or_else(|| self.make_platform(desired), Ok) {
            Ok(platform) => platform.changed(observation).await,
            Err(_) => std::future::pending().await,
        }
    }

    /// The context of one piece of the cluster's work (a pass, a backup, a restore),
    /// beginning now.
    fn context<'a, P: Platform>(
        &'a self,
        desired: &'a DesiredCluster,
        platform: &'a P,
        admin: &'a EtcdAdmin,
    ) -> Context<'a, P> {
        Context {
            desired,
            platform,
            admin,
            store: &self.inner.store,
            metrics: &self.inner.metrics,
            backup_lock: self.backup_lock(&desired.name),
            clock: self.inner.clock,
            // A few resync intervals without an observation: windows start again.
            max_gap: (self.inner.config.resync * 5).max(Duration::from_secs(15)),
            now: self.inner.clock.now(),
            started: tokio::time::Instant::now(),
        }
    }

    /// The plan the next pass would follow, changing nothing.
    ///
    /// # Errors
    /// When the platform cannot be observed.
    pub async fn plan(&self, desired: &DesiredCluster) -> Result<Plan, ControllerError> {
        let (platform, admin) = self.clients(desired, Certificates::Existing)?;
        Ok(dry_run(&self.context(desired, platform.as_ref(), &admin)).await?)
    }

    async fn pass(
        &self,
        desired: &DesiredCluster,
        generation: Generation,
        memory: &mut PassMemory,
    ) -> Result<PassReport, ControllerError> {
        if !memory.passed {
            self.remove_stale_staging(desired).await;
            self.adopt_catalog(desired).await;
        }
        let (platform, admin) = self.clients(desired, Certificates::Generate)?;
        Ok(reconcile(&self.context(desired, platform.as_ref(), &admin), generation, memory).await?)
    }

    /// Stops every member of the cluster; with `purge`, removes all its files too.
    ///
    /// # Errors
    /// When a member cannot be stopped or the files cannot be removed.
    pub async fn delete(&self, name: &ClusterName, purge: bool) -> Result<(), ControllerError> {
        self.stop(name).await;
        // Where the platform runs the members itself (DC/OS), the service runs on: the
        // controller only stops watching it.
        if let Some((desired, _)) = self.desired(name)?
            && let Ok((platform, _)) = self.clients(&desired, Certificates::Existing)
            && platform.capabilities().bootstrap
        {
            let observed = platform.observe().await.map_err(ReconcileError::from)?;
            for task in observed.tasks {
                platform.ensure_stopped(task.pod).await.map_err(ReconcileError::from)?;
            }
        }
        self.inner.adapters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        self.inner.store.remove(name, purge)?;
        self.metrics().forget_cluster(name.as_str());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::MemberCount;
    use crate::testing::world::desired;

    #[test]
    fn a_clusters_adapters_are_kept_between_passes_and_made_again_when_their_settings_change() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let config = ControllerConfig { resync: Duration::from_secs(10), clock: Clock::start() };
        let controller = Controller::new(store, Arc::new(Metrics::default()), config);
        let three = desired(MemberCount::Three);
        let (first, admin) = controller.clients(&three, Certificates::Generate).expect("clients");
        let (again, _) = controller.clients(&three, Certificates::Generate).expect("clients");
        assert!(Arc::ptr_eq(&first, &again), "one platform (one launch lock) across passes");
        let (dry, _) = controller.clients(&three, Certificates::Existing).expect("clients");
        assert!(Arc::ptr_eq(&first, &dry), "a dry run of the same settings uses them too");

        let mut quota = three.clone();
        quota.maintenance.quota_backend_bytes = Some(1 << 30);
        let (dry, _) = controller.clients(&quota, Certificates::Existing).expect("clients");
        assert!(!Arc::ptr_eq(&first, &dry), "other settings: other adapters");
        let (kept, _) = controller.clients(&three, Certificates::Generate).expect("clients");
        assert!(Arc::ptr_eq(&first, &kept), "a dry run of other settings keeps nothing");
        let (changed, other_admin) = controller.clients(&quota, Certificates::Generate).expect("clients");
        assert!(!Arc::ptr_eq(&first, &changed), "a pass of the new settings makes them again");
        let (kept, _) = controller.clients(&quota, Certificates::Generate).expect("clients");
        assert!(Arc::ptr_eq(&changed, &kept), "and keeps them");
        assert_eq!((admin.connections_made(), other_admin.connections_made()), (0, 0));
    }
}
