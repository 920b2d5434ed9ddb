//! A dead member is noticed when its process exits, not at the next resync: the daemon
//! runs with a 30 s resync, and adopted members (not its children) are killed. The
//! leader is the one killed: the survivors answer unhealthy while they elect another,
//! and the status must still turn Healthy soon after, not at the next resync.

use std::time::{Duration, Instant, SystemTime};

use crate::support::{Harness, assert_holds, local_manifest, member, passes, pid_of, signal, wait_for};
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const RESYNC: &str = "30s";
/// Far below the resync: only a wake-up on the exit can beat it.
const NOTICED_WITHIN: Duration = Duration::from_secs(5);
const RESTARTED_WITHIN: Duration = Duration::from_secs(10);

/// The first event `reason` about `pod` that happened at or after `since`.
fn event_after(h: &Harness, reason: &str, pod: &str, since: SystemTime) -> Option<Value> {
    let since = jiff::Timestamp::try_from(since).expect("timestamp");
    h.events("kubernetes").into_iter().find(|e| {
        e["reason"] == reason
            && e["pod"] == pod
            && e["at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_some_and(|t| t >= since)
    })
}

/// Milliseconds from `since` to the event's own timestamp.
fn millis_after(event: &Value, since: SystemTime) -> i128 {
    let at: jiff::Timestamp = event["at"].as_str().expect("at").parse().expect("event time");
    let since = jiff::Timestamp::try_from(since).expect("timestamp");
    at.duration_since(since).as_millis()
}

#[test]
fn a_killed_member_is_noticed_and_restarted_long_before_the_resync() {
    let mut h = Harness::start();
    h.apply("c.yaml", &local_manifest("kubernetes", 3, ""));
    h.wait_healthy("kubernetes", 3, BOOT);
    // A new daemon with a long resync adopts the members: they are not its children.
    h.kill_daemon();
    h.start_daemon_with_resync(RESYNC);
    wait_for("the new daemon's first pass", BOOT, || (passes(&h, "kubernetes") >= 1).then_some(()));
    let before = h.wait_healthy("kubernetes", 3, BOOT);
    let passes_before = passes(&h, "kubernetes");

    let leader = ["etcd-0", "etcd-1", "etcd-2"]
        .into_iter()
        .find(|p| member(&before, p)["role"] == "leader")
        .expect("a leader in the status");
    let killed_at = SystemTime::now();
    let killed = Instant::now();
    signal(pid_of(&before, leader), Signal::KILL);
    h.wait_status("kubernetes", "the killed leader seen down", NOTICED_WITHIN, |s| {
        member(s, leader)["healthy"] == false
    });
    let seen_down = killed.elapsed();
    let down =
        wait_for("a MemberDown event", NOTICED_WITHIN, || event_after(&h, "MemberDown", leader, killed_at));
    let restart = wait_for("a RestartInPlace event", RESTARTED_WITHIN, || {
        event_after(&h, "RestartInPlace", leader, killed_at)
    });
    let restarted = killed.elapsed();
    h.wait_healthy("kubernetes", 3, RESTARTED_WITHIN);
    println!(
        "dead leader ({leader}) noticed: {} ms after the exit (MemberDown event), status down seen by the test after {} ms, \
         RestartInPlace event {} ms after the exit (restartGrace 1s), seen after {} ms; resync {RESYNC}",
        millis_after(&down, killed_at),
        seen_down.as_millis(),
        millis_after(&restart, killed_at),
        restarted.as_millis(),
    );
    let log = h.daemon_log();
    // Written to a file, not a terminal: no colour codes.
    assert!(!log.contains('\u{1b}'), "escape sequences in the daemon's log file:\n{log}");
    assert!(log.contains("the platform reported a change"), "a pass ran for the exit:\n{log}");
    assert!(passes(&h, "kubernetes") > passes_before);

    // Settled again, the worker waits on the new processes without spinning: a few
    // passes at most (windows ending) and little CPU over 3 s.
    let (quiet_passes, cpu) = (passes(&h, "kubernetes"), cpu_ticks(h.daemon_pid()));
    assert_holds("no busy loop", Duration::from_secs(3), || passes(&h, "kubernetes") <= quiet_passes + 5);
    let used = cpu_ticks(h.daemon_pid()) - cpu;
    println!("daemon CPU over 3 s settled: {used} ticks of 1/100 s");
    assert!(used < 50, "the daemon used {used} ticks in 3 s");
}

/// User and system CPU time of `pid`, in clock ticks (fields 14 and 15 of its stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = &stat[stat.rfind(')').expect("name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}
