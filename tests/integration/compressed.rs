//! Compressed input (issue 12): every format through every command, from a file and from stdin,
//! at awkward chunk sizes, gives the uncompressed input's answer; a corrupt or truncated archive
//! is one line naming the file, the format and the compressed offset, with nothing on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use pframe::input::compress::Format;
use pframe::output::compress::Compressed;

use crate::{path_str, run, run_ok};

/// The streaming formats `Compressed` writes.
const STREAMS: [Format; 5] = [Format::Gzip, Format::Bgzf, Format::Zstd, Format::Bzip2, Format::Xz];

fn compress(format: Format, data: &[u8]) -> Vec<u8> {
    let mut w = Compressed::new(format, Vec::new()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// A zip archive of `members` (name, bytes), deflated.
fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Every way pframe may be given `data`: each format (and a one-member zip) as a file and on
/// stdin; `(what, file, stdin bytes)`.
fn every_form(dir: &Path, data: &[u8]) -> Vec<(String, PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut forms: Vec<(String, Vec<u8>)> =
        STREAMS.iter().map(|f| (f.name().to_string(), compress(*f, data))).collect();
    forms.push(("zip".into(), zip(&[("data.txt", data)])));
    // Two gzip members back to back (what `cat a.gz b.gz` makes) are one stream.
    let half = data.len() / 2;
    let mut two = compress(Format::Gzip, &data[..half]);
    two.extend(compress(Format::Gzip, &data[half..]));
    forms.push(("gzip-2-members".into(), two));
    for (name, bytes) in forms {
        let path = dir.join(format!("in.{name}"));
        std::fs::write(&path, &bytes).unwrap();
        out.push((name, path, bytes));
    }
    out
}

/// A word list with CRLF lines, non-ASCII words and a long line.
fn words() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..30_000 {
        s.push_str(["apple", "Banana", "cherry", "\u{e9}t\u{e9}", "Kelvin\u{212A}"][i % 5]);
        s.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
    }
    s.push_str(&"x".repeat(200_000));
    s.into_bytes()
}

#[test]
fn count_reads_every_format_as_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = words();
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, &data).unwrap();
    for unit in ["letters", "lines", "words", "bytes"] {
        let expected = run_ok(&["count", "-u", unit, path_str(&plain)], None);
        for (what, path, bytes) in every_form(dir.path(), &data) {
            for (size, threads) in [("7", "1"), ("64KiB", "2"), ("1MiB", "3")] {
                let base = ["count", "-u", unit, "--chunk-size", size, "-j", threads];
                let file = run_ok(&[&base[..], &[path_str(&path)]].concat(), None);
                assert_eq!(file, expected, "{unit} {what} file, chunk {size}, -j {threads}");
                let stdin = run_ok(&[&base[..], &["-"]].concat(), Some(&bytes));
                assert_eq!(stdin, expected, "{unit} {what} stdin, chunk {size}, -j {threads}");
            }
        }
    }
}

/// The G1 table, with quoted fields and CRLF records mixed in.
fn table() -> Vec<u8> {
    let g1 = run_ok(&["gen", "csv", "--rows", "20000", "--groups", "9", "--seed", "4"], None);
    let mut out = String::new();
    for (i, line) in g1.lines().enumerate() {
        if i > 0 && i % 7 == 0 {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            f[0] = format!("\"{}\r\n,x\"", f[0]);
            out.push_str(&f.join(","));
            out.push_str("\r\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
}

#[test]
fn groupby_and_sql_read_every_format_as_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = table();
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, &data).unwrap();
    let group = ["groupby", "-b", "id1,id4", "-a", "count,sum(v1),mean(v3),first(id3)"];
    let expected = run_ok(&[&group[..], &[path_str(&plain)]].concat(), None);
    let queries = [
        "SELECT id1, v1 FROM t WHERE v2 > 3",
        "SELECT id1, sum(v1) AS s FROM t GROUP BY id1",
        "SELECT id1, max(v3) AS m FROM t GROUP BY id1 ORDER BY m DESC LIMIT 3",
    ];
    let sql_expected: Vec<String> = queries.iter().map(|q| run_ok(&["sql", q, path_str(&plain)], None)).collect();
    for (what, path, bytes) in every_form(dir.path(), &data) {
        for engine in ["serial", "parallel", "polars"] {
            for size in ["1KiB", "1MiB"] {
                let base = [&group[..], &["-e", engine, "--chunk-size", size]].concat();
                assert_eq!(run_ok(&[&base[..], &[path_str(&path)]].concat(), None), expected, "{what} {engine} {size}");
                assert_eq!(
                    run_ok(&[&base[..], &["-"]].concat(), Some(&bytes)),
                    expected,
                    "{what} {engine} {size} stdin"
                );
            }
        }
        for (q, want) in queries.iter().zip(&sql_expected) {
            assert_eq!(&run_ok(&["sql", "--chunk-size", "4KiB", q, path_str(&path)], None), want, "{what} {q}");
            let out = run(&["sql", "--chunk-size", "4KiB", q, "-"], Some(&bytes));
            assert!(out.status.success(), "{what} {q}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(&String::from_utf8(out.stdout).unwrap(), want, "{what} {q} stdin");
        }
    }
}

#[test]
fn corrupt_and_truncated_archives_name_the_format_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = run_ok(&["gen", "words", "-n", "200000", "--seed", "9"], None).into_bytes();
    for (what, path, bytes) in every_form(dir.path(), &data) {
        // Cut off the last third: truncated.
        let cut = &bytes[..bytes.len() * 2 / 3];
        let truncated = dir.path().join(format!("cut-{what}"));
        std::fs::write(&truncated, cut).unwrap();
        // Flip bytes in the middle of the compressed data: corrupt.
        let mut bad = bytes.clone();
        let (mid, span) = (bad.len() / 2, 64.min(bad.len() / 4));
        for b in &mut bad[mid..mid + span] {
            *b ^= 0x5a;
        }
        let corrupted = dir.path().join(format!("bad-{what}"));
        std::fs::write(&corrupted, &bad).unwrap();
        for (file, input) in [(&truncated, cut), (&corrupted, &bad[..])] {
            for (arg, name) in [(path_str(file), file.display().to_string()), ("-", "<stdin>".to_string())] {
                let out = run(&["count", "-u", "lines", arg], Some(input));
                let err = String::from_utf8(out.stderr).unwrap();
                assert_eq!(out.status.code(), Some(1), "{what} {arg}: {err}");
                assert!(out.stdout.is_empty(), "{what} {arg}: printed {:?}", String::from_utf8_lossy(&out.stdout));
                let format = what.split('-').next().unwrap();
                assert!(err.starts_with(&format!("pframe: {name}: {format}: ")), "{what} {arg}: {err}");
                assert!(err.contains("compressed byte"), "{what} {arg}: {err}");
                assert_eq!(err.lines().count(), 1, "{err}");
            }
        }
        let _ = path;
    }
}

#[test]
fn zip_archives_of_several_members() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (b"k,v\nx,1\ny,2\n".as_slice(), b"k,v\nx,10\n".as_slice());
    let path = dir.path().join("two.zip");
    std::fs::write(&path, zip(&[("a.csv", a), ("sub/", b""), ("b.csv", b)])).unwrap();
    // Every member is an input: counts add up, group-bys read each with its header.
    assert_eq!(run_ok(&["count", "-u", "lines", path_str(&path)], None), "lines\n5\n");
    let g = run_ok(&["groupby", "-b", "k", "-a", "sum(v)", path_str(&path)], None);
    assert_eq!(g, "k,sum_v\nx,11\ny,2\n");
    // One member by name, from a file or stdin.
    let bytes = std::fs::read(&path).unwrap();
    for input in [path_str(&path), "-"] {
        let one = run_ok(&["groupby", "--zip-member", "b.csv", "-b", "k", "-a", "sum(v)", input], Some(&bytes));
        assert_eq!(one, "k,sum_v\nx,10\n", "{input}");
        let sql = run_ok(&["sql", "--zip-member", "a.csv", "SELECT k FROM t WHERE v > 1", input], Some(&bytes));
        assert_eq!(sql, "k\ny\n", "{input}");
    }
    // sql reads one table: several members must be told which.
    let out = run(&["sql", "SELECT * FROM t", path_str(&path)], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("several members") && err.contains("--zip-member"), "{err}");
    let out = run(&["groupby", "--zip-member", "nope.csv", "-b", "k", "-a", "count", path_str(&path)], None);
    assert!(String::from_utf8(out.stderr).unwrap().contains("no member named \"nope.csv\""));
}

/// The tutorial's own file as it is distributed, zipped: the tutorial's 26 counts.
#[test]
fn the_tutorials_zip_gives_the_tutorials_counts() {
    let Some(words) = crate::shared_dataset("1m_words.txt") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(&words).unwrap();
    let expected =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/1m_words_letters.csv")).unwrap();
    let mut forms = vec![("zip", zip(&[("1m_words.txt", &data)]))];
    forms.extend(STREAMS.iter().map(|f| (f.name(), compress(*f, &data))));
    for (what, bytes) in forms {
        let path = dir.path().join(format!("1m_words.txt.{what}"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(run_ok(&["count", "-f", "csv", path_str(&path)], None), expected, "{what}");
    }
}

#[test]
fn gen_writes_what_count_reads_back() {
    let plain = run_ok(&["gen", "words", "-n", "50000", "--seed", "3"], None);
    let expected = run_ok(&["count", "-u", "words", "-"], Some(plain.as_bytes()));
    for format in ["gz", "bgzf", "zst", "bz2", "xz"] {
        let out = crate::pframe()
            .args(["gen", "words", "-n", "50000", "--seed", "3", "--compress", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_ne!(out.stdout, plain.as_bytes(), "{format} compresses");
        assert_eq!(run_ok(&["count", "-u", "words", "-j", "2", "-"], Some(&out.stdout)), expected, "{format}");
    }
}
