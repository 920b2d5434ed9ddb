//! The `recovery` section: the failure windows per failure class (how long a failure
//! lasts before the controller acts on it), as written, as validated, and their
//! defaults on each platform.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::check::{Checker, Zero};
use crate::manifest::values::HumanDuration;

/// Failure windows per failure class, and the bounds of a first bootstrap.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverySection {
    /// How long a crashed member on a healthy agent stays down before it is restarted
    /// in place; `0s` restarts at once. Default: `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_grace: Option<HumanDuration>,
    /// How long a running member may fail to answer before it is replaced (HA only,
    /// while quorum holds). Must be more than 0. Default: `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresponsive_after: Option<HumanDuration>,
    /// How long an agent may be lost (data gone) before its member is replaced. Must be
    /// more than 0. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_lost_after: Option<HumanDuration>,
    /// How many times a first bootstrap that never served data is wiped and tried
    /// again before `BootstrapFailed`: 1 to 10. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub bootstrap_attempts: Option<u32>,
    /// How long one bootstrap attempt may take before it counts as failed. Must be more
    /// than 0. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_timeout: Option<HumanDuration>,
    /// How many restarts in place a crashed member gets without coming back healthy
    /// before its slot is treated as lost (replaced while quorum holds): 1 to 20.
    /// Restarts back off: `restartGrace`, then doubling up to 5 minutes. Default: 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub max_restarts: Option<u32>,
    /// How long an operation in flight (a replacement, a scale-up or scale-down, a
    /// restore) may run before it is reported stuck (condition `OperationStuck`, a
    /// `Refused` event saying what a person can do). It goes on after that. Must be
    /// more than 0. Default: `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_deadline: Option<HumanDuration>,
    /// How many data directories moved aside by restores each member keeps
    /// (`<dataDir>.before-restore-<unix seconds>`, listed in status `keptAside` with
    /// their size): once a restore is done, older ones are deleted. 1 to 20. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub kept_aside: Option<u32>,
}

/// Failure windows per failure class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryWindows {
    /// How long a crashed task on a healthy agent stays down before a restart in place.
    pub restart_grace: Duration,
    /// How long a live process may fail to answer before its member is replaced.
    pub unresponsive_after: Duration,
    /// How long an agent may be lost (data gone) before its member is replaced.
    pub agent_lost_after: Duration,
    /// How many times a first bootstrap is wiped and tried again.
    pub bootstrap_attempts: u32,
    /// How long a bootstrap may take before it counts as failed.
    pub bootstrap_timeout: Duration,
    /// How many restarts in place without coming back healthy before the slot counts
    /// as lost.
    pub max_restarts: u32,
    /// How long an operation in flight may run before it is reported stuck.
    pub operation_deadline: Duration,
    /// How many data directories moved aside by restores each member keeps.
    pub kept_aside: u32,
}

impl RecoveryWindows {
    /// The defaults on DC/OS. Mesos takes an agent out of `slaves` only after
    /// `agent_ping_timeout × max_agent_ping_timeouts` without an answer (15 s × 5 =
    /// 75 s by default), so an agent seen lost has already been silent that long; a
    /// partition-aware agent (package 2.2+) that comes back keeps its ID and its
    /// volumes, and an agent's reboot takes minutes. A `pod replace` discards the
    /// member's volume, so a lost agent is given 5 minutes more to come back.
    pub fn dcos() -> Self {
        Self { agent_lost_after: Duration::from_secs(300), ..Self::default() }
    }
}

impl Default for RecoveryWindows {
    fn default() -> Self {
        Self {
            restart_grace: Duration::from_secs(30),
            unresponsive_after: Duration::from_secs(300),
            agent_lost_after: Duration::from_secs(60),
            bootstrap_attempts: 3,
            bootstrap_timeout: Duration::from_secs(60),
            max_restarts: 5,
            operation_deadline: Duration::from_secs(30 * 60),
            kept_aside: 3,
        }
    }
}

impl Checker {
    /// The failure windows, with the defaults of DC/OS when the cluster runs there.
    pub(super) fn recovery(
        &mut self,
        recovery: Option<&RecoverySection>,
        on_dcos: bool,
    ) -> Option<RecoveryWindows> {
        let defaults = if on_dcos { RecoveryWindows::dcos() } else { RecoveryWindows::default() };
        let recovery = recovery.cloned().unwrap_or_default();
        let restart_grace = self.duration(
            "spec.recovery.restartGrace",
            recovery.restart_grace.as_ref(),
            defaults.restart_grace,
            Zero::Allowed,
        );
        let unresponsive_after = self.duration(
            "spec.recovery.unresponsiveAfter",
            recovery.unresponsive_after.as_ref(),
            defaults.unresponsive_after,
            Zero::Refused,
        );
        let agent_lost_after = self.duration(
            "spec.recovery.agentLostAfter",
            recovery.agent_lost_after.as_ref(),
            defaults.agent_lost_after,
            Zero::Refused,
        );
        let bootstrap_timeout = self.duration(
            "spec.recovery.bootstrapTimeout",
            recovery.bootstrap_timeout.as_ref(),
            defaults.bootstrap_timeout,
            Zero::Refused,
        );
        let bootstrap_attempts = self.count(
            "spec.recovery.bootstrapAttempts",
            recovery.bootstrap_attempts,
            defaults.bootstrap_attempts,
            1..=10,
            "attempts",
        );
        let max_restarts = self.count(
            "spec.recovery.maxRestarts",
            recovery.max_restarts,
            defaults.max_restarts,
            1..=20,
            "restarts in place before the slot counts as lost",
        );
        let operation_deadline = self.duration(
            "spec.recovery.operationDeadline",
            recovery.operation_deadline.as_ref(),
            defaults.operation_deadline,
            Zero::Refused,
        );
        let kept_aside = self.count(
            "spec.recovery.keptAside",
            recovery.kept_aside,
            defaults.kept_aside,
            1..=20,
            "data directories kept aside per member",
        );
        Some(RecoveryWindows {
            kept_aside: kept_aside?,
            max_restarts: max_restarts?,
            operation_deadline: operation_deadline?,
            restart_grace: restart_grace?,
            unresponsive_after: unresponsive_after?,
            agent_lost_after: agent_lost_after?,
            bootstrap_attempts: bootstrap_attempts?,
            bootstrap_timeout: bootstrap_timeout?,
        })
    }
}
