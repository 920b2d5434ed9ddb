//! Prometheus metrics of the daemon (`/metrics`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

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

/// A cluster and result label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    /// The cluster's name.
    pub cluster: String,
    /// `succeeded` or `failed` (drills: `passed` or `failed`).
    pub result: String,
}

/// A cluster and phase label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PhaseLabel {
    /// The cluster's name.
    pub cluster: String,
    /// A phase of status (`Healthy`, `QuorumLost`, ...).
    pub phase: String,
}

/// A cluster, condition and condition status label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConditionLabel {
    /// The cluster's name.
    pub cluster: String,
    /// A condition type of status (`QuorumLost`, `RestoreRequired`, ...).
    pub condition: String,
    /// `true`, `false` or `unknown`.
    pub status: String,
}

/// A cluster and operation label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The operation in flight (`Replace`, `ScaleUp`, ...).
    pub operation: String,
}

/// The series that exist only while what they show does, per cluster: removed when a
/// member slot or an operation is gone.
#[derive(Debug, Default)]
struct Shown {
    pods: BTreeSet<String>,
    operation: Option<String>,
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    declared: Vec<Declared>,
    shown: Mutex<BTreeMap<String, Shown>>,
    /// Reconcile passes, per cluster.
    pub passes: Family<ClusterLabel, Counter>,
    /// Failed reconcile passes, per cluster.
    pub errors: Family<ErrorLabel, Counter>,
    /// Reconcile pass durations in seconds, per cluster.
    pub duration: Family<ClusterLabel, Histogram, DurationBuckets>,
    /// How long the platform took to say what runs (tasks and agents), per cluster.
    pub platform_latency: Family<ClusterLabel, Histogram, DurationBuckets>,
    /// Healthy members, per cluster.
    pub members_healthy: Family<ClusterLabel, Gauge>,
    /// Desired members, per cluster.
    pub members_desired: Family<ClusterLabel, Gauge>,
    /// Members the cluster can lose and keep a quorum, per cluster.
    pub fault_tolerance: Family<ClusterLabel, Gauge>,
    /// 1 for the cluster's phase, 0 for the others.
    pub phase: Family<PhaseLabel, Gauge>,
    /// 1 for each condition's status, 0 for its other statuses (and for all three while
    /// a condition that is present only while it holds is absent).
    pub condition: Family<ConditionLabel, Gauge>,
    /// Whether a member answers healthy (1) or not (0), per cluster and member.
    pub member_healthy: Family<MemberLabel, Gauge>,
    /// Revisions a member is behind the leader, per cluster and member.
    pub member_revision_lag: Family<MemberLabel, Gauge>,
    /// A member's database size, per cluster and member.
    pub member_db_size: Family<MemberLabel, Gauge>,
    /// The part of a member's database that holds data, per cluster and member.
    pub member_db_size_in_use: Family<MemberLabel, Gauge>,
    /// When the operation in flight began (Unix seconds), per cluster and operation.
    pub operation_begun: Family<OperationLabel, Gauge>,
    /// When the operation in flight is past its deadline (Unix seconds).
    pub operation_deadline: Family<OperationLabel, Gauge>,
    /// Steps taken, per cluster, step and result.
    pub steps: Family<StepLabel, Counter>,
    /// Backups taken, per cluster and result.
    pub backups: Family<ResultLabel, Counter>,
    /// Age of the newest verified backup in seconds, per cluster.
    pub backup_age: Family<ClusterLabel, Gauge>,
    /// The age the newest verified backup may reach (`spec.backup.freshFor`), per cluster.
    pub backup_fresh_for: Family<ClusterLabel, Gauge>,
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

/// A metric as the daemon declares it: what `/metrics` shows once it has a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its full name (`etcd_warden_fault_tolerance`); a counter's samples add `_total`,
    /// a histogram's `_bucket`, `_sum` and `_count`.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Its help text.
    pub help: &'static str,
}

impl Declared {
    /// The names its samples carry.
    pub fn samples(&self) -> Vec<String> {
        let name = &self.name;
        match self.kind {
            "counter" => vec![format!("{name}_total")],
            "histogram" => vec![format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count")],
            _ => vec![name.clone()],
        }
    }
}

/// The registry being filled, and what it declares.
#[derive(Default)]
struct Declaring {
    registry: Registry,
    declared: Vec<Declared>,
}

impl Declaring {
    /// Registers `metric` under `name` (after the `etcd_warden_` prefix) and hands it back.
    fn add<M: Metric + Clone>(&mut self, name: &str, help: &'static str, metric: M) -> M {
        let kind = match metric.metric_type() {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Info => "info",
            MetricType::Unknown => "unknown",
        };
        self.declared.push(Declared { name: format!("{PREFIX}_{name}"), kind, help });
        self.registry.register(name, help, metric.clone());
        metric
    }
}

/// Every metric's name begins with it.
pub const PREFIX: &str = "etcd_warden";

impl Default for Metrics {
    fn default() -> Self {
        let mut declaring = Declaring { registry: Registry::with_prefix(PREFIX), declared: Vec::new() };
        let r = &mut declaring;
        Self {
            shown: Mutex::default(),
            passes: r.add("reconcile_passes", "Reconcile passes", Family::default()),
            errors: r.add("reconcile_errors", "Reconcile passes that failed", Family::default()),
            duration: r.add(
                "reconcile_duration_seconds",
                "Duration of a reconcile pass",
                Family::new_with_constructor(DurationBuckets),
            ),
            platform_latency: r.add(
                "platform_observe_duration_seconds",
                "How long the platform took to say which tasks run on which agents",
                Family::new_with_constructor(DurationBuckets),
            ),
            members_healthy: r.add("members_healthy", "Healthy etcd members", Family::default()),
            members_desired: r.add("members_desired", "Desired etcd members", Family::default()),
            fault_tolerance: r.add(
                "fault_tolerance",
                "Members the cluster can lose and keep its quorum",
                Family::default(),
            ),
            phase: r.add("phase", "1 for the cluster's phase, 0 for the others", Family::default()),
            condition: r.add(
                "condition",
                "1 for the status a condition has, 0 for the others",
                Family::default(),
            ),
            member_healthy: r.add("member_healthy", "Whether a member answers healthy", Family::default()),
            member_revision_lag: r.add(
                "member_revision_lag",
                "Revisions a member is behind the leader",
                Family::default(),
            ),
            member_db_size: r.add("member_db_size_bytes", "Size of a member's database", Family::default()),
            member_db_size_in_use: r.add(
                "member_db_size_in_use_bytes",
                "Part of a member's database that holds data",
                Family::default(),
            ),
            operation_begun: r.add(
                "operation_begun_timestamp_seconds",
                "When the operation in flight began",
                Family::default(),
            ),
            operation_deadline: r.add(
                "operation_deadline_timestamp_seconds",
                "When the operation in flight is past its deadline",
                Family::default(),
            ),
            steps: r.add("steps", "Steps taken by the controller", Family::default()),
            backups: r.add("backups", "Backups taken", Family::default()),
            backup_age: r.add("backup_age_seconds", "Age of the newest verified backup", Family::default()),
            backup_fresh_for: r.add(
                "backup_fresh_for_seconds",
                "The age the newest verified backup may reach (spec.backup.freshFor)",
                Family::default(),
            ),
            backup_size: r.add("backup_size_bytes", "Size of the newest backup", Family::default()),
            backup_duration: r.add(
                "backup_duration_seconds",
                "Duration of the last backup",
                Family::default(),
            ),
            drills: r.add("drills", "Restore drills run", Family::default()),
            drill_duration: r.add(
                "drill_duration_seconds",
                "Duration of the last restore drill",
                Family::default(),
            ),
            defrags: r.add("defragmentations", "Defragmentations of a member", Family::default()),
            defrag_reclaimed: r.add(
                "defragmentation_reclaimed_bytes",
                "Bytes given back to the file system by defragmenting a member",
                Family::default(),
            ),
            defrag_duration: r.add(
                "defragmentation_duration_seconds",
                "Duration of a member's defragmentation",
                Family::new_with_constructor(DurationBuckets),
            ),
            certificate_expiry: r.add(
                "certificate_expiry_timestamp_seconds",
                "When the first of the cluster's certificates expires",
                Family::default(),
            ),
            registry: std::mem::take(&mut r.registry),
            declared: std::mem::take(&mut r.declared),
        }
    }
}

impl Metrics {
    /// The label of a cluster.
    pub fn cluster(name: &str) -> ClusterLabel {
        ClusterLabel { cluster: name.to_owned() }
    }

    /// Every metric declared, in the order `/metrics` shows them.
    pub fn declared(&self) -> &[Declared] {
        &self.declared
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// Removes the member series of `cluster` for the pods not in `pods` (a slot gone
    /// with a scale-down), and remembers `pods`.
    pub fn keep_members(&self, cluster: &str, pods: BTreeSet<String>) {
        let mut shown = self.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = shown.entry(cluster.to_owned()).or_default();
        for gone in entry.pods.difference(&pods) {
            let label = MemberLabel { cluster: cluster.to_owned(), pod: gone.clone() };
            for family in [
                &self.member_healthy,
                &self.member_revision_lag,
                &self.member_db_size,
                &self.member_db_size_in_use,
            ] {
                family.remove(&label);
            }
        }
        entry.pods = pods;
    }

    /// Removes the series of a cluster that is no longer managed which say how it is
    /// (its members, phase, conditions, operation, backup and certificate clocks) and
    /// its pass counts, so that no alert fires for a cluster that was deleted. The
    /// counters of what was done (steps, backups, drills, defragmentations) stay.
    pub fn forget_cluster(&self, cluster: &str) {
        self.keep_members(cluster, BTreeSet::new());
        self.show_operation(cluster, None);
        self.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(cluster);
        let label = Self::cluster(cluster);
        for gauge in [
            &self.members_healthy,
            &self.members_desired,
            &self.fault_tolerance,
            &self.backup_age,
            &self.backup_fresh_for,
            &self.backup_size,
            &self.certificate_expiry,
        ] {
            gauge.remove(&label);
        }
        for family in [&self.backup_duration, &self.drill_duration] {
            family.remove(&label);
        }
        self.passes.remove(&label);
        self.duration.remove(&label);
        self.platform_latency.remove(&label);
        for kind in ["transient", "permanent"] {
            self.errors.remove(&ErrorLabel { cluster: cluster.to_owned(), kind: kind.to_owned() });
        }
        for phase in crate::status::Phase::ALL {
            self.phase.remove(&PhaseLabel { cluster: cluster.to_owned(), phase: phase.name().to_owned() });
        }
        for kind in crate::status::ConditionType::ALL {
            for status in crate::status::ConditionStatus::ALL {
                let label = ConditionLabel {
                    cluster: cluster.to_owned(),
                    condition: kind.name().to_owned(),
                    status: status.label().to_owned(),
                };
                self.condition.remove(&label);
            }
        }
    }

    /// Shows the operation in flight (its kind, beginning and deadline, in Unix seconds),
    /// or none: the series of an operation that ended are removed.
    pub fn show_operation(&self, cluster: &str, operation: Option<(&str, i64, i64)>) {
        let mut shown = self.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = shown.entry(cluster.to_owned()).or_default();
        let kind = operation.map(|(kind, _, _)| kind.to_owned());
        if let Some(old) = entry.operation.take().filter(|old| Some(old) != kind.as_ref()) {
            let label = OperationLabel { cluster: cluster.to_owned(), operation: old };
            self.operation_begun.remove(&label);
            self.operation_deadline.remove(&label);
        }
        if let Some((kind, begun, deadline)) = operation {
            let label = OperationLabel { cluster: cluster.to_owned(), operation: kind.to_owned() };
            self.operation_begun.get_or_create(&label).set(begun);
            self.operation_deadline.get_or_create(&label).set(deadline);
        }
        entry.operation = kind;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &Metrics, name: &str) -> Vec<String> {
        metrics.render().lines().filter(|l| l.starts_with(name)).map(str::to_owned).collect()
    }

    /// What `declared` lists is what `/metrics` shows, name and type, once each
    /// metric has a series.
    #[test]
    fn the_declared_metrics_are_those_the_text_shows() {
        let m = Metrics::default();
        let c = Metrics::cluster("a");
        let member = MemberLabel { cluster: "a".into(), pod: "etcd-0".into() };
        let result = ResultLabel { cluster: "a".into(), result: "failed".into() };
        m.passes.get_or_create(&c).inc();
        m.errors.get_or_create(&ErrorLabel { cluster: "a".into(), kind: "transient".into() }).inc();
        m.duration.get_or_create(&c).observe(0.1);
        m.platform_latency.get_or_create(&c).observe(0.1);
        for gauge in [&m.members_healthy, &m.members_desired, &m.fault_tolerance, &m.backup_age] {
            gauge.get_or_create(&c).set(1);
        }
        for gauge in [&m.backup_fresh_for, &m.backup_size, &m.certificate_expiry] {
            gauge.get_or_create(&c).set(1);
        }
        m.phase.get_or_create(&PhaseLabel { cluster: "a".into(), phase: "Healthy".into() }).set(1);
        let condition =
            ConditionLabel { cluster: "a".into(), condition: "NoSpace".into(), status: "true".into() };
        m.condition.get_or_create(&condition).set(1);
        for gauge in [&m.member_healthy, &m.member_revision_lag, &m.member_db_size, &m.member_db_size_in_use]
        {
            gauge.get_or_create(&member).set(1);
        }
        m.show_operation("a", Some(("Replace", 1, 2)));
        let step = StepLabel { cluster: "a".into(), step: "Defragment".into(), result: "failed".into() };
        m.steps.get_or_create(&step).inc();
        m.backups.get_or_create(&result).inc();
        m.backup_duration.get_or_create(&c).set(1.5);
        m.drills.get_or_create(&result).inc();
        m.drill_duration.get_or_create(&c).set(1.5);
        let defrag = MemberResultLabel { cluster: "a".into(), pod: "etcd-0".into(), result: "failed".into() };
        m.defrags.get_or_create(&defrag).inc();
        m.defrag_reclaimed.get_or_create(&member).inc();
        m.defrag_duration.get_or_create(&member).observe(0.1);
        let text = m.render();
        let shown: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
            .collect();
        let declared: Vec<(String, String)> =
            m.declared().iter().map(|d| (d.name.clone(), d.kind.to_owned())).collect();
        assert_eq!(declared, shown, "a metric added to Metrics needs a series here too");
        for d in m.declared() {
            for sample in d.samples() {
                assert!(text.lines().any(|l| l.starts_with(&format!("{sample}{{"))), "{sample} in:\n{text}");
            }
        }
    }

    #[test]
    fn an_operation_that_ended_or_changed_leaves_no_series_behind() {
        let m = Metrics::default();
        m.show_operation("a", Some(("Replace", 100, 1900)));
        m.show_operation("b", Some(("ScaleUp", 5, 6)));
        assert_eq!(
            lines(&m, "etcd_warden_operation_deadline_timestamp_seconds{cluster=\"a\""),
            ["etcd_warden_operation_deadline_timestamp_seconds{cluster=\"a\",operation=\"Replace\"} 1900"]
        );
        m.show_operation("a", Some(("Restore", 2000, 3800)));
        assert_eq!(
            lines(&m, "etcd_warden_operation_begun_timestamp_seconds{cluster=\"a\""),
            ["etcd_warden_operation_begun_timestamp_seconds{cluster=\"a\",operation=\"Restore\"} 2000"]
        );
        m.show_operation("a", None);
        assert!(
            lines(&m, "etcd_warden_operation_").iter().all(|l| l.contains("cluster=\"b\"")),
            "{}",
            m.render()
        );
        assert_eq!(lines(&m, "etcd_warden_operation_").len(), 2, "b's stay");
    }

    #[test]
    fn the_series_of_a_member_slot_that_is_gone_are_removed() {
        let m = Metrics::default();
        for pod in ["etcd-0", "etcd-1", "etcd-2"] {
            let label = MemberLabel { cluster: "a".into(), pod: pod.into() };
            m.member_healthy.get_or_create(&label).set(1);
            m.member_db_size.get_or_create(&label).set(4096);
        }
        m.keep_members("a", ["etcd-0", "etcd-1", "etcd-2"].map(String::from).into());
        m.keep_members("a", ["etcd-0"].map(String::from).into());
        let left: Vec<_> = lines(&m, "etcd_warden_member_");
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|l| l.contains("pod=\"etcd-0\"")), "{left:?}");
    }
}
