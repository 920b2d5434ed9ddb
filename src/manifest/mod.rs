//! The `EtcdCluster` manifest: raw serde types, and validation into [`DesiredCluster`].
//!
//! The pipeline is `load_file` / `parse_str` (text into [`Manifest`] documents) then
//! [`Manifest::validate`] (a `Manifest` into a [`DesiredCluster`]). Nothing downstream
//! of this module reads a `Manifest`; it reads the `DesiredCluster`.
//!
//! One file per section of the manifest (`cluster` for the document, `members` for the
//! member count, `platform`, `tls`, `etcd`, `backup`, `policy`, `recovery`,
//! `maintenance`), each
//! with the section as written, as validated, and the rules between; `check` is how
//! validation collects errors, `values` the values of more than one shape that several
//! sections share, `load` and `error` the reading of a text and what a refusal says.

mod backup;
mod check;
mod cluster;
mod error;
mod etcd;
mod load;
mod maintenance;
mod members;
mod platform;
mod policy;
mod recovery;
mod schema;
mod tls;
mod values;

/// The validated desired state: what every stage after validation reads, and all it
/// reads (`tests/checks/architecture.rs` holds the core to it). Each type lives with its
/// section; none can hold a value the manifest's rules refuse.
pub mod desired {
    pub use super::backup::{BackupPolicy, Destination, Retention, S3Credentials, S3Destination, Schedule};
    pub use super::cluster::{DesiredCluster, ReconcileMode};
    pub use super::etcd::{EndpointsSpec, EtcdAccess};
    pub use super::maintenance::{
        Defragmentation, ETCD_DEFAULT_QUOTA_BYTES, Maintenance, MaintenanceWindow, NoSpacePolicy,
    };
    pub use super::members::MemberCount;
    pub use super::platform::{DcosCredentials, DcosSpec, LocalSpec, LocalTlsSpec, PlatformSpec, PortsSpec};
    pub use super::policy::{Policy, QuorumLossPolicy, ScaleUpPolicy};
    pub use super::recovery::RecoveryWindows;
    pub use super::tls::TlsFiles;
}

pub use backup::{BackupSection, RetentionSection, S3Options};
pub use cluster::{API_VERSION, ClusterSpec, KIND, Manifest, Metadata};
pub use desired::*;
pub use error::{FieldError, ManifestError, Position, SourceFormat};
pub use etcd::{EtcdSection, TlsSection};
pub use load::{LoadedManifest, load_file, parse_str};
pub use maintenance::{DefragmentationSection, MaintenanceSection, MaintenanceWindowSection};
pub use platform::{DcosLogin, DcosSection, LocalSection, PlatformSection};
pub use policy::{NoSpace, PolicySection, QuorumLoss, ScaleUp};
pub use recovery::RecoverySection;
pub use schema::{schema, schema_text};
pub use tls::{LocalTls, MemberTlsSection};
pub use values::{BackupSchedule, ByteSizeValue, Endpoints, HumanDuration, Ports};

#[cfg(test)]
mod tests;

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
