//! `pframe kernel pi|matmul` (hidden): one run of a compute kernel, for `pframe bench pi|matmul`
//! to time as a child process. Prints one CSV row with a header.

use std::io::Write;

use anyhow::Result;

use crate::cli::{KernelCommand, KernelEngineArg, KernelRunArgs};
use pframe::engine::compute::{self, Matrix};
use pframe::engine::pipeline::build_pool;

pub fn run(cmd: KernelCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        KernelCommand::Pi { samples, run: KernelRunArgs { seed, engine, par } } => {
            let est = match engine {
                KernelEngineArg::Serial => compute::pi_serial(samples, seed),
                KernelEngineArg::Parallel => compute::pi_parallel(&build_pool(super::threads(&par)), samples, seed),
            };
            writeln!(out, "samples,hits,pi\n{},{},{:?}", est.samples, est.hits, est.pi)?;
        }
        KernelCommand::Matmul { size, run: KernelRunArgs { seed, engine, par } } => {
            let n = size as usize;
            let (a, b) = (Matrix::random(n, seed), Matrix::random(n, seed.wrapping_add(1)));
            let c = match engine {
                KernelEngineArg::Serial => compute::matmul_serial(&a, &b),
                KernelEngineArg::Parallel => compute::matmul_parallel(&build_pool(super::threads(&par)), &a, &b),
            };
            writeln!(out, "size,sum,trace\n{n},{:?},{:?}", c.sum(), c.trace())?;
        }
    }
    out.flush()?;
    Ok(())
}
