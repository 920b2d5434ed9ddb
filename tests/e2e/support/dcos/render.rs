//! The fake's replies, rendered from its world with the shapes of the reference: SDK
//! pod status and info (§2.1, §2.2, §9.1), plans (§2.4), the Mesos master state (§4.1).

use serde_json::{Value, json};

use super::world::{Plan, StepStatus, Task, World, mesos_task};

/// The peer and recover tasks of pod `index` as shown, with a shown stub peer.
fn shown_tasks(w: &World, index: u8) -> [(String, Task); 2] {
    let pod = &w.pods[usize::from(index)];
    let peer = if pod.show_stub_peer { Task::stub(&pod.peer.agent) } else { pod.peer.clone() };
    [(format!("{}-peer", pod.name()), peer), (format!("{}-recover", pod.name()), pod.recover.clone())]
}

/// `GET /v1/pod`.
pub fn pod_list(w: &World) -> Value {
    let mut names: Vec<String> = w.pods.iter().map(|p| p.name()).collect();
    names.sort();
    json!(names)
}

/// `GET /v1/pod/<pod>/status`.
pub fn pod_status(w: &World, index: u8) -> Value {
    let tasks: Vec<Value> = shown_tasks(w, index)
        .into_iter()
        .map(|(name, task)| match task.status {
            Some(status) => json!({"id": task.id, "name": name, "status": status}),
            None => json!({"id": task.id, "name": name}),
        })
        .collect();
    json!({"name": w.pods[usize::from(index)].name(), "tasks": tasks})
}

/// `GET /v1/pod/status`.
pub fn all_status(w: &World) -> Value {
    let instances: Vec<Value> = w.pods.iter().map(|p| pod_status(w, p.index)).collect();
    json!({"service": w.service, "pods": [{"name": "etcd", "instances": instances}]})
}

/// `GET /v1/pod/<pod>/info`: camelCase protobuf JSON, v0 names, `status: null` for stubs.
pub fn pod_info(w: &World, index: u8) -> Value {
    let pod = &w.pods[usize::from(index)];
    let infos: Vec<Value> = shown_tasks(w, index)
        .into_iter()
        .map(|(name, task)| {
            let hostname = w.agent(&task.agent).map(|a| a.hostname.clone()).unwrap_or_default();
            let goal = if name.ends_with("-recover") { "ONCE" } else { "RUNNING" };
            let mut labels = vec![
                json!({"key": "task_type", "value": "etcd"}),
                json!({"key": "index", "value": pod.index.to_string()}),
                json!({"key": "goal_state", "value": goal}),
                json!({"key": "target_configuration", "value": "319ebe89-42e2-40e2-9169-8568e2421023"}),
                json!({"key": "offer_hostname", "value": hostname}),
            ];
            if pod.permanently_failed && !task.id.is_empty() {
                labels.push(json!({"key": "permanently-failed", "value": "true"}));
            }
            let info = json!({
                "name": name,
                "taskId": {"value": task.id},
                "slaveId": {"value": task.agent},
                "labels": {"labels": labels},
                "executor": {"executorId": {"value": format!("{}__etcd__executor", w.task_prefix())}},
            });
            let status = task.status.map(|s| {
                json!({
                    "taskId": {"value": task.id},
                    "state": format!("TASK_{s}"),
                    "source": "SOURCE_EXECUTOR",
                    "slaveId": {"value": task.agent},
                    "timestamp": task.since,
                })
            });
            json!({"info": info, "status": status})
        })
        .collect();
    json!(infos)
}

/// `GET /v1/plans/<plan>`: the HTTP status (200 complete, 202 not yet, 417 errors) and
/// the body.
pub fn plan(plan: &Plan) -> (u16, Value) {
    let aggregate = |statuses: &[StepStatus]| {
        if statuses.contains(&StepStatus::Error) {
            "ERROR"
        } else if statuses.iter().all(|s| *s == StepStatus::Complete) {
            "COMPLETE"
        } else if statuses.iter().all(|s| *s == StepStatus::Pending) {
            "PENDING"
        } else {
            "IN_PROGRESS"
        }
    };
    let mut all = Vec::new();
    let phases: Vec<Value> = plan
        .phases
        .iter()
        .map(|phase| {
            let statuses: Vec<StepStatus> = phase.steps.iter().map(|s| s.status).collect();
            all.extend(&statuses);
            let kind = match phase.kind {
                super::world::PhaseKind::Transient => " RecoveryType: TRANSIENT",
                super::world::PhaseKind::Replace => " RecoveryType: PERMANENT",
                super::world::PhaseKind::Deploy => "",
            };
            let class = if kind.is_empty() { "DeploymentStep" } else { "recovery.RecoveryStep" };
            let steps: Vec<Value> = phase
                .steps
                .iter()
                .map(|s| {
                    let status = s.status.as_str();
                    let message = format!(
                        "com.mesosphere.sdk.scheduler.{class}: {} [{}] with status: {status}{kind}",
                        s.name, s.id
                    );
                    json!({"id": s.id, "status": status, "name": s.name, "message": message})
                })
                .collect();
            let status = aggregate(&statuses);
            json!({"id": phase.id, "name": phase.name, "steps": steps, "status": status, "strategy": phase.strategy})
        })
        .collect();
    let status = if plan.errors.is_empty() { aggregate(&all) } else { "ERROR" };
    let strategy = if plan.phases.iter().any(|p| p.strategy == "parallel") { "parallel" } else { "serial" };
    let code = match status {
        "ERROR" => 417,
        "COMPLETE" => 200,
        _ => 202,
    };
    (code, json!({"phases": phases, "errors": plan.errors, "status": status, "strategy": strategy}))
}

/// `GET /mesos/master/state` (v0, snake_case).
pub fn master_state(w: &World) -> Value {
    let slaves: Vec<Value> = w
        .agents
        .iter()
        .filter(|a| !a.removed)
        .map(|a| {
            json!({
                "id": a.id,
                "hostname": a.hostname,
                "port": 5051,
                "pid": format!("slave(1)@{}:5051", a.hostname),
                "attributes": {},
                "resources": {"cpus": 4.0, "mem": 14018.0, "disk": 35577.0, "ports": "[1025-2180, 2182-3887]"},
                "active": true,
                "version": "1.7.0",
            })
        })
        .collect();
    let mut tasks = Vec::new();
    for pod in &w.pods {
        for (name, task) in [("peer", &pod.peer), ("recover", &pod.recover)] {
            if task.live() || task.paused() {
                let mut rendered =
                    mesos_task(&w.service, &w.framework_id, &format!("{}-{name}", pod.name()), task);
                if pod.peer_form.shares_ports() {
                    // On the overlay network Mesos names the container's own address
                    // (the `dcos` network's IP that autoip names resolve to).
                    rendered["statuses"][0]["container_status"] = json!({"network_infos": [{
                        "name": "dcos",
                        "ip_addresses": [{"protocol": "IPv4", "ip_address": pod.address().to_string()}],
                    }]});
                }
                tasks.push(rendered);
            }
        }
    }
    json!({
        "version": "1.7.0",
        "hostname": "127.0.0.1",
        "activated_slaves": slaves.len(),
        "deactivated_slaves": 0,
        "unreachable_slaves": w.unreachable_agents,
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": [{
            "id": w.framework_id,
            "name": w.service,
            "active": true,
            "tasks": tasks,
            "unreachable_tasks": [],
            "completed_tasks": w.completed,
        }],
        "completed_frameworks": [],
    })
}
