//! The `Platform` trait: where members run, as domain types.
//!
//! An implementation turns its platform's own shapes (processes and directories, or
//! DC/OS pods, tasks and agents) into [`PlatformObservation`] and carries out the few
//! member operations the reconciler needs. Every operation is idempotent: asking for a
//! state that already holds succeeds without doing anything.

pub mod local;
mod process;

use std::future::Future;
use std::path::PathBuf;

use crate::domain::PodName;

/// What the platform says about every member slot it knows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformObservation {
    /// One entry per member slot the platform knows about, in pod order.
    pub tasks: Vec<TaskObservation>,
}

impl PlatformObservation {
    /// The observation of one pod, if the platform knows it.
    pub fn task(&self, pod: PodName) -> Option<&TaskObservation> {
        self.tasks.iter().find(|t| t.pod == pod)
    }
}

/// One member slot as the platform sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskObservation {
    /// The member slot.
    pub pod: PodName,
    /// Whether the member's process runs.
    pub task: TaskState,
    /// Whether the place the member runs on (and its data) is still there.
    pub agent: AgentState,
    /// A name for the agent (`local-0`, or the DC/OS agent hostname).
    pub agent_name: String,
    /// The member's client URL.
    pub client_url: String,
    /// The member's peer URL.
    pub peer_url: String,
    /// The process ID, where the platform knows it.
    pub pid: Option<u32>,
    /// The data directory, where the platform knows it.
    pub data_dir: Option<PathBuf>,
    /// Whether the member's etcd data is intact, as far as the platform can see it.
    pub data: DataState,
}

/// What a member's data directory holds. etcd's data is intact only with a WAL
/// (`member/wal/*.wal`) and a backend database (`member/snap/db`): a directory alone is
/// not data, and a member restarted "in place" on it would rejoin under its old ID with
/// its raft log and vote forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataState {
    /// A WAL and a database are there.
    Intact,
    /// No WAL or no database (or no directory at all): the member's data is gone, or
    /// was never written.
    Missing,
    /// The directory could not be read (EACCES, EIO...): reported, never taken for
    /// lost data, never wiped.
    Unreadable(String),
    /// The platform cannot look at the data (it lives on a remote agent).
    Unknown,
}

impl std::fmt::Display for DataState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intact => f.write_str("holds a WAL and a database"),
            Self::Missing => f.write_str("holds no WAL and database"),
            Self::Unreadable(why) => write!(f, "cannot be read ({why})"),
            Self::Unknown => f.write_str("cannot be seen from here"),
        }
    }
}

impl DataState {
    /// Whether a restart in place may use this data.
    pub fn allows_restart(&self) -> bool {
        matches!(self, Self::Intact | Self::Unknown)
    }
}

/// Whether a member's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Never launched on this platform.
    NotLaunched,
    /// The process runs.
    Running,
    /// The process runs but is stopped by a signal (SIGSTOP): it cannot answer.
    Suspended,
    /// The process was launched and has exited (crashed, killed or stopped).
    Exited,
}

/// Whether the agent that holds a member's data is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// The agent is up and the member's data (if any was written) is intact.
    Healthy,
    /// The agent, and with it the member's data, is gone.
    Lost,
}

/// Where a member is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUrls {
    /// The client URL (`--advertise-client-urls`).
    pub client: String,
    /// The peer URL (`--initial-advertise-peer-urls`).
    pub peer: String,
}

/// How a member joins when its data directory is empty. A member with data ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Every member's peer URL: `name=url` pairs of etcd's `--initial-cluster`.
    pub initial_cluster: Vec<(PodName, String)>,
    /// Whether the member forms a new cluster or joins an existing one.
    pub state: InitialClusterState,
}

/// etcd's `--initial-cluster-state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialClusterState {
    /// Form a new cluster; the token keeps two bootstraps apart.
    New {
        /// The `--initial-cluster-token`.
        token: String,
    },
    /// Join a cluster that already lists this member, with an empty data directory
    /// (a replacement or a new member just added).
    Existing,
    /// Start again on the member's own data (restart in place). The platform refuses
    /// when the data is not intact: etcd would otherwise rejoin under its old member ID
    /// with its raft state forgotten.
    Restart,
}

/// Why a platform operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A file or directory of the platform's state could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The member's process could not be started.
    #[error("cannot start {pod} ({binary}): {source}")]
    Spawn {
        /// The member slot.
        pod: PodName,
        /// The binary that was run.
        binary: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No free port could be found or a chosen port is out of range.
    #[error("cannot choose ports: {0}")]
    Ports(String),
    /// The pod is not part of this cluster.
    #[error("{0} is not a member slot of this cluster")]
    UnknownPod(PodName),
    /// A restart in place was asked for a member whose data is not intact.
    #[error("refusing to restart {pod} in place: its data directory {state}")]
    NoData {
        /// The member slot.
        pod: PodName,
        /// What its data directory holds.
        state: String,
    },
    /// The platform's recorded state is unreadable.
    #[error("corrupt platform state in {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Where members run. The reconciler does not know which implementation it talks to.
pub trait Platform: Send + Sync + 'static {
    /// Observes every member slot: task state, agent state and addresses.
    fn observe(&self) -> impl Future<Output = Result<PlatformObservation, PlatformError>> + Send;

    /// The member's client and peer URLs, assigned now if the slot has none yet.
    fn member_urls(&self, pod: PodName) -> impl Future<Output = Result<MemberUrls, PlatformError>> + Send;

    /// Ensures the member's process runs. A member with data restarts in place and
    /// ignores `spec`; an empty member starts as `spec` says.
    fn ensure_running(
        &self,
        pod: PodName,
        spec: &LaunchSpec,
    ) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Ensures the member's process is stopped. Data is kept.
    fn ensure_stopped(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Ensures the member's process is stopped and its data directory is gone.
    fn ensure_wiped(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Forgets a member slot that was retired (scale-down): its addresses, its process
    /// record. Its data must be gone already.
    fn ensure_forgotten(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Where the member's data directory lives on this machine, if it does (the local
    /// platform); `None` where the data lives on a remote agent.
    fn local_data_dir(&self, pod: PodName) -> Option<PathBuf>;

    /// The last `lines` lines of the member's log, for status and events.
    fn log_tail(
        &self,
        pod: PodName,
        lines: usize,
    ) -> impl Future<Output = Result<Vec<String>, PlatformError>> + Send;
}
