//! `pframe sql` in chunks: input -> quote-aware chunks -> each chunk parsed by polars with the
//! column types of the first rows and queried (on polars' pool, several chunks at once) -> results
//! handed on in input order (the ordered `imap`). Only row-wise queries run this way. A plain
//! GROUP BY that pframe's group-by answers runs there: partial states per chunk, merged (see
//! `engine::polars::SqlGroupBy`). Any other query needs the whole input: a file is scanned whole
//! by polars, stdin is first spooled to a temporary file.

use std::io::Write;

use crate::agg::groupby::Kind;
use crate::engine::Engine;
use crate::engine::groupby::{GroupByError, GroupByPlan, InputFormat, OpenedInput, group_by_opened, read_header};
use crate::engine::pipeline;
use crate::engine::polars::{INFER_ROWS, SqlColumn, SqlStream};
use crate::input::{Chunk, Chunker, CsvBoundary, InputError, ReadOptions, Source};
use crate::output::Value;

/// The most input read ahead for the type sample (`INFER_ROWS` rows) when rows are long.
const SAMPLE_BYTES: usize = 64 << 20;

/// A SQL query over CSV input.
#[derive(Debug, Clone)]
pub struct SqlPlan {
    pub query: String,
    pub delimiter: u8,
    pub no_header: bool,
    /// Declared column types (`--schema`).
    pub schema: Vec<(String, Kind)>,
    pub read: ReadOptions,
    pub threads: usize,
}

/// Why a query failed; every message names the input, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{name}: line {line}: {message}")]
    Data { name: String, line: u64, message: String },
    #[error("{name}: sql: {message}")]
    Query { name: String, message: String },
    #[error(transparent)]
    GroupBy(#[from] GroupByError),
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

/// One chunk's rendered result and newlines, or the line (from the chunk's start) and what went
/// wrong.
type ChunkResult<R> = Result<(R, u64), (u64, String)>;

/// How [`sql_stream`] ended.
pub enum Streamed {
    /// A row-wise query, or a GROUP BY run on the group-by engine: the whole result was handed on.
    Done,
    /// The query needs the whole input; nothing was handed on. stdin is here, in a temporary
    /// file; a file is left to be read again.
    Whole(Option<tempfile::NamedTempFile>),
}

/// Runs `plan` over `source` chunk by chunk if the query is row-wise or a plain GROUP BY: `render`
/// turns rows into a part of the output (for a row-wise query, each chunk's, on the worker that
/// queried it), and `emit` receives the parts in input order (first one with no rows, so that a
/// result without rows still has its header). Memory holds a few chunks, never the whole input.
pub fn sql_stream<R: Send>(
    plan: &SqlPlan,
    source: &Source,
    render: impl Fn(&[String], Vec<Vec<Value>>) -> std::io::Result<R> + Sync,
    mut emit: impl FnMut(&[String], R) -> std::io::Result<()>,
) -> Result<Streamed, SqlError> {
    let d = plan.delimiter;
    let mut chunks = Chunker::open_with(source, plan.read, CsvBoundary::new(d, b'"'))?;
    let name = chunks.name().to_string();
    let query_error = |e: &dyn std::fmt::Display| SqlError::Query { name: name.clone(), message: first_line(e) };
    // The column types come from a sample of the first rows: read chunks until it is complete.
    let mut head: Vec<Chunk> = Vec::new();
    let mut sample: Vec<u8> = Vec::new();
    let mut sample_lines = 0usize;
    while sample_lines <= INFER_ROWS && sample.len() < SAMPLE_BYTES {
        let Some(chunk) = chunks.next().transpose()? else { break };
        sample_lines += crate::engine::kernels::count_newlines(&chunk) as usize;
        sample.extend_from_slice(&chunk);
        head.push(chunk);
    }
    if head.is_empty() {
        return Err(SqlError::Query { name, message: "empty input: no header row".into() });
    }
    let (header_len, header_lines) = match plan.no_header {
        true => (0, 0),
        false => {
            let (_, len, lines) =
                read_header(&sample, d).map_err(|message| SqlError::Data { name: name.clone(), line: 1, message })?;
            (len, lines)
        }
    };
    let stream =
        SqlStream::prepare(&plan.query, &sample, d, plan.no_header, &plan.schema).map_err(|e| query_error(&e))?;
    drop(sample);
    if let Some(gb) = stream.group_by.as_ref().filter(|_| !stream.row_wise) {
        // An aggregation pframe's group-by answers: partial states per chunk, merged.
        let group_by = GroupByPlan {
            by: gb.by.clone(),
            aggs: gb.aggs.clone(),
            engine: Engine::Parallel,
            threads: plan.threads,
            read: plan.read,
            delimiter: d,
            no_header: plan.no_header,
            schema: plan.schema.clone(),
            input_format: InputFormat::Csv,
        };
        let table =
            group_by_opened(&group_by, OpenedInput::from_chunks(&name, head.into_iter().map(Ok).chain(chunks)))?;
        let headers: Vec<String> = gb.columns.iter().map(|c| c.name.clone()).collect();
        let cell = |row: &[Value], c: &SqlColumn| match c.null_if_zero.map(|z| &row[z]) {
            Some(Value::UInt(0)) => Value::Null,
            _ => row[c.index].clone(),
        };
        let rows = table.rows.into_iter().map(|row| gb.columns.iter().map(|c| cell(&row, c)).collect());
        emit(&headers, render(&headers, rows.collect())?)?;
        return Ok(Streamed::Done);
    }
    if !stream.row_wise {
        if let Source::File(_) = source {
            return Ok(Streamed::Whole(None));
        }
        let mut spool = tempfile::NamedTempFile::new()?;
        for chunk in head.into_iter().map(Ok).chain(chunks) {
            spool.write_all(&chunk?)?;
        }
        return Ok(Streamed::Whole(Some(spool)));
    }
    emit(&stream.headers, render(&stream.headers, Vec::new())?)?;
    let work = |chunk: &Chunk| -> ChunkResult<R> {
        let (data, base) = if chunk.offset == 0 { (&chunk[header_len..], header_lines) } else { (&chunk[..], 0) };
        let newlines = crate::engine::kernels::count_newlines(chunk);
        match stream.run_chunk(data) {
            Ok(table) => match render(&stream.headers, table.rows) {
                Ok(part) => Ok((part, newlines)),
                Err(e) => Err((base + 1, format!("cannot format the result: {e}"))),
            },
            Err(e) => Err(match stream.bad_value(data) {
                Some((record, column, value, ty)) => (
                    base + line_of_row(data, record),
                    format!(
                        "column {column}: cannot parse \"{value}\" as {ty} (the type the first rows gave it; \
                         declare it with --schema)"
                    ),
                ),
                None => (base + 1, format!("sql: {} (in the records from this line on)", first_line(&e))),
            }),
        }
    };
    let mut lines_before = 0u64;
    let sink = |result: ChunkResult<R>, _chunk: Chunk| -> Result<(), SqlError> {
        match result {
            Ok((part, newlines)) => {
                lines_before += newlines;
                Ok(emit(&stream.headers, part)?)
            }
            Err((line, message)) => Err(SqlError::Data { name: name.clone(), line: lines_before + line, message }),
        }
    };
    let all = head.into_iter().map(Ok).chain(chunks);
    pipeline::drive_parallel(crate::engine::polars::pool(), all, work, sink)?;
    Ok(Streamed::Done)
}

/// The line (1-based, from the chunk's start) on which polars' row `row` (1-based) of a chunk
/// starts: every line ending outside quotes ends a row, a blank line's included.
fn line_of_row(data: &[u8], row: u64) -> u64 {
    let (mut quoted, mut rows_ended, mut line) = (false, 0u64, 1u64);
    for &b in data {
        if rows_ended + 1 >= row {
            break;
        }
        match b {
            b'"' => quoted = !quoted,
            b'\n' => {
                line += 1;
                rows_ended += u64::from(!quoted);
            }
            _ => {}
        }
    }
    line
}

/// Polars' messages can run over several lines of context; the first says what went wrong.
pub fn first_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().trim_end_matches(':').to_string()
}
