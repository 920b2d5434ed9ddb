//! Host names that resolve only as a test says, as DC/OS's autoip names
//! (`etcd-0-peer.<service>.autoip.dcos.thisdcos.directory`) resolve only while their task
//! runs. The names live in a hosts file of the test's own. The processes that must
//! resolve them (the daemon, the fake's etcd members) start in a mount namespace of
//! their own, where that file is bind-mounted over `/etc/hosts` and an `nsswitch.conf`
//! that asks no DNS over `/etc/nsswitch.conf`: a name the file does not list fails at
//! once, as an autoip name of a task that is not running does. Nothing on the machine
//! changes, and the test process itself resolves as the machine does.
//!
//! `unshare` and `mount` (util-linux and mount, on every Debian) as root, or with a
//! user namespace of its own elsewhere.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hosts file the processes started by [`Names::command`] resolve with.
#[derive(Debug, Clone)]
pub struct Names {
    hosts: PathBuf,
    nsswitch: PathBuf,
}

/// What the hosts file always holds.
const LOOPBACK: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";

impl Names {
    /// A hosts file under `dir` naming only loopback.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("create the names directory");
        let names = Self { hosts: dir.join("hosts"), nsswitch: dir.join("nsswitch.conf") };
        std::fs::write(&names.hosts, LOOPBACK).expect("write the hosts file");
        std::fs::write(&names.nsswitch, "passwd: files\ngroup: files\nhosts: files\n")
            .expect("write nsswitch.conf");
        names
    }

    /// Makes exactly these names resolve (each to its address). The file is rewritten
    /// in place, never replaced: a bind mount holds its inode.
    pub fn set(&self, entries: &[(String, Ipv4Addr)]) {
        let mut text = LOOPBACK.to_owned();
        for (name, address) in entries {
            text.push_str(&format!("{address} {name}\n"));
        }
        if std::fs::read_to_string(&self.hosts).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&self.hosts, text).expect("rewrite the hosts file");
        }
    }

    /// The names that resolve now.
    pub fn listed(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.hosts).expect("read the hosts file");
        text.lines()
            .skip(LOOPBACK.lines().count())
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
            .collect()
    }

    /// `program`, started in a mount namespace that resolves with this file. Its pid is
    /// the program's own (`unshare` and `sh` exec it), so it is killed as any child.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("unshare");
        if !rustix::process::geteuid().is_root() {
            command.arg("--map-root-user");
        }
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@""#)
            .arg("sh")
            .arg(&self.hosts)
            .arg(&self.nsswitch)
            .arg(program);
        command
    }
}
