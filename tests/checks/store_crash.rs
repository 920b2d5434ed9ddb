//! A kill at any moment during a store write leaves the old or the new content.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etcd_warden::store::atomic::write_atomic;

const PATH_VAR: &str = "ETCD_WARDEN_CRASH_WRITER_PATH";

fn contents() -> (Vec<u8>, Vec<u8>) {
    (vec![b'a'; 1 << 20], vec![b'b'; 1 << 20])
}

/// Not a test on its own: the child process of the crash test, writing forever.
#[test]
#[ignore = "the child process of a_kill_at_any_moment_leaves_the_old_or_the_new_content"]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(PATH_VAR).map(PathBuf::from) else { return };
    let (a, b) = contents();
    loop {
        write_atomic(&path, &a).expect("write a");
        write_atomic(&path, &b).expect("write b");
    }
}

#[test]
fn a_kill_at_any_moment_leaves_the_old_or_the_new_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("status.json");
    let (a, b) = contents();
    let exe = std::env::current_exe().expect("test binary");
    // The child test's name in this binary: its module path without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, path)| path);
    let child_test = format!("{module}::crash_writer_child");
    for round in 0..15u32 {
        let mut child = Command::new(&exe)
            .args([child_test.as_str(), "--exact", "--ignored", "--nocapture"])
            .env(PATH_VAR, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        // Let the writer get through a varying number of writes before the kill.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut reads = 0;
        while reads < 3 + round * 7 {
            if std::fs::read(&path).is_ok() {
                reads += 1;
            }
            assert!(Instant::now() < deadline, "the writer never wrote");
        }
        child.kill().expect("kill the writer");
        child.wait().expect("reap the writer");
        let after = std::fs::read(&path).expect("file present after the kill");
        assert!(after == a || after == b, "round {round}: torn content of {} bytes", after.len());
    }
}
