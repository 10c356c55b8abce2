//! The end of a group-by: the merged state becomes the result table. Column types are applied
//! (declared, else inferred over the whole input), numeric aggregations over text are refused with
//! the first offending value, groups whose keys are one number spelled several ways are merged,
//! and the groups are sorted by their typed keys.

use rustc_hash::FxHashMap;

use super::chunk::{Layout, Partial};
use super::keys::{self, KeyField, KeyValue};
use super::{GroupByError, GroupByPlan, LineBase};
use crate::agg::groupby::{AggFn, AggSpec, Kind, Num, State};
use crate::input::value::KeyNum;
use crate::output::{JsonShape, Table, Value};

/// A group-by's result, and what the user should know about how the input was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    pub table: Table,
    /// One line each, for stderr: columns read as text only because of text that people write for
    /// a missing value (`NA`, `NULL`, ...), which `--null-values` would read as null.
    pub notes: Vec<String>,
}

/// Applies the declared types, rejects numeric aggregations over text, and builds the table.
/// `first_text_source` names, per used column, the input its first text value came from.
pub(super) fn check_and_finish(
    plan: &GroupByPlan,
    layout: &Layout,
    mut acc: Partial,
    first_text_source: &[Option<(String, LineBase)>],
) -> Result<Grouped, GroupByError> {
    for (kind, declared) in acc.kinds.iter_mut().zip(&layout.declared) {
        if let Some(d) = declared {
            *kind = *d;
        }
    }
    // Numeric aggregations over a column that holds text: report the first text value.
    for (spec, col) in plan.aggs.iter().zip(&layout.agg_cols) {
        if let Some(c) = *col
            && spec.func.is_numeric()
            && acc.kinds[c] == Kind::Str
        {
            let (line, text) = acc.first_text[c].clone().expect("a text column has a first text value");
            let (name, base) = first_text_source[c].clone().unwrap_or_default();
            let mut message = format!("column {}: cannot parse \"{text}\" as a number (for {spec})", layout.names[c]);
            if matches!(acc.kinds_sans_nullish[c], Kind::Int | Kind::Float | Kind::Null) {
                message.push_str(&format!("; if \"{text}\" marks a missing value, add --null-values '{text}'"));
            }
            return Err(base.error(&name, line, message));
        }
    }
    // Columns numeric but for null-like text, read as text: say so once each.
    let mut notes = Vec::new();
    for (c, name) in layout.names.iter().enumerate() {
        if acc.kinds[c] == Kind::Str
            && layout.declared[c].is_none()
            && matches!(acc.kinds_sans_nullish[c], Kind::Int | Kind::Float)
            && let Some((line, text)) = &acc.first_text[c]
        {
            let (input, base) = first_text_source[c].clone().unwrap_or_default();
            let at = if base.rows { format!("row {line}") } else { format!("line {}", base.get() + line) };
            notes.push(format!(
                "{input}: column {name} is numeric but for text like \"{text}\" ({at}), so it was read as text \
                 (min, max and keys compare as text); if \"{text}\" marks a missing value, add --null-values '{text}'"
            ));
        }
    }
    Ok(Grouped { table: finish(plan, layout, acc), notes })
}

/// The groups of `acc` with their keys read as the columns' final types: groups whose typed keys
/// are equal (a number spelled several ways in a numeric column) are merged.
fn typed_groups(layout: &Layout, acc: Partial) -> Vec<(Vec<KeyValue>, Vec<State>)> {
    let key_kinds: Vec<Kind> = layout.keys.iter().map(|&k| acc.kinds[k]).collect();
    let mut respelled = false;
    let groups: Vec<(Vec<KeyValue>, Vec<State>)> = acc
        .groups
        .into_iter()
        .map(|(key, states)| {
            let typed = keys::raw_fields(&key)
                .zip(&layout.key_rules)
                .zip(&key_kinds)
                .map(|((raw, &rule), &kind)| {
                    let field = KeyField::read(raw, rule);
                    respelled |= matches!(field, KeyField::NumText(..)) && matches!(kind, Kind::Int | Kind::Float);
                    KeyValue::of(field, kind)
                })
                .collect();
            (typed, states)
        })
        .collect();
    if !respelled {
        return groups;
    }
    let mut merged: FxHashMap<Vec<KeyValue>, Vec<State>> = FxHashMap::default();
    merged.reserve(groups.len());
    for (key, states) in groups {
        match merged.get_mut(&key) {
            Some(mine) => mine.iter_mut().zip(states).for_each(|(a, b)| a.merge(b)),
            None => {
                merged.insert(key, states);
            }
        }
    }
    merged.into_iter().collect()
}

fn finish(plan: &GroupByPlan, layout: &Layout, acc: Partial) -> Table {
    let key_kinds: Vec<Kind> = layout.keys.iter().map(|&k| acc.kinds[k]).collect();
    let agg_kinds: Vec<Kind> = layout.agg_cols.iter().map(|c| c.map_or(Kind::Null, |c| acc.kinds[c])).collect();
    let mut groups = typed_groups(layout, acc);
    groups.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    let mut headers = plan.by.clone();
    headers.extend(plan.aggs.iter().map(AggSpec::output_name));
    let rows = groups
        .into_iter()
        .map(|(key, states)| {
            let mut row: Vec<Value> = key.into_iter().zip(&key_kinds).map(|(k, &kind)| key_value(k, kind)).collect();
            for ((spec, &kind), state) in plan.aggs.iter().zip(&agg_kinds).zip(states) {
                row.push(agg_value(spec.func, kind, state));
            }
            row
        })
        .collect();
    Table { headers, rows, json: JsonShape::Records }
}

fn key_value(k: KeyValue, kind: Kind) -> Value {
    match k {
        KeyValue::Null => Value::Null,
        KeyValue::Num(KeyNum::Int(i)) if kind == Kind::Int => Value::Int(i),
        KeyValue::Num(n) => Value::Float(n.num().as_f64()),
        KeyValue::Text(t) => Value::Str(String::from_utf8_lossy(&t).into_owned()),
    }
}

fn num_value(n: Num, kind: Kind) -> Value {
    match (n, kind) {
        (Num::Int(i), Kind::Int) => Value::Int(i),
        (n, _) => Value::Float(n.as_f64()),
    }
}

fn agg_value(func: AggFn, kind: Kind, state: State) -> Value {
    let opt_f = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
    match state {
        State::Rows(n) | State::Count(n) => Value::UInt(n),
        State::Moments(m) => match func {
            AggFn::Sum if kind == Kind::Int || kind == Kind::Null => match i64::try_from(m.int_sum) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(m.int_sum as f64),
            },
            AggFn::Sum => Value::Float(m.float_sum()),
            AggFn::Mean => opt_f(m.mean()),
            AggFn::Var => opt_f(m.var()),
            _ => opt_f(m.var().map(f64::sqrt)),
        },
        State::Extreme { num, text, .. } => match kind {
            Kind::Int | Kind::Float => num.map_or(Value::Null, |n| num_value(n, kind)),
            _ => text.map_or(Value::Null, |t| Value::Str(t.into())),
        },
        State::First(s) | State::Last(s) => s.map_or(Value::Null, |s| match (kind, s.num) {
            (Kind::Int | Kind::Float, Some(n)) => num_value(n, kind),
            _ => Value::Str(s.text.into()),
        }),
        State::Median(mut vs) => {
            if vs.is_empty() {
                return Value::Null;
            }
            vs.sort_by(|a, b| a.as_f64().total_cmp(&b.as_f64()));
            let n = vs.len();
            let m = if n % 2 == 1 { vs[n / 2].as_f64() } else { (vs[n / 2 - 1].as_f64() + vs[n / 2].as_f64()) / 2.0 };
            Value::Float(m)
        }
        State::Unique { text, nums } => {
            Value::UInt(if matches!(kind, Kind::Int | Kind::Float) { nums.len() } else { text.len() } as u64)
        }
    }
}
