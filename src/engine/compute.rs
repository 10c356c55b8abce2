//! The tutorial's compute-bound examples, as scaling workloads for `pframe bench`: Monte Carlo pi
//! (`pool_basics.py`, `numba_pi.py`) and a dense matrix product (`lin_alg.py`).
//!
//! Both split the work into fixed blocks whose results do not depend on which thread runs them, so
//! the serial and parallel engines give bit-identical answers whatever the thread count:
//! - pi: the samples are cut into blocks of [`PI_BLOCK`]; block `b` draws from its own generator
//!   seeded by `(seed, b)`, and the hit counts are integers, summed exactly;
//! - matmul: `C = A B` is computed in row panels; every element sums its products in the same
//!   `k` order whichever thread owns its panel.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::Serialize;

/// Samples per pi block: small enough to balance any thread count, large enough that a block's
/// set-up cost is negligible.
pub const PI_BLOCK: u64 = 1 << 16;

/// The result of a Monte Carlo pi run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PiEstimate {
    pub samples: u64,
    /// Points that fell inside the quarter circle.
    pub hits: u64,
    /// 4 hits / samples.
    pub pi: f64,
}

fn pi_block(seed: u64, block: u64, samples: u64) -> u64 {
    // One generator per block, seeded from (seed, block): the streams do not depend on the
    // schedule. seed_from_u64 scrambles its argument, so neighbouring blocks get unrelated streams.
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ block.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    const SCALE: f64 = 1.0 / (1u64 << 32) as f64;
    let mut hits = 0;
    for _ in 0..samples {
        let r: u64 = rng.random();
        let x = (r >> 32) as f64 * SCALE;
        let y = (r & 0xFFFF_FFFF) as f64 * SCALE;
        hits += u64::from(x * x + y * y <= 1.0);
    }
    hits
}

fn block_len(samples: u64, block: u64) -> u64 {
    (samples - block * PI_BLOCK).min(PI_BLOCK)
}

fn estimate(samples: u64, hits: u64) -> PiEstimate {
    let pi = if samples == 0 { 0.0 } else { 4.0 * hits as f64 / samples as f64 };
    PiEstimate { samples, hits, pi }
}

/// Monte Carlo pi on the calling thread.
pub fn pi_serial(samples: u64, seed: u64) -> PiEstimate {
    let blocks = samples.div_ceil(PI_BLOCK);
    let hits = (0..blocks).map(|b| pi_block(seed, b, block_len(samples, b))).sum();
    estimate(samples, hits)
}

/// Monte Carlo pi on `pool`: the same blocks, the same answer as [`pi_serial`].
pub fn pi_parallel(pool: &rayon::ThreadPool, samples: u64, seed: u64) -> PiEstimate {
    let blocks = samples.div_ceil(PI_BLOCK);
    let hits = pool.install(|| (0..blocks).into_par_iter().map(|b| pi_block(seed, b, block_len(samples, b))).sum());
    estimate(samples, hits)
}

/// A square row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub n: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    /// A deterministic matrix with entries in [-1, 1), different for each `seed`.
    pub fn random(n: usize, seed: u64) -> Matrix {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let data = (0..n * n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        Matrix { n, data }
    }

    /// Sum of all entries.
    pub fn sum(&self) -> f64 {
        self.data.iter().sum()
    }

    /// Sum of the diagonal.
    pub fn trace(&self) -> f64 {
        (0..self.n).map(|i| self.data[i * self.n + i]).sum()
    }
}

/// The blocking: a task owns `MM_ROWS` rows of C; within it, a block of B of `MM_K` rows and
/// `MM_J` columns (128 KiB, cache-resident) is applied to each of those rows before moving on. Every
/// element of C still adds its products in increasing `k`, so the blocking changes speed, not bits.
const MM_ROWS: usize = 16;
const MM_K: usize = 64;
const MM_J: usize = 256;

/// One panel of rows of `C = A B`, the inner loop over contiguous columns so that it vectorizes.
fn matmul_rows(a: &Matrix, b: &Matrix, first_row: usize, c_rows: &mut [f64]) {
    let n = a.n;
    for j0 in (0..n).step_by(MM_J) {
        let j1 = (j0 + MM_J).min(n);
        for k0 in (0..n).step_by(MM_K) {
            let k1 = (k0 + MM_K).min(n);
            for (r, c_row) in c_rows.chunks_mut(n).enumerate() {
                let a_row = &a.data[(first_row + r) * n..][..n];
                let c_block = &mut c_row[j0..j1];
                for (k, &aik) in a_row[k0..k1].iter().enumerate() {
                    let b_block = &b.data[(k0 + k) * n..][j0..j1];
                    for (c, &bkj) in c_block.iter_mut().zip(b_block) {
                        *c += aik * bkj;
                    }
                }
            }
        }
    }
}

/// `A B` on the calling thread.
pub fn matmul_serial(a: &Matrix, b: &Matrix) -> Matrix {
    assert_eq!(a.n, b.n, "matrices of different sizes");
    let n = a.n;
    let mut data = vec![0.0; n * n];
    for (p, panel) in data.chunks_mut(MM_ROWS * n.max(1)).enumerate() {
        matmul_rows(a, b, p * MM_ROWS, panel);
    }
    Matrix { n, data }
}

/// `A B` on `pool`, one task per panel of rows: bit-identical to [`matmul_serial`].
pub fn matmul_parallel(pool: &rayon::ThreadPool, a: &Matrix, b: &Matrix) -> Matrix {
    assert_eq!(a.n, b.n, "matrices of different sizes");
    let n = a.n;
    let mut data = vec![0.0; n * n];
    pool.install(|| {
        data.par_chunks_mut(MM_ROWS * n.max(1)).enumerate().for_each(|(p, panel)| matmul_rows(a, b, p * MM_ROWS, panel))
    });
    Matrix { n, data }
}

/// The textbook triple loop: the check of the blocked product.
pub fn matmul_naive(a: &Matrix, b: &Matrix) -> Matrix {
    let n = a.n;
    let mut data = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            data[i * n + j] = (0..n).map(|k| a.data[i * n + k] * b.data[k * n + j]).sum();
        }
    }
    Matrix { n, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
    }

    #[test]
    fn pi_does_not_depend_on_threads_and_is_close() {
        let samples = 3 * PI_BLOCK + 12_345;
        let serial = pi_serial(samples, 7);
        for t in [1, 2, 3] {
            assert_eq!(pi_parallel(&pool(t), samples, 7), serial);
        }
        assert!((serial.pi - std::f64::consts::PI).abs() < 0.02, "{serial:?}");
        assert_ne!(pi_serial(samples, 8).hits, serial.hits, "different seeds, different streams");
        assert_eq!(pi_serial(0, 1), PiEstimate { samples: 0, hits: 0, pi: 0.0 });
        assert_eq!(pi_serial(1, 1).samples, 1);
    }

    #[test]
    fn blocked_product_matches_the_naive_one() {
        for n in [0, 1, 5, 16, 17, 70, 130] {
            let (a, b) = (Matrix::random(n, 1), Matrix::random(n, 2));
            let naive = matmul_naive(&a, &b);
            let serial = matmul_serial(&a, &b);
            for (x, y) in serial.data.iter().zip(&naive.data) {
                assert!((x - y).abs() <= 1e-12 * (n as f64).max(1.0), "n={n}: {x} vs {y}");
            }
            for t in [1, 2, 3] {
                assert_eq!(matmul_parallel(&pool(t), &a, &b), serial, "n={n} threads={t}");
            }
        }
        // A known product: [[1,2],[3,4]]^2 = [[7,10],[15,22]].
        let m = Matrix { n: 2, data: vec![1.0, 2.0, 3.0, 4.0] };
        assert_eq!(matmul_serial(&m, &m).data, [7.0, 10.0, 15.0, 22.0]);
        assert_eq!(matmul_serial(&m, &m).trace(), 29.0);
    }
}
