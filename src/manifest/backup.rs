//! The `backup` section: scheduled, verified backups (schedule, destination, S3
//! settings, retention, freshness, drills), as written, as validated, and the rules
//! between.

use std::path::PathBuf;
use std::time::Duration;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::check::{Checker, Zero, is_http_url};
use crate::manifest::values::{BackupSchedule, HumanDuration};

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
    /// When restore drills run; `None`: only on demand.
    pub drill: Option<Schedule>,
}

/// When scheduled backups (or restore drills) run.
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

const CRON_ALLOWED: &str = "allowed: a 5-field cron expression (minute hour day-of-month month day-of-week) such as \"*/30 * * * *\", or every: DURATION";

const DESTINATION_ALLOWED: &str = "allowed: file:///absolute/path or s3://bucket/prefix";

/// Checks a 5-field cron expression; the error names the first field that is wrong.
fn check_cron(expression: &str) -> Result<(), String> {
    const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let reason = |error: CronError| {
        let text = match error {
            CronError::InvalidPattern(text)
            | CronError::IllegalCharacters(text)
            | CronError::ComponentError(text) => text,
            other => other.to_string(),
        };
        let text = text.trim_end_matches('.');
        let mut chars = text.chars();
        chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
    };
    let Err(error) = parser.parse(expression) else {
        return Ok(());
    };
    let parts: Vec<&str> = expression.split_whitespace().collect();
    for (index, (field, part)) in FIELDS.iter().zip(&parts).enumerate() {
        let mut alone = vec!["*"; FIELDS.len()];
        alone[index] = part;
        if let Err(error) = parser.parse(&alone.join(" ")) {
            return Err(format!("the {field} field {part:?}: {}", reason(error)));
        }
    }
    Err(reason(error))
}

/// Whether `bucket` follows the S3 bucket naming rules.
fn is_bucket_name(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

impl Checker {
    /// Checks the backup section; `Some(None)` when there is none.
    pub(super) fn backup(&mut self, backup: Option<&BackupSection>) -> Option<Option<BackupPolicy>> {
        let Some(backup) = backup else {
            return Some(None);
        };
        let schedule = self.schedule("spec.backup.schedule", &backup.schedule);
        let drill = match &backup.drill {
            None => Some(None),
            Some(drill) => self.schedule("spec.backup.drill", drill).map(Some),
        };
        let destination = self.destination(backup);
        let retention = self.retention(backup.retention.as_ref());
        let fresh_for = self.duration(
            "spec.backup.freshFor",
            backup.fresh_for.as_ref(),
            Duration::from_secs(15 * 60),
            Zero::Refused,
        );
        Some(Some(BackupPolicy {
            schedule: schedule?,
            destination: destination?,
            retention: retention?,
            fresh_for: fresh_for?,
            drill: drill?,
        }))
    }

    /// Checks a schedule at `path` (backups, drills, maintenance windows): a cron
    /// expression or `every`.
    pub(super) fn schedule(&mut self, path: &str, schedule: &BackupSchedule) -> Option<Schedule> {
        match schedule {
            BackupSchedule::Every(interval) => {
                self.required_duration(&format!("{path}.every"), interval, Zero::Refused).map(Schedule::Every)
            }
            BackupSchedule::Cron(expression) => {
                let fields = expression.split_whitespace().count();
                if fields != 5 {
                    self.fail(path, format!("{expression:?} has {fields} fields ({CRON_ALLOWED})"));
                    return None;
                }
                match check_cron(expression) {
                    Ok(()) => Some(Schedule::Cron(expression.trim().to_owned())),
                    Err(why) => {
                        self.fail(
                            path,
                            format!("{expression:?} is not a valid cron expression: {why} ({CRON_ALLOWED})"),
                        );
                        None
                    }
                }
            }
        }
    }

    fn destination(&mut self, backup: &BackupSection) -> Option<Destination> {
        const PATH: &str = "spec.backup.destination";
        let text = backup.destination.as_str();
        if let Some(path) = text.strip_prefix("file://") {
            if backup.s3.is_some() {
                self.fail(
                    "spec.backup.s3",
                    "is not allowed with a file:// destination (S3 settings need an s3://bucket/prefix destination)",
                );
            }
            if path.starts_with('/') && path.len() > 1 {
                return Some(Destination::Directory(path.into()));
            }
            self.fail(PATH, format!("{text:?} is not allowed (an absolute path: file:///absolute/path)"));
            return None;
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = self.s3_options(backup.s3.as_ref());
            if !is_bucket_name(bucket) {
                self.fail(
                    PATH,
                    format!(
                        "{text:?} is not allowed (s3://bucket/prefix, with a bucket name of 3-63 characters: a-z, 0-9, '.' and '-')"
                    ),
                );
                return None;
            }
            let (endpoint, region, credentials) = s3?;
            return Some(Destination::S3(S3Destination {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint,
                region,
                credentials,
            }));
        }
        self.fail(PATH, format!("{text:?} is not allowed ({DESTINATION_ALLOWED})"));
        None
    }

    #[allow(clippy::type_complexity)]
    fn s3_options(
        &mut self,
        options: Option<&S3Options>,
    ) -> Option<(Option<String>, Option<String>, Option<S3Credentials>)> {
        const PATH: &str = "spec.backup.s3";
        let Some(options) = options else {
            return Some((None, None, None));
        };
        let mut clean = true;
        if let Some(endpoint) = &options.endpoint
            && !is_http_url(endpoint)
        {
            clean = false;
            self.fail(
                format!("{PATH}.endpoint"),
                format!(
                    "{endpoint:?} is not allowed (an http:// or https:// URL of an S3-compatible server)"
                ),
            );
        }
        if let Some(region) = &options.region
            && (region.trim().is_empty() || region.chars().any(char::is_whitespace))
        {
            clean = false;
            self.fail(
                format!("{PATH}.region"),
                format!("{region:?} is not allowed (a region name such as eu-west-1)"),
            );
        }
        let credentials = match (&options.access_key_id, &options.secret_access_key_file) {
            (None, None) => None,
            (Some(key_id), Some(file)) if !key_id.trim().is_empty() => {
                let secret_access_key_file = self.file_path(&format!("{PATH}.secretAccessKeyFile"), file)?;
                Some(S3Credentials { access_key_id: key_id.clone(), secret_access_key_file })
            }
            (Some(_), Some(_)) => {
                self.fail(
                    format!("{PATH}.accessKeyId"),
                    "an empty key ID is not allowed (the access key ID that secretAccessKeyFile belongs to)",
                );
                return None;
            }
            (Some(_), None) => {
                self.fail(
                    format!("{PATH}.secretAccessKeyFile"),
                    "is missing (accessKeyId needs secretAccessKeyFile: a file holding the secret access key)",
                );
                return None;
            }
            (None, Some(_)) => {
                self.fail(
                    format!("{PATH}.accessKeyId"),
                    "is missing (secretAccessKeyFile needs accessKeyId)",
                );
                return None;
            }
        };
        clean.then(|| (options.endpoint.clone(), options.region.clone(), credentials))
    }

    fn retention(&mut self, retention: Option<&RetentionSection>) -> Option<Retention> {
        let Some(retention) = retention else {
            return Some(Retention::default());
        };
        let keep_last = match retention.keep_last {
            Some(0) => {
                self.fail(
                    "spec.backup.retention.keepLast",
                    "0 is not allowed (at least 1: the newest verified backup is always kept)",
                );
                None
            }
            other => Some(other),
        };
        let max_age = match &retention.max_age {
            None => Some(None),
            Some(age) => self.required_duration("spec.backup.retention.maxAge", age, Zero::Refused).map(Some),
        };
        Some(Retention { keep_last: keep_last?, max_age: max_age? })
    }
}
