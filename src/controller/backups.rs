//! Backups driven by the controller: on demand (the API) and on schedule (the
//! worker), never two at once for a cluster.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{Controller, ControllerError};
use crate::backup::restore::{RestoreSource, restore_cluster};
use crate::backup::run::{BackupError, take_and_record};
use crate::backup::schedule::{next_due, retry_due};
use crate::domain::{BackupId, ClusterName};
use crate::event::Event;
use crate::manifest::DesiredCluster;
use crate::manifest::desired::Destination;
use crate::model::RestoreBy;
use crate::model::backup::RestoreReport;
use crate::model::catalog::BackupRecord;
use crate::platform::{Platform, PlatformError};

impl Controller {
    /// The cluster's backup lock.
    pub(super) fn backup_lock(&self, name: &ClusterName) -> Arc<Mutex<()>> {
        let mut locks = match self.inner.backup_locks.lock() {
            Ok(locks) => locks,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(name.clone()).or_default().clone()
    }

    /// Takes a backup now; refused while another backup of the cluster runs.
    ///
    /// # Errors
    /// When the cluster is not managed, has no backup policy, a backup is running, or
    /// the backup fails.
    pub async fn backup_now(&self, name: &ClusterName) -> Result<BackupRecord, ControllerError> {
        let (desired, _) = self.desired(name)?.ok_or_else(|| ControllerError::NotManaged(name.clone()))?;
        let lock = self.backup_lock(name);
        let Ok(guard) = lock.try_lock() else {
            return Err(BackupError::AlreadyRunning(name.to_string()).into());
        };
        let span = tracing::info_span!("backup", cluster = %name, trigger = "on demand");
        let result = self.run_backup(&desired, "on demand").instrument(span).await;
        drop(guard);
        // The status shows the new backup at once, not at the next resync.
        self.wake(name).await;
        result
    }

    async fn run_backup(&self, desired: &DesiredCluster, why: &str) -> Result<BackupRecord, ControllerError> {
        let (platform, admin) = self.clients(desired, super::Certificates::Generate)?;
        Ok(take_and_record(&self.context(desired, platform.as_ref(), &admin), why).await?)
    }

    /// Before a worker's first pass: the staging files a crashed daemon left at a
    /// `file://` destination (`.backup-<pid>-<millis>.db.tmp`, of a process no longer
    /// running) are deleted, with an event. A failure is an event, not a failed pass.
    pub(super) async fn remove_stale_staging(&self, desired: &DesiredCluster) {
        // Only a directory holds staging files: an S3 upload that never completed stores
        // nothing, and opening the bucket at every start would only add a failure mode.
        let Some(policy) =
            desired.backup.as_ref().filter(|p| matches!(p.destination, Destination::Directory(_)))
        else {
            return;
        };
        let result = async {
            let store =
                crate::backup::destination::BackupStore::open(&policy.destination, &desired.name).await?;
            let removed = store.remove_stale_staging().await?;
            Ok::<_, crate::backup::destination::DestinationError>((store.location(), removed))
        }
        .await;
        let now = self.inner.clock.now();
        let event = match result {
            Ok((_, removed)) if removed.is_empty() => return,
            Ok((location, removed)) => Event::normal(
                now,
                "StagingRemoved",
                format!(
                    "deleted {} staging file(s) a daemon that stopped mid-backup left at {location}: {}",
                    removed.len(),
                    removed.join(", ")
                ),
            ),
            Err(e) => Event::warning(
                now,
                "StagingRemovalFailed",
                format!("cannot clean the destination's staging files: {e}"),
            ),
        };
        self.record_start_event(desired, event);
    }

    /// Before a worker's first pass: an empty catalog (a new state directory) is
    /// rebuilt from the destination, so that the backups taken by an earlier controller
    /// count for the scale gate and a restore. A failure is an event, not a failed pass.
    pub(super) async fn adopt_catalog(&self, desired: &DesiredCluster) {
        let now = self.inner.clock.now();
        let event = match crate::backup::adopt::rebuild_catalog(&self.inner.store, desired).await {
            Ok(None) => return,
            Ok(Some(rebuilt)) if rebuilt.records == 0 && rebuilt.skipped.is_empty() => return,
            Ok(Some(rebuilt)) => {
                let mut message = format!(
                    "the catalog was empty: {} backup(s) found again at the destination",
                    rebuilt.records
                );
                if !rebuilt.skipped.is_empty() {
                    message.push_str(&format!("; left out: {}", rebuilt.skipped.join("; ")));
                }
                Event::normal(now, "CatalogRebuilt", message)
            }
            Err(e) => Event::warning(
                now,
                "CatalogRebuildFailed",
                format!("cannot read the destination's backups: {e}"),
            ),
        };
        self.record_start_event(desired, event);
    }

    /// Logs and records the event of a task run before a worker's first pass; a store
    /// that cannot take it is logged, never a failed pass.
    fn record_start_event(&self, desired: &DesiredCluster, event: Event) {
        tracing::info!(reason = event.reason, message = %event.message, "before the first pass");
        if let Err(e) = self.inner.store.add_events(&desired.name, &[event]) {
            tracing::warn!(error = %e, "cannot record the event");
        }
    }

    /// Starts the scheduled backup in the background when it is due and none runs;
    /// returns how long until the next one is due.
    pub(super) fn schedule_backup(
        &self,
        desired: &DesiredCluster,
        running: &mut Option<JoinHandle<()>>,
    ) -> Duration {
        let idle = Duration::from_secs(3600);
        let Some(policy) = &desired.backup else { return idle };
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            return idle;
        }
        let store = &self.inner.store;
        let name = &desired.name;
        let last_success = store.backups(name).ok().and_then(|r| r.last().map(|r| r.taken_at));
        let failure = store.backup_failure(name).ok().flatten();
        let last = last_success.max(failure.as_ref().map(|f| f.at));
        let now = self.inner.clock.now();
        let retry = retry_due(failure.as_ref(), last_success).unwrap_or(Timestamp::MAX);
        let due = next_due(&policy.schedule, last, now).min(retry);
        if now < due {
            return Duration::try_from(due.duration_since(now)).unwrap_or(idle).min(idle);
        }
        let lock = self.backup_lock(name);
        let Ok(guard) = lock.clone().try_lock_owned() else {
            // An on-demand backup runs: this one is skipped, the next is due later.
            let message = "scheduled backup skipped: another backup of this cluster is running".to_owned();
            let _ = store.add_events(name, &[Event::normal(now, "BackupSkipped", message)]);
            return Duration::from_secs(5);
        };
        let controller = self.clone();
        let desired = desired.clone();
        // Created in the worker's span, so the backup's lines name the cluster.
        let span = tracing::info_span!("backup", trigger = "scheduled");
        let backup = async move {
            let _guard = guard;
            if let Err(error) = controller.run_backup(&desired, "scheduled").await {
                tracing::warn!(%error, "scheduled backup failed");
            }
        };
        *running = Some(tokio::spawn(backup.instrument(span)));
        idle
    }
}

impl Controller {
    /// Restores every member of the cluster from a backup (`None`: the newest that
    /// verifies), with the worker stopped meanwhile, and records the report.
    ///
    /// # Errors
    /// When the cluster is not managed, no backup verifies, or the restore fails; the
    /// worker runs again either way.
    pub async fn restore(
        &self,
        name: &ClusterName,
        from: Option<BackupId>,
    ) -> Result<RestoreReport, ControllerError> {
        let (desired, _) = self.desired(name)?.ok_or_else(|| ControllerError::NotManaged(name.clone()))?;
        self.stop(name).await;
        let span = tracing::info_span!("restore", cluster = %name);
        let result = self.restore_stopped(&desired, from).instrument(span).await;
        self.wake(name).await;
        result
    }

    async fn restore_stopped(
        &self,
        desired: &DesiredCluster,
        from: Option<BackupId>,
    ) -> Result<RestoreReport, ControllerError> {
        let name = &desired.name;
        let lock = self.backup_lock(name);
        let _guard = lock.lock().await;
        let (platform, admin) = self.clients(desired, super::Certificates::Generate)?;
        if !platform.capabilities().automatic_restore {
            return Err(PlatformError::Unsupported(
                "restore a whole cluster itself (DC/OS: follow docs/dcos.md, \"Quorum lost\", by hand)",
            )
            .into());
        }
        let store = &self.inner.store;
        let ctx = self.context(desired, platform.as_ref(), &admin);
        // The same transitions as the automatic restore (`model::operation`): begun
        // (pre-empting whatever ran) and an attempt counted before anything is stopped.
        let mut history = store.history(name)?;
        let now = ctx.now;
        let abandoned = history.in_flight.begin_restore(RestoreBy::Person, now);
        let mut token = format!("{name}-restore-{}", now.as_second());
        if let Some(op) = history.in_flight.restore_mut() {
            op.attempts += 1;
            token = op.token(name);
        }
        store.put_history(name, &history)?;
        let source = RestoreSource::Backup(from);
        let result = restore_cluster(&ctx, &source, history.seen.last_revision, &token).await;
        let now = ctx.clock.now();
        let mut events = Vec::new();
        if let Some(op) = abandoned {
            let message = format!("{} was abandoned: a restore was asked for by hand", op.kind());
            events.push(Event::warning(now, "OperationAbandoned", message));
        }
        events.push(match &result {
            Ok(report) => Event::normal(
                now,
                "Restored",
                format!(
                    "restored from {} (revision {}, {} keys); old data kept at {}",
                    report.from,
                    report.revision,
                    report.keys,
                    report.kept_aside.join(", ")
                ),
            ),
            Err(e) => Event::warning(now, "RestoreFailed", format!("restore failed: {e}")),
        });
        store.add_events(name, &events)?;
        // Finished, as the automatic restore finishes: the report, the last revision
        // from the restored data, the slots known again once they answer. A failed one
        // stays in flight: the next try (by hand, or the controller's under
        // `quorumLoss: Restore`) is the same restore, and replaces what this one put in
        // place instead of moving it aside.
        if let Ok(report) = &result {
            history.restored(report.clone());
            store.put_history(name, &history)?;
        }
        let report = result?;
        Ok(report)
    }
}
