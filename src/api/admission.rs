//! Admission of a new desired state for a managed cluster: what may change, and the
//! backup gate of a member count change (scenario 2). Pure.

use jiff::Timestamp;

use crate::manifest::{DesiredCluster, PlatformSpec, ScaleUpPolicy};
use crate::model::catalog::{self, BackupRecord};
use crate::plan::scale::refusal;

/// Why a desired state is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One sentence: what is wrong and what to do.
    pub message: String,
    /// Whether it is a refused member count change (status shows `ScaleUpBlocked`).
    pub scale: bool,
}

fn kind(platform: &PlatformSpec) -> &'static str {
    match platform {
        PlatformSpec::Local(_) => "local",
        PlatformSpec::Dcos(_) => "dcos",
    }
}

/// Admits `next` over `current`, or says why not.
///
/// # Errors
/// A changed platform; a scale-down on DC/OS; a member count change without a
/// verified backup younger than `freshFor` (unless `policy.scaleUp: BackupFirst`).
pub fn admit(
    current: &DesiredCluster,
    next: &DesiredCluster,
    records: &[BackupRecord],
    now: Timestamp,
) -> Result<(), Refusal> {
    if kind(&current.platform) != kind(&next.platform) {
        let message = format!(
            "spec.platform cannot change from {} to {} (delete the cluster and apply it again)",
            kind(&current.platform),
            kind(&next.platform)
        );
        return Err(Refusal { message, scale: false });
    }
    let (from, to) = (current.members.get(), next.members.get());
    if from == to {
        return Ok(());
    }
    if to < from && matches!(next.platform, PlatformSpec::Dcos(_)) {
        let message = format!(
            "spec.members cannot go down from {from} to {to} on DC/OS: the Kubernetes package does not support scale-down"
        );
        return Err(Refusal { message, scale: false });
    }
    if next.policy.scale_up == ScaleUpPolicy::BackupFirst {
        return Ok(());
    }
    let fresh_for = next.backup.as_ref().map(|b| b.fresh_for);
    if fresh_for.is_some_and(|f| catalog::fresh(records, f, now).is_some()) {
        return Ok(());
    }
    let direction = if to > from { "up" } else { "down" };
    let what = format!("scaling {} {direction} from {from} to {to} members (spec.members)", next.name);
    Err(Refusal { message: refusal(next, records, now, &what), scale: true })
}
