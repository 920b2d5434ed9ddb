//! The `EtcdCluster` manifest as written by the operator: raw serde types.
//!
//! These types describe the shape of the manifest (field names, types, unknown fields
//! refused) and generate its JSON Schema; every doc comment on a field becomes its
//! description there. They do not decide what a value means: validation turns a
//! [`Manifest`] into a [`DesiredCluster`](super::DesiredCluster), and nothing
//! downstream reads these types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec_backup::BackupSection;
use super::spec_maintenance::{ByteSizeValue, MaintenanceSection, NoSpace};
use super::spec_tls::LocalTls;
use super::spec_values::{Endpoints, HumanDuration, Ports, null_as_default, null_as_default_value};

/// The manifest format version this build understands.
pub const API_VERSION: &str = "etcd-warden/v1alpha1";
/// The only kind of object a manifest may hold.
pub const KIND: &str = "EtcdCluster";

/// An `EtcdCluster` manifest: the desired topology, platform and backup policy of one
/// etcd cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "EtcdCluster")]
pub struct Manifest {
    /// The manifest format version: `etcd-warden/v1alpha1`.
    #[schemars(extend("const" = "etcd-warden/v1alpha1"))]
    pub api_version: String,
    /// The kind of object: `EtcdCluster`.
    #[schemars(extend("const" = "EtcdCluster"))]
    pub kind: String,
    /// The cluster's identity.
    pub metadata: Metadata,
    /// What the cluster should look like. Absent or empty: one local member with every
    /// default.
    #[serde(default, deserialize_with = "null_as_default_value")]
    pub spec: ClusterSpec,
}

/// The identity of the cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The cluster's name and identity: a DNS label of 1-40 characters (a-z, 0-9 and
    /// '-', starting with a letter, not ending with '-'), unique among the clusters one
    /// controller manages.
    #[schemars(length(min = 1, max = 40), regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
}

/// The desired state of the cluster.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// The DC/OS Kubernetes package's `kubernetes.high_availability`: false means 1
    /// member, true means 3 (or 5 with `members: 5`). Default: false, unless `members`
    /// says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<bool>,
    /// The number of voting members: 1, 3 or 5 (an even count tolerates no more
    /// failures than the odd count below it). Must agree with `highAvailability` when
    /// both are set. Default: 1, or 3 with `highAvailability: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5))]
    pub members: Option<u32>,
    /// Observe and report only; never act. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Where the members run: exactly one of `local` or `dcos`. Absent: the local
    /// platform with its defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSection>,
    /// How the controller reaches etcd: client TLS and member endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdSection>,
    /// Scheduled, verified backups. Absent: no scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSection>,
    /// What the controller may do on its own for risky changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySection>,
    /// Failure windows per failure class: how long a failure lasts before the
    /// controller acts on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoverySection>,
    /// Routine care of the members' databases (defragmentation). Absent: every default
    /// (defragmentation on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceSection>,
}

/// Where the members run: exactly one of `local` or `dcos`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct PlatformSection {
    /// Real etcd processes on this machine, detached from the controller (the default
    /// platform). `local:` with no value uses every default.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSection>,
    /// The etcd tasks of a DC/OS Kubernetes service, through its SDK scheduler API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcos: Option<DcosSection>,
}

/// The local platform: each member is an etcd process on this machine.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "LocalPlatform")]
pub struct LocalSection {
    /// The etcd binary: a bare name is looked up on PATH at launch. Default: `etcd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_binary: Option<String>,
    /// The address members listen on and advertise (an IP address or host name,
    /// without a port). Default: `127.0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `auto` (free ports of 12000-19999, below the kernel's ephemeral range) or a
    /// base port (member i gets client port base + 2i and peer port base + 2i + 1).
    /// Chosen ports are kept stable across restarts. Default: `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Ports>,
    /// Client and peer TLS of the members: `auto`, or the operator's `caFile`,
    /// `certFile` and `keyFile` (with `spec.etcd.tls` as etcd-warden's client
    /// certificate). Absent: plain http. Cannot change on an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<LocalTls>,
}

/// The DC/OS platform: the etcd pods of a DC/OS Kubernetes service.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "DcosPlatform")]
pub struct DcosSection {
    /// The DC/OS cluster URL (http or https), e.g. `https://dcos.example.com`.
    pub url: String,
    /// The SDK service name of the Kubernetes package; folders are allowed
    /// (`/prod/kubernetes`).
    pub service: String,
    /// The DC/OS CA bundle (`dcos-ca.crt`). Absent: the system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// How the controller logs in: exactly one of `serviceAccountSecretFile`,
    /// `uid` with `passwordFile`, or `tokenFile`.
    pub credentials: DcosLogin,
}

/// DC/OS login credentials: exactly one of `serviceAccountSecretFile`, `uid` with
/// `passwordFile`, or `tokenFile`. Secrets stay in files, out of the manifest.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DcosLogin {
    /// A service account secret file (JSON with `uid`, `private_key` and
    /// `login_endpoint`, as written by `dcos security org service-accounts keypair`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_secret_file: Option<String>,
    /// A DC/OS user ID; needs `passwordFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// A file holding the password of `uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// A file holding a ready authentication token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

/// How the controller reaches etcd.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdSection {
    /// Client TLS files. Absent: plain HTTP, or on the local platform with `tls: auto`
    /// the client certificate etcd-warden generated for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// DC/OS only: a client URL template with `{pod}` and `{service}` (default:
    /// `https://{pod}-peer.{service}.autoip.dcos.thisdcos.directory:2379`), or a map of
    /// pod name (`etcd-0`) to client URL naming every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// DC/OS only: the port of the members' metrics listener (plain HTTP `/metrics`)
    /// on the host of each client URL, asked when a member's client port fails, to tell
    /// a client connection that fails (TLS files, client URL) from a member that is
    /// down. Default 2381 (the `kubernetes-cluster` 2.3+ package's); `0` asks none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    /// The members' database quota (`--quota-backend-bytes`): a byte count or a size
    /// with a unit (`4GiB`), 1MiB to 8GiB. The local platform starts etcd with it; on
    /// DC/OS it only informs reporting (the package sets the flag). Absent: etcd's
    /// default, 2 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_backend_bytes: Option<ByteSizeValue>,
}

/// Client TLS files, as PEM files.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSection {
    /// The CA bundle that signed the members' certificates (`ca-crt.pem`).
    pub ca_file: String,
    /// The client certificate (`etcd-crt.pem`).
    pub cert_file: String,
    /// The client key (`etcd-key.pem`).
    pub key_file: String,
}

/// What the controller may do on its own for risky changes.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySection {
    /// What a scale-up needs. Default: `RequireFreshBackup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScaleUp>,
    /// What a permanent quorum loss leads to. Default: `Manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_loss: Option<QuorumLoss>,
    /// Restore only from a source at most this much older than the last revision seen
    /// before the loss; `0s` allows no data loss at all. Default: `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_data_loss: Option<HumanDuration>,
    /// What a NOSPACE alarm (a database at its quota, refusing writes) leads to.
    /// Default: `Manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_space: Option<NoSpace>,
}

/// What a scale-up needs.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleUp {
    /// A verified backup younger than `backup.freshFor` must exist; otherwise the
    /// scale-up is refused.
    RequireFreshBackup,
    /// Take and verify a backup first, then scale (needs a `backup` section).
    BackupFirst,
}

/// What a permanent quorum loss leads to.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumLoss {
    /// Report `RestoreRequired` and wait for a human.
    Manual,
    /// Restore automatically, guarded by `maxDataLoss`.
    Restore,
}

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
