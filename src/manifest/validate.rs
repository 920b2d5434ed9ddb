//! Validation: turns a raw [`Manifest`] into a [`DesiredCluster`], or into every field
//! error the manifest has.
//!
//! Validation is pure: it reads no file (paths are only checked to be non-empty) and no
//! clock. It applies the defaults of the SPEC, so that a `DesiredCluster` never holds a
//! missing value. Platform, etcd and backup rules live in sibling files that extend
//! [`Checker`].

use std::time::Duration;

use crate::domain::ClusterName;

use super::desired::{
    DesiredCluster, MemberCount, Policy, QuorumLossPolicy, ReconcileMode, RecoveryWindows, ScaleUpPolicy,
};
use super::error::FieldError;
use super::spec::{API_VERSION, ClusterSpec, KIND, Manifest, PolicySection, QuorumLoss, ScaleUp};
use super::spec_values::HumanDuration;

/// Whether a duration of zero makes sense for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    /// `0s` has a meaning (e.g. "restart at once").
    Allowed,
    /// `0s` would make the rule meaningless or dangerous.
    Refused,
}

/// Collects field errors while a manifest is checked section by section.
#[derive(Debug, Default)]
pub(super) struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    /// Records an error at `path`.
    pub(super) fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    /// Whether no error has been recorded yet.
    pub(super) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// Parses an optional duration, applying `default` when it is absent.
    pub(super) fn duration(
        &mut self,
        path: &str,
        value: Option<&HumanDuration>,
        default: Duration,
        zero: Zero,
    ) -> Option<Duration> {
        let Some(value) = value else {
            return Some(default);
        };
        self.required_duration(path, value, zero)
    }

    /// An optional count within `allowed`, `default` when absent; `what` says what is
    /// counted in the error.
    pub(super) fn count(
        &mut self,
        path: &str,
        value: Option<u32>,
        default: u32,
        allowed: std::ops::RangeInclusive<u32>,
        what: &str,
    ) -> Option<u32> {
        match value {
            None => Some(default),
            Some(n) if allowed.contains(&n) => Some(n),
            Some(n) => {
                let (min, max) = (allowed.start(), allowed.end());
                self.fail(path, format!("{n} is not allowed ({min} to {max} {what})"));
                None
            }
        }
    }

    /// Parses a duration that has no default.
    pub(super) fn required_duration(
        &mut self,
        path: &str,
        value: &HumanDuration,
        zero: Zero,
    ) -> Option<Duration> {
        match value.parse() {
            Ok(duration) if duration.is_zero() && zero == Zero::Refused => {
                self.fail(
                    path,
                    format!(
                        "{:?} is not allowed (a duration of more than 0, e.g. 30s, 5m, 7d)",
                        value.as_str()
                    ),
                );
                None
            }
            Ok(duration) => Some(duration),
            Err(error) => {
                self.fail(
                    path,
                    format!(
                        "{:?} is not a duration: {error} (allowed: a number and a unit, e.g. 30s, 5m, 7d)",
                        value.as_str()
                    ),
                );
                None
            }
        }
    }

    /// Checks that a file path is not empty.
    pub(super) fn file_path(&mut self, path: &str, value: &str) -> Option<std::path::PathBuf> {
        if value.trim().is_empty() {
            self.fail(
                path,
                "an empty path is not allowed (the path of a file, absolute or relative to the controller's working directory)",
            );
            return None;
        }
        Some(value.into())
    }

    fn type_meta(&mut self, manifest: &Manifest) {
        if manifest.api_version != API_VERSION {
            self.fail(
                "apiVersion",
                format!("{:?} is not allowed (allowed: {API_VERSION})", manifest.api_version),
            );
        }
        if manifest.kind != KIND {
            self.fail("kind", format!("{:?} is not allowed (allowed: {KIND})", manifest.kind));
        }
    }

    fn cluster_name(&mut self, name: &str) -> Option<ClusterName> {
        name.parse().map_err(|error| self.fail("metadata.name", format!("{error}"))).ok()
    }

    fn members(&mut self, spec: &ClusterSpec) -> Option<MemberCount> {
        let count = match spec.members {
            None => None,
            Some(1) => Some(MemberCount::One),
            Some(3) => Some(MemberCount::Three),
            Some(5) => Some(MemberCount::Five),
            Some(other) => {
                let why = match other {
                    0 => "a cluster needs at least one member",
                    n if n % 2 == 0 && n < 6 => {
                        "an even member count tolerates no more failures than the odd count below it"
                    }
                    _ => "etcd-warden manages at most 5 members",
                };
                self.fail("spec.members", format!("{other} is not allowed (1, 3 or 5: {why})"));
                return None;
            }
        };
        match (spec.high_availability, count) {
            (None | Some(false), None) => Some(MemberCount::One),
            (Some(true), None) => Some(MemberCount::Three),
            (None, Some(count)) => Some(count),
            (Some(false), Some(MemberCount::One)) => Some(MemberCount::One),
            (Some(true), Some(count @ (MemberCount::Three | MemberCount::Five))) => Some(count),
            (Some(false), Some(count)) => {
                self.fail(
                    "spec.members",
                    format!(
                        "{} contradicts highAvailability: false (allowed with highAvailability false: 1; set highAvailability: true for 3 or 5 members)",
                        count.get()
                    ),
                );
                None
            }
            (Some(true), Some(count)) => {
                self.fail(
                    "spec.members",
                    format!(
                        "{} contradicts highAvailability: true (allowed with highAvailability true: 3 or 5; set highAvailability: false for a single member)",
                        count.get()
                    ),
                );
                None
            }
        }
    }

    fn policy(&mut self, policy: Option<&PolicySection>, has_backup: bool) -> Option<Policy> {
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

    fn recovery(&mut self, spec: &ClusterSpec) -> Option<RecoveryWindows> {
        let on_dcos = spec.platform.as_ref().is_some_and(|p| p.dcos.is_some());
        let defaults = if on_dcos { RecoveryWindows::dcos() } else { RecoveryWindows::default() };
        let recovery = spec.recovery.clone().unwrap_or_default();
        let restart_grace = self.duration(
            "spec.recovery.restartGrace",
            recovery.restart_grace.as_ref(),
            defaults.restart_grace,
            Zero::Allowed,
        );
        let unresponsive_after = self.duration(
            "spec.recovery.unresponsiveAfter",
            recovery.unresponsive_after.as_ref(),
            defaults.unresponsive_after,
            Zero::Refused,
        );
        let agent_lost_after = self.duration(
            "spec.recovery.agentLostAfter",
            recovery.agent_lost_after.as_ref(),
            defaults.agent_lost_after,
            Zero::Refused,
        );
        let bootstrap_timeout = self.duration(
            "spec.recovery.bootstrapTimeout",
            recovery.bootstrap_timeout.as_ref(),
            defaults.bootstrap_timeout,
            Zero::Refused,
        );
        let bootstrap_attempts = self.count(
            "spec.recovery.bootstrapAttempts",
            recovery.bootstrap_attempts,
            defaults.bootstrap_attempts,
            1..=10,
            "attempts",
        );
        let max_restarts = self.count(
            "spec.recovery.maxRestarts",
            recovery.max_restarts,
            defaults.max_restarts,
            1..=20,
            "restarts in place before the slot counts as lost",
        );
        let operation_deadline = self.duration(
            "spec.recovery.operationDeadline",
            recovery.operation_deadline.as_ref(),
            defaults.operation_deadline,
            Zero::Refused,
        );
        let kept_aside = self.count(
            "spec.recovery.keptAside",
            recovery.kept_aside,
            defaults.kept_aside,
            1..=20,
            "data directories kept aside per member",
        );
        Some(RecoveryWindows {
            kept_aside: kept_aside?,
            max_restarts: max_restarts?,
            operation_deadline: operation_deadline?,
            restart_grace: restart_grace?,
            unresponsive_after: unresponsive_after?,
            agent_lost_after: agent_lost_after?,
            bootstrap_attempts: bootstrap_attempts?,
            bootstrap_timeout: bootstrap_timeout?,
        })
    }
}

impl Manifest {
    /// Checks every rule of the manifest and applies the defaults.
    ///
    /// # Errors
    ///
    /// Every field error found, each with the field path (`spec.members`) and a message
    /// that says what is wrong and what is allowed.
    pub fn validate(&self) -> Result<DesiredCluster, Vec<FieldError>> {
        let mut check = Checker::default();
        check.type_meta(self);
        let spec = &self.spec;
        let name = check.cluster_name(&self.metadata.name);
        let members = check.members(spec);
        let platform = check.platform(spec.platform.as_ref(), members);
        let etcd = check.etcd(spec.etcd.as_ref(), platform.as_ref(), members);
        let backup = check.backup(spec.backup.as_ref());
        let policy = check.policy(spec.policy.as_ref(), spec.backup.is_some());
        let recovery = check.recovery(spec);
        let maintenance = check.maintenance(spec);
        let reconcile = match spec.paused {
            Some(true) => ReconcileMode::Paused,
            Some(false) | None => ReconcileMode::Active,
        };
        match (name, members, platform, etcd, backup, policy, recovery, maintenance) {
            (
                Some(name),
                Some(members),
                Some(platform),
                Some(etcd),
                Some(backup),
                Some(policy),
                Some(recovery),
                Some(maintenance),
            ) if check.is_clean() => Ok(DesiredCluster {
                name,
                members,
                reconcile,
                platform,
                etcd,
                backup,
                policy,
                recovery,
                maintenance,
            }),
            _ => Err(check.errors),
        }
    }
}
