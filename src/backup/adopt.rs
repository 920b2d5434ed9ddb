//! A controller that starts with an empty state directory (on DC/OS, Marathon moved it
//! to another agent without its volume) finds its backups again: the catalog is
//! rebuilt from the metadata object stored beside each snapshot at the destination.

use crate::backup::destination::BackupStore;
use crate::backup::run::BackupError;
use crate::manifest::DesiredCluster;
use crate::model::catalog::BackupRecord;
use crate::store::Store;

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The records taken into the catalog.
    pub records: usize,
    /// Metadata objects left out, each with why.
    pub skipped: Vec<String>,
}

/// Rebuilds the cluster's catalog from its destination when the local catalog is
/// empty; `None` when there is nothing to do (no backup policy, or a catalog already).
///
/// # Errors
/// When the destination cannot be listed or the catalog cannot be written. A metadata
/// object that cannot be read or does not match its snapshot is skipped, not fatal.
pub async fn rebuild_catalog(
    store: &Store,
    desired: &DesiredCluster,
) -> Result<Option<Rebuilt>, BackupError> {
    let Some(policy) = &desired.backup else { return Ok(None) };
    if !store.backups(&desired.name)?.is_empty() {
        return Ok(None);
    }
    let destination = BackupStore::open(&policy.destination, &desired.name).await?;
    let objects = destination.list().await?;
    let mut metadata = Vec::new();
    for (name, _) in objects.iter().filter(|(name, _)| name.ends_with(".json")) {
        metadata.push((name.clone(), destination.get_bytes(name).await.map_err(|e| e.to_string())));
    }
    let (candidates, mut skipped) = records_from(desired, &objects, metadata);
    // Each record's claims are checked against its file, and only this cluster's
    // lineage is taken (`model::lineage`; everything, while no cluster ID was seen).
    let lineage = store.history(&desired.name)?.seen.lineage;
    let tmp = store.cluster_dir(&desired.name).join("tmp");
    crate::store::atomic::ensure_private_dir(&tmp).map_err(BackupError::Temp)?;
    let mut records = Vec::new();
    for record in candidates {
        let name = record.metadata_object();
        if !lineage.contains(&record) {
            let of = record.cluster_id.map_or_else(|| "no recorded".to_owned(), crate::model::lineage::hex);
            skipped.push(format!(
                "{name}: it was taken of another etcd cluster ({of}), not of this cluster's lineage"
            ));
            continue;
        }
        let file = tmp.join(format!("adopt-{}.db", record.id));
        let checked = file_revision(&destination, &record, &file).await;
        let _ = tokio::fs::remove_file(&file).await;
        match checked {
            Ok(revision) if revision == record.revision => records.push(record),
            Ok(revision) => skipped.push(format!(
                "{name}: its snapshot holds revision {revision}, the record says {}",
                record.revision
            )),
            Err(why) => skipped.push(format!("{name}: {why}")),
        }
    }
    let rebuilt = Rebuilt { records: records.len(), skipped };
    if !records.is_empty() {
        store.put_backups(&desired.name, &records)?;
    }
    Ok(Some(rebuilt))
}

/// The revision inside the record's snapshot, once fetched and checked against its SHA-256.
async fn file_revision(
    destination: &BackupStore,
    record: &BackupRecord,
    file: &std::path::Path,
) -> Result<i64, String> {
    crate::backup::restore::fetch_verified(destination, record, file).await.map_err(|e| e.to_string())?;
    crate::backup::snapshot::revision(file).await.map_err(|e| e.to_string())
}

/// The records whose metadata parses, names this cluster, and whose snapshot object
/// is there with the recorded size; oldest first.
fn records_from(
    desired: &DesiredCluster,
    objects: &[(String, u64)],
    metadata: Vec<(String, Result<Vec<u8>, String>)>,
) -> (Vec<BackupRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (name, bytes) in metadata {
        let record = bytes
            .and_then(|b| {
                serde_json::from_slice::<BackupRecord>(&b).map_err(|e| format!("not a backup record: {e}"))
            })
            .and_then(|r| {
                if r.cluster != desired.name {
                    return Err(format!("it belongs to cluster {}", r.cluster));
                }
                if r.metadata_object() != name {
                    return Err(format!("it names backup {}", r.id));
                }
                match objects.iter().find(|(o, _)| *o == r.object()) {
                    None => Err(format!("its snapshot {} is missing", r.object())),
                    Some((_, size)) if *size != r.size_bytes => {
                        Err(format!("its snapshot has {size} bytes, the record says {}", r.size_bytes))
                    }
                    Some(_) => Ok(r),
                }
            });
        match record {
            Ok(r) => records.push(r),
            Err(why) => skipped.push(format!("{name}: {why}")),
        }
    }
    records.sort_by(|a, b| a.taken_at.cmp(&b.taken_at).then_with(|| a.id.as_str().cmp(b.id.as_str())));
    (records, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::MemberCount;
    use crate::manifest::desired::{BackupPolicy, Destination, Retention, Schedule};
    use crate::testing::world::{at, backup_record, desired};

    #[tokio::test]
    async fn an_empty_catalog_is_rebuilt_from_the_records_whose_snapshots_are_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut d = desired(MemberCount::Three);
        d.backup = Some(BackupPolicy {
            schedule: Schedule::Every(std::time::Duration::from_secs(3600)),
            destination: Destination::Directory(dir.path().join("backups")),
            retention: Retention::default(),
            fresh_for: std::time::Duration::from_secs(900),
            drill: None,
        });
        let Some(policy) = &d.backup else { unreachable!() };
        let destination = BackupStore::open(&policy.destination, &d.name).await.expect("open");
        let put = async |record: &BackupRecord, snapshot: Option<u64>| {
            let json = serde_json::to_vec(record).expect("json");
            destination.put_bytes(&record.metadata_object(), json).await.expect("metadata");
            if let Some(size) = snapshot {
                let bytes = vec![7u8; usize::try_from(size).expect("size")];
                destination.put_bytes(&record.object(), bytes).await.expect("snapshot");
            }
        };
        let mut newer = backup_record(at(60), 42);
        newer.size_bytes = 5;
        let mut older = backup_record(at(0), 40);
        older.size_bytes = 3;
        let mut gone = backup_record(at(30), 41);
        gone.size_bytes = 3;
        let mut torn = backup_record(at(90), 43);
        torn.size_bytes = 9;
        put(&newer, Some(5)).await;
        put(&older, Some(3)).await;
        put(&gone, None).await;
        put(&torn, Some(4)).await;
        destination.put_bytes("garbage.json", b"{not json".to_vec()).await.expect("garbage");
        // By their metadata: the two whose snapshot is there with the recorded size.
        let objects = destination.list().await.expect("list");
        let mut metadata = Vec::new();
        for (name, _) in objects.iter().filter(|(n, _)| n.ends_with(".json")) {
            metadata.push((name.clone(), destination.get_bytes(name).await.map_err(|e| e.to_string())));
        }
        let (candidates, skipped) = records_from(&d, &objects, metadata);
        let ids: Vec<_> = candidates.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, [older.id.clone(), newer.id.clone()], "oldest first");
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        // Then by their files: these hold no snapshot whose hash the record names.
        let store = Store::open(&dir.path().join("state")).expect("store");
        let rebuilt = rebuild_catalog(&store, &d).await.expect("rebuild").expect("a rebuild");
        assert_eq!(rebuilt.records, 0, "{rebuilt:?}");
        assert_eq!(rebuilt.skipped.len(), 5, "{rebuilt:?}");
        assert!(rebuilt.skipped.iter().any(|s| s.contains(&newer.metadata_object())), "{rebuilt:?}");
    }
}
