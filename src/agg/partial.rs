//! Partial results on disk: what one shard of a job writes (`--partial-out`) and `pframe merge`
//! reads back, checks and merges.
//!
//! The file is JSON, self-describing and versioned: the format name and version, the pframe
//! version, the command and its query (everything that changes the answer), the identity of the
//! input (path, size, modification time and a checksum of its first and last 64 KiB), the shard
//! `I/N`, and the command's mergeable state (the same state the engines merge between chunks).
//! Floats in the state are stored as their bit patterns, so a merge is exact.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer as _, Serialize};

use crate::input::Shard;

/// The `format` field of every partial file.
pub const FORMAT: &str = "pframe-partial";
/// The version of the layout below; a merge refuses any other.
pub const VERSION: u32 = 3;

/// Which input a partial was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputId {
    /// The absolute path.
    pub path: String,
    pub size: u64,
    /// Modification time, seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// FNV-1a (64-bit) of the first and last 64 KiB, hex.
    pub fingerprint: String,
}

impl InputId {
    /// Identifies the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<InputId> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let mtime = meta.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        const BLOCK: u64 = 64 << 10;
        let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
        let mut buf = vec![0u8; BLOCK as usize];
        let n = (&mut file).take(BLOCK).read(&mut buf)?;
        hash.write(&buf[..n]);
        if meta.len() > BLOCK {
            file.seek(SeekFrom::Start(meta.len().saturating_sub(BLOCK).max(BLOCK)))?;
            let mut tail = Vec::new();
            file.take(BLOCK).read_to_end(&mut tail)?;
            hash.write(&tail);
        }
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(InputId {
            path: abs.display().to_string(),
            size: meta.len(),
            mtime: (mtime.as_secs() as i64, mtime.subsec_nanos()),
            fingerprint: format!("{:016x}", hash.0),
        })
    }
}

struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One shard's partial result: its state `S` is written from the command's own types, and read
/// back as a [`PartialState`], parsed into those types only when merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialFile<S = PartialState> {
    pub format: String,
    pub version: u32,
    /// The pframe that wrote it (informational: the format version decides compatibility).
    pub pframe: String,
    /// `count` or `groupby`.
    pub command: String,
    /// Everything that changes the answer, as the command canonicalizes it.
    pub query: serde_json::Value,
    pub input: InputId,
    pub shard: Shard,
    /// The bytes of the input this shard read, `[start, end)`: each shard must start where the
    /// previous one ended (see [`crate::input::shard_range`]).
    pub range: (u64, u64),
    /// The command's mergeable state.
    pub state: S,
}

/// A partial file's state, read into the command's types when it is merged: from the file,
/// read again then (so that a merge holds one shard's file at a time, not all of them) and
/// parsed from its bytes (a tree of JSON values took 4 KB a group: a merge of two shards of 1e6
/// groups used 24 GB), or from a state recomputed here.
#[derive(Debug, Clone, PartialEq)]
pub enum PartialState {
    /// The partial file (its `state` field holds the state).
    File(PathBuf),
    Value(serde_json::Value),
}

impl PartialState {
    /// The state as the command's type `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        self.parse_seed(std::marker::PhantomData::<T>)
    }

    /// The state parsed by `seed` (which may take it in as it is read, as a group-by's merge
    /// takes each group).
    pub fn parse_seed<S, V>(&self, seed: S) -> Result<V, String>
    where
        S: for<'de> DeserializeSeed<'de, Value = V>,
    {
        match self {
            PartialState::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
                let mut de = serde_json::Deserializer::from_slice(&bytes);
                let state = de.deserialize_map(StateField(seed)).and_then(|v| de.end().map(|()| v));
                state.map_err(|e| format!("{}: {e}", path.display()))
            }
            PartialState::Value(v) => seed.deserialize(v).map_err(|e| e.to_string()),
        }
    }
}

/// Finds a partial file's `state` field and parses it with the seed it holds; every other field
/// is skipped unparsed.
struct StateField<S>(S);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for StateField<S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a pframe partial file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Value, A::Error> {
        let (mut seed, mut state) = (Some(self.0), None);
        while let Some(field) = map.next_key::<String>()? {
            match (field.as_str(), seed.take()) {
                ("state", Some(s)) => state = Some(map.next_value_seed(s)?),
                ("state", None) => return Err(A::Error::duplicate_field("state")),
                (_, s) => {
                    seed = s;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        state.ok_or_else(|| A::Error::missing_field("state"))
    }
}

/// Why a set of partial files cannot be merged. Every message names the files concerned.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("no partial files given")]
    Empty,
    #[error("{path}: {what} differs from {first}'s: {theirs} instead of {ours}")]
    Mismatch { path: String, first: String, what: &'static str, ours: String, theirs: String },
    #[error("shard {index}/{count} is given twice: {a} and {b}")]
    Duplicate { index: u32, count: u32, a: String, b: String },
    #[error("missing shard{s} {missing} of {count} (have {have})", s = if missing.contains(',') { "s" } else { "" })]
    Missing { missing: String, count: u32, have: usize },
}

/// Reads a partial file, checking its format and version.
pub fn read(path: &Path) -> Result<PartialFile, MergeError> {
    let err = |message: String| MergeError::Read { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    // The format and version first (the rest, the state above all, skipped unparsed).
    #[derive(Deserialize)]
    struct Head {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| err(format!("not a pframe partial file: {e}")))?;
    if head.format.as_ref().and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(err("not a pframe partial file (no \"format\": \"pframe-partial\")".into()));
    }
    let version = head.version.as_ref().and_then(|v| v.as_u64());
    if version != Some(u64::from(VERSION)) {
        return Err(err(format!(
            "partial format version {} is not {VERSION}, the version this pframe reads",
            version.map_or("?".into(), |v| v.to_string())
        )));
    }
    let file: PartialFile<serde::de::IgnoredAny> =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("malformed partial file: {e}")))?;
    Ok(PartialFile {
        format: file.format,
        version: file.version,
        pframe: file.pframe,
        command: file.command,
        query: file.query,
        input: file.input,
        shard: file.shard,
        range: file.range,
        state: PartialState::File(path.to_path_buf()),
    })
}

/// Checks that `parts` are the shards 0..N-1 of one query over one input, each exactly once, and
/// returns them in shard order.
pub fn check_set(parts: Vec<(PathBuf, PartialFile)>) -> Result<Vec<(PathBuf, PartialFile)>, MergeError> {
    let Some((first_path, first)) = parts.first().cloned() else {
        return Err(MergeError::Empty);
    };
    let name = |p: &Path| p.display().to_string();
    let mut by_index: BTreeMap<u32, (PathBuf, PartialFile)> = BTreeMap::new();
    for (path, part) in parts {
        let mismatch = |what: &'static str, ours: String, theirs: String| MergeError::Mismatch {
            path: name(&path),
            first: name(&first_path),
            what,
            ours,
            theirs,
        };
        if part.command != first.command {
            return Err(mismatch("the command", first.command.clone(), part.command.clone()));
        }
        if part.query != first.query {
            return Err(mismatch("the query", first.query.to_string(), part.query.to_string()));
        }
        if part.input != first.input {
            let show = |i: &InputId| format!("{} ({} bytes, checksum {})", i.path, i.size, i.fingerprint);
            return Err(mismatch("the input", show(&first.input), show(&part.input)));
        }
        if part.shard.count != first.shard.count {
            return Err(mismatch("the number of shards", first.shard.count.to_string(), part.shard.count.to_string()));
        }
        let index = part.shard.index;
        if let Some((other, _)) = by_index.get(&index) {
            return Err(MergeError::Duplicate { index, count: part.shard.count, a: name(other), b: name(&path) });
        }
        by_index.insert(index, (path, part));
    }
    let count = first.shard.count;
    let missing: Vec<String> = (0..count).filter(|i| !by_index.contains_key(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing: missing.join(", "), count, have: by_index.len() });
    }
    Ok(by_index.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: u32, count: u32, query: &str, size: u64) -> (PathBuf, PartialFile) {
        let p = PartialFile {
            format: FORMAT.into(),
            version: VERSION,
            pframe: "test".into(),
            command: "count".into(),
            query: serde_json::json!({ "unit": query }),
            input: InputId { path: "/data/w.txt".into(), size, mtime: (1, 2), fingerprint: "00ff".into() },
            shard: Shard { index, count },
            range: (0, 0),
            state: PartialState::Value(serde_json::Value::Null),
        };
        (PathBuf::from(format!("part-{index}.json")), p)
    }

    #[test]
    fn a_complete_set_comes_back_in_shard_order() {
        let set =
            check_set(vec![part(2, 3, "letters", 9), part(0, 3, "letters", 9), part(1, 3, "letters", 9)]).unwrap();
        assert_eq!(set.iter().map(|(_, p)| p.shard.index).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn incomplete_duplicated_and_mismatched_sets_are_refused() {
        let msg = |parts| check_set(parts).unwrap_err().to_string();
        assert_eq!(msg(vec![part(0, 4, "letters", 9), part(2, 4, "letters", 9)]), "missing shards 1, 3 of 4 (have 2)");
        assert_eq!(msg(vec![part(1, 2, "letters", 9)]), "missing shard 0 of 2 (have 1)");
        assert_eq!(
            msg(vec![part(0, 2, "letters", 9), part(0, 2, "letters", 9)]),
            "shard 0/2 is given twice: part-0.json and part-0.json"
        );
        assert_eq!(
            msg(vec![part(0, 2, "letters", 9), part(1, 2, "words", 9)]),
            "part-1.json: the query differs from part-0.json's: {\"unit\":\"words\"} instead of {\"unit\":\"letters\"}"
        );
        assert!(
            msg(vec![part(0, 2, "letters", 9), part(1, 2, "letters", 10)])
                .starts_with("part-1.json: the input differs")
        );
        assert_eq!(
            msg(vec![part(0, 2, "letters", 9), part(1, 3, "letters", 9)]),
            "part-1.json: the number of shards differs from part-0.json's: 3 instead of 2"
        );
        assert_eq!(msg(vec![]), "no partial files given");
    }
}
