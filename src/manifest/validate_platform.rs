//! Validation of the `platform` and `etcd` sections.

use std::net::IpAddr;

use crate::domain::PodName;

use super::desired::{
    DcosCredentials, DcosSpec, EndpointsSpec, EtcdAccess, LocalSpec, LocalTlsSpec, MemberCount, PlatformSpec,
    PortsSpec, TlsFiles,
};
use super::spec::{DcosLogin, DcosSection, EtcdSection, LocalSection, PlatformSection};
use super::spec_tls::LocalTls;
use super::spec_values::{Endpoints, Ports};
use super::validate::Checker;

/// The members' metrics port of the DC/OS package (`kubernetes-cluster` 2.3 and later).
const DCOS_METRICS_PORT: u16 = 2381;

/// Whether `text` is an `http://` or `https://` URL with a host.
pub(super) fn is_http_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !rest.chars().any(char::is_whitespace)
    })
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
