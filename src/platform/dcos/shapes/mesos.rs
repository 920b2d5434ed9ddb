//! The Mesos master's v0 JSON (`/mesos/master/state`, `/master/slaves`,
//! `/master/tasks`): snake_case keys, plain string IDs, resources as
//! `{name: number | string}` (dcos-api.md §4, §4.1, §9.5).
//!
//! `slaves` lists only registered agents: an unreachable or removed agent is missing
//! from it, and `unreachable_slaves` is only a count, so an agent's absence is the sign.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

open_enum! {
    /// A Mesos `TaskState`, with its `TASK_` prefix (Mesos JSON, pod info). See §4.3.
    pub enum MesosTaskState {
        /// Initial state.
        Staging = "TASK_STAGING",
        /// Being launched.
        Starting = "TASK_STARTING",
        /// Runs.
        Running = "TASK_RUNNING",
        /// Being killed.
        Killing = "TASK_KILLING",
        /// Finished successfully (terminal).
        Finished = "TASK_FINISHED",
        /// Failed (terminal).
        Failed = "TASK_FAILED",
        /// Killed (terminal).
        Killed = "TASK_KILLED",
        /// Invalid task description (terminal).
        Error = "TASK_ERROR",
        /// Lost; may come back to RUNNING when a partitioned agent reregisters.
        Lost = "TASK_LOST",
        /// Partition-aware only: a transient launch failure (terminal).
        Dropped = "TASK_DROPPED",
        /// Partition-aware only: the agent lost contact; the task may still run.
        Unreachable = "TASK_UNREACHABLE",
        /// Partition-aware only: the agent was terminated with its tasks (terminal).
        Gone = "TASK_GONE",
        /// Partition-aware only: an operator said the agent is shut down.
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
        /// The master knows nothing of the task.
        Unknown = "TASK_UNKNOWN",
    }
}

impl MesosTaskState {
    /// Whether the task is launched and not on its way out: staging, starting or running.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Staging | Self::Starting | Self::Running)
    }
}

/// `GET /mesos/master/state`: the parts the controller reads.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MasterState {
    /// Registered agents only. Required: without it every agent would look lost.
    pub slaves: Vec<Agent>,
    /// Agents known from the registry after a master failover that have not
    /// reregistered yet.
    #[serde(default)]
    pub recovered_slaves: Vec<RecoveredAgent>,
    /// Active frameworks with their tasks. Required: without it no task is found.
    pub frameworks: Vec<Framework>,
    /// How many agents are active (a number, written as a float by some versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_slaves: Option<f64>,
    /// How many registered agents are deactivated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_slaves: Option<f64>,
    /// How many agents are unreachable: a count, not a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_slaves: Option<f64>,
}

impl MasterState {
    /// The registered agent with this ID.
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.slaves.iter().find(|a| a.id == id)
    }

    /// The recovered (not yet reregistered) agent with this ID.
    pub fn recovered_agent(&self, id: &str) -> Option<&RecoveredAgent> {
        self.recovered_slaves.iter().find(|a| a.id == id)
    }

    /// The task with this ID in any framework's running, unreachable or completed
    /// tasks, and which of those lists holds it.
    pub fn task(&self, id: &str) -> Option<(&Task, TaskList)> {
        self.frameworks.iter().find_map(|f| {
            let lists = [
                (&f.tasks, TaskList::Tasks),
                (&f.unreachable_tasks, TaskList::Unreachable),
                (&f.completed_tasks, TaskList::Completed),
            ];
            lists.into_iter().find_map(|(tasks, list)| tasks.iter().find(|t| t.id == id).map(|t| (t, list)))
        })
    }
}

/// Which list of a framework holds a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskList {
    /// `tasks`: on a registered agent.
    Tasks,
    /// `unreachable_tasks`: its agent was removed as unreachable.
    Unreachable,
    /// `completed_tasks`: terminal, or its agent was marked gone.
    Completed,
}

/// A registered agent (`slaves[]`, `/master/slaves`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Agent {
    /// The agent ID, kept when an unreachable agent reregisters.
    pub id: String,
    /// The hostname (often the agent's IP on DC/OS).
    pub hostname: String,
    /// Whether the agent is connected; `false` while disconnected (it may return).
    pub active: bool,
    /// The agent's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The Mesos version of the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Deactivated by an operator (Mesos 1.9+ only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    /// Total resources: scalars as numbers, ranges as strings.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceValue>,
}

/// An agent from the registry that has not reregistered since a master failover.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RecoveredAgent {
    /// The agent ID.
    pub id: String,
    /// The hostname.
    #[serde(default)]
    pub hostname: String,
}

/// A v0 resource value: `cpus: 4.0` or `ports: "[1025-2180]"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ResourceValue {
    /// A scalar.
    Scalar(f64),
    /// Ranges or a set, as Mesos prints them.
    Text(String),
}

/// An active framework (`frameworks[]`). Its name is the SDK service name.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Framework {
    /// The framework ID.
    pub id: String,
    /// The framework name.
    pub name: String,
    /// Tasks on registered agents.
    pub tasks: Vec<Task>,
    /// Tasks whose agent was removed as unreachable.
    #[serde(default)]
    pub unreachable_tasks: Vec<Task>,
    /// Terminal tasks, and those of agents marked gone.
    #[serde(default)]
    pub completed_tasks: Vec<Task>,
}

/// A v0 task (`frameworks[].tasks[]`, `/master/tasks`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Task {
    /// The task ID (`<service>__<task>__<uuid>`).
    pub id: String,
    /// The task name (`etcd-1-peer`).
    pub name: String,
    /// The framework ID.
    pub framework_id: String,
    /// The agent the task was launched on.
    pub slave_id: String,
    /// The latest state.
    pub state: MesosTaskState,
    /// The executor ID; empty or absent for command tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<String>,
    /// The role (newer Mesos only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The task's resources.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceValue>,
    /// Status updates; v0 carries no reason, message or source.
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    /// The task's labels.
    #[serde(default)]
    pub labels: Vec<super::Label>,
}

/// A v0 status update: only state, time, health and container status.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TaskStatus {
    /// The state reported.
    pub state: MesosTaskState,
    /// When, in seconds since the epoch.
    pub timestamp: f64,
    /// The health check's verdict, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// `GET /mesos/master/slaves`: registered and recovered agents.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AgentsReply {
    /// Registered agents.
    pub slaves: Vec<Agent>,
    /// Recovered agents that have not reregistered.
    #[serde(default)]
    pub recovered_slaves: Vec<RecoveredAgent>,
}

/// `GET /mesos/master/tasks`: at most `limit` tasks (100 by default).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TasksReply {
    /// Running, unreachable and completed tasks together.
    pub tasks: Vec<Task>,
}
