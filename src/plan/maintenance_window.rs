//! Whether a recurring maintenance window is open (pure).

use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;

use super::{Decision, Rule};
use crate::manifest::desired::{MaintenanceWindow, Schedule};

/// Whether a single member, which stops serving while it is `paused` ("restarted",
/// "defragmented"), may be paused now for `why`: `None` while its window is open;
/// otherwise a refusal when no window is set, or a wait until the window opens.
pub(super) fn closed_to_a_single_member(
    window: Option<&MaintenanceWindow>,
    now: Timestamp,
    rule: Rule,
    paused: &str,
    why: &str,
) -> Option<Decision> {
    let Some(window) = window else {
        let message = format!(
            "{why}; a single member is {paused} only inside spec.maintenance.defragmentation.window (it stops serving meanwhile), and none is set"
        );
        return Some(Decision::refuse(rule, message));
    };
    let opens = check(window, now).err()?;
    let message = format!("{why}; a single member waits for its maintenance window (opens {opens})");
    Some(Decision::wait(rule, Some(opens), message))
}

/// `Ok(())` when `window` is open at `now`; otherwise when it opens next
/// (`Timestamp::MAX` for a schedule that cannot be read: it never opens).
pub(super) fn check(window: &MaintenanceWindow, now: Timestamp) -> Result<(), Timestamp> {
    let length = i64::try_from(window.duration.as_secs()).unwrap_or(i64::MAX);
    match &window.schedule {
        Schedule::Every(every) => {
            // Counted from the Unix epoch, so that the window is the same after a restart.
            let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
            let into = now.as_second().rem_euclid(every);
            if into < length {
                return Ok(());
            }
            Err(Timestamp::from_second(now.as_second() - into + every).unwrap_or(Timestamp::MAX))
        }
        Schedule::Cron(expression) => {
            let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
            let Ok(cron) = parser.parse(expression) else { return Err(Timestamp::MAX) };
            // The first opening after `now - length`: at or before now, it is open (for
            // `length` from its opening, that second excluded).
            let from = now.as_second().saturating_sub(length).saturating_add(1);
            let Some(from) = chrono::DateTime::from_timestamp(from, 0) else {
                return Err(Timestamp::MAX);
            };
            let opening = cron
                .find_next_occurrence(&from, true)
                .ok()
                .and_then(|o| Timestamp::from_second(o.timestamp()).ok())
                .unwrap_or(Timestamp::MAX);
            if opening <= now { Ok(()) } else { Err(opening) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().expect("time")
    }

    #[test]
    fn a_window_is_open_from_each_opening_for_its_duration() {
        let nightly = MaintenanceWindow {
            schedule: Schedule::Cron("0 3 * * *".into()),
            duration: Duration::from_secs(1800),
        };
        assert_eq!(check(&nightly, t("2026-11-25T03:00:00Z")), Ok(()));
        assert_eq!(check(&nightly, t("2026-11-25T03:29:59Z")), Ok(()));
        assert_eq!(check(&nightly, t("2026-11-25T03:30:00Z")), Err(t("2026-11-26T03:00:00Z")));
        assert_eq!(check(&nightly, t("2026-11-25T02:59:00Z")), Err(t("2026-11-25T03:00:00Z")));
        let six_hourly = MaintenanceWindow {
            schedule: Schedule::Every(Duration::from_secs(6 * 3600)),
            duration: Duration::from_secs(600),
        };
        assert_eq!(check(&six_hourly, t("2026-11-25T06:05:00Z")), Ok(()));
        assert_eq!(check(&six_hourly, t("2026-11-25T06:10:00Z")), Err(t("2026-11-25T12:00:00Z")));
        let broken =
            MaintenanceWindow { schedule: Schedule::Cron("nope".into()), duration: Duration::from_secs(60) };
        assert_eq!(check(&broken, t("2026-11-25T06:05:00Z")), Err(Timestamp::MAX));
    }
}
