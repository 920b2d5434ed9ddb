//! A survivor's WAL tail, made to count as committed before `--force-new-cluster`.
//!
//! `--force-new-cluster` keeps only the WAL entries up to the commit index the member
//! last persisted, and a member learns the commit index one heartbeat after the entry:
//! the last acknowledged writes can sit past it. With one survivor, every entry past
//! its persisted commit index was either committed (and maybe acknowledged) or is still
//! open (its client got no answer or an error); applying either is allowed, and no other
//! member holds a newer copy. So, on a scratch copy of the survivor's data (never on
//! the original), [`commit_tail`] appends one more hard state whose commit index is the
//! last entry's, keeping the WAL's CRC chain, and etcd then replays the whole tail.
//!
//! The format, read from etcd's source (`server/storage/wal`: `encoder.go`,
//! `decoder.go`, `wal.go`, `walpb/record.proto`; `raftpb/raft.proto`), written here
//! anew (the messages with `prost`, the CRC with `crc32c`):
//! - a WAL directory holds segment files `<seq>-<index>.wal` (16 hex digits each), read
//!   in name order, each preallocated and zero-filled past its last record;
//! - a frame is an 8-byte little-endian length whose low 56 bits give the record's size;
//!   when the record is padded to 8 bytes, the top byte is `0x80 | padding`;
//! - a record is `walpb.Record {type = 1, crc = 2, data = 3}`: 1 metadata, 2 entry,
//!   3 hard state, 4 CRC (a segment's first record: the CRC so far), 5 snapshot;
//! - the CRC is CRC-32C, chained over every record's data but the CRC records';
//! - an entry is `raftpb.Entry {Type = 1, Term = 2, Index = 3, Data = 4}`, a hard state
//!   `raftpb.HardState {term = 1, vote = 2, commit = 3}`;
//! - a length of 0 ends a segment; a record cut short, or whose CRC fails where a disk
//!   sector of it is all zeros, is a torn write: the WAL ends at the last valid record
//!   (as etcd's repair does). A CRC that fails anywhere else is corruption: refused.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use crate::model::backup::WalTail;

/// A record's type (`wal.go`).
const ENTRY: i64 = 2;
const STATE: i64 = 3;
const CRC: i64 = 4;
/// etcd's smallest disk sector: a torn write leaves whole sectors of zeros.
const SECTOR: u64 = 512;

/// Why a WAL could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The WAL is corrupt short of its tail (a CRC that fails on a whole record, a
    /// record that is not a protobuf): etcd refuses it too.
    #[error("the WAL in {path} is corrupt at byte {offset}: {why}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where in it.
        offset: u64,
        /// What is wrong there.
        why: String,
    },
    /// No segment file, or no hard state: nothing to commit.
    #[error("{0}")]
    Empty(String),
}

/// What a scan of the WAL found.
struct Scan {
    /// The last segment file, and the byte after its last valid record.
    last_file: PathBuf,
    end: u64,
    /// The CRC chained up to the last valid record.
    crc: u32,
    /// The last hard state: term, vote, commit.
    state: Option<(u64, u64, u64)>,
    /// The last entry's index and term (a later entry of a lower index replaces the
    /// ones after it: a new leader's log).
    last: Option<(u64, u64)>,
    torn: bool,
}

/// Makes every entry of the WAL in `data_dir/member/wal` count as committed: appends a
/// hard state whose commit index is the last entry's (its term the higher of the last
/// hard state's and the last entry's; its vote kept when the term is). Only ever on a
/// scratch copy. Nothing is written when no entry lies past the commit index.
///
/// # Errors
/// When the WAL cannot be read, is corrupt short of its tail, or holds no hard state.
pub fn commit_tail(data_dir: &Path) -> Result<WalTail, WalError> {
    let dir = data_dir.join("member").join("wal");
    let scan = scan(&dir)?;
    let (term, vote, committed) = scan
        .state
        .ok_or_else(|| WalError::Empty(format!("the WAL in {} holds no hard state", dir.display())))?;
    let (last_index, last_term) = scan.last.unwrap_or((committed, term));
    let mut tail = WalTail { committed, last_index, entries: 0, replayed: 0, torn: scan.torn };
    if last_index <= committed {
        return Ok(tail);
    }
    tail.entries = last_index - committed;
    let new_term = term.max(last_term);
    let new_vote = if new_term == term { vote } else { 0 };
    let state = hard_state(new_term, new_vote, last_index);
    let crc = crc32c::crc32c_append(scan.crc, &state);
    let mut frame = record(STATE, crc, &state);
    let (length, padding) = frame_size(frame.len());
    frame.resize(frame.len() + padding, 0);
    let io = |what| {
        let path = scan.last_file.clone();
        move |source| WalError::Io { what, path, source }
    };
    let mut file = OpenOptions::new().read(true).write(true).open(&scan.last_file).map_err(io("open"))?;
    let file_len = file.metadata().map_err(io("read the size of"))?.len();
    file.seek(SeekFrom::Start(scan.end)).map_err(io("seek in"))?;
    file.write_all(&length.to_le_bytes()).map_err(io("write"))?;
    file.write_all(&frame).map_err(io("write"))?;
    // Whatever a torn write left after the new record is zeroed, so that the next
    // frame reads as the end of the segment.
    let written = scan.end + 8 + frame.len() as u64;
    let zeros = vec![0u8; 64 * 1024];
    let mut at = written;
    while at < file_len {
        let n = usize::try_from((file_len - at).min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n]).map_err(io("zero"))?;
        at += n as u64;
    }
    file.sync_all().map_err(io("sync"))?;
    tail.replayed = tail.entries;
    Ok(tail)
}

/// Reads every segment in order, checking the CRC chain.
fn scan(dir: &Path) -> Result<Scan, WalError> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| WalError::Io { what, path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("list", dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    let Some(last_file) = files.last().cloned() else {
        return Err(WalError::Empty(format!("no WAL segment in {}", dir.display())));
    };
    let mut scan = Scan { last_file, end: 0, crc: 0, state: None, last: None, torn: false };
    let count = files.len();
    for (i, path) in files.iter().enumerate() {
        let mut bytes = Vec::new();
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io("read", path))?;
        let is_last = i + 1 == count;
        let mut offset = 0u64;
        loop {
            match next(&bytes, offset) {
                Frame::End => break,
                Frame::Cut if is_last => {
                    scan.torn = true;
                    break;
                }
                Frame::Cut => {
                    return Err(corrupt(path, offset, "a record is cut short before the last segment"));
                }
                Frame::Record { record, next_offset, padded } => {
                    if record.kind == CRC {
                        if scan.crc != 0 && record.crc != scan.crc {
                            return Err(corrupt(path, offset, "the CRC chain breaks between segments"));
                        }
                        scan.crc = record.crc;
                    } else {
                        let crc = crc32c::crc32c_append(scan.crc, &record.data);
                        if crc != record.crc {
                            if is_last && torn_sector(&padded, offset + 8) {
                                scan.torn = true;
                                break;
                            }
                            return Err(corrupt(path, offset, "a record's CRC does not match"));
                        }
                        scan.crc = crc;
                        match record.kind {
                            ENTRY => {
                                let (index, term) = entry(&record.data)
                                    .ok_or_else(|| corrupt(path, offset, "an entry that cannot be read"))?;
                                scan.last = Some((index, term));
                            }
                            STATE => {
                                let state = state(&record.data).ok_or_else(|| {
                                    corrupt(path, offset, "a hard state that cannot be read")
                                })?;
                                scan.state = Some(state);
                            }
                            _ => {}
                        }
                    }
                    offset = next_offset;
                }
                Frame::Garbage(why) => return Err(corrupt(path, offset, &why)),
            }
        }
        if is_last {
            scan.end = offset;
        }
    }
    Ok(scan)
}

fn corrupt(path: &Path, offset: u64, why: &str) -> WalError {
    WalError::Corrupt { path: path.to_owned(), offset, why: why.to_owned() }
}

/// What the bytes at `offset` hold.
enum Frame {
    /// A zero length or the end of the file: the segment ends.
    End,
    /// A frame that runs past the end of the file.
    Cut,
    /// A record that is not a `walpb.Record` (and the reason).
    Garbage(String),
    /// A record, the offset after it, and its bytes with their padding.
    Record { record: Record, next_offset: u64, padded: Vec<u8> },
}

fn next(bytes: &[u8], offset: u64) -> Frame {
    let Ok(at) = usize::try_from(offset) else { return Frame::End };
    let Some(head) = bytes.get(at..at + 8) else { return Frame::End };
    let field = u64::from_le_bytes(head.try_into().unwrap_or([0; 8]));
    if field == 0 {
        return Frame::End;
    }
    let size = field & !(0xff << 56);
    let padding = if field >> 63 == 1 { (field >> 56) & 0x7 } else { 0 };
    let start = at + 8;
    let Some(end) = usize::try_from(size + padding).ok().and_then(|n| start.checked_add(n)) else {
        return Frame::Cut;
    };
    let Some(padded) = bytes.get(start..end) else { return Frame::Cut };
    let data_end = padded.len() - usize::try_from(padding).unwrap_or(0);
    match parse_record(&padded[..data_end]) {
        Some(record) => Frame::Record { record, next_offset: end as u64, padded: padded.to_vec() },
        None if torn_sector(padded, offset + 8) => Frame::Cut,
        None => Frame::Garbage("a record that is not a walpb.Record".to_owned()),
    }
}

/// Whether a record's bytes, at file offset `at`, hold a disk sector of zeros: the
/// mark of a write torn by a crash (`decoder.go`, `isTornEntry`).
fn torn_sector(data: &[u8], at: u64) -> bool {
    let mut offset = at;
    let mut rest = data;
    while !rest.is_empty() {
        let chunk = usize::try_from(SECTOR - offset % SECTOR).unwrap_or(rest.len()).min(rest.len());
        if rest[..chunk].iter().all(|b| *b == 0) {
            return true;
        }
        rest = &rest[chunk..];
        offset += chunk as u64;
    }
    false
}

/// The frame's length field and padding for a record of `len` bytes.
fn frame_size(len: usize) -> (u64, usize) {
    let padding = (8 - len % 8) % 8;
    let mut field = len as u64;
    if padding != 0 {
        field |= (0x80 | padding as u64) << 56;
    }
    (field, padding)
}

/// `walpb.Record` (`walpb/record.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct Record {
    #[prost(int64, tag = "1")]
    kind: i64,
    #[prost(uint32, tag = "2")]
    crc: u32,
    #[prost(bytes = "vec", tag = "3")]
    data: Vec<u8>,
}

/// `raftpb.Entry` (`raftpb/raft.proto`): only what the tail needs.
#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(uint64, tag = "2")]
    term: u64,
    #[prost(uint64, tag = "3")]
    index: u64,
}

/// `raftpb.HardState` (`raftpb/raft.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct HardState {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    vote: u64,
    #[prost(uint64, tag = "3")]
    commit: u64,
}

/// A record's bytes.
fn record(kind: i64, crc: u32, data: &[u8]) -> Vec<u8> {
    prost::Message::encode_to_vec(&Record { kind, crc, data: data.to_vec() })
}

/// A hard state's bytes.
fn hard_state(term: u64, vote: u64, commit: u64) -> Vec<u8> {
    prost::Message::encode_to_vec(&HardState { term, vote, commit })
}

/// A record, if the bytes are one (a type is always set).
fn parse_record(bytes: &[u8]) -> Option<Record> {
    <Record as prost::Message>::decode(bytes).ok().filter(|r| r.kind != 0)
}

/// An entry's index and term.
fn entry(bytes: &[u8]) -> Option<(u64, u64)> {
    <Entry as prost::Message>::decode(bytes).ok().map(|e| (e.index, e.term))
}

/// A hard state's term, vote and commit index.
fn state(bytes: &[u8]) -> Option<(u64, u64, u64)> {
    <HardState as prost::Message>::decode(bytes).ok().map(|h| (h.term, h.vote, h.commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL segment as etcd writes one: a CRC record, then `records`, each chained.
    fn segment(records: &[(i64, Vec<u8>)], prev: u32, size: usize) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let mut crc = prev;
        let push = |kind: i64, crc: u32, data: &[u8], out: &mut Vec<u8>| {
            let mut body = record(kind, crc, data);
            let (field, padding) = frame_size(body.len());
            body.resize(body.len() + padding, 0);
            out.extend_from_slice(&field.to_le_bytes());
            out.extend_from_slice(&body);
        };
        push(CRC, prev, &[], &mut out);
        for (kind, data) in records {
            crc = crc32c::crc32c_append(crc, data);
            push(*kind, crc, data, &mut out);
        }
        out.resize(size.max(out.len()), 0);
        (out, crc)
    }

    /// `raftpb.Entry {Type, Term, Index, Data}`, as etcd writes it.
    fn entry_bytes(term: u64, index: u64, data: &[u8]) -> Vec<u8> {
        #[derive(Clone, PartialEq, prost::Message)]
        struct FullEntry {
            #[prost(int32, tag = "1")]
            kind: i32,
            #[prost(uint64, tag = "2")]
            term: u64,
            #[prost(uint64, tag = "3")]
            index: u64,
            #[prost(bytes = "vec", tag = "4")]
            data: Vec<u8>,
        }
        prost::Message::encode_to_vec(&FullEntry { kind: 0, term, index, data: data.to_vec() })
    }

    fn write_wal(dir: &Path, segments: &[Vec<u8>]) {
        let wal = dir.join("member").join("wal");
        std::fs::create_dir_all(&wal).expect("wal dir");
        for (i, bytes) in segments.iter().enumerate() {
            std::fs::write(wal.join(format!("{i:016x}-{:016x}.wal", i * 10)), bytes).expect("segment");
        }
    }

    #[test]
    fn the_tail_past_the_commit_index_is_committed_and_the_chain_holds() {
        let dir = tempfile::tempdir().expect("dir");
        let (first, crc) = segment(
            &[(1, b"meta".to_vec()), (ENTRY, entry_bytes(2, 1, b"a")), (STATE, hard_state(2, 7, 1))],
            0,
            0,
        );
        let (second, _) = segment(
            &[
                (ENTRY, entry_bytes(2, 2, b"b")),
                (ENTRY, entry_bytes(2, 3, b"c")),
                (STATE, hard_state(2, 7, 1)),
            ],
            crc,
            4096,
        );
        write_wal(dir.path(), &[first, second]);
        let tail = commit_tail(dir.path()).expect("committed");
        assert_eq!(tail, WalTail { committed: 1, last_index: 3, entries: 2, replayed: 2, torn: false });
        // Read back: the chain still holds, and the last hard state commits entry 3.
        let again = scan(&dir.path().join("member/wal")).expect("a valid WAL");
        assert_eq!((again.state, again.last, again.torn), (Some((2, 7, 3)), Some((3, 2)), false));
        assert_eq!(commit_tail(dir.path()).expect("nothing left").entries, 0, "idempotent");
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_a_corrupt_one_elsewhere_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut bytes, _) = segment(
            &[
                (ENTRY, entry_bytes(3, 5, b"x")),
                (STATE, hard_state(3, 1, 4)),
                (ENTRY, entry_bytes(3, 6, &[9; 600])),
            ],
            0,
            8192,
        );
        // The last record's second sector never reached the disk.
        let end = bytes.iter().rposition(|b| *b != 0).expect("data");
        let sector = (end / 512) * 512;
        bytes[sector..=end].iter_mut().for_each(|b| *b = 0);
        write_wal(dir.path(), &[bytes.clone()]);
        let tail = commit_tail(dir.path()).expect("the valid part");
        assert_eq!((tail.committed, tail.last_index, tail.torn), (4, 5, true), "{tail:?}");
        assert_eq!(tail.replayed, 1);
        let again = scan(&dir.path().join("member/wal")).expect("valid after the cut");
        assert_eq!((again.state, again.torn), (Some((3, 1, 5)), false));
        // A flipped byte in a record that is not the last: corruption, refused.
        let other = tempfile::tempdir().expect("dir");
        let (mut bytes, _) =
            segment(&[(ENTRY, entry_bytes(3, 5, b"xyz")), (STATE, hard_state(3, 1, 4))], 0, 4096);
        let at = bytes.windows(3).position(|w| w == b"xyz").expect("the entry's data");
        bytes[at] ^= 0xff;
        write_wal(other.path(), &[bytes.clone(), segment(&[], 0, 0).0]);
        assert!(matches!(commit_tail(other.path()), Err(WalError::Corrupt { .. })));
    }

    #[test]
    fn a_later_entry_of_a_lower_index_replaces_the_tail_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (bytes, _) = segment(
            &[
                (STATE, hard_state(4, 2, 2)),
                (ENTRY, entry_bytes(4, 3, b"old")),
                (ENTRY, entry_bytes(4, 4, b"old")),
                (ENTRY, entry_bytes(5, 3, b"new")),
            ],
            0,
            1024,
        );
        write_wal(dir.path(), &[bytes]);
        let tail = commit_tail(dir.path()).expect("committed");
        assert_eq!((tail.last_index, tail.entries), (3, 1));
        let again = scan(&dir.path().join("member/wal")).expect("valid");
        assert_eq!(again.state, Some((5, 0, 3)), "the entry's higher term, and no vote in it");
    }
}
