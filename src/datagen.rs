//! Deterministic generators of test and benchmark data.
//!
//! `words`: English-like word lists, one word per line. A vocabulary is built from English-like
//! syllables, with capitals, hyphenated compounds, apostrophes and
//! digits in roughly the proportions of real English word lists; words are then drawn from it with
//! Zipf's law (rank r has weight 1/r), so frequent words repeat as they do in text. The same seed
//! gives the same bytes on every machine (PCG, not the platform's RNG).

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Syllable parts with rough English weights: words are onset + nucleus + coda syllables, which
/// gives pronounceable words with English-like letter frequencies ("strand", "plouter").
const ONSETS: &[(&str, f64)] = &[
    ("", 8.0),
    ("b", 3.0),
    ("c", 4.0),
    ("d", 4.0),
    ("f", 3.0),
    ("g", 2.0),
    ("h", 4.0),
    ("j", 0.5),
    ("k", 1.0),
    ("l", 4.0),
    ("m", 4.0),
    ("n", 4.0),
    ("p", 3.0),
    ("qu", 0.3),
    ("r", 4.0),
    ("s", 6.0),
    ("t", 6.0),
    ("v", 1.0),
    ("w", 2.0),
    ("y", 0.5),
    ("z", 0.2),
    ("th", 3.0),
    ("st", 2.0),
    ("ch", 1.5),
    ("sh", 1.5),
    ("tr", 1.5),
    ("pl", 1.0),
    ("br", 1.0),
    ("gr", 1.0),
    ("cl", 1.0),
    ("wh", 0.8),
    ("pr", 1.5),
    ("str", 0.5),
    ("x", 0.1),
];
const NUCLEI: &[(&str, f64)] = &[
    ("a", 8.0),
    ("e", 10.0),
    ("i", 7.0),
    ("o", 7.0),
    ("u", 3.0),
    ("y", 0.8),
    ("ea", 1.5),
    ("ou", 1.2),
    ("ai", 0.8),
    ("ee", 0.8),
    ("oo", 0.7),
    ("io", 0.8),
    ("ie", 0.5),
    ("au", 0.3),
];
const CODAS: &[(&str, f64)] = &[
    ("", 10.0),
    ("n", 5.0),
    ("r", 4.0),
    ("s", 4.0),
    ("t", 4.0),
    ("l", 3.0),
    ("d", 2.5),
    ("m", 1.5),
    ("nd", 1.5),
    ("st", 1.0),
    ("ng", 1.2),
    ("ck", 0.6),
    ("rt", 0.6),
    ("nt", 1.0),
    ("ss", 0.5),
    ("x", 0.2),
    ("ght", 0.3),
    ("ll", 0.8),
    ("ble", 0.5),
    ("tion", 0.8),
    ("ing", 1.0),
    ("ed", 1.0),
    ("er", 1.5),
    ("ly", 0.6),
];
/// Syllables per word, 1..=5.
const SYLLABLES: [f64; 5] = [25.0, 38.0, 24.0, 10.0, 3.0];

/// Size of the vocabulary words are drawn from.
const VOCABULARY: usize = 50_000;

/// Samples an index from cumulative weights.
struct Cumulative(Vec<f64>);

impl Cumulative {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut acc = 0.0;
        let mut c: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        for x in &mut c {
            *x /= acc;
        }
        Cumulative(c)
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// Writes `n` English-like words, one per line, `\r\n`-terminated with `crlf`.
pub fn write_words(n: u64, seed: u64, crlf: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let part = |table: &'static [(&'static str, f64)]| {
        let c = Cumulative::new(table.iter().map(|p| p.1));
        move |rng: &mut Pcg64Mcg| table[c.sample(rng)].0
    };
    let (onset, nucleus, coda) = (part(ONSETS), part(NUCLEI), part(CODAS));
    let syllables = Cumulative::new(SYLLABLES);
    let plain_word = |rng: &mut Pcg64Mcg, max_syllables: usize| -> String {
        let n = (syllables.sample(rng) + 1).min(max_syllables);
        let mut w = String::new();
        for _ in 0..n {
            w.push_str(onset(rng));
            w.push_str(nucleus(rng));
            w.push_str(coda(rng));
        }
        w
    };
    let vocabulary: Vec<String> = (0..VOCABULARY)
        .map(|_| {
            let roll: f64 = rng.random();
            let mut w = plain_word(&mut rng, 5);
            if roll < 0.03 {
                w = format!("{w}-{}", plain_word(&mut rng, 2));
            } else if roll < 0.05 {
                w.push_str(["'s", "'t", "'ll", "'d"][rng.random_range(0..4)]);
            } else if roll < 0.065 {
                let digits = rng.random_range(1..10_000u32);
                w = if rng.random_bool(0.5) { digits.to_string() } else { format!("{w}{digits}") };
            }
            if rng.random_bool(0.1) {
                let mut c = w.chars();
                if let Some(first) = c.next() {
                    w = first.to_ascii_uppercase().to_string() + c.as_str();
                }
            }
            w
        })
        .collect();
    let zipf = Cumulative::new((1..=VOCABULARY).map(|r| 1.0 / r as f64));
    let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    for _ in 0..n {
        let w = &vocabulary[zipf.sample(&mut rng)];
        out.write_all(w.as_bytes())?;
        out.write_all(ending)?;
    }
    Ok(())
}

/// Writes the H2O db-benchmark group-by table G1 (`id1..id6,v1,v2,v3`) with `rows` rows and `groups`
/// groups K, as its R generator does: `id1`, `id2` strings `id001`.. of K values, `id3` strings
/// `id0000000001`.. of N/K values, `id4`, `id5` integers 1..=K, `id6` integers 1..=N/K, `v1` 1..=5,
/// `v2` 1..=15, `v3` a float in [0, 100) with 6 decimals.
pub fn write_g1_csv(rows: u64, groups: u64, seed: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let k = groups.max(1);
    let nk = (rows / k).max(1);
    out.write_all(b"id1,id2,id3,id4,id5,id6,v1,v2,v3\n")?;
    let mut line = String::with_capacity(96);
    use std::fmt::Write as _;
    for _ in 0..rows {
        line.clear();
        let v3 = rng.random_range(0..100_000_000u64);
        let _ = writeln!(
            line,
            "id{:03},id{:03},id{:010},{},{},{},{},{},{}.{:06}",
            rng.random_range(1..=k),
            rng.random_range(1..=k),
            rng.random_range(1..=nk),
            rng.random_range(1..=k),
            rng.random_range(1..=k),
            rng.random_range(1..=nk),
            rng.random_range(1..=5u32),
            rng.random_range(1..=15u32),
            v3 / 1_000_000,
            v3 % 1_000_000
        );
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: u64, seed: u64, crlf: bool) -> Vec<u8> {
        let mut v = Vec::new();
        write_words(n, seed, crlf, &mut v).unwrap();
        v
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        assert_eq!(words(1000, 7, false), words(1000, 7, false));
        assert_ne!(words(1000, 7, false), words(1000, 8, false));
    }

    #[test]
    fn writes_n_lines_with_the_chosen_ending() {
        let lf = words(5000, 1, false);
        assert_eq!(lf.iter().filter(|&&b| b == b'\n').count(), 5000);
        assert!(!lf.contains(&b'\r'));
        let crlf = words(5000, 1, true);
        assert_eq!(crlf.windows(2).filter(|w| w == b"\r\n").count(), 5000);
        let text = String::from_utf8(lf).unwrap();
        assert!(text.lines().all(|w| !w.is_empty() && !w.contains(' ')));
        assert!(text.lines().any(|w| w.contains('-')));
        assert!(text.lines().any(|w| w.chars().next().unwrap().is_ascii_uppercase()));
    }
}
