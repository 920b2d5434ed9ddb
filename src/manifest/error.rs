//! Why a manifest was refused: field errors and the one error a load returns.
//!
//! Every message names the source (file name, or what the API received), the document
//! (1-based), the field path and what is allowed, on one line per problem:
//! `cluster.yaml: document 1: spec.members: 2 is not allowed (1, 3 or 5: ...)`.
//! A manifest error is permanent: retrying with the same text fails the same way.

use std::fmt;

/// A line and column in the source text, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// One problem with one field of a manifest. An empty path means the document as a
/// whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.backup.retention.keepLast`.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Where the field is in the source, when the parser knows it.
    pub position: Option<Position>,
}

impl FieldError {
    /// An error at `path`, without a source position.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), position: None }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(position) = self.position {
            write!(f, " ({position})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// The text format a manifest was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// YAML, one or more documents separated by `---`.
    Yaml,
    /// JSON, one or more objects one after the other.
    Json,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

/// Why a manifest source was refused. A refused source changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{source_name}: cannot read the manifest: {cause}")]
    Read {
        /// The file as named by the caller.
        source_name: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The source holds no document at all.
    #[error("{source_name}: no EtcdCluster document found ({reason})")]
    NoDocument {
        /// The file name, or what the API received.
        source_name: String,
        /// Why: e.g. "the file is empty".
        reason: String,
    },
    /// The text is not well-formed YAML or JSON.
    #[error("{}", render_syntax(source_name, *document, *format, *position, message))]
    Syntax {
        /// The file name, or what the API received.
        source_name: String,
        /// The 1-based document the parser was reading.
        document: usize,
        /// The format the text was read as.
        format: SourceFormat,
        /// Where the parser stopped, when it says.
        position: Option<Position>,
        /// The parser's explanation, without its position.
        message: String,
    },
    /// A document is well-formed but not an acceptable `EtcdCluster`.
    #[error("{}", render_invalid(source_name, *document, errors))]
    Invalid {
        /// The file name, or what the API received.
        source_name: String,
        /// The 1-based document.
        document: usize,
        /// Every problem found in the document (at least one).
        errors: Vec<FieldError>,
    },
}

impl ManifestError {
    /// The 1-based document the error is about, when it is about one.
    pub fn document(&self) -> Option<usize> {
        match self {
            Self::Syntax { document, .. } | Self::Invalid { document, .. } => Some(*document),
            Self::Read { .. } | Self::NoDocument { .. } => None,
        }
    }

    /// The field errors of a refused document; empty for other errors.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn render_syntax(
    source_name: &str,
    document: usize,
    format: SourceFormat,
    position: Option<Position>,
    message: &str,
) -> String {
    let at = position.map(|p| format!("{p}: ")).unwrap_or_default();
    format!("{source_name}: document {document}: {at}the {format} is not well-formed: {message}")
}

fn render_invalid(source_name: &str, document: usize, errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| format!("{source_name}: document {document}: {error}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Turns a serde error into a field error: the path comes from `serde_path_to_error`,
/// the message is serde's, reworded to say what is allowed.
///
/// `message` must already be stripped of the position and of any path prefix the
/// format adds.
pub(super) fn from_serde(path: &str, message: &str, position: Option<Position>) -> FieldError {
    let (path, message) = reword(path, message);
    FieldError { path, message, position }
}

/// Joins a parent path (`.` for the root) and a field name.
fn child(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() { field.to_owned() } else { format!("{parent}.{field}") }
}

/// The names between backticks in a serde message, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Serde's name for an expected type, in the words of the manifest.
fn expected(text: &str) -> String {
    match text {
        "u8" | "u16" | "u32" | "u64" | "i32" | "i64" => "a whole number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        other if other.starts_with("struct ") => "a mapping of fields".to_owned(),
        other => other.to_owned(),
    }
}

fn reword(path: &str, message: &str) -> (String, String) {
    let path = if path.is_empty() { "." } else { path };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let field = names.first().copied().unwrap_or_default();
        let allowed = if rest.contains("there are no fields") {
            "no field is allowed here".to_owned()
        } else {
            format!("allowed here: {}", names.get(1..).unwrap_or_default().join(", "))
        };
        // serde_path_to_error already ends the path with the unknown key.
        return (path.to_owned(), format!("unknown field {field:?} ({allowed})"));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = backticked(rest).first().copied().unwrap_or_default();
        return (child(path, field), "is missing (this field is required)".to_owned());
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let field = backticked(rest).first().copied().unwrap_or_default();
        let path = if path.ends_with(field) { path.to_owned() } else { child(path, field) };
        return (path, "is given twice (each field may appear once)".to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        let value = names.first().copied().unwrap_or_default();
        let allowed = names.get(1..).unwrap_or_default().join(", ");
        return (path.to_owned(), format!("{value:?} is not allowed (allowed: {allowed})"));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, wanted)) =
            message.strip_prefix(prefix).and_then(|rest| rest.rsplit_once(", expected "))
        {
            let found = match found {
                "unit value" => "null (an empty value)".to_owned(),
                "map" => "a mapping".to_owned(),
                "sequence" => "a list".to_owned(),
                other => other.replace('`', ""),
            };
            return (path.to_owned(), format!("{found} is not allowed (allowed: {})", expected(wanted)));
        }
    }
    (path.to_owned(), message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_list_what_is_allowed() {
        let error = from_serde("spec.foo", "unknown field `foo`, expected one of `members`, `paused`", None);
        assert_eq!(error.to_string(), "spec.foo: unknown field \"foo\" (allowed here: members, paused)");
    }

    #[test]
    fn missing_fields_name_the_field() {
        let error = from_serde("metadata", "missing field `name`", None);
        assert_eq!(error.path, "metadata.name");
        let error = from_serde(".", "missing field `kind`", None);
        assert_eq!(error.path, "kind");
    }

    #[test]
    fn type_errors_say_what_is_allowed() {
        let position = Some(Position { line: 3, column: 7 });
        let error = from_serde("spec.paused", "invalid type: string \"yes\", expected a boolean", position);
        assert_eq!(
            error.to_string(),
            "spec.paused: string \"yes\" is not allowed (allowed: true or false) (line 3 column 7)"
        );
    }

    #[test]
    fn unknown_variants_list_the_variants() {
        let error = from_serde(
            "spec.policy.scaleUp",
            "unknown variant `Yolo`, expected `RequireFreshBackup` or `BackupFirst`",
            None,
        );
        assert_eq!(error.message, "\"Yolo\" is not allowed (allowed: RequireFreshBackup, BackupFirst)");
    }
}
