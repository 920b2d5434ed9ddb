//! The time the controller decides by, read in one place.

use jiff::Timestamp;
use tokio::time::Instant;

/// The wall clock read once at start, plus the monotonic time since. A wall-clock jump
/// never shortens (or stretches) a failure window within a process; timestamps stay
/// readable facts for people. The monotonic part is tokio's, so a test that pauses
/// tokio's time (`start_paused`, `tokio::time::advance`) moves this clock too, and
/// the controller reads the time only here: the one place to inject it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: Timestamp,
    mono: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Self {
        Self::starting_at(Timestamp::now())
    }

    /// A clock whose wall time reads `wall` now (tests, replays).
    pub fn starting_at(wall: Timestamp) -> Self {
        Self { wall, mono: Instant::now() }
    }

    /// The current time on this clock.
    pub fn now(&self) -> Timestamp {
        jiff::SignedDuration::try_from(self.mono.elapsed())
            .ok()
            .and_then(|elapsed| self.wall.checked_add(elapsed).ok())
            .unwrap_or(Timestamp::MAX)
    }
}
