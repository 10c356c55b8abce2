//! Runs a job as a child process and measures it from outside: wall time from spawn to reaping, and
//! the peak resident set size the kernel reports for it (`wait4`'s `ru_maxrss`, which also covers
//! the children it waited for, such as a `multiprocessing.Pool`'s workers).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Job, RunOutput, Runner};

/// Runs jobs as child processes; stdout and stderr go to temporary files (no pipe to drain, so
/// the child never waits on this process).
#[derive(Debug, Default)]
pub struct ProcessRunner;

impl Runner for ProcessRunner {
    fn run(&mut self, job: &Job) -> Result<RunOutput> {
        let mut stdout = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut stderr = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut cmd = Command::new(&job.program);
        cmd.args(&job.args)
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout.try_clone()?)
            .stderr(stderr.try_clone()?);
        let start = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot run {}", job.program.display()))?;
        let (status, rusage) = wait4(child.id() as libc::pid_t)?;
        let seconds = start.elapsed().as_secs_f64();
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let why = if libc::WIFEXITED(status) {
                format!("exit status {}", libc::WEXITSTATUS(status))
            } else {
                format!("killed by signal {}", libc::WTERMSIG(status))
            };
            let err = read_all(&mut stderr).unwrap_or_default();
            bail!("{} failed ({why}): {}", job.display(), String::from_utf8_lossy(&err).trim());
        }
        Ok(RunOutput {
            seconds,
            // ru_maxrss is in KiB on Linux.
            peak_rss_bytes: (rusage.ru_maxrss.max(0) as u64) * 1024,
            stdout: read_all(&mut stdout)?,
        })
    }
}

fn read_all(f: &mut File) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(0))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// Reaps `pid`, returning its wait status and resource usage. std's `Child::wait` has no rusage,
/// so the child is reaped here instead (its `Child` handle is dropped unwaited, which is allowed).
fn wait4(pid: libc::pid_t) -> Result<(libc::c_int, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data, valid when zeroed.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `rusage` are valid for writes; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return Ok((status, rusage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
}
