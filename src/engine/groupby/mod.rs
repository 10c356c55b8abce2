//! The group-by job: input -> record-aligned chunks (quote-aware for CSV, lines for NDJSON) ->
//! each chunk parsed touching only the columns the query needs (a SIMD separator scan when the
//! chunk has no quotes, the `csv` crate otherwise, `serde_json` for JSON lines) and aggregated into
//! a hash map of mergeable group states -> partials merged in input order (so `first`/`last` are
//! exact) -> the result typed (over the whole input), sorted and turned into a table. The polars
//! engine parses the chunks with polars' CSV reader instead (see `aggregate_chunk_polars`).

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use crate::agg::groupby::{AggFn, AggSpec, Kind, Num, State, parse_num};
use crate::engine::{Engine, pipeline};
use crate::input::{Boundary, Chunk, Chunker, CsvBoundary, InputError, LineBoundary, ReadOptions, Source};
use crate::output::{JsonShape, Table, Value};

/// A validated group-by query.
#[derive(Debug, Clone)]
pub struct GroupByPlan {
    pub by: Vec<String>,
    pub aggs: Vec<AggSpec>,
    pub engine: Engine,
    pub threads: usize,
    pub read: ReadOptions,
    pub delimiter: u8,
    /// The first row is data, not names: columns are `column_1`, `column_2`, ...
    pub no_header: bool,
    /// Declared column types (`int`, `float`, `str`), instead of inferred ones.
    pub schema: Vec<(String, Kind)>,
    /// The input's format.
    pub input_format: InputFormat,
}

/// How records are written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    /// One JSON object per line (JSON lines): keys are columns, `null` or a missing key is null.
    Ndjson,
}

/// Parses `--schema 'col:int,col2:float,col3:str'`.
pub fn parse_schema(spec: &str) -> Result<Vec<(String, Kind)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (col, ty) = item
                .rsplit_once(':')
                .ok_or_else(|| format!("malformed schema item \"{item}\": expected column:type"))?;
            let kind = match ty.trim() {
                "int" | "i64" | "integer" => Kind::Int,
                "float" | "f64" | "double" => Kind::Float,
                "str" | "string" | "text" => Kind::Str,
                other => return Err(format!("unknown type \"{other}\" in --schema (expected int, float or str)")),
            };
            Ok((col.trim().to_string(), kind))
        })
        .collect()
}

/// Why a group-by failed; every message names the input, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum GroupByError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{name}: line {line}: {message}")]
    Data { name: String, line: u64, message: String },
    #[error("{name}: {message}")]
    Query { name: String, message: String },
}

/// One chunk's failure, with its line counted from the chunk's start.
struct Fault {
    line: u64,
    message: String,
}

/// The columns a query touches, resolved against a header.
#[derive(Debug, Clone)]
struct Layout {
    width: usize,
    /// Header indices of the used columns.
    used: Vec<usize>,
    names: Vec<String>,
    /// Positions in `used` of the key columns, and of each aggregation's column.
    keys: Vec<usize>,
    agg_cols: Vec<Option<usize>>,
    /// Positions in `used` of the columns some aggregation reads, each once.
    agg_used: Vec<usize>,
    /// Declared types of the used columns (`--schema`).
    declared: Vec<Option<Kind>>,
}

impl Layout {
    fn resolve(header: &[String], plan: &GroupByPlan, name: &str) -> Result<Layout, GroupByError> {
        let mut used: Vec<usize> = Vec::new();
        let mut position = |col: &str| -> Result<usize, GroupByError> {
            let idx = header.iter().position(|h| h == col).ok_or_else(|| GroupByError::Query {
                name: name.to_string(),
                message: format!("unknown column \"{col}\" (columns: {})", header.join(", ")),
            })?;
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
                return Err(GroupByError::Query {
                    name: name.to_string(),
                    message: format!("--schema: unknown column \"{col}\" (columns: {})", header.join(", ")),
                });
            }
        }
        let declared: Vec<Option<Kind>> =
            used.iter().map(|&i| plan.schema.iter().find(|(c, _)| *c == header[i]).map(|(_, k)| *k)).collect();
        for (spec, col) in plan.aggs.iter().zip(&agg_cols) {
            if let Some(c) = *col
                && spec.func.is_numeric()
                && declared[c] == Some(Kind::Str)
            {
                return Err(GroupByError::Query {
                    name: name.to_string(),
                    message: format!("{spec}: column {} is declared str in --schema", header[used[c]]),
                });
            }
        }
        Ok(Layout { width: header.len(), used, names, keys, agg_cols, agg_used, declared })
    }
}

/// What one chunk (or the whole input, after merging) knows.
struct Partial {
    groups: FxHashMap<Vec<u8>, Vec<State>>,
    kinds: Vec<Kind>,
    /// Per used column, the first value that is not a number: (line, text).
    first_text: Vec<Option<(u64, String)>>,
    newlines: u64,
}

impl Partial {
    fn new(layout: &Layout) -> Partial {
        Partial {
            groups: FxHashMap::default(),
            kinds: vec![Kind::Null; layout.used.len()],
            first_text: vec![None; layout.used.len()],
            newlines: 0,
        }
    }

    /// Merges a later part of the input; `line_offset` places its lines in the input.
    fn merge(&mut self, later: Partial, line_offset: u64) {
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
        for (a, b) in self.first_text.iter_mut().zip(later.first_text) {
            if a.is_none() {
                *a = b.map(|(l, t)| (l + line_offset, t));
            }
        }
        self.newlines += later.newlines;
    }
}

/// Adds records to a chunk's partial result. Both parsers below hand it the raw bytes of the
/// used columns of each record, so type inference, keys and states are computed in one place.
struct Aggregator<'a> {
    plan: &'a GroupByPlan,
    layout: &'a Layout,
    part: Partial,
    key: Vec<u8>,
    nums: Vec<Option<Num>>,
}

impl<'a> Aggregator<'a> {
    fn new(plan: &'a GroupByPlan, layout: &'a Layout) -> Self {
        Aggregator { plan, layout, part: Partial::new(layout), key: Vec::new(), nums: vec![None; layout.used.len()] }
    }

    /// One record: `fields[i]` is the raw field of used column `i`.
    fn record(&mut self, fields: &[&[u8]], line: u64) -> Result<(), Fault> {
        let part = &mut self.part;
        // Aggregated columns: each value is typed (this decides the column's type).
        for &pos in &self.layout.agg_used {
            let raw = fields[pos];
            self.nums[pos] = type_field(part, self.layout, pos, raw, line)?;
        }
        self.key.clear();
        for &k in &self.layout.keys {
            let t = fields[k];
            if t.is_empty() {
                self.key.push(0);
            } else {
                self.key.push(1);
                self.key.extend_from_slice(&(t.len() as u32).to_le_bytes());
                self.key.extend_from_slice(t);
            }
        }
        let states = match part.groups.get_mut(self.key.as_slice()) {
            Some(s) => s,
            None => {
                // A new group: type its key fields once, here, rather than on every row.
                for &k in &self.layout.keys {
                    std::str::from_utf8(fields[k]).map_err(|_| invalid_utf8(self.layout, k, line))?;
                    type_field(part, self.layout, k, fields[k], line)?;
                }
                part.groups
                    .entry(self.key.clone())
                    .or_insert_with(|| self.plan.aggs.iter().map(|a| State::new(a.func)).collect())
            }
        };
        for (state, col) in states.iter_mut().zip(&self.layout.agg_cols) {
            let field = match *col {
                None => None,
                Some(c) if fields[c].is_empty() => None,
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
            state.push(field);
        }
        Ok(())
    }
}

/// Types one field of used column `pos`: widens the column's type and remembers its first text
/// value; returns the field's number, if it is one (see [`typed_num`]).
fn type_field(part: &mut Partial, layout: &Layout, pos: usize, raw: &[u8], line: u64) -> Result<Option<Num>, Fault> {
    let num = typed_num(layout, pos, raw, line)?;
    let kind = match (raw.is_empty(), num) {
        (true, _) => Kind::Null,
        (false, Some(Num::Int(_))) => Kind::Int,
        (false, Some(Num::Float(_))) => Kind::Float,
        (false, None) => {
            if part.first_text[pos].is_none() {
                let text = std::str::from_utf8(raw).map_err(|_| invalid_utf8(layout, pos, line))?;
                part.first_text[pos] = Some((line, text.to_string()));
            }
            Kind::Str
        }
    };
    part.kinds[pos] = part.kinds[pos].max(kind);
    Ok(num)
}

/// The number in a field, checked against the column's declared type if it has one: a declared
/// `str` column holds no numbers, and a value that does not parse as its declared type is an
/// error.
fn typed_num(layout: &Layout, pos: usize, raw: &[u8], line: u64) -> Result<Option<Num>, Fault> {
    let declared = layout.declared[pos];
    if declared == Some(Kind::Str) || raw.is_empty() {
        return Ok(None);
    }
    let num = parse_num(raw);
    let ok = match declared {
        Some(Kind::Int) => matches!(num, Some(Num::Int(_))),
        Some(Kind::Float) => num.is_some(),
        _ => true,
    };
    if ok {
        return Ok(num);
    }
    let ty = if declared == Some(Kind::Int) { "an integer" } else { "a float" };
    Err(Fault {
        line,
        message: format!("column {}: cannot parse \"{}\" as {ty}", layout.names[pos], String::from_utf8_lossy(raw)),
    })
}

fn invalid_utf8(layout: &Layout, pos: usize, line: u64) -> Fault {
    Fault { line, message: format!("column {}: invalid UTF-8", layout.names[pos]) }
}

/// Parses one chunk of records and aggregates it. `line_base` is the number of lines before the
/// chunk's first record (the header's, in the first chunk).
fn aggregate_chunk(data: &[u8], plan: &GroupByPlan, layout: &Layout, line_base: u64) -> Result<Partial, Fault> {
    let mut agg = Aggregator::new(plan, layout);
    agg.part.newlines = crate::engine::kernels::count_newlines(data);
    if is_simple(data) {
        simple_records(data, plan.delimiter, layout, line_base, &mut agg)?;
    } else {
        csv_records(data, plan.delimiter, layout, line_base, &mut agg)?;
    }
    Ok(agg.part)
}

/// The polars engine's chunk parser: polars' CSV reader parses the chunk and the same
/// [`Aggregator`] turns its records into mergeable states, so every engine types, keys and
/// aggregates identically. A chunk polars cannot take as it is (a parse error, a short row or a
/// blank line, which polars would read as nulls, a carriage return that is not part of a CRLF,
/// which ends a record for the `csv` crate and not for polars, a value the aggregator rejects) is
/// handed to the native parser, which gives the same answer or names the line at fault.
fn aggregate_chunk_polars(data: &[u8], plan: &GroupByPlan, layout: &Layout, line_base: u64) -> Result<Partial, Fault> {
    if may_have_blank_line(data) || has_lone_cr(data) {
        return aggregate_chunk(data, plan, layout, line_base);
    }
    let mut agg = Aggregator::new(plan, layout);
    let parsed = super::polars::csv_chunk_records(data, plan.delimiter, layout.width, &layout.used, |fields, row| {
        agg.record(fields, row)
    });
    let expected_delimiters = |rows: u64| (layout.width as u64 - 1) * rows;
    match parsed {
        Ok(Ok(rows)) if delimiters_outside_quotes(data, plan.delimiter) == expected_delimiters(rows) => {
            let mut part = agg.part;
            part.newlines = crate::engine::kernels::count_newlines(data);
            // The aggregator saw record numbers: place each first text value on its line.
            for ft in part.first_text.iter_mut().flatten() {
                ft.0 = line_base + line_of_record(data, plan.delimiter, ft.0);
            }
            Ok(part)
        }
        _ => aggregate_chunk(data, plan, layout, line_base),
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

/// The delimiters of a chunk that separate fields (outside quotes): `width - 1` per record.
fn delimiters_outside_quotes(data: &[u8], d: u8) -> u64 {
    if memchr::memchr(b'"', data).is_none() {
        return bytecount::count(data, d) as u64;
    }
    let mut quoted = false;
    let mut n = 0u64;
    for &b in data {
        if b == b'"' {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// The line (1-based, from the chunk's start) on which record `record` (1-based; the `csv` crate
/// skips blank lines) of a chunk starts.
fn line_of_record(data: &[u8], d: u8, record: u64) -> u64 {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(d).from_reader(data);
    let mut row = csv::ByteRecord::new();
    let mut lines = RecordLines::new(data);
    let mut seen = 0u64;
    loop {
        let start = reader.position().byte();
        let read = reader.read_byte_record(&mut row);
        let line = lines.line_at(start);
        match read {
            Ok(true) => {
                seen += 1;
                if seen == record {
                    return line;
                }
            }
            _ => return line,
        }
    }
}

/// The lines on which the records of a chunk start, counted from the bytes: the `csv` crate's own
/// line count lags after a CRLF (it ends a record at the `\r` and counts the `\n` when it reads
/// the next one).
struct RecordLines<'d> {
    data: &'d [u8],
    counted_to: usize,
    newlines: u64,
}

impl<'d> RecordLines<'d> {
    fn new(data: &'d [u8]) -> Self {
        RecordLines { data, counted_to: 0, newlines: 0 }
    }

    /// The line (1-based) of the record that starts at byte `from` or after the line endings
    /// there (the rest of a CRLF, blank lines); `from` never goes backwards.
    fn line_at(&mut self, from: u64) -> u64 {
        let mut start = (from as usize).max(self.counted_to).min(self.data.len());
        while start < self.data.len() && matches!(self.data[start], b'\r' | b'\n') {
            start += 1;
        }
        self.newlines += bytecount::count(&self.data[self.counted_to..start], b'\n') as u64;
        self.counted_to = start;
        self.newlines + 1
    }
}

/// A chunk without quotes, whose only carriage returns end lines, splits on delimiters and
/// newlines alone; the fast path below is then exactly what the `csv` crate would read.
fn is_simple(data: &[u8]) -> bool {
    memchr::memchr(b'"', data).is_none() && !has_lone_cr(data)
}

/// Whether a carriage return in the chunk is not followed by a newline.
fn has_lone_cr(data: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', data).any(|i| data.get(i + 1) != Some(&b'\n'))
}

/// The fast path: one pass over the bytes, splitting fields at delimiters and records at
/// newlines, keeping only the used columns.
///
/// The separators of each 64-byte block are found as a bit mask (one comparison per byte, which
/// the compiler vectorises), then visited with `trailing_zeros`: the cost is per separator, not
/// per byte, as in SIMD CSV parsers.
fn simple_records(data: &[u8], d: u8, layout: &Layout, line_base: u64, agg: &mut Aggregator) -> Result<(), Fault> {
    let mut rows = SimpleRows::new(data, layout, line_base);
    let n = data.len();
    let mut pos = 0usize;
    while pos < n {
        let block_end = (pos + 64).min(n);
        let mut mask = match data[pos..block_end].try_into() {
            Ok(block) => separator_mask(block, d),
            Err(_) => data[pos..block_end]
                .iter()
                .enumerate()
                .fold(0u64, |m, (j, &b)| m | ((((b == d) | (b == b'\n')) as u64) << j)),
        };
        while mask != 0 {
            let at = pos + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            rows.separator(at, data[at] == b'\n', agg)?;
        }
        pos = block_end;
    }
    if rows.row_start < n {
        // A last record without a newline.
        rows.separator(n, true, agg)?;
    }
    Ok(())
}

/// Bit `j` is set where `block[j]` is the delimiter or a newline.
#[cfg(target_arch = "x86_64")]
fn separator_mask(block: &[u8; 64], d: u8) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline, and each unaligned 16-byte load reads inside
    // the 64-byte array.
    unsafe {
        let (dv, nl) = (_mm_set1_epi8(d as i8), _mm_set1_epi8(b'\n' as i8));
        let mut mask = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let hits = _mm_or_si128(_mm_cmpeq_epi8(v, dv), _mm_cmpeq_epi8(v, nl));
            mask |= (_mm_movemask_epi8(hits) as u16 as u64) << (16 * k);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn separator_mask(block: &[u8; 64], d: u8) -> u64 {
    block.iter().enumerate().fold(0u64, |m, (j, &b)| m | ((((b == d) | (b == b'\n')) as u64) << j))
}

/// The state of [`simple_records`] between separators.
struct SimpleRows<'d> {
    data: &'d [u8],
    width: usize,
    /// Which used slot each column of a row feeds, if any.
    slot_of: Vec<usize>,
    fields: Vec<&'d [u8]>,
    line: u64,
    col: usize,
    field_start: usize,
    row_start: usize,
}

impl<'d> SimpleRows<'d> {
    fn new(data: &'d [u8], layout: &Layout, line_base: u64) -> Self {
        let mut slot_of = vec![usize::MAX; layout.width];
        for (pos, &idx) in layout.used.iter().enumerate() {
            slot_of[idx] = pos;
        }
        SimpleRows {
            data,
            width: layout.width,
            slot_of,
            fields: vec![&[][..]; layout.used.len()],
            line: line_base,
            col: 0,
            field_start: 0,
            row_start: 0,
        }
    }

    /// A delimiter, or a record end (a newline, or the end of the data), at `at`.
    fn separator(&mut self, at: usize, record_end: bool, agg: &mut Aggregator) -> Result<(), Fault> {
        let mut field_end = at;
        if record_end && field_end > self.field_start && self.data[field_end - 1] == b'\r' {
            field_end -= 1;
        }
        if let Some(&slot) = self.slot_of.get(self.col)
            && slot != usize::MAX
        {
            self.fields[slot] = &self.data[self.field_start..field_end];
        }
        self.col += 1;
        self.field_start = at + 1;
        if !record_end {
            return Ok(());
        }
        self.line += 1;
        let blank = self.col == 1 && field_end == self.row_start;
        let found = std::mem::replace(&mut self.col, 0);
        self.row_start = at + 1;
        if blank {
            return Ok(()); // a blank line, as the csv crate and pandas skip it
        }
        if found != self.width {
            return Err(Fault { line: self.line, message: format!("expected {} fields, found {found}", self.width) });
        }
        agg.record(&self.fields, self.line)
    }
}

/// The general path: the `csv` crate's parser (quotes, doubled quotes, newlines in fields).
fn csv_records(data: &[u8], d: u8, layout: &Layout, line_base: u64, agg: &mut Aggregator) -> Result<(), Fault> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(d).from_reader(data);
    let mut record = csv::ByteRecord::new();
    let mut lines = RecordLines::new(data);
    // Where the last record read starts.
    let mut last_line = line_base + 1;
    loop {
        let start = reader.position().byte();
        let read = reader.read_byte_record(&mut record);
        let line = line_base + lines.line_at(start);
        match read {
            Ok(false) => break,
            Ok(true) => last_line = line,
            Err(e) => return Err(Fault { line, message: format!("malformed CSV: {e}") }),
        }
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        if record.len() != layout.width {
            return Err(Fault { line, message: format!("expected {} fields, found {}", layout.width, record.len()) });
        }
        let fields: Vec<&[u8]> = layout.used.iter().map(|&i| &record[i]).collect();
        agg.record(&fields, line)?;
    }
    // The chunker only cuts outside quotes, so a chunk that ends inside them is the input's end.
    let mut scan = CsvBoundary::new(d, b'"');
    let _ = scan.last_cut(data, 0);
    if scan.in_quotes() {
        return Err(Fault { line: last_line, message: "unterminated quoted field at end of input".to_string() });
    }
    Ok(())
}

/// Aggregates a chunk of JSON lines: each non-blank line one object; its values become the fields
/// the CSV paths would see (strings as they are, numbers in their JSON form, null or a missing key
/// as an empty field).
fn aggregate_ndjson_chunk(data: &[u8], plan: &GroupByPlan, layout: &Layout) -> Result<Partial, Fault> {
    let mut agg = Aggregator::new(plan, layout);
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

/// Reads the header from the first chunk: the column names and the header's length in bytes and
/// lines.
pub(crate) fn read_header(chunk: &[u8], delimiter: u8) -> Result<(Vec<String>, usize, u64), String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(chunk);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err("empty input: no header row".into()),
        Err(e) => return Err(format!("malformed header: {e}")),
    }
    let len = reader.position().byte() as usize;
    let names = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 { f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f) } else { f };
            String::from_utf8(f.to_vec()).map_err(|_| "header is not valid UTF-8".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lines = chunk[..len].iter().filter(|&&b| b == b'\n').count() as u64;
    Ok((names, len, lines))
}

/// Runs the group-by over every source (each with its own header row) and returns the result.
pub fn group_by(plan: &GroupByPlan, sources: &[Source]) -> Result<Table, GroupByError> {
    check_engine(plan, sources)?;
    group_by_native(plan, sources)
}

/// The polars engine parses CSV only.
fn check_engine(plan: &GroupByPlan, sources: &[Source]) -> Result<(), GroupByError> {
    if plan.engine == Engine::Polars && plan.input_format != InputFormat::Csv {
        let name = sources.first().map(Source::display_name).unwrap_or_default();
        return Err(GroupByError::Query { name, message: "the polars engine reads CSV; use -e parallel".into() });
    }
    Ok(())
}

fn group_by_native(plan: &GroupByPlan, sources: &[Source]) -> Result<Table, GroupByError> {
    let run = aggregate_native(plan, sources)?;
    check_and_finish(plan, run)
}

/// What the native engines computed before the result is typed and sorted: the mergeable state.
struct NativeRun {
    /// The first input's header (or generated column names).
    header: Vec<String>,
    layout: Layout,
    acc: Partial,
    /// Per used column, the input its first text value came from, and that input's line base.
    first_text_source: Vec<Option<(String, LineBase)>>,
    /// A shard's byte range in its file.
    shard_span: Option<(u64, u64)>,
}

/// Places a shard's relative line numbers in its file; computed only when a message needs it.
#[derive(Debug, Clone, Default)]
struct LineBase {
    path: Option<std::path::PathBuf>,
    start: u64,
}

impl LineBase {
    fn get(&self) -> u64 {
        match &self.path {
            Some(p) if self.start > 0 => crate::input::newlines_before(p, self.start),
            _ => 0,
        }
    }
}

/// An input opened for the group-by: its chunks, and what its messages and partial state need.
pub struct OpenedInput<'a> {
    name: String,
    base: LineBase,
    shard_span: Option<(u64, u64)>,
    /// The chunk holding the header when the chunks start after it (a shard).
    header_chunk: Option<Chunk>,
    chunks: Box<dyn Iterator<Item = Result<Chunk, InputError>> + 'a>,
}

impl<'a> OpenedInput<'a> {
    /// An input whose first chunks were already read: `name`'s chunks are `chunks`.
    pub fn from_chunks(name: &str, chunks: impl Iterator<Item = Result<Chunk, InputError>> + 'a) -> Self {
        OpenedInput {
            name: name.to_string(),
            base: LineBase::default(),
            shard_span: None,
            header_chunk: None,
            chunks: Box::new(chunks),
        }
    }

    fn open(plan: &GroupByPlan, source: &Source) -> Result<OpenedInput<'static>, GroupByError> {
        let ndjson = plan.input_format == InputFormat::Ndjson;
        let boundary: Box<dyn Boundary> =
            if ndjson { Box::new(LineBoundary::default()) } else { Box::new(CsvBoundary::new(plan.delimiter, b'"')) };
        let chunks = Chunker::open_with(source, plan.read, boundary)?;
        // A shard reads the header from the file's first chunk: it may start after it, or be empty.
        let header_chunk = if plan.read.shard.is_some() && !ndjson {
            let whole = ReadOptions { shard: None, shard_start: None, progress: None, ..plan.read };
            Chunker::open_with(source, whole, CsvBoundary::new(plan.delimiter, b'"'))?.next().transpose()?
        } else {
            None
        };
        let base = LineBase {
            path: match source {
                Source::File(p) => Some(p.clone()),
                Source::Stdin => None,
            },
            start: chunks.start(),
        };
        Ok(OpenedInput {
            name: chunks.name().to_string(),
            base,
            shard_span: chunks.shard_span(),
            header_chunk,
            chunks: Box::new(chunks),
        })
    }
}

/// Runs the group-by over one CSV input already opened (see [`OpenedInput::from_chunks`]).
pub fn group_by_opened(plan: &GroupByPlan, input: OpenedInput<'_>) -> Result<Table, GroupByError> {
    let run = aggregate_opened(plan, std::iter::once(Ok(input)))?;
    check_and_finish(plan, run)
}

fn aggregate_native(plan: &GroupByPlan, sources: &[Source]) -> Result<NativeRun, GroupByError> {
    aggregate_opened(plan, sources.iter().map(|s| OpenedInput::open(plan, s)))
}

/// Aggregates the inputs in order, each opened when the one before is done.
fn aggregate_opened<'a>(
    plan: &GroupByPlan,
    inputs: impl Iterator<Item = Result<OpenedInput<'a>, GroupByError>>,
) -> Result<NativeRun, GroupByError> {
    let own_pool = (plan.engine == Engine::Parallel).then(|| pipeline::build_pool(plan.threads));
    let pool = own_pool.as_ref().or((plan.engine == Engine::Polars).then(super::polars::pool));
    let mut total: Option<(Layout, Partial)> = None;
    let mut first_text_source: Vec<Option<(String, LineBase)>> = Vec::new();
    let mut first_header: Vec<String> = Vec::new();
    let mut shard_span = None;
    for input in inputs {
        let OpenedInput { name, base, shard_span: span, header_chunk, mut chunks } = input?;
        let ndjson = plan.input_format == InputFormat::Ndjson;
        shard_span = shard_span.or(span);
        let first = chunks.next().transpose()?;
        let (header, header_len, header_lines) = match header_chunk.as_ref().or(first.as_ref()) {
            // JSON lines name their fields in every record: the columns are those of the query.
            _ if ndjson => {
                let mut cols: Vec<String> = plan.by.clone();
                for c in plan.aggs.iter().filter_map(|a| a.column.clone()) {
                    if !cols.contains(&c) {
                        cols.push(c);
                    }
                }
                (cols, 0, 0)
            }
            None => return Err(GroupByError::Query { name, message: "empty input: no header row".into() }),
            Some(first) => {
                let (header, len, lines) = read_header(first, plan.delimiter)
                    .map_err(|message| GroupByError::Data { name: name.clone(), line: 1, message })?;
                if plan.no_header {
                    ((1..=header.len()).map(|i| format!("column_{i}")).collect(), 0, 0)
                } else {
                    (header, len, lines)
                }
            }
        };
        let layout = Layout::resolve(&header, plan, &name)?;
        let (layout, acc) = match &mut total {
            Some((l, acc)) => {
                if l.names != layout.names || l.width != layout.width {
                    return Err(GroupByError::Query {
                        name,
                        message: "its header differs from the first input's".into(),
                    });
                }
                (&*l, acc)
            }
            None => {
                first_text_source = vec![None; layout.used.len()];
                first_header = header.clone();
                let part = Partial::new(&layout);
                total = Some((layout, part));
                let (l, p) = total.as_mut().unwrap();
                (&*l, p)
            }
        };
        let mut lines_before = 0u64;
        let parse = if plan.engine == Engine::Polars { aggregate_chunk_polars } else { aggregate_chunk };
        let work = |chunk: &Chunk| -> Result<Partial, Fault> {
            if ndjson {
                aggregate_ndjson_chunk(chunk, plan, layout)
            } else if chunk.offset == 0 {
                parse(&chunk[header_len..], plan, layout, header_lines).map(|mut p| {
                    p.newlines += header_lines;
                    p
                })
            } else {
                parse(chunk, plan, layout, 0)
            }
        };
        let sink = |result: Result<Partial, Fault>, _chunk: Chunk| -> Result<(), GroupByError> {
            match result {
                Ok(part) => {
                    for (pos, ft) in part.first_text.iter().enumerate() {
                        if ft.is_some() && acc.first_text[pos].is_none() {
                            first_text_source[pos] = Some((name.clone(), base.clone()));
                        }
                    }
                    let n = part.newlines;
                    acc.merge(part, lines_before);
                    lines_before += n;
                    Ok(())
                }
                Err(f) => Err(GroupByError::Data {
                    name: name.clone(),
                    line: base.get() + lines_before + f.line,
                    message: f.message,
                }),
            }
        };
        let all = first.map(Ok).into_iter().chain(chunks);
        match pool {
            Some(pool) => pipeline::drive_parallel(pool, all, work, sink)?,
            None => pipeline::drive_serial(all, work, sink)?,
        }
    }
    let (layout, acc) = total.expect("at least one source");
    Ok(NativeRun { header: first_header, layout, acc, first_text_source, shard_span })
}

/// The mergeable state of a group-by over one input or one shard of it: what `--partial-out`
/// writes and `pframe merge` combines. Lines in `first_text` count from the shard's start;
/// merging the shards in order places them in the file, as merging chunks does.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupByState {
    header: Vec<String>,
    kinds: Vec<Kind>,
    first_text: Vec<Option<(u64, String)>>,
    newlines: u64,
    /// Encoded keys and their aggregation states, sorted by key so the file is deterministic.
    groups: Vec<(Vec<u8>, Vec<State>)>,
}

/// Runs the engine (serial, parallel, or polars parsing the chunks) and returns its state
/// instead of the result, with the shard's byte range when it read a shard. The check that numeric aggregations see no text is
/// left to the merge, which sees every shard, so that a failing job reports the same first
/// offending line as a single run.
pub fn group_by_state(
    plan: &GroupByPlan,
    sources: &[Source],
) -> Result<(GroupByState, Option<(u64, u64)>), GroupByError> {
    check_engine(plan, sources)?;
    let run = aggregate_native(plan, sources)?;
    let mut groups: Vec<(Vec<u8>, Vec<State>)> = run.acc.groups.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let state = GroupByState {
        header: run.header,
        kinds: run.acc.kinds,
        first_text: run.acc.first_text,
        newlines: run.acc.newlines,
        groups,
    };
    Ok((state, run.shard_span))
}

/// Merges the states of consecutive shards of `input` (in shard order) into the final result:
/// the same table, or the same error, as one run over the whole input.
pub fn merge_states(plan: &GroupByPlan, input: &str, states: Vec<GroupByState>) -> Result<Table, GroupByError> {
    let malformed = || GroupByError::Query { name: input.to_string(), message: "malformed partial state".into() };
    let header = states.first().ok_or_else(malformed)?.header.clone();
    let layout = Layout::resolve(&header, plan, input)?;
    let mut acc = Partial::new(&layout);
    let mut first_text_source = vec![None; layout.used.len()];
    let mut lines_before = 0;
    let width = layout.used.len();
    for st in states {
        let arity_ok = st.groups.iter().all(|(_, s)| s.len() == plan.aggs.len());
        if st.header != header || st.kinds.len() != width || st.first_text.len() != width || !arity_ok {
            return Err(malformed());
        }
        for (pos, ft) in st.first_text.iter().enumerate() {
            if ft.is_some() && acc.first_text[pos].is_none() {
                first_text_source[pos] = Some((input.to_string(), LineBase::default()));
            }
        }
        let part = Partial {
            groups: st.groups.into_iter().collect(),
            kinds: st.kinds,
            first_text: st.first_text,
            newlines: st.newlines,
        };
        let n = part.newlines;
        acc.merge(part, lines_before);
        lines_before += n;
    }
    check_and_finish(plan, NativeRun { header, layout, acc, first_text_source, shard_span: None })
}

/// Applies the declared types, rejects numeric aggregations over text, and builds the table.
fn check_and_finish(plan: &GroupByPlan, run: NativeRun) -> Result<Table, GroupByError> {
    let NativeRun { layout, mut acc, first_text_source, .. } = run;
    for (kind, declared) in acc.kinds.iter_mut().zip(&layout.declared) {
        if let Some(d) = declared {
            *kind = *d;
        }
    }
    // Numeric aggregations over a column that holds text: report the first text value.
    for (spec, col) in plan.aggs.iter().zip(&layout.agg_cols) {
        if let Some(c) = *col
            && spec.func.is_numeric()
            && acc.kinds[c] == Kind::Str
        {
            let (line, text) = acc.first_text[c].clone().expect("a text column has a first text value");
            let (name, base) = first_text_source[c].clone().unwrap_or_default();
            return Err(GroupByError::Data {
                name,
                line: base.get() + line,
                message: format!("column {}: cannot parse \"{text}\" as a number (for {spec})", layout.names[c]),
            });
        }
    }
    Ok(finish(plan, &layout, acc))
}

fn decode_key(mut key: &[u8], n: usize) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if key[0] == 0 {
            out.push(None);
            key = &key[1..];
        } else {
            let len = u32::from_le_bytes(key[1..5].try_into().unwrap()) as usize;
            out.push(Some(String::from_utf8(key[5..5 + len].to_vec()).expect("keys are valid UTF-8")));
            key = &key[5 + len..];
        }
    }
    out
}

fn typed(text: &str, kind: Kind) -> Value {
    match (kind, parse_num(text.as_bytes())) {
        (Kind::Int, Some(Num::Int(i))) => Value::Int(i),
        (Kind::Int | Kind::Float, Some(n)) => Value::Float(n.as_f64()),
        _ => Value::Str(text.to_string()),
    }
}

fn num_value(n: Num, kind: Kind) -> Value {
    match (n, kind) {
        (Num::Int(i), Kind::Int) => Value::Int(i),
        (n, _) => Value::Float(n.as_f64()),
    }
}

fn finish(plan: &GroupByPlan, layout: &Layout, acc: Partial) -> Table {
    let key_kinds: Vec<Kind> = layout.keys.iter().map(|&k| acc.kinds[k]).collect();
    let mut groups: Vec<(Vec<Option<String>>, Vec<State>)> =
        acc.groups.into_iter().map(|(k, s)| (decode_key(&k, layout.keys.len()), s)).collect();
    groups.sort_by(|(a, _), (b, _)| {
        for ((x, y), kind) in a.iter().zip(b).zip(&key_kinds) {
            let o = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => match (kind, parse_num(x.as_bytes()), parse_num(y.as_bytes())) {
                    (Kind::Int | Kind::Float, Some(p), Some(q)) => match (p, q) {
                        (Num::Int(p), Num::Int(q)) => p.cmp(&q),
                        (p, q) => p.as_f64().total_cmp(&q.as_f64()),
                    },
                    _ => x.as_bytes().cmp(y.as_bytes()),
                },
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let mut headers = plan.by.clone();
    headers.extend(plan.aggs.iter().map(AggSpec::output_name));
    let rows = groups
        .into_iter()
        .map(|(key, states)| {
            let mut row: Vec<Value> = key
                .iter()
                .zip(&key_kinds)
                .map(|(k, &kind)| k.as_deref().map_or(Value::Null, |t| typed(t, kind)))
                .collect();
            for ((spec, col), state) in plan.aggs.iter().zip(&layout.agg_cols).zip(states) {
                let kind = col.map_or(Kind::Null, |c| acc.kinds[c]);
                row.push(agg_value(spec.func, kind, state));
            }
            row
        })
        .collect();
    Table { headers, rows, json: JsonShape::Records }
}

fn agg_value(func: AggFn, kind: Kind, state: State) -> Value {
    let opt_f = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
    match state {
        State::Rows(n) | State::Count(n) => Value::UInt(n),
        State::Moments(m) => match func {
            AggFn::Sum if kind == Kind::Int || kind == Kind::Null => match i64::try_from(m.int_sum) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(m.int_sum as f64),
            },
            AggFn::Sum => Value::Float(m.float_sum()),
            AggFn::Mean => opt_f(m.mean()),
            AggFn::Var => opt_f(m.var()),
            _ => opt_f(m.var().map(f64::sqrt)),
        },
        State::Extreme { num, text, .. } => match kind {
            Kind::Int | Kind::Float => num.map_or(Value::Null, |n| num_value(n, kind)),
            _ => text.map_or(Value::Null, |t| Value::Str(t.into())),
        },
        State::First(s) | State::Last(s) => s.map_or(Value::Null, |s| match (kind, s.num) {
            (Kind::Int | Kind::Float, Some(n)) => num_value(n, kind),
            _ => Value::Str(s.text.into()),
        }),
        State::Median(mut vs) => {
            if vs.is_empty() {
                return Value::Null;
            }
            vs.sort_by(|a, b| a.as_f64().total_cmp(&b.as_f64()));
            let n = vs.len();
            let m = if n % 2 == 1 { vs[n / 2].as_f64() } else { (vs[n / 2 - 1].as_f64() + vs[n / 2].as_f64()) / 2.0 };
            Value::Float(m)
        }
        State::Unique { text, nums } => {
            Value::UInt(if matches!(kind, Kind::Int | Kind::Float) { nums.len() } else { text.len() } as u64)
        }
    }
}
