//! The `etcd` section: how the controller reaches etcd (client TLS, the members'
//! endpoints, their metrics port), as written, as validated, and the rules between.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::PodName;
use crate::manifest::check::{Checker, is_http_url};
use crate::manifest::members::MemberCount;
use crate::manifest::platform::{LocalSpec, LocalTlsSpec, PlatformSpec};
use crate::manifest::tls::TlsFiles;
use crate::manifest::values::ByteSizeValue;
use crate::manifest::values::Endpoints;

/// The members' metrics port of the DC/OS package (`kubernetes-cluster` 2.3 and later).
const DCOS_METRICS_PORT: u16 = 2381;

/// How the controller reaches etcd.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdSection {
    /// Client TLS files. Absent: plain HTTP, or on the local platform with `tls: auto`
    /// the client certificate etcd-warden generated for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// DC/OS only: a client URL template with `{pod}` and `{service}` (default:
    /// `https://{pod}-peer.{service}.autoip.dcos.thisdcos.directory:2379`), or a map of
    /// pod name (`etcd-0`) to client URL naming every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// DC/OS only: the port of the members' metrics listener (plain HTTP `/metrics`)
    /// on the host of each client URL, asked when a member's client port fails, to tell
    /// a client connection that fails (TLS files, client URL) from a member that is
    /// down. Default 2381 (the `kubernetes-cluster` 2.3+ package's); `0` asks none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    /// The members' database quota (`--quota-backend-bytes`): a byte count or a size
    /// with a unit (`4GiB`), 1MiB to 8GiB. The local platform starts etcd with it; on
    /// DC/OS it only informs reporting (the package sets the flag). Absent: etcd's
    /// default, 2 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_backend_bytes: Option<ByteSizeValue>,
}

/// Client TLS files, as PEM files.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSection {
    /// The CA bundle that signed the members' certificates (`ca-crt.pem`).
    pub ca_file: String,
    /// The client certificate (`etcd-crt.pem`).
    pub cert_file: String,
    /// The client key (`etcd-key.pem`).
    pub key_file: String,
}

/// How the controller reaches etcd.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtcdAccess {
    /// Client TLS files; `None` for plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How member client URLs are found (used by the DC/OS platform).
    pub endpoints: EndpointsSpec,
    /// The members' metrics port on the host of each client URL (DC/OS), asked when a
    /// client port fails; `None`: not asked.
    pub metrics_port: Option<u16>,
}

/// How member client URLs are found.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum EndpointsSpec {
    /// The platform's own knowledge (local) or the default DC/OS template.
    #[default]
    Default,
    /// A template with `{pod}` and `{service}` placeholders.
    Template(String),
    /// One client URL per pod.
    Map(Vec<(PodName, String)>),
}

impl Checker {
    /// Checks the etcd section against the platform and the member count.
    ///
    /// On DC/OS the members' metrics port defaults to the package's 2381
    /// (`kubernetes-cluster` 2.3 and later; shared/reference/dcos-sources.md §2 item 9).
    pub(super) fn etcd(
        &mut self,
        etcd: Option<&EtcdSection>,
        platform: Option<&PlatformSpec>,
        members: Option<MemberCount>,
    ) -> Option<EtcdAccess> {
        let member_files = matches!(
            platform,
            Some(PlatformSpec::Local(LocalSpec { tls: Some(LocalTlsSpec::Files(_)), .. }))
        );
        if member_files && etcd.is_none_or(|e| e.tls.is_none()) {
            self.fail(
                "spec.etcd.tls",
                "is missing (spec.platform.local.tls with files needs the client certificate etcd-warden presents to the members: caFile, certFile, keyFile; or use tls: auto)",
            );
            return None;
        }
        let dcos = matches!(platform, Some(PlatformSpec::Dcos(_)));
        let Some(etcd) = etcd else {
            return Some(EtcdAccess {
                metrics_port: dcos.then_some(DCOS_METRICS_PORT),
                ..EtcdAccess::default()
            });
        };
        let tls = match &etcd.tls {
            None => Some(None),
            Some(tls) => {
                let ca_file = self.file_path("spec.etcd.tls.caFile", &tls.ca_file);
                let cert_file = self.file_path("spec.etcd.tls.certFile", &tls.cert_file);
                let key_file = self.file_path("spec.etcd.tls.keyFile", &tls.key_file);
                Some(Some(TlsFiles { ca_file: ca_file?, cert_file: cert_file?, key_file: key_file? }))
            }
        };
        let endpoints = match &etcd.endpoints {
            None => Some(EndpointsSpec::Default),
            Some(_) if matches!(platform, Some(PlatformSpec::Local(_))) => {
                self.fail(
                    "spec.etcd.endpoints",
                    "is not allowed with the local platform (the local platform knows its members' client URLs; endpoints are for dcos)",
                );
                None
            }
            Some(Endpoints::Template(template)) => self.template(template),
            Some(Endpoints::Map(urls)) => self.endpoint_map(urls, members),
        };
        let metrics_port = match (etcd.metrics_port, dcos) {
            (None, true) => Some(Some(DCOS_METRICS_PORT)),
            (None | Some(0), _) => Some(None),
            (Some(_), true) => Some(etcd.metrics_port),
            (Some(_), false) => {
                self.fail(
                    "spec.etcd.metricsPort",
                    "is not allowed with the local platform (the members' metrics port is asked on dcos only)",
                );
                None
            }
        };
        Some(EtcdAccess { tls: tls?, endpoints: endpoints?, metrics_port: metrics_port? })
    }

    fn template(&mut self, template: &str) -> Option<EndpointsSpec> {
        const PATH: &str = "spec.etcd.endpoints";
        let unknown = template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .find(|name| !matches!(*name, "pod" | "service"));
        if let Some(name) = unknown {
            self.fail(PATH, format!("{{{name}}} is not a placeholder (allowed: {{pod}}, {{service}})"));
            return None;
        }
        if !template.contains("{pod}") || !is_http_url(template) {
            self.fail(
                PATH,
                format!(
                    "{template:?} is not allowed (an http:// or https:// URL template that contains {{pod}}, and may contain {{service}})"
                ),
            );
            return None;
        }
        Some(EndpointsSpec::Template(template.to_owned()))
    }

    fn endpoint_map(
        &mut self,
        urls: &std::collections::BTreeMap<String, String>,
        members: Option<MemberCount>,
    ) -> Option<EndpointsSpec> {
        let count = members?;
        let last = count.get() - 1;
        let mut map = Vec::new();
        let mut clean = true;
        for (key, url) in urls {
            let path = format!("spec.etcd.endpoints.{key}");
            match key.parse::<PodName>() {
                Ok(pod) if usize::from(pod.index()) <= last => {
                    if is_http_url(url) {
                        map.push((pod, url.clone()));
                    } else {
                        clean = false;
                        self.fail(
                            path,
                            format!("{url:?} is not allowed (an http:// or https:// client URL)"),
                        );
                    }
                }
                Ok(_) | Err(_) => {
                    clean = false;
                    self.fail(
                        path,
                        format!(
                            "{key:?} is not a member pod of this {}-member cluster (allowed: etcd-0 .. etcd-{last})",
                            count.get()
                        ),
                    );
                }
            }
        }
        for pod in count.pods() {
            if !urls.contains_key(&pod.to_string()) {
                clean = false;
                self.fail(
                    "spec.etcd.endpoints",
                    format!("{pod} has no client URL (a map must name every member: etcd-0 .. etcd-{last})"),
                );
            }
        }
        clean.then_some(EndpointsSpec::Map(map))
    }
}
