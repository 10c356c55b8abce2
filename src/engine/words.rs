//! Word frequencies on the group-by engine's table: each worker counts the words of its chunks
//! into a store of its own (a word is looked up once per occurrence, in a table that outlives the
//! chunk; nothing is allocated per chunk or per occurrence), and at the end the workers' stores
//! become one map partition by partition, each partition's copies freed once counted. A million
//! distinct words cost one table of a million keys per worker, not a map per chunk.

use rustc_hash::FxHashMap;

use crate::engine::groupby::table::{Keys, Partitioned, hash_key, prefetch};
use crate::engine::kernels::{self, InvalidUtf8};

/// One partition of a worker's words: the words and their counts, by id.
#[derive(Default)]
pub struct WordPart {
    keys: Keys,
    counts: Vec<u64>,
}

/// A worker's words.
pub type WordStore = Partitioned<WordPart>;

pub fn new_store() -> WordStore {
    Partitioned::new_with(6, WordPart::default)
}

/// Counts the words of one chunk into `store`; returns the chunk's newlines. Words are looked
/// up a batch at a time, a batch behind the words being read: when a batch is full its table
/// slots are prefetched together (with a million words, the instruction after each word's own
/// prefetch took most of the splitting's samples; issued back to back, the misses overlap), and
/// the batch before it, prefetched one batch earlier, is looked up.
pub fn count_into(data: &[u8], ignore_case: bool, lossy: bool, store: &mut WordStore) -> Result<u64, InvalidUtf8> {
    const BATCH: usize = 32;
    let mut filling = WordBatch::default();
    let mut ready = WordBatch::default();
    let newlines = kernels::for_each_word(data, ignore_case, lossy, |word| {
        crate::output::number::push_bytes(&mut filling.bytes, word.as_bytes());
        filling.ends.push(filling.bytes.len());
        filling.hashes.push(hash_key(word.as_bytes()));
        if filling.hashes.len() == BATCH {
            filling.prefetch(store);
            ready.flush(store);
            std::mem::swap(&mut ready, &mut filling);
        }
    })?;
    ready.flush(store);
    filling.flush(store);
    Ok(newlines)
}

/// Words waiting to be counted.
#[derive(Default)]
struct WordBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// The partitions and ids of the batch's words seen before, whose counts are added last.
    seen: Vec<(u32, u32)>,
}

impl WordBatch {
    /// Asks for the table slots of the batch's words.
    fn prefetch(&self, store: &WordStore) {
        for &hash in &self.hashes {
            store.parts[store.partition_of(hash)].keys.prefetch(hash);
        }
    }

    /// Looks up the batch's words, then adds to the counts of those seen before: their counts
    /// are fetched while the other words are looked up (a word's count is a second cache miss,
    /// which the slot's prefetch cannot cover).
    fn flush(&mut self, store: &mut WordStore) {
        let mut start = 0;
        for (&end, &hash) in self.ends.iter().zip(&self.hashes) {
            let p = store.partition_of(hash);
            let part = &mut store.parts[p];
            let (id, new) = part.keys.find_or_insert(hash, &self.bytes[start..end]);
            if new {
                part.counts.push(1);
            } else {
                prefetch(&part.counts, id as usize);
                self.seen.push((p as u32, id));
            }
            start = end;
        }
        for &(p, id) in &self.seen {
            store.parts[p as usize].counts[id as usize] += 1;
        }
        self.bytes.clear();
        self.ends.clear();
        self.hashes.clear();
        self.seen.clear();
    }
}

/// The workers' stores as one map of words to counts, built partition by partition: each
/// partition's copies are freed as soon as their words are in the map, so the stores and the
/// map are never all in memory at once (no merged store is made first).
pub fn into_map(mut stores: Vec<WordStore>) -> FxHashMap<String, u64> {
    // The words are only read from here: their tables go before the map is made.
    stores.iter_mut().flat_map(|s| &mut s.parts).for_each(|p| p.keys.drop_table());
    // At least as many words as the store that has the most.
    let most = stores.iter().map(|s| s.parts.iter().map(|p| p.counts.len()).sum::<usize>()).max();
    let mut map = FxHashMap::with_capacity_and_hasher(most.unwrap_or(0), Default::default());
    let mut columns: Vec<std::vec::IntoIter<WordPart>> = stores.into_iter().map(|s| s.parts.into_iter()).collect();
    loop {
        let copies: Vec<WordPart> = columns.iter_mut().filter_map(Iterator::next).collect();
        if copies.is_empty() {
            return map;
        }
        for part in copies {
            for (id, n) in part.counts.into_iter().enumerate() {
                let word = std::str::from_utf8(part.keys.key(id as u32)).expect("words are text");
                match map.get_mut(word) {
                    Some(count) => *count += n,
                    None => {
                        map.insert(word.to_string(), n);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_merged_in_any_split_count_as_one_map() {
        let text = "the cat and the hat and THE bat\nthé été the\n".repeat(50);
        let whole = kernels::count_words(text.as_bytes(), true, false).unwrap().words;
        // Split the lines among three stores in a scattered way, then merge.
        let mut stores: Vec<WordStore> = (0..3).map(|_| new_store()).collect();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            count_into(line.as_bytes(), true, false, &mut stores[(i * 7) % 3]).unwrap();
        }
        assert_eq!(into_map(stores), whole);
        assert_eq!(whole["the"], 200);
    }
}
