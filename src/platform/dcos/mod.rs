//! The DC/OS platform, first increment: the shapes of the DC/OS APIs and the pure
//! mapping from what they say to a [`PlatformObservation`](crate::model::platform::PlatformObservation).
//!
//! Members are the `etcd-N` pods of a DC/OS Kubernetes service, run by its SDK
//! scheduler on Mesos agents. Reference: `shared/reference/dcos-api.md`; the mapping
//! table and what is not built yet: `docs/dcos.md`. The login (`auth`) and the
//! client (`client`) do I/O; the shapes and the mapping do none. No `Platform`
//! implementation yet.

pub mod auth;
pub mod client;
pub mod mapping;
pub mod shapes;

#[cfg(test)]
mod tests_client;
#[cfg(test)]
mod tests_client_plans;
#[cfg(test)]
mod tests_mapping;
#[cfg(test)]
mod tests_shapes;
