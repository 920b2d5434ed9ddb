//! Why a destination operation failed, and whether trying again may help.

use crate::retry::ErrorKind;
use std::path::PathBuf;

/// Why a destination operation failed. Messages name the destination and the object,
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The object name is not a plain file name.
    #[error(
        "{name:?} is not a backup object name (allowed: 1-200 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.')"
    )]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// The object does not exist.
    #[error("backup object {location}{name} not found")]
    NotFound {
        /// The destination, as [`super::BackupStore::location`] shows it.
        location: String,
        /// The object.
        name: String,
    },
    /// A file on this machine could not be read or written.
    #[error("{action} {path}: {source}")]
    Local {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file with the S3 secret access key could not be used.
    #[error("read the secret access key file {path} for {location}: {reason}")]
    SecretKeyFile {
        /// The destination.
        location: String,
        /// The file named in the manifest.
        path: PathBuf,
        /// What went wrong (never the key itself).
        reason: String,
    },
    /// The S3 client could not be configured.
    #[error("configure the S3 destination {location}: {source}")]
    Configure {
        /// The destination.
        location: String,
        /// The client error.
        source: Box<object_store::Error>,
    },
    /// The server refused the credentials or the request.
    #[error(
        "{action} {location}{name}: access denied (check the access key ID, the secret access key and the bucket policy): {source}"
    )]
    AccessDenied {
        /// What was being done.
        action: &'static str,
        /// The destination.
        location: String,
        /// The object; empty for a listing.
        name: String,
        /// The client error.
        source: Box<object_store::Error>,
    },
    /// Another S3 failure: the network, the server or the protocol.
    #[error("{action} {location}{name}: {source}")]
    Remote {
        /// What was being done.
        action: &'static str,
        /// The destination.
        location: String,
        /// The object; empty for a listing.
        name: String,
        /// The client error.
        source: Box<object_store::Error>,
    },
    /// A download ended with fewer or more bytes than the object holds.
    #[error("fetch {location}{name}: received {received} bytes, the object has {expected}")]
    SizeMismatch {
        /// The destination.
        location: String,
        /// The object.
        name: String,
        /// Bytes received.
        received: u64,
        /// Bytes the server announced.
        expected: u64,
    },
}

impl DestinationError {
    /// Whether retrying may help.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Local { .. } | Self::SizeMismatch { .. } => ErrorKind::Transient,
            Self::Remote { source, .. } => remote_kind(source),
            Self::InvalidName { .. }
            | Self::NotFound { .. }
            | Self::SecretKeyFile { .. }
            | Self::Configure { .. }
            | Self::AccessDenied { .. } => ErrorKind::Permanent,
        }
    }

    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// Network failures, timeouts, throttling and server errors pass; other client errors
/// (a bad request, a missing bucket, an unsupported operation) do not.
fn remote_kind(source: &object_store::Error) -> ErrorKind {
    match source {
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. } => {
            match http_status(source) {
                Some(status) if (400..500).contains(&status) && !matches!(status, 408 | 429) => {
                    ErrorKind::Permanent
                }
                _ => ErrorKind::Transient,
            }
        }
        _ => ErrorKind::Permanent,
    }
}

/// The HTTP status of a failed request inside a client error, if the server answered.
///
/// object_store 0.14 types only some statuses (404, 401, 403, 304, 412) and reports the
/// others, and every status of a listing, as `Generic`, keeping the status in a private
/// type; the status line in the error chain's text (`... status code: 503 ...`) is then
/// the only witness. Tests pin this down.
pub(super) fn http_status(error: &object_store::Error) -> Option<u16> {
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if let Some((_, rest)) = text.split_once("status code: ")
            && let Some(status) = rest.get(..3).and_then(|digits| digits.parse().ok())
        {
            return Some(status);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::destination::check_name;

    fn generic(text: &str) -> Box<object_store::Error> {
        Box::new(object_store::Error::Generic { store: "S3", source: text.to_owned().into() })
    }

    fn remote(text: &str) -> DestinationError {
        let (location, name) = ("s3://b/p/c/".to_owned(), "x.db".to_owned());
        DestinationError::Remote { action: "store", location, name, source: generic(text) }
    }

    #[test]
    fn errors_name_the_object_and_start_lowercase() {
        let err = DestinationError::NotFound { location: "s3://b/p/c/".into(), name: "x.db".into() };
        assert_eq!(err.to_string(), "backup object s3://b/p/c/x.db not found");
        assert!(err.is_not_found());
        let err = check_name("a/b").expect_err("refused");
        assert!(err.to_string().starts_with("\"a/b\" is not a backup object name"));
    }

    #[test]
    fn server_errors_and_network_failures_are_transient_and_client_errors_permanent() {
        let status = |code: &str| {
            format!(
                "Error performing PUT http://h/b/k - Server returned non-2xx status code: {code}: <Error/>"
            )
        };
        assert_eq!(remote(&status("503 Service Unavailable")).kind(), ErrorKind::Transient);
        assert_eq!(remote(&status("429 Too Many Requests")).kind(), ErrorKind::Transient);
        assert_eq!(remote(&status("400 Bad Request")).kind(), ErrorKind::Permanent);
        assert_eq!(
            remote("Error performing PUT http://h/b/k - error sending request").kind(),
            ErrorKind::Transient
        );
        assert_eq!(http_status(&generic(&status("403 Forbidden"))), Some(403));
    }
}
