//! The readable builders of the planner's table tests (and of status's): a desired
//! cluster, a world observed at a time (tasks, members, history), and the plan a
//! world leads to. Tests only.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::domain::{MemberId, PodName};
use crate::manifest::ReconcileMode;
use crate::manifest::desired::DesiredCluster;
use crate::manifest::desired::{
    EtcdAccess, LocalSpec, MemberCount, PlatformSpec, Policy, PortsSpec, QuorumLossPolicy, RecoveryWindows,
    ScaleUpPolicy,
};
use crate::model::capabilities::Capabilities;
use crate::model::etcd::{EndpointStatus, ListedMember};
use crate::model::platform::{
    AgentState, DataState, PlatformObservation, PlatformRecovery, TaskObservation, TaskState,
};
use crate::model::{BootstrapAttempt, History, Observed, Seen};
use crate::plan::{Plan, Rule, Step, plan};

pub(crate) fn desired(members: MemberCount) -> DesiredCluster {
    DesiredCluster {
        name: "kubernetes".parse().expect("name"),
        members,
        reconcile: ReconcileMode::Active,
        platform: PlatformSpec::Local(LocalSpec {
            etcd_binary: "etcd".into(),
            host: "127.0.0.1".into(),
            ports: PortsSpec::Auto,
            tls: None,
        }),
        etcd: EtcdAccess::default(),
        backup: None,
        policy: Policy {
            scale_up: ScaleUpPolicy::RequireFreshBackup,
            quorum_loss: QuorumLossPolicy::Manual,
            max_data_loss: Duration::from_secs(3600),
        },
        recovery: RecoveryWindows::default(),
        maintenance: crate::manifest::desired::Maintenance::default(),
    }
}

/// The etcd cluster ID the members of a `world` answer with, and its backups name.
pub(crate) const CLUSTER_ID: u64 = 0xC1;

/// `desired(members)` with hourly backups to `/b`, fresh for 15 minutes, no drill.
pub(crate) fn with_backups(members: MemberCount) -> DesiredCluster {
    let mut d = desired(members);
    d.backup = Some(crate::manifest::desired::BackupPolicy {
        schedule: crate::manifest::desired::Schedule::Every(Duration::from_secs(3600)),
        destination: crate::manifest::desired::Destination::Directory("/b".into()),
        retention: crate::manifest::desired::Retention::default(),
        fresh_for: Duration::from_secs(900),
        drill: None,
    });
    d
}

pub(crate) fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("time")
}

pub(crate) fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

/// A restore drill of the backup of revision 42 taken at `t0()`, finished at `t0()` in
/// 1.25 s, with `result`.
pub(crate) fn drill_report(
    result: crate::model::drill::DrillResult,
    failure: Option<crate::model::drill::DrillFailure>,
    message: &str,
) -> crate::model::drill::DrillReport {
    crate::model::drill::DrillReport {
        started_at: t0(),
        finished_at: t0(),
        duration_seconds: 1.25,
        trigger: crate::model::drill::DrillTrigger::OnDemand,
        backup_id: crate::domain::BackupId::new(t0(), 42),
        backup_size_bytes: 20480,
        result,
        failure,
        message: message.to_owned(),
        expected_revision: 42,
        expected_keys: 7,
        revision: Some(42),
        keys: Some(7),
        sampled_keys: Some(7),
        scratch_peak_rss_bytes: None,
    }
}

/// A verified backup record of `revision` taken at `taken_at`.
pub(crate) fn backup_record(taken_at: Timestamp, revision: i64) -> crate::model::catalog::BackupRecord {
    crate::model::catalog::BackupRecord {
        id: crate::domain::BackupId::new(taken_at, revision),
        cluster: "kubernetes".parse().expect("name"),
        taken_at,
        source: pod(0),
        revision,
        keys: 1,
        size_bytes: 1,
        sha256: "00".into(),
        verified: true,
        duration_seconds: 0.1,
        location: "/b/".into(),
        cluster_id: Some(CLUSTER_ID),
    }
}

pub(crate) fn pod(i: u8) -> PodName {
    PodName::new(i).expect("pod")
}

/// An observation builder: every pod starts running and healthy, pod 0 leading.
#[derive(Clone)]
pub(crate) struct World {
    pub observed: Observed,
    pub history: History,
}

pub(crate) fn world(members: usize) -> World {
    let tasks = (0..members as u8)
        .map(|i| TaskObservation {
            pod: pod(i),
            task: TaskState::Running,
            agent: AgentState::Healthy,
            agent_name: format!("local-{i}"),
            client_url: format!("http://127.0.0.1:{}", 20000 + 2 * u32::from(i)),
            peer_url: format!("http://127.0.0.1:{}", 20001 + 2 * u32::from(i)),
            pid: Some(1000 + u32::from(i)),
            process_start: Some(5000 + u64::from(i)),
            data_dir: None,
            data: DataState::Intact,
            recovery: PlatformRecovery::None,
            instance: None,
            step: None,
            quota_backend_bytes: None,
            certificate_expires: None,
        })
        .collect();
    let endpoints = (0..members as u8)
        .map(|i| {
            let status = EndpointStatus {
                id: MemberId(100 + u64::from(i)),
                leader: Some(MemberId(100)),
                revision: 42,
                db_size_bytes: 20480,
                db_size_in_use_bytes: 20480,
                db_size_quota_bytes: 0,
                slow_reads: false,
                is_learner: false,
                errors: Vec::new(),
                version: "3.4.13".to_owned(),
                cluster_id: CLUSTER_ID,
            };
            (pod(i), Ok(status))
        })
        .collect();
    let member_list = (0..members as u8)
        .map(|i| ListedMember {
            id: MemberId(100 + u64::from(i)),
            name: pod(i).to_string(),
            peer_urls: vec![format!("http://127.0.0.1:{}", 20001 + 2 * u32::from(i))],
            client_urls: vec![format!("http://127.0.0.1:{}", 20000 + 2 * u32::from(i))],
            is_learner: false,
        })
        .collect();
    let observed = Observed {
        at: t0(),
        platform: PlatformObservation { tasks, rollout: None },
        endpoints,
        member_list: Some(member_list),
        member_list_from: Some(pod(0)),
        backups: Default::default(),
        capabilities: Capabilities::LOCAL,
        kept_aside: Vec::new(),
        metrics: Default::default(),
        certificates: None,
    };
    let seen = Seen {
        ever_healthy: true,
        members: observed.member_list.clone().unwrap_or_default(),
        quorum_seen_at: Some(t0()),
        last_revision: Some((42, t0())),
        ..Seen::default()
    };
    let history = History { seen, ..History::default() };
    World { observed, history }
}

impl World {
    pub fn task(&mut self, i: u8) -> &mut TaskObservation {
        self.observed.platform.tasks.iter_mut().find(|t| t.pod == pod(i)).expect("task")
    }

    /// The member's process has exited (seen down since `since`), data intact.
    pub fn exited(mut self, i: u8, since: Timestamp) -> Self {
        self.task(i).task = TaskState::Exited;
        self.task(i).pid = None;
        self.task(i).process_start = None;
        self.observed.endpoints.remove(&pod(i));
        self.history.seen.down_since.insert(pod(i), since);
        self
    }

    /// The member's agent (and data) is gone.
    pub fn agent_lost(mut self, i: u8) -> Self {
        self.task(i).agent = AgentState::Lost;
        self.task(i).data = DataState::Missing;
        self
    }

    /// The member was never launched.
    pub fn not_launched(mut self, i: u8) -> Self {
        self.task(i).task = TaskState::NotLaunched;
        self.task(i).pid = None;
        self.task(i).process_start = None;
        self.observed.endpoints.remove(&pod(i));
        self
    }

    /// The member runs but does not answer.
    pub fn silent(mut self, i: u8) -> Self {
        self.observed.endpoints.insert(pod(i), Err("timeout".into()));
        self
    }

    /// The cluster never had a quorum; `attempt` is the recorded bootstrap, if any.
    pub fn never_healthy(mut self, attempt: Option<(u32, Timestamp)>) -> Self {
        self.history.seen.ever_healthy = false;
        self.history.seen.quorum_seen_at = None;
        self.history.seen.last_revision = None;
        // A fresh cluster holds the bootstrap's revision only.
        for status in self.observed.endpoints.values_mut().filter_map(|r| r.as_mut().ok()) {
            status.revision = 1;
        }
        self.history.in_flight.operation = attempt.map(|(attempt, started_at)| {
            crate::model::Operation::Bootstrap(BootstrapAttempt {
                attempt,
                token: format!("kubernetes-{attempt}"),
                started_at,
            })
        });
        self
    }

    /// The member's agent and data are lost since `since`; its process is gone.
    pub fn lost(mut self, i: u8, since: Timestamp) -> Self {
        self = self.exited(i, since).agent_lost(i);
        self.history.seen.lost_since.insert(pod(i), since);
        self
    }

    /// The member's process is stopped by SIGSTOP since `since`.
    pub fn suspended(mut self, i: u8, since: Timestamp) -> Self {
        self.task(i).task = TaskState::Suspended;
        self.observed.endpoints.remove(&pod(i));
        self.history.seen.down_since.insert(pod(i), since);
        self.history.seen.unanswered_since.insert(pod(i), since);
        self
    }

    /// A replacement of the member is recorded (snapshot taken), with `launches`.
    pub fn replacing(mut self, i: u8, launches: u32, last_launch: Option<Timestamp>) -> Self {
        let kind = crate::model::JoinKind::Replace;
        let replacement = crate::model::Replacement {
            launches,
            last_launch,
            ..crate::model::Replacement::begun(kind, pod(i), t0(), "snap.db".into(), 42)
        };
        self.history.in_flight.operation = Some(crate::model::Operation::Replace(replacement));
        self
    }

    /// The replacement's snapshot was taken at `at`.
    pub fn snapshot_at(mut self, at: Timestamp) -> Self {
        if let Some(r) = self.history.in_flight.join_mut() {
            r.snapshot_at = at;
        }
        self
    }

    pub fn list(&mut self) -> &mut Vec<ListedMember> {
        self.observed.member_list.get_or_insert_with(Vec::new)
    }

    /// The member's old entry is gone from the member list.
    pub fn removed(mut self, i: u8) -> Self {
        let url = self.task(i).peer_url.clone();
        self.list().retain(|m| !m.peer_urls.contains(&url));
        self
    }

    /// A learner with the member's peer URL is in the list; `started` gives it a name
    /// and a live, answering process at `revision`.
    pub fn learner(mut self, i: u8, started: Option<i64>) -> Self {
        let url = self.task(i).peer_url.clone();
        self = self.removed(i);
        if let Some(r) = self.history.in_flight.join_mut().filter(|r| r.pod == pod(i)) {
            // The controller records the URL before it adds the member.
            r.added_peer_url = Some(url.clone());
        }
        let id = MemberId(900 + u64::from(i));
        let name = if started.is_some() { pod(i).to_string() } else { String::new() };
        self.list().push(ListedMember {
            id,
            name,
            peer_urls: vec![url],
            client_urls: vec![],
            is_learner: true,
        });
        if let Some(revision) = started {
            self.task(i).task = TaskState::Running;
            self.task(i).agent = AgentState::Healthy;
            let status = EndpointStatus {
                id,
                leader: Some(MemberId(100)),
                revision,
                db_size_bytes: 1,
                db_size_in_use_bytes: 1,
                db_size_quota_bytes: 0,
                slow_reads: false,
                is_learner: true,
                errors: vec![],
                version: "3.4.13".to_owned(),
                cluster_id: CLUSTER_ID,
            };
            self.observed.endpoints.insert(pod(i), Ok(status));
        }
        self
    }

    /// A member added but never started, for no slot of ours.
    pub fn phantom(mut self) -> Self {
        self.list().push(ListedMember {
            id: MemberId(777),
            name: String::new(),
            peer_urls: vec!["http://10.9.9.9:2380".into()],
            client_urls: vec![],
            is_learner: false,
        });
        self
    }

    pub fn plan(&self, desired: &DesiredCluster, now: Timestamp) -> Plan {
        plan(desired, &self.observed, &self.history, now)
    }

    /// The status a pass computes from this world and its plan (generation 1, no step
    /// taken), after `previous`.
    pub fn status(
        &self,
        desired: &DesiredCluster,
        previous: Option<&crate::status::ClusterStatus>,
    ) -> crate::status::ClusterStatus {
        let plan = self.plan(desired, self.observed.at);
        let inputs = crate::status::StatusInputs {
            desired,
            generation: crate::domain::Generation(1),
            observed: &self.observed,
            history: &self.history,
            plan: &plan,
            taken: &[],
            last_action: None,
            logs: std::collections::BTreeMap::new(),
        };
        crate::status::compute(&inputs, previous)
    }
}

pub(crate) fn only_step(plan: &Plan) -> (Step, Rule) {
    let steps: Vec<_> = plan.steps().map(|(s, r)| (s.clone(), r)).collect();
    assert_eq!(steps.len(), 1, "expected one step in {plan:#?}");
    steps.into_iter().next().expect("one step")
}
