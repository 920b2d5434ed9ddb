//! Observation: what the platform and etcd say now, as owned domain snapshots.
//!
//! `observe` reads the whole world every pass (level-triggered). It never acts.

pub mod etcd;
mod history;
pub mod platform;

use std::collections::BTreeMap;

use jiff::Timestamp;

pub use crate::backup::BackupFailure;
use crate::backup::catalog::BackupRecord;
use crate::domain::PodName;
pub use etcd::{EndpointStatus, EtcdAdmin, ListedMember};
pub use history::{
    BootstrapAttempt, ChosenSource, History, JoinKind, Replacement, Restarts, RestoreInFlight, SavedSnapshot,
    ScaleAdmission,
};
use platform::{Platform, PlatformError, PlatformObservation, TaskState};

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
    /// The backup catalog and the last backup failure, from the store.
    pub backups: BackupView,
}

/// What the controller knows of the cluster's backups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupView {
    /// Every backup in the catalog.
    pub records: Vec<BackupRecord>,
    /// The last failed backup attempt, if it is newer than the last success.
    pub last_failure: Option<BackupFailure>,
    /// The last member count change `apply` refused for want of a fresh backup.
    pub scale_refusal: Option<BackupFailure>,
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

    /// The number of healthy voting members.
    pub fn healthy_voters(&self) -> usize {
        self.endpoints.values().filter_map(|r| r.as_ref().ok()).filter(|s| s.is_healthy_voter()).count()
    }
}

/// Observes the platform and every member that runs.
///
/// # Errors
/// Only when the platform cannot be observed; unreachable members are part of the
/// observation, not errors.
pub async fn observe<P: Platform>(
    platform: &P,
    admin: &EtcdAdmin,
    at: Timestamp,
) -> Result<Observed, PlatformError> {
    let tasks = platform.observe().await?;
    let asks = tasks.tasks.iter().filter(|t| t.task == TaskState::Running).map(|t| async move {
        let answer = admin.status(&t.client_url).await.map_err(|e| e.to_string());
        (t.pod, answer)
    });
    let endpoints: BTreeMap<_, _> = futures::future::join_all(asks).await.into_iter().collect();
    let mut sources: Vec<(PodName, bool)> = endpoints
        .iter()
        .filter_map(|(pod, r)| {
            r.as_ref().ok().filter(|s| s.is_healthy()).map(|s| (*pod, s.leader == Some(s.id)))
        })
        .collect();
    // The leader first, then the others in pod order.
    sources.sort_by_key(|(pod, leader)| (!leader, *pod));
    let mut member_list = None;
    for (pod, _) in sources {
        let Some(task) = tasks.task(pod) else { continue };
        if let Ok(list) = admin.member_list(&task.client_url).await {
            member_list = Some(list);
            break;
        }
    }
    Ok(Observed { at, platform: tasks, endpoints, member_list, backups: BackupView::default() })
}
