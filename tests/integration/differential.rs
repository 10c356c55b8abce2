//! Every path that reads CSV, against every other, on random awkward files (issue 10): the
//! group-by engines at any chunk size, mapped or read, whole or in shards; `sql`'s row-wise,
//! GROUP BY and whole-input paths; and, outside pframe, Python's `csv` module with pframe's
//! documented rules. Well-formed files get one answer everywhere; malformed ones the serial
//! engine's answer or an error on every path.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use pframe::agg::groupby::parse_aggs;
use pframe::engine::Engine;
use pframe::engine::groupby::{GroupByPlan, InputFormat, group_by, group_by_state, merge_states};
use pframe::engine::sql::{SqlPlan, sql_stream};
use pframe::input::value::NullValues;
use pframe::input::{ReadOptions, Shard, Source};
use pframe::output::{Format, Part, RowWriter, Rows, Table};

/// Fields that make CSV awkward: quoted delimiters, quotes and newlines, empty quoted fields,
/// numbers spelled several ways, text, a stray quote inside a field, text after a closing quote,
/// carriage returns inside and outside quotes, non-ASCII text.
const FIELDS: &[&str] = &[
    "",
    "\"\"",
    "a",
    "b",
    "\"a\"",
    "\"a,b\"",
    "\"x\ny\"",
    "\"x\r\ny\"",
    "\"q\"\"\"",
    "1",
    "01",
    "+1",
    " 1",
    "1.0",
    "-2",
    "2.5",
    ".5",
    "1e3",
    "oops",
    "\u{e9}t\u{e9}",
    "ab\"c",
    "\"x\"y",
    "\"c\rd\"",
];

/// Numbers spelled several ways, and nulls: the values of a numeric column.
const NUMBERS: &[&str] = &["", "\"\"", "1", "01", "+1", " 1", "1.0", "-2", "2.5", ".5", "1e3", "\"7\""];

/// Only the fields whose reading no CSV reader disputes (no stray quote, no lone carriage return).
const PLAIN: &[&str] =
    &["", "\"\"", "a", "b", "\"a,b\"", "\"x\ny\"", "\"q\"\"\"", "1", "01", "+1", "1.0", "-2", "2.5", "oops"];

/// Numbers a well-formed file's numeric column holds.
const PLAIN_NUMBERS: &[&str] = &["", "\"\"", "1", "01", "+1", "1.0", "-2", "2.5"];

/// Header `k,v,w` (perhaps quoted, after a BOM or blank lines), rows of three fields: `k` and `w`
/// from `fields`, `v` from `numbers` (or, in a fifth of the files, from `fields`); LF, CRLF or
/// (with `lone_cr`) lone CR endings, blank lines, sometimes no final newline; with `ragged`, a
/// sixth of the files have a row one field short.
fn csv_with(
    fields: &'static [&'static str],
    numbers: &'static [&'static str],
    ragged: bool,
    lone_cr: bool,
) -> impl Strategy<Value = Vec<u8>> {
    let row = (
        prop::sample::select(fields),
        prop::sample::select(numbers),
        prop::sample::select(fields),
        prop::sample::select(fields),
        0u8..if lone_cr { 3 } else { 2 },
        prop::bool::weighted(0.08),
    );
    let header = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let shape = (prop::bool::weighted(0.2), prop::bool::weighted(if ragged { 0.17 } else { 0.0 }), any::<usize>());
    (prop::collection::vec(row, 0..30), header, shape).prop_map(
        move |(rows, (bom, blank_start, quoted_header, final_newline), (text_v, short, short_at))| {
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            if blank_start {
                s.push_str("\n\r\n");
            }
            s.push_str(if quoted_header { "\"k\",v,\"w\"\n" } else { "k,v,w\n" });
            let short_at = if short && !rows.is_empty() { short_at % rows.len() } else { usize::MAX };
            for (i, (k, v, w, text, ending, blank)) in rows.into_iter().enumerate() {
                let v = if text_v { text } else { v };
                let end = ["\n", "\r\n", "\r"][ending as usize];
                if blank {
                    s.push('\n');
                }
                let fields = if i == short_at { format!("{k},{v}") } else { format!("{k},{v},{w}") };
                s.push_str(&fields);
                s.push_str(end);
            }
            if !final_newline && s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s.into_bytes()
        },
    )
}

fn write(dir: &Path, data: &[u8]) -> std::path::PathBuf {
    let path = dir.join("in.csv");
    std::fs::write(&path, data).unwrap();
    path
}

fn plan(aggs: &str, engine: Engine, chunk_size: usize, mmap: bool) -> GroupByPlan {
    GroupByPlan {
        by: vec!["k".into()],
        aggs: parse_aggs(aggs).unwrap(),
        engine,
        threads: 2,
        read: ReadOptions { chunk_size, mmap, ..ReadOptions::default() },
        delimiter: b',',
        no_header: false,
        schema: Vec::new(),
        input_format: InputFormat::Csv,
        null_values: NullValues::default(),
        memory_limit: None,
        shared_from: None,
        unordered: false,
    }
}

fn csv_of(table: &Table) -> String {
    let mut out = Vec::new();
    table.write(Format::Csv, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A result as text, or its error with the file's path masked.
fn shown<E: std::fmt::Display>(r: Result<Table, E>, path: &Path) -> String {
    match r {
        Ok(t) => csv_of(&t),
        Err(e) => format!("error: {}", e.to_string().replace(&path.display().to_string(), "FILE")),
    }
}

fn group_by_at(path: &Path, aggs: &str, engine: Engine, chunk_size: usize, mmap: bool) -> String {
    group_by_limited(path, aggs, engine, chunk_size, mmap, None)
}

/// The group-by under a memory limit: a few bytes make every chunk's groups spill.
fn group_by_limited(
    path: &Path,
    aggs: &str,
    engine: Engine,
    chunk_size: usize,
    mmap: bool,
    memory_limit: Option<u64>,
) -> String {
    group_by_planned(path, GroupByPlan { memory_limit, ..plan(aggs, engine, chunk_size, mmap) })
}

/// The group-by with every worker adding to the shared store from its second chunk on (after
/// moving its first chunk's groups there), under a memory limit or not.
fn group_by_shared(path: &Path, aggs: &str, engine: Engine, chunk_size: usize, memory_limit: Option<u64>) -> String {
    group_by_planned(path, GroupByPlan { memory_limit, shared_from: Some(0), ..plan(aggs, engine, chunk_size, true) })
}

fn group_by_planned(path: &Path, plan: GroupByPlan) -> String {
    shown(
        group_by(&plan, &[Source::File(path.to_path_buf())]).map(|g| g.into_table().expect("the rows read back")),
        path,
    )
}

/// The group-by as `n` shards whose states are merged, as `pframe merge` does.
fn group_by_shards(path: &Path, aggs: &str, n: u32) -> String {
    let mut states = Vec::new();
    for index in 0..n {
        let mut p = plan(aggs, Engine::Parallel, 7, true);
        p.read.shard = Some(Shard { index, count: n });
        // A shard starts exactly where the one before it ended (the merge checks this in pframe).
        if index > 0 {
            p.read.shard_start = Some(
                pframe::input::exact_shard_start(
                    path,
                    Shard { index, count: n },
                    pframe::input::CsvBoundary::new(b',', b'"'),
                )
                .unwrap(),
            );
        }
        match group_by_state(&p, &[Source::File(path.to_path_buf())]) {
            Ok((state, _)) => states.push(state),
            Err(e) => return format!("error: {}", e.to_string().replace(&path.display().to_string(), "FILE")),
        }
    }
    shown(
        merge_states(&plan(aggs, Engine::Serial, 1, true), &path.display().to_string(), states)
            .map(|g| g.into_table().expect("the rows read back")),
        path,
    )
}

fn sql_at(path: &Path, query: &str, chunk_size: usize) -> Result<String, String> {
    let plan = SqlPlan {
        query: query.to_string(),
        delimiter: b',',
        no_header: false,
        schema: Vec::new(),
        null_values: NullValues::default(),
        read: ReadOptions { chunk_size, ..ReadOptions::default() },
        threads: 2,
        table: "t".to_string(),
        others: Vec::new(),
        chunk_size_given: true,
        memory_limit: None,
        unordered: false,
    };
    let mut out = Vec::new();
    let mut writer: Option<RowWriter> = None;
    let render = |headers: &[String], rows: Rows<'_>| Part::of(Format::Csv, headers, rows);
    sql_stream(
        &plan,
        &Source::File(path.to_path_buf()),
        render,
        |headers, part| {
            let w = writer.get_or_insert_with(|| RowWriter::new(Format::Csv, headers));
            w.part(part, &mut out)
        },
        |_| {},
    )
    .map_err(|e| e.to_string().replace(&path.display().to_string(), "FILE"))?;
    writer.expect("a header").finish(&mut out).unwrap();
    Ok(String::from_utf8(out).unwrap())
}

const AGGS: &str = "count,count(v),sum(v),mean(v),min(w),max(w),first(v),last(w),n_unique(w)";

/// The number of records the group-by counted (its `count` column's total).
fn records_counted(groups: &str) -> Option<u64> {
    let mut reader = csv::Reader::from_reader(groups.as_bytes());
    let at = reader.headers().ok()?.iter().position(|h| h == "count")?;
    reader.records().map(|r| r.ok()?.get(at)?.parse::<u64>().ok()).sum()
}

/// Every path over one file (see the module docs).
fn check_every_path(data: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), data);
    let reference = group_by_at(&path, AGGS, Engine::Serial, 1 << 20, true);
    for engine in Engine::ALL {
        for size in [1, 7, 64, 1 << 20] {
            for mmap in [true, false] {
                let got = group_by_at(&path, AGGS, engine, size, mmap);
                prop_assert_eq!(&got, &reference, "engine {} size {} mmap {}", engine, size, mmap);
            }
        }
    }
    for n in [2, 3] {
        prop_assert_eq!(&group_by_shards(&path, AGGS, n), &reference, "{} shards", n);
    }
    // The workers' shared store, from the second chunk on (or from the first, for a chunk of the
    // whole file).
    for (engine, size) in [(Engine::Parallel, 1), (Engine::Parallel, 7), (Engine::Polars, 64), (Engine::Serial, 5)] {
        let got = group_by_shared(&path, AGGS, engine, size, None);
        prop_assert_eq!(&got, &reference, "shared store: engine {} size {}", engine, size);
    }
    // Spilled: every chunk's groups to the files (a limit of one byte), or some of them.
    for (engine, size, limit) in [(Engine::Serial, 1, 1), (Engine::Parallel, 7, 1), (Engine::Parallel, 3, 2000)] {
        let got = group_by_limited(&path, AGGS, engine, size, true, Some(limit));
        prop_assert_eq!(&got, &reference, "spilled: engine {} size {} limit {}", engine, size, limit);
        let got = group_by_shared(&path, AGGS, engine, size, Some(limit));
        prop_assert_eq!(
            &got,
            &reference,
            "spilled from the shared store: engine {} size {} limit {}",
            engine,
            size,
            limit
        );
    }
    // The keys alone, through the group-by and SQL's three paths.
    let keys = group_by_at(&path, "count", Engine::Parallel, 5, true);
    let q = "SELECT k, count(*) AS count FROM t GROUP BY k ORDER BY k";
    let whole_q = format!("{q} LIMIT 1000000");
    for size in [1, 7, 1 << 20] {
        let grouped = sql_at(&path, q, size);
        let whole = sql_at(&path, &whole_q, size);
        match (keys.starts_with("error"), &grouped, &whole) {
            (false, Ok(g), Ok(w)) => {
                prop_assert_eq!(g, &keys, "GROUP BY, size {}", size);
                prop_assert_eq!(w, &keys, "whole-input GROUP BY, size {}", size);
            }
            (true, Err(_), Err(_)) => {}
            _ => prop_assert!(false, "size {size}: groupby {keys:?}, sql {grouped:?}, whole {whole:?}"),
        }
        let count = sql_at(&path, "SELECT count(*) AS n FROM t", size);
        if let Some(n) = records_counted(&keys) {
            prop_assert_eq!(count, Ok(format!("n\n{n}\n")), "count(*), size {}", size);
        }
        // Every row, streamed and over the whole input.
        let streamed = sql_at(&path, "SELECT * FROM t", size);
        let whole = sql_at(&path, "SELECT * FROM t LIMIT 1000000", size);
        match (&streamed, &whole) {
            (Ok(s), Ok(w)) => prop_assert_eq!(s, w, "SELECT *, size {}", size),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "size {size}: streamed {streamed:?}, whole {whole:?}"),
        }
        if let (Ok(rows), Some(n)) = (&streamed, records_counted(&keys)) {
            let mut reader = csv::Reader::from_reader(rows.as_bytes());
            prop_assert_eq!(reader.records().count() as u64, n, "SELECT * rows, size {}", size);
        }
    }
    Ok(())
}

/// Files `k,j,v` of up to 60 rows: two key columns of fields from `keys`, and a numeric column.
fn keyed_rows(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(keys);
    let row = (key.clone(), key, prop::sample::select(PLAIN_NUMBERS));
    prop::collection::vec(row, 0..60).prop_map(|rows| {
        let mut s = String::from("k,j,v\n");
        for (k, j, v) in rows {
            s.push_str(&format!("{k},{j},{v}\n"));
        }
        s.into_bytes()
    })
}

/// Two key columns of numbers spelled several ways and texts, and a numeric column.
fn many_keys() -> impl Strategy<Value = Vec<u8>> {
    keyed_rows(&["", "1", "01", "1.0", "2", "-3", "x", "y\"z", "\"a,b\"", "10", "+2"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every aggregation, spilled under a tiny memory limit (all or some of the groups, at any
    /// chunk size, on every engine that spills), gives the in-memory answer: groups whose typed
    /// keys are equal in different spill files (`1`, `01`, `1.0`) merge, nulls sort last.
    #[test]
    fn spilled_groups_give_the_in_memory_answer(data in many_keys()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &data);
        let aggs = "count,sum(v),mean(v),std(v),median(v),quantile(v,0.25),min(v),max(j),top_k(v,2),corr(v,v),\
                    first(j),last(v),n_unique(j)";
        for by in [vec!["k"], vec!["k", "j"]] {
            let at = |engine, size, limit, shared_from| {
                let mut plan = GroupByPlan { memory_limit: limit, shared_from, ..plan(aggs, engine, size, true) };
                plan.by = by.iter().map(|c| c.to_string()).collect();
                shown(group_by(&plan, &[Source::File(path.clone())]).map(|g| g.into_table().unwrap()), &path)
            };
            let reference = at(Engine::Serial, 1 << 20, None, None);
            for (engine, size, limit) in [(Engine::Serial, 1, 1), (Engine::Parallel, 5, 1), (Engine::Parallel, 16, 3000)] {
                for shared_from in [None, Some(0)] {
                    prop_assert_eq!(
                        &at(engine, size, Some(limit), shared_from), &reference,
                        "{} size {} limit {} shared from {:?}", engine, size, limit, shared_from
                    );
                }
            }
            // The shared store in memory, every aggregation merged into it from the workers' own.
            prop_assert_eq!(&at(Engine::Parallel, 9, None, Some(0)), &reference, "shared store");
        }
    }
}

/// Two key columns of integers spelled as pframe prints them, texts and nulls (no number spelled
/// two ways: the keys `--unordered` writes as they come), and a numeric column.
fn printed_keys() -> impl Strategy<Value = Vec<u8>> {
    keyed_rows(&["", "0", "1", "2", "-3", "10", "x", "y\"z", "\"a,b\"", "\"\""])
}

/// A group-by's records as CSV, each record a string, in the order they came: from its rows
/// (`rows`, as JSON or Parquet are written) or from its groups' codes and states (as CSV is
/// written). Errors as [`shown`] shows them.
fn records(path: &Path, plan: &GroupByPlan, rows: bool) -> Result<Vec<String>, String> {
    let grouped = group_by(plan, &[Source::File(path.to_path_buf())]).map_err(|e| e.to_string())?;
    let bytes = if rows {
        csv_of(&grouped.into_table().expect("the rows read back")).into_bytes()
    } else {
        let mut out = Vec::new();
        for block in grouped.rows.blocks(3) {
            out.extend(grouped.rows.delimited_of(block.expect("a block"), b','));
        }
        out
    };
    // The table's CSV has a header; the blocks of records have none.
    let mut reader = csv::ReaderBuilder::new().has_headers(rows).from_reader(&bytes[..]);
    Ok(reader.byte_records().map(|r| format!("{:?}", r.expect("a record"))).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `--unordered` gives the sorted rows in some order, on every engine and chunk size, from
    /// the workers' own stores or the shared one, in memory or spilled, written from rows or
    /// from states: keys whose numbers are spelled two ways (`1`, `01`, `1.0`) fall back to the
    /// sort, the others are written as their tables hold them.
    #[test]
    fn unordered_rows_are_the_sorted_rows(data in prop_oneof![printed_keys(), many_keys()]) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &data);
        let aggs = "count,sum(v),mean(v),median(v),min(v),max(j),top_k(v,2),first(j),n_unique(j)";
        for by in [vec!["k"], vec!["k", "j"], vec!["j", "k"]] {
            let plan_at = |engine, size, limit, shared_from, unordered| {
                let mut plan = GroupByPlan { memory_limit: limit, shared_from, unordered, ..plan(aggs, engine, size, true) };
                plan.by = by.iter().map(|c| c.to_string()).collect();
                plan
            };
            for rows in [true, false] {
                let reference = records(&path, &plan_at(Engine::Serial, 1 << 20, None, None, false), rows);
                for (engine, size, limit) in [(Engine::Serial, 1 << 20, None), (Engine::Parallel, 5, None), (Engine::Parallel, 16, Some(1))] {
                    for shared_from in [None, Some(0)] {
                        let mut got = records(&path, &plan_at(engine, size, limit, shared_from, true), rows);
                        if let Ok(got) = &mut got {
                            got.sort();
                        }
                        let mut want = reference.clone();
                        if let Ok(want) = &mut want {
                            want.sort();
                        }
                        prop_assert_eq!(
                            got, want, "by {:?}, rows {}, {} size {} limit {:?} shared from {:?}",
                            by, rows, engine, size, limit, shared_from
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Awkward and sometimes malformed CSV: one answer (or an error) on every path.
    #[test]
    fn every_path_reads_awkward_csv_alike(data in csv_with(FIELDS, NUMBERS, true, true)) {
        check_every_path(&data)?;
    }
}

/// pframe's answer for the key counts and sums of `v`, as the Python oracle prints it: a JSON
/// object of key -> [count, sum] (or "error").
fn pframe_counts(path: &Path) -> serde_json::Value {
    let table = match group_by(&plan("count,sum(v)", Engine::Parallel, 7, true), &[Source::File(path.to_path_buf())]) {
        Ok(g) => g.into_table().expect("the rows read back"),
        Err(_) => return serde_json::json!("error"),
    };
    let mut out = BTreeMap::new();
    for row in &table.rows {
        let key = row[0].to_string();
        let sum = match &row[2] {
            pframe::output::Value::Null => serde_json::Value::Null,
            v => serde_json::Value::String(v.to_string()),
        };
        out.insert(key, serde_json::json!([row[1].to_string().parse::<u64>().unwrap(), sum]));
    }
    serde_json::json!(out)
}

/// Python's `csv` module, with pframe's documented rules on top (blank lines skipped, the BOM
/// dropped, one reading per field: null, integer, float or text, and numeric keys by value), as an
/// outside oracle of well-formed files.
const ORACLE: &str = r#"
import csv, json, re, sys
INT = re.compile(r"\s*[+-]?[0-9]+\s*$")
FLOAT = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$")
def kind(v):
    if v == "": return 0
    if INT.match(v): return 1
    if FLOAT.match(v): return 2
    return 3
def show(v, k):
    if v == "": return ""
    if k == 1: return str(int(v))
    if k == 2: return repr(float(v))
    return v
out = []
for path in sys.argv[1:]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r != []]
    header, rows = rows[0], rows[1:]
    if any(len(r) != len(header) for r in rows):
        out.append("error"); continue
    kk = max([kind(r[0]) for r in rows] + [0])
    kv = max([kind(r[1]) for r in rows] + [0])
    if kv == 3:
        out.append("error"); continue
    groups = {}
    zero = 0.0 if kv == 2 else 0
    for r in rows:
        key = show(r[0], kk)
        c, s = groups.get(key, (0, zero))
        if r[1] != "":
            s += float(r[1]) if kv == 2 else int(r[1])
        groups[key] = (c + 1, s)
    out.append({k: [c, repr(s) if kv == 2 else str(s)] for k, (c, s) in groups.items()})
print(json.dumps(out))
"#;

/// Well-formed awkward files: pframe's group-by agrees with the oracle on every one.
#[test]
fn python_csv_module_agrees_on_well_formed_files() {
    if !std::process::Command::new("python3").arg("-c").arg("import csv").status().is_ok_and(|s| s.success()) {
        eprintln!("skipped: no python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = csv_with(PLAIN, PLAIN_NUMBERS, false, false);
    let mut paths = Vec::new();
    for i in 0..300 {
        let data = proptest::strategy::ValueTree::current(&strategy.new_tree(&mut runner).unwrap());
        let path = dir.path().join(format!("f{i}.csv"));
        std::fs::write(&path, data).unwrap();
        paths.push(path);
    }
    let out = std::process::Command::new("python3").arg("-c").arg(ORACLE).args(&paths).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (path, want) in paths.iter().zip(expected) {
        let got = pframe_counts(path);
        assert_eq!(got, want, "{}: {:?}", path.display(), String::from_utf8_lossy(&std::fs::read(path).unwrap()));
    }
}
