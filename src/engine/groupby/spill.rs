//! Out-of-core group-by: groups beyond the memory limit go to temporary files, and the result is
//! read back from them in key order, so any number of groups finishes in bounded memory with the
//! answer the in-memory run gives.
//!
//! While the input is aggregated, the stores are measured after every chunk ([`Spill::check`]):
//! when the workers' own stores and the shared one together pass the budget, the worker that
//! measured them writes out its own store and the shared one's partitions one by one, each
//! replaced by an empty one (the other workers go on adding to those). A spilled store is cut by hash
//! into [`FILES`] partitions, each appended to its own file as records of a key and its groups'
//! states (the states partial files carry). A key's copies, from every spill of every worker, so
//! land in one file. Every file is removed from its directory as soon as it is made and read back
//! through its handle, so that no spilled data outlives the process, however it ends.
//!
//! At the end ([`Spill::finish`]) the stores still in memory are spilled too, and each file, one
//! per thread at a time, is merged into one table of its groups, whose keys are then written in a
//! *normalized* form that compares as the typed keys do (as DuckDB's sort keys: a byte for null or
//! not, then an integer's or a float's ordered bits big-endian, or a text's bytes escaped and
//! terminated), sorted, to a run file. The runs are merged by the normalized keys
//! ([`Merger`]): equal normalized keys are equal typed keys (the same number spelled `7` and
//! `07`, in two files), whose states merge there, as the in-memory finish merges them.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use super::chunk::{Part, Store, Target, lock};
use super::keys::{self, KeyField, KeyRule};
use super::{GroupByPlan, chunk};
use crate::agg::groupby::{Kind, State};
use crate::input::value::KeyNum;
use crate::output::Value;

/// Spill partitions (files): enough that one file's groups, merged, are a small part of what
/// spilled (1e8 groups of about 60 bytes make 6 GB, about 23 MB a file).
pub(super) const FILES: usize = 256;

/// The bits of a key's hash that choose its file (below those that choose a store's partition).
const FILE_SHIFT: u32 = 24;

/// Bytes of a file's records gathered before they are appended to it.
const FLUSH: usize = 1 << 16;

/// The budget of the workers' stores, and the files they spill to once they pass it.
pub(super) struct Spill {
    /// The memory limit; the store may hold about half of it (the rest: chunks in flight, a
    /// table growing, the allocator's slack).
    limit: u64,
    budget: usize,
    /// Per worker's own store, its bytes at its last check.
    sizes: Vec<AtomicUsize>,
    /// Set while a worker writes the shared store out, so that the others do not too.
    spilling: AtomicBool,
    files: OnceLock<io::Result<Files>>,
    spills: AtomicUsize,
    written: AtomicU64,
}

/// The spill files, each made when the first records reach it.
struct Files {
    dir: tempfile::TempDir,
    parts: Vec<Mutex<Option<File>>>,
}

impl Files {
    /// Appends `bytes` to file `f`.
    fn append(&self, f: usize, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.parts[f].lock().expect("a spill file");
        let file = match &mut *file {
            Some(file) => file,
            none => none.insert(anonymous(self.dir.path())?),
        };
        file.write_all(bytes)
    }
}

/// A file to write and read back with no name in `dir` (O_TMPFILE, or made and removed at once
/// where that is missing): it is gone when its handle closes, however the process ends (an
/// interrupt leaves no spilled data behind).
fn anonymous(dir: &std::path::Path) -> io::Result<File> {
    tempfile::tempfile_in(dir)
}

/// A file written through `file`, read from its start.
fn rewound(mut file: File) -> io::Result<BufReader<File>> {
    file.seek(io::SeekFrom::Start(0))?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

/// What a spilled group-by left: the files of its partitions, and what to say about them.
pub(super) struct Spilled {
    files: Files,
    pub note: String,
}

fn temp_error(e: io::Error) -> io::Error {
    let dir = std::env::temp_dir();
    io::Error::new(e.kind(), format!("cannot write temporary files in {} (TMPDIR): {e}", dir.display()))
}

impl Spill {
    pub fn new(limit: u64, workers: usize) -> Spill {
        Spill {
            limit,
            budget: usize::try_from(limit / 2).unwrap_or(usize::MAX),
            sizes: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            spilling: AtomicBool::new(false),
            files: OnceLock::new(),
            spills: AtomicUsize::new(0),
            written: AtomicU64::new(0),
        }
    }

    /// The bytes the stores may take together before they spill.
    pub fn budget(&self) -> usize {
        self.budget
    }

    pub fn has_spilled(&self) -> bool {
        self.spills.load(Ordering::Relaxed) > 0
    }

    /// Measures worker `slot`'s store and the shared one after a chunk, and spills both if the
    /// stores together pass the budget (the shared one unless another worker is spilling it).
    pub fn check(&self, slot: usize, target: &Target<'_>) -> io::Result<()> {
        let mut own = target.own.lock().expect("a worker's store");
        let own_bytes: usize = own.parts.iter().map(Part::bytes).sum();
        self.sizes[slot].store(own_bytes, Ordering::Relaxed);
        let shared_bytes: usize = target.shared.parts.iter().map(|p| lock(p).bytes()).sum();
        let total = shared_bytes + self.sizes.iter().map(|s| s.load(Ordering::Relaxed)).sum::<usize>();
        if total <= self.budget {
            return Ok(());
        }
        let n_aggs = target.plan.aggs.len();
        let full = std::mem::replace(&mut *own, chunk::new_store(target.plan));
        drop(own);
        let mut out = self.writer()?;
        for part in &full.parts {
            out.part(part, n_aggs)?;
        }
        drop(full);
        // Counted until written: the other workers' stores grow meanwhile.
        self.sizes[slot].store(0, Ordering::Relaxed);
        if !self.spilling.swap(true, Ordering::Acquire) {
            let written = (|| {
                for part in &target.shared.parts {
                    let full = std::mem::replace(&mut *lock(part), Part::new(target.plan));
                    out.part(&full, n_aggs)?;
                }
                Ok::<(), io::Error>(())
            })();
            self.spilling.store(false, Ordering::Release);
            written?;
        }
        out.close()
    }

    fn files(&self) -> io::Result<&Files> {
        let files = self.files.get_or_init(|| {
            let dir = tempfile::Builder::new().prefix("pframe-spill-").tempdir()?;
            Ok(Files { dir, parts: (0..FILES).map(|_| Mutex::new(None)).collect() })
        });
        files.as_ref().map_err(|e| temp_error(io::Error::new(e.kind(), e.to_string())))
    }

    /// Starts writing a store out.
    fn writer(&self) -> io::Result<SpillWriter<'_>> {
        Ok(SpillWriter {
            spill: self,
            files: self.files()?,
            bufs: vec![Vec::new(); FILES],
            states: Vec::new(),
            written: 0,
        })
    }

    /// Spills the stores still in memory and closes the files: what the result is read from.
    pub fn finish(self, stores: Vec<Store>, n_aggs: usize) -> io::Result<Spilled> {
        let mut out = self.writer()?;
        for store in stores {
            for part in &store.parts {
                out.part(part, n_aggs)?;
            }
        }
        out.close()?;
        let Some(Ok(files)) = self.files.into_inner() else { unreachable!("files made by the first spill") };
        let note = format!(
            "the groups passed the memory limit ({}): {} of partial groups went to temporary files in {} \
             ({} spills) and were merged back (--memory-limit sets the limit)",
            size_text(self.limit),
            size_text(self.written.load(Ordering::Relaxed)),
            files.dir.path().parent().unwrap_or(files.dir.path()).display(),
            self.spills.load(Ordering::Relaxed),
        );
        Ok(Spilled { files, note })
    }
}

/// One spill of the store under way: each group's record appended to its file's buffer, each
/// buffer appended to its file when it fills.
struct SpillWriter<'a> {
    spill: &'a Spill,
    files: &'a Files,
    bufs: Vec<Vec<u8>>,
    states: Vec<State>,
    written: u64,
}

impl SpillWriter<'_> {
    fn flush(&mut self, f: usize) -> io::Result<()> {
        self.written += self.bufs[f].len() as u64;
        self.files.append(f, &self.bufs[f]).map_err(temp_error)?;
        self.bufs[f].clear();
        Ok(())
    }

    /// Writes every group of `part` to its file.
    fn part(&mut self, part: &Part, n_aggs: usize) -> io::Result<()> {
        for id in 0..part.keys.len() as u32 {
            let f = file_of(part.keys.hash(id));
            self.states.clear();
            self.states.extend((0..n_aggs).map(|agg| part.states.state(agg, id)));
            write_record(&mut self.bufs[f], part.keys.key(id), &self.states);
            if self.bufs[f].len() >= FLUSH {
                self.flush(f)?;
            }
        }
        Ok(())
    }

    /// Writes what the buffers hold: the spill is complete (and counted, if it wrote anything:
    /// a worker whose own store is empty while another writes the shared one spills nothing).
    fn close(mut self) -> io::Result<()> {
        for f in 0..FILES {
            if !self.bufs[f].is_empty() {
                self.flush(f)?;
            }
        }
        if self.written == 0 {
            return Ok(());
        }
        self.spill.spills.fetch_add(1, Ordering::Relaxed);
        self.spill.written.fetch_add(self.written, Ordering::Relaxed);
        Ok(())
    }
}

/// Bytes as people read them: `512 B`, `64.0 KiB`, `1.5 GiB`.
fn size_text(bytes: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let (mut x, mut unit) = (bytes as f64, "B");
    for u in units {
        if x < 1024.0 {
            break;
        }
        x /= 1024.0;
        unit = u;
    }
    if unit == "B" { format!("{bytes} B") } else { format!("{x:.1} {unit}") }
}

/// A key's file: hash bits apart from those that choose a store's partition and a table slot.
fn file_of(hash: u64) -> usize {
    (hash >> FILE_SHIFT) as usize % FILES
}

/// Appends a record: the key's length and bytes, then its states' length and encoding.
fn write_record(out: &mut Vec<u8>, key: &[u8], states: &[State]) {
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let encoded = postcard::to_extend(states, std::mem::take(out)).expect("states encode");
    *out = encoded;
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Reads the next record's two fields into `key` and `states` (a key and its states' encoding,
/// or a normalized key and the states'); false at the end of the file.
fn read_record(r: &mut impl Read, key: &mut Vec<u8>, states: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    key.resize(u32::from_le_bytes(len) as usize, 0);
    r.read_exact(key)?;
    r.read_exact(&mut len)?;
    states.resize(u32::from_le_bytes(len) as usize, 0);
    r.read_exact(states)?;
    Ok(true)
}

fn decode_states(bytes: &[u8]) -> io::Result<Vec<State>> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("a spill file: {e}")))
}

/// How the key columns are typed at the end: each one's kind and rule.
#[derive(Clone)]
pub(super) struct KeyTypes {
    pub kinds: Vec<Kind>,
    pub rules: Vec<KeyRule>,
}

/// The null's tag in a normalized key: after every value's, so nulls sort last.
const N_NULL: u8 = 1;
const N_VALUE: u8 = 0;

impl KeyTypes {
    /// Appends `key`'s normalized form: per field, [`N_NULL`], or [`N_VALUE`] and then an
    /// integer's bits (sign flipped) or a float's ordered bits, big-endian, or a text's bytes with
    /// each 0 written as 0 1, ended by 0 0. Byte order is the typed keys' order, and equal forms
    /// are equal typed keys.
    fn normalize(&self, key: &[u8], out: &mut Vec<u8>) {
        for ((raw, &kind), &rule) in keys::raw_fields(key).zip(&self.kinds).zip(&self.rules) {
            let Some(raw) = raw else {
                out.push(N_NULL);
                continue;
            };
            out.push(N_VALUE);
            match (kind, KeyField::number(raw, rule)) {
                (Kind::Int, Some(KeyNum::Int(i))) => {
                    out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
                }
                (Kind::Float, Some(n)) => {
                    out.extend_from_slice(&super::finish::ordered_bits(n.num().as_f64()).to_be_bytes());
                }
                _ => {
                    for &b in raw {
                        out.push(b);
                        if b == 0 {
                            out.push(1);
                        }
                    }
                    out.extend_from_slice(&[0, 0]);
                }
            }
        }
    }

    /// The key values a normalized key stands for, as the result shows them.
    fn values(&self, mut key: &[u8]) -> Vec<Value> {
        let mut out = Vec::with_capacity(self.kinds.len());
        let word = |k: &mut &[u8]| {
            let (w, rest) = k.split_at(8);
            *k = rest;
            u64::from_be_bytes(w.try_into().expect("8 bytes"))
        };
        for &kind in &self.kinds {
            let (&tag, rest) = key.split_first().expect("a normalized field");
            key = rest;
            if tag == N_NULL {
                out.push(Value::Null);
                continue;
            }
            out.push(match kind {
                Kind::Int => Value::Int((word(&mut key) ^ (1 << 63)) as i64),
                Kind::Float => Value::Float(super::finish::from_ordered_bits(word(&mut key))),
                _ => {
                    let mut text = Vec::new();
                    loop {
                        match key {
                            [0, 0, rest @ ..] => {
                                key = rest;
                                break;
                            }
                            [0, 1, rest @ ..] => {
                                text.push(0);
                                key = rest;
                            }
                            [b, rest @ ..] => {
                                text.push(*b);
                                key = rest;
                            }
                            [] => unreachable!("a terminated text"),
                        }
                    }
                    Value::Str(String::from_utf8_lossy(&text).into_owned())
                }
            });
        }
        out
    }
}

impl Spilled {
    /// Merges each file's groups and writes them sorted by normalized key to a run beside it
    /// (files in parallel on `pool`, each on one thread); returns the runs' merge.
    pub fn sorted(self, plan: &GroupByPlan, types: KeyTypes, pool: Option<&rayon::ThreadPool>) -> io::Result<Merger> {
        let Spilled { files, .. } = self;
        let dir = files.dir;
        let parts: Vec<File> = files.parts.into_iter().filter_map(|p| p.into_inner().expect("a spill file")).collect();
        let sort = |file: File| sort_file(plan, &types, file, dir.path());
        let runs: Vec<Option<File>> = match pool {
            Some(pool) => pool.install(|| parts.into_par_iter().map(sort).collect::<io::Result<_>>())?,
            None => parts.into_iter().map(sort).collect::<io::Result<_>>()?,
        };
        let mut merger =
            Merger { _dir: dir, runs: Vec::new(), heap: BinaryHeap::new(), types, n_aggs: plan.aggs.len() };
        for run in runs.into_iter().flatten() {
            merger.runs.push(Run { reader: rewound(run)? });
            merger.advance(merger.runs.len() - 1, Vec::new(), Vec::new())?;
        }
        Ok(merger)
    }
}

/// Merges the groups of a spill file and writes them, sorted by normalized key, to a run file
/// (none when the file is empty); the spill file closes.
fn sort_file(plan: &GroupByPlan, types: &KeyTypes, file: File, dir: &std::path::Path) -> io::Result<Option<File>> {
    let mut part = Part::new(plan);
    {
        let mut reader = rewound(file)?;
        let (mut key, mut bytes) = (Vec::new(), Vec::new());
        while read_record(&mut reader, &mut key, &mut bytes)? {
            let (id, _) = part.group(super::table::hash_key(&key), &key);
            for (agg, state) in decode_states(&bytes)?.into_iter().enumerate() {
                part.states.merge_state(agg, id, state);
            }
        }
    }
    if part.keys.is_empty() {
        return Ok(None);
    }
    let mut normalized = Vec::new();
    let mut order: Vec<(usize, usize, u32)> = Vec::with_capacity(part.keys.len());
    for id in 0..part.keys.len() as u32 {
        let start = normalized.len();
        types.normalize(part.keys.key(id), &mut normalized);
        order.push((start, normalized.len(), id));
    }
    order.sort_unstable_by(|a, b| normalized[a.0..a.1].cmp(&normalized[b.0..b.1]));
    let mut out = BufWriter::with_capacity(1 << 16, anonymous(dir).map_err(temp_error)?);
    let mut record = Vec::new();
    let mut states = Vec::with_capacity(plan.aggs.len());
    for &(start, end, id) in &order {
        states.clear();
        states.extend((0..plan.aggs.len()).map(|agg| part.states.state(agg, id)));
        record.clear();
        write_record(&mut record, &normalized[start..end], &states);
        out.write_all(&record).map_err(temp_error)?;
    }
    let run = out.into_inner().map_err(|e| temp_error(e.into_error()))?;
    Ok(Some(run))
}

/// A sorted run being read.
struct Run {
    reader: BufReader<File>,
}

/// A run's next group: its normalized key and its states' encoding.
struct Head {
    key: Vec<u8>,
    run: usize,
    states: Vec<u8>,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    /// Reversed, for a max-heap to give the least key (of equal keys, the first run's).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.key.cmp(&self.key).then_with(|| other.run.cmp(&self.run))
    }
}

/// The groups of every run in key order, equal typed keys merged.
pub(super) struct Merger {
    _dir: tempfile::TempDir,
    runs: Vec<Run>,
    heap: BinaryHeap<Head>,
    types: KeyTypes,
    n_aggs: usize,
}

impl Merger {
    /// The next group: its key values and its states, merged over the runs that hold its key.
    pub fn next_group(&mut self) -> io::Result<Option<(Vec<Value>, Vec<State>)>> {
        let Some(head) = self.heap.pop() else { return Ok(None) };
        let mut states = decode_states(&head.states)?;
        if states.len() != self.n_aggs {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "a spill file's record of another query"));
        }
        let Head { key, run, states: buf } = head;
        self.advance(run, Vec::new(), buf)?;
        while self.heap.peek().is_some_and(|h| h.key == key) {
            let other = self.heap.pop().expect("a head");
            for (state, theirs) in states.iter_mut().zip(decode_states(&other.states)?) {
                state.merge(theirs);
            }
            self.advance(other.run, other.key, other.states)?;
        }
        Ok(Some((self.types.values(&key), states)))
    }

    /// Reads run `r`'s next group into the heap (into the buffers `key` and `states`).
    fn advance(&mut self, r: usize, mut key: Vec<u8>, mut states: Vec<u8>) -> io::Result<()> {
        if read_record(&mut self.runs[r].reader, &mut key, &mut states)? {
            self.heap.push(Head { key, run: r, states });
        }
        Ok(())
    }
}
