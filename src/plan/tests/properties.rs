//! Property tests: over random observations, no plan breaks a safety invariant.

use jiff::SignedDuration;
use proptest::prelude::*;

use crate::manifest::desired::MemberCount;
use crate::model::BootstrapAttempt;
use crate::model::platform::{AgentState, TaskState};
use crate::plan::*;
use crate::testing::world::{at, desired, world};

#[derive(Debug, Clone)]
struct Member {
    task: TaskState,
    agent: AgentState,
    answers: bool,
    down_for: i64,
}

fn member() -> impl Strategy<Value = Member> {
    let task = prop_oneof![
        Just(TaskState::NotLaunched),
        Just(TaskState::Running),
        Just(TaskState::Suspended),
        Just(TaskState::Exited)
    ];
    let agent = prop_oneof![Just(AgentState::Healthy), Just(AgentState::Lost)];
    (task, agent, any::<bool>(), 0i64..600).prop_map(|(task, agent, answers, down_for)| Member {
        task,
        agent,
        answers,
        down_for,
    })
}

fn scenario() -> impl Strategy<Value = (MemberCount, Vec<Member>, bool, Option<u32>, bool)> {
    prop_oneof![Just(MemberCount::One), Just(MemberCount::Three), Just(MemberCount::Five)].prop_flat_map(
        |count| {
            (
                Just(count),
                proptest::collection::vec(member(), count.get()),
                any::<bool>(),
                proptest::option::of(1u32..5),
                any::<bool>(),
            )
        },
    )
}

fn build(
    count: MemberCount,
    members: &[Member],
    ever_healthy: bool,
    attempt: Option<u32>,
) -> crate::testing::world::World {
    let mut w = world(count.get());
    let now = at(600);
    for (i, m) in members.iter().enumerate() {
        let task = &mut w.observed.platform.tasks[i];
        task.task = m.task;
        task.agent = m.agent;
        let pod = task.pod;
        if m.task != TaskState::Running || !m.answers {
            w.observed.endpoints.remove(&pod);
        }
        if matches!(m.task, TaskState::Exited | TaskState::Suspended) {
            w.history.seen.down_since.insert(pod, now - SignedDuration::from_secs(m.down_for));
        }
    }
    w.history.seen.ever_healthy = ever_healthy;
    w.history.in_flight.operation = attempt.map(|attempt| {
        crate::model::Operation::Bootstrap(BootstrapAttempt {
            attempt,
            token: format!("kubernetes-{attempt}"),
            started_at: at(0),
        })
    });
    w
}

proptest! {
    #[test]
    fn no_plan_ever_wipes_a_cluster_that_served_or_that_we_did_not_bootstrap(
        (count, members, ever_healthy, attempt, paused) in scenario()
    ) {
        let w = build(count, &members, ever_healthy, attempt);
        let mut d = desired(count);
        if paused {
            d.reconcile = ReconcileMode::Paused;
        }
        let plan = w.plan(&d, at(600));
        let wipes = plan.steps().any(|(s, _)| matches!(s, Step::WipeFailedBootstrap { .. }));
        if ever_healthy || attempt.is_none() {
            prop_assert!(!wipes, "wiped a cluster that may hold data: {plan:#?}");
        }
        if paused {
            prop_assert_eq!(plan.steps().count(), 0, "a paused cluster got steps");
        }
        // Bootstrap steps never share a plan with anything else.
        let bootstrap_steps = plan
            .steps()
            .filter(|(s, _)| matches!(s, Step::Bootstrap { .. } | Step::WipeFailedBootstrap { .. }))
            .count();
        prop_assert!(bootstrap_steps <= 1);
        if bootstrap_steps == 1 {
            prop_assert_eq!(plan.steps().count(), 1);
        }
    }

    #[test]
    fn restarts_in_place_only_crashed_members_on_healthy_agents_past_their_grace(
        (count, members, ever_healthy, attempt, _paused) in scenario()
    ) {
        let w = build(count, &members, ever_healthy, attempt);
        let d = desired(count);
        let plan = w.plan(&d, at(600));
        for (step, rule) in plan.steps() {
            if let Step::RestartInPlace { pod, .. } = step {
                prop_assert_eq!(rule, Rule::RestartInPlace);
                let m = &members[usize::from(pod.index())];
                prop_assert_eq!(m.task, TaskState::Exited);
                prop_assert_eq!(m.agent, AgentState::Healthy);
                prop_assert!(m.down_for >= 30, "restarted within restartGrace");
            }
        }
    }
}
