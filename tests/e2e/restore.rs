//! Restore end to end (scenarios 3b and 4d): verified sources, the survivor first, the
//! data-loss window, Manual versus Restore, and a corrupt backup refused.

use crate::support;
use std::path::Path;
use std::time::Duration;

use crate::support::{
    Harness, assert_keys, count_events, endpoints, local_manifest, member, put_keys, signal, wait_for,
};
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);

fn manifest(members: usize, dir: &Path, quorum_loss: &str) -> String {
    format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n  policy:\n    quorumLoss: {quorum_loss}\n    maxDataLoss: 1h\n",
        local_manifest("kubernetes", members, "    agentLostAfter: 1s\n"),
        dir.display()
    )
}

/// Kills the members and deletes their data: their agents are lost for good.
fn lose(h: &Harness, status: &Value, pods: &[&str]) {
    for pod in pods {
        let m = member(status, pod);
        signal(m["task"]["pid"].as_u64().expect("pid"), Signal::KILL);
        std::fs::remove_dir_all(m["task"]["dataDir"].as_str().expect("data dir")).expect("delete data");
    }
    h.wait_status("kubernetes", "the loss seen", HEAL, |s| {
        pods.iter().all(|p| member(s, p)["task"]["agentLost"] == true) || s["restore"].is_object()
    });
}

/// A 3-member cluster under `quorumLoss: Restore`: 100 keys `k/`, a backup, then 50
/// keys `after/` that only the members hold.
fn three_members_backed_up_then_written() -> (Harness, Value) {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(3, &dir, "Restore"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 100);
    h.cli_ok(&["backup", "kubernetes"]);
    put_keys(&endpoints(&before), "after", 50);
    settled(&h);
    (h, before)
}

/// Waits until every member has applied the same revision: a write acknowledged by a
/// majority may not have reached the one member a test keeps, and losing the two that
/// hold it loses it for good (no controller can bring it back).
fn settled(h: &Harness) -> Value {
    support::wait_same_revision(h, "kubernetes", 3, HEAL)
}

fn count(endpoints: &[String], prefix: &str) -> usize {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut c = etcd_client::Client::connect(endpoints, None).await.expect("connect");
        let options = etcd_client::GetOptions::new().with_prefix().with_count_only();
        c.get(format!("{prefix}/"), Some(options)).await.expect("count").count() as usize
    })
}

fn restored(h: &Harness, members: usize) -> Value {
    h.wait_status("kubernetes", "Healthy after a restore", HEAL, |s| {
        s["phase"] == "Healthy" && support::healthy_members(s) == members && s["restore"].is_object()
    })
}

#[test]
fn two_lost_members_come_back_from_the_survivor_with_every_key() {
    let (h, before) = three_members_backed_up_then_written();
    lose(&h, &before, &["etcd-1", "etcd-2"]);
    let after = restored(&h, 3);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.contains("surviving member etcd-0")),
        "{after:#}"
    );
    assert_eq!(after["restore"]["revisionsLost"], 0, "{after:#}");
    assert_keys(&endpoints(&after), "k", 100);
    assert_keys(&endpoints(&after), "after", 50);
    // The survivor's old data directory is kept aside, and status lists it with its size.
    let kept = after["keptAside"].as_array().cloned().unwrap_or_default();
    assert!(
        kept.iter().any(|k| k["pod"] == "etcd-0"
            && k["path"].as_str().is_some_and(|p| p.contains(".before-restore-"))
            && k["sizeBytes"].as_u64() > Some(0)),
        "{after:#}"
    );
}

#[test]
fn all_members_lost_come_back_from_the_backup_with_the_data_loss_window_stated() {
    let (h, before) = three_members_backed_up_then_written();
    h.wait_status("kubernetes", "the newest revision seen", HEAL, |s| {
        s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["revision"].as_i64() >= Some(151)))
    });
    lose(&h, &before, &["etcd-0", "etcd-1", "etcd-2"]);
    let after = restored(&h, 3);
    let report = &after["restore"];
    assert!(report["from"].as_str().is_some_and(|f| f.starts_with("backup ")), "{report:#}");
    assert_eq!(report["revisionsLost"], 50, "the 50 puts after the backup: {report:#}");
    assert!(report["dataLossSeconds"].as_i64().is_some(), "{report:#}");
    assert_keys(&endpoints(&after), "k", 100);
    assert_eq!(count(&endpoints(&after), "after"), 0, "writes after the backup are the stated loss");
}

#[test]
fn under_manual_nothing_is_done_and_status_says_what_to_run() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(3, &dir, "Manual"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 20);
    h.cli_ok(&["backup", "kubernetes"]);
    lose(&h, &before, &["etcd-1", "etcd-2"]);
    let status = h.wait_status("kubernetes", "RestoreRequired", HEAL, |s| {
        support::condition(s, "RestoreRequired")["status"] == "True"
    });
    let message = support::condition(&status, "RestoreRequired")["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains("etcd-warden restore kubernetes --from latest"), "{message}");
    let passes = support::passes(&h, "kubernetes");
    wait_for("ten more passes", HEAL, || (support::passes(&h, "kubernetes") >= passes + 10).then_some(()));
    for step in ["RestoreFromSurvivor", "RestoreFromBackup", "Restored", "RemoveMember", support::add_step()]
    {
        assert_eq!(count_events(&h, "kubernetes", step), 0, "{step} under Manual");
    }
    // The command it names works.
    h.cli_ok(&["restore", "kubernetes", "--from", "latest", "--yes"]);
    let after = restored(&h, 3);
    assert_keys(&endpoints(&after), "k", 20);
}

#[test]
fn a_single_member_with_its_data_deleted_is_restored_from_the_newest_backup() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(1, &dir, "Restore"));
    let before = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&before), "k", 60);
    h.cli_ok(&["backup", "kubernetes"]);
    lose(&h, &before, &["etcd-0"]);
    let after = restored(&h, 1);
    assert!(after["restore"]["from"].as_str().is_some_and(|f| f.starts_with("backup ")), "{after:#}");
    assert_keys(&endpoints(&after), "k", 60);
}

#[test]
fn a_backup_with_a_flipped_byte_is_refused_and_the_previous_one_is_used() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(1, &dir, "Manual"));
    let before = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&before), "k", 40);
    let good: Value = serde_json::from_str(&h.cli_ok(&["backup", "kubernetes", "-o", "json"])).expect("JSON");
    put_keys(&endpoints(&before), "later", 40);
    let bad: Value = serde_json::from_str(&h.cli_ok(&["backup", "kubernetes", "-o", "json"])).expect("JSON");
    let file = dir.join("kubernetes").join(format!("{}.db", bad["id"].as_str().expect("id")));
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).expect("flip a byte");
    let explicit = h.cli(&["restore", "kubernetes", "--from", bad["id"].as_str().expect("id"), "--yes"]);
    assert_eq!(explicit.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&explicit.stderr).contains("fails verification"), "{explicit:?}");
    let report: Value =
        serde_json::from_str(&h.cli_ok(&["restore", "kubernetes", "--from", "latest", "--yes"]))
            .expect("JSON");
    assert_eq!(report["from"], format!("backup {}", good["id"].as_str().expect("id")), "{report:#}");
    assert_eq!(report["refusedBackups"][0], bad["id"]);
    let after = restored(&h, 1);
    assert_keys(&endpoints(&after), "k", 40);
    assert_eq!(count(&endpoints(&after), "later"), 0);
    assert!(count_events(&h, "kubernetes", "BackupRefused") >= 1);
}

/// The offline tool is the one shipped beside the cluster's etcd: etcdutl where etcd
/// ships it (3.5 on; 3.6's etcdctl keeps only `snapshot save`). A shim directory stands
/// for such an etcd: its `etcd` is the real one, its `etcdctl` refuses `snapshot
/// status|restore` as 3.6's does, and its `etcdutl` records each call and runs the real
/// tool. The manifest's `etcdBinary` names the shim's etcd; `PATH` is left alone, so the
/// tool is found beside etcd, not on `PATH`.
#[test]
fn the_snapshot_is_checked_and_restored_by_the_etcdutl_shipped_beside_etcd() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start();
    let shims = h.dir.path().join("etcd-3.6-bin");
    std::fs::create_dir(&shims).expect("shim dir");
    let which = |program: &str| {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .expect("which");
        std::path::PathBuf::from(String::from_utf8(out.stdout).expect("path").trim())
    };
    let etcd = support::etcd_binary();
    let etcd = if etcd.contains('/') { std::path::PathBuf::from(etcd) } else { which(&etcd) };
    let beside = etcd.parent().expect("etcd's directory");
    // The real offline tool: etcdutl where this etcd ships it, else its etcdctl.
    let real = if beside.join("etcdutl").is_file() {
        beside.join("etcdutl").display().to_string()
    } else if beside.join("etcdctl").is_file() {
        format!("ETCDCTL_API=3 {}", beside.join("etcdctl").display())
    } else {
        format!("ETCDCTL_API=3 {}", which("etcdctl").display())
    };
    let calls = h.dir.path().join("etcdutl-calls");
    let scripts = [
        (
            "etcdctl",
            "#!/bin/sh\nif [ \"$1\" = snapshot ] && [ \"$2\" != save ]; then echo \"Error: unknown command \\\"$2\\\" for \\\"etcdctl snapshot\\\"\" >&2; exit 1; fi\nexit 1\n".to_owned(),
        ),
        ("etcdutl", format!("#!/bin/sh\necho \"$1 $2\" >> {}\nexec env {real} \"$@\"\n", calls.display())),
    ];
    for (name, script) in scripts {
        let path = shims.join(name);
        std::fs::write(&path, script).expect("write shim");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::os::unix::fs::symlink(&etcd, shims.join("etcd")).expect("link etcd");
    let dir = h.dir.path().join("backups");
    let manifest = manifest(1, &dir, "Restore").replace(
        &format!("etcdBinary: {}", support::etcd_binary()),
        &format!("etcdBinary: {}/etcd", shims.display()),
    );
    assert!(manifest.contains("etcd-3.6-bin/etcd"), "{manifest}");
    h.apply("c.yaml", &manifest);
    let before = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&before), "k", 30);
    h.cli_ok(&["backup", "kubernetes"]);
    let read = |calls: &Path| std::fs::read_to_string(calls).unwrap_or_default();
    assert!(
        read(&calls).contains("snapshot status"),
        "the backup was checked by etcdutl: {:?}",
        read(&calls)
    );
    lose(&h, &before, &["etcd-0"]);
    let after = restored(&h, 1);
    assert_keys(&endpoints(&after), "k", 30);
    assert!(read(&calls).contains("snapshot restore"), "restored by etcdutl: {:?}", read(&calls));
}

/// Issue 17's first finding: `host: 127.0.0.1` applied again as `host: localhost`. Every
/// URL the controller computes changes, and none matches what the members advertise;
/// the members are known by their IDs, so nothing is restored, and every write made
/// after the backup stays.
#[test]
fn a_host_alias_applied_again_changes_no_member_and_loses_no_write() {
    let (h, before) = three_members_backed_up_then_written();
    let ids = |s: &Value| ["etcd-0", "etcd-1", "etcd-2"].map(|p| member(s, p)["id"].clone());
    let dir = h.dir.path().join("backups");
    h.apply("alias.yaml", &manifest(3, &dir, "Restore").replace("host: 127.0.0.1", "host: localhost"));
    // Ten passes past the edit, each looked at: the members keep their IDs throughout.
    let passes = support::passes(&h, "kubernetes");
    wait_for("ten passes after the edit", HEAL, || {
        let status = h.status("kubernetes")?;
        assert_eq!(ids(&status), ids(&before), "a member changed: {status:#}");
        (support::passes(&h, "kubernetes") >= passes + 10).then_some(())
    });
    let after = h.wait_healthy("kubernetes", 3, HEAL);
    assert_eq!(ids(&after), ids(&before));
    for step in ["ReadSurvivor", "RestoreFromSurvivor", "RestoreFromBackup", "RemoveMember", "WipeMember"] {
        assert_eq!(count_events(&h, "kubernetes", step), 0, "no {step}: {:#?}", h.events("kubernetes"));
    }
    assert!(after["restore"].is_null(), "{after:#}");
    let eps = endpoints(&before);
    assert_keys(&eps, "k", 100);
    assert_keys(&eps, "after", 50);
}

/// A backup now, by its ID.
fn backup_id(h: &Harness) -> String {
    let record: Value =
        serde_json::from_str(&h.cli_ok(&["backup", "kubernetes", "-o", "json"])).expect("JSON");
    record["id"].as_str().expect("an id").to_owned()
}

/// Waits for a restore other than `previous` (its report's time) to be done.
fn restored_again(h: &Harness, previous: &Value) -> Value {
    let before = previous["restore"]["at"].clone();
    h.wait_status("kubernetes", "Healthy after another restore", HEAL, |s| {
        s["phase"] == "Healthy" && support::healthy_members(s) == 3 && s["restore"]["at"] != before
    })
}

#[test]
fn writes_after_a_rollback_survive_a_majority_loss_and_the_backups_the_rollback_undid_never_return() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(3, &dir, "Restore"));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&before), "k", 20);
    let kept = backup_id(&h);
    // Many writes, backed up: a backup whose revision is far above what follows.
    put_keys(&endpoints(&before), "undone", 100);
    backup_id(&h);
    h.cli_ok(&["restore", "kubernetes", "--from", &kept, "--yes"]);
    let rolled_back = restored(&h, 3);
    assert_eq!(count(&endpoints(&rolled_back), "undone"), 0, "the rollback undid them");
    put_keys(&endpoints(&rolled_back), "after", 10);
    settled(&h);
    lose(&h, &rolled_back, &["etcd-1", "etcd-2"]);
    let after = restored_again(&h, &rolled_back);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.contains("surviving member etcd-0")),
        "the survivor, not the backup taken before the rollback: {after:#}"
    );
    assert_keys(&endpoints(&after), "k", 20);
    assert_keys(&endpoints(&after), "after", 10);
    assert_eq!(count(&endpoints(&after), "undone"), 0, "what the rollback undid stays undone");
}

#[test]
fn after_a_purge_a_new_cluster_on_the_same_destination_keeps_its_own_data_through_a_majority_loss() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &manifest(3, &dir, "Restore"));
    let old = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&old), "old", 150);
    backup_id(&h);
    h.cli_ok(&["delete", "kubernetes", "--purge"]);
    // The same name and destination: the purged cluster's backup is found again there.
    h.apply("c.yaml", &manifest(3, &dir, "Restore"));
    let new = h.wait_healthy("kubernetes", 3, BOOT);
    let adopted =
        h.wait_status("kubernetes", "the old backup adopted", HEAL, |s| s["lastBackup"]["id"].is_string());
    assert_eq!(count(&endpoints(&new), "old"), 0, "a new cluster");
    put_keys(&endpoints(&new), "new", 10);
    settled(&h);
    lose(&h, &adopted, &["etcd-1", "etcd-2"]);
    let after = restored(&h, 3);
    assert!(
        after["restore"]["from"].as_str().is_some_and(|f| f.contains("surviving member etcd-0")),
        "the survivor, not the purged cluster's backup at a higher revision: {after:#}"
    );
    assert_keys(&endpoints(&after), "new", 10);
    assert_eq!(count(&endpoints(&after), "old"), 0, "the purged cluster's data never returns");
}
