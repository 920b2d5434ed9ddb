//! The store revision inside a saved snapshot, read from its bbolt file without
//! reading the whole file.
//!
//! An etcd snapshot is a bbolt database (followed by etcd's 32-byte SHA-256). etcd keeps
//! every revision of every key in the `key` bucket, keyed by the 8-byte big-endian main
//! revision, `_`, the 8-byte big-endian sub revision (and `t` for a deletion). The
//! highest key of that bucket is the snapshot's revision, exactly as `etcdctl snapshot
//! status` reports it (the main revision of the last key it walks in that bucket; 0 for
//! an empty bucket). This module walks from the newest valid meta page through the
//! root bucket to `key`, then down the rightmost branch to the last leaf element: a few
//! small reads, whatever the size of the file.
//!
//! It reads and checks only what it walks (the meta page's magic, version and FNV-1a
//! checksum, page types, bounds): it is no integrity check of the whole file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: u64 = 16;
const ELEMENT: u64 = 16;
/// The bytes of a meta page covered by its checksum (everything before it).
const META_SUMMED: usize = 56;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// A bucket header: its root page id and its sequence.
const BUCKET_HEADER: usize = 16;
/// Deeper than any real tree: a guard against loops in a corrupt file.
const MAX_DEPTH: usize = 64;
/// The largest read of the walk: an element array (at most 65535 elements of 16
/// bytes), a key (bbolt's limit is 32 KiB) or an inline bucket (less than a page).
const MAX_READ: u32 = 2 << 20;

/// Why the revision could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BboltError {
    /// The file could not be read.
    #[error("read: {0}")]
    Io(#[from] io::Error),
    /// The file is not a bbolt database or its structure is broken.
    #[error("not a valid bbolt database: {0}")]
    Invalid(&'static str),
}

/// The main revision of the highest key in the `key` bucket of the bbolt file at
/// `path`; 0 when the bucket is empty.
///
/// # Errors
/// When the file cannot be read, is not a bbolt database, has no `key` bucket, or
/// holds a key that is not an etcd revision.
pub fn snapshot_revision(path: &Path) -> Result<i64, BboltError> {
    let db = Db::open(path)?;
    let root = db.newest_root()?;
    let bucket = db.find(Node::Page(root), b"key", 0)?.ok_or(BboltError::Invalid("no key bucket"))?;
    let Some(key) = db.last_key(bucket, 0)? else { return Ok(0) };
    if key.len() < 17 || key[8] != b'_' {
        return Err(BboltError::Invalid("a key of the key bucket is not a revision"));
    }
    let mut main = [0u8; 8];
    main.copy_from_slice(&key[..8]);
    i64::try_from(u64::from_be_bytes(main)).map_err(|_| BboltError::Invalid("a revision out of range"))
}

struct Db {
    file: File,
    len: u64,
    page_size: u64,
}

/// A tree node: a page of the file, or the page of an inline bucket (its bytes).
enum Node {
    Page(u64),
    Inline(Vec<u8>),
}

/// One element of a branch or leaf page, with the page offsets of its key and value.
struct Element {
    flags: u32,
    key: (u64, u32),
    value: (u64, u32),
    child: u64,
}

impl Db {
    fn open(path: &Path) -> Result<Self, BboltError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut db = Self { file, len, page_size: 4096 };
        if let Some(meta) = db.meta(0)? {
            db.page_size = u64::from(meta.page_size);
        }
        if db.page_size < 512 || !db.page_size.is_power_of_two() {
            return Err(BboltError::Invalid("page size"));
        }
        Ok(db)
    }

    /// The root bucket's page of the valid meta page with the highest transaction id.
    fn newest_root(&self) -> Result<u64, BboltError> {
        let metas = [self.meta(0)?, self.meta(self.page_size)?];
        let newest =
            metas.iter().flatten().max_by_key(|m| m.txid).ok_or(BboltError::Invalid("no valid meta page"))?;
        if newest.root == 0 || newest.root >= newest.high_water {
            return Err(BboltError::Invalid("root bucket page"));
        }
        Ok(newest.root)
    }

    /// The meta page at `offset`, when it is valid.
    fn meta(&self, offset: u64) -> Result<Option<Meta>, BboltError> {
        let Some(bytes) = self.read(offset + PAGE_HEADER, META_SUMMED as u64 + 8)? else { return Ok(None) };
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let valid =
            u32_at(0) == MAGIC && u32_at(4) == VERSION && fnv1a(&bytes[..META_SUMMED]) == u64_at(META_SUMMED);
        Ok(valid.then(|| Meta {
            page_size: u32_at(8),
            root: u64_at(16),
            high_water: u64_at(40),
            txid: u64_at(48),
        }))
    }

    /// Finds `name` in the root bucket's tree and returns its bucket's root node.
    fn find(&self, node: Node, name: &[u8], depth: usize) -> Result<Option<Node>, BboltError> {
        let (flags, elements) = self.elements(&node, depth)?;
        if flags & BRANCH_PAGE != 0 {
            let mut child = None;
            for e in &elements {
                if child.is_some() && self.bytes(&node, e.key)?.as_slice() > name {
                    break;
                }
                child = Some(e.child);
            }
            let child = child.ok_or(BboltError::Invalid("an empty branch page"))?;
            return self.find(Node::Page(child), name, depth + 1);
        }
        for e in &elements {
            if e.flags & BUCKET_LEAF != 0 && self.bytes(&node, e.key)? == name {
                let value = self.bytes(&node, e.value)?;
                if value.len() < BUCKET_HEADER {
                    return Err(BboltError::Invalid("a bucket header"));
                }
                let mut root = [0u8; 8];
                root.copy_from_slice(&value[..8]);
                return Ok(Some(match u64::from_le_bytes(root) {
                    0 => Node::Inline(value[BUCKET_HEADER..].to_vec()),
                    page => Node::Page(page),
                }));
            }
        }
        Ok(None)
    }

    /// The last key under `node`, following the rightmost child of each branch.
    fn last_key(&self, node: Node, depth: usize) -> Result<Option<Vec<u8>>, BboltError> {
        let (flags, elements) = self.elements(&node, depth)?;
        let Some(last) = elements.last() else {
            return if flags & BRANCH_PAGE != 0 {
                Err(BboltError::Invalid("an empty branch page"))
            } else {
                Ok(None)
            };
        };
        if flags & BRANCH_PAGE != 0 {
            return self.last_key(Node::Page(last.child), depth + 1);
        }
        self.bytes(&node, last.key).map(Some)
    }

    /// The flags and elements of a branch or leaf node.
    fn elements(&self, node: &Node, depth: usize) -> Result<(u16, Vec<Element>), BboltError> {
        if depth > MAX_DEPTH {
            return Err(BboltError::Invalid("a tree deeper than any real one"));
        }
        let header = self.bytes(node, (0, PAGE_HEADER as u32))?;
        if let Node::Page(id) = node {
            let mut stored = [0u8; 8];
            stored.copy_from_slice(&header[..8]);
            if u64::from_le_bytes(stored) != *id {
                return Err(BboltError::Invalid("a page with another page's id"));
            }
        }
        let flags = u16::from_le_bytes([header[8], header[9]]);
        let count = u64::from(u16::from_le_bytes([header[10], header[11]]));
        if flags & (BRANCH_PAGE | LEAF_PAGE) == 0 {
            return Err(BboltError::Invalid("a page that is neither a branch nor a leaf"));
        }
        let raw = self.bytes(node, (PAGE_HEADER, u32::try_from(count * ELEMENT).unwrap_or(u32::MAX)))?;
        let elements = raw
            .chunks_exact(ELEMENT as usize)
            .enumerate()
            .map(|(i, e)| {
                let at = PAGE_HEADER + i as u64 * ELEMENT;
                let word = |j: usize| u32::from_le_bytes([e[j], e[j + 1], e[j + 2], e[j + 3]]);
                if flags & BRANCH_PAGE != 0 {
                    let mut child = [0u8; 8];
                    child.copy_from_slice(&e[8..16]);
                    let key = (at + u64::from(word(0)), word(4));
                    Element { flags: 0, key, value: (0, 0), child: u64::from_le_bytes(child) }
                } else {
                    let key = (at + u64::from(word(4)), word(8));
                    let value = (key.0 + u64::from(key.1), word(12));
                    Element { flags: word(0), key, value, child: 0 }
                }
            })
            .collect();
        Ok((flags, elements))
    }

    /// `len` bytes at `offset` within a node.
    fn bytes(&self, node: &Node, (offset, len): (u64, u32)) -> Result<Vec<u8>, BboltError> {
        if len > MAX_READ {
            return Err(BboltError::Invalid("an element larger than any real one"));
        }
        match node {
            Node::Inline(page) => usize::try_from(offset)
                .ok()
                .and_then(|start| page.get(start..start.checked_add(len as usize)?))
                .map(<[u8]>::to_vec)
                .ok_or(BboltError::Invalid("an element outside its inline bucket")),
            Node::Page(id) => {
                let start = id.checked_mul(self.page_size).and_then(|s| s.checked_add(offset));
                let start = start.ok_or(BboltError::Invalid("a page outside the file"))?;
                self.read(start, u64::from(len))?.ok_or(BboltError::Invalid("a page outside the file"))
            }
        }
    }

    /// `len` bytes at `offset` of the file, or `None` past its end.
    fn read(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, BboltError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Ok(None);
        }
        let mut buffer =
            vec![0u8; usize::try_from(len).map_err(|_| BboltError::Invalid("a read too large"))?];
        self.file.read_exact_at(&mut buffer, offset)?;
        Ok(Some(buffer))
    }
}

struct Meta {
    page_size: u32,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// 64-bit FNV-1a, bbolt's meta page checksum.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
