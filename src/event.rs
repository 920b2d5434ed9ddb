//! Events: what the controller saw, did or refused, and why; kept per cluster.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::PodName;

/// Whether an event is routine or needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Routine: a step taken, a member back.
    Normal,
    /// Needs attention: a failure seen, a step refused or failed.
    Warning,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When it happened.
    pub at: Timestamp,
    /// Routine or warning.
    pub kind: EventKind,
    /// One word: the step, or what was seen (`MemberDown`, `MemberUp`, `Refused`).
    pub reason: String,
    /// The rule behind it, for steps and refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The member it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodName>,
    /// One sentence.
    pub message: String,
}

impl Event {
    /// A routine event.
    pub fn normal(at: Timestamp, reason: &str, message: String) -> Self {
        Self { at, kind: EventKind::Normal, reason: reason.to_owned(), rule: None, pod: None, message }
    }

    /// A warning.
    pub fn warning(at: Timestamp, reason: &str, message: String) -> Self {
        Self { kind: EventKind::Warning, ..Self::normal(at, reason, message) }
    }

    /// The same event, about `pod`.
    pub fn about(mut self, pod: PodName) -> Self {
        self.pod = Some(pod);
        self
    }

    /// The same event, decided by `rule`.
    pub fn by(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_owned());
        self
    }
}
