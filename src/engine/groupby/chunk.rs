//! One chunk's share of a group-by: its records (split by the input layer's dialect, or by
//! polars' reader for the polars engine, or as JSON lines) aggregated into the worker's
//! [`Store`] (encoded keys and states, kept across chunks), and what the chunk taught about the
//! columns ([`ChunkInfo`]: types, first text value, lines), which is merged in input order.

use std::sync::{Mutex, MutexGuard};

use super::GroupByPlan;
use super::keys::{self, KeyRule};
use super::states::States;
use super::table::{Keys, Partitioned, hash_key};
use crate::agg::groupby::{Kind, Num, RowPos};
use crate::input::dialect::{self, Fault};
use crate::input::value::{NullValues, declared_mismatch, looks_null, read_field};

/// The columns a query touches, resolved against a header.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub width: usize,
    /// Header indices of the used columns.
    pub used: Vec<usize>,
    pub names: Vec<String>,
    /// Positions in `used` of the key columns, and of each aggregation's column.
    pub keys: Vec<usize>,
    pub agg_cols: Vec<Option<usize>>,
    /// Positions in `used` of each aggregation's second column (`corr`'s).
    pub agg_cols2: Vec<Option<usize>>,
    /// Positions in `used` of the columns some aggregation reads, each once.
    pub agg_used: Vec<usize>,
    /// Declared types of the used columns (`--schema`).
    pub declared: Vec<Option<Kind>>,
    /// How each key column's fields are read.
    pub key_rules: Vec<KeyRule>,
}

impl Layout {
    pub fn resolve(header: &[String], plan: &GroupByPlan) -> Result<Layout, String> {
        let mut used: Vec<usize> = Vec::new();
        let mut position = |col: &str| -> Result<usize, String> {
            let idx = header
                .iter()
                .position(|h| h == col)
                .ok_or_else(|| format!("unknown column \"{col}\" (columns: {})", header.join(", ")))?;
            Ok(used.iter().position(|&u| u == idx).unwrap_or_else(|| {
                used.push(idx);
                used.len() - 1
            }))
        };
        let keys = plan.by.iter().map(|c| position(c)).collect::<Result<Vec<_>, _>>()?;
        let agg_cols: Vec<Option<usize>> =
            plan.aggs.iter().map(|a| a.column.as_deref().map(&mut position).transpose()).collect::<Result<_, _>>()?;
        let agg_cols2: Vec<Option<usize>> =
            plan.aggs.iter().map(|a| a.column2.as_deref().map(&mut position).transpose()).collect::<Result<_, _>>()?;
        let names = used.iter().map(|&i| header[i].clone()).collect();
        let mut agg_used: Vec<usize> = agg_cols.iter().chain(&agg_cols2).flatten().copied().collect();
        agg_used.sort_unstable();
        agg_used.dedup();
        for (col, _) in &plan.schema {
            if !header.contains(col) {
                return Err(format!("--schema: unknown column \"{col}\" (columns: {})", header.join(", ")));
            }
        }
        let declared: Vec<Option<Kind>> =
            used.iter().map(|&i| plan.schema.iter().find(|(c, _)| *c == header[i]).map(|(_, k)| *k)).collect();
        for (spec, cols) in plan.aggs.iter().zip(agg_cols.iter().zip(&agg_cols2)) {
            for c in [*cols.0, *cols.1].into_iter().flatten() {
                if spec.func.is_numeric() && declared[c] == Some(Kind::Str) {
                    return Err(format!("{spec}: column {} is declared str in --schema", header[used[c]]));
                }
            }
        }
        if plan.aggs.iter().filter(|a| a.func.is_multi_row()).count() > 1 {
            return Err("at most one of top_k and bottom_k per query: each gives a row per value".into());
        }
        let key_rules = keys
            .iter()
            .map(|&k| if declared[k] == Some(Kind::Str) { KeyRule::Text } else { KeyRule::Inferred })
            .collect();
        Ok(Layout { width: header.len(), used, names, keys, agg_cols, agg_cols2, agg_used, declared, key_rules })
    }
}

/// A partition of a store: its keys and their groups' states.
pub(super) struct Part {
    pub keys: Keys,
    pub states: States,
}

impl Part {
    pub fn new(plan: &GroupByPlan) -> Part {
        Part { keys: Keys::default(), states: States::new(&plan.aggs) }
    }

    /// The group of `key` (hashed `hash`), added with empty states if new.
    #[inline]
    pub fn group(&mut self, hash: u64, key: &[u8]) -> (u32, bool) {
        let (id, new) = self.keys.find_or_insert(hash, key);
        if new {
            self.states.add_group();
        }
        (id, new)
    }
}

impl super::table::Absorb for Part {
    fn groups(&self) -> usize {
        self.keys.len()
    }

    /// Merges every group of `other` into this partition.
    fn absorb(&mut self, mut other: Part) {
        for oid in 0..other.keys.len() as u32 {
            let (id, _) = self.group(other.keys.hash(oid), other.keys.key(oid));
            self.states.merge_from(id, &mut other.states, oid);
        }
    }
}

/// Partitions: 2^6. Enough for every thread of a merge to have several, few enough that the
/// tables of a few groups stay small.
pub(super) const PARTITION_BITS: u32 = 6;

/// The groups one worker aggregated (or, merged, the whole input's).
pub(super) type Store = Partitioned<Part>;

pub(super) fn new_store(plan: &GroupByPlan) -> Store {
    Partitioned::new_with(PARTITION_BITS, || Part::new(plan))
}

/// What one chunk (or the whole input, after merging in order) taught about the used columns.
pub(super) struct ChunkInfo {
    /// Per used column, the widest kind of its values.
    pub kinds: Vec<Kind>,
    /// The same with text that people write for a missing value (`NA`, `NULL`, ...) read as
    /// null: a column numeric but for such tokens is named in messages with `--null-values`.
    pub kinds_sans_nullish: Vec<Kind>,
    /// Per used column, the first value that is not a number: (line, text).
    pub first_text: Vec<Option<(u64, String)>>,
    pub newlines: u64,
}

impl ChunkInfo {
    pub fn new(layout: &Layout) -> ChunkInfo {
        let n = layout.used.len();
        ChunkInfo {
            kinds: vec![Kind::Null; n],
            kinds_sans_nullish: vec![Kind::Null; n],
            first_text: vec![None; n],
            newlines: 0,
        }
    }

    /// Merges a later part of the input; `line_offset` places its lines in the input.
    pub fn merge(&mut self, later: ChunkInfo, line_offset: u64) {
        for (a, b) in self.kinds.iter_mut().zip(later.kinds) {
            *a = (*a).max(b);
        }
        for (a, b) in self.kinds_sans_nullish.iter_mut().zip(later.kinds_sans_nullish) {
            *a = (*a).max(b);
        }
        for (a, b) in self.first_text.iter_mut().zip(later.first_text) {
            if a.is_none() {
                *a = b.map(|(l, t)| (l + line_offset, t));
            }
        }
        self.newlines += later.newlines;
    }
}

/// Adds records to a worker's store and the chunk's [`ChunkInfo`]. Every parser hands it the raw
/// bytes of the used columns of each record, so that null markers, type inference, keys and
/// states are computed in one place.
pub(super) struct Aggregator<'a> {
    plan: &'a GroupByPlan,
    layout: &'a Layout,
    pub info: ChunkInfo,
    /// The worker's store, locked at the first record (not before: a parser of polars' may run
    /// other tasks of the pool on this thread while it parses).
    slot: &'a Mutex<Store>,
    store: Option<MutexGuard<'a, Store>>,
    key: Vec<u8>,
    nums: Vec<Option<Num>>,
    /// The position of the chunk's first record; records count up from it.
    pos: RowPos,
}

impl<'a> Aggregator<'a> {
    pub fn new(plan: &'a GroupByPlan, layout: &'a Layout, slot: &'a Mutex<Store>, pos: RowPos) -> Self {
        Aggregator {
            plan,
            layout,
            info: ChunkInfo::new(layout),
            slot,
            store: None,
            key: Vec::new(),
            nums: vec![None; layout.used.len()],
            pos,
        }
    }

    /// One record: `fields[i]` is the raw field of used column `i`.
    #[inline]
    pub fn record(&mut self, fields: &[&[u8]], line: u64) -> Result<(), Fault> {
        let pos = self.pos;
        self.pos.row = self.pos.row.saturating_add(1);
        let info = &mut self.info;
        let nulls = &self.plan.null_values;
        // Aggregated columns: each value is typed (this decides the column's type).
        for &c in &self.layout.agg_used {
            self.nums[c] = type_field(info, self.layout, nulls, c, fields[c], line)?;
        }
        self.key.clear();
        for &k in &self.layout.keys {
            keys::encode_field(&mut self.key, fields[k], nulls);
        }
        let store = self.store.get_or_insert_with(|| self.slot.lock().expect("a worker's store"));
        let hash = hash_key(&self.key);
        let p = store.partition_of(hash);
        let part = &mut store.parts[p];
        let (id, new) = part.group(hash, &self.key);
        if new {
            // A new group (of this worker): type its key fields once, here, rather than on every
            // row.
            for &k in &self.layout.keys {
                std::str::from_utf8(fields[k]).map_err(|_| invalid_utf8(self.layout, k, line))?;
                type_field(info, self.layout, nulls, k, fields[k], line)?;
            }
        }
        for (agg, col) in self.layout.agg_cols.iter().enumerate() {
            if let Some(c2) = self.layout.agg_cols2[agg] {
                let c = col.expect("a pair's first column");
                part.states.push_pair(agg, id, self.nums[c], self.nums[c2]);
                continue;
            }
            let field = match *col {
                None => None,
                Some(c) if nulls.is_null(fields[c]) => None,
                Some(c) => {
                    let raw = fields[c];
                    let text = if part.states.needs_text(agg) {
                        std::str::from_utf8(raw).map_err(|_| invalid_utf8(self.layout, c, line))?
                    } else {
                        ""
                    };
                    Some((text, self.nums[c]))
                }
            };
            part.states.push(agg, id, field, pos);
        }
        Ok(())
    }
}

/// Types one field of used column `c` ([`read_field`]): widens the column's type and remembers
/// its first text value; returns the field's number, if it is one.
fn type_field(
    part: &mut ChunkInfo,
    layout: &Layout,
    nulls: &NullValues,
    c: usize,
    raw: &[u8],
    line: u64,
) -> Result<Option<Num>, Fault> {
    let declared = layout.declared[c];
    let value = read_field(raw, declared, nulls)
        .map_err(|e| Fault { line, message: declared_mismatch(&layout.names[c], raw, e) })?;
    let (kind, sans) = match value {
        None => return Ok(None),
        Some(Some(Num::Int(_))) => (Kind::Int, Kind::Int),
        Some(Some(Num::Float(_))) => (Kind::Float, Kind::Float),
        Some(None) => {
            let text = std::str::from_utf8(raw).map_err(|_| invalid_utf8(layout, c, line))?;
            if part.first_text[c].is_none() {
                part.first_text[c] = Some((line, text.to_string()));
            }
            (Kind::Str, if looks_null(text) { Kind::Null } else { Kind::Str })
        }
    };
    part.kinds[c] = part.kinds[c].max(kind);
    part.kinds_sans_nullish[c] = part.kinds_sans_nullish[c].max(sans);
    Ok(value.flatten())
}

fn invalid_utf8(layout: &Layout, c: usize, line: u64) -> Fault {
    Fault { line, message: format!("column {}: invalid UTF-8", layout.names[c]) }
}

/// Parses one chunk of records with the input layer's dialect and aggregates it into the
/// worker's store. `line_base` is the number of lines before the chunk's first byte that its
/// messages count (0: the caller places them); `pos` the position of its first record.
pub(super) fn aggregate_chunk(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    slot: &Mutex<Store>,
    line_base: u64,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let mut agg = Aggregator::new(plan, layout, slot, pos);
    agg.info.newlines = crate::engine::kernels::count_newlines(data);
    dialect::for_each_record(data, plan.delimiter, layout.width, &layout.used, line_base, |fields, line| {
        agg.record(fields, line)
    })?;
    Ok(agg.info)
}

/// Aggregates piece `i` of a table file: its rows, read by polars, reach the aggregator as the
/// text fields a CSV would give (see `for_each_text_row`); its "lines" are its rows.
pub(super) fn aggregate_piece(
    table: &crate::engine::polars::table::TableInput,
    i: usize,
    plan: &GroupByPlan,
    layout: &Layout,
    slot: &Mutex<Store>,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let df = table
        .piece(i, &layout.used)
        .map_err(|e| Fault { line: 1, message: format!("reading it: {}", crate::engine::sql::first_line(&e)) })?;
    let mut agg = Aggregator::new(plan, layout, slot, pos);
    agg.info.newlines = df.height() as u64;
    crate::engine::polars::table::for_each_text_row(&df, |fields, row| agg.record(fields, row))?;
    Ok(agg.info)
}

/// The polars engine's chunk parser: polars' CSV reader parses the chunk and the same
/// [`Aggregator`] turns its records into states, so every engine types, keys and aggregates
/// identically. Polars reads some chunks otherwise than pframe's dialect (a blank line as a row of
/// nulls, a short row padded with nulls, a lone carriage return as data, a stray quote by its own
/// rules): such a chunk, and any polars fails on, goes to the native parser, which gives the
/// dialect's answer or names the line at fault. A chunk is checked before any of its records is
/// aggregated, so none is aggregated twice.
pub(super) fn aggregate_chunk_polars(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    slot: &Mutex<Store>,
    line_base: u64,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let d = plan.delimiter;
    let has_quotes = memchr::memchr(dialect::QUOTE, data).is_some();
    if may_have_blank_line(data) || dialect::has_lone_cr(data) || has_quotes && !dialect::quotes_are_regular(data, d) {
        return aggregate_chunk(data, plan, layout, slot, line_base, pos);
    }
    let Ok(rows) = crate::engine::polars::csv_chunk_rows(data, d, layout.width, &layout.used) else {
        return aggregate_chunk(data, plan, layout, slot, line_base, pos);
    };
    if delimiters_outside_quotes(data, d) != (layout.width as u64 - 1) * rows.height() as u64 {
        return aggregate_chunk(data, plan, layout, slot, line_base, pos);
    }
    let mut agg = Aggregator::new(plan, layout, slot, pos);
    agg.info.newlines = crate::engine::kernels::count_newlines(data);
    let result = rows.for_each(|fields, row| agg.record(fields, row));
    // A value the aggregator rejects: its line, counted as the dialect counts records.
    let mut info = match result {
        Ok(()) => agg.info,
        Err(f) => return Err(Fault { line: line_base + dialect::line_of_record(data, d, f.line), ..f }),
    };
    // The aggregator saw record numbers: place each first text value on its line.
    for ft in info.first_text.iter_mut().flatten() {
        ft.0 = line_base + dialect::line_of_record(data, d, ft.0);
    }
    Ok(info)
}

/// Whether a chunk may hold a blank line (a quoted field's blank line counts too: the native parser
/// then reads the chunk, and it is right either way).
fn may_have_blank_line(data: &[u8]) -> bool {
    data.starts_with(b"\n")
        || data.starts_with(b"\r\n")
        || memchr::memmem::find(data, b"\n\n").is_some()
        || memchr::memmem::find(data, b"\n\r\n").is_some()
}

/// The delimiters of a chunk that separate fields (outside quotes): `width - 1` per record. The
/// chunk's quotes are regular (see [`dialect::quotes_are_regular`]), so parity tells.
fn delimiters_outside_quotes(data: &[u8], d: u8) -> u64 {
    if memchr::memchr(dialect::QUOTE, data).is_none() {
        return bytecount::count(data, d) as u64;
    }
    let mut quoted = false;
    let mut n = 0u64;
    for &b in data {
        if b == dialect::QUOTE {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// Aggregates a chunk of JSON lines: each non-blank line one object; its values become the fields
/// the CSV paths would see (strings as they are, numbers in their JSON form, null or a missing key
/// as an empty field).
pub(super) fn aggregate_ndjson_chunk(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    slot: &Mutex<Store>,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let mut agg = Aggregator::new(plan, layout, slot, pos);
    agg.info.newlines = crate::engine::kernels::count_newlines(data);
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); layout.names.len()];
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(raw).map_err(|e| Fault { line, message: format!("invalid JSON object: {e}") })?;
        for (text, name) in texts.iter_mut().zip(&layout.names) {
            text.clear();
            match object.get(name) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => text.extend_from_slice(s.as_bytes()),
                Some(other) => text.extend_from_slice(other.to_string().as_bytes()),
            }
        }
        let fields: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        agg.record(&fields, line)?;
    }
    Ok(agg.info)
}
