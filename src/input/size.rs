//! Byte sizes as people write them: `1`, `4096`, `64KiB`, `4MiB`, `1GiB`, `1.5MB`.

use std::fmt;
use std::str::FromStr;

/// A chunk size in bytes, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSize(pub usize);

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size \"{input}\": {reason}")]
pub struct ParseSizeError {
    input: String,
    reason: &'static str,
}

/// Units: binary (`K`, `KiB`, `M`, `MiB`, ...) are powers of 1024; `KB`, `MB`, `GB`, `TB` are
/// powers of 1000, as `numfmt` and hyperfine read them. Case-insensitive, `B` optional.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("ki", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1_000),
    ("m", 1 << 20),
    ("mi", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gi", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("ti", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

impl FromStr for ChunkSize {
    type Err = ParseSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseSizeError { input: s.to_string(), reason };
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        if number.is_empty() {
            return Err(err("expected a number of bytes, optionally with a unit (4096, 64KiB, 4MiB, 1GiB)"));
        }
        let unit = unit.trim().to_ascii_lowercase();
        let Some(&(_, factor)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(err("unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)"));
        };
        let bytes = if number.contains('.') {
            let x: f64 = number.parse().map_err(|_| err("not a number"))?;
            let b = (x * factor as f64).round();
            if !b.is_finite() || b > usize::MAX as f64 {
                return Err(err("too large"));
            }
            b as u64
        } else {
            let n: u64 = number.parse().map_err(|_| err("too large"))?;
            n.checked_mul(factor).ok_or_else(|| err("too large"))?
        };
        if bytes == 0 {
            return Err(err("must be at least 1 byte"));
        }
        usize::try_from(bytes).map(ChunkSize).map_err(|_| err("too large"))
    }
}

impl fmt::Display for ChunkSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, factor) in [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= factor && n % factor == 0 {
                return write!(f, "{}{unit}", n / factor);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        for (s, n) in [
            ("1", 1),
            ("4096", 4096),
            ("64KiB", 65536),
            ("4MiB", 4 << 20),
            ("1GiB", 1 << 30),
            ("64k", 65536),
            ("2 MiB", 2 << 20),
            ("1.5MiB", 3 << 19),
            ("10MB", 10_000_000),
            ("512b", 512),
        ] {
            assert_eq!(s.parse::<ChunkSize>(), Ok(ChunkSize(n)), "{s}");
        }
    }

    #[test]
    fn rejects_nonsense() {
        for s in ["", "0", "abc", "12XB", "-4", "KiB", "99999999999999999999", "0.0001"] {
            assert!(s.parse::<ChunkSize>().is_err(), "{s}");
        }
    }

    #[test]
    fn displays_round_units() {
        assert_eq!(ChunkSize(4 << 20).to_string(), "4MiB");
        assert_eq!(ChunkSize(1000).to_string(), "1000");
    }
}
