//! The soak's figures: heal times per kind of fault, and the summary it prints.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::faults::{Fault, Kind};

/// One fault and what came of it.
pub struct Outcome {
    pub fault: Fault,
    /// The time from the harm to the cluster healed; `None` if it never healed.
    pub healed_in: Option<Duration>,
    /// Time without quorum from the harm to the heal.
    pub without_quorum: Duration,
    pub note: Option<String>,
}

/// The `p`th percentile (0..=100) of sorted `values`, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `median / p99 / worst` of the heal times of `outcomes`.
fn heal_line(outcomes: &[&Outcome]) -> String {
    let mut times: Vec<Duration> = outcomes.iter().filter_map(|o| o.healed_in).collect();
    times.sort();
    if times.is_empty() {
        return "-".to_owned();
    }
    format!(
        "{} / {} / {}",
        secs(percentile(&times, 50.0)),
        secs(percentile(&times, 99.0)),
        secs(times[times.len() - 1])
    )
}

/// The per-kind table and the overall heal line.
pub fn faults_table(outcomes: &[Outcome]) -> String {
    let mut by_kind: BTreeMap<Kind, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_kind.entry(o.fault.kind).or_default().push(o);
    }
    let mut out = String::from(
        "| fault | injected | healed | heal median / p99 / worst | without quorum |\n|---|---|---|---|---|\n",
    );
    let dark = |list: &[&Outcome]| secs(list.iter().map(|o| o.without_quorum).sum());
    for (kind, list) in &by_kind {
        let healed = list.iter().filter(|o| o.healed_in.is_some()).count();
        out += &format!("| {kind} | {} | {healed} | {} | {} |\n", list.len(), heal_line(list), dark(list));
    }
    let all: Vec<&Outcome> = outcomes.iter().collect();
    let healed = all.iter().filter(|o| o.healed_in.is_some()).count();
    out += &format!("| all | {} | {healed} | {} | {} |\n", all.len(), heal_line(&all), dark(&all));
    out
}

/// Every fault so far with its heal time: what a failure prints.
pub fn sequence(outcomes: &[Outcome], current: Option<&Fault>) -> String {
    let mut out = String::new();
    for o in outcomes {
        let healed = o.healed_in.map_or("NOT HEALED".to_owned(), |d| format!("healed in {}", secs(d)));
        out += &format!("  {}: {healed}", o.fault);
        if let Some(note) = &o.note {
            out += &format!(" ({note})");
        }
        out.push('\n');
    }
    if let Some(fault) = current {
        out += &format!("  {fault}: in progress\n");
    }
    out
}

/// The backup events seen during the run (the daemon keeps only its newest events, so
/// they are gathered after every fault), by `(time, reason, message)`.
#[derive(Default)]
pub struct BackupEvents(std::collections::BTreeSet<(String, String, String)>);

impl BackupEvents {
    /// Adds the backup events of an `events` answer.
    pub fn gather(&mut self, events: &serde_json::Value) {
        for e in events.as_array().into_iter().flatten() {
            let reason = e["reason"].as_str().unwrap_or_default();
            if matches!(reason, "BackupTaken" | "BackupFailed" | "BackupSkipped") {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                self.0.insert((text("at"), reason.to_owned(), text("message")));
            }
        }
    }

    /// The messages of the failed backups.
    pub fn failures(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, r, _)| r == "BackupFailed")
            .map(|(at, _, m)| if m.is_empty() { at } else { m }.as_str())
    }

    /// `scheduled: N taken, N failed, N skipped; on demand: N taken, N failed`.
    pub fn summary(&self) -> String {
        let count = |why: &str, reason: &str| {
            self.0.iter().filter(|(_, r, m)| r == reason && m.starts_with(why)).count()
        };
        format!(
            "scheduled: {} taken, {} failed, {} skipped; on demand: {} taken, {} failed",
            count("scheduled", "BackupTaken"),
            count("scheduled", "BackupFailed"),
            self.0.iter().filter(|(_, r, _)| r == "BackupSkipped").count(),
            count("on demand", "BackupTaken"),
            count("on demand", "BackupFailed"),
        )
    }
}
