//! The `Platform` trait: where members run, as domain types.
//!
//! An implementation turns its platform's own shapes (processes and directories, or
//! DC/OS pods, tasks and agents) into [`PlatformObservation`] and carries out the few
//! member operations the reconciler needs. Every operation is idempotent: asking for a
//! state that already holds succeeds without doing anything.

mod any;
pub mod certificates;
pub mod data;
pub mod dcos;
mod error;
pub mod local;

pub use any::AnyPlatform;
pub use error::{PlatformError, RemoteError};

use std::future::Future;
use std::path::PathBuf;

use crate::domain::PodName;
use crate::manifest::TlsFiles;
use crate::model::capabilities::Capabilities;
use crate::model::platform::PlatformObservation;

/// Where a member is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUrls {
    /// The client URL (`--advertise-client-urls`).
    pub client: String,
    /// The peer URL (`--initial-advertise-peer-urls`).
    pub peer: String,
}

/// How a member joins when its data directory is empty. A member with data ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Every member's peer URL: `name=url` pairs of etcd's `--initial-cluster`.
    pub initial_cluster: Vec<(PodName, String)>,
    /// Whether the member forms a new cluster or joins an existing one.
    pub state: InitialClusterState,
}

/// etcd's `--initial-cluster-state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialClusterState {
    /// Form a new cluster; the token keeps two bootstraps apart.
    New {
        /// The `--initial-cluster-token`.
        token: String,
    },
    /// Join a cluster that already lists this member, with an empty data directory
    /// (a replacement or a new member just added).
    Existing,
    /// Start again on the member's own data (restart in place). The platform refuses
    /// when the data is not intact: etcd would otherwise rejoin under its old member ID
    /// with its raft state forgotten.
    Restart,
}

/// Where members run. The reconciler does not know which implementation it talks to.
pub trait Platform: Send + Sync + 'static {
    /// Observes every member slot: task state, agent state and addresses.
    fn observe(&self) -> impl Future<Output = Result<PlatformObservation, PlatformError>> + Send;

    /// Resolves when something `observation` saw changes by itself, so that the worker
    /// looks again at once rather than at its next resync: on the local platform, when
    /// any member process it saw running exits. A platform that cannot tell never
    /// resolves, and its changes are noticed at the resync. Dropping the future stops
    /// the wait and frees what it held (a pidfd per process).
    fn changed(&self, observation: &PlatformObservation) -> impl Future<Output = ()> + Send;

    /// The member's client and peer URLs, assigned now if the slot has none yet.
    fn member_urls(&self, pod: PodName) -> impl Future<Output = Result<MemberUrls, PlatformError>> + Send;

    /// Ensures the member's process runs. A member with data restarts in place and
    /// ignores `spec`; an empty member starts as `spec` says.
    fn ensure_running(
        &self,
        pod: PodName,
        spec: &LaunchSpec,
    ) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Ensures the member's process is stopped. Data is kept.
    fn ensure_stopped(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Ensures the member's process is stopped and its data directory is gone.
    fn ensure_wiped(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Forgets a member slot that was retired (scale-down): its addresses, its process
    /// record. Its data must be gone already.
    fn ensure_forgotten(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// What the platform does by itself and lets the controller do.
    fn capabilities(&self) -> Capabilities;

    /// Asks the platform to restart the member's pod where it is (DC/OS: `POST
    /// /v1/pod/<p>/restart`). A platform whose members the controller restarts itself
    /// refuses.
    fn request_restart(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Asks the platform to replace the member's pod on a new agent, changing etcd
    /// membership itself (DC/OS: `POST /v1/pod/<p>/replace`). A platform whose
    /// membership the controller changes refuses.
    fn request_replace(&self, pod: PodName) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Asks the platform to grow the cluster to `members` by itself (DC/OS: a Cosmos
    /// update setting `kubernetes.high_availability: true`). A platform whose members
    /// the controller adds refuses.
    fn request_scale_up(&self, members: usize) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Where the member's data directory lives on this machine, if it does (the local
    /// platform); `None` where the data lives on a remote agent.
    fn local_data_dir(&self, pod: PodName) -> Option<PathBuf>;

    /// What the member's metrics port answers (etcd's plain HTTP `/metrics`), where the
    /// platform has one; `None` where it has none, or it does not answer. Asked only of
    /// members whose client port fails.
    fn metrics(&self, _pod: PodName) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(None)
    }

    /// The client certificate the platform made for the controller to reach its
    /// members with (the local platform's `tls: auto`), generated now if there is none
    /// yet and `generate` says so (a dry run generates nothing); none where the
    /// platform makes none.
    ///
    /// # Errors
    /// When it cannot be generated, or a file of an existing one is missing.
    fn client_tls_files(&self, _generate: bool) -> Result<Option<TlsFiles>, PlatformError> {
        Ok(None)
    }

    /// The certificate files the platform keeps for its members (their CA, server and
    /// client certificates), for their expiry; none where it keeps none.
    fn certificate_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// The last `lines` lines of the member's log, for status and events.
    fn log_tail(
        &self,
        pod: PodName,
        lines: usize,
    ) -> impl Future<Output = Result<Vec<String>, PlatformError>> + Send;
}
