//! `pframe sql`: polars SQL over CSV input registered as table `t`, read by pframe's dialect. A
//! row-wise query streams chunk by chunk, a plain GROUP BY runs on the group-by engine, and any
//! other query runs on polars' streaming engine over a typed spool of the whole input (see
//! `engine::sql`).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::UsageError;
use crate::cli::SqlArgs;
use pframe::engine::groupby::parse_schema;
use pframe::engine::sql::{SqlPlan, sql_stream};
use pframe::input::{ChunkSize, ReadOptions, Source};
use pframe::output::{OutputSink, Part, RowWriter};

pub fn run(args: SqlArgs) -> Result<()> {
    let delimiter = super::parse_delimiter(&args.csv.delimiter)?;
    let schema = args.csv.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default();
    let ChunkSize(chunk_size) = args.chunk_size.parse::<ChunkSize>().context("--chunk-size")?;
    let (format, dest) = super::output_plan(&args.output)?;
    let source = match args.file.as_deref() {
        Some(p) if p != Path::new("-") => Source::File(p.to_path_buf()),
        _ if args.file.is_none() && std::io::stdin().is_terminal() => {
            bail!(UsageError("no input: give a FILE, or pipe CSV into stdin (see --help)".into()))
        }
        _ => Source::Stdin,
    };
    let plan = SqlPlan {
        query: args.query.clone(),
        delimiter,
        no_header: args.csv.no_header,
        schema,
        null_values: pframe::input::value::NullValues::parse(args.csv.null_values.as_deref().unwrap_or("")),
        read: ReadOptions {
            chunk_size,
            decode_threads: super::threads(&args.par),
            zip: super::zip_choice(args.zip_member.as_deref()),
            ..ReadOptions::default()
        },
        threads: super::threads(&args.par),
    };
    // The destination is opened when the first rows are ready, so a query that fails at once
    // leaves nothing behind.
    let mut out: Option<(OutputSink, RowWriter)> = None;
    let render = |headers: &[String], rows| Part::new(format, headers, rows);
    sql_stream(
        &plan,
        &source,
        render,
        |headers, part| {
            if out.is_none() {
                out = Some((OutputSink::open(&dest)?, RowWriter::new(format, headers)));
            }
            let (sink, writer) = out.as_mut().expect("opened above");
            writer.part(part, sink)
        },
        |note| eprintln!("pframe: {note}"),
    )?;
    let (mut sink, writer) = out.expect("a query emits its header");
    writer.finish(&mut sink)?;
    sink.finish()?;
    Ok(())
}
