//! The `EtcdCluster` manifest: raw serde types, and validation into [`DesiredCluster`].

mod desired;

pub use desired::*;

// TEMPORARY stub until the manifest module lands.
/// A loaded document.
pub struct LoadedManifest {
    /// Raw.
    pub raw: serde_json::Value,
    /// Validated.
    pub desired: DesiredCluster,
}
/// Stub.
pub fn load_file(_path: &std::path::Path) -> Result<Vec<LoadedManifest>, String> {
    Err("stub".into())
}
/// Stub.
pub fn schema() -> serde_json::Value {
    serde_json::Value::Null
}
/// Stub.
pub fn desired_from_json(_v: &serde_json::Value) -> Result<DesiredCluster, String> {
    Err("stub".into())
}
