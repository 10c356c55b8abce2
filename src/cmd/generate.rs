//! `pframe gen`: deterministic datasets.

use std::path::Path;

use anyhow::Result;

use crate::cli::GenCommand;
use pframe::output::{Destination, OutputSink};

pub fn run(cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Words(args) => {
            let dest = match &args.output {
                Some(p) if p != Path::new("-") => Destination::File(p.clone()),
                _ => Destination::Stdout,
            };
            let mut sink = OutputSink::open(&dest)?;
            pframe::datagen::write_words(args.count, args.seed, args.crlf, &mut sink)?;
            sink.finish()?;
            Ok(())
        }
    }
}
