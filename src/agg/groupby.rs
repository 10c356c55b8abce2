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

use super::exact::{CoMoments, ExactSum, FloatSum, SMALL_INT, std_dev, variance, with_int};
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
    /// Pearson's correlation of the column with a second one (`corr(a,b)`), over the rows where
    /// both are non-null.
    Corr,
    /// The `k` largest values, one output row each (`top_k(c,k)`), as polars' `top_k` + `explode`.
    TopK(u32),
    /// The `k` smallest values, one output row each (`bottom_k(c,k)`).
    BottomK(u32),
    /// The `p` quantile, interpolated linearly between the two nearest values as pandas' default
    /// (`quantile(c,0.9)`; the median is `quantile(c,0.5)`).
    Quantile(Fraction),
}

/// A fraction in [0, 1], kept as its bits so that specs compare and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fraction(u64);

impl Fraction {
    pub fn new(p: f64) -> Option<Fraction> {
        (0.0..=1.0).contains(&p).then_some(Fraction(p.to_bits()))
    }

    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl AggFn {
    /// The functions of one column, by name.
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
            AggFn::Corr => "corr",
            AggFn::TopK(_) => "top_k",
            AggFn::BottomK(_) => "bottom_k",
            AggFn::Quantile(_) => "quantile",
            f => AggFn::NAMES.iter().find(|(_, g)| *g == f).map(|(n, _)| *n).unwrap_or("?"),
        }
    }

    /// Functions that need numbers.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            AggFn::Sum
                | AggFn::Mean
                | AggFn::Std
                | AggFn::Var
                | AggFn::Median
                | AggFn::Corr
                | AggFn::TopK(_)
                | AggFn::BottomK(_)
                | AggFn::Quantile(_)
        )
    }

    /// Functions whose result is a row per value rather than one per group.
    pub fn is_multi_row(self) -> bool {
        matches!(self, AggFn::TopK(_) | AggFn::BottomK(_))
    }
}

/// One aggregation of the query: a function over a column (none for `count` of rows; two for
/// `corr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggSpec {
    pub func: AggFn,
    pub column: Option<String>,
    /// `corr`'s second column.
    pub column2: Option<String>,
}

impl AggSpec {
    pub fn of(func: AggFn, column: Option<String>) -> AggSpec {
        AggSpec { func, column, column2: None }
    }

    /// The output column name: `count`, or `sum_v1`, `count_v1`, `corr_v1_v2`, `top_k_v3`,
    /// `quantile_0.9_v3`, ...
    pub fn output_name(&self) -> String {
        match (&self.column, &self.column2, self.func) {
            (None, _, _) => "count".to_string(),
            (Some(a), Some(b), _) => format!("{}_{a}_{b}", self.func.name()),
            (Some(c), None, AggFn::Quantile(p)) => format!("quantile_{}_{c}", p.get()),
            (Some(c), None, _) => format!("{}_{c}", self.func.name()),
        }
    }
}

impl fmt::Display for AggSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.column, &self.column2, self.func) {
            (None, _, _) => f.write_str("count"),
            (Some(a), Some(b), _) => write!(f, "{}({a},{b})", self.func.name()),
            (Some(c), None, AggFn::TopK(k) | AggFn::BottomK(k)) => write!(f, "{}({c},{k})", self.func.name()),
            (Some(c), None, AggFn::Quantile(p)) => write!(f, "quantile({c},{})", p.get()),
            (Some(c), None, _) => write!(f, "{}({c})", self.func.name()),
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
            "malformed aggregation \"{item}\": expected count, FUNC(column) with FUNC one of {}, corr(a,b), \
             top_k(c,k), bottom_k(c,k) or quantile(c,p)",
            AggFn::NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )
    };
    if item == "count" || item == "count()" || item == "len" {
        return Ok(AggSpec::of(AggFn::Rows, None));
    }
    let (name, arg) = item.split_once('(').ok_or_else(bad)?;
    let inner = arg.strip_suffix(')').ok_or_else(bad)?.trim();
    if inner.is_empty() || inner.contains(['(', ')']) {
        return Err(bad());
    }
    // The numeric argument of top_k, bottom_k and quantile follows the column's last comma.
    let last_arg = || inner.rsplit_once(',').map(|(c, a)| (c.trim(), a.trim())).ok_or_else(bad);
    let spec = match name.trim() {
        "corr" => {
            let (a, b) = inner.split_once(',').ok_or_else(bad)?;
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || b.is_empty() || b.contains(',') {
                return Err(format!("{}: corr takes two columns, corr(a,b) (names without commas)", bad()));
            }
            AggSpec { func: AggFn::Corr, column: Some(a.to_string()), column2: Some(b.to_string()) }
        }
        f @ ("top_k" | "bottom_k") => {
            let (c, k) = last_arg()?;
            let k: u32 = k.parse().ok().filter(|&k| k > 0).ok_or_else(|| format!("{}: k must be a count", bad()))?;
            AggSpec::of(if f == "top_k" { AggFn::TopK(k) } else { AggFn::BottomK(k) }, Some(c.to_string()))
        }
        "quantile" => {
            let (c, p) = last_arg()?;
            let p = p
                .parse::<f64>()
                .ok()
                .and_then(Fraction::new)
                .ok_or_else(|| format!("{}: p must be a fraction between 0 and 1", bad()))?;
            AggSpec::of(AggFn::Quantile(p), Some(c.to_string()))
        }
        n => {
            let func = AggFn::NAMES.iter().find(|(name, _)| *name == n).map(|(_, f)| *f).ok_or_else(bad)?;
            AggSpec::of(func, Some(inner.to_string()))
        }
    };
    Ok(spec)
}

/// Exact, mergeable moments: the count, the exact integer sum, and exact sums of the values and
/// (for `std` and `var`) of their squares, so that merging in any grouping, over chunks, threads
/// or cluster shards, gives the same bits as one pass. The float sum is a [`FloatSum`] (no
/// allocation until a value leaves its 128-bit window); the squares an [`ExactSum`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    /// As a decimal string: JSON readers lose integers past 2^53, and this one can pass 2^63.
    #[serde(with = "crate::agg::i128_text")]
    pub int_sum: i128,
    /// The exact sum of the float values (integers are in `int_sum`).
    pub sum: FloatSum,
    /// The sum of squares (of every value but the integers under 2^31), kept only for `std` and
    /// `var`.
    squares: Option<Box<ExactSum>>,
    /// The sum of squares of the integers under 2^31 (each under 2^62: no overflow).
    #[serde(default, with = "crate::agg::i128_text")]
    int_squares: i128,
}

impl Moments {
    /// Moments for `sum` and `mean`; with `squares`, also for `std` and `var`.
    pub fn new(squares: bool) -> Moments {
        Moments { squares: squares.then(Box::default), ..Moments::default() }
    }

    #[inline]
    pub fn push(&mut self, v: Num) {
        self.n += 1;
        match v {
            Num::Int(i) => self.int_sum += i as i128,
            Num::Float(x) => self.sum.add(x),
        }
        if let Some(sq) = &mut self.squares {
            match v {
                Num::Int(i) if i.unsigned_abs() < SMALL_INT => self.int_squares += i128::from(i) * i128::from(i),
                // An integer past 2^53 squares its nearest double: deterministic, like every term.
                _ => sq.add_square(v.as_f64()),
            }
        }
    }

    /// The moments of a sum or mean (no squares): `n` values, their integer sum and float sum.
    pub fn of_sum(n: u64, int_sum: i128, sum: FloatSum) -> Moments {
        Moments { n, int_sum, sum, squares: None, int_squares: 0 }
    }

    /// These moments with `squares` as the exact sum of their values' squares (of every value:
    /// the integers' too).
    pub fn with_squares(self, squares: ExactSum) -> Moments {
        Moments { squares: Some(Box::new(squares)), int_squares: 0, ..self }
    }

    /// The exact sum of the values' squares, if these moments keep them.
    pub fn squares_total(&self) -> Option<ExactSum> {
        Some(with_int(self.squares.as_ref()?, self.int_squares, true).into_owned())
    }

    /// Adds another part's moments: exact, so the grouping does not matter.
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        self.int_sum += o.int_sum;
        self.sum.merge(&o.sum);
        if let (Some(a), Some(b)) = (&mut self.squares, &o.squares) {
            a.merge(b);
        }
        self.int_squares += o.int_squares;
    }

    /// The sum of every value (floats and integers), correctly rounded.
    pub fn float_sum(&self) -> f64 {
        self.sum.value_plus(self.int_sum)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.float_sum() / self.n as f64)
    }

    /// Sample variance (ddof = 1), as pandas.
    pub fn var(&self) -> Option<f64> {
        self.of_sums(variance)
    }

    /// The standard deviation (see [`std_dev`]: not [`Moments::var`]'s square root when the
    /// variance is past the doubles).
    pub fn std(&self) -> Option<f64> {
        self.of_sums(std_dev)
    }

    /// `f` of the count, the exact sum of every value and of every square (`None` without
    /// squares kept).
    fn of_sums(&self, f: fn(u64, &ExactSum, &ExactSum) -> Option<f64>) -> Option<f64> {
        let mut total = self.sum.to_exact();
        total.add_int(self.int_sum);
        f(self.n, &total, &with_int(self.squares.as_ref()?, self.int_squares, true))
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
    /// Every numeric value: median and quantiles.
    Median(Vec<Num>),
    /// Distinct values: as text (for a text column) and as numbers (for a numeric one).
    Unique {
        text: TextSet,
        nums: FxHashSet<u64>,
    },
    /// Exact co-moments of the rows where both columns are numbers.
    Corr(Box<CoMoments>),
    /// The `k` largest (or smallest) values so far, best first; ties all kept up to `k`.
    Top {
        largest: bool,
        k: u32,
        vals: Vec<Num>,
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
            AggFn::Median | AggFn::Quantile(_) => State::Median(Vec::new()),
            AggFn::NUnique => State::Unique { text: TextSet::default(), nums: FxHashSet::default() },
            AggFn::Corr => State::Corr(Box::default()),
            AggFn::TopK(k) => State::Top { largest: true, k, vals: Vec::new() },
            AggFn::BottomK(k) => State::Top { largest: false, k, vals: Vec::new() },
        }
    }

    /// Adds one row's pair of numbers (`corr`): only rows where both are numbers count.
    pub fn push_pair(&mut self, x: Option<Num>, y: Option<Num>) {
        if let (State::Corr(m), Some(x), Some(y)) = (self, x, y) {
            m.push_num(x, y);
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
                extreme_update(*max, num, text, v, Some(t));
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
                text.insert(t);
                if let Some(v) = v {
                    nums.insert(num_key(v));
                }
            }
            State::Top { largest, k, vals } => {
                if let Some((_, Some(v))) = field {
                    top_insert(vals, *largest, *k, v);
                }
            }
            // Pairs come through `push_pair`.
            State::Corr(_) => {}
        }
    }

    /// Merges the state of another part of the input into this one (in any order: first and
    /// last compare positions).
    pub fn merge(&mut self, later: State) {
        match (self, later) {
            (State::Rows(a), State::Rows(b)) | (State::Count(a), State::Count(b)) => *a += b,
            (State::Moments(a), State::Moments(b)) => a.merge(&b),
            (State::Extreme { num, text, max }, State::Extreme { num: n2, text: t2, .. }) => {
                extreme_update(*max, num, text, n2, t2.as_deref());
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
            (State::Corr(a), State::Corr(b)) => a.merge(&b),
            (State::Top { largest, k, vals }, State::Top { vals: v2, .. }) => {
                for v in v2 {
                    top_insert(vals, *largest, *k, v);
                }
            }
            (a, b) => panic!("cannot merge {b:?} into {a:?}"),
        }
    }
}

/// Takes a value into a `min` (or, with `max`, a `max`): `v`, its number if it is one, into the
/// numeric extreme, and `t`, its text, into the text extreme.
#[inline]
pub fn extreme_update(max: bool, num: &mut Option<Num>, text: &mut Option<Box<str>>, v: Option<Num>, t: Option<&str>) {
    let better = |o: Ordering| if max { o == Ordering::Greater } else { o == Ordering::Less };
    extreme_num_update(max, num, v);
    if let Some(t) = t
        && text.as_deref().is_none_or(|cur| better(t.cmp(cur)))
    {
        *text = Some(t.into());
    }
}

/// The numeric half of [`extreme_update`]: keeps `v` in `num` if it is beyond it.
#[inline]
pub fn extreme_num_update(max: bool, num: &mut Option<Num>, v: Option<Num>) {
    if let Some(v) = v
        && num.is_none_or(
            |cur| if max { v.total_cmp(cur) == Ordering::Greater } else { v.total_cmp(cur) == Ordering::Less },
        )
    {
        *num = Some(v);
    }
}

/// Inserts `v` into the best-first list `vals` of at most `k` values (largest or smallest first).
/// Equal values are ordered integers first, so that the list is the same whatever order the values
/// came in.
fn top_insert(vals: &mut Vec<Num>, largest: bool, k: u32, v: Num) {
    let better = |a: &Num, b: &Num| top_order(largest, a, b);
    let k = k as usize;
    if vals.len() == k && better(&v, &vals[k - 1]) != Ordering::Less {
        return;
    }
    let at = vals.partition_point(|x| better(x, &v) != Ordering::Greater);
    vals.insert(at, v);
    vals.truncate(k);
}

/// The order of a best-first list: `Less` when `a` comes before `b` (larger, or smaller for a
/// bottom list; of equal values, integers first).
fn top_order(largest: bool, a: &Num, b: &Num) -> Ordering {
    let numeric = if largest { b.total_cmp(*a) } else { a.total_cmp(*b) };
    numeric.then_with(|| matches!(b, Num::Int(_)).cmp(&matches!(a, Num::Int(_))))
}

/// [`top_insert`] into a list kept in `k` slots (`k = slots.len()`), its values first and then
/// empty slots: the same list, with no allocation.
pub(crate) fn top_insert_slots(slots: &mut [Option<Num>], largest: bool, v: Num) {
    let k = slots.len();
    let len = slots.iter().position(Option::is_none).unwrap_or(k);
    let order = |x: &Option<Num>, v: &Num| top_order(largest, x.as_ref().expect("a value before the empty slots"), v);
    if k == 0 || (len == k && order(&slots[k - 1], &v) != Ordering::Greater) {
        return;
    }
    let at = slots[..len].partition_point(|x| order(x, &v) != Ordering::Greater);
    let end = (len + 1).min(k);
    slots.copy_within(at..end - 1, at + 1);
    slots[at] = Some(v);
}

/// Distinct texts: each of up to 15 bytes as one integer (its bytes and its length), with no
/// allocation; longer ones boxed. (A boxed string per distinct value, hashed byte by byte, was
/// most of an `n_unique` of ids over 1e5 groups.) Written and read as a list of the texts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextSet {
    short: FxHashSet<u128>,
    long: FxHashSet<Box<str>>,
}

impl TextSet {
    /// The integer a text of up to 15 bytes is kept as: its bytes, then its length in the last.
    #[inline]
    fn short_key(t: &[u8]) -> Option<u128> {
        (t.len() < 16).then(|| {
            let mut b = [0u8; 16];
            b[..t.len()].copy_from_slice(t);
            b[15] = t.len() as u8;
            u128::from_le_bytes(b)
        })
    }

    #[inline]
    pub fn insert(&mut self, t: &str) {
        match Self::short_key(t.as_bytes()) {
            Some(k) => {
                self.short.insert(k);
            }
            None if !self.long.contains(t) => {
                self.long.insert(t.into());
            }
            None => {}
        }
    }

    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn extend(&mut self, other: TextSet) {
        self.short.extend(other.short);
        self.long.extend(other.long);
    }

    /// Every text (in no particular order).
    fn texts(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        let short = self.short.iter().map(|k| {
            let b = k.to_le_bytes();
            // The bytes of a `str` (see `insert`).
            std::borrow::Cow::Owned(String::from_utf8(b[..usize::from(b[15])].to_vec()).expect("a text's bytes"))
        });
        short.chain(self.long.iter().map(|t| std::borrow::Cow::Borrowed(&**t)))
    }
}

impl Serialize for TextSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.texts())
    }
}

impl<'de> Deserialize<'de> for TextSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut set = TextSet::default();
        Vec::<String>::deserialize(d)?.iter().for_each(|t| set.insert(t));
        Ok(set)
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

    /// Texts of up to 15 bytes (kept as integers) and longer (boxed) are each counted once, texts
    /// that differ by trailing NULs or by length apart, and a set reads back from its list of
    /// texts as itself.
    #[test]
    fn text_sets_count_distinct_texts_and_round_trip() {
        let texts = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "é",
            "id0000000001",
            "fifteen bytes!!",
            "sixteen bytes!!!",
            "x".repeat(40).leak(),
        ];
        let mut set = TextSet::default();
        for t in texts.iter().chain(&texts) {
            set.insert(t);
        }
        assert_eq!(set.len(), texts.len());
        let mut listed: Vec<String> = set.texts().map(|t| t.into_owned()).collect();
        listed.sort();
        let mut want: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        want.sort();
        assert_eq!(listed, want);
        let back: TextSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(back, set);
        let mut other = TextSet::default();
        other.insert("a");
        other.insert("new one, longer than fifteen");
        set.extend(other);
        assert_eq!(set.len(), texts.len() + 1);
    }

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

    /// Squares of small integers summed in integers give the variance their doubles give, mixed
    /// with floats and large integers, in any split, and through a partial file.
    #[test]
    fn integer_squares_give_the_variance_of_their_doubles() {
        let xs: Vec<Num> = (0..600i64)
            .map(|i| match i % 5 {
                0 => Num::Int((1 << 40) + i),
                1 => Num::Float(i as f64 / 8.0),
                2 => Num::Int(-(1 << 31) + 1 + i),
                _ => Num::Int(i % 13 - 6),
            })
            .collect();
        let mut doubles = Moments::new(true);
        xs.iter().for_each(|&x| doubles.push(Num::Float(x.as_f64())));
        let mut whole = Moments::new(true);
        xs.iter().for_each(|&x| whole.push(x));
        assert_ne!(whole.int_squares, 0);
        assert_eq!(whole.var().map(f64::to_bits), doubles.var().map(f64::to_bits));
        for split in [0, 3, 301, 600] {
            let (mut a, mut b) = (Moments::new(true), Moments::new(true));
            xs[..split].iter().for_each(|&x| a.push(x));
            xs[split..].iter().for_each(|&x| b.push(x));
            a.merge(&b);
            assert_eq!(a.var().map(f64::to_bits), whole.var().map(f64::to_bits), "split at {split}");
        }
        let back: Moments = serde_json::from_str(&serde_json::to_string(&whole).unwrap()).unwrap();
        assert_eq!(back.var().map(f64::to_bits), whole.var().map(f64::to_bits));
        let mut ints = Moments::new(true);
        [2, 4, 4, 4, 5, 5, 7, 9].iter().for_each(|&i| ints.push(Num::Int(i)));
        assert_eq!(ints.var(), Some(32.0 / 7.0));
    }

    #[test]
    fn parses_the_two_argument_and_parameterised_specs() {
        let aggs = parse_aggs("corr(v1, v2),top_k(v3,2),bottom_k(a,b,1),quantile(v3, 0.25)").unwrap();
        let names: Vec<String> = aggs.iter().map(AggSpec::output_name).collect();
        assert_eq!(names, ["corr_v1_v2", "top_k_v3", "bottom_k_a,b", "quantile_0.25_v3"]);
        assert_eq!(aggs[1].func, AggFn::TopK(2));
        assert_eq!(
            aggs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["corr(v1,v2)", "top_k(v3,2)", "bottom_k(a,b,1)", "quantile(v3,0.25)"]
        );
        for bad in ["corr(v1)", "top_k(v3)", "top_k(v3,0)", "quantile(v3,2)", "quantile(v3,x)", "corr(a,b,c)"] {
            assert!(parse_aggs(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// corr, top_k, bottom_k and quantile states merged over any split, in either order, are
        /// the single pass's state.
        #[test]
        fn new_states_merge_to_the_single_pass(
            pairs in proptest::collection::vec((proptest::option::of(-50i64..50), proptest::option::of(-1e3f64..1e3)), 0..80),
            split in 0usize..80,
        ) {
            let split = split.min(pairs.len());
            let funcs = [AggFn::Corr, AggFn::TopK(3), AggFn::BottomK(2), AggFn::Quantile(Fraction::new(0.3).unwrap())];
            for func in funcs {
                let feed = |state: &mut State, from: usize, rows: &[(Option<i64>, Option<f64>)]| {
                    for (i, (x, y)) in rows.iter().enumerate().map(|(i, r)| (i + from, r)) {
                        let (x, y) = (x.map(Num::Int), y.map(Num::Float));
                        if func == AggFn::Corr {
                            state.push_pair(x, y);
                        } else {
                            let v = if i % 2 == 0 { x } else { y };
                            state.push(v.map(|n| ("", Some(n))), RowPos::default());
                        }
                    }
                };
                let mut whole = State::new(func);
                feed(&mut whole, 0, &pairs);
                let (mut a, mut b) = (State::new(func), State::new(func));
                feed(&mut a, 0, &pairs[..split]);
                feed(&mut b, split, &pairs[split..]);
                let (a2, b2) = (a.clone(), b.clone());
                a.merge(b2);
                b.merge(a2);
                for merged in [a, b] {
                    match (&merged, &whole) {
                        (State::Corr(m), State::Corr(w)) => {
                            proptest::prop_assert_eq!(m.correlation().map(f64::to_bits), w.correlation().map(f64::to_bits));
                        }
                        (State::Median(m), State::Median(w)) => {
                            let sorted = |v: &Vec<Num>| { let mut v: Vec<u64> = v.iter().map(|n| n.as_f64().to_bits()).collect(); v.sort(); v };
                            proptest::prop_assert_eq!(sorted(m), sorted(w));
                        }
                        (m, w) => proptest::prop_assert_eq!(m, w),
                    }
                }
            }
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
