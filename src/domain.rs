//! Domain newtypes shared by every stage of the pipeline.
//!
//! These types make illegal states unrepresentable: a `ClusterName` is always a DNS
//! label, a `PodName` is always `etcd-<index>`, a `MemberId` is the etcd member ID.
//! This module owns parsing of those identifiers and nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The cluster name is not a DNS label of 1 to 40 characters.
    #[error(
        "{0:?} is not allowed (a DNS label: 1-40 characters of a-z, 0-9 and '-', starting with a letter and not ending with '-')"
    )]
    ClusterName(String),
    /// The pod name is not `etcd-<index>`.
    #[error("{0:?} is not a member pod name (allowed: etcd-0 .. etcd-4)")]
    PodName(String),
    /// The backup ID is not one this controller makes.
    #[error("{0:?} is not a backup ID (allowed: an ID listed by `etcd-warden backups`, or latest)")]
    BackupId(String),
    /// The member ID is not hexadecimal.
    #[error("{0:?} is not an etcd member ID (allowed: 1-16 hexadecimal digits)")]
    MemberId(String),
}

/// The identity of a managed cluster: a DNS label of 1 to 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterName(String);

impl ClusterName {
    /// The longest name allowed.
    pub const MAX_LEN: usize = 40;

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClusterName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid { Ok(Self(s.to_owned())) } else { Err(NameError::ClusterName(s.to_owned())) }
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a member slot: `etcd-<index>`, the DC/OS pod name, also used as the etcd
/// member name. Ordered by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodName(u8);

impl PodName {
    /// The highest member index a cluster may have (5 members).
    pub const MAX_INDEX: u8 = 4;

    /// The pod of the given index, if it is within the supported range.
    pub fn new(index: u8) -> Option<Self> {
        (index <= Self::MAX_INDEX).then_some(Self(index))
    }

    /// The pods of a cluster with `count` members, in order.
    pub fn first(count: usize) -> impl Iterator<Item = PodName> {
        (0..count.min(usize::from(Self::MAX_INDEX) + 1)).map(|i| Self(i as u8))
    }

    /// The zero-based index of the pod.
    pub fn index(self) -> u8 {
        self.0
    }

    /// The DC/OS task name of the member's etcd process, `etcd-<index>-peer`.
    pub fn peer_task(self) -> String {
        format!("etcd-{}-peer", self.0)
    }
}

impl FromStr for PodName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("etcd-")
            .filter(|rest| rest.len() == 1)
            .and_then(|rest| rest.parse::<u8>().ok())
            .and_then(Self::new)
            .ok_or_else(|| NameError::PodName(s.to_owned()))
    }
}

impl fmt::Display for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd-{}", self.0)
    }
}

/// An etcd member ID, shown in hexadecimal like `etcdctl member list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl FromStr for MemberId {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 16 {
            return Err(NameError::MemberId(s.to_owned()));
        }
        u64::from_str_radix(s, 16).map(Self).map_err(|_| NameError::MemberId(s.to_owned()))
    }
}

/// A backup's identity: `<UTC time to the millisecond>-r<revision>`, e.g.
/// `20261125T203000123Z-r1042`.
/// Sorting IDs sorts backups by time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupId(String);

impl BackupId {
    /// The ID of a backup taken at `at` holding `revision`.
    pub fn new(at: jiff::Timestamp, revision: i64) -> Self {
        Self(format!("{}-r{revision}", at.strftime("%Y%m%dT%H%M%S%3fZ")))
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BackupId {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && s.as_bytes()[0].is_ascii_digit();
        if valid { Ok(Self(s.to_owned())) } else { Err(NameError::BackupId(s.to_owned())) }
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version of the desired state: grows by one on every accepted change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Generation(pub u64);

impl Generation {
    /// The generation after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(ClusterName);
string_serde!(PodName);
string_serde!(MemberId);
string_serde!(BackupId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_follow_dns_label_rules() {
        for ok in ["kubernetes", "a", "k8s-prod-1", &"a".repeat(40)] {
            assert!(ok.parse::<ClusterName>().is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "Kube", "1abc", "abc-", "a_b", "a.b", &"a".repeat(41)] {
            assert!(bad.parse::<ClusterName>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn pod_names_round_trip() {
        let pod: PodName = "etcd-2".parse().expect("valid pod");
        assert_eq!(pod.index(), 2);
        assert_eq!(pod.to_string(), "etcd-2");
        assert_eq!(pod.peer_task(), "etcd-2-peer");
        assert!("etcd-5".parse::<PodName>().is_err());
        assert!("etcd-01".parse::<PodName>().is_err());
        assert!("node-1".parse::<PodName>().is_err());
    }

    #[test]
    fn member_ids_print_as_hex() {
        let id: MemberId = "8e9e05c52164694d".parse().expect("valid id");
        assert_eq!(id.0, 0x8e9e05c52164694d);
        assert_eq!(id.to_string(), "8e9e05c52164694d");
        assert!("xyz".parse::<MemberId>().is_err());
    }
}
