//! A polars frame written as CSV or TSV straight from its columns: the bytes
//! [`super::Table::write_delimited`] writes for the frame's rows as values, without making a value
//! (and, for text, a `String`) per cell. The row-wise `sql` path writes every joined or selected
//! row this way.

use std::io;

use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, Utf8ViewArray};

use super::delimited::Delimited;
use super::number::Number;

/// One cell of a column of another type, as text.
enum Cell {
    Owned(String),
    Null,
}

/// A column as it is read for writing: the array of a type written from its values, or the
/// cells of another type (dates, times, ...) as their text.
enum Col<'a> {
    Str(&'a Utf8ViewArray),
    Int(&'a PrimitiveArray<i64>),
    UInt(&'a PrimitiveArray<u64>),
    Float(&'a PrimitiveArray<f64>),
    Bool(&'a BooleanArray),
    Cells(Box<dyn Iterator<Item = Cell> + 'a>),
}

fn to_io(e: PolarsError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The column as it is written: integers widened to 64 bits and `f32` to `f64` (as a value of the
/// row-wise result is), every other type as it is; in one chunk.
fn widened(series: &Series) -> PolarsResult<Series> {
    let to = match series.dtype() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 => DataType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => DataType::UInt64,
        DataType::Float32 => DataType::Float64,
        _ => return Ok(series.rechunk()),
    };
    Ok(series.cast(&to)?.rechunk())
}

/// A (widened, one-chunk) column read for writing.
fn col(series: &Series) -> PolarsResult<Col<'_>> {
    Ok(match series.dtype() {
        DataType::String => Col::Str(series.str()?.downcast_as_array()),
        DataType::Int64 => Col::Int(series.i64()?.downcast_as_array()),
        DataType::UInt64 => Col::UInt(series.u64()?.downcast_as_array()),
        DataType::Float64 => Col::Float(series.f64()?.downcast_as_array()),
        DataType::Boolean => Col::Bool(series.bool()?.downcast_as_array()),
        _ => Col::Cells(Box::new(series.iter().map(|v| match v {
            AnyValue::Null => Cell::Null,
            other => Cell::Owned(other.to_string()),
        }))),
    })
}

/// Appends the frame's rows (no header) to `out`, fields separated by `delimiter`. A row's cells
/// are read straight from the columns' arrays by index; `out` is sized from the first rows.
pub fn write_delimited(df: &DataFrame, delimiter: u8, out: &mut Vec<u8>) -> io::Result<()> {
    let columns: Vec<Series> =
        df.columns().iter().map(|c| widened(c.as_materialized_series())).collect::<PolarsResult<_>>().map_err(to_io)?;
    let mut cols: Vec<Col<'_>> = columns.iter().map(col).collect::<PolarsResult<_>>().map_err(to_io)?;
    let mut w = Delimited::new(delimiter);
    let (height, start) = (df.height(), out.len());
    const SAMPLE: usize = 64;
    for r in 0..height {
        if r == SAMPLE {
            out.reserve((out.len() - start) / SAMPLE * (height - SAMPLE) * 9 / 8);
        }
        for col in &mut cols {
            match col {
                Col::Str(a) if a.is_valid(r) => {
                    // A short text is held in its view, after the length.
                    let view = a.views()[r];
                    match view.is_inline() {
                        true => w.short_text(out, (view.as_u128() >> 32).to_le_bytes(), view.length as usize),
                        false => w.text(out, a.value(r).as_bytes()),
                    }
                }
                Col::Int(a) if a.is_valid(r) => w.number(out, Number::Int(a.value(r))),
                Col::UInt(a) if a.is_valid(r) => w.number(out, Number::UInt(a.value(r))),
                Col::Float(a) if a.is_valid(r) => w.number(out, Number::Float(a.value(r))),
                Col::Bool(a) if a.is_valid(r) => w.text(out, if a.value(r) { b"true" } else { b"false" }),
                Col::Cells(cells) => match cells.next() {
                    Some(Cell::Owned(s)) => w.text(out, s.as_bytes()),
                    Some(Cell::Null) | None => w.text(out, b""),
                },
                _ => w.text(out, b""),
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
