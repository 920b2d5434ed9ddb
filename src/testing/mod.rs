//! Fakes of the two adapters, for fast tests of the middle layer (`act`, a reconcile
//! pass) and for benchmarks: a [`FakePlatform`] and a [`FakeEtcd`] hold the world as
//! values, record every call, and refuse on demand. They never stand in for etcd in
//! the end-to-end suites, which run real etcd processes.

mod etcd;
#[cfg(test)]
pub(crate) mod world;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use etcd::FakeEtcd;

use crate::domain::PodName;
use crate::model::capabilities::Capabilities;
use crate::model::platform::{DataState, PlatformObservation, TaskObservation, TaskState};
use crate::platform::{InitialClusterState, LaunchSpec, MemberUrls, Platform, PlatformError};

/// Locks a fake's state; a test that panicked while holding it leaves it usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct PlatformState {
    tasks: BTreeMap<PodName, TaskObservation>,
    calls: Vec<String>,
    /// Calls (by name, e.g. `ensure_wiped`) that fail, once each entry.
    failures: BTreeMap<String, VecDeque<PlatformError>>,
    logs: BTreeMap<PodName, Vec<String>>,
    capabilities: Capabilities,
    rollout: Option<crate::model::platform::Rollout>,
}

/// A platform in memory: its tasks are values that the calls change as the real
/// platform would (a launch runs the task, a wipe loses the data).
#[derive(Debug, Default)]
pub struct FakePlatform {
    state: Mutex<PlatformState>,
}

impl FakePlatform {
    /// A platform with these tasks.
    pub fn new(observation: &PlatformObservation) -> Self {
        let tasks = observation.tasks.iter().map(|t| (t.pod, t.clone())).collect();
        let rollout = observation.rollout.clone();
        Self { state: Mutex::new(PlatformState { tasks, rollout, ..PlatformState::default() }) }
    }

    /// Every call so far, as `name pod[ detail]`, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// The same platform, with other capabilities (DC/OS-like: it restarts and
    /// replaces pods itself).
    pub fn with_capabilities(self, capabilities: Capabilities) -> Self {
        lock(&self.state).capabilities = capabilities;
        self
    }

    /// Makes the next call named `call` fail with `why` (as a corrupt platform state).
    pub fn fail_next(&self, call: &str, why: &str) {
        let error = PlatformError::Corrupt { path: PathBuf::from(call), reason: why.to_owned() };
        self.fail_next_with(call, error);
    }

    /// Makes the next call named `call` fail with `error`.
    pub fn fail_next_with(&self, call: &str, error: PlatformError) {
        lock(&self.state).failures.entry(call.to_owned()).or_default().push_back(error);
    }

    /// Changes one task.
    pub fn update(&self, pod: PodName, change: impl FnOnce(&mut TaskObservation)) {
        if let Some(task) = lock(&self.state).tasks.get_mut(&pod) {
            change(task);
        }
    }

    /// Sets a member's log lines.
    pub fn set_log(&self, pod: PodName, lines: &[&str]) {
        lock(&self.state).logs.insert(pod, lines.iter().map(|l| (*l).to_owned()).collect());
    }

    /// Records a call, then fails it if a failure is queued for it.
    fn call(&self, name: &str, pod: PodName, detail: &str) -> Result<(), PlatformError> {
        let entry =
            if detail.is_empty() { format!("{name} {pod}") } else { format!("{name} {pod} {detail}") };
        self.record(name, entry)
    }

    /// Records a call, and fails it if a failure was queued for its name.
    fn record(&self, name: &str, entry: String) -> Result<(), PlatformError> {
        let mut state = lock(&self.state);
        state.calls.push(entry);
        match state.failures.get_mut(name).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn task_mut(&self, pod: PodName, change: impl FnOnce(&mut TaskObservation)) -> Result<(), PlatformError> {
        match lock(&self.state).tasks.get_mut(&pod) {
            Some(task) => {
                change(task);
                Ok(())
            }
            None => Err(PlatformError::UnknownPod(pod)),
        }
    }
}

impl Platform for FakePlatform {
    async fn observe(&self) -> Result<PlatformObservation, PlatformError> {
        let mut state = lock(&self.state);
        // Not recorded as a call: every pass observes.
        if let Some(error) = state.failures.get_mut("observe").and_then(VecDeque::pop_front) {
            return Err(error);
        }
        Ok(PlatformObservation {
            tasks: state.tasks.values().cloned().collect(),
            rollout: state.rollout.clone(),
        })
    }

    /// Never resolves: the tests drive the passes.
    async fn changed(&self, _observation: &PlatformObservation) {
        std::future::pending().await
    }

    async fn member_urls(&self, pod: PodName) -> Result<MemberUrls, PlatformError> {
        let state = lock(&self.state);
        let task = state.tasks.get(&pod).ok_or(PlatformError::UnknownPod(pod))?;
        Ok(MemberUrls { client: task.client_url.clone(), peer: task.peer_url.clone() })
    }

    async fn ensure_running(&self, pod: PodName, spec: &LaunchSpec) -> Result<(), PlatformError> {
        let how = match &spec.state {
            InitialClusterState::New { .. } => "new",
            InitialClusterState::Existing => "existing",
            InitialClusterState::Restart => "restart",
        };
        self.call("ensure_running", pod, how)?;
        self.task_mut(pod, |t| {
            t.task = TaskState::Running;
            t.data = DataState::Intact;
        })
    }

    async fn ensure_stopped(&self, pod: PodName) -> Result<(), PlatformError> {
        self.call("ensure_stopped", pod, "")?;
        self.task_mut(pod, |t| t.task = TaskState::Exited)
    }

    async fn ensure_wiped(&self, pod: PodName) -> Result<(), PlatformError> {
        self.call("ensure_wiped", pod, "")?;
        self.task_mut(pod, |t| {
            t.task = TaskState::NotLaunched;
            t.data = DataState::Missing;
        })
    }

    async fn ensure_forgotten(&self, pod: PodName) -> Result<(), PlatformError> {
        self.call("ensure_forgotten", pod, "")?;
        lock(&self.state).tasks.remove(&pod);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        lock(&self.state).capabilities
    }

    async fn request_restart(&self, pod: PodName) -> Result<(), PlatformError> {
        self.call("request_restart", pod, "")
    }

    async fn request_replace(&self, pod: PodName) -> Result<(), PlatformError> {
        self.call("request_replace", pod, "")
    }

    async fn request_scale_up(&self, members: usize) -> Result<(), PlatformError> {
        self.record("request_scale_up", format!("request_scale_up {members}"))
    }

    fn local_data_dir(&self, _pod: PodName) -> Option<PathBuf> {
        None
    }

    async fn log_tail(&self, pod: PodName, lines: usize) -> Result<Vec<String>, PlatformError> {
        let state = lock(&self.state);
        let all = state.logs.get(&pod).cloned().unwrap_or_default();
        Ok(all[all.len().saturating_sub(lines)..].to_vec())
    }
}

/// A healthy three-member world in the fakes, over a store in a temporary directory.
#[cfg(test)]
pub(crate) struct Fixture {
    pub platform: FakePlatform,
    pub etcd: FakeEtcd,
    pub store: crate::store::Store,
    /// Kept until the fixture is dropped: the store lives in it.
    _dir: tempfile::TempDir,
}

#[cfg(test)]
pub(crate) fn fixture() -> Fixture {
    let w = crate::testing::world::world(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::Store::open(&dir.path().join("state")).expect("store");
    Fixture {
        platform: FakePlatform::new(&w.observed.platform),
        etcd: FakeEtcd::new(&w.observed),
        store,
        _dir: dir,
    }
}

#[cfg(test)]
mod tests_act;
#[cfg(test)]
mod tests_pass;
