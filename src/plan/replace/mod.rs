//! Scenario 4b: replace a permanently failed member while quorum holds; 4c: wait when
//! a majority is down on healthy agents; phantom members first.
//!
//! One step per pass, each confirmed by the next pass's observation:
//! snapshot a healthy member -> wipe the failed slot -> remove its old member -> add a
//! learner with the slot's peer URL -> launch it (`--initial-cluster-state existing`)
//! -> promote it once caught up. Every membership step checks quorum first.

use jiff::Timestamp;

mod learner;

use super::replace_window::{Due, Hold, due, hold};
use super::view::View;
use super::{Decision, Quorum, Rule, Step, window_end};
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::capabilities::ReplaceBy;
use crate::model::etcd::ListedMember;
use crate::model::membership::Membership;
use crate::model::platform::{PlatformRecovery, TaskState};
use crate::model::{History, JoinKind, Observed};
use learner::{add_learner, with_learner};

/// A learner is promoted once its revision reaches this share of the leader's.
const PROMOTE_AT: f64 = 0.9;
/// How often a learner that catches up is looked at, so that it is promoted soon
/// after it can be, whatever the resync interval.
const CATCH_UP_POLL: std::time::Duration = std::time::Duration::from_millis(200);
/// How often the members are looked at while they elect a leader.
const ELECTION_POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// The longest pause between two launches of a replacement that fails to start.
const MAX_LAUNCH_BACKOFF_SECS: u64 = 300;

/// What every phase of one pass reads: the inputs, the member list and its quorum.
struct Pass<'a> {
    desired: &'a DesiredCluster,
    observed: &'a Observed,
    history: &'a History,
    now: Timestamp,
    list: &'a [ListedMember],
    /// Who is who in `list`.
    members: &'a Membership<'a>,
    quorum: Quorum,
    /// The best healthy voter: snapshots come from it, membership calls go through it.
    source: (PodName, String),
}

impl Pass<'_> {
    /// The peer URL the platform launches the slot's member with, when it knows it: the
    /// URL a new member of the slot is added with.
    fn peer_url(&self, pod: PodName) -> Option<String> {
        self.observed.platform.task(pod).map(|t| t.peer_url.clone())
    }

    /// The endpoint membership calls go through.
    fn via(&self) -> String {
        self.source.1.clone()
    }

    /// The endpoint a learner is added through: the member the list was read from,
    /// which has applied the removal the list shows (etcd 3.4 answers "unhealthy
    /// cluster" on a member that still counts the removed voter), when it answers as a
    /// healthy voter; else the best source.
    fn add_via(&self) -> String {
        let from = self
            .observed
            .member_list_from
            .filter(|pod| self.observed.endpoint(*pod).is_some_and(|s| s.is_healthy_voter()));
        match from.and_then(|pod| self.observed.platform.task(pod)) {
            Some(task) => task.client_url.clone(),
            None => self.via(),
        }
    }

    /// Why `pod` needs replacing now, or when it will.
    fn due(&self, pod: PodName) -> Option<Due> {
        due(self.desired, self.observed, self.history, pod, self.now)
    }
}

/// The slot being replaced, and what the member list says of it.
struct Slot<'a> {
    pod: PodName,
    /// `ScaleUp` when the new member joins for a scale-up, else `ReplaceLostMember`.
    rule: Rule,
    /// Whether a replacement of this slot is already in flight (its snapshot is taken).
    started: bool,
    peer_url: String,
    /// The new member of the slot: a learner, or without learners (etcd 3.3) the voter
    /// the history recorded.
    learner: Option<&'a ListedMember>,
    /// The failed member: the slot's voter.
    old: Option<&'a ListedMember>,
    task: Option<TaskState>,
    /// Why the slot is replaced: the message of its steps, the start of its refusals.
    why: String,
}

impl<'a> Slot<'a> {
    /// The slot `pod` as the member list shows it; none when its peer URL is unknown.
    fn of(pass: &Pass<'a>, pod: PodName, started: bool) -> Option<Self> {
        let replacement = pass.history.in_flight.join();
        let scaling = replacement.is_some_and(|r| r.pod == pod && r.kind == JoinKind::ScaleUp);
        let peer_url = pass.peer_url(pod)?;
        let listed: Vec<&ListedMember> = pass.members.of(pod).collect();
        let why = match pass.due(pod) {
            Some(due) => due.why().to_owned(),
            None if scaling => format!("scaling up: {pod} joins the cluster"),
            None => format!("{pod}: replacement in progress"),
        };
        let added = replacement.filter(|r| r.pod == pod).and_then(|r| r.added_voter);
        // Without learners (etcd 3.3) the new voter is told from the failed one by its
        // recorded ID, or, when a crash lost the ID, as the member the slot is joining.
        let joining = pass.members.joining(pod).map(|m| m.id);
        let new = |m: &&&ListedMember| m.is_learner || Some(m.id) == added || Some(m.id) == joining;
        Some(Self {
            pod,
            rule: if scaling { Rule::ScaleUp } else { Rule::ReplaceLostMember },
            started,
            learner: listed.iter().find(new).copied(),
            old: listed.iter().find(|m| !new(m)).copied(),
            peer_url,
            task: pass.observed.platform.task(pod).map(|t| t.task),
            why,
        })
    }

    /// The slot's next step, explained by why the slot is replaced.
    fn act(&self, step: Step) -> Decision {
        Decision::act(self.rule, step, self.why.clone())
    }
}

/// Decides at most one replacement step, or the waits and refusals that stop it.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    if desired.members.get() < 3 {
        return Vec::new();
    }
    let Some(list) = observed.member_list.as_deref() else {
        return vec![Decision::wait(
            Rule::WaitForMembers,
            None,
            "no member answers: waiting for members on healthy agents; no membership change without a quorum"
                .into(),
        )];
    };
    let quorum = Quorum::of(observed, list);
    let Some(source) = observed.best_source() else { return Vec::new() };
    if !quorum.holds() {
        // A permanent loss is the restore rule's, decided before this one.
        let message = format!(
            "quorum lost ({}); the down members can still come back: waiting for them, no replacement",
            quorum.describe()
        );
        return vec![Decision::refuse(Rule::WaitForMembers, message)];
    }
    let pass = Pass { desired, observed, history, now, list, members: &view.members, quorum, source };
    if let Some(phantom) = phantom_member(&pass) {
        return vec![with_leader(observed, now, phantom)];
    }
    let current = in_flight(&pass);
    let target = current.or_else(|| first_due(&pass));
    let mut decisions = waits(&pass, target);
    if let (None, Some(pod), Some(running)) = (current, target, history.in_flight.kind())
        && !history.in_flight.replace_may_begin()
    {
        // One operation at a time: the replacement begins once the one in flight ends.
        let message = format!("{pod} is due for replacement; it begins once {running} in flight ends");
        decisions.push(Decision::wait(Rule::ReplaceLostMember, None, message));
        return decisions;
    }
    let Some(slot) = target.and_then(|pod| Slot::of(&pass, pod, current == Some(pod))) else {
        return decisions;
    };
    decisions.push(with_leader(observed, now, next_step(&pass, &slot)));
    decisions
}

/// A membership change waits while no member that answers is the leader: right after
/// the leader was lost, the survivors still name it until they elect another, and
/// etcd forwards a change to it and never answers (the call times out).
fn with_leader(observed: &Observed, now: Timestamp, decision: Decision) -> Decision {
    let leads = |s: &crate::model::etcd::EndpointStatus| s.is_healthy_voter() && s.leader == Some(s.id);
    let led = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).any(leads);
    match decision.step() {
        Some(step) if step.changes_membership() && !led => {
            let message = format!(
                "{}; no member that answers is the leader (an election after the leader was lost): the membership change waits for one",
                decision.message
            );
            Decision::wait(decision.rule, Some(window_end(now, ELECTION_POLL)), message)
        }
        _ => decision,
    }
}

/// A member that was added but never started, for no slot of ours, goes first. Never
/// while the platform rebuilds a slot or was asked to grow the cluster (DC/OS): the
/// member its own replacement has just added is not started yet either, and is its own.
fn phantom_member(pass: &Pass) -> Option<Decision> {
    let in_flight = &pass.history.in_flight;
    let platform_busy =
        pass.observed.platform.tasks.iter().any(|t| t.recovery == PlatformRecovery::Replacing)
            || in_flight.join().is_some_and(|r| r.requested_at.is_some())
            || in_flight.scale_up().is_some_and(|s| s.requested_at.is_some());
    if platform_busy {
        return None;
    }
    let phantom = pass.members.unknown().iter().find(|m| m.name.is_empty())?;
    let step = Step::RemoveMember { pod: None, id: phantom.id, via: pass.via() };
    let message = format!("member {} was added but never started and belongs to no member slot", phantom.id);
    Some(Decision::act(Rule::PhantomMember, step, message))
}

/// The slot of the replacement in flight, while it still needs one: a slot whose member
/// answers as a healthy voter again came back before its old member was touched, and a
/// slot no longer desired is the scale-down's to abandon.
fn in_flight(pass: &Pass) -> Option<PodName> {
    let healthy_voter = |pod: PodName| pass.observed.endpoint(pod).is_some_and(|s| s.is_healthy_voter());
    let pod = pass.history.in_flight.join()?.pod;
    (!healthy_voter(pod) && pass.desired.members.pods().any(|d| d == pod)).then_some(pod)
}

/// The first desired slot whose window has passed, else the first whose snapshot may
/// be taken ahead of its window's end: the next replacement to start.
fn first_due(pass: &Pass) -> Option<PodName> {
    let find = |now: bool| {
        pass.desired.members.pods().find(|p| match pass.due(*p) {
            Some(Due::Now { .. }) => now,
            Some(Due::At { ahead, .. }) => !now && ahead,
            None => false,
        })
    };
    find(true).or_else(|| find(false))
}

/// A wait for every other slot whose window is still running, and for every slot the
/// platform is rebuilding on its own.
fn waits(pass: &Pass, target: Option<PodName>) -> Vec<Decision> {
    let rebuilding = |pod: PodName| {
        pass.observed.platform.task(pod).is_some_and(|t| t.recovery == PlatformRecovery::Replacing)
    };
    let paused = |pod: PodName| {
        pass.observed.platform.task(pod).is_some_and(|t| t.recovery == PlatformRecovery::Paused)
    };
    pass.desired
        .members
        .pods()
        .filter(|p| Some(*p) != target)
        .filter_map(|pod| match pass.due(pod) {
            Some(Due::At { end, why, .. }) => Some(Decision::wait(Rule::ReplaceLostMember, Some(end), why)),
            _ if rebuilding(pod) => {
                let message = format!("the platform is replacing {pod}: following it, no step of ours");
                Some(Decision::wait(Rule::ReplaceLostMember, None, message))
            }
            _ if paused(pod) => {
                let message = format!(
                    "{pod} is paused on the platform by an operator (DC/OS `pod pause`, the SDK's debugging procedure): never restarted or replaced until it is resumed (`pod resume {pod}`)"
                );
                Some(Decision::wait(Rule::ReplaceLostMember, None, message))
            }
            _ => None,
        })
        .collect()
}

/// The state machine: the first phase whose step is not done yet decides. Each step is
/// confirmed by the next pass's observation.
fn next_step(pass: &Pass, slot: &Slot) -> Decision {
    if !slot.started {
        return snapshot(pass, slot);
    }
    let first_change = if pass.observed.capabilities.replace == ReplaceBy::Platform {
        pass.history.in_flight.join().is_some_and(|r| r.requested_at.is_none())
    } else {
        slot.learner.is_none() && slot.task != Some(TaskState::NotLaunched)
    };
    if first_change {
        // The first change of the slot or the membership: its window must have ended.
        match hold(pass.desired, pass.observed, pass.history, slot.pod, pass.now) {
            Some(Hold::Wait { until, why }) => return Decision::wait(slot.rule, until, why),
            Some(Hold::Resnapshot) => return snapshot(pass, slot),
            None => {}
        }
    }
    if pass.observed.capabilities.replace == ReplaceBy::Platform {
        by_platform(pass, slot)
    } else if slot.learner.is_none() && slot.task != Some(TaskState::NotLaunched) {
        wipe(slot)
    } else if let Some(learner) = slot.learner.filter(|_| rejoining(pass.history)) {
        remove_learner(pass, slot, learner)
    } else if let Some(old) = slot.old {
        remove_old(pass, slot, old)
    } else if let Some(learner) = slot.learner {
        with_learner(pass, slot, learner)
    } else {
        add_learner(pass, slot)
    }
}

/// Starts the replacement: a snapshot of the best healthy member, before anything changes.
fn snapshot(pass: &Pass, slot: &Slot) -> Decision {
    let (from, endpoint) = pass.source.clone();
    slot.act(Step::SnapshotBeforeReplace { pod: slot.pod, from, endpoint })
}

/// Where the platform replaces pods and changes membership itself: ask it once, then
/// follow it until the slot's member is a healthy voter (the history then ends the
/// replacement). A crash right after the request never asks again: the request is
/// recorded before it is made.
fn by_platform(pass: &Pass, slot: &Slot) -> Decision {
    let requested = pass.history.in_flight.join().and_then(|r| r.requested_at);
    let task = pass.observed.platform.task(slot.pod);
    let rebuilding = task.is_some_and(|t| t.recovery == PlatformRecovery::Replacing);
    // The platform's own step for the slot, as it reports it (a failing `recover` loops
    // for ever: DELAYED, PENDING, relaunched; rule `operation-stuck` quotes it past the
    // deadline).
    let step =
        task.and_then(|t| t.step.as_ref()).map(|s| format!("; the platform reports {s}")).unwrap_or_default();
    match requested {
        None if !rebuilding => slot.act(Step::RequestReplace { pod: slot.pod }),
        None => {
            let message = format!(
                "{}; the platform is already replacing {} by itself: following it{step}",
                slot.why, slot.pod
            );
            Decision::wait(slot.rule, None, message)
        }
        Some(at) => {
            match pass.history.in_flight.join().and_then(|r| r.uncertain.as_ref().map(|u| (u, r.asked_again)))
            {
                // The answer was lost and the platform shows no replacement of the slot:
                // not made, once the platform has had time to show it; asked once more.
                Some((why, false)) if !rebuilding => {
                    let settled = super::window_end(at, super::UNCERTAIN_FOR);
                    if pass.now >= settled {
                        let message = format!(
                            "{}; the replace of {} asked at {at} got no certain answer ({why}) and the platform shows no replacement of it by {settled}: it was not made; asked once more",
                            slot.why, slot.pod
                        );
                        Decision::act(slot.rule, Step::RequestReplace { pod: slot.pod }, message)
                    } else {
                        let message = format!(
                            "{}; the replace of {} asked at {at} got no certain answer ({why}): settled by what the platform shows (a replacement running: made; none by {settled}: asked once more)",
                            slot.why, slot.pod
                        );
                        Decision::wait(slot.rule, Some(settled), message)
                    }
                }
                _ => {
                    let message = format!(
                        "{}; the platform replaces {} (asked at {at}): following it until the new member is a healthy voter{step}",
                        slot.why, slot.pod
                    );
                    Decision::wait(slot.rule, None, message)
                }
            }
        }
    }
}

/// Wipes the slot's data, so that the new member starts empty, not as the old one.
fn wipe(slot: &Slot) -> Decision {
    slot.act(Step::WipeMember { pod: slot.pod })
}

/// Whether the replacement's learner is to be removed and added again.
fn rejoining(history: &History) -> bool {
    history.in_flight.join().is_some_and(|r| r.rejoin)
}

/// The learner never answered and was wiped: it is removed, to be added again. A new
/// voter (etcd 3.3) only while a quorum holds without it.
fn remove_learner(pass: &Pass, slot: &Slot, learner: &ListedMember) -> Decision {
    if !learner.is_learner && !pass.quorum.holds_without(pass.observed, learner.id) {
        let message = format!("{}; removing it would leave no quorum ({})", slot.why, pass.quorum.describe());
        return Decision::refuse(slot.rule, message);
    }
    slot.act(Step::RemoveMember { pod: Some(slot.pod), id: learner.id, via: pass.via() })
}

/// Removes the failed member, only while a quorum holds without it.
fn remove_old(pass: &Pass, slot: &Slot, old: &ListedMember) -> Decision {
    if !pass.quorum.holds_without(pass.observed, old.id) {
        let message = format!("{}; removing it would leave no quorum ({})", slot.why, pass.quorum.describe());
        return Decision::refuse(slot.rule, message);
    }
    slot.act(Step::RemoveMember { pod: Some(slot.pod), id: old.id, via: pass.via() })
}
