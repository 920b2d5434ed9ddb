//! Cluster status (SPEC section 5): computed from what was observed, never from what
//! we intended. `lastTransitionTime` moves only when a condition's status changes.

mod compute;
mod drill;
mod operation;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use compute::{StatusInputs, compute};
pub use operation::{OperationStatus, kind_name as operation_kind_name};

use crate::domain::{ClusterName, Generation, MemberId, PodName};

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

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 9] = [
        Self::Bootstrapping,
        Self::Healthy,
        Self::Degraded,
        Self::Replacing,
        Self::Scaling,
        Self::QuorumLost,
        Self::Restoring,
        Self::Blocked,
        Self::Paused,
    ];

    /// Its name, as status writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bootstrapping => "Bootstrapping",
            Self::Healthy => "Healthy",
            Self::Degraded => "Degraded",
            Self::Replacing => "Replacing",
            Self::Scaling => "Scaling",
            Self::QuorumLost => "QuorumLost",
            Self::Restoring => "Restoring",
            Self::Blocked => "Blocked",
            Self::Paused => "Paused",
        }
    }
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
    /// The platform could not be observed in full in the last pass: the rest of the
    /// status is from the last observation that worked (`observedAt`), and nothing was
    /// done. Present only while it holds.
    PlatformUnreachable,
    /// The last restore drill restored the newest verified backup into a scratch etcd
    /// and found what its catalog record says (False: why not). Present once a drill
    /// ran, or Unknown while `spec.backup.drill` is set and none ran yet.
    BackupRestorable,
    /// A member reports the NOSPACE alarm: its database reached the quota and etcd
    /// refuses writes. Present only while it holds.
    NoSpace,
    /// A voter of the cluster belongs to no member slot (`unknown-member`): it is never
    /// counted as lost, and a person decides. Present only while it holds.
    UnknownMember,
    /// An operation in flight ran past `recovery.operationDeadline` (`operation-stuck`):
    /// what is stuck and what a person can do. Present only while it holds.
    OperationStuck,
    /// Members run with launch settings other than the manifest's (a quota, a
    /// certificate near its end) and the controller will not restart them: the
    /// platform launches them (DC/OS: restart them there, with the package's options),
    /// the quota asked is below a database, or a single member has no maintenance
    /// window. Present only while it holds; a restart the controller takes or waits to
    /// take shows under `Progressing`.
    RestartRequired,
}

impl ConditionType {
    /// Every kind.
    pub const ALL: [ConditionType; 14] = [
        Self::Available,
        Self::Degraded,
        Self::Progressing,
        Self::BackupReady,
        Self::ScaleUpBlocked,
        Self::QuorumLost,
        Self::RestoreRequired,
        Self::BootstrapFailed,
        Self::PlatformUnreachable,
        Self::BackupRestorable,
        Self::NoSpace,
        Self::UnknownMember,
        Self::OperationStuck,
        Self::RestartRequired,
    ];

    /// Its name, as status writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Degraded => "Degraded",
            Self::Progressing => "Progressing",
            Self::BackupReady => "BackupReady",
            Self::ScaleUpBlocked => "ScaleUpBlocked",
            Self::QuorumLost => "QuorumLost",
            Self::RestoreRequired => "RestoreRequired",
            Self::BootstrapFailed => "BootstrapFailed",
            Self::PlatformUnreachable => "PlatformUnreachable",
            Self::BackupRestorable => "BackupRestorable",
            Self::NoSpace => "NoSpace",
            Self::UnknownMember => "UnknownMember",
            Self::OperationStuck => "OperationStuck",
            Self::RestartRequired => "RestartRequired",
        }
    }
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

impl ConditionStatus {
    /// Every status.
    pub const ALL: [ConditionStatus; 3] = [Self::True, Self::False, Self::Unknown];

    /// Its name in a metric's label, lower case as Kubernetes' exporters write it.
    pub fn label(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
            Self::Unknown => "unknown",
        }
    }
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
    /// Every member answers healthy, but the platform reports some of their tasks not
    /// running or their agents not healthy (DC/OS: Mesos lost sight of an agent whose
    /// etcd serves): the platform could not relaunch them now.
    PlatformDisagrees,
    /// Members whose client port fails while their metrics port names them running
    /// with a leader: the controller's client connection fails (its TLS files, the
    /// client URLs), not etcd.
    ClientConnectionFails,
    /// Nothing to do.
    Stable,
    /// A step is being taken.
    StepsInProgress,
    /// The step taken this pass failed; it is tried again.
    StepFailed,
    /// Waiting for a failure window to pass.
    WaitingForWindow,
    /// Bootstrap attempts exhausted.
    BootstrapAttemptsExhausted,
    /// The controller only observes.
    Paused,
    /// A majority is down on healthy agents: waiting for them (4c).
    WaitingForMembers,
    /// A majority's data is gone: only a restore helps (4d).
    MajorityLost,
    /// A replacement member keeps failing to start.
    ReplacementFailing,
    /// The newest verified backup is younger than `freshFor`.
    BackupFresh,
    /// The newest verified backup is older than `freshFor`.
    BackupStale,
    /// No verified backup exists.
    NoBackup,
    /// The last backup attempt failed.
    BackupFailed,
    /// A member count change waits for a fresh verified backup.
    NoFreshBackup,
    /// A single member is not grown: it runs etcd older than 3.4, which has no learners.
    NoLearners,
    /// The platform as installed cannot run the member count asked for.
    BeyondPlatform,
    /// The platform's API did not answer, or answered something unreadable.
    PlatformError,
    /// The last restore drill passed.
    DrillPassed,
    /// The last restore drill failed.
    DrillFailed,
    /// Drills are scheduled but none ran yet.
    NoDrillYet,
    /// A member reports the NOSPACE alarm.
    NoSpaceAlarm,
    /// A voter answers at no slot and no slot was seen as it.
    VoterOfNoSlot,
    /// An operation in flight is past its deadline.
    DeadlinePassed,
    /// Members run with launch settings the controller does not restart them with.
    LaunchSettingsDiffer,
}

/// The newest backup, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    /// Its ID.
    pub id: crate::domain::BackupId,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// The revision inside it.
    pub revision: i64,
    /// Its size.
    pub size_bytes: u64,
    /// SHA-256 of the snapshot file.
    pub sha256: String,
    /// Whether its hashes checked out.
    pub verified: bool,
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
    /// What the data directory holds: `intact` (a WAL and a database), `missing`,
    /// `unreadable: <why>`, or `unknown` where the platform cannot see it.
    #[serde(default)]
    pub data: String,
    /// Restarts in place since the member was last healthy.
    #[serde(default)]
    pub restarts: u32,
    /// The member's last log lines while it fails to start (restarted in place, a
    /// replacement, or a bootstrap); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_log: Vec<String>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// The member slot.
    pub pod: PodName,
    /// The etcd member ID, once known: from the member itself, or else the last member
    /// list seen (then `observed` is false).
    pub id: Option<MemberId>,
    /// Its role: as it answered now, or else the last one known (then `observed` is
    /// false).
    pub role: Option<Role>,
    /// Whether the member answered in this pass; when false, `id` and `role` are the
    /// last known ones.
    #[serde(default)]
    pub observed: bool,
    /// Whether it answered, follows a leader and reports no alarm.
    pub healthy: bool,
    /// When status first saw it not healthy, while it is not: kept from one status to
    /// the next (across daemon restarts too), as a condition's `lastTransitionTime` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_since: Option<Timestamp>,
    /// Why it did not answer in this pass, when it did not (the call's error; or who
    /// answers at its URL instead: another etcd cluster's member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its client URL.
    pub client_url: String,
    /// Its peer URL (empty in a status stored by an older version).
    #[serde(default)]
    pub peer_url: String,
    /// The revision it has applied.
    pub revision: Option<i64>,
    /// How many revisions it is behind the leader in this observation (0: level with
    /// it). Absent when the leader or this member did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_lag: Option<i64>,
    /// The size of its database.
    pub db_size_bytes: Option<i64>,
    /// How much of its database holds data; the rest is free pages that a
    /// defragmentation gives back. Absent where the member does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_in_use_bytes: Option<i64>,
    /// The etcd version it reports (`3.4.23`), when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// It answered its status but no serializable read within 250 ms: it is
    /// defragmenting, or overloaded; maintenance pauses no other member meanwhile.
    /// Present only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub slow_reads: bool,
    /// What the platform says.
    pub task: TaskStatus,
}

/// A step this pass took, as it ended: what status and the step metrics report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenStep {
    /// The step's name (`RemoveMember`).
    pub name: &'static str,
    /// The rule that decided it.
    pub rule: crate::plan::Rule,
    /// What it does, in a sentence.
    pub description: String,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
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
    /// The newest backup.
    #[serde(default)]
    pub last_backup: Option<LastBackup>,
    /// The last restore: its source, revision and data-loss window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<crate::model::backup::RestoreReport>,
    /// The last step taken.
    pub last_action: Option<LastAction>,
    /// The operation in flight: what, since and until when, and its step now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
    /// Data directories restores moved aside, with their size (`recovery.keptAside`
    /// bounds how many each member keeps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_aside: Vec<crate::model::KeptAside>,
    /// The last restore drill: when, how long, which backup, and what it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<crate::model::drill::DrillReport>,
    /// The certificate that expires first among those the cluster's TLS rests on (the
    /// platform's member certificates and CA, the manifest's client files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<crate::model::CertificateExpiry>,
    /// When the observation behind this status was made.
    pub observed_at: Timestamp,
}

impl ClusterStatus {
    /// The condition of a kind, if present.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// The status after a pass that could not observe the platform: the last one
    /// (or, before any, an empty one) with the `PlatformUnreachable` condition.
    pub fn platform_unreachable(
        previous: Option<&ClusterStatus>,
        desired: &crate::manifest::desired::DesiredCluster,
        generation: Generation,
        message: String,
        now: Timestamp,
    ) -> ClusterStatus {
        let mut status = previous.cloned().unwrap_or_else(|| {
            let voting = desired.members.get();
            let needed = desired.members.quorum();
            ClusterStatus {
                name: desired.name.clone(),
                observed_generation: generation,
                phase: Phase::Degraded,
                desired_members: voting,
                quorum: QuorumStatus { voting, healthy: 0, needed, fault_tolerance: 0 },
                members: Vec::new(),
                conditions: Vec::new(),
                last_backup: None,
                restore: None,
                kept_aside: Vec::new(),
                last_action: None,
                operation: None,
                last_drill: None,
                certificates: None,
                observed_at: now,
            }
        });
        let since =
            status.condition(ConditionType::PlatformUnreachable).map_or(now, |c| c.last_transition_time);
        status.conditions.retain(|c| c.kind != ConditionType::PlatformUnreachable);
        status.conditions.push(Condition {
            kind: ConditionType::PlatformUnreachable,
            status: ConditionStatus::True,
            reason: Reason::PlatformError,
            message,
            last_transition_time: since,
        });
        status
    }

    /// Whether the status differs from `other` in anything but the observation time.
    pub fn differs_from(&self, other: &ClusterStatus) -> bool {
        let mut a = self.clone();
        a.observed_at = other.observed_at;
        a != *other
    }
}

#[cfg(test)]
mod tests {
    use super::{ConditionType, Phase};

    #[test]
    fn every_phase_and_condition_is_named_as_status_writes_it() {
        for phase in Phase::ALL {
            assert_eq!(serde_json::to_value(phase).expect("json"), phase.name());
        }
        for kind in ConditionType::ALL {
            assert_eq!(serde_json::to_value(kind).expect("json"), kind.name());
        }
        let phases: std::collections::BTreeSet<_> = Phase::ALL.iter().map(|p| p.name()).collect();
        let kinds: std::collections::BTreeSet<_> = ConditionType::ALL.iter().map(|k| k.name()).collect();
        assert_eq!((phases.len(), kinds.len()), (Phase::ALL.len(), ConditionType::ALL.len()), "no repeats");
    }
}
