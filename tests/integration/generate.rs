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
