//! Scenarios 3a and 4a: a member whose process died while its agent and data are
//! intact is started again in place, after `restartGrace`. Same member ID, same data,
//! no membership change.
//!
//! Only on intact data (a WAL and a database): a directory alone is not data. Restarts
//! back off (`restartGrace`, then doubling up to 5 minutes) and are counted; after
//! `maxRestarts` restarts that did not bring the member back healthy, the slot counts
//! as lost and the replacement (4b) or restore (3b) rules take it.

use std::time::Duration;

use jiff::Timestamp;

use super::view::View;
use super::{Decision, Rule, Step, initial_cluster, window_end};
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::History;
use crate::model::capabilities::RestartBy;
use crate::model::platform::{AgentState, DataState, PlatformRecovery, TaskState};

/// The longest pause between two restarts in place.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(300);
/// How often a running member that does not answer healthy is looked at: first soon
/// (etcd answers, or its cluster elects a leader, within a second or two), then less
/// often, at most this far apart.
const START_POLL: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));

/// The pause before the next restart after `failed` restarts that did not bring the
/// member back: `restartGrace`, then twice as long each time, at most 5 minutes (or
/// `restartGrace` when that is longer).
pub(super) fn backoff(desired: &DesiredCluster, failed: u32) -> Duration {
    let grace = desired.recovery.restart_grace;
    if failed == 0 {
        grace
    } else {
        super::doubled(grace.max(Duration::from_secs(1)), failed, MAX_RESTART_BACKOFF)
    }
}

/// The member slots the restart rule looks after: the desired ones, and any other slot
/// whose member is still a voter (a scale-down in progress restarts, never restores).
fn slots(view: &View) -> Vec<PodName> {
    let voter_of = |pod: PodName| view.members.of(pod).any(|m| !m.is_learner);
    let desired = |pod: PodName| view.desired.members.pods().any(|p| p == pod);
    view.observed.platform.tasks.iter().map(|t| t.pod).filter(|p| desired(*p) || voter_of(*p)).collect()
}

/// One decision per crashed member on a healthy agent.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let initial = initial_cluster(desired, observed).unwrap_or_default();
    let max = desired.recovery.max_restarts;
    let mut decisions = Vec::new();
    for pod in slots(view) {
        let Some(task) = observed.platform.task(pod) else { continue };
        // A replacement that changed nothing yet never holds back a restart in place.
        let replacing =
            history.in_flight.join().is_some_and(|r| r.pod == pod) && !view.untouched_replacement(pod);
        // Rebuilt by the platform, or paused there by an operator: not ours to restart.
        let rebuilding = task.recovery != PlatformRecovery::None;
        if replacing || rebuilding {
            continue;
        }
        if task.task == TaskState::Running && !observed.is_healthy(pod) {
            decisions.push(look_again(pod, history, now));
            continue;
        }
        if task.task != TaskState::Exited || task.agent != AgentState::Healthy {
            continue;
        }
        if let Some(answer) = observed.endpoint(pod) {
            // Whoever answers at the slot's client URL is running, whatever the platform
            // says: a second process is never started on its port and data.
            let message = format!(
                "the platform says {pod} exited, but member {} answers at its client URL: not restarted; waiting for the platform to see it",
                answer.id
            );
            decisions.push(Decision::wait(Rule::RestartInPlace, None, message));
            continue;
        }
        if let DataState::Unreadable(why) = &task.data {
            let message = format!(
                "{pod} is down and its data directory cannot be read ({why}); not restarted and not wiped: fix the directory's permissions or disk"
            );
            decisions.push(Decision::refuse(Rule::RestartInPlace, message));
            continue;
        }
        if !task.data.allows_restart() || super::view::restarts_used_up(desired, observed, history, pod) {
            // Lost: the replacement and restore rules decide.
            continue;
        }
        if observed.capabilities.restart == RestartBy::PlatformThenAskOnce {
            decisions.push(ask_once(desired, history, pod, now));
            continue;
        }
        let failed = history.seen.restarts.get(&pod).map_or(0, |r| r.count);
        let since = history.seen.down_since.get(&pod).copied().unwrap_or(now);
        let from = history.seen.restarts.get(&pod).map_or(since, |r| r.last.max(since));
        let wait = backoff(desired, failed);
        let due = window_end(from, wait);
        let pause = humantime::format_duration(wait);
        if now >= due {
            let step =
                Step::RestartInPlace { pod, initial_cluster: initial.clone(), attempt: failed + 1, of: max };
            let message = format!(
                "{pod} has been down since {since} with its data intact; restart {} of {max} after {pause}",
                failed + 1
            );
            decisions.push(Decision::act(Rule::RestartInPlace, step, message));
        } else {
            let message = format!(
                "{pod} is down with its data intact; restart {} of {max} at {due} (after {pause})",
                failed + 1
            );
            decisions.push(Decision::wait(Rule::RestartInPlace, Some(due), message));
        }
    }
    decisions
}

/// A member that runs and does not answer healthy (just restarted, or its cluster
/// electing a leader) is looked at again soon, whatever the resync, so that its
/// recovery shows in the status as soon as it holds. The pause is half the time since
/// it was restarted or stopped answering, within [`START_POLL`]; the replacement rule
/// keeps its own window for a member that never comes back.
fn look_again(pod: PodName, history: &History, now: Timestamp) -> Decision {
    let restarted = history.seen.restarts.get(&pod).map(|r| r.last);
    let since = restarted.or_else(|| history.seen.unanswered_since.get(&pod).copied()).unwrap_or(now);
    let elapsed = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
    let pause = (elapsed / 2).clamp(START_POLL.0, START_POLL.1);
    let message = match restarted {
        Some(last) => format!("{pod} was restarted at {last} and does not answer yet; looked at again soon"),
        None => format!("{pod} runs and has not answered healthy since {since}; looked at again soon"),
    };
    Decision::wait(Rule::RestartInPlace, Some(window_end(now, pause)), message)
}

/// Where the platform restarts members itself: after `restartGrace`, ask it once to
/// restart the pod; then leave it to the platform.
fn ask_once(desired: &DesiredCluster, history: &History, pod: PodName, now: Timestamp) -> Decision {
    let since = history.seen.down_since.get(&pod).copied().unwrap_or(now);
    if let Some(asked) = history.seen.restarts.get(&pod) {
        let message = format!(
            "{pod} has been down since {since}; the platform was asked to restart it at {}; it restarts it by itself (never replaced for this alone)",
            asked.last
        );
        return Decision::wait(Rule::RestartInPlace, None, message);
    }
    let due = window_end(since, desired.recovery.restart_grace);
    if now >= due {
        let message = format!(
            "{pod} has been down since {since} and the platform has not restarted it: asking it once"
        );
        Decision::act(Rule::RestartInPlace, Step::RequestRestart { pod }, message)
    } else {
        let message =
            format!("{pod} is down; the platform restarts it by itself; asked at {due} if still down");
        Decision::wait(Rule::RestartInPlace, Some(due), message)
    }
}
