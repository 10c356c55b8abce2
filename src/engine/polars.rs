//! The polars engine: the only module that names polars' lazy API (it changes between versions;
//! the version is pinned in `Cargo.toml`).
//!
//! Each chunk becomes a one-column frame of its lines (line endings removed), and the count is a
//! lazy query over it: for letters, lowercase and count each letter's matches; for chars and
//! words, extract, group and count (polars' `value_counts`). Polars runs
//! the query on its own pool, sized by `POLARS_MAX_THREADS`, which `main` sets from `-j`.

use polars::prelude::*;

use crate::agg::{Tally, Unit};
use crate::engine::count::{ChunkCount, ChunkFault, CountPlan};
use crate::engine::kernels::{CharCounts, InvalidUtf8};
use crate::input::Chunk;
use crate::output::{JsonShape, Table, Value};

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

/// The polars expression of one aggregation, with pframe's semantics: nulls are skipped by every
/// function (polars' `first`, `last` and `n_unique` would count them, pandas does not).
fn agg_expr(spec: &crate::agg::groupby::AggSpec) -> Expr {
    use crate::agg::groupby::AggFn;
    let c = || col(spec.column.as_deref().unwrap_or_default());
    let e = match spec.func {
        AggFn::Rows => len(),
        AggFn::Count => c().count(),
        AggFn::Sum => c().sum(),
        AggFn::Mean => c().mean(),
        AggFn::Min => c().min(),
        AggFn::Max => c().max(),
        AggFn::Std => c().std(1),
        AggFn::Var => c().var(1),
        AggFn::Median => c().median(),
        AggFn::NUnique => c().drop_nulls().n_unique(),
        AggFn::First => c().drop_nulls().first(),
        AggFn::Last => c().drop_nulls().last(),
    };
    e.alias(spec.output_name())
}

/// Rows polars reads to infer column types on the first try. Inferring from the whole file costs a
/// full extra pass (24.7 s instead of 1.8 s on the 1e7-row benchmark file), so the first try
/// samples, and a failure (a later value that does not parse as the sampled type) retries with
/// the whole file; see `with_full_inference`.
const INFER_ROWS: usize = 10_000;

/// A lazy scan of a CSV file with the plan's dialect; column types are inferred from the first
/// `infer_rows` rows (all rows with `None`), unless declared with `--schema`.
fn scan_csv(
    path: &std::path::Path,
    delimiter: u8,
    no_header: bool,
    schema: &[(String, crate::agg::groupby::Kind)],
    infer_rows: Option<usize>,
) -> PolarsResult<LazyFrame> {
    use crate::agg::groupby::Kind;
    let path = path.to_str().ok_or_else(|| polars_err!(ComputeError: "path is not valid UTF-8"))?;
    let overwrite = (!schema.is_empty()).then(|| {
        let fields = schema.iter().map(|(name, kind)| {
            let dtype = match kind {
                Kind::Int => DataType::Int64,
                Kind::Float => DataType::Float64,
                _ => DataType::String,
            };
            Field::new(name.as_str().into(), dtype)
        });
        std::sync::Arc::new(Schema::from_iter(fields))
    });
    LazyCsvReader::new(PlRefPath::new(path))
        .with_has_header(!no_header)
        .with_separator(delimiter)
        .with_infer_schema_length(infer_rows)
        .with_missing_is_null(true)
        .with_dtype_overwrite(overwrite)
        .finish()
}

/// Runs `query` with sampled type inference, and again with the whole file inferred if that
/// fails (a value past the sample that does not parse as the sampled type).
fn with_full_inference<T>(query: impl Fn(Option<usize>) -> PolarsResult<T>) -> PolarsResult<T> {
    query(Some(INFER_ROWS)).or_else(|_| query(None))
}

/// Runs a group-by over a CSV file with polars' lazy CSV scan and its streaming engine.
pub fn group_by_files(plan: &crate::engine::groupby::GroupByPlan, paths: &[&std::path::Path]) -> PolarsResult<Table> {
    let keys: Vec<Expr> = plan.by.iter().map(|k| col(k.as_str())).collect();
    let sort = SortMultipleOptions::default().with_nulls_last(true).with_maintain_order(false);
    let df = with_full_inference(|infer| {
        let scans = paths
            .iter()
            .map(|p| scan_csv(p, plan.delimiter, plan.no_header, &plan.schema, infer))
            .collect::<PolarsResult<Vec<_>>>()?;
        // In input order (first and last depend on it), each column widened to a type that holds
        // every file's values, as the native engines infer one type over all inputs.
        let input = match scans.len() {
            1 => scans.into_iter().next().expect("one scan"),
            _ => concat(scans, UnionArgs { to_supertypes: true, maintain_order: true, ..Default::default() })?,
        };
        Ok(input
            .group_by(keys.clone())
            .agg(plan.aggs.iter().map(agg_expr).collect::<Vec<_>>())
            .sort(plan.by.iter().map(|s| s.as_str()).collect::<Vec<_>>(), sort.clone())
            .collect_with_engine(Engine::Streaming)?
            .unwrap_single())
    })?;
    frame_to_table(&df)
}

/// Runs a SQL query over a CSV file registered as table `t`.
pub fn sql_file(
    query: &str,
    path: &std::path::Path,
    delimiter: u8,
    no_header: bool,
    schema: &[(String, crate::agg::groupby::Kind)],
) -> PolarsResult<Table> {
    let df = with_full_inference(|infer| {
        let mut ctx = polars::sql::SQLContext::new();
        ctx.register("t", scan_csv(path, delimiter, no_header, schema, infer)?);
        Ok(ctx.execute(query)?.collect_with_engine(Engine::Streaming)?.unwrap_single())
    })?;
    frame_to_table(&df)
}

/// A polars frame as a result table.
fn frame_to_table(df: &DataFrame) -> PolarsResult<Table> {
    let headers: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let columns = df.columns();
    let rows = (0..df.height())
        .map(|i| columns.iter().map(|c| c.get(i).map(any_to_value)).collect::<PolarsResult<Vec<Value>>>())
        .collect::<PolarsResult<Vec<_>>>()?;
    Ok(Table { headers, rows, json: JsonShape::Records })
}

fn any_to_value(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Str(b.to_string()),
        AnyValue::String(s) => Value::Str(s.to_string()),
        AnyValue::StringOwned(s) => Value::Str(s.to_string()),
        AnyValue::Int8(x) => Value::Int(x as i64),
        AnyValue::Int16(x) => Value::Int(x as i64),
        AnyValue::Int32(x) => Value::Int(x as i64),
        AnyValue::Int64(x) => Value::Int(x),
        AnyValue::UInt8(x) => Value::UInt(x as u64),
        AnyValue::UInt16(x) => Value::UInt(x as u64),
        AnyValue::UInt32(x) => Value::UInt(x as u64),
        AnyValue::UInt64(x) => Value::UInt(x),
        AnyValue::Float32(x) => Value::Float(x as f64),
        AnyValue::Float64(x) => Value::Float(x),
        other => Value::Str(other.to_string()),
    }
}
