//! Self-healing end to end (scenarios 4a-4c): the binary, three real etcd members,
//! keys written first and every one read back after healing.

use crate::support;
use std::time::Duration;

use crate::support::{
    Harness, assert_keys, count_events, data_dir_of, endpoints, local_manifest, member, member_list, pid_of,
    put_keys, signal, wait_for,
};
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);

fn manifest(name: &str, recovery: &str) -> String {
    local_manifest(name, 3, recovery)
}

/// The events of a step that succeeded.
fn succeeded(h: &Harness, step: &str) -> Vec<Value> {
    h.events("kubernetes").into_iter().filter(|e| e["reason"] == step && e["kind"] == "Normal").collect()
}

/// Three healthy voters, no learner, equal hashes, and the `count` keys `k/`.
fn assert_converged(h: &Harness, name: &str, count: usize) -> Value {
    support::assert_converged(h, name, &[("k", count)], HEAL)
}

#[test]
fn a_member_killed_with_its_data_deleted_is_replaced_with_quorum_kept() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    agentLostAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 300);
    let old_id = member(&before, "etcd-1")["id"].clone();
    signal(pid_of(&before, "etcd-1"), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&before, "etcd-1")).expect("delete the data directory");
    h.wait_status("kubernetes", "etcd-1 seen lost", HEAL, |s| {
        member(s, "etcd-1")["task"]["agentLost"] == true
    });
    let after = assert_converged(&h, "kubernetes", 300);
    assert_ne!(member(&after, "etcd-1")["id"], old_id, "a new member took the slot");
    for step in support::replacement_steps() {
        // Taken once; a failed attempt before it (a Warning event) is retried, not repeated.
        let taken = succeeded(&h, step);
        assert_eq!(taken.len(), 1, "{step} exactly once: {taken:#?}");
    }
    // The snapshot may be taken while agentLostAfter runs; the wipe, the first change,
    // waits for its end.
    let at =
        |e: &Value| e["at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()).expect("event time");
    let down =
        h.events("kubernetes").into_iter().find(|e| e["reason"] == "MemberDown" && e["pod"] == "etcd-1");
    let down = at(&down.expect("etcd-1 seen down"));
    let snapshot = at(&succeeded(&h, "SnapshotBeforeReplace")[0]);
    let wipe = at(&succeeded(&h, "WipeMember")[0]);
    assert!(snapshot < wipe, "the snapshot comes first");
    assert!(wipe >= down + jiff::SignedDuration::from_secs(1), "wiped at {wipe}, seen down at {down}");
}

#[test]
fn a_lost_leader_is_replaced_once_the_survivors_elect_another_without_a_timed_out_change() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    agentLostAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 50);
    let leader = ["etcd-0", "etcd-1", "etcd-2"]
        .into_iter()
        .find(|p| member(&before, p)["role"] == "leader")
        .expect("a leader");
    signal(pid_of(&before, leader), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&before, leader)).expect("delete the data directory");
    assert_converged(&h, "kubernetes", 50);
    // The removal waited for the new leader: it was never sent to the dead one and
    // left to time out.
    let failed: Vec<Value> = h
        .events("kubernetes")
        .into_iter()
        .filter(|e| e["kind"] == "Warning" && e["rule"] == "4b-replace-lost-member")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(succeeded(&h, "RemoveMember").len(), 1);
}

#[test]
fn a_member_suspended_past_unresponsive_after_is_replaced() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    unresponsiveAfter: 3s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    signal(pid_of(&before, "etcd-2"), Signal::STOP);
    h.wait_status("kubernetes", "etcd-2 seen suspended", HEAL, |s| {
        member(s, "etcd-2")["task"]["state"] == "suspended"
    });
    let after = assert_converged(&h, "kubernetes", 100);
    assert_ne!(member(&after, "etcd-2")["id"], member(&before, "etcd-2")["id"]);
    let removals = succeeded(&h, "RemoveMember");
    assert_eq!(removals.len(), 1, "{removals:#?}");
}

#[test]
fn a_member_suspended_for_less_than_unresponsive_after_keeps_its_membership() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    unresponsiveAfter: 60s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    let pid = pid_of(&before, "etcd-0");
    signal(pid, Signal::STOP);
    h.wait_status("kubernetes", "etcd-0 seen unhealthy", HEAL, |s| member(s, "etcd-0")["healthy"] == false);
    signal(pid, Signal::CONT);
    let after = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(
        after["members"].as_array().map(|m| m.iter().map(|m| m["id"].clone()).collect::<Vec<_>>()),
        before["members"].as_array().map(|m| m.iter().map(|m| m["id"].clone()).collect::<Vec<_>>())
    );
    assert_eq!(pid_of(&after, "etcd-0"), pid, "the same process");
    for step in ["SnapshotBeforeReplace", "WipeMember", "RemoveMember", support::add_step()] {
        assert_eq!(count_events(&h, "kubernetes", step), 0, "no {step}");
    }
    assert_keys(&endpoints(&after), "k", 100);
}

#[test]
fn two_suspended_members_are_waited_for_not_replaced() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    unresponsiveAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    let (a, b) = (pid_of(&before, "etcd-1"), pid_of(&before, "etcd-2"));
    signal(a, Signal::STOP);
    signal(b, Signal::STOP);
    let lost = h.wait_status("kubernetes", "QuorumLost/WaitingForMembers", HEAL, |s| {
        s["phase"] == "QuorumLost"
            && s["conditions"].as_array().is_some_and(|c| {
                c.iter().any(|c| {
                    c["type"] == "QuorumLost" && c["status"] == "True" && c["reason"] == "WaitingForMembers"
                })
            })
    });
    // Well past unresponsiveAfter: ten more passes, and still nothing is done.
    let passes = support::passes(&h, "kubernetes");
    wait_for("ten more passes", HEAL, || (support::passes(&h, "kubernetes") >= passes + 10).then_some(()));
    for step in ["SnapshotBeforeReplace", "WipeMember", "RemoveMember", support::add_step(), "RestartInPlace"]
    {
        assert_eq!(count_events(&h, "kubernetes", step), 0, "no {step} while the majority is down: {lost}");
    }
    signal(a, Signal::CONT);
    signal(b, Signal::CONT);
    let after = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(pid_of(&after, "etcd-1"), a);
    assert_keys(&endpoints(&after), "k", 100);
}

#[test]
fn a_paused_cluster_is_not_healed_until_unpaused() {
    let h = Harness::start();
    let active = manifest("kubernetes", "");
    h.apply("c.yaml", &active);
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 50);
    h.apply("p.yaml", &active.replace("spec:\n", "spec:\n  paused: true\n"));
    h.wait_status("kubernetes", "phase Paused", HEAL, |s| s["phase"] == "Paused");
    signal(pid_of(&before, "etcd-1"), Signal::KILL);
    h.wait_status("kubernetes", "etcd-1 seen down", HEAL, |s| {
        member(s, "etcd-1")["task"]["state"] == "exited"
    });
    let passes = support::passes(&h, "kubernetes");
    wait_for("ten more passes", HEAL, || (support::passes(&h, "kubernetes") >= passes + 10).then_some(()));
    let paused = h.status("kubernetes").expect("status");
    assert_eq!(member(&paused, "etcd-1")["task"]["state"], "exited", "nothing done while paused");
    assert_eq!(count_events(&h, "kubernetes", "RestartInPlace"), 0);
    h.apply("c.yaml", &active);
    let after = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(member(&after, "etcd-1")["id"], member(&before, "etcd-1")["id"]);
    assert_keys(&endpoints(&after), "k", 50);
}

#[test]
fn a_replacement_that_cannot_start_is_not_added_again_and_quorum_holds() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    agentLostAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    // A follower: killing the leader would cost an election, a moment with no quorum
    // that is etcd's and not the replacement's.
    let victim = ["etcd-2", "etcd-1"]
        .into_iter()
        .find(|p| member(&before, p)["role"] == "follower")
        .expect("a follower");
    let url = member(&before, victim)["clientUrl"].as_str().expect("url").to_owned();
    let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    signal(pid_of(&before, victim), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&before, victim)).expect("delete data");
    // Squat the member's client port: its replacement cannot start.
    let squatter = wait_for("the killed member's port to be free", HEAL, || {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok()
    });
    let failing = h.wait_status("kubernetes", "the ReplacementFailing condition", HEAL, |s| {
        assert!(s["quorum"]["healthy"].as_u64().unwrap_or(0) >= 2, "quorum broken: {s}");
        s["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["reason"] == "ReplacementFailing"))
    });
    wait_for("a second launch", HEAL, || {
        (count_events(&h, "kubernetes", "LaunchReplacement") >= 2).then_some(())
    });
    assert_eq!(count_events(&h, "kubernetes", support::add_step()), 1, "added once only: {failing}");
    let members = member_list(&endpoints(&failing));
    assert_eq!(members.len(), 3, "one learner waiting, no second add: {members:?}");
    drop(squatter);
    assert_converged(&h, "kubernetes", 100);
    assert_eq!(count_events(&h, "kubernetes", support::add_step()), 1);
}

#[test]
fn a_daemon_killed_after_any_replacement_step_converges_when_restarted() {
    for step in
        ["SnapshotBeforeReplace", "WipeMember", "RemoveMember", support::add_step(), "LaunchReplacement"]
    {
        let mut h = Harness::start();
        h.apply("c.yaml", &manifest("kubernetes", "    agentLostAfter: 1s\n"));
        let before = h.wait_healthy("kubernetes", 3, BOOT);
        put_keys(&endpoints(&before), "k", 100);
        h.kill_daemon();
        h.start_daemon_with(&[(etcd_warden::act::FAILPOINT_ENV, step)]);
        signal(pid_of(&before, "etcd-0"), Signal::KILL);
        std::fs::remove_dir_all(data_dir_of(&before, "etcd-0")).expect("delete data");
        h.wait_daemon_exit(HEAL);
        h.start_daemon();
        h.wait_status("kubernetes", "etcd-0 seen lost or replaced", HEAL, |s| {
            member(s, "etcd-0")["id"] != member(&before, "etcd-0")["id"]
                || member(s, "etcd-0")["healthy"] == false
        });
        assert_converged(&h, "kubernetes", 100);
        for reason in [support::add_step(), "RemoveMember"] {
            let taken = succeeded(&h, reason);
            assert_eq!(taken.len(), 1, "after {step}: one {reason} only: {taken:#?}");
        }
    }
}

#[test]
fn plan_shows_the_next_steps_and_their_rules_and_changes_nothing() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest("kubernetes", "    agentLostAfter: 1h\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    signal(pid_of(&before, "etcd-1"), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&before, "etcd-1")).expect("delete data");
    h.wait_status("kubernetes", "etcd-1 seen lost", HEAL, |s| {
        member(s, "etcd-1")["task"]["agentLost"] == true
    });
    let plan: Value =
        serde_json::from_str(&h.cli_ok(&["plan", "kubernetes", "-o", "json"])).expect("plan JSON");
    let decisions = plan["decisions"].as_array().expect("decisions");
    assert!(
        decisions.iter().any(|d| d["rule"] == "4b-replace-lost-member" && d["outcome"] == "wait"),
        "{plan:#}"
    );
    let table = h.cli_ok(&["plan", "kubernetes"]);
    assert!(table.contains("4b-replace-lost-member") && table.contains("etcd-1"), "{table}");
    let list = member_list(
        &endpoints(&before)
            .into_iter()
            .filter(|e| !e.contains(member(&before, "etcd-1")["clientUrl"].as_str().unwrap_or("-")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(list.len(), 3, "planning removed nothing");
    assert_eq!(count_events(&h, "kubernetes", "SnapshotBeforeReplace"), 0);
    // A manifest not applied yet: its plan, and nothing stored.
    let file = h.manifest("new.yaml", &local_manifest("fresh", 1, ""));
    let plan: Value =
        serde_json::from_str(&h.cli_ok(&["plan", "-f", file.to_str().expect("utf-8"), "-o", "json"]))
            .expect("JSON");
    assert!(
        plan["decisions"].as_array().is_some_and(|d| d.iter().any(|d| d["rule"] == "1-bootstrap")),
        "{plan:#}"
    );
    assert!(h.status("fresh").is_none(), "plan -f applied nothing");
    assert!(!h.state_dir().join("clusters").join("fresh").exists(), "plan -f wrote nothing");
}

/// Two of five members lost with their data at once: quorum holds (3 of 5), and both
/// are replaced, one at a time. etcd refuses a member add while any voter is
/// disconnected, so the second lost member must leave the membership before the first
/// replacement's add.
#[test]
fn two_of_five_members_lost_at_once_are_both_replaced() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 5, "    agentLostAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 5, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    for pod in ["etcd-3", "etcd-4"] {
        signal(pid_of(&before, pod), Signal::KILL);
        std::fs::remove_dir_all(data_dir_of(&before, pod)).expect("delete the data directory");
    }
    h.wait_status("kubernetes", "both seen lost", HEAL, |s| {
        ["etcd-3", "etcd-4"].iter().all(|p| member(s, p)["task"]["agentLost"] == true)
    });
    let after = h.wait_status("kubernetes", "five healthy voters", Duration::from_secs(180), |s| {
        s["phase"] == "Healthy"
            && support::healthy_members(s) == 5
            && s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["role"] != "learner"))
    });
    for pod in ["etcd-3", "etcd-4"] {
        assert_ne!(member(&after, pod)["id"], member(&before, pod)["id"], "{pod} has a new member");
    }
    support::wait_member_lists_agree(&endpoints(&after), 5, HEAL);
    assert_keys(&endpoints(&after), "k", 200);
}
