//! Scenario 2 and scale-down: changing the member count behind a fresh verified backup.
//!
//! Scale-up starts one slot at a time (`BeginScaleUp`); `replace.rs` then takes it
//! through learner add, launch and promotion. Scale-down removes one member at a time,
//! the highest slot first, moving leadership away first when that slot leads.
//!
//! A platform that grows the cluster itself (DC/OS) is asked once, behind the same
//! gate (`RequestScaleUp`), and followed; it cannot shrink, so a scale-down is refused.

use jiff::Timestamp;

use super::view::View;
use super::{Decision, Quorum, Rule, Step, UNCERTAIN_FOR, window_end};
use crate::domain::{BackupId, PodName};
use crate::manifest::desired::{DesiredCluster, ScaleUpPolicy};
use crate::model::capabilities::ScaleUpBy;
use crate::model::catalog;
use crate::model::etcd::ListedMember;
use crate::model::platform::TaskState;
use crate::model::{History, Observed, ScaleAdmission};

/// The fresh verified backup a member count change needs, or the decision that
/// stands instead (take one first, or refuse).
fn gate(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
    what: &str,
) -> Result<BackupId, Decision> {
    let Some(policy) = &desired.backup else {
        return Err(Decision::refuse(
            Rule::ScaleBlocked,
            format!("{what} needs a verified backup, and spec.backup is not set; add a backup destination"),
        ));
    };
    let records = &observed.backups.records;
    // A member count change admitted by a fresh backup finishes on it, however long
    // it takes.
    if let Some(admitted) = history.in_flight.admitted_backup(desired.members.get())
        && records.iter().any(|r| r.verified && &r.id == admitted)
    {
        return Ok(admitted.clone());
    }
    // Only a backup of this cluster's lineage admits it (`model::lineage`).
    if let Some(fresh) = catalog::fresh(&history.seen.lineage.filter(records), policy.fresh_for, now) {
        return Ok(fresh.id.clone());
    }
    if desired.policy.scale_up == ScaleUpPolicy::BackupFirst {
        return Err(Decision::act(
            Rule::ScaleUp,
            Step::TakeBackup,
            format!("{what}: policy.scaleUp is BackupFirst and no verified backup is fresh"),
        ));
    }
    Err(Decision::refuse(Rule::ScaleBlocked, refusal(desired, records, now, what)))
}

/// The sentence of a refused member count change: how old the newest verified backup
/// is, what `freshFor` asks, and what to run.
pub fn refusal(
    desired: &DesiredCluster,
    records: &[catalog::BackupRecord],
    now: Timestamp,
    what: &str,
) -> String {
    let fresh_for = desired.backup.as_ref().map(|b| b.fresh_for).unwrap_or_default();
    let newest = match catalog::newest_verified(records) {
        Some(r) => {
            let age = humantime::format_duration(std::time::Duration::from_secs(r.age(now).as_secs()));
            format!("the newest verified backup ({}) is {age} old", r.id)
        }
        None => "there is no verified backup".to_owned(),
    };
    format!(
        "{what} is refused: it needs a verified backup younger than {} (spec.backup.freshFor) and {newest}; run `etcd-warden backup {}` and apply again, or set spec.policy.scaleUp: BackupFirst",
        humantime::format_duration(fresh_for),
        desired.name
    )
}

/// Decides the next scale step, if the member count differs from the desired one.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let Some(list) = observed.member_list.as_deref() else { return Vec::new() };
    if let Some(joining) = history.in_flight.join() {
        if desired.members.pods().any(|p| p == joining.pod) {
            return Vec::new();
        }
        return abandon(view, joining.pod);
    }
    if observed.capabilities.scale_up == ScaleUpBy::Platform {
        return by_platform(desired, observed, history, list, now);
    }
    let count = desired.members.get();
    let missing = desired.members.pods().find(|p| {
        observed
            .platform
            .task(*p)
            .is_some_and(|t| t.task == TaskState::NotLaunched && !view.members.lists(*p))
    });
    if let Some(pod) = missing {
        let quorum = Quorum::of(observed, list);
        if !observed.capabilities.learners && !quorum.holds_with_one_more() {
            let message = format!(
                "cannot scale {} up to {count} members: a member runs etcd older than 3.4 (no learners), so {pod} would join as a voter that does not answer yet and the cluster would lose its quorum ({}); upgrade etcd to 3.4 or later",
                desired.name,
                quorum.describe()
            );
            return vec![Decision::refuse(Rule::ScaleNeedsLearners, message)];
        }
        let what = format!("scaling {} up to {count} members ({pod} joins)", desired.name);
        return vec![match gate(desired, observed, history, now, &what) {
            Ok(backup) => Decision::act(Rule::ScaleUp, Step::BeginScaleUp { pod, backup }, what),
            Err(decision) => decision,
        }];
    }
    scale_down(view, list)
}

/// Where the platform adds members itself: the pods it runs are the member count.
/// Fewer than desired: one request behind the gate, then follow; more: refused.
fn by_platform(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    list: &[ListedMember],
    now: Timestamp,
) -> Vec<Decision> {
    let count = desired.members.get();
    let running = observed.platform.tasks.len();
    if running > count {
        let message = format!(
            "{} runs {running} members and spec asks for {count}: this platform cannot remove members (the package does not support turning high availability off); set spec.highAvailability back to true",
            desired.name
        );
        return vec![Decision::refuse(Rule::ScaleDown, message)];
    }
    if running == count {
        return Vec::new();
    }
    let (voters, _) = observed.voters_of(list);
    if voters >= count {
        // A scheduler that lists fewer pods than etcd has voters is not to be believed
        // (it may have just restarted): growing the cluster again would be wrong.
        let message = format!(
            "the platform lists {running} member pods and etcd lists {voters} voters: waiting for the platform to list them all"
        );
        return vec![Decision::wait(Rule::ScaleUp, None, message)];
    }
    if let Some((_, why)) = history.seen.platform_cannot_scale.as_ref().filter(|(n, _)| *n == count) {
        let message = format!(
            "cannot scale {} up to {count} members: {why}; nothing was sent and nothing is asked again until spec.members changes",
            desired.name
        );
        return vec![Decision::refuse(Rule::ScaleBeyondPlatform, message)];
    }
    let what = format!("scaling {} up from {running} to {count} members", desired.name);
    let admitted = history.in_flight.scale_up().filter(|s| s.members == count);
    if let Some((at, admission)) = admitted.and_then(|s| s.requested_at.map(|at| (at, s))) {
        return vec![asked(admission, at, now, &what)];
    }
    vec![match gate(desired, observed, history, now, &what) {
        Ok(backup) => Decision::act(Rule::ScaleUp, Step::RequestScaleUp { members: count, backup }, what),
        Err(decision) => decision,
    }]
}

/// A scale-up the platform was asked for at `at`: followed; when the answer was lost,
/// settled by what the platform shows (the history clears `uncertain` once its deploy
/// plan rolls), and asked once more when it shows nothing by [`UNCERTAIN_FOR`].
fn asked(admission: &ScaleAdmission, at: Timestamp, now: Timestamp, what: &str) -> Decision {
    let Some(why) = admission.uncertain.as_ref().filter(|_| !admission.asked_again) else {
        let message = format!(
            "{what}: the platform was asked at {at} and adds the members itself; following it, never asking again"
        );
        return Decision::wait(Rule::ScaleUp, None, message);
    };
    let settled = window_end(at, UNCERTAIN_FOR);
    if now < settled {
        let message = format!(
            "{what}: the request asked at {at} got no certain answer ({why}): settled by what the platform shows (its deploy plan rolling: made; nothing by {settled}: asked once more)"
        );
        return Decision::wait(Rule::ScaleUp, Some(settled), message);
    }
    let message = format!(
        "{what}: the request asked at {at} got no certain answer ({why}) and the platform shows no rollout by {settled}: it was not made; asked once more, never while the platform deploys a change of its own"
    );
    let step = Step::RequestScaleUp { members: admission.members, backup: admission.backup.clone() };
    Decision::act(Rule::ScaleUp, step, message)
}

/// A replacement or scale-up of a slot that is no longer desired: its learner is
/// removed (never promoted), then the join is forgotten and scale-down retires the slot.
fn abandon(view: &View, pod: PodName) -> Vec<Decision> {
    let observed = view.observed;
    if observed.platform.task(pod).is_none() {
        let message = format!("{pod} is no longer desired and the platform no longer knows it");
        return vec![Decision::act(Rule::ScaleDown, Step::AbandonJoin { pod }, message)];
    }
    match view.members.of(pod).find(|m| m.is_learner) {
        Some(learner) => {
            let Some((_, via)) = observed.best_source_other_than(Some(pod)) else { return Vec::new() };
            let message = format!("{pod} is no longer desired: its learner is removed, not promoted");
            let step = Step::RemoveMember { pod: Some(pod), id: learner.id, via };
            vec![Decision::act(Rule::ScaleDown, step, message)]
        }
        None => {
            let message = format!("{pod} is no longer desired: its join is abandoned");
            vec![Decision::act(Rule::ScaleDown, Step::AbandonJoin { pod }, message)]
        }
    }
}

/// One step of a scale-down: retire slots already removed, else remove the highest
/// extra member (moving leadership first if it leads).
fn scale_down(view: &View, list: &[ListedMember]) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let count = desired.members.get();
    let extra: Vec<PodName> =
        observed.platform.tasks.iter().map(|t| t.pod).filter(|p| usize::from(p.index()) >= count).collect();
    let Some(&pod) = extra.iter().max() else { return Vec::new() };
    let Some(task) = observed.platform.task(pod) else { return Vec::new() };
    let Some(member) = view.members.voter(pod).or_else(|| view.members.member(pod)) else {
        let message = format!("{pod} was removed from the cluster; its slot is retired");
        return vec![Decision::act(Rule::ScaleDown, Step::RetireMember { pod }, message)];
    };
    let what = format!("scaling {} down to {count} members ({pod} leaves)", desired.name);
    let backup = match gate(desired, observed, history, now, &what) {
        Ok(backup) => backup,
        Err(decision) => return vec![decision],
    };
    if history.in_flight.admitted_backup(count).is_none() {
        // Begun, and recorded, before its first membership change.
        return vec![Decision::act(Rule::ScaleDown, Step::BeginScaleDown { members: count, backup }, what)];
    }
    // Never through the member that leaves.
    let Some((_, via)) = observed.best_source_other_than(Some(pod)) else { return Vec::new() };
    let leader = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).find_map(|s| s.leader);
    if leader == Some(member.id) {
        let successor = desired
            .members
            .pods()
            .filter_map(|p| observed.endpoint(p).filter(|s| s.is_healthy_voter()).map(|s| s.id))
            .next();
        let Some(to) = successor else { return Vec::new() };
        let leader_url = task.client_url.clone();
        let message = format!("{what}: {pod} leads, so leadership moves first (never the leader first)");
        return vec![Decision::act(
            Rule::ScaleDown,
            Step::MoveLeader { from: pod, to, via: leader_url },
            message,
        )];
    }
    if !Quorum::of(observed, list).holds_without(observed, member.id) {
        let message = format!("{what}: refused, removing it would leave no quorum");
        return vec![Decision::refuse(Rule::ScaleDown, message)];
    }
    vec![Decision::act(Rule::ScaleDown, Step::RemoveMember { pod: Some(pod), id: member.id, via }, what)]
}
