//! Reading a sample of keys spread over a member's keyspace: proof that its data can
//! be read, not only counted.

use etcd_client::GetOptions;

use super::admin::bounded;
use super::{EtcdAdmin, EtcdError};
use crate::model::etcd::KeySample;

/// How many keys one page of the key listing holds.
const PAGE: i64 = 1000;

impl EtcdAdmin {
    /// Reads up to `limit` keys spread evenly over the whole keyspace, each with its
    /// value, at one revision: the keys are listed in pages (keys only) and
    /// [`picked`] ones are read. `total` is the key count the caller expects.
    ///
    /// # Errors
    /// When the member cannot be reached or does not answer in time.
    pub async fn sample_keys(&self, endpoint: &str, total: u64, limit: u64) -> Result<KeySample, EtcdError> {
        let mut client = self.connect(endpoint).await?;
        let (mut chosen, mut index, mut next, mut revision) = (Vec::new(), 0u64, vec![0u8], 0i64);
        loop {
            let options =
                GetOptions::new().with_from_key().with_keys_only().with_limit(PAGE).with_revision(revision);
            let page = bounded(endpoint, client.get(next.clone(), Some(options))).await?;
            if revision == 0 {
                revision = page.header().map(|h| h.revision()).unwrap_or_default();
            }
            for kv in page.kvs() {
                if picked(index, total, limit) && (chosen.len() as u64) < limit {
                    chosen.push(kv.key().to_vec());
                }
                index += 1;
                next = kv.key().to_vec();
                next.push(0);
            }
            if !page.more() || page.kvs().is_empty() || chosen.len() as u64 >= limit {
                break;
            }
        }
        let mut sample = KeySample { revision, ..KeySample::default() };
        for key in chosen {
            let options = GetOptions::new().with_revision(revision);
            let found = bounded(endpoint, client.get(key.clone(), Some(options))).await?;
            if found.kvs().iter().any(|kv| kv.key() == key.as_slice()) {
                sample.read += 1;
            } else {
                sample.missing.push(String::from_utf8_lossy(&key).into_owned());
            }
        }
        Ok(sample)
    }
}

/// Whether the key at `index` of `total` is one of `limit` picked evenly over them: the
/// first, and then each one where `index * limit / total` steps up; every key when
/// there are no more than `limit`.
pub(super) fn picked(index: u64, total: u64, limit: u64) -> bool {
    if total <= limit {
        return true;
    }
    let (i, total, limit) = (u128::from(index), u128::from(total), u128::from(limit));
    i == 0 || (i * limit / total) > ((i - 1) * limit / total)
}

#[cfg(test)]
mod tests {
    use super::picked;

    #[test]
    fn keys_are_picked_evenly_over_the_whole_keyspace() {
        let chosen: Vec<u64> = (0..1000).filter(|i| picked(*i, 1000, 100)).collect();
        assert_eq!(chosen.len(), 100);
        assert_eq!(&chosen[..3], [0, 10, 20]);
        assert!(chosen.last().is_some_and(|l| *l >= 990), "the end of the keyspace too: {chosen:?}");
        let few: Vec<u64> = (0..150).filter(|i| picked(*i, 150, 100)).collect();
        assert_eq!(few.len(), 100, "a hundred of 150, spread");
        assert!(few.last().is_some_and(|l| *l >= 140), "{few:?}");
        assert_eq!((0..7).filter(|i| picked(*i, 7, 100)).count(), 7, "all of a small keyspace");
    }
}
