//! The ports `ports: auto` gives the local platform's members.
//!
//! They are drawn from [`AUTO_PORTS`], a fixed range below the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default on Linux), from
//! which the kernel picks the local port of every outgoing connection and of every
//! `bind(0)`. A member's port taken from the ephemeral range can be taken in turn, while
//! the member is down, by any outgoing connection on the machine (an etcd client, a
//! peer dialling another member): the member then cannot listen and exits at start.
//! Within the range a port is still tested by binding it, and never given to two
//! members: the ports every cluster of the state directory has recorded are skipped,
//! and so are those of every other controller of this machine ([`MachineRegistry`]).
//! The bind test alone cannot tell: a port chosen for a member that is not listening
//! yet, or that is down, binds fine, and two controllers would give it twice. The
//! member started second then cannot listen, and the first one's cluster answers at
//! its URL (the controllers set such a stranger aside: [`crate::model::strangers`]).
//!
//! This module chooses numbers; it starts nothing and keeps nothing bound.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::PodName;
use crate::manifest::PortsSpec;
use crate::platform::PlatformError;
use crate::store::atomic::{ensure_private_dir, write_atomic};

/// The client and peer port of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPorts {
    /// The client port (2379 by convention).
    pub client: u16,
    /// The peer port (2380 by convention).
    pub peer: u16,
}

/// The ports of `pod`, which has none yet: from the base port, or free ones of
/// [`AUTO_PORTS`] on `host` that no member of `recorded` (this cluster's), of a
/// neighbouring cluster under the state directory of `root`, nor of `elsewhere` (other
/// controllers') has.
///
/// # Errors
/// When a base port leaves no room for the pod, or no port is free.
pub fn assign(
    spec: PortsSpec,
    host: &str,
    root: &Path,
    pod: PodName,
    recorded: &BTreeMap<PodName, MemberPorts>,
    elsewhere: &BTreeSet<u16>,
) -> Result<MemberPorts, PlatformError> {
    match spec {
        PortsSpec::Base(base) => {
            let client = base.checked_add(2 * u16::from(pod.index()));
            match (client, client.and_then(|c| c.checked_add(1))) {
                (Some(client), Some(peer)) => Ok(MemberPorts { client, peer }),
                _ => Err(PlatformError::Ports(format!("base port {base} leaves no room for {pod}"))),
            }
        }
        PortsSpec::Auto => {
            let mut taken = recorded_by_neighbours(root);
            taken.extend(elsewhere);
            taken.extend(recorded.values().flat_map(|p| [p.client, p.peer]));
            let client = choose(host, AUTO_PORTS, &taken)?;
            taken.insert(client);
            let peer = choose(host, AUTO_PORTS, &taken)?;
            Ok(MemberPorts { client, peer })
        }
    }
}

/// Where `ports: auto` draws from: below Linux's default ephemeral range (32768–60999)
/// and disjoint from the ports the fake DC/OS of the tests gives its pods
/// (20000–31999).
pub const AUTO_PORTS: RangeInclusive<u16> = 12000..=19999;

/// A free port of `range` on `host` that is not in `taken`, searching from a random
/// place in the range (two controllers choosing at once rarely test the same port).
///
/// # Errors
/// When `host` cannot be bound at all, or every port of the range is taken or in use.
pub fn choose(host: &str, range: RangeInclusive<u16>, taken: &BTreeSet<u16>) -> Result<u16, PlatformError> {
    let (low, high) = (u32::from(*range.start()), u32::from(*range.end()));
    let size = (high + 1).saturating_sub(low).max(1);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let start = u32::try_from(random % u64::from(size)).unwrap_or(0);
    let candidates = (0..size).filter_map(|step| u16::try_from(low + (start + step) % size).ok());
    first_free(host, candidates, taken)?.ok_or_else(|| {
        PlatformError::Ports(format!("every port of {low}-{high} on {host} is taken or in use"))
    })
}

/// The first of `candidates` not in `taken` that `host` can bind, if any.
fn first_free(
    host: &str,
    candidates: impl Iterator<Item = u16>,
    taken: &BTreeSet<u16>,
) -> Result<Option<u16>, PlatformError> {
    for port in candidates.filter(|p| !taken.contains(p)) {
        match TcpListener::bind((host, port)) {
            Ok(_) => return Ok(Some(port)),
            Err(e) if e.kind() == ErrorKind::AddrInUse => {}
            Err(e) => return Err(PlatformError::Ports(format!("bind {host}:{port}: {e}"))),
        }
    }
    Ok(None)
}

/// Every port recorded in the `ports.json` of the clusters beside `root`, when `root`
/// is a cluster's platform directory of a state directory
/// (`<state>/clusters/<name>/platform`). A file that cannot be read is skipped: the
/// bind test still guards the ports of running members.
pub fn recorded_by_neighbours(root: &Path) -> BTreeSet<u16> {
    let clusters = root.parent().and_then(Path::parent);
    let Some(clusters) = clusters.filter(|c| {
        root.file_name().is_some_and(|n| n == "platform") && c.file_name().is_some_and(|n| n == "clusters")
    }) else {
        return BTreeSet::new();
    };
    let Ok(entries) = std::fs::read_dir(clusters) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| recorded_in(&e.path().join("platform").join("ports.json")))
        .collect()
}

/// The ports files of every local platform of this machine's controllers (of this
/// user), listed in one file beside a lock that a controller holds while it chooses
/// ports and records them: two controllers with separate state directories never give
/// one port twice. A listed file that no longer exists (its state directory was
/// deleted) is dropped from the list at the next choice.
#[derive(Debug, Clone)]
pub struct MachineRegistry {
    dir: PathBuf,
}

impl MachineRegistry {
    /// The registry of this machine's user: `<temp dir>/etcd-warden-<uid>/`.
    pub fn of_this_user() -> Self {
        let uid = rustix::process::getuid().as_raw();
        Self::at(std::env::temp_dir().join(format!("etcd-warden-{uid}")))
    }

    /// A registry in `dir` (tests).
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Runs `choose` under the machine's lock with the ports every other listed ports
    /// file records, then lists `own` (the ports file `choose` writes). A registry that
    /// cannot be used (its directory belongs to someone else, say) leaves the choice to
    /// the bind test and the state directory's own files, with a warning.
    ///
    /// # Errors
    /// What `choose` returns.
    pub fn choose_under_lock<T>(
        &self,
        own: &Path,
        choose: impl FnOnce(&BTreeSet<u16>) -> Result<T, PlatformError>,
    ) -> Result<T, PlatformError> {
        let own = std::path::absolute(own).unwrap_or_else(|_| own.to_path_buf());
        let lock = match self.lock() {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "the machine's port registry cannot be used: ports are tested by binding only");
                return choose(&BTreeSet::new());
            }
        };
        let listed = self.listed();
        let others = listed.iter().filter(|p| **p != own);
        let taken: BTreeSet<u16> = others.flat_map(|p| recorded_in(p)).collect();
        let chosen = choose(&taken)?;
        let mut kept: Vec<PathBuf> = listed.into_iter().filter(|p| *p != own && p.exists()).collect();
        kept.push(own);
        let text: String = kept.iter().filter_map(|p| p.to_str()).map(|p| format!("{p}\n")).collect();
        if let Err(e) = write_atomic(&self.dir.join("ports.owners"), text.as_bytes()) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "the machine's port registry cannot be written");
        }
        drop(lock);
        Ok(chosen)
    }

    fn lock(&self) -> std::io::Result<std::fs::File> {
        ensure_private_dir(&self.dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("ports.lock"))?;
        file.lock()?;
        Ok(file)
    }

    fn listed(&self) -> Vec<PathBuf> {
        let text = std::fs::read_to_string(self.dir.join("ports.owners")).unwrap_or_default();
        text.lines().filter(|l| !l.is_empty()).map(PathBuf::from).collect()
    }
}

/// Every port a `ports.json` records; none when it cannot be read.
fn recorded_in(path: &Path) -> BTreeSet<u16> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeSet::new() };
    let Ok(recorded) = serde_json::from_str::<serde_json::Value>(&text) else { return BTreeSet::new() };
    let members = recorded.as_object().into_iter().flat_map(|o| o.values());
    members
        .flat_map(|m| [&m["client"], &m["peer"]])
        .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port of this machine, held by the returned listener.
    fn held() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        (listener, port)
    }

    #[test]
    fn the_auto_range_lies_below_the_kernels_ephemeral_range() {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("read range");
        let ephemeral: Vec<u16> = text.split_whitespace().map(|p| p.parse().expect("port")).collect();
        assert!(*AUTO_PORTS.end() < ephemeral[0], "{AUTO_PORTS:?} overlaps the ephemeral {ephemeral:?}");
        assert!(*AUTO_PORTS.start() > 1024, "no privileged port");
    }

    #[test]
    fn a_port_in_use_or_recorded_is_never_chosen() {
        let (_listener, busy) = held();
        let (released, free) = held();
        drop(released);
        let none = BTreeSet::new();
        let first = |candidates: &[u16], taken: &BTreeSet<u16>| {
            first_free("127.0.0.1", candidates.iter().copied(), taken).expect("bind test")
        };
        assert_eq!(first(&[busy, free], &none), Some(free), "a port in use is skipped");
        assert_eq!(first(&[busy], &none), None);
        assert_eq!(first(&[free, busy], &BTreeSet::from([free])), None, "a recorded port is skipped");
    }

    #[test]
    fn chosen_ports_stay_in_the_range_and_an_unknown_host_is_an_error() {
        let range = 12000..=12009;
        let mut taken = BTreeSet::new();
        for _ in 0..4 {
            let Ok(port) = choose("127.0.0.1", range.clone(), &taken) else { break };
            assert!(range.contains(&port));
            assert!(taken.insert(port), "{port} given twice");
        }
        assert!(choose("192.0.2.1", range, &BTreeSet::new()).is_err(), "not an address of this machine");
    }

    #[test]
    fn ports_recorded_by_other_clusters_of_the_state_directory_are_taken() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clusters = dir.path().join("clusters");
        for (name, json) in [("a", r#"{"etcd-0":{"client":12001,"peer":12002}}"#), ("b", "not json")] {
            let platform = clusters.join(name).join("platform");
            std::fs::create_dir_all(&platform).expect("create");
            std::fs::write(platform.join("ports.json"), json).expect("write");
        }
        let root = clusters.join("c").join("platform");
        assert_eq!(recorded_by_neighbours(&root), BTreeSet::from([12001, 12002]));
        assert!(recorded_by_neighbours(dir.path()).is_empty(), "not a state directory");
    }

    #[test]
    fn two_controllers_of_one_machine_never_give_one_port_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = MachineRegistry::at(dir.path().join("registry"));
        // Two state directories, as two controllers (or two tests) have.
        let (a, b) = (dir.path().join("a/ports.json"), dir.path().join("b/ports.json"));
        let range = 11000..=11003; // outside every range the suite draws from
        let record = |own: &Path| {
            registry
                .choose_under_lock(own, |elsewhere| {
                    let client = choose("127.0.0.1", range.clone(), elsewhere)?;
                    let mut taken = elsewhere.clone();
                    taken.insert(client);
                    let peer = choose("127.0.0.1", range.clone(), &taken)?;
                    std::fs::create_dir_all(own.parent().expect("parent")).expect("create");
                    let json = format!(r#"{{"etcd-0":{{"client":{client},"peer":{peer}}}}}"#);
                    std::fs::write(own, json).expect("write");
                    Ok([client, peer])
                })
                .map(BTreeSet::from)
        };
        // Nothing listens on any of them: the bind test alone would give them twice.
        let first = record(&a).expect("a's ports");
        let second = record(&b).expect("b's ports");
        assert!(first.is_disjoint(&second), "{first:?} and {second:?}");
        assert_eq!(first.union(&second).count(), 4);
        assert!(record(&dir.path().join("c/ports.json")).is_err(), "the range is used up");
        // A state directory deleted gives its ports back, and leaves the list.
        std::fs::remove_dir_all(dir.path().join("a")).expect("remove a");
        let third = record(&dir.path().join("c/ports.json")).expect("a's ports again");
        assert_eq!(third, first);
        let listed = registry.listed();
        assert!(listed.iter().all(|p| !p.starts_with(dir.path().join("a"))), "{listed:?}");
        assert_eq!(listed.len(), 2);
    }

    #[test]
    fn a_registry_that_cannot_be_used_leaves_the_choice_to_the_bind_test() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a file, not a directory");
        std::fs::write(&file, "").expect("write");
        let registry = MachineRegistry::at(file);
        let chosen =
            registry.choose_under_lock(&dir.path().join("ports.json"), |elsewhere| Ok(elsewhere.len()));
        assert_eq!(chosen.expect("chosen"), 0);
    }
}
