//! The steps of a member replacement (scenario 4b). Each is idempotent: a member
//! already removed, a learner already added, a process already running is success.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::ActError;
use crate::backup::snapshot;
use crate::backup::tool::SnapshotTool;
use crate::context::Context;
use crate::domain::{MemberId, PodName};
use crate::etcd::{EtcdError, EtcdErrorKind};
use crate::model::{History, JoinKind, Replacement, ScaleAdmission};
use crate::platform::{InitialClusterState, LaunchSpec, Platform, PlatformError};

/// How many snapshots taken before replacements are kept.
const KEEP_REPLACEMENT_SNAPSHOTS: usize = 3;

/// Retries inside one step, while etcd refuses for now: 0.1 s doubling to 1 s, 15
/// times (about 12.5 s in all, beyond etcd 3.4's 5 s health interval). etcd answers
/// such a refusal at once, so a short first pause costs it nothing and the change is
/// made as soon as etcd allows it.
fn short_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(15)
}

/// Saves a verified snapshot of `from` and records the replacement of `pod`.
pub(super) async fn snapshot_before_replace<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    from: PodName,
    endpoint: &str,
) -> Result<(), ActError> {
    let snapshots = super::snapshots_dir(ctx)?;
    let file = snapshots.join(format!("{}-{from}-before-replacing-{pod}.db", ctx.now.as_second()));
    let tool = SnapshotTool::for_cluster(ctx.desired).await;
    let facts = snapshot::save(endpoint, ctx.admin.tls(), &file, &tool).await?;
    tracing::info!(%pod, %from, revision = facts.revision, size = facts.size_bytes, "snapshot taken before a replacement");
    // A fresh snapshot of a scale-up's join keeps it the scale-up's.
    let kind = history.in_flight.join().filter(|r| r.pod == pod).map_or(JoinKind::Replace, |r| r.kind);
    let abandoned =
        history.in_flight.begin_join(Replacement::begun(kind, pod, ctx.now, file, facts.revision))?;
    if let Some(op) = abandoned {
        let message =
            format!("{} was abandoned for the replacement of {pod}: healing comes first", op.kind());
        let event = crate::event::Event::warning(ctx.now, "OperationAbandoned", message).about(pod);
        if let Err(error) = ctx.store.add_events(ctx.name(), &[event]) {
            tracing::warn!(%error, "cannot record the event of an abandoned operation");
        }
    }
    ctx.store.put_history(ctx.name(), history)?;
    prune_snapshots(&snapshots);
    Ok(())
}

/// Removes a member; one already gone is success. Retries etcd 3.4's "unhealthy
/// cluster" for a few seconds, as for an add.
pub(super) async fn remove<P: Platform>(
    ctx: &Context<'_, P>,
    id: MemberId,
    via: &str,
) -> Result<(), ActError> {
    let remove = || ctx.admin.remove(via, id);
    match remove.retry(short_backoff()).when(unhealthy_cluster).notify(log_retry).await {
        Err(e) if e.kind() == EtcdErrorKind::MemberNotFound => Ok(()),
        other => Ok(other?),
    }
}

/// etcd 3.4 refuses membership changes with "unhealthy cluster" for a few seconds
/// after a peer (re)connects or leaves: worth a retry, never a tight loop.
fn unhealthy_cluster(e: &EtcdError) -> bool {
    e.kind() == EtcdErrorKind::UnhealthyCluster
}

fn log_retry(e: &EtcdError, wait: Duration) {
    tracing::info!(error = %e, ?wait, "etcd refused a membership change for now; retrying");
}

/// Adds a learner, retrying etcd 3.4's "unhealthy cluster" for a few seconds. A
/// duplicate peer URL is refused by etcd, so a retry can never add a second member.
pub(super) async fn add_learner<P: Platform>(
    ctx: &Context<'_, P>,
    peer_url: &str,
    via: &str,
) -> Result<(), ActError> {
    let add = || ctx.admin.add_learner(via, peer_url);
    let id = add.retry(short_backoff()).when(unhealthy_cluster).notify(log_retry).await?;
    tracing::info!(%id, peer_url, "learner added");
    Ok(())
}

/// Records, before the add, the peer URL the new member of `pod`'s replacement (when one
/// is recorded) is added with: until it answers at the slot, that URL as etcd lists it
/// is how it is known.
pub(super) fn record_added_url<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    peer_url: &str,
) -> Result<(), ActError> {
    let replacement = history.in_flight.join_mut().filter(|r| r.pod == pod);
    if let Some(r) = replacement.filter(|r| r.added_peer_url.as_deref() != Some(peer_url)) {
        r.added_peer_url = Some(peer_url.to_owned());
        ctx.store.put_history(ctx.name(), history)?;
    }
    Ok(())
}

/// Adds a voting member (etcd 3.3, no learners) and records its ID with the
/// replacement at once: the member list cannot tell it from the failed member by its
/// role. A crash before the record leaves a voter known by the peer URL recorded before
/// the add (`model::membership`, a joining member), launched like a recorded one.
pub(super) async fn add_voter<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    peer_url: &str,
    via: &str,
) -> Result<(), ActError> {
    let add = || ctx.admin.add_voter(via, peer_url);
    let id = add.retry(short_backoff()).when(unhealthy_cluster).notify(log_retry).await?;
    tracing::info!(%id, peer_url, "voting member added");
    let replacement = recorded(history, pod)?;
    replacement.added_voter = Some(id);
    replacement.rejoin = false;
    // Recorded at once: the member list cannot tell the new voter from the failed one.
    Ok(ctx.store.put_history(ctx.name(), history)?)
}

/// Launches the added member, counting launches for the backoff of failed starts.
pub(super) async fn launch_replacement<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    initial_cluster: &[(PodName, String)],
) -> Result<(), ActError> {
    let replacement = recorded(history, pod)?;
    replacement.launches += 1;
    replacement.last_launch = Some(ctx.now);
    ctx.store.put_history(ctx.name(), history)?;
    let spec = LaunchSpec { initial_cluster: initial_cluster.to_vec(), state: InitialClusterState::Existing };
    ctx.platform.ensure_running(pod, &spec).await?;
    Ok(())
}

/// Asks the platform to replace the pod, once: the request is recorded first, so that
/// a crash right after it (or an answer lost on the way) never leads to a second one.
pub(super) async fn request_replace<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
) -> Result<(), ActError> {
    let replacement = recorded(history, pod)?;
    if replacement.requested_at.is_some() {
        // Asked already: once more only after an answer that was lost and a platform
        // that showed nothing of it (the planner's decision), never a third time.
        if replacement.uncertain.is_none() || replacement.asked_again {
            return Ok(());
        }
        replacement.asked_again = true;
    }
    replacement.requested_at = Some(ctx.now);
    replacement.uncertain = None;
    let forget = |h: &mut History| {
        if let Some(r) = h.in_flight.join_mut() {
            r.requested_at = None;
        }
    };
    let result = ask_recorded(ctx, history, ctx.platform.request_replace(pod), forget).await;
    if let Err(ActError::Platform(PlatformError::Uncertain(why))) = &result
        && let Some(r) = history.in_flight.join_mut()
    {
        r.uncertain = Some(why.to_string());
        ctx.store.put_history(ctx.name(), history)?;
    }
    result
}

/// Makes a request that `history` already records as made, writing the record first.
/// When the request certainly did not reach the platform, `forget` takes the record
/// back so that the next pass may ask again; any other failure keeps it: the request
/// may have been carried out (its answer may be what was lost), so it is never made
/// twice.
async fn ask_recorded<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    request: impl std::future::Future<Output = Result<(), PlatformError>>,
    forget: impl FnOnce(&mut History),
) -> Result<(), ActError> {
    ctx.store.put_history(ctx.name(), history)?;
    match request.await {
        Ok(()) => Ok(()),
        Err(error @ (PlatformError::Unreachable(_) | PlatformError::Cannot(_))) => {
            forget(history);
            ctx.store.put_history(ctx.name(), history)?;
            Err(error.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// Asks the platform, once, to grow the cluster: the admission and the request are
/// recorded first, so that a crash right after it never leads to a second one.
pub(super) async fn request_scale_up<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    members: usize,
    backup: &crate::domain::BackupId,
) -> Result<(), ActError> {
    let before = history.in_flight.clone();
    match history.in_flight.scale_up_mut().filter(|s| s.members == members && s.requested_at.is_some()) {
        Some(asked) => {
            // Asked already: once more only after an answer that was lost and a
            // platform that showed nothing of it (the planner's decision), never a
            // third time.
            if asked.uncertain.is_none() || asked.asked_again {
                return Ok(());
            }
            asked.asked_again = true;
            asked.uncertain = None;
            asked.requested_at = Some(ctx.now);
        }
        None => {
            let admission = ScaleAdmission::new(members, backup.clone(), Some(ctx.now));
            history.in_flight.begin_scale_up(admission, ctx.now)?;
        }
    }
    // The request certainly not made: the scale-up is abandoned, and the next pass
    // admits it again (behind a backup that is fresh then).
    let forget = |h: &mut History| {
        h.in_flight.end_if(crate::model::OperationKind::ScaleUp);
    };
    let result = ask_recorded(ctx, history, ctx.platform.request_scale_up(members), forget).await;
    match &result {
        // The platform cannot run that many members: nothing was sent; the count is
        // not asked for again until spec.members changes.
        Err(ActError::Platform(PlatformError::Cannot(why))) => {
            history.seen.platform_cannot_scale = Some((members, why.clone()));
        }
        // The answer was lost: settled by what the platform shows next.
        Err(ActError::Platform(PlatformError::Uncertain(why))) => {
            if let Some(asked) = history.in_flight.scale_up_mut() {
                asked.uncertain = Some(why.to_string());
            }
        }
        // Busy with a change of its own: nothing was sent; as it was before the call.
        Err(ActError::Platform(PlatformError::Busy(_))) => history.in_flight = before,
        _ => return result,
    }
    ctx.store.put_history(ctx.name(), history)?;
    result
}

/// Promotes a learner, retrying while etcd says it is not in sync yet.
pub(super) async fn promote<P: Platform>(
    ctx: &Context<'_, P>,
    id: MemberId,
    via: &str,
) -> Result<(), ActError> {
    let promote = || ctx.admin.promote(via, id);
    let catching_up = |e: &EtcdError| e.kind() == EtcdErrorKind::LearnerNotInSync;
    match promote.retry(short_backoff()).when(catching_up).notify(log_retry).await {
        // Promoted already (a retry after a lost answer, or a crash after the call).
        Err(e) if e.kind() == EtcdErrorKind::NotALearner => Ok(()),
        other => Ok(other?),
    }
}

/// The replacement of `pod` recorded in the history; a step about a replacement that is
/// not recorded (any more) fails, and the next pass plans again.
fn recorded(history: &mut History, pod: PodName) -> Result<&mut Replacement, ActError> {
    history
        .in_flight
        .join_mut()
        .filter(|r| r.pod == pod)
        .ok_or_else(|| ActError::Precondition(format!("no replacement of {pod} is recorded")))
}

/// Keeps the newest few snapshots taken before replacements.
fn prune_snapshots(dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("-before-replacing-"))
        .collect();
    files.sort();
    let excess = files.len().saturating_sub(KEEP_REPLACEMENT_SNAPSHOTS);
    for old in &files[..excess] {
        if let Err(error) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), %error, "cannot prune an old snapshot");
        }
    }
}

/// Records that `pod` joins the cluster as it grows.
pub(super) fn begin_scale_up<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    backup: &crate::domain::BackupId,
) -> Result<(), ActError> {
    let record = ctx.store.backups(ctx.name())?.into_iter().find(|r| &r.id == backup);
    let admission = ScaleAdmission::new(ctx.desired.members.get(), backup.clone(), None);
    history.in_flight.begin_scale_up(admission, ctx.now)?;
    history.in_flight.begin_join(Replacement::begun(
        JoinKind::ScaleUp,
        pod,
        record.as_ref().map_or(ctx.now, |r| r.taken_at),
        PathBuf::from(backup.as_str()),
        record.map_or(0, |r| r.revision),
    ))?;
    Ok(ctx.store.put_history(ctx.name(), history)?)
}

/// Stops a replacement learner that never answered and deletes its data; the learner
/// is then removed and added again (recorded first, so a crash keeps the intent).
pub(super) async fn rejoin<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
) -> Result<(), ActError> {
    let replacement = recorded(history, pod)?;
    replacement.rejoin = true;
    ctx.store.put_history(ctx.name(), history)?;
    Ok(ctx.platform.ensure_wiped(pod).await?)
}

/// Moves leadership to `to`, asking the current leader.
pub(super) async fn move_leader<P: Platform>(
    ctx: &Context<'_, P>,
    to: MemberId,
    via: &str,
) -> Result<(), ActError> {
    Ok(ctx.admin.move_leader(via, to).await?)
}

/// Stops a removed member, deletes its data and forgets its slot.
pub(super) async fn retire<P: Platform>(ctx: &Context<'_, P>, pod: PodName) -> Result<(), ActError> {
    ctx.platform.ensure_wiped(pod).await?;
    Ok(ctx.platform.ensure_forgotten(pod).await?)
}
