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
mod worker;

use crate::domain::{ClusterName, Generation};
use crate::etcd::EtcdAdmin;
use crate::manifest::{self, DesiredCluster, PlatformSpec};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::platform::Platform;
use crate::platform::local::LocalPlatform;
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
    /// The platform is not available in this build.
    #[error("the {0} platform is not supported yet")]
    Unsupported(&'static str),
}

struct Worker {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How often a healthy cluster is looked at.
    pub resync: Duration,
}

struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    admin: EtcdAdmin,
    config: ControllerConfig,
    workers: Mutex<HashMap<ClusterName, Worker>>,
    /// The clock failure windows are measured with.
    clock: Clock,
    /// One lock per cluster: backups never overlap.
    backup_locks: std::sync::Mutex<HashMap<ClusterName, Arc<Mutex<()>>>>,
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
            Self::InvalidStored { .. } | Self::Unsupported(_) | Self::NotManaged(_) => ErrorKind::Permanent,
            Self::Reconcile(e) => e.kind(),
            Self::Store(e) if e.is_corrupt() => ErrorKind::Permanent,
            Self::Store(_) | Self::Backup(_) | Self::Restore(_) => ErrorKind::Transient,
        }
    }
}

impl Controller {
    /// A controller over `store`; no worker runs until [`Controller::start`].
    pub fn new(store: Store, metrics: Arc<Metrics>, config: ControllerConfig) -> Self {
        let inner = Inner {
            store,
            metrics,
            admin: EtcdAdmin::new(),
            config,
            clock: Clock::start(),
            workers: Mutex::new(HashMap::new()),
            backup_locks: std::sync::Mutex::new(HashMap::new()),
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

    /// Stops every worker after its current pass.
    pub async fn shutdown(&self) {
        let names: Vec<ClusterName> = self.inner.workers.lock().await.keys().cloned().collect();
        for name in names {
            self.stop(&name).await;
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

    fn local(&self, desired: &DesiredCluster) -> Result<LocalPlatform, ControllerError> {
        match &desired.platform {
            PlatformSpec::Local(spec) => {
                Ok(LocalPlatform::new(self.inner.store.platform_dir(&desired.name), spec.clone()))
            }
            PlatformSpec::Dcos(_) => Err(ControllerError::Unsupported("dcos")),
        }
    }

    fn context<'a, P: Platform>(&'a self, platform: &'a P, desired: &DesiredCluster) -> PassContext<'a, P> {
        PassContext {
            platform,
            admin: &self.inner.admin,
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
        let platform = self.local(desired)?;
        Ok(dry_run(&self.context(&platform, desired), desired).await?)
    }

    async fn pass(
        &self,
        desired: &DesiredCluster,
        generation: Generation,
        memory: &mut PassMemory,
    ) -> Result<PassReport, ControllerError> {
        let platform = self.local(desired)?;
        Ok(reconcile(&self.context(&platform, desired), desired, generation, memory).await?)
    }

    /// Stops every member of the cluster; with `purge`, removes all its files too.
    ///
    /// # Errors
    /// When a member cannot be stopped or the files cannot be removed.
    pub async fn delete(&self, name: &ClusterName, purge: bool) -> Result<(), ControllerError> {
        self.stop(name).await;
        if let Some((desired, _)) = self.desired(name)?
            && let Ok(platform) = self.local(&desired)
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
