//! The status page's HTML, rendered from what the API serves as JSON: status, events
//! and the backup catalog. Pure: the same views and time give the same HTML. `maud`
//! escapes every value, so a message with `<` in it stays text.
//!
//! Every block that changes carries a `data-key`: the page's script swaps only the
//! blocks whose HTML changed, so a reader's place (scroll, selection) is kept. State is
//! said in words (`up`, `DOWN`, `Healthy`), never by colour alone.

use jiff::Timestamp;
use maud::{Markup, html};

use crate::domain::ClusterName;
use crate::event::{Event, EventKind};
use crate::model::catalog::BackupRecord;
use crate::model::drill::DrillResult;
use crate::status::{ClusterStatus, ConditionStatus, ConditionType, MemberStatus, Role};

/// How far back the events timeline reaches.
pub const TIMELINE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What the page shows of one cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The cluster.
    pub name: ClusterName,
    /// Its status, once a pass ran.
    pub status: Option<ClusterStatus>,
    /// Its events, oldest first (the store's order).
    pub events: Vec<Event>,
    /// The newest verified backup of its catalog.
    pub newest_verified: Option<BackupRecord>,
}

/// Every cluster, as the page's `<main>` holds them.
pub fn clusters(views: &[ClusterView], now: Timestamp) -> Markup {
    html! {
        p.updated data-key="updated" {
            "Status at " (time(now)) "."
        }
        @if views.is_empty() {
            p data-key="none" { "No cluster is managed by this daemon yet: " code { "etcd-warden apply -f MANIFEST" } "." }
        }
        @for view in views {
            (cluster(view, now))
        }
    }
}

fn cluster(view: &ClusterView, now: Timestamp) -> Markup {
    let name = view.name.as_str();
    let key = |part: &str| format!("{name}/{part}");
    html! {
        section.cluster id=(format!("cluster-{name}")) data-key=(key("section")) aria-labelledby=(format!("title-{name}")) {
            @match &view.status {
                None => {
                    h2 id=(format!("title-{name}")) data-key=(key("title")) { (name) ": " span.phase { "no status yet" } }
                    p data-key=(key("waiting")) { "The first pass is running." }
                }
                Some(status) => {
                    h2 id=(format!("title-{name}")) data-key=(key("title")) {
                        (name) ": " span.phase data-phase=(status.phase.name()) { (status.phase.name()) }
                    }
                    (summary(status, now, &key("summary")))
                    (members(status, now, &key("members")))
                    (operation(status, now, &key("operation")))
                    (conditions(status, now, &key("conditions")))
                    (backups(status, view.newest_verified.as_ref(), now, &key("backups")))
                }
            }
            (timeline(&view.events, now, &key("events")))
        }
    }
}

fn summary(status: &ClusterStatus, now: Timestamp, key: &str) -> Markup {
    let q = &status.quorum;
    let tolerance = match q.fault_tolerance {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    };
    html! {
        p.summary data-key=(key) {
            strong { "Fault tolerance: " (tolerance) }
            @if q.fault_tolerance == 0 && status.desired_members > 1 { " (at risk: one more member down loses the quorum)" }
            ". " (q.healthy) " of " (q.voting) " voters healthy, " (q.needed) " needed for a quorum; "
            (status.desired_members) " desired. Observed " (ago(status.observed_at, now)) "."
        }
    }
}

fn role(member: &MemberStatus) -> &'static str {
    match member.role {
        Some(Role::Leader) => "leader",
        Some(Role::Follower) => "follower",
        Some(Role::Learner) => "learner",
        None => "unknown",
    }
}

fn members(status: &ClusterStatus, now: Timestamp, key: &str) -> Markup {
    html! {
        div.block data-key=(key) {
            h3 { "Members" }
            div.scroll {
                table.members {
                    thead {
                        tr {
                            th scope="col" { "Member" }
                            th scope="col" { "Health" }
                            th scope="col" { "Role" }
                            th scope="col" { "Version" }
                            th scope="col" { "Revision" }
                            th scope="col" { "Behind leader" }
                            th scope="col" { "Database" }
                            th scope="col" { "In use" }
                            th scope="col" { "Task" }
                            th scope="col" { "Restarts since healthy" }
                        }
                    }
                    tbody {
                        @for m in &status.members {
                            tr data-pod=(m.pod) data-health=(if m.healthy { "up" } else { "down" }) {
                                th scope="row" { (m.pod) }
                                td.health {
                                    @if m.healthy { span.up { "up" } } @else {
                                        span.down { "DOWN" }
                                        @if let Some(since) = m.unhealthy_since { " for " (span(now.duration_since(since).as_secs().max(0))) }
                                        @if let Some(error) = &m.error { br; small { (error) } }
                                    }
                                }
                                td { (role(m)) }
                                td { (m.version.as_deref().unwrap_or("-")) }
                                td.num { (optional(m.revision)) }
                                td.num { (optional(m.revision_lag)) }
                                td.num { (m.db_size_bytes.map_or_else(|| "-".to_owned(), bytes)) }
                                td.num { (m.db_size_in_use_bytes.map_or_else(|| "-".to_owned(), bytes)) }
                                td {
                                    (m.task.state)
                                    @if m.task.agent_lost { " (agent lost)" }
                                    @if m.task.data != "intact" && m.task.data != "unknown" { ", data " (m.task.data) }
                                }
                                td.num { (m.task.restarts) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn operation(status: &ClusterStatus, now: Timestamp, key: &str) -> Markup {
    html! {
        div.block data-key=(key) {
            h3 { "Operation in flight" }
            @match &status.operation {
                None => p { "None." }
                Some(op) => {
                    p.operation {
                        strong { (op.kind) }
                        @if let Some(pod) = op.pod { " of " (pod) }
                        ", begun " (ago(op.begun_at, now)) "; deadline " (time(op.deadline))
                        @if op.deadline <= now { strong { " (past it)" } } @else { " (" (until(op.deadline, now)) ")" }
                        "."
                    }
                    p {
                        @match &op.step {
                            Some(step) => { "Step now: " code { (step) } }
                            None => { "No step this pass" }
                        }
                        @if let Some(rule) = &op.rule { ", rule " code { (rule) } }
                        @if let Some(message) = &op.message { ": " (message) }
                    }
                }
            }
        }
    }
}

/// Whether a condition's status is the one that needs a look: `Available` false, or
/// any of the others true (`Degraded`, `QuorumLost` ...), `BackupReady` and
/// `BackupRestorable` false.
fn needs_attention(kind: ConditionType, status: ConditionStatus) -> bool {
    match kind {
        ConditionType::Available | ConditionType::BackupReady | ConditionType::BackupRestorable => {
            status == ConditionStatus::False
        }
        ConditionType::Progressing => false,
        _ => status == ConditionStatus::True,
    }
}

fn conditions(status: &ClusterStatus, now: Timestamp, key: &str) -> Markup {
    html! {
        div.block data-key=(key) {
            h3 { "Conditions" }
            ul.conditions {
                @for c in &status.conditions {
                    @let attention = needs_attention(c.kind, c.status);
                    li data-attention=(attention) {
                        @if attention { strong.attention { "Attention: " } }
                        strong { (c.kind.name()) } " is " (format!("{:?}", c.status)) " (" (format!("{:?}", c.reason)) ") for " (span(now.duration_since(c.last_transition_time).as_secs().max(0)))
                        @if !c.message.is_empty() { ": " (c.message) }
                    }
                }
            }
        }
    }
}

fn backups(status: &ClusterStatus, newest: Option<&BackupRecord>, now: Timestamp, key: &str) -> Markup {
    html! {
        div.block data-key=(key) {
            h3 { "Backups" }
            p {
                @match newest {
                    None => { strong { "No verified backup." } }
                    Some(b) => {
                        "Last verified backup " code { (b.id) } ": taken " (ago(b.taken_at, now)) ", revision " (b.revision) ", "
                        (bytes(i64::try_from(b.size_bytes).unwrap_or(i64::MAX))) "."
                    }
                }
            }
            p {
                @match &status.last_drill {
                    None => { "No restore drill yet." }
                    Some(d) => {
                        "Last restore drill: "
                        @match d.result { DrillResult::Passed => strong { "passed" }, DrillResult::Failed => strong.attention { "FAILED" } }
                        ", " (ago(d.finished_at, now)) ", of " code { (d.backup_id) } " in " (format!("{:.1}", d.duration_seconds)) " s: " (d.message)
                    }
                }
            }
        }
    }
}

fn timeline(events: &[Event], now: Timestamp, key: &str) -> Markup {
    let since =
        jiff::SignedDuration::try_from(TIMELINE).ok().and_then(|d| now.checked_sub(d).ok()).unwrap_or(now);
    let recent: Vec<&Event> = events.iter().rev().take_while(|e| e.at >= since).collect();
    html! {
        div.block data-key=(key) {
            h3 { "Events in the last hour" }
            @if recent.is_empty() { p { "None." } } @else {
                ol.timeline reversed {
                    @for e in recent {
                        li data-kind=(if e.kind == EventKind::Warning { "warning" } else { "normal" }) {
                            (time(e.at)) " "
                            @if e.kind == EventKind::Warning { strong.attention { "Warning " } }
                            strong.reason { (e.reason) }
                            @if let Some(pod) = e.pod { " " (pod) }
                            @if let Some(rule) = &e.rule { " (rule " code { (rule) } ")" }
                            ": " (e.message)
                        }
                    }
                }
            }
        }
    }
}

fn time(at: Timestamp) -> Markup {
    let text = at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(at.to_string()) { (text) } }
}

/// `12 s ago`, `3 min 4 s ago`, `2 h 5 min ago`, `3 d 4 h ago`.
fn ago(at: Timestamp, now: Timestamp) -> String {
    let seconds = now.duration_since(at).as_secs();
    if seconds < 0 { format!("in {}", span(-seconds)) } else { format!("{} ago", span(seconds)) }
}

fn until(at: Timestamp, now: Timestamp) -> String {
    format!("in {}", span(at.duration_since(now).as_secs().max(0)))
}

fn span(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn optional(n: Option<i64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// `512 B`, `1.5 KiB`, `20.0 MiB`, `2.0 GiB`.
fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::desired::MemberCount;
    use crate::testing::world::{World, at, desired, pod, t0, world};

    fn view(w: &World, events: Vec<Event>) -> ClusterView {
        let d = desired(MemberCount::Three);
        ClusterView { name: d.name.clone(), status: Some(w.status(&d, None)), events, newest_verified: None }
    }

    #[test]
    fn a_member_down_says_so_in_words_and_every_message_stays_text() {
        let mut w = world(3).exited(1, t0());
        w.observed.endpoints.insert(pod(1), Err("<script>alert(1)</script> refused".to_owned()));
        let events = vec![
            Event::warning(at(-3700), "LongAgo", "an hour and more before".to_owned()),
            Event::warning(at(30), "MemberDown", "etcd-1 is <b>down</b>".to_owned()).about(pod(1)),
        ];
        let html = clusters(&[view(&w, events)], at(60)).into_string();
        assert!(html.contains(r#"<tr data-pod="etcd-1" data-health="down">"#), "{html}");
        assert!(
            html.contains(r#"<span class="down">DOWN</span> for 1 min 0 s"#),
            "the word, not only a colour: {html}"
        );
        assert_eq!(html.matches(r#"<span class="up">up</span>"#).count(), 2, "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; refused"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>"), "no markup from a message: {html}");
        assert!(html.contains("MemberDown") && !html.contains("LongAgo"), "the last hour only: {html}");
        assert!(html.contains(r#"data-phase="Degraded""#), "{html}");
    }

    #[test]
    fn the_operation_in_flight_shows_its_step_its_rule_and_its_deadline() {
        let mut w = world(3).lost(1, t0()).replacing(1, 0, None);
        w.observed.at = at(61);
        let v = view(&w, Vec::new());
        let op = v.status.as_ref().and_then(|s| s.operation.clone()).expect("in flight");
        let html = clusters(&[v], at(61)).into_string();
        let step = op.step.expect("a step past the window");
        assert!(html.contains(&format!("Step now: <code>{step}</code>")), "{html}");
        assert!(html.contains(&format!("rule <code>{}</code>", op.rule.expect("its rule"))), "{html}");
        assert!(html.contains("<strong>Replace</strong> of etcd-1"), "{html}");
        assert!(html.contains("(in 28 min 59 s)"), "the deadline 30 min after t0: {html}");
    }

    #[test]
    fn the_backups_block_says_how_old_the_last_verified_backup_is_and_how_the_last_drill_went() {
        use crate::model::drill::{DrillFailure, DrillResult};
        use crate::testing::world::{backup_record, drill_report};
        let mut v = view(&world(3), Vec::new());
        let html = clusters(std::slice::from_ref(&v), at(60)).into_string();
        assert!(
            html.contains("<strong>No verified backup.</strong>") && html.contains("No restore drill yet.")
        );
        v.newest_verified = Some(backup_record(at(-7200), 42));
        let failed =
            drill_report(DrillResult::Failed, Some(DrillFailure::HashMismatch), "the hash <differs>");
        if let Some(s) = v.status.as_mut() {
            s.last_drill = Some(failed);
        }
        let html = clusters(&[v], at(60)).into_string();
        assert!(html.contains(": taken 2 h 1 min ago, revision 42,"), "{html}");
        assert!(html.contains(r#"<strong class="attention">FAILED</strong>, 1 min 0 s ago"#), "{html}");
        assert!(html.contains("the hash &lt;differs&gt;"), "{html}");
    }

    #[test]
    fn sizes_and_spans_read_as_people_write_them() {
        assert_eq!([bytes(512), bytes(1536), bytes(20 * 1024 * 1024)], ["512 B", "1.5 KiB", "20.0 MiB"]);
        assert_eq!(
            [span(59), span(61), span(3700), span(90_000)],
            ["59 s", "1 min 1 s", "1 h 1 min", "1 d 1 h"]
        );
        assert_eq!(ago(at(0), at(5)), "5 s ago");
    }
}
