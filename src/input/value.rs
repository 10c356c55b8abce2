//! Values of fields: what a field's bytes mean, decided in one place for every path (group-by,
//! SQL, joins), as pandas' CSV reader decides it.
//!
//! A field is null when it is empty (quoted or not) or one of the `--null-values` markers; else
//! it is an integer if it parses as one (`-?[0-9]+`, surrounding spaces allowed, within i64),
//! else a float if it parses as one (`1.5`, `.5`, `1e3`, `inf`, `nan`), else text. A column's
//! [`Kind`] is the widest of its values' kinds: null < int < float < text.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The type of a column, widened as values are seen: a column is integer if every non-null value
/// parses as an integer, float if every one parses as a number, else text (pandas' inference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub enum Kind {
    #[default]
    Null,
    Int,
    Float,
    Str,
}

/// A parsed non-null value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Num {
    Int(i64),
    Float(#[serde(with = "crate::agg::f64_bits")] f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }

    /// Numeric order, integers exactly, NaN above everything (`f64::total_cmp`).
    pub fn total_cmp(self, other: Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }
}

/// Parses a field as pandas' CSV reader would: an integer, else a float (including `inf`, `nan`,
/// exponents), else text. Surrounding spaces are not part of a number.
#[inline]
pub fn parse_num(field: &[u8]) -> Option<Num> {
    match parse_decimal(field) {
        Some(n) => Some(n),
        None => parse_num_general(field),
    }
}

/// [`parse_num`] past its fast path: kept out of line, so that the fast path inlines into the
/// loops over fields.
#[inline(never)]
fn parse_num_general(field: &[u8]) -> Option<Num> {
    let s = field.trim_ascii();
    if s.is_empty() || is_word(s) {
        return None;
    }
    // Integers too long for the fast path, or with spaces around them.
    if s.len() != field.len() || s.len() > 15 {
        if let Some(i) = std::str::from_utf8(s).ok().and_then(|t| t.parse::<i64>().ok()) {
            return Some(Num::Int(i));
        }
    }
    // Accepts what Rust's parser accepts (`1e3`, `.5`, `inf`, `nan`), as pandas reads them.
    fast_float2::parse::<f64, _>(s).ok().map(Num::Float)
}

/// Whether `s` starts (after a sign) with a letter and is not one of the words Rust's parser reads
/// as a number (`inf`, `infinity`, `nan`, in any case): text such as `id001`, rejected without
/// the general parser.
fn is_word(s: &[u8]) -> bool {
    let body = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    body.first().is_some_and(u8::is_ascii_alphabetic)
        && !["inf", "infinity", "nan"].iter().any(|w| body.eq_ignore_ascii_case(w.as_bytes()))
}

/// The common cases without UTF-8 validation or a general parser: `-?digits` (an integer) and
/// `-?digits.digits` (a float) with at most 15 digits in all. Then the digits form an integer
/// m < 2^53 and the value is m / 10^k with k <= 15, both exactly representable, so the single
/// division is correctly rounded (Clinger's fast path): the same f64 as any correct parser.
/// Anything else returns `None` and goes to the general parser.
#[inline(always)]
pub fn parse_decimal(b: &[u8]) -> Option<Num> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    // At most 15 digits and a point: longer fields go to the general parser.
    if digits.len() > 16 {
        return None;
    }
    let mut m: i64 = 0;
    let mut i = 0;
    while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        m = m * 10 + i64::from(d);
        i += 1;
    }
    if i == digits.len() {
        return (i > 0 && i <= 15).then_some(Num::Int(if neg { -m } else { m }));
    }
    // Digits on both sides of the point, as in "1.5"; ".5" and "5." take the general path.
    let frac = &digits[i + 1..];
    if digits[i] != b'.' || i == 0 || frac.is_empty() {
        return None;
    }
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m * 10 + i64::from(d);
    }
    let x = m as f64 / POW10[frac.len()];
    Some(Num::Float(if neg { -x } else { x }))
}

/// The markers that read as null besides the empty field: `--null-values 'NA,NULL,\N'`. Matched
/// against the whole field after quotes are removed, as pandas' `na_values` are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NullValues {
    markers: Vec<Box<[u8]>>,
    /// The length of the longest marker: a longer field is never one.
    longest: usize,
}

impl NullValues {
    /// Parses a comma-separated list; an empty item is the empty field, which is null anyway.
    pub fn parse(spec: &str) -> NullValues {
        let mut markers: Vec<Box<[u8]>> =
            spec.split(',').filter(|m| !m.is_empty()).map(|m| m.as_bytes().into()).collect();
        markers.sort();
        markers.dedup();
        let longest = markers.iter().map(|m| m.len()).max().unwrap_or(0);
        NullValues { markers, longest }
    }

    /// Whether a field is null: empty, or one of the markers.
    #[inline]
    pub fn is_null(&self, field: &[u8]) -> bool {
        field.is_empty() || (field.len() <= self.longest && self.markers.iter().any(|m| **m == *field))
    }

    /// The markers, for messages and for the partial files of shards.
    pub fn spec(&self) -> String {
        self.markers.iter().map(|m| String::from_utf8_lossy(m)).collect::<Vec<_>>().join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.markers.is_empty()
    }
}

/// A value that is not of its column's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotDeclaredType(pub Kind);

/// A field read by pframe's rules, checked against its column's declared type (`--schema`): null
/// (`None`: empty, or a null marker), a number (`Some(Some(n))`, unless the column is declared
/// text), or text (`Some(None)`).
#[inline(always)]
pub fn read_field(
    raw: &[u8],
    declared: Option<Kind>,
    nulls: &NullValues,
) -> Result<Option<Option<Num>>, NotDeclaredType> {
    if nulls.is_null(raw) {
        return Ok(None);
    }
    if declared == Some(Kind::Str) {
        return Ok(Some(None));
    }
    let num = parse_num(raw);
    match (declared, num) {
        (Some(Kind::Int), Some(Num::Int(_))) | (Some(Kind::Float), Some(_)) | (None | Some(Kind::Null), _) => {
            Ok(Some(num))
        }
        (kind, _) => Err(NotDeclaredType(kind.unwrap_or(Kind::Null))),
    }
}

/// The message for a value `raw` of column `column` that is not of its declared type.
pub fn declared_mismatch(column: &str, raw: &[u8], NotDeclaredType(kind): NotDeclaredType) -> String {
    let ty = if kind == Kind::Int { "an integer" } else { "a float" };
    let value = String::from_utf8_lossy(raw);
    let mut message = format!("column {column}: cannot parse \"{value}\" as {ty} (declared in --schema)");
    if looks_null(&value) {
        message.push_str(&format!("; if \"{value}\" marks a missing value, add --null-values '{value}'"));
    }
    message
}

/// Text that people and other programs write for a missing value: when a numeric aggregation
/// meets a column that is numeric except for such tokens, the message names `--null-values`.
pub const NULL_LIKE: &[&str] =
    &["NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "none", ".", "-", "#N/A", "\\N", "?"];

/// Whether `text` is one of [`NULL_LIKE`].
pub fn looks_null(text: &str) -> bool {
    NULL_LIKE.contains(&text)
}

/// A number as a group key: integral values are integers whatever their spelling (`7`, `07`,
/// `+7`, `7.0`, `7e0`), so that equal numbers are one key, as pandas, polars and DuckDB group
/// them; NaN has one bit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyNum {
    Int(i64),
    /// A non-integral (or out of i64's range, or non-finite) float's bits.
    Float(u64),
}

impl KeyNum {
    pub fn of(n: Num) -> KeyNum {
        match n {
            Num::Int(i) => KeyNum::Int(i),
            // 2^63 is exactly representable and the first float past i64's range.
            Num::Float(x) if x.fract() == 0.0 && x.abs() < 9_223_372_036_854_775_808.0 => KeyNum::Int(x as i64),
            Num::Float(x) if x.is_nan() => KeyNum::Float(f64::NAN.to_bits()),
            Num::Float(x) => KeyNum::Float(x.to_bits()),
        }
    }

    pub fn num(self) -> Num {
        match self {
            KeyNum::Int(i) => Num::Int(i),
            KeyNum::Float(b) => Num::Float(f64::from_bits(b)),
        }
    }

    /// Whether `text`, which this number was parsed from, is exactly how it is printed (`{}` of
    /// the integer, `{:?}` of the float): then the text need not be kept beside the number.
    pub fn is_spelled(self, text: &[u8]) -> bool {
        match self {
            KeyNum::Int(_) => int_is_canonical(text),
            KeyNum::Float(b) => {
                text.iter().any(|c| !c.is_ascii_digit() && *c != b'-')
                    && format!("{:?}", f64::from_bits(b)).as_bytes() == text
            }
        }
    }
}

/// `0`, or an optional `-` and digits without a leading zero (not `-0`): the integers' own
/// spelling, checked without formatting.
fn int_is_canonical(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    match digits {
        [] => false,
        [b'0'] => digits.len() == text.len(),
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_like_pandas() {
        assert_eq!(parse_num(b"42"), Some(Num::Int(42)));
        assert_eq!(parse_num(b" -7 "), Some(Num::Int(-7)));
        assert_eq!(parse_num(b"1.5e3"), Some(Num::Float(1500.0)));
        assert_eq!(parse_num(b"id001"), None);
        assert_eq!(parse_num(b"123456789012345678"), Some(Num::Int(123456789012345678)));
        assert_eq!(parse_num(b"-0.0").map(|n| n.as_f64().to_bits()), Some((-0.0f64).to_bits()));
        assert_eq!(parse_num(b"1.2.3"), None);
        assert_eq!(parse_num(b"."), None);
        assert_eq!(parse_num(b""), None);
    }

    /// Words are rejected before the general parser exactly where it would reject them.
    #[test]
    fn words_are_numbers_only_where_the_general_parser_reads_them() {
        for w in [
            "inf",
            "INF",
            "-inf",
            "+Inf",
            "infinity",
            "Infinity",
            "-INFINITY",
            "nan",
            "NaN",
            "-nan",
            "+NAN",
            "id001",
            "i",
            "in",
            "infx",
            "infinit",
            "nanx",
            "na",
            "n",
            "e5",
            "E5",
            "abc",
            "x1",
            "-x",
            "+",
            "-",
            "inf inity",
            "NA",
            "null",
            "True",
            "e",
            "Ee",
        ] {
            let general = fast_float2::parse::<f64, _>(w.trim()).ok().map(Num::Float);
            assert_eq!(
                parse_num(w.as_bytes()).map(|n| n.as_f64().to_bits()),
                general.map(|n| n.as_f64().to_bits()),
                "{w}"
            );
        }
    }

    proptest::proptest! {
        /// The fast path gives exactly the f64 that Rust's correctly rounded parser gives.
        #[test]
        fn fast_decimals_are_correctly_rounded(int in 0u64..10_000_000, frac in 0u64..100_000_000, neg: bool, k in 1usize..9) {
            let frac = frac % 10u64.pow(k as u32);
            let text = format!("{}{int}.{frac:0k$}", if neg { "-" } else { "" });
            let expected: f64 = text.parse().unwrap();
            proptest::prop_assert_eq!(parse_num(text.as_bytes()), Some(Num::Float(expected)), "{}", text);
        }

        /// The fast path, on any mix of digits, points and signs: where it answers, an integer
        /// is what Rust's integer parser reads and a float what its float parser reads (bit for
        /// bit); it answers every `-?digits` and `-?digits.digits` of up to 15 digits.
        #[test]
        fn fast_path_agrees_with_the_general_parsers(text in "[-+]?[0-9.]{0,18}") {
            let digits = text.trim_start_matches(['-', '+']);
            let n_digits = digits.bytes().filter(u8::is_ascii_digit).count();
            let points = digits.matches('.').count();
            let plain = n_digits <= 15
                && match digits.split_once('.') {
                    None => n_digits > 0,
                    Some((a, b)) => points == 1 && !a.is_empty() && !b.is_empty(),
                };
            match parse_decimal(text.as_bytes()) {
                Some(Num::Int(i)) => proptest::prop_assert_eq!(Ok(i), text.parse::<i64>()),
                Some(Num::Float(x)) => {
                    proptest::prop_assert!(digits.contains('.'));
                    proptest::prop_assert_eq!(x.to_bits(), text.parse::<f64>().unwrap().to_bits());
                }
                None => proptest::prop_assert!(!plain, "{} not read", text),
            }
        }
    }

    #[test]
    fn equal_numbers_are_one_key_and_only_their_own_spelling_is_canonical() {
        let key = |t: &[u8]| KeyNum::of(parse_num(t).unwrap());
        for t in [&b"7"[..], b"07", b"+7", b" 7", b"7.0", b"7e0", b"7.000"] {
            assert_eq!(key(t), KeyNum::Int(7), "{:?}", String::from_utf8_lossy(t));
            assert_eq!(key(t).is_spelled(t), t == b"7", "{:?}", String::from_utf8_lossy(t));
        }
        assert_eq!(key(b"-0.0"), KeyNum::Int(0));
        assert!(!KeyNum::Int(0).is_spelled(b"-0"));
        assert!(key(b"-12").is_spelled(b"-12"));
        assert!(key(b"0.5").is_spelled(b"0.5"));
        assert!(!key(b"0.50").is_spelled(b"0.50"));
        assert_eq!(key(b"nan"), key(b"NaN"));
        assert_eq!(key(b"1e300"), KeyNum::Float(1e300f64.to_bits()));
    }

    #[test]
    fn null_markers_match_whole_fields() {
        let nulls = NullValues::parse("NA,NULL,\\N,");
        assert!(nulls.is_null(b"") && nulls.is_null(b"NA") && nulls.is_null(b"\\N"));
        assert!(!nulls.is_null(b"NAN") && !nulls.is_null(b" NA") && !nulls.is_null(b"N"));
        assert!(!NullValues::default().is_null(b"NA"));
        assert_eq!(nulls.spec(), "NA,NULL,\\N");
    }
}
