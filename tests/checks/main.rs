//! The tests that run no etcd: the architecture of the source, the manifests and their
//! schema, the reference pages, the store's crash safety, the fuzzers' smoke runs and
//! the linearizability checker, the alert rules and the dashboard. One binary, one module per subject
//! (`cargo test --test checks reference::`).

mod architecture;
mod dcos_deployment;
mod fuzz_smoke;
mod linearizability;
mod manifest_invalid;
mod manifest_schema;
mod manifest_valid;
mod monitoring;
mod reference;
mod store_crash;
