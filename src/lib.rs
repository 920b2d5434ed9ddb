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
//! Module map. The pure core, values and decisions with no I/O (checked by
//! `tests/checks/architecture.rs`): [`domain`] (newtypes), [`manifest::desired`] (the desired
//! state), [`model`] (what was observed and recorded: tasks, members, backups, the
//! history), [`plan`] (the rules of SPEC section 3), [`status`] (status from a pass).
//! Around it: [`manifest`] (spec types, loading, validation), the adapters
//! [`platform`] (where members run: local processes, DC/OS) and [`etcd`] (etcd-client
//! calls), [`observe`] (gathers one observation from them), [`act`] (takes a plan's
//! steps), [`backup`] (snapshots, destinations, restores), [`store`] (the state
//! directory), [`event`], [`metrics`], [`clock`] (the one time the controller decides
//! by), [`context`] (what one cluster's work runs with), [`retry`] (whether a retry can help), [`reconcile`] (one pass), [`controller`]
//! (workers, backoff, scheduled backups), [`api`] (HTTP) and [`cli`].

pub mod act;
pub mod api;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod context;
pub mod controller;
pub mod domain;
pub mod etcd;
pub mod event;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod plan;
pub mod platform;
pub mod reconcile;
pub mod retry;
pub mod status;
pub mod store;
#[doc(hidden)]
pub mod testing;
