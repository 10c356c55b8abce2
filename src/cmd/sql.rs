//! `pframe sql`: polars SQL over CSV input registered as table `t`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::UsageError;
use crate::cli::SqlArgs;
use pframe::engine::groupby::parse_schema;

pub fn run(args: SqlArgs) -> Result<()> {
    let delimiter = super::parse_delimiter(&args.csv.delimiter)?;
    let schema = args.csv.schema.as_deref().map(parse_schema).transpose().map_err(UsageError)?.unwrap_or_default();
    let (format, dest) = super::output_plan(&args.output);
    // stdin is spooled to a temporary file: polars scans files, and the disk, not memory, holds
    // the input.
    let mut spool = None;
    let path = match args.file.as_deref() {
        Some(p) if p != Path::new("-") => p.to_path_buf(),
        _ => {
            if args.file.is_none() && std::io::stdin().is_terminal() {
                bail!(UsageError("no input: give a FILE, or pipe CSV into stdin (see --help)".into()));
            }
            eprintln!("pframe: sql: copying stdin to a temporary file; the query reads it whole");
            let mut tmp = tempfile::NamedTempFile::new().context("cannot create a temporary file for stdin")?;
            std::io::copy(&mut std::io::stdin().lock(), &mut tmp).context("<stdin>: read failed")?;
            let path = tmp.path().to_path_buf();
            spool = Some(tmp);
            path
        }
    };
    let name = if spool.is_some() { "<stdin>".to_string() } else { path.display().to_string() };
    if spool.is_none() {
        std::fs::File::open(&path).map_err(|err| pframe::input::InputError::Open { name: name.clone(), err })?;
    }
    let table = pframe::engine::polars::sql_file(&args.query, &path, delimiter, args.csv.no_header, &schema)
        .map_err(|e| anyhow::anyhow!("{name}: sql: {}", first_line(&e.to_string())))?;
    drop(spool);
    super::write_table(&table, format, &dest)
}

/// Polars' messages can run over several lines of context; the first says what went wrong.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim_end_matches(':')
}
