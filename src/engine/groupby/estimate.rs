//! How many groups the store will end with, estimated as it goes, so that a store headed for
//! millions of groups sizes its tables and vectors once instead of doubling them on the way: each
//! doubling places every key again, copies every key and state into new memory (which the kernel
//! zeroes first), and frees the old (shooting down the other threads' TLB entries). With a group
//! per row that was about a sixth of the aggregation's time.
//!
//! The estimate comes from how fast the groups grew over the last chunk. If the keys are drawn
//! from `D` values, after `n` rows a new row is a new group with probability `r = exp(-n / D)`; so
//! `D = -n / ln r`, and after all `N` rows the store holds `D (1 - exp(-N / D))` groups; a rate
//! near 1 (a group per row) gives `N`. The estimate is never above what the last chunk's rate
//! would give for every row left (the groups of skewed keys grow more slowly than the model says,
//! so it errs low, where sizing is left to doubling). Sizing waits for partitions of a few
//! thousand groups (a query of a few groups never sizes anything), and stays within half the
//! memory budget (it never makes the store spill).

use std::sync::Mutex;

#[cfg(doc)]
use super::chunk::Part;
use super::chunk::{SharedStore, lock};

/// A partition is sized ahead only once it holds this many groups: by then the rate is measured
/// over enough rows, and a query of few groups has stopped growing long before.
const MIN_GROUPS: usize = 2048;

/// What the chunks so far told about the groups.
#[derive(Default, Clone, Copy)]
struct Seen {
    rows: u64,
    groups: usize,
}

/// The estimate of the store's groups.
pub(super) struct Estimate {
    seen: Mutex<Seen>,
    /// The bytes the store may be sized for: half the memory budget, so that room made ahead
    /// (counted as the store's size, with its table rounded up to a power of two) never passes
    /// the budget by itself and spills groups that are not there.
    share: usize,
}

/// Where a chunk was in its input: its rows and bytes, and the input's bytes before and after it.
#[derive(Clone, Copy)]
pub(super) struct Progress {
    pub rows: u64,
    pub bytes: usize,
    pub before: u64,
    pub left: u64,
}

impl Progress {
    /// The input's rows, at this chunk's bytes per row; `None` before the chunk's rows are known.
    pub fn input_rows(&self) -> Option<f64> {
        (self.rows > 0 && self.bytes > 0)
            .then(|| (self.before + self.bytes as u64 + self.left) as f64 * self.rows as f64 / self.bytes as f64)
    }
}

impl Estimate {
    pub fn new(budget: usize) -> Estimate {
        Estimate { seen: Mutex::new(Seen::default()), share: budget / 2 }
    }

    /// After a chunk was aggregated into `store`: estimates the groups it will end with, and asks
    /// the partitions big enough to be sized ahead for room for them (made by the next worker to
    /// add rows to each, see [`Part::make_wanted_room`]). The rate at which groups come is
    /// measured over the rows added since the last estimate, by any worker (each partition counts
    /// its rows and its groups together).
    ///
    /// While one worker estimates, another that finishes a chunk goes on to its next: its rows are
    /// counted by the next estimate.
    pub fn after_chunk(&self, store: &SharedStore, chunk: Progress) {
        let mut seen = match self.seen.try_lock() {
            Ok(seen) => seen,
            Err(std::sync::TryLockError::WouldBlock) => return,
            Err(std::sync::TryLockError::Poisoned(e)) => panic!("the groups' estimate: {e}"),
        };
        // Each partition read once: its rows and groups, and the bytes and room the cap below needs.
        let (rows, groups, bytes, room) = store.parts.iter().fold((0, 0, 0, 0), |(rows, groups, bytes, room), p| {
            let p = lock(p);
            (rows + p.rows, groups + p.keys.len(), bytes + p.bytes(), room + p.keys.len().max(p.keys.room()))
        });
        let before = std::mem::replace(&mut *seen, Seen { rows, groups });
        // (A spill empties the store: its counts start again.)
        if chunk.rows == 0 || chunk.bytes == 0 || rows <= before.rows || groups <= before.groups {
            return;
        }
        let added = rows - before.rows;
        let rate = (groups - before.groups) as f64 / added as f64;
        // The rows still to come, at this chunk's bytes per row.
        let left = chunk.left as f64 * chunk.rows as f64 / chunk.bytes as f64;
        let n = rows as f64 - added as f64 / 2.0;
        let mut total = final_groups(groups as f64, n, rate, left);
        // Never more than half the memory budget, at the bytes per group of the room the store
        // has (its tables and vectors, which room made ahead inflates).
        total = total.min(self.share as f64 / (bytes as f64 / room.max(1) as f64).max(1.0));
        let per_part = total / store.parts.len() as f64;
        // Partitions differ from their mean by about its square root; a little room above that.
        let want = (per_part + 3.0 * per_part.sqrt()) as usize;
        for part in &store.parts {
            let mut part = lock(part);
            if part.keys.len() >= MIN_GROUPS && want > part.keys.room() {
                part.wanted = want;
            }
        }
    }
}

/// The groups the store will hold after `left` more rows, holding `groups` after `n` rows, new
/// groups coming at `rate` per row.
pub(super) fn final_groups(groups: f64, n: f64, rate: f64, left: f64) -> f64 {
    let linear = groups + rate * left;
    if rate >= 0.999 || n <= 0.0 {
        return linear;
    }
    let d = -n / rate.ln();
    let seen = |rows: f64| d * (1.0 - (-rows / d).exp());
    seen(n + left).clamp(groups, linear)
}

/// The groups a store will hold after `total` rows, holding `groups` after `rows`: the keys taken
/// as drawn from `D` values, `groups = D (1 - exp(-rows / D))` is solved for `D` (by bisection:
/// the right side grows with `D`, toward `rows`), and `D (1 - exp(-total / D))` returned.
pub(super) fn groups_after(groups: f64, rows: f64, total: f64) -> f64 {
    let seen = |d: f64, n: f64| -d * (-n / d).exp_m1();
    if groups >= rows * (1.0 - 1e-9) {
        return total.max(groups);
    }
    let (mut lo, mut hi) = (groups, groups * 2.0);
    while seen(hi, rows) < groups {
        if hi > 1e18 {
            return total.max(groups);
        }
        (lo, hi) = (hi, hi * 2.0);
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if seen(mid, rows) < groups { lo = mid } else { hi = mid }
    }
    seen(hi, total.max(rows))
}

#[cfg(test)]
mod tests {
    use super::super::chunk::{PARTITION_BITS, Part, SharedStore, lock};
    use super::super::states::States;
    use super::super::table::{Keys, Partitioned, hash_key};
    use super::{Estimate, Progress, final_groups, groups_after};
    use std::sync::Mutex;

    #[test]
    fn groups_after_finds_how_many_values_the_keys_are_drawn_from() {
        for d in [1e3, 1e5, 3e6] {
            let seen = |n: f64| d * (1.0 - (-n / d).exp());
            for n in [d / 10.0, d, 5.0 * d] {
                let got = groups_after(seen(n), n, 1e8);
                assert!((got - seen(1e8)).abs() < 1e-6 * d, "d {d} n {n}: {got}");
                // No rows to come: the groups there are.
                assert!((groups_after(seen(n), n, n) - seen(n)).abs() < 1e-6 * d);
            }
        }
        // A group per row so far: a group per row to come.
        assert_eq!(groups_after(5000.0, 5000.0, 1e7), 1e7);
    }

    fn store() -> SharedStore {
        Partitioned::new_with(PARTITION_BITS, || {
            Mutex::new(Part { keys: Keys::default(), states: States::new(&[]), rows: 0, wanted: 0 })
        })
    }

    fn insert(store: &SharedStore, keys: std::ops::Range<u32>) {
        for i in keys {
            let key = format!("key{i}");
            let hash = hash_key(key.as_bytes());
            let mut part = lock(&store.parts[store.partition_of(hash)]);
            part.make_wanted_room();
            part.group(hash, key.as_bytes());
            part.rows += 1;
        }
    }

    /// Each partition's room, once the room wanted is made (as the next worker to take it does).
    fn rooms(store: &SharedStore) -> Vec<usize> {
        store
            .parts
            .iter()
            .map(|p| {
                let mut part = lock(p);
                part.make_wanted_room();
                part.keys.room()
            })
            .collect()
    }

    /// A store of a group per row is sized after a chunk for every row left, and takes them
    /// with no table growing; one of a few groups is left alone.
    #[test]
    fn a_store_is_sized_for_the_groups_it_will_hold() {
        let estimate = Estimate::new(usize::MAX);
        let s = store();
        insert(&s, 0..200_000);
        estimate.after_chunk(&s, Progress { rows: 200_000, bytes: 2_000_000, before: 0, left: 4_000_000 });
        let sized = rooms(&s);
        assert!(sized.iter().all(|&r| r >= 600_000 / 64), "{sized:?}");
        insert(&s, 200_000..600_000);
        assert_eq!(sized, rooms(&s), "no table grew");
        for i in (0..600_000u32).step_by(997) {
            let key = format!("key{i}");
            let hash = hash_key(key.as_bytes());
            assert!(lock(&s.parts[s.partition_of(hash)]).keys.find(hash, key.as_bytes()).is_some(), "{key}");
        }
        // A thousand groups over 200,000 rows: nothing to size.
        let estimate = Estimate::new(usize::MAX);
        let s = store();
        insert(&s, 0..1000);
        estimate.after_chunk(&s, Progress { rows: 200_000, bytes: 2_000_000, before: 0, left: 4_000_000 });
        assert!(rooms(&s).iter().all(|&r| r < 64), "few groups, small tables");
        // A budget of a megabyte: the store is not sized beyond it.
        let small = Estimate::new(1 << 20);
        let s = store();
        insert(&s, 0..200_000);
        let room_before: usize = rooms(&s).iter().sum();
        small.after_chunk(&s, Progress { rows: 200_000, bytes: 2_000_000, before: 0, left: 4_000_000 });
        assert_eq!(room_before, rooms(&s).iter().sum::<usize>());
    }

    #[test]
    fn a_group_per_row_is_expected_to_go_on_and_saturating_keys_to_saturate() {
        // Every row new: every row left will be too.
        assert_eq!(final_groups(1000.0, 1000.0, 1.0, 9000.0), 10_000.0);
        // Keys from a million values: after 140,000 rows, about 130,700 groups, new at exp(-0.14).
        for d in [1e6f64, 1e7] {
            let (n, left) = (140_000.0, 9_860_000.0);
            let groups = d * (1.0 - (-n / d).exp());
            let rate = (-n / d).exp();
            let expected = d * (1.0 - (-(n + left) / d).exp());
            let got = final_groups(groups, n, rate, left);
            assert!((got - expected).abs() / expected < 1e-9, "{got} against {expected}");
        }
        // Never below what is there, nor above the rate kept up for every row.
        assert!((final_groups(500.0, 1e6, 1e-9, 1e6) - 500.0).abs() < 0.01);
        assert!(final_groups(500.0, 10.0, 0.5, 1e6) <= 500.0 + 0.5 * 1e6);
    }
}
