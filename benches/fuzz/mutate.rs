//! Structure-aware mutation: JSON values (from manifests and fixtures) changed a few
//! fields at a time, then written as JSON or YAML, and sometimes damaged as text.

use serde_json::{Map, Number, Value, json};

use super::engine::Rng;

/// Strings that parsers of durations, crons, names, URLs and IDs find hard.
pub const HARD_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1e99s",
    "1e99",
    "99999999999999999999h",
    "18446744073709551616s",
    "-5m",
    "0s",
    "1ns",
    "1.5h",
    "5 m",
    "5mm",
    "PT5M",
    "7d",
    "100000000d",
    "584542046091y",
    "1h1h",
    "1h 30m",
    "∞",
    "NaN",
    "inf",
    "*/0 * * * *",
    "60 * * * *",
    "* * * * * * *",
    "@hourly",
    "@reboot",
    "0 0 31 2 *",
    "*/1000000000 * * * *",
    "L W # ?",
    "1-0 * * * *",
    "5-5/0 * * * *",
    "a",
    "etcd-1",
    "etcd-99",
    "etcd-18446744073709551616",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "%2e%2e",
    "\u{0}",
    "é𝔘\u{202e}x",
    "\u{feff}",
    "KUBE",
    "-a",
    "a-",
    "file:///tmp/x",
    "file://",
    "s3://",
    "s3://b/../..",
    "http://[::1",
    "https://user:pw@h:99999/x",
    "http://127.0.0.1:0",
    "ftp://x",
    "~",
    "null",
    "true",
    "yes",
    "no",
    "on",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "20261125T203000123Z-r1",
    "20261125T203000123Z-r99999999999999999999",
    "99991231T235959999Z-r1",
    "TASK_RUNNING",
    "TASK_LOST",
    "RUNNING",
    "PERMANENTLY_FAILED",
    "permanently-failed",
    "RECOVERY",
];

/// Numbers at the edges of every integer and float type.
pub fn hard_number(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(i64::MAX),
        3 => json!(i64::MIN),
        4 => json!(u64::MAX),
        5 => json!(u32::MAX as u64 + 1),
        6 => json!(65536),
        7 => json!(1e308),
        8 => json!(-0.0),
        9 => json!(0.5),
        10 => json!(2),
        11 => json!(rng.below(10)),
        12 => Value::Number(Number::from_f64(f64::MIN_POSITIVE).unwrap_or_else(|| Number::from(0))),
        _ => json!(rng.next_u64() >> rng.below(64)),
    }
}

fn hard_string(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "x".repeat(rng.below(5000)),
        1 => {
            let n = rng.below(12);
            (0..n).map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?')).collect()
        }
        _ => (*rng.pick(HARD_STRINGS)).to_owned(),
    }
}

/// Some value, of any type, possibly deep.
pub fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => hard_number(rng),
        3 | 4 => Value::String(hard_string(rng)),
        5 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
        6 => {
            let mut map = Map::new();
            for _ in 0..rng.below(4) {
                map.insert(hard_string(rng), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => nested(rng.pick(&[3, 50, 127, 129, 300]).to_owned()),
    }
}

/// A list nested `depth` levels (parsers must refuse deep input, not overflow).
pub fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for i in 0..depth {
        value = if i % 2 == 0 { json!([value]) } else { json!({ "k": value }) };
    }
    value
}

/// Every path in `value` (object keys and list indexes), the root included.
fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    if prefix.len() >= 24 || out.len() > 2000 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Step::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// Changes `value` in one to four places: a field replaced by a value of another type
/// or an edge value, removed, duplicated, renamed, or another field added.
pub fn mutate_value(rng: &mut Rng, value: &mut Value) {
    for _ in 0..=rng.below(4) {
        let mut all = Vec::new();
        paths(value, &mut Vec::new(), &mut all);
        let path = rng.pick(&all).clone();
        let donor = {
            let other = rng.pick(&all).clone();
            at(value, &other).cloned()
        };
        let Some(node) = at(value, &path) else { continue };
        match rng.below(9) {
            0 | 1 => *node = random_value(rng, 0),
            2 => *node = Value::String(hard_string(rng)),
            3 => *node = hard_number(rng),
            4 => {
                if let Some(donor) = donor {
                    *node = donor;
                }
            }
            5 => match node {
                Value::Object(map) if !map.is_empty() => {
                    let key = map.keys().nth(rng.below(map.len())).cloned().unwrap_or_default();
                    map.remove(&key);
                }
                Value::Array(items) if !items.is_empty() => {
                    items.remove(rng.below(items.len()));
                }
                _ => *node = Value::Null,
            },
            6 => match node {
                Value::Object(map) => {
                    let key = if rng.chance(50) { hard_string(rng) } else { "unknownField".to_owned() };
                    map.insert(key, random_value(rng, 1));
                }
                Value::Array(items) => {
                    let copy = items.first().cloned().unwrap_or(Value::Null);
                    for _ in 0..=rng.below(8) {
                        items.push(copy.clone());
                    }
                }
                _ => *node = json!([node.clone()]),
            },
            7 => {
                // A number as a string, a string as a number, a scalar as a list.
                *node = match node.take() {
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::String(s) => {
                        s.parse::<f64>().ok().and_then(Number::from_f64).map_or(json!([s]), Value::Number)
                    }
                    other => json!({ "value": other }),
                }
            }
            _ => {
                if let Value::String(s) = node {
                    s.push_str(&hard_string(rng));
                } else {
                    *node = nested(*rng.pick(&[127, 129, 300]));
                }
            }
        }
    }
}

/// Tokens that mean something to a YAML or JSON parser.
const TOKENS: &[&str] = &[
    "---\n",
    "...\n",
    "{",
    "}",
    "[",
    "]",
    ": ",
    ":",
    ",",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!int ",
    "!!str ",
    "!custom ",
    "%YAML 1.2\n",
    "%TAG ! x\n",
    "? ",
    "- ",
    "|\n",
    ">-\n",
    "\t",
    "#",
    "\\u0000",
    "\\ud800",
    "\u{feff}",
    "\0",
    "\r",
    "\n",
    "  ",
    "1e99999",
    "-",
    "null",
    "~",
    "0x",
    "@",
    "`",
];

/// Damages text: bytes flipped, tokens put in, a span removed or repeated, cut short.
pub fn mutate_text(rng: &mut Rng, text: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        let len = text.len();
        let at = rng.below(len + 1);
        match rng.below(7) {
            0 if len > 0 => text[at.min(len - 1)] ^= 1 << rng.below(8),
            1 => {
                let token = rng.pick(TOKENS).as_bytes();
                text.splice(at..at, token.iter().copied());
            }
            2 if len > 0 => {
                let end = (at + rng.below(64)).min(len);
                text.drain(at..end);
            }
            3 if len > 0 => {
                let end = (at + rng.below(200)).min(len);
                let span = text[at..end].to_vec();
                for _ in 0..=rng.below(4) {
                    text.splice(at..at, span.iter().copied());
                }
            }
            4 => text.truncate(at),
            5 if len > 0 => text[at.min(len - 1)] = rng.next_u64() as u8,
            _ => {
                let depth = *rng.pick(&[100, 127, 128, 129, 1000, 20_000]);
                let open = if rng.chance(50) { "[" } else { "{\"a\":" };
                text.splice(at..at, open.repeat(depth).into_bytes());
            }
        }
    }
}

/// A YAML bomb: aliases that expand to `9^levels` nodes if expanded naively.
pub fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..=levels {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text
}
