//! Partial results and their merge. A partial is what one chunk (or one thread, one stdin block,
//! one cluster shard) contributes; merging partials in any grouping gives the same total, so the
//! same merge serves every engine.

pub mod exact;
pub mod groupby;
pub mod partial;

/// Serializes an f64 as its bit pattern: exact, and NaN and infinities survive (JSON has neither).
pub(crate) mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(x.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f64::from_bits(u64::deserialize(d)?))
    }
}

/// Serializes an i128 as a decimal string: JSON readers lose integers past 2^53.
pub(crate) mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    /// As text for people's formats (JSON partial files); as the integer itself for binary ones
    /// (spill files).
    pub fn serialize<S: Serializer>(x: &i128, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&x.to_string()) } else { s.serialize_i128(*x) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
        } else {
            i128::deserialize(d)
        }
    }
}

use rustc_hash::FxHashMap;

use crate::engine::kernels::{CharCounts, LetterCounts};

/// What `pframe count` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Letters,
    Chars,
    Words,
    Lines,
    Bytes,
}

impl Unit {
    /// The header of the key column (or of the single total column).
    pub fn key_header(self) -> &'static str {
        match self {
            Unit::Letters => "letter",
            Unit::Chars => "char",
            Unit::Words => "word",
            Unit::Lines => "lines",
            Unit::Bytes => "bytes",
        }
    }

    /// Units whose result is one number rather than a count per key.
    pub fn is_total(self) -> bool {
        matches!(self, Unit::Lines | Unit::Bytes)
    }
}

/// A mergeable count of some unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    Letters([u64; 26]),
    /// Boxed: the ASCII table makes it much larger than the other variants.
    Chars(Box<CharCounts>),
    Words(WordTally),
    Lines(u64),
    Bytes(u64),
}

impl Tally {
    /// The empty count of `unit`: the identity of [`Tally::merge`].
    pub fn empty(unit: Unit) -> Tally {
        match unit {
            Unit::Letters => Tally::Letters([0; 26]),
            Unit::Chars => Tally::Chars(Box::default()),
            Unit::Words => Tally::Words(WordTally::default()),
            Unit::Lines => Tally::Lines(0),
            Unit::Bytes => Tally::Bytes(0),
        }
    }

    pub fn unit(&self) -> Unit {
        match self {
            Tally::Letters(_) => Unit::Letters,
            Tally::Chars(_) => Unit::Chars,
            Tally::Words(_) => Unit::Words,
            Tally::Lines(_) => Unit::Lines,
            Tally::Bytes(_) => Unit::Bytes,
        }
    }

    /// Adds `other` into `self`. Both must count the same unit.
    pub fn merge(&mut self, other: Tally) {
        match (self, other) {
            (Tally::Letters(a), Tally::Letters(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
            (Tally::Chars(a), Tally::Chars(b)) => a.merge(*b),
            (Tally::Words(a), Tally::Words(b)) => a.merge(b),
            (Tally::Lines(a), Tally::Lines(b)) | (Tally::Bytes(a), Tally::Bytes(b)) => *a += b,
            (a, b) => panic!("cannot merge a count of {:?} into one of {:?}", b.unit(), a.unit()),
        }
    }

    /// The counts as (key, count) rows in key order (code point order for chars and words; letters
    /// are always all 26, zeros included). A total is one row with an empty key.
    pub fn rows(&self) -> Vec<(String, u64)> {
        match self {
            Tally::Letters(l) => (b'a'..=b'z').zip(l).map(|(c, &n)| ((c as char).to_string(), n)).collect(),
            Tally::Chars(c) => {
                let mut rows: Vec<(char, u64)> = (0u8..128)
                    .filter(|&b| c.ascii[b as usize] > 0)
                    .map(|b| (b as char, c.ascii[b as usize]))
                    .chain(c.other.iter().filter(|(_, n)| **n > 0).map(|(&ch, &n)| (ch, n)))
                    .collect();
                rows.sort_unstable();
                rows.into_iter().map(|(ch, n)| (ch.to_string(), n)).collect()
            }
            Tally::Words(w) => w.clone().into_rows(),
            Tally::Lines(n) | Tally::Bytes(n) => vec![(String::new(), *n)],
        }
    }

    /// [`Tally::rows`], taking the counts (a million words' rows are not copied).
    pub fn into_rows(self) -> Vec<(String, u64)> {
        match self {
            Tally::Words(w) => w.into_rows(),
            other => other.rows(),
        }
    }
}

/// Word frequencies: a map that chunks' counts are added into, and rows already in word order
/// (the workers' stores read out in parallel, [`crate::engine::words::into_rows`]). Either may
/// be empty; the counts are their sum.
#[derive(Debug, Clone, Default)]
pub struct WordTally {
    map: FxHashMap<String, u64>,
    /// Each word once, in code point order.
    sorted: Vec<(String, u64)>,
}

impl WordTally {
    /// Rows in code point order of their words, each word once.
    pub fn from_sorted(sorted: Vec<(String, u64)>) -> WordTally {
        debug_assert!(sorted.windows(2).all(|w| w[0].0 < w[1].0), "words sorted and distinct");
        WordTally { map: FxHashMap::default(), sorted }
    }

    /// Adds `other`'s counts. Sorted rows are kept as they are when the other side is empty (a
    /// finished count merged into an empty total); otherwise they go into the map.
    pub fn merge(&mut self, mut other: WordTally) {
        if self.is_empty() {
            *self = other;
            return;
        }
        if other.map.len() > self.map.len() {
            std::mem::swap(&mut self.map, &mut other.map);
        }
        for (w, n) in other.map.into_iter().chain(other.sorted) {
            *self.map.entry(w).or_insert(0) += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.sorted.is_empty()
    }

    /// The count of `word` (0 if never seen).
    pub fn get(&self, word: &str) -> u64 {
        let sorted = self.sorted.binary_search_by(|(w, _)| w.as_str().cmp(word)).map_or(0, |i| self.sorted[i].1);
        sorted + self.map.get(word).copied().unwrap_or(0)
    }

    /// The (word, count) rows in code point order of the words.
    pub fn into_rows(mut self) -> Vec<(String, u64)> {
        if self.map.is_empty() {
            return self.sorted;
        }
        for (w, n) in std::mem::take(&mut self.sorted) {
            *self.map.entry(w).or_insert(0) += n;
        }
        let mut rows: Vec<(String, u64)> = self.map.into_iter().collect();
        rows.sort_unstable();
        rows
    }
}

impl From<FxHashMap<String, u64>> for WordTally {
    fn from(map: FxHashMap<String, u64>) -> WordTally {
        WordTally { map, sorted: Vec::new() }
    }
}

impl FromIterator<(String, u64)> for WordTally {
    /// Counts of words, a word's counts added up when it comes more than once.
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(rows: I) -> WordTally {
        let mut map = FxHashMap::default();
        for (w, n) in rows {
            *map.entry(w).or_insert(0) += n;
        }
        WordTally::from(map)
    }
}

/// The same counts, however they are held.
impl PartialEq for WordTally {
    fn eq(&self, other: &WordTally) -> bool {
        self.clone().into_rows() == other.clone().into_rows()
    }
}

impl Eq for WordTally {}

impl From<LetterCounts> for Tally {
    fn from(c: LetterCounts) -> Tally {
        Tally::Letters(c.letters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_and_empty_is_the_identity() {
        let mut a = Tally::Words([("x".to_string(), 2)].into_iter().collect());
        a.merge(Tally::Words([("x".to_string(), 1), ("y".to_string(), 5)].into_iter().collect()));
        a.merge(Tally::empty(Unit::Words));
        assert_eq!(a.rows(), vec![("x".to_string(), 3), ("y".to_string(), 5)]);
    }

    /// Sorted rows and a map add up whichever side holds which, and a word's count is found in
    /// either.
    #[test]
    fn word_tallies_held_sorted_or_mapped_merge_alike() {
        let sorted = || WordTally::from_sorted(vec![("a".into(), 1), ("b".into(), 2), ("é".into(), 3)]);
        let mapped = || WordTally::from_iter([("b".to_string(), 10), ("c".to_string(), 20), ("b".to_string(), 1)]);
        let rows = |v: &[(&str, u64)]| v.iter().map(|&(w, n)| (w.to_string(), n)).collect::<Vec<_>>();
        let both = rows(&[("a", 1), ("b", 13), ("c", 20), ("é", 3)]);
        for (first, second, want) in [
            (sorted(), mapped(), &both),
            (mapped(), sorted(), &both),
            (WordTally::default(), sorted(), &rows(&[("a", 1), ("b", 2), ("é", 3)])),
            (sorted(), sorted(), &rows(&[("a", 2), ("b", 4), ("é", 6)])),
        ] {
            let mut t = Tally::Words(first);
            t.merge(Tally::Words(second));
            assert_eq!(&t.rows(), want);
            let Tally::Words(w) = t else { unreachable!() };
            for (word, n) in want {
                assert_eq!(w.get(word), *n);
            }
            assert_eq!(w.get("zz"), 0);
            assert_eq!(&w.into_rows(), want);
        }
    }

    #[test]
    fn letters_always_list_all_26() {
        let rows = Tally::empty(Unit::Letters).rows();
        assert_eq!(rows.len(), 26);
        assert_eq!(rows[25], ("z".to_string(), 0));
    }
}
