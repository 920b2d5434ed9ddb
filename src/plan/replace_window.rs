//! When a slot is replaced (scenario 4b): its failure window, and the snapshot taken
//! ahead of the window's end.
//!
//! A slot whose data is gone can only come back by a replacement, so its verified
//! snapshot may be taken in the last [`SNAPSHOT_AHEAD`] of its window: it is ready when
//! the window ends. Nothing that changes the slot or the membership happens before
//! then, and a snapshot taken earlier than `SNAPSHOT_AHEAD` before the window's end (a
//! window that started again after a controller restart) is taken again.

use std::time::Duration;

use jiff::Timestamp;

use super::window_end;
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::capabilities::RestartBy;
use crate::model::platform::{AgentState, DataState, PlatformRecovery, TaskState};
use crate::model::{History, JoinKind, Observed};

/// How long before a lost slot's window ends its snapshot may be taken, and how much
/// older than the window's end a snapshot may be when the first change is made.
pub(super) const SNAPSHOT_AHEAD: Duration = Duration::from_secs(10);

/// Why a slot needs replacing now, or when it will.
pub(super) enum Due {
    /// Replaced now. `ended` is when its window ended; none when it has no window (its
    /// restarts in place are used up).
    Now { why: String, ended: Option<Timestamp> },
    /// Replaced at `end`. `ahead` when its snapshot may be taken now, before `end`:
    /// its data is gone and the window ends within [`SNAPSHOT_AHEAD`].
    At { end: Timestamp, why: String, ahead: bool },
}

impl Due {
    /// Why the slot is (or will be) replaced.
    pub(super) fn why(&self) -> &str {
        match self {
            Self::Now { why, .. } | Self::At { why, .. } => why,
        }
    }
}

/// Why `pod` needs replacing now, or when it will; none when it does not.
pub(super) fn due(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    pod: PodName,
    now: Timestamp,
) -> Option<Due> {
    let task = observed.platform.task(pod)?;
    if observed.is_healthy(pod) || task.recovery != PlatformRecovery::None {
        // A slot the platform is rebuilding is followed, never replaced again; one an
        // operator paused is theirs until they resume it.
        return None;
    }
    let windows = &desired.recovery;
    if let Some(due) = crash_loop(desired, observed, history, pod, now) {
        return Some(due);
    }
    if task.task == TaskState::Exited && super::view::restarts_used_up(desired, observed, history, pod) {
        let count = history.seen.restarts.get(&pod).map_or(0, |r| r.count);
        let why = format!(
            "{pod}: restarted in place {count} times without coming back healthy (maxRestarts {}); its slot counts as lost",
            windows.max_restarts
        );
        return Some(Due::Now { why, ended: None });
    }
    let data_gone =
        task.agent == AgentState::Lost || (task.task == TaskState::Exited && task.data == DataState::Missing);
    let (since, window, what) = if data_gone {
        (
            history.seen.lost_since.get(&pod).or(history.seen.down_since.get(&pod)).copied().unwrap_or(now),
            windows.agent_lost_after,
            "its data is gone (no WAL and database, or its agent is lost)",
        )
    } else if matches!(task.task, TaskState::Running | TaskState::Suspended) {
        if observed.vouched_for(&history.seen, pod) {
            // Its metrics port names the slot's member and a leader: etcd runs in its
            // cluster, and only the controller's client connection to it fails. Never
            // replaced for that (a replace discards a healthy member's data); status
            // says what fails.
            return None;
        }
        let since = history.seen.unanswered_since.get(&pod).copied().unwrap_or(now);
        (since, windows.unresponsive_after, "its process runs but etcd does not answer")
    } else {
        return None;
    };
    let end = window_end(since, window);
    let window = humantime::format_duration(window);
    if now >= end {
        let why = format!("{pod}: {what} since {since} (window {window} passed)");
        Some(Due::Now { why, ended: Some(end) })
    } else {
        let why = format!("{pod}: {what} since {since}; replaced at {end} (window {window})");
        Some(Due::At { end, why, ahead: data_gone && end <= window_end(now, SNAPSHOT_AHEAD) })
    }
}

/// A member the platform relaunches by itself (DC/OS), again and again, and that never
/// answers healthy: a corrupt WAL or a failing disk on a healthy agent. Its relaunches
/// count toward `maxRestarts`; once they are used up and it has not answered healthy
/// for `unresponsiveAfter`, across the relaunches, its slot counts as lost. Judged on
/// the relaunches, not the task state, which flaps between running and failed.
fn crash_loop(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    pod: PodName,
    now: Timestamp,
) -> Option<Due> {
    if observed.capabilities.restart != RestartBy::PlatformThenAskOnce {
        return None;
    }
    let windows = &desired.recovery;
    let seen = history.seen.relaunches.get(&pod).filter(|r| r.count >= windows.max_restarts)?;
    let end = window_end(seen.since, windows.unresponsive_after);
    let what = format!(
        "{pod}: relaunched {} times by the platform without answering healthy since {} (maxRestarts {}, unresponsiveAfter {}): it fails in a loop on its agent",
        seen.count,
        seen.since,
        windows.max_restarts,
        humantime::format_duration(windows.unresponsive_after)
    );
    Some(if now >= end {
        Due::Now { why: format!("{what}; its slot counts as lost"), ended: Some(end) }
    } else {
        Due::At { end, why: format!("{what}; replaced at {end}"), ahead: false }
    })
}

/// What holds back the first change of a replacement whose snapshot is taken: the
/// slot's window has not ended (the snapshot was taken ahead of it), the slot no
/// longer looks failed, or the snapshot is older than [`SNAPSHOT_AHEAD`] before the
/// window's end and is taken again. None: the first change may be made.
pub(super) enum Hold {
    /// Wait for the window's end (`until`), or for the slot to fail again (none).
    Wait { until: Option<Timestamp>, why: String },
    /// The snapshot is too old for the window that ended: take it again.
    Resnapshot,
}

/// Whether the first change of the replacement of `pod` waits (see [`Hold`]).
pub(super) fn hold(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    pod: PodName,
    now: Timestamp,
) -> Option<Hold> {
    let replacement = history.in_flight.join().filter(|r| r.pod == pod)?;
    if replacement.kind != JoinKind::Replace {
        return None;
    }
    let taken = replacement.snapshot_at;
    match due(desired, observed, history, pod, now) {
        Some(Due::At { end, why, .. }) => Some(Hold::Wait {
            until: Some(end),
            why: format!("{why}; its snapshot is taken ({taken}): nothing is changed before the window ends"),
        }),
        None => Some(Hold::Wait {
            until: None,
            why: format!(
                "{pod} no longer looks failed; its snapshot is taken ({taken}), but nothing is changed"
            ),
        }),
        Some(Due::Now { ended: Some(end), .. }) if window_end(taken, SNAPSHOT_AHEAD) < end => {
            Some(Hold::Resnapshot)
        }
        Some(Due::Now { .. }) => None,
    }
}
