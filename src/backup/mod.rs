//! Backups: etcd snapshots streamed to files, verified by their hashes, stored at a
//! destination with a catalog record each (the records and the catalog's rules are
//! values, in `model::catalog`); retention; restore.

pub mod destination;
pub mod recover;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod snapshot;
