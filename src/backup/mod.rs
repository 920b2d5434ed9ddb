//! Backups: etcd snapshots streamed to files, verified by their hashes.

pub mod snapshot;
