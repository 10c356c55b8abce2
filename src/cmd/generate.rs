//! `pframe gen`: deterministic datasets, plain or compressed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{CompressArg, GenCommand};
use pframe::input::compress::Format;
use pframe::output::compress::Compressed;
use pframe::output::{Destination, OutputSink};

pub fn run(cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Words(a) => write_to(&a.output, a.compress, |out| {
            pframe::datagen::write_words_from(a.count, a.seed, a.crlf, a.vocabulary, out)
        }),
        GenCommand::Csv(a) => {
            let opts = pframe::datagen::G1Options { na_percent: a.na_percent, sorted: a.sorted };
            write_to(&a.output, a.compress, |out| {
                pframe::datagen::write_g1_csv_with(a.rows, a.groups, a.seed, opts, out)
            })
        }
        GenCommand::Join(a) => {
            let opts = pframe::datagen::G1Options { na_percent: a.na_percent, sorted: a.sorted };
            std::fs::create_dir_all(&a.out_dir)?;
            pframe::datagen::join_tables(a.rows, a.seed, opts, |name, bytes| {
                let path = a.out_dir.join(name);
                let mut sink = OutputSink::open(&Destination::File(path.clone()))?;
                sink.write_all(&bytes)?;
                sink.finish()?;
                println!("{}", path.display());
                Ok(())
            })?;
            Ok(())
        }
    }
}

/// Writes a dataset to stdout or, atomically, to a file, compressed if asked.
fn write_to(
    output: &Option<PathBuf>,
    compress: Option<CompressArg>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dest = match output {
        Some(p) if p != Path::new("-") => Destination::File(p.clone()),
        _ => Destination::Stdout,
    };
    let mut sink = OutputSink::open(&dest)?;
    match compress {
        None => write(&mut sink)?,
        Some(c) => {
            let format = match c {
                CompressArg::Gz => Format::Gzip,
                CompressArg::Bgzf => Format::Bgzf,
                CompressArg::Zst => Format::Zstd,
                CompressArg::Bz2 => Format::Bzip2,
                CompressArg::Xz => Format::Xz,
            };
            let mut z = Compressed::new(format, std::io::BufWriter::with_capacity(1 << 20, &mut sink))?;
            write(&mut z)?;
            z.finish()?.flush()?;
        }
    }
    sink.finish()?;
    Ok(())
}
