//! CSV and TSV records written into a buffer, byte for byte as the `csv` crate writes them with
//! its defaults (quote style "necessary", `\n` terminators): a field is quoted when it holds the
//! delimiter, a quote, `\n` or `\r` (quotes inside doubled), and a record of no bytes is `""`.
//! Written by hand because the crate's writer runs a state machine per field, and a cell is most
//! of what a result costs to write; numbers need no quoting check at all.

use super::Value;
use super::number::{Number, push_bytes};

/// Writes records into a buffer, a field at a time.
pub struct Delimited {
    delimiter: u8,
    /// Fields written in the current record.
    fields: usize,
    /// Where the current record starts in the buffer.
    record_start: usize,
}

impl Delimited {
    /// A writer of records separated by `delimiter`, which must not be a byte of a number's text.
    pub fn new(delimiter: u8) -> Delimited {
        assert!(!b"0123456789+-.eEinfNa".contains(&delimiter), "a number's text would hold the delimiter");
        Delimited { delimiter, fields: 0, record_start: 0 }
    }

    #[inline]
    fn separate(&mut self, out: &mut Vec<u8>) {
        if self.fields == 0 {
            self.record_start = out.len();
        } else {
            out.push(self.delimiter);
        }
        self.fields += 1;
    }

    /// Appends a text field, quoted when it must be.
    #[inline]
    pub fn text(&mut self, out: &mut Vec<u8>, field: &[u8]) {
        self.separate(out);
        let d = self.delimiter;
        // No early exit: the loop runs over whole vectors of bytes.
        let quote = field.iter().fold(false, |q, &b| q | (b == d) | (b == b'"') | (b == b'\n') | (b == b'\r'));
        if !quote {
            push_bytes(out, field);
            return;
        }
        out.reserve(field.len() + 2);
        out.push(b'"');
        for part in field.split_inclusive(|&b| b == b'"') {
            out.extend_from_slice(part);
            if part.last() == Some(&b'"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    }

    /// Appends the text field `word[..n]` (`n` at most 16; the rest of `word` is not read as
    /// text), quoted when it must be: the text held in a register, its bytes checked at once.
    #[inline]
    pub fn short_text(&mut self, out: &mut Vec<u8>, word: [u8; 16], n: usize) {
        debug_assert!(n <= 16);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the load reads the 16 bytes of `word`.
            let special = unsafe {
                let v = _mm_loadu_si128(word.as_ptr().cast());
                let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
                let any = _mm_or_si128(_mm_or_si128(eq(self.delimiter), eq(b'"')), _mm_or_si128(eq(b'\n'), eq(b'\r')));
                _mm_movemask_epi8(any) as u32 & ((1u32 << n) - 1)
            };
            if special == 0 {
                self.separate(out);
                push_bytes(out, &word[..n]);
                return;
            }
        }
        self.text(out, &word[..n]);
    }

    /// Appends a text field known to hold none of the bytes that are quoted for: the delimiter, a
    /// quote, `\n` or `\r`.
    #[inline]
    pub fn plain(&mut self, out: &mut Vec<u8>, field: &[u8]) {
        debug_assert!(!field.iter().any(|&b| b == self.delimiter || b"\"\n\r".contains(&b)));
        self.separate(out);
        push_bytes(out, field);
    }

    /// Appends a number field.
    #[inline]
    pub fn number(&mut self, out: &mut Vec<u8>, n: Number) {
        self.separate(out);
        n.push(out);
    }

    /// Appends a value: text quoted when it must be, a null as an empty field.
    #[inline]
    pub fn value(&mut self, out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Str(s) => self.text(out, s.as_bytes()),
            Value::Null => self.text(out, b""),
            Value::Int(n) => self.number(out, Number::Int(*n)),
            Value::UInt(n) => self.number(out, Number::UInt(*n)),
            Value::Float(x) => self.number(out, Number::Float(*x)),
        }
    }

    /// Ends the record: one of no bytes (no fields, or one empty field) is written `""`.
    #[inline]
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.fields == 0 || (self.fields == 1 && out.len() == self.record_start) {
            out.extend_from_slice(b"\"\"");
        }
        out.push(b'\n');
        self.fields = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `csv` crate's bytes for the records.
    fn csv_crate(records: &[Vec<Vec<u8>>], delimiter: u8) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new().delimiter(delimiter).flexible(true).from_writer(Vec::new());
        for r in records {
            w.write_record(r).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn ours(records: &[Vec<Vec<u8>>], delimiter: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Delimited::new(delimiter);
        for r in records {
            for f in r {
                w.text(&mut out, f);
            }
            w.end(&mut out);
        }
        out
    }

    #[test]
    fn quoting_as_the_csv_crate_quotes() {
        let cases: Vec<Vec<Vec<u8>>> = vec![
            vec![b"plain".to_vec(), b"a,b".to_vec(), b"say \"hi\"".to_vec()],
            vec![b"".to_vec()],
            vec![b"".to_vec(), b"".to_vec()],
            vec![b"two\nlines".to_vec(), b"cr\r".to_vec(), b"tab\there".to_vec(), b"\"".to_vec()],
            vec![],
            vec![vec![0xff, b'"', 0xfe]],
        ];
        for d in [b',', b'\t', b';', b'|'] {
            assert_eq!(String::from_utf8_lossy(&ours(&cases, d)), String::from_utf8_lossy(&csv_crate(&cases, d)));
        }
    }

    #[test]
    fn numbers_are_written_as_they_are() {
        let mut out = Vec::new();
        let mut w = Delimited::new(b',');
        w.number(&mut out, Number::Int(-3));
        w.text(&mut out, b"");
        w.number(&mut out, Number::Float(0.5));
        w.end(&mut out);
        w.number(&mut out, Number::UInt(7));
        w.end(&mut out);
        assert_eq!(out, b"-3,,0.5\n7\n");
    }

    proptest! {
        #[test]
        fn any_fields_as_the_csv_crate_writes_them(
            records in prop::collection::vec(
                prop::collection::vec(prop::collection::vec(prop::sample::select(b"a,\t\"\n\r x".to_vec()), 0..6), 0..4),
                0..6,
            ),
            tab in any::<bool>(),
        ) {
            let d = if tab { b'\t' } else { b',' };
            prop_assert_eq!(ours(&records, d), csv_crate(&records, d));
            // The same fields of up to 16 bytes from a word, whatever follows them there.
            let mut out = Vec::new();
            let mut w = Delimited::new(d);
            for r in &records {
                for f in r {
                    let mut word = [b'"'; 16];
                    word[..f.len()].copy_from_slice(f);
                    w.short_text(&mut out, word, f.len());
                }
                w.end(&mut out);
            }
            prop_assert_eq!(out, csv_crate(&records, d));
        }
    }
}
