//! The JSON Schema of the manifest, generated from the raw types.
//!
//! `manifests/schema.json` is this schema as committed; a test fails when it is stale.

use super::cluster::Manifest;

/// The JSON Schema of an `EtcdCluster` manifest (draft 2020-12).
pub fn schema() -> serde_json::Value {
    schemars::schema_for!(Manifest).to_value()
}

/// The schema as `manifests/schema.json` holds it: pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    format!("{:#}\n", schema())
}
