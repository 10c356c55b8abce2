//! `pframe merge`: checks that the partial files are the complete set of shards of one job and
//! merges them into the result a single run prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::MergeArgs;
use pframe::agg::partial::{self, InputId, PartialFile};

pub fn run(args: MergeArgs) -> Result<()> {
    let parts = args
        .parts
        .iter()
        .map(|p| Ok((p.clone(), partial::read(p)?)))
        .collect::<Result<Vec<_>, partial::MergeError>>()?;
    let mut parts = partial::check_set(parts)?;
    tile(&mut parts)?;
    let (format, dest) = super::output_plan(&args.output)?;
    let (first_path, first) = &parts[0];
    let states = parts.iter().map(|(_, p)| &p.state);
    let table = match first.command.as_str() {
        "count" => super::count::merge(&first.query, states)?,
        "groupby" => super::groupby::merge(&first.query, &first.input.path, states)?,
        other => bail!("{}: unknown command \"{other}\" (expected count or groupby)", first_path.display()),
    };
    super::write_table(&table, format, &dest)
}

/// Checks that the shards tile the input, each starting where the previous one ended. A CSV shard
/// finds its start without reading what precedes it, assuming its cut point is not inside a quoted
/// field; where that was wrong, the shard is re-run here from the previous shard's end (which is
/// exact), and so on down the chain.
fn tile(parts: &mut [(PathBuf, PartialFile)]) -> Result<()> {
    let mut expected = 0;
    for (path, part) in parts.iter_mut() {
        if part.range.0 != expected {
            let input = Path::new(&part.input.path);
            let now = InputId::of(input)
                .with_context(|| format!("{}: cannot read the input to re-run a shard", input.display()))?;
            if now != part.input {
                bail!(
                    "{}: shard {} must be re-run from byte {expected} (it started at byte {}, inside a record), but {} has changed since the shards ran",
                    path.display(),
                    part.shard,
                    part.range.0,
                    input.display()
                );
            }
            eprintln!(
                "pframe: merge: shard {} started at byte {}, inside a quoted field that the previous shard read to byte {expected}; re-running it from there",
                part.shard, part.range.0
            );
            let (state, range) = match part.command.as_str() {
                "count" => super::count::recompute(&part.query, input, part.shard, expected)?,
                "groupby" => super::groupby::recompute(&part.query, input, part.shard, expected)?,
                other => bail!("{}: unknown command \"{other}\"", path.display()),
            };
            part.state = partial::PartialState::Value(state);
            part.range = range;
        }
        expected = part.range.1;
    }
    let (last_path, last) = &parts[parts.len() - 1];
    if expected != last.input.size {
        bail!(
            "{}: the shards end at byte {expected}, not at the end of the input ({} bytes)",
            last_path.display(),
            last.input.size
        );
    }
    Ok(())
}
