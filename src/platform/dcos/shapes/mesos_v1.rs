//! The Mesos v1 operator API (`POST /mesos/api/v1`, dcos-api.md §4.2): snake_case keys
//! with IDs wrapped as `{"value": ...}`, and status reasons that v0 leaves out.
//!
//! `MARK_AGENT_GONE` has no type here on purpose: the controller must not call it.

use serde::{Deserialize, Serialize};

use super::IdValue;
use super::mesos::MesosTaskState;

/// A call the controller may make; serialises to `{"type": "GET_TASKS"}` and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatorCall {
    /// Every task the master knows.
    GetTasks,
    /// Registered and recovered agents.
    GetAgents,
}

/// A reply to an [`OperatorCall`], told apart by its `type`. Any other type fails to
/// parse: the controller only reads replies to what it asked.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatorReply {
    /// The reply to `GET_TASKS`.
    GetTasks {
        /// The tasks.
        get_tasks: GetTasks,
    },
    /// The reply to `GET_AGENTS`.
    GetAgents {
        /// The agents.
        get_agents: GetAgents,
    },
}

/// `get_tasks`: each list is left out when empty.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct GetTasks {
    /// Deprecated.
    #[serde(default)]
    pub pending_tasks: Vec<Task>,
    /// Tasks on registered agents.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Tasks whose agent is unreachable.
    #[serde(default)]
    pub unreachable_tasks: Vec<Task>,
    /// Terminal tasks.
    #[serde(default)]
    pub completed_tasks: Vec<Task>,
    /// Always empty since Mesos 1.3.
    #[serde(default)]
    pub orphan_tasks: Vec<Task>,
}

/// A v1 task.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Task {
    /// The task name.
    pub name: String,
    /// The task ID.
    pub task_id: IdValue,
    /// The framework ID.
    pub framework_id: IdValue,
    /// The agent; set once the task is launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<IdValue>,
    /// The executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<IdValue>,
    /// The latest state.
    pub state: MesosTaskState,
    /// The state of the latest update not yet acknowledged by the framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_state: Option<MesosTaskState>,
    /// Status updates, with reasons.
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
}

/// A v1 status update.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TaskStatus {
    /// The task ID.
    pub task_id: IdValue,
    /// The state reported.
    pub state: MesosTaskState,
    /// Why (`REASON_AGENT_REMOVED`...): read for messages only, never matched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A message from whoever sent the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `SOURCE_MASTER`, `SOURCE_AGENT` or `SOURCE_EXECUTOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<IdValue>,
    /// When, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
}

/// `get_agents`: registered agents and those recovered after a failover. Agents that
/// are gone or removed are not listed.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct GetAgents {
    /// Registered agents.
    #[serde(default)]
    pub agents: Vec<Agent>,
    /// Agents from the registry that have not reregistered yet.
    #[serde(default)]
    pub recovered_agents: Vec<AgentInfo>,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Agent {
    /// Who the agent is.
    pub agent_info: AgentInfo,
    /// Whether it is connected.
    pub active: bool,
    /// Deactivated by an operator (newer Mesos only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    /// Its Mesos version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its libprocess PID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
}

/// An agent's identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AgentInfo {
    /// The agent ID.
    pub id: IdValue,
    /// The hostname.
    pub hostname: String,
    /// The agent's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}
