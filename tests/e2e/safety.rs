//! Safety end to end, against real etcd: data is intact only with a WAL, restarts in
//! place are bounded, and a quorum loss is healed from the newest data there is, with
//! the chosen source kept across a controller crash. Keys are written first and every
//! acknowledged one is read back.

use crate::support;
use std::path::Path;
use std::time::Duration;

use crate::support::lone::LoneEtcd;
use crate::support::{
    Harness, assert_keys, count_events, data_dir_of, endpoints, local_manifest, member, member_list, pid_of,
    put_keys, signal,
};
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);

/// These scenarios kill and restore whole clusters: one at a time, so that a loaded
/// machine does not turn their timing into the subject.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
const HEAL: Duration = Duration::from_secs(180);

/// The events of a step that succeeded.
fn succeeded(h: &Harness, step: &str) -> usize {
    h.events("kubernetes").iter().filter(|e| e["reason"] == step && e["kind"] == "Normal").count()
}

/// Three healthy voters, no learner or phantom, equal hashes, every key of `keys`.
fn assert_converged(h: &Harness, keys: &[(&str, usize)]) -> Value {
    support::assert_converged(h, "kubernetes", keys, HEAL)
}

#[test]
fn a_member_whose_wal_is_deleted_with_its_directory_kept_is_replaced_under_a_new_id() {
    let _serial = serial();
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, "    agentLostAfter: 1s\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    // The volume comes back empty: the data directory is there, its `member/` is not.
    // The member is stopped first, so the controller never sees it crashed on intact
    // data in between.
    let pid = pid_of(&before, "etcd-1");
    signal(pid, Signal::STOP);
    let dir = data_dir_of(&before, "etcd-1");
    std::fs::remove_dir_all(Path::new(&dir).join("member")).expect("delete member/");
    assert!(Path::new(&dir).is_dir());
    signal(pid, Signal::KILL);
    // Seen down (a status of before the kill may say `missing` too: a member that has
    // just started has not written its WAL yet), or already replaced.
    h.wait_status("kubernetes", "etcd-1 seen down with its data missing", HEAL, |s| {
        let m = member(s, "etcd-1");
        (m["healthy"] == false && m["task"]["data"] == "missing")
            || m["id"] != member(&before, "etcd-1")["id"]
    });
    let after = assert_converged(&h, &[("k", 200)]);
    assert_ne!(
        member(&after, "etcd-1")["id"],
        member(&before, "etcd-1")["id"],
        "a new member took the slot: {:#}\nbefore: {:#}\nevents: {:#?}",
        member(&after, "etcd-1"),
        member(&before, "etcd-1"),
        h.events("kubernetes")
    );
    assert_eq!(succeeded(&h, "RestartInPlace"), 0, "never restarted in place on an empty directory");
    assert_eq!(succeeded(&h, support::add_step()), 1);
}

#[test]
fn a_member_whose_wal_is_corrupted_is_restarted_a_bounded_number_of_times_then_replaced() {
    let _serial = serial();
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, "    agentLostAfter: 1s\n    maxRestarts: 3\n"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    // Stopped while its WAL is overwritten, then killed: it never runs on the garbage.
    let pid = pid_of(&before, "etcd-2");
    signal(pid, Signal::STOP);
    support::overwrite_wal(Path::new(&data_dir_of(&before, "etcd-2")));
    signal(pid, Signal::KILL);
    // While it fails, status shows the count and why: etcd's last words.
    let failing = h.wait_status("kubernetes", "etcd-2's restarts and last log lines", HEAL, |s| {
        let task = &member(s, "etcd-2")["task"];
        task["restarts"].as_u64().is_some_and(|n| n >= 1)
            && task["lastLog"].as_array().is_some_and(|l| !l.is_empty())
    });
    assert_eq!(member(&failing, "etcd-2")["healthy"], false, "{failing:#}");
    h.wait_status("kubernetes", "etcd-2 healthy again", HEAL, |s| member(s, "etcd-2")["healthy"] == true);
    let after = assert_converged(&h, &[("k", 200)]);
    assert_ne!(
        member(&after, "etcd-2")["id"],
        member(&before, "etcd-2")["id"],
        "replaced under a new ID: {:#?}",
        h.events("kubernetes")
    );
    let restarts = succeeded(&h, "RestartInPlace");
    assert!(
        (2..=3).contains(&restarts),
        "restarted in place {restarts} times (maxRestarts 3), then replaced"
    );
    let quoted = h.events("kubernetes").iter().any(|e| {
        e["reason"] == "RestartInPlace"
            && e["message"].as_str().is_some_and(|m| {
                // etcd's last words: a fatal record (3.3, 3.4), or a Go panic (3.5
                // repairs the WAL, then panics), never only the stack after it.
                m.contains("(restart 2 of 3)") && (m.contains(" fatal ") || m.contains("panic: "))
            })
    });
    assert!(quoted, "the second restart's event quotes the member's log: {:#?}", h.events("kubernetes"));
    assert_eq!(succeeded(&h, support::add_step()), 1);
}

fn restore_manifest(dir: &Path) -> String {
    restore_manifest_with(dir, "    agentLostAfter: 1s\n")
}

fn restore_manifest_with(dir: &Path, recovery: &str) -> String {
    format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n  policy:\n    quorumLoss: Restore\n    maxDataLoss: 1h\n",
        local_manifest("kubernetes", 3, recovery),
        dir.display()
    )
}

/// The pod that leads now.
fn leader(h: &Harness) -> String {
    let status = h.status("kubernetes").expect("status");
    status["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "leader"))
        .and_then(|m| m["pod"].as_str())
        .expect("a leader")
        .to_owned()
}

/// Three members: 100 keys `k/`, a backup, then 50 keys `after/` that only the members
/// hold; then every member is killed and the two followers lose their data. The leader
/// survives: it holds every acknowledged write (an entry is committed only once the
/// leader has it; a follower may miss the last ones). Returns the status before and the
/// survivor's pod.
fn all_down_two_wiped(h: &Harness) -> (Value, String) {
    h.apply("c.yaml", &restore_manifest(&h.dir.path().join("backups")));
    let before = backed_up_then_written(h);
    let leader = leader(h);
    for pod in ["etcd-0", "etcd-1", "etcd-2"] {
        signal(pid_of(&before, pod), Signal::KILL);
    }
    for pod in ["etcd-0", "etcd-1", "etcd-2"].into_iter().filter(|p| *p != leader) {
        std::fs::remove_dir_all(data_dir_of(&before, pod)).expect("delete data");
    }
    (before, leader)
}

/// 100 keys `k/`, a backup, then 50 keys `after/` that only the members hold, and a
/// barrier every member has applied: the 50 are committed and recorded as such.
fn backed_up_then_written(h: &Harness) -> Value {
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    h.cli_ok(&["backup", "kubernetes"]);
    put_keys(&endpoints(&before), "after", 50);
    // A barrier write applied by every member: the 50 writes before it are committed
    // and the leader has recorded their commit, so a crash now cannot un-commit them
    // (the barrier itself may be lost, and is not counted).
    put_keys(&endpoints(&before), "barrier", 1);
    support::wait_same_revision(h, "kubernetes", 3, HEAL);
    before
}

fn restored(h: &Harness) -> Value {
    h.wait_status("kubernetes", "Healthy after a restore", HEAL, |s| {
        s["phase"] == "Healthy" && support::healthy_members(s) == 3 && s["restore"].is_object()
    })
}

#[test]
fn all_members_down_two_wiped_one_crashed_with_newer_data_than_the_backup_loses_no_write() {
    let _serial = serial();
    let h = Harness::start();
    let (_, survivor) = all_down_two_wiped(&h);
    let after = restored(&h);
    assert!(
        after["restore"]["from"]
            .as_str()
            .is_some_and(|f| f.contains(&format!("surviving member {survivor}"))),
        "the crashed survivor's data was read and used: {after:#}"
    );
    assert_eq!(succeeded(&h, "ReadSurvivor"), 1);
    assert_eq!(after["restore"]["revisionsLost"], 0, "{after:#}");
    assert_converged(&h, &[("k", 100), ("after", 50)]);
    assert_eq!(count_events(&h, "kubernetes", "RestoreFromBackup"), 0);
}

/// Every member crashes together for a reason that is not its data (its client port is
/// taken after a reboot): the restarts in place fail and are used up, and each member
/// is read as the survivor it is, never counted lost; no acknowledged write is lost.
#[test]
fn every_member_crashed_with_its_port_taken_and_its_data_intact_is_read_and_no_write_is_lost() {
    let _serial = serial();
    let h = Harness::start();
    let recovery = "    agentLostAfter: 1s\n    maxRestarts: 1\n";
    h.apply("c.yaml", &restore_manifest_with(&h.dir.path().join("backups"), recovery));
    let before = backed_up_then_written(&h);
    let pods = ["etcd-0", "etcd-1", "etcd-2"];
    for pod in pods {
        signal(pid_of(&before, pod), Signal::KILL);
    }
    // Something else listens on each member's client port now.
    let taken: Vec<std::net::TcpListener> = pods
        .iter()
        .map(|pod| {
            let url = member(&before, pod)["clientUrl"].as_str().expect("url").to_owned();
            let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
            support::wait_for("the port free to take", HEAL, || {
                std::net::TcpListener::bind(("127.0.0.1", port)).ok()
            })
        })
        .collect();
    // The restarts in place fail on the taken ports and are used up; the restore reads
    // the members' data (through scratch copies on other ports). The ports come free
    // while it reads, so that the restored members can start.
    support::wait_for("a survivor read", HEAL, || (succeeded(&h, "ReadSurvivor") >= 1).then_some(()));
    assert!(
        count_events(&h, "kubernetes", "RestartInPlace") >= 3,
        "each member was restarted in place first"
    );
    drop(taken);
    let after = restored(&h);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.contains("surviving member")),
        "a survivor's data, not the older backup: {after:#}"
    );
    assert!(succeeded(&h, "ReadSurvivor") >= 2, "the crashed members were read, not counted lost");
    assert_eq!(after["restore"]["revisionsLost"], 0, "{after:#}");
    assert_eq!(count_events(&h, "kubernetes", "RestoreFromBackup"), 0);
    assert_converged(&h, &[("k", 100), ("after", 50)]);
}

/// A survivor's copy is started with `--force-new-cluster`, and until it runs it may
/// dial the peers its data lists. While something answers at a listed member's peer
/// URL the copy is not started, and the failed read says where; once nothing answers
/// there, the survivor is read and nothing is lost.
#[test]
fn a_survivors_copy_is_never_started_while_a_listed_peer_answers() {
    let _serial = serial();
    let h = Harness::start();
    h.apply("c.yaml", &restore_manifest(&h.dir.path().join("backups")));
    let before = backed_up_then_written(&h);
    let leader = leader(&h);
    let wiped: Vec<&str> = ["etcd-0", "etcd-1", "etcd-2"].into_iter().filter(|p| *p != leader).collect();
    let peer = member(&before, wiped[0])["peerUrl"].as_str().expect("a peer URL").to_owned();
    let port: u16 = peer.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    for pod in ["etcd-0", "etcd-1", "etcd-2"] {
        signal(pid_of(&before, pod), Signal::KILL);
    }
    // Something takes that member's peer port as soon as it is free.
    let listener = support::wait_for("the peer port free to take", HEAL, || {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok()
    });
    for pod in &wiped {
        std::fs::remove_dir_all(data_dir_of(&before, pod)).expect("delete data");
    }
    support::wait_for("a read of the survivor held back", HEAL, || {
        h.events("kubernetes").into_iter().find(|e| {
            e["reason"] == "ReadSurvivor"
                && e["kind"] == "Warning"
                && e["message"].as_str().is_some_and(|m| m.contains(&format!("answers at {peer}")))
        })
    });
    assert_eq!(succeeded(&h, "ReadSurvivor"), 0, "never read while the peer answers");
    drop(listener);
    let after = restored(&h);
    assert_eq!(succeeded(&h, "ReadSurvivor"), 1);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.contains(&format!("surviving member {leader}"))),
        "{after:#}"
    );
    assert_converged(&h, &[("k", 100), ("after", 50)]);
}

#[test]
fn a_controller_killed_after_choosing_the_restore_source_reuses_that_source() {
    let _serial = serial();
    let mut h = Harness::start();
    h.kill_daemon();
    h.start_daemon_with(&[(etcd_warden::act::FAILPOINT_ENV, "RestoreSourceChosen")]);
    let (before, survivor) = all_down_two_wiped(&h);
    h.wait_daemon_exit(HEAL);
    // The survivor's snapshot is recorded; now the survivor itself is lost too. Only the
    // recorded snapshot holds the writes made after the backup.
    support::kill_processes_under(&h.state_dir());
    std::fs::remove_dir_all(data_dir_of(&before, &survivor)).expect("delete the survivor's data");
    h.start_daemon();
    let after = restored(&h);
    assert_eq!(succeeded(&h, "ReadSurvivor"), 1, "the survivor's data was read once, before the crash");
    assert!(
        after["restore"]["from"]
            .as_str()
            .is_some_and(|f| f.contains(&format!("surviving member {survivor}"))),
        "the recorded source was reused: {after:#}"
    );
    assert_converged(&h, &[("k", 100), ("after", 50)]);
    assert_eq!(count_events(&h, "kubernetes", "RestoreFromBackup"), 0, "never fell back to the older backup");
}

/// Mid-replacement, the learner is the only member whose data is left, and a backup is
/// newer than it: the backup is restored. A learner is never a survivor, however much
/// data it holds (here it misses the 50 writes made after it stopped).
#[test]
fn a_learner_as_the_only_survivor_loses_to_a_newer_backup() {
    if support::etcd_is_3_3() {
        println!("skipped: etcd 3.3 has no learners");
        return;
    }
    let _serial = serial();
    let mut h = Harness::start();
    h.kill_daemon();
    // The controller dies right after launching the replacement learner, so the slot
    // stays a learner while the test stops it.
    h.start_daemon_with(&[(etcd_warden::act::FAILPOINT_ENV, "LaunchReplacement")]);
    let recovery = "    agentLostAfter: 1s\n    unresponsiveAfter: 1h\n";
    h.apply("c.yaml", &restore_manifest_with(&h.dir.path().join("backups"), recovery));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    let voters: Vec<String> = ["etcd-0", "etcd-1"]
        .iter()
        .map(|p| member(&before, p)["clientUrl"].as_str().expect("url").to_owned())
        .collect();
    put_keys(&voters, "k", 100);
    let pid = pid_of(&before, "etcd-2");
    signal(pid, Signal::STOP);
    let dir = data_dir_of(&before, "etcd-2");
    std::fs::remove_dir_all(&dir).expect("delete etcd-2's data");
    signal(pid, Signal::KILL);
    h.wait_daemon_exit(HEAL);
    let learner_url = member(&before, "etcd-2")["clientUrl"].as_str().expect("url").to_owned();
    let learner = support::wait_for("the learner caught up", HEAL, || {
        let list = support::try_member_list(&voters)?;
        let is_learner = list.iter().any(|(_, name, learner)| name == "etcd-2" && *learner);
        let caught_up = support::try_revision(&learner_url)? >= support::try_revision(&voters[0])?;
        let pids = support::pids_with_arg(&format!("--data-dir={dir}"));
        (is_learner && caught_up && pids.len() == 1).then(|| pids[0])
    });
    // The learner stops answering (it keeps its process: the controller waits for it),
    // the voters take 50 more writes and a backup holds them all.
    signal(learner, Signal::STOP);
    put_keys(&voters, "after", 50);
    h.start_daemon();
    h.cli_ok(&["backup", "kubernetes"]);
    // Both voters are lost with their data; the learner crashes with its own intact.
    for pod in ["etcd-0", "etcd-1"] {
        signal(pid_of(&before, pod), Signal::KILL);
        std::fs::remove_dir_all(data_dir_of(&before, pod)).expect("delete data");
    }
    signal(learner, Signal::KILL);
    let after = restored(&h);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.starts_with("backup ")),
        "the backup was restored, not the learner: {after:#}"
    );
    assert_eq!(succeeded(&h, "ReadSurvivor"), 0, "a learner is never read as a survivor");
    assert_converged(&h, &[("k", 100), ("after", 50)]);
}

/// A stranger on a member's port: while etcd-2 is down, another etcd cluster (a second
/// controller's member, or one started by hand) starts on its client port and answers
/// there as its own leader. It is never taken for etcd-2: status names it, the
/// cluster's member list stays its own, nothing is done to the stranger, and once the
/// port is free again etcd-2 comes back with every key.
#[test]
fn a_member_of_another_cluster_on_a_members_port_is_never_taken_for_it() {
    let _serial = serial();
    let mut h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    let ours = member_list(&endpoints(&before));
    // The controller is down while etcd-2 dies and the stranger takes its port: the
    // controller's first look sees the stranger there.
    h.kill_daemon();
    signal(pid_of(&before, "etcd-2"), Signal::KILL);
    let url = member(&before, "etcd-2")["clientUrl"].as_str().expect("url").to_owned();
    let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    support::wait_for("etcd-2's port free", HEAL, || {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok().map(drop)
    });
    let stranger = LoneEtcd::start_on(&h.dir.path().join("stranger"), port, support::free_port());
    put_keys(std::slice::from_ref(&stranger.endpoint), "theirs", 10);
    let theirs = member_list(std::slice::from_ref(&stranger.endpoint));
    h.start_daemon();
    let named = h.wait_status("kubernetes", "etcd-2 named as a stranger", HEAL, |s| {
        member(s, "etcd-2")["error"].as_str().is_some_and(|e| e.contains("another etcd cluster"))
    });
    assert_eq!(member(&named, "etcd-2")["healthy"], false, "{named:#}");
    assert_eq!(support::healthy_members(&named), 2, "{named:#}");
    // Some passes later, nothing was taken from the stranger nor done to it.
    let from = support::passes(&h, "kubernetes");
    support::wait_for("five passes with the stranger there", HEAL, || {
        (support::passes(&h, "kubernetes") >= from + 5).then_some(())
    });
    let status = h.status("kubernetes").expect("status");
    assert_ne!(status["phase"], "Healthy", "{status:#}");
    assert_eq!(member_list(std::slice::from_ref(&stranger.endpoint)), theirs, "the stranger is untouched");
    assert_keys(std::slice::from_ref(&stranger.endpoint), "theirs", 10);
    assert_keys(std::slice::from_ref(&stranger.endpoint), "k", 0);
    let listed = member_list(&endpoints(&before)[..2]);
    assert!(listed.iter().all(|m| !theirs.contains(m)), "no stranger in our list: {listed:?}");
    assert!(ours.iter().filter(|m| m.1 != "etcd-2").all(|m| listed.contains(m)), "{ours:?} then {listed:?}");
    drop(stranger);
    let healed = assert_converged(&h, &[("k", 100)]);
    let listed = member_list(&endpoints(&healed));
    assert!(listed.iter().all(|m| !theirs.contains(m)), "{listed:?}");
}
