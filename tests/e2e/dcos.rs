//! The controller binary against the fake DC/OS (tests/e2e/support/dcos/): real etcd pods
//! with client and peer TLS, healed through the SDK's API only. Keys are written first
//! and every one is read back, on every member, after healing.

use crate::support;
use std::time::Duration;

use crate::support::dcos::{FakeDcos, FakeOptions, PeerForm, backup_section};
use crate::support::{Harness, assert_holds_over_passes, condition, count_events, member, wait_for};
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);

/// A fake service of `pods` pods, the daemon, and the manifest applied with `extra`.
fn start(pods: u8, extra: &str) -> (FakeDcos, Harness) {
    start_with(FakeOptions { pods, ..FakeOptions::default() }, extra)
}

/// A fake service with these options, the daemon, and the manifest applied with `extra`.
fn start_with(options: FakeOptions, extra: &str) -> (FakeDcos, Harness) {
    let fake = FakeDcos::start(options);
    let h = Harness::start();
    h.apply("c.yaml", &fake.manifest("kubernetes", extra));
    (fake, h)
}

/// Three healthy voters in status, as many started members in etcd with `gone`
/// absent, and the `count` keys `k/` on every member.
fn assert_healed(fake: &FakeDcos, h: &Harness, count: usize, gone: Option<&Value>) -> Value {
    let status = h.wait_healthy("kubernetes", 3, HEAL);
    let members = wait_for("three started members", HEAL, || {
        fake.try_member_list().ok().filter(|m| m.len() == 3 && m.iter().all(|m| !m.name.is_empty()))
    });
    if let Some(gone) = gone {
        let gone = u64::from_str_radix(gone.as_str().expect("a hex ID"), 16).expect("an ID");
        assert!(members.iter().all(|m| m.id != gone), "the dead member is gone: {members:?}");
    }
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", count);
    }
    let hashes = wait_for("equal hashkv on every member", HEAL, || {
        let out = fake.etcdctl(&["endpoint", "hashkv", "-w", "json"]);
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
        let hashes: Vec<u64> = list.iter().filter_map(|e| e["HashKV"]["hash"].as_u64()).collect();
        (hashes.len() == 3 && hashes.windows(2).all(|w| w[0] == w[1])).then_some(hashes)
    });
    assert_eq!(hashes.len(), 3);
    status
}

#[test]
fn a_crashed_task_is_relaunched_by_the_sdk_and_a_held_one_restarted_once_never_replaced() {
    let (fake, h) = start(3, "  recovery:\n    restartGrace: 3s\n    agentLostAfter: 2s\n");
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 100);
    // The SDK relaunches it within its 2 s: the controller has nothing to ask.
    fake.crash("etcd-1");
    h.wait_status("kubernetes", "etcd-1 seen down", HEAL, |s| member(s, "etcd-1")["healthy"] == false);
    assert_healed(&fake, &h, 100, None);
    assert_eq!(fake.count("POST", "/restart"), 0, "the SDK relaunched it");
    // Held: after restartGrace the controller asks the SDK once.
    fake.hold_restarts("etcd-2", true);
    fake.crash("etcd-2");
    wait_for("one restart request", HEAL, || {
        (fake.count("POST", "/v1/pod/etcd-2/restart") == 1).then_some(())
    });
    assert_healed(&fake, &h, 100, None);
    assert_eq!(fake.count("POST", "/restart"), 1, "asked once");
    assert_eq!(fake.count("POST", "/replace"), 0, "a crash on a healthy agent is never a replace");
    assert_eq!(count_events(&h, "kubernetes", "RequestRestart"), 1);
}

#[test]
fn a_lost_agent_is_healed_by_exactly_one_replace_even_with_the_controller_killed_right_after_it() {
    let (fake, mut h) = start(3, "  recovery:\n    agentLostAfter: 2s\n");
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 200);
    let old_id = member(&before, "etcd-2")["id"].clone();
    let old_agent = fake.agent_of("etcd-2");
    // The controller dies right after asking for the replacement.
    h.kill_daemon();
    h.start_daemon_with(&[("ETCD_WARDEN_FAILPOINT_AFTER", "RequestReplace")]);
    fake.lose_agent("etcd-2");
    h.wait_daemon_exit(HEAL);
    assert_eq!(fake.count("POST", "/v1/pod/etcd-2/replace"), 1);
    h.start_daemon();
    let after = assert_healed(&fake, &h, 200, Some(&old_id));
    assert_ne!(member(&after, "etcd-2")["id"], old_id, "a new member took the slot");
    assert_ne!(fake.agent_of("etcd-2"), old_agent, "on a new agent");
    assert_eq!(fake.count("POST", "/replace"), 1, "never a second replace");
    assert_eq!(fake.count("POST", "/restart"), 0);
    let snapshots =
        h.events("kubernetes").into_iter().filter(|e| e["reason"] == "SnapshotBeforeReplace").count();
    assert_eq!(snapshots, 1, "a snapshot before the replace");
    // Once healed, the controller never asks again.
    assert_holds_over_passes(&h, "kubernetes", "no further replace", Duration::from_secs(3), || {
        fake.count("POST", "/replace") == 1
    });
}

/// Issue 17: the package advertises peer URLs in a form of its own (a host name, and a
/// peer port that is not client + 1). The controller knows members by their IDs, so a
/// crash is healed in place and a lost agent by exactly one `pod replace`.
#[test]
fn pods_advertising_peer_urls_in_another_form_are_healed_the_same() {
    let options = FakeOptions { peer_form: PeerForm::HostNameOwnRange, ..FakeOptions::default() };
    let (fake, h) = start_with(options, "  recovery:\n    restartGrace: 3s\n    agentLostAfter: 2s\n");
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    let peers: Vec<String> =
        fake.try_member_list().expect("member list").iter().flat_map(|m| m.peer_urls.clone()).collect();
    assert!(peers.iter().all(|u| u.starts_with("https://localhost:")), "the other form: {peers:?}");
    fake.put_keys("k", 100);
    // A crash: the SDK relaunches it in place, with the same member.
    let crashed_id = member(&before, "etcd-1")["id"].clone();
    fake.crash("etcd-1");
    h.wait_status("kubernetes", "etcd-1 seen down", HEAL, |s| member(s, "etcd-1")["healthy"] == false);
    let healed = assert_healed(&fake, &h, 100, None);
    assert_eq!(member(&healed, "etcd-1")["id"], crashed_id, "healed in place");
    assert_eq!(fake.count("POST", "/replace"), 0);
    // A lost agent: exactly one replace.
    let old_id = member(&healed, "etcd-2")["id"].clone();
    fake.lose_agent("etcd-2");
    wait_for("one replace", HEAL, || (fake.count("POST", "/v1/pod/etcd-2/replace") == 1).then_some(()));
    let after = assert_healed(&fake, &h, 100, Some(&old_id));
    assert_ne!(member(&after, "etcd-2")["id"], old_id, "a new member took the slot");
    assert_holds_over_passes(&h, "kubernetes", "no further replace", Duration::from_secs(3), || {
        fake.count("POST", "/replace") == 1
    });
    for step in ["RestoreFromBackup", "RestoreFromSurvivor", "RemoveMember"] {
        assert_eq!(count_events(&h, "kubernetes", step), 0, "no {step}");
    }
}

#[test]
fn a_majority_lost_is_restore_required_with_the_procedure_and_no_call_to_the_platform() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = format!("{}  recovery:\n    agentLostAfter: 2s\n", backup_section(dir.path()));
    let (fake, h) = start(3, &backup);
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 50);
    h.cli_ok(&["backup", "kubernetes"]);
    let backed_up =
        h.wait_status("kubernetes", "the backup in status", HEAL, |s| s["lastBackup"]["id"].is_string());
    let id = backed_up["lastBackup"]["id"].as_str().unwrap_or_default().to_owned();
    fake.lose_agent("etcd-1");
    fake.lose_agent("etcd-2");
    let status = h.wait_status("kubernetes", "RestoreRequired", HEAL, |s| {
        condition(s, "RestoreRequired")["status"] == "True"
    });
    let message = condition(&status, "RestoreRequired")["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains(&id) && message.contains("docs/dcos.md"), "{message}");
    assert_holds_over_passes(&h, "kubernetes", "no call to the platform", Duration::from_secs(3), || {
        fake.count("POST", "/replace") + fake.count("POST", "/restart") + fake.count("POST", "/update") == 0
    });
    let refused = h.cli(&["restore", "kubernetes", "--yes"]);
    assert!(!refused.status.success(), "a restore by the controller is refused on DC/OS");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("docs/dcos.md"), "{said}");
}

#[test]
fn a_controller_with_an_empty_state_directory_adopts_the_service_and_finds_its_backups_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = backup_section(dir.path());
    let (fake, mut h) = start(3, &backup);
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 40);
    h.cli_ok(&["backup", "kubernetes"]);
    let listed = h.cli_ok(&["backups", "kubernetes", "-o", "json"]);
    let before: Vec<Value> = serde_json::from_str(&listed).expect("backups JSON");
    assert_eq!(before.len(), 1);
    // Marathon moved the controller: a new agent, no volume.
    h.kill_daemon();
    std::fs::remove_dir_all(h.state_dir()).expect("wipe the state directory");
    // A record that claims more than its file holds: the same snapshot, a higher revision.
    let stored = dir.path().join("kubernetes");
    let id = before[0]["id"].as_str().expect("id");
    let mut forged: Value =
        serde_json::from_slice(&std::fs::read(stored.join(format!("{id}.json"))).expect("metadata"))
            .expect("JSON");
    let revision = forged["revision"].as_i64().expect("revision") + 5;
    let forged_id = format!("{}-r{revision}", id.rsplit_once("-r").expect("an id").0);
    forged["id"] = Value::from(forged_id.clone());
    forged["revision"] = Value::from(revision);
    std::fs::copy(stored.join(format!("{id}.db")), stored.join(format!("{forged_id}.db"))).expect("copy");
    std::fs::write(stored.join(format!("{forged_id}.json")), forged.to_string()).expect("forge");
    h.start_daemon();
    h.apply("c.yaml", &fake.manifest("kubernetes", &backup));
    let adopted = h.wait_healthy("kubernetes", 3, BOOT);
    assert_eq!(adopted["lastBackup"]["id"], before[0]["id"], "the catalog rebuilt from the destination");
    let listed = h.cli_ok(&["backups", "kubernetes", "-o", "json"]);
    let after: Vec<Value> = serde_json::from_str(&listed).expect("backups JSON");
    assert_eq!(after, before, "the record whose file holds another revision is left out");
    assert_eq!(count_events(&h, "kubernetes", "CatalogRebuilt"), 1);
    assert_holds_over_passes(
        &h,
        "kubernetes",
        "nothing done to the running service",
        Duration::from_secs(3),
        || {
            fake.count("POST", "/replace") + fake.count("POST", "/restart") + fake.count("POST", "/update")
                == 0
        },
    );
    for endpoint in fake.endpoints() {
        fake.assert_keys_on(&endpoint, "k", 40);
    }
}

/// A member that cannot start on a healthy agent (its WAL corrupted): the SDK relaunches
/// it in place again and again, a new task each time. The relaunches count toward
/// `maxRestarts`; used up, and not healthy for `unresponsiveAfter`, the slot is
/// replaced by exactly one `pod replace`, and every key is read back.
#[test]
fn a_member_failing_in_a_loop_on_a_healthy_agent_is_replaced_once_after_bounded_relaunches() {
    let recovery = "  recovery:\n    restartGrace: 1s\n    maxRestarts: 3\n    unresponsiveAfter: 5s\n";
    let (fake, h) = start(3, recovery);
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 100);
    let old_id = member(&before, "etcd-2")["id"].clone();
    // Stopped while its WAL is overwritten, then killed: every relaunch fails on it.
    let pid = fake.pid("etcd-2").expect("etcd-2 runs");
    support::signal(u64::from(pid), rustix::process::Signal::STOP);
    support::overwrite_wal(&fake.data_dir("etcd-2"));
    fake.crash("etcd-2");
    // While it fails, status quotes etcd's last words from its task's sandbox (the
    // agent's files API): a fatal record (3.3, 3.4), or a Go panic (3.5).
    let failing = h.wait_status("kubernetes", "etcd-2's last words in its lastLog", HEAL, |s| {
        member(s, "etcd-2")["task"]["lastLog"].as_array().is_some_and(|lines| {
            lines.iter().filter_map(|l| l.as_str()).any(|l| l.contains(" fatal ") || l.contains("panic: "))
        })
    });
    assert!(fake.count("GET", "/files/read") >= 2, "read through the agent's files API");
    assert_eq!(member(&failing, "etcd-2")["healthy"], false, "{failing:#}");
    wait_for("one pod replace", HEAL, || (fake.count("POST", "/v1/pod/etcd-2/replace") == 1).then_some(()));
    assert!(fake.launches("etcd-2") >= 4, "relaunched in place first: {} launches", fake.launches("etcd-2"));
    let after = assert_healed(&fake, &h, 100, Some(&old_id));
    assert_ne!(member(&after, "etcd-2")["id"], old_id);
    assert_eq!(fake.count("POST", "/replace"), 1, "exactly one replace");
    assert!(fake.count("POST", "/restart") <= 1, "a restart asked at most once");
    let why = h
        .events("kubernetes")
        .into_iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .find(|m| m.contains("relaunched") && m.contains("by the platform without answering healthy"));
    assert!(why.is_some(), "an event says why: {:#?}", h.events("kubernetes"));
    assert_holds_over_passes(&h, "kubernetes", "no further replace", Duration::from_secs(3), || {
        fake.count("POST", "/replace") == 1
    });
}

/// The answer to `pod replace` is lost (Admin Router's 504). The request is uncertain,
/// and the platform settles it: when the scheduler acted, the slot shows a replacement
/// and it is followed, never asked again; when it did not, nothing shows within a
/// minute, and it is asked once more. Either way the slot heals with every key.
#[test]
fn a_replace_whose_answer_was_lost_is_settled_from_the_platform_and_asked_at_most_once_more() {
    for acted in [true, false] {
        let (fake, h) = start(3, "  recovery:\n    agentLostAfter: 1s\n");
        let before = h.wait_healthy("kubernetes", 3, BOOT);
        fake.put_keys("k", 100);
        let old_id = member(&before, "etcd-2")["id"].clone();
        fake.lose_next_replace_answer(acted);
        fake.lose_agent("etcd-2");
        wait_for("a replace asked", HEAL, || {
            (fake.count("POST", "/v1/pod/etcd-2/replace") >= 1).then_some(())
        });
        let after = assert_healed(&fake, &h, 100, Some(&old_id));
        assert_ne!(member(&after, "etcd-2")["id"], old_id);
        let asked = fake.count("POST", "/v1/pod/etcd-2/replace");
        assert_eq!(asked, if acted { 1 } else { 2 }, "acted: {acted}");
        assert_holds_over_passes(&h, "kubernetes", "never asked again", Duration::from_secs(3), || {
            fake.count("POST", "/v1/pod/etcd-2/replace") == asked
        });
    }
}

/// A restart is asked of the SDK once: counted and recorded before the request, so a
/// controller killed right after it never asks again, even for a member that stays
/// down (its WAL corrupted, the SDK's own relaunches held).
#[test]
fn a_restart_request_is_recorded_before_it_is_made_and_never_repeated_after_a_crash() {
    let (fake, mut h) = start(3, "  recovery:\n    restartGrace: 1s\n");
    h.wait_healthy("kubernetes", 3, BOOT);
    fake.put_keys("k", 20);
    fake.hold_restarts("etcd-2", true);
    let pid = fake.pid("etcd-2").expect("etcd-2 runs");
    support::signal(u64::from(pid), rustix::process::Signal::STOP);
    support::overwrite_wal(&fake.data_dir("etcd-2"));
    h.kill_daemon();
    h.start_daemon_with(&[("ETCD_WARDEN_FAILPOINT_AFTER", "RequestRestart")]);
    fake.crash("etcd-2");
    h.wait_daemon_exit(HEAL);
    assert_eq!(fake.count("POST", "/v1/pod/etcd-2/restart"), 1);
    h.start_daemon();
    h.wait_status("kubernetes", "etcd-2 seen down by the new daemon", HEAL, |s| {
        member(s, "etcd-2")["healthy"] == false
    });
    let passes = support::passes(&h, "kubernetes");
    wait_for("ten passes", HEAL, || (support::passes(&h, "kubernetes") >= passes + 10).then_some(()));
    assert_eq!(fake.count("POST", "/v1/pod/etcd-2/restart"), 1, "asked once, never again");
}
