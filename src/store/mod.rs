//! The store under `--state-dir`: desired state with its generation, status, events
//! and history, per cluster. Every write is atomic; files are 0600 in 0700 directories.
//!
//! ```text
//! clusters/<name>/desired.json   the applied manifest and its generation
//! clusters/<name>/status.json    the last computed status
//! clusters/<name>/events.json    the newest events (at most MAX_EVENTS)
//! clusters/<name>/history.json   facts seen over time (observe::History)
//! clusters/<name>/backups.json   the backup catalog (the destination holds each record too)
//! clusters/<name>/backup-failure.json  the last failed backup, until one succeeds
//! clusters/<name>/drill.json     the last restore drill's report
//! clusters/<name>/tmp/           temporary snapshots; a restore drill's scratch directory
//! clusters/<name>/platform/      the platform's own files (local members)
//! ```

pub mod atomic;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{ClusterName, Generation};
use crate::event::Event;
use crate::model::History;
use crate::model::backup::{BackupFailure, ScaleRefusal};
use crate::model::catalog::BackupRecord;
use crate::model::drill::DrillReport;
use crate::status::ClusterStatus;
use atomic::{ensure_private_dir, read_json, write_json};

/// How many events are kept per cluster.
pub const MAX_EVENTS: usize = 1000;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct StoreError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

impl StoreError {
    /// Whether the file was read but does not parse: it stays so until someone fixes
    /// it, so retrying cannot help.
    pub fn is_corrupt(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::InvalidData
    }

    /// Whether a retry can help: not for a corrupt file; for a disk hiccup, yes.
    pub fn retry(&self) -> crate::retry::ErrorKind {
        if self.is_corrupt() {
            crate::retry::ErrorKind::Permanent
        } else {
            crate::retry::ErrorKind::Transient
        }
    }
}

fn err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError { action, path, source }
}

/// The applied desired state of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDesired {
    /// Grows by one on every accepted change.
    pub generation: Generation,
    /// When this generation was applied.
    pub applied_at: Timestamp,
    /// The manifest as applied (JSON), validated again whenever it is read.
    pub manifest: serde_json::Value,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (and creates, 0700) the state directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let clusters = root.join("clusters");
        ensure_private_dir(root).map_err(err("create", root))?;
        ensure_private_dir(&clusters).map_err(err("create", &clusters))?;
        Ok(Self { root: root.to_path_buf() })
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one cluster.
    pub fn cluster_dir(&self, name: &ClusterName) -> PathBuf {
        self.root.join("clusters").join(name.as_str())
    }

    /// The directory the cluster's platform keeps its own files in.
    pub fn platform_dir(&self, name: &ClusterName) -> PathBuf {
        self.cluster_dir(name).join("platform")
    }

    fn file(&self, name: &ClusterName, file: &str) -> PathBuf {
        self.cluster_dir(name).join(file)
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        name: &ClusterName,
        file: &str,
    ) -> Result<Option<T>, StoreError> {
        let path = self.file(name, file);
        read_json(&path).map_err(err("read", &path))
    }

    fn write<T: Serialize>(&self, name: &ClusterName, file: &str, value: &T) -> Result<(), StoreError> {
        let dir = self.cluster_dir(name);
        ensure_private_dir(&dir).map_err(err("create", &dir))?;
        let path = self.file(name, file);
        write_json(&path, value).map_err(err("write", &path))
    }

    /// The names of every cluster with a desired state, sorted.
    ///
    /// # Errors
    /// When the state directory cannot be listed.
    pub fn clusters(&self) -> Result<Vec<ClusterName>, StoreError> {
        let dir = self.root.join("clusters");
        let mut names: Vec<ClusterName> = std::fs::read_dir(&dir)
            .map_err(err("list", &dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .filter(|n| self.file(n, "desired.json").exists())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The applied desired state.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn desired(&self, name: &ClusterName) -> Result<Option<StoredDesired>, StoreError> {
        self.read(name, "desired.json")
    }

    /// Stores `manifest` as the desired state. The generation grows only when the
    /// manifest differs from the stored one; returns it and whether it changed.
    ///
    /// # Errors
    /// When the store cannot be read or written; nothing is changed then.
    pub fn put_desired(
        &self,
        name: &ClusterName,
        manifest: serde_json::Value,
        now: Timestamp,
    ) -> Result<(Generation, bool), StoreError> {
        let current = self.desired(name)?;
        if let Some(current) = &current
            && current.manifest == manifest
        {
            return Ok((current.generation, false));
        }
        let last_seen = self.status(name)?.map(|s| s.observed_generation).unwrap_or_default();
        let generation = current.map(|c| c.generation).unwrap_or_default().max(last_seen).next();
        self.write(name, "desired.json", &StoredDesired { generation, applied_at: now, manifest })?;
        Ok((generation, true))
    }

    /// Removes the desired state and the last status (the cluster is no longer managed). With `purge`,
    /// everything of the cluster goes, its members' data included.
    ///
    /// # Errors
    /// When the files cannot be removed.
    pub fn remove(&self, name: &ClusterName, purge: bool) -> Result<(), StoreError> {
        let gone = |result: std::io::Result<()>, target: &Path| match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err("remove", target)(e)),
        };
        if purge {
            let dir = self.cluster_dir(name);
            return gone(std::fs::remove_dir_all(&dir), &dir);
        }
        // The status goes too: applied again, the cluster must not show the status of
        // before its deletion until its first pass (the history and events stay).
        for file in ["desired.json", "status.json"] {
            let target = self.file(name, file);
            gone(std::fs::remove_file(&target), &target)?;
        }
        Ok(())
    }

    /// The last status.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn status(&self, name: &ClusterName) -> Result<Option<ClusterStatus>, StoreError> {
        self.read(name, "status.json")
    }

    /// Stores the status.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn put_status(&self, status: &ClusterStatus) -> Result<(), StoreError> {
        self.write(&status.name, "status.json", status)
    }

    /// The recorded history.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn history(&self, name: &ClusterName) -> Result<History, StoreError> {
        Ok(self.read(name, "history.json")?.unwrap_or_default())
    }

    /// Stores the history.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn put_history(&self, name: &ClusterName, history: &History) -> Result<(), StoreError> {
        self.write(name, "history.json", history)
    }

    /// The backup catalog cached for the cluster, oldest first.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn backups(&self, name: &ClusterName) -> Result<Vec<BackupRecord>, StoreError> {
        let mut records: Vec<BackupRecord> = self.read(name, "backups.json")?.unwrap_or_default();
        records.sort_by(|a, b| (a.taken_at, &a.id).cmp(&(b.taken_at, &b.id)));
        Ok(records)
    }

    /// Stores the backup catalog.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn put_backups(&self, name: &ClusterName, records: &[BackupRecord]) -> Result<(), StoreError> {
        self.write(name, "backups.json", &records)
    }

    /// The last failed backup, unless a backup succeeded since.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn backup_failure(&self, name: &ClusterName) -> Result<Option<BackupFailure>, StoreError> {
        self.read(name, "backup-failure.json")
    }

    /// Records (or, with `None`, clears) the last failed backup.
    ///
    /// # Errors
    /// When it cannot be written or removed.
    pub fn put_backup_failure(
        &self,
        name: &ClusterName,
        failure: Option<&BackupFailure>,
    ) -> Result<(), StoreError> {
        self.write_or_remove(name, "backup-failure.json", failure)
    }

    /// The last member count change refused for want of a fresh backup, until an
    /// apply is accepted.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn scale_refusal(&self, name: &ClusterName) -> Result<Option<ScaleRefusal>, StoreError> {
        self.read(name, "scale-refusal.json")
    }

    /// Records (or, with `None`, clears) a refused member count change.
    ///
    /// # Errors
    /// When it cannot be written or removed.
    pub fn put_scale_refusal(
        &self,
        name: &ClusterName,
        refusal: Option<&ScaleRefusal>,
    ) -> Result<(), StoreError> {
        self.write_or_remove(name, "scale-refusal.json", refusal)
    }

    /// The last restore drill's report.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn last_drill(&self, name: &ClusterName) -> Result<Option<DrillReport>, StoreError> {
        self.read(name, "drill.json")
    }

    /// Records the last restore drill's report.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn put_last_drill(&self, name: &ClusterName, report: &DrillReport) -> Result<(), StoreError> {
        self.write(name, "drill.json", report)
    }

    fn write_or_remove<T: Serialize>(
        &self,
        name: &ClusterName,
        file: &str,
        value: Option<&T>,
    ) -> Result<(), StoreError> {
        if let Some(value) = value {
            return self.write(name, file, value);
        }
        let path = self.file(name, file);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// The kept events, oldest first.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn events(&self, name: &ClusterName) -> Result<Vec<Event>, StoreError> {
        Ok(self.read(name, "events.json")?.unwrap_or_default())
    }

    /// Appends events, dropping the oldest beyond [`MAX_EVENTS`].
    ///
    /// # Errors
    /// When the events cannot be read or written.
    pub fn add_events(&self, name: &ClusterName, new: &[Event]) -> Result<(), StoreError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut events = self.events(name)?;
        events.extend_from_slice(new);
        let excess = events.len().saturating_sub(MAX_EVENTS);
        events.drain(..excess);
        self.write(name, "events.json", &events)
    }
}
