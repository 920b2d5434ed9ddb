//! Target `dcos`: DC/OS reply bodies into the shapes (`shapes::parse`, the
//! `from_http` classifiers of the SDK, plan and health replies) and a whole view into
//! an observation (`DcosView::observation`). Seeds: the reference bodies in
//! `src/platform/dcos/fixtures/`, structurally mutated and sometimes damaged as text.
//!
//! Invariants: no panic; a refused body is one `ShapeError` or `MappingError` with a
//! message naming the reply.

use std::collections::BTreeMap;

use etcd_warden::domain::PodName;
use etcd_warden::platform::MemberUrls;
use etcd_warden::platform::dcos::mapping::DcosView;
use etcd_warden::platform::dcos::shapes::cosmos::DescribeReply;
use etcd_warden::platform::dcos::shapes::iam::{IamError, LoginReply, ServiceAccountSecret, TokenClaims};
use etcd_warden::platform::dcos::shapes::mesos::MasterState;
use etcd_warden::platform::dcos::shapes::mesos_v1::OperatorReply;
use etcd_warden::platform::dcos::shapes::plans::{CommandReply, PlanReply};
use etcd_warden::platform::dcos::shapes::pods::{
    PodCommandReply, PodInfo, PodList, PodStatus, ServicePodStatus,
};
use etcd_warden::platform::dcos::shapes::scheduler::{HealthReply, ServiceSpec};
use etcd_warden::platform::dcos::shapes::{SdkReply, ShapeError, parse};
use serde_json::Value;

use super::engine::{Case, Rng, Target, Verdict};
use super::mutate::{mutate_text, mutate_value};

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../../src/platform/dcos/fixtures/", $name)))
    };
}

/// Each reply body, by fixture name.
pub const FIXTURES: &[(&str, &str)] = &[
    fixture!("sdk-pod-list.json"),
    fixture!("sdk-pod-status-etcd-1.json"),
    fixture!("sdk-pod-status-all.json"),
    fixture!("sdk-pod-info-etcd-1.json"),
    fixture!("sdk-pod-replace-etcd-1.json"),
    fixture!("sdk-plan-kafka-deploy.json"),
    fixture!("sdk-plan-recovery-replace.json"),
    fixture!("sdk-config-target.json"),
    fixture!("sdk-health-0.54.json"),
    fixture!("constructed-mesos-master-state.json"),
    fixture!("constructed-mesos-v1-get-agents.json"),
    fixture!("mesos-v1-get-tasks.json"),
    fixture!("constructed-cosmos-describe-reply.json"),
    fixture!("iam-login-reply.json"),
    fixture!("iam-service-account-secret.json"),
];

/// The pseudo-fixture of a whole view: pod statuses, pod infos and the master state.
const VIEW: &str = "view";
const STATUSES: &[u16] = &[200, 200, 200, 202, 208, 400, 404, 404, 417, 500, 0, 599, 65535];

pub struct DcosTarget {
    seeds: Vec<(&'static str, Value)>,
}

impl DcosTarget {
    pub fn new() -> Self {
        let seeds = FIXTURES.iter().filter_map(|(n, t)| Some((*n, serde_json::from_str(t).ok()?))).collect();
        Self { seeds }
    }

    fn seed(&self, name: &str) -> Value {
        self.seeds.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null)
    }
}

impl Target for DcosTarget {
    fn name(&self) -> &'static str {
        "dcos"
    }

    fn generate(&mut self, rng: &mut Rng) -> Case {
        let status = *rng.pick(STATUSES);
        if rng.chance(25) {
            // A whole view: every part a mutation of the reference's bodies.
            let mut view = serde_json::json!([
                self.seed("sdk-pod-status-all.json"),
                { "etcd-1": self.seed("sdk-pod-info-etcd-1.json"), "etcd-0": self.seed("sdk-pod-info-etcd-1.json") },
                self.seed("constructed-mesos-master-state.json"),
            ]);
            mutate_value(rng, &mut view);
            return Case { label: format!("{VIEW} {status}"), data: view.to_string().into_bytes() };
        }
        let (name, seed) = rng.pick(&self.seeds).clone();
        let mut value = seed;
        if rng.chance(85) {
            mutate_value(rng, &mut value);
        }
        let mut data = value.to_string().into_bytes();
        if rng.chance(25) {
            mutate_text(rng, &mut data);
        }
        if rng.chance(3) {
            // The SDK's 404 text, or something like it.
            data = rng
                .pick(&[
                    "Pod etcd-9 not found",
                    "Plan x not found",
                    " not found",
                    "a b c not found",
                    "Pod  not found",
                ])
                .as_bytes()
                .to_vec();
        }
        Case { label: format!("{name} {status}"), data }
    }

    fn check(&mut self, case: &Case) -> Verdict {
        let body = String::from_utf8_lossy(&case.data);
        let (name, status) = case.label.rsplit_once(' ').unwrap_or((&case.label, "200"));
        let status: u16 = status.parse().unwrap_or(200);
        let result = match name {
            VIEW => view(&body),
            "sdk-pod-list.json" => parse::<PodList>("pod list", &body)
                .and_then(|l| l.etcd_pods().map(|_| ()))
                .map_err(|e| e.to_string()),
            "sdk-pod-status-etcd-1.json" => {
                shape(SdkReply::<PodStatus>::from_http("pod status", status, &body))
            }
            "sdk-pod-status-all.json" => shape(parse::<ServicePodStatus>("pod status", &body)),
            "sdk-pod-info-etcd-1.json" => shape(SdkReply::<PodInfo>::from_http("pod info", status, &body)),
            "sdk-pod-replace-etcd-1.json" => {
                shape(SdkReply::<PodCommandReply>::from_http("pod replace", status, &body))
            }
            "sdk-plan-kafka-deploy.json" | "sdk-plan-recovery-replace.json" => {
                PlanReply::from_http(status, &body).map_err(|e| e.to_string()).map(|reply| {
                    for phase in reply.plan().iter().flat_map(|p| &p.phases) {
                        for step in &phase.steps {
                            let _ = (step.target(), step.recovery_type());
                        }
                    }
                    let _ = CommandReply::from_http(status, &body);
                })
            }
            "sdk-config-target.json" => parse::<ServiceSpec>("configuration", &body)
                .map(|s| {
                    let _ = s.etcd_count();
                })
                .map_err(|e| e.to_string()),
            "sdk-health-0.54.json" => shape(HealthReply::from_http(status, &body)),
            "constructed-mesos-master-state.json" => shape(parse::<MasterState>("master state", &body)),
            "constructed-mesos-v1-get-agents.json" | "mesos-v1-get-tasks.json" => {
                shape(parse::<OperatorReply>("operator reply", &body))
            }
            "constructed-cosmos-describe-reply.json" => parse::<DescribeReply>("describe", &body)
                .and_then(|d| d.high_availability().map(|_| ()))
                .map_err(|e| e.to_string()),
            "iam-login-reply.json" => shape(parse::<LoginReply>("login", &body))
                .and_then(|_| shape(parse::<IamError>("login", &body)))
                .and_then(|_| shape(parse::<TokenClaims>("claims", &body))),
            "iam-service-account-secret.json" => shape(parse::<ServiceAccountSecret>("secret", &body)),
            other => return Verdict::Finding(format!("no parser for {other}")),
        };
        match result {
            Ok(()) => Verdict::Accepted,
            Err(message) if message.trim().is_empty() => Verdict::Finding("an empty error".into()),
            Err(message) => Verdict::Rejected(message),
        }
    }
}

fn shape<T>(result: Result<T, ShapeError>) -> Result<(), String> {
    result.map(|_| ()).map_err(|e| e.to_string())
}

fn urls(pod: PodName) -> MemberUrls {
    MemberUrls { client: format!("https://{pod}.example:2379"), peer: format!("https://{pod}.example:2380") }
}

/// A view from `[pod statuses, {pod: info}, master state]`, mapped.
fn view(body: &str) -> Result<(), String> {
    let (all, infos, master): (Value, BTreeMap<String, Value>, Value) =
        serde_json::from_str(body).map_err(|e| format!("view: {e}"))?;
    let all: ServicePodStatus = parse("pod status", &all.to_string()).map_err(|e| e.to_string())?;
    let master: MasterState = parse("master state", &master.to_string()).map_err(|e| e.to_string())?;
    let mut by_pod = BTreeMap::new();
    for (pod, info) in infos {
        let Ok(pod) = pod.parse::<PodName>() else { continue };
        by_pod.insert(pod, parse::<PodInfo>("pod info", &info.to_string()).map_err(|e| e.to_string())?);
    }
    let view = DcosView {
        pods: all.instances().cloned().collect(),
        infos: by_pod,
        master,
        deploy: None,
        recovery: None,
    };
    view.observation(urls).map(|_| ()).map_err(|e| e.to_string())
}
