//! The `EtcdCluster` manifest: raw serde types, and validation into [`DesiredCluster`].
//!
//! The pipeline is `load_file` / `parse_str` (text into [`Manifest`] documents) then
//! [`Manifest::validate`] (a `Manifest` into a [`DesiredCluster`]). Nothing downstream
//! of this module reads a `Manifest`; it reads the `DesiredCluster`.

pub mod desired;
mod desired_maintenance;
mod error;
mod load;
mod schema;
mod spec;
mod spec_backup;
mod spec_maintenance;
mod spec_tls;
mod spec_values;
mod validate;
mod validate_backup;
mod validate_maintenance;
mod validate_platform;

pub use desired::*;
pub use error::{FieldError, ManifestError, Position, SourceFormat};
pub use load::{LoadedManifest, load_file, parse_str};
pub use schema::{schema, schema_text};
pub use spec::{
    API_VERSION, ClusterSpec, DcosLogin, DcosSection, EtcdSection, KIND, LocalSection, Manifest, Metadata,
    PlatformSection, PolicySection, QuorumLoss, RecoverySection, ScaleUp, TlsSection,
};
pub use spec_backup::{BackupSection, RetentionSection, S3Options};
pub use spec_maintenance::{
    ByteSizeValue, DefragmentationSection, MaintenanceSection, MaintenanceWindowSection, NoSpace,
};
pub use spec_tls::{LocalTls, MemberTlsSection};
pub use spec_values::{BackupSchedule, Endpoints, HumanDuration, Ports};

#[cfg(test)]
mod validate_tests;

/// Validates one manifest document received as JSON (the API's body, or the stored
/// desired state) into a [`DesiredCluster`].
///
/// # Errors
/// One sentence naming the field and what is allowed.
pub fn desired_from_json(value: &serde_json::Value) -> Result<DesiredCluster, String> {
    let text = value.to_string();
    let mut docs = parse_str("request", &text).map_err(|e| e.to_string())?;
    match (docs.pop(), docs.is_empty()) {
        (Some(doc), true) => Ok(doc.desired),
        _ => Err("request: exactly one EtcdCluster document is allowed".to_owned()),
    }
}
