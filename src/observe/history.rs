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
use super::platform::TaskState;
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
    /// When each running member was first seen not answering or unhealthy.
    pub unanswered_since: BTreeMap<PodName, Timestamp>,
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
            let answering = task.task == TaskState::Running && observed.is_healthy(pod);
            if answering || task.task == TaskState::NotLaunched {
                self.unanswered_since.remove(&pod);
            } else {
                self.unanswered_since.entry(pod).or_insert(observed.at);
            }
        }
        let known: Vec<PodName> = observed.platform.tasks.iter().map(|t| t.pod).collect();
        self.down_since.retain(|pod, _| known.contains(pod));
        self.unanswered_since.retain(|pod, _| known.contains(pod));
        let top = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).map(|s| s.revision).max();
        if let Some(revision) = top {
            if self.last_revision.is_none_or(|(seen, _)| revision >= seen) {
                self.last_revision = Some((revision, observed.at));
            }
        }
    }
}
