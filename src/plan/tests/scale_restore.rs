//! Table tests of scenario 2 (scale-up gate, scale-down) and 3b/4d (restore).

use crate::domain::{BackupId, MemberId};
use crate::manifest::desired::{MemberCount, QuorumLossPolicy, ScaleUpPolicy};
use crate::model::platform::TaskState;
use crate::plan::*;
use crate::testing::world::{World, at, backup_record, only_step, pod, t0, with_backups, world};

fn backup(w: &mut World, taken_at: jiff::Timestamp) -> BackupId {
    let record = backup_record(taken_at, 42);
    let id = record.id.clone();
    w.observed.backups.records.push(record);
    id
}

/// A healthy single member whose desired count is three.
fn growing() -> World {
    let mut w = world(3);
    for i in 1..3u8 {
        w = w.removed(i);
        w.task(i).task = TaskState::NotLaunched;
        w.observed.endpoints.remove(&pod(i));
    }
    w
}

#[test]
fn scale_up_without_a_fresh_backup_is_refused_with_what_to_run() {
    let mut w = growing();
    backup(&mut w, at(-3600));
    let plan = w.plan(&with_backups(MemberCount::Three), at(0));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::ScaleBlocked));
    let message = &plan.decisions[0].message;
    assert!(message.contains("1h old") && message.contains("etcd-warden backup kubernetes"), "{message}");
}

#[test]
fn scale_up_with_a_fresh_backup_begins_with_the_lowest_missing_slot() {
    let mut w = growing();
    let id = backup(&mut w, at(-60));
    let (step, rule) = only_step(&w.plan(&with_backups(MemberCount::Three), at(0)));
    assert_eq!(rule, Rule::ScaleUp);
    assert_eq!(step, Step::BeginScaleUp { pod: pod(1), backup: id });
}

#[test]
fn without_learners_a_single_member_is_not_grown_since_a_second_voter_would_lose_the_quorum() {
    let mut w = growing();
    backup(&mut w, at(-60));
    w.observed.capabilities.learners = false;
    let plan = w.plan(&with_backups(MemberCount::Three), at(0));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.refuses(Rule::ScaleNeedsLearners), "{plan:#?}");
    let message = &plan.decisions[0].message;
    assert!(message.contains("older than 3.4") && message.contains("1 of 1 voting members"), "{message}");
}

#[test]
fn backup_first_takes_a_backup_before_scaling() {
    let mut d = with_backups(MemberCount::Three);
    d.policy.scale_up = ScaleUpPolicy::BackupFirst;
    let (step, rule) = only_step(&growing().plan(&d, at(0)));
    assert_eq!((step, rule), (Step::TakeBackup, Rule::ScaleUp));
}

#[test]
fn scale_down_moves_leadership_off_a_leading_slot_then_removes_it() {
    let mut w = world(3);
    backup(&mut w, at(-60));
    // etcd-2 leads.
    for status in w.observed.endpoints.values_mut().flatten() {
        status.leader = Some(MemberId(102));
    }
    let d = with_backups(MemberCount::One);
    // Begun and recorded first, behind the backup.
    let (step, rule) = only_step(&w.plan(&d, at(0)));
    assert_eq!(rule, Rule::ScaleDown);
    let Step::BeginScaleDown { members: 1, backup: admitted } = step else { panic!("{step:?}") };
    w.history.in_flight.begin_scale_down(1, admitted.clone(), at(0)).expect("nothing else runs");
    let (step, rule) = only_step(&w.plan(&d, at(0)));
    assert_eq!(rule, Rule::ScaleDown);
    assert!(matches!(step, Step::MoveLeader { to: MemberId(100), .. }), "{step:?}");
    // etcd-0 leads: etcd-2 (the highest slot) is removed first.
    let mut w = world(3);
    backup(&mut w, at(-60));
    w.history.in_flight.begin_scale_down(1, admitted, at(0)).expect("nothing else runs");
    let (step, _) = only_step(&w.plan(&d, at(0)));
    assert!(matches!(step, Step::RemoveMember { pod: Some(p), .. } if p == pod(2)), "{step:?}");
    // Once removed from the list, the slot is retired.
    let (step, _) = only_step(&w.removed(2).plan(&d, at(0)));
    assert_eq!(step, Step::RetireMember { pod: pod(2) });
}

#[test]
fn a_permanent_majority_loss_restores_from_the_survivor_under_restore_policy() {
    let mut d = with_backups(MemberCount::Three);
    d.policy.quorum_loss = QuorumLossPolicy::Restore;
    let mut w = world(3).lost(1, t0()).lost(2, t0());
    // The survivor answers without a quorum: no leader.
    for status in w.observed.endpoints.values_mut().flatten() {
        status.leader = None;
    }
    let (step, rule) = only_step(&w.plan(&d, at(600)));
    assert_eq!(rule, Rule::Restore);
    assert!(matches!(step, Step::RestoreFromSurvivor { pod: p, .. } if p == pod(0)), "{step:?}");
    d.policy.quorum_loss = QuorumLossPolicy::Manual;
    let plan = w.plan(&d, at(600));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::RestoreRequired));
}

#[test]
fn with_no_survivor_the_newest_backup_within_max_data_loss_is_used_or_refused() {
    let mut d = with_backups(MemberCount::One);
    d.policy.quorum_loss = QuorumLossPolicy::Restore;
    let mut w = world(1).lost(0, t0());
    let id = backup(&mut w, at(-600));
    w.history.seen.last_revision = Some((50, at(-60)));
    let (step, _) = only_step(&w.plan(&d, at(600)));
    assert_eq!(step, Step::RestoreFromBackup { id });
    // A quorum was last seen, at a newer revision, more than maxDataLoss (1h) after
    // the backup.
    w.history.seen.last_revision = Some((50, at(3600)));
    w.history.seen.quorum_seen_at = Some(at(3600));
    let plan = w.plan(&d, at(7200));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::RestoreRequired), "{plan:#?}");
}

#[test]
fn a_lost_member_inside_its_window_is_not_yet_restored() {
    let mut d = with_backups(MemberCount::One);
    d.policy.quorum_loss = QuorumLossPolicy::Restore;
    let mut w = world(1).lost(0, t0());
    backup(&mut w, t0());
    let plan = w.plan(&d, at(30));
    assert_eq!(plan.steps().count(), 0, "agentLostAfter is 60 s");
    assert_eq!(plan.next_deadline(), Some(at(60)));
}

#[test]
fn a_fresh_backup_of_another_lineage_admits_no_scale_up() {
    let mut w = growing();
    w.history.seen.lineage.seen(crate::testing::world::CLUSTER_ID);
    backup(&mut w, at(-60));
    // Taken of another etcd cluster (a purged one whose destination was reused).
    if let Some(r) = w.observed.backups.records.last_mut() {
        r.cluster_id = Some(0xDEAD);
    }
    let plan = w.plan(&with_backups(MemberCount::Three), at(0));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.refuses(Rule::ScaleBlocked), "{plan:#?}");
}
