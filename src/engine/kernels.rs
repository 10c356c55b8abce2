//! Pure counting kernels over byte slices. Kernels return values and never print; every engine
//! calls these same functions on its chunks, which is what makes the engines agree.
//!
//! Semantics follow the tutorial's Python (`str.lower()`, `str.split()`, `collections.Counter`):
//! - letters: the ASCII letters a-z after lowercasing. Under Python's `str.lower()` exactly two
//!   non-ASCII characters become ASCII letters: U+212A KELVIN SIGN (to `k`) and U+0130 LATIN
//!   CAPITAL LETTER I WITH DOT ABOVE (to `i` + U+0307); we count both. Bytes that are not valid
//!   UTF-8 are not letters. An ASCII byte is always a character of its own in UTF-8 (it is never
//!   part of a multi-byte sequence, valid or not), so a byte histogram counts ASCII letters
//!   exactly, whatever surrounds them.
//! - chars: every character except line endings (`\n`, and a `\r` just before it).
//! - words: maximal runs of non-whitespace, with whitespace as Python's `str.isspace()`: Unicode
//!   White_Space plus the ASCII separators U+001C..U+001F.

use rustc_hash::FxHashMap;

/// The UTF-8 encoding of U+212A KELVIN SIGN, which lowercases to `k`.
const KELVIN: &[u8] = "\u{212A}".as_bytes();
/// The UTF-8 encoding of U+0130, which lowercases to `i` followed by U+0307.
const CAPITAL_I_DOT: &[u8] = "\u{0130}".as_bytes();

/// Counts every byte value. Four interleaved tables of 32-bit counters avoid the store-to-load
/// stalls of one table when the same byte repeats; blocks of at most 2^30 bytes keep the 32-bit
/// counters from overflowing.
pub fn byte_histogram(data: &[u8]) -> [u64; 256] {
    let mut total = [0u64; 256];
    for block in data.chunks(1 << 30) {
        let mut t = [[0u32; 256]; 4];
        let mut words = block.chunks_exact(16);
        for w in &mut words {
            let a = u64::from_le_bytes(w[..8].try_into().unwrap());
            let b = u64::from_le_bytes(w[8..].try_into().unwrap());
            for shift in [0u32, 32] {
                let (x, y) = (a >> shift, b >> shift);
                t[0][(x & 0xff) as usize] += 1;
                t[1][((x >> 8) & 0xff) as usize] += 1;
                t[2][((x >> 16) & 0xff) as usize] += 1;
                t[3][((x >> 24) & 0xff) as usize] += 1;
                t[0][(y & 0xff) as usize] += 1;
                t[1][((y >> 8) & 0xff) as usize] += 1;
                t[2][((y >> 16) & 0xff) as usize] += 1;
                t[3][((y >> 24) & 0xff) as usize] += 1;
            }
        }
        for &byte in words.remainder() {
            t[0][byte as usize] += 1;
        }
        for (i, slot) in total.iter_mut().enumerate() {
            *slot += (t[0][i] + t[1][i]) as u64 + (t[2][i] + t[3][i]) as u64;
        }
    }
    total
}

/// Counts `\n` bytes (what `wc -l` counts).
pub fn count_newlines(data: &[u8]) -> u64 {
    bytecount::count(data, b'\n') as u64
}

/// Letter counts a-z of one chunk, plus its newline count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetterCounts {
    pub letters: [u64; 26],
    pub newlines: u64,
}

/// Counts the letters a-z as the tutorial does (see the module docs).
pub fn count_letters(data: &[u8]) -> LetterCounts {
    let h = byte_histogram(data);
    let mut letters = [0u64; 26];
    for (i, slot) in letters.iter_mut().enumerate() {
        *slot = h[b'a' as usize + i] + h[b'A' as usize + i];
    }
    // Both special characters start with a lead byte that the histogram already saw; only scan
    // for them when it is there.
    if h[KELVIN[0] as usize] > 0 {
        letters[(b'k' - b'a') as usize] += memchr::memmem::find_iter(data, KELVIN).count() as u64;
    }
    if h[CAPITAL_I_DOT[0] as usize] > 0 {
        letters[(b'i' - b'a') as usize] += memchr::memmem::find_iter(data, CAPITAL_I_DOT).count() as u64;
    }
    LetterCounts { letters, newlines: h[b'\n' as usize] }
}

/// Where a chunk stops being valid UTF-8: the byte offset within the chunk and the 0-based line
/// (number of `\n` before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8 {
    pub offset: usize,
    pub line: u64,
}

fn invalid_utf8_at(data: &[u8], err: std::str::Utf8Error) -> InvalidUtf8 {
    let offset = err.valid_up_to();
    InvalidUtf8 { offset, line: count_newlines(&data[..offset]) }
}

/// Character counts of one chunk: ASCII in a table, the rest in a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharCounts {
    pub ascii: [u64; 128],
    pub other: FxHashMap<char, u64>,
    pub newlines: u64,
}

impl Default for CharCounts {
    fn default() -> Self {
        CharCounts { ascii: [0; 128], other: FxHashMap::default(), newlines: 0 }
    }
}

impl CharCounts {
    /// Adds another chunk's counts.
    pub fn merge(&mut self, other: CharCounts) {
        for (a, b) in self.ascii.iter_mut().zip(other.ascii) {
            *a += b;
        }
        for (c, n) in other.other {
            *self.other.entry(c).or_insert(0) += n;
        }
        self.newlines += other.newlines;
    }
}

/// Counts every character except line endings. Invalid UTF-8 is an error unless `lossy`, where
/// each maximal invalid sequence counts as one U+FFFD (as `String::from_utf8_lossy` and Python's
/// `errors="replace"` decode it).
pub fn count_chars(data: &[u8], lossy: bool) -> Result<CharCounts, InvalidUtf8> {
    if !lossy {
        if let Err(e) = std::str::from_utf8(data) {
            return Err(invalid_utf8_at(data, e));
        }
    }
    let h = byte_histogram(data);
    let mut counts = CharCounts::default();
    counts.ascii.copy_from_slice(&h[..128]);
    counts.newlines = h[b'\n' as usize];
    counts.ascii[b'\n' as usize] = 0;
    if h[b'\r' as usize] > 0 {
        counts.ascii[b'\r' as usize] -= memchr::memmem::find_iter(data, b"\r\n").count() as u64;
    }
    if h[128..].iter().any(|&n| n > 0) {
        for piece in data.utf8_chunks() {
            for c in piece.valid().chars().filter(|c| !c.is_ascii()) {
                *counts.other.entry(c).or_insert(0) += 1;
            }
            if !piece.invalid().is_empty() {
                *counts.other.entry(char::REPLACEMENT_CHARACTER).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

/// Word frequencies of one chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordCounts {
    pub words: FxHashMap<String, u64>,
    pub newlines: u64,
}

impl WordCounts {
    /// Adds another chunk's counts.
    pub fn merge(&mut self, other: WordCounts) {
        if self.words.len() < other.words.len() {
            let small = std::mem::replace(&mut self.words, other.words);
            for (w, n) in small {
                *self.words.entry(w).or_insert(0) += n;
            }
        } else {
            for (w, n) in other.words {
                *self.words.entry(w).or_insert(0) += n;
            }
        }
        self.newlines += other.newlines;
    }
}

/// Python's `str.isspace()`: Unicode White_Space plus U+001C..U+001F, which Python also splits on.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// ASCII bytes that are whitespace for `str.split()`.
const ASCII_SPACE: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = matches!(i, 0x09..=0x0d | 0x1c..=0x20);
        i += 1;
    }
    t
};

/// Splits text into words as Python's `str.split()` with no arguments does.
pub fn split_words(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        // Skip whitespace.
        loop {
            let &b = bytes.get(pos)?;
            if b < 128 {
                if !ASCII_SPACE[b as usize] {
                    break;
                }
                pos += 1;
            } else {
                let c = text[pos..].chars().next().expect("pos is on a char boundary");
                if !is_python_space(c) {
                    break;
                }
                pos += c.len_utf8();
            }
        }
        let start = pos;
        loop {
            // Eight bytes at a time while none can end the word: an ASCII byte above the space
            // never does. The lowest flagged byte (at most the space, or not ASCII) is exact; it
            // is then checked on its own below.
            while let Some(eight) = bytes.get(pos..pos + 8) {
                let v = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
                let flagged = (v.wrapping_sub(0x2121_2121_2121_2121) | v) & 0x8080_8080_8080_8080;
                if flagged != 0 {
                    pos += (flagged.trailing_zeros() / 8) as usize;
                    break;
                }
                pos += 8;
            }
            let Some(&b) = bytes.get(pos) else { break };
            if b < 128 {
                if ASCII_SPACE[b as usize] {
                    break;
                }
                pos += 1;
            } else {
                let c = text[pos..].chars().next().expect("pos is on a char boundary");
                if is_python_space(c) {
                    break;
                }
                pos += c.len_utf8();
            }
        }
        Some(&text[start..pos])
    })
}

/// Counts words. Invalid UTF-8 is an error unless `lossy` (decoded with U+FFFD). With
/// `ignore_case`, words are folded with `str::to_lowercase` (Python's `str.lower()`).
pub fn count_words(data: &[u8], ignore_case: bool, lossy: bool) -> Result<WordCounts, InvalidUtf8> {
    let mut words: FxHashMap<String, u64> = FxHashMap::default();
    let newlines = for_each_word(data, ignore_case, lossy, |key| match words.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            words.insert(key.to_string(), 1);
        }
    })?;
    Ok(WordCounts { words, newlines })
}

/// Calls `f` with each word of `data` (folded to lowercase with `ignore_case`), in order; returns
/// the number of newlines. The one definition of a word that every engine counts.
pub fn for_each_word(data: &[u8], ignore_case: bool, lossy: bool, mut f: impl FnMut(&str)) -> Result<u64, InvalidUtf8> {
    let text = match std::str::from_utf8(data) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) if lossy => String::from_utf8_lossy(data),
        Err(e) => return Err(invalid_utf8_at(data, e)),
    };
    let mut folded = String::new();
    for word in split_words(&text) {
        let key: &str = if ignore_case && word.bytes().any(|b| b.is_ascii_uppercase() || b >= 128) {
            folded.clear();
            if word.is_ascii() {
                folded.extend(word.chars().map(|c| c.to_ascii_lowercase()));
            } else {
                folded.push_str(&word.to_lowercase());
            }
            &folded
        } else {
            word
        };
        f(key);
    }
    Ok(count_newlines(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_matches_a_naive_count() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let mut naive = [0u64; 256];
        for &b in &data {
            naive[b as usize] += 1;
        }
        assert_eq!(byte_histogram(&data), naive);
        assert_eq!(byte_histogram(&data[..5]), {
            let mut n = [0u64; 256];
            data[..5].iter().for_each(|&b| n[b as usize] += 1);
            n
        });
    }

    #[test]
    fn letters_follow_python_lower() {
        // "Kelvin" with a KELVIN SIGN, an I WITH DOT ABOVE, and letters that are not a-z.
        let c = count_letters("\u{212A}elvin \u{0130}stanbul \u{e9}\u{df}\u{fb01}\r\nAZ".as_bytes());
        let get = |ch: u8| c.letters[(ch - b'a') as usize];
        assert_eq!(get(b'k'), 1);
        assert_eq!(get(b'i'), 2);
        assert_eq!(get(b'a'), 2);
        assert_eq!(get(b'z'), 1);
        assert_eq!(get(b'f'), 0, "the fi ligature lowercases to itself");
        assert_eq!(c.newlines, 1);
    }

    #[test]
    fn invalid_bytes_are_not_letters_but_neighbours_are() {
        let c = count_letters(b"\xffa\xe2\x84b\xc4");
        assert_eq!(c.letters[0], 1);
        assert_eq!(c.letters[1], 1);
        assert_eq!(c.letters.iter().sum::<u64>(), 2);
    }

    #[test]
    fn chars_skip_line_endings_only() {
        let c = count_chars("a\r\nb\rc\n\u{e9}\r".as_bytes(), false).unwrap();
        assert_eq!(c.ascii[b'\r' as usize], 2);
        assert_eq!(c.ascii[b'\n' as usize], 0);
        assert_eq!(c.other.get(&'\u{e9}'), Some(&1));
        assert_eq!(c.newlines, 2);
    }

    #[test]
    fn chars_report_where_utf8_breaks() {
        let e = count_chars(b"ok\nfine\nbad \xff here", false).unwrap_err();
        assert_eq!(e, InvalidUtf8 { offset: 12, line: 2 });
        let c = count_chars(b"x\xff\xfey", true).unwrap();
        assert_eq!(c.other.get(&char::REPLACEMENT_CHARACTER), Some(&2));
    }

    proptest::proptest! {
        /// The split is `str.split()`'s: text cut at every Python space, empty pieces dropped,
        /// whatever the mix of ASCII controls, spaces and multi-byte characters around the
        /// eight-byte steps.
        #[test]
        fn words_split_as_at_every_space(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "a", "bcdefghij", "Z~", "\u{7f}", "\u{0}", "\u{5}", "\u{1b}", "!", " ", "\t", "\r\n", "\n",
                "\u{b}", "\u{1c}", "\u{1f}", "\u{85}", "\u{a0}", "\u{2003}", "\u{3000}", "\u{200b}", "\u{e9}",
                "\u{1f600}", "xxxxxxxxxxxxxxxxxxxxxxx",
            ]), 0..60),
        ) {
            let text: String = parts.concat();
            let words: Vec<&str> = split_words(&text).collect();
            let expected: Vec<&str> = text.split(is_python_space).filter(|w| !w.is_empty()).collect();
            proptest::prop_assert_eq!(words, expected);
        }
    }

    #[test]
    fn words_split_like_python() {
        let words: Vec<&str> = split_words("  a\u{1c}b\u{a0}c\td\u{2003}e\u{200b}f \r\n").collect();
        assert_eq!(words, vec!["a", "b", "c", "d", "e\u{200b}f"]);
        let c = count_words("The the THE \u{c9}t\u{e9} \u{e9}T\u{c9}".as_bytes(), true, false).unwrap();
        assert_eq!(c.words.get("the"), Some(&3));
        assert_eq!(c.words.get("\u{e9}t\u{e9}"), Some(&2));
    }
}
