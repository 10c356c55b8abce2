//! The aggregation states of a partition's groups, a column per aggregation indexed by group id:
//! no allocation per group, and each state as small as its aggregation allows. Counts are 8 bytes;
//! sums and means keep the count and, once a value of the kind arrives, an exact integer sum (16
//! bytes) and an exact float sum ([`FloatSum`], 32 bytes without allocation in the common case);
//! min and max keep their number and their text; median and quantile their values. The other
//! aggregations keep the general [`State`], which is also what partial files carry.

use crate::agg::exact::FloatSum;
use crate::agg::groupby::{AggFn, AggSpec, Moments, Num, RowPos, State, extreme_update};

/// One aggregation's states.
enum Column {
    /// `count` (rows) or `count(c)` (non-null values).
    Counts { rows: bool, n: Vec<u64> },
    /// `sum` and `mean`: the numeric values' count, and the integer and float sums (each made on
    /// the column's first value of its kind: a float column keeps no integer sums).
    Sums { n: Vec<u64>, ints: Vec<i128>, floats: Vec<FloatSum> },
    /// `min` and `max`: the extreme number and the extreme text (a column's type, and so which
    /// one is the answer, is known only at the end).
    Extremes { max: bool, nums: Vec<Option<Num>>, texts: Vec<Option<Box<str>>> },
    /// `median` and `quantile`: every numeric value of each group.
    Values(Vec<Vec<Num>>),
    /// Every other aggregation.
    Other(Vec<State>),
}

/// The states of a partition's groups.
pub struct States {
    funcs: Vec<AggFn>,
    cols: Vec<Column>,
    len: usize,
}

impl States {
    pub fn new(aggs: &[AggSpec]) -> States {
        let cols = aggs
            .iter()
            .map(|a| match a.func {
                AggFn::Rows => Column::Counts { rows: true, n: Vec::new() },
                AggFn::Count => Column::Counts { rows: false, n: Vec::new() },
                AggFn::Sum | AggFn::Mean => Column::Sums { n: Vec::new(), ints: Vec::new(), floats: Vec::new() },
                AggFn::Median | AggFn::Quantile(_) => Column::Values(Vec::new()),
                AggFn::Min | AggFn::Max => {
                    Column::Extremes { max: a.func == AggFn::Max, nums: Vec::new(), texts: Vec::new() }
                }
                _ => Column::Other(Vec::new()),
            })
            .collect();
        States { funcs: aggs.iter().map(|a| a.func).collect(), cols, len: 0 }
    }

    /// Adds a group with empty states; returns its id.
    pub fn add_group(&mut self) -> u32 {
        for (col, &func) in self.cols.iter_mut().zip(&self.funcs) {
            match col {
                Column::Counts { n, .. } => n.push(0),
                Column::Sums { n, .. } => n.push(0),
                Column::Extremes { nums, texts, .. } => {
                    nums.push(None);
                    texts.push(None);
                }
                Column::Values(v) => v.push(Vec::new()),
                Column::Other(v) => v.push(State::new(func)),
            }
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    /// Whether aggregation `agg` reads its field's text (the others need only its number).
    pub fn needs_text(&self, agg: usize) -> bool {
        matches!(self.funcs[agg], AggFn::Min | AggFn::Max | AggFn::First | AggFn::Last | AggFn::NUnique)
    }

    /// Adds one row's field to aggregation `agg` of group `id` (`None` for a null, or for `count`
    /// of rows); `pos` is the row's.
    #[inline]
    pub fn push(&mut self, agg: usize, id: u32, field: Option<(&str, Option<Num>)>, pos: RowPos) {
        let i = id as usize;
        match &mut self.cols[agg] {
            Column::Counts { rows, n } => n[i] += u64::from(*rows || field.is_some()),
            Column::Sums { n, ints, floats } => match field {
                Some((_, Some(Num::Int(v)))) => {
                    n[i] += 1;
                    grown(ints, i, self.len)[i] += i128::from(v);
                }
                Some((_, Some(Num::Float(x)))) => {
                    n[i] += 1;
                    grown(floats, i, self.len)[i].add(x);
                }
                _ => {}
            },
            Column::Extremes { max, nums, texts } => {
                if let Some((t, v)) = field {
                    extreme_update(*max, &mut nums[i], &mut texts[i], v, Some(t));
                }
            }
            Column::Values(v) => {
                if let Some((_, Some(x))) = field {
                    v[i].push(x);
                }
            }
            Column::Other(v) => v[i].push(field, pos),
        }
    }

    /// Asks the CPU to bring group `id`'s states into the cache: issued for a batch of rows before
    /// their updates, the misses of many rows overlap.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let i = id as usize;
        for col in &self.cols {
            match col {
                Column::Counts { n, .. } => prefetch(n, i),
                Column::Sums { n, ints, floats } => {
                    prefetch(n, i);
                    prefetch(ints, i);
                    prefetch(floats, i);
                }
                Column::Extremes { nums, texts, .. } => {
                    prefetch(nums, i);
                    prefetch(texts, i);
                }
                Column::Values(v) => prefetch(v, i),
                Column::Other(v) => prefetch(v, i),
            }
        }
    }

    /// Adds one row's pair of numbers to aggregation `agg` (`corr`) of group `id`.
    #[inline]
    pub fn push_pair(&mut self, agg: usize, id: u32, x: Option<Num>, y: Option<Num>) {
        if let Column::Other(v) = &mut self.cols[agg] {
            v[id as usize].push_pair(x, y);
        }
    }

    /// Merges group `oid` of `other` (the states of the same aggregations) into group `id`, leaving
    /// `other`'s states empty.
    pub fn merge_from(&mut self, id: u32, other: &mut States, oid: u32) {
        let (i, o) = (id as usize, oid as usize);
        for ((mine, theirs), &func) in self.cols.iter_mut().zip(&mut other.cols).zip(&self.funcs) {
            match (mine, theirs) {
                (Column::Counts { n, .. }, Column::Counts { n: m, .. }) => n[i] += m[o],
                (Column::Sums { n, ints, floats }, Column::Sums { n: n2, ints: i2, floats: f2 }) => {
                    n[i] += n2[o];
                    if let Some(&x) = i2.get(o) {
                        grown(ints, i, self.len)[i] += x;
                    }
                    if let Some(f) = f2.get(o) {
                        grown(floats, i, self.len)[i].merge(f);
                    }
                }
                (Column::Extremes { max, nums, texts }, Column::Extremes { nums: n2, texts: t2, .. }) => {
                    extreme_update(*max, &mut nums[i], &mut texts[i], n2[o], t2[o].as_deref());
                }
                (Column::Values(v), Column::Values(w)) => {
                    let theirs = std::mem::take(&mut w[o]);
                    v[i].extend(theirs);
                }
                (Column::Other(v), Column::Other(w)) => {
                    let theirs = std::mem::replace(&mut w[o], State::new(func));
                    v[i].merge(theirs);
                }
                _ => unreachable!("the same aggregations"),
            }
        }
    }

    /// Merges a state read back from a partial file into aggregation `agg` of group `id`.
    pub fn merge_state(&mut self, agg: usize, id: u32, state: State) {
        let i = id as usize;
        match (&mut self.cols[agg], state) {
            (Column::Counts { n, .. }, State::Rows(m) | State::Count(m)) => n[i] += m,
            (Column::Sums { n, ints, floats }, State::Moments(m)) => {
                n[i] += m.n;
                if m.int_sum != 0 {
                    grown(ints, i, self.len)[i] += m.int_sum;
                }
                grown(floats, i, self.len)[i].merge(&m.sum);
            }
            (Column::Extremes { max, nums, texts }, State::Extreme { num, text, .. }) => {
                extreme_update(*max, &mut nums[i], &mut texts[i], num, text.as_deref());
            }
            (Column::Values(v), State::Median(vals)) => v[i].extend(vals),
            (Column::Other(v), s) => v[i].merge(s),
            (_, s) => panic!("a partial state {s:?} of another aggregation"),
        }
    }

    /// The state of aggregation `agg` of group `id`, as partial files carry it and the result is
    /// read from it.
    pub fn state(&self, agg: usize, id: u32) -> State {
        let i = id as usize;
        match &self.cols[agg] {
            Column::Counts { rows: true, n } => State::Rows(n[i]),
            Column::Counts { rows: false, n } => State::Count(n[i]),
            Column::Sums { n, ints, floats } => State::Moments(Moments::of_sum(
                n[i],
                ints.get(i).copied().unwrap_or_default(),
                floats.get(i).cloned().unwrap_or_default(),
            )),
            Column::Extremes { max, nums, texts } => State::Extreme { num: nums[i], text: texts[i].clone(), max: *max },
            Column::Values(v) => State::Median(v[i].clone()),
            Column::Other(v) => v[i].clone(),
        }
    }
}

/// `v` grown (with empty states) to hold the `len` groups' when it does not yet hold group `i`'s:
/// the integer and float sums of a column are made on its first value of that kind.
#[inline]
fn grown<T: Default + Clone>(v: &mut Vec<T>, i: usize, len: usize) -> &mut Vec<T> {
    if v.len() <= i {
        v.resize(len, T::default());
    }
    v
}

/// Prefetches element `i` of `v`, if it has one, for writing soon.
#[inline]
fn prefetch<T>(v: &[T], i: usize) {
    if let Some(x) = v.get(i) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; the address is that of an element of `v`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(x).cast())
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = x;
    }
}
