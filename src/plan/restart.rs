//! Scenarios 3a and 4a: a member whose process died while its agent and data are
//! intact is started again in place, after `restartGrace`. Same member ID, same data,
//! no membership change.

use jiff::Timestamp;

use super::{Decision, Rule, Step, initial_cluster, window_end};
use crate::manifest::DesiredCluster;
use crate::observe::platform::{AgentState, TaskState};
use crate::observe::{History, Observed};

/// One decision per crashed member on a healthy agent.
pub(super) fn decide(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
) -> Vec<Decision> {
    let initial = initial_cluster(desired, observed).unwrap_or_default();
    let mut decisions = Vec::new();
    for pod in desired.members.pods() {
        let Some(task) = observed.platform.task(pod) else { continue };
        let replacing = history.replacement.as_ref().is_some_and(|r| r.pod == pod);
        if task.task != TaskState::Exited || task.agent != AgentState::Healthy || replacing {
            continue;
        }
        let since = history.down_since.get(&pod).copied().unwrap_or(now);
        let due = window_end(since, desired.recovery.restart_grace);
        if now >= due {
            let step = Step::RestartInPlace { pod, initial_cluster: initial.clone() };
            let message = format!(
                "{pod} has been down since {since} with its data intact; restartGrace {} has passed",
                humantime::format_duration(desired.recovery.restart_grace)
            );
            decisions.push(Decision::act(Rule::RestartInPlace, step, message));
        } else {
            let message = format!(
                "{pod} is down with its data intact; restarting in place at {due} (restartGrace {})",
                humantime::format_duration(desired.recovery.restart_grace)
            );
            decisions.push(Decision::wait(Rule::RestartInPlace, Some(due), message));
        }
    }
    decisions
}
