//! The bbolt walk that reads a snapshot's revision agrees with `etcdctl snapshot status`
//! on real snapshots of a real etcd, whatever their shape: an empty store, an inline
//! `key` bucket, a multi-level tree, values on overflow pages, deletions whose
//! tombstones are the newest keys, and a compaction that drops those tombstones. A file
//! that is not a whole bbolt database is refused.

use crate::support;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::lone::LoneEtcd as Etcd;
use crate::support::{Sandbox, wait_for};
use etcd_client::{Client, CompactionOptions, DeleteOptions};
use etcd_warden::backup::bbolt::snapshot_revision;
use etcd_warden::backup::snapshot;
use tokio::runtime::Runtime;

/// Saves a snapshot (trailer checked; the revision from the walk, checked against
/// etcdctl inside `save`) and compares the two readings again, on the file itself.
fn snapshot_agrees(rt: &Runtime, etcd: &Etcd, file: &Path) -> i64 {
    let facts = rt
        .block_on(snapshot::save(&etcd.endpoint, None, file, &support::snapshot_tool(rt)))
        .expect("snapshot");
    let walked = snapshot_revision(file).expect("walk the bbolt tree");
    let (by_etcdctl, _) =
        rt.block_on(snapshot::status(&support::snapshot_tool(rt), file)).expect("etcdctl snapshot status");
    assert_eq!(walked, by_etcdctl, "{}: the walk and etcdctl disagree", file.display());
    assert_eq!(facts.revision, walked);
    walked
}

#[test]
fn the_bbolt_walk_reads_the_same_revision_as_etcdctl_on_every_shape_of_snapshot() {
    let sandbox = Sandbox::new();
    let etcd = Etcd::start(sandbox.dir.path());
    let rt = Runtime::new().expect("runtime");
    let mut client: Client = wait_for("etcd to serve", Duration::from_secs(20), || {
        rt.block_on(async {
            let mut c = Client::connect([etcd.endpoint.as_str()], None).await.ok()?;
            c.get("probe", None).await.ok()?;
            Some(c)
        })
    });
    let file = |name: &str| -> PathBuf { sandbox.dir.path().join(format!("{name}.db")) };

    assert_eq!(snapshot_agrees(&rt, &etcd, &file("empty")), 0, "no key yet");

    rt.block_on(async {
        for i in 0..3 {
            client.put(format!("few/{i}"), "v", None).await.expect("put");
        }
    });
    let few = snapshot_agrees(&rt, &etcd, &file("few"));
    assert!(few >= 4, "three puts after revision 1: {few}");

    rt.block_on(async {
        for i in 0..3000 {
            client.put(format!("many/{i:05}"), format!("value-{i}"), None).await.expect("put");
        }
    });
    let many = snapshot_agrees(&rt, &etcd, &file("many"));
    assert_eq!(many, few + 3000);

    let deleted = rt.block_on(async {
        let options = DeleteOptions::new().with_prefix();
        client.delete("many/", Some(options)).await.expect("delete").header().expect("header").revision()
    });
    assert_eq!(snapshot_agrees(&rt, &etcd, &file("deleted")), deleted, "a tombstone is the newest key");

    rt.block_on(async {
        let physical = CompactionOptions::new().with_physical();
        client.compact(deleted, Some(physical)).await.expect("compact");
    });
    // Up to etcd 3.4 the compaction drops the tombstones at the compacted revision, so
    // the highest key left is the last of the "few" puts; from 3.5 it keeps the compacted
    // revision's key, so that the revision never goes back. etcdctl (etcdutl) reads the
    // same as the walk on each.
    let kept = if support::etcd_version() >= (3, 5) { deleted } else { few };
    assert_eq!(snapshot_agrees(&rt, &etcd, &file("compacted")), kept, "etcd {:?}", support::etcd_version());

    rt.block_on(async {
        let value = "x".repeat(256 * 1024);
        for i in 0..12 {
            client.put(format!("large/{i}"), value.clone(), None).await.expect("put");
        }
    });
    assert_eq!(snapshot_agrees(&rt, &etcd, &file("large")), deleted + 12, "values on overflow pages");
}

#[test]
fn a_file_that_is_not_a_whole_bbolt_database_is_refused() {
    let sandbox = Sandbox::new();
    let etcd = Etcd::start(sandbox.dir.path());
    let rt = Runtime::new().expect("runtime");
    wait_for("etcd to serve", Duration::from_secs(20), || {
        rt.block_on(async {
            Client::connect([etcd.endpoint.as_str()], None).await.ok()?.get("p", None).await.ok()
        })
    });
    let good = sandbox.dir.path().join("good.db");
    rt.block_on(snapshot::save(&etcd.endpoint, None, &good, &support::snapshot_tool(&rt))).expect("snapshot");
    let bytes = std::fs::read(&good).expect("read");
    let write = |name: &str, content: &[u8]| {
        let path = sandbox.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    };

    let garbage = write("garbage.db", &vec![0x5a; bytes.len()]);
    assert!(snapshot_revision(&garbage).is_err(), "no meta page");
    let torn = write("torn.db", &bytes[..3000]);
    assert!(snapshot_revision(&torn).is_err(), "torn inside the first meta page");
    let headless = write("headless.db", &bytes[..2 * 4096]);
    assert!(snapshot_revision(&headless).is_err(), "meta pages without the tree");
    let mut broken_metas = bytes.clone();
    for meta in [16, 4096 + 16] {
        broken_metas[meta + 20] ^= 0x01; // inside the root bucket's page id
    }
    assert!(snapshot_revision(&write("metas.db", &broken_metas)).is_err(), "both checksums fail");
    assert!(snapshot_revision(&sandbox.dir.path().join("missing.db")).is_err());
}
