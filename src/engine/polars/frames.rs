//! Typed polars frames from pframe's records: every SQL path reads CSV through the input layer's
//! dialect and types values as `groupby` does ([`crate::input::value`]), then hands polars
//! columns; polars' own CSV reader, whose rules differ (blank lines, quotes, number syntax), is not
//! used for SQL.
//!
//! A chunk's records are read once into [`Records`] (each field's text and number). A column's
//! type can widen as later values need it (int -> float -> text); a chunk is then cut into
//! segments at the rows where a type widens, each built as one frame with the types in force from
//! there on ([`Records::segments`]).

use std::ops::Range;

use polars::prelude::*;

use crate::input::dialect::{self, Fault};
use crate::input::value::{Kind, NullValues, Num, declared_mismatch, read_field};

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
    #[inline]
    fn value(&self, c: usize, raw: &[u8], line: u64) -> Result<Option<Option<Num>>, Fault> {
        read_field(raw, self.declared[c], self.nulls)
            .map_err(|e| Fault { line, message: declared_mismatch(&self.names[c], raw, e) })
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

/// One field of [`Records`]: its text in the arena, and its value.
#[derive(Debug, Clone, Copy)]
struct Cell {
    start: usize,
    len: u32,
    /// `None`: null; `Some(None)`: text; `Some(Some(n))`: a number.
    value: Option<Option<Num>>,
}

/// A chunk's records, read once: per column, per record, the field's text and value; per record,
/// its line.
pub struct Records {
    arena: Vec<u8>,
    columns: Vec<Vec<Cell>>,
    lines: Vec<u64>,
}

/// A run of rows with one set of column types.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub rows: Range<usize>,
    pub kinds: Vec<Kind>,
    /// The column whose type widened at this segment's first row, if one did: (column, line,
    /// value), for a message if the query cannot take the new type.
    pub widened: Option<(usize, u64, String)>,
}

impl Records {
    /// Reads a chunk's records (no header); `line_base` places their lines.
    pub fn read(data: &[u8], rules: &FieldRules, line_base: u64) -> Result<Records, Fault> {
        let n = rules.used.len();
        // Records are at most the lines: each column sized once (growing them cost a copy each).
        let rows = crate::engine::kernels::count_newlines(data) as usize + 1;
        let mut rec = Records {
            arena: Vec::with_capacity(data.len()),
            columns: (0..n).map(|_| Vec::with_capacity(rows)).collect(),
            lines: Vec::with_capacity(rows),
        };
        dialect::for_each_record(data, rules.delimiter, rules.width, rules.used, line_base, |fields, line| {
            for (c, raw) in fields.iter().enumerate() {
                let value = rules.value(c, raw, line)?;
                let start = rec.arena.len();
                if value.is_some() {
                    rec.arena.extend_from_slice(raw);
                }
                rec.columns[c].push(Cell { start, len: raw.len() as u32, value });
            }
            rec.lines.push(line);
            Ok::<(), Fault>(())
        })?;
        Ok(rec)
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line on which row `row` starts.
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    fn text(&self, cell: &Cell) -> &[u8] {
        &self.arena[cell.start..cell.start + cell.len as usize]
    }

    /// The kinds of every column over these records.
    pub fn kinds(&self) -> Vec<Kind> {
        self.columns.iter().map(|col| col.iter().map(|c| kind_of(c.value)).max().unwrap_or(Kind::Null)).collect()
    }

    /// Cuts the rows into segments of constant column types, starting from the types `start`
    /// (those of all earlier rows): a row whose value a column's type cannot hold widens it from
    /// that row on. Returns the segments and the types after the last row.
    pub fn segments(&self, start: &[Kind]) -> (Vec<Segment>, Vec<Kind>) {
        let mut kinds = start.to_vec();
        let mut segments = Vec::new();
        let mut from = 0usize;
        let mut widened = None;
        for row in 0..self.len() {
            let mut wider = None;
            for (c, col) in self.columns.iter().enumerate() {
                let k = kind_of(col[row].value);
                if k > kinds[c] {
                    wider.get_or_insert((c, k));
                }
            }
            if let Some((c, _)) = wider {
                if row > from {
                    segments.push(Segment { rows: from..row, kinds: kinds.clone(), widened: widened.take() });
                }
                for (k, col) in kinds.iter_mut().zip(&self.columns) {
                    *k = (*k).max(kind_of(col[row].value));
                }
                let value = String::from_utf8_lossy(self.text(&self.columns[c][row])).into_owned();
                widened = Some((c, self.lines[row], value));
                from = row;
            }
        }
        if from < self.len() || segments.is_empty() {
            segments.push(Segment { rows: from..self.len(), kinds: kinds.clone(), widened });
        }
        (segments, kinds)
    }

    /// The rows `rows` as a frame whose columns have the types `kinds` (which must hold every
    /// value: see [`Records::segments`]). Text that is not UTF-8 is a fault. Without columns (a
    /// query that reads none, `SELECT count(*)`), the frame has one column of nulls: its rows.
    pub fn frame(&self, names: &[String], rows: Range<usize>, kinds: &[Kind]) -> Result<DataFrame, Fault> {
        if names.is_empty() {
            return Ok(rows_only(rows.len()));
        }
        let mut columns = Vec::with_capacity(names.len());
        for ((name, col), &kind) in names.iter().zip(&self.columns).zip(kinds) {
            let cells = &col[rows.clone()];
            let name: PlSmallStr = name.as_str().into();
            let series = match kind {
                Kind::Int => Int64Chunked::from_iter_options(
                    name,
                    cells.iter().map(|c| match c.value {
                        Some(Some(Num::Int(i))) => Some(i),
                        _ => None,
                    }),
                )
                .into_series(),
                Kind::Float => Float64Chunked::from_iter_options(
                    name,
                    cells.iter().map(|c| match c.value {
                        Some(Some(n)) => Some(n.as_f64()),
                        _ => None,
                    }),
                )
                .into_series(),
                Kind::Str | Kind::Null => {
                    let mut texts: Vec<Option<&str>> = Vec::with_capacity(cells.len());
                    for (i, c) in cells.iter().enumerate() {
                        texts.push(match c.value {
                            None => None,
                            Some(_) => Some(
                                std::str::from_utf8(self.text(c))
                                    .map_err(|_| invalid_utf8(name.as_str(), self.lines[rows.start + i]))?,
                            ),
                        });
                    }
                    StringChunked::from_iter_options(name, texts.into_iter()).into_series()
                }
            };
            columns.push(series.into_column());
        }
        let height = rows.len();
        DataFrame::new(height, columns)
            .map_err(|e| Fault { line: self.lines.first().copied().unwrap_or(1), message: e.to_string() })
    }
}

/// The column of a frame for a query that reads no column: it carries the number of rows.
const ROWS_COLUMN: &str = "__pframe_rows";

fn rows_only(height: usize) -> DataFrame {
    let rows = BooleanChunked::full_null(ROWS_COLUMN.into(), height).into_series().into_column();
    DataFrame::new(height, vec![rows]).expect("one column of the frame's height")
}

/// An empty frame with the columns `names` of types `kinds`: what a query is planned against.
/// Without columns, the rows-only frame of [`Records::frame`].
pub fn empty_frame(names: &[String], kinds: &[Kind]) -> DataFrame {
    if names.is_empty() {
        return rows_only(0);
    }
    let schema =
        Schema::from_iter(names.iter().zip(kinds).map(|(n, &k)| Field::new(n.as_str().into(), super::dtype(k))));
    DataFrame::empty_with_schema(&schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules<'a>(names: &'a [String], used: &'a [usize], nulls: &'a NullValues) -> FieldRules<'a> {
        FieldRules { delimiter: b',', width: names.len(), used, names, declared: &[None, None], nulls }
    }

    #[test]
    fn a_late_value_widens_its_column_from_its_row_on() {
        let names = vec!["k".to_string(), "v".to_string()];
        let nulls = NullValues::parse("NA");
        let r = rules(&names, &[0, 1], &nulls);
        let rec = Records::read(b"a,1\nb,NA\nc,2.5\nd,3\ne,x\n", &r, 1).unwrap();
        let (segs, end) = rec.segments(&[Kind::Str, Kind::Int]);
        assert_eq!(end, vec![Kind::Str, Kind::Str]);
        let spans: Vec<(Range<usize>, Vec<Kind>)> = segs.iter().map(|s| (s.rows.clone(), s.kinds.clone())).collect();
        assert_eq!(
            spans,
            vec![
                (0..2, vec![Kind::Str, Kind::Int]),
                (2..4, vec![Kind::Str, Kind::Float]),
                (4..5, vec![Kind::Str, Kind::Str])
            ]
        );
        assert_eq!(segs[2].widened, Some((1, 6, "x".to_string())));
        let df = rec.frame(&names, segs[1].rows.clone(), &segs[1].kinds).unwrap();
        assert_eq!(df.column("v").unwrap().dtype(), &DataType::Float64);
        let text = rec.frame(&names, 0..5, &end).unwrap();
        let v: Vec<Option<&str>> = text.column("v").unwrap().str().unwrap().iter().collect();
        assert_eq!(v, [Some("1"), None, Some("2.5"), Some("3"), Some("x")]);
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
}
