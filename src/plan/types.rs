//! The values a plan is made of: rules, steps, decisions.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::{BackupId, MemberId, PodName};

/// A decision rule of SPEC section 3. Every step and refusal names one; it
/// serializes as its [`Rule::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `paused: true`: observe and report, never act.
    Paused,
    /// Scenario 1: launch the members of a cluster that never served.
    Bootstrap,
    /// Scenario 1: a first bootstrap failed; wipe it and try again with backoff.
    BootstrapRetry,
    /// Scenario 1: bootstrap attempts exhausted; a human must look at the logs.
    BootstrapFailed,
    /// Scenarios 3a and 4a: a crashed member on a healthy agent restarts in place.
    RestartInPlace,
    /// Scenario 4b: a lost or unresponsive member is replaced while quorum holds.
    ReplaceLostMember,
    /// Scenario 4c: a majority is down on healthy agents; wait, change nothing.
    WaitForMembers,
    /// Scenarios 3b and 4d: data of a majority is gone; only a restore helps.
    RestoreRequired,
    /// A member added but never started, for no slot of ours, is removed first.
    PhantomMember,
    /// A voter of the cluster belongs to no member slot: it answers at no slot's client
    /// URL and no slot was seen as it. Reported, never counted as lost.
    UnknownMember,
    /// Scenarios 3b and 4d under `quorumLoss: Restore`: restore every member.
    Restore,
    /// An operation in flight has run past `recovery.operationDeadline`: reported, with
    /// what a person can do; it goes on.
    OperationStuck,
    /// Scenario 2: the cluster grows one learner at a time behind a fresh backup.
    ScaleUp,
    /// Scenario 2: a scale-up or scale-down refused for want of a fresh backup.
    ScaleBlocked,
    /// Scenario 2: a single voter is not grown without learners (etcd older than 3.4):
    /// the second voter, not answering yet, would cost the quorum.
    ScaleNeedsLearners,
    /// Scenario 2: the platform as installed cannot run the member count asked for
    /// (DC/OS: 5 members need kubernetes-cluster 2.4 or later); refused until
    /// `spec.members` changes.
    ScaleBeyondPlatform,
    /// The cluster shrinks one member at a time, never the leader first (local only).
    ScaleDown,
    /// A member whose database is mostly free pages is defragmented: one at a time,
    /// followers first, the leader last, only while the cluster tolerates a failure.
    Defragment,
    /// A NOSPACE alarm: reported; under `policy.noSpace: Recover` every member is
    /// defragmented and the alarm disarmed once the databases fit the quota.
    NoSpace,
    /// Members that run with launch settings the manifest no longer asks for (the
    /// database quota) are restarted on their own data: one at a time, followers first,
    /// the leader last, only while the cluster tolerates a failure.
    RollingRestart,
}

impl Rule {
    /// The rule's identifier, as printed by `etcd-warden plan` and in events.
    pub fn id(self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Bootstrap => "1-bootstrap",
            Self::BootstrapRetry => "1-bootstrap-retry",
            Self::BootstrapFailed => "1-bootstrap-failed",
            Self::RestartInPlace => "3a/4a-restart-in-place",
            Self::ReplaceLostMember => "4b-replace-lost-member",
            Self::WaitForMembers => "4c-wait-for-members",
            Self::RestoreRequired => "3b/4d-restore-required",
            Self::PhantomMember => "phantom-member",
            Self::UnknownMember => "unknown-member",
            Self::Restore => "3b/4d-restore",
            Self::OperationStuck => "operation-stuck",
            Self::ScaleUp => "2-scale-up",
            Self::ScaleBlocked => "2-scale-up-blocked",
            Self::ScaleNeedsLearners => "2-scale-up-needs-learners",
            Self::ScaleBeyondPlatform => "2-scale-up-beyond-platform",
            Self::ScaleDown => "scale-down",
            Self::Defragment => "5-defragment",
            Self::NoSpace => "6-nospace",
            Self::RollingRestart => "7-rolling-restart",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A side effect the controller may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    /// Launch `pods` as members of a new cluster (attempt `attempt`, token `token`).
    #[serde(rename_all = "camelCase")]
    Bootstrap {
        /// 1 for the first attempt.
        attempt: u32,
        /// The `--initial-cluster-token`.
        token: String,
        /// Every member's peer URL.
        initial_cluster: Vec<(PodName, String)>,
        /// The pods to launch now (the others already run).
        launch: Vec<PodName>,
    },
    /// Stop and wipe the members of a failed first bootstrap.
    #[serde(rename_all = "camelCase")]
    WipeFailedBootstrap {
        /// The attempt that failed.
        attempt: u32,
        /// The pods to wipe.
        pods: Vec<PodName>,
    },
    /// Start a crashed member again on its own data.
    #[serde(rename_all = "camelCase")]
    RestartInPlace {
        /// The member.
        pod: PodName,
        /// Every member's peer URL, for etcd's flags (ignored with data present).
        initial_cluster: Vec<(PodName, String)>,
        /// Which restart since the member was last healthy this is (1 = the first).
        attempt: u32,
        /// `recovery.maxRestarts`: after that many, the slot counts as lost.
        of: u32,
    },
    /// Ask the platform to restart the member's pod where it is (a platform that
    /// restarts members itself, and has not).
    #[serde(rename_all = "camelCase")]
    RequestRestart {
        /// The member.
        pod: PodName,
    },
    /// Ask the platform to replace the member's pod on a new agent; the platform
    /// changes etcd membership itself. Asked once per replacement.
    #[serde(rename_all = "camelCase")]
    RequestReplace {
        /// The member.
        pod: PodName,
    },
    /// Save a snapshot of a healthy member before replacing `pod`.
    #[serde(rename_all = "camelCase")]
    SnapshotBeforeReplace {
        /// The slot about to be replaced.
        pod: PodName,
        /// The member the snapshot is taken from (highest revision).
        from: PodName,
        /// Its client URL.
        endpoint: String,
    },
    /// Stop a failed member's process (if any) and delete its data.
    #[serde(rename_all = "camelCase")]
    WipeMember {
        /// The slot.
        pod: PodName,
    },
    /// Remove a member from the cluster.
    #[serde(rename_all = "camelCase")]
    RemoveMember {
        /// The slot it belonged to (`None` for a phantom).
        pod: Option<PodName>,
        /// The member.
        id: MemberId,
        /// The healthy member asked.
        via: String,
    },
    /// Add a learner with the slot's peer URL.
    #[serde(rename_all = "camelCase")]
    AddLearner {
        /// The slot.
        pod: PodName,
        /// Its peer URL.
        peer_url: String,
        /// The healthy member asked.
        via: String,
    },
    /// Add a voting member with the slot's peer URL, where a member runs etcd older than
    /// 3.4 (no learners); only while a quorum holds with it counted and not answering.
    #[serde(rename_all = "camelCase")]
    AddMember {
        /// The slot.
        pod: PodName,
        /// Its peer URL.
        peer_url: String,
        /// The healthy member asked.
        via: String,
    },
    /// Start the added member with an empty data directory, joining the cluster.
    #[serde(rename_all = "camelCase")]
    LaunchReplacement {
        /// The slot.
        pod: PodName,
        /// The cluster's members as etcd lists them, this one included.
        initial_cluster: Vec<(PodName, String)>,
    },
    /// Record that `pod` joins the cluster as it grows, behind backup `backup`.
    #[serde(rename_all = "camelCase")]
    BeginScaleUp {
        /// The new slot.
        pod: PodName,
        /// The fresh verified backup that allows it.
        backup: BackupId,
    },
    /// Record that the cluster shrinks to `members`, behind backup `backup` (the
    /// scale-down begins; its member removals follow, one per pass).
    #[serde(rename_all = "camelCase")]
    BeginScaleDown {
        /// The member count it shrinks to.
        members: usize,
        /// The fresh verified backup that allows it.
        backup: BackupId,
    },
    /// Ask the platform, once, to grow the cluster to `members` by itself, behind
    /// backup `backup` (DC/OS: the Cosmos update turning high availability on).
    #[serde(rename_all = "camelCase")]
    RequestScaleUp {
        /// The member count asked for.
        members: usize,
        /// The fresh verified backup that allows it.
        backup: BackupId,
    },
    /// Restore every member from a fresh snapshot of a surviving member.
    #[serde(rename_all = "camelCase")]
    RestoreFromSurvivor {
        /// The survivor.
        pod: PodName,
        /// Its client URL.
        endpoint: String,
    },
    /// Restore every member from a verified backup.
    #[serde(rename_all = "camelCase")]
    RestoreFromBackup {
        /// The backup.
        id: BackupId,
    },
    /// Take a verified backup now (`policy.scaleUp: BackupFirst`).
    TakeBackup,
    /// Hand leadership to another member before the leader is removed.
    #[serde(rename_all = "camelCase")]
    MoveLeader {
        /// The member that leads now, and hands leadership over.
        from: PodName,
        /// The new leader.
        to: MemberId,
        /// The current leader's client URL.
        via: String,
    },
    /// Stop a removed member, delete its data and forget its slot.
    #[serde(rename_all = "camelCase")]
    RetireMember {
        /// The slot.
        pod: PodName,
    },
    /// Read a stopped survivor's data after a permanent quorum loss: a scratch copy of
    /// its data directory is started alone (`--force-new-cluster`, its WAL replayed)
    /// and snapshotted; the survivor itself is not touched.
    #[serde(rename_all = "camelCase")]
    ReadSurvivor {
        /// The survivor.
        pod: PodName,
    },
    /// Stop a replacement learner that never answered and delete its data; it is then
    /// removed and added again.
    #[serde(rename_all = "camelCase")]
    RejoinReplacement {
        /// The slot.
        pod: PodName,
    },
    /// Forget the replacement or scale-up of a slot that is no longer desired (its
    /// learner already removed).
    #[serde(rename_all = "camelCase")]
    AbandonJoin {
        /// The slot.
        pod: PodName,
    },
    /// Defragment one member's database (`etcdctl defrag` on that member only): it
    /// gives free pages back to the file system; the member pauses meanwhile.
    #[serde(rename_all = "camelCase")]
    Defragment {
        /// The member.
        pod: PodName,
        /// Its client URL.
        endpoint: String,
        /// Its database size before, as observed.
        db_size_before: i64,
    },
    /// Disarm the cluster's NOSPACE alarm (`etcdctl alarm disarm`): writes work again.
    #[serde(rename_all = "camelCase")]
    DisarmAlarm {
        /// The healthy member asked.
        via: String,
    },
    /// Stop a healthy member and start it again on its own data with the manifest's
    /// launch settings (a rolling restart); the member pauses meanwhile.
    #[serde(rename_all = "camelCase")]
    RestartMember {
        /// The member.
        pod: PodName,
        /// Every member's peer URL, for etcd's flags (ignored with data present).
        initial_cluster: Vec<(PodName, String)>,
        /// What changes, in a few words (`quota 2.0 GiB → 64.0 MiB`).
        change: String,
    },
    /// Promote the slot's learner to a voting member.
    #[serde(rename_all = "camelCase")]
    PromoteLearner {
        /// The slot.
        pod: PodName,
        /// The learner.
        id: MemberId,
        /// The healthy member asked.
        via: String,
    },
}

/// What a rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Take this step now.
    Act {
        /// The step.
        #[serde(flatten)]
        step: Step,
    },
    /// Nothing to do yet; look again (at the latest) at `until`.
    Wait {
        /// When the rule's window ends, if it has one.
        until: Option<Timestamp>,
    },
    /// The rule forbids acting.
    Refuse,
}

/// One decision: the rule, what it decided and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The rule that decided.
    pub rule: Rule,
    /// What it decided.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Why, in one sentence.
    pub message: String,
}

impl Decision {
    /// A step to take.
    pub fn act(rule: Rule, step: Step, message: String) -> Self {
        Self { rule, outcome: Outcome::Act { step }, message }
    }

    /// A wait until a window ends.
    pub fn wait(rule: Rule, until: Option<Timestamp>, message: String) -> Self {
        Self { rule, outcome: Outcome::Wait { until }, message }
    }

    /// A refusal.
    pub fn refuse(rule: Rule, message: String) -> Self {
        Self { rule, outcome: Outcome::Refuse, message }
    }

    /// The step, if this decision acts.
    pub fn step(&self) -> Option<&Step> {
        match &self.outcome {
            Outcome::Act { step } => Some(step),
            _ => None,
        }
    }
}

/// The decisions of one pass, in the order they are taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every decision, steps and refusals alike.
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// The steps to take, in order.
    pub fn steps(&self) -> impl Iterator<Item = (&Step, Rule)> {
        self.decisions.iter().filter_map(|d| d.step().map(|s| (s, d.rule)))
    }

    /// Whether a decision of `rule` refuses.
    pub fn refuses(&self, rule: Rule) -> bool {
        self.decisions.iter().any(|d| d.rule == rule && d.outcome == Outcome::Refuse)
    }

    /// The earliest end of a wait, for the controller's next look.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.decisions
            .iter()
            .filter_map(|d| match d.outcome {
                Outcome::Wait { until } => until,
                _ => None,
            })
            .min()
    }
}
