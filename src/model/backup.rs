//! Backup facts kept in the store: the last failure, a refused scale change, and the
//! report of the last restore.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::BackupId;

/// A failed backup attempt, kept until a later backup succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFailure {
    /// When it failed.
    pub at: Timestamp,
    /// Why.
    pub message: String,
    /// How many attempts in a row failed, this one included.
    #[serde(default = "one")]
    pub attempts: u32,
}

fn one() -> u32 {
    1
}

/// A member count change that `apply` refused for want of a fresh verified backup,
/// kept until a later apply is admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRefusal {
    /// When it was refused.
    pub at: Timestamp,
    /// Why, and what would admit it.
    pub message: String,
}

/// What a restore did: the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// When it finished.
    pub at: Timestamp,
    /// `backup <id>` or `surviving member etcd-N`.
    pub from: String,
    /// The revision restored.
    pub revision: i64,
    /// The keys restored.
    pub keys: u64,
    /// The highest revision seen before the loss.
    pub last_seen_revision: Option<i64>,
    /// How many revisions were lost (0 when none).
    pub revisions_lost: Option<i64>,
    /// How much time of writes may be lost: from the source's time to the last time
    /// the lost revision was seen, in seconds.
    pub data_loss_seconds: Option<i64>,
    /// Backups refused because they failed verification.
    pub refused_backups: Vec<BackupId>,
    /// Where the old data directories were moved.
    pub kept_aside: Vec<String>,
    /// The etcd cluster ID of the source (`model::lineage`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cluster_id: Option<u64>,
    /// From a stopped survivor: its WAL's tail past the commit index it had persisted,
    /// and how much of it was replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_tail: Option<WalTail>,
}

/// A survivor's WAL tail (`backup::wal::commit_tail`): the entries past the commit index
/// it had persisted, which a restore from it replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalTail {
    /// The commit index the member had persisted.
    pub committed: u64,
    /// The last entry's index.
    pub last_index: u64,
    /// How many entries lay past the persisted commit index.
    pub entries: u64,
    /// How many of them now count as committed (all of them; 0 when none lay past it).
    pub replayed: u64,
    /// Whether the WAL ended in a torn record, cut off as etcd's repair does.
    pub torn: bool,
}
