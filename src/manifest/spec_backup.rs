//! The `backup` section of the manifest: raw serde types.
//!
//! Like the rest of the raw manifest, these types only describe the shape; validation
//! checks the schedule, the destination and the durations.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec_values::{BackupSchedule, HumanDuration};

/// Scheduled, verified backups.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupSection {
    /// When scheduled backups run: a 5-field cron expression in UTC
    /// (`"*/30 * * * *"`) or `{ every: 30m }`. Overlapping runs are skipped.
    pub schedule: BackupSchedule,
    /// Where backups are written: `file:///absolute/path` or `s3://bucket/prefix`.
    pub destination: String,
    /// S3 settings for an `s3://` destination; each one left out falls back to the
    /// usual AWS environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...). Not allowed with
    /// a `file://` destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Options>,
    /// Which backups are kept. The newest verified backup is never deleted. Absent:
    /// every backup is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionSection>,
    /// How recent a verified backup must be for a risky change (a scale-up). Must be
    /// more than 0. Default: `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_for: Option<HumanDuration>,
    /// When restore drills run: the newest verified backup is restored into a scratch
    /// single-member etcd beside the controller (its own directory and loopback ports;
    /// the live cluster is never touched), checked against its catalog record (revision,
    /// key count, a sample of keys read back), then stopped and deleted. A 5-field cron
    /// expression in UTC (`"0 4 * * *"`) or `{ every: 24h }`, like `schedule`. Absent:
    /// no scheduled drills (`etcd-warden drill NAME` still runs one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<BackupSchedule>,
}

/// Which backups are kept; the newest verified backup is always kept.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionSection {
    /// Keep at most this many backups (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub keep_last: Option<u32>,
    /// Delete backups older than this (more than 0), e.g. `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
}

/// S3 settings for an `s3://bucket/prefix` destination.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Options {
    /// An S3-compatible server's URL (http or https), e.g. `http://127.0.0.1:9000` for
    /// MinIO. Absent: AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region, e.g. `eu-west-1`. Absent: from the AWS environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A static access key ID; needs `secretAccessKeyFile`. Absent: credentials from
    /// the AWS environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// A file holding the secret access key of `accessKeyId`, so that the secret stays
    /// out of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_file: Option<String>,
}
