//! The faults the soak injects, drawn from a seeded generator: the same seed gives the
//! same sequence (kinds, victims, parameters and pauses), whatever happens at run time.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;

use crate::support::{self, Harness};

/// SplitMix64: small, seedable, and good enough to pick faults.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A duration in `low..=high`, to the millisecond.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (low.as_millis() as u64, high.as_millis() as u64);
        Duration::from_millis(low + self.below(high.saturating_sub(low) + 1))
    }
}

/// The kinds of fault, with their weight in the draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    KillMember,
    StopMember,
    KillWipeData,
    KillDeleteWal,
    KillController,
    KillControllerMidReplacement,
    BackupWhileMemberDown,
    LoseQuorum,
}

pub const KINDS: [(Kind, u64); 8] = [
    (Kind::KillMember, 3),
    (Kind::StopMember, 2),
    (Kind::KillWipeData, 2),
    (Kind::KillDeleteWal, 2),
    (Kind::KillController, 1),
    (Kind::KillControllerMidReplacement, 1),
    (Kind::BackupWhileMemberDown, 1),
    (Kind::LoseQuorum, 1),
];

/// The steps of a replacement after which the failpoint may kill the controller.
const REPLACEMENT_STEPS: [&str; 6] = [
    "SnapshotBeforeReplace",
    "WipeMember",
    "RemoveMember",
    "AddLearner",
    "LaunchReplacement",
    "PromoteLearner",
];

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::KillMember => "kill -9 member",
            Self::StopMember => "SIGSTOP member, SIGCONT later",
            Self::KillWipeData => "kill -9 member, delete its data dir",
            Self::KillDeleteWal => "kill -9 member, delete member/wal",
            Self::KillController => "kill -9 controller, start it again",
            Self::KillControllerMidReplacement => "controller killed mid-replacement",
            Self::BackupWhileMemberDown => "on-demand backup, member killed",
            Self::LoseQuorum => "kill -9 every member, delete the data of all but one",
        };
        f.write_str(text)
    }
}

/// One fault, fully drawn before it is injected.
#[derive(Clone, Debug)]
pub struct Fault {
    pub number: usize,
    pub kind: Kind,
    /// The victim member, `etcd-N`.
    pub pod: String,
    /// How long a stopped member stays stopped.
    pub stop_for: Duration,
    /// The step after which the controller is killed (mid-replacement only).
    pub step: &'static str,
    /// The pause after healing, before the next fault.
    pub pause: Duration,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.number, self.kind)?;
        match self.kind {
            Kind::KillController => {}
            Kind::StopMember => write!(f, " {} for {:?}", self.pod, self.stop_for)?,
            Kind::KillControllerMidReplacement => write!(f, " {} after {}", self.pod, self.step)?,
            Kind::LoseQuorum => write!(f, ", {} kept", self.pod)?,
            _ => write!(f, " {}", self.pod)?,
        }
        write!(f, ", pause {:?}", self.pause)
    }
}

/// Draws the next fault; always the same number of draws, so the sequence depends on
/// the seed alone.
pub fn draw(
    rng: &mut Rng,
    number: usize,
    members: usize,
    only: &[Kind],
    pause: (Duration, Duration),
) -> Fault {
    let kinds: Vec<(Kind, u64)> =
        KINDS.iter().copied().filter(|(k, _)| only.is_empty() || only.contains(k)).collect();
    let total: u64 = kinds.iter().map(|(_, w)| w).sum();
    let mut pick = rng.below(total);
    let mut kind = kinds[0].0;
    for (k, w) in &kinds {
        if pick < *w {
            kind = *k;
            break;
        }
        pick -= w;
    }
    let pod = format!("etcd-{}", rng.below(members as u64));
    let stop_for = rng.between(Duration::from_secs(1), Duration::from_secs(10));
    let step = REPLACEMENT_STEPS[rng.below(REPLACEMENT_STEPS.len() as u64) as usize];
    let pause = rng.between(pause.0, pause.1);
    Fault { number, kind, pod, stop_for, step, pause }
}

/// What injecting a fault did.
pub struct Injected {
    /// When the harm was done: the heal time counts from here.
    pub from: Instant,
    /// The on-demand backup's result, if one was asked for.
    pub backup: Option<Result<(), String>>,
    /// Something unexpected that is worth a line in the report, not a failure.
    pub note: Option<String>,
}

/// Sends a signal; an error (the process is gone already) is returned, not raised.
fn send(pid: u64, signal: Signal) -> rustix::io::Result<()> {
    let pid =
        i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).ok_or(rustix::io::Errno::SRCH)?;
    rustix::process::kill_process(pid, signal)
}

/// Injects `fault` into the cluster `name`, whose last status is `status`.
pub fn inject(h: &mut Harness, name: &str, status: &Value, fault: &Fault) -> Result<Injected, String> {
    let member = status["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["pod"] == fault.pod.as_str()))
        .ok_or_else(|| format!("{} not in the status", fault.pod))?;
    let pid = member["task"]["pid"].as_u64().ok_or_else(|| format!("{} has no pid", fault.pod))?;
    let data_dir = member["task"]["dataDir"].as_str().unwrap_or_default().to_owned();
    let kill = |pid| send(pid, Signal::KILL).map_err(|e| format!("kill -9 {pid}: {e}"));
    let mut injected = Injected { from: Instant::now(), backup: None, note: None };
    match fault.kind {
        Kind::KillMember => kill(pid)?,
        Kind::StopMember => {
            send(pid, Signal::STOP).map_err(|e| format!("SIGSTOP {pid}: {e}"))?;
            // The stop is the fault, its length drawn with it: a pause, not a wait.
            std::thread::sleep(fault.stop_for);
            if let Err(e) = send(pid, Signal::CONT) {
                injected.note = Some(format!("SIGCONT {pid}: {e} (replaced while stopped)"));
            }
            // Healing counts from the end of the stop.
            injected.from = Instant::now();
        }
        Kind::KillWipeData => {
            kill(pid)?;
            remove(Path::new(&data_dir))?;
        }
        Kind::KillDeleteWal => {
            // Stopped first, so the controller never sees it crashed on intact data.
            send(pid, Signal::STOP).map_err(|e| format!("SIGSTOP {pid}: {e}"))?;
            injected.from = Instant::now();
            let removed = remove(&Path::new(&data_dir).join("member").join("wal"));
            kill(pid)?;
            removed?;
        }
        Kind::KillController => {
            h.kill_daemon();
            h.start_daemon();
        }
        Kind::KillControllerMidReplacement => {
            h.kill_daemon();
            h.start_daemon_with(&[(etcd_warden::act::FAILPOINT_ENV, fault.step)]);
            injected.from = Instant::now();
            kill(pid)?;
            remove(Path::new(&data_dir))?;
            if !daemon_exited(h, Duration::from_secs(120)) {
                injected.note = Some(format!("the failpoint after {} never fired", fault.step));
                h.kill_daemon();
            }
            h.start_daemon();
        }
        Kind::LoseQuorum => {
            // Every member killed back to back, mid-write; the data of all but the
            // drawn one deleted: a restore from that survivor (its WAL tail included).
            let members: Vec<(u64, String, bool)> = status["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    let pid = m["task"]["pid"].as_u64()?;
                    let dir = m["task"]["dataDir"].as_str()?.to_owned();
                    Some((pid, dir, m["pod"] == fault.pod.as_str()))
                })
                .collect();
            for (pid, _, _) in &members {
                kill(*pid)?;
            }
            injected.from = Instant::now();
            for (_, dir, _) in members.iter().filter(|(_, _, kept)| !kept) {
                remove(Path::new(dir))?;
            }
        }
        Kind::BackupWhileMemberDown => {
            kill(pid)?;
            let out = h.cli(&["backup", name, "-o", "json"]);
            injected.backup = Some(if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            });
        }
    }
    Ok(injected)
}

/// Waits up to `timeout` for the daemon to exit on its own (a failpoint); reaps it.
fn daemon_exited(h: &mut Harness, timeout: Duration) -> bool {
    let pid = h.daemon_pid();
    let gone = support::wait_for_or_none(timeout, || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // A zombie (state Z) has exited; its parent (this process) reaps it below.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
        matches!(state, None | Some("Z")).then_some(())
    });
    if gone.is_some() {
        h.wait_daemon_exit(Duration::from_secs(5));
    }
    gone.is_some()
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("delete {}: {e}", path.display())),
    }
}
