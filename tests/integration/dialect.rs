//! One reading of CSV for every path (issue 10): `groupby` (every engine), `sql` (row-wise,
//! GROUP BY and whole-input paths), files and stdin, give the same rows of the same file. The ten
//! cases of the issue, each reproduced on a one-line input, as named regression tests.

use crate::{path_str, run, run_ok, temp_file};

const ENGINES: [&str; 3] = ["serial", "parallel", "polars"];

/// pandas (`scripts/groupby_pandas.py`: `read_csv`, `groupby(dropna=False)`) gives pframe's table,
/// numbers within 1e-9; skipped without pandas.
fn assert_pandas_agrees(data: &[u8], by: &str, aggs: &str) {
    let has_pandas =
        std::process::Command::new("python3").args(["-c", "import pandas"]).status().is_ok_and(|s| s.success());
    if !has_pandas {
        eprintln!("skipped: pandas is not installed (scripts/test.sh installs it)");
        return;
    }
    let (_d, path) = temp_file("p.csv", data);
    let ours = run_ok(&["groupby", "-b", by, "-a", aggs, path_str(&path)], None);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/groupby_pandas.py");
    let py = std::process::Command::new("python3")
        .args([script, "--by", by, "--agg", aggs, path_str(&path)])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let theirs = String::from_utf8(py.stdout).unwrap();
    if let Err(why) = pframe::bench::compare_tables(theirs.as_bytes(), ours.as_bytes()) {
        panic!("{why}\nours:\n{ours}\npandas:\n{theirs}");
    }
}

/// `pframe groupby` through every engine, chunk size and input path: they must all agree; the
/// answer is returned.
fn groupby_everywhere(data: &[u8], args: &[&str]) -> String {
    let (_d, path) = temp_file("in.csv", data);
    let reference = run_ok(&[&["groupby", "-e", "serial"], args, &[path_str(&path)]].concat(), None);
    for engine in ENGINES {
        for size in ["1", "5", "1MiB"] {
            let base = [&["groupby", "-e", engine, "--chunk-size", size], args].concat();
            assert_eq!(run_ok(&[&base[..], &[path_str(&path)]].concat(), None), reference, "{engine} {size} file");
            assert_eq!(run_ok(&[&base[..], &["-"]].concat(), Some(data)), reference, "{engine} {size} stdin");
        }
    }
    reference
}

/// `pframe sql` over a file and stdin at several chunk sizes: they must agree; the answer is
/// returned.
fn sql_everywhere(data: &[u8], query: &str, extra: &[&str]) -> String {
    let (_d, path) = temp_file("in.csv", data);
    let reference = run_ok(&[&["sql", query], extra, &[path_str(&path)]].concat(), None);
    for size in ["1", "7", "1MiB"] {
        for input in [path_str(&path), "-"] {
            let out = run(&[&["sql", "--chunk-size", size, query], extra, &[input]].concat(), Some(data));
            assert!(out.status.success(), "{query} {size} {input}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8(out.stdout).unwrap(), reference, "{query} {size} {input}");
        }
    }
    reference
}

/// The query as it is (row-wise or GROUP BY) and with a LIMIT that keeps every row (which makes
/// it a whole-input query): the same rows.
fn sql_both_paths(data: &[u8], query: &str) -> String {
    sql_both_paths_with(data, query, &[])
}

fn sql_both_paths_with(data: &[u8], query: &str, extra: &[&str]) -> String {
    let streamed = sql_everywhere(data, query, extra);
    let whole = sql_everywhere(data, &format!("{query} LIMIT 1000000000"), extra);
    assert_eq!(streamed, whole, "{query}");
    streamed
}

#[test]
fn issue_10_case_1_crlf_gains_no_phantom_row() {
    let data = b"a,b\r\n1,2\r\n";
    assert_eq!(sql_both_paths(data, "SELECT * FROM t"), "a,b\n1,2\n");
    assert_eq!(sql_both_paths(data, "SELECT count(*) AS n FROM t"), "n\n1\n");
}

#[test]
fn issue_10_case_2_blank_lines_are_not_rows() {
    let data = b"k,v\nx,1\n\n\r\ny,\n\n";
    assert_eq!(sql_everywhere(data, "SELECT count(*) AS n FROM t", &[]), "n\n2\n");
    assert_eq!(sql_both_paths(data, "SELECT k FROM t WHERE v IS NULL"), "k\ny\n");
    assert_eq!(groupby_everywhere(data, &["-b", "k", "-a", "count"]), "k,count\nx,1\ny,1\n");
    assert_eq!(sql_everywhere(data, "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY k", &[]), "k,n\nx,1\ny,1\n");
}

/// 12,000 rows whose `w` is an integer but for one `NA` past the type sample.
fn late_na() -> Vec<u8> {
    let mut data = String::from("k,w\n");
    for i in 0..12_000 {
        let w = if i == 11_001 { "NA".to_string() } else { (i % 7).to_string() };
        data.push_str(&format!("{},{w}\n", ["a", "b"][i % 2]));
    }
    data.into_bytes()
}

#[test]
fn issue_10_case_3_a_late_value_never_fails_a_query_that_does_not_need_it() {
    let data = late_na();
    let grouped = groupby_everywhere(&data, &["-b", "k", "-a", "count"]);
    assert_eq!(grouped, "k,count\na,6000\nb,6000\n");
    let query = "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY k";
    assert_eq!(sql_everywhere(&data, query, &[]), "k,n\na,6000\nb,6000\n");
    assert_eq!(sql_everywhere(&data, &format!("{query} LIMIT 5"), &[]), "k,n\na,6000\nb,6000\n");
    // Row-wise: the column widens to text at the NA; rows before it are the integers they were.
    let rows = sql_everywhere(&data, "SELECT w FROM t WHERE k = 'b'", &[]);
    assert_eq!(rows.lines().count(), 6001);
    assert!(rows.contains("\nNA\n"));
    // A query that needs the value names it, its line and both fixes.
    for size in ["1KiB", "1MiB"] {
        let out = run(&["sql", "--chunk-size", size, "SELECT w + 1 AS x FROM t", "-"], Some(&data));
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("pframe: <stdin>: line 11003: column w: \"NA\" is not a number"), "{err}");
        assert!(err.contains("--schema") && err.contains("--null-values 'NA'"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // And with the marker declared, every path reads it as missing.
    let sum = sql_everywhere(&data, "SELECT k, sum(w) AS s FROM t GROUP BY k ORDER BY k", &["--null-values", "NA"]);
    let whole =
        sql_everywhere(&data, "SELECT k, sum(w) AS s FROM t GROUP BY k ORDER BY k LIMIT 9", &["--null-values", "NA"]);
    assert_eq!(sum, whole);
    let grouped = groupby_everywhere(&data, &["-b", "k", "-a", "sum(w)", "--null-values", "NA"]);
    assert_eq!(grouped.replace("sum_w", "s"), sum);
}

#[test]
fn issue_10_case_4_file_names_are_never_globbed() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["[avalon]_daily-avg.csv", "a*b?.csv", "{x,y}.csv"] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"k,v\nx,1\ny,2\nx,3\n").unwrap();
        let out = run_ok(&["sql", "SELECT k, sum(v) AS s FROM t GROUP BY k ORDER BY s DESC", path_str(&path)], None);
        assert_eq!(out, "k,s\nx,4\ny,2\n", "{name}");
    }
}

#[test]
fn issue_10_case_5_headers_are_unescaped_as_fields_are() {
    let data = b"\"foo \"\"bar\",\"b,c\"\nx,1\n";
    assert_eq!(sql_both_paths(data, "SELECT * FROM t"), "\"foo \"\"bar\",\"b,c\"\nx,1\n");
    assert_eq!(sql_both_paths(data, "SELECT \"foo \"\"bar\" AS k FROM t"), "k\nx\n");
    let g = groupby_everywhere(data, &["-b", "foo \"bar", "-a", "sum(b,c)"]);
    assert_eq!(g, "\"foo \"\"bar\",\"sum_b,c\"\nx,1\n");
}

#[test]
fn issue_10_case_6_numeric_keys_group_by_value() {
    let data = b"k,v\n7,1\n07,2\n+7,3\n 7,4\n7.0,5\n8,6\n";
    // Spellings of 7 in a float column (7.0 makes it one): one group.
    assert_eq!(groupby_everywhere(data, &["-b", "k", "-a", "count,sum(v)"]), "k,count,sum_v\n7.0,5,15\n8.0,1,6\n");
    let ints = b"k,v\n7,1\n07,2\n+7,3\n8,6\n";
    assert_eq!(
        groupby_everywhere(ints, &["-b", "k", "-a", "count,sum(v),first(v),last(v)"]),
        "k,count,sum_v,first_v,last_v\n7,3,6,1,3\n8,1,6,6,6\n"
    );
    let q = "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY k";
    assert_eq!(sql_everywhere(ints, q, &[]), "k,n\n7,3\n8,1\n");
    assert_eq!(sql_everywhere(ints, &format!("{q} LIMIT 9"), &[]), "k,n\n7,3\n8,1\n");
    assert_pandas_agrees(data, "k", "count,sum(v)");
    assert_pandas_agrees(ints, "k", "count,sum(v),first(v),last(v)");
    // In a text column the spellings are byte-exact keys.
    let text = b"k,v\n7,1\n07,2\nx,3\n7,4\n";
    assert_eq!(groupby_everywhere(text, &["-b", "k", "-a", "count"]), "k,count\n07,1\n7,2\nx,1\n");
    assert_pandas_agrees(text, "k", "count,sum(v)");
    // Declared text keeps them apart too, even when every value is a number.
    let declared = groupby_everywhere(ints, &["-b", "k", "-a", "count", "--schema", "k:str"]);
    assert_eq!(declared, "k,count\n+7,1\n07,1\n7,1\n8,1\n");
}

#[test]
fn issue_10_case_7_an_empty_quoted_record_is_a_row_with_a_null_key() {
    let data = b"k\na\n\"\"\nb\n\"\"\n";
    assert_eq!(groupby_everywhere(data, &["-b", "k", "-a", "count"]), "k,count\na,1\nb,1\n,2\n");
    assert_eq!(sql_both_paths(data, "SELECT count(*) AS n FROM t"), "n\n4\n");
    // A row of one null field is written `""`: an empty line would be a blank line.
    assert_eq!(sql_both_paths(data, "SELECT k FROM t WHERE k IS NULL"), "k\n\"\"\n\"\"\n");
}

#[test]
fn issue_10_case_8_blank_lines_before_the_header_at_any_chunk_size() {
    let data = b"\n\r\nk,v\nx,1\n";
    assert_eq!(groupby_everywhere(data, &["-b", "k", "-a", "count"]), "k,count\nx,1\n");
    assert_eq!(sql_both_paths(data, "SELECT * FROM t"), "k,v\nx,1\n");
    // Lines still count from the file's first line.
    let (_d, path) = temp_file("b.csv", b"\n\nk,v\nx,1\ny\n");
    for size in ["1", "1MiB"] {
        let out = run(&["groupby", "--chunk-size", size, "-b", "k", "-a", "count", path_str(&path)], None);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err, format!("pframe: {}: line 5: expected 2 fields, found 1\n", path.display()), "{size}");
    }
}

#[test]
fn issue_10_case_9_the_bom_goes_with_or_without_a_header() {
    let data = "\u{feff}a,1\nb,2\na,3\n".as_bytes();
    let g = groupby_everywhere(data, &["--no-header", "-b", "column_1", "-a", "sum(column_2)"]);
    assert_eq!(g, "column_1,sum_column_2\na,4\nb,2\n");
    let q = "SELECT column_1 FROM t WHERE column_2 = 1";
    assert_eq!(sql_both_paths_with(data, q, &["--no-header"]).as_bytes(), b"column_1\na\n");
    let h = "\u{feff}k,v\nx,1\n".as_bytes();
    assert_eq!(sql_both_paths(h, "SELECT k FROM t"), "k\nx\n");
}

#[test]
fn issue_10_case_10_malformed_quotes_read_alike_on_every_engine() {
    // A quote inside an unquoted field is data; text after a closing quote continues the field.
    let data = b"k,v\nab\"c,1\n\"x\"y,2\nab\"c,3\n\"q\"\"\",4\n";
    let g = groupby_everywhere(data, &["-b", "k", "-a", "count,sum(v)"]);
    assert_eq!(g, "k,count,sum_v\n\"ab\"\"c\",2,4\n\"q\"\"\",1,4\nxy,1,2\n");
    assert_eq!(sql_both_paths(data, "SELECT k, v FROM t WHERE v > 1"), "k,v\nxy,2\n\"ab\"\"c\",3\n\"q\"\"\",4\n");
}
