//! What the controller has seen over time: facts that one observation cannot show.
//!
//! Time windows ("down for longer than `restartGrace`") need to know when a failure
//! was first seen; scenario 1 needs to know whether the cluster ever served. These
//! are recorded observations (`Seen`), and the one operation in flight whose choices
//! must survive a crash (`model::operation`). They are persisted with the status. After a controller restart, and after a gap in
//! observation, the failure windows start again, which only makes it wait longer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Observed;
use super::etcd::ListedMember;
use super::lineage::Lineage;
use super::membership::{Membership, SlotMember};
pub use super::operation::InFlight;
use super::operation::{Operation, OperationKind};
use super::platform::{AgentState, PlatformRecovery, TaskState};
use crate::domain::PodName;

/// How long the NOSPACE alarm stays away before the disarms made are forgotten.
pub const DISARMS_FORGOTTEN: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Restarts in place of one member since it was last seen healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restarts {
    /// How many restarts in place did not bring the member back healthy.
    pub count: u32,
    /// When the last one was made.
    pub last: Timestamp,
}

/// Relaunches of one member's task by the platform itself (DC/OS: the SDK relaunches a
/// failed task in place) since it was last seen healthy: a crash loop on a healthy
/// agent shows as a new task run after run, none answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relaunches {
    /// The run seen last (the Mesos task ID).
    pub instance: String,
    /// How many new runs were seen since the member was first seen not healthy.
    pub count: u32,
    /// When the member was first seen not healthy.
    pub since: Timestamp,
}

/// What the controller knows beyond one observation: facts seen over time and the
/// operations in flight. Stored as one flat JSON object (the two parts are flattened),
/// so a history written before the split reads the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Facts seen over time.
    #[serde(flatten)]
    pub seen: Seen,
    /// Operations in flight, whose choices must survive a crash.
    #[serde(flatten)]
    pub in_flight: InFlight,
}

/// Facts seen over time: when failures were first seen, the last member list and
/// revision, restarts made since a member was last healthy, the last restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// Whether a quorum of members has ever answered healthy: after that, the cluster
    /// holds data and is never wiped.
    pub ever_healthy: bool,
    /// When each launched member was first seen not running.
    pub down_since: BTreeMap<PodName, Timestamp>,
    /// When each live (running or suspended) process was first seen not answering or
    /// unhealthy; cleared when the process exits, so a restart starts a new window.
    pub unanswered_since: BTreeMap<PodName, Timestamp>,
    /// When each member's agent was first seen lost.
    pub lost_since: BTreeMap<PodName, Timestamp>,
    /// The last restore and its data-loss window.
    #[serde(default)]
    pub last_restore: Option<crate::model::backup::RestoreReport>,
    /// The highest revision seen and when; reset by every restore.
    pub last_revision: Option<(i64, Timestamp)>,
    /// When a quorum of the listed voters last answered healthy.
    #[serde(default)]
    pub quorum_seen_at: Option<Timestamp>,
    /// The last member list seen: who the voters are when no member answers.
    #[serde(default)]
    pub members: Vec<ListedMember>,
    /// When each member was last seen healthy.
    #[serde(default)]
    pub healthy_seen: BTreeMap<PodName, Timestamp>,
    /// Restarts in place of members not seen healthy since.
    #[serde(default)]
    pub restarts: BTreeMap<PodName, Restarts>,
    /// The member count the platform said it cannot run, and its words: no request
    /// for that count is made again (`spec.members` must change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_cannot_scale: Option<(usize, String)>,
    /// Relaunches by the platform of members not seen healthy since.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relaunches: BTreeMap<PodName, Relaunches>,
    /// When the last observation was folded in.
    #[serde(default)]
    pub last_observed_at: Option<Timestamp>,
    /// When each member's database was last defragmented by the controller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defragmented: BTreeMap<PodName, Timestamp>,
    /// When a member was first seen reporting the NOSPACE alarm, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_space_since: Option<Timestamp>,
    /// The NOSPACE disarms made (recorded before each call), until the alarm has stayed
    /// away for [`DISARMS_FORGOTTEN`]: a disarm that did not hold is not repeated at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disarms: Option<Restarts>,
    /// The member each slot was last seen answering as, with the peer URLs etcd lists
    /// for it: how a slot that does not answer is known (`model::membership`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<PodName, SlotMember>,
    /// The etcd clusters the data descends from (`model::lineage`): which backups are
    /// this cluster's own.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
}

impl Seen {
    /// When the controller last defragmented a member, any member.
    pub fn last_defragmentation(&self) -> Option<Timestamp> {
        self.defragmented.values().max().copied()
    }

    /// Counts one more restart of `pod` (in place, or asked of the platform) at `at`.
    pub fn count_restart(&mut self, pod: PodName, at: Timestamp) {
        let count = self.restarts.get(&pod).map_or(0, |r| r.count);
        self.restarts.insert(pod, Restarts { count: count + 1, last: at });
    }
}

impl History {
    /// Forgets when failures were first seen, so that every failure window starts
    /// again: when the controller starts, and after a gap in observation.
    pub fn restart_windows(&mut self) {
        self.seen.relaunches.clear();
        self.seen.down_since.clear();
        self.seen.unanswered_since.clear();
        self.seen.lost_since.clear();
    }

    /// The voting members of the last member list seen.
    pub fn voters(&self) -> impl Iterator<Item = &ListedMember> {
        self.seen.members.iter().filter(|m| !m.is_learner)
    }

    /// Folds one observation in. An observation more than `max_gap` after the previous
    /// one starts every failure window again: what happened in between is unknown.
    pub fn record(&mut self, observed: &Observed, max_gap: std::time::Duration) {
        let gap = self.seen.last_observed_at.map(|last| observed.at.duration_since(last));
        if gap.is_some_and(|gap| gap.is_negative() || gap.unsigned_abs() > max_gap) {
            self.restart_windows();
        }
        self.seen.last_observed_at = Some(observed.at);
        self.in_flight.date_undated(observed.at);
        if let Some(list) = &observed.member_list {
            self.seen.members.clone_from(list);
        }
        // Who each slot is, as etcd says at the slot's own client URL.
        if let Some(list) = observed.member_list.as_deref() {
            let answered: Vec<_> = Membership::join(observed, &self.seen.slots, self.in_flight.join(), list)
                .answered()
                .collect();
            self.seen.slots.extend(answered);
        }
        let quorum = observed.member_list.as_deref().is_some_and(|list| observed.has_quorum(list));
        if quorum {
            self.seen.ever_healthy = true;
            self.seen.quorum_seen_at = Some(observed.at);
            // The cluster the quorum belongs to, as its healthy voters say.
            let cluster = observed
                .endpoints
                .values()
                .filter_map(|r| r.as_ref().ok())
                .filter(|s| s.is_healthy_voter() && s.cluster_id != 0)
                .map(|s| s.cluster_id)
                .next();
            if let Some(id) = cluster {
                self.seen.lineage.seen(id);
            }
        }
        for task in &observed.platform.tasks {
            self.fold_task(observed, task);
        }
        // A request whose answer was lost is settled by what the platform shows: the
        // slot being replaced means it was made.
        if let Some(r) = self.in_flight.join_mut()
            && r.uncertain.is_some()
            && observed.platform.task(r.pod).is_some_and(|t| t.recovery == PlatformRecovery::Replacing)
        {
            r.uncertain = None;
        }
        // So is a scale-up: the deploy plan rolling the etcd pods (the SDK's update plan,
        // which adds the new pods too) means the platform took it.
        if let Some(asked) = self.in_flight.scale_up_mut()
            && asked.uncertain.is_some()
            && observed.platform.rollout.is_some()
        {
            asked.uncertain = None;
        }
        let known: Vec<PodName> = observed.platform.tasks.iter().map(|t| t.pod).collect();
        self.seen.down_since.retain(|pod, _| known.contains(pod));
        self.seen.unanswered_since.retain(|pod, _| known.contains(pod));
        self.seen.lost_since.retain(|pod, _| known.contains(pod));
        self.seen.restarts.retain(|pod, _| known.contains(pod));
        self.seen.relaunches.retain(|pod, _| known.contains(pod));
        self.seen.defragmented.retain(|pod, _| known.contains(pod));
        let alarmed =
            observed.endpoints.values().filter_map(|r| r.as_ref().ok()).any(|s| s.has_no_space_alarm());
        let answered = observed.endpoints.values().any(Result::is_ok);
        if alarmed {
            self.seen.no_space_since.get_or_insert(observed.at);
        } else if answered {
            self.seen.no_space_since = None;
            let forgotten = |d: &Restarts| observed.at.duration_since(d.last) > DISARMS_FORGOTTEN;
            if self.seen.disarms.as_ref().is_some_and(forgotten) {
                self.seen.disarms = None;
            }
        }
        let top = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).map(|s| s.revision).max();
        if self.finish_by_observation(observed, quorum) {
            // The restored cluster serves: what it holds is now the newest data there is.
            self.seen.last_revision = top.map(|revision| (revision, observed.at));
        }
        if let Some(revision) = top
            && self.seen.last_revision.is_none_or(|(seen, _)| revision >= seen)
        {
            self.seen.last_revision = Some((revision, observed.at));
        }
    }

    /// The transitions an observation makes (`model::operation`): a join done once its
    /// slot's member answers as a healthy voter; a bootstrap finished once a quorum
    /// answers; a scale-up finished once its members are all voters that answer healthy
    /// and none joins; a
    /// scale-down once no slot beyond its count runs; a restore finished once a quorum
    /// answers on its chosen source, or abandoned once a quorum answers before a source
    /// was chosen (the incident ended by itself, and its survivors' snapshots go with
    /// it). True when a restore finished so.
    fn finish_by_observation(&mut self, observed: &Observed, quorum: bool) -> bool {
        let in_flight = &mut self.in_flight;
        if let Some(pod) = in_flight.join().map(|r| r.pod)
            && observed.endpoint(pod).is_some_and(|s| s.is_healthy_voter())
        {
            in_flight.join_done(pod);
        }
        let list = observed.member_list.as_deref();
        let finished = match &in_flight.operation {
            // A bootstrap ends once the cluster serves: a quorum answers, or a member
            // holds a revision beyond the bootstrap's (it served before).
            Some(Operation::Bootstrap(_)) => quorum || self.seen.ever_healthy || observed.served(),
            Some(Operation::Restore(_)) => quorum,
            // Its members are voters that answer healthy: a voter the platform added
            // (DC/OS) and that has not started yet is not done, and is its own.
            Some(Operation::ScaleUp(s)) => list.is_some_and(|list| {
                let (_, healthy) = observed.voters_of(list);
                s.join.is_none() && !list.iter().any(|m| m.is_learner) && healthy >= s.admission.members
            }),
            Some(Operation::ScaleDown(s)) => {
                observed.platform.tasks.iter().all(|t| usize::from(t.pod.index()) < s.members)
            }
            Some(Operation::Replace(_)) | None => false,
        };
        if !finished {
            return false;
        }
        let chosen = in_flight.restore().is_some_and(|r| r.chosen.is_some());
        in_flight.end();
        chosen
    }

    fn fold_task(&mut self, observed: &Observed, task: &super::platform::TaskObservation) {
        let pod = task.pod;
        match task.task {
            TaskState::Running | TaskState::NotLaunched => {
                self.seen.down_since.remove(&pod);
            }
            TaskState::Exited | TaskState::Suspended => {
                self.seen.down_since.entry(pod).or_insert(observed.at);
            }
        }
        let live = matches!(task.task, TaskState::Running | TaskState::Suspended);
        let healthy = observed.is_healthy(pod);
        if live && !healthy {
            self.seen.unanswered_since.entry(pod).or_insert(observed.at);
        } else {
            self.seen.unanswered_since.remove(&pod);
        }
        if healthy {
            self.seen.healthy_seen.insert(pod, observed.at);
            self.seen.restarts.remove(&pod);
            self.seen.relaunches.remove(&pod);
        } else if let Some(instance) = task.instance.as_ref() {
            match self.seen.relaunches.get_mut(&pod) {
                Some(seen) if seen.instance != *instance => {
                    seen.instance.clone_from(instance);
                    seen.count += 1;
                }
                Some(_) => {}
                None => {
                    let first = Relaunches { instance: instance.clone(), count: 0, since: observed.at };
                    self.seen.relaunches.insert(pod, first);
                }
            }
        }
        if task.agent == AgentState::Lost {
            self.seen.lost_since.entry(pod).or_insert(observed.at);
        } else {
            self.seen.lost_since.remove(&pod);
        }
    }

    /// Records a finished restore: its report, and the restored cluster as the newest
    /// data there is (the last seen revision starts again from it).
    pub fn restored(&mut self, report: crate::model::backup::RestoreReport) {
        self.seen.lineage.restored(report.source_cluster_id, report.revision);
        self.seen.last_revision = Some((report.revision, report.at));
        self.seen.quorum_seen_at = Some(report.at);
        self.seen.last_restore = Some(report);
        // Finished: the restore, and with it its survivors' snapshots; whatever it
        // pre-empted was abandoned when it began.
        self.in_flight.end_if(OperationKind::Restore);
        self.seen.restarts.clear();
        // The restored cluster's members have new IDs: each slot is known again once it answers.
        self.seen.slots.clear();
        self.restart_windows();
    }
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn a_history_stored_before_the_split_reads_the_same_and_is_written_flat() {
        let stored = r#"{"everHealthy":true,"bootstrap":null,"downSince":{"etcd-1":"2026-11-30T10:00:00Z"},
            "unansweredSince":{},"lostSince":{},"replacement":null,"lastRevision":[42,"2026-11-30T10:00:00Z"],
            "restarts":{"etcd-1":{"count":2,"last":"2026-11-30T10:01:00Z"}},
            "scale":{"members":3,"backup":"20261130T100000Z-42"}}"#;
        let history: History = serde_json::from_str(stored).expect("an old history");
        assert!(history.seen.ever_healthy);
        assert_eq!(history.seen.last_revision.map(|(r, _)| r), Some(42));
        assert_eq!(history.seen.restarts.values().map(|r| r.count).sum::<u32>(), 2);
        assert_eq!(history.in_flight.scale_up().map(|s| s.members), Some(3));
        let written = serde_json::to_value(&history).expect("json");
        assert!(written.get("everHealthy").is_some() && written.get("operation").is_some(), "{written}");
        assert!(written.get("seen").is_none() && written.get("inFlight").is_none(), "{written}");
    }
}
