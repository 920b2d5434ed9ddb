//! Backup destinations: where snapshot files and their JSON metadata are stored.
//!
//! A [`BackupStore`] holds the objects of one cluster, under `<dir>/<cluster>/` on this
//! machine or under `<prefix>/<cluster>/` in an S3 bucket. Objects are plain file names
//! (`20261125T203000Z-rev1042.db`); large ones move as streams, never whole in memory.
//! Writes are atomic: an object appears complete or not at all (a renamed temporary
//! file, a single PUT or a completed multipart upload).
//!
//! This module moves bytes and nothing else: it does not name backups, verify them or
//! decide which to keep.

mod error;
mod file;
mod pending;
mod s3;

use std::fmt;
use std::path::Path;

use crate::domain::ClusterName;
use crate::manifest::Destination;
use file::DirectoryStore;
use s3::S3Store;

pub use error::DestinationError;

/// The longest object name allowed.
pub const MAX_NAME_LEN: usize = 200;

/// Refuses anything but a plain file name: 1 to [`MAX_NAME_LEN`] characters of
/// `A-Z a-z 0-9 . _ -`, not starting with `.` (dot names are temporary files).
///
/// # Errors
/// [`DestinationError::InvalidName`] for any other name.
pub fn check_name(name: &str) -> Result<(), DestinationError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    let valid =
        !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.starts_with('.') && name.bytes().all(allowed);
    if valid { Ok(()) } else { Err(DestinationError::InvalidName { name: name.to_owned() }) }
}

/// The backups of one cluster at one destination.
pub struct BackupStore {
    backend: Backend,
}

enum Backend {
    Directory(DirectoryStore),
    S3(S3Store),
}

impl fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupStore").field("location", &self.location()).finish()
    }
}

impl BackupStore {
    /// Opens the destination for one cluster: objects live under `<prefix>/<cluster>/`
    /// (S3) or `<dir>/<cluster>/` (directory, created 0700).
    ///
    /// S3 settings missing from the manifest come from the usual AWS environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, ...). Opening an S3 destination makes no
    /// request: wrong credentials show on the first operation.
    ///
    /// # Errors
    /// The directory cannot be created, the secret access key file cannot be read, or
    /// the S3 settings are unusable.
    pub async fn open(destination: &Destination, cluster: &ClusterName) -> Result<Self, DestinationError> {
        let backend = match destination {
            Destination::Directory(dir) => Backend::Directory(DirectoryStore::open(dir, cluster).await?),
            Destination::S3(s3) => Backend::S3(S3Store::open(s3, cluster).await?),
        };
        Ok(Self { backend })
    }

    /// A human-readable location, e.g. `s3://bucket/prefix/kubernetes/` or
    /// `/var/backups/kubernetes/`.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Directory(store) => store.location(),
            Backend::S3(store) => store.location().to_owned(),
        }
    }

    /// Stores the local file `local` as object `name`, streaming: the file is read in
    /// chunks and never held whole in memory. Returns the bytes stored.
    ///
    /// # Guarantees
    /// The object appears complete or not at all; a failed S3 multipart upload is aborted.
    /// A directory object is a 0600 file, fsynced before it is renamed into place.
    ///
    /// # Errors
    /// A bad name, an unreadable `local`, or a failure at the destination.
    pub async fn put_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.put_file(name, local).await,
            Backend::S3(store) => store.put_file(name, local).await,
        }
    }

    /// Deletes the staging files a daemon that is no longer running left in the
    /// destination directory (a crash mid-backup); returns their names. Nothing to do
    /// for S3 (an upload that never completed stores nothing).
    ///
    /// # Errors
    /// When the directory cannot be listed or a file deleted.
    pub async fn remove_stale_staging(&self) -> Result<Vec<String>, DestinationError> {
        match &self.backend {
            Backend::Directory(store) => store.remove_stale_staging().await,
            Backend::S3(_) => Ok(Vec::new()),
        }
    }

    /// A directory on this machine where a new object may be written before
    /// [`BackupStore::put_moved`] stores it: the destination directory itself, so that
    /// storing it is a rename. `None` for S3. A file written there must have a name
    /// starting with `.`, which [`BackupStore::list`] leaves out.
    pub fn staging_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Directory(store) => Some(store.dir()),
            Backend::S3(_) => None,
        }
    }

    /// Stores the local file `local`, which the caller has fsynced, as object `name`:
    /// by a rename when `local` is on the destination's filesystem (the directory is
    /// then fsynced), otherwise as [`BackupStore::put_file`] does. Returns the bytes
    /// stored. `local` may be gone afterwards.
    ///
    /// # Guarantees
    /// As [`BackupStore::put_file`]: the object appears complete or not at all.
    ///
    /// # Errors
    /// As [`BackupStore::put_file`].
    pub async fn put_moved(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.put_moved(name, local).await,
            Backend::S3(store) => store.put_file(name, local).await,
        }
    }

    /// Fetches object `name` into the local file `local` (created 0600), streaming.
    /// Returns the bytes fetched.
    ///
    /// # Guarantees
    /// `local` appears complete or not at all (a temporary file beside it is renamed).
    ///
    /// # Errors
    /// [`DestinationError::NotFound`] when the object does not exist; a bad name, an
    /// unwritable `local`, or a failure at the destination.
    pub async fn get_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.get_file(name, local).await,
            Backend::S3(store) => store.get_file(name, local).await,
        }
    }

    /// Stores a small object (the JSON metadata next to each snapshot) atomically.
    ///
    /// # Errors
    /// A bad name or a failure at the destination.
    pub async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.put_bytes(name, bytes).await,
            Backend::S3(store) => store.put_bytes(name, bytes).await,
        }
    }

    /// Fetches a small object whole.
    ///
    /// # Errors
    /// [`DestinationError::NotFound`] when the object does not exist; a bad name or a
    /// failure at the destination.
    pub async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.get_bytes(name).await,
            Backend::S3(store) => store.get_bytes(name).await,
        }
    }

    /// Every object name of this cluster with its size in bytes, sorted by name.
    /// Entries that are not objects (temporary files, sub-directories, keys with
    /// names [`check_name`] refuses) are left out.
    ///
    /// # Errors
    /// A failure at the destination.
    pub async fn list(&self) -> Result<Vec<(String, u64)>, DestinationError> {
        let mut objects = match &self.backend {
            Backend::Directory(store) => store.list().await?,
            Backend::S3(store) => store.list().await?,
        };
        objects.sort();
        Ok(objects)
    }

    /// Deletes an object; one that does not exist is not an error.
    ///
    /// # Errors
    /// A bad name or a failure at the destination.
    pub async fn delete(&self, name: &str) -> Result<(), DestinationError> {
        check_name(name)?;
        match &self.backend {
            Backend::Directory(store) => store.delete(name).await,
            Backend::S3(store) => store.delete(name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_are_accepted_and_others_refused() {
        for good in ["20261125T203000Z-rev1042.db", "20261125T203000Z-rev1042.json", "a", "x_y-z.1"] {
            assert!(check_name(good).is_ok(), "{good} refused");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a b", "é.db", "a\n", long.as_str()] {
            let err = check_name(bad).expect_err(bad);
            assert!(matches!(err, DestinationError::InvalidName { .. }), "{bad}: {err}");
            assert_eq!(err.kind(), crate::retry::ErrorKind::Permanent);
        }
    }
}
