//! Restore drills: what the last one found. A drill restores the newest verified
//! backup into a scratch etcd beside the controller and checks it against its catalog
//! record; the live cluster is never touched.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::BackupId;

/// What started a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillTrigger {
    /// `etcd-warden drill NAME`.
    OnDemand,
    /// `spec.backup.drill`.
    Scheduled,
}

/// What a drill came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillResult {
    /// The backup restored, served, and matched its record.
    Passed,
    /// It did not: `failure` says where.
    Failed,
}

/// Where a drill failed: one word, stable for alerting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillFailure {
    /// The backup could not be read from its destination.
    FetchFailed,
    /// The fetched file's SHA-256 differs from the catalog's, or etcd's trailing hash
    /// does not match its content.
    HashMismatch,
    /// `etcdctl snapshot restore` (or `etcdutl`) refused the file.
    RestoreFailed,
    /// The scratch etcd did not start or serve.
    EtcdDidNotStart,
    /// The restored revision differs from the record's.
    RevisionMismatch,
    /// The restored key count differs from the record's.
    KeyCountMismatch,
    /// Keys could not be read back.
    KeysUnreadable,
}

impl DrillFailure {
    /// A few words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::FetchFailed => "fetch failed",
            Self::HashMismatch => "hash mismatch",
            Self::RestoreFailed => "restore failed",
            Self::EtcdDidNotStart => "etcd did not start",
            Self::RevisionMismatch => "revision mismatch",
            Self::KeyCountMismatch => "key count mismatch",
            Self::KeysUnreadable => "keys unreadable",
        }
    }
}

/// What a drill did and found; the status shows the last one as `lastDrill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
    /// What started it.
    pub trigger: DrillTrigger,
    /// The backup drilled: the newest verified one when the drill started.
    pub backup_id: BackupId,
    /// The backup's size.
    pub backup_size_bytes: u64,
    /// Passed or failed.
    pub result: DrillResult,
    /// Where it failed; absent when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<DrillFailure>,
    /// One sentence: what was checked, or why it failed.
    pub message: String,
    /// The revision the catalog records for the backup.
    pub expected_revision: i64,
    /// The key count the catalog records for the backup.
    pub expected_keys: u64,
    /// The revision the scratch etcd served, once it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The keys the scratch etcd counted, once counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// How many keys, spread over the keyspace, were read back with their values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_keys: Option<u64>,
    /// The scratch etcd's peak resident memory, where the system tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_peak_rss_bytes: Option<u64>,
}

// A duration is never NaN: equality is total.
impl Eq for DrillReport {}

impl DrillReport {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.result == DrillResult::Passed
    }
}
