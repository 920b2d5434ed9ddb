//! Snapshots through etcd's Maintenance Snapshot stream, written straight to a file.
//!
//! The stream is never held in memory: each chunk is hashed and written as it arrives.
//! etcd ends the stream with a 32-byte SHA-256 of everything before it; that hash is
//! checked on the fly (the last 32 bytes seen are held back from the content hash).
//! The revision is read from the saved file itself (`etcdctl snapshot status`), never
//! from a separate call that could disagree with the content.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::bbolt;
use super::tool::SnapshotTool;
use crate::etcd::{ClientTls, connect_options};

/// The length of etcd's trailing hash.
const TRAILER: usize = 32;

/// Why a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The member could not be reached or the stream broke.
    #[error("snapshot stream from {endpoint}: {source}")]
    Stream {
        /// The member's client URL.
        endpoint: String,
        /// The client error.
        source: etcd_client::Error,
    },
    /// The file could not be written or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// etcd's trailing hash does not match the content.
    #[error("snapshot {path} is corrupt: etcd's trailing SHA-256 does not match its content")]
    HashMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The revision could not be read from the file's bbolt tree, or disagrees with
    /// `etcdctl snapshot status`.
    #[error("snapshot {path}: {reason}")]
    Revision {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `etcdctl snapshot status` (`etcdutl` where etcd ships it) could not read the file.
    #[error("{tool} snapshot status {path}: {reason}")]
    Status {
        /// The tool that ran.
        tool: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// What a saved and verified snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotFacts {
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// The file's size.
    pub size_bytes: u64,
    /// The store revision inside the snapshot.
    pub revision: i64,
    /// The number of keys inside the snapshot (etcdctl's `totalKey`).
    pub total_keys: u64,
}

/// Hashes a stream while holding back its last 32 bytes: the content hash and the
/// trailer can then be compared at the end without buffering the stream. Each byte is
/// hashed once: the whole stream's hash is the content hash's state fed the trailer.
#[derive(Default)]
pub struct TrailerCheck {
    content: Sha256,
    tail: Vec<u8>,
    size: u64,
}

impl TrailerCheck {
    /// Feeds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if chunk.len() >= TRAILER {
            // Whatever was held back, and all but the chunk's last 32 bytes, are content.
            let (body, tail) = chunk.split_at(chunk.len() - TRAILER);
            self.content.update(&self.tail);
            self.content.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
            return;
        }
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > TRAILER {
            let spill = self.tail.len() - TRAILER;
            self.content.update(&self.tail[..spill]);
            self.tail.drain(..spill);
        }
    }

    /// Whether the trailer matched, the whole stream's SHA-256 (hex) and its size.
    pub fn finish(self) -> (bool, String, u64) {
        let whole = self.content.clone().chain_update(&self.tail).finalize();
        let ok = self.tail.len() == TRAILER && self.content.finalize().as_slice() == self.tail.as_slice();
        (ok, hex::encode(whole), self.size)
    }
}

/// Streams a snapshot of the member at `endpoint` into `dest`, checks etcd's trailing
/// hash and reads the revision from the file. A failed snapshot leaves no file.
///
/// # Errors
/// When the stream breaks, the file cannot be written, the hash does not match, or
/// `etcdctl` cannot read the result.
pub async fn save(
    endpoint: &str,
    tls: Option<&ClientTls>,
    dest: &Path,
    tool: &SnapshotTool,
) -> Result<SnapshotFacts, SnapshotError> {
    let result = stream_to(endpoint, tls, dest, tool).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

async fn stream_to(
    endpoint: &str,
    tls: Option<&ClientTls>,
    dest: &Path,
    tool: &SnapshotTool,
) -> Result<SnapshotFacts, SnapshotError> {
    let io = |action| {
        let path = dest.to_path_buf();
        move |source| SnapshotError::Io { action, path, source }
    };
    let stream_err = |source| SnapshotError::Stream { endpoint: endpoint.to_owned(), source };
    // No per-request timeout: the stream of a large database takes as long as it takes.
    let started = Instant::now();
    let options = connect_options(tls, None).with_connect_timeout(Duration::from_secs(3));
    let mut client = Client::connect([endpoint], Some(options)).await.map_err(stream_err)?;
    let mut stream = client.snapshot().await.map_err(stream_err)?;
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .await
        .map_err(io("create"))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut check = TrailerCheck::default();
    let connected = started.elapsed();
    while let Some(message) = stream.message().await.map_err(stream_err)? {
        check.update(message.blob());
        out.write_all(message.blob()).await.map_err(io("write"))?;
    }
    out.flush().await.map_err(io("flush"))?;
    let streamed = started.elapsed();
    let (ok, sha256, size_bytes) = check.finish();
    if !ok {
        return Err(SnapshotError::HashMismatch { path: dest.to_path_buf() });
    }
    // The fsync waits on the disk while etcdctl reads the file from the page cache.
    let file = out.into_inner();
    let ((synced, sync_at), (status, status_at), (walked, walk_at)) = tokio::join!(
        timed(started, file.sync_all()),
        timed(started, status(tool, dest)),
        timed(started, revision(dest))
    );
    synced.map_err(io("sync"))?;
    let (revision, total_keys) = status?;
    let walked = walked?;
    if walked != revision {
        let reason = format!("{} reads revision {revision}, the bbolt walk {walked}", tool.name());
        return Err(SnapshotError::Revision { path: dest.to_path_buf(), reason });
    }
    tracing::debug!(
        connect_ms = connected.as_millis(),
        stream_ms = (streamed - connected).as_millis(),
        sync_ms = (sync_at - streamed).as_millis(),
        status_ms = (status_at - streamed).as_millis(),
        walk_ms = (walk_at - streamed).as_millis(),
        "snapshot saved"
    );
    Ok(SnapshotFacts { sha256, size_bytes, revision, total_keys })
}

/// Awaits `work`, and says when it ended (since `started`).
async fn timed<T>(started: Instant, work: impl Future<Output = T>) -> (T, Duration) {
    let result = work.await;
    (result, started.elapsed())
}

/// Verifies a saved snapshot: its SHA-256 against `expected`, and etcd's trailer.
///
/// # Errors
/// When it cannot be read, or either hash does not match.
pub async fn verify_file(path: &Path, expected_sha256: &str) -> Result<(), SnapshotError> {
    use tokio::io::AsyncReadExt;
    let io = |action| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Io { action, path, source }
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io("open"))?;
    let mut check = TrailerCheck::default();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).await.map_err(io("read"))?;
        if n == 0 {
            break;
        }
        check.update(&buffer[..n]);
    }
    let (ok, sha256, _) = check.finish();
    if ok && sha256 == expected_sha256 {
        Ok(())
    } else {
        Err(SnapshotError::HashMismatch { path: path.to_path_buf() })
    }
}

/// The revision inside a saved snapshot, from a walk of its bbolt tree (a few small
/// reads, see [`super::bbolt`]).
///
/// # Errors
/// When the file cannot be read or is not an etcd database.
pub async fn revision(path: &Path) -> Result<i64, SnapshotError> {
    let owned = path.to_path_buf();
    let walked = tokio::task::spawn_blocking(move || bbolt::snapshot_revision(&owned)).await;
    let reason = |e: String| SnapshotError::Revision { path: path.to_path_buf(), reason: e };
    walked.map_err(|e| reason(e.to_string()))?.map_err(|e| reason(e.to_string()))
}

/// `etcdutl snapshot status FILE -w json` (`etcdctl` before etcd 3.5): the revision
/// and key count inside the file (a saved snapshot, or the database of a stopped
/// member).
///
/// # Errors
/// When the tool cannot run or cannot read the file.
pub async fn status(tool: &SnapshotTool, path: &Path) -> Result<(i64, u64), SnapshotError> {
    let failed =
        |reason: String| SnapshotError::Status { tool: tool.name(), path: path.to_path_buf(), reason };
    let output = tool
        .snapshot("status")
        .args(["-w", "json"])
        .arg(path)
        .output()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).trim().to_owned()));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        revision: i64,
        total_key: u64,
    }
    let parsed: Status = serde_json::from_slice(&output.stdout).map_err(|e| failed(e.to_string()))?;
    Ok((parsed.revision, parsed.total_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_trailer(content: &[u8]) -> Vec<u8> {
        let mut out = content.to_vec();
        out.extend_from_slice(&Sha256::digest(content));
        out
    }

    #[test]
    fn the_trailer_check_holds_for_any_chunking_and_fails_on_a_flipped_byte() {
        let stream = with_trailer(&(0..10_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        for chunk in [1, 7, 31, 32, 33, 4096, stream.len()] {
            let mut check = TrailerCheck::default();
            stream.chunks(chunk).for_each(|c| check.update(c));
            let (ok, sha, size) = check.finish();
            assert!(ok, "chunk size {chunk}");
            assert_eq!(sha, hex::encode(Sha256::digest(&stream)));
            assert_eq!(size, stream.len() as u64);
        }
        for position in [0, 5000, stream.len() - 1] {
            let mut bad = stream.clone();
            bad[position] ^= 0x01;
            let mut check = TrailerCheck::default();
            check.update(&bad);
            assert!(!check.finish().0, "flipped byte at {position} not detected");
        }
        let mut short = TrailerCheck::default();
        short.update(&[1, 2, 3]);
        assert!(!short.finish().0, "a stream shorter than the trailer is not valid");
    }
}
