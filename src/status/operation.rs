//! The operation in flight as status shows it: what, since when, until when, and what
//! the controller does for it now (the step of this pass and the rule behind it).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::{History, Operation, OperationKind};
use crate::plan::{Outcome, Plan};

/// The operation in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// `Bootstrap`, `Replace`, `ScaleUp`, `ScaleDown` or `Restore`.
    pub kind: String,
    /// The member slot it is for: the one replaced, or the one a scale-up joins now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodName>,
    /// When it began.
    pub begun_at: Timestamp,
    /// When it is past its deadline (`recovery.operationDeadline`, or
    /// `recovery.bootstrapTimeout` per attempt of a first bootstrap).
    pub deadline: Timestamp,
    /// The step this pass takes for the cluster, if it takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The rule behind that step, or else behind the wait or refusal that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// That rule's sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The kind's name, as the API writes it.
pub fn kind_name(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Bootstrap => "Bootstrap",
        OperationKind::Replace => "Replace",
        OperationKind::ScaleUp => "ScaleUp",
        OperationKind::ScaleDown => "ScaleDown",
        OperationKind::Restore => "Restore",
    }
}

/// The operation in flight after this pass, with the plan's first step (or, when it
/// takes none, its first wait or refusal).
pub fn operation(desired: &DesiredCluster, history: &History, plan: &Plan) -> Option<OperationStatus> {
    let op = history.in_flight.operation.as_ref()?;
    let decision = plan
        .decisions
        .iter()
        .find(|d| d.step().is_some())
        .or_else(|| plan.decisions.iter().find(|d| matches!(d.outcome, Outcome::Wait { .. })))
        .or_else(|| plan.decisions.first());
    let pod = match op {
        Operation::Replace(r) => Some(r.pod),
        Operation::ScaleUp(s) => s.join.as_ref().map(|j| j.pod),
        _ => None,
    };
    Some(OperationStatus {
        kind: kind_name(op.kind()).to_owned(),
        pod,
        begun_at: op.begun_at(),
        deadline: crate::plan::deadline(desired, op),
        step: decision.and_then(|d| d.step()).map(|s| s.name().to_owned()),
        rule: decision.map(|d| d.rule.id().to_owned()),
        message: decision.map(|d| d.message.clone()),
    })
}
