//! Restore drills driven by the controller: on demand (the API) and on schedule (the
//! worker), never two at once in one daemon; each result recorded (store, event,
//! metrics) and shown by the next status.

use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{Controller, ControllerError};
use crate::backup::drill::{DrillError, run_drill};
use crate::backup::schedule::next_due;
use crate::domain::ClusterName;
use crate::event::Event;
use crate::manifest::DesiredCluster;
use crate::metrics::{Metrics, ResultLabel};
use crate::model::catalog::newest_verified;
use crate::model::drill::{DrillReport, DrillTrigger};

/// A worker's scheduled drill: the one running, and when the last one started (a
/// refused drill leaves no report, yet must wait for the next time too).
#[derive(Debug, Default)]
pub(super) struct DrillSchedule {
    running: Option<JoinHandle<()>>,
    last_started: Option<Timestamp>,
}

impl Controller {
    /// Runs a restore drill of the cluster's newest verified backup now; refused while
    /// another drill runs in this daemon.
    ///
    /// # Errors
    /// When the cluster is not managed, or the drill cannot run (another drill runs, no
    /// verified backup, not enough disk space). A drill that ran and failed is a report.
    pub async fn drill_now(&self, name: &ClusterName) -> Result<DrillReport, ControllerError> {
        let (desired, _) = self.desired(name)?.ok_or_else(|| ControllerError::NotManaged(name.clone()))?;
        let Ok(guard) = self.inner.drill_lock.clone().try_lock_owned() else {
            return Err(DrillError::AlreadyRunning.into());
        };
        let span = tracing::info_span!("drill", cluster = %name, trigger = "on demand");
        let result = self.drill(&desired, DrillTrigger::OnDemand).instrument(span).await;
        drop(guard);
        // The status shows the result at once, not at the next resync.
        self.wake(name).await;
        result
    }

    /// Runs one drill and records its result, or the refusal, as an event.
    async fn drill(
        &self,
        desired: &DesiredCluster,
        trigger: DrillTrigger,
    ) -> Result<DrillReport, ControllerError> {
        let store = &self.inner.store;
        let name = &desired.name;
        let report = match run_drill(store, desired, trigger, self.inner.clock).await {
            Ok(report) => report,
            Err(error) => {
                tracing::warn!(%error, "restore drill refused");
                let event = Event::warning(self.inner.clock.now(), "DrillRefused", error.to_string());
                store.add_events(name, &[event])?;
                return Err(error.into());
            }
        };
        record(&self.inner.metrics, name, &report);
        store.put_last_drill(name, &report)?;
        let verdict = if report.passed() { "passed" } else { "failed" };
        let message = format!(
            "restore drill of backup {} {verdict} in {:.1}s: {}",
            report.backup_id, report.duration_seconds, report.message
        );
        let event = if report.passed() {
            tracing::info!(backup = %report.backup_id, seconds = report.duration_seconds, "restore drill passed");
            Event::normal(report.finished_at, "DrillPassed", message)
        } else {
            tracing::warn!(backup = %report.backup_id, %message, "restore drill failed");
            Event::warning(report.finished_at, "DrillFailed", message)
        };
        store.add_events(name, &[event])?;
        Ok(report)
    }

    /// Starts the scheduled drill in the background when it is due, a verified backup
    /// exists and no drill runs in this daemon; returns how long until it is due.
    pub(super) fn schedule_drill(&self, desired: &DesiredCluster, drill: &mut DrillSchedule) -> Duration {
        let idle = Duration::from_secs(3600);
        let Some(schedule) = desired.backup.as_ref().and_then(|b| b.drill.as_ref()) else { return idle };
        if drill.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return idle;
        }
        let store = &self.inner.store;
        let name = &desired.name;
        // Nothing to drill yet: every pass looks again, so the first backup is drilled
        // as soon as the schedule allows.
        if store.backups(name).ok().and_then(|r| newest_verified(&r).cloned()).is_none() {
            return idle;
        }
        let last_report = store.last_drill(name).ok().flatten().map(|r| r.started_at);
        let now = self.inner.clock.now();
        let due = next_due(schedule, last_report.max(drill.last_started), now);
        if now < due {
            return Duration::try_from(due.duration_since(now)).unwrap_or(idle).min(idle);
        }
        let Ok(guard) = self.inner.drill_lock.clone().try_lock_owned() else {
            // A drill of this or another cluster runs: this one starts after it.
            return Duration::from_secs(5);
        };
        drill.last_started = Some(now);
        let controller = self.clone();
        let desired = desired.clone();
        // Created in the worker's span, so the drill's lines name the cluster.
        let span = tracing::info_span!("drill", trigger = "scheduled");
        let task = async move {
            let _guard = guard;
            // A failure is recorded (report or event) by `drill`; the status shows it.
            let _ = controller.drill(&desired, DrillTrigger::Scheduled).await;
            controller.wake(&desired.name).await;
        };
        drill.running = Some(tokio::spawn(task.instrument(span)));
        idle
    }
}

/// Counts the drill and sets the last drill's duration.
fn record(metrics: &Metrics, name: &ClusterName, report: &DrillReport) {
    let result = if report.passed() { "passed" } else { "failed" };
    let label = ResultLabel { cluster: name.to_string(), result: result.to_owned() };
    metrics.drills.get_or_create(&label).inc();
    metrics.drill_duration.get_or_create(&Metrics::cluster(name.as_str())).set(report.duration_seconds);
}
