//! Property tests of identity: a member is who etcd says it is. Whatever URLs the
//! members advertise (another host name, an alias such as `localhost`, an address, a
//! peer port from another range, a trailing slash), and whether or not the history
//! recorded who each slot is, no restore, no "quorum permanently lost" and no change to
//! a serving member while a quorum of voters answers by member ID.

use proptest::prelude::*;

use crate::domain::MemberId;
use crate::manifest::desired::{MemberCount, QuorumLossPolicy};
use crate::model::etcd::ListedMember;
use crate::model::membership::SlotMember;
use crate::plan::*;
use crate::testing::world::{at, backup_record, desired, pod, world};

/// What became of a member that does not answer.
#[derive(Debug, Clone, Copy)]
enum Down {
    /// Its agent and data are gone.
    Lost,
    /// Its process exited; its data is intact.
    Crashed,
    /// Its process exited, and its data is gone.
    Wiped,
    /// Its process runs and does not answer.
    Silent,
}

/// One spelling of a member's URL as etcd lists it, unrelated to the platform's.
fn spelling(i: usize) -> impl Strategy<Value = String> {
    let host = prop_oneof![
        Just("127.0.0.1".to_owned()),
        Just("localhost".to_owned()),
        Just(format!("etcd-{i}-peer.kubernetes.autoip.dcos.thisdcos.directory")),
        Just(format!("10.0.{i}.7")),
        Just("[::1]".to_owned()),
    ];
    (prop_oneof![Just("http"), Just("https")], host, 1024u16..65000, any::<bool>()).prop_map(
        |(scheme, host, port, slash)| format!("{scheme}://{host}:{port}{}", if slash { "/" } else { "" }),
    )
}

/// One member: the peer and client URLs etcd lists for it, and how it is down (none:
/// it answers).
type Member = (String, String, Option<Down>);

/// Members (their advertised peer and client URLs, and whether they answer or how they
/// are down), with a quorum answering; whether the history recorded the slots.
fn cluster() -> impl Strategy<Value = (Vec<Member>, bool, u64)> {
    prop_oneof![Just(3usize), Just(5usize)].prop_flat_map(|n| {
        let down = prop_oneof![
            Just(None),
            Just(Some(Down::Lost)),
            Just(Some(Down::Crashed)),
            Just(Some(Down::Wiped)),
            Just(Some(Down::Silent)),
        ];
        let members: Vec<_> = (0..n).map(|i| (spelling(i), spelling(i), down.clone())).collect();
        (members, any::<bool>(), 0u64..4000).prop_filter("a quorum answers", |(m, _, _)| {
            m.iter().filter(|(_, _, d)| d.is_none()).count() > m.len() / 2
        })
    })
}

fn build(members: &[Member], recorded: bool) -> crate::testing::world::World {
    let mut w = world(members.len());
    let leader = members.iter().position(|(_, _, d)| d.is_none()).map(|i| MemberId(100 + i as u64));
    let list: Vec<ListedMember> = members
        .iter()
        .enumerate()
        .map(|(i, (peer, client, _))| ListedMember {
            id: MemberId(100 + i as u64),
            name: format!("member-{i}"),
            peer_urls: vec![peer.clone()],
            client_urls: vec![client.clone()],
            is_learner: false,
        })
        .collect();
    for (i, (_, _, down)) in members.iter().enumerate() {
        let i8 = i as u8;
        if recorded {
            let record = SlotMember { id: list[i].id, peer_urls: list[i].peer_urls.clone() };
            w.history.seen.slots.insert(pod(i8), record);
        }
        w = match down {
            None => w,
            Some(Down::Lost) => w.lost(i8, at(0)),
            Some(Down::Crashed) => w.exited(i8, at(0)),
            Some(Down::Wiped) => {
                let mut w = w.exited(i8, at(0));
                w.task(i8).data = crate::model::platform::DataState::Missing;
                w
            }
            Some(Down::Silent) => {
                w.history.seen.unanswered_since.insert(pod(i8), at(0));
                w.silent(i8)
            }
        };
    }
    for status in w.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
        status.leader = leader;
    }
    w.observed.member_list = Some(list.clone());
    w.history.seen.members = list;
    w.observed.backups.records.push(backup_record(at(-60), 40));
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_restore_and_no_change_to_a_serving_member_while_a_quorum_answers_by_id(
        (members, recorded, seconds) in cluster()
    ) {
        let mut d = desired(if members.len() == 3 { MemberCount::Three } else { MemberCount::Five });
        d.policy.quorum_loss = QuorumLossPolicy::Restore;
        let w = build(&members, recorded);
        let plan = w.plan(&d, at(seconds as i64));
        prop_assert!(!plan.decisions.iter().any(|d| matches!(d.rule, Rule::Restore | Rule::RestoreRequired)), "{plan:#?}");
        let serving = |pod: PodName| w.observed.is_healthy(pod);
        let serving_id = |id: MemberId| w.observed.endpoints.values().any(|r| r.as_ref().is_ok_and(|s| s.id == id && s.is_healthy()));
        for (step, _) in plan.steps() {
            match step {
                Step::WipeMember { pod } | Step::SnapshotBeforeReplace { pod, .. } | Step::RequestReplace { pod }
                | Step::RestartInPlace { pod, .. } | Step::ReadSurvivor { pod } => {
                    prop_assert!(!serving(*pod), "{step:?} of a serving member: {plan:#?}");
                }
                Step::RemoveMember { id, .. } => prop_assert!(!serving_id(*id), "{step:?}: {plan:#?}"),
                Step::RestoreFromSurvivor { .. } | Step::RestoreFromBackup { .. } => {
                    prop_assert!(false, "a restore while a quorum answers: {plan:#?}");
                }
                _ => {}
            }
        }
        // A member that is down is still known by its ID where the history recorded it,
        // and never taken for a stranger.
        if recorded {
            prop_assert!(!plan.decisions.iter().any(|d| d.rule == Rule::UnknownMember), "{plan:#?}");
        }
    }
}
