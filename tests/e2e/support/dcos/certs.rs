//! The fake's key material: a test CA, one server/peer certificate for every etcd
//! member (SANs `127.0.0.1`, `localhost`, and the overlay form's `127.9.0.1` ..
//! `127.9.0.5` and autoip names of pods etcd-0 .. etcd-4; serverAuth and clientAuth), a client certificate, and an RSA service
//! account key pair for the IAM. Written once per fake into its directory; nothing here
//! outlives the test.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, RsaKeySize, SanType,
};

/// The TLS files of the fake, as the package keeps them in a task sandbox (§5.3):
/// `ca-crt.pem`, `etcd-crt.pem`, `etcd-key.pem` for clients, and the members' own
/// server/peer pair.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA every member and client trusts.
    pub ca: PathBuf,
    /// The client certificate (`etcd-crt.pem`).
    pub cert: PathBuf,
    /// The client key (`etcd-key.pem`).
    pub key: PathBuf,
    /// The members' server and peer certificate.
    pub server_cert: PathBuf,
    /// The members' server and peer key.
    pub server_key: PathBuf,
}

/// A service account: its uid, its PKCS#8 private key and its public key, both PEM.
#[derive(Debug, Clone)]
pub struct ServiceAccountKeys {
    /// The private key (PKCS#8 PEM), as DC/OS writes it into the secret.
    pub private_pem: String,
    /// The public key (SPKI PEM), as the IAM stores it for the account.
    pub public_pem: String,
}

/// Generates the CA and the certificates into `dir`, for the pods of `service`.
pub fn write_tls(dir: &Path, service: &str) -> TlsFiles {
    std::fs::create_dir_all(dir).expect("create the TLS directory");
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.distinguished_name.push(DnType::CommonName, "etcd-warden fake DC/OS test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

    let leaf = |name: &str| {
        let key = KeyPair::generate().expect("generate a key");
        // The overlay form's autoip names, as the package's certificates name its pods.
        let names = ["localhost".to_owned(), "127.0.0.1".to_owned()]
            .into_iter()
            .chain((0..5).map(|pod| super::pods::autoip(pod, service)));
        let mut params = CertificateParams::new(names.collect::<Vec<_>>()).expect("parameters");
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        // The overlay form's pod addresses (pods::PeerForm::Overlay).
        for pod in 1..=5 {
            params.subject_alt_names.push(SanType::IpAddress([127, 9, 0, pod].into()));
        }
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &ca).expect("sign a certificate");
        (cert.pem(), key.serialize_pem())
    };
    let files = TlsFiles {
        ca: dir.join("ca-crt.pem"),
        cert: dir.join("etcd-crt.pem"),
        key: dir.join("etcd-key.pem"),
        server_cert: dir.join("server-crt.pem"),
        server_key: dir.join("server-key.pem"),
    };
    std::fs::write(&files.ca, ca.pem()).expect("write the CA");
    let (cert, key) = leaf("etcd-client");
    std::fs::write(&files.cert, cert).expect("write the client certificate");
    std::fs::write(&files.key, key).expect("write the client key");
    let (cert, key) = leaf("etcd-peer");
    std::fs::write(&files.server_cert, cert).expect("write the server certificate");
    std::fs::write(&files.server_key, key).expect("write the server key");
    files
}

/// A fresh RSA 2048 key pair for a service account (and one for the IAM's own tokens).
pub fn rsa_keys() -> ServiceAccountKeys {
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("generate an RSA key");
    ServiceAccountKeys { private_pem: key.serialize_pem(), public_pem: key.public_key_pem() }
}
