//! The `EtcdCluster` manifest: raw serde types, and validation into [`DesiredCluster`].

mod desired;

pub use desired::*;
