//! Property tests of the maintenance rules: never two defragmentations in one plan,
//! never one while a voter is unhealthy or the cluster tolerates no failure (except a
//! single member under NOSPACE recovery or in its window), never the leader.

use proptest::prelude::*;

use crate::manifest::desired::MemberCount;
use crate::manifest::desired::{MaintenanceWindow, NoSpacePolicy, Schedule};
use crate::plan::*;
use crate::testing::world::{World, at, desired, pod, world};

/// One member: (state 0 healthy / 1 silent / 2 exited, db MiB, in use MiB).
fn member() -> impl Strategy<Value = (u8, i64, i64)> {
    (prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], 1i64..400, 1i64..400)
}

/// A cluster: its members, the leader, NOSPACE, Recover, seconds since the last
/// defragmentation, a window that is open.
/// Members, leader, NOSPACE, Recover, seconds since the last defragmentation, window open.
type Cluster = (Vec<(u8, i64, i64)>, u8, bool, bool, Option<i64>, bool);

fn cluster() -> impl Strategy<Value = Cluster> {
    prop_oneof![Just(1usize), Just(3usize), Just(5usize)].prop_flat_map(|n| {
        (
            proptest::collection::vec(member(), n),
            0..n as u8,
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0i64..100),
            any::<bool>(),
        )
    })
}

fn build(members: &[(u8, i64, i64)], leader: u8, no_space: bool) -> World {
    let mut w = world(members.len()).led_by(leader);
    for (i, (state, size, in_use)) in members.iter().enumerate() {
        let i = i as u8;
        w = w.db(i, *size, (*in_use).min(*size));
        w = match state {
            1 => w.silent(i),
            2 => w.exited(i, at(0)),
            _ => w,
        };
    }
    if no_space {
        w = w.no_space(at(0));
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn defragmentation_is_one_member_at_a_time_never_the_leader_never_without_tolerance(
        (members, leader, no_space, recover, last, window_open) in cluster()
    ) {
        let count = match members.len() { 1 => MemberCount::One, 3 => MemberCount::Three, _ => MemberCount::Five };
        let mut d = desired(count);
        d.maintenance.defragmentation.min_reclaimable_bytes = 1024 * 1024;
        if recover {
            d.maintenance.no_space = NoSpacePolicy::Recover;
        }
        // Every 1000 s from the epoch: at(200) is 200 s into one, so 300 s is open and 60 s closed.
        let duration = std::time::Duration::from_secs(if window_open { 300 } else { 60 });
        d.maintenance.defragmentation.window =
            Some(MaintenanceWindow { schedule: Schedule::Every(std::time::Duration::from_secs(1000)), duration });
        let mut w = build(&members, leader, no_space);
        if let Some(ago) = last {
            w.history.seen.defragmented.insert(pod(0), at(200 - ago));
        }
        let now = at(200);
        let plan = w.plan(&d, now);
        let defrags: Vec<PodName> = plan.steps().filter_map(|(s, _)| match s {
            Step::Defragment { pod, .. } => Some(*pod),
            _ => None,
        }).collect();
        prop_assert!(defrags.len() <= 1, "two defragmentations in one plan: {:#?}", plan);
        let Some(target) = defrags.first() else { return Ok(()) };
        let healthy = (0..members.len() as u8).filter(|i| w.observed.is_healthy(pod(*i))).count();
        if members.len() > 1 {
            prop_assert_eq!(healthy, members.len(), "a voter is unhealthy: {:#?}", plan);
            prop_assert!(healthy > members.len() / 2 + 1, "no fault tolerance: {:#?}", plan);
            let status = w.observed.endpoint(*target).expect("answers");
            prop_assert_ne!(status.leader, Some(status.id), "the leader first: {:#?}", plan);
        } else {
            let nospace_recovery = no_space && recover;
            let window = MaintenanceWindow { schedule: Schedule::Every(std::time::Duration::from_secs(1000)), duration };
            prop_assert!(nospace_recovery || maintenance_window::check(&window, now).is_ok(), "outside its window: {:#?}", plan);
        }
        if !(no_space && recover) && members.len() > 1 && let Some(ago) = last {
            prop_assert!(ago >= 30, "within pauseBetweenMembers: {:#?}", plan);
        }
    }
}

/// Members (state, db MiB, launched quota MiB) and the quota asked, in MiB.
type Quotas = (Vec<(u8, i64, u64)>, u8, u64);

fn quotas() -> impl Strategy<Value = Quotas> {
    prop_oneof![Just(1usize), Just(3usize), Just(5usize)].prop_flat_map(|n| {
        let member = (
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
            1i64..200,
            prop_oneof![Just(64u64), Just(128u64)],
        );
        (
            proptest::collection::vec(member, n),
            0..n as u8,
            prop_oneof![Just(64u64), Just(128u64), Just(100u64)],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn a_rolling_restart_is_one_follower_at_a_time_with_tolerance_and_never_below_a_database(
        (members, leader, asked) in quotas()
    ) {
        const MIB: u64 = 1024 * 1024;
        let count = match members.len() { 1 => MemberCount::One, 3 => MemberCount::Three, _ => MemberCount::Five };
        let mut d = desired(count);
        d.maintenance.quota_backend_bytes = Some(asked * MIB);
        let mut w = world(members.len()).led_by(leader);
        for (i, (state, size, launched)) in members.iter().enumerate() {
            let i = i as u8;
            w = w.db(i, *size, *size);
            w.task(i).quota_backend_bytes = Some(launched * MIB);
            w = match state {
                1 => w.silent(i),
                2 => w.exited(i, at(0)),
                _ => w,
            };
        }
        let plan = w.plan(&d, at(200));
        let restarts: Vec<PodName> = plan.steps().filter_map(|(s, _)| match s {
            Step::RestartMember { pod, .. } => Some(*pod),
            _ => None,
        }).collect();
        prop_assert!(restarts.len() <= 1, "two restarts in one plan: {:#?}", plan);
        let Some(target) = restarts.first() else { return Ok(()) };
        prop_assert_eq!(plan.steps().count(), 1, "a restart with another step: {:#?}", plan);
        prop_assert!(members.len() > 1, "a single member outside a window: {:#?}", plan);
        let healthy = (0..members.len() as u8).filter(|i| w.observed.is_healthy(pod(*i))).count();
        prop_assert_eq!(healthy, members.len(), "a voter is unhealthy: {:#?}", plan);
        let status = w.observed.endpoint(*target).expect("answers");
        prop_assert_ne!(status.leader, Some(status.id), "the leader first: {:#?}", plan);
        prop_assert_ne!(members[usize::from(target.index())].2, asked, "restarted as it runs: {:#?}", plan);
        let fullest = members.iter().map(|m| m.1).max().unwrap_or(0);
        prop_assert!((fullest as u64) * MIB < asked * MIB, "below a database: {:#?}", plan);
    }
}
