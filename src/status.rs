//! Cluster status (SPEC section 5): computed from what was observed, never from what
//! we intended. `lastTransitionTime` moves only when a condition's status changes.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{ClusterName, Generation, MemberId, PodName};
use crate::manifest::{DesiredCluster, ReconcileMode};
use crate::observe::platform::{AgentState, TaskState};
use crate::observe::{History, Observed};
use crate::plan::{Plan, Rule};

/// The cluster's phase, one word for humans and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The first bootstrap is in progress.
    Bootstrapping,
    /// Every desired member is a healthy voter.
    Healthy,
    /// Quorum holds but some member is not healthy.
    Degraded,
    /// A lost member is being replaced.
    Replacing,
    /// Members are being added or removed.
    Scaling,
    /// Fewer healthy voters than quorum.
    QuorumLost,
    /// A restore is in progress.
    Restoring,
    /// The controller cannot go on without a human.
    Blocked,
    /// `paused: true`.
    Paused,
}

/// The kinds of condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionType {
    /// A quorum serves.
    Available,
    /// Some member is not healthy.
    Degraded,
    /// The controller is taking steps.
    Progressing,
    /// A recent verified backup exists.
    BackupReady,
    /// A scale-up is refused.
    ScaleUpBlocked,
    /// Fewer healthy voters than quorum.
    QuorumLost,
    /// Only a restore can bring the cluster back.
    RestoreRequired,
    /// The first bootstrap failed for good.
    BootstrapFailed,
}

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known.
    Unknown,
}

/// Why a condition has its status: one word, stable for alerting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Enough healthy voters.
    QuorumHealthy,
    /// Fewer healthy voters than quorum.
    QuorumLost,
    /// Waiting for the first quorum.
    WaitingForFirstQuorum,
    /// Every member healthy.
    AllMembersHealthy,
    /// Some member not healthy.
    MembersUnhealthy,
    /// Nothing to do.
    Stable,
    /// A step is being taken.
    StepsInProgress,
    /// Waiting for a failure window to pass.
    WaitingForWindow,
    /// Bootstrap attempts exhausted.
    BootstrapAttemptsExhausted,
    /// The controller only observes.
    Paused,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What the condition is about.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word.
    pub reason: Reason,
    /// Why, in one sentence.
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
}

/// The quorum arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuorumStatus {
    /// Voting members in the member list (the desired count when no list was read).
    pub voting: usize,
    /// Healthy voting members.
    pub healthy: usize,
    /// Healthy voters a quorum needs.
    pub needed: usize,
    /// How many more voters may fail with quorum kept.
    pub fault_tolerance: usize,
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// The raft leader.
    Leader,
    /// A voting follower.
    Follower,
    /// A non-voting learner.
    Learner,
}

/// The member's task as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// `notLaunched`, `running`, `suspended` or `exited`.
    pub state: String,
    /// The agent's name.
    pub agent: String,
    /// Whether the agent (and the member's data) is still there.
    pub agent_lost: bool,
    /// The process ID, where known.
    pub pid: Option<u32>,
    /// The data directory, where known.
    pub data_dir: Option<String>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// The member slot.
    pub pod: PodName,
    /// The etcd member ID, once known.
    pub id: Option<MemberId>,
    /// Its role, when it answered.
    pub role: Option<Role>,
    /// Whether it answered, follows a leader and reports no alarm.
    pub healthy: bool,
    /// Its client URL.
    pub client_url: String,
    /// The revision it has applied.
    pub revision: Option<i64>,
    /// The size of its database.
    pub db_size_bytes: Option<i64>,
    /// What the platform says.
    pub task: TaskStatus,
}

/// The last step taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastAction {
    /// The step's name.
    pub step: String,
    /// The rule that decided it.
    pub rule: String,
    /// When it was taken.
    pub at: Timestamp,
    /// `succeeded`, or the error.
    pub result: String,
}

/// The status of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The cluster.
    pub name: ClusterName,
    /// The generation of the desired state this status was computed for.
    pub observed_generation: Generation,
    /// One word.
    pub phase: Phase,
    /// The desired member count.
    pub desired_members: usize,
    /// The quorum arithmetic.
    pub quorum: QuorumStatus,
    /// Every member slot, in pod order.
    pub members: Vec<MemberStatus>,
    /// The conditions.
    pub conditions: Vec<Condition>,
    /// The last step taken.
    pub last_action: Option<LastAction>,
    /// When the observation behind this status was made.
    pub observed_at: Timestamp,
}

impl ClusterStatus {
    /// The condition of a kind, if present.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Whether the status differs from `other` in anything but the observation time.
    pub fn differs_from(&self, other: &ClusterStatus) -> bool {
        let mut a = self.clone();
        a.observed_at = other.observed_at;
        a != *other
    }
}

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
    /// The last step taken (this pass or earlier).
    pub last_action: Option<LastAction>,
    /// Extra lines for a failed bootstrap (the members' last log lines).
    pub bootstrap_logs: Vec<String>,
}

fn member_status(pod: PodName, inputs: &StatusInputs<'_>) -> Option<MemberStatus> {
    let observed = inputs.observed;
    let task = observed.platform.task(pod)?;
    let endpoint = observed.endpoint(pod);
    let listed = observed.member_list.as_ref().and_then(|list| {
        list.iter().find(|m| m.name == pod.to_string() || m.peer_urls.contains(&task.peer_url))
    });
    let id = endpoint.map(|e| e.id).or(listed.map(|m| m.id));
    let role = endpoint.map(|e| {
        if e.is_learner {
            Role::Learner
        } else if e.leader == Some(e.id) {
            Role::Leader
        } else {
            Role::Follower
        }
    });
    let state = match task.task {
        TaskState::NotLaunched => "notLaunched",
        TaskState::Running => "running",
        TaskState::Suspended => "suspended",
        TaskState::Exited => "exited",
    };
    Some(MemberStatus {
        pod,
        id,
        role,
        healthy: observed.is_healthy(pod),
        client_url: task.client_url.clone(),
        revision: endpoint.map(|e| e.revision),
        db_size_bytes: endpoint.map(|e| e.db_size_bytes),
        task: TaskStatus {
            state: state.to_owned(),
            agent: task.agent_name.clone(),
            agent_lost: task.agent == AgentState::Lost,
            pid: task.pid,
            data_dir: task.data_dir.as_ref().map(|d| d.display().to_string()),
        },
    })
}

/// Computes the status, keeping `lastTransitionTime` from `previous` where a
/// condition's status did not change.
pub fn compute(inputs: &StatusInputs<'_>, previous: Option<&ClusterStatus>) -> ClusterStatus {
    let desired = inputs.desired;
    let observed = inputs.observed;
    let mut pods: BTreeSet<PodName> = desired.members.pods().collect();
    pods.extend(observed.platform.tasks.iter().map(|t| t.pod));
    let members: Vec<MemberStatus> = pods.into_iter().filter_map(|p| member_status(p, inputs)).collect();
    let voting = observed
        .member_list
        .as_ref()
        .map(|l| l.iter().filter(|m| !m.is_learner).count())
        .unwrap_or(desired.members.get());
    let healthy = observed.healthy_voters();
    let needed = voting / 2 + 1;
    let quorum = QuorumStatus { voting, healthy, needed, fault_tolerance: healthy.saturating_sub(needed) };
    let unhealthy: Vec<String> =
        desired.members.pods().filter(|p| !observed.is_healthy(*p)).map(|p| p.to_string()).collect();
    let all_healthy = unhealthy.is_empty() && voting == desired.members.get();
    let failed = inputs.plan.refuses(Rule::BootstrapFailed);
    let phase = if desired.reconcile == ReconcileMode::Paused {
        Phase::Paused
    } else if failed {
        Phase::Blocked
    } else if !inputs.history.ever_healthy {
        Phase::Bootstrapping
    } else if healthy < needed {
        Phase::QuorumLost
    } else if all_healthy {
        Phase::Healthy
    } else {
        Phase::Degraded
    };
    let now = observed.at;
    let mut conditions = Vec::new();
    let mut set = |kind, status: ConditionStatus, reason, message: String| {
        let since = previous
            .and_then(|p| p.condition(kind))
            .filter(|c| c.status == status)
            .map_or(now, |c| c.last_transition_time);
        conditions.push(Condition { kind, status, reason, message, last_transition_time: since });
    };
    let summary = format!("{healthy} of {voting} members healthy; quorum needs {needed}");
    use ConditionStatus::{False, True};
    if healthy >= needed {
        set(ConditionType::Available, True, Reason::QuorumHealthy, summary.clone());
    } else if inputs.history.ever_healthy {
        set(ConditionType::Available, False, Reason::QuorumLost, summary.clone());
    } else {
        set(ConditionType::Available, False, Reason::WaitingForFirstQuorum, summary.clone());
    }
    if all_healthy {
        set(ConditionType::Degraded, False, Reason::AllMembersHealthy, summary.clone());
    } else {
        let message = format!("not healthy: {}; {summary}", unhealthy.join(", "));
        set(ConditionType::Degraded, True, Reason::MembersUnhealthy, message);
    }
    let steps: Vec<String> = inputs.plan.steps().map(|(s, _)| s.describe()).collect();
    let waits: Vec<&str> = inputs
        .plan
        .decisions
        .iter()
        .filter(|d| matches!(d.outcome, crate::plan::Outcome::Wait { .. }))
        .map(|d| d.message.as_str())
        .collect();
    if desired.reconcile == ReconcileMode::Paused {
        set(ConditionType::Progressing, False, Reason::Paused, "spec.paused is true".to_owned());
    } else if !steps.is_empty() {
        set(ConditionType::Progressing, True, Reason::StepsInProgress, steps.join("; "));
    } else if !waits.is_empty() {
        set(ConditionType::Progressing, True, Reason::WaitingForWindow, waits.join("; "));
    } else {
        set(ConditionType::Progressing, False, Reason::Stable, "nothing to do".to_owned());
    }
    if inputs.history.ever_healthy && healthy < needed {
        set(ConditionType::QuorumLost, True, Reason::QuorumLost, summary.clone());
    } else {
        set(ConditionType::QuorumLost, False, Reason::QuorumHealthy, summary.clone());
    }
    if failed {
        let mut message = inputs
            .plan
            .decisions
            .iter()
            .find(|d| d.rule == Rule::BootstrapFailed)
            .map(|d| d.message.clone())
            .unwrap_or_default();
        if !inputs.bootstrap_logs.is_empty() {
            message.push_str("; last log lines:\n");
            message.push_str(&inputs.bootstrap_logs.join("\n"));
        }
        set(ConditionType::BootstrapFailed, True, Reason::BootstrapAttemptsExhausted, message);
    }
    ClusterStatus {
        name: desired.name.clone(),
        observed_generation: inputs.generation,
        phase,
        desired_members: desired.members.get(),
        quorum,
        members,
        conditions,
        last_action: inputs.last_action.clone(),
        observed_at: now,
    }
}
