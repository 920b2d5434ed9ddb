//! Backups: etcd snapshots streamed to files, verified by their hashes, stored at a
//! destination with a catalog record each; retention; restore.

pub mod catalog;
pub mod destination;
pub mod recover;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod snapshot;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A failed backup attempt, kept until a later backup succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFailure {
    /// When it failed.
    pub at: Timestamp,
    /// Why.
    pub message: String,
}
