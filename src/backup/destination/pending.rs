//! A private file that appears at its final path only when complete: written under a
//! temporary dot name in the same directory (mode 0600), fsynced, then renamed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes temporary names unique within this process (the pid makes them unique across
/// processes).
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A file being written for `target`; removed on drop unless committed.
#[derive(Debug)]
pub(super) struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Creates the temporary file beside `target`, mode 0600.
    pub(super) fn create(target: &Path) -> io::Result<(Self, File)> {
        let dir = parent(target)?;
        let name = target.file_name().ok_or_else(|| io::Error::other("a path without a file name"))?;
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id()));
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        Ok((Self { temp, target: target.to_path_buf(), committed: false }, file))
    }

    /// The temporary path, for error messages.
    pub(super) fn temp(&self) -> &Path {
        &self.temp
    }

    /// Renames the temporary file over the target and fsyncs the directory. The caller
    /// has fsynced the file itself.
    pub(super) fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        sync_dir(parent(&self.target)?)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The directory of `path`; `.` for a bare file name.
fn parent(path: &Path) -> io::Result<&Path> {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(dir) => Ok(dir),
        None => Err(io::Error::other("a path without a directory")),
    }
}

/// Makes a rename or removal in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_committed_file_is_private_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("a.db");
        let (pending, mut file) = PendingFile::create(&target).expect("create");
        file.write_all(b"data").expect("write");
        file.sync_all().expect("sync");
        pending.commit().expect("commit");
        assert_eq!(fs::read(&target).expect("read"), b"data");
        assert_eq!(fs::metadata(&target).expect("meta").permissions().mode() & 0o777, 0o600);

        let (pending, _file) = PendingFile::create(&dir.path().join("b.db")).expect("create");
        drop(pending);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.db".to_owned()]);
    }
}
