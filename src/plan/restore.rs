//! Scenarios 3b and 4d: a permanent loss of the majority (or of the single member).
//!
//! Judged against the voters of the last member list seen (kept in the history), never
//! against `spec.members`: mid-replacement, mid scale-up and mid scale-down they differ.
//! Each voter is tied to its slot by member ID (`View`). A voter is lost when its slot's
//! data is gone (agent lost, or no WAL and database); every other voter of a slot is a
//! survivor, answering or not, and a member whose restarts in place are used up is one
//! too: its data is intact and is read. A voter of no slot is unknown, never lost. The
//! loss is permanent only when the survivors and the unknown voters cannot make a
//! quorum of the voters, and never while a quorum answers by member ID.
//!
//! Under `policy.quorumLoss: Manual`, `RestoreRequired`. Under `Restore`: first bring
//! back what can come back: a crashed survivor's data is read through a scratch copy
//! started alone (a member restarted without a quorum never answers), and a live one
//! that does not answer is waited for a bounded time. Then take the newest data there
//! is: the survivor with the highest revision or the newest verified backup, whichever
//! holds the higher revision, within `maxDataLoss`. A source once chosen is kept in the history and reused by every
//! retry. Never while a quorum is reachable.

use jiff::Timestamp;

use super::quorum::Quorum;
use super::view::{Fate, View};
use super::{Decision, Rule, Step, window_end};

use crate::domain::PodName;
use crate::manifest::desired::{DesiredCluster, QuorumLossPolicy};
use crate::model::catalog::{self, BackupRecord};
use crate::model::platform::{AgentState, DataState, TaskState};
use crate::model::{ChosenSource, History, Observed};

/// How many times a stopped survivor's data is read before the restore is refused.
const MAX_SURVIVOR_READS: u32 = 3;
/// How many times every member is restored from the chosen source before the restore
/// is refused (`RestoreRequired`): a restore that fails again and again needs a person.
pub(crate) const MAX_RESTORE_ATTEMPTS: u32 = 3;

/// The voters of the last known member list and what became of each, tied to their
/// slots by member ID (`View`). Before any member list was recorded, the desired slots.
fn voters(view: &View) -> Vec<Fate> {
    let voters: Vec<Fate> = view.list.iter().filter(|m| !m.is_learner).map(|m| view.fate(m)).collect();
    if !voters.is_empty() {
        return voters;
    }
    // No member list was ever recorded: the desired members are the best guess.
    let by_slot = |pod: PodName| {
        if view.observed.is_healthy(pod) { Fate::Serving(Some(pod)) } else { view.data_fate(pod) }
    };
    view.desired.members.pods().map(by_slot).collect()
}

/// `Some` when the cluster's quorum is permanently lost: the decisions that stand for
/// it, and nothing else is planned.
///
/// Never while a quorum of voters answers by member ID, whatever URLs they advertise. A
/// voter that belongs to no slot is not lost: it may be serving somewhere unknown, so it
/// counts with the survivors, and `unknown-member` reports it.
pub(super) fn decide(view: &View) -> Option<Vec<Decision>> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let voters = voters(view);
    let serving = voters.iter().filter(|f| matches!(f, Fate::Serving(_))).count();
    let unknown = voters.iter().filter(|f| **f == Fate::Unknown).count();
    // The survivors: the voters that answer, and those whose data is still there. A
    // member that crashed, however many restarts it used up, keeps its data: it is a
    // survivor to be read, never a lost member.
    let survivors: Vec<PodName> = voters
        .iter()
        .filter_map(|f| match f {
            Fate::Serving(pod) => *pod,
            Fate::Survives(pod) => Some(*pod),
            _ => None,
        })
        .collect();
    // Of the survivors, those that can still come back by themselves: not the ones
    // whose restarts in place are used up (they are read, as the others are).
    let stuck = |pod: &PodName| {
        observed.platform.task(*pod).is_some_and(|t| t.task == TaskState::Exited)
            && super::view::restarts_used_up(desired, observed, history, *pod)
    };
    let returning = voters.iter().filter(|f| matches!(f, Fate::Survives(pod) if !stuck(pod))).count();
    let needed = Quorum::needed(voters.len());
    if serving >= needed || serving + returning + unknown >= needed {
        return None;
    }
    let lost: Vec<PodName> = voters
        .iter()
        .filter_map(|f| match f {
            Fate::Lost(pod) => Some(*pod),
            _ => None,
        })
        .collect();
    let stuck: Vec<PodName> = survivors.iter().copied().filter(|p| stuck(p)).collect();
    let lost_names = list(&lost);
    let window = |p: &PodName| {
        let agent_lost = observed.platform.task(*p).is_some_and(|t| t.agent == AgentState::Lost);
        let since = history.seen.lost_since.get(p).copied().unwrap_or(now);
        agent_lost.then(|| window_end(since, desired.recovery.agent_lost_after))
    };
    if let Some(until) = lost.iter().filter_map(window).filter(|end| now < *end).max() {
        let message = format!("the data of {lost_names} is gone; declared lost at {until} (agentLostAfter)");
        return Some(vec![Decision::wait(Rule::RestoreRequired, Some(until), message)]);
    }
    let mut what = format!("quorum is permanently lost: {} of {} voters lost", lost.len(), voters.len());
    if !lost.is_empty() {
        what.push_str(&format!(" ({lost_names})"));
    }
    if !stuck.is_empty() {
        let (its, it_is) = if stuck.len() == 1 { ("its", "it is") } else { ("their", "each is") };
        what.push_str(&format!(
            ", and {} crashed with {its} data intact and used up {its} restarts in place: {it_is} read as a survivor",
            list(&stuck)
        ));
    }
    let mut decisions = Vec::new();
    // Restore sources are compared within the lineage of the last member list only.
    let own = history.seen.lineage.filter(&observed.backups.records);
    if !observed.capabilities.automatic_restore {
        let newest = catalog::newest_restorable(&own, now).map_or_else(
            || "no verified backup is recorded".to_owned(),
            |b| format!("the newest verified backup is {} (revision {})", b.id, b.revision),
        );
        let message = format!(
            "{what}; this platform is restored by hand only (docs/dcos.md, \"Quorum lost\"): {newest}{}{}",
            survivors_note(observed, &survivors),
            initial_cluster_as_listed(history)
        );
        decisions.push(Decision::refuse(Rule::RestoreRequired, message));
        return Some(decisions);
    }
    if desired.policy.quorum_loss == QuorumLossPolicy::Manual {
        let name = &desired.name;
        let message = format!(
            "{what}; policy.quorumLoss is Manual: run `etcd-warden restore {name} --from latest` (or --from ID, see `etcd-warden backups {name}`){}",
            survivors_note(observed, &survivors)
        );
        decisions.push(Decision::refuse(Rule::RestoreRequired, message));
        return Some(decisions);
    }
    let restoring = history.in_flight.restore();
    if let Some((op, inflight)) = restoring.and_then(|r| r.chosen.as_ref().map(|c| (r, c))) {
        if op.attempts >= MAX_RESTORE_ATTEMPTS {
            let message = format!(
                "{what}; the restore from the source chosen at {} (revision {}) failed {} times (see its RestoreFromSurvivor or RestoreFromBackup events): look at the members' logs and the machine, then restore by hand: `etcd-warden restore {} --from ID`",
                inflight.chosen_at, inflight.revision, op.attempts, desired.name
            );
            return Some(vec![Decision::refuse(Rule::RestoreRequired, message)]);
        }
        let step = match &inflight.source {
            ChosenSource::Survivor { pod, .. } => {
                let endpoint = observed.platform.task(*pod).map(|t| t.client_url.clone()).unwrap_or_default();
                Step::RestoreFromSurvivor { pod: *pod, endpoint }
            }
            ChosenSource::Backup { id } => Step::RestoreFromBackup { id: id.clone() },
        };
        let message = format!(
            "{what}; the restore chosen at {} (revision {}) is resumed with the same source (attempt {} of {MAX_RESTORE_ATTEMPTS})",
            inflight.chosen_at,
            inflight.revision,
            op.attempts + 1
        );
        return Some(vec![Decision::act(Rule::Restore, step, message)]);
    }
    // Bring back what can come back: the data of a crashed survivor is read first.
    let unread = survivors.iter().copied().find(|p| {
        observed.endpoint(*p).is_none()
            && history.in_flight.survivor(*p).is_none()
            && observed
                .platform
                .task(*p)
                .is_some_and(|t| t.task == TaskState::Exited && t.data == DataState::Intact)
    });
    if let Some(pod) = unread {
        let reads = restoring.and_then(|r| r.survivor_reads.get(&pod)).copied().unwrap_or(0);
        if reads >= MAX_SURVIVOR_READS {
            let message = format!(
                "{what}; the data of {pod} could not be read in {reads} attempts (see its ReadSurvivor events). It may hold writes newer than any backup, so no other source is taken automatically: repair it, or restore by hand with `etcd-warden restore {} --from <backup>`",
                desired.name
            );
            return Some(vec![Decision::refuse(Rule::RestoreRequired, message)]);
        }
        let message = format!(
            "{what}; {pod} is down with its data intact: its data is read (a scratch copy started alone) before a source is chosen"
        );
        return Some(vec![Decision::act(Rule::Restore, Step::ReadSurvivor { pod }, message)]);
    }
    decisions.push(choose(desired, observed, history, &survivors, &own, now, &what));
    Some(decisions)
}

/// The newest source there is, once every survivor answers (or the wait for it ends).
fn choose(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    survivors: &[PodName],
    own: &[BackupRecord],
    now: Timestamp,
    what: &str,
) -> Decision {
    let refuse = |why: String| {
        let name = &desired.name;
        Decision::refuse(
            Rule::RestoreRequired,
            format!("{what}; {why}; restore by hand: `etcd-warden restore {name} --from ID`"),
        )
    };
    let (Some((last_revision, _)), Some(quorum_at)) =
        (history.seen.last_revision, history.seen.quorum_seen_at)
    else {
        return refuse(
            "the last revision or the time a quorum was last seen is unknown, so no data loss can be bounded"
                .into(),
        );
    };
    // A survivor's revision: as it answers now, or as its data was read.
    let revision_of = |p: PodName| {
        observed.endpoint(p).map(|s| s.revision).or_else(|| history.in_flight.survivor(p).map(|s| s.revision))
    };
    let unanswered: Vec<PodName> = survivors.iter().copied().filter(|p| revision_of(*p).is_none()).collect();
    if let Some(&pod) = unanswered.first() {
        let since = history
            .seen
            .unanswered_since
            .get(&pod)
            .or(history.seen.down_since.get(&pod))
            .copied()
            .unwrap_or(now);
        let until = window_end(since, desired.recovery.unresponsive_after);
        let readable =
            observed.platform.task(pod).is_none_or(|t| !matches!(t.data, DataState::Unreadable(_)));
        if now < until && readable {
            let message = format!(
                "{what}; waiting until {until} for {} to answer: a survivor may hold newer data than any backup",
                list(&unanswered)
            );
            return Decision::wait(Rule::Restore, Some(until), message);
        }
        return refuse(format!(
            "{} survives with intact data but does not answer, so its revision (perhaps newer than every backup) is unknown",
            list(&unanswered)
        ));
    }
    let survivor = survivors
        .iter()
        .filter_map(|p| revision_of(*p).map(|revision| (*p, revision)))
        .max_by_key(|(p, revision)| (*revision, std::cmp::Reverse(*p)));
    let backup = catalog::newest_restorable(own, now);
    let loss = |as_of: Option<Timestamp>, revision: i64| {
        let as_of = if revision >= last_revision { Some(quorum_at) } else { as_of };
        as_of.filter(|t| window_end(*t, desired.policy.max_data_loss) >= quorum_at)
    };
    let limit = humantime::format_duration(desired.policy.max_data_loss);
    match (survivor, backup) {
        (Some((pod, revision)), b) if b.is_none_or(|b: &BackupRecord| revision >= b.revision) => {
            if loss(history.seen.healthy_seen.get(&pod).copied(), revision).is_none() {
                return refuse(format!(
                    "the newest data, {pod} at revision {revision} (last seen revision {last_revision}), may be older than maxDataLoss ({limit})"
                ));
            }
            let endpoint = observed.platform.task(pod).map(|t| t.client_url.clone()).unwrap_or_default();
            let message = format!(
                "{what}; {pod} survives with revision {revision}{}: every member is restored from it",
                b.map(|b| format!(", newer than backup {} (revision {})", b.id, b.revision))
                    .unwrap_or_default()
            );
            Decision::act(Rule::Restore, Step::RestoreFromSurvivor { pod, endpoint }, message)
        }
        (s, Some(record)) => {
            if loss(Some(record.taken_at), record.revision).is_none() {
                return refuse(format!(
                    "the newest verified backup {} (revision {}, taken {}) is more than maxDataLoss ({limit}) older than the last quorum at {quorum_at}",
                    record.id, record.revision, record.taken_at
                ));
            }
            let message = format!(
                "{what}; restoring backup {} (revision {}, taken {}){}",
                record.id,
                record.revision,
                record.taken_at,
                s.map(|(p, r)| format!(", newer than {p} at revision {r}"))
                    .unwrap_or_else(|| ", no voter survives".into())
            );
            Decision::act(Rule::Restore, Step::RestoreFromBackup { id: record.id.clone() }, message)
        }
        _ => match catalog::newest_restorable(&observed.backups.records, now) {
            // Backups there are, of another lineage only: a purged cluster whose
            // destination was reused, or the history a rollback undid.
            Some(other) => refuse(format!(
                "no voter survives and no verified backup is of this cluster's lineage: the newest, {} (revision {}), was taken of {}, not of the data this cluster descends from (docs/decisions.md, \"Lineage\")",
                other.id,
                other.revision,
                other.cluster_id.map_or_else(
                    || "an unrecorded etcd cluster".to_owned(),
                    |id| format!("etcd cluster {}", crate::model::lineage::hex(id))
                )
            )),
            None => refuse("no voter survives and there is no verified backup".to_owned()),
        },
    }
}

/// What the survivors hold, for a human choosing a restore source.
fn survivors_note(observed: &Observed, survivors: &[PodName]) -> String {
    let answering: Vec<String> = survivors
        .iter()
        .filter_map(|p| observed.endpoint(*p).map(|s| format!("{p} at revision {}", s.revision)))
        .collect();
    if answering.is_empty() {
        String::new()
    } else {
        format!("; surviving voters: {} (restore from the highest revision there is)", answering.join(", "))
    }
}

fn list(pods: &[PodName]) -> String {
    pods.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The `--initial-cluster` of a restore by hand, as etcd last listed its voters (names
/// and peer URLs as the members themselves advertised them), never as a template
/// would write them; empty when no list was recorded.
fn initial_cluster_as_listed(history: &History) -> String {
    let voters: Vec<String> = history
        .voters()
        .filter(|m| !m.name.is_empty())
        .flat_map(|m| m.peer_urls.iter().map(move |url| format!("{}={url}", m.name)))
        .collect();
    if voters.is_empty() {
        return String::new();
    }
    format!(
        "; restore every member with the name and peer URL etcd last listed for it: --initial-cluster {}",
        voters.join(",")
    )
}
