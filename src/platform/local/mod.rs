//! The local platform: every member is a real etcd process on this machine.
//!
//! Layout under the cluster's platform directory (all 0700 / 0600):
//!
//! ```text
//! ports.json            client and peer port of every pod, chosen once and kept
//!                       (`ports: auto` draws from 12000-19999: see [`ports`])
//! members/etcd-N/       the member's etcd data directory: its "agent"
//! logs/etcd-N.log       the member's output
//! processes/etcd-N.json pid and start time of the member's process, kept after exit
//! tls/                  generated certificates with `tls: auto` (see [`tls`])
//! ```
//!
//! A member's data is intact only with a WAL and a database (see [`DataState`]). A
//! launched member whose process is gone and whose data is not intact is a lost agent; a
//! process that is gone with data intact is a crashed task on a healthy agent; a live
//! process whose data is not written yet is starting. Members are started in their own
//! session and outlive the controller; a new controller adopts them by their recorded
//! pid and start time, or, when a controller died between spawning a member and
//! recording it, by the `--data-dir` on the process's command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

mod exits;
pub mod ports;
mod process;
pub mod tls;

use exits::any_exit;
pub use ports::MemberPorts;
use ports::{MachineRegistry, assign};
use process::{Liveness, ProcessIdentity, find_by_arg, flag_value, spawn_detached};
use tls::{Pki, member_flags, operator_files};

pub use super::data::data_state;
use super::{InitialClusterState, LaunchSpec, MemberUrls, Platform, PlatformError};
use crate::domain::PodName;
use crate::manifest::{LocalSpec, LocalTlsSpec, TlsFiles};
use crate::model::capabilities::Capabilities;
use crate::model::platform::{
    AgentState, DataState, PlatformObservation, PlatformRecovery, TaskObservation, TaskState,
};
use crate::store::atomic::{ensure_private_dir, read_json, write_json};

/// The recorded process of a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessRecord {
    #[serde(flatten)]
    identity: ProcessIdentity,
    binary: String,
}

/// Real etcd processes under one directory.
#[derive(Debug)]
pub struct LocalPlatform {
    root: PathBuf,
    spec: LocalSpec,
    /// `--quota-backend-bytes` for every member launched; `None`: etcd's default.
    quota_backend_bytes: Option<u64>,
    /// Serialises port allocation and launches within this controller.
    lock: Mutex<()>,
    /// Where this machine's controllers record whose ports are whose.
    registry: MachineRegistry,
    /// The etcd binary's version (major, minor), read once with `--version`: the flags
    /// a member is launched with depend on it. `None` when it cannot be read.
    version: std::sync::OnceLock<Option<(u32, u32)>>,
}

/// The quota member process `pid` was launched with: its `--quota-backend-bytes`, or
/// etcd's default without the flag; `None` when its command line cannot be read.
fn launched_quota(pid: u32) -> Option<u64> {
    match flag_value(pid, "quota-backend-bytes").ok()? {
        Some(value) => value.parse().ok(),
        None => Some(crate::manifest::desired::ETCD_DEFAULT_QUOTA_BYTES),
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PlatformError {
    let path = path.to_path_buf();
    move |source| PlatformError::Io { action, path, source }
}

impl LocalPlatform {
    /// A platform keeping its members under `root`.
    pub fn new(root: PathBuf, spec: LocalSpec) -> Self {
        Self {
            root,
            spec,
            quota_backend_bytes: None,
            lock: Mutex::new(()),
            registry: MachineRegistry::of_this_user(),
            version: std::sync::OnceLock::new(),
        }
    }

    /// The same platform, starting members with `--quota-backend-bytes` (`None`:
    /// etcd's default of 2 GiB). A member picks a new quota up at its next start.
    #[must_use]
    pub fn with_quota_backend_bytes(mut self, quota: Option<u64>) -> Self {
        self.quota_backend_bytes = quota;
        self
    }

    /// The member's data directory.
    pub fn data_dir(&self, pod: PodName) -> PathBuf {
        self.root.join("members").join(pod.to_string())
    }

    /// The member's log file.
    pub fn log_file(&self, pod: PodName) -> PathBuf {
        self.root.join("logs").join(format!("{pod}.log"))
    }

    fn process_file(&self, pod: PodName) -> PathBuf {
        self.root.join("processes").join(format!("{pod}.json"))
    }

    fn ports_file(&self) -> PathBuf {
        self.root.join("ports.json")
    }

    /// A member URL: https when the members serve TLS.
    fn url(&self, port: u16) -> String {
        let scheme = if self.spec.tls.is_some() { "https" } else { "http" };
        if self.spec.host.contains(':') {
            format!("{scheme}://[{}]:{port}", self.spec.host)
        } else {
            format!("{scheme}://{}:{port}", self.spec.host)
        }
    }

    /// The member's TLS files (generated now with `tls: auto` if it has none yet).
    fn member_tls(&self, pod: PodName) -> Result<Option<TlsFiles>, PlatformError> {
        Ok(match &self.spec.tls {
            None => None,
            Some(LocalTlsSpec::Auto) => Some(Pki::new(&self.root).ensure_member(pod, &self.spec.host)?),
            Some(LocalTlsSpec::Files(files)) => Some(operator_files(files)?),
        })
    }

    fn read_ports(&self) -> Result<BTreeMap<PodName, MemberPorts>, PlatformError> {
        let path = self.ports_file();
        read_json(&path).map_err(io("read", &path)).map(Option::unwrap_or_default)
    }

    fn read_process(&self, pod: PodName) -> Result<Option<ProcessRecord>, PlatformError> {
        let path = self.process_file(pod);
        read_json(&path).map_err(io("read", &path))
    }

    /// The pod's ports, chosen now and recorded if the pod has none yet.
    pub async fn ports(&self, pod: PodName) -> Result<MemberPorts, PlatformError> {
        let _guard = self.lock.lock().await;
        self.ports_locked(pod)
    }

    fn ports_locked(&self, pod: PodName) -> Result<MemberPorts, PlatformError> {
        let mut all = self.read_ports()?;
        if let Some(ports) = all.get(&pod) {
            return Ok(*ports);
        }
        let path = self.ports_file();
        self.registry.choose_under_lock(&path, |elsewhere| {
            let ports = assign(self.spec.ports, &self.spec.host, &self.root, pod, &all, elsewhere)?;
            all.insert(pod, ports);
            ensure_private_dir(&self.root).map_err(io("create", &self.root))?;
            write_json(&path, &all).map_err(io("write", &path))?;
            Ok(ports)
        })
    }

    fn data_dir_arg(&self, pod: PodName) -> String {
        format!("--data-dir={}", self.data_dir(pod).display())
    }

    /// The member's live process: the recorded one, else one running on the member's
    /// data directory that a controller launched and died before recording.
    fn current_process(
        &self,
        pod: PodName,
    ) -> Result<(Option<ProcessRecord>, Option<ProcessIdentity>), PlatformError> {
        let record = self.read_process(pod)?;
        let recorded = record.as_ref().map(|r| r.identity).filter(|i| i.liveness() != Liveness::Gone);
        let live = recorded.or_else(|| find_by_arg(&self.data_dir_arg(pod)));
        Ok((record, live))
    }

    fn observe_task(&self, pod: PodName, ports: MemberPorts) -> Result<TaskObservation, PlatformError> {
        let (record, live) = self.current_process(pod)?;
        let data_dir = self.data_dir(pod);
        let data = data_state(&data_dir);
        let (task, process) = match live.map(|i| (i.liveness(), i)) {
            Some((Liveness::Alive, process)) => (TaskState::Running, Some(process)),
            Some((Liveness::Stopped, process)) => (TaskState::Suspended, Some(process)),
            Some((Liveness::Gone, _)) | None if record.is_some() => (TaskState::Exited, None),
            Some((Liveness::Gone, _)) | None => (TaskState::NotLaunched, None),
        };
        let agent = if task == TaskState::Exited && data == DataState::Missing {
            AgentState::Lost
        } else {
            AgentState::Healthy
        };
        Ok(TaskObservation {
            pod,
            task,
            agent,
            agent_name: format!("local-{}", pod.index()),
            client_url: self.url(ports.client),
            peer_url: self.url(ports.peer),
            pid: process.map(|p| p.pid),
            process_start: process.map(|p| p.start_ticks),
            data_dir: Some(data_dir),
            data,
            recovery: PlatformRecovery::None,
            instance: None,
            step: None,
            quota_backend_bytes: process.and_then(|p| launched_quota(p.pid)),
            certificate_expires: match &self.spec.tls {
                Some(LocalTlsSpec::Auto) => Pki::new(&self.root).member_expiry(pod),
                _ => None,
            },
        })
    }

    /// The etcd binary's version, read once (`etcd --version`: `etcd Version: 3.3.25`).
    async fn binary_version(&self) -> Option<(u32, u32)> {
        if let Some(version) = self.version.get() {
            return *version;
        }
        let probe = async {
            let output =
                tokio::process::Command::new(&self.spec.etcd_binary).arg("--version").output().await.ok()?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let version = text.lines().find_map(|l| l.strip_prefix("etcd Version: "))?;
            let mut parts = version.trim().split('.').map(str::parse::<u32>);
            Some((parts.next()?.ok()?, parts.next()?.ok()?))
        };
        let version = probe.await;
        // Launches are serialised by the platform's lock: one probe, whoever sets it.
        *self.version.get_or_init(|| version)
    }

    fn launch_args(
        &self,
        pod: PodName,
        ports: MemberPorts,
        spec: &LaunchSpec,
        tls: Option<&TlsFiles>,
        version: Option<(u32, u32)>,
    ) -> Vec<String> {
        let client = self.url(ports.client);
        let peer = self.url(ports.peer);
        let initial: Vec<String> =
            spec.initial_cluster.iter().map(|(name, url)| format!("{name}={url}")).collect();
        let mut args = vec![
            format!("--name={pod}"),
            format!("--data-dir={}", self.data_dir(pod).display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster={}", initial.join(",")),
        ];
        // etcd 3.3 refuses `--logger` (its logger is capnslog); 3.4 warns without it.
        if version.is_none_or(|v| v >= (3, 4)) {
            args.push("--logger=zap".to_owned());
        }
        args.extend(tls.map(member_flags).unwrap_or_default());
        if let Some(quota) = self.quota_backend_bytes {
            args.push(format!("--quota-backend-bytes={quota}"));
        }
        match &spec.state {
            InitialClusterState::New { token } => {
                args.push("--initial-cluster-state=new".to_owned());
                args.push(format!("--initial-cluster-token={token}"));
            }
            InitialClusterState::Existing | InitialClusterState::Restart => {
                args.push("--initial-cluster-state=existing".to_owned());
            }
        }
        args
    }

    async fn stop_locked(&self, pod: PodName) -> Result<(), PlatformError> {
        let (_, Some(identity)) = self.current_process(pod)? else {
            return Ok(());
        };
        let path = self.process_file(pod);
        // SIGCONT first so a suspended member can act on SIGTERM.
        for signal in [Signal::CONT, Signal::TERM] {
            identity.signal(signal).map_err(io("signal", &path))?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while identity.liveness() != Liveness::Gone {
            if tokio::time::Instant::now() >= deadline {
                identity.signal(Signal::KILL).map_err(io("kill", &path))?;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Platform for LocalPlatform {
    async fn observe(&self) -> Result<PlatformObservation, PlatformError> {
        let ports = self.read_ports()?;
        let tasks =
            ports.into_iter().map(|(pod, ports)| self.observe_task(pod, ports)).collect::<Result<_, _>>()?;
        Ok(PlatformObservation { tasks, rollout: None })
    }

    /// Resolves when a member process of `observation` exits (a pidfd each).
    async fn changed(&self, observation: &PlatformObservation) {
        let processes: Vec<ProcessIdentity> = observation
            .tasks
            .iter()
            .filter_map(|t| Some(ProcessIdentity { pid: t.pid?, start_ticks: t.process_start? }))
            .collect();
        any_exit(&processes).await;
    }

    async fn member_urls(&self, pod: PodName) -> Result<MemberUrls, PlatformError> {
        let ports = self.ports(pod).await?;
        Ok(MemberUrls { client: self.url(ports.client), peer: self.url(ports.peer) })
    }

    async fn ensure_running(&self, pod: PodName, spec: &LaunchSpec) -> Result<(), PlatformError> {
        let _guard = self.lock.lock().await;
        let binary = self.spec.etcd_binary.to_string_lossy().into_owned();
        let path = self.process_file(pod);
        if let (record, Some(identity)) = self.current_process(pod)? {
            if record.is_none_or(|r| r.identity != identity) {
                // Launched by a controller that died before recording it: adopt it.
                tracing::info!(%pod, pid = identity.pid, "adopting a member process found on its data directory");
                write_json(&path, &ProcessRecord { identity, binary: binary.clone() })
                    .map_err(io("write", &path))?;
            }
            return match identity.liveness() {
                Liveness::Stopped => identity.signal(Signal::CONT).map_err(io("signal", &path)),
                _ => Ok(()),
            };
        }
        if spec.state == InitialClusterState::Restart {
            let data = data_state(&self.data_dir(pod));
            if data != DataState::Intact {
                return Err(PlatformError::NoData { pod, state: data.to_string() });
            }
        }
        let ports = self.ports_locked(pod)?;
        for dir in [self.root.join("logs"), self.root.join("processes"), self.root.join("members")] {
            ensure_private_dir(&dir).map_err(io("create", &dir))?;
        }
        let tls = self.member_tls(pod)?;
        let version = self.binary_version().await;
        let args = self.launch_args(pod, ports, spec, tls.as_ref(), version);
        let log = self.log_file(pod);
        let identity = spawn_detached(&binary, &args, &log).map_err(|source| PlatformError::Spawn {
            pod,
            binary: binary.clone(),
            source,
        })?;
        tracing::info!(%pod, pid = identity.pid, "started member process");
        write_json(&path, &ProcessRecord { identity, binary }).map_err(io("write", &path))
    }

    async fn ensure_stopped(&self, pod: PodName) -> Result<(), PlatformError> {
        let _guard = self.lock.lock().await;
        self.stop_locked(pod).await
    }

    async fn ensure_wiped(&self, pod: PodName) -> Result<(), PlatformError> {
        let _guard = self.lock.lock().await;
        self.stop_locked(pod).await?;
        let data = self.data_dir(pod);
        // A data directory runs to gigabytes: deleted off the async runtime's threads.
        match tokio::fs::remove_dir_all(&data).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &data)(e)),
        }
        let record = self.process_file(pod);
        match std::fs::remove_file(&record) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &record)(e)),
        }
    }

    async fn ensure_forgotten(&self, pod: PodName) -> Result<(), PlatformError> {
        let _guard = self.lock.lock().await;
        let mut ports = self.read_ports()?;
        if ports.remove(&pod).is_some() {
            let path = self.ports_file();
            write_json(&path, &ports).map_err(io("write", &path))?;
        }
        Ok(())
    }

    fn local_data_dir(&self, pod: PodName) -> Option<PathBuf> {
        Some(self.data_dir(pod))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::LOCAL
    }

    async fn request_restart(&self, _pod: PodName) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("restart pods by itself: the controller restarts members in place"))
    }

    async fn request_replace(&self, _pod: PodName) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("replace pods by itself: the controller replaces members"))
    }

    async fn request_scale_up(&self, _members: usize) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("grow the cluster by itself: the controller adds members"))
    }

    fn client_tls_files(&self, generate: bool) -> Result<Option<TlsFiles>, PlatformError> {
        if self.spec.tls != Some(LocalTlsSpec::Auto) {
            return Ok(None);
        }
        let pki = Pki::new(&self.root);
        Ok(if generate { Some(pki.ensure_authority()?) } else { pki.existing_authority()? })
    }

    fn certificate_files(&self) -> Vec<PathBuf> {
        match &self.spec.tls {
            None => Vec::new(),
            Some(LocalTlsSpec::Auto) => Pki::new(&self.root).certificate_files(),
            Some(LocalTlsSpec::Files(files)) => vec![files.ca_file.clone(), files.cert_file.clone()],
        }
    }

    async fn log_tail(&self, pod: PodName, lines: usize) -> Result<Vec<String>, PlatformError> {
        let path = self.log_file(pod);
        let text = match read_tail(&path).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        Ok(all[start..].iter().map(|l| (*l).to_owned()).collect())
    }
}

/// The last 64 KiB of a file: a member's log grows for as long as it runs, and only
/// its last lines are wanted.
pub(crate) async fn read_tail(path: &Path) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    const TAIL: u64 = 64 * 1024;
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    file.seek(std::io::SeekFrom::Start(len.saturating_sub(TAIL))).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    Ok(bytes)
}
