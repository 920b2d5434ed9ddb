//! Admission of a new desired state for a managed cluster: what may change, and the
//! backup gate of a member count change (scenario 2). Pure.

use jiff::Timestamp;

use crate::manifest::{DesiredCluster, LocalTlsSpec, PlatformSpec, ScaleUpPolicy};
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
    use crate::plan::tests::{at, backup_record};

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
    fn backup_first_admits_and_the_platform_never_changes() {
        let mut five = local(MemberCount::Five);
        five.policy.scale_up = ScaleUpPolicy::BackupFirst;
        assert_eq!(admit(&local(MemberCount::Three), &five, &[], at(0)), Ok(()), "the backup is taken first");
        let dcos = load(include_str!("../../manifests/dcos-ha.yaml"));
        let refused = admit(&local(MemberCount::Three), &dcos, &[], at(0)).expect_err("platform change");
        assert!(!refused.scale && refused.message.contains("from local to dcos"), "{refused:?}");
    }
}
