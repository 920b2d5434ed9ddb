//! Every example body of `shared/reference/dcos-api.md` parses into its shape.
//! Fenced bodies are copied verbatim into `fixtures/` (see `fixtures/README.md`); the
//! short bodies written inline in the reference are copied here as strings.

use std::collections::BTreeMap;

use super::shapes::cosmos::{DescribeReply, DescribeRequest, UpdateRequest};
use super::shapes::iam::{LoginReply, LoginRequest, Secret, ServiceAccountSecret, TokenClaims};
use super::shapes::mesos::{AgentsReply, MasterState, MesosTaskState, ResourceValue, TaskList, TasksReply};
use super::shapes::mesos_v1::{OperatorCall, OperatorReply};
use super::shapes::plans::{CommandMessage, CommandReply, PlanList, PlanReply, PlanStatus, RecoveryType};
use super::shapes::pods::{PodCommandReply, PodInfo, PodList, PodStatus, SdkTaskStatus, ServicePodStatus};
use super::shapes::scheduler::{FrameworkId, GoalState, HealthReply, ServiceSpec, TargetConfigId};
use super::shapes::{NotFound, SdkReply, ShapeError, parse};
use crate::domain::PodName;

fn pod(i: u8) -> PodName {
    PodName::new(i).expect("pod")
}

/// The body parses, and serialising what was parsed and parsing that again gives the
/// same value (what the fake DC/OS will rely on).
fn reads<T>(body: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let value: T = parse("fixture", body).unwrap_or_else(|e| panic!("{e}"));
    let again: T = serde_json::from_value(serde_json::to_value(&value).expect("serialise")).expect("reparse");
    assert_eq!(again, value);
    value
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("json")
}

// §1.2 IAM

#[test]
fn the_login_requests_of_the_reference_parse_and_serialise_back_to_themselves() {
    let bodies = [
        include_str!("fixtures/iam-login-password.json"),
        include_str!("fixtures/iam-login-service-account.json"),
        r#"{"token": "<id token>"}"#,
    ];
    let parsed: Vec<LoginRequest> = bodies.iter().map(|b| reads(b)).collect();
    assert!(matches!(&parsed[0], LoginRequest::Password { uid, .. } if uid == "<uid>"));
    assert!(
        matches!(&parsed[1], LoginRequest::ServiceAccount { token, .. } if token.expose() == "<service login JWT>")
    );
    assert!(matches!(&parsed[2], LoginRequest::IdToken { .. }));
    for (body, request) in bodies.iter().zip(&parsed) {
        assert_eq!(serde_json::to_value(request).expect("serialise"), json(body));
    }
}

#[test]
fn the_login_reply_parses_and_its_token_carries_the_claims_of_the_reference() {
    let reply: LoginReply = reads(include_str!("fixtures/iam-login-reply.json"));
    let token = reply.token.expose();
    assert!(token.starts_with("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."));
    let header = base64url(token.split('.').next().expect("header"));
    assert_eq!(json(&header), json(r#"{"alg": "RS256", "typ": "JWT"}"#));
    let claims: TokenClaims = reads(&base64url(token.split('.').nth(1).expect("payload")));
    assert_eq!(claims, TokenClaims { uid: "bootstrapuser".into(), exp: 1_482_615_456 });
}

#[test]
fn secrets_never_show_in_debug_output() {
    let secret: ServiceAccountSecret = reads(include_str!("fixtures/iam-service-account-secret.json"));
    assert_eq!(secret.uid, "marathon-lb-sa");
    assert_eq!(secret.scheme.as_deref(), Some("RS256"));
    assert_eq!(secret.login_endpoint.as_deref(), Some("https://master.mesos/acs/api/v1/auth/login"));
    assert_eq!(secret.private_key.expose(), "<PEM, PKCS#8>");
    let shown = format!("{secret:?}");
    assert!(!shown.contains("PEM") && shown.contains("<redacted>"), "{shown}");
    let request = LoginRequest::Password { uid: "u".into(), password: Secret::new("hunter2") };
    assert!(!format!("{request:?}").contains("hunter2"));
}

#[test]
fn a_login_failure_of_the_three_keys_section_9_names_parses() {
    let body = r#"{"title": "Invalid credentials", "description": "The login failed.", "code": "ERR_INVALID_CREDENTIALS"}"#;
    let error: super::shapes::iam::IamError = reads(body);
    assert_eq!(error.code.as_deref(), Some("ERR_INVALID_CREDENTIALS"));
}

/// Decodes unpadded base64url (the JWT segments), for the test only.
fn base64url(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|b| *b == byte).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

// §2.1 pod list and status

#[test]
fn the_pod_list_parses_and_names_the_etcd_pods() {
    let list: PodList = reads(include_str!("fixtures/sdk-pod-list.json"));
    assert_eq!(list.0.len(), 6);
    assert_eq!(list.etcd_pods().expect("etcd pods"), vec![pod(0), pod(1), pod(2)]);
    let odd = PodList(vec!["UNKNOWN_POD_etcd-0-peer".into(), "etcd-backup-0".into(), "etcd-1".into()]);
    assert_eq!(odd.etcd_pods().expect("etcd pods"), vec![pod(1)], "other pods are not ours");
    for beyond in ["etcd-7", "etcd-01"] {
        let error = PodList(vec![beyond.into()]).etcd_pods().expect_err(beyond);
        assert!(matches!(error, ShapeError::Value { .. }), "{error}");
    }
}

#[test]
fn the_pod_status_parses_with_its_stub_task_and_without_the_task_prefix() {
    let status: PodStatus = reads(include_str!("fixtures/sdk-pod-status-etcd-1.json"));
    assert_eq!(status.name, "etcd-1");
    let peer = status.task("etcd-1-peer").expect("peer");
    assert_eq!(peer.status, Some(SdkTaskStatus::Running));
    assert!(!peer.is_stub());
    let recover = status.task("etcd-1-recover").expect("recover");
    assert!(recover.is_stub() && recover.status.is_none());
}

#[test]
fn the_service_pod_status_parses_into_its_instances() {
    let all: ServicePodStatus = reads(include_str!("fixtures/sdk-pod-status-all.json"));
    assert_eq!(all.service, "kubernetes");
    let names: Vec<&str> = all.instances().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["etcd-0", "etcd-1"]);
    let failed = all.instances().nth(1).and_then(|i| i.task("etcd-1-peer")).and_then(|t| t.status.clone());
    assert_eq!(failed, Some(SdkTaskStatus::Failed));
}

#[test]
fn every_task_status_the_reference_names_is_known_and_others_are_kept() {
    let names = [
        "STAGING",
        "STARTING",
        "RUNNING",
        "KILLING",
        "FINISHED",
        "FAILED",
        "KILLED",
        "ERROR",
        "LOST",
        "DROPPED",
        "UNREACHABLE",
        "GONE",
        "GONE_BY_OPERATOR",
        "UNKNOWN",
        "PAUSED",
        "PAUSING",
        "DECOMMISSIONING",
        "DECOMMISSIONED",
    ];
    for name in names {
        let status = SdkTaskStatus::from(name.to_owned());
        assert!(!matches!(status, SdkTaskStatus::Other(_)), "{name}");
        assert_eq!(status.as_str(), name);
    }
    let prefixed: SdkTaskStatus = parse("status", r#""TASK_RUNNING""#).expect("parses");
    assert_eq!(prefixed, SdkTaskStatus::Other("TASK_RUNNING".into()), "pod status has no prefix");
    assert!(parse::<SdkTaskStatus>("status", "null").is_err(), "a status is a string or absent");
}

// §2.2 pod info

#[test]
fn the_pod_info_parses_with_its_null_status_stub() {
    let info: PodInfo = reads(include_str!("fixtures/sdk-pod-info-etcd-1.json"));
    let peer = info.task("etcd-1-peer").expect("peer");
    assert_eq!(peer.info.agent_id(), Some("4f6be22e-f057-4226-9c40-190496ea9218-S16"));
    assert_eq!(peer.info.label("offer_hostname"), Some("10.0.5.79"));
    assert!(!peer.info.permanently_failed());
    let status = peer.status.as_ref().expect("status");
    assert_eq!(status.state, MesosTaskState::Running);
    assert_eq!(status.healthy, Some(true));
    let stub = info.task("etcd-1-recover").expect("recover");
    assert!(stub.status.is_none() && stub.info.task_id.value.is_empty());
    assert_eq!(stub.info.agent_id(), None, "an empty agent ID is no agent");
}

// §2.3 restart / replace, §2 error bodies

#[test]
fn the_replace_reply_parses_and_the_sdk_404_is_told_from_admin_routers() {
    let body = include_str!("fixtures/sdk-pod-replace-etcd-1.json");
    let reply: PodCommandReply = reads(body);
    assert_eq!(reply.tasks, ["etcd-1-peer", "etcd-1-recover"]);
    let found = SdkReply::<PodCommandReply>::from_http("replace", 200, body).expect("200");
    assert_eq!(found, SdkReply::Found(reply));
    let missing =
        SdkReply::<PodCommandReply>::from_http("replace", 404, "Pod etcd-9 not found").expect("404");
    assert_eq!(missing, SdkReply::NotFound(NotFound { thing: "Pod".into(), name: "etcd-9".into() }));
    let html = "<html><body><h1>404 Not Found</h1></body></html>";
    assert!(matches!(
        SdkReply::<PodCommandReply>::from_http("replace", 404, html),
        Err(ShapeError::Status { status: 404, .. })
    ));
    assert!(SdkReply::<PodCommandReply>::from_http("replace", 500, "").is_err());
}

// §2.4 plans

#[test]
fn the_plan_fixture_parses_under_200_202_and_417() {
    let body = include_str!("fixtures/sdk-plan-kafka-deploy.json");
    let plan = reads::<super::shapes::plans::PlanInfo>(body);
    assert_eq!(plan.status, PlanStatus::InProgress);
    assert_eq!(plan.phases[0].steps[1].target(), Some(("kafka-1", vec!["broker"])));
    assert!(matches!(PlanReply::from_http(200, body), Ok(PlanReply::Complete(_))));
    assert!(matches!(PlanReply::from_http(202, body), Ok(PlanReply::Incomplete(_))));
    assert!(matches!(PlanReply::from_http(417, body), Ok(PlanReply::Errors(_))));
    let missing = PlanReply::from_http(404, "Plan foo not found").expect("404");
    assert_eq!(missing, PlanReply::NotFound(NotFound { thing: "Plan".into(), name: "foo".into() }));
    assert!(PlanReply::from_http(503, "Service Unavailable").is_err());
}

#[test]
fn the_recovery_plan_of_a_replacement_parses_and_says_permanent() {
    let body = include_str!("fixtures/sdk-plan-recovery-replace.json");
    let Ok(PlanReply::Incomplete(plan)) = PlanReply::from_http(202, body) else { panic!("a 202 plan") };
    let step = &plan.phases[0].steps[0];
    assert_eq!(step.status, PlanStatus::Pending);
    assert_eq!(step.target(), Some(("etcd-1", vec!["peer"])));
    assert_eq!(step.recovery_type(), Some(RecoveryType::Permanent));
    assert_eq!(plan.strategy, "parallel");
}

#[test]
fn the_plan_lists_parse() {
    let lists = [r#"["deploy","recovery"]"#, r#"["backup","deploy","recovery","update"]"#];
    for body in lists {
        let list: PlanList = reads(body);
        assert!(list.0.contains(&"recovery".to_owned()));
    }
}

#[test]
fn the_command_replies_parse_and_208_means_nothing_to_do() {
    let bodies = [
        r#"{"message": "Received cmd: start <plan> with parameters: {...}"}"#,
        r#"{"message": "Received cmd: stop"}"#,
        r#"{"message": "Received cmd: continue"}"#,
        r#"{"message": "Received cmd: interrupt"}"#,
        r#"{"message": "Received cmd: forceComplete for Plan: <p>, Phase: <ph>, Step: <s>"}"#,
        r#"{"message": "Received cmd: restart for Plan: ..., Phase: ..., Step: ..."}"#,
        r#"{"message": "Received cmd: refresh"}"#,
    ];
    for body in bodies {
        let message: CommandMessage = reads(body);
        assert!(message.message.starts_with("Received cmd: "));
        assert_eq!(CommandReply::from_http(200, body).expect("200"), CommandReply::Accepted(message));
    }
    let done = CommandReply::from_http(208, "Command has already been reported or completed").expect("208");
    assert_eq!(done, CommandReply::AlreadyDone);
    assert_eq!(
        CommandReply::from_http(400, "Missing phase").expect("400"),
        CommandReply::Refused("Missing phase".into())
    );
    assert!(matches!(CommandReply::from_http(404, "Step y not found"), Ok(CommandReply::NotFound(_))));
}

#[test]
fn the_request_bodies_of_plan_start_and_pause_are_well_formed() {
    let start: BTreeMap<String, String> = reads("{}");
    assert!(start.is_empty());
    for body in [r#"["peer"]"#, r#"["etcd-1-peer"]"#] {
        let tasks: Vec<String> = reads(body);
        assert_eq!(tasks.len(), 1);
    }
}

// §2.5-§2.7 configuration, state, health

#[test]
fn the_target_configuration_parses_and_gives_the_etcd_count() {
    let spec: ServiceSpec = reads(include_str!("fixtures/sdk-config-target.json"));
    assert_eq!(spec.etcd_count(), Some(3));
    let etcd = &spec.pod_specs[0];
    assert_eq!(etcd.task_specs[1].goal, GoalState::Once);
    let id: TargetConfigId = reads(r#"["319ebe89-42e2-40e2-9169-8568e2421023"]"#);
    assert_eq!(id.0, "319ebe89-42e2-40e2-9169-8568e2421023");
}

#[test]
fn the_framework_id_parses_from_its_one_element_array_and_nothing_else() {
    let id: FrameworkId = reads(r#"["4f6be22e-f057-4226-9c40-190496ea9218-0001"]"#);
    assert_eq!(id.0, "4f6be22e-f057-4226-9c40-190496ea9218-0001");
    for wrong in ["[]", r#"["a","b"]"#, r#"[""]"#] {
        assert!(parse::<FrameworkId>("frameworkId", wrong).is_err(), "{wrong}");
    }
}

#[test]
fn both_generations_of_health_parse_and_a_code_must_match_its_status() {
    let body = include_str!("fixtures/sdk-health-0.54.json");
    let Ok(HealthReply::Legacy { status: 202, build }) = HealthReply::from_http(202, body) else {
        panic!("a 0.54 health reply")
    };
    assert_eq!(build.sdk_version.as_deref(), Some("0.54.0"));
    reads::<super::shapes::scheduler::BuildInfo>(body);
    let coded = HealthReply::from_http(202, r#"{"value": 202}"#).expect("coded");
    assert!(matches!(coded, HealthReply::Coded(ref c) if c.value == 202 && c.reasons.is_empty()));
    assert!(HealthReply::from_http(200, r#"{"value": 202}"#).is_err());
}

// §3 Cosmos

#[test]
fn the_cosmos_bodies_parse_and_give_high_availability() {
    let request: DescribeRequest = reads(r#"{"appId": "kubernetes"}"#);
    assert_eq!(serde_json::to_value(&request).expect("serialise"), json(r#"{"appId": "kubernetes"}"#));
    let reply: DescribeReply = reads(include_str!("fixtures/constructed-cosmos-describe-reply.json"));
    assert_eq!(reply.package.version, "1.3.1-1.10.8");
    assert_eq!(reply.high_availability().expect("boolean"), Some(true));
    let user_only: DescribeReply = reads(
        r#"{"package": {"name": "kubernetes", "version": "1.3.1-1.10.8"}, "upgradesTo": [], "downgradesTo": [],
            "userProvidedOptions": {"kubernetes": {"high_availability": false}}}"#,
    );
    assert_eq!(user_only.high_availability().expect("boolean"), Some(false));
    let text: DescribeReply = reads(
        r#"{"package": {"name": "kubernetes", "version": "1"}, "resolvedOptions": {"kubernetes": {"high_availability": "true"}}}"#,
    );
    assert!(text.high_availability().is_err(), "a string is not a boolean");
}

#[test]
fn the_minimal_scale_up_update_of_section_9_serialises_as_given() {
    let body =
        r#"{"appId":"/kubernetes","options":{"kubernetes":{"high_availability":true}},"replace":false}"#;
    let request: UpdateRequest = reads(body);
    assert!(!request.replace && request.package_version.is_none());
    assert_eq!(serde_json::to_value(&request).expect("serialise"), json(body));
    let reply: super::shapes::cosmos::UpdateReply = reads(
        r#"{"package": {"name": "kubernetes", "version": "1.3.1-1.10.8"},
            "resolvedOptions": {"kubernetes": {"high_availability": true}}, "marathonDeploymentId": "d-1"}"#,
    );
    assert_eq!(reply.marathon_deployment_id, "d-1");
    let error: super::shapes::cosmos::CosmosError =
        reads(r#"{"type": "MarathonAppNotFound", "message": "Service /kubernetes not found"}"#);
    assert_eq!(error.kind, "MarathonAppNotFound");
}

// §4 Mesos

#[test]
fn the_agent_and_task_of_section_4_1_parse() {
    let agent: super::shapes::mesos::Agent = reads(include_str!("fixtures/mesos-agent.json"));
    assert!(agent.active);
    assert_eq!(agent.resources.get("ports"), Some(&ResourceValue::Text("[1025-2180, 2182-3887]".into())));
    assert_eq!(agent.resources.get("cpus"), Some(&ResourceValue::Scalar(4.0)));
    let task: super::shapes::mesos::Task = reads(include_str!("fixtures/mesos-task.json"));
    assert_eq!(task.slave_id, agent.id);
    assert_eq!(task.state, MesosTaskState::Running);
    assert_eq!(task.statuses[0].healthy, Some(true));
}

#[test]
fn the_master_state_built_from_them_parses_and_finds_the_task() {
    let state: MasterState = reads(include_str!("fixtures/constructed-mesos-master-state.json"));
    let (task, list) =
        state.task("kubernetes__etcd-1-peer__5c0dbe4e-5a2f-4c3f-9bd5-0e4a4b5a9c11").expect("task");
    assert_eq!(list, TaskList::Tasks);
    assert_eq!(state.agent(&task.slave_id).map(|a| a.hostname.as_str()), Some("10.0.5.79"));
    assert_eq!(state.unreachable_slaves, Some(0.0), "a count, not a list");
    let without_slaves = r#"{"frameworks": []}"#;
    assert!(
        parse::<MasterState>("state", without_slaves).is_err(),
        "no `slaves` must not read as all agents lost"
    );
    let slaves: AgentsReply = reads(r#"{"slaves": [], "recovered_slaves": [{"id": "S9", "hostname": "h"}]}"#);
    assert_eq!(slaves.recovered_slaves[0].id, "S9");
    let tasks: TasksReply = reads(&format!(r#"{{"tasks": [{}]}}"#, include_str!("fixtures/mesos-task.json")));
    assert_eq!(tasks.tasks.len(), 1);
}

#[test]
fn the_v1_operator_bodies_parse() {
    let tasks: OperatorReply = reads(include_str!("fixtures/mesos-v1-get-tasks.json"));
    let OperatorReply::GetTasks { get_tasks } = tasks else { panic!("GET_TASKS") };
    let task = &get_tasks.tasks[0];
    assert_eq!(
        task.agent_id.as_ref().map(|a| a.value.as_str()),
        Some("d4bd102f-e25f-46dc-bb5d-8b10bca133d8-S0")
    );
    assert_eq!(task.statuses[0].source.as_deref(), Some("SOURCE_EXECUTOR"));
    let agents: OperatorReply = reads(include_str!("fixtures/constructed-mesos-v1-get-agents.json"));
    let OperatorReply::GetAgents { get_agents } = agents else { panic!("GET_AGENTS") };
    assert!(get_agents.agents[0].active);
    assert_eq!(get_agents.recovered_agents[0].hostname, "10.0.5.80");
    let call = serde_json::to_value(OperatorCall::GetTasks).expect("serialise");
    assert_eq!(call, json(r#"{"type": "GET_TASKS"}"#));
    assert!(parse::<OperatorReply>("v1", r#"{"type": "GET_STATE", "get_state": {}}"#).is_err());
    // The controller must not mark agents gone: no type, the body is only checked to be JSON.
    json(r#"{"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "<id>"}}}"#);
}

#[test]
fn the_package_line_and_its_member_count_come_from_the_describe_reply() {
    use super::shapes::cosmos::{Package, PackageLine};
    let line =
        |name: &str, version: &str| Package { name: name.to_owned(), version: version.to_owned() }.line();
    assert_eq!(line("kubernetes", "1.3.1-1.10.8"), Some(PackageLine::One));
    assert_eq!(line("beta-kubernetes", "2.0.0-1.12.1-beta"), Some(PackageLine::Two { minor: 0 }));
    assert_eq!(line("kubernetes-cluster", "2.4.0-1.15.4"), Some(PackageLine::Two { minor: 4 }));
    assert_eq!(line("kubernetes-cluster", "garbage"), None);
    assert_eq!(line("kafka", "2.4.0-2.3.0"), None, "another package");
    let max = |name: &str, version: &str| line(name, version).map(PackageLine::max_members);
    assert_eq!(max("kubernetes", "1.3.1-1.10.8"), Some(3));
    assert_eq!(max("kubernetes-cluster", "2.3.3-1.14.6"), Some(3));
    assert_eq!(max("kubernetes-cluster", "2.8.0-1.19.2"), Some(5));
}
