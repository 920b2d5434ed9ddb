//! Processes of the local platform: spawn detached, inspect through `/proc`, signal.
//!
//! A process is identified by its pid *and* its start time, so a recycled pid is never
//! mistaken for a member.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process};
use serde::{Deserialize, Serialize};

/// A process we started: its pid and the kernel's start time of that pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessIdentity {
    /// The process ID.
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: clock ticks since boot at process start.
    pub start_ticks: u64,
}

/// What `/proc` says about a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running or sleeping.
    Alive,
    /// Stopped by a signal (state `T`).
    Stopped,
    /// Gone, a zombie, or the pid now belongs to another process.
    Gone,
}

/// Reads the state letter and start time of a pid, if it exists.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: parse after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall is index 19 after the state (field 3).
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl ProcessIdentity {
    /// The identity of a live pid, read right after it was spawned.
    pub fn of(pid: u32) -> Option<Self> {
        stat(pid).map(|(_, start_ticks)| Self { pid, start_ticks })
    }

    /// Whether this exact process still lives.
    pub fn liveness(&self) -> Liveness {
        match stat(self.pid) {
            Some((_, start)) if start != self.start_ticks => Liveness::Gone,
            Some(('Z' | 'X', _)) | None => Liveness::Gone,
            Some(('T' | 't', _)) => Liveness::Stopped,
            Some(_) => Liveness::Alive,
        }
    }

    /// Sends `signal` if this exact process still lives. A process that is already gone
    /// is not an error.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        if self.liveness() == Liveness::Gone {
            return Ok(());
        }
        // A pid that no process can have (0, or beyond `pid_t`) is none of ours.
        let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) else { return Ok(()) };
        match kill_process(pid, signal) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(errno) => Err(std::io::Error::from(errno)),
        }
    }
}

/// The live process whose command line holds `arg` exactly, if one does: how a member
/// launched by a controller that died before recording its pid is found and adopted.
pub fn find_by_arg(arg: &str) -> Option<ProcessIdentity> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        })
        .filter_map(ProcessIdentity::of)
        .find(|identity| identity.liveness() != Liveness::Gone)
}

/// The value of `--<flag>=VALUE` on the command line of process `pid`, if it runs and
/// has the flag; `Err` when its command line cannot be read.
pub fn flag_value(pid: u32, flag: &str) -> std::io::Result<Option<String>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    let prefix = format!("--{flag}=");
    Ok(cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_owned)))
}

/// Removes the daemon's own `ETCD_WARDEN_*` variables (the API token among them) from
/// `command`'s environment: etcd logs every `ETCD_*` variable it does not know, value
/// included, and a member's environment outlives the daemon.
pub fn without_warden_env(command: &mut std::process::Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD_WARDEN_") {
            command.env_remove(name);
        }
    }
}

/// Spawns `binary args...` in its own session (through util-linux `setsid`, which execs
/// in place so the pid is the member's), stdin closed, output appended to `log`.
/// The child is reaped in the background; the member outlives the controller.
pub fn spawn_detached(binary: &str, args: &[String], log: &Path) -> std::io::Result<ProcessIdentity> {
    let out = File::options().create(true).append(true).mode(0o600).open(log)?;
    let err = out.try_clone()?;
    let setsid = Path::new("/usr/bin/setsid");
    let mut command = if setsid.exists() {
        let mut c = tokio::process::Command::new(setsid);
        c.arg(binary);
        c
    } else {
        let mut c = tokio::process::Command::new(binary);
        c.process_group(0);
        c
    };
    without_warden_env(command.as_std_mut());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(false);
    let mut child = command.spawn()?;
    let pid =
        child.id().ok_or_else(|| std::io::Error::other("the process exited before its pid was read"))?;
    let identity = ProcessIdentity::of(pid)
        .ok_or_else(|| std::io::Error::other(format!("process {pid} vanished right after start")))?;
    tokio::spawn(async move {
        match child.wait().await {
            Ok(status) => tracing::info!(pid, %status, "member process exited"),
            Err(error) => tracing::warn!(pid, %error, "cannot reap member process"),
        }
    });
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessIdentity::of(std::process::id()).expect("own stat");
        assert_eq!(me.liveness(), Liveness::Alive);
        let impostor = ProcessIdentity { start_ticks: me.start_ticks + 1, ..me };
        assert_eq!(impostor.liveness(), Liveness::Gone);
    }

    #[test]
    fn a_process_is_found_by_an_argument_of_its_command_line() {
        let mut child = std::process::Command::new("sleep").arg("30.123456").spawn().expect("spawn sleep");
        // The child shows its own command line once it has exec'd: poll, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let found = loop {
            match find_by_arg("30.123456") {
                Some(found) => break Some(found),
                None if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                None => break None,
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.map(|p| p.pid), Some(child.id()));
        assert!(find_by_arg("--data-dir=/no/such/dir/anywhere").is_none());
    }
}
