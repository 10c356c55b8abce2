//! The aggregation states of a partition's groups, indexed by group id, with no allocation per
//! group and each state as small as its aggregation allows. Counts (8 bytes), sums (24 bytes:
//! an exact sum, see [`Sum`]) and means (32 bytes: and the count) sit side by side in one row
//! per group ([`SumAt`]), so that a row's updates touch one or two cache lines; min and max keep
//! their number and their text side by side ([`Extreme`], 32 bytes), a group's mins and maxes
//! next to each other; top_k and bottom_k of up to [`TOP_SLOTS`] values their list in `k` slots
//! per group; median and quantile their values. The other aggregations keep the general
//! [`State`], which is also what partial files carry (a sum's with a count of 0: not kept).

use super::table::prefetch;
use crate::agg::exact::{
    CoMoments, ExactSum, FloatSum, SMALL_INT, int_product_parts, product_parts, window_add, window_int, window_parts,
};
use crate::agg::groupby::{AggFn, AggSpec, Moments, Num, RowPos, State, extreme_num_update, top_insert_slots};
use crate::engine::grow;

/// One aggregation's states.
enum Column {
    /// `count` (rows) or `count(c)` (non-null values): word `at` of a group's row.
    Count { rows: bool, at: usize },
    /// `sum`, `mean`, `std` and `var`: words of a group's row, see [`SumAt`].
    Sum(SumAt),
    /// `corr`: the pairs' count in word `at` of a group's row, then five sums in the next 15: of
    /// x, of y, and of x^2, y^2 and xy at the squares' positions (see [`Sum::add_product`]).
    Corr { at: usize },
    /// `min` and `max`: each group's [`Extreme`], the `at`-th of the group's in
    /// [`States::extremes`].
    Extremes { max: bool, at: usize },
    /// `top_k` and `bottom_k` of a small `k`: each group's best-first list in `k` slots of
    /// `slots` (values, then empty slots), with no allocation per group.
    Top { largest: bool, k: usize, slots: Vec<Option<Num>> },
    /// `median` and `quantile`: every numeric value of each group.
    Values(Vec<Vec<f64>>),
    /// Every other aggregation.
    Other(Vec<State>),
}

/// A group's `min` or `max`: the extreme number and the extreme text (a column's type, and so
/// which one is the answer, is known only at the end), and the text's first bytes as an integer
/// ([`head`]), which decides most comparisons without reading the text; side by side, so that a
/// row's update reads one place. A text of up to 8 bytes is its head and length, with no
/// allocation (with a group per row or two, allocating every group's first text was most of a
/// min's or max's cost). 32 bytes from a half line's start: a row's update reads one cache line
/// (at 48 bytes, every other group's state lay across two, and with many groups the first read
/// of a state is most of a min's or max's time).
#[derive(Default)]
#[repr(C, align(32))]
struct Extreme {
    /// The extreme number's bits: an `i64`'s or an `f64`'s as `num_kind` says.
    num_bits: u64,
    head: u64,
    /// A text longer than 8 bytes, behind a thin pointer (a `Box<str>` is two words).
    long: Option<Box<Box<str>>>,
    /// The text's length plus one when it is at most 8 bytes (its bytes are `head`'s); 0 when it
    /// is longer (in `long`) or there is none.
    short: u8,
    /// No number (0), an integer (1) or a float (2).
    num_kind: u8,
}

const _: () = assert!(size_of::<Extreme>() == 32 && align_of::<Extreme>() == 32);

impl Extreme {
    fn num(&self) -> Option<Num> {
        match self.num_kind {
            0 => None,
            1 => Some(Num::Int(self.num_bits as i64)),
            _ => Some(Num::Float(f64::from_bits(self.num_bits))),
        }
    }

    fn update(&mut self, max: bool, num: Option<Num>, text: Option<&str>) {
        if num.is_some() {
            let mut cur = self.num();
            extreme_num_update(max, &mut cur, num);
            (self.num_kind, self.num_bits) = match cur {
                None => (0, 0),
                Some(Num::Int(i)) => (1, i as u64),
                Some(Num::Float(f)) => (2, f.to_bits()),
            };
        }
        if let Some(t) = text {
            self.text_update(max, t);
        }
    }

    /// The extreme text, if any: its bytes in `buf` when it is short.
    fn text<'a>(&'a self, buf: &'a mut [u8; 8]) -> Option<&'a str> {
        if self.short > 0 {
            *buf = self.head.to_be_bytes();
            // SAFETY: the bytes are those of a `str` of this length (see `text_update`).
            Some(unsafe { std::str::from_utf8_unchecked(&buf[..usize::from(self.short - 1)]) })
        } else {
            self.long.as_deref().map(|b| &**b)
        }
    }

    /// Keeps `t` as the extreme text if it is beyond it: compared by heads, and by bytes only
    /// when the heads are equal (as `extreme_update` orders texts).
    #[inline]
    fn text_update(&mut self, max: bool, t: &str) {
        let th = head(t.as_bytes());
        let mut buf = [0; 8];
        let beyond = match self.text(&mut buf) {
            None => true,
            Some(cur) => {
                // Equal heads of texts of one length up to 8 bytes: equal texts (the common tie
                // of a repeated extreme), with no byte compare.
                let o = th.cmp(&self.head).then_with(|| match t.len() <= 8 && t.len() == cur.len() {
                    true => std::cmp::Ordering::Equal,
                    false => t.cmp(cur),
                });
                if max { o == std::cmp::Ordering::Greater } else { o == std::cmp::Ordering::Less }
            }
        };
        if beyond {
            self.head = th;
            if t.len() <= 8 {
                self.short = t.len() as u8 + 1;
                self.long = None;
            } else {
                self.short = 0;
                self.long = Some(Box::new(t.into()));
            }
        }
    }

    /// The extreme text, owned.
    fn text_owned(&self) -> Option<Box<str>> {
        self.text(&mut [0; 8]).map(Box::from)
    }
}

/// Where a `sum`'s, `mean`'s, `std`'s or `var`'s words lie in a group's row, from word `at`: the
/// values' count (`counted`: a mean, std or var; a sum's answer needs none, and q5's three sums
/// a group took 96 bytes with a count each, 72 without), their exact sum (a [`Sum`]), and for
/// `std` and `var` (`squares`) the exact sum of their squares (a [`Sum`] whose positions are the
/// squares', see [`Sum::add_square`]).
#[derive(Clone, Copy)]
pub struct SumAt {
    at: usize,
    counted: bool,
    squares: bool,
}

impl SumAt {
    fn words(self) -> usize {
        usize::from(self.counted) + Sum::WORDS * (1 + usize::from(self.squares))
    }

    /// The first word of the sum.
    fn sum(self) -> usize {
        self.at + usize::from(self.counted)
    }
}

/// A `corr`'s words in a group's row: the pairs' count, then five [`Sum`]s (see
/// [`Column::Corr`]).
const CORR_WORDS: usize = 1 + 5 * Sum::WORDS;

/// The largest `k` of a `top_k` or `bottom_k` kept in slots beside each other (larger ones keep
/// the general state's list).
const TOP_SLOTS: usize = 16;

/// A cache line of a row store.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// The states of a partition's groups.
pub struct States {
    funcs: Vec<AggFn>,
    cols: Vec<Column>,
    /// The fixed-size states (counts and sums) of group `i` in words `i * stride..(i + 1) *
    /// stride`, rows back to back from a cache line's start: a row's updates touch its one or two
    /// cache lines (more only for rows wider than a line), rather than a line per array.
    lines: Vec<Line>,
    stride: usize,
    /// The sums that outgrew their 128-bit window (rare: values many orders of magnitude apart);
    /// such a sum's row holds its index here.
    bigs: Vec<FloatSum>,
    len: usize,
    /// The values `Values` columns hold, every group's (their memory, see [`States::bytes`]).
    values: usize,
    /// Every min and max state, group `i`'s in `i * per_group..(i + 1) * per_group`: a row's
    /// min and max of q7 (`max(v1) - min(v2)`) read one cache line, where a column each read two.
    extremes: Vec<Extreme>,
    extremes_per_group: usize,
}

impl States {
    pub fn new(aggs: &[AggSpec]) -> States {
        let mut n_extremes = 0;
        let mut width = 0;
        let mut words = |n: usize| {
            width += n;
            width - n
        };
        let cols = aggs
            .iter()
            .map(|a| match a.func {
                AggFn::Rows => Column::Count { rows: true, at: words(1) },
                AggFn::Count => Column::Count { rows: false, at: words(1) },
                AggFn::Sum | AggFn::Mean | AggFn::Std | AggFn::Var => {
                    let squares = matches!(a.func, AggFn::Std | AggFn::Var);
                    let mut sum = SumAt { at: 0, counted: a.func != AggFn::Sum, squares };
                    sum.at = words(sum.words());
                    Column::Sum(sum)
                }
                AggFn::Corr => Column::Corr { at: words(CORR_WORDS) },
                AggFn::Median | AggFn::Quantile(_) => Column::Values(Vec::new()),
                AggFn::TopK(k) | AggFn::BottomK(k) if k as usize <= TOP_SLOTS => {
                    Column::Top { largest: matches!(a.func, AggFn::TopK(_)), k: k as usize, slots: Vec::new() }
                }
                AggFn::Min | AggFn::Max => {
                    n_extremes += 1;
                    Column::Extremes { max: a.func == AggFn::Max, at: n_extremes - 1 }
                }
                _ => Column::Other(Vec::new()),
            })
            .collect();
        States {
            funcs: aggs.iter().map(|a| a.func).collect(),
            cols,
            lines: Vec::new(),
            // Rows back to back, but a row of 7 words padded to a line, so that none straddles
            // two: `sum(v1),mean(v3)` over 1e5 groups took 0.85 s in rows of 7 words, 0.77 s in
            // rows of 8. (Padding rows of 3 words to 4 gained nothing: `sum(v3)` over 1e7 groups
            // 2.33 against 2.27 s unpadded, 80 MB more; rows of 5 to 8 measured slower with 1e7
            // groups: more memory to stream.)
            stride: if width == 7 { width + 1 } else { width },
            bigs: Vec::new(),
            len: 0,
            values: 0,
            extremes: Vec::new(),
            extremes_per_group: n_extremes,
        }
    }

    /// Every group's row of fixed-size states.
    #[inline]
    fn words(&self) -> &[u64] {
        line_words(&self.lines)
    }

    /// Group `i`'s row.
    #[inline]
    fn row(&self, i: usize) -> &[u64] {
        &self.words()[i * self.stride..(i + 1) * self.stride]
    }

    /// Makes room for `additional` more groups with no growing on the way.
    pub fn reserve(&mut self, additional: usize) {
        for col in &mut self.cols {
            match col {
                Column::Count { .. } | Column::Sum { .. } | Column::Corr { .. } => {}
                Column::Extremes { .. } => {}
                Column::Top { k, slots, .. } => grow::reserve(slots, additional * *k),
                Column::Values(v) => grow::reserve(v, additional),
                Column::Other(v) => grow::reserve(v, additional),
            }
        }
        let lines = ((self.len + additional) * self.stride).div_ceil(8);
        let more = lines.saturating_sub(self.lines.len());
        grow::reserve(&mut self.lines, more);
        grow::reserve(&mut self.extremes, additional * self.extremes_per_group);
    }

    /// Adds a group with empty states; returns its id.
    pub fn add_group(&mut self) -> u32 {
        for (col, &func) in self.cols.iter_mut().zip(&self.funcs) {
            match col {
                Column::Count { .. } | Column::Sum { .. } | Column::Corr { .. } => {}
                Column::Extremes { .. } => {}
                Column::Top { k, slots, .. } => slots.resize(slots.len() + *k, None),
                Column::Values(v) => v.push(Vec::new()),
                Column::Other(v) => v.push(State::new(func)),
            }
        }
        self.extremes.resize_with(self.extremes.len() + self.extremes_per_group, Extreme::default);
        self.len += 1;
        let lines = (self.len * self.stride).div_ceil(8);
        if lines > self.lines.len() {
            self.lines.resize(lines, Line::default());
        }
        (self.len - 1) as u32
    }

    /// About the bytes these states hold: what their vectors have allocated, and an allowance per
    /// group for what their states allocate themselves (texts of min and max, the general states).
    pub fn bytes(&self) -> usize {
        /// A guess at a text's or a general state's own allocation.
        const HEAP: usize = 32;
        let cols: usize = self
            .cols
            .iter()
            .map(|col| match col {
                Column::Count { .. } | Column::Sum { .. } | Column::Corr { .. } => 0,
                Column::Extremes { .. } => 0,
                Column::Top { slots, .. } => slots.capacity() * size_of::<Option<Num>>(),
                Column::Values(v) => v.capacity() * size_of::<Vec<f64>>(),
                Column::Other(v) => v.capacity() * (size_of::<State>() + HEAP),
            })
            .sum();
        cols + self.lines.capacity() * size_of::<Line>()
            + self.extremes.capacity() * (size_of::<Extreme>() + HEAP)
            + self.bigs.capacity() * (size_of::<FloatSum>() + 8 * HEAP)
            + self.values * size_of::<f64>()
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
            &mut Column::Count { rows, at } => {
                if rows || field.is_some() {
                    self.add_to_count(at, id);
                }
            }
            &mut Column::Sum(at) => {
                if let Some((_, Some(v))) = field {
                    self.add_to_sum(at, id, v);
                }
            }
            &mut Column::Extremes { max, at } => {
                if let Some((t, v)) = field {
                    self.extremes[i * self.extremes_per_group + at].update(max, v, Some(t));
                }
            }
            &mut Column::Top { largest, k, ref mut slots } => {
                if let Some((_, Some(v))) = field {
                    top_insert_slots(&mut slots[i * k..(i + 1) * k], largest, v);
                }
            }
            Column::Values(_) => {
                if let Some((_, Some(x))) = field {
                    self.add_value(agg, id, x);
                }
            }
            // Fed pairs by `push_pair`.
            Column::Corr { .. } => {}
            Column::Other(v) => v[i].push(field, pos),
        }
    }

    /// How aggregation `agg` is fed if it needs no text or row position: its rows' numbers (a
    /// sum, a median's values) or their fields' nulls (a count). See [`Feed`].
    pub fn feed(&self, agg: usize) -> Option<Feed> {
        match self.cols[agg] {
            Column::Sum(at) => Some(Feed::Sum(at)),
            Column::Values(_) => Some(Feed::Values),
            Column::Count { rows, at } => Some(Feed::Count { rows, at }),
            _ => None,
        }
    }

    /// Counts a row (or a non-null field) in group `id`'s count at `at` (from [`Feed::Count`]).
    #[inline]
    pub fn add_to_count(&mut self, at: usize, id: u32) {
        line_words_mut(&mut self.lines)[id as usize * self.stride + at] += 1;
    }

    /// Adds a number to group `id`'s values of aggregation `agg` (a [`Feed::Values`]).
    #[inline]
    pub fn add_value(&mut self, agg: usize, id: u32, v: Num) {
        if let Column::Values(values) = &mut self.cols[agg] {
            values[id as usize].push(v.as_f64());
            self.values += 1;
        }
    }

    /// Adds a number to group `id`'s sum at `at` (from [`Feed::Sum`]).
    #[inline]
    pub fn add_to_sum(&mut self, at: SumAt, id: u32, v: Num) {
        let row = &mut line_words_mut(&mut self.lines)[id as usize * self.stride..];
        if at.counted {
            row[at.at] += 1;
        }
        let words = &mut row[at.sum()..];
        Sum(&mut words[..Sum::WORDS]).add(v, &mut self.bigs);
        if at.squares {
            Sum(&mut words[Sum::WORDS..2 * Sum::WORDS]).add_square(v, &mut self.bigs);
        }
    }

    /// Asks the CPU to bring group `id`'s states into the cache: issued for a batch of rows before
    /// their updates, the misses of many rows overlap.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let i = id as usize;
        if self.stride > 0 {
            let words = self.words();
            let (first, last) = (i * self.stride, (i + 1) * self.stride - 1);
            prefetch(words, first);
            if last / 8 != first / 8 {
                // A row across two lines (rows are back to back: one of five words does every
                // other time), or wider than one: its last line too.
                prefetch(words, last);
            }
        }
        if self.extremes_per_group > 0 {
            let first = i * self.extremes_per_group;
            prefetch(&self.extremes, first);
            prefetch(&self.extremes, first + self.extremes_per_group - 1);
        }
        for col in &self.cols {
            match col {
                Column::Count { .. } | Column::Sum { .. } | Column::Corr { .. } | Column::Extremes { .. } => {}
                Column::Top { k, slots, .. } => prefetch(slots, i * k),
                Column::Values(v) => prefetch(v, i),
                Column::Other(v) => prefetch(v, i),
            }
        }
    }

    /// Adds one row's pair of numbers to aggregation `agg` (`corr`) of group `id`.
    #[inline]
    pub fn push_pair(&mut self, agg: usize, id: u32, x: Option<Num>, y: Option<Num>) {
        match &mut self.cols[agg] {
            &mut Column::Corr { at } => {
                let (Some(x), Some(y)) = (x, y) else { return };
                let start = id as usize * self.stride + at;
                let words = &mut line_words_mut(&mut self.lines)[start..start + CORR_WORDS];
                words[0] += 1;
                let mut sums = words[1..].chunks_exact_mut(Sum::WORDS);
                let mut next = || Sum(sums.next().expect("five sums"));
                let bigs = &mut self.bigs;
                match (x, y) {
                    // Integers the general state sums as integers, added as integers: their sums
                    // and products are exact without a double's mantissa taken apart.
                    (Num::Int(a), Num::Int(b)) if a.unsigned_abs() < SMALL_INT && b.unsigned_abs() < SMALL_INT => {
                        next().add(x, bigs);
                        next().add(y, bigs);
                        for (p, q) in [(a, a), (b, b), (a, b)] {
                            next().add_int_product(p, q, bigs);
                        }
                    }
                    // As doubles, as the general state adds them (an integer past 2^53 as its
                    // nearest double).
                    _ => {
                        let (x, y) = (x.as_f64(), y.as_f64());
                        next().add(Num::Float(x), bigs);
                        next().add(Num::Float(y), bigs);
                        for (p, q) in [(x, x), (y, y), (x, y)] {
                            next().add_product(p, q, bigs);
                        }
                    }
                }
            }
            Column::Other(v) => v[id as usize].push_pair(x, y),
            _ => {}
        }
    }

    /// Merges group `oid` of `other` (the states of the same aggregations) into group `id`, leaving
    /// `other`'s states empty.
    pub fn merge_from(&mut self, id: u32, other: &mut States, oid: u32) {
        let (i, o) = (id as usize, oid as usize);
        let (mine, theirs) = (i * self.stride, o * other.stride);
        for ((col, their_col), &func) in self.cols.iter_mut().zip(&mut other.cols).zip(&self.funcs) {
            match (col, their_col) {
                (&mut Column::Count { at, .. }, Column::Count { .. }) => {
                    line_words_mut(&mut self.lines)[mine + at] += line_words(&other.lines)[theirs + at];
                }
                (&mut Column::Sum(at), Column::Sum(_)) => {
                    let count = at.counted.then_some(at.at);
                    let sums = 1 + usize::from(at.squares);
                    merge_sums(
                        (&mut line_words_mut(&mut self.lines)[mine..], &mut self.bigs),
                        (&line_words(&other.lines)[theirs..], &other.bigs),
                        count,
                        at.sum(),
                        sums,
                    );
                }
                (&mut Column::Corr { at }, Column::Corr { .. }) => {
                    merge_sums(
                        (&mut line_words_mut(&mut self.lines)[mine..], &mut self.bigs),
                        (&line_words(&other.lines)[theirs..], &other.bigs),
                        Some(at),
                        at + 1,
                        5,
                    );
                }
                (&mut Column::Extremes { max, at }, Column::Extremes { .. }) => {
                    let theirs = &other.extremes[o * other.extremes_per_group + at];
                    let mut buf = [0; 8];
                    self.extremes[i * self.extremes_per_group + at].update(max, theirs.num(), theirs.text(&mut buf));
                }
                (&mut Column::Top { largest, k, ref mut slots }, Column::Top { slots: theirs, .. }) => {
                    for &v in theirs[o * k..(o + 1) * k].iter().flatten() {
                        top_insert_slots(&mut slots[i * k..(i + 1) * k], largest, v);
                    }
                }
                (Column::Values(v), Column::Values(w)) => {
                    let theirs = std::mem::take(&mut w[o]);
                    self.values += theirs.len();
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
        let stride = self.stride;
        match (&mut self.cols[agg], state) {
            (&mut Column::Count { at, .. }, State::Rows(m) | State::Count(m)) => {
                line_words_mut(&mut self.lines)[i * stride + at] += m;
            }
            (&mut Column::Sum(at), State::Moments(m)) => {
                let row = &mut line_words_mut(&mut self.lines)[i * stride..];
                if at.counted {
                    row[at.at] += m.n;
                }
                let words = &mut row[at.sum()..];
                if let Some(total) = m.squares_total().filter(|_| at.squares) {
                    Sum(&mut words[Sum::WORDS..2 * Sum::WORDS]).merge(&FloatSum::from_exact(total), &mut self.bigs);
                }
                let mut sum = m.sum;
                sum.add_int(m.int_sum);
                Sum(&mut words[..Sum::WORDS]).merge(&sum, &mut self.bigs);
            }
            (&mut Column::Corr { at }, State::Corr(m)) => {
                let words = &mut line_words_mut(&mut self.lines)[i * stride + at..][..CORR_WORDS];
                words[0] += m.n;
                for (w, sum) in words[1..].chunks_exact_mut(Sum::WORDS).zip(m.sums()) {
                    Sum(w).merge(&FloatSum::from_exact(sum), &mut self.bigs);
                }
            }
            (&mut Column::Extremes { max, at }, State::Extreme { num, text, .. }) => {
                self.extremes[i * self.extremes_per_group + at].update(max, num, text.as_deref());
            }
            (&mut Column::Top { largest, k, ref mut slots }, State::Top { vals, .. }) => {
                for v in vals {
                    top_insert_slots(&mut slots[i * k..(i + 1) * k], largest, v);
                }
            }
            (Column::Values(v), State::Median(vals)) => {
                self.values += vals.len();
                v[i].extend(vals.iter().map(|x| x.as_f64()));
            }
            (Column::Other(v), s) => v[i].merge(s),
            (_, s) => panic!("a partial state {s:?} of another aggregation"),
        }
    }

    /// Group `id`'s state of aggregation `agg`: borrowed where it is kept as a [`State`], made
    /// from the group's row or slots otherwise.
    pub fn state_ref(&self, agg: usize, id: u32) -> std::borrow::Cow<'_, State> {
        match &self.cols[agg] {
            Column::Other(v) => std::borrow::Cow::Borrowed(&v[id as usize]),
            _ => std::borrow::Cow::Owned(self.state(agg, id)),
        }
    }

    /// The state of aggregation `agg` of group `id`, as partial files carry it and the result is
    /// read from it.
    pub fn state(&self, agg: usize, id: u32) -> State {
        let i = id as usize;
        let row = self.row(i);
        match &self.cols[agg] {
            &Column::Count { rows, at } => {
                let n = row[at];
                if rows { State::Rows(n) } else { State::Count(n) }
            }
            Column::Sum(at) => State::Moments(self.moments_in(row, *at)),
            &Column::Corr { at } => {
                let (n, words) = (row[at], &row[at + 1..at + CORR_WORDS]);
                // Sums of integer pairs read as integers (correlated without exact sums built).
                let mut ints = [0i128; 5];
                let all_int = (0..5).all(|k| {
                    let w = &words[k * Sum::WORDS..][..Sum::WORDS];
                    let (acc, exp) = window_of(w);
                    let int = (big_index(w) == 0).then(|| window_int(acc, exp, k >= 2)).flatten();
                    int.map(|v| ints[k] = v).is_some()
                });
                if all_int {
                    return State::Corr(Box::new(CoMoments::from_ints(n, ints)));
                }
                let sums: [ExactSum; 5] =
                    std::array::from_fn(|k| Sum::of(&words[k * Sum::WORDS..][..Sum::WORDS], &self.bigs).to_exact());
                State::Corr(Box::new(CoMoments::from_sums(n, sums)))
            }
            &Column::Extremes { max, at } => {
                let e = &self.extremes[i * self.extremes_per_group + at];
                State::Extreme { num: e.num(), text: e.text_owned(), max }
            }
            &Column::Top { largest, k, ref slots } => {
                State::Top { largest, k: k as u32, vals: slots[i * k..(i + 1) * k].iter().flatten().copied().collect() }
            }
            // Kept as floats: a median or quantile is computed from the values' floats (see
            // `finish::agg_value`), so an integer's float is all it needs, in half the memory.
            Column::Values(v) => State::Median(v[i].iter().map(|&x| Num::Float(x)).collect()),
            Column::Other(v) => v[i].clone(),
        }
    }
}

impl States {
    /// The moments of the sum or mean at `at` of a group's `row`; with their squares for a
    /// `std` or `var`. A sum's count is not kept: 0.
    #[inline]
    fn moments_in(&self, row: &[u64], at: SumAt) -> Moments {
        let n = if at.counted { row[at.at] } else { 0 };
        let words = &row[at.sum()..];
        let sum = Sum::of(&words[..Sum::WORDS], &self.bigs);
        // A sum of integers (a window at 2^0 or above) is the integer sum a sum of an integer
        // column is read from.
        let (int_sum, sum) = match sum {
            FloatSum::Small { acc, exp } if exp >= 0 && acc.unsigned_abs().leading_zeros() > exp as u32 => {
                (acc << exp, FloatSum::default())
            }
            sum => (0, sum),
        };
        let moments = Moments::of_sum(n, int_sum, sum);
        match at.squares {
            true => moments.with_squares(Sum::of(&words[Sum::WORDS..2 * Sum::WORDS], &self.bigs).to_exact()),
            false => moments,
        }
    }

    /// Aggregation `agg` of group `id` when it is a count or a sum or mean: the count, or the
    /// moments, as [`States::state`] reads them but with no general state made. `None` for the
    /// other aggregations.
    #[inline]
    pub fn scalar(&self, agg: usize, id: u32) -> Option<Scalar> {
        let row = self.row(id as usize);
        match self.cols[agg] {
            Column::Count { at, .. } => Some(Scalar::Count(row[at])),
            Column::Sum(at) => Some(Scalar::Moments(self.moments_in(row, at))),
            _ => None,
        }
    }
}

/// How an aggregation's states are fed the rows of a batch without the general
/// [`States::push`] (see [`States::feed`]), its kind decided once for the batch.
#[derive(Clone, Copy)]
pub enum Feed {
    /// [`States::add_to_sum`] with each non-null number, at the row's words given.
    Sum(SumAt),
    /// [`States::add_value`] with each non-null number.
    Values,
    /// [`States::add_to_count`] for each row (`rows`) or each non-null field.
    Count { rows: bool, at: usize },
}

/// A count, or the moments of a sum or mean: see [`States::scalar`].
pub enum Scalar {
    Count(u64),
    Moments(Moments),
}

/// A text's first 16 bytes as one integer, big-endian and zero-padded: texts whose heads differ
/// are ordered as their heads are (the rest, and a shorter text's padding against a 0 byte, only
/// matter when the heads are equal). The output's text dictionaries sort by it too.
///
/// Built in registers from a few overlapping loads: a copy into an array read back as integers
/// stalled each call on the copy's stores (40% of coding a text column's groups).
#[inline]
pub(super) fn head16(text: &[u8]) -> u128 {
    let n = text.len();
    let be = |at: usize| u64::from_be_bytes(text[at..at + 8].try_into().expect("8 bytes"));
    let (hi, lo) = match n {
        16.. => (be(0), be(8)),
        // Bytes 8.. as the top of the low half: the last 8 bytes, those before 8 shifted out.
        9..=15 => (be(0), be(n - 8) << (8 * (16 - n))),
        8 => (be(0), 0),
        4..=7 => {
            let be4 = |at: usize| u64::from(u32::from_be_bytes(text[at..at + 4].try_into().expect("4 bytes")));
            (be4(0) << 32 | be4(n - 4) << (64 - 8 * n), 0)
        }
        1..=3 => {
            let at = |i: usize| u64::from(text[i]) << (56 - 8 * i);
            (at(0) | at(n / 2) | at(n - 1), 0)
        }
        0 => (0, 0),
    };
    u128::from(hi) << 64 | u128::from(lo)
}

/// A text's first 8 bytes ([`head16`]'s top half): what a min/max state keeps beside its text.
#[inline]
fn head(t: &[u8]) -> u64 {
    (head16(t) >> 64) as u64
}

/// The words of a row store's lines.
#[inline]
fn line_words(lines: &[Line]) -> &[u64] {
    // SAFETY: a `Line` is eight `u64`s (`repr(C)`, no padding), so the lines are a slice of eight
    // times as many words.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u64>(), lines.len() * 8) }
}

#[inline]
fn line_words_mut(lines: &mut [Line]) -> &mut [u64] {
    // SAFETY: as in `line_words`; the borrow of `lines` is exclusive.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u64>(), lines.len() * 8) }
}

/// An exact sum in three words of a group's row, as [`FloatSum::Small`]'s fixed-point window
/// `acc * 2^exp` (integers are added at 2^0 and floats at their own exponent, exactly either
/// way). A sum that outgrows the window moves to the partition's list of big sums, and its row
/// keeps the index there. Its values' count, where an answer needs it, is kept beside it (see
/// [`SumAt`]).
///
/// Words: `[exp (low 32 bits) | big sum index + 1 (high 32 bits, 0 for none), acc low, acc
/// high]`.
struct Sum<'a>(&'a mut [u64]);

impl Sum<'_> {
    const WORDS: usize = 3;

    /// The exact sum of the row's words `w`.
    fn of(w: &[u64], bigs: &[FloatSum]) -> FloatSum {
        match big_index(w) {
            0 => {
                let (acc, exp) = window_of(w);
                FloatSum::Small { acc, exp }
            }
            b => bigs[b - 1].clone(),
        }
    }

    /// Adds `m * 2^e` to the window, if the sum is still in its window and the result fits it.
    #[inline]
    fn add_to_window(&mut self, m: i128, e: i32) -> bool {
        if big_index(self.0) != 0 {
            return false;
        }
        let (mut acc, mut exp) = window_of(self.0);
        if !window_add(&mut acc, &mut exp, m, e) {
            return false;
        }
        self.0[0] = u64::from(exp as u32);
        self.0[1] = acc as u64;
        self.0[2] = ((acc as u128) >> 64) as u64;
        true
    }

    /// The big sum this one is, made (with the window's value) if it is not one yet.
    #[cold]
    fn big<'b>(&mut self, bigs: &'b mut Vec<FloatSum>) -> &'b mut FloatSum {
        if big_index(self.0) == 0 {
            let (acc, exp) = window_of(self.0);
            bigs.push(FloatSum::Small { acc, exp });
            let index = u32::try_from(bigs.len()).expect("fewer than 2^32 big sums");
            self.0[0] = u64::from(index) << 32;
            self.0[1] = 0;
            self.0[2] = 0;
        }
        &mut bigs[big_index(self.0) - 1]
    }

    /// Adds a value exactly.
    #[inline]
    fn add(&mut self, v: Num, bigs: &mut Vec<FloatSum>) {
        let parts = match v {
            Num::Int(i) => Some((i128::from(i), 0)),
            Num::Float(x) => window_parts(x),
        };
        if parts.is_some_and(|(m, e)| self.add_to_window(m, e)) {
            return;
        }
        match v {
            Num::Int(i) => self.big(bigs).add_int(i128::from(i)),
            Num::Float(x) => self.big(bigs).add(x),
        }
    }

    /// Adds `v * v` exactly, to a sum kept at the squares' positions (see
    /// [`Sum::add_product`]).
    /// With a group's squares beside its values' sum in its row, a `std` over a million groups
    /// allocates nothing per group (a general state each, with a boxed exact sum of squares, took
    /// twice polars' time).
    #[inline]
    fn add_square(&mut self, v: Num, bigs: &mut Vec<FloatSum>) {
        let x = v.as_f64();
        self.add_product(x, x, bigs);
    }

    /// Adds `x * y` exactly, to a sum kept at the squares' positions (see
    /// [`crate::agg::exact::product_parts`]).
    #[inline]
    fn add_product(&mut self, x: f64, y: f64, bigs: &mut Vec<FloatSum>) {
        if product_parts(x, y).is_some_and(|(m, e)| self.add_to_window(m, e)) {
            return;
        }
        self.big(bigs).add_product_scaled(x, y);
    }

    /// Adds the product of two integers under 2^31 in magnitude exactly, as
    /// [`Sum::add_product`] adds doubles'.
    #[inline]
    fn add_int_product(&mut self, a: i64, b: i64, bigs: &mut Vec<FloatSum>) {
        let (m, e) = int_product_parts(a, b);
        if !self.add_to_window(m, e) {
            // Exact as doubles too: each integer is, and a product's rounding error is kept.
            self.big(bigs).add_product_scaled(a as f64, b as f64);
        }
    }

    /// Adds another part's sum.
    fn merge(&mut self, sum: &FloatSum, bigs: &mut Vec<FloatSum>) {
        if let FloatSum::Small { acc, exp } = *sum
            && self.add_to_window(acc, exp)
        {
            return;
        }
        self.big(bigs).merge(sum);
    }
}

/// Adds the `sums` [`Sum`]s from word `at` of another store's row (its words from the row's
/// first, and its big sums) to this store's row, and the count in word `count` if there is one.
fn merge_sums(
    (words, bigs): (&mut [u64], &mut Vec<FloatSum>),
    (their_words, their_bigs): (&[u64], &[FloatSum]),
    count: Option<usize>,
    at: usize,
    sums: usize,
) {
    if let Some(c) = count {
        words[c] += their_words[c];
    }
    for k in 0..sums {
        let w = at + k * Sum::WORDS;
        let sum = Sum::of(&their_words[w..][..Sum::WORDS], their_bigs);
        Sum(&mut words[w..][..Sum::WORDS]).merge(&sum, bigs);
    }
}

/// A sum's index + 1 among the big sums (0 while it is in its window), from its words.
#[inline]
fn big_index(w: &[u64]) -> usize {
    (w[0] >> 32) as usize
}

/// A sum's window `(acc, exp)`, from its words.
#[inline]
fn window_of(w: &[u64]) -> (i128, i32) {
    ((u128::from(w[2]) << 64 | u128::from(w[1])) as i128, w[0] as u32 as i32)
}

#[cfg(test)]
mod head_tests {
    use super::head16;

    #[test]
    fn a_head_is_the_first_16_bytes_zero_padded() {
        let bytes: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(97).wrapping_add(13) | 1).collect();
        for n in 0..=bytes.len() {
            let text = &bytes[..n];
            let mut b = [0u8; 16];
            b[..n.min(16)].copy_from_slice(&text[..n.min(16)]);
            assert_eq!(head16(text), u128::from_be_bytes(b), "length {n}");
        }
        assert!(head16(b"ab") < head16(b"ab\x01") && head16(b"id099") < head16(b"id100"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::groupby::{extreme_update, parse_aggs};
    use proptest::prelude::*;

    fn num() -> impl Strategy<Value = Num> {
        prop_oneof![
            (-1000i64..1000).prop_map(Num::Int),
            any::<i64>().prop_map(Num::Int),
            (-1e6f64..1e6).prop_map(Num::Float),
            // Magnitudes far apart: a sum outgrows its 128-bit window and becomes a big one.
            prop_oneof![Just(1e300), Just(-1e300), Just(1e-300), Just(5e-324), Just(-0.0), Just(0.1)]
                .prop_map(Num::Float),
            prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN)].prop_map(Num::Float),
        ]
    }

    /// The reference: the general state of the aggregation, fed every value (`corr`: every pair
    /// of a value and its partner in `ys`).
    fn reference(func: AggFn, values: &[Option<Num>], ys: &[Option<Num>]) -> State {
        let mut s = State::new(func);
        for (v, &y) in values.iter().zip(ys) {
            match func {
                AggFn::Corr => s.push_pair(*v, y),
                _ => s.push(v.map(|n| ("", Some(n))), RowPos::new(0, 0, 0)),
            }
        }
        s
    }

    /// Each value's partner for `corr`: the values in another order (so that pairs of equal,
    /// null, huge and tiny values all occur).
    fn partners(values: &[Option<Num>]) -> Vec<Option<Num>> {
        let n = values.len();
        (0..n).map(|i| values[(i * 7 + 3) % n]).collect()
    }

    /// Whether two states of `func` give the same answers. `all_int`: the column's values are
    /// all integers, whose sum is then read from `int_sum` (else from `float_sum`, however the
    /// state splits it: a store that held a sum beyond its window keeps the integers there too).
    /// A `sum`'s row keeps no count (its answer needs none): its count is not compared.
    fn same(func: AggFn, a: &State, b: &State, all_int: bool) -> bool {
        // The same double (any NaN is printed as NaN).
        let eq = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        match (a, b) {
            (State::Corr(x), State::Corr(y)) => {
                x.n == y.n
                    && x.correlation().is_some() == y.correlation().is_some()
                    && x.correlation().zip(y.correlation()).is_none_or(|(p, q)| eq(p, q))
            }
            (State::Moments(x), State::Moments(y)) => {
                (func == AggFn::Sum
                    || x.n == y.n
                        && x.mean().zip(y.mean()).is_none_or(|(p, q)| eq(p, q))
                        && x.mean().is_some() == y.mean().is_some()
                        && x.var().zip(y.var()).is_none_or(|(p, q)| eq(p, q))
                        && x.var().is_some() == y.var().is_some())
                    && eq(x.float_sum(), y.float_sum())
                    && (!all_int
                        || (x.sum.is_zero() == y.sum.is_zero() && (!x.sum.is_zero() || x.int_sum == y.int_sum)))
            }
            _ => format!("{a:?}") == format!("{b:?}"),
        }
    }

    proptest! {
        /// Counts, sums, means, standard deviations and variances (their squares in the row),
        /// correlations (five sums in the row), top
        /// and bottom lists in slots and extremes (three, side by side in a group's place), fed in two groups of two stores and merged (directly, and through
        /// the partial-file state), are the general states' answers.
        #[test]
        fn row_store_sums_are_the_general_states(
            values in proptest::collection::vec(proptest::option::of(num()), 0..60),
            split in 0usize..60,
            ints_only in any::<bool>(),
        ) {
            let values: Vec<Option<Num>> = if ints_only {
                values.into_iter().map(|v| v.filter(|n| matches!(n, Num::Int(_)))).collect()
            } else {
                values
            };
            let split = split.min(values.len());
            let aggs = parse_aggs("count,min(x),sum(x),std(x),count(x),corr(x,y),mean(x),sum(y),top_k(x,2),var(x),bottom_k(x,3),top_k(x,17),max(x),min(x)").unwrap();
            let ys = partners(&values);
            let feed = |states: &mut States, id: u32, values: &[Option<Num>], ys: &[Option<Num>]| {
                for (v, &y) in values.iter().zip(ys) {
                    for (agg, spec) in aggs.iter().enumerate() {
                        match spec.func {
                            AggFn::Corr => states.push_pair(agg, id, *v, y),
                            _ => states.push(agg, id, v.map(|n| ("", Some(n))), RowPos::new(0, 0, 0)),
                        }
                    }
                }
            };
            let (mut a, mut b) = (States::new(&aggs), States::new(&aggs));
            // Group 1 of each store holds the values; group 0 is a neighbour left empty.
            for s in [&mut a, &mut b] {
                s.add_group();
                s.add_group();
            }
            feed(&mut a, 1, &values[..split], &ys[..split]);
            feed(&mut b, 1, &values[split..], &ys[split..]);
            let mut via_state = States::new(&aggs);
            via_state.add_group();
            for agg in 0..aggs.len() {
                via_state.merge_state(agg, 0, b.state(agg, 1));
                via_state.merge_state(agg, 0, a.state(agg, 1));
            }
            a.merge_from(1, &mut b, 1);
            let all_int = values.iter().flatten().all(|n| matches!(n, Num::Int(_)));
            for (agg, spec) in aggs.iter().enumerate() {
                let want = reference(spec.func, &values, &ys);
                prop_assert!(same(spec.func, &a.state(agg, 1), &want, all_int), "{spec}: {:?} != {want:?}", a.state(agg, 1));
                prop_assert!(same(spec.func, &via_state.state(agg, 0), &want, all_int), "{spec} via partial state");
                let empty = reference(spec.func, &[], &[]);
                prop_assert!(same(spec.func, &a.state(agg, 0), &empty, true), "{spec}: the empty neighbour");
            }
        }
    }

    proptest! {
        /// min and max of texts by heads first give the texts `extreme_update` gives: texts
        /// sharing 8-byte prefixes, shorter than 8 bytes (kept in the head), of 8 and 9 bytes,
        /// empty, with 0 bytes, non-ASCII; merged from another state as from a row.
        #[test]
        fn text_extremes_by_heads_are_byte_order(texts in prop::collection::vec("[ab\\x00é]{0,11}", 1..40)) {
            for max in [false, true] {
                let (mut want, mut got) = (None, Extreme::default());
                for t in &texts {
                    extreme_update(max, &mut None, &mut want, None, Some(t));
                    got.text_update(max, t);
                    prop_assert_eq!(&got.text_owned(), &want);
                    prop_assert_eq!(got.head, head(want.as_deref().unwrap().as_bytes()));
                }
                let mut merged = Extreme::default();
                let (first, second) = texts.split_at(texts.len() / 2);
                for part in [first, second] {
                    let mut e = Extreme::default();
                    part.iter().for_each(|t| e.text_update(max, t));
                    merged.update(max, None, e.text(&mut [0; 8]));
                }
                prop_assert_eq!(&merged.text_owned(), &want);
            }
        }
    }
}
