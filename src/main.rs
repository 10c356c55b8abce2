//! The `pframe` binary: parses the command line, runs one subcommand, and is the one place that
//! prints errors and chooses the exit status.

mod cli;
mod cmd;

use std::io;
use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits its first arena eagerly, which costs a tiny run several MiB of resident memory
/// and the time to fault them in; committed on demand, a `pframe count` of a small file stays
/// under 8 MiB. Set from the executable's constructors, before the first allocation reads it.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = {
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    /// `mi_option_arena_eager_commit` in mimalloc 2's `mi_option_t`.
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    extern "C" fn set() {
        // SAFETY: sets a plain option of the allocator this executable links; no allocation.
        unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) }
    }
    set
};

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0, as clap decides.
    let cli = match cli::Cli::try_parse_from(cli::hoist_bench_options(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    configure_polars_threads(&cli);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pframe: {err:#}");
            if err.downcast_ref::<cmd::UsageError>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// Polars sizes its thread pool from `POLARS_MAX_THREADS` once, the first time it is used, so it
/// must be set before anything touches polars.
fn configure_polars_threads(cli: &cli::Cli) {
    let par = match &cli.command {
        cli::Command::Count(args) => &args.par,
        cli::Command::Groupby(args) => &args.par,
        cli::Command::Sql(args) => &args.par,
        cli::Command::Kernel(cli::KernelCommand::Pi { run, .. } | cli::KernelCommand::Matmul { run, .. }) => &run.par,
        cli::Command::Gen(_)
        | cli::Command::Cores(_)
        | cli::Command::Bench(_)
        | cli::Command::Completions { .. }
        | cli::Command::Man { .. }
        | cli::Command::Merge(_)
        | cli::Command::Submit(_) => {
            return;
        }
    };
    let threads = cmd::threads(par);
    // SAFETY: called at the start of main, before this process starts any other thread, so no
    // other thread can be reading the environment concurrently.
    unsafe { std::env::set_var("POLARS_MAX_THREADS", threads.to_string()) };
}

/// `pframe ... | head`: the reader went away; that is not an error worth a message.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}
