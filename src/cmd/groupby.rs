//! `pframe groupby`: resolves the arguments into a [`GroupByPlan`], runs it, writes the table.

use anyhow::{Result, bail};

use super::UsageError;
use crate::cli::{GroupByArgs, GroupByEngineArg};
use pframe::agg::groupby::parse_aggs;
use pframe::engine::Engine;
use pframe::engine::groupby::{GroupByPlan, group_by, parse_schema};

pub fn run(args: GroupByArgs) -> Result<()> {
    let aggs = parse_aggs(&args.agg).map_err(UsageError)?;
    let delimiter = match args.delimiter.as_str() {
        "\\t" | "\t" | "tab" => b'\t',
        d if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" && d != "\r" => d.as_bytes()[0],
        d => bail!(UsageError(format!("--delimiter: \"{d}\" is not a single ASCII byte (use \\t for tab)"))),
    };
    let by: Vec<String> = args.by.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if by.is_empty() {
        bail!(UsageError("--by: no key column given".into()));
    }
    let plan = GroupByPlan {
        by,
        aggs,
        engine: match args.engine {
            GroupByEngineArg::Serial => Engine::Serial,
            GroupByEngineArg::Auto | GroupByEngineArg::Parallel => Engine::Parallel,
        },
        threads: super::threads(&args.par),
        read: super::read_options(&args.input)?,
        delimiter,
        no_header: args.no_header,
        schema: args.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default(),
    };
    let sources = super::sources(&args.input)?;
    let (format, dest) = super::output_plan(&args.output);
    let table = group_by(&plan, &sources)?;
    super::write_table(&table, format, &dest)
}
