//! Scenario 1: the first bootstrap, and its wipe-and-retry when it fails.
//!
//! Only a cluster that never served data is ever wiped: the history must record a
//! bootstrap attempt of ours and no quorum ever seen.

use std::time::Duration;

use super::view::View;
use super::{Decision, Rule, Step, initial_cluster, window_end};
use crate::domain::PodName;
use crate::model::platform::{AgentState, TaskState};

/// The longest pause between two bootstrap attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Whether the cluster is still in its first bootstrap: it never had a quorum, and
/// either nothing was launched yet or what was launched is our own recorded attempt.
/// Members found running with no attempt recorded are an existing cluster, never wiped;
/// so is a cluster any of whose members reports a revision beyond the bootstrap's (1),
/// whatever the history says.
pub(super) fn is_first_bootstrap(view: &View) -> bool {
    let (desired, observed, history) = (view.desired, view.observed, view.history);
    if history.seen.ever_healthy || observed.served() {
        return false;
    }
    let launched = desired
        .members
        .pods()
        .filter_map(|pod| observed.platform.task(pod))
        .any(|t| t.task != TaskState::NotLaunched);
    history.in_flight.bootstrap().is_some() || !launched
}

/// The pause before attempt `next`: 2 s, 4 s, 8 s ... up to a minute.
pub fn backoff_before(next: u32) -> Duration {
    let exponent = next.saturating_sub(1).min(16);
    Duration::from_secs(2u64.saturating_pow(exponent)).min(MAX_BACKOFF)
}

/// Decides the next bootstrap step.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let Some(initial) = initial_cluster(desired, observed) else {
        return vec![Decision::wait(
            Rule::Bootstrap,
            None,
            "waiting for the platform to assign every member's addresses".to_owned(),
        )];
    };
    let pods: Vec<PodName> = desired.members.pods().collect();
    let state = |pod: PodName| observed.platform.task(pod).map(|t| (t.task, t.agent));
    let launched: Vec<PodName> = pods
        .iter()
        .copied()
        .filter(|p| state(*p).is_some_and(|(t, _)| t != TaskState::NotLaunched))
        .collect();
    let not_running: Vec<PodName> =
        pods.iter().copied().filter(|p| state(*p).is_none_or(|(t, _)| t != TaskState::Running)).collect();
    let max = desired.recovery.bootstrap_attempts;
    let Some(current) = history.in_flight.bootstrap() else {
        let step = Step::Bootstrap {
            attempt: 1,
            token: format!("{}-{}", desired.name, now.as_second()),
            initial_cluster: initial,
            launch: not_running,
        };
        return vec![Decision::act(
            Rule::Bootstrap,
            step,
            "the cluster has never been bootstrapped".to_owned(),
        )];
    };
    let crashed: Vec<PodName> = launched
        .iter()
        .copied()
        .filter(|p| matches!(state(*p), Some((TaskState::Exited, _)) | Some((_, AgentState::Lost))))
        .collect();
    let timed_out = now >= window_end(current.started_at, desired.recovery.bootstrap_timeout);
    if launched.is_empty() {
        // The previous attempt was wiped: start the next one after its backoff.
        let next = current.attempt + 1;
        if current.attempt >= max {
            return vec![exhausted(current.attempt)];
        }
        let not_before = window_end(current.started_at, backoff_before(next));
        if now < not_before {
            return vec![Decision::wait(
                Rule::BootstrapRetry,
                Some(not_before),
                format!("bootstrap attempt {next} of {max} starts after its backoff"),
            )];
        }
        let step = Step::Bootstrap {
            attempt: next,
            token: format!("{}-{}", desired.name, now.as_second()),
            initial_cluster: initial,
            launch: not_running,
        };
        let message = format!("bootstrap attempt {} failed; trying again ({next} of {max})", current.attempt);
        return vec![Decision::act(Rule::BootstrapRetry, step, message)];
    }
    if !crashed.is_empty() || timed_out {
        if current.attempt >= max {
            return vec![exhausted(current.attempt)];
        }
        let why = if crashed.is_empty() {
            format!("no quorum within {}", humantime::format_duration(desired.recovery.bootstrap_timeout))
        } else {
            format!("{} exited before the cluster ever served", list(&crashed))
        };
        let step = Step::WipeFailedBootstrap { attempt: current.attempt, pods: launched };
        let message = format!(
            "bootstrap attempt {} failed: {why}; no data was ever served, so it is wiped",
            current.attempt
        );
        return vec![Decision::act(Rule::BootstrapRetry, step, message)];
    }
    if !not_running.is_empty() {
        let step = Step::Bootstrap {
            attempt: current.attempt,
            token: current.token.clone(),
            initial_cluster: initial,
            launch: not_running,
        };
        let message = format!("bootstrap attempt {} is missing members", current.attempt);
        return vec![Decision::act(Rule::Bootstrap, step, message)];
    }
    vec![Decision::wait(
        Rule::Bootstrap,
        Some(window_end(current.started_at, desired.recovery.bootstrap_timeout)),
        format!("bootstrap attempt {} of {max}: waiting for the first quorum", current.attempt),
    )]
}

fn exhausted(attempts: u32) -> Decision {
    Decision::refuse(
        Rule::BootstrapFailed,
        format!(
            "the first bootstrap failed {attempts} times; check the members' logs and the machine (ports, disk, binary), then delete and apply the cluster again"
        ),
    )
}

fn list(pods: &[PodName]) -> String {
    pods.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
