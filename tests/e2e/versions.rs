//! Members of mixed etcd versions, as during a rolling upgrade: each member's version is
//! observed from the member itself, learners are used only once no member that answers
//! runs 3.3, and no acknowledged key is lost on the way.
//!
//! - In the etcd 3.3 matrix (`ETCD_WARDEN_TEST_ETCD=3.3.25`, `scripts/test`) the cluster
//!   starts on 3.3.25 and its members move, one restart at a time, to the etcd of the PATH
//!   (Debian 12's 3.4.23).
//! - In the 3.5 matrix (`ETCD_WARDEN_TEST_ETCD=3.5.30`) it starts on the PATH's 3.4.23 and
//!   its members move to 3.5: 3.4 and 3.5 side by side, where learners are allowed.

use crate::support;
use std::time::Duration;

use crate::support::{
    Harness, assert_keys, data_dir_of, endpoints, local_manifest, member, pid_of, put_keys, signal,
};
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);

fn version_of(status: &Value, pod: &str) -> String {
    member(status, pod)["version"].as_str().unwrap_or_default().to_owned()
}

/// The versions of etcd-0, etcd-1 and etcd-2, each as the member says it.
fn three_versions(status: &Value) -> Vec<String> {
    ["etcd-0", "etcd-1", "etcd-2"].iter().map(|p| version_of(status, p)).collect()
}

fn succeeded(h: &Harness, step: &str) -> usize {
    support::count_succeeded(h, "kubernetes", step)
}

/// The version of the PATH's etcd (Debian 12's 3.4.23), the one upgraded to.
fn path_version() -> String {
    let version = support::version_of("etcd");
    assert!(version.starts_with("3.4."), "the PATH's etcd is Debian 12's 3.4: {version}");
    version
}

/// The test manifest with `binary` as its members' etcd.
fn manifest_on(binary: &str, members: usize, recovery: &str) -> String {
    let manifest = local_manifest("kubernetes", members, recovery)
        .replace(&format!("etcdBinary: {}\n", support::etcd_binary()), &format!("etcdBinary: {binary}\n"));
    assert!(manifest.contains(&format!("etcdBinary: {binary}\n")), "{manifest}");
    manifest
}

/// Applies the manifest again with `binary` as the members' etcd, then kills `pods` one
/// at a time: each comes back on it. Returns the last status.
fn upgrade(
    h: &Harness,
    binary: &str,
    members: usize,
    recovery: &str,
    pods: &[&str],
    mut status: Value,
) -> Value {
    let new_version = support::version_of(binary);
    h.apply("c.yaml", &manifest_on(binary, members, recovery));
    for pod in pods {
        signal(pid_of(&status, pod), Signal::KILL);
        status = h.wait_status("kubernetes", &format!("{pod} back on {new_version}"), HEAL, |s| {
            s["phase"] == "Healthy"
                && support::healthy_members(s) == members
                && version_of(s, pod) == new_version
        });
        put_keys(&endpoints(&status), pod, 20);
    }
    status
}

/// etcd-2, still on the old version, is lost with its data after `upgrade` moved the
/// other two: it is replaced while a quorum holds (a new member ID in its slot), every
/// key written before is on every member, and all three run `new_version`. Returns
/// the converged status.
fn replace_the_last(h: &Harness, status: &Value, new_version: &str) -> Value {
    signal(pid_of(status, "etcd-2"), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(status, "etcd-2")).expect("delete the data directory");
    h.wait_status("kubernetes", "etcd-2 seen lost", HEAL, |s| {
        member(s, "etcd-2")["task"]["agentLost"] == true
    });
    let after =
        support::assert_converged(h, "kubernetes", &[("k", 200), ("etcd-0", 20), ("etcd-1", 20)], HEAL);
    assert_ne!(member(&after, "etcd-2")["id"], member(status, "etcd-2")["id"], "a new member took the slot");
    assert_eq!(three_versions(&after), [new_version; 3]);
    after
}

#[test]
fn a_rolling_upgrade_from_3_3_is_observed_member_by_member_and_learners_wait_for_it() {
    if !support::etcd_is_3_3() {
        println!("skipped: starts on etcd 3.3 (run with ETCD_WARDEN_TEST_ETCD=3.3.25)");
        return;
    }
    let new_version = path_version();
    let recovery = "    agentLostAfter: 1s\n";
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, recovery));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    // The new binary applies to the next start of each member: etcd-0, then etcd-1.
    let status = upgrade(&h, "etcd", 3, recovery, &["etcd-0", "etcd-1"], before);
    // Mixed: each member says its own version.
    let versions = three_versions(&status);
    assert_eq!(versions, [new_version.clone(), new_version.clone(), "3.3.25".to_owned()]);
    assert_eq!(succeeded(&h, "RestartInPlace"), 2);

    // The last 3.3 member is lost with its data: it is replaced while a quorum holds,
    // and the new member runs the new binary. Whatever the cluster's version says at
    // that moment (3.3 until every member is 3.4), it converges without a lost key.
    let after = replace_the_last(&h, &status, &new_version);
    let (voters, learners) = (succeeded(&h, "AddMember"), succeeded(&h, "AddLearner"));
    let refused: Vec<Value> = h
        .events("kubernetes")
        .into_iter()
        .filter(|e| {
            e["kind"] == "Warning"
                && ["AddMember", "AddLearner"].contains(&e["reason"].as_str().unwrap_or_default())
        })
        .collect();
    println!(
        "the replacement added {voters} voter(s) and {learners} learner(s); refused first: {refused:#?}"
    );
    assert_eq!(voters + learners, 1, "one member added");
    assert_keys(&endpoints(&after), "k", 200);
}

/// A 3.3 member that does not answer (suspended) keeps the cluster's version at 3.3,
/// even though every member that answers runs 3.4: a member lost meanwhile is replaced
/// by a voter add, never a learner, which the 3.3 member could not apply when it comes
/// back. etcd refuses a voter add while a voter is disconnected, so the add waits for
/// the silent member, and says so; it comes back, and all five converge.
#[test]
fn a_silent_3_3_member_keeps_learners_off_while_every_answer_is_3_4() {
    if !support::etcd_is_3_3() {
        println!("skipped: starts on etcd 3.3 (run with ETCD_WARDEN_TEST_ETCD=3.3.25)");
        return;
    }
    let recovery = "    agentLostAfter: 1s\n";
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 5, recovery));
    let before = h.wait_healthy("kubernetes", 5, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    let status = upgrade(&h, "etcd", 5, recovery, &["etcd-0", "etcd-1", "etcd-2"], before);
    assert_eq!(version_of(&status, "etcd-3"), "3.3.25");
    signal(pid_of(&status, "etcd-3"), Signal::STOP);
    h.wait_status("kubernetes", "etcd-3 silent", HEAL, |s| member(s, "etcd-3")["healthy"] == false);
    signal(pid_of(&status, "etcd-4"), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&status, "etcd-4")).expect("delete the data directory");
    let old_id = member(&status, "etcd-4")["id"].clone();
    let waiting = h.wait_status("kubernetes", "the voter add waiting for etcd-3", HEAL, |s| {
        support::condition(s, "Progressing")["message"]
            .as_str()
            .is_some_and(|m| m.contains("once every voter answers"))
    });
    assert_eq!(succeeded(&h, "AddLearner") + succeeded(&h, "AddMember"), 0, "{waiting:#}");
    signal(pid_of(&status, "etcd-3"), Signal::CONT);
    let replaced = h.wait_status("kubernetes", "etcd-4 replaced", HEAL, |s| {
        member(s, "etcd-4")["healthy"] == true && member(s, "etcd-4")["id"] != old_id
    });
    assert_eq!(succeeded(&h, "AddLearner"), 0, "no learner while the cluster's version is 3.3");
    assert_eq!(succeeded(&h, "AddMember"), 1, "one voter added");
    assert_eq!(version_of(&replaced, "etcd-4"), path_version());
    let keys = [("k", 100), ("etcd-0", 20), ("etcd-1", 20), ("etcd-2", 20)];
    let after = h.wait_status("kubernetes", "five healthy voters", HEAL, |s| {
        s["phase"] == "Healthy" && support::healthy_members(s) == 5
    });
    support::wait_member_lists_agree(&endpoints(&after), 5, HEAL);
    for (prefix, count) in keys {
        assert_keys(&endpoints(&after), prefix, count);
    }
    assert_eq!(version_of(&after, "etcd-3"), "3.3.25", "the silent member came back as it was");
}

/// From 3.4 to 3.5, as most Kubernetes clusters went: two members restarted on 3.5 while
/// the third still runs 3.4. Status says each member's own version; every member runs
/// 3.4 or later, so the member lost with its data meanwhile is replaced by a learner,
/// promoted once it has caught up, and it starts on the manifest's 3.5. No key is lost.
#[test]
fn a_rolling_upgrade_from_3_4_to_3_5_is_observed_member_by_member_and_replaces_with_a_learner() {
    if support::etcd_version() != (3, 5) {
        println!("skipped: upgrades to etcd 3.5 (run with ETCD_WARDEN_TEST_ETCD=3.5.30)");
        return;
    }
    let (old_version, new_binary) = (path_version(), support::etcd_binary());
    let new_version = support::version_of(&new_binary);
    let recovery = "    agentLostAfter: 1s\n";
    let h = Harness::start();
    h.apply("c.yaml", &manifest_on("etcd", 3, recovery));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    let versions = three_versions(&before);
    assert_eq!(versions, [old_version.clone(), old_version.clone(), old_version.clone()]);
    put_keys(&endpoints(&before), "k", 200);
    let status = upgrade(&h, &new_binary, 3, recovery, &["etcd-0", "etcd-1"], before);
    let versions = three_versions(&status);
    assert_eq!(versions, [new_version.clone(), new_version.clone(), old_version.clone()]);
    assert_eq!(succeeded(&h, "RestartInPlace"), 2);

    let after = replace_the_last(&h, &status, &new_version);
    assert_eq!(succeeded(&h, "AddLearner"), 1, "every member runs 3.4 or later: a learner");
    assert_eq!(succeeded(&h, "PromoteLearner"), 1);
    assert_eq!(succeeded(&h, "AddMember"), 0, "no voter added");
    assert_keys(&endpoints(&after), "k", 200);
}
