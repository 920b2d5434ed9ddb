//! Defragmentation (rule `5-defragment`): a member whose database is mostly free pages
//! (after the client compacted) gets them back to the file system.
//!
//! One member per pass, never two at once: followers first, the leader last, after
//! leadership moved to a healthy follower; only while every voter is healthy and the
//! cluster tolerates a failure (a defragmenting member pauses), and `pauseBetweenMembers`
//! after the previous one. A single member pauses the whole cluster, so it is
//! defragmented only inside its maintenance window. The controller never compacts:
//! which history to drop is the client's decision.

use super::view::View;
use jiff::Timestamp;

use super::{Decision, Quorum, Rule, Step, maintenance_window, window_end};
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::Observed;
use crate::model::etcd::{EndpointStatus, ListedMember, human_bytes};

/// The members that answer and are listed, with their status, in pod order.
pub(super) fn members<'a>(
    observed: &'a Observed,
    list: &[ListedMember],
) -> Vec<(PodName, &'a EndpointStatus)> {
    observed
        .platform
        .tasks
        .iter()
        .filter_map(|t| observed.endpoint(t.pod).map(|s| (t.pod, s)))
        .filter(|(_, s)| list.iter().any(|m| m.id == s.id))
        .collect()
}

fn is_leader(status: &EndpointStatus) -> bool {
    status.leader == Some(status.id)
}

/// The next step towards defragmenting `candidates` in a cluster of several voters:
/// a follower first; the leader only when it is the last, after leadership moved.
/// Refused unless every voter is healthy and the cluster tolerates a pause.
pub(super) fn next_of_many(
    observed: &Observed,
    list: &[ListedMember],
    candidates: &[(PodName, &EndpointStatus)],
    rule: Rule,
    why: &str,
) -> Option<Decision> {
    let defragment = |pod: PodName, endpoint: String, status: &EndpointStatus| Step::Defragment {
        pod,
        endpoint,
        db_size_before: status.db_size_bytes,
    };
    one_member_at_a_time(observed, list, candidates, rule, why, defragment)
}

/// The next step of a maintenance that pauses `candidates` one at a time in a cluster
/// of several voters (`pause` makes the step for a member, its client URL and status):
/// a follower first; the leader only when it is the last, after leadership moved to
/// the healthy voter with the highest revision. Refused unless every voter is healthy
/// and the cluster tolerates a pause.
pub(super) fn one_member_at_a_time(
    observed: &Observed,
    list: &[ListedMember],
    candidates: &[(PodName, &EndpointStatus)],
    rule: Rule,
    why: &str,
    pause: impl Fn(PodName, String, &EndpointStatus) -> Step,
) -> Option<Decision> {
    let quorum = Quorum::of(observed, list);
    if !quorum.tolerates_a_pause() {
        let message = format!(
            "{why}: waits until every voter is healthy and the cluster tolerates a failure ({})",
            quorum.describe()
        );
        return Some(Decision::refuse(rule, message));
    }
    let client_url = |pod: PodName| observed.platform.task(pod).map(|t| t.client_url.clone());
    if let Some((pod, status)) = candidates.iter().find(|(_, s)| !is_leader(s) && s.is_healthy()) {
        let step = pause(*pod, client_url(*pod)?, status);
        return Some(Decision::act(rule, step, format!("{why}: {pod} first, a follower")));
    }
    let (leader, _) = candidates.iter().find(|(_, s)| is_leader(s))?;
    let successor = members(observed, list)
        .into_iter()
        .filter(|(pod, s)| pod != leader && s.is_healthy_voter())
        .max_by_key(|(pod, s)| (s.revision, std::cmp::Reverse(*pod)))
        .map(|(_, s)| s.id)?;
    let message = format!("{why}: {leader} leads, so leadership moves first (the leader goes last)");
    Some(Decision::act(
        rule,
        Step::MoveLeader { from: *leader, to: successor, via: client_url(*leader)? },
        message,
    ))
}

/// Whether the routine thresholds make `status` worth defragmenting.
fn qualifies(desired: &DesiredCluster, status: &EndpointStatus) -> bool {
    let settings = &desired.maintenance.defragmentation;
    let reclaimable = status.reclaimable_bytes();
    reclaimable > 0
        && status.fragmentation() >= settings.min_fragmentation
        && u64::try_from(reclaimable).is_ok_and(|r| r >= settings.min_reclaimable_bytes)
}

/// Decides the routine defragmentation of one member, if one qualifies.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let Some(list) = observed.member_list.as_deref() else { return Vec::new() };
    let settings = &desired.maintenance.defragmentation;
    if !settings.enabled {
        return Vec::new();
    }
    let candidates: Vec<_> =
        members(observed, list).into_iter().filter(|(_, s)| qualifies(desired, s)).collect();
    let Some((first, status)) = candidates.first() else { return Vec::new() };
    let why = format!(
        "{first}'s database is {} with {} reclaimable ({:.0}% free pages; minFragmentation {:.0}%, minReclaimable {})",
        human_bytes(status.db_size_bytes),
        human_bytes(status.reclaimable_bytes()),
        status.fragmentation() * 100.0,
        settings.min_fragmentation * 100.0,
        human_bytes(i64::try_from(settings.min_reclaimable_bytes).unwrap_or(i64::MAX)),
    );
    if let Some(last) = history.seen.last_defragmentation() {
        let until = window_end(last, settings.pause_between_members);
        if now < until {
            let message = format!("{why}: waiting pauseBetweenMembers after the last defragmentation");
            return vec![Decision::wait(Rule::Defragment, Some(until), message)];
        }
    }
    let (voting, _) = observed.voters_of(list);
    if voting > 1 {
        return next_of_many(observed, list, &candidates, Rule::Defragment, &why).into_iter().collect();
    }
    single(desired, observed, *first, status, now, &why)
}

/// A single member stops serving while it defragments: only inside its window.
fn single(
    desired: &DesiredCluster,
    observed: &Observed,
    pod: PodName,
    status: &EndpointStatus,
    now: Timestamp,
    why: &str,
) -> Vec<Decision> {
    let window = desired.maintenance.defragmentation.window.as_ref();
    if let Some(not_now) =
        maintenance_window::closed_to_a_single_member(window, now, Rule::Defragment, "defragmented", why)
    {
        return vec![not_now];
    }
    if !status.is_healthy() {
        return Vec::new();
    }
    let Some(task) = observed.platform.task(pod) else { return Vec::new() };
    let step =
        Step::Defragment { pod, endpoint: task.client_url.clone(), db_size_before: status.db_size_bytes };
    vec![Decision::act(Rule::Defragment, step, format!("{why}: inside the maintenance window"))]
}
