//! Shards, partial files, `pframe merge` and `pframe submit`: the merged result of any number of
//! shards is the single run's, byte for byte; bad sets of parts are refused by name; and a real
//! Slurm cluster (started by the test command when it runs as root) runs the job arrays.

use std::path::Path;

use proptest::prelude::*;

use pframe::agg::Unit;
use pframe::engine::Engine;
use pframe::engine::count::{CountPlan, count};
use pframe::input::{CsvBoundary, ReadOptions, Shard, Source, shard_range};

use super::{path_str, run, run_ok, temp_file};

/// Quoted keys with commas, doubled quotes and newlines (CRLF and LF inside quotes), CRLF records,
/// a BOM, nulls, negative numbers and floats.
fn awkward_csv(rows: usize) -> Vec<u8> {
    let keys = ["\"a,b\"", "\"say \"\"hi\"\"\"", "\"multi\nline\"", "\"crlf\r\ninside\"", "", "zz", "x"];
    let mut s = String::from("\u{feff}k1,k2,v,w\r\n");
    for i in 0..rows {
        let k1 = keys[i * 7 % keys.len()];
        let k2 = ["x", "y", ""][i % 3];
        let v = if i % 11 == 0 { String::new() } else { format!("{}", (i as i64 * 37 % 101) - 50) };
        let w = if i % 13 == 0 { String::new() } else { format!("{}.{}", i % 17, i * 7 % 10) };
        s.push_str(&format!("{k1},{k2},{v},{w}\r\n"));
    }
    s.into_bytes()
}

const AGGS: &str =
    "count,count(v),sum(v),mean(v),sum(w),mean(w),std(w),var(v),min(w),max(v),median(w),n_unique(k2),first(w),last(v)";

/// Runs `cmd` on each of the `n` shards of `file`, writing `dir/part-I.json`; returns their paths.
fn write_shards(dir: &Path, cmd: &[&str], file: &Path, n: u32) -> Vec<std::path::PathBuf> {
    (0..n)
        .map(|i| {
            let part = dir.join(format!("part-{i}.json"));
            let shard = format!("{i}/{n}");
            let mut args = cmd.to_vec();
            args.extend(["--shard", &shard, "--partial-out", path_str(&part), path_str(file)]);
            let out = run_ok(&args, None);
            assert_eq!(out, "", "a partial run prints nothing");
            part
        })
        .collect()
}

fn shard_and_merge(dir: &Path, cmd: &[&str], file: &Path, n: u32) -> String {
    let parts = write_shards(dir, cmd, file, n);
    // The parts in reverse order: the merge orders them by shard.
    let mut args = vec!["merge", "-f", "csv"];
    args.extend(parts.iter().rev().map(|p| path_str(p)));
    run_ok(&args, None)
}

#[test]
fn merged_shards_equal_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("awkward.csv");
    std::fs::write(&csv, awkward_csv(400)).unwrap();
    let words = dir.path().join("words.txt");
    std::fs::write(&words, "The cat\r\nsat on\r\n\r\nthe \u{212A}elvin mat\r\nno newline at the end".repeat(50))
        .unwrap();
    let ndjson = dir.path().join("rows.ndjson");
    let rows: String = (0..300)
        .map(|i| {
            format!(
                "{{\"k\": {}, \"v\": {}}}\n",
                ["\"a\"", "\"b\"", "null"][i % 3],
                ["1", "2.5", "null", "-3e-7"][i % 4]
            )
        })
        .collect();
    std::fs::write(&ndjson, rows).unwrap();
    let cases: [(&[&str], &Path); 7] = [
        (&["groupby", "-b", "k1,k2", "-a", AGGS], &csv),
        (&["groupby", "--no-mmap", "--chunk-size", "100", "-b", "k1", "-a", AGGS], &csv),
        (&["groupby", "-b", "k", "-a", "count,sum(v),mean(v),std(v),first(v)"], &ndjson),
        (&["groupby", "-e", "serial", "--chunk-size", "64", "-b", "k2", "-a", "count,sum(v),max(w)"], &csv),
        (&["count", "-u", "words", "-i"], &words),
        (&["count", "-u", "letters", "--no-mmap"], &words),
        (&["count", "-u", "lines"], &words),
    ];
    for (cmd, file) in cases {
        let mut single = cmd.to_vec();
        single.extend(["-f", "csv", path_str(file)]);
        let expected = run_ok(&single, None);
        for n in [1, 2, 3, 7, 16] {
            let sub = tempfile::tempdir().unwrap();
            assert_eq!(shard_and_merge(sub.path(), cmd, file, n), expected, "{cmd:?} with {n} shards");
        }
    }
}

/// A quoted field with newlines across the middle of the file: shard 1 of 2 starts inside it,
/// assuming it is not. A shard run on its own finds its exact start; the merge re-runs a partial
/// shard from where shard 0 ended; both give the single run's answer.
#[test]
fn a_quoted_field_across_a_shard_cut() {
    // From inside the quoted field, its lines read as well-formed records (the last one `k,2"`,
    // a quote inside an unquoted field being literal), so the misplaced shard does not fail.
    let mut csv = String::from("k,v\n");
    csv.push_str(&format!("x,\"long{}\"\n", "\nk,2".repeat(300)));
    for i in 0..50 {
        csv.push_str(&format!("k{},{}\n", i % 3, i));
    }
    let (dir, path) = temp_file("q.csv", csv.as_bytes());
    let cmd = ["groupby", "-b", "k", "-a", "count,first(v),n_unique(v)"];
    let mut single = cmd.to_vec();
    single.extend(["-f", "csv", path_str(&path)]);
    let expected = run_ok(&single, None);
    assert!(expected.contains("\"long"), "{expected}");

    let parts = write_shards(dir.path(), &cmd, &path, 2);
    let out = run(&["merge", "-f", "csv", path_str(&parts[0]), path_str(&parts[1])], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.starts_with("pframe: merge: shard 1/2 started at byte "), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    // Each shard on its own, printed: shard 0 has the long record, shard 1 the rest (and not the
    // long record's lines, which a start assumed outside quotes would read as records).
    let shard0 = run_ok(&["groupby", "-f", "csv", "-b", "k", "-a", "count", "--shard", "0/2", path_str(&path)], None);
    let shard1 = run_ok(&["groupby", "-f", "csv", "-b", "k", "-a", "count", "--shard", "1/2", path_str(&path)], None);
    assert_eq!(shard0, "k,count\nx,1\n");
    assert_eq!(shard1, "k,count\nk0,17\nk1,17\nk2,16\n");

    // With the input changed since, the merge cannot re-run the shard and says so.
    std::fs::write(&path, csv.replace("long", "LONG")).unwrap();
    let out = run(&["merge", path_str(&parts[0]), path_str(&parts[1])], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has changed since the shards ran"), "{out:?}");
}

#[test]
fn more_shards_than_records_and_an_empty_file() {
    let (dir, small) = temp_file("s.csv", b"k,v\na,1\nb,2\n");
    let expected = run_ok(&["groupby", "-f", "csv", "-b", "k", "-a", "sum(v)", path_str(&small)], None);
    assert_eq!(shard_and_merge(dir.path(), &["groupby", "-b", "k", "-a", "sum(v)"], &small, 16), expected);
    let (dir, empty) = temp_file("e.txt", b"");
    let expected = run_ok(&["count", "-f", "csv", "-u", "words", path_str(&empty)], None);
    assert_eq!(shard_and_merge(dir.path(), &["count", "-u", "words"], &empty, 3), expected);
}

#[test]
fn a_shard_reports_errors_on_the_files_lines() {
    let mut csv = b"k,v\n".to_vec();
    for i in 0..1000 {
        csv.extend_from_slice(if i == 900 { b"a,oops\n".as_slice() } else { b"a,1\n".as_slice() });
    }
    let (_d, path) = temp_file("bad.csv", &csv);
    // The single run's message, from the merge of the shards that saw only numbers and text.
    let single = run(&["groupby", "-b", "k", "-a", "sum(v)", path_str(&path)], None);
    let single_err = String::from_utf8_lossy(&single.stderr).to_string();
    assert!(single_err.contains("line 902"), "{single_err}");
    let dir = tempfile::tempdir().unwrap();
    let parts = write_shards(dir.path(), &["groupby", "-b", "k", "-a", "sum(v)"], &path, 4);
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| path_str(p)));
    let merged = run(&args, None);
    assert_eq!(merged.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&merged.stderr),
        single_err.replace(&path_str(&path).to_string(), &std::path::absolute(&path).unwrap().display().to_string())
    );

    // A declared type is checked by the shard itself, on the file's line.
    let out =
        run(&["groupby", "-b", "k", "-a", "sum(v)", "--schema", "v:int", "--shard", "3/4", path_str(&path)], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 902: column v: cannot parse \"oops\""), "{out:?}");
}

#[test]
fn merge_refuses_incomplete_duplicated_and_mismatched_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, words) = temp_file("w.txt", b"one two\nthree\n");
    let (_d2, other) = temp_file("w.txt", b"one two\nthree four\n");
    let part = |name: &str, extra: &[&str], shard: &str, file: &Path| {
        let p = dir.path().join(name);
        let mut args = vec!["count", "-u", "words", "--shard", shard, "--partial-out", path_str(&p)];
        args.extend(extra);
        args.push(path_str(file));
        run_ok(&args, None);
        p
    };
    let p0 = part("p0.json", &[], "0/3", &words);
    let p1 = part("p1.json", &[], "1/3", &words);
    let p2 = part("p2.json", &[], "2/3", &words);
    let q1 = part("q1.json", &["-i"], "1/3", &words);
    let o1 = part("o1.json", &[], "1/3", &other);
    let (_d3, junk) = temp_file("junk.json", b"{\"format\": \"something else\"}");
    let cases: [(Vec<&Path>, String); 6] = [
        (vec![&p0, &p2], "pframe: missing shard 1 of 3 (have 2)".into()),
        (vec![&p0, &p1, &p1, &p2], format!("pframe: shard 1/3 is given twice: {} and {}", p1.display(), p1.display())),
        (vec![&p0, &q1, &p2], format!("pframe: {}: the query differs from {}'s", q1.display(), p0.display())),
        (vec![&p0, &o1, &p2], format!("pframe: {}: the input differs from {}'s", o1.display(), p0.display())),
        (vec![&p0, &junk], format!("pframe: {}: not a pframe partial file", junk.display())),
        (vec![&p0, Path::new("/nonexistent.json")], "pframe: /nonexistent.json: cannot read".into()),
    ];
    for (parts, want) in cases {
        let mut args = vec!["merge"];
        args.extend(parts.iter().map(|p| path_str(p)));
        let out = run(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr.starts_with(&want), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let merged = run_ok(&["merge", "-f", "csv", path_str(&p2), path_str(&p0), path_str(&p1)], None);
    assert_eq!(merged, "word,count\none,1\nthree,1\ntwo,1\n");
}

/// A group-by's partial state that is not what its query makes (a group's states missing, a field
/// gone) is refused by name, with the place in the file, and nothing is printed.
#[test]
fn merge_refuses_a_damaged_groupby_state() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, data) = temp_file("g.csv", b"k,v\na,1\nb,2\na,3\n");
    let parts = write_shards(dir.path(), &["groupby", "-b", "k", "-a", "sum(v),std(v)"], &data, 2);
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&parts[1]).unwrap()).unwrap();
    let damaged = |name: &str, damage: &dyn Fn(&mut serde_json::Value)| {
        let mut part = good.clone();
        damage(&mut part["state"]);
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_vec(&part).unwrap()).unwrap();
        p
    };
    let short = damaged("short.json", &|s| s["groups"][0][1] = serde_json::json!([]));
    let headless = damaged("headless.json", &|s| {
        s.as_object_mut().unwrap().remove("header");
    });
    for (part, want) in
        [(&short, "a group's states are not the query's aggregations"), (&headless, "missing field `header`")]
    {
        let out = run(&["merge", path_str(&parts[0]), path_str(part)], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with(&format!("pframe: malformed groupby partial: {}: ", part.display())), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let merged = run_ok(&["merge", "-f", "csv", path_str(&parts[0]), path_str(&parts[1])], None);
    assert_eq!(merged, run_ok(&["groupby", "-b", "k", "-a", "sum(v),std(v)", path_str(&data)], None));
}

#[test]
fn shard_usage() {
    let (_d, words) = temp_file("w.txt", b"a\n");
    type Case<'a> = (&'a [&'a str], Option<&'a [u8]>, &'a str);
    let cases: [Case; 5] = [
        (&["count", "--shard", "3/3", path_str(&words)], None, "pframe: --shard: \"3/3\" is not a shard I/N"),
        (&["count", "--shard", "x", path_str(&words)], None, "pframe: --shard: \"x\" is not a shard I/N"),
        (&["count", "--shard", "0/2", "-"], Some(b"a\n"), "pframe: --shard and --partial-out work on one FILE"),
        (&["count", "--shard", "0/2", path_str(&words), path_str(&words)], None, "pframe: --shard and --partial-out"),
        (
            &["count", "--shard", "auto", path_str(&words)],
            None,
            "pframe: --shard auto: not in a Slurm or SGE array task",
        ),
    ];
    for (args, stdin, want) in cases {
        let out = run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(want), "{args:?}: {stderr}");
    }
    // auto: from a Slurm array task's environment.
    let out = super::pframe()
        .args(["count", "-f", "csv", "-u", "lines", "--shard", "auto", path_str(&words)])
        .env("SLURM_ARRAY_TASK_ID", "5")
        .env("SLURM_ARRAY_TASK_MIN", "5")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "lines\n1\n", "{out:?}");
}

fn csv_strategy() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec!["a", "b,c", "\"q,\"\"x\"\"\"", "\"l\nm\"", "\"r\r\ns\"", "", "1", "-2.5"]);
    let row = prop::collection::vec(field, 2).prop_map(|f| f.join(","));
    let eol = prop::sample::select(vec!["\n", "\r\n"]);
    (prop::collection::vec((row, eol), 0..40), any::<bool>()).prop_map(|(rows, last_eol)| {
        let mut s: String = rows.iter().map(|(r, e)| format!("{r}{e}")).collect();
        if !last_eol && s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        s.into_bytes()
    })
}

/// Where every record of a well-formed CSV ends, by the csv crate.
fn csv_record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut ends = vec![0];
    while r.read_byte_record(&mut rec).unwrap() {
        // csv-core stops after the \r of a \r\n; the record ends after the \n.
        let mut e = r.position().byte() as usize;
        if e > 0 && bytes[e - 1] == b'\r' && bytes.get(e) == Some(&b'\n') {
            e += 1;
        }
        ends.push(e);
    }
    ends
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The shards of any N, each started where the previous one ended when its own start was
    /// wrong (as the merge does), tile the file on record boundaries; on a file without quotes no
    /// shard needs that.
    #[test]
    fn shards_tile_the_file_on_record_boundaries(input in csv_strategy(), n in 1u32..20) {
        let ends = csv_record_ends(&input);
        let quoted = input.contains(&b'"');
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &input).unwrap();
        let mut next = 0;
        for index in 0..n {
            let shard = Shard { index, count: n };
            let mut b = CsvBoundary::new(b',', b'"');
            let (mut start, mut end) = shard_range(&input, shard, None, &mut b);
            if start != next {
                prop_assert!(quoted, "shard {} of a file without quotes started at {} instead of {}", index, start, next);
                (start, end) = shard_range(&input, shard, Some(next), &mut b);
            }
            prop_assert_eq!(start, next);
            prop_assert!(end >= start);
            prop_assert!(ends.contains(&end) || end == input.len(), "shard {} ends at {} inside a record", index, end);
            // The start the chain arrives at is the one a scan from the file's start finds.
            let exact = pframe::input::exact_shard_start(file.path(), shard, CsvBoundary::new(b',', b'"')).unwrap();
            prop_assert_eq!(exact as usize, start);
            next = end;
        }
        prop_assert_eq!(next, input.len());
    }

    /// Counting the shards and adding the tallies gives the whole file's count.
    #[test]
    fn sharded_counts_add_up(input in prop::collection::vec(prop::sample::select(vec![b'a', b'Z', b' ', b'\n', b'\r', b'q']), 0..300), n in 1u32..12, mmap: bool) {
        let (_d, path) = temp_file("in.txt", &input);
        let plan = |shard| CountPlan {
            unit: Unit::Words,
            engine: Engine::Parallel,
            threads: 2,
            read: ReadOptions { chunk_size: 7, mmap, shard, ..ReadOptions::default() },
            lossy: false,
            ignore_case: false,
            words_shared_from: None,
        };
        let whole = count(&plan(None), &[Source::File(path.clone())]).unwrap().tally;
        let mut total = pframe::agg::Tally::empty(Unit::Words);
        for index in 0..n {
            total.merge(count(&plan(Some(Shard { index, count: n })), &[Source::File(path.clone())]).unwrap().tally);
        }
        prop_assert_eq!(total, whole);
    }
}

/// A real Slurm cluster, when the test command started one (as root; see scripts/slurm-local.sh).
fn slurm() -> bool {
    let up = std::process::Command::new("sinfo").args(["-h", "-o", "%t"]).output().is_ok_and(|o| {
        o.status.success() && matches!(String::from_utf8_lossy(&o.stdout).trim(), "idle" | "mix" | "alloc")
    });
    if !up {
        eprintln!("skipping the Slurm cases: no cluster (the test command starts one when run as root)");
    }
    up
}

/// `pframe submit --wait` of `cmd` as a 4-task array on the local Slurm cluster, in `work`.
fn slurm_submit(work: &Path, cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["submit", "--scheduler", "slurm", "--tasks", "4", "--wait", "--workdir", path_str(work)];
    args.extend(["--", "pframe"]);
    args.extend(cmd);
    run(&args, None)
}

#[test]
fn a_real_slurm_array_gives_the_single_result() {
    if !slurm() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("g.csv");
    std::fs::write(&csv, awkward_csv(2000)).unwrap();
    let expected = run_ok(&["groupby", "-f", "csv", "-b", "k1", "-a", AGGS, path_str(&csv)], None);
    let work = dir.path().join("job");
    let out = slurm_submit(&work, &["groupby", "-f", "csv", "-b", "k1", "-a", AGGS, path_str(&csv)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    assert!(stderr.starts_with("pframe: submitted job array "), "{stderr}");
    for i in 0..4 {
        assert!(work.join(format!("parts/part-{i}.json")).is_file());
    }
}

#[test]
fn a_failing_slurm_task_fails_the_run_by_name() {
    if !slurm() {
        return;
    }
    let mut text = b"hello world\n".repeat(2000);
    text[1500 * 12 + 3] = 0xff; // line 1501, in the last of 4 shards
    let (dir, path) = temp_file("bad.txt", &text);
    let work = dir.path().join("job");
    let out = slurm_submit(&work, &["count", "-u", "chars", path_str(&path)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let log = work.join("logs/task-3.log");
    let want = format!(
        "pframe: task 3 failed (log {}): pframe: {}: line 1501, byte offset 18003: invalid UTF-8",
        log.display(),
        path.display()
    );
    assert!(stderr.lines().last().unwrap_or_default().starts_with(&want), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sge_scripts_in_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("w");
    let args = [
        "submit",
        "--scheduler",
        "sge",
        "--tasks",
        "3",
        "--cpus-per-task",
        "2",
        "--time",
        "01:00:00",
        "--dry-run",
        "--workdir",
        path_str(&work),
        "--",
        "pframe",
        "groupby",
        "-b",
        "id1",
        "-a",
        "sum(v1)",
        "-o",
        "out.csv",
        "g1.csv",
    ];
    let out = run_ok(&args, None);
    let w = work.display();
    for line in [
        "#$ -t 1-3".to_string(),
        "#$ -pe smp 2".into(),
        "#$ -l h_rt=01:00:00".into(),
        format!("#$ -o {w}/logs/task-$TASK_ID.log"),
        format!("groupby -b id1 -a 'sum(v1)' g1.csv --shard auto --partial-out {w}/parts/part-\"$SGE_TASK_ID.json\""),
        format!(
            "merge -o {}/out.csv {w}/parts/part-*.json > {w}/result.tmp",
            std::env::current_dir().unwrap().display()
        ),
    ] {
        assert!(out.contains(&line), "no {line:?} in\n{out}");
    }
    assert!(!work.exists(), "a dry run creates nothing");
    let slurm = run_ok(
        &[
            "submit",
            "--scheduler",
            "slurm",
            "--tasks",
            "8",
            "--cpus-per-task",
            "4",
            "--partition",
            "long",
            "--dry-run",
            "--",
            "count",
            "w.txt",
        ],
        None,
    );
    for line in
        ["#SBATCH --array=0-7", "#SBATCH --cpus-per-task=4", "#SBATCH --partition=long", "--shard auto --partial-out"]
    {
        assert!(slurm.contains(line), "no {line:?} in\n{slurm}");
    }
    let bad =
        run(&["submit", "--scheduler", "slurm", "--tasks", "2", "--dry-run", "--", "sql", "select 1", "x.csv"], None);
    assert_eq!(bad.status.code(), Some(2));
}
