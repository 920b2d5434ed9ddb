//! Computes a status from one pass: the observation, the history, the plan.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ClusterStatus, Condition, ConditionStatus, ConditionType, LastAction, LastBackup, MemberStatus, Phase,
    QuorumStatus, Reason, Role, TaskStatus,
};
use crate::domain::{Generation, PodName};
use crate::manifest::desired::{DesiredCluster, ReconcileMode};
use crate::model::membership::Membership;
use crate::model::platform::{AgentState, DataState, PlatformRecovery, TaskObservation, TaskState};
use crate::model::{History, Observed, OperationKind};
use crate::plan::{Outcome, Plan, Rule};

/// What the status is computed from.
pub struct StatusInputs<'a> {
    /// The desired state.
    pub desired: &'a DesiredCluster,
    /// Its generation.
    pub generation: Generation,
    /// This pass's observation.
    pub observed: &'a Observed,
    /// Facts seen over time.
    pub history: &'a History,
    /// This pass's plan.
    pub plan: &'a Plan,
    /// The steps this pass took and how each ended (empty before acting).
    pub taken: &'a [super::TakenStep],
    /// The last step taken (this pass or earlier).
    pub last_action: Option<LastAction>,
    /// The last log lines of members that fail to start (bootstrap, replacement, or a
    /// restart in place that did not bring them back).
    pub logs: BTreeMap<PodName, Vec<String>>,
}

impl StatusInputs<'_> {
    /// Every member's last log lines, each prefixed with its member.
    fn log_lines(&self) -> String {
        let lines =
            self.logs.iter().flat_map(|(pod, lines)| lines.iter().map(move |l| format!("{pod}: {l}")));
        lines.collect::<Vec<_>>().join("\n")
    }
}

fn member_status(
    pod: PodName,
    inputs: &StatusInputs<'_>,
    members: &Membership<'_>,
    previous: Option<&ClusterStatus>,
) -> Option<MemberStatus> {
    let observed = inputs.observed;
    let task = observed.platform.task(pod)?;
    let endpoint = observed.endpoint(pod);
    // The slot's member in the member list of this pass (or else the last one seen),
    // known by its ID.
    let listed = members.member(pod);
    let before = previous.and_then(|p| p.members.iter().find(|m| m.pod == pod));
    let id = endpoint.map(|e| e.id).or(listed.map(|m| m.id));
    let last_role = || match listed {
        Some(m) if m.is_learner => Some(Role::Learner),
        Some(m) => before.filter(|b| b.id == Some(m.id)).and_then(|b| b.role).or(Some(Role::Follower)),
        None => None,
    };
    let role = endpoint
        .map(|e| {
            if e.is_learner {
                Role::Learner
            } else if e.leader == Some(e.id) {
                Role::Leader
            } else {
                Role::Follower
            }
        })
        .or_else(last_role);
    let state = task_state_name(task);
    Some(MemberStatus {
        pod,
        id,
        role,
        observed: endpoint.is_some(),
        healthy: observed.is_healthy(pod),
        unhealthy_since: (!observed.is_healthy(pod))
            .then(|| before.filter(|b| !b.healthy).and_then(|b| b.unhealthy_since).unwrap_or(observed.at)),
        error: observed.endpoints.get(&pod).and_then(|r| r.as_ref().err()).cloned(),
        client_url: task.client_url.clone(),
        peer_url: task.peer_url.clone(),
        revision: endpoint.map(|e| e.revision),
        revision_lag: None,
        db_size_bytes: endpoint.map(|e| e.db_size_bytes),
        db_size_in_use_bytes: endpoint.map(|e| e.db_size_in_use_bytes).filter(|n| *n > 0),
        version: endpoint.map(|e| e.version.clone()).filter(|v| !v.is_empty()),
        slow_reads: endpoint.is_some_and(|e| e.slow_reads),
        task: TaskStatus {
            state: state.to_owned(),
            agent: task.agent_name.clone(),
            agent_lost: task.agent == AgentState::Lost,
            pid: task.pid,
            data_dir: task.data_dir.as_ref().map(|d| d.display().to_string()),
            data: match &task.data {
                DataState::Intact => "intact".to_owned(),
                DataState::Missing => "missing".to_owned(),
                DataState::Unreadable(why) => format!("unreadable: {why}"),
                DataState::Unknown => "unknown".to_owned(),
            },
            restarts: inputs.history.seen.restarts.get(&pod).map_or(0, |r| r.count),
            last_log: inputs.logs.get(&pod).cloned().unwrap_or_default(),
        },
    })
}

/// Each answering member's revisions behind the leader that answered in the same
/// observation; none without a leader.
fn lag_behind_leader(members: &mut [MemberStatus]) {
    let leader = members.iter().find(|m| m.role == Some(Role::Leader) && m.observed).and_then(|m| m.revision);
    for member in members.iter_mut() {
        member.revision_lag = leader.zip(member.revision).map(|(leader, own)| (leader - own).max(0));
    }
}

/// The quorum arithmetic of one observation.
fn quorum(desired: &DesiredCluster, observed: &Observed, history: &History) -> QuorumStatus {
    let voting = observed
        .member_list
        .as_ref()
        .map(|l| l.iter().filter(|m| !m.is_learner).count())
        .or_else(|| Some(history.voters().count()).filter(|n| *n > 0))
        .unwrap_or(desired.members.get());
    let healthy = observed.healthy_voters();
    let needed = voting / 2 + 1;
    QuorumStatus { voting, healthy, needed, fault_tolerance: healthy.saturating_sub(needed) }
}

fn phase(inputs: &StatusInputs<'_>, quorum: &QuorumStatus, all_healthy: bool) -> Phase {
    let plan = inputs.plan;
    if inputs.desired.reconcile == ReconcileMode::Paused {
        Phase::Paused
    } else if plan.refuses(Rule::BootstrapFailed) {
        Phase::Blocked
    } else if !inputs.history.seen.ever_healthy {
        Phase::Bootstrapping
    } else if !plan.refuses(Rule::RestoreRequired)
        && (inputs.history.in_flight.restore().is_some()
            || plan.steps().any(|(_, rule)| rule == Rule::Restore))
    {
        // A restore runs: begun (a survivor read, a source chosen, an attempt made), or
        // its step is about to be taken (status is written before it).
        Phase::Restoring
    } else if quorum.healthy < quorum.needed && quorum.healthy + vouched(inputs).len() < quorum.needed {
        Phase::QuorumLost
    } else if matches!(
        inputs.history.in_flight.kind(),
        Some(OperationKind::ScaleUp | OperationKind::ScaleDown)
    ) || inputs.taken.iter().any(|t| matches!(t.rule, Rule::ScaleUp | Rule::ScaleDown))
    {
        // A member count change in flight, or a step of one taken (a backup first).
        Phase::Scaling
    } else if inputs.history.in_flight.kind() == Some(OperationKind::Replace) {
        Phase::Replacing
    } else if all_healthy {
        Phase::Healthy
    } else {
        Phase::Degraded
    }
}

/// Sets conditions, keeping `lastTransitionTime` where the status did not change.
struct Conditions<'a> {
    previous: Option<&'a ClusterStatus>,
    now: jiff::Timestamp,
    list: Vec<Condition>,
}

impl Conditions<'_> {
    fn set(&mut self, kind: ConditionType, status: ConditionStatus, reason: Reason, message: String) {
        let since = self
            .previous
            .and_then(|p| p.condition(kind))
            .filter(|c| c.status == status)
            .map_or(self.now, |c| c.last_transition_time);
        self.list.push(Condition { kind, status, reason, message, last_transition_time: since });
    }
}

fn message_of(plan: &Plan, rule: Rule) -> Option<String> {
    plan.decisions.iter().find(|d| d.rule == rule).map(|d| d.message.clone())
}

fn progressing(inputs: &StatusInputs<'_>, c: &mut Conditions<'_>) {
    use ConditionStatus::{False, True};
    let plan = inputs.plan;
    let next: Vec<String> = plan.steps().map(|(s, _)| s.describe()).collect();
    let waits: Vec<&str> = plan
        .decisions
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Wait { .. }))
        .map(|d| d.message.as_str())
        .collect();
    let failing = inputs.history.in_flight.join().filter(|r| {
        r.launches > 0 && inputs.observed.platform.task(r.pod).is_some_and(|t| t.task == TaskState::Exited)
    });
    if inputs.desired.reconcile == ReconcileMode::Paused {
        c.set(ConditionType::Progressing, False, Reason::Paused, "spec.paused is true".to_owned());
    } else if let Some(r) = failing {
        let mut message = format!(
            "the replacement {} exited after {} launch(es); it is launched again with backoff, never added again",
            r.pod, r.launches
        );
        if !inputs.logs.is_empty() {
            message.push_str("; last log lines:\n");
            message.push_str(&inputs.log_lines());
        }
        c.set(ConditionType::Progressing, True, Reason::ReplacementFailing, message);
    } else if let Some(failed) = inputs.taken.iter().find(|t| t.error.is_some()) {
        // What the steps did, not what the plan said.
        let message =
            format!("{} failed: {}", failed.description, failed.error.as_deref().unwrap_or_default());
        c.set(ConditionType::Progressing, True, Reason::StepFailed, message);
    } else if !inputs.taken.is_empty() {
        let done: Vec<&str> = inputs.taken.iter().map(|t| t.description.as_str()).collect();
        c.set(
            ConditionType::Progressing,
            True,
            Reason::StepsInProgress,
            format!("done: {}", done.join("; ")),
        );
    } else if !next.is_empty() {
        // Status written before a long step (a restore): what it is about to do.
        c.set(
            ConditionType::Progressing,
            True,
            Reason::StepsInProgress,
            format!("next: {}", next.join("; ")),
        );
    } else if !waits.is_empty() {
        c.set(ConditionType::Progressing, True, Reason::WaitingForWindow, waits.join("; "));
    } else {
        c.set(ConditionType::Progressing, False, Reason::Stable, "nothing to do".to_owned());
    }
}

/// A task's state as status writes it (`task.state`).
fn task_state_name(task: &TaskObservation) -> &'static str {
    match task.task {
        TaskState::NotLaunched => "notLaunched",
        TaskState::Running => "running",
        TaskState::Suspended if task.recovery == PlatformRecovery::Paused => "paused",
        TaskState::Suspended => "suspended",
        TaskState::Exited => "exited",
    }
}

/// Each desired member that answers healthy while the platform reports its task not
/// running or its agent not healthy: it is neither restarted nor replaced while it
/// answers, but the platform could not relaunch it now.
fn platform_disagrees(inputs: &StatusInputs<'_>) -> Vec<String> {
    let observed = inputs.observed;
    let task_of = |pod| observed.platform.task(pod);
    inputs
        .desired
        .members
        .pods()
        .filter(|pod| observed.is_healthy(*pod))
        .filter_map(|pod| task_of(pod).map(|t| (pod, t)))
        .filter(|(_, t)| t.task != TaskState::Running || t.agent != AgentState::Healthy)
        .map(|(pod, t)| {
            let agent = match t.agent {
                AgentState::Healthy => "healthy",
                AgentState::Lost => "lost",
                AgentState::Unknown => "unknown",
            };
            format!(
                "{pod} answers healthy while the platform reports its task {} on a {agent} agent ({}): the platform lost sight of it (a partition between it and the agent?); it is neither restarted nor replaced while it answers",
                task_state_name(t),
                t.agent_name
            )
        })
        .collect()
}

/// The members whose client port fails while their metrics port vouches for them
/// running with a leader (`Observed::vouched_for`).
fn vouched(inputs: &StatusInputs<'_>) -> Vec<PodName> {
    let observed = inputs.observed;
    let pods = observed.platform.tasks.iter().map(|t| t.pod);
    pods.filter(|pod| observed.vouched_for(&inputs.history.seen, *pod)).collect()
}

/// What status says of members that run in their cluster behind a client connection
/// that fails; `None` when there are none.
fn client_connection_fails(inputs: &StatusInputs<'_>, summary: &str) -> Option<String> {
    let vouched = vouched(inputs);
    let first = vouched.first()?;
    let error =
        inputs.observed.endpoints.get(first).and_then(|r| r.as_ref().err()).cloned().unwrap_or_default();
    let names: Vec<String> = vouched.iter().map(ToString::to_string).collect();
    Some(format!(
        "etcd runs with a leader on {} (each metrics port names the member its slot holds), but the controller's client calls to it fail ({first}: {error}): check spec.etcd.tls against the package's certificates, and the client URLs; not restarted or replaced for it; {summary}",
        names.join(", ")
    ))
}

fn conditions(
    inputs: &StatusInputs<'_>,
    q: &QuorumStatus,
    unhealthy: &[String],
    all_healthy: bool,
    c: &mut Conditions<'_>,
) {
    use ConditionStatus::{False, True};
    let ever = inputs.history.seen.ever_healthy;
    let summary = format!("{} of {} members healthy; quorum needs {}", q.healthy, q.voting, q.needed);
    let client_fails = client_connection_fails(inputs, &summary);
    // A quorum that runs, by its metrics ports, behind client calls that fail.
    let hidden_quorum = q.healthy < q.needed && q.healthy + vouched(inputs).len() >= q.needed;
    match (q.healthy >= q.needed, ever) {
        (true, _) => c.set(ConditionType::Available, True, Reason::QuorumHealthy, summary.clone()),
        (false, true) if hidden_quorum => {
            let message = client_fails.clone().unwrap_or_else(|| summary.clone());
            c.set(ConditionType::Available, ConditionStatus::Unknown, Reason::ClientConnectionFails, message);
        }
        (false, true) => c.set(ConditionType::Available, False, Reason::QuorumLost, summary.clone()),
        (false, false) => {
            c.set(ConditionType::Available, False, Reason::WaitingForFirstQuorum, summary.clone())
        }
    }
    let disagreements = platform_disagrees(inputs);
    if all_healthy && !disagreements.is_empty() {
        let message = format!("{}; {summary}", disagreements.join("; "));
        c.set(ConditionType::Degraded, True, Reason::PlatformDisagrees, message);
    } else if all_healthy {
        c.set(ConditionType::Degraded, False, Reason::AllMembersHealthy, summary.clone());
    } else if let Some(message) = &client_fails {
        c.set(ConditionType::Degraded, True, Reason::ClientConnectionFails, message.clone());
    } else {
        let message = format!("not healthy: {}; {summary}", unhealthy.join(", "));
        c.set(ConditionType::Degraded, True, Reason::MembersUnhealthy, message);
    }
    progressing(inputs, c);
    let plan = inputs.plan;
    if ever && hidden_quorum {
        let message = client_fails.unwrap_or_else(|| summary.clone());
        c.set(ConditionType::QuorumLost, ConditionStatus::Unknown, Reason::ClientConnectionFails, message);
    } else if ever && q.healthy < q.needed {
        let (reason, message) = if let Some(m) = message_of(plan, Rule::RestoreRequired) {
            (Reason::MajorityLost, m)
        } else if let Some(m) = message_of(plan, Rule::WaitForMembers) {
            (Reason::WaitingForMembers, m)
        } else {
            (Reason::QuorumLost, summary.clone())
        };
        c.set(ConditionType::QuorumLost, True, reason, message);
    } else {
        c.set(ConditionType::QuorumLost, False, Reason::QuorumHealthy, summary);
    }
    backup_ready(inputs, c);
    if let Some((status, reason, message)) =
        super::drill::restorable(inputs.desired, inputs.observed.backups.last_drill.as_ref())
    {
        c.set(ConditionType::BackupRestorable, status, reason, message);
    }
    let blocked = message_of(plan, Rule::ScaleBlocked)
        .filter(|_| plan.refuses(Rule::ScaleBlocked))
        .or_else(|| inputs.observed.backups.scale_refusal.as_ref().map(|r| r.message.clone()));
    if let Some(message) = blocked {
        c.set(ConditionType::ScaleUpBlocked, True, Reason::NoFreshBackup, message);
    } else if let Some(message) =
        message_of(plan, Rule::ScaleNeedsLearners).filter(|_| plan.refuses(Rule::ScaleNeedsLearners))
    {
        c.set(ConditionType::ScaleUpBlocked, True, Reason::NoLearners, message);
    } else if let Some(message) =
        message_of(plan, Rule::ScaleBeyondPlatform).filter(|_| plan.refuses(Rule::ScaleBeyondPlatform))
    {
        c.set(ConditionType::ScaleUpBlocked, True, Reason::BeyondPlatform, message);
    }
    if let Some(message) =
        message_of(plan, Rule::RestoreRequired).filter(|_| plan.refuses(Rule::RestoreRequired))
    {
        c.set(ConditionType::RestoreRequired, True, Reason::MajorityLost, message);
    }
    if let Some(summary) = crate::plan::nospace::describe(inputs.desired, inputs.observed) {
        let message = message_of(plan, Rule::NoSpace).unwrap_or(summary);
        c.set(ConditionType::NoSpace, True, Reason::NoSpaceAlarm, message);
    }
    if let Some(message) = message_of(plan, Rule::UnknownMember) {
        c.set(ConditionType::UnknownMember, True, Reason::VoterOfNoSlot, message);
    }
    if let Some(message) = message_of(plan, Rule::OperationStuck) {
        c.set(ConditionType::OperationStuck, True, Reason::DeadlinePassed, message);
    }
    if plan.refuses(Rule::RollingRestart) {
        let message = message_of(plan, Rule::RollingRestart).unwrap_or_default();
        c.set(ConditionType::RestartRequired, True, Reason::LaunchSettingsDiffer, message);
    }
    if plan.refuses(Rule::BootstrapFailed) {
        let mut message = message_of(plan, Rule::BootstrapFailed).unwrap_or_default();
        if !inputs.logs.is_empty() {
            message.push_str("; last log lines:\n");
            message.push_str(&inputs.log_lines());
        }
        c.set(ConditionType::BootstrapFailed, True, Reason::BootstrapAttemptsExhausted, message);
    }
}

fn backup_ready(inputs: &StatusInputs<'_>, c: &mut Conditions<'_>) {
    use ConditionStatus::{False, True};
    let Some(policy) = &inputs.desired.backup else { return };
    let view = &inputs.observed.backups;
    let now = inputs.observed.at;
    let fresh_for = humantime::format_duration(policy.fresh_for);
    let newest = crate::model::catalog::newest_verified(&view.records);
    if let Some(failure) = &view.last_failure {
        let message = format!("the backup at {} failed: {}", failure.at, failure.message);
        c.set(ConditionType::BackupReady, False, Reason::BackupFailed, message);
    } else if let Some(newest) = newest {
        let age = humantime::format_duration(std::time::Duration::from_secs(newest.age(now).as_secs()));
        let message = format!("the newest verified backup {} is {age} old (freshFor {fresh_for})", newest.id);
        if newest.age(now) <= policy.fresh_for {
            c.set(ConditionType::BackupReady, True, Reason::BackupFresh, message);
        } else {
            c.set(ConditionType::BackupReady, False, Reason::BackupStale, message);
        }
    } else {
        let message = format!("no verified backup yet; run `etcd-warden backup {}`", inputs.desired.name);
        c.set(ConditionType::BackupReady, False, Reason::NoBackup, message);
    }
}

/// Computes the status, keeping `lastTransitionTime` from `previous` where a
/// condition's status did not change.
pub fn compute(inputs: &StatusInputs<'_>, previous: Option<&ClusterStatus>) -> ClusterStatus {
    let desired = inputs.desired;
    let observed = inputs.observed;
    let mut pods: BTreeSet<PodName> = desired.members.pods().collect();
    pods.extend(observed.platform.tasks.iter().map(|t| t.pod));
    let list = observed.member_list.as_deref().unwrap_or(&inputs.history.seen.members);
    let membership =
        Membership::join(observed, &inputs.history.seen.slots, inputs.history.in_flight.join(), list);
    let mut members: Vec<MemberStatus> =
        pods.into_iter().filter_map(|p| member_status(p, inputs, &membership, previous)).collect();
    lag_behind_leader(&mut members);
    let quorum = quorum(desired, observed, inputs.history);
    let unhealthy: Vec<String> =
        desired.members.pods().filter(|p| !observed.is_healthy(*p)).map(|p| p.to_string()).collect();
    let all_healthy = unhealthy.is_empty() && quorum.voting == desired.members.get();
    let mut c = Conditions { previous, now: observed.at, list: Vec::new() };
    conditions(inputs, &quorum, &unhealthy, all_healthy, &mut c);
    ClusterStatus {
        name: desired.name.clone(),
        observed_generation: inputs.generation,
        // A cluster refusing writes (NOSPACE) is not Healthy, though every member is.
        phase: phase(
            inputs,
            &quorum,
            all_healthy && crate::plan::nospace::describe(desired, observed).is_none(),
        ),
        desired_members: desired.members.get(),
        quorum,
        members,
        conditions: c.list,
        last_backup: observed.backups.records.last().map(|r| LastBackup {
            id: r.id.clone(),
            taken_at: r.taken_at,
            revision: r.revision,
            size_bytes: r.size_bytes,
            sha256: r.sha256.clone(),
            verified: r.verified,
        }),
        restore: inputs.history.seen.last_restore.clone(),
        kept_aside: observed.kept_aside.clone(),
        last_action: inputs.last_action.clone(),
        operation: super::operation::operation(desired, inputs.history, inputs.plan),
        last_drill: observed.backups.last_drill.clone(),
        certificates: observed.certificates.clone(),
        observed_at: observed.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::desired::MemberCount;
    use crate::testing::world::{at, desired, t0, world};

    /// The status of `w` under `d` after a pass that took no step.
    fn status_of(
        d: &DesiredCluster,
        w: &crate::testing::world::World,
        previous: Option<&ClusterStatus>,
    ) -> ClusterStatus {
        w.status(d, previous)
    }

    fn status_at(w: &crate::testing::world::World, previous: Option<&ClusterStatus>) -> ClusterStatus {
        status_of(&desired(MemberCount::Three), w, previous)
    }

    #[test]
    fn last_transition_time_moves_only_when_a_condition_changes() {
        let first = status_at(&world(3), None);
        assert_eq!(first.phase, Phase::Healthy);
        let mut later = world(3);
        later.observed.at = at(60);
        let second = status_at(&later, Some(&first));
        assert_eq!(second.conditions, first.conditions, "nothing changed: same conditions and times");
        assert!(!second.differs_from(&first), "an unchanged status is not written again");
        let mut down = world(3).exited(1, t0());
        down.observed.at = at(90);
        let third = status_at(&down, Some(&second));
        assert_eq!(third.phase, Phase::Degraded);
        let degraded = third.condition(ConditionType::Degraded).expect("Degraded");
        assert_eq!((degraded.status, degraded.last_transition_time), (ConditionStatus::True, at(90)));
        let available = third.condition(ConditionType::Available).expect("Available");
        assert_eq!(available.last_transition_time, t0(), "still available: its time stays");
    }

    #[test]
    fn a_member_not_healthy_says_since_when_until_it_is_again() {
        let first = status_at(&world(3), None);
        assert!(first.members.iter().all(|m| m.unhealthy_since.is_none()));
        let mut down = world(3).exited(1, t0());
        down.observed.at = at(90);
        let second = status_at(&down, Some(&first));
        down.observed.at = at(120);
        let third = status_at(&down, Some(&second));
        let since = |s: &ClusterStatus| s.members.iter().map(|m| m.unhealthy_since).collect::<Vec<_>>();
        assert_eq!(since(&second), [None, Some(at(90)), None]);
        assert_eq!(since(&third), [None, Some(at(90)), None], "kept from the status before");
        let mut back = world(3);
        back.observed.at = at(150);
        assert_eq!(since(&status_at(&back, Some(&third))), [None, None, None]);
    }

    #[test]
    fn each_answering_member_shows_how_far_it_is_behind_the_leader_of_the_same_observation() {
        use crate::testing::world::pod;
        let mut w = world(3).exited(1, t0());
        if let Some(Ok(e)) = w.observed.endpoints.get_mut(&pod(2)) {
            e.revision = 30;
        }
        let s = status_at(&w, None);
        let lag: Vec<_> = s.members.iter().map(|m| (m.role, m.revision_lag)).collect();
        assert_eq!(
            lag,
            [(Some(Role::Leader), Some(0)), (Some(Role::Follower), None), (Some(Role::Follower), Some(12))],
            "the leader at 42; etcd-1 does not answer"
        );
        let mut leaderless = world(3);
        leaderless.observed.endpoints.remove(&pod(0));
        let s = status_at(&leaderless, None);
        assert!(s.members.iter().all(|m| m.revision_lag.is_none()), "no leader answered: {:?}", s.members);
    }

    #[test]
    fn the_operation_in_flight_shows_its_slot_its_deadline_and_the_step_the_pass_takes_for_it() {
        let d = desired(MemberCount::Three);
        let mut w = world(3).lost(1, t0()).replacing(1, 0, None);
        let waiting = status_of(&d, &w, None).operation.expect("a replacement in flight");
        assert_eq!((waiting.kind.as_str(), waiting.pod), ("Replace", Some(crate::testing::world::pod(1))));
        assert_eq!(waiting.begun_at, t0());
        assert_eq!(
            waiting.deadline,
            at(i64::try_from(d.recovery.operation_deadline.as_secs()).expect("secs"))
        );
        assert_eq!(waiting.step, None, "within its window it waits");
        assert_eq!(waiting.rule.as_deref(), Some(Rule::ReplaceLostMember.id()));
        assert!(
            waiting.message.as_deref().is_some_and(|m| m.contains("before the window ends")),
            "{waiting:?}"
        );
        w.observed.at = at(61);
        let acting = status_of(&d, &w, None).operation.expect("still in flight");
        let plan = w.plan(&d, w.observed.at);
        let (step, rule) = plan.steps().next().expect("past the window, a step");
        assert_eq!((acting.step.as_deref(), acting.rule.as_deref()), (Some(step.name()), Some(rule.id())));
        assert_eq!(acting.deadline, waiting.deadline, "one deadline, from its beginning");
        assert!(status_at(&world(3), None).operation.is_none(), "none in flight");
    }

    #[test]
    fn members_that_answer_while_the_platform_lost_sight_of_them_are_healthy_but_degraded() {
        let mut w = world(3);
        w.task(2).task = TaskState::Exited;
        w.task(2).agent = AgentState::Lost;
        let s = status_at(&w, None);
        assert_eq!(s.phase, Phase::Healthy, "every member answers");
        let degraded = s.condition(ConditionType::Degraded).expect("Degraded");
        assert_eq!((degraded.status, degraded.reason), (ConditionStatus::True, Reason::PlatformDisagrees));
        assert!(
            degraded.message.starts_with(
                "etcd-2 answers healthy while the platform reports its task exited on a lost agent (local-2)"
            ),
            "{}",
            degraded.message
        );
        let agreed = status_at(&world(3), None);
        assert_eq!(
            agreed.condition(ConditionType::Degraded).map(|c| c.reason),
            Some(Reason::AllMembersHealthy)
        );
    }

    /// Every client call fails while every metrics port names the member its slot
    /// holds, with a leader: the quorum runs, and the controller's client connection is
    /// what fails. Status says so, and never that the quorum is lost. With a single
    /// member vouched for, the quorum is lost as before.
    #[test]
    fn members_that_run_behind_a_failing_client_connection_are_not_a_lost_quorum() {
        use crate::model::membership::SlotMember;
        use crate::model::metrics::MetricsAnswer;
        use crate::testing::world::pod;
        let mut w = world(3);
        for i in 0..3 {
            let id = w.observed.endpoint(pod(i)).expect("answers").id;
            w.history.seen.slots.insert(pod(i), SlotMember { id, peer_urls: Vec::new() });
            w = w.silent(i);
            w.observed.endpoints.insert(pod(i), Err("tls handshake eof".to_owned()));
            w.observed
                .metrics
                .insert(pod(i), MetricsAnswer { member: Some(id), has_leader: true, version: None });
        }
        let s = status_at(&w, None);
        assert_eq!(s.phase, Phase::Degraded, "{s:#?}");
        for kind in [ConditionType::Available, ConditionType::QuorumLost] {
            let c = s.condition(kind).expect("condition");
            assert_eq!(
                (c.status, c.reason),
                (ConditionStatus::Unknown, Reason::ClientConnectionFails),
                "{kind:?}"
            );
        }
        let degraded = s.condition(ConditionType::Degraded).expect("Degraded");
        assert_eq!(degraded.reason, Reason::ClientConnectionFails);
        for words in [
            "etcd runs with a leader on etcd-0, etcd-1, etcd-2",
            "etcd-0: tls handshake eof",
            "spec.etcd.tls",
        ] {
            assert!(degraded.message.contains(words), "{words:?} missing from {}", degraded.message);
        }
        w.observed.metrics.retain(|p, _| *p == pod(0));
        let one = status_at(&w, None);
        assert_eq!(one.phase, Phase::QuorumLost);
        let lost = one.condition(ConditionType::QuorumLost).expect("QuorumLost");
        assert_eq!(lost.status, ConditionStatus::True);
    }

    #[test]
    fn the_quorum_arithmetic_and_roles_follow_the_observation() {
        let s = status_at(&world(3).exited(2, t0()), None);
        assert_eq!(
            (s.quorum.voting, s.quorum.healthy, s.quorum.needed, s.quorum.fault_tolerance),
            (3, 2, 2, 0)
        );
        let roles: Vec<Option<Role>> = s.members.iter().map(|m| m.role).collect();
        // The member that does not answer keeps its last known ID and role, marked as
        // not observed now.
        assert_eq!(roles, [Some(Role::Leader), Some(Role::Follower), Some(Role::Follower)]);
        let observed: Vec<bool> = s.members.iter().map(|m| m.observed).collect();
        assert_eq!(observed, [true, true, false]);
        assert!(s.members[2].id.is_some(), "the last known member ID is kept");
        let versions: Vec<Option<&str>> = s.members.iter().map(|m| m.version.as_deref()).collect();
        assert_eq!(
            versions,
            [Some("3.4.13"), Some("3.4.13"), None],
            "the version of each member that answered"
        );
        let lost = status_at(&world(3).suspended(1, t0()).suspended(2, t0()), None);
        assert_eq!(lost.phase, Phase::QuorumLost);
        let reason = lost.condition(ConditionType::QuorumLost).map(|c| c.reason);
        assert_eq!(reason, Some(Reason::WaitingForMembers));
    }

    #[test]
    fn a_single_member_without_learners_is_blocked_from_growing_for_that_reason() {
        // One healthy member of three desired; the other two never launched.
        let mut w = world(3);
        for i in 1..3u8 {
            w = w.removed(i);
            w.task(i).task = crate::model::platform::TaskState::NotLaunched;
            w.observed.endpoints.remove(&crate::testing::world::pod(i));
        }
        w.observed.capabilities.learners = false;
        let s = status_at(&w, None);
        let blocked = s.conditions.iter().find(|c| c.kind == ConditionType::ScaleUpBlocked);
        let blocked = blocked.expect("ScaleUpBlocked");
        assert_eq!((blocked.status, blocked.reason), (ConditionStatus::True, Reason::NoLearners));
        assert!(blocked.message.contains("older than 3.4"), "{}", blocked.message);
        // With learners only the backup gate holds it (no backup is configured here).
        w.observed.capabilities.learners = true;
        let s = status_at(&w, None);
        let blocked = s.conditions.iter().find(|c| c.kind == ConditionType::ScaleUpBlocked);
        assert_eq!(blocked.map(|c| c.reason), Some(Reason::NoFreshBackup), "{:?}", s.conditions);
    }

    /// Members report a quota other than the manifest's on a platform that launches
    /// them itself: status says they must be restarted there, while no NOSPACE alarm
    /// holds; once they run with the manifest's, the condition is gone.
    #[test]
    fn members_the_platform_launches_with_another_quota_are_said_to_need_a_restart_there() {
        let mut d = desired(MemberCount::Three);
        d.maintenance.quota_backend_bytes = Some(2 * 1024 * 1024 * 1024);
        let mut w = world(3);
        for s in w.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
            s.db_size_quota_bytes = 3 * 1024 * 1024 * 1024;
        }
        let status = |w: &crate::testing::world::World| status_of(&d, w, None);
        let s = status(&w);
        let c = s.condition(ConditionType::RestartRequired).expect("RestartRequired");
        assert_eq!((c.status, c.reason), (ConditionStatus::True, Reason::LaunchSettingsDiffer));
        assert!(c.message.contains("3.0 GiB") && c.message.contains("restart them there"), "{}", c.message);
        assert!(s.condition(ConditionType::NoSpace).is_none(), "no alarm");
        assert_eq!(s.phase, Phase::Healthy);
        for s in w.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
            s.db_size_quota_bytes = 2 * 1024 * 1024 * 1024;
        }
        assert!(status(&w).condition(ConditionType::RestartRequired).is_none());
    }

    /// The phase and the two headline conditions, world by world: one row each.
    #[test]
    fn the_phase_and_the_headline_conditions_follow_the_observation_row_by_row() {
        use crate::testing::world::World;
        use ConditionStatus::{False, True};
        struct Row {
            what: &'static str,
            world: World,
            paused: bool,
            phase: Phase,
            available: (ConditionStatus, Reason),
            degraded: (ConditionStatus, Reason),
        }
        let rows = [
            Row {
                what: "every member healthy",
                world: world(3),
                paused: false,
                phase: Phase::Healthy,
                available: (True, Reason::QuorumHealthy),
                degraded: (False, Reason::AllMembersHealthy),
            },
            Row {
                what: "one of three exited",
                world: world(3).exited(1, t0()),
                paused: false,
                phase: Phase::Degraded,
                available: (True, Reason::QuorumHealthy),
                degraded: (True, Reason::MembersUnhealthy),
            },
            Row {
                what: "two of three exited",
                world: world(3).exited(1, t0()).exited(2, t0()),
                paused: false,
                phase: Phase::QuorumLost,
                available: (False, Reason::QuorumLost),
                degraded: (True, Reason::MembersUnhealthy),
            },
            Row {
                what: "a first bootstrap, nothing launched yet",
                world: world(3).never_healthy(None).not_launched(0).not_launched(1).not_launched(2),
                paused: false,
                phase: Phase::Bootstrapping,
                available: (False, Reason::WaitingForFirstQuorum),
                degraded: (True, Reason::MembersUnhealthy),
            },
            Row {
                what: "paused, one member exited",
                world: world(3).exited(1, t0()),
                paused: true,
                phase: Phase::Paused,
                available: (True, Reason::QuorumHealthy),
                degraded: (True, Reason::MembersUnhealthy),
            },
        ];
        for row in rows {
            let mut d = desired(MemberCount::Three);
            if row.paused {
                d.reconcile = ReconcileMode::Paused;
            }
            let s = status_of(&d, &row.world, None);
            let get = |kind| s.condition(kind).map(|c| (c.status, c.reason));
            assert_eq!(s.phase, row.phase, "{}", row.what);
            assert_eq!(get(ConditionType::Available), Some(row.available), "{}", row.what);
            assert_eq!(get(ConditionType::Degraded), Some(row.degraded), "{}", row.what);
        }
    }

    #[test]
    fn a_restore_in_flight_shows_as_restoring_not_as_quorum_lost() {
        let mut w = world(3).suspended(1, t0()).suspended(2, t0());
        assert_eq!(status_at(&w, None).phase, Phase::QuorumLost);
        w.history.in_flight.restoring();
        assert_eq!(status_at(&w, None).phase, Phase::Restoring);
    }
}
