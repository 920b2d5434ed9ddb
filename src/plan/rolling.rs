//! Rolling restart (rule `7-rolling-restart`): a member runs with the launch settings it
//! was started with, so a changed `spec.etcd.quotaBackendBytes` reaches it only when it
//! starts again, and a certificate the platform generated for it is issued anew only
//! then. Where the platform says how it launched each member (local: the process's
//! command line, and the expiry of its generated certificate), the members whose quota
//! differs, or whose certificate expires within 30 days, are restarted on their own
//! data: one per pass, followers first, the leader last after leadership moved, only
//! while every voter is healthy and the cluster tolerates a failure (as
//! defragmentation, `defrag.rs`); a single member only inside its maintenance window.
//!
//! Never to a quota below what a database holds: the member would refuse writes at
//! once. Where the platform launches the members itself (DC/OS: the package's options)
//! and they report another quota than the manifest names, the plan says they must be
//! restarted there.

use super::defrag::{members, one_member_at_a_time};
use super::view::View;
use super::{Decision, Rule, Step, initial_cluster, maintenance_window};
use jiff::SignedDuration;

use crate::domain::PodName;
use crate::manifest::desired::ETCD_DEFAULT_QUOTA_BYTES;
use crate::model::etcd::{EndpointStatus, human_bytes};
use crate::model::platform::CERTIFICATE_RENEW_BEFORE;

fn bytes(quota: u64) -> String {
    human_bytes(i64::try_from(quota).unwrap_or(i64::MAX))
}

/// Decides the restart of one member that runs with a quota the manifest changed, or
/// whose generated certificate expires within [`CERTIFICATE_RENEW_BEFORE`]; a refusal
/// that says why not; nothing when every member runs as asked.
pub(super) fn decide(view: &View) -> Vec<Decision> {
    let (desired, observed, now) = (view.desired, view.observed, view.now);
    let Some(list) = observed.member_list.as_deref() else { return Vec::new() };
    let wanted = desired.maintenance.quota_backend_bytes.unwrap_or(ETCD_DEFAULT_QUOTA_BYTES);
    let answering = members(observed, list);
    let task = |pod: PodName| observed.platform.task(pod);
    let quota_change = |pod: PodName| {
        let runs = task(pod)?.quota_backend_bytes.filter(|q| *q != wanted)?;
        Some(format!("quota {} → {}", bytes(runs), bytes(wanted)))
    };
    let renew_from =
        SignedDuration::try_from(CERTIFICATE_RENEW_BEFORE).ok().and_then(|d| now.checked_add(d).ok());
    let renewal = |pod: PodName| {
        let expires = task(pod)?.certificate_expires.filter(|t| renew_from.is_some_and(|from| *t <= from))?;
        Some(format!("its certificate expires {expires}: issued anew"))
    };
    let change = |pod: PodName| {
        let changes: Vec<String> = [quota_change(pod), renewal(pod)].into_iter().flatten().collect();
        (!changes.is_empty()).then(|| changes.join("; "))
    };
    let stale: Vec<(PodName, &EndpointStatus)> =
        answering.iter().copied().filter(|(pod, _)| change(*pod).is_some()).collect();
    if stale.is_empty() {
        return elsewhere(view, &answering).into_iter().collect();
    }
    let runs: Vec<String> =
        stale.iter().filter_map(|(pod, _)| Some(format!("{pod}: {}", change(*pod)?))).collect();
    let why = format!(
        "members run with launch settings the manifest no longer gives them ({}): they are restarted with them",
        runs.join(", ")
    );
    let quota_changes = stale.iter().any(|(pod, _)| quota_change(*pod).is_some());
    let fullest = answering.iter().max_by_key(|(_, s)| s.db_size_bytes);
    if let Some((pod, status)) =
        fullest.filter(|(_, s)| quota_changes && u64::try_from(s.db_size_bytes).is_ok_and(|d| d >= wanted))
    {
        let message = format!(
            "{why}; not applied: spec.etcd.quotaBackendBytes asks {} and {pod}'s database is {}, at or above it, so the members would refuse every write; compact and defragment first, or ask a larger quota",
            bytes(wanted),
            human_bytes(status.db_size_bytes)
        );
        return vec![Decision::refuse(Rule::RollingRestart, message)];
    }
    let Some(initial) = initial_cluster(desired, observed) else { return Vec::new() };
    let restart = |pod: PodName, _: String, _: &EndpointStatus| Step::RestartMember {
        pod,
        initial_cluster: initial.clone(),
        change: change(pod).unwrap_or_default(),
    };
    let (voting, _) = observed.voters_of(list);
    if voting > 1 {
        return one_member_at_a_time(observed, list, &stale, Rule::RollingRestart, &why, restart)
            .into_iter()
            .collect();
    }
    // A single member stops serving while it restarts: only inside its window.
    let window = desired.maintenance.defragmentation.window.as_ref();
    if let Some(not_now) =
        maintenance_window::closed_to_a_single_member(window, now, Rule::RollingRestart, "restarted", &why)
    {
        return vec![not_now];
    }
    let Some((pod, status)) = stale.first().filter(|(_, s)| s.is_healthy()) else { return Vec::new() };
    let step = restart(*pod, String::new(), status);
    vec![Decision::act(Rule::RollingRestart, step, format!("{why}: inside the maintenance window"))]
}

/// Members that report a quota (etcd 3.6's Status, or their metrics page under a
/// NOSPACE alarm) other than the one the manifest names, on a platform that does not
/// say how it launched them: they must be restarted there.
fn elsewhere(view: &View, answering: &[(PodName, &EndpointStatus)]) -> Option<Decision> {
    let asked = view.desired.maintenance.quota_backend_bytes?;
    let launched_unknown =
        |pod: PodName| view.observed.platform.task(pod).is_some_and(|t| t.quota_backend_bytes.is_none());
    let other: Vec<String> = answering
        .iter()
        .filter(|(pod, s)| {
            launched_unknown(*pod) && u64::try_from(s.db_size_quota_bytes).is_ok_and(|q| q > 0 && q != asked)
        })
        .map(|(pod, s)| format!("{pod} with {}", human_bytes(s.db_size_quota_bytes)))
        .collect();
    if other.is_empty() {
        return None;
    }
    let message = format!(
        "spec.etcd.quotaBackendBytes says {} and members run with another quota ({}): the platform launches them, so set the quota where it does (DC/OS: the package's etcd options) and restart them there; the controller goes by the quota they run with",
        bytes(asked),
        other.join(", ")
    );
    Some(Decision::refuse(Rule::RollingRestart, message))
}
