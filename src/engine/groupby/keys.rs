//! Group keys: a record's key fields as one byte string while aggregating, typed at the end.
//!
//! While rows are aggregated a key is its fields' bytes (nulls, empty or a `--null-values`
//! marker, as one tag), so that finding a row's group costs a hash of bytes and no parsing. The
//! column's type is known only at the end (one `x` makes a column text), and a numeric key column
//! groups by value, as pandas, polars and DuckDB do: `7`, `07`, `+7`, ` 7` and `7.0` are one group
//! in a numeric column, five byte-exact ones in a text column. So at the end each group's key is
//! parsed once ([`KeyField::read`]) and coded as its column's type (`finish`: an integer's offset,
//! a float's ordered bits, a text's rank), and the groups whose codes are equal are merged, which only happens where a number was spelled otherwise than
//! pframe prints it. The states' merge is order-free (first/last carry their rows' positions), so
//! merging groups at the end is exact.

use crate::input::value::{KeyNum, NullValues, parse_num};

/// A field's tag byte: `NULL`; `1 + len` for a field of fewer than `LONG - 1` bytes, whose bytes
/// follow; `LONG`, then the length as 4 little-endian bytes, then the bytes. Most keys (a word, an
/// id) cost one byte more than their text, so that they fit a hash table slot.
const NULL: u8 = 0;
const LONG: u8 = u8::MAX;

/// Appends the encoding of one key field: a null tag, or the field's length and bytes.
#[inline]
pub fn encode_field(out: &mut Vec<u8>, field: &[u8], nulls: &NullValues) {
    if nulls.is_null(field) {
        out.push(NULL);
    } else if field.len() < usize::from(LONG - 1) {
        out.push(field.len() as u8 + 1);
        out.extend_from_slice(field);
    } else {
        out.push(LONG);
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field);
    }
}

/// The fields of an encoded key, in order: `None` for a null.
pub fn raw_fields(mut key: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    std::iter::from_fn(move || {
        let (&tag, rest) = key.split_first()?;
        let (len, rest) = match tag {
            NULL => {
                key = rest;
                return Some(None);
            }
            LONG => (u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize, &rest[4..]),
            short => (usize::from(short - 1), rest),
        };
        let field = &rest[..len];
        key = &rest[len..];
        Some(Some(field))
    })
}

/// Whether a field is an integer spelled as pframe prints one: `0`, or an optional `-` and at
/// most 18 digits, the first not `0`. (In an integer column, a key of such fields alone is one
/// value's only spelling: its group holds every row of that value.)
pub fn printed_int(raw: &[u8]) -> bool {
    let digits = raw.strip_prefix(b"-").unwrap_or(raw);
    (1..=18).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) && (digits[0] != b'0' || raw == b"0")
}

/// How a key column's fields are read: as the input has them, or as declared by `--schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    Inferred,
    /// A declared `str` column: every field is text, never a number.
    Text,
}

/// One key field, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyField<'k> {
    Null,
    /// A number spelled as pframe prints it (`7`, `-2`, `0.5`).
    Num(KeyNum),
    /// A number spelled otherwise (`07`, `+7`, `7.0`, `1e3`): its value and its text.
    NumText(KeyNum, &'k [u8]),
    Text(&'k [u8]),
}

impl<'k> KeyField<'k> {
    pub fn read(raw: Option<&'k [u8]>, rule: KeyRule) -> KeyField<'k> {
        let Some(raw) = raw else { return KeyField::Null };
        let num = match rule {
            KeyRule::Text => None,
            KeyRule::Inferred => parse_num(raw),
        };
        match num.map(KeyNum::of) {
            Some(k) if k.is_spelled(raw) => KeyField::Num(k),
            Some(k) => KeyField::NumText(k, raw),
            None => KeyField::Text(raw),
        }
    }

    /// The number of a field, if [`KeyField::read`] reads one, without `read`'s check of how it
    /// is spelled: all that coding a numeric key needs. (The check formats a float: with a float
    /// key per group, formatting each was a tenth of the run.)
    #[inline]
    pub fn number(raw: &[u8], rule: KeyRule) -> Option<KeyNum> {
        match rule {
            KeyRule::Text => None,
            KeyRule::Inferred => parse_num(raw).map(KeyNum::of),
        }
    }

    /// The integer of a field, if [`KeyField::read`] reads one: `-?digits` of at most 15 digits
    /// (what the parser's fast path reads as that integer) read here directly, with no check of
    /// its spelling; the rest as `read` reads them. Coding an integer key column reads every
    /// group's field twice (its range, then its code): the parse and spelling check were a fifth
    /// of that.
    #[inline]
    pub fn int(raw: &[u8], rule: KeyRule) -> Option<i64> {
        let digits = raw.strip_prefix(b"-").unwrap_or(raw);
        if matches!(rule, KeyRule::Inferred)
            && (1..=15).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
        {
            let v = digits.iter().fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
            return Some(if digits.len() < raw.len() { -v } else { v });
        }
        match KeyField::number(raw, rule) {
            Some(KeyNum::Int(v)) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_number_read_as_that_number_and_keep_their_text() {
        // A numeric column groups them by the number; a text column by the text they keep.
        for s in ["7", "07", "+7", " 7", "7.0"] {
            match KeyField::read(Some(s.as_bytes()), KeyRule::Inferred) {
                KeyField::Num(n) => assert_eq!((n, s), (KeyNum::Int(7), "7")),
                KeyField::NumText(n, t) => assert_eq!((n, t), (KeyNum::Int(7), s.as_bytes()), "{s:?}"),
                other => panic!("{s:?} read as {other:?}"),
            }
        }
        assert_eq!(KeyField::read(Some(b"07"), KeyRule::Text), KeyField::Text(b"07"));
        assert_eq!(KeyField::read(None, KeyRule::Inferred), KeyField::Null);
    }

    #[test]
    fn an_integer_field_reads_as_read_reads_it() {
        let fields =
            ["7", "07", "-7", "-0", "0", "+7", " 7", "7.0", "123456789012345", "1234567890123456", "-", "", "x1"];
        for f in fields.iter().map(|f| f.as_bytes()).chain([&b"-9223372036854775808"[..], b"99999999999999999999"]) {
            for rule in [KeyRule::Inferred, KeyRule::Text] {
                let read = match KeyField::read(Some(f), rule) {
                    KeyField::Num(KeyNum::Int(v)) | KeyField::NumText(KeyNum::Int(v), _) => Some(v),
                    _ => None,
                };
                assert_eq!(KeyField::int(f, rule), read, "{:?}", String::from_utf8_lossy(f));
            }
        }
        assert_eq!(KeyField::int(b"-0042", KeyRule::Inferred), Some(-42));
    }

    #[test]
    fn integers_printed_as_pframe_prints_them() {
        for s in ["0", "7", "-7", "10", "-120", "123456789012345678"] {
            assert!(printed_int(s.as_bytes()), "{s}");
            let printed = match KeyField::read(Some(s.as_bytes()), KeyRule::Inferred) {
                KeyField::Num(KeyNum::Int(v)) => v.to_string(),
                other => panic!("{s:?} read as {other:?}"),
            };
            assert_eq!(printed, s);
        }
        for s in ["", "-", "-0", "07", "-07", "+7", " 7", "7 ", "7.0", "1e3", "1234567890123456789", "x"] {
            assert!(!printed_int(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn raw_fields_read_back() {
        let mut key = Vec::new();
        let nulls = NullValues::parse("NA");
        for f in ["", "NA", "1.5", "abc"] {
            encode_field(&mut key, f.as_bytes(), &nulls);
        }
        let got: Vec<Option<&[u8]>> = raw_fields(&key).collect();
        assert_eq!(got, [None, None, Some(&b"1.5"[..]), Some(&b"abc"[..])]);
        let kinds: Vec<KeyField> = got.iter().map(|r| KeyField::read(*r, KeyRule::Inferred)).collect();
        assert_eq!(kinds[2], KeyField::Num(KeyNum::Float(1.5f64.to_bits())));
        assert_eq!(KeyField::read(Some(b"1e3"), KeyRule::Inferred), KeyField::NumText(KeyNum::Int(1000), b"1e3"));
        // Lengths either side of the short form's limit, and a long field between short ones.
        for n in [252, 253, 254, 255, 70_000] {
            let long = vec![b'x'; n];
            let mut key = Vec::new();
            for f in [&b"a"[..], &long, b"", b"b"] {
                encode_field(&mut key, f, &NullValues::default());
            }
            let got: Vec<Option<&[u8]>> = raw_fields(&key).collect();
            assert_eq!(got, [Some(&b"a"[..]), Some(&long[..]), None, Some(&b"b"[..])], "{n}");
        }
    }
}
