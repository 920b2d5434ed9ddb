//! Database maintenance end to end, on real etcd: defragmentation after a client's
//! compaction (followers first, the leader last after a leader move, writes served
//! throughout), and the NOSPACE alarm (reported under Manual; recovered under Recover
//! once the client freed space).

use crate::support;
use std::time::{Duration, Instant};

use crate::support::maintenance::{
    MIB, Probe, db_sizes, defrag_manifest, delete_and_compact, fill, launched_quotas,
};
use crate::support::{Harness, assert_keys, condition, endpoints, local_manifest, put_keys};
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);

/// Writes, deletes and compacts `mib` MiB, and waits until every member shrank; returns
/// (sizes before, sizes after, seconds from compaction to every member shrunk, longest
/// unavailability seen by the probe).
fn shrink(h: &Harness, name: &str, mib: usize, timeout: Duration) -> (Vec<i64>, Vec<i64>, f64, Duration) {
    let status = h.wait_healthy(name, 3, BOOT);
    let urls = endpoints(&status);
    put_keys(&urls, "keep", 50);
    assert_eq!(fill(&urls, "bulk", mib * 10, 100 * 1024), mib * 10, "every write accepted");
    let grown = h.wait_status(name, "the databases grown", BOOT, |s| {
        db_sizes(s).iter().all(|d| *d > (mib as i64) * MIB / 2)
    });
    let before = db_sizes(&grown);
    let probe = Probe::start(urls.clone());
    let compacted = Instant::now();
    delete_and_compact(&urls, "bulk");
    let shrunk = h.wait_status(name, "every member defragmented", timeout, |s| {
        let sizes = db_sizes(s);
        sizes.len() == 3
            && sizes.iter().zip(&before).all(|(after, before)| *after < before / 3)
            && s["phase"] == "Healthy"
    });
    let seconds = compacted.elapsed().as_secs_f64();
    let longest = probe.stop();
    assert_keys(&urls, "keep", 50);
    let hashes = support::wait_for("HashKV of every member", BOOT, || support::try_hashkv(&urls));
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "members differ: {hashes:?}");
    (before, db_sizes(&shrunk), seconds, longest)
}

#[test]
fn every_member_is_defragmented_one_at_a_time_the_leader_last_while_writes_go_on() {
    let h = Harness::start();
    let settings = "      minReclaimable: 8MiB\n      pauseBetweenMembers: 1s\n";
    h.apply("c.yaml", &defrag_manifest("kubernetes", 3, settings));
    h.wait_healthy("kubernetes", 3, BOOT);
    let (before, after, seconds, longest) = shrink(&h, "kubernetes", 30, Duration::from_secs(60));
    eprintln!("db before {before:?}, after {after:?}, {seconds:.1} s, longest unavailability {longest:?}");
    assert!(longest < Duration::from_secs(5), "writes stalled for {longest:?}");
    let events = h.events("kubernetes");
    let defrags: Vec<&Value> = events.iter().filter(|e| e["reason"] == "Defragment").collect();
    assert_eq!(defrags.len(), 3, "one per member: {defrags:#?}");
    assert!(
        defrags
            .iter()
            .all(|e| e["kind"] == "Normal" && e["message"].as_str().is_some_and(|m| m.contains(" -> "))),
        "{defrags:#?}"
    );
    // The leader last, after leadership moved away from it: the member that led when the
    // two followers were done (an election during the 30 MiB of writes may have moved the
    // lead since the cluster booted), as the move right before the last defragmentation
    // names it. An earlier move is possible: a leader that alone had enough free pages
    // first hands leadership over before it is defragmented (CI run at 884c4d2).
    let at = |e: &Value| events.iter().position(|x| x == e);
    let last = at(defrags[2]).expect("an event");
    let moved =
        events[..last].iter().rev().find(|e| e["reason"] == "MoveLeader" && e["rule"] == "5-defragment");
    let moved =
        moved.unwrap_or_else(|| panic!("leadership moved before the leader was defragmented: {events:#?}"));
    assert_eq!(moved["pod"], defrags[2]["pod"], "the leader last: {events:#?}");
    assert!(
        at(defrags[1]) < at(moved) && at(moved) < at(defrags[2]),
        "the followers, then the move, then the leader: {events:#?}"
    );
    // The metrics count each run per member, with the bytes it gave back and its time.
    let metrics = support::http_get(&format!("{}/metrics", h.server())).expect("metrics");
    for pod in ["etcd-0", "etcd-1", "etcd-2"] {
        let labels = format!("cluster=\"kubernetes\",pod=\"{pod}\"");
        let runs = format!("etcd_warden_defragmentations_total{{{labels},result=\"succeeded\"}} 1");
        assert!(metrics.contains(&runs), "{runs} missing from the metrics");
        let value = |name: &str| {
            let prefix = format!("{name}{{{labels}}} ");
            metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse::<f64>().ok())
        };
        let reclaimed = value("etcd_warden_defragmentation_reclaimed_bytes_total").unwrap_or(0.0);
        assert!(reclaimed > 10.0 * MIB as f64, "{pod} gave back {reclaimed} bytes");
        assert_eq!(value("etcd_warden_defragmentation_duration_seconds_count"), Some(1.0), "{pod}");
    }
}

#[test]
fn nospace_is_reported_under_manual_and_recovered_under_recover_once_space_is_freed() {
    let h = Harness::start();
    let quota = "  etcd:\n    quotaBackendBytes: 16MiB\n  maintenance:\n    defragmentation:\n      noSpaceRecheck: 1s\n";
    let manual = format!("{}{quota}", local_manifest("small", 1, ""));
    h.apply("m.yaml", &manual);
    let urls = endpoints(&h.wait_healthy("small", 1, BOOT));
    put_keys(&urls, "keep", 20);
    let written = fill(&urls, "bulk", 200, 256 * 1024);
    assert!(written < 200, "the quota stops the writes");
    let alarm = h
        .wait_status("small", "the NoSpace condition", BOOT, |s| condition(s, "NoSpace")["status"] == "True");
    let message = condition(&alarm, "NoSpace")["message"].as_str().unwrap_or_default().to_owned();
    for words in ["etcd-0", "16.0 MiB", "spec.etcd.quotaBackendBytes", "etcdctl alarm disarm"] {
        assert!(message.contains(words), "{words:?} missing from {message}");
    }
    // A member under NOSPACE still answers and votes: quorum holds, no restore rule.
    assert_eq!(
        (alarm["phase"].as_str(), alarm["quorum"]["healthy"].as_u64()),
        (Some("Degraded"), Some(1)),
        "{alarm:#}"
    );
    assert_eq!(condition(&alarm, "Available")["status"], "True");
    assert_eq!(support::count_events(&h, "small", "NoSpaceAlarm"), 1);
    support::assert_holds_over_passes(
        &h,
        "small",
        "under Manual nothing is disarmed",
        Duration::from_secs(2),
        || h.status("small").is_some_and(|s| condition(&s, "NoSpace")["status"] == "True"),
    );
    assert_eq!(support::count_events(&h, "small", "DisarmAlarm"), 0);
    h.apply("r.yaml", &format!("{manual}  policy:\n    noSpace: Recover\n"));
    // Defragmented at once; the data still fills the quota, so the alarm stays.
    h.wait_status("small", "the refusal to disarm", BOOT, |s| {
        condition(s, "NoSpace")["message"]
            .as_str()
            .is_some_and(|m| m.contains("the data itself fills the quota"))
    });
    delete_and_compact(&urls, "bulk");
    let disarmed =
        support::wait_for_or_none(BOOT, || h.status("small").filter(|s| condition(s, "NoSpace").is_null()));
    assert!(
        disarmed.is_some(),
        "not disarmed: {:#}\n{:#?}",
        h.status("small").unwrap_or_default(),
        h.events("small")
    );
    assert_eq!(support::count_succeeded(&h, "small", "DisarmAlarm"), 1);
    assert!(support::count_succeeded(&h, "small", "Defragment") >= 2);
    assert_eq!(fill(&urls, "after", 5, 1024), 5, "writes work again");
    assert_keys(&urls, "keep", 20);
}

/// A scale-up ends once its members are voters: maintenance runs again after it (a
/// scale-up recorded for ever used to stop every defragmentation and NOSPACE recovery).
#[test]
fn after_a_scale_up_from_three_to_five_a_nospace_alarm_is_still_recovered() {
    let h = Harness::start();
    let dir = h.dir.path().join("backups");
    let extra = format!(
        "  etcd:\n    quotaBackendBytes: 16MiB\n  maintenance:\n    defragmentation:\n      noSpaceRecheck: 1s\n      pauseBetweenMembers: 1s\n  policy:\n    noSpace: Recover\n    scaleUp: BackupFirst\n  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n",
        dir.display()
    );
    h.apply("three.yaml", &format!("{}{extra}", local_manifest("kubernetes", 3, "")));
    let three = h.wait_healthy("kubernetes", 3, BOOT);
    put_keys(&endpoints(&three), "keep", 20);
    h.apply("five.yaml", &format!("{}{extra}", local_manifest("kubernetes", 5, "")));
    let five = h.wait_status("kubernetes", "five healthy voters", Duration::from_secs(180), |s| {
        s["phase"] == "Healthy"
            && support::healthy_members(s) == 5
            && s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["role"] != "learner"))
    });
    let urls = endpoints(&five);
    let written = fill(&urls, "bulk", 200, 256 * 1024);
    assert!(written < 200, "the quota stops the writes");
    h.wait_status("kubernetes", "the NoSpace condition", BOOT, |s| {
        condition(s, "NoSpace")["status"] == "True"
    });
    delete_and_compact(&urls, "bulk");
    let disarmed = support::wait_for_or_none(Duration::from_secs(180), || {
        h.status("kubernetes").filter(|s| condition(s, "NoSpace").is_null())
    });
    assert!(
        disarmed.is_some(),
        "not disarmed after the scale-up: {:#}\n{:#?}",
        h.status("kubernetes").unwrap_or_default(),
        h.events("kubernetes")
    );
    assert_eq!(support::count_succeeded(&h, "kubernetes", "DisarmAlarm"), 1);
    assert_eq!(fill(&urls, "after", 5, 1024), 5, "writes work again");
    assert_keys(&urls, "keep", 20);
}

/// The benchmark of docs/benchmarks.md: ~100 MB written, deleted and compacted, with
/// every default (45%, 64 MiB, 30 s between members). Run with
/// `cargo test --release --test e2e_maintenance -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: about two minutes"]
fn benchmark_defragmentation_after_100_mb_with_default_settings() {
    let h = Harness::start();
    h.apply("c.yaml", &local_manifest("bench", 3, ""));
    let (before, after, seconds, longest) = shrink(&h, "bench", 100, Duration::from_secs(300));
    let mib =
        |v: &[i64]| v.iter().map(|b| format!("{:.1}", *b as f64 / MIB as f64)).collect::<Vec<_>>().join(", ");
    for line in h.daemon_log().lines().filter(|l| l.contains("member defragmented")) {
        println!("BENCH {line}");
    }
    println!(
        "BENCH db MiB before [{}] after [{}]; compaction to every member shrunk {seconds:.1} s; longest unavailability {} ms",
        mib(&before),
        mib(&after),
        longest.as_millis()
    );
}

/// The events of `reason` recorded since `since`.
fn events_since(h: &Harness, name: &str, reason: &str, since: jiff::Timestamp) -> usize {
    h.events(name)
        .iter()
        .filter(|e| e["reason"] == reason)
        .filter(|e| {
            e["at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_some_and(|t| t >= since)
        })
        .count()
}

fn quota_manifest(name: &str, quota: &str) -> String {
    format!(
        "{}  etcd:\n    quotaBackendBytes: {quota}\n  maintenance:\n    defragmentation:\n      noSpaceRecheck: 5s\n  policy:\n    noSpace: Recover\n",
        local_manifest(name, 3, "")
    )
}

/// The quota raised in the manifest under a NOSPACE alarm, as the alarm's own message
/// advises, while a client keeps writing: the members are restarted with it one at a
/// time (the running ones keep their launch quota until then), and the alarm is
/// disarmed once, never in a loop. Counted over the 60 s after the change.
#[test]
fn a_quota_raised_under_nospace_is_applied_by_a_rolling_restart_and_the_alarm_disarmed_once() {
    let h = Harness::start();
    h.apply("16.yaml", &quota_manifest("raise", "16MiB"));
    let urls = endpoints(&h.wait_healthy("raise", 3, BOOT));
    put_keys(&urls, "keep", 20);
    assert!(fill(&urls, "bulk", 200, 256 * 1024) < 200, "the quota stops the writes");
    h.wait_status("raise", "the NoSpace condition", BOOT, |s| condition(s, "NoSpace")["status"] == "True");
    let probe = Probe::start(urls.clone());
    let changed = jiff::Timestamp::now();
    let started = Instant::now();
    h.apply("64.yaml", &quota_manifest("raise", "64MiB"));
    let cleared = h.wait_status("raise", "every member on 64 MiB, the alarm gone", BOOT, |s| {
        condition(s, "NoSpace").is_null()
            && s["phase"] == "Healthy"
            && launched_quotas(s) == vec![Some(64 * MIB as u64); 3]
    });
    assert!(fill(&urls, "after", 5, 1024) == 5, "writes work again: {cleared:#}");
    // The rest of the 60 s, over the daemon's own passes: nothing more.
    let rest = Duration::from_secs(60).saturating_sub(started.elapsed());
    support::assert_holds_over_passes(&h, "raise", "the 60 s after the change", rest, || true);
    let longest = probe.stop();
    let counts = ["RestartMember", "MoveLeader", "DisarmAlarm", "Defragment"]
        .map(|r| events_since(&h, "raise", r, changed));
    println!(
        "over the 60 s after the change: RestartMember, MoveLeader, DisarmAlarm, Defragment = {counts:?}; longest probe gap {longest:?}"
    );
    assert_eq!(counts[0], 3, "each member restarted once: {:#?}", h.events("raise"));
    assert!(counts[1] <= 1, "leadership moved at most once: {counts:?}");
    assert_eq!(counts[2], 1, "disarmed once: {:#?}", h.events("raise"));
    assert!(counts[3] <= 3, "each member defragmented at most once: {counts:?}");
    let plan = h.cli_ok(&["plan", "raise"]);
    assert!(!plan.contains("7-rolling-restart"), "nothing left to restart: {plan}");
    assert_keys(&urls, "keep", 20);
}

/// The members run with a larger quota than the manifest names (as the DC/OS package's
/// 3 GiB against etcd's default 2 GiB): the NOSPACE recovery goes by the quota they
/// run with, so once the client freed space the alarm is disarmed once, and no member
/// is defragmented again and again; the lower quota is never applied while a database
/// holds more than it, and the plan says so.
#[test]
fn a_manifest_quota_below_the_members_own_is_never_what_nospace_is_judged_by() {
    let h = Harness::start();
    h.apply("64.yaml", &quota_manifest("lower", "64MiB"));
    let urls = endpoints(&h.wait_healthy("lower", 3, BOOT));
    put_keys(&urls, "keep", 20);
    assert_eq!(fill(&urls, "kept", 96, 256 * 1024), 96, "24 MiB kept");
    assert!(fill(&urls, "bulk", 400, 256 * 1024) < 400, "the quota stops the writes");
    h.wait_status("lower", "the NoSpace condition", BOOT, |s| condition(s, "NoSpace")["status"] == "True");
    let changed = jiff::Timestamp::now();
    let started = Instant::now();
    h.apply("16.yaml", &quota_manifest("lower", "16MiB"));
    delete_and_compact(&urls, "bulk");
    let cleared = h.wait_status("lower", "the alarm gone", BOOT, |s| condition(s, "NoSpace").is_null());
    assert_eq!(launched_quotas(&cleared), vec![Some(64 * MIB as u64); 3], "never lowered below a database");
    assert!(fill(&urls, "after", 5, 1024) == 5, "writes work again");
    let rest = Duration::from_secs(60).saturating_sub(started.elapsed());
    support::assert_holds_over_passes(&h, "lower", "the 60 s after the change", rest, || true);
    let counts =
        ["DisarmAlarm", "Defragment", "RestartMember"].map(|r| events_since(&h, "lower", r, changed));
    println!("over the 60 s after the change: DisarmAlarm, Defragment, RestartMember = {counts:?}");
    assert_eq!(counts[0], 1, "disarmed once: {:#?}", h.events("lower"));
    assert!(counts[1] <= 6, "each member at most once before and once after the compaction: {counts:?}");
    assert_eq!(counts[2], 0, "the lower quota never applied: {counts:?}");
    let plan = h.cli_ok(&["plan", "lower"]);
    assert!(plan.contains("7-rolling-restart") && plan.contains("larger quota"), "{plan}");
    let status = h.status("lower").expect("status");
    let required = condition(&status, "RestartRequired");
    assert_eq!(required["reason"], "LaunchSettingsDiffer", "{status:#}");
    assert!(required["message"].as_str().is_some_and(|m| m.contains("larger quota")), "{required:#}");
    assert_keys(&urls, "keep", 20);
}
