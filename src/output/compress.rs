//! Compressed output for `pframe gen --compress`: the formats pframe reads, written so that the
//! parallel decoders have something to chew on (BGZF blocks, zstd frames of 1 MiB).

use std::io::{self, Write};

use crate::input::compress::Format;

/// BGZF blocks hold this much input (htslib's `BGZF_BLOCK_SIZE`), so that even incompressible data
/// fits the block size field.
const BGZF_INPUT: usize = 0xff00;
/// The input of one zstd frame.
const ZSTD_FRAME: usize = 1 << 20;

/// A writer that compresses into `inner`; [`Compressed::finish`] writes the end of the stream.
pub struct Compressed<W: Write> {
    kind: Kind<W>,
}

enum Kind<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Bzip2(bzip2::write::BzEncoder<W>),
    Xz(Box<lzma_rust2::XzWriter<W>>),
    /// BGZF and zstd: input buffered up to a block or frame, then compressed on its own.
    Blocks {
        inner: W,
        format: Format,
        pending: Vec<u8>,
    },
}

impl<W: Write> Compressed<W> {
    /// Starts a stream of `format` (not zip, which is an archive, not a stream).
    pub fn new(format: Format, inner: W) -> io::Result<Compressed<W>> {
        let kind = match format {
            Format::Gzip => Kind::Gzip(flate2::write::GzEncoder::new(inner, flate2::Compression::default())),
            Format::Bzip2 => Kind::Bzip2(bzip2::write::BzEncoder::new(inner, bzip2::Compression::default())),
            Format::Xz => Kind::Xz(Box::new(
                lzma_rust2::XzWriter::new(inner, lzma_rust2::XzOptions::with_preset(6)).map_err(io::Error::other)?,
            )),
            Format::Bgzf | Format::Zstd => Kind::Blocks { inner, format, pending: Vec::new() },
            Format::Zip => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "zip is an archive: write it with a zip tool"));
            }
        };
        Ok(Compressed { kind })
    }

    /// Writes what is buffered and the end of the stream; returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self.kind {
            Kind::Gzip(e) => e.finish(),
            Kind::Bzip2(e) => e.finish(),
            Kind::Xz(e) => e.finish().map_err(io::Error::other),
            Kind::Blocks { mut inner, format, pending } => {
                if !pending.is_empty() {
                    write_block(&mut inner, format, &pending)?;
                }
                if format == Format::Bgzf {
                    // The empty block that marks a BGZF file's end.
                    inner.write_all(&bgzf_block(&[])?)?;
                }
                Ok(inner)
            }
        }
    }
}

impl<W: Write> Write for Compressed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Gzip(e) => e.write(buf),
            Kind::Bzip2(e) => e.write(buf),
            Kind::Xz(e) => e.write(buf),
            Kind::Blocks { inner, format, pending } => {
                let block = if *format == Format::Bgzf { BGZF_INPUT } else { ZSTD_FRAME };
                let n = buf.len().min(block - pending.len());
                pending.extend_from_slice(&buf[..n]);
                if pending.len() == block {
                    write_block(inner, *format, pending)?;
                    pending.clear();
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::Gzip(e) => e.flush(),
            Kind::Bzip2(e) => e.flush(),
            Kind::Xz(e) => e.flush(),
            Kind::Blocks { inner, .. } => inner.flush(),
        }
    }
}

fn write_block(out: &mut impl Write, format: Format, data: &[u8]) -> io::Result<()> {
    match format {
        Format::Bgzf => out.write_all(&bgzf_block(data)?),
        _ => out.write_all(&zstd::bulk::compress(data, 3)?),
    }
}

/// One BGZF block: a gzip member with a `BC` extra field giving the block's size.
fn bgzf_block(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut deflate = flate2::Compress::new(flate2::Compression::default(), false);
    // Deflate's worst case adds 5 bytes per 64 KiB stored block: this room always suffices.
    let mut body = Vec::with_capacity(data.len() + 1024);
    let status = deflate.compress_vec(data, &mut body, flate2::FlushCompress::Finish).map_err(io::Error::other)?;
    if status != flate2::Status::StreamEnd {
        return Err(io::Error::other("a BGZF block did not fit its room"));
    }
    let size = 18 + body.len() + 8;
    let mut block = Vec::with_capacity(size);
    block.extend_from_slice(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0]);
    block.extend_from_slice(&((size - 1) as u16).to_le_bytes());
    block.extend_from_slice(&body);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    block.extend_from_slice(&crc.sum().to_le_bytes());
    block.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::compress::{DecodeOptions, ZipPart, decode, detect};
    use std::io::Read;

    #[test]
    fn every_written_format_reads_back() {
        let text: Vec<u8> = (0..300_000u32).flat_map(|i| format!("word{}\n", i % 977).into_bytes()).collect();
        for format in [Format::Gzip, Format::Bgzf, Format::Zstd, Format::Bzip2, Format::Xz] {
            let mut w = Compressed::new(format, Vec::new()).unwrap();
            w.write_all(&text).unwrap();
            let bytes = w.finish().unwrap();
            assert_eq!(detect(&bytes), Some(format), "{format}");
            for threads in [1, 3] {
                let options = DecodeOptions { threads, progress: None, workers: None };
                let mut back = Vec::new();
                decode(format, Box::new(io::Cursor::new(bytes.clone())), options, ZipPart::Only)
                    .read_to_end(&mut back)
                    .unwrap();
                assert!(back == text, "{format} with {threads} threads");
            }
        }
    }
}
