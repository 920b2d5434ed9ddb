//! The load beside the faults: a writer of unique keys through every member in turn,
//! and a prober that asks every member for a linearizable read each second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};

/// The key of write number `n`, and its value.
pub fn key(n: u64) -> String {
    format!("soak/{n:09}")
}

pub fn value(n: u64) -> String {
    format!("value-{n}")
}

/// What the writer and the prober share with the main thread.
#[derive(Default)]
pub struct Load {
    /// Each member's client URL, by slot; the main thread updates it from the status.
    pub endpoints: Mutex<Vec<String>>,
    pub stop: AtomicBool,
    /// The numbers of the writes whose put returned OK.
    pub acked: Mutex<Vec<u64>>,
    pub failed: AtomicU64,
    /// Probe rounds, and those in which no member served a linearizable read.
    pub rounds: AtomicU64,
    pub rounds_without_quorum: AtomicU64,
    pub ms_without_quorum: AtomicU64,
    /// The longest time between two acknowledged writes, in milliseconds.
    pub longest_write_gap_ms: AtomicU64,
}

impl Load {
    fn endpoints(&self) -> Vec<String> {
        self.endpoints.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

fn options() -> ConnectOptions {
    ConnectOptions::new().with_connect_timeout(Duration::from_secs(1)).with_timeout(Duration::from_secs(2))
}

/// One client per endpoint, dropped after an error so that the next use reconnects.
#[derive(Default)]
struct Clients(HashMap<String, Client>);

impl Clients {
    async fn get(&mut self, endpoint: &str) -> Option<Client> {
        if let Some(c) = self.0.get(endpoint) {
            return Some(c.clone());
        }
        let connect = Client::connect([endpoint], Some(options()));
        let c = tokio::time::timeout(Duration::from_secs(2), connect).await.ok()?.ok()?;
        self.0.insert(endpoint.to_owned(), c.clone());
        Some(c)
    }

    fn forget(&mut self, endpoint: &str) {
        self.0.remove(endpoint);
    }
}

/// Writes `soak/N` through each member in turn, `rate` a second at most, until stopped.
pub async fn writer(load: Arc<Load>, rate: u32) {
    let pace = Duration::from_secs(1) / rate.max(1);
    let mut clients = Clients::default();
    let mut last_ack = Instant::now();
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let endpoints = load.endpoints();
        if endpoints.is_empty() {
            tokio::time::sleep(pace).await;
            continue;
        }
        let endpoint = &endpoints[n as usize % endpoints.len()];
        let ok = match clients.get(endpoint).await {
            Some(mut c) => {
                let put = c.put(key(n), value(n), None);
                matches!(tokio::time::timeout(Duration::from_secs(3), put).await, Ok(Ok(_)))
            }
            None => false,
        };
        if ok {
            if let Ok(mut acked) = load.acked.lock() {
                acked.push(n);
            }
            let gap = last_ack.elapsed().as_millis() as u64;
            load.longest_write_gap_ms.fetch_max(gap, Ordering::Relaxed);
            last_ack = Instant::now();
        } else {
            // Not acknowledged (it may have been applied all the same): a new key next.
            load.failed.fetch_add(1, Ordering::Relaxed);
            clients.forget(endpoint);
        }
        n += 1;
        tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
    }
}

/// Every second, a linearizable read from every member at once, 1 s to connect and
/// answer; the time from a round in which none answered to the next is time without
/// quorum.
pub async fn prober(load: Arc<Load>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cached: HashMap<String, Client> = HashMap::new();
    let mut previous: Option<(Instant, bool)> = None;
    while !load.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let now = Instant::now();
        if let Some((at, false)) = previous {
            let ms = now.duration_since(at).as_millis() as u64;
            load.ms_without_quorum.fetch_add(ms, Ordering::Relaxed);
        }
        let endpoints = load.endpoints();
        let probes = endpoints.iter().map(|endpoint| {
            let client = cached.remove(endpoint);
            async move {
                let probe = async {
                    let mut c = match client {
                        Some(c) => c,
                        None => Client::connect([endpoint.as_str()], Some(options())).await.ok()?,
                    };
                    c.get("soak-probe", None).await.ok()?;
                    Some(c)
                };
                (endpoint.clone(), tokio::time::timeout(Duration::from_secs(1), probe).await.ok().flatten())
            }
        });
        let answers = futures::future::join_all(probes).await;
        let quorum = answers.iter().any(|(_, c)| c.is_some());
        cached.extend(answers.into_iter().filter_map(|(e, c)| Some((e, c?))));
        load.rounds.fetch_add(1, Ordering::Relaxed);
        if !quorum {
            load.rounds_without_quorum.fetch_add(1, Ordering::Relaxed);
        }
        previous = Some((now, quorum));
    }
}
