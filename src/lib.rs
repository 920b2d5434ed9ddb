//! etcd-warden: a reconciling controller that keeps an etcd cluster alive.
#![forbid(unsafe_code)]

pub mod domain;
pub mod manifest;
