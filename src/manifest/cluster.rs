//! The document and the cluster as a whole: `apiVersion`, `kind`, `metadata`, the
//! member count (`spec.members`, `spec.highAvailability`) and `spec.paused`, as written
//! and as validated; and the validation of a whole manifest into a [`DesiredCluster`],
//! which asks each section's rules in turn.
//!
//! The raw types describe the manifest's shape (field names, types, unknown fields
//! refused) and generate its JSON Schema, every doc comment on a field becoming its
//! description there; validation is pure (it reads no file and no clock) and applies
//! the defaults, so that a `DesiredCluster` never holds a missing value. Nothing
//! downstream of `manifest` reads the raw types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::ClusterName;
use crate::manifest::backup::{BackupPolicy, BackupSection};
use crate::manifest::check::Checker;
use crate::manifest::error::FieldError;
use crate::manifest::etcd::{EtcdAccess, EtcdSection};
use crate::manifest::maintenance::{Maintenance, MaintenanceSection};
use crate::manifest::members::MemberCount;
use crate::manifest::platform::{PlatformSection, PlatformSpec};
use crate::manifest::policy::{Policy, PolicySection};
use crate::manifest::recovery::{RecoverySection, RecoveryWindows};
use crate::manifest::values::null_as_default_value;

/// The manifest format version this build understands.
pub const API_VERSION: &str = "etcd-warden/v1alpha1";

/// The only kind of object a manifest may hold.
pub const KIND: &str = "EtcdCluster";

/// An `EtcdCluster` manifest: the desired topology, platform and backup policy of one
/// etcd cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "EtcdCluster")]
pub struct Manifest {
    /// The manifest format version: `etcd-warden/v1alpha1`.
    #[schemars(extend("const" = "etcd-warden/v1alpha1"))]
    pub api_version: String,
    /// The kind of object: `EtcdCluster`.
    #[schemars(extend("const" = "EtcdCluster"))]
    pub kind: String,
    /// The cluster's identity.
    pub metadata: Metadata,
    /// What the cluster should look like. Absent or empty: one local member with every
    /// default.
    #[serde(default, deserialize_with = "null_as_default_value")]
    pub spec: ClusterSpec,
}

/// The identity of the cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The cluster's name and identity: a DNS label of 1-40 characters (a-z, 0-9 and
    /// '-', starting with a letter, not ending with '-'), unique among the clusters one
    /// controller manages.
    #[schemars(length(min = 1, max = 40), regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
}

/// The desired state of the cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// The DC/OS Kubernetes package's `kubernetes.high_availability`: false means 1
    /// member, true means 3 (or 5 with `members: 5`). Default: false, unless `members`
    /// says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<bool>,
    /// The number of voting members: 1, 3 or 5 (an even count tolerates no more
    /// failures than the odd count below it). Must agree with `highAvailability` when
    /// both are set. Default: 1, or 3 with `highAvailability: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5))]
    pub members: Option<u32>,
    /// Observe and report only; never act. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Where the members run: exactly one of `local` or `dcos`. Absent: the local
    /// platform with its defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSection>,
    /// How the controller reaches etcd: client TLS and member endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdSection>,
    /// Scheduled, verified backups. Absent: no scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSection>,
    /// What the controller may do on its own for risky changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySection>,
    /// Failure windows per failure class: how long a failure lasts before the
    /// controller acts on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoverySection>,
    /// Routine care of the members' databases (defragmentation). Absent: every default
    /// (defragmentation on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceSection>,
}

/// A validated `EtcdCluster` manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredCluster {
    /// The cluster's identity.
    pub name: ClusterName,
    /// How many voting members the cluster should have.
    pub members: MemberCount,
    /// Whether the controller may act, or only observe and report.
    pub reconcile: ReconcileMode,
    /// Where the members run.
    pub platform: PlatformSpec,
    /// How the controller reaches etcd.
    pub etcd: EtcdAccess,
    /// Scheduled backups; `None` when the manifest has no `backup` section.
    pub backup: Option<BackupPolicy>,
    /// What the controller may do on its own for risky changes.
    pub policy: Policy,
    /// Failure windows per failure class.
    pub recovery: RecoveryWindows,
    /// Defragmentation, the NOSPACE policy and the database quota.
    pub maintenance: Maintenance,
}

/// Whether the controller acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileMode {
    /// Observe, plan and act.
    Active,
    /// Observe and report only (`paused: true`).
    Paused,
}

impl Checker {
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
        let members = check.members(spec.high_availability, spec.members);
        let platform = check.platform(spec.platform.as_ref(), members);
        let etcd = check.etcd(spec.etcd.as_ref(), platform.as_ref(), members);
        let backup = check.backup(spec.backup.as_ref());
        let policy = check.policy(spec.policy.as_ref(), spec.backup.is_some());
        let on_dcos = spec.platform.as_ref().is_some_and(|p| p.dcos.is_some());
        let recovery = check.recovery(spec.recovery.as_ref(), on_dcos);
        let maintenance =
            check.maintenance(spec.maintenance.as_ref(), spec.policy.as_ref(), spec.etcd.as_ref());
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
