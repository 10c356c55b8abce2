//! Compressed inputs: gzip (multi-member; BGZF), zstd (multi-frame), zip, bzip2 and xz, detected
//! by their magic bytes, decoded into the one byte stream the chunker cuts into records, so that
//! chunk boundaries and every result are the uncompressed input's.
//!
//! Decoding overlaps with the work on the chunks:
//! - formats whose stream is one sequence (plain gzip, bzip2, xz, a zip member, a zstd frame of
//!   unknown or large size) decode on a thread of their own;
//! - BGZF blocks and zstd frames of known size are independent: a thread cuts them, the engine's
//!   workers (the same `-j` threads that then work on the chunks) decode batches of them, and the
//!   batches are handed on in order.
//!
//! Either way the decoded bytes arrive through a bounded channel of 1 MiB buffers, so memory is a
//! few buffers whatever the input's size. A corrupt or truncated stream is an error naming the
//! format and the compressed byte offset where decoding stopped.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

/// A compressed format pframe decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    /// Gzip members of at most 64 KiB with their size in a header field (samtools, htslib).
    Bgzf,
    Zstd,
    Zip,
    Bzip2,
    Xz,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Bgzf => "bgzf",
            Format::Zstd => "zstd",
            Format::Zip => "zip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes enough to recognise every format.
pub const MAGIC_LEN: usize = 18;

/// The compressed format whose magic bytes `head` (the input's first bytes) starts with.
pub fn detect(head: &[u8]) -> Option<Format> {
    match head {
        [0x1f, 0x8b, 8, flags, ..] => {
            // FEXTRA with a `BC` subfield first: BGZF.
            let bgzf = flags & 4 != 0 && head.len() >= 16 && head[12] == b'B' && head[13] == b'C';
            Some(if bgzf { Format::Bgzf } else { Format::Gzip })
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Format::Zstd),
        // A skippable zstd frame (pzstd and seekable zstd start with one).
        [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Some(Format::Zstd),
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(Format::Zip),
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Format::Bzip2),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some(Format::Xz),
        _ => None,
    }
}

/// What went wrong decoding a compressed input, and where.
#[derive(Debug)]
pub struct Corrupt {
    pub format: Format,
    /// The compressed byte offset at which decoding stopped.
    pub offset: u64,
    pub what: String,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (at compressed byte {})", self.format, self.what, self.offset)
    }
}

impl std::error::Error for Corrupt {}

fn corrupt(format: Format, offset: u64, what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Corrupt { format, offset, what: what.into() })
}

/// Turns a decoder's error into a [`Corrupt`] one at `offset`; an error of the underlying file
/// (an OS error) stays what it is.
fn describe(format: Format, offset: u64, e: io::Error) -> io::Error {
    if e.raw_os_error().is_some() || e.get_ref().is_some_and(|inner| inner.is::<Corrupt>()) {
        return e;
    }
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "unexpected end of data: the file is truncated".to_string(),
        _ => format!("corrupt data: {e}"),
    };
    corrupt(format, offset, what)
}

/// Counts the compressed bytes read: the offset for messages, and the progress display's bytes.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
    progress: Option<&'static AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(p) = self.progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The decoded stream: buffers arriving in order from the decoding threads.
pub struct Decoded {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for Decoded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(buf)) => {
                    self.buf = buf;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The decoder finished (it closes the channel after the last buffer).
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The decoded buffers' size, and how many may wait in the channel.
const BUFFER: usize = 1 << 20;
const QUEUED: usize = 4;

/// How to decode one compressed input.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Workers for formats whose blocks decode independently (BGZF, zstd frames), when there is
    /// no pool to share.
    pub threads: usize,
    /// A counter of the compressed bytes read, for a progress display.
    pub progress: Option<&'static AtomicU64>,
    /// The engine's pool: blocks decode on the workers that then work on the chunks.
    pub workers: Option<super::Workers>,
}

/// What of a zip archive to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipPart {
    /// Its only member: an archive of several is an error that says to name one.
    Only,
    /// The member of this index (of a file's archive, listed by [`zip_members`]).
    Index(usize),
    /// The member of this name (`--zip-member`).
    Name(String),
    /// Every member in order, as one stream (`count`, where inputs add up).
    All,
}

/// Starts decoding `raw`, compressed as `format`: the decoded bytes are read from the result.
/// `zip` says which member of a zip archive to read (a file's archive is opened by path with
/// [`open_zip_member`], whose seeks a stream cannot do).
pub fn decode(format: Format, raw: Box<dyn Read + Send>, options: DecodeOptions, zip: ZipPart) -> Decoded {
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counted { inner: raw, read: Arc::clone(&read), progress: options.progress };
    let (tx, rx) = mpsc::sync_channel(QUEUED);
    let threads = options.threads.max(1);
    let workers = options.workers.clone();
    std::thread::Builder::new()
        .name(format!("pframe-{format}"))
        .spawn(move || {
            let pool = || match workers {
                Some(w) => Ok(w),
                None => rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("pframe-decode-{i}"))
                    .build()
                    .map(|p| super::Workers::Shared(Arc::new(p)))
                    .map_err(io::Error::other),
            };
            let result = match format {
                Format::Bgzf => pool().and_then(|pool| bgzf_blocks(counted, &read, &pool, &tx)),
                Format::Zstd => pool().and_then(|pool| zstd_frames(counted, &read, &pool, &tx)),
                Format::Zip => zip_stream(counted, &read, &zip, &tx),
                _ => {
                    let mut input = BufReader::with_capacity(BUFFER, counted);
                    match format {
                        Format::Gzip => pump(flate2::bufread::MultiGzDecoder::new(input), &tx),
                        Format::Bzip2 => pump(bzip2::bufread::MultiBzDecoder::new(input), &tx),
                        _ => pump(lzma_rust2::XzReader::new(&mut input, true), &tx),
                    }
                }
            };
            if let Err(e) = result {
                let _ = tx.send(Err(describe(format, read.load(Ordering::Relaxed), e)));
            }
        })
        .expect("spawn a decoding thread");
    Decoded { rx, buf: Vec::new(), pos: 0, done: false }
}

/// Reads `from` to its end in buffers, handing each on; stops quietly if nobody listens.
fn pump(mut from: impl Read, tx: &mpsc::SyncSender<io::Result<Vec<u8>>>) -> io::Result<()> {
    loop {
        let mut buf = Vec::with_capacity(BUFFER);
        let n = (&mut from).take(BUFFER as u64).read_to_end(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if tx.send(Ok(buf)).is_err() {
            return Ok(());
        }
    }
}

/// The members of a zip archive that hold data (not directories), in order: (index, name).
pub fn zip_members(path: &Path) -> io::Result<Vec<(usize, String)>> {
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let member = archive.by_index_raw(i).map_err(zip_error)?;
        if !member.is_dir() {
            out.push((i, member.name().to_string()));
        }
    }
    Ok(out)
}

fn zip_error(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => corrupt(Format::Zip, 0, other.to_string()),
    }
}

/// Starts reading member `which` of the zip archive at `path`, decoded.
pub fn open_zip_member(path: &Path, which: ZipPart, options: DecodeOptions) -> io::Result<Decoded> {
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
    let members = zip_members(path)?;
    let indices: Vec<usize> = match &which {
        ZipPart::Index(i) => vec![*i],
        ZipPart::Name(name) => vec![archive.index_for_name(name).ok_or_else(|| {
            let names: Vec<&str> = members.iter().map(|(_, n)| n.as_str()).collect();
            corrupt(Format::Zip, 0, format!("no member named \"{name}\" (members: {})", names.join(", ")))
        })?],
        ZipPart::All => members.iter().map(|(i, _)| *i).collect(),
        ZipPart::Only => match &members[..] {
            [(i, _)] => vec![*i],
            [] => return Err(corrupt(Format::Zip, 0, "the archive holds no member")),
            several => {
                let names: Vec<&str> = several.iter().map(|(_, n)| n.as_str()).collect();
                return Err(corrupt(
                    Format::Zip,
                    0,
                    format!("the archive holds several members ({}): name one with --zip-member", names.join(", ")),
                ));
            }
        },
    };
    let (tx, rx) = mpsc::sync_channel(QUEUED);
    std::thread::Builder::new()
        .name("pframe-zip".into())
        .spawn(move || {
            for i in indices {
                let member = match archive.by_index(i) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = tx.send(Err(zip_error(e)));
                        return;
                    }
                };
                let (start, size) = (member.data_start().unwrap_or(0), member.compressed_size());
                if let Some(p) = options.progress {
                    p.fetch_add(size, Ordering::Relaxed);
                }
                if let Err(e) = pump(member, &tx) {
                    let _ = tx.send(Err(describe(Format::Zip, start, e)));
                    return;
                }
            }
        })
        .expect("spawn a decoding thread");
    Ok(Decoded { rx, buf: Vec::new(), pos: 0, done: false })
}

/// A zip archive from a stream (stdin): its members in order, read from their local headers.
fn zip_stream(
    raw: impl Read,
    read: &AtomicU64,
    which: &ZipPart,
    tx: &mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(BUFFER, raw);
    let (mut seen, mut taken) = (0usize, 0usize);
    loop {
        let at = read.load(Ordering::Relaxed) - input.buffer().len() as u64;
        let Some(member) = zip::read::read_zipfile_from_stream(&mut input).map_err(zip_error)? else {
            break;
        };
        if member.is_dir() {
            continue;
        }
        let wanted = match which {
            ZipPart::All => true,
            ZipPart::Only => {
                if seen > 0 {
                    return Err(corrupt(
                        Format::Zip,
                        at,
                        "the archive holds several members: name one with --zip-member",
                    ));
                }
                true
            }
            ZipPart::Name(n) => member.name() == n,
            ZipPart::Index(i) => *i == seen,
        };
        seen += 1;
        if wanted {
            taken += 1;
            pump(member, tx).map_err(|e| describe(Format::Zip, at, e))?;
        } else {
            io::copy(&mut { member }, &mut io::sink()).map_err(|e| describe(Format::Zip, at, e))?;
        }
    }
    if taken == 0 {
        let what = match which {
            ZipPart::Name(n) => format!("no member named \"{n}\""),
            _ => "the archive holds no member".to_string(),
        };
        return Err(corrupt(Format::Zip, read.load(Ordering::Relaxed), what));
    }
    Ok(())
}

/// Decoded batches handed on in order: results may arrive out of order from the workers.
struct InOrder<'a> {
    tx: &'a mpsc::SyncSender<io::Result<Vec<u8>>>,
    next: u64,
    waiting: BTreeMap<u64, io::Result<Vec<u8>>>,
}

impl InOrder<'_> {
    /// Takes result `seq`; hands on every result now due. `false` once nobody listens or a
    /// result was an error (which is handed on, in its place).
    fn put(&mut self, seq: u64, result: io::Result<Vec<u8>>) -> bool {
        self.waiting.insert(seq, result);
        while let Some(r) = self.waiting.remove(&self.next) {
            self.next += 1;
            let failed = r.is_err();
            if self.tx.send(r).is_err() || failed {
                return false;
            }
        }
        true
    }
}

/// Decodes independent pieces on `pool`'s workers while this thread cuts them:
/// `next_piece` returns the next piece (or `Inline` output already decoded, in its place), and
/// `decode` turns a piece into bytes. At most `2 x threads` pieces are in flight.
fn parallel<P: Send + 'static>(
    pool: &rayon::ThreadPool,
    tx: &mpsc::SyncSender<io::Result<Vec<u8>>>,
    mut next_piece: impl FnMut(&mut dyn FnMut(Piece<P>) -> bool) -> io::Result<()>,
    decode: impl Fn(P) -> io::Result<Vec<u8>> + Send + Sync + 'static,
) -> io::Result<()> {
    let threads = pool.current_num_threads();
    let decode = Arc::new(decode);
    let (done_tx, done_rx) = mpsc::channel::<(u64, io::Result<Vec<u8>>)>();
    let mut order = InOrder { tx, next: 0, waiting: BTreeMap::new() };
    let (mut seq, mut in_flight, mut open) = (0u64, 0usize, true);
    let limit = 2 * threads;
    let result = next_piece(&mut |piece| {
        while open && in_flight >= limit {
            let (s, r) = done_rx.recv().expect("a worker holds a sender");
            in_flight -= 1;
            open = order.put(s, r);
        }
        if !open {
            return false;
        }
        match piece {
            Piece::Inline(bytes) => open = order.put(seq, Ok(bytes)),
            Piece::Job(p) => {
                let (decode, done_tx) = (Arc::clone(&decode), done_tx.clone());
                let s = seq;
                in_flight += 1;
                pool.spawn(move || {
                    let _ = done_tx.send((s, decode(p)));
                });
            }
        }
        seq += 1;
        open
    });
    while in_flight > 0 {
        let (s, r) = done_rx.recv().expect("a worker holds a sender");
        in_flight -= 1;
        if open {
            open = order.put(s, r);
        }
    }
    result
}

/// A piece of a compressed stream: decoded by a worker, or already decoded in its place.
enum Piece<P> {
    Job(P),
    Inline(Vec<u8>),
}

/// Reads exactly `n` bytes, or fails with `UnexpectedEof` (a truncated stream).
fn read_exact_vec(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut v)?;
    if v.len() < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(v)
}

/// BGZF blocks to decode: a batch of whole blocks and where the first starts.
struct BgzfBatch {
    offset: u64,
    bytes: Vec<u8>,
}

/// Blocks per batch: BGZF blocks hold at most 64 KiB, so a batch is about 1 MiB decoded.
const BGZF_BATCH: usize = 16;

/// BGZF: every block is a gzip member whose header gives its size; batches of blocks decode on
/// the workers.
fn bgzf_blocks(
    raw: impl Read,
    read: &AtomicU64,
    pool: &rayon::ThreadPool,
    tx: &mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(BUFFER, raw);
    // The compressed offset of the next block: what was read, less what waits in the buffer.
    let offset = |input: &BufReader<_>| read.load(Ordering::Relaxed) - input.buffer().len() as u64;
    parallel(
        pool,
        tx,
        |emit| {
            let mut batch = BgzfBatch { offset: 0, bytes: Vec::new() };
            let mut blocks = 0;
            loop {
                let at = offset(&input);
                if input.fill_buf()?.is_empty() {
                    break;
                }
                let head = read_exact_vec(&mut input, 18)?;
                if head[..4] != [0x1f, 0x8b, 8, 4] || head[12] != b'B' || head[13] != b'C' {
                    return Err(corrupt(Format::Bgzf, at, "not a BGZF block"));
                }
                let size = u16::from_le_bytes([head[16], head[17]]) as usize + 1;
                if size < 26 {
                    return Err(corrupt(Format::Bgzf, at, "a block shorter than its header"));
                }
                if blocks == 0 {
                    batch.offset = at;
                }
                batch.bytes.extend_from_slice(&head);
                batch.bytes.extend_from_slice(&read_exact_vec(&mut input, size - 18)?);
                blocks += 1;
                if blocks == BGZF_BATCH {
                    if !emit(Piece::Job(std::mem::replace(&mut batch, BgzfBatch { offset: 0, bytes: Vec::new() }))) {
                        return Ok(());
                    }
                    blocks = 0;
                }
            }
            if blocks > 0 {
                emit(Piece::Job(batch));
            }
            Ok(())
        },
        decode_bgzf_batch,
    )
}

/// Decodes a batch of whole BGZF blocks, checking each block's CRC and size.
fn decode_bgzf_batch(batch: BgzfBatch) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(BGZF_BATCH << 16);
    let mut rest = &batch.bytes[..];
    let mut at = batch.offset;
    let mut inflate = flate2::Decompress::new(false);
    while !rest.is_empty() {
        let xlen = u16::from_le_bytes([rest[10], rest[11]]) as usize;
        let size = u16::from_le_bytes([rest[16], rest[17]]) as usize + 1;
        let bad = |what: &str| corrupt(Format::Bgzf, at, what.to_string());
        if 12 + xlen + 8 > size {
            return Err(bad("a block shorter than its header"));
        }
        let (data, trailer) = (&rest[12 + xlen..size - 8], &rest[size - 8..size]);
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let isize = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")) as usize;
        let start = out.len();
        out.reserve(isize);
        inflate.reset(false);
        let status = inflate
            .decompress_vec(data, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| bad(&format!("corrupt data: {e}")))?;
        if status != flate2::Status::StreamEnd || out.len() - start != isize {
            return Err(bad("corrupt data: the block's size does not match its data"));
        }
        let mut check = flate2::Crc::new();
        check.update(&out[start..]);
        if check.sum() != crc {
            return Err(bad("corrupt data: CRC mismatch"));
        }
        rest = &rest[size..];
        at += size as u64;
    }
    Ok(out)
}

/// The largest zstd frame decoded whole by a worker; larger frames, and frames that do not give
/// their size, are decoded as a stream in their place.
const ZSTD_FRAME_LIMIT: u64 = 64 << 20;

/// A zstd frame to decode whole: its bytes, decoded size and offset.
struct ZstdFrame {
    offset: u64,
    bytes: Vec<u8>,
    size: usize,
}

/// zstd: frames of known, bounded size decode on the workers; others as a stream in place.
fn zstd_frames(
    raw: impl Read,
    read: &AtomicU64,
    pool: &rayon::ThreadPool,
    tx: &mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(BUFFER, raw);
    let offset = |input: &BufReader<_>| read.load(Ordering::Relaxed) - input.buffer().len() as u64;
    parallel(
        pool,
        tx,
        |emit| {
            loop {
                let at = offset(&input);
                if input.fill_buf()?.is_empty() {
                    return Ok(());
                }
                let magic = u32::from_le_bytes(read_exact_vec(&mut input, 4)?[..].try_into().expect("4 bytes"));
                if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                    // A skippable frame: its size, then that many bytes of anything.
                    let len = u32::from_le_bytes(read_exact_vec(&mut input, 4)?[..].try_into().expect("4 bytes"));
                    io::copy(&mut (&mut input).take(u64::from(len)), &mut io::sink())?;
                    continue;
                }
                if magic != 0xFD2F_B528 {
                    return Err(corrupt(Format::Zstd, at, "not a zstd frame"));
                }
                let mut frame = magic.to_le_bytes().to_vec();
                let (size, checksum) = zstd_frame_header(&mut input, &mut frame)?;
                match size.filter(|&s| s <= ZSTD_FRAME_LIMIT) {
                    Some(size) => {
                        zstd_frame_blocks(&mut input, checksum, |block| {
                            frame.extend_from_slice(block);
                            Ok(())
                        })?;
                        if !emit(Piece::Job(ZstdFrame { offset: at, bytes: frame, size: size as usize })) {
                            return Ok(());
                        }
                    }
                    None => {
                        // Decode this frame as it is read, a buffer at a time, in its place.
                        let bytes = FrameBytes {
                            prefix: io::Cursor::new(frame),
                            input: &mut input,
                            checksum,
                            state: Block::Header,
                            last: false,
                        };
                        let mut decoder = zstd::stream::read::Decoder::new(bytes)?.single_frame();
                        loop {
                            let mut buf = Vec::with_capacity(BUFFER);
                            let n = (&mut decoder)
                                .take(BUFFER as u64)
                                .read_to_end(&mut buf)
                                .map_err(|e| describe(Format::Zstd, at, e))?;
                            if n == 0 {
                                break;
                            }
                            if !emit(Piece::Inline(buf)) {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        },
        |f: ZstdFrame| {
            thread_local! {
                // A decoding context per worker: making one costs more than a small frame's work.
                static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
            }
            let out = DCTX
                .with(|cell| -> io::Result<Vec<u8>> {
                    let mut slot = cell.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(zstd::bulk::Decompressor::new()?);
                    }
                    slot.as_mut().expect("made above").decompress(&f.bytes, f.size)
                })
                .map_err(|e| corrupt(Format::Zstd, f.offset, format!("corrupt data: {e}")))?;
            if out.len() != f.size {
                return Err(corrupt(Format::Zstd, f.offset, "corrupt data: the frame's size does not match its data"));
            }
            Ok(out)
        },
    )
}

/// Reads a zstd frame header (after the magic) into `frame`; returns the frame's decoded size if
/// the header gives it, and whether a checksum follows its blocks.
fn zstd_frame_header(input: &mut impl Read, frame: &mut Vec<u8>) -> io::Result<(Option<u64>, bool)> {
    let fhd = read_exact_vec(input, 1)?[0];
    frame.push(fhd);
    let single_segment = fhd & 0x20 != 0;
    let checksum = fhd & 4 != 0;
    let dict_len = [0, 1, 2, 4][(fhd & 3) as usize];
    let fcs_len = match fhd >> 6 {
        0 if single_segment => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let rest = read_exact_vec(input, usize::from(!single_segment) + dict_len + fcs_len)?;
    frame.extend_from_slice(&rest);
    if fcs_len == 0 {
        return Ok((None, checksum));
    }
    let mut v = [0u8; 8];
    v[..fcs_len].copy_from_slice(&rest[rest.len() - fcs_len..]);
    let size = u64::from_le_bytes(v);
    Ok((Some(if fcs_len == 2 { size + 256 } else { size }), checksum))
}

/// Reads a zstd frame's blocks (and checksum) after its header, handing each block (header and
/// payload) and the checksum to `each`.
fn zstd_frame_blocks(
    input: &mut impl Read,
    checksum: bool,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        let mut block = read_exact_vec(input, 3)?;
        let (last, len) = zstd_block_header(&block);
        block.extend_from_slice(&read_exact_vec(input, len)?);
        each(&block)?;
        if last {
            break;
        }
    }
    if checksum {
        each(&read_exact_vec(input, 4)?)?;
    }
    Ok(())
}

/// A zstd block header: whether the block is the frame's last, and its payload's length.
fn zstd_block_header(head: &[u8]) -> (bool, usize) {
    let h = u32::from_le_bytes([head[0], head[1], head[2], 0]);
    let (last, kind, size) = (h & 1 != 0, (h >> 1) & 3, (h >> 3) as usize);
    // An RLE block's payload is the one byte it repeats.
    (last, if kind == 1 { 1 } else { size })
}

/// Where [`FrameBytes`] is in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Header,
    Payload(usize),
    Checksum(usize),
    Done,
}

/// The bytes of one zstd frame read from a stream, and no more: its header (already read), then
/// its blocks one by one, then its checksum.
struct FrameBytes<'a, R> {
    prefix: io::Cursor<Vec<u8>>,
    input: &'a mut R,
    checksum: bool,
    state: Block,
    last: bool,
}

impl<R: Read> Read for FrameBytes<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.prefix.read(out)?;
        if n > 0 {
            return Ok(n);
        }
        loop {
            match self.state {
                Block::Done => return Ok(0),
                Block::Header if self.last => {
                    self.state = if self.checksum { Block::Checksum(4) } else { Block::Done };
                }
                Block::Header => {
                    let head = read_exact_vec(self.input, 3)?;
                    let (last, len) = zstd_block_header(&head);
                    self.last = last;
                    self.state = Block::Payload(len);
                    self.prefix = io::Cursor::new(head);
                    return self.prefix.read(out);
                }
                Block::Payload(0) => self.state = Block::Header,
                Block::Checksum(0) => self.state = Block::Done,
                Block::Payload(left) | Block::Checksum(left) => {
                    let want = left.min(out.len());
                    let n = self.input.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.state = match self.state {
                        Block::Payload(_) => Block::Payload(left - n),
                        _ => Block::Checksum(left - n),
                    };
                    return Ok(n);
                }
            }
        }
    }
}
