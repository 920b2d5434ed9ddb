//! What etcd members say: their own status and the member list, as values.

use crate::domain::MemberId;

/// What one member says about itself (`etcdctl endpoint status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    /// The member's ID.
    pub id: MemberId,
    /// The leader it follows; `None` when it knows no leader.
    pub leader: Option<MemberId>,
    /// The store revision it has applied.
    pub revision: i64,
    /// The size of its backend database.
    pub db_size_bytes: i64,
    /// Whether it is a learner.
    pub is_learner: bool,
    /// Errors it reports (alarms such as NOSPACE).
    pub errors: Vec<String>,
    /// Its etcd server version (`3.4.13`); learners need 3.4 on every member.
    pub version: String,
}

impl EndpointStatus {
    /// A member is healthy when it answers, follows a leader and reports no error.
    pub fn is_healthy(&self) -> bool {
        self.leader.is_some() && self.errors.is_empty()
    }

    /// Whether its version is 3.4 or later: it knows learners. An unreadable version
    /// does not.
    pub fn knows_learners(&self) -> bool {
        let mut parts = self.version.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (3, 4),
            _ => false,
        }
    }

    /// A healthy voting member: it counts towards the quorum.
    pub fn is_healthy_voter(&self) -> bool {
        self.is_healthy() && !self.is_learner
    }
}

/// One entry of the member list (`etcdctl member list`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedMember {
    /// The member's ID.
    pub id: MemberId,
    /// Its name; empty for a member that was added but has never started.
    pub name: String,
    /// Its peer URLs.
    pub peer_urls: Vec<String>,
    /// Its client URLs; empty until it has started.
    pub client_urls: Vec<String>,
    /// Whether it is a learner.
    pub is_learner: bool,
}

/// Keys read back from a member, spread over its keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySample {
    /// The revision they were read at.
    pub revision: i64,
    /// How many were read with their values.
    pub read: u64,
    /// Keys listed but not found when read (lossy UTF-8).
    pub missing: Vec<String>,
}
