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

/// One line of a member's log as people read it: etcd's structured (zap JSON) lines
/// become `<time> <level> <msg>` with the error, if any; other lines stay as they are.
pub fn readable_log_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    let text = |key: &str| fields.get(key).and_then(serde_json::Value::as_str).unwrap_or_default();
    let mut out = format!("{} {} {}", text("ts"), text("level"), text("msg"));
    if !text("error").is_empty() {
        out.push_str(&format!(": {}", text("error")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::readable_log_line;

    #[test]
    fn etcd_json_lines_are_shortened_and_other_lines_kept() {
        let zap = r#"{"level":"fatal","ts":"2026-12-01T00:21:40.928Z","caller":"etcdmain/etcd.go:271","msg":"discovery failed","error":"wal: max entry size limit exceeded","stacktrace":"..."}"#;
        assert_eq!(
            readable_log_line(zap),
            "2026-12-01T00:21:40.928Z fatal discovery failed: wal: max entry size limit exceeded"
        );
        let info = r#"{"level":"info","ts":"t","msg":"opened backend db","path":"/x"}"#;
        assert_eq!(readable_log_line(info), "t info opened backend db");
        let plain = "2019-01-01 12:00:00.000000 C | etcdmain: listen tcp: address already in use";
        assert_eq!(readable_log_line(plain), plain);
        assert_eq!(readable_log_line("[1, 2]"), "[1, 2]");
    }
}
