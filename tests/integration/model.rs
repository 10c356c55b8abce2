//! Naive models of the count semantics, written independently of the kernels: decode the text,
//! walk it character by character, as the tutorial's Python does.

use std::collections::BTreeMap;

/// `str.lower()` then keep a-z, over the input decoded with U+FFFD for invalid bytes.
pub fn letters(input: &[u8]) -> [u64; 26] {
    let mut counts = [0u64; 26];
    for c in String::from_utf8_lossy(input).chars() {
        for l in c.to_lowercase() {
            if l.is_ascii_lowercase() {
                counts[(l as u8 - b'a') as usize] += 1;
            }
        }
    }
    counts
}

/// Where strict decoding fails: (1-based line, byte offset).
pub fn utf8_error(input: &[u8]) -> Option<(u64, u64)> {
    let e = std::str::from_utf8(input).err()?;
    let offset = e.valid_up_to();
    let line = input[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    Some((line, offset as u64))
}

fn decode(input: &[u8], lossy: bool) -> Result<String, (u64, u64)> {
    match utf8_error(input) {
        Some(e) if !lossy => Err(e),
        _ => Ok(String::from_utf8_lossy(input).into_owned()),
    }
}

/// Every character but `\n` and a `\r` right before one.
pub fn chars(input: &[u8], lossy: bool) -> Result<BTreeMap<char, u64>, (u64, u64)> {
    let text: Vec<char> = decode(input, lossy)?.chars().collect();
    let mut m = BTreeMap::new();
    for (i, &c) in text.iter().enumerate() {
        if c == '\n' || (c == '\r' && text.get(i + 1) == Some(&'\n')) {
            continue;
        }
        *m.entry(c).or_insert(0) += 1;
    }
    Ok(m)
}

/// Python's `str.split()`: runs of characters that are not `str.isspace()`.
pub fn words(input: &[u8], ignore_case: bool, lossy: bool) -> Result<BTreeMap<String, u64>, (u64, u64)> {
    let text = decode(input, lossy)?;
    let mut m = BTreeMap::new();
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    for w in text.split(is_space).filter(|w| !w.is_empty()) {
        let w = if ignore_case { w.to_lowercase() } else { w.to_string() };
        *m.entry(w).or_insert(0) += 1;
    }
    Ok(m)
}

/// The `letter,count` CSV pframe prints for these counts.
pub fn letters_csv(counts: &[u64; 26]) -> String {
    let mut s = String::from("letter,count\n");
    for (i, n) in counts.iter().enumerate() {
        s.push_str(&format!("{},{n}\n", (b'a' + i as u8) as char));
    }
    s
}
