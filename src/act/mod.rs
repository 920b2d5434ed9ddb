//! Carries out the steps of a plan through idempotent `ensure_*` platform calls.
//!
//! A step that is already done succeeds without doing anything, so a controller that
//! died between two steps converges by running the next pass. This module decides
//! nothing: the plan says what to do.

mod failpoint;
mod maintenance;
mod membership;
mod restore;

use tracing::Instrument;

use crate::backup::snapshot::SnapshotError;
use crate::context::Context;
use crate::domain::PodName;
use crate::etcd::EtcdError;
use crate::event::Event;
use crate::model::{BootstrapAttempt, History};
use crate::plan::{Plan, Rule, Step};
use crate::platform::{InitialClusterState, LaunchSpec, Platform, PlatformError};
use crate::status::LastAction;
use crate::store::StoreError;

pub use failpoint::FAILPOINT_ENV;
use failpoint::failpoint;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// etcd refused or failed a membership call.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// The snapshot before a replacement failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The backup before a scale change failed.
    #[error(transparent)]
    Backup(#[from] crate::backup::run::BackupError),
    /// A restore failed.
    #[error(transparent)]
    Restore(#[from] crate::backup::restore::RestoreClusterError),
    /// A step needs state that is gone (the replacement record).
    #[error("{0}")]
    Precondition(String),
    /// The step's operation cannot begin or go on: another one runs.
    #[error(transparent)]
    Operation(#[from] crate::model::operation::Refused),
    /// A file, directory or socket of the controller's own failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, on what.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The platform refused or failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The history could not be recorded before the step.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ActError {
    /// Whether a retry can help: as the platform, the store, etcd or the backup says;
    /// anything else is planned again from a fresh observation.
    pub fn retry(&self) -> crate::retry::ErrorKind {
        match self {
            Self::Etcd(e) => e.retry(),
            Self::Platform(e) => e.retry(),
            Self::Store(e) => e.retry(),
            Self::Backup(e) => e.retry(),
            Self::Snapshot(_)
            | Self::Restore(_)
            | Self::Precondition(_)
            | Self::Operation(_)
            | Self::Io { .. } => crate::retry::ErrorKind::Transient,
        }
    }
}

/// What acting on a plan did. Its events are already recorded.
#[derive(Debug, Default)]
pub struct ActReport {
    /// The last step taken, with its result.
    pub last_action: Option<LastAction>,
    /// Every step taken, in order, with how it ended; the plan's later steps after a
    /// failure or a second disruptive step are not among them.
    pub taken: Vec<crate::status::TakenStep>,
    /// The first failure; steps after it were not taken.
    pub error: Option<ActError>,
}

/// Takes the plan's steps in order, stopping at the first failure; records an event
/// per step as soon as it is taken.
/// A second disruptive step in one plan is never taken (the planner does not make
/// such plans; this is the guard).
pub async fn act<P: Platform>(ctx: &Context<'_, P>, plan: &Plan, history: &mut History) -> ActReport {
    let mut report = ActReport::default();
    let mut disruptive = 0;
    for decision in &plan.decisions {
        let Some(step) = decision.step() else { continue };
        let rule = decision.rule;
        if step.is_disruptive() {
            disruptive += 1;
            if disruptive > 1 {
                tracing::warn!(step = step.name(), "second disruptive step in one pass not taken");
                break;
            }
        }
        let span = tracing::info_span!("step", step = step.name(), rule = %rule);
        let result = async {
            let mut evidence = evidence(ctx, step, &decision.message).await;
            let result = take(ctx, step, history).await;
            if let (Step::Defragment { pod, endpoint, db_size_before }, Ok(())) = (step, &result) {
                evidence.push_str(&maintenance::sizes(ctx, *pod, endpoint, *db_size_before).await);
            }
            let outcome = record(ctx, step, rule, result.as_ref().err(), &evidence);
            tracing::info!(ok = result.is_ok(), "step taken");
            report.taken.push(crate::status::TakenStep {
                name: step.name(),
                rule,
                description: step.describe(),
                error: result.as_ref().err().map(ToString::to_string),
            });
            report.last_action = Some(LastAction {
                step: step.name().to_owned(),
                rule: rule.id().to_owned(),
                at: ctx.now,
                result: outcome,
            });
            result
        }
        .instrument(span)
        .await;
        if let Err(e) = result {
            report.error = Some(e);
            break;
        }
        failpoint(step.name());
    }
    report
}

/// Records a step's event at once, so that a crash right after the step keeps its
/// trace; returns the outcome as the status's `lastAction` says it.
fn record<P: Platform>(
    ctx: &Context<'_, P>,
    step: &Step,
    rule: Rule,
    error: Option<&ActError>,
    evidence: &str,
) -> String {
    let outcome = error.map_or_else(|| "succeeded".to_owned(), ToString::to_string);
    let message = format!("{}: {outcome}{evidence}", step.describe());
    let event = match error {
        None => Event::normal(ctx.now, step.name(), message),
        Some(_) => Event::warning(ctx.now, step.name(), message),
    };
    let event = event.by(rule.id());
    let event = match step.pod() {
        Some(pod) => event.about(pod),
        None => event,
    };
    if let Err(error) = ctx.store.add_events(ctx.name(), &[event]) {
        tracing::warn!(%error, "cannot record the event of a step");
    }
    outcome
}

/// What a step's event quotes beside its outcome: for the first step of a replacement,
/// why the slot is replaced (the rule's reason, which status shows only while it
/// lasts); before a restart that follows a failed one, the member's last log lines,
/// which say why the last run ended.
async fn evidence<P: Platform>(ctx: &Context<'_, P>, step: &Step, why: &str) -> String {
    if matches!(step, Step::SnapshotBeforeReplace { .. }) {
        return format!("; why: {why}");
    }
    let Step::RestartInPlace { pod, attempt, .. } = step else { return String::new() };
    if *attempt < 2 {
        return String::new();
    }
    match readable_log_tail(ctx.platform, *pod).await {
        Ok(lines) if !lines.is_empty() => format!("; its last log lines before: {}", lines.join(" | ")),
        _ => String::new(),
    }
}

/// A member's last `LOG_LINES` log lines as status and events quote them.
///
/// # Errors
/// When the platform cannot read the log.
pub async fn readable_log_tail<P: Platform>(
    platform: &P,
    pod: PodName,
) -> Result<Vec<String>, PlatformError> {
    let lines = platform.log_tail(pod, LOG_SCAN).await?;
    Ok(crate::event::readable_log_tail(&lines, LOG_LINES))
}

async fn take<P: Platform>(ctx: &Context<'_, P>, step: &Step, history: &mut History) -> Result<(), ActError> {
    match step {
        Step::Bootstrap { attempt, token, initial_cluster, launch } => {
            let same =
                history.in_flight.bootstrap().is_some_and(|b| b.attempt == *attempt && &b.token == token);
            if !same {
                let attempt =
                    BootstrapAttempt { attempt: *attempt, token: token.clone(), started_at: ctx.now };
                history.in_flight.begin_bootstrap(attempt)?;
                // Recorded before any launch, so a crash keeps the token for the rest.
                ctx.store.put_history(ctx.name(), history)?;
            }
            let spec = LaunchSpec {
                initial_cluster: initial_cluster.clone(),
                state: InitialClusterState::New { token: token.clone() },
            };
            for pod in launch {
                ctx.platform.ensure_running(*pod, &spec).await?;
            }
            Ok(())
        }
        Step::WipeFailedBootstrap { pods, .. } => wipe_failed_bootstrap(ctx, history, pods).await,
        Step::RestartInPlace { pod, initial_cluster, .. } => {
            // Counted and recorded before the launch: a crash right after it never
            // costs the bound on restarts.
            history.seen.count_restart(*pod, ctx.now);
            ctx.store.put_history(ctx.name(), history)?;
            let spec =
                LaunchSpec { initial_cluster: initial_cluster.clone(), state: InitialClusterState::Restart };
            ctx.platform.ensure_running(*pod, &spec).await?;
            Ok(())
        }
        Step::RequestRestart { pod } => {
            // Asked once: counted and recorded before the request, so that a crash
            // right after it never asks again.
            history.seen.count_restart(*pod, ctx.now);
            ctx.store.put_history(ctx.name(), history)?;
            Ok(ctx.platform.request_restart(*pod).await?)
        }
        Step::RequestReplace { pod } => membership::request_replace(ctx, history, *pod).await,
        Step::SnapshotBeforeReplace { pod, from, endpoint } => {
            membership::snapshot_before_replace(ctx, history, *pod, *from, endpoint).await
        }
        Step::WipeMember { pod } => Ok(ctx.platform.ensure_wiped(*pod).await?),
        Step::RemoveMember { id, via, .. } => membership::remove(ctx, *id, via).await,
        Step::AddLearner { pod, peer_url, via } => {
            membership::record_added_url(ctx, history, *pod, peer_url)?;
            membership::add_learner(ctx, peer_url, via).await?;
            if let Some(r) = history.in_flight.join_mut().filter(|r| r.pod == *pod) {
                r.rejoin = false;
            }
            Ok(())
        }
        Step::AddMember { pod, peer_url, via } => {
            membership::record_added_url(ctx, history, *pod, peer_url)?;
            membership::add_voter(ctx, history, *pod, peer_url, via).await
        }
        Step::RejoinReplacement { pod } => membership::rejoin(ctx, history, *pod).await,
        Step::ReadSurvivor { pod } => restore::read_survivor(ctx, history, *pod).await,
        Step::AbandonJoin { .. } => {
            // Abandoned: the join, and the scale-up or replacement it belongs to.
            if history.in_flight.join().is_some() {
                history.in_flight.end();
            }
            Ok(())
        }
        Step::LaunchReplacement { pod, initial_cluster } => {
            membership::launch_replacement(ctx, history, *pod, initial_cluster).await
        }
        Step::PromoteLearner { id, via, .. } => membership::promote(ctx, *id, via).await,
        Step::BeginScaleUp { pod, backup } => membership::begin_scale_up(ctx, history, *pod, backup),
        Step::RequestScaleUp { members, backup } => {
            membership::request_scale_up(ctx, history, *members, backup).await
        }
        Step::TakeBackup => take_backup(ctx).await,
        Step::RestoreFromSurvivor { .. } | Step::RestoreFromBackup { .. } => {
            restore::restore(ctx, history, step).await
        }
        Step::MoveLeader { to, via, .. } => membership::move_leader(ctx, *to, via).await,
        Step::Defragment { pod, endpoint, .. } => maintenance::defragment(ctx, history, *pod, endpoint).await,
        Step::DisarmAlarm { via } => maintenance::disarm(ctx, history, via).await,
        Step::RestartMember { pod, initial_cluster, .. } => {
            // Stopped, then started on its own data with the manifest's launch settings.
            // A crash in between leaves a member that is down on intact data: the
            // restart rule starts it again.
            ctx.platform.ensure_stopped(*pod).await?;
            let spec =
                LaunchSpec { initial_cluster: initial_cluster.clone(), state: InitialClusterState::Restart };
            Ok(ctx.platform.ensure_running(*pod, &spec).await?)
        }
        Step::BeginScaleDown { members, backup } => {
            history.in_flight.begin_scale_down(*members, backup.clone(), ctx.now)?;
            Ok(ctx.store.put_history(ctx.name(), history)?)
        }
        Step::RetireMember { pod } => membership::retire(ctx, *pod).await,
    }
}

/// Takes a backup before a scale change, unless one is running already (the next
/// pass sees its result either way).
async fn take_backup<P: Platform>(ctx: &Context<'_, P>) -> Result<(), ActError> {
    let Ok(_guard) = ctx.backup_lock.try_lock() else {
        return Ok(());
    };
    crate::backup::run::take_and_record(ctx, "before a scale change").await?;
    Ok(())
}

/// Wipes the members of a failed first bootstrap, but only when no member's database
/// holds a revision beyond the bootstrap's (1), whatever the history says: data there
/// means the cluster served, and it is then never wiped.
async fn wipe_failed_bootstrap<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pods: &[crate::domain::PodName],
) -> Result<(), ActError> {
    for pod in pods {
        ctx.platform.ensure_stopped(*pod).await?;
        let Some(db) = ctx.platform.local_data_dir(*pod).map(|d| d.join("member/snap/db")) else { continue };
        if !db.is_file() {
            continue;
        }
        let tool = crate::backup::tool::SnapshotTool::for_cluster(ctx.desired).await;
        let (revision, _) = crate::backup::snapshot::status(&tool, &db).await?;
        if revision > 1 {
            history.seen.ever_healthy = true;
            ctx.store.put_history(ctx.name(), history)?;
            return Err(ActError::Precondition(format!(
                "refusing to wipe the bootstrap: {pod}'s database holds revision {revision}, so the cluster served data"
            )));
        }
    }
    for pod in pods {
        ctx.platform.ensure_wiped(*pod).await?;
    }
    Ok(())
}

/// An I/O error of a step, saying what was being done.
pub(crate) fn io(what: String) -> impl FnOnce(std::io::Error) -> ActError {
    move |source| ActError::Io { what, source }
}

/// The cluster's snapshot directory, created (private) if it is not there yet.
fn snapshots_dir<P>(ctx: &Context<'_, P>) -> Result<std::path::PathBuf, ActError> {
    let dir = ctx.snapshots();
    crate::store::atomic::ensure_private_dir(&dir).map_err(io(format!("create {}", dir.display())))?;
    Ok(dir)
}

/// How many of a member's last log lines status and events quote.
pub const LOG_LINES: usize = 5;
/// How many of a member's last log lines are read to find [`LOG_LINES`] that say
/// something: a Go crash's stack runs to a hundred lines and more.
const LOG_SCAN: usize = 400;
