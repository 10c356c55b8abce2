//! The polars engine: the only engine module that names polars' API (it changes between
//! versions; the version is pinned in `Cargo.toml`). Polars runs on its own pool, sized by
//! `POLARS_MAX_THREADS`, which `main` sets from `-j`.
//!
//! - count: each chunk becomes a one-column frame of its lines (line endings removed), counted by
//!   a lazy query: for letters, lowercase and count each letter's matches; for chars and words,
//!   extract, group and count.
//! - groupby: polars' CSV reader parses each chunk, every used column as text, and hands the
//!   records to the group-by's own aggregator ([`csv_chunk_records`]).
//! - sql: a row-wise query runs on each chunk with the column types of the first rows
//!   ([`SqlStream`]); any other query on a lazy scan of the whole file ([`sql_file`]).

use polars::polars_utils::arena::{Arena, Node};
use polars::prelude::*;
use polars_plan::plans::AExpr;

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

/// Parses one chunk of CSV records (no header row) with polars' CSV reader, every column read
/// as text, and hands `visit` the fields of the columns `used` (header indices, in that order) of
/// each record with its 1-based record number; a null (empty) field is empty. Returns the number
/// of records, or `visit`'s first error.
///
/// Polars reads a row with too few fields as nulls; the caller checks the field count.
pub(crate) fn csv_chunk_records<E>(
    data: &[u8],
    delimiter: u8,
    width: usize,
    used: &[usize],
    mut visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> PolarsResult<Result<u64, E>> {
    let names: Vec<PlSmallStr> = (0..width).map(|i| format!("c{i}").into()).collect();
    let schema = Schema::from_iter(names.iter().map(|n| Field::new(n.clone(), DataType::String)));
    let mut projection = used.to_vec();
    projection.sort_unstable();
    projection.dedup();
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(std::sync::Arc::new(schema)))
        .with_projection(Some(std::sync::Arc::new(projection)))
        .with_n_threads(Some(1))
        .with_raise_if_empty(false)
        .map_parse_options(|o| o.with_separator(delimiter).with_missing_is_null(true))
        .into_reader_with_file_handle(std::io::Cursor::new(data))
        .finish()?;
    let columns = used.iter().map(|&i| df.column(&names[i])?.str()).collect::<PolarsResult<Vec<_>>>()?;
    let mut values: Vec<_> = columns.iter().map(|c| c.iter()).collect();
    let mut fields: Vec<&[u8]> = Vec::with_capacity(used.len());
    for row in 0..df.height() as u64 {
        fields.clear();
        fields.extend(values.iter_mut().map(|v| v.next().flatten().map_or(&b""[..], str::as_bytes)));
        if let Err(e) = visit(&fields, row + 1) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(df.height() as u64))
}

/// Polars' own worker pool (sized by `POLARS_MAX_THREADS`, which `main` sets from `-j`). Chunks
/// that polars parses are worked on here: polars' reader then runs on the worker that called it
/// instead of handing the chunk to a second pool, whose threads would spin beside ours.
pub(crate) fn pool() -> &'static rayon::ThreadPool {
    &polars_core::runtime::THREAD_POOL
}

/// Rows polars reads to infer column types on the first try. Inferring from the whole file costs a
/// full extra pass (24.7 s instead of 1.8 s on the 1e7-row benchmark file), so the first try
/// samples, and a failure (a later value that does not parse as the sampled type) retries with
/// the whole file; see `with_full_inference`.
pub(crate) const INFER_ROWS: usize = 10_000;

/// A lazy scan of a CSV file with the plan's dialect; column types are inferred from the first
/// `infer_rows` rows (all rows with `None`), unless declared with `--schema`.
fn scan_csv(
    path: &std::path::Path,
    delimiter: u8,
    no_header: bool,
    schema: &[(String, crate::agg::groupby::Kind)],
    infer_rows: Option<usize>,
) -> PolarsResult<LazyFrame> {
    let path = path.to_str().ok_or_else(|| polars_err!(ComputeError: "path is not valid UTF-8"))?;
    let overwrite = declared_schema(schema);
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

/// A SQL query prepared to run chunk by chunk over a CSV stream: the table's column types come
/// from the input's first `INFER_ROWS` rows (or `--schema`) and hold for every chunk.
pub struct SqlStream {
    query: String,
    schema: SchemaRef,
    delimiter: u8,
    /// The result's column names.
    pub headers: Vec<String>,
    /// The query as a group-by, when pframe's group-by can answer it (see [`as_group_by`]).
    pub group_by: Option<SqlGroupBy>,
    /// Whether the query keeps, drops and computes rows one at a time (selections, filters and
    /// elementwise expressions only): then running it on each chunk and concatenating the results
    /// in order is running it on the whole input.
    pub row_wise: bool,
}

impl SqlStream {
    /// Prepares `query` from a sample of the input's first rows (its start, header row included
    /// unless `no_header`).
    pub fn prepare(
        query: &str,
        first: &[u8],
        delimiter: u8,
        no_header: bool,
        declared: &[(String, crate::agg::groupby::Kind)],
    ) -> PolarsResult<SqlStream> {
        let sample = CsvReadOptions::default()
            .with_has_header(!no_header)
            .with_infer_schema_length(Some(INFER_ROWS))
            .with_n_rows(Some(INFER_ROWS))
            .with_schema_overwrite(declared_schema(declared))
            .map_parse_options(|o| o.with_separator(delimiter).with_missing_is_null(true))
            .into_reader_with_file_handle(std::io::Cursor::new(first))
            .finish()?;
        let schema = sample.schema().clone();
        let plan = Self::lazy(query, DataFrame::empty_with_schema(&schema))?;
        let ir = plan.clone().to_alp()?;
        let (row_wise, group_by) = (is_row_wise(&ir), as_group_by(&ir));
        let headers = plan.collect()?.get_column_names().iter().map(|s| s.to_string()).collect();
        Ok(SqlStream { query: query.to_string(), schema, delimiter, headers, group_by, row_wise })
    }

    fn lazy(query: &str, df: DataFrame) -> PolarsResult<LazyFrame> {
        let mut ctx = polars::sql::SQLContext::new();
        ctx.register("t", df.lazy());
        ctx.execute(query)
    }

    /// Parses a chunk of records (no header) with the stream's column types.
    fn parse(&self, data: &[u8], schema: SchemaRef) -> PolarsResult<DataFrame> {
        CsvReadOptions::default()
            .with_has_header(false)
            .with_schema(Some(schema))
            .with_n_threads(Some(1))
            .with_raise_if_empty(false)
            .map_parse_options(|o| o.with_separator(self.delimiter).with_missing_is_null(true))
            .into_reader_with_file_handle(std::io::Cursor::new(data))
            .finish()
    }

    /// Runs the query on one chunk of records (no header).
    pub fn run_chunk(&self, data: &[u8]) -> PolarsResult<Table> {
        let df = self.parse(data, self.schema.clone())?;
        frame_to_table(&Self::lazy(&self.query, df)?.collect()?)
    }

    /// After `run_chunk` failed: the first row (1-based; polars reads a blank line as a row) with a
    /// value that does not parse as its column's type, the column, the value and the type.
    pub fn bad_value(&self, data: &[u8]) -> Option<(u64, String, String, String)> {
        let text = Schema::from_iter(self.schema.iter_names().map(|n| Field::new(n.clone(), DataType::String)));
        let df = self.parse(data, std::sync::Arc::new(text)).ok()?;
        let mut first: Option<(u64, String, String, String)> = None;
        for (name, dtype) in self.schema.iter().filter(|(_, t)| **t != DataType::String) {
            let raw = df.column(name).ok()?.str().ok()?.clone();
            let cast = raw.clone().into_series().cast(dtype).ok()?;
            let bad = raw.iter().zip(cast.is_null().iter()).position(|(r, null)| r.is_some() && null == Some(true));
            if let Some(i) = bad
                && first.as_ref().is_none_or(|f| i as u64 + 1 < f.0)
            {
                let value = raw.get(i).unwrap_or_default().to_string();
                first = Some((i as u64 + 1, name.to_string(), value, dtype.to_string()));
            }
        }
        first
    }
}

/// Whether a plan only selects, filters and computes elementwise over its one table: no
/// aggregation, sort, limit, distinct, window or join.
fn is_row_wise(plan: &polars_plan::plans::IRPlan) -> bool {
    use polars_plan::plans::expr_ir::ExprIR;
    use polars_plan::plans::{IR, is_elementwise_rec};
    let arena = &plan.expr_arena;
    let elementwise = |exprs: &[ExprIR]| exprs.iter().all(|e| is_elementwise_rec(e.node(), arena));
    let mut node = plan.lp_top;
    loop {
        node = match plan.lp_arena.get(node) {
            IR::DataFrameScan { .. } => return true,
            IR::SimpleProjection { input, .. } => *input,
            IR::Filter { input, predicate } if elementwise(std::slice::from_ref(predicate)) => *input,
            // A selection of scalars alone gives one row, not one per row.
            IR::Select { input, expr, .. }
                if elementwise(expr) && expr.iter().any(|e| e.is_length_preserving(arena)) =>
            {
                *input
            }
            IR::HStack { input, exprs, .. } if elementwise(exprs) => *input,
            _ => return false,
        }
    }
}

/// An aggregating query that pframe's group-by answers exactly as polars would (floats within
/// rounding): `SELECT` keys and aggregates `FROM t GROUP BY` columns, optionally `ORDER BY` the
/// first keys ascending (pframe sorts by every key, nulls last), with no `WHERE`, `HAVING` or
/// `LIMIT`; each aggregate `count(*)`, or `count`, `sum`, `avg`, `min`, `max`, `stddev`,
/// `variance` (sample), `median`, first or last non-null value of a column.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlGroupBy {
    pub by: Vec<String>,
    pub aggs: Vec<crate::agg::groupby::AggSpec>,
    /// The result's columns in the query's order.
    pub columns: Vec<SqlColumn>,
}

/// One column of a [`SqlGroupBy`]'s result.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlColumn {
    pub name: String,
    /// Its index in the group-by's result (the keys, then the aggregations).
    pub index: usize,
    /// The index of a count that makes it null when 0 (SQL's SUM over no values).
    pub null_if_zero: Option<usize>,
}

/// Reads a plan as a [`SqlGroupBy`], from the top: projections and a sort (renaming and
/// reordering the group-by's columns), the group-by, then plain projections down to the table.
fn as_group_by(plan: &polars_plan::plans::IRPlan) -> Option<SqlGroupBy> {
    use crate::agg::groupby::{AggFn, AggSpec};
    use polars_plan::plans::{IR, IRAggExpr};
    let arena = &plan.expr_arena;
    let column = |node| column_name(arena, node);
    // Each output column's name at the current level of the plan, going down.
    let mut columns: Vec<(String, String)> = Vec::new();
    let mut sort: Option<Vec<String>> = None;
    let mut node = plan.lp_top;
    let mut top = true;
    let (keys, aggs, input) = loop {
        let ir = plan.lp_arena.get(node);
        if top {
            columns = ir.schema(&plan.lp_arena).iter_names().map(|n| (n.to_string(), n.to_string())).collect();
            top = false;
        }
        match ir {
            IR::SimpleProjection { input, .. } => node = *input,
            IR::Select { input, expr, .. } => {
                let renames: Vec<(String, String)> = expr
                    .iter()
                    .map(|e| Some((e.output_name().to_string(), column(e.node())?)))
                    .collect::<Option<_>>()?;
                let below = |name: &String| renames.iter().find(|(out, _)| out == name).map(|(_, c)| c.clone());
                for (_, at) in columns.iter_mut() {
                    *at = below(at)?;
                }
                if let Some(s) = &mut sort {
                    for at in s.iter_mut() {
                        *at = below(at)?;
                    }
                }
                node = *input;
            }
            IR::Sort { input, by_column, slice: None, sort_options } if sort.is_none() => {
                let ascending = sort_options.descending.iter().all(|d| !d);
                let nulls_last = sort_options.nulls_last.iter().all(|n| *n);
                if !ascending || !nulls_last {
                    return None;
                }
                sort = Some(by_column.iter().map(|e| column(e.node())).collect::<Option<_>>()?);
                node = *input;
            }
            IR::GroupBy { input, keys, aggs, apply: None, options, .. }
                if options.slice.is_none() && !options.is_dynamic() && !options.is_rolling() =>
            {
                break (keys, aggs, *input);
            }
            _ => return None,
        }
    };
    let by: Vec<String> = keys
        .iter()
        .map(|k| column(k.node()).filter(|c| c.as_str() == k.output_name().as_str()))
        .collect::<Option<_>>()?;
    let mut specs = Vec::new();
    let mut names = by.clone();
    // Per aggregation, for SQL's SUM: the position of a count of the column, null when it is 0.
    let mut null_if_none: Vec<Option<usize>> = vec![None; by.len()];
    let mut counts = Vec::new();
    for a in aggs {
        let of = |func: AggFn, input: Node| Some(AggSpec { func, column: Some(column(input)?) });
        let (spec, sql_sum) = match arena.get(a.node()) {
            AExpr::Len => (AggSpec { func: AggFn::Rows, column: None }, false),
            AExpr::Agg(agg) => (
                match *agg {
                    IRAggExpr::Count { input, include_nulls: false } => of(AggFn::Count, input),
                    IRAggExpr::Sum(input) => of(AggFn::Sum, input),
                    IRAggExpr::Mean(input) => of(AggFn::Mean, input),
                    IRAggExpr::Min { input, .. } => of(AggFn::Min, input),
                    IRAggExpr::Max { input, .. } => of(AggFn::Max, input),
                    IRAggExpr::Std(input, 1) => of(AggFn::Std, input),
                    IRAggExpr::Var(input, 1) => of(AggFn::Var, input),
                    IRAggExpr::Median(input) => of(AggFn::Median, input),
                    IRAggExpr::FirstNonNull(input) => of(AggFn::First, input),
                    IRAggExpr::LastNonNull(input) => of(AggFn::Last, input),
                    _ => None,
                }?,
                false,
            ),
            AExpr::Ternary { predicate, truthy, falsy } => (sql_sum(arena, *predicate, *truthy, *falsy)?, true),
            _ => return None,
        };
        if sql_sum {
            null_if_none.push(Some(counts.len()));
            counts.push(AggSpec { func: AggFn::Count, column: spec.column.clone() });
        } else {
            null_if_none.push(None);
        }
        specs.push(spec);
        names.push(a.output_name().to_string());
    }
    // The hidden counts come after the query's own aggregations.
    let first_count = by.len() + specs.len();
    specs.extend(counts);
    // Below the group-by, only the table itself, perhaps projected.
    let mut below = input;
    loop {
        match plan.lp_arena.get(below) {
            IR::DataFrameScan { .. } => break,
            IR::SimpleProjection { input, .. } => below = *input,
            IR::Select { input, expr, .. }
                if expr.iter().all(|e| column(e.node()).is_some_and(|c| c == e.output_name().as_str())) =>
            {
                below = *input
            }
            _ => return None,
        }
    }
    // An ORDER BY must be the first keys, in order: pframe's order then satisfies it.
    if let Some(sort) = sort
        && (sort.len() > by.len() || sort.iter().zip(&by).any(|(s, k)| s != k))
    {
        return None;
    }
    let columns = columns
        .into_iter()
        .map(|(name, at)| {
            let index = names.iter().position(|n| *n == at)?;
            Some(SqlColumn { name, index, null_if_zero: null_if_none[index].map(|c| first_count + c) })
        })
        .collect::<Option<_>>()?;
    Some(SqlGroupBy { by, aggs: specs, columns })
}

/// The column an expression is, if it is one.
fn column_name(arena: &Arena<AExpr>, node: Node) -> Option<String> {
    match arena.get(node) {
        AExpr::Column(name) => Some(name.to_string()),
        _ => None,
    }
}

/// SQL's `SUM(c)`, which polars writes `when(null_count(c) < count(c)).then(sum(c))
/// .otherwise(null)`: null, not 0, for a group without values.
fn sql_sum(arena: &Arena<AExpr>, predicate: Node, truthy: Node, falsy: Node) -> Option<crate::agg::groupby::AggSpec> {
    use polars_plan::plans::{IRAggExpr, IRFunctionExpr};
    let column = |node| column_name(arena, node);
    let AExpr::Agg(IRAggExpr::Sum(input)) = arena.get(truthy) else { return None };
    let c = column(*input)?;
    let null = |node| match arena.get(node) {
        AExpr::Literal(v) => v.is_null(),
        AExpr::Cast { expr, .. } => matches!(arena.get(*expr), AExpr::Literal(v) if v.is_null()),
        _ => false,
    };
    let AExpr::BinaryExpr { left, op: Operator::Lt, right } = arena.get(predicate) else { return None };
    let null_count = matches!(arena.get(*left), AExpr::Function { input, function: IRFunctionExpr::NullCount, .. }
        if input.len() == 1 && column(input[0].node()).as_ref() == Some(&c));
    let count = matches!(arena.get(*right), AExpr::Agg(IRAggExpr::Count { input, include_nulls: true })
        if column(*input).as_ref() == Some(&c));
    (null_count && count && null(falsy))
        .then_some(crate::agg::groupby::AggSpec { func: crate::agg::groupby::AggFn::Sum, column: Some(c) })
}

fn declared_schema(declared: &[(String, crate::agg::groupby::Kind)]) -> Option<SchemaRef> {
    use crate::agg::groupby::Kind;
    (!declared.is_empty()).then(|| {
        let fields = declared.iter().map(|(name, kind)| {
            let dtype = match kind {
                Kind::Int => DataType::Int64,
                Kind::Float => DataType::Float64,
                _ => DataType::String,
            };
            Field::new(name.as_str().into(), dtype)
        });
        std::sync::Arc::new(Schema::from_iter(fields))
    })
}

/// A polars frame as a result table: each column converted in one pass (indexing cell by cell
/// would walk the column's chunks for every cell), then the columns turned into rows.
fn frame_to_table(df: &DataFrame) -> PolarsResult<Table> {
    let headers: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut columns: Vec<std::vec::IntoIter<Value>> = Vec::with_capacity(headers.len());
    for c in df.columns() {
        let series = c.as_materialized_series().rechunk();
        let values: Vec<Value> = if series.is_empty() { Vec::new() } else { series.iter().map(any_to_value).collect() };
        columns.push(values.into_iter());
    }
    let rows =
        (0..df.height()).map(|_| columns.iter_mut().map(|c| c.next().unwrap_or(Value::Null)).collect()).collect();
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
