//! Property tests of the safety rules: no restore from a learner, never a restore
//! source older than another available one, never a restart in place without a WAL,
//! restarts in place bounded and spaced.

use jiff::SignedDuration;
use proptest::prelude::*;

use crate::domain::MemberId;
use crate::manifest::desired::{MemberCount, QuorumLossPolicy};
use crate::model::Restarts;
use crate::model::etcd::EndpointStatus;
use crate::model::platform::DataState;
use crate::plan::*;
use crate::testing::world::{at, backup_record, desired, pod, world};

/// What became of one member after a quorum loss.
#[derive(Debug, Clone)]
enum Fate {
    /// Its data is gone.
    Lost,
    /// Its process exited; its data is intact.
    Crashed,
    /// It answers alone (no leader) at this revision.
    Alone(i64),
    /// It was a learner, never a voter, answering at this revision.
    Learner(i64),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        Just(Fate::Lost),
        Just(Fate::Crashed),
        (1i64..1000).prop_map(Fate::Alone),
        (1i64..1000).prop_map(Fate::Learner),
    ]
}

/// Members, and backups as (revision, seconds before the pass; negative: in the future).
fn loss() -> impl Strategy<Value = (Vec<Fate>, Vec<(i64, i64)>)> {
    prop_oneof![Just(3usize), Just(5usize)].prop_flat_map(|n| {
        (proptest::collection::vec(fate(), n), proptest::collection::vec((1i64..1000, -600i64..3000), 0..4))
    })
}

fn build(fates: &[Fate], backups: &[(i64, i64)]) -> crate::testing::world::World {
    let mut w = world(fates.len());
    let now = at(600);
    w.history.seen.quorum_seen_at = Some(at(500));
    w.history.seen.last_revision = Some((500, at(500)));
    for (i, f) in fates.iter().enumerate() {
        let p = pod(i as u8);
        w.history.seen.healthy_seen.insert(p, at(400));
        match f {
            Fate::Lost => w = w.lost(i as u8, at(0)),
            Fate::Crashed => w = w.exited(i as u8, at(0)),
            Fate::Alone(revision) | Fate::Learner(revision) => {
                let learner = matches!(f, Fate::Learner(_));
                let status = EndpointStatus {
                    id: MemberId(100 + i as u64),
                    leader: None,
                    revision: *revision,
                    db_size_bytes: 1,
                    db_size_in_use_bytes: 1,
                    db_size_quota_bytes: 0,
                    slow_reads: false,
                    is_learner: learner,
                    errors: vec![],
                    version: "3.4.13".to_owned(),
                    cluster_id: 0,
                };
                w.observed.endpoints.insert(p, Ok(status));
                if let Some(m) = w.history.seen.members.iter_mut().find(|m| m.id == MemberId(100 + i as u64))
                {
                    m.is_learner = learner;
                }
            }
        }
    }
    w.observed.member_list = None;
    for (revision, ago) in backups {
        let taken_at = now - SignedDuration::from_secs(*ago);
        w.observed.backups.records.push(backup_record(taken_at, *revision));
    }
    w
}

/// Randomly damaged data of a crashed member, and its past restarts.
fn crash() -> impl Strategy<Value = (u8, i64, u32, i64, u8)> {
    (0u8..3, 0i64..600, 0u32..8, 0i64..600, 0u8..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_restore_never_takes_a_learner_nor_a_source_older_than_another_available((fates, backups) in loss()) {
        let count = if fates.len() == 3 { MemberCount::Three } else { MemberCount::Five };
        let mut d = desired(count);
        d.policy.quorum_loss = QuorumLossPolicy::Restore;
        d.policy.max_data_loss = std::time::Duration::from_secs(100_000);
        let w = build(&fates, &backups);
        let plan = w.plan(&d, at(600));
        let voter_best = fates.iter().filter_map(|f| match f { Fate::Alone(r) => Some(*r), _ => None }).max();
        let backup_best = backups.iter().filter(|(_, ago)| *ago >= 0).map(|(r, _)| *r).max();
        let best = voter_best.max(backup_best);
        for (step, _) in plan.steps() {
            match step {
                Step::RestoreFromSurvivor { pod, .. } => {
                    let f = &fates[usize::from(pod.index())];
                    let Fate::Alone(revision) = f else {
                        return Err(TestCaseError::fail(format!("restore from a non-voter or silent member: {f:?}")));
                    };
                    prop_assert_eq!(Some(*revision), best, "an older source was taken: {:#?}", plan);
                }
                Step::RestoreFromBackup { id } => {
                    let record = w.observed.backups.records.iter().find(|r| &r.id == id).expect("known backup");
                    prop_assert!(record.taken_at <= at(600), "a backup dated in the future was taken");
                    prop_assert_eq!(Some(record.revision), best, "an older source was taken: {:#?}", plan);
                }
                Step::RestartInPlace { pod, .. } | Step::ReadSurvivor { pod } => {
                    prop_assert!(matches!(fates[usize::from(pod.index())], Fate::Crashed));
                }
                other => return Err(TestCaseError::fail(format!("unexpected step after a quorum loss: {other:?}"))),
            }
        }
    }

    #[test]
    fn a_restart_in_place_needs_intact_data_and_is_bounded_and_spaced(
        (slot, down_for, count, last_ago, data) in crash()
    ) {
        let d = desired(MemberCount::Three);
        let now = at(600);
        let mut w = world(3).exited(slot, now - SignedDuration::from_secs(down_for));
        let data = match data {
            0 => DataState::Intact,
            1 => DataState::Missing,
            _ => DataState::Unreadable("EIO".into()),
        };
        w.task(slot).data = data.clone();
        let last = now - SignedDuration::from_secs(last_ago);
        if count > 0 {
            w.history.seen.restarts.insert(pod(slot), Restarts { count, last });
        }
        let plan = w.plan(&d, now);
        for (step, _) in plan.steps() {
            if let Step::RestartInPlace { pod: p, .. } = step {
                prop_assert_eq!(*p, pod(slot));
                prop_assert_eq!(&data, &DataState::Intact, "restarted in place without a WAL");
                prop_assert!(count < d.recovery.max_restarts, "restarts beyond maxRestarts");
                let pause = super::restart::backoff(&d, count);
                let from = if count > 0 { last } else { now - SignedDuration::from_secs(down_for) };
                prop_assert!(now >= window_end(from, pause), "restarted before its backoff ended");
            }
        }
    }

    #[test]
    fn a_replacements_first_change_waits_for_its_window_and_a_recent_snapshot(
        (slot, lost_at, now, snapshot_ago, dcos) in (0u8..3, 0i64..100, 0i64..200, proptest::option::of(0i64..200), any::<bool>())
    ) {
        let d = desired(MemberCount::Three);
        let end = lost_at + d.recovery.agent_lost_after.as_secs() as i64;
        let ahead = super::replace_window::SNAPSHOT_AHEAD.as_secs() as i64;
        let mut w = world(3).lost(slot, at(lost_at));
        let snapshot = snapshot_ago.map(|ago| now - ago);
        if let Some(taken) = snapshot {
            w = w.replacing(slot, 0, None).snapshot_at(at(taken));
        }
        if dcos {
            w.observed.capabilities = crate::model::capabilities::Capabilities::DCOS;
        }
        let plan = w.plan(&d, at(now));
        for (step, _) in plan.steps() {
            if let Step::SnapshotBeforeReplace { .. } = step {
                prop_assert!(now + ahead >= end, "a snapshot more than 10 s ahead of the window: {plan:#?}");
            } else if step.is_disruptive() {
                prop_assert!(now >= end, "a change before the window ended: {plan:#?}");
                prop_assert!(snapshot.is_some_and(|t| t + ahead >= end), "a change without a recent snapshot: {plan:#?}");
            }
        }
    }
}
