//! Events: what the controller saw, did or refused, and why; kept per cluster.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::PodName;

/// Whether an event is routine or needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Routine: a step taken, a member back.
    Normal,
    /// Needs attention: a failure seen, a step refused or failed.
    Warning,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When it happened.
    pub at: Timestamp,
    /// Routine or warning.
    pub kind: EventKind,
    /// One word: the step, or what was seen (`MemberDown`, `MemberUp`, `Refused`).
    pub reason: String,
    /// The rule behind it, for steps and refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The member it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodName>,
    /// One sentence.
    pub message: String,
}

impl Event {
    /// A routine event.
    pub fn normal(at: Timestamp, reason: &str, message: String) -> Self {
        Self { at, kind: EventKind::Normal, reason: reason.to_owned(), rule: None, pod: None, message }
    }

    /// A warning.
    pub fn warning(at: Timestamp, reason: &str, message: String) -> Self {
        Self { kind: EventKind::Warning, ..Self::normal(at, reason, message) }
    }

    /// The same event, about `pod`.
    pub fn about(mut self, pod: PodName) -> Self {
        self.pod = Some(pod);
        self
    }

    /// The same event, decided by `rule`.
    pub fn by(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_owned());
        self
    }
}

/// One line of a member's log as people read it, whatever the etcd version: its
/// structured (zap JSON, 3.4 on) lines become `<time> <level> <msg>` with the error, if
/// any; etcd 3.3's capnslog lines (`<date> <time> C | <package>: <msg>`) become
/// `<date> <time> <level> <package>: <msg>`, their level letter written as zap's word
/// (`C` is `fatal`); other lines stay as they are.
pub fn readable_log_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(line) else {
        return capnslog_line(line).unwrap_or_else(|| line.to_owned());
    };
    let text = |key: &str| fields.get(key).and_then(serde_json::Value::as_str).unwrap_or_default();
    let mut out = format!("{} {} {}", text("ts"), text("level"), text("msg"));
    if !text("error").is_empty() {
        out.push_str(&format!(": {}", text("error")));
    }
    out
}

/// The last `count` lines of a member's log that say something, readable: etcd's log
/// records (JSON or capnslog) and the first line of a Go crash (`panic: ...`, `fatal
/// error: ...`), never the goroutine stack after it (etcd 3.5 panics on a corrupt WAL,
/// and its last lines are then only stack frames). Without such lines, the last
/// `count` lines as they are.
pub fn readable_log_tail<S: AsRef<str>>(lines: &[S], count: usize) -> Vec<String> {
    let says_something = |line: &str| {
        line.starts_with("panic: ")
            || line.starts_with("fatal error: ")
            || capnslog_line(line).is_some()
            || serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_ok()
    };
    let mut kept: Vec<&str> = lines.iter().map(AsRef::as_ref).filter(|l| says_something(l)).collect();
    if kept.is_empty() {
        kept = lines.iter().map(AsRef::as_ref).filter(|l| !l.trim().is_empty()).collect();
    }
    let start = kept.len().saturating_sub(count);
    kept[start..].iter().map(|l| readable_log_line(l)).collect()
}

/// An etcd 3.3 (capnslog) line with its level letter as a word; none for other lines.
fn capnslog_line(line: &str) -> Option<String> {
    let (head, message) = line.split_once(" | ")?;
    let (time, letter) = head.rsplit_once(' ')?;
    let level = match letter {
        "C" => "fatal",
        "E" => "error",
        "W" => "warn",
        "N" => "notice",
        "I" => "info",
        "D" => "debug",
        "T" => "trace",
        _ => return None,
    };
    Some(format!("{time} {level} {message}"))
}

#[cfg(test)]
mod tests {
    use super::{readable_log_line, readable_log_tail};

    #[test]
    fn a_go_crash_is_quoted_by_its_first_line_and_the_records_before_it_not_its_stack() {
        let log = [
            r#"{"level":"info","ts":"t1","msg":"opened backend db"}"#,
            r#"{"level":"panic","ts":"t2","msg":"failed to read WAL","error":"wal: crc mismatch"}"#,
            "panic: failed to read WAL",
            "",
            "goroutine 1 [running]:",
            "go.uber.org/zap/zapcore.CheckWriteAction.OnWrite(0x2, 0xc000)",
            "\tgo.etcd.io/etcd/server/etcdmain/main.go:40 +0x105",
            "main.main()",
        ];
        assert_eq!(
            readable_log_tail(&log, 2),
            ["t2 panic failed to read WAL: wal: crc mismatch", "panic: failed to read WAL"]
        );
        let capnslog =
            ["2019-01-01 12:00:00.000000 C | etcdserver: read wal error", "goroutine 1 [running]:"];
        assert_eq!(
            readable_log_tail(&capnslog, 5),
            ["2019-01-01 12:00:00.000000 fatal etcdserver: read wal error"]
        );
        // Nothing that looks like a record: the last lines as they are.
        assert_eq!(readable_log_tail(&["a", "", "b", "c"], 2), ["b", "c"]);
        assert!(readable_log_tail::<&str>(&[], 5).is_empty());
    }

    #[test]
    fn etcd_json_lines_are_shortened_and_other_lines_kept() {
        let zap = r#"{"level":"fatal","ts":"2026-12-01T00:21:40.928Z","caller":"etcdmain/etcd.go:271","msg":"discovery failed","error":"wal: max entry size limit exceeded","stacktrace":"..."}"#;
        assert_eq!(
            readable_log_line(zap),
            "2026-12-01T00:21:40.928Z fatal discovery failed: wal: max entry size limit exceeded"
        );
        let info = r#"{"level":"info","ts":"t","msg":"opened backend db","path":"/x"}"#;
        assert_eq!(readable_log_line(info), "t info opened backend db");
        let capnslog = "2019-01-01 12:00:00.000000 C | etcdmain: listen tcp: address already in use";
        assert_eq!(
            readable_log_line(capnslog),
            "2019-01-01 12:00:00.000000 fatal etcdmain: listen tcp: address already in use"
        );
        let warning = "2019-01-01 12:00:00.000000 W | rafthttp: lost the TCP streaming connection";
        assert_eq!(
            readable_log_line(warning),
            "2019-01-01 12:00:00.000000 warn rafthttp: lost the TCP streaming connection"
        );
        let plain = "panic: runtime error | index out of range";
        assert_eq!(readable_log_line(plain), plain);
        assert_eq!(readable_log_line("[1, 2]"), "[1, 2]");
    }
}
