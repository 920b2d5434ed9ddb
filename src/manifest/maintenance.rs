//! The maintenance settings: `spec.maintenance` (defragmentation and its window),
//! `spec.policy.noSpace` and `spec.etcd.quotaBackendBytes`, as written, as validated,
//! and the rules between (byte sizes, the quota's range, the window's schedule).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::backup::Schedule;
use crate::manifest::check::{Checker, Zero};
use crate::manifest::etcd::EtcdSection;
use crate::manifest::policy::{NoSpace, PolicySection};
use crate::manifest::values::ByteSizeValue;
use crate::manifest::values::{BackupSchedule, HumanDuration};

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

/// etcd's own default quota (`--quota-backend-bytes` unset): 2 GiB.
pub const ETCD_DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Maintenance of the members' databases.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    /// When members are defragmented.
    pub defragmentation: Defragmentation,
    /// What a NOSPACE alarm leads to (`spec.policy.noSpace`).
    pub no_space: NoSpacePolicy,
    /// The members' database quota (`spec.etcd.quotaBackendBytes`); `None`: etcd's
    /// default (2 GiB), or whatever the platform starts etcd with.
    pub quota_backend_bytes: Option<u64>,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            defragmentation: Defragmentation::default(),
            no_space: NoSpacePolicy::Manual,
            quota_backend_bytes: None,
        }
    }
}

/// When a member is defragmented.
#[derive(Debug, Clone, PartialEq)]
pub struct Defragmentation {
    /// Whether the controller defragments on its own.
    pub enabled: bool,
    /// The share of the database that must be free pages (0 to 1).
    pub min_fragmentation: f64,
    /// The bytes a defragmentation must give back at least.
    pub min_reclaimable_bytes: u64,
    /// The time between two members' defragmentations.
    pub pause_between_members: Duration,
    /// When a single member may be defragmented; `None`: never on its own.
    pub window: Option<MaintenanceWindow>,
    /// Under NOSPACE recovery, while the data fills the quota: how often each member is
    /// defragmented again.
    pub no_space_recheck: Duration,
    /// How long the controller waits for one member's defragmentation.
    pub timeout: Duration,
}

impl Default for Defragmentation {
    fn default() -> Self {
        Self {
            enabled: true,
            min_fragmentation: 0.45,
            min_reclaimable_bytes: 64 * 1024 * 1024,
            pause_between_members: Duration::from_secs(30),
            window: None,
            no_space_recheck: Duration::from_secs(120),
            timeout: Duration::from_secs(300),
        }
    }
}

/// A recurring window.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    /// When it opens.
    pub schedule: Schedule,
    /// How long it stays open.
    pub duration: Duration,
}

/// What a NOSPACE alarm leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSpacePolicy {
    /// Report it and say what to run.
    Manual,
    /// Defragment every member, then disarm the alarm when space allows.
    Recover,
}

const BYTES_ALLOWED: &str = "allowed: a number of bytes, or a number and a unit such as 64MiB, 100MB, 2GiB";

/// etcd warns above 8 GiB and its documentation advises no more.
const MAX_QUOTA: u64 = 8 * 1024 * 1024 * 1024;

/// Below this, etcd raises NOSPACE almost at once.
const MIN_QUOTA: u64 = 1024 * 1024;

impl Checker {
    /// Checks the maintenance settings and applies their defaults.
    pub(super) fn maintenance(
        &mut self,
        maintenance: Option<&MaintenanceSection>,
        policy: Option<&PolicySection>,
        etcd: Option<&EtcdSection>,
    ) -> Option<Maintenance> {
        let defaults = Defragmentation::default();
        let section = maintenance.and_then(|m| m.defragmentation.clone()).unwrap_or_default();
        let min_fragmentation = match section.min_fragmentation {
            None => Some(defaults.min_fragmentation),
            Some(share) if share > 0.0 && share <= 1.0 => Some(share),
            Some(share) => {
                self.fail(
                    "spec.maintenance.defragmentation.minFragmentation",
                    format!("{share} is not allowed (allowed: a share of the database, more than 0 and at most 1, e.g. 0.45)"),
                );
                None
            }
        };
        let min_reclaimable = match &section.min_reclaimable {
            None => Some(defaults.min_reclaimable_bytes),
            Some(value) => self.bytes("spec.maintenance.defragmentation.minReclaimable", value),
        };
        let pause = self.duration(
            "spec.maintenance.defragmentation.pauseBetweenMembers",
            section.pause_between_members.as_ref(),
            defaults.pause_between_members,
            Zero::Allowed,
        );
        let recheck = self.duration(
            "spec.maintenance.defragmentation.noSpaceRecheck",
            section.no_space_recheck.as_ref(),
            defaults.no_space_recheck,
            Zero::Refused,
        );
        let timeout = self.duration(
            "spec.maintenance.defragmentation.timeout",
            section.timeout.as_ref(),
            defaults.timeout,
            Zero::Refused,
        );
        let window = match &section.window {
            None => Some(None),
            Some(window) => {
                let schedule =
                    self.schedule("spec.maintenance.defragmentation.window.schedule", &window.schedule);
                let duration = self.required_duration(
                    "spec.maintenance.defragmentation.window.duration",
                    &window.duration,
                    Zero::Refused,
                );
                Some(Some(MaintenanceWindow { schedule: schedule?, duration: duration? }))
            }
        };
        let quota = self.quota(etcd);
        let no_space = match policy.and_then(|p| p.no_space).unwrap_or(NoSpace::Manual) {
            NoSpace::Manual => NoSpacePolicy::Manual,
            NoSpace::Recover => NoSpacePolicy::Recover,
        };
        Some(Maintenance {
            defragmentation: Defragmentation {
                enabled: section.enabled.unwrap_or(defaults.enabled),
                min_fragmentation: min_fragmentation?,
                min_reclaimable_bytes: min_reclaimable?,
                pause_between_members: pause?,
                window: window?,
                no_space_recheck: recheck?,
                timeout: timeout?,
            },
            no_space,
            quota_backend_bytes: quota?,
        })
    }

    fn quota(&mut self, etcd: Option<&EtcdSection>) -> Option<Option<u64>> {
        const PATH: &str = "spec.etcd.quotaBackendBytes";
        let Some(value) = etcd.and_then(|e| e.quota_backend_bytes.as_ref()) else {
            return Some(None);
        };
        let bytes = self.bytes(PATH, value)?;
        if !(MIN_QUOTA..=MAX_QUOTA).contains(&bytes) {
            self.fail(
                PATH,
                format!(
                    "{} is not allowed (allowed: 1MiB to 8GiB; etcd advises at most 8 GiB, and its default is 2 GiB)",
                    bytesize::ByteSize::b(bytes).display().iec()
                ),
            );
            return None;
        }
        Some(Some(bytes))
    }

    fn bytes(&mut self, path: &str, value: &ByteSizeValue) -> Option<u64> {
        match value.bytes() {
            Ok(bytes) => Some(bytes),
            Err(why) => {
                let text = match value {
                    ByteSizeValue::Text(text) => text.clone(),
                    ByteSizeValue::Bytes(n) => n.to_string(),
                };
                self.fail(path, format!("{text:?} is not a byte size: {why} ({BYTES_ALLOWED})"));
                None
            }
        }
    }
}
