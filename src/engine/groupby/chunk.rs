//! One chunk's share of a group-by: its records (split by the input layer's dialect, or by
//! polars' reader for the polars engine, or as JSON lines) turned into a [`Partial`]: a hash map
//! of encoded keys to mergeable states, and what the chunk taught about the columns' types.

use rustc_hash::FxHashMap;

use super::GroupByPlan;
use super::keys::{self, KeyRule};
use crate::agg::groupby::{Kind, Num, RowPos, State};
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
        let names = used.iter().map(|&i| header[i].clone()).collect();
        let mut agg_used: Vec<usize> = agg_cols.iter().flatten().copied().collect();
        agg_used.sort_unstable();
        agg_used.dedup();
        for (col, _) in &plan.schema {
            if !header.contains(col) {
                return Err(format!("--schema: unknown column \"{col}\" (columns: {})", header.join(", ")));
            }
        }
        let declared: Vec<Option<Kind>> =
            used.iter().map(|&i| plan.schema.iter().find(|(c, _)| *c == header[i]).map(|(_, k)| *k)).collect();
        for (spec, col) in plan.aggs.iter().zip(&agg_cols) {
            if let Some(c) = *col
                && spec.func.is_numeric()
                && declared[c] == Some(Kind::Str)
            {
                return Err(format!("{spec}: column {} is declared str in --schema", header[used[c]]));
            }
        }
        let key_rules = keys
            .iter()
            .map(|&k| if declared[k] == Some(Kind::Str) { KeyRule::Text } else { KeyRule::Inferred })
            .collect();
        Ok(Layout { width: header.len(), used, names, keys, agg_cols, agg_used, declared, key_rules })
    }
}

/// What one chunk (or the whole input, after merging) knows.
pub(super) struct Partial {
    pub groups: FxHashMap<Vec<u8>, Vec<State>>,
    /// Per used column, the widest kind of its values.
    pub kinds: Vec<Kind>,
    /// The same with text that people write for a missing value (`NA`, `NULL`, ...) read as
    /// null: a column numeric but for such tokens is named in messages with `--null-values`.
    pub kinds_sans_nullish: Vec<Kind>,
    /// Per used column, the first value that is not a number: (line, text).
    pub first_text: Vec<Option<(u64, String)>>,
    pub newlines: u64,
}

impl Partial {
    pub fn new(layout: &Layout) -> Partial {
        let n = layout.used.len();
        Partial {
            groups: FxHashMap::default(),
            kinds: vec![Kind::Null; n],
            kinds_sans_nullish: vec![Kind::Null; n],
            first_text: vec![None; n],
            newlines: 0,
        }
    }

    /// Merges a later part of the input; `line_offset` places its lines in the input.
    pub fn merge(&mut self, later: Partial, line_offset: u64) {
        for (key, states) in later.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => mine.iter_mut().zip(states).for_each(|(a, b)| a.merge(b)),
                None => {
                    self.groups.insert(key, states);
                }
            }
        }
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

/// Adds records to a chunk's partial result. Every parser hands it the raw bytes of the used
/// columns of each record, so that null markers, type inference, keys and states are computed in
/// one place.
pub(super) struct Aggregator<'a> {
    plan: &'a GroupByPlan,
    layout: &'a Layout,
    pub part: Partial,
    key: Vec<u8>,
    nums: Vec<Option<Num>>,
    /// The position of the chunk's first record; records count up from it.
    pos: RowPos,
}

impl<'a> Aggregator<'a> {
    pub fn new(plan: &'a GroupByPlan, layout: &'a Layout, pos: RowPos) -> Self {
        Aggregator {
            plan,
            layout,
            part: Partial::new(layout),
            key: Vec::new(),
            nums: vec![None; layout.used.len()],
            pos,
        }
    }

    /// One record: `fields[i]` is the raw field of used column `i`.
    pub fn record(&mut self, fields: &[&[u8]], line: u64) -> Result<(), Fault> {
        let pos = self.pos;
        self.pos.row = self.pos.row.saturating_add(1);
        let part = &mut self.part;
        let nulls = &self.plan.null_values;
        // Aggregated columns: each value is typed (this decides the column's type).
        for &c in &self.layout.agg_used {
            self.nums[c] = type_field(part, self.layout, nulls, c, fields[c], line)?;
        }
        self.key.clear();
        for &k in &self.layout.keys {
            keys::encode_field(&mut self.key, fields[k], nulls);
        }
        let states = match part.groups.get_mut(self.key.as_slice()) {
            Some(s) => s,
            None => {
                // A new group: type its key fields once, here, rather than on every row.
                for &k in &self.layout.keys {
                    std::str::from_utf8(fields[k]).map_err(|_| invalid_utf8(self.layout, k, line))?;
                    type_field(part, self.layout, nulls, k, fields[k], line)?;
                }
                part.groups
                    .entry(self.key.clone())
                    .or_insert_with(|| self.plan.aggs.iter().map(|a| State::new(a.func)).collect())
            }
        };
        for (state, col) in states.iter_mut().zip(&self.layout.agg_cols) {
            let field = match *col {
                None => None,
                Some(c) if nulls.is_null(fields[c]) => None,
                Some(c) => {
                    let raw = fields[c];
                    let text = if state.needs_text() {
                        std::str::from_utf8(raw).map_err(|_| invalid_utf8(self.layout, c, line))?
                    } else {
                        ""
                    };
                    Some((text, self.nums[c]))
                }
            };
            state.push(field, pos);
        }
        Ok(())
    }
}

/// Types one field of used column `c` ([`read_field`]): widens the column's type and remembers
/// its first text value; returns the field's number, if it is one.
fn type_field(
    part: &mut Partial,
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

/// Parses one chunk of records with the input layer's dialect and aggregates it. `line_base` is
/// the number of lines before the chunk's first byte that its messages count (0: the caller
/// places them); `pos` the position of its first record.
pub(super) fn aggregate_chunk(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    line_base: u64,
    pos: RowPos,
) -> Result<Partial, Fault> {
    let mut agg = Aggregator::new(plan, layout, pos);
    agg.part.newlines = crate::engine::kernels::count_newlines(data);
    dialect::for_each_record(data, plan.delimiter, layout.width, &layout.used, line_base, |fields, line| {
        agg.record(fields, line)
    })?;
    Ok(agg.part)
}

/// Aggregates piece `i` of a table file: its rows, read by polars, reach the aggregator as the
/// text fields a CSV would give (see `for_each_text_row`); its "lines" are its rows.
pub(super) fn aggregate_piece(
    table: &crate::engine::polars::table::TableInput,
    i: usize,
    plan: &GroupByPlan,
    layout: &Layout,
    pos: RowPos,
) -> Result<Partial, Fault> {
    let df = table
        .piece(i, &layout.used)
        .map_err(|e| Fault { line: 1, message: format!("reading it: {}", crate::engine::sql::first_line(&e)) })?;
    let mut agg = Aggregator::new(plan, layout, pos);
    agg.part.newlines = df.height() as u64;
    crate::engine::polars::table::for_each_text_row(&df, |fields, row| agg.record(fields, row))?;
    Ok(agg.part)
}

/// The polars engine's chunk parser: polars' CSV reader parses the chunk and the same
/// [`Aggregator`] turns its records into mergeable states, so every engine types, keys and
/// aggregates identically. Polars reads some chunks otherwise than pframe's dialect (a blank line
/// as a row of nulls, a short row padded with nulls, a lone carriage return as data, a stray quote
/// by its own rules): such a chunk, and any polars fails on or the aggregator rejects, goes to the
/// native parser, which gives the dialect's answer or names the line at fault.
pub(super) fn aggregate_chunk_polars(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    line_base: u64,
    pos: RowPos,
) -> Result<Partial, Fault> {
    let d = plan.delimiter;
    let has_quotes = memchr::memchr(dialect::QUOTE, data).is_some();
    if may_have_blank_line(data) || dialect::has_lone_cr(data) || has_quotes && !dialect::quotes_are_regular(data, d) {
        return aggregate_chunk(data, plan, layout, line_base, pos);
    }
    let mut agg = Aggregator::new(plan, layout, pos);
    let parsed = crate::engine::polars::csv_chunk_records(data, d, layout.width, &layout.used, |fields, row| {
        agg.record(fields, row)
    });
    let expected_delimiters = |rows: u64| (layout.width as u64 - 1) * rows;
    match parsed {
        Ok(Ok(rows)) if delimiters_outside_quotes(data, d) == expected_delimiters(rows) => {
            let mut part = agg.part;
            part.newlines = crate::engine::kernels::count_newlines(data);
            // The aggregator saw record numbers: place each first text value on its line.
            for ft in part.first_text.iter_mut().flatten() {
                ft.0 = line_base + dialect::line_of_record(data, d, ft.0);
            }
            Ok(part)
        }
        _ => aggregate_chunk(data, plan, layout, line_base, pos),
    }
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
    pos: RowPos,
) -> Result<Partial, Fault> {
    let mut agg = Aggregator::new(plan, layout, pos);
    agg.part.newlines = crate::engine::kernels::count_newlines(data);
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
    Ok(agg.part)
}
