//! One chunk's share of a group-by: its records (split by the input layer's dialect, or by
//! polars' reader for the polars engine, or as JSON lines) aggregated into the worker's
//! [`Store`] or the workers' [`SharedStore`] (encoded keys and states, kept across chunks; see
//! [`Target`]), and what the chunk taught about the columns ([`ChunkInfo`]: types, first text
//! value, lines), which is merged in input order.

use std::sync::Mutex;

use super::GroupByPlan;
use super::keys::{self, KeyRule};
use super::states::{Feed, States};
use super::table::{Keys, Partitioned, hash_key};
use crate::agg::groupby::{Kind, Num, RowPos};
use crate::input::dialect::{self, Fault};
use crate::input::value::{NullValues, declared_mismatch, looks_null, read_field};

/// The columns a query touches, resolved against a header.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub width: usize,
    /// Header indices of the used columns.
    pub used: Vec<usize>,
    pub names: Vec<String>,
    /// Positions in `used` of the key columns, and of each aggregation's column.
    pub keys: Vec<usize>,
    pub agg_cols: Vec<Option<usize>>,
    /// Positions in `used` of each aggregation's second column (`corr`'s).
    pub agg_cols2: Vec<Option<usize>>,
    /// Positions in `used` of the columns some aggregation reads, each once.
    pub agg_used: Vec<usize>,
    /// Declared types of the used columns (`--schema`).
    pub declared: Vec<Option<Kind>>,
    /// How each key column's fields are read.
    pub key_rules: Vec<KeyRule>,
}

impl Layout {
    pub fn resolve(header: &[String], plan: &GroupByPlan) -> Result<Layout, String> {
        let mut used: Vec<usize> = Vec::new();
        let mut position = |col: &str| -> Result<usize, String> {
            let idx = header
                .iter()
                .position(|h| h == col)
                .ok_or_else(|| format!("unknown column \"{col}\" (columns: {})", header.join(", ")))?;
            Ok(used.iter().position(|&u| u == idx).unwrap_or_else(|| {
                used.push(idx);
                used.len() - 1
            }))
        };
        let keys = plan.by.iter().map(|c| position(c)).collect::<Result<Vec<_>, _>>()?;
        let agg_cols: Vec<Option<usize>> =
            plan.aggs.iter().map(|a| a.column.as_deref().map(&mut position).transpose()).collect::<Result<_, _>>()?;
        let agg_cols2: Vec<Option<usize>> =
            plan.aggs.iter().map(|a| a.column2.as_deref().map(&mut position).transpose()).collect::<Result<_, _>>()?;
        let names = used.iter().map(|&i| header[i].clone()).collect();
        let mut agg_used: Vec<usize> = agg_cols.iter().chain(&agg_cols2).flatten().copied().collect();
        agg_used.sort_unstable();
        agg_used.dedup();
        for (col, _) in &plan.schema {
            if !header.contains(col) {
                return Err(format!("--schema: unknown column \"{col}\" (columns: {})", header.join(", ")));
            }
        }
        let declared: Vec<Option<Kind>> =
            used.iter().map(|&i| plan.schema.iter().find(|(c, _)| *c == header[i]).map(|(_, k)| *k)).collect();
        for (spec, cols) in plan.aggs.iter().zip(agg_cols.iter().zip(&agg_cols2)) {
            for c in [*cols.0, *cols.1].into_iter().flatten() {
                if spec.func.is_numeric() && declared[c] == Some(Kind::Str) {
                    return Err(format!("{spec}: column {} is declared str in --schema", header[used[c]]));
                }
            }
        }
        if plan.aggs.iter().filter(|a| a.func.is_multi_row()).count() > 1 {
            return Err("at most one of top_k and bottom_k per query: each gives a row per value".into());
        }
        let key_rules = keys
            .iter()
            .map(|&k| if declared[k] == Some(Kind::Str) { KeyRule::Text } else { KeyRule::Inferred })
            .collect();
        Ok(Layout { width: header.len(), used, names, keys, agg_cols, agg_cols2, agg_used, declared, key_rules })
    }
}

/// A partition of a store: its keys and their groups' states.
pub(super) struct Part {
    pub keys: Keys,
    pub states: States,
    /// The rows added to it (by [`add_rows`]), against which its groups grew.
    pub rows: u64,
    /// The groups [`super::estimate`] expects it to hold, for which room is made by the next
    /// worker to add rows to it ([`Part::make_wanted_room`]); 0 for none.
    pub wanted: usize,
}

impl Part {
    pub fn new(plan: &GroupByPlan) -> Part {
        Part { keys: Keys::default(), states: States::new(&plan.aggs), rows: 0, wanted: 0 }
    }

    /// Makes the room the estimate asked for, if it is not there. Made by whichever worker takes
    /// the partition next rather than by the worker that estimated: sizing a store of millions of
    /// groups faults in hundreds of MB of tables, and made by one worker partition after
    /// partition, each under its lock, it held the other worker back at each partition in turn
    /// (q10 of the db-benchmark: one core idle for a quarter of a second).
    #[inline]
    pub fn make_wanted_room(&mut self) {
        if self.wanted > self.keys.room() {
            self.reserve(self.wanted.saturating_sub(self.keys.len()));
        }
        self.wanted = 0;
    }

    /// The group of `key` (hashed `hash`), added with empty states if new.
    #[inline]
    pub fn group(&mut self, hash: u64, key: &[u8]) -> (u32, bool) {
        let (id, new) = self.keys.find_or_insert(hash, key);
        if new {
            self.states.add_group();
        }
        (id, new)
    }

    /// About the bytes this partition holds.
    pub fn bytes(&self) -> usize {
        self.keys.bytes() + self.states.bytes()
    }

    /// Makes room for `additional` more groups (their keys as long as those here on average)
    /// with no growing on the way.
    pub fn reserve(&mut self, additional: usize) {
        let bytes = self.keys.key_bytes().div_ceil(self.keys.len().max(1)) * additional;
        self.keys.reserve(additional, bytes);
        self.states.reserve(additional);
    }
}

/// Partitions: 2^6. Enough that two workers seldom want the same one at once, few enough that
/// a batch holds several rows of each and the tables of a few groups stay small.
pub(super) const PARTITION_BITS: u32 = 6;

/// A group-by's groups, partitioned by their keys' hashes.
pub(super) type Store = Partitioned<Part>;

pub(super) fn new_store(plan: &GroupByPlan) -> Store {
    Partitioned::new_with(PARTITION_BITS, || Part::new(plan))
}

impl super::table::Absorb for Part {
    fn groups(&self) -> usize {
        self.keys.len()
    }

    fn shared(&self, other: &Part) -> f64 {
        self.keys.shared(&other.keys)
    }

    /// Merges every group of `other` into this partition.
    fn absorb(&mut self, mut other: Part, shared: f64) {
        // Room for the groups of `other` that are not here, in the keys and in the states'
        // vectors: grown by doubling, each would copy itself (into new pages the kernel zeroes
        // first) on the way.
        let additional = self.keys.reserve_unseen(&other.keys, shared);
        self.states.reserve(additional);
        for oid in 0..other.keys.len() as u32 {
            let (id, _) = self.group(other.keys.hash(oid), other.keys.key(oid));
            self.states.merge_from(id, &mut other.states, oid);
        }
        self.rows += other.rows;
    }
}

/// The store every worker aggregates into once the groups are many: a partition is locked while
/// a worker adds a batch's rows of it. Each group is in one table, whichever worker's rows made
/// it: nothing is merged at the end, and the table is half what two workers' copies of it would
/// take.
pub(super) type SharedStore = Partitioned<Mutex<Part>>;

/// The groups of a worker's own store past which the workers may aggregate into the shared one
/// (if the input is headed for [`SHARED_ABOVE`] groups). Below, a worker's table stays in its
/// core's cache, where the shared one would bounce each group's lines between the cores that
/// update them; above, the tables miss the caches anyway, and the shared one is half their size
/// and needs no merge. Counted in groups, not bytes: a median's lists of values make a store big
/// without making its rows any hotter. (Two workers, 1e7 rows, `sum(v1)`: 1e4 groups 0.64 s in
/// their own stores against 0.72 s shared, 3e4 groups alike; `median(v3),std(v3)` over 1e4
/// groups 1.40 against 1.54 s.)
pub(super) const SHARED_FROM: usize = 1 << 15;

/// The groups an input must be expected to end with (see [`super::estimate::groups_after`]) for
/// the workers to share a store: below, each worker's own store of the input's groups was faster
/// (two workers, 1e7 rows, AMD EPYC with 32 MiB of L3, `sum(v1),mean(v3) by id3` / `sum(v1),
/// sum(v2),sum(v3) by id6`: 1e5 groups 0.84 / 1.03 s in own stores against 1.12 / 1.07 s shared,
/// 2e5 groups 1.02 / 1.24 against 1.14 / 1.37 s; 5e5 groups 1.20 / 1.36 against 1.10 / 1.24 s,
/// 1e6 groups 1.51 against 1.32 s). Switching later, once a store holds this many groups, cost
/// the inputs of millions of groups 0.1-0.4 s moving them: the switch is decided early, on the
/// estimate.
pub(super) const SHARED_ABOVE: usize = 300_000;

/// Where a worker's batches go: its own store, or the shared one once [`Target::is_shared`].
pub(super) struct Target<'a> {
    pub plan: &'a GroupByPlan,
    pub own: &'a Mutex<Store>,
    pub shared: &'a SharedStore,
    pub shared_on: &'a std::sync::atomic::AtomicBool,
    /// [`SHARED_FROM`] and [`SHARED_ABOVE`], or the plan's number of groups and 0 instead.
    pub shared_from: usize,
    pub shared_above: usize,
}

impl Target<'_> {
    pub fn is_shared(&self) -> bool {
        self.shared_on.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// After a chunk (at `progress` in an input of known size): once this worker's store holds
    /// [`SHARED_FROM`] groups (or the plan's number), and the input is expected to end with
    /// [`SHARED_ABOVE`] groups, every worker goes to the shared store; a worker that does moves
    /// its own groups there.
    pub fn after_chunk(&self, progress: Option<super::estimate::Progress>) {
        let mut own = self.own.lock().expect("a worker's store");
        if !self.is_shared() {
            let (groups, rows) = own.parts.iter().fold((0, 0), |(g, r), p| (g + p.keys.len(), r + p.rows));
            if groups < self.shared_from.max(1) {
                return;
            }
            let expected = progress
                .and_then(|p| p.input_rows())
                .map(|total| super::estimate::groups_after(groups as f64, rows as f64, total));
            if expected.is_some_and(|g| g < self.shared_above as f64) {
                return;
            }
            self.shared_on.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.shared.absorb_store(std::mem::replace(&mut *own, new_store(self.plan)));
    }
}

pub(super) fn new_shared_store(plan: &GroupByPlan) -> SharedStore {
    Partitioned::new_with(PARTITION_BITS, || Mutex::new(Part::new(plan)))
}

/// A partition of the shared store, locked.
pub(super) fn lock(part: &Mutex<Part>) -> std::sync::MutexGuard<'_, Part> {
    part.lock().expect("a partition of the groups")
}

impl SharedStore {
    /// The partitions, for the finish (or a spill) once no worker adds to them.
    pub fn into_store(self) -> Store {
        let bits = self.bits();
        Partitioned::from_parts(bits, self.parts.into_iter().map(|p| p.into_inner().expect("a partition")).collect())
    }
}

/// What one chunk (or the whole input, after merging in order) taught about the used columns.
pub(super) struct ChunkInfo {
    /// Per used column, the widest kind of its values.
    pub kinds: Vec<Kind>,
    /// The same with text that people write for a missing value (`NA`, `NULL`, ...) read as
    /// null: a column numeric but for such tokens is named in messages with `--null-values`.
    pub kinds_sans_nullish: Vec<Kind>,
    /// Per used column, the first value that is not a number: (line, text).
    pub first_text: Vec<Option<(u64, String)>>,
    pub newlines: u64,
    /// Per used column, whether a key field of it was a number spelled otherwise than pframe
    /// prints an integer (`07`, `+7`, `-0`, `7.0`, `1e3`): such a column, if numeric, may hold
    /// several spellings of one key, which only the sort brings together (see `finish::raw_keys`).
    pub odd_keys: Vec<bool>,
}

impl ChunkInfo {
    pub fn new(layout: &Layout) -> ChunkInfo {
        let n = layout.used.len();
        ChunkInfo {
            kinds: vec![Kind::Null; n],
            kinds_sans_nullish: vec![Kind::Null; n],
            first_text: vec![None; n],
            newlines: 0,
            odd_keys: vec![false; n],
        }
    }

    /// Merges a later part of the input; `line_offset` places its lines in the input.
    pub fn merge(&mut self, later: ChunkInfo, line_offset: u64) {
        for (a, b) in self.kinds.iter_mut().zip(later.kinds) {
            *a = (*a).max(b);
        }
        for (a, b) in self.kinds_sans_nullish.iter_mut().zip(later.kinds_sans_nullish) {
            *a = (*a).max(b);
        }
        for (a, b) in self.first_text.iter_mut().zip(later.first_text) {
            if a.is_none() {
                *a = b.map(|(l, t)| (l + line_offset, t));
            }
        }
        self.newlines += later.newlines;
        for (a, b) in self.odd_keys.iter_mut().zip(later.odd_keys) {
            *a |= b;
        }
    }

    /// Widens column `c`'s type by a field of `kind` (`sans`: its kind with text that reads as
    /// a missing value taken for null).
    #[inline]
    fn widen(&mut self, c: usize, kind: Kind, sans: Kind) {
        self.kinds[c] = self.kinds[c].max(kind);
        self.kinds_sans_nullish[c] = self.kinds_sans_nullish[c].max(sans);
    }

    /// What a shard's state tells of its columns (its groups' keys not looked at: any may be
    /// spelled oddly).
    pub fn of_state(
        kinds: Vec<Kind>,
        kinds_sans_nullish: Vec<Kind>,
        first_text: Vec<Option<(u64, String)>>,
        newlines: u64,
    ) -> ChunkInfo {
        let odd_keys = vec![true; kinds.len()];
        ChunkInfo { kinds, kinds_sans_nullish, first_text, newlines, odd_keys }
    }
}

/// Rows aggregated at a time: sorted by partition, each partition's rows are added under one
/// lock, their keys looked up in one loop and their states updated in another, so that the cache
/// misses of the rows' lookups (and of their updates) overlap instead of each row waiting for its
/// own, which is what a row costs once the groups outgrow the caches.
const BATCH: usize = 1024;

/// Records typed and keyed, waiting to be aggregated.
#[derive(Default)]
struct Batch {
    rows: usize,
    /// Row `r`'s encoded key is `keys[key_ends[r - 1]..key_ends[r]]`.
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    hashes: Vec<u64>,
    /// Row `r`'s number of used column `c` at `r * width + c`.
    nums: Vec<Option<Num>>,
    /// Row `r`'s field of aggregation `a` at `r * aggs + a`: `None` for a null (or `count` of
    /// rows), else its text's range in `texts` (empty when the aggregation needs no text).
    fields: Vec<Option<(u32, u32)>>,
    texts: Vec<u8>,
    pos: Vec<RowPos>,
    lines: Vec<u64>,
    /// Each row's group: id, and whether the row made it.
    groups: Vec<(u32, bool)>,
    /// The rows by partition: partition `p`'s are `order[starts[p]..starts[p + 1]]`.
    order: Vec<u32>,
    starts: Vec<u32>,
    /// Partitions another worker held when this batch came to them.
    busy: Vec<usize>,
}

impl Batch {
    fn key(&self, r: usize) -> &[u8] {
        let start = if r == 0 { 0 } else { self.key_ends[r - 1] };
        &self.keys[start..self.key_ends[r]]
    }

    fn clear(&mut self) {
        self.rows = 0;
        self.keys.clear();
        self.key_ends.clear();
        self.hashes.clear();
        self.nums.clear();
        self.fields.clear();
        self.texts.clear();
        self.pos.clear();
        self.lines.clear();
        self.groups.clear();
    }
}

/// Adds records to a worker's store and the chunk's [`ChunkInfo`]. Every parser hands it the raw
/// bytes of the used columns of each record, so that null markers, type inference, keys and
/// states are computed in one place. Records are typed and keyed as they come and aggregated
/// [`BATCH`] at a time; [`Aggregator::finish`] aggregates the rest.
pub(super) struct Aggregator<'a> {
    plan: &'a GroupByPlan,
    layout: &'a Layout,
    pub info: ChunkInfo,
    /// Where the batches go: the worker's store, or the shared one's partitions, locked for each
    /// batch (never while a parser runs: a parser of polars' may run other tasks of the pool on
    /// this thread, which lock them too).
    target: &'a Target<'a>,
    batch: Batch,
    /// Whether each aggregation reads its field's text (the others need only its number).
    needs_text: Vec<bool>,
    /// The position of the chunk's first record; records count up from it.
    pos: RowPos,
}

impl<'a> Aggregator<'a> {
    pub fn new(plan: &'a GroupByPlan, layout: &'a Layout, target: &'a Target<'a>, pos: RowPos) -> Self {
        let states = States::new(&plan.aggs);
        let needs_text = (0..plan.aggs.len()).map(|a| states.needs_text(a)).collect();
        Aggregator { plan, layout, info: ChunkInfo::new(layout), target, batch: Batch::default(), needs_text, pos }
    }

    /// One record: `fields[i]` is the raw field of used column `i`.
    #[inline]
    pub fn record(&mut self, fields: &[&[u8]], line: u64) -> Result<(), Fault> {
        match self.add(fields, line) {
            Ok(()) => Ok(()),
            // The batch's earlier records come first: a fault among them (a new group's key) is
            // the one to report.
            Err(fault) => {
                self.discard_unfinished_row();
                self.flush()?;
                Err(fault)
            }
        }
    }

    /// Drops what a record that failed half-way left in the batch (its rows are complete up to
    /// `rows`).
    fn discard_unfinished_row(&mut self) {
        let (b, width, n_aggs) = (&mut self.batch, self.layout.used.len(), self.layout.agg_cols.len());
        b.nums.truncate(b.rows * width);
        b.key_ends.truncate(b.rows);
        b.keys.truncate(b.key_ends.last().copied().unwrap_or(0));
        b.fields.truncate(b.rows * n_aggs);
        b.pos.truncate(b.rows);
        b.lines.truncate(b.rows);
    }

    #[inline]
    fn add(&mut self, fields: &[&[u8]], line: u64) -> Result<(), Fault> {
        let pos = self.pos;
        self.pos.row = self.pos.row.saturating_add(1);
        let layout = self.layout;
        let nulls = &self.plan.null_values;
        let b = &mut self.batch;
        // Aggregated columns: each value is typed (this decides the column's type).
        let width = layout.used.len();
        b.nums.resize(b.nums.len() + width, None);
        let base = b.nums.len() - width;
        for &c in &layout.agg_used {
            b.nums[base + c] = match plain_number(&mut self.info, layout, nulls, c, fields[c]) {
                Some(n) => Some(n),
                None => type_field(&mut self.info, layout, nulls, c, fields[c], line)?,
            };
        }
        for &k in &layout.keys {
            keys::encode_field(&mut b.keys, fields[k], nulls);
        }
        b.key_ends.push(b.keys.len());
        for (agg, col) in layout.agg_cols.iter().enumerate() {
            let field = match *col {
                Some(c) if !nulls.is_null(fields[c]) => {
                    let from = b.texts.len() as u32;
                    if self.needs_text[agg] && layout.agg_cols2[agg].is_none() {
                        let raw = fields[c];
                        if !raw.is_ascii() {
                            std::str::from_utf8(raw).map_err(|_| invalid_utf8(layout, c, line))?;
                        }
                        b.texts.extend_from_slice(raw);
                    }
                    Some((from, b.texts.len() as u32))
                }
                _ => None,
            };
            b.fields.push(field);
        }
        b.pos.push(pos);
        b.lines.push(line);
        b.rows += 1;
        if b.rows == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Aggregates the records not yet aggregated and returns what the chunk taught.
    pub fn finish(mut self) -> Result<ChunkInfo, Fault> {
        self.flush()?;
        Ok(self.info)
    }

    /// Aggregates the batch: its rows sorted by partition, each partition's rows added at once
    /// (see [`add_rows`]), to the worker's store or under the shared partition's lock; then the
    /// keys of the groups its rows made are typed.
    fn flush(&mut self) -> Result<(), Fault> {
        let b = &mut self.batch;
        if b.rows == 0 {
            return Ok(());
        }
        let layout = self.layout;
        let store = self.target.shared;
        // The keys hashed here, a batch after they were written: hashed as each was written,
        // the hash's loads of the bytes just stored (a byte and a copy, read back as words)
        // waited on the stores (the most sampled instruction of `sum(v1) by id1`'s reading).
        b.hashes.clear();
        for r in 0..b.rows {
            let hash = hash_key(b.key(r));
            b.hashes.push(hash);
        }
        b.groups.clear();
        b.groups.resize(b.rows, (0, false));
        if self.target.is_shared() {
            // The rows by partition (a counting sort), each partition's added under one lock; a
            // partition another worker holds is left for after the others.
            let n_parts = store.parts.len();
            store.order_by_partition(&b.hashes[..b.rows], &mut b.starts, &mut b.order);
            // A locked partition: its wanted room made, the rows of partition `p` added.
            let add = |b: &mut Batch, p: usize, part: &mut Part| {
                part.make_wanted_room();
                let rows = b.starts[p] as usize..b.starts[p + 1] as usize;
                let cached = part.keys.len() * n_parts <= CACHED_GROUPS;
                add_rows(b, layout, rows, std::slice::from_mut(part), |_| 0, cached);
            };
            b.busy.clear();
            for p in 0..n_parts {
                if b.starts[p] == b.starts[p + 1] {
                    continue;
                }
                match store.parts[p].try_lock() {
                    Ok(mut part) => add(b, p, &mut part),
                    Err(std::sync::TryLockError::WouldBlock) => b.busy.push(p),
                    Err(std::sync::TryLockError::Poisoned(e)) => panic!("a partition of the groups: {e}"),
                }
            }
            for i in 0..b.busy.len() {
                let p = b.busy[i];
                add(b, p, &mut lock(&store.parts[p]));
            }
        } else {
            // The worker's own store: the rows in their order.
            b.order.clear();
            b.order.extend(0..b.rows as u32);
            let mut own = self.target.own.lock().expect("a worker's store");
            let cached = own.parts.iter().map(|p| p.keys.len()).sum::<usize>() <= CACHED_GROUPS;
            add_rows(b, layout, 0..b.rows, &mut own.parts, |hash| store.partition_of(hash), cached);
        }
        // A new group: its key fields are typed once, here, rather than on every row.
        for r in 0..b.rows {
            if !b.groups[r].1 {
                continue;
            }
            let line = b.lines[r];
            // A key all ASCII (tags included) has every field ASCII: one check of its bytes,
            // where a check per field was a loop over a few bytes each.
            let key = b.key(r);
            let ascii = key.is_ascii();
            for (field, &k) in keys::raw_fields(key).zip(&layout.keys) {
                let raw = field.unwrap_or_default();
                if !ascii && !raw.is_ascii() {
                    std::str::from_utf8(raw).map_err(|_| invalid_utf8(layout, k, line))?;
                }
                // With a group per row, typing every key field was a tenth of the run; a field
                // that cannot change what the chunk knows of its column is not typed: any field
                // of a column that holds text other than null markers, and an integer's digits
                // in a column numeric already.
                let (kind, sans) = (self.info.kinds[k], self.info.kinds_sans_nullish[k]);
                let settled = match kind {
                    Kind::Str => sans == Kind::Str,
                    Kind::Int | Kind::Float => {
                        sans >= Kind::Int && is_digits(raw) && !self.plan.null_values.is_null(raw)
                    }
                    Kind::Null => false,
                };
                let number = if settled {
                    kind != Kind::Str
                } else {
                    type_field(&mut self.info, layout, &self.plan.null_values, k, raw, line)?.is_some()
                };
                if number && !keys::printed_int(raw) {
                    self.info.odd_keys[k] = true;
                }
            }
        }
        b.clear();
        Ok(())
    }
}

/// The groups of a store whose slots and rows stay in a core's cache (some 64-128 bytes each
/// against an L2 cache of 512 KiB or more): their rows need no prefetches (a tenth of the
/// lookups' and updates' time over 100 groups). A shared store's size is taken as the partition's
/// groups times the partitions.
const CACHED_GROUPS: usize = 1 << 12;

/// Adds the batch's rows at `order[rows]` to their partitions (`parts[part_of(hash)]`): finds (or
/// makes) each row's group, then updates the states an aggregation at a time; the rows' slots and
/// states are prefetched unless the store's groups are `cached` (see [`CACHED_GROUPS`]).
fn add_rows(
    b: &mut Batch,
    layout: &Layout,
    rows: std::ops::Range<usize>,
    parts: &mut [Part],
    part_of: impl Fn(u64) -> usize,
    cached: bool,
) {
    let rows = &b.order[rows];
    // Each row's slot prefetched AHEAD rows before its lookup: the misses of that many rows
    // overlap, and a slot is still in the cache when its row comes.
    const AHEAD: usize = 16;
    let prefetch_slot = |parts: &[Part], r: u32| {
        let hash = b.hashes[r as usize];
        parts[part_of(hash)].keys.prefetch(hash);
    };
    if !cached {
        rows.iter().take(AHEAD).for_each(|&r| prefetch_slot(parts, r));
    }
    for (i, &r) in rows.iter().enumerate() {
        if let (false, Some(&next)) = (cached, rows.get(i + AHEAD)) {
            prefetch_slot(parts, next);
        }
        let r = r as usize;
        let start = if r == 0 { 0 } else { b.key_ends[r - 1] };
        let part = &mut parts[part_of(b.hashes[r])];
        part.rows += 1;
        b.groups[r] = part.group(b.hashes[r], &b.keys[start..b.key_ends[r]]);
    }
    if !cached {
        for &r in rows {
            let r = r as usize;
            parts[part_of(b.hashes[r])].states.prefetch(b.groups[r].0);
        }
    }
    // The states updated a block of rows at a time, every aggregation over the block: its rows'
    // states (up to two lines each) stay in the L1 cache from the first aggregation to the last.
    // Over the whole batch at once (1,024 rows, 128 KiB of 9-word rows), each aggregation after
    // the first read them from L2 again: `sum(v1),sum(v2),sum(v3) by id6` 0.93 -> 0.88 s.
    const BLOCK: usize = 64;
    for block in rows.chunks(BLOCK) {
        update_states(b, layout, block, parts, &part_of);
    }
}

/// Updates the states of the batch's rows at `rows` (their groups found), an aggregation at a
/// time, the kind of each decided once.
fn update_states(b: &Batch, layout: &Layout, rows: &[u32], parts: &mut [Part], part_of: impl Fn(u64) -> usize) {
    let width = layout.used.len();
    let n_aggs = layout.agg_cols.len();
    for (agg, col) in layout.agg_cols.iter().enumerate() {
        if let Some(c2) = layout.agg_cols2[agg] {
            let c = col.expect("a pair's first column");
            for &r in rows {
                let r = r as usize;
                let states = &mut parts[part_of(b.hashes[r])].states;
                states.push_pair(agg, b.groups[r].0, b.nums[r * width + c], b.nums[r * width + c2]);
            }
            continue;
        }
        // A sum or a median reads only the rows' numbers (a null or a text has none), a count
        // only whether the field is null: no text, the kind of state decided once.
        match (*col, parts[0].states.feed(agg)) {
            (Some(c), Some(Feed::Sum(at))) => {
                for &r in rows {
                    let r = r as usize;
                    if let Some(v) = b.nums[r * width + c] {
                        parts[part_of(b.hashes[r])].states.add_to_sum(at, b.groups[r].0, v);
                    }
                }
                continue;
            }
            (Some(c), Some(Feed::Values)) => {
                for &r in rows {
                    let r = r as usize;
                    if let Some(v) = b.nums[r * width + c] {
                        parts[part_of(b.hashes[r])].states.add_value(agg, b.groups[r].0, v);
                    }
                }
                continue;
            }
            (_, Some(Feed::Count { rows: all, at })) => {
                for &r in rows {
                    let r = r as usize;
                    if all || b.fields[r * n_aggs + agg].is_some() {
                        parts[part_of(b.hashes[r])].states.add_to_count(at, b.groups[r].0);
                    }
                }
                continue;
            }
            _ => {}
        }
        for &r in rows {
            let r = r as usize;
            let field = b.fields[r * n_aggs + agg].map(|(from, to)| {
                let raw = &b.texts[from as usize..to as usize];
                // SAFETY: checked to be UTF-8 when the record was added.
                let text = unsafe { std::str::from_utf8_unchecked(raw) };
                (text, col.and_then(|c| b.nums[r * width + c]))
            });
            parts[part_of(b.hashes[r])].states.push(agg, b.groups[r].0, field, b.pos[r]);
        }
    }
}

/// A plain decimal number of undeclared column `c` (the common field), typed inline as
/// [`type_field`] would type it; `None` for any other field, left to [`type_field`].
#[inline(always)]
fn plain_number(part: &mut ChunkInfo, layout: &Layout, nulls: &NullValues, c: usize, raw: &[u8]) -> Option<Num> {
    if layout.declared[c].is_some() || nulls.is_null(raw) {
        return None;
    }
    let n = crate::input::value::parse_decimal(raw)?;
    let kind = match n {
        Num::Int(_) => Kind::Int,
        Num::Float(_) => Kind::Float,
    };
    part.widen(c, kind, kind);
    Some(n)
}

/// Types one field of used column `c` ([`read_field`]): widens the column's type and remembers
/// its first text value; returns the field's number, if it is one.
#[inline(never)]
fn type_field(
    part: &mut ChunkInfo,
    layout: &Layout,
    nulls: &NullValues,
    c: usize,
    raw: &[u8],
    line: u64,
) -> Result<Option<Num>, Fault> {
    let declared = layout.declared[c];
    let value = read_field(raw, declared, nulls)
        .map_err(|e| Fault { line, message: declared_mismatch(&layout.names[c], raw, e) })?;
    let (kind, sans) = match value {
        None => return Ok(None),
        Some(Some(Num::Int(_))) => (Kind::Int, Kind::Int),
        Some(Some(Num::Float(_))) => (Kind::Float, Kind::Float),
        Some(None) => {
            let text = std::str::from_utf8(raw).map_err(|_| invalid_utf8(layout, c, line))?;
            if part.first_text[c].is_none() {
                part.first_text[c] = Some((line, text.to_string()));
            }
            (Kind::Str, if looks_null(text) { Kind::Null } else { Kind::Str })
        }
    };
    part.widen(c, kind, sans);
    Ok(value.flatten())
}

/// Whether a field is an integer's digits alone, as [`type_field`] reads as an integer.
#[inline]
fn is_digits(raw: &[u8]) -> bool {
    (1..=18).contains(&raw.len()) && raw.iter().all(u8::is_ascii_digit)
}

fn invalid_utf8(layout: &Layout, c: usize, line: u64) -> Fault {
    Fault { line, message: format!("column {}: invalid UTF-8", layout.names[c]) }
}

/// Parses one chunk of records with the input layer's dialect and aggregates it into the
/// worker's store. `line_base` is the number of lines before the chunk's first byte that its
/// messages count (0: the caller places them); `pos` the position of its first record.
pub(super) fn aggregate_chunk(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    target: &Target<'_>,
    line_base: u64,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let mut agg = Aggregator::new(plan, layout, target, pos);
    let (_, newlines) =
        dialect::records_and_newlines(data, plan.delimiter, layout.width, &layout.used, line_base, |fields, line| {
            agg.record(fields, line)
        })?;
    agg.info.newlines = newlines;
    agg.finish()
}

/// Aggregates piece `i` of a table file: its rows, read by polars, reach the aggregator as the
/// text fields a CSV would give (see `for_each_text_row`); its "lines" are its rows.
pub(super) fn aggregate_piece(
    table: &crate::engine::polars::table::TableInput,
    i: usize,
    plan: &GroupByPlan,
    layout: &Layout,
    target: &Target<'_>,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let df = table
        .piece(i, &layout.used)
        .map_err(|e| Fault { line: 1, message: format!("reading it: {}", crate::engine::sql::first_line(&e)) })?;
    let rows = df.height() as u64;
    aggregate_frames(&[df], rows, plan, layout, target, pos)
}

/// Aggregates the rows of frames holding the input's columns (by name), made of a chunk with
/// `newlines` newlines.
pub(super) fn aggregate_frames(
    frames: &[polars::prelude::DataFrame],
    newlines: u64,
    plan: &GroupByPlan,
    layout: &Layout,
    target: &Target<'_>,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let mut agg = Aggregator::new(plan, layout, target, pos);
    agg.info.newlines = newlines;
    let mut row_base = 0;
    for df in frames {
        let df = df.select(layout.names.iter().map(String::as_str))?;
        crate::engine::polars::table::for_each_text_row(&df, |fields, row| agg.record(fields, row_base + row))?;
        row_base += df.height() as u64;
    }
    agg.finish()
}

/// The polars engine's chunk parser: polars' CSV reader parses the chunk and the same
/// [`Aggregator`] turns its records into states, so every engine types, keys and aggregates
/// identically. Polars reads some chunks otherwise than pframe's dialect (a blank line as a row of
/// nulls, a short row padded with nulls, a lone carriage return as data, a stray quote by its own
/// rules): such a chunk, and any polars fails on, goes to the native parser, which gives the
/// dialect's answer or names the line at fault. A chunk is checked before any of its records is
/// aggregated, so none is aggregated twice.
pub(super) fn aggregate_chunk_polars(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    target: &Target<'_>,
    line_base: u64,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let d = plan.delimiter;
    let has_quotes = memchr::memchr(dialect::QUOTE, data).is_some();
    if may_have_blank_line(data) || dialect::has_lone_cr(data) || has_quotes && !dialect::quotes_are_regular(data, d) {
        return aggregate_chunk(data, plan, layout, target, line_base, pos);
    }
    let Ok(rows) = crate::engine::polars::csv_chunk_rows(data, d, layout.width, &layout.used) else {
        return aggregate_chunk(data, plan, layout, target, line_base, pos);
    };
    if delimiters_outside_quotes(data, d) != (layout.width as u64 - 1) * rows.height() as u64 {
        return aggregate_chunk(data, plan, layout, target, line_base, pos);
    }
    let mut agg = Aggregator::new(plan, layout, target, pos);
    agg.info.newlines = crate::engine::kernels::count_newlines(data);
    let result = rows.for_each(|fields, row| agg.record(fields, row)).and_then(|()| agg.finish());
    // A value the aggregator rejects: its line, counted as the dialect counts records.
    let mut info = match result {
        Ok(info) => info,
        Err(f) => return Err(Fault { line: line_base + dialect::line_of_record(data, d, f.line), ..f }),
    };
    // The aggregator saw record numbers: place each first text value on its line.
    for ft in info.first_text.iter_mut().flatten() {
        ft.0 = line_base + dialect::line_of_record(data, d, ft.0);
    }
    Ok(info)
}

/// Whether a chunk may hold a blank line (a quoted field's blank line counts too: the native parser
/// then reads the chunk, and it is right either way).
fn may_have_blank_line(data: &[u8]) -> bool {
    data.starts_with(b"\n")
        || data.starts_with(b"\r\n")
        || memchr::memmem::find(data, b"\n\n").is_some()
        || memchr::memmem::find(data, b"\n\r\n").is_some()
}

/// The delimiters of a chunk that separate fields (outside quotes): `width - 1` per record. The
/// chunk's quotes are regular (see [`dialect::quotes_are_regular`]), so parity tells.
fn delimiters_outside_quotes(data: &[u8], d: u8) -> u64 {
    if memchr::memchr(dialect::QUOTE, data).is_none() {
        return bytecount::count(data, d) as u64;
    }
    let mut quoted = false;
    let mut n = 0u64;
    for &b in data {
        if b == dialect::QUOTE {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// Aggregates a chunk of JSON lines: each non-blank line one object; its values become the fields
/// the CSV paths would see (strings as they are, numbers in their JSON form, null or a missing key
/// as an empty field).
pub(super) fn aggregate_ndjson_chunk(
    data: &[u8],
    plan: &GroupByPlan,
    layout: &Layout,
    target: &Target<'_>,
    pos: RowPos,
) -> Result<ChunkInfo, Fault> {
    let mut agg = Aggregator::new(plan, layout, target, pos);
    agg.info.newlines = crate::engine::kernels::count_newlines(data);
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); layout.names.len()];
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(raw).map_err(|e| Fault { line, message: format!("invalid JSON object: {e}") })?;
        for (text, name) in texts.iter_mut().zip(&layout.names) {
            text.clear();
            match object.get(name) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => text.extend_from_slice(s.as_bytes()),
                Some(other) => text.extend_from_slice(other.to_string().as_bytes()),
            }
        }
        let fields: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        agg.record(&fields, line)?;
    }
    agg.finish()
}
