//! Strangers: a member of another etcd cluster answering at a slot's client URL.
//!
//! A slot's URL is only where its member is expected. When the member is down, the port
//! can be taken by anything, another etcd included: a second controller's member on the
//! same machine, a cluster someone started by hand, an old member of a cluster this one
//! was restored from. Such a member answers every call, often as a healthy leader, and
//! taking its member list for this cluster's would steer membership changes, backups
//! and restores at a cluster that is not ours.
//!
//! etcd names the cluster each answer comes from (the response header's cluster ID).
//! Every pass first settles which cluster is ours, then turns every answer of another
//! cluster into a failure that names it: the slot counts as not answering, and status
//! says who answers there instead.

use std::collections::BTreeMap;

use crate::domain::PodName;

use super::etcd::EndpointStatus;
use super::lineage::hex;

/// The answers of one pass, by slot.
pub type Answers = BTreeMap<PodName, Result<EndpointStatus, String>>;

/// The etcd cluster the answers belong to, given the cluster last seen with a quorum
/// (`last_seen`, from the history) and how many slots there are:
///
/// - the last seen cluster while any slot answers for it: a stranger never displaces a
///   member of ours that still answers;
/// - otherwise another cluster only when it answers at a quorum of the slots (ours
///   was replaced as a whole, by a restore made by hand): a stranger squatting on a
///   minority of the slots is never taken for ours while ours is down;
/// - with no cluster seen yet, the cluster answering at the most slots, the lowest
///   slot breaking a tie.
///
/// `None` when nothing answers with a cluster ID, or only strangers do.
pub fn our_cluster(answers: &Answers, last_seen: Option<u64>, slots: usize) -> Option<u64> {
    let mut count: BTreeMap<u64, (usize, PodName)> = BTreeMap::new();
    for (pod, status) in answers {
        let Ok(status) = status else { continue };
        if status.cluster_id == 0 {
            continue;
        }
        let entry = count.entry(status.cluster_id).or_insert((0, *pod));
        entry.0 += 1;
        entry.1 = entry.1.min(*pod);
    }
    if last_seen.is_some_and(|id| count.contains_key(&id)) {
        return last_seen;
    }
    // Most slots first; on a tie, the cluster answering at the lowest slot.
    let most = count.iter().max_by(|a, b| (a.1.0, b.1.1).cmp(&(b.1.0, a.1.1))).map(|(id, (n, _))| (*id, *n));
    match (last_seen, most) {
        (Some(seen), Some((id, n))) => Some(if n > slots / 2 { id } else { seen }),
        (Some(seen), None) => Some(seen),
        (None, most) => most.map(|(id, _)| id),
    }
}

/// Turns every answer of a cluster other than `ours` into a failure naming who answers.
/// An answer that names no cluster (ID 0) is kept.
pub fn set_aside(answers: &mut Answers, ours: u64) {
    for answer in answers.values_mut() {
        let stranger = match answer {
            Ok(status) if status.cluster_id != 0 && status.cluster_id != ours => status,
            _ => continue,
        };
        *answer = Err(format!(
            "another etcd cluster answers at this member's client URL (member {}, cluster {}, not this cluster {}): \
             its port was taken while the member was down; stop that process or free the port",
            stranger.id,
            hex(stranger.cluster_id),
            hex(ours)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MemberId;

    fn answer(cluster_id: u64, id: u64) -> Result<EndpointStatus, String> {
        Ok(EndpointStatus {
            id: MemberId(id),
            leader: Some(MemberId(id)),
            revision: 5,
            db_size_bytes: 100,
            db_size_in_use_bytes: 100,
            db_size_quota_bytes: 0,
            slow_reads: false,
            is_learner: false,
            errors: Vec::new(),
            version: "3.4.23".to_owned(),
            cluster_id,
        })
    }

    fn pod(index: u8) -> PodName {
        PodName::new(index).unwrap()
    }

    fn answers(by_slot: &[Result<EndpointStatus, String>]) -> Answers {
        by_slot.iter().enumerate().map(|(i, a)| (pod(u8::try_from(i).unwrap()), a.clone())).collect()
    }

    const OURS: u64 = 0xa;
    const THEIRS: u64 = 0xb;

    #[test]
    fn a_stranger_never_displaces_a_member_of_ours_that_answers() {
        // Ours at etcd-0 only, a stranger at etcd-1 (say, its leader), etcd-2 down.
        let seen = answers(&[answer(OURS, 1), answer(THEIRS, 9), Err("refused".into())]);
        assert_eq!(our_cluster(&seen, Some(OURS), 3), Some(OURS));
        // Even at a majority of the slots: ours still answers at one.
        let seen = answers(&[answer(OURS, 1), answer(THEIRS, 9), answer(THEIRS, 8)]);
        assert_eq!(our_cluster(&seen, Some(OURS), 3), Some(OURS));
    }

    #[test]
    fn with_ours_down_a_stranger_needs_a_quorum_of_the_slots() {
        let squatter = answers(&[Err("refused".into()), answer(THEIRS, 9), Err("refused".into())]);
        assert_eq!(our_cluster(&squatter, Some(OURS), 3), Some(OURS), "a squatter on one slot of three");
        let restored_by_hand = answers(&[answer(THEIRS, 7), answer(THEIRS, 8), Err("refused".into())]);
        assert_eq!(our_cluster(&restored_by_hand, Some(OURS), 3), Some(THEIRS));
        let two_of_five = answers(&[
            answer(THEIRS, 7),
            answer(THEIRS, 8),
            Err("refused".into()),
            Err("refused".into()),
            Err("refused".into()),
        ]);
        assert_eq!(our_cluster(&two_of_five, Some(OURS), 5), Some(OURS));
    }

    #[test]
    fn with_no_cluster_seen_yet_the_most_slots_then_the_lowest_slot_decide() {
        let seen = answers(&[answer(THEIRS, 9), answer(OURS, 1), answer(OURS, 2)]);
        assert_eq!(our_cluster(&seen, None, 3), Some(OURS));
        let tie = answers(&[answer(THEIRS, 9), answer(OURS, 1)]);
        assert_eq!(our_cluster(&tie, None, 3), Some(THEIRS));
        let tie = answers(&[answer(OURS, 1), answer(THEIRS, 9)]);
        assert_eq!(our_cluster(&tie, None, 3), Some(OURS));
        assert_eq!(our_cluster(&answers(&[Err("refused".into())]), None, 1), None);
        assert_eq!(our_cluster(&answers(&[answer(0, 1)]), None, 1), None, "no cluster ID, no decision");
    }

    #[test]
    fn a_strangers_answer_becomes_a_failure_that_names_it_and_ours_are_kept() {
        let mut seen = answers(&[answer(OURS, 1), answer(THEIRS, 9), answer(0, 3), Err("refused".into())]);
        set_aside(&mut seen, OURS);
        assert!(seen[&pod(0)].is_ok());
        let failure = seen[&pod(1)].clone().unwrap_err();
        for words in ["another etcd cluster", &MemberId(9).to_string(), &hex(THEIRS), &hex(OURS)] {
            assert!(failure.contains(words), "{words:?} missing from {failure}");
        }
        assert!(seen[&pod(2)].is_ok(), "no cluster ID: kept");
        assert_eq!(seen[&pod(3)], Err("refused".into()));
    }
}
