//! TLS of the local platform's members (`spec.platform.local.tls`): the certificates
//! etcd-warden generates with `tls: auto`, the operator's files otherwise, and the etcd
//! flags that use them.
//!
//! Layout under the cluster's platform directory (0700 directories, 0600 files):
//!
//! ```text
//! tls/authority/ca.crt, ca.key          the CA (ECDSA P-256), valid 10 years
//! tls/authority/client.crt, client.key  etcd-warden's client certificate (clientAuth)
//! tls/etcd-N/member.crt, member.key     member N's server and peer certificate
//!                                       (serverAuth and clientAuth; SANs: the host,
//!                                       127.0.0.1, ::1, localhost)
//! ```
//!
//! Each directory is written whole into a staging directory and renamed into place, so
//! that a crash or a concurrent writer never leaves a certificate beside a key it does
//! not belong to. What is present is used as it is, with one exception: a client or
//! member certificate that expires within [`CERTIFICATE_RENEW_BEFORE`] is issued anew
//! by the same CA (new key, same names) as it is next asked for: the controller's
//! client certificate at its next connection, a member's when it next starts (the
//! rolling restart, rule `7-rolling-restart`, starts it in time). The CA itself is never
//! replaced: trust cannot change under running members. A directory with a missing file
//! is an error for the operator to resolve. This module never logs or returns the
//! content of a key.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};

use crate::domain::PodName;
use crate::manifest::TlsFiles;
pub use crate::model::platform::CERTIFICATE_RENEW_BEFORE;
use crate::store::atomic::ensure_private_dir;

/// Held by every generation or renewal in this process: a renewal moves a directory
/// aside before the new one takes its place.
static PKI_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long a generated CA, and every certificate it signs, is valid.
pub const VALID_YEARS: i16 = 10;

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const CLIENT_CERT: &str = "client.crt";
const CLIENT_KEY: &str = "client.key";
const MEMBER_CERT: &str = "member.crt";
const MEMBER_KEY: &str = "member.key";

/// Why TLS material could not be generated, found or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be created, written or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A certificate could not be generated or signed.
    #[error("cannot generate the {what}: {source}")]
    Generate {
        /// Which certificate.
        what: &'static str,
        /// The underlying error.
        source: rcgen::Error,
    },
    /// A generated directory lacks a file: it is never completed or replaced silently.
    #[error(
        "{missing} is missing: etcd-warden never replaces TLS material it generated (put the file back, or delete the cluster with --purge and apply it again)"
    )]
    Incomplete {
        /// The missing file.
        missing: PathBuf,
    },
    /// A file of the operator's cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Unreadable {
        /// The manifest field (`spec.platform.local.tls.certFile`).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PkiError {
    let path = path.to_path_buf();
    move |source| PkiError::Io { action, path, source }
}

fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}

/// The certificates etcd-warden generates for one cluster (`tls: auto`).
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// The certificates under `platform_dir/tls`.
    pub fn new(platform_dir: &Path) -> Self {
        Self { dir: platform_dir.join("tls") }
    }

    fn authority_dir(&self) -> PathBuf {
        self.dir.join("authority")
    }

    /// The CA, the client certificate and its key, generated now if there is no CA yet.
    ///
    /// # Errors
    /// When they cannot be generated or written, or a file of an existing CA is missing.
    pub fn ensure_authority(&self) -> Result<TlsFiles, PkiError> {
        let _one_at_a_time = PKI_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.authority_locked()
    }

    /// [`Pki::ensure_authority`], with [`PKI_LOCK`] held: a renewal moves the directory
    /// aside for a moment, and another caller must never take that moment for "no CA
    /// yet" and generate another.
    fn authority_locked(&self) -> Result<TlsFiles, PkiError> {
        let dir = self.authority_dir();
        if dir.exists() && expires_soon(&dir.join(CLIENT_CERT)) {
            // The client certificate renewed by the same CA; the CA stays.
            let (ca_pem, issuer) = self.issuer()?;
            let until = ca_until(&ca_pem)?;
            let client = leaf(
                &issuer,
                Some(until),
                "etcd-warden",
                Vec::new(),
                &[ExtendedKeyUsagePurpose::ClientAuth],
            )?;
            let key_pem = issuer.key().serialize_pem();
            republish(
                &self.dir,
                "authority",
                &[
                    (CA_CERT, ca_pem.as_bytes()),
                    (CA_KEY, key_pem.as_bytes()),
                    (CLIENT_CERT, client.0.as_bytes()),
                    (CLIENT_KEY, client.1.as_bytes()),
                ],
            )?;
        }
        if !dir.exists() {
            let (ca, ca_key) = new_ca()?;
            let issuer = Issuer::new(ca.clone(), ca_key);
            let client =
                leaf(&issuer, None, "etcd-warden", Vec::new(), &[ExtendedKeyUsagePurpose::ClientAuth])?;
            let ca_pem = ca.self_signed(issuer.key()).map_err(generate("CA certificate"))?.pem();
            publish(
                &self.dir,
                "authority",
                &[
                    (CA_CERT, ca_pem.as_bytes()),
                    (CA_KEY, issuer.key().serialize_pem().as_bytes()),
                    (CLIENT_CERT, client.0.as_bytes()),
                    (CLIENT_KEY, client.1.as_bytes()),
                ],
            )?;
        }
        Ok(TlsFiles {
            ca_file: complete(&dir, CA_CERT)?,
            cert_file: complete(&dir, CLIENT_CERT)?,
            key_file: complete(&dir, CLIENT_KEY)?,
        })
    }

    /// Every certificate generated so far (the CA, the client's, each member's), never
    /// generating one.
    pub fn certificate_files(&self) -> Vec<PathBuf> {
        let Ok(dirs) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> = dirs
            .filter_map(Result::ok)
            .flat_map(|dir| {
                [dir.path().join(CA_CERT), dir.path().join(CLIENT_CERT), dir.path().join(MEMBER_CERT)]
            })
            .filter(|file| file.is_file())
            .collect();
        files.sort();
        files
    }

    /// The CA, the client certificate and its key if they were generated; `None`
    /// before the first [`Pki::ensure_authority`] (a dry run generates nothing).
    ///
    /// # Errors
    /// `Incomplete` when a file of the existing CA is missing.
    pub fn existing_authority(&self) -> Result<Option<TlsFiles>, PkiError> {
        if self.authority_dir().exists() { self.ensure_authority().map(Some) } else { Ok(None) }
    }

    /// Member `pod`'s server and peer certificate for `host`, with the CA that signed
    /// it; generated now (and the CA too) if the member has none yet.
    ///
    /// # Errors
    /// As [`Pki::ensure_authority`].
    pub fn ensure_member(&self, pod: PodName, host: &str) -> Result<TlsFiles, PkiError> {
        let _one_at_a_time = PKI_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let authority = self.authority_locked()?;
        let dir = self.dir.join(pod.to_string());
        let renew = dir.exists() && expires_soon(&dir.join(MEMBER_CERT));
        if !dir.exists() || renew {
            let (ca_pem, issuer) = self.issuer()?;
            let until = ca_until(&ca_pem)?;
            let usages = [ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            let (cert, key) = leaf(&issuer, Some(until), &pod.to_string(), sans(host), &usages)?;
            let files = [(MEMBER_CERT, cert.as_bytes()), (MEMBER_KEY, key.as_bytes())];
            if renew {
                republish(&self.dir, &pod.to_string(), &files)?;
            } else {
                publish(&self.dir, &pod.to_string(), &files)?;
            }
        }
        Ok(TlsFiles {
            ca_file: authority.ca_file,
            cert_file: complete(&dir, MEMBER_CERT)?,
            key_file: complete(&dir, MEMBER_KEY)?,
        })
    }
}

impl Pki {
    /// The CA's certificate (PEM) and the issuer it signs with.
    fn issuer(&self) -> Result<(String, Issuer<'static, KeyPair>), PkiError> {
        let ca_pem = read(&complete(&self.authority_dir(), CA_CERT)?)?;
        let key_pem = read(&complete(&self.authority_dir(), CA_KEY)?)?;
        let key = KeyPair::from_pem(&key_pem).map_err(generate("certificate: unreadable CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
            .map_err(generate("certificate: unreadable CA certificate"))?;
        Ok((ca_pem, issuer))
    }

    /// When member `pod`'s certificate stops being valid, if it has one.
    pub fn member_expiry(&self, pod: PodName) -> Option<jiff::Timestamp> {
        expiry(&self.dir.join(pod.to_string()).join(MEMBER_CERT))
    }
}

/// The CA's last day: no certificate it signs outlives it.
fn ca_until(ca_pem: &str) -> Result<Ymd, PkiError> {
    not_after(ca_pem)
        .ok_or(PkiError::Generate { what: "certificate", source: rcgen::Error::CouldNotParseCertificate })
}

/// When the certificate in `path` stops being valid; `None` when it cannot be read.
fn expiry(path: &Path) -> Option<jiff::Timestamp> {
    let pem = std::fs::read_to_string(path).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    jiff::Timestamp::from_second(cert.validity().not_after.timestamp()).ok()
}

/// Whether the certificate in `path` expires within [`CERTIFICATE_RENEW_BEFORE`] (one
/// that cannot be read is not: what uses it fails with its own error).
fn expires_soon(path: &Path) -> bool {
    let renew_from = jiff::SignedDuration::try_from(CERTIFICATE_RENEW_BEFORE)
        .ok()
        .and_then(|d| jiff::Timestamp::now().checked_add(d).ok());
    expiry(path).zip(renew_from).is_some_and(|(until, from)| until <= from)
}

/// The operator's member files, checked to be readable files and made absolute (etcd
/// runs detached, in the controller's working directory today but not by promise).
///
/// # Errors
/// `Unreadable`, naming the manifest field, for a file that cannot be opened.
pub fn operator_files(files: &TlsFiles) -> Result<TlsFiles, PkiError> {
    let check = |what: &'static str, path: &Path| {
        let opened = File::open(path).and_then(|f| f.metadata()).and_then(|m| {
            if m.is_file() { Ok(()) } else { Err(std::io::Error::other("not a regular file")) }
        });
        opened.and_then(|()| std::path::absolute(path)).map_err(|source| PkiError::Unreadable {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    Ok(TlsFiles {
        ca_file: check("spec.platform.local.tls.caFile", &files.ca_file)?,
        cert_file: check("spec.platform.local.tls.certFile", &files.cert_file)?,
        key_file: check("spec.platform.local.tls.keyFile", &files.key_file)?,
    })
}

/// The etcd flags of a member serving client and peer TLS with `files`, and requiring
/// a certificate signed by its CA from every client and peer.
pub fn member_flags(files: &TlsFiles) -> Vec<String> {
    let (ca, cert, key) = (files.ca_file.display(), files.cert_file.display(), files.key_file.display());
    vec![
        format!("--cert-file={cert}"),
        format!("--key-file={key}"),
        format!("--trusted-ca-file={ca}"),
        "--client-cert-auth".to_owned(),
        format!("--peer-cert-file={cert}"),
        format!("--peer-key-file={key}"),
        format!("--peer-trusted-ca-file={ca}"),
        "--peer-client-cert-auth".to_owned(),
    ]
}

/// The subject alternative names of a member on `host`: the host, and loopback.
fn sans(host: &str) -> Vec<SanType> {
    let mut names = Vec::new();
    let mut push = |san: SanType| {
        if !names.contains(&san) {
            names.push(san);
        }
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => push(SanType::IpAddress(ip)),
        Err(_) => {
            if let Ok(name) = host.try_into() {
                push(SanType::DnsName(name));
            }
        }
    }
    push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    push(SanType::IpAddress(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)));
    if let Ok(name) = "localhost".try_into() {
        push(SanType::DnsName(name));
    }
    names
}

/// Parameters valid from today (UTC) for [`VALID_YEARS`].
fn params_from_today() -> CertificateParams {
    let mut params = CertificateParams::default();
    let today = jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now()).date();
    let until = today.saturating_add(jiff::Span::new().years(VALID_YEARS));
    let ymd = |d: jiff::civil::Date| {
        date_time_ymd(i32::from(d.year()), d.month().unsigned_abs(), d.day().unsigned_abs())
    };
    params.not_before = ymd(today);
    params.not_after = ymd(until);
    params
}

fn new_ca() -> Result<(CertificateParams, KeyPair), PkiError> {
    let key = KeyPair::generate().map_err(generate("CA key"))?;
    let mut params = params_from_today();
    params.distinguished_name.push(DnType::CommonName, "etcd-warden local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok((params, key))
}

/// A calendar day: year, month, day.
type Ymd = (i32, u8, u8);

/// A certificate for `name` signed by `issuer`, valid no longer than `until` (the CA's
/// last day): its PEM and
/// its key's PEM.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    until: Option<Ymd>,
    name: &str,
    sans: Vec<SanType>,
    usages: &[ExtendedKeyUsagePurpose],
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(generate("certificate key"))?;
    let mut params = params_from_today();
    if let Some((year, month, day)) = until {
        params.not_after = params.not_after.min(date_time_ymd(year, month, day));
    }
    params.distinguished_name.push(DnType::CommonName, name);
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = usages.to_vec();
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).map_err(generate("certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The day (UTC) a PEM certificate stops being valid.
fn not_after(pem: &str) -> Option<Ymd> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let until = cert.validity().not_after.to_datetime();
    Some((until.year(), u8::from(until.month()), until.day()))
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(io("read", path))
}

/// `dir/file`, which must exist.
fn complete(dir: &Path, file: &str) -> Result<PathBuf, PkiError> {
    let path = dir.join(file);
    if path.is_file() { Ok(path) } else { Err(PkiError::Incomplete { missing: path }) }
}

/// Writes `files` (0600) into a staging directory (0700) under `parent` and renames it
/// to `parent/name`; when another writer got there first, its directory stays and ours
/// is dropped.
fn publish(parent: &Path, name: &str, files: &[(&str, &[u8])]) -> Result<(), PkiError> {
    ensure_private_dir(parent).map_err(io("create", parent))?;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let staging = parent.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let target = parent.join(name);
    let written = (|| {
        DirBuilder::new().mode(0o700).create(&staging).map_err(io("create", &staging))?;
        for (file, bytes) in files {
            let path = staging.join(file);
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("create", &path))?;
            out.write_all(bytes).and_then(|()| out.sync_all()).map_err(io("write", &path))?;
        }
        File::open(&staging).and_then(|d| d.sync_all()).map_err(io("sync", &staging))
    })();
    let renamed = written.and_then(|()| match std::fs::rename(&staging, &target) {
        Ok(()) => File::open(parent).and_then(|d| d.sync_all()).map_err(io("sync", parent)),
        Err(_) if target.is_dir() => Ok(()),
        Err(e) => Err(io("rename", &staging)(e)),
    });
    let _ = std::fs::remove_dir_all(&staging);
    renamed
}

/// Replaces directory `parent/name` with `files`: written whole beside it, the old one
/// moved aside, the new one renamed into place, the old one deleted. A crash in between
/// leaves either directory whole, or none (the next ask issues a new one).
fn republish(parent: &Path, name: &str, files: &[(&str, &[u8])]) -> Result<(), PkiError> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let target = parent.join(name);
    let old = parent.join(format!(".{name}.old-{}-{nanos}", std::process::id()));
    std::fs::rename(&target, &old).map_err(io("rename", &target))?;
    let published = publish(parent, name, files);
    if published.is_err() && !target.exists() {
        // Put the old one back: an expiring certificate beats none.
        let _ = std::fs::rename(&old, &target);
        return published;
    }
    let _ = std::fs::remove_dir_all(&old);
    published
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
