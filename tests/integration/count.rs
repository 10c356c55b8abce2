//! `pframe count` through the real binary: outputs, formats, inputs, engines, peers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::{model, path_str, pframe, run, run_ok, shared_dataset, temp_file};

/// A small text with CRLF, a blank line, non-ASCII letters and no trailing newline.
const TRICKY: &str =
    "The quick brown fox\r\n\r\njumps over the lazy dog.\n\u{212A}elvin \u{130}stanbul \u{e9}t\u{e9}\nZ";

const ENGINES: [&str; 3] = ["serial", "parallel", "polars"];

#[test]
fn letters_default_output_is_all_26_in_key_order() {
    let (_d, path) = temp_file("t.txt", b"Hello, World\n");
    let out = run_ok(&["count", path_str(&path)], None);
    let mut expected = [0u64; 26];
    for c in "helloworld".bytes() {
        expected[(c - b'a') as usize] += 1;
    }
    assert_eq!(out, model::letters_csv(&expected));
}

#[test]
fn every_engine_and_input_path_gives_the_model_answer() {
    let expected = model::letters_csv(&model::letters(TRICKY.as_bytes()));
    let (_d, path) = temp_file("t.txt", TRICKY.as_bytes());
    let p = path_str(&path);
    for engine in ENGINES {
        for size in ["1", "7", "4096", "1MiB"] {
            let base = ["count", "-e", engine, "--chunk-size", size, "-j", "2"];
            let file = run_ok(&[&base[..], &[p]].concat(), None);
            let no_mmap = run_ok(&[&base[..], &["--no-mmap", p]].concat(), None);
            let stdin = run_ok(&[&base[..], &["-"]].concat(), Some(TRICKY.as_bytes()));
            let implicit_stdin = run_ok(&base, Some(TRICKY.as_bytes()));
            for (what, got) in
                [("file", file), ("no-mmap", no_mmap), ("stdin", stdin), ("implicit stdin", implicit_stdin)]
            {
                assert_eq!(got, expected, "engine {engine}, chunk size {size}, {what}");
            }
        }
    }
}

#[test]
fn the_python_reference_agrees_on_awkward_text() {
    // The tutorial's own algorithm, run by Python, is the oracle for the letter semantics.
    let (_d, path) = temp_file("t.txt", TRICKY.as_bytes());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/count_letters.py");
    let py = Command::new("python3").args([script, "--mode", "serial", path_str(&path)]).output();
    let Ok(py) = py else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let python = String::from_utf8(py.stdout).unwrap();
    for engine in ENGINES {
        assert_eq!(run_ok(&["count", "-e", engine, path_str(&path)], None), python, "engine {engine}");
    }
}

#[test]
fn the_tutorial_file_gives_the_tutorial_counts() {
    let Some(words) = shared_dataset("1m_words.txt") else { return };
    let expected = include_str!("../fixtures/1m_words_letters.csv");
    assert!(expected.starts_with("letter,count\na,719305\nb,179367\n"));
    let p = path_str(&words);
    let bytes = std::fs::read(&words).unwrap();
    for engine in ENGINES {
        assert_eq!(run_ok(&["count", "-e", engine, p], None), expected, "{engine} file");
        assert_eq!(run_ok(&["count", "-e", engine, "--no-mmap", p], None), expected, "{engine} no-mmap");
        assert_eq!(
            run_ok(&["count", "-e", engine, "--chunk-size", "4096", "-"], Some(&bytes)),
            expected,
            "{engine} stdin"
        );
    }
}

#[test]
fn chars_words_lines_bytes() {
    let input = "b a\r\na  b\u{e9}\n\tb";
    let (_d, path) = temp_file("t.txt", input.as_bytes());
    let p = path_str(&path);
    assert_eq!(run_ok(&["count", "-u", "chars", p], None), "char,count\n\t,1\n ,3\na,2\nb,3\n\u{e9},1\n");
    assert_eq!(run_ok(&["count", "-u", "words", p], None), "word,count\na,2\nb,2\nb\u{e9},1\n");
    assert_eq!(run_ok(&["count", "-u", "lines", p], None), "lines\n2\n");
    assert_eq!(run_ok(&["count", "-u", "bytes", p], None), format!("bytes\n{}\n", input.len()));
    assert_eq!(run_ok(&["count", "-u", "lines", "-f", "json", p], None), "{\n  \"lines\": 2\n}\n");
}

#[test]
fn words_sort_top_and_ignore_case() {
    let (_d, path) = temp_file("t.txt", b"b a c B a b\nA\n");
    let p = path_str(&path);
    assert_eq!(run_ok(&["count", "-u", "words", "--sort", "count", p], None), "word,count\na,2\nb,2\nA,1\nB,1\nc,1\n");
    assert_eq!(run_ok(&["count", "-u", "words", "-i", "--top", "2", p], None), "word,count\na,3\nb,3\n");
    assert_eq!(run_ok(&["count", "-u", "words", "-i", "--top", "1", p], None), "word,count\na,3\n");
    assert_eq!(
        run_ok(&["count", "-u", "words", "--top", "3", "--sort", "key", p], None),
        "word,count\nA,1\na,2\nb,2\n"
    );
    // A cut through a tie keeps the least keys; --top 0 and a top beyond the words.
    assert_eq!(run_ok(&["count", "-u", "words", "--top", "3", p], None), "word,count\na,2\nb,2\nA,1\n");
    assert_eq!(run_ok(&["count", "-u", "words", "--top", "0", p], None), "word,count\n");
    assert_eq!(
        run_ok(&["count", "-u", "words", "--top", "9", p], None),
        run_ok(&["count", "-u", "words", "--sort", "count", p], None)
    );
}

#[test]
fn formats_and_atomic_output_file() {
    let (dir, path) = temp_file("t.txt", b"abba\n");
    let p = path_str(&path);
    let json: serde_json::Value = serde_json::from_str(&run_ok(&["count", "-f", "json", p], None)).unwrap();
    assert_eq!(json["a"], 2);
    assert_eq!(json["b"], 2);
    assert_eq!(json.as_object().unwrap().len(), 26);
    let tsv = run_ok(&["count", "-f", "tsv", p], None);
    assert!(tsv.starts_with("letter\tcount\na\t2\nb\t2\nc\t0\n"), "{tsv}");
    let table = run_ok(&["count", "-f", "table", "--top", "2", p], None);
    assert_eq!(table, "letter  count\na           2\nb           2\n");

    let out = dir.path().join("counts.json");
    assert_eq!(run_ok(&["count", "-o", path_str(&out), p], None), "");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, json, "-o picks the format from the extension");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary file left behind: {leftovers:?}");
}

#[test]
fn several_files_add_up() {
    let (_d1, a) = temp_file("a.txt", b"aaa\n");
    let (_d2, b) = temp_file("b.txt", b"ab");
    let out = run_ok(&["count", "-u", "words", path_str(&a), path_str(&b), "-"], Some(b"aaa\n"));
    assert_eq!(out, "word,count\naaa,2\nab,1\n");
}

#[test]
fn empty_input() {
    let (_d, path) = temp_file("empty.txt", b"");
    let p = path_str(&path);
    assert_eq!(run_ok(&["count", p], None), model::letters_csv(&[0; 26]));
    assert_eq!(run_ok(&["count", "-u", "words", p], None), "word,count\n");
    assert_eq!(run_ok(&["count", "-u", "lines", "-"], Some(b"")), "lines\n0\n");
}

#[test]
fn lines_and_bytes_agree_with_wc() {
    let input = crate::generate::words(20_000, 3, true);
    let (_d, path) = temp_file("w.txt", &input);
    let wc = |flag: &str| -> Option<String> {
        let out = Command::new("wc").args([flag, path_str(&path)]).output().ok()?;
        Some(String::from_utf8(out.stdout).ok()?.split_whitespace().next()?.to_string())
    };
    let (Some(l), Some(c)) = (wc("-l"), wc("-c")) else {
        eprintln!("skipped: wc is not installed");
        return;
    };
    assert_eq!(run_ok(&["count", "-u", "lines", path_str(&path)], None), format!("lines\n{l}\n"));
    assert_eq!(run_ok(&["count", "-u", "bytes", path_str(&path)], None), format!("bytes\n{c}\n"));
}

#[test]
fn head_closing_the_pipe_exits_quietly() {
    // Enough distinct words that the output is far larger than a pipe buffer.
    let input = crate::generate::words(400_000, 9, false);
    let (_d, path) = temp_file("w.txt", &input);
    let mut child = pframe()
        .args(["count", "-u", "words", path_str(&path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "word,count\n");
    // The reader is dropped here: pframe's next writes hit a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "status {}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn stats_go_to_stderr() {
    let (_d, path) = temp_file("t.txt", b"abc\n");
    let out = run(&["count", "--stats", "-e", "serial", path_str(&path)], None);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("pframe: count letter: engine serial, 1 thread, 4 bytes in 1 chunk,"), "{stderr}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        model::letters_csv(&{
            let mut e = [0; 26];
            e[0] = 1;
            e[1] = 1;
            e[2] = 1;
            e
        })
    );
}
