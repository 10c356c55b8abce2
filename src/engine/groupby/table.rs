//! The groups of a group-by: encoded keys in a hash table split into partitions by hash bits.
//!
//! A worker aggregates into a table of its own while the groups are few, and into one table the
//! workers share, a partition locked at a time, once they are many (see `chunk::Target`), so a
//! row costs one probe whatever the number of groups. At the end the tables are merged partition
//! by partition, each partition by one thread, as DuckDB's radix-partitioned aggregation does.
//!
//! A partition stores its keys back to back in one arena (no allocation per group), their hashes
//! (so growing and merging never hash a key again), and an open-addressing table of slots, each
//! holding a short key itself. A group is `(partition, id)`; its states live in the partition's
//! [`super::states::States`] at `id`.

use std::hash::BuildHasher;

use crate::engine::grow;

/// The hash of a key: foldhash, seeded with a constant so that partitions (and spill files) are
/// the same on every run.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x70_66_72_61_6d_65).hash_one(key)
}

/// The bits of the hash that choose a partition: above the low bits that choose a slot.
const PARTITION_SHIFT: u32 = 40;

/// The bytes of a key kept in its table slot: the whole key when it is this short (most are: a
/// word, an id, a few numbers), else its first bytes.
const INLINE: usize = 24;

/// A slot's id when it holds no key.
const EMPTY: u32 = u32::MAX;

/// A hash table slot: a probe that finds its key in the slot reads no other memory, which is
/// what makes a row's lookup cheap when the groups outgrow the caches; and the slot a key's
/// probe starts at is known from its hash alone, so that it can be prefetched (see
/// [`Keys::prefetch`]) while other rows are looked up.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    /// The key's first [`INLINE`] bytes as little-endian words, zeros after its end.
    inline: [u64; INLINE / 8],
    len: u32,
    id: u32,
}

/// The 8-byte word at `at` of `key`, little-endian.
#[inline(always)]
fn word_at(key: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(key[at..at + 8].try_into().expect("8 bytes"))
}

/// Bytes `at..` of `key` (at most 8, and at least 8 in the key) as a little-endian word, zeros
/// above them: read as the key's last word, shifted down.
#[inline(always)]
fn tail_word(key: &[u8], at: usize) -> u64 {
    word_at(key, key.len() - 8) >> (8 * (at + 8 - key.len()))
}

/// A key of at most 8 bytes as a little-endian word, zeros above it: two loads that overlap
/// (or three bytes), no copy to memory.
#[inline(always)]
fn short_word(key: &[u8]) -> u64 {
    let n = key.len();
    if n >= 4 {
        let lo = u64::from(u32::from_le_bytes(key[..4].try_into().expect("4 bytes")));
        let hi = u64::from(u32::from_le_bytes(key[n - 4..].try_into().expect("4 bytes")));
        lo | hi << (8 * (n - 4))
    } else if n > 0 {
        u64::from(key[0]) | u64::from(key[n / 2]) << (8 * (n / 2)) | u64::from(key[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// A key's bytes as its slot holds them, and its length: built in registers from a few loads
/// (a copy into an array and a load of it back stalled each probe on the store). A key longer
/// than [`INLINE`] is compared where it is stored once its slot matches: its slot holds its hash
/// and its first and last words, so that only its own slot does. (With its first bytes instead,
/// keys that share a long prefix, such as ids padded with zeros or URLs, matched every slot of a
/// probe, each a comparison of bytes at random: a third of a group-by's time.)
#[inline]
fn inline_of(key: &[u8], hash: u64) -> ([u64; INLINE / 8], u32) {
    let n = key.len();
    let words = match n {
        0..=8 => [short_word(key), 0, 0],
        9..=16 => [word_at(key, 0), tail_word(key, 8), 0],
        17..=24 => [word_at(key, 0), word_at(key, 8), tail_word(key, 16)],
        _ => [hash, word_at(key, 0), word_at(key, n - 8)],
    };
    (words, u32::try_from(n).expect("a key shorter than 4 GiB"))
}

const VACANT: Slot = Slot { inline: [0; INLINE / 8], len: 0, id: EMPTY };

/// The encoded keys of one partition: an open-addressing table (linear probing, at most 3/4
/// full) of slots, and the keys by id.
#[derive(Default)]
pub struct Keys {
    slots: Vec<Slot>,
    hashes: Vec<u64>,
    /// Key `i` is `bytes[ends[i - 1]..ends[i]]`.
    ends: Vec<u64>,
    bytes: Vec<u8>,
}

impl Keys {
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    #[inline]
    pub fn key(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn hash(&self, id: u32) -> u64 {
        self.hashes[id as usize]
    }

    /// The bytes this partition's keys hold (what its vectors have allocated).
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
            + (self.hashes.capacity() + self.ends.capacity()) * size_of::<u64>()
            + self.bytes.capacity()
    }

    /// Asks the CPU to bring the slot where the probe for `hash` starts into the cache.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.slots, hash as usize & (self.slots.len() - 1));
        }
    }

    /// Where the probe for `key` (whose hash is `hash`) ends: the slot holding it (`Ok`), or the
    /// empty slot it would take (`Err`). The table has at least one empty slot.
    #[inline]
    fn probe(&self, hash: u64, key: &[u8]) -> Result<u32, usize> {
        let ([w0, w1, w2], len) = inline_of(key, hash);
        let head = key.len().min(INLINE);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.id == EMPTY {
                return Err(i);
            }
            // Word by word, in registers: compared as one array, the key's words were stored to
            // the stack and loaded back 16 bytes at a time, a load that no store can forward.
            let differ = (s.inline[0] ^ w0) | (s.inline[1] ^ w1) | (s.inline[2] ^ w2);
            if s.len == len && differ == 0 && (head == key.len() || self.key(s.id) == key) {
                return Ok(s.id);
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `key` (whose hash is `hash`), if it is here.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash, key).ok()
    }

    /// About the share of `other`'s keys that are here too, from a sample of about 256 of them;
    /// 1 when `other` has none (see [`Absorb::shared`]).
    pub fn shared(&self, other: &Keys) -> f64 {
        let n = other.len();
        if n == 0 {
            return 1.0;
        }
        let step = (n / 256).max(1);
        let sampled = n.div_ceil(step);
        let found = (0..n)
            .step_by(step)
            .filter(|&oid| self.find(other.hash(oid as u32), other.key(oid as u32)).is_some())
            .count();
        found as f64 / sampled as f64
    }

    /// Makes room for the keys of `other` that are not here, a share `1 - shared` of them as
    /// [`Keys::shared`] found, before they are merged in: the table grown once instead of doubled
    /// on the way, and not sized for all of `other` when the two share most of their keys.
    /// Returns how many keys that is.
    pub fn reserve_unseen(&mut self, other: &Keys, shared: f64) -> usize {
        let unseen = 1.0 - shared;
        let additional = (other.len() as f64 * unseen).ceil() as usize;
        self.reserve(additional, (other.key_bytes() as f64 * unseen).ceil() as usize);
        additional
    }

    /// Makes room for `additional` more keys of `bytes` bytes in all with no growing on the way.
    pub fn reserve(&mut self, additional: usize, bytes: usize) {
        let needed = (self.hashes.len() + additional + 1) * 4;
        if needed > self.slots.len() * 3 {
            self.grow_to(needed.div_ceil(3).next_power_of_two());
        }
        grow::reserve(&mut self.hashes, additional);
        grow::reserve(&mut self.ends, additional);
        grow::reserve(&mut self.bytes, bytes);
    }

    /// The keys the table takes before it grows.
    pub fn room(&self) -> usize {
        (self.slots.len() * 3 / 4).saturating_sub(1)
    }

    /// The bytes of all the keys.
    pub fn key_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The id of `key` (whose hash is `hash`), added if new; and whether it was.
    #[inline]
    pub fn find_or_insert(&mut self, hash: u64, key: &[u8]) -> (u32, bool) {
        if (self.hashes.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let i = match self.probe(hash, key) {
            Ok(id) => return (id, false),
            Err(i) => i,
        };
        let (inline, len) = inline_of(key, hash);
        let id = u32::try_from(self.hashes.len()).ok().filter(|&id| id != EMPTY).expect("fewer than 2^32 - 1 groups");
        self.hashes.push(hash);
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len() as u64);
        self.slots[i] = Slot { inline, len, id };
        (id, true)
    }

    /// Frees the slot table (most of a partition's memory) once no key will be looked up again,
    /// as when the groups are read out: the keys stay readable by id. Should a key be looked up
    /// after all, the table is built again from the keys' hashes.
    pub fn drop_table(&mut self) {
        self.slots = Vec::new();
    }

    /// Doubles the table (from 16 slots, or from what the keys need after [`Keys::drop_table`])
    /// and places every key again.
    #[cold]
    fn grow(&mut self) {
        let needed = ((self.hashes.len() + 1) * 4).div_ceil(3).next_power_of_two();
        self.grow_to((self.slots.len() * 2).max(16).max(needed));
    }

    /// Makes the table `cap` slots (a power of two, more than the keys need) and places every
    /// key again.
    fn grow_to(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.slots, vec![VACANT; cap]);
        let mask = cap - 1;
        let place = |slots: &mut [Slot], s: Slot, hash: u64| {
            let mut i = hash as usize & mask;
            while slots[i].id != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = s;
        };
        if old.is_empty() {
            for id in 0..self.hashes.len() as u32 {
                let (inline, len) = inline_of(self.key(id), self.hashes[id as usize]);
                let s = Slot { inline, len, id };
                place(&mut self.slots, s, self.hashes[id as usize]);
            }
        } else {
            for s in old.into_iter().filter(|s| s.id != EMPTY) {
                place(&mut self.slots, s, self.hashes[s.id as usize]);
            }
        }
    }
}

/// Prefetches element `i` of `v`, if it has one, for reading or writing soon: its first cache
/// line, and its last when it ends on another (an element of, say, 40 bytes does half the time,
/// and its fields on the second line would miss).
#[inline]
pub(crate) fn prefetch<T>(v: &[T], i: usize) {
    if let Some(x) = v.get(i) {
        let start = std::ptr::from_ref(x).cast::<u8>();
        prefetch_byte(start);
        // Known at compile time for most types: an element whose alignment is its size, a divisor
        // of 64 (a slot, a count), lies within one line.
        let within_one = 64 % size_of::<T>().max(1) == 0 && align_of::<T>() >= size_of::<T>();
        let last = size_of::<T>().saturating_sub(1);
        if !within_one && (start as usize & 63) + last > 63 {
            prefetch_byte(start.wrapping_add(last));
        }
    }
}

#[inline]
fn prefetch_byte(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint, never a fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A partition that can take in another copy of itself (the same partition of another worker's
/// store).
pub trait Absorb: Send + Sized {
    /// Its number of groups (the largest copy is the one merged into).
    fn groups(&self) -> usize;
    /// About the share of `other`'s groups that are here too (from a sample of them); 1 when
    /// `other` has none.
    fn shared(&self, other: &Self) -> f64;
    /// Merges every group of `other` in; `shared` is [`Absorb::shared`]'s answer for it.
    fn absorb(&mut self, other: Self, shared: f64);
}

impl<P: Absorb> Partitioned<std::sync::Mutex<P>> {
    /// Merges a store of the same shape into this one that workers share, partition by
    /// partition, each under its lock in turn (as a worker's own store moves into the shared one
    /// while the other workers go on adding to it).
    pub fn absorb_store(&self, store: Partitioned<P>) {
        assert_eq!(store.bits, self.bits, "stores of one shape");
        for (part, into) in store.parts.into_iter().zip(&self.parts) {
            if part.groups() == 0 {
                continue;
            }
            let mut into = into.lock().expect("a partition of a shared store");
            let shared = into.shared(&part);
            into.absorb(part, shared);
        }
    }
}

/// How the copies of a partition are merged: all into one, or only those that share most of
/// their groups (see [`Partitioned::merge`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    Whole,
    Shared,
}

/// A group-by's keys in `2^bits` partitions.
pub struct Partitioned<P> {
    bits: u32,
    pub parts: Vec<P>,
}

impl<P> Partitioned<P> {
    pub fn new_with(bits: u32, make: impl Fn() -> P) -> Self {
        Partitioned { bits, parts: (0..1usize << bits).map(|_| make()).collect() }
    }

    /// The partition of a key's hash.
    #[inline]
    pub fn partition_of(&self, hash: u64) -> usize {
        ((hash >> PARTITION_SHIFT) & ((1u64 << self.bits) - 1)) as usize
    }

    /// The places of `hashes` ordered by partition (a counting sort, each partition's places in
    /// the order they came) into `order`, and where each partition's places start into `starts`
    /// (one more than the partitions: the last is the number of places). Both are buffers kept
    /// by the caller.
    pub fn order_by_partition(&self, hashes: &[u64], starts: &mut Vec<u32>, order: &mut Vec<u32>) {
        let n = self.parts.len();
        starts.clear();
        starts.resize(n + 1, 0);
        for &hash in hashes {
            starts[self.partition_of(hash) + 1] += 1;
        }
        for p in 0..n {
            starts[p + 1] += starts[p];
        }
        order.clear();
        order.resize(hashes.len(), 0);
        // Each partition's start serves as its next place; filled, each holds the next one's.
        for (i, &hash) in hashes.iter().enumerate() {
            let p = self.partition_of(hash);
            order[starts[p] as usize] = i as u32;
            starts[p] += 1;
        }
        starts.copy_within(0..n, 1);
        starts[0] = 0;
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Merges the stores of several workers, partition by partition (in parallel on `pool`): each
    /// partition into the largest of its copies, so that no partition is merged twice and every
    /// thread merges partitions of its own. With [`Merge::Shared`], a copy that shares less than
    /// half of its groups with the largest is kept apart instead: absorbing it would insert most
    /// of its groups anew (a probe, a key and states copied, a table grown per group) only to
    /// spare the final sort a few entries, and the sort brings equal keys together anyway (their
    /// states are merged as they are read out). So the partitions returned are `2^bits` (one per
    /// partition) for [`Merge::Whole`], and may be more for [`Merge::Shared`], whose keys then
    /// repeat across them.
    pub fn merge(stores: Vec<Self>, pool: Option<&rayon::ThreadPool>, how: Merge) -> Vec<P>
    where
        P: Absorb,
    {
        use rayon::prelude::*;
        let mut stores = stores.into_iter();
        let first = stores.next().expect("at least one store");
        let bits = first.bits;
        let mut columns: Vec<Vec<P>> = first.parts.into_iter().map(|p| vec![p]).collect();
        for store in stores {
            assert_eq!(store.bits, bits, "stores of one shape");
            for (column, part) in columns.iter_mut().zip(store.parts) {
                column.push(part);
            }
        }
        let merge = |mut copies: Vec<P>| -> Vec<P> {
            let at = (0..copies.len()).max_by_key(|&i| copies[i].groups()).expect("a copy");
            let mut into = vec![copies.swap_remove(at)];
            for other in copies {
                let shared = into[0].shared(&other);
                if how == Merge::Shared && shared < 0.5 {
                    into.push(other);
                } else {
                    into[0].absorb(other, shared);
                }
            }
            into
        };
        let parts: Vec<Vec<P>> = match pool {
            Some(pool) => pool.install(|| columns.into_par_iter().map(merge).collect()),
            None => columns.into_iter().map(merge).collect(),
        };
        parts.into_iter().flatten().collect()
    }

    /// Partitions made elsewhere (as many as `bits` says).
    pub fn from_parts(bits: u32, parts: Vec<P>) -> Self {
        assert_eq!(parts.len(), 1 << bits);
        Partitioned { bits, parts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot's words are the key's bytes, zeros after them, when it has at most [`INLINE`], else
    /// its hash and its first and last words; keys that differ only by trailing zero bytes stay
    /// apart (by their lengths), and so do long keys that share their first and last words.
    #[test]
    fn slots_hold_short_keys_and_long_keys_hashes() {
        let bytes: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(89) ^ 0xa5).collect();
        for n in 0..=40 {
            for from in [0, 3] {
                let key = &bytes[from..(from + n).min(bytes.len())];
                let mut want = [0u8; INLINE];
                let head = key.len().min(INLINE);
                want[..head].copy_from_slice(&key[..head]);
                let mut want: Vec<u64> = want.chunks(8).map(|w| u64::from_le_bytes(w.try_into().unwrap())).collect();
                if key.len() > INLINE {
                    want = vec![7, want[0], u64::from_le_bytes(key[key.len() - 8..].try_into().unwrap())];
                }
                let (got, len) = inline_of(key, 7);
                assert_eq!((got.to_vec(), len as usize), (want, key.len()), "{n} bytes from {from}");
            }
        }
        let mut keys = Keys::default();
        let zeros: Vec<Vec<u8>> = (0..30).map(|n| [b"a".to_vec(), vec![0u8; n]].concat()).collect();
        let ids: Vec<u32> = zeros.iter().map(|k| keys.find_or_insert(hash_key(k), k).0).collect();
        assert_eq!(ids, (0..30).collect::<Vec<u32>>());
        for (k, &id) in zeros.iter().zip(&ids) {
            assert_eq!(keys.find(hash_key(k), k), Some(id));
        }
        // Long keys alike but for a middle byte, all given one hash (every probe walks them
        // all): each found as itself, through its bytes.
        let mut keys = Keys::default();
        let long: Vec<Vec<u8>> = (0..40u8).map(|i| [vec![b'x'; 30], vec![i], vec![b'y'; 30]].concat()).collect();
        let ids: Vec<u32> = long.iter().map(|k| keys.find_or_insert(1, k).0).collect();
        assert_eq!(ids, (0..40).collect::<Vec<u32>>());
        for (k, &id) in long.iter().zip(&ids) {
            assert_eq!(keys.find_or_insert(1, k), (id, false));
        }
    }

    #[test]
    fn keys_are_found_again_and_partitions_spread() {
        let mut keys = Keys::default();
        let words: Vec<String> = (0..5000).map(|i| format!("key{}", i % 1000)).collect();
        let mut ids = Vec::new();
        for w in &words {
            let (id, _) = keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes());
            ids.push(id);
        }
        assert_eq!(keys.len(), 1000);
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(keys.key(*id), w.as_bytes());
        }
        let p: Partitioned<Keys> = Partitioned::new_with(4, Keys::default);
        let mut seen = [0usize; 16];
        for w in &words[..1000] {
            seen[p.partition_of(hash_key(w.as_bytes()))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 30), "{seen:?}");
        assert_eq!(keys.find_or_insert(hash_key(b""), b""), (1000, true));
        assert_eq!(keys.key(1000), b"");
        // Keys longer than a slot holds, equal in their first bytes, differing after them.
        let long = |tail: &str| format!("{}{tail}", "p".repeat(40));
        let (a, new_a) = keys.find_or_insert(hash_key(long("a").as_bytes()), long("a").as_bytes());
        let (b, new_b) = keys.find_or_insert(hash_key(long("b").as_bytes()), long("b").as_bytes());
        assert!(new_a && new_b && a != b);
        assert_eq!(keys.find_or_insert(hash_key(long("a").as_bytes()), long("a").as_bytes()), (a, false));
        assert_eq!(keys.key(b), long("b").as_bytes());
        // Hashes that collide still find their own keys.
        let (x, _) = keys.find_or_insert(7, b"x");
        let (y, _) = keys.find_or_insert(7, b"y");
        assert_ne!(x, y);
        assert_eq!(keys.find_or_insert(7, b"y"), (y, false));
    }

    #[test]
    fn reserved_room_takes_the_keys_without_growing_and_find_only_finds() {
        let mut keys = Keys::default();
        let words: Vec<String> = (0..5000).map(|i| format!("k{i}{}", "x".repeat(i % 30))).collect();
        for w in &words[..1000] {
            keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes());
        }
        let bytes: usize = words[1000..].iter().map(String::len).sum();
        keys.reserve(4000, bytes);
        let (slots, key_bytes) = (keys.slots.as_ptr(), keys.bytes.as_ptr());
        for w in &words[1000..] {
            assert_eq!(keys.find(hash_key(w.as_bytes()), w.as_bytes()), None, "{w}");
            let (_, new) = keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes());
            assert!(new, "{w}");
        }
        assert_eq!((keys.slots.as_ptr(), keys.bytes.as_ptr()), (slots, key_bytes), "the table or the keys moved");
        for (i, w) in words.iter().enumerate() {
            assert_eq!(keys.find(hash_key(w.as_bytes()), w.as_bytes()), Some(i as u32), "{w}");
        }
        assert_eq!(Keys::default().find(hash_key(b"a"), b"a"), None);
    }

    /// A partition's keys, for merging.
    struct Set(std::collections::BTreeSet<u32>);

    impl Absorb for Set {
        fn groups(&self) -> usize {
            self.0.len()
        }
        fn shared(&self, other: &Set) -> f64 {
            if other.0.is_empty() { 1.0 } else { other.0.intersection(&self.0).count() as f64 / other.0.len() as f64 }
        }
        fn absorb(&mut self, other: Set, _shared: f64) {
            self.0.extend(other.0);
        }
    }

    /// Whole merges every partition's copies into one; Shared keeps apart the copies that share
    /// less than half of their keys with the largest, and merges the others.
    #[test]
    fn copies_that_share_few_groups_are_kept_apart() {
        let set = |r: std::ops::Range<u32>| Set(r.collect());
        let stores = || {
            let a = Partitioned { bits: 2, parts: vec![set(0..100), set(0..100), set(0..101), set(0..0)] };
            // Shares all, 60%, 41% and none (of an empty copy) of its keys with `a`'s copies.
            let b = Partitioned { bits: 2, parts: vec![set(0..50), set(40..140), set(60..160), set(0..0)] };
            vec![a, b]
        };
        let whole: Vec<Vec<u32>> =
            Partitioned::merge(stores(), None, Merge::Whole).into_iter().map(|s| s.0.into_iter().collect()).collect();
        let want: Vec<Vec<u32>> = vec![(0..100).collect(), (0..140).collect(), (0..160).collect(), vec![]];
        assert_eq!(whole, want);
        let shared: Vec<Vec<u32>> =
            Partitioned::merge(stores(), None, Merge::Shared).into_iter().map(|s| s.0.into_iter().collect()).collect();
        let want: Vec<Vec<u32>> =
            vec![(0..100).collect(), (0..140).collect(), (0..101).collect(), (60..160).collect(), vec![]];
        assert_eq!(shared, want);
    }

    /// Each partition's places, in the order they came, between its start and the next one's;
    /// the buffers' earlier contents do not matter.
    #[test]
    fn places_are_ordered_by_partition() {
        let p: Partitioned<()> = Partitioned::new_with(3, || ());
        let hashes: Vec<u64> = (0..500u64).map(|i| hash_key(&i.to_le_bytes())).collect();
        let (mut starts, mut order) = (vec![7; 3], vec![9; 1000]);
        for hashes in [&hashes[..], &hashes[..37], &[]] {
            p.order_by_partition(hashes, &mut starts, &mut order);
            assert_eq!((starts.len(), starts[0], starts[8] as usize, order.len()), (9, 0, hashes.len(), hashes.len()));
            for part in 0..8 {
                let want: Vec<u32> =
                    (0..hashes.len() as u32).filter(|&i| p.partition_of(hashes[i as usize]) == part).collect();
                assert_eq!(order[starts[part] as usize..starts[part + 1] as usize], want[..], "partition {part}");
            }
        }
    }

    #[test]
    fn keys_stay_readable_and_findable_after_the_table_is_dropped() {
        let mut keys = Keys::default();
        let words: Vec<String> = (0..3000).map(|i| format!("{}{i}", "w".repeat(i % 40))).collect();
        let ids: Vec<u32> = words.iter().map(|w| keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes()).0).collect();
        let before = keys.bytes();
        keys.drop_table();
        // At least a slot per key freed.
        assert!(keys.bytes() + 3000 * size_of::<Slot>() <= before, "{} of {before} bytes left", keys.bytes());
        for (w, &id) in words.iter().zip(&ids) {
            assert_eq!(keys.key(id), w.as_bytes());
        }
        // Looked up again, every key is found at its id (the table built from the hashes), and
        // a new key is added after them.
        for (w, &id) in words.iter().zip(&ids).rev() {
            assert_eq!(keys.find_or_insert(hash_key(w.as_bytes()), w.as_bytes()), (id, false), "{w}");
        }
        assert_eq!(keys.find_or_insert(hash_key(b"new"), b"new"), (3000, true));
    }
}
