//! The tool that reads and restores snapshot files offline, taken from the etcd the
//! cluster runs: `etcdutl` where that etcd ships it (3.5 on: etcdctl's `snapshot
//! status` and `snapshot restore` are deprecated in 3.5 and gone in 3.6), else the
//! `etcdctl` beside it (3.3 and 3.4). Both take the same arguments for these two.
//!
//! Looked up at each use, so that an etcd upgraded under a running daemon is followed.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::manifest::DesiredCluster;

/// The first etcd version whose etcdctl no longer reads snapshot files.
const ETCDUTL_FROM: (u32, u32) = (3, 6);

/// Which of the two programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    /// `etcdctl` (etcd 3.3 and 3.4; 3.5 where no etcdutl ships beside it).
    Etcdctl,
    /// `etcdutl` (etcd 3.5 and later).
    Etcdutl,
}

impl ToolKind {
    /// The kind for the etcdctl that printed `version` (`etcdctl version: 3.4.23`): an
    /// unreadable version keeps etcdctl, which then says what it cannot do.
    pub fn for_etcdctl_version(version: &str) -> Self {
        let number = version.lines().find_map(|l| l.trim().strip_prefix("etcdctl version:"));
        match number.and_then(crate::model::etcd::major_minor) {
            Some(v) if v >= ETCDUTL_FROM => Self::Etcdutl,
            _ => Self::Etcdctl,
        }
    }

    /// The program's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Etcdctl => "etcdctl",
            Self::Etcdutl => "etcdutl",
        }
    }
}

/// The offline snapshot tool: which program, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTool {
    /// etcdctl or etcdutl.
    pub kind: ToolKind,
    /// The program: a path beside etcd, or a bare name looked up on `PATH`.
    pub program: PathBuf,
}

impl SnapshotTool {
    /// The tool for the etcd of `desired`'s cluster (see [`SnapshotTool::beside`]).
    pub async fn for_cluster(desired: &DesiredCluster) -> Self {
        Self::beside(&desired.platform.controller_etcd()).await
    }

    /// The tool shipped with `etcd` (a path, or a bare name looked up on `PATH`):
    /// `etcdutl` beside it, else `etcdctl` beside it. When neither is there, the
    /// `etcdctl` on `PATH`, or `etcdutl` when that etcdctl is 3.6 or later.
    pub async fn beside(etcd: &Path) -> Self {
        if let Some(dir) = located(etcd).as_deref().and_then(Path::parent) {
            for kind in [ToolKind::Etcdutl, ToolKind::Etcdctl] {
                let program = dir.join(kind.name());
                if is_program(&program) {
                    return Self { kind, program };
                }
            }
        }
        Self::on_path().await
    }

    /// The tool of the `etcdctl` on `PATH`, by its version; without a runnable
    /// etcdctl, `etcdutl`.
    async fn on_path() -> Self {
        let output = tokio::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        let kind = match output {
            Ok(output) if output.status.success() => {
                ToolKind::for_etcdctl_version(&String::from_utf8_lossy(&output.stdout))
            }
            _ => ToolKind::Etcdutl,
        };
        Self { kind, program: PathBuf::from(kind.name()) }
    }

    /// The program's name, for messages.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// `<tool> snapshot <subcommand>`, ready for its arguments.
    pub fn snapshot(&self, subcommand: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        if self.kind == ToolKind::Etcdctl {
            command.env("ETCDCTL_API", "3");
        }
        command.args(["snapshot", subcommand]).stdin(Stdio::null()).kill_on_drop(true);
        command
    }
}

/// Where `program` is: itself when it names a directory, else the first file of that
/// name on `PATH`.
fn located(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_program(p))
}

fn is_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcdutl_is_used_from_etcd_3_6_on_and_etcdctl_before() {
        let cases = [
            ("etcdctl version: 3.3.11\nAPI version: 3.3\n", ToolKind::Etcdctl),
            ("etcdctl version: 3.4.23\nAPI version: 3.4\n", ToolKind::Etcdctl),
            ("etcdctl version: 3.5.17\nAPI version: 3.5\n", ToolKind::Etcdctl),
            ("etcdctl version: 3.6.0\nAPI version: 3.6\n", ToolKind::Etcdutl),
            ("etcdctl version: 3.10.1\n", ToolKind::Etcdutl),
            ("etcdctl version: 4.0.0\n", ToolKind::Etcdutl),
            ("garbage", ToolKind::Etcdctl),
            ("etcdctl version: 3.x\n", ToolKind::Etcdctl),
            ("", ToolKind::Etcdctl),
        ];
        for (version, tool) in cases {
            assert_eq!(ToolKind::for_etcdctl_version(version), tool, "{version:?}");
        }
    }

    fn program(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[tokio::test]
    async fn the_tool_beside_etcd_wins_etcdutl_before_etcdctl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let etcd = dir.path().join("etcd");
        program(&etcd);
        program(&dir.path().join("etcdctl"));
        let tool = SnapshotTool::beside(&etcd).await;
        assert_eq!(tool, SnapshotTool { kind: ToolKind::Etcdctl, program: dir.path().join("etcdctl") });
        program(&dir.path().join("etcdutl"));
        let tool = SnapshotTool::beside(&etcd).await;
        assert_eq!(tool, SnapshotTool { kind: ToolKind::Etcdutl, program: dir.path().join("etcdutl") });
        // A file that cannot run is not a tool.
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).expect("mkdir");
        std::fs::write(plain.join("etcdutl"), "").expect("write");
        let tool = SnapshotTool::beside(&plain.join("etcd")).await;
        assert_ne!(tool.program, plain.join("etcdutl"));
    }
}
