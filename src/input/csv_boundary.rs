//! Record boundaries of CSV: a `\n` ends a record unless it is inside a quoted field.
//!
//! The scanner follows the quoting rules of the `csv` crate's parser (csv-core), so that a chunk
//! never ends where the parser would see the middle of a record: a quote opens a quoted field only
//! at the start of a field (after a delimiter, a line ending, or at the start of the chunk, which
//! is always a record boundary); inside a quoted field `""` is an escaped quote and a single `"`
//! closes it; a quote in the middle of an unquoted field is an ordinary character. Tracking mere
//! quote parity (as some readers do, polars#19078) goes wrong on such stray quotes.
//!
//! The scan jumps between the only bytes that matter, quotes and newlines, with `memchr2`, so on
//! typical data it runs at memory speed.

use super::Boundary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside quotes.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: `"` again is an escaped quote, anything else
    /// closes the field.
    QuoteInQuoted,
}

/// Finds record ends in CSV with the given delimiter and quote bytes.
#[derive(Debug, Clone)]
pub struct CsvBoundary {
    delimiter: u8,
    quote: u8,
    scanned: usize,
    state: State,
    /// End of the last record seen by `last_cut`.
    last_end: Option<usize>,
}

impl CsvBoundary {
    pub fn new(delimiter: u8, quote: u8) -> Self {
        CsvBoundary { delimiter, quote, scanned: 0, state: State::Unquoted, last_end: None }
    }

    /// Whether the quote at `at` opens a quoted field: it does at the start of a field, that is at
    /// the start of the chunk or after a delimiter or a line ending.
    fn opens_field(&self, buf: &[u8], at: usize) -> bool {
        at == 0 || matches!(buf[at - 1], b'\n' | b'\r') || buf[at - 1] == self.delimiter
    }

    /// One step inside a quoted field from `buf[i]`: to just past the next quote, or past an
    /// escaped `""`, or (after a closing quote) back to unquoted state without consuming the byte,
    /// which then starts the next field or continues this one, as csv-core reads it. Returns the
    /// new position.
    fn step_quoted(&mut self, buf: &[u8], i: usize) -> usize {
        let q = self.quote;
        match self.state {
            State::Quoted => match memchr::memchr(q, &buf[i..]) {
                None => buf.len(),
                Some(p) => {
                    self.state = State::QuoteInQuoted;
                    i + p + 1
                }
            },
            State::QuoteInQuoted if buf[i] == q => {
                self.state = State::Quoted;
                i + 1
            }
            _ => {
                self.state = State::Unquoted;
                i
            }
        }
    }

    /// Whether the chunk scanned so far ends inside a quoted field (an unterminated quote, if the
    /// input ends here).
    pub fn in_quotes(&self) -> bool {
        self.state == State::Quoted
    }
}

impl Boundary for CsvBoundary {
    fn reset(&mut self) {
        self.scanned = 0;
        self.state = State::Unquoted;
        self.last_end = None;
    }

    fn last_cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        // Walk quote to quote; the last newline of each stretch outside quotes is a record end.
        let q = self.quote;
        let mut i = self.scanned;
        let n = buf.len();
        while i < n {
            match self.state {
                State::Unquoted => {
                    let stop = match memchr::memchr(q, &buf[i..]) {
                        Some(p) => i + p,
                        None => n,
                    };
                    if let Some(p) = memchr::memrchr(b'\n', &buf[i..stop]) {
                        self.last_end = Some(i + p + 1);
                    }
                    if stop < n && self.opens_field(buf, stop) {
                        self.state = State::Quoted;
                    }
                    i = stop + 1;
                }
                State::Quoted | State::QuoteInQuoted => i = self.step_quoted(buf, i),
            }
        }
        self.scanned = n;
        self.last_end.filter(|&end| end >= want)
    }

    fn cut(&mut self, buf: &[u8], want: usize) -> Option<usize> {
        let q = self.quote;
        let mut i = self.scanned;
        let n = buf.len();
        while i < n {
            match self.state {
                State::Unquoted => {
                    // Before `want`, only quotes matter: jump from quote to quote. From `want - 1`
                    // on, the first newline outside quotes is the answer. Delimiters and earlier
                    // newlines are dense in CSV, so rather than stopping at each one, look back
                    // from a quote to see whether it opens a field (the chunk itself starts on a
                    // record boundary).
                    let before = want.saturating_sub(1).min(n);
                    let found = if i < before {
                        match memchr::memchr(q, &buf[i..before]) {
                            Some(p) => Some(i + p),
                            None => {
                                i = before;
                                continue;
                            }
                        }
                    } else {
                        memchr::memchr2(b'\n', q, &buf[i..]).map(|p| i + p)
                    };
                    match found {
                        None => i = n,
                        Some(at) => {
                            i = at + 1;
                            if buf[at] == b'\n' {
                                self.scanned = i;
                                return Some(i);
                            }
                            if self.opens_field(buf, at) {
                                self.state = State::Quoted;
                            }
                        }
                    }
                }
                State::Quoted | State::QuoteInQuoted => i = self.step_quoted(buf, i),
            }
        }
        self.scanned = n;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Chunker;

    fn cut_all(input: &[u8], chunk_size: usize) -> Vec<Vec<u8>> {
        Chunker::from_reader("t", std::io::Cursor::new(input.to_vec()), chunk_size, CsvBoundary::new(b',', b'"'))
            .map(|c| c.unwrap().to_vec())
            .collect()
    }

    /// Record ends as the csv crate sees them.
    fn records(input: &[u8]) -> Vec<csv::StringRecord> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input)
            .records()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn newlines_inside_quotes_never_end_a_chunk() {
        let input = b"id,text\n1,\"a\nb\"\n2,\"say \"\"hi\"\"\nthere\"\n3,plain\n4,\"\"\n5,x\"y\n6,\"q\"\"\n\"\n";
        let whole = records(input);
        for size in 1..input.len() + 2 {
            let chunks = cut_all(input, size);
            assert_eq!(chunks.concat(), input.to_vec());
            let pieces: Vec<csv::StringRecord> = chunks.iter().flat_map(|c| records(c)).collect();
            assert_eq!(pieces, whole, "size {size}: {chunks:?}");
        }
    }

    #[test]
    fn a_stray_quote_inside_an_unquoted_field_is_data() {
        // 5'11" is a height, not the start of a quoted field: every line is a record.
        let input = b"name,height\nann,5'11\"\nbob,6'0\"\ncy,5\n";
        let mut boundary = CsvBoundary::new(b',', b'"');
        assert_eq!(boundary.cut(input, 13), Some(22));
        assert!(!boundary.in_quotes());
        for size in 1..input.len() {
            let chunks = cut_all(input, size);
            let pieces: Vec<csv::StringRecord> = chunks.iter().flat_map(|c| records(c)).collect();
            assert_eq!(pieces, records(input), "size {size}");
        }
    }

    proptest::proptest! {
        /// Any CSV-ish bytes (quotes at and inside fields, doubled quotes, CR, LF, delimiters),
        /// cut at any size: the records of the pieces are the records of the whole.
        #[test]
        fn chunks_never_split_a_record(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b1", ",", "\"", "\"\"", "\n", "\r\n", "\r", " "]),
                0..80,
            ),
            size in 1usize..40,
        ) {
            let input: Vec<u8> = pieces.concat().into_bytes();
            // Only inputs the csv crate reads to the end without an open quote are well defined.
            let mut whole = CsvBoundary::new(b',', b'"');
            let _ = whole.last_cut(&input, 0);
            proptest::prop_assume!(!whole.in_quotes());
            let chunks = cut_all(&input, size);
            proptest::prop_assert_eq!(chunks.concat(), input.clone());
            let parts: Vec<csv::StringRecord> = chunks.iter().flat_map(|c| records(c)).collect();
            proptest::prop_assert_eq!(parts, records(&input));
        }
    }
}
