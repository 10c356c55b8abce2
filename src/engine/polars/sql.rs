//! SQL over frames: a query is planned once against an empty frame with the input's columns and
//! types, and its plan (polars' IR) says how it can run: row-wise (each chunk's rows on their own),
//! as a plain GROUP BY that pframe's group-by engine answers, or only over the whole input.
//! Row-wise queries run on each chunk's frames; whole-input ones on a lazy scan of an Arrow IPC
//! spool of typed frames, on polars' streaming engine.

use std::path::Path;
use std::sync::Arc;

use polars::polars_utils::arena::{Arena, Node};
use polars::prelude::*;
use polars_plan::plans::AExpr;

use super::frame_to_table;
use crate::output::Table;

/// The table name of the input.
pub const TABLE: &str = "t";

/// The tables a query sees: the streamed input by its name, and the others, each read whole.
#[derive(Clone)]
pub struct Tables {
    /// The name of the input streamed through the query (`t`, or its `--table` name).
    pub input: String,
    /// The other tables, by name.
    pub others: Vec<(String, DataFrame)>,
    /// Another table with at least this many rows, joined to the input, is indexed once by its
    /// keys and each chunk joins only the rows it can match (see [`super::join_index`]).
    pub index_from: usize,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables { input: TABLE.to_string(), others: Vec::new(), index_from: super::join_index::MIN_ROWS }
    }
}

impl Tables {
    /// The query over `input` (the streamed table's frame or scan) and the other tables.
    fn lazy(&self, query: &str, input: LazyFrame) -> PolarsResult<LazyFrame> {
        self.context(query, input, None).map(|(lf, _)| lf)
    }

    /// [`Tables::lazy`], the other table `replaced.0` replaced by the frame `replaced.1`; and the
    /// frames the other tables' scans hold (which tell their scans in a plan).
    fn context(
        &self,
        query: &str,
        input: LazyFrame,
        replaced: Option<(usize, DataFrame)>,
    ) -> PolarsResult<(LazyFrame, Vec<*const DataFrame>)> {
        let mut ctx = polars::sql::SQLContext::new();
        ctx.register(&self.input, input);
        let mut replaced = replaced;
        let mut frames = Vec::with_capacity(self.others.len());
        for (i, (name, df)) in self.others.iter().enumerate() {
            let lf = match replaced.take_if(|(r, _)| *r == i) {
                Some((_, df)) => df.lazy(),
                None => df.clone().lazy(),
            };
            frames.push(frame_of(&lf));
            ctx.register(name, lf);
        }
        Ok((ctx.execute(query)?, frames))
    }

    /// The bytes the other tables take in memory, but for the other table `but`.
    pub fn others_size(&self, but: Option<usize>) -> usize {
        self.others.iter().enumerate().filter(|(i, _)| Some(*i) != but).map(|(_, (_, df))| df.estimated_size()).sum()
    }
}

/// The frame a lazy frame scans, when it is one frame: its address tells the input's scan from
/// the other tables' in a plan.
fn frame_of(lf: &LazyFrame) -> *const DataFrame {
    match &lf.logical_plan {
        DslPlan::DataFrameScan { df, .. } => Arc::as_ptr(df),
        _ => std::ptr::null(),
    }
}

/// Rows whose values give a streamed query's column types (later values may widen them).
pub const INFER_ROWS: u64 = 10_000;

/// A query planned against the input's columns.
pub struct Prepared {
    query: String,
    tables: Tables,
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
    /// The row-wise query whose rows the engine groups, when `over_groups` has one (a join or a
    /// filter before grouping).
    pub pre: Option<Box<Prepared>>,
    /// Whether polars plans the query as written (else it runs only split, see `pre`).
    pub plans_whole: bool,
    /// The row-wise query's join with a large other table, indexed to be joined a chunk's
    /// matches at a time.
    reduction: Option<super::join_index::Reduction>,
    /// Whether the query keeps, drops and computes rows one at a time (selections, filters and
    /// elementwise expressions only): then running it on each chunk and concatenating the results
    /// in order is running it on the whole input.
    pub row_wise: bool,
    /// The columns planned with no type (no value in the rows planned from, and a query that
    /// needs a number of them): a chunk's column of nulls only, text as read, is made of no type
    /// too before the query runs on it.
    untyped: Vec<PlSmallStr>,
}

impl Prepared {
    /// Plans `query` over a table with the columns `names` of the types `kinds`.
    pub fn new(
        query: &str,
        names: &[String],
        kinds: &[crate::input::value::Kind],
        tables: &Tables,
    ) -> PolarsResult<Prepared> {
        Prepared::over(query, super::frames::empty_frame(names, kinds, DataType::String), tables).or_else(|e| {
            // A column with no value in the sampled rows is planned as text; a query that needs a
            // number of it (a sum, arithmetic) is planned again with no type for it, which polars
            // lets any operation take. The query runs on the values' own types either way.
            if kinds.contains(&crate::input::value::Kind::Null) {
                Prepared::over(query, super::frames::empty_frame(names, kinds, DataType::Null), tables).map_err(|_| e)
            } else {
                Err(e)
            }
        })
    }

    /// Plans `query` over a table of `schema` (a table file's).
    pub fn with_schema(query: &str, schema: &Schema, tables: &Tables) -> PolarsResult<Prepared> {
        Prepared::over(query, DataFrame::empty_with_schema(schema), tables)
    }

    fn over(query: &str, empty: DataFrame, tables: &Tables) -> PolarsResult<Prepared> {
        Prepared::planned(query, empty.clone(), tables).or_else(|e| {
            // A query polars cannot plan whole may still plan split: its groups on the engine.
            Prepared::split_only(query, empty, tables).ok_or(e)
        })
    }

    /// A query polars cannot plan as written (a bug of its SQL front end: a key named as a
    /// column of the other table after a join) that splits into a pre-query, the engine's
    /// group-by and a query over the groups, each of which it plans.
    fn split_only(query: &str, empty: DataFrame, tables: &Tables) -> Option<Prepared> {
        let names: Vec<String> = empty.get_column_names().iter().map(|n| n.to_string()).collect();
        let og = super::over_groups::over_groups(query, &names, &tables.input)?;
        let (pre, schema) = Prepared::pre_query(og.pre.as_deref()?, &empty, tables)?;
        let og = super::over_groups::OverGroups { dtypes: group_dtypes(&og, &schema), ..og };
        let headers = outer_headers(&og, tables)?;
        Some(Prepared {
            query: query.to_string(),
            tables: tables.clone(),
            headers,
            used: (0..names.len()).collect(),
            group_by: None,
            over_groups: Some(og),
            pre: Some(pre),
            plans_whole: false,
            row_wise: false,
            reduction: None,
            untyped: untyped(&empty),
        })
    }

    /// A group-by's pre-query planned over the input, with its result's schema, if it runs
    /// row-wise on the input's chunks (its rows are what the engine groups).
    fn pre_query(sql: &str, empty: &DataFrame, tables: &Tables) -> Option<(Box<Prepared>, SchemaRef)> {
        let pre = Prepared::planned(sql, empty.clone(), tables).ok().filter(|p| p.row_wise)?;
        let schema = tables.lazy(sql, empty.clone().lazy()).and_then(|mut lf| lf.collect_schema()).ok()?;
        Some((Box::new(pre), schema))
    }

    fn planned(query: &str, empty: DataFrame, tables: &Tables) -> PolarsResult<Prepared> {
        let names: Vec<String> = empty.get_column_names().iter().map(|n| n.to_string()).collect();
        let names = &names[..];
        let schema = empty.schema().clone();
        let input = empty.clone().lazy();
        let frame = frame_of(&input);
        let (plan, others) = tables.context(query, input, None)?;
        let ir = plan.clone().to_alp()?;
        let (row_wise, group_by) = (is_row_wise(&ir, frame), as_group_by(&ir, frame));
        let reduction = row_wise.then(|| join_reduction(&ir, frame, &others, tables)).flatten();
        let optimized = plan.clone().to_alp_optimized()?;
        let used = scanned_columns(&optimized, names, frame, &schema);
        let headers: Vec<String> = plan.clone().collect_schema()?.iter_names().map(|s| s.to_string()).collect();
        let split = (group_by.is_none() && !row_wise)
            .then(|| super::over_groups::over_groups(query, names, &tables.input))
            .flatten()
            .and_then(|og| {
                let (pre, schema) = match &og.pre {
                    None => (None, schema.clone()),
                    Some(sql) => Prepared::pre_query(sql, &empty, tables).map(|(pre, schema)| (Some(pre), schema))?,
                };
                let og = super::over_groups::OverGroups { dtypes: group_dtypes(&og, &schema), ..og };
                (outer_headers(&og, tables)?.len() == headers.len()).then_some((og, pre))
            });
        let (over_groups, pre) = split.map_or((None, None), |(og, pre)| (Some(og), pre));
        Ok(Prepared {
            query: query.to_string(),
            tables: tables.clone(),
            headers,
            used,
            group_by,
            over_groups,
            pre,
            plans_whole: true,
            row_wise,
            reduction,
            untyped: untyped(&empty),
        })
    }

    /// The other table that the query's join (or its pre-query's) indexes, and so does not join
    /// whole to each chunk of the input.
    pub fn indexed_table(&self) -> Option<usize> {
        self.reduction.as_ref().map(|r| r.table).or_else(|| self.pre.as_ref()?.indexed_table())
    }

    /// Builds the indexes of the other tables that the query's join (or its pre-query's) reads
    /// a chunk's matches from (else each is built when the first chunk needs it).
    pub fn build_indexes(&self) {
        if let Some(r) = &self.reduction {
            r.build(&self.tables.others[r.table].1);
        }
        if let Some(pre) = &self.pre {
            pre.build_indexes();
        }
    }

    /// The engine's groups as the frame the query over them reads: its keys and aggregates as
    /// [`super::over_groups::OverGroups::columns`] say (see [`Prepared::run_over_groups`]).
    pub fn groups_frame(&self, grouped: crate::engine::groupby::Grouped) -> std::io::Result<DataFrame> {
        let og = self.over_groups.as_ref().expect("a query over groups");
        Ok(groups_frame(grouped, &og.columns)?.1)
    }

    /// Runs the query over the groups (their frame from [`Prepared::groups_frame`]) by its outer
    /// query, named as the query's own result.
    pub fn run_over_groups(&self, mut df: DataFrame) -> PolarsResult<(Vec<String>, DataFrame)> {
        let og = self.over_groups.as_ref().expect("a query over groups");
        // A column with no value at all (no groups, or an aggregate of nulls only) is typed as
        // the query was planned (by `--schema` or the input's types), not as text.
        let (height, names) = (df.height(), df.get_column_names_owned());
        for (name, dtype) in names.iter().zip(&og.dtypes) {
            let column = df.column(name)?;
            if column.null_count() == height && column.dtype() != dtype {
                let typed = column.cast(dtype)?;
                df.with_column(typed)?;
            }
        }
        let result = self.tables.lazy(&og.outer, df.lazy())?.collect()?;
        let headers = if result.width() == self.headers.len() {
            self.headers.clone()
        } else {
            result.get_column_names().iter().map(|s| s.to_string()).collect()
        };
        Ok((headers, result))
    }

    /// Runs the query on one frame of the input's (used) columns. A join of the input keeps
    /// the input's row order, and each row's matches in the other table's order, so that the
    /// results of consecutive frames are the result of the whole input.
    pub fn run(&self, df: DataFrame) -> PolarsResult<Table> {
        frame_to_table(&self.run_frame(df)?)
    }

    /// [`Prepared::run`], the result as a frame.
    pub fn run_frame(&self, mut df: DataFrame) -> PolarsResult<DataFrame> {
        for name in &self.untyped {
            if let Ok(c) = df.column(name)
                && c.dtype() == &DataType::String
                && c.null_count() == c.len()
            {
                let nulls = Column::full_null(name.clone(), c.len(), &DataType::Null);
                df.with_column(nulls)?;
            }
        }
        let reduced = self.reduction.as_ref().and_then(|r| {
            let (_, other) = &self.tables.others[r.table];
            r.reduce(&df, other).map(|df| (r.table, df))
        });
        let input = df.lazy();
        let frame = frame_of(&input);
        let (mut lf, _) = self.tables.context(&self.query, input, reduced)?;
        keep_input_order(&mut lf.logical_plan, frame);
        lf.collect()
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
        let df = self.tables.lazy(&self.query, scan)?.collect_with_engine(Engine::Streaming)?.unwrap_single();
        frame_to_table(&df)
    }
}

/// The columns of `empty` (a frame a query is planned over) of no type.
fn untyped(empty: &DataFrame) -> Vec<PlSmallStr> {
    empty.columns().iter().filter(|c| c.dtype() == &DataType::Null).map(|c| c.name().clone()).collect()
}

/// The engine's groups as a frame of the SQL columns `columns` (a plain group-by's, or those a
/// query over groups reads), with those columns' names.
pub fn groups_frame(
    grouped: crate::engine::groupby::Grouped,
    columns: &[SqlColumn],
) -> std::io::Result<(Vec<String>, DataFrame)> {
    let headers: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let df = grouped.into_frame(&headers, |rows| sql_cells(columns, rows))?;
    Ok((headers, df))
}

/// The cells of `columns` from a group-by's result rows: SQL's NULL for the sum of a group without
/// values (where its hidden count is 0).
fn sql_cells(columns: &[SqlColumn], rows: Vec<Vec<crate::output::Value>>) -> Vec<Vec<crate::output::Value>> {
    use crate::output::Value;
    // Columns that are the rows' cells in order, none nulled by a count: the rows as they are
    // (rebuilt, each row was two allocations more for millions of groups).
    let identity = columns.iter().enumerate().all(|(i, c)| c.index == i && c.null_if_zero.is_none());
    if identity && rows.iter().all(|row| row.len() == columns.len()) {
        return rows;
    }
    // A cell is moved out of its row unless a later column reads it too (or as its zero count).
    let read_later: Vec<bool> = (0..columns.len())
        .map(|i| {
            let index = columns[i].index;
            columns[i + 1..].iter().any(|c| c.index == index) || columns.iter().any(|c| c.null_if_zero == Some(index))
        })
        .collect();
    rows.into_iter()
        .map(|mut row| {
            let nulls: Vec<bool> =
                columns.iter().map(|c| matches!(c.null_if_zero.map(|z| &row[z]), Some(Value::UInt(0)))).collect();
            columns
                .iter()
                .zip(nulls)
                .zip(&read_later)
                .map(|((c, null), &later)| match (null, later) {
                    (true, _) => Value::Null,
                    (false, true) => row[c.index].clone(),
                    (false, false) => std::mem::replace(&mut row[c.index], Value::Null),
                })
                .collect()
        })
        .collect()
}

/// The types of the table of groups' columns: a key keeps its type; min and max of a column have
/// its type, counts are integers, other aggregates floats.
fn group_dtypes(og: &super::over_groups::OverGroups, schema: &Schema) -> Vec<DataType> {
    use crate::agg::groupby::AggFn;
    og.columns
        .iter()
        .map(|c| {
            let agg = c.index.checked_sub(og.by.len()).map(|i| &og.aggs[i]);
            let dtype = match agg {
                None => schema.get(c.name.as_str()).cloned(),
                Some(a) => match a.func {
                    AggFn::Min | AggFn::Max => a.column.as_deref().and_then(|col| schema.get(col).cloned()),
                    AggFn::Rows | AggFn::Count => Some(DataType::UInt64),
                    _ => None,
                },
            };
            dtype.unwrap_or(DataType::Float64)
        })
        .collect()
}

/// The columns of a rewritten query over the table of groups (keys of their input types,
/// aggregates as floats), if polars plans it: a query it would not plan so stays on the
/// whole-input path, whose answer or message is polars' own.
fn outer_headers(og: &super::over_groups::OverGroups, tables: &Tables) -> Option<Vec<String>> {
    let columns: Vec<Column> = (og.columns.iter().zip(&og.dtypes))
        .map(|(c, dtype)| Column::new_empty(c.name.as_str().into(), dtype))
        .collect();
    DataFrame::new_infer_height(columns)
        .and_then(|df| tables.lazy(&og.outer, df.lazy()))
        .and_then(|lf| lf.collect())
        .ok()
        .map(|df| df.get_column_names().iter().map(|n| n.to_string()).collect())
}

/// The columns the optimized plan's scan of the table keeps, as indices into `names` (all of
/// them when the plan does not say; none for a query that reads none, `SELECT count(*)`).
///
/// The optimizer may hand the scan a copy of the input's frame (its unused columns emptied): a
/// scan is the input's if it holds that frame, or an empty frame of the input's column names
/// (when only one scan does).
fn scanned_columns(
    plan: &polars_plan::plans::IRPlan,
    names: &[String],
    input: *const DataFrame,
    schema: &Schema,
) -> Vec<usize> {
    use polars_plan::plans::{ArenaLpIter, IR};
    let all = || (0..names.len()).collect();
    let mut scans = plan.lp_arena.iter(plan.lp_top).filter_map(|(_, ir)| match ir {
        IR::DataFrameScan { df, schema: of, output_schema }
            if Arc::as_ptr(df) == input || df.height() == 0 && of.iter_names().eq(schema.iter_names()) =>
        {
            Some(output_schema.clone())
        }
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
        let schema = super::frames::empty_frame(names, kinds, DataType::String).schema().as_ref().clone();
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

/// Whether a plan only selects, filters and computes elementwise over the input (the scan of
/// `input`), perhaps joined once to other tables in a way that keeps each input row's matches
/// to itself: an inner join, or a left, semi or anti join with the input on the left (right join:
/// on the right). Then running it on each chunk and concatenating the results in order is
/// running it on the whole input. No aggregation, sort, limit, distinct or window.
fn is_row_wise(plan: &polars_plan::plans::IRPlan, input: *const DataFrame) -> bool {
    row_wise_from(plan, plan.lp_top, input, true)
}

fn row_wise_from(plan: &polars_plan::plans::IRPlan, mut node: Node, input: *const DataFrame, join: bool) -> bool {
    use polars_plan::plans::expr_ir::ExprIR;
    use polars_plan::plans::{IR, is_elementwise_rec};
    let arena = &plan.expr_arena;
    let elementwise = |exprs: &[ExprIR]| exprs.iter().all(|e| is_elementwise_rec(e.node(), arena));
    loop {
        node = match plan.lp_arena.get(node) {
            IR::DataFrameScan { df, .. } => return Arc::as_ptr(df) == input,
            IR::SimpleProjection { input, .. } => *input,
            IR::Filter { input, predicate } if elementwise(std::slice::from_ref(predicate)) => *input,
            // A selection of scalars alone gives one row, not one per row.
            IR::Select { input, expr, .. }
                if elementwise(expr) && expr.iter().any(|e| e.is_length_preserving(arena)) =>
            {
                *input
            }
            IR::HStack { input, exprs, .. } if elementwise(exprs) => *input,
            IR::Join { input_left, input_right, options, .. } if join => {
                let (left, right) = (reads(plan, *input_left, input), reads(plan, *input_right, input));
                let input_left_side = match options.args.how {
                    JoinType::Inner => left != right,
                    JoinType::Left | JoinType::Semi | JoinType::Anti => left && !right,
                    JoinType::Right => right && !left,
                    _ => false,
                };
                if !input_left_side {
                    return false;
                }
                let side = if left { *input_left } else { *input_right };
                return row_wise_from(plan, side, input, false);
            }
            _ => return false,
        }
    }
}

/// The join of a row-wise plan with one of the other tables (whose scans hold `others`), when
/// that table is large enough to index and each chunk can join only the rows its keys can match:
/// each side's keys are columns of its table (renamed perhaps), the other side only selects and
/// filters that table's rows (elementwise), and the table is scanned nowhere else.
fn join_reduction(
    plan: &polars_plan::plans::IRPlan,
    input: *const DataFrame,
    others: &[*const DataFrame],
    tables: &Tables,
) -> Option<super::join_index::Reduction> {
    use polars_plan::plans::{ArenaLpIter, IR};
    let scans = |node: Node, frame: *const DataFrame| {
        let nodes = plan.lp_arena.iter(node);
        nodes.filter(|(_, ir)| matches!(ir, IR::DataFrameScan { df, .. } if Arc::as_ptr(df) == frame)).count()
    };
    let (sides, on, options) = plan.lp_arena.iter(plan.lp_top).find_map(|(_, ir)| match ir {
        IR::Join { input_left, input_right, left_on, right_on, options, .. }
            if reads(plan, *input_left, input) != reads(plan, *input_right, input) =>
        {
            Some(([*input_left, *input_right], [left_on, right_on], options))
        }
        _ => None,
    })?;
    let args = &options.args;
    if args.nulls_equal || args.slice.is_some() || !matches!(args.validation, JoinValidation::ManyToMany) {
        return None;
    }
    let (me, other) = if reads(plan, sides[0], input) { (0, 1) } else { (1, 0) };
    let table = others.iter().position(|&f| scans(sides[other], f) == 1)?;
    let frame = others[table];
    if tables.others[table].1.height() < tables.index_from
        || scans(plan.lp_top, frame) != 1
        || !row_wise_from(plan, sides[other], frame, false)
    {
        return None;
    }
    let names = |on: &[polars_plan::plans::expr_ir::ExprIR]| {
        on.iter().map(|e| join_key(&plan.expr_arena, e.node())).collect::<Option<Vec<_>>>()
    };
    let input_keys = key_columns(plan, sides[me], names(on[me])?, input)?;
    let other_keys = key_columns(plan, sides[other], names(on[other])?, frame)?;
    Some(super::join_index::Reduction::new(table, other_keys, input_keys))
}

/// The column a join key is, perhaps cast to a 64-bit integer type (as keys of two integer
/// types are): such a cast keeps an integer's bits, which is what the index hashes.
fn join_key(arena: &Arena<AExpr>, node: Node) -> Option<PlSmallStr> {
    match arena.get(node) {
        AExpr::Cast { expr, dtype: DataType::Int64 | DataType::UInt64, .. } => join_key(arena, *expr),
        AExpr::Column(name) => Some(name.clone()),
        _ => None,
    }
}

/// The columns of the frame `scan` that the columns `names` of the plan's node `node` are, when
/// the nodes between only select (and rename) and filter them.
fn key_columns(
    plan: &polars_plan::plans::IRPlan,
    mut node: Node,
    mut names: Vec<PlSmallStr>,
    scan: *const DataFrame,
) -> Option<Vec<PlSmallStr>> {
    use polars_plan::plans::IR;
    use polars_plan::plans::expr_ir::ExprIR;
    let arena = &plan.expr_arena;
    // A column computed by one of `exprs` must be a column below, perhaps renamed.
    let rename = |names: &mut [PlSmallStr], exprs: &[ExprIR], all: bool| -> Option<()> {
        for name in names {
            match exprs.iter().find(|e| e.output_name_inner().get() == Some(name)) {
                Some(e) => *name = column_name(arena, e.node())?.into(),
                None if all => return None,
                None => {}
            }
        }
        Some(())
    };
    loop {
        node = match plan.lp_arena.get(node) {
            IR::DataFrameScan { df, .. } => return (Arc::as_ptr(df) == scan).then_some(names),
            IR::SimpleProjection { input, .. } | IR::Filter { input, .. } => *input,
            IR::Select { input, expr, .. } => {
                rename(&mut names, expr, true)?;
                *input
            }
            IR::HStack { input, exprs, .. } => {
                rename(&mut names, exprs, false)?;
                *input
            }
            _ => return None,
        }
    }
}

/// Whether the plan below `node` scans the frame `input`.
fn reads(plan: &polars_plan::plans::IRPlan, node: Node, input: *const DataFrame) -> bool {
    use polars_plan::plans::{ArenaLpIter, IR};
    plan.lp_arena.iter(node).any(|(_, ir)| matches!(ir, IR::DataFrameScan { df, .. } if Arc::as_ptr(df) == input))
}

/// Makes each join that reads the frame `input` on one side keep that side's row order, and each
/// row's matches in the other side's order (see [`Prepared::run`]). Returns whether `plan` reads
/// `input`.
fn keep_input_order(plan: &mut DslPlan, input: *const DataFrame) -> bool {
    match plan {
        DslPlan::DataFrameScan { df, .. } => Arc::as_ptr(df) == input,
        DslPlan::Join { input_left, input_right, options, .. } => {
            let left = keep_input_order(Arc::make_mut(input_left), input);
            let right = keep_input_order(Arc::make_mut(input_right), input);
            if left != right {
                Arc::make_mut(options).args.maintain_order =
                    if left { MaintainOrderJoin::LeftRight } else { MaintainOrderJoin::RightLeft };
            }
            left || right
        }
        DslPlan::IR { dsl, node, .. } => {
            // Converted again from the changed plan, not taken from the cached conversion.
            let reads = keep_input_order(Arc::make_mut(dsl), input);
            if reads {
                *node = None;
            }
            reads
        }
        DslPlan::Select { input: below, .. }
        | DslPlan::Filter { input: below, .. }
        | DslPlan::HStack { input: below, .. }
        | DslPlan::MapFunction { input: below, .. }
        | DslPlan::MatchToSchema { input: below, .. }
        | DslPlan::Cache { input: below, .. } => keep_input_order(Arc::make_mut(below), input),
        _ => false,
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
fn as_group_by(plan: &polars_plan::plans::IRPlan, scan: *const DataFrame) -> Option<SqlGroupBy> {
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
    // Below the group-by, only the input itself, perhaps projected.
    let mut below = input;
    loop {
        match plan.lp_arena.get(below) {
            IR::DataFrameScan { df, .. } if Arc::as_ptr(df) == scan => break,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Which joins of the input stream chunk by chunk: those that keep each input row's matches
    /// to itself.
    #[test]
    fn joins_that_keep_the_input_rows_are_row_wise() {
        let t = df!("i" => [1i64], "k" => [1i64], "a" => [2i64]).unwrap();
        let r = df!("j" => [1i64], "k" => [1i64], "b" => [2i64]).unwrap();
        let tables = Tables { input: "t".into(), others: vec![("r".into(), r)], ..Tables::default() };
        for (q, row_wise) in [
            ("SELECT t.i, r.b FROM t JOIN r ON t.k = r.k WHERE t.a > 1", true),
            ("SELECT k, b FROM t JOIN r USING (k)", true),
            ("SELECT t.i, r.b FROM r JOIN t ON t.k = r.k", true),
            ("SELECT t.i, r.b FROM t LEFT JOIN r ON t.k = r.k", true),
            ("SELECT t.i, r.b FROM r RIGHT JOIN t ON t.k = r.k", true),
            ("SELECT t.i FROM t LEFT SEMI JOIN r ON t.k = r.k", true),
            ("SELECT t.i FROM t LEFT ANTI JOIN r ON t.k = r.k", true),
            ("SELECT t.i, r.b FROM r LEFT JOIN t ON t.k = r.k", false),
            ("SELECT t.i, r.b FROM t FULL JOIN r ON t.k = r.k", false),
            ("SELECT r.j FROM r LEFT SEMI JOIN t ON t.k = r.k", false),
            ("SELECT t.i, u.a FROM t JOIN t AS u ON t.k = u.k", false),
            ("SELECT * FROM r", false),
            ("SELECT t.i, r.b FROM t JOIN r ON t.k = r.k ORDER BY t.i", false),
        ] {
            let p = Prepared::over(q, t.clone(), &tables).unwrap();
            assert_eq!(p.row_wise, row_wise, "{q}");
        }
        // The columns read are those the query needs.
        let p = Prepared::over("SELECT a FROM t WHERE i > 1 ORDER BY a", t.clear(), &tables).unwrap();
        assert_eq!(p.used, [0, 2]);
        let p = Prepared::over("SELECT t.a, r.b FROM t JOIN r ON t.k = r.k", t.clear(), &tables).unwrap();
        assert_eq!(p.used, [1, 2]);
        // A group-by over a join: its groups on the engine, from a row-wise pre-query.
        let p = Prepared::over("SELECT k, sum(b) AS s FROM t JOIN r USING (k) GROUP BY k", t, &tables).unwrap();
        assert!(p.pre.as_ref().is_some_and(|pre| pre.row_wise) && p.over_groups.is_some());
    }

    /// A join with an indexed table (each chunk joined with only the rows its keys can match)
    /// gives the rows, in the order, of the join with the whole table: every join that streams,
    /// keys of several columns, of different integer widths, text, nulls (which match nothing),
    /// duplicates on both sides, renames and filters on either side.
    #[test]
    fn a_join_with_an_indexed_table_gives_the_rows_of_the_whole_join() {
        let n = 3000usize;
        let key = |i: usize, m: usize| (i * 7919 % m) as i64;
        let t = df!(
            "i" => (0..n as i64).collect::<Vec<_>>(),
            "k" => (0..n).map(|i| (i % 13 != 0).then(|| key(i, 500))).collect::<Vec<_>>(),
            "s" => (0..n).map(|i| (i % 17 != 0).then(|| format!("s\"{},\n", key(i, 300)))).collect::<Vec<_>>(),
            "a" => (0..n).map(|i| (i % 5) as i64).collect::<Vec<_>>(),
        )
        .unwrap();
        let m = 2000usize;
        let r = df!(
            "k" => (0..m).map(|i| (i % 11 != 0).then(|| key(i + 3, 700) as i32)).collect::<Vec<_>>(),
            "s" => (0..m).map(|i| (i % 19 != 0).then(|| format!("s\"{},\n", key(i, 400)))).collect::<Vec<_>>(),
            "b" => (0..m as i64).collect::<Vec<_>>(),
            "f" => (0..m).map(|i| i as f64 / 4.0).collect::<Vec<_>>(),
        )
        .unwrap();
        let indexed = Tables { input: "t".into(), others: vec![("r".into(), r.clone())], index_from: 0 };
        let whole = Tables { index_from: usize::MAX, ..indexed.clone() };
        for q in [
            "SELECT * FROM t JOIN r USING (k)",
            "SELECT t.i, r.b FROM t JOIN r ON t.k = r.k WHERE t.a > 1",
            "SELECT t.i, r.b FROM r JOIN t ON t.k = r.k",
            "SELECT t.i, r.b, r.f FROM t LEFT JOIN r ON t.k = r.k",
            "SELECT t.i, r.b FROM r RIGHT JOIN t ON t.k = r.k",
            "SELECT t.i FROM t LEFT SEMI JOIN r ON t.k = r.k",
            "SELECT t.i FROM t LEFT ANTI JOIN r ON t.k = r.k",
            "SELECT * FROM t JOIN r USING (s)",
            "SELECT * FROM t LEFT JOIN r USING (k, s)",
            "SELECT t.i, u.b FROM t JOIN (SELECT k AS kk, b FROM r WHERE f > 100) AS u ON t.k = u.kk",
            "SELECT u.i, r.b FROM (SELECT i, k AS kk FROM t WHERE a <> 2) AS u JOIN r ON u.kk = r.k",
        ] {
            let p = Prepared::over(q, t.clear(), &indexed).unwrap();
            assert!(p.row_wise && p.reduction.is_some(), "{q}: not indexed");
            let q_whole = Prepared::over(q, t.clear(), &whole).unwrap();
            assert!(q_whole.reduction.is_none());
            // In chunks of several sizes; one row at a time over the first rows.
            for size in [1, 37, 1000, n] {
                let mut got: Option<DataFrame> = None;
                let mut want: Option<DataFrame> = None;
                for at in (0..if size == 1 { 100 } else { n }).step_by(size) {
                    let chunk = t
                        .slice(at as i64, size)
                        .select(p.used.iter().map(|&u| t.get_column_names()[u].clone()))
                        .unwrap();
                    let (a, b) = (p.run_frame(chunk.clone()).unwrap(), q_whole.run_frame(chunk).unwrap());
                    got = Some(match got {
                        None => a,
                        Some(g) => g.vstack(&a).unwrap(),
                    });
                    want = Some(match want {
                        None => b,
                        Some(w) => w.vstack(&b).unwrap(),
                    });
                }
                let (got, want) = (got.unwrap(), want.unwrap());
                assert!(want.height() > 0 || q.contains("ANTI"), "{q}: no rows to compare");
                assert!(got.equals_missing(&want), "{q} in chunks of {size}:\n{got}\n{want}");
            }
        }
        // A chunk joins a part of the table, not all of it.
        let p = Prepared::over("SELECT * FROM t JOIN r USING (k)", t.clear(), &indexed).unwrap();
        let reduction = p.reduction.as_ref().unwrap();
        let part = reduction.reduce(&t.slice(0, 10), &r).unwrap();
        assert!(part.height() > 0 && part.height() < 50, "{}", part.height());
        // Not indexed: a float key, an aggregate over the other table, a table joined twice.
        for q in [
            "SELECT * FROM t JOIN r ON t.a = r.f",
            "SELECT t.i FROM t JOIN (SELECT k, max(b) AS mb FROM r GROUP BY k) AS u ON t.k = u.k",
            "SELECT t.i FROM t JOIN r ON t.k = r.k JOIN r AS r2 ON t.k = r2.b",
        ] {
            let p = Prepared::over(q, t.clear(), &indexed);
            let indexed = |p: Prepared| p.reduction.is_some_and(|red| red.reduce(&t.slice(0, 10), &r).is_some());
            assert!(!p.is_ok_and(indexed), "{q}");
        }
    }
}
