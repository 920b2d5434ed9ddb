//! The `policy` section: what the controller may do on its own for risky changes (a
//! scale-up, a permanent quorum loss, how much data a restore may lose), as written and
//! as validated. `policy.noSpace` is written here and validated with the maintenance
//! settings, which it governs.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::check::{Checker, Zero};

use crate::manifest::values::HumanDuration;

/// What the controller may do on its own for risky changes.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySection {
    /// What a scale-up needs. Default: `RequireFreshBackup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScaleUp>,
    /// What a permanent quorum loss leads to. Default: `Manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_loss: Option<QuorumLoss>,
    /// Restore only from a source at most this much older than the last revision seen
    /// before the loss; `0s` allows no data loss at all. Default: `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_data_loss: Option<HumanDuration>,
    /// What a NOSPACE alarm (a database at its quota, refusing writes) leads to.
    /// Default: `Manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_space: Option<NoSpace>,
}

/// What a scale-up needs.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleUp {
    /// A verified backup younger than `backup.freshFor` must exist; otherwise the
    /// scale-up is refused.
    RequireFreshBackup,
    /// Take and verify a backup first, then scale (needs a `backup` section).
    BackupFirst,
}

/// What a permanent quorum loss leads to.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumLoss {
    /// Report `RestoreRequired` and wait for a human.
    Manual,
    /// Restore automatically, guarded by `maxDataLoss`.
    Restore,
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

/// What the controller may do on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// What a scale-up needs.
    pub scale_up: ScaleUpPolicy,
    /// What a permanent quorum loss leads to.
    pub quorum_loss: QuorumLossPolicy,
    /// The oldest restore source allowed, behind the last seen revision's time.
    pub max_data_loss: Duration,
}

/// What a scale-up needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleUpPolicy {
    /// A verified backup younger than `freshFor` must exist.
    RequireFreshBackup,
    /// Take and verify a backup, then scale.
    BackupFirst,
}

/// What a permanent quorum loss leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumLossPolicy {
    /// Report `RestoreRequired` and wait for a human.
    Manual,
    /// Restore automatically, guarded by `maxDataLoss`.
    Restore,
}

impl Checker {
    pub(super) fn policy(&mut self, policy: Option<&PolicySection>, has_backup: bool) -> Option<Policy> {
        let default = PolicySection::default();
        let policy = policy.unwrap_or(&default);
        let scale_up = match policy.scale_up.unwrap_or(ScaleUp::RequireFreshBackup) {
            ScaleUp::RequireFreshBackup => ScaleUpPolicy::RequireFreshBackup,
            ScaleUp::BackupFirst if !has_backup => {
                self.fail(
                    "spec.policy.scaleUp",
                    "BackupFirst is not allowed without a backup section (allowed: RequireFreshBackup, or add spec.backup with a destination)",
                );
                ScaleUpPolicy::BackupFirst
            }
            ScaleUp::BackupFirst => ScaleUpPolicy::BackupFirst,
        };
        let quorum_loss = match policy.quorum_loss.unwrap_or(QuorumLoss::Manual) {
            QuorumLoss::Manual => QuorumLossPolicy::Manual,
            QuorumLoss::Restore => QuorumLossPolicy::Restore,
        };
        let max_data_loss = self.duration(
            "spec.policy.maxDataLoss",
            policy.max_data_loss.as_ref(),
            Duration::from_secs(3600),
            Zero::Allowed,
        )?;
        Some(Policy { scale_up, quorum_loss, max_data_loss })
    }
}
