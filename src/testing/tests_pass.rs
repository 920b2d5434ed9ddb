//! Reconcile passes against the fakes, in tokio's paused time with one clock: the
//! status is rewritten only when it changes or grows stale, a standing refusal is one
//! event, and a crashed member is restarted. No test sleeps: time moves by
//! `tokio::time::advance`, and the clock moves with it.

use std::sync::Arc;
use std::time::Duration;

use super::{Fixture, fixture};
use crate::clock::Clock;
use crate::context::Context;
use crate::domain::Generation;
use crate::manifest::{DesiredCluster, MemberCount, ReconcileMode};
use crate::metrics::Metrics;
use crate::model::platform::TaskState;
use crate::reconcile::{PassMemory, reconcile};
use crate::status::Phase;
use crate::testing::world::{at, desired, pod};

struct Bench {
    f: Fixture,
    metrics: Metrics,
    memory: PassMemory,
    /// The one clock of every pass: `at(0)` when the bench was made.
    clock: Clock,
}

/// A bench whose clock reads `at(0)` now. Its tests run in paused time.
fn bench() -> Bench {
    let clock = Clock::starting_at(at(0));
    Bench { f: fixture(), metrics: Metrics::default(), memory: PassMemory::default(), clock }
}

impl Bench {
    /// One pass once the clock reads `at(seconds)`.
    async fn pass(&mut self, d: &DesiredCluster, seconds: i64) -> crate::reconcile::PassReport {
        self.try_pass(d, seconds).await.expect("a pass")
    }

    /// Moves tokio's paused time, and with it the clock, to `at(seconds)`.
    async fn advance_to(&self, seconds: i64) {
        let ahead = at(seconds).duration_since(self.clock.now());
        assert!(!ahead.is_negative(), "time runs forward only: {ahead:?} to at({seconds})");
        tokio::time::advance(ahead.unsigned_abs()).await;
    }

    /// One pass once the clock reads `at(seconds)`, as it ended.
    async fn try_pass(
        &mut self,
        d: &DesiredCluster,
        seconds: i64,
    ) -> Result<crate::reconcile::PassReport, crate::reconcile::ReconcileError> {
        self.advance_to(seconds).await;
        let clock = self.clock;
        let ctx = Context {
            desired: d,
            platform: &self.f.platform,
            admin: &self.f.etcd,
            store: &self.f.store,
            metrics: &self.metrics,
            backup_lock: Arc::default(),
            clock,
            max_gap: Duration::from_secs(3600),
            now: clock.now(),
            started: tokio::time::Instant::now(),
        };
        reconcile(&ctx, Generation(1), &mut self.memory).await
    }

    fn refusals(&self, d: &DesiredCluster) -> usize {
        self.f.store.events(&d.name).expect("events").iter().filter(|e| e.reason == "Refused").count()
    }
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_status_is_written_again_only_once_it_is_stale() {
    let mut b = bench();
    let d = desired(MemberCount::Three);
    let first = b.pass(&d, 0).await.status;
    assert_eq!(first.phase, Phase::Healthy);
    let written = |b: &Bench| b.f.store.status(&d.name).expect("status").expect("a status").observed_at;
    let at_first = written(&b);
    b.pass(&d, 10).await;
    assert_eq!(written(&b), at_first, "nothing changed: not rewritten");
    b.pass(&d, 31).await;
    assert!(written(&b) > at_first, "a heartbeat after 30 s tells a quiet cluster from a stuck controller");
}

#[tokio::test(start_paused = true)]
async fn a_standing_refusal_is_one_event_however_many_passes_see_it() {
    let mut b = bench();
    let mut d = desired(MemberCount::Three);
    d.reconcile = ReconcileMode::Paused;
    for seconds in 0..4 {
        b.pass(&d, seconds).await;
    }
    assert_eq!(b.refusals(&d), 1);
    assert!(b.f.platform.calls().is_empty() && b.f.etcd.calls().iter().all(|c| !c.starts_with("remove")));
    d.reconcile = ReconcileMode::Active;
    b.pass(&d, 5).await;
    d.reconcile = ReconcileMode::Paused;
    b.pass(&d, 6).await;
    assert_eq!(b.refusals(&d), 2, "refused again after it was lifted");
}

#[tokio::test(start_paused = true)]
async fn a_crashed_member_is_restarted_in_place_after_its_grace() {
    let mut b = bench();
    let d = desired(MemberCount::Three);
    b.pass(&d, 0).await;
    b.f.platform.update(pod(1), |t| t.task = TaskState::Exited);
    b.f.etcd.stop("http://127.0.0.1:20002");
    let seen = b.pass(&d, 1).await;
    assert_eq!(seen.plan.steps().count(), 0, "within restartGrace: {:#?}", seen.plan);
    let grace = d.recovery.restart_grace.as_secs() as i64;
    let acted = b.pass(&d, 2 + grace).await;
    assert_eq!(acted.plan.steps().map(|(s, _)| s.name()).collect::<Vec<_>>(), ["RestartInPlace"]);
    assert_eq!(b.f.platform.calls(), ["ensure_running etcd-1 restart"]);
}

/// The pass loop as a worker runs it, one pass a second on the one clock: the crashed
/// member is restarted by the first pass past its grace, and never before.
#[tokio::test(start_paused = true)]
async fn passes_a_second_apart_restart_a_crashed_member_at_the_end_of_its_grace() {
    let mut b = bench();
    let d = desired(MemberCount::Three);
    b.pass(&d, 0).await;
    b.f.platform.update(pod(1), |t| t.task = TaskState::Exited);
    b.f.etcd.stop("http://127.0.0.1:20002");
    let grace = i64::try_from(d.recovery.restart_grace.as_secs()).expect("seconds");
    let mut restarted_at = None;
    for second in 1..=grace + 5 {
        let report = b.pass(&d, second).await;
        if report.plan.steps().any(|(s, _)| s.name() == "RestartInPlace") {
            restarted_at = Some(second);
            break;
        }
    }
    assert_eq!(restarted_at, Some(1 + grace), "the first pass a full grace after it was seen exited");
    assert_eq!(b.f.platform.calls(), ["ensure_running etcd-1 restart"]);
}

#[tokio::test(start_paused = true)]
async fn a_deleted_cluster_keeps_its_history_but_not_its_status() {
    let mut b = bench();
    let d = desired(MemberCount::Three);
    b.pass(&d, 0).await;
    assert!(b.f.store.status(&d.name).expect("status").is_some());
    b.f.store.remove(&d.name, false).expect("delete");
    assert!(b.f.store.status(&d.name).expect("status").is_none(), "applied again, it shows no stale status");
    assert!(b.f.store.history(&d.name).expect("history").seen.ever_healthy, "the history stays: never wiped");
}

#[tokio::test(start_paused = true)]
async fn a_platform_that_cannot_be_observed_is_a_condition_and_an_event_and_nothing_is_done() {
    use crate::platform::PlatformError;
    use crate::status::ConditionType;
    let mut b = bench();
    let d = desired(MemberCount::Three);
    let healthy = b.pass(&d, 0).await.status;
    b.f.platform.update(pod(1), |t| t.task = TaskState::Exited);
    for (i, error) in [
        PlatformError::Unreachable("pod status: Admin Router answered 502".into()),
        PlatformError::Refused("pod status: malformed JSON at line 1".into()),
    ]
    .into_iter()
    .enumerate()
    {
        b.f.platform.fail_next_with("observe", error);
        b.try_pass(&d, 600 + i as i64).await.expect_err("a failed pass");
    }
    let status = b.f.store.status(&d.name).expect("status").expect("a status");
    let condition = status.condition(ConditionType::PlatformUnreachable).expect("the condition");
    assert!(condition.message.contains("malformed JSON"), "{condition:?}");
    let since = condition.last_transition_time;
    assert!(since >= at(600) && since < at(601), "it holds since the first failure: {since}");
    assert_eq!(status.observed_at, healthy.observed_at, "the rest is the last observation");
    assert!(b.f.platform.calls().is_empty(), "nothing done: {:?}", b.f.platform.calls());
    let events = b.f.store.events(&d.name).expect("events");
    assert_eq!(events.iter().filter(|e| e.reason == "PlatformUnreachable").count(), 1, "{events:#?}");
    let back = b.pass(&d, 700).await.status;
    assert!(back.condition(ConditionType::PlatformUnreachable).is_none());
    let events = b.f.store.events(&d.name).expect("events");
    assert!(events.iter().any(|e| e.reason == "PlatformReachable"), "{events:#?}");
}

#[tokio::test(start_paused = true)]
async fn the_step_metrics_and_progressing_report_what_the_steps_did_not_what_the_plan_said() {
    let mut b = bench();
    let d = desired(MemberCount::Three);
    b.pass(&d, 0).await;
    for (i, url) in [(1, "http://127.0.0.1:20002"), (2, "http://127.0.0.1:20004")] {
        b.f.platform.update(pod(i), |t| t.task = TaskState::Exited);
        b.f.etcd.stop(url);
    }
    b.pass(&d, 1).await;
    // Two restarts planned; the first fails, so the second is not taken.
    b.f.platform.fail_next("ensure_running", "the port is taken");
    let grace = d.recovery.restart_grace.as_secs() as i64;
    let failed = b.try_pass(&d, 2 + grace).await;
    assert!(failed.is_err(), "the pass reports the failed step");
    let metrics = b.metrics.render();
    let line = |result: &str| {
        metrics
            .lines()
            .find(|l| l.contains("step=\"RestartInPlace\"") && l.contains(&format!("result=\"{result}\"")))
            .map(str::to_owned)
    };
    assert!(line("failed").is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    assert_eq!(line("succeeded"), None, "the step not taken is not counted: {metrics}");
    let status = b.f.store.status(&d.name).expect("status").expect("a status");
    let progressing = status.condition(crate::status::ConditionType::Progressing).expect("Progressing");
    assert_eq!(progressing.reason, crate::status::Reason::StepFailed, "{progressing:?}");
    assert!(progressing.message.contains("the port is taken"), "{progressing:?}");
}

/// The metrics say what status says, pass by pass: the phase, the fault tolerance,
/// the conditions (also after a pass that could not observe the platform) and each
/// member; and every pass times the platform's answer.
#[tokio::test(start_paused = true)]
async fn the_metrics_say_what_status_says_pass_by_pass() {
    use crate::platform::PlatformError;
    let mut b = bench();
    let d = desired(MemberCount::Three);
    let value = |b: &Bench, series: &str| -> Option<String> {
        let text = b.metrics.render();
        let prefix = format!("{series} ");
        text.lines().find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
    };
    let c = format!("cluster=\"{}\"", d.name);
    let phase = |p: &str| format!("etcd_warden_phase{{{c},phase=\"{p}\"}}");
    let condition =
        |k: &str, s: &str| format!("etcd_warden_condition{{{c},condition=\"{k}\",status=\"{s}\"}}");
    let member = |m: &str, p: u8| format!("etcd_warden_member_{m}{{{c},pod=\"etcd-{p}\"}}");
    b.pass(&d, 0).await;
    assert_eq!(value(&b, &phase("Healthy")).as_deref(), Some("1"));
    assert_eq!(value(&b, &phase("Degraded")).as_deref(), Some("0"));
    assert_eq!(value(&b, &format!("etcd_warden_fault_tolerance{{{c}}}")).as_deref(), Some("1"));
    assert_eq!(value(&b, &condition("Available", "true")).as_deref(), Some("1"));
    assert_eq!(value(&b, &condition("QuorumLost", "true")).as_deref(), Some("0"));
    assert_eq!(value(&b, &member("healthy", 1)).as_deref(), Some("1"));
    assert_eq!(value(&b, &member("revision_lag", 1)).as_deref(), Some("0"));
    b.f.platform.update(pod(1), |t| t.task = TaskState::Exited);
    b.f.etcd.stop("http://127.0.0.1:20002");
    b.pass(&d, 1).await;
    assert_eq!(value(&b, &phase("Healthy")).as_deref(), Some("0"));
    assert_eq!(value(&b, &phase("Degraded")).as_deref(), Some("1"));
    assert_eq!(value(&b, &format!("etcd_warden_fault_tolerance{{{c}}}")).as_deref(), Some("0"));
    assert_eq!(value(&b, &member("healthy", 1)).as_deref(), Some("0"));
    assert_eq!(value(&b, &member("revision_lag", 1)), None, "no figure for a member that did not answer");
    assert_eq!(value(&b, &condition("PlatformUnreachable", "true")).as_deref(), Some("0"));
    b.f.platform.fail_next_with("observe", PlatformError::Unreachable("Admin Router answered 502".into()));
    b.try_pass(&d, 2).await.expect_err("a failed pass");
    assert_eq!(value(&b, &condition("PlatformUnreachable", "true")).as_deref(), Some("1"));
    assert_eq!(
        value(&b, &format!("etcd_warden_platform_observe_duration_seconds_count{{{c}}}")).as_deref(),
        Some("3"),
        "each pass timed the platform, the failed one too"
    );
    // A deleted cluster leaves no series that say how it is, nor a pass count that an
    // alert on stopped passes would watch.
    b.metrics.forget_cluster(d.name.as_str());
    let left: Vec<String> = b
        .metrics
        .render()
        .lines()
        .filter(|l| l.contains(&c) && !l.starts_with("etcd_warden_steps_total"))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}
