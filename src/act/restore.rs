//! The restore step (scenarios 3b and 4d): fix the source in the history before any
//! member is stopped, then restore every member from it.
//!
//! A survivor's snapshot is saved to the cluster's snapshot directory and recorded
//! (file, SHA-256, revision) first; a retry after a crash or an etcdctl failure reuses
//! that file and never falls back to another, older source because the survivor is
//! stopped by then.

use std::path::Path;
use std::time::Duration;

use super::{ActError, failpoint};
use crate::backup::restore::{RestoreSource, restore_cluster};
use crate::backup::scratch::{ScratchError, ScratchEtcd, ScratchPorts};
use crate::backup::snapshot;
use crate::backup::snapshot::SnapshotFacts;
use crate::backup::tool::SnapshotTool;
use crate::backup::wal::{WalError, WalTail};
use crate::context::Context;
use crate::domain::PodName;
use crate::model::{ChosenSource, History, RestoreBy, RestoreInFlight, SavedSnapshot};
use crate::plan::Step;
use crate::platform::Platform;
use crate::store::atomic::ensure_private_dir;

/// The crash-test point right after a restore's source is recorded.
pub const SOURCE_CHOSEN: &str = "RestoreSourceChosen";

/// Restores the whole cluster from the step's source, or from the source already
/// recorded for the restore in flight, and records the report in the history.
pub(super) async fn restore<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    step: &Step,
) -> Result<(), ActError> {
    let _guard = ctx.backup_lock.lock().await;
    begin(ctx, history);
    if history.in_flight.restore().is_some_and(|r| r.chosen.is_none()) {
        let chosen = choose(ctx, history, step).await?;
        if let Some(op) = history.in_flight.restore_mut() {
            op.chosen = Some(chosen);
        }
        ctx.store.put_history(ctx.name(), history)?;
        failpoint(SOURCE_CHOSEN);
    }
    let Some(op) = history.in_flight.restore_mut() else {
        return Err(ActError::Precondition("no restore is recorded".into()));
    };
    let Some(inflight) = op.chosen.clone() else {
        return Err(ActError::Precondition("no restore source is recorded".into()));
    };
    // Counted before the attempt, so that a crash in it counts too.
    op.attempts += 1;
    let token = op.token(ctx.name());
    ctx.store.put_history(ctx.name(), history)?;
    let source = match &inflight.source {
        // A survivor is a voter of the last member list: of the lineage's current cluster.
        ChosenSource::Survivor { pod, snapshot, sha256 } => RestoreSource::Snapshot {
            pod: *pod,
            file: snapshot.clone(),
            sha256: sha256.clone(),
            revision: inflight.revision,
            cluster_id: history.seen.lineage.current(),
        },
        ChosenSource::Backup { id } => RestoreSource::Backup(Some(id.clone())),
    };
    let mut report = restore_cluster(ctx, &source, history.seen.last_revision, &token).await?;
    if let ChosenSource::Survivor { pod, .. } = &inflight.source {
        report.wal_tail = history.in_flight.survivor(*pod).and_then(|s| s.tail);
    }
    history.restored(report);
    ctx.store.put_history(ctx.name(), history)?;
    if let RestoreSource::Snapshot { file, .. } = &source
        && let Err(error) = tokio::fs::remove_file(file).await
    {
        tracing::warn!(file = %file.display(), %error, "cannot delete a restored survivor's snapshot");
    }
    Ok(())
}

/// Begins the restore, unless one is in flight: whatever operation ran is abandoned
/// (the quorum is gone, it cannot finish), and an event says so.
fn begin<P: Platform>(ctx: &Context<'_, P>, history: &mut History) {
    if let Some(abandoned) = history.in_flight.begin_restore(RestoreBy::Controller, ctx.now) {
        let message = format!(
            "{} was abandoned: the quorum is lost for good and the cluster is restored",
            abandoned.kind()
        );
        let event = crate::event::Event::warning(ctx.now, "OperationAbandoned", message);
        if let Err(error) = ctx.store.add_events(ctx.name(), &[event]) {
            tracing::warn!(%error, "cannot record the event of an abandoned operation");
        }
    }
}

/// Fixes the source: saves and verifies a survivor's snapshot, or names the backup.
async fn choose<P: Platform>(
    ctx: &Context<'_, P>,
    history: &History,
    step: &Step,
) -> Result<RestoreInFlight, ActError> {
    let (source, revision) = match step {
        Step::RestoreFromSurvivor { pod, .. } if history.in_flight.survivor(*pod).is_some() => {
            let Some(saved) = history.in_flight.survivor(*pod) else {
                return Err(ActError::Precondition(format!("no snapshot of {pod} is recorded")));
            };
            let source = ChosenSource::Survivor {
                pod: *pod,
                snapshot: saved.file.clone(),
                sha256: saved.sha256.clone(),
            };
            (source, saved.revision)
        }
        Step::RestoreFromSurvivor { pod, endpoint } => {
            let file = super::snapshots_dir(ctx)?
                .join(format!("{}-{pod}-restore-source.db", ctx.now.as_millisecond()));
            let tool = SnapshotTool::for_cluster(ctx.desired).await;
            let facts = snapshot::save(endpoint, ctx.admin.tls(), &file, &tool).await?;
            tracing::info!(%pod, revision = facts.revision, "restore source saved from a survivor");
            let source = ChosenSource::Survivor { pod: *pod, snapshot: file, sha256: facts.sha256 };
            (source, facts.revision)
        }
        Step::RestoreFromBackup { id } => {
            let record = ctx.store.backups(ctx.name())?.into_iter().find(|r| &r.id == id);
            let record =
                record.ok_or_else(|| ActError::Precondition(format!("backup {id} is not in the catalog")))?;
            (ChosenSource::Backup { id: id.clone() }, record.revision)
        }
        other => return Err(ActError::Precondition(format!("{} is not a restore", other.name()))),
    };
    Ok(RestoreInFlight { source, revision, chosen_at: ctx.now })
}

/// Reads a stopped survivor's data without touching it: its data directory is copied,
/// the copy is started alone on loopback with `--force-new-cluster` (etcd replays its
/// WAL up to the last entry it recorded as committed: docs/decisions.md, "Limits"),
/// snapshotted and stopped, and the copy is deleted. The snapshot and its revision are
/// recorded for the choice of a source; each attempt is counted first.
pub(super) async fn read_survivor<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
) -> Result<(), ActError> {
    // Counted before anything can fail, so that every failed attempt counts.
    begin(ctx, history);
    if let Some(op) = history.in_flight.restore_mut() {
        *op.survivor_reads.entry(pod).or_default() += 1;
    }
    ctx.store.put_history(ctx.name(), history)?;
    let precondition = |what: String| ActError::Precondition(what);
    let data = ctx
        .platform
        .local_data_dir(pod)
        .ok_or_else(|| precondition(format!("the data of {pod} cannot be read from this machine")))?;
    let snapshots = super::snapshots_dir(ctx)?;
    // Never while a member its data lists answers at its peer URL: the copy could reach
    // it, as the member whose data it is, before it forgets the others.
    let own = history.seen.slots.get(&pod).map(|m| m.id);
    let peers: Vec<String> =
        history.seen.members.iter().filter(|m| Some(m.id) != own).flat_map(|m| m.peer_urls.clone()).collect();
    let answering = crate::backup::scratch::peers_answering(&peers).await;
    if !answering.is_empty() {
        return Err(precondition(format!(
            "the data of {pod} is not read: a member it lists answers at {} (a copy of it could reach that member before it forgets the others); stop that process",
            answering.join(", ")
        )));
    }
    let stamp = ctx.now.as_millisecond();
    let scratch = snapshots.join(format!("scratch-{pod}-{stamp}"));
    let file = snapshots.join(format!("{stamp}-{pod}-survivor.db"));
    let tool = SnapshotTool::for_cluster(ctx.desired).await;
    let etcd = ctx.desired.platform.controller_etcd();
    let result = scratch_snapshot(&etcd, &tool, &data, &scratch, &file).await;
    if let Err(error) = tokio::fs::remove_dir_all(&scratch).await {
        tracing::warn!(dir = %scratch.display(), %error, "cannot delete a scratch copy");
    }
    let (facts, tail) = result?;
    tracing::info!(%pod, revision = facts.revision, ?tail, "a stopped survivor's data was read");
    if let Some(op) = history.in_flight.restore_mut() {
        let saved = SavedSnapshot { file, sha256: facts.sha256, revision: facts.revision, tail };
        op.survivors.insert(pod, saved);
        op.survivor_reads.remove(&pod);
    }
    Ok(ctx.store.put_history(ctx.name(), history)?)
}

/// Copies `data` into `scratch/data`, makes the copy's WAL tail count as committed
/// (`backup::wal`: the last acknowledged writes are replayed, not dropped), serves the
/// copy alone (its log in `scratch/etcd.log`) and saves a snapshot of it to `file`.
async fn scratch_snapshot(
    binary: &Path,
    tool: &SnapshotTool,
    data: &Path,
    scratch: &Path,
    file: &Path,
) -> Result<(SnapshotFacts, Option<WalTail>), ActError> {
    let copy = scratch.join("data");
    ensure_private_dir(scratch).map_err(super::io(format!("create {}", scratch.display())))?;
    // A data directory runs to gigabytes: copied, and its WAL read and appended to,
    // off the async runtime's threads.
    let (from, to) = (data.to_path_buf(), copy.clone());
    let copied = tokio::task::spawn_blocking(move || {
        copy_dir(&from, &to).map(|()| crate::backup::wal::commit_tail(&to))
    })
    .await
    .map_err(|e| ActError::Precondition(format!("the copy of {} stopped: {e}", data.display())))?;
    let committed = copied.map_err(super::io(format!("copy {} to {}", data.display(), copy.display())))?;
    let tail = match committed {
        Ok(tail) => Some(tail),
        // A WAL with no hard state yet holds nothing committed to keep.
        Err(WalError::Empty(why)) => {
            tracing::info!(%why, "nothing to replay in a survivor's WAL");
            None
        }
        Err(error) => {
            return Err(ActError::Precondition(format!("the survivor's WAL cannot be replayed: {error}")));
        }
    };
    let unreadable =
        |e: ScratchError| ActError::Precondition(format!("the scratch copy cannot be read: {e}"));
    let ports = ScratchPorts::pick().map_err(unreadable)?;
    let log = scratch.join("etcd.log");
    let etcd = ScratchEtcd::start(binary, &copy, &log, ports, SCRATCH_DEADLINE).await.map_err(unreadable)?;
    let result = snapshot::save(etcd.client_url(), None, file, tool).await.map_err(ActError::from);
    etcd.stop().await;
    Ok((result?, tail))
}

/// How long a scratch copy of a survivor may take to serve.
const SCRATCH_DEADLINE: Duration = Duration::from_secs(60);

/// Copies a directory tree (files and directories only), keeping it private.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    ensure_private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
