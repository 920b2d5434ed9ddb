//! A cluster's worker: passes in a loop, and the pure choice of when the next one runs
//! and why (`next_pass`), tested without a clock or etcd.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use jiff::Timestamp;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{Controller, ControllerError};
use crate::domain::ClusterName;
use crate::reconcile::{PassMemory, count_error};
use crate::retry::ErrorKind;

/// The pause before the pass that confirms a step against a fresh observation: short,
/// since the next step waits for it, yet never a busy loop.
const AFTER_STEP: Duration = Duration::from_millis(25);
/// The shortest wait for a rule's window: windows end at a timestamp, not sooner.
const MIN_WAIT: Duration = Duration::from_millis(100);
/// How often a permanent error is looked at again without a change, in case it was
/// fixed outside etcd-warden (an etcd binary installed, a state file repaired).
const PERMANENT_RECHECK: Duration = Duration::from_secs(300);

/// Why a pass runs: the `reason` field of its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    /// The worker started.
    Start,
    /// The desired state changed, or a backup or a command asked for a fresh look.
    Woken,
    /// The resync interval passed.
    Resync,
    /// A rule's window ended.
    Deadline,
    /// A step was taken: the next observation confirms it.
    Confirm,
    /// The last pass failed with a transient error.
    Retry,
    /// A permanent error is looked at again.
    Recheck,
    /// A scheduled backup (or restore drill) is due.
    Backup,
    /// The platform reported a change by itself: a member process exited.
    Changed,
}

impl PassReason {
    /// The span field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Woken => "woken",
            Self::Resync => "resync",
            Self::Deadline => "deadline",
            Self::Confirm => "confirm",
            Self::Retry => "retry",
            Self::Recheck => "recheck",
            Self::Backup => "backup",
            Self::Changed => "changed",
        }
    }
}

/// What the last pass came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It took at least one step.
    Stepped,
    /// Nothing to do; a rule's window may end at `deadline`.
    Settled {
        /// The earliest end of a window the plan waits for.
        deadline: Option<Timestamp>,
    },
    /// It failed.
    Failed(ErrorKind),
}

/// When the next pass runs, absent a wake-up, and why. `retry` gives the backoff of
/// transient failures (the caller starts it again after a success); `backup_due` is
/// how long until the next scheduled backup or restore drill.
pub fn next_pass(
    outcome: Outcome,
    resync: Duration,
    now: Timestamp,
    retry: &mut dyn Iterator<Item = Duration>,
    backup_due: Duration,
) -> (Duration, PassReason) {
    let (wait, reason) = match outcome {
        Outcome::Stepped => (AFTER_STEP, PassReason::Confirm),
        Outcome::Settled { deadline: None } => (resync, PassReason::Resync),
        Outcome::Settled { deadline: Some(deadline) } => {
            let left = Duration::try_from(deadline.duration_since(now)).unwrap_or(Duration::ZERO);
            if left < resync {
                (left.max(MIN_WAIT), PassReason::Deadline)
            } else {
                (resync, PassReason::Resync)
            }
        }
        Outcome::Failed(ErrorKind::Transient) => (retry.next().unwrap_or(resync), PassReason::Retry),
        Outcome::Failed(ErrorKind::Permanent) => (PERMANENT_RECHECK.max(resync), PassReason::Recheck),
    };
    if backup_due < wait { (backup_due, PassReason::Backup) } else { (wait, reason) }
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Runs passes for `name` until stopped or its desired state is deleted.
pub(super) async fn run(controller: Controller, name: ClusterName, wake: Arc<Notify>, stop: Arc<AtomicBool>) {
    let span = tracing::info_span!("worker", cluster = %name);
    work(controller, name, wake, stop).instrument(span).await;
}

async fn work(controller: Controller, name: ClusterName, wake: Arc<Notify>, stop: Arc<AtomicBool>) {
    let resync = controller.inner.config.resync;
    let mut memory = PassMemory::default();
    let mut retry = backoff();
    let mut scheduled: Option<JoinHandle<()>> = None;
    let mut drill = super::drills::DrillSchedule::default();
    let mut reason = PassReason::Start;
    // A permanent error is logged once, not at every recheck.
    let mut standing: Option<String> = None;
    tracing::info!("worker started");
    while !stop.load(Ordering::SeqCst) {
        // The platform observation of a pass that succeeded, watched for changes until
        // the next pass.
        let (outcome, backup_due, watched) = match controller.desired(&name) {
            Ok(None) => break,
            Ok(Some((desired, generation))) => {
                let span = tracing::info_span!("pass", reason = reason.as_str(), generation = generation.0);
                let backup_due = controller.schedule_backup(&desired, &mut scheduled);
                let backup_due = backup_due.min(controller.schedule_drill(&desired, &mut drill));
                let pass = controller.pass(&desired, generation, &mut memory).instrument(span).await;
                let (outcome, observation) = match pass {
                    Ok(report) if report.plan.steps().next().is_some() => {
                        (Outcome::Stepped, Some(report.platform))
                    }
                    Ok(report) => {
                        (Outcome::Settled { deadline: report.plan.next_deadline() }, Some(report.platform))
                    }
                    Err(error) => {
                        if !matches!(error, ControllerError::Reconcile(_)) {
                            // A failed pass proper is counted by `reconcile`.
                            count_error(controller.metrics(), &name, Some(error.kind()));
                        }
                        (failed(&error, &mut standing), None)
                    }
                };
                (outcome, backup_due, observation.map(|o| (desired, o)))
            }
            Err(error) => {
                count_error(controller.metrics(), &name, Some(error.kind()));
                (failed(&error, &mut standing), Duration::MAX, None)
            }
        };
        if !matches!(outcome, Outcome::Failed(_)) {
            retry = backoff();
            standing = None;
        }
        let now = controller.inner.clock.now();
        let (wait, next) = next_pass(outcome, resync, now, &mut retry, backup_due);
        let changed = async {
            match &watched {
                Some((desired, observation)) => controller.platform_changed(desired, observation).await,
                None => std::future::pending().await,
            }
        };
        reason = wait_for_pass(wait, next, &wake, changed).await;
        if reason == PassReason::Changed {
            tracing::info!("the platform reported a change (a member process exited): passing now");
        }
    }
    tracing::info!("worker stopped");
}

/// Waits for the next pass and says why it runs: the timer [`next_pass`] set (`wait`,
/// `timer`), a wake-up, or a change the platform reports by itself, whichever comes
/// first. A change starts a pass no sooner than [`MIN_WAIT`] after the wait began, so a
/// platform that reported changes in a loop could not make the worker spin.
async fn wait_for_pass(
    wait: Duration,
    timer: PassReason,
    wake: &Notify,
    changed: impl Future<Output = ()>,
) -> PassReason {
    let began = tokio::time::Instant::now();
    let change = async {
        changed.await;
        tokio::time::sleep_until(began + MIN_WAIT).await;
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => timer,
        () = wake.notified() => PassReason::Woken,
        () = change => PassReason::Changed,
    }
}

/// The outcome of a failed pass, logged: a transient error each time, a permanent one
/// once until it changes.
fn failed(error: &ControllerError, standing: &mut Option<String>) -> Outcome {
    let kind = error.kind();
    match kind {
        ErrorKind::Transient => {
            tracing::warn!(%error, kind = kind.as_str(), "pass failed; retrying with backoff")
        }
        ErrorKind::Permanent => {
            let message = error.to_string();
            if standing.as_ref() != Some(&message) {
                tracing::error!(%error, kind = kind.as_str(), "pass failed; waiting for a change");
                *standing = Some(message);
            }
        }
    }
    Outcome::Failed(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("time")
    }

    const RESYNC: Duration = Duration::from_secs(10);
    const NO_BACKUP: Duration = Duration::MAX;

    fn next(outcome: Outcome, retry: &mut dyn Iterator<Item = Duration>) -> (Duration, PassReason) {
        next_pass(outcome, RESYNC, t(0), retry, NO_BACKUP)
    }

    #[test]
    fn a_step_is_confirmed_at_once_and_a_quiet_cluster_waits_for_the_resync() {
        let mut retry = std::iter::empty();
        assert_eq!(next(Outcome::Stepped, &mut retry), (AFTER_STEP, PassReason::Confirm));
        assert_eq!(next(Outcome::Settled { deadline: None }, &mut retry), (RESYNC, PassReason::Resync));
    }

    #[test]
    fn a_window_ending_before_the_resync_wakes_the_worker_when_it_ends() {
        let mut retry = std::iter::empty();
        let soon = Outcome::Settled { deadline: Some(t(3)) };
        assert_eq!(next(soon, &mut retry), (Duration::from_secs(3), PassReason::Deadline));
        let later = Outcome::Settled { deadline: Some(t(60)) };
        assert_eq!(next(later, &mut retry), (RESYNC, PassReason::Resync));
        let past = Outcome::Settled { deadline: Some(t(-5)) };
        assert_eq!(next(past, &mut retry), (MIN_WAIT, PassReason::Deadline), "never a busy loop");
    }

    #[test]
    fn transient_failures_back_off_and_permanent_ones_wait_for_a_change() {
        let mut retry = [1, 2, 4].map(Duration::from_secs).into_iter();
        let transient = Outcome::Failed(ErrorKind::Transient);
        let waits: Vec<_> = (0..4).map(|_| next(transient, &mut retry)).collect();
        assert_eq!(waits.iter().map(|w| w.0.as_secs()).collect::<Vec<_>>(), [1, 2, 4, 10]);
        assert!(waits.iter().all(|w| w.1 == PassReason::Retry));
        let mut untouched = [1, 2].map(Duration::from_secs).into_iter();
        let permanent = next(Outcome::Failed(ErrorKind::Permanent), &mut untouched);
        assert_eq!(permanent, (PERMANENT_RECHECK, PassReason::Recheck));
        assert_eq!(untouched.count(), 2, "a permanent error does not use up the backoff");
    }

    #[test]
    fn errors_that_stay_until_something_changes_are_permanent() {
        use crate::platform::PlatformError;
        use crate::reconcile::ReconcileError;
        let name: ClusterName = "kubernetes".parse().expect("name");
        let invalid = ControllerError::InvalidStored { name: name.clone(), reason: "members: 4".into() };
        assert_eq!(invalid.kind(), ErrorKind::Permanent);
        assert_eq!(ControllerError::NotManaged(name).kind(), ErrorKind::Permanent);
        let missing_binary = PlatformError::Spawn {
            pod: crate::domain::PodName::new(0).expect("pod"),
            binary: "etcd".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(ReconcileError::Observe(missing_binary).kind(), ErrorKind::Permanent);
        let busy = crate::etcd::EtcdError::Refused {
            endpoint: "http://e".into(),
            kind: crate::etcd::EtcdErrorKind::UnhealthyCluster,
        };
        let step = ReconcileError::Step(crate::act::ActError::Etcd(busy));
        assert_eq!(step.kind(), ErrorKind::Transient);
        let away = PlatformError::Unreachable("502".into());
        assert_eq!(ReconcileError::Observe(away).kind(), ErrorKind::Transient);
    }

    /// The same failure is retried the same way wherever it surfaces: the error that
    /// caused it decides (a corrupt platform file met while building the adapters was
    /// once retried with backoff, and met while observing was not).
    #[test]
    fn a_failure_is_retried_as_its_source_says_wherever_it_surfaces() {
        use crate::act::ActError;
        use crate::backup::run::BackupError;
        use crate::etcd::{EtcdError, EtcdErrorKind};
        use crate::platform::PlatformError;
        use crate::reconcile::ReconcileError;
        let corrupt = || PlatformError::Corrupt { path: "ports.json".into(), reason: "not JSON".into() };
        let unconfigured = || BackupError::NotConfigured("kubernetes".into());
        for (kind, surfaced) in [
            (ErrorKind::Permanent, ControllerError::Platform(corrupt())),
            (ErrorKind::Permanent, ReconcileError::Observe(corrupt()).into()),
            (ErrorKind::Permanent, ReconcileError::Step(ActError::Platform(corrupt())).into()),
            (ErrorKind::Permanent, ControllerError::Backup(unconfigured())),
            (ErrorKind::Permanent, ReconcileError::Step(ActError::Backup(unconfigured())).into()),
            (ErrorKind::Transient, ControllerError::Platform(PlatformError::Busy("deploying".into()))),
        ] {
            assert_eq!(surfaced.kind(), kind, "{surfaced}");
        }
        // Every refusal of etcd's is consulted, and none stops the worker: the next
        // pass plans from a fresh observation of what the refusal named.
        use EtcdErrorKind::*;
        for kind in [
            Unreachable,
            Timeout,
            UnhealthyCluster,
            MemberNotFound,
            NotALearner,
            LearnerNotInSync,
            PeerUrlExists,
            MemberIdExists,
            TooManyLearners,
            NoLeader,
            NoSpace,
            Unsupported,
            Other,
        ] {
            let refused = EtcdError::Refused { endpoint: "http://e".into(), kind };
            let step = ReconcileError::Step(ActError::Etcd(refused));
            assert_eq!(step.kind(), ErrorKind::Transient, "{kind}");
        }
    }

    /// How long [`wait_for_pass`] waited (on tokio's paused clock), and why.
    async fn waited(
        wait: Duration,
        wake: &Notify,
        changed: impl Future<Output = ()>,
    ) -> (Duration, PassReason) {
        let began = tokio::time::Instant::now();
        let reason = wait_for_pass(wait, PassReason::Resync, wake, changed).await;
        (began.elapsed(), reason)
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_the_platform_reports_starts_a_pass_before_the_resync_but_never_in_a_loop() {
        let wake = Notify::new();
        let exit_in_3s = tokio::time::sleep(Duration::from_secs(3));
        assert_eq!(waited(RESYNC, &wake, exit_in_3s).await, (Duration::from_secs(3), PassReason::Changed));
        let at_once = std::future::ready(());
        assert_eq!(
            waited(RESYNC, &wake, at_once).await,
            (MIN_WAIT, PassReason::Changed),
            "never a busy loop"
        );
        let never = std::future::pending();
        assert_eq!(waited(RESYNC, &wake, never).await, (RESYNC, PassReason::Resync), "the resync stays");
        let sooner = Duration::from_millis(50);
        assert_eq!(waited(sooner, &wake, std::future::ready(())).await, (sooner, PassReason::Resync));
        wake.notify_one();
        assert_eq!(waited(RESYNC, &wake, std::future::pending()).await, (Duration::ZERO, PassReason::Woken));
    }

    #[test]
    fn a_due_backup_comes_first() {
        let mut retry = std::iter::empty();
        let due = Duration::from_secs(2);
        let quiet = Outcome::Settled { deadline: None };
        assert_eq!(next_pass(quiet, RESYNC, t(0), &mut retry, due), (due, PassReason::Backup));
        assert_eq!(
            next_pass(Outcome::Stepped, RESYNC, t(0), &mut retry, due),
            (AFTER_STEP, PassReason::Confirm)
        );
    }
}
