//! Which etcd clusters the data descends from: how backups of another cluster (a purged
//! one whose destination was reused, or the history a rollback undid) are told apart
//! from this cluster's own.
//!
//! etcd names every cluster by an ID (in each response header) that a new cluster, and
//! every restore (a new cluster from a snapshot), changes. The lineage is the chain of
//! those IDs, newest last: the cluster serving now, and before each restore the
//! cluster restored from, *up to the revision restored*. A backup belongs to the
//! lineage when it was taken of one of those clusters at or below that revision: it
//! holds nothing the restore undid. Restore sources are compared only within it; a
//! backup of another lineage is never taken automatically, and retention never
//! deletes one.

use serde::{Deserialize, Serialize};

use super::catalog::BackupRecord;

/// One cluster of the lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// The etcd cluster ID; `None` for a cluster just restored and not seen yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<u64>,
    /// The highest revision of it the data descends from: the revision a restore took
    /// from it. `None` for the cluster serving now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<i64>,
}

/// The clusters the data descends from, oldest first; empty while none was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lineage(Vec<Segment>);

impl Lineage {
    /// Whether nothing is known yet (no cluster ID seen): every record counts then, as
    /// before lineages were recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ID of the cluster serving now, when seen.
    pub fn current(&self) -> Option<u64> {
        self.0.last().and_then(|s| s.cluster_id)
    }

    /// A quorum answered with `cluster_id`. A cluster just restored is named by it; a
    /// cluster that appears otherwise (not by a restore of ours) starts a new lineage:
    /// what came before is not known to be its past.
    pub fn seen(&mut self, cluster_id: u64) {
        match self.0.last_mut() {
            Some(last) if last.cluster_id == Some(cluster_id) => {}
            Some(last) if last.cluster_id.is_none() && last.up_to.is_none() => {
                last.cluster_id = Some(cluster_id)
            }
            _ => self.0 = vec![Segment { cluster_id: Some(cluster_id), up_to: None }],
        }
    }

    /// Every member was restored from a snapshot of cluster `from` at `revision`: the
    /// lineage is `from`'s, cut at that revision, followed by the restored cluster.
    /// A source of no known cluster (a record older than lineages) leaves only the
    /// restored cluster.
    pub fn restored(&mut self, from: Option<u64>, revision: i64) {
        let at = from.and_then(|id| self.0.iter().rposition(|s| s.cluster_id == Some(id)));
        let mut chain = match (from, at) {
            (Some(_), Some(at)) => self.0[..=at].to_vec(),
            (Some(id), None) => vec![Segment { cluster_id: Some(id), up_to: None }],
            (None, _) => Vec::new(),
        };
        if let Some(last) = chain.last_mut() {
            last.up_to = Some(last.up_to.map_or(revision, |u| u.min(revision)));
        }
        chain.push(Segment { cluster_id: None, up_to: None });
        self.0 = chain;
    }

    /// Whether `record` belongs to the lineage: taken of one of its clusters, at or
    /// below the revision the data descends from. Before any cluster ID was seen,
    /// every record does; a record that names no cluster (written before lineages)
    /// belongs only then.
    pub fn contains(&self, record: &BackupRecord) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(id) = record.cluster_id else { return false };
        self.0.iter().any(|s| s.cluster_id == Some(id) && s.up_to.is_none_or(|u| record.revision <= u))
    }

    /// The records of `records` that belong to the lineage.
    pub fn filter(&self, records: &[BackupRecord]) -> Vec<BackupRecord> {
        records.iter().filter(|r| self.contains(r)).cloned().collect()
    }
}

/// A cluster ID as etcd and etcdctl print it.
pub fn hex(id: u64) -> String {
    format!("{id:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::world::at;

    /// A verified record from before lineages: it names no cluster.
    fn backup_record(revision: i64) -> BackupRecord {
        BackupRecord { cluster_id: None, ..crate::testing::world::backup_record(at(revision), revision) }
    }

    fn of(cluster: u64, revision: i64) -> BackupRecord {
        BackupRecord { cluster_id: Some(cluster), ..backup_record(revision) }
    }

    #[test]
    fn before_any_cluster_is_seen_every_record_belongs() {
        let lineage = Lineage::default();
        assert!(lineage.contains(&of(7, 10)));
        assert!(lineage.contains(&backup_record(3)), "a record older than lineages");
    }

    #[test]
    fn a_new_cluster_on_the_same_destination_is_another_lineage() {
        let mut lineage = Lineage::default();
        lineage.seen(0xA);
        assert!(lineage.contains(&of(0xA, 500)));
        // Purged and created again: a new cluster ID, not by a restore of ours.
        lineage.seen(0xB);
        assert!(!lineage.contains(&of(0xA, 500)), "the purged cluster's backups");
        assert!(lineage.contains(&of(0xB, 3)));
        assert!(!lineage.contains(&backup_record(3)), "a record that names no cluster");
    }

    #[test]
    fn a_rollback_keeps_what_came_before_the_revision_restored_and_drops_what_it_undid() {
        let mut lineage = Lineage::default();
        lineage.seen(0xA);
        // `restore --from` a backup of A at revision 100; A had gone on to 300.
        lineage.restored(Some(0xA), 100);
        assert!(lineage.contains(&of(0xA, 100)) && lineage.contains(&of(0xA, 40)));
        assert!(!lineage.contains(&of(0xA, 300)), "writes the rollback undid");
        lineage.seen(0xB);
        assert!(lineage.contains(&of(0xB, 150)), "the restored cluster's own backups");
        assert_eq!(lineage.current(), Some(0xB));
        // A second restore, from B at 180: A up to 100 and B up to 180 remain.
        lineage.restored(Some(0xB), 180);
        lineage.seen(0xC);
        assert!(lineage.contains(&of(0xA, 100)) && lineage.contains(&of(0xB, 180)));
        assert!(!lineage.contains(&of(0xB, 181)) && !lineage.contains(&of(0xA, 101)));
        // A restore from an older ancestor cuts everything after it.
        lineage.restored(Some(0xA), 90);
        assert!(!lineage.contains(&of(0xB, 150)) && !lineage.contains(&of(0xA, 95)));
        assert!(lineage.contains(&of(0xA, 90)));
    }

    #[test]
    fn a_restore_from_another_lineage_by_hand_starts_from_that_lineage() {
        let mut lineage = Lineage::default();
        lineage.seen(0xA);
        lineage.restored(Some(0xF), 70);
        assert!(lineage.contains(&of(0xF, 70)) && !lineage.contains(&of(0xA, 10)));
        lineage.restored(None, 5);
        lineage.seen(0xD);
        assert!(!lineage.contains(&of(0xF, 70)), "a source of no known cluster keeps nothing before it");
        assert!(lineage.contains(&of(0xD, 6)));
    }
}
