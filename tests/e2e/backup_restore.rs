//! Restores from a snapshot against real etcd processes: a cluster restored from a
//! snapshot holds exactly the snapshot's keys at its revision, under new member IDs;
//! the old data is moved aside, and a failed restore changes nothing.

use crate::support;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Sandbox, assert_keys, put_keys, wait_for};
use etcd_warden::backup::data_dirs::{RestoreError, RestoreMember, restore_data_dirs};
use etcd_warden::backup::snapshot;
use etcd_warden::domain::PodName;
use etcd_warden::etcd::EtcdAdmin;
use etcd_warden::manifest::{LocalSpec, PortsSpec};
use etcd_warden::platform::local::LocalPlatform;
use etcd_warden::platform::{InitialClusterState, LaunchSpec, Platform};
use tokio::runtime::Runtime;

const DEADLINE: Duration = Duration::from_secs(30);

/// Real members on the local platform, driven from a synchronous test (the key helpers
/// of `support` run their own runtime).
struct Cluster {
    rt: Runtime,
    platform: LocalPlatform,
    pods: Vec<PodName>,
    admin: EtcdAdmin,
}

impl Cluster {
    fn start(root: PathBuf, members: u8, token: &str) -> Self {
        let rt = Runtime::new().expect("runtime");
        let spec = LocalSpec {
            etcd_binary: support::etcd_binary().into(),
            host: "127.0.0.1".into(),
            ports: PortsSpec::Auto,
            tls: None,
        };
        let platform = LocalPlatform::new(root, spec);
        let pods = (0..members).map(|i| PodName::new(i).expect("pod")).collect();
        let cluster = Self { rt, platform, pods, admin: EtcdAdmin::new() };
        cluster.launch(token);
        cluster
    }

    fn launch(&self, token: &str) {
        self.rt.block_on(async {
            let mut initial = Vec::new();
            for pod in &self.pods {
                initial.push((*pod, self.platform.member_urls(*pod).await.expect("urls").peer));
            }
            let state = InitialClusterState::New { token: token.into() };
            let spec = LaunchSpec { initial_cluster: initial, state };
            for pod in &self.pods {
                self.platform.ensure_running(*pod, &spec).await.expect("launch");
            }
        });
    }

    fn stop(&self) {
        for pod in &self.pods {
            self.rt.block_on(self.platform.ensure_stopped(*pod)).expect("stop");
        }
    }

    fn endpoints(&self) -> Vec<String> {
        let urls = self.pods.iter().map(|pod| self.rt.block_on(self.platform.member_urls(*pod)));
        urls.map(|u| u.expect("urls").client).collect()
    }

    /// Waits until every member is healthy; their (member ID, revision).
    fn wait_healthy(&self) -> Vec<(u64, i64)> {
        self.endpoints()
            .iter()
            .map(|url| {
                wait_for(&format!("{url} to be healthy"), DEADLINE, || {
                    let status = self.rt.block_on(self.admin.status(url)).ok()?;
                    status.is_healthy().then_some((status.id.0, status.revision))
                })
            })
            .collect()
    }

    fn data_dirs(&self) -> Vec<PathBuf> {
        self.pods.iter().map(|pod| self.platform.data_dir(*pod)).collect()
    }

    fn restore_members(&self) -> Vec<RestoreMember> {
        self.pods
            .iter()
            .map(|pod| RestoreMember {
                pod: *pod,
                peer_url: self.rt.block_on(self.platform.member_urls(*pod)).expect("urls").peer,
                data_dir: self.platform.data_dir(*pod),
            })
            .collect()
    }
}

/// Every file under `dir` with its size, by relative path.
fn listing(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).expect("relative").to_path_buf(), meta.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Snapshot, more writes, stop, restore, start: exactly the snapshot comes back.
fn round_trip(members: u8) {
    let sandbox = Sandbox::new();
    let cluster = Cluster::start(sandbox.dir.path().join("platform"), members, "before");
    let tool = support::snapshot_tool(&cluster.rt);
    let old_ids: Vec<u64> = cluster.wait_healthy().iter().map(|(id, _)| *id).collect();
    let endpoints = cluster.endpoints();
    // Written through the member the snapshot is taken from, so that it has applied
    // all 40 when the snapshot starts (a follower may lag a little).
    put_keys(&endpoints[..1], "before", 40);
    let file = sandbox.dir.path().join("snapshot.db");
    let facts = cluster.rt.block_on(snapshot::save(&endpoints[0], None, &file, &tool)).expect("snapshot");
    let at_snapshot =
        cluster.rt.block_on(EtcdAdmin::new().count_keys(&endpoints[0], facts.revision)).expect("count");
    assert_eq!(at_snapshot, 40);
    assert!(facts.total_keys > at_snapshot, "etcdctl's totalKey also counts etcd's own buckets");
    put_keys(&endpoints, "after", 10);
    cluster.stop();
    let old_contents: Vec<_> = cluster.data_dirs().iter().map(|d| listing(d)).collect();

    let to_restore = cluster.restore_members();
    let aside =
        cluster.rt.block_on(restore_data_dirs(&tool, &file, &to_restore, "restored")).expect("restore");

    assert_eq!(aside.len(), usize::from(members), "every old data directory moved aside");
    for ((dir, moved), old) in cluster.data_dirs().iter().zip(&aside).zip(&old_contents) {
        let name = moved.file_name().expect("name").to_string_lossy().into_owned();
        let expected = format!("{}.before-restore-", dir.file_name().expect("name").to_string_lossy());
        assert!(name.starts_with(&expected), "{name} is beside {}", dir.display());
        assert_eq!(moved.parent(), dir.parent());
        assert_eq!(&listing(moved), old, "the old data is kept as it was");
        assert_eq!(mode(dir), 0o700, "{} is private", dir.display());
        assert!(listing(dir).keys().any(|p| p.ends_with("member/snap/db")), "restored data in place");
    }
    let members_dir = cluster.data_dirs()[0].parent().expect("parent").to_path_buf();
    assert!(!support::dir_names(&members_dir).iter().any(|n| n.ends_with(".restoring")), "no staging left");

    cluster.launch("ignored-with-data");
    let restored = cluster.wait_healthy();
    for (id, revision) in &restored {
        assert!(!old_ids.contains(id), "member ID {id:x} is new");
        assert_eq!(*revision, facts.revision, "every member is at the snapshot's revision");
    }
    let mut new_ids: Vec<u64> = restored.iter().map(|(id, _)| *id).collect();
    new_ids.sort_unstable();
    new_ids.dedup();
    assert_eq!(new_ids.len(), usize::from(members), "distinct member IDs");
    for endpoint in &endpoints {
        assert_eq!(
            cluster.rt.block_on(EtcdAdmin::new().count_keys(endpoint, facts.revision)).expect("count"),
            at_snapshot
        );
    }
    let listed = cluster.rt.block_on(cluster.admin.member_list(&endpoints[0])).expect("member list");
    assert_eq!(listed.len(), usize::from(members));
    assert_keys(&endpoints, "before", 40);
    assert_keys(&endpoints, "after", 0);
}

#[test]
fn keys_are_counted_at_the_snapshot_revision_by_a_member_that_has_lost_its_leader() {
    // A backup taken while the leader is killed (found by the chaos soak): the snapshot
    // is saved, then counting its keys must not need a leader.
    let sandbox = Sandbox::new();
    let cluster = Cluster::start(sandbox.dir.path().join("platform"), 3, "leaderless");
    let tool = support::snapshot_tool(&cluster.rt);
    cluster.wait_healthy();
    let endpoints = cluster.endpoints();
    put_keys(&endpoints[..1], "k", 25);
    let file = sandbox.dir.path().join("snapshot.db");
    let facts = cluster.rt.block_on(snapshot::save(&endpoints[0], None, &file, &tool)).expect("snapshot");
    for pod in &cluster.pods[1..] {
        cluster.rt.block_on(cluster.platform.ensure_stopped(*pod)).expect("stop");
    }
    wait_for("etcd-0 to lose its leader", DEADLINE, || {
        let status = cluster.rt.block_on(cluster.admin.status(&endpoints[0])).ok()?;
        status.leader.is_none().then_some(())
    });
    let counted = cluster.rt.block_on(cluster.admin.count_keys(&endpoints[0], facts.revision));
    assert_eq!(counted.expect("counted from etcd-0's own store"), 25);
}

#[test]
fn a_three_member_cluster_restored_from_a_snapshot_holds_exactly_its_keys_under_new_ids() {
    round_trip(3);
}

#[test]
fn a_single_member_restored_from_a_snapshot_holds_exactly_its_keys_under_a_new_id() {
    round_trip(1);
}

#[test]
fn a_corrupt_snapshot_or_a_failing_member_leaves_every_data_directory_in_place() {
    let sandbox = Sandbox::new();
    let cluster = Cluster::start(sandbox.dir.path().join("platform"), 3, "first");
    let tool = support::snapshot_tool(&cluster.rt);
    cluster.wait_healthy();
    let endpoints = cluster.endpoints();
    put_keys(&endpoints, "kept", 20);
    let good = sandbox.dir.path().join("good.db");
    cluster.rt.block_on(snapshot::save(&endpoints[0], None, &good, &tool)).expect("snapshot");
    let mut bytes = std::fs::read(&good).expect("read snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let corrupt = sandbox.dir.path().join("corrupt.db");
    std::fs::write(&corrupt, &bytes).expect("write corrupt copy");
    cluster.stop();
    let members_dir = cluster.data_dirs()[0].parent().expect("parent").to_path_buf();
    let before_names = support::dir_names(&members_dir);
    let before: Vec<_> = cluster.data_dirs().iter().map(|d| listing(d)).collect();
    let unchanged = || {
        assert_eq!(support::dir_names(&members_dir), before_names, "nothing renamed, nothing left beside");
        let now: Vec<_> = cluster.data_dirs().iter().map(|d| listing(d)).collect();
        assert_eq!(now, before, "data directories untouched");
    };

    let members = cluster.restore_members();
    let error =
        cluster.rt.block_on(restore_data_dirs(&tool, &corrupt, &members, "second")).expect_err("corrupt");
    assert!(matches!(error, RestoreError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("corrupt.db is corrupt"), "{error}");
    unchanged();

    // The last member cannot be staged (its directory sits under a file): the two
    // staged before it are discarded.
    let blocker = sandbox.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").expect("write blocker");
    let mut failing = members.clone();
    failing[2].data_dir = blocker.join("etcd-2");
    let error =
        cluster.rt.block_on(restore_data_dirs(&tool, &good, &failing, "second")).expect_err("blocked");
    assert!(matches!(error, RestoreError::Io { .. }), "{error:?}");
    unchanged();

    cluster.launch("ignored-with-data");
    cluster.wait_healthy();
    assert_keys(&endpoints, "kept", 20);
}

#[test]
fn a_missing_snapshot_is_refused_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let members_dir = sandbox.dir.path().join("members");
    let members: Vec<RestoreMember> = (0..3u8)
        .map(|i| {
            let data_dir = members_dir.join(format!("etcd-{i}"));
            std::fs::create_dir_all(data_dir.join("member")).expect("data dir");
            std::fs::write(data_dir.join("member/marker"), format!("old {i}")).expect("marker");
            let peer_url = format!("http://127.0.0.1:{}", support::free_port());
            RestoreMember { pod: PodName::new(i).expect("pod"), peer_url, data_dir }
        })
        .collect();
    let before: Vec<_> = members.iter().map(|m| listing(&m.data_dir)).collect();
    let missing = sandbox.dir.path().join("no-such-snapshot.db");
    let rt = Runtime::new().expect("runtime");
    let tool = support::snapshot_tool(&rt);

    let error = rt.block_on(restore_data_dirs(&tool, &missing, &members, "t")).expect_err("missing");

    let message = error.to_string();
    assert!(message.starts_with("open snapshot") && message.contains("no-such-snapshot.db"), "{message}");
    assert!(message.contains("No such file or directory"), "{message}");
    assert_eq!(support::dir_names(&members_dir), ["etcd-0", "etcd-1", "etcd-2"]);
    let now: Vec<_> = members.iter().map(|m| listing(&m.data_dir)).collect();
    assert_eq!(now, before);
}

#[test]
fn a_retry_of_the_same_restore_replaces_what_it_put_in_place_and_never_moves_it_aside() {
    let sandbox = Sandbox::new();
    let cluster = Cluster::start(sandbox.dir.path().join("platform"), 1, "retry");
    let tool = support::snapshot_tool(&cluster.rt);
    let endpoints = cluster.endpoints();
    cluster.wait_healthy();
    put_keys(&endpoints, "k", 5);
    let file = sandbox.dir.path().join("snapshot.db");
    cluster.rt.block_on(snapshot::save(&endpoints[0], None, &file, &tool)).expect("snapshot");
    cluster.stop();
    let members = cluster.restore_members();
    let dir = cluster.data_dirs()[0].clone();
    let parent = dir.parent().expect("parent").to_path_buf();
    let aside_dirs = || -> Vec<String> {
        support::dir_names(&parent).into_iter().filter(|n| n.contains(".before-restore-")).collect()
    };
    let first =
        cluster.rt.block_on(restore_data_dirs(&tool, &file, &members, "restore-a")).expect("attempt 1");
    assert_eq!(first.len(), 1, "the original data is moved aside");
    let original = listing(&first[0]);
    // Attempt 2 of the same restore (its cluster did not serve): what attempt 1 put in
    // place is replaced, nothing more is moved aside.
    let second =
        cluster.rt.block_on(restore_data_dirs(&tool, &file, &members, "restore-a")).expect("attempt 2");
    assert_eq!(second, Vec::<PathBuf>::new(), "nothing moved aside by a retry");
    assert_eq!(aside_dirs().len(), 1, "{:?}", aside_dirs());
    assert_eq!(listing(&first[0]), original, "the original data is untouched");
    assert!(listing(&dir).keys().any(|p| p.ends_with("member/snap/db")), "restored data in place");
    // Another restore (a new incident) keeps what it replaces, as always.
    let third =
        cluster.rt.block_on(restore_data_dirs(&tool, &file, &members, "restore-b")).expect("another restore");
    assert_eq!(third.len(), 1, "another restore moves the data aside");
    assert_eq!(aside_dirs().len(), 2, "{:?}", aside_dirs());
    // Once a restore is done, its marker goes: a later restore moves its data aside.
    cluster.rt.block_on(etcd_warden::backup::data_dirs::forget_restored(std::slice::from_ref(&dir)));
    let fourth =
        cluster.rt.block_on(restore_data_dirs(&tool, &file, &members, "restore-b")).expect("after done");
    assert_eq!(fourth.len(), 1, "a finished restore's data is kept like any other");
    // Status lists them, oldest first, with their size; retention keeps the newest.
    let listed = etcd_warden::backup::data_dirs::kept_aside_of(&dir);
    let paths: Vec<&PathBuf> = listed.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [&first[0], &third[0], &fourth[0]], "oldest first");
    assert!(listed.iter().all(|(_, size)| *size > 0), "{listed:?}");
    let deleted =
        cluster.rt.block_on(etcd_warden::backup::data_dirs::prune_kept_aside(std::slice::from_ref(&dir), 2));
    assert_eq!(deleted, [first[0].clone()], "the oldest beyond 2");
    assert_eq!(aside_dirs().len(), 2, "{:?}", aside_dirs());
    assert!(
        listing(&dir).keys().any(|p| p.ends_with("member/snap/db")),
        "the data in place is never touched"
    );
}
