//! From what DC/OS says to a [`PlatformObservation`]: pure, no I/O, no clock.
//!
//! The task state comes from the SDK's pod status of each `etcd-N` pod, the agent state
//! from the Mesos master's state (is the task's agent registered and connected?), and a
//! replacement run by the SDK from the stubs of pod status and the `permanently-failed`
//! label of pod info. The data lives on the agent, so it is always
//! [`DataState::Unknown`]. One row per case, with its source: `docs/dcos.md`.

use std::collections::BTreeMap;

use super::shapes::ShapeError;
use super::shapes::mesos::{MasterState, TaskList};
use super::shapes::plans::{PlanInfo, PlanStatus, StepInfo};
use super::shapes::pods::{PodInfo, PodStatus, PodTask, SdkTaskStatus, TaskInfo, etcd_pod};
use crate::domain::PodName;
use crate::model::platform::{
    AgentState, DataState, PlatformObservation, PlatformRecovery, PlatformStep, Rollout, TaskObservation,
    TaskState,
};
use crate::platform::MemberUrls;

/// Why DC/OS's replies do not make an observation. The mapping refuses rather than
/// guess: a failed observation makes the pass act on nothing.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// A reply holds a value the shapes refuse (an etcd pod name beyond the slots).
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Two pod statuses name the same pod.
    #[error("pod {0} appears twice in the pod statuses")]
    DuplicatePod(PodName),
    /// An etcd pod's status lists no etcd task.
    #[error("pod {pod} has no task {task} in its status")]
    NoPeerTask {
        /// The pod.
        pod: PodName,
        /// The task looked for (`etcd-1-peer`).
        task: String,
    },
    /// The etcd task has a status this controller does not know.
    #[error(
        "task {task} of pod {pod} has the status {status:?}, which this controller does not know; not guessing what it means"
    )]
    UnknownStatus {
        /// The pod.
        pod: PodName,
        /// The task.
        task: String,
        /// The status as the SDK wrote it.
        status: String,
    },
}

/// What one pass read from DC/OS, as parsed replies.
#[derive(Debug, Clone, PartialEq)]
pub struct DcosView {
    /// The status of each pod instance (`/v1/pod/<pod>/status`, or the instances of
    /// `/v1/pod/status`); pods other than `etcd-N` are skipped.
    pub pods: Vec<PodStatus>,
    /// `/v1/pod/<pod>/info` of the etcd pods, where read: the agent of a stub task and
    /// the `permanently-failed` label that `pod replace` sets before anything relaunches.
    pub infos: BTreeMap<PodName, PodInfo>,
    /// `/mesos/master/state`.
    pub master: MasterState,
    /// `/v1/plans/deploy`, where the scheduler has one: after an update it rolls the
    /// etcd pods on purpose.
    pub deploy: Option<PlanInfo>,
    /// `/v1/plans/recovery`: the scheduler's own relaunches and replacements, one phase
    /// per pod instance.
    pub recovery: Option<PlanInfo>,
}

impl DcosView {
    /// One [`TaskObservation`] per `etcd-N` pod, in pod order, with the URLs `urls`
    /// gives for each pod.
    ///
    /// # Errors
    ///
    /// An etcd pod listed twice or without its `etcd-N-peer` task, an etcd pod name
    /// beyond the slots, or a task status this controller does not know.
    pub fn observation(
        &self,
        urls: impl Fn(PodName) -> MemberUrls,
    ) -> Result<PlatformObservation, MappingError> {
        let mut pods = BTreeMap::new();
        for status in &self.pods {
            let Some(pod) = etcd_pod(&status.name)? else { continue };
            if pods.insert(pod, status).is_some() {
                return Err(MappingError::DuplicatePod(pod));
            }
        }
        let tasks = pods
            .into_iter()
            .map(|(pod, status)| self.observe_pod(pod, status, urls(pod)))
            .collect::<Result<_, _>>()?;
        Ok(PlatformObservation { tasks, rollout: self.rollout() })
    }

    /// The deploy plan while it rolls the etcd pods: its `etcd` phase until that phase
    /// is complete (the later phases, control plane and nodes, leave the etcd pods
    /// alone: `plans.update` of the package's svc.yml), or the whole plan when it has
    /// no such phase.
    fn rollout(&self) -> Option<Rollout> {
        let plan = self.deploy.as_ref()?;
        let etcd = plan.phases.iter().find(|p| p.name == "etcd");
        let (status, steps) = match etcd {
            Some(phase) => (&phase.status, phase.steps.iter().collect::<Vec<_>>()),
            None => (&plan.status, plan.phases.iter().flat_map(|p| &p.steps).collect()),
        };
        if *status == PlanStatus::Complete {
            return None;
        }
        let step = steps.into_iter().find(|s| s.status != PlanStatus::Complete).map(platform_step);
        Some(Rollout {
            plan: "deploy".to_owned(),
            status: status.as_str().to_owned(),
            step,
            errors: plan.errors.clone(),
        })
    }

    /// The recovery plan's first step of `pod` that is not complete.
    fn recovery_step(&self, pod: PodName) -> Option<PlatformStep> {
        let name = pod.to_string();
        let steps = self.recovery.iter().flat_map(|p| &p.phases).flat_map(|p| &p.steps);
        let mut of_pod = steps.filter(|s| s.target().is_some_and(|(p, _)| p == name));
        of_pod.find(|s| s.status != PlanStatus::Complete).map(platform_step)
    }

    fn observe_pod(
        &self,
        pod: PodName,
        status: &PodStatus,
        urls: MemberUrls,
    ) -> Result<TaskObservation, MappingError> {
        let name = pod.peer_task();
        let peer = status.task(&name).ok_or_else(|| MappingError::NoPeerTask { pod, task: name.clone() })?;
        let info = self.infos.get(&pod).and_then(|i| i.task(&name)).map(|t| &t.info);
        let mesos = if peer.is_stub() { None } else { self.master.task(&peer.id) };
        let agent_id = mesos.map(|(t, _)| t.slave_id.as_str()).or_else(|| info.and_then(TaskInfo::agent_id));
        let agent = self.agent_state(peer.status.as_ref(), agent_id);
        // A task the SDK still reports lost whose agent came back with the same ID and
        // whose master record runs again (TASK_LOST is not always terminal).
        let back = agent == AgentState::Healthy
            && mesos.is_some_and(|(t, list)| list == TaskList::Tasks && t.state.is_live());
        let task = task_state(pod, peer, back)?;
        // `pod replace` marks the tasks before anything relaunches; while its `recover`
        // step runs, the peer is re-saved as a stub beside a launched task.
        let replacing = info.is_some_and(TaskInfo::permanently_failed)
            || (peer.is_stub() && status.tasks.iter().any(|t| !t.is_stub()));
        Ok(TaskObservation {
            pod,
            task,
            agent,
            agent_name: self.agent_name(agent_id, info),
            client_url: urls.client,
            peer_url: urls.peer,
            pid: None,
            process_start: None,
            data_dir: None,
            data: DataState::Unknown,
            recovery: if replacing {
                PlatformRecovery::Replacing
            } else if paused(peer) {
                PlatformRecovery::Paused
            } else {
                PlatformRecovery::None
            },
            instance: (!peer.is_stub() && !peer.id.is_empty()).then(|| peer.id.clone()),
            step: self.recovery_step(pod),
            quota_backend_bytes: None,
            certificate_expires: None,
        })
    }

    /// The agent's state: registered and connected is healthy, disconnected or not
    /// reregistered since a master failover is unknown, missing from the master is
    /// lost. A task gone with its agent says the agent is lost by itself.
    fn agent_state(&self, status: Option<&SdkTaskStatus>, agent_id: Option<&str>) -> AgentState {
        if matches!(status, Some(SdkTaskStatus::Gone | SdkTaskStatus::GoneByOperator)) {
            return AgentState::Lost;
        }
        let Some(id) = agent_id else { return AgentState::Unknown };
        match self.master.agent(id) {
            Some(agent) if agent.active => AgentState::Healthy,
            Some(_) => AgentState::Unknown,
            None if self.master.recovered_agent(id).is_some() => AgentState::Unknown,
            None => AgentState::Lost,
        }
    }

    /// The agent's hostname where known, else its ID; empty when the task has no agent.
    fn agent_name(&self, agent_id: Option<&str>, info: Option<&TaskInfo>) -> String {
        let Some(id) = agent_id else { return String::new() };
        let registered = self.master.agent(id).map(|a| a.hostname.as_str());
        let recovered = self.master.recovered_agent(id).map(|a| a.hostname.as_str());
        let offered = info.and_then(|i| i.label("offer_hostname"));
        registered.or(recovered).filter(|h| !h.is_empty()).or(offered).unwrap_or(id).to_owned()
    }
}

/// Whether the peer task is paused or being paused (`pod pause`).
fn paused(peer: &PodTask) -> bool {
    !peer.is_stub() && matches!(peer.status, Some(SdkTaskStatus::Pausing | SdkTaskStatus::Paused))
}

fn platform_step(step: &StepInfo) -> PlatformStep {
    PlatformStep {
        name: step.name.clone(),
        status: step.status.as_str().to_owned(),
        message: step.message.clone(),
    }
}

/// The etcd task's state from its SDK status. `back` says the master runs the task
/// again on a healthy agent, whatever the SDK last heard.
fn task_state(pod: PodName, peer: &PodTask, back: bool) -> Result<TaskState, MappingError> {
    use SdkTaskStatus as S;
    let Some(status) = peer.status.as_ref().filter(|_| !peer.is_stub()) else {
        return Ok(TaskState::NotLaunched);
    };
    Ok(match status {
        S::Staging | S::Starting | S::Running | S::Killing | S::Decommissioning => TaskState::Running,
        S::Pausing | S::Paused => TaskState::Suspended,
        S::Lost | S::Unreachable | S::Unknown if back => TaskState::Running,
        S::Finished
        | S::Failed
        | S::Killed
        | S::Error
        | S::Dropped
        | S::Gone
        | S::GoneByOperator
        | S::Decommissioned
        | S::Lost
        | S::Unreachable
        | S::Unknown => TaskState::Exited,
        S::Other(status) => {
            return Err(MappingError::UnknownStatus { pod, task: peer.name.clone(), status: status.clone() });
        }
    })
}
