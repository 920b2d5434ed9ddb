//! What the soak checks against real etcd: a cluster healed after a fault, and at the
//! end every acknowledged write on every member, equal hashes, the desired voters only.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions};
use serde_json::Value;

use crate::load;
use crate::support::{self, Harness};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn options() -> ConnectOptions {
    ConnectOptions::new().with_connect_timeout(Duration::from_secs(1)).with_timeout(Duration::from_secs(3))
}

/// The status JSON straight from the API (no CLI process per poll).
pub fn status(h: &Harness, name: &str) -> Option<Value> {
    let body = support::http_get(&format!("{}/v1/clusters/{name}/status", h.server())).ok()?;
    serde_json::from_str(&body).ok()
}

/// Each member's client URL, by slot.
pub fn endpoints_by_slot(status: &Value) -> Vec<String> {
    client_urls(status, |_| true)
}

/// The voters' client URLs (learners left out), by slot.
pub fn voter_endpoints(status: &Value) -> Vec<String> {
    client_urls(status, |m| m["role"] != "learner")
}

/// The client URLs of the members `keep` keeps, by slot.
fn client_urls(status: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut members: Vec<(String, String)> = status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| keep(m))
        .filter_map(|m| Some((m["pod"].as_str()?.to_owned(), m["clientUrl"].as_str()?.to_owned())))
        .collect();
    members.sort();
    members.into_iter().map(|(_, url)| url).collect()
}

/// Why the cluster is not healed yet, or `None` when it is: a status observed after
/// `after` says Healthy with `members` healthy voters and no learner; etcd lists
/// exactly the desired voters (`etcd-0`..), and every member serves a linearizable read.
pub fn not_healed(
    rt: &tokio::runtime::Runtime,
    status: &Value,
    members: usize,
    after: jiff::Timestamp,
) -> Option<String> {
    let observed = status["observedAt"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if observed.is_none_or(|t| t <= after) {
        return Some("no status observed after the fault yet".to_owned());
    }
    if status["phase"] != "Healthy" || support::healthy_members(status) != members {
        return Some(format!("phase {}, {} healthy", status["phase"], support::healthy_members(status)));
    }
    let all = status["members"].as_array().cloned().unwrap_or_default();
    if all.len() != members || all.iter().any(|m| m["role"] == "learner") {
        return Some(format!("{} members in the status, or a learner", all.len()));
    }
    let endpoints = endpoints_by_slot(status);
    if let Some(wrong) = wrong_member_list(&endpoints, members) {
        return Some(wrong);
    }
    rt.block_on(async {
        for endpoint in &endpoints {
            let answer = async {
                let mut c = Client::connect([endpoint.as_str()], Some(options())).await.ok()?;
                c.get("soak-probe", None).await.ok()
            };
            if tokio::time::timeout(Duration::from_secs(2), answer).await.ok().flatten().is_none() {
                return Some(format!("{endpoint} serves no linearizable read"));
            }
        }
        None
    })
}

/// What is wrong with etcd's member list, if anything: it must hold exactly the voters
/// `etcd-0`..`etcd-{members-1}`, started (named), no learner, no phantom.
pub fn wrong_member_list(endpoints: &[String], members: usize) -> Option<String> {
    let Some(list) = support::try_member_list(endpoints) else {
        return Some("no member list".to_owned());
    };
    let names: BTreeSet<String> = list.iter().map(|(_, name, _)| name.clone()).collect();
    let wanted: BTreeSet<String> = (0..members).map(|i| format!("etcd-{i}")).collect();
    (list.len() != members || names != wanted || list.iter().any(|(_, _, learner)| *learner))
        .then(|| format!("member list {list:?}"))
}

/// Equal HashKV on every member, polled up to `timeout` (a member may lag a moment).
pub fn hashes_equal(endpoints: &[String], timeout: Duration) -> Result<Vec<u32>, String> {
    let mut last = None;
    let equal = support::wait_for_or_none(timeout, || {
        let hashes = support::try_hashkv(endpoints)?;
        last = Some(hashes.clone());
        hashes.windows(2).all(|w| w[0] == w[1]).then_some(hashes)
    });
    equal.ok_or_else(|| format!("hashkv differs or is not answered: {last:?}"))
}

/// The acknowledged writes a member does not hold (a serializable read of its own
/// store), once it has caught up; polled up to `timeout`.
pub fn missing_on(
    rt: &tokio::runtime::Runtime,
    endpoint: &str,
    acked: &[u64],
    timeout: Duration,
) -> Result<Vec<u64>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let read = rt.block_on(read_all(endpoint));
        match read {
            Ok(found) => {
                let missing: Vec<u64> =
                    acked.iter().copied().filter(|n| found.get(n) != Some(&load::value(*n))).collect();
                if missing.is_empty() || Instant::now() >= deadline {
                    return Ok(missing);
                }
            }
            Err(e) if Instant::now() >= deadline => return Err(format!("{endpoint}: {e}")),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every `soak/` key of one member's own store, by write number, a page at a time.
async fn read_all(endpoint: &str) -> Result<std::collections::HashMap<u64, String>, etcd_client::Error> {
    let mut c = Client::connect([endpoint], Some(options())).await?;
    let mut found = std::collections::HashMap::new();
    let mut from = "soak/".to_owned();
    loop {
        let page = GetOptions::new().with_range("soak0").with_limit(5000).with_serializable();
        let resp = c.get(from.as_str(), Some(page)).await?;
        for kv in resp.kvs() {
            let key = kv.key_str().unwrap_or_default();
            if let Some(n) = key.strip_prefix("soak/").and_then(|n| n.parse::<u64>().ok()) {
                found.insert(n, kv.value_str().unwrap_or_default().to_owned());
            }
        }
        match resp.kvs().last() {
            Some(last) if resp.more() => from = format!("{}\0", last.key_str().unwrap_or_default()),
            _ => return Ok(found),
        }
    }
}
