//! Group-by aggregation: specs, per-group states, and their merge.
//!
//! A state carries what merges exactly: counts, an exact integer sum (i128), exact sums of the
//! float values and of the squares ([`super::exact::ExactSum`], so sum/mean/std/var come out
//! bit-identical however the input was split into chunks, threads or shards), min/max under both
//! numeric and text order, first/last, and for median and n_unique the values themselves (exact
//! answers need them; memory grows with the number of distinct values).
//! Which reading applies (integer, float or text) is decided at the end, from the column's type
//! over the whole input, as pandas infers it.

use std::cmp::Ordering;
use std::fmt;

use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::exact::{ExactSum, variance};
pub use crate::input::value::{Kind, Num, parse_num};

/// An aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFn {
    /// Rows in the group (`count` with no column).
    Rows,
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Std,
    Var,
    Median,
    NUnique,
    First,
    Last,
}

impl AggFn {
    const NAMES: [(&'static str, AggFn); 11] = [
        ("count", AggFn::Count),
        ("sum", AggFn::Sum),
        ("mean", AggFn::Mean),
        ("min", AggFn::Min),
        ("max", AggFn::Max),
        ("std", AggFn::Std),
        ("var", AggFn::Var),
        ("median", AggFn::Median),
        ("n_unique", AggFn::NUnique),
        ("first", AggFn::First),
        ("last", AggFn::Last),
    ];

    pub fn name(self) -> &'static str {
        match self {
            AggFn::Rows => "count",
            f => AggFn::NAMES.iter().find(|(_, g)| *g == f).map(|(n, _)| *n).unwrap_or("?"),
        }
    }

    /// Functions that need numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, AggFn::Sum | AggFn::Mean | AggFn::Std | AggFn::Var | AggFn::Median)
    }
}

/// One aggregation of the query: a function over a column (none for `count` of rows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggSpec {
    pub func: AggFn,
    pub column: Option<String>,
}

impl AggSpec {
    /// The output column name: `count`, or `sum_v1`, `count_v1`, ...
    pub fn output_name(&self) -> String {
        match &self.column {
            None => "count".to_string(),
            Some(c) => format!("{}_{c}", self.func.name()),
        }
    }
}

impl fmt::Display for AggSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            None => f.write_str("count"),
            Some(c) => write!(f, "{}({c})", self.func.name()),
        }
    }
}

/// Parses `count,sum(v1),mean(v3)`.
pub fn parse_aggs(spec: &str) -> Result<Vec<AggSpec>, String> {
    let mut out = Vec::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        // A spec ends at the first comma outside parentheses.
        let mut depth = 0i32;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let item = rest[..end].trim();
        rest = rest[(end + 1).min(rest.len())..].trim_start();
        out.push(parse_one(item)?);
    }
    if out.is_empty() {
        return Err("no aggregation given (e.g. --agg 'count,sum(v1),mean(v3)')".into());
    }
    Ok(out)
}

fn parse_one(item: &str) -> Result<AggSpec, String> {
    let bad = || {
        format!(
            "malformed aggregation \"{item}\": expected count, or FUNC(column) with FUNC one of {}",
            AggFn::NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )
    };
    if item == "count" || item == "count()" || item == "len" {
        return Ok(AggSpec { func: AggFn::Rows, column: None });
    }
    let (name, arg) = item.split_once('(').ok_or_else(bad)?;
    let column = arg.strip_suffix(')').ok_or_else(bad)?.trim();
    let func = AggFn::NAMES.iter().find(|(n, _)| *n == name.trim()).map(|(_, f)| *f).ok_or_else(bad)?;
    if column.is_empty() || column.contains(['(', ')']) {
        return Err(bad());
    }
    Ok(AggSpec { func, column: Some(column.to_string()) })
}

/// Exact, mergeable moments: the count, the exact integer sum, and exact sums of the values and
/// (for `std` and `var`) of their squares ([`ExactSum`]), so that merging in any grouping, over
/// chunks, threads or cluster shards, gives the same bits as one pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    /// As a decimal string: JSON readers lose integers past 2^53, and this one can pass 2^63.
    #[serde(with = "i128_text")]
    pub int_sum: i128,
    /// The exact sum of the float values (integers are in `int_sum`).
    sum: ExactSum,
    /// The sum of squares (of every value), kept only for `std` and `var`.
    squares: Option<ExactSum>,
}

mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&x.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Moments {
    /// Moments for `sum` and `mean`; with `squares`, also for `std` and `var`.
    pub fn new(squares: bool) -> Moments {
        Moments { squares: squares.then(ExactSum::default), ..Moments::default() }
    }

    pub fn push(&mut self, v: Num) {
        self.n += 1;
        match v {
            Num::Int(i) => self.int_sum += i as i128,
            Num::Float(x) => self.sum.add(x),
        }
        if let Some(sq) = &mut self.squares {
            // An integer past 2^53 squares its nearest double: deterministic, like every term.
            sq.add_square(v.as_f64());
        }
    }

    /// The sum of every value: the floats' exact sum plus the integers'.
    fn total(&self) -> ExactSum {
        let mut t = self.sum.clone();
        t.add_int(self.int_sum);
        t
    }

    /// Adds another part's moments: exact, so the grouping does not matter.
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        self.int_sum += o.int_sum;
        self.sum.merge(&o.sum);
        if let (Some(a), Some(b)) = (&mut self.squares, &o.squares) {
            a.merge(b);
        }
    }

    pub fn float_sum(&self) -> f64 {
        self.total().value()
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.float_sum() / self.n as f64)
    }

    /// Sample variance (ddof = 1), as pandas.
    pub fn var(&self) -> Option<f64> {
        variance(self.n, &self.total(), self.squares.as_ref()?)
    }
}

/// Where a record is in the input: its input (of several files), the byte offset of its chunk,
/// and its place in the chunk. Positions order records as the input does, whatever engine, chunk
/// or shard read them, so that `first` and `last` merge in any order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowPos {
    /// `input << 48 | chunk offset`.
    pub at: u64,
    pub row: u32,
}

impl RowPos {
    pub fn new(input: usize, chunk_offset: u64, row: u32) -> RowPos {
        RowPos { at: (input as u64) << 48 | chunk_offset, row }
    }
}

/// A field's raw text and, if it is a number, its value, and the record's position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub text: Box<str>,
    pub num: Option<Num>,
    pub pos: RowPos,
}

/// The state of one aggregation in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum State {
    Rows(u64),
    Count(u64),
    Moments(Moments),
    /// min or max: the extreme under numeric order (numeric values only) and under text order.
    Extreme {
        num: Option<Num>,
        text: Option<Box<str>>,
        max: bool,
    },
    First(Option<Seen>),
    Last(Option<Seen>),
    Median(Vec<Num>),
    /// Distinct values: as text (for a text column) and as numbers (for a numeric one).
    Unique {
        text: FxHashSet<Box<str>>,
        nums: FxHashSet<u64>,
    },
}

impl State {
    pub fn new(func: AggFn) -> State {
        match func {
            AggFn::Rows => State::Rows(0),
            AggFn::Count => State::Count(0),
            AggFn::Sum | AggFn::Mean => State::Moments(Moments::new(false)),
            AggFn::Std | AggFn::Var => State::Moments(Moments::new(true)),
            AggFn::Min => State::Extreme { num: None, text: None, max: false },
            AggFn::Max => State::Extreme { num: None, text: None, max: true },
            AggFn::First => State::First(None),
            AggFn::Last => State::Last(None),
            AggFn::Median => State::Median(Vec::new()),
            AggFn::NUnique => State::Unique { text: FxHashSet::default(), nums: FxHashSet::default() },
        }
    }

    /// Whether `push` reads the field's text (the others only need its number or presence).
    pub fn needs_text(&self) -> bool {
        matches!(self, State::Extreme { .. } | State::First(_) | State::Last(_) | State::Unique { .. })
    }

    /// Adds one row's field (`None` for a null, or for `count` of rows); `pos` is the row's.
    pub fn push(&mut self, field: Option<(&str, Option<Num>)>, pos: RowPos) {
        match self {
            State::Rows(n) => *n += 1,
            _ if field.is_none() => {}
            State::Count(n) => *n += 1,
            State::Moments(m) => {
                if let Some((_, Some(v))) = field {
                    m.push(v)
                }
            }
            State::Extreme { num, text, max } => {
                let (t, v) = field.unwrap();
                let better = |o: Ordering| if *max { o == Ordering::Greater } else { o == Ordering::Less };
                if let Some(v) = v
                    && num.is_none_or(|cur| better(v.total_cmp(cur)))
                {
                    *num = Some(v);
                }
                if text.as_deref().is_none_or(|cur| better(t.cmp(cur))) {
                    *text = Some(t.into());
                }
            }
            State::First(s) => {
                if s.as_ref().is_none_or(|s| pos < s.pos) {
                    let (t, v) = field.unwrap();
                    *s = Some(Seen { text: t.into(), num: v, pos });
                }
            }
            State::Last(s) => {
                if s.as_ref().is_none_or(|s| pos > s.pos) {
                    let (t, v) = field.unwrap();
                    *s = Some(Seen { text: t.into(), num: v, pos });
                }
            }
            State::Median(vs) => {
                if let Some((_, Some(v))) = field {
                    vs.push(v)
                }
            }
            State::Unique { text, nums } => {
                let (t, v) = field.unwrap();
                if !text.contains(t) {
                    text.insert(t.into());
                }
                if let Some(v) = v {
                    nums.insert(num_key(v));
                }
            }
        }
    }

    /// Merges the state of another part of the input into this one (in any order: first and
    /// last compare positions).
    pub fn merge(&mut self, later: State) {
        match (self, later) {
            (State::Rows(a), State::Rows(b)) | (State::Count(a), State::Count(b)) => *a += b,
            (State::Moments(a), State::Moments(b)) => a.merge(&b),
            (State::Extreme { num, text, max }, State::Extreme { num: n2, text: t2, .. }) => {
                let better = |o: Ordering| if *max { o == Ordering::Greater } else { o == Ordering::Less };
                if let Some(v) = n2
                    && num.is_none_or(|cur| better(v.total_cmp(cur)))
                {
                    *num = Some(v);
                }
                if let Some(t) = t2
                    && text.as_deref().is_none_or(|cur| better((*t).cmp(cur)))
                {
                    *text = Some(t);
                }
            }
            (State::First(a), State::First(Some(b))) => {
                if a.as_ref().is_none_or(|a| b.pos < a.pos) {
                    *a = Some(b);
                }
            }
            (State::Last(a), State::Last(Some(b))) => {
                if a.as_ref().is_none_or(|a| b.pos > a.pos) {
                    *a = Some(b);
                }
            }
            (State::First(_), State::First(None)) | (State::Last(_), State::Last(None)) => {}
            (State::Median(a), State::Median(b)) => a.extend(b),
            (State::Unique { text, nums }, State::Unique { text: t2, nums: n2 }) => {
                text.extend(t2);
                nums.extend(n2);
            }
            (a, b) => panic!("cannot merge {b:?} into {a:?}"),
        }
    }
}

/// Numbers that are equal as pandas compares them get the same key: integers and floats of the
/// same value are equal in a float column.
fn num_key(v: Num) -> u64 {
    let x = v.as_f64();
    if x == 0.0 { 0.0f64.to_bits() } else { x.to_bits() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs_and_names_outputs() {
        let aggs = parse_aggs("count, sum(v1),mean(v3) ,n_unique(id 2)").unwrap();
        let names: Vec<String> = aggs.iter().map(AggSpec::output_name).collect();
        assert_eq!(names, ["count", "sum_v1", "mean_v3", "n_unique_id 2"]);
        for bad in ["", "sum", "sum()", "avg(v1)", "sum(v1", "sum((v1))"] {
            assert!(parse_aggs(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn moments_merge_exactly_in_any_split() {
        let xs: Vec<Num> = (0..1000).map(|i| Num::Float((i as f64 * 0.37).sin() * 1e3 + 5e6)).collect();
        let mut whole = Moments::new(true);
        xs.iter().for_each(|&x| whole.push(x));
        for split in [1, 7, 500, 999] {
            let (mut a, mut b) = (Moments::new(true), Moments::new(true));
            xs[..split].iter().for_each(|&x| a.push(x));
            xs[split..].iter().for_each(|&x| b.push(x));
            a.merge(&b);
            assert_eq!(a.n, whole.n);
            assert_eq!(a.mean().map(f64::to_bits), whole.mean().map(f64::to_bits));
            assert_eq!(a.var().map(f64::to_bits), whole.var().map(f64::to_bits));
        }
    }

    #[test]
    fn integer_sums_are_exact() {
        let mut m = Moments::new(false);
        for v in [i64::MAX, i64::MAX, -3] {
            m.push(Num::Int(v));
        }
        assert_eq!(m.int_sum, 2 * i64::MAX as i128 - 3);
    }
}
