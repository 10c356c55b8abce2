//! A join of the streamed input with a large in-memory table, indexed once.
//!
//! Polars' join keeps no hash table between queries: joining each chunk of the input with the
//! whole other table hashes the smaller side and probes it with every row of the larger, so a
//! table of 1e7 rows is read in full once per chunk. Here the other table's join keys are hashed
//! once into a [`JoinIndex`]; each chunk looks its own keys up there and hands polars' join only
//! the other table's rows that can match, in the table's order. The rows kept are a superset of
//! the matches (rows whose keys merely hash alike stay, and polars' join decides), so for a join
//! that keeps each input row's matches to itself (an inner join, or an outer, semi or anti join
//! that keeps the input's side: see `is_row_wise`) the result is the same rows in the same order.

use std::sync::OnceLock;

use polars::prelude::*;

use crate::engine::groupby::table::prefetch;

/// Other tables with fewer rows are joined whole: hashing them again for each chunk costs less
/// than looking the chunk's keys up.
pub const MIN_ROWS: usize = 1 << 20;

/// A join whose other side is one of the other tables, reducible per chunk.
pub struct Reduction {
    /// The other table's position in `Tables::others`.
    pub table: usize,
    /// The other table's key columns, in the join's order.
    other_keys: Vec<PlSmallStr>,
    /// The input's key columns (columns of each chunk's frame), in the same order.
    input_keys: Vec<PlSmallStr>,
    /// Built on first use; `None` when the other table's keys cannot be indexed.
    index: OnceLock<Option<JoinIndex>>,
}

impl Reduction {
    pub fn new(table: usize, other_keys: Vec<PlSmallStr>, input_keys: Vec<PlSmallStr>) -> Reduction {
        Reduction { table, other_keys, input_keys, index: OnceLock::new() }
    }

    /// Builds the index of `other` (the other table) now, if it is not built yet: called before
    /// the chunks are worked on, so that it is built on the whole pool.
    pub fn build(&self, other: &DataFrame) {
        self.index(other);
    }

    /// The index of `other`, built on first use. Built on polars' pool only when called from no
    /// pool's thread: a pool's thread waiting for the build's tasks could take up another chunk's
    /// work, which would wait for the same index.
    fn index(&self, other: &DataFrame) -> Option<&JoinIndex> {
        let parallel = rayon::current_thread_index().is_none();
        self.index.get_or_init(|| JoinIndex::build(other, &self.other_keys, parallel)).as_ref()
    }

    /// The rows of `other` (the other table) that the rows of `chunk` (a frame of the input's
    /// columns) can match, in `other`'s order, when the keys can be compared by hash (else the
    /// whole table is joined).
    pub fn reduce(&self, chunk: &DataFrame, other: &DataFrame) -> Option<DataFrame> {
        let index = self.index(other)?;
        let keys: Vec<&Column> = self.input_keys.iter().map(|k| chunk.column(k)).collect::<PolarsResult<_>>().ok()?;
        if keys.len() != index.classes.len()
            || keys.iter().zip(&index.classes).any(|(c, k)| class(c.dtype()) != Some(k.clone()))
        {
            return None;
        }
        let rows = index.matching(&keys)?;
        other.take(&rows).ok()
    }
}

/// How a key's values hash: integers of any width by their value, others by their type's own
/// values (so that a key of one type only looks up keys of the same).
#[derive(Clone, Debug, PartialEq)]
enum Class {
    Int,
    Bool,
    Str,
    /// A temporal type: its physical integers, for keys of exactly this type.
    Logical(DataType),
}

fn class(dtype: &DataType) -> Option<Class> {
    Some(match dtype {
        // Integers up to 64 bits: their values cast to `i64` (or read as `u64`) without loss.
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Class::Int,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => Class::Int,
        DataType::Boolean => Class::Bool,
        DataType::String => Class::Str,
        DataType::Date | DataType::Datetime(..) | DataType::Duration(..) | DataType::Time => {
            Class::Logical(dtype.clone())
        }
        // Floats (0.0 and -0.0, NaNs), wider integers, decimals, categoricals, nested types:
        // joined whole.
        _ => return None,
    })
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A multiply that keeps the high half's bits: the low bits of the result depend on all of `x`.
#[inline]
fn fold(x: u64) -> u64 {
    let m = (x as u128).wrapping_mul(K as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

/// Each row's hash of the key columns `keys` (all of one length), never 0, or 0 where a key is
/// null (SQL: it matches nothing). Equal keys of the same classes hash alike. Hashed a slice of
/// rows per task, on polars' pool if `parallel`.
fn row_hashes(keys: &[&Column], parallel: bool) -> Option<Vec<u64>> {
    let n = keys.first().map_or(0, |c| c.len());
    if !parallel {
        let keys: Vec<Column> = keys.iter().map(|&c| c.clone()).collect();
        let mut hashes = vec![1u64; n];
        return hash_rows(&keys, &mut hashes).map(|()| hashes);
    }
    let pool = super::pool();
    let slice = n.div_ceil(pool.current_num_threads() * 4).max(1 << 16);
    let mut hashes = vec![1u64; n];
    let ok = pool.install(|| {
        use rayon::prelude::*;
        hashes.par_chunks_mut(slice).enumerate().all(|(i, out)| {
            let keys: Vec<Column> = keys.iter().map(|c| c.slice((i * slice) as i64, out.len())).collect();
            hash_rows(&keys, out).is_some()
        })
    });
    ok.then_some(hashes)
}

/// Mixes the hashes of the key columns `keys` into `hashes` (one per row, starting nonzero).
fn hash_rows(keys: &[Column], hashes: &mut [u64]) -> Option<()> {
    let mut mix = |values: &mut dyn Iterator<Item = Option<u64>>| {
        for (h, v) in hashes.iter_mut().zip(values) {
            *h = match v {
                Some(v) if *h != 0 => fold(h.rotate_left(23) ^ v) | 1,
                _ => 0,
            };
        }
    };
    let seed = foldhash::fast::FixedState::with_seed(0x5eed);
    for key in keys {
        let column = key.as_materialized_series();
        match class(key.dtype())? {
            Class::Int if matches!(key.dtype(), DataType::UInt64) => mix(&mut column.u64().ok()?.iter()),
            Class::Int | Class::Logical(_) => {
                let physical = column.to_physical_repr().cast(&DataType::Int64).ok()?;
                mix(&mut physical.i64().ok()?.iter().map(|v| v.map(|v| v as u64)))
            }
            Class::Bool => mix(&mut column.bool().ok()?.iter().map(|v| v.map(u64::from))),
            Class::Str => {
                use std::hash::BuildHasher;
                mix(&mut column.str().ok()?.iter().map(|v| v.map(|s| seed.hash_one(s.as_bytes()))))
            }
        }
    }
    Some(())
}

/// A slice's (hash, row) pairs by partition, and where each partition starts among them.
type Partitioned = (Vec<(u64, u32)>, Vec<usize>);

/// The hashes' rows (those that are not null, 0) in buckets by their top `bits` bits, rows
/// ascending in each: the bucket offsets (`1 << bits` of them and the end) and the entries, each
/// the hash's low 32 bits above the row's number. Sorted by a stable radix sort in two passes, so
/// that each writes to a few places at once rather than to random ones: each slice of rows into
/// partitions by the top bits (at most 256), then each partition (the slices' parts of it, in
/// order) into its buckets; the hashes are dropped between the two. The slices and then the
/// partitions are sorted in parallel on polars' pool if `parallel`.
fn bucket_rows(hashes: Vec<u64>, bits: u32, parallel: bool) -> (Vec<u32>, Vec<u64>) {
    use rayon::prelude::*;
    let part_bits = bits.min(8);
    let (parts, sub_bits) = (1usize << part_bits, bits - part_bits);
    let bucket = |h: u64| (h >> (64 - bits)) as usize;
    // Pass 1: each slice's rows by partition, with where each partition starts in it.
    let slice = hashes.len().div_ceil(super::pool().current_num_threads() * 4).max(1 << 16);
    let partition = |(s, hashes): (usize, &[u64])| -> Partitioned {
        let mut starts = vec![0usize; parts + 1];
        for &h in hashes.iter().filter(|&&h| h != 0) {
            starts[(bucket(h) >> sub_bits) + 1] += 1;
        }
        for q in 1..=parts {
            starts[q] += starts[q - 1];
        }
        let mut next = starts.clone();
        let mut out = vec![(0u64, 0u32); starts[parts]];
        for (i, &h) in hashes.iter().enumerate().filter(|(_, h)| **h != 0) {
            let at = &mut next[bucket(h) >> sub_bits];
            out[*at] = (h, (s * slice + i) as u32);
            *at += 1;
        }
        (out, starts)
    };
    let slices: Vec<Partitioned> = match parallel {
        true => super::pool().install(|| hashes.par_chunks(slice).enumerate().map(partition).collect()),
        false => hashes.chunks(slice).enumerate().map(partition).collect(),
    };
    drop(hashes);
    // Pass 2: each partition's rows (the slices' in order: rows ascending) into its buckets.
    let sizes: Vec<usize> = (0..parts).map(|q| slices.iter().map(|(_, st)| st[q + 1] - st[q]).sum()).collect();
    let mut offsets = vec![0u32; (1 << bits) + 1];
    let mut entries = vec![0u64; sizes.iter().sum()];
    let entry_parts = crate::engine::pieces::split_by_sizes(&mut entries, &sizes);
    let part_firsts = crate::engine::pieces::starts(sizes.iter().copied());
    let sort = |(q, (ends, out)): (usize, (&mut [u32], &mut [u64]))| {
        // The partition's buckets: `counts[b]` counts bucket b's rows, then becomes where its
        // next row goes in `out`; `ends[b]` (the index's `offsets` after bucket b's start) is
        // where the bucket ends among all the entries.
        let rows_of = || slices.iter().flat_map(|(rows, st)| &rows[st[q]..st[q + 1]]);
        let sub = |h: u64| bucket(h) & ((1 << sub_bits) - 1);
        let mut counts = vec![0u32; 1 << sub_bits];
        rows_of().for_each(|&(h, _)| counts[sub(h)] += 1);
        let mut at = 0u32;
        for (end, count) in ends.iter_mut().zip(&mut counts) {
            let start = at;
            at += *count;
            *end = part_firsts[q] as u32 + at;
            *count = start;
        }
        for &(h, row) in rows_of() {
            let next = &mut counts[sub(h)];
            out[*next as usize] = (h << 32) | u64::from(row);
            *next += 1;
        }
    };
    let work = offsets[1..].chunks_mut(1 << sub_bits).zip(entry_parts).enumerate();
    match parallel {
        true => super::pool().install(|| work.collect::<Vec<_>>().into_par_iter().for_each(sort)),
        false => work.for_each(sort),
    }
    (offsets, entries)
}

/// The rows of a table grouped by their keys' hash: bucket `b` (the hash's top bits) holds
/// `entries[offsets[b]..offsets[b + 1]]`, each the hash's low 32 bits above the row's number,
/// rows ascending.
struct JoinIndex {
    classes: Vec<Class>,
    rows: usize,
    bits: u32,
    offsets: Vec<u32>,
    entries: Vec<u64>,
}

impl JoinIndex {
    fn build(table: &DataFrame, keys: &[PlSmallStr], parallel: bool) -> Option<JoinIndex> {
        let columns: Vec<&Column> = keys.iter().map(|k| table.column(k)).collect::<PolarsResult<_>>().ok()?;
        let classes: Vec<Class> = columns.iter().map(|c| class(c.dtype())).collect::<Option<_>>()?;
        let rows = table.height();
        if rows > u32::MAX as usize {
            return None;
        }
        let hashes = row_hashes(&columns, parallel)?;
        let bits = rows.next_power_of_two().max(2).trailing_zeros();
        let (offsets, entries) = bucket_rows(hashes, bits, parallel);
        Some(JoinIndex { classes, rows, bits, offsets, entries })
    }

    /// The rows whose keys hash as one of the rows of `keys` do (a superset of those that
    /// match), ascending.
    fn matching(&self, keys: &[&Column]) -> Option<IdxCa> {
        let hashes = row_hashes(keys, false)?;
        let buckets: Vec<(u32, u32)> =
            hashes.iter().filter(|&&h| h != 0).map(|h| ((h >> (64 - self.bits)) as u32, *h as u32)).collect();
        let mut seen = vec![0u64; self.rows.div_ceil(64)];
        const AHEAD: usize = 16;
        for (i, &(bucket, tag)) in buckets.iter().enumerate() {
            if let Some(&(b, _)) = buckets.get(i + AHEAD) {
                prefetch(&self.offsets, b as usize);
            }
            let (from, to) = (self.offsets[bucket as usize], self.offsets[bucket as usize + 1]);
            for &entry in &self.entries[from as usize..to as usize] {
                if (entry >> 32) as u32 == tag {
                    let row = entry as u32 as usize;
                    seen[row / 64] |= 1 << (row % 64);
                }
            }
        }
        let mut rows: Vec<IdxSize> = Vec::new();
        for (w, &word) in seen.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                rows.push((w * 64 + word.trailing_zeros() as usize) as IdxSize);
                word &= word - 1;
            }
        }
        Some(IdxCa::from_vec(PlSmallStr::EMPTY, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index holds each row with a key, once, in the bucket of its hash's top bits, with
    /// its hash's low bits; rows ascend in each bucket; built the same on the pool and not.
    #[test]
    fn rows_are_bucketed_by_hash_in_order() {
        for rows in [0usize, 1, 5, 3000, 300_000] {
            let keys: Vec<Option<i64>> =
                (0..rows).map(|i| (i % 7 != 3).then_some((i as i64 * 7919) % (rows as i64 / 3 + 1))).collect();
            let table = df!("k" => keys.clone(), "v" => (0..rows as i64).collect::<Vec<_>>()).unwrap();
            let index = JoinIndex::build(&table, &["k".into()], true).unwrap();
            let serial = JoinIndex::build(&table, &["k".into()], false).unwrap();
            assert_eq!((&index.offsets, &index.entries), (&serial.offsets, &serial.entries), "{rows} rows");
            let hashes = row_hashes(&[table.column("k").unwrap()], false).unwrap();
            let mut seen = Vec::new();
            for b in 0..1usize << index.bits {
                let bucket = &index.entries[index.offsets[b] as usize..index.offsets[b + 1] as usize];
                let rows_here: Vec<usize> = bucket.iter().map(|&e| e as u32 as usize).collect();
                assert!(rows_here.windows(2).all(|w| w[0] < w[1]), "bucket {b} of {rows} rows not in order");
                for (&entry, &row) in bucket.iter().zip(&rows_here) {
                    let h = hashes[row];
                    assert_eq!(((h >> (64 - index.bits)) as usize, h as u32), (b, (entry >> 32) as u32));
                }
                seen.extend(rows_here);
            }
            seen.sort_unstable();
            let keyed: Vec<usize> = (0..rows).filter(|&i| keys[i].is_some()).collect();
            assert_eq!(seen, keyed, "{rows} rows");
        }
    }
}
