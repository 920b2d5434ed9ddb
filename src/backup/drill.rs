//! Restore drills: the newest verified backup restored into a scratch single-member
//! etcd beside the controller, checked against its catalog record, then thrown away.
//!
//! A drill fetches and verifies the backup (as a restore does), restores it with
//! `etcdctl snapshot restore` (as a restore does) into a scratch directory under the
//! cluster's `tmp/`, serves it alone on loopback ports ([`super::scratch`]), checks its
//! revision and key count against the record, reads a sample of keys, stops it and
//! deletes the directory. It never reads or touches the live cluster: no platform, no
//! member, no etcd of the cluster is involved. Recording the result (store, events,
//! metrics) is the caller's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::data_dirs::{RestoreMember, restore_data_dirs};
use super::destination::BackupStore;
use super::restore::{FetchError, fetch_verified};
use super::scratch::{ScratchEtcd, ScratchPorts};
use super::snapshot::SnapshotError;
use super::tool::SnapshotTool;
use crate::clock::Clock;
use crate::domain::{BackupId, PodName};
use crate::etcd::EtcdAdmin;
use crate::manifest::{BackupPolicy, DesiredCluster};
use crate::model::catalog::{BackupRecord, newest_verified};
use crate::model::drill::{DrillFailure, DrillReport, DrillResult, DrillTrigger};
use crate::store::atomic::ensure_private_dir;
use crate::store::{Store, StoreError};

/// How many keys, spread over the keyspace, a drill reads back.
pub const SAMPLE_KEYS: u64 = 100;
/// How long the scratch etcd may take to serve.
const SERVE_DEADLINE: Duration = Duration::from_secs(60);
/// Free space a drill wants per byte of backup: the fetched file, the restored
/// database, and as much again for headroom.
const SPACE_FACTOR: u64 = 3;
/// Free space a drill wants beside that: etcd preallocates a 64 MiB WAL segment, once
/// for the restore and once more when it starts.
const WAL_ALLOWANCE: u64 = 128 << 20;

/// Why a drill did not run.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The cluster has no backup section.
    #[error("cluster {0} has no spec.backup: there is no backup to drill")]
    NotConfigured(String),
    /// The catalog holds no verified backup.
    #[error("cluster {0} has no verified backup to drill; take one with `etcd-warden backup {0}`")]
    NoBackup(String),
    /// Another drill runs in this daemon.
    #[error("a drill is already running in this daemon (one at a time); try again when it ends")]
    AlreadyRunning,
    /// Not enough free disk space for the scratch directory.
    #[error(
        "not enough free disk space to drill backup {id} ({size} bytes): the scratch directory {} needs {needed} bytes (the backup's size x{SPACE_FACTOR} + {WAL_ALLOWANCE} for WAL segments), {free} are free",
        dir.display()
    )]
    NoSpace {
        /// The backup.
        id: BackupId,
        /// Its size.
        size: u64,
        /// Where the scratch directory would be.
        dir: PathBuf,
        /// What the drill wants.
        needed: u64,
        /// What is free.
        free: u64,
    },
    /// The scratch directory could not be made or measured.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The catalog could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The free space a drill of a backup of `size` bytes wants.
pub fn space_needed(size: u64) -> u64 {
    size.saturating_mul(SPACE_FACTOR).saturating_add(WAL_ALLOWANCE)
}

/// Refuses a drill of `record` when `free` bytes in `dir` are fewer than it wants.
///
/// # Errors
/// `NoSpace`, saying how much is wanted and how much is free.
pub fn check_space(record: &BackupRecord, dir: &Path, free: u64) -> Result<(), DrillError> {
    let needed = space_needed(record.size_bytes);
    if free >= needed {
        return Ok(());
    }
    let (id, size, dir) = (record.id.clone(), record.size_bytes, dir.to_path_buf());
    Err(DrillError::NoSpace { id, size, dir, needed, free })
}

/// The bytes an unprivileged process may still write in `dir`'s file system.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// What a drill found on the way, kept for its report whatever came of it.
#[derive(Debug, Default)]
struct Facts {
    revision: Option<i64>,
    keys: Option<u64>,
    sampled_keys: Option<u64>,
    peak_rss: Option<u64>,
}

type Failed = (DrillFailure, String);

/// Drills the newest verified backup of `desired`'s cluster. The caller makes sure one
/// drill runs at a time.
///
/// # Guarantees
/// The scratch directory is deleted and the scratch etcd killed whatever the outcome;
/// the live cluster is never contacted.
///
/// # Errors
/// When the drill cannot run (no backup policy, no verified backup, not enough free
/// disk space, no scratch directory); a drill that ran and failed is a report with
/// `result: failed`, not an error.
pub async fn run_drill(
    store: &Store,
    desired: &DesiredCluster,
    trigger: DrillTrigger,
    clock: Clock,
) -> Result<DrillReport, DrillError> {
    let name = &desired.name;
    let policy = desired.backup.as_ref().ok_or_else(|| DrillError::NotConfigured(name.to_string()))?;
    let records = store.backups(name)?;
    let record = newest_verified(&records).cloned().ok_or_else(|| DrillError::NoBackup(name.to_string()))?;
    let tmp = store.cluster_dir(name).join("tmp");
    let io = |what: String| move |source| DrillError::Io { what, source };
    ensure_private_dir(&tmp).map_err(io(format!("create {}", tmp.display())))?;
    let free = free_bytes(&tmp).map_err(io(format!("measure the free space of {}", tmp.display())))?;
    check_space(&record, &tmp, free)?;
    let started_at = clock.now();
    let started = tokio::time::Instant::now();
    let scratch = tmp.join(format!("drill-{}", started_at.as_millisecond()));
    ensure_private_dir(&scratch).map_err(io(format!("create {}", scratch.display())))?;
    tracing::info!(backup = %record.id, dir = %scratch.display(), "restore drill started");
    let mut facts = Facts::default();
    let token = format!("{}-drill-{}", desired.name, started_at.as_millisecond());
    let outcome = drill_in(&scratch, policy, desired, &record, &token, &mut facts).await;
    if let Err(error) = tokio::fs::remove_dir_all(&scratch).await {
        tracing::warn!(dir = %scratch.display(), %error, "cannot delete a drill's scratch directory");
    }
    let (result, failure, message) = match outcome {
        Ok(message) => (DrillResult::Passed, None, message),
        Err((failure, message)) => (DrillResult::Failed, Some(failure), message),
    };
    Ok(DrillReport {
        started_at,
        finished_at: clock.now(),
        duration_seconds: started.elapsed().as_secs_f64(),
        trigger,
        backup_id: record.id.clone(),
        backup_size_bytes: record.size_bytes,
        result,
        failure,
        message,
        expected_revision: record.revision,
        expected_keys: record.keys,
        revision: facts.revision,
        keys: facts.keys,
        sampled_keys: facts.sampled_keys,
        scratch_peak_rss_bytes: facts.peak_rss,
    })
}

/// Fetches, verifies, restores and serves the backup in `scratch`, and checks it.
async fn drill_in(
    scratch: &Path,
    policy: &BackupPolicy,
    desired: &DesiredCluster,
    record: &BackupRecord,
    token: &str,
    facts: &mut Facts,
) -> Result<String, Failed> {
    let file = scratch.join("backup.db");
    let fetch_failed = |e: String| (DrillFailure::FetchFailed, e);
    let destination = BackupStore::open(&policy.destination, &desired.name)
        .await
        .map_err(|e| fetch_failed(format!("cannot open the destination: {e}")))?;
    match fetch_verified(&destination, record, &file).await {
        Ok(()) => {}
        Err(FetchError::Verify(SnapshotError::HashMismatch { .. })) => {
            return Err((
                DrillFailure::HashMismatch,
                format!(
                    "the stored file {} at {} does not match its catalog record (sha256 {}) or etcd's trailing hash: the backup is corrupt",
                    record.object(),
                    destination.location(),
                    record.sha256
                ),
            ));
        }
        Err(e) => {
            return Err(fetch_failed(format!("{} at {}: {e}", record.object(), destination.location())));
        }
    }
    let ports = ScratchPorts::pick().map_err(|e| (DrillFailure::EtcdDidNotStart, e.to_string()))?;
    let data = scratch.join("data");
    let pod = PodName::new(0).ok_or_else(|| (DrillFailure::RestoreFailed, "no member name".to_owned()))?;
    let member = RestoreMember { pod, peer_url: ports.peer_url(), data_dir: data.clone() };
    let tool = SnapshotTool::for_cluster(desired).await;
    restore_data_dirs(&tool, &file, &[member], token)
        .await
        .map_err(|e| (DrillFailure::RestoreFailed, e.to_string()))?;
    // The fetched file is not needed any more: half the space back while etcd runs.
    let _ = tokio::fs::remove_file(&file).await;
    let log = scratch.join("etcd.log");
    let etcd = ScratchEtcd::start(&desired.platform.controller_etcd(), &data, &log, ports, SERVE_DEADLINE)
        .await
        .map_err(|e| (DrillFailure::EtcdDidNotStart, e.to_string()))?;
    let checked = check(etcd.client_url(), record, facts).await;
    facts.peak_rss = etcd.peak_rss_bytes();
    etcd.stop().await;
    checked
}

/// Checks the served revision and key count against the record and reads a sample.
async fn check(url: &str, record: &BackupRecord, facts: &mut Facts) -> Result<String, Failed> {
    let admin = EtcdAdmin::new();
    let unreadable = |e: crate::etcd::EtcdError| (DrillFailure::KeysUnreadable, e.to_string());
    let status = admin.status(url).await.map_err(unreadable)?;
    facts.revision = Some(status.revision);
    if status.revision != record.revision {
        return Err((
            DrillFailure::RevisionMismatch,
            format!("it serves revision {}; its catalog record says {}", status.revision, record.revision),
        ));
    }
    let keys = admin.count_keys(url, record.revision).await.map_err(unreadable)?;
    facts.keys = Some(keys);
    if keys != record.keys {
        return Err((
            DrillFailure::KeyCountMismatch,
            format!(
                "it holds {keys} keys at revision {}; its catalog record says {}",
                record.revision, record.keys
            ),
        ));
    }
    let sample = admin.sample_keys(url, keys, SAMPLE_KEYS).await.map_err(unreadable)?;
    facts.sampled_keys = Some(sample.read);
    let wanted = keys.min(SAMPLE_KEYS);
    if !sample.missing.is_empty() || sample.read != wanted {
        return Err((
            DrillFailure::KeysUnreadable,
            format!(
                "{} of {wanted} sampled keys were read back; listed but not found: {}",
                sample.read,
                sample.missing.join(", ")
            ),
        ));
    }
    Ok(format!(
        "it served revision {} and {keys} keys, as its catalog record says; {} keys spread over the keyspace were read back",
        status.revision, sample.read
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(size_bytes: u64) -> BackupRecord {
        let at: jiff::Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        BackupRecord {
            id: BackupId::new(at, 42),
            cluster: "kubernetes".parse().expect("name"),
            taken_at: at,
            source: PodName::new(0).expect("pod"),
            revision: 42,
            keys: 7,
            size_bytes,
            sha256: "00".repeat(32),
            verified: true,
            duration_seconds: 0.1,
            location: "file:///b".to_owned(),
            cluster_id: None,
        }
    }

    #[test]
    fn a_drill_wants_three_times_the_backup_and_room_for_wal_segments() {
        let mib = 1u64 << 20;
        assert_eq!(space_needed(100 * mib), 300 * mib + WAL_ALLOWANCE);
        assert_eq!(space_needed(u64::MAX), u64::MAX, "no overflow");
        let dir = Path::new("/state/clusters/k/tmp");
        assert!(check_space(&record(100 * mib), dir, 500 * mib).is_ok());
        let refused = check_space(&record(100 * mib), dir, 300 * mib).expect_err("too little");
        let text = refused.to_string();
        assert!(text.starts_with("not enough free disk space to drill backup"), "{text}");
        assert!(text.contains(&format!("needs {} bytes", space_needed(100 * mib))), "{text}");
        assert!(
            text.contains(&format!("{} are free", 300 * mib)) && text.contains("/state/clusters/k/tmp"),
            "{text}"
        );
    }
}
