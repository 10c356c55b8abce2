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

use crate::engine::kernels::{CharCounts, LetterCounts, WordCounts};

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
    Words(FxHashMap<String, u64>),
    Lines(u64),
    Bytes(u64),
}

impl Tally {
    /// The empty count of `unit`: the identity of [`Tally::merge`].
    pub fn empty(unit: Unit) -> Tally {
        match unit {
            Unit::Letters => Tally::Letters([0; 26]),
            Unit::Chars => Tally::Chars(Box::default()),
            Unit::Words => Tally::Words(FxHashMap::default()),
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
            (Tally::Words(a), Tally::Words(b)) => {
                let mut wa = WordCounts { words: std::mem::take(a), newlines: 0 };
                wa.merge(WordCounts { words: b, newlines: 0 });
                *a = wa.words;
            }
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
            Tally::Words(w) => {
                let mut rows: Vec<(String, u64)> = w.iter().map(|(k, &n)| (k.clone(), n)).collect();
                rows.sort_unstable();
                rows
            }
            Tally::Lines(n) | Tally::Bytes(n) => vec![(String::new(), *n)],
        }
    }
}

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

    #[test]
    fn letters_always_list_all_26() {
        let rows = Tally::empty(Unit::Letters).rows();
        assert_eq!(rows.len(), 26);
        assert_eq!(rows[25], ("z".to_string(), 0));
    }
}
