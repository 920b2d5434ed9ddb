//! How validation collects errors: a [`Checker`] that each section's rules extend
//! (in the section's own file), the shared checks of durations, counts and paths, and
//! what an HTTP URL is.

use std::time::Duration;

use crate::manifest::error::FieldError;
use crate::manifest::values::HumanDuration;

/// Whether a duration of zero makes sense for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    /// `0s` has a meaning (e.g. "restart at once").
    Allowed,
    /// `0s` would make the rule meaningless or dangerous.
    Refused,
}

/// Collects field errors while a manifest is checked section by section.
#[derive(Debug, Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<FieldError>,
}

impl Checker {
    /// Records an error at `path`.
    pub(super) fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    /// Whether no error has been recorded yet.
    pub(super) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// Parses an optional duration, applying `default` when it is absent.
    pub(super) fn duration(
        &mut self,
        path: &str,
        value: Option<&HumanDuration>,
        default: Duration,
        zero: Zero,
    ) -> Option<Duration> {
        let Some(value) = value else {
            return Some(default);
        };
        self.required_duration(path, value, zero)
    }

    /// An optional count within `allowed`, `default` when absent; `what` says what is
    /// counted in the error.
    pub(super) fn count(
        &mut self,
        path: &str,
        value: Option<u32>,
        default: u32,
        allowed: std::ops::RangeInclusive<u32>,
        what: &str,
    ) -> Option<u32> {
        match value {
            None => Some(default),
            Some(n) if allowed.contains(&n) => Some(n),
            Some(n) => {
                let (min, max) = (allowed.start(), allowed.end());
                self.fail(path, format!("{n} is not allowed ({min} to {max} {what})"));
                None
            }
        }
    }

    /// Parses a duration that has no default.
    pub(super) fn required_duration(
        &mut self,
        path: &str,
        value: &HumanDuration,
        zero: Zero,
    ) -> Option<Duration> {
        match value.parse() {
            Ok(duration) if duration.is_zero() && zero == Zero::Refused => {
                self.fail(
                    path,
                    format!(
                        "{:?} is not allowed (a duration of more than 0, e.g. 30s, 5m, 7d)",
                        value.as_str()
                    ),
                );
                None
            }
            Ok(duration) => Some(duration),
            Err(error) => {
                self.fail(
                    path,
                    format!(
                        "{:?} is not a duration: {error} (allowed: a number and a unit, e.g. 30s, 5m, 7d)",
                        value.as_str()
                    ),
                );
                None
            }
        }
    }

    /// Checks that a file path is not empty.
    pub(super) fn file_path(&mut self, path: &str, value: &str) -> Option<std::path::PathBuf> {
        if value.trim().is_empty() {
            self.fail(
                path,
                "an empty path is not allowed (the path of a file, absolute or relative to the controller's working directory)",
            );
            return None;
        }
        Some(value.into())
    }
}

/// Whether `text` is an `http://` or `https://` URL with a host.
pub(super) fn is_http_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !rest.chars().any(char::is_whitespace)
    })
}
