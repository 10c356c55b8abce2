//! The polars engine's group-by parser: polars' CSV reader over a chunk, every used column as
//! text, each record then handed to pframe's aggregator.

use polars::prelude::*;

/// A chunk's records as polars parsed them: the used columns, as text.
pub(crate) struct ChunkRows {
    df: DataFrame,
    columns: Vec<PlSmallStr>,
}

/// Parses one chunk of CSV records (no header row) with polars' CSV reader, every column read
/// as text, keeping the columns `used` (header indices, in that order).
///
/// Polars reads a row with too few fields as nulls; the caller checks the field count before it
/// takes the records.
pub(crate) fn csv_chunk_rows(data: &[u8], delimiter: u8, width: usize, used: &[usize]) -> PolarsResult<ChunkRows> {
    let names: Vec<PlSmallStr> = (0..width).map(|i| format!("c{i}").into()).collect();
    let schema = Schema::from_iter(names.iter().map(|n| Field::new(n.clone(), DataType::String)));
    let mut projection = used.to_vec();
    projection.sort_unstable();
    projection.dedup();
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(std::sync::Arc::new(schema)))
        .with_projection(Some(std::sync::Arc::new(projection)))
        .with_n_threads(Some(1))
        .with_raise_if_empty(false)
        .map_parse_options(|o| o.with_separator(delimiter).with_missing_is_null(true))
        .into_reader_with_file_handle(std::io::Cursor::new(data))
        .finish()?;
    Ok(ChunkRows { df, columns: used.iter().map(|&i| names[i].clone()).collect() })
}

impl ChunkRows {
    pub fn height(&self) -> usize {
        self.df.height()
    }

    /// Hands `visit` the used fields of each record (a null, empty field as empty) with its
    /// 1-based record number; stops at `visit`'s first error.
    pub fn for_each<E>(&self, mut visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>) -> Result<(), E> {
        let columns: Vec<&StringChunked> =
            self.columns.iter().map(|n| self.df.column(n).and_then(|c| c.str()).expect("a text column")).collect();
        let mut values: Vec<_> = columns.iter().map(|c| c.iter()).collect();
        let mut fields: Vec<&[u8]> = Vec::with_capacity(columns.len());
        for row in 0..self.df.height() as u64 {
            fields.clear();
            fields.extend(values.iter_mut().map(|v| v.next().flatten().map_or(&b""[..], str::as_bytes)));
            visit(&fields, row + 1)?;
        }
        Ok(())
    }
}
