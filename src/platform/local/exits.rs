//! Waiting for member processes to exit, whether or not they are our children.
//!
//! Members run in sessions of their own and outlive the controller, so a new
//! controller adopts processes it cannot `wait` for. A pidfd (`pidfd_open`, Linux 5.3)
//! names one process, whoever its parent, and polls readable once that process has
//! exited; tokio's reactor waits on it without a thread or a timer. Each pidfd is
//! closed when the wait is dropped. This module only waits: it signals nothing.

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::process::{Liveness, ProcessIdentity};

/// What can be waited on for one process.
enum Watch {
    /// The process is gone already (or its pid now names another process).
    Exited,
    /// A pidfd of the process, registered with the reactor.
    Waiting(AsyncFd<OwnedFd>),
    /// The kernel offers no pidfd (older than 5.3, or out of descriptors): only the
    /// resync will notice this process's exit.
    Unwatchable,
}

/// Resolves when any of `processes` exits, or at once when one is gone already. Never
/// resolves for an empty list, nor when no process can be watched.
pub async fn any_exit(processes: &[ProcessIdentity]) {
    let mut waits = Vec::new();
    for identity in processes {
        match watch(identity) {
            Watch::Exited => return,
            Watch::Waiting(fd) => waits.push(fd),
            Watch::Unwatchable => {}
        }
    }
    if waits.is_empty() {
        return std::future::pending().await;
    }
    let exits = waits.iter().map(|fd| {
        Box::pin(async move {
            // An error means the reactor is shutting down: nothing to report then.
            if fd.readable().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    });
    futures::future::select_all(exits).await;
}

/// Registers a pidfd with tokio's reactor, for readability only.
///
/// tokio 1.54 deprecated the safe constructors of `AsyncFd` for the unsafe
/// `register_with_interest`, because an `AsRawFd` type may hand out a descriptor it
/// does not own (tokio-rs/tokio#6984, #8587). `unsafe` is forbidden in this crate, and
/// the hole cannot open here: the `AsyncFd` owns the `OwnedFd`, which returns the same
/// open descriptor until the `AsyncFd` drops it.
#[allow(deprecated)]
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::with_interest(fd, Interest::READABLE)
}

fn watch(identity: &ProcessIdentity) -> Watch {
    let Some(pid) = i32::try_from(identity.pid).ok().and_then(Pid::from_raw) else {
        return Watch::Unwatchable;
    };
    match pidfd_open(pid, PidfdFlags::empty()) {
        // The pidfd names whatever process held the pid when it was opened: ours only
        // if the pid still shows our start time now, after the open (a pid never goes
        // back to an earlier process).
        Ok(_) if identity.liveness() == Liveness::Gone => Watch::Exited,
        Ok(fd) => match register(fd) {
            Ok(fd) => Watch::Waiting(fd),
            Err(error) => {
                tracing::debug!(pid = identity.pid, %error, "cannot register a pidfd");
                Watch::Unwatchable
            }
        },
        Err(Errno::SRCH) => Watch::Exited,
        Err(error) => {
            tracing::debug!(pid = identity.pid, %error, "no pidfd for a member process");
            Watch::Unwatchable
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use super::*;

    /// A `sleep` child, killed and reaped on drop.
    struct Sleeper(Child);

    impl Sleeper {
        fn start() -> Self {
            Self(Command::new("sleep").arg("60").spawn().expect("spawn sleep"))
        }

        fn identity(&self) -> ProcessIdentity {
            ProcessIdentity::of(self.0.id()).expect("stat")
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// The pidfds this process holds for `pid` (`/proc/self/fdinfo` names the pid).
    fn pidfds_of(pid: u32) -> usize {
        let entries = std::fs::read_dir("/proc/self/fdinfo").expect("fdinfo");
        let wanted = format!("Pid:\t{pid}\n");
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .fold(0, |n, info| if info.contains(&wanted) { n + 1 } else { n })
    }

    /// Whether `wait` is still pending after `period`.
    async fn pending_for(wait: &mut (impl Future<Output = ()> + Unpin), period: Duration) -> bool {
        tokio::time::timeout(period, wait).await.is_err()
    }

    #[tokio::test]
    async fn an_exit_is_noticed_at_once_and_the_pidfd_is_closed() {
        let mut child = Sleeper::start();
        let identity = child.identity();
        let watched = [identity];
        let mut wait = Box::pin(any_exit(&watched));
        assert!(pending_for(&mut wait, Duration::from_millis(200)).await, "a live process");
        assert_eq!(pidfds_of(identity.pid), 1, "one pidfd while waiting");
        child.0.kill().expect("kill");
        let killed = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), &mut wait).await.expect("the exit is noticed");
        println!("exit noticed {} ms after the kill", killed.elapsed().as_millis());
        drop(wait);
        assert_eq!(pidfds_of(identity.pid), 0, "closed when the wait ends");
    }

    #[tokio::test]
    async fn a_dropped_wait_closes_its_pidfds() {
        let children = [Sleeper::start(), Sleeper::start()];
        let watched = children.each_ref().map(Sleeper::identity);
        let mut wait = Box::pin(any_exit(&watched));
        assert!(pending_for(&mut wait, Duration::from_millis(100)).await);
        assert_eq!(watched.map(|p| pidfds_of(p.pid)), [1, 1]);
        drop(wait);
        assert_eq!(watched.map(|p| pidfds_of(p.pid)), [0, 0]);
    }

    #[tokio::test]
    async fn a_pid_with_another_start_time_counts_as_exited() {
        let child = Sleeper::start();
        let recycled = ProcessIdentity { start_ticks: child.identity().start_ticks + 1, ..child.identity() };
        tokio::time::timeout(Duration::from_secs(5), any_exit(&[recycled])).await.expect("at once");
        assert_eq!(pidfds_of(recycled.pid), 0);
    }

    #[tokio::test]
    async fn nothing_to_watch_never_resolves() {
        let mut wait = Box::pin(any_exit(&[]));
        assert!(pending_for(&mut wait, Duration::from_millis(100)).await);
    }
}
