//! The view of one pass: the inputs of the planner, and each slot's members tied by
//! member ID, built once (`model::membership`). The rules read it instead of comparing
//! URLs themselves.

use jiff::Timestamp;

use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::model::capabilities::RestartBy;
use crate::model::etcd::ListedMember;
use crate::model::membership::Membership;
use crate::model::platform::{AgentState, DataState, TaskState};
use crate::model::{History, JoinKind, Observed};

/// Everything a rule reads.
pub(super) struct View<'a> {
    pub desired: &'a DesiredCluster,
    pub observed: &'a Observed,
    pub history: &'a History,
    pub now: Timestamp,
    /// The member list of this pass, or else the last one seen.
    pub list: &'a [ListedMember],
    /// Who is who in `list`.
    pub members: Membership<'a>,
}

/// What became of a voter, for the quorum-loss rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// It answers as a healthy member (at this slot, when it is tied to one): a
    /// survivor too, and a restore source once the others are lost.
    Serving(Option<PodName>),
    /// Its slot is known and its data may still be there: it can come back, or be read
    /// (a crash, however many restarts it used up, loses no data).
    Survives(PodName),
    /// Its slot's data is gone: the agent is lost, or the member is down with no WAL or
    /// database.
    Lost(PodName),
    /// It belongs to no slot: reported, never counted as lost.
    Unknown,
}

impl<'a> View<'a> {
    /// The view of one pass.
    pub fn new(
        desired: &'a DesiredCluster,
        observed: &'a Observed,
        history: &'a History,
        now: Timestamp,
    ) -> Self {
        let list = observed.member_list.as_deref().unwrap_or(&history.seen.members);
        let members = Membership::join(observed, &history.seen.slots, history.in_flight.join(), list);
        Self { desired, observed, history, now, list, members }
    }

    /// Whether the replacement of `pod` is recorded but has changed nothing yet: its old
    /// voter is still listed, it has no learner, its task is not wiped and the
    /// platform was not asked. Such a replacement never holds back a restart in place.
    pub fn untouched_replacement(&self, pod: PodName) -> bool {
        let Some(replacement) = self.history.in_flight.join().filter(|r| r.pod == pod) else {
            return false;
        };
        let Some(task) = self.observed.platform.task(pod) else { return false };
        let listed = |learner: bool| self.members.of(pod).any(|m| m.is_learner == learner);
        replacement.kind == JoinKind::Replace
            && replacement.requested_at.is_none()
            && replacement.launches == 0
            && task.task != TaskState::NotLaunched
            && listed(false)
            && !listed(true)
    }

    /// Whether `member` answers healthy at any slot: whoever answers with its ID is it.
    pub fn serves(&self, member: &ListedMember) -> bool {
        self.observed
            .endpoints
            .values()
            .filter_map(|r| r.as_ref().ok())
            .any(|s| s.id == member.id && s.is_healthy())
    }

    /// What became of a voter of the last member list.
    pub fn fate(&self, member: &ListedMember) -> Fate {
        if self.serves(member) {
            return Fate::Serving(self.members.slot_of(member.id));
        }
        let Some(pod) = self.members.slot_of(member.id) else { return Fate::Unknown };
        if self.observed.endpoint(pod).is_some_and(|s| s.id != member.id) {
            // Another member answers at its slot: the slot was rebuilt without it.
            return Fate::Lost(pod);
        }
        self.data_fate(pod)
    }

    /// Whether the data of the member at `pod` can still come back: `Lost` when the slot
    /// is gone, its agent is lost, or it is down with no WAL or database; else `Survives`.
    pub fn data_fate(&self, pod: PodName) -> Fate {
        let Some(task) = self.observed.platform.task(pod) else { return Fate::Lost(pod) };
        let live = matches!(task.task, TaskState::Running | TaskState::Suspended);
        if task.agent == AgentState::Lost || (!live && task.data == DataState::Missing) {
            Fate::Lost(pod)
        } else {
            Fate::Survives(pod)
        }
    }
}

/// Whether `pod` used up its restarts in place without coming back healthy, so that
/// its slot counts as lost. Never where the platform restarts members itself: there
/// the agent and the data are still there, and only the unresponsive and lost windows
/// make a slot lost.
pub(super) fn restarts_used_up(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    pod: PodName,
) -> bool {
    observed.capabilities.restart == RestartBy::Controller
        && history.seen.restarts.get(&pod).is_some_and(|r| r.count >= desired.recovery.max_restarts)
}
