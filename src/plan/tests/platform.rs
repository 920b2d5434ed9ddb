//! The rules on a platform that restarts and replaces pods itself (DC/OS), decided from
//! its capabilities alone: the same worlds as the local tables, other steps.

use crate::manifest::desired::{MemberCount, QuorumLossPolicy};
use crate::model::ScaleAdmission;
use crate::model::capabilities::Capabilities;
use crate::plan::{Rule, Step};
use crate::testing::world::{World, at, desired, only_step, pod, t0, with_backups, world};

/// A platform like DC/OS: it restarts and replaces pods and changes membership itself,
/// grows the cluster itself, never bootstraps for the controller, and is restored by
/// hand.
const PLATFORM_DOES_IT: Capabilities = Capabilities::DCOS;

fn on_platform(mut w: World) -> World {
    w.observed.capabilities = PLATFORM_DOES_IT;
    w
}

#[test]
fn a_crashed_task_is_left_to_the_platform_then_its_restart_is_asked_once_never_a_replace() {
    let d = desired(MemberCount::Three);
    let grace = d.recovery.restart_grace.as_secs() as i64;
    let mut w = on_platform(world(3).exited(1, t0()));
    let early = w.plan(&d, at(grace - 1));
    assert_eq!(early.steps().count(), 0, "{early:#?}");
    assert_eq!(early.next_deadline(), Some(at(grace)));
    let (step, rule) = only_step(&w.plan(&d, at(grace)));
    assert_eq!((step, rule), (Step::RequestRestart { pod: pod(1) }, Rule::RestartInPlace));
    // Asked once: from then on the platform restarts it, however many restarts a local
    // member would have had.
    w.history.seen.restarts.insert(pod(1), crate::model::Restarts { count: 1, last: at(grace) });
    for later in [grace + 1, 3600, 86_400] {
        let plan = w.plan(&d, at(later));
        assert_eq!(plan.steps().count(), 0, "at {later}: {plan:#?}");
    }
    w.history.seen.restarts.insert(pod(1), crate::model::Restarts { count: 99, last: at(grace) });
    assert_eq!(w.plan(&d, at(86_400)).steps().count(), 0, "never counted as lost for its restarts");
}

#[test]
fn a_lost_agent_is_snapshotted_then_replaced_by_exactly_one_request() {
    let d = desired(MemberCount::Three);
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    let w = on_platform(world(3).lost(2, t0()));
    let (step, rule) = only_step(&w.plan(&d, at(lost_after + 1)));
    assert_eq!(rule, Rule::ReplaceLostMember);
    assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(2)), "{step:?}");
    let mut w = w.replacing(2, 0, None).snapshot_at(at(lost_after + 1));
    let (step, _) = only_step(&w.plan(&d, at(lost_after + 2)));
    assert_eq!(step, Step::RequestReplace { pod: pod(2) }, "no wipe, no membership call of ours");
    // Asked (recorded before the call): followed to the end, never asked again.
    if let Some(r) = w.history.in_flight.join_mut() {
        r.requested_at = Some(at(lost_after + 2));
    }
    let following = w.plan(&d, at(lost_after + 600));
    assert_eq!(following.steps().count(), 0, "{following:#?}");
    assert!(following.decisions.iter().any(|d| d.message.contains("the platform replaces etcd-2")));
}

#[test]
fn a_phantom_left_by_the_platforms_recovery_is_removed_by_the_usual_rule() {
    let d = desired(MemberCount::Three);
    let w = on_platform(world(3).phantom());
    let (step, rule) = only_step(&w.plan(&d, at(1)));
    assert_eq!(rule, Rule::PhantomMember);
    assert!(matches!(step, Step::RemoveMember { pod: None, .. }), "{step:?}");
}

#[test]
fn a_permanent_majority_loss_is_restored_by_hand_only_naming_the_newest_backup() {
    let mut d = desired(MemberCount::Three);
    d.policy.quorum_loss = QuorumLossPolicy::Restore;
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    let mut w = on_platform(world(3).lost(1, t0()).lost(2, t0()));
    w.observed.member_list = None;
    let backup = crate::testing::world::backup_record(at(-60), 40);
    let id = backup.id.clone();
    w.observed.backups.records.push(backup);
    let plan = w.plan(&d, at(lost_after + 1));
    assert_eq!(plan.steps().count(), 0, "never an automatic restore here: {plan:#?}");
    assert!(plan.refuses(Rule::RestoreRequired));
    let message = &plan.decisions.iter().find(|d| d.rule == Rule::RestoreRequired).expect("refusal").message;
    assert!(message.contains(id.as_str()) && message.contains("docs/dcos.md"), "{message}");
    // The names and peer URLs of the restore by hand are etcd's, as last listed (the
    // package advertises its own form), never computed.
    let listed: Vec<String> = w.history.voters().map(|m| format!("{}={}", m.name, m.peer_urls[0])).collect();
    assert_eq!(listed.len(), 3, "the world records the last member list");
    assert!(message.contains(&format!("--initial-cluster {}", listed.join(","))), "{message}");
}

#[test]
fn a_cluster_that_never_had_a_quorum_is_adopted_never_bootstrapped_or_wiped() {
    let d = desired(MemberCount::Three);
    let mut fresh = world(3).never_healthy(None);
    for i in 0..3 {
        fresh = fresh.not_launched(i);
    }
    let plan = on_platform(fresh).plan(&d, t0());
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.decisions.iter().any(|d| d.rule == Rule::Bootstrap && d.message.contains("adopt")));
    let failing = on_platform(world(3).never_healthy(Some((1, t0()))).exited(0, t0()));
    let plan = failing.plan(&d, at(3600));
    assert!(
        plan.steps().all(|(s, _)| !matches!(s, Step::WipeFailedBootstrap { .. } | Step::Bootstrap { .. })),
        "{plan:#?}"
    );
}

#[test]
fn a_slot_the_platform_is_replacing_on_its_own_is_followed_never_restarted_or_replaced() {
    let d = desired(MemberCount::Three);
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    for w in [world(3).lost(2, t0()), world(3).exited(2, t0())] {
        let mut w = on_platform(w);
        w.task(2).recovery = crate::model::platform::PlatformRecovery::Replacing;
        let plan = w.plan(&d, at(lost_after + 3600));
        assert_eq!(plan.steps().count(), 0, "{plan:#?}");
        assert!(
            plan.decisions.iter().any(|d| d.message.contains("the platform is replacing etcd-2")),
            "{plan:#?}"
        );
    }
}

#[test]
fn our_replacement_not_yet_asked_for_is_not_asked_while_the_platform_already_rebuilds_the_slot() {
    let d = desired(MemberCount::Three);
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    let mut w = on_platform(world(3).lost(2, t0())).replacing(2, 0, None);
    w.task(2).recovery = crate::model::platform::PlatformRecovery::Replacing;
    let plan = w.plan(&d, at(lost_after + 60));
    assert_eq!(plan.steps().count(), 0, "a replace made by hand is followed, not doubled: {plan:#?}");
}

#[test]
fn a_scale_up_is_refused_without_a_fresh_backup_then_asked_of_the_platform_once_and_followed() {
    let d = with_backups(MemberCount::Three);
    let mut w = on_platform(world(1));
    w.observed.backups.records.push(crate::testing::world::backup_record(at(-3600), 40));
    let stale = w.plan(&d, t0());
    assert_eq!(stale.steps().count(), 0, "{stale:#?}");
    assert!(stale.refuses(Rule::ScaleBlocked), "{stale:#?}");
    let fresh = crate::testing::world::backup_record(at(-60), 41);
    let id = fresh.id.clone();
    w.observed.backups.records.push(fresh);
    let (step, rule) = only_step(&w.plan(&d, t0()));
    assert_eq!((step, rule), (Step::RequestScaleUp { members: 3, backup: id.clone() }, Rule::ScaleUp));
    // Asked (recorded before the call): followed, never asked again, even once the
    // backup is stale and while the new pods are not launched yet.
    w.history.in_flight.scaling(ScaleAdmission::new(3, id, Some(t0())));
    for later in [1, 3600, 86_400] {
        let plan = w.plan(&d, at(later));
        assert_eq!(plan.steps().count(), 0, "at {later}: {plan:#?}");
        assert!(plan.decisions.iter().any(|d| d.message.contains("never asking again")), "{plan:#?}");
    }
    let grown = on_platform(world(3).not_launched(2));
    assert!(grown.plan(&d, at(10)).steps().all(|(s, _)| !matches!(s, Step::RequestScaleUp { .. })));
}

#[test]
fn a_scale_down_is_refused_on_a_platform_that_cannot_remove_members() {
    let d = with_backups(MemberCount::One);
    let mut w = on_platform(world(3));
    w.observed.backups.records.push(crate::testing::world::backup_record(at(-60), 41));
    let plan = w.plan(&d, t0());
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.refuses(Rule::ScaleDown), "{plan:#?}");
}

#[test]
fn a_pod_missing_from_the_platforms_list_is_never_replaced_nor_grown_back_while_etcd_lists_it() {
    let d = with_backups(MemberCount::Three);
    let mut w = on_platform(world(3));
    w.observed.backups.records.push(crate::testing::world::backup_record(at(-60), 41));
    // The scheduler, just restarted, lists one pod fewer; etcd still lists three voters.
    w.observed.platform.tasks.retain(|t| t.pod != pod(2));
    w.observed.endpoints.remove(&pod(2));
    for later in [0, 3600, 86_400] {
        let plan = w.plan(&d, at(later));
        assert_eq!(plan.steps().count(), 0, "at {later}: {plan:#?}");
    }
}

fn rolling(status: &str, at_step: &str) -> crate::model::platform::Rollout {
    crate::model::platform::Rollout {
        plan: "deploy".to_owned(),
        status: status.to_owned(),
        step: Some(crate::model::platform::PlatformStep {
            name: at_step.to_owned(),
            status: "STARTING".to_owned(),
            message: String::new(),
        }),
        errors: Vec::new(),
    }
}

/// A scale-up whose answer was lost: followed for `UNCERTAIN_FOR`, then asked once more
/// if the platform showed nothing (never a third time); the platform's deploy plan
/// rolling settles it as made (the history clears `uncertain`), and it is then only
/// followed.
#[test]
fn a_scale_up_whose_answer_was_lost_is_settled_by_the_deploy_plan_or_asked_once_more() {
    let d = with_backups(MemberCount::Three);
    let mut w = on_platform(world(1));
    let backup = crate::testing::world::backup_record(at(-60), 41);
    let mut asked = ScaleAdmission::new(3, backup.id.clone(), Some(t0()));
    asked.uncertain = Some("no answer in 10 s".to_owned());
    w.history.in_flight.scaling(asked.clone());
    let early = w.plan(&d, at(59));
    assert_eq!(early.steps().count(), 0, "{early:#?}");
    assert_eq!(early.next_deadline(), Some(at(60)));
    assert!(early.decisions.iter().any(|d| d.message.contains("got no certain answer (no answer in 10 s)")));
    let (step, rule) = only_step(&w.plan(&d, at(60)));
    assert_eq!((step, rule), (Step::RequestScaleUp { members: 3, backup: backup.id.clone() }, Rule::ScaleUp));
    // Asked once more: only followed from then on.
    let mut again = asked.clone();
    again.asked_again = true;
    w.history.in_flight.scaling(again);
    assert_eq!(w.plan(&d, at(86_400)).steps().count(), 0);
    // The deploy plan rolling settles it as made.
    w.history.in_flight.scaling(asked);
    w.observed.platform.rollout = Some(rolling("IN_PROGRESS", "etcd-0:[peer]"));
    w.history.record(&w.observed.clone(), std::time::Duration::from_secs(60));
    assert_eq!(w.history.in_flight.scale_up().and_then(|s| s.uncertain.clone()), None, "settled: made");
    w.observed.platform.rollout = None;
    let plan = w.plan(&d, at(86_400));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.decisions.iter().any(|d| d.message.contains("never asking again")), "{plan:#?}");
}

#[test]
fn while_the_platform_rolls_its_members_nothing_is_asked_and_the_wait_says_why() {
    let d = desired(MemberCount::Three);
    let grace = d.recovery.restart_grace.as_secs() as i64;
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    // A member the rollout relaunches (down past the grace), a lost agent past its
    // window, a phantom: each would be a step, none is taken while the rollout runs.
    let cases = [
        (on_platform(world(3).exited(1, t0())), at(grace + 60)),
        (on_platform(world(3).lost(2, t0())), at(lost_after + 60)),
        (on_platform(world(3).phantom()), at(1)),
    ];
    for (mut w, now) in cases {
        let free = w.plan(&d, now);
        assert_eq!(free.steps().count(), 1, "a step without the rollout: {free:#?}");
        w.observed.platform.rollout = Some(rolling("IN_PROGRESS", "etcd-1:[peer]"));
        let held = w.plan(&d, now);
        assert_eq!(held.steps().count(), 0, "{held:#?}");
        let (name, _) = free.steps().next().map(|(s, r)| (s.name(), r)).expect("the step");
        assert!(
            held.decisions.iter().any(|d| d.message.contains("held while the platform rolls its members itself (its deploy plan is IN_PROGRESS at step etcd-1:[peer] STARTING)")
                && d.message.contains(name)),
            "{held:#?}"
        );
        // A rollout an operator paused, or one with errors, holds too: the platform's
        // own plan is not done.
        w.observed.platform.rollout = Some(rolling("WAITING", "etcd-1:[peer]"));
        assert_eq!(w.plan(&d, now).steps().count(), 0);
        // Done: the same world acts again.
        w.observed.platform.rollout = None;
        assert_eq!(w.plan(&d, now), free);
    }
}

#[test]
fn a_replacement_the_platform_never_finishes_is_reported_stuck_quoting_its_step_and_never_asked_again() {
    let d = desired(MemberCount::Three);
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    let deadline = d.recovery.operation_deadline.as_secs() as i64;
    let mut w = on_platform(world(3).lost(2, t0())).replacing(2, 0, None).snapshot_at(at(lost_after + 1));
    if let Some(r) = w.history.in_flight.join_mut() {
        r.requested_at = Some(at(lost_after + 2));
    }
    w.task(2).recovery = crate::model::platform::PlatformRecovery::Replacing;
    w.task(2).step = Some(crate::model::platform::PlatformStep {
        name: "etcd-2:[recover]".to_owned(),
        status: "DELAYED".to_owned(),
        message: "no live etcd member to reach".to_owned(),
    });
    let following = w.plan(&d, at(lost_after + 60));
    assert!(following.decisions.iter().all(|d| d.rule != Rule::OperationStuck), "{following:#?}");
    assert!(
        following
            .decisions
            .iter()
            .any(|d| d.message.contains("the platform reports step etcd-2:[recover] DELAYED")),
        "{following:#?}"
    );
    for later in [deadline + lost_after + 60, 86_400] {
        let stuck = w.plan(&d, at(later));
        assert_eq!(stuck.steps().count(), 0, "never a second request: {stuck:#?}");
        let refusal = stuck.decisions.iter().find(|d| d.rule == Rule::OperationStuck).expect("stuck");
        for words in
            ["the replacement of etcd-2", "step etcd-2:[recover] DELAYED (no live etcd member to reach)"]
        {
            assert!(refusal.message.contains(words), "{words:?} missing from {}", refusal.message);
        }
    }
}

#[test]
fn a_pod_an_operator_paused_is_never_restarted_or_replaced_and_the_wait_says_so() {
    let d = desired(MemberCount::Three);
    let unresponsive = d.recovery.unresponsive_after.as_secs() as i64;
    // Paused (its member stopped answering then), past every window.
    let mut w = on_platform(world(3).suspended(1, t0()));
    let due = w.plan(&d, at(unresponsive + 3600));
    assert!(due.steps().count() > 0, "a suspended member is replaced in the end: {due:#?}");
    w.task(1).recovery = crate::model::platform::PlatformRecovery::Paused;
    for later in [unresponsive + 1, unresponsive + 3600, 86_400 * 7] {
        let plan = w.plan(&d, at(later));
        assert_eq!(plan.steps().count(), 0, "at {later}: {plan:#?}");
        assert!(
            plan.decisions
                .iter()
                .any(|d| d.message.contains("etcd-1 is paused on the platform by an operator")),
            "{plan:#?}"
        );
    }
}

#[test]
fn a_member_the_platform_relaunches_in_a_loop_is_replaced_once_its_relaunches_and_window_are_used_up() {
    let mut d = desired(MemberCount::Three);
    d.recovery.max_restarts = 3;
    let unresponsive = d.recovery.unresponsive_after.as_secs() as i64;
    let mut w = on_platform(world(3).exited(1, t0()));
    let relaunched =
        |count| crate::model::history::Relaunches { instance: format!("run-{count}"), count, since: t0() };
    // Fewer relaunches than maxRestarts: left to the platform, however long.
    w.history.seen.relaunches.insert(pod(1), relaunched(2));
    w.history.seen.restarts.insert(pod(1), crate::model::Restarts { count: 1, last: t0() });
    assert_eq!(w.plan(&d, at(unresponsive * 10)).steps().count(), 0);
    // Used up, but answering healthy is not overdue yet: replaced at the window's end.
    w.history.seen.relaunches.insert(pod(1), relaunched(3));
    let early = w.plan(&d, at(unresponsive - 1));
    assert_eq!(early.steps().count(), 0, "{early:#?}");
    assert_eq!(early.next_deadline(), Some(at(unresponsive)));
    // Both used up: the replacement begins (a snapshot, then one pod replace), whether
    // the task shows failed or running at that moment.
    for state in [crate::model::platform::TaskState::Exited, crate::model::platform::TaskState::Running] {
        w.task(1).task = state;
        let (step, rule) = only_step(&w.plan(&d, at(unresponsive)));
        assert_eq!(rule, Rule::ReplaceLostMember);
        assert!(matches!(step, Step::SnapshotBeforeReplace { pod: p, .. } if p == pod(1)), "{step:?}");
        let why = w
            .plan(&d, at(unresponsive))
            .decisions
            .into_iter()
            .map(|d| d.message)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(why.contains("relaunched 3 times by the platform without answering healthy"), "{why}");
    }
}

#[test]
fn a_new_run_of_a_task_that_does_not_answer_is_a_relaunch_and_answering_healthy_forgets_them() {
    let mut w = world(3).exited(1, at(0));
    let mut history = crate::model::History::default();
    let mut fold = |w: &mut World, run: &str, now: i64| {
        w.task(1).instance = Some(run.to_owned());
        w.observed.at = at(now);
        history.record(&w.observed, std::time::Duration::from_secs(3600));
        history.seen.relaunches.get(&w.task(1).pod).map(|r| (r.count, r.since))
    };
    assert_eq!(fold(&mut w, "a", 1), Some((0, at(1))), "the run that failed");
    assert_eq!(fold(&mut w, "a", 2), Some((0, at(1))), "the same run again");
    assert_eq!(fold(&mut w, "b", 3), Some((1, at(1))));
    assert_eq!(fold(&mut w, "c", 4), Some((2, at(1))));
    let mut healthy = world(3);
    assert_eq!(fold(&mut healthy, "d", 5), None, "healthy: forgotten");
}

#[test]
fn a_replace_whose_answer_was_lost_is_settled_by_what_the_platform_shows_and_asked_at_most_once_more() {
    let d = desired(MemberCount::Three);
    let lost_after = d.recovery.agent_lost_after.as_secs() as i64;
    let asked = lost_after + 2;
    let mut w = on_platform(world(3).lost(2, t0())).replacing(2, 0, None).snapshot_at(at(lost_after + 1));
    if let Some(r) = w.history.in_flight.join_mut() {
        r.requested_at = Some(at(asked));
        r.uncertain = Some("pod replace: no answer in time".to_owned());
    }
    // Not settled yet: a wait until the platform has had a minute to show it.
    let early = w.plan(&d, at(asked + 30));
    assert_eq!(early.steps().count(), 0, "{early:#?}");
    assert_eq!(early.next_deadline(), Some(at(asked + 60)));
    assert!(early.decisions.iter().any(|d| d.message.contains("got no certain answer")), "{early:#?}");
    // Nothing shown by then: it was not made; asked once more.
    let (step, rule) = only_step(&w.plan(&d, at(asked + 60)));
    assert_eq!((step, rule), (Step::RequestReplace { pod: pod(2) }, Rule::ReplaceLostMember));
    // The platform shows the slot replacing: it was made, followed.
    let mut shown = on_platform(world(3).lost(2, t0())).replacing(2, 0, None).snapshot_at(at(lost_after + 1));
    shown.history.in_flight = w.history.in_flight.clone();
    shown.task(2).recovery = crate::model::platform::PlatformRecovery::Replacing;
    assert_eq!(shown.plan(&d, at(asked + 600)).steps().count(), 0);
    shown.observed.at = at(asked + 5);
    shown.history.record(&shown.observed.clone(), std::time::Duration::from_secs(3600));
    assert_eq!(shown.history.in_flight.join().and_then(|r| r.uncertain.clone()), None, "settled: made");
    // Asked twice already: never a third time, whatever the answer.
    if let Some(r) = w.history.in_flight.join_mut() {
        r.asked_again = true;
    }
    assert_eq!(w.plan(&d, at(asked + 3600)).steps().count(), 0);
}

#[test]
fn a_member_count_the_platform_cannot_run_is_refused_and_never_asked_again_until_spec_changes() {
    let d = with_backups(MemberCount::Five);
    let mut w = on_platform(world(3));
    w.observed.backups.records.push(crate::testing::world::backup_record(at(-60), 40));
    let (step, _) = only_step(&w.plan(&d, at(1)));
    assert!(matches!(step, Step::RequestScaleUp { members: 5, .. }), "asked once first: {step:?}");
    w.history.seen.platform_cannot_scale = Some((5, "the service runs kubernetes 1.3.1-1.10.8".to_owned()));
    let plan = w.plan(&d, at(2));
    assert_eq!(plan.steps().count(), 0, "{plan:#?}");
    assert!(plan.refuses(Rule::ScaleBeyondPlatform));
    // Another count is another question.
    let three = with_backups(MemberCount::Three);
    let mut one = on_platform(world(1));
    one.observed.backups.records.push(crate::testing::world::backup_record(at(-60), 40));
    one.history.seen.platform_cannot_scale = Some((5, "no".to_owned()));
    let (step, _) = only_step(&one.plan(&three, at(2)));
    assert!(matches!(step, Step::RequestScaleUp { members: 3, .. }), "{step:?}");
}

/// A member whose client port fails while its metrics port names it, with a leader,
/// runs in its cluster: the controller's client connection to it fails (its TLS files,
/// its client URL), not the member. Never replaced for that: a replace would discard a
/// healthy member's data. A metrics port that names another member, or no leader,
/// vouches for nothing.
#[test]
fn a_member_its_metrics_port_vouches_for_is_never_replaced_for_a_failing_client_connection() {
    use crate::domain::MemberId;
    use crate::model::membership::SlotMember;
    use crate::model::metrics::MetricsAnswer;
    let d = desired(MemberCount::Three);
    let unresponsive = d.recovery.unresponsive_after.as_secs() as i64;
    let mut w = on_platform(world(3).silent(1));
    w.history.seen.unanswered_since.insert(pod(1), t0());
    let id = w.history.seen.members.iter().find(|m| m.name == "etcd-1").expect("etcd-1").id;
    w.history.seen.slots.insert(pod(1), SlotMember { id, peer_urls: Vec::new() });
    let replaced =
        |w: &World, secs: i64| w.plan(&d, at(secs)).steps().any(|(_, r)| r == Rule::ReplaceLostMember);
    assert!(
        replaced(&w, unresponsive + 1),
        "no word from its metrics port: replaced after unresponsiveAfter"
    );
    let answer = |member, has_leader| MetricsAnswer { member: Some(member), has_leader, version: None };
    w.observed.metrics.insert(pod(1), answer(id, true));
    for later in [unresponsive + 1, 86_400 * 7] {
        let plan = w.plan(&d, at(later));
        assert_eq!(plan.steps().count(), 0, "at {later}: {plan:#?}");
    }
    for other in [answer(MemberId(id.0 ^ 1), true), answer(id, false)] {
        w.observed.metrics.insert(pod(1), other.clone());
        assert!(replaced(&w, unresponsive + 1), "{other:?} vouches for nothing");
    }
}
