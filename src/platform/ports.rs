//! The ports `ports: auto` gives the local platform's members.
//!
//! They are drawn from [`AUTO_PORTS`], a fixed range below the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default on Linux), from
//! which the kernel picks the local port of every outgoing connection and of every
//! `bind(0)`. A member's port taken from the ephemeral range can be taken in turn, while
//! the member is down, by any outgoing connection on the machine (an etcd client, a
//! peer dialling another member): the member then cannot listen and exits at start.
//! Within the range a port is still tested by binding it, and never given to two
//! members: the ports every cluster of the state directory has recorded are skipped.
//!
//! This module chooses numbers; it starts nothing and keeps nothing bound.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::path::Path;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PlatformError;
use crate::domain::PodName;
use crate::manifest::PortsSpec;

/// The client and peer port of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPorts {
    /// The client port (2379 by convention).
    pub client: u16,
    /// The peer port (2380 by convention).
    pub peer: u16,
}

/// The ports of `pod`, which has none yet: from the base port, or free ones of
/// [`AUTO_PORTS`] on `host` that no member of `recorded` (this cluster's) nor of a
/// neighbouring cluster under the state directory of `root` has.
///
/// # Errors
/// When a base port leaves no room for the pod, or no port is free.
pub fn assign(
    spec: PortsSpec,
    host: &str,
    root: &Path,
    pod: PodName,
    recorded: &BTreeMap<PodName, MemberPorts>,
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
    let mut taken = BTreeSet::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path().join("platform").join("ports.json");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let Ok(recorded) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let members = recorded.as_object().into_iter().flat_map(|o| o.values());
        for port in members.flat_map(|m| [&m["client"], &m["peer"]]) {
            if let Some(port) = port.as_u64().and_then(|p| u16::try_from(p).ok()) {
                taken.insert(port);
            }
        }
    }
    taken
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
}
