//! Running one job as many: which shard an array task is, and the job scripts that run a command
//! as a Slurm or SGE job array plus a merge job.

use std::fmt::Write as _;
use std::path::Path;

use crate::input::Shard;

/// The shard of an array task, from its scheduler's environment: Slurm's `SLURM_ARRAY_TASK_ID`
/// with `_MIN`, `_COUNT` (and `_STEP`), or SGE's `SGE_TASK_ID` with `SGE_TASK_FIRST`,
/// `SGE_TASK_LAST` (and `SGE_TASK_STEPSIZE`); SGE numbers tasks from 1.
pub fn shard_from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
    let num = |k: &str| -> Result<Option<u64>, String> {
        match var(k) {
            None => Ok(None),
            Some(v) if v.trim() == "undefined" || v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{k}={v:?} is not a number")),
        }
    };
    let shard = |index: u64, count: u64| -> Result<Shard, String> {
        let (index, count) = (u32::try_from(index).ok(), u32::try_from(count).ok());
        match (index, count) {
            (Some(index), Some(count)) if index < count => Ok(Shard { index, count }),
            _ => Err("the array task's index is outside the array".into()),
        }
    };
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let min = num("SLURM_ARRAY_TASK_MIN")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN is not")?;
        let count =
            num("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        return shard(id.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID < SLURM_ARRAY_TASK_MIN")? / step, count);
    }
    if let Some(id) = num("SGE_TASK_ID")? {
        let first = num("SGE_TASK_FIRST")?.ok_or("SGE_TASK_ID is set but SGE_TASK_FIRST is not")?;
        let last = num("SGE_TASK_LAST")?.ok_or("SGE_TASK_ID is set but SGE_TASK_LAST is not")?;
        let step = num("SGE_TASK_STEPSIZE")?.unwrap_or(1).max(1);
        let count = last.checked_sub(first).ok_or("SGE_TASK_LAST < SGE_TASK_FIRST")? / step + 1;
        return shard(id.checked_sub(first).ok_or("SGE_TASK_ID < SGE_TASK_FIRST")? / step, count);
    }
    Err("--shard auto: not in a Slurm or SGE array task (neither SLURM_ARRAY_TASK_ID nor SGE_TASK_ID is set)".into())
}

/// The batch scheduler a job is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    Slurm,
    Sge,
}

/// What the job scripts need.
#[derive(Debug, Clone)]
pub struct JobSpec<'a> {
    pub scheduler: Scheduler,
    pub tasks: u32,
    pub cpus_per_task: Option<u32>,
    pub partition: Option<&'a str>,
    pub time: Option<&'a str>,
    /// Where the scripts, parts, logs and result live (shared by the nodes).
    pub workdir: &'a Path,
    /// The directory the command was given in: tasks run there, so relative paths keep working.
    pub cwd: &'a Path,
    /// The pframe executable.
    pub pframe: &'a Path,
    /// The command's arguments after `pframe` (`count ...` or `groupby ...`), without -o and -f.
    pub command: &'a [String],
    /// The merge's output options (`-f csv`, `-o FILE`).
    pub merge_output: &'a [String],
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A path in a scheduler directive (`#SBATCH`, `#$`), which the scheduler reads itself: bare
/// unless it has blanks.
fn directive_path(p: &str) -> String {
    if p.contains(char::is_whitespace) { format!("\"{p}\"") } else { p.to_string() }
}

fn join(words: &[String]) -> String {
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

impl JobSpec<'_> {
    fn path(&self, rel: &str) -> String {
        self.workdir.join(rel).display().to_string()
    }

    /// The file the merge job writes the result to.
    pub fn result_path(&self) -> String {
        self.path("result")
    }

    /// The array script: each task runs the command on its shard and writes its partial file.
    pub fn task_script(&self) -> String {
        let mut s = String::from("#!/bin/bash\n");
        match self.scheduler {
            Scheduler::Slurm => {
                let _ = writeln!(s, "#SBATCH --job-name=pframe-task");
                let _ = writeln!(s, "#SBATCH --array=0-{}", self.tasks - 1);
                let _ = writeln!(s, "#SBATCH --output={}", directive_path(&self.path("logs/task-%a.log")));
                if let Some(c) = self.cpus_per_task {
                    let _ = writeln!(s, "#SBATCH --cpus-per-task={c}");
                }
                if let Some(p) = self.partition {
                    let _ = writeln!(s, "#SBATCH --partition={}", shell_quote(p));
                }
                if let Some(t) = self.time {
                    let _ = writeln!(s, "#SBATCH --time={}", shell_quote(t));
                }
            }
            Scheduler::Sge => {
                let _ = writeln!(s, "#$ -N pframe-task");
                let _ = writeln!(s, "#$ -t 1-{}", self.tasks);
                let _ = writeln!(s, "#$ -S /bin/bash");
                let _ = writeln!(s, "#$ -j y");
                let _ = writeln!(s, "#$ -o {}", directive_path(&self.path("logs/task-$TASK_ID.log")));
                if let Some(c) = self.cpus_per_task {
                    let _ = writeln!(s, "#$ -pe smp {c}");
                }
                if let Some(p) = self.partition {
                    let _ = writeln!(s, "#$ -q {}", shell_quote(p));
                }
                if let Some(t) = self.time {
                    let _ = writeln!(s, "#$ -l h_rt={}", shell_quote(t));
                }
            }
        }
        let task_id = match self.scheduler {
            Scheduler::Slurm => "$SLURM_ARRAY_TASK_ID",
            Scheduler::Sge => "$SGE_TASK_ID",
        };
        let _ = writeln!(s, "set -euo pipefail");
        let _ = writeln!(s, "cd {}", shell_quote(&self.cwd.display().to_string()));
        let _ = writeln!(s, "# -j defaults to this task's allocation: see `pframe cores`.");
        let _ = writeln!(
            s,
            "exec {} {} --shard auto --partial-out {}\"{task_id}.json\"",
            shell_quote(&self.pframe.display().to_string()),
            join(self.command),
            shell_quote(&self.path("parts/part-")),
        );
        s
    }

    /// The merge script, run after every task succeeded.
    pub fn merge_script(&self) -> String {
        let mut s = String::from("#!/bin/bash\n");
        match self.scheduler {
            Scheduler::Slurm => {
                let _ = writeln!(s, "#SBATCH --job-name=pframe-merge");
                let _ = writeln!(s, "#SBATCH --output={}", directive_path(&self.path("logs/merge.log")));
                if let Some(p) = self.partition {
                    let _ = writeln!(s, "#SBATCH --partition={}", shell_quote(p));
                }
            }
            Scheduler::Sge => {
                let _ = writeln!(s, "#$ -N pframe-merge");
                let _ = writeln!(s, "#$ -S /bin/bash");
                let _ = writeln!(s, "#$ -j y");
                let _ = writeln!(s, "#$ -o {}", directive_path(&self.path("logs/merge.log")));
                if let Some(p) = self.partition {
                    let _ = writeln!(s, "#$ -q {}", shell_quote(p));
                }
            }
        }
        let _ = writeln!(s, "set -euo pipefail");
        let _ = writeln!(s, "cd {}", shell_quote(&self.cwd.display().to_string()));
        let mut merge = vec!["merge".to_string()];
        merge.extend(self.merge_output.iter().cloned());
        let _ = writeln!(
            s,
            "{} {} {}/part-*.json > {}",
            shell_quote(&self.pframe.display().to_string()),
            join(&merge),
            shell_quote(&self.path("parts")),
            shell_quote(&self.path("result.tmp")),
        );
        let _ = writeln!(s, "mv {} {}", shell_quote(&self.path("result.tmp")), shell_quote(&self.result_path()));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn shards_from_slurm_and_sge() {
        let slurm = [("SLURM_ARRAY_TASK_ID", "12"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        assert_eq!(shard_from_env(&env(&slurm)), Ok(Shard { index: 2, count: 4 }));
        let sge = [("SGE_TASK_ID", "1"), ("SGE_TASK_FIRST", "1"), ("SGE_TASK_LAST", "7")];
        assert_eq!(shard_from_env(&env(&sge)), Ok(Shard { index: 0, count: 7 }));
        let stepped =
            [("SGE_TASK_ID", "5"), ("SGE_TASK_FIRST", "1"), ("SGE_TASK_LAST", "7"), ("SGE_TASK_STEPSIZE", "2")];
        assert_eq!(shard_from_env(&env(&stepped)), Ok(Shard { index: 2, count: 4 }));
        assert!(shard_from_env(&env(&[("SGE_TASK_ID", "undefined")])).unwrap_err().contains("not in a Slurm or SGE"));
        assert!(shard_from_env(&env(&[("SLURM_ARRAY_TASK_ID", "3")])).unwrap_err().contains("SLURM_ARRAY_TASK_MIN"));
        let outside = [("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        assert!(shard_from_env(&env(&outside)).is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("words.txt"), "words.txt");
        assert_eq!(shell_quote("sum(v1),mean(v3)"), "'sum(v1),mean(v3)'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
