//! `pframe submit`: runs `pframe count|groupby ...` as a job array of the cluster's scheduler, one
//! shard per task, plus a merge job that depends on all of them; optionally waits for the merge
//! and prints its result like the single-machine command would.
//!
//! Everything of one run lives in the work directory: `task.sh`, `merge.sh`, `parts/part-*.json`,
//! `logs/task-*.log`, `logs/merge.log` and `result`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::UsageError;
use crate::cli::{SchedulerArg, SubmitArgs};
use pframe::cluster::{JobSpec, Scheduler};
use pframe::output::Format;

pub fn run(args: SubmitArgs) -> Result<()> {
    let mut words = args.command.clone();
    if words.first().is_some_and(|w| w == "pframe" || w.ends_with("/pframe")) {
        words.remove(0);
    }
    let workload = words.first().cloned().unwrap_or_default();
    if workload != "count" && workload != "groupby" {
        bail!(UsageError(format!(
            "submit: the command must be `pframe count ...` or `pframe groupby ...`, not {:?}",
            args.command.join(" ")
        )));
    }
    let (sub, files) = super::parse_inner_command("submit", &words)?;
    for (id, flag) in [("shard", "--shard"), ("partial_out", "--partial-out")] {
        if super::given(&sub, id) {
            bail!(UsageError(format!("submit: {flag} is set by submit for each task")));
        }
    }
    if files.len() != 1 || files[0] == Path::new("-") {
        bail!(UsageError(
            "submit: the command must read one FILE (tasks read shards of it; stdin cannot be shared)".into()
        ));
    }

    // The output options go to the merge; the tasks write partial files.
    let (command, format, output) = split_output_options(&words);
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut merge_output = Vec::new();
    let format = match format {
        Some(f) => Some(f),
        // The merge job has no terminal; with --wait the result is shown here, so choose now.
        None if args.wait && output.is_none() => {
            Some(Format::default_for(None, std::io::IsTerminal::is_terminal(&std::io::stdout())).name().to_string())
        }
        None => None,
    };
    if let Some(f) = format {
        merge_output.extend(["-f".to_string(), f]);
    }
    if let Some(o) = &output {
        merge_output.extend(["-o".to_string(), std::path::absolute(o)?.display().to_string()]);
    }
    let workdir = match &args.workdir {
        Some(d) => std::path::absolute(d)?,
        None => cwd.join(format!("pframe-job-{}", timestamp())),
    };
    let pframe = std::env::current_exe().context("cannot find the pframe executable")?;
    let spec = JobSpec {
        scheduler: match args.scheduler {
            SchedulerArg::Slurm => Scheduler::Slurm,
            SchedulerArg::Sge => Scheduler::Sge,
        },
        tasks: args.tasks,
        cpus_per_task: args.cpus_per_task,
        partition: args.partition.as_deref(),
        time: args.time.as_deref(),
        workdir: &workdir,
        cwd: &cwd,
        pframe: &pframe,
        command: &command,
        merge_output: &merge_output,
    };
    let (task, merge) = (spec.task_script(), spec.merge_script());
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "# {}\n{task}\n# {}\n{merge}",
            workdir.join("task.sh").display(),
            workdir.join("merge.sh").display()
        )?;
        return Ok(());
    }

    for dir in [workdir.clone(), workdir.join("parts"), workdir.join("logs")] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create the work directory", dir.display()))?;
    }
    let write_script = |name: &str, text: &str| -> Result<PathBuf> {
        let path = workdir.join(name);
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(path)
    };
    let (task_path, merge_path) = (write_script("task.sh", &task)?, write_script("merge.sh", &merge)?);
    let (array_id, merge_id) = match spec.scheduler {
        Scheduler::Slurm => {
            let array = submit(Command::new("sbatch").arg("--parsable").arg(&task_path))?;
            let dep = format!("--dependency=afterok:{array}");
            let merge = submit(
                Command::new("sbatch").args(["--parsable", &dep, "--kill-on-invalid-dep=yes"]).arg(&merge_path),
            )?;
            (array, merge)
        }
        Scheduler::Sge => {
            let array = submit(Command::new("qsub").arg("-terse").arg(&task_path))?;
            let merge = submit(Command::new("qsub").args(["-terse", "-hold_jid", &array]).arg(&merge_path))?;
            (array, merge)
        }
    };
    eprintln!(
        "pframe: submitted job array {array_id} ({} tasks) and merge job {merge_id}; work directory {}",
        args.tasks,
        workdir.display()
    );
    if !args.wait {
        return Ok(());
    }
    wait_for(spec.scheduler, &merge_id)?;
    let result = Path::new(&spec.result_path()).to_path_buf();
    match std::fs::read(&result) {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
            Ok(())
        }
        Err(_) => Err(diagnose(&workdir, args.tasks, spec.scheduler)),
    }
}

/// Removes `-o/--output` and `-f/--format` (in any spelling) from the command's words, returning
/// the rest and their values.
fn split_output_options(words: &[String]) -> (Vec<String>, Option<String>, Option<String>) {
    let (mut rest, mut format, mut output) = (Vec::new(), None, None);
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "--" {
            rest.push(w.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        let (slot, value) = match w.as_str() {
            "-f" | "--format" => (&mut format, it.next().cloned()),
            "-o" | "--output" => (&mut output, it.next().cloned()),
            w if w.starts_with("--format=") => (&mut format, Some(w["--format=".len()..].to_string())),
            w if w.starts_with("--output=") => (&mut output, Some(w["--output=".len()..].to_string())),
            w if w.starts_with("-f") && w.len() > 2 && !w.starts_with("--") => (&mut format, Some(w[2..].to_string())),
            w if w.starts_with("-o") && w.len() > 2 && !w.starts_with("--") => (&mut output, Some(w[2..].to_string())),
            _ => {
                rest.push(w.clone());
                continue;
            }
        };
        *slot = value;
    }
    (rest, format, output)
}

/// Runs a submission command and returns the job id it printed.
fn submit(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("cannot run {shown} (is the scheduler's client installed?)"))?;
    if !out.status.success() {
        bail!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    // sbatch --parsable prints `id` or `id;cluster`; qsub -terse prints `id` or `id.1-N:1`.
    let text = String::from_utf8_lossy(&out.stdout);
    let id: String = text.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    if id.is_empty() {
        bail!("{shown} printed no job id: {:?}", text.trim());
    }
    Ok(id)
}

/// Waits until the job has left the queue. Finished jobs vanish from squeue/qstat (there may be
/// no accounting to ask), so "not found" means finished; the outcome is read from the files.
fn wait_for(scheduler: Scheduler, id: &str) -> Result<()> {
    loop {
        let queued = match scheduler {
            Scheduler::Slurm => {
                let out =
                    Command::new("squeue").args(["-h", "-j", id, "-o", "%T"]).output().context("cannot run squeue")?;
                out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty()
            }
            Scheduler::Sge => {
                Command::new("qstat").args(["-j", id]).output().context("cannot run qstat")?.status.success()
            }
        };
        if !queued {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Why a run produced no result: the first task without a partial file, with its log, else the
/// merge job's log.
fn diagnose(workdir: &Path, tasks: u32, scheduler: Scheduler) -> anyhow::Error {
    let last_line = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
            .unwrap_or_else(|| "(no log)".into())
    };
    let first_task = match scheduler {
        Scheduler::Slurm => 0,
        Scheduler::Sge => 1,
    };
    for t in 0..tasks {
        let id = t + first_task;
        if !workdir.join(format!("parts/part-{id}.json")).exists() {
            let log = workdir.join(format!("logs/task-{id}.log"));
            return anyhow::anyhow!("task {id} failed (log {}): {}", log.display(), last_line(&log));
        }
    }
    let log = workdir.join("logs/merge.log");
    anyhow::anyhow!("the merge job failed (log {}): {}", log.display(), last_line(&log))
}

/// `20261128-201530` (UTC).
fn timestamp() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn output_options_go_to_the_merge() {
        let (rest, f, o) = split_output_options(&words("count -f json -u words -o out.json big.txt"));
        assert_eq!(
            (rest, f.as_deref(), o.as_deref()),
            (words("count -u words big.txt"), Some("json"), Some("out.json"))
        );
        let (rest, f, o) = split_output_options(&words("groupby --format=csv -ojunk --output=x.csv -b id1 g.csv"));
        assert_eq!((rest, f.as_deref(), o.as_deref()), (words("groupby -b id1 g.csv"), Some("csv"), Some("x.csv")));
        let (rest, f, _) = split_output_options(&words("count -- -f"));
        assert_eq!((rest, f), (words("count -- -f"), None));
    }

    #[test]
    fn timestamps_are_civil_dates() {
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
