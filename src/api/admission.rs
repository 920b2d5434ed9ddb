//! Admission of a new desired state for a managed cluster: what may change, and the
//! backup gate of a member count change (scenario 2). `admit` is pure; `apply` is the
//! one way a desired state comes in, for the API's `apply` and for `run -f` alike.

use jiff::Timestamp;

use crate::domain::Generation;
use crate::manifest::{DesiredCluster, EndpointsSpec, LocalTlsSpec, PlatformSpec, ScaleUpPolicy};
use crate::model::backup::ScaleRefusal;
use crate::model::catalog::{self, BackupRecord};
use crate::plan::scale::refusal;
use crate::store::{Store, StoreError};

/// Why an apply did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Admission refused it; nothing changed (a refused member count change is
    /// recorded for status, `ScaleUpBlocked`).
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The desired state's generation (the current one for a dry run).
    pub generation: Generation,
    /// Whether the desired state changed.
    pub changed: bool,
}

/// Admits `desired` (its manifest as JSON: `body`) over `current`, the cluster's
/// desired state and generation now, with the backups of the cluster's lineage, then
/// stores it unless `dry_run`. An accepted apply ends a refused member count change.
///
/// # Errors
/// `ApplyError::Refused` with one sentence naming what is wrong; nothing is stored then.
pub fn apply(
    store: &Store,
    current: Option<(&DesiredCluster, Generation)>,
    desired: &DesiredCluster,
    body: serde_json::Value,
    now: Timestamp,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let name = &desired.name;
    if let Some((current, _)) = current {
        // Only a backup of this cluster's lineage admits a member count change.
        let lineage = store.history(name)?.seen.lineage;
        let records = lineage.filter(&store.backups(name)?);
        if let Err(refused) = admit(current, desired, &records, now) {
            if refused.scale {
                store.put_scale_refusal(
                    name,
                    Some(&ScaleRefusal { at: now, message: refused.message.clone() }),
                )?;
            }
            return Err(ApplyError::Refused(refused));
        }
    }
    if dry_run {
        return Ok(Applied { generation: current.map(|(_, g)| g).unwrap_or_default(), changed: false });
    }
    let (generation, changed) = store.put_desired(name, body, now)?;
    store.put_scale_refusal(name, None)?;
    Ok(Applied { generation, changed })
}

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
    if to < from && matches!(next.platform, PlatformSpec::Dcos(_)) {
        let message = format!(
            "spec.members cannot go down from {from} to {to} on DC/OS: the Kubernetes package does not support scale-down"
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

#[cfg(test)]
mod tests {
    use super::admit;
    use crate::manifest::{
        DesiredCluster, LocalTlsSpec, MemberCount, PlatformSpec, ScaleUpPolicy, TlsFiles, parse_str,
    };
    use crate::testing::world::{at, backup_record};

    fn load(text: &str) -> DesiredCluster {
        parse_str("test", text).expect("a manifest").remove(0).desired
    }

    /// The shipped local manifest, its scale-ups gated on a fresh backup (15 min).
    fn local(members: MemberCount) -> DesiredCluster {
        let mut d = load(include_str!("../../manifests/local-ha.yaml"));
        d.members = members;
        d.policy.scale_up = ScaleUpPolicy::RequireFreshBackup;
        d
    }

    #[test]
    fn a_member_count_change_needs_a_fresh_verified_backup() {
        let (three, five) = (local(MemberCount::Three), local(MemberCount::Five));
        let now = at(3600);
        assert_eq!(admit(&three, &three, &[], now), Ok(()), "no change, no gate");
        let refused = admit(&three, &five, &[], now).expect_err("no backup");
        assert!(refused.scale && refused.message.contains("from 3 to 5"), "{refused:?}");
        let stale = [backup_record(at(0), 10)];
        assert!(admit(&three, &five, &stale, now).is_err(), "an hour old: not fresh for 15 min");
        let fresh = [backup_record(at(3000), 10)];
        assert_eq!(admit(&three, &five, &fresh, now), Ok(()));
        let mut unverified = backup_record(at(3000), 10);
        unverified.verified = false;
        assert!(admit(&three, &five, &[unverified], now).is_err(), "an unverified backup admits nothing");
        let down = admit(&five, &three, &[], now).expect_err("a scale-down is gated too");
        assert!(down.scale && down.message.contains("down from 5 to 3"), "{down:?}");
    }

    #[test]
    fn the_dcos_service_and_the_endpoints_never_change_on_a_managed_cluster_and_the_refusal_names_the_field()
    {
        let dcos = load(include_str!("../../manifests/dcos-ha.yaml"));
        let now = at(0);
        assert_eq!(admit(&dcos, &dcos, &[], now), Ok(()), "no change");
        let mut other = dcos.clone();
        if let PlatformSpec::Dcos(spec) = &mut other.platform {
            spec.service = "prod/kubernetes".into();
        }
        let refused = admit(&dcos, &other, &[], now).expect_err("another service");
        assert!(refused.message.starts_with("spec.platform.dcos.service cannot change"), "{refused:?}");
        assert!(refused.message.contains("prod/kubernetes") && !refused.scale, "{refused:?}");
        let mut moved = dcos.clone();
        moved.etcd.endpoints =
            crate::manifest::EndpointsSpec::Template("https://{pod}.{service}.mesos:2379".into());
        let refused = admit(&dcos, &moved, &[], now).expect_err("other endpoints");
        assert!(refused.message.starts_with("spec.etcd.endpoints cannot change"), "{refused:?}");
        assert!(refused.message.contains("https://{pod}.{service}.mesos:2379"), "{refused:?}");
        // A map that grows with the member count moves no member.
        let map = |urls: &[&str]| {
            let mut d = dcos.clone();
            let pods = urls.iter().enumerate().map(|(i, u)| {
                (crate::domain::PodName::new(u8::try_from(i).expect("index")).expect("pod"), (*u).to_owned())
            });
            d.etcd.endpoints = crate::manifest::EndpointsSpec::Map(pods.collect());
            d
        };
        let one = map(&["https://10.0.0.1:2379"]);
        let three = map(&["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"]);
        assert_eq!(admit(&one, &three, &[], now), Ok(()), "pods added to the map");
        let moved = map(&["https://10.0.0.9:2379"]);
        let refused = admit(&one, &moved, &[], now).expect_err("etcd-0 moved");
        assert!(refused.message.starts_with("spec.etcd.endpoints cannot change"), "{refused:?}");
    }

    #[test]
    fn the_members_tls_never_changes_on_an_existing_cluster() {
        let plain = local(MemberCount::Three);
        let with = |tls: Option<LocalTlsSpec>| {
            let mut d = plain.clone();
            if let PlatformSpec::Local(local) = &mut d.platform {
                local.tls = tls;
            }
            d
        };
        let auto = with(Some(LocalTlsSpec::Auto));
        let files = |cert: &str| {
            with(Some(LocalTlsSpec::Files(TlsFiles {
                ca_file: "ca.crt".into(),
                cert_file: cert.into(),
                key_file: "member.key".into(),
            })))
        };
        let now = at(0);
        assert_eq!(admit(&auto, &auto, &[], now), Ok(()), "no change");
        let refused = admit(&plain, &auto, &[], now).expect_err("http to https");
        assert!(!refused.scale && refused.message.contains("from none (plain http) to auto"), "{refused:?}");
        assert!(admit(&auto, &plain, &[], now).is_err(), "https to http");
        assert!(admit(&auto, &files("member.crt"), &[], now).is_err(), "auto to files");
        let moved = admit(&files("member.crt"), &files("other.crt"), &[], now).expect_err("other files");
        assert!(moved.message.contains("spec.platform.local.tls cannot change"), "{moved:?}");
    }

    #[test]
    fn the_local_host_never_changes_under_members_whose_certificates_name_it() {
        let plain = local(MemberCount::Three);
        let host = |d: &DesiredCluster, host: &str, tls: Option<LocalTlsSpec>| {
            let mut d = d.clone();
            if let PlatformSpec::Local(local) = &mut d.platform {
                local.host = host.to_owned();
                local.tls = tls;
            }
            d
        };
        // Plain HTTP: an alias of the same machine changes no member (e2e
        // `e2e_restore::a_host_alias_applied_again_changes_no_member_and_loses_no_write`).
        assert_eq!(admit(&plain, &host(&plain, "localhost", None), &[], at(0)), Ok(()));
        let was = host(&plain, "127.0.0.1", Some(LocalTlsSpec::Auto));
        let will = host(&plain, "10.0.0.7", Some(LocalTlsSpec::Auto));
        assert_eq!(admit(&was, &was.clone(), &[], at(0)), Ok(()), "no change");
        let refused = admit(&was, &will, &[], at(0)).expect_err("a new host");
        assert!(!refused.scale, "{refused:?}");
        assert!(
            refused.message.starts_with("spec.platform.local.host cannot change")
                && refused.message.contains("to 10.0.0.7")
                && refused.message.contains("certificates"),
            "{refused:?}"
        );
    }

    #[test]
    fn backup_first_admits_and_the_platform_never_changes() {
        let mut five = local(MemberCount::Five);
        five.policy.scale_up = ScaleUpPolicy::BackupFirst;
        assert_eq!(admit(&local(MemberCount::Three), &five, &[], at(0)), Ok(()), "the backup is taken first");
        let dcos = load(include_str!("../../manifests/dcos-ha.yaml"));
        let refused = admit(&local(MemberCount::Three), &dcos, &[], at(0)).expect_err("platform change");
        assert!(!refused.scale && refused.message.contains("from local to dcos"), "{refused:?}");
    }
}
