//! Table tests of the safety rules: intact data, bounded restarts, the newest restore
//! source, quorum judged against the listed voters, changes in flight.

use crate::domain::{BackupId, MemberId};
use crate::manifest::desired::{MemberCount, QuorumLossPolicy};
use crate::model::etcd::EndpointStatus;
use crate::model::platform::{DataState, TaskState};
use crate::model::{ChosenSource, Restarts, RestoreInFlight, SavedSnapshot, ScaleAdmission};
use crate::plan::*;
use crate::testing::world::{World, at, backup_record, desired, only_step, pod, t0, with_backups, world};

fn restoring(members: MemberCount) -> DesiredCluster {
    let mut d = with_backups(members);
    d.policy.quorum_loss = QuorumLossPolicy::Restore;
    d
}

fn add_backup(w: &mut World, taken_at: jiff::Timestamp, revision: i64) -> BackupId {
    let record = backup_record(taken_at, revision);
    let id = record.id.clone();
    w.observed.backups.records.push(record);
    id
}

/// A member that answers without a quorum (no leader) at `revision`.
fn answering_alone(mut w: World, i: u8, revision: i64) -> World {
    w.task(i).task = TaskState::Running;
    let status = EndpointStatus {
        id: MemberId(100 + u64::from(i)),
        leader: None,
        revision,
        db_size_bytes: 1,
        db_size_in_use_bytes: 1,
        db_size_quota_bytes: 0,
        slow_reads: false,
        is_learner: false,
        errors: vec![],
        version: "3.4.13".to_owned(),
        cluster_id: 0,
    };
    w.observed.endpoints.insert(pod(i), Ok(status));
    w
}

/// No member list answers: every member is down or alone.
fn no_list(mut w: World) -> World {
    w.observed.member_list = None;
    w
}

#[test]
fn a_restarted_member_that_does_not_answer_yet_is_looked_at_again_soon_whatever_the_resync() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).silent(1);
    w.history.seen.restarts.insert(pod(1), Restarts { count: 1, last: at(100) });
    w.history.seen.unanswered_since.insert(pod(1), at(100));
    let ms = |ms| at(100) + jiff::SignedDuration::from_millis(ms);
    // Just restarted: 200 ms; later, half the time since the restart, at most 5 s.
    assert_eq!(w.plan(&d, ms(25)).next_deadline(), Some(ms(225)));
    assert_eq!(w.plan(&d, ms(2000)).next_deadline(), Some(ms(3000)));
    assert_eq!(w.plan(&d, at(160)).next_deadline(), Some(at(165)));
    assert_eq!(w.plan(&d, ms(25)).steps().count(), 0, "no step while it starts");
    // Once every member answers healthy, nothing is waited for.
    assert_eq!(world(3).plan(&d, at(100)).next_deadline(), None);
}

#[test]
fn a_running_member_that_stops_answering_is_looked_at_again_soon_and_still_replaced_at_its_window() {
    // etcd-0 runs but answers unhealthy (its cluster elects a leader after another
    // member died): the daemon's resync may be long, so the status would stay Degraded
    // long after the election ended unless the member is looked at again soon.
    let d = desired(MemberCount::Three);
    let mut w = world(3).silent(1);
    w.history.seen.unanswered_since.insert(pod(1), at(100));
    let ms = |ms| at(100) + jiff::SignedDuration::from_millis(ms);
    assert_eq!(w.plan(&d, ms(25)).next_deadline(), Some(ms(225)));
    assert_eq!(w.plan(&d, at(160)).next_deadline(), Some(at(165)));
    let plan = w.plan(&d, at(160));
    assert_eq!(plan.steps().count(), 0, "looking again is no step: {plan:?}");
    // The replacement rule keeps its own window (unresponsiveAfter, 5 min).
    let window = plan.decisions.iter().find(|x| x.rule == Rule::ReplaceLostMember);
    assert_eq!(window.map(|x| &x.outcome), Some(&Outcome::Wait { until: Some(at(400)) }), "{plan:?}");
}

#[test]
fn a_crashed_member_without_a_wal_is_replaced_never_restarted_in_place() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).exited(1, t0());
    w.task(1).data = DataState::Missing;
    let waiting = w.plan(&d, at(30));
    assert!(waiting.steps().all(|(s, _)| !matches!(s, Step::RestartInPlace { .. })), "{waiting:#?}");
    let (step, rule) = only_step(&w.plan(&d, at(61)));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(1)));
}

#[test]
fn an_unreadable_data_directory_is_reported_and_neither_restarted_nor_replaced() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).exited(2, t0());
    w.task(2).data = DataState::Unreadable("permission denied".into());
    let plan = w.plan(&d, at(3600));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.refuses(Rule::RestartInPlace));
    assert!(plan.decisions.iter().any(|d| d.message.contains("permission denied")));
}

#[test]
fn restarts_in_place_back_off_then_the_slot_counts_as_lost() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).exited(1, t0());
    w.history.seen.restarts.insert(pod(1), Restarts { count: 2, last: at(100) });
    // After two failed restarts the pause is 4 x restartGrace (120 s).
    let waiting = w.plan(&d, at(219));
    assert_eq!(waiting.steps().count(), 0);
    assert_eq!(waiting.next_deadline(), Some(at(220)));
    let (step, _) = only_step(&w.plan(&d, at(220)));
    assert!(matches!(step, Step::RestartInPlace { .. }));
    // The pause never exceeds 5 minutes.
    w.history.seen.restarts.insert(pod(1), Restarts { count: 4, last: at(100) });
    assert_eq!(w.plan(&d, at(101)).next_deadline(), Some(at(400)));
    // maxRestarts (5) used up: the slot is replaced, not restarted again.
    w.history.seen.restarts.insert(pod(1), Restarts { count: 5, last: at(100) });
    let (step, rule) = only_step(&w.plan(&d, at(101)));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(1)));
}

#[test]
fn a_replacement_learner_that_runs_but_never_answers_is_wiped_removed_and_added_again() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).replacing(1, 1, Some(t0())).learner(1, Some(5));
    w.observed.endpoints.insert(pod(1), Err("timeout".into()));
    w.history.seen.unanswered_since.insert(pod(1), t0());
    assert_eq!(w.plan(&d, at(299)).steps().count(), 0, "within unresponsiveAfter");
    let (step, _) = only_step(&w.plan(&d, at(300)));
    assert_eq!(step, Step::RejoinReplacement { pod: pod(1) });
    // Wiped: the learner is removed first, then added again.
    let mut w = w.not_launched(1);
    if let Some(r) = w.history.in_flight.join_mut() {
        r.rejoin = true;
    }
    let (step, _) = only_step(&w.plan(&d, at(301)));
    assert!(matches!(step, Step::RemoveMember { id: MemberId(901), .. }), "{step:?}");
    let w = w.removed(1);
    let (step, _) = only_step(&w.plan(&d, at(302)));
    assert!(matches!(step, Step::AddLearner { pod: p, .. } if p == pod(1)));
}

#[test]
fn before_choosing_a_restore_source_a_crashed_survivors_data_is_read_then_compared() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(1, t0()).lost(2, t0()).exited(0, t0()));
    let id = add_backup(&mut w, at(-100), 30);
    let (step, rule) = only_step(&w.plan(&d, at(120)));
    assert_eq!(rule, Rule::Restore);
    assert_eq!(step, Step::ReadSurvivor { pod: pod(0) });
    // Read at revision 50: newer than the backup, so the survivor is the source.
    let saved = SavedSnapshot { file: "s.db".into(), sha256: "ab".into(), revision: 50, tail: None };
    w.history.in_flight.restoring().survivors.insert(pod(0), saved.clone());
    let (step, _) = only_step(&w.plan(&d, at(121)));
    assert!(matches!(step, Step::RestoreFromSurvivor { pod: p, .. } if p == pod(0)), "{step:?}");
    // Read at revision 20: the backup (revision 30) holds newer data and wins.
    w.history.in_flight.restoring().survivors.insert(pod(0), SavedSnapshot { revision: 20, ..saved });
    let (step, _) = only_step(&w.plan(&d, at(121)));
    assert_eq!(step, Step::RestoreFromBackup { id });
}

#[test]
fn a_survivor_whose_data_cannot_be_read_is_tried_three_times_then_the_restore_is_refused() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(1, t0()).lost(2, t0()).exited(0, t0()));
    add_backup(&mut w, at(-100), 30);
    for reads in 0..3 {
        w.history.in_flight.restoring().survivor_reads.insert(pod(0), reads);
        let (step, _) = only_step(&w.plan(&d, at(120)));
        assert_eq!(step, Step::ReadSurvivor { pod: pod(0) }, "attempt {}", reads + 1);
    }
    w.history.in_flight.restoring().survivor_reads.insert(pod(0), 3);
    let plan = w.plan(&d, at(120));
    assert_eq!(plan.steps().count(), 0, "never the older backup while the survivor may be newer: {plan:#?}");
    assert!(plan.refuses(Rule::RestoreRequired), "{plan:#?}");
}

#[test]
fn the_restore_takes_the_survivor_or_the_backup_whichever_is_newer() {
    let d = restoring(MemberCount::Three);
    let base = || no_list(answering_alone(world(3).lost(1, t0()).lost(2, t0()), 0, 50));
    let mut older_backup = base();
    add_backup(&mut older_backup, at(-100), 30);
    let (step, _) = only_step(&older_backup.plan(&d, at(120)));
    assert!(matches!(step, Step::RestoreFromSurvivor { pod: p, .. } if p == pod(0)), "{step:?}");
    let mut newer_backup = base();
    let id = add_backup(&mut newer_backup, at(-100), 60);
    let (step, _) = only_step(&newer_backup.plan(&d, at(120)));
    assert_eq!(step, Step::RestoreFromBackup { id });
}

#[test]
fn a_survivor_that_does_not_answer_is_waited_for_then_the_restore_is_refused() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(1, t0()).lost(2, t0()).silent(0));
    w.history.seen.unanswered_since.insert(pod(0), at(100));
    add_backup(&mut w, at(-100), 30);
    let waiting = w.plan(&d, at(120));
    assert_eq!(waiting.steps().count(), 0);
    assert_eq!(waiting.next_deadline(), Some(at(400)));
    let refused = w.plan(&d, at(400));
    assert_eq!(refused.steps().count(), 0);
    assert!(refused.refuses(Rule::RestoreRequired), "{refused:#?}");
}

#[test]
fn a_learner_is_never_a_restore_source_and_the_backup_wins() {
    let d = restoring(MemberCount::Three);
    // etcd-2 joins as a learner: the voters are etcd-0 and etcd-1, both lost.
    let mut w = world(3).replacing(2, 1, Some(t0())).learner(2, Some(900));
    w.history.seen.members = w.observed.member_list.clone().expect("list");
    let mut w = no_list(w.lost(0, t0()).lost(1, t0()));
    let id = add_backup(&mut w, at(-100), 40);
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert_eq!(step, Step::RestoreFromBackup { id });
}

#[test]
fn a_restore_in_flight_reuses_its_source_even_when_the_survivor_is_gone() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(0, t0()).lost(1, t0()).lost(2, t0()));
    add_backup(&mut w, at(-100), 30);
    w.history.in_flight.restoring().chosen = Some(RestoreInFlight {
        source: ChosenSource::Survivor { pod: pod(0), snapshot: "s.db".into(), sha256: "ab".into() },
        revision: 50,
        chosen_at: at(100),
    });
    let (step, rule) = only_step(&w.plan(&d, at(120)));
    assert_eq!(rule, Rule::Restore);
    assert!(matches!(step, Step::RestoreFromSurvivor { pod: p, .. } if p == pod(0)), "{step:?}");
}

#[test]
fn a_restore_that_failed_its_bounded_attempts_is_refused_for_a_person() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(0, t0()).lost(1, t0()).lost(2, t0()));
    add_backup(&mut w, at(-100), 30);
    let restore = w.history.in_flight.restoring();
    restore.chosen = Some(RestoreInFlight {
        source: ChosenSource::Backup { id: crate::domain::BackupId::new(at(-100), 30) },
        revision: 30,
        chosen_at: at(100),
    });
    restore.attempts = crate::plan::restore::MAX_RESTORE_ATTEMPTS - 1;
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert!(matches!(step, Step::RestoreFromBackup { .. }), "the last attempt: {step:?}");
    w.history.in_flight.restoring().attempts = crate::plan::restore::MAX_RESTORE_ATTEMPTS;
    let plan = w.plan(&d, at(120));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    let refusal = plan.decisions.iter().find(|d| d.rule == Rule::RestoreRequired).expect("refused");
    assert!(refusal.message.contains("failed 3 times"), "{}", refusal.message);
}

#[test]
fn a_backup_of_another_lineage_never_wins_a_restore_whatever_its_revision() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(0, t0()).lost(1, t0()).lost(2, t0()));
    w.history.seen.lineage.seen(crate::testing::world::CLUSTER_ID);
    let own = add_backup(&mut w, at(-200), 30);
    let other = add_backup(&mut w, at(-100), 90);
    if let Some(r) = w.observed.backups.records.last_mut() {
        r.cluster_id = Some(0xDEAD);
    }
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert_eq!(step, Step::RestoreFromBackup { id: own.clone() }, "the own lineage's, though older");
    // Only the other lineage's backup: refused, saying why.
    w.observed.backups.records.retain(|r| r.id == other);
    let plan = w.plan(&d, at(120));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    let refusal = plan.decisions.iter().find(|d| d.rule == Rule::RestoreRequired).expect("refused");
    assert!(refusal.message.contains("lineage") && refusal.message.contains("dead"), "{}", refusal.message);
}

#[test]
fn after_a_rollback_the_backups_it_undid_never_win_a_restore() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(0, t0()).lost(1, t0()).lost(2, t0()));
    w.history.seen.lineage.seen(crate::testing::world::CLUSTER_ID);
    let kept = add_backup(&mut w, at(-300), 40);
    let undone = add_backup(&mut w, at(-200), 90);
    // `restore --from` the backup at revision 40; the restored cluster answers as 0xC2.
    w.history.seen.lineage.restored(Some(crate::testing::world::CLUSTER_ID), 40);
    w.history.seen.lineage.seen(0xC2);
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert_eq!(step, Step::RestoreFromBackup { id: kept }, "not {undone}, whose writes the rollback undid");
    let after = add_backup(&mut w, at(-100), 60);
    if let Some(r) = w.observed.backups.records.last_mut() {
        r.cluster_id = Some(0xC2);
    }
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert_eq!(step, Step::RestoreFromBackup { id: after }, "the restored cluster's own newer backup");
}

#[test]
fn an_unknown_last_quorum_refuses_an_automatic_restore() {
    let d = restoring(MemberCount::Three);
    let mut w = no_list(world(3).lost(0, t0()).lost(1, t0()).lost(2, t0()));
    add_backup(&mut w, at(-100), 30);
    w.history.seen.quorum_seen_at = None;
    let plan = w.plan(&d, at(120));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::RestoreRequired));
}

#[test]
fn a_scale_down_in_progress_restarts_crashed_extra_voters_rather_than_restoring() {
    // Five voters listed, three desired: etcd-2 lost, etcd-3 and etcd-4 crashed.
    let d = restoring(MemberCount::Three);
    let w = no_list(world(5).lost(2, t0()).exited(3, t0()).exited(4, t0()));
    let plan = w.plan(&d, at(120));
    let restarted: Vec<_> = plan.steps().filter_map(|(s, _)| s.pod()).collect();
    assert_eq!(restarted, vec![pod(3), pod(4)], "{plan:#?}");
    assert!(plan.steps().all(|(s, _)| matches!(s, Step::RestartInPlace { .. })));
}

#[test]
fn mid_replacement_two_voters_and_a_learner_lose_quorum_with_one_voter_lost() {
    let d = restoring(MemberCount::Three);
    let mut w = world(3).replacing(2, 1, Some(t0())).learner(2, Some(900));
    w.history.seen.members = w.observed.member_list.clone().expect("list");
    let w = no_list(answering_alone(w.lost(1, t0()), 0, 50));
    let (step, _) = only_step(&w.plan(&d, at(120)));
    assert!(matches!(step, Step::RestoreFromSurvivor { pod: p, .. } if p == pod(0)), "{step:?}");
}

#[test]
fn a_bootstrap_whose_member_holds_data_is_never_wiped() {
    let d = desired(MemberCount::Three);
    let mut w = world(3).never_healthy(Some((1, t0()))).exited(0, at(1));
    if let Some(Ok(status)) = w.observed.endpoints.get_mut(&pod(1)) {
        status.revision = 7;
    }
    let plan = w.plan(&d, at(100));
    assert!(plan.steps().all(|(s, _)| !matches!(s, Step::WipeFailedBootstrap { .. })), "{plan:#?}");
}

#[test]
fn a_scale_up_admitted_by_a_backup_finishes_on_it_after_the_backup_aged() {
    let d = restoring(MemberCount::Three);
    let mut w = world(3).removed(2).not_launched(2);
    let id = add_backup(&mut w, at(-3600), 42);
    w.history.in_flight.scaling(ScaleAdmission::new(3, id.clone(), None));
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert_eq!(rule, Rule::ScaleUp);
    assert_eq!(step, Step::BeginScaleUp { pod: pod(2), backup: id });
}

#[test]
fn a_join_for_a_slot_no_longer_desired_removes_its_learner_then_is_abandoned() {
    let d = desired(MemberCount::One);
    let w = world(3).replacing(2, 1, Some(t0())).learner(2, Some(10));
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert_eq!(rule, Rule::ScaleDown);
    let Step::RemoveMember { id, via, .. } = step else { panic!("{step:?}") };
    assert_eq!(id, MemberId(902));
    assert_ne!(via, w.observed.platform.tasks[2].client_url, "never through the member removed");
    let w = w.removed(2);
    let (step, _) = only_step(&w.plan(&d, t0()));
    assert_eq!(step, Step::AbandonJoin { pod: pod(2) });
}

#[test]
fn scale_down_never_sends_the_removal_through_the_member_it_removes() {
    let d = restoring(MemberCount::Three);
    let mut w = world(5);
    add_backup(&mut w, t0(), 42);
    // etcd-4 holds the highest revision: the best source, but the one leaving.
    if let Some(Ok(status)) = w.observed.endpoints.get_mut(&pod(4)) {
        status.revision = 99;
    }
    let (step, _) = only_step(&w.plan(&d, t0()));
    let Step::BeginScaleDown { members: 3, backup } = step else { panic!("{step:?}") };
    w.history.in_flight.begin_scale_down(3, backup, t0()).expect("nothing else runs");
    let (step, _) = only_step(&w.plan(&d, t0()));
    let Step::RemoveMember { pod: Some(p), via, .. } = step else { panic!("{step:?}") };
    assert_eq!(p, pod(4));
    assert_ne!(via, w.observed.platform.tasks[4].client_url);
}
