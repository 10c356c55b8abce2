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
use pframe::engine::polars::sql::TABLE;
use pframe::engine::sql::{SqlPlan, TableSpec, sql_stream};
use pframe::input::{ChunkSize, ReadOptions, Source};
use pframe::output::{OutputSink, Part, RowWriter, Rows};

pub fn run(args: SqlArgs) -> Result<()> {
    let delimiter = super::parse_delimiter(&args.csv.delimiter)?;
    let null_values = pframe::input::value::NullValues::parse(args.csv.null_values.as_deref().unwrap_or(""));
    let schema = args.csv.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default();
    let (chunk_size_given, chunk_size) = match &args.chunk_size {
        Some(size) => (true, size.parse::<ChunkSize>().context("--chunk-size")?.0),
        None => (false, 1 << 20),
    };
    let (format, dest) = super::output_plan(&args.output)?;
    // Every table: the FILE is `t`; the command's CSV options are every table's defaults.
    let defaults = TableSpec {
        name: TABLE.to_string(),
        source: Source::Stdin,
        delimiter,
        no_header: args.csv.no_header,
        schema: Vec::new(),
        null_values,
    };
    let mut tables = Vec::new();
    match args.file.as_deref() {
        Some(p) => tables.push(TableSpec { source: Source::from_arg(p), schema, ..defaults.clone() }),
        None if args.tables.is_empty() => {
            if std::io::stdin().is_terminal() {
                bail!(UsageError("no input: give a FILE, or pipe CSV into stdin (see --help)".into()))
            }
            tables.push(TableSpec { schema, ..defaults.clone() });
        }
        None if !schema.is_empty() => bail!(UsageError(
            "--schema is the FILE's (table t), and there is none: give a --table its own, NAME=PATH;schema=SPEC".into()
        )),
        None => {}
    }
    for spec in &args.tables {
        let table = parse_table(spec, &defaults).map_err(|m| UsageError(format!("--table {spec}: {m}")))?;
        if tables.iter().any(|t| t.name == table.name) {
            bail!(UsageError(format!("--table {spec}: a table named {} was given already", table.name)));
        }
        tables.push(table);
    }
    if tables.iter().filter(|t| t.source == Source::Stdin).count() > 1 {
        bail!(UsageError("only one table can be read from stdin (-)".into()));
    }
    // The input streamed through the query: stdin's table, or else the largest file; the others
    // are read whole.
    let size = |t: &TableSpec| match &t.source {
        Source::Stdin => u64::MAX,
        Source::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        Source::ZipMember { .. } => 0,
    };
    let input = (0..tables.len()).max_by_key(|&i| (size(&tables[i]), std::cmp::Reverse(i))).expect("a table");
    let input = tables.remove(input);
    let plan = SqlPlan {
        query: args.query.clone(),
        delimiter: input.delimiter,
        no_header: input.no_header,
        schema: input.schema,
        null_values: input.null_values,
        read: ReadOptions {
            chunk_size,
            decode_threads: super::threads(&args.par),
            zip: super::zip_choice(args.zip_member.as_deref()),
            ..ReadOptions::default()
        },
        threads: super::threads(&args.par),
        table: input.name,
        others: tables,
        chunk_size_given,
        memory_limit: super::memory_limit(&args.memory)?,
        unordered: args.unordered,
    };
    let source = input.source;
    // The destination is opened when the first rows are ready, so a query that fails at once
    // leaves nothing behind.
    let mut out: Option<(OutputSink, RowWriter)> = None;
    let render = |headers: &[String], rows: Rows<'_>| Part::of(format, headers, rows);
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

/// Reads `NAME=PATH[;OPTION...]` (see `--table`'s help), starting from the command's options.
fn parse_table(spec: &str, defaults: &TableSpec) -> Result<TableSpec, String> {
    let mut parts = spec.split(';');
    let (name, path) = parts.next().and_then(|p| p.split_once('=')).ok_or("expected NAME=PATH")?;
    let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(format!("\"{name}\" is not a table name (letters, digits and _, not starting with a digit)"));
    }
    if path.is_empty() {
        return Err("no PATH".into());
    }
    let mut table = TableSpec { name: name.to_string(), source: Source::from_arg(Path::new(path)), ..defaults.clone() };
    for option in parts.filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        match key.trim() {
            "delimiter" => table.delimiter = super::parse_delimiter(value).map_err(|e| e.to_string())?,
            "no-header" => table.no_header = true,
            "header" => table.no_header = false,
            "schema" => table.schema = parse_schema(value)?,
            "null-values" => table.null_values = pframe::input::value::NullValues::parse(value),
            other => {
                return Err(format!(
                    "unknown option \"{other}\" (expected delimiter=X, no-header, schema=SPEC or null-values=LIST)"
                ));
            }
        }
    }
    Ok(table)
}
