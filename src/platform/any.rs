//! The platform a manifest names, behind one type, so that the controller runs every
//! cluster through the same generic code.

use std::path::PathBuf;

use super::dcos::DcosPlatform;
use super::local::LocalPlatform;
use super::{LaunchSpec, MemberUrls, Platform, PlatformError};
use crate::domain::PodName;
use crate::manifest::{DesiredCluster, PlatformSpec, TlsFiles};
use crate::model::capabilities::Capabilities;
use crate::model::platform::PlatformObservation;

/// The local platform, or DC/OS. The controller keeps one per cluster between passes
/// (the local platform's launch lock, the DC/OS login).
#[derive(Debug)]
pub enum AnyPlatform {
    /// `platform.local`.
    Local(Box<LocalPlatform>),
    /// `platform.dcos`.
    Dcos(Box<DcosPlatform>),
}

impl AnyPlatform {
    /// The one place a manifest's platform section becomes an adapter: the local
    /// platform keeping its members under `dir` (the cluster's platform directory) and
    /// starting them with the manifest's quota, or a DC/OS client for the service.
    ///
    /// # Errors
    /// When the DC/OS client cannot be made (an unreadable CA file).
    pub fn for_cluster(desired: &DesiredCluster, dir: PathBuf) -> Result<Self, PlatformError> {
        Ok(match &desired.platform {
            PlatformSpec::Local(spec) => Self::Local(Box::new(
                LocalPlatform::new(dir, spec.clone())
                    .with_quota_backend_bytes(desired.maintenance.quota_backend_bytes),
            )),
            PlatformSpec::Dcos(spec) => Self::Dcos(Box::new(DcosPlatform::new(spec, &desired.etcd)?)),
        })
    }
}

/// Calls the same method on whichever platform it is.
macro_rules! each {
    ($self:ident, $p:ident => $call:expr) => {
        match $self {
            AnyPlatform::Local($p) => $call,
            AnyPlatform::Dcos($p) => $call,
        }
    };
}

impl Platform for AnyPlatform {
    async fn observe(&self) -> Result<PlatformObservation, PlatformError> {
        each!(self, p => p.observe().await)
    }

    async fn changed(&self, observation: &PlatformObservation) {
        each!(self, p => p.changed(observation).await)
    }

    async fn member_urls(&self, pod: PodName) -> Result<MemberUrls, PlatformError> {
        each!(self, p => p.member_urls(pod).await)
    }

    async fn ensure_running(&self, pod: PodName, spec: &LaunchSpec) -> Result<(), PlatformError> {
        each!(self, p => p.ensure_running(pod, spec).await)
    }

    async fn ensure_stopped(&self, pod: PodName) -> Result<(), PlatformError> {
        each!(self, p => p.ensure_stopped(pod).await)
    }

    async fn ensure_wiped(&self, pod: PodName) -> Result<(), PlatformError> {
        each!(self, p => p.ensure_wiped(pod).await)
    }

    async fn ensure_forgotten(&self, pod: PodName) -> Result<(), PlatformError> {
        each!(self, p => p.ensure_forgotten(pod).await)
    }

    fn capabilities(&self) -> Capabilities {
        each!(self, p => p.capabilities())
    }

    async fn request_restart(&self, pod: PodName) -> Result<(), PlatformError> {
        each!(self, p => p.request_restart(pod).await)
    }

    async fn request_replace(&self, pod: PodName) -> Result<(), PlatformError> {
        each!(self, p => p.request_replace(pod).await)
    }

    async fn request_scale_up(&self, members: usize) -> Result<(), PlatformError> {
        each!(self, p => p.request_scale_up(members).await)
    }

    fn local_data_dir(&self, pod: PodName) -> Option<PathBuf> {
        each!(self, p => p.local_data_dir(pod))
    }

    fn client_tls_files(&self, generate: bool) -> Result<Option<TlsFiles>, PlatformError> {
        each!(self, p => p.client_tls_files(generate))
    }

    fn certificate_files(&self) -> Vec<PathBuf> {
        each!(self, p => p.certificate_files())
    }

    async fn metrics(&self, pod: PodName) -> Option<String> {
        each!(self, p => p.metrics(pod).await)
    }

    async fn log_tail(&self, pod: PodName, lines: usize) -> Result<Vec<String>, PlatformError> {
        each!(self, p => p.log_tail(pod, lines).await)
    }
}
