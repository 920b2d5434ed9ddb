//! The DC/OS platform: the members are the `etcd-N` pods of a DC/OS Kubernetes
//! service, run by its SDK scheduler on Mesos agents.
//!
//! `shapes/` parses the replies, `mapping` turns them into a
//! [`PlatformObservation`](crate::model::platform::PlatformObservation) (pure),
//! `auth/` logs in, `client` sends the requests through Admin Router, and
//! [`DcosPlatform`] puts them behind the [`Platform`](crate::platform::Platform) trait.
//! Reference: `shared/reference/dcos-api.md`; the mapping table: `docs/dcos.md`.

pub mod auth;
pub mod client;
pub mod mapping;
pub mod platform;
pub mod shapes;

pub use platform::DcosPlatform;

#[cfg(test)]
mod tests_client;
#[cfg(test)]
mod tests_client_plans;
#[cfg(test)]
mod tests_mapping;
#[cfg(test)]
mod tests_shapes;
