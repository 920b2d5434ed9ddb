//! Scenarios 3b and 4d: a permanent loss of the majority (or of the single member).
//!
//! Under `policy.quorumLoss: Manual`, `RestoreRequired` and nothing else. Under
//! `Restore`: from the surviving member with the highest revision when one answers,
//! otherwise from the newest verified backup within `maxDataLoss` of the last seen
//! revision, otherwise `RestoreRequired`. Never while a quorum is reachable.

use jiff::Timestamp;

use super::{Decision, Rule, Step, window_end};
use crate::backup::catalog::BackupRecord;
use crate::domain::PodName;
use crate::manifest::{DesiredCluster, QuorumLossPolicy};
use crate::observe::platform::AgentState;
use crate::observe::{History, Observed};

/// `Some` when the cluster's quorum is permanently lost (or about to be declared so):
/// the decisions that stand for it.
pub(super) fn decide(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    now: Timestamp,
) -> Option<Vec<Decision>> {
    if observed.healthy_voters() >= desired.members.quorum() {
        return None;
    }
    let lost: Vec<(PodName, Timestamp)> = desired
        .members
        .pods()
        .filter(|p| observed.platform.task(*p).is_some_and(|t| t.agent == AgentState::Lost))
        .map(|p| {
            (
                p,
                window_end(
                    history.lost_since.get(&p).copied().unwrap_or(now),
                    desired.recovery.agent_lost_after,
                ),
            )
        })
        .collect();
    // Permanent only when the members that may still come back cannot make a quorum.
    if desired.members.get() - lost.len() >= desired.members.quorum() {
        return None;
    }
    let name = &desired.name;
    let lost_names: Vec<String> = lost.iter().map(|(p, _)| p.to_string()).collect();
    if let Some(until) = lost.iter().map(|(_, end)| *end).filter(|end| now < *end).max() {
        let message = format!(
            "the data of {} is gone; declared lost at {until} (agentLostAfter)",
            lost_names.join(", ")
        );
        return Some(vec![Decision::wait(Rule::RestoreRequired, Some(until), message)]);
    }
    let what = format!("quorum is permanently lost: the data of {} is gone", lost_names.join(", "));
    if desired.policy.quorum_loss == QuorumLossPolicy::Manual {
        let message = format!(
            "{what}; policy.quorumLoss is Manual: run `etcd-warden restore {name} --from latest` (or --from ID, see `etcd-warden backups {name}`)"
        );
        return Some(vec![Decision::refuse(Rule::RestoreRequired, message)]);
    }
    let survivor = observed
        .platform
        .tasks
        .iter()
        .filter(|t| desired.members.pods().any(|p| p == t.pod) && t.agent == AgentState::Healthy)
        .filter_map(|t| observed.endpoint(t.pod).map(|s| (t, s.revision)))
        .max_by_key(|(t, revision)| (*revision, std::cmp::Reverse(t.pod)));
    if let Some((task, revision)) = survivor {
        let step = Step::RestoreFromSurvivor { pod: task.pod, endpoint: task.client_url.clone() };
        let message = format!(
            "{what}; {} survives with revision {revision}: every member is restored from it",
            task.pod
        );
        return Some(vec![Decision::act(Rule::Restore, step, message)]);
    }
    match backup_within(desired, &observed.backups.records, history) {
        Ok(record) => {
            let message = format!(
                "{what}; no member survives: restoring backup {} (revision {}, taken {})",
                record.id, record.revision, record.taken_at
            );
            Some(vec![Decision::act(
                Rule::Restore,
                Step::RestoreFromBackup { id: record.id.clone() },
                message,
            )])
        }
        Err(why) => Some(vec![Decision::refuse(
            Rule::RestoreRequired,
            format!("{what}; {why}; restore by hand: `etcd-warden restore {name} --from ID`"),
        )]),
    }
}

/// The newest verified backup taken no more than `maxDataLoss` before the last
/// revision seen.
fn backup_within<'a>(
    desired: &DesiredCluster,
    records: &'a [BackupRecord],
    history: &History,
) -> Result<&'a BackupRecord, String> {
    let newest = records.iter().filter(|r| r.verified).max_by_key(|r| r.taken_at);
    let Some(newest) = newest else { return Err("there is no verified backup".to_owned()) };
    let Some((_, seen_at)) = history.last_revision else { return Ok(newest) };
    let limit = humantime::format_duration(desired.policy.max_data_loss);
    if window_end(newest.taken_at, desired.policy.max_data_loss) >= seen_at {
        Ok(newest)
    } else {
        Err(format!(
            "the newest verified backup {} was taken at {}, more than maxDataLoss ({limit}) before the last revision seen at {seen_at}",
            newest.id, newest.taken_at
        ))
    }
}
