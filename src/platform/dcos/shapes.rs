//! Serde types for the DC/OS bodies the controller reads, and the few it sends, as
//! `shared/reference/dcos-api.md` gives them (section 9 wins over earlier sections).
//!
//! Lenient where the reference says a field may be missing or extra: unknown fields are
//! ignored, and fields some versions leave out are `Option` or default to empty. Strict
//! where a guess would pass silently: a Mesos state without `slaves` would make every
//! agent look lost, so `slaves` is required. Open sets of names (task states, plan
//! statuses) parse into enums whose `Other(String)` keeps a name this controller does
//! not know; the mapping refuses to guess what it means. No I/O: a reply comes in as
//! its HTTP status and body text.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An enum over an open set of names: each known name is a variant and any other name
/// is kept as `Other`. Serialises back to the same name.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A name this controller does not know (a newer release), kept as seen.
            Other(String),
        }

        impl $name {
            /// The name as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(name) => name,
                }
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                match name.as_str() {
                    $( $text => Self::$variant, )*
                    _ => Self::Other(name),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod cosmos;
pub mod files;
pub mod iam;
pub mod marathon;
pub mod mesos;
pub mod mesos_v1;
pub mod plans;
pub mod pods;
pub mod scheduler;

/// Why a reply could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// The body does not have the shape the reference gives.
    #[error("{what}: unexpected body at {path}: {source}")]
    Body {
        /// Which reply.
        what: &'static str,
        /// Where in the body (`tasks[1].status`).
        path: String,
        /// What serde_json found.
        source: serde_json::Error,
    },
    /// An HTTP status the endpoint does not answer with (for example Admin Router's
    /// 502 while the scheduler restarts).
    #[error("{what}: unexpected HTTP status {status}: {body}")]
    Status {
        /// Which reply.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A value is there but not one the reference allows.
    #[error("{what}: {reason}")]
    Value {
        /// Which reply or field.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Parses a JSON body into `T`, naming the field that does not fit.
///
/// # Errors
///
/// [`ShapeError::Body`] when the body is not JSON of that shape.
pub fn parse<T: DeserializeOwned>(what: &'static str, body: &str) -> Result<T, ShapeError> {
    let mut de = serde_json::Deserializer::from_str(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| ShapeError::Body {
        what,
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    de.end().map_err(|source| ShapeError::Body { what, path: ".".into(), source })?;
    Ok(value)
}

/// The start of a body, for error messages.
pub(crate) fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let body = body.trim();
    match body.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None => body.to_owned(),
    }
}

/// The SDK's `text/plain` 404 body, `<Thing> <name> not found` (`Pod etcd-9 not found`).
/// Admin Router's own 404 (while the scheduler moves) does not have this form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// `Pod`, `Plan`, `Phase` or `Step`.
    pub thing: String,
    /// The name that was asked for.
    pub name: String,
}

impl NotFound {
    /// Reads the SDK's 404 body; `None` when the body is something else.
    pub fn parse(body: &str) -> Option<Self> {
        let rest = body.trim().strip_suffix(" not found")?;
        let (thing, name) = rest.split_once(' ')?;
        let word = !thing.is_empty() && thing.chars().all(|c| c.is_ascii_alphabetic());
        (word && !name.is_empty() && !name.contains(char::is_whitespace))
            .then(|| Self { thing: thing.to_owned(), name: name.to_owned() })
    }
}

/// A reply of an SDK endpoint that answers 200 with a body or 404 as text.
#[derive(Debug, Clone, PartialEq)]
pub enum SdkReply<T> {
    /// 200 with its body.
    Found(T),
    /// The SDK's own 404: the pod or plan does not exist.
    NotFound(NotFound),
}

impl<T: DeserializeOwned> SdkReply<T> {
    /// Classifies a reply by its HTTP status and parses its body.
    ///
    /// # Errors
    ///
    /// A body of the wrong shape, or any other status (including a 404 that is not the
    /// SDK's): the caller retries rather than take it for an answer.
    pub fn from_http(what: &'static str, status: u16, body: &str) -> Result<Self, ShapeError> {
        match status {
            200 => parse(what, body).map(Self::Found),
            404 => NotFound::parse(body).map(Self::NotFound).ok_or_else(|| ShapeError::Status {
                what,
                status,
                body: excerpt(body),
            }),
            _ => Err(ShapeError::Status { what, status, body: excerpt(body) }),
        }
    }
}

/// A protobuf ID wrapper, `{"value": "..."}` (pod info, Mesos v1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdValue {
    /// The ID; empty for the task ID of a stub task.
    pub value: String,
}

/// A Mesos label. `value` is optional in the protobuf.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Label {
    /// The key (`task_type`, `permanently-failed`...).
    pub key: String,
    /// The value, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
