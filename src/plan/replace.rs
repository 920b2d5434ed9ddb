//! Scenario 4b: replace a permanently failed member while quorum holds; 4c: wait when
//! a majority is down on healthy agents; phantom members first.
//!
//! One step per pass, each confirmed by the next pass's observation:
//! snapshot a healthy member -> wipe the failed slot -> remove its old member -> add a
//! learner with the slot's peer URL -> launch it (`--initial-cluster-state existing`)
//! -> promote it once caught up. Every membership step checks quorum first.

use jiff::Timestamp;

use super::{Decision, Quorum, Rule, Step, window_end};
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::etcd::ListedMember;
use crate::model::platform::{AgentState, DataState, TaskState};
use crate::model::{History, JoinKind, Observed};

/// A learner is promoted once its revision reaches this share of the leader's.
const PROMOTE_AT: f64 = 0.9;
/// The longest pause between two launches of a replacement that fails to start.
const MAX_LAUNCH_BACKOFF_SECS: u64 = 300;

/// Why a slot needs replacing now, or when it will.
enum Due {
    Now(String),
    At(Timestamp, String),
}

fn due(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    pod: PodName,
    now: Timestamp,
) -> Option<Due> {
    let task = observed.platform.task(pod)?;
    if observed.is_healthy(pod) {
        return None;
    }
    let windows = &desired.recovery;
    if task.task == TaskState::Exited && super::restart::exhausted(desired, history, pod) {
        let count = history.seen.restarts.get(&pod).map_or(0, |r| r.count);
        return Some(Due::Now(format!(
            "{pod}: restarted in place {count} times without coming back healthy (maxRestarts {}); its slot counts as lost",
            windows.max_restarts
        )));
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
        let since = history.seen.unanswered_since.get(&pod).copied().unwrap_or(now);
        (since, windows.unresponsive_after, "its process runs but etcd does not answer")
    } else {
        return None;
    };
    let end = window_end(since, window);
    let window = humantime::format_duration(window);
    if now >= end {
        Some(Due::Now(format!("{pod}: {what} since {since} (window {window} passed)")))
    } else {
        Some(Due::At(end, format!("{pod}: {what} since {since}; replaced at {end} (window {window})")))
    }
}

/// Decides at most one replacement step, or the waits and refusals that stop it.
pub(super) fn decide(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
) -> Vec<Decision> {
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
    let url = |pod: PodName| observed.platform.task(pod).map(|t| t.peer_url.clone());
    let desired_urls: Vec<String> = desired.members.pods().filter_map(url).collect();
    let Some((_, via)) = observed.best_source() else { return Vec::new() };
    if !quorum.holds() {
        // A permanent loss is the restore rule's, decided before this one.
        let message = format!(
            "quorum lost ({}); the down members can still come back: waiting for them, no replacement",
            quorum.describe()
        );
        return vec![Decision::refuse(Rule::WaitForMembers, message)];
    }
    // A member that was added but never started, for no slot of ours, goes first.
    if let Some(phantom) =
        list.iter().find(|m| m.name.is_empty() && !m.peer_urls.iter().any(|u| desired_urls.contains(u)))
    {
        let step = Step::RemoveMember { pod: None, id: phantom.id, via };
        let message =
            format!("member {} was added but never started and belongs to no member slot", phantom.id);
        return vec![Decision::act(Rule::PhantomMember, step, message)];
    }
    let mut decisions = Vec::new();
    // A slot whose member answers as a healthy voter again needs no replacement, even
    // if one was started (it came back before its old member was touched).
    let healthy_voter = |pod: PodName| observed.endpoint(pod).is_some_and(|s| s.is_healthy_voter());
    // A replacement for a slot that is no longer desired is the scale-down's to abandon.
    let current = history
        .in_flight
        .replacement
        .as_ref()
        .map(|r| r.pod)
        .filter(|p| !healthy_voter(*p) && desired.members.pods().any(|d| d == *p));
    let target = current.or_else(|| {
        desired.members.pods().find(|p| matches!(due(desired, observed, history, *p, now), Some(Due::Now(_))))
    });
    for pod in desired.members.pods().filter(|p| Some(*p) != target) {
        if let Some(Due::At(until, message)) = due(desired, observed, history, pod, now) {
            decisions.push(Decision::wait(Rule::ReplaceLostMember, Some(until), message));
        }
    }
    let Some(pod) = target else { return decisions };
    let scaling =
        history.in_flight.replacement.as_ref().is_some_and(|r| r.pod == pod && r.kind == JoinKind::ScaleUp);
    let rule = if scaling { Rule::ScaleUp } else { Rule::ReplaceLostMember };
    let Some(peer_url) = url(pod) else { return decisions };
    let listed: Vec<&ListedMember> = list.iter().filter(|m| m.peer_urls.contains(&peer_url)).collect();
    let learner = listed.iter().find(|m| m.is_learner).copied();
    let old = listed.iter().find(|m| !m.is_learner).copied();
    let task = observed.platform.task(pod).map(|t| t.task);
    let why = match due(desired, observed, history, pod, now) {
        Some(Due::Now(m) | Due::At(_, m)) => m,
        None if scaling => format!("scaling up: {pod} joins the cluster"),
        None => format!("{pod}: replacement in progress"),
    };
    let step = if current != Some(pod) {
        let Some((from, endpoint)) = observed.best_source() else { return decisions };
        Step::SnapshotBeforeReplace { pod, from, endpoint }
    } else if learner.is_none() && task != Some(TaskState::NotLaunched) {
        Step::WipeMember { pod }
    } else if let Some(learner) = learner.filter(|_| rejoining(history)) {
        // The learner never answered and was wiped: it is removed and added again.
        Step::RemoveMember { pod: Some(pod), id: learner.id, via }
    } else if let Some(old) = old {
        if !quorum.holds_without(observed, old.id) {
            let message = format!("{why}; removing it would leave no quorum ({})", quorum.describe());
            decisions.push(Decision::refuse(rule, message));
            return decisions;
        }
        Step::RemoveMember { pod: Some(pod), id: old.id, via }
    } else if let Some(learner) = learner {
        match launch_or_promote(desired, observed, history, (pod, rule), learner, via, now) {
            Ok(step) => step,
            Err(decision) => {
                decisions.push(decision);
                return decisions;
            }
        }
    } else if list.iter().any(|m| m.is_learner) {
        let message = format!("{why}; another learner is still catching up: one new member at a time");
        decisions.push(Decision::wait(rule, None, message));
        return decisions;
    } else {
        Step::AddLearner { pod, peer_url, via }
    };
    decisions.push(Decision::act(rule, step, why));
    decisions
}

/// Whether the replacement's learner is to be removed and added again.
fn rejoining(history: &History) -> bool {
    history.in_flight.replacement.as_ref().is_some_and(|r| r.rejoin)
}

/// The learner of the slot exists: launch it (with backoff after failed starts), or
/// promote it once caught up.
fn launch_or_promote(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    (pod, rule): (PodName, Rule),
    learner: &ListedMember,
    via: String,
    now: Timestamp,
) -> Result<Step, Decision> {
    let task = observed.platform.task(pod).map(|t| t.task);
    let launches = history.in_flight.replacement.as_ref().map_or(0, |r| r.launches);
    if matches!(task, Some(TaskState::Running | TaskState::Suspended))
        && let Some(since) = history.seen.unanswered_since.get(&pod)
        && now >= window_end(*since, desired.recovery.unresponsive_after)
    {
        let message = format!(
            "the replacement {pod} runs but has not answered since {since} (unresponsiveAfter {}): it is wiped, removed and added again",
            humantime::format_duration(desired.recovery.unresponsive_after)
        );
        return Err(Decision::act(rule, Step::RejoinReplacement { pod }, message));
    }
    if matches!(task, Some(TaskState::NotLaunched | TaskState::Exited)) {
        let last = history.in_flight.replacement.as_ref().and_then(|r| r.last_launch);
        if let (Some(last), true) = (last, launches > 0) {
            let wait = (2u64 << (launches - 1).min(16)).min(MAX_LAUNCH_BACKOFF_SECS);
            let not_before = window_end(last, std::time::Duration::from_secs(wait));
            if now < not_before {
                let message = format!(
                    "the replacement {pod} exited after launch {launches}; launching again at {not_before} (it is not added again)"
                );
                return Err(Decision::wait(rule, Some(not_before), message));
            }
        }
        let initial_cluster = observed
            .member_list
            .iter()
            .flatten()
            .filter_map(|m| {
                let name = if m.id == learner.id { Some(pod) } else { m.name.parse().ok() };
                Some((name?, m.peer_urls.first()?.clone()))
            })
            .collect();
        return Ok(Step::LaunchReplacement { pod, initial_cluster });
    }
    let learner_rev = observed.endpoint(pod).map(|s| s.revision);
    let leader_rev =
        observed.endpoints.values().filter_map(|r| r.as_ref().ok()).find(|s| s.leader == Some(s.id));
    match (learner_rev, leader_rev) {
        (Some(rev), Some(leader)) if rev as f64 >= PROMOTE_AT * leader.revision as f64 => {
            Ok(Step::PromoteLearner { pod, id: learner.id, via })
        }
        _ => Err(Decision::wait(
            rule,
            None,
            format!("learner {pod} ({}) is catching up with the leader", learner.id),
        )),
    }
}
