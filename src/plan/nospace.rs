//! The NOSPACE alarm (rule `6-nospace`): a member's database reached its quota and
//! etcd refuses writes, cluster-wide, until space is given back and the alarm is
//! disarmed. Deletes, compaction, defragmentation and disarming still work.
//!
//! Under `policy.noSpace: Manual` the plan only says what to run. Under `Recover` every
//! member is defragmented once since the alarm (one at a time as in `defrag.rs`, without
//! its thresholds or pause; a single member at once: it refuses writes already), and
//! again when a compaction by the client freed enough of it; the alarm is disarmed once
//! every database is below 90% of the quota. The controller never compacts.

use super::defrag::{members, next_of_many};
use super::view::View;
use jiff::Timestamp;

use super::{Decision, Rule, Step, window_end};
use crate::domain::PodName;
use crate::manifest::desired::DesiredCluster;
use crate::manifest::desired::{ETCD_DEFAULT_QUOTA_BYTES, NoSpacePolicy};
use crate::model::etcd::{EndpointStatus, ListedMember, human_bytes};
use crate::model::{History, Observed};

/// The share of the quota below which every database must be before the alarm is
/// disarmed: disarming any closer would raise it again at the next writes.
const DISARM_BELOW: f64 = 0.9;

/// The members' quota and where it comes from: the quota they run with, as the platform
/// launched them (local: each process's command line) or as they report it (Status from
/// etcd 3.6, their metrics page before), the smallest where they differ; else the
/// manifest's; else etcd's default. A manifest quota the members do not run with
/// (changed since they started) is named: they run with the old one until they are
/// restarted.
pub fn quota(desired: &DesiredCluster, observed: &Observed) -> (u64, String) {
    let launched = observed.platform.tasks.iter().filter_map(|t| t.quota_backend_bytes);
    let reported = observed
        .endpoints
        .values()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|s| u64::try_from(s.db_size_quota_bytes).ok())
        .filter(|q| *q > 0)
        .chain(launched)
        .min();
    let bytes = |q: u64| human_bytes(i64::try_from(q).unwrap_or(i64::MAX));
    match (reported, desired.maintenance.quota_backend_bytes) {
        (Some(runs), Some(asked)) if runs != asked => (
            runs,
            format!(
                "the quota the members run with; spec.etcd.quotaBackendBytes says {}: they keep {} until they are restarted",
                bytes(asked),
                bytes(runs)
            ),
        ),
        (Some(runs), _) => (runs, "the quota the members run with".to_owned()),
        (None, Some(asked)) => (asked, "spec.etcd.quotaBackendBytes".to_owned()),
        (None, None) => (ETCD_DEFAULT_QUOTA_BYTES, "etcd's default 2 GiB".to_owned()),
    }
}

/// One sentence naming the members that report NOSPACE, the largest database and the
/// quota; `None` without the alarm.
pub fn describe(desired: &DesiredCluster, observed: &Observed) -> Option<String> {
    let alarmed: Vec<(PodName, &EndpointStatus)> = observed
        .platform
        .tasks
        .iter()
        .filter_map(|t| observed.endpoint(t.pod).map(|s| (t.pod, s)))
        .filter(|(_, s)| s.has_no_space_alarm())
        .collect();
    let largest = alarmed.iter().map(|(_, s)| s.db_size_bytes).max()?;
    let names: Vec<String> = alarmed.iter().map(|(p, _)| p.to_string()).collect();
    let (quota, source) = quota(desired, observed);
    Some(format!(
        "NOSPACE alarm on {}: writes are refused; largest database {} of a quota of {} ({source})",
        names.join(", "),
        human_bytes(largest),
        human_bytes(i64::try_from(quota).unwrap_or(i64::MAX)),
    ))
}

/// Decides what a NOSPACE alarm leads to; nothing without one.
pub(super) fn decide(view: &View) -> Option<Vec<Decision>> {
    let (desired, observed, history, now) = (view.desired, view.observed, view.history, view.now);
    let list = observed.member_list.as_deref()?;
    let summary = describe(desired, observed)?;
    if desired.maintenance.no_space == NoSpacePolicy::Manual {
        let message = format!(
            "{summary}; policy.noSpace is Manual: compact in the client (`etcdctl compact REVISION`), run `etcdctl defrag` on each member, then `etcdctl alarm disarm`; or delete data, or raise spec.etcd.quotaBackendBytes; spec.policy.noSpace: Recover lets the controller defragment and disarm"
        );
        return Some(vec![Decision::refuse(Rule::NoSpace, message)]);
    }
    Some(recover(desired, observed, history, list, now, &summary))
}

fn recover(
    desired: &DesiredCluster,
    observed: &Observed,
    history: &History,
    list: &[ListedMember],
    now: Timestamp,
    summary: &str,
) -> Vec<Decision> {
    let recheck = desired.maintenance.defragmentation.no_space_recheck;
    let (quota, _) = quota(desired, observed);
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let limit = (quota as f64 * DISARM_BELOW) as i64;
    let since = history.seen.no_space_since.unwrap_or(observed.at);
    let all = members(observed, list);
    let needing: Vec<_> = all
        .iter()
        .filter(|(pod, s)| {
            let last = history.seen.defragmented.get(pod).filter(|at| **at >= since);
            let Some(last) = last else { return true };
            // Once done, again when the client's compaction freed enough of it. etcd
            // counts pages a compaction freed as in use until its next write, which the
            // alarm refuses: so, while the database fills the quota, again every
            // `noSpaceRecheck` too.
            s.db_size_bytes >= limit
                && ((s.db_size_in_use_bytes > 0 && s.db_size_in_use_bytes < limit)
                    || now >= window_end(*last, recheck))
        })
        .copied()
        .collect();
    let (voting, _) = observed.voters_of(list);
    if let Some((pod, status)) = needing.first() {
        let why = format!("{summary}; policy.noSpace is Recover: every member is defragmented");
        if voting > 1 {
            return next_of_many(observed, list, &needing, Rule::NoSpace, &why).into_iter().collect();
        }
        let Some(task) = observed.platform.task(*pod) else { return Vec::new() };
        let step = Step::Defragment {
            pod: *pod,
            endpoint: task.client_url.clone(),
            db_size_before: status.db_size_bytes,
        };
        return vec![Decision::act(
            Rule::NoSpace,
            step,
            format!("{why}: a single member refuses writes already, so at once"),
        )];
    }
    if let Some((pod, status)) = all.iter().find(|(_, s)| s.db_size_bytes >= limit) {
        let message = format!(
            "{summary}; every member was defragmented and {pod} still holds {}: the data itself fills the quota, so the alarm stays armed; compact in the client (kube-apiserver compacts every 5 minutes), delete data, or raise spec.etcd.quotaBackendBytes",
            human_bytes(status.db_size_bytes)
        );
        let next = history.seen.last_defragmentation().map(|last| window_end(last, recheck));
        let again = format!(
            "{pod} is defragmented again every {} (spec.maintenance.defragmentation.noSpaceRecheck) while the alarm lasts, in case the client compacted",
            humantime::format_duration(recheck)
        );
        return vec![Decision::refuse(Rule::NoSpace, message), Decision::wait(Rule::NoSpace, next, again)];
    }
    // Disarmed only when every voter answers: a member that does not may hold a
    // database over the quota, and would raise the alarm again at once.
    let (voting, answering) = observed.voters_of(list);
    if answering < voting {
        let message = format!(
            "{summary}; every database that answers is below 90% of the quota, but {} of {voting} voters answer: the alarm is disarmed once every voter answers",
            answering
        );
        return vec![Decision::wait(Rule::NoSpace, None, message)];
    }
    // A disarm that did not hold (the alarm raised again) is not repeated at once:
    // `noSpaceRecheck`, doubling with each one, at most 5 minutes.
    if let Some(disarms) = history.seen.disarms.as_ref().filter(|d| d.count > 0) {
        let pause = super::doubled(recheck, disarms.count - 1, MAX_DISARM_PAUSE);
        let next = window_end(disarms.last, pause);
        if now < next {
            let message = format!(
                "{summary}; the alarm came back after {} disarm(s), the last at {}: disarmed again at {next}",
                disarms.count, disarms.last
            );
            return vec![Decision::wait(Rule::NoSpace, Some(next), message)];
        }
    }
    let Some((_, via)) = observed.best_source() else { return Vec::new() };
    let message = format!(
        "{summary}; every member was defragmented and every database is below 90% of the quota: the alarm is disarmed"
    );
    vec![Decision::act(Rule::NoSpace, Step::DisarmAlarm { via }, message)]
}

/// The longest pause between two disarms of an alarm that keeps coming back.
const MAX_DISARM_PAUSE: std::time::Duration = std::time::Duration::from_secs(300);
