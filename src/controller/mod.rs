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

use crate::domain::{ClusterName, Generation};
use crate::etcd::{ClientTls, EtcdAdmin};
use crate::manifest::desired::{DcosSpec, EtcdAccess, LocalSpec, LocalTlsSpec};
use crate::manifest::{self, DesiredCluster, PlatformSpec};
use crate::metrics::Metrics;
use crate::model::platform::PlatformObservation;
use crate::plan::Plan;
use crate::platform::dcos::DcosPlatform;
use crate::platform::local::LocalPlatform;
use crate::platform::local::tls::Pki;
use crate::platform::{AnyPlatform, Platform, PlatformError};
use crate::reconcile::{
    Clock, ErrorKind, PassContext, PassMemory, PassReport, ReconcileError, dry_run, reconcile,
};
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
}

/// A DC/OS platform and the settings it was made from.
type CachedDcos = (DcosSpec, EtcdAccess, Arc<DcosPlatform>);

struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    config: ControllerConfig,
    /// One DC/OS platform per cluster, kept between passes for its login; made again
    /// when the manifest's DC/OS settings change.
    dcos: std::sync::Mutex<HashMap<ClusterName, CachedDcos>>,
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
            // A CA or TLS file may appear (a secret mounted late): try again.
            Self::Platform(_) | Self::Tls(_) => ErrorKind::Transient,
            Self::Reconcile(e) => e.kind(),
            Self::Store(e) if e.is_corrupt() => ErrorKind::Permanent,
            Self::Store(_) | Self::Backup(_) | Self::Restore(_) | Self::Drill(_) => ErrorKind::Transient,
        }
    }
}

impl Controller {
    /// A controller over `store`; no worker runs until [`Controller::start`].
    pub fn new(store: Store, metrics: Arc<Metrics>, config: ControllerConfig) -> Self {
        let inner = Inner {
            store,
            metrics,
            config,
            dcos: std::sync::Mutex::new(HashMap::new()),
            clock: Clock::start(),
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
    /// `spec.etcd.tls`, else with `spec.platform.local.tls: auto` the client certificate
    /// etcd-warden generated for itself (generated now if there is none yet, unless
    /// `certificates` says a dry run).
    fn clients(
        &self,
        desired: &DesiredCluster,
        certificates: Certificates,
    ) -> Result<(AnyPlatform, EtcdAdmin), ControllerError> {
        let files = match (&desired.etcd.tls, &desired.platform) {
            (Some(files), _) => Some(files.clone()),
            (None, PlatformSpec::Local(LocalSpec { tls: Some(LocalTlsSpec::Auto), .. })) => {
                let pki = Pki::new(&self.inner.store.platform_dir(&desired.name));
                match certificates {
                    Certificates::Generate => Some(pki.ensure_authority().map_err(PlatformError::from)?),
                    Certificates::Existing => pki.existing_authority().map_err(PlatformError::from)?,
                }
            }
            (None, _) => None,
        };
        let tls = files.as_ref().map(ClientTls::load).transpose()?;
        Ok((self.platform(desired)?, EtcdAdmin::with_tls(tls)))
    }

    /// The platform the cluster's manifest names.
    fn platform(&self, desired: &DesiredCluster) -> Result<AnyPlatform, ControllerError> {
        Ok(match &desired.platform {
            PlatformSpec::Local(spec) => AnyPlatform::Local(Box::new(
                LocalPlatform::new(self.inner.store.platform_dir(&desired.name), spec.clone())
                    .with_quota_backend_bytes(desired.maintenance.quota_backend_bytes),
            )),
            PlatformSpec::Dcos(spec) => AnyPlatform::Dcos(self.dcos(desired, spec)?),
        })
    }

    /// Resolves when the platform reports that something in `observation` changed by
    /// itself (a member process exited); never, when it cannot tell.
    async fn platform_changed(&self, desired: &DesiredCluster, observation: &PlatformObservation) {
        match self.platform(desired) {
            Ok(platform) => platform.changed(observation).await,
            Err(_) => std::future::pending().await,
        }
    }

    fn dcos(&self, desired: &DesiredCluster, spec: &DcosSpec) -> Result<Arc<DcosPlatform>, ControllerError> {
        let mut cache = match self.inner.dcos.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        let etcd = &desired.etcd;
        if let Some((s, e, platform)) = cache.get(&desired.name)
            && s == spec
            && e == etcd
        {
            return Ok(platform.clone());
        }
        let platform = Arc::new(DcosPlatform::new(spec, etcd)?);
        cache.insert(desired.name.clone(), (spec.clone(), etcd.clone(), platform.clone()));
        Ok(platform)
    }

    fn context<'a, P: Platform>(
        &'a self,
        platform: &'a P,
        admin: &'a EtcdAdmin,
        desired: &DesiredCluster,
    ) -> PassContext<'a, P> {
        PassContext {
            platform,
            admin,
            store: &self.inner.store,
            metrics: &self.inner.metrics,
            backup_lock: self.backup_lock(&desired.name),
            clock: self.inner.clock,
            // A few resync intervals without an observation: windows start again.
            max_gap: (self.inner.config.resync * 5).max(Duration::from_secs(15)),
        }
    }

    /// The plan the next pass would follow, changing nothing.
    ///
    /// # Errors
    /// When the platform cannot be observed.
    pub async fn plan(&self, desired: &DesiredCluster) -> Result<Plan, ControllerError> {
        let (platform, admin) = self.clients(desired, Certificates::Existing)?;
        Ok(dry_run(&self.context(&platform, &admin, desired), desired).await?)
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
        Ok(reconcile(&self.context(&platform, &admin, desired), desired, generation, memory).await?)
    }

    /// Stops every member of the cluster; with `purge`, removes all its files too.
    ///
    /// # Errors
    /// When a member cannot be stopped or the files cannot be removed.
    pub async fn delete(&self, name: &ClusterName, purge: bool) -> Result<(), ControllerError> {
        self.stop(name).await;
        // On DC/OS the service runs on: the controller only stops watching it.
        if let Some((desired, _)) = self.desired(name)?
            && let Ok((platform @ AnyPlatform::Local(_), _)) = self.clients(&desired, Certificates::Existing)
        {
            let observed = platform.observe().await.map_err(ReconcileError::from)?;
            for task in observed.tasks {
                platform.ensure_stopped(task.pod).await.map_err(ReconcileError::from)?;
            }
        }
        self.inner.store.remove(name, purge)?;
        Ok(())
    }
}
