//! The SDK scheduler's other replies: framework ID, target configuration and health
//! (dcos-api.md §2.5-§2.7).

use serde::{Deserialize, Serialize};

use super::{ShapeError, excerpt, parse};

/// The one value of a one-element array reply.
fn only(what: &str, mut values: Vec<String>) -> Result<String, String> {
    match (values.pop(), values.is_empty()) {
        (Some(value), true) if !value.is_empty() => Ok(value),
        _ => Err(format!("{what}: expected an array of one non-empty string")),
    }
}

/// `GET /v1/state/frameworkId`: `["<framework id>"]`; 404 before the first
/// registration. Filters the Mesos tasks of this service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct FrameworkId(pub String);

impl TryFrom<Vec<String>> for FrameworkId {
    type Error = String;

    fn try_from(values: Vec<String>) -> Result<Self, String> {
        only("framework ID", values).map(Self)
    }
}

impl From<FrameworkId> for Vec<String> {
    fn from(id: FrameworkId) -> Self {
        vec![id.0]
    }
}

/// `GET /v1/configurations/targetId`: `["<uuid>"]`; 404 when there is no target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TargetConfigId(pub String);

impl TryFrom<Vec<String>> for TargetConfigId {
    type Error = String;

    fn try_from(values: Vec<String>) -> Result<Self, String> {
        only("target configuration ID", values).map(Self)
    }
}

impl From<TargetConfigId> for Vec<String> {
    fn from(id: TargetConfigId) -> Self {
        vec![id.0]
    }
}

open_enum! {
    /// What a task is meant to do (`GoalState`).
    pub enum GoalState {
        /// Keep running (`etcd-N-peer`).
        Running = "RUNNING",
        /// Run once to completion (`etcd-N-recover`).
        Once = "ONCE",
        /// Run to completion on every configuration change.
        Finish = "FINISH",
    }
}

/// `GET /v1/configurations/target`: the parts of the `ServiceSpec` the controller reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ServiceSpec {
    /// The service name.
    pub name: String,
    /// One spec per pod type.
    #[serde(rename = "pod-specs")]
    pub pod_specs: Vec<PodSpec>,
}

impl ServiceSpec {
    /// How many etcd pods the package runs: 3 with `kubernetes.high_availability`,
    /// else 1 (rendered from `ETCD_COUNT`).
    pub fn etcd_count(&self) -> Option<u32> {
        self.pod_specs.iter().find(|p| p.kind == "etcd").map(|p| p.count)
    }
}

/// A pod type of the service spec.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PodSpec {
    /// The pod type (`etcd`).
    #[serde(rename = "type")]
    pub kind: String,
    /// How many instances.
    pub count: u32,
    /// Its tasks.
    #[serde(rename = "task-specs", default)]
    pub task_specs: Vec<TaskSpec>,
}

/// A task of a pod spec.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TaskSpec {
    /// The short task name (`peer`).
    pub name: String,
    /// What it is meant to do.
    pub goal: GoalState,
}

/// The body of `GET /v1/health` on SDK 0.55 and older: build information. The HTTP
/// status carries the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct BuildInfo {
    /// `kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_name: Option<String>,
    /// `1.3.1-1.10.8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
    /// When the package was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_built_at: Option<String>,
    /// The SDK's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_name: Option<String>,
    /// `0.54.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    /// The SDK's commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_git_sha: Option<String>,
    /// When the SDK was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_built_at: Option<String>,
}

/// The body of `GET /v1/health` on SDK 0.56 and newer: the verdict as a code equal to
/// the HTTP status (200 running, 202/204 deploying, 203/205 recovering, 320 backing
/// up...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct HealthCode {
    /// The code.
    pub value: u16,
    /// Why, with `?verbose=true` (shape not in the reference: kept as JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<serde_json::Value>,
}

/// A reply of `GET /v1/health`, in either generation's form.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthReply {
    /// SDK 0.55 and older: 200 healthy, 202 a deploy or recovery plan incomplete, 417
    /// errors; the body is build information.
    Legacy {
        /// The HTTP status.
        status: u16,
        /// The build information.
        build: BuildInfo,
    },
    /// SDK 0.56 and newer.
    Coded(HealthCode),
}

impl HealthReply {
    /// Reads a health reply; a body with `value` is the newer form.
    ///
    /// # Errors
    ///
    /// A body of neither form, or a code that differs from the HTTP status.
    pub fn from_http(status: u16, body: &str) -> Result<Self, ShapeError> {
        const WHAT: &str = "health";
        let value: serde_json::Value = parse(WHAT, body)?;
        if value.get("value").is_some() {
            let code: HealthCode = parse(WHAT, body)?;
            if code.value != status {
                let reason = format!("code {} under HTTP status {status}", code.value);
                return Err(ShapeError::Value { what: WHAT, reason });
            }
            return Ok(Self::Coded(code));
        }
        match status {
            200 | 202 | 417 => Ok(Self::Legacy { status, build: parse(WHAT, body)? }),
            _ => Err(ShapeError::Status { what: WHAT, status, body: excerpt(body) }),
        }
    }
}
