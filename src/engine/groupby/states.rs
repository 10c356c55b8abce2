//! The aggregation states of a partition's groups, a column per aggregation indexed by group id:
//! no allocation per group, and each state as small as its aggregation allows. Counts are 8 bytes;
//! sums and means keep the count, an exact integer sum and, once a float arrives, an exact float
//! sum ([`FloatSum`], 32 bytes without allocation in the common case). The other aggregations
//! keep the general [`State`], which is also what partial files carry.

use crate::agg::exact::FloatSum;
use crate::agg::groupby::{AggFn, AggSpec, Moments, Num, RowPos, State};

/// One aggregation's states.
enum Column {
    /// `count` (rows) or `count(c)` (non-null values).
    Counts { rows: bool, n: Vec<u64> },
    /// `sum` and `mean`: the numeric values' count, integer sum and (grown on the first float)
    /// float sum.
    Sums { n: Vec<u64>, ints: Vec<i128>, floats: Vec<FloatSum> },
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
                Column::Sums { n, ints, .. } => {
                    n.push(0);
                    ints.push(0);
                }
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
                    ints[i] += i128::from(v);
                }
                Some((_, Some(Num::Float(x)))) => {
                    n[i] += 1;
                    if floats.len() <= i {
                        floats.resize(self.len, FloatSum::default());
                    }
                    floats[i].add(x);
                }
                _ => {}
            },
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
                    ints[i] += i2[o];
                    if let Some(f) = f2.get(o) {
                        if floats.len() <= i {
                            floats.resize(self.len, FloatSum::default());
                        }
                        floats[i].merge(f);
                    }
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
                ints[i] += m.int_sum;
                if floats.len() <= i {
                    floats.resize(self.len, FloatSum::default());
                }
                floats[i].merge(&m.sum);
            }
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
            Column::Sums { n, ints, floats } => {
                State::Moments(Moments::of_sum(n[i], ints[i], floats.get(i).cloned().unwrap_or_default()))
            }
            Column::Other(v) => v[i].clone(),
        }
    }

    /// The state of aggregation `agg` of group `id`, taken out (the group's state is left empty):
    /// for reading a result, once.
    pub fn take(&mut self, agg: usize, id: u32) -> State {
        match &mut self.cols[agg] {
            Column::Other(v) => std::mem::replace(&mut v[id as usize], State::new(self.funcs[agg])),
            _ => self.state(agg, id),
        }
    }

    /// Merges group `oid` into group `id` of the same partition, leaving `oid`'s states empty.
    pub fn merge_within(&mut self, id: u32, oid: u32) {
        let (i, o) = (id as usize, oid as usize);
        for (col, &func) in self.cols.iter_mut().zip(&self.funcs) {
            match col {
                Column::Counts { n, .. } => {
                    n[i] += std::mem::take(&mut n[o]);
                }
                Column::Sums { n, ints, floats } => {
                    n[i] += std::mem::take(&mut n[o]);
                    ints[i] += std::mem::take(&mut ints[o]);
                    if let Some(f) = floats.get(o).cloned() {
                        if floats.len() <= i {
                            floats.resize(self.len, FloatSum::default());
                        }
                        floats[i].merge(&f);
                        floats[o] = FloatSum::default();
                    }
                }
                Column::Other(v) => {
                    let theirs = std::mem::replace(&mut v[o], State::new(func));
                    v[i].merge(theirs);
                }
            }
        }
    }
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
