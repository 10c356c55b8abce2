//! `pframe gen`: deterministic datasets.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::GenCommand;
use pframe::output::{Destination, OutputSink};

pub fn run(cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Words(a) => write_to(&a.output, |out| pframe::datagen::write_words(a.count, a.seed, a.crlf, out)),
        GenCommand::Csv(a) => write_to(&a.output, |out| pframe::datagen::write_g1_csv(a.rows, a.groups, a.seed, out)),
    }
}

/// Writes a dataset to stdout or, atomically, to a file.
fn write_to(output: &Option<PathBuf>, write: impl FnOnce(&mut OutputSink) -> std::io::Result<()>) -> Result<()> {
    let dest = match output {
        Some(p) if p != Path::new("-") => Destination::File(p.clone()),
        _ => Destination::Stdout,
    };
    let mut sink = OutputSink::open(&dest)?;
    write(&mut sink)?;
    sink.finish()?;
    Ok(())
}
