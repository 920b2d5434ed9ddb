//! Benchmark (not a test): backup and restore of a 3-member cluster holding BENCH_MB
//! megabytes (default 100; values of 256 KiB), against plain etcdctl. Side by side in
//! one run:
//!
//! 1. Backup, on one cluster: `etcdctl snapshot save FILE` (time; etcdctl's peak RSS
//!    from `getrusage(RUSAGE_CHILDREN)` in a helper process that waits for nothing else)
//!    against `etcd-warden backup NAME` end to end through the daemon (time; the
//!    daemon's `VmHWM` after the backup against its `VmRSS` before it).
//! 2. Restore of all three members from the newest backup to Healthy with 3 healthy
//!    members, equal revisions and every key readable: `etcd-warden restore NAME --from
//!    latest --yes` on one cluster, against the manual etcdctl procedure (stop, `etcdctl
//!    snapshot restore` for each member, start each etcd by hand) on a second, paused
//!    cluster.
//!
//! Run: `cargo bench --bench backup_restore` (prints the figures; see docs/benchmarks.md).

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions};
use rustix::process::Signal;
use serde_json::Value;
use support::{Harness, endpoints, healthy_members, local_manifest, member, signal, wait_for};

const DEADLINE: Duration = Duration::from_secs(600);
const VALUE: usize = 256 * 1024;
const PREFIX: &str = "bench/";
/// The first argument that turns this binary into the etcdctl measuring helper.
const MEASURE: &str = "measure-etcdctl";
const MIB: f64 = 1024.0 * 1024.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn connect(eps: &[String]) -> Option<Client> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5));
    Client::connect(eps, Some(options)).await.ok()
}

fn fill(eps: &[String], count: usize) {
    let value = "x".repeat(VALUE);
    runtime().block_on(async {
        let mut c = Client::connect(eps, None).await.expect("connect");
        for i in 0..count {
            c.put(format!("{PREFIX}{i:05}"), value.clone(), None).await.expect("put");
        }
    });
}

/// Reads every key under `bench/` in pages of 8 values (2 MiB) and checks that all
/// `count` are there with their whole value.
fn keys_readable(eps: &[String], count: usize) -> bool {
    runtime().block_on(async {
        let Some(mut c) = connect(eps).await else { return false };
        let end = "bench0"; // the prefix's range end: '/' + 1
        let mut next = PREFIX.as_bytes().to_vec();
        let mut seen = 0;
        loop {
            let options = GetOptions::new().with_range(end).with_limit(8);
            let Ok(resp) = c.get(next.clone(), Some(options)).await else { return false };
            for kv in resp.kvs() {
                if kv.value().len() != VALUE || kv.value().iter().any(|b| *b != b'x') {
                    return false;
                }
                seen += 1;
                next = kv.key().to_vec();
                next.push(0);
            }
            if !resp.more() || resp.kvs().is_empty() {
                return seen == count;
            }
        }
    })
}

/// Every endpoint answers a linearizable read on its own (what `etcdctl endpoint
/// health` does) and all report the same revision: that revision, or `None`.
fn serving(eps: &[String]) -> Option<i64> {
    runtime().block_on(async {
        let mut revisions = Vec::new();
        for ep in eps {
            let mut c = connect(std::slice::from_ref(ep)).await?;
            let resp = c.get("health", None).await.ok()?;
            revisions.push(resp.header()?.revision());
        }
        let first = *revisions.first()?;
        revisions.iter().all(|r| *r == first).then_some(first)
    })
}

fn etcdctl(args: &[&str]) -> String {
    let out = Command::new("etcdctl").env("ETCDCTL_API", "3").args(args).output().expect("etcdctl");
    assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The helper: runs etcdctl with the given arguments as this process's only child and
/// prints `seconds max_rss_kib`. `getrusage(RUSAGE_CHILDREN)` then covers etcdctl alone.
fn measure_helper(args: &[String]) {
    let started = Instant::now();
    let status = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run etcdctl");
    let elapsed = started.elapsed();
    assert!(status.success(), "etcdctl {args:?}: {status}");
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    println!("{} {}", elapsed.as_secs_f64(), usage.max_rss());
}

/// `etcdctl snapshot save FILE` through the helper: (time, peak RSS in KiB).
fn etcdctl_snapshot_save(endpoint: &str, file: &Path) -> (Duration, u64) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let out = Command::new(exe)
        .arg(MEASURE)
        .arg(format!("--endpoints={endpoint}"))
        .args(["snapshot", "save"])
        .arg(file)
        .output()
        .expect("run the measuring helper");
    assert!(out.status.success(), "etcdctl snapshot save: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let seconds: f64 = words.next().and_then(|w| w.parse().ok()).expect("seconds");
    let kib: u64 = words.next().and_then(|w| w.parse().ok()).expect("max rss");
    (Duration::from_secs_f64(seconds), kib)
}

fn manifest(name: &str, backups: &Path, paused: bool) -> String {
    let yaml = format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n",
        local_manifest(name, 3, ""),
        backups.display()
    );
    if paused { yaml.replace("spec:\n", "spec:\n  paused: true\n") } else { yaml }
}

fn cluster(h: &Harness, name: &str, backups: &Path, count: usize) -> Value {
    h.apply(&format!("{name}.yaml"), &manifest(name, backups, false));
    let status = h.wait_healthy(name, 3, DEADLINE);
    let started = Instant::now();
    fill(&endpoints(&status), count);
    eprintln!("{name}: wrote {count} values in {:.1} s", started.elapsed().as_secs_f64());
    status
}

fn url(status: &Value, pod: &str) -> String {
    member(status, pod)["clientUrl"].as_str().expect("client url").to_owned()
}

fn port(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

fn gone(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("X");
    matches!(state, "Z" | "X")
}

struct Backup {
    etcdctl_time: Duration,
    etcdctl_kib: u64,
    snapshot_bytes: u64,
    warden_time: Duration,
    baseline_kib: u64,
    hwm_before_kib: u64,
    peak_kib: u64,
    hwm_reset: bool,
    record: Value,
    phases: Vec<String>,
}

/// The newest "snapshot saved" and "backup timings" lines of the daemon's logs.
fn phase_lines(dir: &Path) -> Vec<String> {
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir).expect("harness dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("daemon-") {
            logs.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    ["snapshot saved", "backup timings"]
        .iter()
        .filter_map(|what| {
            let line = logs.lines().rev().find(|l| l.contains(what))?;
            Some(line[line.find(what)?..].to_owned())
        })
        .collect()
}

fn backup(h: &Harness, name: &str, status: &Value) -> Backup {
    let file = h.dir.path().join("etcdctl-snapshot.db");
    let (etcdctl_time, etcdctl_kib) = etcdctl_snapshot_save(&url(status, "etcd-0"), &file);
    let snapshot_bytes = std::fs::metadata(&file).expect("etcdctl's snapshot").len();
    let pid = h.daemon_pid();
    let hwm_before_kib = support::proc_kib(pid, "VmHWM");
    // Resets VmHWM to the current RSS (Linux >= 4.0), so that the peak is the backup's.
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let baseline_kib = support::proc_kib(pid, "VmRSS");
    let started = Instant::now();
    let out = h.cli_ok(&["backup", name, "-o", "json"]);
    let warden_time = started.elapsed();
    let peak_kib = support::proc_kib(pid, "VmHWM");
    let record: Value = serde_json::from_str(&out).expect("backup JSON");
    let phases = phase_lines(h.dir.path());
    Backup {
        etcdctl_time,
        etcdctl_kib,
        snapshot_bytes,
        warden_time,
        baseline_kib,
        hwm_before_kib,
        peak_kib,
        hwm_reset,
        record,
        phases,
    }
}

/// `etcd-warden restore NAME --from latest --yes` until Healthy with 3 healthy members,
/// equal revisions and every key readable: (total, time until the CLI returned).
fn warden_restore(h: &Harness, name: &str, count: usize) -> (Duration, Duration) {
    let started = Instant::now();
    h.cli_ok(&["restore", name, "--from", "latest", "--yes"]);
    let cli = started.elapsed();
    wait_for("etcd-warden's restore to serve every key", DEADLINE, || {
        let s = h.status(name)?;
        let healthy = s["phase"] == "Healthy" && healthy_members(&s) == 3 && s["restore"].is_object();
        let eps = endpoints(&s);
        (healthy && eps.len() == 3 && serving(&eps).is_some() && keys_readable(&eps, count)).then_some(())
    });
    (started.elapsed(), cli)
}

struct ManualMember {
    pod: String,
    pid: u64,
    data_dir: PathBuf,
    client: String,
    peer: String,
}

/// The manual procedure on a paused cluster: stop the three members, restore each data
/// directory with `etcdctl snapshot restore`, start three etcd by hand, wait until all
/// serve the same revision and every key is readable.
fn manual_restore(
    h: &Harness,
    status: &Value,
    snapshot: &Path,
    count: usize,
) -> (Duration, Vec<Child>, Vec<String>) {
    let list = etcdctl(&[&format!("--endpoints={}", url(status, "etcd-0")), "member", "list", "-w", "json"]);
    let list: Value = serde_json::from_str(&list).expect("member list JSON");
    let members: Vec<ManualMember> = ["etcd-0", "etcd-1", "etcd-2"]
        .iter()
        .map(|pod| {
            let m = member(status, pod);
            let listed = list["members"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["name"] == *pod))
                .unwrap_or_else(|| panic!("{pod} not in the member list"));
            ManualMember {
                pod: (*pod).to_owned(),
                pid: m["task"]["pid"].as_u64().expect("pid"),
                data_dir: PathBuf::from(m["task"]["dataDir"].as_str().expect("data dir")),
                client: url(status, pod),
                peer: listed["peerURLs"][0].as_str().expect("peer url").to_owned(),
            }
        })
        .collect();
    let initial: Vec<String> = members.iter().map(|m| format!("{}={}", m.pod, m.peer)).collect();
    let initial = initial.join(",");
    let token = "manual-restore";
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut step = |what: &str| steps.push(format!("{what} {:.2} s", started.elapsed().as_secs_f64()));
    // One at a time, as etcd-warden does: SIGTERM to all three at once costs etcd 3.4's
    // leader about 7 s trying to hand leadership to a peer that is shutting down too.
    for m in &members {
        signal(m.pid, Signal::TERM);
        wait_for("a stopped member to be gone", DEADLINE, || gone(m.pid).then_some(()));
    }
    step("stopped");
    for m in &members {
        let mut aside = m.data_dir.clone().into_os_string();
        aside.push(".before-restore");
        std::fs::rename(&m.data_dir, &aside).expect("move the old data directory aside");
        etcdctl(&[
            "snapshot",
            "restore",
            snapshot.to_str().expect("utf-8 path"),
            &format!("--name={}", m.pod),
            &format!("--initial-cluster={initial}"),
            &format!("--initial-cluster-token={token}"),
            &format!("--initial-advertise-peer-urls={}", m.peer),
            &format!("--data-dir={}", m.data_dir.display()),
        ]);
    }
    step("restored");
    let mut children = Vec::new();
    for m in &members {
        for u in [&m.client, &m.peer] {
            let port = port(u);
            wait_for("the member's port to be free", DEADLINE, || {
                std::net::TcpListener::bind(("127.0.0.1", port)).ok()
            });
        }
        let log = std::fs::File::create(h.dir.path().join(format!("manual-{}.log", m.pod))).expect("log");
        let etcd = Command::new("etcd")
            .args([
                &format!("--name={}", m.pod),
                &format!("--data-dir={}", m.data_dir.display()),
                &format!("--listen-client-urls={}", m.client),
                &format!("--advertise-client-urls={}", m.client),
                &format!("--listen-peer-urls={}", m.peer),
                &format!("--initial-advertise-peer-urls={}", m.peer),
                &format!("--initial-cluster={initial}"),
                "--initial-cluster-state=new",
                &format!("--initial-cluster-token={token}"),
                "--logger=zap",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd by hand");
        children.push(etcd);
    }
    step("started");
    let eps: Vec<String> = members.iter().map(|m| m.client.clone()).collect();
    wait_for("the manual restore to serve", DEADLINE, || serving(&eps));
    step("serving");
    wait_for("the manual restore to serve every key", DEADLINE, || {
        (serving(&eps).is_some() && keys_readable(&eps, count)).then_some(())
    });
    step("every key read");
    (started.elapsed(), children, steps)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if args.get(1).map(String::as_str) == Some(MEASURE) {
        measure_helper(&args[2..]);
        return;
    }
    let megabytes: usize = std::env::var("BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let count = megabytes * 1024 * 1024 / VALUE;
    let mut h = Harness::start();
    // Again with the backup's phase timings (debug events) in the daemon's log.
    h.kill_daemon();
    h.start_daemon_with(&[("ETCD_WARDEN_LOG", "info,etcd_warden::backup=debug")]);
    let backups = h.dir.path().join("backups");
    let auto_status = cluster(&h, "auto", &backups, count);
    let manual_status = cluster(&h, "manual", &backups, count);

    let b = backup(&h, "auto", &auto_status);
    // The manual cluster's own newest backup, untimed.
    let manual_snapshot = h.dir.path().join("manual-snapshot.db");
    etcdctl(&[
        &format!("--endpoints={}", url(&manual_status, "etcd-0")),
        "snapshot",
        "save",
        manual_snapshot.to_str().expect("utf-8 path"),
    ]);
    h.apply("manual-paused.yaml", &manifest("manual", &backups, true));
    h.wait_status("manual", "paused", DEADLINE, |s| s["phase"] == "Paused");
    let (manual, mut by_hand, manual_steps) = manual_restore(&h, &manual_status, &manual_snapshot, count);
    let (automatic, cli) = warden_restore(&h, "auto", count);

    let kib = |k: u64| k as f64 / 1024.0;
    let snapshot_mib = b.snapshot_bytes as f64 / MIB;
    let growth_kib = b.peak_kib.saturating_sub(b.baseline_kib);
    println!(
        "backup of a 3-member cluster holding {megabytes} MB ({count} values of 256 KiB): snapshot {} bytes ({snapshot_mib:.1} MiB; etcd-warden's {} bytes)",
        b.snapshot_bytes, b.record["sizeBytes"]
    );
    println!(
        "  etcdctl snapshot save:             {:>7.2} s  peak RSS {:>6.1} MiB (etcdctl, getrusage RUSAGE_CHILDREN)",
        b.etcdctl_time.as_secs_f64(),
        kib(b.etcdctl_kib)
    );
    println!(
        "  etcd-warden backup (end to end):   {:>7.2} s  peak RSS {:>6.1} MiB (daemon VmHWM; VmRSS before {:.1} MiB)",
        b.warden_time.as_secs_f64(),
        kib(b.peak_kib),
        kib(b.baseline_kib)
    );
    println!(
        "  ratio etcd-warden / etcdctl: time {:.2}, peak RSS {:.2}",
        b.warden_time.as_secs_f64() / b.etcdctl_time.as_secs_f64(),
        b.peak_kib as f64 / b.etcdctl_kib as f64
    );
    println!(
        "  daemon peak minus baseline: {:.1} MiB against a {snapshot_mib:.1} MiB snapshot ({:.1}% of it){}",
        kib(growth_kib),
        100.0 * growth_kib as f64 * 1024.0 / b.snapshot_bytes as f64,
        if b.hwm_reset {
            " (VmHWM reset before the backup)".to_owned()
        } else {
            format!(" (VmHWM could not be reset: it was {:.1} MiB before the backup)", kib(b.hwm_before_kib))
        }
    );
    for line in &b.phases {
        println!("  etcd-warden's phases: {line}");
    }
    if (growth_kib * 1024) * 10 < b.snapshot_bytes {
        println!(
            "  the controller's memory stays far below the snapshot size: the snapshot is streamed to the file"
        );
    } else {
        println!("  NOTE: the controller's memory growth is NOT far below the snapshot size");
    }
    println!(
        "restore of a 3-member cluster holding {megabytes} MB from the newest backup (-> Healthy, 3 healthy members, equal revisions, every key readable)"
    );
    println!(
        "  manual procedure (stop x3 in turn, snapshot restore x3, start x3; no reaction time): {:>7.2} s",
        manual.as_secs_f64()
    );
    println!(
        "  etcd-warden restore --from latest --yes:                                             {:>7.2} s (CLI returned after {:.2} s)",
        automatic.as_secs_f64(),
        cli.as_secs_f64()
    );
    println!("  ratio etcd-warden / manual: {:.2}", automatic.as_secs_f64() / manual.as_secs_f64());
    println!("  manual steps (cumulative): {}", manual_steps.join(", "));
    for child in &mut by_hand {
        let _ = child.kill();
        let _ = child.wait();
    }
}
