//! Who is who: each member slot tied to the etcd members that are its, by member ID.
//!
//! A member is who etcd says it is. The member ID that answers at a slot's client URL
//! is that slot's member, and the history records it with the peer URLs etcd lists
//! for it. A slot that does not answer is tied through that record. Only a member
//! never seen answering anywhere is tied by the URLs etcd lists for it: its client
//! URLs (the address the slot is asked at), or, for the member the controller itself
//! added to a slot and which has not started yet, the peer URL it recorded before the
//! add. A
//! peer URL computed from the manifest is never compared with etcd's: on DC/OS the
//! package's wrapper script advertises its own form, and a host alias (`localhost`
//! for `127.0.0.1`) would make every member a stranger.
//!
//! This is the one place that compares URLs with the member list. Rules, status and
//! history ask it.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::Observed;
use super::etcd::ListedMember;
use super::operation::Replacement;
use crate::domain::{MemberId, PodName};

/// The member a slot was last seen answering as, with the peer URLs etcd listed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotMember {
    /// The member ID that answered at the slot's client URL.
    pub id: MemberId,
    /// The peer URLs etcd lists for that member.
    pub peer_urls: Vec<String>,
}

/// How a listed member was tied to its slot, from the strongest evidence down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tie {
    /// It answers at the slot's client URL now.
    Answered,
    /// It answered there before, as the history records.
    Recorded,
    /// The controller added it to the slot (a replacement or a scale-up in flight) and
    /// it has not answered yet.
    Joining,
    /// It never answered; etcd lists the slot's client URL among its client URLs.
    ClientUrl,
}

/// The members of one member list, each tied to a slot or to none.
#[derive(Debug, Clone, Default)]
pub struct Membership<'a> {
    tied: Vec<(&'a ListedMember, PodName, Tie)>,
    unknown: Vec<&'a ListedMember>,
}

impl<'a> Membership<'a> {
    /// Ties every member of `list` to the slot it belongs to (see the module docs).
    ///
    /// `slots` are the members each slot was last seen answering as (`Seen::slots`);
    /// `joining` is the slot getting a new member now (`InFlight::join`).
    pub fn join(
        observed: &Observed,
        slots: &BTreeMap<PodName, SlotMember>,
        joining: Option<&Replacement>,
        list: &'a [ListedMember],
    ) -> Self {
        let tasks = &observed.platform.tasks;
        let answered = |m: &ListedMember| {
            tasks.iter().find(|t| observed.endpoint(t.pod).is_some_and(|s| s.id == m.id)).map(|t| t.pod)
        };
        let recorded = |m: &ListedMember| slots.iter().find(|(_, r)| r.id == m.id).map(|(pod, _)| *pod);
        let joining = |m: &ListedMember| {
            let r = joining?;
            let added = r.added_voter == Some(m.id);
            // Added by the controller with the peer URL it recorded before the add, and
            // not started yet (a learner, or a voter without learners). A replacement
            // recorded before that URL was kept has the platform's URL for the slot, the
            // one it was added with then.
            let unstarted = m.name.is_empty() || m.is_learner;
            let url = match &r.added_peer_url {
                Some(url) => m.peer_urls.contains(url),
                None => {
                    tasks.iter().find(|t| t.pod == r.pod).is_some_and(|t| m.peer_urls.contains(&t.peer_url))
                }
            };
            (added || (unstarted && url)).then_some(r.pod)
        };
        let by_client_url = |m: &ListedMember| {
            tasks
                .iter()
                .find(|t| !t.client_url.is_empty() && m.client_urls.contains(&t.client_url))
                .map(|t| t.pod)
        };
        let mut membership = Self::default();
        for member in list {
            let tie = answered(member)
                .map(|pod| (pod, Tie::Answered))
                .or_else(|| recorded(member).map(|pod| (pod, Tie::Recorded)))
                .or_else(|| joining(member).map(|pod| (pod, Tie::Joining)))
                .or_else(|| by_client_url(member).map(|pod| (pod, Tie::ClientUrl)));
            match tie {
                Some((pod, tie)) => membership.tied.push((member, pod, tie)),
                None => membership.unknown.push(member),
            }
        }
        membership
    }

    /// The slot `id` belongs to, if any.
    pub fn slot_of(&self, id: MemberId) -> Option<PodName> {
        self.tied.iter().find(|(m, _, _)| m.id == id).map(|(_, pod, _)| *pod)
    }

    /// Every listed member of `pod`: one, or two while a new member joins beside the
    /// failed one it replaces.
    pub fn of(&self, pod: PodName) -> impl Iterator<Item = &'a ListedMember> + '_ {
        self.tied.iter().filter(move |(_, p, _)| *p == pod).map(|(m, _, _)| *m)
    }

    /// The slots whose client URL answered as a listed member, each with that member's
    /// record: what the history keeps of who each slot is.
    pub fn answered(&self) -> impl Iterator<Item = (PodName, SlotMember)> + '_ {
        self.tied
            .iter()
            .filter(|(_, _, tie)| *tie == Tie::Answered)
            .map(|(m, pod, _)| (*pod, SlotMember { id: m.id, peer_urls: m.peer_urls.clone() }))
    }

    /// The slot's member as etcd lists it: the one that answers there, else its
    /// strongest tie.
    pub fn member(&self, pod: PodName) -> Option<&'a ListedMember> {
        self.tied.iter().filter(|(_, p, _)| *p == pod).min_by_key(|(_, _, tie)| *tie).map(|(m, _, _)| *m)
    }

    /// The member the controller added to `pod` and that has not answered yet (a
    /// replacement or a scale-up in flight), known by its recorded ID or by the peer URL
    /// recorded before the add.
    pub fn joining(&self, pod: PodName) -> Option<&'a ListedMember> {
        self.tied.iter().find(|(_, p, tie)| *p == pod && *tie == Tie::Joining).map(|(m, _, _)| *m)
    }

    /// The slot's voter, if it has one.
    pub fn voter(&self, pod: PodName) -> Option<&'a ListedMember> {
        self.of(pod).find(|m| !m.is_learner)
    }

    /// Whether the slot has a listed member at all.
    pub fn lists(&self, pod: PodName) -> bool {
        self.of(pod).next().is_some()
    }

    /// The listed members tied to no slot.
    pub fn unknown(&self) -> &[&'a ListedMember] {
        &self.unknown
    }

    /// The voters tied to no slot: never counted as lost, reported by name.
    pub fn unknown_voters(&self) -> impl Iterator<Item = &'a ListedMember> + '_ {
        self.unknown.iter().copied().filter(|m| !m.is_learner)
    }
}
