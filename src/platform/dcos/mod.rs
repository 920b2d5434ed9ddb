//! The DC/OS platform, first increment: the shapes of the DC/OS APIs and the pure
//! mapping from what they say to a [`PlatformObservation`](crate::model::platform::PlatformObservation).
//!
//! Members are the `etcd-N` pods of a DC/OS Kubernetes service, run by its SDK
//! scheduler on Mesos agents. Reference: `shared/reference/dcos-api.md`; the mapping
//! table and what is not built yet: `docs/dcos.md`. No HTTP client, login or
//! `Platform` implementation yet: nothing here does I/O.

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
