//! The platform rolling its members on purpose (DC/OS: the SDK's `deploy` plan after a
//! Cosmos update kills and relaunches each etcd pod, then adds any new one). A member
//! down meanwhile is on its way back: asking the platform to restart or replace it, or
//! removing a member, would fight the rollout (in the 1 → 3 window it can cost the
//! single voter). So while the rollout runs every step is held, as a wait that says
//! what the platform is doing; the windows go on counting, and the first pass after
//! the rollout decides on what is then seen.

use super::{Decision, Outcome};
use crate::model::platform::Rollout;

/// `decisions` with every step turned into a wait while `rollout` runs.
pub(super) fn hold(decisions: Vec<Decision>, rollout: Option<&Rollout>) -> Vec<Decision> {
    let Some(rollout) = rollout else { return decisions };
    decisions
        .into_iter()
        .map(|d| match &d.outcome {
            Outcome::Act { step } => {
                let message = format!(
                    "held while the platform rolls its members itself ({rollout}): no restart, replacement, membership change or update until that is COMPLETE; then: {} ({})",
                    step.name(),
                    d.message
                );
                Decision::wait(d.rule, None, message)
            }
            _ => d,
        })
        .collect()
}
