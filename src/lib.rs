//! etcd-warden: a reconciling controller that keeps an etcd cluster alive.
//!
//! The pipeline, once per pass and per cluster:
//!
//! ```text
//! manifest --validate--> DesiredCluster
//! platform + etcd --observe--> Observed (+ History of what was seen over time)
//! plan(desired, observed, history, now) --> Plan      (pure: rules of SPEC section 3)
//! act(plan) --> ensure_* platform calls               (idempotent steps)
//! status::compute --> ClusterStatus, events           (recorded in the store)
//! ```
//!
//! Module map: [`manifest`] (spec types, validation), [`observe`] (platforms, etcd,
//! history), [`plan`] (pure decisions), [`act`], [`reconcile`] (one pass),
//! [`controller`] (workers, backoff), [`status`], [`event`], [`store`] (state dir),
//! [`api`] (HTTP), [`metrics`], [`cli`].
#![forbid(unsafe_code)]

pub mod act;
pub mod api;
pub mod backup;
pub mod cli;
pub mod controller;
pub mod domain;
pub mod event;
pub mod manifest;
pub mod metrics;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod store;
