//! Backup destinations against the real thing: a directory in a temp dir, and a real S3
//! server (s3s over s3s-fs, on a free loopback port) that each test starts.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::s3::{ACCESS_KEY_ID, BUCKET, S3Server, SECRET_ACCESS_KEY};
use etcd_warden::backup::destination::{BackupStore, DestinationError};
use etcd_warden::domain::ClusterName;
use etcd_warden::manifest::{Destination, S3Credentials, S3Destination};
use etcd_warden::retry::ErrorKind;
use sha2::{Digest, Sha256};

const SNAPSHOT: &str = "20261125T203000Z-rev1042.db";
const METADATA: &str = "20261125T203000Z-rev1042.json";
/// About 20 MB, not a multiple of the part size, so the last part is short.
const SNAPSHOT_LEN: usize = 20 * 1024 * 1024 + 12_345;

fn cluster() -> ClusterName {
    "kubernetes".parse().expect("cluster name")
}

fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("etcd-warden-dest").tempdir().expect("temp dir")
}

async fn directory_store(work: &Path) -> BackupStore {
    let destination = Destination::Directory(work.join("backups"));
    BackupStore::open(&destination, &cluster()).await.expect("open the directory destination")
}

fn s3_destination(server: &S3Server, work: &Path, secret: &str) -> Destination {
    let secret_access_key_file = work.join("secret-key");
    std::fs::write(&secret_access_key_file, format!("{secret}\n")).expect("write the secret key file");
    Destination::S3(S3Destination {
        bucket: BUCKET.to_owned(),
        prefix: "etcd/prod".to_owned(),
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".to_owned()),
        credentials: Some(S3Credentials { access_key_id: ACCESS_KEY_ID.to_owned(), secret_access_key_file }),
    })
}

async fn s3_store(server: &S3Server, work: &Path) -> BackupStore {
    let destination = s3_destination(server, work, SECRET_ACCESS_KEY);
    BackupStore::open(&destination, &cluster()).await.expect("open the S3 destination")
}

/// Writes `len` pseudo-random bytes (xorshift: every offset differs) to `path`.
fn write_pseudo_random(path: &Path, len: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut written = 0;
    while written < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        let n = bytes.len().min(len - written);
        file.write_all(&bytes[..n]).expect("write");
        written += n;
    }
    file.flush().expect("flush");
}

fn sha256_of(path: &Path) -> String {
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            return hex::encode(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// put_file of ~20 MB and back, put_bytes/get_bytes, list, delete.
async fn round_trip(store: &BackupStore, work: &Path) {
    let snapshot = work.join("snapshot.db");
    write_pseudo_random(&snapshot, SNAPSHOT_LEN);
    let small = work.join("small.db");
    write_pseudo_random(&small, 1000);
    let metadata = br#"{"sha256":"abc","revision":1042}"#.to_vec();

    assert_eq!(store.put_file(SNAPSHOT, &snapshot).await.expect("put the snapshot"), SNAPSHOT_LEN as u64);
    assert_eq!(store.put_file("a-small.db", &small).await.expect("put a small file"), 1000);
    store.put_bytes(METADATA, metadata.clone()).await.expect("put the metadata");

    let expected = vec![
        ("20261125T203000Z-rev1042.db".to_owned(), SNAPSHOT_LEN as u64),
        ("20261125T203000Z-rev1042.json".to_owned(), metadata.len() as u64),
        ("a-small.db".to_owned(), 1000),
    ];
    assert_eq!(store.list().await.expect("list"), expected);

    let back = work.join("restore").join("back.db");
    std::fs::create_dir(work.join("restore")).expect("restore dir");
    assert_eq!(store.get_file(SNAPSHOT, &back).await.expect("get the snapshot"), SNAPSHOT_LEN as u64);
    assert_eq!(sha256_of(&back), sha256_of(&snapshot), "the snapshot came back different");
    assert_eq!(mode(&back), 0o600);
    let small_back = work.join("restore").join("small-back.db");
    store.get_file("a-small.db", &small_back).await.expect("get the small file");
    assert_eq!(sha256_of(&small_back), sha256_of(&small));
    assert_eq!(store.get_bytes(METADATA).await.expect("get the metadata"), metadata);

    store.delete(SNAPSHOT).await.expect("delete");
    store.delete(SNAPSHOT).await.expect("deleting a missing object is fine");
    store.delete("never-there.db").await.expect("deleting a never-stored object is fine");
    let names: Vec<String> = store.list().await.expect("list").into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, vec![METADATA.to_owned(), "a-small.db".to_owned()]);
    let err = store.get_bytes(SNAPSHOT).await.expect_err("a deleted object is gone");
    assert!(err.is_not_found(), "{err}");
}

/// A missing object: a not-found error naming it and the destination, no local file.
async fn missing_object(store: &BackupStore, work: &Path) {
    let target = work.join("never.db");
    let err = store.get_file("missing-rev7.db", &target).await.expect_err("missing object");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(err.to_string(), format!("backup object {}missing-rev7.db not found", store.location()));
    assert!(!target.exists(), "a failed get_file left {}", target.display());
    let err = store.get_bytes("missing-rev7.json").await.expect_err("missing object");
    assert!(err.to_string().contains("missing-rev7.json"), "{err}");
    assert!(err.is_not_found());
}

/// Names with a path in them are refused before anything is read or written.
async fn bad_names(store: &BackupStore, work: &Path) {
    let local = work.join("local.db");
    std::fs::write(&local, b"x").expect("write");
    for name in ["../escape.db", "a/b.db", "", ".hidden", "/abs.db", "..", "white space.db"] {
        let refused =
            |err: DestinationError| assert!(matches!(err, DestinationError::InvalidName { .. }), "{err}");
        refused(store.put_file(name, &local).await.expect_err(name));
        refused(store.get_file(name, &local).await.expect_err(name));
        refused(store.put_bytes(name, b"x".to_vec()).await.expect_err(name));
        refused(store.get_bytes(name).await.expect_err(name));
        refused(store.delete(name).await.expect_err(name));
    }
    assert!(store.list().await.expect("list").is_empty(), "a refused name stored something");
    assert!(!work.join("escape.db").exists());
}

#[tokio::test]
async fn a_directory_destination_round_trips_a_20_mb_snapshot_and_its_metadata() {
    let work = work_dir();
    let store = directory_store(work.path()).await;
    assert_eq!(store.location(), format!("{}/", work.path().join("backups/kubernetes").display()));
    round_trip(&store, work.path()).await;
}

#[tokio::test]
async fn an_s3_destination_round_trips_a_20_mb_snapshot_and_its_metadata() {
    let server = S3Server::start();
    let work = work_dir();
    let store = s3_store(&server, work.path()).await;
    assert_eq!(store.location(), "s3://backups/etcd/prod/kubernetes/");
    round_trip(&store, work.path()).await;
    let stored = server.object_file("etcd/prod/kubernetes/a-small.db");
    assert_eq!(std::fs::metadata(&stored).expect("the object under prefix/cluster/").len(), 1000);

    // The snapshot streamed up as a multipart upload of 8 MiB parts (3 for ~20 MB);
    // the small file and the metadata went up in one PUT each.
    let requests = server.requests();
    let key = format!("/{BUCKET}/etcd/prod/kubernetes/{SNAPSHOT}");
    let parts = requests
        .iter()
        .filter(|r| r.starts_with(&format!("PUT {key}?")) && r.contains("partNumber="))
        .count();
    assert_eq!(parts, SNAPSHOT_LEN.div_ceil(8 * 1024 * 1024), "{requests:#?}");
    let whole_puts = requests.iter().filter(|r| r.starts_with("PUT ") && !r.contains('?')).count();
    assert_eq!(whole_puts, 2, "{requests:#?}");
}

#[tokio::test]
async fn a_missing_object_in_a_directory_is_a_clear_not_found_error() {
    let work = work_dir();
    let store = directory_store(work.path()).await;
    missing_object(&store, work.path()).await;
}

#[tokio::test]
async fn a_missing_object_in_s3_is_a_clear_not_found_error() {
    let server = S3Server::start();
    let work = work_dir();
    let store = s3_store(&server, work.path()).await;
    missing_object(&store, work.path()).await;
}

#[tokio::test]
async fn a_directory_destination_refuses_object_names_that_are_not_plain_file_names() {
    let work = work_dir();
    let store = directory_store(work.path()).await;
    bad_names(&store, work.path()).await;
}

#[tokio::test]
async fn an_s3_destination_refuses_object_names_that_are_not_plain_file_names() {
    let server = S3Server::start();
    let work = work_dir();
    let store = s3_store(&server, work.path()).await;
    bad_names(&store, work.path()).await;
}

#[tokio::test]
async fn directory_backups_are_0600_files_in_a_0700_directory_with_no_temporary_files_left() {
    let work = work_dir();
    let store = directory_store(work.path()).await;
    let local = work.path().join("snapshot.db");
    write_pseudo_random(&local, 100_000);
    store.put_file(SNAPSHOT, &local).await.expect("put_file");
    store.put_bytes(METADATA, b"{}".to_vec()).await.expect("put_bytes");
    let dir = work.path().join("backups").join("kubernetes");
    assert_eq!(mode(&dir), 0o700);
    let entries: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("read_dir").map(|entry| entry.expect("entry").path()).collect();
    assert_eq!(entries.len(), 2, "only the two objects: {entries:?}");
    for entry in entries {
        assert_eq!(mode(&entry), 0o600, "{}", entry.display());
    }
}

#[tokio::test]
async fn a_file_staged_in_a_directory_destination_is_renamed_into_place_and_never_listed_before() {
    let work = work_dir();
    let store = directory_store(work.path()).await;
    let dir = store.staging_dir().expect("a directory destination stages in place").to_path_buf();
    assert_eq!(dir, work.path().join("backups").join("kubernetes"));
    let staged = dir.join(".backup-1-2.db.tmp");
    write_pseudo_random(&staged, 100_000);
    let sha = sha256_of(&staged);
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&staged).expect("stat"));
    assert_eq!(store.list().await.expect("list"), vec![], "a staged file is not an object");

    assert_eq!(store.put_moved(SNAPSHOT, &staged).await.expect("put_moved"), 100_000);

    let stored = dir.join(SNAPSHOT);
    assert!(!staged.exists(), "moved, not copied");
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&stored).expect("stat")), inode);
    assert_eq!(sha256_of(&stored), sha);
    assert_eq!(store.list().await.expect("list"), vec![(SNAPSHOT.to_owned(), 100_000)]);

    // From another filesystem (tmpfs): copied, complete.
    let shm = tempfile::Builder::new().prefix("etcd-warden-dest").tempdir_in("/dev/shm").expect("tmpfs dir");
    let local = shm.path().join("other.db");
    write_pseudo_random(&local, 5_000);
    let other_fs = |p: &Path| std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).expect("stat"));
    assert_ne!(other_fs(&local), other_fs(&dir), "/dev/shm is another filesystem here");
    assert_eq!(store.put_moved("b.db", &local).await.expect("put_moved"), 5_000);
    assert_eq!(sha256_of(&dir.join("b.db")), sha256_of(&local));
    let missing = work.path().join("missing.db");
    store.put_moved("c.db", &missing).await.expect_err("no such file");
    let names: Vec<String> = store.list().await.expect("list").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [SNAPSHOT, "b.db"]);
}

#[tokio::test]
async fn an_s3_destination_has_no_staging_directory_and_put_moved_uploads() {
    let server = S3Server::start();
    let work = work_dir();
    let store = s3_store(&server, work.path()).await;
    assert!(store.staging_dir().is_none());
    let local = work.path().join("snapshot.db");
    write_pseudo_random(&local, 100_000);
    assert_eq!(store.put_moved(SNAPSHOT, &local).await.expect("put_moved"), 100_000);
    assert_eq!(store.list().await.expect("list"), vec![(SNAPSHOT.to_owned(), 100_000)]);
}

#[tokio::test]
async fn a_wrong_s3_secret_key_is_a_clear_access_denied_error_without_the_key() {
    let server = S3Server::start();
    let work = work_dir();
    let wrong = "not-the-secret-key-4242";
    let destination = s3_destination(&server, work.path(), wrong);
    let store = BackupStore::open(&destination, &cluster()).await.expect("open makes no request");
    let err = store.put_bytes(METADATA, b"{}".to_vec()).await.expect_err("a wrong key is refused");
    let message = err.to_string();
    assert!(matches!(err, DestinationError::AccessDenied { .. }), "{message}");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(
        message.starts_with(
            "store s3://backups/etcd/prod/kubernetes/20261125T203000Z-rev1042.json: access denied"
        ),
        "{message}"
    );
    assert!(
        !message.contains(wrong) && !message.contains(SECRET_ACCESS_KEY),
        "the message leaks a key: {message}"
    );
    let err = store.list().await.expect_err("a wrong key is refused");
    assert!(matches!(err, DestinationError::AccessDenied { .. }), "{err}");
    let debug = format!("{store:?}");
    assert!(!debug.contains(wrong), "Debug leaks the key: {debug}");
}

#[tokio::test]
async fn listing_a_missing_bucket_is_a_permanent_error_naming_it() {
    let server = S3Server::start();
    let work = work_dir();
    let Destination::S3(mut s3) = s3_destination(&server, work.path(), SECRET_ACCESS_KEY) else {
        unreachable!("an S3 destination")
    };
    s3.bucket = "no-such-bucket".to_owned();
    let store = BackupStore::open(&Destination::S3(s3), &cluster()).await.expect("open");
    let err = store.list().await.expect_err("no bucket");
    assert!(!err.is_not_found(), "{err}");
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().starts_with("list s3://no-such-bucket/etcd/prod/kubernetes/: "), "{err}");
}

#[tokio::test]
async fn an_unusable_secret_key_file_is_a_clear_error_naming_the_file() {
    let server = S3Server::start();
    let work = work_dir();
    let destination = s3_destination(&server, work.path(), "  \n");
    let err = BackupStore::open(&destination, &cluster()).await.expect_err("an empty key file");
    let file = work.path().join("secret-key");
    assert_eq!(
        err.to_string(),
        format!(
            "read the secret access key file {} for s3://backups/etcd/prod/kubernetes/: the file is empty",
            file.display()
        )
    );
    std::fs::remove_file(&file).expect("remove the key file");
    let err = BackupStore::open(&destination, &cluster()).await.expect_err("a missing key file");
    assert!(err.to_string().contains(&file.display().to_string()), "{err}");
}

#[tokio::test]
async fn a_missing_local_file_is_a_clear_error_naming_it() {
    let server = S3Server::start();
    let work = work_dir();
    let missing = work.path().join("no-such-snapshot.db");
    for store in [directory_store(work.path()).await, s3_store(&server, work.path()).await] {
        let err = store.put_file(SNAPSHOT, &missing).await.expect_err("no local file");
        assert_eq!(err.to_string().split(':').next(), Some(format!("read {}", missing.display()).as_str()));
        assert!(store.list().await.expect("list").is_empty(), "{}: nothing stored", store.location());
    }
}
