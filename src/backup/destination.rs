//! TEMPORARY directory-only stand-in until the destination module (file and S3) lands.

use std::path::{Path, PathBuf};

use crate::domain::ClusterName;
use crate::manifest::Destination;

/// Why a destination failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DestinationError(String);

/// Where a cluster's backups are stored.
#[derive(Debug, Clone)]
pub struct BackupStore {
    dir: PathBuf,
}

impl BackupStore {
    /// Opens the destination for one cluster.
    pub async fn open(destination: &Destination, cluster: &ClusterName) -> Result<Self, DestinationError> {
        match destination {
            Destination::Directory(dir) => {
                let dir = dir.join(cluster.as_str());
                crate::store::atomic::ensure_private_dir(&dir)
                    .map_err(|e| DestinationError(e.to_string()))?;
                Ok(Self { dir })
            }
            Destination::S3(_) => Err(DestinationError("s3 is not supported yet".into())),
        }
    }

    /// A human-readable location.
    pub fn location(&self) -> String {
        format!("{}/", self.dir.display())
    }

    /// Stores a local file.
    pub async fn put_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        let target = self.dir.join(name);
        tokio::fs::copy(local, &target).await.map_err(|e| DestinationError(e.to_string()))
    }

    /// Fetches an object into a local file.
    pub async fn get_file(&self, name: &str, local: &Path) -> Result<u64, DestinationError> {
        tokio::fs::copy(self.dir.join(name), local).await.map_err(|e| DestinationError(e.to_string()))
    }

    /// Stores a small object.
    pub async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), DestinationError> {
        crate::store::atomic::write_atomic(&self.dir.join(name), &bytes)
            .map_err(|e| DestinationError(e.to_string()))
    }

    /// Reads a small object.
    pub async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, DestinationError> {
        tokio::fs::read(self.dir.join(name)).await.map_err(|e| DestinationError(e.to_string()))
    }

    /// Every object with its size, sorted by name.
    pub async fn list(&self) -> Result<Vec<(String, u64)>, DestinationError> {
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(&self.dir).await.map_err(|e| DestinationError(e.to_string()))?;
        while let Some(entry) = dir.next_entry().await.map_err(|e| DestinationError(e.to_string()))? {
            let size = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
            out.push((entry.file_name().to_string_lossy().into_owned(), size));
        }
        out.sort();
        Ok(out)
    }

    /// Deletes an object.
    pub async fn delete(&self, name: &str) -> Result<(), DestinationError> {
        match tokio::fs::remove_file(self.dir.join(name)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DestinationError(e.to_string())),
            _ => Ok(()),
        }
    }
}
