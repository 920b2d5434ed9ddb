//! The fuzz targets, shared by the `fuzz` bench (long runs) and `tests/checks/fuzz_smoke.rs`
//! (a few seconds of each, fixed seed). See docs/fuzzing.md.
#![allow(dead_code)]

pub mod engine;
pub mod mutate;

pub mod api;
pub mod backup;
pub mod bbolt;
pub mod dcos;
pub mod manifest;

use engine::Target;

pub const TARGETS: &[&str] = &["manifest", "api", "backup", "dcos"];

/// The target named `name`.
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "manifest" => Box::new(manifest::ManifestTarget::new()),
        "api" => Box::new(api::ApiTarget::new()),
        "backup" => Box::new(backup::BackupTarget::new()),
        "dcos" => Box::new(dcos::DcosTarget::new()),
        _ => return None,
    })
}
