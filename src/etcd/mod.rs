//! The etcd adapter: the controller's view of etcd through etcd-client, as values of
//! `model::etcd`, behind the [`EtcdApi`] trait so that the layers above can be tested
//! with a fake.
//!
//! Every call has a short timeout: an unresponsive member must never stall a
//! reconcile pass. This module reads and changes membership; it decides nothing.
//! etcd's refusals are classified here, once, into [`EtcdErrorKind`]s; callers decide
//! retries by kind, never by the text of an error.

mod admin;
mod http;
mod sample;
mod tls;

use std::time::Duration;

use futures::future::BoxFuture;

pub use admin::EtcdAdmin;
pub use tls::{ClientTls, TlsFileError, connect_options};

use crate::domain::MemberId;
use crate::model::etcd::{EndpointStatus, ListedMember};
use crate::retry::ErrorKind;

/// What went wrong in an etcd call, as far as the caller's choice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdErrorKind {
    /// The member could not be reached (connection refused, transport error).
    Unreachable,
    /// The member did not answer in time.
    Timeout,
    /// "etcdserver: unhealthy cluster": a membership change refused because the
    /// member counts a voter not connected for the last 5 s. Worth a retry.
    UnhealthyCluster,
    /// "etcdserver: member not found": the member is already gone.
    MemberNotFound,
    /// "etcdserver: can only promote a learner member": it is a voter already.
    NotALearner,
    /// "etcdserver: can only promote a learner member which is in sync with leader":
    /// the learner is still catching up. Worth a retry.
    LearnerNotInSync,
    /// "etcdserver: Peer URLs already exists": a member with that peer URL is listed.
    PeerUrlExists,
    /// "etcdserver: member ID already exist": the same peer URL was added within the
    /// same second (etcd derives the ID from the URLs and the time).
    MemberIdExists,
    /// "etcdserver: too many learner members in cluster".
    TooManyLearners,
    /// "etcdserver: no leader", or a request that timed out inside etcd.
    NoLeader,
    /// "etcdserver: mvcc: database space exceeded": the NOSPACE alarm.
    NoSpace,
    /// The member's etcd does not know the call (gRPC `Unimplemented`: etcd 3.3 has no
    /// `MemberPromote`), or ignored what the call asked (3.3 adds a voter when asked
    /// for a learner). Never worth a retry on the same version.
    Unsupported,
    /// Anything else.
    Other,
}

impl EtcdErrorKind {
    /// Whether etcd itself answered with this refusal, over a working connection
    /// (rather than not answering, or the connection failing).
    pub fn is_refusal(self) -> bool {
        !matches!(self, Self::Unreachable | Self::Timeout | Self::Other)
    }

    /// Whether a pass that failed on it can pass when retried. Every kind can: a step
    /// is planned again from a fresh observation, which shows what the refusal named
    /// (the member already gone or promoted, the URL listed, a learner ahead, the
    /// NOSPACE alarm, a member's version), and the planner decides by that; the rest
    /// pass with time (a peer reconnecting, an election, a learner catching up).
    pub fn retry(self) -> ErrorKind {
        match self {
            Self::Unreachable
            | Self::Timeout
            | Self::UnhealthyCluster
            | Self::NoLeader
            | Self::LearnerNotInSync
            | Self::Other => ErrorKind::Transient,
            Self::MemberNotFound
            | Self::NotALearner
            | Self::PeerUrlExists
            | Self::MemberIdExists
            | Self::TooManyLearners
            | Self::NoSpace
            | Self::Unsupported => ErrorKind::Transient,
        }
    }
}

impl std::fmt::Display for EtcdErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::UnhealthyCluster => "unhealthy cluster",
            Self::MemberNotFound => "member not found",
            Self::NotALearner => "not a learner",
            Self::LearnerNotInSync => "learner not in sync",
            Self::PeerUrlExists => "peer URL exists",
            Self::MemberIdExists => "member ID exists",
            Self::TooManyLearners => "too many learners",
            Self::NoLeader => "no leader",
            Self::NoSpace => "no space",
            Self::Unsupported => "unsupported by this etcd version",
            Self::Other => "other",
        };
        f.write_str(text)
    }
}

/// etcd's error descriptions (server/etcdserver/api/v3rpc/rpctypes), the way etcd's
/// own Go client maps a gRPC status back to an error. The longer of two that share a
/// prefix comes first.
const DESCRIPTIONS: &[(&str, EtcdErrorKind)] = &[
    ("etcdserver: unhealthy cluster", EtcdErrorKind::UnhealthyCluster),
    ("etcdserver: member not found", EtcdErrorKind::MemberNotFound),
    (
        "etcdserver: can only promote a learner member which is in sync with leader",
        EtcdErrorKind::LearnerNotInSync,
    ),
    ("etcdserver: can only promote a learner member", EtcdErrorKind::NotALearner),
    ("etcdserver: Peer URLs already exists", EtcdErrorKind::PeerUrlExists),
    ("etcdserver: member ID already exist", EtcdErrorKind::MemberIdExists),
    ("etcdserver: too many learner members in cluster", EtcdErrorKind::TooManyLearners),
    ("etcdserver: no leader", EtcdErrorKind::NoLeader),
    ("etcdserver: request timed out", EtcdErrorKind::NoLeader),
    ("etcdserver: mvcc: database space exceeded", EtcdErrorKind::NoSpace),
];

/// The kind of an etcd-client error.
pub fn classify(error: &etcd_client::Error) -> EtcdErrorKind {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            if let Some((_, kind)) = DESCRIPTIONS.iter().find(|(d, _)| message.starts_with(d)) {
                return *kind;
            }
            match status.code() {
                tonic::Code::Unavailable => EtcdErrorKind::Unreachable,
                tonic::Code::DeadlineExceeded => EtcdErrorKind::Timeout,
                tonic::Code::Unimplemented => EtcdErrorKind::Unsupported,
                _ => EtcdErrorKind::Other,
            }
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => EtcdErrorKind::Unreachable,
        _ => EtcdErrorKind::Other,
    }
}

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The member refused the call or could not be reached.
    #[error("{endpoint}: {source}")]
    Call {
        /// The member's client URL.
        endpoint: String,
        /// What it means for the caller.
        kind: EtcdErrorKind,
        /// The client error.
        source: etcd_client::Error,
    },
    /// The member answered too late.
    #[error("{endpoint}: no answer within {timeout:?}")]
    Timeout {
        /// The member's client URL.
        endpoint: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// An HTTP call to the member's client URL failed (`/version`, `/metrics`).
    #[error("{endpoint}: {source}")]
    Http {
        /// The member's client URL.
        endpoint: String,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
    /// A refusal without a client error behind it: an answer the adapter refuses (a
    /// voter where a learner was asked for), or a test fake's.
    #[error("{endpoint}: {kind}")]
    Refused {
        /// The member's client URL.
        endpoint: String,
        /// What it means for the caller.
        kind: EtcdErrorKind,
    },
}

impl EtcdError {
    /// A call's failure, classified.
    pub fn call(endpoint: &str, source: etcd_client::Error) -> Self {
        Self::Call { endpoint: endpoint.to_owned(), kind: classify(&source), source }
    }

    /// Whether a retry can help (see [`EtcdErrorKind::retry`]).
    pub fn retry(&self) -> ErrorKind {
        self.kind().retry()
    }

    /// What the failure means for the caller.
    pub fn kind(&self) -> EtcdErrorKind {
        match self {
            Self::Call { kind, .. } | Self::Refused { kind, .. } => *kind,
            Self::Timeout { .. } => EtcdErrorKind::Timeout,
            Self::Http { source, .. } if source.is_timeout() => EtcdErrorKind::Timeout,
            Self::Http { source, .. } if source.is_connect() => EtcdErrorKind::Unreachable,
            Self::Http { .. } => EtcdErrorKind::Other,
        }
    }
}

/// A boxed etcd call, so that `dyn EtcdApi` works.
pub type EtcdCall<'a, T> = BoxFuture<'a, Result<T, EtcdError>>;

/// The etcd calls the controller makes, by member client URL.
pub trait EtcdApi: Send + Sync {
    /// The client TLS material for `https://` members, if any: snapshots stream over
    /// their own connection with it.
    fn tls(&self) -> Option<&ClientTls> {
        None
    }
    /// The member's own status (`etcdctl endpoint status`).
    fn status<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, EndpointStatus>;
    /// The cluster's version as the member at `endpoint` knows it (`3.4.0`): the
    /// lowest its members run, once the leader has decided it.
    fn cluster_version<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, String>;
    /// The member list as the member at `endpoint` knows it.
    fn member_list<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<ListedMember>>;
    /// Adds a member with `peer_url` as a learner; returns its ID.
    fn add_learner<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId>;
    /// Adds a voting member (etcd 3.3, which has no learners) and returns its ID.
    fn add_voter<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId>;
    /// Removes a member.
    fn remove<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()>;
    /// Promotes a learner to a voter; etcd refuses until it is in sync.
    fn promote<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()>;
    /// The hash of the key-value store at `revision` (0: the latest), with the
    /// revision hashed.
    fn hash_kv<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, (u32, i64)>;
    /// Hands leadership to `to`; `endpoint` must be the leader.
    fn move_leader<'a>(&'a self, endpoint: &'a str, to: MemberId) -> EtcdCall<'a, ()>;
    /// The number of keys at `revision` (0: the latest).
    fn count_keys<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, u64>;
    /// Defragments the member at `endpoint`, and only it, waiting `timeout` at most.
    fn defragment<'a>(&'a self, endpoint: &'a str, timeout: std::time::Duration) -> EtcdCall<'a, ()>;
    /// Disarms every NOSPACE alarm of the cluster; returns the members whose alarm was
    /// disarmed.
    fn disarm_no_space<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<MemberId>>;
}
