//! Maintenance that waits its turn, on real etcd: never two members paused at once
//! (a defragmentation the controller gave up on, or one run by hand, is waited for
//! before another member is paused), and the pause between members counted from the
//! end of each defragmentation, recorded before the call so that a controller killed
//! meanwhile still keeps it.

use crate::support;
use std::time::{Duration, Instant};

use crate::support::maintenance::{
    BlockedReads, MIB, Probe, Spans, db_sizes, defrag_manifest, delete_and_compact, fill, launched_quotas,
    runtime,
};
use crate::support::{Harness, assert_keys, endpoints, local_manifest, member, put_keys};
use etcd_client::{ConnectOptions, GetOptions};

const BOOT: Duration = Duration::from_secs(60);
/// A read blocked this long paused its member (a defragmentation of 192 MiB blocks
/// reads for a second or more); a shorter stall is the machine's or an election's
/// (178 ms seen on 3.3.25 while the leader restarted and handed its leadership over).
const PAUSED: Duration = Duration::from_millis(500);

/// A read blocked this long is a defragmentation of 96 MiB of live data (0.41 s and
/// more, measured on 3.3, 3.4 and 3.5); a shorter stall is the machine's and pauses
/// nobody (191 ms seen on 3.3.25 under CI's load, in a member the controller did not
/// touch while another one defragmented and wrote its disk).
const DEFRAGMENTING: Duration = Duration::from_millis(300);

/// The spans in which a member was paused: its reads failed, or were blocked at least
/// `at_least`.
fn pauses(spans: &[(String, Spans)], at_least: Duration) -> Vec<(String, Spans)> {
    spans
        .iter()
        .map(|(u, s)| (u.clone(), s.iter().filter(|x| x.failed || x.length() >= at_least).copied().collect()))
        .collect()
}

/// Fails if two members' spans of blocked or failing reads overlap: two members paused
/// at once.
fn assert_never_two_at_once(spans: &[(String, Spans)]) {
    for (i, (a, spans_a)) in spans.iter().enumerate() {
        for (b, spans_b) in &spans[i + 1..] {
            for x in spans_a {
                for y in spans_b {
                    let overlap = x.start < y.end && y.start < x.end;
                    assert!(!overlap, "{a} and {b} were paused at once: {}", show(spans));
                }
            }
        }
    }
}

/// The spans, as milliseconds from the first one's start; `!` marks a failed read.
fn show(spans: &[(String, Spans)]) -> String {
    let origin = spans.iter().flat_map(|(_, s)| s.iter().map(|x| x.start)).min();
    let Some(origin) = origin else { return "no span".to_owned() };
    let ms = |t: &Instant| t.duration_since(origin).as_millis();
    spans
        .iter()
        .map(|(e, s)| {
            let shown: Vec<_> = s
                .iter()
                .map(|x| format!("{}-{}{}", ms(&x.start), ms(&x.end), if x.failed { "!" } else { "" }))
                .collect();
            format!("{e}: [{}]", shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `endpoint` serves no serializable read within 150 ms (blocked, as while it
/// defragments).
fn reads_blocked(endpoint: &str) -> bool {
    runtime().block_on(async {
        let options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(1));
        let Ok(mut c) = etcd_client::Client::connect([endpoint], Some(options)).await else { return false };
        let read = c.get("probe", Some(GetOptions::new().with_serializable()));
        tokio::time::timeout(Duration::from_millis(150), read).await.is_err()
    })
}

/// A cluster of three that is worth defragmenting, with its probes running.
struct Fragmented {
    urls: Vec<String>,
    /// Each member's database size before the compaction.
    before: Vec<i64>,
    blocked: BlockedReads,
    writer: Probe,
}

/// Cluster `name` of three with the defragmentation `settings`, 20 keys under `keep/`,
/// 96 MiB of live data and as much again deleted and compacted: each member's
/// defragmentation rewrites the live part, for a few hundred milliseconds or more. The
/// probes of blocked reads, and a client that keeps writing (etcd counts the pages a
/// compaction freed as in use until its next write; 3.3 says it only on its metrics
/// page), start before the compaction.
fn fragmented(h: &Harness, name: &str, settings: &str) -> Fragmented {
    h.apply("c.yaml", &defrag_manifest(name, 3, settings));
    let urls = endpoints(&h.wait_healthy(name, 3, BOOT));
    put_keys(&urls, "keep", 20);
    assert_eq!(fill(&urls, "live", 384, 256 * 1024), 384);
    assert_eq!(fill(&urls, "bulk", 384, 256 * 1024), 384);
    let grown =
        h.wait_status(name, "the databases grown", BOOT, |s| db_sizes(s).iter().all(|d| *d > 180 * MIB));
    let before = db_sizes(&grown);
    let blocked = BlockedReads::start(&urls);
    let writer = Probe::start(urls.clone());
    delete_and_compact(&urls, "bulk");
    Fragmented { urls, before, blocked, writer }
}

/// Waits until every member's database is below two thirds of its size `before`.
fn every_member_shrunk(h: &Harness, name: &str, before: &[i64]) {
    h.wait_status(name, "every member defragmented", Duration::from_secs(180), |s| {
        let sizes = db_sizes(s);
        sizes.len() == 3 && sizes.iter().zip(before).all(|(after, before)| *after < before * 2 / 3)
    });
}

/// A defragmentation that outlasts `timeout`: the controller gives up and etcd goes on,
/// the member serving no reads meanwhile. The next member is not paused until it
/// serves reads again: the spans in which each member's reads were blocked never
/// overlap, though `pauseBetweenMembers` is 0.
#[test]
fn a_defragmentation_the_controller_gave_up_on_is_waited_for_before_the_next_member() {
    let h = Harness::start();
    let settings = "      minReclaimable: 8MiB\n      pauseBetweenMembers: 0s\n      timeout: 100ms\n";
    let Fragmented { urls, before, blocked, writer } = fragmented(&h, "slow", settings);
    every_member_shrunk(&h, "slow", &before);
    let spans = blocked.stop();
    writer.stop();
    let gave_up =
        h.events("slow").iter().filter(|e| e["reason"] == "Defragment" && e["kind"] == "Warning").count();
    println!(
        "defragmentations the controller gave up on: {gave_up}; blocked reads: {:?}",
        spans
            .iter()
            .map(|(e, s)| (e, s.iter().map(|x| x.length().as_millis()).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    );
    assert!(gave_up >= 1, "no defragmentation outlasted 100 ms: {:#?}", h.events("slow"));
    let paused = pauses(&spans, DEFRAGMENTING);
    let members_blocked = paused.iter().filter(|(_, s)| !s.is_empty()).count();
    assert!(members_blocked >= 2, "the probes saw no defragmentation: {}", show(&spans));
    assert_never_two_at_once(&paused);
    assert_keys(&urls, "keep", 20);
}

/// An operator runs `etcdctl defrag` on one follower by hand while a changed quota is
/// to be applied by a rolling restart: the controller restarts no other member until
/// that one serves again, so that no two members are paused at once, and then restarts
/// each member once. (etcd 3.4 and 3.5 hold a defragmenting member's Status answer
/// until the defragmentation ends: the controller sees that member only then, or, past
/// its request timeout, not healthy; where Status answers but reads block, the read
/// probe holds the step, `plan::tests_maintenance`.)
#[test]
fn a_member_defragmented_by_hand_is_waited_for_before_a_rolling_restart_pauses_another() {
    let h = Harness::start();
    let manifest = |quota: &str| {
        format!(
            "{}  etcd:\n    quotaBackendBytes: {quota}\n  maintenance:\n    defragmentation:\n      enabled: false\n",
            local_manifest("byhand", 3, "")
        )
    };
    h.apply("1.yaml", &manifest("1GiB"));
    let status = h.wait_healthy("byhand", 3, BOOT);
    let urls = endpoints(&status);
    put_keys(&urls, "keep", 20);
    // 192 MiB of live data: a defragmentation rewrites all of it, for a second or more.
    assert_eq!(fill(&urls, "live", 768, 256 * 1024), 768);
    // The rolling restart takes the first follower in pod order: the last one is
    // defragmented by hand.
    let pods = ["etcd-0", "etcd-1", "etcd-2"];
    let by_hand =
        pods.into_iter().rev().find(|p| member(&status, p)["role"] != "leader").expect("a follower");
    let url = member(&status, by_hand)["clientUrl"].as_str().expect("a client URL").to_owned();
    let spans = BlockedReads::start(&urls);
    let defrag = std::thread::spawn({
        let url = url.clone();
        move || {
            runtime().block_on(async {
                let options = ConnectOptions::new().with_timeout(Duration::from_secs(120));
                let mut c = etcd_client::Client::connect([url], Some(options)).await.expect("connect");
                c.defragment().await.expect("the defragmentation by hand");
            })
        }
    });
    support::wait_for(&format!("{by_hand} defragmenting"), BOOT, || {
        assert!(!defrag.is_finished(), "{by_hand}'s defragmentation ended before it was seen: too short");
        reads_blocked(&url).then_some(())
    });
    h.apply("1.5.yaml", &manifest("1536MiB"));
    let ended = support::wait_for("the defragmentation by hand to end", BOOT, || {
        defrag.is_finished().then(Instant::now)
    });
    defrag.join().expect("the defragmentation thread");
    let after = h.wait_status("byhand", "every member on 1.5 GiB", BOOT, |s| {
        s["phase"] == "Healthy" && launched_quotas(s) == vec![Some(1536 * MIB as u64); 3]
    });
    let spans = spans.stop();
    println!("blocked or failing reads, ms: {}", show(&spans));
    // What pauses a member: its restart, in which its reads fail, or the
    // defragmentation, which blocks them for a second or more. A shorter stall is a
    // loaded machine's, or the election as the leader stops for its restart (etcd hands
    // its leadership over on the way out), and pauses nobody.
    let pauses = pauses(&spans, PAUSED);
    for (u, s) in &pauses {
        assert!(s.iter().any(|x| x.failed), "{u} never stopped for its restart: {}", show(&spans));
    }
    let by_hand_pauses =
        pauses.iter().find(|(u, _)| *u == url).map(|(_, s)| s.as_slice()).unwrap_or_default();
    assert!(
        by_hand_pauses.iter().any(|x| !x.failed && x.start < ended),
        "{by_hand}'s defragmentation not seen for {PAUSED:?}: {}",
        show(&spans)
    );
    assert_never_two_at_once(&pauses);
    let restarted_first = pauses
        .iter()
        .filter(|(u, _)| *u != url)
        .filter_map(|(_, s)| s.first().map(|x| x.start))
        .min()
        .expect("another member restarted");
    assert!(restarted_first + Duration::from_millis(100) >= ended, "{}", show(&spans));
    assert_eq!(support::count_succeeded(&h, "byhand", "RestartMember"), 3, "{:#?}", h.events("byhand"));
    assert_keys(&endpoints(&after), "keep", 20);
}

/// `pauseBetweenMembers` counts from the end of a defragmentation, not from when its
/// pass began: each member's blocked reads start at least the pause after the previous
/// member's ended. The time is recorded before the call too: the controller killed
/// while the second member defragments, and started again, still waits the pause
/// (counted then from that defragmentation's start) before the third.
#[test]
fn the_pause_between_members_counts_from_the_end_of_a_defragmentation_and_survives_a_crash_during_one() {
    const PAUSE: Duration = Duration::from_secs(5);
    // The probes see a member blocked within 20 ms of it, and free within a few.
    const SLACK: Duration = Duration::from_millis(150);
    let mut h = Harness::start();
    let settings = "      minReclaimable: 8MiB\n      pauseBetweenMembers: 5s\n";
    let Fragmented { urls, before, blocked: spans, writer } = fragmented(&h, "turns", settings);
    // The first member defragmented, then the second one begun: the controller dies.
    let first = support::wait_for("a first member defragmenting", BOOT, || {
        urls.iter().find(|u| reads_blocked(u)).cloned()
    });
    let second = support::wait_for("a second member defragmenting", Duration::from_secs(120), || {
        urls.iter().filter(|u| **u != first).find(|u| reads_blocked(u)).cloned()
    });
    h.kill_daemon();
    h.start_daemon();
    every_member_shrunk(&h, "turns", &before);
    writer.stop();
    let spans = spans.stop();
    println!("blocked reads, ms: {}", show(&spans));
    assert_never_two_at_once(&pauses(&spans, DEFRAGMENTING));
    // Each member's defragmentation: its longest span of blocked reads (a loaded
    // machine may stall a read now and then), in the order run.
    let mut runs: Vec<(String, Instant, Instant)> = spans
        .iter()
        .map(|(url, s)| {
            let longest = s.iter().max_by_key(|x| x.length());
            let x = longest.unwrap_or_else(|| panic!("{url} never blocked: {}", show(&spans)));
            (url.clone(), x.start, x.end)
        })
        .collect();
    runs.sort_by_key(|(_, start, _)| *start);
    assert_eq!((&runs[0].0, &runs[1].0), (&first, &second), "{}", show(&spans));
    let after_end = runs[1].1.duration_since(runs[0].2);
    let after_start = runs[2].1.duration_since(runs[1].1);
    println!(
        "first run {:?}; second began {after_end:?} after the first ended; third began {after_start:?} after the second began (the controller killed in between)",
        runs[0].2 - runs[0].1
    );
    assert!(after_end + SLACK >= PAUSE, "the pause counted from the end: {after_end:?}");
    assert!(after_start + SLACK >= PAUSE, "the pause kept across the crash: {after_start:?}");
    assert_keys(&urls, "keep", 20);
}
