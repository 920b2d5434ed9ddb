//! The controller binary against the fake DC/OS when DC/OS misbehaves (a 502 storm,
//! malformed JSON, tokens refused or expired, a stub task), when the service grows
//! through Cosmos, and when the manifest pauses it.

use crate::support;
use std::time::Duration;

use crate::support::dcos::{FakeDcos, FakeOptions, Fault, PeerForm, backup_section};
use crate::support::{
    Harness, assert_holds, assert_holds_over_passes, condition, count_events, member, passes, wait_for,
};

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);

/// Requests that change the service: never made on a misread observation.
fn changes(fake: &FakeDcos) -> usize {
    fake.count("POST", "/replace")
        + fake.count("POST", "/restart")
        + fake.count("POST", "/cosmos/service/update")
}

/// The default fake (three pods) and a daemon whose manifest has `extra`, once the
/// three members are healthy.
fn healthy_three(extra: &str) -> (FakeDcos, Harness) {
    let fake = FakeDcos::start(FakeOptions::default());
    let h = Harness::start();
    h.apply("c.yaml", &fake.manifest("kubernetes", extra));
    h.wait_healthy("kubernetes", 3, BOOT);
    (fake, h)
}

#[test]
fn a_502_storm_garbage_refused_and_expired_tokens_and_a_stub_task_never_lead_to_a_change() {
    let (fake, h) = healthy_three("  recovery:\n    restartGrace: 1s\n    agentLostAfter: 1s\n");
    fake.put_keys("k", 30);
    let unreachable = |s: &serde_json::Value| condition(s, "PlatformUnreachable")["status"] == "True";
    // 30 s of Admin Router's 502 for everything, the IAM too.
    fake.fail_for(Duration::from_secs(30), Fault::Status(502));
    let storm = h.wait_status("kubernetes", "PlatformUnreachable", HEAL, unreachable);
    let message = condition(&storm, "PlatformUnreachable")["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("502") && message.contains("nothing was done"), "{message}");
    h.wait_status("kubernetes", "the storm over", HEAL, |s| !unreachable(s) && s["phase"] == "Healthy");
    // Malformed JSON: a shape error, the same condition, nothing done.
    fake.fail_for(Duration::from_secs(3), Fault::Garbage);
    h.wait_status("kubernetes", "garbage seen", HEAL, unreachable);
    h.wait_status("kubernetes", "garbage over", HEAL, |s| !unreachable(s));
    // A token refused mid-run, then short-lived tokens that expire between passes.
    let logins = fake.count("POST", "/acs/api/v1/auth/login");
    fake.expire_tokens();
    fake.set_token_life(Duration::from_secs(2));
    wait_for("two more logins", HEAL, || {
        (fake.count("POST", "/acs/api/v1/auth/login") >= logins + 2).then_some(())
    });
    let before = passes(&h, "kubernetes");
    wait_for("passes after the new logins", HEAL, || (passes(&h, "kubernetes") > before + 5).then_some(()));
    let status = h.status("kubernetes").expect("status");
    assert!(!unreachable(&status), "a refused token is a new login, not an outage: {status:#}");
    // A stub peer while its task runs: progress of a replace that nobody asked for;
    // never a reason to restart or replace.
    fake.stub_peer("etcd-1", true);
    h.wait_status("kubernetes", "etcd-1 shown not launched", HEAL, |s| {
        member(s, "etcd-1")["task"]["state"] == "notLaunched"
    });
    assert_holds_over_passes(&h, "kubernetes", "nothing done about the stub", Duration::from_secs(4), || {
        changes(&fake) == 0
    });
    fake.stub_peer("etcd-1", false);
    h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(changes(&fake), 0, "no replace, restart or Cosmos update at any point");
    assert_eq!(count_events(&h, "kubernetes", "PlatformUnreachable"), 2, "one event per outage");
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 30);
    }
}

#[test]
fn high_availability_is_refused_without_a_fresh_backup_then_one_cosmos_update_grows_it_to_three() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeDcos::start(FakeOptions { pods: 1, ..FakeOptions::default() });
    let h = Harness::start();
    // A short grace: the deploy plan keeps etcd-0 down longer while it rolls it.
    let extra = format!("{}  recovery:\n    restartGrace: 1s\n", backup_section(dir.path()));
    h.apply("one.yaml", &fake.manifest_ha("kubernetes", false, &extra));
    h.wait_healthy("kubernetes", 1, BOOT);
    fake.put_keys("k", 120);
    let rolled = fake.pid("etcd-0");
    let three = h.manifest("three.yaml", &fake.manifest_ha("kubernetes", true, &extra));
    let three = three.to_str().expect("utf-8 path");
    let refused = h.cli(&["apply", "-f", three]);
    assert!(!refused.status.success(), "refused at apply without a fresh backup");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("etcd-warden backup kubernetes"), "{said}");
    assert_holds_over_passes(
        &h,
        "kubernetes",
        "no Cosmos update without a backup",
        Duration::from_secs(3),
        || changes(&fake) == 0,
    );
    assert_eq!(h.status("kubernetes").expect("status")["desiredMembers"], 1, "nothing changed");
    h.cli_ok(&["backup", "kubernetes"]);
    h.cli_ok(&["apply", "-f", three]);
    // The SDK's deploy plan kills etcd-0 and relaunches it with its new task spec
    // before it adds etcd-1 and etcd-2: down past restartGrace, on purpose.
    let grown = h.wait_healthy("kubernetes", 3, HEAL);
    assert_ne!(fake.pid("etcd-0"), rolled, "the deploy plan relaunched etcd-0");
    assert_eq!(
        fake.count("POST", "/restart") + fake.count("POST", "/replace"),
        0,
        "nothing asked during the rollout"
    );
    assert_eq!(fake.count("POST", "/cosmos/service/update"), 1, "exactly one update");
    let update =
        fake.requests().into_iter().find(|r| r.path.ends_with("/cosmos/service/update")).expect("update");
    let body: serde_json::Value = serde_json::from_str(&update.body).expect("JSON body");
    assert_eq!(body["options"]["kubernetes"]["high_availability"], true, "{body}");
    assert_eq!(grown["members"].as_array().map(Vec::len), Some(3));
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 120);
    }
    assert_eq!(count_events(&h, "kubernetes", "RequestScaleUp"), 1);
    assert_holds_over_passes(&h, "kubernetes", "never a second update", Duration::from_secs(3), || {
        fake.count("POST", "/cosmos/service/update") == 1
    });
}

#[test]
fn a_cosmos_update_refused_for_longer_than_fresh_for_is_sent_again_only_behind_a_fresh_backup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeDcos::start(FakeOptions { pods: 1, ..FakeOptions::default() });
    let h = Harness::start();
    // Backups are fresh for 3 s only.
    let backup = backup_section(dir.path()).replace("freshFor: 15m", "freshFor: 3s");
    h.apply("one.yaml", &fake.manifest_ha("kubernetes", false, &backup));
    h.wait_healthy("kubernetes", 1, BOOT);
    fake.put_keys("k", 40);
    let forbidden = Duration::from_secs(8);
    fake.forbid_cosmos_updates_for(forbidden);
    let forbidden_until = std::time::Instant::now() + forbidden;
    h.cli_ok(&["backup", "kubernetes"]);
    let three = h.manifest("three.yaml", &fake.manifest_ha("kubernetes", true, &backup));
    h.cli_ok(&["apply", "-f", three.to_str().expect("utf-8 path")]);
    wait_for("the update refused with 403", HEAL, || {
        (fake.count("POST", "/cosmos/service/update") >= 1).then_some(())
    });
    // The 403 outlasts freshFor: the backup that admitted the scale-up is stale by then.
    wait_for("the 403s to end", HEAL, || (std::time::Instant::now() >= forbidden_until).then_some(()));
    let refused = fake.count("POST", "/cosmos/service/update");
    h.wait_status("kubernetes", "the scale-up blocked for want of a fresh backup", HEAL, |s| {
        condition(s, "ScaleUpBlocked")["status"] == "True"
    });
    assert_holds_over_passes(
        &h,
        "kubernetes",
        "no update on the stale backup",
        Duration::from_secs(4),
        || fake.count("POST", "/cosmos/service/update") == refused,
    );
    assert_eq!(h.status("kubernetes").expect("status")["members"].as_array().map(Vec::len), Some(1));
    // A fresh backup: exactly one more update, which grows the service.
    h.cli_ok(&["backup", "kubernetes"]);
    let grown = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(
        fake.count("POST", "/cosmos/service/update"),
        refused + 1,
        "one update, behind the fresh backup"
    );
    assert_eq!(grown["members"].as_array().map(Vec::len), Some(3));
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 40);
    }
}

#[test]
fn a_paused_cluster_is_observed_only() {
    let fake = FakeDcos::start(FakeOptions::default());
    let h = Harness::start();
    let recovery = "  recovery:\n    restartGrace: 1s\n    agentLostAfter: 1s\n";
    h.apply("c.yaml", &fake.manifest("kubernetes", &format!("  paused: true\n{recovery}")));
    h.wait_status("kubernetes", "Paused", BOOT, |s| s["phase"] == "Paused");
    fake.hold_restarts("etcd-1", true);
    fake.crash("etcd-1");
    fake.lose_agent("etcd-2");
    h.wait_status("kubernetes", "both seen down", HEAL, |s| {
        member(s, "etcd-1")["healthy"] == false && member(s, "etcd-2")["task"]["agentLost"] == true
    });
    let before = passes(&h, "kubernetes");
    wait_for("more passes", HEAL, || (passes(&h, "kubernetes") > before + 10).then_some(()));
    assert_eq!(changes(&fake), 0, "paused: no restart, no replace");
    // Unpaused, it acts.
    h.apply("c.yaml", &fake.manifest("kubernetes", recovery));
    wait_for("the restart and the replace", HEAL, || {
        (fake.count("POST", "/v1/pod/etcd-1/restart") == 1
            && fake.count("POST", "/v1/pod/etcd-2/replace") == 1)
            .then_some(())
    });
    h.wait_healthy("kubernetes", 3, HEAL);
}

/// A `recover` that keeps failing loops for ever in the SDK: its step DELAYED, then
/// launched again, the plan at 202 (`DeploymentStep.update`). The controller asks for
/// the replacement once and follows it quoting the step; past `operationDeadline` it
/// says the replacement is stuck, quoting the step, in a condition and in one event,
/// however the step moves, and never asks again. Once `recover` works, the slot heals
/// with every key.
#[test]
fn a_recover_that_keeps_failing_is_reported_stuck_quoting_its_step_and_never_asked_again() {
    let (fake, h) = healthy_three("  recovery:\n    agentLostAfter: 1s\n    operationDeadline: 20s\n");
    fake.put_keys("k", 100);
    fake.fail_recover(Some("etcdctl member add: context deadline exceeded"));
    fake.lose_agent("etcd-2");
    let quoted = |m: &str| m.contains("the replacement of etcd-2") && m.contains("step etcd-2:[recover]");
    let stuck = h.wait_status("kubernetes", "OperationStuck quoting the recover step", HEAL, |s| {
        let c = condition(s, "OperationStuck");
        c["status"] == "True" && c["message"].as_str().is_some_and(quoted)
    });
    assert_eq!(condition(&stuck, "OperationStuck")["reason"], "DeadlinePassed", "{stuck:#}");
    wait_for("the recover step failed twice", HEAL, || {
        (fake.step_failures().iter().filter(|f| f.starts_with("etcd-2:[recover]")).count() >= 2).then_some(())
    });
    assert_holds_over_passes(&h, "kubernetes", "never a second replace", Duration::from_secs(3), || {
        fake.count("POST", "/replace") == 1
    });
    let stuck_events = || {
        h.events("kubernetes")
            .into_iter()
            .filter(|e| e["reason"] == "Refused" && e["message"].as_str().is_some_and(quoted))
            .count()
    };
    assert_eq!(stuck_events(), 1, "one event, however the step moved: {:#?}", h.events("kubernetes"));
    fake.fail_recover(None);
    h.wait_status("kubernetes", "healed, no longer stuck", HEAL, |s| {
        s["phase"] == "Healthy"
            && support::healthy_members(s) == 3
            && condition(s, "OperationStuck")["status"] != "True"
    });
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 100);
    }
    assert_eq!(fake.count("POST", "/replace"), 1, "asked once in all");
    assert_eq!(fake.count("POST", "/restart"), 0);
}

/// An update that changes the etcd tasks: the SDK's deploy plan kills and relaunches
/// each etcd pod in turn, each down longer than `restartGrace`. The controller asks
/// for no restart or replace while the plan rolls them, says why, and acts again once
/// it is complete.
#[test]
fn while_the_deploy_plan_rolls_the_etcd_pods_nothing_is_asked_and_status_says_why() {
    // Each pod down 8 s, the grace 1 s: a pass sees a restart due (and held) whatever
    // the load on the machine.
    let fake = FakeDcos::start(FakeOptions { roll_delay: Duration::from_secs(8), ..FakeOptions::default() });
    let h = Harness::start();
    h.apply("c.yaml", &fake.manifest("kubernetes", "  recovery:\n    restartGrace: 1s\n"));
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 100);
    let pids: Vec<Option<u32>> = ["etcd-0", "etcd-1", "etcd-2"].iter().map(|p| fake.pid(p)).collect();
    fake.roll();
    h.wait_status("kubernetes", "a restart held during the rollout", HEAL, |s| {
        s["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["message"].as_str().is_some_and(|m| {
                    m.contains("held while the platform rolls its members itself (its deploy plan is IN_PROGRESS at step etcd-")
                        && m.contains("RequestRestart")
                })
            })
        })
    });
    wait_for("the deploy plan complete", HEAL, || fake.deployed().then_some(()));
    h.wait_healthy("kubernetes", 3, HEAL);
    let after: Vec<Option<u32>> = ["etcd-0", "etcd-1", "etcd-2"].iter().map(|p| fake.pid(p)).collect();
    assert!(pids.iter().zip(&after).all(|(a, b)| a != b), "every pod relaunched: {pids:?} {after:?}");
    assert_eq!(changes(&fake), 0, "no restart, replace or update asked during the rollout");
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 100);
    }
    // Complete: a crash held by the SDK is asked about again, as before.
    fake.hold_restarts("etcd-1", true);
    fake.crash("etcd-1");
    wait_for("one restart request", HEAL, || {
        (fake.count("POST", "/v1/pod/etcd-1/restart") == 1).then_some(())
    });
    h.wait_healthy("kubernetes", 3, HEAL);
}

/// The scheduler lists a pod but answers 404 for its status for a while: the
/// observation is incomplete, so the pass decides nothing and says so; the pod is
/// never taken for gone.
#[test]
fn a_404_on_one_pods_status_makes_the_pass_wait_never_act() {
    let (fake, h) = healthy_three("  recovery:\n    restartGrace: 1s\n    agentLostAfter: 1s\n");
    fake.fail_for(Duration::from_secs(10), Fault::PodStatusNotFound(1));
    let seen = h.wait_status("kubernetes", "the incomplete observation reported", HEAL, |s| {
        let c = condition(s, "PlatformUnreachable");
        c["status"] == "True"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("pod etcd-1") && m.contains("404 for its status"))
    });
    assert_eq!(seen["members"].as_array().map(Vec::len), Some(3), "etcd-1 is not dropped: {seen:#}");
    h.wait_status("kubernetes", "the observation complete again", HEAL, |s| {
        condition(s, "PlatformUnreachable")["status"] != "True" && s["phase"] == "Healthy"
    });
    assert_eq!(changes(&fake), 0, "nothing asked on an incomplete observation");
}

/// An operator pauses a pod (`pod pause`, the SDK's debugging procedure): its etcd
/// stops, past every window. It is never restarted or replaced, status says it is
/// paused and by whom; resumed, it serves again with every key.
#[test]
fn a_pod_an_operator_paused_is_never_restarted_or_replaced() {
    let (fake, h) = healthy_three(
        "  recovery:\n    restartGrace: 1s\n    agentLostAfter: 1s\n    unresponsiveAfter: 2s\n",
    );
    fake.put_keys("k", 50);
    fake.pause("etcd-1");
    let paused = h.wait_status("kubernetes", "etcd-1 shown paused", HEAL, |s| {
        member(s, "etcd-1")["task"]["state"] == "paused" && member(s, "etcd-1")["healthy"] == false
    });
    let said = paused.to_string();
    assert!(said.contains("etcd-1 is paused on the platform by an operator"), "{paused:#}");
    assert_holds_over_passes(
        &h,
        "kubernetes",
        "nothing asked about a paused pod",
        Duration::from_secs(5),
        || changes(&fake) == 0,
    );
    fake.resume("etcd-1");
    h.wait_healthy("kubernetes", 3, HEAL);
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 50);
    }
    assert_eq!(changes(&fake), 0);
}

/// Mesos loses sight of two agents (their `mesos-agent` down, or a partition between
/// master and agents) while etcd in them keeps serving: the tasks are `UNREACHABLE`,
/// the agents gone from the master. Members that answer as healthy voters are never
/// replaced nor counted lost: no replace, no `RestoreRequired`, and status says what
/// it sees. Seen again, nothing was changed.
#[test]
fn two_agents_dropped_from_mesos_with_etcd_serving_lead_to_no_replace_and_no_restore() {
    let (fake, h) = healthy_three(
        "  recovery:\n    restartGrace: 1s\n    agentLostAfter: 1s\n    unresponsiveAfter: 2s\n",
    );
    let before = h.status("kubernetes").expect("status");
    fake.put_keys("k", 50);
    fake.drop_from_mesos("etcd-1");
    fake.drop_from_mesos("etcd-2");
    let seen = h.wait_status("kubernetes", "both agents seen lost", HEAL, |s| {
        ["etcd-1", "etcd-2"].iter().all(|p| member(s, p)["task"]["agentLost"] == true)
    });
    assert_eq!(condition(&seen, "Degraded")["reason"], "PlatformDisagrees", "{seen:#}");
    let said = seen.to_string();
    for pod in ["etcd-1", "etcd-2"] {
        assert_eq!(member(&seen, pod)["healthy"], true, "{seen:#}");
        assert!(
            said.contains(&format!(
                "{pod} answers healthy while the platform reports its task exited on a lost agent"
            )),
            "status says what it sees: {seen:#}"
        );
    }
    assert_holds_over_passes(&h, "kubernetes", "no replace, no restore", Duration::from_secs(5), || {
        let status = h.status("kubernetes").expect("status");
        changes(&fake) == 0 && condition(&status, "RestoreRequired")["status"] != "True"
    });
    fake.back_in_mesos("etcd-1");
    fake.back_in_mesos("etcd-2");
    let after = h.wait_status("kubernetes", "the agents seen again", HEAL, |s| {
        s["phase"] == "Healthy"
            && ["etcd-1", "etcd-2"].iter().all(|p| member(s, p)["task"]["agentLost"] == false)
    });
    for pod in ["etcd-0", "etcd-1", "etcd-2"] {
        assert_eq!(member(&after, pod)["id"], member(&before, pod)["id"], "{pod} is the same member");
    }
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 50);
    }
    assert_eq!(changes(&fake), 0);
}

/// kubernetes-cluster 2.4 and later grows etcd to five members (`etcd.5_etcd_nodes`,
/// high availability on). Cosmos forwards the update to the MKE service with our
/// token; the deploy plan rolls the three members in place, then adds two; behind the
/// backup gate, with every key on every member. As on the 2.x line's overlay network,
/// every pod listens on an address of its own and the same two ports.
#[test]
fn on_kubernetes_cluster_2_4_five_members_are_asked_through_cosmos_and_mke_behind_the_backup_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeDcos::start(FakeOptions {
        package: support::dcos::PACKAGE_2_4,
        peer_form: PeerForm::Overlay,
        ..FakeOptions::default()
    });
    let h = Harness::start_resolving(fake.names());
    h.apply("three.yaml", &fake.manifest_members("kubernetes", 3, &backup_section(dir.path())));
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 60);
    let five = h.manifest("five.yaml", &fake.manifest_members("kubernetes", 5, &backup_section(dir.path())));
    let five = five.to_str().expect("utf-8 path");
    assert!(!h.cli(&["apply", "-f", five]).status.success(), "refused without a fresh backup");
    h.cli_ok(&["backup", "kubernetes"]);
    h.cli_ok(&["apply", "-f", five]);
    h.wait_healthy("kubernetes", 5, HEAL);
    assert_eq!(fake.count("POST", "/cosmos/service/update"), 1, "exactly one update");
    let update =
        fake.requests().into_iter().find(|r| r.path.ends_with("/cosmos/service/update")).expect("update");
    let body: serde_json::Value = serde_json::from_str(&update.body).expect("JSON body");
    assert_eq!(body["options"]["etcd"]["5_etcd_nodes"], true, "{body}");
    assert_eq!(body["options"]["kubernetes"]["high_availability"], true, "{body}");
    let forwarded =
        fake.requests().into_iter().find(|r| r.path == "/service/kubernetes/service/update").expect("to MKE");
    assert_eq!(forwarded.header("authorization"), update.header("authorization"), "our token, forwarded");
    assert_eq!(fake.endpoints().len(), 5);
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 60);
    }
    assert_eq!(fake.count("POST", "/restart") + fake.count("POST", "/replace"), 0);
    // Five members on five addresses, one port: none taken for another.
    let peers: std::collections::BTreeSet<String> =
        fake.try_member_list().expect("member list").into_iter().flat_map(|m| m.peer_urls).collect();
    let ports: std::collections::BTreeSet<&str> = peers.iter().filter_map(|u| u.rsplit(':').next()).collect();
    assert_eq!((peers.len(), ports.len()), (5, 1), "{peers:?}");
    let autoip = |i: usize| format!("etcd-{i}-peer.prodkubernetes.autoip.dcos.thisdcos.directory");
    for i in 0..5 {
        assert!(peers.iter().any(|p| p.starts_with(&format!("https://{}:", autoip(i)))), "{peers:?}");
    }
    let status = h.status("kubernetes").expect("status");
    let ids: std::collections::BTreeSet<String> = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["healthy"] == true)
        .map(|m| m["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 5, "five members, each its own: {status}");
}

/// On the 2.x line's overlay every member is named by its autoip name, and a name
/// resolves only while its task runs (the fake's hosts file, the daemon's own). A
/// member whose task is down is seen down for that reason, restarted in place once
/// when the SDK does not relaunch it, and a member whose agent is lost is replaced
/// once under the same name: every key is back on every member.
#[test]
fn on_the_overlay_a_member_whose_task_is_down_has_no_name_and_is_restarted_or_replaced_as_on_the_host_network()
 {
    let fake = FakeDcos::start(FakeOptions {
        package: support::dcos::PACKAGE_2_4,
        peer_form: PeerForm::Overlay,
        ..FakeOptions::default()
    });
    let names = fake.names().expect("the overlay form names its pods");
    let h = Harness::start_resolving(Some(names.clone()));
    h.apply(
        "c.yaml",
        &fake.manifest("kubernetes", "  recovery:\n    restartGrace: 3s\n    agentLostAfter: 2s\n"),
    );
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 80);
    let name = "etcd-1-peer.prodkubernetes.autoip.dcos.thisdcos.directory";
    assert!(names.listed().iter().any(|n| n == name), "{:?}", names.listed());
    fake.hold_restarts("etcd-1", true);
    fake.crash("etcd-1");
    let down = h.wait_status("kubernetes", "etcd-1 down, its name gone", HEAL, |s| {
        member(s, "etcd-1")["error"].as_str().unwrap_or_default().contains("does not resolve")
    });
    assert!(!names.listed().iter().any(|n| n == name), "no name while the task is down");
    assert_eq!(condition(&down, "Available")["status"], "True", "{down:#}");
    wait_for("one restart request", HEAL, || {
        (fake.count("POST", "/v1/pod/etcd-1/restart") == 1).then_some(())
    });
    h.wait_healthy("kubernetes", 3, HEAL);
    fake.lose_agent("etcd-2");
    wait_for("one replace request", HEAL, || {
        (fake.count("POST", "/v1/pod/etcd-2/replace") == 1).then_some(())
    });
    let healed = h.wait_healthy("kubernetes", 3, HEAL);
    let members = wait_for("three started members", HEAL, || {
        fake.try_member_list().ok().filter(|m| m.len() == 3 && m.iter().all(|m| !m.name.is_empty()))
    });
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 80);
    }
    assert!(
        members.iter().all(|m| m
            .peer_urls
            .iter()
            .all(|u| u.contains(".prodkubernetes.autoip.dcos.thisdcos.directory:"))),
        "{members:?}"
    );
    assert_eq!((fake.count("POST", "/restart"), fake.count("POST", "/replace")), (1, 1), "{healed:#}");
}

/// The 1.x line runs 1 or 3 etcd members: a manifest asking for 5 is refused with what
/// to do, nothing is sent to Cosmos but the describe, and nothing is asked again.
#[test]
fn on_the_1_x_line_five_members_are_refused_with_a_clear_message_and_nothing_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeDcos::start(FakeOptions::default());
    let h = Harness::start();
    h.apply("three.yaml", &fake.manifest_members("kubernetes", 3, &backup_section(dir.path())));
    h.wait_healthy("kubernetes", 3, BOOT);
    h.cli_ok(&["backup", "kubernetes"]);
    h.apply("five.yaml", &fake.manifest_members("kubernetes", 5, &backup_section(dir.path())));
    let refused = h.wait_status("kubernetes", "ScaleUpBlocked: beyond the platform", HEAL, |s| {
        condition(s, "ScaleUpBlocked")["reason"] == "BeyondPlatform"
    });
    let message = condition(&refused, "ScaleUpBlocked")["message"].as_str().unwrap_or_default().to_owned();
    for words in
        ["kubernetes 1.3.1-1.10.8", "kubernetes-cluster 2.4", "etcd.5_etcd_nodes", "spec.members to 3"]
    {
        assert!(message.contains(words), "{words:?} missing from {message}");
    }
    assert_holds_over_passes(
        &h,
        "kubernetes",
        "never sent, never asked again",
        Duration::from_secs(3),
        || changes(&fake) == 0 && fake.count("POST", "/cosmos/service/describe") == 1,
    );
    assert_eq!(support::healthy_members(&refused), 3);
}

/// One pod's client port serves a certificate from a CA the controller's TLS files do
/// not name, while its etcd runs in the cluster (its peer port keeps the cluster's
/// certificate). Its metrics port (the package's 2381 beside 2379, plain HTTP; here on
/// the overlay form) names the member and a leader: status says the client connection
/// fails, not the member, and it is never replaced for it, three `unresponsiveAfter`
/// windows on. Every key stays on the others.
#[test]
fn a_member_whose_tls_handshake_fails_while_its_metrics_port_vouches_for_it_is_never_replaced() {
    let fake = FakeDcos::start(FakeOptions {
        package: support::dcos::PACKAGE_2_4,
        peer_form: PeerForm::Overlay,
        ..FakeOptions::default()
    });
    let h = Harness::start_resolving(fake.names());
    h.apply("c.yaml", &fake.manifest("kubernetes", "  recovery:\n    unresponsiveAfter: 5s\n"));
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 50);
    fake.foreign_client_certificate("etcd-1");
    let seen = h.wait_status("kubernetes", "the client connection named as what fails", HEAL, |s| {
        condition(s, "Degraded")["reason"] == "ClientConnectionFails"
    });
    let message = condition(&seen, "Degraded")["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("etcd runs with a leader on etcd-1"), "{message}");
    let error = member(&seen, "etcd-1")["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("its metrics port answers as member"), "{error}");
    assert_eq!(condition(&seen, "Available")["status"], "True", "two members answer: {seen:#}");
    let before = passes(&h, "kubernetes");
    assert_holds("never replaced past unresponsiveAfter", Duration::from_secs(15), || {
        fake.count("POST", "/replace") == 0
    });
    assert!(passes(&h, "kubernetes") >= before + 3, "the controller kept deciding meanwhile");
    let still = h.status("kubernetes").expect("status");
    assert_eq!(condition(&still, "Degraded")["reason"], "ClientConnectionFails", "{still:#}");
    for pod in ["etcd-0", "etcd-2"] {
        fake.assert_keys_on(&fake.endpoint(pod), "k", 50);
    }
}

/// A Cosmos update whose answer is lost after Cosmos acted (Admin Router's 504), and a
/// Marathon deployment of the scheduler that outlasts the minute the platform has to
/// show the update: the controller would ask once more, but never while Marathon
/// deploys the service; once the deployment is over, the deploy plan rolling settles
/// the update as made. One update in all; three members with every key.
#[test]
fn a_cosmos_update_whose_answer_was_lost_is_never_sent_again_while_marathon_deploys_and_is_settled_by_the_deploy_plan()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeDcos::start(FakeOptions {
        pods: 1,
        marathon_deploy: Duration::from_secs(75),
        ..FakeOptions::default()
    });
    let h = Harness::start();
    let extra = format!("{}  recovery:\n    restartGrace: 1s\n", backup_section(dir.path()));
    h.apply("one.yaml", &fake.manifest_ha("kubernetes", false, &extra));
    h.wait_healthy("kubernetes", 1, BOOT);
    fake.put_keys("k", 40);
    h.cli_ok(&["backup", "kubernetes"]);
    fake.lose_next_update_answer(true);
    h.apply("three.yaml", &fake.manifest_ha("kubernetes", true, &extra));
    let uncertain = h.wait_status("kubernetes", "the update's lost answer followed", HEAL, |s| {
        s.to_string().contains("got no certain answer")
    });
    assert_eq!(uncertain["desiredMembers"], 3, "{uncertain:#}");
    // Past the minute, while the deployment runs: asked, found busy, nothing sent.
    wait_for("the update asked once more and held back", Duration::from_secs(120), || {
        let busy = h.events("kubernetes").iter().any(|e| e.to_string().contains("Marathon deployment"));
        busy.then_some(())
    });
    assert_eq!(fake.count("POST", "/cosmos/service/update"), 1, "never sent while Marathon deploys");
    h.wait_healthy("kubernetes", 3, Duration::from_secs(180));
    assert_eq!(fake.count("POST", "/cosmos/service/update"), 1, "settled as made: one update in all");
    assert!(fake.count("GET", "/service/marathon/v2/deployments") >= 2, "read before each ask");
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 40);
    }
    assert_holds_over_passes(&h, "kubernetes", "never a second update", Duration::from_secs(3), || {
        fake.count("POST", "/cosmos/service/update") == 1
    });
}
