//! A linearizability checker for the soak's history: each key is a register (write a
//! value, read a value or nothing), and a key's operations must fit one order that
//! keeps each operation between its invocation and its return and makes every read
//! return the last value written before it.
//!
//! The search is Wing and Gong's (1993), with Lowe's memoization of the states already
//! seen ("Testing for linearizability", 2017), as Porcupine (Athalye, 2017) runs it:
//! the calls and returns in time order in a linked list; a call is linearized when the
//! model accepts it (it leaves the list with its return); reaching a return whose call
//! is still in the list means backtracking. Written from the papers; `stateright`'s
//! tester was not taken, since it brings a model checker and its web explorer for one
//! function, and the soak needs what it does not have: operations whose outcome is
//! unknown, and a smallest failing sub-history.
//!
//! Every written value is unique (the soak writes `<client>-<number>`), which keeps the
//! search small: a write whose outcome is unknown and whose value nobody read can take
//! effect last, so it is left out; one whose value was read took effect before the
//! last read of it returned, which is then its return.

use std::collections::{HashMap, HashSet};

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// A put of this value.
    Write(String),
    /// A linearizable get that returned this value (`None`: no such key).
    Read(Option<String>),
}

/// One client operation as the soak recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Which client issued it (each has one operation in flight at most).
    pub client: usize,
    pub key: String,
    pub op: Op,
    /// When it was invoked, nanoseconds since the run started.
    pub invoked: u64,
    /// When it returned OK; `None` when its outcome is unknown (an error or a timeout
    /// after the request may have left): it may take effect at any time after
    /// `invoked`, or never. A read without an answer is not recorded at all.
    pub returned: Option<u64>,
    /// The member it went through.
    pub endpoint: String,
}

/// A key whose history fits no order.
#[derive(Debug, Clone)]
pub struct Anomaly {
    pub key: String,
    /// The smallest failing sub-history found (no operation can be left out and still
    /// fail), in invocation order.
    pub history: Vec<Operation>,
    /// When the search got stuck: the return of an operation that fits nowhere.
    pub at: u64,
}

/// Checks every key's history; one anomaly per key that fails.
pub fn check(history: &[Operation]) -> Vec<Anomaly> {
    let mut keys: HashMap<&str, Vec<Operation>> = HashMap::new();
    for op in history {
        keys.entry(op.key.as_str()).or_default().push(op.clone());
    }
    let mut anomalies: Vec<Anomaly> = keys
        .into_iter()
        .filter_map(|(key, ops)| {
            let ops = prepare(ops);
            let at = search(&ops).err()?;
            Some(Anomaly { key: key.to_owned(), history: shrink(&ops, at), at })
        })
        .collect();
    anomalies.sort_by_key(|a| a.at);
    anomalies
}

/// Leaves out the unknown writes nobody read, and gives those that were read the
/// return of the last read of their value (see the module's comment).
fn prepare(ops: Vec<Operation>) -> Vec<Operation> {
    let mut last_read: HashMap<String, u64> = HashMap::new();
    for op in &ops {
        if let (Op::Read(Some(value)), Some(returned)) = (&op.op, op.returned) {
            let last = last_read.entry(value.clone()).or_insert(returned);
            *last = (*last).max(returned);
        }
    }
    let mut ops: Vec<Operation> = ops
        .into_iter()
        .filter_map(|mut op| match (&op.op, op.returned) {
            (Op::Write(value), None) => {
                // A read of it that returned before the write was invoked is an
                // anomaly the search finds: the write then returns at its invocation.
                op.returned = Some((*last_read.get(value)?).max(op.invoked));
                Some(op)
            }
            _ => Some(op),
        })
        .collect();
    ops.sort_by_key(|op| op.invoked);
    ops
}

/// Whether `ops` fit one order; else the time of the furthest return at which the
/// search got stuck (the history up to it fits no order).
fn search(ops: &[Operation]) -> Result<(), u64> {
    let n = ops.len();
    // Values as numbers: 0 is "no such key".
    let mut values: HashMap<&str, u32> = HashMap::new();
    let mut steps: Vec<(bool, u32)> = Vec::with_capacity(n);
    for op in ops {
        let (write, value) = match &op.op {
            Op::Write(v) => (true, Some(v.as_str())),
            Op::Read(v) => (false, v.as_deref()),
        };
        let next = values.len() as u32 + 1;
        steps.push((write, value.map_or(0, |v| *values.entry(v).or_insert(next))));
    }
    // Events: (time, 0 = call / 1 = return, op); calls first at equal times (the
    // lenient reading: such operations overlap).
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoked, 0, i));
        events.push((op.returned.unwrap_or(u64::MAX), 1, i));
    }
    events.sort_unstable();
    // A doubly linked list over the events, node 0 the head.
    const NIL: usize = usize::MAX;
    let len = events.len() + 1;
    let mut next: Vec<usize> = (1..=len).map(|i| if i < len { i } else { NIL }).collect();
    let mut prev: Vec<usize> = (0..len).map(|i| if i == 0 { NIL } else { i - 1 }).collect();
    let mut return_node = vec![0usize; n];
    for (node, (_, kind, op)) in events.iter().enumerate() {
        if *kind == 1 {
            return_node[*op] = node + 1;
        }
    }
    let event = |node: usize| events[node - 1];
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, call: usize, ret: usize| {
        for node in [call, ret] {
            next[prev[node]] = next[node];
            if next[node] != NIL {
                prev[next[node]] = prev[node];
            }
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, call: usize, ret: usize| {
        for node in [ret, call] {
            next[prev[node]] = node;
            if next[node] != NIL {
                prev[next[node]] = node;
            }
        }
    };
    let mut linearized = vec![0u64; n.div_ceil(64)];
    let mut seen: HashSet<(Vec<u64>, u32)> = HashSet::new();
    let mut state = 0u32;
    let mut stack: Vec<(usize, u32)> = Vec::new();
    let mut furthest = 0u64;
    let mut node = next[0];
    while next[0] != NIL {
        let (time, kind, op) = event(node);
        if kind == 0 {
            let (write, value) = steps[op];
            let fits = write || value == state;
            let after = if write { value } else { state };
            if fits {
                linearized[op / 64] |= 1 << (op % 64);
                if seen.insert((linearized.clone(), after)) {
                    stack.push((node, state));
                    state = after;
                    lift(&mut next, &mut prev, node, return_node[op]);
                    node = next[0];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            node = next[node];
        } else {
            // The furthest the search got: the prefix up to here fits no order, since
            // an order of it would have led past this return.
            furthest = furthest.max(time);
            let Some((call, before)) = stack.pop() else { return Err(furthest) };
            let (_, _, op) = event(call);
            linearized[op / 64] &= !(1 << (op % 64));
            state = before;
            unlift(&mut next, &mut prev, call, return_node[op]);
            node = next[call];
        }
    }
    Ok(())
}

/// A smallest failing sub-history of `ops` (which fail, stuck at `at`): the operations
/// invoked by then (a write still in flight then counts as unknown, a read in flight
/// is left out: the search got stuck on this prefix already), from a window before `at` that grows until it
/// fails, with the writes whose values its reads returned; then each operation left
/// out in turn while the rest still fails, but never a write whose value a kept read
/// returned (that would fail for want of it).
fn shrink(ops: &[Operation], at: u64) -> Vec<Operation> {
    let prefix: Vec<Operation> = ops
        .iter()
        .filter(|op| op.invoked <= at)
        .filter_map(|op| match (&op.op, op.returned) {
            (_, Some(returned)) if returned <= at => Some(op.clone()),
            // Still in flight at `at`: a write may take effect later or never; a read
            // may be left out.
            (Op::Write(_), _) => Some(Operation { returned: None, ..op.clone() }),
            (Op::Read(_), _) => None,
        })
        .collect();
    if search(&prefix).is_ok() {
        return ops.to_vec();
    }
    let mut window = 8usize;
    let mut candidate = loop {
        let start = prefix.len().saturating_sub(window);
        let mut chosen: Vec<Operation> = prefix[start..].to_vec();
        let read: HashSet<&String> = chosen
            .iter()
            .filter_map(|op| if let Op::Read(Some(v)) = &op.op { Some(v) } else { None })
            .collect();
        let writes: Vec<Operation> = prefix[..start]
            .iter()
            .filter(|op| matches!(&op.op, Op::Write(v) if read.contains(v)))
            .cloned()
            .collect();
        chosen.extend(writes);
        chosen.sort_by_key(|op| op.invoked);
        if search(&chosen).is_err() || start == 0 {
            break chosen;
        }
        window *= 2;
    };
    if candidate.len() > 400 {
        return candidate;
    }
    // Passes until none leaves anything out: a read left out may free its write.
    let mut shrunk = true;
    while shrunk {
        shrunk = false;
        let mut i = 0;
        while i < candidate.len() {
            let needed = match &candidate[i].op {
                Op::Write(v) => candidate.iter().any(|op| op.op == Op::Read(Some(v.clone()))),
                Op::Read(_) => false,
            };
            if !needed {
                let mut without = candidate.clone();
                without.remove(i);
                if search(&without).is_err() {
                    candidate = without;
                    shrunk = true;
                    continue;
                }
            }
            i += 1;
        }
    }
    candidate
}
