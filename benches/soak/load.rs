//! The load beside the faults: a writer of unique keys through every member in turn,
//! a prober that asks every member for a linearizable read each second, and clients of
//! a few registers (keys written again and again, read linearizably through every
//! voter) whose every operation is recorded for the linearizability check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};

use crate::faults::Rng;
use crate::linearizability::{Op, Operation};

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
    /// The voters' client URLs (learners excluded); the main thread updates it from
    /// each status it reads.
    pub voters: Mutex<Vec<String>>,
    /// Every register operation that was sent: what, when, through whom, and its outcome.
    pub history: Mutex<Vec<Operation>>,
    /// What the history's times count from.
    pub epoch: Epoch,
}

/// The instant the run's times count from.
pub struct Epoch(pub Instant);

impl Default for Epoch {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Epoch {
    /// Nanoseconds since the epoch.
    pub fn now(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

impl Load {
    fn endpoints(&self) -> Vec<String> {
        self.endpoints.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn voters(&self) -> Vec<String> {
        self.voters.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// One put of `value` (a get for `None`) on `key` through `c`, as recorded: `None`
/// for a get without an answer.
async fn register_op(
    load: &Load,
    mut c: Client,
    client: usize,
    key: String,
    value: Option<String>,
    endpoint: &str,
) -> Option<Operation> {
    let invoked = load.epoch.now();
    let (op, returned) = match value {
        Some(value) => {
            let put = tokio::time::timeout(Duration::from_secs(3), c.put(key.as_str(), value.as_str(), None));
            let ok = matches!(put.await, Ok(Ok(_)));
            (Op::Write(value), ok.then(|| load.epoch.now()))
        }
        None => {
            let get = tokio::time::timeout(Duration::from_secs(3), c.get(key.as_str(), None));
            let answer = get.await.ok()?.ok()?;
            let value = answer.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
            (Op::Read(value), Some(load.epoch.now()))
        }
    };
    Some(Operation { client, key, op, invoked, returned, endpoint: endpoint.to_owned() })
}

/// How many registers the clients share.
pub const REGISTERS: u64 = 8;

/// One register client: until stopped, every `pace`, a put of a value of its own
/// (`c<client>-<n>`, never written twice) or a linearizable get, on a register drawn
/// from `lin/0`..`lin/7`, through the next voter in turn. A put that returned OK is
/// recorded with its return; one that failed or timed out after it was sent has an
/// unknown outcome (it may take effect later, or never); one that was never sent (no
/// connection) and a get without an answer are not recorded.
pub async fn register_client(load: Arc<Load>, client: usize, seed: u64, pace: Duration) {
    let mut rng = Rng::new(seed ^ (client as u64).wrapping_mul(0x9E37_79B9));
    let mut clients = Clients::default();
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let voters = load.voters();
        if voters.is_empty() {
            tokio::time::sleep(pace).await;
            continue;
        }
        let endpoint = voters[(n as usize + client) % voters.len()].clone();
        let key = format!("lin/{}", rng.below(REGISTERS));
        let write = rng.below(2) == 0;
        n += 1;
        let op = match clients.get(&endpoint).await {
            Some(c) => {
                register_op(&load, c, client, key, write.then(|| format!("c{client}-{n}")), &endpoint).await
            }
            None => None,
        };
        // Forgotten after anything but an answer: the next use reconnects.
        if op.as_ref().is_none_or(|o| o.returned.is_none()) {
            clients.forget(&endpoint);
        }
        if let (Some(op), Ok(mut history)) = (op, load.history.lock()) {
            history.push(op);
        }
        tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
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
