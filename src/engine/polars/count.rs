//! `pframe count -e polars`: each chunk becomes a one-column frame of its lines (line endings
//! removed), counted by a lazy query: for letters, lowercase and count each letter's matches; for
//! chars and words, extract, group and count.

use polars::prelude::*;

use crate::agg::{Tally, Unit};
use crate::engine::count::{ChunkCount, ChunkFault, CountPlan};
use crate::engine::kernels::{CharCounts, InvalidUtf8};
use crate::input::Chunk;

/// The words of `str.split()`: runs of anything but White_Space and U+001C..U+001F (regex `\s` is
/// Unicode White_Space).
const WORD_PATTERN: &str = r"[^\s\x1c-\x1f]+";

/// Counts one chunk with a polars query.
pub(crate) fn count_chunk(plan: &CountPlan, chunk: &Chunk) -> ChunkCount {
    let data: &[u8] = chunk;
    // Decode exactly as the kernels do: letters never fail (invalid bytes are not letters, and
    // U+FFFD is not a letter), chars and words fail unless lossy.
    let text = match std::str::from_utf8(data) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) if plan.lossy || matches!(plan.unit, Unit::Letters | Unit::Lines | Unit::Bytes) => {
            String::from_utf8_lossy(data)
        }
        Err(e) => {
            let offset = e.valid_up_to();
            let line = memchr::memchr_iter(b'\n', &data[..offset]).count() as u64;
            return Err(ChunkFault::Utf8(InvalidUtf8 { offset, line }));
        }
    };
    let lines = split_lines(&text);
    let newlines = lines.iter().filter(|l| l.terminated).count() as u64;
    let tally = query(plan, data, &lines).map_err(ChunkFault::Polars)?;
    Ok((tally, newlines))
}

struct Line<'a> {
    text: &'a str,
    terminated: bool,
}

/// Splits at `\n`, dropping the line ending (`\n`, or `\r\n`). A final line without `\n` keeps
/// any trailing `\r`: it ends no line.
fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(p) => {
                let line = &rest[..p];
                out.push(Line { text: line.strip_suffix('\r').unwrap_or(line), terminated: true });
                rest = &rest[p + 1..];
            }
            None => {
                out.push(Line { text: rest, terminated: false });
                rest = "";
            }
        }
    }
    out
}

fn query(plan: &CountPlan, raw: &[u8], lines: &[Line<'_>]) -> PolarsResult<Tally> {
    let line_col = StringChunked::from_iter_values("line".into(), lines.iter().map(|l| l.text));
    let line = || col("line");
    let extract = |expr: Expr, pattern: &str| {
        expr.str()
            .extract_all(lit(pattern))
            .explode(ExplodeOptions { empty_as_null: false, keep_nulls: false })
            .alias("key")
    };
    let key_expr = match plan.unit {
        Unit::Letters => {
            // Lowercase once, then count each letter with a literal matcher: 26 vectorised scans
            // are an order of magnitude faster than extracting every letter as a string.
            let lower = line().str().to_lowercase().alias("lower");
            let df = DataFrame::new_infer_height(vec![line_col.into_series().into_column()])?;
            let counts = df
                .lazy()
                .select([lower])
                .select(
                    (b'a'..=b'z')
                        .map(|c| {
                            let l = (c as char).to_string();
                            col("lower").str().count_matches(lit(l.clone()), true).sum().cast(DataType::UInt64).alias(l)
                        })
                        .collect::<Vec<_>>(),
                )
                .collect()?;
            let mut letters = [0u64; 26];
            for (slot, c) in letters.iter_mut().zip(counts.columns()) {
                *slot = c.u64()?.get(0).unwrap_or(0);
            }
            return Ok(Tally::Letters(letters));
        }
        Unit::Chars => extract(line(), "(?s)."),
        Unit::Words if plan.ignore_case => extract(line().str().to_lowercase(), WORD_PATTERN),
        Unit::Words => extract(line(), WORD_PATTERN),
        Unit::Lines => {
            let terminated = BooleanChunked::from_iter_values("terminated".into(), lines.iter().map(|l| l.terminated));
            let df = DataFrame::new_infer_height(vec![terminated.into_series().into_column()])?;
            let n = scalar_u64(df.lazy().select([col("terminated").sum()]).collect()?)?;
            return Ok(Tally::Lines(n));
        }
        Unit::Bytes => {
            // Lossy decoding changes byte lengths, so the raw bytes go in as a binary column.
            let raw_col = BinaryChunked::from_slice("raw".into(), &[raw]);
            let df = DataFrame::new_infer_height(vec![raw_col.into_series().into_column()])?;
            let n = scalar_u64(df.lazy().select([col("raw").binary().size_bytes().sum()]).collect()?)?;
            return Ok(Tally::Bytes(n));
        }
    };
    let df = DataFrame::new_infer_height(vec![line_col.into_series().into_column()])?;
    let counts = df.lazy().select([key_expr]).group_by([col("key")]).agg([len().alias("n")]).collect()?;
    let keys = counts.column("key")?.str()?;
    let ns = counts.column("n")?.cast(&DataType::UInt64)?;
    let ns = ns.u64()?;
    let pairs = keys.iter().zip(ns.iter()).filter_map(|(k, n)| Some((k?, n?)));
    Ok(match plan.unit {
        Unit::Chars => {
            let mut c = CharCounts::default();
            for (k, n) in pairs {
                let ch = k.chars().next().expect("one char per match");
                if ch.is_ascii() {
                    c.ascii[ch as usize] += n;
                } else {
                    *c.other.entry(ch).or_insert(0) += n;
                }
            }
            Tally::Chars(Box::new(c))
        }
        _ => Tally::Words(pairs.map(|(k, n)| (k.to_string(), n)).collect()),
    })
}

fn scalar_u64(df: DataFrame) -> PolarsResult<u64> {
    let c = df.columns()[0].cast(&DataType::UInt64)?;
    Ok(c.u64()?.get(0).unwrap_or(0))
}
