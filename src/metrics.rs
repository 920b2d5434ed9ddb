//! Prometheus metrics of the daemon (`/metrics`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A cluster label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClusterLabel {
    /// The cluster's name.
    pub cluster: String,
}

/// A cluster and error kind label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ErrorLabel {
    /// The cluster's name.
    pub cluster: String,
    /// `transient` (retried with backoff) or `permanent` (waits for a change).
    pub kind: String,
}

/// A cluster and step label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The step's name.
    pub step: String,
    /// `succeeded` or `failed`.
    pub result: String,
}

/// A cluster and member label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MemberLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The member's pod (`etcd-1`).
    pub pod: String,
}

/// A cluster, member and result label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MemberResultLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The member's pod (`etcd-1`).
    pub pod: String,
    /// `succeeded` or `failed`.
    pub result: String,
}

/// Builds the duration histogram: 5 ms to about 80 s.
#[derive(Debug, Clone)]
pub struct DurationBuckets;

impl MetricConstructor<Histogram> for DurationBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.005, 2.0, 15))
    }
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconcile passes, per cluster.
    pub passes: Family<ClusterLabel, Counter>,
    /// Failed reconcile passes, per cluster.
    pub errors: Family<ErrorLabel, Counter>,
    /// Reconcile pass durations in seconds, per cluster.
    pub duration: Family<ClusterLabel, Histogram, DurationBuckets>,
    /// Healthy members, per cluster.
    pub members_healthy: Family<ClusterLabel, Gauge>,
    /// Desired members, per cluster.
    pub members_desired: Family<ClusterLabel, Gauge>,
    /// Steps taken, per cluster, step and result.
    pub steps: Family<StepLabel, Counter>,
    /// Backups taken, per cluster and result.
    pub backups: Family<ResultLabel, Counter>,
    /// Age of the newest verified backup in seconds, per cluster.
    pub backup_age: Family<ClusterLabel, Gauge>,
    /// Size of the newest backup in bytes, per cluster.
    pub backup_size: Family<ClusterLabel, Gauge>,
    /// Duration of the last successful backup in seconds, per cluster.
    pub backup_duration: Family<ClusterLabel, Gauge<f64, AtomicU64>>,
    /// Restore drills, per cluster and result (`passed` or `failed`).
    pub drills: Family<ResultLabel, Counter>,
    /// Duration of the last restore drill in seconds, per cluster.
    pub drill_duration: Family<ClusterLabel, Gauge<f64, AtomicU64>>,
    /// Defragmentations, per cluster, member and result.
    pub defrags: Family<MemberResultLabel, Counter>,
    /// Bytes given back to the file system by defragmentations, per cluster and member.
    pub defrag_reclaimed: Family<MemberLabel, Counter>,
    /// Duration of defragmentations in seconds, per cluster and member.
    pub defrag_duration: Family<MemberLabel, Histogram, DurationBuckets>,
    /// When the certificate that expires first expires (Unix seconds), per cluster.
    pub certificate_expiry: Family<ClusterLabel, Gauge>,
}

/// A cluster and result label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    /// The cluster's name.
    pub cluster: String,
    /// `succeeded` or `failed` (drills: `passed` or `failed`).
    pub result: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("etcd_warden");
        let passes = Family::<ClusterLabel, Counter>::default();
        let errors = Family::<ErrorLabel, Counter>::default();
        let duration = Family::new_with_constructor(DurationBuckets);
        let members_healthy = Family::<ClusterLabel, Gauge>::default();
        let members_desired = Family::<ClusterLabel, Gauge>::default();
        let steps = Family::<StepLabel, Counter>::default();
        let backups = Family::<ResultLabel, Counter>::default();
        let backup_age = Family::<ClusterLabel, Gauge>::default();
        let backup_size = Family::<ClusterLabel, Gauge>::default();
        let backup_duration = Family::<ClusterLabel, Gauge<f64, AtomicU64>>::default();
        let drills = Family::<ResultLabel, Counter>::default();
        let drill_duration = Family::<ClusterLabel, Gauge<f64, AtomicU64>>::default();
        let defrags = Family::<MemberResultLabel, Counter>::default();
        let defrag_reclaimed = Family::<MemberLabel, Counter>::default();
        let defrag_duration = Family::new_with_constructor(DurationBuckets);
        let certificate_expiry = Family::<ClusterLabel, Gauge>::default();
        registry.register("reconcile_passes", "Reconcile passes", passes.clone());
        registry.register("reconcile_errors", "Reconcile passes that failed", errors.clone());
        registry.register("reconcile_duration_seconds", "Duration of a reconcile pass", duration.clone());
        registry.register("members_healthy", "Healthy etcd members", members_healthy.clone());
        registry.register("members_desired", "Desired etcd members", members_desired.clone());
        registry.register("steps", "Steps taken by the controller", steps.clone());
        registry.register("backups", "Backups taken", backups.clone());
        registry.register("backup_age_seconds", "Age of the newest verified backup", backup_age.clone());
        registry.register("backup_size_bytes", "Size of the newest backup", backup_size.clone());
        registry.register("backup_duration_seconds", "Duration of the last backup", backup_duration.clone());
        registry.register("drills", "Restore drills run", drills.clone());
        registry.register(
            "drill_duration_seconds",
            "Duration of the last restore drill",
            drill_duration.clone(),
        );
        registry.register("defragmentations", "Defragmentations of a member", defrags.clone());
        registry.register(
            "defragmentation_reclaimed_bytes",
            "Bytes given back to the file system by defragmenting a member",
            defrag_reclaimed.clone(),
        );
        registry.register(
            "defragmentation_duration_seconds",
            "Duration of a member's defragmentation",
            defrag_duration.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When the first of the cluster's certificates expires",
            certificate_expiry.clone(),
        );
        Self {
            registry,
            passes,
            errors,
            duration,
            members_healthy,
            members_desired,
            steps,
            backups,
            backup_age,
            backup_size,
            backup_duration,
            drills,
            drill_duration,
            defrags,
            defrag_reclaimed,
            defrag_duration,
            certificate_expiry,
        }
    }
}

impl Metrics {
    /// The label of a cluster.
    pub fn cluster(name: &str) -> ClusterLabel {
        ClusterLabel { cluster: name.to_owned() }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
