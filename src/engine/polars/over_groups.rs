//! Aggregating SQL on the group-by engine: a query `SELECT ... FROM t GROUP BY keys [HAVING ...]
//! [ORDER BY ...] [LIMIT ...]` whose aggregates the engine computes (`count`, `sum`, `avg`, `min`,
//! `max`, `stddev`, `variance`, `median`, `quantile_cont`, `corr` of columns) is split in two: the
//! group-by runs on pframe's engine (partial states per chunk, merged: bounded memory, file or
//! stdin), and everything over the groups (arithmetic of aggregates such as
//! `max(v1) - min(v2)`, `pow(corr(v1, v2), 2)`, `HAVING`, `ORDER BY`, `LIMIT`) runs in polars over
//! the small table of groups. The query is rewritten so: each aggregate call becomes a column of
//! that table, `HAVING` becomes its `WHERE`, and `GROUP BY` goes (a row of the table is a group).
//!
//! Anything the engine cannot answer exactly as polars would (a `WHERE` before grouping, a window,
//! `DISTINCT`, a subquery, an aggregate of an expression, an aggregate the engine lacks) is left to
//! polars over the whole input.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, SelectItem, SetExpr,
    Statement, TableFactor, Value, visit_expressions, visit_expressions_mut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::sql::SqlColumn;
use crate::agg::groupby::{AggFn, AggSpec, Fraction};

/// The name of the `i`th aggregate's column in the table of groups.
fn agg_column(i: usize) -> String {
    format!("__pframe_agg_{i}")
}

/// Polars SQL's aggregate functions (`functions.rs`): one of these that the engine does not
/// compute sends the query to polars.
const SQL_AGGREGATES: &[&str] = &[
    "avg",
    "corr",
    "count",
    "covar_pop",
    "covar_samp",
    "covar",
    "first",
    "last",
    "max",
    "median",
    "min",
    "quantile_cont",
    "quantile_disc",
    "stdev",
    "stddev",
    "stdev_samp",
    "stddev_samp",
    "string_agg",
    "listagg",
    "group_concat",
    "sum",
    "total",
    "var",
    "variance",
    "var_samp",
    "array_agg",
];

/// A query split into a group-by on the engine and a query over its groups.
#[derive(Debug, Clone, PartialEq)]
pub struct OverGroups {
    pub by: Vec<String>,
    /// The engine's aggregations: the query's, then hidden counts (SQL's `SUM` of no values is
    /// NULL, not 0).
    pub aggs: Vec<AggSpec>,
    /// The columns of the table of groups, from the engine's result (keys, then aggregations).
    pub columns: Vec<SqlColumn>,
    /// The query over the table of groups (registered as the input was).
    pub outer: String,
    /// For a query that joins or filters before grouping: the row-wise query whose rows are
    /// grouped (its columns the keys `__pframe_key_i` and aggregated `__pframe_arg_j`), run on
    /// each chunk of the input.
    pub pre: Option<String>,
    /// The types the query over the groups was planned with, a column's each (set when it is
    /// planned): a column of the table of groups with no value at all takes its type from here,
    /// not from its values.
    pub dtypes: Vec<polars::prelude::DataType>,
}

/// The name of the `i`th key's column in a pre-query's rows.
fn key_column(i: usize) -> String {
    format!("__pframe_key_{i}")
}

/// The name of the `j`th aggregated column in a pre-query's rows.
fn arg_column(j: usize) -> String {
    format!("__pframe_arg_{j}")
}

/// A column reference: `c` or `table.c`.
fn is_column(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

/// Splits `query` over the table `table` with the columns `names`, when the engine can compute its
/// groups.
pub fn over_groups(query: &str, names: &[String], table: &str) -> Option<OverGroups> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, query).ok()?;
    let [Statement::Query(q)] = statements.as_mut_slice() else { return None };
    if q.with.is_some() || q.fetch.is_some() || !q.locks.is_empty() || !q.pipe_operators.is_empty() {
        return None;
    }
    let SetExpr::Select(select) = q.body.as_mut() else { return None };
    let plain = select.distinct.is_none()
        && select.top.is_none()
        && select.into.is_none()
        && select.prewhere.is_none()
        && select.qualify.is_none()
        && select.named_window.is_empty()
        && select.lateral_views.is_empty()
        && select.connect_by.is_empty()
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty()
        && select.exclude.is_none();
    if !plain || select.from.len() != 1 {
        return None;
    }
    // Simple: the input's columns grouped as they are; else a pre-query gives the rows to group.
    let input_only = matches!(&select.from[0].relation,
        TableFactor::Table { name, alias: None, args: None, .. } if name.to_string() == table);
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else { return None };
    if keys.is_empty() || !modifiers.is_empty() || !keys.iter().all(is_column) {
        return None;
    }
    let simple = input_only
        && select.from[0].joins.is_empty()
        && select.selection.is_none()
        && keys.iter().all(|k| matches!(k, Expr::Identifier(id) if names.contains(&id.value)));
    let key_exprs: Vec<Expr> = keys.clone();
    let by: Vec<String> = if simple {
        key_exprs
            .iter()
            .filter_map(|k| if let Expr::Identifier(id) = k { Some(id.value.clone()) } else { None })
            .collect()
    } else {
        (0..key_exprs.len()).map(key_column).collect()
    };
    let from_sql = select.from[0].to_string();
    let where_sql = select.selection.as_ref().map(|w| w.to_string());
    if select
        .projection
        .iter()
        .any(|item| !matches!(item, SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }))
    {
        return None;
    }
    // No subqueries anywhere.
    let subquery = visit_expressions(&statements, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    if subquery.is_break() {
        return None;
    }

    // Each aggregate call becomes a column of the table of groups.
    let mut aggs: Vec<AggSpec> = Vec::new();
    let mut counts: Vec<(usize, AggSpec)> = Vec::new();
    // The aggregated columns of a pre-query, as written.
    let mut args: Vec<String> = Vec::new();
    let mut column = |e: &Expr| -> Option<String> {
        match e {
            Expr::Identifier(id) if simple => names.contains(&id.value).then(|| id.value.clone()),
            e if !simple && is_column(e) => {
                let text = e.to_string();
                let j = args.iter().position(|a| *a == text).unwrap_or_else(|| {
                    args.push(text);
                    args.len() - 1
                });
                Some(arg_column(j))
            }
            _ => None,
        }
    };
    let rewrite = visit_expressions_mut(&mut statements, |e| {
        let Expr::Function(f) = e else { return ControlFlow::Continue(()) };
        match engine_aggregate(f, &mut column) {
            Call::Scalar => ControlFlow::Continue(()),
            Call::Unsupported => ControlFlow::Break(()),
            Call::Aggregate(spec) => {
                let i = aggs.iter().position(|a| *a == spec).unwrap_or_else(|| {
                    if spec.func == AggFn::Sum {
                        counts.push((aggs.len(), AggSpec::of(AggFn::Count, spec.column.clone())));
                    }
                    aggs.push(spec);
                    aggs.len() - 1
                });
                *e = Expr::Identifier(Ident::new(agg_column(i)));
                ControlFlow::Continue(())
            }
        }
    });
    if rewrite.is_break() || aggs.is_empty() {
        return None;
    }
    let select_aliases = match &statements[0] {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Select(select) => aliases_of(select),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if !simple {
        // The keys, wherever the query names them over the groups, become the pre-query's.
        let key_text: Vec<String> = key_exprs.iter().map(|k| k.to_string()).collect();
        let last = |e: &Expr| match e {
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
            Expr::Identifier(id) => Some(id.value.clone()),
            _ => None,
        };
        // A key selected as it is keeps its name (`s.region` is `region`).
        if let Statement::Query(q) = &mut statements[0]
            && let SetExpr::Select(select) = q.body.as_mut()
        {
            for item in select.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(e) = item
                    && key_text.contains(&e.to_string())
                    && let Some(name) = last(e)
                {
                    *item = SelectItem::ExprWithAlias { expr: e.clone(), alias: Ident::new(name) };
                }
            }
        }
        let _ = visit_expressions_mut(&mut statements, |e| {
            if is_column(e) {
                let text = e.to_string();
                let at = key_text.iter().position(|k| *k == text).or_else(|| match e {
                    // An unqualified name of a qualified key, when only one key has that name
                    // and no output column does.
                    Expr::Identifier(id) if !select_aliases.contains(&id.value) => {
                        let same: Vec<usize> =
                            (0..key_exprs.len()).filter(|&i| last(&key_exprs[i]).as_ref() == Some(&id.value)).collect();
                        (same.len() == 1).then(|| same[0])
                    }
                    _ => None,
                });
                if let Some(i) = at {
                    *e = Expr::Identifier(Ident::new(key_column(i)));
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    let [Statement::Query(q)] = statements.as_mut_slice() else { return None };
    let SetExpr::Select(select) = q.body.as_mut() else { return None };
    // Outside the aggregates, only the keys (and, in ORDER BY, the query's own aliases).
    let aliases = aliases_of(select);
    let known =
        |id: &str| by.iter().any(|k| k == id) || id.starts_with("__pframe_agg_") || aliases.iter().any(|a| a == id);
    // A pre-query's identifiers were all replaced (keys) or are aliases.
    if !simple && select_aliases.iter().any(|a| key_exprs.iter().any(|k| k.to_string() == *a)) {
        return None;
    }
    let [Statement::Query(q)] = statements.as_mut_slice() else { return None };
    let SetExpr::Select(select) = q.body.as_mut() else { return None };
    select.selection = select.having.take();
    select.group_by = GroupByExpr::Expressions(Vec::new(), Vec::new());
    let pre = (!simple).then(|| {
        let mut items: Vec<String> =
            key_exprs.iter().enumerate().map(|(i, k)| format!("{k} AS {}", key_column(i))).collect();
        items.extend(args.iter().enumerate().map(|(j, a)| format!("{a} AS {}", arg_column(j))));
        let filter = where_sql.map(|w| format!(" WHERE {w}")).unwrap_or_default();
        format!("SELECT {} FROM {from_sql}{filter}", items.join(", "))
    });
    if pre.is_some() {
        // Over the groups: the table of groups alone, registered as the input is.
        let Ok(mut template) = Parser::parse_sql(&GenericDialect {}, &format!("SELECT 1 FROM {table}")) else {
            return None;
        };
        let [Statement::Query(tq)] = template.as_mut_slice() else { return None };
        let SetExpr::Select(ts) = tq.body.as_mut() else { return None };
        select.from = std::mem::take(&mut ts.from);
    }
    let stray = visit_expressions(&statements, |e| match e {
        Expr::Identifier(id) if !known(&id.value) => ControlFlow::Break(()),
        Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    if stray.is_break() {
        return None;
    }
    let outer = statements[0].to_string();

    let first_count = by.len() + aggs.len();
    let mut columns: Vec<SqlColumn> = by
        .iter()
        .enumerate()
        .map(|(index, name)| SqlColumn { name: name.clone(), index, null_if_zero: None })
        .collect();
    for i in 0..aggs.len() {
        let count = counts.iter().position(|(of, _)| *of == i);
        columns.push(SqlColumn {
            name: agg_column(i),
            index: by.len() + i,
            null_if_zero: count.map(|c| first_count + c),
        });
    }
    aggs.extend(counts.into_iter().map(|(_, c)| c));
    Some(OverGroups { by, aggs, columns, outer, pre, dtypes: Vec::new() })
}

/// The names a select list gives its items (`expr AS name`).
fn aliases_of(select: &sqlparser::ast::Select) -> Vec<String> {
    select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect()
}

/// What a function call is to the engine.
enum Call {
    /// Not an aggregate: evaluated over the groups.
    Scalar,
    /// An aggregate the engine computes exactly as polars does.
    Aggregate(AggSpec),
    /// An aggregate it does not (or not of these arguments).
    Unsupported,
}

/// `column` names the engine's column of an aggregate's argument (`None`: not one it can read).
fn engine_aggregate(f: &Function, column: &mut dyn FnMut(&Expr) -> Option<String>) -> Call {
    let name = f.name.to_string().to_ascii_lowercase();
    if f.over.is_some() {
        return Call::Unsupported;
    }
    if !SQL_AGGREGATES.contains(&name.as_str()) {
        return Call::Scalar;
    }
    let plain = f.filter.is_none()
        && f.null_treatment.is_none()
        && f.within_group.is_empty()
        && matches!(f.parameters, FunctionArguments::None);
    let FunctionArguments::List(list) = &f.args else { return Call::Unsupported };
    if !plain || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Call::Unsupported;
    }
    let mut column = |a: &FunctionArg| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => column(e),
        _ => None,
    };
    let args = &list.args;
    let mut one = |func: AggFn| match args.as_slice() {
        [a] => column(a).map(|c| AggSpec::of(func, Some(c))),
        _ => None,
    };
    let spec = match name.as_str() {
        "count" => match args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => Some(AggSpec::of(AggFn::Rows, None)),
            _ => one(AggFn::Count),
        },
        "sum" => one(AggFn::Sum),
        "avg" => one(AggFn::Mean),
        "min" => one(AggFn::Min),
        "max" => one(AggFn::Max),
        "stdev" | "stddev" | "stdev_samp" | "stddev_samp" => one(AggFn::Std),
        "var" | "variance" | "var_samp" => one(AggFn::Var),
        "median" => one(AggFn::Median),
        "corr" => match args.as_slice() {
            [a, b] => {
                column(a).zip(column(b)).map(|(a, b)| AggSpec { func: AggFn::Corr, column: Some(a), column2: Some(b) })
            }
            _ => None,
        },
        "quantile_cont" => match args.as_slice() {
            [a, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))] => match &v.value {
                Value::Number(p, _) => p
                    .parse::<f64>()
                    .ok()
                    .and_then(Fraction::new)
                    .and_then(|p| column(a).map(|c| AggSpec::of(AggFn::Quantile(p), Some(c)))),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    spec.map_or(Call::Unsupported, Call::Aggregate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["id1", "id2", "v1", "v2", "v3"].map(String::from).to_vec()
    }

    #[test]
    fn aggregates_become_columns_of_the_groups() {
        let og =
            over_groups("SELECT id1, max(v1) - min(v2) AS r, sum(v3) FROM t GROUP BY id1 HAVING count(*) > 2 ORDER BY r DESC LIMIT 3", &names(), "t")
                .unwrap();
        assert_eq!(og.by, ["id1"]);
        let funcs: Vec<AggFn> = og.aggs.iter().map(|a| a.func).collect();
        assert_eq!(funcs, [AggFn::Max, AggFn::Min, AggFn::Sum, AggFn::Rows, AggFn::Count]);
        assert_eq!(
            og.outer,
            "SELECT id1, __pframe_agg_0 - __pframe_agg_1 AS r, __pframe_agg_2 FROM t WHERE __pframe_agg_3 > 2 ORDER BY r DESC LIMIT 3"
        );
        // The sum is null where its hidden count (after the query's aggregates) is 0.
        assert_eq!(og.columns[3].null_if_zero, Some(5));
        let og =
            over_groups("SELECT id1, id2, pow(corr(v1, v2), 2) AS r2 FROM t GROUP BY id1, id2", &names(), "t").unwrap();
        assert_eq!(og.aggs[0].column2.as_deref(), Some("v2"));
        assert_eq!(og.outer, "SELECT id1, id2, pow(__pframe_agg_0, 2) AS r2 FROM t");
    }

    #[test]
    fn what_the_engine_cannot_answer_stays_with_polars() {
        for q in [
            "SELECT id1, sum(v1 * 2) FROM t GROUP BY id1",
            "SELECT id1, sum(v1 * 2) FROM t WHERE v2 > 1 GROUP BY id1",
            "SELECT lower(id1), sum(v1) FROM t WHERE v2 > 1 GROUP BY lower(id1)",
            "SELECT id1, s.name, sum(v1) FROM t JOIN s USING (id1) GROUP BY id1",
            "SELECT id1, count(DISTINCT v1) FROM t GROUP BY id1",
            "SELECT id1, string_agg(id2, ',') FROM t GROUP BY id1",
            "SELECT id1, first(v1) FROM t GROUP BY id1",
            "SELECT id1, v1 FROM t GROUP BY id1",
            "SELECT id1, sum(v1) OVER (PARTITION BY id2) FROM t",
            "SELECT *, sum(v1) FROM t GROUP BY id1",
            "SELECT id1, sum(v1) FROM t GROUP BY id1 UNION SELECT id1, 1 FROM t",
            "SELECT id1, sum(nope) FROM t GROUP BY id1",
            "SELECT id1 FROM t GROUP BY id1",
            "SELECT id1, sum(v1) FROM t GROUP BY id1 HAVING max(v2) > (SELECT 1)",
        ] {
            assert_eq!(over_groups(q, &names(), "t"), None, "{q}");
        }
    }

    #[test]
    fn a_join_or_filter_before_grouping_is_a_pre_query() {
        let og = over_groups(
            "SELECT s.region, sum(t.v1) AS total, count(*) FROM t JOIN s ON t.id1 = s.id WHERE v2 > 1 \
             GROUP BY s.region HAVING sum(t.v1) > 3 ORDER BY region",
            &names(),
            "t",
        )
        .unwrap();
        assert_eq!(
            og.pre.as_deref(),
            Some(
                "SELECT s.region AS __pframe_key_0, t.v1 AS __pframe_arg_0 FROM t JOIN s ON t.id1 = s.id WHERE v2 > 1"
            )
        );
        assert_eq!(og.by, ["__pframe_key_0"]);
        assert_eq!(og.aggs[0].column.as_deref(), Some("__pframe_arg_0"));
        assert_eq!(
            og.outer,
            "SELECT __pframe_key_0 AS region, __pframe_agg_0 AS total, __pframe_agg_1 FROM t WHERE __pframe_agg_0 > 3 \
             ORDER BY __pframe_key_0"
        );
        let og = over_groups("SELECT id1, sum(v1) FROM t WHERE v2 > 1 GROUP BY id1", &names(), "t").unwrap();
        assert_eq!(og.pre.as_deref(), Some("SELECT id1 AS __pframe_key_0, v1 AS __pframe_arg_0 FROM t WHERE v2 > 1"));
        // A plain group-by of the input reads its columns directly.
        let og = over_groups("SELECT id1, sum(v1) AS s FROM t GROUP BY id1 ORDER BY s", &names(), "t").unwrap();
        assert_eq!((og.pre, og.by), (None, vec!["id1".to_string()]));
    }
}
