//! The count job: one input after another, each cut into chunks, each chunk counted by the unit's
//! kernel, the per-chunk tallies merged in input order.

use std::time::{Duration, Instant};

use crate::agg::{Tally, Unit};
use crate::engine::kernels::{self, InvalidUtf8};
use crate::engine::polars::table::TableInput;
use crate::engine::words::{self, WorkerWords};
use crate::engine::{Engine, pipeline};
use crate::input::{Chunk, Chunker, InputError, ReadOptions, Source, TableFormat};

/// A validated count job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountPlan {
    pub unit: Unit,
    pub engine: Engine,
    /// Worker threads for the parallel engine (the polars engine reads `POLARS_MAX_THREADS`).
    pub threads: usize,
    pub read: ReadOptions,
    /// Count invalid UTF-8 as U+FFFD instead of failing (chars and words).
    pub lossy: bool,
    /// Fold words to lowercase.
    pub ignore_case: bool,
    /// Set by tests: a worker moves its words to the shared store from this many distinct ones
    /// (0: before its first chunk; see `words::SHARED_FROM`).
    pub words_shared_from: Option<usize>,
}

/// What a count job produced, and how much it read.
#[derive(Debug, Clone)]
pub struct CountOutcome {
    pub tally: Tally,
    pub bytes: u64,
    pub chunks: usize,
    pub elapsed: Duration,
    /// A shard's byte range in its file.
    pub shard_span: Option<(u64, u64)>,
}

/// Why a count failed. Every variant names the input.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{name}: line {line}, byte offset {offset}: invalid UTF-8 (use --lossy to count it as U+FFFD)")]
    InvalidUtf8 { name: String, line: u64, offset: u64 },
    #[error("{name}: polars failed: {err}")]
    Polars { name: String, err: ::polars::error::PolarsError },
    #[error(
        "{name}: a {} file: count reads text; -u lines counts its rows and -u bytes its bytes (groupby and sql \
         read its columns)",
        format.name()
    )]
    Table { name: String, format: TableFormat },
}

/// How one chunk failed, relative to the chunk; the sink places it in the input.
pub(crate) enum ChunkFault {
    Utf8(InvalidUtf8),
    Polars(::polars::error::PolarsError),
}

/// One chunk's count and its number of newlines (which places later errors on their line).
pub(crate) type ChunkCount = Result<(Tally, u64), ChunkFault>;

/// Counts one chunk with the plan's kernel.
pub fn count_chunk(plan: &CountPlan, data: &[u8]) -> Result<(Tally, u64), InvalidUtf8> {
    Ok(match plan.unit {
        Unit::Letters => {
            let c = kernels::count_letters(data);
            (Tally::Letters(c.letters), c.newlines)
        }
        Unit::Chars => {
            let c = kernels::count_chars(data, plan.lossy)?;
            let n = c.newlines;
            (Tally::Chars(Box::new(c)), n)
        }
        Unit::Words => {
            let c = kernels::count_words(data, plan.ignore_case, plan.lossy)?;
            (Tally::Words(c.words.into()), c.newlines)
        }
        Unit::Lines => {
            let n = kernels::count_newlines(data);
            (Tally::Lines(n), n)
        }
        Unit::Bytes => (Tally::Bytes(data.len() as u64), kernels::count_newlines(data)),
    })
}

/// Whether a file starts as a compressed one (it may then hold many chunks).
fn is_compressed(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    crate::input::compress::detect(&head[..n]).is_some()
}

/// Runs the count over every source; the counts of all sources add up.
pub fn count(plan: &CountPlan, sources: &[Source]) -> Result<CountOutcome, CountError> {
    let start = Instant::now();
    let mut outcome =
        CountOutcome { tally: Tally::empty(plan.unit), bytes: 0, chunks: 0, elapsed: Duration::ZERO, shard_span: None };
    // Input of one chunk has nothing to run in parallel: no pool is started for it (starting one
    // is most of the cost of a small run).
    let one_chunk = || {
        let mut total = 0u64;
        sources.iter().all(|s| match s {
            Source::File(p) => std::fs::metadata(p).is_ok_and(|m| {
                total += m.len();
                m.is_file() && total <= plan.read.chunk_size as u64 && !is_compressed(p)
            }),
            _ => false,
        })
    };
    let pool = (plan.engine == Engine::Parallel && !one_chunk())
        .then(|| std::sync::Arc::new(pipeline::build_pool(plan.threads)));
    // Compressed input decodes on the same workers: -j is the threads of work in all.
    let read = ReadOptions { workers: pool.clone().map(crate::input::Workers::Shared), ..plan.read.clone() };
    // Words are counted into a store per worker (and one for the calling thread), kept across
    // chunks and inputs and merged at the end; the chunks' tallies then carry only their lines.
    // Once a worker's store holds many distinct words, it moves them to a store the workers
    // share (see `words::SharedWords`); with one worker there is nothing to share.
    let word_slots: Option<Vec<std::sync::Mutex<WorkerWords>>> =
        (plan.unit == Unit::Words && plan.engine != Engine::Polars).then(|| {
            (0..=pool.as_ref().map_or(0, |p| p.current_num_threads()))
                .map(|_| std::sync::Mutex::new(WorkerWords::Own(words::new_store())))
                .collect()
        });
    let shared_words = words::new_shared();
    let shared_from = match &pool {
        Some(pool) if pool.current_num_threads() > 1 => plan.words_shared_from.unwrap_or(words::SHARED_FROM),
        _ => usize::MAX,
    };
    let kernel = |c: &Chunk| -> ChunkCount {
        let Some(slots) = &word_slots else { return kernel(plan, c) };
        let slot = &slots[rayon::current_thread_index().unwrap_or(slots.len() - 1).min(slots.len() - 1)];
        let mut worker = slot.lock().expect("a worker's words");
        let newlines =
            worker.count(c, plan.ignore_case, plan.lossy, &shared_words, shared_from).map_err(ChunkFault::Utf8)?;
        Ok((Tally::empty(Unit::Words), newlines))
    };
    for source in sources {
        // A table file's lines are its rows; its bytes are counted as any file's.
        if let Source::File(path) = source
            && let Some(format) = TableFormat::of_file(path)
            && plan.unit != Unit::Bytes
        {
            let name = path.display().to_string();
            if plan.unit != Unit::Lines || plan.read.shard.is_some() {
                return Err(CountError::Table { name, format });
            }
            let table = TableInput::open(path, format).map_err(|err| CountError::Polars { name, err })?;
            outcome.tally.merge(Tally::Lines(table.rows()));
            continue;
        }
        let chunks = Chunker::open(source, read.clone())?;
        let name = chunks.name().to_string();
        outcome.shard_span = outcome.shard_span.or(chunks.shard_span());
        // A shard's lines are numbered from its start; its first line's number costs a pass over
        // what precedes it, paid only for an error message.
        let start = chunks.start();
        let line_base = || match source {
            Source::File(path) if start > 0 => crate::input::newlines_before(path, start),
            _ => 0,
        };
        let mut lines_before = 0u64;
        let sink = |result: ChunkCount, chunk: Chunk| -> Result<(), CountError> {
            match result {
                Ok((tally, newlines)) => {
                    outcome.tally.merge(tally);
                    outcome.bytes += chunk.len() as u64;
                    outcome.chunks += 1;
                    lines_before += newlines;
                    Ok(())
                }
                Err(ChunkFault::Utf8(e)) => Err(CountError::InvalidUtf8 {
                    name: name.clone(),
                    line: line_base() + lines_before + e.line + 1,
                    offset: chunk.offset + e.offset as u64,
                }),
                Err(ChunkFault::Polars(err)) => Err(CountError::Polars { name: name.clone(), err }),
            }
        };
        match (&pool, plan.engine) {
            (Some(pool), _) => pipeline::drive_parallel(pool, chunks, kernel, sink)?,
            (None, Engine::Polars) => pipeline::drive_serial(chunks, |c| super::polars::count_chunk(plan, c), sink)?,
            (None, _) => pipeline::drive_serial(chunks, kernel, sink)?,
        }
    }
    if let Some(slots) = word_slots {
        let workers = slots.into_iter().map(|s| s.into_inner().expect("a worker's words"));
        outcome.tally = Tally::Words(words::into_rows(words::into_stores(workers, shared_words), pool.as_deref()));
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}

fn kernel(plan: &CountPlan, chunk: &Chunk) -> ChunkCount {
    count_chunk(plan, chunk).map_err(ChunkFault::Utf8)
}
