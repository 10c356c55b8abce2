//! `pframe cores`: what [`pframe::cores::Cores`] detects, as a table or JSON.

use std::io::Write;

use anyhow::Result;

use crate::cli::{CoresArgs, CoresFormat};
use pframe::cores::{Cores, Probe};

pub fn run(args: CoresArgs) -> Result<()> {
    let cores = Cores::detect(&Probe::system());
    let mut out = std::io::stdout().lock();
    match args.format {
        CoresFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &cores)?;
            writeln!(out)?;
        }
        CoresFormat::Table => {
            let none = || "-".to_string();
            let affinity = cores.affinity.as_ref().map_or_else(none, |a| format!("{} CPUs ({})", a.len(), cpu_list(a)));
            let cgroup = cores
                .cgroup_limit
                .as_ref()
                .map_or_else(none, |c| format!("{} CPUs (cgroup {}, {})", c.cpus, c.version, c.file));
            let scheduler =
                cores.scheduler.as_ref().map_or_else(none, |s| format!("{} CPUs ({}: {})", s.cpus, s.name, s.variable));
            let env = if cores.env.is_empty() {
                none()
            } else {
                cores.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
            };
            let rows = [
                ("logical", cores.logical.to_string()),
                ("physical", cores.physical.map_or_else(none, |p| p.to_string())),
                ("affinity", affinity),
                ("cgroup_limit", cgroup),
                ("scheduler", scheduler),
                ("env", env),
                (
                    "memory",
                    cores.memory.as_ref().map_or_else(none, |m| format!("{} MiB ({})", m.bytes >> 20, m.reason)),
                ),
                ("default_threads", cores.default_threads.to_string()),
                ("reason", cores.reason.clone()),
            ];
            for (k, v) in rows {
                writeln!(out, "{k:<16} {v}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `[0, 1, 2, 3, 8]` as `0-3,8`.
fn cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    parts.join(",")
}
