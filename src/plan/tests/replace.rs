//! Table tests of scenario 4b (replacement), 4c (waiting) and phantom members.

use crate::domain::MemberId;
use crate::manifest::desired::MemberCount;
use crate::model::platform::TaskState;
use crate::plan::*;
use crate::testing::world::{at, desired, only_step, pod, t0, world};

fn three() -> DesiredCluster {
    desired(MemberCount::Three)
}

#[test]
fn a_lost_member_within_agent_lost_after_is_waited_for() {
    let plan = world(3).lost(1, t0()).plan(&three(), at(30));
    assert_eq!(plan.steps().count(), 0);
    assert_eq!(plan.next_deadline(), Some(at(60)), "agentLostAfter defaults to 60 s");
}

#[test]
fn a_lost_member_past_its_window_starts_with_a_snapshot_of_the_best_member() {
    let mut w = world(3).lost(1, t0());
    if let Some(Ok(status)) = w.observed.endpoints.get_mut(&pod(2)) {
        status.revision = 99;
    }
    let (step, rule) = only_step(&w.plan(&three(), at(61)));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert_eq!(
        step,
        Step::SnapshotBeforeReplace { pod: pod(1), from: pod(2), endpoint: "http://127.0.0.1:20004".into() },
        "the snapshot comes from the member with the highest revision"
    );
}

#[test]
fn without_learners_a_voting_member_is_added_only_while_a_quorum_holds_with_it_then_waited_for() {
    let d = three();
    let now = at(600);
    let mut wiped = world(3).replacing(1, 0, None).lost(1, t0()).removed(1);
    wiped.task(1).task = TaskState::NotLaunched;
    wiped.observed.capabilities.learners = false;
    // Two healthy voters of two: with a third that does not answer yet, 2 of 3 still
    // make a quorum.
    let (step, rule) = only_step(&wiped.plan(&d, now));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(
        matches!(step, Step::AddMember { pod: p, ref peer_url, .. } if p == pod(1) && peer_url == "http://127.0.0.1:20003"),
        "{step:?}"
    );
    // Added and recorded: the new voter is launched, never taken for the failed member.
    let mut added = wiped.clone().learner(1, None);
    added.list().iter_mut().for_each(|m| {
        if m.id == MemberId(901) {
            m.is_learner = false
        }
    });
    if let Some(r) = added.history.in_flight.join_mut() {
        r.added_voter = Some(MemberId(901));
    }
    let (step, _) = only_step(&added.plan(&d, now));
    assert!(matches!(step, Step::LaunchReplacement { pod: p, .. } if p == pod(1)), "{step:?}");
    // The same voter with its ID unrecorded (a crash right after the add) is still known
    // by the peer URL recorded before the add: launched, never removed and added again.
    let mut unrecorded = added.clone();
    if let Some(r) = unrecorded.history.in_flight.join_mut() {
        r.added_voter = None;
    }
    let (step, _) = only_step(&unrecorded.plan(&d, now));
    assert!(matches!(step, Step::LaunchReplacement { pod: p, .. } if p == pod(1)), "{step:?}");
    // Launched and catching up: looked at again soon, not promoted.
    added.task(1).task = TaskState::Running;
    let plan = added.plan(&d, now);
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert_eq!(plan.next_deadline(), Some(now + jiff::SignedDuration::from_millis(200)));
}

#[test]
fn without_learners_a_voter_is_added_only_once_every_other_voter_answers() {
    // Five members, etcd 3.3: etcd-4 lost and removed, etcd-3 silent. A quorum holds
    // with the new voter counted down (3 of 5), but etcd refuses a voter add while a
    // voter is disconnected: the add waits for etcd-3, saying so.
    let d = desired(MemberCount::Five);
    let now = at(600);
    let mut w = world(5).replacing(4, 0, None).lost(4, t0()).removed(4).silent(3);
    w.task(4).task = TaskState::NotLaunched;
    w.observed.capabilities.learners = false;
    let plan = w.plan(&d, now);
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    let wait = plan.decisions.iter().find(|x| x.message.contains("once every voter answers"));
    let wait = wait.unwrap_or_else(|| panic!("a wait for the voters: {plan:#?}"));
    assert_eq!((wait.rule, &wait.outcome), (Rule::ReplaceLostMember, &Outcome::Wait { until: None }));
    assert!(wait.message.contains("etcd-4") && wait.message.contains("3 of 4"), "{}", wait.message);
    // etcd-3 answers again: the voter is added.
    let back = world(5).replacing(4, 0, None).lost(4, t0()).removed(4);
    let mut back = back;
    back.task(4).task = TaskState::NotLaunched;
    back.observed.capabilities.learners = false;
    let (step, _) = only_step(&back.plan(&d, now));
    assert!(matches!(step, Step::AddMember { pod: p, .. } if p == pod(4)), "{step:?}");
}

#[test]
fn a_second_lost_member_leaves_the_membership_before_the_first_replacements_add() {
    // Five members, etcd-3 and etcd-4 lost with their data; etcd-3's replacement has
    // removed its old member. etcd refuses any member add while a voter is
    // disconnected, so etcd-4's member is removed next (3 of 4 voters answer: the
    // quorum holds without it), then etcd-3's learner is added.
    let d = desired(MemberCount::Five);
    let now = at(600);
    let mut w = world(5).replacing(3, 0, None).lost(3, t0()).removed(3).lost(4, t0());
    w.task(3).task = TaskState::NotLaunched;
    let (step, rule) = only_step(&w.plan(&d, now));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(
        matches!(step, Step::RemoveMember { pod: Some(p), id, .. } if p == pod(4) && id == MemberId(104)),
        "{step:?}"
    );
    let mut w = w.removed(4);
    let (step, _) = only_step(&w.plan(&d, now));
    assert!(matches!(step, Step::AddLearner { pod: p, .. } if p == pod(3)), "{step:?}");
    // etcd-4 merely silent, inside its window: waited for, never removed.
    w = world(5).replacing(3, 0, None).lost(3, t0()).removed(3).silent(4);
    w.task(3).task = TaskState::NotLaunched;
    w.history.seen.unanswered_since.insert(pod(4), at(590));
    let plan = w.plan(&d, now);
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.decisions.iter().any(|x| x.message.contains("etcd-4 does not answer")), "{plan:#?}");
}

#[test]
fn each_replacement_step_follows_from_what_is_observed() {
    let d = three();
    let now = at(600);
    // Snapshot recorded, the old process still there: wipe it.
    let suspended = world(3).suspended(1, t0()).replacing(1, 0, None).snapshot_at(at(300));
    let (step, _) = only_step(&suspended.plan(&d, now));
    assert_eq!(step, Step::WipeMember { pod: pod(1) });
    // Wiped, its old member still listed: remove it through a healthy member.
    let mut wiped = world(3).replacing(1, 0, None).lost(1, t0());
    wiped.task(1).task = TaskState::NotLaunched;
    let (step, _) = only_step(&wiped.plan(&d, now));
    assert!(
        matches!(step, Step::RemoveMember { pod: Some(p), id: MemberId(101), .. } if p == pod(1)),
        "{step:?}"
    );
    // Removed: add a learner with the slot's peer URL.
    let (step, _) = only_step(&wiped.removed(1).plan(&d, now));
    assert!(
        matches!(step, Step::AddLearner { pod: p, ref peer_url, .. } if p == pod(1) && peer_url == "http://127.0.0.1:20003")
    );
    // Added, not started: launch it, joining the listed members.
    let mut added = world(3).replacing(1, 0, None).lost(1, t0()).learner(1, None);
    added.task(1).task = TaskState::NotLaunched;
    let (step, _) = only_step(&added.plan(&d, now));
    let Step::LaunchReplacement { initial_cluster, .. } = step else { panic!("{step:?}") };
    assert_eq!(initial_cluster.len(), 3);
    assert!(initial_cluster.contains(&(pod(1), "http://127.0.0.1:20003".to_owned())));
    // Started and caught up: promote.
    let caught_up = world(3).replacing(1, 1, Some(at(500))).learner(1, Some(42));
    let (step, _) = only_step(&caught_up.plan(&d, now));
    assert!(matches!(step, Step::PromoteLearner { id: MemberId(901), .. }));
    // Started and behind: wait.
    let behind = world(3).replacing(1, 1, Some(at(500))).learner(1, Some(3)).plan(&d, now);
    assert_eq!(behind.steps().count(), 0);
    let soon = now + jiff::SignedDuration::from_millis(200);
    assert_eq!(behind.next_deadline(), Some(soon), "looked at again soon, whatever the resync");
}

#[test]
fn a_replacement_that_exited_is_launched_again_with_backoff_and_never_added_again() {
    let d = three();
    let mut w = world(3).replacing(1, 2, Some(at(100))).lost(1, t0()).learner(1, None);
    w.task(1).task = TaskState::Exited;
    let early = w.plan(&d, at(101));
    assert_eq!(early.steps().count(), 0, "backoff after the second launch");
    assert_eq!(early.next_deadline(), Some(at(104)));
    let (step, _) = only_step(&w.plan(&d, at(104)));
    assert!(matches!(step, Step::LaunchReplacement { .. }));
}

#[test]
fn no_second_learner_is_added_while_one_is_catching_up() {
    let d = three();
    let w = world(3).lost(2, t0()).replacing(2, 0, None).learner(1, Some(1));
    let mut w = w;
    w.task(2).task = TaskState::NotLaunched;
    let plan = w.removed(2).plan(&d, at(600));
    assert!(plan.steps().all(|(s, _)| !matches!(s, Step::AddLearner { .. })), "{plan:#?}");
}

#[test]
fn a_majority_down_on_healthy_agents_is_waited_for_scenario_4c() {
    let plan = world(3).suspended(1, t0()).suspended(2, t0()).plan(&three(), at(3600));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::WaitForMembers), "{plan:#?}");
}

#[test]
fn a_majority_lost_with_its_data_requires_a_restore_scenario_4d() {
    let plan = world(3).lost(1, t0()).lost(2, t0()).plan(&three(), at(3600));
    assert_eq!(plan.steps().count(), 0);
    assert!(plan.refuses(Rule::RestoreRequired), "{plan:#?}");
}

#[test]
fn a_phantom_member_is_removed_before_anything_else() {
    // A voter added but never started (coreos#2148): 3 of 4 healthy still make quorum.
    let (step, rule) = only_step(&world(3).phantom().plan(&three(), at(600)));
    assert_eq!(rule, Rule::PhantomMember);
    assert!(matches!(step, Step::RemoveMember { pod: None, id: MemberId(777), .. }));
    // A phantom learner goes before the replacement of a lost member.
    let mut w = world(3).phantom().lost(1, t0());
    if let Some(list) = w.observed.member_list.as_mut() {
        list.iter_mut().filter(|m| m.id == MemberId(777)).for_each(|m| m.is_learner = true);
    }
    let (step, rule) = only_step(&w.plan(&three(), at(600)));
    assert_eq!(rule, Rule::PhantomMember, "{step:?}");
}

#[test]
fn a_single_member_cluster_is_never_replaced() {
    let plan = world(1).lost(0, t0()).plan(&desired(MemberCount::One), at(3600));
    assert!(plan.steps().all(|(s, _)| !s.changes_membership() && !matches!(s, Step::WipeMember { .. })));
}

#[test]
fn a_suspended_member_comes_back_before_its_window_and_nothing_happens() {
    let plan = world(3).suspended(0, t0()).plan(&three(), at(299));
    assert_eq!(plan.steps().count(), 0);
    assert_eq!(plan.next_deadline(), Some(at(300)), "unresponsiveAfter defaults to 5 min");
}

#[test]
fn a_lost_members_snapshot_is_taken_ahead_of_its_window_and_nothing_changes_before_it_ends() {
    let d = three();
    // agentLostAfter 60 s: the snapshot may be taken in its last 10 s.
    let lost = world(3).lost(1, t0());
    assert_eq!(lost.plan(&d, at(49)).steps().count(), 0, "too early for the snapshot");
    let (step, rule) = only_step(&lost.plan(&d, at(50)));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(1)), "{step:?}");
    // Taken: the wipe, the first change, waits for the window's end, and the worker is
    // woken then.
    let ready = world(3).lost(1, t0()).replacing(1, 0, None).snapshot_at(at(50));
    let waiting = ready.plan(&d, at(51));
    assert_eq!(waiting.steps().count(), 0, "{waiting:#?}");
    assert_eq!(waiting.next_deadline(), Some(at(60)));
    let (step, _) = only_step(&ready.plan(&d, at(60)));
    assert_eq!(step, Step::WipeMember { pod: pod(1) });
}

#[test]
fn a_snapshot_older_than_ten_seconds_before_the_windows_end_is_taken_again() {
    // The window started again (a controller restart) after the snapshot was taken.
    let d = three();
    let w = world(3).lost(1, at(100)).replacing(1, 0, None).snapshot_at(at(5));
    assert_eq!(w.plan(&d, at(120)).next_deadline(), Some(at(160)), "the new window is waited for");
    let (step, _) = only_step(&w.plan(&d, at(160)));
    assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(1)), "{step:?}");
    let (step, _) = only_step(&w.snapshot_at(at(150)).plan(&d, at(160)));
    assert_eq!(step, Step::WipeMember { pod: pod(1) }, "10 s before the end is recent enough");
}

#[test]
fn an_unresponsive_member_is_snapshotted_only_once_its_window_has_ended() {
    // Its process may still come back or crash with its data: only a lost slot is
    // prepared ahead.
    let plan = world(3).suspended(1, t0()).plan(&three(), at(295));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
}

#[test]
fn a_replacement_that_changed_nothing_lets_a_member_whose_data_is_back_restart_in_place() {
    let d = three();
    // Snapshotted ahead while its data was gone; now it is a crashed process on intact data.
    let w = world(3).exited(1, at(55)).replacing(1, 0, None).snapshot_at(at(55));
    let plan = w.plan(&d, at(100));
    let steps: Vec<_> = plan.steps().map(|(s, _)| s.clone()).collect();
    assert!(matches!(steps.as_slice(), [Step::RestartInPlace { pod: p, .. }] if *p == pod(1)), "{plan:#?}");
    assert!(plan.decisions.iter().any(|d| d.message.contains("no longer looks failed")), "{plan:#?}");
}

#[test]
fn a_learner_is_added_through_the_member_whose_list_shows_the_removal() {
    let d = three();
    let mut w = world(3).replacing(1, 0, None).lost(1, t0()).removed(1);
    w.task(1).task = TaskState::NotLaunched;
    if let Some(Ok(status)) = w.observed.endpoints.get_mut(&pod(2)) {
        status.revision = 99;
    }
    // The list came from etcd-0 (the leader): it applied the removal; etcd-2 is the
    // best snapshot source, but may not have applied it yet.
    let (step, _) = only_step(&w.plan(&d, at(600)));
    assert!(matches!(step, Step::AddLearner { ref via, .. } if via == "http://127.0.0.1:20000"), "{step:?}");
    // A list from a member that no longer answers as a voter: the best source.
    w.observed.member_list_from = Some(pod(1));
    let (step, _) = only_step(&w.plan(&d, at(600)));
    assert!(matches!(step, Step::AddLearner { ref via, .. } if via == "http://127.0.0.1:20004"), "{step:?}");
}

#[test]
fn a_membership_change_waits_while_no_member_that_answers_leads() {
    let d = three();
    // etcd-0 led and is lost: the survivors still name it until they elect another.
    let mut w = world(3).replacing(0, 0, None).lost(0, t0());
    w.task(0).task = TaskState::NotLaunched;
    let plan = w.plan(&d, at(600));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.decisions.iter().any(|d| d.message.contains("waits for one")), "{plan:#?}");
    assert_eq!(
        plan.next_deadline(),
        Some(at(600) + jiff::SignedDuration::from_millis(100)),
        "looked at again soon"
    );
    // etcd-1 is elected: the removal goes ahead.
    for status in w.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
        status.leader = Some(MemberId(101));
    }
    let (step, _) = only_step(&w.plan(&d, at(600)));
    assert!(matches!(step, Step::RemoveMember { id: MemberId(100), .. }), "{step:?}");
}
