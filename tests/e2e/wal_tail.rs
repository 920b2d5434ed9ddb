//! The last acknowledged write survives a restore from one survivor (issue "The last
//! acknowledged write", item 1): a writer hammers a 3-member cluster, every member is
//! killed at once, two data directories are deleted, and the controller
//! restores from the third. Without the survivor's WAL tail replayed (`backup::wal`),
//! `--force-new-cluster` drops the entries past the commit index it had persisted, and
//! the last acknowledged writes with them.
//!
//! Each test repeats `ETCD_WARDEN_WAL_REPS` times (default 2); `scripts/wal-tail-reps`
//! runs 20 on each etcd version and prints the figures.

use crate::support;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Harness, data_dir_of, endpoints, local_manifest, member, pid_of};
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(180);

/// These scenarios kill and restore whole clusters: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn repetitions() -> usize {
    std::env::var("ETCD_WARDEN_WAL_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(2)
}

fn manifest(h: &Harness) -> String {
    format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n  policy:\n    quorumLoss: Restore\n    maxDataLoss: 1h\n",
        local_manifest("kubernetes", 3, "    agentLostAfter: 1s\n"),
        h.dir.path().join("backups").display()
    )
}

/// Writes `w/<n>` = `<n>` as fast as the cluster acknowledges, recording each
/// acknowledged key, until `stop`; a write that fails (the members are killed) ends it.
fn hammer(endpoints: Vec<String>, acked: Arc<Mutex<Vec<u64>>>, stop: Arc<AtomicBool>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(2));
        let mut client = etcd_client::Client::connect(&endpoints, Some(options)).await.expect("connect");
        for n in 0u64.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if client.put(format!("w/{n:08}"), n.to_string(), None).await.is_err() {
                break;
            }
            acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(n);
        }
    });
}

/// One repetition: hammer, kill every member at once while writes are in flight,
/// delete the data of all but the survivor (the leader, or a follower), restore, and
/// read every acknowledged key back. Returns how many were acknowledged and the
/// restore's report.
///
/// A kept follower is one the quorum included: the other follower is stopped while the
/// writer runs, so that every acknowledged write reached the survivor's WAL. A follower
/// outside the quorum may lack the last acknowledged writes altogether (the leader and
/// the other follower committed them); they are on the deleted members, and nothing
/// brings them back.
fn once(keep_leader: bool) -> (usize, Value) {
    let h = Harness::start();
    h.apply("c.yaml", &manifest(&h));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    support::put_keys(&endpoints(&before), "k", 10);
    h.cli_ok(&["backup", "kubernetes"]);
    let status = h.status("kubernetes").expect("status");
    let role = |m: &&Value| (m["role"] == "leader") == keep_leader;
    let survivor = status["members"]
        .as_array()
        .and_then(|m| m.iter().find(role))
        .and_then(|m| m["pod"].as_str())
        .expect("a member of that role")
        .to_owned();
    let mut writes_to = endpoints(&before);
    if !keep_leader {
        let other = status["members"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] != "leader" && m["pod"] != survivor.as_str()))
            .and_then(|m| m["pod"].as_str())
            .expect("the other follower");
        support::signal(pid_of(&before, other), rustix::process::Signal::STOP);
        let stopped = member(&before, other)["clientUrl"].as_str().expect("its client URL").to_owned();
        writes_to.retain(|e| *e != stopped);
    }
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (eps, acked, stop) = (writes_to, acked.clone(), stop.clone());
        std::thread::spawn(move || hammer(eps, acked, stop))
    };
    support::wait_for("writes acknowledged", BOOT, || {
        (acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() >= 300).then_some(())
    });
    // All three at once, as `kill -KILL p1 p2 p3` does it (one kill(2) per pid, back to
    // back), without depending on a `kill` binary.
    let pods = ["etcd-0", "etcd-1", "etcd-2"];
    let pids: Vec<u64> = pods.iter().map(|p| pid_of(&before, p)).collect();
    for pid in pids {
        support::signal(pid, rustix::process::Signal::KILL);
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("the writer");
    for pod in pods.into_iter().filter(|p| *p != survivor) {
        std::fs::remove_dir_all(data_dir_of(&before, pod)).expect("delete data");
    }
    let after = h.wait_status("kubernetes", "Healthy after a restore", HEAL, |s| {
        s["phase"] == "Healthy" && support::healthy_members(s) == 3 && s["restore"].is_object()
    });
    assert!(
        after["restore"]["from"]
            .as_str()
            .is_some_and(|f| f.contains(&format!("surviving member {survivor}"))),
        "{after:#}"
    );
    let acked = acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let present = support::keys_with_prefix(&endpoints(&after), "w/");
    let missing: Vec<u64> =
        acked.iter().copied().filter(|n| !present.contains(&format!("w/{n:08}"))).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost ({survivor} kept, leader: {keep_leader}): {missing:?}; restore {:#}",
        missing.len(),
        acked.len(),
        after["restore"]
    );
    // Keys written before the backup are there too, and for every member.
    for endpoint in endpoints(&after) {
        support::assert_keys(&[endpoint], "k", 10);
    }
    (acked.len(), after["restore"].clone())
}

fn repeat(keep_leader: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for rep in 1..=repetitions() {
        let (acked, report) = once(keep_leader);
        eprintln!(
            "wal-tail: survivor {} rep {rep}: {acked} acknowledged, 0 lost; tail {}",
            if keep_leader { "leader" } else { "follower" },
            report["walTail"]
        );
    }
}

#[test]
fn a_follower_survivors_wal_tail_is_replayed_and_no_acknowledged_write_is_lost() {
    repeat(false);
}

#[test]
fn a_leader_survivors_wal_tail_is_replayed_and_no_acknowledged_write_is_lost() {
    repeat(true);
}
