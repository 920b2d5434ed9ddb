//! What the fake DC/OS knows: agents, pods with their tasks and etcd processes, the
//! plans, the package options, the tokens and the request log. One `World` behind one
//! mutex, shared by the HTTP handlers, the scheduler thread and the test's calls; no
//! lock is held across a blocking call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::super::names::Names;
use super::certs::TlsFiles;
use super::{Fault, RecordedRequest};

/// A Mesos agent: a directory that holds the data of the pods placed on it.
#[derive(Debug)]
pub struct Agent {
    /// The Mesos agent ID (`<master>-S<n>`).
    pub id: String,
    /// Its hostname in `slaves`.
    pub hostname: String,
    /// `agent-<uuid-ish>` under the fake's directory.
    pub dir: PathBuf,
    /// Removed from the master (lost): missing from `slaves`.
    pub removed: bool,
}

/// A task of a pod as the SDK stores it: a stub has an empty ID and no status.
#[derive(Debug, Clone)]
pub struct Task {
    /// The Mesos task ID; empty for a stub.
    pub id: String,
    /// The status without `TASK_`; `None` for a stub.
    pub status: Option<&'static str>,
    /// The agent; kept on a stub (§9.1).
    pub agent: String,
    /// When the status was set, seconds since the epoch.
    pub since: f64,
}

impl Task {
    /// A stub on `agent`.
    pub fn stub(agent: &str) -> Self {
        Self { id: String::new(), status: None, agent: agent.to_owned(), since: now_s() }
    }

    /// Whether Mesos would list the task as running (not terminal).
    pub fn live(&self) -> bool {
        !self.id.is_empty() && matches!(self.status, Some("STAGING" | "STARTING" | "RUNNING" | "KILLING"))
    }

    /// Paused by `pod pause`: Mesos runs the task (a sleep in place of etcd).
    pub fn paused(&self) -> bool {
        !self.id.is_empty() && matches!(self.status, Some("PAUSED" | "PAUSING"))
    }
}

/// One `etcd-N` pod: its stable ports, its agent, its two tasks and its process.
#[derive(Debug)]
pub struct Pod {
    /// N.
    pub index: u8,
    /// The client port; the peer port is the next one.
    pub port: u16,
    /// The agent that holds its data (and runs it).
    pub agent: String,
    /// `etcd-N-peer`.
    pub peer: Task,
    /// `etcd-N-recover`.
    pub recover: Task,
    /// The etcd process, while it runs.
    pub process: Option<Child>,
    /// `pod replace` was called and nothing relaunched since.
    pub permanently_failed: bool,
    /// The test holds automatic relaunches of this pod.
    pub hold_restarts: bool,
    /// `POST restart` asked a relaunch in place, held or not.
    pub restart_asked: bool,
    /// A relaunch in place is due at this time (transient recovery).
    pub relaunch_at: Option<Instant>,
    /// The test asked pod status and info to show the peer as a stub.
    pub show_stub_peer: bool,
    /// `--initial-cluster` and `--initial-cluster-state` of its last launch.
    pub initial_cluster: String,
    /// `new` or `existing`.
    pub cluster_state: &'static str,
    /// How many times it was launched (names the log files).
    pub launches: u32,
    /// How its peer URL is advertised.
    pub peer_form: super::pods::PeerForm,
    /// Its client port serves another CA's certificate from its next launch on.
    pub foreign_client_cert: bool,
}

impl Pod {
    /// A pod not launched yet on `agent`, joining with `initial_cluster` as `state`.
    pub fn new(
        index: u8,
        port: u16,
        agent: &str,
        (initial_cluster, peer_form): (String, super::pods::PeerForm),
        state: &'static str,
    ) -> Self {
        Self {
            peer_form,
            index,
            port,
            agent: agent.to_owned(),
            peer: Task::stub(agent),
            recover: Task::stub(agent),
            process: None,
            permanently_failed: false,
            hold_restarts: false,
            restart_asked: false,
            relaunch_at: None,
            show_stub_peer: false,
            initial_cluster,
            cluster_state: state,
            launches: 0,
            foreign_client_cert: false,
        }
    }

    /// `etcd-N`.
    pub fn name(&self) -> String {
        format!("etcd-{}", self.index)
    }

    /// `https://<its address>:<port>`.
    pub fn client_url(&self) -> String {
        format!("https://{}:{}", self.address(), self.port)
    }

    /// The address it listens on: loopback, or its own in the overlay form.
    pub fn address(&self) -> std::net::Ipv4Addr {
        self.peer_form.address(self.index)
    }

    /// The log of its current launch, under `logs`.
    pub fn log_file(&self, logs: &std::path::Path) -> PathBuf {
        logs.join(format!("{}-{}.log", self.name(), self.launches))
    }
}

/// A step's status (`Status.java`), as the plans show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Starting,
    Complete,
    /// A step whose task failed: backing off before it is launched again
    /// (`DeploymentStep.update`: `TASK_FAILED` → `DELAYED`); never `ERROR`.
    Delayed,
    Error,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Starting => "STARTING",
            Self::Complete => "COMPLETE",
            Self::Delayed => "DELAYED",
            Self::Error => "ERROR",
        }
    }
}

/// What a phase does for its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// Relaunch in place (`etcd-N:[peer]`, `RecoveryType: TRANSIENT`).
    Transient,
    /// `pod replace`: `[recover]` then `[peer]` on a new agent.
    Replace,
    /// Deploy: member add, then launch the new member.
    Deploy,
}

/// A step of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub status: StepStatus,
    pub pod: u8,
    /// The step does not progress before this time (the recover task's run time,
    /// or the pause between two tries).
    pub not_before: Option<Instant>,
    /// The step's task gives up retrying at this time (then the task fails).
    pub deadline: Option<Instant>,
    /// How many times its task failed (each time `DELAYED`, then launched again).
    pub failures: u32,
}

/// A phase of a plan.
#[derive(Debug, Clone)]
pub struct Phase {
    pub id: String,
    pub name: String,
    pub kind: PhaseKind,
    pub strategy: &'static str,
    pub steps: Vec<Step>,
}

impl Phase {
    /// A phase of pending steps.
    pub fn new(name: &str, kind: PhaseKind, strategy: &'static str, steps: &[(&str, u8)]) -> Self {
        let steps = steps
            .iter()
            .map(|(name, pod)| Step {
                id: uuid(),
                name: (*name).to_owned(),
                status: StepStatus::Pending,
                pod: *pod,
                not_before: None,
                deadline: None,
                failures: 0,
            })
            .collect();
        Self { id: uuid(), name: name.to_owned(), kind, strategy, steps }
    }
}

/// A plan: phases and errors.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub phases: Vec<Phase>,
    pub errors: Vec<String>,
}

/// An authentication token the IAM issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub serial: u64,
    pub expires: Instant,
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct World {
    /// The service name without its leading slash (`prod/kubernetes`).
    pub service: String,
    pub framework_id: String,
    /// The fake's directory (agents, TLS files, logs).
    pub dir: PathBuf,
    pub tls: TlsFiles,
    /// Another CA's files, once a pod serves a certificate the controller does not
    /// trust ([`FakeDcos::foreign_client_certificate`](super::FakeDcos::foreign_client_certificate)).
    pub foreign_tls: Option<TlsFiles>,
    /// Where the overlay form's autoip names resolve (the daemon and the pods' etcd
    /// resolve with it); `None` in the other forms.
    pub names: Option<Names>,
    pub agents: Vec<Agent>,
    /// A registered agent with nothing placed on it yet: the next placement's.
    pub spare_agent: Option<String>,
    pub pods: Vec<Pod>,
    /// The client port of each member slot (three at least), taken at start so that
    /// a manifest can name the members a scale-up adds.
    pub slot_ports: Vec<u16>,
    /// Mesos `completed_tasks` records, in order.
    pub completed: Vec<Value>,
    /// Mesos `unreachable_slaves`.
    pub unreachable_agents: u32,
    pub deploy: Plan,
    pub recovery: Plan,
    /// The options the user gave (Cosmos `userProvidedOptions`).
    pub options: Value,
    /// The installed package's name and version.
    pub package: (&'static str, &'static str),
    pub requests: Vec<RecordedRequest>,
    pub fault: Option<(Instant, Fault)>,
    /// Until when Admin Router answers 403 to `POST /cosmos/service/update` (the
    /// account lacks the permission).
    pub cosmos_forbidden_until: Option<Instant>,
    pub tokens: HashMap<String, Issued>,
    /// Tokens with a lower serial are refused (`expire_tokens`).
    pub tokens_valid_from: u64,
    pub next_serial: u64,
    pub relaunch_delay: Duration,
    /// How long the recover task runs before it acts.
    pub recover_delay: Duration,
    /// How long a pod the deploy plan rolls stays down.
    pub roll_delay: Duration,
    /// The answer to the next `pod replace` is lost (Admin Router's 504); `true`: the
    /// scheduler acted on it first.
    pub lose_next_replace_answer: Option<bool>,
    /// The answer to the next Cosmos update is lost (Admin Router's 504); `true`:
    /// Cosmos acted on it first.
    pub lose_next_update_answer: Option<bool>,
    /// The Marathon deployment a Cosmos update started, while it runs: its ID, when it
    /// ends, and the member count the scheduler deploys once it restarted.
    pub marathon_deployment: Option<(String, Instant, usize)>,
    /// How long the Marathon deployment of an update runs (the scheduler restarted with
    /// its new options) before the deploy plan starts.
    pub marathon_deploy: Duration,
    /// The package's `recover` task fails (say, its certificate was rotated away)
    /// whatever the cluster, while this is set.
    pub recover_fails: Option<String>,
    /// Each failure of a step's task (`etcd-1:[recover]: no live etcd member`), in
    /// order: what its task log would say.
    pub failures: Vec<String>,
    pub token_life: Duration,
}

impl World {
    /// The sanitized service name that prefixes task IDs (`prod.kubernetes`).
    pub fn task_prefix(&self) -> String {
        self.service.replace('/', ".")
    }

    /// A new task ID for `task` (`prod.kubernetes__etcd-0-peer__<uuid>`).
    pub fn task_id(&self, task: &str) -> String {
        format!("{}__{task}__{}", self.task_prefix(), uuid())
    }

    /// An agent for a new placement. Mesos offers only from agents that registered
    /// before, so the one handed out joined at the previous placement (or now, the
    /// first time) and another joins to be offered next: a reader of the master's
    /// state and then of a pod's status never meets a task on an agent the master
    /// has not yet listed.
    pub fn new_agent(&mut self) -> String {
        let next = match self.spare_agent.take() {
            Some(agent) => agent,
            None => self.register_agent(),
        };
        self.spare_agent = Some(self.register_agent());
        next
    }

    /// A new registered agent with its directory.
    fn register_agent(&mut self) -> String {
        let n = self.agents.len();
        let id = format!("{}-S{n}", self.framework_id.trim_end_matches("-0001"));
        let dir = self.dir.join(format!("agent-{}", &uuid()[..8]));
        std::fs::create_dir_all(&dir).expect("create an agent directory");
        self.agents.push(Agent {
            id: id.clone(),
            hostname: format!("10.0.0.{}", n + 10),
            dir,
            removed: false,
        });
        id
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// Whether the agent is registered (not removed).
    pub fn agent_up(&self, id: &str) -> bool {
        self.agent(id).is_some_and(|a| !a.removed)
    }

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.name() == name)
    }

    pub fn pod_mut(&mut self, name: &str) -> Option<&mut Pod> {
        self.pods.iter_mut().find(|p| p.name() == name)
    }

    /// The data directory of pod `index` on its agent.
    pub fn data_dir(&self, index: u8) -> PathBuf {
        let pod = &self.pods[usize::from(index)];
        let agent = self.agent(&pod.agent).expect("the pod's agent");
        agent.dir.join(pod.name())
    }

    /// Sets a task's status; a terminal one goes to Mesos's `completed_tasks`.
    pub fn set_status(&mut self, index: u8, peer: bool, status: &'static str) {
        let service = self.service.clone();
        let framework = self.framework_id.clone();
        let pod = &mut self.pods[usize::from(index)];
        let name = format!("{}-{}", pod.name(), if peer { "peer" } else { "recover" });
        let task = if peer { &mut pod.peer } else { &mut pod.recover };
        task.status = Some(status);
        task.since = now_s();
        if !task.live() && !task.id.is_empty() {
            let record = mesos_task(&service, &framework, &name, task);
            self.completed.push(record);
        }
    }

    /// The peer URL pod `index` advertises, in the fake's [`PeerForm`](super::pods::PeerForm).
    pub fn peer_url(&self, index: u8) -> String {
        let pod = &self.pods[usize::from(index)];
        pod.peer_form.url(index, pod.port, &self.service)
    }

    /// Makes the autoip names of the pods whose etcd runs resolve, and of pod
    /// `launching` (about to start: etcd resolves its own peer URL as it starts), and
    /// no other: an autoip name exists only while its task runs.
    pub fn sync_names(&self, launching: Option<u8>) {
        let Some(names) = &self.names else { return };
        let entries: Vec<(String, std::net::Ipv4Addr)> = self
            .pods
            .iter()
            .filter(|p| p.process.is_some() || Some(p.index) == launching)
            .map(|p| (super::pods::autoip(p.index, &self.service), p.address()))
            .collect();
        names.set(&entries);
    }

    /// The endpoints of the members whose process runs.
    pub fn live_endpoints(&self) -> Vec<String> {
        self.pods.iter().filter(|p| p.process.is_some()).map(Pod::client_url).collect()
    }
}

/// A Mesos v0 task record (§4.1).
pub fn mesos_task(service: &str, framework: &str, name: &str, task: &Task) -> Value {
    let state = if task.paused() {
        "TASK_RUNNING".to_owned()
    } else {
        format!("TASK_{}", task.status.unwrap_or("STAGING"))
    };
    serde_json::json!({
        "id": task.id,
        "name": name,
        "framework_id": framework,
        "executor_id": executor_id(service),
        "slave_id": task.agent,
        "state": state,
        "resources": {"cpus": 0.5, "mem": 1024.0, "disk": 3584.0},
        "role": "kubernetes-role",
        "statuses": [{"state": state, "timestamp": task.since}],
        "labels": [{"key": "task_type", "value": "etcd"}],
    })
}

/// The executor of the service's etcd pods, as Mesos names it.
pub fn executor_id(service: &str) -> String {
    format!("{}__etcd__executor", service.replace('/', "."))
}

/// Seconds since the epoch.
pub fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A random UUID-looking string (version 4 layout).
pub fn uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Locks the world; a panic elsewhere (a failed assertion in a handler) does not make
/// the fake unusable for cleanup.
pub fn lock(world: &std::sync::Mutex<World>) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
