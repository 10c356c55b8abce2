//! One module per subcommand: each resolves its arguments into a plan, runs it, and writes the
//! result. Nothing else in the crate knows about clap.

pub mod bench;
pub mod cores;
pub mod count;
pub mod generate;
pub mod groupby;
pub mod kernel;
pub mod merge;
pub mod progress;
pub mod sql;
pub mod submit;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command, FormatArg, InputArgs, OutputArgs, ParArgs, ShardArgs};
use pframe::agg::partial::{self, InputId, PartialFile};
use pframe::input::{ChunkSize, ReadOptions, Shard, Source, ZipChoice};
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
        Command::Merge(args) => merge::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Man { command } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let page = match command {
                None => cmd,
                Some(name) => {
                    let sub = cmd.find_subcommand(&name).cloned().ok_or_else(|| {
                        let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                        UsageError(format!("man: no command \"{name}\" (commands: {})", names.join(", ")))
                    })?;
                    sub.display_name(format!("pframe-{name}")).bin_name(format!("pframe {name}"))
                }
            };
            let mut out = Vec::new();
            clap_mangen::Man::new(page).render(&mut out)?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
            Ok(())
        }
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
/// A zip archive of several members is an input per member, in order (unless `--zip-member`
/// names one).
pub fn sources(input: &InputArgs) -> Result<Vec<Source>> {
    if input.files.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!(UsageError("no input: give a FILE, or pipe data into stdin (see --help)".into()));
        }
        return Ok(vec![Source::Stdin]);
    }
    let mut out = Vec::new();
    for f in &input.files {
        let source = Source::from_arg(f);
        match &source {
            Source::File(path) if input.zip_member.is_none() && is_zip(path) => {
                // An archive that cannot be listed fails when it is opened, with its own message.
                let members = pframe::input::compress::zip_members(path).unwrap_or_default();
                if members.len() <= 1 {
                    out.push(source);
                } else {
                    out.extend(members.into_iter().map(|(index, name)| Source::ZipMember {
                        archive: path.clone(),
                        index,
                        name,
                    }));
                }
            }
            _ => out.push(source),
        }
    }
    Ok(out)
}

/// Whether `path` is a regular file that starts like a zip archive.
fn is_zip(path: &Path) -> bool {
    let mut head = [0u8; pframe::input::compress::MAGIC_LEN];
    let n = std::fs::File::open(path)
        .and_then(
            |f| if f.metadata()?.is_file() { std::os::unix::fs::FileExt::read_at(&f, &mut head, 0) } else { Ok(0) },
        )
        .unwrap_or(0);
    pframe::input::compress::detect(&head[..n]) == Some(pframe::input::compress::Format::Zip)
}

pub fn read_options(input: &InputArgs, par: &ParArgs) -> Result<ReadOptions> {
    let ChunkSize(chunk_size) =
        input.chunk_size.as_deref().unwrap_or("1MiB").parse::<ChunkSize>().context("--chunk-size")?;
    Ok(ReadOptions {
        chunk_size,
        mmap: !input.no_mmap,
        decode_threads: threads(par),
        zip: zip_choice(input.zip_member.as_deref()),
        ..ReadOptions::default()
    })
}

/// `--zip-member NAME`, kept for the life of the process (read options are plain values).
pub fn zip_choice(member: Option<&str>) -> ZipChoice {
    match member {
        Some(name) => ZipChoice::Named(Box::leak(name.to_string().into_boxed_str())),
        None => ZipChoice::Only,
    }
}

/// The output format and destination; binary output is refused on a terminal before any work.
pub fn output_plan(out: &OutputArgs) -> Result<(Format, Destination)> {
    let format = match out.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Tsv) => Format::Tsv,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Ndjson) => Format::Ndjson,
        Some(FormatArg::Parquet) => Format::Parquet,
        None => Format::default_for(out.output.as_deref(), std::io::stdout().is_terminal()),
    };
    let dest = match &out.output {
        Some(p) if p != Path::new("-") => Destination::File(p.clone()),
        _ => Destination::Stdout,
    };
    if format == Format::Parquet && dest == Destination::Stdout && std::io::stdout().is_terminal() {
        bail!(UsageError("-f parquet writes binary: give -o FILE, or redirect stdout".into()));
    }
    Ok((format, dest))
}

/// Parses a `count ...` or `groupby ...` command line that another command runs (bench, submit)
/// as pframe itself would, so it fails now with pframe's own message, prefixed by `context`.
/// Returns the subcommand's matches and its FILE operands.
pub fn parse_inner_command(context: &str, words: &[String]) -> Result<(clap::ArgMatches, Vec<PathBuf>)> {
    let argv = std::iter::once("pframe".to_string()).chain(words.iter().cloned());
    let matches = <Cli as clap::CommandFactory>::command().try_get_matches_from(argv).map_err(|e| {
        let msg = e.render().to_string();
        UsageError(format!("{context}: {}", msg.lines().next().unwrap_or_default().trim_start_matches("error: ")))
    })?;
    let (_, sub) = matches.subcommand().expect("a subcommand is required");
    let files = sub.get_many::<PathBuf>("files").map(|f| f.cloned().collect()).unwrap_or_default();
    Ok((sub.clone(), files))
}

/// Whether option `id` was given on the command line `sub` was parsed from.
pub fn given(sub: &clap::ArgMatches, id: &str) -> bool {
    sub.try_get_raw(id).is_ok() && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// Resolves `--shard` (`I/N`, or `auto` from the array task's environment) and checks that a
/// sharded or partial run reads exactly one file.
pub fn resolve_shard(args: &ShardArgs, sources: &[Source]) -> Result<Option<Shard>> {
    let shard = match args.shard.as_deref() {
        None => None,
        Some("auto") => Some(pframe::cluster::shard_from_env(&|k| std::env::var(k).ok()).map_err(UsageError)?),
        Some(s) => Some(s.parse::<Shard>().map_err(|e| UsageError(format!("--shard: {e}")))?),
    };
    if (shard.is_some() || args.partial_out.is_some()) && !matches!(sources, [Source::File(_)]) {
        bail!(UsageError("--shard and --partial-out work on one FILE (not stdin, not several files)".into()));
    }
    Ok(shard)
}

/// Writes a run's partial state (atomically) for `pframe merge`.
pub fn write_partial(
    path: &Path,
    command: &str,
    query: serde_json::Value,
    source: &Source,
    shard: Option<Shard>,
    span: Option<(u64, u64)>,
    state: impl serde::Serialize,
) -> Result<()> {
    let Source::File(file) = source else { bail!(UsageError("--partial-out needs a FILE".into())) };
    let input = InputId::of(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let size = input.size;
    let part = PartialFile {
        format: partial::FORMAT.into(),
        version: partial::VERSION,
        pframe: crate::cli::VERSION.into(),
        command: command.into(),
        query,
        input,
        shard: shard.unwrap_or(Shard { index: 0, count: 1 }),
        range: span.unwrap_or((0, size)),
        state,
    };
    let mut sink = OutputSink::open(&Destination::File(path.to_path_buf()))?;
    serde_json::to_writer(&mut sink, &part)?;
    std::io::Write::write_all(&mut sink, b"\n")?;
    sink.finish()?;
    Ok(())
}

/// A one-byte field delimiter; `\t` or `tab` for a tab.
pub fn parse_delimiter(d: &str) -> Result<u8> {
    match d {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        d if d.len() == 1 && d.is_ascii() && !matches!(d, "\"" | "\n" | "\r") => Ok(d.as_bytes()[0]),
        d => bail!(UsageError(format!("--delimiter: \"{d}\" is not a single ASCII byte (use \\t for tab)"))),
    }
}

/// Writes a result that is read out in batches of rows (as they come, for the formats that stream):
/// to stdout, or atomically to a file. `next` gives the batches in order, `build` makes a batch's
/// rows.
///
/// With `threads` > 1, batches are built and formatted on that many workers while the next ones are
/// handed out, and written in order.
pub fn write_rows<B: Send>(
    headers: &[String],
    mut next: impl FnMut() -> Option<B>,
    build: impl Fn(B) -> std::io::Result<pframe::output::Part> + Sync,
    format: Format,
    dest: &Destination,
    threads: usize,
) -> Result<()> {
    use pframe::output::Part;
    use std::sync::Mutex;
    let mut sink = OutputSink::open(dest)?;
    let mut writer = pframe::output::RowWriter::new(format, headers);
    writer.part(Part::new(format, headers, Vec::new())?, &mut sink)?;
    if threads <= 1 {
        while let Some(batch) = next() {
            writer.part(build(batch)?, &mut sink)?;
        }
    } else {
        let pool = pframe::engine::pipeline::build_pool(threads);
        // A worker takes its batch out of the slot.
        let batches = std::iter::from_fn(|| next().map(|batch| Ok(Mutex::new(Some(batch)))));
        let work = |slot: &Mutex<Option<B>>| {
            let batch = slot.lock().expect("a batch's slot").take().expect("a batch taken once");
            build(batch)
        };
        pframe::engine::pipeline::drive_parallel(&pool, batches, work, |part: std::io::Result<Part>, _| {
            writer.part(part?, &mut sink).map_err(anyhow::Error::from)
        })?;
    }
    writer.finish(&mut sink)?;
    sink.finish()?;
    Ok(())
}

/// `--memory-limit`, in bytes (`None`: the default).
pub fn memory_limit(args: &crate::cli::MemoryArgs) -> Result<Option<u64>> {
    let parse = |s: &str| s.parse::<pframe::input::ChunkSize>().map(|pframe::input::ChunkSize(n)| n as u64);
    let limit = args.memory_limit.as_deref().map(parse).transpose();
    Ok(limit.map_err(|e| UsageError(format!("--memory-limit: {e}")))?)
}

/// Writes a finished table: to stdout, or atomically to a file.
pub fn write_table(table: &Table, format: Format, dest: &Destination) -> Result<()> {
    let mut sink = OutputSink::open(dest)?;
    table.write(format, &mut sink)?;
    sink.finish()?;
    Ok(())
}
