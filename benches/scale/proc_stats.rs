//! This process's (or another's) memory and CPU time, from /proc.

use std::time::{Duration, Instant};

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on Linux).
const TICKS: f64 = 100.0;

/// A reading of a process's RSS and CPU time.
pub struct Sample {
    pub at: Instant,
    pub rss_mib: f64,
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
}

impl Sample {
    /// This process now.
    pub fn now() -> Self {
        Self::of("self")
    }

    /// Process `pid` (or `self`) now.
    pub fn of(pid: &str) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
        let rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
        // Fields after the command name (which may hold spaces) start at `) `.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields[11].parse().expect("utime");
        let stime: u64 = fields[12].parse().expect("stime");
        Self { at: Instant::now(), rss_mib: rss_kib / 1024.0, cpu_ticks: utime + stime }
    }

    /// CPU used between `before` and this sample, as a percentage of one core.
    pub fn cpu_percent_since(&self, before: &Sample) -> f64 {
        let cpu = (self.cpu_ticks - before.cpu_ticks) as f64 / TICKS;
        100.0 * cpu / self.at.duration_since(before.at).as_secs_f64()
    }
}

/// The `q` quantile of sorted durations (zero when empty).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
