//! Loading manifests: text (a file, or a body the API received) into validated
//! documents.
//!
//! A source is YAML (documents separated by `---`) or JSON (one or more objects). It is
//! read in two passes: the first checks that the text is well-formed and that every
//! document is an `EtcdCluster` of our `apiVersion`, so that a broken or foreign
//! document is reported as such rather than as a list of unknown fields; the second
//! deserializes each document into a [`Manifest`] with exact field paths, and validates
//! it. The first problem found refuses the whole source: nothing is half-applied.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};
use serde_json::Value;

use crate::domain::ClusterName;

use super::cluster::DesiredCluster;
use super::cluster::{API_VERSION, KIND, Manifest};
use super::error::{FieldError, ManifestError, Position, SourceFormat, from_serde};

/// One validated document of a source: the manifest as written (the daemon stores it
/// and validates it again on load) and the desired state it means.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    /// The 1-based position of the document in its source.
    pub document: usize,
    /// The manifest as written, defaults not applied.
    pub manifest: Manifest,
    /// The validated desired state, defaults applied.
    pub desired: DesiredCluster,
}

/// Reads and validates every document of a manifest file (YAML or JSON).
///
/// # Errors
///
/// [`ManifestError`] when the file cannot be read, holds no document, is not
/// well-formed, or has a document that is refused; the error names the file as given.
pub fn load_file(path: &Path) -> Result<Vec<LoadedManifest>, ManifestError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|cause| ManifestError::Read { source_name: source_name.clone(), cause })?;
    parse_str(&source_name, &text)
}

/// Parses and validates every document of `text`, e.g. a body received by the API;
/// `source_name` names it in errors.
///
/// # Errors
///
/// [`ManifestError`] when the text holds no document, is not well-formed, or has a
/// document that is refused, or two documents with the same cluster name.
pub fn parse_str(source_name: &str, text: &str) -> Result<Vec<LoadedManifest>, ManifestError> {
    let (format, documents) = scan(source_name, text)?;
    if documents.iter().all(Value::is_null) {
        let reason = if text.trim().is_empty() {
            "the file is empty"
        } else {
            "the file holds only comments or empty documents"
        };
        return Err(ManifestError::NoDocument {
            source_name: source_name.to_owned(),
            reason: reason.to_owned(),
        });
    }
    let invalid = |document: usize, errors: Vec<FieldError>| ManifestError::Invalid {
        source_name: source_name.to_owned(),
        document,
        errors,
    };
    let mut loaded = Vec::new();
    let mut names: BTreeMap<ClusterName, usize> = BTreeMap::new();
    let mut accept = |document: usize, manifest: Manifest| {
        let desired = manifest.validate().map_err(|errors| invalid(document, errors))?;
        if let Some(first) = names.insert(desired.name.clone(), document) {
            let error = FieldError::new(
                "metadata.name",
                format!(
                    "{:?} is already used by document {first} (allowed: each cluster name once per file)",
                    desired.name.as_str()
                ),
            );
            return Err(invalid(document, vec![error]));
        }
        loaded.push(LoadedManifest { document, manifest, desired });
        Ok(())
    };
    match format {
        SourceFormat::Yaml => {
            let typed = serde_yaml_ng::Deserializer::from_str(text);
            for ((index, value), document) in documents.iter().enumerate().zip(typed) {
                if let Some(manifest) =
                    typed_document(index + 1, value, document).map_err(|errors| invalid(index + 1, errors))?
                {
                    accept(index + 1, manifest)?;
                }
            }
        }
        SourceFormat::Json => {
            let mut typed = serde_json::Deserializer::from_str(text);
            for (index, value) in documents.iter().enumerate() {
                if let Some(manifest) = typed_document(index + 1, value, &mut typed)
                    .map_err(|errors| invalid(index + 1, errors))?
                {
                    accept(index + 1, manifest)?;
                }
            }
        }
    }
    Ok(loaded)
}

/// The position a parser error points at.
trait ErrorPosition {
    fn position(&self) -> Option<Position>;
}

impl ErrorPosition for serde_yaml_ng::Error {
    fn position(&self) -> Option<Position> {
        self.location().map(|location| Position { line: location.line(), column: location.column() })
    }
}

impl ErrorPosition for serde_json::Error {
    fn position(&self) -> Option<Position> {
        (self.line() > 0).then(|| Position { line: self.line(), column: self.column().max(1) })
    }
}

/// A parser's message without the position it appends (or embeds, for libyaml).
fn bare_message(message: &str, position: Option<Position>) -> String {
    match position {
        Some(position) => message.replacen(&format!(" at {position}"), "", 1),
        None => message.to_owned(),
    }
}

/// Pass 1: every document as a generic value (null for an empty one), in the format the
/// text is written in. JSON is tried first when the text starts with `{`; YAML covers
/// the rest (and JSON documents separated by `---`).
fn scan(source_name: &str, text: &str) -> Result<(SourceFormat, Vec<Value>), ManifestError> {
    let syntax = |format, (document, position, message)| ManifestError::Syntax {
        source_name: source_name.to_owned(),
        document,
        format,
        position,
        message,
    };
    let deep = |format| {
        let message = format!(
            "brackets nested deeper than {MAX_NESTING} levels are not allowed (allowed: at most {MAX_NESTING} levels of [ ] and {{ }})"
        );
        too_deep(text).map(|position| syntax(format, (1, Some(position), message)))
    };
    if text.trim_start().starts_with('{') {
        // serde_json is linear and stops at its recursion limit; YAML is tried after it
        // only on a text that is not too deep for it.
        let json_error = match scan_json(text) {
            Ok(documents) => return Ok((SourceFormat::Json, documents)),
            Err(json_error) => json_error,
        };
        if let Some(error) = deep(SourceFormat::Json) {
            return Err(error);
        }
        return scan_yaml(text)
            .map(|documents| (SourceFormat::Yaml, documents))
            .map_err(|_| syntax(SourceFormat::Json, json_error));
    }
    if let Some(error) = deep(SourceFormat::Yaml) {
        return Err(error);
    }
    scan_yaml(text)
        .map(|documents| (SourceFormat::Yaml, documents))
        .map_err(|error| syntax(SourceFormat::Yaml, error))
}

/// The deepest nesting of `[` and `{` a source may have: the parsers' own recursion
/// limit, far beyond any manifest.
const MAX_NESTING: usize = 128;

/// Where the text first nests `[` and `{` deeper than [`MAX_NESTING`], counting every
/// bracket (quoted or not: no manifest value holds that many). The YAML parser takes
/// time quadratic in the nesting before any recursion limit applies (a 1 MiB body of
/// `[` would hold a thread for hours), so such a text is refused before YAML reads it.
/// Well-formed JSON (a stored manifest, an API body) never gets here: serde_json reads
/// it first, in linear time, brackets in strings and all.
fn too_deep(text: &str) -> Option<Position> {
    let (mut depth, mut line, mut column) = (0usize, 1, 0);
    for c in text.chars() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Position { line, column });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

type ScanError = (usize, Option<Position>, String);

fn scan_error(document: usize, error: &impl ErrorPosition, message: String) -> ScanError {
    let position = error.position();
    let mut message = bare_message(&message, position);
    if message.contains("end of stream") || message.starts_with("EOF while parsing") {
        message.push_str("; the file looks truncated");
    }
    (document, position, message)
}

fn scan_yaml(text: &str) -> Result<Vec<Value>, ScanError> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        // Return at the first error: after a syntax error the iterator repeats it.
        let value =
            Value::deserialize(document).map_err(|error| scan_error(index + 1, &error, error.to_string()))?;
        documents.push(value);
    }
    Ok(documents)
}

fn scan_json(text: &str) -> Result<Vec<Value>, ScanError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut documents = Vec::new();
    while deserializer.end().is_err() {
        let value = Value::deserialize(&mut deserializer)
            .map_err(|error| scan_error(documents.len() + 1, &error, error.to_string()))?;
        documents.push(value);
    }
    Ok(documents)
}

/// What a document's value is, in the manifest's words.
fn shape(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Checks that a document is a mapping with our `apiVersion` and `kind`.
fn check_header(value: &Value) -> Result<(), Vec<FieldError>> {
    let Value::Object(fields) = value else {
        return Err(vec![FieldError::new(
            "",
            format!(
                "{} is not allowed (allowed: an {KIND} mapping with apiVersion, kind, metadata and spec)",
                shape(value)
            ),
        )]);
    };
    let mut errors = Vec::new();
    for (field, wanted) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        match fields.get(field) {
            Some(Value::String(found)) if found == wanted => {}
            Some(found) => {
                errors.push(FieldError::new(field, format!("{found} is not allowed (allowed: {wanted})")))
            }
            None => errors.push(FieldError::new(field, format!("is missing (allowed: {wanted})"))),
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Pass 2 for one document: the typed manifest, or `None` for an empty document.
fn typed_document<'de, D>(
    number: usize,
    value: &Value,
    deserializer: D,
) -> Result<Option<Manifest>, Vec<FieldError>>
where
    D: Deserializer<'de>,
    D::Error: ErrorPosition,
{
    if value.is_null() {
        // Consume the document so that the next one lines up.
        IgnoredAny::deserialize(deserializer).map_err(|error| {
            vec![FieldError::new("", format!("document {number} could not be skipped: {error}"))]
        })?;
        return Ok(None);
    }
    check_header(value)?;
    serde_path_to_error::deserialize(deserializer).map(Some).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let position = inner.position();
        let message = strip_path_prefix(&bare_message(&inner.to_string(), position), &path);
        vec![from_serde(&path, &message, position)]
    })
}

/// Removes the path that serde_yaml_ng puts in front of its messages (`spec: unknown
/// field ...`); it is a prefix of the exact path `serde_path_to_error` tracked.
fn strip_path_prefix(message: &str, path: &str) -> String {
    let mut candidate = path;
    loop {
        if let Some(rest) = message.strip_prefix(&format!("{candidate}: ")) {
            return rest.to_owned();
        }
        match candidate.rsplit_once('.') {
            Some((parent, _)) => candidate = parent,
            None => return message.to_owned(),
        }
    }
}
