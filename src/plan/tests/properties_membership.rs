//! Property tests of the membership invariants of SPEC section 3 over random
//! observations: member lists with learners and phantoms, replacements in flight.

use proptest::prelude::*;

use crate::domain::MemberId;
use crate::manifest::desired::MemberCount;
use crate::model::platform::TaskState;
use crate::plan::*;
use crate::testing::world::{World, at, desired, t0, world};

#[derive(Debug, Clone, Copy)]
enum Slot {
    Healthy,
    Exited,
    Suspended,
    Lost,
    WipedAndRemoved,
    UnstartedLearner,
    StartedLearner(i64),
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        4 => Just(Slot::Healthy),
        1 => Just(Slot::Exited),
        1 => Just(Slot::Suspended),
        1 => Just(Slot::Lost),
        1 => Just(Slot::WipedAndRemoved),
        1 => Just(Slot::UnstartedLearner),
        1 => (0i64..60).prop_map(Slot::StartedLearner),
    ]
}

fn build(count: MemberCount, slots: &[Slot], phantom: Option<bool>, replacing: Option<u8>) -> World {
    let mut w = world(count.get());
    for (i, s) in slots.iter().enumerate() {
        let i = i as u8;
        w = match *s {
            Slot::Healthy => w,
            Slot::Exited => w.exited(i, t0()),
            Slot::Suspended => w.suspended(i, t0()),
            Slot::Lost => w.lost(i, t0()),
            Slot::WipedAndRemoved => {
                let mut w = w.lost(i, t0()).removed(i);
                w.task(i).task = TaskState::NotLaunched;
                w
            }
            Slot::UnstartedLearner => {
                let mut w = w.lost(i, t0()).learner(i, None);
                w.task(i).task = TaskState::NotLaunched;
                w
            }
            Slot::StartedLearner(revision) => w.learner(i, Some(revision)),
        };
    }
    if let Some(learner) = phantom {
        w = w.phantom();
        if let Some(list) = w.observed.member_list.as_mut() {
            list.iter_mut().filter(|m| m.id == MemberId(777)).for_each(|m| m.is_learner = learner);
        }
    }
    if let Some(i) = replacing.filter(|i| usize::from(*i) < count.get()) {
        w = w.replacing(i, 0, None);
    }
    w
}

fn scenario() -> impl Strategy<Value = (MemberCount, Vec<Slot>, Option<bool>, Option<u8>, bool)> {
    prop_oneof![Just(MemberCount::Three), Just(MemberCount::Five)].prop_flat_map(|count| {
        (
            Just(count),
            proptest::collection::vec(slot(), count.get()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u8..5),
            any::<bool>(),
        )
    })
}

/// Healthy voters and voters in the member list.
fn quorum_of(w: &World) -> (usize, usize) {
    let list = w.observed.member_list.clone().unwrap_or_default();
    let voters: Vec<MemberId> = list.iter().filter(|m| !m.is_learner).map(|m| m.id).collect();
    let healthy = w
        .observed
        .endpoints
        .values()
        .filter_map(|r| r.as_ref().ok())
        .filter(|s| s.is_healthy() && !s.is_learner && voters.contains(&s.id))
        .count();
    (healthy, voters.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_plan_breaks_a_membership_invariant(
        (count, slots, phantom, replacing, restore) in scenario(),
        learners in any::<bool>(),
    ) {
        let mut w = build(count, &slots, phantom, replacing);
        // Without learners (etcd 3.3) a new member joins as a voter.
        w.observed.capabilities.learners = learners;
        let mut d = desired(count);
        if restore {
            d.policy.quorum_loss = crate::manifest::desired::QuorumLossPolicy::Restore;
        }
        let plan = w.plan(&d, at(3600));
        let (healthy, voting) = quorum_of(&w);
        let list = w.observed.member_list.clone().unwrap_or_default();
        let membership: Vec<&Step> = plan.steps().map(|(s, _)| s).filter(|s| s.changes_membership()).collect();
        let disruptive = plan.steps().filter(|(s, _)| s.is_disruptive()).count();
        prop_assert!(membership.len() <= 1, "two membership changes in one pass: {plan:#?}");
        prop_assert!(disruptive <= 1, "two disruptive steps in one pass: {plan:#?}");
        for step in membership {
            prop_assert!(healthy > voting / 2, "membership change without a reachable quorum: {step:?}");
            match step {
                Step::RemoveMember { id, .. } => {
                    let removed_is_healthy_voter = w.observed.endpoints.values().any(|r| {
                        r.as_ref().is_ok_and(|s| s.id == *id && s.is_healthy() && !s.is_learner)
                    });
                    let was_voter = list.iter().any(|m| m.id == *id && !m.is_learner);
                    let healthy_after = healthy - usize::from(removed_is_healthy_voter);
                    let voting_after = voting - usize::from(was_voter);
                    prop_assert!(healthy_after > voting_after / 2, "removal leaves no quorum: {step:?}");
                }
                Step::AddLearner { .. } => {
                    prop_assert!(learners, "a learner added where a member runs etcd 3.3: {plan:#?}");
                    prop_assert!(!list.iter().any(|m| m.is_learner), "a second learner added: {plan:#?}");
                    prop_assert!(!list.iter().any(|m| m.name.is_empty()), "added before the previous one started");
                }
                Step::AddMember { .. } => {
                    prop_assert!(!learners, "a voter added where learners work: {plan:#?}");
                    prop_assert!(healthy > voting.div_ceil(2), "the new voter would cost the quorum: {plan:#?}");
                    prop_assert!(!list.iter().any(|m| m.is_learner || m.name.is_empty()), "added before the previous one started");
                }
                Step::PromoteLearner { id, .. } => {
                    let started = w.observed.endpoints.values().any(|r| r.as_ref().is_ok_and(|s| s.id == *id && s.is_learner));
                    prop_assert!(started, "promoted a learner that does not answer");
                }
                _ => {}
            }
        }
        for (step, _) in plan.steps() {
            if matches!(step, Step::RestoreFromSurvivor { .. } | Step::RestoreFromBackup { .. }) {
                prop_assert!(w.observed.healthy_voters() < count.quorum(), "a restore while a quorum is reachable");
            }
            if let Step::WipeMember { pod } | Step::RestartInPlace { pod, .. } = step {
                prop_assert!(!w.observed.is_healthy(*pod), "{step:?} on a healthy member");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Where the platform replaces pods and changes membership itself, the controller
    /// never does: no wipe, no launch, no learner, no promotion, no removal of a slot's
    /// member (only of a phantom), no bootstrap, no automatic restore; it asks for at
    /// most one replacement per pass, and never again for one already asked for. (It
    /// may ask for the restart of each crashed pod: that changes nothing of a member.)
    #[test]
    fn a_platform_that_replaces_by_itself_is_never_second_guessed(
        (count, slots, phantom, replacing, restore) in scenario(),
        requested in any::<bool>(),
    ) {
        let mut w = build(count, &slots, phantom, replacing);
        w.observed.capabilities = crate::model::capabilities::Capabilities::DCOS;
        if let Some(r) = w.history.in_flight.join_mut() {
            r.requested_at = requested.then(t0);
        }
        let mut d = desired(count);
        if restore {
            d.policy.quorum_loss = crate::manifest::desired::QuorumLossPolicy::Restore;
        }
        let plan = w.plan(&d, at(3600));
        let replaces = plan.steps().filter(|(s, _)| matches!(s, Step::RequestReplace { .. })).count();
        prop_assert!(replaces <= 1, "{plan:#?}");
        for (step, _) in plan.steps() {
            let ours = matches!(
                step,
                Step::WipeMember { .. }
                    | Step::AddLearner { .. }
                    | Step::AddMember { .. }
                    | Step::LaunchReplacement { .. }
                    | Step::PromoteLearner { .. }
                    | Step::RejoinReplacement { .. }
                    | Step::RestartInPlace { .. }
                    | Step::Bootstrap { .. }
                    | Step::WipeFailedBootstrap { .. }
                    | Step::RestoreFromSurvivor { .. }
                    | Step::RestoreFromBackup { .. }
                    | Step::ReadSurvivor { .. }
                    | Step::RemoveMember { pod: Some(_), .. }
                    | Step::BeginScaleUp { .. }
                    | Step::MoveLeader { .. }
            );
            prop_assert!(!ours, "the controller did the platform's work: {step:?} in {plan:#?}");
            if let Step::RequestRestart { pod } = step {
                prop_assert!(!w.observed.is_healthy(*pod), "{step:?} on a healthy member");
            }
            if let Step::RequestScaleUp { members, .. } = step {
                let voters = w.observed.member_list.as_ref().map_or(0, |l| l.iter().filter(|m| !m.is_learner).count());
                prop_assert!(voters < *members, "grown while etcd lists {voters} voters: {plan:#?}");
            }
            if let Step::RequestReplace { pod } = step {
                prop_assert!(!requested || w.history.in_flight.join().is_none_or(|r| r.pod != *pod), "asked twice: {plan:#?}");
            }
        }
    }
}
