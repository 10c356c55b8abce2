//! `pframe groupby`: resolves the arguments into a [`GroupByPlan`], runs it, writes the table.

use anyhow::{Result, bail};

use super::UsageError;
use crate::cli::{GroupByArgs, GroupByEngineArg, InputFormatArg};
use pframe::agg::groupby::parse_aggs;
use pframe::engine::Engine;
use pframe::engine::groupby::{
    GroupByPlan, GroupByState, InputFormat, group_by, group_by_state, merge_states, parse_schema,
};
use pframe::input::ReadOptions;
use pframe::output::Table;

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
        read: super::read_options(&args.input)?,
        delimiter,
        no_header: args.csv.no_header,
        schema: args.csv.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default(),
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
    };
    let sources = super::sources(&args.input)?;
    plan.read.shard = super::resolve_shard(&args.shard, &sources)?;
    let progress = super::progress::for_inputs(&args.progress, &sources);
    plan.read.progress = progress.as_ref().map(|p| p.0);
    let (format, dest) = super::output_plan(&args.output);
    if let Some(path) = &args.shard.partial_out {
        let state = group_by_state(&plan, &sources)?;
        drop(progress);
        let query = serde_json::json!({
            "by": plan.by,
            "agg": plan.aggs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(","),
            "delimiter": plan.delimiter,
            "no_header": plan.no_header,
            "schema": args.csv.schema,
            "input_format": if plan.input_format == InputFormat::Ndjson { "ndjson" } else { "csv" },
        });
        return super::write_partial(
            path,
            "groupby",
            query,
            &sources[0],
            plan.read.shard,
            serde_json::to_value(state)?,
        );
    }
    let table = group_by(&plan, &sources)?;
    drop(progress);
    super::write_table(&table, format, &dest)
}

/// Merges the states of the shards of a group-by (in shard order) into the table one run prints.
pub fn merge<'a>(
    query: &serde_json::Value,
    input: &str,
    states: impl Iterator<Item = &'a serde_json::Value>,
) -> Result<Table> {
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
    };
    let states = states
        .map(|s| {
            serde_json::from_value::<GroupByState>(s.clone())
                .map_err(|e| anyhow::anyhow!("malformed groupby partial: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(merge_states(&plan, input, states)?)
}
