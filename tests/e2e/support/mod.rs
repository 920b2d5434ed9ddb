//! Test support: a daemon under test on its own port and state directory, real etcd
//! members it starts, and cleanup that kills every process the test started, on drop
//! and on failure.
#![allow(dead_code)]

pub mod dcos;
pub mod lone;
pub mod maintenance;
pub mod names;
pub mod s3;
pub mod tls;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_etcd-warden");

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` until it returns `Some`, or gives `None` after `timeout`.
pub fn wait_for_or_none<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` for `period` and panics with `what` as soon as it fails: a state
/// that must hold for a while (a held relaunch), asserted throughout, not slept over.
pub fn assert_holds(what: &str, period: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert!(check(), "{what} stopped holding before {period:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many passes a state that must hold is watched over, at the least.
pub const HOLD_PASSES: u64 = 5;

/// Polls `check` until `period` has passed *and* the daemon has run [`HOLD_PASSES`]
/// more passes of `cluster`, and panics with `what` as soon as it fails: that the
/// controller does nothing is asserted over its own looks, not only over seconds that a
/// loaded machine may spend elsewhere. The passes must come within a minute.
pub fn assert_holds_over_passes(
    h: &Harness,
    cluster: &str,
    what: &str,
    period: Duration,
    mut check: impl FnMut() -> bool,
) {
    let started = Instant::now();
    let first = passes(h, cluster);
    loop {
        // The count before the check: whatever those passes did is seen by it.
        let done = passes(h, cluster).saturating_sub(first);
        assert!(check(), "{what} stopped holding after {done} passes and {:?}", started.elapsed());
        if done >= HOLD_PASSES && started.elapsed() >= period {
            return;
        }
        assert!(
            started.elapsed() < period + Duration::from_secs(60),
            "{what}: the daemon ran {done} passes of {cluster} in {:?}, not {HOLD_PASSES}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A temporary state directory with a running daemon, killed with all its members on drop.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub port: u16,
    daemon: Option<Child>,
    resync: String,
    /// Where the daemon resolves host names, when the test names them itself.
    names: Option<names::Names>,
    /// The API token the daemon is started with, and the CLI sends.
    token: Option<String>,
}

impl Harness {
    /// A state directory and a daemon on a free port, looking at each cluster every 300 ms.
    pub fn start() -> Self {
        Self::start_with_resync("300ms")
    }

    /// A state directory and a daemon on a free port with this `--resync`.
    pub fn start_with_resync(resync: &str) -> Self {
        Self::launch(resync, None)
    }

    /// [`Harness::start`] with a daemon that resolves host names with `names` only (the
    /// fake DC/OS's autoip names; [`names::Names`]), or as the machine does for `None`.
    pub fn start_resolving(names: Option<names::Names>) -> Self {
        Self::launch("300ms", names)
    }

    /// [`Harness::start`] with a daemon that needs `token` (`ETCD_WARDEN_TOKEN`); the
    /// harness's CLI sends it.
    pub fn start_with_token(token: &str) -> Self {
        Self::launch_with("300ms", None, Some(token.to_owned()))
    }

    fn launch(resync: &str, names: Option<names::Names>) -> Self {
        Self::launch_with(resync, names, None)
    }

    fn launch_with(resync: &str, names: Option<names::Names>, token: Option<String>) -> Self {
        let dir = tempfile::Builder::new().prefix("etcd-warden-test").tempdir().expect("temp dir");
        let mut harness =
            Self { dir, port: free_port(), daemon: None, resync: resync.to_owned(), names, token };
        harness.start_daemon();
        harness
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn server(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the daemon (again) on the same port and state directory.
    pub fn start_daemon(&mut self) {
        self.start_daemon_with(&[]);
    }

    /// Starts the daemon with extra environment variables (e.g. a failpoint).
    pub fn start_daemon_with(&mut self, env: &[(&str, &str)]) {
        self.spawn_daemon(env);
    }

    /// Starts the daemon (again) with another `--resync` than the harness's (a long one
    /// proves that something else woke the worker); later starts keep it.
    pub fn start_daemon_with_resync(&mut self, resync: &str) {
        resync.clone_into(&mut self.resync);
        self.spawn_daemon(&[]);
    }

    fn spawn_daemon(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.dir.path().join(format!("daemon-{}.log", free_port())))
            .expect("daemon log");
        let mut command = match &self.names {
            Some(names) => names.command(BIN),
            None => Command::new(BIN),
        };
        let child = command
            .args(["run", "--resync", &self.resync, "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--state-dir")
            .arg(self.state_dir())
            .env("ETCD_WARDEN_LOG", "info")
            .envs(self.token.iter().map(|t| ("ETCD_WARDEN_TOKEN", t)))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        self.daemon = Some(child);
        let url = format!("{}/healthz", self.server());
        wait_for("the daemon's /healthz", Duration::from_secs(20), || http_get(&url).ok());
    }

    /// Sends the daemon SIGTERM (as systemd or `kill` does) and waits at most
    /// `timeout` for it to exit; returns how it exited.
    pub fn terminate_daemon(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("daemon running");
        signal(u64::from(child.id()), rustix::process::Signal::TERM);
        wait_for("the daemon to exit after SIGTERM", timeout, || child.try_wait().ok().flatten())
    }

    /// Waits until the daemon has exited on its own (a failpoint); reaps it.
    pub fn wait_daemon_exit(&mut self, timeout: Duration) {
        let child = self.daemon.as_mut().expect("daemon running");
        if wait_for_or_none(timeout, || child.try_wait().ok().flatten()).is_none() {
            let log = self.daemon_log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            panic!(
                "timed out after {timeout:?} waiting for the daemon to exit; its log ends:\n{}",
                tail.join("\n")
            );
        }
        self.daemon = None;
    }

    /// What every daemon started by this harness logged, oldest file first.
    pub fn daemon_log(&self) -> String {
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("harness directory")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("daemon-"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        logs.sort();
        logs.into_iter().filter_map(|(_, path)| std::fs::read_to_string(path).ok()).collect()
    }

    /// The daemon's pid.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon running").id()
    }

    /// Kills the daemon with SIGKILL and reaps it; members keep running.
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command.args(args).env("ETCD_WARDEN_SERVER", self.server()).env_remove("ETCD_WARDEN_TOKEN");
        if let Some(token) = &self.token {
            command.env("ETCD_WARDEN_TOKEN", token);
        }
        command.output().expect("run the CLI")
    }

    /// Runs the CLI and asserts success.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "etcd-warden {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a manifest into the test directory and returns its path.
    pub fn manifest(&self, file: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, yaml).expect("write manifest");
        path
    }

    /// Applies a manifest through the CLI.
    pub fn apply(&self, file: &str, yaml: &str) {
        let path = self.manifest(file, yaml);
        self.cli_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }

    /// The status JSON, if the daemon has one.
    pub fn status(&self, name: &str) -> Option<Value> {
        let out = self.cli(&["status", name, "-o", "json"]);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("status JSON"))
    }

    /// Waits until the status satisfies `check`; returns that status.
    pub fn wait_status(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(status) = wait_for_or_none(timeout, || self.status(name).filter(|s| check(s))) {
            return status;
        }
        // What a CI failure needs to be read: the last status, the events and the
        // daemon's last log lines.
        let status = self.status(name).map(|s| format!("{s:#}")).unwrap_or_else(|| "none".into());
        let events = self.cli(&["events", name]);
        let log = self.daemon_log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        panic!(
            "timed out after {timeout:?} waiting for {what}\nlast status: {status}\nevents:\n{}\ndaemon log (last 40 lines):\n{}",
            String::from_utf8_lossy(&events.stdout),
            tail.join("\n")
        );
    }

    /// Waits until the cluster is Healthy with `members` healthy members.
    pub fn wait_healthy(&self, name: &str, members: usize, timeout: Duration) -> Value {
        self.wait_status(name, &format!("{name} Healthy with {members} members"), timeout, |s| {
            s["phase"] == "Healthy" && healthy_members(s) == members
        })
    }

    /// The events JSON.
    pub fn events(&self, name: &str) -> Vec<Value> {
        let out = self.cli_ok(&["events", name, "-o", "json"]);
        serde_json::from_str(&out).expect("events JSON")
    }

    /// Every member pid recorded under the state directory.
    pub fn recorded_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let clusters = self.state_dir().join("clusters");
        for cluster in std::fs::read_dir(clusters).into_iter().flatten().flatten() {
            let processes = cluster.path().join("platform").join("processes");
            for record in std::fs::read_dir(processes).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(record.path()).unwrap_or_default();
                if let Some(pid) = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["pid"].as_u64()) {
                    pids.push(pid as u32);
                }
            }
        }
        pids
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.kill_daemon();
        kill_processes_under(self.dir.path());
    }
}

/// Kills (SIGCONT then SIGKILL) every process whose command line mentions `dir`: the
/// members this test started, recorded or not.
pub fn kill_processes_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    for (pid, cmdline) in processes() {
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let pid = process_id(pid);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Every process on the machine with its command line (arguments separated by NUL).
fn processes() -> impl Iterator<Item = (u64, Vec<u8>)> {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok())?;
        Some((pid, std::fs::read(entry.path().join("cmdline")).unwrap_or_default()))
    })
}

/// A plain HTTP/1.0 GET on loopback; the body on a 2xx answer.
pub fn http_get(url: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    let ok = head.split_whitespace().nth(1).is_some_and(|code| code.starts_with('2'));
    if ok { Ok(body.to_owned()) } else { Err(head.to_owned()) }
}

/// How many members the status reports healthy.
pub fn healthy_members(status: &Value) -> usize {
    status["members"].as_array().map_or(0, |m| m.iter().filter(|m| m["healthy"] == true).count())
}

/// The member entry of `pod` in a status.
pub fn member<'a>(status: &'a Value, pod: &str) -> &'a Value {
    status["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["pod"] == pod))
        .unwrap_or_else(|| panic!("{pod} not in status {status}"))
}

/// Every healthy member's client URL.
pub fn endpoints(status: &Value) -> Vec<String> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["healthy"] == true)
        .filter_map(|m| m["clientUrl"].as_str().map(str::to_owned))
        .collect()
}

/// A manifest for the local platform.
/// The etcd the end-to-end tests run: `ETCD_WARDEN_TEST_ETCD` names a version that
/// `scripts/etcd-versions` fetched (`.cache/etcd/<version>/etcd`), else the `etcd` on the
/// PATH. The daemon is told through the manifest's `etcdBinary`.
pub fn etcd_binary() -> String {
    match std::env::var("ETCD_WARDEN_TEST_ETCD") {
        Ok(version) if !version.is_empty() => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/etcd").join(&version);
            let binary = dir.join("etcd");
            assert!(
                binary.is_file(),
                "ETCD_WARDEN_TEST_ETCD={version}: no {} (run scripts/etcd-versions {version})",
                binary.display()
            );
            binary.display().to_string()
        }
        _ => "etcd".to_owned(),
    }
}

/// The offline snapshot tool shipped with [`etcd_binary`]: etcdutl from 3.5 on.
pub fn snapshot_tool(rt: &tokio::runtime::Runtime) -> etcd_warden::backup::tool::SnapshotTool {
    rt.block_on(etcd_warden::backup::tool::SnapshotTool::beside(std::path::Path::new(&etcd_binary())))
}

/// The version `binary` says it is (`3.4.23`), from `etcd --version`.
pub fn version_of(binary: &str) -> String {
    let output = std::process::Command::new(binary).arg("--version").output().expect("etcd --version");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let number = text.lines().find_map(|l| l.strip_prefix("etcd Version:")).map(str::trim);
    number.unwrap_or_else(|| panic!("cannot read the version of {binary}: {text}")).to_owned()
}

/// The (major, minor) version of [`etcd_binary`], from `etcd --version`.
pub fn etcd_version() -> (u32, u32) {
    let version = version_of(&etcd_binary());
    etcd_warden::model::etcd::major_minor(&version)
        .unwrap_or_else(|| panic!("cannot read the version of {}: {version}", etcd_binary()))
}

/// Whether the tests run etcd 3.3 (`ETCD_WARDEN_TEST_ETCD=3.3.25`): no learners, no
/// `--logger`.
pub fn etcd_is_3_3() -> bool {
    std::env::var("ETCD_WARDEN_TEST_ETCD").is_ok_and(|v| v.starts_with("3.3."))
}

/// Waits until `members` members report one and the same applied revision: every
/// write acknowledged before has reached each of them.
pub fn wait_same_revision(h: &Harness, name: &str, members: usize, timeout: Duration) -> Value {
    h.wait_status(name, "every member at the same revision", timeout, |s| {
        let revisions: Vec<_> =
            s["members"].as_array().into_iter().flatten().map(|m| m["revision"].clone()).collect();
        revisions.len() == members && revisions.iter().all(|r| r.is_i64() && *r == revisions[0])
    })
}

/// The step that adds a replacement's new member: a learner from etcd 3.4 on, a voter
/// on 3.3 (no learners).
pub fn add_step() -> &'static str {
    if etcd_is_3_3() { "AddMember" } else { "AddLearner" }
}

/// The steps of a replacement, in order, as the version of etcd under test takes them.
pub fn replacement_steps() -> Vec<&'static str> {
    let mut steps = vec!["SnapshotBeforeReplace", "RemoveMember", add_step(), "LaunchReplacement"];
    if !etcd_is_3_3() {
        steps.push("PromoteLearner");
    }
    steps
}

pub fn local_manifest(name: &str, members: usize, extra_recovery: &str) -> String {
    let ha = members > 1;
    format!(
        "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  highAvailability: {ha}\n  members: {members}\n  platform:\n    local:\n      etcdBinary: {etcd}\n      host: 127.0.0.1\n      ports: auto\n  recovery:\n    restartGrace: 1s\n{extra_recovery}",
        etcd = etcd_binary()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn client(endpoints: &[String]) -> Client {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5));
    Client::connect(endpoints, Some(options)).await.expect("connect to etcd")
}

/// Writes `count` keys `prefix/NNNN` = `value-NNNN` through the given endpoints.
pub fn put_keys(endpoints: &[String], prefix: &str, count: usize) {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        for i in 0..count {
            c.put(format!("{prefix}/{i:04}"), format!("value-{i:04}"), None).await.expect("put a key");
        }
    });
}

/// Every key under `prefix` (a linearizable read through `endpoints`).
pub fn keys_with_prefix(endpoints: &[String], prefix: &str) -> std::collections::HashSet<String> {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        let options = etcd_client::GetOptions::new().with_prefix().with_keys_only();
        let resp = c.get(prefix, Some(options)).await.expect("read the keys");
        resp.kvs().iter().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()).collect()
    })
}

/// Reads every key under `prefix/` and asserts all `count` are there with their values.
pub fn assert_keys(endpoints: &[String], prefix: &str, count: usize) {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        let resp =
            c.get(format!("{prefix}/"), Some(GetOptions::new().with_prefix())).await.expect("read keys");
        assert_eq!(resp.kvs().len(), count, "keys under {prefix}/");
        for (i, kv) in resp.kvs().iter().enumerate() {
            assert_eq!(kv.key_str().expect("utf-8 key"), format!("{prefix}/{i:04}"));
            assert_eq!(kv.value_str().expect("utf-8 value"), format!("value-{i:04}"));
        }
    });
}

/// A temporary directory whose processes are killed on drop (no daemon).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self { dir: tempfile::Builder::new().prefix("etcd-warden-test").tempdir().expect("temp dir") }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        kill_processes_under(self.dir.path());
    }
}

/// The daemon's count of reconcile passes for `cluster` (0 before the first).
pub fn passes(h: &Harness, cluster: &str) -> u64 {
    let metrics = http_get(&format!("{}/metrics", h.server())).unwrap_or_default();
    let prefix = format!("etcd_warden_reconcile_passes_total{{cluster=\"{cluster}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A raw HTTP/1.1 POST of `body` as JSON; the whole answer, status line first.
pub fn http_post(url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The member list as etcd reports it: (id, name, is_learner).
pub fn member_list(endpoints: &[String]) -> Vec<(u64, String, bool)> {
    try_member_list(endpoints).expect("member list")
}

/// The member list, or `None` when etcd does not answer right now.
pub fn try_member_list(endpoints: &[String]) -> Option<Vec<(u64, String, bool)>> {
    runtime().block_on(async {
        let mut c = try_client(endpoints).await?;
        let list = c.member_list().await.ok()?;
        Some(list.members().iter().map(|m| (m.id(), m.name().to_owned(), m.is_learner())).collect())
    })
}

/// Waits until every endpoint, asked on its own, lists the same `count` members, each
/// named (started) and none a learner, and returns that list (sorted by ID).
///
/// The status says `Healthy` once the leader has applied the last promotion and the
/// promoted member says it votes; a follower applies the same entry a heartbeat later,
/// and etcd serves the member list from the member asked, not through the leader. So
/// each member is asked, and polled until it has applied the change, with a deadline:
/// a learner or phantom that stays fails with every member's last answer.
pub fn wait_member_lists_agree(
    endpoints: &[String],
    count: usize,
    timeout: Duration,
) -> Vec<(u64, String, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        let lists: Vec<Option<Vec<(u64, String, bool)>>> = endpoints
            .iter()
            .map(|e| {
                try_member_list(std::slice::from_ref(e)).map(|mut l| {
                    l.sort();
                    l
                })
            })
            .collect();
        let agreed = lists.first().cloned().flatten().filter(|first| {
            first.len() == count
                && first.iter().all(|(_, name, learner)| !name.is_empty() && !learner)
                && lists.iter().all(|l| l.as_ref() == Some(first))
        });
        if let Some(list) = agreed {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {count} named voters, no learner or phantom, \
             in every member's own list: {:#?}",
            endpoints.iter().zip(&lists).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `etcdctl endpoint hashkv` of every endpoint at one revision, or `None` when a
/// member does not answer right now.
pub fn try_hashkv(endpoints: &[String]) -> Option<Vec<u32>> {
    runtime().block_on(async {
        let mut first = try_client(&endpoints[..1]).await?;
        let revision = first.get("hashkv-probe", None).await.ok()?.header()?.revision();
        let mut hashes = Vec::new();
        for endpoint in endpoints {
            let mut c = try_client(std::slice::from_ref(endpoint)).await?;
            hashes.push(c.hash_kv(revision).await.ok()?.hash());
        }
        Some(hashes)
    })
}

async fn try_client(endpoints: &[String]) -> Option<Client> {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5));
    Client::connect(endpoints, Some(options)).await.ok()
}

/// Sends a signal to a pid.
pub fn signal(pid: u64, signal: rustix::process::Signal) {
    rustix::process::kill_process(process_id(pid), signal).expect("signal");
}

/// `pid` as the kernel's process ID type.
fn process_id(pid: u64) -> rustix::process::Pid {
    i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).expect("a pid (1 to i32::MAX)")
}

/// Steps of a given name that succeeded (Normal events); a failed attempt that was
/// retried is a Warning event and not counted.
pub fn count_succeeded(h: &Harness, cluster: &str, step: &str) -> usize {
    h.events(cluster).iter().filter(|e| e["reason"] == step && e["kind"] == "Normal").count()
}

/// Events of a given reason.
pub fn count_events(h: &Harness, cluster: &str, reason: &str) -> usize {
    h.events(cluster).iter().filter(|e| e["reason"] == reason).count()
}

/// Writes `count` keys `prefix/NNNN` with the same (large) value.
pub fn put_values(endpoints: &[String], prefix: &str, count: usize, value: &str) {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        for i in 0..count {
            c.put(format!("{prefix}/{i:04}"), value, None).await.expect("put a value");
        }
    });
}

/// The condition of `kind` in a status (JSON null when absent).
pub fn condition(status: &Value, kind: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind).cloned())
        .unwrap_or_default()
}

/// A member's pid, from a status.
pub fn pid_of(status: &Value, pod: &str) -> u64 {
    member(status, pod)["task"]["pid"].as_u64().expect("pid")
}

/// A member's data directory, from a status.
pub fn data_dir_of(status: &Value, pod: &str) -> String {
    member(status, pod)["task"]["dataDir"].as_str().expect("dataDir").to_owned()
}

/// Three healthy voters, no learner, no unstarted member, equal hashes, and every key of
/// each `(prefix, count)` read back; waits up to `timeout` for each.
pub fn assert_converged(h: &Harness, name: &str, keys: &[(&str, usize)], timeout: Duration) -> Value {
    let status = h.wait_status(name, "3 healthy voters after healing", timeout, |s| {
        s["phase"] == "Healthy"
            && healthy_members(s) == 3
            && s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["role"] != "learner"))
    });
    // etcd may still elect a leader after the last promotion: poll, with a deadline.
    let eps = endpoints(&status);
    let list = wait_member_lists_agree(&eps, 3, timeout);
    assert_eq!(list.len(), 3, "exactly three members: {list:?}\nevents: {:#?}", h.events(name));
    let hashes = wait_for("hashkv of every member", timeout, || try_hashkv(&eps));
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "hashkv differs: {hashes:?}");
    for (prefix, count) in keys {
        assert_keys(&eps, prefix, *count);
    }
    status
}

/// The pids of the processes that were given `arg` (one whole argument), recorded by
/// the controller or not.
pub fn pids_with_arg(arg: &str) -> Vec<u64> {
    processes()
        .filter(|(_, cmdline)| cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        .map(|(pid, _)| pid)
        .collect()
}

/// The revision one member has applied, if it answers (a learner answers too).
pub fn try_revision(endpoint: &str) -> Option<i64> {
    runtime().block_on(async {
        let mut c = try_client(&[endpoint.to_owned()]).await?;
        Some(c.status().await.ok()?.header()?.revision())
    })
}

/// The names in `dir`, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The pids of the processes whose command line contains `needle` anywhere.
pub fn pids_mentioning(needle: &str) -> Vec<u64> {
    processes()
        .filter(|(_, cmdline)| String::from_utf8_lossy(cmdline).contains(needle))
        .map(|(pid, _)| pid)
        .collect()
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Overwrites every WAL file under `data_dir/member/wal` with garbage of the same size:
/// etcd then fails at start on it. Stop the member first (SIGSTOP), so that it never
/// runs on the garbage.
pub fn overwrite_wal(data_dir: &Path) {
    for entry in std::fs::read_dir(data_dir.join("member/wal")).expect("wal dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "wal") {
            let len = std::fs::metadata(&path).expect("wal size").len() as usize;
            std::fs::write(&path, vec![0xA5u8; len]).expect("overwrite the WAL with garbage");
        }
    }
}
