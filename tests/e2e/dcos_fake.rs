//! The fake DC/OS behaves as `shared/reference/dcos-api.md` says, with real etcd pods
//! over TLS, and the DC/OS client reads it: pod status and info, the master state,
//! restart and replace, Admin Router's failures and token expiry. These tests are
//! also the client's request assertions against the reference's shapes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::dcos::{FakeDcos, FakeOptions, Fault, USER};
use crate::support::{assert_holds, wait_for};
use etcd_warden::domain::PodName;
use etcd_warden::manifest::desired::PlatformSpec;
use etcd_warden::manifest::parse_str;
use etcd_warden::model::platform::{AgentState, PlatformObservation, PlatformRecovery, TaskState};
use etcd_warden::platform::MemberUrls;
use etcd_warden::platform::dcos::client::{DcosClient, DcosError};
use etcd_warden::platform::dcos::mapping::DcosView;
use etcd_warden::platform::dcos::shapes::SdkReply;
use etcd_warden::platform::dcos::shapes::cosmos::DescribeReply;
use etcd_warden::platform::dcos::shapes::plans::{PlanInfo, PlanStatus, RecoveryType};
use etcd_warden::platform::dcos::shapes::pods::PodStatus;
use reqwest::Method;

const SERVICE: &str = "/service/prod/kubernetes";
const LOGIN: &str = "/acs/api/v1/auth/login";

/// A raw reply: status, content type, `WWW-Authenticate`, body.
#[derive(Debug)]
struct Reply {
    status: u16,
    kind: String,
    www: String,
    body: String,
}

/// One raw request to the fake, with the given headers.
fn call(fake: &FakeDcos, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    fake.block_on(async {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", fake.url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.body(body.to_owned()).send().await.expect("send a request to the fake");
        let header =
            |name| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let (status, kind, www) =
            (response.status().as_u16(), header("content-type"), header("www-authenticate"));
        Reply { status, kind, www, body: response.text().await.expect("a body") }
    })
}

/// A token from a password login.
fn password_token(fake: &FakeDcos) -> String {
    let body = serde_json::json!({"uid": USER.0, "password": USER.1}).to_string();
    let reply = call(fake, Method::POST, LOGIN, &[("content-type", "application/json")], &body);
    assert_eq!(reply.status, 200, "{reply:?}");
    let value: serde_json::Value = serde_json::from_str(&reply.body).expect("login JSON");
    value["token"].as_str().expect("a token").to_owned()
}

/// An authenticated GET.
fn get(fake: &FakeDcos, token: &str, path: &str) -> Reply {
    call(fake, Method::GET, path, &[("authorization", &format!("token={token}"))], "")
}

/// A plan through a raw GET: its HTTP status and body.
fn plan(fake: &FakeDcos, token: &str, name: &str) -> (u16, PlanInfo) {
    let reply = get(fake, token, &format!("{SERVICE}/v1/plans/{name}"));
    (
        reply.status,
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("plan {name}: {e}: {reply:?}")),
    )
}

fn pod(name: &str) -> PodName {
    name.parse().expect("a pod name")
}

fn pod_status(fake: &FakeDcos, client: &DcosClient, name: &str) -> PodStatus {
    match fake.block_on(client.pod_status(pod(name))).expect("pod status") {
        SdkReply::Found(status) => status,
        SdkReply::NotFound(nf) => panic!("{nf:?}"),
    }
}

/// One observation through the client and the mapping, as the platform will make it.
fn observe(fake: &FakeDcos, client: &DcosClient) -> PlatformObservation {
    observation(&view(fake, client))
}

fn observation(view: &DcosView) -> PlatformObservation {
    let urls = |_| MemberUrls { client: String::new(), peer: String::new() };
    view.observation(urls).expect("the mapping takes the fake's replies")
}

/// What one pass reads through the client, in the pass's order: every pod's status and
/// info, then the master state (an agent a task moved to is registered by then), the
/// deploy and recovery plans.
fn view(fake: &FakeDcos, client: &DcosClient) -> DcosView {
    let count = fake.endpoints().len();
    fake.block_on(async {
        let (mut pods, mut infos) = (Vec::new(), BTreeMap::new());
        for pod in PodName::first(count) {
            if let SdkReply::Found(status) = client.pod_status(pod).await.expect("pod status") {
                pods.push(status);
            }
            if let SdkReply::Found(info) = client.pod_info(pod).await.expect("pod info") {
                infos.insert(pod, info);
            }
        }
        let master = client.master_state().await.expect("master state");
        let deploy = client.plan("deploy").await.expect("deploy plan").plan().cloned();
        let recovery = client.plan("recovery").await.expect("recovery plan").plan().cloned();
        DcosView { pods, infos, master, deploy, recovery }
    })
}

/// (task, agent, recovery) of one pod in an observation.
fn seen(observation: &PlatformObservation, name: &str) -> (TaskState, AgentState, PlatformRecovery) {
    let task = observation.tasks.iter().find(|t| t.pod == pod(name)).expect("the pod observed");
    (task.task, task.agent, task.recovery)
}

const RUNNING: (TaskState, AgentState, PlatformRecovery) =
    (TaskState::Running, AgentState::Healthy, PlatformRecovery::None);

#[test]
fn the_client_reads_three_tls_pods_and_the_sdk_relaunches_a_crashed_task_in_place() {
    let fake = FakeDcos::start(FakeOptions::default());
    fake.put_keys("before", 50);
    // The client as a manifest configures it.
    let loaded = parse_str("fake", &fake.manifest("kubernetes", "")).expect("the fake's manifest is valid");
    let PlatformSpec::Dcos(spec) = &loaded[0].desired.platform else { panic!("a DC/OS manifest") };
    let client = DcosClient::new(spec).expect("a client");

    let anonymous = call(&fake, Method::GET, &format!("{SERVICE}/v1/pod"), &[], "");
    assert_eq!(
        (anonymous.status, anonymous.kind.as_str(), anonymous.www.as_str()),
        (401, "text/html", "acsjwt")
    );

    let observation = observe(&fake, &client);
    assert_eq!(observation.tasks.len(), 3);
    for name in ["etcd-0", "etcd-1", "etcd-2"] {
        assert_eq!(seen(&observation, name), RUNNING, "{name}");
    }
    // The client logged in once, with a service login token, then sent its token.
    let requests = fake.requests();
    let logins: Vec<_> = requests.iter().filter(|r| r.path == LOGIN).collect();
    assert_eq!(logins.len(), 1, "one login: {logins:?}");
    let login: serde_json::Value = serde_json::from_str(&logins[0].body).expect("login JSON");
    assert_eq!((login["uid"].as_str(), login["token"].is_string()), (Some("etcd-warden"), true));
    assert!(logins[0].header("content-type").is_some_and(|v| v.starts_with("application/json")));
    let reads = requests
        .iter()
        .filter(|r| r.path.starts_with(&format!("{SERVICE}/v1/pod/")) || r.path == "/mesos/master/state");
    assert!(
        reads.clone().count() == 7
            && reads.clone().all(|r| r.header("authorization").is_some_and(|a| a.starts_with("token=")))
    );

    // The SDK's own 404, text/plain.
    match fake.block_on(client.pod_status(pod("etcd-4"))).expect("pod status of etcd-4") {
        SdkReply::NotFound(nf) => assert_eq!((nf.thing.as_str(), nf.name.as_str()), ("Pod", "etcd-4")),
        found => panic!("etcd-4 found: {found:?}"),
    }
    let token = password_token(&fake);
    let nine = get(&fake, &token, &format!("{SERVICE}/v1/pod/etcd-9/status"));
    assert_eq!(
        (nine.status, nine.kind.as_str(), nine.body.as_str()),
        (404, "text/plain", "Pod etcd-9 not found")
    );
    let (code, deploy) = plan(&fake, &token, "deploy");
    assert_eq!((code, deploy.status, deploy.phases[0].steps.len()), (200, PlanStatus::Complete, 3));
    let (code, recovery) = plan(&fake, &token, "recovery");
    assert_eq!((code, recovery.phases.len()), (200, 0), "no recovery: zero phases, complete");

    // A crash: FAILED on a healthy agent, then relaunched on the same agent with its data.
    let (agent, pid) = (fake.agent_of("etcd-1"), fake.pid("etcd-1"));
    let old_id = pod_status(&fake, &client, "etcd-1").tasks[0].id.clone();
    fake.crash("etcd-1");
    let peer = pod_status(&fake, &client, "etcd-1").tasks[0].clone();
    assert_eq!(peer.status.map(|s| s.as_str().to_owned()).as_deref(), Some("FAILED"));
    assert_eq!(
        seen(&observe(&fake, &client), "etcd-1"),
        (TaskState::Exited, AgentState::Healthy, PlatformRecovery::None)
    );
    wait_for("etcd-1 relaunched", Duration::from_secs(30), || {
        (seen(&observe(&fake, &client), "etcd-1") == RUNNING).then_some(())
    });
    assert_ne!(pod_status(&fake, &client, "etcd-1").tasks[0].id, old_id, "a new task ID");
    assert_eq!(fake.agent_of("etcd-1"), agent, "relaunched in place");
    assert_ne!(fake.pid("etcd-1"), pid);
    let recovery = wait_for("the recovery plan complete", Duration::from_secs(10), || {
        let (code, recovery) = plan(&fake, &token, "recovery");
        (code == 200).then_some(recovery)
    });
    let step = &recovery.phases[0].steps[0];
    assert_eq!(
        (step.name.as_str(), step.status.clone(), step.recovery_type()),
        ("etcd-1:[peer]", PlanStatus::Complete, Some(RecoveryType::Transient))
    );
    fake.assert_keys_on(&fake.endpoint("etcd-1"), "before", 50);

    // A held relaunch waits for the controller's restart, which relaunches in place.
    fake.hold_restarts("etcd-2", true);
    fake.crash("etcd-2");
    assert_holds("etcd-2 stays down while held", Duration::from_secs(3), || fake.pid("etcd-2").is_none());
    match fake.block_on(client.restart(pod("etcd-2"))).expect("restart") {
        SdkReply::Found(reply) => assert_eq!(reply.tasks, ["etcd-2-peer", "etcd-2-recover"]),
        other => panic!("{other:?}"),
    }
    wait_for("etcd-2 restarted", Duration::from_secs(30), || {
        (seen(&observe(&fake, &client), "etcd-2") == RUNNING).then_some(())
    });
    assert_eq!(fake.count("POST", "/v1/pod/etcd-2/restart"), 1);
    fake.wait_healthy(Duration::from_secs(30));
    fake.assert_keys_on(&fake.endpoint("etcd-2"), "before", 50);
}

#[test]
fn replace_runs_recover_then_peer_on_a_new_agent_and_keeps_every_key() {
    let fake = FakeDcos::start(FakeOptions::default());
    fake.put_keys("k", 100);
    let client = DcosClient::new(&fake.dcos_spec()).expect("a client");
    let token = password_token(&fake);
    let members = fake.try_member_list().expect("member list");
    let old_id = members.iter().find(|m| m.name == "etcd-1").expect("etcd-1 a member").id;
    let old_agent = fake.agent_of("etcd-1");

    // The agent is lost: LOST in completed_tasks, the agent gone from slaves.
    fake.lose_agent("etcd-1");
    assert_eq!(
        seen(&observe(&fake, &client), "etcd-1"),
        (TaskState::Exited, AgentState::Lost, PlatformRecovery::None)
    );
    let state: serde_json::Value =
        serde_json::from_str(&get(&fake, &token, "/mesos/master/state").body).expect("state JSON");
    assert!(state["slaves"].as_array().expect("slaves").iter().all(|a| a["id"] != old_agent.as_str()));
    assert_eq!(state["unreachable_slaves"], 1);
    let completed = state["frameworks"][0]["completed_tasks"].as_array().expect("completed tasks");
    assert!(
        completed.iter().any(|t| t["name"] == "etcd-1-peer" && t["state"] == "TASK_LOST"),
        "{completed:?}"
    );

    match fake.block_on(client.replace(pod("etcd-1"))).expect("replace") {
        SdkReply::Found(reply) => assert_eq!(reply.tasks, ["etcd-1-peer", "etcd-1-recover"]),
        other => panic!("{other:?}"),
    }
    // [recover] runs on a new agent while the peer is a stub: progress, not failure.
    let (view, (code, recovery)) =
        wait_for("recover running, the peer a stub", Duration::from_secs(20), || {
            let view = view(&fake, &client);
            let status = view.pods.iter().find(|p| p.name == "etcd-1").expect("etcd-1 status");
            let recover = status.task("etcd-1-recover").expect("recover task");
            let running = recover.status.as_ref().is_some_and(|s| s.as_str() == "RUNNING");
            let stub = status.task("etcd-1-peer").expect("peer task").is_stub();
            // Read in the same instant: the recover task runs for at least a second.
            (stub && running).then(|| (view, plan(&fake, &token, "recovery")))
        });
    let peer =
        view.pods.iter().find(|p| p.name == "etcd-1").and_then(|p| p.task("etcd-1-peer")).expect("peer");
    assert!(peer.status.is_none(), "a stub has no status");
    assert_eq!(
        seen(&observation(&view), "etcd-1"),
        (TaskState::NotLaunched, AgentState::Healthy, PlatformRecovery::Replacing)
    );
    let steps: Vec<_> =
        recovery.phases[0].steps.iter().map(|s| (s.name.as_str(), s.recovery_type())).collect();
    let permanent = Some(RecoveryType::Permanent);
    assert_eq!((code, steps), (202, vec![("etcd-1:[recover]", permanent), ("etcd-1:[peer]", permanent)]));

    let recovery = wait_for("the recovery plan complete", Duration::from_secs(60), || {
        let (code, recovery) = plan(&fake, &token, "recovery");
        assert_ne!(code, 417, "recovery failed: {recovery:?}");
        (code == 200).then_some(recovery)
    });
    assert!(recovery.phases[0].steps.iter().all(|s| s.status == PlanStatus::Complete));
    wait_for("etcd-1 running", Duration::from_secs(20), || {
        (seen(&observe(&fake, &client), "etcd-1") == RUNNING).then_some(())
    });
    assert_ne!(fake.agent_of("etcd-1"), old_agent, "a new agent");
    fake.wait_healthy(Duration::from_secs(30));
    let members = fake.try_member_list().expect("member list");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|m| !m.name.is_empty() && m.id != old_id),
        "started, the old ID gone: {members:?}"
    );
    assert!(members.iter().any(|m| m.name == "etcd-1"));
    fake.assert_keys_on(&fake.endpoint("etcd-1"), "k", 100);
    assert_eq!(fake.count("POST", "/replace"), 1, "exactly one replace");

    // Without quorum [recover] cannot run. As the SDK does (`DeploymentStep.update`),
    // its failed task makes the step DELAYED, then it is launched again, for ever:
    // the plan answers 202 all along, never 417 (construction errors only).
    fake.lose_agent("etcd-0");
    fake.lose_agent("etcd-2");
    fake.block_on(client.replace(pod("etcd-0"))).expect("replace etcd-0");
    let recover_step = |p: &PlanInfo| {
        let steps = p.phases.iter().flat_map(|p| &p.steps);
        steps.filter(|s| s.name == "etcd-0:[recover]").map(|s| s.status.clone()).next()
    };
    let mut seen = Vec::new();
    wait_for("the recover step failed twice and launched again", Duration::from_secs(90), || {
        let (code, recovery) = plan(&fake, &token, "recovery");
        assert_eq!(code, 202, "a failing step keeps the plan in progress: {recovery:?}");
        assert!(recovery.errors.is_empty(), "{:?}", recovery.errors);
        let status = recover_step(&recovery).expect("etcd-0:[recover]");
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        (fake.step_failures().len() >= 2 && seen.last() != Some(&PlanStatus::Delayed)).then_some(())
    });
    assert!(seen.contains(&PlanStatus::Delayed), "{seen:?}");
    let failures = fake.step_failures();
    assert!(failures.iter().all(|f| f.starts_with("etcd-0:[recover]: ")), "{failures:?}");
}

#[test]
fn admin_router_failures_and_expired_tokens_behave_as_on_dcos() {
    let fake = FakeDcos::start(FakeOptions { pods: 1, ..FakeOptions::default() });
    let client = DcosClient::new(&fake.password_spec()).expect("a client");
    assert_eq!(pod_status(&fake, &client, "etcd-0").name, "etcd-0");
    let status_path = "/v1/pod/etcd-0/status";

    // 502 for every route, the IAM's too; the client's reads retry through it.
    fake.fail_for(Duration::from_secs(2), Fault::Status(502));
    let login = call(&fake, Method::POST, LOGIN, &[("content-type", "application/json")], "{}");
    assert_eq!((login.status, login.kind.as_str()), (502, "text/html"));
    let before = fake.count("GET", status_path);
    assert_eq!(pod_status(&fake, &client, "etcd-0").name, "etcd-0");
    assert!(fake.count("GET", status_path) - before >= 2, "retried through the 502 window");

    // 200 with malformed JSON: a shape error, not an answer.
    fake.fail_for(Duration::from_secs(2), Fault::Garbage);
    match fake.block_on(client.pod_status(pod("etcd-0"))) {
        Err(DcosError::Shape(_)) => {}
        other => panic!("garbage taken for {other:?}"),
    }
    wait_for("the garbage window over", Duration::from_secs(10), || {
        fake.block_on(client.pod_status(pod("etcd-0"))).ok()
    });

    // Every token expired: one 401, one new login, the read made again.
    let (logins, reads) = (fake.count("POST", LOGIN), fake.count("GET", status_path));
    fake.expire_tokens();
    assert_eq!(pod_status(&fake, &client, "etcd-0").name, "etcd-0");
    assert_eq!(fake.count("POST", LOGIN), logins + 1, "one new login");
    assert_eq!(fake.count("GET", status_path), reads + 2, "the refused read, then the read again");

    // A short-lived token stops working at its expiry.
    fake.set_token_life(Duration::from_secs(1));
    let token = password_token(&fake);
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(&token).expect("a JWT");
    assert_eq!(claims["uid"], USER.0);
    wait_for("the short token refused", Duration::from_secs(10), || {
        let reply = get(&fake, &token, &format!("{SERVICE}/v1/pod"));
        (reply.status == 401).then_some(())
    });
    fake.set_token_life(Duration::from_secs(3600));

    // A stub peer: no ID, no status; the mapping sees a task not launched.
    fake.stub_peer("etcd-0", true);
    let peer = pod_status(&fake, &client, "etcd-0").tasks[0].clone();
    assert!(peer.is_stub() && peer.status.is_none(), "{peer:?}");
    assert_eq!(seen(&observe(&fake, &client), "etcd-0").0, TaskState::NotLaunched);
    fake.stub_peer("etcd-0", false);
    assert_eq!(seen(&observe(&fake, &client), "etcd-0"), RUNNING);
}

const DESCRIBE: (&str, &str) = (
    "application/vnd.dcos.service.describe-request+json;charset=utf-8;version=v1",
    "application/vnd.dcos.service.describe-response+json;charset=utf-8;version=v1",
);
const UPDATE: (&str, &str) = (
    "application/vnd.dcos.service.update-request+json;charset=utf-8;version=v1",
    "application/vnd.dcos.service.update-response+json;charset=utf-8;version=v1",
);

/// A Cosmos call with the given media types.
fn cosmos(fake: &FakeDcos, token: &str, path: &str, (request, response): (&str, &str), body: &str) -> Reply {
    let auth = format!("token={token}");
    let headers = [("authorization", auth.as_str()), ("content-type", request), ("accept", response)];
    call(fake, Method::POST, path, &headers, body)
}

fn high_availability(fake: &FakeDcos, token: &str) -> Option<bool> {
    let reply = cosmos(fake, token, "/cosmos/service/describe", DESCRIBE, r#"{"appId":"/prod/kubernetes"}"#);
    assert_eq!((reply.status, reply.kind.as_str()), (200, DESCRIBE.1), "{reply:?}");
    let describe: DescribeReply = serde_json::from_str(&reply.body).expect("a describe reply");
    describe.high_availability().expect("a boolean")
}

#[test]
fn turning_high_availability_on_through_cosmos_adds_two_members() {
    let fake = FakeDcos::start(FakeOptions { pods: 1, ..FakeOptions::default() });
    fake.put_keys("k", 20);
    let token = password_token(&fake);

    let wrong = cosmos(&fake, &token, "/cosmos/service/describe", (DESCRIBE.0, "application/json"), "{}");
    let error: serde_json::Value = serde_json::from_str(&wrong.body).expect("a Cosmos error");
    assert_eq!(wrong.status, 400);
    assert!(
        error["type"].is_string() && error["message"].is_string() && error.get("data").is_some(),
        "{error}"
    );
    let unknown = cosmos(&fake, &token, "/cosmos/service/describe", DESCRIBE, r#"{"appId":"/nope"}"#);
    assert_eq!(unknown.status, 400);
    assert_eq!(high_availability(&fake, &token), Some(false));

    let update =
        r#"{"appId":"/prod/kubernetes","options":{"kubernetes":{"high_availability":true}},"replace":false}"#;
    let reply = cosmos(&fake, &token, "/cosmos/service/update", UPDATE, update);
    assert_eq!((reply.status, reply.kind.as_str()), (200, UPDATE.1), "{reply:?}");
    // Marathon redeploys the scheduler first: its deployment is listed, under the ID
    // Cosmos answered, naming the service's app.
    let updated: serde_json::Value = serde_json::from_str(&reply.body).expect("an update reply");
    let deployments = get(&fake, &token, "/service/marathon/v2/deployments");
    let listed: serde_json::Value = serde_json::from_str(&deployments.body).expect("Marathon's deployments");
    assert_eq!(listed[0]["id"], updated["marathonDeploymentId"], "{listed}");
    assert_eq!(listed[0]["affectedApps"], serde_json::json!(["/prod/kubernetes"]), "{listed}");
    // Then the new scheduler's deploy plan grows etcd.
    let steps = wait_for("the deploy plan growing etcd", Duration::from_secs(30), || {
        let (code, deploy) = plan(&fake, &token, "deploy");
        let steps: Vec<String> = deploy.phases[0].steps.iter().map(|s| s.name.clone()).collect();
        (code == 202).then_some(steps)
    });
    assert_eq!(steps, ["etcd-0:[peer]", "etcd-1:[peer]", "etcd-2:[peer]"]);
    let over = get(&fake, &token, "/service/marathon/v2/deployments");
    assert_eq!(over.body.split_whitespace().collect::<String>(), "[]", "the deployment is over");
    wait_for("the deploy plan complete", Duration::from_secs(90), || {
        let (code, deploy) = plan(&fake, &token, "deploy");
        assert_ne!(code, 417, "deploy failed: {deploy:?}");
        (code == 200).then_some(())
    });
    assert_eq!(high_availability(&fake, &token), Some(true), "the options merged, the rest kept");
    fake.wait_healthy(Duration::from_secs(30));
    let members = fake.try_member_list().expect("member list");
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["etcd-0", "etcd-1", "etcd-2"]);
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 20);
    }
    let pods = get(&fake, &token, &format!("{SERVICE}/v1/pod"));
    assert_eq!(pods.body.split_whitespace().collect::<String>(), r#"["etcd-0","etcd-1","etcd-2"]"#);
}
