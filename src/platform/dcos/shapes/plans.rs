//! The SDK scheduler's plans (`/service/<svc>/v1/plans...`, dcos-api.md §2, §2.4, §9.6).
//!
//! `GET /v1/plans/<p>` answers 200 when the plan is complete, 202 while it is not and
//! 417 when it has errors, with the plan in the body each time: none of them is a
//! transport error. Commands answer 208 `text/plain` when there is nothing to do.

use serde::{Deserialize, Serialize};

use super::{NotFound, ShapeError, excerpt, parse};

/// `GET /v1/plans`: plan names, not sorted (`deploy`, `recovery`, then the others).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PlanList(pub Vec<String>);

open_enum! {
    /// The status of a plan, phase or step (`scheduler/plan/Status.java`).
    pub enum PlanStatus {
        /// Waiting for offers, or not started.
        Pending = "PENDING",
        /// Evaluated; tasks killed if needed.
        Prepared = "PREPARED",
        /// Launches sent, waiting for a status.
        Starting = "STARTING",
        /// A status came, readiness not yet satisfied.
        Started = "STARTED",
        /// Done.
        Complete = "COMPLETE",
        /// Phases and plans only: interrupted (or a child is).
        Waiting = "WAITING",
        /// Phases and plans only: some children complete, some running.
        InProgress = "IN_PROGRESS",
        /// A construction or validation error (the plan's `errors` say which).
        Error = "ERROR",
        /// Newer SDKs only: launch back-off.
        Delayed = "DELAYED",
        /// Steps only: all their tasks are being paused.
        Pausing = "PAUSING",
        /// Steps only: all their tasks are paused.
        Paused = "PAUSED",
    }
}

/// A plan (`PlanInfo.java`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PlanInfo {
    /// Its phases, in order.
    pub phases: Vec<PhaseInfo>,
    /// Construction or validation errors.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The aggregate status; a plan with no phases is `COMPLETE`.
    pub status: PlanStatus,
    /// `serial`, `parallel` or a custom strategy.
    pub strategy: String,
}

/// A phase (`PhaseInfo.java`). A recovery plan has one per failed pod instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PhaseInfo {
    /// A UUID.
    pub id: String,
    /// The phase name (in a recovery plan, the step name).
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<StepInfo>,
    /// Its status.
    pub status: PlanStatus,
    /// `serial`, `parallel` or a custom strategy.
    pub strategy: String,
}

/// A step (`StepInfo.java`), named `<pod>:[<task>, <task>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct StepInfo {
    /// A UUID.
    pub id: String,
    /// `etcd-1:[peer]`.
    pub name: String,
    /// Its status.
    pub status: PlanStatus,
    /// A human message; read only for its `RecoveryType`.
    #[serde(default)]
    pub message: String,
}

/// How a recovery step relaunches a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryType {
    /// On the same agent with the same volumes.
    Transient,
    /// Anywhere, volumes discarded (`pod replace`).
    Permanent,
}

impl StepInfo {
    /// The pod instance and tasks of the step name (`etcd-1:[peer]`).
    pub fn target(&self) -> Option<(&str, Vec<&str>)> {
        let (pod, tasks) = self.name.split_once(":[")?;
        let tasks = tasks.strip_suffix(']')?;
        Some((pod, tasks.split(", ").filter(|t| !t.is_empty()).collect()))
    }

    /// The recovery type a recovery step's message ends with.
    pub fn recovery_type(&self) -> Option<RecoveryType> {
        match self.message.rsplit_once("RecoveryType: ")?.1.trim() {
            "PERMANENT" => Some(RecoveryType::Permanent),
            "TRANSIENT" => Some(RecoveryType::Transient),
            _ => None,
        }
    }
}

/// A reply of `GET /v1/plans/<plan>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanReply {
    /// 200: the plan is complete.
    Complete(PlanInfo),
    /// 202: the plan is not complete (the package's paused `replace` plan always is).
    Incomplete(PlanInfo),
    /// 417: the plan has errors.
    Errors(PlanInfo),
    /// The SDK's 404: no such plan.
    NotFound(NotFound),
}

impl PlanReply {
    /// Classifies a reply by its HTTP status and parses its body.
    ///
    /// # Errors
    ///
    /// A body of the wrong shape, or another status (Admin Router's 404, 502 or 503
    /// while the scheduler moves): the caller retries.
    pub fn from_http(status: u16, body: &str) -> Result<Self, ShapeError> {
        const WHAT: &str = "plan";
        match status {
            200 => parse(WHAT, body).map(Self::Complete),
            202 => parse(WHAT, body).map(Self::Incomplete),
            417 => parse(WHAT, body).map(Self::Errors),
            404 => NotFound::parse(body).map(Self::NotFound).ok_or_else(|| ShapeError::Status {
                what: WHAT,
                status,
                body: excerpt(body),
            }),
            _ => Err(ShapeError::Status { what: WHAT, status, body: excerpt(body) }),
        }
    }

    /// The plan, when the reply has one.
    pub fn plan(&self) -> Option<&PlanInfo> {
        match self {
            Self::Complete(plan) | Self::Incomplete(plan) | Self::Errors(plan) => Some(plan),
            Self::NotFound(_) => None,
        }
    }
}

/// The 200 body of a plan command or `PUT /v1/state/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CommandMessage {
    /// `Received cmd: continue`.
    pub message: String,
}

/// A reply of `POST /v1/plans/<plan>/<command>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReply {
    /// 200: the command was taken.
    Accepted(CommandMessage),
    /// 208 `text/plain`: already reported or completed; nothing was done.
    AlreadyDone,
    /// 400 `text/plain`: a bad parameter, or a step without its phase.
    Refused(String),
    /// The SDK's 404: no such plan, phase or step.
    NotFound(NotFound),
}

impl CommandReply {
    /// Classifies a reply by its HTTP status and parses its body.
    ///
    /// # Errors
    ///
    /// A 200 body of the wrong shape, or another status: the caller retries.
    pub fn from_http(status: u16, body: &str) -> Result<Self, ShapeError> {
        const WHAT: &str = "plan command";
        match status {
            200 => parse(WHAT, body).map(Self::Accepted),
            208 => Ok(Self::AlreadyDone),
            400 => Ok(Self::Refused(body.trim().to_owned())),
            404 => NotFound::parse(body).map(Self::NotFound).ok_or_else(|| ShapeError::Status {
                what: WHAT,
                status,
                body: excerpt(body),
            }),
            _ => Err(ShapeError::Status { what: WHAT, status, body: excerpt(body) }),
        }
    }
}
