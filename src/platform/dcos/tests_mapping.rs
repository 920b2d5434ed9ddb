//! The mapping table of docs/dcos.md, one row per case, and the mapping of the
//! reference's own bodies.

use std::collections::BTreeMap;

use serde_json::json;

use super::mapping::{DcosView, MappingError};
use super::shapes::mesos::MasterState;
use super::shapes::pods::{PodInfo, PodStatus, PodTask, SdkTaskStatus, ServicePodStatus};
use crate::domain::PodName;
use crate::model::platform::{AgentState, DataState, PlatformRecovery, TaskObservation, TaskState};
use crate::platform::MemberUrls;

const PEER_ID: &str = "kubernetes__etcd-1-peer__5c0dbe4e";
const AGENT: &str = "S1";

fn pod(i: u8) -> PodName {
    PodName::new(i).expect("pod")
}

fn urls(pod: PodName) -> MemberUrls {
    MemberUrls {
        client: format!("https://{pod}-peer.kubernetes.mesos:2379"),
        peer: format!("https://{pod}-peer.kubernetes.mesos:2380"),
    }
}

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("shape")
}

fn mesos_task(id: &str, agent: &str, state: &str) -> serde_json::Value {
    json!({"id": id, "name": "etcd-1-peer", "framework_id": "F1", "slave_id": agent, "state": state})
}

fn agent(id: &str, hostname: &str) -> serde_json::Value {
    json!({"id": id, "hostname": hostname, "active": true})
}

/// Pod etcd-1 whose peer runs on agent S1 (10.0.0.1), registered and connected; its
/// `recover` task is a stub; no pod info.
struct World(DcosView);

fn world() -> World {
    let status = json!({"name": "etcd-1", "tasks": [
        {"id": PEER_ID, "name": "etcd-1-peer", "status": "RUNNING"},
        {"id": "", "name": "etcd-1-recover"}
    ]});
    let master = json!({
        "slaves": [agent(AGENT, "10.0.0.1")],
        "frameworks": [{"id": "F1", "name": "kubernetes", "tasks": [mesos_task(PEER_ID, AGENT, "TASK_RUNNING")]}]
    });
    World(DcosView {
        pods: vec![from(status)],
        infos: BTreeMap::new(),
        master: from(master),
        deploy: None,
        recovery: None,
    })
}

impl World {
    fn task(&mut self, name: &str) -> &mut PodTask {
        self.0.pods[0].tasks.iter_mut().find(|t| t.name == name).expect("task")
    }

    fn status(&mut self, status: &str) -> &mut Self {
        self.task("etcd-1-peer").status = Some(SdkTaskStatus::from(status.to_owned()));
        self
    }

    fn peer_stub(&mut self) -> &mut Self {
        let peer = self.task("etcd-1-peer");
        peer.id.clear();
        peer.status = None;
        self.forget_task()
    }

    fn recover(&mut self, status: &str) -> &mut Self {
        let recover = self.task("etcd-1-recover");
        recover.id = "kubernetes__etcd-1-recover__77".into();
        recover.status = Some(SdkTaskStatus::from(status.to_owned()));
        self
    }

    fn master(&mut self) -> &mut MasterState {
        &mut self.0.master
    }

    /// The agent leaves `slaves`; the master keeps the task in `unreachable_tasks`.
    fn agent_removed(&mut self, state: &str) -> &mut Self {
        self.master().slaves.clear();
        let framework = &mut self.master().frameworks[0];
        framework.tasks.clear();
        framework.unreachable_tasks = vec![from(mesos_task(PEER_ID, AGENT, state))];
        self
    }

    fn agent_disconnected(&mut self) -> &mut Self {
        self.master().slaves[0].active = false;
        self
    }

    /// A master failover: the agent is known from the registry only.
    fn agent_recovered(&mut self) -> &mut Self {
        self.master().slaves.clear();
        self.master().recovered_slaves = vec![from(json!({"id": AGENT, "hostname": "10.0.0.1"}))];
        self
    }

    fn mesos_state(&mut self, state: &str) -> &mut Self {
        self.master().frameworks[0].tasks = vec![from(mesos_task(PEER_ID, AGENT, state))];
        self
    }

    fn task_completed(&mut self, state: &str) -> &mut Self {
        let framework = &mut self.master().frameworks[0];
        framework.tasks.clear();
        framework.completed_tasks = vec![from(mesos_task(PEER_ID, AGENT, state))];
        self
    }

    fn forget_task(&mut self) -> &mut Self {
        let framework = &mut self.master().frameworks[0];
        framework.tasks.clear();
        framework.unreachable_tasks.clear();
        framework.completed_tasks.clear();
        self
    }

    /// Pod info of the peer on `S1`, with the label `pod replace` sets if asked.
    fn info(&mut self, permanently_failed: bool) -> &mut Self {
        let mut labels = vec![json!({"key": "offer_hostname", "value": "10.0.0.1"})];
        if permanently_failed {
            labels.push(json!({"key": "permanently-failed", "value": "true"}));
        }
        let id = self.task("etcd-1-peer").id.clone();
        let info = json!([{"info": {"name": "etcd-1-peer", "taskId": {"value": id},
            "slaveId": {"value": AGENT}, "labels": {"labels": labels}}, "status": null}]);
        self.0.infos.insert(pod(1), from(info));
        self
    }

    /// The peer relaunched as a new task on agent S2.
    fn relaunched(&mut self, status: &str) -> &mut Self {
        let peer = self.task("etcd-1-peer");
        peer.id = "kubernetes__etcd-1-peer__new".into();
        peer.status = Some(SdkTaskStatus::from(status.to_owned()));
        self.master().slaves.push(from(agent("S2", "10.0.0.2")));
        self.master().frameworks[0].tasks =
            vec![from(mesos_task("kubernetes__etcd-1-peer__new", "S2", "TASK_STAGING"))];
        self
    }

    fn observe(&self) -> Result<TaskObservation, MappingError> {
        let mut observation = self.0.observation(urls)?;
        assert_eq!(observation.tasks.len(), 1);
        Ok(observation.tasks.remove(0))
    }
}

/// One row of the table in docs/dcos.md: its case, how the world differs from
/// [`world`], and the task state, agent state and platform recovery expected.
type Row = (&'static str, fn(&mut World), TaskState, AgentState, PlatformRecovery);

const NONE: PlatformRecovery = PlatformRecovery::None;
const REPLACING: PlatformRecovery = PlatformRecovery::Replacing;
const PAUSED: PlatformRecovery = PlatformRecovery::Paused;

#[rustfmt::skip]
const ROWS: &[Row] = {
    use AgentState::{Healthy, Lost, Unknown};
    use TaskState::{Exited, NotLaunched, Running, Suspended};
    &[
        ("RUNNING, agent registered and connected", |_| {}, Running, Healthy, NONE),
        ("STAGING (launched, no update yet)", |w| { w.status("STAGING"); }, Running, Healthy, NONE),
        ("STARTING (or resuming)", |w| { w.status("STARTING"); }, Running, Healthy, NONE),
        ("KILLING", |w| { w.status("KILLING"); }, Running, Healthy, NONE),
        ("FAILED on a healthy agent", |w| { w.status("FAILED").mesos_state("TASK_FAILED"); }, Exited, Healthy, NONE),
        ("FINISHED on a healthy agent", |w| { w.status("FINISHED").task_completed("TASK_FINISHED"); }, Exited, Healthy, NONE),
        ("KILLED on a healthy agent", |w| { w.status("KILLED").task_completed("TASK_KILLED"); }, Exited, Healthy, NONE),
        ("ERROR on a healthy agent", |w| { w.status("ERROR").task_completed("TASK_ERROR"); }, Exited, Healthy, NONE),
        ("DROPPED on a healthy agent", |w| { w.status("DROPPED").task_completed("TASK_DROPPED"); }, Exited, Healthy, NONE),
        ("LOST, agent removed (not partition-aware)", |w| { w.status("LOST").agent_removed("TASK_LOST"); }, Exited, Lost, NONE),
        ("UNREACHABLE, agent removed (partition-aware)", |w| { w.status("UNREACHABLE").agent_removed("TASK_UNREACHABLE"); }, Exited, Lost, NONE),
        ("UNKNOWN, agent removed", |w| { w.status("UNKNOWN").agent_removed("TASK_UNREACHABLE"); }, Exited, Lost, NONE),
        ("GONE", |w| { w.status("GONE").agent_removed("TASK_GONE"); }, Exited, Lost, NONE),
        ("GONE_BY_OPERATOR, even unknown to the master", |w| { w.status("GONE_BY_OPERATOR").forget_task(); }, Exited, Lost, NONE),
        ("RUNNING, agent disconnected (active: false)", |w| { w.agent_disconnected(); }, Running, Unknown, NONE),
        ("FAILED, agent only in recovered_slaves (master failover)", |w| { w.status("FAILED").agent_recovered(); }, Exited, Unknown, NONE),
        ("LOST, agent back with the same ID, master runs the task", |w| { w.status("LOST"); }, Running, Healthy, NONE),
        ("LOST, agent back with the same ID, task ended", |w| { w.status("LOST").task_completed("TASK_KILLED"); }, Exited, Healthy, NONE),
        ("FAILED, task unknown to the master, no pod info", |w| { w.status("FAILED").forget_task(); }, Exited, Unknown, NONE),
        ("FAILED, task unknown to the master, agent from pod info", |w| { w.status("FAILED").forget_task().info(false); }, Exited, Healthy, NONE),
        ("PAUSED (an operator's pod pause)", |w| { w.status("PAUSED"); }, Suspended, Healthy, PAUSED),
        ("PAUSING", |w| { w.status("PAUSING"); }, Suspended, Healthy, PAUSED),
        ("DECOMMISSIONING", |w| { w.status("DECOMMISSIONING"); }, Running, Healthy, NONE),
        ("DECOMMISSIONED", |w| { w.status("DECOMMISSIONED").task_completed("TASK_KILLED"); }, Exited, Healthy, NONE),
        ("an ID but no status yet", |w| { w.task("etcd-1-peer").status = None; }, NotLaunched, Healthy, NONE),
        ("every task a stub: never launched", |w| { w.peer_stub(); }, NotLaunched, Unknown, NONE),
        ("replace asked, healthy agent: permanently-failed", |w| { w.status("KILLED").task_completed("TASK_KILLED").info(true); }, Exited, Healthy, REPLACING),
        ("replace asked, agent lost: permanently-failed", |w| { w.status("LOST").agent_removed("TASK_LOST").info(true); }, Exited, Lost, REPLACING),
        ("replace: recover runs, peer a stub", |w| { w.peer_stub().recover("RUNNING"); }, NotLaunched, Unknown, REPLACING),
        ("replace: recover runs, stub keeps its lost agent", |w| { w.peer_stub().recover("RUNNING").agent_removed("TASK_LOST").forget_task().info(false); }, NotLaunched, Lost, REPLACING),
        ("replace: recover finished, peer a stub", |w| { w.peer_stub().recover("FINISHED"); }, NotLaunched, Unknown, REPLACING),
        ("replace done: peer relaunched elsewhere", |w| { w.agent_removed("TASK_LOST").relaunched("STAGING"); }, Running, Healthy, NONE),
    ]
};

#[test]
fn every_row_of_the_mapping_table_maps_as_documented() {
    let mut failures = Vec::new();
    for (row, setup, task, agent, recovery) in ROWS {
        let mut w = world();
        setup(&mut w);
        match w.observe() {
            Ok(seen) if (seen.task, seen.agent, seen.recovery) == (*task, *agent, *recovery) => {}
            Ok(seen) => failures.push(format!(
                "{row}: got {:?}/{:?}/{:?}, want {task:?}/{agent:?}/{recovery:?}",
                seen.task, seen.agent, seen.recovery
            )),
            Err(e) => failures.push(format!("{row}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} rows wrong:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_mapping_table_of_the_docs_has_one_row_per_test_row() {
    let docs = include_str!("../../../docs/dcos.md");
    let missing: Vec<&str> =
        ROWS.iter().map(|r| r.0).filter(|row| !docs.contains(&format!("| {row} |"))).collect();
    assert!(missing.is_empty(), "rows not in docs/dcos.md: {missing:?}");
}

#[test]
fn a_status_the_controller_does_not_know_is_refused_not_guessed() {
    let error = world().status("TASK_RUNNING").observe().expect_err("unknown status");
    assert!(
        matches!(&error, MappingError::UnknownStatus { status, .. } if status == "TASK_RUNNING"),
        "{error}"
    );
}

#[test]
fn an_etcd_pod_without_its_peer_task_or_listed_twice_is_refused() {
    let mut w = world();
    w.0.pods[0].tasks.retain(|t| t.name != "etcd-1-peer");
    assert!(matches!(w.observe(), Err(MappingError::NoPeerTask { .. })));
    let mut w = world();
    w.0.pods.push(w.0.pods[0].clone());
    assert!(matches!(w.0.observation(urls), Err(MappingError::DuplicatePod(p)) if p == pod(1)));
    let mut w = world();
    w.0.pods[0].name = "etcd-7".into();
    assert!(matches!(w.0.observation(urls), Err(MappingError::Shape(_))));
}

#[test]
fn the_observation_holds_the_etcd_pods_in_order_with_their_urls_and_unknown_data() {
    let mut w = world();
    let kube: PodStatus = from(
        json!({"name": "kube-node-0", "tasks": [{"id": "k", "name": "kube-node-0-kubelet", "status": "FAILED"}]}),
    );
    let zero: PodStatus = from(json!({"name": "etcd-0", "tasks": [{"id": "", "name": "etcd-0-peer"}]}));
    w.0.pods.insert(0, kube);
    w.0.pods.push(zero);
    let observation = w.0.observation(urls).expect("observation");
    let pods: Vec<PodName> = observation.tasks.iter().map(|t| t.pod).collect();
    assert_eq!(pods, [pod(0), pod(1)], "etcd pods only, in pod order");
    let one = observation.task(pod(1)).expect("etcd-1");
    assert_eq!(one.client_url, "https://etcd-1-peer.kubernetes.mesos:2379");
    assert_eq!(one.peer_url, "https://etcd-1-peer.kubernetes.mesos:2380");
    assert_eq!(one.agent_name, "10.0.0.1");
    assert_eq!((one.pid, one.data_dir.as_ref(), &one.data), (None, None, &DataState::Unknown));
    assert_eq!(observation.task(pod(0)).map(|t| t.agent_name.as_str()), Some(""), "no agent yet");
}

#[test]
fn a_lost_agent_is_named_by_the_hostname_it_was_offered_else_by_its_id() {
    let mut w = world();
    w.status("LOST").agent_removed("TASK_LOST");
    assert_eq!(w.observe().expect("observation").agent_name, AGENT);
    w.info(false);
    assert_eq!(w.observe().expect("observation").agent_name, "10.0.0.1");
}

#[test]
fn the_bodies_of_the_reference_map_to_an_observation() {
    let all: ServicePodStatus =
        from(serde_json::from_str(include_str!("fixtures/sdk-pod-status-all.json")).expect("json"));
    let master: MasterState = from(
        serde_json::from_str(include_str!("fixtures/constructed-mesos-master-state.json")).expect("json"),
    );
    let info: PodInfo =
        from(serde_json::from_str(include_str!("fixtures/sdk-pod-info-etcd-1.json")).expect("json"));
    let view = DcosView {
        pods: all.instances().cloned().collect(),
        infos: BTreeMap::new(),
        master,
        deploy: None,
        recovery: None,
    };
    let observation = view.observation(urls).expect("observation");
    let states: Vec<(TaskState, AgentState)> = observation.tasks.iter().map(|t| (t.task, t.agent)).collect();
    // The pod status's IDs are abridged (`...`), so the master does not know them.
    assert_eq!(states, [(TaskState::Running, AgentState::Unknown), (TaskState::Exited, AgentState::Unknown)]);
    let view = DcosView { infos: BTreeMap::from([(pod(1), info)]), ..view };
    let one = view.observation(urls).expect("observation").tasks.remove(1);
    assert_eq!(
        (one.task, one.agent, one.agent_name.as_str()),
        (TaskState::Exited, AgentState::Healthy, "10.0.5.79")
    );
    assert_eq!(one.recovery, PlatformRecovery::None);
}

fn plan_of(value: serde_json::Value) -> super::shapes::plans::PlanInfo {
    from(value)
}

fn step(name: &str, status: &str, message: &str) -> serde_json::Value {
    json!({"id": "s", "name": name, "status": status, "message": message})
}

fn phase(name: &str, status: &str, steps: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"id": "p", "name": name, "status": status, "strategy": "serial", "steps": steps})
}

fn plan_json(status: &str, phases: Vec<serde_json::Value>, errors: &[&str]) -> serde_json::Value {
    json!({"status": status, "strategy": "serial", "errors": errors, "phases": phases})
}

#[test]
fn the_deploy_plan_rolls_the_members_until_its_etcd_phase_is_complete() {
    let mut w = world();
    let rollout = |w: &World| w.0.observation(urls).expect("observation").rollout;
    assert_eq!(rollout(&w), None, "no deploy plan read");
    // After an update: the etcd phase relaunches etcd-1 on purpose.
    let etcd = |status: &str, at: &str| {
        phase(
            "etcd",
            status,
            vec![
                step("etcd-0:[peer]", "COMPLETE", ""),
                step("etcd-1:[peer]", at, "relaunching"),
                step("etcd-2:[peer]", "PENDING", ""),
            ],
        )
    };
    let nodes = phase("node", "PENDING", vec![step("kube-node-0:[kubelet]", "PENDING", "")]);
    w.0.deploy =
        Some(plan_of(plan_json("IN_PROGRESS", vec![etcd("IN_PROGRESS", "STARTING"), nodes.clone()], &[])));
    let seen = rollout(&w).expect("a rollout");
    assert_eq!((seen.plan.as_str(), seen.status.as_str()), ("deploy", "IN_PROGRESS"));
    let at = seen.step.clone().expect("its step");
    assert_eq!(
        (at.name.as_str(), at.status.as_str(), at.message.as_str()),
        ("etcd-1:[peer]", "STARTING", "relaunching")
    );
    assert!(seen.to_string().contains("deploy plan is IN_PROGRESS at step etcd-1:[peer] STARTING"), "{seen}");
    // The etcd phase done, the nodes still rolling: the etcd pods are left alone.
    let done = phase("etcd", "COMPLETE", vec![step("etcd-0:[peer]", "COMPLETE", "")]);
    w.0.deploy = Some(plan_of(plan_json("IN_PROGRESS", vec![done, nodes], &[])));
    assert_eq!(rollout(&w), None);
    // A plan without an etcd phase counts as a whole; an operator's pause (WAITING) and
    // errors are reported as they are.
    let kafka: super::shapes::plans::PlanInfo =
        from(serde_json::from_str(include_str!("fixtures/sdk-plan-kafka-deploy.json")).expect("json"));
    w.0.deploy = Some(kafka);
    let whole = rollout(&w).expect("a rollout");
    assert_eq!(whole.status, "IN_PROGRESS");
    assert_eq!(whole.step.expect("step").name, "kafka-1:[broker]");
    w.0.deploy = Some(plan_of(plan_json("ERROR", vec![etcd("WAITING", "PENDING")], &["bad option"])));
    let paused = rollout(&w).expect("a rollout");
    assert_eq!(paused.status, "WAITING");
    assert!(paused.to_string().ends_with("with errors: bad option"), "{paused}");
}

#[test]
fn a_pods_recovery_step_is_quoted_until_it_is_complete() {
    let mut w = world();
    let step_of = |w: &World| w.0.observation(urls).expect("observation").tasks[0].step.clone();
    assert_eq!(step_of(&w), None);
    let recovery: super::shapes::plans::PlanInfo =
        from(serde_json::from_str(include_str!("fixtures/sdk-plan-recovery-replace.json")).expect("json"));
    w.0.recovery = Some(recovery);
    let pending = step_of(&w).expect("the fixture's step");
    assert_eq!((pending.name.as_str(), pending.status.as_str()), ("etcd-1:[peer]", "PENDING"));
    // A failing recover task: DELAYED (back-off), relaunched for ever, the plan at 202.
    let failing = phase(
        "etcd-1",
        "IN_PROGRESS",
        vec![
            step("etcd-1:[recover]", "DELAYED", "recover failed: no live etcd member to reach"),
            step("etcd-1:[peer]", "PENDING", ""),
        ],
    );
    let other = phase("etcd-2", "COMPLETE", vec![step("etcd-2:[peer]", "COMPLETE", "")]);
    w.0.recovery = Some(plan_of(plan_json("IN_PROGRESS", vec![other.clone(), failing], &[])));
    let delayed = step_of(&w).expect("etcd-1's step");
    assert_eq!(
        delayed.to_string(),
        "step etcd-1:[recover] DELAYED (recover failed: no live etcd member to reach)"
    );
    w.0.recovery = Some(plan_of(plan_json("COMPLETE", vec![other], &[])));
    assert_eq!(step_of(&w), None, "another pod's step is not etcd-1's");
}
