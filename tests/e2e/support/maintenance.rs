//! Helpers of the maintenance tests: writes that fill a database, a client's
//! compaction, a writer that measures unavailability, and probes that see a member's
//! reads blocked (as while it defragments) or failing (as while it restarts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, CompactionOptions, ConnectOptions, DeleteOptions};
use serde_json::Value;

use super::local_manifest;

pub const MIB: i64 = 1024 * 1024;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

pub async fn client(endpoints: &[String]) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(10));
    Client::connect(endpoints, Some(options)).await.expect("connect to etcd")
}

/// Writes `count` values of `size` bytes under `prefix/`; stops at the first refusal
/// and returns how many were written.
pub fn fill(endpoints: &[String], prefix: &str, count: usize, size: usize) -> usize {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        let value = "x".repeat(size);
        for i in 0..count {
            if c.put(format!("{prefix}/{i:05}"), value.as_str(), None).await.is_err() {
                return i;
            }
        }
        count
    })
}

/// Deletes everything under `prefix/` and compacts the whole history up to now, as
/// kube-apiserver does: the client's decision, never the controller's.
pub fn delete_and_compact(endpoints: &[String], prefix: &str) {
    runtime().block_on(async {
        let mut c = client(endpoints).await;
        let deleted =
            c.delete(format!("{prefix}/"), Some(DeleteOptions::new().with_prefix())).await.expect("delete");
        let revision = deleted.header().expect("header").revision();
        c.compact(revision, Some(CompactionOptions::new().with_physical())).await.expect("compact");
    });
}

pub fn db_sizes(status: &Value) -> Vec<i64> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["dbSizeBytes"].as_i64().unwrap_or(0))
        .collect()
}

/// A put and a get through every endpoint every 200 ms; returns the longest time
/// without a successful round when stopped.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Duration>,
}

impl Probe {
    pub fn start(endpoints: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut c = client(&endpoints).await;
                let (mut last_ok, mut longest) = (Instant::now(), Duration::ZERO);
                let mut i = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    i += 1;
                    let round = async {
                        c.put("probe", i.to_string(), None).await.ok()?;
                        let got = c.get("probe", None).await.ok()?;
                        (got.kvs().first()?.value_str().ok()? == i.to_string()).then_some(())
                    };
                    if tokio::time::timeout(Duration::from_secs(10), round).await.ok().flatten().is_some() {
                        longest = longest.max(last_ok.elapsed());
                        last_ok = Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                longest.max(last_ok.elapsed())
            })
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("probe thread")
    }
}

pub fn defrag_manifest(name: &str, members: usize, settings: &str) -> String {
    format!("{}  maintenance:\n    defragmentation:\n{settings}", local_manifest(name, members, ""))
}

/// One read that took longer than 150 ms or failed: from its start to its end.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: Instant,
    pub end: Instant,
    /// The read failed (the member stopped, as while it restarts), not only blocked.
    pub failed: bool,
}

impl Span {
    pub fn length(&self) -> Duration {
        self.end - self.start
    }
}

/// One member's spans, in the order seen.
pub type Spans = Vec<Span>;

/// A prober per member: a serializable read every 20 ms; the spans in which one took
/// longer than 150 ms (the member blocked, as while it defragments) or failed (the
/// member stopped, as while it restarts), by endpoint.
pub struct BlockedReads {
    stop: Arc<AtomicBool>,
    threads: Vec<(String, std::thread::JoinHandle<Spans>)>,
}

impl BlockedReads {
    pub fn start(endpoints: &[String]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = endpoints
            .iter()
            .map(|endpoint| {
                let (flag, url) = (Arc::clone(&stop), endpoint.clone());
                let thread = std::thread::spawn(move || {
                    runtime().block_on(async move {
                        let mut c = client(std::slice::from_ref(&url)).await;
                        let mut spans = Vec::new();
                        while !flag.load(Ordering::Relaxed) {
                            let began = Instant::now();
                            let options = etcd_client::GetOptions::new().with_serializable();
                            let read =
                                tokio::time::timeout(Duration::from_secs(30), c.get("probe", Some(options)))
                                    .await;
                            let end = Instant::now();
                            let failed = !matches!(read, Ok(Ok(_)));
                            if end - began > Duration::from_millis(150) || failed {
                                spans.push(Span { start: began, end, failed });
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        spans
                    })
                });
                (endpoint.clone(), thread)
            })
            .collect();
        Self { stop, threads }
    }

    pub fn stop(self) -> Vec<(String, Spans)> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|(e, t)| (e, t.join().expect("prober"))).collect()
    }
}

/// The `--quota-backend-bytes` each member's process runs with, in pod order, read
/// from its command line (`None`: the flag is absent or the process is gone).
pub fn launched_quotas(status: &Value) -> Vec<Option<u64>> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let pid = m["task"]["pid"].as_u64()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .filter_map(|a| std::str::from_utf8(a).ok())
                .find_map(|a| a.strip_prefix("--quota-backend-bytes=")?.parse().ok())
        })
        .collect()
}
