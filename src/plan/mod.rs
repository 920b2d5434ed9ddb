//! PURE: `plan(desired, observed, history, now) -> Plan`.
//!
//! No async, no clock reads, no I/O. Each rule of SPEC section 3 is a named function;
//! every step and every refusal in a plan carries the rule that decided it, so that a
//! plan can be printed (`etcd-warden plan`), asserted on in tests and explained.

mod bootstrap;
mod defrag;
mod maintenance_window;
pub mod nospace;
mod quorum;
mod replace;
mod replace_window;
mod restart;
mod restore;
pub mod scale;
mod step;
mod types;

use quorum::Quorum;
pub use types::{Decision, Outcome, Plan, Rule, Step};

use jiff::Timestamp;

use crate::domain::PodName;
use crate::manifest::desired::{DesiredCluster, ReconcileMode};
use crate::model::{History, Observed};

/// Decides what the next pass does. Pure: the same inputs always give the same plan.
pub fn plan(desired: &DesiredCluster, observed: &Observed, history: &History, now: Timestamp) -> Plan {
    let mut decisions = Vec::new();
    if desired.reconcile == ReconcileMode::Paused {
        decisions.push(Decision::refuse(
            Rule::Paused,
            "spec.paused is true: observing and reporting only".to_owned(),
        ));
        return Plan { decisions };
    }
    if bootstrap::is_first_bootstrap(desired, observed, history) {
        if observed.capabilities.bootstrap {
            decisions.extend(bootstrap::decide(desired, observed, history, now));
        } else {
            let message = "the platform deploys the cluster itself: waiting for a quorum of its members, to adopt it; no bootstrap, no wipe".to_owned();
            decisions.push(Decision::wait(Rule::Bootstrap, None, message));
        }
        return Plan { decisions };
    }
    if let Some(restore) = restore::decide(desired, observed, history, now) {
        // A permanent quorum loss: only its own decisions stand.
        return Plan { decisions: restore };
    }
    decisions.extend(restart::decide(desired, observed, history, now));
    decisions.extend(replace::decide(desired, observed, history, now));
    if decisions.iter().all(|d| d.step().is_none()) {
        decisions.extend(scale::decide(desired, observed, history, now));
    }
    if decisions.iter().all(|d| d.step().is_none()) {
        decisions.extend(maintenance(desired, observed, history, now));
    }
    Plan { decisions }
}

/// Database maintenance, once nothing else acts and no membership change is in
/// flight: the NOSPACE alarm first, else routine defragmentation.
fn maintenance(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
) -> Vec<Decision> {
    let Some(list) = observed.member_list.as_deref() else { return Vec::new() };
    let busy = &history.in_flight;
    if busy.replacement.is_some() || busy.restore.is_some() || busy.scale.is_some() {
        return Vec::new();
    }
    if let Some(decisions) = nospace::decide(desired, observed, history, list, now) {
        return decisions;
    }
    defrag::decide(desired, observed, history, list, now)
}

/// When a window of `length` that started at `since` ends. An overflow means never,
/// so that a window can only ever delay an action.
fn window_end(since: Timestamp, length: std::time::Duration) -> Timestamp {
    jiff::SignedDuration::try_from(length)
        .ok()
        .and_then(|length| since.checked_add(length).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Every desired member's peer URL, when the platform knows them all.
fn initial_cluster(desired: &DesiredCluster, observed: &Observed) -> Option<Vec<(PodName, String)>> {
    desired.members.pods().map(|pod| observed.platform.task(pod).map(|t| (pod, t.peer_url.clone()))).collect()
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod properties_maintenance;
#[cfg(test)]
mod properties_membership;
#[cfg(test)]
mod properties_safety;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_maintenance;
#[cfg(test)]
mod tests_platform;
#[cfg(test)]
mod tests_replace;
#[cfg(test)]
mod tests_safety;
#[cfg(test)]
mod tests_scale_restore;
