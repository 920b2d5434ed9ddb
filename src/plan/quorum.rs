//! The quorum arithmetic every membership rule checks (pure).

use crate::domain::MemberId;
use crate::model::Observed;
use crate::model::etcd::ListedMember;

/// The voting members of the member list and how many of them are healthy.
pub(super) struct Quorum {
    voting: usize,
    healthy: usize,
}

impl Quorum {
    /// Counts the voters of `list` and the healthy ones among them.
    pub(super) fn of(observed: &Observed, list: &[ListedMember]) -> Self {
        let (voting, healthy) = observed.voters_of(list);
        Self { voting, healthy }
    }

    /// How many healthy voters a quorum of `voting` members needs.
    pub(super) fn needed(voting: usize) -> usize {
        voting / 2 + 1
    }

    /// Whether the healthy voters make a quorum now.
    pub(super) fn holds(&self) -> bool {
        self.healthy >= Self::needed(self.voting)
    }

    /// Whether every voter is healthy and a quorum still holds with one of them paused
    /// (a defragmentation): never for a single voter.
    pub(super) fn tolerates_a_pause(&self) -> bool {
        self.healthy == self.voting && self.healthy > Self::needed(self.voting)
    }

    /// Whether a quorum holds now and still holds once voter `id` has left.
    pub(super) fn holds_without(&self, observed: &Observed, id: MemberId) -> bool {
        let leaving_healthy = observed
            .endpoints
            .values()
            .filter_map(|r| r.as_ref().ok())
            .any(|s| s.id == id && s.is_healthy_voter());
        let healthy_after = self.healthy - usize::from(leaving_healthy);
        self.holds() && self.voting > 1 && healthy_after >= Self::needed(self.voting - 1)
    }

    /// Whether a quorum still holds once a new voter that does not answer yet has
    /// joined (etcd 3.3, without learners): every voter counts until it has caught up.
    pub(super) fn holds_with_one_more(&self) -> bool {
        self.healthy >= Self::needed(self.voting + 1)
    }

    /// One phrase for messages.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} of {} voting members healthy; quorum needs {}",
            self.healthy,
            self.voting,
            Self::needed(self.voting)
        )
    }
}
