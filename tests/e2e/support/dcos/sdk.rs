//! The SDK scheduler's behaviour: launches, relaunches in place after a crash
//! (TRANSIENT recovery), `pod restart`, `pod replace` (`[recover]` then `[peer]` on a
//! new agent, PERMANENT) and the deploy plan of a scale-up from one member to three.
//! A scheduler thread ticks every 100 ms; etcdctl runs without the lock held.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::pods::{self, Launch};
use super::world::{Phase, PhaseKind, StepStatus, Task, World, lock, now_s};

/// How long a failing step (the recover task, a deploy step's `member add`) is tried
/// again before it fails: a cluster started less than 5 s ago refuses `member add` as
/// unhealthy.
const RETRY_FOR: Duration = Duration::from_secs(10);
/// The pause between two tries.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// The back-off of a step whose task failed, before it is launched again.
const BACKOFF: Duration = Duration::from_secs(2);

/// Ticks until `stop`.
pub fn run(world: &Mutex<World>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tick(world);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tick(world: &Mutex<World>) {
    {
        let mut w = lock(world);
        reap(&mut w);
        w.sync_names(None);
        deployed_by_marathon(&mut w);
        relaunch_due(&mut w);
        promote(&mut w);
    }
    progress(world, PhaseKind::Transient);
    progress(world, PhaseKind::Replace);
    progress(world, PhaseKind::Deploy);
}

/// A Marathon deployment of the scheduler that is over: the scheduler runs with its
/// new options, and its deploy plan grows etcd to the count they name.
fn deployed_by_marathon(w: &mut World) {
    if let Some((_, until, target)) = w.marathon_deployment.clone()
        && Instant::now() >= until
    {
        w.marathon_deployment = None;
        super::commands::scale_up(w, target);
    }
}

/// Launches pod `index` on its agent: in place when its data directory holds a member,
/// as a new member otherwise. The peer is STAGING until its port answers; the other
/// task is re-saved as a stub (§9.1).
pub fn launch(w: &mut World, index: u8) {
    let data_dir = w.data_dir(index);
    let logs = w.dir.join("logs");
    std::fs::create_dir_all(&logs).expect("create the log directory");
    let token = format!("fake-{}", w.task_prefix());
    let id = w.task_id(&format!("etcd-{index}-peer"));
    let tls = w.tls.clone();
    let foreign = w.foreign_tls.clone();
    w.sync_names(Some(index));
    let (service, names) = (w.service.clone(), w.names.clone());
    let pod = &mut w.pods[usize::from(index)];
    pod.launches += 1;
    let log = pod.log_file(&logs);
    let name = pod.name();
    let child = pods::spawn_etcd(
        &tls,
        &Launch {
            name: &name,
            index,
            port: pod.port,
            peer_form: pod.peer_form,
            data_dir: &data_dir,
            initial_cluster: &pod.initial_cluster,
            state: pod.cluster_state,
            token: &token,
            log: &log,
            foreign_client_cert: foreign.as_ref().filter(|_| pod.foreign_client_cert),
            service: &service,
            names: names.as_ref(),
        },
    );
    pod.process = Some(child);
    pod.peer = Task { id, status: Some("STAGING"), agent: pod.agent.clone(), since: now_s() };
    pod.recover = Task::stub(&pod.agent);
    pod.permanently_failed = false;
    pod.relaunch_at = None;
    pod.restart_asked = false;
}

/// A process that exited by itself: the task FAILED, a relaunch in place is due.
fn reap(w: &mut World) {
    for index in 0..w.pods.len() {
        let pod = &mut w.pods[index];
        let exited = pod.process.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some());
        if !exited {
            continue;
        }
        pod.process = None;
        if pod.peer.live() {
            w.set_status(index as u8, true, "FAILED");
            start_transient(w, index as u8);
        }
    }
}

/// A TRANSIENT recovery of pod `index`: relaunch on the same agent after the delay.
pub fn start_transient(w: &mut World, index: u8) {
    let delay = w.relaunch_delay;
    w.pods[usize::from(index)].relaunch_at = Some(Instant::now() + delay);
    let name = format!("etcd-{index}:[peer]");
    w.recovery.phases.retain(|p| p.steps.iter().all(|s| s.pod != index));
    w.recovery.phases.push(Phase::new(&name, PhaseKind::Transient, "parallel", &[(&name, index)]));
}

fn relaunch_due(w: &mut World) {
    let now = Instant::now();
    for index in 0..w.pods.len() {
        let pod = &w.pods[index];
        let due = pod.relaunch_at.is_some_and(|at| at <= now) && (!pod.hold_restarts || pod.restart_asked);
        if due && pod.process.is_none() && w.agent_up(&pod.agent) {
            launch(w, index as u8);
            set_step(w, PhaseKind::Transient, index as u8, 0, StepStatus::Starting);
        }
    }
}

/// STAGING becomes RUNNING once etcd listens.
fn promote(w: &mut World) {
    for index in 0..w.pods.len() {
        let pod = &w.pods[index];
        if pod.peer.status == Some("STAGING")
            && pod.process.is_some()
            && pods::listening(pod.address(), pod.port)
        {
            w.set_status(index as u8, true, "RUNNING");
        }
    }
}

fn plan_mut(w: &mut World, kind: PhaseKind) -> &mut super::world::Plan {
    if kind == PhaseKind::Deploy { &mut w.deploy } else { &mut w.recovery }
}

fn set_step(w: &mut World, kind: PhaseKind, pod: u8, step: usize, status: StepStatus) {
    for phase in plan_mut(w, kind).phases.iter_mut().filter(|p| p.kind == kind) {
        if let Some(s) = phase.steps.iter_mut().filter(|s| s.pod == pod).nth(step) {
            s.status = status;
        }
    }
}

/// The next step to work on in each phase of `kind`: (phase ID, step index).
fn next_steps(w: &mut World, kind: PhaseKind) -> Vec<(String, usize)> {
    let plan = plan_mut(w, kind);
    if kind == PhaseKind::Deploy && !plan.errors.is_empty() {
        return Vec::new();
    }
    let mut next = Vec::new();
    for phase in plan.phases.iter().filter(|p| p.kind == kind) {
        let step = phase.steps.iter().position(|s| s.status != StepStatus::Complete);
        if let Some(s) = step.filter(|s| phase.steps[*s].status != StepStatus::Error) {
            next.push((phase.id.clone(), s));
        }
    }
    next
}

/// Moves each phase of `kind` one step on where it can.
fn progress(world: &Mutex<World>, kind: PhaseKind) {
    let next = next_steps(&mut lock(world), kind);
    for (phase_id, s) in next {
        let found = {
            let mut w = lock(world);
            let phase = plan_mut(&mut w, kind).phases.iter().find(|p| p.id == phase_id);
            phase.map(|p| p.steps[s].clone())
        };
        // A replace may have superseded the phase meanwhile.
        let Some(step) = found else { continue };
        let (status, pod, name, not_before) = (step.status, step.pod, step.name.clone(), step.not_before);
        if not_before.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        let recover = name.ends_with(":[recover]");
        let outcome = match (status, recover, kind) {
            // The back-off is over: the step is launched again.
            (StepStatus::Delayed, _, _) => Some(Ok(StepStatus::Pending)),
            (StepStatus::Pending, true, _) if step.failures > 0 => {
                Some(relaunch_recover(&mut lock(world), pod))
            }
            (StepStatus::Pending, true, _) => Some(start_recover(&mut lock(world), pod)),
            (StepStatus::Starting, true, _) => Some(run_recover(world, pod)),
            (StepStatus::Pending, false, PhaseKind::Replace) => {
                Some(launch_new_member(&mut lock(world), pod))
            }
            (StepStatus::Pending, false, PhaseKind::Deploy) if usize::from(pod) < lock(world).pods.len() => {
                Some(roll_in_place(&mut lock(world), pod))
            }
            (StepStatus::Pending, false, PhaseKind::Deploy) => Some(add_member(world, pod)),
            (StepStatus::Starting, false, _) => {
                member_up(world, pod, kind).then_some(Ok(StepStatus::Complete))
            }
            _ => None,
        };
        let mut w = lock(world);
        let recover_delay = w.recover_delay;
        let plan = plan_mut(&mut w, kind);
        let Some(phase) = plan.phases.iter_mut().find(|p| p.id == phase_id) else { continue };
        let step = &mut phase.steps[s];
        let now = Instant::now();
        match outcome {
            Some(Ok(status)) => {
                if recover && step.status == StepStatus::Pending && status == StepStatus::Starting {
                    // The recover task runs a while before it acts.
                    step.not_before = Some(now + recover_delay);
                }
                step.status = status;
            }
            // etcd refuses `member add` for 5 s after a start: try again a while.
            Some(Err(_)) if *step.deadline.get_or_insert(now + RETRY_FOR) > now => {
                step.not_before = Some(now + RETRY_PAUSE);
            }
            // The task failed. The SDK never gives up on a step: `DELAYED` for a
            // back-off, then launched again, the plan at 202 all along
            // (`DeploymentStep.update`); `ERROR` (417) is for construction errors only.
            Some(Err(why)) => {
                step.status = StepStatus::Delayed;
                step.failures += 1;
                step.deadline = None;
                step.not_before = Some(now + BACKOFF);
                w.failures.push(format!("{name}: {why}"));
                if recover {
                    w.set_status(pod, false, "FAILED");
                }
            }
            None => {}
        }
    }
}

/// `[recover]` starts: the pod moves to a new agent, the recover task runs there and
/// the peer is re-saved as a stub.
fn start_recover(w: &mut World, index: u8) -> Result<StepStatus, String> {
    let agent = w.new_agent();
    let id = w.task_id(&format!("etcd-{index}-recover"));
    let pod = &mut w.pods[usize::from(index)];
    pod.agent = agent.clone();
    pod.peer = Task::stub(&agent);
    pod.recover = Task { id, status: Some("RUNNING"), agent, since: now_s() };
    pod.permanently_failed = false;
    pod.relaunch_at = None;
    Ok(StepStatus::Starting)
}

/// `[recover]` launched again after a failure, on the agent the pod moved to.
fn relaunch_recover(w: &mut World, index: u8) -> Result<StepStatus, String> {
    let id = w.task_id(&format!("etcd-{index}-recover"));
    let pod = &mut w.pods[usize::from(index)];
    pod.recover = Task { id, status: Some("RUNNING"), agent: pod.agent.clone(), since: now_s() };
    Ok(StepStatus::Starting)
}

/// A deploy step of a pod that runs: the SDK kills it and relaunches it in place with
/// its new task spec (an update changes the etcd tasks' environment: `plans.update`
/// of the package's svc.yml rolls `etcd: [[peer]]` first). It stays down for
/// `roll_delay` (a slow relaunch), longer than a short `restartGrace`.
fn roll_in_place(w: &mut World, index: u8) -> Result<StepStatus, String> {
    let delay = w.roll_delay;
    let pod = &mut w.pods[usize::from(index)];
    if let Some(mut child) = pod.process.take() {
        pods::kill(&mut child);
    }
    if pod.peer.live() {
        w.set_status(index, true, "KILLED");
    }
    w.pods[usize::from(index)].relaunch_at = Some(Instant::now() + delay);
    Ok(StepStatus::Starting)
}

/// What `etcd-N-recover` does (§5.4): against a live member, remove the dead member
/// (found by its peer URL) and add `etcd-N` with the same peer URL.
fn run_recover(world: &Mutex<World>, index: u8) -> Result<StepStatus, String> {
    let (tls, endpoints, name, peer_url, fails) = {
        let w = lock(world);
        let pod = &w.pods[usize::from(index)];
        let endpoints: Vec<String> =
            w.live_endpoints().into_iter().filter(|e| *e != pod.client_url()).collect();
        (w.tls.clone(), endpoints, pod.name(), w.peer_url(pod.index), w.recover_fails.clone())
    };
    let result = (|| {
        if let Some(why) = fails {
            return Err(why);
        }
        if endpoints.is_empty() {
            return Err("no live etcd member to reach".to_owned());
        }
        let members = pods::member_list(&tls, &endpoints)?;
        if let Some(dead) = members.iter().find(|m| m.peer_urls.contains(&peer_url)) {
            pods::member_remove(&tls, &endpoints, dead.id)?;
        }
        pods::member_add(&tls, &endpoints, &name, &peer_url)
    })();
    let mut w = lock(world);
    match result {
        Ok((_, cluster)) => {
            let pod = &mut w.pods[usize::from(index)];
            pod.initial_cluster = cluster;
            pod.cluster_state = "existing";
            w.set_status(index, false, "FINISHED");
            Ok(StepStatus::Complete)
        }
        Err(why) => Err(why),
    }
}

/// `[peer]` of a replace: etcd with an empty data directory on the new agent.
fn launch_new_member(w: &mut World, index: u8) -> Result<StepStatus, String> {
    let data_dir = w.data_dir(index);
    let _ = std::fs::remove_dir_all(&data_dir);
    launch(w, index);
    Ok(StepStatus::Starting)
}

/// A deploy step: `member add etcd-N`, then the new pod on a new agent.
fn add_member(world: &Mutex<World>, index: u8) -> Result<StepStatus, String> {
    let (tls, endpoints, port, form, service) = {
        let w = lock(world);
        let form = w.pods.first().map(|p| p.peer_form).unwrap_or_default();
        (w.tls.clone(), w.live_endpoints(), w.slot_ports[usize::from(index)], form, w.service.clone())
    };
    let name = format!("etcd-{index}");
    let peer_url = form.url(index, port, &service);
    let (_, cluster) = pods::member_add(&tls, &endpoints, &name, &peer_url)?;
    let mut w = lock(world);
    let agent = w.new_agent();
    w.pods.push(super::world::Pod::new(index, port, &agent, (cluster, form), "existing"));
    launch(&mut w, index);
    Ok(StepStatus::Starting)
}

/// Whether the pod's member is up: RUNNING, and for a new member, healthy over TLS.
fn member_up(world: &Mutex<World>, index: u8, kind: PhaseKind) -> bool {
    let (running, tls, endpoint) = {
        let w = lock(world);
        let pod = &w.pods[usize::from(index)];
        (pod.peer.status == Some("RUNNING"), w.tls.clone(), pod.client_url())
    };
    running && (kind == PhaseKind::Transient || pods::healthy(&tls, &endpoint))
}
