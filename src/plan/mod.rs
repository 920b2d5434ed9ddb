//! PURE: `plan(desired, observed, history, now) -> Plan`.
//!
//! No async, no clock reads, no I/O. Each rule of SPEC section 3 is a named function;
//! every step and every refusal in a plan carries the rule that decided it, so that a
//! plan can be printed (`etcd-warden plan`), asserted on in tests and explained.

pub mod admission;
mod bootstrap;
mod defrag;
mod maintenance_window;
pub mod nospace;
mod quorum;
mod replace;
mod replace_window;
mod restart;
mod restore;
mod rolling;
mod rollout;
pub mod scale;
mod step;
mod types;
mod view;

use quorum::Quorum;
pub use types::{Decision, Outcome, Plan, Rule, Step};
use view::View;

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
    // One view of the pass, read by every rule.
    let view = View::new(desired, observed, history, now);
    if bootstrap::is_first_bootstrap(&view) {
        if observed.capabilities.bootstrap {
            decisions.extend(bootstrap::decide(&view));
        } else {
            let message = "the platform deploys the cluster itself: waiting for a quorum of its members, to adopt it; no bootstrap, no wipe".to_owned();
            decisions.push(Decision::wait(Rule::Bootstrap, None, message));
        }
        return Plan { decisions };
    }
    if let Some(refusal) = unknown_voters(&view) {
        decisions.push(refusal);
    }
    if let Some(stuck) = stuck(desired, observed, history, now) {
        decisions.push(stuck);
    }
    if let Some(restore) = restore::decide(&view) {
        // A permanent quorum loss: only its own decisions stand.
        decisions.extend(restore);
        return Plan { decisions: rollout::hold(decisions, observed.platform.rollout.as_ref()) };
    }
    decisions.extend(restart::decide(&view));
    decisions.extend(replace::decide(&view));
    if decisions.iter().all(|d| d.step().is_none()) {
        decisions.extend(scale::decide(&view));
    }
    if decisions.iter().all(|d| d.step().is_none()) {
        decisions.extend(maintenance(&view));
    }
    Plan { decisions: rollout::hold(decisions, observed.platform.rollout.as_ref()) }
}

/// When `op` is past its deadline: its attempt's `recovery.bootstrapTimeout` for a first
/// bootstrap, `recovery.operationDeadline` from its beginning for any other (what
/// `operation-stuck` judges by, and what status and the metrics show).
pub fn deadline(desired: &DesiredCluster, op: &crate::model::Operation) -> Timestamp {
    let length = match op {
        crate::model::Operation::Bootstrap(_) => desired.recovery.bootstrap_timeout,
        _ => desired.recovery.operation_deadline,
    };
    window_end(op.begun_at(), length)
}

/// The operation in flight, once it has run past `recovery.operationDeadline`: what is
/// stuck and what a person can do. It goes on (a large database may take long to
/// catch up); the bootstrap has its own timeout per attempt.
fn stuck(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
) -> Option<Decision> {
    use crate::model::Operation;
    let op = history.in_flight.operation.as_ref()?;
    if matches!(op, Operation::Bootstrap(_)) || now < deadline(desired, op) {
        return None;
    }
    let name = &desired.name;
    let (what, todo) = match op {
        Operation::Replace(r) => match observed.platform.task(r.pod).and_then(|t| t.step.as_ref()) {
            // The platform replaces it (DC/OS: `pod replace`), and its own step for the
            // slot is not done: that step is what to read.
            Some(step) => (
                format!("the replacement of {}", r.pod),
                format!(
                    "the platform reports {step}; read that step's task log (`dcos task log`), and the plan (`etcd-warden plan {name}`); the replacement is not asked for again"
                ),
            ),
            None => (
                format!("the replacement of {}", r.pod),
                format!(
                    "read {}'s log and the plan (`etcd-warden plan {name}`): a learner that never catches up, a platform that never launches it, or a disk that is full",
                    r.pod
                ),
            ),
        },
        Operation::ScaleUp(s) => (
            format!("the scale-up to {} members", s.admission.members),
            format!(
                "read the plan (`etcd-warden plan {name}`) and the new members' logs; to give it up, apply spec.members back to the count before"
            ),
        ),
        Operation::ScaleDown(s) => (
            format!("the scale-down to {} members", s.members),
            format!(
                "read the plan (`etcd-warden plan {name}`): a removal etcd refuses, or a member that will not leave"
            ),
        ),
        Operation::Restore(r) => (
            format!("the restore ({} attempts so far)", r.attempts),
            format!(
                "read the RestoreFailed and ReadSurvivor events and the members' logs; restore by hand with `etcd-warden restore {name} --from ID`"
            ),
        ),
        Operation::Bootstrap(_) => return None,
    };
    let message = format!(
        "{what} began at {} and is not done past its deadline ({}, spec.recovery.operationDeadline); it goes on. {todo}",
        op.begun_at(),
        humantime::format_duration(desired.recovery.operation_deadline)
    );
    Some(Decision::refuse(Rule::OperationStuck, message))
}

/// Voters that belong to no member slot: they answer at no slot's client URL, no slot
/// was ever seen as them, and etcd lists no slot's client URL for them. Never counted as
/// lost (so never a reason to restore), and never removed automatically: a person
/// decides.
fn unknown_voters(view: &View) -> Option<Decision> {
    let unknown: Vec<String> = view
        .members
        .unknown_voters()
        .map(|m| {
            let name =
                if m.name.is_empty() { "never started".to_owned() } else { format!("name {}", m.name) };
            format!("member {} ({name}, peer URLs {})", m.id, m.peer_urls.join(" "))
        })
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let (is_a_voter, it, it_is) =
        if unknown.len() == 1 { ("is a voter", "it", "It is") } else { ("are voters", "them", "They are") };
    let message = format!(
        "{} {is_a_voter} of the cluster but of no member slot: no slot's client URL answers as {it}, no slot was seen as {it}, and etcd lists no slot's client URL for {it}. {it_is} never counted as lost. If it is gone for good, remove it by hand (`etcdctl member remove ID`); if it is one of ours, check the slots' client URLs (spec.platform host or endpoints)",
        unknown.join("; "),
    );
    Some(Decision::refuse(Rule::UnknownMember, message))
}

/// Maintenance, once nothing else acts and no membership change is in flight: a
/// rolling restart that applies a changed quota first (a quota raised under a NOSPACE
/// alarm is what clears it), then the NOSPACE alarm, else routine defragmentation.
fn maintenance(view: &View) -> Vec<Decision> {
    if view.observed.member_list.is_none() || view.history.in_flight.operation.is_some() {
        return Vec::new();
    }
    let mut decisions = rolling::decide(view);
    if decisions.iter().all(|d| d.step().is_none()) {
        match nospace::decide(view) {
            Some(nospace) => decisions.extend(nospace),
            None => decisions.extend(defrag::decide(view)),
        }
    }
    wait_for_slow_members(view, decisions)
}

/// A step that pauses a member (a defragmentation, a restart, a leader move before
/// one) waits while a member does not serve reads promptly: a defragmentation the
/// controller gave up on goes on inside etcd, and a second member paused meanwhile
/// could cost the quorum its writes.
fn wait_for_slow_members(view: &View, decisions: Vec<Decision>) -> Vec<Decision> {
    let pauses = |d: &Decision| {
        matches!(
            d.step(),
            Some(Step::Defragment { .. } | Step::RestartMember { .. } | Step::MoveLeader { .. })
        )
    };
    let slow: Vec<String> = view
        .observed
        .platform
        .tasks
        .iter()
        .filter(|t| view.observed.endpoint(t.pod).is_some_and(|s| s.slow_reads))
        .map(|t| t.pod.to_string())
        .collect();
    if slow.is_empty() || !decisions.iter().any(pauses) {
        return decisions;
    }
    decisions
        .into_iter()
        .map(|d| {
            if !pauses(&d) {
                return d;
            }
            let message = format!(
                "{}; it waits: {} answers its status but no read within 250 ms (a defragmentation the controller gave up on goes on inside etcd, or it is overloaded), and no other member is paused meanwhile",
                d.message,
                slow.join(", ")
            );
            Decision::wait(d.rule, None, message)
        })
        .collect()
}

/// How long the platform has to show a request whose answer was lost (DC/OS: a
/// replacement's `permanently-failed` label, set as the request is taken; a scale-up's
/// deploy plan rolling) before the request counts as not made and is asked once more.
const UNCERTAIN_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// `base` doubled `times` times, at most `max` (or `base` when that is longer): the
/// pause of a back-off.
fn doubled(base: std::time::Duration, times: u32, max: std::time::Duration) -> std::time::Duration {
    base.saturating_mul(1u32 << times.min(16)).min(max.max(base))
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
mod tests;
