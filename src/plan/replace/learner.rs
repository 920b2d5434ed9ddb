//! The learner phases of a replacement or a scale-up: add the learner, launch it,
//! rejoin it when it never answers, promote it once caught up.

use jiff::Timestamp;

use super::{CATCH_UP_POLL, Due, MAX_LAUNCH_BACKOFF_SECS, PROMOTE_AT, Pass, Slot};
use crate::model::History;
use crate::model::etcd::ListedMember;
use crate::model::platform::TaskState;
use crate::plan::{Decision, Step, window_end};

/// Adds the new member as a learner with the slot's peer URL; one learner at a time.
pub(super) fn add_learner(pass: &Pass, slot: &Slot) -> Decision {
    if pass.list.iter().any(|m| m.is_learner) {
        let message = format!("{}; another learner is still catching up: one new member at a time", slot.why);
        return Decision::wait(slot.rule, None, message);
    }
    if let Some(blocked) = disconnected_voter(pass, slot) {
        return blocked;
    }
    let (pod, peer_url, via) = (slot.pod, slot.peer_url.clone(), pass.add_via());
    if pass.observed.capabilities.learners {
        return slot.act(Step::AddLearner { pod, peer_url, via });
    }
    // etcd 3.3: the new member votes from the start, and counts as down until it has
    // caught up.
    if !pass.quorum.holds_with_one_more() {
        let message = format!(
            "{}; a member runs etcd older than 3.4 (no learners), so {pod} would join as a voter that does not answer yet, and the cluster would lose its quorum ({}): waiting for the other members",
            slot.why,
            pass.quorum.describe()
        );
        return Decision::refuse(slot.rule, message);
    }
    slot.act(Step::AddMember { pod, peer_url, via })
}

/// etcd's strict reconfiguration check refuses any member add, learner or voter
/// ("unhealthy cluster"), while a voter is disconnected. A disconnected voter whose own
/// slot is due for replacement now (its data gone, or its window passed) leaves the
/// membership first, while a quorum holds without it: its slot's replacement comes
/// next and finds it removed. Any other disconnected voter is waited for, saying why.
fn disconnected_voter(pass: &Pass, slot: &Slot) -> Option<Decision> {
    let answers =
        |id| pass.observed.endpoints.values().any(|r| r.as_ref().is_ok_and(|s| s.id == id && s.is_healthy()));
    let silent: Vec<&ListedMember> = pass.list.iter().filter(|m| !m.is_learner && !answers(m.id)).collect();
    let first = silent.first()?;
    let lost = silent.iter().find_map(|m| {
        let other = pass.members.slot_of(m.id).filter(|p| *p != slot.pod)?;
        matches!(pass.due(other), Some(Due::Now { .. })).then_some((other, *m))
    });
    if let Some((other, member)) = lost
        && pass.quorum.holds_without(pass.observed, member.id)
    {
        let message = format!(
            "{}; {other} is lost too and its member {} does not answer: it leaves the membership first, since etcd refuses a member add while a voter is disconnected",
            slot.why, member.id
        );
        let step = Step::RemoveMember { pod: Some(other), id: member.id, via: pass.via() };
        return Some(Decision::act(slot.rule, step, message));
    }
    let who =
        pass.members.slot_of(first.id).map_or_else(|| format!("member {}", first.id), |p| p.to_string());
    let (voting, healthy) = pass.observed.voters_of(pass.list);
    let message = format!(
        "{}; {} joins once every voter answers: etcd refuses a member add while one is disconnected ({who} does not answer; {healthy} of {voting} voters do)",
        slot.why, slot.pod
    );
    Some(Decision::wait(slot.rule, None, message))
}

/// The learner of the slot exists: rejoin it when it runs but never answers, launch it
/// while it does not run, promote it once it runs.
pub(super) fn with_learner(pass: &Pass, slot: &Slot, learner: &ListedMember) -> Decision {
    if matches!(slot.task, Some(TaskState::Running | TaskState::Suspended))
        && let Some(since) = pass.history.seen.unanswered_since.get(&slot.pod)
        && pass.now >= window_end(*since, pass.desired.recovery.unresponsive_after)
    {
        rejoin(pass, slot, *since)
    } else if matches!(slot.task, Some(TaskState::NotLaunched | TaskState::Exited)) {
        launch(pass, slot, learner)
    } else {
        promote(pass, slot, learner)
    }
}

/// The replacement runs but has not answered since `since`, past `unresponsiveAfter`:
/// it is wiped, removed and added again.
fn rejoin(pass: &Pass, slot: &Slot, since: Timestamp) -> Decision {
    let pod = slot.pod;
    let message = format!(
        "the replacement {pod} runs but has not answered since {since} (unresponsiveAfter {}): it is wiped, removed and added again",
        humantime::format_duration(pass.desired.recovery.unresponsive_after)
    );
    Decision::act(slot.rule, Step::RejoinReplacement { pod }, message)
}

/// Launches the learner with `--initial-cluster-state existing`; after a failed start,
/// again once its backoff has passed (it is not added again).
fn launch(pass: &Pass, slot: &Slot, learner: &ListedMember) -> Decision {
    let pod = slot.pod;
    if let Some((launches, not_before)) = relaunch_at(pass.history)
        && pass.now < not_before
    {
        let message = format!(
            "the replacement {pod} exited after launch {launches}; launching again at {not_before} (it is not added again)"
        );
        return Decision::wait(slot.rule, Some(not_before), message);
    }
    let initial_cluster = pass
        .list
        .iter()
        .filter_map(|m| {
            let name = if m.id == learner.id {
                Some(pod)
            } else {
                pass.members.slot_of(m.id).or_else(|| m.name.parse().ok())
            };
            Some((name?, m.peer_urls.first()?.clone()))
        })
        .collect();
    slot.act(Step::LaunchReplacement { pod, initial_cluster })
}

/// After `launches` launches, the earliest time of the next one: 2 s, doubling up to
/// 5 minutes. None before the first launch.
fn relaunch_at(history: &History) -> Option<(u32, Timestamp)> {
    let replacement = history.in_flight.join()?;
    let (launches, last) = (replacement.launches, replacement.last_launch?);
    if launches == 0 {
        return None;
    }
    let wait = (2u64 << (launches - 1).min(16)).min(MAX_LAUNCH_BACKOFF_SECS);
    Some((launches, window_end(last, std::time::Duration::from_secs(wait))))
}

/// Promotes the learner once its revision reaches `PROMOTE_AT` of the leader's, so that
/// it votes only once it has (nearly) caught up. A voting member added without learners
/// (etcd 3.3) is waited for until it answers as a healthy voter.
fn promote(pass: &Pass, slot: &Slot, learner: &ListedMember) -> Decision {
    let pod = slot.pod;
    if !learner.is_learner {
        let message = format!("new voting member {pod} ({}) is starting and catching up", learner.id);
        return Decision::wait(slot.rule, Some(window_end(pass.now, CATCH_UP_POLL)), message);
    }
    let learner_rev = pass.observed.endpoint(pod).map(|s| s.revision);
    let leader_rev =
        pass.observed.endpoints.values().filter_map(|r| r.as_ref().ok()).find(|s| s.leader == Some(s.id));
    match (learner_rev, leader_rev) {
        (Some(rev), Some(leader)) if rev as f64 >= PROMOTE_AT * leader.revision as f64 => {
            slot.act(Step::PromoteLearner { pod, id: learner.id, via: pass.via() })
        }
        _ => Decision::wait(
            slot.rule,
            Some(window_end(pass.now, CATCH_UP_POLL)),
            format!("learner {pod} ({}) is catching up with the leader", learner.id),
        ),
    }
}
