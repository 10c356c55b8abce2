//! Numbers as results show them, fast: integers through `itoa`, floats through `zmij`'s shortest
//! digits laid out exactly as Rust's `{:?}` lays them out (the shortest text that reads back to
//! the same `f64`, as Python's `repr` does: `1.0`, `0.1`, `1e16`, `1.5e-5`). Formatting numbers is
//! much of what writing a large CSV result costs. Values whose shortest text has 16 or more
//! digits and ends in an even digit (where zmij and Rust may have broken a tie differently) are laid
//! out by Rust itself.

/// Appends `bytes` to `out`: those of a short field (a number, an id, a word) with a few word
/// loads and stores rather than a call to `memcpy`, which costs more than such a copy. Most of a
/// result's fields are this short, and writing millions of them is most of what writing costs.
#[inline]
pub fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 16 {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(16);
    let len = out.len();
    let src = bytes.as_ptr();
    // SAFETY: `out` has room for 16 more bytes; every load is within `bytes` (two loads that
    // overlap cover lengths between one and two words), every store within the reserved room.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        if n >= 8 {
            let (a, b) = (src.cast::<u64>().read_unaligned(), src.add(n - 8).cast::<u64>().read_unaligned());
            dst.cast::<u64>().write_unaligned(a);
            dst.add(n - 8).cast::<u64>().write_unaligned(b);
        } else if n >= 4 {
            let (a, b) = (src.cast::<u32>().read_unaligned(), src.add(n - 4).cast::<u32>().read_unaligned());
            dst.cast::<u32>().write_unaligned(a);
            dst.add(n - 4).cast::<u32>().write_unaligned(b);
        } else {
            for i in 0..n {
                *dst.add(i) = *src.add(i);
            }
        }
        out.set_len(len + n);
    }
}

/// Appends `x` as `format!("{x:?}")` would.
pub fn push_f64(out: &mut Vec<u8>, x: f64) {
    if !x.is_finite() {
        out.extend_from_slice(if x.is_nan() {
            b"NaN"
        } else if x > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return;
    }
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let abs = x.abs();
    if abs == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    // zmij's text, read back as digits d1 d2 ... and the exponent e of d1.d2... x 10^e.
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(abs).as_bytes();
    // Between 1e-4 and 1e16 zmij lays digits out as Rust does (`0.0001`, `6.84302`, `100.0`);
    // sixteen bytes hold at most fifteen digits, too few for the tie below. Most numbers of a
    // result are such.
    if (1e-4..1e16).contains(&abs) && text.len() <= 16 {
        push_bytes(out, text);
        return;
    }
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(i) => (&text[..i], parse_exp(&text[i + 1..])),
        None => (text, 0),
    };
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut point = None;
    for &b in mantissa {
        if b == b'.' {
            point = Some(n);
        } else {
            digits[n] = b;
            n += 1;
        }
    }
    let point = point.unwrap_or(n) as i32;
    let lead = digits[..n].iter().take_while(|&&d| d == b'0').count();
    let trail = digits[lead..n].iter().rev().take_while(|&&d| d == b'0').count();
    let sig = &digits[lead..n - trail];
    let e = exp + point - 1 - lead as i32;
    // Two shortest texts can be equally near (the value a tie, `...8125`): zmij (as ryu) takes the even
    // digit, Rust the larger. A tie needs two candidates an ulp apart, so 16 or more digits, and
    // leaves zmij an even last digit; such values are laid out by Rust itself.
    if sig.len() >= 16 && sig[sig.len() - 1] % 2 == 0 {
        use std::io::Write as _;
        let _ = write!(out, "{abs:?}");
        return;
    }
    if (1e-4..1e16).contains(&abs) {
        if e >= 0 {
            let int_len = e as usize + 1;
            if sig.len() <= int_len {
                push_bytes(out, sig);
                out.resize(out.len() + int_len - sig.len(), b'0');
                out.extend_from_slice(b".0");
            } else {
                push_bytes(out, &sig[..int_len]);
                out.push(b'.');
                push_bytes(out, &sig[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-e - 1) as usize, b'0');
            push_bytes(out, sig);
        }
    } else {
        out.push(sig[0]);
        if sig.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&sig[1..]);
        }
        out.push(b'e');
        out.extend_from_slice(itoa::Buffer::new().format(e).as_bytes());
    }
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = digits.iter().fold(0i32, |v, &d| v * 10 + i32::from(d - b'0'));
    if neg { -v } else { v }
}

/// A number of a result cell.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    /// Appends the number as results show it (as `Value`'s `Display` does).
    pub fn push(self, out: &mut Vec<u8>) {
        match self {
            Number::Int(n) => push_bytes(out, itoa::Buffer::new().format(n).as_bytes()),
            Number::UInt(n) => push_bytes(out, itoa::Buffer::new().format(n).as_bytes()),
            Number::Float(x) => push_f64(out, x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(x: f64) -> String {
        let mut out = Vec::new();
        push_f64(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn short_copies_append_every_length() {
        for n in 0..40 {
            let bytes: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37) | 1).collect();
            let mut out = b"ab".to_vec();
            push_bytes(&mut out, &bytes);
            push_bytes(&mut out, &bytes[..n / 2]);
            let mut want = b"ab".to_vec();
            want.extend_from_slice(&bytes);
            want.extend_from_slice(&bytes[..n / 2]);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn lays_out_floats_as_debug_does() {
        let edges = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.5,
            1e-4,
            9.999e-5,
            1e-5,
            1.5e-5,
            1e16,
            9.999999999999998e15,
            1e15,
            123.456,
            100.0,
            1e21,
            1e22,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            85.671713,
            1234567.0,
            0.30000000000000004,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2.5e-300,
            1.7976931348623157e308,
            12345678901234567.0,
            // 15 significant digits, 16 and 17, about the ends of the plain layout.
            0.0001,
            0.00010000000000000002,
            0.000123456789012345,
            999999999999999.9,
            999999999999999.0,
            123456789012345.6,
            0.1 + 0.7,
            // -34798828965959.8125, a tie between two shortest texts (zmij takes the even digit, 2).
            f64::from_bits(14033117739847010256),
        ];
        for x in edges {
            assert_eq!(ours(x), format!("{x:?}"), "{x:e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        #[test]
        fn any_bits_format_as_debug(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(ours(x), format!("{x:?}"));
        }

        #[test]
        fn short_decimals_at_any_scale_format_as_debug(m in 1i64..1_000_000_000_000_000, k in -330i32..300) {
            let x: f64 = format!("{m}e{k}").parse().unwrap();
            prop_assert_eq!(ours(x), format!("{x:?}"));
            prop_assert_eq!(ours(-x), format!("{:?}", -x));
        }

        #[test]
        fn decimals_of_up_to_17_digits_format_as_debug(digits in 1u32..18, k in -22i32..16, m in any::<u64>()) {
            // `digits` significant digits at the scale 10^k, and a nearby double (17 digits).
            let m = m % 10u64.pow(digits).max(1);
            let x: f64 = format!("{m}e{k}").parse().unwrap();
            prop_assert_eq!(ours(x), format!("{x:?}"));
            let y = f64::from_bits(x.to_bits() + 1);
            prop_assert_eq!(ours(y), format!("{y:?}"));
        }

        #[test]
        fn decimals_format_as_debug(m in -10_000_000i64..10_000_000, scale in 0u32..12) {
            let x = m as f64 / 10f64.powi(scale as i32);
            prop_assert_eq!(ours(x), format!("{x:?}"));
        }
    }
}
