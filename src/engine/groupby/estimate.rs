//! How many groups a worker's store will end with, estimated as it goes, so that a store headed
//! for millions of groups sizes its tables and vectors once instead of doubling them on the way:
//! each doubling places every key again, copies every key and state into new memory (which the
//! kernel zeroes first), and frees the old (shooting down the other threads' TLB entries). With a
//! group per row that was about a sixth of the aggregation's time.
//!
//! The estimate comes from how fast the worker's groups grew over its last chunk. If the keys are
//! drawn from `D` values, after `n` rows a new row is a new group with probability `r =
//! exp(-n / D)`; so `D = -n / ln r`, and after all of its `N` rows the worker holds `D (1 -
//! exp(-N / D))` groups; a rate near 1 (a group per row) gives `N`. The worker's own estimate is
//! never above what the last chunk's rate would give for every row left (the groups of skewed keys
//! grow more slowly than the model says, so it errs low, where sizing is left to doubling). When
//! the workers will share most of their groups, their copies of a partition are merged at the end
//! (see [`super::table::Merge`]), so room is made for the groups of all of them. Sizing waits for
//! partitions of a few thousand groups (a query of a few groups never sizes anything), and stays
//! within half the worker's share of the memory budget (it never makes a store spill).

use std::sync::Mutex;

use super::chunk::Store;

/// A partition is sized ahead only once it holds this many groups: by then the rate is measured
/// over enough rows, and a query of few groups has stopped growing long before.
const MIN_GROUPS: usize = 2048;

/// What a worker's chunks so far told about its groups.
#[derive(Default, Clone, Copy)]
struct Seen {
    rows: u64,
    groups: usize,
}

/// The estimates of every worker's store.
pub(super) struct Estimate {
    seen: Vec<Mutex<Seen>>,
    /// The workers that share the rows left.
    workers: usize,
    /// The bytes a store may be sized for: half its share of the memory budget, so that room
    /// made ahead (counted as the store's size, with its table rounded up to a power of two)
    /// never passes the budget by itself and spills groups that are not there.
    share: usize,
}

/// Where a chunk was in its input: its rows and bytes, and the input's bytes after it.
#[derive(Clone, Copy)]
pub(super) struct Progress {
    pub rows: u64,
    pub bytes: usize,
    pub left: u64,
}

impl Estimate {
    pub fn new(stores: usize, workers: usize, budget: usize) -> Estimate {
        Estimate {
            seen: (0..stores).map(|_| Mutex::new(Seen::default())).collect(),
            workers: workers.max(1),
            share: budget / stores.max(1) / 2,
        }
    }

    /// After worker `slot` aggregated a chunk into `store`: estimates the groups it will end
    /// with, and makes room for them in the partitions big enough to be sized ahead.
    pub fn after_chunk(&self, slot: usize, store: &mut Store, chunk: Progress) {
        let mut seen = self.seen[slot].lock().expect("a worker's estimate");
        let groups: usize = store.parts.iter().map(|p| p.keys.len()).sum();
        let before = *seen;
        *seen = Seen { rows: before.rows + chunk.rows, groups };
        if chunk.rows == 0 || chunk.bytes == 0 || groups <= before.groups {
            return;
        }
        let rate = (groups - before.groups) as f64 / chunk.rows as f64;
        // The rows this worker has still to see, at this chunk's bytes per row.
        let left = chunk.left as f64 * chunk.rows as f64 / chunk.bytes as f64 / self.workers as f64;
        let n = seen.rows as f64 - chunk.rows as f64 / 2.0;
        let mut total = final_groups(groups as f64, n, rate, left, self.workers as f64);
        // Never more than half the worker's share of the memory budget, at the bytes per group of the
        // room the store has (its tables and vectors, which room made ahead inflates).
        let bytes: usize = store.parts.iter().map(super::chunk::Part::bytes).sum();
        let room: usize = store.parts.iter().map(|p| p.keys.len().max(p.keys.room())).sum();
        total = total.min(self.share as f64 / (bytes as f64 / room.max(1) as f64).max(1.0));
        let per_part = total / store.parts.len() as f64;
        // Partitions differ from their mean by about its square root; a little room above that.
        let want = (per_part + 3.0 * per_part.sqrt()) as usize;
        for part in &mut store.parts {
            let len = part.keys.len();
            if len >= MIN_GROUPS && want > part.keys.room() {
                part.reserve(want - len);
            }
        }
    }
}

/// The groups a worker will hold after `left` more rows, holding `groups` after `n` rows, new
/// groups coming at `rate` per row; and, when the workers' copies of a partition will share most
/// of their groups (so that they are merged, see [`super::table::Merge`]), the groups of all
/// `workers` together, which the copy merged into needs room for.
pub(super) fn final_groups(groups: f64, n: f64, rate: f64, left: f64, workers: f64) -> f64 {
    let linear = groups + rate * left;
    if rate >= 0.999 || n <= 0.0 {
        return linear;
    }
    let d = -n / rate.ln();
    let seen = |rows: f64| d * (1.0 - (-rows / d).exp());
    let own = seen(n + left).clamp(groups, linear);
    // A worker sees about this share of the values any other one does.
    if own / d >= 0.5 { seen(workers * (n + left)).max(own) } else { own }
}

#[cfg(test)]
mod tests {
    use super::super::chunk::{PARTITION_BITS, Part, Store};
    use super::super::states::States;
    use super::super::table::{Keys, Partitioned, hash_key};
    use super::{Estimate, Progress, final_groups};

    fn store() -> Store {
        Partitioned::new_with(PARTITION_BITS, || Part { keys: Keys::default(), states: States::new(&[]) })
    }

    fn insert(store: &mut Store, keys: std::ops::Range<u32>) {
        for i in keys {
            let key = format!("key{i}");
            let hash = hash_key(key.as_bytes());
            let p = store.partition_of(hash);
            store.parts[p].group(hash, key.as_bytes());
        }
    }

    /// A store of a group per row is sized after a chunk for every row left, and takes them
    /// with no table growing; one of a few groups is left alone.
    #[test]
    fn a_store_is_sized_for_the_groups_it_will_hold() {
        let estimate = Estimate::new(1, 1, usize::MAX);
        let mut s = store();
        insert(&mut s, 0..200_000);
        estimate.after_chunk(0, &mut s, Progress { rows: 200_000, bytes: 2_000_000, left: 4_000_000 });
        let rooms: Vec<usize> = s.parts.iter().map(|p| p.keys.room()).collect();
        assert!(rooms.iter().all(|&r| r >= 600_000 / 64), "{rooms:?}");
        insert(&mut s, 200_000..600_000);
        assert_eq!(rooms, s.parts.iter().map(|p| p.keys.room()).collect::<Vec<_>>(), "no table grew");
        for i in (0..600_000u32).step_by(997) {
            let key = format!("key{i}");
            let hash = hash_key(key.as_bytes());
            assert!(s.parts[s.partition_of(hash)].keys.find(hash, key.as_bytes()).is_some(), "{key}");
        }
        // A thousand groups over 200,000 rows: nothing to size.
        let mut s = store();
        insert(&mut s, 0..1000);
        estimate.after_chunk(0, &mut s, Progress { rows: 200_000, bytes: 2_000_000, left: 4_000_000 });
        assert!(s.parts.iter().all(|p| p.keys.room() < 64), "few groups, small tables");
        // A budget of a megabyte: the store is not sized beyond it.
        let small = Estimate::new(1, 1, 1 << 20);
        let mut s = store();
        insert(&mut s, 0..200_000);
        let room_before: usize = s.parts.iter().map(|p| p.keys.room()).sum();
        small.after_chunk(0, &mut s, Progress { rows: 200_000, bytes: 2_000_000, left: 4_000_000 });
        assert_eq!(room_before, s.parts.iter().map(|p| p.keys.room()).sum::<usize>());
    }

    #[test]
    fn a_group_per_row_is_expected_to_go_on_and_saturating_keys_to_saturate() {
        // Every row new: every row left will be too (and the workers' copies are kept apart).
        assert_eq!(final_groups(1000.0, 1000.0, 1.0, 9000.0, 2.0), 10_000.0);
        // Keys from a million values: after 140,000 rows, about 130,700 groups, new at exp(-0.14).
        let d: f64 = 1e6;
        let (n, left) = (140_000.0, 4_860_000.0);
        let groups = d * (1.0 - (-n / d).exp());
        let rate = (-n / d).exp();
        // Each of two workers sees nearly every value: room for the merge of both.
        let expected = d * (1.0 - (-2.0 * (n + left) / d).exp());
        let got = final_groups(groups, n, rate, left, 2.0);
        assert!((got - expected).abs() / expected < 1e-9, "{got} against {expected}");
        // Keys from ten million values: each worker sees under half of them, its own only.
        let d: f64 = 1e7;
        let (groups, rate) = (d * (1.0 - (-n / d).exp()), (-n / d).exp());
        let expected = d * (1.0 - (-(n + left) / d).exp());
        let got = final_groups(groups, n, rate, left, 2.0);
        assert!((got - expected).abs() / expected < 1e-9, "{got} against {expected}");
        // Never below what is there, nor above the rate kept up for every row.
        assert!((final_groups(500.0, 1e6, 1e-9, 1e6, 1.0) - 500.0).abs() < 0.01);
        assert!(final_groups(500.0, 10.0, 0.5, 1e6, 1.0) <= 500.0 + 0.5 * 1e6);
    }
}
