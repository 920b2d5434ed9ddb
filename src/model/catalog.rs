//! The backup catalog: one record per backup, kept next to each snapshot at the
//! destination (`<id>.json` beside `<id>.db`) and cached in the state directory, and
//! the retention rule (pure).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{BackupId, ClusterName, PodName};
use crate::manifest::desired::Retention;

/// One backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// The backup's identity.
    pub id: BackupId,
    /// The cluster it belongs to.
    pub cluster: ClusterName,
    /// When the snapshot was taken.
    pub taken_at: Timestamp,
    /// The member it was taken from.
    pub source: PodName,
    /// The store revision inside the snapshot (read from the file).
    pub revision: i64,
    /// The number of keys at that revision.
    pub keys: u64,
    /// The snapshot's size.
    pub size_bytes: u64,
    /// SHA-256 of the snapshot file, hex.
    pub sha256: String,
    /// Whether etcd's trailing hash checked out when it was taken.
    pub verified: bool,
    /// How long taking and storing it took, in seconds.
    pub duration_seconds: f64,
    /// Where it is stored.
    pub location: String,
    /// The etcd cluster ID of the member it was taken from: its lineage
    /// (`model::lineage`). `None` in records written before lineages were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<u64>,
}

impl BackupRecord {
    /// The snapshot object's name at the destination.
    pub fn object(&self) -> String {
        format!("{}.db", self.id)
    }

    /// The metadata object's name at the destination.
    pub fn metadata_object(&self) -> String {
        format!("{}.json", self.id)
    }

    /// How old the backup is at `now`.
    pub fn age(&self, now: Timestamp) -> Duration {
        Duration::try_from(now.duration_since(self.taken_at)).unwrap_or(Duration::ZERO)
    }
}

/// The newest verified backup, if any.
pub fn newest_verified(records: &[BackupRecord]) -> Option<&BackupRecord> {
    records.iter().filter(|r| r.verified).max_by_key(|r| (r.taken_at, r.id.clone()))
}

/// The verified backup with the highest revision (then the latest time) that is not
/// dated after `now`: the newest data a restore can take from the catalog. A backup
/// dated in the future comes from a clock that cannot be trusted.
pub fn newest_restorable(records: &[BackupRecord], now: Timestamp) -> Option<&BackupRecord> {
    records
        .iter()
        .filter(|r| r.verified && r.taken_at <= now)
        .max_by_key(|r| (r.revision, r.taken_at, r.id.clone()))
}

/// The newest verified backup no older than `fresh_for` at `now`. A backup dated in the
/// future is never fresh.
pub fn fresh(records: &[BackupRecord], fresh_for: Duration, now: Timestamp) -> Option<&BackupRecord> {
    records
        .iter()
        .filter(|r| r.verified && r.taken_at <= now && r.age(now) <= fresh_for)
        .max_by_key(|r| (r.revision, r.taken_at, r.id.clone()))
}

/// The backups retention deletes: beyond `keepLast` (newest first) or older than
/// `maxAge`. The newest verified backup is never among them.
pub fn to_prune<'a>(
    records: &'a [BackupRecord],
    retention: &Retention,
    now: Timestamp,
) -> Vec<&'a BackupRecord> {
    let keep = newest_verified(records).map(|r| r.id.clone());
    let mut newest_first: Vec<&BackupRecord> = records.iter().collect();
    newest_first.sort_by(|a, b| (b.taken_at, &b.id).cmp(&(a.taken_at, &a.id)));
    newest_first
        .into_iter()
        .enumerate()
        .filter(|(i, r)| {
            let beyond_count = retention.keep_last.is_some_and(|n| *i >= n as usize);
            let too_old = retention.max_age.is_some_and(|age| r.age(now) > age);
            (beyond_count || too_old) && Some(&r.id) != keep.as_ref()
        })
        .map(|(_, r)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(minutes_ago: i64, verified: bool, now: Timestamp) -> BackupRecord {
        let taken_at = now - jiff::SignedDuration::from_mins(minutes_ago);
        BackupRecord {
            id: BackupId::new(taken_at, 100 - minutes_ago),
            cluster: "kubernetes".parse().expect("name"),
            taken_at,
            source: PodName::new(0).expect("pod"),
            revision: 100 - minutes_ago,
            keys: 10,
            size_bytes: 1,
            sha256: "00".into(),
            verified,
            duration_seconds: 0.1,
            location: "/b/".into(),
            cluster_id: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_n_and_drops_the_too_old() {
        let now = Timestamp::from_second(1_800_000_000).expect("now");
        let records: Vec<_> = [0, 10, 20, 30, 40].iter().map(|m| record(*m, true, now)).collect();
        let by_count = Retention { keep_last: Some(2), max_age: None };
        let pruned: Vec<i64> = to_prune(&records, &by_count, now).iter().map(|r| r.revision).collect();
        assert_eq!(pruned, [80, 70, 60]);
        let by_age = Retention { keep_last: None, max_age: Some(Duration::from_secs(25 * 60)) };
        let pruned: Vec<i64> = to_prune(&records, &by_age, now).iter().map(|r| r.revision).collect();
        assert_eq!(pruned, [70, 60]);
    }

    #[test]
    fn retention_never_deletes_the_newest_verified_backup() {
        let now = Timestamp::from_second(1_800_000_000).expect("now");
        // The two newest failed verification; the newest verified one is old.
        let records = vec![record(0, false, now), record(5, false, now), record(600, true, now)];
        let strict = Retention { keep_last: Some(1), max_age: Some(Duration::from_secs(60)) };
        let pruned: Vec<i64> = to_prune(&records, &strict, now).iter().map(|r| r.revision).collect();
        assert!(!pruned.contains(&-500), "the newest verified backup was pruned: {pruned:?}");
        assert_eq!(newest_verified(&records).map(|r| r.revision), Some(-500));
        assert!(fresh(&records, Duration::from_secs(900), now).is_none(), "10 hours old is not fresh");
    }

    #[test]
    fn a_backup_dated_in_the_future_is_neither_fresh_nor_restorable() {
        let now = Timestamp::from_second(1_800_000_000).expect("now");
        let future = record(-30, true, now);
        let past = record(10, true, now);
        let records = vec![past.clone(), future];
        assert_eq!(fresh(&records, Duration::from_secs(3600), now).map(|r| r.revision), Some(past.revision));
        assert_eq!(newest_restorable(&records, now).map(|r| r.revision), Some(past.revision));
    }

    #[test]
    fn the_newest_restorable_backup_is_the_highest_revision_then_the_latest() {
        let now = Timestamp::from_second(1_800_000_000).expect("now");
        let mut high_but_older = record(20, true, now);
        high_but_older.revision = 500;
        let low_but_newer = record(5, true, now);
        let records = vec![low_but_newer, high_but_older.clone()];
        assert_eq!(newest_restorable(&records, now).map(|r| &r.id), Some(&high_but_older.id));
    }
}
