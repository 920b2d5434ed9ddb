//! A bbolt file builder for the `backup` target: just enough of the format for
//! `snapshot_revision`'s walk (meta pages, a root bucket, a `key` bucket inline, in one
//! leaf or under a branch), and the damage done to it.

use super::engine::Rng;

const META: u16 = 0x04;
const FREELIST: u16 = 0x10;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn header(id: u64, flags: u16, count: u16) -> Vec<u8> {
    let mut page = id.to_le_bytes().to_vec();
    page.extend_from_slice(&flags.to_le_bytes());
    page.extend_from_slice(&count.to_le_bytes());
    page.extend_from_slice(&0u32.to_le_bytes());
    page
}

/// A leaf page: `(flags, key, value)` elements, then their bytes.
fn leaf(id: u64, elements: &[(u32, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut page = header(id, LEAF, elements.len() as u16);
    let mut data = Vec::new();
    let start = 16 + 16 * elements.len();
    for (i, (flags, key, value)) in elements.iter().enumerate() {
        let pos = (start + data.len() - (16 + 16 * i)) as u32;
        for word in [*flags, pos, key.len() as u32, value.len() as u32] {
            page.extend_from_slice(&word.to_le_bytes());
        }
        data.extend_from_slice(key);
        data.extend_from_slice(value);
    }
    page.extend_from_slice(&data);
    page
}

fn branch(id: u64, children: &[(Vec<u8>, u64)]) -> Vec<u8> {
    let mut page = header(id, BRANCH, children.len() as u16);
    let mut data = Vec::new();
    let start = 16 + 16 * children.len();
    for (i, (key, child)) in children.iter().enumerate() {
        let pos = (start + data.len() - (16 + 16 * i)) as u32;
        page.extend_from_slice(&pos.to_le_bytes());
        page.extend_from_slice(&(key.len() as u32).to_le_bytes());
        page.extend_from_slice(&child.to_le_bytes());
        data.extend_from_slice(key);
    }
    page.extend_from_slice(&data);
    page
}

fn meta(id: u64, page_size: u32, root: u64, pages: u64, txid: u64) -> Vec<u8> {
    let mut body = Vec::new();
    for word in [0xED0C_DAEDu32, 2, page_size, 0] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    for word in [root, 0, 2, pages, txid] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    let sum = fnv1a(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    let mut page = header(id, META, 0);
    page.extend_from_slice(&body);
    page
}

fn revision_key(main: u64, sub: u64, tombstone: bool) -> Vec<u8> {
    let mut key = main.to_be_bytes().to_vec();
    key.push(b'_');
    key.extend_from_slice(&sub.to_be_bytes());
    if tombstone {
        key.push(b't');
    }
    key
}

fn bucket(root: u64, inline: Option<Vec<u8>>) -> Vec<u8> {
    let mut value = root.to_le_bytes().to_vec();
    value.extend_from_slice(&0u64.to_le_bytes());
    value.extend(inline.unwrap_or_default());
    value
}

/// A bbolt file whose `key` bucket holds revisions 1..=n; returns it and n.
pub fn build(rng: &mut Rng) -> (Vec<u8>, i64) {
    let page_size: usize = *rng.pick(&[512, 1024, 4096]);
    let most = if rng.chance(30) { 3 } else { 120 };
    let n = rng.below(most) as u64;
    let keys: Vec<(u32, Vec<u8>, Vec<u8>)> =
        (1..=n).map(|m| (0, revision_key(m, 0, rng.chance(10)), b"v".to_vec())).collect();
    let mut pages: Vec<Vec<u8>> = Vec::new();
    let shape = if n == 0 { rng.below(2) } else { rng.below(3) };
    // Every page fits in one page: the ids below are the pages' places in the file.
    let per_leaf = (page_size - 16) / (16 + 17 + 1 + 1);
    let per_branch = (page_size - 16) / (16 + 18);
    let key_bucket = match shape {
        0 if keys.len() * 35 + 300 < page_size => bucket(0, Some(leaf(0, &keys))),
        0 | 1 if keys.len() <= per_leaf => {
            pages.push(leaf(4, &keys));
            bucket(4, None)
        }
        _ => {
            let fewest = keys.len().div_ceil(per_branch).max(1);
            let size = (fewest + rng.below(per_leaf)).min(per_leaf);
            let chunks: Vec<_> = keys.chunks(size).collect();
            let children: Vec<(Vec<u8>, u64)> =
                chunks.iter().enumerate().map(|(i, c)| (c[0].1.clone(), 5 + i as u64)).collect();
            pages.push(branch(4, &children));
            for (i, chunk) in chunks.iter().enumerate() {
                pages.push(leaf(5 + i as u64, chunk));
            }
            bucket(4, None)
        }
    };
    let mut root = Vec::new();
    for name in ["alarm", "cluster", "key", "lease", "members", "meta"] {
        if name == "key" {
            root.push((1, name.as_bytes().to_vec(), key_bucket.clone()));
        } else if rng.chance(50) {
            root.push((1, name.as_bytes().to_vec(), bucket(0, Some(leaf(0, &[])))));
        }
    }
    let total = 4 + pages.len() as u64;
    let mut file = Vec::new();
    let (tx0, tx1) = if rng.chance(50) { (1, 2) } else { (2, 1) };
    for page in [
        meta(0, page_size as u32, 3, total, tx0),
        meta(1, page_size as u32, 3, total, tx1),
        header(2, FREELIST, 0),
        leaf(3, &root),
    ]
    .into_iter()
    .chain(pages)
    {
        let mut page = page;
        let size = page.len().div_ceil(page_size) * page_size;
        page.resize(size, 0);
        file.extend_from_slice(&page);
    }
    (file, n as i64)
}

/// Damages structure: a field set to an edge value, bytes flipped, the file cut;
/// the meta checksums fixed up half the time so that the walk goes deeper.
pub fn damage(rng: &mut Rng, file: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        if file.is_empty() {
            return;
        }
        let at = rng.below(file.len());
        match rng.below(5) {
            0 => file[at] ^= 1 << rng.below(8),
            1 => file[at] = rng.next_u64() as u8,
            2 => {
                let edge: u64 = *rng.pick(&[0, 1, 2, 3, 4, 0xFFFF, 0xFFFF_FFFF, u64::MAX, 1 << 40, 4096]);
                let width = *rng.pick(&[2usize, 4, 8]);
                let at = at - at % width;
                let end = (at + width).min(file.len());
                file[at..end].copy_from_slice(&edge.to_le_bytes()[..end - at]);
            }
            3 => file.truncate(at),
            _ => {
                let span = rng.below(64);
                let end = (at + span).min(file.len());
                file[at..end].fill(0xFF);
            }
        }
    }
    if rng.chance(50) {
        let page_size = file
            .get(24..28)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .filter(|p| (512..=65536).contains(p))
            .unwrap_or(4096);
        for offset in [0, page_size] {
            if file.len() >= offset + 80 {
                let sum = fnv1a(&file[offset + 16..offset + 72]);
                file[offset + 72..offset + 80].copy_from_slice(&sum.to_le_bytes());
            }
        }
    }
}
