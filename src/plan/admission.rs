//! Admission of a new desired state over a managed cluster's: what may change on an
//! existing cluster, and the backup gate of a member count change (scenario 2). Pure:
//! `api::admission::apply` reads the backups and stores what it admits.

use jiff::Timestamp;

use crate::manifest::desired::{DesiredCluster, EndpointsSpec, LocalTlsSpec, PlatformSpec, ScaleUpPolicy};
use crate::model::capabilities::Capabilities;
use crate::model::catalog::{self, BackupRecord};
use crate::plan::scale::refusal;

/// Why a desired state is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One sentence: what is wrong and what to do.
    pub message: String,
    /// Whether it is a refused member count change (status shows `ScaleUpBlocked`).
    pub scale: bool,
}

/// The local platform's TLS as the operator wrote it: `none`, `auto` or `files`.
fn local_tls(platform: &PlatformSpec) -> Option<(&'static str, Option<&LocalTlsSpec>)> {
    let PlatformSpec::Local(local) = platform else {
        return None;
    };
    let name = match &local.tls {
        None => "none (plain http)",
        Some(LocalTlsSpec::Auto) => "auto",
        Some(LocalTlsSpec::Files(_)) => "files",
    };
    Some((name, local.tls.as_ref()))
}

/// Whether a member's client URL changes: another template or form, or a pod of the
/// map given another URL. A map that only gains or loses pods (a scale change) moves
/// none.
fn endpoints_moved(was: &EndpointsSpec, will: &EndpointsSpec) -> bool {
    match (was, will) {
        (EndpointsSpec::Map(was), EndpointsSpec::Map(will)) => {
            was.iter().any(|(pod, url)| will.iter().any(|(p, u)| p == pod && u != url))
        }
        (was, will) => was != will,
    }
}

fn endpoints(spec: &EndpointsSpec) -> String {
    match spec {
        EndpointsSpec::Default => "the default".to_owned(),
        EndpointsSpec::Template(t) => format!("template {t}"),
        EndpointsSpec::Map(map) => {
            let urls: Vec<String> = map.iter().map(|(pod, url)| format!("{pod}={url}")).collect();
            format!("map {}", urls.join(","))
        }
    }
}

fn kind(platform: &PlatformSpec) -> &'static str {
    match platform {
        PlatformSpec::Local(_) => "local",
        PlatformSpec::Dcos(_) => "dcos",
    }
}

/// Admits `next` over `current`, or says why not.
///
/// # Errors
/// A changed platform; a scale-down on DC/OS; a member count change without a
/// verified backup younger than `freshFor` (unless `policy.scaleUp: BackupFirst`).
pub fn admit(
    current: &DesiredCluster,
    next: &DesiredCluster,
    records: &[BackupRecord],
    now: Timestamp,
) -> Result<(), Refusal> {
    if kind(&current.platform) != kind(&next.platform) {
        let message = format!(
            "spec.platform cannot change from {} to {} (delete the cluster and apply it again)",
            kind(&current.platform),
            kind(&next.platform)
        );
        return Err(Refusal { message, scale: false });
    }
    if let (Some((from, was)), Some((to, will))) = (local_tls(&current.platform), local_tls(&next.platform))
        && was != will
    {
        let message = format!(
            "spec.platform.local.tls cannot change on an existing cluster (from {from} to {to}): the members' URLs, certificates and trust would all change at once; rotate certificate files in place, or delete the cluster and restore a backup into a new one"
        );
        return Err(Refusal { message, scale: false });
    }
    // Without TLS a new host (an alias of the same machine, say) changes no member: the
    // controller knows members by the ID that answers, never by a URL. With TLS the
    // members' certificates name the old host, and a client would refuse them.
    if let (PlatformSpec::Local(was), PlatformSpec::Local(will)) = (&current.platform, &next.platform)
        && was.host != will.host
        && (was.tls.is_some() || will.tls.is_some())
    {
        let message = format!(
            "spec.platform.local.host cannot change on an existing cluster with TLS (from {} to {}): the members' certificates name the old host, so clients would refuse them at the new one; keep the host, or take a backup, delete the cluster and restore it into a new one on the new host",
            was.host, will.host
        );
        return Err(Refusal { message, scale: false });
    }
    if let (PlatformSpec::Dcos(was), PlatformSpec::Dcos(will)) = (&current.platform, &next.platform)
        && was.service != will.service
    {
        let message = format!(
            "spec.platform.dcos.service cannot change on a managed cluster (from {} to {}): it names another DC/OS service, whose members are not this cluster's; run `etcd-warden delete {}` (the DC/OS service runs on) and apply the manifest again",
            was.service, will.service, next.name
        );
        return Err(Refusal { message, scale: false });
    }
    if endpoints_moved(&current.etcd.endpoints, &next.etcd.endpoints) {
        let message = format!(
            "spec.etcd.endpoints cannot change on a managed cluster (from {} to {}): a URL that reaches no member, or another member, would look like a member that stopped answering and be replaced; run `etcd-warden delete {}` (a DC/OS service runs on) and apply the manifest again",
            endpoints(&current.etcd.endpoints),
            endpoints(&next.etcd.endpoints),
            next.name
        );
        return Err(Refusal { message, scale: false });
    }
    let (from, to) = (current.members.get(), next.members.get());
    if from == to {
        return Ok(());
    }
    if to < from && !Capabilities::of(&next.platform).scale_down {
        let message = format!(
            "spec.members cannot go down from {from} to {to} on {}: the platform does not support scale-down (DC/OS: the Kubernetes package has none)",
            kind(&next.platform)
        );
        return Err(Refusal { message, scale: false });
    }
    if next.policy.scale_up == ScaleUpPolicy::BackupFirst {
        return Ok(());
    }
    let fresh_for = next.backup.as_ref().map(|b| b.fresh_for);
    if fresh_for.is_some_and(|f| catalog::fresh(records, f, now).is_some()) {
        return Ok(());
    }
    let direction = if to > from { "up" } else { "down" };
    let what = format!("scaling {} {direction} from {from} to {to} members (spec.members)", next.name);
    Err(Refusal { message: refusal(next, records, now, &what), scale: true })
}
