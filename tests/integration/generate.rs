//! `pframe gen`: deterministic datasets.

use crate::{path_str, run_ok};

/// Generates `n` words with `seed` through the binary.
pub fn words(n: u64, seed: u64, crlf: bool) -> Vec<u8> {
    let (n, seed) = (n.to_string(), seed.to_string());
    let mut args = vec!["gen", "words", "-n", &n, "--seed", &seed];
    if crlf {
        args.push("--crlf");
    }
    run_ok(&args, None).into_bytes()
}

#[test]
fn words_are_deterministic_per_seed() {
    assert_eq!(words(2000, 5, false), words(2000, 5, false));
    assert_ne!(words(2000, 5, false), words(2000, 6, false));
}

#[test]
fn crlf_and_line_count() {
    let w = words(1234, 1, true);
    assert_eq!(w.windows(2).filter(|p| p == b"\r\n").count(), 1234);
    assert_eq!(w.iter().filter(|&&b| b == b'\n').count(), 1234);
}

#[test]
fn output_file_matches_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.txt");
    assert_eq!(run_ok(&["gen", "words", "-n", "500", "--seed", "2", "-o", path_str(&out)], None), "");
    assert_eq!(std::fs::read(&out).unwrap(), words(500, 2, false));
}

#[test]
fn the_committed_dataset_is_reproducible() {
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/words_100k.txt")).unwrap();
    assert_eq!(committed, words(100_000, 1, false), "datasets/README.md gives the command");
}

#[test]
fn the_committed_csv_dataset_is_reproducible() {
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/g1_10k.csv")).unwrap();
    let generated = run_ok(&["gen", "csv", "--rows", "10000", "--groups", "10", "--seed", "1"], None);
    assert_eq!(committed, generated.into_bytes(), "datasets/README.md gives the command");
}

#[test]
fn csv_has_the_g1_schema_and_ranges() {
    let out = run_ok(&["gen", "csv", "--rows", "500", "--groups", "4", "--seed", "9"], None);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id1,id2,id3,id4,id5,id6,v1,v2,v3"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 500);
    for r in &rows {
        assert!(r[0].starts_with("id") && r[0].len() == 5 && r[0][2..].parse::<u64>().unwrap() <= 4);
        assert!((1..=4).contains(&r[3].parse::<u64>().unwrap()));
        assert!((1..=5).contains(&r[6].parse::<u64>().unwrap()));
        assert!((1..=15).contains(&r[7].parse::<u64>().unwrap()));
        let v3: f64 = r[8].parse().unwrap();
        assert!((0.0..100.0).contains(&v3));
    }
}
