//! What the platform says about each member slot: tasks, agents and data, as values.

use std::path::PathBuf;

use crate::domain::PodName;

/// What the platform says about every member slot it knows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformObservation {
    /// One entry per member slot the platform knows about, in pod order.
    pub tasks: Vec<TaskObservation>,
    /// The platform rolling its members on purpose, when it does (DC/OS: the SDK's
    /// `deploy` plan after an update, whose etcd phase kills and relaunches each pod).
    pub rollout: Option<Rollout>,
}

/// The platform rolls its members on purpose: a member down meanwhile is on its way
/// back, not a failure to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The plan (`deploy`).
    pub plan: String,
    /// The status of what rolls the members (the plan's etcd phase, else the plan):
    /// `IN_PROGRESS`, `PENDING`, `WAITING` (paused by an operator), `ERROR`...
    pub status: String,
    /// The step it is at, if any.
    pub step: Option<PlatformStep>,
    /// The plan's errors (a configuration the platform refused).
    pub errors: Vec<String>,
}

impl std::fmt::Display for Rollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "its {} plan is {}", self.plan, self.status)?;
        if let Some(step) = &self.step {
            write!(f, " at {step}")?;
        }
        if !self.errors.is_empty() {
            write!(f, " with errors: {}", self.errors.join("; "))?;
        }
        Ok(())
    }
}

/// A step of the platform's own plan, as the platform reports it (DC/OS: a step of
/// the SDK's `recovery` or `deploy` plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStep {
    /// `etcd-1:[recover]`.
    pub name: String,
    /// `DELAYED`, `PENDING`, `STARTING`...
    pub status: String,
    /// The platform's message about it.
    pub message: String,
}

impl std::fmt::Display for PlatformStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} {}", self.name, self.status)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
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
    /// When the process started, where the platform knows it (the local platform: clock
    /// ticks since boot). With `pid` it names one process, never a later one that
    /// reuses the pid.
    pub process_start: Option<u64>,
    /// The data directory, where the platform knows it.
    pub data_dir: Option<PathBuf>,
    /// Whether the member's etcd data is intact, as far as the platform can see it.
    pub data: DataState,
    /// What the platform itself is doing to rebuild the member slot, if anything.
    pub recovery: PlatformRecovery,
    /// The platform's name for this run of the member's task, where it has one (DC/OS:
    /// the Mesos task ID): a new one is a relaunch.
    pub instance: Option<String>,
    /// The step of the platform's own recovery of the slot that is not done yet (DC/OS:
    /// `etcd-1:[recover]` of the `recovery` plan), where the platform says.
    pub step: Option<PlatformStep>,
    /// The database quota the running process was launched with
    /// (`--quota-backend-bytes`, etcd's 2 GiB without the flag), where the platform
    /// knows how it launched it (local: the process's command line); `None` elsewhere
    /// and while no process runs.
    pub quota_backend_bytes: Option<u64>,
    /// When the member's certificate stops being valid, where the platform generated it
    /// and issues it anew when the member starts (local `tls: auto`); `None` elsewhere.
    pub certificate_expires: Option<jiff::Timestamp>,
}

/// How long before it expires a certificate the platform generated (local `tls: auto`)
/// is issued anew: the member's at a rolling restart (rule `7-rolling-restart`), the
/// controller's client certificate at its next connection.
pub const CERTIFICATE_RENEW_BEFORE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// A rebuild of a member slot that the platform runs on its own (DC/OS: the SDK's
/// `pod replace`). While it runs, the slot's task and agent describe a member on its
/// way out or one not launched yet, not a failure to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlatformRecovery {
    /// The platform is not rebuilding the slot (the local platform, always).
    #[default]
    None,
    /// The platform replaces the member: its old data is discarded and a new member is
    /// launched, possibly on another agent.
    Replacing,
    /// An operator paused the pod on the platform (DC/OS `pod pause`, the SDK's
    /// debugging procedure): its member is held down on purpose, and is neither
    /// restarted nor replaced until the operator resumes it.
    Paused,
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
    /// The platform cannot tell yet (DC/OS: the agent is disconnected, or the master
    /// failed over and has not heard from it again): neither healthy nor lost.
    Unknown,
}
