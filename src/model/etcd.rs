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
    /// How much of the database holds data (`dbSizeInUse`); the rest is free pages that
    /// only a defragmentation gives back. 0 where the member does not say (etcd 3.3).
    pub db_size_in_use_bytes: i64,
    /// The quota it was started with (`--quota-backend-bytes`), where it says so
    /// (etcd 3.6 and later); 0 otherwise.
    pub db_size_quota_bytes: i64,
    /// Whether it is a learner.
    pub is_learner: bool,
    /// Errors it reports (alarms such as NOSPACE).
    pub errors: Vec<String>,
    /// Its etcd server version (`3.4.13`); learners need 3.4 on every member.
    pub version: String,
    /// The ID of the etcd cluster it belongs to (its response header); 0 when unknown.
    pub cluster_id: u64,
    /// It did not answer a serializable read within 250 ms, though it answered its
    /// status: it is defragmenting (etcd blocks a member's reads and writes meanwhile,
    /// and goes on after a client that asked for it gave up), or overloaded. Maintenance
    /// pauses no other member meanwhile.
    pub slow_reads: bool,
}

impl EndpointStatus {
    /// A member is healthy when it answers, follows a leader and reports no error
    /// other than a NOSPACE alarm. A member under NOSPACE refuses writes but still
    /// answers, serves reads and votes: it counts for the quorum, and the alarm has
    /// its own condition (`NoSpace`). Any other error (a CORRUPT alarm included)
    /// makes it unhealthy.
    pub fn is_healthy(&self) -> bool {
        self.leader.is_some() && self.errors.iter().all(|e| Alarm::of_error(e) == Some(Alarm::NoSpace))
    }

    /// The alarms it reports, parsed from its errors (`memberID:N alarm:NOSPACE `).
    pub fn alarms(&self) -> Vec<Alarm> {
        self.errors.iter().filter_map(|e| Alarm::of_error(e)).collect()
    }

    /// Whether it reports the NOSPACE alarm (cluster-wide: every member lists it).
    pub fn has_no_space_alarm(&self) -> bool {
        self.alarms().contains(&Alarm::NoSpace)
    }

    /// The bytes a defragmentation would give back: free pages of its database.
    /// 0 where the member does not say how much is in use.
    pub fn reclaimable_bytes(&self) -> i64 {
        if self.db_size_in_use_bytes <= 0 {
            return 0;
        }
        (self.db_size_bytes - self.db_size_in_use_bytes).max(0)
    }

    /// The share of its database that is free pages (0.0 to 1.0).
    pub fn fragmentation(&self) -> f64 {
        if self.db_size_bytes <= 0 {
            return 0.0;
        }
        // Sizes of real databases are far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let share = self.reclaimable_bytes() as f64 / self.db_size_bytes as f64;
        share
    }

    /// Whether its version is 3.4 or later: it knows learners. An unreadable version
    /// does not.
    pub fn knows_learners(&self) -> bool {
        major_minor(&self.version).is_some_and(|v| v >= LEARNERS_FROM)
    }

    /// A healthy voting member: it counts towards the quorum.
    pub fn is_healthy_voter(&self) -> bool {
        self.is_healthy() && !self.is_learner
    }
}

/// A byte count for people: `120.5 MiB`.
pub fn human_bytes(bytes: i64) -> String {
    bytesize::ByteSize::b(u64::try_from(bytes).unwrap_or_default()).display().iec().to_string()
}

/// The first etcd version with learners.
pub const LEARNERS_FROM: (u32, u32) = (3, 4);

/// The major and minor numbers of an etcd version (`3.4.23`, `3.4.0`); none when it
/// does not start with two numbers.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
        _ => None,
    }
}

/// An etcd alarm a member reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alarm {
    /// The database reached its quota (`--quota-backend-bytes`): writes are refused
    /// until space is given back and the alarm is disarmed.
    NoSpace,
    /// A member's data differs from the others' (corruption check).
    Corrupt,
}

impl Alarm {
    /// The alarm an error of `etcdctl endpoint status` names, if any: etcd writes
    /// them as `memberID:11490618726533230342 alarm:NOSPACE `.
    pub fn of_error(error: &str) -> Option<Self> {
        let name = error.split_whitespace().find_map(|word| word.strip_prefix("alarm:"))?;
        match name {
            "NOSPACE" => Some(Self::NoSpace),
            "CORRUPT" => Some(Self::Corrupt),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn member(leader: bool, errors: &[&str]) -> EndpointStatus {
        EndpointStatus {
            id: MemberId(1),
            leader: leader.then_some(MemberId(1)),
            revision: 1,
            db_size_bytes: 100,
            db_size_in_use_bytes: 40,
            db_size_quota_bytes: 0,
            slow_reads: false,
            is_learner: false,
            errors: errors.iter().map(|e| (*e).to_owned()).collect(),
            version: "3.4.23".to_owned(),
            cluster_id: 0,
        }
    }

    #[test]
    fn a_nospace_alarm_leaves_a_member_healthy_and_every_other_error_does_not() {
        let nospace = "memberID:11490618726533230342 alarm:NOSPACE ";
        let corrupt = "memberID:11490618726533230342 alarm:CORRUPT ";
        let cases: &[(bool, &[&str], bool, &[Alarm])] = &[
            (true, &[], true, &[]),
            (true, &[nospace], true, &[Alarm::NoSpace]),
            (true, &[nospace, "memberID:2 alarm:NOSPACE "], true, &[Alarm::NoSpace, Alarm::NoSpace]),
            (true, &[corrupt], false, &[Alarm::Corrupt]),
            (true, &[nospace, corrupt], false, &[Alarm::NoSpace, Alarm::Corrupt]),
            (true, &["raft: stopped"], false, &[]),
            (true, &[nospace, "raft: stopped"], false, &[Alarm::NoSpace]),
            (true, &["alarm:NOSPACEX"], false, &[]),
            (false, &[], false, &[]),
            (false, &[nospace], false, &[Alarm::NoSpace]),
        ];
        for (leader, errors, healthy, alarms) in cases {
            let status = member(*leader, errors);
            assert_eq!(status.is_healthy(), *healthy, "leader {leader}, errors {errors:?}");
            assert_eq!(status.alarms(), *alarms, "errors {errors:?}");
        }
    }

    #[test]
    fn fragmentation_is_the_share_of_free_pages() {
        let status = member(true, &[]);
        assert_eq!(status.reclaimable_bytes(), 60);
        assert!((status.fragmentation() - 0.6).abs() < 1e-9);
        let unknown = EndpointStatus { db_size_in_use_bytes: 0, ..status };
        assert_eq!((unknown.reclaimable_bytes(), unknown.fragmentation()), (0, 0.0));
    }
}
