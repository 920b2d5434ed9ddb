//! A fake DC/OS on loopback for the DC/OS platform's tests: Admin Router, the IAM,
//! Cosmos, the Mesos master state and the SDK scheduler of one DC/OS Kubernetes
//! service, whose `etcd-N` pods are real etcd processes with client and peer TLS.
//! Built from `shared/reference/dcos-api.md` (§9 wins where it disagrees).
//!
//! A plain `#[test]` starts it with [`FakeDcos::start`] and drives it: the fake runs
//! its HTTP server on its own multi-thread tokio runtime and the SDK's behaviour on a
//! scheduler thread; the test polls with deadlines. Dropping it (also when the test
//! fails) kills every process it started, by pid, then any left under its directory.
//!
//! Choices where the reference is silent: member names `etcd-N`, peer port = client
//! port + 1, ports stable across relaunches and replacements (like the package's DNS
//! names); the permanent recovery's phase is `permanent-node-failure-recovery` with
//! steps `etcd-N:[recover]`, `etcd-N:[peer]` (§9.2); a lost agent's task is `LOST` in
//! `completed_tasks` and the agent counts in `unreachable_slaves`; Cosmos answers a
//! wrong media type with a 400 like its other errors.

mod certs;
mod commands;
mod cosmos;
mod etcd;
mod http;
mod iam;
mod pods;
mod render;
mod sdk;
mod world;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_warden::manifest::desired::{DcosCredentials, DcosSpec};
use jsonwebtoken::{DecodingKey, EncodingKey};

pub use certs::TlsFiles;
#[allow(unused_imports)]
pub use pods::PeerForm;
use world::{World, lock};

/// How the fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// How many etcd pods (1 or 3).
    pub pods: u8,
    /// The service name, folders allowed, without the leading slash.
    pub service: String,
    /// How long the SDK waits before relaunching a crashed task in place.
    pub relaunch_delay: Duration,
    /// How long the package's `recover` task runs before it acts.
    pub recover_delay: Duration,
    /// How long a pod the deploy plan rolls stays down before its relaunch.
    pub roll_delay: Duration,
    /// How long an authentication token lives.
    pub token_life: Duration,
    /// How the pods advertise their peer URLs.
    pub peer_form: pods::PeerForm,
    /// The installed package: name and version (Cosmos describe). The 1.x line by
    /// default; `kubernetes-cluster` 2.x makes Cosmos forward to the MKE service.
    pub package: (&'static str, &'static str),
    /// How long the Marathon deployment of a Cosmos update runs (the scheduler
    /// restarting with its new options) before the deploy plan starts.
    pub marathon_deploy: Duration,
}

/// The 1.x line of the seed's era.
pub const PACKAGE_1X: (&str, &str) = ("kubernetes", "1.3.1-1.10.8");
/// A 2.x release with `etcd.5_etcd_nodes`.
pub const PACKAGE_2_4: (&str, &str) = ("kubernetes-cluster", "2.4.0-1.15.4");

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            pods: 3,
            service: "prod/kubernetes".to_owned(),
            relaunch_delay: Duration::from_secs(2),
            recover_delay: Duration::from_secs(1),
            roll_delay: Duration::from_secs(3),
            token_life: iam::DEFAULT_TOKEN_LIFE,
            peer_form: pods::PeerForm::default(),
            package: PACKAGE_1X,
            marathon_deploy: Duration::from_secs(1),
        }
    }
}

/// A failure of Admin Router for a while, for every route (the IAM's too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This status with an HTML page (502, 503, 504).
    Status(u16),
    /// 200 with JSON cut short.
    Garbage,
    /// The SDK's 404 for this pod's status (`etcd-N`), every other route served: a
    /// scheduler that lost track of one pod for a while.
    PodStatusNotFound(u8),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The service account the IAM knows.
pub const ACCOUNT_UID: &str = "etcd-warden";
/// The user the IAM knows, and the password.
pub const USER: (&str, &str) = ("alice", "correct horse battery staple");

/// A running fake DC/OS. Dropping it kills everything it started.
pub struct FakeDcos {
    dir: tempfile::TempDir,
    url: String,
    service: String,
    shared: Arc<http::Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    scheduler: Option<std::thread::JoinHandle<()>>,
}

impl FakeDcos {
    /// Generates the keys, launches the pods and serves; returns once every member is
    /// healthy over TLS.
    pub fn start(options: FakeOptions) -> Self {
        let dir = tempfile::Builder::new().prefix("etcd-warden-test-dcos").tempdir().expect("temp dir");
        let service = options.service.trim_matches('/').to_owned();
        let tls = certs::write_tls(&dir.path().join("tls"), &service);
        let account = certs::rsa_keys();
        let signing = certs::rsa_keys();
        write_credentials(dir.path(), &account.private_pem);
        let names = (options.peer_form == pods::PeerForm::Overlay)
            .then(|| super::names::Names::new(&dir.path().join("names")));
        let mut world = World {
            service: service.clone(),
            framework_id: "4f6be22e-f057-4226-9c40-190496ea9218-0001".to_owned(),
            dir: dir.path().to_owned(),
            tls,
            foreign_tls: None,
            names,
            agents: Vec::new(),
            spare_agent: None,
            pods: Vec::new(),
            slot_ports: slot_ports(options.peer_form),
            completed: Vec::new(),
            unreachable_agents: 0,
            deploy: commands::deployed(options.pods),
            recovery: world::Plan::default(),
            options: serde_json::json!({"kubernetes": {"high_availability": options.pods > 1}}),
            package: options.package,
            requests: Vec::new(),
            fault: None,
            cosmos_forbidden_until: None,
            tokens: HashMap::new(),
            tokens_valid_from: 0,
            next_serial: 0,
            relaunch_delay: options.relaunch_delay,
            recover_delay: options.recover_delay,
            roll_delay: options.roll_delay,
            recover_fails: None,
            lose_next_replace_answer: None,
            lose_next_update_answer: None,
            marathon_deployment: None,
            marathon_deploy: options.marathon_deploy,
            failures: Vec::new(),
            token_life: options.token_life,
        };
        let ports: Vec<u16> = world.slot_ports[..usize::from(options.pods)].to_vec();
        let cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("etcd-{i}={}", options.peer_form.url(i as u8, *p, &service)))
            .collect();
        for (index, port) in (0..options.pods).zip(ports) {
            let agent = world.new_agent();
            let cluster = (cluster.join(","), options.peer_form);
            world.pods.push(world::Pod::new(index, port, &agent, cluster, "new"));
        }
        let keys = iam::Keys {
            signing: EncodingKey::from_rsa_pem(signing.private_pem.as_bytes()).expect("the IAM's key"),
            account: DecodingKey::from_rsa_pem(account.public_pem.as_bytes()).expect("the account's key"),
            account_uid: ACCOUNT_UID.to_owned(),
            user: USER.0.to_owned(),
            password: USER.1.to_owned(),
        };
        let shared = Arc::new(http::Shared { world: Mutex::new(world), iam: keys });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the fake's runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake's port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("the fake's address"));
        let app = http::router(shared.clone(), &service);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            axum::serve(listener, app).await.expect("serve the fake DC/OS");
        });
        let stop = Arc::new(AtomicBool::new(false));
        let scheduler = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || sdk::run(&shared.world, &stop))
        };
        let fake =
            Self { dir, url, service, shared, runtime: Some(runtime), stop, scheduler: Some(scheduler) };
        // Launched once the fake exists, so that a failed start still kills them.
        for index in 0..options.pods {
            sdk::launch(&mut lock(&fake.shared.world), index);
        }
        fake.wait_healthy(Duration::from_secs(60));
        fake
    }

    /// The cluster URL (`http://127.0.0.1:<port>`), without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The service name without its leading slash.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The fake's directory (agents, TLS files, credentials, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The client TLS files (`ca-crt.pem`, `etcd-crt.pem`, `etcd-key.pem`).
    pub fn tls_files(&self) -> TlsFiles {
        lock(&self.shared.world).tls.clone()
    }

    /// The service account secret file (`{"scheme", "uid", "private_key", "login_endpoint"}`).
    pub fn service_account_secret(&self) -> PathBuf {
        self.dir.path().join("service-account.json")
    }

    /// DC/OS settings as a manifest gives them, logging in with the service account.
    pub fn dcos_spec(&self) -> DcosSpec {
        let secret_file = self.service_account_secret();
        DcosSpec {
            url: self.url.clone(),
            service: format!("/{}", self.service),
            ca_file: None,
            credentials: DcosCredentials::ServiceAccount { secret_file },
        }
    }

    /// DC/OS settings logging in with [`USER`]'s password.
    pub fn password_spec(&self) -> DcosSpec {
        let password_file = self.dir.path().join("password");
        DcosSpec {
            credentials: DcosCredentials::Password { uid: USER.0.to_owned(), password_file },
            ..self.dcos_spec()
        }
    }

    /// A manifest for this service: the service account, the TLS files, the members'
    /// endpoints (three slots, or as many as the pods), then `extra` (YAML lines
    /// indented under `spec`, e.g. a `recovery:` section).
    pub fn manifest(&self, name: &str, extra: &str) -> String {
        let ha = lock(&self.shared.world).pods.len() > 1;
        self.manifest_ha(name, ha, extra)
    }

    /// [`FakeDcos::manifest`] asking for high availability on or off, whatever runs.
    pub fn manifest_ha(&self, name: &str, ha: bool, extra: &str) -> String {
        self.manifest_members(name, if ha { 3 } else { 1 }, extra)
    }

    /// A manifest for `members` members (1, 3 or 5), whatever runs.
    pub fn manifest_members(&self, name: &str, members: usize, extra: &str) -> String {
        let ha = members > 1;
        let w = lock(&self.shared.world);
        let form = w.pods.first().map(|p| p.peer_form).unwrap_or_default();
        // The overlay form names its pods as the package does: the default template,
        // on the fake's client port.
        let endpoints: String = if form == pods::PeerForm::Overlay {
            format!(
                "      \"https://{{pod}}-peer.{{service}}.autoip.dcos.thisdcos.directory:{}\"\n",
                w.slot_ports[0]
            )
        } else {
            w.slot_ports
                .iter()
                .take(members)
                .enumerate()
                .map(|(i, port)| format!("      etcd-{i}: \"https://{}:{port}\"\n", form.address(i as u8)))
                .collect()
        };
        let tls = &w.tls;
        format!(
            "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  highAvailability: {ha}\n  members: {members}\n  platform:\n    dcos:\n      url: {url}\n      service: /{service}\n      credentials:\n        serviceAccountSecretFile: {secret}\n  etcd:\n    tls: {{ caFile: {ca}, certFile: {cert}, keyFile: {key} }}\n    metricsPort: {metrics}\n    endpoints:\n{endpoints}{extra}",
            url = self.url,
            service = self.service,
            secret = self.service_account_secret().display(),
            ca = tls.ca.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
            // One metrics port for every pod where each has an address of its own;
            // elsewhere the pods share loopback, and no one port names them all.
            metrics = if form.shares_ports() { pods::metrics_port(w.slot_ports[0]) } else { 0 },
        )
    }

    /// Where the overlay form's autoip names resolve: start the daemon with
    /// [`Harness::start_resolving`](super::Harness::start_resolving). `None` in the other
    /// forms, whose pods are named by address.
    pub fn names(&self) -> Option<super::names::Names> {
        lock(&self.shared.world).names.clone()
    }

    /// Every pod's client URL, in pod order (running or not).
    pub fn endpoints(&self) -> Vec<String> {
        lock(&self.shared.world).pods.iter().map(world::Pod::client_url).collect()
    }

    /// One pod's client URL.
    pub fn endpoint(&self, pod: &str) -> String {
        lock(&self.shared.world).pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).client_url()
    }

    /// The pid of the pod's etcd, while it runs.
    pub fn pid(&self, pod: &str) -> Option<u32> {
        lock(&self.shared.world).pod(pod).and_then(|p| p.process.as_ref().map(std::process::Child::id))
    }

    /// How many times the pod's etcd was launched (the first launch included).
    pub fn launches(&self, pod: &str) -> u32 {
        lock(&self.shared.world).pod(pod).map_or(0, |p| p.launches)
    }

    /// The Mesos agent ID the pod is placed on.
    pub fn agent_of(&self, pod: &str) -> String {
        lock(&self.shared.world).pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).agent.clone()
    }

    /// The pod's data directory on its agent.
    pub fn data_dir(&self, pod: &str) -> PathBuf {
        let w = lock(&self.shared.world);
        w.data_dir(w.pod(pod).unwrap_or_else(|| panic!("no pod {pod}")).index)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.world).requests.clone()
    }

    /// How many requests had this method and a path (query excluded) ending with `suffix`.
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        let w = lock(&self.shared.world);
        w.requests
            .iter()
            .filter(|r| r.method == method && r.path.split('?').next().unwrap_or_default().ends_with(suffix))
            .count()
    }

    /// Starts a deploy plan that rolls every etcd pod in place, one at a time (an
    /// update that changes the etcd tasks).
    pub fn roll(&self) {
        commands::roll(&mut lock(&self.shared.world));
    }

    /// Whether the deploy plan is complete.
    pub fn deployed(&self) -> bool {
        let w = lock(&self.shared.world);
        w.deploy.phases.iter().flat_map(|p| &p.steps).all(|s| s.status == world::StepStatus::Complete)
    }

    /// Loses the answer to the next `pod replace` (Admin Router's 504), the scheduler
    /// having acted on it (`acted`) or not.
    pub fn lose_next_replace_answer(&self, acted: bool) {
        lock(&self.shared.world).lose_next_replace_answer = Some(acted);
    }

    /// Loses the answer to the next Cosmos update (Admin Router's 504), Cosmos having
    /// acted on it (`acted`: a Marathon deployment starts) or not.
    pub fn lose_next_update_answer(&self, acted: bool) {
        lock(&self.shared.world).lose_next_update_answer = Some(acted);
    }

    /// Makes every run of the package's `recover` task fail with `why` (`None`: it
    /// works again).
    pub fn fail_recover(&self, why: Option<&str>) {
        lock(&self.shared.world).recover_fails = why.map(str::to_owned);
    }

    /// Each failure of a plan step's task so far (`etcd-0:[recover]: ...`).
    pub fn step_failures(&self) -> Vec<String> {
        lock(&self.shared.world).failures.clone()
    }

    /// SIGKILLs the pod's etcd: the task shows `FAILED` and the SDK relaunches it in
    /// place after the relaunch delay (unless held).
    pub fn crash(&self, pod: &str) {
        commands::crash(&mut lock(&self.shared.world), pod);
    }

    /// The pod's client port serves another CA's certificate from now on (relaunched by
    /// the SDK after a crash): etcd runs in its cluster, the controller's TLS fails.
    pub fn foreign_client_certificate(&self, pod: &str) {
        commands::foreign_client_certificate(&mut lock(&self.shared.world), pod);
    }

    /// Loses the pod's agent: process killed, agent directory deleted, agent gone from
    /// `slaves`, task `LOST`.
    pub fn lose_agent(&self, pod: &str) {
        commands::lose_agent(&mut lock(&self.shared.world), pod);
    }

    /// Mesos loses sight of the pod's agent while its etcd keeps serving.
    pub fn drop_from_mesos(&self, pod: &str) {
        commands::drop_from_mesos(&mut lock(&self.shared.world), pod);
    }

    /// The pod's agent is seen again with the same ID.
    pub fn back_in_mesos(&self, pod: &str) {
        commands::back_in_mesos(&mut lock(&self.shared.world), pod);
    }

    /// An operator's `pod pause`: the pod's etcd stops, its task shows `PAUSED`.
    pub fn pause(&self, pod: &str) {
        commands::pause(&mut lock(&self.shared.world), pod);
    }

    /// `pod resume`: relaunched in place on its data.
    pub fn resume(&self, pod: &str) {
        commands::resume(&mut lock(&self.shared.world), pod);
    }

    /// Holds (or releases) the SDK's automatic relaunch of the pod; `POST restart`
    /// relaunches it anyway.
    pub fn hold_restarts(&self, pod: &str, hold: bool) {
        lock(&self.shared.world).pod_mut(pod).unwrap_or_else(|| panic!("no pod {pod}")).hold_restarts = hold;
    }

    /// Makes pod status and info show the pod's peer as a stub (`"id": ""`, no status),
    /// whatever runs.
    pub fn stub_peer(&self, pod: &str, stub: bool) {
        lock(&self.shared.world).pod_mut(pod).unwrap_or_else(|| panic!("no pod {pod}")).show_stub_peer = stub;
    }

    /// Admin Router answers `fault` to every request for `how_long`.
    pub fn fail_for(&self, how_long: Duration, fault: Fault) {
        lock(&self.shared.world).fault = Some((Instant::now() + how_long, fault));
    }

    /// Admin Router answers 403 to every Cosmos update for `how_long`.
    pub fn forbid_cosmos_updates_for(&self, how_long: Duration) {
        lock(&self.shared.world).cosmos_forbidden_until = Some(Instant::now() + how_long);
    }

    /// Every token issued so far stops being accepted.
    pub fn expire_tokens(&self) {
        let mut w = lock(&self.shared.world);
        w.tokens_valid_from = w.next_serial;
    }

    /// Tokens issued from now on live this long.
    pub fn set_token_life(&self, life: Duration) {
        lock(&self.shared.world).token_life = life;
    }

    /// Runs a future on the fake's runtime (for the async DC/OS client).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().expect("the fake's runtime").block_on(future)
    }
}

/// The service account secret and the password file.
/// The client port of each slot (etcd-0 .. etcd-4): one port of its own each, or one
/// for all when every pod has an address of its own (the overlay form).
fn slot_ports(form: pods::PeerForm) -> Vec<u16> {
    if form.shares_ports() {
        vec![pods::free_port_pair(); 5]
    } else {
        (0..5).map(|_| pods::free_port_pair()).collect()
    }
}

fn write_credentials(dir: &Path, private_pem: &str) {
    let secret = serde_json::json!({
        "scheme": "RS256",
        "uid": ACCOUNT_UID,
        "private_key": private_pem,
        "login_endpoint": "https://master.mesos/acs/api/v1/auth/login",
    });
    std::fs::write(dir.join("service-account.json"), secret.to_string()).expect("write the secret");
    std::fs::write(dir.join("password"), format!("{}\n", USER.1)).expect("write the password");
}

impl Drop for FakeDcos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(scheduler) = self.scheduler.take() {
            let _ = scheduler.join();
        }
        for pod in &mut lock(&self.shared.world).pods {
            if let Some(mut child) = pod.process.take() {
                pods::kill(&mut child);
            }
        }
        super::kill_processes_under(self.dir.path());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A manifest's `backup` section (YAML lines under `spec`) writing to `dir`, with a
/// schedule that never comes due in a test: backups are taken on demand.
pub fn backup_section(dir: &Path) -> String {
    format!(
        "  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n",
        dir.display()
    )
}
