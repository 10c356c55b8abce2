//! The groups of a group-by: encoded keys in a hash table split into partitions by hash bits.
//!
//! Each worker thread aggregates into a table of its own, across all the chunks it works on, so a
//! row costs one probe whatever the number of groups, and nothing is merged per chunk. At the end
//! the workers' tables are merged partition by partition, each partition by one thread, as
//! DuckDB's radix-partitioned aggregation does; partitions are also what a spill writes out.
//!
//! A partition stores its keys back to back in one arena (no allocation per group), their hashes
//! (so growing and merging never hash a key again), and a `hashbrown` table of group ids. A group
//! is `(partition, id)`; its states live in the partition's [`super::states::States`] at `id`.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// The hash of a key: foldhash, seeded with a constant so that partitions (and spill files) are
/// the same on every run.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x70_66_72_61_6d_65).hash_one(key)
}

/// The bits of the hash that choose a partition: below the top 7 bits, which `hashbrown` uses as
/// each entry's tag, and above the low bits that choose its bucket.
const PARTITION_SHIFT: u32 = 40;

/// The encoded keys of one partition.
#[derive(Default)]
pub struct Keys {
    index: HashTable<u32>,
    hashes: Vec<u64>,
    /// Key `i` is `bytes[ends[i - 1]..ends[i]]`.
    ends: Vec<u64>,
    bytes: Vec<u8>,
}

impl Keys {
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    #[inline]
    pub fn key(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn hash(&self, id: u32) -> u64 {
        self.hashes[id as usize]
    }

    /// The id of `key` (whose hash is `hash`), added if new; and whether it was.
    #[inline]
    pub fn find_or_insert(&mut self, hash: u64, key: &[u8]) -> (u32, bool) {
        let Keys { index, hashes, ends, bytes } = self;
        let found = index.find(hash, |&id| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &bytes[start..ends[i] as usize] == key
        });
        if let Some(&id) = found {
            return (id, false);
        }
        let id = u32::try_from(hashes.len()).expect("fewer than 2^32 groups in a partition");
        hashes.push(hash);
        bytes.extend_from_slice(key);
        ends.push(bytes.len() as u64);
        index.insert_unique(hash, id, |&g| hashes[g as usize]);
        (id, true)
    }
}

/// A group-by's keys in `2^bits` partitions.
pub struct Partitioned<P> {
    bits: u32,
    pub parts: Vec<P>,
}

impl<P> Partitioned<P> {
    pub fn new_with(bits: u32, make: impl Fn() -> P) -> Self {
        Partitioned { bits, parts: (0..1usize << bits).map(|_| make()).collect() }
    }

    /// The partition of a key's hash.
    #[inline]
    pub fn partition_of(&self, hash: u64) -> usize {
        ((hash >> PARTITION_SHIFT) & ((1u64 << self.bits) - 1)) as usize
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Partitions made elsewhere (as many as `bits` says).
    pub fn from_parts(bits: u32, parts: Vec<P>) -> Self {
        assert_eq!(parts.len(), 1 << bits);
        Partitioned { bits, parts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_again_and_partitions_spread() {
        let mut keys = Keys::default();
        let words: Vec<String> = (0..5000).map(|i| format!("key{}", i % 1000)).collect();
        let mut ids = Vec::new();
        for w in &words {
            let (id, _) = keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes());
            ids.push(id);
        }
        assert_eq!(keys.len(), 1000);
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(keys.key(*id), w.as_bytes());
        }
        let p: Partitioned<Keys> = Partitioned::new_with(4, Keys::default);
        let mut seen = [0usize; 16];
        for w in &words[..1000] {
            seen[p.partition_of(hash_key(w.as_bytes()))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 30), "{seen:?}");
        assert_eq!(keys.find_or_insert(hash_key(b""), b""), (1000, true));
        assert_eq!(keys.key(1000), b"");
    }
}
