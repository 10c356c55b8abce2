//! The input layer: the only code that knows about files, stdin, memory maps and chunk boundaries.
//!
//! Every command reads its input as a sequence of [`Chunk`]s: contiguous, record-aligned pieces of
//! about `chunk_size` bytes (the analog of `multiprocessing.Pool.imap`'s `chunksize`). A chunk always
//! ends just after a `\n` (or at the end of the input), so a line, and a `\r\n` pair, never straddles
//! two chunks; a line longer than the chunk size makes one larger chunk. Whatever the chunk size, the
//! concatenation of the chunks is the input, byte for byte, which is why no result may depend on it.
//!
//! Two backings produce chunks through one cutter ([`Chunker`]):
//! - a memory-mapped regular file: chunks are slices of the map, and the pages behind chunks that
//!   have been fully consumed are handed back to the kernel ([`Mapped::release_through`]), so the
//!   resident set stays bounded whatever the file size;
//! - any reader (stdin, pipes, `--no-mmap`): a buffered reader copies each chunk into its own
//!   buffer, so only the chunks in flight are in memory.

pub mod compress;
mod csv_boundary;
pub mod dialect;
mod size;
pub mod value;

pub use csv_boundary::CsvBoundary;
pub use size::{ChunkSize, ParseSizeError};

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use memmap2::{Mmap, MmapOptions};

/// The default chunk size: large enough that per-chunk overhead (a task, a merge) is negligible,
/// small enough that `2 x threads` chunks in flight stay far below the memory budget.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// A table format: read by polars from a file (its index is at its end), typed by the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    /// The Arrow IPC file format (Feather v2).
    Ipc,
}

impl TableFormat {
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Parquet => "Parquet",
            TableFormat::Ipc => "Arrow IPC",
        }
    }

    /// The table format whose magic bytes `head` starts with.
    pub fn detect(head: &[u8]) -> Option<TableFormat> {
        if head.starts_with(b"PAR1") {
            Some(TableFormat::Parquet)
        } else if head.starts_with(b"ARROW1") {
            Some(TableFormat::Ipc)
        } else {
            None
        }
    }

    /// The table format of the regular file at `path`, if it is one.
    pub fn of_file(path: &Path) -> Option<TableFormat> {
        // Not opened unless a regular file: opening a named pipe to look would take its writer.
        if !std::fs::metadata(path).ok()?.is_file() {
            return None;
        }
        let file = File::open(path).ok()?;
        let mut head = [0u8; 8];
        let n = std::os::unix::fs::FileExt::read_at(&file, &mut head, 0).ok()?;
        TableFormat::detect(&head[..n])
    }
}

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
    /// One member of a zip archive of several (each such member is an input of its own).
    ZipMember {
        archive: PathBuf,
        index: usize,
        name: String,
    },
}

impl Source {
    /// Parses a command-line operand: `-` is stdin, anything else a path.
    pub fn from_arg(arg: &Path) -> Source {
        if arg.as_os_str() == "-" { Source::Stdin } else { Source::File(arg.to_path_buf()) }
    }

    /// The name used in messages: the path as given, or `<stdin>`.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_string(),
            Source::File(p) => p.display().to_string(),
            Source::ZipMember { archive, name, .. } => format!("{}:{name}", archive.display()),
        }
    }
}

/// Shard `index` of `count` (from 0): one of `count` contiguous pieces of a file, cut on record
/// boundaries so that every record belongs to exactly one shard, whatever `count` is.
///
/// Piece `i` spans from the first record boundary at or after byte `i * len / count` to the first
/// at or after `(i + 1) * len / count`. For CSV the boundary is found by the same quote-aware scan
/// as chunk ends, from the start of the file (a quote opened before the cut point decides whether a
/// newline ends a record), so a shard's start costs a quote scan of what precedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("\"{s}\" is not a shard I/N with 0 <= I < N (for example 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The byte at which piece `i` of `count` of a `len`-byte input nominally begins: `i * len / count`.
fn shard_point(len: usize, i: u32, count: u32) -> usize {
    ((len as u128 * u128::from(i) / u128::from(count)) as usize).min(len)
}

/// Where shard `shard` of `bytes` starts and ends.
///
/// The end is found by scanning from the start to the first record boundary at or after
/// `(I + 1) * len / N`, so it is exact if the start is. The start is `start_at` when the caller
/// knows a record boundary (the merge re-running a shard), else the first boundary at or after
/// `I * len / N` found by scanning from there alone: exact for lines, and for CSV exact unless that
/// point lies inside a quoted field (the scan assumes it does not). Reading everything before the
/// shard to be sure would cost each shard a pass over the file's prefix; instead the merge checks
/// that every shard starts where the previous one ended, which holds whenever the assumption does,
/// and re-runs a shard that started in the wrong place.
pub fn shard_range<B: Boundary + ?Sized>(
    bytes: &[u8],
    shard: Shard,
    start_at: Option<usize>,
    boundary: &mut B,
) -> (usize, usize) {
    let len = bytes.len();
    let point = |i: u32| shard_point(len, i, shard.count);
    let start = match start_at {
        Some(s) => s.min(len),
        None => match point(shard.index) {
            0 => 0,
            at if at >= len => len,
            at => {
                // Treat the byte before the point as the start of a record: the first boundary
                // found after it is the first at or after the point.
                boundary.reset();
                (at - 1) + boundary.cut(&bytes[at - 1..], 1).unwrap_or(len - (at - 1))
            }
        },
    };
    let limit = point(shard.index + 1);
    let end = if limit >= len {
        len
    } else if limit <= start {
        start
    } else {
        boundary.reset();
        start + boundary.cut(&bytes[start..], limit - start).unwrap_or(len - start)
    };
    boundary.reset();
    (start, end)
}

/// Where shard `shard` of the file at `path` starts, found exactly: by scanning from the start of
/// the file (for CSV the quotes before the cut point decide whether a newline there ends a
/// record). For a shard printed on its own, and for one whose assumed start may explain an error.
pub fn exact_shard_start<B: Boundary>(path: &Path, shard: Shard, mut boundary: B) -> io::Result<u64> {
    let file = File::open(path)?;
    let len = file.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0);
    }
    let map = map_file(&file)?;
    let at = shard_point(len, shard.index, shard.count);
    if at == 0 || at >= len {
        return Ok(at as u64);
    }
    boundary.reset();
    Ok(boundary.cut(&map, at).unwrap_or(len) as u64)
}

/// The number of newlines before byte `offset` of a file: the line number a shard starts on, less
/// one. Only error messages need it, so it is computed only for them.
pub fn newlines_before(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = io::BufReader::with_capacity(1 << 20, file).take(offset);
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(k) = reader.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += bytecount::count(&buf[..k], b'\n') as u64;
    }
    n
}

/// Errors of the input layer. Each names the input it concerns.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    // The I/O error is described in the message, not chained as a source, so that `{:#}` prints
    // one clean line.
    #[error("{name}: {}", describe_open_error(.err))]
    Open { name: String, err: io::Error },
    #[error("{name}: is a directory")]
    IsDirectory { name: String },
    #[error("{name}: {}", describe_read_error(.err))]
    Read { name: String, err: io::Error },
    #[error(
        "{name}: {format}-compressed: --shard cuts a file's bytes, which only an uncompressed file (or one \
             decompressed first) allows"
    )]
    ShardCompressed { name: String, format: compress::Format },
    #[error("{name}: --shard needs a FILE: a shard is a byte range, and stdin can be read only once")]
    ShardNeedsFile { name: String },
}

/// A table file on a stream: its index is at its end, so pframe reads it from a file.
#[derive(Debug)]
struct TableOnStream(TableFormat);

impl std::fmt::Display for TableOnStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} file: pframe reads it from a file, not a stream (its index is at its end)", self.0.name())
    }
}

impl std::error::Error for TableOnStream {}

/// A corrupt or truncated compressed input, or a table file on a stream, says so itself; other
/// read errors are failed reads.
fn describe_read_error(err: &io::Error) -> String {
    match err.get_ref() {
        Some(e) if e.is::<compress::Corrupt>() || e.is::<TableOnStream>() => e.to_string(),
        _ => format!("read failed: {err}"),
    }
}

fn describe_open_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("cannot open: {err}"),
    }
}

/// A pool of worker threads that an input's decoding may share: the engine's own, so that `-j N`
/// is N threads of work in all.
#[derive(Clone)]
pub enum Workers {
    Shared(Arc<rayon::ThreadPool>),
    Static(&'static rayon::ThreadPool),
}

impl Deref for Workers {
    type Target = rayon::ThreadPool;
    fn deref(&self) -> &rayon::ThreadPool {
        match self {
            Workers::Shared(p) => p,
            Workers::Static(p) => p,
        }
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workers({} threads)", self.current_num_threads())
    }
}

impl PartialEq for Workers {
    fn eq(&self, other: &Workers) -> bool {
        std::ptr::eq::<rayon::ThreadPool>(&**self, &**other)
    }
}

/// How inputs are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The target chunk size in bytes (at least 1).
    pub chunk_size: usize,
    /// Memory-map regular files (the default); `false` reads them with buffered reads.
    pub mmap: bool,
    /// A counter of the bytes handed out as chunks, for a progress display (one relaxed add per
    /// chunk).
    pub progress: Option<&'static AtomicU64>,
    /// Read only this shard of each file.
    pub shard: Option<Shard>,
    /// Where the shard starts, when it is known to be a record boundary (see [`shard_range`]).
    pub shard_start: Option<u64>,
    /// Threads that decode a compressed input whose blocks decode independently (BGZF, zstd
    /// frames), when there is no engine pool to share (`workers`).
    pub decode_threads: usize,
    /// The engine's worker pool, which such decoding shares.
    pub workers: Option<Workers>,
    /// Which member of a zip archive to read.
    pub zip: ZipChoice,
}

/// Which member of a zip archive an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZipChoice {
    /// Its only member (an archive of several, from stdin, is an error; a file's members are
    /// inputs of their own, see [`Source::ZipMember`]).
    #[default]
    Only,
    /// Every member in order, as one stream (inputs that add up: `count`).
    All,
    /// The member of this name (`--zip-member`).
    Named(&'static str),
}

/// Options are equal when they read the same way and report to the same counter.
impl PartialEq for ReadOptions {
    fn eq(&self, other: &Self) -> bool {
        self.chunk_size == other.chunk_size
            && self.mmap == other.mmap
            && self.shard == other.shard
            && self.shard_start == other.shard_start
            && self.decode_threads == other.decode_threads
            && self.workers == other.workers
            && self.zip == other.zip
            && match (self.progress, other.progress) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

impl Eq for ReadOptions {}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            mmap: true,
            progress: None,
            shard: None,
            shard_start: None,
            decode_threads: 1,
            workers: None,
            zip: ZipChoice::Only,
        }
    }
}

/// A memory-mapped file, shared by the chunks cut from it.
pub struct Mapped {
    map: Mmap,
    /// Offset below which pages have been released.
    released: AtomicUsize,
}

/// Pages are released in batches of at least this many bytes, so that tiny chunks do not cost a
/// system call each.
const RELEASE_BATCH: usize = 4 << 20;
const PAGE: usize = 4096;

impl Mapped {
    /// Tells the kernel that the bytes before `to` will not be read again, so that the pages of
    /// the map below it can leave our resident set.
    ///
    /// Chunks call this when they are dropped, which the pipelines do in input order. A call out of
    /// order is still correct: the map is read-only and file-backed, so dropping its pages loses
    /// nothing, and a later read of them would fault them back in from the page cache.
    fn release_through(&self, to: usize) {
        let from = self.released.load(Ordering::Relaxed);
        let start = from.div_ceil(PAGE) * PAGE;
        let end = to / PAGE * PAGE;
        if end <= start || end - start < RELEASE_BATCH && to < self.map.len() {
            return;
        }
        // SAFETY: `MADV_DONTNEED` on a private, read-only file mapping only drops our page table
        // entries; the data stays in the page cache and any later access re-reads it from the
        // file. Memory safety is unaffected: the bytes seen afterwards are the file's bytes, the
        // same caveat that applies to the map as a whole (see `map_file`).
        let released =
            unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
        // Releasing is an optimization: if the kernel refuses, keep going with more memory.
        if released.is_ok() {
            self.released.fetch_max(end, Ordering::Relaxed);
        }
    }
}

enum Data {
    Mapped {
        map: Arc<Mapped>,
        start: usize,
        end: usize,
    },
    /// Bytes read into a buffer of the chunk's own; the chunk is `buf[from..]`.
    Owned {
        buf: Vec<u8>,
        from: usize,
    },
}

/// A record-aligned piece of one input.
pub struct Chunk {
    /// Position of this chunk among the chunks of its input, from 0.
    pub index: usize,
    /// Byte offset of the chunk's first byte in its input.
    pub offset: u64,
    data: Data,
}

impl Chunk {
    /// A chunk over owned bytes (used by tests and by in-memory callers).
    pub fn from_vec(index: usize, offset: u64, bytes: Vec<u8>) -> Chunk {
        Chunk { index, offset, data: Data::Owned { buf: bytes, from: 0 } }
    }

    /// Drops the chunk's first `n` bytes (a byte-order mark, a header row): the chunk then starts
    /// `n` bytes later in its input.
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.len());
        match &mut self.data {
            Data::Mapped { start, .. } => *start += n,
            Data::Owned { from, .. } => *from += n,
        }
        self.offset += n as u64;
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Data::Mapped { map, end, .. } = &self.data {
            map.release_through(*end);
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.data {
            Data::Mapped { map, start, end } => &map.map[*start..*end],
            Data::Owned { buf, from } => &buf[*from..],
        }
    }
}

/// Where a record-aligned chunk may end.
///
/// The cutter grows a chunk until it holds `want` bytes, then asks the boundary for the end of the
/// record that is open at that point. For one chunk, `cut` may be called several times with the
/// same buffer grown at its end (a record longer than what was read so far); an implementation may
/// remember how far it scanned. `reset` starts a new chunk, which always begins on a record
/// boundary.
pub trait Boundary: Send {
    /// Starts a new chunk.
    fn reset(&mut self);
    /// Returns the length of the shortest prefix of `buf` that is at least `want` bytes long and
    /// ends on a record boundary, or `None` if `buf` holds no such prefix yet.
    fn cut(&mut self, buf: &[u8], want: usize) -> Option<usize>;
    /// Returns the length of the longest prefix of `buf` that ends on a record boundary, if it
    /// is at least `want` bytes long (used by the reader backing, which cuts what it has read and
    /// carries the rest over).
    fn last_cut(&mut self, buf: &[u8], want: usize) -> Option<usize>;
}

impl<B: Boundary + ?Sized> Boundary for Box<B> {
    fn reset(&mut self) {
        (**self).reset()
    }
    fn cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        (**self).cut(buf, want)
    }
    fn last_cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        (**self).last_cut(buf, want)
    }
}

/// Records are lines: a chunk may end right after any `\n`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LineBoundary {
    scanned: usize,
}

impl Boundary for LineBoundary {
    fn reset(&mut self) {
        self.scanned = 0;
    }

    fn cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        if want == 0 {
            return Some(0);
        }
        let from = self.scanned.max(want - 1);
        match memchr::memchr(b'\n', &buf[from..]) {
            Some(p) => Some(from + p + 1),
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }

    fn last_cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        let from = self.scanned.max(want.saturating_sub(1));
        let found = memchr::memrchr(b'\n', &buf[from..]).map(|p| from + p + 1);
        self.scanned = buf.len();
        found
    }
}

enum Backing {
    Mapped {
        map: Arc<Mapped>,
        pos: usize,
        /// Where this input ends: the map's length, or a shard's end.
        end: usize,
    },
    /// `carry` holds the bytes read after the last record boundary, which start the next chunk.
    Reader { reader: Box<dyn Read + Send>, eof: bool, carry: Vec<u8> },
}

/// Cuts one input into record-aligned chunks of about `chunk_size` bytes, in order.
pub struct Chunker<B: Boundary = LineBoundary> {
    name: String,
    backing: Backing,
    boundary: B,
    chunk_size: usize,
    next_index: usize,
    offset: u64,
    failed: bool,
    progress: Option<&'static AtomicU64>,
    /// Where the first chunk starts in the file: a shard's start, else 0.
    start: u64,
    /// Where a shard ends in the file.
    end: Option<u64>,
    /// Whether the input is decoded from a compressed one.
    compressed: bool,
}

impl Chunker<LineBoundary> {
    /// Opens a source for line-aligned chunks.
    pub fn open(source: &Source, options: ReadOptions) -> Result<Self, InputError> {
        Chunker::open_with(source, options, LineBoundary::default())
    }
}

impl<B: Boundary> Chunker<B> {
    /// Opens a source, cutting chunks where `boundary` allows. A compressed input (see
    /// [`compress::detect`]) is decoded on threads of its own and cut like any stream.
    pub fn open_with(source: &Source, options: ReadOptions, mut boundary: B) -> Result<Self, InputError> {
        let name = source.display_name();
        let decode = compress::DecodeOptions {
            threads: options.decode_threads,
            progress: options.progress,
            workers: options.workers.clone(),
        };
        let zip = match options.zip {
            ZipChoice::Only => compress::ZipPart::Only,
            ZipChoice::All => compress::ZipPart::All,
            ZipChoice::Named(n) => compress::ZipPart::Name(n.to_string()),
        };
        let read_err = |err| InputError::Read { name: name.clone(), err };
        let decoded = |d: compress::Decoded| Backing::Reader { reader: Box::new(d), eof: false, carry: Vec::new() };
        let (backing, (offset, end), compressed) = match (source, options.shard) {
            (Source::Stdin, Some(_)) => return Err(InputError::ShardNeedsFile { name }),
            (Source::ZipMember { .. }, Some(_)) => {
                return Err(InputError::ShardCompressed { name, format: compress::Format::Zip });
            }
            (Source::ZipMember { archive, index, .. }, None) => {
                let d =
                    compress::open_zip_member(archive, compress::ZipPart::Index(*index), decode).map_err(read_err)?;
                (decoded(d), (0, None), true)
            }
            (Source::Stdin, None) => {
                enlarge_pipe_buffer(&io::stdin());
                let (backing, compressed) = sniff_stream(Box::new(io::stdin()), decode, zip).map_err(read_err)?;
                (backing, (0, None), compressed)
            }
            (Source::File(path), shard) => {
                let open_err = |err| InputError::Open { name: name.clone(), err };
                let file = File::open(path).map_err(open_err)?;
                let meta = file.metadata().map_err(open_err)?;
                if meta.is_dir() {
                    return Err(InputError::IsDirectory { name });
                }
                if !meta.is_file() {
                    // A FIFO or device: a stream, sniffed as it is read.
                    if shard.is_some() {
                        return Err(InputError::ShardNeedsFile { name });
                    }
                    enlarge_pipe_buffer(&file);
                    let (backing, compressed) = sniff_stream(Box::new(file), decode, zip).map_err(read_err)?;
                    (backing, (0, None), compressed)
                } else {
                    let mut head = [0u8; compress::MAGIC_LEN];
                    let n = std::os::unix::fs::FileExt::read_at(&file, &mut head, 0).map_err(read_err)?;
                    match (compress::detect(&head[..n]), shard) {
                        (Some(format), Some(_)) => return Err(InputError::ShardCompressed { name, format }),
                        (Some(compress::Format::Zip), None) => {
                            (decoded(compress::open_zip_member(path, zip, decode).map_err(read_err)?), (0, None), true)
                        }
                        (Some(format), None) => {
                            let raw = Box::new(io::BufReader::with_capacity(1 << 20, file));
                            (decoded(compress::decode(format, raw, decode, zip)), (0, None), true)
                        }
                        (None, None) => (open_file(path, &name, options.mmap)?, (0, None), false),
                        (None, Some(shard)) => {
                            let start = options.shard_start.map(|s| s as usize);
                            let (backing, span) = open_shard(path, &name, options.mmap, shard, start, &mut boundary)?;
                            (backing, span, false)
                        }
                    }
                }
            }
        };
        Ok(Chunker {
            name,
            backing,
            boundary,
            chunk_size: options.chunk_size.max(1),
            next_index: 0,
            offset,
            failed: false,
            // A decoder counts the compressed bytes it reads itself.
            progress: if compressed { None } else { options.progress },
            start: offset,
            end,
            compressed,
        })
    }

    /// Makes the chunks cut from now on about `chunk_size` bytes.
    pub fn set_chunk_size(&mut self, chunk_size: usize) {
        self.chunk_size = chunk_size.max(1);
    }

    /// Cuts chunks from any reader (used for tests and in-memory inputs).
    pub fn from_reader(name: &str, reader: impl Read + Send + 'static, chunk_size: usize, boundary: B) -> Self {
        Chunker {
            name: name.to_string(),
            backing: Backing::Reader { reader: Box::new(reader), eof: false, carry: Vec::new() },
            boundary,
            chunk_size: chunk_size.max(1),
            next_index: 0,
            offset: 0,
            failed: false,
            progress: None,
            start: 0,
            end: None,
            compressed: false,
        }
    }

    /// Whether the input is decoded from a compressed one (reading it again decodes it again).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The input's name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the first chunk starts in the file: a shard's start offset, else 0.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// A shard's byte range in its file: `[start, end)`.
    pub fn shard_span(&self) -> Option<(u64, u64)> {
        self.end.map(|e| (self.start, e))
    }

    /// The input's size in bytes when it is known in advance (a mapped file).
    pub fn len_hint(&self) -> Option<u64> {
        match &self.backing {
            Backing::Mapped { end, .. } => Some(*end as u64 - self.start),
            Backing::Reader { .. } => None,
        }
    }

    fn next_mapped(
        map: &Arc<Mapped>,
        pos: &mut usize,
        end: usize,
        boundary: &mut B,
        chunk_size: usize,
    ) -> Option<Data> {
        let bytes = &map.map[..end];
        if *pos >= bytes.len() {
            return None;
        }
        let rest = &bytes[*pos..];
        boundary.reset();
        let len =
            if rest.len() <= chunk_size { rest.len() } else { boundary.cut(rest, chunk_size).unwrap_or(rest.len()) };
        let data = Data::Mapped { map: Arc::clone(map), start: *pos, end: *pos + len };
        *pos += len;
        Some(data)
    }

    /// Reads the next chunk straight into its own buffer: at least `chunk_size` bytes (or to the
    /// end of the input), cut after the last record boundary read; the bytes after it are carried
    /// into the next chunk. Only that partial record is ever copied.
    fn next_read(
        reader: &mut dyn Read,
        eof: &mut bool,
        carry: &mut Vec<u8>,
        boundary: &mut B,
        chunk_size: usize,
    ) -> io::Result<Option<Data>> {
        if *eof && carry.is_empty() {
            return Ok(None);
        }
        let mut buf: Vec<u8> = Vec::with_capacity((chunk_size.max(carry.len()) + EXTEND).min(MAX_PREALLOC));
        buf.append(carry);
        boundary.reset();
        loop {
            if !*eof {
                // Fill up to the chunk size; past it (the record open at the chunk size is not
                // complete yet), read on in steps that start small, so a chunk stays close to its
                // size, and grow geometrically, so that a huge record costs few reads and scans.
                let want =
                    if buf.len() < chunk_size { chunk_size - buf.len() } else { (buf.len() - chunk_size).max(EXTEND) };
                let got = read_up_to(reader, &mut buf, want)?;
                if got < want {
                    *eof = true;
                }
            }
            if *eof {
                return Ok((!buf.is_empty()).then_some(Data::Owned { buf, from: 0 }));
            }
            if buf.len() >= chunk_size
                && let Some(cut) = boundary.last_cut(&buf, chunk_size)
            {
                carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                return Ok(Some(Data::Owned { buf, from: 0 }));
            }
        }
    }
}

/// The first step of reading past the chunk size to the end of its last record; the buffer is
/// allocated with this much room to spare, so usually it never grows.
const EXTEND: usize = 64 << 10;

/// Chunk buffers are preallocated up to this size; larger chunks grow as they are read.
const MAX_PREALLOC: usize = 256 << 20;

/// Appends up to `want` bytes from `reader` to `buf`, retrying short reads (pipes deliver what
/// they have); returns how many were appended, fewer only at the end of the input.
fn read_up_to(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    // `Take::read_to_end` reads into the vector's spare capacity without zeroing it first.
    let mut limited = reader.take(want as u64);
    loop {
        match limited.read_to_end(buf) {
            Ok(_) => return Ok(want - limited.limit() as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads a stream's first bytes to see whether it is compressed: returns a backing that decodes
/// it, or one that reads it as it is (the bytes read so far first), and which of the two.
fn sniff_stream(
    mut raw: Box<dyn Read + Send>,
    decode: compress::DecodeOptions,
    zip: compress::ZipPart,
) -> io::Result<(Backing, bool)> {
    let mut head = Vec::with_capacity(compress::MAGIC_LEN);
    read_up_to(raw.as_mut(), &mut head, compress::MAGIC_LEN)?;
    if let Some(table) = TableFormat::detect(&head) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, TableOnStream(table)));
    }
    Ok(match compress::detect(&head) {
        Some(format) => {
            let raw = Box::new(io::Cursor::new(head).chain(raw));
            let d = compress::decode(format, raw, decode, zip);
            (Backing::Reader { reader: Box::new(d), eof: false, carry: Vec::new() }, true)
        }
        None => (Backing::Reader { reader: raw, eof: false, carry: head }, false),
    })
}

/// Pipes default to a 64 KiB buffer, which costs a context switch per 64 KiB between the writer
/// and us; 1 MiB (the unprivileged maximum on Linux) doubles pipe throughput here (see
/// BENCHMARKS.md). Best effort: anything that is not a pipe, or a refusal, is left as it is.
fn enlarge_pipe_buffer(fd: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ takes an int and only changes the pipe's capacity; on a descriptor
    // that is not a pipe it fails with EBADF/EINVAL, which we ignore.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

impl<B: Boundary> Iterator for Chunker<B> {
    type Item = Result<Chunk, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let data = match &mut self.backing {
            Backing::Mapped { map, pos, end } => Self::next_mapped(map, pos, *end, &mut self.boundary, self.chunk_size),
            Backing::Reader { reader, eof, carry } => {
                match Self::next_read(reader.as_mut(), eof, carry, &mut self.boundary, self.chunk_size) {
                    Ok(d) => d,
                    Err(err) => {
                        self.failed = true;
                        return Some(Err(InputError::Read { name: self.name.clone(), err }));
                    }
                }
            }
        }?;
        let chunk = Chunk { index: self.next_index, offset: self.offset, data };
        self.next_index += 1;
        self.offset += chunk.len() as u64;
        if let Some(counter) = self.progress {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Some(Ok(chunk))
    }
}

fn open_file(path: &Path, name: &str, mmap: bool) -> Result<Backing, InputError> {
    let open_err = |err| InputError::Open { name: name.to_string(), err };
    let file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_dir() {
        return Err(InputError::IsDirectory { name: name.to_string() });
    }
    // Only regular files can be mapped; FIFOs, character devices and `<(process substitution)`
    // are streams, and an empty file has nothing to map.
    if mmap && meta.is_file() && meta.len() > 0 {
        let map = map_file(&file).map_err(|err| InputError::Read { name: name.to_string(), err })?;
        let end = map.len();
        return Ok(Backing::Mapped { map: Arc::new(Mapped { map, released: AtomicUsize::new(0) }), pos: 0, end });
    }
    enlarge_pipe_buffer(&file);
    Ok(Backing::Reader { reader: Box::new(file), eof: false, carry: Vec::new() })
}

/// Opens shard `shard` of a regular file: the range is found on a map of the whole file; the
/// shard is then read from the map, or with `--no-mmap` through a reader limited to the range.
/// Returns the backing and the shard's start offset.
fn open_shard<B: Boundary>(
    path: &Path,
    name: &str,
    mmap: bool,
    shard: Shard,
    start_at: Option<usize>,
    boundary: &mut B,
) -> Result<(Backing, (u64, Option<u64>)), InputError> {
    let open_err = |err| InputError::Open { name: name.to_string(), err };
    let mut file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_dir() {
        return Err(InputError::IsDirectory { name: name.to_string() });
    }
    if !meta.is_file() {
        return Err(InputError::ShardNeedsFile { name: name.to_string() });
    }
    let empty = || Backing::Reader { reader: Box::new(io::empty()), eof: false, carry: Vec::new() };
    if meta.len() == 0 {
        return Ok((empty(), (0, Some(0))));
    }
    let read_err = |err| InputError::Read { name: name.to_string(), err };
    let map = map_file(&file).map_err(read_err)?;
    let (start, end) = shard_range(&map, shard, start_at, boundary);
    let span = (start as u64, Some(end as u64));
    if mmap {
        let mapped = Arc::new(Mapped { map, released: AtomicUsize::new(start) });
        return Ok((Backing::Mapped { map: mapped, pos: start, end }, span));
    }
    drop(map);
    use std::io::Seek;
    file.seek(io::SeekFrom::Start(start as u64)).map_err(read_err)?;
    let reader = Box::new(file.take((end - start) as u64));
    Ok((Backing::Reader { reader, eof: false, carry: Vec::new() }, span))
}

fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is read-only, and we only ever read it as bytes. What can still go wrong is
    // outside Rust's model: if another process truncates the file while it is mapped, reading the
    // lost pages raises SIGBUS, and if it rewrites the file in place we may see a mix of old and new
    // bytes. Both are documented in `--help`; `--no-mmap` reads with plain `read(2)` instead.
    let map = unsafe { MmapOptions::new().map(file)? };
    // Sequential access lets the kernel read ahead aggressively; failure to advise is harmless.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut_all(input: &[u8], chunk_size: usize) -> Vec<Vec<u8>> {
        Chunker::from_reader("t", io::Cursor::new(input.to_vec()), chunk_size, LineBoundary::default())
            .map(|c| c.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn chunks_end_on_newlines_and_cover_the_input() {
        let input = b"alpha\r\nbeta\n\ngamma\ndelta";
        for size in 1..input.len() + 2 {
            let chunks = cut_all(input, size);
            assert_eq!(chunks.concat(), input.to_vec(), "size {size}");
            for c in &chunks[..chunks.len() - 1] {
                assert_eq!(c.last(), Some(&b'\n'), "size {size}: {chunks:?}");
            }
            assert!(chunks.iter().all(|c| !c.is_empty()));
        }
    }

    fn cut_mapped(input: &[u8], chunk_size: usize) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, input).unwrap();
        Chunker::open(&Source::File(path), ReadOptions { chunk_size, ..ReadOptions::default() })
            .unwrap()
            .map(|c| c.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn mapped_chunk_size_one_gives_one_line_per_chunk() {
        let chunks = cut_mapped(b"a\nbb\n\nccc", 1);
        assert_eq!(chunks, vec![b"a\n".to_vec(), b"bb\n".to_vec(), b"\n".to_vec(), b"ccc".to_vec()]);
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert!(cut_all(b"", 4).is_empty());
    }

    #[test]
    fn both_backings_cover_the_input_with_line_aligned_chunks() {
        let input: Vec<u8> = (0..20_000u32).flat_map(|i| format!("w{}\r\n", i * 7919 % 1000).into_bytes()).collect();
        for size in [1, 7, 4096, 1 << 20] {
            for chunks in [cut_mapped(&input, size), cut_all(&input, size)] {
                assert_eq!(chunks.concat(), input, "size {size}");
                assert!(chunks.iter().all(|c| c.ends_with(b"\n")), "size {size}");
                assert!(chunks[..chunks.len() - 1].iter().all(|c| c.len() >= size), "size {size}");
            }
        }
    }

    #[test]
    fn a_huge_line_is_read_in_few_steps() {
        let mut input = vec![b'x'; 3 << 20];
        input.extend_from_slice(b"\nshort\n");
        // Reads grow geometrically past the chunk size, so the line takes ~20 reads, not 450,000.
        let chunks = cut_all(&input, 7);
        assert_eq!(chunks.concat(), input);
        assert!(chunks[0].len() > 3 << 20 && chunks.len() <= 2, "{}", chunks.len());
    }
}
