//! Parquet output: a result table as one Parquet file (uncompressed; results are small), each
//! column typed from its values.

use std::io::{self, Write};

use polars::prelude::*;

use super::{Table, Value};

/// Writes `table` as a Parquet file to `out`.
pub fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let mut df = frame(table)?;
    ParquetWriter::new(out).with_compression(ParquetCompression::Uncompressed).finish(&mut df).map_err(to_io)?;
    Ok(())
}

/// The table as a polars frame, each column typed from its values (see [`column`]).
pub fn frame(table: &Table) -> io::Result<DataFrame> {
    let columns = (0..table.headers.len()).map(|c| column(table, c)).collect::<Vec<_>>();
    DataFrame::new_infer_height(columns).map_err(to_io)
}

/// Column `c` of the table as a polars column: integers (signed, or unsigned when no value is
/// negative), floats when any value is one, text when any value is text; nulls stay null.
fn column(table: &Table, c: usize) -> Column {
    let name: PlSmallStr = table.headers[c].as_str().into();
    let cells = || table.rows.iter().map(move |r| &r[c]);
    let any = |f: fn(&Value) -> bool| cells().any(f);
    let series = if any(|v| matches!(v, Value::Str(_))) || !any(|v| !matches!(v, Value::Null)) {
        // Texts borrowed from their cells (millions of groups' keys were each copied twice).
        let texts: StringChunked = cells()
            .map(|v| match v {
                Value::Null => None,
                Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                other => Some(std::borrow::Cow::Owned(other.to_string())),
            })
            .collect();
        texts.with_name(name).into_series()
    } else if any(|v| matches!(v, Value::Float(_))) || (any(|v| matches!(v, Value::Int(_))) && any(large_uint)) {
        let xs: Vec<Option<f64>> = cells()
            .map(|v| match *v {
                Value::Int(i) => Some(i as f64),
                Value::UInt(u) => Some(u as f64),
                Value::Float(x) => Some(x),
                _ => None,
            })
            .collect();
        Series::new(name, xs)
    } else if any(|v| matches!(v, Value::Int(_))) {
        let xs: Vec<Option<i64>> = cells()
            .map(|v| match *v {
                Value::Int(i) => Some(i),
                Value::UInt(u) => Some(u as i64),
                _ => None,
            })
            .collect();
        Series::new(name, xs)
    } else {
        let xs: Vec<Option<u64>> = cells().map(|v| if let Value::UInt(u) = *v { Some(u) } else { None }).collect();
        Series::new(name, xs)
    };
    series.into_column()
}

fn large_uint(v: &Value) -> bool {
    matches!(*v, Value::UInt(u) if u > i64::MAX as u64)
}

fn to_io(e: PolarsError) -> io::Error {
    io::Error::other(format!("parquet: {e}"))
}
