//! Backups: etcd snapshots streamed to files, verified by their hashes.

pub mod destination;
pub mod snapshot;
