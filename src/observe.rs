//! Observation: what the platform and etcd say now, gathered into [`Observed`].
//!
//! `observe` reads the whole world every pass (level-triggered). It never acts.

use std::collections::BTreeMap;

use jiff::Timestamp;
use prometheus_client::metrics::histogram::Histogram;

use crate::domain::PodName;
use crate::etcd::EtcdApi;
use crate::model::metrics::MetricsAnswer;
use crate::model::{BackupView, KeptAside, Observed, strangers};
use crate::platform::{Platform, PlatformError};

/// Observes the platform and every member that runs. `last_seen` is the etcd cluster
/// last seen with a quorum (the history's): the answers of any other cluster, a
/// stranger on a slot's port, are set aside as failures that name it
/// ([`crate::model::strangers`]). How long the platform took to answer, whether it
/// did or not, goes to `platform_latency`.
///
/// # Errors
/// Only when the platform cannot be observed; unreachable members are part of the
/// observation, not errors.
pub async fn observe<P: Platform>(
    platform: &P,
    admin: &dyn EtcdApi,
    at: Timestamp,
    last_seen: Option<u64>,
    platform_latency: &Histogram,
) -> Result<Observed, PlatformError> {
    let asked = tokio::time::Instant::now();
    let tasks = platform.observe().await;
    platform_latency.observe(asked.elapsed().as_secs_f64());
    let tasks = tasks?;
    // Every slot is asked, whatever the platform says of its task: the member ID that
    // answers at a slot is that slot's member (a slot that is down costs one short
    // timeout, and the slots are asked together).
    let asks = tasks.tasks.iter().filter(|t| !t.client_url.is_empty()).map(|t| async move {
        let answer = admin.status(&t.client_url).await.map_err(|e| explained(&e.to_string()));
        (t.pod, answer)
    });
    let mut endpoints: BTreeMap<_, _> = futures::future::join_all(asks).await.into_iter().collect();
    if let Some(ours) = strangers::our_cluster(&endpoints, last_seen, tasks.tasks.len()) {
        strangers::set_aside(&mut endpoints, ours);
    }
    let mut sources: Vec<(PodName, bool)> = endpoints
        .iter()
        .filter_map(|(pod, r)| {
            r.as_ref().ok().filter(|s| s.is_healthy()).map(|s| (*pod, s.leader == Some(s.id)))
        })
        .collect();
    // The leader first, then the others in pod order.
    sources.sort_by_key(|(pod, leader)| (!leader, *pod));
    let mut member_list = None;
    let mut member_list_from = None;
    let mut cluster_version = None;
    for (pod, _) in sources {
        let Some(task) = tasks.task(pod) else { continue };
        if let Ok(list) = admin.member_list(&task.client_url).await {
            member_list = Some(list);
            member_list_from = Some(pod);
            cluster_version = admin.cluster_version(&task.client_url).await.ok();
            break;
        }
    }
    let metrics = metrics(platform, &mut endpoints).await;
    let tasks_pods: Vec<PodName> = tasks.tasks.iter().map(|t| t.pod).collect();
    let answered = endpoints.values().filter_map(|r| r.as_ref().ok());
    let capabilities = platform
        .capabilities()
        .with_member_versions(answered)
        .with_cluster_version(cluster_version.as_deref());
    Ok(Observed {
        at,
        platform: tasks,
        endpoints,
        member_list,
        member_list_from,
        backups: BackupView::default(),
        capabilities,
        kept_aside: kept_aside(platform, &tasks_pods),
        metrics,
        certificates: None,
    })
}

/// Asks the metrics port of every member whose client port failed (where the platform
/// has one), together, and says in that member's error what it answered: an etcd that
/// runs in its cluster behind a client connection that fails is not a member that is
/// down.
async fn metrics<P: Platform>(
    platform: &P,
    endpoints: &mut BTreeMap<PodName, Result<crate::model::etcd::EndpointStatus, String>>,
) -> BTreeMap<PodName, MetricsAnswer> {
    let failed: Vec<PodName> = endpoints.iter().filter(|(_, r)| r.is_err()).map(|(pod, _)| *pod).collect();
    let asks = failed.into_iter().map(|pod| async move {
        let text = platform.metrics(pod).await?;
        Some((pod, MetricsAnswer::parse(&text).ok()?))
    });
    let answers: BTreeMap<PodName, MetricsAnswer> =
        futures::future::join_all(asks).await.into_iter().flatten().collect();
    for (pod, answer) in &answers {
        if let Some(Err(error)) = endpoints.get_mut(pod) {
            error.push_str(&format!("; {}", metrics_said(answer)));
        }
    }
    answers
}

/// What a metrics port answered, for a member whose client port failed. Whether it
/// vouches for the slot's member is the status's to say (`Observed::vouched_for`): the
/// port may be another member's.
fn metrics_said(answer: &MetricsAnswer) -> String {
    let member = answer.member.map_or_else(|| "a member".to_owned(), |id| format!("member {id}"));
    let leader = if answer.has_leader { "with a leader" } else { "with no leader" };
    format!("its metrics port answers as {member} {leader}")
}

/// A call's error as status shows it: a name that does not resolve is said to be one
/// (on the DC/OS 2.x line autoip names exist only while the task runs, so a member that
/// is down shows as a DNS failure), not left to read as an etcd fault.
fn explained(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    let dns = ["dns error", "failed to lookup address", "name or service not known", "no such host"];
    if dns.iter().any(|d| lower.contains(d)) {
        format!(
            "its client URL's host name does not resolve: the member is down (a DC/OS autoip name exists only while its task runs) or the endpoint is wrong ({error})"
        )
    } else {
        error.to_owned()
    }
}

/// The data directories restores moved aside beside each member's, where this machine
/// holds them (the local platform).
fn kept_aside<P: Platform>(platform: &P, pods: &[PodName]) -> Vec<KeptAside> {
    let mut kept = Vec::new();
    for pod in pods {
        let Some(dir) = platform.local_data_dir(*pod) else { continue };
        for (path, size_bytes) in crate::platform::data::kept_aside_of(&dir) {
            kept.push(KeptAside { pod: *pod, path: path.display().to_string(), size_bytes });
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::explained;

    #[test]
    fn a_name_that_does_not_resolve_is_said_to_be_one_and_other_errors_are_kept() {
        let dns = "https://etcd-1-peer.k.autoip.dcos.thisdcos.directory:2379: transport error: dns error: failed to lookup address information: Name or service not known";
        let said = explained(dns);
        assert!(said.starts_with("its client URL's host name does not resolve"), "{said}");
        assert!(said.contains(dns), "the original kept: {said}");
        let refused = "https://127.0.0.1:2379: transport error: Connection refused (os error 111)";
        assert_eq!(explained(refused), refused);
    }
}
