//! One module per subcommand: each resolves its arguments into a plan, runs it, and writes the
//! result. Nothing else in the crate knows about clap.

pub mod bench;
pub mod cores;
pub mod count;
pub mod generate;
pub mod groupby;
pub mod kernel;
pub mod progress;
pub mod sql;

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command, FormatArg, InputArgs, OutputArgs, ParArgs};
use pframe::input::{ChunkSize, ReadOptions, Source};
use pframe::output::{Destination, Format, OutputSink, Table};

/// A usage error: printed like clap's own and exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Count(args) => count::run(args),
        Command::Groupby(args) => groupby::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Gen(cmd) => generate::run(cmd),
        Command::Cores(args) => cores::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Kernel(cmd) => kernel::run(cmd),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "pframe", &mut std::io::stdout().lock());
            Ok(())
        }
    }
}

/// The thread count a command will use: `-j`, else the cores this job has (`pframe cores`).
pub fn threads(par: &ParArgs) -> usize {
    match par.threads {
        Some(n) => n as usize,
        None => pframe::cores::default_threads(),
    }
}

/// Resolves the input operands: the files given, or stdin when none is and it is not a terminal.
pub fn sources(input: &InputArgs) -> Result<Vec<Source>> {
    if input.files.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!(UsageError("no input: give a FILE, or pipe data into stdin (see --help)".into()));
        }
        return Ok(vec![Source::Stdin]);
    }
    Ok(input.files.iter().map(|f| Source::from_arg(f)).collect())
}

pub fn read_options(input: &InputArgs) -> Result<ReadOptions> {
    let ChunkSize(chunk_size) = input.chunk_size.parse::<ChunkSize>().context("--chunk-size")?;
    Ok(ReadOptions { chunk_size, mmap: !input.no_mmap, progress: None })
}

/// The output format and destination.
pub fn output_plan(out: &OutputArgs) -> (Format, Destination) {
    let format = match out.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Tsv) => Format::Tsv,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Ndjson) => Format::Ndjson,
        None => Format::default_for(out.output.as_deref(), std::io::stdout().is_terminal()),
    };
    let dest = match &out.output {
        Some(p) if p != Path::new("-") => Destination::File(p.clone()),
        _ => Destination::Stdout,
    };
    (format, dest)
}

/// A one-byte field delimiter; `\t` or `tab` for a tab.
pub fn parse_delimiter(d: &str) -> Result<u8> {
    match d {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        d if d.len() == 1 && d.is_ascii() && !matches!(d, "\"" | "\n" | "\r") => Ok(d.as_bytes()[0]),
        d => bail!(UsageError(format!("--delimiter: \"{d}\" is not a single ASCII byte (use \\t for tab)"))),
    }
}

/// Writes a finished table: to stdout, or atomically to a file.
pub fn write_table(table: &Table, format: Format, dest: &Destination) -> Result<()> {
    let mut sink = OutputSink::open(dest)?;
    table.write(format, &mut sink)?;
    sink.finish()?;
    Ok(())
}
