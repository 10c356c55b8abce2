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
    write_words_from(n, seed, crlf, None, out)
}

/// [`write_words`] with words drawn from `distinct` distinct words (rank r with weight 1/r), or,
/// with `None`, from the default vocabulary: 50,000 generated words, some of them alike
/// (about 42,600 distinct).
pub fn write_words_from(n: u64, seed: u64, crlf: bool, distinct: Option<u64>, out: &mut dyn Write) -> io::Result<()> {
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
    let vocabulary_word = |rng: &mut Pcg64Mcg| {
        let roll: f64 = rng.random();
        let mut w = plain_word(rng, 5);
        if roll < 0.03 {
            w = format!("{w}-{}", plain_word(rng, 2));
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
    };
    let vocabulary: Vec<String> = match distinct {
        None => (0..VOCABULARY).map(|_| vocabulary_word(&mut rng)).collect(),
        Some(want) => {
            let want = usize::try_from(want).map_err(|_| io::Error::other("vocabulary too large"))?;
            let mut seen = std::collections::HashSet::with_capacity(want);
            let mut words = Vec::with_capacity(want);
            // Words are drawn from many billions of spellings: a thousand misses in a row means
            // the vocabulary asked for is beyond them.
            let mut misses = 0;
            while words.len() < want {
                let w = vocabulary_word(&mut rng);
                if seen.insert(w.clone()) {
                    words.push(w);
                    misses = 0;
                } else {
                    misses += 1;
                    if misses == 1000 {
                        return Err(io::Error::other(format!("cannot make {want} distinct words")));
                    }
                }
            }
            words
        }
    };
    let zipf = Cumulative::new((1..=vocabulary.len()).map(|r| 1.0 / r as f64));
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
    write_g1_csv_with(rows, groups, seed, G1Options::default(), out)
}

/// The db-benchmark's variations of G1: missing values and sorted rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct G1Options {
    /// As `groupby-datagen.R`'s `nas`: this percentage of each id column's distinct values is
    /// missing (every row holding one), and of each value column's rows (empty fields).
    pub na_percent: u32,
    /// Rows sorted by `id1..id6` (missing first, as R's `setkey`); the table is then built in
    /// memory (about 48 bytes a row) before it is written.
    pub sorted: bool,
}

/// One row of G1: the id columns as numbers (0 for missing), the values (`None` for missing).
struct G1Row {
    ids: [u64; 6],
    v1: Option<u32>,
    v2: Option<u32>,
    v3: Option<u64>,
}

/// [`write_g1_csv`] with [`G1Options`]; the default options give its bytes exactly (missing values
/// are drawn from a random stream of their own).
pub fn write_g1_csv_with(rows: u64, groups: u64, seed: u64, opts: G1Options, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut na_rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6e61_7065_7263);
    let k = groups.max(1);
    let nk = (rows / k).max(1);
    let p = u64::from(opts.na_percent.min(100));
    // Per id column, which of its values are missing: exactly floor(M * p / 100) of its M values,
    // by a partial shuffle.
    let cardinality = [k, k, nk, k, k, nk];
    let missing: Vec<Vec<bool>> = cardinality
        .iter()
        .map(|&m| {
            let mut values: Vec<u64> = (1..=m).collect();
            let n = (m * p / 100) as usize;
            let mut out = vec![false; m as usize + 1];
            for i in 0..n {
                let j = na_rng.random_range(i..values.len());
                values.swap(i, j);
                out[values[i] as usize] = true;
            }
            out
        })
        .collect();
    let mut next = || {
        let v3 = rng.random_range(0..100_000_000u64);
        let mut ids = [0u64; 6];
        for (id, &m) in ids.iter_mut().zip(&cardinality) {
            *id = rng.random_range(1..=m);
        }
        let v1 = rng.random_range(1..=5u32);
        let v2 = rng.random_range(1..=15u32);
        for (id, miss) in ids.iter_mut().zip(&missing) {
            if miss[*id as usize] {
                *id = 0;
            }
        }
        let mut keep = || p == 0 || na_rng.random_range(0..100u64) >= p;
        G1Row { ids, v1: keep().then_some(v1), v2: keep().then_some(v2), v3: keep().then_some(v3) }
    };
    out.write_all(b"id1,id2,id3,id4,id5,id6,v1,v2,v3\n")?;
    let mut line = String::with_capacity(96);
    let mut write = |row: &G1Row, out: &mut dyn Write| {
        use std::fmt::Write as _;
        line.clear();
        let id = |line: &mut String, i: usize, width: usize| {
            if row.ids[i] != 0 {
                let _ = write!(line, "id{:0width$}", row.ids[i]);
            }
        };
        let num = |line: &mut String, v: Option<u64>| {
            if let Some(v) = v {
                let _ = write!(line, "{v}");
            }
        };
        id(&mut line, 0, 3);
        line.push(',');
        id(&mut line, 1, 3);
        line.push(',');
        id(&mut line, 2, 10);
        for i in 3..6 {
            line.push(',');
            num(&mut line, (row.ids[i] != 0).then_some(row.ids[i]));
        }
        line.push(',');
        num(&mut line, row.v1.map(u64::from));
        line.push(',');
        num(&mut line, row.v2.map(u64::from));
        line.push(',');
        if let Some(v3) = row.v3 {
            let _ = write!(line, "{}.{:06}", v3 / 1_000_000, v3 % 1_000_000);
        }
        line.push('\n');
        out.write_all(line.as_bytes())
    };
    if opts.sorted {
        let mut table: Vec<G1Row> = (0..rows).map(|_| next()).collect();
        table.sort_by_key(|r| r.ids);
        for row in &table {
            write(row, out)?;
        }
    } else {
        for _ in 0..rows {
            write(&next(), out)?;
        }
    }
    Ok(())
}

/// `1e7` for 10000000, `2e4` for 20000, the number itself otherwise (R's `pretty_sci`).
fn pretty_sci(n: u64) -> String {
    let digits = n.to_string();
    let (head, zeros) = digits.split_at(1);
    if n >= 10 && zeros.bytes().all(|b| b == b'0') { format!("{head}e{}", zeros.len()) } else { digits }
}

/// The key sets of one join key over `n` values: a permutation of 1..=1.1n cut in three.
struct KeySplit {
    common: Vec<u32>,
    left: Vec<u32>,
    right: Vec<u32>,
}

impl KeySplit {
    fn new(n: u64, rng: &mut Pcg64Mcg) -> KeySplit {
        let (x, lr) = (n * 9 / 10, n - n * 9 / 10);
        let mut keys: Vec<u32> = (1..=(x + 2 * lr) as u32).collect();
        shuffle(&mut keys, rng);
        let right = keys.split_off((x + lr) as usize);
        let left = keys.split_off(x as usize);
        KeySplit { common: keys, left, right }
    }

    /// `size` draws holding every key of one side at least once (R's `sample_all`).
    fn sample_all(&self, left: bool, size: u64, rng: &mut Pcg64Mcg) -> Vec<u32> {
        let side = if left { &self.left } else { &self.right };
        let mut keys: Vec<u32> = self.common.iter().chain(side).copied().collect();
        let distinct = keys.len();
        while (keys.len() as u64) < size {
            keys.push(keys[rng.random_range(0..distinct)]);
        }
        shuffle(&mut keys, rng);
        keys
    }
}

fn shuffle(v: &mut [u32], rng: &mut Pcg64Mcg) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
}

/// The db-benchmark's join tables J1 (`join-datagen.R`): a left table `x` of `rows` rows and three
/// right tables, small, medium and big, of `rows / 1e6`, `rows / 1e3` and `rows` rows (at least
/// 10). Each key column draws from its own key set, split 90% common, 10% only on the left, 10%
/// only on the right, so that inner joins match and outer joins have both kinds of orphans.
/// Columns: `x` id1, id2, id3 (integers), id4, id5, id6 (`id` and the integer: the factors), v1;
/// small id1, id4, v2; medium id1, id2, id4, id5, v2; big id1..id6, v2. v1 and v2 are in [0, 100)
/// with 6 decimals. `na_percent` empties that share of each left key column's distinct values
/// (every row holding one) and of v1's rows, as the R script does; `sorted` sorts the left table by
/// id1, id2, id3 and each right table by its last integer key. `put` receives each table's file
/// name (db-benchmark's: `J1_1e7_NA_0_0.csv`, `J1_1e7_1e1_0_0.csv`, ...) and bytes, left table
/// first.
pub fn join_tables(
    rows: u64,
    seed: u64,
    opts: G1Options,
    mut put: impl FnMut(String, Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    use std::fmt::Write as _;
    if rows < 10 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a join table needs at least 10 rows"));
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let sizes = [(rows / 1_000_000).max(10), (rows / 1_000).max(10), rows];
    let splits: Vec<KeySplit> = sizes.iter().map(|&n| KeySplit::new(n, &mut rng)).collect();
    let value = |rng: &mut Pcg64Mcg| rng.random_range(0..100_000_000u64);
    let p = u64::from(opts.na_percent.min(100));
    let suffix = format!("{}_{}", p, u8::from(opts.sorted));
    // Rows of key columns (0 = missing) and a value (None = missing), written as CSV.
    let write = |header: &str, keys: &[Vec<u32>], factors: &[usize], values: &[Option<u64>], order: &[usize]| {
        let mut out = Vec::with_capacity(values.len() * 48);
        out.extend_from_slice(header.as_bytes());
        let mut line = String::with_capacity(96);
        for &r in order {
            line.clear();
            for col in keys {
                if col[r] != 0 {
                    let _ = write!(line, "{}", col[r]);
                }
                line.push(',');
            }
            for &f in factors {
                if keys[f][r] != 0 {
                    let _ = write!(line, "id{}", keys[f][r]);
                }
                line.push(',');
            }
            if let Some(v) = values[r] {
                let _ = write!(line, "{}.{:06}", v / 1_000_000, v % 1_000_000);
            }
            line.push('\n');
            out.extend_from_slice(line.as_bytes());
        }
        out
    };
    let order = |keys: &[Vec<u32>], by: &[usize], sorted: bool| -> Vec<usize> {
        let mut order: Vec<usize> = (0..keys[0].len()).collect();
        if sorted {
            order.sort_by_key(|&r| by.iter().map(|&c| keys[c][r]).collect::<Vec<u32>>());
        }
        order
    };
    // The left table.
    let mut keys: Vec<Vec<u32>> = splits.iter().map(|s| s.sample_all(true, rows, &mut rng)).collect();
    let mut values: Vec<Option<u64>> = (0..rows).map(|_| Some(value(&mut rng))).collect();
    if p > 0 {
        let mut na_rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6e61_7065_7263);
        for (col, split) in keys.iter_mut().zip(&splits) {
            let mut distinct: Vec<u32> = split.common.iter().chain(&split.left).copied().collect();
            shuffle(&mut distinct, &mut na_rng);
            let gone: std::collections::HashSet<u32> =
                distinct[..(distinct.len() as u64 * p / 100) as usize].iter().copied().collect();
            col.iter_mut().filter(|k| gone.contains(k)).for_each(|k| *k = 0);
        }
        let mut rows_idx: Vec<u32> = (0..rows as u32).collect();
        shuffle(&mut rows_idx, &mut na_rng);
        for &r in &rows_idx[..(rows * p / 100) as usize] {
            values[r as usize] = None;
        }
    }
    let o = order(&keys, &[0, 1, 2], opts.sorted);
    put(
        format!("J1_{}_NA_{suffix}.csv", pretty_sci(rows)),
        write("id1,id2,id3,id4,id5,id6,v1\n", &keys, &[0, 1, 2], &values, &o),
    )?;
    drop((keys, values));
    // The right tables: small (id1), medium (id1, id2), big (id1, id2, id3).
    for (t, &n) in sizes.iter().enumerate() {
        let keys: Vec<Vec<u32>> = splits[..=t].iter().map(|s| s.sample_all(false, n, &mut rng)).collect();
        let values: Vec<Option<u64>> = (0..n).map(|_| Some(value(&mut rng))).collect();
        let ints: Vec<String> = (1..=t + 1).map(|i| format!("id{i}")).collect();
        let factors: Vec<String> = (1..=t + 1).map(|i| format!("id{}", i + 3)).collect();
        let header = format!("{},{},v2\n", ints.join(","), factors.join(","));
        let o = order(&keys, &[t], opts.sorted);
        let factor_cols: Vec<usize> = (0..=t).collect();
        put(
            format!("J1_{}_{}_{suffix}.csv", pretty_sci(rows), pretty_sci(n)),
            write(&header, &keys, &factor_cols, &values, &o),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g1(opts: G1Options) -> String {
        let mut out = Vec::new();
        write_g1_csv_with(2000, 10, 3, opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn g1_missing_values_and_sorted_rows() {
        let plain = g1(G1Options::default());
        let na = g1(G1Options { na_percent: 20, sorted: false });
        let sorted = g1(G1Options { na_percent: 0, sorted: true });
        let rows =
            |t: &str| t.lines().skip(1).map(|l| l.split(',').map(String::from).collect::<Vec<_>>()).collect::<Vec<_>>();
        // id1 has 10 values: exactly 2 are missing, in every row that held them.
        let id1: std::collections::BTreeSet<String> = rows(&na).iter().map(|r| r[0].clone()).collect();
        assert_eq!(id1.len(), 9, "{id1:?}");
        assert!(id1.contains(""));
        let v1_missing = rows(&na).iter().filter(|r| r[6].is_empty()).count();
        assert!((300..500).contains(&v1_missing), "{v1_missing}");
        // The same rows, sorted by the ids (ids compare as numbers: the widths are fixed).
        let (mut a, b) = (rows(&plain), rows(&sorted));
        let key = |r: &Vec<String>| {
            (
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[3].parse::<u64>().unwrap(),
                r[4].parse::<u64>().unwrap(),
                r[5].parse::<u64>().unwrap(),
            )
        };
        a.sort_by_key(key);
        assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>());
        let mut a_sorted_full = rows(&plain);
        a_sorted_full.sort();
        let mut b_full = b.clone();
        b_full.sort();
        assert_eq!(a_sorted_full, b_full);
    }

    fn words(n: u64, seed: u64, crlf: bool) -> Vec<u8> {
        let mut v = Vec::new();
        write_words(n, seed, crlf, &mut v).unwrap();
        v
    }

    #[test]
    fn a_vocabulary_of_n_distinct_words() {
        let mut v = Vec::new();
        write_words_from(300_000, 3, false, Some(1000), &mut v).unwrap();
        let text = String::from_utf8(v).unwrap();
        let distinct: std::collections::HashSet<&str> = text.lines().collect();
        // Rank 1000 has weight 1/1000 of about 7.5: about 40 draws expected, so every word shows.
        assert_eq!(distinct.len(), 1000);
        // The default vocabulary is the one `write_words` always drew from.
        let mut default = Vec::new();
        write_words_from(2000, 9, true, None, &mut default).unwrap();
        assert_eq!(default, words(2000, 9, true));
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
