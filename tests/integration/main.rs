//! Integration tests: the real `pframe` binary, and the library's engines against naive models.
//! One test binary, a module per subcommand (see STYLE.md).

mod bench;
mod compressed;
mod count;
mod dialect;
mod differential;
mod errors;
mod generate;
mod groupby;
mod join;
mod model;
mod properties;
mod shard;
mod tables;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn pframe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pframe"))
}

/// Runs pframe with `args`, feeding `stdin` (or nothing), and returns its output.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = pframe();
    cmd.args(args);
    run_command(cmd, stdin)
}

/// [`run`], killed after `secs` seconds (by coreutils' `timeout`: exit status 124), for a run
/// that could hang.
pub fn run_within(secs: u32, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg(secs.to_string()).arg(env!("CARGO_BIN_EXE_pframe")).args(args);
    run_command(cmd, stdin)
}

fn run_command(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawn pframe");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        // Write on a thread so a large input cannot deadlock against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    child.wait_with_output().expect("wait for pframe")
}

/// Runs pframe and returns stdout, failing the test with stderr if it did not succeed.
pub fn run_ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(args, stdin);
    assert!(out.status.success(), "pframe {args:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A temporary directory holding one file with `contents`.
pub fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The tutorial's real 1M-word file, when the shared datasets are beside the checkout.
pub fn shared_dataset(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} is not present", p.display());
        None
    }
}
