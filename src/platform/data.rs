//! What a local member's data directory holds, read from the directory itself.

use std::path::{Path, PathBuf};

use crate::model::platform::DataState;

/// What a member's data directory holds: intact only with a WAL file and a database.
pub fn data_state(dir: &Path) -> DataState {
    let member = dir.join("member");
    let wal = member.join("wal");
    let unreadable =
        |path: &Path, e: std::io::Error| DataState::Unreadable(format!("{}: {e}", path.display()));
    match std::fs::read_dir(&wal) {
        Ok(entries) => {
            let has_wal =
                entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().ends_with(".wal"));
            if !has_wal {
                return DataState::Missing;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Missing, unless a directory above it cannot be read.
            return match std::fs::read_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => unreadable(dir, e),
                _ => DataState::Missing,
            };
        }
        Err(e) => return unreadable(&wal, e),
    }
    let db = member.join("snap").join("db");
    match std::fs::metadata(&db) {
        Ok(m) if m.is_file() => DataState::Intact,
        Ok(_) => DataState::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DataState::Missing,
        Err(e) => unreadable(&db, e),
    }
}

/// The suffix of a data directory a restore moved aside, before the unix seconds of the
/// restore (`backup::data_dirs`).
pub const ASIDE_SUFFIX: &str = ".before-restore-";

/// The directories a restore moved aside beside `data_dir`, oldest first, with the
/// bytes their files hold. Unreadable entries are left out.
pub fn kept_aside_of(data_dir: &Path) -> Vec<(PathBuf, u64)> {
    let (Some(parent), Some(name)) = (data_dir.parent(), data_dir.file_name()) else { return Vec::new() };
    let prefix = format!("{}{ASIDE_SUFFIX}", name.to_string_lossy());
    let mut kept: Vec<((u64, u32), PathBuf)> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let rest = file.strip_prefix(&prefix)?;
            let (stamp, n) = rest.split_once('-').unwrap_or((rest, "0"));
            Some(((stamp.parse().ok()?, n.parse().ok()?), e.path()))
        })
        .filter(|(_, p)| p.is_dir())
        .collect();
    kept.sort();
    kept.into_iter().map(|(_, path)| (path.clone(), tree_size(&path))).collect()
}

/// The bytes the files under `dir` hold.
fn tree_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
