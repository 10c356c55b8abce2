//! pframe's CSV dialect, defined once for every path (group-by, SQL, joins, every engine):
//!
//! - RFC 4180 as the `csv` crate reads it: a field may be quoted with `"`; inside quotes a
//!   delimiter, a newline or a doubled `""` is data; a quote in the middle of an unquoted field is
//!   an ordinary character; text after a closing quote continues the field.
//! - Records end at `\n`, `\r\n`, or a lone `\r` (outside quotes).
//! - Blank lines are skipped, wherever they are (before the header too). A record that is only
//!   `""` is not blank: it has one empty field.
//! - A UTF-8 byte-order mark at the start of the input is dropped, with or without a header row.
//! - The header row names the columns, unescaped by the same rules as fields; without one
//!   (`--no-header`) they are `column_1`, `column_2`, ...
//! - Every record has as many fields as the header; any other count is an error naming the line.
//!
//! [`start`] finds the header (which may follow chunks of blank lines) and trims it from the first
//! data chunk; [`for_each_record`] splits a chunk into records, handing over only the fields a
//! query uses, with the line each record starts on. Readers that are not pframe's (polars') are
//! given a chunk only where they read it as this dialect does (see [`quotes_are_regular`]).

use std::ops::Range;

use super::{Chunk, CsvBoundary, InputError};
use crate::input::Boundary;

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The quote byte: always `"`.
pub const QUOTE: u8 = b'"';

/// A failure inside a chunk: the line (counted from the chunk's start, 1-based, or from where the
/// caller's `line_base` says) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub line: u64,
    pub message: String,
}

/// The input's first record, when it is a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub names: Vec<String>,
    /// Bytes from the chunk's start through the header's line ending (blank lines before it
    /// included).
    pub len: usize,
    /// Newlines in those bytes.
    pub lines: u64,
}

/// Reads the first record of `data` (the start of an input): `None` if it holds none (only
/// blank lines, or nothing).
pub fn read_header(data: &[u8], delimiter: u8) -> Result<Option<Header>, Fault> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(data);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => return Err(Fault { line: 1, message: format!("malformed header: {e}") }),
    }
    let mut len = reader.position().byte() as usize;
    // The reader may stop between the `\r` and the `\n` of a CRLF.
    if len > 0 && data[len - 1] == b'\r' && data.get(len) == Some(&b'\n') {
        len += 1;
    }
    let lines = bytecount::count(&data[..len], b'\n') as u64;
    let line = lines.max(1);
    let mut scan = CsvBoundary::new(delimiter, QUOTE);
    let _ = scan.last_cut(&data[..len], 0);
    if scan.in_quotes() {
        return Err(Fault { line, message: "unterminated quoted field at end of input".into() });
    }
    let names = record
        .iter()
        .map(|f| String::from_utf8(f.to_vec()).map_err(|_| Fault { line, message: "header is not valid UTF-8".into() }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Header { names, len, lines }))
}

/// The generated names of headerless columns: `column_1`, `column_2`, ...
pub fn generated_names(width: usize) -> Vec<String> {
    (1..=width).map(|i| format!("column_{i}")).collect()
}

/// Where the data of a CSV input starts.
pub struct Start {
    /// The columns: the header's names, or generated ones for `--no-header`.
    pub names: Vec<String>,
    /// Newlines before the first data chunk's first byte (blank lines, the header).
    pub lines: u64,
    /// The first chunk of data, trimmed of the byte-order mark and the header; `None` when the
    /// input has nothing after the header.
    pub first: Option<Chunk>,
}

/// Why an input has no start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("line {}: {}", .0.line, .0.message)]
    Header(Fault),
    #[error("empty input: no header row")]
    Empty,
}

/// Reads the first chunks of a CSV input (record-aligned, as cut by [`CsvBoundary`]) up to its
/// first record: drops a byte-order mark and chunks of blank lines, then takes the header (or,
/// without one, the number of columns) from that record. The chunks after the returned `first`
/// are the rest of the input.
pub fn start(
    chunks: &mut (impl Iterator<Item = Result<Chunk, InputError>> + ?Sized),
    delimiter: u8,
    has_header: bool,
) -> Result<Start, StartError> {
    let mut lines = 0u64;
    while let Some(chunk) = chunks.next() {
        let mut chunk = chunk?;
        if chunk.offset == 0 && chunk.starts_with(BOM) {
            chunk.advance(BOM.len());
        }
        let Some(header) = read_header(&chunk, delimiter).map_err(|f| StartError::Header(offset_fault(f, lines)))?
        else {
            lines += bytecount::count(&chunk, b'\n') as u64;
            continue;
        };
        if !has_header {
            return Ok(Start { names: generated_names(header.names.len()), lines, first: Some(chunk) });
        }
        lines += header.lines;
        chunk.advance(header.len);
        let first = if chunk.is_empty() { chunks.next().transpose()? } else { Some(chunk) };
        return Ok(Start { names: header.names, lines, first });
    }
    Err(StartError::Empty)
}

fn offset_fault(f: Fault, lines: u64) -> Fault {
    Fault { line: f.line + lines, ..f }
}

/// Splits a chunk of records (no header) of `width` fields and hands `visit` the fields of the
/// columns `used` (header indices, in that order; values unescaped) of each record, with the line
/// (`line_base` plus lines from the chunk's start) on which it starts. Blank lines are skipped; a
/// record with another number of fields, malformed quoting the `csv` crate rejects, or a chunk that
/// ends inside quotes (only the input's last chunk can) is a [`Fault`]; `visit` may stop the
/// walk with an error of its own. Returns the number of records.
///
/// Chunks without quotes whose only carriage returns end lines take a fast path (a SIMD separator
/// scan); the others the `csv` crate's parser. Both read the dialect above identically.
pub fn for_each_record<E: From<Fault>>(
    data: &[u8],
    delimiter: u8,
    width: usize,
    used: &[usize],
    line_base: u64,
    visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> Result<u64, E> {
    Ok(records_and_newlines(data, delimiter, width, used, line_base, visit)?.0)
}

/// [`for_each_record`], returning the chunk's number of newlines too: the fast path counts them
/// as it reads, where a pass of its own over the chunk was 3% of a `sum(v1) by id1` run.
pub fn records_and_newlines<E: From<Fault>>(
    data: &[u8],
    delimiter: u8,
    width: usize,
    used: &[usize],
    line_base: u64,
    mut visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> Result<(u64, u64), E> {
    if is_simple(data) {
        simple_records(data, delimiter, width, used, line_base, &mut visit)
    } else {
        let records = csv_records(data, delimiter, width, used, line_base, &mut visit)?;
        Ok((records, bytecount::count(data, b'\n') as u64))
    }
}

/// A chunk without quotes, whose only carriage returns end lines, splits on delimiters and
/// newlines alone; the fast path is then exactly what the `csv` crate would read.
pub fn is_simple(data: &[u8]) -> bool {
    // One pass for both (a pass each was 4% of a `sum(v1) by id1` run).
    memchr::memchr2_iter(QUOTE, b'\r', data).all(|i| data[i] == b'\r' && data.get(i + 1) == Some(&b'\n'))
}

/// Whether a carriage return in the chunk is not followed by a newline.
pub fn has_lone_cr(data: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', data).any(|i| data.get(i + 1) != Some(&b'\n'))
}

/// Whether every quote of a chunk is where RFC 4180 puts it: opening a field (at its start) and
/// closing it (before a delimiter, a line ending or the end of the chunk), or doubled inside it.
/// Readers that differ from the `csv` crate on stray quotes (polars does) agree with it on such a
/// chunk.
pub fn quotes_are_regular(data: &[u8], delimiter: u8) -> bool {
    let mut i = 0usize;
    let n = data.len();
    while let Some(p) = memchr::memchr(QUOTE, &data[i..]) {
        let open = i + p;
        if open > 0 && !matches!(data[open - 1], b'\n' | b'\r') && data[open - 1] != delimiter {
            return false;
        }
        // Find the closing quote, skipping doubled ones.
        let mut j = open + 1;
        loop {
            match memchr::memchr(QUOTE, &data[j..]) {
                None => return false,
                Some(q) if data.get(j + q + 1) == Some(&QUOTE) => j += q + 2,
                Some(q) => {
                    j += q + 1;
                    break;
                }
            }
        }
        if j < n && !matches!(data[j], b'\n' | b'\r') && data[j] != delimiter {
            return false;
        }
        i = j;
    }
    true
}

/// The fast path: one pass over the bytes, splitting fields at delimiters and records at
/// newlines, keeping only the used columns.
///
/// The separators of each 64-byte block are found as a bit mask (one comparison per byte, which
/// the compiler vectorises), then visited with `trailing_zeros`: the cost is per separator, not
/// per byte, as in SIMD CSV parsers. A record is read in one loop whose state stays in registers
/// (a function called per separator, keeping its state in a struct, was a third of a
/// `sum(v1) by id1` run's time).
fn simple_records<E: From<Fault>>(
    data: &[u8],
    d: u8,
    width: usize,
    used: &[usize],
    line_base: u64,
    visit: &mut impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> Result<(u64, u64), E> {
    // The used slot of each column; columns past the width (a record too long) feed none.
    let mut slot_of = vec![usize::MAX; width + 1];
    for (pos, &idx) in used.iter().enumerate() {
        slot_of[idx] = pos;
    }
    let mut fields: Vec<&[u8]> = vec![&[][..]; used.len()];
    let mut seps = Separators::new(data, d);
    let n = data.len();
    let (mut line, mut records, mut newlines, mut row_start) = (line_base, 0u64, 0u64, 0usize);
    while row_start < n {
        line += 1;
        let (mut col, mut field_start) = (0usize, row_start);
        let (at, found) = loop {
            let at = seps.next();
            if at < n && data[at] == d {
                let slot = slot_of[col.min(width)];
                if slot != usize::MAX {
                    fields[slot] = &data[field_start..at];
                }
                col += 1;
                field_start = at + 1;
                continue;
            }
            // A newline, or the end of the data: the record's last field, without a CR before
            // the newline.
            let mut field_end = at;
            if field_end > field_start && data[field_end - 1] == b'\r' {
                field_end -= 1;
            }
            if col == 0 && field_end == row_start {
                break (at, None); // a blank line, as the csv crate and pandas skip it
            }
            let slot = slot_of[col.min(width)];
            if slot != usize::MAX {
                fields[slot] = &data[field_start..field_end];
            }
            break (at, Some(col + 1));
        };
        row_start = at + 1;
        newlines += u64::from(at < n);
        if let Some(found) = found {
            if found != width {
                let message = format!("expected {width} fields, found {found}");
                return Err(Fault { line, message }.into());
            }
            records += 1;
            visit(&fields, line)?;
        }
    }
    Ok((records, newlines))
}

/// The positions of a chunk's separators (delimiters and newlines) in order, a 64-byte block's
/// bit mask at a time; past the last, the chunk's length.
struct Separators<'d> {
    data: &'d [u8],
    d: u8,
    /// Where the block of `mask` starts, and where the next one does.
    base: usize,
    next_block: usize,
    mask: u64,
}

impl<'d> Separators<'d> {
    fn new(data: &'d [u8], d: u8) -> Self {
        Separators { data, d, base: 0, next_block: 0, mask: 0 }
    }

    #[inline(always)]
    fn next(&mut self) -> usize {
        let n = self.data.len();
        while self.mask == 0 {
            if self.next_block >= n {
                return n;
            }
            self.base = self.next_block;
            let end = (self.base + 64).min(n);
            let block = &self.data[self.base..end];
            self.mask = match block.try_into() {
                Ok(block) => separator_mask(block, self.d),
                Err(_) => {
                    block.iter().enumerate().fold(0u64, |m, (j, &b)| m | ((((b == self.d) | (b == b'\n')) as u64) << j))
                }
            };
            self.next_block = end;
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        at
    }
}

/// Bit `j` is set where `block[j]` is the delimiter or a newline.
#[cfg(target_arch = "x86_64")]
fn separator_mask(block: &[u8; 64], d: u8) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline, and each unaligned 16-byte load reads inside
    // the 64-byte array.
    unsafe {
        let (dv, nl) = (_mm_set1_epi8(d as i8), _mm_set1_epi8(b'\n' as i8));
        let mut mask = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let hits = _mm_or_si128(_mm_cmpeq_epi8(v, dv), _mm_cmpeq_epi8(v, nl));
            mask |= (_mm_movemask_epi8(hits) as u16 as u64) << (16 * k);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn separator_mask(block: &[u8; 64], d: u8) -> u64 {
    block.iter().enumerate().fold(0u64, |m, (j, &b)| m | ((((b == d) | (b == b'\n')) as u64) << j))
}

/// The general path: the `csv` crate's parser (quotes, doubled quotes, newlines in fields, lone
/// carriage returns).
fn csv_records<E: From<Fault>>(
    data: &[u8],
    d: u8,
    width: usize,
    used: &[usize],
    line_base: u64,
    visit: &mut impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> Result<u64, E> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(d).from_reader(data);
    let mut record = csv::ByteRecord::new();
    let mut lines = RecordLines::new(data);
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(used.len());
    let mut records = 0u64;
    // Where the last record read starts.
    let mut last_line = line_base + 1;
    loop {
        let start = reader.position().byte();
        let read = reader.read_byte_record(&mut record);
        let line = line_base + lines.line_at(start);
        match read {
            Ok(false) => break,
            Ok(true) => last_line = line,
            Err(e) => return Err(Fault { line, message: format!("malformed CSV: {e}") }.into()),
        }
        if record.len() != width {
            return Err(Fault { line, message: format!("expected {width} fields, found {}", record.len()) }.into());
        }
        ranges.clear();
        ranges.extend(used.iter().map(|&i| record.range(i).expect("a field of the record")));
        let bytes = record.as_slice();
        let fields: Vec<&[u8]> = ranges.iter().map(|r| &bytes[r.clone()]).collect();
        records += 1;
        visit(&fields, line)?;
    }
    // The chunker only cuts outside quotes, so a chunk that ends inside them is the input's end.
    let mut scan = CsvBoundary::new(d, QUOTE);
    let _ = scan.last_cut(data, 0);
    if scan.in_quotes() {
        return Err(Fault { line: last_line, message: "unterminated quoted field at end of input".to_string() }.into());
    }
    Ok(records)
}

/// The line (1-based, from the chunk's start) on which record `record` (1-based) of a chunk
/// starts, as [`for_each_record`] counts records (blank lines are not records).
pub fn line_of_record(data: &[u8], d: u8, record: u64) -> u64 {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(d).from_reader(data);
    let mut row = csv::ByteRecord::new();
    let mut lines = RecordLines::new(data);
    let mut seen = 0u64;
    loop {
        let start = reader.position().byte();
        let read = reader.read_byte_record(&mut row);
        let line = lines.line_at(start);
        match read {
            Ok(true) => {
                seen += 1;
                if seen == record {
                    return line;
                }
            }
            _ => return line,
        }
    }
}

/// The lines on which the records of a chunk start, counted from the bytes: the `csv` crate's own
/// line count lags after a CRLF (it ends a record at the `\r` and counts the `\n` when it reads
/// the next one).
struct RecordLines<'d> {
    data: &'d [u8],
    counted_to: usize,
    newlines: u64,
}

impl<'d> RecordLines<'d> {
    fn new(data: &'d [u8]) -> Self {
        RecordLines { data, counted_to: 0, newlines: 0 }
    }

    /// The line (1-based) of the record that starts at byte `from` or after the line endings
    /// there (the rest of a CRLF, blank lines); `from` never goes backwards.
    fn line_at(&mut self, from: u64) -> u64 {
        let mut start = (from as usize).max(self.counted_to).min(self.data.len());
        while start < self.data.len() && matches!(self.data[start], b'\r' | b'\n') {
            start += 1;
        }
        self.newlines += bytecount::count(&self.data[self.counted_to..start], b'\n') as u64;
        self.counted_to = start;
        self.newlines + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(data: &[u8], width: usize) -> Result<Vec<(Vec<String>, u64)>, Fault> {
        let used: Vec<usize> = (0..width).collect();
        let mut out = Vec::new();
        for_each_record(data, b',', width, &used, 0, |f, line| {
            out.push((f.iter().map(|x| String::from_utf8_lossy(x).into_owned()).collect(), line));
            Ok::<(), Fault>(())
        })?;
        Ok(out)
    }

    fn row(fields: &[&str], line: u64) -> (Vec<String>, u64) {
        (fields.iter().map(|s| s.to_string()).collect(), line)
    }

    /// What a path reads from a chunk: each record's used fields and line, or the fault.
    type Read = Result<Vec<(Vec<Vec<u8>>, u64)>, Fault>;

    fn read_with(fast: bool, data: &[u8], width: usize, used: &[usize]) -> Read {
        let mut out = Vec::new();
        let mut visit = |f: &[&[u8]], line| {
            out.push((f.iter().map(|x| x.to_vec()).collect(), line));
            Ok::<(), Fault>(())
        };
        let records = if fast {
            let (records, newlines) = simple_records(data, b',', width, used, 10, &mut visit)?;
            assert_eq!(newlines, bytecount::count(data, b'\n') as u64);
            records
        } else {
            csv_records(data, b',', width, used, 10, &mut visit)?
        };
        assert_eq!(records, out.len() as u64);
        Ok(out)
    }

    proptest::proptest! {
        /// The fast path reads every chunk it takes (no quotes, no lone carriage return) as the
        /// `csv` crate's path does: fields, lines, blank lines, a last record without a newline,
        /// and the fault of a record with too few or too many fields. Pieces of up to 70 bytes
        /// put separators on and across the 64-byte blocks' edges.
        #[test]
        fn the_fast_path_reads_as_the_csv_crate(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b",".to_vec()),
                    proptest::strategy::Just(b"\n".to_vec()),
                    proptest::strategy::Just(b"\r\n".to_vec()),
                    proptest::collection::vec(proptest::sample::select(b"ab\t 7".to_vec()), 0..70),
                ],
                0..40,
            ),
            width in 1usize..5,
            pick in proptest::collection::vec(proptest::bool::ANY, 5),
        ) {
            let data = pieces.concat();
            let used: Vec<usize> = (0..width).filter(|&c| pick[c]).collect();
            proptest::prop_assume!(is_simple(&data));
            let (fast, general) = (read_with(true, &data, width, &used), read_with(false, &data, width, &used));
            proptest::prop_assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(&data));
        }
    }

    #[test]
    fn blank_lines_are_skipped_but_an_empty_quoted_field_is_a_record() {
        for data in [&b"\n\"\"\n\r\nx\n"[..], b"\r\n\"\"\r\n\nx", b"\n\"\"\n\nx\r\n"] {
            let got = records(data, 1).unwrap();
            assert_eq!(got, vec![row(&[""], 2), row(&["x"], 4)], "{:?}", String::from_utf8_lossy(data));
        }
        assert_eq!(records(b"a,b\n\n\r\nc,d", 2).unwrap(), vec![row(&["a", "b"], 1), row(&["c", "d"], 4)]);
    }

    #[test]
    fn both_paths_read_lone_carriage_returns_and_crlf_alike() {
        assert_eq!(
            records(b"a,b\rc,d\r\ne,f", 2).unwrap(),
            vec![row(&["a", "b"], 1), row(&["c", "d"], 1), row(&["e", "f"], 2)]
        );
        assert_eq!(records(b"a,b\r\n\"c\",d\r\n", 2).unwrap(), vec![row(&["a", "b"], 1), row(&["c", "d"], 2)]);
    }

    #[test]
    fn field_counts_and_open_quotes_are_faults() {
        assert_eq!(
            records(b"a,b\nc\n", 2).unwrap_err(),
            Fault { line: 2, message: "expected 2 fields, found 1".into() }
        );
        assert_eq!(records(b"a,b\n\"\"\n", 2).unwrap_err().message, "expected 2 fields, found 1");
        let open = records(b"a,b\nc,\"d\n", 2).unwrap_err();
        assert_eq!(open, Fault { line: 2, message: "unterminated quoted field at end of input".into() });
    }

    #[test]
    fn the_header_is_unescaped_and_ends_after_its_crlf() {
        let data = b"\r\n\"foo \"\"bar\",b\r\n1,2\r\n";
        let h = read_header(data, b',').unwrap().unwrap();
        assert_eq!(h.names, ["foo \"bar", "b"]);
        assert_eq!((&data[h.len..], h.lines), (&b"1,2\r\n"[..], 2));
        assert_eq!(read_header(b"\n\r\n", b',').unwrap(), None);
        assert_eq!(read_header(b"\"a,b\n", b',').unwrap_err().message, "unterminated quoted field at end of input");
    }

    #[test]
    fn start_skips_the_bom_and_chunks_of_blank_lines() {
        let chunks = |parts: &[&[u8]]| {
            let mut offset = 0u64;
            parts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let c = Chunk::from_vec(i, offset, p.to_vec());
                    offset += p.len() as u64;
                    Ok(c)
                })
                .collect::<Vec<_>>()
                .into_iter()
        };
        let mut it = chunks(&[b"\xEF\xBB\xBF\n", b"\r\n", b"k,v\r\nx,1\n", b"y,2\n"]);
        let s = start(&mut it, b',', true).unwrap();
        assert_eq!((s.names.clone(), s.lines), (vec!["k".to_string(), "v".to_string()], 3));
        assert_eq!(&*s.first.unwrap(), b"x,1\n");
        assert_eq!(it.count(), 1);
        let s = start(&mut chunks(&[b"\xEF\xBB\xBFa,b\n"]), b',', false).unwrap();
        assert_eq!(
            (s.names, &*s.first.unwrap()),
            (vec!["column_1".to_string(), "column_2".to_string()], &b"a,b\n"[..])
        );
        assert!(matches!(start(&mut chunks(&[b"\n", b"\n"]), b',', true), Err(StartError::Empty)));
        assert!(start(&mut chunks(&[b"k\n"]), b',', true).unwrap().first.is_none());
        let s = start(&mut chunks(&[b"k\n", b"x\n"]), b',', true).unwrap();
        assert_eq!(&*s.first.unwrap(), b"x\n");
    }

    #[test]
    fn regular_quotes() {
        for ok in [&b"a,\"b,c\"\n\"d\"\"e\",f\r\n"[..], b"\"\"\n", b"x,\"\"", b"\"a\nb\",c\n"] {
            assert!(quotes_are_regular(ok, b','), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [&b"a\"b,c\n"[..], b"\"a\"b,c\n", b"\"open,c\n", b"x,\"a\" \n"] {
            assert!(!quotes_are_regular(bad, b','), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
