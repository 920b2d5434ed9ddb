//! Marathon's running deployments (`GET /service/marathon/v2/deployments`, Marathon's
//! REST API): a list of `{id, version, affectedApps, affectedPods, steps,
//! currentActions, currentStep, totalSteps}`. Only the IDs, the apps and the step
//! counts are read; every other key is left alone.

use serde::{Deserialize, Serialize};

/// One running deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Its ID.
    pub id: String,
    /// The apps it changes (`/prod/kubernetes`).
    #[serde(default)]
    pub affected_apps: Vec<String>,
    /// The step it is at.
    #[serde(default)]
    pub current_step: Option<u32>,
    /// Its steps.
    #[serde(default)]
    pub total_steps: Option<u32>,
}

impl Deployment {
    /// How it reads in a message: its ID and where it is.
    pub fn describe(&self) -> String {
        match (self.current_step, self.total_steps) {
            (Some(step), Some(total)) => format!("Marathon deployment {} (step {step} of {total})", self.id),
            _ => format!("Marathon deployment {}", self.id),
        }
    }
}

/// The running deployment that changes `app_id`, if any.
pub fn of_app<'a>(deployments: &'a [Deployment], app_id: &str) -> Option<&'a Deployment> {
    deployments.iter().find(|d| d.affected_apps.iter().any(|a| a == app_id))
}
