//! When the next scheduled backup is due (pure).

use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;

use std::time::Duration;

use crate::manifest::Schedule;
use crate::model::backup::BackupFailure;

/// When the next scheduled backup is due, given the last one taken (successful or
/// not). A cron schedule runs at its next occurrence after the last backup (after
/// now when there was none); an interval runs that long after the last backup (now
/// when there was none). A schedule that cannot be read is never due.
pub fn next_due(schedule: &Schedule, last: Option<Timestamp>, now: Timestamp) -> Timestamp {
    match schedule {
        Schedule::Every(every) => last
            .map(|l| {
                jiff::SignedDuration::try_from(*every)
                    .ok()
                    .and_then(|d| l.checked_add(d).ok())
                    .unwrap_or(Timestamp::MAX)
            })
            .unwrap_or(now),
        Schedule::Cron(expression) => {
            let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
            let Ok(cron) = parser.parse(expression) else { return Timestamp::MAX };
            let start = last.unwrap_or(now);
            let Some(start) = chrono::DateTime::from_timestamp(start.as_second(), 0) else {
                return Timestamp::MAX;
            };
            cron.find_next_occurrence(&start, false)
                .ok()
                .and_then(|next| Timestamp::from_second(next.timestamp()).ok())
                .unwrap_or(Timestamp::MAX)
        }
    }
}

/// The first pause before a failed backup is tried again; it doubles with each failure.
const RETRY_FIRST: Duration = Duration::from_secs(30);
/// The longest pause between two attempts after failures.
const RETRY_MAX: Duration = Duration::from_secs(15 * 60);

/// When a backup that failed (`failure`, newer than the last success) is tried again,
/// sooner than the schedule: an election or a member away must not cost a whole
/// period. 30 s after the first failure, doubling, at most 15 minutes. None when the
/// last backup succeeded.
pub fn retry_due(failure: Option<&BackupFailure>, last_success: Option<Timestamp>) -> Option<Timestamp> {
    let failure = failure.filter(|f| last_success.is_none_or(|s| s < f.at))?;
    let pause = RETRY_FIRST.saturating_mul(1u32 << failure.attempts.saturating_sub(1).min(16)).min(RETRY_MAX);
    let pause = jiff::SignedDuration::try_from(pause).ok()?;
    failure.at.checked_add(pause).ok()
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn cron_and_interval_schedules_give_the_next_time() {
        let now: Timestamp = "2026-11-25T20:07:13Z".parse().expect("time");
        let half_hourly = Schedule::Cron("*/30 * * * *".into());
        assert_eq!(
            next_due(&half_hourly, None, now),
            "2026-11-25T20:30:00Z".parse::<Timestamp>().expect("t")
        );
        let last: Timestamp = "2026-11-25T19:30:00Z".parse().expect("time");
        assert_eq!(
            next_due(&half_hourly, Some(last), now),
            "2026-11-25T20:00:00Z".parse::<Timestamp>().expect("t")
        );
        let every = Schedule::Every(Duration::from_secs(600));
        assert_eq!(next_due(&every, None, now), now, "an interval with no backup is due now");
        assert_eq!(
            next_due(&every, Some(last), now),
            "2026-11-25T19:40:00Z".parse::<Timestamp>().expect("t")
        );
        let broken = Schedule::Cron("not cron".into());
        assert_eq!(next_due(&broken, None, now), Timestamp::MAX);
    }

    #[test]
    fn a_failed_backup_is_tried_again_after_30_s_doubling_up_to_15_min_until_one_succeeds() {
        let at: Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        let failure = |attempts| BackupFailure { at, message: "leader changed".into(), attempts };
        let after = |secs| Some(at + jiff::SignedDuration::from_secs(secs));
        assert_eq!(retry_due(Some(&failure(1)), None), after(30));
        assert_eq!(retry_due(Some(&failure(2)), None), after(60));
        assert_eq!(retry_due(Some(&failure(5)), None), after(480));
        assert_eq!(retry_due(Some(&failure(6)), None), after(900), "at most 15 minutes");
        assert_eq!(retry_due(Some(&failure(40)), None), after(900));
        let earlier: Timestamp = "2026-11-25T19:00:00Z".parse().expect("time");
        assert_eq!(retry_due(Some(&failure(1)), Some(earlier)), after(30), "the failure is newer");
        let later: Timestamp = "2026-11-25T20:01:00Z".parse().expect("time");
        assert_eq!(retry_due(Some(&failure(1)), Some(later)), None, "a later backup succeeded");
        assert_eq!(retry_due(None, None), None);
    }
}
