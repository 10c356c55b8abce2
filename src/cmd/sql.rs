//! `pframe sql`: polars SQL over CSV input registered as table `t`. A row-wise query streams
//! chunk by chunk and a plain GROUP BY runs on the group-by engine (see `engine::sql`); any other
//! query is run by polars over the whole input.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::UsageError;
use crate::cli::SqlArgs;
use pframe::engine::groupby::parse_schema;
use pframe::engine::sql::{SqlPlan, Streamed, first_line, sql_stream};
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
        schema: schema.clone(),
        read: ReadOptions { chunk_size, ..ReadOptions::default() },
        threads: super::threads(&args.par),
    };
    // The destination is opened when the first rows are ready, so a query that fails at once
    // leaves nothing behind.
    let mut out: Option<(OutputSink, RowWriter)> = None;
    let render = |headers: &[String], rows| Part::new(format, headers, rows);
    let streamed = sql_stream(&plan, &source, render, |headers, part| {
        if out.is_none() {
            out = Some((OutputSink::open(&dest)?, RowWriter::new(format, headers)));
        }
        let (sink, writer) = out.as_mut().expect("opened above");
        writer.part(part, sink)
    })?;
    let spool = match streamed {
        Streamed::Done => {
            let (mut sink, writer) = out.expect("a streamed query opens its output");
            writer.finish(&mut sink)?;
            sink.finish()?;
            return Ok(());
        }
        Streamed::Whole(spool) => spool,
    };
    let (path, name) = match (&spool, &source) {
        (Some(spool), _) => {
            eprintln!("pframe: sql: the query needs the whole input: stdin was copied to a temporary file");
            (spool.path().to_path_buf(), "<stdin>".to_string())
        }
        (None, Source::File(p)) => (p.clone(), p.display().to_string()),
        (None, Source::Stdin) => unreachable!("stdin is spooled"),
    };
    let table = pframe::engine::polars::sql_file(&args.query, &path, delimiter, args.csv.no_header, &schema)
        .map_err(|e| anyhow::anyhow!("{name}: sql: {}", first_line(&e)))?;
    super::write_table(&table, format, &dest)
}
