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

/// Calls `f` with each word of `text`, in order, as Python's `str.split()` with no arguments cuts
/// it: at every Python space (see [`is_python_space`]), empty pieces dropped.
///
/// 64 bytes at a time: their spaces as a bit mask, built eight bytes per step (see
/// [`space_bits`]), and the words read off the mask's bits (a word per pair of `trailing_zeros`,
/// where a byte at a time cost 36% of counting a million distinct words). A character beyond
/// ASCII is decoded only when it may be a space (its first byte is one of a multi-byte
/// character); a block whose last character is a space that goes on past it, and the last bytes
/// of the text, are read a character at a time.
pub fn split_words<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    let bytes = text.as_bytes();
    let mut start = None;
    let mut pos = 0;
    while pos < bytes.len() {
        pos = match bytes.get(pos..pos + 64).and_then(|block| block_spaces(text, pos, block)) {
            Some(spaces) => {
                words_of_block(text, pos, spaces, &mut start, &mut f);
                pos + 64
            }
            None => split_chars(text, pos, (pos + 64).min(bytes.len()), &mut start, &mut f),
        };
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// The spaces of the 64 bytes of `block` (at `at` in `text`) as a bit mask (bit `i` for byte
/// `i`); `None` if a space character goes on past the block.
#[inline]
fn block_spaces(text: &str, at: usize, block: &[u8]) -> Option<u64> {
    let (mut spaces, mut leads) = (0u64, 0u64);
    for (i, eight) in block.chunks_exact(8).enumerate() {
        let (s, l) = space_bits(u64::from_le_bytes(eight.try_into().expect("eight bytes")));
        spaces |= u64::from(s) << (8 * i);
        leads |= u64::from(l) << (8 * i);
    }
    while leads != 0 {
        let i = leads.trailing_zeros() as usize;
        leads &= leads - 1;
        let c = text[at + i..].chars().next().expect("a character starts at its first byte");
        if is_python_space(c) {
            let end = i + c.len_utf8();
            if end > 64 {
                return None;
            }
            spaces |= (u64::MAX >> (64 - (end - i))) << i;
        }
    }
    Some(spaces)
}

/// Of eight bytes (the first in the lowest bits), a bit each for those that are ASCII spaces, and
/// a bit each for those that begin a multi-byte character (the only other bytes that may begin a
/// space).
#[inline]
fn space_bits(x: u64) -> (u8, u8) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Each byte's low seven bits plus `0x80 - lo` reaches the high bit, with no carry out of the
    // byte, when they are at least `lo`.
    let low = x & !HIGH;
    let at_least = |lo: u64| low + ONES * (0x80 - lo);
    let within = |lo: u64, hi: u64| at_least(lo) & !at_least(hi + 1);
    let spaces = (within(0x09, 0x0d) | within(0x1c, 0x20)) & !x & HIGH;
    // A first byte of a multi-byte character is 0b11xxxxxx.
    let leads = x & (x << 1) & HIGH;
    // The bytes' high bits gathered into one byte, the first byte's lowest.
    let gather = |m: u64| ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
    (gather(spaces), gather(leads))
}

/// Calls `f` with the words of a block at `at` whose spaces are `spaces` (see
/// [`block_spaces`]); `start` is where a word begun before the block began, and where one the
/// block leaves unfinished begins.
#[inline]
fn words_of_block<'t>(text: &'t str, at: usize, spaces: u64, start: &mut Option<usize>, f: &mut impl FnMut(&'t str)) {
    // `i` stays below 64: it is the position of a word's byte or of a space.
    let mut i = 0;
    loop {
        if start.is_none() {
            let words = !spaces >> i;
            if words == 0 {
                return;
            }
            i += words.trailing_zeros();
            *start = Some(at + i as usize);
        }
        let ends = spaces >> i;
        if ends == 0 {
            return;
        }
        i += ends.trailing_zeros();
        let s = start.take().expect("a word begun");
        f(&text[s..at + i as usize]);
    }
}

/// Reads `text` from `pos` a character at a time up to `until` (or just past it, to the end of a
/// character that goes on past it), calling `f` with the words that end; returns where it stopped.
/// `pos` may be inside a character that is not a space.
fn split_chars<'t>(
    text: &'t str,
    mut pos: usize,
    until: usize,
    start: &mut Option<usize>,
    f: &mut impl FnMut(&'t str),
) -> usize {
    let bytes = text.as_bytes();
    while pos < until {
        let b = bytes[pos];
        let (space, len) = if b < 128 {
            (ASCII_SPACE[b as usize], 1)
        } else if !text.is_char_boundary(pos) {
            // Within a character begun before `pos` (a block of 64 bytes ended inside it): not
            // a space (a block that ends inside a space is read here from its start), so part
            // of the word it began or went on.
            (false, 1)
        } else {
            let c = text[pos..].chars().next().expect("pos is on a char boundary");
            (is_python_space(c), c.len_utf8())
        };
        if !space {
            start.get_or_insert(pos);
        } else if let Some(s) = start.take() {
            f(&text[s..pos]);
        }
        pos += len;
    }
    pos
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
    split_words(&text, |word| {
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
    });
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
            let expected: Vec<&str> = text.split(is_python_space).filter(|w| !w.is_empty()).collect();
            proptest::prop_assert_eq!(words_of(&text), expected);
        }

        /// The same of mostly ASCII text, long enough for many 64-byte blocks: words across
        /// blocks, spaces of several bytes across a block's end, blocks of one word.
        #[test]
        fn words_split_as_at_every_space_across_blocks(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "a", "bc", "defghijklmnopqrstuvwxyz0123456789", " ", "  ", "\n", "\r\n", "\u{1c}", "\u{e9}",
                "\u{a0}", "\u{85}", "\u{2003}", "\u{3000}", "\u{2019}", "\u{1680}", "\u{1f600}", "\u{7f}",
                "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
            ]), 0..400),
            skip in 0usize..64,
        ) {
            let text: String = parts.concat();
            // Blocks start anywhere in the text.
            let text = text.get(skip.min(text.len())..).unwrap_or("");
            let expected: Vec<&str> = text.split(is_python_space).filter(|w| !w.is_empty()).collect();
            proptest::prop_assert_eq!(words_of(text), expected);
        }
    }

    fn words_of(text: &str) -> Vec<&str> {
        let mut words = Vec::new();
        split_words(text, |w| words.push(w));
        words
    }

    /// Eight bytes' spaces and first bytes of multi-byte characters, byte by byte against the
    /// definitions.
    #[test]
    fn space_bits_of_every_byte() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut eight = [b'x'; 8];
                eight[at] = b;
                let (spaces, leads) = space_bits(u64::from_le_bytes(eight));
                let space = b < 128 && ASCII_SPACE[b as usize];
                assert_eq!(spaces, u8::from(space) << at, "byte {b:#x} at {at}");
                assert_eq!(leads, u8::from(b >= 0xc0) << at, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn words_split_like_python() {
        let words = words_of("  a\u{1c}b\u{a0}c\td\u{2003}e\u{200b}f \r\n");
        assert_eq!(words, vec!["a", "b", "c", "d", "e\u{200b}f"]);
        let c = count_words("The the THE \u{c9}t\u{e9} \u{e9}T\u{c9}".as_bytes(), true, false).unwrap();
        assert_eq!(c.words.get("the"), Some(&3));
        assert_eq!(c.words.get("\u{e9}t\u{e9}"), Some(&2));
    }
}
