//! The SDK scheduler's pod endpoints (`/service/<svc>/v1/pod...`, dcos-api.md §2.1-§2.3,
//! §9.1): the pod list, pod status, pod info and the replies of restart and replace.
//!
//! A "stub" task has an empty ID and no status: a task of the pod that is not running
//! in the pod's current launch (never launched, or re-saved while another task of the
//! pod is launched during `pod replace`).

use serde::{Deserialize, Serialize};

use super::mesos::MesosTaskState;
use super::{IdValue, Label, ShapeError};
use crate::domain::PodName;

/// The etcd member slot a pod instance name stands for: `Some` for `etcd-N`, `None`
/// for the service's other pods.
///
/// # Errors
///
/// An `etcd-<digits>` name that is not a slot this controller can hold (`etcd-7`,
/// `etcd-01`): a member it could not watch must not pass unnoticed.
pub fn etcd_pod(name: &str) -> Result<Option<PodName>, ShapeError> {
    let Some(index) = name.strip_prefix("etcd-") else { return Ok(None) };
    if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    name.parse().map(Some).map_err(|e| ShapeError::Value { what: "pod name", reason: format!("{e}") })
}

/// `GET /v1/pod`: the pod instance names, sorted. Tasks whose labels cannot be read
/// appear as `UNKNOWN_POD_<task>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PodList(pub Vec<String>);

impl PodList {
    /// The etcd member pods, in order.
    ///
    /// # Errors
    ///
    /// An etcd pod name this controller cannot hold (see [`etcd_pod`]).
    pub fn etcd_pods(&self) -> Result<Vec<PodName>, ShapeError> {
        let mut pods = Vec::new();
        for name in &self.0 {
            pods.extend(etcd_pod(name)?);
        }
        pods.sort();
        Ok(pods)
    }
}

open_enum! {
    /// A task's status in pod status: a Mesos `TaskState` without its `TASK_` prefix, or
    /// the state of a pause or decommission override (§2.1, §9.6).
    pub enum SdkTaskStatus {
        /// Launched, no update from Mesos yet (the SDK records it itself).
        Staging = "STAGING",
        /// Being launched, or being resumed after a pause.
        Starting = "STARTING",
        /// Runs.
        Running = "RUNNING",
        /// Being killed.
        Killing = "KILLING",
        /// Exited with success.
        Finished = "FINISHED",
        /// Exited with failure.
        Failed = "FAILED",
        /// Killed.
        Killed = "KILLED",
        /// Could not be launched (invalid description).
        Error = "ERROR",
        /// Lost with its agent (frameworks that are not partition-aware, kubernetes 1.x).
        Lost = "LOST",
        /// Partition-aware: the launch was dropped.
        Dropped = "DROPPED",
        /// Partition-aware: the agent lost contact.
        Unreachable = "UNREACHABLE",
        /// Partition-aware: the agent is gone with its tasks.
        Gone = "GONE",
        /// Partition-aware: an operator marked the agent gone.
        GoneByOperator = "GONE_BY_OPERATOR",
        /// Partition-aware: the master knows nothing of the task.
        Unknown = "UNKNOWN",
        /// Being paused by an operator.
        Pausing = "PAUSING",
        /// Paused by an operator: relaunched with a command that does nothing.
        Paused = "PAUSED",
        /// Being decommissioned.
        Decommissioning = "DECOMMISSIONING",
        /// Decommissioned: its resources are given back.
        Decommissioned = "DECOMMISSIONED",
    }
}

/// `GET /v1/pod/<pod>/status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PodStatus {
    /// The pod instance (`etcd-1`).
    pub name: String,
    /// Its tasks, stubs included.
    pub tasks: Vec<PodTask>,
}

impl PodStatus {
    /// The task with this name.
    pub fn task(&self, name: &str) -> Option<&PodTask> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// One task of a pod status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PodTask {
    /// The Mesos task ID; empty for a stub.
    pub id: String,
    /// The task name (`etcd-1-peer`).
    pub name: String,
    /// Absent when the task never had a status (a stub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SdkTaskStatus>,
}

impl PodTask {
    /// Whether this is a stub: not launched in the pod's current launch.
    pub fn is_stub(&self) -> bool {
        self.id.is_empty()
    }
}

/// `GET /v1/pod/status`: every pod of the service, grouped by pod type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ServicePodStatus {
    /// The service name.
    pub service: String,
    /// One entry per pod type.
    pub pods: Vec<PodType>,
}

impl ServicePodStatus {
    /// Every pod instance, all types together.
    pub fn instances(&self) -> impl Iterator<Item = &PodStatus> {
        self.pods.iter().flat_map(|p| &p.instances)
    }
}

/// The instances of one pod type (`etcd`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PodType {
    /// The pod type.
    pub name: String,
    /// Its instances.
    pub instances: Vec<PodStatus>,
}

/// `GET /v1/pod/<pod>/info`: Mesos v0 `TaskInfo` and `TaskStatus` as camelCase
/// protobuf JSON, stubs included.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PodInfo(pub Vec<TaskInfoAndStatus>);

impl PodInfo {
    /// The entry of the task with this name.
    pub fn task(&self, name: &str) -> Option<&TaskInfoAndStatus> {
        self.0.iter().find(|t| t.info.name == name)
    }
}

/// One task of a pod info.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TaskInfoAndStatus {
    /// What was (or would be) launched.
    pub info: TaskInfo,
    /// The last status; `null` for a stub.
    #[serde(default)]
    pub status: Option<TaskInfoStatus>,
}

/// The parts of a Mesos `TaskInfo` the controller reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// The task name.
    pub name: String,
    /// The task ID; empty for a stub.
    pub task_id: IdValue,
    /// The agent: kept on a stub (§9.1), possibly empty in older replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<IdValue>,
    /// The SDK's labels.
    #[serde(default)]
    pub labels: Labels,
}

impl TaskInfo {
    /// The value of a label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.labels.iter().find(|l| l.key == key).and_then(|l| l.value.as_deref())
    }

    /// Whether `pod replace` marked the task permanently failed and it was not
    /// relaunched since.
    pub fn permanently_failed(&self) -> bool {
        self.label("permanently-failed") == Some("true")
    }

    /// The agent ID, if set and not empty.
    pub fn agent_id(&self) -> Option<&str> {
        self.slave_id.as_ref().map(|s| s.value.as_str()).filter(|s| !s.is_empty())
    }
}

/// A protobuf `Labels` message: `{"labels": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct Labels {
    /// The labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// The parts of a Mesos v0 `TaskStatus` the controller reads (camelCase).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfoStatus {
    /// The task ID.
    pub task_id: IdValue,
    /// The state, with its `TASK_` prefix.
    pub state: MesosTaskState,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<IdValue>,
    /// Why (v0 names: `REASON_SLAVE_REMOVED`); for messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A message from whoever sent the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who sent the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// The health check's verdict, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// `POST /v1/pod/<pod>/restart`, `/replace`, `/pause`, `/resume`: the pod and the tasks
/// acted on. A 200 says the tasks were killed, not that anything was running.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PodCommandReply {
    /// The pod instance.
    pub pod: String,
    /// The tasks acted on, stubs included.
    pub tasks: Vec<String>,
}
