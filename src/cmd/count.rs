//! `pframe count`: resolves the arguments into a [`CountPlan`], runs it, writes the table.

use anyhow::Result;

use crate::cli::{CountArgs, CountEngineArg, SortArg, UnitArg};
use pframe::agg::Unit;
use pframe::engine::Engine;
use pframe::engine::count::{self, CountOutcome, CountPlan};
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
        read: super::read_options(&args.input)?,
        lossy: args.lossy,
        ignore_case: args.ignore_case,
    };
    let sources = super::sources(&args.input)?;
    let progress = super::progress::for_inputs(&args.progress, &sources);
    plan.read.progress = progress.as_ref().map(|p| p.0);
    let (format, dest) = super::output_plan(&args.output);
    let sort = args.sort.unwrap_or(if args.top.is_some() { SortArg::Count } else { SortArg::Key });

    let outcome = count::count(&plan, &sources)?;
    drop(progress);
    if args.stats {
        print_stats(&plan, &outcome);
    }
    let table = to_table(&outcome, sort, args.top);
    super::write_table(&table, format, &dest)
}

/// The result as a table: `key,count` rows, or a single total column for lines and bytes.
fn to_table(outcome: &CountOutcome, sort: SortArg, top: Option<usize>) -> Table {
    let unit = outcome.tally.unit();
    let mut rows = outcome.tally.rows();
    if unit.is_total() {
        return Table {
            headers: vec![unit.key_header().to_string()],
            rows: vec![vec![Value::UInt(rows[0].1)]],
            json: JsonShape::Object,
        };
    }
    if let Some(k) = top {
        // Rows are in key order; a stable sort by count keeps ties in key order.
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        rows.truncate(k);
        if sort == SortArg::Key {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
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
