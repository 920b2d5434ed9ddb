//! The planner's table tests, one file per subject, and its property tests of the
//! safety invariants; the builders they share are `testing::world`. Here: bootstrap
//! and restart in place.

use crate::manifest::desired::MemberCount;
use crate::model::platform::TaskState;
use crate::plan::*;
use crate::testing::world::*;

mod admission;
mod identity;
mod maintenance;
mod operations;
mod platform;
mod properties;
mod properties_identity;
mod properties_maintenance;
mod properties_membership;
mod properties_safety;
mod replace;
mod rolling;
mod safety;
mod scale_restore;

fn fresh(members: usize) -> World {
    let mut w = world(members).never_healthy(None);
    for i in 0..members as u8 {
        w = w.not_launched(i);
    }
    w
}

#[test]
fn a_fresh_cluster_is_bootstrapped_with_every_member() {
    for count in [MemberCount::One, MemberCount::Three, MemberCount::Five] {
        let plan = fresh(count.get()).plan(&desired(count), t0());
        let (step, rule) = only_step(&plan);
        assert_eq!(rule, Rule::Bootstrap);
        let Step::Bootstrap { attempt, launch, initial_cluster, .. } = step else { panic!("{step:?}") };
        assert_eq!(attempt, 1);
        assert_eq!(launch.len(), count.get());
        assert_eq!(initial_cluster.len(), count.get());
    }
}

#[test]
fn a_bootstrap_missing_members_launches_only_those_with_the_same_token() {
    let w = fresh(3).never_healthy(Some((1, t0())));
    let mut w = w;
    w.task(0).task = TaskState::Running;
    let plan = w.plan(&desired(MemberCount::Three), at(1));
    let (step, _) = only_step(&plan);
    let Step::Bootstrap { attempt, launch, token, .. } = step else { panic!("{step:?}") };
    assert_eq!((attempt, token.as_str()), (1, "kubernetes-1"));
    assert_eq!(launch, vec![pod(1), pod(2)]);
}

#[test]
fn a_bootstrap_whose_member_exited_is_wiped_and_retried_after_backoff() {
    let d = desired(MemberCount::One);
    let w = world(1).never_healthy(Some((1, t0()))).exited(0, at(1));
    let (step, rule) = only_step(&w.plan(&d, at(2)));
    assert_eq!(rule, Rule::BootstrapRetry);
    assert!(matches!(step, Step::WipeFailedBootstrap { attempt: 1, .. }));
    // Once wiped, the next attempt waits for its backoff, then starts.
    let wiped = fresh(1).never_healthy(Some((1, t0())));
    let waiting = wiped.plan(&d, at(1));
    assert_eq!(waiting.steps().count(), 0);
    assert!(waiting.next_deadline().is_some());
    let (step, rule) = only_step(&wiped.plan(&d, at(10)));
    assert_eq!(rule, Rule::BootstrapRetry);
    assert!(matches!(step, Step::Bootstrap { attempt: 2, .. }));
}

#[test]
fn a_bootstrap_without_quorum_past_its_timeout_is_wiped() {
    let d = desired(MemberCount::Three);
    let w = world(3).never_healthy(Some((1, t0()))).silent(0).silent(1).silent(2);
    assert_eq!(w.plan(&d, at(30)).steps().count(), 0, "within bootstrapTimeout: wait");
    let (step, _) = only_step(&w.plan(&d, at(61)));
    assert!(matches!(step, Step::WipeFailedBootstrap { .. }));
}

#[test]
fn bootstrap_attempts_are_bounded_then_bootstrap_failed() {
    let d = desired(MemberCount::One);
    let w = world(1).never_healthy(Some((3, t0()))).exited(0, at(1));
    let plan = w.plan(&d, at(100));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::BootstrapFailed));
}

#[test]
fn members_found_running_without_a_recorded_bootstrap_are_never_wiped() {
    // A lost history must not turn an existing cluster into a "failed bootstrap".
    let d = desired(MemberCount::Three);
    let w = world(3).never_healthy(None).exited(0, t0()).exited(1, t0()).exited(2, t0());
    let plan = w.plan(&d, at(3600));
    assert!(plan.steps().all(|(s, _)| matches!(s, Step::RestartInPlace { .. })), "{plan:#?}");
}

#[test]
fn a_crashed_member_on_a_healthy_agent_restarts_in_place_after_the_grace() {
    let d = desired(MemberCount::Three);
    let w = world(3).exited(1, t0());
    let waiting = w.plan(&d, at(10));
    assert_eq!(waiting.steps().count(), 0);
    assert_eq!(waiting.next_deadline(), Some(at(30)));
    let (step, rule) = only_step(&w.plan(&d, at(30)));
    assert_eq!(rule, Rule::RestartInPlace);
    assert!(matches!(step, Step::RestartInPlace { pod: p, .. } if p == pod(1)));
}

#[test]
fn the_single_member_restarts_in_place_scenario_3a() {
    let d = desired(MemberCount::One);
    let w = world(1).exited(0, t0());
    let (step, rule) = only_step(&w.plan(&d, at(31)));
    assert_eq!(rule, Rule::RestartInPlace);
    assert!(matches!(step, Step::RestartInPlace { .. }));
}

#[test]
fn a_member_whose_agent_is_lost_is_not_restarted_in_place() {
    let d = desired(MemberCount::Three);
    let w = world(3).exited(2, t0()).agent_lost(2);
    assert!(w.plan(&d, at(600)).steps().all(|(s, _)| !matches!(s, Step::RestartInPlace { .. })));
}

#[test]
fn a_healthy_cluster_needs_nothing() {
    let plan = world(3).plan(&desired(MemberCount::Three), t0());
    assert!(plan.decisions.is_empty(), "{plan:#?}");
}

#[test]
fn paused_clusters_are_observed_only() {
    let mut d = desired(MemberCount::Three);
    d.reconcile = ReconcileMode::Paused;
    let w = world(3).exited(0, t0()).exited(1, t0());
    let plan = w.plan(&d, at(3600));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::Paused));
    let fresh_plan = fresh(3).plan(&d, t0());
    assert_eq!(fresh_plan.steps().count(), 0, "paused: not even a bootstrap");
}
