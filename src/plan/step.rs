//! What each step is called and says, which slot it is about, and how disruptive it
//! is: read by events, status, metrics and the safety properties.

use super::types::Step;
use crate::domain::PodName;

impl Step {
    /// A short name for logs, events and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bootstrap { .. } => "Bootstrap",
            Self::WipeFailedBootstrap { .. } => "WipeFailedBootstrap",
            Self::RestartInPlace { .. } => "RestartInPlace",
            Self::RequestRestart { .. } => "RequestRestart",
            Self::RequestReplace { .. } => "RequestReplace",
            Self::SnapshotBeforeReplace { .. } => "SnapshotBeforeReplace",
            Self::WipeMember { .. } => "WipeMember",
            Self::RemoveMember { .. } => "RemoveMember",
            Self::AddLearner { .. } => "AddLearner",
            Self::AddMember { .. } => "AddMember",
            Self::LaunchReplacement { .. } => "LaunchReplacement",
            Self::PromoteLearner { .. } => "PromoteLearner",
            Self::BeginScaleUp { .. } => "BeginScaleUp",
            Self::BeginScaleDown { .. } => "BeginScaleDown",
            Self::RequestScaleUp { .. } => "RequestScaleUp",
            Self::TakeBackup => "TakeBackup",
            Self::RestoreFromSurvivor { .. } => "RestoreFromSurvivor",
            Self::RestoreFromBackup { .. } => "RestoreFromBackup",
            Self::MoveLeader { .. } => "MoveLeader",
            Self::RetireMember { .. } => "RetireMember",
            Self::RejoinReplacement { .. } => "RejoinReplacement",
            Self::ReadSurvivor { .. } => "ReadSurvivor",
            Self::AbandonJoin { .. } => "AbandonJoin",
            Self::Defragment { .. } => "Defragment",
            Self::DisarmAlarm { .. } => "DisarmAlarm",
            Self::RestartMember { .. } => "RestartMember",
        }
    }

    /// A sentence saying what the step does.
    pub fn describe(&self) -> String {
        match self {
            Self::Bootstrap { attempt, launch, .. } => {
                format!("bootstrap attempt {attempt}: launch {}", pods(launch))
            }
            Self::WipeFailedBootstrap { attempt, pods: p } => {
                format!("wipe {} after failed bootstrap attempt {attempt}", pods(p))
            }
            Self::RestartInPlace { pod, attempt, of, .. } => {
                format!("restart {pod} in place on its own data (restart {attempt} of {of})")
            }
            Self::RequestRestart { pod } => format!("ask the platform to restart {pod}'s pod where it is"),
            Self::RequestReplace { pod } => {
                format!(
                    "ask the platform to replace {pod}'s pod on a new agent (it changes membership itself)"
                )
            }
            Self::SnapshotBeforeReplace { pod, from, .. } => {
                format!("snapshot {from} before replacing {pod}")
            }
            Self::WipeMember { pod } => format!("stop {pod} and delete its data"),
            Self::RemoveMember { pod: Some(pod), id, .. } => {
                format!("remove member {id} ({pod}) from the cluster")
            }
            Self::RemoveMember { pod: None, id, .. } => {
                format!("remove phantom member {id} from the cluster")
            }
            Self::AddLearner { pod, peer_url, .. } => format!("add {pod} ({peer_url}) as a learner"),
            Self::AddMember { pod, peer_url, .. } => {
                format!("add {pod} ({peer_url}) as a voting member (etcd older than 3.4 has no learners)")
            }
            Self::LaunchReplacement { pod, .. } => {
                format!("launch {pod} with an empty data directory to join the cluster")
            }
            Self::PromoteLearner { pod, id, .. } => {
                format!("promote learner {pod} ({id}) to a voting member")
            }
            Self::BeginScaleUp { pod, backup } => format!("scale up: {pod} joins, backed by backup {backup}"),
            Self::BeginScaleDown { members, backup } => {
                format!("scale down to {members} members, backed by backup {backup}")
            }
            Self::RequestScaleUp { members, backup } => {
                format!(
                    "ask the platform to grow the cluster to {members} members, backed by backup {backup}"
                )
            }
            Self::TakeBackup => "take and verify a backup before changing the member count".to_owned(),
            Self::RestoreFromSurvivor { pod, .. } => format!("restore every member from a snapshot of {pod}"),
            Self::RestoreFromBackup { id } => format!("restore every member from backup {id}"),
            Self::MoveLeader { from, to, .. } => format!("move leadership from {from} to member {to}"),
            Self::RetireMember { pod } => {
                format!("stop the removed member {pod}, delete its data and forget its slot")
            }
            Self::RejoinReplacement { pod } => {
                format!("stop the unresponsive replacement {pod} and delete its data, to add it again")
            }
            Self::ReadSurvivor { pod } => {
                format!("read the data of the stopped survivor {pod} through a scratch copy")
            }
            Self::AbandonJoin { pod } => format!("abandon the join of {pod}: it is no longer desired"),
            Self::Defragment { pod, db_size_before, .. } => {
                format!("defragment {pod} (db {})", crate::model::etcd::human_bytes(*db_size_before))
            }
            Self::DisarmAlarm { .. } => "disarm the NOSPACE alarm: writes work again".to_owned(),
            Self::RestartMember { pod, change, .. } => {
                format!("restart {pod} on its own data with the manifest's settings ({change})")
            }
        }
    }

    /// The member slot the step is about, if one.
    pub fn pod(&self) -> Option<PodName> {
        match self {
            Self::Bootstrap { .. }
            | Self::WipeFailedBootstrap { .. }
            | Self::TakeBackup
            | Self::DisarmAlarm { .. }
            | Self::RequestScaleUp { .. }
            | Self::BeginScaleDown { .. }
            | Self::RestoreFromBackup { .. } => None,
            Self::RestartInPlace { pod, .. }
            | Self::RequestRestart { pod }
            | Self::RequestReplace { pod }
            | Self::SnapshotBeforeReplace { pod, .. }
            | Self::WipeMember { pod }
            | Self::AddLearner { pod, .. }
            | Self::AddMember { pod, .. }
            | Self::LaunchReplacement { pod, .. }
            | Self::PromoteLearner { pod, .. }
            | Self::BeginScaleUp { pod, .. }
            | Self::RestoreFromSurvivor { pod, .. }
            | Self::RetireMember { pod }
            | Self::RejoinReplacement { pod }
            | Self::ReadSurvivor { pod }
            | Self::AbandonJoin { pod }
            | Self::Defragment { pod, .. }
            | Self::RestartMember { pod, .. } => Some(*pod),
            Self::MoveLeader { from, .. } => Some(*from),
            Self::RemoveMember { pod, .. } => *pod,
        }
    }

    /// Whether the step changes etcd membership (at most one per pass).
    pub fn changes_membership(&self) -> bool {
        matches!(
            self,
            Self::RemoveMember { .. }
                | Self::AddLearner { .. }
                | Self::AddMember { .. }
                | Self::PromoteLearner { .. }
                | Self::MoveLeader { .. }
        )
    }

    /// Whether the step touches members beyond restarting them in place: membership
    /// changes, wipes, launches of new members, snapshots before them, bootstraps.
    pub fn is_disruptive(&self) -> bool {
        !matches!(
            self,
            Self::RestartInPlace { .. }
                | Self::RequestRestart { .. }
                | Self::SnapshotBeforeReplace { .. }
                | Self::BeginScaleUp { .. }
                | Self::BeginScaleDown { .. }
                | Self::TakeBackup
                | Self::AbandonJoin { .. }
                | Self::DisarmAlarm { .. }
        )
    }
}

fn pods(pods: &[PodName]) -> String {
    pods.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
