//! `pframe sql`: input -> quote-aware chunks split into records by the input layer's dialect ->
//! typed polars frames (`engine::polars::frames`) -> the query. Every path reads the CSV as
//! `groupby` does: the same records, the same null markers, the same number syntax.
//!
//! The query is planned against the input's columns, typed from its first [`INFER_ROWS`] rows,
//! and its plan says how it runs:
//! - **row-wise** (selections, filters, elementwise expressions; a join to other tables, held in
//!   memory, that keeps each input row's matches to itself): each chunk's frame is queried on
//!   polars' pool, several at once, and the results handed on in input order (the ordered `imap`).
//!   A later value that a column's type cannot hold widens the type (int -> float -> text) from
//!   that row on; a query that then cannot take the column fails naming the value.
//! - **a plain GROUP BY**: pframe's group-by engine, partial states per chunk, merged; types over
//!   the whole input.
//! - **anything else** needs the whole input: a first pass types every column over all of it, a
//!   second writes typed frames to an Arrow IPC spool on disk, and polars' streaming engine runs
//!   the query over it. stdin is first copied to a temporary file (its data rows only).

use std::io::Write;
use std::sync::Mutex;

use crate::agg::groupby::Kind;
use crate::engine::groupby::{GroupByError, GroupByPlan, InputFormat, OpenedInput, group_by_opened};
use crate::engine::pipeline;
use crate::engine::polars::frames::{ColumnKinds, FieldRules, Run, read_runs, scan_kinds};
use crate::engine::polars::sql::{INFER_ROWS, IpcSpool, Prepared, Tables, groups_frame};
use crate::engine::polars::table::TableInput;
use crate::engine::{Engine, kernels};
use crate::input::dialect::{self, Fault, StartError};
use crate::input::value::{NullValues, looks_null};
use crate::input::{Chunk, Chunker, CsvBoundary, InputError, ReadOptions, Source, TableFormat, Workers};
use crate::output::{Rows, Table};

/// The most rows of a chunk's result rendered at once.
const RENDER_ROWS: usize = 1 << 16;

/// The largest chunk a join's input is read in (chunks grow to the size of the tables it is
/// joined to, up to this; several are in flight).
const MAX_JOIN_CHUNK: usize = 64 << 20;

/// The chunk a join's input is read in when the table it is joined to is indexed (see
/// `join_index`): large enough that each chunk's lookups and polars' query cost little per row.
const INDEXED_JOIN_CHUNK: usize = 16 << 20;

/// The most input read ahead for the type sample when rows are long.
const SAMPLE_BYTES: usize = 64 << 20;

/// A SQL query over CSV input.
#[derive(Debug, Clone)]
pub struct SqlPlan {
    pub query: String,
    pub delimiter: u8,
    pub no_header: bool,
    /// Declared column types (`--schema`).
    pub schema: Vec<(String, Kind)>,
    pub null_values: NullValues,
    pub read: ReadOptions,
    pub threads: usize,
    /// The input's table name in the query (`t`).
    pub table: String,
    /// The other tables the query may read, each read whole into memory.
    pub others: Vec<TableSpec>,
    /// Whether `read.chunk_size` was chosen by the user: if not, a query joining the input to
    /// other tables reads the input in chunks as large as those tables (up to
    /// [`MAX_JOIN_CHUNK`]), so that a chunk's join costs little more than the chunk.
    pub chunk_size_given: bool,
    /// The group-by's memory limit (see [`GroupByPlan::memory_limit`]).
    pub memory_limit: Option<u64>,
    /// A GROUP BY's groups left unsorted (see [`GroupByPlan::unordered`]).
    pub unordered: bool,
}

/// A table besides the input, and how its CSV reads.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub source: Source,
    pub delimiter: u8,
    pub no_header: bool,
    pub schema: Vec<(String, Kind)>,
    pub null_values: NullValues,
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

/// Polars' messages can run over several lines of context; the first says what went wrong.
pub fn first_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().trim_end_matches(':').to_string()
}

/// The input's columns, as read from its start.
struct Columns {
    name: String,
    names: Vec<String>,
    /// Declared types, per column.
    declared: Vec<Option<Kind>>,
    /// Newlines before the first data chunk.
    lines: u64,
}

impl Columns {
    fn rules<'a>(
        &'a self,
        plan: &'a SqlPlan,
        used: &'a [usize],
        names: &'a [String],
        declared: &'a [Option<Kind>],
    ) -> FieldRules<'a> {
        FieldRules {
            delimiter: plan.delimiter,
            width: self.names.len(),
            used,
            names,
            declared,
            nulls: &plan.null_values,
        }
    }

    fn data_error(&self, line: u64, message: String) -> SqlError {
        SqlError::Data { name: self.name.clone(), line, message }
    }
}

/// Why a query that failed to plan did: a column read as text only because of a text among
/// numbers in the rows sampled, which the query uses as a number (`sum(v)`, `v + 1`): the query
/// plans with that column numeric. Named by its first text and that text's line, as the group-by
/// names a text in a numeric aggregation, rather than by polars' "operation not supported for
/// dtype `str`".
fn text_as_number(
    plan: &SqlPlan,
    cols: &Columns,
    kinds: &[Kind],
    sample: &ColumnKinds,
    tables: &Tables,
) -> Option<SqlError> {
    (0..kinds.len()).find_map(|c| {
        let (line, text) = sample.first_text[c].as_ref()?;
        if kinds[c] != Kind::Str || cols.declared[c].is_some() {
            return None;
        }
        let mut numeric = kinds.to_vec();
        numeric[c] = Kind::Float;
        Prepared::new(&plan.query, &cols.names, &numeric, tables).ok()?;
        let message = format!(
            "column {}: cannot parse {text:?} as a number (the query uses it as one){}",
            cols.names[c],
            null_hint(text)
        );
        Some(cols.data_error(*line, message))
    })
}

fn start_error(name: &str, e: StartError) -> SqlError {
    match e {
        StartError::Input(e) => SqlError::Input(e),
        StartError::Header(f) => SqlError::Data { name: name.to_string(), line: f.line, message: f.message },
        StartError::Empty => SqlError::Query { name: name.to_string(), message: e.to_string() },
    }
}

/// Opens `source` and reads its start: the columns, and the data chunks.
fn open(plan: &SqlPlan, source: &Source) -> Result<(Columns, Option<Chunk>, Chunker<CsvBoundary>), SqlError> {
    // Compressed input decodes on polars' pool, where the chunks are worked on.
    let read = ReadOptions { workers: Some(Workers::Static(crate::engine::polars::pool())), ..plan.read.clone() };
    let mut chunks = Chunker::open_with(source, read, CsvBoundary::new(plan.delimiter, dialect::QUOTE))?;
    let name = chunks.name().to_string();
    let start = dialect::start(&mut chunks, plan.delimiter, !plan.no_header).map_err(|e| start_error(&name, e))?;
    let mut declared = vec![None; start.names.len()];
    for (col, kind) in &plan.schema {
        let i = start.names.iter().position(|n| n == col).ok_or_else(|| SqlError::Query {
            name: name.clone(),
            message: format!("--schema: unknown column \"{col}\" (columns: {})", start.names.join(", ")),
        })?;
        declared[i] = Some(*kind);
    }
    Ok((Columns { name, names: start.names, declared, lines: start.lines }, start.first, chunks))
}

/// Runs `plan` over `source`: `render` turns rows into a part of the output (for a row-wise
/// query, each chunk's, on the worker that queried it), and `emit` receives the parts in input
/// order (first one with no rows, so that a result without rows still has its header). `notify`
/// hears what the user should know (stdin copied to disk). Memory holds a few chunks, never the
/// whole input.
pub fn sql_stream<R: Send>(
    plan: &SqlPlan,
    source: &Source,
    render: impl Fn(&[String], Rows<'_>) -> std::io::Result<R> + Sync,
    mut emit: impl FnMut(&[String], R) -> std::io::Result<()>,
    notify: impl Fn(&str),
) -> Result<(), SqlError> {
    let tables = Tables {
        input: plan.table.clone(),
        others: plan
            .others
            .iter()
            .map(|spec| Ok((spec.name.clone(), load_table(plan, spec)?)))
            .collect::<Result<_, SqlError>>()?,
        ..Tables::default()
    };
    let mut plan = plan.clone();
    if !plan.chunk_size_given {
        plan.read.chunk_size = plan.read.chunk_size.max(tables.others_size(None).min(MAX_JOIN_CHUNK));
    }
    let plan = &plan;
    if let Source::File(path) = source
        && let Some(format) = TableFormat::of_file(path)
    {
        return sql_table(plan, &tables, path, format, render, emit, notify);
    }
    let (cols, first, mut chunks) = open(plan, source)?;
    let compressed = chunks.is_compressed();
    let all: Vec<usize> = (0..cols.names.len()).collect();
    // The column types of the first rows: read chunks until the sample is complete.
    let rules = cols.rules(plan, &all, &cols.names, &cols.declared);
    let mut head: Vec<Chunk> = Vec::new();
    let mut sample = ColumnKinds::new(all.len());
    let (mut sample_lines, mut sample_bytes) = (cols.lines, 0usize);
    let mut next = first;
    while let Some(chunk) = next {
        let kinds = scan_kinds(&chunk, &rules, INFER_ROWS - sample.records)
            .map_err(|f| cols.data_error(sample_lines + f.line, f.message))?;
        sample.merge(kinds, sample_lines);
        sample_lines += kernels::count_newlines(&chunk);
        sample_bytes += chunk.len();
        head.push(chunk);
        if sample.records >= INFER_ROWS || sample_bytes >= SAMPLE_BYTES {
            break;
        }
        next = chunks.next().transpose()?;
    }
    let kinds: Vec<Kind> = sample.kinds.iter().zip(&cols.declared).map(|(k, d)| d.unwrap_or(*k)).collect();
    let query_error = |e: &dyn std::fmt::Display| SqlError::Query { name: cols.name.clone(), message: first_line(e) };
    let prepared = Prepared::new(&plan.query, &cols.names, &kinds, &tables)
        .map_err(|e| text_as_number(plan, &cols, &kinds, &sample, &tables).unwrap_or_else(|| query_error(&e)))?;
    if let Some(indexed) = prepared.indexed_table().filter(|_| !plan.chunk_size_given) {
        // A chunk joins the indexed table's rows that its keys can match, not all of them: it
        // needs to be no larger than the other tables.
        let others = tables.others_size(Some(indexed)).min(MAX_JOIN_CHUNK);
        chunks.set_chunk_size(INDEXED_JOIN_CHUNK.max(others));
    }
    prepared.build_indexes();
    let end = chunks.len_hint().map(|len| chunks.start() + len);
    let rest = head.into_iter().map(Ok).chain(chunks);
    if let Some(gb) = prepared.group_by.as_ref().filter(|_| !prepared.row_wise) {
        // An aggregation pframe's group-by answers: partial states per chunk, merged.
        let group_by = group_by_plan(plan, &gb.by, &gb.aggs);
        let input = OpenedInput::started(&cols.name, cols.names.clone(), cols.lines, rest).ending_at(end);
        let grouped = group_by_opened(&group_by, input)?;
        grouped.notes.iter().for_each(|n| notify(n));
        let (headers, groups) = groups_frame(grouped, &gb.columns)?;
        return emit_frame(&headers, &groups, render, emit);
    }
    // A plain file is read twice by the whole-input path at no cost in memory, and polars filters
    // and joins its typed columns at least as fast as a pre-query's rows reach the engine (see
    // BENCHMARKS.md): the pre-query is for streams, which that path would copy to disk first.
    let plain_file = rereadable(source, compressed);
    let split = prepared.pre.is_none() || !plain_file || !prepared.plans_whole;
    if let Some(og) = prepared.over_groups.as_ref().filter(|_| split) {
        // Groups on the engine, the rest of the query over them.
        let mut group_by = group_by_plan(plan, &og.by, &og.aggs);
        let grouped = match &prepared.pre {
            None => {
                let input = OpenedInput::started(&cols.name, cols.names.clone(), cols.lines, rest).ending_at(end);
                group_by_opened(&group_by, input)?
            }
            Some(pre) => {
                // Each chunk's rows to group: the pre-query's (a join, a filter) over them.
                let used = &pre.used;
                let names: Vec<String> = used.iter().map(|&i| cols.names[i].clone()).collect();
                let declared: Vec<Option<Kind>> = used.iter().map(|&i| cols.declared[i]).collect();
                let rules = cols.rules(plan, used, &names, &declared);
                let start: Vec<Kind> = used.iter().map(|&i| kinds[i]).collect();
                let map = |data: &[u8]| -> Result<Vec<polars::prelude::DataFrame>, Fault> {
                    let (results, _) = run_records(pre, data, kernels::count_newlines(data), &rules, &start)?;
                    Ok(results.into_iter().map(|(df, _)| df).collect())
                };
                // The pre-query's columns are typed by their values.
                group_by.schema.clear();
                let input = OpenedInput::mapped(&cols.name, pre.headers.clone(), cols.lines, rest, &map).ending_at(end);
                group_by_opened(&group_by, input)?
            }
        };
        grouped.notes.iter().for_each(|n| notify(n));
        let groups = prepared.groups_frame(grouped)?;
        let (headers, result) = prepared.run_over_groups(groups).map_err(|e| query_error(&e))?;
        return emit_frame(&headers, &result, render, emit);
    }
    if prepared.row_wise {
        return row_wise(plan, &cols, &prepared, &kinds, rest, render, emit);
    }
    // The whole input: a stream or a compressed file to disk first (its data rows, decoded; the
    // columns are known), so that the passes below read it as a plain file.
    let spool = match source {
        Source::File(_) if plain_file => None,
        _ => {
            if *source == Source::Stdin {
                notify("sql: the query needs the whole input: stdin was copied to a temporary file");
            }
            Some(spool(rest)?)
        }
    };
    let table = whole_input(plan, source, &cols, &prepared, spool.as_ref().map(|s| s.path()))?;
    emit(&table.headers, render(&table.headers, Rows::Values(table.rows))?)?;
    Ok(())
}

/// Emits a query's result frame a slice at a time, each written from its columns (with millions
/// of groups, turning the frame into rows of values first cost more than the query).
fn emit_frame<R>(
    headers: &[String],
    result: &polars::prelude::DataFrame,
    render: impl Fn(&[String], Rows<'_>) -> std::io::Result<R>,
    mut emit: impl FnMut(&[String], R) -> std::io::Result<()>,
) -> Result<(), SqlError> {
    if result.height() == 0 {
        emit(headers, render(headers, Rows::Values(Vec::new()))?)?;
    }
    for slice in slices(result) {
        emit(headers, render(headers, Rows::Frame(&slice))?)?;
    }
    Ok(())
}

/// A result frame in slices of [`RENDER_ROWS`] rows, to be rendered one at a time.
fn slices(df: &polars::prelude::DataFrame) -> impl Iterator<Item = polars::prelude::DataFrame> + '_ {
    (0..df.height()).step_by(RENDER_ROWS).map(|at| df.slice(at as i64, RENDER_ROWS))
}

/// Whether the typing and reading passes over the whole input can open `source` again: a
/// regular file, not compressed (not stdin, a pipe or a process substitution).
fn rereadable(source: &Source, compressed: bool) -> bool {
    matches!(source, Source::File(p) if !compressed && std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

/// An input's data rows (decoded) copied to a temporary file, for the passes that read it again.
fn spool(chunks: impl Iterator<Item = Result<Chunk, InputError>>) -> Result<tempfile::NamedTempFile, SqlError> {
    let mut spool = tempfile::NamedTempFile::new()?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, spool.as_file_mut());
        for chunk in chunks {
            w.write_all(&chunk?)?;
        }
        w.flush()?;
    }
    Ok(spool)
}

/// The chunks of a spool of an input's data rows (see [`spool`]), read again.
fn open_spool(plan: &SqlPlan, path: &std::path::Path) -> Result<Chunker<CsvBoundary>, InputError> {
    let read = ReadOptions { progress: None, ..plan.read.clone() };
    Chunker::open_with(&Source::File(path.to_path_buf()), read, CsvBoundary::new(plan.delimiter, dialect::QUOTE))
}

/// The group-by of an aggregating query.
fn group_by_plan(plan: &SqlPlan, by: &[String], aggs: &[crate::agg::groupby::AggSpec]) -> GroupByPlan {
    GroupByPlan {
        by: by.to_vec(),
        aggs: aggs.to_vec(),
        engine: Engine::Parallel,
        threads: plan.threads,
        read: plan.read.clone(),
        delimiter: plan.delimiter,
        no_header: plan.no_header,
        schema: plan.schema.clone(),
        input_format: InputFormat::Csv,
        null_values: plan.null_values.clone(),
        memory_limit: plan.memory_limit,
        shared_from: None,
        unordered: plan.unordered,
    }
}

/// A query over a table file (Parquet, Arrow IPC): typed by the file, read a piece at a time
/// for a row-wise query, by the group-by for a plain GROUP BY, scanned whole by polars otherwise.
fn sql_table<R: Send>(
    plan: &SqlPlan,
    tables: &Tables,
    path: &std::path::Path,
    format: TableFormat,
    render: impl Fn(&[String], Rows<'_>) -> std::io::Result<R> + Sync,
    mut emit: impl FnMut(&[String], R) -> std::io::Result<()>,
    notify: impl Fn(&str),
) -> Result<(), SqlError> {
    let name = path.display().to_string();
    let polars_error = |e: &dyn std::fmt::Display| SqlError::Query { name: name.clone(), message: first_line(e) };
    let table = TableInput::open(path, format).map_err(|e| polars_error(&e))?;
    let prepared = Prepared::with_schema(&plan.query, table.schema(), tables).map_err(|e| polars_error(&e))?;
    if let Some(gb) = prepared.group_by.as_ref().filter(|_| !prepared.row_wise) {
        let group_by = group_by_plan(plan, &gb.by, &gb.aggs);
        let grouped = group_by_opened(&group_by, OpenedInput::table(&group_by, path, format)?)?;
        grouped.notes.iter().for_each(|n| notify(n));
        let (headers, groups) = groups_frame(grouped, &gb.columns)?;
        return emit_frame(&headers, &groups, render, emit);
    }
    // (A join or filter before grouping: polars' scan below.)
    if let Some(og) = prepared.over_groups.as_ref().filter(|_| prepared.pre.is_none()) {
        let group_by = group_by_plan(plan, &og.by, &og.aggs);
        let grouped = group_by_opened(&group_by, OpenedInput::table(&group_by, path, format)?)?;
        grouped.notes.iter().for_each(|n| notify(n));
        let groups = prepared.groups_frame(grouped)?;
        let (headers, result) = prepared.run_over_groups(groups).map_err(|e| polars_error(&e))?;
        return emit_frame(&headers, &result, render, emit);
    }
    if !prepared.row_wise {
        let result = prepared.run_scan(table.scan().map_err(|e| polars_error(&e))?).map_err(|e| polars_error(&e))?;
        emit(&result.headers, render(&result.headers, Rows::Values(result.rows))?)?;
        return Ok(());
    }
    let headers = &prepared.headers;
    emit(headers, render(headers, Rows::Values(Vec::new()))?)?;
    let work = |&i: &usize| -> Result<R, String> {
        let df = table.piece(i, &prepared.used).map_err(|e| first_line(&e))?;
        let result = prepared.run(df).map_err(|e| first_line(&e))?;
        render(headers, Rows::Values(result.rows)).map_err(|e| format!("cannot format the result: {e}"))
    };
    let sink = |part: Result<R, String>, i: usize| match part {
        Ok(part) => Ok(emit(headers, part)?),
        Err(message) => {
            Err(SqlError::Query { name: name.clone(), message: format!("row {}: {message}", table.first_row(i) + 1) })
        }
    };
    pipeline::drive_parallel(crate::engine::polars::pool(), (0..table.len()).map(Ok), work, sink)
}

/// A chunk's rendered parts and the column types it started from and ended with, or its fault;
/// and its newlines.
type Ran<R> = (Result<Rendered<R>, Fault>, u64);

/// A chunk's rendered parts, and the column types it started from and ended with.
type Rendered<R> = (Vec<R>, Vec<Kind>, Vec<Kind>);

/// The row-wise path (see the module docs).
fn row_wise<R: Send>(
    plan: &SqlPlan,
    cols: &Columns,
    prepared: &Prepared,
    kinds: &[Kind],
    chunks: impl Iterator<Item = Result<Chunk, InputError>>,
    render: impl Fn(&[String], Rows<'_>) -> std::io::Result<R> + Sync,
    mut emit: impl FnMut(&[String], R) -> std::io::Result<()>,
) -> Result<(), SqlError> {
    let used = &prepared.used;
    let names: Vec<String> = used.iter().map(|&i| cols.names[i].clone()).collect();
    let declared: Vec<Option<Kind>> = used.iter().map(|&i| cols.declared[i]).collect();
    let rules = cols.rules(plan, used, &names, &declared);
    let headers = &prepared.headers;
    // The types in force after the last chunk handed on: workers start from them (they are
    // almost always right; the sink re-runs a chunk that started from stale ones).
    let published: Mutex<Vec<Kind>> = Mutex::new(used.iter().map(|&i| kinds[i]).collect());
    let run = |data: &[u8], newlines: u64, start: Vec<Kind>| -> Result<Rendered<R>, Fault> {
        let (results, end) = run_records(prepared, data, newlines, &rules, &start)?;
        let mut parts = Vec::new();
        for (result, line) in results {
            // Rendered a slice at a time: a join can make a chunk's rows many times larger.
            for slice in slices(&result) {
                let part = render(headers, Rows::Frame(&slice));
                parts.push(part.map_err(|e| Fault { line, message: format!("cannot format the result: {e}") })?);
            }
        }
        Ok((parts, start, end))
    };
    let work = |chunk: &Chunk| {
        let start = published.lock().expect("kinds lock").clone();
        let newlines = kernels::count_newlines(chunk);
        (run(chunk, newlines, start), newlines)
    };
    emit(headers, render(headers, Rows::Values(Vec::new()))?)?;
    let mut lines_before = cols.lines;
    let mut current: Vec<Kind> = published.lock().expect("kinds lock").clone();
    let sink = |(result, newlines): Ran<R>, chunk: Chunk| {
        let result = match result {
            Ok((_, start, _)) if start != current => run(&chunk, newlines, current.clone()),
            r => r,
        };
        match result {
            Ok((parts, _, end)) => {
                if end != current {
                    current = end;
                    *published.lock().expect("kinds lock") = current.clone();
                }
                lines_before += newlines;
                for part in parts {
                    emit(headers, part)?;
                }
                Ok(())
            }
            Err(f) => Err(cols.data_error(lines_before + f.line, f.message)),
        }
    };
    pipeline::drive_parallel(crate::engine::polars::pool(), chunks, work, sink)
}

/// A query's result on a run of a chunk's rows, and the line the rows start on.
type LinedFrame = (polars::prelude::DataFrame, u64);

/// Runs `prepared` on a chunk's records (the columns of `rules`) typed from `start`, the types of
/// the rows before them: a result per run of records of one set of types (see [`read_runs`]), with
/// the line its rows start on, and the types after the last record. A query that cannot take a
/// column's widened type fails naming the value that widened it.
fn run_records(
    prepared: &Prepared,
    data: &[u8],
    newlines: u64,
    rules: &FieldRules,
    start: &[Kind],
) -> Result<(Vec<LinedFrame>, Vec<Kind>), Fault> {
    let (runs, end) = read_runs(data, rules, start, 0, newlines)?;
    let mut results = Vec::with_capacity(runs.len());
    for run in runs {
        let line = run.line;
        let result = prepared.run_frame(run.frame).map_err(|e| match &run.widened {
            Some((c, at, value)) => Fault {
                line: *at,
                message: format!(
                    "column {}: \"{value}\" is not {} (the type the rows before it gave the column), and the \
                     query needs one; declare the column's type with --schema{}",
                    rules.names[*c],
                    if run.kinds[*c] == Kind::Str { "a number" } else { "an integer" },
                    null_hint(value),
                ),
            },
            None => Fault { line, message: format!("sql: {} (in the records from this line on)", first_line(&e)) },
        })?;
        results.push((result, line));
    }
    Ok((results, end))
}

/// `; if "NA" marks a missing value, add --null-values 'NA'` for text people write for one.
fn null_hint(value: &str) -> String {
    if looks_null(value) {
        format!(", or if \"{value}\" marks a missing value, add --null-values '{value}'")
    } else {
        String::new()
    }
}

/// The whole-input path: types over all rows, typed frames spooled to Arrow IPC, the query on
/// polars' streaming engine. `spool` holds stdin's data rows (the header was read already).
fn whole_input(
    plan: &SqlPlan,
    source: &Source,
    cols: &Columns,
    prepared: &Prepared,
    spool: Option<&std::path::Path>,
) -> Result<Table, SqlError> {
    let ipc_file = tempfile::NamedTempFile::new()?;
    let polars_error = |e: &dyn std::fmt::Display| SqlError::Query { name: cols.name.clone(), message: first_line(e) };
    let mut writer = None;
    let typed = typed_frames(plan, source, cols, &prepared.used, spool, |names, kinds, df| {
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(IpcSpool::create(ipc_file.reopen()?, names, kinds).map_err(|e| polars_error(&e))?),
        };
        df.map_or(Ok(()), |df| w.write(df).map_err(|e| polars_error(&e)))
    })?;
    writer.expect("typed_frames starts the sink").finish().map_err(|e| polars_error(&e))?;
    prepared.run_ipc(ipc_file.path()).map_err(|e| {
        let mut message = first_line(&e);
        for (c, ft) in typed.total.first_text.iter().enumerate() {
            if let Some((line, text)) = ft.as_ref().filter(|(_, t)| typed.kinds[c] == Kind::Str && looks_null(t)) {
                message.push_str(&format!(
                    "; column {} holds text (\"{text}\" on line {line}): if it marks a missing value, add \
                     --null-values '{text}'",
                    typed.names[c]
                ));
                break;
            }
        }
        SqlError::Query { name: cols.name.clone(), message }
    })
}

/// A table read whole in one pass: each chunk's records typed from the declared types as their
/// values widen them, then each column of every chunk's frames made the type of all its values
/// (an integer column a float one, a column without values any type). `None` when text follows
/// numbers in a column: the numbers' text is then needed, and the caller reads the table again,
/// typed first (see [`typed_frames`]).
fn one_pass_table(
    plan: &SqlPlan,
    cols: &Columns,
    chunks: impl Iterator<Item = Result<Chunk, InputError>>,
) -> Result<Option<polars::prelude::DataFrame>, SqlError> {
    use polars::prelude::PolarsError;
    let all: Vec<usize> = (0..cols.names.len()).collect();
    let rules = cols.rules(plan, &all, &cols.names, &cols.declared);
    let start: Vec<Kind> = cols.declared.iter().map(|d| d.unwrap_or(Kind::Null)).collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut lines_before = cols.lines;
    let work = |chunk: &Chunk| {
        let newlines = kernels::count_newlines(chunk);
        (read_runs(chunk, &rules, &start, 0, newlines).map(|(runs, _)| runs), newlines)
    };
    let pool = pipeline::build_pool(plan.threads);
    pipeline::drive_parallel(&pool, chunks, work, |(read, newlines): (Result<Vec<Run>, Fault>, u64), _| {
        runs.extend(read.map_err(|f| cols.data_error(lines_before + f.line, f.message))?);
        lines_before += newlines;
        Ok::<(), SqlError>(())
    })?;
    let mut kinds = start.clone();
    for run in &runs {
        kinds.iter_mut().zip(&run.kinds).for_each(|(k, r)| *k = (*k).max(*r));
    }
    let numbers_then_text =
        |run: &Run| run.kinds.iter().zip(&kinds).any(|(r, k)| *k == Kind::Str && matches!(r, Kind::Int | Kind::Float));
    if runs.iter().any(numbers_then_text) {
        return Ok(None);
    }
    let polars_error = |e: PolarsError| SqlError::Query { name: cols.name.clone(), message: first_line(&e) };
    let mut df = crate::engine::polars::frames::empty_frame(&cols.names, &kinds, polars::prelude::DataType::String);
    for run in runs {
        let mut frame = run.frame;
        for (c, (r, k)) in run.kinds.iter().zip(&kinds).enumerate() {
            if r != k {
                let column = frame.columns()[c].cast(&crate::engine::polars::dtype(*k)).map_err(polars_error)?;
                frame.replace_column(c, column).map_err(polars_error)?;
            }
        }
        df.vstack_mut_owned(frame).map_err(polars_error)?;
    }
    df.rechunk_mut_par();
    Ok(Some(df))
}

/// The columns `used` of an input, typed over all its rows.
struct Typed {
    names: Vec<String>,
    kinds: Vec<Kind>,
    total: ColumnKinds,
}

/// Reads the columns `used` of the whole input as typed frames: a first pass types every column
/// over every row, a second hands `sink` the frames in input order (first `None`, so that it
/// starts even for an input without rows). `spool` holds stdin's data rows.
fn typed_frames(
    plan: &SqlPlan,
    source: &Source,
    cols: &Columns,
    used: &[usize],
    spool: Option<&std::path::Path>,
    mut sink: impl FnMut(&[String], &[Kind], Option<polars::prelude::DataFrame>) -> Result<(), SqlError>,
) -> Result<Typed, SqlError> {
    let names: Vec<String> = used.iter().map(|&i| cols.names[i].clone()).collect();
    let declared: Vec<Option<Kind>> = used.iter().map(|&i| cols.declared[i]).collect();
    let rules = cols.rules(plan, used, &names, &declared);
    let reopen = || -> Result<Box<dyn Iterator<Item = Result<Chunk, InputError>>>, SqlError> {
        Ok(match spool {
            Some(path) => Box::new(open_spool(plan, path)?),
            None => {
                let read = ReadOptions { progress: None, ..plan.read.clone() };
                let (_, first, chunks) = open(&SqlPlan { read, ..plan.clone() }, source)?;
                Box::new(first.map(Ok).into_iter().chain(chunks))
            }
        })
    };
    let pool = pipeline::build_pool(plan.threads);
    // Pass 1: every column's type over every row.
    let mut total = ColumnKinds::new(used.len());
    let mut lines_before = cols.lines;
    let work = |chunk: &Chunk| (scan_kinds(chunk, &rules, u64::MAX), kernels::count_newlines(chunk));
    pipeline::drive_parallel(&pool, reopen()?, work, |(result, newlines): (Result<ColumnKinds, Fault>, u64), _| {
        match result {
            Ok(kinds) => {
                total.merge(kinds, lines_before);
                lines_before += newlines;
                Ok(())
            }
            Err(f) => Err(cols.data_error(lines_before + f.line, f.message)),
        }
    })?;
    let kinds: Vec<Kind> = total.kinds.iter().zip(&declared).map(|(k, d)| d.unwrap_or(*k)).collect();
    // Pass 2: typed frames, in order.
    sink(&names, &kinds, None)?;
    let mut lines_before = cols.lines;
    let work = |chunk: &Chunk| {
        // The types hold every value: one run.
        let newlines = kernels::count_newlines(chunk);
        let df = read_runs(chunk, &rules, &kinds, 0, newlines).map(|(runs, _)| {
            let mut runs = runs.into_iter();
            let first = runs.next().expect("at least one run").frame;
            debug_assert!(runs.next().is_none(), "the types of all rows widen nothing");
            first
        });
        (df, newlines)
    };
    pipeline::drive_parallel(&pool, reopen()?, work, |(df, newlines): (Result<_, Fault>, u64), _| {
        let df = df.map_err(|f| cols.data_error(lines_before + f.line, f.message))?;
        lines_before += newlines;
        sink(&names, &kinds, Some(df))
    })?;
    Ok(Typed { names, kinds, total })
}

/// Reads a table besides the input whole into memory, typed over all its rows as the
/// whole-input path types the input.
fn load_table(plan: &SqlPlan, spec: &TableSpec) -> Result<polars::prelude::DataFrame, SqlError> {
    use polars::prelude::*;
    let name = spec.source.display_name();
    let polars_error = |e: &dyn std::fmt::Display| SqlError::Query { name: name.clone(), message: first_line(e) };
    if let Source::File(path) = &spec.source
        && let Some(format) = TableFormat::of_file(path)
    {
        let table = TableInput::open(path, format).map_err(|e| polars_error(&e))?;
        let mut df = table.scan().and_then(|lf| lf.collect()).map_err(|e| polars_error(&e))?;
        df.rechunk_mut_par();
        return Ok(df);
    }
    let plan = SqlPlan {
        delimiter: spec.delimiter,
        no_header: spec.no_header,
        schema: spec.schema.clone(),
        null_values: spec.null_values.clone(),
        read: ReadOptions { progress: None, ..plan.read.clone() },
        others: Vec::new(),
        ..plan.clone()
    };
    let (cols, first, chunks) = open(&plan, &spec.source)?;
    // A stream is read once: its data rows to disk first, as the whole-input path does.
    let compressed = chunks.is_compressed();
    let rows = first.map(Ok).into_iter().chain(chunks);
    let (spool, rows): (_, Box<dyn Iterator<Item = Result<Chunk, InputError>>>) =
        match rereadable(&spec.source, compressed) {
            true => (None, Box::new(rows)),
            false => {
                let spool = spool(rows)?;
                let rows = open_spool(&plan, spool.path())?;
                (Some(spool), Box::new(rows))
            }
        };
    if let Some(df) = one_pass_table(&plan, &cols, rows)? {
        return Ok(df);
    }
    let all: Vec<usize> = (0..cols.names.len()).collect();
    let mut frames: Vec<DataFrame> = Vec::new();
    let mut empty = None;
    typed_frames(&plan, &spec.source, &cols, &all, spool.as_ref().map(|s| s.path()), |names, kinds, df| {
        match df {
            None => {
                empty =
                    Some(crate::engine::polars::frames::empty_frame(names, kinds, polars::prelude::DataType::String))
            }
            Some(df) => frames.push(df),
        }
        Ok(())
    })?;
    let mut df = empty.expect("typed_frames starts the sink");
    for part in &frames {
        df.vstack_mut(part).map_err(|e| polars_error(&e))?;
    }
    df.rechunk_mut_par();
    Ok(df)
}
