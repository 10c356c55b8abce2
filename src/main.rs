//! The `pframe` binary: parses the command line, runs one subcommand, and is the one place that
//! prints errors and chooses the exit status.

mod cli;
mod cmd;

use std::io;
use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: Allocator = Allocator;

/// mimalloc, but a block grown into new memory has only its bytes copied (a block grown within
/// its rounded-up size stays where it is, as with mimalloc's own `realloc`). mimalloc's `realloc`
/// copies the old block's whole usable size, which for a big block is rounded up past what was
/// asked (and so never written): reading it maps those pages to the kernel's zero page, and once
/// the old block's addresses are handed out again, each first write there is a copy-on-write
/// fault that flushes the TLB of every other core of the process, on a virtual machine an exit to
/// the host each (see `pframe::engine::grow` for the other source of them). With both mended,
/// `sum(v1),sum(v2),sum(v3) by id6` over 4.3M groups (K = 2) went from 1,202-74,343 such faults a
/// run (a profile: 14% of the samples in them) to 19, and from 2.42 to 2.15 s.
struct Allocator;

// SAFETY: every method hands mimalloc's own blocks back to mimalloc with their layouts; a grown
// block is a fresh allocation of the new layout holding the old block's `layout.size()` bytes.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if new_size <= layout.size() {
            return unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        }
        unsafe extern "C" {
            fn mi_usable_size(p: *const std::ffi::c_void) -> usize;
        }
        // SAFETY: `ptr` is a live block of this allocator. A block whose rounded-up size holds
        // the new one grows where it is, as mimalloc's `realloc` grows it.
        if unsafe { mi_usable_size(ptr.cast()) } >= new_size {
            return ptr;
        }
        // SAFETY: the caller guarantees that `new_size`, rounded up to the alignment, fits `isize`.
        let grown = unsafe { std::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(grown) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct and at least `layout.size()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

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
    /// `mi_option_arena_eager_commit` in mimalloc's `mi_option_t` (2 and 3 alike).
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

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    /// A grown block holds the old block's bytes at the new size and the layout's alignment; a
    /// shrunk one its first bytes; and both are freed as blocks of their new layouts.
    #[test]
    fn grown_and_shrunk_blocks_keep_their_bytes() {
        let a = super::Allocator;
        for (align, size, grown) in [(1, 3, 5), (8, 100, 4096), (64, 5000, 3 << 20), (4096, 1 << 20, 9 << 20)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: blocks of nonzero size, used within their layouts and freed once.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                let bytes = |n: usize| (0..n).map(|i| (i * 7 % 251) as u8);
                bytes(size).enumerate().for_each(|(i, b)| p.add(i).write(b));
                let q = a.realloc(p, layout, grown);
                assert!(!q.is_null() && q as usize % align == 0, "{align}");
                assert!(bytes(size).enumerate().all(|(i, b)| q.add(i).read() == b), "{size} -> {grown}");
                q.add(grown - 1).write(1);
                let big = Layout::from_size_align(grown, align).unwrap();
                let r = a.realloc(q, big, size / 2 + 1);
                assert!(!r.is_null() && r as usize % align == 0);
                assert!(bytes(size / 2 + 1).enumerate().all(|(i, b)| r.add(i).read() == b), "{grown} -> {size}");
                a.dealloc(r, Layout::from_size_align(size / 2 + 1, align).unwrap());
            }
        }
    }
}
