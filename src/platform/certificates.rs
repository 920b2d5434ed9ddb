//! The certificates a cluster's TLS rests on, and the earliest of their expiries: the
//! CA and client files the manifest names, and the files the platform keeps for its
//! members (the local platform's `tls: auto` or the operator's files). Status and the
//! metrics show it, so that an expiry is seen before etcd refuses its peers.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::model::CertificateExpiry;

/// The certificate that expires first among every certificate in `files` (PEM, each
/// with one or more certificates). A file that cannot be read or parsed is skipped:
/// what uses it fails with its own error.
pub fn earliest(files: &[PathBuf]) -> Option<CertificateExpiry> {
    files.iter().flat_map(|file| expiries(file)).min_by_key(|c| c.not_after)
}

/// Every certificate of one PEM file, with its expiry.
fn expiries(file: &Path) -> Vec<CertificateExpiry> {
    let Ok(bytes) = std::fs::read(file) else { return Vec::new() };
    x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .filter_map(|pem| {
            let cert = pem.parse_x509().ok()?;
            let not_after = Timestamp::from_second(cert.validity().not_after.timestamp()).ok()?;
            Some(CertificateExpiry {
                not_after,
                subject: cert.subject().to_string(),
                file: file.display().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(dir: &Path, name: &str, days: i64) -> PathBuf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        use chrono::Datelike;
        let date = chrono::Utc::now() + chrono::Duration::days(days);
        let (month, day) =
            (u8::try_from(date.month()).expect("a month"), u8::try_from(date.day()).expect("a day"));
        params.not_after = rcgen::date_time_ymd(date.year(), month, day);
        let cert = params.self_signed(&key).expect("sign");
        let path = dir.join(format!("{name}.crt"));
        std::fs::write(&path, cert.pem()).expect("write");
        path
    }

    #[test]
    fn the_certificate_that_expires_first_is_named_with_its_file() {
        let dir = tempfile::tempdir().expect("dir");
        let late = certificate(dir.path(), "ca", 3650);
        let soon = certificate(dir.path(), "client", 20);
        let bundle = dir.path().join("bundle.crt");
        let both = format!(
            "{}{}",
            std::fs::read_to_string(&late).expect("read"),
            std::fs::read_to_string(&soon).expect("read")
        );
        std::fs::write(&bundle, both).expect("write");
        let garbage = dir.path().join("garbage.crt");
        std::fs::write(&garbage, "not a certificate").expect("write");
        let missing = dir.path().join("missing.crt");
        let first = earliest(&[late.clone(), bundle.clone(), garbage, missing]).expect("an expiry");
        assert_eq!(first.subject, "CN=client");
        assert_eq!(first.file, bundle.display().to_string(), "the first file that holds it");
        let days = first.not_after.duration_since(jiff::Timestamp::now()).as_hours() / 24;
        assert!((19..=20).contains(&days), "{days}");
        assert_eq!(earliest(&[late]).map(|c| c.subject), Some("CN=ca".to_owned()));
        assert_eq!(earliest(&[]), None);
    }
}
