//! The only code that writes results: aligned tables for people, CSV/TSV/JSON for programs, and
//! the atomic file writer behind `-o`.
//!
//! Every command builds a [`Table`] and hands it here with a [`Format`]; the default format is
//! `table` when stdout is a terminal and `csv` otherwise, the same rule for every command.

pub mod compress;
pub(crate) mod delimited;
mod frame;
pub mod number;
mod parquet;

pub use parquet::{frame as table_frame, frame_of_blocks};
mod sink;

pub use sink::{Destination, OutputSink};

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    /// One JSON object per row, one per line.
    Ndjson,
    /// A Parquet file (binary: to a file or a pipe, not a terminal).
    Parquet,
}

impl Format {
    pub const ALL: [Format; 6] =
        [Format::Table, Format::Csv, Format::Tsv, Format::Json, Format::Ndjson, Format::Parquet];

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }

    /// The format to use when none was asked for: by the output file's extension, else a table on
    /// a terminal and CSV in a pipe or file.
    pub fn default_for(output: Option<&Path>, stdout_is_terminal: bool) -> Format {
        if let Some(path) = output {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            return match ext.as_str() {
                "json" => Format::Json,
                "ndjson" | "jsonl" => Format::Ndjson,
                "parquet" | "pq" => Format::Parquet,
                "tsv" | "tab" => Format::Tsv,
                "txt" => Format::Table,
                _ => Format::Csv,
            };
        }
        if stdout_is_terminal { Format::Table } else { Format::Csv }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format \"{s}\" (expected table, csv, tsv, json, ndjson or parquet)"))
    }
}

/// One cell of a result table.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Null,
}

impl Value {
    fn is_numeric(&self) -> bool {
        matches!(self, Value::Int(_) | Value::UInt(_) | Value::Float(_))
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Int(n) => (*n).into(),
            Value::UInt(n) => (*n).into(),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into),
            Value::Null => serde_json::Value::Null,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(n) => write!(f, "{n}"),
            Value::UInt(n) => write!(f, "{n}"),
            // Shortest representation that reads back to the same f64, as Python's repr does.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Null => Ok(()),
        }
    }
}

/// How a table is written as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonShape {
    /// One object: `{key: value, ...}` from a two-column table, `{header: value}` from a
    /// one-row, one-column table (the shape of `pframe count`).
    Object,
    /// An array of row objects.
    Records,
}

/// A result: named columns and rows of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub json: JsonShape,
}

impl Table {
    /// Writes the table in `format`.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Table => self.write_aligned(out),
            Format::Csv => self.write_delimited(b',', true, out),
            Format::Tsv => self.write_delimited(b'\t', true, out),
            Format::Json => self.write_json(out),
            Format::Ndjson => self.write_ndjson(out),
            Format::Parquet => parquet::write(self, out),
        }
    }

    pub(crate) fn write_delimited(&self, delimiter: u8, header: bool, out: &mut dyn Write) -> io::Result<()> {
        let mut w = delimited::Delimited::new(delimiter);
        let mut buf = Vec::with_capacity(1 << 16);
        if header {
            for h in &self.headers {
                w.text(&mut buf, h.as_bytes());
            }
            w.end(&mut buf);
        }
        for row in &self.rows {
            for v in row {
                w.value(&mut buf, v);
            }
            w.end(&mut buf);
            if buf.len() >= 1 << 16 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        out.write_all(&buf)
    }

    fn row_object(&self, row: &[Value]) -> serde_json::Value {
        serde_json::Value::Object(self.headers.iter().cloned().zip(row.iter().map(Value::to_json)).collect())
    }

    fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()> {
        for row in &self.rows {
            serde_json::to_writer(&mut *out, &self.row_object(row)).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let value = match self.json {
            JsonShape::Object if self.headers.len() == 1 => {
                let mut m = serde_json::Map::new();
                let v = self.rows.first().and_then(|r| r.first()).map_or(serde_json::Value::Null, Value::to_json);
                m.insert(self.headers[0].clone(), v);
                serde_json::Value::Object(m)
            }
            JsonShape::Object => {
                let m = self.rows.iter().map(|r| (r[0].to_string(), r[1].to_json())).collect();
                serde_json::Value::Object(m)
            }
            JsonShape::Records => serde_json::Value::Array(self.rows.iter().map(|r| self.row_object(r)).collect()),
        };
        serde_json::to_writer_pretty(&mut *out, &value).map_err(io::Error::from)?;
        out.write_all(b"\n")
    }

    /// Columns padded to their widest cell; numbers right-aligned, text left-aligned. Text that
    /// would be invisible or break the layout (whitespace, control characters) is shown escaped.
    fn write_aligned(&self, out: &mut dyn Write) -> io::Result<()> {
        let shown: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|v| if let Value::Str(s) = v { display_text(s) } else { v.to_string() }).collect())
            .collect();
        let ncols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &shown {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..ncols)
            .map(|c| !self.rows.is_empty() && self.rows.iter().all(|r| r[c].is_numeric() || r[c] == Value::Null))
            .collect();
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let mut s = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c > 0 {
                    s.push_str("  ");
                }
                let pad = widths[c] - cell.chars().count();
                if numeric[c] {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(cell);
                } else {
                    s.push_str(cell);
                    if c + 1 < ncols {
                        s.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
        line(&self.headers, out)?;
        for row in &shown {
            line(row, out)?;
        }
        Ok(())
    }
}

/// Rows of a result: values, or a polars frame's rows (written straight from its columns where
/// the format streams).
pub enum Rows<'a> {
    Values(Vec<Vec<Value>>),
    Frame(&'a polars::prelude::DataFrame),
}

/// A part of a result, ready for [`RowWriter::part`]: formatted where the format streams (so
/// formatting can run on a worker thread), rows where the whole result is needed.
pub enum Part {
    Bytes(Vec<u8>),
    Rows(Vec<Vec<Value>>),
}

impl Part {
    pub fn new(format: Format, headers: &[String], rows: Vec<Vec<Value>>) -> io::Result<Part> {
        let table = Table { headers: headers.to_vec(), rows, json: JsonShape::Records };
        let mut bytes = Vec::new();
        match format {
            Format::Csv => table.write_delimited(b',', false, &mut bytes)?,
            Format::Tsv => table.write_delimited(b'\t', false, &mut bytes)?,
            Format::Ndjson => table.write_ndjson(&mut bytes)?,
            Format::Table | Format::Json | Format::Parquet => return Ok(Part::Rows(table.rows)),
        }
        Ok(Part::Bytes(bytes))
    }

    /// The part of `rows`: a frame's rows as CSV or TSV written from its columns (see
    /// [`frame::write_delimited`]), else as values.
    pub fn of(format: Format, headers: &[String], rows: Rows<'_>) -> io::Result<Part> {
        match (rows, format) {
            (Rows::Values(rows), _) => Part::new(format, headers, rows),
            (Rows::Frame(df), Format::Csv | Format::Tsv) => {
                let mut bytes = Vec::new();
                frame::write_delimited(df, if format == Format::Csv { b',' } else { b'\t' }, &mut bytes)?;
                Ok(Part::Bytes(bytes))
            }
            (Rows::Frame(df), _) => {
                let table = crate::engine::polars::frame_to_table(df).map_err(|e| io::Error::other(e.to_string()))?;
                Part::new(format, headers, table.rows)
            }
        }
    }
}

/// Writes a result that arrives in parts, in order: CSV, TSV and NDJSON parts go out as they
/// arrive (after the header, once); a table, JSON or Parquet needs every row (column widths, one
/// document), so those parts are kept and written by [`RowWriter::finish`].
pub struct RowWriter {
    format: Format,
    table: Table,
    started: bool,
}

impl RowWriter {
    pub fn new(format: Format, headers: &[String]) -> RowWriter {
        let table = Table { headers: headers.to_vec(), rows: Vec::new(), json: JsonShape::Records };
        RowWriter { format, table, started: false }
    }

    /// The next part of the result.
    pub fn part(&mut self, part: Part, out: &mut dyn Write) -> io::Result<()> {
        if !std::mem::replace(&mut self.started, true) {
            match self.format {
                Format::Csv => Table { rows: Vec::new(), ..self.table.clone() }.write_delimited(b',', true, out)?,
                Format::Tsv => Table { rows: Vec::new(), ..self.table.clone() }.write_delimited(b'\t', true, out)?,
                _ => {}
            }
        }
        match part {
            Part::Bytes(bytes) => out.write_all(&bytes),
            Part::Rows(rows) => {
                self.table.rows.extend(rows);
                Ok(())
            }
        }
    }

    /// Writes what was kept, if anything.
    pub fn finish(mut self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Csv | Format::Tsv | Format::Ndjson => self.part(Part::Bytes(Vec::new()), out),
            _ => self.table.write(self.format, out),
        }
    }
}

fn display_text(s: &str) -> String {
    if s.is_empty() || s.chars().all(char::is_whitespace) || s.chars().any(char::is_control) {
        format!("{:?}", s)
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters() -> Table {
        Table {
            headers: vec!["letter".into(), "count".into()],
            rows: vec![vec![Value::Str("a".into()), Value::UInt(12)], vec![Value::Str("b".into()), Value::UInt(3)]],
            json: JsonShape::Object,
        }
    }

    fn render(t: &Table, f: Format) -> String {
        let mut v = Vec::new();
        t.write(f, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn writes_every_format() {
        let t = letters();
        assert_eq!(render(&t, Format::Csv), "letter,count\na,12\nb,3\n");
        assert_eq!(render(&t, Format::Tsv), "letter\tcount\na\t12\nb\t3\n");
        assert_eq!(render(&t, Format::Table), "letter  count\na          12\nb           3\n");
        let json: serde_json::Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
        assert_eq!(json, serde_json::json!({"a": 12, "b": 3}));
    }

    #[test]
    fn csv_quotes_awkward_keys() {
        let t = Table {
            headers: vec!["char".into(), "count".into()],
            rows: vec![vec![Value::Str(",".into()), Value::UInt(1)], vec![Value::Str("\"".into()), Value::UInt(2)]],
            json: JsonShape::Object,
        };
        assert_eq!(render(&t, Format::Csv), "char,count\n\",\",1\n\"\"\"\",2\n");
    }

    #[test]
    fn default_format_follows_the_terminal_and_the_extension() {
        assert_eq!(Format::default_for(None, true), Format::Table);
        assert_eq!(Format::default_for(None, false), Format::Csv);
        assert_eq!(Format::default_for(Some(Path::new("x.json")), true), Format::Json);
        assert_eq!(Format::default_for(Some(Path::new("x.csv")), true), Format::Csv);
    }
}
