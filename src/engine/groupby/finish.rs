//! The end of a group-by: the merged groups become the result's rows. Column types are applied
//! (declared, else inferred over the whole input), numeric aggregations over text are refused with
//! the first offending value, and the groups are sorted by their typed keys.
//!
//! Sorting never parses a key in a comparison: each key field is read once and coded as an
//! integer that sorts as the typed value does (an integer column's offset from its minimum, a
//! float's ordered bits, a text's rank among the column's distinct texts; nulls last), and a
//! group's codes packed together (in 128 bits when they fit) are what is sorted. Groups with equal
//! codes have equal typed keys (a number spelled several ways in a numeric column: `7`, `07`,
//! `7.0`) and are merged as they are read out; the states' merge is order-free. Rows are produced
//! in batches, so a result of millions of groups is written as it is read.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::chunk::{ChunkInfo, Layout, Store};
use super::keys::{self, KeyField, KeyRule};
use super::{GroupByError, GroupByPlan, LineBase};
use crate::agg::groupby::{AggFn, AggSpec, Kind, Num, State};
use crate::input::value::KeyNum;
use crate::output::{JsonShape, Table, Value};

/// A group-by's result: its columns, its rows (read out in batches), and what the user should
/// know about how the input was read.
pub struct Grouped {
    pub headers: Vec<String>,
    /// One line each, for stderr: columns read as text only because of text that people write for
    /// a missing value (`NA`, `NULL`, ...), which `--null-values` would read as null.
    pub notes: Vec<String>,
    pub rows: GroupRows,
}

impl Grouped {
    /// Every row, as one table.
    pub fn into_table(mut self) -> Table {
        let mut rows = Vec::new();
        while let Some(batch) = self.rows.next_batch(1 << 16) {
            rows.extend(batch);
        }
        Table { headers: self.headers, rows, json: JsonShape::Records }
    }
}

/// Applies the declared types, rejects numeric aggregations over text, and orders the groups.
/// `first_text_source` names, per used column, the input its first text value came from.
pub(super) fn check_and_finish(
    plan: &GroupByPlan,
    layout: &Layout,
    mut acc: ChunkInfo,
    store: Store,
    first_text_source: &[Option<(String, LineBase)>],
    pool: Option<&rayon::ThreadPool>,
) -> Result<Grouped, GroupByError> {
    for (kind, declared) in acc.kinds.iter_mut().zip(&layout.declared) {
        if let Some(d) = declared {
            *kind = *d;
        }
    }
    // Numeric aggregations over a column that holds text: report the first text value.
    let columns = layout.agg_cols.iter().zip(&layout.agg_cols2).flat_map(|(a, b)| [*a, *b]);
    let specs = plan.aggs.iter().flat_map(|s| [s, s]);
    for (spec, col) in specs.zip(columns) {
        if let Some(c) = col
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
    let mut headers = plan.by.clone();
    headers.extend(plan.aggs.iter().map(AggSpec::output_name));
    let rows = match pool {
        Some(pool) => pool.install(|| GroupRows::new(plan, layout, &acc, store)),
        None => GroupRows::new(plan, layout, &acc, store),
    };
    Ok(Grouped { headers, notes, rows })
}

/// How one key column's fields are coded for sorting.
enum Coding {
    /// An integer column: the value's offset from the column's minimum.
    Int { min: i64 },
    /// A float column: the value's bits, ordered as the numbers are.
    Float,
    /// A text column (or one of nulls only): the text's rank among the column's distinct texts.
    Text { distinct: Vec<Box<str>> },
}

/// The code of a null: above every value's.
const NULL_CODE: u64 = u64::MAX;

/// Bits that order floats as `total_cmp` does.
fn ordered_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

fn from_ordered_bits(o: u64) -> f64 {
    f64::from_bits(if o >> 63 == 1 { o & !(1 << 63) } else { !o })
}

/// A key column's coding, and its codes' width in bits (the null code included).
struct ColumnCode {
    coding: Coding,
    width: u32,
}

impl ColumnCode {
    /// The value a code stands for, as the result shows it.
    fn value(&self, code: u64) -> Value {
        if code == self.null() {
            return Value::Null;
        }
        match &self.coding {
            Coding::Int { min } => Value::Int(min.wrapping_add(code as i64)),
            Coding::Float => Value::Float(from_ordered_bits(code)),
            Coding::Text { distinct } => Value::Str(distinct[code as usize].to_string()),
        }
    }

    /// The null's code: the largest of the column's width.
    fn null(&self) -> u64 {
        if self.width >= 64 { NULL_CODE } else { (1u64 << self.width) - 1 }
    }
}

fn bits_for(max_code: u64) -> u32 {
    64 - max_code.leading_zeros()
}

/// One key column's coding, from every group's field of it.
fn column_code(store: &Store, column: usize, kind: Kind, rule: KeyRule) -> ColumnCode {
    fn field(key: &[u8], column: usize) -> Option<&[u8]> {
        keys::raw_fields(key).nth(column).expect("a key field")
    }
    let groups = || store.parts.iter().flat_map(|p| (0..p.keys.len() as u32).map(move |id| p.keys.key(id)));
    match kind {
        Kind::Int => {
            let (mut min, mut max) = (i64::MAX, i64::MIN);
            for key in groups() {
                if let Some(raw) = field(key, column)
                    && let KeyField::Num(KeyNum::Int(i)) | KeyField::NumText(KeyNum::Int(i), _) =
                        KeyField::read(Some(raw), rule)
                {
                    (min, max) = (min.min(i), max.max(i));
                }
            }
            if min > max {
                (min, max) = (0, 0);
            }
            // Values run 0..=max-min; the null's code is one above, or all ones.
            let span = max.wrapping_sub(min) as u64;
            let width = if span >= u64::MAX - 1 { 64 } else { bits_for(span + 1) };
            ColumnCode { coding: Coding::Int { min }, width }
        }
        Kind::Float => ColumnCode { coding: Coding::Float, width: 64 },
        _ => {
            let mut seen: FxHashMap<&[u8], ()> = FxHashMap::default();
            for key in groups() {
                if let Some(raw) = field(key, column) {
                    seen.insert(raw, ());
                }
            }
            let mut distinct: Vec<&[u8]> = seen.into_keys().collect();
            distinct.par_sort_unstable();
            let width = bits_for(distinct.len() as u64);
            // Key fields were checked to be UTF-8 when their groups were made.
            let distinct = distinct.into_iter().map(|d| String::from_utf8_lossy(d).into()).collect();
            ColumnCode { coding: Coding::Text { distinct }, width }
        }
    }
}

/// The groups in key order, read out in batches of rows.
pub struct GroupRows {
    store: Store,
    columns: Vec<ColumnCode>,
    /// Every group's packed codes (first key in the highest bits), partition and id, sorted.
    order: Vec<(u128, u32, u32)>,
    /// The codes of groups whose codes do not fit 128 bits: `columns.len()` per group, indexed
    /// by the order's first field.
    wide: Option<Vec<u64>>,
    next: usize,
    funcs: Vec<AggFn>,
    agg_kinds: Vec<Kind>,
}

impl GroupRows {
    fn new(plan: &GroupByPlan, layout: &Layout, info: &ChunkInfo, store: Store) -> GroupRows {
        let columns: Vec<ColumnCode> = layout
            .keys
            .iter()
            .zip(&layout.key_rules)
            .enumerate()
            .map(|(i, (&k, &rule))| column_code(&store, i, info.kinds[k], rule))
            .collect();
        let total: u32 = columns.iter().map(|c| c.width).sum();
        // A text's code is its rank among the column's distinct texts: looked up in a hash map
        // (a binary search would compare each group's text about log2(distinct) times).
        let ranks: Vec<Option<FxHashMap<&[u8], u64>>> = columns
            .iter()
            .map(|c| match &c.coding {
                Coding::Text { distinct } => {
                    Some(distinct.iter().enumerate().map(|(i, d)| (d.as_bytes(), i as u64)).collect())
                }
                _ => None,
            })
            .collect();
        let codes = |key: &[u8]| -> Vec<u64> {
            keys::raw_fields(key)
                .zip(columns.iter().zip(&ranks))
                .zip(&layout.key_rules)
                .map(|((raw, (col, rank)), &rule)| match (raw, rank) {
                    (Some(raw), Some(rank)) => rank[raw],
                    _ => group_code(col, raw, rule),
                })
                .collect()
        };
        let mut wide = None;
        let mut order: Vec<(u128, u32, u32)> = if total <= 128 {
            store
                .parts
                .par_iter()
                .enumerate()
                .flat_map_iter(|(p, part)| {
                    let (columns, codes) = (&columns, &codes);
                    (0..part.keys.len() as u32).map(move |id| {
                        let mut packed = 0u128;
                        for (code, col) in codes(part.keys.key(id)).into_iter().zip(columns) {
                            let code = if code == NULL_CODE { col.null() } else { code };
                            packed = (packed << col.width) | u128::from(code);
                        }
                        (packed, p as u32, id)
                    })
                })
                .collect()
        } else {
            // Too wide to pack: sort indices into a table of codes.
            let mut table = Vec::new();
            let mut order = Vec::new();
            for (p, part) in store.parts.iter().enumerate() {
                for id in 0..part.keys.len() as u32 {
                    order.push(((table.len() / columns.len().max(1)) as u128, p as u32, id));
                    table.extend(codes(part.keys.key(id)));
                }
            }
            let n = columns.len();
            order.par_sort_unstable_by(|a, b| {
                let (x, y) = (a.0 as usize * n, b.0 as usize * n);
                table[x..x + n].cmp(&table[y..y + n])
            });
            wide = Some(table);
            order
        };
        if wide.is_none() {
            order.par_sort_unstable_by_key(|e| e.0);
        }
        let agg_kinds = layout.agg_cols.iter().map(|c| c.map_or(Kind::Null, |c| info.kinds[c])).collect();
        GroupRows { store, columns, order, wide, next: 0, funcs: plan.aggs.iter().map(|a| a.func).collect(), agg_kinds }
    }

    /// The codes of the group at position `at` of the order.
    fn codes_at(&self, at: usize) -> Vec<u64> {
        let n = self.columns.len();
        match &self.wide {
            Some(table) => {
                let i = self.order[at].0 as usize * n;
                table[i..i + n].to_vec()
            }
            None => {
                let mut packed = self.order[at].0;
                let mut out = vec![0u64; n];
                for (slot, col) in out.iter_mut().zip(&self.columns).rev() {
                    let mask = if col.width >= 64 { u64::MAX } else { (1u64 << col.width) - 1 };
                    *slot = (packed as u64) & mask;
                    packed = if col.width >= 128 { 0 } else { packed >> col.width };
                }
                out
            }
        }
    }

    /// Whether the groups at positions `a` and `b` of the order have equal typed keys.
    fn same_key(&self, a: usize, b: usize) -> bool {
        match &self.wide {
            None => self.order[a].0 == self.order[b].0,
            Some(table) => {
                let n = self.columns.len();
                let (x, y) = (self.order[a].0 as usize * n, self.order[b].0 as usize * n);
                table[x..x + n] == table[y..y + n]
            }
        }
    }

    /// The next rows, at most `max` of them (groups with equal typed keys merged into one); `None`
    /// when every row was read.
    pub fn next_batch(&mut self, max: usize) -> Option<Vec<Vec<Value>>> {
        if self.next >= self.order.len() {
            return None;
        }
        let mut rows = Vec::with_capacity(max.min(self.order.len() - self.next));
        while rows.len() < max && self.next < self.order.len() {
            let at = self.next;
            // Groups are read in key order, their states at random: fetch ahead.
            if let Some(&(_, p, id)) = self.order.get(at + 16) {
                self.store.parts[p as usize].states.prefetch(id);
            }
            let codes = self.codes_at(at);
            let (_, p, id) = self.order[at];
            let mut end = at + 1;
            while end < self.order.len() && self.same_key(at, end) {
                let (_, p2, id2) = self.order[end];
                if p2 == p {
                    self.store.parts[p as usize].states.merge_within(id, id2);
                } else {
                    let (a, b) = two_mut(&mut self.store.parts, p as usize, p2 as usize);
                    a.states.merge_from(id, &mut b.states, id2);
                }
                end += 1;
            }
            self.next = end;
            let mut row: Vec<Value> = codes.iter().zip(&self.columns).map(|(&c, col)| col.value(c)).collect();
            let states = &mut self.store.parts[p as usize].states;
            // A top_k or bottom_k gives a row per value (or one null when the group has none).
            let mut list: Option<(usize, Vec<Value>)> = None;
            for (agg, (&func, &kind)) in self.funcs.iter().zip(&self.agg_kinds).enumerate() {
                match states.take(agg, id) {
                    State::Top { vals, .. } => {
                        list = Some((row.len(), vals.into_iter().map(|n| num_value(n, kind)).collect()));
                        row.push(Value::Null);
                    }
                    state => row.push(agg_value(func, kind, state)),
                }
            }
            match list {
                Some((at, values)) if !values.is_empty() => {
                    for v in values {
                        let mut r = row.clone();
                        r[at] = v;
                        rows.push(r);
                    }
                }
                _ => rows.push(row),
            }
        }
        Some(rows)
    }
}

/// The code of one group's field of a key column (see [`Coding`]); [`NULL_CODE`] for a null.
fn group_code(col: &ColumnCode, raw: Option<&[u8]>, rule: KeyRule) -> u64 {
    let Some(raw) = raw else { return NULL_CODE };
    match &col.coding {
        Coding::Int { min } => match KeyField::read(Some(raw), rule) {
            KeyField::Num(KeyNum::Int(i)) | KeyField::NumText(KeyNum::Int(i), _) => i.wrapping_sub(*min) as u64,
            _ => unreachable!("an integer column holds integers"),
        },
        Coding::Float => match KeyField::read(Some(raw), rule) {
            KeyField::Num(n) | KeyField::NumText(n, _) => ordered_bits(n.num().as_f64()),
            _ => unreachable!("a float column holds numbers"),
        },
        Coding::Text { distinct } => {
            distinct.binary_search_by(|d| d.as_bytes().cmp(raw)).expect("every text is among the distinct ones") as u64
        }
    }
}

/// Two distinct elements of a slice, both mutable.
fn two_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    debug_assert_ne!(i, j);
    if i < j {
        let (a, b) = v.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(i);
        (&mut b[0], &mut a[j])
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
            vs.sort_unstable_by(|a, b| a.as_f64().total_cmp(&b.as_f64()));
            let n = vs.len();
            let m = match func {
                AggFn::Quantile(p) => {
                    // Linear interpolation between the two nearest ranks, as pandas' default.
                    let at = p.get() * (n - 1) as f64;
                    let (lo, frac) = (at.floor() as usize, at - at.floor());
                    let (a, b) = (vs[lo].as_f64(), vs[(lo + 1).min(n - 1)].as_f64());
                    if frac == 0.0 { a } else { a + (b - a) * frac }
                }
                _ if n % 2 == 1 => vs[n / 2].as_f64(),
                _ => (vs[n / 2 - 1].as_f64() + vs[n / 2].as_f64()) / 2.0,
            };
            Value::Float(m)
        }
        State::Corr(m) => opt_f(m.correlation()),
        State::Top { vals, .. } => vals.first().map_or(Value::Null, |&n| num_value(n, kind)),
        State::Unique { text, nums } => {
            Value::UInt(if matches!(kind, Kind::Int | Kind::Float) { nums.len() } else { text.len() } as u64)
        }
    }
}
