//! One reconcile pass: observe -> plan -> act -> record.
//!
//! Level-triggered: every pass reads the whole world and compares it with the desired
//! state; nothing here remembers what the previous pass intended.

use std::collections::BTreeMap;
use std::time::Instant;

mod events;
mod metrics;

use events::{refusals, report_unobserved, transitions};

use crate::act::{ActError, act, readable_log_tail};
use crate::context::Context;
use crate::domain::{Generation, PodName};
use crate::manifest::DesiredCluster;
use crate::metrics::{ErrorLabel, Metrics};
use crate::model::platform::PlatformObservation;
use crate::model::{BackupView, History, Observed};
use crate::observe::observe;
use crate::plan::{Plan, Rule, plan};
use crate::platform::{Platform, PlatformError};
use crate::retry::ErrorKind;
use crate::status::{ClusterStatus, StatusInputs, compute};
use crate::store::{Store, StoreError};

/// How old `observedAt` may get before an unchanged status is written again, so that
/// a reader can tell a quiet cluster from a stuck controller.
const STATUS_HEARTBEAT_SECS: i64 = 30;

/// Why a pass failed; [`ReconcileError::kind`] says whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The platform could not be observed.
    #[error("observe: {0}")]
    Observe(#[from] PlatformError),
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A step failed.
    #[error("step: {0}")]
    Step(#[from] ActError),
}

impl ReconcileError {
    /// Whether a retry can help: as its source says.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Observe(e) => e.retry(),
            Self::Store(e) => e.retry(),
            Self::Step(e) => e.retry(),
        }
    }
}

/// What a pass leaves for the next one.
#[derive(Debug, Clone, Default)]
pub struct PassMemory {
    /// The refusals of the last pass, so that a standing refusal is reported once.
    pub refusals: Vec<(Rule, String)>,
    /// Whether this worker has passed before: its first pass starts every failure
    /// window again, since nothing was watched while no controller ran.
    pub passed: bool,
}

/// What one pass produced.
#[derive(Debug)]
pub struct PassReport {
    /// The plan it followed.
    pub plan: Plan,
    /// The status it recorded.
    pub status: ClusterStatus,
    /// What the platform showed: the worker waits for it to change by itself.
    pub platform: PlatformObservation,
}

/// Observes and plans without acting: what `etcd-warden plan` shows. Changes nothing,
/// not even the platform's address assignments.
///
/// # Errors
/// When the platform cannot be observed or the history cannot be read.
pub async fn dry_run<P: Platform>(ctx: &Context<'_, P>) -> Result<Plan, ReconcileError> {
    let (observed, _, history) = observe_and_record(ctx).await?;
    Ok(plan(ctx.desired, &observed, &history, ctx.now))
}

/// Observes the platform, etcd and the backup catalog, and folds the observation into
/// the history: the history as stored, and as it is after this observation.
async fn observe_and_record<P: Platform>(
    ctx: &Context<'_, P>,
) -> Result<(Observed, History, History), ReconcileError> {
    let desired = ctx.desired;
    let stored = ctx.store.history(&desired.name)?;
    let latency =
        ctx.metrics.platform_latency.get_or_create(&Metrics::cluster(desired.name.as_str())).clone();
    let last_seen = stored.seen.lineage.current();
    let mut observed = observe(ctx.platform, ctx.admin, ctx.now, last_seen, &latency).await?;
    observed.backups = backup_view(ctx.store, &desired.name)?;
    observed.certificates = certificates(ctx.platform, desired);
    let mut history = stored.clone();
    history.record(&observed, ctx.max_gap);
    Ok((observed, stored, history))
}

/// Runs one pass for `desired`.
///
/// # Errors
/// When observing, recording, or a step fails; status and events are still recorded
/// for a failed step.
pub async fn reconcile<P: Platform>(
    ctx: &Context<'_, P>,
    generation: Generation,
    memory: &mut PassMemory,
) -> Result<PassReport, ReconcileError> {
    let started = Instant::now();
    let desired = ctx.desired;
    let label = Metrics::cluster(desired.name.as_str());
    let result = pass(ctx, generation, memory).await;
    ctx.metrics.passes.get_or_create(&label).inc();
    ctx.metrics.duration.get_or_create(&label).observe(started.elapsed().as_secs_f64());
    count_error(ctx.metrics, &desired.name, result.as_ref().err().map(ReconcileError::kind));
    result
}

/// Counts a failed pass by kind. Both series exist from the first pass, even at zero,
/// so that an alert on their rate has something to watch.
pub fn count_error(metrics: &Metrics, cluster: &crate::domain::ClusterName, kind: Option<ErrorKind>) {
    for each in [ErrorKind::Transient, ErrorKind::Permanent] {
        let label = ErrorLabel { cluster: cluster.to_string(), kind: each.as_str().to_owned() };
        let counter = metrics.errors.get_or_create(&label);
        if kind == Some(each) {
            counter.inc();
        }
    }
}

async fn pass<P: Platform>(
    ctx: &Context<'_, P>,
    generation: Generation,
    memory: &mut PassMemory,
) -> Result<PassReport, ReconcileError> {
    let (desired, name) = (ctx.desired, ctx.name());
    // The pass's time, and the same moment on the monotonic clock (steps measure from it).
    let (now, started) = (ctx.now, ctx.started);
    for pod in desired.members.pods() {
        ctx.platform.member_urls(pod).await?;
    }
    let (observed, previous_history, mut history) = match observe_and_record(ctx).await {
        Err(ReconcileError::Observe(error)) => {
            report_unobserved(ctx, generation, &error)?;
            return Err(ReconcileError::Observe(error));
        }
        observed => observed?,
    };
    if !memory.passed {
        history.restart_windows();
        history.record(&observed, ctx.max_gap);
        memory.passed = true;
    }
    tracing::debug!(took_ms = started.elapsed().as_millis(), "observed");
    let plan = plan(desired, &observed, &history, now);
    if plan.steps().any(|(_, rule)| rule == Rule::Restore) {
        // A restore step can take minutes: status says `Restoring` while it runs.
        let previous = ctx.store.status(name)?;
        let inputs = StatusInputs {
            desired,
            generation,
            observed: &observed,
            history: &history,
            plan: &plan,
            taken: &[],
            last_action: previous.as_ref().and_then(|p| p.last_action.clone()),
            logs: BTreeMap::new(),
        };
        ctx.store.put_status(&compute(&inputs, previous.as_ref()))?;
    }
    let report = act(ctx, &plan, &mut history).await;
    if history != previous_history {
        ctx.store.put_history(name, &history)?;
    }
    let previous = ctx.store.status(name)?;
    let failing: Vec<PodName> = if plan.refuses(Rule::BootstrapFailed) {
        desired.members.pods().collect()
    } else {
        let restarting = history.seen.restarts.iter().filter(|(_, r)| r.count > 0).map(|(pod, _)| *pod);
        let replacing = history.in_flight.join().into_iter().filter(|r| r.launches > 0).map(|r| r.pod);
        restarting.chain(replacing).filter(|pod| !observed.is_healthy(*pod)).collect()
    };
    let logs = member_logs(ctx.platform, &failing).await;
    let last_action =
        report.last_action.clone().or_else(|| previous.as_ref().and_then(|p| p.last_action.clone()));
    let inputs = StatusInputs {
        desired,
        generation,
        observed: &observed,
        history: &history,
        plan: &plan,
        taken: &report.taken,
        last_action,
        logs,
    };
    let status = compute(&inputs, previous.as_ref());
    let mut events = transitions(previous.as_ref(), &status, now);
    events.extend(refusals(&plan, memory, now));
    let stale = |p: &ClusterStatus| now.duration_since(p.observed_at).as_secs() >= STATUS_HEARTBEAT_SECS;
    if previous.as_ref().is_none_or(|p| status.differs_from(p) || stale(p)) {
        ctx.store.put_status(&status)?;
    }
    ctx.store.add_events(name, &events)?;
    metrics::record(ctx.metrics, desired, &observed, &status, &report.taken);
    tracing::debug!(took_ms = started.elapsed().as_millis(), "pass done");
    match report.error {
        Some(error) => Err(error.into()),
        None => Ok(PassReport { plan, status, platform: observed.platform }),
    }
}

/// The backup catalog and the last failure, if newer than the last success.
fn backup_view(store: &Store, name: &crate::domain::ClusterName) -> Result<BackupView, StoreError> {
    let records = store.backups(name)?;
    let newest = records.last().map(|r| r.taken_at);
    let last_failure = store.backup_failure(name)?.filter(|f| newest.is_none_or(|t| f.at > t));
    let scale_refusal = store.scale_refusal(name)?;
    let last_drill = store.last_drill(name)?;
    Ok(BackupView { records, last_failure, scale_refusal, last_drill })
}

/// The certificate that expires first: the platform's for its members, and the
/// manifest's client files.
fn certificates<P: Platform>(
    platform: &P,
    desired: &DesiredCluster,
) -> Option<crate::model::CertificateExpiry> {
    let mut files = platform.certificate_files();
    if let Some(tls) = &desired.etcd.tls {
        files.extend([tls.ca_file.clone(), tls.cert_file.clone()]);
    }
    crate::platform::certificates::earliest(&files)
}

async fn member_logs<P: Platform>(platform: &P, pods: &[PodName]) -> BTreeMap<PodName, Vec<String>> {
    let mut logs = BTreeMap::new();
    for pod in pods.iter().copied() {
        if let Ok(tail) = readable_log_tail(platform, pod).await {
            logs.insert(pod, tail);
        }
    }
    logs
}
