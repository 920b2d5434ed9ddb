//! What the controller has seen over time: facts that one observation cannot show.
//!
//! Time windows ("down for longer than `restartGrace`") need to know when a failure
//! was first seen; scenario 1 needs to know whether the cluster ever served. These
//! are recorded observations, never intentions, and are persisted with the status.
//! After a controller restart the windows start again, which only makes it wait longer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Observed;
use super::platform::{AgentState, TaskState};
use crate::domain::PodName;

/// A first bootstrap in progress or finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The `--initial-cluster-token` of this attempt, kept so that members launched in
    /// later passes join the same cluster.
    pub token: String,
    /// When the attempt started.
    pub started_at: Timestamp,
}

/// A replacement in progress (scenario 4b): which slot, and the snapshot taken
/// before its first membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// Why the slot gets a new member.
    #[serde(default)]
    pub kind: JoinKind,
    /// The member slot being replaced.
    pub pod: PodName,
    /// When the snapshot of a healthy member was taken.
    pub snapshot_at: Timestamp,
    /// The snapshot file.
    pub snapshot: std::path::PathBuf,
    /// The revision inside the snapshot.
    pub snapshot_revision: i64,
    /// How many times the new member was launched.
    pub launches: u32,
    /// When it was last launched.
    pub last_launch: Option<Timestamp>,
}

/// Why a slot gets a new member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JoinKind {
    /// Its old member was lost (scenario 4b).
    #[default]
    Replace,
    /// The cluster grows (scenario 2).
    ScaleUp,
}

/// Facts seen over time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Whether a quorum of members has ever answered healthy: after that, the cluster
    /// holds data and is never wiped.
    pub ever_healthy: bool,
    /// The latest first-bootstrap attempt.
    pub bootstrap: Option<BootstrapAttempt>,
    /// When each launched member was first seen not running.
    pub down_since: BTreeMap<PodName, Timestamp>,
    /// When each live (running or suspended) process was first seen not answering or
    /// unhealthy; cleared when the process exits, so a restart starts a new window.
    pub unanswered_since: BTreeMap<PodName, Timestamp>,
    /// When each member's agent was first seen lost.
    pub lost_since: BTreeMap<PodName, Timestamp>,
    /// The replacement in progress, if any.
    pub replacement: Option<Replacement>,
    /// The last restore and its data-loss window.
    #[serde(default)]
    pub last_restore: Option<crate::backup::recover::RestoreReport>,
    /// The highest revision seen and when.
    pub last_revision: Option<(i64, Timestamp)>,
}

impl History {
    /// Folds one observation in. `quorum` is the number of healthy voters that makes
    /// the cluster serve.
    pub fn record(&mut self, observed: &Observed, quorum: usize) {
        if observed.healthy_voters() >= quorum {
            self.ever_healthy = true;
        }
        for task in &observed.platform.tasks {
            let pod = task.pod;
            match task.task {
                TaskState::Running => {
                    self.down_since.remove(&pod);
                }
                TaskState::Exited | TaskState::Suspended => {
                    self.down_since.entry(pod).or_insert(observed.at);
                }
                TaskState::NotLaunched => {
                    self.down_since.remove(&pod);
                }
            }
            let live = matches!(task.task, TaskState::Running | TaskState::Suspended);
            if live && !observed.is_healthy(pod) {
                self.unanswered_since.entry(pod).or_insert(observed.at);
            } else {
                self.unanswered_since.remove(&pod);
            }
            if task.agent == AgentState::Lost {
                self.lost_since.entry(pod).or_insert(observed.at);
            } else {
                self.lost_since.remove(&pod);
            }
        }
        let known: Vec<PodName> = observed.platform.tasks.iter().map(|t| t.pod).collect();
        self.down_since.retain(|pod, _| known.contains(pod));
        self.unanswered_since.retain(|pod, _| known.contains(pod));
        self.lost_since.retain(|pod, _| known.contains(pod));
        let replaced = self.replacement.as_ref().map(|r| r.pod);
        if let Some(pod) = replaced {
            // Done once the slot's member is a healthy voter again.
            let voter = observed.endpoint(pod).is_some_and(|s| s.is_healthy_voter());
            if voter {
                self.replacement = None;
            }
        }
        let top = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).map(|s| s.revision).max();
        if let Some(revision) = top
            && self.last_revision.is_none_or(|(seen, _)| revision >= seen)
        {
            self.last_revision = Some((revision, observed.at));
        }
    }
}
