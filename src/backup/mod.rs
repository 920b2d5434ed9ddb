//! Backups: etcd snapshots streamed to files, verified by their hashes, and restored
//! into members' data directories.

pub mod restore;
pub mod snapshot;
