//! Scenario 2 end to end: the backup gate on a member count change, scale-up one
//! learner at a time, BackupFirst, and scale-down.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{Harness, assert_keys, endpoints, local_manifest, member_list, put_keys};

const BOOT: Duration = Duration::from_secs(60);
const SCALE: Duration = Duration::from_secs(120);

fn manifest(name: &str, members: usize, dir: &Path, scale_up: &str) -> String {
    format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n  policy:\n    scaleUp: {scale_up}\n",
        local_manifest(name, members, ""),
        dir.display()
    )
}

fn assert_voters(h: &Harness, name: &str, count: usize) -> Value {
    let status = h.wait_status(name, &format!("{count} healthy voters"), SCALE, |s| {
        s["phase"] == "Healthy"
            && support::healthy_members(s) == count
            && s["members"]
                .as_array()
                .is_some_and(|m| m.len() == count && m.iter().all(|m| m["role"] != "learner"))
    });
    support::wait_member_lists_agree(&endpoints(&status), count, SCALE);
    status
}

#[test]
fn scale_up_is_refused_without_a_fresh_backup_and_done_one_learner_at_a_time_with_one() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("one.yaml", &manifest("kubernetes", 1, &dir, "RequireFreshBackup"));
    let single = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&single), "k", 200);
    let three = h.manifest("three.yaml", &manifest("kubernetes", 3, &dir, "RequireFreshBackup"));
    let refused = h.cli(&["apply", "-f", three.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for words in
        ["from 1 to 3", "there is no verified backup", "15m", "etcd-warden backup kubernetes", "BackupFirst"]
    {
        assert!(stderr.contains(words), "{words:?} missing from: {stderr}");
    }
    let blocked = h.wait_status("kubernetes", "ScaleUpBlocked", BOOT, |s| {
        support::condition(s, "ScaleUpBlocked")["status"] == "True"
    });
    assert_eq!(blocked["desiredMembers"], 1, "nothing changed");
    assert_eq!(blocked["observedGeneration"], 1);
    h.cli_ok(&["backup", "kubernetes"]);
    h.cli_ok(&["apply", "-f", three.to_str().expect("utf-8")]);
    let scaled = assert_voters(&h, "kubernetes", 3);
    assert!(support::condition(&scaled, "ScaleUpBlocked").is_null(), "the refusal is cleared: {scaled:#}");
    assert_keys(&endpoints(&scaled), "k", 200);
    for step in ["BeginScaleUp", "AddLearner", "PromoteLearner"] {
        assert_eq!(support::count_succeeded(&h, "kubernetes", step), 2, "{step}: once per new member");
    }
    // A learner whose process exits is launched again (with backoff), never added
    // again: at least one launch per new member.
    assert!(support::count_succeeded(&h, "kubernetes", "LaunchReplacement") >= 2);
    // One learner at a time: the second add comes after the first promotion.
    let events = h.events("kubernetes");
    let order: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "Normal")
        .filter_map(|e| e["reason"].as_str())
        .filter(|r| ["AddLearner", "PromoteLearner"].contains(r))
        .collect();
    assert_eq!(order, ["AddLearner", "PromoteLearner", "AddLearner", "PromoteLearner"]);
}

#[test]
fn backup_first_takes_a_backup_then_scales_and_scale_down_removes_one_at_a_time() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("one.yaml", &manifest("kubernetes", 1, &dir, "BackupFirst"));
    let single = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&single), "k", 100);
    h.apply("three.yaml", &manifest("kubernetes", 3, &dir, "BackupFirst"));
    let scaled = assert_voters(&h, "kubernetes", 3);
    assert!(
        h.events("kubernetes").iter().any(|e| e["reason"] == "BackupTaken"
            && e["message"].as_str().is_some_and(|m| m.contains("before a scale change"))),
        "a backup first"
    );
    assert_keys(&endpoints(&scaled), "k", 100);
    // And back down to one member (the backup taken above is still fresh).
    h.apply("one.yaml", &manifest("kubernetes", 1, &dir, "BackupFirst"));
    let single = assert_voters(&h, "kubernetes", 1);
    assert_eq!(single["members"][0]["pod"], "etcd-0");
    let removals: Vec<Value> = h
        .events("kubernetes")
        .into_iter()
        .filter(|e| e["reason"] == "RemoveMember" && e["kind"] == "Normal")
        .collect();
    assert_eq!(removals.len(), 2, "one removal per member: {removals:#?}");
    assert_eq!(support::count_succeeded(&h, "kubernetes", "RetireMember"), 2);
    assert_keys(&endpoints(&single), "k", 100);
    assert_eq!(member_list(&endpoints(&single)).len(), 1);
}
