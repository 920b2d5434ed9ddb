//! `EtcdAdmin`: [`EtcdApi`] over etcd-client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use etcd_client::{Client, GetOptions};

use super::tls::{ClientTls, connect_options};
use super::{EtcdApi, EtcdCall, EtcdError, EtcdErrorKind};
use crate::domain::MemberId;
use crate::model::etcd::{Alarm, EndpointStatus, ListedMember, major_minor};

/// How long one request to one member may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a membership change may take: a raft round trip, perhaps through a leader
/// election right after a member was lost (etcdctl allows 5 s).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a member may take to answer a serializable read before it counts as busy
/// (`EndpointStatus::slow_reads`).
const READ_PROMPTLY: Duration = Duration::from_millis(250);
/// The key of that read: nobody writes it.
const READ_PROBE_KEY: &str = "\0etcd-warden/read-probe";

/// Talks to etcd members by client URL.
///
/// It keeps one client per member and request timeout, shared by its clones: a member
/// is connected to once and its connection (gRPC over HTTP/2, which reconnects by
/// itself) serves every later call. A call that fails other than by etcd's own
/// refusal (the member unreachable or silent, the connection broken) drops that
/// member's clients, so the next call connects afresh.
#[derive(Clone, Default)]
pub struct EtcdAdmin {
    tls: Option<ClientTls>,
    clients: Arc<Mutex<HashMap<(String, Duration), Client>>>,
    /// How many clients were made (each opens its own connection).
    connected: Arc<AtomicU64>,
}

impl std::fmt::Debug for EtcdAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<String> = self.kept().keys().map(|(endpoint, _)| endpoint.clone()).collect();
        f.debug_struct("EtcdAdmin").field("tls", &self.tls).field("connected_to", &members).finish()
    }
}

impl EtcdAdmin {
    /// An admin for plain-HTTP members.
    pub fn new() -> Self {
        Self::default()
    }

    /// An admin that uses `tls` for `https://` members (and plain HTTP for the others).
    pub fn with_tls(tls: Option<ClientTls>) -> Self {
        Self { tls, ..Self::default() }
    }

    /// The client TLS material it was made with.
    pub fn client_tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    /// How many clients this admin (and its clones) made: one per member and request
    /// timeout while their connections work.
    pub fn connections_made(&self) -> u64 {
        self.connected.load(Ordering::Relaxed)
    }

    /// A client of one member.
    ///
    /// # Errors
    /// `Call` when no client can be made.
    pub async fn connect(&self, endpoint: &str) -> Result<Client, EtcdError> {
        self.connect_for(endpoint, REQUEST_TIMEOUT).await
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Duration), Client>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the clients of `endpoint` after a call that failed other than by etcd's
    /// own refusal (unreachable, silent, a broken connection): the next call connects
    /// again.
    async fn dropping_on_failure<T>(
        &self,
        endpoint: &str,
        call: impl std::future::Future<Output = Result<T, EtcdError>>,
    ) -> Result<T, EtcdError> {
        let result = call.await;
        if let Err(error) = &result
            && !error.kind().is_refusal()
        {
            self.kept().retain(|(kept, _), _| kept != endpoint);
        }
        result
    }

    /// The member's own status.
    ///
    /// # Errors
    /// When the member cannot be reached or does not answer in time.
    pub async fn status(&self, endpoint: &str) -> Result<EndpointStatus, EtcdError> {
        let mut client = self.connect(endpoint).await?;
        let status = bounded(endpoint, client.status()).await?;
        let id = status.header().map(|h| h.member_id()).unwrap_or_default();
        let mut in_use = status.raft_used_db_size();
        let mut quota = status.db_size_quota();
        let mut errors = status.errors().to_vec();
        let old = before_3_4(status.version());
        if old && status.leader() != 0 {
            // etcd 3.3's Status has no alarms: they are in the alarm list, written as
            // 3.4's Status writes them. The list goes through raft: only asked while
            // the member has a leader, and a failure leaves the alarms unknown, never
            // the member unanswered.
            match self.alarm_errors(&mut client, endpoint).await {
                Ok(alarms) => errors = alarms,
                Err(error) => tracing::debug!(endpoint, %error, "no alarm list"),
            }
        }
        // A serializable read of a key nobody writes: a member that answers its status
        // but not this promptly is defragmenting (reads block meanwhile) or overloaded.
        let probe = client.get(READ_PROBE_KEY, Some(GetOptions::new().with_serializable().with_keys_only()));
        let slow_reads = !matches!(tokio::time::timeout(READ_PROMPTLY, probe).await, Ok(Ok(_)));
        let no_space = errors.iter().any(|e| Alarm::of_error(e) == Some(Alarm::NoSpace));
        if old || (no_space && quota == 0) {
            // The metrics page: 3.3's in-use bytes, and under a NOSPACE alarm the quota
            // the member runs with (in Status only from 3.6), which the recovery goes by.
            let gauges = super::http::database_gauges(endpoint, self.tls.as_ref(), REQUEST_TIMEOUT).await;
            if old {
                in_use = gauges.in_use.unwrap_or(0);
            }
            if quota == 0 {
                quota = gauges.quota.unwrap_or(0);
            }
        }
        Ok(EndpointStatus {
            id: MemberId(id),
            leader: (status.leader() != 0).then_some(MemberId(status.leader())),
            revision: status.header().map(|h| h.revision()).unwrap_or_default(),
            db_size_bytes: status.db_size(),
            db_size_in_use_bytes: in_use,
            db_size_quota_bytes: quota,
            slow_reads,
            is_learner: status.is_learner(),
            errors,
            version: status.version().to_owned(),
            cluster_id: status.header().map(|h| h.cluster_id()).unwrap_or_default(),
        })
    }

    /// The member list as the member at `endpoint` knows it.
    ///
    /// # Errors
    /// When the member cannot be reached or does not answer in time.
    pub async fn member_list(&self, endpoint: &str) -> Result<Vec<ListedMember>, EtcdError> {
        let mut client = self.connect(endpoint).await?;
        let response = bounded(endpoint, client.member_list()).await?;
        Ok(response
            .members()
            .iter()
            .map(|m| ListedMember {
                id: MemberId(m.id()),
                name: m.name().to_owned(),
                peer_urls: m.peer_urls().to_vec(),
                client_urls: m.client_urls().to_vec(),
                is_learner: m.is_learner(),
            })
            .collect())
    }
}

impl EtcdAdmin {
    /// Adds a member with `peer_url`, as a learner. Returns the new member's ID.
    ///
    /// # Errors
    /// When the cluster refuses (etcd 3.4 answers "unhealthy cluster" for a few
    /// seconds after a peer reconnects: callers retry with backoff).
    ///
    /// etcd 3.3 does not know learners and adds a voter instead: that answer is an
    /// `Unsupported` error (the voter stays listed, unstarted, under the slot's peer
    /// URL, where the replacement rule finds it). The planner asks for learners only
    /// where every member runs 3.4 or later, so this is the last guard.
    pub async fn add_learner(&self, endpoint: &str, peer_url: &str) -> Result<MemberId, EtcdError> {
        let options = etcd_client::MemberAddOptions::new().with_is_learner();
        let (id, is_learner) = self.add(endpoint, peer_url, Some(options)).await?;
        if !is_learner {
            tracing::warn!(endpoint, peer_url, member = %id, "etcd added a voter when asked for a learner: it runs etcd older than 3.4");
            return Err(EtcdError::Refused {
                endpoint: endpoint.to_owned(),
                kind: EtcdErrorKind::Unsupported,
            });
        }
        Ok(id)
    }

    /// Adds a voting member (etcd 3.3 has no learners) and returns its ID.
    ///
    /// # Errors
    /// When the cluster refuses or cannot be reached.
    pub async fn add_voter(&self, endpoint: &str, peer_url: &str) -> Result<MemberId, EtcdError> {
        Ok(self.add(endpoint, peer_url, None).await?.0)
    }

    async fn add(
        &self,
        endpoint: &str,
        peer_url: &str,
        options: Option<etcd_client::MemberAddOptions>,
    ) -> Result<(MemberId, bool), EtcdError> {
        let mut client = self.connect_for(endpoint, MEMBERSHIP_TIMEOUT).await?;
        let response =
            bounded_for(endpoint, MEMBERSHIP_TIMEOUT, client.member_add([peer_url], options)).await?;
        let added = response.member();
        Ok((MemberId(added.map(|m| m.id()).unwrap_or_default()), added.is_some_and(|m| m.is_learner())))
    }

    /// Removes a member.
    ///
    /// # Errors
    /// When the cluster refuses or cannot be reached.
    pub async fn remove(&self, endpoint: &str, id: MemberId) -> Result<(), EtcdError> {
        let mut client = self.connect_for(endpoint, MEMBERSHIP_TIMEOUT).await?;
        bounded_for(endpoint, MEMBERSHIP_TIMEOUT, client.member_remove(id.0)).await.map(|_| ())
    }

    /// Promotes a learner to a voting member. etcd refuses until it is in sync.
    ///
    /// # Errors
    /// When the cluster refuses or cannot be reached.
    pub async fn promote(&self, endpoint: &str, id: MemberId) -> Result<(), EtcdError> {
        let mut client = self.connect_for(endpoint, MEMBERSHIP_TIMEOUT).await?;
        bounded_for(endpoint, MEMBERSHIP_TIMEOUT, client.member_promote(id.0)).await.map(|_| ())
    }

    /// The member's hash of its key-value store at `revision` (0: its latest), with
    /// the revision it hashed: `etcdctl endpoint hashkv`.
    ///
    /// # Errors
    /// When the member cannot be reached or does not answer in time.
    pub async fn hash_kv(&self, endpoint: &str, revision: i64) -> Result<(u32, i64), EtcdError> {
        let mut client = self.connect(endpoint).await?;
        let response = bounded(endpoint, client.hash_kv(revision)).await?;
        Ok((response.hash(), response.header().map(|h| h.revision()).unwrap_or_default()))
    }
}

impl EtcdAdmin {
    /// Hands leadership to `to`; `endpoint` must be the current leader.
    ///
    /// # Errors
    /// When the leader refuses or cannot be reached.
    pub async fn move_leader(&self, endpoint: &str, to: MemberId) -> Result<(), EtcdError> {
        let mut client = self.connect_for(endpoint, MEMBERSHIP_TIMEOUT).await?;
        bounded_for(endpoint, MEMBERSHIP_TIMEOUT, client.move_leader(to.0)).await.map(|_| ())
    }

    /// The number of keys in the whole keyspace at `revision` (0: the latest), read
    /// from the member's own store (serializable): a revision is the same on every
    /// member, so the count needs no leader, and a backup taken from a member while
    /// the leader is lost (re-elected, or gone with the quorum) is still counted.
    ///
    /// # Errors
    /// When the member cannot be reached, the revision is compacted, or the member
    /// has not applied it yet.
    pub async fn count_keys(&self, endpoint: &str, revision: i64) -> Result<u64, EtcdError> {
        let mut client = self.connect(endpoint).await?;
        let options = etcd_client::GetOptions::new()
            .with_from_key()
            .with_count_only()
            .with_revision(revision)
            .with_serializable();
        let response = bounded(endpoint, client.get(vec![0u8], Some(options))).await?;
        Ok(u64::try_from(response.count()).unwrap_or_default())
    }
}

impl EtcdAdmin {
    /// Defragments the member at `endpoint` (only it: defragmentation is per member).
    /// The member blocks reads and writes while it rewrites its database.
    ///
    /// # Errors
    /// When the member cannot be reached, refuses, or takes longer than `timeout` (etcd
    /// goes on then: the member serves no reads until it is done).
    pub async fn defragment(&self, endpoint: &str, timeout: Duration) -> Result<(), EtcdError> {
        let mut client = self.connect_for(endpoint, timeout).await?;
        bounded_for(endpoint, timeout, client.defragment()).await.map(|_| ())
    }

    /// Disarms every NOSPACE alarm of the cluster (`etcdctl alarm disarm`): etcd keeps
    /// one per member that raised it, so each is listed and deactivated. Returns the
    /// members whose alarm was disarmed.
    ///
    /// # Errors
    /// When the member cannot be reached or refuses.
    pub async fn disarm_no_space(&self, endpoint: &str) -> Result<Vec<MemberId>, EtcdError> {
        use etcd_client::{AlarmAction, AlarmOptions, AlarmType};
        let mut client = self.connect_for(endpoint, MEMBERSHIP_TIMEOUT).await?;
        let listed =
            bounded_for(endpoint, MEMBERSHIP_TIMEOUT, client.alarm(AlarmAction::Get, AlarmType::None, None))
                .await?;
        let members: Vec<u64> = listed
            .alarms()
            .iter()
            .filter(|a| a.alarm() == AlarmType::Nospace)
            .map(etcd_client::AlarmMember::member_id)
            .collect();
        for member in &members {
            let mut options = AlarmOptions::new();
            options.with_member(*member);
            let call = client.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(options));
            bounded_for(endpoint, MEMBERSHIP_TIMEOUT, call).await?;
        }
        Ok(members.into_iter().map(MemberId).collect())
    }
}

impl EtcdAdmin {
    /// The alarms of the cluster as the member at `endpoint` lists them, written as etcd
    /// 3.4's Status writes its errors (`memberID:N alarm:NOSPACE `).
    async fn alarm_errors(&self, client: &mut Client, endpoint: &str) -> Result<Vec<String>, EtcdError> {
        use etcd_client::{AlarmAction, AlarmType};
        let listed = bounded(endpoint, client.alarm(AlarmAction::Get, AlarmType::None, None)).await?;
        Ok(listed
            .alarms()
            .iter()
            .filter_map(|a| {
                let name = match a.alarm() {
                    AlarmType::Nospace => "NOSPACE",
                    AlarmType::Corrupt => "CORRUPT",
                    AlarmType::None => return None,
                };
                Some(format!("memberID:{} alarm:{name} ", a.member_id()))
            })
            .collect())
    }

    /// The kept client of one member with a per-request timeout, made now if there is
    /// none (etcd-client connects lazily, at the first request).
    async fn connect_for(&self, endpoint: &str, timeout: Duration) -> Result<Client, EtcdError> {
        let key = (endpoint.to_owned(), timeout);
        if let Some(client) = self.kept().get(&key) {
            return Ok(client.clone());
        }
        let options = connect_options(self.tls.as_ref(), Some(timeout));
        let client = bounded(endpoint, Client::connect([endpoint], Some(options))).await?;
        self.connected.fetch_add(1, Ordering::Relaxed);
        Ok(self.kept().entry(key).or_insert(client).clone())
    }
}

/// Runs one etcd call with the request timeout, naming the endpoint in any error.
pub(super) async fn bounded<T>(
    endpoint: &str,
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    bounded_for(endpoint, REQUEST_TIMEOUT, call).await
}

/// Runs one etcd call with `timeout`, naming the endpoint in any error.
async fn bounded_for<T>(
    endpoint: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(EtcdError::call(endpoint, source)),
        Err(_) => Err(EtcdError::Timeout { endpoint: endpoint.to_owned(), timeout }),
    }
}

impl EtcdApi for EtcdAdmin {
    fn tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    fn status<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, EndpointStatus> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::status(self, endpoint)))
    }

    fn member_list<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<ListedMember>> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::member_list(self, endpoint)))
    }

    fn cluster_version<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, String> {
        Box::pin(async move {
            super::http::cluster_version(endpoint, self.tls.as_ref(), REQUEST_TIMEOUT)
                .await
                .map_err(|source| EtcdError::Http { endpoint: endpoint.to_owned(), source })
        })
    }

    fn add_learner<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::add_learner(self, endpoint, peer_url)))
    }

    fn add_voter<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::add_voter(self, endpoint, peer_url)))
    }

    fn remove<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::remove(self, endpoint, id)))
    }

    fn promote<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::promote(self, endpoint, id)))
    }

    fn hash_kv<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, (u32, i64)> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::hash_kv(self, endpoint, revision)))
    }

    fn move_leader<'a>(&'a self, endpoint: &'a str, to: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::move_leader(self, endpoint, to)))
    }

    fn count_keys<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, u64> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::count_keys(self, endpoint, revision)))
    }

    fn defragment<'a>(&'a self, endpoint: &'a str, timeout: Duration) -> EtcdCall<'a, ()> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::defragment(self, endpoint, timeout)))
    }

    fn disarm_no_space<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<MemberId>> {
        Box::pin(self.dropping_on_failure(endpoint, EtcdAdmin::disarm_no_space(self, endpoint)))
    }
}

/// Whether the member's version (`3.3.25`) is older than 3.4, whose Status lacks the
/// in-use bytes and the alarms. An unreadable version counts as new.
fn before_3_4(version: &str) -> bool {
    major_minor(version).is_some_and(|v| v < (3, 4))
}

#[cfg(test)]
mod tests {
    use super::before_3_4;

    #[test]
    fn only_a_member_older_than_3_4_has_its_alarms_and_in_use_bytes_read_apart() {
        for (version, old) in [
            ("3.3.25", true),
            ("3.3.9", true),
            ("3.4.23", false),
            ("3.5.30", false),
            ("3.10.0", false),
            ("", false),
            ("x", false),
        ] {
            assert_eq!(before_3_4(version), old, "{version}");
        }
    }
}
