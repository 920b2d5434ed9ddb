//! Why a platform operation failed: [`PlatformError`], and the adapter's own error
//! behind a failure of the platform's remote side, kept whole: [`RemoteError`].

use std::path::PathBuf;

use super::local;
use crate::domain::PodName;
use crate::retry::ErrorKind;

/// Why a platform operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A file or directory of the platform's state could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The member's process could not be started.
    #[error("cannot start {pod} ({binary}): {source}")]
    Spawn {
        /// The member slot.
        pod: PodName,
        /// The binary that was run.
        binary: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No free port could be found or a chosen port is out of range.
    #[error("cannot choose ports: {0}")]
    Ports(String),
    /// The pod is not part of this cluster.
    #[error("{0} is not a member slot of this cluster")]
    UnknownPod(PodName),
    /// A restart in place was asked for a member whose data is not intact.
    #[error("refusing to restart {pod} in place: its data directory {state}")]
    NoData {
        /// The member slot.
        pod: PodName,
        /// What its data directory holds.
        state: String,
    },
    /// The platform's recorded state is unreadable.
    #[error("corrupt platform state in {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The platform could not be reached, and a request was certainly not made
    /// (connection refused, an Admin Router error page before the scheduler): worth a
    /// retry, even of a request made only once.
    #[error("the platform could not be reached: {0}")]
    Unreachable(#[source] RemoteError),
    /// No answer in time, or the connection broke after the request left: a command
    /// may have been carried out, so it is never sent again on this alone.
    #[error("the platform did not answer in time: {0}")]
    Uncertain(#[source] RemoteError),
    /// The platform is busy with a change of its own (DC/OS: a Marathon deployment of
    /// the service runs): nothing was sent, and the request waits until it is over.
    #[error("the platform is busy: {0}")]
    Busy(#[source] RemoteError),
    /// The platform answered with an error, or with something this controller cannot
    /// read (an unexpected status or shape, a refused login).
    #[error("the platform refused: {0}")]
    Refused(#[source] RemoteError),
    /// The members' TLS certificates could not be generated or read.
    #[error("member TLS: {0}")]
    Tls(#[from] local::tls::PkiError),
    /// The platform does not offer this operation (its capabilities say so; the
    /// planner never asks for it).
    #[error("the platform does not {0}")]
    Unsupported(&'static str),
    /// The platform, as it is installed, cannot do what was asked (a package line
    /// without the option it needs); nothing was sent. It answers the same until the
    /// platform or the request changes.
    #[error("{0}")]
    Cannot(String),
}

impl PlatformError {
    /// Whether a retry can help: not for a corrupt state file, a slot the platform
    /// does not know, ports it cannot choose, or an etcd binary that is missing or not
    /// executable, until something changes; for the platform's remote side, what its
    /// own error said ([`RemoteError::retry`]); for everything else (a file written
    /// meanwhile, a member whose data is not there yet), yes.
    pub fn retry(&self) -> ErrorKind {
        match self {
            Self::Corrupt { .. } | Self::UnknownPod(_) | Self::Ports(_) => ErrorKind::Permanent,
            Self::Spawn { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                ErrorKind::Permanent
            }
            Self::Unreachable(remote)
            | Self::Uncertain(remote)
            | Self::Busy(remote)
            | Self::Refused(remote) => remote.retry(),
            Self::Io { .. }
            | Self::Spawn { .. }
            | Self::NoData { .. }
            | Self::Tls(_)
            | Self::Unsupported(_)
            | Self::Cannot(_) => ErrorKind::Transient,
        }
    }
}

/// What the platform's remote side (DC/OS: an HTTP call) failed with: the adapter's
/// own error, kept whole, and whether a retry can help, as that error said of itself.
/// It shows as its source does, and hands on the source's own source.
#[derive(Debug)]
pub struct RemoteError {
    error: Box<dyn std::error::Error + Send + Sync>,
    retry: ErrorKind,
}

impl RemoteError {
    /// The adapter's `error`, with whether a retry can help as it says.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static, retry: ErrorKind) -> Self {
        Self { error: Box::new(error), retry }
    }

    /// A reason of the adapter's own, with no error behind it, and whether a retry can
    /// help.
    pub fn reason(reason: impl Into<String>, retry: ErrorKind) -> Self {
        Self { error: reason.into().into(), retry }
    }

    /// Whether a retry can help, as the adapter's error said.
    pub fn retry(&self) -> ErrorKind {
        self.retry
    }

    /// The adapter's error, to be downcast to its type.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

/// A reason of the adapter's own, with no error behind it (a pod the scheduler lists
/// and then does not know, a deployment that runs): a retry can help.
impl From<String> for RemoteError {
    fn from(reason: String) -> Self {
        Self::reason(reason, ErrorKind::Transient)
    }
}

impl From<&str> for RemoteError {
    fn from(reason: &str) -> Self {
        Self::from(reason.to_owned())
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
