//! The validated desired state: what every stage after validation reads.
//!
//! Nothing downstream of `manifest` reads the raw manifest; it reads these types, which
//! cannot hold a value the manifest rules refuse.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{ClusterName, PodName};

pub use super::desired_maintenance::{
    Defragmentation, ETCD_DEFAULT_QUOTA_BYTES, Maintenance, MaintenanceWindow, NoSpacePolicy,
};

/// A validated `EtcdCluster` manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredCluster {
    /// The cluster's identity.
    pub name: ClusterName,
    /// How many voting members the cluster should have.
    pub members: MemberCount,
    /// Whether the controller may act, or only observe and report.
    pub reconcile: ReconcileMode,
    /// Where the members run.
    pub platform: PlatformSpec,
    /// How the controller reaches etcd.
    pub etcd: EtcdAccess,
    /// Scheduled backups; `None` when the manifest has no `backup` section.
    pub backup: Option<BackupPolicy>,
    /// What the controller may do on its own for risky changes.
    pub policy: Policy,
    /// Failure windows per failure class.
    pub recovery: RecoveryWindows,
    /// Defragmentation, the NOSPACE policy and the database quota.
    pub maintenance: Maintenance,
}

/// The allowed member counts: an even count tolerates no more failures than the odd
/// count below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberCount {
    /// A single member (`highAvailability: false`).
    One,
    /// Three members (`highAvailability: true`).
    Three,
    /// Five members.
    Five,
}

impl MemberCount {
    /// The count as a number.
    pub fn get(self) -> usize {
        match self {
            Self::One => 1,
            Self::Three => 3,
            Self::Five => 5,
        }
    }

    /// The pods of a cluster of this size, in order.
    pub fn pods(self) -> impl Iterator<Item = PodName> {
        PodName::first(self.get())
    }

    /// How many healthy voting members a quorum needs.
    pub fn quorum(self) -> usize {
        self.get() / 2 + 1
    }
}

/// Whether the controller acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileMode {
    /// Observe, plan and act.
    Active,
    /// Observe and report only (`paused: true`).
    Paused,
}

/// Exactly one platform.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformSpec {
    /// Real etcd processes on this machine.
    Local(LocalSpec),
    /// Tasks of a DC/OS Kubernetes service.
    Dcos(DcosSpec),
}

/// The local platform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSpec {
    /// The etcd binary: a bare name is looked up on `PATH` at launch.
    pub etcd_binary: PathBuf,
    /// The address members listen on and advertise.
    pub host: String,
    /// How client and peer ports are chosen.
    pub ports: PortsSpec,
}

/// How the local platform picks ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortsSpec {
    /// Free ports chosen once and kept across restarts.
    Auto,
    /// Member `i` gets client port `base + 2i` and peer port `base + 2i + 1`.
    Base(u16),
}

/// The DC/OS platform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DcosSpec {
    /// The cluster URL, e.g. `https://dcos.example.com`.
    pub url: String,
    /// The SDK service name, folders allowed (`/prod/kubernetes`).
    pub service: String,
    /// The DC/OS CA bundle; `None` uses the system roots.
    pub ca_file: Option<PathBuf>,
    /// How the controller logs in.
    pub credentials: DcosCredentials,
}

/// DC/OS credentials: exactly one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum DcosCredentials {
    /// A service account secret file (JSON with `uid`, `private_key`, `login_endpoint`).
    ServiceAccount { secret_file: PathBuf },
    /// A user ID and a file holding the password.
    Password { uid: String, password_file: PathBuf },
    /// A file holding a ready token.
    Token { token_file: PathBuf },
}

/// How the controller reaches etcd.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtcdAccess {
    /// Client TLS files; `None` for plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How member client URLs are found (used by the DC/OS platform).
    pub endpoints: EndpointsSpec,
}

/// Client TLS files.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// The CA bundle that signed the members' certificates.
    pub ca_file: PathBuf,
    /// The client certificate.
    pub cert_file: PathBuf,
    /// The client key.
    pub key_file: PathBuf,
}

/// How member client URLs are found.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum EndpointsSpec {
    /// The platform's own knowledge (local) or the default DC/OS template.
    #[default]
    Default,
    /// A template with `{pod}` and `{service}` placeholders.
    Template(String),
    /// One client URL per pod.
    Map(Vec<(PodName, String)>),
}

/// A validated backup policy.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupPolicy {
    /// When scheduled backups run.
    pub schedule: Schedule,
    /// Where backups are written.
    pub destination: Destination,
    /// Which backups are kept.
    pub retention: Retention,
    /// How recent a verified backup must be for a risky change.
    pub fresh_for: Duration,
}

/// When scheduled backups run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// A 5-field cron expression, already checked to parse.
    Cron(String),
    /// A fixed interval.
    Every(Duration),
}

/// Where backups are written.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// A directory on this machine (`file:///path`).
    Directory(PathBuf),
    /// An S3 bucket and key prefix (`s3://bucket/prefix`).
    S3(S3Destination),
}

/// An S3 destination.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Destination {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// A custom endpoint (an S3-compatible server); `None` for AWS.
    pub endpoint: Option<String>,
    /// The region; `None` falls back to the AWS environment.
    pub region: Option<String>,
    /// Static credentials; `None` falls back to the AWS environment.
    pub credentials: Option<S3Credentials>,
}

/// Static S3 credentials, read from files so that secrets stay out of manifests.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Credentials {
    /// The access key ID.
    pub access_key_id: String,
    /// A file holding the secret access key.
    pub secret_access_key_file: PathBuf,
}

/// Which backups are kept; the newest verified backup is always kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Retention {
    /// Keep at most this many backups (at least 1).
    pub keep_last: Option<u32>,
    /// Delete backups older than this.
    pub max_age: Option<Duration>,
}

/// What the controller may do on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// What a scale-up needs.
    pub scale_up: ScaleUpPolicy,
    /// What a permanent quorum loss leads to.
    pub quorum_loss: QuorumLossPolicy,
    /// The oldest restore source allowed, behind the last seen revision's time.
    pub max_data_loss: Duration,
}

/// What a scale-up needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleUpPolicy {
    /// A verified backup younger than `freshFor` must exist.
    RequireFreshBackup,
    /// Take and verify a backup, then scale.
    BackupFirst,
}

/// What a permanent quorum loss leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumLossPolicy {
    /// Report `RestoreRequired` and wait for a human.
    Manual,
    /// Restore automatically, guarded by `maxDataLoss`.
    Restore,
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
        }
    }
}
