//! Table formats and null markers (issue 12): Parquet and Arrow IPC files, written by polars and by
//! pyarrow, read back by groupby, sql and count as their CSV twins are; `--null-values` against
//! pandas' default `read_csv`.

use std::path::Path;
use std::process::Command;

use polars::prelude::*;

use crate::{path_str, run, run_ok, temp_file};

/// A frame of every kind of column (integers, floats, text with quotes, commas and newlines,
/// nulls), and the same rows as CSV.
fn frame_and_csv(rows: usize) -> (DataFrame, String) {
    let keys = ["a", "b,c", "say \"hi\"", "multi\nline", "\u{e9}t\u{e9}"];
    let k: Vec<Option<&str>> = (0..rows).map(|i| if i % 17 == 0 { None } else { Some(keys[i % keys.len()]) }).collect();
    let n: Vec<Option<i64>> =
        (0..rows).map(|i| if i % 13 == 0 { None } else { Some((i as i64 * 37) % 101 - 50) }).collect();
    let x: Vec<Option<f64>> = (0..rows).map(|i| if i % 11 == 0 { None } else { Some(i as f64 / 8.0 - 3.25) }).collect();
    let g: Vec<i64> = (0..rows).map(|i| (i % 7) as i64).collect();
    let df = df!("k" => &k, "n" => &n, "x" => &x, "g" => &g).unwrap();
    let mut csv = String::from("k,n,x,g\n");
    for i in 0..rows {
        let k = k[i].map(|s| format!("\"{}\"", s.replace('"', "\"\""))).unwrap_or_default();
        let n = n[i].map(|v| v.to_string()).unwrap_or_default();
        let x = x[i].map(|v| format!("{v:?}")).unwrap_or_default();
        csv.push_str(&format!("{k},{n},{x},{}\n", g[i]));
    }
    (df, csv)
}

fn write_parquet(path: &Path, df: &mut DataFrame, row_group: usize) {
    let file = std::fs::File::create(path).unwrap();
    ParquetWriter::new(file).with_row_group_size(Some(row_group)).finish(df).unwrap();
}

fn write_ipc(path: &Path, df: &mut DataFrame) {
    let file = std::fs::File::create(path).unwrap();
    IpcWriter::new(file).finish(df).unwrap();
}

const GROUP: [&str; 4] = ["-b", "k,g", "-a", "count,count(n),sum(n),mean(x),min(x),max(n),first(x),last(n),median(x)"];

const QUERIES: [&str; 4] = [
    "SELECT k, n FROM t WHERE x > 10",
    "SELECT g, sum(n) AS s, avg(x) AS m FROM t GROUP BY g ORDER BY g",
    "SELECT k, max(x) AS m FROM t GROUP BY k ORDER BY m DESC LIMIT 3",
    "SELECT count(*) AS n FROM t",
];

/// Every command over `table` gives what it gives over `csv`.
fn assert_like_csv(table: &Path, csv: &Path) {
    let expected = run_ok(&[&["groupby"], &GROUP[..], &[path_str(csv)]].concat(), None);
    for engine in ["serial", "parallel", "polars"] {
        let got = run_ok(&[&["groupby", "-e", engine], &GROUP[..], &[path_str(table)]].concat(), None);
        assert_eq!(got, expected, "groupby -e {engine} {}", table.display());
    }
    for q in QUERIES {
        let want = run_ok(&["sql", q, path_str(csv)], None);
        assert_eq!(run_ok(&["sql", q, path_str(table)], None), want, "{q} {}", table.display());
    }
    let lines = run_ok(&["count", "-u", "lines", path_str(table)], None);
    let rows = run_ok(&["sql", "SELECT count(*) AS lines FROM t", path_str(csv)], None);
    assert_eq!(lines, rows, "rows of {}", table.display());
}

#[test]
fn parquet_and_ipc_written_by_polars_read_as_their_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (mut df, csv) = frame_and_csv(5000);
    let csv_path = dir.path().join("t.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let parquet = dir.path().join("t.parquet");
    write_parquet(&parquet, &mut df, 700);
    assert_like_csv(&parquet, &csv_path);
    // Named otherwise: the magic bytes tell.
    let ipc = dir.path().join("t.data");
    write_ipc(&ipc, &mut df);
    assert_like_csv(&ipc, &csv_path);
}

#[test]
fn parquet_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let (mut df, _) = frame_and_csv(3000);
    let parquet = dir.path().join("t.parquet");
    write_parquet(&parquet, &mut df, 256);
    let single = run_ok(&[&["groupby"], &GROUP[..], &[path_str(&parquet)]].concat(), None);
    for n in [1, 3, 20] {
        let mut parts = Vec::new();
        for i in 0..n {
            let part = dir.path().join(format!("p{n}-{i}.json"));
            let shard = format!("{i}/{n}");
            let args =
                [&["groupby"], &GROUP[..], &["--shard", &shard, "--partial-out", path_str(&part), path_str(&parquet)]]
                    .concat();
            assert_eq!(run_ok(&args, None), "");
            parts.push(part);
        }
        let mut args = vec!["merge", "-f", "csv"];
        args.extend(parts.iter().map(|p| path_str(p)));
        assert_eq!(run_ok(&args, None), single, "{n} shards");
    }
}

#[test]
fn parquet_written_by_pyarrow_reads_as_its_csv() {
    let has = Command::new("python3").args(["-c", "import pandas, pyarrow"]).status().is_ok_and(|s| s.success());
    if !has {
        eprintln!("skipped: pandas and pyarrow are not installed (scripts/test.sh installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, csv) = frame_and_csv(4000);
    let csv_path = dir.path().join("t.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let parquet = dir.path().join("t.parquet");
    let script = "import sys, pandas as pd\n\
        df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[''], dtype={'n': 'Int64', 'g': 'int64'})\n\
        df.to_parquet(sys.argv[2], row_group_size=900)\n";
    let out = Command::new("python3").args(["-c", script, path_str(&csv_path), path_str(&parquet)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_like_csv(&parquet, &csv_path);
}

#[test]
fn table_files_are_read_from_files_not_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut df, _) = frame_and_csv(10);
    let parquet = dir.path().join("t.parquet");
    write_parquet(&parquet, &mut df, 100);
    let bytes = std::fs::read(&parquet).unwrap();
    let out = run(&["groupby", "-b", "k", "-a", "count", "-"], Some(&bytes));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("pframe: <stdin>: ") && err.contains("Parquet"), "{err}");
    let out = run(&["count", path_str(&parquet)], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("a Parquet file: count reads text"));
}

/// R writes `NA` for a missing value: `--null-values NA` reads it as null on every path, as pandas'
/// default `read_csv` does; without it, a numeric aggregation names the option, and a column
/// numeric but for `NA` is said to be read as text.
#[test]
fn null_markers_as_pandas_reads_them() {
    let data = b"site,ozone,temp\na,41,67\nb,NA,72\na,12,NA\nb,NA,62\nNA,5,60\na,,61\n";
    let (_d, path) = temp_file("airquality.csv", data);
    let p = path_str(&path);
    let out = run(&["groupby", "-b", "site", "-a", "sum(ozone)", p], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "pframe: {p}: line 3: column ozone: cannot parse \"NA\" as a number (for sum(ozone)); if \"NA\" marks a \
             missing value, add --null-values 'NA'\n"
        )
    );
    let out = run(&["groupby", "-b", "site", "-a", "max(temp),count(temp)", p], None);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("column temp is numeric but for text like \"NA\" (line 4)") && err.contains("--null-values"),
        "{err}"
    );
    let aggs = "count,count(ozone),sum(ozone),mean(temp),max(temp)";
    let ours = run_ok(&["groupby", "--null-values", "NA", "-b", "site", "-a", aggs, p], None);
    assert_eq!(
        ours,
        "site,count,count_ozone,sum_ozone,mean_temp,max_temp\na,3,2,53,64.0,67\nb,2,0,0,67.0,72\n,1,1,5,60.0,60\n"
    );
    for engine in ["serial", "polars"] {
        assert_eq!(run_ok(&["groupby", "-e", engine, "--null-values", "NA", "-b", "site", "-a", aggs, p], None), ours);
    }
    let q = "SELECT site, sum(ozone) AS s, max(temp) AS m FROM t GROUP BY site ORDER BY site";
    let sql = run_ok(&["sql", "--null-values", "NA", q, p], None);
    assert_eq!(sql, "site,s,m\na,53,67\nb,,72\n,5,60\n");
    assert_eq!(run_ok(&["sql", "--null-values", "NA", &format!("{q} LIMIT 9"), p], None), sql);
    // pandas' default read_csv reads NA as missing: the same answer.
    let has_pandas = Command::new("python3").args(["-c", "import pandas"]).status().is_ok_and(|s| s.success());
    if has_pandas {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/groupby_pandas.py");
        let py =
            Command::new("python3").args([script, "--default-na", "--by", "site", "--agg", aggs, p]).output().unwrap();
        assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
        let theirs = String::from_utf8(py.stdout).unwrap();
        if let Err(why) = pframe::bench::compare_tables(theirs.as_bytes(), ours.as_bytes()) {
            panic!("{why}\nours:\n{ours}\npandas:\n{theirs}");
        }
    }
}
