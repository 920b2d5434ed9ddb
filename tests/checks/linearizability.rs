//! The soak's linearizability checker, proven on histories it must reject (a stale
//! read, a lost write overwritten later, a value never written) and on ones it must
//! accept: a checker that cannot fail would prove nothing.

// The fields the soak prints in its report are not read here.
#[allow(dead_code)]
#[path = "../../benches/soak/linearizability.rs"]
mod checker;
use checker::{Op, Operation, check};

/// An operation on key `k` by client `client`, from `invoked` to `returned` (ms).
fn op(client: usize, op: Op, invoked: u64, returned: Option<u64>) -> Operation {
    let ms = 1_000_000;
    Operation {
        client,
        key: "k".to_owned(),
        op,
        invoked: invoked * ms,
        returned: returned.map(|r| r * ms),
        endpoint: format!("https://127.0.0.1:{}", 2379 + client),
    }
}

fn write(client: usize, v: &str, invoked: u64, returned: Option<u64>) -> Operation {
    op(client, Op::Write(v.to_owned()), invoked, returned)
}

fn read(client: usize, v: Option<&str>, invoked: u64, returned: u64) -> Operation {
    op(client, Op::Read(v.map(str::to_owned)), invoked, Some(returned))
}

#[test]
fn sequential_and_overlapping_histories_that_fit_an_order_pass() {
    let ok = [
        read(0, None, 0, 1),
        write(0, "a", 2, Some(3)),
        read(1, Some("a"), 4, 5),
        // b overlaps both reads: one sees a, the other b, either order fits.
        write(0, "b", 6, Some(20)),
        read(1, Some("a"), 7, 8),
        read(2, Some("b"), 9, 10),
        read(1, Some("b"), 21, 22),
    ];
    assert!(check(&ok).is_empty());
}

#[test]
fn a_stale_read_is_an_anomaly_and_shrinks_to_the_writes_and_the_read() {
    let mut history = vec![read(3, None, 0, 1)];
    // Noise on the key before the anomaly.
    for i in 0..20 {
        history.push(write(0, &format!("x{i}"), 2 + 2 * i, Some(3 + 2 * i)));
    }
    history.push(write(0, "a", 100, Some(101)));
    history.push(write(1, "b", 102, Some(103)));
    history.push(read(2, Some("a"), 104, 105));
    let found = check(&history);
    assert_eq!(found.len(), 1, "{found:?}");
    let ops: Vec<&Op> = found[0].history.iter().map(|o| &o.op).collect();
    assert_eq!(
        ops,
        [&Op::Write("a".into()), &Op::Write("b".into()), &Op::Read(Some("a".into()))],
        "the smallest failing sub-history"
    );
    assert_eq!(found[0].at, 105 * 1_000_000);
}

#[test]
fn a_read_of_a_value_never_written_is_an_anomaly() {
    let found = check(&[write(0, "a", 0, Some(1)), read(1, Some("zz"), 2, 3)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].history, [read(1, Some("zz"), 2, 3)]);
}

#[test]
fn a_lost_acknowledged_write_is_an_anomaly_even_when_overwritten_later() {
    // a was acknowledged, then a read saw the key empty, then b overwrote it.
    let found = check(&[
        write(0, "a", 0, Some(1)),
        read(1, None, 2, 3),
        write(0, "b", 4, Some(5)),
        read(1, Some("b"), 6, 7),
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].history, [write(0, "a", 0, Some(1)), read(1, None, 2, 3)]);
}

#[test]
fn a_write_with_unknown_outcome_may_take_effect_late_or_never() {
    // Never seen: it never took effect.
    assert!(check(&[write(0, "a", 0, None), read(1, None, 5, 6)]).is_empty());
    // Seen long after its client gave up: it took effect late.
    assert!(check(&[write(0, "a", 0, None), read(1, None, 5, 6), read(1, Some("a"), 50, 51)]).is_empty());
    // But never before it was invoked.
    assert_eq!(check(&[read(1, Some("a"), 0, 1), write(0, "a", 5, None)]).len(), 1);
    // And once seen, not unseen.
    let flapping = [write(0, "a", 0, None), read(1, Some("a"), 5, 6), read(1, None, 7, 8)];
    assert_eq!(check(&flapping).len(), 1);
}

#[test]
fn keys_are_checked_apart() {
    let mut other = write(0, "a", 0, Some(1));
    other.key = "other".to_owned();
    // Empty on k is right: a was written to another key.
    assert!(check(&[other, read(1, None, 2, 3)]).is_empty());
}

#[test]
fn a_long_history_with_many_overlaps_is_checked_quickly() {
    // 4 clients, 20,000 operations, every one overlapping three others.
    let mut history = Vec::new();
    let mut last = None;
    for i in 0..5_000u64 {
        let t = i * 10;
        let v = format!("v{i}");
        history.push(write(0, &v, t, Some(t + 12)));
        history.push(read(1, last.as_deref(), t + 1, t + 9));
        history.push(read(2, Some(v.as_str()), t + 11, t + 14));
        history.push(write(3, &format!("lost{i}"), t + 2, None));
        last = Some(v);
    }
    let started = std::time::Instant::now();
    assert!(check(&history).is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn a_read_of_a_value_never_written_after_a_long_history_shrinks_to_that_read() {
    let mut history = Vec::new();
    for i in 0..30u64 {
        history.push(write(i as usize % 3, &format!("x{i}"), 10 * i, Some(10 * i + 2)));
        history.push(read(3, Some(&format!("x{i}")), 10 * i + 3, 10 * i + 4));
    }
    history.push(read(1, Some("zz"), 400, 401));
    history.push(write(2, "late", 402, Some(403)));
    let found = check(&history);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].history, [read(1, Some("zz"), 400, 401)]);
}
