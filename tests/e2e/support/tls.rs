//! etcd clients over TLS for tests of TLS clusters: a CA to trust and, optionally, a
//! client certificate to present.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};

/// What a test client trusts and presents.
#[derive(Debug, Clone)]
pub struct Certs {
    /// The CA the members' certificates chain to.
    pub ca: PathBuf,
    /// The client certificate and key, if any.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl Certs {
    /// The files etcd-warden generated for cluster `name` (`tls: auto`) under `state_dir`.
    pub fn generated(state_dir: &Path, name: &str) -> Self {
        let dir = authority_dir(state_dir, name);
        Self { ca: dir.join("ca.crt"), client: Some((dir.join("client.crt"), dir.join("client.key"))) }
    }

    /// The same CA, no client certificate.
    pub fn without_client(&self) -> Self {
        Self { ca: self.ca.clone(), client: None }
    }

    fn options(&self) -> ConnectOptions {
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&self.ca)));
        if let Some((cert, key)) = &self.client {
            tls = tls.identity(Identity::from_pem(read(cert), read(key)));
        }
        ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5))
            .with_tls(tls)
    }
}

/// The directory of the cluster's generated CA and client certificate.
pub fn authority_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("clusters").join(name).join("platform").join("tls").join("authority")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn connect(endpoints: &[String], certs: Option<&Certs>) -> Result<Client, String> {
    let options = certs.map_or_else(
        || {
            ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(5))
        },
        Certs::options,
    );
    Client::connect(endpoints, Some(options)).await.map_err(|e| e.to_string())
}

/// The member names as one endpoint lists them, or why it refused (`certs: None`: plain).
pub fn member_names(endpoint: &str, certs: Option<&Certs>) -> Result<Vec<String>, String> {
    Ok(member_list(endpoint, certs)?.into_iter().map(|(name, _)| name).collect())
}

/// Every member's name and peer URLs as one endpoint lists them, or why it refused.
pub fn member_list(endpoint: &str, certs: Option<&Certs>) -> Result<Vec<(String, Vec<String>)>, String> {
    runtime().block_on(async {
        let mut c = connect(&[endpoint.to_owned()], certs).await?;
        let list = c.member_list().await.map_err(|e| e.to_string())?;
        Ok(list.members().iter().map(|m| (m.name().to_owned(), m.peer_urls().to_vec())).collect())
    })
}

/// Writes `count` keys `prefix/NNNN` = `value-NNNN`.
pub fn put_keys(endpoints: &[String], certs: &Certs, prefix: &str, count: usize) {
    runtime().block_on(async {
        let mut c = connect(endpoints, Some(certs)).await.expect("connect over TLS");
        for i in 0..count {
            c.put(format!("{prefix}/{i:04}"), format!("value-{i:04}"), None).await.expect("put a key");
        }
    });
}

/// Reads the keys under `prefix/` through one endpoint; asserts they are exactly the
/// `count` written by [`put_keys`].
pub fn assert_keys(endpoint: &str, certs: &Certs, prefix: &str, count: usize) {
    runtime().block_on(async {
        let mut c = connect(&[endpoint.to_owned()], Some(certs)).await.expect("connect over TLS");
        let resp =
            c.get(format!("{prefix}/"), Some(GetOptions::new().with_prefix())).await.expect("read keys");
        assert_eq!(resp.kvs().len(), count, "keys under {prefix}/ on {endpoint}");
        for (i, kv) in resp.kvs().iter().enumerate() {
            assert_eq!(kv.key_str().expect("utf-8 key"), format!("{prefix}/{i:04}"));
            assert_eq!(kv.value_str().expect("utf-8 value"), format!("value-{i:04}"));
        }
    });
}

/// The hash of every endpoint's key space at one revision, or `None` while a member
/// does not answer.
pub fn try_hashkv(endpoints: &[String], certs: &Certs) -> Option<Vec<u32>> {
    runtime().block_on(async {
        let mut first = connect(&endpoints[..1], Some(certs)).await.ok()?;
        let revision = first.get("hashkv-probe", None).await.ok()?.header()?.revision();
        let mut hashes = Vec::new();
        for endpoint in endpoints {
            let mut c = connect(std::slice::from_ref(endpoint), Some(certs)).await.ok()?;
            hashes.push(c.hash_kv(revision).await.ok()?.hash());
        }
        Some(hashes)
    })
}
