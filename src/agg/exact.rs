//! Exact sums of doubles, so that a merged result does not depend on how the input was split.
//!
//! Floating-point addition is not associative: a sum over chunks, threads or cluster shards
//! merged in a different grouping can differ in its last bits, and a mean or a standard deviation
//! printed to 17 digits shows it. [`ExactSum`] keeps the exact value of a sum of doubles as a big
//! fixed-point integer (every double is an integer multiple of 2^-1074), in radix 2^32 digits over
//! only the window of bit positions its values touch, so adding is a few integer additions and
//! merging is digit-wise addition: the total is the same in any order. It is rounded to a double
//! only when a result is printed.
//!
//! For the variance, the squares are added exactly too (`x * x` and its rounding error from a
//! fused multiply-add), and `n * sum(x^2) - sum(x)^2` is computed in exact integer arithmetic
//! before one division: no cancellation, whatever the mean.
//!
//! Non-finite values are summed apart (`inf + -inf = NaN` in any order); a square that overflows
//! goes there too.

use serde::{Deserialize, Serialize};

/// Bit position 0 of a plain sum is 2^-1074, the smallest subnormal.
const BIAS_SUM: i32 = 1074;
/// Squares: the rounding error of x * x can reach down to 2^-2148.
const BIAS_SQUARES: i32 = 2148;
/// Normalize after this many additions: each adds less than 2^33 to a digit's magnitude, so
/// digits stay far from i64 overflow.
const NORMALIZE_EVERY: u32 = 1 << 28;

/// An exact sum of finite doubles (plus the sum of the non-finite ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// The digit index (in units of 32 bits) of `digits[0]`.
    lo: i32,
    /// Little-endian radix 2^32 digits, each an i64 that may hold a carry or be negative until
    /// normalized.
    digits: Vec<i64>,
    adds: u32,
    /// The sum of the non-finite values added (order-free: inf + -inf is NaN either way).
    #[serde(with = "super::f64_bits")]
    nonfinite: f64,
}

/// `x = m * 2^e` with a signed integer `m` (|m| < 2^53), or `None` for a non-finite `x`.
fn decompose(x: f64) -> Option<(i64, i32)> {
    if !x.is_finite() {
        return None;
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = (bits & ((1 << 52) - 1)) as i64;
    let (m, e) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    Some((if x.is_sign_negative() { -m } else { m }, e))
}

impl ExactSum {
    /// Adds `x` (its bits at positions counted from 2^-bias).
    #[inline]
    fn add_scaled(&mut self, x: f64, bias: i32) {
        let Some((m, e)) = decompose(x) else {
            self.nonfinite += x;
            return;
        };
        if m == 0 {
            return;
        }
        let q = e + bias;
        debug_assert!(q >= 0);
        let (idx, off) = (q >> 5, q & 31);
        let v = i128::from(m) << off;
        let at = idx - self.lo;
        if at < 0 || at as usize + 3 > self.digits.len() {
            self.reserve(idx, idx + 3);
        }
        let at = (idx - self.lo) as usize;
        let d = &mut self.digits[at..at + 3];
        d[0] += (v & 0xFFFF_FFFF) as i64;
        d[1] += ((v >> 32) & 0xFFFF_FFFF) as i64;
        d[2] += (v >> 64) as i64;
        self.adds += 1;
        if self.adds >= NORMALIZE_EVERY {
            self.normalize();
        }
    }

    /// Adds an integer exactly.
    pub fn add_int(&mut self, i: i128) {
        // 2^1074 is the unit: add the integer's 32-bit digits at index 1074 / 32 with offset 1074 % 32.
        if i == 0 {
            return;
        }
        let (idx, off) = (BIAS_SUM >> 5, BIAS_SUM & 31);
        let neg = i < 0;
        let mut mag = i.unsigned_abs();
        let mut k = idx;
        // Split the shifted magnitude into 32-bit pieces (at most 160 bits).
        let mut pieces = [0i64; 5];
        let lo_bits = (mag << off) & 0xFFFF_FFFF;
        pieces[0] = lo_bits as i64;
        mag >>= 32 - off;
        for p in pieces.iter_mut().skip(1) {
            *p = (mag & 0xFFFF_FFFF) as i64;
            mag >>= 32;
        }
        self.reserve(k, k + 5);
        for p in pieces {
            let at = (k - self.lo) as usize;
            self.digits[at] += if neg { -p } else { p };
            k += 1;
        }
        self.normalize();
    }

    /// Adds a double exactly.
    pub fn add(&mut self, x: f64) {
        self.add_scaled(x, BIAS_SUM)
    }

    /// Adds `x * x` exactly (as a sum of squares, to be read with [`variance`]).
    pub fn add_square(&mut self, x: f64) {
        let hi = x * x;
        if !hi.is_finite() {
            self.nonfinite += hi;
            return;
        }
        // The rounding error of x * x, exact unless the product is subnormal (then it is a
        // deterministic approximation: the same value in any order).
        let lo = x.mul_add(x, -hi);
        self.add_scaled(hi, BIAS_SQUARES);
        self.add_scaled(lo, BIAS_SQUARES);
    }

    /// Makes room for digits `from..to`.
    fn reserve(&mut self, from: i32, to: i32) {
        if self.digits.is_empty() {
            self.lo = from;
            self.digits = vec![0; (to - from) as usize];
            return;
        }
        if from < self.lo {
            let extra = (self.lo - from) as usize;
            self.digits.splice(0..0, std::iter::repeat_n(0, extra));
            self.lo = from;
        }
        let hi = self.lo + self.digits.len() as i32;
        if to > hi {
            self.digits.resize(self.digits.len() + (to - hi) as usize, 0);
        }
    }

    /// Adds another sum (of the same kind: plain or squares).
    pub fn merge(&mut self, other: &ExactSum) {
        self.nonfinite += other.nonfinite;
        if other.digits.is_empty() {
            return;
        }
        self.reserve(other.lo, other.lo + other.digits.len() as i32);
        let at = (other.lo - self.lo) as usize;
        for (d, o) in self.digits[at..].iter_mut().zip(&other.digits) {
            *d += o;
        }
        self.normalize();
    }

    /// Propagates carries: every digit but the top in [0, 2^32), the top carries the sign.
    fn normalize(&mut self) {
        let mut carry = 0i64;
        for d in &mut self.digits {
            let v = *d + carry;
            *d = v & 0xFFFF_FFFF;
            carry = v >> 32;
        }
        while carry != 0 {
            self.digits.push(carry & 0xFFFF_FFFF);
            carry >>= 32;
            if carry == -1 {
                // A negative number's top digit: keep it as -1 rather than extending forever.
                let last = self.digits.len() - 1;
                self.digits[last] -= 1 << 32;
                carry = 0;
            }
        }
        self.adds = 0;
    }

    /// The magnitude as normalized u32 digits (lowest first), its lowest digit index, and the sign.
    fn magnitude(&self) -> (Vec<u32>, i32, bool) {
        let mut s = self.clone();
        s.normalize();
        let negative = s.digits.last().is_some_and(|&d| d < 0);
        if negative {
            for d in &mut s.digits {
                *d = -*d;
            }
            s.normalize();
        }
        (s.digits.iter().map(|&d| d as u32).collect(), s.lo, negative)
    }

    /// The sum, correctly rounded (for normal results) to a double.
    pub fn value(&self) -> f64 {
        let (mag, lo, negative) = self.magnitude();
        let v = to_f64(&mag, lo, BIAS_SUM);
        let v = if negative { -v } else { v };
        if self.nonfinite != 0.0 || self.nonfinite.is_nan() { self.nonfinite + v } else { v }
    }

    fn is_finite_sum(&self) -> bool {
        self.nonfinite == 0.0
    }
}

/// `mag * 2^(32 * lo - bias)` rounded to a double: the top 96 bits with a sticky bit for the rest
/// convert with one correct rounding (u128 to f64), then an exact scaling by a power of two.
fn to_f64(mag: &[u32], lo: i32, bias: i32) -> f64 {
    let Some(top) = mag.iter().rposition(|&d| d != 0) else { return 0.0 };
    let digit = |i: usize| mag.get(i).map_or(0u128, |&d| u128::from(d));
    let (take, below) = if top >= 2 { (top - 2, top - 2) } else { (0, 0) };
    let mut m: u128 = 0;
    for i in (take..=top).rev() {
        m = (m << 32) | digit(i);
    }
    if mag[..below].iter().any(|&d| d != 0) {
        m |= 1;
    }
    let exp = 32 * (lo + take as i32) - bias;
    ldexp(m as f64, exp)
}

/// `x * 2^e`, exact while the result is a normal double.
fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e)
}

/// The sample variance (ddof = 1) of `n` values with exact sums `s1` (plain) and `s2` (squares):
/// `(n * s2 - s1^2) / (n (n - 1))`, the numerator computed exactly.
pub fn variance(n: u64, s1: &ExactSum, s2: &ExactSum) -> Option<f64> {
    if n < 2 {
        return None;
    }
    if !s1.is_finite_sum() || !s2.is_finite_sum() {
        return Some(f64::NAN);
    }
    // s1^2 at bias 2 * 1074 = 2148, the squares' bias: digit indices add.
    let (a, a_lo, _) = s1.magnitude();
    let mut sq = vec![0u64; 2 * a.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &y) in a.iter().enumerate() {
            let t = u128::from(sq[i + j]) + u128::from(x) * u128::from(y) + carry;
            sq[i + j] = (t & 0xFFFF_FFFF) as u64;
            carry = t >> 32;
        }
        let mut k = i + a.len();
        while carry != 0 {
            let t = u128::from(sq[k]) + carry;
            sq[k] = (t & 0xFFFF_FFFF) as u64;
            carry = t >> 32;
            k += 1;
        }
    }
    let sq_lo = 2 * a_lo;
    // n * s2.
    let (b, b_lo, _) = s2.magnitude();
    let mut ns2 = vec![0u64; b.len() + 3];
    let mut carry = 0u128;
    for (i, &d) in b.iter().enumerate() {
        let t = u128::from(d) * u128::from(n) + carry;
        ns2[i] = (t & 0xFFFF_FFFF) as u64;
        carry = t >> 32;
    }
    let mut k = b.len();
    while carry != 0 {
        ns2[k] = (carry & 0xFFFF_FFFF) as u64;
        carry >>= 32;
        k += 1;
    }
    // n * s2 - s1^2, aligned on the lower of the two lowest digits.
    let lo = sq_lo.min(b_lo);
    let len = (sq_lo + sq.len() as i32).max(b_lo + ns2.len() as i32) - lo;
    let mut diff = vec![0i64; len as usize + 1];
    for (i, &d) in ns2.iter().enumerate() {
        diff[(b_lo - lo) as usize + i] += d as i64;
    }
    for (i, &d) in sq.iter().enumerate() {
        diff[(sq_lo - lo) as usize + i] -= d as i64;
    }
    let num = ExactSum { lo, digits: diff, adds: 0, nonfinite: 0.0 };
    let (mag, mag_lo, negative) = num.magnitude();
    // Mathematically n * s2 >= s1^2; a negative value can only come from inexact (subnormal)
    // squares: clamp, as any variance algorithm does.
    let numerator = if negative { 0.0 } else { to_f64(&mag, mag_lo, BIAS_SQUARES) };
    Some(numerator / (n as f64 * (n - 1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum_of(xs: &[f64]) -> ExactSum {
        let mut s = ExactSum::default();
        xs.iter().for_each(|&x| s.add(x));
        s
    }

    #[test]
    fn sums_that_floating_point_gets_wrong() {
        assert_eq!(sum_of(&[1e100, 1.0, -1e100]).value(), 1.0);
        assert_eq!(sum_of(&[0.1, 0.2, 0.3, -0.6]).value(), exact_tenths());
        // Above the halfway point only because of a far smaller term: the sticky bit.
        assert_eq!(sum_of(&[1.0, 2f64.powi(-53), 2f64.powi(-80)]).value(), 1.0 + f64::EPSILON);
        assert_eq!(sum_of(&[1.0, 2f64.powi(-53)]).value(), 1.0, "a tie rounds to even");
        assert_eq!(sum_of(&[]).value(), 0.0);
        let mut s = sum_of(&[0.5]);
        s.add_int(-(1i128 << 100) + 3);
        s.add_int(1i128 << 100);
        assert_eq!(s.value(), 3.5);
        let mut s = ExactSum::default();
        s.add_int(i128::from(i64::MAX) * 4);
        assert_eq!(s.value(), i64::MAX as f64 * 4.0);
        assert_eq!(sum_of(&[-2.5, -0.5]).value(), -3.0);
        assert_eq!(sum_of(&[f64::MIN_POSITIVE / 4.0, f64::MIN_POSITIVE / 4.0]).value(), f64::MIN_POSITIVE / 2.0);
        assert_eq!(sum_of(&[f64::MAX, -f64::MAX, 7.0]).value(), 7.0);
        assert!(sum_of(&[1.0, f64::INFINITY]).value().is_infinite());
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY, 1.0]).value().is_nan());
    }

    /// 0.1 + 0.2 + 0.3 - 0.6 in exact integer arithmetic: these four doubles are integer
    /// multiples of 2^-56.
    fn exact_tenths() -> f64 {
        let scaled = |x: f64| (x * 2f64.powi(56)) as i128;
        (scaled(0.1) + scaled(0.2) + scaled(0.3) - scaled(0.6)) as f64 / 2f64.powi(56)
    }

    #[test]
    fn variance_without_cancellation() {
        // Values around 1e9 with a spread of 1: the naive formula loses every digit.
        let xs: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 10) as f64).collect();
        let (mut s1, mut s2) = (ExactSum::default(), ExactSum::default());
        xs.iter().for_each(|&x| {
            s1.add(x);
            s2.add_square(x)
        });
        let mean = 1e9 + 4.5;
        let want: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 999.0;
        let got = variance(1000, &s1, &s2).unwrap();
        assert!((got - want).abs() <= 1e-15 * want, "{got} vs {want}");
        assert_eq!(variance(1, &s1, &s2), None);
        let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            a.add(x);
            b.add_square(x);
        }
        assert_eq!(variance(8, &a, &b), Some(32.0 / 7.0));
    }

    proptest! {
        /// Any split, merged in any order, gives the same bits, and the sum is the correctly
        /// rounded one.
        #[test]
        fn order_and_grouping_do_not_matter(xs in prop::collection::vec(prop_oneof![
            -1e6f64..1e6, -1e-300f64..1e-300, -1e300f64..1e300, Just(0.1), Just(-0.0)], 0..60),
            split in 0usize..60, rot in 0usize..60) {
            let split = split.min(xs.len());
            let whole = sum_of(&xs);
            let (mut a, b) = (sum_of(&xs[..split]), sum_of(&xs[split..]));
            let mut b2 = b.clone();
            b2.merge(&a);
            a.merge(&b);
            prop_assert_eq!(a.value().to_bits(), whole.value().to_bits());
            prop_assert_eq!(b2.value().to_bits(), whole.value().to_bits());
            let mut rotated = xs.clone();
            if !rotated.is_empty() {
                let k = rot % rotated.len();
                rotated.rotate_left(k);
            }
            prop_assert_eq!(sum_of(&rotated).value().to_bits(), whole.value().to_bits());
            let (mut s2w, mut s2a, mut s2b) = (ExactSum::default(), ExactSum::default(), ExactSum::default());
            xs.iter().for_each(|&x| s2w.add_square(x));
            xs[..split].iter().for_each(|&x| s2a.add_square(x));
            xs[split..].iter().for_each(|&x| s2b.add_square(x));
            s2a.merge(&s2b);
            let n = xs.len() as u64;
            prop_assert_eq!(variance(n, &whole, &s2w).map(f64::to_bits), variance(n, &a, &s2a).map(f64::to_bits));
        }
    }
}
