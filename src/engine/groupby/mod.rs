//! The group-by job: input -> record-aligned chunks (quote-aware for CSV, lines for NDJSON; or
//! row groups of a table file) -> each chunk split into records by the input layer's dialect,
//! touching only the columns the query needs (see `input::dialect`), and aggregated a batch of
//! rows at a time: keys in a partitioned hash table ([`table`], [`keys`]) and their states, a
//! column per aggregation ([`states`]). While the groups are few, each worker has a store of its
//! own, which stays in its core's cache; once a worker's holds some 30,000 groups, every worker
//! adds to one shared store instead, a batch's rows sorted by partition and each partition's added
//! under its lock ([`chunk::Target`]), the store sized ahead for the groups it is expected to end
//! with ([`estimate`]) -> what each chunk taught about the columns merged in input order
//! ([`chunk::ChunkInfo`]) -> the workers' own stores merged into the shared one partition by
//! partition, in parallel (states merge in any order: first/last carry their rows' positions) ->
//! keys typed over the whole input, sorted by typed codes, groups of one number spelled several
//! ways merged, and rows read out in batches ([`finish`]). The polars engine parses the chunks
//! with polars' CSV reader instead, where polars reads them as the dialect does (see
//! `chunk::aggregate_chunk_polars`).

mod chunk;
mod estimate;
mod finish;
pub mod keys;
mod spill;
mod states;
pub mod table;
mod text_sort;

pub use finish::{Block, GroupRows, Grouped};

use crate::agg::groupby::{AggSpec, Kind, RowPos, State};
use crate::engine::polars::table::TableInput;
use crate::engine::{Engine, pipeline};
use crate::input::dialect::{self, Fault, StartError};
use crate::input::value::NullValues;
use crate::input::{
    Boundary, Chunk, Chunker, CsvBoundary, InputError, LineBoundary, ReadOptions, Source, TableFormat, Workers,
};
use chunk::{ChunkInfo, Layout, Store};
use finish::Groups;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use table::Merge;

/// A validated group-by query.
#[derive(Debug, Clone)]
pub struct GroupByPlan {
    pub by: Vec<String>,
    pub aggs: Vec<AggSpec>,
    pub engine: Engine,
    pub threads: usize,
    pub read: ReadOptions,
    pub delimiter: u8,
    /// The first row is data, not names: columns are `column_1`, `column_2`, ...
    pub no_header: bool,
    /// Declared column types (`int`, `float`, `str`), instead of inferred ones.
    pub schema: Vec<(String, Kind)>,
    /// The input's format.
    pub input_format: InputFormat,
    /// Fields that read as null besides the empty one (`--null-values`).
    pub null_values: NullValues,
    /// The memory the groups may take (about half of it) before they spill to temporary files
    /// (`--memory-limit`); `None` for the default, half of what this job has (see
    /// [`crate::cores::job_memory`]).
    pub memory_limit: Option<u64>,
    /// The groups of a worker's own store past which the workers aggregate into one shared store
    /// (see `chunk::Target`); `None` for the default, 32768. Tests set 0 to run the shared store
    /// on a few rows.
    pub shared_from: Option<usize>,
    /// The rows may come in any order (`--unordered`): groups held in memory are written as the
    /// tables hold them, not sorted by key, where every key column allows it (see
    /// `finish::raw_keys`); the order may differ from run to run.
    pub unordered: bool,
}

/// How records are written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    /// One JSON object per line (JSON lines): keys are columns, `null` or a missing key is null.
    Ndjson,
}

/// Parses `--schema 'col:int,col2:float,col3:str'`.
pub fn parse_schema(spec: &str) -> Result<Vec<(String, Kind)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (col, ty) = item
                .rsplit_once(':')
                .ok_or_else(|| format!("malformed schema item \"{item}\": expected column:type"))?;
            let kind = match ty.trim() {
                "int" | "i64" | "integer" => Kind::Int,
                "float" | "f64" | "double" => Kind::Float,
                "str" | "string" | "text" => Kind::Str,
                other => return Err(format!("unknown type \"{other}\" in --schema (expected int, float or str)")),
            };
            Ok((col.trim().to_string(), kind))
        })
        .collect()
}

/// Why a group-by failed; every message names the input, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum GroupByError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{name}: line {line}: {message}")]
    Data { name: String, line: u64, message: String },
    #[error("{name}: row {row}: {message}")]
    Row { name: String, row: u64, message: String },
    #[error("{name}: {message}")]
    Query { name: String, message: String },
}

impl GroupByError {
    fn start(name: &str, e: StartError) -> GroupByError {
        match e {
            StartError::Input(e) => GroupByError::Input(e),
            StartError::Header(f) => GroupByError::Data { name: name.to_string(), line: f.line, message: f.message },
            StartError::Empty => GroupByError::Query { name: name.to_string(), message: e.to_string() },
        }
    }
}

/// Runs the group-by over every source (each with its own header row) and returns the result.
pub fn group_by(plan: &GroupByPlan, sources: &[Source]) -> Result<Grouped, GroupByError> {
    check_engine(plan, sources)?;
    let plan = &with_workers(plan);
    let run = aggregate_opened(plan, sources.iter().map(|s| OpenedInput::open(plan, s)), merge_of(plan))?;
    finish::check_and_finish(plan, &run.layout, run.info, run.groups, &run.first_text_source, pool_of(plan))
}

/// How the workers' stores are merged at the end: each key in one partition when the rows may
/// be written unsorted (nothing brings a key's copies together then), else as is cheapest.
fn merge_of(plan: &GroupByPlan) -> Merge {
    if plan.unordered { Merge::Whole } else { Merge::Shared }
}

/// The pool a plan's work runs on: none for the serial engine.
fn pool_of(plan: &GroupByPlan) -> Option<&rayon::ThreadPool> {
    plan.read.workers.as_deref().filter(|_| plan.engine != Engine::Serial)
}

/// The plan with its engine's worker pool in its read options, so that compressed input decodes
/// on the same workers (`-j` threads of work in all): a pool of its own for the parallel engine,
/// polars' for the polars engine, none for the serial one.
fn with_workers(plan: &GroupByPlan) -> GroupByPlan {
    let mut plan = plan.clone();
    plan.read.workers = match plan.engine {
        Engine::Parallel => Some(Workers::Shared(std::sync::Arc::new(pipeline::build_pool(plan.threads)))),
        Engine::Polars => Some(Workers::Static(super::polars::pool())),
        Engine::Serial => None,
    };
    plan
}

/// The polars engine parses CSV only.
fn check_engine(plan: &GroupByPlan, sources: &[Source]) -> Result<(), GroupByError> {
    if plan.engine == Engine::Polars && plan.input_format != InputFormat::Csv {
        let name = sources.first().map(Source::display_name).unwrap_or_default();
        return Err(GroupByError::Query { name, message: "the polars engine reads CSV; use -e parallel".into() });
    }
    Ok(())
}

/// What the engines computed before the result is typed and sorted: the mergeable state.
struct Run {
    /// The first input's header (or generated column names).
    header: Vec<String>,
    layout: Layout,
    /// What the chunks taught about the columns, merged in input order.
    info: ChunkInfo,
    /// Every group: the workers' stores merged, or spilled.
    groups: Groups,
    /// Per used column, the input its first text value came from, and that input's line base.
    first_text_source: Vec<Option<(String, LineBase)>>,
    /// A shard's byte range in its file.
    shard_span: Option<(u64, u64)>,
}

/// Places a shard's relative line numbers in its file; computed only when a message needs it.
#[derive(Debug, Clone, Default)]
struct LineBase {
    path: Option<std::path::PathBuf>,
    start: u64,
    /// A table's records are rows, not lines.
    rows: bool,
}

impl LineBase {
    fn get(&self) -> u64 {
        match &self.path {
            Some(p) if self.start > 0 && !self.rows => crate::input::newlines_before(p, self.start),
            _ => 0,
        }
    }

    /// The error for a record at `line` (lines from the base) of input `name`.
    fn error(&self, name: &str, line: u64, message: String) -> GroupByError {
        let name = name.to_string();
        if self.rows {
            GroupByError::Row { name, row: line, message }
        } else {
            GroupByError::Data { name, line: self.get() + line, message }
        }
    }
}

/// Where an input's columns come from.
enum HeaderAt {
    /// Its first chunks (the header row, or the first record's width for `--no-header`).
    Chunks,
    /// Read already: the columns, and the newlines before the chunks that follow.
    Read(Vec<String>, u64),
    /// For a shard: the file's columns, and the offset at which its data starts (after the header
    /// and any blank lines before it), which the shard's chunks may not reach or may straddle.
    File(Vec<String>, u64),
}

/// An input opened for the group-by: its chunks, and what its messages and partial state need.
pub struct OpenedInput<'a> {
    name: String,
    base: LineBase,
    shard_span: Option<(u64, u64)>,
    /// Where its bytes end, when that is known before reading them (a file mapped): how much of
    /// it is left after a chunk, for [`estimate`].
    end: Option<u64>,
    body: Body<'a>,
}

/// What an input holds: bytes to cut into records, or a table file read in pieces, or chunks
/// each turned into a frame of rows to group.
enum Body<'a> {
    Chunks {
        header: HeaderAt,
        chunks: Box<dyn Iterator<Item = Result<Chunk, InputError>> + 'a>,
    },
    Table {
        table: TableInput,
        pieces: std::ops::Range<usize>,
    },
    Mapped {
        names: Vec<String>,
        lines: u64,
        chunks: Box<dyn Iterator<Item = Result<Chunk, InputError>> + 'a>,
        map: FrameMap<'a>,
    },
}

/// Turns a chunk of an input's data rows into the rows to group (a frame holding the group-by's
/// columns), or names the fault (its line counted in the chunk).
pub type FrameMap<'a> = &'a (dyn Fn(&[u8]) -> Result<Vec<polars::prelude::DataFrame>, Fault> + Sync);

impl<'a> OpenedInput<'a> {
    /// An input whose start was read already: its columns are `names`, `lines` newlines precede
    /// `chunks`, which hold its data rows.
    pub fn started(
        name: &str,
        names: Vec<String>,
        lines: u64,
        chunks: impl Iterator<Item = Result<Chunk, InputError>> + 'a,
    ) -> Self {
        OpenedInput {
            name: name.to_string(),
            base: LineBase::default(),
            shard_span: None,
            end: None,
            body: Body::Chunks { header: HeaderAt::Read(names, lines), chunks: Box::new(chunks) },
        }
    }

    /// An input whose start was read already (`lines` newlines precede `chunks`), whose rows to
    /// group, of the columns `names`, are what `map` makes of each chunk (a query's rows).
    pub fn mapped(
        name: &str,
        names: Vec<String>,
        lines: u64,
        chunks: impl Iterator<Item = Result<Chunk, InputError>> + 'a,
        map: FrameMap<'a>,
    ) -> Self {
        OpenedInput {
            name: name.to_string(),
            base: LineBase::default(),
            shard_span: None,
            end: None,
            body: Body::Mapped { names, lines, chunks: Box::new(chunks), map },
        }
    }

    /// The same input, whose bytes end at offset `end` when that is known (a file mapped).
    pub fn ending_at(self, end: Option<u64>) -> Self {
        OpenedInput { end, ..self }
    }

    /// A table file (Parquet, Arrow IPC), or the pieces of it that a shard reads.
    pub fn table(
        plan: &GroupByPlan,
        path: &std::path::Path,
        format: TableFormat,
    ) -> Result<OpenedInput<'static>, GroupByError> {
        let name = path.display().to_string();
        let table = TableInput::open(path, format)
            .map_err(|e| GroupByError::Query { name: name.clone(), message: crate::engine::sql::first_line(&e) })?;
        let (pieces, shard_span) = match plan.read.shard {
            Some(shard) => {
                let (pieces, span) = table.shard(shard);
                (pieces, Some(span))
            }
            None => (0..table.len(), None),
        };
        let base = LineBase { rows: true, ..LineBase::default() };
        Ok(OpenedInput { name, base, shard_span, end: None, body: Body::Table { table, pieces } })
    }

    fn open(plan: &GroupByPlan, source: &Source) -> Result<OpenedInput<'static>, GroupByError> {
        if let Source::File(path) = source
            && let Some(format) = TableFormat::of_file(path)
        {
            return OpenedInput::table(plan, path, format);
        }
        let ndjson = plan.input_format == InputFormat::Ndjson;
        let boundary: Box<dyn Boundary> = if ndjson {
            Box::new(LineBoundary::default())
        } else {
            Box::new(CsvBoundary::new(plan.delimiter, dialect::QUOTE))
        };
        let chunks = Chunker::open_with(source, plan.read.clone(), boundary)?;
        let name = chunks.name().to_string();
        // A shard reads the header from the file's start: it may start after it, or be empty.
        let header = if plan.read.shard.is_some() && !ndjson {
            let whole = ReadOptions { shard: None, shard_start: None, progress: None, ..plan.read.clone() };
            let mut head = Chunker::open_with(source, whole, CsvBoundary::new(plan.delimiter, dialect::QUOTE))?;
            let start = dialect::start(&mut head, plan.delimiter, !plan.no_header)
                .map_err(|e| GroupByError::start(&name, e))?;
            let data_from = start.first.as_ref().map_or(u64::MAX, |c| c.offset);
            HeaderAt::File(start.names, data_from)
        } else {
            HeaderAt::Chunks
        };
        let base = LineBase {
            path: match source {
                Source::File(p) => Some(p.clone()),
                Source::Stdin | Source::ZipMember { .. } => None,
            },
            start: chunks.start(),
            rows: false,
        };
        let shard_span = chunks.shard_span();
        let end = chunks.len_hint().map(|len| chunks.start() + len);
        Ok(OpenedInput { name, base, shard_span, end, body: Body::Chunks { header, chunks: Box::new(chunks) } })
    }
}

/// Runs the group-by over one CSV input already opened (see [`OpenedInput::from_chunks`]).
pub fn group_by_opened(plan: &GroupByPlan, input: OpenedInput<'_>) -> Result<Grouped, GroupByError> {
    let plan = &match plan.read.workers {
        Some(_) => plan.clone(),
        None => with_workers(plan),
    };
    let run = aggregate_opened(plan, std::iter::once(Ok(input)), merge_of(plan))?;
    finish::check_and_finish(plan, &run.layout, run.info, run.groups, &run.first_text_source, pool_of(plan))
}

/// The columns of a JSON-lines input: those the query names (each record names its own).
fn ndjson_columns(plan: &GroupByPlan) -> Vec<String> {
    let mut cols: Vec<String> = plan.by.clone();
    for c in plan.aggs.iter().filter_map(|a| a.column.clone()) {
        if !cols.contains(&c) {
            cols.push(c);
        }
    }
    cols
}

/// Where an input's data starts: its columns, the newlines before its first data chunk's first
/// byte, and that chunk (trimmed of what comes before the data).
fn data_start(
    plan: &GroupByPlan,
    name: &str,
    header: HeaderAt,
    chunks: &mut dyn Iterator<Item = Result<Chunk, InputError>>,
) -> Result<(Vec<String>, u64, Option<Chunk>), GroupByError> {
    if plan.input_format == InputFormat::Ndjson {
        return Ok((ndjson_columns(plan), 0, chunks.next().transpose()?));
    }
    let (names, data_from) = match header {
        HeaderAt::Chunks => {
            let start =
                dialect::start(chunks, plan.delimiter, !plan.no_header).map_err(|e| GroupByError::start(name, e))?;
            return Ok((start.names, start.lines, start.first));
        }
        HeaderAt::Read(names, lines) => return Ok((names, lines, chunks.next().transpose()?)),
        HeaderAt::File(names, data_from) => (names, data_from),
    };
    // A shard: skip whatever of the header region it holds.
    let mut skipped = 0u64;
    for chunk in chunks {
        let mut chunk = chunk?;
        let end = chunk.offset + chunk.len() as u64;
        if end <= data_from {
            skipped += bytecount::count(&chunk, b'\n') as u64;
            continue;
        }
        if chunk.offset < data_from {
            let n = (data_from - chunk.offset) as usize;
            skipped += bytecount::count(&chunk[..n], b'\n') as u64;
            chunk.advance(n);
        }
        return Ok((names, skipped, Some(chunk)));
    }
    Ok((names, skipped, None))
}

/// Takes an input's layout: the first input's becomes the run's; a later one must be the same.
fn attach<'t>(
    total: &'t mut Option<(Layout, ChunkInfo)>,
    layout: Layout,
    name: &str,
) -> Result<(&'t Layout, &'t mut ChunkInfo, bool), GroupByError> {
    match total {
        Some((l, _)) if l.names != layout.names || l.width != layout.width => Err(GroupByError::Query {
            name: name.to_string(),
            message: "its header differs from the first input's".into(),
        }),
        Some((l, acc)) => Ok((&*l, acc, false)),
        None => {
            let info = ChunkInfo::new(&layout);
            let (l, p) = total.insert((layout, info));
            Ok((&*l, p, true))
        }
    }
}

/// Aggregates the inputs in order, each opened when the one before is done; the workers' groups
/// merged as `how` says.
fn aggregate_opened<'a>(
    plan: &GroupByPlan,
    inputs: impl Iterator<Item = Result<OpenedInput<'a>, GroupByError>>,
    how: Merge,
) -> Result<Run, GroupByError> {
    let plan = &match plan.read.workers {
        Some(_) => plan.clone(),
        None => with_workers(plan),
    };
    let pool = pool_of(plan);
    // A store per worker (and one for work on the calling thread), and the one they share once
    // the groups are many (see `chunk::Target`), kept across chunks and inputs.
    let own: Vec<Mutex<Store>> =
        (0..=pool.map_or(0, |p| p.current_num_threads())).map(|_| Mutex::new(chunk::new_store(plan))).collect();
    let shared = chunk::new_shared_store(plan);
    let shared_on = AtomicBool::new(false);
    // Set by a test: the shared store from that many groups, whatever the estimate.
    let (shared_from, shared_above) = match plan.shared_from {
        Some(n) => (n, 0),
        None => (chunk::SHARED_FROM, chunk::SHARED_ABOVE),
    };
    let targets: Vec<chunk::Target> = own
        .iter()
        .map(|own| chunk::Target { plan, own, shared: &shared, shared_on: &shared_on, shared_from, shared_above })
        .collect();
    let slot = || {
        let i = rayon::current_thread_index().unwrap_or(targets.len() - 1).min(targets.len() - 1);
        (i, &targets[i])
    };
    let spill = spill::Spill::new(plan.memory_limit.unwrap_or_else(default_memory_limit), own.len());
    let estimate = estimate::Estimate::new(spill.budget());
    // After each chunk the shared store is sized for the groups it is expected to end with (when
    // the input's size is known), the stores measured, and spilled if they are too big.
    let measure = |info: Result<ChunkInfo, Fault>, progress: Option<estimate::Progress>| {
        let info = info.map_err(Stop::Fault)?;
        let (i, target) = slot();
        let progress = progress.map(|p| estimate::Progress { rows: info.newlines, ..p });
        target.after_chunk(progress);
        if let Some(progress) = progress.filter(|_| target.is_shared()) {
            estimate.after_chunk(&shared, progress);
        }
        spill.check(i, target).map_err(Stop::Spill)?;
        Ok(info)
    };
    let mut total: Option<(Layout, ChunkInfo)> = None;
    let mut first_text_source: Vec<Option<(String, LineBase)>> = Vec::new();
    let mut first_header: Vec<String> = Vec::new();
    let mut shard_span = None;
    for (input_index, input) in inputs.enumerate() {
        let OpenedInput { name, base, shard_span: span, end, body } = input?;
        shard_span = shard_span.or(span);
        // What the input says before its data: its columns, and the lines its messages skip.
        let mut frame_map = None;
        let (header, table_plan, skipped_lines, first, mut chunks, table) = match body {
            Body::Chunks { header, mut chunks } => {
                let (header, skipped, first) = data_start(plan, &name, header, &mut chunks)?;
                (header, None, skipped, first, Some(chunks), None)
            }
            Body::Mapped { names, lines, chunks, map } => {
                frame_map = Some(map);
                (names, None, lines, None, Some(chunks), None)
            }
            Body::Table { table, pieces } => {
                // The file types its columns (unless --schema says otherwise).
                let header = table.names();
                let mut typed = plan.clone();
                for (col, kind) in header.iter().zip(table.kinds()) {
                    if !typed.schema.iter().any(|(c, _)| c == col) {
                        typed.schema.push((col.clone(), kind));
                    }
                }
                (header, Some(typed), 0, None, None, Some((table, pieces)))
            }
        };
        let input_plan = table_plan.as_ref().unwrap_or(plan);
        let layout = Layout::resolve(&header, input_plan)
            .map_err(|message| GroupByError::Query { name: name.clone(), message })?;
        let (layout, acc, is_first) = attach(&mut total, layout, &name)?;
        if is_first {
            first_text_source = vec![None; layout.used.len()];
            first_header = header.clone();
        }
        acc.newlines += skipped_lines;
        let mut lines_before = skipped_lines;
        let sink = |result: Result<ChunkInfo, Stop>| -> Result<(), GroupByError> {
            match result {
                Ok(info) => {
                    for (pos, ft) in info.first_text.iter().enumerate() {
                        if ft.is_some() && acc.first_text[pos].is_none() {
                            first_text_source[pos] = Some((name.clone(), base.clone()));
                        }
                    }
                    let n = info.newlines;
                    acc.merge(info, lines_before);
                    lines_before += n;
                    Ok(())
                }
                Err(Stop::Fault(f)) => Err(base.error(&name, lines_before + f.line, f.message)),
                Err(Stop::Spill(e)) => {
                    Err(GroupByError::Query { name: "spilling groups".into(), message: e.to_string() })
                }
            }
        };
        if let Some((table, pieces)) = table {
            let work = |&i: &usize| {
                let pos = RowPos::new(input_index, i as u64, 0);
                measure(chunk::aggregate_piece(&table, i, input_plan, layout, slot().1, pos), None)
            };
            let mut sink = sink;
            let sink = |r, _piece: usize| sink(r);
            match pool {
                Some(pool) => pipeline::drive_parallel(pool, pieces.map(Ok), work, sink)?,
                None => pipeline::drive_serial(pieces.map(Ok), work, sink)?,
            }
            continue;
        }
        let ndjson = plan.input_format == InputFormat::Ndjson;
        let parse = if plan.engine == Engine::Polars { chunk::aggregate_chunk_polars } else { chunk::aggregate_chunk };
        let work = |chunk: &Chunk| -> Result<ChunkInfo, Stop> {
            let pos = RowPos::new(input_index, chunk.offset, 0);
            let after = chunk.offset + chunk.len() as u64;
            let progress = end.map(|end| estimate::Progress {
                rows: 0,
                bytes: chunk.len(),
                before: chunk.offset,
                left: end.saturating_sub(after),
            });
            measure(
                if let Some(map) = frame_map {
                    map(chunk).and_then(|frames| {
                        let newlines = crate::engine::kernels::count_newlines(chunk);
                        chunk::aggregate_frames(&frames, newlines, plan, layout, slot().1, pos)
                    })
                } else if ndjson {
                    chunk::aggregate_ndjson_chunk(chunk, plan, layout, slot().1, pos)
                } else {
                    parse(chunk, plan, layout, slot().1, 0, pos)
                },
                progress,
            )
        };
        let mut sink = sink;
        let sink = |r, _chunk: Chunk| sink(r);
        let all = first.map(Ok).into_iter().chain(chunks.take().expect("a byte input"));
        match pool {
            Some(pool) => pipeline::drive_parallel(pool, all, work, sink)?,
            None => pipeline::drive_serial(all, work, sink)?,
        }
    }
    let (layout, info) = total.expect("at least one source");
    drop(targets);
    let mut stores: Vec<Store> = own.into_iter().map(|m| m.into_inner().expect("a worker's store")).collect();
    stores.push(shared.into_store());
    let groups = if spill.has_spilled() {
        let spilled = spill
            .finish(stores, plan.aggs.len())
            .map_err(|e| GroupByError::Query { name: "spilling groups".into(), message: e.to_string() })?;
        Groups::Spilled(spilled)
    } else {
        Groups::Memory(Store::merge(stores, pool, how))
    };
    Ok(Run { header: first_header, layout, info, groups, first_text_source, shard_span })
}

/// Why a chunk's work stopped: a fault in its records, or spilling the groups failed.
enum Stop {
    Fault(Fault),
    Spill(std::io::Error),
}

/// The default memory limit: half of what this job has (see [`crate::cores::job_memory`]).
fn default_memory_limit() -> u64 {
    crate::cores::job_memory(&crate::cores::Probe::system()).map_or(u64::MAX, |m| m.bytes / 2)
}

/// The mergeable state of a group-by over one input or one shard of it: what `--partial-out`
/// writes and `pframe merge` combines. Lines in `first_text` count from the shard's start;
/// merging the shards in order places them in the file, as merging chunks does.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupByState {
    header: Vec<String>,
    kinds: Vec<Kind>,
    kinds_sans_nullish: Vec<Kind>,
    first_text: Vec<Option<(u64, String)>>,
    newlines: u64,
    /// Encoded keys and their aggregation states, sorted by key so the file is deterministic.
    groups: Vec<(Vec<u8>, Vec<State>)>,
}

/// Runs the engine (serial, parallel, or polars parsing the chunks) and returns its state
/// instead of the result, with the shard's byte range when it read a shard. The check that numeric
/// aggregations see no text is left to the merge, which sees every shard, so that a failing job
/// reports the same first offending line as a single run.
pub fn group_by_state(
    plan: &GroupByPlan,
    sources: &[Source],
) -> Result<(GroupByState, Option<(u64, u64)>), GroupByError> {
    check_engine(plan, sources)?;
    // A partial file holds every group: they are kept in memory, never spilled.
    let plan = &GroupByPlan { memory_limit: Some(u64::MAX), ..with_workers(plan) };
    // Each group once, so that the state lists every key once.
    let run = aggregate_opened(plan, sources.iter().map(|s| OpenedInput::open(plan, s)), Merge::Whole)?;
    let Groups::Memory(parts) = run.groups else { unreachable!("no memory limit") };
    let mut groups: Vec<(Vec<u8>, Vec<State>)> = Vec::new();
    for part in &parts {
        for id in 0..part.keys.len() as u32 {
            let states = (0..plan.aggs.len()).map(|agg| part.states.state(agg, id)).collect();
            groups.push((part.keys.key(id).to_vec(), states));
        }
    }
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let state = GroupByState {
        header: run.header,
        kinds: run.info.kinds,
        kinds_sans_nullish: run.info.kinds_sans_nullish,
        first_text: run.info.first_text,
        newlines: run.info.newlines,
        groups,
    };
    Ok((state, run.shard_span))
}

/// Merges the states of consecutive shards of `input` (in shard order) into the final result:
/// the same table, or the same error, as one run over the whole input.
pub fn merge_states(plan: &GroupByPlan, input: &str, states: Vec<GroupByState>) -> Result<Grouped, GroupByError> {
    let mut merge = StateMerge::new(plan, input);
    for st in states {
        let GroupByState { header, kinds, kinds_sans_nullish, first_text, newlines, groups } = st;
        for (key, group) in groups {
            merge.group(&key, group).map_err(|()| merge.malformed())?;
        }
        merge
            .shard(StateHead { header, info: ChunkInfo::of_state(kinds, kinds_sans_nullish, first_text, newlines) })?;
    }
    merge.finish()
}

/// A merge of shards' states (see [`merge_states`]), which takes each state as it is parsed: its
/// groups go straight into the store, one by one ([`StateMerge::seed`]), so that a merge holds
/// the groups and one partial file's bytes, not every shard's state built in memory first.
pub struct StateMerge<'a> {
    plan: &'a GroupByPlan,
    input: &'a str,
    /// The first shard's header and layout, and what the shards so far taught about the columns.
    first: Option<(Vec<String>, Layout, ChunkInfo)>,
    store: Store,
    first_text_source: Vec<Option<(String, LineBase)>>,
    lines_before: u64,
}

/// What a shard's state says besides its groups: its header, and what it taught about the
/// columns.
pub struct StateHead {
    header: Vec<String>,
    info: ChunkInfo,
}

impl<'a> StateMerge<'a> {
    pub fn new(plan: &'a GroupByPlan, input: &'a str) -> Self {
        StateMerge {
            plan,
            input,
            first: None,
            store: chunk::new_store(plan),
            first_text_source: Vec::new(),
            lines_before: 0,
        }
    }

    fn malformed(&self) -> GroupByError {
        GroupByError::Query { name: self.input.to_string(), message: "malformed partial state".into() }
    }

    /// Merges one group of a shard's state; `Err` when its states are not the query's.
    fn group(&mut self, key: &[u8], states: Vec<State>) -> Result<(), ()> {
        if states.len() != self.plan.aggs.len() {
            return Err(());
        }
        let hash = table::hash_key(key);
        let p = self.store.partition_of(hash);
        let part = &mut self.store.parts[p];
        let (id, _) = part.group(hash, key);
        for (agg, state) in states.into_iter().enumerate() {
            part.states.merge_state(agg, id, state);
        }
        Ok(())
    }

    /// Ends a shard (its groups merged already): what it taught about the columns, merged in
    /// shard order.
    pub fn shard(&mut self, head: StateHead) -> Result<(), GroupByError> {
        let StateHead { header, info } = head;
        if self.first.is_none() {
            let layout = Layout::resolve(&header, self.plan)
                .map_err(|message| GroupByError::Query { name: self.input.to_string(), message })?;
            self.first_text_source = vec![None; layout.used.len()];
            let acc = ChunkInfo::new(&layout);
            self.first = Some((header.clone(), layout, acc));
        }
        let malformed = self.malformed();
        let (first_header, layout, acc) = self.first.as_mut().expect("the first shard's layout");
        let width = layout.used.len();
        let widths_ok =
            [info.kinds.len(), info.kinds_sans_nullish.len(), info.first_text.len()].iter().all(|&w| w == width);
        if header != *first_header || !widths_ok {
            return Err(malformed);
        }
        for (pos, ft) in info.first_text.iter().enumerate() {
            if ft.is_some() && acc.first_text[pos].is_none() {
                self.first_text_source[pos] = Some((self.input.to_string(), LineBase::default()));
            }
        }
        let n = info.newlines;
        acc.merge(info, self.lines_before);
        self.lines_before += n;
        Ok(())
    }

    /// The seed that parses one shard's state (a [`GroupByState`] as written) into this merge,
    /// its groups as they come; [`StateMerge::shard`] then takes the rest of it.
    pub fn seed(&mut self) -> StateSeed<'_, 'a> {
        StateSeed { merge: self }
    }

    /// The result, as one run gives it.
    pub fn finish(mut self) -> Result<Grouped, GroupByError> {
        let Some((_, layout, acc)) = self.first.take() else {
            return Err(self.malformed());
        };
        finish::check_and_finish(
            self.plan,
            &layout,
            acc,
            Groups::Memory(self.store.parts),
            &self.first_text_source,
            None,
        )
    }
}

/// Parses a shard's state into a [`StateMerge`] (see [`StateMerge::seed`]).
pub struct StateSeed<'m, 'a> {
    merge: &'m mut StateMerge<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for StateSeed<'_, '_> {
    type Value = StateHead;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<StateHead, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StateSeed<'_, '_> {
    type Value = StateHead;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a group-by's partial state")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StateHead, A::Error> {
        use serde::de::Error;
        let (mut header, mut kinds, mut sans, mut first_text, mut newlines) = (None, None, None, None, None);
        let mut groups = false;
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "header" => header = Some(map.next_value()?),
                "kinds" => kinds = Some(map.next_value()?),
                "kinds_sans_nullish" => sans = Some(map.next_value()?),
                "first_text" => first_text = Some(map.next_value()?),
                "newlines" => newlines = Some(map.next_value()?),
                "groups" => {
                    map.next_value_seed(GroupsSeed { merge: &mut *self.merge })?;
                    groups = true;
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        if !groups {
            return Err(A::Error::missing_field("groups"));
        }
        Ok(StateHead {
            header: header.ok_or_else(|| A::Error::missing_field("header"))?,
            info: ChunkInfo::of_state(
                kinds.ok_or_else(|| A::Error::missing_field("kinds"))?,
                sans.ok_or_else(|| A::Error::missing_field("kinds_sans_nullish"))?,
                first_text.ok_or_else(|| A::Error::missing_field("first_text"))?,
                newlines.ok_or_else(|| A::Error::missing_field("newlines"))?,
            ),
        })
    }
}

/// Parses a state's groups into a [`StateMerge`], each merged as soon as it is read.
struct GroupsSeed<'m, 'a> {
    merge: &'m mut StateMerge<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for GroupsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for GroupsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of groups, each a key and its states")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((key, states)) = seq.next_element::<(Vec<u8>, Vec<State>)>()? {
            self.merge
                .group(&key, states)
                .map_err(|()| serde::de::Error::custom("a group's states are not the query's aggregations"))?;
        }
        Ok(())
    }
}
