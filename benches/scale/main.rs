//! Benchmark (not a test): one process, many clusters.
//!
//! - `fake`: 1, 10, 100 and 1,000 three-member clusters whose platform and etcd are the
//!   in-process fakes (`etcd_warden::testing`), each cluster's passes a tokio task on one
//!   two-thread runtime (no thread per cluster), through the same `reconcile` the
//!   daemon's workers call, with its store, status, events and metrics on disk, and the
//!   daemon's default resync (2 s).
//! - `real`: the daemon itself with 1, 10 and 100 single-member clusters of real etcd
//!   (`real.rs`).
//!
//! Each size runs in a process of its own (this benchmark runs itself again), so that
//! its memory is its own. Printed per size: median and p99 pass duration, passes per
//! second, RSS, CPU while every cluster is healthy and idle, and the time from a fault
//! (a member seen exited, its worker woken as the daemon's exit watch does) to its
//! first step while every other cluster keeps passing.
//!
//! Run: `cargo bench --bench scale` (see docs/benchmarks.md); `SCALE_SIZES=1,10` and
//! `SCALE_REAL=1,10` pick the sizes.

#[path = "../../tests/e2e/support/mod.rs"]
mod support;

mod proc_stats;
mod real;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_warden::clock::Clock;
use etcd_warden::context::Context;
use etcd_warden::domain::{Generation, MemberId, PodName};
use etcd_warden::manifest::{DesiredCluster, parse_str};
use etcd_warden::metrics::Metrics;
use etcd_warden::model::Observed;
use etcd_warden::model::capabilities::Capabilities;
use etcd_warden::model::etcd::{EndpointStatus, ListedMember};
use etcd_warden::model::platform::{
    AgentState, DataState, PlatformObservation, PlatformRecovery, TaskObservation, TaskState,
};
use etcd_warden::reconcile::{PassMemory, reconcile};
use etcd_warden::store::Store;
use etcd_warden::testing::{FakeEtcd, FakePlatform};
use proc_stats::{Sample, percentile};
use tokio::sync::Notify;

const RESYNC: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(10);

fn pod(i: u8) -> PodName {
    PodName::new(i).expect("a slot")
}

/// Three healthy voters, etcd-0 leading.
fn healthy() -> Observed {
    let url = |i: u8, peer: u8| format!("http://127.0.0.1:{}", 20000 + 2 * u32::from(i) + u32::from(peer));
    let tasks = (0..3)
        .map(|i| TaskObservation {
            pod: pod(i),
            task: TaskState::Running,
            agent: AgentState::Healthy,
            agent_name: format!("local-{i}"),
            client_url: url(i, 0),
            peer_url: url(i, 1),
            pid: Some(1000 + u32::from(i)),
            process_start: None,
            data_dir: None,
            data: DataState::Intact,
            recovery: PlatformRecovery::None,
            instance: None,
            step: None,
            quota_backend_bytes: None,
            certificate_expires: None,
        })
        .collect();
    let id = |i: u8| MemberId(100 + u64::from(i));
    let status = |i: u8| EndpointStatus {
        id: id(i),
        leader: Some(id(0)),
        revision: 42,
        db_size_bytes: 20480,
        db_size_in_use_bytes: 20480,
        db_size_quota_bytes: 0,
        slow_reads: false,
        is_learner: false,
        errors: Vec::new(),
        version: "3.4.23".to_owned(),
        cluster_id: 0,
    };
    let member = |i: u8| ListedMember {
        id: id(i),
        name: pod(i).to_string(),
        peer_urls: vec![url(i, 1)],
        client_urls: vec![url(i, 0)],
        is_learner: false,
    };
    Observed {
        at: jiff::Timestamp::now(),
        platform: PlatformObservation { tasks, rollout: None },
        endpoints: (0..3).map(|i| (pod(i), Ok(status(i)))).collect(),
        member_list: Some((0..3).map(member).collect()),
        member_list_from: Some(pod(0)),
        backups: Default::default(),
        capabilities: Capabilities::LOCAL,
        kept_aside: Vec::new(),
        metrics: Default::default(),
        certificates: None,
    }
}

fn desired(name: &str) -> DesiredCluster {
    let text = format!(
        "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  highAvailability: true\n  platform:\n    local: {{}}\n"
    );
    let mut loaded = parse_str(name, &text).expect("a valid manifest");
    let mut desired = loaded.remove(0).desired;
    // The fault below is acted on at once: the figure is the queueing, not a window.
    desired.recovery.restart_grace = Duration::ZERO;
    desired
}

struct Cluster {
    platform: FakePlatform,
    etcd: FakeEtcd,
    desired: DesiredCluster,
    wake: Notify,
}

struct Shared {
    store: Store,
    metrics: Metrics,
    clock: Clock,
    stop: AtomicBool,
    durations: Mutex<Vec<Duration>>,
}

/// A worker as the daemon runs one: a pass, then the resync or a wake.
async fn worker(cluster: Arc<Cluster>, shared: Arc<Shared>, first: Duration) {
    tokio::time::sleep(first).await;
    let mut memory = PassMemory::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let ctx = Context {
            desired: &cluster.desired,
            platform: &cluster.platform,
            admin: &cluster.etcd,
            store: &shared.store,
            metrics: &shared.metrics,
            backup_lock: Arc::default(),
            clock: shared.clock,
            max_gap: RESYNC * 5,
            now: shared.clock.now(),
            started: tokio::time::Instant::now(),
        };
        let started = Instant::now();
        let _ = reconcile(&ctx, Generation(1), &mut memory).await;
        shared.durations.lock().expect("durations").push(started.elapsed());
        tokio::select! {
            () = tokio::time::sleep(RESYNC) => {}
            () = cluster.wake.notified() => {}
        }
    }
}

/// One size, in this process: prints one line of figures.
fn run_fake(clusters: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = Arc::new(Shared {
        store: Store::open(&dir.path().join("state")).expect("store"),
        metrics: Metrics::default(),
        clock: Clock::start(),
        stop: AtomicBool::new(false),
        durations: Mutex::new(Vec::new()),
    });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let world = healthy();
    let all: Vec<Arc<Cluster>> = (0..clusters)
        .map(|i| {
            Arc::new(Cluster {
                platform: FakePlatform::new(&world.platform),
                etcd: FakeEtcd::new(&world),
                desired: desired(&format!("c{i:04}")),
                wake: Notify::new(),
            })
        })
        .collect();
    let handles: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Spread over one resync, as workers drift apart in a running daemon.
            let first = RESYNC.mul_f64(i as f64 / clusters as f64);
            runtime.spawn(worker(c.clone(), shared.clone(), first))
        })
        .collect();
    // Warm up: every cluster has passed (and written its first status) twice.
    std::thread::sleep(RESYNC * 2 + Duration::from_millis(500));
    shared.durations.lock().expect("durations").clear();
    let before = Sample::now();
    std::thread::sleep(WINDOW);
    let after = Sample::now();
    let mut durations = std::mem::take(&mut *shared.durations.lock().expect("durations"));
    durations.sort();
    // A fault in one cluster while all the others pass: the time to its first step.
    let target = &all[clusters / 2];
    target.platform.update(pod(1), |t| t.task = TaskState::Exited);
    // A crashed member no longer answers: a slot that answers is never restarted.
    target.etcd.stop("http://127.0.0.1:20002");
    let faulted = Instant::now();
    target.wake.notify_one();
    // Polled every millisecond (the support's `wait_for` polls every 100 ms).
    let deadline = faulted + Duration::from_secs(60);
    let reacted = loop {
        if target.platform.calls().iter().any(|c| c.starts_with("ensure_running etcd-1")) {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "the crashed member was never restarted");
        std::thread::sleep(Duration::from_millis(1));
    };
    shared.stop.store(true, Ordering::Relaxed);
    all.iter().for_each(|c| c.wake.notify_one());
    runtime.block_on(async {
        for h in handles {
            let _ = h.await;
        }
    });
    println!(
        "fake {clusters:>5} clusters: pass median {:>7.2} ms, p99 {:>7.2} ms, {:>7.1} passes/s, RSS {:>6.1} MiB, CPU {:>5.1} % of a core, fault to first step {:>6.1} ms",
        ms(percentile(&durations, 0.5)),
        ms(percentile(&durations, 0.99)),
        durations.len() as f64 / WINDOW.as_secs_f64(),
        after.rss_mib,
        after.cpu_percent_since(&before),
        ms(reacted.duration_since(faulted)),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map_or_else(|| default.to_vec(), |v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, n, ..] = args.as_slice() {
        let n: usize = n.parse().expect("a size");
        match mode.as_str() {
            "--fake" => return run_fake(n),
            "--real" => return real::run(n),
            _ => {}
        }
    }
    let me = std::env::current_exe().expect("this benchmark");
    for (mode, var, default) in
        [("--fake", "SCALE_SIZES", &[1, 10, 100, 1000][..]), ("--real", "SCALE_REAL", &[1, 10, 100][..])]
    {
        for n in sizes(var, default) {
            let status = std::process::Command::new(&me).args([mode, &n.to_string()]).status().expect("run");
            assert!(status.success(), "{mode} {n} failed");
        }
    }
}
