//! `pframe merge`: checks that the partial files are the complete set of shards of one job and
//! merges them into the result a single run prints.

use anyhow::{Result, bail};

use crate::cli::MergeArgs;
use pframe::agg::partial;

pub fn run(args: MergeArgs) -> Result<()> {
    let parts = args
        .parts
        .iter()
        .map(|p| Ok((p.clone(), partial::read(p)?)))
        .collect::<Result<Vec<_>, partial::MergeError>>()?;
    let parts = partial::check_set(parts)?;
    let (format, dest) = super::output_plan(&args.output);
    let (first_path, first) = &parts[0];
    let states = parts.iter().map(|(_, p)| &p.state);
    let table = match first.command.as_str() {
        "count" => super::count::merge(&first.query, states)?,
        "groupby" => super::groupby::merge(&first.query, &first.input.path, states)?,
        other => bail!("{}: unknown command \"{other}\" (expected count or groupby)", first_path.display()),
    };
    super::write_table(&table, format, &dest)
}
