//! End to end: the binary, its CLI and real etcd members on this machine.

use crate::support;
use std::time::Duration;

use crate::support::{Harness, assert_keys, endpoints, local_manifest, member, put_keys, wait_for};
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(60);

fn kill9(pid: u64) {
    support::signal(pid, rustix::process::Signal::KILL);
}

fn pids(status: &Value) -> Vec<u64> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["task"]["pid"].as_u64().unwrap_or(0))
        .collect()
}

fn ids(status: &Value) -> Vec<String> {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn three_members_bootstrap_and_status_follows_the_spec_shape() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    let status = h.wait_healthy("kubernetes", 3, BOOT);
    assert_eq!(status["name"], "kubernetes");
    assert_eq!(status["desiredMembers"], 3);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(
        status["quorum"],
        serde_json::json!({"voting": 3, "healthy": 3, "needed": 2, "faultTolerance": 1})
    );
    let members = status["members"].as_array().expect("members");
    let installed = support::version_of(&support::etcd_binary());
    let pods: Vec<&str> = members.iter().map(|m| m["pod"].as_str().expect("pod")).collect();
    assert_eq!(pods, ["etcd-0", "etcd-1", "etcd-2"], "members in pod order");
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1, "one leader");
    for m in members {
        assert!(m["id"].as_str().is_some_and(|id| u64::from_str_radix(id, 16).is_ok()), "hex member id: {m}");
        assert!(m["task"]["pid"].as_u64().is_some(), "pid shown: {m}");
        assert!(
            m["task"]["dataDir"].as_str().is_some_and(|d| std::path::Path::new(d).is_dir()),
            "dataDir: {m}"
        );
        assert_eq!(m["task"]["state"], "running");
        assert_eq!(
            m["version"].as_str(),
            Some(installed.as_str()),
            "the etcd version each member reports: {m}"
        );
    }
    let available =
        status["conditions"].as_array().expect("conditions").iter().find(|c| c["type"] == "Available");
    assert_eq!(available.map(|c| c["status"].clone()), Some(Value::from("True")));
    put_keys(&endpoints(&status), "boot", 50);
    assert_keys(&endpoints(&status), "boot", 50);
    let table = h.cli_ok(&["status", "kubernetes"]);
    assert!(table.contains("Healthy") && table.contains("etcd-2"), "{table}");
    let list = h.cli_ok(&["status"]);
    assert!(list.contains("kubernetes") && list.contains("3/3"), "{list}");
    let metrics = support::http_get(&format!("{}/metrics", h.server())).expect("metrics");
    for name in [
        "etcd_warden_reconcile_passes_total",
        "etcd_warden_reconcile_duration_seconds",
        "etcd_warden_reconcile_errors",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

#[test]
fn five_members_bootstrap_as_voters_under_one_leader_and_serve() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 5, ""));
    let status = h.wait_healthy("kubernetes", 5, BOOT);
    assert_eq!(
        status["quorum"],
        serde_json::json!({"voting": 5, "healthy": 5, "needed": 3, "faultTolerance": 2})
    );
    let members = status["members"].as_array().expect("members");
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1, "one leader: {members:#?}");
    assert!(members.iter().all(|m| m["role"] != "learner"), "{members:#?}");
    let mut unique = ids(&status);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "five member IDs: {:?}", ids(&status));
    support::wait_member_lists_agree(&endpoints(&status), 5, BOOT);
    put_keys(&endpoints(&status), "five", 50);
    assert_keys(&endpoints(&status), "five", 50);
    // The flags the local platform launches etcd with are current for this version:
    // no member logs a deprecated or unknown flag.
    let logs = h.state_dir().join("clusters/kubernetes/platform/logs");
    for pod in ["etcd-0", "etcd-1", "etcd-2", "etcd-3", "etcd-4"] {
        let log = std::fs::read_to_string(logs.join(format!("{pod}.log"))).expect("member log");
        assert!(log.lines().count() > 10, "{pod} logged its start: {log}");
        let flagged: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.to_lowercase().contains("deprecated") || l.contains("flag provided but not defined")
            })
            .collect();
        assert!(flagged.is_empty(), "{pod} on etcd {:?}: {flagged:#?}", support::etcd_version());
    }
}

#[test]
fn single_member_bootstraps_and_a_killed_member_restarts_in_place() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("single", 1, ""));
    let before = h.wait_healthy("single", 1, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    if support::etcd_is_3_3() {
        // etcd 3.3 acknowledges a single member's write before its WAL holds it, and
        // loses it on a crash (etcd-io/etcd#14370, fixed in 3.4.21 and 3.5.5 only):
        // one more write, not counted, is acknowledged only once the 100 are on disk.
        put_keys(&endpoints(&before), "barrier", 1);
    }
    let pid = pids(&before)[0];
    kill9(pid);
    let after = h.wait_status("single", "a new process, healthy", HEAL, |s| {
        s["phase"] == "Healthy" && pids(s)[0] != pid && pids(s)[0] != 0
    });
    assert_eq!(ids(&after), ids(&before), "same member ID");
    assert_keys(&endpoints(&after), "k", 100);
}

#[test]
fn kill_9_of_one_member_shows_it_down_then_restarts_it_in_place_with_the_same_id() {
    let h = Harness::start();
    // A grace long enough to see the member down in status.
    h.apply("c.yaml", &local_manifest("kubernetes", 3, "").replace("restartGrace: 1s", "restartGrace: 3s"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    let victim = member(&before, "etcd-1");
    let pid = victim["task"]["pid"].as_u64().expect("pid");
    kill9(pid);
    // A pass may read the process list just before the kill and ask etcd just after
    // it: that status shows etcd-1 unhealthy and still running. The next pass sees the
    // process gone, and it stays gone for restartGrace.
    let down = h.wait_status("kubernetes", "etcd-1 shown down and exited", HEAL, |s| {
        member(s, "etcd-1")["healthy"] == false && member(s, "etcd-1")["task"]["state"] == "exited"
    });
    assert_eq!(down["phase"], "Degraded");
    assert_eq!(member(&down, "etcd-1")["task"]["state"], "exited");
    let after = h.wait_status("kubernetes", "etcd-1 restarted and healthy", HEAL, |s| {
        s["phase"] == "Healthy" && member(s, "etcd-1")["task"]["pid"].as_u64().is_some_and(|p| p != pid)
    });
    assert_eq!(ids(&after), ids(&before), "same member IDs: no membership change");
    assert_keys(&endpoints(&after), "k", 200);
    let events = h.events("kubernetes");
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"MemberDown"), "{reasons:?}");
    assert!(
        events.iter().any(|e| e["reason"] == "RestartInPlace" && e["rule"] == "3a/4a-restart-in-place"),
        "{events:#?}"
    );
}

#[test]
fn a_killed_daemon_leaves_etcd_serving_and_its_successor_adopts_the_members() {
    let mut h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "before", 50);
    h.kill_daemon();
    // etcd keeps serving reads and writes with no controller.
    put_keys(&endpoints(&before), "during", 50);
    assert_keys(&endpoints(&before), "before", 50);
    h.start_daemon();
    wait_for("the new daemon's first passes", HEAL, || {
        (support::passes(&h, "kubernetes") >= 2).then_some(())
    });
    let after = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(pids(&after), pids(&before), "the same member processes were adopted");
    assert_eq!(ids(&after), ids(&before));
    assert_keys(&endpoints(&after), "during", 50);
    let bootstraps = h.events("kubernetes").iter().filter(|e| e["reason"] == "Bootstrap").count();
    assert_eq!(bootstraps, 1, "no second bootstrap");
}

#[test]
fn a_failed_first_bootstrap_is_wiped_and_retried_then_reported_with_the_log() {
    let h = Harness::start();
    // A binary that fails the first time it runs and is etcd afterwards.
    let marker = h.dir.path().join("failed-once");
    let script = h.dir.path().join("flaky-etcd");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then exec {etcd} --version; fi\nif [ ! -e {m} ]; then touch {m}; echo 'flaky-etcd: simulated start failure' >&2; exit 1; fi\nexec {etcd} \"$@\"\n",
            m = marker.display(),
            etcd = support::etcd_binary()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let manifest = local_manifest("flaky", 1, "").replace(
        &format!("etcdBinary: {}", support::etcd_binary()),
        &format!("etcdBinary: {}", script.display()),
    );
    h.apply("c.yaml", &manifest);
    let healthy = h.wait_healthy("flaky", 1, BOOT);
    assert_eq!(healthy["phase"], "Healthy");
    let events = h.events("flaky");
    assert!(events.iter().any(|e| e["reason"] == "WipeFailedBootstrap"), "{events:#?}");
    assert!(events.iter().any(
        |e| e["reason"] == "Bootstrap" && e["message"].as_str().is_some_and(|m| m.contains("attempt 2"))
    ));

    // A binary that always fails: bounded attempts, then BootstrapFailed with its log.
    let broken = h.dir.path().join("broken-etcd");
    std::fs::write(&broken, "#!/bin/sh\necho 'broken-etcd: cannot start, disk on fire' >&2\nexit 3\n")
        .expect("script");
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let manifest = local_manifest("broken", 1, "    bootstrapAttempts: 2\n").replace(
        &format!("etcdBinary: {}", support::etcd_binary()),
        &format!("etcdBinary: {}", broken.display()),
    );
    h.apply("b.yaml", &manifest);
    let failed = h.wait_status("broken", "BootstrapFailed", BOOT, |s| s["phase"] == "Blocked");
    let condition = failed["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "BootstrapFailed").cloned())
        .expect("BootstrapFailed condition");
    assert_eq!(condition["status"], "True");
    assert!(condition["message"].as_str().is_some_and(|m| m.contains("disk on fire")), "{condition}");
    let wipes = h.events("broken").iter().filter(|e| e["reason"] == "WipeFailedBootstrap").count();
    assert_eq!(wipes, 1, "two attempts: one wipe between them");
    // It stays failed: five more passes make no further attempt.
    let passes = support::passes(&h, "broken");
    wait_for("five more passes", Duration::from_secs(30), || {
        (support::passes(&h, "broken") >= passes + 5).then_some(())
    });
    assert_eq!(h.status("broken").expect("status")["phase"], "Blocked");
    let bootstraps = h.events("broken").iter().filter(|e| e["reason"] == "Bootstrap").count();
    assert_eq!(bootstraps, 2, "exactly bootstrapAttempts launches");
}

fn mode(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).expect("metadata").permissions()) & 0o777
}

#[test]
fn delete_stops_members_and_keeps_their_data_and_purge_removes_it() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    // State files are private.
    let cluster_dir = h.state_dir().join("clusters").join("kubernetes");
    assert_eq!(mode(&h.state_dir()), 0o700);
    assert_eq!(mode(&cluster_dir), 0o700);
    for file in ["desired.json", "status.json", "history.json", "events.json", "platform/ports.json"] {
        assert_eq!(mode(&cluster_dir.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&cluster_dir.join("platform/logs/etcd-0.log")), 0o600);
    // How the cluster is, in the metrics: gone with it, so that no alert fires for it.
    let shown = || {
        let metrics = support::http_get(&format!("{}/metrics", h.server())).expect("metrics");
        let ours = ["etcd_warden_phase{", "etcd_warden_condition{", "etcd_warden_member_healthy{"];
        metrics
            .lines()
            .filter(|l| ours.iter().any(|p| l.starts_with(p)) && l.contains("cluster=\"kubernetes\""))
            .count()
    };
    assert!(shown() > 0, "the cluster's phase, conditions and members are in the metrics");
    h.cli_ok(&["delete", "kubernetes"]);
    assert_eq!(shown(), 0, "none left once it is deleted");
    for pid in pids(&before) {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'));
        assert!(!alive, "member {pid} still runs after delete");
    }
    assert!(h.status("kubernetes").is_none(), "no longer managed");
    // Applied again: the same members, with their data.
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    let again = h.wait_healthy("kubernetes", 3, BOOT);
    assert_eq!(ids(&again), ids(&before), "the same members came back");
    assert_keys(&endpoints(&again), "k", 100);
    h.cli_ok(&["delete", "kubernetes", "--purge"]);
    assert!(!cluster_dir.exists(), "purge removes every file of the cluster");
}

#[test]
fn a_token_guards_the_api_and_the_metrics_but_not_health() {
    let mut h = Harness::start();
    h.kill_daemon();
    h.start_daemon_with(&[("ETCD_WARDEN_TOKEN", "s3cret")]);
    let refused = h.cli(&["status"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bearer token"), "{refused:?}");
    let allowed = std::process::Command::new(support::BIN)
        .args(["status", "--token", "s3cret", "--server", &h.server()])
        .output()
        .expect("run");
    assert!(allowed.status.success(), "{allowed:?}");
    assert!(support::http_get(&format!("{}/healthz", h.server())).is_ok());
    let metrics = support::http_get(&format!("{}/metrics", h.server())).expect_err("metrics need the token");
    assert!(metrics.contains(" 401 "), "{metrics}");
}

/// SIGTERM stops the daemon: every cluster's worker is told to stop at once and waited
/// for within the shutdown deadline, the daemon exits 0 and says so, and the members
/// keep running (they outlive the controller by design).
#[test]
fn a_terminated_daemon_stops_every_worker_within_its_deadline_and_leaves_the_members_running() {
    let mut h = Harness::start();
    h.apply("a.yaml", &local_manifest("alpha", 1, ""));
    h.apply("b.yaml", &local_manifest("beta", 1, ""));
    let pids: Vec<u64> = ["alpha", "beta"]
        .iter()
        .map(|name| support::pid_of(&h.wait_healthy(name, 1, BOOT), "etcd-0"))
        .collect();
    let began = std::time::Instant::now();
    let exit = h.terminate_daemon(etcd_warden::controller::SHUTDOWN_DEADLINE + Duration::from_secs(10));
    println!("the daemon exited {exit} {:?} after SIGTERM", began.elapsed());
    assert!(exit.success(), "{exit}");
    assert!(h.daemon_log().contains("daemon stopped; members keep running"), "{}", h.daemon_log());
    for pid in pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "member {pid} still runs");
    }
}
