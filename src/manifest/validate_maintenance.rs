//! Validation of the maintenance settings: `spec.maintenance`, `spec.policy.noSpace`
//! and `spec.etcd.quotaBackendBytes`.

use super::desired_maintenance::{Defragmentation, Maintenance, MaintenanceWindow, NoSpacePolicy};
use super::spec::ClusterSpec;
use super::spec_maintenance::{ByteSizeValue, NoSpace};
use super::validate::{Checker, Zero};

const BYTES_ALLOWED: &str = "allowed: a number of bytes, or a number and a unit such as 64MiB, 100MB, 2GiB";
/// etcd warns above 8 GiB and its documentation advises no more.
const MAX_QUOTA: u64 = 8 * 1024 * 1024 * 1024;
/// Below this, etcd raises NOSPACE almost at once.
const MIN_QUOTA: u64 = 1024 * 1024;

impl Checker {
    /// Checks the maintenance settings and applies their defaults.
    pub(super) fn maintenance(&mut self, spec: &ClusterSpec) -> Option<Maintenance> {
        let defaults = Defragmentation::default();
        let section = spec.maintenance.as_ref().and_then(|m| m.defragmentation.clone()).unwrap_or_default();
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
        let quota = self.quota(spec);
        let no_space = match spec.policy.as_ref().and_then(|p| p.no_space).unwrap_or(NoSpace::Manual) {
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

    fn quota(&mut self, spec: &ClusterSpec) -> Option<Option<u64>> {
        const PATH: &str = "spec.etcd.quotaBackendBytes";
        let Some(value) = spec.etcd.as_ref().and_then(|e| e.quota_backend_bytes.as_ref()) else {
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
