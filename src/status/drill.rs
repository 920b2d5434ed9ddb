//! The `BackupRestorable` condition, from the last restore drill (pure).

use super::{ConditionStatus, Reason};
use crate::manifest::desired::DesiredCluster;
use crate::model::drill::DrillReport;

/// The `BackupRestorable` condition: the last drill's result, with its time, duration
/// and backup; Unknown while drills are scheduled and none ran; absent otherwise.
pub(super) fn restorable(
    desired: &DesiredCluster,
    last: Option<&DrillReport>,
) -> Option<(ConditionStatus, Reason, String)> {
    let Some(drill) = last else {
        let scheduled = desired.backup.as_ref().is_some_and(|b| b.drill.is_some());
        let message = format!(
            "no restore drill has run yet; it runs on spec.backup.drill once a verified backup exists, or now with `etcd-warden drill {}`",
            desired.name
        );
        return scheduled.then_some((ConditionStatus::Unknown, Reason::NoDrillYet, message));
    };
    let when = format!(
        "the drill of backup {} at {} ({:.1}s)",
        drill.backup_id, drill.started_at, drill.duration_seconds
    );
    if drill.passed() {
        Some((ConditionStatus::True, Reason::DrillPassed, format!("{when} passed: {}", drill.message)))
    } else {
        let failure = drill.failure.map_or("failed", |f| f.describe());
        Some((
            ConditionStatus::False,
            Reason::DrillFailed,
            format!("{when} failed ({failure}): {}", drill.message),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::BackupId;
    use crate::manifest::desired::{BackupPolicy, Destination, MemberCount, Retention, Schedule};
    use crate::model::drill::{DrillFailure, DrillResult};
    use crate::testing::world::{desired, t0};

    fn report(result: DrillResult, failure: Option<DrillFailure>, message: &str) -> DrillReport {
        crate::testing::world::drill_report(result, failure, message)
    }

    fn with_drill(drill: Option<Schedule>) -> DesiredCluster {
        let mut d = desired(MemberCount::One);
        d.backup = Some(BackupPolicy {
            schedule: Schedule::Every(Duration::from_secs(3600)),
            destination: Destination::Directory("/b".into()),
            retention: Retention::default(),
            fresh_for: Duration::from_secs(900),
            drill,
        });
        d
    }

    #[test]
    fn a_passed_drill_is_true_and_a_failed_one_false_with_why() {
        let d = with_drill(None);
        let passed = report(DrillResult::Passed, None, "revision 42 and 7 keys match");
        let (status, reason, message) = restorable(&d, Some(&passed)).expect("condition");
        assert_eq!((status, reason), (ConditionStatus::True, Reason::DrillPassed));
        let id = BackupId::new(t0(), 42).to_string();
        assert!(message.contains(&id) && message.contains("1.2s") && message.contains("7 keys"), "{message}");
        let failed =
            report(DrillResult::Failed, Some(DrillFailure::HashMismatch), "the stored file does not match");
        let (status, reason, message) = restorable(&d, Some(&failed)).expect("condition");
        assert_eq!((status, reason), (ConditionStatus::False, Reason::DrillFailed));
        assert!(message.contains("(hash mismatch): the stored file does not match"), "{message}");
    }

    #[test]
    fn without_a_drill_the_condition_is_unknown_when_scheduled_and_absent_otherwise() {
        assert_eq!(restorable(&with_drill(None), None), None);
        assert_eq!(restorable(&desired(MemberCount::One), None), None);
        let scheduled = with_drill(Some(Schedule::Every(Duration::from_secs(86_400))));
        let (status, reason, _) = restorable(&scheduled, None).expect("condition");
        assert_eq!((status, reason), (ConditionStatus::Unknown, Reason::NoDrillYet));
    }
}
