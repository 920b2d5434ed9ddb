//! `act` against the fakes: one event per step, at most one disruptive step, a stop at
//! the first failure, and retries decided by the kind of etcd's refusal.

use std::sync::Arc;

use super::{Fixture, fixture};
use crate::act::{ActReport, act};
use crate::clock::Clock;
use crate::context::Context;
use crate::domain::{ClusterName, MemberId};
use crate::etcd::EtcdErrorKind;
use crate::event::EventKind;
use crate::manifest::MemberCount;
use crate::metrics::Metrics;
use crate::model::History;
use crate::plan::{Decision, Plan, Rule, Step};
use crate::testing::world::{at, desired, pod, t0, world};

struct Bench {
    f: Fixture,
    name: ClusterName,
    metrics: Metrics,
}

fn bench() -> Bench {
    Bench { f: fixture(), name: desired(MemberCount::Three).name, metrics: Metrics::default() }
}

impl Bench {
    async fn act(&self, steps: Vec<(Rule, Step)>) -> (ActReport, History) {
        self.act_on(steps, History::default()).await
    }

    async fn act_on(&self, steps: Vec<(Rule, Step)>, mut history: History) -> (ActReport, History) {
        let desired = desired(MemberCount::Three);
        let ctx = Context {
            desired: &desired,
            platform: &self.f.platform,
            admin: &self.f.etcd,
            store: &self.f.store,
            metrics: &self.metrics,
            backup_lock: Arc::default(),
            clock: Clock::starting_at(t0()),
            max_gap: std::time::Duration::from_secs(3600),
            now: t0(),
            started: tokio::time::Instant::now(),
        };
        let decisions =
            steps.into_iter().map(|(rule, step)| Decision::act(rule, step, "test".into())).collect();
        let report = act(&ctx, &Plan { decisions }, &mut history).await;
        (report, history)
    }

    /// `(reason, kind)` of every event, in order.
    fn events(&self) -> Vec<(String, EventKind)> {
        self.f.store.events(&self.name).expect("events").into_iter().map(|e| (e.reason, e.kind)).collect()
    }
}

fn via() -> String {
    world(3).observed.platform.tasks[0].client_url.clone()
}

fn restart(i: u8) -> (Rule, Step) {
    let step = Step::RestartInPlace { pod: pod(i), initial_cluster: Vec::new(), attempt: 1, of: 5 };
    (Rule::RestartInPlace, step)
}

fn remove(id: u64) -> (Rule, Step) {
    (Rule::ReplaceLostMember, Step::RemoveMember { pod: Some(pod(2)), id: MemberId(id), via: via() })
}

#[tokio::test]
async fn every_step_gets_one_event_and_the_first_failure_stops_the_rest() {
    let b = bench();
    b.f.platform.fail_next("ensure_running", "disk full");
    let (report, _) = b.act(vec![restart(1), restart(2)]).await;
    assert!(report.error.is_some());
    assert_eq!(b.events(), [("RestartInPlace".to_owned(), EventKind::Warning)], "one event, a warning");
    assert_eq!(b.f.platform.calls(), ["ensure_running etcd-1 restart"], "etcd-2 was not touched");
    let last = report.last_action.expect("last action");
    assert!(last.result.contains("disk full"), "{last:?}");

    let (report, history) = b.act(vec![restart(1), restart(2)]).await;
    assert!(report.error.is_none());
    assert_eq!(b.events().len(), 3, "one more event per step taken");
    assert_eq!(history.seen.restarts.len(), 2, "each restart counted");
}

#[tokio::test]
async fn a_second_disruptive_step_in_one_plan_is_never_taken() {
    let b = bench();
    let wipe = |i: u8| (Rule::ReplaceLostMember, Step::WipeMember { pod: pod(i) });
    let (report, _) = b.act(vec![restart(0), wipe(1), wipe(2)]).await;
    assert!(report.error.is_none());
    assert_eq!(b.f.platform.calls(), ["ensure_running etcd-0 restart", "ensure_wiped etcd-1"]);
    assert_eq!(b.events().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn unhealthy_cluster_is_retried_and_member_not_found_is_success() {
    let b = bench();
    b.f.etcd.refuse("remove", EtcdErrorKind::UnhealthyCluster, 2);
    let (report, _) = b.act(vec![remove(102)]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(
        b.f.etcd.calls().iter().filter(|c| c.starts_with("remove")).count(),
        3,
        "two refusals, then done"
    );
    assert!(b.f.etcd.members().iter().all(|m| m.id != MemberId(102)));
    // Gone already (a retry after a lost answer): success, not a failure.
    let (report, _) = b.act(vec![remove(102)]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(b.events().iter().filter(|(_, k)| *k == EventKind::Normal).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn other_refusals_fail_the_step_at_once() {
    let b = bench();
    b.f.etcd.refuse("remove", EtcdErrorKind::Other, 1);
    let (report, _) = b.act(vec![remove(102)]).await;
    assert!(report.error.is_some());
    assert_eq!(b.f.etcd.calls().iter().filter(|c| c.starts_with("remove")).count(), 1, "no retry");
}

#[tokio::test(start_paused = true)]
async fn a_learner_is_promoted_once_in_sync_and_a_voter_counts_as_promoted() {
    let b = bench();
    let promote = |id: u64| {
        (Rule::ReplaceLostMember, Step::PromoteLearner { pod: pod(2), id: MemberId(id), via: via() })
    };
    let add = (
        Rule::ReplaceLostMember,
        Step::AddLearner { pod: pod(2), peer_url: "http://new:1".into(), via: via() },
    );
    let (report, _) = b.act(vec![add]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let learner = b.f.etcd.members().iter().find(|m| m.is_learner).map(|m| m.id).expect("a learner");
    b.f.etcd.refuse("promote", EtcdErrorKind::LearnerNotInSync, 3);
    let (report, _) = b.act(vec![promote(learner.0)]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(b.f.etcd.members().iter().all(|m| !m.is_learner));
    // Promoted already: etcd says "not a learner", which is success.
    let (report, _) = b.act(vec![promote(learner.0)]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
}

#[tokio::test]
async fn a_replacement_is_requested_from_the_platform_once_and_recorded_first() {
    let b = bench();
    let request = || vec![(Rule::ReplaceLostMember, Step::RequestReplace { pod: pod(2) })];
    let history = crate::testing::world::world(3).replacing(2, 0, None).history;
    // The answer is lost on the way: the request counts as made.
    b.f.platform.fail_next("request_replace", "connection reset");
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_some());
    let stored = b.f.store.history(&b.name).expect("history");
    let requested = stored.in_flight.join().and_then(|r| r.requested_at);
    assert_eq!(requested, Some(t0()), "recorded before the call");
    let (report, _) = b.act_on(request(), history).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(b.f.platform.calls(), ["request_replace etcd-2"], "never a second request");
}

#[tokio::test]
async fn a_replacement_request_that_certainly_did_not_reach_the_platform_is_made_again() {
    let b = bench();
    let request = || vec![(Rule::ReplaceLostMember, Step::RequestReplace { pod: pod(2) })];
    let history = crate::testing::world::world(3).replacing(2, 0, None).history;
    let refused = crate::platform::PlatformError::Unreachable("502 from Admin Router".into());
    b.f.platform.fail_next_with("request_replace", refused);
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_some());
    assert_eq!(history.in_flight.join().and_then(|r| r.requested_at), None);
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(history.in_flight.join().and_then(|r| r.requested_at), Some(t0()));
    assert_eq!(b.f.platform.calls(), ["request_replace etcd-2", "request_replace etcd-2"]);
}

/// Certainly not made (Admin Router's 503): abandoned, admitted again. Uncertain (no
/// answer): recorded with why, asked once more when the planner says so (the platform
/// showed nothing), never a third time. Busy (a Marathon deployment of the service
/// runs): nothing sent, the record as it was before the call.
#[tokio::test]
async fn a_scale_up_is_requested_from_the_platform_once_recorded_first_and_again_only_if_certainly_not_made()
{
    let b = bench();
    let backup = crate::domain::BackupId::new(t0(), 41);
    let request = || vec![(Rule::ScaleUp, Step::RequestScaleUp { members: 3, backup: backup.clone() })];
    let unreachable = crate::platform::PlatformError::Unreachable("503 from Admin Router".into());
    b.f.platform.fail_next_with("request_scale_up", unreachable);
    let (report, history) = b.act_on(request(), History::default()).await;
    assert!(report.error.is_some());
    assert_eq!(history.in_flight.operation, None, "certainly not made: the scale-up is abandoned");
    let uncertain = crate::platform::PlatformError::Uncertain("no answer in 10 s".into());
    b.f.platform.fail_next_with("request_scale_up", uncertain);
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_some());
    let stored = b.f.store.history(&b.name).expect("history");
    let admitted = stored.in_flight.scale_up().cloned().expect("recorded before the call");
    assert_eq!((admitted.requested_at, &admitted.backup), (Some(t0()), &backup));
    assert_eq!(admitted.uncertain.as_deref(), Some("no answer in 10 s"));
    let busy = crate::platform::PlatformError::Busy("Marathon deployment d-1 of /kubernetes runs".into());
    b.f.platform.fail_next_with("request_scale_up", busy);
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_some());
    assert_eq!(history.in_flight.scale_up(), Some(&admitted), "as it was before the busy platform's refusal");
    let (report, history) = b.act_on(request(), history).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let again = history.in_flight.scale_up().cloned().expect("recorded");
    assert!(again.asked_again && again.uncertain.is_none(), "{again:?}");
    let (report, _) = b.act_on(request(), history).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(
        b.f.platform.calls(),
        ["request_scale_up 3"; 4],
        "never a fifth: twice refused, once lost, once more"
    );
}

#[tokio::test]
async fn every_failed_read_of_a_survivor_is_counted_so_that_the_reads_are_bounded() {
    let b = bench();
    let read = || vec![(Rule::Restore, Step::ReadSurvivor { pod: pod(0) })];
    // The fake keeps no data on this machine: every read fails before it starts.
    let (report, history) = b.act_on(read(), History::default()).await;
    assert!(report.error.is_some());
    let (report, history) = b.act_on(read(), history).await;
    assert!(report.error.is_some());
    let restore = history.in_flight.restore().expect("the restore began with the first read");
    assert_eq!(restore.survivor_reads.get(&pod(0)), Some(&2));
    assert!(restore.survivors.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_defragmentation_is_recorded_and_its_event_says_the_size_before_and_after() {
    let mut b = bench();
    b.f.etcd = crate::testing::FakeEtcd::new(&world(3).db(1, 200, 10).observed);
    let endpoint = world(3).observed.platform.tasks[1].client_url.clone();
    b.f.etcd.defragmentation_takes(std::time::Duration::from_secs(40));
    let step = Step::Defragment { pod: pod(1), endpoint, db_size_before: 200 * 1024 * 1024 };
    let (report, history) = b.act(vec![(Rule::Defragment, step)]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(history.seen.defragmented.get(&pod(1)), Some(&at(40)), "the pause counts from its end");
    let metrics = b.metrics.render();
    for line in [
        "etcd_warden_defragmentations_total{cluster=\"kubernetes\",pod=\"etcd-1\",result=\"succeeded\"} 1",
        "etcd_warden_defragmentation_reclaimed_bytes_total{cluster=\"kubernetes\",pod=\"etcd-1\"} 199229440",
        "etcd_warden_defragmentation_duration_seconds_sum{cluster=\"kubernetes\",pod=\"etcd-1\"} 40",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    let events = b.f.store.events(&b.name).expect("events");
    let message = &events.last().expect("an event").message;
    assert!(message.contains("db 200.0 MiB -> 10.0 MiB"), "{message}");
    let (report, _) = b.act(vec![(Rule::NoSpace, Step::DisarmAlarm { via: via() })]).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(b.f.etcd.calls().iter().any(|c| c.starts_with("disarm_no_space")));
}
