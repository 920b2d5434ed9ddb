//! Whether a retry can help. Each error type says it of itself (`retry`, or `kind` on
//! the errors of a pass and of the controller, which ask their sources): the worker
//! retries a transient failure with backoff and waits for a change after a permanent
//! one. Nothing else decides it.

/// Whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// It may pass next time (etcd refused for now, a member is away, a disk hiccup):
    /// retried with backoff.
    Transient,
    /// It stays until something changes (an invalid stored manifest, a missing etcd
    /// binary, a corrupt state file): the worker waits for a change.
    Permanent,
}

impl ErrorKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }
}
