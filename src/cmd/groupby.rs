//! `pframe groupby`: resolves the arguments into a [`GroupByPlan`], runs it, writes the table.

use anyhow::{Result, bail};

use super::UsageError;
use crate::cli::{GroupByArgs, GroupByEngineArg, InputFormatArg};
use pframe::agg::groupby::parse_aggs;
use pframe::engine::Engine;
use pframe::engine::groupby::{GroupByPlan, InputFormat, group_by, parse_schema};

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
    let progress = super::progress::for_inputs(&args.progress, &sources);
    plan.read.progress = progress.as_ref().map(|p| p.0);
    let (format, dest) = super::output_plan(&args.output);
    let table = group_by(&plan, &sources)?;
    drop(progress);
    super::write_table(&table, format, &dest)
}
