//! Restoring a whole cluster (scenarios 3b and 4d): pick a verified source, stop the
//! members, restore every data directory from it as a new cluster (the old ones are
//! kept aside), start the members, and check the result against the source.

use std::time::Duration;

use jiff::Timestamp;

use super::data_dirs::{RestoreMember, restore_data_dirs};
use super::destination::BackupStore;
use super::run::BackupError;
use super::snapshot;
use super::tool::SnapshotTool;
use crate::context::Context;
use crate::domain::{BackupId, PodName};
use crate::event::Event;
use crate::model::backup::RestoreReport;
use crate::model::catalog::BackupRecord;
use crate::platform::{InitialClusterState, LaunchSpec, Platform};

/// How long the restored cluster may take to serve.
const SERVE_DEADLINE: Duration = Duration::from_secs(120);

/// What to restore from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A backup of the catalog: a given one, or the newest that verifies (`None`).
    Backup(Option<BackupId>),
    /// A verified snapshot saved from a surviving member (kept until the restore
    /// succeeds, so that a retry never needs the survivor again).
    Snapshot {
        /// The member it was saved from.
        pod: PodName,
        /// The snapshot file.
        file: std::path::PathBuf,
        /// Its SHA-256, hex.
        sha256: String,
        /// The revision inside it.
        revision: i64,
        /// The etcd cluster it was a member of (`model::lineage`), when known.
        cluster_id: Option<u64>,
    },
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreClusterError {
    /// No source could be used.
    #[error("no verified backup to restore from{0}")]
    NoSource(String),
    /// Reaching the source or the members failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The data directories could not be restored.
    #[error(transparent)]
    Restore(#[from] super::data_dirs::RestoreError),
    /// The restored cluster did not serve, or differs from its source.
    #[error("the restored cluster {0}")]
    Check(String),
}

fn backup_err(e: impl Into<BackupError>) -> RestoreClusterError {
    RestoreClusterError::Backup(e.into())
}

/// A verified local snapshot file and the record it matches.
async fn fetch(
    ctx: &Context<'_, impl Platform>,
    source: &RestoreSource,
    file: &std::path::Path,
    refused: &mut Vec<BackupId>,
) -> Result<(String, BackupRecord), RestoreClusterError> {
    let name = &ctx.desired.name;
    if let RestoreSource::Snapshot { pod, file: saved, sha256, revision, cluster_id } = source {
        let copied = tokio::fs::copy(saved, file).await.map_err(|e| {
            RestoreClusterError::NoSource(format!(": the snapshot of {pod} at {}: {e}", saved.display()))
        })?;
        snapshot::verify_file(file, sha256).await.map_err(backup_err)?;
        let record = BackupRecord {
            id: BackupId::new(ctx.clock.now(), *revision),
            cluster: name.clone(),
            taken_at: ctx.clock.now(),
            source: *pod,
            revision: *revision,
            // A member without a quorum cannot count its keys: only the revision is checked.
            keys: u64::MAX,
            size_bytes: copied,
            sha256: sha256.clone(),
            verified: true,
            duration_seconds: 0.0,
            location: saved.display().to_string(),
            cluster_id: *cluster_id,
        };
        return Ok((format!("surviving member {pod}"), record));
    }
    let policy = ctx.desired.backup.as_ref().ok_or_else(|| BackupError::NotConfigured(name.to_string()))?;
    let mut candidates: Vec<BackupRecord> = ctx.store.backups(name).map_err(backup_err)?;
    candidates.retain(|r| r.verified);
    candidates.reverse();
    if let RestoreSource::Backup(Some(id)) = source {
        candidates.retain(|r| &r.id == id);
        if candidates.is_empty() {
            return Err(RestoreClusterError::NoSource(format!(": {id} is not in the catalog")));
        }
    }
    let destination = BackupStore::open(&policy.destination, name).await.map_err(backup_err)?;
    for record in candidates {
        match fetch_verified(&destination, &record, file).await {
            Ok(()) => return Ok((format!("backup {}", record.id), record)),
            Err(reason) => {
                let message =
                    format!("backup {} refused: {reason}; trying the previous verified backup", record.id);
                tracing::warn!("{message}");
                let _ =
                    ctx.store.add_events(name, &[Event::warning(ctx.clock.now(), "BackupRefused", message)]);
                refused.push(record.id.clone());
                if matches!(source, RestoreSource::Backup(Some(_))) {
                    return Err(RestoreClusterError::NoSource(format!(": {} fails verification", record.id)));
                }
            }
        }
    }
    Err(RestoreClusterError::NoSource(String::new()))
}

/// Why a backup could not be fetched and verified.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// It could not be read from the destination.
    #[error("cannot fetch it from the destination: {0}")]
    Fetch(#[from] super::destination::DestinationError),
    /// Its SHA-256 or etcd's trailing hash does not match.
    #[error(transparent)]
    Verify(#[from] snapshot::SnapshotError),
}

/// Fetches a backup of the catalog into `file` (replacing it) and checks the file's
/// SHA-256 against the record and etcd's trailing hash.
///
/// # Errors
/// `Fetch` when the destination cannot give it; `Verify` when a hash does not match
/// (or the file cannot be read back).
pub async fn fetch_verified(
    destination: &BackupStore,
    record: &BackupRecord,
    file: &std::path::Path,
) -> Result<(), FetchError> {
    let _ = tokio::fs::remove_file(file).await;
    destination.get_file(&record.object(), file).await?;
    Ok(snapshot::verify_file(file, &record.sha256).await?)
}

/// Restores every member of the cluster from `source`. The caller makes sure no
/// reconcile pass and no backup runs meanwhile.
///
/// # Errors
/// When no source verifies, the restore fails (the old data then stays in place), or
/// the restored cluster does not serve what its source holds.
/// `token` names the restore: the same for every attempt of one restore, so that a
/// retry replaces what an earlier attempt put in place instead of moving it aside
/// (`restore_data_dirs`); each member's `--initial-cluster-token`.
pub async fn restore_cluster<P: Platform>(
    ctx: &Context<'_, P>,
    source: &RestoreSource,
    last_seen: Option<(i64, Timestamp)>,
    token: &str,
) -> Result<RestoreReport, RestoreClusterError> {
    let file = ctx.temp_file("restore").map_err(BackupError::Temp)?;
    let mut refused = Vec::new();
    let result = async {
        let (from, record) = fetch(ctx, source, &file, &mut refused).await?;
        let observed = ctx.observe(ctx.clock.now()).await.map_err(backup_err)?;
        let mut members = Vec::new();
        for pod in ctx.desired.members.pods() {
            let urls = ctx.platform.member_urls(pod).await.map_err(backup_err)?;
            let data_dir = observed.platform.task(pod).and_then(|t| t.data_dir.clone());
            let data_dir = data_dir
                .ok_or_else(|| RestoreClusterError::Check(format!("has no data directory for {pod}")))?;
            ctx.platform.ensure_stopped(pod).await.map_err(backup_err)?;
            members.push(RestoreMember { pod, peer_url: urls.peer, data_dir });
        }
        let tool = SnapshotTool::for_cluster(ctx.desired).await;
        let aside = restore_data_dirs(&tool, &file, &members, token).await?;
        let initial: Vec<(PodName, String)> = members.iter().map(|m| (m.pod, m.peer_url.clone())).collect();
        let spec = LaunchSpec {
            initial_cluster: initial,
            state: InitialClusterState::New { token: token.to_owned() },
        };
        for member in &members {
            ctx.platform.ensure_running(member.pod, &spec).await.map_err(backup_err)?;
        }
        let (revision, keys) = check(ctx, &record).await?;
        let dirs: Vec<std::path::PathBuf> = members.iter().map(|m| m.data_dir.clone()).collect();
        super::data_dirs::forget_restored(&dirs).await;
        let keep = usize::try_from(ctx.desired.recovery.kept_aside).unwrap_or(usize::MAX);
        for old in super::data_dirs::prune_kept_aside(&dirs, keep).await {
            tracing::info!(dir = %old.display(), keep, "a directory kept aside by an older restore deleted (recovery.keptAside)");
        }
        let revisions_lost = last_seen.map(|(seen, _)| (seen - revision).max(0));
        let data_loss_seconds = last_seen
            .map(|(_, at)| at.duration_since(record.taken_at).as_secs().max(0))
            .filter(|_| revisions_lost > Some(0));
        Ok(RestoreReport {
            at: ctx.clock.now(),
            from,
            revision,
            keys,
            last_seen_revision: last_seen.map(|(r, _)| r),
            revisions_lost,
            data_loss_seconds: data_loss_seconds.or(revisions_lost.map(|_| 0)),
            refused_backups: refused.clone(),
            kept_aside: aside.iter().map(|p| p.display().to_string()).collect(),
            source_cluster_id: record.cluster_id,
            wal_tail: None,
        })
    }
    .await;
    let _ = tokio::fs::remove_file(&file).await;
    result
}

/// Waits until a quorum serves, then checks the revision and key count against the
/// source's record.
async fn check<P: Platform>(
    ctx: &Context<'_, P>,
    record: &BackupRecord,
) -> Result<(i64, u64), RestoreClusterError> {
    let deadline = tokio::time::Instant::now() + SERVE_DEADLINE;
    let quorum = ctx.desired.members.quorum();
    let endpoint = loop {
        let observed = ctx.observe(ctx.clock.now()).await.map_err(backup_err)?;
        if observed.healthy_voters() >= quorum
            && let Some((_, endpoint)) = observed.best_source()
        {
            break endpoint;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RestoreClusterError::Check(format!("has no quorum after {SERVE_DEADLINE:?}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let status = ctx.admin.status(&endpoint).await.map_err(backup_err)?;
    let keys = ctx.admin.count_keys(&endpoint, record.revision).await.map_err(backup_err)?;
    if status.revision < record.revision || (record.keys != u64::MAX && keys != record.keys) {
        return Err(RestoreClusterError::Check(format!(
            "holds revision {} and {keys} keys; its source holds revision {} and {} keys",
            status.revision, record.revision, record.keys
        )));
    }
    Ok((status.revision, keys))
}
