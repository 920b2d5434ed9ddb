//! What a pass leaves in the metrics: status as numbers (the same truth the API shows),
//! and the steps it took.

use std::collections::BTreeSet;

use crate::manifest::DesiredCluster;
use crate::metrics::{ConditionLabel, MemberLabel, Metrics, PhaseLabel, StepLabel};
use crate::model::Observed;
use crate::status::{ClusterStatus, ConditionStatus, ConditionType, Phase, TakenStep};

/// Records a pass: its status, the backup and certificate clocks, and the steps taken.
pub(super) fn record(
    metrics: &Metrics,
    desired: &DesiredCluster,
    observed: &Observed,
    status: &ClusterStatus,
    taken: &[TakenStep],
) {
    let name = desired.name.as_str();
    let label = Metrics::cluster(name);
    record_status(metrics, desired, status);
    if let Some(newest) = crate::model::catalog::newest_verified(&observed.backups.records) {
        let age = newest.age(observed.at).as_secs();
        metrics.backup_age.get_or_create(&label).set(i64::try_from(age).unwrap_or(i64::MAX));
    }
    if let Some(first) = &observed.certificates {
        metrics.certificate_expiry.get_or_create(&label).set(first.not_after.as_second());
    }
    // The steps taken, as each ended; none the plan said but the pass did not take.
    for step in taken {
        let result = if step.error.is_some() { "failed" } else { "succeeded" };
        let label =
            StepLabel { cluster: name.to_owned(), step: step.name.to_owned(), result: result.to_owned() };
        metrics.steps.get_or_create(&label).inc();
    }
}

/// Records what status says, also after a pass that could not observe the platform
/// (then status is the last observation's, with `PlatformUnreachable`): members,
/// quorum, phase, conditions, the operation in flight and the backup window.
pub(super) fn record_status(metrics: &Metrics, desired: &DesiredCluster, status: &ClusterStatus) {
    let name = desired.name.as_str();
    let label = Metrics::cluster(name);
    let healthy = status.members.iter().filter(|m| m.healthy).count();
    metrics.members_healthy.get_or_create(&label).set(gauge(healthy));
    metrics.members_desired.get_or_create(&label).set(gauge(desired.members.get()));
    metrics.fault_tolerance.get_or_create(&label).set(gauge(status.quorum.fault_tolerance));
    for phase in Phase::ALL {
        let label = PhaseLabel { cluster: name.to_owned(), phase: phase.name().to_owned() };
        metrics.phase.get_or_create(&label).set(i64::from(phase == status.phase));
    }
    for kind in ConditionType::ALL {
        let now = status.condition(kind).map(|c| c.status);
        for each in ConditionStatus::ALL {
            let label = ConditionLabel {
                cluster: name.to_owned(),
                condition: kind.name().to_owned(),
                status: each.label().to_owned(),
            };
            metrics.condition.get_or_create(&label).set(i64::from(now == Some(each)));
        }
    }
    for member in &status.members {
        let label = MemberLabel { cluster: name.to_owned(), pod: member.pod.to_string() };
        metrics.member_healthy.get_or_create(&label).set(i64::from(member.healthy));
        let sizes = [
            (&metrics.member_revision_lag, member.revision_lag),
            (&metrics.member_db_size, member.db_size_bytes),
            (&metrics.member_db_size_in_use, member.db_size_in_use_bytes),
        ];
        for (family, value) in sizes {
            // A member that did not answer has no figure: its series goes, rather than
            // keep a value that is no longer true.
            match value {
                Some(value) => {
                    family.get_or_create(&label).set(value);
                }
                None => {
                    family.remove(&label);
                }
            }
        }
    }
    metrics.keep_members(name, status.members.iter().map(|m| m.pod.to_string()).collect::<BTreeSet<_>>());
    let operation = status.operation.as_ref();
    metrics.show_operation(
        name,
        operation.map(|o| (o.kind.as_str(), o.begun_at.as_second(), o.deadline.as_second())),
    );
    match &desired.backup {
        Some(backup) => {
            let fresh_for = i64::try_from(backup.fresh_for.as_secs()).unwrap_or(i64::MAX);
            metrics.backup_fresh_for.get_or_create(&label).set(fresh_for);
        }
        None => {
            metrics.backup_fresh_for.remove(&label);
        }
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
