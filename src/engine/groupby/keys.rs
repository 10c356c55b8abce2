//! Group keys: a record's key fields as one byte string while aggregating, typed at the end.
//!
//! While rows are aggregated a key is its fields' bytes (nulls, empty or a `--null-values`
//! marker, as one tag), so that finding a row's group costs a hash of bytes and no parsing. The
//! column's type is known only at the end (one `x` makes a column text), and a numeric key column
//! groups by value, as pandas, polars and DuckDB do: `7`, `07`, `+7`, ` 7` and `7.0` are one group
//! in a numeric column, five byte-exact ones in a text column. So at the end each group's key is
//! parsed once ([`KeyField::read`]), typed by its column ([`KeyValue::of`]), and the groups whose
//! typed keys are equal are merged, which only happens where a number was spelled otherwise than
//! pframe prints it. The states' merge is order-free (first/last carry their rows' positions), so
//! merging groups at the end is exact.

use std::cmp::Ordering;

use crate::input::value::{KeyNum, Kind, NullValues, parse_num};

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
}

/// A key field read as its column's final type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Null,
    Num(KeyNum),
    Text(Box<[u8]>),
}

impl KeyValue {
    /// Reads field `f` of a column of kind `kind` (integer, float or text).
    pub fn of(f: KeyField<'_>, kind: Kind) -> KeyValue {
        let numeric = matches!(kind, Kind::Int | Kind::Float);
        match f {
            KeyField::Null => KeyValue::Null,
            KeyField::Num(n) | KeyField::NumText(n, _) if numeric => KeyValue::Num(n),
            KeyField::Num(n) => KeyValue::Text(spelling(n).into_bytes().into()),
            KeyField::NumText(_, t) | KeyField::Text(t) => KeyValue::Text(t.into()),
        }
    }
}

/// The result's order: numbers by value, text by bytes, nulls last.
impl Ord for KeyValue {
    fn cmp(&self, other: &KeyValue) -> Ordering {
        match (self, other) {
            (KeyValue::Null, KeyValue::Null) => Ordering::Equal,
            (KeyValue::Null, _) => Ordering::Greater,
            (_, KeyValue::Null) => Ordering::Less,
            (KeyValue::Num(a), KeyValue::Num(b)) => num_cmp(*a, *b),
            (KeyValue::Text(a), KeyValue::Text(b)) => a.cmp(b),
            // A column is all numbers or all text once typed; keep a total order anyway.
            (KeyValue::Num(_), KeyValue::Text(_)) => Ordering::Less,
            (KeyValue::Text(_), KeyValue::Num(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &KeyValue) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn num_cmp(a: KeyNum, b: KeyNum) -> Ordering {
    match (a, b) {
        (KeyNum::Int(x), KeyNum::Int(y)) => x.cmp(&y),
        _ => a.num().as_f64().total_cmp(&b.num().as_f64()).then_with(|| a.cmp(&b)),
    }
}

/// How pframe prints a number: integers plainly, floats as the shortest text that reads back the
/// same (Python's `repr`).
pub fn spelling(n: KeyNum) -> String {
    match n {
        KeyNum::Int(i) => i.to_string(),
        KeyNum::Float(b) => format!("{:?}", f64::from_bits(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str, kind: Kind) -> KeyValue {
        KeyValue::of(KeyField::read(Some(text.as_bytes()), KeyRule::Inferred), kind)
    }

    #[test]
    fn equal_numbers_meet_in_a_numeric_column_and_stay_apart_in_a_text_one() {
        let spellings = ["7", "07", "+7", " 7", "7.0"];
        for s in spellings {
            assert_eq!(typed(s, Kind::Float), KeyValue::Num(KeyNum::Int(7)), "{s:?}");
            assert_eq!(typed(s, Kind::Str), KeyValue::Text(s.as_bytes().into()), "{s:?}");
        }
        assert_eq!(typed("0.5", Kind::Str), KeyValue::Text(b"0.5"[..].into()));
        let declared = KeyValue::of(KeyField::read(Some(b"07"), KeyRule::Text), Kind::Str);
        assert_eq!(declared, KeyValue::Text(b"07"[..].into()));
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

    #[test]
    fn typed_order_puts_numbers_by_value_and_nulls_last() {
        let mut vs = [KeyValue::Null, KeyValue::Num(KeyNum::Int(10)), KeyValue::Num(KeyNum::Float(2.5f64.to_bits()))];
        vs.sort();
        assert_eq!(vs[0], KeyValue::Num(KeyNum::Float(2.5f64.to_bits())));
        assert_eq!(vs[2], KeyValue::Null);
    }
}
