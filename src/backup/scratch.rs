//! A scratch etcd: a data directory started alone on loopback, on free ports, with
//! `--force-new-cluster`, for as long as the caller reads it; then killed.
//!
//! Used to read a stopped survivor's data (a copy of it) and to drill a backup (a data
//! directory restored from it). A scratch etcd never joins a live cluster: it forgets
//! every other member (`--force-new-cluster`), listens on loopback only, and is killed
//! on drop if the caller does not stop it. This module never deletes anything; the
//! caller owns the directories.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::etcd::EtcdAdmin;

/// How many of the scratch etcd's last log lines a failure quotes.
const LOG_LINES: usize = 5;

/// Why a scratch etcd could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// No free port, or the log file could not be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The etcd binary could not be started.
    #[error("cannot start a scratch etcd ({binary}): {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// It exited, or did not serve in time.
    #[error("the scratch etcd {what}{}", last_lines(.log))]
    NotServing {
        /// `exited (exit status: 1)` or `did not serve within 60s`.
        what: String,
        /// Its last log lines.
        log: Vec<String>,
    },
}

fn last_lines(log: &[String]) -> String {
    if log.is_empty() {
        "; it logged nothing".to_owned()
    } else {
        format!("; its last log lines: {}", log.join(" | "))
    }
}

/// The peer URLs of `peers` where something answers now (a TCP connection within half
/// a second). A copy started with `--force-new-cluster` forgets the other members only
/// once it runs: until then it may dial the peers its data lists, as the member whose
/// data it is. So a copy is started only when none of them answers.
pub async fn peers_answering(peers: &[String]) -> Vec<String> {
    let asks = peers.iter().map(|url| async move {
        let parsed = reqwest::Url::parse(url).ok()?;
        let host = parsed.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = parsed.port_or_known_default()?;
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        let answered =
            tokio::time::timeout(Duration::from_millis(500), connect).await.is_ok_and(|c| c.is_ok());
        answered.then(|| url.clone())
    });
    futures::future::join_all(asks).await.into_iter().flatten().collect()
}

/// Two free loopback ports for a scratch etcd, chosen by the kernel (`bind(0)`); the
/// scratch etcd lives for seconds, so the ephemeral range is fine here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScratchPorts {
    /// The client port.
    pub client: u16,
    /// The peer port.
    pub peer: u16,
}

impl ScratchPorts {
    /// Picks two free ports.
    ///
    /// # Errors
    /// When loopback cannot be bound.
    pub fn pick() -> Result<Self, ScratchError> {
        let port = || {
            std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|source| ScratchError::Io { what: "find a free loopback port".into(), source })
        };
        let client = port()?;
        let mut peer = port()?;
        // Both listeners are closed by now: the kernel may hand out the same port twice.
        for _ in 0..10 {
            if peer != client {
                break;
            }
            peer = port()?;
        }
        Ok(Self { client, peer })
    }

    /// The client URL.
    pub fn client_url(self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// The peer URL.
    pub fn peer_url(self) -> String {
        format!("http://127.0.0.1:{}", self.peer)
    }
}

/// A running scratch etcd; killed on drop.
#[derive(Debug)]
pub struct ScratchEtcd {
    child: tokio::process::Child,
    client_url: String,
}

impl ScratchEtcd {
    /// Starts `binary` on `data_dir` alone (`--force-new-cluster`) on `ports`, its
    /// output in `log`, and waits up to `deadline` until it serves (has a leader).
    ///
    /// # Errors
    /// `Spawn` when the binary cannot be run; `NotServing` with its last log lines when
    /// it exits or does not serve in time (it is killed then).
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        log: &Path,
        ports: ScratchPorts,
        deadline: Duration,
    ) -> Result<Self, ScratchError> {
        let io = |what: String| move |source| ScratchError::Io { what, source };
        let output = std::fs::File::create(log).map_err(io(format!("create {}", log.display())))?;
        let errors = output.try_clone().map_err(io(format!("open {}", log.display())))?;
        let client_url = ports.client_url();
        let peer_url = ports.peer_url();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg("--force-new-cluster")
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ScratchError::Spawn { binary: binary.to_path_buf(), source })?;
        let mut scratch = Self { child, client_url };
        let admin = EtcdAdmin::new();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if admin.status(&scratch.client_url).await.is_ok_and(|s| s.is_healthy()) {
                return Ok(scratch);
            }
            let what = match scratch.child.try_wait() {
                Ok(Some(status)) => Some(format!("exited ({status})")),
                _ if tokio::time::Instant::now() >= until => {
                    Some(format!("did not serve within {deadline:?}"))
                }
                _ => None,
            };
            if let Some(what) = what {
                scratch.stop().await;
                return Err(ScratchError::NotServing { what, log: log_tail(log).await });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its client URL.
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// Its peak resident memory so far (`VmHWM`), where the system tells it.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
        kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|k| k * 1024)
    }

    /// Kills it and waits until it is gone.
    pub async fn stop(mut self) {
        self.kill().await;
    }

    async fn kill(&mut self) {
        if let Err(error) = self.child.kill().await {
            tracing::warn!(%error, "cannot kill a scratch etcd");
        }
    }
}

/// The last lines of a scratch etcd's log, readable (etcd's JSON lines shortened).
async fn log_tail(log: &Path) -> Vec<String> {
    let text = match crate::platform::local::read_tail(log).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => return Vec::new(),
    };
    let lines: Vec<&str> = text.lines().collect();
    crate::event::readable_log_tail(&lines, LOG_LINES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_peer_url_where_something_listens_answers_and_a_closed_one_does_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let open = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let closed = {
            let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://localhost:{}", gone.local_addr().expect("addr").port())
        };
        let peers = [open.clone(), closed, "not a url".to_owned()];
        assert_eq!(peers_answering(&peers).await, [open]);
    }

    #[tokio::test]
    async fn an_etcd_that_exits_at_once_is_reported_with_its_last_log_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = ScratchPorts::pick().expect("ports");
        assert_ne!(ports.client, ports.peer);
        let log = dir.path().join("etcd.log");
        let data = dir.path().join("data");
        // A shell refuses etcd's flags and says so on stderr: a member that exits at once.
        let error = ScratchEtcd::start(Path::new("/bin/sh"), &data, &log, ports, Duration::from_secs(20))
            .await
            .expect_err("it exits");
        let ScratchError::NotServing { what, log: lines } = &error else { panic!("{error}") };
        assert!(what.starts_with("exited"), "{error}");
        assert!(!lines.is_empty(), "its output is quoted: {error}");
        assert!(error.to_string().contains("its last log lines: "), "{error}");
        let missing = dir.path().join("none");
        let error = ScratchEtcd::start(&missing, &data, &log, ports, Duration::from_secs(1))
            .await
            .expect_err("no binary");
        assert!(matches!(error, ScratchError::Spawn { .. }), "{error}");
    }
}
