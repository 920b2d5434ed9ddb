//! What changes the fake's world from outside the scheduler's own ticks: the SDK's
//! pod commands (`restart`, `replace`), the package's scale-up through Cosmos, and the
//! test's faults (a crash, a lost agent, a stub peer).

use std::time::Instant;

use serde_json::{Value, json};

use super::pods;
use super::sdk::start_transient;
use super::world::{Phase, PhaseKind, Plan, StepStatus, Task, World, now_s};

/// The reply of `restart` and `replace`: the pod and all its tasks, stubs included.
fn command_reply(pod: &str) -> Value {
    json!({"pod": pod, "tasks": [format!("{pod}-peer"), format!("{pod}-recover")]})
}

/// Kills the pod's etcd process, if it runs, and reaps it; a live peer task becomes
/// `status`.
fn kill_peer(w: &mut World, index: u8, status: &'static str) {
    let pod = &mut w.pods[usize::from(index)];
    if let Some(mut child) = pod.process.take() {
        pods::kill(&mut child);
    }
    if pod.peer.live() {
        w.set_status(index, true, status);
    }
}

/// `POST /v1/pod/<pod>/restart`: kills the tasks and relaunches in place, on the same
/// agent with the same data, held relaunches or not. `None` for an unknown pod.
pub fn restart(w: &mut World, pod: &str) -> Option<Value> {
    let index = w.pod(pod)?.index;
    kill_peer(w, index, "KILLED");
    start_transient(w, index);
    let p = &mut w.pods[usize::from(index)];
    p.relaunch_at = Some(Instant::now());
    p.restart_asked = true;
    Some(command_reply(pod))
}

/// `POST /v1/pod/<pod>/replace`: marks the pod permanently failed, kills it, discards
/// its data, and starts the package's permanent recovery: `[recover]` then `[peer]`
/// on a new agent (§5.4, §9.2, §9.3). `None` for an unknown pod.
pub fn replace(w: &mut World, pod: &str) -> Option<Value> {
    let index = w.pod(pod)?.index;
    kill_peer(w, index, "KILLED");
    if w.agent_up(&w.pods[usize::from(index)].agent) {
        let _ = std::fs::remove_dir_all(w.data_dir(index));
    }
    let p = &mut w.pods[usize::from(index)];
    p.permanently_failed = true;
    p.relaunch_at = None;
    p.restart_asked = false;
    w.recovery.phases.retain(|p| p.steps.iter().all(|s| s.pod != index));
    let (recover, peer) = (format!("{pod}:[recover]"), format!("{pod}:[peer]"));
    let steps = [(recover.as_str(), index), (peer.as_str(), index)];
    w.recovery.phases.push(Phase::new(
        "permanent-node-failure-recovery",
        PhaseKind::Replace,
        "serial",
        &steps,
    ));
    w.recovery.errors.clear();
    Some(command_reply(pod))
}

/// SIGKILLs the pod's etcd: the task FAILED, relaunched in place after the delay.
pub fn crash(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    assert!(w.pods[usize::from(index)].process.is_some(), "{pod} does not run");
    kill_peer(w, index, "FAILED");
    start_transient(w, index);
}

/// The pod's client port serves a certificate of another CA from its next launch on
/// (as when one pod's certificate is issued anew by a CA the controller's files do not
/// name), its peer port the cluster's own: its etcd runs in the cluster, and the
/// controller's TLS handshake with it fails. Crashed now, so that the SDK relaunches it
/// with that certificate.
pub fn foreign_client_certificate(w: &mut World, pod: &str) {
    if w.foreign_tls.is_none() {
        w.foreign_tls = Some(super::certs::write_tls(&w.dir.join("foreign-tls"), &w.service));
    }
    w.pod_mut(pod).unwrap_or_else(|| panic!("no pod {pod}")).foreign_client_cert = true;
    crash(w, pod);
}

/// The pod's agent is lost: its process killed, its directory deleted, the agent
/// removed from `slaves`, the task `LOST` (not partition-aware, §4.3, §9.4). The
/// TRANSIENT recovery waits for the agent for ever.
pub fn lose_agent(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    let agent_id = w.pods[usize::from(index)].agent.clone();
    if let Some(mut child) = w.pods[usize::from(index)].process.take() {
        pods::kill(&mut child);
    }
    if w.pods[usize::from(index)].peer.live() {
        w.set_status(index, true, "LOST");
    }
    let agent = w.agents.iter_mut().find(|a| a.id == agent_id).expect("the pod's agent");
    agent.removed = true;
    let _ = std::fs::remove_dir_all(&agent.dir);
    w.unreachable_agents += 1;
    start_transient(w, index);
}

/// The deploy plan of a package deployed with `pods` members, all complete.
pub fn deployed(pods: u8) -> Plan {
    let names: Vec<String> = (0..pods).map(|i| format!("etcd-{i}:[peer]")).collect();
    let steps: Vec<(&str, u8)> = names.iter().zip(0..).map(|(n, i)| (n.as_str(), i)).collect();
    let mut phase = Phase::new("etcd", PhaseKind::Deploy, "serial", &steps);
    phase.steps.iter_mut().for_each(|s| s.status = StepStatus::Complete);
    Plan { phases: vec![phase], errors: Vec::new() }
}

/// `kubernetes.high_availability` turned on (`target` 3), with `etcd.5_etcd_nodes` on
/// 2.4+ (`target` 5): a deploy plan that rolls the running pods in place (their tasks'
/// environment names the new cluster size), then adds the new ones.
pub fn scale_up(w: &mut World, target: usize) {
    let rolling = w.deploy.phases.iter().flat_map(|p| &p.steps).any(|s| s.status != StepStatus::Complete);
    if w.pods.len() >= target || rolling {
        return;
    }
    let mut plan = deployed(u8::try_from(target).expect("at most 5 pods"));
    plan.phases[0].steps.iter_mut().for_each(|s| s.status = StepStatus::Pending);
    w.deploy = plan;
}

/// An update that changes the etcd tasks (a new etcd or Kubernetes version, through
/// `dcos kubernetes cluster update`): the deploy plan rolls every etcd pod, one at a
/// time, killed and relaunched in place with its data.
pub fn roll(w: &mut World) {
    let mut plan = deployed(u8::try_from(w.pods.len()).expect("at most 5 pods"));
    plan.phases[0].steps.iter_mut().for_each(|s| s.status = StepStatus::Pending);
    w.deploy = plan;
}

/// `dcos kubernetes cluster debug pod pause etcd-N`: the SDK relaunches the pod's
/// tasks with a pause override (the task runs a sleep, etcd does not): `PAUSED`.
pub fn pause(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    kill_peer(w, index, "KILLED");
    let id = w.task_id(&format!("etcd-{index}-peer"));
    let pod = &mut w.pods[usize::from(index)];
    pod.peer = Task { id, status: Some("PAUSED"), agent: pod.agent.clone(), since: now_s() };
    pod.relaunch_at = None;
}

/// `pod resume`: relaunched in place, on its data.
pub fn resume(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    super::sdk::launch(w, index);
}

/// Mesos loses sight of the pod's agent (its `mesos-agent` down, or a partition
/// between master and agent) while etcd in it keeps serving: the agent leaves
/// `slaves` (counted in `unreachable_slaves`), the task is `UNREACHABLE`
/// (partition-aware, 2.2+), nothing is killed. The SDK's relaunch waits for the agent.
pub fn drop_from_mesos(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    let agent_id = w.pods[usize::from(index)].agent.clone();
    w.set_status(index, true, "UNREACHABLE");
    let agent = w.agents.iter_mut().find(|a| a.id == agent_id).expect("the pod's agent");
    agent.removed = true;
    w.unreachable_agents += 1;
}

/// The agent is seen again with the same ID (partition-aware), its task running.
pub fn back_in_mesos(w: &mut World, pod: &str) {
    let index = w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index;
    let agent_id = w.pods[usize::from(index)].agent.clone();
    let agent = w.agents.iter_mut().find(|a| a.id == agent_id).expect("the pod's agent");
    agent.removed = false;
    w.unreachable_agents = w.unreachable_agents.saturating_sub(1);
    w.set_status(index, true, "RUNNING");
}
