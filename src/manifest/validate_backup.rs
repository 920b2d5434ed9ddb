//! Validation of the `backup` section: schedule, destination, S3 settings, retention.

use std::time::Duration;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

use super::desired::{BackupPolicy, Destination, Retention, S3Credentials, S3Destination, Schedule};
use super::spec_backup::{BackupSection, RetentionSection, S3Options};
use super::spec_values::BackupSchedule;
use super::validate::{Checker, Zero};
use super::validate_platform::is_http_url;

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
