//! Property tests: every engine, on both backings, at any chunk size, gives the naive model's
//! answer, including where and whether it fails.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::model;
use pframe::agg::{Tally, Unit};
use pframe::engine::Engine;
use pframe::engine::count::{CountError, CountPlan, count};
use pframe::input::{ReadOptions, Source};

/// Pieces that make inputs awkward: line endings of every kind, whitespace Python splits on and
/// Rust alone would not, the two non-ASCII letters of `str.lower()`, other non-ASCII text, and
/// invalid or truncated UTF-8.
const PIECES: &[&[u8]] = &[
    b"a",
    b"Z",
    b"hello",
    b"World",
    b" ",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b"\x1c",
    "\u{212A}".as_bytes(),
    "\u{130}".as_bytes(),
    "\u{e9}t\u{e9}".as_bytes(),
    "\u{df}".as_bytes(),
    "\u{a0}".as_bytes(),
    "\u{2003}".as_bytes(),
    "\u{65e5}\u{672c}".as_bytes(),
    "\u{1F600}".as_bytes(),
    b"\xff",
    b"\xe2\x84",
    b"\xc4",
];

fn input_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(PIECES), 0..120).prop_map(|ps| ps.concat())
}

fn chunk_size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(7), Just(4096), 1usize..64]
}

pub fn count_file(
    input: &[u8],
    unit: Unit,
    engine: Engine,
    chunk_size: usize,
    mmap: bool,
) -> Result<Tally, CountError> {
    count_file_sharing(input, unit, engine, chunk_size, mmap, None)
}

/// [`count_file`], with the parallel engine's workers moving their words to the shared store from
/// `words_shared_from` distinct words on (its default when `None`).
fn count_file_sharing(
    input: &[u8],
    unit: Unit,
    engine: Engine,
    chunk_size: usize,
    mmap: bool,
    words_shared_from: Option<usize>,
) -> Result<Tally, CountError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    std::fs::write(&path, input).unwrap();
    let plan = CountPlan {
        unit,
        engine,
        threads: 2,
        read: ReadOptions { chunk_size, mmap, ..ReadOptions::default() },
        lossy: false,
        ignore_case: false,
        words_shared_from,
    };
    count(&plan, &[Source::File(path)]).map(|o| o.tally)
}

fn error_location(e: CountError) -> (u64, u64) {
    match e {
        CountError::InvalidUtf8 { line, offset, .. } => (line, offset),
        other => panic!("unexpected error: {other}"),
    }
}

fn as_map(t: &Tally) -> BTreeMap<String, u64> {
    t.rows().into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn letters_match_the_model(input in input_strategy(), size in chunk_size_strategy(), mmap: bool) {
        let expected = Tally::Letters(model::letters(&input));
        for engine in Engine::ALL {
            let got = count_file(&input, Unit::Letters, engine, size, mmap).unwrap();
            prop_assert_eq!(&got, &expected, "engine {} size {} mmap {}", engine, size, mmap);
        }
    }

    #[test]
    fn chars_match_the_model(input in input_strategy(), size in chunk_size_strategy(), mmap: bool) {
        let expected = model::chars(&input, false)
            .map(|m| m.into_iter().map(|(c, n)| (c.to_string(), n)).collect::<BTreeMap<_, _>>());
        for engine in Engine::ALL {
            let got = count_file(&input, Unit::Chars, engine, size, mmap).map(|t| as_map(&t)).map_err(error_location);
            prop_assert_eq!(&got, &expected, "engine {} size {} mmap {}", engine, size, mmap);
        }
    }

    #[test]
    fn words_match_the_model(input in input_strategy(), size in chunk_size_strategy(), mmap: bool) {
        let expected = model::words(&input, false, false);
        for engine in Engine::ALL {
            let got = count_file(&input, Unit::Words, engine, size, mmap).map(|t| as_map(&t)).map_err(error_location);
            prop_assert_eq!(&got, &expected, "engine {} size {} mmap {}", engine, size, mmap);
        }
        // The parallel engine's workers counting in the shared store from the start, or from a
        // few distinct words on (some chunks counted in their own stores first).
        for from in [0, 3] {
            let got = count_file_sharing(&input, Unit::Words, Engine::Parallel, size, mmap, Some(from))
                .map(|t| as_map(&t))
                .map_err(error_location);
            prop_assert_eq!(&got, &expected, "shared from {} size {} mmap {}", from, size, mmap);
        }
    }

    #[test]
    fn lines_and_bytes_match_wc(input in input_strategy(), size in chunk_size_strategy(), mmap: bool) {
        let newlines = input.iter().filter(|&&b| b == b'\n').count() as u64;
        for engine in Engine::ALL {
            prop_assert_eq!(count_file(&input, Unit::Lines, engine, size, mmap).unwrap(), Tally::Lines(newlines));
            prop_assert_eq!(count_file(&input, Unit::Bytes, engine, size, mmap).unwrap(), Tally::Bytes(input.len() as u64));
        }
    }
}

/// Lossy decoding and case folding, which the properties above leave at their defaults.
#[test]
fn lossy_and_ignore_case_match_the_model() {
    let input = b"The \xffthe\r\nTHE \xe2\x84 \xc3\x89t\xc3\xa9 \xc3\xa9T\xc3\x89\n\xff";
    let expected_words: BTreeMap<String, u64> = model::words(input, true, true).unwrap();
    let expected_chars: BTreeMap<String, u64> =
        model::chars(input, true).unwrap().into_iter().map(|(c, n)| (c.to_string(), n)).collect();
    for engine in Engine::ALL {
        for size in [1, 5, 4096] {
            let plan = |unit| CountPlan {
                unit,
                engine,
                threads: 2,
                read: ReadOptions { chunk_size: size, ..ReadOptions::default() },
                lossy: true,
                ignore_case: true,
                words_shared_from: None,
            };
            let (_dir, path) = crate::temp_file("in.txt", input);
            let words = count(&plan(Unit::Words), &[Source::File(path.clone())]).unwrap().tally;
            assert_eq!(as_map(&words), expected_words, "engine {engine} size {size}");
            let chars = count(&plan(Unit::Chars), &[Source::File(path)]).unwrap().tally;
            assert_eq!(as_map(&chars), expected_chars, "engine {engine} size {size}");
        }
    }
}

/// A single 10 MB line: larger than every chunk, so each engine sees it whole.
#[test]
fn a_single_ten_megabyte_line() {
    let word = "Kelvin\u{212A} \u{130}x ";
    let mut input = word.repeat(10_000_000 / word.len()).into_bytes();
    input.extend_from_slice(b"end");
    let letters = Tally::Letters(model::letters(&input));
    let words = model::words(&input, false, false).unwrap();
    for engine in Engine::ALL {
        for (size, mmap) in [(7, true), (4096, false), (1 << 20, true)] {
            assert_eq!(count_file(&input, Unit::Letters, engine, size, mmap).unwrap(), letters, "{engine} {size}");
            let got = count_file(&input, Unit::Words, engine, size, mmap).unwrap();
            assert_eq!(as_map(&got), words, "{engine} {size}");
        }
    }
}

/// Repeated words counted by workers that share one store (from the start, or from a few
/// distinct words on), in chunks of a line or a few: each occurrence counted once.
#[test]
fn words_counted_in_the_shared_store_match_the_model() {
    let mut input = b"a a a\nb a\nhello a\nZ a a\n".repeat(40);
    for i in 0..500 {
        input.extend_from_slice(format!("w{} a w{i}\n", i % 37).as_bytes());
    }
    let expected = model::words(&input, false, false);
    for (size, from) in [(1, 0), (1, 3), (7, 0), (64, 5), (4096, 0)] {
        let got = count_file_sharing(&input, Unit::Words, Engine::Parallel, size, true, Some(from)).map(|t| as_map(&t));
        assert_eq!(got.as_ref().ok(), expected.as_ref().ok(), "size {size} shared from {from}");
    }
}
