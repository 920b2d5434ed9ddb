//! The tests that run real etcd members, the daemon or the fake DC/OS: one binary, one
//! module per subject, built and linked once. Run one subject with its module path as
//! the filter (`cargo test --test e2e healing::`); `scripts/test` runs every one, and
//! the core subjects again on the other etcd versions users run.

mod support;

mod api_security;
mod backup;
mod backup_destination;
mod backup_restore;
mod bad_input;
mod dcos;
mod dcos_fake;
mod dcos_faults;
mod detection;
mod drill;
mod healing;
mod lifecycle;
mod local_platform;
mod maintenance;
mod maintenance_turns;
mod restore;
mod safety;
mod scaling;
mod snapshot_revision;
mod status_page;
mod tls;
mod versions;
mod wal_tail;
