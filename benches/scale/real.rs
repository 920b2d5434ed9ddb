//! The daemon itself with `n` single-member clusters of real etcd on the local
//! platform, at its default resync (2 s).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::proc_stats::Sample;
use super::support::{Harness, http_get, pid_of, signal, wait_for};
use super::{WINDOW, ms};

/// The sum over clusters of each bucket of the pass duration histogram, the pass
/// count, and the healthy members.
struct Metrics {
    buckets: BTreeMap<u64, f64>,
    passes: f64,
    healthy: f64,
}

fn read(h: &Harness) -> Metrics {
    let text = http_get(&format!("{}/metrics", h.server())).expect("metrics");
    let mut m = Metrics { buckets: BTreeMap::new(), passes: 0.0, healthy: 0.0 };
    for line in text.lines() {
        let Some((key, value)) = line.rsplit_once(' ') else { continue };
        let value: f64 = value.parse().unwrap_or(0.0);
        if key.starts_with("etcd_warden_reconcile_duration_seconds_bucket{") {
            let le = key.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("+Inf");
            // Bucket bounds in microseconds, +Inf as the largest.
            let bound = le.parse::<f64>().map_or(u64::MAX, |s| (s * 1e6).round() as u64);
            *m.buckets.entry(bound).or_default() += value;
        } else if key.starts_with("etcd_warden_reconcile_passes_total{") {
            m.passes += value;
        } else if key.starts_with("etcd_warden_members_healthy{") {
            m.healthy += value;
        }
    }
    m
}

/// The upper bound of the bucket holding the `q` quantile of the passes between two
/// readings.
fn quantile(before: &Metrics, after: &Metrics, q: f64) -> String {
    let total = after.buckets.get(&u64::MAX).copied().unwrap_or(0.0)
        - before.buckets.get(&u64::MAX).copied().unwrap_or(0.0);
    for (bound, count) in &after.buckets {
        let delta = count - before.buckets.get(bound).copied().unwrap_or(0.0);
        if delta >= q * total {
            return if *bound == u64::MAX {
                "> 82 s".to_owned()
            } else {
                format!("≤ {:.0} ms", *bound as f64 / 1000.0)
            };
        }
    }
    "-".to_owned()
}

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: etcd-warden/v1alpha1\nkind: EtcdCluster\nmetadata:\n  name: {name}\nspec:\n  highAvailability: false\n  platform:\n    local: {{ etcdBinary: etcd, host: 127.0.0.1, ports: auto }}\n  recovery:\n    restartGrace: 1s\n"
    )
}

pub fn run(n: usize) {
    let h = Harness::start_with_resync("2s");
    let started = Instant::now();
    let all: String = (0..n).map(|i| manifest(&format!("r{i:03}"))).collect::<Vec<_>>().join("---\n");
    h.apply("all.yaml", &all);
    wait_for("every cluster healthy", Duration::from_secs(600), || {
        (read(&h).healthy as usize == n).then_some(())
    });
    let boot = started.elapsed();
    // Settle: first statuses written, start-up work done.
    std::thread::sleep(Duration::from_secs(5));
    let daemon = h.daemon_pid().to_string();
    let (before, cpu_before) = (read(&h), Sample::of(&daemon));
    std::thread::sleep(WINDOW);
    let (after, cpu_after) = (read(&h), Sample::of(&daemon));
    // A member killed while every cluster is watched: its restart's event.
    let status = h.status("r000").expect("status");
    let killed = Instant::now();
    signal(pid_of(&status, "etcd-0"), Signal::KILL);
    // Polled every 10 ms through the API (the support's `wait_for` polls every 100 ms).
    let events = format!("{}/v1/clusters/r000/events", h.server());
    let reacted = loop {
        if http_get(&events).is_ok_and(|body| body.contains("\"RestartInPlace\"")) {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(120), "never restarted");
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "real {n:>5} clusters: all healthy {:>6.1} s after apply, pass median {}, p99 {}, {:>6.1} passes/s, daemon RSS {:>6.1} MiB, daemon CPU idle {:>5.2} % of a core, kill to restart event {:>6.0} ms (restartGrace 1 s)",
        boot.as_secs_f64(),
        quantile(&before, &after, 0.5),
        quantile(&before, &after, 0.99),
        (after.passes - before.passes) / WINDOW.as_secs_f64(),
        cpu_after.rss_mib,
        cpu_after.cpu_percent_since(&cpu_before),
        ms(reacted),
    );
}
