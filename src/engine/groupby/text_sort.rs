//! Sorting texts by their bytes without comparing bytes: each text is read as 16-byte chunks, each
//! chunk an integer that orders as the bytes do (see [`head16`]), and items are sorted by their
//! first chunk; only items whose first chunks are equal are sorted again, by their next chunk, and
//! so on (a most-significant-digit radix sort whose digits are 128 bits). Equal texts come out
//! side by side, and the first of each set of equal texts is marked: found by the sort, with no
//! further read of the texts.
//!
//! A sort that compared the texts (their first 16 bytes as an integer, then the rest as bytes)
//! did the same for texts that differ early, but texts that share a long prefix (ids padded with
//! zeros, URLs, paths) fell to a byte comparison in every step of the sort: with a million keys
//! of 64 bytes sharing 48, those comparisons (`memcmp`, each of two texts read at random) were a
//! third of a group-by's time.

use rayon::prelude::*;

use super::states::head16;

/// A run of items and its marks (see [`sort_texts`]).
type Run<'r, T> = (&'r mut [(u128, T)], &'r mut [bool]);

/// Bytes a chunk.
const CHUNK: usize = 16;

/// Chunks compared by integers before the rest of a run of texts still equal is compared as
/// bytes: the recursion stays shallow whatever the texts' length (two equal texts of a megabyte
/// would otherwise recurse 65,536 times).
const MAX_DEPTH: usize = 8;

/// Runs shorter than this are sorted on the calling thread.
const PARALLEL: usize = 1 << 14;

/// Sorts `items` by the texts `text` gives (lexicographically, as byte strings), and returns,
/// for each place of the sorted items, whether its text differs from the text before it (the
/// first place's does). The `u128` of each item is scratch space for the sort's keys. On rayon's
/// current pool when `parallel`.
pub fn sort_texts<'a, T, F>(items: &mut [(u128, T)], text: &F, parallel: bool) -> Vec<bool>
where
    T: Send + Sync,
    F: Fn(&T) -> &'a [u8] + Sync,
{
    let mut first = vec![false; items.len()];
    sort_run(items, &mut first, text, 0, parallel);
    first
}

/// The chunk of `t` at `depth` (bytes `16 * depth..`, zero-padded).
#[inline]
fn chunk(t: &[u8], depth: usize) -> u128 {
    head16(&t[(depth * CHUNK).min(t.len())..])
}

/// Sorts a run of items whose texts agree in their first `depth` chunks (zero-padded), and marks
/// in `first` where a text differs from the one before (the run's first place included).
fn sort_run<'a, T, F>(items: &mut [(u128, T)], first: &mut [bool], text: &F, depth: usize, parallel: bool)
where
    T: Send + Sync,
    F: Fn(&T) -> &'a [u8] + Sync,
{
    let parallel = parallel && items.len() >= PARALLEL;
    if depth == MAX_DEPTH {
        return sort_tails(items, first, text, depth);
    }
    let key = |item: &mut (u128, T)| item.0 = chunk(text(&item.1), depth);
    if parallel {
        items.par_iter_mut().for_each(key);
        items.par_sort_unstable_by_key(|item| item.0);
    } else {
        items.iter_mut().for_each(key);
        items.sort_unstable_by_key(|item| item.0);
    }
    // Runs of equal chunks: each sorted further (by length once no text goes past this chunk).
    let mut runs: Vec<Run<T>> = Vec::new();
    let (mut rest, mut rest_first) = (items, first);
    while !rest.is_empty() {
        let len = rest.iter().position(|item| item.0 != rest[0].0).unwrap_or(rest.len());
        let (run, after) = rest.split_at_mut(len);
        let (run_first, after_first) = rest_first.split_at_mut(len);
        run_first[0] = true;
        if len > 1 {
            runs.push((run, run_first));
        }
        (rest, rest_first) = (after, after_first);
    }
    let each = |(run, run_first): Run<T>| {
        if run.iter().all(|item| text(&item.1).len() <= (depth + 1) * CHUNK) {
            // Equal up to every text's end: a shorter text is a prefix of a longer one.
            run.sort_unstable_by_key(|item| text(&item.1).len());
            for i in 1..run.len() {
                run_first[i] = text(&run[i].1).len() != text(&run[i - 1].1).len();
            }
        } else {
            sort_run(run, run_first, text, depth + 1, parallel);
        }
    };
    if parallel {
        runs.into_par_iter().for_each(each);
    } else {
        runs.into_iter().for_each(each);
    }
}

/// Sorts a run of texts equal in their first `depth` chunks by the rest of their bytes.
fn sort_tails<'a, T, F>(items: &mut [(u128, T)], first: &mut [bool], text: &F, depth: usize)
where
    F: Fn(&T) -> &'a [u8],
{
    fn tail(t: &[u8], depth: usize) -> &[u8] {
        &t[(depth * CHUNK).min(t.len())..]
    }
    // Texts of up to `depth` chunks have empty tails: a shorter one is a prefix of a longer one.
    items.sort_unstable_by(|a, b| {
        let (a, b) = (text(&a.1), text(&b.1));
        tail(a, depth).cmp(tail(b, depth)).then(a.len().cmp(&b.len()))
    });
    first[0] = true;
    for i in 1..items.len() {
        first[i] = text(&items[i].1) != text(&items[i - 1].1);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The sort's order and marks against a plain sort of the texts.
    fn check(texts: &[Vec<u8>], parallel: bool) {
        let mut items: Vec<(u128, usize)> = (0..texts.len()).map(|i| (0, i)).collect();
        let first = sort_texts(&mut items, &|&i: &usize| &texts[i][..], parallel);
        let got: Vec<&[u8]> = items.iter().map(|&(_, i)| &texts[i][..]).collect();
        let mut want: Vec<&[u8]> = texts.iter().map(|t| &t[..]).collect();
        want.sort();
        assert_eq!(got, want);
        let want_first: Vec<bool> = (0..want.len()).map(|i| i == 0 || want[i] != want[i - 1]).collect();
        assert_eq!(first, want_first);
    }

    #[test]
    fn shared_prefixes_zero_bytes_and_long_equal_texts() {
        let mut texts: Vec<Vec<u8>> = Vec::new();
        // Ids padded with zeros to 64 bytes: 48 bytes in common.
        for i in [5u64, 3, 5, 1 << 40, 7, 3] {
            texts.push(format!("{i:064x}").into_bytes());
        }
        // A text and its extensions by zero bytes, across chunk ends.
        for n in [0, 1, 15, 16, 17, 31, 32, 33] {
            texts.push([b"ab".as_slice(), &vec![0; n]].concat());
        }
        texts.push(b"ab\x01".to_vec());
        texts.push(Vec::new());
        texts.push(Vec::new());
        // Equal texts longer than every chunk the integers compare, and ones differing past them.
        let long = vec![b'x'; MAX_DEPTH * CHUNK + 40];
        texts.push(long.clone());
        texts.push(long.clone());
        let mut later = long.clone();
        *later.last_mut().unwrap() = b'w';
        texts.push(later);
        texts.push(long[..MAX_DEPTH * CHUNK].to_vec());
        check(&texts, false);
        check(&texts, true);
        // Enough to sort in parallel: many copies, and a run of 20,000 texts equal in 48 bytes.
        let many: Vec<Vec<u8>> = (0..40_000u64).map(|i| format!("{:064x}", (i * 7919) % 20_000).into_bytes()).collect();
        check(&many, true);
    }

    proptest! {
        #[test]
        fn sorts_as_bytes_sort(texts in prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 0..40), 0..60)) {
            check(&texts, false);
            check(&texts, true);
        }
    }
}
