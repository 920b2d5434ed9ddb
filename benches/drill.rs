//! Benchmark (not a test): a restore drill of a backup of BENCH_MB megabytes (default
//! 100; values of 256 KiB) from a single-member cluster, against the same drill by hand
//! in one run:
//!
//! - `etcd-warden drill NAME -o json` end to end through the daemon (time; the scratch
//!   etcd's peak RSS from the report; the daemon's `VmHWM` over the drill, reset
//!   through `/proc/PID/clear_refs` just before, against its `VmRSS` before);
//! - by hand: `sha256sum` of the stored file, `etcdctl snapshot restore`, `etcd` started
//!   on it until `endpoint status` answers, `etcdctl get --from-key --keys-only` (etcd
//!   3.4's etcdctl has no `--count-only`), kill.
//!
//! Run: `cargo bench --bench drill` (prints the figures; see docs/benchmarks.md).

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Harness, endpoints, free_port, local_manifest, wait_for};

const DEADLINE: Duration = Duration::from_secs(600);
const VALUE: usize = 256 * 1024;
const MIB: f64 = 1024.0 * 1024.0;
const NAME: &str = "drill";

fn etcdctl(args: &[&str]) -> String {
    let out = Command::new("etcdctl").env("ETCDCTL_API", "3").args(args).output().expect("etcdctl");
    assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The drill by hand, on the stored file; returns its time and the key count.
fn by_hand(dir: &Path, file: &Path) -> (Duration, usize) {
    let data = dir.join("by-hand.etcd");
    let started = Instant::now();
    let sum = Command::new("sha256sum").arg(file).output().expect("sha256sum");
    assert!(sum.status.success());
    etcdctl(&[
        "snapshot",
        "restore",
        file.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let mut etcd = Command::new("etcd")
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd");
    let endpoint = format!("--endpoints={client_url}");
    wait_for("the etcd started by hand", DEADLINE, || {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([endpoint.as_str(), "endpoint", "status"])
            .output()
            .ok()?;
        out.status.success().then_some(())
    });
    let listed = etcdctl(&[&endpoint, "get", "", "--from-key", "--keys-only"]);
    let _ = etcd.kill();
    let _ = etcd.wait();
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&data);
    (took, listed.lines().filter(|l| !l.trim().is_empty()).count())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let megabytes: usize = std::env::var("BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let count = megabytes * 1024 * 1024 / VALUE;
    let h = Harness::start();
    let backups = h.dir.path().join("backups");
    let yaml = format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n",
        local_manifest(NAME, 1, ""),
        backups.display()
    );
    h.apply("drill.yaml", &yaml);
    let status = h.wait_healthy(NAME, 1, DEADLINE);
    support::put_values(&endpoints(&status), "bench", count, &"x".repeat(VALUE));
    let record: Value =
        serde_json::from_str(&h.cli_ok(&["backup", NAME, "-o", "json"])).expect("backup JSON");
    let file = backups.join(NAME).join(format!("{}.db", record["id"].as_str().expect("id")));
    let pid = h.daemon_pid();
    for run in 1..=3 {
        let baseline = support::proc_kib(pid, "VmRSS");
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the daemon's peak RSS");
        let started = Instant::now();
        let report: Value =
            serde_json::from_str(&h.cli_ok(&["drill", NAME, "-o", "json"])).expect("drill JSON");
        let took = started.elapsed();
        let peak = support::proc_kib(pid, "VmHWM");
        assert_eq!(report["result"], "passed", "{report:#}");
        let scratch = report["scratchPeakRssBytes"].as_u64().unwrap_or_default() as f64 / MIB;
        println!(
            "run {run}: etcd-warden drill of {} bytes ({:.1} MiB, {} keys): {:.2} s end to end ({:.2} s in the daemon); scratch etcd peak RSS {scratch:.1} MiB; daemon VmRSS before {:.1} MiB, VmHWM during {:.1} MiB (+{:.1} MiB)",
            record["sizeBytes"],
            record["sizeBytes"].as_f64().unwrap_or_default() / MIB,
            report["keys"],
            took.as_secs_f64(),
            report["durationSeconds"].as_f64().unwrap_or_default(),
            baseline as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(baseline) as f64 / 1024.0,
        );
        let (manual, keys) = by_hand(h.dir.path(), &file);
        println!(
            "run {run}: by hand (sha256sum, etcdctl snapshot restore, etcd until it answers, count): {:.2} s ({keys} keys)",
            manual.as_secs_f64()
        );
    }
}
