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
//! Non-finite values are summed apart (`inf + -inf = NaN` in any order). A square or product of
//! finite values past the doubles (or too small for its rounding error to be exact) is added
//! exactly from the values' mantissas: a variance past the doubles is infinite, as every peer
//! gives, but the standard deviation and the correlation of such values are still found (their
//! terms rounded with a power of two apart, see [`cross_scaled`]).

use serde::{Deserialize, Serialize};

use crate::input::value::Num;

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
        self.add_int_scaled(i, 0);
    }

    /// Adds `i * 2^exp` exactly (`exp >= -1074`, the exponent of the smallest double's unit).
    pub fn add_int_scaled(&mut self, i: i128, exp: i32) {
        // 2^-1074 is the unit: add the integer's 32-bit digits at the index and offset of 2^exp.
        if i == 0 {
            return;
        }
        let q = exp + BIAS_SUM;
        debug_assert!(q >= 0);
        let (idx, off) = (q >> 5, q & 31);
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

    /// Adds an integer exactly to a sum of squares or products (whose positions count from the
    /// squares' bias).
    pub fn add_int_to_squares(&mut self, i: i128) {
        // add_int_scaled places 2^exp at position exp + BIAS_SUM; 2^0 of squares is at BIAS_SQUARES.
        self.add_int_scaled(i, BIAS_SQUARES - BIAS_SUM);
    }

    /// Adds a double exactly.
    pub fn add(&mut self, x: f64) {
        self.add_scaled(x, BIAS_SUM)
    }

    /// Adds `x * x` exactly (as a sum of squares, to be read with [`variance`]).
    pub fn add_square(&mut self, x: f64) {
        self.add_product(x, x);
    }

    /// Adds `x * y` exactly (as a sum of products, at the squares' bias).
    pub fn add_product(&mut self, x: f64, y: f64) {
        // Below this a product's rounding error may be subnormal, and inexact.
        const EXACT_ERROR: f64 = f64::from_bits((1023 - 968) << 52);
        let hi = x * y;
        if !(EXACT_ERROR..=f64::MAX).contains(&hi.abs()) && x != 0.0 && y != 0.0 {
            match (decompose(x), decompose(y)) {
                // A product past the doubles or too small for its rounding error (values beyond
                // 2^512 or below 2^-484): the mantissas' product, exact in an i128, at the sum of
                // their exponents.
                (Some((mx, ex)), Some((my, ey))) => {
                    self.add_int_scaled(i128::from(mx) * i128::from(my), ex + ey + BIAS_SQUARES - BIAS_SUM)
                }
                _ => self.nonfinite += hi,
            }
            return;
        }
        // The rounding error of x * y, exact here.
        let lo = x.mul_add(y, -hi);
        self.add_scaled(hi, BIAS_SQUARES);
        // Zero whenever the product is exact (small integers, short decimals times integers).
        if lo != 0.0 {
            self.add_scaled(lo, BIAS_SQUARES);
        }
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

    /// The sum as a window `(acc, exp)`: `acc * 2^exp` is the sum (as [`ExactSum::add_int_scaled`]
    /// places it, a plain sum's or a sum of squares' alike), with `acc`'s trailing zeros dropped;
    /// `None` when it needs more than 126 bits or holds non-finite values.
    pub fn to_window(&self) -> Option<(i128, i32)> {
        if self.nonfinite != 0.0 || self.nonfinite.is_nan() {
            return None;
        }
        let (mag, lo, negative) = self.magnitude();
        let Some(first) = mag.iter().position(|&d| d != 0) else {
            return Some((0, 0));
        };
        let last = mag.iter().rposition(|&d| d != 0).expect("a digit that is not zero");
        let tz = mag[first].trailing_zeros();
        let bits = 32 * (last - first) as u32 + (32 - mag[last].leading_zeros()) - tz;
        if bits > 126 {
            return None;
        }
        // Each digit at its place, less the lowest digit's trailing zeros (a shift under 128: the
        // bits fit 126).
        let acc = (first + 1..=last)
            .fold(u128::from(mag[first] >> tz), |acc, i| acc | u128::from(mag[i]) << (32 * (i - first) as u32 - tz));
        let acc = if negative { -(acc as i128) } else { acc as i128 };
        Some((acc, 32 * (lo + first as i32) - BIAS_SUM + tz as i32))
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

/// An exact sum of doubles that lives in one 128-bit fixed-point number, `acc * 2^exp`, while its
/// values fit that window (data of a few orders of magnitude always do: a double spans 53 bits,
/// leaving 74 for the sum to grow), and becomes an [`ExactSum`] the first time one does not. Both
/// forms hold the exact sum, and both round it correctly, so the result is the same bits whatever
/// form a merge left it in. 32 bytes, no allocation, for the common case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FloatSum {
    Small {
        #[serde(with = "crate::agg::i128_text")]
        acc: i128,
        exp: i32,
    },
    Big(Box<ExactSum>),
}

impl Default for FloatSum {
    fn default() -> Self {
        FloatSum::Small { acc: 0, exp: 0 }
    }
}

impl FloatSum {
    /// Adds `x * y` exactly to a sum of products kept at the squares' positions (see
    /// [`product_parts`]; [`FloatSum::to_exact`] then reads as a sum of squares or products).
    #[inline]
    pub(crate) fn add_product_scaled(&mut self, x: f64, y: f64) {
        match product_parts(x, y) {
            Some((m, e)) if self.add_scaled(m, e) => {}
            _ => self.big().add_product(x, y),
        }
    }

    /// Adds a double exactly.
    #[inline]
    pub fn add(&mut self, x: f64) {
        match window_parts(x) {
            Some((m, e)) => {
                if !self.add_scaled(m, e) {
                    self.big().add(x);
                }
            }
            None => self.big().add(x),
        }
    }

    /// Adds an integer exactly.
    pub fn add_int(&mut self, i: i128) {
        if !self.add_scaled(i, 0) {
            self.big().add_int(i);
        }
    }

    /// Adds `m * 2^e` to the window if it fits there; `false` (and the same value held) if not.
    #[inline]
    fn add_scaled(&mut self, m: i128, e: i32) -> bool {
        match self {
            FloatSum::Small { acc, exp } => window_add(acc, exp, m, e),
            FloatSum::Big(_) => false,
        }
    }

    /// Whether the sum is zero in its window (nothing added, or values that cancelled).
    pub fn is_zero(&self) -> bool {
        matches!(self, FloatSum::Small { acc: 0, .. })
    }

    /// The sum as an [`ExactSum`], which it becomes.
    fn big(&mut self) -> &mut ExactSum {
        if let FloatSum::Small { acc, exp } = *self {
            let mut b = ExactSum::default();
            b.add_int_scaled(acc, exp);
            *self = FloatSum::Big(Box::new(b));
        }
        match self {
            FloatSum::Big(b) => b,
            FloatSum::Small { .. } => unreachable!("made big above"),
        }
    }

    /// Adds another sum: exact, so the grouping does not matter.
    pub fn merge(&mut self, other: &FloatSum) {
        match other {
            FloatSum::Small { acc, exp } => {
                if !self.add_scaled(*acc, *exp) {
                    self.big().add_int_scaled(*acc, *exp);
                }
            }
            FloatSum::Big(b) => self.big().merge(b),
        }
    }

    /// The sum plus `int`, exactly, correctly rounded to a double.
    pub fn value_plus(&self, int: i128) -> f64 {
        let mut s = self.clone();
        s.add_int(int);
        match s {
            FloatSum::Small { acc, exp } if (-900..=800).contains(&exp) => {
                // `as` rounds the integer correctly (from an `i64` in one instruction, where an
                // `i128` takes a library call); the power of two scales it exactly.
                let acc = i64::try_from(acc).map_or(acc as f64, |a| a as f64);
                acc * pow2(exp)
            }
            FloatSum::Small { acc, exp } => {
                let mut b = ExactSum::default();
                b.add_int_scaled(acc, exp);
                b.value()
            }
            FloatSum::Big(b) => b.value(),
        }
    }

    /// An exact sum as a window where it fits one (see [`ExactSum::to_window`]), else boxed.
    pub fn from_exact(sum: ExactSum) -> FloatSum {
        match sum.to_window() {
            Some((acc, exp)) => FloatSum::Small { acc, exp },
            None => FloatSum::Big(Box::new(sum)),
        }
    }

    /// The exact sum as an [`ExactSum`].
    pub fn to_exact(&self) -> ExactSum {
        match self {
            FloatSum::Small { acc, exp } => {
                let mut b = ExactSum::default();
                b.add_int_scaled(*acc, *exp);
                b
            }
            FloatSum::Big(b) => (**b).clone(),
        }
    }
}

/// `x * y` as `m * 2^e` for a sum of products (or squares) kept as a [`FloatSum`] whose
/// positions are the squares' (a value `v` held as `v * 2^1074`, so that the 2^-2148 a product
/// can reach is its 2^-1074): the product of the two mantissas, exact in an `i128`, at the sum of
/// their exponents plus 1074. `None` for a product that is not a normal double with an exact
/// rounding error (beyond 2^1000, below 2^-900, or not finite):
/// [`FloatSum::add_product_scaled`] adds those as [`ExactSum::add_product`] does.
#[inline]
pub(crate) fn product_parts(x: f64, y: f64) -> Option<(i128, i32)> {
    if x == 0.0 || y == 0.0 {
        return Some((0, 0));
    }
    const LOW: f64 = f64::from_bits((1023 - 900) << 52);
    const HIGH: f64 = f64::from_bits((1023 + 1000) << 52);
    if !(LOW..HIGH).contains(&(x * y).abs()) {
        return None;
    }
    let ((mx, ex), (my, ey)) = (window_parts(x)?, window_parts(y)?);
    Some((mx * my, ex + ey + BIAS_SUM))
}

/// The product of two integers as [`product_parts`] places it, `m * 2^e` at the squares'
/// positions: exact for any two `i64`s (their product fits an `i128`).
#[inline]
pub(crate) fn int_product_parts(a: i64, b: i64) -> (i128, i32) {
    (i128::from(a) * i128::from(b), BIAS_SUM)
}

/// A window `acc * 2^exp`'s value as an integer, where it is one: a plain sum's whose exponent
/// is 0 or more, or (`squares`) a sum of products' whose exponent is at least the integers'
/// position (see [`int_product_parts`]); `None` for a fraction or a value past an `i128`.
pub(crate) fn window_int(acc: i128, exp: i32, squares: bool) -> Option<i128> {
    if acc == 0 {
        return Some(0);
    }
    let shift = exp - if squares { BIAS_SUM } else { 0 };
    (shift >= 0 && acc.unsigned_abs().leading_zeros() > shift as u32).then(|| acc << shift)
}

/// A finite double as `m * 2^e` with the trailing zeros of `m` dropped (`(0, 0)` for zero), the
/// form [`window_add`] takes; `None` for a non-finite one.
#[inline]
pub(crate) fn window_parts(x: f64) -> Option<(i128, i32)> {
    let (m, e) = decompose(x)?;
    if m == 0 {
        return Some((0, 0));
    }
    let tz = m.trailing_zeros();
    Some((i128::from(m >> tz), e + tz as i32))
}

/// Adds `m * 2^e` to the fixed-point sum `acc * 2^exp` (the window of [`FloatSum::Small`], kept
/// here or in a group's row of states) if the result fits 128 bits; `false`, and the same value
/// held, if not.
#[inline]
pub(crate) fn window_add(acc: &mut i128, exp: &mut i32, m: i128, e: i32) -> bool {
    if m == 0 {
        return true;
    }
    if *acc == 0 {
        (*acc, *exp) = (m, e);
        return true;
    }
    let (m, acc_now) = if e >= *exp {
        let sh = (e - *exp) as u32;
        if m.unsigned_abs().leading_zeros() <= sh.min(127) {
            return false;
        }
        (m << sh, *acc)
    } else {
        let sh = (*exp - e) as u32;
        if acc.unsigned_abs().leading_zeros() <= sh.min(127) {
            return false;
        }
        *acc <<= sh;
        *exp = e;
        (m, *acc)
    };
    match acc_now.checked_add(m) {
        Some(v) => {
            *acc = v;
            true
        }
        None => false,
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
        x *= pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow2(-1000);
        e += 1000;
    }
    x * pow2(e)
}

/// `2^e` for a normal exponent (`-1022..=1023`), made from its bits (`powi` loops).
#[inline]
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// `a * b` exactly: a sum at the squares' bias (the plain sums' biases add).
fn product(a: &ExactSum, b: &ExactSum) -> ExactSum {
    let (x, x_lo, x_neg) = a.magnitude();
    let (y, y_lo, y_neg) = b.magnitude();
    let mut p = vec![0u64; x.len() + y.len() + 1];
    for (i, &xd) in x.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &yd) in y.iter().enumerate() {
            let t = u128::from(p[i + j]) + u128::from(xd) * u128::from(yd) + carry;
            p[i + j] = (t & 0xFFFF_FFFF) as u64;
            carry = t >> 32;
        }
        let mut k = i + y.len();
        while carry != 0 {
            let t = u128::from(p[k]) + carry;
            p[k] = (t & 0xFFFF_FFFF) as u64;
            carry = t >> 32;
            k += 1;
        }
    }
    let negative = x_neg != y_neg;
    let digits = p.into_iter().map(|d| if negative { -(d as i64) } else { d as i64 }).collect();
    let mut out = ExactSum { lo: x_lo + y_lo, digits, adds: 0, nonfinite: 0.0 };
    out.normalize();
    out
}

/// `s * n` exactly.
fn times(s: &ExactSum, n: u64) -> ExactSum {
    let (m, lo, negative) = s.magnitude();
    let mut out = vec![0i64; m.len() + 3];
    let mut carry = 0u128;
    for (i, &d) in m.iter().enumerate() {
        let t = u128::from(d) * u128::from(n) + carry;
        out[i] = (t & 0xFFFF_FFFF) as i64;
        carry = t >> 32;
    }
    let mut k = m.len();
    while carry != 0 {
        out[k] = (carry & 0xFFFF_FFFF) as i64;
        carry >>= 32;
        k += 1;
    }
    if negative {
        out.iter_mut().for_each(|d| *d = -*d);
    }
    let mut r = ExactSum { lo, digits: out, adds: 0, nonfinite: 0.0 };
    r.normalize();
    r
}

/// `n * s2 - a * b` (`s2` a sum of squares or products, `a` and `b` plain sums), computed
/// exactly and rounded once: `(v, e)`, the value being `v * 2^e`, where `e` is 0 unless the value
/// is past the doubles or below their normal range (squares of values beyond 2^512 or below
/// 2^-511), and then the multiple of 1024 that brings it into the normal doubles.
fn cross_scaled(n: u64, s2: &ExactSum, a: &ExactSum, b: &ExactSum) -> (f64, i32) {
    let mut diff = times(s2, n);
    let mut ab = product(a, b);
    ab.digits.iter_mut().for_each(|d| *d = -*d);
    diff.merge(&ab);
    let (mag, lo, negative) = diff.magnitude();
    let nonzero = mag.iter().any(|&d| d != 0);
    let mut e = 0;
    let mut v = to_f64(&mag, lo, BIAS_SQUARES);
    // Sums of products of doubles with counts under 2^64 lie between 2^-2148 and 2^2200: a few
    // steps at most.
    for _ in 0..8 {
        match v {
            v if v.is_infinite() => e += 1024,
            v if nonzero && v.abs() < f64::MIN_POSITIVE => e -= 1024,
            _ => break,
        }
        v = to_f64(&mag, lo, BIAS_SQUARES + e);
    }
    (if negative { -v } else { v }, e)
}

/// The sample variance (ddof = 1) of `n` values with exact sums `s1` (plain) and `s2` (squares):
/// `(n * s2 - s1^2) / (n (n - 1))`, the numerator computed exactly.
pub fn variance(n: u64, s1: &ExactSum, s2: &ExactSum) -> Option<f64> {
    variance_scaled(n, s1, s2).map(|(v, e)| ldexp(v, e))
}

/// The sample standard deviation: [`variance`]'s square root, taken before the variance is
/// scaled back into the doubles, so that the deviation of values beyond 2^512 or below 2^-511
/// is found though their variance is past the doubles.
pub fn std_dev(n: u64, s1: &ExactSum, s2: &ExactSum) -> Option<f64> {
    variance_scaled(n, s1, s2).map(|(v, e)| if e == 0 { v.sqrt() } else { ldexp(v.sqrt(), e / 2) })
}

/// [`variance`] as `(v, e)`, the variance being `v * 2^e` (see [`cross_scaled`]; `e` is even).
fn variance_scaled(n: u64, s1: &ExactSum, s2: &ExactSum) -> Option<(f64, i32)> {
    if n < 2 {
        return None;
    }
    if !s1.is_finite_sum() || !s2.is_finite_sum() {
        return Some((f64::NAN, 0));
    }
    // n * s2 >= s1^2, the squares being exact; clamped all the same, as any variance algorithm
    // does.
    let (numerator, e) = cross_scaled(n, s2, s1, s1);
    Some((numerator.max(0.0) / (n as f64 * (n - 1) as f64), e))
}

/// Exact co-moments of pairs (x, y): what Pearson's correlation needs, mergeable in any order.
/// Pairs of small integers are summed apart, in integers ([`IntCoMoments`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CoMoments {
    pub n: u64,
    sx: ExactSum,
    sy: ExactSum,
    sxx: ExactSum,
    syy: ExactSum,
    sxy: ExactSum,
    #[serde(default)]
    ints: IntCoMoments,
}

/// The co-moments of pairs of integers under 2^31 in magnitude, in 128-bit integers: a product is
/// under 2^62, so no number of rows a machine can read overflows them. Five integer additions a
/// pair, where the exact sums of doubles take five windowed additions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct IntCoMoments {
    #[serde(with = "crate::agg::i128_text")]
    sx: i128,
    #[serde(with = "crate::agg::i128_text")]
    sy: i128,
    #[serde(with = "crate::agg::i128_text")]
    sxx: i128,
    #[serde(with = "crate::agg::i128_text")]
    syy: i128,
    #[serde(with = "crate::agg::i128_text")]
    sxy: i128,
}

impl std::ops::AddAssign for IntCoMoments {
    fn add_assign(&mut self, o: IntCoMoments) {
        self.sx += o.sx;
        self.sy += o.sy;
        self.sxx += o.sxx;
        self.syy += o.syy;
        self.sxy += o.sxy;
    }
}

/// Integers below this magnitude take [`IntCoMoments`].
pub(crate) const SMALL_INT: u64 = 1 << 31;

/// `s + i` exactly, where `i` is an integer at the position of 2^0 of `s`'s sums (`squares`: the
/// squares' bias); `s` itself, not a copy, when `i` is zero.
pub(crate) fn with_int(s: &ExactSum, i: i128, squares: bool) -> std::borrow::Cow<'_, ExactSum> {
    if i == 0 {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut total = s.clone();
    if squares {
        total.add_int_to_squares(i);
    } else {
        total.add_int(i);
    }
    std::borrow::Cow::Owned(total)
}

impl CoMoments {
    /// Co-moments of `n` pairs from their exact sums: of x and y (a plain sum's positions), and
    /// of x^2, y^2 and xy (the squares' positions).
    pub(crate) fn from_sums(n: u64, [sx, sy, sxx, syy, sxy]: [ExactSum; 5]) -> CoMoments {
        CoMoments { n, sx, sy, sxx, syy, sxy, ints: IntCoMoments::default() }
    }

    /// Co-moments of `n` pairs of integers from the integer sums of x, y, x^2, y^2 and xy.
    pub(crate) fn from_ints(n: u64, [sx, sy, sxx, syy, sxy]: [i128; 5]) -> CoMoments {
        CoMoments { n, ints: IntCoMoments { sx, sy, sxx, syy, sxy }, ..CoMoments::default() }
    }

    /// The five exact sums [`CoMoments::from_sums`] takes (the integer pairs' included).
    pub(crate) fn sums(&self) -> [ExactSum; 5] {
        let m = &self.ints;
        [
            with_int(&self.sx, m.sx, false).into_owned(),
            with_int(&self.sy, m.sy, false).into_owned(),
            with_int(&self.sxx, m.sxx, true).into_owned(),
            with_int(&self.syy, m.syy, true).into_owned(),
            with_int(&self.sxy, m.sxy, true).into_owned(),
        ]
    }

    pub fn push(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sx.add(x);
        self.sy.add(y);
        self.sxx.add_product(x, x);
        self.syy.add_product(y, y);
        self.sxy.add_product(x, y);
    }

    /// Adds a pair of numbers: small integers in integers, any other pair as doubles (an integer
    /// past 2^53 as its nearest double).
    #[inline]
    pub fn push_num(&mut self, x: Num, y: Num) {
        match (x, y) {
            (Num::Int(a), Num::Int(b)) if a.unsigned_abs() < SMALL_INT && b.unsigned_abs() < SMALL_INT => {
                self.n += 1;
                let (a, b) = (i128::from(a), i128::from(b));
                let m = &mut self.ints;
                m.sx += a;
                m.sy += b;
                m.sxx += a * a;
                m.syy += b * b;
                m.sxy += a * b;
            }
            _ => self.push(x.as_f64(), y.as_f64()),
        }
    }

    pub fn merge(&mut self, o: &CoMoments) {
        self.n += o.n;
        self.ints += o.ints;
        self.sx.merge(&o.sx);
        self.sy.merge(&o.sy);
        self.sxx.merge(&o.sxx);
        self.syy.merge(&o.syy);
        self.sxy.merge(&o.sxy);
    }

    /// Pearson's r: `(n Sxy - Sx Sy) / sqrt((n Sxx - Sx^2)(n Syy - Sy^2))`, each of the three
    /// computed exactly; `None` without a pair of values, NaN where it is undefined (one pair, or a
    /// constant side), as polars, DuckDB and pandas give.
    pub fn correlation(&self) -> Option<f64> {
        match self.n {
            0 => return None,
            1 => return Some(f64::NAN),
            _ => {}
        }
        let sums = [&self.sx, &self.sy, &self.sxx, &self.syy, &self.sxy];
        if sums.iter().any(|s| !s.is_finite_sum()) {
            return Some(f64::NAN);
        }
        if let Some(r) = self.int_correlation() {
            return Some(r);
        }
        let m = &self.ints;
        let (sx, sy) = (with_int(&self.sx, m.sx, false), with_int(&self.sy, m.sy, false));
        let (sxx, syy, sxy) =
            (with_int(&self.sxx, m.sxx, true), with_int(&self.syy, m.syy, true), with_int(&self.sxy, m.sxy, true));
        let (cov, ec) = cross_scaled(self.n, &sxy, &sx, &sy);
        let (vx, ex) = cross_scaled(self.n, &sxx, &sx, &sx);
        let (vy, ey) = cross_scaled(self.n, &syy, &sy, &sy);
        // Terms outside the normal doubles come with powers of two (even, so that the square
        // roots take half of each); 0 for all others.
        Some(pearson(cov, vx.max(0.0), vy.max(0.0), ec - ex / 2 - ey / 2))
    }

    /// [`CoMoments::correlation`] of pairs that were all summed as integers, in 128-bit integers:
    /// each of the three terms is an integer, rounded once to a double as [`cross_scaled`] rounds it,
    /// so the answer is the same double, without exact sums built for every group. `None` when a
    /// pair was summed as doubles or a term outgrows an `i128`.
    fn int_correlation(&self) -> Option<f64> {
        let sums = [&self.sx, &self.sy, &self.sxx, &self.syy, &self.sxy];
        if !sums.iter().all(|s| s.digits.iter().all(|&d| d == 0)) {
            return None;
        }
        let (m, n) = (&self.ints, i128::from(self.n));
        let cross = |s2: i128, a: i128, b: i128| Some(n.checked_mul(s2)?.checked_sub(a.checked_mul(b)?)? as f64);
        let cov = cross(m.sxy, m.sx, m.sy)?;
        let vx = cross(m.sxx, m.sx, m.sx)?.max(0.0);
        let vy = cross(m.syy, m.sy, m.sy)?.max(0.0);
        Some(pearson(cov, vx, vy, 0))
    }
}

/// Pearson's r from the co-moments' three terms (`n` times each (co)variance's sum of squares
/// or products less the sums' product), the quotient times `2^scale` (the terms' powers of two,
/// see [`cross_scaled`]; 0 leaves it as it is): NaN where a side is constant.
fn pearson(cov: f64, vx: f64, vy: f64, scale: i32) -> f64 {
    if vx == 0.0 || vy == 0.0 {
        return f64::NAN;
    }
    ldexp(cov / (vx.sqrt() * vy.sqrt()), scale).clamp(-1.0, 1.0)
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

    /// Squares and products past the doubles (values beyond 2^512) are kept exactly: a variance
    /// past the doubles is infinite (as polars, DuckDB and pandas give), one within them is
    /// found though its numerator is not, and a correlation is still computed.
    #[test]
    fn squares_past_the_doubles() {
        let (s1, s2) = (
            |xs: &[f64]| sum_of(xs),
            |xs: &[f64]| {
                let mut s = ExactSum::default();
                xs.iter().for_each(|&x| s.add_square(x));
                s
            },
        );
        let xs = [1e200, -1e200, 0.0];
        assert_eq!(variance(3, &s1(&xs), &s2(&xs)), Some(f64::INFINITY));
        // Its square root is not: the deviation is found before the variance is scaled back.
        assert_eq!(std_dev(3, &s1(&xs), &s2(&xs)), Some(1e200));
        let tiny = [1e-200, 2e-200, 3e-200];
        assert_eq!(variance(3, &s1(&tiny), &s2(&tiny)), Some(0.0));
        assert_eq!(std_dev(3, &s1(&tiny), &s2(&tiny)), Some(1e-200));
        // n^2 times the variance is past the doubles, the variance is not.
        let xs: Vec<f64> = (0..1000).map(|i| if i % 2 == 0 { 1.2e154 } else { -1.2e154 }).collect();
        let want = 1.2e154 * 1.2e154 / 999.0 * 1000.0;
        let got = variance(1000, &s1(&xs), &s2(&xs)).unwrap();
        assert!(((got - want) / want).abs() < 1e-15, "{got} vs {want}");
        // Infinite inputs still make NaN.
        assert!(variance(2, &s1(&[f64::INFINITY, 1.0]), &s2(&[f64::INFINITY, 1.0])).unwrap().is_nan());
        let corr = |pairs: &[(f64, f64)]| {
            let mut c = CoMoments::default();
            pairs.iter().for_each(|&(x, y)| c.push(x, y));
            c.correlation().unwrap()
        };
        // pandas' answer (its values centred first).
        let r = corr(&[(1e308, 1.0), (-1e308, 2.0), (1e-320, 3.0)]);
        assert!((r + 0.5).abs() < 1e-12, "{r}");
        // Correlation does not depend on the scale: huge values as their scaled-down selves.
        let small = [(1.0, 1.0), (2.0, 2.5), (3.0, 3.5), (4.5, 3.0)];
        let big: Vec<(f64, f64)> = small.iter().map(|&(x, y)| (x * 1e300, y * 1e-300)).collect();
        let (r, r_big) = (corr(&small), corr(&big));
        assert!((r - r_big).abs() < 1e-14, "{r} vs {r_big}");
        let big: Vec<(f64, f64)> = small.iter().map(|&(x, y)| (x * 1e250, y * 1e250)).collect();
        assert!((r - corr(&big)).abs() < 1e-14);
    }

    #[test]
    fn correlation_is_exact_and_order_free() {
        let xs: Vec<(f64, f64)> =
            (0..500).map(|i| (1e9 + (i % 17) as f64, 3.0 * (i % 17) as f64 - (i % 5) as f64)).collect();
        let mut whole = CoMoments::default();
        xs.iter().for_each(|&(x, y)| whole.push(x, y));
        let (mut a, mut b) = (CoMoments::default(), CoMoments::default());
        xs[..123].iter().for_each(|&(x, y)| a.push(x, y));
        xs[123..].iter().for_each(|&(x, y)| b.push(x, y));
        b.merge(&a);
        assert_eq!(b.correlation().map(f64::to_bits), whole.correlation().map(f64::to_bits));
        // Two-pass reference on the centred values (no cancellation there).
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().map(|p| p.0).sum::<f64>() / n, xs.iter().map(|p| p.1).sum::<f64>() / n);
        let sxy: f64 = xs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = xs.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        let syy: f64 = xs.iter().map(|p| (p.1 - my) * (p.1 - my)).sum();
        let want = sxy / (sxx.sqrt() * syy.sqrt());
        assert!((whole.correlation().unwrap() - want).abs() < 1e-12, "{:?} vs {want}", whole.correlation());
        let mut perfect = CoMoments::default();
        (0..10).for_each(|i| perfect.push(i as f64, 2.0 * i as f64 + 1.0));
        assert_eq!(perfect.correlation(), Some(1.0));
        let mut constant = CoMoments::default();
        (0..10).for_each(|i| constant.push(i as f64, 5.0));
        assert!(constant.correlation().unwrap().is_nan());
        assert_eq!(CoMoments::default().correlation(), None);
    }

    /// Pairs of small integers summed in integers give the bits the exact sums of doubles give,
    /// mixed with other pairs, in any split, and through a partial file.
    #[test]
    fn integer_pairs_correlate_as_their_doubles_do() {
        let big = 1i64 << 40;
        let pairs: Vec<(Num, Num)> = (0..400i64)
            .map(|i| match i % 7 {
                0 => (Num::Int(big + i), Num::Int(-i)),
                1 => (Num::Float(0.1 * i as f64), Num::Int(i % 5)),
                2 => (Num::Int(-(1 << 31) + 1 + i), Num::Int((1 << 31) - 1 - i)),
                _ => (Num::Int(i % 11 - 5), Num::Int(3 * i % 13)),
            })
            .collect();
        let mut doubles = CoMoments::default();
        pairs.iter().for_each(|&(x, y)| doubles.push(x.as_f64(), y.as_f64()));
        let mut whole = CoMoments::default();
        pairs.iter().for_each(|&(x, y)| whole.push_num(x, y));
        assert_ne!(whole.ints, IntCoMoments::default());
        assert_eq!(whole.correlation().map(f64::to_bits), doubles.correlation().map(f64::to_bits));
        for split in [0, 1, 137, 399] {
            let (mut a, mut b) = (CoMoments::default(), CoMoments::default());
            pairs[..split].iter().for_each(|&(x, y)| a.push_num(x, y));
            pairs[split..].iter().for_each(|&(x, y)| b.push_num(x, y));
            b.merge(&a);
            assert_eq!(b.ints, whole.ints, "split at {split}");
            assert_eq!(b.correlation().map(f64::to_bits), whole.correlation().map(f64::to_bits), "split at {split}");
        }
        let text = serde_json::to_string(&whole).unwrap();
        assert_eq!(serde_json::from_str::<CoMoments>(&text).unwrap(), whole);
        let mut small = CoMoments::default();
        (0..10).for_each(|i| small.push_num(Num::Int(i), Num::Int(2 * i + 1)));
        assert_eq!(small.correlation(), Some(1.0));
    }

    /// The exact value of a sum: its magnitude's digits with the zeros at both ends dropped, the
    /// lowest one's index, and its sign.
    fn exactly(s: &ExactSum) -> (Vec<u32>, i32, bool) {
        let (mag, lo, negative) = s.magnitude();
        match mag.iter().position(|&d| d != 0) {
            Some(first) => {
                let last = mag.iter().rposition(|&d| d != 0).unwrap();
                (mag[first..=last].to_vec(), lo + first as i32, negative)
            }
            None => (Vec::new(), 0, false),
        }
    }

    proptest! {
        /// An exact sum that fits a window comes back as one holding the same value (a plain sum,
        /// a sum of squares alike), and one that does not (too many bits, a non-finite value) stays
        /// boxed.
        #[test]
        fn exact_sums_that_fit_become_windows(xs in prop::collection::vec(prop_oneof![
            -1e6f64..1e6, Just(0.1), Just(-3.0), Just(1e300), Just(1e-300), Just(2f64.powi(-1074)),
            Just(f64::INFINITY)], 0..12), squares in any::<bool>()) {
            let mut s = ExactSum::default();
            for &x in &xs {
                if squares { s.add_square(x) } else { s.add(x) }
            }
            match FloatSum::from_exact(s.clone()) {
                FloatSum::Small { acc, exp } => {
                    prop_assert!(xs.iter().all(|x| x.is_finite()));
                    let mut back = ExactSum::default();
                    back.add_int_scaled(acc, exp);
                    prop_assert_eq!(exactly(&back), exactly(&s));
                    prop_assert!(acc == 0 || acc % 2 != 0, "trailing zeros dropped: {}", acc);
                }
                FloatSum::Big(b) => {
                    let (digits, _, _) = exactly(&b);
                    let bits = digits.last().map_or(0, |&d| 32 * digits.len() as u32 - d.leading_zeros())
                        - digits.first().map_or(0, |d| d.trailing_zeros());
                    prop_assert!(bits > 126 || xs.iter().any(|x| !x.is_finite()), "{:?} fits a window", digits);
                }
            }
        }

        /// Pairs of integers under 2^31 correlated in 128-bit integers give the bits the exact
        /// sums of their doubles give (extremes included, so that the terms need most of the
        /// 128 bits), and the same from co-moments made of their integer sums.
        #[test]
        fn integer_correlation_is_the_exact_sums(pairs in prop::collection::vec((prop_oneof![
            -5i64..5, Just((1 << 31) - 1), Just(-(1 << 31) + 1), -(1i64 << 31) + 1..1 << 31]
            , prop_oneof![0i64..3, Just((1 << 31) - 1), -(1i64 << 31) + 1..1 << 31]), 0..80)) {
            let (mut ints, mut doubles) = (CoMoments::default(), CoMoments::default());
            for &(x, y) in &pairs {
                ints.push_num(Num::Int(x), Num::Int(y));
                doubles.push(x as f64, y as f64);
            }
            prop_assert!(pairs.len() < 2 || ints.int_correlation().is_some(), "80 pairs under 2^31 fit 128 bits");
            prop_assert!(doubles.int_correlation().is_none() || pairs.iter().all(|&(x, y)| x == 0 && y == 0));
            let bits = |c: Option<f64>| c.map(f64::to_bits);
            // NaN (one pair, a constant side) is the same NaN either way.
            prop_assert_eq!(bits(ints.correlation()), bits(doubles.correlation()));
            let m = ints.ints;
            let made = CoMoments::from_ints(ints.n, [m.sx, m.sy, m.sxx, m.syy, m.sxy]);
            prop_assert_eq!(bits(made.correlation()), bits(ints.correlation()));
        }

        /// The windowed sum gives the big sum's bits, in any split and merge order, whether it
        /// stays small or grows.
        #[test]
        fn float_sums_are_exact_sums(xs in prop::collection::vec(prop_oneof![
            -1e6f64..1e6, -1e-300f64..1e-300, -1e300f64..1e300, Just(0.1), Just(-0.0), Just(12.345678),
            Just(f64::INFINITY)], 0..60), ints in prop::collection::vec(-1i128 << 100..1i128 << 100, 0..3),
            split in 0usize..60) {
            let split = split.min(xs.len());
            let mut big = ExactSum::default();
            xs.iter().for_each(|&x| big.add(x));
            ints.iter().for_each(|&i| big.add_int(i));
            let (mut a, mut b) = (FloatSum::default(), FloatSum::default());
            xs[..split].iter().for_each(|&x| a.add(x));
            xs[split..].iter().for_each(|&x| b.add(x));
            let mut ab = a.clone();
            ab.merge(&b);
            b.merge(&a);
            let int: i128 = ints.iter().sum();
            prop_assert_eq!(ab.value_plus(int).to_bits(), big.value().to_bits());
            prop_assert_eq!(b.value_plus(int).to_bits(), big.value().to_bits());
        }

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
