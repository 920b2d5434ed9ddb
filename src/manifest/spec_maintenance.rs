//! The `maintenance` section of the manifest and the NOSPACE settings: raw serde types.
//!
//! Like the rest of the raw manifest, these types only describe the shape; validation
//! parses byte sizes, durations and the window's schedule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec_values::{BackupSchedule, HumanDuration};

/// Routine care of the members' databases.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceSection {
    /// Defragmentation of members whose database holds many free pages (after a
    /// compaction by the client). Absent: on, with every default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defragmentation: Option<DefragmentationSection>,
}

/// When a member's database is defragmented: one member at a time, followers first,
/// the leader last after leadership moved, only while every voter is healthy and the
/// cluster tolerates a failure. The controller never compacts: that is the client's
/// decision (kube-apiserver compacts every 5 minutes).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefragmentationSection {
    /// Whether the controller defragments on its own. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The share of a member's database that must be free pages (dbSize not in use)
    /// before it is defragmented: more than 0 and at most 1. Default: 0.45.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_fragmentation: Option<f64>,
    /// How many bytes a defragmentation must give back at least: a byte count or a
    /// size with a unit (`64MiB`, `100MB`, `1GiB`). Default: `64MiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_reclaimable: Option<ByteSizeValue>,
    /// How long after one member's defragmentation the next one may start. Default:
    /// `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_between_members: Option<HumanDuration>,
    /// For a single-member cluster only (its writes stop while it defragments): when it
    /// may be defragmented. Absent: a single member is never defragmented on its own
    /// (except to recover from NOSPACE under `policy.noSpace: Recover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<MaintenanceWindowSection>,
    /// Under `policy.noSpace: Recover`, while the data still fills the quota after every
    /// member was defragmented: how often each member is defragmented again (etcd
    /// shows the space a client's compaction freed only after its next write, which
    /// the alarm refuses). More than 0. Default: `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_space_recheck: Option<HumanDuration>,
    /// How long the controller waits for one member's defragmentation; more than 0.
    /// etcd goes on after the controller gives up, and the next member waits until this
    /// one serves reads again. Default: `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// A recurring window: it opens at each occurrence of `schedule` and stays open for
/// `duration`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindowSection {
    /// When the window opens: a 5-field cron expression in UTC (`"0 3 * * *"`) or
    /// `{ every: 6h }` (counted from 1970-01-01T00:00:00Z).
    pub schedule: BackupSchedule,
    /// How long it stays open; more than 0. E.g. `30m`.
    pub duration: HumanDuration,
}

/// What the controller does about a NOSPACE alarm (a database that reached its quota:
/// etcd refuses writes).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSpace {
    /// Report it (condition `NoSpace`, event `NoSpaceAlarm`) and say what to run.
    Manual,
    /// Defragment every member, one at a time, then disarm the alarm once the
    /// databases are below 90% of the quota. Never compacts.
    Recover,
}

/// A byte size: a number of bytes, or a number and a unit (`64MiB`, `100MB`, `2GiB`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum ByteSizeValue {
    /// A number of bytes.
    Bytes(u64),
    /// A number and a unit: B, KB, KiB, MB, MiB, GB, GiB, ...
    Text(String),
}

impl ByteSizeValue {
    /// The number of bytes.
    ///
    /// # Errors
    /// When the text is not a number with a known unit.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Self::Bytes(n) => Ok(*n),
            Self::Text(text) => text.trim().parse::<bytesize::ByteSize>().map(|b| b.as_u64()),
        }
    }
}

impl From<&str> for ByteSizeValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}
