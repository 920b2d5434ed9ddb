//! Target `backup`: what the controller reads back about backups. Four parsers, one
//! per case:
//!
//! - `store FILE`: a state-directory file (`backups.json`, the catalog; `desired.json`,
//!   `history.json`, `events.json`) read by `Store`; a catalog that reads is handed to
//!   the catalog rules (`newest_restorable`, `fresh`, `to_prune`) at edge times;
//! - `trailer K`: a snapshot stream fed to `TrailerCheck` in chunks, compared with the
//!   whole-file SHA-256 and trailer (an oracle, not only "no panic");
//! - `bbolt`: a bbolt file built here (inline, one-leaf or branch `key` bucket), damaged
//!   or not, walked by `snapshot_revision`; an undamaged one must give its revision;
//! - `id`: backup IDs and cluster names parsed, written and parsed again.
//!
//! Invariants: no panic, no overflow; a refusal is one error with a message.

use std::time::Duration;

use etcd_warden::backup::bbolt::snapshot_revision;
use etcd_warden::backup::snapshot::TrailerCheck;
use etcd_warden::domain::{BackupId, ClusterName};
use etcd_warden::event::Event;
use etcd_warden::manifest::desired::Retention;
use etcd_warden::model::catalog::{self, BackupRecord};
use etcd_warden::model::history::History;
use etcd_warden::store::Store;
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bbolt;
use super::engine::{Case, Rng, Target, Verdict};
use super::mutate::{HARD_STRINGS, mutate_text, mutate_value};

const FILES: &[&str] = &["backups.json", "desired.json", "history.json", "events.json"];

pub struct BackupTarget {
    dir: tempfile::TempDir,
    store: Store,
    name: ClusterName,
    /// A valid file of each kind, as JSON.
    seeds: Vec<(&'static str, Value)>,
}

fn record(at: i64, revision: i64) -> BackupRecord {
    let taken_at = Timestamp::from_second(at).unwrap_or(Timestamp::UNIX_EPOCH);
    BackupRecord {
        id: BackupId::new(taken_at, revision),
        cluster: "fuzz".parse().unwrap_or_else(|_| unreachable!()),
        taken_at,
        source: "etcd-0".parse().unwrap_or_else(|_| unreachable!()),
        revision,
        keys: 10,
        size_bytes: 4096,
        sha256: "ab".repeat(32),
        verified: true,
        duration_seconds: 0.5,
        location: "file:///tmp/x/fuzz".into(),
        cluster_id: None,
    }
}

impl BackupTarget {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let name: ClusterName = "fuzz".parse().expect("name");
        let manifest: Value =
            serde_yaml_ng::from_str(include_str!("../../manifests/local-ha.yaml")).expect("manifest");
        store.put_desired(&name, manifest, Timestamp::UNIX_EPOCH).expect("desired");
        store.put_history(&name, &History::default()).expect("history");
        store
            .add_events(&name, &[Event::normal(Timestamp::UNIX_EPOCH, "Fuzz", "seed".into())])
            .expect("events");
        store.put_backups(&name, &[record(1_700_000_000, 7), record(1_700_000_600, 9)]).expect("backups");
        let seeds = FILES
            .iter()
            .map(|f| {
                let text = std::fs::read(store.cluster_dir(&name).join(f)).expect("seed file");
                (*f, serde_json::from_slice(&text).expect("JSON"))
            })
            .collect();
        Self { dir, store, name, seeds }
    }

    fn check_store(&self, file: &str, data: &[u8]) -> Result<(), String> {
        let path = self.store.cluster_dir(&self.name).join(file);
        std::fs::write(&path, data).map_err(|e| format!("harness: {e}"))?;
        let what = |e: etcd_warden::store::StoreError| e.to_string();
        match file {
            "backups.json" => {
                let records = self.store.backups(&self.name).map_err(what)?;
                catalog_rules(&records, data);
            }
            "desired.json" => {
                self.store.desired(&self.name).map_err(what)?;
            }
            "history.json" => {
                self.store.history(&self.name).map_err(what)?;
            }
            _ => {
                self.store.events(&self.name).map_err(what)?;
            }
        }
        Ok(())
    }
}

/// The catalog rules at edge times and durations.
fn catalog_rules(records: &[BackupRecord], data: &[u8]) {
    let times = [
        Timestamp::MIN,
        Timestamp::UNIX_EPOCH,
        Timestamp::MAX,
        Timestamp::from_second(1_700_000_300).unwrap_or_default(),
    ];
    let durations =
        [Duration::ZERO, Duration::from_secs(900), Duration::MAX, Duration::from_secs(u64::MAX / 2)];
    let pick = data.len();
    for now in times {
        let fresh_for = durations[pick % durations.len()];
        let _ = catalog::newest_verified(records);
        let _ = catalog::newest_restorable(records, now);
        let _ = catalog::fresh(records, fresh_for, now);
        for keep_last in [None, Some(0), Some(1), Some(u32::MAX)] {
            let retention = Retention { keep_last, max_age: Some(fresh_for) };
            let _ = catalog::to_prune(records, &retention, now);
        }
        for r in records {
            let _ = (r.age(now), r.object(), r.metadata_object());
        }
    }
}

/// Feeds `data` to a `TrailerCheck` in chunks cut by `rng`, and compares.
fn check_trailer(data: &[u8], cuts: u64) -> Result<(), String> {
    let mut check = TrailerCheck::default();
    let mut rng = Rng::new(cuts);
    let mut rest = data;
    while !rest.is_empty() {
        let most = if rng.chance(50) { 40 } else { 5000 };
        let n = (1 + rng.below(most)).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        check.update(chunk);
        if rng.chance(10) {
            check.update(&[]);
        }
        rest = tail;
    }
    let (ok, hash, size) = check.finish();
    let expected_ok =
        data.len() >= 32 && Sha256::digest(&data[..data.len() - 32]).as_slice() == &data[data.len() - 32..];
    let expected_hash = hex::encode(Sha256::digest(data));
    if ok != expected_ok || hash != expected_hash || size != data.len() as u64 {
        return Err(format!(
            "FINDING: trailer check says ({ok}, {hash}, {size}), the whole file says ({expected_ok}, {expected_hash}, {})",
            data.len()
        ));
    }
    Ok(())
}

impl Target for BackupTarget {
    fn name(&self) -> &'static str {
        "backup"
    }

    fn generate(&mut self, rng: &mut Rng) -> Case {
        match rng.below(10) {
            0..=3 => {
                let (file, seed) = rng.pick(&self.seeds).clone();
                let mut value = seed;
                if rng.chance(90) {
                    mutate_value(rng, &mut value);
                }
                let mut data = value.to_string().into_bytes();
                if rng.chance(25) {
                    mutate_text(rng, &mut data);
                }
                Case { label: format!("store {file}"), data }
            }
            4 | 5 => {
                let most = if rng.chance(50) { 64 } else { 20_000 };
                let mut content = vec![0u8; rng.below(most)];
                content.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
                if rng.chance(60) {
                    let digest = Sha256::digest(&content);
                    content.extend_from_slice(&digest);
                    if rng.chance(30) {
                        let at = rng.below(content.len());
                        content[at] ^= 1;
                    }
                }
                Case { label: format!("trailer {}", rng.next_u64()), data: content }
            }
            6..=8 => {
                let (mut data, revision) = bbolt::build(rng);
                let damaged = rng.chance(80);
                if damaged {
                    bbolt::damage(rng, &mut data);
                }
                let label = if damaged { "bbolt damaged".to_owned() } else { format!("bbolt {revision}") };
                Case { label, data }
            }
            _ => {
                let mut text = if rng.chance(50) {
                    BackupId::new(
                        Timestamp::from_second(rng.below(4_000_000_000) as i64).unwrap_or_default(),
                        rng.next_u64() as i64,
                    )
                    .to_string()
                } else {
                    (*rng.pick(HARD_STRINGS)).to_owned()
                }
                .into_bytes();
                if rng.chance(50) {
                    mutate_text(rng, &mut text);
                }
                Case { label: "id".into(), data: text }
            }
        }
    }

    fn check(&mut self, case: &Case) -> Verdict {
        let result = match case.label.split_once(' ') {
            Some(("store", file)) => self.check_store(file, &case.data),
            Some(("trailer", cuts)) => check_trailer(&case.data, cuts.parse().unwrap_or(0)),
            Some(("bbolt", expected)) => {
                let path = self.dir.path().join("snapshot.db");
                if let Err(e) = std::fs::write(&path, &case.data) {
                    return Verdict::Finding(format!("harness: {e}"));
                }
                match (snapshot_revision(&path), expected.parse::<i64>()) {
                    (Ok(got), Ok(want)) if got != want => {
                        Err(format!("FINDING: revision {got}, built with {want}"))
                    }
                    (Err(e), Ok(_)) => Err(format!("FINDING: an undamaged file is refused: {e}")),
                    (Ok(_), _) => Ok(()),
                    (Err(e), Err(_)) => Err(e.to_string()),
                }
            }
            _ => ids(&String::from_utf8_lossy(&case.data)),
        };
        match result {
            Ok(()) => Verdict::Accepted,
            Err(m) if m.starts_with("FINDING: ") => Verdict::Finding(m["FINDING: ".len()..].to_owned()),
            Err(m) => Verdict::Rejected(m),
        }
    }
}

fn ids(text: &str) -> Result<(), String> {
    let cluster = text.parse::<ClusterName>().map(|n| n.to_string() == text);
    let backup = text.parse::<BackupId>().map(|b| b.to_string() == text);
    if cluster == Ok(false) || backup == Ok(false) {
        return Err(format!("FINDING: {text:?} does not read back as written"));
    }
    match backup {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
