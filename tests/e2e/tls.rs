//! The local platform with client and peer TLS, end to end: members that refuse clients
//! without a certificate of their CA, a backup, a replacement and a restore over TLS,
//! certificates generated once and never shown.

use crate::support;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::tls::{self, Certs};
use crate::support::{
    Harness, data_dir_of, endpoints, healthy_members, local_manifest, member, pid_of, pids_with_arg, signal,
    wait_for,
};
use etcd_warden::platform::local::tls::Pki;
use rustix::process::Signal;
use serde_json::Value;

const BOOT: Duration = Duration::from_secs(60);
const HEAL: Duration = Duration::from_secs(120);
const NAME: &str = "secure";

/// A local manifest with `tls` under `spec.platform.local`, and `extra` spec lines.
fn manifest(members: usize, tls: &str, extra: &str) -> String {
    let base = local_manifest(NAME, members, "    agentLostAfter: 1s\n");
    let base = base.replace("      ports: auto\n", &format!("      ports: auto\n      tls: {tls}\n"));
    format!("{base}{extra}")
}

/// Every member URL of a status, client and peer.
fn urls(status: &Value) -> Vec<String> {
    let members = status["members"].as_array().cloned().unwrap_or_default();
    let fields = ["clientUrl", "peerUrl"];
    members.iter().flat_map(|m| fields.map(|f| m[f].as_str().unwrap_or("none").to_owned())).collect()
}

/// Three healthy voters over TLS: the same member list from each, equal hashes, and the
/// `count` keys `k/` read from every member.
fn assert_converged(h: &Harness, certs: &Certs, count: usize) -> Value {
    let status = h.wait_status(NAME, "3 healthy voters", HEAL, |s| {
        s["phase"] == "Healthy"
            && healthy_members(s) == 3
            && s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["role"] != "learner"))
    });
    let eps = endpoints(&status);
    let hashes = wait_for("hashkv over TLS", HEAL, || tls::try_hashkv(&eps, certs));
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "hashkv differs: {hashes:?}");
    for endpoint in &eps {
        // Each member serves the list it has applied: a follower learns of the last
        // change a heartbeat after the leader, so it is polled, with a deadline.
        let list = wait_for(&format!("the three members named in {endpoint}'s own list"), HEAL, || {
            let mut list = tls::member_list(endpoint, Some(certs)).ok()?;
            list.sort();
            let names: Vec<&str> = list.iter().map(|(name, _)| name.as_str()).collect();
            (names == ["etcd-0", "etcd-1", "etcd-2"]).then_some(list)
        });
        let peers: Vec<&String> = list.iter().flat_map(|(_, urls)| urls).collect();
        assert!(peers.len() == 3 && peers.iter().all(|u| u.starts_with("https://")), "{peers:?}");
        tls::assert_keys(endpoint, certs, "k", count);
    }
    status
}

/// The base64 lines of every private key under `dir`.
fn key_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for path in files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "key")) {
        let text = std::fs::read_to_string(&path).expect("read a key");
        lines.extend(text.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).map(str::to_owned));
    }
    lines
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

#[test]
fn a_tls_cluster_refuses_uncertified_clients_and_backs_up_heals_and_restores_over_tls() {
    let mut h = Harness::start();
    let backups = h.dir.path().join("backups");
    let backup = format!(
        "  backup:\n    schedule: \"0 3 * * *\"\n    destination: file://{}\n    freshFor: 15m\n",
        backups.display()
    );
    h.apply("c.yaml", &manifest(3, "auto", &backup));
    let status = h.wait_healthy(NAME, 3, BOOT);
    assert!(urls(&status).iter().all(|u| u.starts_with("https://127.0.0.1:")), "{:?}", urls(&status));
    // The bytes in use are known over TLS too: etcd 3.3 says them only on its metrics
    // page, which needs the client certificate like the rest.
    let in_use = |s: &Value| {
        s["members"]
            .as_array()
            .map(|m| m.iter().filter(|m| m["dbSizeInUseBytes"].as_i64().is_some_and(|n| n > 0)).count())
    };
    let known = h.wait_status(NAME, "every member's bytes in use", BOOT, |s| in_use(s) == Some(3));
    assert_eq!(in_use(&known), Some(3));
    // The certificate that expires first, in status and in the metrics: a generated
    // one, valid 10 years.
    let first = &known["certificates"];
    assert!(first["file"].as_str().is_some_and(|f| f.ends_with(".crt")), "{known:#}");
    let until: jiff::Timestamp = first["notAfter"].as_str().expect("notAfter").parse().expect("a time");
    let years = until.duration_since(jiff::Timestamp::now()).as_hours() / 24 / 365;
    assert!((9..=10).contains(&years), "{first}");
    let metrics = support::http_get(&format!("{}/metrics", h.server())).expect("metrics");
    let gauge = format!(
        "etcd_warden_certificate_expiry_timestamp_seconds{{cluster=\"{NAME}\"}} {}",
        until.as_second()
    );
    assert!(metrics.contains(&gauge), "{gauge} missing from the metrics");
    let certs = Certs::generated(&h.state_dir(), NAME);
    let eps = endpoints(&status);
    tls::put_keys(&eps, &certs, "k", 300);

    // Only a client with a certificate of the cluster's CA gets an answer.
    let foreign = h.dir.path().join("foreign");
    let other = Pki::new(&foreign).ensure_authority().expect("another CA");
    let impostor = Certs { ca: certs.ca.clone(), client: Some((other.cert_file, other.key_file)) };
    for endpoint in &eps {
        let plain = endpoint.replace("https://", "http://");
        assert!(tls::member_names(&plain, None).is_err(), "plain http to {endpoint} is refused");
        let anonymous = tls::member_names(endpoint, Some(&certs.without_client()));
        assert!(anonymous.is_err(), "https without a client certificate is refused: {anonymous:?}");
        assert!(tls::member_names(endpoint, Some(&impostor)).is_err(), "another CA's client is refused");
        assert_eq!(tls::member_names(endpoint, Some(&certs)).expect("the client certificate").len(), 3);
    }
    for pid in [0, 1, 2].map(|i| pid_of(&status, &format!("etcd-{i}"))) {
        assert!(
            pids_with_arg("--peer-client-cert-auth").contains(&pid),
            "etcd {pid} requires peer certificates"
        );
    }

    // TLS cannot be switched off (or changed) on an existing cluster.
    let path = h.manifest("plain.yaml", &local_manifest(NAME, 3, "    agentLostAfter: 1s\n"));
    let refused = h.cli(&["apply", "-f", path.to_str().expect("utf-8")]);
    let text =
        String::from_utf8_lossy(&refused.stderr).into_owned() + &String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success() && text.contains("spec.platform.local.tls cannot change"), "{text}");

    // Generated once: a restarted daemon reuses every file.
    let tls_dir = h.state_dir().join("clusters").join(NAME).join("platform").join("tls");
    let before: Vec<(PathBuf, Vec<u8>)> =
        files_under(&tls_dir).into_iter().map(|p| (p.clone(), std::fs::read(&p).expect("read"))).collect();
    assert_eq!(before.len(), 4 + 2 * 3, "CA, client and three members: {before:?}");
    h.kill_daemon();
    h.start_daemon();
    h.wait_healthy(NAME, 3, BOOT);

    let record: Value =
        serde_json::from_str(&h.cli_ok(&["backup", NAME, "-o", "json"])).expect("backup JSON");
    assert_eq!(record["verified"], true, "{record}");
    assert!(record["keys"].as_u64().is_some_and(|k| k >= 300), "{record}");

    let old_id = member(&status, "etcd-1")["id"].clone();
    signal(pid_of(&status, "etcd-1"), Signal::KILL);
    std::fs::remove_dir_all(data_dir_of(&status, "etcd-1")).expect("delete the data directory");
    h.wait_status(NAME, "etcd-1 seen lost", HEAL, |s| member(s, "etcd-1")["task"]["agentLost"] == true);
    let healed = assert_converged(&h, &certs, 300);
    assert_ne!(member(&healed, "etcd-1")["id"], old_id, "a new member took the slot");
    assert!(urls(&healed).iter().all(|u| u.starts_with("https://")), "{:?}", urls(&healed));
    for (path, bytes) in &before {
        assert_eq!(&std::fs::read(path).expect("still there"), bytes, "{path:?} never regenerated");
    }

    // A restore from the backup brings every member back with TLS.
    tls::put_keys(&eps, &certs, "later", 5);
    let report: Value = serde_json::from_str(&h.cli_ok(&["restore", NAME, "--from", "latest", "--yes"]))
        .expect("restore JSON");
    assert!(report["from"].as_str().is_some_and(|f| f.starts_with("backup ")), "{report}");
    h.wait_status(NAME, "Healthy after the restore", HEAL, |s| {
        s["phase"] == "Healthy" && s["restore"].is_object()
    });
    let restored = assert_converged(&h, &certs, 300);
    tls::assert_keys(&endpoints(&restored)[0], &certs, "later", 0);
    for i in 0..3 {
        let pid = pid_of(&restored, &format!("etcd-{i}"));
        assert!(
            pids_with_arg("--client-cert-auth").contains(&pid),
            "restored etcd-{i} requires certificates"
        );
    }
    let anonymous = tls::member_names(&endpoints(&restored)[0], Some(&certs.without_client()));
    assert!(anonymous.is_err(), "still refused after the restore");

    // No private key in the daemon's log, the members' logs, status, events or backups.
    let mut seen = vec![("daemon log".to_owned(), h.daemon_log())];
    for what in
        [vec!["status", NAME, "-o", "json"], vec!["events", NAME, "-o", "json"], vec!["backups", NAME]]
    {
        seen.push((what.join(" "), h.cli_ok(&what)));
    }
    let logs = h.state_dir().join("clusters").join(NAME).join("platform").join("logs");
    for log in files_under(&logs) {
        seen.push((log.display().to_string(), std::fs::read_to_string(&log).unwrap_or_default()));
    }
    let secrets = key_lines(&tls_dir);
    assert!(secrets.len() >= 4 * 2, "the keys' lines: {}", secrets.len());
    for (place, text) in &seen {
        assert!(text.len() > 10, "{place} is not empty");
        for line in &secrets {
            assert!(!text.contains(line.as_str()), "a private key line appears in the {place}");
        }
    }
}

#[test]
fn operator_supplied_member_and_client_certificates_are_used() {
    let h = Harness::start();
    let pki = Pki::new(&h.dir.path().join("operator-pki"));
    let member = pki.ensure_member("etcd-0".parse().expect("pod"), "127.0.0.1").expect("member certificate");
    let client = pki.ensure_authority().expect("client certificate");
    let files = format!(
        "{{ caFile: {}, certFile: {}, keyFile: {} }}",
        member.ca_file.display(),
        member.cert_file.display(),
        member.key_file.display()
    );
    let etcd = format!(
        "  etcd:\n    tls:\n      caFile: {}\n      certFile: {}\n      keyFile: {}\n",
        client.ca_file.display(),
        client.cert_file.display(),
        client.key_file.display()
    );
    h.apply("c.yaml", &manifest(1, &files, &etcd));
    let status = h.wait_healthy(NAME, 1, BOOT);
    assert!(urls(&status).iter().all(|u| u.starts_with("https://")), "{:?}", urls(&status));
    let certs = Certs { ca: client.ca_file.clone(), client: Some((client.cert_file, client.key_file)) };
    let eps = endpoints(&status);
    tls::put_keys(&eps, &certs, "k", 20);
    tls::assert_keys(&eps[0], &certs, "k", 20);
    assert!(tls::member_names(&eps[0], Some(&certs.without_client())).is_err(), "a certificate is required");
    let generated = h.state_dir().join("clusters").join(NAME).join("platform").join("tls");
    assert!(!generated.exists(), "nothing generated when the operator gives the files");
}

/// Writes into `dir` (swapped in whole) a member certificate for `pod` that the CA in
/// `authority` signed and that expires in `days` days, with the names the member needs.
fn short_member_certificate(authority: &Path, dir: &Path, pod: &str, days: i64) {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let ca_pem = std::fs::read_to_string(authority.join("ca.crt")).expect("the CA");
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(authority.join("ca.key")).expect("the CA key"))
        .expect("a key");
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("an issuer");
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("parameters");
    params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(DnType::CommonName, pod);
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let until =
        jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * days)).expect("a day");
    let date = jiff::tz::Offset::UTC.to_datetime(until).date();
    params.not_after =
        rcgen::date_time_ymd(i32::from(date.year()), date.month().unsigned_abs(), date.day().unsigned_abs());
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let staging = dir.with_extension("new");
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::write(staging.join("member.crt"), cert.pem()).expect("write");
    std::fs::write(staging.join("member.key"), key.serialize_pem()).expect("write");
    let old = dir.with_extension("old");
    std::fs::rename(dir, &old).expect("move the old one aside");
    std::fs::rename(&staging, dir).expect("swap in the new one");
    std::fs::remove_dir_all(old).expect("drop the old one");
}

/// A generated member certificate 10 days from its end is issued anew by a restart of
/// that member alone (rule `7-rolling-restart`), the others untouched and every key
/// kept; a new host is refused while the members run, and changes nothing.
#[test]
fn a_generated_certificate_near_its_end_is_renewed_by_restarting_its_member_and_the_host_never_moves() {
    let h = Harness::start();
    h.apply("c.yaml", &manifest(3, "auto", ""));
    let before = h.wait_healthy(NAME, 3, BOOT);
    let certs = Certs::generated(&h.state_dir(), NAME);
    tls::put_keys(&endpoints(&before), &certs, "k", 100);
    // A new host: refused, nothing changes.
    let moved =
        h.manifest("moved.yaml", &manifest(3, "auto", "").replace("host: 127.0.0.1", "host: localhost"));
    let out = h.cli(&["apply", "-f", moved.to_str().expect("utf-8")]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && said.contains("spec.platform.local.host cannot change"), "{said}");
    // etcd-1's certificate, 10 days from its end.
    let authority = tls::authority_dir(&h.state_dir(), NAME);
    let member_dir = authority.with_file_name("etcd-1");
    short_member_certificate(&authority, &member_dir, "etcd-1", 10);
    let renewed = h.wait_status(NAME, "etcd-1 restarted with a certificate of ten years", HEAL, |s| {
        s["phase"] == "Healthy"
            && healthy_members(s) == 3
            && pid_of(s, "etcd-1") != pid_of(&before, "etcd-1")
            && s["certificates"]["notAfter"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t.duration_since(jiff::Timestamp::now()).as_hours() > 24 * 365 * 9)
    });
    for pod in ["etcd-0", "etcd-2"] {
        assert_eq!(pid_of(&renewed, pod), pid_of(&before, pod), "{pod} untouched");
    }
    let restarts: Vec<Value> =
        h.events(NAME).into_iter().filter(|e| e["reason"] == "RestartMember").collect();
    assert_eq!(restarts.len(), 1, "{restarts:#?}");
    assert_eq!(restarts[0]["pod"], "etcd-1");
    assert!(restarts[0]["message"].as_str().is_some_and(|m| m.contains("issued anew")), "{restarts:#?}");
    assert_converged(&h, &certs, 100);
    assert!(urls(&renewed).iter().all(|u| u.starts_with("https://127.0.0.1:")), "the host never moved");
}
