//! The pods' etcd processes: real `etcd` with client and peer TLS on loopback, started
//! and killed by pid, and `etcdctl` over TLS as the package's `recover` task and the
//! tests use it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::super::names::Names;
use super::certs::TlsFiles;

/// How the package advertises its members' peer URLs. Its wrapper script sets them and
/// is not public (shared/reference/dcos-sources.md, row 1), so the fake offers each
/// plausible form and the tests run against them: the controller must never depend on
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerForm {
    /// `https://127.0.0.1:<client port + 1>`: the controller's own guess.
    #[default]
    NextPort,
    /// `https://localhost:<client port + 2>`: a host name, and a peer port from a range of
    /// its own.
    HostNameOwnRange,
    /// The 2.x line's overlay network: every pod has an address of its own and the same
    /// two ports (the package's 2379 and 2380 on each container IP of the `dcos` overlay;
    /// shared/reference/dcos-sources.md, rows 1 and 3, section 2 item 8), and is named by
    /// its autoip name, `etcd-N-peer.<service without slashes>.autoip.dcos.thisdcos.directory`,
    /// which resolves only while its task runs (the fake's [`Names`](super::super::names::Names)).
    /// Here pod N listens on `127.9.0.<N + 1>` (the overlay is 9.0.0.0/8), every pod on
    /// one client port, and advertises its autoip name with the client port and the
    /// client port + 1. A controller that told members apart by port would take them all
    /// for one; one that dialled an address it computed would not reach them.
    Overlay,
}

/// The autoip name of pod `etcd-<index>` of `service` (folders allowed): its task name
/// under the service name without its slashes (dcos-commons' `testing/sdk_hosts.py`).
pub fn autoip(index: u8, service: &str) -> String {
    format!("etcd-{index}-peer.{}.autoip.dcos.thisdcos.directory", service.replace('/', ""))
}

/// The overlay addresses of pods etcd-0 .. etcd-4.
const OVERLAY: [Ipv4Addr; 5] = [
    Ipv4Addr::new(127, 9, 0, 1),
    Ipv4Addr::new(127, 9, 0, 2),
    Ipv4Addr::new(127, 9, 0, 3),
    Ipv4Addr::new(127, 9, 0, 4),
    Ipv4Addr::new(127, 9, 0, 5),
];

impl PeerForm {
    /// The address pod `index` listens on.
    pub fn address(self, index: u8) -> Ipv4Addr {
        match self {
            Self::Overlay => OVERLAY[usize::from(index)],
            Self::NextPort | Self::HostNameOwnRange => Ipv4Addr::LOCALHOST,
        }
    }

    /// Whether every pod listens on the same ports (each on an address of its own).
    pub fn shares_ports(self) -> bool {
        self == Self::Overlay
    }

    /// The host pod `index` of service `service` advertises: its autoip name in the
    /// overlay form, its address otherwise.
    pub fn host(self, index: u8, service: &str) -> String {
        match self {
            Self::Overlay => autoip(index, service),
            Self::NextPort | Self::HostNameOwnRange => self.address(index).to_string(),
        }
    }

    /// The peer URL pod `index` of `service`, whose client port is `port`, advertises.
    pub fn url(self, index: u8, port: u16, service: &str) -> String {
        match self {
            Self::NextPort | Self::Overlay => format!("https://{}:{}", self.host(index, service), port + 1),
            Self::HostNameOwnRange => format!("https://localhost:{}", port + 2),
        }
    }

    /// The client URL pod `index` of `service`, whose client port is `port`, advertises.
    pub fn client_url(self, index: u8, port: u16, service: &str) -> String {
        format!("https://{}:{port}", self.host(index, service))
    }

    /// The address its peer port listens on (etcd binds to an address).
    fn listen(self, index: u8, port: u16) -> String {
        match self {
            Self::NextPort | Self::Overlay => format!("https://{}:{}", self.address(index), port + 1),
            Self::HostNameOwnRange => format!("https://127.0.0.1:{}", port + 2),
        }
    }
}

/// A client port `P` such that `P`, `P + 1` and `P + 2` (the peer port of each
/// [`PeerForm`]) and `P + 3` (the metrics port, [`metrics_port`]) are free now, below the kernel's ephemeral range (32768 and up): a
/// member that is down keeps its ports, and an outgoing connection must not take them
/// meanwhile. Never the same ports twice in one test binary.
pub fn free_port_pair() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = 20_000 + (random % 3_000) as u16 * 4;
        // Free on loopback and on every overlay address: another test's overlay pods
        // may hold the port there alone.
        let free = |p: u16| {
            std::iter::once(Ipv4Addr::LOCALHOST)
                .chain(OVERLAY)
                .all(|address| std::net::TcpListener::bind((address, p)).is_ok())
        };
        if !taken.contains(&port) && (port..port + 4).all(free) {
            taken.push(port);
            return port;
        }
    }
    panic!("no two free consecutive ports on loopback");
}

/// The metrics port (plain HTTP `/metrics`, `--listen-metrics-urls`) of a member whose
/// client port is `port`, as the package's 2381 beside its 2379.
pub fn metrics_port(port: u16) -> u16 {
    port + 3
}

/// How one etcd member is launched.
pub struct Launch<'a> {
    pub name: &'a str,
    /// N of `etcd-N`: its address, in the overlay form.
    pub index: u8,
    pub port: u16,
    /// How its peer URL is advertised.
    pub peer_form: PeerForm,
    pub data_dir: &'a Path,
    pub initial_cluster: &'a str,
    /// `new` or `existing`.
    pub state: &'a str,
    pub token: &'a str,
    pub log: &'a Path,
    /// Another CA's server certificate and key for its client port (its peer port keeps
    /// the cluster's): a pod whose client certificate the controller does not trust.
    pub foreign_client_cert: Option<&'a TlsFiles>,
    /// The service, folders allowed: its autoip names.
    pub service: &'a str,
    /// Where it resolves host names, when they are autoip names.
    pub names: Option<&'a Names>,
}

/// Starts `etcd` with client and peer TLS (`--client-cert-auth`, `--peer-client-cert-auth`).
pub fn spawn_etcd(tls: &TlsFiles, launch: &Launch<'_>) -> Child {
    let address = launch.peer_form.address(launch.index);
    let listen_client = format!("https://{address}:{}", launch.port);
    let client = launch.peer_form.client_url(launch.index, launch.port, launch.service);
    let metrics = format!("http://{address}:{}", metrics_port(launch.port));
    let client_tls = launch.foreign_client_cert.unwrap_or(tls);
    let listen_peer = launch.peer_form.listen(launch.index, launch.port);
    let peer = launch.peer_form.url(launch.index, launch.port, launch.service);
    let log = std::fs::File::create(launch.log).expect("create an etcd log");
    // etcd 3.3 (what the package ships) has no `--logger`: it logs to stderr anyway.
    let logger: &[&str] =
        if super::super::etcd_is_3_3() { &[] } else { &["--logger", "zap", "--log-outputs", "stderr"] };
    let mut command = match launch.names {
        Some(names) => names.command(super::super::etcd_binary()),
        None => Command::new(super::super::etcd_binary()),
    };
    command
        .arg("--name")
        .arg(launch.name)
        .arg("--data-dir")
        .arg(launch.data_dir)
        .args(["--listen-client-urls", &listen_client, "--advertise-client-urls", &client])
        .args(["--listen-metrics-urls", &metrics])
        .args(["--listen-peer-urls", &listen_peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", launch.initial_cluster])
        .args(["--initial-cluster-state", launch.state])
        .args(["--initial-cluster-token", launch.token])
        .arg("--cert-file")
        .arg(&client_tls.server_cert)
        .arg("--key-file")
        .arg(&client_tls.server_key)
        .arg("--trusted-ca-file")
        .arg(&tls.ca)
        .arg("--client-cert-auth")
        .arg("--peer-cert-file")
        .arg(&tls.server_cert)
        .arg("--peer-key-file")
        .arg(&tls.server_key)
        .arg("--peer-trusted-ca-file")
        .arg(&tls.ca)
        .arg("--peer-client-cert-auth")
        .args(logger)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start etcd (is it installed?)")
}

/// Kills a process with SIGKILL and reaps it.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `etcdctl` (API v3) over TLS against `endpoints`.
pub fn etcdctl(tls: &TlsFiles, endpoints: &[String], args: &[&str]) -> Output {
    etcdctl_command(tls, endpoints, "5s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl (is it installed?)")
}

/// `etcdctl` (API v3) over TLS against `endpoints`, with this command timeout.
fn etcdctl_command(tls: &TlsFiles, endpoints: &[String], timeout: &str) -> Command {
    let mut command = Command::new("etcdctl");
    command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .arg("--cacert")
        .arg(&tls.ca)
        .arg("--cert")
        .arg(&tls.cert)
        .arg("--key")
        .arg(&tls.key)
        .arg("--dial-timeout=2s")
        .arg(format!("--command-timeout={timeout}"));
    command
}

/// `etcdctl` with `input` on its standard input (for `txn`).
pub fn etcdctl_with_input(tls: &TlsFiles, endpoints: &[String], args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = etcdctl_command(tls, endpoints, "10s")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run etcdctl (is it installed?)");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write to etcdctl");
    child.wait_with_output().expect("wait for etcdctl")
}

/// One member as `etcdctl member list -w simple` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty while the member has not started.
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// The member list, or why not.
pub fn member_list(tls: &TlsFiles, endpoints: &[String]) -> Result<Vec<Member>, String> {
    let out = etcdctl(tls, endpoints, &["member", "list", "-w", "simple"]);
    if !out.status.success() {
        return Err(format!("member list: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(", ").collect();
            let id = u64::from_str_radix(fields[0], 16).map_err(|e| format!("member ID in {line:?}: {e}"))?;
            let name = fields.get(2).copied().unwrap_or_default().to_owned();
            let peer_urls =
                fields.get(3).map(|u| u.split(',').map(str::to_owned).collect()).unwrap_or_default();
            Ok(Member { id, name, peer_urls })
        })
        .collect()
}

/// `member add <name> --peer-urls=<peer>`: the new ID and `ETCD_INITIAL_CLUSTER`.
pub fn member_add(
    tls: &TlsFiles,
    endpoints: &[String],
    name: &str,
    peer: &str,
) -> Result<(u64, String), String> {
    let out = etcdctl(tls, endpoints, &["member", "add", name, &format!("--peer-urls={peer}")]);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("member add {name}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let id = text
        .split_whitespace()
        .skip_while(|w| *w != "Member")
        .nth(1)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("member add {name}: no member ID in {text:?}"))?;
    let cluster = text
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .map(|v| v.trim_matches('"').to_owned())
        .ok_or_else(|| format!("member add {name}: no ETCD_INITIAL_CLUSTER in {text:?}"))?;
    Ok((id, cluster))
}

/// `member remove <id>` (hex).
pub fn member_remove(tls: &TlsFiles, endpoints: &[String], id: u64) -> Result<(), String> {
    let out = etcdctl(tls, endpoints, &["member", "remove", &format!("{id:x}")]);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("member remove {id:x}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Whether the member at `endpoint` answers `endpoint health` (it has a leader and
/// serves a linearizable read).
pub fn healthy(tls: &TlsFiles, endpoint: &str) -> bool {
    etcdctl(tls, &[endpoint.to_owned()], &["endpoint", "health"]).status.success()
}

/// Whether something accepts TCP connections on the port.
pub fn listening(address: Ipv4Addr, port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&(address, port).into(), Duration::from_millis(200)).is_ok()
}
