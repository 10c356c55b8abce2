//! The polars engine's group-by parser: polars' CSV reader over a chunk, every used column as
//! text, each record handed to pframe's aggregator.

use polars::prelude::*;

/// Parses one chunk of CSV records (no header row) with polars' CSV reader, every column read
/// as text, and hands `visit` the fields of the columns `used` (header indices, in that order) of
/// each record with its 1-based record number; a null (empty) field is empty. Returns the number
/// of records, or `visit`'s first error.
///
/// Polars reads a row with too few fields as nulls; the caller checks the field count.
pub(crate) fn csv_chunk_records<E>(
    data: &[u8],
    delimiter: u8,
    width: usize,
    used: &[usize],
    mut visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> PolarsResult<Result<u64, E>> {
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
    let columns = used.iter().map(|&i| df.column(&names[i])?.str()).collect::<PolarsResult<Vec<_>>>()?;
    let mut values: Vec<_> = columns.iter().map(|c| c.iter()).collect();
    let mut fields: Vec<&[u8]> = Vec::with_capacity(used.len());
    for row in 0..df.height() as u64 {
        fields.clear();
        fields.extend(values.iter_mut().map(|v| v.next().flatten().map_or(&b""[..], str::as_bytes)));
        if let Err(e) = visit(&fields, row + 1) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(df.height() as u64))
}
