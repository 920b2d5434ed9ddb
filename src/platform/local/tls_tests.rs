//! The generated certificates, parsed back: names, usages, validity, signatures, file
//! modes, and that nothing present is ever generated again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use super::*;

fn pem(path: &Path) -> Pem {
    let bytes = std::fs::read(path).expect("read a certificate");
    x509_parser::pem::parse_x509_pem(&bytes).expect("a PEM certificate").1
}

/// The SANs of a certificate, as text (`IP:127.0.0.1`, `DNS:localhost`).
fn sans_of(pem: &Pem) -> Vec<String> {
    let cert = pem.parse_x509().expect("a certificate");
    let san = cert.subject_alternative_name().expect("valid SANs");
    san.map(|s| s.value.general_names.clone())
        .unwrap_or_default()
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => format!("DNS:{dns}"),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))),
                _ => format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

fn pod(i: usize) -> PodName {
    PodName::first(i + 1).last().expect("a pod")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn member_certificates_name_the_host_and_loopback_and_chain_to_the_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path());
    let ip = pki.ensure_member(pod(0), "10.1.2.3").expect("member on an IP");
    let dns = pki.ensure_member(pod(1), "etcd.example.internal").expect("member on a name");
    assert_eq!(ip.ca_file, dns.ca_file, "one CA per cluster");
    let ca_pem = pem(&ip.ca_file);
    let ca = ca_pem.parse_x509().expect("the CA");
    assert!(ca.is_ca(), "the CA is a CA");
    assert_eq!(sans_of(&pem(&ip.cert_file)), ["IP:10.1.2.3", "IP:127.0.0.1", "IP:::1", "DNS:localhost"]);
    assert_eq!(
        sans_of(&pem(&dns.cert_file)),
        ["DNS:etcd.example.internal", "IP:127.0.0.1", "IP:::1", "DNS:localhost"]
    );
    let local = pki.ensure_member(pod(2), "127.0.0.1").expect("member on loopback");
    assert_eq!(sans_of(&pem(&local.cert_file)), ["IP:127.0.0.1", "IP:::1", "DNS:localhost"], "no duplicate");
    let client = pki.ensure_authority().expect("the client certificate");
    for (path, server) in [(&ip.cert_file, true), (&dns.cert_file, true), (&client.cert_file, false)] {
        let leaf_pem = pem(path);
        let leaf = leaf_pem.parse_x509().expect("a leaf");
        assert!(!leaf.is_ca(), "{path:?} is no CA");
        leaf.verify_signature(Some(ca.public_key())).expect("signed by the cluster's CA");
        assert_eq!(leaf.issuer(), ca.subject());
        let usage = leaf.extended_key_usage().expect("valid usages").expect("usages").value;
        assert_eq!((usage.server_auth, usage.client_auth), (server, true), "{path:?}");
        let (from, until) = (leaf.validity().not_before, leaf.validity().not_after);
        assert!(leaf.validity().is_valid(), "{path:?} is valid now");
        assert!(until <= ca.validity().not_after, "no leaf outlives its CA");
        let years = (until.timestamp() - from.timestamp()) / (365 * 24 * 3600);
        assert!((9..=10).contains(&years), "valid about {VALID_YEARS} years: {years}");
    }
}

#[test]
fn files_are_private_and_nothing_present_is_generated_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path());
    assert!(pki.existing_authority().expect("nothing yet").is_none(), "a dry run finds none");
    assert!(!dir.path().join("tls").exists(), "and generates none");
    let member = pki.ensure_member(pod(0), "127.0.0.1").expect("member");
    let client = pki.ensure_authority().expect("authority");
    assert_eq!(pki.existing_authority().expect("generated").as_ref(), Some(&client));
    let tls = dir.path().join("tls");
    for d in [tls.clone(), tls.join("authority"), tls.join("etcd-0")] {
        assert_eq!(mode(&d), 0o700, "{d:?}");
    }
    let files = [&member.ca_file, &member.cert_file, &member.key_file, &client.cert_file, &client.key_file];
    let keys = [tls.join("authority").join(CA_KEY), member.key_file.clone(), client.key_file.clone()];
    for f in files.iter().copied().chain(&keys) {
        assert_eq!(mode(f), 0o600, "{f:?}");
    }
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("read")).collect();
    let again = (pki.ensure_member(pod(0), "127.0.0.1"), pki.ensure_authority());
    assert_eq!((again.0.expect("member"), again.1.expect("authority")), (member.clone(), client.clone()));
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("read")).collect();
    assert_eq!(before, after, "the same files, unchanged");
    assert_eq!(dir_names(&tls), ["authority", "etcd-0"], "no staging directory left behind");

    std::fs::remove_file(&member.key_file).expect("lose a key");
    let error = pki.ensure_member(pod(0), "127.0.0.1").expect_err("a missing key is not replaced");
    assert!(matches!(&error, PkiError::Incomplete { missing } if *missing == member.key_file), "{error}");
    assert!(!member.key_file.exists(), "not generated again");
    std::fs::remove_file(&member.ca_file).expect("lose the CA");
    let error = pki.ensure_authority().expect_err("a missing CA is not replaced");
    assert!(error.to_string().contains("ca.crt is missing"), "{error}");
    assert!(!error.to_string().contains("PRIVATE KEY"), "{error}");
}

#[test]
fn concurrent_first_uses_agree_on_one_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results: Vec<TlsFiles> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| Pki::new(dir.path()).ensure_member(pod(0), "127.0.0.1"))).collect();
        handles.into_iter().map(|h| h.join().expect("thread").expect("member")).collect()
    });
    let ca_pem = pem(&results[0].ca_file);
    let ca = ca_pem.parse_x509().expect("the CA");
    for files in &results {
        let leaf_pem = pem(&files.cert_file);
        leaf_pem.parse_x509().expect("leaf").verify_signature(Some(ca.public_key())).expect("one CA");
    }
    assert_eq!(dir_names(&dir.path().join("tls")), ["authority", "etcd-0"]);
}

#[test]
fn operator_files_must_be_readable_and_are_named_by_their_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let present = dir.path().join("ca.crt");
    std::fs::write(&present, "x").expect("write");
    let files =
        TlsFiles { ca_file: present.clone(), cert_file: present.clone(), key_file: dir.path().join("nope") };
    let error = operator_files(&files).expect_err("a missing key file");
    let text = error.to_string();
    assert!(text.contains("spec.platform.local.tls.keyFile") && text.contains("nope"), "{text}");
    let files = TlsFiles { key_file: dir.path().to_path_buf(), ..files };
    assert!(operator_files(&files).is_err(), "a directory is not a key file");
    let files = TlsFiles { key_file: present.clone(), ..files };
    assert_eq!(operator_files(&files).expect("readable").key_file, present);
}

#[test]
fn members_require_certificates_from_clients_and_peers() {
    let files =
        TlsFiles { ca_file: "/p/ca.crt".into(), cert_file: "/p/m.crt".into(), key_file: "/p/m.key".into() };
    assert_eq!(
        member_flags(&files),
        [
            "--cert-file=/p/m.crt",
            "--key-file=/p/m.key",
            "--trusted-ca-file=/p/ca.crt",
            "--client-cert-auth",
            "--peer-cert-file=/p/m.crt",
            "--peer-key-file=/p/m.key",
            "--peer-trusted-ca-file=/p/ca.crt",
            "--peer-client-cert-auth",
        ]
    );
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes over `cert`/`key` a certificate for `name` that the CA under `authority`
/// signed and that expires in `days` days.
fn expiring(authority: &Path, cert: &Path, key: &Path, name: &str, days: i64) {
    let ca_pem = std::fs::read_to_string(authority.join(CA_CERT)).expect("CA");
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(authority.join(CA_KEY)).expect("CA key")).expect("key");
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
    let day = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * days)).expect("a day");
    let date = jiff::tz::Offset::UTC.to_datetime(day).date();
    let until = (i32::from(date.year()), date.month().unsigned_abs(), date.day().unsigned_abs());
    let (pem, key_pem) =
        leaf(&issuer, Some(until), name, sans("127.0.0.1"), &[ExtendedKeyUsagePurpose::ServerAuth])
            .expect("a short certificate");
    std::fs::write(cert, pem).expect("write the certificate");
    std::fs::write(key, key_pem).expect("write the key");
}

#[test]
fn a_client_or_member_certificate_within_30_days_of_its_end_is_issued_anew_by_the_same_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    let first = pki.ensure_member(pod(1), "127.0.0.1").expect("a member");
    let authority = dir.path().join("tls").join("authority");
    let ca_before = std::fs::read(&first.ca_file).expect("CA");
    let (cert, key) = (first.cert_file.clone(), first.key_file.clone());
    // 40 days left: kept as it is.
    expiring(&authority, &cert, &key, "etcd-1", 40);
    let kept = std::fs::read(&cert).expect("cert");
    pki.ensure_member(pod(1), "127.0.0.1").expect("again");
    assert_eq!(std::fs::read(&cert).expect("cert"), kept, "40 days left: not renewed");
    // 10 days left: renewed, new key, same CA, valid years again.
    expiring(&authority, &cert, &key, "etcd-1", 10);
    let old_key = std::fs::read(&key).expect("key");
    let expires = |p: &Path| expiry(p).expect("an expiry");
    assert!(
        expires(&cert)
            < jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * 11)).expect("t")
    );
    assert_eq!(pki.member_expiry(pod(1)), Some(expires(&cert)));
    let renewed = pki.ensure_member(pod(1), "127.0.0.1").expect("renewed");
    let years = expires(&renewed.cert_file).duration_since(jiff::Timestamp::now()).as_hours() / 24 / 365;
    assert!((9..=10).contains(&years), "{years}");
    assert_ne!(std::fs::read(&renewed.key_file).expect("key"), old_key, "a new key");
    assert_eq!(std::fs::read(&renewed.ca_file).expect("CA"), ca_before, "the same CA");
    assert_eq!(sans_of(&pem(&renewed.cert_file)), ["IP:127.0.0.1", "IP:::1", "DNS:localhost"]);
    assert_eq!((mode(&renewed.cert_file), mode(&renewed.key_file)), (0o600, 0o600));
    // The client certificate too, the CA kept.
    let client = pki.ensure_authority().expect("authority");
    expiring(&authority, &client.cert_file, &client.key_file, "etcd-warden", 5);
    let renewed = pki.ensure_authority().expect("renewed");
    let years = expires(&renewed.cert_file).duration_since(jiff::Timestamp::now()).as_hours() / 24 / 365;
    assert!((9..=10).contains(&years), "{years}");
    assert_eq!(std::fs::read(&renewed.ca_file).expect("CA"), ca_before, "the same CA");
    let leftovers: Vec<String> =
        dir_names(&dir.path().join("tls")).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
