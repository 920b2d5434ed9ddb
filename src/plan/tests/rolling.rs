//! Table tests of the rolling restart (`7-rolling-restart`): a changed quota reaches
//! the members one at a time, followers first, only while a failure is tolerated,
//! never below what a database holds.

use std::time::Duration;

use crate::manifest::desired::{MaintenanceWindow, MemberCount, NoSpacePolicy, Schedule};
use crate::plan::*;
use crate::testing::world::{World, at, desired, only_step, pod, t0, world};

const MIB: u64 = 1024 * 1024;

impl World {
    /// Every running member was launched with `mib` MiB of quota.
    fn launched_with(mut self, mib: u64) -> Self {
        for task in &mut self.observed.platform.tasks {
            task.quota_backend_bytes = Some(mib * MIB);
        }
        self
    }
}

fn asking(members: MemberCount, mib: u64) -> DesiredCluster {
    let mut d = desired(members);
    d.maintenance.quota_backend_bytes = Some(mib * MIB);
    d
}

fn restarted(step: &Step) -> Option<PodName> {
    match step {
        Step::RestartMember { pod, .. } => Some(*pod),
        _ => None,
    }
}

#[test]
fn a_changed_quota_restarts_a_follower_first_then_moves_leadership_before_the_leader() {
    let d = asking(MemberCount::Three, 64);
    // etcd-0 leads (the world's default): etcd-1 first.
    let (step, rule) = only_step(&world(3).launched_with(16).plan(&d, t0()));
    assert_eq!((restarted(&step), rule), (Some(pod(1)), Rule::RollingRestart), "{step:?}");
    let Step::RestartMember { change, initial_cluster, .. } = &step else { unreachable!() };
    assert_eq!(change, "quota 16.0 MiB → 64.0 MiB");
    assert_eq!(initial_cluster.len(), 3);
    // Only the leader left: leadership moves first.
    let mut w = world(3).launched_with(64);
    w.task(0).quota_backend_bytes = Some(16 * MIB);
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert!(matches!(step, Step::MoveLeader { from, .. } if from == pod(0)), "{step:?}");
    assert_eq!(rule, Rule::RollingRestart);
    // Every member runs as asked: nothing.
    let plan = world(3).launched_with(64).plan(&d, t0());
    assert!(plan.decisions.iter().all(|d| d.rule != Rule::RollingRestart), "{plan:#?}");
    // No quota named: etcd's default is what they should run with.
    let plan = world(3).launched_with(2048).plan(&desired(MemberCount::Three), t0());
    assert!(plan.decisions.is_empty(), "{plan:#?}");
    let (step, _) = only_step(&world(3).launched_with(16).plan(&desired(MemberCount::Three), t0()));
    assert_eq!(restarted(&step), Some(pod(1)));
}

#[test]
fn no_member_is_restarted_unless_every_voter_is_healthy_and_a_failure_is_tolerated() {
    let d = asking(MemberCount::Three, 64);
    let plan = world(3).launched_with(16).silent(2).plan(&d, t0());
    assert!(plan.steps().all(|(_, r)| r != Rule::RollingRestart), "{plan:#?}");
    assert!(plan.refuses(Rule::RollingRestart), "{plan:#?}");
    // A member that is down picks the quota up when it starts again: not a candidate,
    // and its restart in place comes first.
    let plan = world(3).launched_with(16).exited(2, at(-60)).plan(&d, t0());
    assert!(plan.steps().all(|(s, _)| restarted(s).is_none()), "{plan:#?}");
}

#[test]
fn a_quota_below_a_database_is_never_applied() {
    let d = asking(MemberCount::Three, 64);
    let plan = world(3).launched_with(128).db(2, 80, 70).plan(&d, t0());
    assert!(plan.steps().next().is_none(), "{plan:#?}");
    assert!(plan.refuses(Rule::RollingRestart));
    let message = &plan.decisions.iter().find(|d| d.rule == Rule::RollingRestart).expect("refusal").message;
    assert!(
        message.contains("etcd-2's database is 80.0 MiB") && message.contains("larger quota"),
        "{message}"
    );
}

#[test]
fn a_single_member_is_restarted_only_inside_its_window() {
    let mut d = asking(MemberCount::One, 64);
    let w = world(1).launched_with(16);
    let plan = w.plan(&d, t0());
    assert!(plan.refuses(Rule::RollingRestart) && plan.steps().next().is_none(), "{plan:#?}");
    // 1_800_000_000 s is 2027-01-15T08:00:00Z: a window opening at 08:00 for 10 minutes.
    d.maintenance.defragmentation.window = Some(MaintenanceWindow {
        schedule: Schedule::Cron("0 8 * * *".into()),
        duration: Duration::from_secs(600),
    });
    let (step, _) = only_step(&w.plan(&d, at(60)));
    assert_eq!(restarted(&step), Some(pod(0)));
    assert_eq!(w.plan(&d, at(601)).steps().count(), 0);
}

#[test]
fn a_quota_raised_under_a_nospace_alarm_is_applied_before_any_defragmentation() {
    let mut d = asking(MemberCount::Three, 64);
    d.maintenance.no_space = NoSpacePolicy::Recover;
    let w = world(3).launched_with(16).no_space(t0()).db(0, 16, 15).db(1, 16, 15).db(2, 16, 15);
    let (step, rule) = only_step(&w.plan(&d, at(5)));
    assert_eq!((restarted(&step), rule), (Some(pod(1)), Rule::RollingRestart), "{step:?}");
    // Once every member runs with the new quota, the NOSPACE recovery goes on, by it.
    let after = world(3).launched_with(64).no_space(t0()).db(0, 16, 15).db(1, 16, 15).db(2, 16, 15);
    let plan = after.plan(&d, at(5));
    assert!(plan.decisions.iter().all(|d| d.rule == Rule::NoSpace), "{plan:#?}");
    assert!(plan.decisions[0].message.contains("of a quota of 64.0 MiB"), "{plan:#?}");
}

#[test]
fn where_the_platform_launches_the_members_a_reported_quota_other_than_the_manifests_is_only_reported() {
    let d = asking(MemberCount::Three, 2048);
    let mut w = world(3);
    for s in w.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
        s.db_size_quota_bytes = 3 * 1024 * 1024 * 1024;
    }
    let plan = w.plan(&d, t0());
    assert!(plan.steps().next().is_none(), "{plan:#?}");
    let message = &plan.decisions.iter().find(|d| d.rule == Rule::RollingRestart).expect("refusal").message;
    assert!(message.contains("3.0 GiB") && message.contains("restart them there"), "{message}");
}

#[test]
fn a_member_whose_generated_certificate_expires_within_30_days_is_restarted_to_renew_it() {
    let d = desired(MemberCount::Three);
    let mut w = world(3);
    let days = |n: i64| t0().checked_add(jiff::SignedDuration::from_hours(24 * n)).expect("a day");
    for i in 0..3 {
        w.task(i).certificate_expires = Some(days(3650));
    }
    assert!(w.plan(&d, t0()).decisions.is_empty(), "ten years left: nothing");
    w.task(2).certificate_expires = Some(days(31));
    assert!(w.plan(&d, t0()).decisions.is_empty(), "31 days left: not yet");
    w.task(2).certificate_expires = Some(days(29));
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert_eq!((restarted(&step), rule), (Some(pod(2)), Rule::RollingRestart), "{step:?}");
    let Step::RestartMember { change, .. } = &step else { unreachable!() };
    assert!(change.contains("certificate expires") && change.contains("issued anew"), "{change}");
    // Never while a failure is not tolerated.
    let plan = w.clone().silent(1).plan(&d, t0());
    assert!(plan.steps().all(|(s, _)| restarted(s).is_none()), "{plan:#?}");
}
