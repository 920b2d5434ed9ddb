//! The `platform` section: where the members run, exactly one of `local` (etcd
//! processes on this machine) or `dcos` (the etcd tasks of a DC/OS Kubernetes service),
//! as written, as validated, and the rules between (ports that leave room for every
//! member, exactly one kind of DC/OS credentials). `tls` holds the local members' TLS.

use core::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::check::{Checker, is_http_url};
use crate::manifest::members::MemberCount;
use crate::manifest::tls::{LocalTls, TlsFiles};
use crate::manifest::values::{Ports, null_as_default};

/// Where the members run: exactly one of `local` or `dcos`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct PlatformSection {
    /// Real etcd processes on this machine, detached from the controller (the default
    /// platform). `local:` with no value uses every default.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSection>,
    /// The etcd tasks of a DC/OS Kubernetes service, through its SDK scheduler API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcos: Option<DcosSection>,
}

/// The local platform: each member is an etcd process on this machine.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "LocalPlatform")]
pub struct LocalSection {
    /// The etcd binary: a bare name is looked up on PATH at launch. Default: `etcd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_binary: Option<String>,
    /// The address members listen on and advertise (an IP address or host name,
    /// without a port). Default: `127.0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `auto` (free ports of 12000-19999, below the kernel's ephemeral range) or a
    /// base port (member i gets client port base + 2i and peer port base + 2i + 1).
    /// Chosen ports are kept stable across restarts. Default: `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Ports>,
    /// Client and peer TLS of the members: `auto`, or the operator's `caFile`,
    /// `certFile` and `keyFile` (with `spec.etcd.tls` as etcd-warden's client
    /// certificate). Absent: plain http. Cannot change on an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<LocalTls>,
}

/// The DC/OS platform: the etcd pods of a DC/OS Kubernetes service.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "DcosPlatform")]
pub struct DcosSection {
    /// The DC/OS cluster URL (http or https), e.g. `https://dcos.example.com`.
    pub url: String,
    /// The SDK service name of the Kubernetes package; folders are allowed
    /// (`/prod/kubernetes`).
    pub service: String,
    /// The DC/OS CA bundle (`dcos-ca.crt`). Absent: the system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// How the controller logs in: exactly one of `serviceAccountSecretFile`,
    /// `uid` with `passwordFile`, or `tokenFile`.
    pub credentials: DcosLogin,
}

/// DC/OS login credentials: exactly one of `serviceAccountSecretFile`, `uid` with
/// `passwordFile`, or `tokenFile`. Secrets stay in files, out of the manifest.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DcosLogin {
    /// A service account secret file (JSON with `uid`, `private_key` and
    /// `login_endpoint`, as written by `dcos security org service-accounts keypair`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_secret_file: Option<String>,
    /// A DC/OS user ID; needs `passwordFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// A file holding the password of `uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// A file holding a ready authentication token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

/// Exactly one platform.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformSpec {
    /// Real etcd processes on this machine.
    Local(LocalSpec),
    /// Tasks of a DC/OS Kubernetes service.
    Dcos(DcosSpec),
}

impl PlatformSpec {
    /// The etcd binary the controller runs itself, on its own machine: for scratch
    /// copies (restore drills, a stopped survivor's data) and, beside it, the offline
    /// snapshot tool. The local platform's `etcdBinary`; on DC/OS, `etcd` on `PATH`.
    pub fn controller_etcd(&self) -> PathBuf {
        match self {
            Self::Local(spec) => spec.etcd_binary.clone(),
            Self::Dcos(_) => PathBuf::from("etcd"),
        }
    }
}

/// The local platform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSpec {
    /// The etcd binary: a bare name is looked up on `PATH` at launch.
    pub etcd_binary: PathBuf,
    /// The address members listen on and advertise.
    pub host: String,
    /// How client and peer ports are chosen.
    pub ports: PortsSpec,
    /// Client and peer TLS of the members; `None` for plain http.
    pub tls: Option<LocalTlsSpec>,
}

/// Client and peer TLS of the local platform's members.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalTlsSpec {
    /// A CA, member certificates and a client certificate generated by etcd-warden
    /// under the cluster's platform directory.
    Auto,
    /// The operator's files; the client certificate is `EtcdAccess::tls`.
    Files(TlsFiles),
}

/// How the local platform picks ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortsSpec {
    /// Free ports chosen once and kept across restarts.
    Auto,
    /// Member `i` gets client port `base + 2i` and peer port `base + 2i + 1`.
    Base(u16),
}

/// The DC/OS platform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DcosSpec {
    /// The cluster URL, e.g. `https://dcos.example.com`.
    pub url: String,
    /// The SDK service name, folders allowed (`/prod/kubernetes`).
    pub service: String,
    /// The DC/OS CA bundle; `None` uses the system roots.
    pub ca_file: Option<PathBuf>,
    /// How the controller logs in.
    pub credentials: DcosCredentials,
}

/// DC/OS credentials: exactly one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum DcosCredentials {
    /// A service account secret file (JSON with `uid`, `private_key`, `login_endpoint`).
    ServiceAccount {
        /// The secret file.
        secret_file: PathBuf,
    },
    /// A user ID and a file holding the password.
    Password {
        /// The user ID.
        uid: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// A file holding a ready token.
    Token {
        /// The token file.
        token_file: PathBuf,
    },
}

impl Checker {
    /// Checks the platform section; absent means the local platform with its defaults.
    pub(super) fn platform(
        &mut self,
        platform: Option<&PlatformSection>,
        members: Option<MemberCount>,
    ) -> Option<PlatformSpec> {
        const ALLOWED: &str = "allowed: exactly one of local, dcos";
        let default = LocalSection::default();
        match platform {
            None => self.local(&default, members).map(PlatformSpec::Local),
            Some(PlatformSection { local: Some(local), dcos: None }) => {
                self.local(local, members).map(PlatformSpec::Local)
            }
            Some(PlatformSection { local: None, dcos: Some(dcos) }) => {
                self.dcos(dcos).map(PlatformSpec::Dcos)
            }
            Some(PlatformSection { local: None, dcos: None }) => {
                self.fail("spec.platform", format!("no platform is chosen ({ALLOWED})"));
                None
            }
            Some(PlatformSection { local: Some(_), dcos: Some(_) }) => {
                self.fail("spec.platform", format!("both local and dcos are set ({ALLOWED})"));
                None
            }
        }
    }

    fn local(&mut self, local: &LocalSection, members: Option<MemberCount>) -> Option<LocalSpec> {
        let etcd_binary = match &local.etcd_binary {
            None => Some("etcd".into()),
            Some(binary) if binary.trim().is_empty() => {
                self.fail(
                    "spec.platform.local.etcdBinary",
                    "an empty name is not allowed (a binary name looked up on PATH, or a path to the etcd binary)",
                );
                None
            }
            Some(binary) => Some(binary.into()),
        };
        let host = local.host.as_deref().unwrap_or("127.0.0.1");
        let host_ok = host.parse::<IpAddr>().is_ok()
            || (host.chars().any(|c| c.is_ascii_alphabetic())
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        if !host_ok {
            self.fail(
                "spec.platform.local.host",
                format!("{host:?} is not allowed (an IP address or host name, without scheme or port)"),
            );
        }
        let ports = match local.ports.unwrap_or_default() {
            Ports::Auto => Some(PortsSpec::Auto),
            Ports::Base(base) => self.base_port(base, members),
        };
        let tls = match &local.tls {
            None => Some(None),
            Some(LocalTls::Auto) => Some(Some(LocalTlsSpec::Auto)),
            Some(LocalTls::Files(files)) => {
                const PATH: &str = "spec.platform.local.tls";
                let ca_file = self.file_path(&format!("{PATH}.caFile"), &files.ca_file);
                let cert_file = self.file_path(&format!("{PATH}.certFile"), &files.cert_file);
                let key_file = self.file_path(&format!("{PATH}.keyFile"), &files.key_file);
                Some(Some(LocalTlsSpec::Files(TlsFiles {
                    ca_file: ca_file?,
                    cert_file: cert_file?,
                    key_file: key_file?,
                })))
            }
        };
        Some(LocalSpec {
            etcd_binary: etcd_binary?,
            host: host_ok.then(|| host.to_owned())?,
            ports: ports?,
            tls: tls?,
        })
    }

    fn base_port(&mut self, base: u16, members: Option<MemberCount>) -> Option<PortsSpec> {
        let count = members.map_or(1, MemberCount::get);
        let highest = 65536 - 2 * count;
        if (1024..=highest).contains(&usize::from(base)) {
            return Some(PortsSpec::Base(base));
        }
        self.fail(
            "spec.platform.local.ports",
            format!(
                "{base} is not allowed (auto, or a base port from 1024 to {highest} for {count} member(s): each member takes 2 ports)"
            ),
        );
        None
    }

    fn dcos(&mut self, dcos: &DcosSection) -> Option<DcosSpec> {
        let url_ok = is_http_url(&dcos.url);
        if !url_ok {
            self.fail(
                "spec.platform.dcos.url",
                format!(
                    "{:?} is not allowed (an http:// or https:// URL, e.g. https://dcos.example.com)",
                    dcos.url
                ),
            );
        }
        let service = dcos.service.strip_prefix('/').unwrap_or(&dcos.service);
        let service_ok = !service.is_empty()
            && service.split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            });
        if !service_ok {
            self.fail(
                "spec.platform.dcos.service",
                format!(
                    "{:?} is not allowed (an SDK service name of a-z, 0-9, '-' and '.', folders allowed: kubernetes or /prod/kubernetes)",
                    dcos.service
                ),
            );
        }
        let ca_file = match &dcos.ca_file {
            None => Some(None),
            Some(file) => self.file_path("spec.platform.dcos.caFile", file).map(Some),
        };
        let credentials = self.credentials(&dcos.credentials);
        Some(DcosSpec {
            url: url_ok.then(|| dcos.url.clone())?,
            service: service_ok.then(|| dcos.service.clone())?,
            ca_file: ca_file?,
            credentials: credentials?,
        })
    }

    fn credentials(&mut self, login: &DcosLogin) -> Option<DcosCredentials> {
        const PATH: &str = "spec.platform.dcos.credentials";
        const ALLOWED: &str =
            "allowed: exactly one of serviceAccountSecretFile, uid with passwordFile, or tokenFile";
        let password = login.uid.is_some() || login.password_file.is_some();
        let kinds = [login.service_account_secret_file.is_some(), password, login.token_file.is_some()];
        match kinds.iter().filter(|given| **given).count() {
            0 => {
                self.fail(PATH, format!("no credentials are given ({ALLOWED})"));
                return None;
            }
            1 => {}
            _ => {
                self.fail(PATH, format!("more than one kind of credentials is given ({ALLOWED})"));
                return None;
            }
        }
        if let Some(file) = &login.service_account_secret_file {
            let secret_file = self.file_path(&format!("{PATH}.serviceAccountSecretFile"), file)?;
            return Some(DcosCredentials::ServiceAccount { secret_file });
        }
        if let Some(file) = &login.token_file {
            let token_file = self.file_path(&format!("{PATH}.tokenFile"), file)?;
            return Some(DcosCredentials::Token { token_file });
        }
        match (&login.uid, &login.password_file) {
            (Some(uid), Some(file)) if !uid.trim().is_empty() => {
                let password_file = self.file_path(&format!("{PATH}.passwordFile"), file)?;
                Some(DcosCredentials::Password { uid: uid.clone(), password_file })
            }
            (Some(_), Some(_)) => {
                self.fail(
                    format!("{PATH}.uid"),
                    "an empty user ID is not allowed (the DC/OS user ID that passwordFile belongs to)",
                );
                None
            }
            (Some(_), None) => {
                self.fail(
                    format!("{PATH}.passwordFile"),
                    "is missing (uid needs passwordFile: a file holding the password)",
                );
                None
            }
            (None, _) => {
                self.fail(format!("{PATH}.uid"), "is missing (passwordFile needs uid: the DC/OS user ID)");
                None
            }
        }
    }
}
