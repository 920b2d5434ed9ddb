//! The one way a desired state comes in, for the API's `apply` and for `run -f` alike:
//! admitted by the pure rule `plan::admission::admit` against the cluster's backups,
//! then stored.

use jiff::Timestamp;

use crate::domain::Generation;
use crate::manifest::DesiredCluster;
use crate::model::backup::ScaleRefusal;
use crate::plan::admission::{Refusal, admit};
use crate::store::{Store, StoreError};

/// Why an apply did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Admission refused it; nothing changed (a refused member count change is
    /// recorded for status, `ScaleUpBlocked`).
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The desired state's generation (the current one for a dry run).
    pub generation: Generation,
    /// Whether the desired state changed.
    pub changed: bool,
}

/// Admits `desired` (its manifest as JSON: `body`) over `current`, the cluster's
/// desired state and generation now, with the backups of the cluster's lineage, then
/// stores it unless `dry_run`. An accepted apply ends a refused member count change.
///
/// # Errors
/// `ApplyError::Refused` with one sentence naming what is wrong; nothing is stored then.
pub fn apply(
    store: &Store,
    current: Option<(&DesiredCluster, Generation)>,
    desired: &DesiredCluster,
    body: serde_json::Value,
    now: Timestamp,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let name = &desired.name;
    if let Some((current, _)) = current {
        // Only a backup of this cluster's lineage admits a member count change.
        let lineage = store.history(name)?.seen.lineage;
        let records = lineage.filter(&store.backups(name)?);
        if let Err(refused) = admit(current, desired, &records, now) {
            if refused.scale {
                store.put_scale_refusal(
                    name,
                    Some(&ScaleRefusal { at: now, message: refused.message.clone() }),
                )?;
            }
            return Err(ApplyError::Refused(refused));
        }
    }
    if dry_run {
        return Ok(Applied { generation: current.map(|(_, g)| g).unwrap_or_default(), changed: false });
    }
    let (generation, changed) = store.put_desired(name, body, now)?;
    store.put_scale_refusal(name, None)?;
    Ok(Applied { generation, changed })
}
