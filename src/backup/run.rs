//! Taking one backup: snapshot the healthy voter with the highest revision into a
//! private temporary file, verify it, count its keys at its own revision, store it and
//! its record at the destination, then apply retention. For a directory destination the
//! temporary file is a dot file in the destination directory itself, so that storing
//! the verified, fsynced file is a rename (and no second copy or fsync of the data).
//!
//! A backup never changes etcd: a failure is reported (status, events, metrics) and
//! leaves the cluster serving as before.

use std::time::Instant;

use super::destination::{BackupStore, DestinationError};
use super::snapshot::{self, SnapshotError};
use super::tool::SnapshotTool;
use crate::context::Context;
use crate::domain::BackupId;
use crate::etcd::EtcdError;
use crate::event::Event;
use crate::metrics::{Metrics, ResultLabel};
use crate::model::backup::BackupFailure;
use crate::model::catalog::{self, BackupRecord};
use crate::platform::{Platform, PlatformError};
use crate::retry::ErrorKind;
use crate::store::StoreError;

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The manifest has no `backup` section.
    #[error("cluster {0} has no spec.backup: add a destination to back it up")]
    NotConfigured(String),
    /// Another backup of the cluster is running.
    #[error("a backup of {0} is already running")]
    AlreadyRunning(String),
    /// No healthy voting member answers.
    #[error("no healthy voting member to take a snapshot from")]
    NoSource,
    /// The platform could not be observed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The snapshot failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Counting keys failed.
    #[error("count keys: {0}")]
    Etcd(#[from] EtcdError),
    /// The destination failed.
    #[error("destination: {0}")]
    Destination(#[from] DestinationError),
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A temporary file could not be made.
    #[error("temporary file: {0}")]
    Temp(std::io::Error),
}

impl BackupError {
    /// Whether a retry can help: not without a backup policy, nor for a destination
    /// that refuses the same way until its configuration changes; otherwise, yes.
    pub fn retry(&self) -> ErrorKind {
        match self {
            Self::NotConfigured(_) => ErrorKind::Permanent,
            Self::Platform(e) => e.retry(),
            Self::Etcd(e) => e.retry(),
            Self::Destination(e) => e.kind(),
            Self::Store(e) => e.retry(),
            Self::AlreadyRunning(_) | Self::NoSource | Self::Snapshot(_) | Self::Temp(_) => {
                ErrorKind::Transient
            }
        }
    }
}

/// Takes one backup now and applies retention. The caller holds the cluster's backup
/// lock, so backups never overlap.
///
/// # Errors
/// Any failure; nothing is left at the destination or in the catalog then.
pub async fn take_backup<P: Platform>(ctx: &Context<'_, P>) -> Result<BackupRecord, BackupError> {
    let name = &ctx.desired.name;
    let policy = ctx.desired.backup.as_ref().ok_or_else(|| BackupError::NotConfigured(name.to_string()))?;
    let started = Instant::now();
    let now = ctx.clock.now();
    let observed = ctx.observe(now).await?;
    let (source, endpoint) = observed.best_source().ok_or(BackupError::NoSource)?;
    let destination = BackupStore::open(&policy.destination, name).await?;
    // Into the destination directory itself when it has one, so storing is a rename.
    let tmp = match destination.staging_dir() {
        Some(dir) => dir.join(format!(".backup-{}-{}.db.tmp", std::process::id(), now.as_millisecond())),
        None => ctx.temp_file("backup").map_err(BackupError::Temp)?,
    };
    let observed_at = started.elapsed();
    let result = async {
        let tool = SnapshotTool::for_cluster(ctx.desired).await;
        let facts = snapshot::save(&endpoint, ctx.admin.tls(), &tmp, &tool).await?;
        let saved_at = started.elapsed();
        let keys = ctx.admin.count_keys(&endpoint, facts.revision).await?;
        let counted_at = started.elapsed();
        let mut record = BackupRecord {
            id: BackupId::new(now, facts.revision),
            cluster: name.clone(),
            taken_at: now,
            source,
            revision: facts.revision,
            keys,
            size_bytes: facts.size_bytes,
            sha256: facts.sha256,
            verified: true,
            duration_seconds: 0.0,
            location: destination.location(),
            cluster_id: observed.endpoint(source).map(|s| s.cluster_id).filter(|id| *id != 0),
        };
        destination.put_moved(&record.object(), &tmp).await?;
        let stored_at = started.elapsed();
        record.duration_seconds = started.elapsed().as_secs_f64();
        let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
        destination.put_bytes(&record.metadata_object(), json).await?;
        let mut records = ctx.store.backups(name)?;
        records.retain(|r| r.id != record.id);
        records.push(record.clone());
        // Retention counts within the new backup's lineage only: it never deletes the
        // backups of another etcd cluster (a purged one whose destination was reused).
        let lineage: Vec<BackupRecord> =
            records.iter().filter(|r| r.cluster_id == record.cluster_id).cloned().collect();
        let pruned: Vec<BackupRecord> =
            catalog::to_prune(&lineage, &policy.retention, now).into_iter().cloned().collect();
        for old in &pruned {
            destination.delete(&old.object()).await?;
            destination.delete(&old.metadata_object()).await?;
            tracing::info!(backup = %old.id, "backup pruned by retention");
        }
        records.retain(|r| !pruned.iter().any(|p| p.id == r.id));
        ctx.store.put_backups(name, &records)?;
        tracing::debug!(
            observe_ms = observed_at.as_millis(),
            snapshot_ms = (saved_at - observed_at).as_millis(),
            count_ms = (counted_at - saved_at).as_millis(),
            store_ms = (stored_at - counted_at).as_millis(),
            record_ms = (started.elapsed() - stored_at).as_millis(),
            "backup timings"
        );
        Ok::<_, BackupError>(record)
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    result
}

/// Takes a backup and records the outcome: an event, the failure file (set or
/// cleared) and the metrics. A failure is logged and returned, never retried here.
///
/// # Errors
/// As [`take_backup`].
pub async fn take_and_record<P: Platform>(
    ctx: &Context<'_, P>,
    why: &str,
) -> Result<BackupRecord, BackupError> {
    let metrics = ctx.metrics;
    let name = &ctx.desired.name;
    let result = take_backup(ctx).await;
    let now = ctx.clock.now();
    let label = Metrics::cluster(name.as_str());
    let outcome = if result.is_ok() { "succeeded" } else { "failed" };
    metrics
        .backups
        .get_or_create(&ResultLabel { cluster: name.to_string(), result: outcome.to_owned() })
        .inc();
    let (event, failure) = match &result {
        Ok(r) => {
            metrics.backup_duration.get_or_create(&label).set(r.duration_seconds);
            metrics.backup_size.get_or_create(&label).set(i64::try_from(r.size_bytes).unwrap_or(i64::MAX));
            let message = format!(
                "{why}: backup {} of revision {} ({} keys, {} bytes, sha256 {}) stored at {} in {:.1} s",
                r.id, r.revision, r.keys, r.size_bytes, r.sha256, r.location, r.duration_seconds
            );
            (Event::normal(now, "BackupTaken", message), None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "backup failed");
            let before = ctx.store.backup_failure(name).ok().flatten().map_or(0, |f| f.attempts);
            let failure =
                BackupFailure { at: now, message: e.to_string(), attempts: before.saturating_add(1) };
            (Event::warning(now, "BackupFailed", format!("{why}: backup failed: {e}")), Some(failure))
        }
    };
    if let Err(e) = ctx.store.add_events(name, &[event]) {
        tracing::warn!(error = %e, "cannot record the backup event");
    }
    if let Err(e) = ctx.store.put_backup_failure(name, failure.as_ref()) {
        tracing::warn!(error = %e, "cannot record the backup outcome");
    }
    result
}
