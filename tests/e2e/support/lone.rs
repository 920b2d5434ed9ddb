//! One etcd process of a cluster of its own, outside any controller: a snapshot's
//! source, or a stranger on a member's port. Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A single-member etcd cluster started by the test.
pub struct LoneEtcd {
    child: Child,
    /// Its client URL.
    pub endpoint: String,
}

impl LoneEtcd {
    /// On free ports, its data and log under `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(dir, super::free_port(), super::free_port())
    }

    /// On `client` and `peer` (127.0.0.1), its data and log under `dir`; returns once it
    /// serves, or panics after 20 s with its log.
    pub fn start_on(dir: &Path, client: u16, peer: u16) -> Self {
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        std::fs::create_dir_all(dir).expect("create the lone etcd's directory");
        let log_path = dir.join("etcd.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let child = Command::new(super::etcd_binary())
            .arg("--name=lone")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=lone={peer_url}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let mut etcd = Self { child, endpoint };
        let serving = super::wait_for_or_none(Duration::from_secs(20), || {
            if etcd.child.try_wait().ok().flatten().is_some() {
                return Some(false);
            }
            super::try_revision(&etcd.endpoint).map(|_| true)
        });
        if serving != Some(true) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("the lone etcd on {} does not serve:\n{log}", etcd.endpoint);
        }
        etcd
    }
}

impl Drop for LoneEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
