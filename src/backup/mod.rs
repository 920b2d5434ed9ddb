//! Backups: etcd snapshots streamed to files, verified by their hashes, stored at a
//! destination with a catalog record each (the records and the catalog's rules are
//! values, in `model::catalog`); retention; restore.

pub mod adopt;
pub mod bbolt;
pub mod data_dirs;
pub mod destination;
pub mod drill;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod scratch;
pub mod snapshot;
pub mod tool;
pub mod wal;
