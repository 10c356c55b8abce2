//! A polars frame written as CSV or TSV straight from its columns: the bytes
//! [`super::Table::write_delimited`] writes for the frame's rows as values, without making a value
//! (and, for text, a `String`) per cell. The row-wise `sql` path writes every joined or selected
//! row this way.

use std::io;

use polars::prelude::*;

use super::delimited::Delimited;
use super::number::Number;

/// One cell, borrowed from its column where it can be.
enum Cell<'a> {
    Text(&'a str),
    Number(Number),
    Owned(String),
    Null,
}

type Cells<'a> = Box<dyn Iterator<Item = Cell<'a>> + 'a>;

fn to_io(e: PolarsError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The column as it is written: integers widened to 64 bits and `f32` to `f64` (as a value of the
/// row-wise result is), every other type as it is.
fn widened(series: &Series) -> PolarsResult<Series> {
    let to = match series.dtype() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 => DataType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => DataType::UInt64,
        DataType::Float32 => DataType::Float64,
        _ => return Ok(series.rechunk()),
    };
    Ok(series.cast(&to)?.rechunk())
}

/// A column's cells, in order.
fn cells(series: &Series) -> PolarsResult<Cells<'_>> {
    Ok(match series.dtype() {
        DataType::String => Box::new(series.str()?.iter().map(|v| v.map_or(Cell::Null, Cell::Text))),
        DataType::Int64 => {
            Box::new(series.i64()?.iter().map(|v| v.map_or(Cell::Null, |n| Cell::Number(Number::Int(n)))))
        }
        DataType::UInt64 => {
            Box::new(series.u64()?.iter().map(|v| v.map_or(Cell::Null, |n| Cell::Number(Number::UInt(n)))))
        }
        DataType::Float64 => {
            Box::new(series.f64()?.iter().map(|v| v.map_or(Cell::Null, |x| Cell::Number(Number::Float(x)))))
        }
        DataType::Boolean => Box::new(
            series.bool()?.iter().map(|v| v.map_or(Cell::Null, |b| Cell::Text(if b { "true" } else { "false" }))),
        ),
        _ => Box::new(series.iter().map(|v| match v {
            AnyValue::Null => Cell::Null,
            other => Cell::Owned(other.to_string()),
        })),
    })
}

/// Appends the frame's rows (no header) to `out`, fields separated by `delimiter`.
pub fn write_delimited(df: &DataFrame, delimiter: u8, out: &mut Vec<u8>) -> io::Result<()> {
    let columns: Vec<Series> =
        df.columns().iter().map(|c| widened(c.as_materialized_series())).collect::<PolarsResult<_>>().map_err(to_io)?;
    let mut iters: Vec<Cells<'_>> = columns.iter().map(cells).collect::<PolarsResult<_>>().map_err(to_io)?;
    let mut w = Delimited::new(delimiter);
    for _ in 0..df.height() {
        for cells in &mut iters {
            match cells.next().unwrap_or(Cell::Null) {
                Cell::Text(s) => w.text(out, s.as_bytes()),
                Cell::Owned(s) => w.text(out, s.as_bytes()),
                Cell::Null => w.text(out, b""),
                Cell::Number(n) => w.number(out, n),
            }
        }
        w.end(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Format, Part};

    /// Every type the row-wise path can produce, with nulls, quotes, delimiters and newlines in
    /// text: the same bytes as the frame's rows written as values.
    #[test]
    fn writes_what_the_values_would() {
        let df = df! {
            "s" => [Some("plain"), Some("a,b"), Some("say \"hi\""), None, Some("two\nlines"), Some("tab\there")],
            "i8" => [Some(1i8), None, Some(-3), Some(4), Some(5), Some(i8::MIN)],
            "i64" => [Some(i64::MAX), Some(0), None, Some(-7), Some(1), Some(2)],
            "u32" => [Some(1u32), Some(2), Some(3), None, Some(u32::MAX), Some(0)],
            "f32" => [Some(0.1f32), Some(1.0), None, Some(-2.5), Some(1e-7), Some(f32::INFINITY)],
            "f64" => [Some(0.1f64), Some(1e16), Some(1e-7), None, Some(f64::NAN), Some(-0.0)],
            "b" => [Some(true), Some(false), None, Some(true), Some(false), Some(true)],
        }
        .unwrap();
        let days = df.column("i8").unwrap().as_materialized_series().cast(&DataType::Int32).unwrap();
        let dates = days.cast(&DataType::Date).unwrap();
        let mut df = df;
        df.with_column(dates.with_name("d".into()).into_column()).unwrap();
        let headers: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
        let table = crate::engine::polars::frame_to_table(&df).unwrap();
        for (format, delimiter) in [(Format::Csv, b','), (Format::Tsv, b'\t')] {
            let Part::Bytes(expected) = Part::new(format, &headers, table.rows.clone()).unwrap() else {
                panic!("a delimited format gives bytes")
            };
            let mut ours = Vec::new();
            write_delimited(&df, delimiter, &mut ours).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
