//! Why authentication failed, and which file an error is about. No error holds a secret.

use super::*;
use crate::retry::ErrorKind;

/// Which file an error is about, as the error message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The service account secret (JSON).
    ServiceAccountSecret,
    /// The password of a user login.
    Password,
    /// A ready authentication token.
    Token,
    /// The DC/OS CA bundle.
    Ca,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServiceAccountSecret => "DC/OS service account secret file",
            Self::Password => "DC/OS password file",
            Self::Token => "DC/OS token file",
            Self::Ca => "DC/OS CA file",
        })
    }
}

/// Why authentication failed. No variant holds a secret; [`AuthError::retry`] tells
/// whether retrying without a change can help.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credentials or CA file could not be read.
    #[error("cannot read the {kind} {path}: {source}")]
    ReadFile {
        /// Which file.
        kind: FileKind,
        /// Its path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A credentials or CA file holds something unusable.
    #[error("the {kind} {path} is not usable: {reason}")]
    BadFile {
        /// Which file.
        kind: FileKind,
        /// Its path.
        path: PathBuf,
        /// What is wrong, in words of ours (never the file's content).
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client for DC/OS: {}", root_cause(.0))]
    HttpClient(#[source] reqwest::Error),
    /// The service login token could not be signed.
    #[error("cannot sign the service login token of {uid:?}: {source}")]
    Sign {
        /// The service account.
        uid: String,
        /// The underlying error.
        source: jsonwebtoken::errors::Error,
    },
    /// The IAM could not be reached, or its reply not read.
    #[error("cannot reach the DC/OS IAM at {url}: {}", root_cause(.source))]
    Unreachable {
        /// The login URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The IAM refused the credentials (401 or 403).
    #[error("the DC/OS IAM at {url} refused the login of {uid:?} ({status}, {code}): check the credentials")]
    Refused {
        /// The login URL.
        url: String,
        /// Who tried to log in.
        uid: String,
        /// The HTTP status.
        status: StatusCode,
        /// The IAM's error code (`ERR_INVALID_CREDENTIALS`), or a phrase when it sent none.
        code: String,
    },
    /// The IAM answered with another unexpected status.
    #[error("the DC/OS IAM at {url} answered {status} to the login")]
    Unexpected {
        /// The login URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
    },
    /// The IAM's reply is not `{"token": "<JWT with exp>"}`.
    #[error("the DC/OS IAM at {url} sent a malformed login reply: {reason}")]
    MalformedReply {
        /// The login URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The token in the token file has expired.
    #[error("the token in the DC/OS token file {path} expired at {expired_at}: write a fresh token")]
    ExpiredTokenFile {
        /// The token file.
        path: PathBuf,
        /// The token's `exp`.
        expired_at: Timestamp,
    },
    /// DC/OS refused the token of the token file, and the file still holds it.
    #[error("DC/OS refused the token in the DC/OS token file {path} (401): write a fresh token")]
    RefusedTokenFile {
        /// The token file.
        path: PathBuf,
    },
}

impl AuthError {
    /// Whether a retry can help. Not until something changes (a file, the credentials,
    /// the IAM's configuration) for a file that cannot be read or used, a key that
    /// cannot sign, credentials or a token file refused: these wait for a change. Yes
    /// for network errors, 5xx, 429 and malformed replies.
    pub fn retry(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } | Self::MalformedReply { .. } => ErrorKind::Transient,
            Self::Unexpected { status, .. }
                if status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS =>
            {
                ErrorKind::Transient
            }
            Self::Unexpected { .. }
            | Self::ReadFile { .. }
            | Self::BadFile { .. }
            | Self::HttpClient(_)
            | Self::Sign { .. }
            | Self::Refused { .. }
            | Self::ExpiredTokenFile { .. }
            | Self::RefusedTokenFile { .. } => ErrorKind::Permanent,
        }
    }
}
