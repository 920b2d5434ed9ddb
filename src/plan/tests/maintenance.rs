//! Table tests of the maintenance rules: defragmentation (`5-defragment`) and the
//! NOSPACE alarm (`6-nospace`).

use std::time::Duration;

use crate::domain::MemberId;
use crate::manifest::desired::MemberCount;
use crate::manifest::desired::{MaintenanceWindow, NoSpacePolicy, Schedule};
use crate::plan::*;
use crate::testing::world::{World, at, desired, only_step, pod, t0, world};

const MIB: i64 = 1024 * 1024;
const NOSPACE: &str = "memberID:100 alarm:NOSPACE ";

impl World {
    /// The member's database is `size` MiB with `in_use` MiB in use.
    pub fn db(mut self, i: u8, size: i64, in_use: i64) -> Self {
        if let Some(Ok(s)) = self.observed.endpoints.get_mut(&pod(i)) {
            s.db_size_bytes = size * MIB;
            s.db_size_in_use_bytes = in_use * MIB;
        }
        self
    }

    /// Every member follows member `i`.
    pub fn led_by(mut self, i: u8) -> Self {
        for s in self.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
            s.leader = Some(MemberId(100 + u64::from(i)));
        }
        self
    }

    /// Every answering member reports the NOSPACE alarm, seen since `since`.
    pub fn no_space(mut self, since: jiff::Timestamp) -> Self {
        for s in self.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
            s.errors = vec![NOSPACE.to_owned()];
        }
        self.history.seen.no_space_since = Some(since);
        self
    }

    /// Every member's database is fragmented: 200 MiB of which 10 in use.
    pub fn fragmented(mut self, members: u8) -> Self {
        for i in 0..members {
            self = self.db(i, 200, 10);
        }
        self
    }
}

fn defragmented(step: &Step) -> Option<PodName> {
    match step {
        Step::Defragment { pod, .. } => Some(*pod),
        _ => None,
    }
}

fn recover(members: MemberCount, quota_mib: u64) -> DesiredCluster {
    let mut d = desired(members);
    d.maintenance.no_space = NoSpacePolicy::Recover;
    d.maintenance.quota_backend_bytes = Some(quota_mib * 1024 * 1024);
    d
}

#[test]
fn a_fragmented_member_qualifies_only_past_both_thresholds() {
    let d = desired(MemberCount::Three);
    // (size MiB, in use MiB, defragmented?): 45% and 64 MiB by default.
    let cases = [(200, 10, true), (200, 150, false), (100, 50, false), (150, 80, true), (60, 1, false)];
    for (size, in_use, expected) in cases {
        let plan = world(3).db(1, size, in_use).plan(&d, t0());
        let step = plan.steps().find_map(|(s, _)| defragmented(s));
        assert_eq!(step, expected.then_some(pod(1)), "{size} MiB with {in_use} in use: {plan:#?}");
    }
    let mut off = desired(MemberCount::Three);
    off.maintenance.defragmentation.enabled = false;
    assert!(world(3).db(1, 200, 10).plan(&off, t0()).decisions.is_empty(), "enabled: false");
}

#[test]
fn followers_are_defragmented_first_one_per_pass_and_the_leader_last_after_a_move() {
    let d = desired(MemberCount::Three);
    let (step, rule) = only_step(&world(3).fragmented(3).plan(&d, t0()));
    assert_eq!((defragmented(&step), rule), (Some(pod(1)), Rule::Defragment), "a follower first");
    // Only the leader is left: leadership moves to the healthy follower, then it goes.
    let w = world(3).db(0, 200, 10);
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert_eq!(rule, Rule::Defragment);
    assert!(
        matches!(step, Step::MoveLeader { via: ref url, .. } if url == "http://127.0.0.1:20000"),
        "{step:?}"
    );
    let (step, _) = only_step(&w.led_by(1).plan(&d, t0()));
    assert_eq!(defragmented(&step), Some(pod(0)), "once it follows, the old leader is defragmented");
}

#[test]
fn the_next_member_waits_pause_between_members_after_the_last() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).db(2, 200, 10);
    w.history.seen.defragmented.insert(pod(1), at(100));
    let plan = w.plan(&d, at(110));
    assert_eq!(plan.steps().count(), 0);
    assert_eq!(plan.next_deadline(), Some(at(130)), "pauseBetweenMembers defaults to 30 s");
    assert_eq!(
        only_step(&w.plan(&d, at(130))).0,
        Step::Defragment {
            pod: pod(2),
            endpoint: "http://127.0.0.1:20004".into(),
            db_size_before: 200 * MIB
        }
    );
}

#[test]
fn no_defragmentation_while_a_voter_is_unhealthy_or_fault_tolerance_is_zero() {
    let d = desired(MemberCount::Three);
    let cases = [world(3).fragmented(3).silent(2), world(3).fragmented(2).exited(2, t0())];
    for w in cases {
        let plan = w.plan(&d, at(5));
        assert!(plan.steps().all(|(s, _)| defragmented(s).is_none()), "{plan:#?}");
        assert!(plan.refuses(Rule::Defragment), "{plan:#?}");
    }
    let mut paused = d.clone();
    paused.reconcile = ReconcileMode::Paused;
    assert!(world(3).fragmented(3).plan(&paused, t0()).steps().next().is_none(), "paused: never");
}

#[test]
fn a_single_member_is_defragmented_only_inside_its_window() {
    let mut d = desired(MemberCount::One);
    let w = world(1).db(0, 200, 10);
    assert!(w.plan(&d, t0()).refuses(Rule::Defragment), "no window: refused, with a message");
    // 1_800_000_000 s is 2027-01-15T08:00:00Z: a window opening at 08:00 for 10 minutes.
    d.maintenance.defragmentation.window = Some(MaintenanceWindow {
        schedule: Schedule::Cron("0 8 * * *".into()),
        duration: Duration::from_secs(600),
    });
    let (step, _) = only_step(&w.plan(&d, at(60)));
    assert_eq!(defragmented(&step), Some(pod(0)));
    let closed = w.plan(&d, at(601));
    assert_eq!(closed.steps().count(), 0);
    assert_eq!(closed.next_deadline(), Some(at(86_400)), "the next opening");
}

#[test]
fn a_nospace_member_stays_healthy_and_counts_for_quorum() {
    let d = desired(MemberCount::Three);
    let w = world(3).no_space(t0());
    assert_eq!(w.observed.healthy_voters(), 3);
    let plan = w.plan(&d, t0());
    assert!(plan.steps().next().is_none(), "Manual: report only, {plan:#?}");
    assert!(plan.refuses(Rule::NoSpace));
    assert!(!plan.refuses(Rule::RestoreRequired) && !plan.refuses(Rule::WaitForMembers));
    let message = &plan.decisions[0].message;
    assert!(
        message.contains("etcd-0, etcd-1, etcd-2") && message.contains("etcd's default 2 GiB"),
        "{message}"
    );
    assert!(message.contains("etcdctl defrag") && message.contains("etcdctl alarm disarm"), "{message}");
}

#[test]
fn under_recover_every_member_is_defragmented_then_the_alarm_disarmed() {
    let d = recover(MemberCount::Three, 100);
    let w = world(3).no_space(t0()).db(0, 100, 20).db(1, 100, 20).db(2, 100, 20);
    let (step, rule) = only_step(&w.plan(&d, at(1)));
    assert_eq!((defragmented(&step), rule), (Some(pod(1)), Rule::NoSpace));
    // Follower 1 done just now: no pause under NOSPACE, follower 2 next.
    let mut w = w.db(1, 20, 20);
    w.history.seen.defragmented.insert(pod(1), at(1));
    assert_eq!(defragmented(&only_step(&w.plan(&d, at(2))).0), Some(pod(2)));
    let mut w = w.db(2, 20, 20);
    w.history.seen.defragmented.insert(pod(2), at(2));
    assert!(matches!(only_step(&w.plan(&d, at(3))).0, Step::MoveLeader { .. }), "the leader last");
    let mut w = w.led_by(1).db(0, 20, 20);
    w.history.seen.defragmented.insert(pod(0), at(3));
    let (step, rule) = only_step(&w.plan(&d, at(4)));
    assert_eq!(rule, Rule::NoSpace);
    assert!(matches!(step, Step::DisarmAlarm { .. }), "{step:?}");
}

#[test]
fn recover_refuses_to_disarm_while_the_data_itself_fills_the_quota() {
    let d = recover(MemberCount::One, 16);
    let w = world(1).no_space(t0()).db(0, 16, 16);
    // Not yet defragmented since the alarm: at once, even a single member.
    assert_eq!(defragmented(&only_step(&w.plan(&d, at(1))).0), Some(pod(0)));
    let mut done = w.clone();
    done.history.seen.defragmented.insert(pod(0), at(1));
    let plan = done.plan(&d, at(2));
    assert!(plan.refuses(Rule::NoSpace) && plan.steps().next().is_none(), "{plan:#?}");
    assert!(plan.decisions[0].message.contains("the data itself fills the quota"), "{plan:#?}");
    // etcd shows no space freed while writes are refused: again after noSpaceRecheck (2 min).
    let wait = plan.decisions.iter().find(|d| matches!(d.outcome, Outcome::Wait { .. })).expect("a wait");
    assert_eq!(plan.next_deadline(), Some(at(121)), "{wait:?}");
    assert_eq!(defragmented(&only_step(&done.plan(&d, at(121))).0), Some(pod(0)));
    // The client compacted: half of it is free, so it is defragmented again, then disarmed.
    let compacted = done.clone().db(0, 16, 2);
    assert_eq!(defragmented(&only_step(&compacted.plan(&d, at(3))).0), Some(pod(0)));
    let shrunk = done.db(0, 2, 2);
    assert!(matches!(only_step(&shrunk.plan(&d, at(4))).0, Step::DisarmAlarm { .. }));
}

#[test]
fn the_quota_is_the_one_the_members_run_with_else_the_manifests_else_etcds_default() {
    let w = world(1).no_space(t0());
    let mut d = desired(MemberCount::One);
    assert_eq!(nospace::quota(&d, &w.observed), (2 * 1024 * 1024 * 1024, "etcd's default 2 GiB".to_owned()));
    d.maintenance.quota_backend_bytes = Some(16 * 1024 * 1024);
    assert_eq!(nospace::quota(&d, &w.observed), (16 * 1024 * 1024, "spec.etcd.quotaBackendBytes".to_owned()));
    // The members report theirs: it wins, and a manifest that asks another is named.
    let mut reported = w.clone();
    if let Some(Ok(s)) = reported.observed.endpoints.get_mut(&pod(0)) {
        s.db_size_quota_bytes = 4 * MIB;
    }
    let (quota, source) = nospace::quota(&d, &reported.observed);
    assert_eq!(quota, 4 * 1024 * 1024);
    assert!(source.contains("says 16.0 MiB: they keep 4.0 MiB until they are restarted"), "{source}");
    d.maintenance.quota_backend_bytes = Some(4 * 1024 * 1024);
    assert_eq!(nospace::quota(&d, &reported.observed).1, "the quota the members run with");
}

/// The manifest's quota raised while the members keep their old one: judged by the
/// members' quota, the alarm is not disarmed while every database still fills it (a
/// disarm would only be raised again at the next write).
#[test]
fn a_quota_raised_in_the_manifest_alone_does_not_disarm_what_the_members_quota_still_holds() {
    let mut d = recover(MemberCount::One, 64);
    let mut w = world(1).no_space(t0()).db(0, 16, 16);
    if let Some(Ok(s)) = w.observed.endpoints.get_mut(&pod(0)) {
        s.db_size_quota_bytes = 16 * MIB;
    }
    w.history.seen.defragmented.insert(pod(0), at(1));
    let plan = w.plan(&d, at(2));
    assert!(plan.steps().next().is_none(), "{plan:#?}");
    let said: String = plan.decisions.iter().map(|d| d.message.clone()).collect();
    assert!(said.contains("they keep 16.0 MiB until they are restarted"), "{said}");
    // By the manifest's quota alone it would have been disarmed at once.
    d.maintenance.quota_backend_bytes = Some(64 * 1024 * 1024);
    if let Some(Ok(s)) = w.observed.endpoints.get_mut(&pod(0)) {
        s.db_size_quota_bytes = 0;
    }
    assert!(matches!(only_step(&w.plan(&d, at(2))).0, Step::DisarmAlarm { .. }));
}

/// Disarmed only when every voter answers; a disarm that did not hold is repeated
/// only after `noSpaceRecheck`, doubling each time.
#[test]
fn the_alarm_is_disarmed_only_with_every_voter_answering_and_backs_off_when_it_comes_back() {
    let d = recover(MemberCount::Three, 100);
    let mut w = world(3).no_space(t0()).db(0, 20, 20).db(1, 20, 20).db(2, 20, 20);
    for i in 0..3 {
        w.history.seen.defragmented.insert(pod(i), at(1));
    }
    assert!(matches!(only_step(&w.plan(&d, at(2))).0, Step::DisarmAlarm { .. }));
    let silent = w.clone().silent(2);
    let plan = silent.plan(&d, at(2));
    assert!(plan.steps().next().is_none(), "{plan:#?}");
    assert!(plan.decisions.iter().any(|d| d.message.contains("2 of 3 voters answer")), "{plan:#?}");
    // Disarmed twice already, the last at 10 s: again only after 2 x noSpaceRecheck.
    w.history.seen.disarms = Some(crate::model::Restarts { count: 2, last: at(10) });
    let recheck = d.maintenance.defragmentation.no_space_recheck.as_secs() as i64;
    let early = w.plan(&d, at(10 + 2 * recheck - 1));
    assert!(early.steps().next().is_none(), "{early:#?}");
    assert_eq!(early.next_deadline(), Some(at(10 + 2 * recheck)));
    assert!(matches!(only_step(&w.plan(&d, at(10 + 2 * recheck))).0, Step::DisarmAlarm { .. }));
}

#[test]
fn no_member_is_paused_while_another_serves_no_reads_a_defragmentation_given_up_on_goes_on() {
    let d = desired(MemberCount::Three);
    let w = world(3).fragmented(3);
    let (step, _) = only_step(&w.plan(&d, t0()));
    assert_eq!(defragmented(&step), Some(pod(1)), "etcd-1 first, a follower");
    // etcd-1 answers its status but no read: the defragmentation the controller gave
    // up on goes on inside etcd.
    let mut slow = w.clone();
    if let Some(Ok(s)) = slow.observed.endpoints.get_mut(&pod(1)) {
        s.slow_reads = true;
    }
    let plan = slow.plan(&d, t0());
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    let wait = plan.decisions.iter().find(|d| d.rule == Rule::Defragment).expect("a wait");
    assert!(matches!(wait.outcome, Outcome::Wait { .. }), "{wait:?}");
    assert!(wait.message.contains("etcd-1 answers its status but no read within 250 ms"), "{wait:?}");
    // The restarts of a rolling restart wait too.
    let mut d = desired(MemberCount::Three);
    d.maintenance.quota_backend_bytes = Some(64 * 1024 * 1024);
    let mut rolling = world(3);
    for i in 0..3 {
        rolling.task(i).quota_backend_bytes = Some(16 * 1024 * 1024);
    }
    assert_eq!(rolling.plan(&d, t0()).steps().count(), 1);
    if let Some(Ok(s)) = rolling.observed.endpoints.get_mut(&pod(2)) {
        s.slow_reads = true;
    }
    assert_eq!(rolling.plan(&d, t0()).steps().count(), 0);
}
