//! When the next scheduled backup is due (pure).

use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;

use crate::manifest::Schedule;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
}
