//! The validated maintenance settings: defragmentation, the NOSPACE policy and the
//! database quota.

use std::time::Duration;

use super::desired::Schedule;

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
