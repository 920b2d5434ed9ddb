//! The DC/OS client's plans and Cosmos requests against the loopback fake of
//! `tests_client.rs`: method, path, headers and body of each request, the plan
//! replies (200, 202, 417, the SDK's 404), Cosmos's errors, reads retried and the
//! update sent once.

use super::client::DcosError;
use super::shapes::cosmos::{DESCRIBE_REQUEST, DESCRIBE_RESPONSE, UPDATE_REQUEST, UPDATE_RESPONSE};
use super::shapes::plans::{PlanList, PlanReply, PlanStatus, RecoveryType};
use super::tests_client::{Seen, bench, jwt};

const RECOVERY: &str = include_str!("fixtures/sdk-plan-recovery-replace.json");
const DEPLOY: &str = include_str!("fixtures/sdk-plan-kafka-deploy.json");
const DESCRIBE: &str = include_str!("fixtures/constructed-cosmos-describe-reply.json");
/// An update reply with the keys of §9.10 (`package`, `resolvedOptions`, `marathonDeploymentId`).
const UPDATED: &str = r#"{"package":{"name":"kubernetes","version":"1.3.1-1.10.8"},
    "resolvedOptions":{"kubernetes":{"high_availability":true}},
    "marathonDeploymentId":"5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}"#;
/// The minimal scale-up of §9.10, byte for byte.
const UPDATE_BODY: &str =
    r#"{"appId":"/prod/kubernetes","options":{"kubernetes":{"high_availability":true}},"replace":false}"#;

fn get(path: &str, token: &str) -> Seen {
    Seen {
        method: "GET".into(),
        path: path.into(),
        authorization: format!("token={token}"),
        content_type: None,
        // reqwest's default.
        accept: Some("*/*".into()),
        body: String::new(),
    }
}

fn describe(token: &str) -> Seen {
    Seen {
        method: "POST".into(),
        path: "/cosmos/service/describe".into(),
        authorization: format!("token={token}"),
        content_type: Some(DESCRIBE_REQUEST.into()),
        accept: Some(DESCRIBE_RESPONSE.into()),
        body: r#"{"appId":"/prod/kubernetes"}"#.into(),
    }
}

fn update(token: &str) -> Seen {
    Seen {
        method: "POST".into(),
        path: "/cosmos/service/update".into(),
        authorization: format!("token={token}"),
        content_type: Some(UPDATE_REQUEST.into()),
        accept: Some(UPDATE_RESPONSE.into()),
        body: UPDATE_BODY.into(),
    }
}

#[tokio::test]
async fn plans_are_read_with_every_status_that_carries_a_plan() {
    let b = bench().await;
    let errors = DEPLOY.replacen(r#""errors": []"#, r#""errors": ["bad parameter"]"#, 1);
    assert_ne!(errors, DEPLOY, "the fixture has an empty errors list to fill");
    b.answer(vec![
        (200, "application/json", r#"["deploy","recovery","replace"]"#.to_owned()),
        (202, "application/json", RECOVERY.to_owned()),
        (417, "application/json", errors),
        (200, "application/json", DEPLOY.to_owned()),
        (404, "text/plain", "Plan backup not found".to_owned()),
    ]);
    let list = b.client.plans().await.expect("plan list");
    assert_eq!(list, PlanList(vec!["deploy".into(), "recovery".into(), "replace".into()]));

    let PlanReply::Incomplete(recovery) = b.client.plan("recovery").await.expect("202") else {
        panic!("a 202 is a plan that is not complete");
    };
    let step = &recovery.phases[0].steps[0];
    assert_eq!(step.target(), Some(("etcd-1", vec!["peer"])));
    assert_eq!(step.recovery_type(), Some(RecoveryType::Permanent));
    let PlanReply::Errors(failed) = b.client.plan("deploy").await.expect("417") else {
        panic!("a 417 is a plan with errors");
    };
    assert_eq!(failed.errors, ["bad parameter"]);
    let complete = b.client.plan("deploy").await.expect("200");
    assert!(
        matches!(complete, PlanReply::Complete(ref p) if p.status == PlanStatus::InProgress),
        "{complete:?}"
    );
    let missing = b.client.plan("backup").await.expect("the SDK's own 404");
    assert!(matches!(missing, PlanReply::NotFound(ref n) if n.name == "backup"), "{missing:?}");

    let t = &b.token;
    assert_eq!(
        b.requests(),
        [
            get("/service/prod/kubernetes/v1/plans", t),
            get("/service/prod/kubernetes/v1/plans/recovery", t),
            get("/service/prod/kubernetes/v1/plans/deploy", t),
            get("/service/prod/kubernetes/v1/plans/deploy", t),
            get("/service/prod/kubernetes/v1/plans/backup", t),
        ]
    );
}

#[tokio::test]
async fn a_plan_is_retried_through_admin_router_errors_but_not_through_an_unexpected_status() {
    let b = bench().await;
    b.answer(vec![
        (503, "text/html", "<html>Service Unavailable</html>".to_owned()),
        (404, "text/html", "<html>404 Not Found</html>".to_owned()),
        (202, "application/json", RECOVERY.to_owned()),
        // A 208 belongs to plan commands (§2), never to reading a plan.
        (208, "text/plain", "Command has already been reported or completed".to_owned()),
    ]);
    assert!(matches!(b.client.plan("recovery").await.expect("in the end"), PlanReply::Incomplete(_)));
    assert_eq!(b.seen().len(), 3, "two Admin Router errors, then the plan");
    let error = b.client.plan("recovery").await.expect_err("208 is not a plan reply");
    assert!(error.to_string().contains("208"), "{error}");
    assert_eq!(b.seen().len(), 4, "an answer of the scheduler is not retried");
}

#[tokio::test]
async fn describe_posts_the_app_id_with_cosmos_media_types_and_is_retried_through_a_502() {
    let b = bench().await;
    b.answer(vec![
        (502, "text/html", "<html>Bad Gateway</html>".to_owned()),
        (200, DESCRIBE_RESPONSE, DESCRIBE.to_owned()),
    ]);
    let reply = b.client.describe().await.expect("described");
    assert_eq!(reply.package.version, "1.3.1-1.10.8");
    assert_eq!(reply.high_availability().expect("a boolean"), Some(true));
    assert_eq!(b.requests(), [describe(&b.token), describe(&b.token)], "the 502, then the answer");
}

#[tokio::test]
async fn a_cosmos_error_is_reported_with_its_type_and_message() {
    let b = bench().await;
    let not_found = r#"{"type":"MarathonAppNotFound","message":"Unable to locate service with marathon appId: '/prod/kubernetes'","data":{"appId":"/prod/kubernetes"}}"#;
    let not_stored =
        r#"{"type":"OptionsNotStored","message":"The options of this service were not stored","data":{}}"#;
    b.answer(vec![
        (400, "application/json", not_found.to_owned()),
        (400, "application/json", not_stored.to_owned()),
    ]);
    let error = b.client.describe().await.expect_err("400");
    assert!(
        matches!(error, DcosError::Cosmos { status: 400, ref kind, .. } if kind == "MarathonAppNotFound"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("MarathonAppNotFound") && message.contains("Unable to locate service"),
        "{message}"
    );
    let error = b.client.update_high_availability().await.expect_err("400");
    assert!(matches!(error, DcosError::Cosmos { ref kind, .. } if kind == "OptionsNotStored"), "{error:?}");
    assert!(error.certainly_not_made(), "Cosmos refused it: {error}");
    assert_eq!(b.requests(), [describe(&b.token), update(&b.token)], "a refusal is not retried");
}

#[tokio::test]
async fn the_update_sends_exactly_the_high_availability_merge_once() {
    let b = bench().await;
    b.answer(vec![(200, UPDATE_RESPONSE, UPDATED.to_owned())]);
    let reply = b.client.update_high_availability().await.expect("updated");
    assert_eq!(reply.marathon_deployment_id, "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43");
    assert_eq!(b.requests(), [update(&b.token)]);
}

#[tokio::test]
async fn the_update_is_sent_once_through_a_503_and_a_504_and_says_whether_it_was_made() {
    let b = bench().await;
    b.answer(vec![(503, "text/html", "<html>Service Unavailable</html>".to_owned())]);
    let error = b.client.update_high_availability().await.expect_err("503");
    assert!(error.certainly_not_made(), "Admin Router could not reach Cosmos: {error}");
    assert_eq!(b.requests().len(), 1, "a command is not retried");
    b.answer(vec![(504, "text/html", "<html>Gateway Timeout</html>".to_owned())]);
    let error = b.client.update_high_availability().await.expect_err("504");
    assert!(!error.certainly_not_made(), "a 504 may have reached Cosmos: {error}");
    assert_eq!(b.requests(), [update(&b.token), update(&b.token)], "one request per call");
}

#[tokio::test]
async fn the_update_refused_with_admin_routers_401_is_sent_again_with_a_new_token() {
    let b = bench().await;
    let rotated = jwt("etcd-warden-rotated");
    b.refuse_token(&rotated);
    b.answer(vec![(200, UPDATE_RESPONSE, UPDATED.to_owned())]);
    b.client.update_high_availability().await.expect("updated with the new token");
    assert_eq!(b.requests(), [update(&b.token), update(&rotated)]);
}

#[tokio::test]
async fn admin_routers_403_names_the_missing_permission_and_is_not_retried() {
    let b = bench().await;
    b.answer(vec![(403, "text/html", "<html>403 Forbidden</html>".to_owned())]);
    let error = b.client.describe().await.expect_err("403");
    assert!(matches!(error, DcosError::Forbidden { .. }), "{error:?}");
    let text = error.to_string();
    for needed in ["dcos:adminrouter:package full", "dcos:service:marathon:marathon:services:/", " read "] {
        assert!(text.contains(needed), "{needed:?} missing from: {text}");
    }
    assert_eq!(b.requests(), [describe(&b.token)], "a refusal is not retried");
}

#[test]
fn each_call_names_the_permissions_it_needs() {
    use super::client::permissions_for;
    let cases = [
        ("https://m/service/prod/k8s/v1/pod/etcd-0/status", "dcos:adminrouter:service:prod/k8s full"),
        ("https://m/service/prod/k8s/v1/pod/etcd-0/replace", "dcos:adminrouter:service:prod/k8s full"),
        ("https://m/mesos/master/state", "dcos:adminrouter:ops:mesos full"),
        ("https://m/cosmos/service/describe", "dcos:service:marathon:marathon:services:/prod/k8s read"),
        ("https://m/cosmos/service/update", "dcos:service:marathon:marathon:services:/prod/k8s update"),
        ("https://m/service/marathon/v2/deployments", "dcos:adminrouter:service:marathon full"),
        ("https://m/agent/a1-S2/files/read?path=%2Fx&offset=-1&length=0", "dcos:adminrouter:ops:slave full"),
        (
            "https://m/service/marathon/v2/deployments",
            "dcos:service:marathon:marathon:services:/prod/k8s read",
        ),
    ];
    for (url, needed) in cases {
        let needs = permissions_for(url, "prod/k8s");
        assert!(needs.contains(needed), "{url}: {needs}");
    }
    assert!(
        permissions_for("https://m/cosmos/service/update", "k").contains("dcos:adminrouter:package full")
    );
    assert!(!permissions_for("https://m/mesos/master/state", "k").contains("marathon"));
}

/// Marathon's running deployments (its REST API's shape, extra keys ignored): the one
/// that changes the service's app is found; another app's is not the service's.
#[tokio::test]
async fn marathon_deployments_are_read_and_the_services_own_is_found() {
    use super::shapes::marathon::of_app;
    let b = bench().await;
    let running = r#"[{"id":"97c136bf-5a28-4821-9d94-480d9fbb01c8","version":"2026-12-07T05:00:00.000Z",
        "affectedApps":["/prod/kubernetes"],"affectedPods":[],
        "steps":[{"actions":[{"action":"RestartApplication","app":"/prod/kubernetes"}]}],
        "currentActions":[{"action":"RestartApplication","app":"/prod/kubernetes","readinessCheckResults":[]}],
        "currentStep":1,"totalSteps":1},
        {"id":"5ed4c0c5","affectedApps":["/prod/kubernetes-other"]}]"#;
    b.answer(vec![(200, "application/json", running.to_owned())]);
    let deployments = b.client.marathon_deployments().await.expect("read");
    assert_eq!(b.requests(), [get("/service/marathon/v2/deployments", &b.token)]);
    let ours = of_app(&deployments, &b.client.app_id()).expect("the service's deployment");
    assert_eq!(ours.describe(), "Marathon deployment 97c136bf-5a28-4821-9d94-480d9fbb01c8 (step 1 of 1)");
    assert!(of_app(&deployments[1..], "/prod/kubernetes").is_none(), "another app's deployment");
    b.answer(vec![(200, "application/json", "[]".to_owned())]);
    assert!(b.client.marathon_deployments().await.expect("read").is_empty());
}

/// A pod task's stderr is read by the virtual path of its executor's latest run and
/// the default executor's `tasks/<task ID>` link, its length asked first (`offset=-1`).
#[tokio::test]
async fn a_sandbox_file_is_read_by_its_virtual_path_and_its_length_first() {
    use super::shapes::files::task_stderr;
    let b = bench().await;
    let path = task_stderr("fw-1", "prod.kubernetes__etcd__exec", "prod.kubernetes__etcd-0-peer__u1");
    assert_eq!(
        path,
        "/frameworks/fw-1/executors/prod.kubernetes__etcd__exec/runs/latest/tasks/prod.kubernetes__etcd-0-peer__u1/stderr"
    );
    b.answer(vec![
        (200, "application/json", r#"{"data":"","offset":70000}"#.to_owned()),
        (200, "application/json", r#"{"data":"ne cut\nfatal: wal crc mismatch\n","offset":4464}"#.to_owned()),
    ]);
    let length = b.client.read_file("agent-1", &path, -1, 0).await.expect("length");
    assert_eq!(length.offset, 70_000);
    let chunk = b.client.read_file("agent-1", &path, 4464, 65_536).await.expect("chunk");
    assert_eq!(chunk.data, "ne cut\nfatal: wal crc mismatch\n");
    let encoded = "path=%2Fframeworks%2Ffw-1%2Fexecutors%2Fprod.kubernetes__etcd__exec%2Fruns%2Flatest%2Ftasks%2Fprod.kubernetes__etcd-0-peer__u1%2Fstderr";
    assert_eq!(
        b.requests(),
        [
            get(&format!("/agent/agent-1/files/read?{encoded}&offset=-1&length=0"), &b.token),
            get(&format!("/agent/agent-1/files/read?{encoded}&offset=4464&length=65536"), &b.token),
        ]
    );
}
