//! `DcosPlatform`: the [`Platform`] of the `etcd-N` pods of a DC/OS Kubernetes service.
//!
//! It observes through the SDK scheduler and the Mesos master (one full read per pass:
//! the pod list, each etcd pod's status and info, the master's state; any failure fails
//! the whole observation, so that no pass acts on half of it) and asks the scheduler to
//! restart or replace a pod, or Cosmos to turn high availability on. It never starts,
//! stops or wipes a member itself: the SDK does, on the agents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::client::{DcosClient, DcosError};
use super::mapping::DcosView;
use super::shapes::{SdkReply, files, marathon};
use crate::domain::PodName;
use crate::manifest::desired::{DcosSpec, EndpointsSpec, EtcdAccess};
use crate::model::capabilities::Capabilities;
use crate::model::platform::PlatformObservation;
use crate::platform::{LaunchSpec, MemberUrls, Platform, PlatformError, RemoteError};
use crate::retry::ErrorKind;

/// The client URL of a member when the manifest gives no `endpoints` (§5.3, §9.8).
pub const DEFAULT_ENDPOINTS: &str = "https://{pod}-peer.{service}.autoip.dcos.thisdcos.directory:2379";

/// The etcd pods of one DC/OS service.
#[derive(Debug)]
pub struct DcosPlatform {
    client: DcosClient,
    /// The service name as DNS names write it: without slashes (`prodkubernetes`).
    dns_service: String,
    endpoints: EndpointsSpec,
    /// The members' metrics port, and the plain HTTP client that asks it.
    metrics: Option<(u16, reqwest::Client)>,
    /// Where each pod's running task writes its stderr (agent ID and the path in the
    /// agent's files API), as the last observation found it.
    sandboxes: std::sync::Mutex<BTreeMap<PodName, (String, String)>>,
}

/// How much of a member's stderr is read for its last lines: its log grows for as long
/// as it runs.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// How long a metrics port has to answer: it is asked only of a member whose client
/// port already failed, within the pass.
const METRICS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl DcosPlatform {
    /// A platform for the manifest's DC/OS settings and etcd endpoints. Sends nothing.
    ///
    /// # Errors
    /// When the DC/OS CA file cannot be read.
    pub fn new(spec: &DcosSpec, etcd: &EtcdAccess) -> Result<Self, PlatformError> {
        let client = DcosClient::new(spec).map_err(|e| platform_error(DcosError::Auth(e)))?;
        // dcos-commons' own test helpers name a foldered service `prodkubernetes` in
        // autoip names (`testing/sdk_hosts.py`); §5.3 calls it unconfirmed: a map of
        // endpoints avoids the question.
        let dns_service = spec.service.replace('/', "");
        let metrics = match etcd.metrics_port {
            Some(port) => {
                let probe = reqwest::Client::builder().timeout(METRICS_TIMEOUT).build().map_err(|e| {
                    let reason = format!("the metrics client: {e}");
                    PlatformError::Refused(RemoteError::reason(reason, ErrorKind::Permanent))
                })?;
                Some((port, probe))
            }
            None => None,
        };
        let sandboxes = std::sync::Mutex::default();
        Ok(Self { client, dns_service, endpoints: etcd.endpoints.clone(), metrics, sandboxes })
    }

    /// The metrics URL of `pod`: its client URL's host, the metrics port, plain HTTP.
    fn metrics_url(&self, pod: PodName) -> Option<String> {
        let (port, _) = self.metrics.as_ref()?;
        let client = reqwest::Url::parse(&self.urls(pod).client).ok()?;
        Some(format!("http://{}:{port}/metrics", client.host_str()?))
    }

    /// The member's client and peer URLs. The peer URL is the client URL's host with
    /// the next port (2379 → 2380, the package's peer port, §5.3).
    pub fn urls(&self, pod: PodName) -> MemberUrls {
        let render = |template: &str| {
            template.replace("{pod}", &pod.to_string()).replace("{service}", &self.dns_service)
        };
        let client = match &self.endpoints {
            EndpointsSpec::Default => render(DEFAULT_ENDPOINTS),
            EndpointsSpec::Template(template) => render(template),
            EndpointsSpec::Map(map) => {
                map.iter().find(|(p, _)| *p == pod).map(|(_, url)| url.clone()).unwrap_or_default()
            }
        };
        let peer = peer_url(&client).unwrap_or_default();
        MemberUrls { client, peer }
    }

    async fn read(&self) -> Result<DcosView, PlatformError> {
        let pods = self.client.pod_list().await.map_err(platform_error)?.etcd_pods().map_err(shape_error)?;
        let mut statuses = Vec::new();
        let mut infos = BTreeMap::new();
        for pod in pods {
            // A pod listed and then unknown (the SDK's 404) leaves the observation
            // incomplete: the pass decides nothing on it, and the next one reads again.
            // Dropped, the pod would look gone, and its status and pod info (the
            // `permanently-failed` label) are what tell a replacement from a failure.
            match self.client.pod_status(pod).await.map_err(platform_error)? {
                SdkReply::Found(status) => statuses.push(status),
                SdkReply::NotFound(_) => return Err(incomplete(pod, "status")),
            }
            match self.client.pod_info(pod).await.map_err(platform_error)? {
                SdkReply::Found(info) => {
                    infos.insert(pod, info);
                }
                SdkReply::NotFound(_) => return Err(incomplete(pod, "info")),
            }
        }
        let master = self.client.master_state().await.map_err(platform_error)?;
        let deploy = self.client.plan("deploy").await.map_err(platform_error)?.plan().cloned();
        let recovery = self.client.plan("recovery").await.map_err(platform_error)?.plan().cloned();
        Ok(DcosView { pods: statuses, infos, master, deploy, recovery })
    }
}

/// `https://host:2379` → `https://host:2380`; `None` for a URL without a host.
fn peer_url(client: &str) -> Option<String> {
    let url = reqwest::Url::parse(client).ok()?;
    let port = url.port_or_known_default()?.checked_add(1)?;
    Some(format!("{}://{}:{port}", url.scheme(), url.host_str()?))
}

/// A pod the scheduler listed whose `what` (status, info) it then does not know.
fn incomplete(pod: PodName, what: &str) -> PlatformError {
    PlatformError::Unreachable(
        format!(
            "the scheduler lists pod {pod} but answers 404 for its {what}: the observation is incomplete, nothing is decided on it; the next pass reads again"
        )
        .into(),
    )
}

fn shape_error(error: super::shapes::ShapeError) -> PlatformError {
    platform_error(DcosError::from(error))
}

/// The DC/OS error kept whole, with whether a retry can help as it says.
fn remote(error: DcosError) -> RemoteError {
    let retry = error.retry();
    RemoteError::new(error, retry)
}

/// A DC/OS error as the platform's: certainly not made, perhaps made, or refused.
fn platform_error(error: DcosError) -> PlatformError {
    match error {
        e if e.certainly_not_made() => PlatformError::Unreachable(remote(e)),
        e @ DcosError::Timeout { .. } => PlatformError::Uncertain(remote(e)),
        e => PlatformError::Refused(remote(e)),
    }
}

impl Platform for DcosPlatform {
    async fn observe(&self) -> Result<PlatformObservation, PlatformError> {
        let view = self.read().await?;
        let observation =
            // Replies that make no observation: retried, as a reply of another shape is
            // (`DcosError::retry`).
            view.observation(|pod| self.urls(pod))
                .map_err(|e| PlatformError::Refused(RemoteError::new(e, ErrorKind::Transient)))?;
        // Each task's sandbox, for its log: the Mesos task ID, its agent, framework and
        // executor, from the master's state.
        let sandboxes = observation
            .tasks
            .iter()
            .filter_map(|t| {
                let id = t.instance.as_deref()?;
                let (task, _) = view.master.task(id)?;
                let executor = task.executor_id.as_deref().filter(|e| !e.is_empty())?;
                Some((t.pod, (task.slave_id.clone(), files::task_stderr(&task.framework_id, executor, id))))
            })
            .collect();
        *self.sandboxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = sandboxes;
        Ok(observation)
    }

    /// Never resolves: the scheduler's and the master's APIs are polled, at the resync.
    async fn changed(&self, _observation: &PlatformObservation) {
        std::future::pending().await
    }

    async fn member_urls(&self, pod: PodName) -> Result<MemberUrls, PlatformError> {
        Ok(self.urls(pod))
    }

    async fn ensure_running(&self, _pod: PodName, _spec: &LaunchSpec) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("start members itself: the SDK launches its pods"))
    }

    async fn ensure_stopped(&self, _pod: PodName) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("stop members itself: the SDK runs its pods"))
    }

    async fn ensure_wiped(&self, _pod: PodName) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("wipe members: their data lives on the agents"))
    }

    async fn ensure_forgotten(&self, _pod: PodName) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("remove members: the package cannot scale down"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::DCOS
    }

    async fn request_restart(&self, pod: PodName) -> Result<(), PlatformError> {
        match self.client.restart(pod).await.map_err(platform_error)? {
            SdkReply::Found(_) => Ok(()),
            SdkReply::NotFound(_) => Err(PlatformError::UnknownPod(pod)),
        }
    }

    async fn request_replace(&self, pod: PodName) -> Result<(), PlatformError> {
        match self.client.replace(pod).await.map_err(platform_error)? {
            SdkReply::Found(_) => Ok(()),
            SdkReply::NotFound(_) => Err(PlatformError::UnknownPod(pod)),
        }
    }

    /// Three members: high availability on, on either package line. Five: only on
    /// kubernetes-cluster 2.4 and later (`etcd.5_etcd_nodes`), read from Cosmos
    /// describe first; elsewhere refused, nothing sent.
    async fn request_scale_up(&self, members: usize) -> Result<(), PlatformError> {
        // Never an update while Marathon deploys the service (an update of ours whose
        // answer was lost, or an operator's): the next pass asks again.
        let deployments = self.client.marathon_deployments().await.map_err(platform_error)?;
        let app = self.client.app_id();
        if let Some(running) = marathon::of_app(&deployments, &app) {
            return Err(PlatformError::Busy(
                format!("{} of {app} runs: no Cosmos update is sent until it is over", running.describe())
                    .into(),
            ));
        }
        match members {
            3 => self.client.update_high_availability().await.map(|_| ()).map_err(platform_error),
            5 => {
                let package = self.client.describe().await.map_err(platform_error)?.package;
                match package.line() {
                    Some(line) if line.max_members() >= 5 => {
                        self.client.update_five_members().await.map(|_| ()).map_err(platform_error)
                    }
                    _ => Err(PlatformError::Cannot(format!(
                        "the service runs {} {}, whose etcd runs 1 or 3 members; 5 need kubernetes-cluster 2.4 or later (its option etcd.5_etcd_nodes): set spec.members to 3, or upgrade the package",
                        package.name, package.version
                    ))),
                }
            }
            _ => Err(PlatformError::Unsupported("run other than 1, 3 or 5 members")),
        }
    }

    fn local_data_dir(&self, _pod: PodName) -> Option<PathBuf> {
        None
    }

    async fn metrics(&self, pod: PodName) -> Option<String> {
        let url = self.metrics_url(pod)?;
        let (_, probe) = self.metrics.as_ref()?;
        let reply = probe.get(&url).send().await.ok()?;
        if !reply.status().is_success() {
            return None;
        }
        reply.text().await.ok()
    }

    /// The last lines of the pod's task's stderr, through the agent's files API (the
    /// sandbox the last observation found; none before one, or for a task without an
    /// executor).
    async fn log_tail(&self, pod: PodName, lines: usize) -> Result<Vec<String>, PlatformError> {
        let sandbox =
            self.sandboxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&pod).cloned();
        let Some((agent, path)) = sandbox else { return Ok(Vec::new()) };
        let length = self.client.read_file(&agent, &path, -1, 0).await.map_err(platform_error)?.offset;
        let from = length.saturating_sub(LOG_TAIL_BYTES);
        let offset = i64::try_from(from).unwrap_or(i64::MAX);
        let chunk =
            self.client.read_file(&agent, &path, offset, LOG_TAIL_BYTES).await.map_err(platform_error)?;
        let all: Vec<&str> = chunk.data.lines().collect();
        // A tail cut mid-line starts with a piece of a line: left out.
        let whole = if from > 0 { all.get(1..).unwrap_or_default() } else { &all[..] };
        Ok(whole[whole.len().saturating_sub(lines)..].iter().map(|l| (*l).to_owned()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::desired::DcosCredentials;

    fn platform(service: &str, endpoints: EndpointsSpec) -> DcosPlatform {
        let spec = DcosSpec {
            url: "http://127.0.0.1:1".to_owned(),
            service: service.to_owned(),
            ca_file: None,
            credentials: DcosCredentials::Token { token_file: PathBuf::from("/nonexistent") },
        };
        DcosPlatform::new(&spec, &EtcdAccess { endpoints, metrics_port: Some(2381), ..EtcdAccess::default() })
            .expect("a platform")
    }

    #[test]
    fn urls_come_from_the_default_template_a_template_or_a_map_with_the_next_port_for_peers() {
        let pod = |i| PodName::new(i).expect("a slot");
        let default = platform("/prod/kubernetes", EndpointsSpec::Default).urls(pod(1));
        assert_eq!(default.client, "https://etcd-1-peer.prodkubernetes.autoip.dcos.thisdcos.directory:2379");
        assert_eq!(default.peer, "https://etcd-1-peer.prodkubernetes.autoip.dcos.thisdcos.directory:2380");
        let template = EndpointsSpec::Template("https://{pod}-peer.{service}.mesos:2379".to_owned());
        let seed = platform("kubernetes", template).urls(pod(0));
        assert_eq!(seed.client, "https://etcd-0-peer.kubernetes.mesos:2379");
        assert_eq!(seed.peer, "https://etcd-0-peer.kubernetes.mesos:2380");
        let map = EndpointsSpec::Map(vec![(pod(0), "https://10.0.1.5:2379".to_owned())]);
        let mapped = platform("kubernetes", map);
        assert_eq!(mapped.urls(pod(0)).peer, "https://10.0.1.5:2380");
        assert_eq!(mapped.urls(pod(2)), MemberUrls { client: String::new(), peer: String::new() });
        assert_eq!(peer_url("https://[::1]:23790").as_deref(), Some("https://[::1]:23791"));
    }

    /// A DC/OS failure reaches the worker as the platform's error with the DC/OS error
    /// kept whole behind it, and the retry that error says of itself. A token file that
    /// cannot be read waits for a change, as the login always said (the platform used
    /// to flatten it into a string that was retried with backoff); the scheduler away
    /// or slow, or a reply of another shape, is retried.
    #[tokio::test]
    async fn a_dcos_failure_keeps_its_error_and_its_retry_up_to_the_worker() {
        use crate::reconcile::ReconcileError;
        use crate::retry::ErrorKind::{Permanent, Transient};
        let p = platform("kubernetes", EndpointsSpec::Default);
        let error = p.observe().await.expect_err("no token file to log in with");
        let PlatformError::Refused(remote) = &error else { panic!("{error:?}") };
        let dcos = remote.error().downcast_ref::<DcosError>();
        assert!(
            matches!(dcos, Some(DcosError::Auth(crate::platform::dcos::auth::AuthError::ReadFile { .. }))),
            "{dcos:?}"
        );
        assert!(error.to_string().contains("/nonexistent"), "{error}");
        assert_eq!(ReconcileError::Observe(error).kind(), Permanent);

        let shape =
            crate::platform::dcos::shapes::ShapeError::Value { what: "pod list", reason: "odd".into() };
        for (dcos, kind) in [
            (DcosError::Unreachable { what: "pod status", why: "502".into() }, "Unreachable"),
            (DcosError::Timeout { what: "restart", why: "no answer in 10 s".into() }, "Uncertain"),
            (DcosError::Shape(shape), "Refused"),
        ] {
            let shown = dcos.to_string();
            let error = platform_error(dcos);
            let (variant, remote) = match &error {
                PlatformError::Unreachable(r) => ("Unreachable", r),
                PlatformError::Uncertain(r) => ("Uncertain", r),
                PlatformError::Refused(r) => ("Refused", r),
                other => panic!("{other:?}"),
            };
            assert_eq!((variant, error.retry()), (kind, Transient), "{error}");
            assert_eq!(std::error::Error::source(&error).map(ToString::to_string), Some(shown.clone()));
            assert_eq!(remote.error().downcast_ref::<DcosError>().map(ToString::to_string), Some(shown));
        }
    }

    #[tokio::test]
    async fn the_platform_never_starts_stops_or_wipes_a_member_itself() {
        let p = platform("kubernetes", EndpointsSpec::Default);
        let pod = PodName::new(0).expect("a slot");
        assert!(matches!(p.ensure_stopped(pod).await, Err(PlatformError::Unsupported(_))));
        assert!(matches!(p.ensure_wiped(pod).await, Err(PlatformError::Unsupported(_))));
        assert!(matches!(p.ensure_forgotten(pod).await, Err(PlatformError::Unsupported(_))));
        assert_eq!(p.capabilities(), Capabilities::DCOS);
        assert!(p.local_data_dir(pod).is_none());
    }
}
