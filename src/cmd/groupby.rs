//! `pframe groupby`: resolves the arguments into a [`GroupByPlan`], runs it, writes the table.

use anyhow::{Result, bail};

use super::UsageError;
use crate::cli::{GroupByArgs, GroupByEngineArg, InputFormatArg};
use pframe::agg::groupby::parse_aggs;
use pframe::agg::partial::PartialState;
use pframe::engine::Engine;
use pframe::engine::groupby::{Block, GroupByPlan, InputFormat, StateMerge, group_by, group_by_state, parse_schema};
use pframe::input::ReadOptions;
use pframe::input::value::NullValues;
use pframe::output::{Format, Part, Table};

/// The polars engine's default chunk size: polars' reader costs a setup per chunk, and 4 MiB
/// chunks run the 1e7-row benchmark 18% faster than 1 MiB ones (BENCHMARKS.md).
const POLARS_CHUNK_SIZE: usize = 4 << 20;

pub fn run(args: GroupByArgs) -> Result<()> {
    let aggs = parse_aggs(&args.agg).map_err(UsageError)?;
    let delimiter = super::parse_delimiter(&args.csv.delimiter)?;
    let by: Vec<String> = args.by.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if by.is_empty() {
        bail!(UsageError("--by: no key column given".into()));
    }
    let mut plan = GroupByPlan {
        by,
        aggs,
        engine: match args.engine {
            GroupByEngineArg::Serial => Engine::Serial,
            GroupByEngineArg::Polars => Engine::Polars,
            GroupByEngineArg::Auto | GroupByEngineArg::Parallel => Engine::Parallel,
        },
        threads: super::threads(&args.par),
        read: super::read_options(&args.input, &args.par)?,
        delimiter,
        no_header: args.csv.no_header,
        schema: args.csv.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default(),
        null_values: NullValues::parse(args.csv.null_values.as_deref().unwrap_or("")),
        input_format: match args.input_format {
            Some(InputFormatArg::Csv) => InputFormat::Csv,
            Some(InputFormatArg::Ndjson) => InputFormat::Ndjson,
            None => {
                let json_ext = |f: &std::path::PathBuf| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "ndjson" | "jsonl"))
                };
                if !args.input.files.is_empty() && args.input.files.iter().all(json_ext) {
                    InputFormat::Ndjson
                } else {
                    InputFormat::Csv
                }
            }
        },
        memory_limit: super::memory_limit(&args.memory)?,
        shared_from: None,
        unordered: args.unordered,
    };
    if plan.engine == Engine::Polars && args.input.chunk_size.is_none() {
        plan.read.chunk_size = POLARS_CHUNK_SIZE;
    }
    let sources = super::sources(&args.input)?;
    plan.read.shard = super::resolve_shard(&args.shard, &sources)?;
    let progress = super::progress::for_inputs(&args.progress, &sources);
    plan.read.progress = progress.as_ref().map(|p| p.0);
    let (format, dest) = super::output_plan(&args.output)?;
    // A CSV shard finds its start assuming the cut point is outside quotes (see shard_range); the
    // merge checks that and re-runs a shard that started inside a record. A shard printed on its
    // own has no merge to check it: find its start exactly, by a scan from the file's start.
    let csv_shard = match (plan.read.shard, &sources[..]) {
        (Some(shard), [pframe::input::Source::File(path)])
            if shard.index > 0 && plan.input_format == InputFormat::Csv =>
        {
            Some((shard, path.clone()))
        }
        _ => None,
    };
    let exact_start = |(shard, path): &(pframe::input::Shard, std::path::PathBuf)| {
        pframe::input::exact_shard_start(path, *shard, pframe::input::CsvBoundary::new(plan.delimiter, b'"'))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    if args.shard.partial_out.is_none()
        && let Some(s) = &csv_shard
    {
        plan.read.shard_start = Some(exact_start(s)?);
    }
    if let Some(path) = &args.shard.partial_out {
        let (state, span) = match group_by_state(&plan, &sources) {
            // A shard that started inside a quoted field reads garbage and may fail on it: before
            // blaming the data, re-run it from its exact start.
            Err(_) if csv_shard.is_some() => {
                let start = exact_start(csv_shard.as_ref().unwrap())?;
                let retry =
                    GroupByPlan { read: ReadOptions { shard_start: Some(start), ..plan.read.clone() }, ..plan.clone() };
                group_by_state(&retry, &sources)?
            }
            r => r?,
        };
        drop(progress);
        let query = serde_json::json!({
            "by": plan.by,
            "agg": plan.aggs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(","),
            "delimiter": plan.delimiter,
            "no_header": plan.no_header,
            "schema": args.csv.schema,
            "null_values": plan.null_values.spec(),
            "input_format": if plan.input_format == InputFormat::Ndjson { "ndjson" } else { "csv" },
        });
        return super::write_partial(path, "groupby", query, &sources[0], plan.read.shard, span, &state);
    }
    let grouped = group_by(&plan, &sources)?;
    drop(progress);
    for note in &grouped.notes {
        eprintln!("pframe: {note}");
    }
    let rows = &grouped.rows;
    let mut blocks = rows.blocks(1 << 14);
    let headers = &grouped.headers;
    // CSV and TSV are written from the groups' codes and states; other formats from rows.
    let part = |block: std::io::Result<Block>| match format {
        Format::Csv => Ok(Part::Bytes(rows.delimited_of(block?, b','))),
        Format::Tsv => Ok(Part::Bytes(rows.delimited_of(block?, b'\t'))),
        _ => Part::new(format, headers, rows.rows_of(block?)),
    };
    let written = super::write_rows(headers, || blocks.next(), part, format, &dest, plan.threads);
    drop(blocks);
    grouped.release_at_exit();
    written
}

/// Re-runs shard `shard` of the group-by `query` over `path` from byte `start` (a record
/// boundary): its state and byte range.
pub fn recompute(
    query: &serde_json::Value,
    path: &std::path::Path,
    shard: pframe::input::Shard,
    start: u64,
) -> Result<(serde_json::Value, (u64, u64))> {
    let mut plan = plan_of(query)?;
    plan.engine = Engine::Parallel;
    plan.threads = pframe::cores::default_threads();
    plan.read = ReadOptions { shard: Some(shard), shard_start: Some(start), ..ReadOptions::default() };
    let (state, span) = group_by_state(&plan, &[pframe::input::Source::File(path.to_path_buf())])?;
    Ok((serde_json::to_value(state)?, span.unwrap_or((start, start))))
}

/// Merges the states of the shards of a group-by (in shard order) into the table one run prints.
pub fn merge<'a>(
    query: &serde_json::Value,
    input: &str,
    states: impl Iterator<Item = &'a PartialState>,
) -> Result<Table> {
    let plan = plan_of(query)?;
    // Each shard's state parsed straight into the merge, one file at a time.
    let mut merge = StateMerge::new(&plan, input);
    for state in states {
        let head = state.parse_seed(merge.seed()).map_err(|e| anyhow::anyhow!("malformed groupby partial: {e}"))?;
        merge.shard(head)?;
    }
    let grouped = merge.finish()?;
    for note in &grouped.notes {
        eprintln!("pframe: {note}");
    }
    Ok(grouped.into_table()?)
}

/// The group-by a partial file's query describes (one thread, the serial engine).
fn plan_of(query: &serde_json::Value) -> Result<GroupByPlan> {
    let bad = || anyhow::anyhow!("malformed groupby partial: {query}");
    let by: Vec<String> = serde_json::from_value(query["by"].clone()).map_err(|_| bad())?;
    let aggs = parse_aggs(query["agg"].as_str().ok_or_else(bad)?).map_err(|_| bad())?;
    let schema = match query["schema"].as_str() {
        Some(spec) => parse_schema(spec).map_err(|_| bad())?,
        None => Vec::new(),
    };
    let plan = GroupByPlan {
        by,
        aggs,
        engine: Engine::Serial,
        threads: 1,
        read: ReadOptions::default(),
        delimiter: query["delimiter"].as_u64().and_then(|d| u8::try_from(d).ok()).ok_or_else(bad)?,
        no_header: query["no_header"].as_bool().ok_or_else(bad)?,
        schema,
        input_format: if query["input_format"] == "ndjson" { InputFormat::Ndjson } else { InputFormat::Csv },
        null_values: NullValues::parse(query["null_values"].as_str().unwrap_or("")),
        memory_limit: None,
        shared_from: None,
        unordered: false,
    };
    Ok(plan)
}
