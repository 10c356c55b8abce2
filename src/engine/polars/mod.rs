//! The polars engine: the only engine modules that name polars' API (it changes between
//! versions; the version is pinned in `Cargo.toml`). Polars runs on its own pool, sized by
//! `POLARS_MAX_THREADS`, which `main` sets from `-j`.
//!
//! - [`count`]: each chunk counted by a lazy query over a frame of its lines.
//! - [`csv`]: polars' CSV reader parses a group-by chunk, and pframe's aggregator takes its
//!   records.
//! - [`frames`]: chunks split by pframe's dialect become typed polars frames, so that every SQL
//!   path reads CSV as `groupby` does.
//! - [`sql`]: plans read from polars' IR (row-wise? a group-by?), queries run on frames, chunk
//!   by chunk or over an Arrow IPC spool of the whole input.

mod count;
mod csv;
pub mod frames;
pub mod join_index;
pub mod over_groups;
pub mod sql;
pub mod table;

pub(crate) use count::count_chunk;
pub(crate) use csv::csv_chunk_rows;

use polars::prelude::*;

use crate::input::value::Kind;
use crate::output::{JsonShape, Table, Value};

/// Polars' own worker pool (sized by `POLARS_MAX_THREADS`, which `main` sets from `-j`). Chunks
/// that polars parses are worked on here: polars' reader then runs on the worker that called it
/// instead of handing the chunk to a second pool, whose threads would spin beside ours.
pub(crate) fn pool() -> &'static rayon::ThreadPool {
    &polars_core::runtime::THREAD_POOL
}

/// The polars type of a pframe column kind: integers, floats, and text (which an all-null column
/// is, as polars reads it).
pub fn dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Str | Kind::Null => DataType::String,
    }
}

/// A polars frame as a result table: each column converted in one pass (indexing cell by cell
/// would walk the column's chunks for every cell), then the columns turned into rows.
pub(crate) fn frame_to_table(df: &DataFrame) -> PolarsResult<Table> {
    let headers: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut columns: Vec<std::vec::IntoIter<Value>> = Vec::with_capacity(headers.len());
    for c in df.columns() {
        let series = c.as_materialized_series().rechunk();
        let values: Vec<Value> = if series.is_empty() { Vec::new() } else { series.iter().map(any_to_value).collect() };
        columns.push(values.into_iter());
    }
    let rows =
        (0..df.height()).map(|_| columns.iter_mut().map(|c| c.next().unwrap_or(Value::Null)).collect()).collect();
    Ok(Table { headers, rows, json: JsonShape::Records })
}

fn any_to_value(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Str(b.to_string()),
        AnyValue::String(s) => Value::Str(s.to_string()),
        AnyValue::StringOwned(s) => Value::Str(s.to_string()),
        AnyValue::Int8(x) => Value::Int(x as i64),
        AnyValue::Int16(x) => Value::Int(x as i64),
        AnyValue::Int32(x) => Value::Int(x as i64),
        AnyValue::Int64(x) => Value::Int(x),
        AnyValue::UInt8(x) => Value::UInt(x as u64),
        AnyValue::UInt16(x) => Value::UInt(x as u64),
        AnyValue::UInt32(x) => Value::UInt(x as u64),
        AnyValue::UInt64(x) => Value::UInt(x),
        AnyValue::Float32(x) => Value::Float(x as f64),
        AnyValue::Float64(x) => Value::Float(x),
        other => Value::Str(other.to_string()),
    }
}
