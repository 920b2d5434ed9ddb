//! What the controller has seen over time: facts that one observation cannot show.
//!
//! Time windows ("down for longer than `restartGrace`") need to know when a failure
//! was first seen; scenario 1 needs to know whether the cluster ever served. These
//! are recorded observations, and the few operations in flight whose choices must
//! survive a crash (a bootstrap's token, a replacement, a restore's source). They are
//! persisted with the status. After a controller restart, and after a gap in
//! observation, the failure windows start again, which only makes it wait longer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Observed;
use super::etcd::ListedMember;
use super::membership::{Membership, SlotMember};
use super::platform::{AgentState, TaskState};
use crate::domain::{BackupId, PodName};

/// A first bootstrap in progress or finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The `--initial-cluster-token` of this attempt, kept so that members launched in
    /// later passes join the same cluster.
    pub token: String,
    /// When the attempt started.
    pub started_at: Timestamp,
}

/// A replacement in progress (scenario 4b): which slot, and the snapshot taken
/// before its first membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// Why the slot gets a new member.
    #[serde(default)]
    pub kind: JoinKind,
    /// The member slot being replaced.
    pub pod: PodName,
    /// When the snapshot of a healthy member was taken.
    pub snapshot_at: Timestamp,
    /// The snapshot file.
    pub snapshot: std::path::PathBuf,
    /// The revision inside the snapshot.
    pub snapshot_revision: i64,
    /// How many times the new member was launched.
    pub launches: u32,
    /// When it was last launched.
    pub last_launch: Option<Timestamp>,
    /// The learner ran but never answered: it was wiped, and is removed and added
    /// again before its next launch.
    #[serde(default)]
    pub rejoin: bool,
    /// Where the platform replaces pods itself: when the replacement was asked for
    /// (recorded before the request, so that it is never made twice).
    #[serde(default)]
    pub requested_at: Option<Timestamp>,
    /// Without learners (etcd 3.3): the voting member added for the slot, which the
    /// member list cannot tell from the failed one by its role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_voter: Option<crate::domain::MemberId>,
    /// The peer URL the new member was added with, recorded before the add: how it is
    /// known (`model::membership`) until it answers at the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_peer_url: Option<String>,
}

/// Restarts in place of one member since it was last seen healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restarts {
    /// How many restarts in place did not bring the member back healthy.
    pub count: u32,
    /// When the last one was made.
    pub last: Timestamp,
}

/// The source a whole-cluster restore was given, kept before any member is stopped so
/// that a retry after a crash or a failure reuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ChosenSource {
    /// A snapshot saved from a surviving voter.
    #[serde(rename_all = "camelCase")]
    Survivor {
        /// The survivor.
        pod: PodName,
        /// The snapshot file saved from it.
        snapshot: std::path::PathBuf,
        /// The file's SHA-256, hex.
        sha256: String,
    },
    /// A verified backup of the catalog.
    #[serde(rename_all = "camelCase")]
    Backup {
        /// The backup.
        id: BackupId,
    },
}

/// A verified snapshot of a stopped survivor's data, read through a scratch copy of
/// it: the survivor's revision for the choice of a restore source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSnapshot {
    /// The snapshot file.
    pub file: std::path::PathBuf,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The revision inside it.
    pub revision: i64,
}

/// A restore whose source is chosen and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreInFlight {
    /// The source.
    pub source: ChosenSource,
    /// The revision it holds.
    pub revision: i64,
    /// When it was chosen.
    pub chosen_at: Timestamp,
}

/// A scale-up admitted behind a fresh backup: every new member of it joins on that
/// backup, even when the backup ages during the catch-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleAdmission {
    /// The member count it grows to.
    pub members: usize,
    /// The backup that admitted it.
    pub backup: BackupId,
    /// When the platform was asked to add the members itself (DC/OS), recorded before
    /// asking: a platform is asked once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
}

/// Why a slot gets a new member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JoinKind {
    /// Its old member was lost (scenario 4b).
    #[default]
    Replace,
    /// The cluster grows (scenario 2).
    ScaleUp,
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
    /// When the last observation was folded in.
    #[serde(default)]
    pub last_observed_at: Option<Timestamp>,
    /// When each member's database was last defragmented by the controller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defragmented: BTreeMap<PodName, Timestamp>,
    /// When a member was first seen reporting the NOSPACE alarm, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_space_since: Option<Timestamp>,
    /// The member each slot was last seen answering as, with the peer URLs etcd lists
    /// for it: how a slot that does not answer is known (`model::membership`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<PodName, SlotMember>,
}

/// Operations in flight: a bootstrap's token, a replacement, a restore's chosen
/// source and the survivors read for it, an admitted scale-up. Each is written before
/// the step that depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    /// The latest first-bootstrap attempt.
    pub bootstrap: Option<BootstrapAttempt>,
    /// The replacement in progress, if any.
    pub replacement: Option<Replacement>,
    /// The restore in flight, if any.
    #[serde(default)]
    pub restore: Option<RestoreInFlight>,
    /// Snapshots of stopped survivors, read after a permanent quorum loss.
    #[serde(default)]
    pub survivors: BTreeMap<PodName, SavedSnapshot>,
    /// Attempts to read each stopped survivor's data that did not succeed (yet).
    #[serde(default)]
    pub survivor_reads: BTreeMap<PodName, u32>,
    /// The scale-up in flight and the backup that admitted it.
    #[serde(default)]
    pub scale: Option<ScaleAdmission>,
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
        if let Some(list) = &observed.member_list {
            self.seen.members.clone_from(list);
        }
        // Who each slot is, as etcd says at the slot's own client URL.
        if let Some(list) = observed.member_list.as_deref() {
            let answered: Vec<_> = Membership::join(observed, self, list).answered().collect();
            self.seen.slots.extend(answered);
        }
        let quorum = observed.member_list.as_deref().is_some_and(|list| observed.has_quorum(list));
        if quorum {
            self.seen.ever_healthy = true;
            self.seen.quorum_seen_at = Some(observed.at);
            // Survivors read for a restore belong to that incident: a quorum that answers
            // again (by itself, or after a restore by hand) ends it, and a later incident
            // reads its survivors afresh.
            if self.in_flight.restore.is_none() {
                self.in_flight.survivors.clear();
                self.in_flight.survivor_reads.clear();
            }
        }
        for task in &observed.platform.tasks {
            self.fold_task(observed, task);
        }
        let known: Vec<PodName> = observed.platform.tasks.iter().map(|t| t.pod).collect();
        self.seen.down_since.retain(|pod, _| known.contains(pod));
        self.seen.unanswered_since.retain(|pod, _| known.contains(pod));
        self.seen.lost_since.retain(|pod, _| known.contains(pod));
        self.seen.restarts.retain(|pod, _| known.contains(pod));
        self.seen.defragmented.retain(|pod, _| known.contains(pod));
        let alarmed =
            observed.endpoints.values().filter_map(|r| r.as_ref().ok()).any(|s| s.has_no_space_alarm());
        let answered = observed.endpoints.values().any(Result::is_ok);
        if alarmed {
            self.seen.no_space_since.get_or_insert(observed.at);
        } else if answered {
            self.seen.no_space_since = None;
        }
        let replaced = self.in_flight.replacement.as_ref().map(|r| r.pod);
        if let Some(pod) = replaced {
            // Done once the slot's member is a healthy voter again.
            let voter = observed.endpoint(pod).is_some_and(|s| s.is_healthy_voter());
            if voter {
                self.in_flight.replacement = None;
            }
        }
        self.finish_scale_up(observed);
        let top = observed.endpoints.values().filter_map(|r| r.as_ref().ok()).map(|s| s.revision).max();
        if quorum && self.in_flight.restore.is_some() {
            // The restored cluster serves: the restore is done, and what it holds is now
            // the newest data there is.
            self.in_flight.restore = None;
            self.seen.last_revision = top.map(|revision| (revision, observed.at));
        }
        if let Some(revision) = top
            && self.seen.last_revision.is_none_or(|(seen, _)| revision >= seen)
        {
            self.seen.last_revision = Some((revision, observed.at));
        }
    }

    /// A scale-up is done once its members are all voters and no join is in flight: its
    /// admission is cleared, so that maintenance runs again and a later change of the
    /// member count needs a fresh backup of its own.
    fn finish_scale_up(&mut self, observed: &Observed) {
        let (Some(scale), Some(list)) = (&self.in_flight.scale, observed.member_list.as_deref()) else {
            return;
        };
        let voters = list.iter().filter(|m| !m.is_learner).count();
        let learners = list.iter().any(|m| m.is_learner);
        if self.in_flight.replacement.is_none() && !learners && voters >= scale.members {
            self.in_flight.scale = None;
        }
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
        self.seen.last_revision = Some((report.revision, report.at));
        self.seen.quorum_seen_at = Some(report.at);
        self.seen.last_restore = Some(report);
        self.in_flight.replacement = None;
        self.in_flight.restore = None;
        self.in_flight.survivors.clear();
        self.in_flight.survivor_reads.clear();
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
        assert_eq!(history.in_flight.scale.as_ref().map(|s| s.members), Some(3));
        let written = serde_json::to_value(&history).expect("json");
        assert!(written.get("everHealthy").is_some() && written.get("scale").is_some(), "{written}");
        assert!(written.get("seen").is_none() && written.get("inFlight").is_none(), "{written}");
    }
}
