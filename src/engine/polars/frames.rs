//! Typed polars frames from pframe's records: every SQL path reads CSV through the input layer's
//! dialect and types values as `groupby` does ([`crate::input::value`]), then hands polars
//! columns; polars' own CSV reader, whose rules differ (blank lines, quotes, number syntax), is not
//! used for SQL.
//!
//! A chunk's records are read once, each field straight into its column's builder in the type
//! in force ([`read_runs`]). A column's type can widen as later values need it (int -> float ->
//! text); a chunk is then cut into runs at the records where a type widens, each one frame with
//! the types in force from there on.

use polars::prelude::*;
use polars_arrow::array::{Utf8ViewArray, View};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::ArrowDataType;

use crate::input::dialect::{self, Fault};
use crate::input::value::{Kind, NotDeclaredType, NullValues, Num, declared_mismatch, read_field};

/// How a chunk's fields are read: the dialect's delimiter, the columns wanted, their declared
/// types, the null markers.
pub struct FieldRules<'a> {
    pub delimiter: u8,
    /// The input's number of columns.
    pub width: usize,
    /// Header indices of the columns wanted, in the order of `names`.
    pub used: &'a [usize],
    pub names: &'a [String],
    /// Declared types (`--schema`) of the columns wanted.
    pub declared: &'a [Option<Kind>],
    pub nulls: &'a NullValues,
}

impl FieldRules<'_> {
    /// A field read as a value ([`read_field`]): `None` null, `Some(None)` text, else a number.
    #[inline(always)]
    fn value(&self, c: usize, raw: &[u8], line: u64) -> Result<Option<Option<Num>>, Fault> {
        match read_field(raw, self.declared[c], self.nulls) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.mismatch(c, raw, line, e)),
        }
    }

    #[cold]
    #[inline(never)]
    fn mismatch(&self, c: usize, raw: &[u8], line: u64, e: NotDeclaredType) -> Fault {
        Fault { line, message: declared_mismatch(&self.names[c], raw, e) }
    }
}

/// The kind of a value as [`FieldRules::value`] reads it.
fn kind_of(v: Option<Option<Num>>) -> Kind {
    match v {
        None => Kind::Null,
        Some(Some(Num::Int(_))) => Kind::Int,
        Some(Some(Num::Float(_))) => Kind::Float,
        Some(None) => Kind::Str,
    }
}

/// What the fields of a chunk (or a whole input) say about its columns: their kinds, and the
/// first text value of each (line and text) for messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnKinds {
    pub kinds: Vec<Kind>,
    pub first_text: Vec<Option<(u64, String)>>,
    pub records: u64,
}

impl ColumnKinds {
    pub fn new(n: usize) -> ColumnKinds {
        ColumnKinds { kinds: vec![Kind::Null; n], first_text: vec![None; n], records: 0 }
    }

    /// Adds a later part's kinds.
    pub fn merge(&mut self, later: ColumnKinds, line_offset: u64) {
        for (a, b) in self.kinds.iter_mut().zip(later.kinds) {
            *a = (*a).max(b);
        }
        for (a, b) in self.first_text.iter_mut().zip(later.first_text) {
            if a.is_none() {
                *a = b.map(|(l, t)| (l + line_offset, t));
            }
        }
        self.records += later.records;
    }
}

/// Why [`scan_kinds`] stopped reading a chunk.
enum Stop {
    /// It had read as many records as it was asked to.
    Limit,
    Fault(Fault),
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Stop {
        Stop::Fault(f)
    }
}

/// The kinds of the columns over a chunk's records (at most `limit` records): the type
/// inference of a whole input, or of its first rows.
pub fn scan_kinds(data: &[u8], rules: &FieldRules, limit: u64) -> Result<ColumnKinds, Fault> {
    let mut out = ColumnKinds::new(rules.used.len());
    let result = dialect::for_each_record(data, rules.delimiter, rules.width, rules.used, 0, |fields, line| {
        if out.records == limit {
            return Err(Stop::Limit);
        }
        out.records += 1;
        for (c, raw) in fields.iter().enumerate() {
            let kind = kind_of(rules.value(c, raw, line)?);
            if kind == Kind::Str && out.first_text[c].is_none() {
                let text = std::str::from_utf8(raw).map_err(|_| invalid_utf8(&rules.names[c], line))?;
                out.first_text[c] = Some((line, text.to_string()));
            }
            out.kinds[c] = out.kinds[c].max(kind);
        }
        Ok(())
    });
    match result {
        Ok(_) | Err(Stop::Limit) => Ok(out),
        Err(Stop::Fault(f)) => Err(f),
    }
}

fn invalid_utf8(column: &str, line: u64) -> Fault {
    Fault { line, message: format!("column {column}: invalid UTF-8") }
}

/// A run of a chunk's records with one set of column types, as one frame.
pub struct Run {
    pub frame: DataFrame,
    /// The line of its first record (1 for a run without records).
    pub line: u64,
    /// The columns' types over the run.
    pub kinds: Vec<Kind>,
    /// The column whose type widened at this run's first record, if one did: (column, line,
    /// value), for a message if the query cannot take the new type.
    pub widened: Option<(usize, u64, String)>,
}

/// A column of a run being built, in its type: a value it reads is pushed as that type (an
/// integer into a float column as a float, a number into a text column as its text).
enum ColumnBuilder {
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    /// Text, and a column of nulls only.
    Str(StringChunkedBuilder),
}

impl ColumnBuilder {
    fn new(name: &str, kind: Kind, capacity: usize) -> ColumnBuilder {
        let name: PlSmallStr = name.into();
        match kind {
            Kind::Int => ColumnBuilder::Int(PrimitiveChunkedBuilder::new(name, capacity)),
            Kind::Float => ColumnBuilder::Float(PrimitiveChunkedBuilder::new(name, capacity)),
            Kind::Str | Kind::Null => ColumnBuilder::Str(StringChunkedBuilder::new(name, capacity)),
        }
    }

    /// Appends the value `value` read from the field `raw` (which the column's type holds).
    #[inline]
    fn push(&mut self, value: Option<Option<Num>>, raw: &[u8], column: &str, line: u64) -> Result<(), Fault> {
        match (self, value) {
            (ColumnBuilder::Int(b), None) => b.append_null(),
            (ColumnBuilder::Int(b), Some(Some(Num::Int(i)))) => b.append_value(i),
            (ColumnBuilder::Float(b), None) => b.append_null(),
            (ColumnBuilder::Float(b), Some(Some(n))) => b.append_value(n.as_f64()),
            (ColumnBuilder::Str(b), None) => b.append_null(),
            (ColumnBuilder::Str(b), Some(_)) => {
                b.append_value(std::str::from_utf8(raw).map_err(|_| invalid_utf8(column, line))?)
            }
            (ColumnBuilder::Int(_) | ColumnBuilder::Float(_), Some(_)) => {
                unreachable!("a value wider than its column's type starts a run of the wider type first")
            }
        }
        Ok(())
    }

    fn finish(self) -> Column {
        match self {
            ColumnBuilder::Int(b) => b.finish().into_column(),
            ColumnBuilder::Float(b) => b.finish().into_column(),
            ColumnBuilder::Str(b) => b.finish().into_column(),
        }
    }
}

/// The run being read: its types, its columns so far, its records.
struct Building {
    kinds: Vec<Kind>,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    line: Option<u64>,
    widened: Option<(usize, u64, String)>,
}

impl Building {
    fn new(names: &[String], kinds: Vec<Kind>, capacity: usize, widened: Option<(usize, u64, String)>) -> Building {
        let columns = names.iter().zip(&kinds).map(|(n, &k)| ColumnBuilder::new(n, k, capacity)).collect();
        Building { kinds, columns, rows: 0, line: None, widened }
    }

    fn finish(self) -> Result<Run, Fault> {
        let line = self.line.unwrap_or(1);
        let frame = if self.columns.is_empty() {
            rows_only(self.rows)
        } else {
            let columns = self.columns.into_iter().map(ColumnBuilder::finish).collect();
            DataFrame::new(self.rows, columns).map_err(|e| Fault { line, message: e.to_string() })?
        };
        Ok(Run { frame, line, kinds: self.kinds, widened: self.widened })
    }
}

/// Reads a chunk's records (no header; `line_base` places their lines) into frames of the
/// columns of `rules`, typed from `start`, the types of the rows before them: a record whose
/// value a column's type cannot hold widens it (int -> float -> text) from that record on, in a
/// new run. Returns the runs (at least one) and the types after the last record. Text that is not
/// UTF-8 is a fault. `newlines`, the chunk's count of `\n` (its caller needs it too), sizes the
/// columns.
pub fn read_runs(
    data: &[u8],
    rules: &FieldRules,
    start: &[Kind],
    line_base: u64,
    newlines: u64,
) -> Result<(Vec<Run>, Vec<Kind>), Fault> {
    // Records are at most the lines: each run's columns sized once (growing them cost a copy each).
    let lines = newlines as usize + 1;
    // A chunk read from declared types (a table read whole) widens them at its first record,
    // where a run of the wider types starts; the chunk can still be read by columns from there.
    let (kinds, widened) = match first_widening(data, rules, start, line_base) {
        Some((kinds, widened)) => (kinds, Some(widened)),
        None => (start.to_vec(), None),
    };
    match read_columnar(data, rules, &kinds, line_base, lines) {
        Some(run) => Ok((vec![Run { widened, ..run }], kinds)),
        None => read_rows(data, rules, start, line_base, lines),
    }
}

/// The types after the chunk's first record and the widening it makes, as [`read_rows`] makes
/// it (the first column it widens, the record's line, the field), if the first record widens
/// any of the `start` types. `None` too for a first record that is a fault, or a first line that
/// is blank. Used only when the whole chunk is then read by columns, that is when it has no
/// quotes.
fn first_widening(
    data: &[u8],
    rules: &FieldRules,
    start: &[Kind],
    line_base: u64,
) -> Option<(Vec<Kind>, (usize, u64, String))> {
    // Only the first line is read (not a scan of the whole chunk for quotes): a chunk that the
    // columns can read has no quotes, so its first record is its first line.
    let first = memchr::memchr(b'\n', data).map_or(data, |end| &data[..=end]);
    let mut found = None;
    let _ = dialect::for_each_record(first, rules.delimiter, rules.width, rules.used, line_base, |fields, line| {
        let mut kinds = start.to_vec();
        let mut wider = None;
        for (c, raw) in fields.iter().enumerate() {
            let kind = kind_of(rules.value(c, raw, line).map_err(|_| Bail::RowWise)?);
            if kind > kinds[c] {
                wider.get_or_insert((c, String::from_utf8_lossy(raw).into_owned()));
                kinds[c] = kind;
            }
        }
        found = wider.map(|(c, text)| (kinds, (c, line, text)));
        Err(Bail::RowWise)
    });
    found
}

/// [`read_runs`] a record at a time: every value typed as it comes, a run cut where one widens
/// its column.
fn read_rows(
    data: &[u8],
    rules: &FieldRules,
    start: &[Kind],
    line_base: u64,
    lines: usize,
) -> Result<(Vec<Run>, Vec<Kind>), Fault> {
    let mut runs = Vec::new();
    let mut run = Building::new(rules.names, start.to_vec(), lines, None);
    let mut values: Vec<Option<Option<Num>>> = Vec::with_capacity(rules.used.len());
    let mut records = 0usize;
    dialect::for_each_record(data, rules.delimiter, rules.width, rules.used, line_base, |fields, line| {
        values.clear();
        let mut wider = None;
        for (c, raw) in fields.iter().enumerate() {
            let value = rules.value(c, raw, line)?;
            if kind_of(value) > run.kinds[c] && wider.is_none() {
                wider = Some(c);
            }
            values.push(value);
        }
        if let Some(c) = wider {
            let kinds: Vec<Kind> = run.kinds.iter().zip(&values).map(|(&k, &v)| k.max(kind_of(v))).collect();
            let widened = Some((c, line, String::from_utf8_lossy(fields[c]).into_owned()));
            let next = Building::new(rules.names, kinds, lines.saturating_sub(records), widened);
            let done = std::mem::replace(&mut run, next);
            if done.rows > 0 {
                runs.push(done.finish()?);
            }
        }
        for ((column, value), (raw, name)) in run.columns.iter_mut().zip(&values).zip(fields.iter().zip(rules.names)) {
            column.push(*value, raw, name, line)?;
        }
        run.line.get_or_insert(line);
        run.rows += 1;
        records += 1;
        Ok::<(), Fault>(())
    })?;
    let end = run.kinds.clone();
    runs.push(run.finish()?);
    Ok((runs, end))
}

/// Rows whose fields are split before their columns are read, in [`read_columnar`]: their
/// spans stay in the cache while each column is read.
const BLOCK_ROWS: usize = 4096;

/// Why [`read_columnar`] stopped.
enum Bail {
    /// A value its column's type cannot hold, or anything wrong: the row-wise reader reads the
    /// chunk (and says what is wrong, if anything is).
    RowWise,
}

impl From<Fault> for Bail {
    fn from(_: Fault) -> Bail {
        Bail::RowWise
    }
}

/// A column being read by [`read_columnar`], in its type.
enum ColumnValues {
    Int(Vec<i64>, MutableBitmap),
    Float(Vec<f64>, MutableBitmap),
    Str(Texts),
}

/// A column's validity: none when every value is valid.
fn validity(valid: MutableBitmap) -> Option<polars_arrow::bitmap::Bitmap> {
    (valid.unset_bits() > 0).then(|| valid.freeze())
}

/// A text column's values as polars' string views: a text of at most 12 bytes is held in its view
/// itself, a longer one in the column's one buffer (a chunk is under 4 GiB, so every offset fits
/// the view's `u32`). Built here rather than through polars' builder, whose per-value
/// bookkeeping (buffer flushes, a `memcpy` per short text) was 7% of a join's time.
struct Texts {
    views: Vec<View>,
    buffer: Vec<u8>,
    valid: MutableBitmap,
    /// The bytes of the texts (not nulls).
    bytes: usize,
}

impl Texts {
    fn with_capacity(rows: usize) -> Texts {
        Texts {
            views: Vec::with_capacity(rows),
            buffer: Vec::new(),
            valid: MutableBitmap::with_capacity(rows),
            bytes: 0,
        }
    }

    /// Appends the text `data[from..to]` (UTF-8).
    #[inline]
    fn push(&mut self, data: &[u8], from: usize, to: usize) {
        let n = to - from;
        let view = if n <= View::MAX_INLINE_SIZE as usize {
            // A view is its length, then the text's bytes (zeros after them), little-endian.
            let text = match data.get(from..from + 16) {
                // 16 bytes read at once, those past the text masked off.
                Some(word) => u128::from_le_bytes(word.try_into().expect("16 bytes")) & ((1u128 << (8 * n)) - 1),
                None => {
                    let mut word = [0u8; 16];
                    word[..n].copy_from_slice(&data[from..to]);
                    u128::from_le_bytes(word)
                }
            };
            View::from((text << 32) | n as u128)
        } else {
            let offset = self.buffer.len() as u32;
            self.buffer.extend_from_slice(&data[from..to]);
            // SAFETY: the text is longer than a view holds.
            unsafe { View::new_noninline_unchecked(&data[from..to], 0, offset) }
        };
        self.views.push(view);
        self.valid.push(true);
        self.bytes += n;
    }

    fn push_null(&mut self) {
        self.views.push(View::default());
        self.valid.push(false);
    }

    fn finish(self, name: PlSmallStr) -> StringChunked {
        let validity = validity(self.valid);
        let buffer_len = self.buffer.len();
        // SAFETY: every view is inline or lies in the one buffer, and every text is UTF-8 (the
        // chunk was checked, and texts are cut at ASCII separators).
        let array = unsafe {
            Utf8ViewArray::new_unchecked(
                ArrowDataType::Utf8View,
                self.views.into(),
                if buffer_len == 0 { Vec::new().into() } else { vec![self.buffer.into()].into() },
                validity,
                Some(self.bytes),
                buffer_len,
            )
        };
        StringChunked::with_chunk(name, array)
    }
}

impl ColumnValues {
    /// Reads the fields `spans` of `data` (one per row of a block), or bails at the first value
    /// the column's type cannot hold.
    #[inline]
    fn extend(
        &mut self,
        data: &[u8],
        spans: impl Iterator<Item = (u32, u32)>,
        rules: &FieldRules,
        c: usize,
        checked: bool,
    ) -> Result<(), Bail> {
        let declared = rules.declared[c];
        let field = |(from, to): (u32, u32)| &data[from as usize..to as usize];
        match self {
            ColumnValues::Int(values, valid) => {
                for raw in spans.map(field) {
                    match read_field(raw, declared, rules.nulls) {
                        Ok(Some(Some(Num::Int(i)))) => {
                            values.push(i);
                            valid.push(true);
                        }
                        Ok(None) => {
                            values.push(0);
                            valid.push(false);
                        }
                        _ => return Err(Bail::RowWise),
                    }
                }
            }
            ColumnValues::Float(values, valid) => {
                for raw in spans.map(field) {
                    match read_field(raw, declared, rules.nulls) {
                        Ok(Some(Some(n))) => {
                            values.push(n.as_f64());
                            valid.push(true);
                        }
                        Ok(None) => {
                            values.push(0.0);
                            valid.push(false);
                        }
                        _ => return Err(Bail::RowWise),
                    }
                }
            }
            ColumnValues::Str(texts) => {
                // Only a declared numeric type could make a field an error; a text column takes
                // every other field (and the chunk is known to be UTF-8).
                let numeric = matches!(declared, Some(Kind::Int | Kind::Float));
                for (from, to) in spans {
                    if rules.nulls.is_null(field((from, to))) {
                        texts.push_null();
                    } else if numeric || !checked {
                        return Err(Bail::RowWise);
                    } else {
                        texts.push(data, from as usize, to as usize);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self, name: &str) -> Column {
        let name: PlSmallStr = name.into();
        match self {
            ColumnValues::Int(values, valid) => {
                Int64Chunked::from_vec_validity(name, values, validity(valid)).into_column()
            }
            ColumnValues::Float(values, valid) => {
                Float64Chunked::from_vec_validity(name, values, validity(valid)).into_column()
            }
            ColumnValues::Str(texts) => texts.finish(name).into_column(),
        }
    }
}

/// The fast path of [`read_runs`]: a chunk without quotes whose every value fits the types in
/// force (`kinds`) is read a column at a time, a block of rows at a time: the block's fields are
/// split, then each column's fields are read in a loop of its own type, straight into its
/// array. `None` when that does not apply (a value that widens its column, a quote, a ragged
/// record, text that is not UTF-8: whatever the row-wise reader would treat or report), and the
/// chunk is read row by row instead. The frame is the one [`read_runs`] would make.
fn read_columnar(data: &[u8], rules: &FieldRules, kinds: &[Kind], line_base: u64, lines: usize) -> Option<Run> {
    let width = rules.used.len();
    if width == 0 || u32::try_from(data.len()).is_err() || !dialect::is_simple(data) {
        return None;
    }
    // Text fields are cut at ASCII bytes, so a chunk that is UTF-8 makes every field UTF-8.
    let has_text = kinds.iter().any(|&k| matches!(k, Kind::Str | Kind::Null));
    let checked = has_text && std::str::from_utf8(data).is_ok();
    let mut columns: Vec<ColumnValues> = kinds
        .iter()
        .map(|&k| match k {
            Kind::Int => ColumnValues::Int(Vec::with_capacity(lines), MutableBitmap::with_capacity(lines)),
            Kind::Float => ColumnValues::Float(Vec::with_capacity(lines), MutableBitmap::with_capacity(lines)),
            Kind::Str | Kind::Null => ColumnValues::Str(Texts::with_capacity(lines)),
        })
        .collect();
    let base = data.as_ptr() as usize;
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(BLOCK_ROWS * width);
    let mut first_line = None;
    let mut rows = 0usize;
    let mut read_block = |spans: &mut Vec<(u32, u32)>| -> Result<(), Bail> {
        for (c, column) in columns.iter_mut().enumerate() {
            let of_column = spans.iter().skip(c).step_by(width).copied();
            // A column of nulls only (`Kind::Null`) stays so only while its fields are null.
            if kinds[c] == Kind::Null {
                let field = |(from, to): (u32, u32)| &data[from as usize..to as usize];
                if !of_column.clone().map(field).all(|raw| rules.nulls.is_null(raw)) {
                    return Err(Bail::RowWise);
                }
            }
            column.extend(data, of_column, rules, c, checked)?;
        }
        spans.clear();
        Ok(())
    };
    let result = dialect::for_each_record(data, rules.delimiter, rules.width, rules.used, line_base, |fields, line| {
        first_line.get_or_insert(line);
        for f in fields {
            let from = (f.as_ptr() as usize - base) as u32;
            spans.push((from, from + f.len() as u32));
        }
        rows += 1;
        if spans.len() == BLOCK_ROWS * width { read_block(&mut spans) } else { Ok(()) }
    });
    result.ok()?;
    read_block(&mut spans).ok()?;
    let line = first_line.unwrap_or(1);
    let columns = columns.into_iter().zip(rules.names).map(|(c, name)| c.finish(name)).collect();
    let frame = DataFrame::new(rows, columns).ok()?;
    Some(Run { frame, line, kinds: kinds.to_vec(), widened: None })
}

/// The column of a frame for a query that reads no column: it carries the number of rows.
const ROWS_COLUMN: &str = "__pframe_rows";

fn rows_only(height: usize) -> DataFrame {
    let rows = BooleanChunked::full_null(ROWS_COLUMN.into(), height).into_series().into_column();
    DataFrame::new(height, vec![rows]).expect("one column of the frame's height")
}

/// An empty frame with the columns `names` of types `kinds`: what a query is planned against.
/// Without columns, the rows-only frame of [`read_runs`].
pub fn empty_frame(names: &[String], kinds: &[Kind], null: DataType) -> DataFrame {
    if names.is_empty() {
        return rows_only(0);
    }
    let dtype = |k: Kind| if k == Kind::Null { null.clone() } else { super::dtype(k) };
    let schema = Schema::from_iter(names.iter().zip(kinds).map(|(n, &k)| Field::new(n.as_str().into(), dtype(k))));
    DataFrame::empty_with_schema(&schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules<'a>(names: &'a [String], used: &'a [usize], nulls: &'a NullValues) -> FieldRules<'a> {
        FieldRules { delimiter: b',', width: names.len(), used, names, declared: &[None, None], nulls }
    }

    fn read(data: &[u8], r: &FieldRules, start: &[Kind], base: u64) -> Result<(Vec<Run>, Vec<Kind>), Fault> {
        read_runs(data, r, start, base, crate::engine::kernels::count_newlines(data))
    }

    #[test]
    fn a_late_value_widens_its_column_from_its_row_on() {
        let names = vec!["k".to_string(), "v".to_string()];
        let nulls = NullValues::parse("NA");
        let r = rules(&names, &[0, 1], &nulls);
        let data = b"a,1\nb,NA\nc,2.5\nd,3\ne,x\n";
        let (runs, end) = read(data, &r, &[Kind::Str, Kind::Int], 1).unwrap();
        assert_eq!(end, vec![Kind::Str, Kind::Str]);
        let spans: Vec<(u64, usize, Vec<Kind>)> =
            runs.iter().map(|r| (r.line, r.frame.height(), r.kinds.clone())).collect();
        assert_eq!(
            spans,
            vec![
                (2, 2, vec![Kind::Str, Kind::Int]),
                (4, 2, vec![Kind::Str, Kind::Float]),
                (6, 1, vec![Kind::Str, Kind::Str])
            ]
        );
        assert_eq!(runs[0].widened, None);
        assert_eq!(runs[1].widened, Some((1, 4, "2.5".to_string())));
        assert_eq!(runs[2].widened, Some((1, 6, "x".to_string())));
        let v: Vec<Option<i64>> = runs[0].frame.column("v").unwrap().i64().unwrap().iter().collect();
        assert_eq!(v, [Some(1), None]);
        let v: Vec<Option<f64>> = runs[1].frame.column("v").unwrap().f64().unwrap().iter().collect();
        assert_eq!(v, [Some(2.5), Some(3.0)]);
        // Typed from the end's types, every value is text as it was written.
        let (runs, _) = read(data, &r, &end, 1).unwrap();
        assert_eq!(runs.len(), 1);
        let v: Vec<Option<&str>> = runs[0].frame.column("v").unwrap().str().unwrap().iter().collect();
        assert_eq!(v, [Some("1"), None, Some("2.5"), Some("3"), Some("x")]);
    }

    #[test]
    fn a_widening_first_record_and_empty_input_give_one_run() {
        let names = vec!["k".to_string(), "v".to_string()];
        let nulls = NullValues::default();
        let r = rules(&names, &[0, 1], &nulls);
        let (runs, end) = read(b"a,0.5\nb,2\n", &r, &[Kind::Str, Kind::Int], 10).unwrap();
        assert_eq!((runs.len(), end), (1, vec![Kind::Str, Kind::Float]));
        assert_eq!((runs[0].line, runs[0].frame.height()), (11, 2));
        assert_eq!(runs[0].widened, Some((1, 11, "0.5".to_string())));
        let (runs, end) = read(b"", &r, &[Kind::Null, Kind::Int], 0).unwrap();
        assert_eq!((runs.len(), runs[0].frame.height(), end), (1, 0, vec![Kind::Null, Kind::Int]));
        assert_eq!(runs[0].frame.column("k").unwrap().dtype(), &DataType::String);
        let err = read(b"a,1\n\xff,2\n", &r, &[Kind::Str, Kind::Int], 0).err().unwrap();
        assert_eq!((err.line, err.message.as_str()), (2, "column k: invalid UTF-8"));
    }

    #[test]
    fn kinds_of_the_first_rows_only() {
        let names = vec!["k".to_string(), "v".to_string()];
        let nulls = NullValues::default();
        let r = rules(&names, &[0, 1], &nulls);
        let k = scan_kinds(b"a,1\nb,2\nc,x\n", &r, 2).unwrap();
        assert_eq!((k.kinds, k.records), (vec![Kind::Str, Kind::Int], 2));
        let k = scan_kinds(b"a,1\nb,2\nc,x\n", &r, u64::MAX).unwrap();
        assert_eq!((k.kinds, k.first_text[1].clone()), (vec![Kind::Str, Kind::Str], Some((3, "x".to_string()))));
    }

    /// The outcome of a read, comparable: each run's frame, line, types and widening, and the
    /// types after it; or the fault.
    type Outcome = Result<(Vec<(DataFrame, u64, Vec<Kind>, Option<(usize, u64, String)>)>, Vec<Kind>), (u64, String)>;

    fn outcome(r: Result<(Vec<Run>, Vec<Kind>), Fault>) -> Outcome {
        r.map(|(runs, end)| (runs.into_iter().map(|r| (r.frame, r.line, r.kinds, r.widened)).collect(), end))
            .map_err(|f| (f.line, f.message))
    }

    proptest::proptest! {
        /// A column at a time or a record at a time, a chunk reads the same: the same frames (the
        /// same values, nulls and types), runs, widenings and faults, whatever the fields (numbers
        /// that widen a column, text, nulls, quotes, bytes that are not UTF-8, ragged and blank
        /// records, CRLF), the starting types, the declared types and the columns used.
        #[test]
        fn columns_read_as_records_do(
            pools in proptest::collection::vec(0usize..4, 3),
            picks in proptest::collection::vec((proptest::collection::vec(0usize..64, 3), proptest::bool::weighted(0.2)), 0..12),
            ragged in 0usize..40,
            start in proptest::collection::vec(
                proptest::sample::select(vec![Kind::Null, Kind::Int, Kind::Float, Kind::Str]), 2),
            declared in proptest::collection::vec(
                proptest::sample::select(vec![None, None, None, Some(Kind::Int), Some(Kind::Float), Some(Kind::Str)]), 2),
            used in proptest::sample::select(vec![vec![0usize, 1], vec![2, 0], vec![1, 2]]),
            last_newline: bool,
        ) {
            // Each column draws its fields from one pool: integers, numbers, text, or anything.
            let ints: &[&[u8]] = &[b"1", b"-7", b"007", b"", b"NA", b"42", b"+3"];
            let numbers: &[&[u8]] = &[b"1", b"2.5", b"1e3", b"", b"-0.0", b"9223372036854775808", b"NA"];
            // Texts of 12 bytes and fewer are held in their views, longer ones in a buffer.
            let text: &[&[u8]] = &[b"x", b"id3", b"", b"NA", b"\xc3\xa9t\xc3\xa9", b"a b", b"twelve bytes", b"thirteen byte",
                b"a text of twenty-six bytes"];
            let any: &[&[u8]] = &[b"1", b"2.5", b"x", b"", b"NA", b"\xff", b"\"q\"", b"\"a,b\"", b"\"\"", b"7"];
            let pool = |p: usize| [ints, numbers, text, any][p];
            let mut data = Vec::new();
            for (r, (choice, crlf)) in picks.iter().enumerate() {
                let mut fields: Vec<&[u8]> = (0..3).map(|c| pool(pools[c])[choice[c] % pool(pools[c]).len()]).collect();
                if r == ragged {
                    fields.push(b"extra");
                }
                data.extend_from_slice(&fields.join(&b","[..]));
                data.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            if !last_newline && data.last() == Some(&b'\n') {
                data.pop();
            }
            let names = vec!["a".to_string(), "b".to_string()];
            let nulls = NullValues::parse("NA");
            let r = FieldRules { delimiter: b',', width: 3, used: &used, names: &names, declared: &declared, nulls: &nulls };
            let newlines = crate::engine::kernels::count_newlines(&data);
            let lines = newlines as usize + 1;
            let by_records = outcome(read_rows(&data, &r, &start, 4, lines));
            let either = outcome(read_runs(&data, &r, &start, 4, newlines));
            match (&by_records, &either) {
                (Ok((a, end_a)), Ok((b, end_b))) => {
                    proptest::prop_assert_eq!(end_a, end_b);
                    proptest::prop_assert_eq!(a.len(), b.len());
                    for (x, y) in a.iter().zip(b) {
                        proptest::prop_assert!(x.0.equals_missing(&y.0), "{:?} != {:?}", x.0, y.0);
                        proptest::prop_assert_eq!(x.0.schema(), y.0.schema());
                        proptest::prop_assert_eq!((x.1, &x.2, &x.3), (y.1, &y.2, &y.3));
                    }
                }
                _ => proptest::prop_assert_eq!(by_records.err(), either.err()),
            }
        }
    }
}
