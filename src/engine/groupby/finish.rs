//! The end of a group-by: the merged groups become the result's rows. Column types are applied
//! (declared, else inferred over the whole input), numeric aggregations over text are refused with
//! the first offending value, and the groups are sorted by their typed keys.
//!
//! Sorting never parses a key in a comparison: each key field is read once and coded as an
//! integer that sorts as the typed value does (an integer column's offset from its minimum, a
//! float's ordered bits, a text's rank among the column's distinct texts; nulls last), and a
//! group's codes packed together (in 64 or 128 bits when they fit) are what is sorted. Groups with
//! equal codes have equal typed keys (a number spelled several ways in a numeric column: `7`, `07`,
//! `7.0`) and are merged as they are read out; the states' merge is order-free. Rows are produced
//! in blocks of the order, each built on whichever thread formats it, so a result of millions of
//! groups is built in parallel and written as it is read.
//!
//! With `--unordered`, groups in memory whose keys need no typing to be told apart (see
//! [`raw_keys`]) are written as their tables hold them instead: no coding, no sort, and each
//! group's states read in the order they lie.

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use super::chunk::{ChunkInfo, Layout, Part};
use super::keys::{self, KeyField, KeyRule};
use super::spill::{KeyTypes, Merger, Spilled};
use super::states::{Scalar, States, head16};
use super::table::Keys;
use super::text_sort;
use super::{GroupByError, GroupByPlan, LineBase};
use crate::agg::groupby::{AggFn, AggSpec, Kind, Moments, Num, State};
use crate::engine::pieces::{split_by_sizes, starts};
use crate::output::delimited::Delimited;
use crate::output::number::Number;
use crate::output::{JsonShape, Table, Value};

/// A group-by's result: its columns, its rows (read out in batches), and what the user should
/// know about how the input was read.
pub struct Grouped {
    pub headers: Vec<String>,
    /// One line each, for stderr: columns read as text only because of text that people write for
    /// a missing value (`NA`, `NULL`, ...), which `--null-values` would read as null.
    pub notes: Vec<String>,
    pub rows: GroupRows,
    /// The threads the group-by ran on.
    threads: usize,
}

impl Grouped {
    /// Every row, as one table; the rows of groups sorted in memory are made on `threads`
    /// threads, a block each at a time.
    pub fn into_table(self) -> std::io::Result<Table> {
        let pool = (self.threads > 1).then(|| self.pool()).flatten();
        let parts = self.map_blocks(pool.as_ref(), |rows| rows)?;
        Ok(Table { headers: self.headers, rows: parts.into_iter().flatten().collect(), json: JsonShape::Records })
    }

    /// The rows as one polars frame of columns `headers`, each block's rows turned by `cells`
    /// into that frame's, the blocks made and converted on the run's threads (see
    /// [`crate::output::frame_of_blocks`]).
    pub fn into_frame(
        self,
        headers: &[String],
        cells: impl Fn(Vec<Vec<Value>>) -> Vec<Vec<Value>> + Sync,
    ) -> std::io::Result<polars::prelude::DataFrame> {
        let pool = self.pool();
        let blocks = self.map_blocks(pool.as_ref(), cells)?;
        let frame = || crate::output::frame_of_blocks(headers, blocks);
        match &pool {
            Some(pool) => pool.install(frame),
            None => frame(),
        }
    }

    /// Each block's rows through `f`, in order: on `pool`'s threads when there is one.
    fn map_blocks<T: Send>(
        &self,
        pool: Option<&rayon::ThreadPool>,
        f: impl Fn(Vec<Vec<Value>>) -> T + Sync,
    ) -> std::io::Result<Vec<T>> {
        let blocks: Vec<Block> = self.rows.blocks(1 << 14).collect::<std::io::Result<_>>()?;
        let each = |block| f(self.rows.rows_of(block));
        Ok(match pool.filter(|_| blocks.len() > 1) {
            Some(pool) => pool.install(|| blocks.into_par_iter().map(each).collect()),
            None => blocks.into_iter().map(each).collect(),
        })
    }

    /// Ends a result that has been read out, in a process about to exit: spilled groups' files
    /// are removed, but groups in memory are left to the exit rather than freed one by one on
    /// this thread (the workers' sets of distinct values for a million groups' `n_unique`, freed
    /// by another thread than their own, took a second).
    pub fn release_at_exit(self) {
        match self.rows.0 {
            Rows::Sorted(sorted) => std::mem::forget(sorted),
            Rows::Unordered(groups) => std::mem::forget(groups),
            Rows::Merged { .. } => {}
        }
    }

    /// A pool of the run's threads.
    fn pool(&self) -> Option<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new().num_threads(self.threads.max(1)).build().ok()
    }
}

/// Applies the declared types, rejects numeric aggregations over text, and orders the groups.
/// `first_text_source` names, per used column, the input its first text value came from.
pub(super) fn check_and_finish(
    plan: &GroupByPlan,
    layout: &Layout,
    mut acc: ChunkInfo,
    groups: Groups,
    first_text_source: &[Option<(String, LineBase)>],
    pool: Option<&rayon::ThreadPool>,
) -> Result<Grouped, GroupByError> {
    for (kind, declared) in acc.kinds.iter_mut().zip(&layout.declared) {
        if let Some(d) = declared {
            *kind = *d;
        }
    }
    // Numeric aggregations over a column that holds text: report the first text value.
    let columns = layout.agg_cols.iter().zip(&layout.agg_cols2).flat_map(|(a, b)| [*a, *b]);
    let specs = plan.aggs.iter().flat_map(|s| [s, s]);
    for (spec, col) in specs.zip(columns) {
        if let Some(c) = col
            && spec.func.is_numeric()
            && acc.kinds[c] == Kind::Str
        {
            let (line, text) = acc.first_text[c].clone().expect("a text column has a first text value");
            let (name, base) = first_text_source[c].clone().unwrap_or_default();
            let mut message = format!("column {}: cannot parse \"{text}\" as a number (for {spec})", layout.names[c]);
            if matches!(acc.kinds_sans_nullish[c], Kind::Int | Kind::Float | Kind::Null) {
                message.push_str(&format!("; if \"{text}\" marks a missing value, add --null-values '{text}'"));
            }
            return Err(base.error(&name, line, message));
        }
    }
    // Columns numeric but for null-like text, read as text: say so once each.
    let mut notes = Vec::new();
    for (c, name) in layout.names.iter().enumerate() {
        if acc.kinds[c] == Kind::Str
            && layout.declared[c].is_none()
            && matches!(acc.kinds_sans_nullish[c], Kind::Int | Kind::Float)
            && let Some((line, text)) = &acc.first_text[c]
        {
            let (input, base) = first_text_source[c].clone().unwrap_or_default();
            let at = if base.rows { format!("row {line}") } else { format!("line {}", base.get() + line) };
            notes.push(format!(
                "{input}: column {name} is numeric but for text like \"{text}\" ({at}), so it was read as text \
                 (min, max and keys compare as text); if \"{text}\" marks a missing value, add --null-values '{text}'"
            ));
        }
    }
    let mut headers = plan.by.clone();
    headers.extend(plan.aggs.iter().map(AggSpec::output_name));
    let aggs = Aggs::new(
        plan.aggs.iter().map(|a| a.func).collect(),
        layout.agg_cols.iter().map(|c| c.map_or(Kind::Null, |c| acc.kinds[c])).collect(),
    );
    let rows = match groups {
        Groups::Memory(parts) if plan.unordered && raw_keys(layout, &acc) => {
            GroupRows(Rows::Unordered(Unordered::new(layout, &acc, parts, aggs)))
        }
        Groups::Memory(parts) => GroupRows(Rows::Sorted(match pool {
            Some(pool) => pool.install(|| Sorted::new(layout, &acc, parts, aggs)),
            None => Sorted::new(layout, &acc, parts, aggs),
        })),
        Groups::Spilled(spilled) => {
            notes.push(spilled.note.clone());
            let types = KeyTypes {
                kinds: layout.keys.iter().map(|&k| acc.kinds[k]).collect(),
                rules: layout.key_rules.clone(),
            };
            let name = "spilling groups".to_string();
            let merger = spilled
                .sorted(plan, types, pool)
                .map_err(|e| GroupByError::Query { name, message: format!("reading back the spilled groups: {e}") })?;
            GroupRows(Rows::Merged { merger: std::sync::Mutex::new(merger), aggs })
        }
    };
    Ok(Grouped { headers, notes, rows, threads: pool.map_or(1, rayon::ThreadPool::current_num_threads) })
}

/// The groups at the end of a run: in memory, or spilled to files.
pub(super) enum Groups {
    /// Partitions of groups; a key may be in several of them (copies of a partition that shared
    /// few of their groups are kept apart), whose groups the sort brings together.
    Memory(Vec<Part>),
    Spilled(Spilled),
}

/// The groups in key order, read out in blocks of rows: sorted in memory, or merged from the
/// sorted runs of a spilled group-by.
pub struct GroupRows(Rows);

enum Rows {
    Sorted(Sorted),
    Unordered(Unordered),
    Merged { merger: std::sync::Mutex<Merger>, aggs: Aggs },
}

/// A block of rows to produce: a range of the sorted groups, or rows merged already.
pub enum Block {
    Order(Range<usize>),
    Rows(Vec<Vec<Value>>),
}

impl GroupRows {
    /// The blocks of about `max` groups each, in order, for [`GroupRows::rows_of`] or
    /// [`GroupRows::delimited_of`] to read out on any thread. Merged groups are read here, as the
    /// blocks are handed out, so an error reading them back comes with its block.
    pub fn blocks(&self, max: usize) -> Box<dyn Iterator<Item = std::io::Result<Block>> + '_> {
        match &self.0 {
            Rows::Sorted(sorted) => Box::new(sorted.blocks(max).into_iter().map(|b| Ok(Block::Order(b)))),
            Rows::Unordered(groups) => Box::new(groups.blocks(max).map(|b| Ok(Block::Order(b)))),
            Rows::Merged { merger, aggs } => Box::new(std::iter::from_fn(move || {
                let mut merger = merger.lock().expect("the runs' merge");
                let mut rows = Vec::new();
                while rows.len() < max.max(1) {
                    match merger.next_group() {
                        Ok(Some((keys, mut states))) => {
                            aggs.push_rows(keys, GroupStates::Merged(&mut states), &mut rows)
                        }
                        Ok(None) => break,
                        Err(e) => return Some(Err(e)),
                    }
                }
                (!rows.is_empty()).then_some(Ok(Block::Rows(rows)))
            })),
        }
    }

    /// The rows of a block.
    pub fn rows_of(&self, block: Block) -> Vec<Vec<Value>> {
        match (&self.0, block) {
            (Rows::Sorted(sorted), Block::Order(range)) => sorted.rows_of(range),
            (Rows::Unordered(groups), Block::Order(range)) => groups.rows_of(range),
            (_, Block::Rows(rows)) => rows,
            (Rows::Merged { .. }, Block::Order(_)) => unreachable!("merged groups come in rows"),
        }
    }

    /// The rows of a block as CSV (or TSV, by `delimiter`) records.
    pub fn delimited_of(&self, block: Block, delimiter: u8) -> Vec<u8> {
        match (&self.0, block) {
            (Rows::Sorted(sorted), Block::Order(range)) => sorted.delimited_of(range, delimiter),
            (Rows::Unordered(groups), Block::Order(range)) => groups.delimited_of(range, delimiter),
            (_, Block::Rows(rows)) => {
                let mut out = Vec::with_capacity(rows.len() * 32);
                let table = Table { headers: Vec::new(), rows, json: JsonShape::Records };
                table.write_delimited(delimiter, false, &mut out).expect("writing to memory");
                out
            }
            (Rows::Merged { .. }, Block::Order(_)) => unreachable!("merged groups come in rows"),
        }
    }
}

/// The aggregations, and the kinds of their columns: how a group's states become its values.
struct Aggs {
    funcs: Vec<AggFn>,
    kinds: Vec<Kind>,
    /// Whether every aggregation is a count, a sum or a mean (see [`States::scalar`]).
    scalar: bool,
}

impl Aggs {
    fn new(funcs: Vec<AggFn>, kinds: Vec<Kind>) -> Aggs {
        let scalar = funcs.iter().all(|f| matches!(f, AggFn::Count | AggFn::Rows | AggFn::Sum | AggFn::Mean));
        Aggs { funcs, kinds, scalar }
    }
}

/// A group as [`Sorted::each_group`] hands it out: where its states are, or (for a group whose
/// copies were brought together by equal typed keys) their merge.
enum GroupStates<'s> {
    /// A group's states and its id.
    One(&'s States, u32),
    Merged(&'s mut Vec<State>),
}

impl<'s> GroupStates<'s> {
    /// The group's states, read into `buf` for a group with no copy.
    fn states<'b>(self, n_aggs: usize, buf: &'b mut Vec<State>) -> &'b mut Vec<State>
    where
        's: 'b,
    {
        match self {
            GroupStates::One(states, id) => {
                buf.clear();
                buf.extend((0..n_aggs).map(|agg| states.state(agg, id)));
                buf
            }
            GroupStates::Merged(merged) => merged,
        }
    }
}

/// How one key column's fields are coded for sorting.
enum Coding {
    /// An integer column: the value's offset from the column's minimum.
    Int { min: i64 },
    /// An integer column that holds both `i64::MIN` and `i64::MAX`, whose offsets take all 64
    /// bits and leave none for the null's code: the value's rank among the column's distinct
    /// values (in order).
    IntRanks(Vec<i64>),
    /// A float column: the value's bits, ordered as the numbers are.
    Float,
    /// A text column (or one of nulls only): the text's rank among the column's distinct texts.
    Text(Texts),
}

/// A text key column's distinct texts in order, back to back, and which of them no CSV or TSV
/// field quotes; and each text again in an entry of its own, which holds the whole of a short
/// text and whether it is plain, so that writing one out reads one place (a column of a text per
/// group reads its texts at random, each mostly a cache miss, three of them from the vectors).
struct Texts {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    plain: Vec<bool>,
    entries: Vec<TextEntry>,
}

/// A text of at most 15 bytes, zero-padded, and in its last byte its length, with the top bit set
/// for a plain text; a last byte of [`TextEntry::LONG`] for a longer text.
#[derive(Clone, Copy)]
#[repr(align(16))]
struct TextEntry([u8; 16]);

impl TextEntry {
    const LONG: u8 = 0xff;

    fn new(text: &[u8], plain: bool) -> TextEntry {
        let mut e = [0u8; 16];
        if text.len() < 16 {
            e[..text.len()].copy_from_slice(text);
            e[15] = text.len() as u8 | if plain { 0x80 } else { 0 };
        } else {
            e[15] = TextEntry::LONG;
        }
        TextEntry(e)
    }
}

impl Texts {
    fn with_capacity(n: usize) -> Texts {
        Texts {
            bytes: Vec::new(),
            ends: Vec::with_capacity(n),
            plain: Vec::with_capacity(n),
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends the texts of `other`, in order.
    fn append(&mut self, other: Texts) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|&end| end + at));
        self.plain.extend_from_slice(&other.plain);
        self.entries.extend_from_slice(&other.entries);
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.bytes[if i == 0 { 0 } else { self.ends[i - 1] }..self.ends[i]]
    }

    fn push(&mut self, text: &[u8]) {
        self.bytes.extend_from_slice(text);
        self.ends.push(self.bytes.len());
        // Texts with none of the bytes CSV or TSV quote for are written as they are.
        let plain = !text.iter().any(|&b| QUOTED[usize::from(b)]);
        self.plain.push(plain);
        self.entries.push(TextEntry::new(text, plain));
    }

    /// Text `i`, and whether it is plain.
    #[inline]
    fn text(&self, i: usize) -> (&[u8], bool) {
        let e = &self.entries[i].0;
        match e[15] {
            TextEntry::LONG => (self.get(i), self.plain[i]),
            tag => (&e[..usize::from(tag & 0x7f)], tag & 0x80 != 0),
        }
    }

    /// Asks the CPU to bring text `i`'s entry into the cache.
    #[inline]
    fn prefetch(&self, i: usize) {
        super::table::prefetch(&self.entries, i);
    }
}

/// The bytes for which a CSV or TSV field is quoted (with `,` or a tab as its delimiter).
static QUOTED: [bool; 256] = {
    const BYTES: &[u8] = b",\t\"\n\r";
    let mut quoted = [false; 256];
    let mut i = 0;
    while i < BYTES.len() {
        quoted[BYTES[i] as usize] = true;
        i += 1;
    }
    quoted
};

/// Text columns of more texts than this (a few hundred KiB of entries) have their texts fetched
/// ahead when rows are written; smaller ones stay in the caches.
const BIG_TEXTS: usize = 1 << 14;

/// The code of a null: above every value's.
const NULL_CODE: u64 = u64::MAX;

/// Bits that order floats as `total_cmp` does.
pub(super) fn ordered_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

pub(super) fn from_ordered_bits(o: u64) -> f64 {
    f64::from_bits(if o >> 63 == 1 { o & !(1 << 63) } else { !o })
}

/// A key column's coding, and its codes' width in bits (the null code included).
struct ColumnCode {
    coding: Coding,
    width: u32,
}

impl ColumnCode {
    /// The value a code stands for, as the result shows it.
    fn value(&self, code: u64) -> Value {
        if code == self.null() {
            return Value::Null;
        }
        match &self.coding {
            Coding::Int { min } => Value::Int(min.wrapping_add(code as i64)),
            Coding::IntRanks(values) => Value::Int(values[code as usize]),
            Coding::Float => Value::Float(from_ordered_bits(code)),
            // Key fields were checked to be UTF-8 when their groups were made.
            Coding::Text(texts) => Value::Str(String::from_utf8_lossy(texts.get(code as usize)).into_owned()),
        }
    }

    /// Writes the value a code stands for as a CSV or TSV field (as [`ColumnCode::value`]'s).
    #[inline]
    fn write(&self, w: &mut Delimited, out: &mut Vec<u8>, code: u64) {
        if code == self.null() {
            return w.text(out, b"");
        }
        match &self.coding {
            Coding::Int { min } => w.number(out, Number::Int(min.wrapping_add(code as i64))),
            Coding::IntRanks(values) => w.number(out, Number::Int(values[code as usize])),
            Coding::Float => w.number(out, Number::Float(from_ordered_bits(code))),
            Coding::Text(texts) => match texts.text(code as usize) {
                (text, true) => w.plain(out, text),
                (text, false) => w.text(out, text),
            },
        }
    }

    /// The null's code: the largest of the column's width.
    fn null(&self) -> u64 {
        if self.width >= 64 { NULL_CODE } else { (1u64 << self.width) - 1 }
    }
}

fn bits_for(max_code: u64) -> u32 {
    64 - max_code.leading_zeros()
}

/// A text key column's groups: each partition's groups' local codes (the first appearance of
/// their text in the partition's batch; `u32::MAX` for a null), and each batch's local codes'
/// ranks among the column's distinct texts.
struct TextRanks {
    local: Vec<Vec<u32>>,
    /// The batch of each partition.
    batch: Vec<usize>,
    rank: Vec<Vec<u32>>,
}

/// A key column's field of every group, as the walk over the keys read it (see
/// [`code_columns`]), so that the groups' codes are made without reading their keys again.
enum GroupFields {
    Text(TextRanks),
    /// Each partition's groups' integers, a null as `i64::MIN`; that value's groups (should the
    /// column hold it) listed by partition, in order.
    Int {
        values: Vec<Vec<i64>>,
        mins: Vec<Vec<u32>>,
    },
    /// Each partition's groups' ordered bits (see [`ordered_bits`]), a null as [`NULL_CODE`].
    Float(Vec<Vec<u64>>),
}

impl GroupFields {
    /// The code in `col` of group `id` of partition `p`.
    #[inline]
    fn code(&self, col: &ColumnCode, p: usize, id: u32) -> u64 {
        match self {
            GroupFields::Text(t) => match t.local[p][id as usize] {
                u32::MAX => col.null(),
                l => u64::from(t.rank[t.batch[p]][l as usize]),
            },
            GroupFields::Int { values, mins } => match (values[p][id as usize], &col.coding) {
                (i64::MIN, _) if mins[p].binary_search(&id).is_err() => col.null(),
                (v, Coding::Int { min }) => v.wrapping_sub(*min) as u64,
                (v, Coding::IntRanks(ranked)) => ranked.binary_search(&v).expect("a value of the column") as u64,
                _ => unreachable!("an integer column's coding"),
            },
            GroupFields::Float(bits) => match bits[p][id as usize] {
                NULL_CODE => col.null(),
                code => code,
            },
        }
    }
}

/// A batch's dictionary of one text column's texts, to their local codes: open addressing
/// (linear probing, at most 3/4 full) over slots that hold a text's first 16 bytes and its
/// length, so that a probe of a text of up to 16 bytes (most key texts: ids, codes, words)
/// compares two registers and reads no text (among millions of groups' keys, mostly a cache
/// miss); only a longer text's tail is compared where it lies. (A std map of those heads, hashed
/// through the generic `Hasher`, was a ninth of q10's samples.)
#[derive(Default)]
struct TextDict {
    slots: Vec<DictSlot>,
    len: usize,
}

/// 24 bytes: the head as two words, so that a slot is aligned to 8 and not padded to 32 (a
/// dictionary of millions of texts is a table of millions of slots).
#[derive(Clone, Copy)]
struct DictSlot {
    head: [u64; 2],
    len: u32,
    /// The text's local code; `u32::MAX` for a vacant slot.
    code: u32,
}

/// A head as two words, high first.
#[inline]
fn split(head: u128) -> [u64; 2] {
    [(head >> 64) as u64, head as u64]
}

const VACANT_TEXT: DictSlot = DictSlot { head: [0; 2], len: 0, code: u32::MAX };

impl TextDict {
    fn len(&self) -> usize {
        self.len
    }

    /// A text's head (see `head16`) and hash: its head and length folded by one multiply when
    /// that is all of it, the group tables' hash of its bytes when it is longer.
    #[inline]
    fn hashed(text: &[u8]) -> (u128, u64) {
        let head = head16(text);
        let hash = if text.len() > 16 { super::table::hash_key(text) } else { Self::hash_short(head, text.len()) };
        (head, hash)
    }

    /// The hash of a text of up to 16 bytes, from its head and length alone.
    #[inline]
    fn hash_short(head: u128, len: usize) -> u64 {
        let (lo, hi) = (head as u64, (head >> 64) as u64);
        let len = (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let m = u128::from(lo ^ 0x243f_6a88_85a3_08d3) * u128::from(hi ^ len ^ 0x1319_8a2e_0370_7344);
        (m as u64) ^ ((m >> 64) as u64)
    }

    /// Prefetches the slot where the probe for a text hashed `hash` starts.
    #[inline]
    fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            super::table::prefetch(&self.slots, hash as usize & (self.slots.len() - 1));
        }
    }

    /// The local code of `text` (whose head and hash are `head` and `hash`), which is pushed to
    /// `texts` (and given the next code) if new.
    #[inline]
    fn code<'a>(&mut self, text: &'a [u8], (head, hash): (u128, u64), texts: &mut Vec<&'a [u8]>) -> u32 {
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow(texts);
        }
        let len = u32::try_from(text.len()).expect("a text shorter than 4 GiB");
        let head = split(head);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.code == u32::MAX {
                let code = u32::try_from(texts.len()).expect("fewer than 2^32 texts");
                texts.push(text);
                self.slots[i] = DictSlot { head, len, code };
                self.len += 1;
                return code;
            }
            if slot.head == head && slot.len == len && (len <= 16 || texts[slot.code as usize][16..] == text[16..]) {
                return slot.code;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the slots (64 at first) and places the texts again.
    #[cold]
    fn grow(&mut self, texts: &[&[u8]]) {
        let size = (2 * self.slots.len()).max(64);
        let old = std::mem::replace(&mut self.slots, vec![VACANT_TEXT; size]);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.code != u32::MAX) {
            // A short text's hash needs no read of the text (the dictionaries of a column of
            // millions of texts grew at a cache miss a text).
            let hash = match slot.len {
                0..=16 => {
                    Self::hash_short(u128::from(slot.head[0]) << 64 | u128::from(slot.head[1]), slot.len as usize)
                }
                _ => super::table::hash_key(texts[slot.code as usize]),
            };
            let mut i = hash as usize & mask;
            while self.slots[i].code != u32::MAX {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// A batch's texts of one text column, and each group's local code: each distinct text once,
/// through a dictionary, while the column repeats its texts; each group's text as it comes once
/// the column is expected to end with more distinct texts than a share [`DIRECT_ABOVE`] of the
/// batch's groups (with millions of texts, hashing each into a dictionary past the caches was
/// most of the coding), the sort of every batch's texts bringing equal ones together either way
/// (see [`rank_texts`]).
struct TextGather<'a> {
    dict: TextDict,
    texts: Vec<&'a [u8]>,
    /// Whether the dictionary is skipped.
    direct: bool,
    /// The texts seen, and the dictionary's size at the last check.
    seen: usize,
    checked: usize,
    /// The batch's groups.
    groups: usize,
}

impl<'a> TextGather<'a> {
    /// Texts between checks of how fast the dictionary grows.
    const WINDOW: usize = 1 << 16;

    fn new(groups: usize) -> Self {
        TextGather { dict: TextDict::default(), texts: Vec::new(), direct: false, seen: 0, checked: 0, groups }
    }

    /// A group's text's head and hash, its dictionary slot fetched ahead of [`TextGather::code`].
    #[inline]
    fn hash(&self, raw: &[u8]) -> Option<(u128, u64)> {
        if self.direct {
            return None;
        }
        let hashed = TextDict::hashed(raw);
        self.dict.prefetch(hashed.1);
        Some(hashed)
    }

    /// The local code of a group's text, hashed by [`TextGather::hash`].
    #[inline]
    fn code(&mut self, raw: &'a [u8], hashed: Option<(u128, u64)>) -> u32 {
        self.seen += 1;
        if self.seen % Self::WINDOW == 0 && !self.direct {
            self.check();
        }
        if self.direct {
            self.texts.push(raw);
            u32::try_from(self.texts.len() - 1).expect("fewer than 2^32 texts")
        } else {
            // `hashed` is none only if the dictionary was skipped when the text was hashed, and
            // it stays skipped: hashed here only so as not to rely on that.
            let hashed = hashed.unwrap_or_else(|| TextDict::hashed(raw));
            self.dict.code(raw, hashed, &mut self.texts)
        }
    }

    /// Skips the dictionary from here if the column is expected to end with more distinct texts
    /// than [`DIRECT_ABOVE`] of the batch's groups (as [`super::estimate`] expects groups, from
    /// the rate at which new texts came over the last window).
    #[cold]
    fn check(&mut self) {
        let new = self.dict.len() - self.checked;
        self.checked = self.dict.len();
        let rate = new as f64 / Self::WINDOW as f64;
        let n = (self.seen - Self::WINDOW / 2) as f64;
        let left = self.groups.saturating_sub(self.seen) as f64;
        let distinct = super::estimate::final_groups(self.dict.len() as f64, n, rate, left);
        if distinct > DIRECT_ABOVE * self.groups as f64 {
            self.direct = true;
            self.dict = TextDict::default();
        }
    }
}

/// The share of a batch's groups above which a column's distinct texts are not gathered through a
/// dictionary: sorting every group's text costs less than the lookups then. Measured on q10 of
/// the db-benchmark (1e7 groups, 2 batches, `id3`'s distinct texts a share of a batch's groups):
/// at 0.2 (K = 10) the dictionary 4.75 s against 5.00 s without; at 0.37 (K = 5) 4.62 against
/// 4.43 s; at 0.63 (K = 2) 5.60 against 4.75 s.
const DIRECT_ABOVE: f64 = 0.3;

/// A text key field waiting for its dictionary lookup: its column (among the text columns), its
/// text (none for a null), and its head and hash (see [`TextGather::hash`]).
type PendingText<'a> = (usize, Option<&'a [u8]>, Option<(u128, u64)>);

/// How one key column is coded: what a walk over the groups' keys gathers of it.
#[derive(Clone, Copy)]
enum Gather {
    /// A text column, the `n`th: its texts into a dictionary.
    Text(usize),
    /// An integer column, the `n`th: its values, and its smallest and largest.
    Int(usize, KeyRule),
    /// A float column, the `n`th: its values' ordered bits (its codes).
    Float(usize, KeyRule),
}

/// One partition's groups' fields, read by the walk: per text column their local codes, per
/// integer column their values (and the groups whose value is `i64::MIN`), per float column
/// their ordered bits (see [`GroupFields`]).
struct PartFields {
    texts: Vec<Vec<u32>>,
    ints: Vec<Vec<i64>>,
    mins: Vec<Vec<u32>>,
    floats: Vec<Vec<u64>>,
}

/// Every key column's coding (in key order), and every group's field of it. The partitions go in
/// a batch per thread, and every group's key is walked once, each field read once: a text hashed
/// into its batch's dictionary of the column (a table the size of the batch's distinct texts), an
/// integer parsed (and kept, and counted in the column's range), a float parsed into its ordered
/// bits. Then each text column's texts of every batch are sorted together, equal texts side by
/// side taking one rank. A column of a few texts sorts a few per thread; one of a text per group
/// each text once; one of many groups per text (an id under several keys) its distinct texts
/// once per thread, not once per partition. The groups' codes are then made from what the walk
/// kept, and the keys freed first (packing q10's 1e7 groups by reading every key a second time,
/// parsing its integers again, took 0.26-0.29 s; from the kept fields 0.15-0.21 s).
fn code_columns(parts: &[Part], kinds: &[Kind], rules: &[KeyRule]) -> Vec<(ColumnCode, GroupFields)> {
    let (mut n_text, mut n_int, mut n_float) = (0, 0, 0);
    let gather: Vec<Gather> = kinds
        .iter()
        .zip(rules)
        .map(|(kind, &rule)| match kind {
            Kind::Int => (Gather::Int(n_int, rule), n_int += 1).0,
            Kind::Float => (Gather::Float(n_float, rule), n_float += 1).0,
            _ => (Gather::Text(n_text), n_text += 1).0,
        })
        .collect();
    let per_batch = parts.len().div_ceil(rayon::current_num_threads().max(1)).max(1);
    // Per batch: per text column, its distinct texts; per integer column, its range; per
    // partition, its groups' fields.
    struct Batch<'a> {
        texts: Vec<Vec<&'a [u8]>>,
        ranges: Vec<(i64, i64)>,
        fields: Vec<PartFields>,
    }
    let batches: Vec<Batch> = parts
        .par_chunks(per_batch)
        .map(|parts| {
            let groups = parts.iter().map(|p| p.keys.len()).sum();
            let mut texts: Vec<TextGather> = (0..n_text).map(|_| TextGather::new(groups)).collect();
            let mut ranges = vec![(i64::MAX, i64::MIN); n_int];
            let fields = parts
                .iter()
                .map(|part| {
                    let n = part.keys.len();
                    fn column<T>(columns: usize, n: usize) -> Vec<Vec<T>> {
                        (0..columns).map(|_| Vec::with_capacity(n)).collect()
                    }
                    let mut f = PartFields {
                        texts: column(n_text, n),
                        ints: column(n_int, n),
                        mins: vec![Vec::new(); n_int],
                        floats: column(n_float, n),
                    };
                    // Groups a block at a time: each text hashed and its dictionary slot fetched
                    // ahead, then looked up (a dictionary of 1e5 texts outgrows the caches: its
                    // probes were most of the walk's time).
                    let mut pending: Vec<PendingText> = Vec::new();
                    for start in (0..n as u32).step_by(32) {
                        for id in start..(start + 32).min(n as u32) {
                            for (raw, g) in keys::raw_fields(part.keys.key(id)).zip(&gather) {
                                match (*g, raw) {
                                    (Gather::Text(t), raw) => {
                                        pending.push((t, raw, raw.and_then(|r| texts[t].hash(r))))
                                    }
                                    (Gather::Int(i, _), None) => f.ints[i].push(i64::MIN),
                                    (Gather::Int(i, rule), Some(raw)) => {
                                        let v = KeyField::int(raw, rule).expect("an integer column holds integers");
                                        let r = &mut ranges[i];
                                        *r = (r.0.min(v), r.1.max(v));
                                        if v == i64::MIN {
                                            f.mins[i].push(id);
                                        }
                                        f.ints[i].push(v);
                                    }
                                    (Gather::Float(i, _), None) => f.floats[i].push(NULL_CODE),
                                    (Gather::Float(i, rule), Some(raw)) => {
                                        let n = KeyField::number(raw, rule).expect("a float column holds numbers");
                                        f.floats[i].push(ordered_bits(n.num().as_f64()));
                                    }
                                }
                            }
                        }
                        for (t, raw, hashed) in pending.drain(..) {
                            f.texts[t].push(raw.map_or(u32::MAX, |raw| texts[t].code(raw, hashed)));
                        }
                    }
                    f
                })
                .collect();
            Batch { texts: texts.into_iter().map(|t| t.texts).collect(), ranges, fields }
        })
        .collect();
    let batch: Vec<usize> = (0..parts.len()).map(|p| p / per_batch).collect();
    // By column: each batch's texts, each partition's fields; each integer column's range.
    let mut texts: Vec<Vec<Vec<&[u8]>>> = vec![Vec::new(); n_text];
    let mut locals: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n_text];
    let mut ints: Vec<Vec<Vec<i64>>> = vec![Vec::new(); n_int];
    let mut mins: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n_int];
    let mut floats: Vec<Vec<Vec<u64>>> = vec![Vec::new(); n_float];
    let mut ranges = vec![(i64::MAX, i64::MIN); n_int];
    for b in batches {
        /// Each of a piece's columns appended to that column's pieces.
        fn by_column<T>(columns: Vec<T>, all: &mut [Vec<T>]) {
            columns.into_iter().zip(all).for_each(|(v, all)| all.push(v));
        }
        by_column(b.texts, &mut texts);
        for part in b.fields {
            by_column(part.texts, &mut locals);
            by_column(part.ints, &mut ints);
            by_column(part.mins, &mut mins);
            by_column(part.floats, &mut floats);
        }
        for (all, r) in ranges.iter_mut().zip(b.ranges) {
            *all = (all.0.min(r.0), all.1.max(r.1));
        }
    }
    gather
        .iter()
        .map(|g| match *g {
            Gather::Text(t) => {
                let (column, rank) = rank_texts(&texts[t]);
                let local = std::mem::take(&mut locals[t]);
                (column, GroupFields::Text(TextRanks { local, batch: batch.clone(), rank }))
            }
            Gather::Int(i, _) => {
                let (min, max) = if ranges[i].0 > ranges[i].1 { (0, 0) } else { ranges[i] };
                let (values, mins) = (std::mem::take(&mut ints[i]), std::mem::take(&mut mins[i]));
                // Values run 0..=max-min; the null's code is one above.
                let span = max.wrapping_sub(min) as u64;
                let coding = if span == u64::MAX {
                    // `i64::MIN` is a value here (the smallest): a null's `i64::MIN` is not kept.
                    let mut ranked: Vec<i64> =
                        values.iter().flatten().copied().filter(|&v| v != i64::MIN).chain([i64::MIN]).collect();
                    ranked.par_sort_unstable();
                    ranked.dedup();
                    Coding::IntRanks(ranked)
                } else {
                    Coding::Int { min }
                };
                let width = match &coding {
                    Coding::IntRanks(ranked) => bits_for(ranked.len() as u64),
                    _ => bits_for(span + 1),
                };
                (ColumnCode { coding, width }, GroupFields::Int { values, mins })
            }
            Gather::Float(i, _) => {
                (ColumnCode { coding: Coding::Float, width: 64 }, GroupFields::Float(std::mem::take(&mut floats[i])))
            }
        })
        .collect()
}

/// One text column's coding from each batch's distinct texts, and each batch's texts' ranks.
///
/// Every step runs on every thread: the texts gathered, sorted (equal texts of several batches
/// side by side, the first of them marked), and then read in pieces of the order, each piece
/// copying its distinct texts into a [`Texts`] of its own (joined after) and writing its places'
/// ranks, counted from the distinct texts of the pieces before. (Read on one thread, a column of
/// 4.3M distinct ids ranked in 0.46 s, its texts each a cache miss.)
fn rank_texts(batches: &[Vec<&[u8]>]) -> (ColumnCode, Vec<Vec<u32>>) {
    // A text, its batch and its place in the batch's texts.
    type Text<'t> = (&'t [u8], u32, u32);
    let batch_starts = starts(batches.iter().map(Vec::len));
    let total = batches.iter().map(Vec::len).sum::<usize>();
    let mut all: Vec<(u128, Text)> = (0..total)
        .into_par_iter()
        .map(|i| {
            let b = batch_starts.partition_point(|&s| s <= i) - 1;
            let l = i - batch_starts[b];
            (0, (batches[b][l], b as u32, l as u32))
        })
        .collect();
    let first = text_sort::sort_texts(&mut all, &|&(t, _, _): &Text| t, true);
    let mut rank: Vec<Vec<u32>> = batches.iter().map(|texts| vec![0; texts.len()]).collect();
    let pieces: Vec<Range<usize>> = (0..total).step_by(RANK_PIECE).map(|at| at..(at + RANK_PIECE).min(total)).collect();
    // The distinct texts before each piece: the rank of its first distinct text.
    let counts: Vec<usize> = pieces.par_iter().map(|r| first[r.clone()].iter().filter(|&&f| f).count()).collect();
    let bases = starts(counts.iter().copied());
    let to_rank: Vec<Shared<u32>> = rank.iter_mut().map(|r| Shared(r.as_mut_ptr())).collect();
    let piece_texts: Vec<Texts> = (pieces.into_par_iter().zip(bases).zip(counts))
        .map(|((piece, base), n)| {
            let mut texts = Texts::with_capacity(n);
            // The first place of the order is a first text: `code` is set before it is written.
            let mut code = base.wrapping_sub(1);
            for i in piece {
                let (_, (t, b, l)) = all[i];
                if first[i] {
                    // The texts are copied in order but lie at random: the next ones fetched ahead.
                    if let Some(&(_, (ahead, _, _))) = all.get(i + 16) {
                        super::table::prefetch(ahead, 0);
                    }
                    texts.push(t);
                    code = code.wrapping_add(1);
                }
                let code = u32::try_from(code).expect("fewer than 2^32 texts");
                // SAFETY: `l` is a place of batch `b`'s ranks, and `all` holds each batch's
                // places once: no other piece writes it.
                unsafe { to_rank[b as usize].at(l as usize).write(code) };
            }
            texts
        })
        .collect();
    let mut texts = Texts::with_capacity(piece_texts.iter().map(|t| t.ends.len()).sum());
    for piece in piece_texts {
        texts.append(piece);
    }
    let width = bits_for(texts.ends.len() as u64);
    (ColumnCode { coding: Coding::Text(texts), width }, rank)
}

/// Places of the sorted texts a piece of [`rank_texts`]' read-out.
const RANK_PIECE: usize = 1 << 16;

/// Every group's codes, packed into one integer when they fit (first key in the highest bits)
/// or kept in a table, beside its partition and id; sorted.
enum Order {
    /// Codes that fit 64 bits (most keys: a few columns of ids, words, small integers).
    Narrow(Vec<(u64, u32, u32)>),
    /// Codes that fit 128 bits.
    Packed(Vec<(u128, u32, u32)>),
    /// Wider codes: `n` per group in `table`, at the index the order's first field holds.
    Wide { order: Vec<(u64, u32, u32)>, table: Vec<u64>, n: usize },
}

impl Order {
    fn len(&self) -> usize {
        match self {
            Order::Narrow(o) | Order::Wide { order: o, .. } => o.len(),
            Order::Packed(o) => o.len(),
        }
    }

    /// The partition and id of the group at position `at`.
    fn group(&self, at: usize) -> Option<(u32, u32)> {
        match self {
            Order::Narrow(o) | Order::Wide { order: o, .. } => o.get(at).map(|&(_, p, id)| (p, id)),
            Order::Packed(o) => o.get(at).map(|&(_, p, id)| (p, id)),
        }
    }

    /// Whether the groups at positions `a` and `b` have equal codes (equal typed keys).
    fn same(&self, a: usize, b: usize) -> bool {
        match self {
            Order::Narrow(o) => o[a].0 == o[b].0,
            Order::Packed(o) => o[a].0 == o[b].0,
            Order::Wide { order, table, n } => {
                let (x, y) = (order[a].0 as usize * n, order[b].0 as usize * n);
                table[x..x + n] == table[y..y + n]
            }
        }
    }

    /// The codes of the group at position `at`, a column's each, into `out` (`fields` says where
    /// each column's code lies in a packed code: see [`packed_fields`]).
    #[inline]
    fn codes(&self, at: usize, fields: &[(u32, u64)], out: &mut Vec<u64>) {
        out.clear();
        match self {
            Order::Narrow(o) => out.extend(fields.iter().map(|&(shift, mask)| (o[at].0 >> shift) & mask)),
            Order::Packed(o) => out.extend(fields.iter().map(|&(shift, mask)| (o[at].0 >> shift) as u64 & mask)),
            Order::Wide { order, table, n } => {
                let i = order[at].0 as usize * n;
                out.extend_from_slice(&table[i..i + n]);
            }
        }
    }

    /// The code of column `c` of the group at position `at` (see [`Order::codes`]).
    #[inline]
    fn code(&self, at: usize, fields: &[(u32, u64)], c: usize) -> u64 {
        let (shift, mask) = fields[c];
        match self {
            Order::Narrow(o) => (o[at].0 >> shift) & mask,
            Order::Packed(o) => (o[at].0 >> shift) as u64 & mask,
            Order::Wide { order, table, n } => table[order[at].0 as usize * n + c],
        }
    }
}

/// Where each column's code lies in a packed code (the first column in the highest bits): its
/// shift and mask. (Unused for wide codes, which are not packed.)
fn packed_fields(columns: &[ColumnCode]) -> Vec<(u32, u64)> {
    let mut shift: u32 = columns.iter().map(|c| c.width).sum();
    columns
        .iter()
        .map(|col| {
            shift -= col.width;
            match col.width {
                // A column of nulls alone: its one code is 0.
                0 => (0, 0),
                64.. => (shift, u64::MAX),
                w => (shift, (1u64 << w) - 1),
            }
        })
        .collect()
}

/// Every group's packed code, in partition and id order (in parallel over the partitions, each
/// partition's groups in order), written in place: each partition's codes into its own range
/// of one vector. Collected from a parallel flat map instead, the codes were gathered per
/// thread and then copied into one vector on one thread (with 1e7 groups, a serial 0.4 s, most
/// of it faulting in the new vector's pages).
fn packed_codes<K: Send + Copy + Default>(lens: &[usize], pack: impl Fn(usize, u32) -> K + Sync) -> Vec<K> {
    let mut codes = vec![K::default(); lens.iter().sum()];
    split_by_sizes(&mut codes, lens).into_par_iter().enumerate().for_each(|(p, out)| {
        for (id, code) in out.iter_mut().enumerate() {
            *code = pack(p, id as u32);
        }
    });
    codes
}

/// About the groups of a bucket in [`sort_by_codes`]: their entries fit a core's cache.
const BUCKET: usize = 8192;

/// The groups sorted by their packed codes (`codes`, in partition and id order; `lens` groups a
/// partition): each group's code, partition and id.
///
/// A radix partition and a sort per bucket: the top bits of the codes' range cut the groups into
/// buckets of a few thousand, one pass over each partition's codes (in order, writing each to its
/// bucket's next place) fills the buckets, and each bucket is sorted in cache. Equal codes (equal
/// typed keys of different partitions) keep the partitions' order.
///
/// The groups' states stay where they are, read at random in key order as the groups are
/// written, fetched ahead (see [`Sorted::each_group`]). Copying each group's row of fixed-size
/// states into the order here (and freeing the partitions' rows) was slower once those reads
/// were fetched ahead, and a row of memory more per group at the peak: q10 of the db-benchmark
/// (1e7 groups), 5 alternating rounds: 457-465k page faults a run against 560-572k; `corr(v1,v2),
/// sum(v3) by id3` at K = 2 (4.3M groups of 24-word rows) 4.18 -> 3.83 s, peak RSS 2819 -> 1888
/// MiB.
fn sort_by_codes<K>(codes: Vec<K>, lens: &[usize]) -> Vec<(K, u32, u32)>
where
    K: Copy + Ord + Send + Sync + Default + Into<u128>,
{
    let n = codes.len();
    // The buckets cut the codes' range by its top bits, not all of `0..2^total`: a float
    // column's codes (its values' ordered bits) lie in a sliver of theirs, and cut by the top
    // bits of all 64, the values between 64 and 100 fell in one bucket, sorted by one thread.
    let (lo, hi) = (codes.par_iter())
        .fold(|| (u128::MAX, 0), |(lo, hi), &k| (lo.min(k.into()), hi.max(k.into())))
        .reduce(|| (u128::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let span = 128 - hi.saturating_sub(lo).leading_zeros();
    let bits = (n / BUCKET).next_power_of_two().trailing_zeros().min(span).min(12);
    let n_buckets = 1usize << bits;
    let bucket = |k: K| (((k.into() - lo) >> (span - bits)) as usize).min(n_buckets - 1);
    let starts = starts(lens.iter().copied());
    let codes_of = |p: usize| &codes[starts[p]..starts[p] + lens[p]];
    let mut counts: Vec<Vec<usize>> = (0..lens.len())
        .into_par_iter()
        .map(|p| {
            let mut h = vec![0usize; n_buckets];
            codes_of(p).iter().for_each(|&k| h[bucket(k)] += 1);
            h
        })
        .collect();
    // Each partition's first place in each bucket: the bucket's start, after the partitions before.
    let mut sizes = vec![0usize; n_buckets];
    let mut at = 0;
    for (b, size) in sizes.iter_mut().enumerate() {
        let start = at;
        for h in &mut counts {
            at += std::mem::replace(&mut h[b], at);
        }
        *size = at - start;
    }
    let mut order: Vec<(K, u32, u32)> = Vec::with_capacity(n);
    let to_order = Shared(order.as_mut_ptr());
    counts.into_par_iter().enumerate().for_each(|(p, mut next)| {
        for (id, &k) in codes_of(p).iter().enumerate() {
            let b = bucket(k);
            let i = next[b];
            next[b] += 1;
            // SAFETY: `i` is below `n`, and no other group of any partition is given it: the
            // partitions' places in a bucket are its counts of them, laid side by side, the
            // buckets back to back from 0 to `n` (the same `bucket` of the same codes). So every
            // entry of `0..n` is written once, by one thread, before the length is set.
            unsafe { to_order.at(i).write((k, p as u32, id as u32)) };
        }
    });
    drop(codes);
    // SAFETY: every entry written (above).
    unsafe { order.set_len(n) };
    split_by_sizes(&mut order, &sizes).into_par_iter().for_each(sort_bucket);
    order
}

/// Sorts a bucket's entries by code (then by place, keeping equal codes in the order they came).
fn sort_bucket<K>(entries: &mut [(K, u32, u32)])
where
    K: Copy + Ord + Send + Default + Into<u128>,
{
    if entries.len() < 2 {
        return;
    }
    let sorted: Vec<(K, u32, u32)> = sorted_places(entries).iter().map(|&(_, i)| entries[i as usize]).collect();
    entries.copy_from_slice(&sorted);
}

/// A bucket's codes, each with its place in the bucket, in order of code and then place.
///
/// One more radix pass rather than a comparison sort: the codes' range in the bucket is cut by
/// its top bits into the least power of two of slots above the number of codes (one to two slots
/// a code; fewer when the range is narrower), each code counted into its slot and then placed
/// there in the order the codes came, so that most slots hold one code and the few that hold
/// more are sorted alone. (Sorting each of q10's 4096 buckets of ~2,400 groups
/// by comparisons, eleven a code, each branch a coin toss, was a quarter of ordering 1e7 groups.)
fn sorted_places<K>(entries: &[(K, u32, u32)]) -> Vec<(K, u32)>
where
    K: Copy + Ord + Send + Default + Into<u128>,
{
    let n = entries.len();
    let mut by: Vec<(K, u32)> = entries.iter().enumerate().map(|(i, e)| (e.0, i as u32)).collect();
    // A bucket of most of the groups (keys whose top bits are mostly the same) sorts on every core.
    if n > 1 << 16 {
        by.par_sort_unstable();
        return by;
    }
    if n <= 32 {
        by.sort_unstable();
        return by;
    }
    let (lo, hi) = by.iter().fold((u128::MAX, 0), |(lo, hi), &(k, _)| (lo.min(k.into()), hi.max(k.into())));
    let span = 128 - (hi - lo).leading_zeros();
    if span == 0 {
        // One code: the places are in order already.
        return by;
    }
    let bits = (usize::BITS - n.leading_zeros()).min(span);
    let slot = |k: K| ((k.into() - lo) >> (span - bits)) as usize;
    let mut starts = vec![0u32; (1 << bits) + 1];
    for &(k, _) in &by {
        starts[slot(k) + 1] += 1;
    }
    for s in 1..starts.len() {
        starts[s] += starts[s - 1];
    }
    let mut placed = vec![(K::default(), 0u32); n];
    let mut next = starts.clone();
    for &(k, i) in &by {
        let s = slot(k);
        placed[next[s] as usize] = (k, i);
        next[s] += 1;
    }
    for w in starts.windows(2) {
        let run = &mut placed[w[0] as usize..w[1] as usize];
        match run.len() {
            0 | 1 => {}
            2..=16 => insertion_sort(run),
            _ => run.sort_unstable(),
        }
    }
    placed
}

/// Sorts a few elements by moving each back past the larger ones before it.
fn insertion_sort<T: Copy + Ord>(run: &mut [T]) {
    for j in 1..run.len() {
        let x = run[j];
        let mut k = j;
        while k > 0 && run[k - 1] > x {
            run[k] = run[k - 1];
            k -= 1;
        }
        run[k] = x;
    }
}

/// A vector's start, for threads that each write their own places of it.
struct Shared<T>(*mut T);

// SAFETY: the threads write disjoint places (see `sort_by_codes`), each `T` sent to its place.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The place `i` from the start.
    ///
    /// # Safety
    /// `i` must be within the vector's capacity.
    unsafe fn at(&self, i: usize) -> *mut T {
        // SAFETY: as the caller promises.
        unsafe { self.0.add(i) }
    }
}

/// Every group's codes packed (in partition and id order), or sorted in a table.
enum Codes {
    Narrow(Vec<u64>),
    Packed(Vec<u128>),
    Wide(Order),
}

/// The groups of a run in memory, in key order.
struct Sorted {
    parts: Vec<Part>,
    columns: Vec<ColumnCode>,
    order: Order,
    /// Where each column's code lies in a packed code.
    unpack: Vec<(u32, u64)>,
    aggs: Aggs,
    /// The text columns of more texts than the caches keep, whose texts are fetched ahead as the
    /// groups' states are.
    big_texts: Vec<usize>,
}

impl Sorted {
    fn new(layout: &Layout, info: &ChunkInfo, mut parts: Vec<Part>, aggs: Aggs) -> Sorted {
        // The groups are only read from here: their tables go before the order is made.
        parts.iter_mut().for_each(|p| p.keys.drop_table());
        let kinds: Vec<Kind> = layout.keys.iter().map(|&k| info.kinds[k]).collect();
        let (columns, fields): (Vec<ColumnCode>, Vec<GroupFields>) =
            code_columns(&parts, &kinds, &layout.key_rules).into_iter().unzip();
        // The keys are read through their codes from here.
        let lens: Vec<usize> = parts.iter().map(|p| p.keys.len()).collect();
        parts.iter_mut().for_each(|p| p.keys = Keys::default());
        let total: u32 = columns.iter().map(|c| c.width).sum();
        let code = |c: usize, p: usize, id: u32| fields[c].code(&columns[c], p, id);
        let pack = |p: usize, id: u32| {
            (0..columns.len()).fold(0u128, |acc, c| acc << columns[c].width | u128::from(code(c, p, id)))
        };
        let codes = if total <= 64 {
            Codes::Narrow(packed_codes(&lens, |p, id| pack(p, id) as u64))
        } else if total <= 128 {
            Codes::Packed(packed_codes(&lens, pack))
        } else {
            // Too wide to pack: sort indices into a table of codes.
            let n = columns.len();
            let mut table = Vec::new();
            let mut order = Vec::new();
            for (p, &len) in lens.iter().enumerate() {
                for id in 0..len as u32 {
                    order.push((order.len() as u64, p as u32, id));
                    table.extend((0..n).map(|c| code(c, p, id)));
                }
            }
            order.par_sort_unstable_by(|a, b| {
                let (x, y) = (a.0 as usize * n, b.0 as usize * n);
                table[x..x + n].cmp(&table[y..y + n]).then((a.1, a.2).cmp(&(b.1, b.2)))
            });
            Codes::Wide(Order::Wide { order, table, n })
        };
        drop(fields);
        let order = match codes {
            Codes::Narrow(codes) => Order::Narrow(sort_by_codes(codes, &lens)),
            Codes::Packed(codes) => Order::Packed(sort_by_codes(codes, &lens)),
            Codes::Wide(order) => order,
        };
        let big_texts = (columns.iter().enumerate())
            .filter(|(_, c)| matches!(&c.coding, Coding::Text(t) if t.entries.len() > BIG_TEXTS))
            .map(|(i, _)| i)
            .collect();
        let unpack = packed_fields(&columns);
        Sorted { parts, columns, order, unpack, aggs, big_texts }
    }

    /// The order cut into blocks of about `max` groups (never splitting groups with equal typed
    /// keys), to be read out in turn by [`Sorted::rows_of`], which can run on any thread.
    fn blocks(&self, max: usize) -> Vec<Range<usize>> {
        let (mut start, len) = (0, self.order.len());
        let mut blocks = Vec::new();
        while start < len {
            let mut end = (start + max.max(1)).min(len);
            while end < len && self.order.same(end - 1, end) {
                end += 1;
            }
            blocks.push(start..end);
            start = end;
        }
        blocks
    }

    /// Calls `f` with each group at `block` of the order (one of [`Sorted::blocks`]): its key's
    /// codes and its states (merged over its copies, for groups whose typed keys are equal).
    fn each_group(&self, block: Range<usize>, mut f: impl FnMut(&[u64], GroupStates<'_>)) {
        // A group's codes and merged states, in buffers kept across the block's groups.
        let (mut codes, mut merged) = (Vec::new(), Vec::new());
        let mut at = block.start;
        // Groups are read in key order, their states at random (see `sort_by_codes`): fetched
        // ahead, 32 groups at a time, so that the prefetches (each mostly a TLB miss, whose page
        // walk holds the instruction back) are in flight together rather than one after each
        // row's work.
        let mut fetched = at;
        while at < block.end {
            if at + 16 >= fetched {
                let to = (at + 48).min(self.order.len());
                for i in fetched.max(at)..to {
                    let (p, id) = self.order.group(i).expect("a group of the order");
                    self.parts[p as usize].states.prefetch(id);
                    for &c in &self.big_texts {
                        if let Coding::Text(texts) = &self.columns[c].coding {
                            texts.prefetch(self.order.code(i, &self.unpack, c) as usize);
                        }
                    }
                }
                fetched = to;
            }
            let (states, id) = self.group_at(at);
            self.order.codes(at, &self.unpack, &mut codes);
            if at + 1 == block.end || !self.order.same(at, at + 1) {
                at += 1;
                f(&codes, GroupStates::One(states, id));
                continue;
            }
            GroupStates::One(states, id).states(self.aggs.funcs.len(), &mut merged);
            let mut end = at + 1;
            while end < block.end && self.order.same(at, end) {
                let (other, id) = self.group_at(end);
                for (agg, state) in merged.iter_mut().enumerate() {
                    state.merge(other.state(agg, id));
                }
                end += 1;
            }
            at = end;
            f(&codes, GroupStates::Merged(&mut merged));
        }
    }

    /// The group at position `at` of the order: its partition's states and its id.
    #[inline]
    fn group_at(&self, at: usize) -> (&States, u32) {
        let (p, id) = self.order.group(at).expect("a group of the order");
        (&self.parts[p as usize].states, id)
    }

    /// The rows of the groups at `block` of the order (one of [`Sorted::blocks`]).
    fn rows_of(&self, block: Range<usize>) -> Vec<Vec<Value>> {
        let mut rows = Vec::with_capacity(block.len());
        self.each_group(block, |codes, group| {
            let keys = codes.iter().zip(&self.columns).map(|(&c, col)| col.value(c)).collect();
            self.aggs.push_rows(keys, group, &mut rows);
        });
        rows
    }

    /// Writes a group's key fields from their codes.
    #[inline]
    fn write_keys(&self, w: &mut Delimited, out: &mut Vec<u8>, codes: &[u64]) {
        for (&c, col) in codes.iter().zip(&self.columns) {
            col.write(w, out, c);
        }
    }

    /// The rows of the groups at `block` as CSV (or TSV, by `delimiter`) records, written from
    /// the codes and states with no value made per key field (the same bytes as writing
    /// [`Sorted::rows_of`]'s rows).
    fn delimited_of(&self, block: Range<usize>, delimiter: u8) -> Vec<u8> {
        let mut w = Delimited::new(delimiter);
        // About a dozen bytes a field, so that a block's buffer seldom grows (and is copied).
        let mut out = Vec::with_capacity(block.len() * 12 * (self.columns.len() + self.aggs.funcs.len()));
        let mut values = Vec::new();
        self.each_group(block, |codes, group| {
            self.aggs.write_records(&mut w, &mut out, group, &mut values, |w, out| self.write_keys(w, out, codes));
        });
        out
    }
}

/// Whether the groups' keys can be written as the input spelled them, unsorted (`--unordered`):
/// every key column is text (or nulls alone), or integers each spelled as pframe prints it. Then
/// two groups' keys are equal as typed values only if they are equal as bytes, and no two groups
/// need merging. A float column (`7.0` and `7`, `1e3` and `1000`) or an integer spelled otherwise
/// (`07`) is typed and sorted as usual.
fn raw_keys(layout: &Layout, info: &ChunkInfo) -> bool {
    layout.keys.iter().all(|&k| match info.kinds[k] {
        Kind::Null | Kind::Str => true,
        Kind::Int => !info.odd_keys[k],
        Kind::Float => false,
    })
}

/// The groups of a run in memory, unsorted: partition after partition, each partition's groups
/// in the order they were made, their key fields written as they were read (see [`raw_keys`]).
struct Unordered {
    parts: Vec<Part>,
    /// Where each partition's groups start in the read-out (one more than the partitions).
    starts: Vec<usize>,
    /// Per key column, whether it is of integers (its fields are numbers in a row of values).
    ints: Vec<bool>,
    aggs: Aggs,
}

impl Unordered {
    fn new(layout: &Layout, info: &ChunkInfo, mut parts: Vec<Part>, aggs: Aggs) -> Unordered {
        // The groups are only read from here.
        parts.iter_mut().for_each(|p| p.keys.drop_table());
        let starts = starts(parts.iter().map(|p| p.keys.len()).chain([0]));
        let ints = layout.keys.iter().map(|&k| info.kinds[k] == Kind::Int).collect();
        Unordered { parts, starts, ints, aggs }
    }

    /// The groups cut into blocks of `max`, to be read out in turn.
    fn blocks(&self, max: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let (n, max) = (*self.starts.last().expect("a start past the last partition"), max.max(1));
        (0..n).step_by(max).map(move |start| start..(start + max).min(n))
    }

    /// Calls `f` with each group at `block` of the read-out: its partition and its id.
    fn each_group(&self, block: Range<usize>, mut f: impl FnMut(&Part, u32)) {
        let mut p = self.starts.partition_point(|&s| s <= block.start) - 1;
        for at in block {
            while at >= self.starts[p + 1] {
                p += 1;
            }
            f(&self.parts[p], (at - self.starts[p]) as u32);
        }
    }

    /// The rows of the groups at `block`.
    fn rows_of(&self, block: Range<usize>) -> Vec<Vec<Value>> {
        let mut rows = Vec::with_capacity(block.len());
        self.each_group(block, |part, id| {
            let keys = (keys::raw_fields(part.keys.key(id)).zip(&self.ints))
                .map(|(raw, &int)| match raw {
                    None => Value::Null,
                    Some(raw) if int => {
                        Value::Int(KeyField::int(raw, KeyRule::Inferred).expect("an integer column holds integers"))
                    }
                    // Key fields were checked to be UTF-8 when their groups were made.
                    Some(raw) => Value::Str(String::from_utf8_lossy(raw).into_owned()),
                })
                .collect();
            self.aggs.push_rows(keys, GroupStates::One(&part.states, id), &mut rows);
        });
        rows
    }

    /// The rows of the groups at `block` as CSV (or TSV, by `delimiter`) records: the same bytes
    /// as writing [`Unordered::rows_of`]'s rows.
    fn delimited_of(&self, block: Range<usize>, delimiter: u8) -> Vec<u8> {
        let mut w = Delimited::new(delimiter);
        let mut out = Vec::with_capacity(block.len() * 12 * (self.ints.len() + self.aggs.funcs.len()));
        let mut values = Vec::new();
        self.each_group(block, |part, id| {
            let key = part.keys.key(id);
            let keys = |w: &mut Delimited, out: &mut Vec<u8>| {
                for (raw, &int) in keys::raw_fields(key).zip(&self.ints) {
                    match raw {
                        None => w.text(out, b""),
                        // Digits: nothing to quote.
                        Some(raw) if int => w.plain(out, raw),
                        Some(raw) => w.text(out, raw),
                    }
                }
            };
            self.aggs.write_records(&mut w, &mut out, GroupStates::One(&part.states, id), &mut values, keys);
        });
        out
    }
}

impl Aggs {
    /// A group's aggregate values from its states, into `values`; a top_k or bottom_k gives a row
    /// per value: its position among the aggregates is returned with the values (its place in
    /// `values` holds a null, which is the row when the group has none).
    ///
    /// A group's own states that are not fixed-size (first, last, n_unique, std...) are read where
    /// they are, not copied: copying each group's set of distinct values to count them was most
    /// of an `n_unique` over 1e5 groups.
    fn values(&self, group: GroupStates<'_>, values: &mut Vec<Value>) -> Option<(usize, Vec<Value>)> {
        values.clear();
        let mut list = None;
        let mut push = |agg: usize, state: Cow<'_, State>| {
            let (func, kind) = (self.funcs[agg], self.kinds[agg]);
            match &*state {
                State::Top { vals, .. } => {
                    list = Some((values.len(), vals.iter().map(|&n| num_value(n, kind)).collect()));
                    values.push(Value::Null);
                }
                _ => values.push(agg_value(func, kind, state)),
            }
        };
        match group {
            GroupStates::One(states, id) => (0..self.funcs.len()).for_each(|agg| push(agg, states.state_ref(agg, id))),
            GroupStates::Merged(merged) => merged.drain(..).enumerate().for_each(|(agg, s)| push(agg, Cow::Owned(s))),
        }
        list
    }

    /// Writes a group's records as CSV or TSV (one, or one per value of a top_k or bottom_k): its
    /// key fields, written by `keys`, then its aggregates' values; `values` is a buffer kept
    /// across groups.
    #[inline]
    fn write_records(
        &self,
        w: &mut Delimited,
        out: &mut Vec<u8>,
        group: GroupStates<'_>,
        values: &mut Vec<Value>,
        keys: impl Fn(&mut Delimited, &mut Vec<u8>),
    ) {
        // Counts, sums and means of a group with no copy: written from its row of states.
        if let (GroupStates::One(states, id), true) = (&group, self.scalar) {
            keys(w, out);
            for (agg, (&func, &kind)) in self.funcs.iter().zip(&self.kinds).enumerate() {
                match states.scalar(agg, *id).expect("a count, sum or mean") {
                    Scalar::Count(n) => w.number(out, Number::UInt(n)),
                    Scalar::Moments(m) => w.value(out, &moments_value(func, kind, &m)),
                }
            }
            return w.end(out);
        }
        let list = self.values(group, values);
        let mut record = |listed: Option<(usize, &Value)>| {
            keys(w, out);
            for (i, v) in values.iter().enumerate() {
                match listed {
                    Some((at, listed)) if at == i => w.value(out, listed),
                    _ => w.value(out, v),
                }
            }
            w.end(out);
        };
        match &list {
            Some((at, listed)) if !listed.is_empty() => listed.iter().for_each(|v| record(Some((*at, v)))),
            _ => record(None),
        }
    }

    /// Appends a group's rows (one, or one per value of a top_k or bottom_k) to `rows`: its key
    /// values, then its aggregates' values.
    fn push_rows(&self, mut row: Vec<Value>, group: GroupStates<'_>, rows: &mut Vec<Vec<Value>>) {
        let mut aggs = Vec::with_capacity(self.funcs.len());
        let list = self.values(group, &mut aggs);
        let at = row.len();
        row.append(&mut aggs);
        match list {
            Some((i, values)) if !values.is_empty() => {
                for v in values {
                    let mut r = row.clone();
                    r[at + i] = v;
                    rows.push(r);
                }
            }
            _ => rows.push(row),
        }
    }
}

fn num_value(n: Num, kind: Kind) -> Value {
    match (n, kind) {
        (Num::Int(i), Kind::Int) => Value::Int(i),
        (n, _) => Value::Float(n.as_f64()),
    }
}

/// The value of a sum, mean, variance or standard deviation from its moments.
fn moments_value(func: AggFn, kind: Kind, m: &Moments) -> Value {
    let opt_f = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
    match func {
        // An integer sum beyond i64 (or beyond 128 bits, then held as an exact float sum) prints
        // as a float, correctly rounded.
        AggFn::Sum if kind == Kind::Int || kind == Kind::Null => match i64::try_from(m.int_sum) {
            Ok(i) if m.sum.is_zero() => Value::Int(i),
            _ => Value::Float(m.float_sum()),
        },
        AggFn::Sum => Value::Float(m.float_sum()),
        AggFn::Mean => opt_f(m.mean()),
        AggFn::Var => opt_f(m.var()),
        _ => opt_f(m.std()),
    }
}

/// The value of an aggregation from its state, read in place where it is borrowed (a median's
/// values are copied to be selected from).
fn agg_value(func: AggFn, kind: Kind, state: Cow<'_, State>) -> Value {
    let opt_f = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
    match &*state {
        &State::Rows(n) | &State::Count(n) => Value::UInt(n),
        State::Moments(m) => moments_value(func, kind, m),
        State::Extreme { num, text, .. } => match kind {
            Kind::Int | Kind::Float => num.map_or(Value::Null, |n| num_value(n, kind)),
            _ => text.as_deref().map_or(Value::Null, |t| Value::Str(t.into())),
        },
        State::First(s) | State::Last(s) => s.as_ref().map_or(Value::Null, |s| match (kind, s.num) {
            (Kind::Int | Kind::Float, Some(n)) => num_value(n, kind),
            _ => Value::Str((*s.text).into()),
        }),
        State::Median(_) => {
            let State::Median(mut vs) = state.into_owned() else { unreachable!("a median's state") };
            if vs.is_empty() {
                return Value::Null;
            }
            // The values at two neighbouring ranks, found by selection rather than a sort: the
            // value of rank `k`, then the smallest of those above it.
            let n = vs.len();
            let order = |a: &Num, b: &Num| a.as_f64().total_cmp(&b.as_f64());
            let mut ranks = |k: usize| {
                let (_, &mut at, above) = vs.select_nth_unstable_by(k, order);
                let next = above.iter().copied().min_by(order).unwrap_or(at);
                (at.as_f64(), next.as_f64())
            };
            let m = match func {
                AggFn::Quantile(p) => {
                    // Linear interpolation between the two nearest ranks, as pandas' default.
                    let at = p.get() * (n - 1) as f64;
                    let (lo, frac) = (at.floor() as usize, at - at.floor());
                    let (a, b) = ranks(lo);
                    if frac == 0.0 { a } else { a + (b - a) * frac }
                }
                _ if n % 2 == 1 => ranks(n / 2).0,
                _ => {
                    let (a, b) = ranks(n / 2 - 1);
                    (a + b) / 2.0
                }
            };
            Value::Float(m)
        }
        State::Corr(m) => opt_f(m.correlation()),
        State::Top { vals, .. } => vals.first().map_or(Value::Null, |&n| num_value(n, kind)),
        State::Unique { text, nums } => {
            Value::UInt(if matches!(kind, Kind::Int | Kind::Float) { nums.len() } else { text.len() } as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bucket's codes come out in order of code and then place, as a comparison sort gives
    /// them: of every size around the cut-offs, codes spread, clustered, skewed (one code for
    /// most, a far outlier), equal, and wider than 64 bits.
    #[test]
    fn sorted_places_is_a_sort_by_code_then_place() {
        let mut rng = <rand_pcg::Pcg64Mcg as rand::SeedableRng>::seed_from_u64(11);
        let mut next = move || rand::RngCore::next_u64(&mut rng);
        fn check<K: Copy + Ord + Send + Default + Into<u128> + std::fmt::Debug>(codes: &[K], what: &str) {
            let entries: Vec<(K, u32, u32)> = codes.iter().map(|&k| (k, 0, 0)).collect();
            let mut expected: Vec<(K, u32)> = codes.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            expected.sort();
            assert_eq!(sorted_places(&entries), expected, "{what}, {} codes", codes.len());
        }
        for n in [2, 31, 32, 33, 100, 2441, 5000, 70_000] {
            let spread: Vec<u64> = (0..n).map(|_| next()).collect();
            check(&spread, "spread");
            let narrow: Vec<u64> = (0..n).map(|_| (1 << 40) | (next() % 7)).collect();
            check(&narrow, "seven codes");
            let skewed: Vec<u64> =
                (0..n).map(|i| if i % 97 == 5 { u64::MAX - i as u64 } else { 1000 + next() % 3 }).collect();
            check(&skewed, "skewed");
            check(&vec![42u64; n], "equal");
            let runs: Vec<u64> = (0..n as u64).map(|i| (i / 20) * 1_000_003 + next() % 4).collect();
            check(&runs, "clustered");
            let wide: Vec<u128> = (0..n).map(|_| u128::from(next()) << 64 | u128::from(next() % 5)).collect();
            check(&wide, "128-bit");
        }
    }

    /// Sorting by codes gives every group once, in code order (equal codes in partition and id
    /// order), each with its own code: with one bucket, with thousands, with more buckets than
    /// the codes' bits allow, and with codes whose top bits are all the same.
    #[test]
    fn sort_by_codes_gives_every_group_in_order() {
        let mut rng = <rand_pcg::Pcg64Mcg as rand::SeedableRng>::seed_from_u64(7);
        let mut next = move || rand::RngCore::next_u64(&mut rng);
        // A total of 64: codes of floats, the ordered bits of values between 0 and 100.
        for (groups, total, top_same) in
            [(5, 10, false), (70_000, 40, false), (40_000, 3, false), (60_000, 30, true), (90_000, 64, false)]
        {
            let mut codes = Vec::new();
            let mut lens = vec![0; 5];
            for (p, len) in lens.iter_mut().enumerate() {
                for _ in 0..groups / 5 + p {
                    // Few distinct codes, so that equal ones come from many partitions.
                    let code = match total {
                        64 => ordered_bits((next() % (groups as u64 / 3)) as f64 * 100.0 / (groups / 3) as f64),
                        _ => next() % (groups as u64 / 3).max(2) % (1 << total),
                    };
                    let code = if top_same { code | 1 << (total - 1) } else { code };
                    codes.push(code);
                    *len += 1;
                }
            }
            let n = codes.len();
            let order = sort_by_codes(codes.clone(), &lens);
            assert_eq!(order.len(), n);
            // Strictly increasing (code, partition, id): every group once, in order.
            assert!(order.windows(2).all(|w| (w[0].0, w[0].1, w[0].2) < (w[1].0, w[1].1, w[1].2)), "{groups} groups");
            let starts = crate::engine::pieces::starts(lens.iter().copied());
            for &(code, p, id) in &order {
                assert!((id as usize) < lens[p as usize], "a group of partition {p}");
                assert_eq!(code, codes[starts[p as usize] + id as usize]);
            }
        }
    }

    /// The dictionary gives equal texts one code and different texts different codes: texts of
    /// every length around the 16 bytes a slot holds, sharing their heads, across its growth.
    #[test]
    fn text_dict_codes_texts() {
        let mut owned: Vec<Vec<u8>> = Vec::new();
        for n in 0..3000u32 {
            let len = (n % 41) as usize;
            let mut t = vec![b'x'; len];
            // The last bytes differ; texts over 16 bytes share their first 16.
            for (i, b) in n.to_le_bytes().iter().enumerate() {
                if len > i {
                    t[len - 1 - i] = *b;
                }
            }
            owned.push(t);
        }
        let mut dict = TextDict::default();
        let mut texts: Vec<&[u8]> = Vec::new();
        let mut expected = std::collections::HashMap::new();
        for round in 0..2 {
            for t in &owned {
                let code = dict.code(t, TextDict::hashed(t), &mut texts);
                let first = *expected.entry(t.as_slice()).or_insert(code);
                assert_eq!(code, first, "round {round}: {t:?}");
                assert_eq!(texts[code as usize], t.as_slice());
            }
        }
        assert_eq!(dict.len(), expected.len());
        assert_eq!(texts.len(), expected.len());
    }

    /// Ranks follow the texts' order, equal texts (from any batch) taking one rank, whether they
    /// are told apart by their heads, their lengths or bytes past the first 16.
    #[test]
    fn rank_texts_orders_and_merges() {
        let words: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"a\0",
            b"ab",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
            b"abcdefghijklmnopqr",
            b"b",
            b"abcdefgh",
            b"abcdefghi",
        ];
        let batches: Vec<Vec<&[u8]>> =
            vec![words.clone(), vec![], words.iter().rev().copied().collect(), vec![], words[3..7].to_vec()];
        let (column, rank) = rank_texts(&batches);
        let Coding::Text(texts) = &column.coding else { panic!("a text column") };
        let mut sorted = words.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(texts.ends.len(), sorted.len());
        for (b, batch) in batches.iter().enumerate() {
            for (l, t) in batch.iter().enumerate() {
                let r = rank[b][l] as usize;
                assert_eq!(sorted[r], *t, "batch {b} text {l}");
                assert_eq!(texts.get(r), *t);
            }
        }
    }

    /// Ranked in pieces of the order on several threads: texts shared by the batches, so that
    /// the pieces' edges fall inside runs of equal texts, and the ranks of every place are those
    /// of the distinct texts in order, as are the texts kept (and whether each is plain).
    #[test]
    fn rank_texts_in_pieces() {
        let n = 3 * RANK_PIECE + 17;
        let text = |i: usize| format!("k{:07}{}", (i * 7919) % n, if i % 5 == 0 { "," } else { "" }).into_bytes();
        let owned: Vec<Vec<Vec<u8>>> = vec![
            (0..n).map(text).collect(),
            (0..n).step_by(3).map(text).collect(),
            (0..n / 2).rev().map(text).collect(),
        ];
        let batches: Vec<Vec<&[u8]>> = owned.iter().map(|b| b.iter().map(Vec::as_slice).collect()).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let (column, rank) = pool.install(|| rank_texts(&batches));
        let Coding::Text(texts) = &column.coding else { panic!("a text column") };
        let mut sorted: Vec<&[u8]> = batches.iter().flatten().copied().collect();
        sorted.sort();
        sorted.dedup();
        assert_eq!(texts.ends.len(), sorted.len());
        for (r, t) in sorted.iter().enumerate() {
            assert_eq!(texts.get(r), *t);
            assert_eq!(texts.text(r), (*t, !t.contains(&b',')), "text {r}");
        }
        for (b, batch) in batches.iter().enumerate() {
            for (l, t) in batch.iter().enumerate() {
                assert_eq!(sorted[rank[b][l] as usize], *t, "batch {b} text {l}");
            }
        }
    }
}
