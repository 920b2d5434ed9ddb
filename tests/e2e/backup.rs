//! Backups end to end: on demand, scheduled with retention, overlapping, failing.

use crate::support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Harness, endpoints, local_manifest, put_keys, wait_for};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BOOT: Duration = Duration::from_secs(60);

fn with_backup(name: &str, members: usize, dir: &Path, schedule: &str, retention: &str) -> String {
    format!(
        "{}  backup:\n    schedule: {schedule}\n    destination: file://{}\n    retention: {retention}\n    freshFor: 15m\n",
        local_manifest(name, members, ""),
        dir.display()
    )
}

fn snapshot_status(file: &Path) -> Value {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .output()
        .expect("etcdctl");
    serde_json::from_slice(&out.stdout).expect("snapshot status JSON")
}

fn db_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    files.sort();
    files
}

/// The first temporary (dot) file in `dir`, where a backup streams its snapshot.
fn staging_file(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
}

#[test]
fn an_on_demand_backup_is_verified_listed_and_shown_in_status() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &with_backup("kubernetes", 3, &dir, "\"0 3 * * *\"", "{ keepLast: 5 }"));
    let status = h.wait_healthy("kubernetes", 3, BOOT);
    assert_eq!(support::condition(&status, "BackupReady")["reason"], "NoBackup");
    put_keys(&endpoints(&status), "k", 120);
    let record: Value =
        serde_json::from_str(&h.cli_ok(&["backup", "kubernetes", "-o", "json"])).expect("JSON");
    let file = dir.join("kubernetes").join(format!("{}.db", record["id"].as_str().expect("id")));
    let bytes = std::fs::read(&file).expect("the snapshot is at the destination");
    assert_eq!(record["sha256"], hex::encode(Sha256::digest(&bytes)), "recorded SHA-256 of the stored file");
    assert_eq!(record["sizeBytes"], bytes.len() as u64);
    assert_eq!(record["verified"], true);
    assert_eq!(record["keys"], 120);
    assert_eq!(record["revision"], snapshot_status(&file)["revision"], "the revision is the file's own");
    let meta = dir.join("kubernetes").join(format!("{}.json", record["id"].as_str().expect("id")));
    assert!(meta.exists(), "a catalog record beside the snapshot");
    let table = h.cli_ok(&["backups", "kubernetes"]);
    assert!(table.contains(record["id"].as_str().expect("id")), "{table}");
    let text = h.cli_ok(&["backup", "kubernetes"]);
    for word in ["revision", "size", "sha256"] {
        assert!(text.contains(word), "{text}");
    }
    let after = h.wait_status("kubernetes", "BackupReady", BOOT, |s| {
        support::condition(s, "BackupReady")["status"] == "True"
    });
    assert_eq!(after["lastBackup"]["verified"], true);
    let metrics = support::http_get(&format!("{}/metrics", h.server())).expect("metrics");
    assert!(
        metrics.contains("etcd_warden_backup_age_seconds{cluster=\"kubernetes\"}"),
        "backup age exported"
    );
}

#[test]
fn scheduled_backups_run_and_retention_keeps_the_newest() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &with_backup("kubernetes", 1, &dir, "{ every: 1s }", "{ keepLast: 2 }"));
    h.wait_healthy("kubernetes", 1, BOOT);
    wait_for("four scheduled backups", Duration::from_secs(60), || {
        (support::count_events(&h, "kubernetes", "BackupTaken") >= 4).then_some(())
    });
    let listed: Vec<Value> =
        serde_json::from_str(&h.cli_ok(&["backups", "kubernetes", "-o", "json"])).expect("JSON");
    assert_eq!(listed.len(), 2, "keepLast 2: {listed:#?}");
    let files = db_files(&dir.join("kubernetes"));
    assert_eq!(files.len(), 2, "pruned at the destination too: {files:?}");
}

#[test]
fn overlapping_backups_are_refused_and_a_failed_backup_never_disturbs_etcd() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &with_backup("kubernetes", 1, &dir, "\"0 3 * * *\"", "{ keepLast: 5 }"));
    let status = h.wait_healthy("kubernetes", 1, BOOT);
    // 40 MB so that one backup lasts long enough to overlap with a second.
    let value = "v".repeat(256 * 1024);
    support::put_values(&endpoints(&status), "big", 160, &value);
    let first = std::process::Command::new(support::BIN)
        .args(["backup", "kubernetes", "--server", &h.server()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("first backup");
    // The snapshot streams into a dot file in the destination directory itself.
    wait_for("the first backup to be running", BOOT, || staging_file(&dir.join("kubernetes")));
    let second = h.cli(&["backup", "kubernetes"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"), "{second:?}");
    let mut first = first;
    assert!(first.wait().expect("first").success());

    // A destination that cannot be written: the backup fails, etcd serves on.
    std::fs::remove_dir_all(&dir).expect("remove the backup dir");
    std::fs::write(&dir, b"a file where the directory was").expect("block the destination");
    let failed = h.cli(&["backup", "kubernetes"]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    let status = h.wait_status("kubernetes", "BackupFailed", BOOT, |s| {
        support::condition(s, "BackupReady")["reason"] == "BackupFailed"
    });
    assert_eq!(status["phase"], "Healthy", "a failed backup does not touch the cluster");
    assert!(h.events("kubernetes").iter().any(|e| e["reason"] == "BackupFailed" && e["kind"] == "Warning"));
    put_keys(&endpoints(&status), "after", 10);
    support::assert_keys(&endpoints(&status), "after", 10);
}

#[test]
fn a_snapshot_stream_broken_midway_leaves_nothing_at_the_destination() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    h.apply("c.yaml", &with_backup("kubernetes", 1, &dir, "\"0 3 * * *\"", "{ keepLast: 5 }"));
    let status = h.wait_healthy("kubernetes", 1, BOOT);
    support::put_values(&endpoints(&status), "big", 160, &"v".repeat(256 * 1024));
    let objects = dir.join("kubernetes");
    // The member is frozen as soon as the snapshot starts to arrive, then killed: the
    // stream breaks midway. A stream fast enough to end before the freeze is retried.
    let broken = (0..5).find_map(|_| {
        let status = h.wait_healthy("kubernetes", 1, BOOT);
        let pid = support::member(&status, "etcd-0")["task"]["pid"].as_u64().expect("pid");
        let mut backup = Command::new(support::BIN)
            .args(["backup", "kubernetes", "--server", &h.server()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("backup");
        let deadline = std::time::Instant::now() + BOOT;
        while staging_file(&objects).is_none() && backup.try_wait().expect("wait").is_none() {
            assert!(std::time::Instant::now() < deadline, "the backup never started");
            std::thread::yield_now();
        }
        support::signal(pid, rustix::process::Signal::STOP);
        let done = backup.try_wait().expect("wait").is_some() || staging_file(&objects).is_none();
        support::signal(pid, rustix::process::Signal::KILL);
        let exit = backup.wait().expect("backup");
        (!done).then_some(exit)
    });
    let exit = broken.expect("a backup interrupted midway in five attempts");
    assert_eq!(exit.code(), Some(1), "the backup failed");
    let left: Vec<String> = support::dir_names(&objects)
        .into_iter()
        .filter(|n| n.ends_with(".db") || n.starts_with('.'))
        .collect();
    let stored: Vec<Value> =
        serde_json::from_str(&h.cli_ok(&["backups", "kubernetes", "-o", "json"])).expect("JSON");
    let complete: Vec<String> =
        stored.iter().map(|r| format!("{}.db", r["id"].as_str().expect("id"))).collect();
    assert_eq!(left, complete, "no partial or temporary file, only earlier complete backups");
}

#[test]
fn backups_to_s3_are_stored_listed_and_restored_through_the_controller() {
    let server = support::s3::S3Server::start();
    let h = Harness::start();
    let secret = h.dir.path().join("s3-secret");
    std::fs::write(&secret, support::s3::SECRET_ACCESS_KEY).expect("secret file");
    let manifest = format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: s3://{}/etcd\n    s3:\n      endpoint: {}\n      region: us-east-1\n      accessKeyId: {}\n      secretAccessKeyFile: {}\n    retention: {{ keepLast: 2 }}\n",
        local_manifest("kubernetes", 1, ""),
        support::s3::BUCKET,
        server.endpoint(),
        support::s3::ACCESS_KEY_ID,
        secret.display()
    );
    h.apply("c.yaml", &manifest);
    let status = h.wait_healthy("kubernetes", 1, BOOT);
    put_keys(&endpoints(&status), "k", 30);
    let record: Value =
        serde_json::from_str(&h.cli_ok(&["backup", "kubernetes", "-o", "json"])).expect("JSON");
    let id = record["id"].as_str().expect("id");
    assert!(
        record["location"].as_str().is_some_and(|l| l.starts_with("s3://backups/etcd/kubernetes")),
        "{record}"
    );
    let object = server.object_file(&format!("etcd/kubernetes/{id}.db"));
    let bytes = std::fs::read(&object).expect("the snapshot is in the bucket");
    assert_eq!(record["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert!(server.object_file(&format!("etcd/kubernetes/{id}.json")).exists(), "its record beside it");
    // Two more backups: retention keeps two in the bucket too.
    h.cli_ok(&["backup", "kubernetes"]);
    h.cli_ok(&["backup", "kubernetes"]);
    let listed: Vec<Value> =
        serde_json::from_str(&h.cli_ok(&["backups", "kubernetes", "-o", "json"])).expect("JSON");
    assert_eq!(listed.len(), 2);
    assert!(!object.exists(), "the oldest was pruned from the bucket");
    put_keys(&endpoints(&status), "later", 5);
    let report: Value =
        serde_json::from_str(&h.cli_ok(&["restore", "kubernetes", "--from", "latest", "--yes"]))
            .expect("JSON");
    assert!(report["from"].as_str().is_some_and(|f| f.starts_with("backup ")), "{report}");
    let after = h.wait_status("kubernetes", "Healthy after the restore", BOOT, |s| {
        s["phase"] == "Healthy" && s["restore"].is_object()
    });
    support::assert_keys(&endpoints(&after), "k", 30);
}

/// A daemon killed mid-backup leaves its staging file at a `file://` destination. The
/// next daemon's first pass deletes it, with an event; a staging file of a process that
/// still runs is left alone.
#[test]
fn staging_files_a_crashed_daemon_left_are_deleted_on_the_next_start() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    let cluster_dir = dir.join("kubernetes");
    std::fs::create_dir_all(&cluster_dir).expect("create the destination");
    // A pid above the kernel's pid_max never runs.
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4_194_304);
    let stale = cluster_dir.join(format!(".backup-{}-1700000000000.db.tmp", pid_max + 1));
    let live = cluster_dir.join(format!(".backup-{}-1700000000001.db.tmp", std::process::id()));
    for file in [&stale, &live] {
        std::fs::write(file, b"half a snapshot").expect("a staging file");
    }
    h.apply("c.yaml", &with_backup("kubernetes", 1, &dir, "\"0 3 * * *\"", "{ keepLast: 3 }"));
    wait_for("the StagingRemoved event", BOOT, || {
        h.events("kubernetes").into_iter().find(|e| e["reason"] == "StagingRemoved")
    });
    assert!(!stale.exists(), "a dead daemon's staging file is deleted");
    assert!(live.exists(), "a running process's staging file is kept");
    let event = h.events("kubernetes").into_iter().find(|e| e["reason"] == "StagingRemoved").expect("event");
    let message = event["message"].as_str().unwrap_or_default();
    assert!(message.contains(&stale.file_name().expect("name").to_string_lossy().into_owned()), "{message}");
}
