//! The operations in flight as the planner reads them: one at a time, and a deadline
//! past which a person is told what is stuck.

use crate::domain::BackupId;
use crate::manifest::desired::MemberCount;
use crate::plan::*;
use crate::testing::world::{at, desired, only_step, t0, world};

#[test]
fn a_member_lost_during_a_scale_down_is_replaced_only_once_the_scale_down_ends() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).lost(1, t0());
    let plan = w.plan(&d, at(61));
    let (step, _) = only_step(&plan);
    assert!(matches!(step, Step::SnapshotBeforeReplace { .. }), "nothing else runs: {step:?}");
    w.history.in_flight.begin_scale_down(3, BackupId::new(t0(), 1), t0()).expect("nothing runs");
    let plan = w.plan(&d, at(61));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    let wait = plan.decisions.iter().find(|d| d.rule == Rule::ReplaceLostMember).expect("a wait");
    assert!(wait.message.contains("once a scale-down in flight ends"), "{}", wait.message);
}

#[test]
fn an_operation_past_its_deadline_is_reported_stuck_with_what_to_do_and_goes_on() {
    let d = desired(MemberCount::Three);
    let w = world(3).lost(1, t0()).replacing(1, 1, Some(t0()));
    let deadline = d.recovery.operation_deadline.as_secs();
    let within = w.plan(&d, at(i64::try_from(deadline).expect("seconds") - 1));
    assert!(within.decisions.iter().all(|d| d.rule != Rule::OperationStuck), "{within:#?}");
    let past = w.plan(&d, at(i64::try_from(deadline).expect("seconds")));
    let stuck = past.decisions.iter().find(|d| d.rule == Rule::OperationStuck).expect("stuck");
    assert_eq!(stuck.outcome, Outcome::Refuse);
    assert!(stuck.message.contains("the replacement of etcd-1"), "{}", stuck.message);
    assert!(stuck.message.contains("etcd-warden plan"), "what a person can do: {}", stuck.message);
    assert_eq!(
        past.steps().count(),
        within.steps().count(),
        "it goes on: the same steps as before the deadline"
    );
    let later = w.plan(&d, at(i64::try_from(deadline).expect("seconds") + 600));
    let again = later.decisions.iter().find(|d| d.rule == Rule::OperationStuck).expect("stuck");
    assert_eq!(again.message, stuck.message, "one message while it lasts: one event");
}
