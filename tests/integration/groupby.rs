//! `pframe groupby` through the real binary: engines, chunking, CSV dialect, pandas as the oracle.

use std::process::Command;

use crate::{path_str, run, run_ok, temp_file};

/// Quoted keys with commas, quotes and newlines; CRLF; a BOM; nulls in keys and values; negative
/// numbers; an integer column with a float in it.
const AWKWARD: &str = "\u{feff}k1,k2,v,w\r\n\"a,b\",x,1,2.5\r\n\"say \"\"hi\"\"\",x,-3,\r\n\"multi\nline\",y,,1\r\n,x,7,-0.5\r\n\"a,b\",x,10,1e3\r\nzz,,4,3\r\n\"a,b\",y,2,7\r\n";

const AGGS: &str = "count,count(v),sum(v),mean(v),min(v),max(w),std(w),var(v),median(w),n_unique(v),first(w),last(v)";

#[test]
fn every_engine_chunk_size_and_input_path_agree() {
    let (_d, path) = temp_file("a.csv", AWKWARD.as_bytes());
    let p = path_str(&path);
    let reference = run_ok(&["groupby", "-e", "serial", "-b", "k1,k2", "-a", AGGS, p], None);
    for engine in ["serial", "parallel", "auto", "polars"] {
        for size in ["1", "7", "64", "1MiB"] {
            let base = ["groupby", "-e", engine, "-j", "2", "--chunk-size", size, "-b", "k1,k2", "-a", AGGS];
            assert_eq!(run_ok(&[&base[..], &[p]].concat(), None), reference, "{engine} {size} file");
            assert_eq!(run_ok(&[&base[..], &["--no-mmap", p]].concat(), None), reference, "{engine} {size} no-mmap");
            assert_eq!(
                run_ok(&[&base[..], &["-"]].concat(), Some(AWKWARD.as_bytes())),
                reference,
                "{engine} {size} stdin"
            );
        }
    }
}

/// 3,000 rows of 2,100 groups of an integer and a quoted text key (the `--unordered` tests).
fn unordered_input() -> String {
    let mut csv = String::from("k,t,v\n");
    for i in (0..3000).rev() {
        csv.push_str(&format!("{},\"w,{}\",{}\n", i % 700 - 350, i % 3, i));
    }
    csv
}

/// The lines of an output, sorted: the rows, whatever order they came in.
fn sorted_lines(s: &str) -> Vec<String> {
    let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// `--unordered` writes the groups as their tables hold them: the sorted rows, in another order
/// (a file and a pipe, every engine, one and two threads, CSV and JSON). A key column whose
/// numbers are spelled two ways (`07` and `7`, `-0` and `0`) is sorted as without the flag, each
/// value's spellings one group.
#[test]
fn unordered_rows_come_as_the_groups_lie() {
    let csv = unordered_input();
    let (_d, path) = temp_file("u.csv", csv.as_bytes());
    for format in ["csv", "json"] {
        let sorted =
            run_ok(&["groupby", "-f", format, "-b", "k,t", "-a", "count,sum(v),max(v)", "-"], Some(csv.as_bytes()));
        let want = sorted_lines(&sorted);
        for engine in ["serial", "parallel", "polars"] {
            for j in ["1", "2"] {
                let args = [
                    "groupby",
                    "--unordered",
                    "-e",
                    engine,
                    "-j",
                    j,
                    "-f",
                    format,
                    "-b",
                    "k,t",
                    "-a",
                    "count,sum(v),max(v)",
                ];
                for got in [
                    run_ok(&[&args[..], &["-"]].concat(), Some(csv.as_bytes())),
                    run_ok(&[&args[..], &[path_str(&path)]].concat(), None),
                ] {
                    assert_ne!(got, sorted, "{format} {engine} -j {j}: the sorted order");
                    assert_eq!(sorted_lines(&got), want, "{format} {engine} -j {j}");
                }
            }
        }
    }
    // Chunks of keys of their own but one, `0`, which each worker's store holds with the keys of
    // the chunks it took: the stores' copies of `0`'s partition share a key in a hundred, and
    // must still be merged (each key once).
    let mut csv = String::from("k,v\n");
    for chunk in 0..200 {
        csv.push_str("0,1\n");
        (1..100).for_each(|i| csv.push_str(&format!("{},1\n", chunk * 100 + i)));
    }
    let args = ["-j", "2", "--chunk-size", "1KiB", "-b", "k", "-a", "count", "-"];
    let want = sorted_lines(&run_ok(&[&["groupby"][..], &args].concat(), Some(csv.as_bytes())));
    let got = sorted_lines(&run_ok(&[&["groupby", "--unordered"][..], &args].concat(), Some(csv.as_bytes())));
    assert_eq!(got.iter().filter(|l| *l == "0,200").count(), 1);
    assert_eq!(got, want);
    let odd = "k,v\n07,1\n7,2\n8,3\n-0,4\n0,5\n";
    let want = run_ok(&["groupby", "-b", "k", "-a", "sum(v),count", "-"], Some(odd.as_bytes()));
    assert_eq!(want, "k,sum_v,count\n0,9,2\n7,3,2\n8,3,1\n");
    let got = run_ok(&["groupby", "--unordered", "-b", "k", "-a", "sum(v),count", "-"], Some(odd.as_bytes()));
    assert_eq!(got, want);
}

/// `sql --unordered` leaves a GROUP BY's groups unsorted: the default's rows in another order, on
/// every path a GROUP BY takes (plain, arithmetic over the groups, a WHERE before grouping), from a
/// file and a pipe, one and two threads; with an ORDER BY, the default's rows in its order.
#[test]
fn sql_unordered_rows_are_the_sorted_rows() {
    let csv = unordered_input();
    let (_d, path) = temp_file("u.csv", csv.as_bytes());
    let queries = [
        ("SELECT k, t, count(*) AS n, sum(v) AS s FROM t GROUP BY k, t", false),
        ("SELECT k, max(v) - min(v) AS r, avg(v) AS m FROM t GROUP BY k", false),
        ("SELECT k, sum(v) AS s FROM t WHERE v > 100 GROUP BY k", false),
        ("SELECT k, sum(v) AS s FROM t GROUP BY k ORDER BY k DESC", true),
    ];
    for (query, ordered) in queries {
        let want = run_ok(&["sql", query, "-"], Some(csv.as_bytes()));
        assert!(want.lines().count() > 600, "{query}: {want}");
        for j in ["1", "2"] {
            let args = ["sql", "--unordered", "-j", j, query];
            for got in [
                run_ok(&[&args[..], &["-"]].concat(), Some(csv.as_bytes())),
                run_ok(&[&args[..], &[path_str(&path)]].concat(), None),
            ] {
                if ordered {
                    assert_eq!(got, want, "{query} -j {j}");
                } else {
                    assert_ne!(got, want, "{query} -j {j}: the sorted order");
                    assert_eq!(sorted_lines(&got), sorted_lines(&want), "{query} -j {j}");
                }
            }
        }
    }
}

#[test]
fn whole_output_on_awkward_csv() {
    let (_d, path) = temp_file("a.csv", AWKWARD.as_bytes());
    let out = run_ok(&["groupby", "-b", "k1", "-a", "count,sum(v),max(w),first(k2)", path_str(&path)], None);
    assert_eq!(
        out,
        "k1,count,sum_v,max_w,first_k2\n\"a,b\",3,13,1000.0,x\n\"multi\nline\",1,0,1.0,y\n\"say \"\"hi\"\"\",1,-3,,x\nzz,1,4,3.0,\n,1,7,-0.5,x\n"
    );
}

#[test]
fn matches_pandas_on_generated_data() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/groupby_pandas.py");
    let has_pandas = Command::new("python3").args(["-c", "import pandas"]).status().is_ok_and(|s| s.success());
    if !has_pandas {
        eprintln!("skipped: pandas is not installed (scripts/test.sh installs it)");
        return;
    }
    let data = run_ok(&["gen", "csv", "--rows", "20000", "--groups", "7", "--seed", "3"], None);
    // Punch nulls into values and keys so that the null rules are exercised.
    let data: String = data
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<&str> = l.split(',').collect();
            if i > 0 && i % 13 == 0 {
                f[6] = "";
            }
            if i > 0 && i % 101 == 0 {
                f[0] = "";
            }
            f.join(",") + "\n"
        })
        .collect();
    let (_d, path) = temp_file("g.csv", data.as_bytes());
    for (by, aggs) in [
        (
            "id1",
            "count,sum(v1),mean(v3),min(v2),max(v3),std(v3),var(v1),median(v3),n_unique(id4),first(v1),last(v3),count(v1)",
        ),
        ("id1,id4", "count,sum(v2),mean(v1),max(id3)"),
        ("id4", "count,corr(v1,v3),quantile(v3,0.9),quantile(v1,0.25),top_k(v3,2)"),
        ("id1,id4", "bottom_k(v1,3),corr(v2,v1),count(v3)"),
    ] {
        let ours = run_ok(&["groupby", "-b", by, "-a", aggs, path_str(&path)], None);
        let polars = run_ok(&["groupby", "-e", "polars", "-b", by, "-a", aggs, path_str(&path)], None);
        assert_eq!(polars, ours);
        let py = Command::new("python3").args([script, "--by", by, "--agg", aggs, path_str(&path)]).output().unwrap();
        assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
        let theirs = String::from_utf8(py.stdout).unwrap();
        assert_same_table(&ours, &theirs);
    }
}

/// Compares two CSV tables cell by cell: numbers within 1e-9 relative, text exactly (the bench's
/// own answer check).
fn assert_same_table(ours: &str, theirs: &str) {
    if let Err(why) = pframe::bench::compare_tables(theirs.as_bytes(), ours.as_bytes()) {
        panic!("{why}\nours:\n{ours}\ntheirs:\n{theirs}");
    }
}

#[test]
fn bad_input_names_file_line_and_column() {
    let cases: [(&[u8], &str, &str); 6] = [
        (b"a,v1\n1,2\n2,oops\n", "sum(v1)", "line 3: column v1: cannot parse \"oops\" as a number (for sum(v1))"),
        (b"a,v1\n1,2\n2\n", "sum(v1)", "line 3: expected 2 fields, found 1"),
        // CRLF and a quote (the csv crate's path): its own line count lags after a CRLF.
        (b"a,v1\r\n\"1\",2\r\n2\r\n", "sum(v1)", "line 3: expected 2 fields, found 1"),
        (b"a,v1\n1,2\n2,\"3\n", "sum(v1)", "line 3: unterminated quoted field at end of input"),
        (b"a,v1\n1,2\n", "sum(nope)", "unknown column \"nope\" (columns: a, v1)"),
        (b"", "count", "empty input: no header row"),
    ];
    for (input, agg, message) in cases {
        let (_d, path) = temp_file("data.csv", input);
        for engine in ["serial", "parallel", "polars"] {
            for size in ["1", "1MiB"] {
                for (name, file) in [(path.display().to_string(), path_str(&path)), ("<stdin>".into(), "-")] {
                    let args = ["groupby", "-e", engine, "--chunk-size", size, "-b", "a", "-a", agg, file];
                    let out = run(&args, Some(input));
                    assert_eq!(out.status.code(), Some(1), "{message}");
                    let err = String::from_utf8(out.stderr).unwrap();
                    assert_eq!(err, format!("pframe: {name}: {message}\n"), "{engine} {size}");
                }
            }
        }
    }
    let out = run(&["groupby", "-b", "a", "-a", "avg(v1)", "-"], Some(b"a,v1\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("pframe: malformed aggregation \"avg(v1)\""));
}

/// The quote-free fast path and the `csv` crate's parser read the same records: the same data
/// with one harmless quoted field (which sends every chunk holding it to the csv parser) gives
/// the same answer at every chunk size; so does polars' parser (a blank line is no record).
#[test]
fn fast_path_and_csv_parser_agree() {
    let plain = "k,v,w\r\na,1,x\r\n\r\nb,,y\r\na,-2,\r\n,3,z\r\nb,4.5,y\r\n";
    let quoted = plain.replacen("a,1,x", "\"a\",1,x", 1);
    let (_d1, p1) = temp_file("plain.csv", plain.as_bytes());
    let (_d2, p2) = temp_file("quoted.csv", quoted.as_bytes());
    let aggs = "count,sum(v),first(w),n_unique(w),min(v)";
    let expected = "k,count,sum_v,first_w,n_unique_w,min_v\na,2,-1.0,x,1,-2.0\nb,2,4.5,y,1,4.5\n,1,3.0,z,1,3.0\n";
    for size in ["1", "5", "1MiB"] {
        for p in [&p1, &p2] {
            for engine in ["auto", "polars"] {
                let out =
                    run_ok(&["groupby", "-e", engine, "--chunk-size", size, "-b", "k", "-a", aggs, path_str(p)], None);
                assert_eq!(out, expected, "{engine}, chunk size {size}, {}", p.display());
            }
        }
    }
}

#[test]
fn schema_no_header_delimiter_and_ndjson() {
    // Zip codes as text keys keep their leading zeros and sort as text.
    let input = "zip\tn\n02139\t1\n10001\t2\n02139\t3\n9\t\n";
    let (_d, path) = temp_file("z.tsv", input.as_bytes());
    let p = path_str(&path);
    let base = ["groupby", "-d", "\\t", "-b", "zip", "-a", "sum(n),count(n)"];
    assert_eq!(run_ok(&[&base[..], &[p]].concat(), None), "zip,sum_n,count_n\n9,0,0\n2139,4,2\n10001,2,1\n");
    assert_eq!(
        run_ok(&[&base[..], &["--schema", "zip:str,n:float", p]].concat(), None),
        "zip,sum_n,count_n\n02139,4.0,2\n10001,2.0,1\n9,0.0,0\n"
    );
    assert_eq!(
        run_ok(&[&base[..], &["--schema", "zip:str", "-f", "ndjson", p]].concat(), None),
        "{\"zip\":\"02139\",\"sum_n\":4,\"count_n\":2}\n{\"zip\":\"10001\",\"sum_n\":2,\"count_n\":1}\n{\"zip\":\"9\",\"sum_n\":0,\"count_n\":0}\n"
    );
    let (_d2, raw) = temp_file("raw.csv", b"a,1\nb,2\na,3\n");
    assert_eq!(
        run_ok(&["groupby", "--no-header", "-b", "column_1", "-a", "sum(column_2)", path_str(&raw)], None),
        "column_1,sum_column_2\na,4\nb,2\n"
    );
}

#[test]
fn schema_errors() {
    let (_d, path) = temp_file("data.csv", b"k,v1\na,1\nb,2.5\n");
    let p = path_str(&path);
    let out = run(&["groupby", "-b", "k", "-a", "sum(v1)", "--schema", "v1:int", p], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "pframe: {}: line 3: column v1: cannot parse \"2.5\" as an integer (declared in --schema)\n",
            path.display()
        )
    );
    let out = run(&["groupby", "-b", "k", "-a", "sum(v1)", "--schema", "v1:str", p], None);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("pframe: {}: sum(v1): column v1 is declared str in --schema\n", path.display())
    );
    assert_eq!(run(&["groupby", "-b", "k", "-a", "count", "--schema", "v1:date", p], None).status.code(), Some(2));
    assert_eq!(run(&["groupby", "-b", "k", "-a", "count", "--schema", "zz:int", p], None).status.code(), Some(1));
}

/// stdin and shards: polars parses each chunk and the states are pframe's, so the answer is the
/// serial engine's bit for bit, at any chunk size and thread count; blank lines are no records,
/// one column or several (polars alone would read them as rows of nulls).
#[test]
fn polars_engine_on_stdin_and_shards() {
    for blanks in ["k\na\n\nb\n\r\na\n", "k,v\na,1\n\nb,2\n\r\na,3\n", "\nk\na\n"] {
        let serial = run_ok(&["groupby", "-e", "serial", "-b", "k", "-a", "count", "-"], Some(blanks.as_bytes()));
        let polars = run_ok(&["groupby", "-e", "polars", "-b", "k", "-a", "count", "-"], Some(blanks.as_bytes()));
        assert_eq!(polars, serial, "{blanks:?}");
    }
    let (dir, path) = temp_file("a.csv", AWKWARD.as_bytes());
    let reference = run_ok(&["groupby", "-e", "serial", "-b", "k1,k2", "-a", AGGS, path_str(&path)], None);
    for size in ["1", "7", "64", "1MiB"] {
        for threads in ["1", "2"] {
            let args = ["groupby", "-e", "polars", "-j", threads, "--chunk-size", size, "-b", "k1,k2", "-a", AGGS, "-"];
            assert_eq!(run_ok(&args, Some(AWKWARD.as_bytes())), reference, "chunk size {size}, -j {threads}");
        }
    }
    let data = run_ok(&["gen", "csv", "--rows", "5000", "--groups", "9", "--seed", "5"], None);
    let big = dir.path().join("g.csv");
    std::fs::write(&big, &data).unwrap();
    let aggs = "count,sum(v1),mean(v3),std(v3),min(id3),first(v2),last(v3),n_unique(id6)";
    let native = run_ok(&["groupby", "-b", "id1,id4", "-a", aggs, path_str(&big)], None);
    let args = ["groupby", "-e", "polars", "--chunk-size", "4KiB", "-b", "id1,id4", "-a", aggs, "-"];
    assert_eq!(run_ok(&args, Some(data.as_bytes())), native);
    let mut merge = vec!["merge".to_string()];
    for i in 0..3 {
        let part = dir.path().join(format!("part{i}.json"));
        let shard = format!("{i}/3");
        let args = ["groupby", "-e", "polars", "-b", "id1,id4", "-a", aggs, "--shard", &shard, "--partial-out"];
        run_ok(&[&args[..], &[path_str(&part), path_str(&big)]].concat(), None);
        merge.push(path_str(&part).to_string());
    }
    assert_eq!(run_ok(&merge.iter().map(String::as_str).collect::<Vec<_>>(), None), native);
}

/// Several files, an integer column float in one of them: the polars engine gives the native
/// engine's answer (first and last included).
#[test]
fn polars_engine_over_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = run_ok(&["gen", "csv", "--rows", "4000", "--groups", "7", "--seed", "9"], None);
    let (header, body) = data.split_once('\n').unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    let c = dir.path().join("c.csv");
    std::fs::write(&a, format!("{header}\n{}\n", lines[..1500].join("\n"))).unwrap();
    std::fs::write(&b, format!("{header}\n{}\n", lines[1500..].join("\n"))).unwrap();
    std::fs::write(&c, format!("{header}\n{}\n", lines[..10].join("\n").replace(",1,", ",1.5,"))).unwrap();
    let aggs = "count,sum(v1),mean(v3),min(v2),max(id6),first(id2),last(v3),std(v3),n_unique(id3)";
    for files in [vec![&a, &b], vec![&b, &c, &a]] {
        let mut args = vec!["groupby", "-f", "csv", "-b", "id1,id4", "-a", aggs];
        args.extend(files.iter().map(|p| p.to_str().unwrap()));
        let native = run_ok(&args, None);
        args.extend(["-e", "polars"]);
        assert_eq!(run_ok(&args, None), native);
    }
}

#[test]
fn sql_over_a_file_and_stdin() {
    let data = run_ok(&["gen", "csv", "--rows", "3000", "--groups", "5", "--seed", "4"], None);
    let (_d, path) = temp_file("g.csv", data.as_bytes());
    let query = "SELECT id1, sum(v1) AS sum_v1, count(*) AS count FROM t WHERE v2 > 3 GROUP BY id1 ORDER BY id1";
    let from_file = run_ok(&["sql", query, path_str(&path)], None);
    let from_stdin = run_ok(&["sql", query, "-"], Some(data.as_bytes()));
    assert_eq!(from_file, from_stdin);
    // The same question through groupby, on the rows the WHERE keeps.
    let kept: String = data
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.split(',').nth(7).unwrap().parse::<i64>().unwrap() > 3)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let expected = run_ok(&["groupby", "-b", "id1", "-a", "sum(v1),count", "-"], Some(kept.as_bytes()));
    assert_eq!(from_file, expected);
    let bad = run(&["sql", "SELECT nope FROM t", path_str(&path)], None);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.starts_with(&format!("pframe: {}: sql: ", path.display())), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn ndjson_input_gives_the_csv_answer() {
    let csv = "k,v,w\na,1,x\nb,2.5,\na,-3,z\n,4,y\n";
    let ndjson = "{\"k\":\"a\",\"v\":1,\"w\":\"x\"}\n{\"k\":\"b\",\"v\":2.5,\"w\":null}\n\n{\"k\":\"a\",\"v\":-3,\"w\":\"z\",\"extra\":[1]}\n{\"v\":4,\"w\":\"y\"}\n";
    let (_d1, c) = temp_file("d.csv", csv.as_bytes());
    let (_d2, j) = temp_file("d.jsonl", ndjson.as_bytes());
    let aggs = "count,sum(v),mean(v),first(w),n_unique(w)";
    let expected = run_ok(&["groupby", "-b", "k", "-a", aggs, path_str(&c)], None);
    assert_eq!(run_ok(&["groupby", "-b", "k", "-a", aggs, path_str(&j)], None), expected);
    for size in ["1", "16"] {
        let stdin = run_ok(
            &["groupby", "--input-format", "ndjson", "--chunk-size", size, "-b", "k", "-a", aggs, "-"],
            Some(ndjson.as_bytes()),
        );
        assert_eq!(stdin, expected, "chunk size {size}");
    }
    let out = run(&["groupby", "--input-format", "ndjson", "-b", "k", "-a", "count", "-"], Some(b"{\"k\":1}\n{oops\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("pframe: <stdin>: line 2: invalid JSON object: "));
}

#[test]
fn a_declared_integer_key_must_be_an_integer() {
    let (_d, path) = temp_file("data.csv", b"k,v\n1,2\nx,3\n");
    for engine in ["serial", "parallel", "polars"] {
        let out =
            run(&["groupby", "-e", engine, "-b", "k", "-a", "sum(v)", "--schema", "k:int", path_str(&path)], None);
        assert_eq!(out.status.code(), Some(1), "{engine}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "pframe: {}: line 3: column k: cannot parse \"x\" as an integer (declared in --schema)\n",
                path.display()
            ),
            "{engine}"
        );
    }
}

/// Generated G1 rows with awkward ones mixed in: quoted ids holding the delimiter, quotes and a
/// newline, CRLF line ends, null values.
fn awkward_g1(rows: u64, seed: u64) -> String {
    let data = run_ok(&["gen", "csv", "--rows", &rows.to_string(), "--groups", "5", "--seed", &seed.to_string()], None);
    data.lines()
        .enumerate()
        .map(|(i, l)| match i % 7 {
            3 => {
                let mut f: Vec<String> = l.split(',').map(String::from).collect();
                f[0] = format!("\"{},\"\"q\"\"\n{}\"", f[0], i % 3);
                f.join(",") + "\r\n"
            }
            5 if i % 2 == 1 => {
                let mut f: Vec<&str> = l.split(',').collect();
                f[6] = "";
                f.join(",") + "\n"
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// A row-wise query runs chunk by chunk, several at once, in input order: over a file or stdin,
/// whatever the chunk size and threads, the output is polars' over the whole input (the same query
/// with a LIMIT that keeps every row, which makes it whole-input), and there is no whole-input
/// notice. A query that aggregates, sorts or limits reads the whole input, and on stdin says so.
#[test]
fn sql_streams_row_wise_queries_on_stdin() {
    let data = awkward_g1(400, 6);
    assert!(data.contains(",\"\"q\"\"\n"), "the awkward rows are there");
    let (_d, path) = temp_file("g.csv", data.as_bytes());
    let queries = [
        "SELECT id1, v1 * 2 AS w, v3 FROM t WHERE v2 > 3",
        "SELECT *, v1 + v2 AS s FROM t",
        "SELECT upper(id2) AS u, CASE WHEN v3 > 50 THEN 'hi' ELSE 'lo' END AS c FROM t WHERE id1 <> 'id001'",
        "SELECT id1 FROM t WHERE v1 > 1000",
    ];
    for query in queries {
        let whole = format!("{query} LIMIT 1000000000");
        for format in ["csv", "ndjson", "json", "table"] {
            let expected = run_ok(&["sql", "-f", format, &whole, path_str(&path)], None);
            let cases = [
                ("1", "2", "-"),
                ("300", "1", "-"),
                ("300", "2", "-"),
                ("1MiB", "2", "-"),
                ("300", "2", path_str(&path)),
            ];
            for (size, threads, input) in cases {
                let args = ["sql", "-f", format, "--chunk-size", size, "-j", threads, query, input];
                let out = run(&args, Some(data.as_bytes()));
                assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
                let what = format!("{query} -f {format} {size} -j {threads} {input}");
                assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{what}");
                assert!(out.stderr.is_empty(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
    // Queries that need the whole input spool stdin to disk (and say so); aggregations over the
    // groups (HAVING, ORDER BY an aggregate, a WHERE before grouping) run on the group-by engine
    // and do not.
    for (query, spooled) in [
        ("SELECT id1, count(*) AS n FROM t WHERE v2 > 3 GROUP BY id1 ORDER BY id1", false),
        ("SELECT id1, count(*) AS n FROM t WHERE v2 > 3 GROUP BY id1 ORDER BY n DESC, id1 LIMIT 2", false),
        ("SELECT id1, sum(v1) AS s FROM t GROUP BY id1 HAVING sum(v1) > 10 ORDER BY id1", false),
        ("SELECT id1, sum(v1) AS s FROM t GROUP BY id1 ORDER BY s, id1", false),
        ("SELECT id1, v1 FROM t ORDER BY v1, id1, v3", true),
        ("SELECT id1, v1 FROM t LIMIT 3", true),
        ("SELECT count(*) AS n, 1 AS one FROM t", true),
        ("SELECT DISTINCT id2 FROM t ORDER BY id2", true),
        ("SELECT id1, sum(v1) OVER (PARTITION BY id1) AS s FROM t ORDER BY id1, s", true),
    ] {
        let expected = run_ok(&["sql", query, path_str(&path)], None);
        let out = run(&["sql", "--chunk-size", "300", query, "-"], Some(data.as_bytes()));
        assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{query}");
        let err = String::from_utf8(out.stderr).unwrap();
        let note = if spooled {
            "pframe: sql: the query needs the whole input: stdin was copied to a temporary file\n"
        } else {
            ""
        };
        assert_eq!(err, note, "{query}");
    }
}

/// A text among the first rows of a column that a query uses as a number (a sum, arithmetic),
/// from a file or stdin, with and without GROUP BY: an error naming its line, column and value
/// (with the hint for a missing-value marker), not polars' "not supported for dtype `str`".
#[test]
fn sql_names_a_text_in_a_numeric_column_of_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,v\nx,1\n\ny,oops\nx,3\n").unwrap();
    let file = path.to_str().unwrap();
    for query in ["SELECT sum(v) FROM t", "SELECT a, sum(v) FROM t GROUP BY a", "SELECT a, v + 1 AS w FROM t"] {
        for (input, name) in [(file, file.to_string()), ("-", "<stdin>".to_string())] {
            let data = std::fs::read(&path).unwrap();
            let out = run(&["sql", query, input], (input == "-").then_some(&data[..]));
            assert_eq!(out.status.code(), Some(1), "{query}");
            let err = String::from_utf8(out.stderr).unwrap();
            let want = format!(
                "pframe: {name}: line 4: column v: cannot parse \"oops\" as a number (the query uses it as one)\n"
            );
            assert_eq!(err, want, "{query}");
        }
    }
    let out = run(&["sql", "SELECT sum(v) FROM t", "-"], Some(b"a,v\nx,NA\ny,2\n"));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("pframe: <stdin>: line 2: column v: cannot parse \"NA\""), "{err}");
    assert!(err.contains("--null-values 'NA'"), "{err}");
    // A column the query reads as text is not blamed: the error stays polars'.
    let out = run(&["sql", "SELECT sum(b) FROM t", file], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("unable to find column \"b\""));
}

/// On stdin, column types come from the first rows; a later value that does not parse as its
/// column's type widens it, and a query that needs the column's old type is an error naming the
/// value's line, column and value.
#[test]
fn sql_stream_names_a_value_past_the_type_sample() {
    // Lines: the header, one per row, a blank line and a quoted newline before the bad value.
    let mut data = String::from("k,v\n");
    for i in 0..12_000 {
        data.push_str(&match i {
            10_500 => "\na,1\n".to_string(),
            10_800 => "\"x\ny\",2\n".to_string(),
            11_000 => "a,oops\n".to_string(),
            _ => format!("a,{i}\n"),
        });
    }
    let out = run(&["sql", "--chunk-size", "4KiB", "SELECT k, v + 1 AS w FROM t", "-"], Some(data.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("pframe: <stdin>: line 11004: column v: \"oops\" is not a number"), "{err}");
    assert!(err.contains("--schema"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let empty = run(&["sql", "SELECT * FROM t", "-"], Some(b""));
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(String::from_utf8(empty.stderr).unwrap(), "pframe: <stdin>: sql: empty input: no header row\n");
}

/// `-f parquet` (or an `-o` ending in .parquet) writes a Parquet file that reads back as the
/// CSV result: the same columns, integers as integers, floats within 1e-12, nulls as nulls.
#[test]
fn parquet_output_reads_back_as_the_csv_result() {
    use polars::prelude::{ParquetReader, SerReader};
    let (dir, path) = temp_file("a.csv", AWKWARD.as_bytes());
    let args = ["groupby", "-b", "k1,k2", "-a", AGGS, path_str(&path)];
    let csv = run_ok(&[&args[..], &["-f", "csv"]].concat(), None);
    let out = dir.path().join("r.parquet");
    assert_eq!(run_ok(&[&args[..], &["-o", path_str(&out)]].concat(), None), "");
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(names, headers);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(df.height(), rows.len());
    assert_eq!(df.column("count").unwrap().dtype(), &polars::prelude::DataType::UInt64);
    assert_eq!(df.column("sum_v").unwrap().dtype(), &polars::prelude::DataType::Int64);
    for (i, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let v = df.columns()[c].get(i).unwrap();
            match (v.extract::<f64>(), cell.parse::<f64>()) {
                _ if cell.is_empty() => assert!(v.is_null(), "row {i} col {c}: {v:?}"),
                (Some(x), Ok(y)) => assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "row {i} col {c}: {x} {y}"),
                _ => assert_eq!(v.get_str(), Some(cell), "row {i} col {c}"),
            }
        }
    }
    // Through sql and a pipe, by -f.
    let out = run(&["sql", "-f", "parquet", "SELECT k1, v FROM t", path_str(&path)], None);
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], b"PAR1");
}

/// A plain GROUP BY (keys and aggregates of columns, ordered by the keys or not at all) runs on
/// pframe's group-by: partial states per chunk, merged, in bounded memory, without the
/// whole-input notice; the answer is polars' over the whole input, SQL's NULL sum of a group
/// without values included.
#[test]
fn sql_group_by_runs_on_partial_states() {
    let mut data = awkward_g1(3000, 8);
    data.push_str("id009,nullsum,x,1,2,3,,4,\n");
    let (_d, path) = temp_file("g.csv", data.as_bytes());
    // Plain group-bys, and queries over the groups (arithmetic of aggregates, HAVING, ORDER BY,
    // LIMIT), which run the group-by on the engine and the rest in polars over the groups. Each
    // against polars over the whole input (a WHERE keeps a query off the engine).
    for query in [
        "SELECT id1, sum(v1) AS s, count(*) AS n FROM t GROUP BY id1 ORDER BY id1",
        "SELECT count(*) AS n, id2, avg(v3) AS m, min(id3) AS lo, max(v2) AS hi, stddev(v3) AS sd, \
         variance(v1) AS va, median(v3) AS me, count(v1) AS c, sum(v3) AS s3 FROM t GROUP BY id1, id2 ORDER BY id1, id2",
        "SELECT id2, sum(v1) AS s FROM t GROUP BY id2, id1 ORDER BY id2, id1",
        "SELECT id1, max(v1) - min(v2) AS r, count(*) AS n FROM t GROUP BY id1 HAVING count(*) > 5 \
         ORDER BY r DESC, id1 LIMIT 4",
        "SELECT id1, id2, pow(corr(v1, v3), 2) AS r2, quantile_cont(v3, 0.25) AS q FROM t GROUP BY id1, id2 \
         ORDER BY id1, id2",
        "SELECT id2, sum(v1) / count(v1) AS m, avg(v1) AS a, sum(v1) FROM t GROUP BY id2 ORDER BY id2 NULLS LAST",
        "SELECT id1, upper(min(id3)) AS lo FROM t GROUP BY id1 ORDER BY id1",
    ] {
        let whole_query = query.replacen(" GROUP BY", " WHERE TRUE GROUP BY", 1);
        let whole = run_ok(&["sql", &whole_query, path_str(&path)], None);
        for (size, input) in [("1KiB", "-"), ("1MiB", "-"), ("1KiB", path_str(&path))] {
            let out = run(&["sql", "--chunk-size", size, query, input], Some(data.as_bytes()));
            assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(out.stderr.is_empty(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
            assert_same_table(&String::from_utf8(out.stdout).unwrap(), &whole);
        }
    }
    let nulls =
        run_ok(&["sql", "SELECT id2, sum(v1) AS s FROM t GROUP BY id2 ORDER BY id2", "-"], Some(data.as_bytes()));
    assert!(nulls.ends_with("\nnullsum,\n"), "{nulls}");
}

/// The db-benchmark's ten group-by questions, each as pframe answers it (groupby, or sql for the
/// arithmetic of aggregates), against pandas on a G1 table with missing keys and values, from a
/// file and from stdin.
#[test]
fn db_benchmark_questions_match_pandas() {
    let has_pandas = Command::new("python3").args(["-c", "import pandas"]).status().is_ok_and(|s| s.success());
    if !has_pandas {
        eprintln!("skipped: pandas is not installed (scripts/test.sh installs it)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/h2o.py");
    let data = run_ok(&["gen", "csv", "--rows", "20000", "--groups", "10", "--seed", "5", "--na-percent", "10"], None);
    let (dir, path) = temp_file("g.csv", data.as_bytes());
    let p = path_str(&path);
    let questions: [&[&str]; 10] = [
        &["groupby", "-b", "id1", "-a", "sum(v1)"],
        &["groupby", "-b", "id1,id2", "-a", "sum(v1)"],
        &["groupby", "-b", "id3", "-a", "sum(v1),mean(v3)"],
        &["groupby", "-b", "id4", "-a", "mean(v1),mean(v2),mean(v3)"],
        &["groupby", "-b", "id6", "-a", "sum(v1),sum(v2),sum(v3)"],
        &["groupby", "-b", "id4,id5", "-a", "median(v3),std(v3)"],
        &["sql", "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM t GROUP BY id3"],
        &["groupby", "-b", "id6", "-a", "top_k(v3,2)"],
        &["sql", "SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM t GROUP BY id2, id4"],
        &["groupby", "-b", "id1,id2,id3,id4,id5,id6", "-a", "sum(v3),count(v1)"],
    ];
    for (i, args) in questions.iter().enumerate() {
        let q = (i + 1).to_string();
        let ours = run_ok(&[*args, &[p]].concat(), None);
        assert_eq!(
            run_ok(&[*args, &["--chunk-size", "4KiB", "-"]].concat(), Some(data.as_bytes())),
            ours,
            "q{q} stdin"
        );
        let theirs = Command::new("python3").args([script, "pandas", &q, p]).output().unwrap();
        assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
        let (a, b) = (dir.path().join(format!("q{q}.ours.csv")), dir.path().join(format!("q{q}.pandas.csv")));
        std::fs::write(&a, &ours).unwrap();
        std::fs::write(&b, &theirs.stdout).unwrap();
        let check = Command::new("python3").args([script, "check", &q, path_str(&a), path_str(&b)]).output().unwrap();
        assert!(check.status.success(), "q{q}: {}\nours:\n{ours}", String::from_utf8_lossy(&check.stderr));
    }
}

/// Keys whose sort codes fit 64 bits, 128 bits, or neither (three float columns): the same
/// groups, nulls last in every column, in every engine and with small blocks of output.
#[test]
fn keys_of_every_code_width_sort_and_keep_their_nulls() {
    let data = "a,b,c,v\n1.5,2.5,,1\n1.5,2.5,3,2\n,2.5,3,4\n1.5,2.5,,8\n1.5,-2.5,7,16\n";
    let (_d, path) = temp_file("w.csv", data.as_bytes());
    let p = path_str(&path);
    let cases = [
        // c (integers, 3 bits) alone: narrow.
        ("c", "c,sum_v\n3,6\n7,16\n,9\n"),
        // a and c: a float's 64 bits and c's: packed in 128.
        ("a,c", "a,c,sum_v\n1.5,3,2\n1.5,7,16\n1.5,,9\n,3,4\n"),
        // Three floats, and c: wider than 128 bits.
        ("a,b,a2,c", "a,b,a2,c,sum_v\n1.5,-2.5,1.5,7,16\n1.5,2.5,1.5,3,2\n1.5,2.5,1.5,,9\n,2.5,,3,4\n"),
    ];
    let data2: String = data
        .lines()
        .enumerate()
        .map(
            |(i, l)| {
                if i == 0 { "a,b,c,v,a2\n".to_string() } else { format!("{l},{}\n", l.split(',').next().unwrap()) }
            },
        )
        .collect();
    let (_d2, path2) = temp_file("w2.csv", data2.as_bytes());
    for (by, expected) in cases {
        for engine in ["serial", "parallel", "polars"] {
            let out = run_ok(
                &["groupby", "-e", engine, "--chunk-size", "8", "-b", by, "-a", "sum(v)", path_str(&path2)],
                None,
            );
            assert_eq!(out, expected, "by {by}, engine {engine}");
        }
    }
    assert!(run_ok(&["groupby", "-b", "c", "-a", "sum(v)", p], None).ends_with(",9\n"));
}

/// Counts, sums and means are written straight from a group's row of states when they are all
/// the query asks for; with another aggregation beside them they go through the general states:
/// the same fields either way, for sums past i64, sums of values far apart in magnitude (past the
/// 128-bit window), means of nothing, and keys spelled two ways (whose groups merge).
#[test]
fn counts_sums_and_means_read_the_same_from_rows_and_from_states() {
    let mut data = String::from("k,n,i,f\n");
    let awkward = [
        ("a", "1", "9223372036854775807", "1e300"),
        ("a", "1", "9223372036854775807", "1e-300"),
        ("a", "1", "-3", "-1e300"),
        ("b", "2", "", ""),
        ("7", "7", "1", "0.1"),
        ("07", "07", "2", "0.2"),
        ("c", "3", "-9223372036854775808", "-0.0"),
        ("c", "3", "-1", "5e-324"),
    ];
    for (k, n, i, f) in awkward {
        data.push_str(&format!("{k},{n},{i},{f}\n"));
    }
    for r in 0..5000u64 {
        let x = r.wrapping_mul(2654435761) % 1000;
        data.push_str(&format!("g{},{},{},{}.{:03}\n", x % 700, 100 + x % 50, x as i64 - 500, x, r % 997));
    }
    let (_d, path) = temp_file("scalar.csv", data.as_bytes());
    let p = path_str(&path);
    let aggs = "count,count(f),sum(i),sum(f),mean(f),mean(i)";
    for by in ["k", "n", "k,n"] {
        let scalar = run_ok(&["groupby", "-b", by, "-a", aggs, p], None);
        let general = run_ok(&["groupby", "-b", by, "-a", &format!("{aggs},max(f)"), p], None);
        let without_max: String = general.lines().map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()])).collect();
        assert_eq!(scalar, without_max, "by {by}");
        assert!(scalar.lines().count() > 50, "by {by}");
    }
    let by_k = run_ok(&["groupby", "-b", "k", "-a", aggs, p], None);
    assert!(by_k.contains("\na,3,3,1.8446744073709552e19,1e-300,3.3333333333333334e-301,"), "{by_k}");
    assert!(by_k.contains("\nb,1,0,0,0.0,,\n"), "{by_k}");
    // 7 and 07 are one number: their groups merge.
    let by_n = run_ok(&["groupby", "-b", "n", "-a", aggs, p], None);
    assert!(by_n.contains("\n7,2,2,3,0.30000000000000004,0.15000000000000002,1.5\n"), "{by_n}");
}

/// Integer and float keys are coded from the values the walk over the groups read once (see
/// `finish::code_columns`): the extremes of i64 and of the doubles sort first and last and a
/// null (an empty field) after them, whatever engine read the file and however its groups were
/// split among chunks and partitions.
#[test]
fn integer_and_float_keys_sort_by_value_with_nulls_last() {
    let keys = [
        ("9223372036854775807", "1e308"),
        ("", ""),
        ("-9223372036854775808", "-1e308"),
        ("5", ""),
        ("0", "0.5"),
        ("-1", "-0.25"),
    ];
    let mut data = String::from("i,f,v\n");
    for r in 0..300 {
        let (i, f) = keys[r % keys.len()];
        data.push_str(&format!("{i},{f},{r}\n"));
    }
    let (_d, path) = temp_file("extremes.csv", data.as_bytes());
    let p = path_str(&path);
    let by_i = "i,count\n-9223372036854775808,50\n-1,50\n0,50\n5,50\n9223372036854775807,50\n,50\n";
    let by_f = "f,count\n-1e308,50\n-0.25,50\n0.5,50\n1e308,50\n,100\n";
    let by_both = "i,f,count\n-9223372036854775808,-1e308,50\n-1,-0.25,50\n0,0.5,50\n5,,50\n\
                   9223372036854775807,1e308,50\n,,50\n";
    for engine in ["serial", "parallel", "polars"] {
        for chunk in ["16", "1MiB"] {
            for (by, expected) in [("i", by_i), ("f", by_f), ("i,f", by_both)] {
                let out = run_ok(&["groupby", "-e", engine, "--chunk-size", chunk, "-b", by, "-a", "count", p], None);
                assert_eq!(out, expected, "by {by}, engine {engine}, chunk {chunk}");
            }
        }
    }
}

/// A new group's key fields are checked to be UTF-8 where the group is made (see
/// `chunk::Aggregator::flush`), including those of columns whose type is settled and no longer
/// inferred: an invalid byte in a text or a numeric key column, after thousands of groups, is an
/// error naming the file, its line and the column, on every engine, from a file and from stdin;
/// valid non-ASCII text is a key like any other.
#[test]
fn a_key_field_of_invalid_utf8_is_an_error_naming_its_line_and_column() {
    let mut good = b"k,n,v\n".to_vec();
    for r in 0..3000 {
        good.extend(format!("g{},{},1\n", r % 1000, r % 7).as_bytes());
    }
    good.extend("b\u{e9},5,2\n".as_bytes());
    let (_d, path) = temp_file("good.csv", &good);
    let out = run_ok(&["groupby", "-b", "k,n", "-a", "sum(v)", path_str(&path)], None);
    assert!(out.contains("\nb\u{e9},5,2\n"), "{out}");
    for (bad_line, column) in [(&b"c\xff,5,3\n"[..], "k"), (&b"c,5\xff,3\n"[..], "n")] {
        let data = [&good[..], bad_line].concat();
        let (_d, path) = temp_file("bad.csv", &data);
        let p = path_str(&path);
        for engine in ["serial", "parallel", "polars"] {
            for input in [Some(p), None] {
                let mut args = vec!["groupby", "-e", engine, "--chunk-size", "4KiB", "-b", "k,n", "-a", "sum(v)"];
                args.extend(input);
                let out = run(&args, input.is_none().then_some(&data[..]));
                let name = input.unwrap_or("<stdin>");
                assert_eq!(
                    String::from_utf8_lossy(&out.stderr),
                    format!("pframe: {name}: line 3003: column {column}: invalid UTF-8\n"),
                    "column {column}, engine {engine}"
                );
                assert!(!out.status.success(), "column {column}, engine {engine}");
            }
        }
    }
}

/// A text key column of nearly a text per group is coded without a dictionary (see
/// `finish::TextGather`): its texts are sorted as they come, equal ones together, so a key the
/// workers both hold (two copies of its group) is still one row, in order.
#[test]
fn a_text_per_group_is_one_row_per_text_in_order() {
    let n = 200_000u64;
    let mut data = String::from("k,v\n");
    for round in 0..2 {
        for i in 0..n {
            data.push_str(&format!("t{:07},{round}\n", i * 7919 % n));
        }
    }
    let (_d, path) = temp_file("texts.csv", data.as_bytes());
    let expected: String =
        std::iter::once("k,count,sum_v\n".to_string()).chain((0..n).map(|i| format!("t{i:07},2,1\n"))).collect();
    for args in [&["-j", "2", "--chunk-size", "64KiB"][..], &["-e", "serial"], &["-j", "2"]] {
        let out = run_ok(&[&["groupby", "-b", "k", "-a", "count,sum(v)"][..], args, &[path_str(&path)]].concat(), None);
        assert!(out == expected, "{args:?}: {} lines", out.lines().count());
    }
}

/// Long keys that share most of their bytes (ids padded with zeros to 64 characters; a key and
/// its prefix; keys of 200 bytes equal but for their last): each group found as itself and the
/// groups in byte order, on both engines and in small chunks, as a plain sort of the keys has them.
#[test]
fn long_keys_sharing_prefixes_group_and_sort_as_bytes() {
    let n = 60_000u64;
    let long = "x".repeat(199);
    let mut keys: Vec<String> = (0..n).map(|i| format!("{:064x}", i * 7919 % n)).collect();
    keys.extend(["0".repeat(63), "0".repeat(65), format!("{long}a"), format!("{long}b"), long.clone()]);
    let mut data = String::from("k,v\n");
    for round in 0..2 {
        for k in &keys {
            data.push_str(&format!("{k},{round}\n"));
        }
    }
    let (_d, path) = temp_file("long_keys.csv", data.as_bytes());
    keys.sort();
    let expected: String =
        std::iter::once("k,count,sum_v\n".to_string()).chain(keys.iter().map(|k| format!("{k},2,1\n"))).collect();
    for args in [&["-j", "2", "--chunk-size", "64KiB"][..], &["-e", "serial"], &["-j", "2"]] {
        let out = run_ok(&[&["groupby", "-b", "k", "-a", "count,sum(v)"][..], args, &[path_str(&path)]].concat(), None);
        assert!(out == expected, "{args:?}: {} lines", out.lines().count());
    }
}

/// A file's size is known before it is read, so a store headed for a group per row is sized
/// ahead for the rows left (see `engine::groupby::estimate`); from stdin it grows as it goes.
/// Enough groups for every partition of both workers to be sized: the same rows either way, and
/// on the serial engine.
#[test]
fn stores_sized_ahead_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&["gen", "csv", "--rows", "400000", "--groups", "400000", "-o", path_str(&data)], None);
    let bytes = std::fs::read(&data).unwrap();
    let query = ["groupby", "-b", "id1,id2,id3,id4,id5,id6", "-a", "sum(v3),count,max(v1)"];
    let from_stdin = run_ok(&[&query[..], &["-e", "parallel", "-"]].concat(), Some(&bytes));
    assert!(from_stdin.lines().count() > 390_000, "a group per row, about");
    for engine in ["parallel", "serial"] {
        let out = run_ok(&[&query[..], &["-e", engine, path_str(&data)]].concat(), None);
        assert!(out == from_stdin, "{engine}");
    }
}

/// A group-by whose groups pass `--memory-limit` spills them to temporary files and merges them
/// back: the same bytes as in memory, from a file and from stdin, in every format, said on stderr.
#[test]
fn memory_limit_spills_and_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&["gen", "csv", "--rows", "30000", "--groups", "30000", "--na-percent", "5", "-o", path_str(&data)], None);
    let bytes = std::fs::read(&data).unwrap();
    let query = ["groupby", "-b", "id4,id5", "-a", "count,sum(v3),mean(v1),median(v2),max(id1),top_k(v3,2)"];
    for format in ["csv", "tsv", "json"] {
        let q = [&query[..], &["-f", format]].concat();
        let reference = run_ok(&[&q[..], &[path_str(&data)]].concat(), None);
        assert!(reference.lines().count() > 20_000, "many groups");
        for (engine, input) in [("parallel", None), ("serial", Some(&bytes[..])), ("parallel", Some(&bytes[..]))] {
            let file = if input.is_some() { "-" } else { path_str(&data) };
            let args = [&q[..], &["-e", engine, "--chunk-size", "16KiB", "--memory-limit", "256KiB", file]].concat();
            let out = run(&args, input);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(
                String::from_utf8(out.stdout).unwrap() == reference,
                "{format} {engine} stdin: {}",
                input.is_some()
            );
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(stderr.contains("the groups passed the memory limit (256.0 KiB)"), "{stderr}");
        }
    }
    // SQL's GROUP BY runs on the same engine, under the same limit.
    let sql = "SELECT id4, id5, count(*) AS n, sum(v3) AS s, max(v1) - min(v2) AS r FROM t GROUP BY id4, id5";
    let reference = run_ok(&["sql", sql, path_str(&data)], None);
    let out = run(&["sql", sql, "--chunk-size", "16KiB", "--memory-limit", "256KiB", "-"], Some(&bytes));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap() == reference, "sql");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the groups passed the memory limit"));
}

/// Spilling where temporary files cannot be written fails with a message naming TMPDIR, a
/// non-zero exit, and no output file; a limit that is not a size is a usage error.
#[test]
fn memory_limit_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&["gen", "csv", "--rows", "20000", "--groups", "20000", "-o", path_str(&data)], None);
    let out_file = dir.path().join("out.csv");
    let args = ["groupby", "-b", "id4,id5", "-a", "count", "--memory-limit", "64KiB", "-o", path_str(&out_file)];
    let out = crate::pframe().args(args).arg(&data).env("TMPDIR", dir.path().join("missing")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("pframe: spilling groups: cannot write temporary files in "), "{stderr}");
    assert!(stderr.contains("(TMPDIR)"), "{stderr}");
    assert!(!out_file.exists(), "no output file");
    for bad in ["0", "lots", "1.5.3"] {
        let out = run(&["groupby", "-b", "id4", "-a", "count", "--memory-limit", bad, path_str(&data)], None);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--memory-limit"), "{bad}");
    }
}

/// Spilled data never outlives the process: the files are unlinked as they are made, so a run
/// killed in the middle leaves at most an empty directory in TMPDIR, and a finished one nothing.
#[test]
fn spill_files_do_not_outlive_the_process() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&["gen", "csv", "--rows", "40000", "--groups", "40000", "-o", path_str(&data)], None);
    let bytes = std::fs::read(&data).unwrap();
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    let args = ["groupby", "-b", "id4,id5", "-a", "count", "--chunk-size", "8KiB", "--memory-limit", "64KiB", "-"];
    let entries = |d: &std::path::Path| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    for kill in [true, false] {
        let mut child = crate::pframe()
            .args(args)
            .env("TMPDIR", &tmp)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(first).unwrap();
        stdin.flush().unwrap();
        // Wait for the first spill: its directory appears, and stays empty of files.
        let t0 = std::time::Instant::now();
        while entries(&tmp).is_empty() {
            assert!(t0.elapsed().as_secs() < 30, "no spill directory");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // No file stays there (one made and removed at once may be seen in passing).
        for spill in entries(&tmp) {
            let seen = entries(&spill);
            std::thread::sleep(std::time::Duration::from_millis(100));
            let stayed: Vec<_> = entries(&spill).into_iter().filter(|f| seen.contains(f)).collect();
            assert!(stayed.is_empty(), "files in {}: {stayed:?}", spill.display());
        }
        if kill {
            child.kill().unwrap();
            child.wait().unwrap();
            let left = entries(&tmp);
            assert!(left.iter().all(|d| entries(d).is_empty()), "{left:?}");
            left.iter().for_each(|d| std::fs::remove_dir(d).unwrap());
        } else {
            stdin.write_all(rest).unwrap();
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(entries(&tmp).is_empty(), "{:?}", entries(&tmp));
        }
    }
}

/// A key column's type is learnt from every group's field, whichever comes first in a chunk:
/// integers then a float make float keys; integers, null markers and then a text make text keys
/// (sorted as text); digits among texts stay text. One chunk (where a field that cannot change
/// the column's type is not typed again) and a chunk per record agree, and on the literal answer.
#[test]
fn key_types_widen_whatever_comes_first_in_a_chunk() {
    let cases = [
        ("k,v\n10,1\n9,2\n007,3\n2.5,4\n10,5\n", "k,count,sum_v\n2.5,1,4\n7.0,1,3\n9.0,1,2\n10.0,2,6\n"),
        ("k,v\n10,1\nNA,2\n9,3\nx,4\n10,5\n", "k,count,sum_v\n10,2,6\n9,1,3\nNA,1,2\nx,1,4\n"),
        ("k,v\nb,1\n12,2\na,3\n3,4\n", "k,count,sum_v\n12,1,2\n3,1,4\na,1,3\nb,1,1\n"),
    ];
    for (data, want) in cases {
        let (_d, path) = temp_file("k.csv", data.as_bytes());
        for size in ["1", "1MiB"] {
            for engine in ["serial", "parallel"] {
                let args = ["groupby", "-e", engine, "--chunk-size", size, "-b", "k", "-a", "count,sum(v)"];
                let out = run(&[&args[..], &[path_str(&path)]].concat(), None);
                assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{engine} {size}: {data:?}");
            }
        }
    }
}

/// A query over the groups whose result is empty (its header alone), and one whose result is
/// longer than a slice of rendered rows (written a slice at a time from the result's columns),
/// give the whole-input path's answers.
#[test]
fn sql_over_groups_empty_and_long_results() {
    let data = run_ok(&["gen", "csv", "--rows", "200000", "--groups", "2", "--seed", "4"], None);
    let (_d, path) = temp_file("g.csv", data.as_bytes());
    let p = path_str(&path);
    for (query, min_rows) in [
        ("SELECT id3, max(v1) - min(v2) AS r, min(id6) AS m FROM t GROUP BY id3 ORDER BY id3", 70_000),
        ("SELECT id3, max(v1) - min(v2) AS r FROM t GROUP BY id3 HAVING count(*) > 1000000", 0),
    ] {
        let whole = run_ok(&["sql", &query.replacen(" GROUP BY", " WHERE TRUE GROUP BY", 1), p], None);
        let ours = run_ok(&["sql", query, p], None);
        assert!(ours.lines().count() > min_rows, "{query}: {} lines", ours.lines().count());
        assert_same_table(&ours, &whole);
        if min_rows == 0 {
            assert_eq!(ours, "id3,r\n", "{query}");
        }
    }
}

/// A table of groups longer than the blocks it is made in (16,384 groups) takes each column's
/// type from every block: a column null in the first blocks and integers after, one of integers
/// with a float in the last block only. Plain GROUP BYs and queries over the groups give the
/// whole-input path's answers, as CSV and as one Parquet file (each column of one type through
/// every slice written).
#[test]
fn sql_groups_typed_over_every_block() {
    use std::fmt::Write as _;
    let mut data = String::from("k,v,w\n");
    for k in 0..40_000 {
        let v = if k < 30_000 { String::new() } else { (k % 7).to_string() };
        let w = if k == 39_999 { "2.5".to_string() } else { (k % 11).to_string() };
        writeln!(data, "{k},{v},{w}").unwrap();
    }
    let (dir, path) = temp_file("g.csv", data.as_bytes());
    let p = path_str(&path);
    // (`v` declared: the whole-input path types a column by a sample, where `v` is empty.)
    for query in [
        "SELECT k, max(v) AS mv, min(w) AS mw, count(*) AS n FROM t GROUP BY k",
        "SELECT k, max(v) - min(w) AS d, count(v) AS n FROM t GROUP BY k ORDER BY k",
    ] {
        let whole_query = query.replacen(" GROUP BY", " WHERE TRUE GROUP BY", 1);
        let whole = run_ok(&["sql", "--schema", "v:int", &whole_query, p], None);
        let ours = run_ok(&["sql", "--schema", "v:int", query, p], None);
        assert_eq!(ours.lines().count(), 40_001, "{query}");
        // The last group's float (2.5, or 1 - 2.5) in a column of integers until then.
        assert!(ours.lines().last().unwrap().contains(".5"), "{query}: {}", ours.lines().last().unwrap());
        assert_same_table(&ours, &whole);
        let (a, b) = (dir.path().join("ours.parquet"), dir.path().join("whole.parquet"));
        run_ok(&["sql", "--schema", "v:int", query, p, "-o", path_str(&a)], None);
        run_ok(&["sql", "--schema", "v:int", &whole_query, p, "-o", path_str(&b)], None);
        let read = |f: &std::path::Path| run_ok(&["sql", "SELECT * FROM t", path_str(f)], None);
        assert_eq!(read(&a), ours, "{query}: the Parquet file reads back as the CSV");
        assert_same_table(&read(&b), &whole);
    }
}

/// A column with no value in the rows the query is planned from (the first 10,000) is planned as
/// text, and again as of no type when the query needs a number of it: sums, arithmetic and
/// comparisons of a numeric column that starts empty run on every path (the whole input, groups
/// under a filter, row by row), from a file and from stdin; a text column that starts empty still
/// takes text functions.
#[test]
fn sql_plans_a_column_empty_in_the_sample() {
    use std::fmt::Write as _;
    let mut data = String::from("k,v,w,t\n");
    for k in 0..12_000 {
        let (v, t) = if k < 11_000 { (String::new(), "") } else { ((k % 7).to_string(), "ab") };
        writeln!(data, "{k},{v},{},{t}", k % 11).unwrap();
    }
    let (_d, path) = temp_file("e.csv", data.as_bytes());
    // v: 11000..12000 mod 7, sum 3001, max 6; w's min 0; t "ab" from row 11000.
    let want = [
        ("SELECT max(v) - min(w) AS d, sum(v) AS s FROM t", "d,s\n6,3001\n"),
        ("SELECT sum(v) AS s FROM t WHERE k > 5", "s\n3001\n"),
        ("SELECT k, v + 1 AS x FROM t WHERE k >= 10999 AND k < 11002", "k,x\n10999,\n11000,4\n11001,5\n"),
        ("SELECT k, v * 2 AS x FROM t WHERE v > 5 AND k < 11020", "k,x\n11003,12\n11010,12\n11017,12\n"),
        ("SELECT max(v) + 1 AS m FROM t WHERE w = 3 GROUP BY w", "m\n7\n"),
        ("SELECT upper(t) AS u FROM t WHERE k = 11000", "u\nAB\n"),
    ];
    for (query, expected) in want {
        for input in [path_str(&path), "-"] {
            let out = run(&["sql", query, input], Some(data.as_bytes()));
            assert!(out.status.success(), "{query} < {input}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{query} < {input}");
        }
    }
}

/// A column of the table of groups with no value at all (an aggregate over nulls only, or no
/// groups) has the type the query was planned with (`--schema`), on the engine's path as on the
/// whole-input path.
#[test]
fn sql_over_groups_types_a_column_without_values_as_planned() {
    let query = "SELECT a, max(v) - min(v) AS r, count(v) AS n FROM t GROUP BY a ORDER BY a";
    for (data, want) in [("a,v\nx,\ny,\n", "a,r,n\nx,,0\ny,,0\n"), ("a,v\n", "a,r,n\n")] {
        let (_d, path) = temp_file("n.csv", data.as_bytes());
        let whole = query.replacen(" GROUP BY", " WHERE TRUE GROUP BY", 1);
        for q in [query, &whole] {
            let out = run(&["sql", "--schema", "v:float", q, path_str(&path)], None);
            assert!(out.status.success(), "{q}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{q} over {data:?}");
        }
    }
}

/// Values whose squares and products are past the doubles (or below their normal range): the
/// standard deviation is still found (1e308, where polars, DuckDB and pandas overflow to inf;
/// 1e-200, where they underflow to 0), a variance below the doubles is 0, and a correlation is
/// still computed (pandas' -0.5, to an ulp, and 1.0; NaN only for infinite values); the same on
/// every engine, piped in small chunks and through SQL.
#[test]
fn squares_past_the_doubles_give_inf_and_correlations() {
    let data = "k,x,y\nf,1e308,1\nf,-1e308,2\nf,1e-320,3\n\
                t,1e-200,1e-300\nt,2e-200,2e-300\nt,3e-200,3e-300\n\
                g,inf,1\ng,1,2\n";
    let (_d, path) = temp_file("huge.csv", data.as_bytes());
    // t's variance, 1e-600, is below the doubles: the 0 it rounds to.
    let expected = "k,std_x,var_y,corr_x_y\nf,1e308,1.0,-0.5000000000000001\ng,NaN,0.5,NaN\nt,1e-200,0.0,1.0\n";
    for args in [&["-e", "serial"][..], &["-j", "2"], &["-j", "2", "--chunk-size", "16"]] {
        let out = run_ok(
            &[&["groupby", "-b", "k", "-a", "std(x),var(y),corr(x,y)"][..], args, &[path_str(&path)]].concat(),
            None,
        );
        assert_eq!(out, expected, "{args:?}");
    }
    let out = run_ok(
        &["groupby", "-b", "k", "-a", "std(x),var(y),corr(x,y)", "--chunk-size", "16", "-"],
        Some(data.as_bytes()),
    );
    assert_eq!(out, expected, "stdin");
    let sql = "SELECT k, stddev(x) AS s, corr(x, y) AS r FROM t GROUP BY k ORDER BY k";
    let out = run_ok(&["sql", sql, path_str(&path)], None);
    assert_eq!(out, "k,s,r\nf,1e308,-0.5000000000000001\ng,NaN,NaN\nt,1e-200,1.0\n");
}
