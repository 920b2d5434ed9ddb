//! The test's view of the fake's etcd members: `etcdctl` over TLS, keys written and
//! read back, the member list, the wait for every member to be healthy, and the
//! members' logs in a failed test's output.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use super::pods::{self, Member};
use super::world::lock;
use super::{FakeDcos, TlsFiles};

impl FakeDcos {
    /// `etcdctl` over TLS against every running member.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let (tls, endpoints) = self.live();
        pods::etcdctl(&tls, &endpoints, args)
    }

    fn live(&self) -> (TlsFiles, Vec<String>) {
        let w = lock(&self.shared.world);
        (w.tls.clone(), w.live_endpoints())
    }

    /// The member list, or why not.
    pub fn try_member_list(&self) -> Result<Vec<Member>, String> {
        let (tls, endpoints) = self.live();
        pods::member_list(&tls, &endpoints)
    }

    /// Writes `count` keys `prefix/NNNN` = `value-NNNN` over TLS, 100 to a transaction.
    pub fn put_keys(&self, prefix: &str, count: usize) {
        let (tls, endpoints) = self.live();
        // etcd allows 128 operations in one transaction.
        for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
            let puts: String = chunk.iter().map(|i| format!("put {prefix}/{i:04} value-{i:04}\n")).collect();
            let out = pods::etcdctl_with_input(&tls, &endpoints, &["txn"], &format!("\n{puts}\n\n"));
            assert!(out.status.success(), "etcdctl txn: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// The keys and values under `prefix/` as `endpoint` alone has them (a
    /// serializable read: that member's own data), or why not.
    pub fn keys_on(&self, endpoint: &str, prefix: &str) -> Result<Vec<(String, String)>, String> {
        let tls = self.tls_files();
        let args = ["get", "--prefix", "--consistency=s", &format!("{prefix}/")];
        let out = pods::etcdctl(&tls, &[endpoint.to_owned()], &args);
        if !out.status.success() {
            return Err(format!(
                "etcdctl get on {endpoint}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        Ok(lines
            .chunks(2)
            .map(|kv| (kv[0].to_owned(), kv.get(1).copied().unwrap_or_default().to_owned()))
            .collect())
    }

    /// Waits until `endpoint` alone holds exactly the `count` keys [`FakeDcos::put_keys`]
    /// wrote under `prefix/` (a new member may still be catching up).
    pub fn assert_keys_on(&self, endpoint: &str, prefix: &str, count: usize) {
        let expected: Vec<(String, String)> =
            (0..count).map(|i| (format!("{prefix}/{i:04}"), format!("value-{i:04}"))).collect();
        let mut last = Err(String::new());
        let found = super::super::wait_for_or_none(Duration::from_secs(20), || {
            last = self.keys_on(endpoint, prefix);
            last.as_ref().ok().filter(|kvs| **kvs == expected).map(|_| ())
        });
        assert!(found.is_some(), "{count} keys under {prefix}/ on {endpoint}; last read: {last:?}");
    }

    /// Waits until every pod's peer is `RUNNING` and healthy over TLS.
    pub fn wait_healthy(&self, timeout: Duration) {
        super::super::wait_for("every etcd pod RUNNING and healthy", timeout, || {
            let (tls, endpoints) = {
                let w = lock(&self.shared.world);
                let running = w.pods.iter().all(|p| p.peer.status == Some("RUNNING") && p.process.is_some());
                (w.tls.clone(), running.then(|| w.live_endpoints()))
            };
            endpoints.filter(|eps| eps.iter().all(|e| pods::healthy(&tls, e)))
        });
    }

    /// The end of every etcd log and the plans, for a failed test's output.
    pub(super) fn print_logs(&self) {
        let logs = std::fs::read_dir(self.dir.path().join("logs")).into_iter().flatten().flatten();
        let mut logs: Vec<PathBuf> = logs.map(|e| e.path()).collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            eprintln!("--- {} (last lines)", log.display());
            tail.iter().rev().for_each(|l| eprintln!("{l}"));
        }
        let w = lock(&self.shared.world);
        eprintln!("--- deploy: {:?}\n--- recovery: {:?}", w.deploy, w.recovery);
        for pod in &w.pods {
            eprintln!(
                "--- {}: peer {:?}, recover {:?}, agent {}",
                pod.name(),
                pod.peer,
                pod.recover,
                pod.agent
            );
        }
    }
}
