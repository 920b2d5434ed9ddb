//! What a pass tells people besides the status: events for what changed, for new
//! refusals, and the status of a pass that could not observe the platform.

use jiff::Timestamp;

use super::{PassMemory, ReconcileError};
use crate::context::Context;
use crate::domain::{Generation, PodName};
use crate::event::Event;
use crate::plan::{Outcome, Plan, Rule};
use crate::platform::{Platform, PlatformError};
use crate::status::{ClusterStatus, ConditionType};

/// A pass that could not observe the platform's API acts on nothing; status keeps the
/// last observation and says why (`PlatformUnreachable`), with an event when it starts.
pub(super) fn report_unobserved<P: Platform>(
    ctx: &Context<'_, P>,
    generation: Generation,
    error: &PlatformError,
) -> Result<(), ReconcileError> {
    let (desired, now) = (ctx.desired, ctx.now);
    if !matches!(
        error,
        PlatformError::Unreachable(_) | PlatformError::Uncertain(_) | PlatformError::Refused(_)
    ) {
        return Ok(());
    }
    let previous = ctx.store.status(&desired.name)?;
    let message = format!(
        "{error}; nothing was done in this pass, and the rest of this status is from {}",
        previous.as_ref().map_or_else(|| "no observation yet".to_owned(), |p| p.observed_at.to_string())
    );
    let status = ClusterStatus::platform_unreachable(previous.as_ref(), desired, generation, message, now);
    if previous.as_ref().is_none_or(|p| p.condition(ConditionType::PlatformUnreachable).is_none()) {
        let event = Event::warning(
            now,
            "PlatformUnreachable",
            format!("{error}; acting on nothing until it answers"),
        );
        ctx.store.add_events(&desired.name, &[event])?;
    }
    ctx.store.put_status(&status)?;
    super::metrics::record_status(ctx.metrics, desired, &status);
    Ok(())
}

/// Events for what changed between two statuses: members down or back, phase.
pub(super) fn transitions(
    previous: Option<&ClusterStatus>,
    status: &ClusterStatus,
    now: Timestamp,
) -> Vec<Event> {
    let mut events = Vec::new();
    let Some(previous) = previous else {
        return events;
    };
    for member in &status.members {
        let before = previous.members.iter().find(|m| m.pod == member.pod);
        let was_healthy = before.is_some_and(|m| m.healthy);
        let pod: PodName = member.pod;
        if was_healthy && !member.healthy {
            let message = format!(
                "{pod} is not healthy (task {}, agent {}{})",
                member.task.state,
                member.task.agent,
                if member.task.agent_lost { " lost" } else { " healthy" }
            );
            events.push(Event::warning(now, "MemberDown", message).about(pod));
        } else if !was_healthy && member.healthy && before.is_some() {
            let id = member.id.map(|i| i.to_string()).unwrap_or_default();
            events.push(
                Event::normal(now, "MemberHealthy", format!("{pod} is healthy (member {id})")).about(pod),
            );
        }
    }
    if previous.condition(ConditionType::PlatformUnreachable).is_some()
        && status.condition(ConditionType::PlatformUnreachable).is_none()
    {
        events.push(Event::normal(now, "PlatformReachable", "the platform answers again".to_owned()));
    }
    match (previous.condition(ConditionType::NoSpace), status.condition(ConditionType::NoSpace)) {
        (None, Some(alarm)) => events.push(Event::warning(now, "NoSpaceAlarm", alarm.message.clone())),
        (Some(_), None) => {
            let message = "the NOSPACE alarm is gone: etcd accepts writes again".to_owned();
            events.push(Event::normal(now, "NoSpaceCleared", message));
        }
        _ => {}
    }
    if previous.phase != status.phase {
        let message = format!("phase {:?} -> {:?}", previous.phase, status.phase);
        events.push(Event::normal(now, "PhaseChanged", message));
    }
    events
}

/// Events for refusals that were not standing in the previous pass.
pub(super) fn refusals(plan: &Plan, memory: &mut PassMemory, now: Timestamp) -> Vec<Event> {
    let current: Vec<(Rule, String)> = plan
        .decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Refuse)
        .map(|d| (d.rule, d.message.clone()))
        .collect();
    // A stuck operation is one fact: its message quotes the platform's step as it moves
    // (DELAYED, PENDING, relaunched...), which status shows live; one event when it
    // becomes stuck, not one per move.
    let same =
        |a: &(Rule, String), b: &(Rule, String)| a.0 == b.0 && (a.0 == Rule::OperationStuck || a.1 == b.1);
    let events = current
        .iter()
        .filter(|r| !memory.refusals.iter().any(|before| same(before, r)))
        .map(|(rule, message)| Event::warning(now, "Refused", message.clone()).by(rule.id()))
        .collect();
    memory.refusals = current;
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Decision;

    fn refusing(rule: Rule, message: &str) -> Plan {
        Plan { decisions: vec![Decision::refuse(rule, message.to_owned())] }
    }

    #[test]
    fn a_standing_refusal_is_reported_once_and_a_stuck_operation_once_however_its_step_moves() {
        let now = Timestamp::UNIX_EPOCH;
        let mut memory = PassMemory::default();
        let stuck =
            |status: &str| refusing(Rule::OperationStuck, &format!("stuck: step etcd-2:[recover] {status}"));
        assert_eq!(refusals(&stuck("DELAYED"), &mut memory, now).len(), 1);
        for status in ["PENDING", "STARTING", "DELAYED"] {
            assert!(refusals(&stuck(status), &mut memory, now).is_empty(), "{status}: no new event");
        }
        // Another refusal whose message changes is news each time.
        let unknown = |id: &str| refusing(Rule::UnknownMember, &format!("voter {id} of no slot"));
        assert_eq!(refusals(&unknown("a"), &mut memory, now).len(), 1);
        assert!(refusals(&unknown("a"), &mut memory, now).is_empty());
        assert_eq!(refusals(&unknown("b"), &mut memory, now).len(), 1);
        // Lifted, then stuck again: reported again.
        assert_eq!(refusals(&stuck("DELAYED"), &mut memory, now).len(), 1);
    }
}
