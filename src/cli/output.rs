//! Tables for humans; JSON output is the API's own shapes.

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};

use crate::api::ClusterSummary;
use crate::event::Event;
use crate::model::catalog::BackupRecord;
use crate::model::drill::DrillReport;
use crate::status::{ClusterStatus, ConditionStatus};

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING).set_header(header.iter().map(Cell::new));
    table
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn bytes(size: Option<i64>) -> String {
    match size {
        None => "-".to_owned(),
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        Some(b) => format!("{:.0} KiB", b as f64 / 1024.0),
    }
}

/// One cluster's status as text.
pub fn status(status: &ClusterStatus) -> String {
    let q = &status.quorum;
    let mut out = format!(
        "Cluster {}: {:?} (generation {}, observed {})\nQuorum: {} of {} voting members healthy, {} needed, tolerates {} more failure(s)\n\n",
        status.name,
        status.phase,
        status.observed_generation,
        status.observed_at,
        q.healthy,
        q.voting,
        q.needed,
        q.fault_tolerance
    );
    let mut members =
        table(&["POD", "ID", "ROLE", "HEALTHY", "REVISION", "DB SIZE", "TASK", "PID", "AGENT", "CLIENT URL"]);
    for m in &status.members {
        let role = m.role.map(|r| format!("{r:?}").to_lowercase());
        let agent = if m.task.agent_lost { format!("{} (lost)", m.task.agent) } else { m.task.agent.clone() };
        members.add_row(vec![
            m.pod.to_string(),
            or_dash(m.id),
            or_dash(role),
            if m.healthy { "yes" } else { "NO" }.to_owned(),
            or_dash(m.revision),
            bytes(m.db_size_bytes),
            m.task.state.clone(),
            or_dash(m.task.pid),
            agent,
            m.client_url.clone(),
        ]);
    }
    out.push_str(&members.to_string());
    out.push_str("\n\n");
    let mut conditions = table(&["CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"]);
    for c in &status.conditions {
        let flag = match c.status {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        };
        conditions.add_row(vec![
            format!("{:?}", c.kind),
            flag.to_owned(),
            format!("{:?}", c.reason),
            c.last_transition_time.to_string(),
            c.message.clone(),
        ]);
    }
    out.push_str(&conditions.to_string());
    if let Some(action) = &status.last_action {
        out.push_str(&format!(
            "\n\nLast action: {} (rule {}) at {}: {}",
            action.step, action.rule, action.at, action.result
        ));
    }
    if let Some(first) = &status.certificates {
        out.push_str(&format!(
            "\n\nCertificates: the first expires at {} ({}, {})",
            first.not_after, first.subject, first.file
        ));
    }
    out.push('\n');
    out
}

/// The cluster list as text.
pub fn summaries(list: &[ClusterSummary]) -> String {
    let mut t = table(&["NAME", "GENERATION", "PHASE", "HEALTHY"]);
    for s in list {
        let healthy = match (s.healthy, s.desired) {
            (Some(h), Some(d)) => format!("{h}/{d}"),
            _ => "-".to_owned(),
        };
        t.add_row(vec![
            s.name.to_string(),
            s.generation.to_string(),
            or_dash(s.phase.map(|p| format!("{p:?}"))),
            healthy,
        ]);
    }
    format!("{t}\n")
}

/// Events as text.
pub fn events(events: &[Event]) -> String {
    let mut t = table(&["TIME", "KIND", "REASON", "POD", "RULE", "MESSAGE"]);
    for e in events {
        t.add_row(vec![
            e.at.to_string(),
            format!("{:?}", e.kind),
            e.reason.clone(),
            or_dash(e.pod),
            e.rule.clone().unwrap_or_else(|| "-".to_owned()),
            e.message.clone(),
        ]);
    }
    format!("{t}\n")
}

/// A plan (the API's JSON) as text.
pub fn plan(plan: &serde_json::Value) -> String {
    let decisions = plan.get("decisions").and_then(|d| d.as_array()).cloned().unwrap_or_default();
    if decisions.is_empty() {
        return "Nothing to do: the cluster matches its desired state.\n".to_owned();
    }
    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
    let mut t = table(&["OUTCOME", "STEP", "RULE", "WHY"]);
    for d in &decisions {
        t.add_row(vec![text(d, "outcome"), text(d, "step"), text(d, "rule"), text(d, "message")]);
    }
    format!("{t}\n")
}

/// One backup, as `etcd-warden backup` prints it.
pub fn backup(r: &BackupRecord) -> String {
    format!(
        "backup {}\n  revision  {}\n  keys      {}\n  size      {} ({} bytes)\n  sha256    {}\n  verified  {}\n  taken     {} from {} in {:.1} s\n  stored    {}\n",
        r.id,
        r.revision,
        r.keys,
        bytes(i64::try_from(r.size_bytes).ok()),
        r.size_bytes,
        r.sha256,
        r.verified,
        r.taken_at,
        r.source,
        r.duration_seconds,
        r.location
    )
}

/// One restore drill, as `etcd-warden drill` prints it.
pub fn drill(r: &DrillReport) -> String {
    let verdict = match r.failure {
        None if r.passed() => "PASSED".to_owned(),
        None => "FAILED".to_owned(),
        Some(f) => format!("FAILED ({})", f.describe()),
    };
    let found =
        |v: Option<String>, expected: String| format!("{} (record: {expected})", v.unwrap_or("-".into()));
    format!(
        "drill of backup {}: {verdict}\n  revision  {}\n  keys      {}\n  sampled   {} keys read back\n  size      {}\n  took      {:.1} s (started {})\n  {}\n",
        r.backup_id,
        found(r.revision.map(|v| v.to_string()), r.expected_revision.to_string()),
        found(r.keys.map(|v| v.to_string()), r.expected_keys.to_string()),
        or_dash(r.sampled_keys),
        bytes(i64::try_from(r.backup_size_bytes).ok()),
        r.duration_seconds,
        r.started_at,
        r.message
    )
}

/// The catalog as text, newest last.
pub fn backups(records: &[BackupRecord]) -> String {
    let mut t = table(&["ID", "TAKEN", "REVISION", "KEYS", "SIZE", "VERIFIED", "SHA256"]);
    for r in records {
        t.add_row(vec![
            r.id.to_string(),
            r.taken_at.to_string(),
            r.revision.to_string(),
            r.keys.to_string(),
            bytes(i64::try_from(r.size_bytes).ok()),
            r.verified.to_string(),
            r.sha256.chars().take(16).collect::<String>() + "...",
        ]);
    }
    format!("{t}\n")
}
