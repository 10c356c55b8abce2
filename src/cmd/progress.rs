//! Progress bars on stderr (indicatif), only ever on a terminal.
//!
//! For `count` and `groupby` the bar follows the input layer's counter of bytes handed out as
//! chunks (`ReadOptions::progress`), polled by a thread of its own ten times a second, so the
//! engines pay one relaxed atomic add per chunk and nothing else.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ProgressArgs;
use pframe::input::Source;

/// Inputs at least this large get a bar without `--progress`.
pub const AUTO_THRESHOLD: u64 = 256 << 20;

static BYTES: AtomicU64 = AtomicU64::new(0);

/// Whether a bar may be drawn at all: stderr is a terminal and `--no-progress` was not given.
pub fn allowed(args: &ProgressArgs) -> bool {
    !args.no_progress && std::io::stderr().is_terminal()
}

/// A running input progress bar; dropping it clears the bar.
pub struct InputProgress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for InputProgress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a bar over `sources` if one should be shown, returning the counter for `ReadOptions`.
pub fn for_inputs(args: &ProgressArgs, sources: &[Source]) -> Option<(&'static AtomicU64, InputProgress)> {
    if !allowed(args) {
        return None;
    }
    let total: Option<u64> = sources
        .iter()
        .map(|s| match s {
            Source::File(p) => std::fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| m.len()),
            Source::ZipMember { .. } | Source::Stdin => None,
        })
        .sum();
    if !args.progress && total.is_none_or(|t| t < AUTO_THRESHOLD) {
        return None;
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}").expect("a valid template")),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    BYTES.store(0, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                bar.set_position(BYTES.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        })
    };
    Some((&BYTES, InputProgress { stop, thread: Some(thread) }))
}

/// A bar counting a bench's runs.
pub fn for_runs(args: &ProgressArgs, runs: u64) -> Option<ProgressBar> {
    if !allowed(args) {
        return None;
    }
    let bar = ProgressBar::new(runs).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} {msg}").expect("a valid template"),
    );
    bar.set_draw_target(ProgressDrawTarget::stderr());
    Some(bar)
}
