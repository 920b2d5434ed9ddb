//! Restore drills end to end: the newest verified backup restored into a scratch etcd
//! beside the daemon and checked, on demand and on schedule, file and S3; a corrupt
//! backup, no backup and a second drill at once are refused or fail saying why.

use crate::support;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Harness, condition, endpoints, local_manifest, member_list, put_keys, wait_for};
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const NAME: &str = "kubernetes";

fn with_backup(members: usize, destination: &str, extra: &str) -> String {
    format!(
        "{}  backup:\n    schedule: \"0 3 * * *\"\n    destination: {destination}\n    freshFor: 15m\n{extra}",
        local_manifest(NAME, members, "")
    )
}

fn file_destination(h: &Harness) -> (PathBuf, String) {
    let dir = h.dir.path().join("backups");
    let url = format!("file://{}", dir.display());
    (dir, url)
}

/// The cluster's temporary directory, where drills make their scratch directories.
fn tmp_dir(h: &Harness) -> PathBuf {
    h.state_dir().join("clusters").join(NAME).join("tmp")
}

fn scratch_dirs(h: &Harness) -> Vec<String> {
    let tmp = tmp_dir(h);
    if !tmp.exists() {
        return Vec::new();
    }
    support::dir_names(&tmp).into_iter().filter(|n| n.starts_with("drill-")).collect()
}

/// Processes started on a drill's scratch directory (a scratch etcd).
fn scratch_processes(h: &Harness) -> Vec<u64> {
    support::pids_mentioning(&format!("{}/drill-", tmp_dir(h).display()))
}

fn backup(h: &Harness) -> Value {
    serde_json::from_str(&h.cli_ok(&["backup", NAME, "-o", "json"])).expect("backup JSON")
}

fn metric(h: &Harness, line: &str) -> Option<f64> {
    let text = support::http_get(&format!("{}/metrics", h.server())).ok()?;
    text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse().ok())
}

fn pids(status: &Value) -> Vec<u64> {
    ["etcd-0", "etcd-1", "etcd-2"].iter().map(|p| support::pid_of(status, p)).collect()
}

#[test]
fn a_drill_restores_the_newest_backup_beside_the_cluster_and_leaves_nothing_behind() {
    let h = Harness::start();
    let (_, destination) = file_destination(&h);
    h.apply("c.yaml", &with_backup(3, &destination, ""));
    let status = h.wait_healthy(NAME, 3, BOOT);
    assert!(condition(&status, "BackupRestorable").is_null(), "no drill, none scheduled: no condition");
    let eps = endpoints(&status);
    put_keys(&eps, "drill", 250);
    let record = backup(&h);
    let members_before = member_list(&eps);
    let pids_before = pids(&status);
    let out = h.cli_ok(&["drill", NAME, "-o", "json"]);
    let report: Value = serde_json::from_str(&out).expect("drill JSON");
    assert_eq!(report["result"], "passed", "{report:#}");
    assert_eq!(report["backupId"], record["id"]);
    assert_eq!(report["trigger"], "onDemand");
    assert_eq!(report["revision"], record["revision"], "served the backup's revision");
    assert_eq!(report["expectedRevision"], record["revision"]);
    assert_eq!(report["keys"], record["keys"], "served the backup's key count");
    assert_eq!(report["keys"], 250);
    assert_eq!(report["sampledKeys"], 100, "a hundred keys read back");
    assert!(report["durationSeconds"].as_f64().is_some_and(|d| d > 0.0), "{report:#}");
    assert!(report["scratchPeakRssBytes"].as_u64().is_some_and(|b| b > 0), "{report:#}");
    assert!(scratch_dirs(&h).is_empty(), "the scratch directory is deleted: {:?}", scratch_dirs(&h));
    assert!(scratch_processes(&h).is_empty(), "no scratch etcd is left: {:?}", scratch_processes(&h));
    let after = h.wait_status(NAME, "BackupRestorable True", BOOT, |s| {
        condition(s, "BackupRestorable")["status"] == "True"
    });
    assert_eq!(condition(&after, "BackupRestorable")["reason"], "DrillPassed");
    assert_eq!(after["lastDrill"]["backupId"], record["id"]);
    assert_eq!(after["lastDrill"]["result"], "passed");
    assert_eq!(member_list(&eps), members_before, "the live member list is unchanged");
    assert_eq!(pids(&after), pids_before, "no live member was restarted");
    assert_eq!(support::healthy_members(&after), 3);
    assert_eq!(support::count_events(&h, NAME, "DrillPassed"), 1);
    let passed = format!("etcd_warden_drills_total{{cluster=\"{NAME}\",result=\"passed\"}} ");
    assert_eq!(metric(&h, &passed), Some(1.0));
    let duration = format!("etcd_warden_drill_duration_seconds{{cluster=\"{NAME}\"}} ");
    assert!(metric(&h, &duration).is_some_and(|d| d > 0.0), "the drill's duration is exported");
    let table = h.cli_ok(&["drill", NAME]);
    assert!(table.contains("PASSED") && table.contains("revision"), "{table}");
}

#[test]
fn no_backup_says_so_and_a_corrupt_backup_fails_its_drill_with_the_reason() {
    let h = Harness::start();
    let (dir, destination) = file_destination(&h);
    h.apply("c.yaml", &with_backup(1, &destination, ""));
    let status = h.wait_healthy(NAME, 1, BOOT);
    let none = h.cli(&["drill", NAME, "-o", "json"]);
    assert!(!none.status.success());
    let why = String::from_utf8_lossy(&none.stderr);
    assert!(why.contains("no verified backup to drill"), "{why}");
    put_keys(&endpoints(&status), "drill", 20);
    let record = backup(&h);
    let file = dir.join(NAME).join(format!("{}.db", record["id"].as_str().expect("id")));
    let mut bytes = std::fs::read(&file).expect("the stored backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).expect("corrupt the stored backup");
    let out = h.cli(&["drill", NAME, "-o", "json"]);
    assert!(!out.status.success(), "a failed drill exits 1");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("failed (hash mismatch)") && why.contains("corrupt"), "{why}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is printed too");
    assert_eq!((&report["result"], &report["failure"]), (&"failed".into(), &"hashMismatch".into()));
    assert!(report["revision"].is_null(), "no etcd was started: {report:#}");
    assert!(scratch_dirs(&h).is_empty(), "{:?}", scratch_dirs(&h));
    let after = h.wait_status(NAME, "BackupRestorable False", BOOT, |s| {
        condition(s, "BackupRestorable")["status"] == "False"
    });
    let restorable = condition(&after, "BackupRestorable");
    assert_eq!(restorable["reason"], "DrillFailed");
    assert!(restorable["message"].as_str().is_some_and(|m| m.contains("hash mismatch")), "{restorable}");
    let events = h.events(NAME);
    let failed = events.iter().find(|e| e["reason"] == "DrillFailed").expect("a DrillFailed event");
    assert_eq!(failed["kind"], "Warning");
    assert!(events.iter().any(|e| e["reason"] == "DrillRefused"), "the refused drill is an event");
}

#[test]
fn a_second_drill_while_one_runs_is_refused() {
    let h = Harness::start();
    let (_, destination) = file_destination(&h);
    h.apply("c.yaml", &with_backup(1, &destination, ""));
    let status = h.wait_healthy(NAME, 1, BOOT);
    // 40 MB, so that the first drill lasts long enough to meet the second.
    support::put_values(&endpoints(&status), "big", 160, &"v".repeat(256 * 1024));
    backup(&h);
    let first = Command::new(support::BIN)
        .args(["drill", NAME, "--server", &h.server()])
        .stdout(Stdio::null())
        .spawn()
        .expect("first drill");
    wait_for("the first drill's scratch directory", BOOT, || (!scratch_dirs(&h).is_empty()).then_some(()));
    let answer = support::http_post(&format!("{}/v1/clusters/{NAME}/drills", h.server()), "");
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert!(answer.contains("a drill is already running"), "{answer}");
    let mut first = first;
    let done = wait_for("the first drill", BOOT, || first.try_wait().ok().flatten());
    assert!(done.success(), "the first drill passed");
    assert_eq!(support::count_events(&h, NAME, "DrillPassed"), 1);
}

#[test]
fn scheduled_drills_run_from_s3_and_show_in_status() {
    let server = support::s3::S3Server::start();
    let h = Harness::start();
    let secret = h.dir.path().join("s3-secret");
    std::fs::write(&secret, support::s3::SECRET_ACCESS_KEY).expect("secret file");
    let destination = format!("s3://{}/etcd", support::s3::BUCKET);
    let s3 = format!(
        "    s3:\n      endpoint: {}\n      region: us-east-1\n      accessKeyId: {}\n      secretAccessKeyFile: {}\n    drill: {{ every: 1s }}\n",
        server.endpoint(),
        support::s3::ACCESS_KEY_ID,
        secret.display()
    );
    h.apply("c.yaml", &with_backup(1, &destination, &s3));
    let status = h.wait_healthy(NAME, 1, BOOT);
    assert_eq!(condition(&status, "BackupRestorable")["status"], "Unknown", "scheduled, none ran yet");
    assert_eq!(condition(&status, "BackupRestorable")["reason"], "NoDrillYet");
    put_keys(&endpoints(&status), "drill", 30);
    let record = backup(&h);
    assert!(record["location"].as_str().is_some_and(|l| l.starts_with("s3://")), "{record}");
    let after = h.wait_status(NAME, "a scheduled drill in status", BOOT, |s| {
        s["lastDrill"]["trigger"] == "scheduled" && condition(s, "BackupRestorable")["status"] == "True"
    });
    assert_eq!(after["lastDrill"]["backupId"], record["id"]);
    assert_eq!(after["lastDrill"]["keys"], 30);
    wait_for("a second scheduled drill", BOOT, || {
        (support::count_events(&h, NAME, "DrillPassed") >= 2).then_some(())
    });
    assert!(
        server.requests().iter().any(|r| r.starts_with("GET ") && r.contains(".db")),
        "the backup was fetched from S3: {:?}",
        server.requests()
    );
    // Without spec.backup.drill, drills stop: once the last one ended, none starts.
    h.apply("c.yaml", &with_backup(1, &destination, &s3.replace("    drill: { every: 1s }\n", "")));
    // A pass of the new generation has read it; a drill started before may still run.
    h.wait_status(NAME, "generation 2 observed", BOOT, |s| s["observedGeneration"] == 2);
    let drills = wait_for("the last scheduled drill to end", BOOT, || {
        let idle = scratch_dirs(&h).is_empty() && scratch_processes(&h).is_empty();
        idle.then(|| support::count_events(&h, NAME, "DrillPassed"))
    });
    support::assert_holds_over_passes(
        &h,
        NAME,
        "no drill after drill was unset",
        Duration::from_secs(3),
        || scratch_dirs(&h).is_empty() && support::count_events(&h, NAME, "DrillPassed") == drills,
    );
}
