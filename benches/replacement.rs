//! Benchmark (not a test): time from `kill -9` plus data wipe of one member of a
//! 3-member cluster holding BENCH_MB megabytes (default 100) to 3 healthy, caught-up
//! voting members. Side by side in one run:
//!
//! - manual: the etcdctl procedure an SRE would script (member remove, member add,
//!   start etcd with `--initial-cluster-state existing`), with the controller paused;
//! - etcd-warden: the controller on its own (`agentLostAfter: 1s`, resync 300 ms).
//!
//! The member killed is drawn at random in each cluster (`BENCH_SEED=<n>` repeats a
//! draw), whatever its role; `BENCH_KILL=leader` or `follower` makes etcd-2 that role
//! first instead.
//!
//! Run: `cargo bench --bench replacement` (prints the figures; see docs/benchmarks.md).

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;
use support::{Harness, endpoints, local_manifest, member, signal, wait_for};

const DEADLINE: Duration = Duration::from_secs(600);
const VALUE: usize = 256 * 1024;

fn fill(eps: &[String], megabytes: usize) {
    let count = megabytes * 1024 * 1024 / VALUE;
    let value = "x".repeat(VALUE);
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        let mut c = etcd_client::Client::connect(eps, None).await.expect("connect");
        for i in 0..count {
            c.put(format!("bench/{i:05}"), value.clone(), None).await.expect("put");
        }
    });
}

fn try_etcdctl(endpoint: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    try_etcdctl(endpoint, args).unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}"))
}

/// As a script would: retry etcd 3.4's "unhealthy cluster" right after a peer is lost.
fn etcdctl_retrying(endpoint: &str, args: &[&str]) -> String {
    wait_for("etcdctl to succeed", DEADLINE, || match try_etcdctl(endpoint, args) {
        Ok(out) => Some(out),
        Err(e) if e.contains("unhealthy cluster") => None,
        Err(e) => panic!("etcdctl {args:?}: {e}"),
    })
}

/// The revision of every endpoint, or `None` if one does not answer.
fn revisions(eps: &[String]) -> Option<Vec<i64>> {
    eps.iter()
        .map(|ep| {
            let out = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args([
                    &format!("--endpoints={ep}"),
                    "endpoint",
                    "status",
                    "-w",
                    "json",
                    "--command-timeout=2s",
                ])
                .output()
                .ok()?;
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            v[0]["Status"]["header"]["revision"].as_i64()
        })
        .collect()
}

/// Each endpoint's (member ID, leader ID), or `None` if one does not answer.
fn leaders(eps: &[String]) -> Option<Vec<(u64, u64)>> {
    eps.iter()
        .map(|ep| {
            let out = try_etcdctl(ep, &["endpoint", "status", "-w", "json", "--command-timeout=2s"]).ok()?;
            let v: Value = serde_json::from_str(&out).ok()?;
            let status = &v[0]["Status"];
            Some((status["header"]["member_id"].as_u64()?, status["leader"].as_u64()?))
        })
        .collect()
}

/// Whether the member at `ep` leads.
fn leads(ep: &str) -> bool {
    leaders(&[ep.to_owned()]).is_some_and(|l| l[0].0 == l[0].1)
}

/// As a careful script would: wait until a survivor leads. Right after the leader is
/// killed the survivors still name it, and etcd forwards a member change to it: the
/// call hangs until etcdctl's 5 s timeout.
fn wait_for_live_leader(survivors: &[String]) {
    wait_for("a survivor to lead", DEADLINE, || {
        let all = leaders(survivors)?;
        all.iter().any(|(id, leader)| id == leader).then_some(())
    });
}

/// Makes etcd-2, the member to be killed, the leader (`lead`) or a follower, so that
/// both clusters lose a member of the same role (`BENCH_KILL=leader` or `follower`).
/// Killing the leader adds etcd's election (1 to 2 s) to both procedures.
fn set_role(status: &Value, lead: bool) {
    let url = |pod: &str| member(status, pod)["clientUrl"].as_str().expect("client url").to_owned();
    let eps: Vec<String> = ["etcd-0", "etcd-1", "etcd-2"].iter().map(|p| url(p)).collect();
    let all = wait_for("every member to answer", DEADLINE, || leaders(&eps));
    let (leader_at, target) =
        if lead { (eps.iter().position(|e| leads(e)), all[2].0) } else { (Some(2), all[0].0) };
    if leads(&eps[2]) != lead {
        let from = &eps[leader_at.expect("a leader")];
        etcdctl(from, &["move-leader", &format!("{target:x}")]);
    }
    wait_for("etcd-2's role", DEADLINE, || (leads(&eps[2]) == lead).then_some(()));
}

/// Kills a member and waits until its process is gone: the failure has fully
/// happened (a 100 MB member takes a moment to release its ports).
fn kill_and_reap(pid: u64) {
    signal(pid, Signal::KILL);
    wait_for("the killed member to be gone", DEADLINE, || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("X");
        matches!(state, "Z" | "X").then_some(())
    });
}

fn caught_up(eps: &[String]) -> bool {
    revisions(eps).is_some_and(|r| r.len() == 3 && r.windows(2).all(|w| w[0] == w[1]))
}

/// How long a cluster runs before a member is killed: etcd 3.4 refuses a member add
/// ("unhealthy cluster") for 5 s after its peers connect, which a cluster that has been
/// serving is long past; a younger one would time etcd's start-up, not the repair.
const WARM: Duration = Duration::from_secs(6);

fn cluster(h: &Harness, name: &str, megabytes: usize) -> (Value, Instant) {
    h.apply(&format!("{name}.yaml"), &local_manifest(name, 3, "    agentLostAfter: 1s\n"));
    let status = h.wait_healthy(name, 3, DEADLINE);
    let started = Instant::now();
    fill(&endpoints(&status), megabytes);
    eprintln!("{name}: wrote {megabytes} MB in {:.1} s", started.elapsed().as_secs_f64());
    (status, started)
}

/// Waits until the cluster healthy at `since` has run for [`WARM`].
fn warm(since: Instant) {
    std::thread::sleep(WARM.saturating_sub(since.elapsed()));
}

/// The pods of a 3-member cluster but `victim`.
fn others(victim: &str) -> Vec<&'static str> {
    ["etcd-0", "etcd-1", "etcd-2"].into_iter().filter(|p| *p != victim).collect()
}

/// A member drawn at random: from `BENCH_SEED` when it is set, else from the seed std
/// draws for its hash maps, printed so that a run can be repeated.
fn draw(cluster: &str) -> &'static str {
    use std::hash::{BuildHasher, Hasher};
    let seed = std::env::var("BENCH_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or_else(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write(cluster.as_bytes());
        hasher.finish()
    });
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write_u64(seed);
    hasher.write(cluster.as_bytes());
    let pod = ["etcd-0", "etcd-1", "etcd-2"][(hasher.finish() % 3) as usize];
    eprintln!("{cluster}: seed {seed}: {pod} is killed");
    pod
}

fn manual(h: &Harness, status: &Value, pod: &str) -> (Duration, std::process::Child) {
    let victim = member(status, pod);
    let survivors: Vec<String> = others(pod)
        .iter()
        .map(|p| member(status, p)["clientUrl"].as_str().expect("url").to_owned())
        .collect();
    let data_dir = victim["task"]["dataDir"].as_str().expect("data dir").to_owned();
    let client = victim["clientUrl"].as_str().expect("client url").to_owned();
    let list = etcdctl(&survivors[0], &["member", "list", "-w", "json"]);
    let list: Value = serde_json::from_str(&list).expect("member list JSON");
    let members = list["members"].as_array().expect("members").clone();
    let old = members.iter().find(|m| m["name"] == pod).expect("the victim listed");
    let old_id = format!("{:x}", old["ID"].as_u64().expect("id"));
    let peer_url = old["peerURLs"][0].as_str().expect("peer url").to_owned();
    let led = leads(&client);
    kill_and_reap(victim["task"]["pid"].as_u64().expect("pid"));
    std::fs::remove_dir_all(&data_dir).expect("wipe");
    let started = Instant::now();
    wait_for_live_leader(&survivors);
    eprintln!(
        "manual: the killed member led: {led}; a survivor leads after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    etcdctl(&survivors[0], &["member", "remove", &old_id]);
    let added = etcdctl_retrying(&survivors[0], &["member", "add", pod, &format!("--peer-urls={peer_url}")]);
    let initial =
        added.lines().find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=")).expect("initial cluster");
    let initial = initial.trim_matches('"').to_owned();
    // As a careful script would: start etcd once its ports are free again.
    for url in [&client, &peer_url] {
        let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        wait_for("the member's port to be free", DEADLINE, || {
            std::net::TcpListener::bind(("127.0.0.1", port)).ok()
        });
    }
    let log = std::fs::File::create(h.dir.path().join(format!("manual-{pod}.log"))).expect("log");
    let etcd = Command::new("etcd")
        .args([
            &format!("--name={pod}"),
            &format!("--data-dir={data_dir}"),
            &format!("--listen-client-urls={client}"),
            &format!("--advertise-client-urls={client}"),
            &format!("--listen-peer-urls={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
            &format!("--initial-cluster={initial}"),
            "--initial-cluster-state=existing",
            "--logger=zap",
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start etcd by hand");
    let all: Vec<String> = survivors.iter().cloned().chain([client]).collect();
    wait_for("the manual replacement to catch up", DEADLINE, || caught_up(&all).then_some(()));
    (started.elapsed(), etcd)
}

fn automatic(h: &Harness, name: &str, status: &Value, pod: &str) -> (Duration, jiff::Timestamp, bool) {
    let victim = member(status, pod);
    let old_id = victim["id"].clone();
    let led = leads(victim["clientUrl"].as_str().expect("client url"));
    eprintln!("{name}: the killed member led: {led}");
    kill_and_reap(victim["task"]["pid"].as_u64().expect("pid"));
    std::fs::remove_dir_all(victim["task"]["dataDir"].as_str().expect("data dir")).expect("wipe");
    let started = Instant::now();
    let wall = jiff::Timestamp::now();
    wait_for("etcd-warden's replacement to catch up", DEADLINE, || {
        let s = h.status(name)?;
        let done = s["phase"] == "Healthy"
            && member(&s, pod)["id"] != old_id
            && s["members"].as_array()?.iter().all(|m| m["role"] != "learner" && m["healthy"] == true);
        (done && caught_up(&endpoints(&s))).then_some(())
    });
    (started.elapsed(), wall, led)
}

/// The daemon's log lines about `name` from `since` on, each with its offset: where
/// the time of the replacement goes.
fn timeline(h: &Harness, name: &str, since: jiff::Timestamp, until: Duration) -> Vec<String> {
    let ansi = |line: &str| {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                out.push(c);
            }
        }
        out
    };
    let logs = std::fs::read_dir(h.dir.path()).expect("test dir");
    let mut lines: Vec<(f64, String)> = logs
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("daemon-"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path()).unwrap_or_default().lines().map(ansi).collect::<Vec<_>>()
        })
        .filter(|l| l.contains(&format!("cluster={name}")))
        .filter_map(|l| {
            let (at, rest) = l.split_once(' ')?;
            let offset = at.parse::<jiff::Timestamp>().ok()?.duration_since(since).as_secs_f64();
            (-0.2..until.as_secs_f64() + 0.5).contains(&offset).then(|| (offset, rest.trim().to_owned()))
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.into_iter().map(|(t, l)| format!("{t:>7.3} {}", l.chars().take(220).collect::<String>())).collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let megabytes: usize = std::env::var("BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut h = Harness::start();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        h.kill_daemon();
        h.start_daemon_with(&[("ETCD_WARDEN_LOG", "info,etcd_warden=debug")]);
    }
    let (manual_status, manual_since) = cluster(&h, "manual", megabytes);
    let (auto_status, auto_since) = cluster(&h, "auto", megabytes);
    let paused =
        local_manifest("manual", 3, "    agentLostAfter: 1s\n").replace("spec:\n", "spec:\n  paused: true\n");
    h.apply("manual-paused.yaml", &paused);
    h.wait_status("manual", "paused", DEADLINE, |s| s["phase"] == "Paused");
    let role = std::env::var("BENCH_KILL").ok().filter(|v| v == "leader" || v == "follower");
    let victim = |name: &str, status: &Value| match &role {
        Some(role) => {
            set_role(status, role == "leader");
            "etcd-2"
        }
        None => draw(name),
    };
    let manual_victim = victim("manual", &manual_status);
    let manual_led = leads(member(&manual_status, manual_victim)["clientUrl"].as_str().expect("client url"));
    warm(manual_since);
    let (manual, mut by_hand) = manual(&h, &manual_status, manual_victim);
    let auto_victim = victim("auto", &auto_status);
    warm(auto_since);
    let (automatic, since, auto_led) = automatic(&h, "auto", &auto_status, auto_victim);
    let steps: Vec<String> = h
        .events("auto")
        .iter()
        .filter(|e| e["rule"] == "4b-replace-lost-member")
        .map(|e| format!("{} {}", e["at"].as_str().unwrap_or(""), e["reason"].as_str().unwrap_or("")))
        .collect();
    let drawn = if role.is_some() { "chosen for its role" } else { "drawn at random" };
    let role = |led: bool| if led { "the leader" } else { "a follower" };
    println!(
        "replacement of 1 of 3 members ({drawn}) holding {megabytes} MB (kill -9 + data wipe -> 3 healthy caught-up voters)"
    );
    println!(
        "  manual etcdctl procedure (remove, add, start; no reaction time): {:>7.2} s  ({manual_victim}, {})",
        manual.as_secs_f64(),
        role(manual_led)
    );
    println!(
        "  etcd-warden (agentLostAfter 1s, resync 300ms, snapshot first):  {:>7.2} s  ({auto_victim}, {})",
        automatic.as_secs_f64(),
        role(auto_led)
    );
    println!(
        "  etcd-warden past its 1 s window: {:.2} s, {:.2} x the manual procedure (goal: at most 1.5 x)",
        automatic.as_secs_f64() - 1.0,
        (automatic.as_secs_f64() - 1.0) / manual.as_secs_f64()
    );
    println!("  ratio etcd-warden / manual: {:.2}", automatic.as_secs_f64() / manual.as_secs_f64());
    println!("  etcd-warden steps: {}", steps.join(", "));
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        println!("  etcd-warden timeline (seconds after the data was deleted):");
        for line in timeline(&h, "auto", since, automatic) {
            println!("    {line}");
        }
    }
    let _ = by_hand.kill();
    let _ = by_hand.wait();
}
