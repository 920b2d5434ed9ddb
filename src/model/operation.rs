//! The operations in flight, as one typed state: at most one runs at a time.
//!
//! The operations are a first bootstrap, a replacement, a scale-up, a scale-down and a
//! whole-cluster restore. Each moves through named transitions, all in this file:
//!
//! | transition      | bootstrap             | replacement                        | scale-up                                   | scale-down               | restore |
//! |-----------------|-----------------------|------------------------------------|--------------------------------------------|--------------------------|---------|
//! | begun           | `Bootstrap` step      | `SnapshotBeforeReplace`            | `BeginScaleUp`, `RequestScaleUp`           | `BeginScaleDown`         | `ReadSurvivor` or the first restore step; `etcd-warden restore` |
//! | step done       | a new attempt         | its steps, recorded in `Replacement` | a join done (`join_done`)                | a member retired         | a survivor read, the source chosen, an attempt counted |
//! | finished        | the cluster serves    | its slot a healthy voter           | every member a healthy voter               | no slot beyond the count | `History::restored`, or a quorum answers on the chosen source |
//! | abandoned       | never                 | slot no longer desired (`AbandonJoin`); a restore begins | `AbandonJoin`; a replacement between two joins; the platform certainly refused the request; a restore begins | a restore begins | a quorum answers before a source is chosen |
//! | deadline passed | `bootstrapTimeout`, per attempt | rule `operation-stuck` (`recovery.operationDeadline`) | the same          | the same                 | the same; and after 3 failed attempts, `RestoreRequired` |
//!
//! A restore pre-empts any other operation (the quorum is gone, nothing else can
//! finish); every other operation begins only when none runs, or continues its own.
//! Each transition is recorded in the history before the external call it guards
//! (`act` writes the history first). A history written before this model (one optional
//! field per operation) is read into it (`StoredInFlight`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{BackupId, PodName};

/// A first bootstrap in progress: its attempt and token.
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
    /// The request's answer was lost (a timeout, Admin Router's 504, or its 502 to a
    /// command, which nginx also gives after the scheduler acted): why. Settled by what
    /// the platform shows next: the slot being replaced means it was made (cleared);
    /// nothing past a deadline means it was not, and it is asked once more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<String>,
    /// Whether the request was made a second time, after an uncertain answer: never a
    /// third.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asked_again: bool,
    /// Without learners (etcd 3.3): the voting member added for the slot, which the
    /// member list cannot tell from the failed one by its role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_voter: Option<crate::domain::MemberId>,
    /// The peer URL the new member was added with, recorded before the add: how it is
    /// known (`model::membership`) until it answers at the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_peer_url: Option<String>,
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
    /// The survivor's WAL tail, replayed into the copy the snapshot was taken of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<crate::model::backup::WalTail>,
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
    /// The request's answer was lost (a timeout, Admin Router's 504 or its 502 to a
    /// command): why. Settled by what the platform shows next: its deploy plan rolling,
    /// or more member pods, means it was made (cleared); nothing past a deadline means
    /// it was not, and it is asked once more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<String>,
    /// Whether the request was made a second time, after an uncertain answer: never a
    /// third.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asked_again: bool,
}

impl ScaleAdmission {
    /// An admission to `members` behind `backup`; `requested_at` where the platform is
    /// asked (recorded before asking).
    pub fn new(members: usize, backup: BackupId, requested_at: Option<Timestamp>) -> Self {
        Self { members, backup, requested_at, uncertain: None, asked_again: false }
    }
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

/// A scale-up in flight: the admission, and the member joining now (one at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleUp {
    /// The member count, the backup that admitted it, and the platform's request.
    pub admission: ScaleAdmission,
    /// The slot joining now, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<Replacement>,
    /// When it began.
    pub begun_at: Timestamp,
}

/// A scale-down in flight: the member count it shrinks to and the backup that admitted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDown {
    /// The member count it shrinks to.
    pub members: usize,
    /// The backup that admitted it.
    pub backup: BackupId,
    /// When it began.
    pub begun_at: Timestamp,
}

/// Who began a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RestoreBy {
    /// The quorum-loss rule, under `policy.quorumLoss: Restore`.
    #[default]
    Controller,
    /// A person, with `etcd-warden restore`.
    Person,
}

/// A whole-cluster restore in flight (scenarios 3b and 4d): the survivors read for it,
/// the source once chosen, the attempts made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOp {
    /// Who began it.
    #[serde(default)]
    pub by: RestoreBy,
    /// When it began.
    pub begun_at: Timestamp,
    /// Snapshots of stopped survivors read for it: they belong to this restore and go
    /// with it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub survivors: BTreeMap<PodName, SavedSnapshot>,
    /// Attempts to read each stopped survivor's data that did not succeed (yet).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub survivor_reads: BTreeMap<PodName, u32>,
    /// The source, once chosen: every attempt restores from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<RestoreInFlight>,
    /// Attempts to restore every member from the chosen source, counted before each.
    #[serde(default)]
    pub attempts: u32,
}

/// The one operation in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "operation")]
pub enum Operation {
    /// The first bootstrap.
    Bootstrap(BootstrapAttempt),
    /// A lost member replaced (scenario 4b).
    Replace(Replacement),
    /// The cluster grows (scenario 2).
    ScaleUp(ScaleUp),
    /// The cluster shrinks.
    ScaleDown(ScaleDown),
    /// Every member restored from one source (scenarios 3b and 4d).
    Restore(RestoreOp),
}

/// The kind of an operation, for messages and for `Busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `Operation::Bootstrap`.
    Bootstrap,
    /// `Operation::Replace`.
    Replace,
    /// `Operation::ScaleUp`.
    ScaleUp,
    /// `Operation::ScaleDown`.
    ScaleDown,
    /// `Operation::Restore`.
    Restore,
}

impl std::fmt::Display for OperationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bootstrap => "the first bootstrap",
            Self::Replace => "a replacement",
            Self::ScaleUp => "a scale-up",
            Self::ScaleDown => "a scale-down",
            Self::Restore => "a restore",
        })
    }
}

/// A transition that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Another operation runs.
    #[error("{wanted} cannot begin while {running} runs (one operation at a time)")]
    Busy {
        /// What was to begin.
        wanted: OperationKind,
        /// What runs.
        running: OperationKind,
    },
    /// The operation the transition belongs to is not in flight.
    #[error("{0} is not in flight")]
    NotInFlight(OperationKind),
}

impl Replacement {
    /// A join that begins now on `snapshot` (its file, or the backup a scale-up joins
    /// on) at `snapshot_revision`: nothing launched, added or asked for yet.
    pub fn begun(
        kind: JoinKind,
        pod: PodName,
        snapshot_at: Timestamp,
        snapshot: std::path::PathBuf,
        snapshot_revision: i64,
    ) -> Self {
        Self {
            kind,
            pod,
            snapshot_at,
            snapshot,
            snapshot_revision,
            launches: 0,
            last_launch: None,
            rejoin: false,
            requested_at: None,
            uncertain: None,
            asked_again: false,
            added_voter: None,
            added_peer_url: None,
        }
    }
}

impl Operation {
    /// Its kind.
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::Bootstrap(_) => OperationKind::Bootstrap,
            Self::Replace(_) => OperationKind::Replace,
            Self::ScaleUp(_) => OperationKind::ScaleUp,
            Self::ScaleDown(_) => OperationKind::ScaleDown,
            Self::Restore(_) => OperationKind::Restore,
        }
    }

    /// When it began.
    pub fn begun_at(&self) -> Timestamp {
        match self {
            Self::Bootstrap(b) => b.started_at,
            Self::Replace(r) => r.snapshot_at,
            Self::ScaleUp(s) => s.begun_at,
            Self::ScaleDown(s) => s.begun_at,
            Self::Restore(r) => r.begun_at,
        }
    }
}

/// Operations in flight: at most one. Written before the step that depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredInFlight")]
pub struct InFlight {
    /// The operation in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

impl InFlight {
    /// The kind of the operation in flight.
    pub fn kind(&self) -> Option<OperationKind> {
        self.operation.as_ref().map(Operation::kind)
    }

    /// The first bootstrap in flight.
    pub fn bootstrap(&self) -> Option<&BootstrapAttempt> {
        match &self.operation {
            Some(Operation::Bootstrap(b)) => Some(b),
            _ => None,
        }
    }

    /// The slot getting a new member now: a replacement, or a scale-up's join.
    pub fn join(&self) -> Option<&Replacement> {
        match &self.operation {
            Some(Operation::Replace(r)) => Some(r),
            Some(Operation::ScaleUp(s)) => s.join.as_ref(),
            _ => None,
        }
    }

    /// The join in flight, to record its steps.
    pub fn join_mut(&mut self) -> Option<&mut Replacement> {
        match &mut self.operation {
            Some(Operation::Replace(r)) => Some(r),
            Some(Operation::ScaleUp(s)) => s.join.as_mut(),
            _ => None,
        }
    }

    /// The scale-up in flight's admission.
    pub fn scale_up(&self) -> Option<&ScaleAdmission> {
        match &self.operation {
            Some(Operation::ScaleUp(s)) => Some(&s.admission),
            _ => None,
        }
    }

    /// The scale-up in flight's admission, to record its request.
    pub fn scale_up_mut(&mut self) -> Option<&mut ScaleAdmission> {
        match &mut self.operation {
            Some(Operation::ScaleUp(s)) => Some(&mut s.admission),
            _ => None,
        }
    }

    /// The backup that admitted the member count change to `members` in flight, up or down.
    pub fn admitted_backup(&self, members: usize) -> Option<&BackupId> {
        match &self.operation {
            Some(Operation::ScaleUp(s)) if s.admission.members == members => Some(&s.admission.backup),
            Some(Operation::ScaleDown(s)) if s.members == members => Some(&s.backup),
            _ => None,
        }
    }

    /// The restore in flight.
    pub fn restore(&self) -> Option<&RestoreOp> {
        match &self.operation {
            Some(Operation::Restore(r)) => Some(r),
            _ => None,
        }
    }

    /// The restore in flight, to record its steps.
    pub fn restore_mut(&mut self) -> Option<&mut RestoreOp> {
        match &mut self.operation {
            Some(Operation::Restore(r)) => Some(r),
            _ => None,
        }
    }

    /// A snapshot read from a stopped survivor for the restore in flight.
    pub fn survivor(&self, pod: PodName) -> Option<&SavedSnapshot> {
        self.restore().and_then(|r| r.survivors.get(&pod))
    }

    fn busy(&self, wanted: OperationKind) -> Result<(), Refused> {
        match self.kind() {
            Some(running) if running != wanted => Err(Refused::Busy { wanted, running }),
            _ => Ok(()),
        }
    }

    /// Begun, or a new attempt (step done): the first bootstrap.
    ///
    /// # Errors
    /// `Refused::Busy` when another operation runs.
    pub fn begin_bootstrap(&mut self, attempt: BootstrapAttempt) -> Result<(), Refused> {
        self.busy(OperationKind::Bootstrap)?;
        self.operation = Some(Operation::Bootstrap(attempt));
        Ok(())
    }

    /// Begun: a replacement of `replacement.pod` (a fresh snapshot of the same slot
    /// begins it again), or, of the scale-up in flight, the join of its next slot (of
    /// kind `JoinKind::ScaleUp`). Healing comes first: a replacement pre-empts a
    /// scale-up between two joins that the platform was not asked to carry out
    /// (returned, to be reported as abandoned; it is admitted again later).
    ///
    /// # Errors
    /// `Refused::Busy` when another operation runs or another slot joins now;
    /// `Refused::NotInFlight` for a scale-up's join without a scale-up.
    pub fn begin_join(&mut self, replacement: Replacement) -> Result<Option<Operation>, Refused> {
        let wanted = match replacement.kind {
            JoinKind::Replace => OperationKind::Replace,
            JoinKind::ScaleUp => OperationKind::ScaleUp,
        };
        if wanted == OperationKind::Replace && self.replace_preempts() {
            return Ok(self.operation.replace(Operation::Replace(replacement)));
        }
        self.busy(wanted)?;
        let other = |r: &Replacement| r.pod != replacement.pod;
        match &mut self.operation {
            Some(Operation::Replace(r)) if other(r) => {
                Err(Refused::Busy { wanted, running: OperationKind::Replace })
            }
            Some(Operation::ScaleUp(s)) if s.join.as_ref().is_some_and(other) => {
                Err(Refused::Busy { wanted, running: OperationKind::ScaleUp })
            }
            Some(Operation::ScaleUp(s)) => {
                s.join = Some(replacement);
                Ok(None)
            }
            _ if wanted == OperationKind::ScaleUp => Err(Refused::NotInFlight(OperationKind::ScaleUp)),
            _ => {
                // Nothing ran, or the same slot's replacement begins again.
                self.operation = Some(Operation::Replace(replacement));
                Ok(None)
            }
        }
    }

    /// Whether a replacement of a lost member may begin now: nothing runs, or a
    /// replacement (of the same slot), or a scale-up between two joins of its own
    /// that the platform was not asked to carry out (pre-empted).
    pub fn replace_may_begin(&self) -> bool {
        matches!(self.operation, None | Some(Operation::Replace(_))) || self.replace_preempts()
    }

    fn replace_preempts(&self) -> bool {
        matches!(&self.operation, Some(Operation::ScaleUp(s)) if s.join.is_none() && s.admission.requested_at.is_none())
    }

    /// Begun: a scale-up to `admission.members` (or the admission of the one in flight
    /// updated, e.g. with the time the platform was asked).
    ///
    /// # Errors
    /// `Refused::Busy` when another operation runs.
    pub fn begin_scale_up(&mut self, admission: ScaleAdmission, now: Timestamp) -> Result<(), Refused> {
        self.busy(OperationKind::ScaleUp)?;
        match &mut self.operation {
            Some(Operation::ScaleUp(s)) if s.admission.members == admission.members => {
                s.admission = admission;
            }
            _ => self.operation = Some(Operation::ScaleUp(ScaleUp { admission, join: None, begun_at: now })),
        }
        Ok(())
    }

    /// Begun: a scale-down to `members`. A scale-up between two joins (to a count no
    /// longer desired) is over: it is replaced.
    ///
    /// # Errors
    /// `Refused::Busy` when another operation runs.
    pub fn begin_scale_down(
        &mut self,
        members: usize,
        backup: BackupId,
        now: Timestamp,
    ) -> Result<(), Refused> {
        if matches!(&self.operation, Some(Operation::ScaleUp(s)) if s.join.is_none()) {
            self.operation = None;
        }
        self.busy(OperationKind::ScaleDown)?;
        match &self.operation {
            Some(Operation::ScaleDown(s)) if s.members == members => {}
            _ => self.operation = Some(Operation::ScaleDown(ScaleDown { members, backup, begun_at: now })),
        }
        Ok(())
    }

    /// Begun: a restore, by the controller or by a person. It pre-empts any other
    /// operation (returned, to be reported as abandoned); a restore in flight goes on.
    pub fn begin_restore(&mut self, by: RestoreBy, now: Timestamp) -> Option<Operation> {
        if let Some(Operation::Restore(r)) = &mut self.operation {
            r.by = by;
            return None;
        }
        let op = RestoreOp { by, ..RestoreOp::default_at(now) };
        self.operation.replace(Operation::Restore(op))
    }

    /// Step done: the join of `pod` (its member a healthy voter). A replacement is
    /// finished; a scale-up goes on with its next slot.
    pub fn join_done(&mut self, pod: PodName) {
        match &mut self.operation {
            Some(Operation::Replace(r)) if r.pod == pod => self.operation = None,
            Some(Operation::ScaleUp(s)) if s.join.as_ref().is_some_and(|r| r.pod == pod) => s.join = None,
            _ => {}
        }
    }

    /// Finished or abandoned: the operation in flight is cleared, and returned.
    pub fn end(&mut self) -> Option<Operation> {
        self.operation.take()
    }

    /// Finished or abandoned, when the operation in flight is of `kind`.
    pub fn end_if(&mut self, kind: OperationKind) -> Option<Operation> {
        if self.kind() == Some(kind) { self.operation.take() } else { None }
    }
}

impl RestoreOp {
    /// The restore's name, the same for each of its attempts: every restored member's
    /// `--initial-cluster-token`, and how a retry knows the data an earlier attempt put
    /// in place (`backup::data_dirs`).
    pub fn token(&self, cluster: &crate::domain::ClusterName) -> String {
        format!("{cluster}-restore-{}", self.begun_at.as_second())
    }

    fn default_at(now: Timestamp) -> Self {
        Self {
            by: RestoreBy::Controller,
            begun_at: now,
            survivors: BTreeMap::new(),
            survivor_reads: BTreeMap::new(),
            chosen: None,
            attempts: 0,
        }
    }
}

/// The operations in flight as histories written before this model store them: one
/// optional field each. Read into `InFlight`; never written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredInFlight {
    #[serde(default)]
    operation: Option<Operation>,
    #[serde(default)]
    bootstrap: Option<BootstrapAttempt>,
    #[serde(default)]
    replacement: Option<Replacement>,
    #[serde(default)]
    restore: Option<RestoreInFlight>,
    #[serde(default)]
    survivors: BTreeMap<PodName, SavedSnapshot>,
    #[serde(default)]
    survivor_reads: BTreeMap<PodName, u32>,
    #[serde(default)]
    scale: Option<ScaleAdmission>,
}

/// The start of an operation read from the old fields without one: the first
/// observation after loading dates it ([`InFlight::date_undated`]), since the core
/// reads no clock.
const UNDATED: Timestamp = Timestamp::MIN;

impl InFlight {
    /// Dates an operation read from the old fields without a start (see [`UNDATED`]):
    /// it counts as begun `at`, the first observation after loading.
    pub fn date_undated(&mut self, at: Timestamp) {
        match &mut self.operation {
            Some(Operation::Restore(r)) if r.begun_at == UNDATED => r.begun_at = at,
            Some(Operation::ScaleUp(s)) if s.begun_at == UNDATED => s.begun_at = at,
            _ => {}
        }
    }
}

impl From<StoredInFlight> for InFlight {
    fn from(stored: StoredInFlight) -> Self {
        if stored.operation.is_some() {
            return Self { operation: stored.operation };
        }
        // The old fields could hold several at once: the one that decides is kept, a
        // restore first (it pre-empts the rest), a bootstrap last (anything else means
        // it ended).
        let operation = if stored.restore.is_some()
            || !stored.survivors.is_empty()
            || !stored.survivor_reads.is_empty()
        {
            let begun_at = stored.restore.as_ref().map_or(UNDATED, |r| r.chosen_at);
            Some(Operation::Restore(RestoreOp {
                by: RestoreBy::Controller,
                begun_at,
                survivors: stored.survivors,
                survivor_reads: stored.survivor_reads,
                chosen: stored.restore,
                attempts: 0,
            }))
        } else if let Some(admission) = stored.scale {
            let join = stored.replacement.filter(|r| r.kind == JoinKind::ScaleUp);
            let begun_at = join.as_ref().map_or(UNDATED, |r| r.snapshot_at);
            Some(Operation::ScaleUp(ScaleUp { admission, join, begun_at }))
        } else if let Some(replacement) = stored.replacement {
            Some(Operation::Replace(replacement))
        } else {
            stored.bootstrap.map(Operation::Bootstrap)
        };
        Self { operation }
    }
}

#[cfg(test)]
impl InFlight {
    /// Test set-up: the restore in flight, begun now if none is.
    pub fn restoring(&mut self) -> &mut RestoreOp {
        if self.restore().is_none() {
            self.operation = Some(Operation::Restore(RestoreOp::default_at(Timestamp::UNIX_EPOCH)));
        }
        match &mut self.operation {
            Some(Operation::Restore(r)) => r,
            _ => unreachable!("just set"),
        }
    }

    /// Test set-up: a scale-up in flight with `admission` and no join.
    pub fn scaling(&mut self, admission: ScaleAdmission) {
        let begun_at = Timestamp::UNIX_EPOCH;
        self.operation = Some(Operation::ScaleUp(ScaleUp { admission, join: None, begun_at }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("a time")
    }

    fn pod(i: u8) -> PodName {
        PodName::new(i).expect("a slot")
    }

    fn join(i: u8, kind: JoinKind) -> Replacement {
        Replacement::begun(kind, pod(i), at(0), "s.db".into(), 7)
    }

    fn admission(members: usize, requested_at: Option<Timestamp>) -> ScaleAdmission {
        ScaleAdmission::new(members, BackupId::new(at(-60), 40), requested_at)
    }

    #[test]
    fn a_history_of_one_field_per_operation_reads_as_the_one_that_decides_and_is_written_as_it() {
        let stored = serde_json::json!({
            "bootstrap": {"attempt": 1, "token": "t", "startedAt": "2027-01-15T08:00:00Z"},
            "replacement": serde_json::to_value(join(3, JoinKind::ScaleUp)).expect("json"),
            "scale": serde_json::to_value(admission(5, None)).expect("json"),
        });
        let in_flight: InFlight = serde_json::from_value(stored).expect("an old history");
        let Some(Operation::ScaleUp(s)) = &in_flight.operation else { panic!("{in_flight:?}") };
        assert_eq!((s.admission.members, s.join.as_ref().map(|j| j.pod)), (5, Some(pod(3))));
        let written = serde_json::to_value(&in_flight).expect("json");
        assert_eq!(written["operation"]["operation"], "scaleUp", "{written}");
        assert!(written.get("scale").is_none() && written.get("bootstrap").is_none(), "{written}");
        let again: InFlight = serde_json::from_value(written).expect("read back");
        assert_eq!(again, in_flight);
        let survivors = serde_json::json!({
            "replacement": serde_json::to_value(join(1, JoinKind::Replace)).expect("json"),
            "survivorReads": {"etcd-0": 2},
        });
        let mut in_flight: InFlight = serde_json::from_value(survivors).expect("an old history");
        let restore = in_flight.restore().expect("a restore pre-empts the rest");
        assert_eq!(restore.survivor_reads.get(&pod(0)), Some(&2));
        // Without a start of its own, the first observation after loading dates it,
        // and only it: no clock is read here.
        assert_eq!(restore.begun_at, UNDATED);
        in_flight.date_undated(at(7));
        in_flight.date_undated(at(9));
        assert_eq!(in_flight.restore().map(|r| r.begun_at), Some(at(7)));
        let scale = serde_json::json!({"scale": serde_json::to_value(admission(5, None)).expect("json")});
        let mut in_flight: InFlight = serde_json::from_value(scale).expect("an old history");
        in_flight.date_undated(at(3));
        assert_eq!(in_flight.operation.as_ref().map(Operation::begun_at), Some(at(3)));
    }

    #[test]
    fn one_operation_at_a_time() {
        let mut f = InFlight::default();
        f.begin_scale_down(3, BackupId::new(at(0), 1), at(0)).expect("nothing runs");
        let refused = f.begin_join(join(1, JoinKind::Replace));
        assert_eq!(
            refused,
            Err(Refused::Busy { wanted: OperationKind::Replace, running: OperationKind::ScaleDown })
        );
        assert!(!f.replace_may_begin());
        assert!(
            f.begin_bootstrap(BootstrapAttempt { attempt: 1, token: "t".into(), started_at: at(0) }).is_err()
        );
        let mut f = InFlight::default();
        f.begin_join(join(1, JoinKind::Replace)).expect("nothing runs");
        assert!(f.begin_join(join(2, JoinKind::Replace)).is_err(), "one slot at a time");
        assert_eq!(f.begin_join(join(1, JoinKind::Replace)), Ok(None), "the same slot again");
        let mut f = InFlight::default();
        assert_eq!(
            f.begin_join(join(3, JoinKind::ScaleUp)),
            Err(Refused::NotInFlight(OperationKind::ScaleUp)),
            "a scale-up's join needs the scale-up"
        );
    }

    #[test]
    fn a_replacement_preempts_a_scale_up_between_joins_unless_the_platform_was_asked() {
        let mut f = InFlight::default();
        f.begin_scale_up(admission(5, None), at(0)).expect("nothing runs");
        f.begin_join(join(3, JoinKind::ScaleUp)).expect("the scale-up's first join");
        assert!(f.begin_join(join(1, JoinKind::Replace)).is_err(), "not while a member joins");
        f.join_done(pod(3));
        assert_eq!(f.kind(), Some(OperationKind::ScaleUp), "a join done, the scale-up goes on");
        let abandoned = f.begin_join(join(1, JoinKind::Replace)).expect("healing first");
        assert_eq!(abandoned.map(|o| o.kind()), Some(OperationKind::ScaleUp));
        assert_eq!(f.join().map(|r| r.pod), Some(pod(1)));
        f.join_done(pod(1));
        assert_eq!(f.operation, None, "a replacement finishes with its join");
        let mut f = InFlight::default();
        f.begin_scale_up(admission(3, Some(at(0))), at(0)).expect("nothing runs");
        assert!(!f.replace_may_begin(), "the platform adds members itself: never pre-empted");
        assert!(f.begin_join(join(1, JoinKind::Replace)).is_err());
    }

    #[test]
    fn a_restore_preempts_everything_and_a_restore_in_flight_goes_on() {
        let mut f = InFlight::default();
        f.begin_join(join(1, JoinKind::Replace)).expect("nothing runs");
        let abandoned = f.begin_restore(RestoreBy::Controller, at(5));
        assert_eq!(abandoned.map(|o| o.kind()), Some(OperationKind::Replace));
        f.restoring().attempts = 2;
        assert_eq!(f.begin_restore(RestoreBy::Person, at(9)), None);
        let restore = f.restore().expect("in flight");
        assert_eq!((restore.by, restore.begun_at, restore.attempts), (RestoreBy::Person, at(5), 2));
        assert_eq!(f.end().map(|o| o.kind()), Some(OperationKind::Restore));
        assert_eq!(f.operation, None);
    }
}
