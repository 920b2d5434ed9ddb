//! Admission: what may change on an existing cluster, and the backup gate of a member
//! count change.

use crate::manifest::{
    DesiredCluster, LocalTlsSpec, MemberCount, PlatformSpec, ScaleUpPolicy, TlsFiles, parse_str,
};
use crate::plan::admission::admit;
use crate::testing::world::{at, backup_record};

fn load(text: &str) -> DesiredCluster {
    parse_str("test", text).expect("a manifest").remove(0).desired
}

/// The shipped local manifest, its scale-ups gated on a fresh backup (15 min).
fn local(members: MemberCount) -> DesiredCluster {
    let mut d = load(include_str!("../../../manifests/local-ha.yaml"));
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
fn the_dcos_service_and_the_endpoints_never_change_on_a_managed_cluster_and_the_refusal_names_the_field() {
    let dcos = load(include_str!("../../../manifests/dcos-ha.yaml"));
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
    // `e2e::restore::a_host_alias_applied_again_changes_no_member_and_loses_no_write`).
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
    let dcos = load(include_str!("../../../manifests/dcos-ha.yaml"));
    let refused = admit(&local(MemberCount::Three), &dcos, &[], at(0)).expect_err("platform change");
    assert!(!refused.scale && refused.message.contains("from local to dcos"), "{refused:?}");
    let mut one = dcos.clone();
    one.members = MemberCount::One;
    let refused = admit(&dcos, &one, &[], at(0)).expect_err("a platform without scale-down");
    assert!(!refused.scale && refused.message.contains("down from 3 to 1 on dcos"), "{refused:?}");
}
