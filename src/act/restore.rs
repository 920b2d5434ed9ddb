//! The restore step (scenarios 3b and 4d): fix the source in the history before any
//! member is stopped, then restore every member from it.
//!
//! A survivor's snapshot is saved to the cluster's snapshot directory and recorded
//! (file, SHA-256, revision) first; a retry after a crash or an etcdctl failure reuses
//! that file and never falls back to another, older source because the survivor is
//! stopped by then.

use super::{ActContext, ActError, failpoint};
use crate::backup::recover::{RestoreSource, restore_cluster};
use crate::backup::run::BackupContext;
use crate::backup::snapshot;
use crate::observe::platform::Platform;
use crate::observe::{ChosenSource, History, RestoreInFlight};
use crate::plan::Step;
use crate::store::atomic::ensure_private_dir;

/// The crash-test point right after a restore's source is recorded.
pub const SOURCE_CHOSEN: &str = "RestoreSourceChosen";

/// Restores the whole cluster from the step's source, or from the source already
/// recorded for the restore in flight, and records the report in the history.
pub(super) async fn restore<P: Platform>(
    ctx: &ActContext<'_, P>,
    history: &mut History,
    step: &Step,
) -> Result<(), ActError> {
    let _guard = ctx.backup_lock.lock().await;
    if history.restore.is_none() {
        history.restore = Some(choose(ctx, step).await?);
        ctx.store.put_history(ctx.name, history)?;
        failpoint(SOURCE_CHOSEN);
    }
    let Some(inflight) = history.restore.clone() else {
        return Err(ActError::Precondition("no restore source is recorded".into()));
    };
    let source = match &inflight.source {
        ChosenSource::Survivor { pod, snapshot, sha256 } => RestoreSource::Snapshot {
            pod: *pod,
            file: snapshot.clone(),
            sha256: sha256.clone(),
            revision: inflight.revision,
        },
        ChosenSource::Backup { id } => RestoreSource::Backup(Some(id.clone())),
    };
    let backup =
        BackupContext { platform: ctx.platform, admin: ctx.admin, store: ctx.store, desired: ctx.desired };
    let report = restore_cluster(&backup, &source, history.last_revision).await?;
    history.restored(report);
    ctx.store.put_history(ctx.name, history)?;
    if let RestoreSource::Snapshot { file, .. } = &source
        && let Err(error) = tokio::fs::remove_file(file).await
    {
        tracing::warn!(file = %file.display(), %error, "cannot delete a restored survivor's snapshot");
    }
    Ok(())
}

/// Fixes the source: saves and verifies a survivor's snapshot, or names the backup.
async fn choose<P: Platform>(ctx: &ActContext<'_, P>, step: &Step) -> Result<RestoreInFlight, ActError> {
    let (source, revision) = match step {
        Step::RestoreFromSurvivor { pod, endpoint } => {
            ensure_private_dir(&ctx.snapshots)
                .map_err(|e| ActError::Precondition(format!("create {}: {e}", ctx.snapshots.display())))?;
            let file = ctx.snapshots.join(format!("{}-{pod}-restore-source.db", ctx.now.as_millisecond()));
            let facts = snapshot::save(endpoint, &file).await?;
            tracing::info!(%pod, revision = facts.revision, "restore source saved from a survivor");
            let source = ChosenSource::Survivor { pod: *pod, snapshot: file, sha256: facts.sha256 };
            (source, facts.revision)
        }
        Step::RestoreFromBackup { id } => {
            let record = ctx.store.backups(ctx.name)?.into_iter().find(|r| &r.id == id);
            let record =
                record.ok_or_else(|| ActError::Precondition(format!("backup {id} is not in the catalog")))?;
            (ChosenSource::Backup { id: id.clone() }, record.revision)
        }
        other => return Err(ActError::Precondition(format!("{} is not a restore", other.name()))),
    };
    Ok(RestoreInFlight { source, revision, chosen_at: ctx.now })
}
