//! What the platform does by itself and what it lets the controller do. The planner
//! decides from these values, never from the platform's name: the local platform lets
//! the controller do everything; DC/OS restarts and replaces pods itself and changes
//! etcd membership in its own `recover` task.

use crate::manifest::desired::PlatformSpec;
use crate::model::etcd::EndpointStatus;

/// How a crashed member on a healthy agent comes back (scenarios 3a, 4a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartBy {
    /// The controller restarts it in place after `restartGrace`, with backoff, at most
    /// `maxRestarts` times; then the slot counts as lost.
    Controller,
    /// The platform restarts it by itself; after `restartGrace` the controller asks the
    /// platform once to restart the pod. The platform's relaunches (a new task run
    /// each) count toward `maxRestarts`: a member relaunched that often that has not
    /// answered healthy for `unresponsiveAfter` fails in a loop, and its slot counts as
    /// lost. The lost-agent window still applies.
    PlatformThenAskOnce,
}

/// How a lost member is replaced while quorum holds (scenario 4b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceBy {
    /// The controller changes membership: snapshot, wipe, remove the old member, add a
    /// learner, launch it, promote it.
    Controller,
    /// The platform replaces the pod and changes membership itself: the controller
    /// takes a snapshot, asks once for the replacement, and follows it to the end.
    Platform,
}

/// How the member count grows (scenario 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleUpBy {
    /// The controller adds each new member: learner, launch, promotion.
    Controller,
    /// The platform adds the members itself once asked (DC/OS: a Cosmos update
    /// turning high availability on); the controller asks once, behind the same
    /// backup gate, and follows.
    Platform,
}

/// What the platform can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// How a crashed member comes back.
    pub restart: RestartBy,
    /// How a lost member is replaced.
    pub replace: ReplaceBy,
    /// How the member count grows.
    pub scale_up: ScaleUpBy,
    /// Whether a new member joins as a learner first (etcd 3.4 or later everywhere).
    pub learners: bool,
    /// Whether the member count can go down.
    pub scale_down: bool,
    /// Whether the controller may restore the whole cluster itself after a permanent
    /// quorum loss (`policy.quorumLoss: Restore`); otherwise a restore is always manual.
    pub automatic_restore: bool,
    /// Whether the controller bootstraps a new cluster (and wipes a failed first
    /// bootstrap); otherwise it only ever adopts what runs.
    pub bootstrap: bool,
}

impl Capabilities {
    /// The local platform: the controller does everything.
    pub const LOCAL: Self = Self {
        restart: RestartBy::Controller,
        replace: ReplaceBy::Controller,
        scale_up: ScaleUpBy::Controller,
        learners: true,
        scale_down: true,
        automatic_restore: true,
        bootstrap: true,
    };

    /// A DC/OS Kubernetes service: the SDK restarts and replaces pods, the package's
    /// `recover` task changes membership, Cosmos grows the cluster; the controller
    /// never adds a member itself (so never a learner), never scales down, never
    /// bootstraps and never restores by itself.
    pub const DCOS: Self = Self {
        restart: RestartBy::PlatformThenAskOnce,
        replace: ReplaceBy::Platform,
        scale_up: ScaleUpBy::Platform,
        learners: false,
        scale_down: false,
        automatic_restore: false,
        bootstrap: false,
    };
}

impl Capabilities {
    /// The platform's capabilities as the members' versions allow: learners only when
    /// every member that answered runs etcd 3.4 or later (§9.7: the DC/OS package lines
    /// before 2.8 run 3.3). With no answer, the platform's word stands.
    pub fn with_member_versions<'a>(
        mut self,
        versions: impl IntoIterator<Item = &'a EndpointStatus>,
    ) -> Self {
        self.learners = self.learners && versions.into_iter().all(EndpointStatus::knows_learners);
        self
    }

    /// Learners only while the cluster's version (`3.4.0`: the lowest its members run,
    /// as the leader decided it, counting members that do not answer) is 3.4 or later.
    /// Unknown or `not_decided` (right after a start): the members' versions decide.
    pub fn with_cluster_version(mut self, version: Option<&str>) -> Self {
        if let Some(decided) = version.and_then(super::etcd::major_minor) {
            self.learners = self.learners && decided >= super::etcd::LEARNERS_FROM;
        }
        self
    }
}

impl Capabilities {
    /// What the platform a manifest names lets the controller do, before any member
    /// answers (admission decides by it): each adapter answers the same.
    pub fn of(platform: &PlatformSpec) -> Self {
        match platform {
            PlatformSpec::Local(_) => Self::LOCAL,
            PlatformSpec::Dcos(_) => Self::DCOS,
        }
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::LOCAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MemberId;

    fn member(version: &str) -> EndpointStatus {
        EndpointStatus {
            id: MemberId(1),
            leader: Some(MemberId(1)),
            revision: 1,
            db_size_bytes: 1,
            db_size_in_use_bytes: 1,
            db_size_quota_bytes: 0,
            slow_reads: false,
            is_learner: false,
            errors: Vec::new(),
            version: version.to_owned(),
            cluster_id: 0,
        }
    }

    #[test]
    fn learners_only_when_every_member_runs_3_4_or_later() {
        let all_new = [member("3.4.13"), member("3.5.0"), member("4.0.0")];
        assert!(Capabilities::LOCAL.with_member_versions(&all_new).learners);
        for old in ["3.3.22", "3.3.1", "", "garbage", "3"] {
            let mixed = [member("3.4.13"), member(old)];
            assert!(!Capabilities::LOCAL.with_member_versions(&mixed).learners, "{old:?}");
        }
        assert!(Capabilities::LOCAL.with_member_versions(&[]).learners, "no answer: the platform's word");
        assert!(!Capabilities::DCOS.with_member_versions(&all_new).learners, "never more than the platform");
    }

    #[test]
    fn a_cluster_version_below_3_4_turns_learners_off_even_when_every_answer_is_newer() {
        // A 3.3 member that does not answer keeps the cluster at 3.3: etcd raises the
        // cluster's version only once every member runs the newer one.
        let answering = [member("3.4.23"), member("3.4.23")];
        let local = Capabilities::LOCAL.with_member_versions(&answering);
        assert!(!local.with_cluster_version(Some("3.3.0")).learners);
        assert!(local.with_cluster_version(Some("3.4.0")).learners);
        assert!(local.with_cluster_version(Some("3.5.0")).learners);
        // Not decided yet (right after a start) or not read: the members' versions decide.
        assert!(local.with_cluster_version(Some("not_decided")).learners);
        assert!(local.with_cluster_version(None).learners);
        let mixed = Capabilities::LOCAL.with_member_versions(&[member("3.3.25"), member("3.4.23")]);
        assert!(!mixed.with_cluster_version(Some("3.4.0")).learners, "a 3.3 answer is enough");
        assert!(!Capabilities::DCOS.with_cluster_version(Some("3.5.0")).learners);
    }
}
