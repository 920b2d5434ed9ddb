//! [`FakeEtcd`]: members, their statuses and the member list as values; membership
//! calls change them as etcd would; refusals are queued by call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use super::lock;
use crate::domain::MemberId;
use crate::etcd::{EtcdApi, EtcdCall, EtcdError, EtcdErrorKind};
use crate::model::Observed;
use crate::model::etcd::{Alarm, EndpointStatus, ListedMember};

#[derive(Debug, Default)]
struct EtcdState {
    /// Each answering member's status, by client URL.
    statuses: BTreeMap<String, EndpointStatus>,
    members: Vec<ListedMember>,
    calls: Vec<String>,
    /// Refusals queued per call name (`add_learner`, `remove`, ...), taken in order.
    refusals: BTreeMap<String, VecDeque<EtcdErrorKind>>,
    next_id: u64,
    /// How long a defragmentation takes (in the test's time).
    defrag_takes: std::time::Duration,
}

/// etcd in memory.
#[derive(Debug, Default)]
pub struct FakeEtcd {
    state: Mutex<EtcdState>,
}

impl FakeEtcd {
    /// The members that answer in `observed` and its member list.
    pub fn new(observed: &Observed) -> Self {
        let statuses = observed
            .platform
            .tasks
            .iter()
            .filter_map(|t| observed.endpoint(t.pod).map(|s| (t.client_url.clone(), s.clone())))
            .collect();
        let members = observed.member_list.clone().unwrap_or_default();
        let state = EtcdState { statuses, members, next_id: 9000, ..EtcdState::default() };
        Self { state: Mutex::new(state) }
    }

    /// Makes every defragmentation take `took` (in the test's time, paused or not).
    pub fn defragmentation_takes(&self, took: std::time::Duration) {
        lock(&self.state).defrag_takes = took;
    }

    /// Every call so far, as `name endpoint[ detail]`, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// Makes the next `times` calls named `call` fail with `kind`.
    pub fn refuse(&self, call: &str, kind: EtcdErrorKind, times: usize) {
        let mut state = lock(&self.state);
        state.refusals.entry(call.to_owned()).or_default().extend(std::iter::repeat_n(kind, times));
    }

    /// The member at `endpoint` stops answering (its process died).
    pub fn stop(&self, endpoint: &str) {
        lock(&self.state).statuses.remove(endpoint);
    }

    /// The member list now.
    pub fn members(&self) -> Vec<ListedMember> {
        lock(&self.state).members.clone()
    }

    /// Records a call and takes its next queued refusal, if any.
    fn call(&self, name: &str, endpoint: &str, detail: &str) -> Result<(), EtcdError> {
        let mut state = lock(&self.state);
        state.calls.push(format!("{name} {endpoint} {detail}").trim_end().to_owned());
        match state.refusals.get_mut(name).and_then(VecDeque::pop_front) {
            Some(kind) => Err(EtcdError::Refused { endpoint: endpoint.to_owned(), kind }),
            None if !state.statuses.contains_key(endpoint) => {
                Err(EtcdError::Refused { endpoint: endpoint.to_owned(), kind: EtcdErrorKind::Unreachable })
            }
            None => Ok(()),
        }
    }

    /// A member add, as etcd lists it until the member starts: no name, no client URL.
    fn add(
        &self,
        call: &str,
        endpoint: &str,
        peer_url: &str,
        is_learner: bool,
    ) -> Result<MemberId, EtcdError> {
        self.call(call, endpoint, peer_url)?;
        let mut state = lock(&self.state);
        if state.members.iter().any(|m| m.peer_urls.iter().any(|u| u == peer_url)) {
            return Err(Self::refused(endpoint, EtcdErrorKind::PeerUrlExists));
        }
        state.next_id += 1;
        let id = MemberId(state.next_id);
        let member = ListedMember {
            id,
            name: String::new(),
            peer_urls: vec![peer_url.to_owned()],
            client_urls: Vec::new(),
            is_learner,
        };
        state.members.push(member);
        Ok(id)
    }

    fn refused(endpoint: &str, kind: EtcdErrorKind) -> EtcdError {
        EtcdError::Refused { endpoint: endpoint.to_owned(), kind }
    }
}

impl EtcdApi for FakeEtcd {
    fn status<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, EndpointStatus> {
        Box::pin(async move {
            self.call("status", endpoint, "")?;
            lock(&self.state)
                .statuses
                .get(endpoint)
                .cloned()
                .ok_or_else(|| Self::refused(endpoint, EtcdErrorKind::Unreachable))
        })
    }

    /// The lowest `major.minor` its answering members run, as the leader decides it.
    fn cluster_version<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, String> {
        Box::pin(async move {
            self.call("cluster_version", endpoint, "")?;
            let state = lock(&self.state);
            let lowest =
                state.statuses.values().filter_map(|s| crate::model::etcd::major_minor(&s.version)).min();
            Ok(lowest.map_or_else(|| "not_decided".to_owned(), |(major, minor)| format!("{major}.{minor}.0")))
        })
    }

    fn member_list<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<ListedMember>> {
        Box::pin(async move {
            self.call("member_list", endpoint, "")?;
            Ok(lock(&self.state).members.clone())
        })
    }

    fn add_learner<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId> {
        Box::pin(async move { self.add("add_learner", endpoint, peer_url, true) })
    }

    fn add_voter<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> EtcdCall<'a, MemberId> {
        Box::pin(async move { self.add("add_voter", endpoint, peer_url, false) })
    }

    fn remove<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(async move {
            self.call("remove", endpoint, &id.to_string())?;
            let mut state = lock(&self.state);
            let before = state.members.len();
            state.members.retain(|m| m.id != id);
            if state.members.len() == before {
                return Err(Self::refused(endpoint, EtcdErrorKind::MemberNotFound));
            }
            Ok(())
        })
    }

    fn promote<'a>(&'a self, endpoint: &'a str, id: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(async move {
            self.call("promote", endpoint, &id.to_string())?;
            let mut state = lock(&self.state);
            match state.members.iter_mut().find(|m| m.id == id) {
                Some(member) if member.is_learner => {
                    member.is_learner = false;
                    Ok(())
                }
                Some(_) => Err(Self::refused(endpoint, EtcdErrorKind::NotALearner)),
                None => Err(Self::refused(endpoint, EtcdErrorKind::MemberNotFound)),
            }
        })
    }

    fn hash_kv<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, (u32, i64)> {
        Box::pin(async move {
            self.call("hash_kv", endpoint, &revision.to_string())?;
            Ok((0, revision))
        })
    }

    fn move_leader<'a>(&'a self, endpoint: &'a str, to: MemberId) -> EtcdCall<'a, ()> {
        Box::pin(async move {
            self.call("move_leader", endpoint, &to.to_string())?;
            let mut state = lock(&self.state);
            for status in state.statuses.values_mut() {
                status.leader = Some(to);
            }
            Ok(())
        })
    }

    fn count_keys<'a>(&'a self, endpoint: &'a str, revision: i64) -> EtcdCall<'a, u64> {
        Box::pin(async move {
            self.call("count_keys", endpoint, &revision.to_string())?;
            Ok(0)
        })
    }

    /// A defragmentation gives back every free page: the database shrinks to what is
    /// in use.
    fn defragment<'a>(&'a self, endpoint: &'a str, timeout: std::time::Duration) -> EtcdCall<'a, ()> {
        Box::pin(async move {
            self.call("defragment", endpoint, "")?;
            let took = lock(&self.state).defrag_takes;
            tokio::time::sleep(took.min(timeout)).await;
            if took > timeout {
                // The client gives up; etcd would go on.
                return Err(EtcdError::Timeout { endpoint: endpoint.to_owned(), timeout });
            }
            let mut state = lock(&self.state);
            if let Some(status) = state.statuses.get_mut(endpoint).filter(|s| s.db_size_in_use_bytes > 0) {
                status.db_size_bytes = status.db_size_in_use_bytes;
            }
            Ok(())
        })
    }

    /// The NOSPACE alarm is cluster-wide: disarming it clears it from every member.
    fn disarm_no_space<'a>(&'a self, endpoint: &'a str) -> EtcdCall<'a, Vec<MemberId>> {
        Box::pin(async move {
            self.call("disarm_no_space", endpoint, "")?;
            let mut state = lock(&self.state);
            let mut disarmed = Vec::new();
            for status in state.statuses.values_mut() {
                if status.has_no_space_alarm() {
                    disarmed.push(status.id);
                }
                status.errors.retain(|e| Alarm::of_error(e) != Some(Alarm::NoSpace));
            }
            Ok(disarmed)
        })
    }
}
