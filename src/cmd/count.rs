//! `pframe count`: resolves the arguments into a [`CountPlan`], runs it, writes the table.

use anyhow::Result;

use crate::cli::{CountArgs, CountEngineArg, SortArg, UnitArg};
use pframe::agg::Unit;
use pframe::agg::partial::PartialState;
use pframe::engine::Engine;
use pframe::engine::count::{self, CountOutcome, CountPlan};
use pframe::input::ZipChoice;
use pframe::output::{JsonShape, Table, Value};

pub fn run(args: CountArgs) -> Result<()> {
    let mut plan = CountPlan {
        unit: match args.unit {
            UnitArg::Letters => Unit::Letters,
            UnitArg::Chars => Unit::Chars,
            UnitArg::Words => Unit::Words,
            UnitArg::Lines => Unit::Lines,
            UnitArg::Bytes => Unit::Bytes,
        },
        engine: match args.engine {
            CountEngineArg::Serial => Engine::Serial,
            CountEngineArg::Parallel => Engine::Parallel,
            CountEngineArg::Polars => Engine::Polars,
        },
        threads: super::threads(&args.par),
        read: super::read_options(&args.input, &args.par)?,
        lossy: args.lossy,
        ignore_case: args.ignore_case,
        words_shared_from: None,
    };
    // Counts add up: a zip archive's members, from stdin, are one stream.
    if plan.read.zip == ZipChoice::Only {
        plan.read.zip = ZipChoice::All;
    }
    let sources = super::sources(&args.input)?;
    plan.read.shard = super::resolve_shard(&args.shard, &sources)?;
    let progress = super::progress::for_inputs(&args.progress, &sources);
    plan.read.progress = progress.as_ref().map(|p| p.0);
    let (format, dest) = super::output_plan(&args.output)?;
    let sort = args.sort.unwrap_or(if args.top.is_some() { SortArg::Count } else { SortArg::Key });

    let outcome = count::count(&plan, &sources)?;
    drop(progress);
    if args.stats {
        print_stats(&plan, &outcome);
    }
    if let Some(path) = &args.shard.partial_out {
        let query = serde_json::json!({
            "unit": plan.unit.key_header(),
            "lossy": plan.lossy,
            "ignore_case": plan.ignore_case,
            "top": args.top,
            "sort": args.sort.map(|s| if s == SortArg::Key { "key" } else { "count" }),
        });
        let state = serde_json::json!({ "rows": outcome.tally.into_rows() });
        return super::write_partial(path, "count", query, &sources[0], plan.read.shard, outcome.shard_span, state);
    }
    let unit = outcome.tally.unit();
    let table = to_table(unit, outcome.tally.into_rows(), sort, args.top);
    super::write_table(&table, format, &dest)
}

/// Re-runs shard `shard` of the count `query` over `path` from byte `start` (a record boundary):
/// its state and byte range.
pub fn recompute(
    query: &serde_json::Value,
    path: &std::path::Path,
    shard: pframe::input::Shard,
    start: u64,
) -> Result<(serde_json::Value, (u64, u64))> {
    let unit = unit_of(query)?;
    let plan = CountPlan {
        unit,
        engine: Engine::Parallel,
        threads: pframe::cores::default_threads(),
        read: pframe::input::ReadOptions { shard: Some(shard), shard_start: Some(start), ..Default::default() },
        lossy: query["lossy"].as_bool().unwrap_or(false),
        ignore_case: query["ignore_case"].as_bool().unwrap_or(false),
        words_shared_from: None,
    };
    let outcome = count::count(&plan, &[pframe::input::Source::File(path.to_path_buf())])?;
    let span = outcome.shard_span.unwrap_or((start, start));
    Ok((serde_json::json!({ "rows": outcome.tally.into_rows() }), span))
}

fn unit_of(query: &serde_json::Value) -> Result<Unit> {
    Ok(match query["unit"].as_str() {
        Some("letter") => Unit::Letters,
        Some("char") => Unit::Chars,
        Some("word") => Unit::Words,
        Some("lines") => Unit::Lines,
        Some("bytes") => Unit::Bytes,
        _ => anyhow::bail!("malformed count partial: {query}"),
    })
}

/// Merges the states of the shards of a count (in shard order) into the table one run prints.
pub fn merge<'a>(query: &serde_json::Value, states: impl Iterator<Item = &'a PartialState>) -> Result<Table> {
    let bad = || anyhow::anyhow!("malformed count partial: {query}");
    let unit = unit_of(query)?;
    let top = query["top"].as_u64().map(|k| k as usize);
    let sort = match query["sort"].as_str() {
        Some("count") => SortArg::Count,
        Some(_) => SortArg::Key,
        None if top.is_some() => SortArg::Count,
        None => SortArg::Key,
    };
    let mut total: std::collections::BTreeMap<String, u64> = Default::default();
    for state in states {
        #[derive(serde::Deserialize)]
        struct Rows {
            rows: Vec<(String, u64)>,
        }
        let Rows { rows } = state.parse().map_err(|_| bad())?;
        for (k, n) in rows {
            *total.entry(k).or_default() += n;
        }
    }
    if unit.is_total() && total.is_empty() {
        total.insert(String::new(), 0);
    }
    Ok(to_table(unit, total.into_iter().collect(), sort, top))
}

/// The result as a table: `key,count` rows, or a single total column for lines and bytes.
fn to_table(unit: Unit, mut rows: Vec<(String, u64)>, sort: SortArg, top: Option<usize>) -> Table {
    if unit.is_total() {
        return Table {
            headers: vec![unit.key_header().to_string()],
            rows: vec![vec![Value::UInt(rows[0].1)]],
            json: JsonShape::Object,
        };
    }
    if let Some(k) = top {
        // By count, ties in key order: the first k of that order picked out (a million words
        // are not sorted for ten), then sorted.
        let by_count = |a: &(String, u64), b: &(String, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
        if k < rows.len() {
            if k > 0 {
                rows.select_nth_unstable_by(k - 1, by_count);
            }
            rows.truncate(k);
        }
        match sort {
            SortArg::Count => rows.sort_unstable_by(by_count),
            SortArg::Key => rows.sort_unstable_by(|a, b| a.0.cmp(&b.0)),
        }
    } else if sort == SortArg::Count {
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    }
    Table {
        headers: vec![unit.key_header().to_string(), "count".to_string()],
        rows: rows.into_iter().map(|(k, n)| vec![Value::Str(k), Value::UInt(n)]).collect(),
        json: JsonShape::Object,
    }
}

fn print_stats(plan: &CountPlan, o: &CountOutcome) {
    let secs = o.elapsed.as_secs_f64();
    let threads = match plan.engine {
        Engine::Serial => 1,
        _ => plan.threads,
    };
    eprintln!(
        "pframe: count {unit}: engine {engine}, {threads} thread{s}, {bytes} bytes in {chunks} chunk{cs}, {ms:.1} ms, {mbs:.0} MB/s",
        unit = plan.unit.key_header(),
        engine = plan.engine,
        s = if threads == 1 { "" } else { "s" },
        bytes = o.bytes,
        chunks = o.chunks,
        cs = if o.chunks == 1 { "" } else { "s" },
        ms = secs * 1e3,
        mbs = if secs > 0.0 { o.bytes as f64 / secs / 1e6 } else { 0.0 },
    );
}
