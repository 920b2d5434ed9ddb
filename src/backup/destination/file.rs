//! The directory destination: objects are 0600 files in `<dir>/<cluster>/` (0700).
//!
//! Every call runs on tokio's blocking pool. Copies go through `std::io::copy`, which
//! streams (on Linux inside the kernel, with `copy_file_range`); nothing holds a whole
//! snapshot in memory.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::DestinationError;
use super::check_name;
use super::pending::{PendingFile, sync_dir};
use crate::domain::ClusterName;
use crate::store::atomic::{ensure_private_dir, write_atomic};

/// The objects of one cluster in a local directory.
#[derive(Debug)]
pub(super) struct DirectoryStore {
    dir: PathBuf,
}

impl DirectoryStore {
    /// Creates `<base>/<cluster>/` with mode 0700 (and tightens it when it exists).
    pub(super) async fn open(base: &Path, cluster: &ClusterName) -> Result<Self, DestinationError> {
        let dir = base.join(cluster.as_str());
        let store = Self { dir };
        let dir = store.dir.clone();
        blocking(&store.dir, move || {
            ensure_private_dir(&dir).map_err(local_io("create the backup directory", &dir))
        })
        .await?;
        Ok(store)
    }

    /// Deletes the staging files (`.backup-<pid>-<millis>.db.tmp`) that a daemon which
    /// is no longer running left behind (it crashed mid-backup); a running process's
    /// are kept. Returns the names deleted.
    pub(super) async fn remove_stale_staging(&self) -> Result<Vec<String>, DestinationError> {
        let dir = self.dir.clone();
        blocking(&self.dir, move || {
            let entries = fs::read_dir(&dir).map_err(local_io("list the backup directory", &dir))?;
            let mut removed = Vec::new();
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(pid) = staging_pid(&name) else { continue };
                if Path::new("/proc").join(pid.to_string()).exists() {
                    continue;
                }
                let path = entry.path();
                fs::remove_file(&path).map_err(local_io("delete a stale staging file", &path))?;
                removed.push(name);
            }
            Ok(removed)
        })
        .await
    }

    /// The directory with a trailing `/`.
    pub(super) fn location(&self) -> String {
        format!("{}/", self.dir.display())
    }

    /// Copies `local` into the directory as `name`.
    pub(super) async fn put_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        let (from, to) = (local.to_path_buf(), self.dir.join(name));
        blocking(&self.dir, move || {
            let source = File::open(&from).map_err(local_io("read", &from))?;
            copy_into(source, &to)
        })
        .await
    }

    /// The directory that holds the objects.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renames `local` (fsynced by the caller) into place as `name` and fsyncs the
    /// directory; copies it when it is on another filesystem.
    pub(super) async fn put_moved(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        let (from, to, dir) = (local.to_path_buf(), self.dir.join(name), self.dir.clone());
        blocking(&self.dir, move || {
            let source = File::open(&from).map_err(local_io("read", &from))?;
            let size = source.metadata().map_err(local_io("read", &from))?.len();
            match fs::rename(&from, &to) {
                Ok(()) => sync_dir(&dir).map(|()| size).map_err(local_io("sync", &dir)),
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => copy_into(source, &to),
                Err(e) => Err(local_io("rename into place", &to)(e)),
            }
        })
        .await
    }

    /// Copies object `name` out to `local`.
    pub(super) async fn get_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        let (from, to) = (self.dir.join(name), local.to_path_buf());
        let not_found = self.not_found(name);
        blocking(&self.dir, move || {
            let source = match File::open(&from) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found),
                opened => opened.map_err(local_io("read", &from))?,
            };
            copy_into(source, &to)
        })
        .await
    }

    /// Writes a small object atomically.
    pub(super) async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), DestinationError> {
        let path = self.dir.join(name);
        blocking(&self.dir, move || write_atomic(&path, &bytes).map_err(local_io("write", &path))).await
    }

    /// Reads a small object.
    pub(super) async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, DestinationError> {
        let path = self.dir.join(name);
        let not_found = self.not_found(name);
        blocking(&self.dir, move || match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found),
            read => read.map_err(local_io("read", &path)),
        })
        .await
    }

    /// The regular files with object names, and their sizes.
    pub(super) async fn list(&self) -> Result<Vec<(String, u64)>, DestinationError> {
        let dir = self.dir.clone();
        blocking(&self.dir, move || {
            let mut objects = Vec::new();
            for entry in fs::read_dir(&dir).map_err(local_io("list", &dir))? {
                let entry = entry.map_err(local_io("list", &dir))?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                if check_name(&name).is_err() {
                    continue;
                }
                let meta = match entry.metadata() {
                    // Deleted between the listing and the stat: not an object any more.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    meta => meta.map_err(local_io("list", &entry.path()))?,
                };
                if meta.is_file() {
                    objects.push((name, meta.len()));
                }
            }
            Ok(objects)
        })
        .await
    }

    /// Removes object `name`; a missing one is fine.
    pub(super) async fn delete(&self, name: &str) -> Result<(), DestinationError> {
        let (dir, path) = (self.dir.clone(), self.dir.join(name));
        blocking(&self.dir, move || {
            match fs::remove_file(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                removed => removed.map_err(local_io("delete", &path))?,
            }
            sync_dir(&dir).map_err(local_io("sync", &dir))
        })
        .await
    }

    fn not_found(&self, name: &str) -> DestinationError {
        DestinationError::NotFound { location: self.location(), name: name.to_owned() }
    }
}

/// Streams `source` into a new private file that replaces `target` once complete.
fn copy_into(mut source: File, target: &Path) -> Result<u64, DestinationError> {
    let (pending, mut file) = PendingFile::create(target).map_err(local_io("create", target))?;
    let bytes = io::copy(&mut source, &mut file).map_err(local_io("write", pending.temp()))?;
    file.sync_all().map_err(local_io("sync", pending.temp()))?;
    pending.commit().map_err(local_io("rename into place", target))?;
    Ok(bytes)
}

/// Wraps an I/O error with what was being done to which path.
pub(super) fn local_io(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> DestinationError + use<> {
    let path = path.to_path_buf();
    move |source| DestinationError::Local { action, path, source }
}

/// The pid in a staging file's name (`.backup-<pid>-<millis>.db.tmp`), if it is one.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".backup-")?.strip_suffix(".db.tmp")?;
    let (pid, millis) = rest.split_once('-')?;
    millis.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Runs blocking file work on `path` off the async threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, DestinationError> + Send + 'static,
) -> Result<T, DestinationError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|join| {
        Err(DestinationError::Local {
            action: "run a file task on",
            path,
            source: io::Error::other(join.to_string()),
        })
    })
}
