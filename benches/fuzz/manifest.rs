//! Target `manifest`: YAML or JSON text into validated `DesiredCluster`s
//! (`manifest::parse_str`). Seeds: the shipped manifests, changed a few fields at a
//! time, written as YAML or JSON, sometimes damaged as text.
//!
//! Invariants: no panic; a refusal is one `ManifestError` naming the source, with
//! every field error non-empty; an accepted manifest, stored as JSON the way the daemon
//! stores it, validates again into the same desired state.

use etcd_warden::manifest::{ManifestError, desired_from_json, parse_str};
use serde_json::Value;

use super::engine::{Case, Rng, Target, Verdict};
use super::mutate::{alias_bomb, mutate_text, mutate_value};

pub const SEEDS: &[&str] = &[
    include_str!("../../manifests/local-ha.yaml"),
    include_str!("../../manifests/local-single.yaml"),
    include_str!("../../manifests/dcos-ha.yaml"),
];

const SOURCE: &str = "fuzz.yaml";

/// The seed manifests as JSON values.
pub fn seed_values() -> Vec<Value> {
    SEEDS.iter().filter_map(|s| serde_yaml_ng::from_str(s).ok()).collect()
}

/// A manifest, structurally mutated, as a JSON value.
pub fn mutated_manifest(rng: &mut Rng, seeds: &[Value]) -> Value {
    let mut value = rng.pick(seeds).clone();
    if rng.chance(85) {
        mutate_value(rng, &mut value);
    }
    value
}

pub struct ManifestTarget {
    seeds: Vec<Value>,
}

impl ManifestTarget {
    pub fn new() -> Self {
        Self { seeds: seed_values() }
    }
}

impl Target for ManifestTarget {
    fn name(&self) -> &'static str {
        "manifest"
    }

    fn generate(&mut self, rng: &mut Rng) -> Case {
        if rng.chance(1) {
            return Case { label: "bomb".into(), data: alias_bomb(rng.below(10)).into_bytes() };
        }
        let mut documents = Vec::new();
        let json = rng.chance(40);
        for _ in 0..if rng.chance(10) { 2 + rng.below(2) } else { 1 } {
            let value = mutated_manifest(rng, &self.seeds);
            documents.push(if json {
                if rng.chance(50) {
                    value.to_string()
                } else {
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                }
            } else {
                serde_yaml_ng::to_string(&value).unwrap_or_default()
            });
        }
        let separator = if json && rng.chance(50) { "\n" } else { "---\n" };
        let mut data = documents.join(separator).into_bytes();
        if rng.chance(30) {
            mutate_text(rng, &mut data);
        }
        Case { label: if json { "json" } else { "yaml" }.into(), data }
    }

    fn check(&mut self, case: &Case) -> Verdict {
        let text = String::from_utf8_lossy(&case.data);
        match parse_str(SOURCE, &text) {
            Ok(loaded) => {
                if loaded.is_empty() {
                    return Verdict::Finding("accepted, but no document came out".into());
                }
                for doc in loaded {
                    // The daemon stores the manifest as JSON and validates it on every read.
                    let stored = match serde_json::to_value(&doc.manifest) {
                        Ok(v) => v,
                        Err(e) => {
                            return Verdict::Finding(format!("an accepted manifest cannot be stored: {e}"));
                        }
                    };
                    match desired_from_json(&stored) {
                        Ok(again) if again == doc.desired => {}
                        Ok(again) => {
                            return Verdict::Finding(format!(
                                "stored and read again, document {} means something else: {:?} then {again:?}",
                                doc.document, doc.desired
                            ));
                        }
                        Err(e) => {
                            return Verdict::Finding(format!(
                                "document {} was accepted but its stored form is refused: {e}",
                                doc.document
                            ));
                        }
                    }
                }
                Verdict::Accepted
            }
            Err(error) => judge_error(&error),
        }
    }
}

/// A refusal must name the source, and each field error must say something.
fn judge_error(error: &ManifestError) -> Verdict {
    let message = error.to_string();
    if !message.starts_with(SOURCE) {
        return Verdict::Finding(format!("the error does not name the source: {message}"));
    }
    if let ManifestError::Invalid { errors, .. } = error {
        if errors.is_empty() {
            return Verdict::Finding("an invalid document with no field error".into());
        }
        if let Some(e) = errors.iter().find(|e| e.message.trim().is_empty()) {
            return Verdict::Finding(format!("a field error without a message at {:?}", e.path));
        }
    }
    Verdict::Rejected(message)
}
