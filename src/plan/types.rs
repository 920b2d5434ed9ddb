//! The values a plan is made of: rules, steps, decisions.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::PodName;

/// A decision rule of SPEC section 3. Every step and refusal names one; it
/// serializes as its [`Rule::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `paused: true`: observe and report, never act.
    Paused,
    /// Scenario 1: launch the members of a cluster that never served.
    Bootstrap,
    /// Scenario 1: a first bootstrap failed; wipe it and try again with backoff.
    BootstrapRetry,
    /// Scenario 1: bootstrap attempts exhausted; a human must look at the logs.
    BootstrapFailed,
    /// Scenarios 3a and 4a: a crashed member on a healthy agent restarts in place.
    RestartInPlace,
}

impl Rule {
    /// The rule's identifier, as printed by `etcd-warden plan` and in events.
    pub fn id(self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Bootstrap => "1-bootstrap",
            Self::BootstrapRetry => "1-bootstrap-retry",
            Self::BootstrapFailed => "1-bootstrap-failed",
            Self::RestartInPlace => "3a/4a-restart-in-place",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A side effect the controller may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    /// Launch `pods` as members of a new cluster (attempt `attempt`, token `token`).
    #[serde(rename_all = "camelCase")]
    Bootstrap {
        /// 1 for the first attempt.
        attempt: u32,
        /// The `--initial-cluster-token`.
        token: String,
        /// Every member's peer URL.
        initial_cluster: Vec<(PodName, String)>,
        /// The pods to launch now (the others already run).
        launch: Vec<PodName>,
    },
    /// Stop and wipe the members of a failed first bootstrap.
    #[serde(rename_all = "camelCase")]
    WipeFailedBootstrap {
        /// The attempt that failed.
        attempt: u32,
        /// The pods to wipe.
        pods: Vec<PodName>,
    },
    /// Start a crashed member again on its own data.
    #[serde(rename_all = "camelCase")]
    RestartInPlace {
        /// The member.
        pod: PodName,
        /// Every member's peer URL, for etcd's flags (ignored with data present).
        initial_cluster: Vec<(PodName, String)>,
    },
}

impl Step {
    /// A short name for logs, events and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bootstrap { .. } => "Bootstrap",
            Self::WipeFailedBootstrap { .. } => "WipeFailedBootstrap",
            Self::RestartInPlace { .. } => "RestartInPlace",
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
            Self::RestartInPlace { pod, .. } => format!("restart {pod} in place on its own data"),
        }
    }
}

fn pods(pods: &[PodName]) -> String {
    pods.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// What a rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Take this step now.
    Act {
        /// The step.
        #[serde(flatten)]
        step: Step,
    },
    /// Nothing to do yet; look again (at the latest) at `until`.
    Wait {
        /// When the rule's window ends, if it has one.
        until: Option<Timestamp>,
    },
    /// The rule forbids acting.
    Refuse,
}

/// One decision: the rule, what it decided and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The rule that decided.
    pub rule: Rule,
    /// What it decided.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Why, in one sentence.
    pub message: String,
}

impl Decision {
    /// A step to take.
    pub fn act(rule: Rule, step: Step, message: String) -> Self {
        Self { rule, outcome: Outcome::Act { step }, message }
    }

    /// A wait until a window ends.
    pub fn wait(rule: Rule, until: Option<Timestamp>, message: String) -> Self {
        Self { rule, outcome: Outcome::Wait { until }, message }
    }

    /// A refusal.
    pub fn refuse(rule: Rule, message: String) -> Self {
        Self { rule, outcome: Outcome::Refuse, message }
    }

    /// The step, if this decision acts.
    pub fn step(&self) -> Option<&Step> {
        match &self.outcome {
            Outcome::Act { step } => Some(step),
            _ => None,
        }
    }
}

/// The decisions of one pass, in the order they are taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every decision, steps and refusals alike.
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// The steps to take, in order.
    pub fn steps(&self) -> impl Iterator<Item = (&Step, Rule)> {
        self.decisions.iter().filter_map(|d| d.step().map(|s| (s, d.rule)))
    }

    /// Whether a decision of `rule` refuses.
    pub fn refuses(&self, rule: Rule) -> bool {
        self.decisions.iter().any(|d| d.rule == rule && d.outcome == Outcome::Refuse)
    }

    /// The earliest end of a wait, for the controller's next look.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.decisions
            .iter()
            .filter_map(|d| match d.outcome {
                Outcome::Wait { until } => until,
                _ => None,
            })
            .min()
    }
}
