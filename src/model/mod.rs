//! Values only: what the controller observed and recorded, read by the planner and
//! status. Nothing here does I/O; the adapters (`platform`, `etcd`, `store`) produce
//! these values and `observe` gathers them.

pub mod backup;
pub mod capabilities;
pub mod catalog;
pub mod drill;
pub mod etcd;
pub mod history;
pub mod lineage;
pub mod membership;
pub mod metrics;
pub mod operation;
pub mod platform;
pub mod strangers;

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::domain::PodName;
use backup::{BackupFailure, ScaleRefusal};
use capabilities::Capabilities;
use catalog::BackupRecord;
use etcd::{EndpointStatus, ListedMember};
pub use history::{History, Restarts, Seen};
pub use operation::{
    BootstrapAttempt, ChosenSource, InFlight, JoinKind, Operation, OperationKind, Replacement, RestoreBy,
    RestoreInFlight, RestoreOp, SavedSnapshot, ScaleAdmission,
};
use platform::PlatformObservation;

/// Everything one pass saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// When the observation was made.
    pub at: Timestamp,
    /// The platform's member slots.
    pub platform: PlatformObservation,
    /// What each member that could be asked said about itself, by pod; an error text
    /// where it did not answer.
    pub endpoints: BTreeMap<PodName, Result<EndpointStatus, String>>,
    /// The member list, from a healthy member (the leader when it answers); `None`
    /// when no member answered.
    pub member_list: Option<Vec<ListedMember>>,
    /// The member `member_list` was read from: it has applied every membership change
    /// the list shows.
    pub member_list_from: Option<PodName>,
    /// The backup catalog and the last backup failure, from the store.
    pub backups: BackupView,
    /// What the platform does by itself and lets the controller do.
    pub capabilities: Capabilities,
    /// Data directories a restore moved aside, where this machine holds them.
    pub kept_aside: Vec<KeptAside>,
    /// What the metrics port answered, for each member whose client port did not
    /// (where the platform has one, `Platform::metrics`).
    pub metrics: BTreeMap<PodName, metrics::MetricsAnswer>,
    /// The certificate that expires first among those the cluster's TLS rests on.
    pub certificates: Option<CertificateExpiry>,
}

/// A certificate's expiry: when, whose, and in which file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateExpiry {
    /// When it stops being valid.
    pub not_after: Timestamp,
    /// Its subject (`CN=etcd-warden`).
    pub subject: String,
    /// The file that holds it.
    pub file: String,
}

/// A data directory a restore moved aside (`<data_dir>.before-restore-<unix seconds>`),
/// kept for the operator until `recovery.keptAside` newer ones replace it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptAside {
    /// The member whose data it was.
    pub pod: PodName,
    /// Where it is.
    pub path: String,
    /// How many bytes its files hold.
    pub size_bytes: u64,
}

/// What the controller knows of the cluster's backups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupView {
    /// Every backup in the catalog.
    pub records: Vec<BackupRecord>,
    /// The last failed backup attempt, if it is newer than the last success.
    pub last_failure: Option<BackupFailure>,
    /// The last member count change `apply` refused for want of a fresh backup.
    pub scale_refusal: Option<ScaleRefusal>,
    /// The last restore drill.
    pub last_drill: Option<drill::DrillReport>,
}

impl Observed {
    /// The status of a member that answered.
    pub fn endpoint(&self, pod: PodName) -> Option<&EndpointStatus> {
        self.endpoints.get(&pod).and_then(|r| r.as_ref().ok())
    }

    /// Whether the member answered and is healthy.
    pub fn is_healthy(&self, pod: PodName) -> bool {
        self.endpoint(pod).is_some_and(EndpointStatus::is_healthy)
    }

    /// Whether the slot's metrics port vouches for the member the slot holds (by member
    /// ID, as `seen` recorded it answering at the slot's client URL) running with a
    /// leader, while its client port fails: etcd runs in its cluster, and what fails is
    /// the controller's client connection to it.
    pub fn vouched_for(&self, seen: &Seen, pod: PodName) -> bool {
        let member = seen.slots.get(&pod).map(|m| m.id);
        !self.is_healthy(pod)
            && member.is_some_and(|id| self.metrics.get(&pod).is_some_and(|m| m.vouches_for(id)))
    }

    /// The healthy voting member with the highest revision (the leader when revisions
    /// tie): the source of snapshots and the endpoint for membership calls.
    pub fn best_source(&self) -> Option<(PodName, String)> {
        self.best_source_other_than(None)
    }

    /// The best source that is not `except`: the member a membership call about
    /// `except` goes through, so that no member is asked to remove itself.
    pub fn best_source_other_than(&self, except: Option<PodName>) -> Option<(PodName, String)> {
        self.platform
            .tasks
            .iter()
            .filter(|t| Some(t.pod) != except)
            .filter_map(|t| self.endpoint(t.pod).filter(|s| s.is_healthy_voter()).map(|s| (t, s)))
            .max_by_key(|(t, s)| (s.revision, s.leader == Some(s.id), std::cmp::Reverse(t.pod)))
            .map(|(t, _)| (t.pod, t.client_url.clone()))
    }

    /// How many members `list` counts as voters, and how many of those answer as
    /// healthy voters now.
    pub fn voters_of(&self, list: &[ListedMember]) -> (usize, usize) {
        let voters: Vec<_> = list.iter().filter(|m| !m.is_learner).map(|m| m.id).collect();
        let healthy = self
            .endpoints
            .values()
            .filter_map(|r| r.as_ref().ok())
            .filter(|s| s.is_healthy_voter() && voters.contains(&s.id))
            .count();
        (voters.len(), healthy)
    }

    /// Whether a quorum of the voters of `list` answers healthy.
    pub fn has_quorum(&self, list: &[ListedMember]) -> bool {
        let (voting, healthy) = self.voters_of(list);
        voting > 0 && healthy > voting / 2
    }

    /// Whether any member that answers holds a revision beyond a first bootstrap's (1):
    /// the cluster served data, whatever the history says.
    pub fn served(&self) -> bool {
        self.endpoints.values().filter_map(|r| r.as_ref().ok()).any(|s| s.revision > 1)
    }

    /// The number of healthy voting members.
    pub fn healthy_voters(&self) -> usize {
        self.endpoints.values().filter_map(|r| r.as_ref().ok()).filter(|s| s.is_healthy_voter()).count()
    }
}
