//! What a local member's data directory holds, read from the directory itself.

use std::path::Path;

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
