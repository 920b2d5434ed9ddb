//! Restores from a snapshot: every member's data directory rebuilt by
//! `etcdctl snapshot restore` as the first state of a new cluster.
//!
//! This module owns the data directories during a restore and nothing else: it never
//! stops or starts members (the caller does, through the platform) and never deletes a
//! data directory (an existing one is renamed aside for the operator). Each member is
//! restored into a staging directory beside its data directory first, and the staging
//! directories are renamed into place only when every member's restore succeeded.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;

use super::snapshot::TrailerCheck;
use super::tool::SnapshotTool;
use crate::domain::PodName;
use crate::platform::data::ASIDE_SUFFIX;
pub use crate::platform::data::kept_aside_of;

/// The suffix of the staging directory beside a data directory.
const STAGING_SUFFIX: &str = ".restoring";
/// The suffix of the file beside a restored data directory that names the restore
/// (its token) that put it there, until that restore is done (`forget_restored`).
const RESTORED_BY_SUFFIX: &str = ".restored-by";

/// One member to restore: its name (pod), peer URL and data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreMember {
    /// The member slot, also the etcd member name.
    pub pod: PodName,
    /// The member's peer URL (`--initial-advertise-peer-urls`).
    pub peer_url: String,
    /// The member's etcd data directory.
    pub data_dir: PathBuf,
}

/// Why a restore, or the key count that checks it, failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The list of members cannot be restored as one cluster.
    #[error("invalid members to restore: {0}")]
    Members(String),
    /// The snapshot's trailing hash does not match its content (or it has none).
    #[error("snapshot {path} is corrupt: etcd's trailing sha-256 does not match its content")]
    Corrupt {
        /// The snapshot file.
        path: PathBuf,
    },
    /// A file or directory could not be read, created or renamed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `etcdctl snapshot restore` (`etcdutl` where etcd ships it) failed for one member.
    #[error("{tool} snapshot restore for {pod} into {staging}: {reason}")]
    Etcdctl {
        /// The tool that ran.
        tool: &'static str,
        /// The member.
        pod: PodName,
        /// The staging directory it restored into.
        staging: PathBuf,
        /// The tool's error output, or why it could not be run.
        reason: String,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError {
    let path = path.to_path_buf();
    move |source| RestoreError::Io { action, path, source }
}

/// Restores every member's data directory from one snapshot file as a new cluster
/// (`etcdctl snapshot restore FILE --name etcd-N --initial-cluster ... --initial-cluster-token TOKEN
/// --initial-advertise-peer-urls URL --data-dir DIR`). The members' processes must be
/// stopped by the caller before. Returns where the existing data directories were moved.
///
/// # Guarantees
/// - An existing data directory is never deleted: it is renamed aside to
///   `<data_dir>.before-restore-<unix seconds>` (with `-N` appended if that is taken).
///   The one exception: a data directory that an earlier attempt of the same restore
///   (the same `token`) put in place holds nothing but that restore's source; it is
///   replaced, never moved aside, so that retries never pile copies of the source
///   among the directories kept aside. `<data_dir>.restored-by` names the restore
///   that put a directory in place until `forget_restored` removes it.
/// - Every member is restored into `<data_dir>.restoring` first (a stale one from an
///   interrupted restore is removed); the staging directories are renamed into place
///   only when etcdctl succeeded for every member. A failure before that leaves every
///   data directory where it was; a failed rename is rolled back as far as possible.
/// - The restored data directories have mode 0700.
///
/// # Errors
/// `Members` for an empty list or a pod or data directory given twice; `Corrupt` when the
/// snapshot's trailing hash does not match (checked before etcdctl, which checks it too);
/// `Io` when the snapshot cannot be read or a directory cannot be created or renamed;
/// `Etcdctl` with etcdctl's error when it fails.
pub async fn restore_data_dirs(
    tool: &SnapshotTool,
    snapshot: &Path,
    members: &[RestoreMember],
    token: &str,
) -> Result<Vec<PathBuf>, RestoreError> {
    check_members(members)?;
    check_trailer(snapshot).await?;
    let initial_cluster: Vec<String> = members.iter().map(|m| format!("{}={}", m.pod, m.peer_url)).collect();
    let initial_cluster = initial_cluster.join(",");
    let mut staged = Vec::new();
    for member in members {
        let staging = sibling(&member.data_dir, STAGING_SUFFIX)?;
        let result = stage(tool, snapshot, member, &initial_cluster, token, &staging).await;
        staged.push(staging);
        if let Err(error) = result {
            discard(&staged).await;
            return Err(error);
        }
    }
    let result = swap_in(members, &staged, token).await;
    if result.is_err() {
        discard(&staged).await;
    }
    result
}

fn check_members(members: &[RestoreMember]) -> Result<(), RestoreError> {
    if members.is_empty() {
        return Err(RestoreError::Members("none given".into()));
    }
    for (i, member) in members.iter().enumerate() {
        let earlier = &members[..i];
        if earlier.iter().any(|m| m.pod == member.pod) {
            return Err(RestoreError::Members(format!("{} given twice", member.pod)));
        }
        if earlier.iter().any(|m| m.data_dir == member.data_dir) {
            return Err(RestoreError::Members(format!(
                "data directory {} given twice",
                member.data_dir.display()
            )));
        }
    }
    Ok(())
}

/// Reads the whole snapshot and checks etcd's trailing SHA-256: a clear, typed error
/// for a corrupt or missing file before anything is written.
async fn check_trailer(snapshot: &Path) -> Result<(), RestoreError> {
    let mut file = tokio::fs::File::open(snapshot).await.map_err(io("open snapshot", snapshot))?;
    let mut check = TrailerCheck::default();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).await.map_err(io("read snapshot", snapshot))?;
        if n == 0 {
            break;
        }
        check.update(&buffer[..n]);
    }
    let (ok, _, _) = check.finish();
    if ok { Ok(()) } else { Err(RestoreError::Corrupt { path: snapshot.to_path_buf() }) }
}

/// `<data_dir><suffix>` in the data directory's parent (a trailing `/` is ignored).
fn sibling(data_dir: &Path, suffix: &str) -> Result<PathBuf, RestoreError> {
    let name = data_dir
        .file_name()
        .ok_or_else(|| RestoreError::Members(format!("data directory {} has no name", data_dir.display())))?;
    let mut sibling = OsString::from(name);
    sibling.push(suffix);
    Ok(data_dir.with_file_name(sibling))
}

/// Runs `tool` (etcdutl where etcd ships it, else etcdctl) for one member into a fresh staging
/// directory, made 0700.
async fn stage(
    tool: &SnapshotTool,
    snapshot: &Path,
    member: &RestoreMember,
    initial_cluster: &str,
    token: &str,
    staging: &Path,
) -> Result<(), RestoreError> {
    if let Some(parent) = staging.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io("create", parent))?;
    }
    remove_dir(staging).await?;
    let failed = |reason: String| RestoreError::Etcdctl {
        tool: tool.name(),
        pod: member.pod,
        staging: staging.to_path_buf(),
        reason,
    };
    let output = tool
        .snapshot("restore")
        .arg(snapshot)
        .arg(format!("--name={}", member.pod))
        .arg(format!("--initial-cluster={initial_cluster}"))
        .arg(format!("--initial-cluster-token={token}"))
        .arg(format!("--initial-advertise-peer-urls={}", member.peer_url))
        .arg("--data-dir")
        .arg(staging)
        .output()
        .await
        .map_err(|e| failed(format!("cannot run {}: {e}", tool.name())))?;
    if !output.status.success() {
        return Err(failed(etcdctl_reason(&output.stderr)));
    }
    tokio::fs::set_permissions(staging, std::fs::Permissions::from_mode(0o700))
        .await
        .map_err(io("set permissions of", staging))
}

/// etcdctl's `Error: ...` lines (its log lines are noise), or all it wrote.
fn etcdctl_reason(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("Error: ")).collect();
    if errors.is_empty() { text.trim().to_owned() } else { errors.join("; ") }
}

/// Removes a staging directory; absent is fine.
async fn remove_dir(dir: &Path) -> Result<(), RestoreError> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove stale staging directory", dir)(e)),
    }
}

/// Best effort: the staging directories of a failed restore.
async fn discard(staged: &[PathBuf]) {
    for staging in staged {
        if let Err(error) = remove_dir(staging).await {
            tracing::warn!(%error, "could not clean up after a failed restore");
        }
    }
}

/// Moves every existing data directory aside and every staging directory into place;
/// on a failure undoes the renames done so far, newest first.
async fn swap_in(
    members: &[RestoreMember],
    staged: &[PathBuf],
    token: &str,
) -> Result<Vec<PathBuf>, RestoreError> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut aside = Vec::new();
    for (member, staging) in members.iter().zip(staged) {
        let result = swap_one(&member.data_dir, staging, stamp, token, &mut done).await;
        match result {
            Ok(Some(path)) => aside.push(path),
            Ok(None) => {}
            Err(error) => {
                for (from, to) in done.iter().rev() {
                    if let Err(e) = tokio::fs::rename(to, from).await {
                        tracing::error!(from = %to.display(), to = %from.display(), error = %e,
                            "could not undo a rename of a failed restore");
                    }
                }
                return Err(error);
            }
        }
    }
    for member in members {
        // The renames are done: a failed directory sync must not hide where the old
        // data went, so it is only reported.
        if let Err(error) = sync_parent(&member.data_dir).await {
            tracing::warn!(%error, "restored data directory may not survive a crash of the host");
        }
    }
    Ok(aside)
}

/// Renames `data_dir` aside if it exists and `staging` into its place, recording each
/// rename in `done`. Returns where the old data directory went.
async fn swap_one(
    data_dir: &Path,
    staging: &Path,
    stamp: u64,
    token: &str,
    done: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<Option<PathBuf>, RestoreError> {
    let marker = sibling(data_dir, RESTORED_BY_SUFFIX)?;
    let restored_by = tokio::fs::read_to_string(&marker).await.ok();
    let moved = if restored_by.as_deref().map(str::trim) == Some(token) && exists(data_dir).await? {
        // Put in place by an earlier attempt of this restore: a copy of its source.
        tracing::info!(dir = %data_dir.display(), "replacing the data an earlier attempt of this restore put in place");
        tokio::fs::remove_dir_all(data_dir)
            .await
            .map_err(io("remove an earlier attempt's data", data_dir))?;
        None
    } else if exists(data_dir).await? {
        let aside = free_aside_name(data_dir, stamp).await?;
        tokio::fs::rename(data_dir, &aside).await.map_err(io("move aside", data_dir))?;
        done.push((data_dir.to_path_buf(), aside.clone()));
        Some(aside)
    } else {
        None
    };
    tokio::fs::rename(staging, data_dir).await.map_err(io("move restored data into", data_dir))?;
    done.push((staging.to_path_buf(), data_dir.to_path_buf()));
    tokio::fs::write(&marker, token).await.map_err(io("record the restore beside", data_dir))?;
    Ok(moved)
}

/// Deletes the oldest directories kept aside beside each of `data_dirs` beyond the
/// newest `keep`: the retention of `recovery.keptAside`, applied once a restore is done.
/// Returns what it deleted.
pub async fn prune_kept_aside(data_dirs: &[PathBuf], keep: usize) -> Vec<PathBuf> {
    let mut deleted = Vec::new();
    for dir in data_dirs {
        let kept = kept_aside_of(dir);
        let excess = kept.len().saturating_sub(keep);
        for (old, _) in kept.into_iter().take(excess) {
            match tokio::fs::remove_dir_all(&old).await {
                Ok(()) => deleted.push(old),
                Err(error) => {
                    tracing::warn!(dir = %old.display(), %error, "cannot delete a directory kept aside")
                }
            }
        }
    }
    deleted
}

/// The restore is done: the files naming it beside the data directories go, and a
/// later restore moves these directories aside as any other.
pub async fn forget_restored(data_dirs: &[PathBuf]) {
    for dir in data_dirs {
        let Ok(marker) = sibling(dir, RESTORED_BY_SUFFIX) else { continue };
        match tokio::fs::remove_file(&marker).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(file = %marker.display(), %error, "cannot remove a finished restore's marker")
            }
        }
    }
}

/// `<data_dir>.before-restore-<stamp>`, or with `-N` appended when that is taken (a
/// rename onto an existing empty directory would silently replace it).
async fn free_aside_name(data_dir: &Path, stamp: u64) -> Result<PathBuf, RestoreError> {
    for n in 0..100u32 {
        let suffix =
            if n == 0 { format!("{ASIDE_SUFFIX}{stamp}") } else { format!("{ASIDE_SUFFIX}{stamp}-{n}") };
        let candidate = sibling(data_dir, &suffix)?;
        if !exists(&candidate).await? {
            return Ok(candidate);
        }
    }
    Err(io("find a free name to move aside", data_dir)(std::io::Error::from(
        std::io::ErrorKind::AlreadyExists,
    )))
}

async fn exists(path: &Path) -> Result<bool, RestoreError> {
    tokio::fs::try_exists(path).await.map_err(io("check", path))
}

/// Makes the renames in `path`'s directory durable.
async fn sync_parent(path: &Path) -> Result<(), RestoreError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = tokio::fs::File::open(parent).await.map_err(io("open", parent))?;
    dir.sync_all().await.map_err(io("sync", parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(index: u8, dir: &str) -> RestoreMember {
        RestoreMember {
            pod: PodName::new(index).expect("pod"),
            peer_url: format!("http://127.0.0.1:{}", 2380 + u16::from(index)),
            data_dir: PathBuf::from(dir),
        }
    }

    #[test]
    fn siblings_sit_beside_the_data_directory_even_with_a_trailing_slash() {
        let expected = PathBuf::from("/x/members/etcd-0.restoring");
        assert_eq!(sibling(Path::new("/x/members/etcd-0"), STAGING_SUFFIX).expect("name"), expected);
        assert_eq!(sibling(Path::new("/x/members/etcd-0/"), STAGING_SUFFIX).expect("name"), expected);
        assert!(sibling(Path::new("/"), STAGING_SUFFIX).is_err());
    }

    #[test]
    fn members_must_be_given_and_distinct() {
        assert!(matches!(check_members(&[]), Err(RestoreError::Members(_))));
        assert!(check_members(&[member(0, "/a"), member(1, "/b")]).is_ok());
        assert!(check_members(&[member(0, "/a"), member(0, "/b")]).is_err());
        assert!(check_members(&[member(0, "/a"), member(1, "/a")]).is_err());
    }

    #[test]
    fn etcdctl_errors_are_picked_out_of_its_log_lines() {
        let stderr =
            b"{\"level\":\"info\",\"msg\":\"restoring snapshot\"}\nError: expected sha256 [1], got [2]\n";
        assert_eq!(etcdctl_reason(stderr), "expected sha256 [1], got [2]");
        assert_eq!(etcdctl_reason(b"  something else  \n"), "something else");
    }
}
