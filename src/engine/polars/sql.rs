//! SQL over frames: a query is planned once against an empty frame with the input's columns and
//! types, and its plan (polars' IR) says how it can run: row-wise (each chunk's rows on their own),
//! as a plain GROUP BY that pframe's group-by engine answers, or only over the whole input.
//! Row-wise queries run on each chunk's frames; whole-input ones on a lazy scan of an Arrow IPC
//! spool of typed frames, on polars' streaming engine.

use std::path::Path;

use polars::polars_utils::arena::{Arena, Node};
use polars::prelude::*;
use polars_plan::plans::AExpr;

use super::frame_to_table;
use crate::output::Table;

/// The table name of the input.
pub const TABLE: &str = "t";

/// Rows whose values give a streamed query's column types (later values may widen them).
pub const INFER_ROWS: u64 = 10_000;

/// A query planned against the input's columns.
pub struct Prepared {
    query: String,
    /// The result's column names.
    pub headers: Vec<String>,
    /// The input columns the query reads (all of them, or those polars' projection keeps), as
    /// indices into the input's columns.
    pub used: Vec<usize>,
    /// The query as a group-by, when pframe's group-by can answer it (see [`as_group_by`]).
    pub group_by: Option<SqlGroupBy>,
    /// The query as a group-by on the engine and a query over its groups, when it aggregates
    /// otherwise than plainly (see [`super::over_groups`]).
    pub over_groups: Option<super::over_groups::OverGroups>,
    /// Whether the query keeps, drops and computes rows one at a time (selections, filters and
    /// elementwise expressions only): then running it on each chunk and concatenating the results
    /// in order is running it on the whole input.
    pub row_wise: bool,
}

fn lazy(query: &str, lf: LazyFrame) -> PolarsResult<LazyFrame> {
    let mut ctx = polars::sql::SQLContext::new();
    ctx.register(TABLE, lf);
    ctx.execute(query)
}

impl Prepared {
    /// Plans `query` over a table with the columns `names` of the types `kinds`.
    pub fn new(query: &str, names: &[String], kinds: &[crate::input::value::Kind]) -> PolarsResult<Prepared> {
        Prepared::over(query, super::frames::empty_frame(names, kinds))
    }

    /// Plans `query` over a table of `schema` (a table file's).
    pub fn with_schema(query: &str, schema: &Schema) -> PolarsResult<Prepared> {
        Prepared::over(query, DataFrame::empty_with_schema(schema))
    }

    fn over(query: &str, empty: DataFrame) -> PolarsResult<Prepared> {
        let names: Vec<String> = empty.get_column_names().iter().map(|n| n.to_string()).collect();
        let names = &names[..];
        let schema = empty.schema().clone();
        let plan = lazy(query, empty.lazy())?;
        let ir = plan.clone().to_alp()?;
        let (row_wise, group_by) = (is_row_wise(&ir), as_group_by(&ir));
        let optimized = plan.clone().to_alp_optimized()?;
        let used = scanned_columns(&optimized, names);
        let headers: Vec<String> = plan.collect()?.get_column_names().iter().map(|s| s.to_string()).collect();
        let over_groups = (group_by.is_none() && !row_wise)
            .then(|| super::over_groups::over_groups(query, names))
            .flatten()
            .filter(|og| outer_plans(og, &schema, headers.len()));
        Ok(Prepared { query: query.to_string(), headers, used, group_by, over_groups, row_wise })
    }

    /// Runs the query over the groups: the engine's `table` of keys and aggregates, read as
    /// [`super::over_groups::OverGroups::columns`] say, queried by its outer query, named as
    /// the query's own result.
    pub fn run_over_groups(&self, table: &Table) -> PolarsResult<Table> {
        let og = self.over_groups.as_ref().expect("a query over groups");
        let groups = Table {
            headers: og.columns.iter().map(|c| c.name.clone()).collect(),
            rows: sql_cells(&og.columns, &table.rows),
            json: table.json,
        };
        let df = crate::output::table_frame(&groups).map_err(|e| polars_err!(ComputeError: "{e}"))?;
        let mut result = frame_to_table(&lazy(&og.outer, df.lazy())?.collect()?)?;
        if result.headers.len() == self.headers.len() {
            result.headers = self.headers.clone();
        }
        Ok(result)
    }

    /// Runs the query on one frame of the input's (used) columns.
    pub fn run(&self, df: DataFrame) -> PolarsResult<Table> {
        frame_to_table(&lazy(&self.query, df.lazy())?.collect()?)
    }

    /// Runs the query over an Arrow IPC file of the input's (used) columns, on polars' streaming
    /// engine.
    pub fn run_ipc(&self, path: &Path) -> PolarsResult<Table> {
        let path = path.to_str().ok_or_else(|| polars_err!(ComputeError: "temporary path is not valid UTF-8"))?;
        let args = UnifiedScanArgs { glob: false, ..UnifiedScanArgs::default() };
        self.run_scan(LazyFrame::scan_ipc(PlRefPath::new(path), IpcScanOptions::default(), args)?)
    }

    /// Runs the query over a lazy scan of the whole input, on polars' streaming engine.
    pub fn run_scan(&self, scan: LazyFrame) -> PolarsResult<Table> {
        let df = lazy(&self.query, scan)?.collect_with_engine(Engine::Streaming)?.unwrap_single();
        frame_to_table(&df)
    }
}

/// The cells of `columns` from a group-by's result rows: SQL's NULL for the sum of a group without
/// values (where its hidden count is 0).
pub fn sql_cells(columns: &[SqlColumn], rows: &[Vec<crate::output::Value>]) -> Vec<Vec<crate::output::Value>> {
    use crate::output::Value;
    let cell = |row: &[Value], c: &SqlColumn| match c.null_if_zero.map(|z| &row[z]) {
        Some(Value::UInt(0)) => Value::Null,
        _ => row[c.index].clone(),
    };
    rows.iter().map(|row| columns.iter().map(|c| cell(row, c)).collect()).collect()
}

/// Whether polars plans a rewritten query over the table of groups (keys of their input types,
/// aggregates as floats) to as many columns as the query: a query it would not plan so stays on
/// the whole-input path, whose answer or message is polars' own.
fn outer_plans(og: &super::over_groups::OverGroups, schema: &Schema, width: usize) -> bool {
    let columns: Vec<Column> = og
        .columns
        .iter()
        .map(|c| {
            use crate::agg::groupby::AggFn;
            // A key keeps its type; min and max of a column have its type, counts are integers.
            let agg = c.index.checked_sub(og.by.len()).map(|i| &og.aggs[i]);
            let dtype = match agg {
                None => schema.get(c.name.as_str()).cloned(),
                Some(a) => match a.func {
                    AggFn::Min | AggFn::Max => a.column.as_deref().and_then(|col| schema.get(col).cloned()),
                    AggFn::Rows | AggFn::Count => Some(DataType::UInt64),
                    _ => None,
                },
            };
            Column::new_empty(c.name.as_str().into(), &dtype.unwrap_or(DataType::Float64))
        })
        .collect();
    DataFrame::new_infer_height(columns)
        .and_then(|df| lazy(&og.outer, df.lazy()))
        .and_then(|lf| lf.collect())
        .is_ok_and(|df| df.width() == width)
}

/// The columns the optimized plan's scan of the table keeps, as indices into `names` (all of
/// them when the plan does not say; none for a query that reads none, `SELECT count(*)`).
fn scanned_columns(plan: &polars_plan::plans::IRPlan, names: &[String]) -> Vec<usize> {
    use polars_plan::plans::{ArenaLpIter, IR};
    let all = || (0..names.len()).collect();
    let mut scans = plan.lp_arena.iter(plan.lp_top).filter_map(|(_, ir)| match ir {
        IR::DataFrameScan { output_schema, .. } => Some(output_schema.clone()),
        _ => None,
    });
    match (scans.next(), scans.next()) {
        (Some(Some(schema)), None) => {
            let mut used: Vec<usize> =
                schema.iter_names().filter_map(|n| names.iter().position(|m| m == n.as_str())).collect();
            used.sort_unstable();
            used
        }
        _ => all(),
    }
}

/// An Arrow IPC file written frame by frame: the whole input's typed columns, for a query that
/// needs all of it.
pub struct IpcSpool {
    writer: polars::io::ipc::BatchedWriter<std::io::BufWriter<std::fs::File>>,
}

impl IpcSpool {
    /// Starts an IPC file at `file` for frames of the columns `names` of types `kinds`.
    pub fn create(
        file: std::fs::File,
        names: &[String],
        kinds: &[crate::input::value::Kind],
    ) -> PolarsResult<IpcSpool> {
        let schema = super::frames::empty_frame(names, kinds).schema().as_ref().clone();
        let arrow = schema.to_arrow(CompatLevel::newest());
        let fields = polars_arrow::io::ipc::write::default_ipc_fields(arrow.iter_values());
        let writer = polars::io::ipc::IpcWriter::new(std::io::BufWriter::with_capacity(1 << 20, file))
            .batched(&schema, fields)?;
        Ok(IpcSpool { writer })
    }

    pub fn write(&mut self, mut df: DataFrame) -> PolarsResult<()> {
        df.align_chunks();
        self.writer.write_batch(&df)
    }

    pub fn finish(mut self) -> PolarsResult<()> {
        self.writer.finish()
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
        let of = |func: AggFn, input: Node| Some(AggSpec::of(func, Some(column(input)?)));
        let (spec, sql_sum) = match arena.get(a.node()) {
            AExpr::Len => (AggSpec::of(AggFn::Rows, None), false),
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
            counts.push(AggSpec::of(AggFn::Count, spec.column.clone()));
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
        .then_some(crate::agg::groupby::AggSpec::of(crate::agg::groupby::AggFn::Sum, Some(c)))
}
