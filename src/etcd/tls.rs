//! Client TLS for etcd: the manifest's CA, certificate and key (on DC/OS the package's
//! `ca-crt.pem`, `etcd-crt.pem`, `etcd-key.pem`), read once per pass so that rotated
//! files are picked up, and turned into etcd-client's connect options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};

use crate::manifest::desired::TlsFiles;

/// How long a connection attempt to one member may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// A TLS file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the etcd client TLS file {path} ({what}): {source}")]
pub struct TlsFileError {
    /// Which file (`spec.etcd.tls.caFile`...).
    pub what: &'static str,
    /// Its path.
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

/// The client's TLS material, in memory. The key never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientTls {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("key", &"<redacted>").finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the three files.
    ///
    /// # Errors
    /// When one cannot be read; the error names the file, never its content.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsFileError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsFileError { what, path: path.to_path_buf(), source })
        };
        Ok(Self {
            ca: read("spec.etcd.tls.caFile", &files.ca_file)?,
            cert: read("spec.etcd.tls.certFile", &files.cert_file)?,
            key: read("spec.etcd.tls.keyFile", &files.key_file)?,
        })
    }

    /// `builder` trusting only the members' CA and presenting the client certificate.
    pub(super) fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, reqwest::Error> {
        let mut pem = self.cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&self.key);
        Ok(builder
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&self.ca)?)
            .identity(reqwest::Identity::from_pem(&pem)?))
    }

    fn options(&self) -> TlsOptions {
        TlsOptions::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
    }
}

/// Connect options with `timeout` per request (`None`: no limit, for a stream), over
/// TLS for `https://` endpoints when `tls` is given (`http://` endpoints never use it).
pub fn connect_options(tls: Option<&ClientTls>, timeout: Option<Duration>) -> ConnectOptions {
    let mut options = ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
    if let Some(timeout) = timeout {
        options = options.with_timeout(timeout);
    }
    match tls {
        Some(tls) => options.with_tls(tls.options()),
        None => options,
    }
}
