//! `pframe bench count|groupby|pi|matmul`: resolves the arguments into a [`BenchPlan`] of child
//! commands (pframe itself, and with `--pandas` the Python scripts in `scripts/`), runs it with
//! [`ProcessRunner`], prints the report and writes the exports after every configuration.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{UsageError, progress};
use crate::cli::{BenchCommand, BenchOpts, BenchPassArgs, SortArg, UnitArg, VERSION};
use pframe::bench::process::ProcessRunner;
use pframe::bench::{BenchPlan, BenchReport, Check, Config, Job, Machine, plot, run_bench};
use pframe::cores::{Cores, Probe};
use pframe::output::{Destination, Format, OutputSink};

pub fn run(cmd: BenchCommand) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the pframe executable")?;
    let cores = Cores::detect(&Probe::system());
    let (opts, plan) = match cmd {
        BenchCommand::Count(a) => {
            let plan = plan_pass("count", &a, &exe, &cores)?;
            (a.bench, plan)
        }
        BenchCommand::Groupby(a) => {
            let plan = plan_pass("groupby", &a, &exe, &cores)?;
            (a.bench, plan)
        }
        BenchCommand::Pi(a) => {
            let base =
                ["kernel", "pi", "--samples", &a.samples.to_string(), "--seed", &a.seed.to_string()].map(String::from);
            let mut plan = Sweep::new(&a.bench, &exe, &cores, &["serial", "parallel"])?.plan(
                "pi",
                &base,
                (a.samples as f64, "Msamples/s", 1e6),
                format!("{} samples, seed {}", a.samples, a.seed),
            );
            if a.bench.pandas {
                let samples = a.samples.to_string();
                add_python(&mut plan, &a.bench, &cores, "multiprocessing", "pi_pool.py", &|mode, t| {
                    let mut args = vec!["--samples".to_string(), samples.clone(), "--mode".into(), mode.into()];
                    if let Some(t) = t {
                        args.extend(["--processes".into(), t.to_string()]);
                    }
                    args
                })?;
                for c in plan.configs.iter_mut().filter(|c| c.engine.starts_with("python")) {
                    c.check = Check::MonteCarloPi;
                }
            }
            (a.bench, plan)
        }
        BenchCommand::Matmul(a) => {
            let base =
                ["kernel", "matmul", "--size", &a.size.to_string(), "--seed", &a.seed.to_string()].map(String::from);
            let n = f64::from(a.size);
            let plan = Sweep::new(&a.bench, &exe, &cores, &["serial", "parallel"])?.plan(
                "matmul",
                &base,
                (2.0 * n * n * n, "GFLOP/s", 1e9),
                format!("{0} x {0} f64 matrices, seed {1}", a.size, a.seed),
            );
            if a.bench.pandas {
                eprintln!(
                    "pframe: bench matmul: --pandas: there is no Python equivalent of this kernel; continuing without"
                );
            }
            (a.bench, plan)
        }
    };
    execute(&opts, &plan, &cores)
}

/// The engines and thread counts of a sweep, and how to call pframe.
struct Sweep {
    exe: PathBuf,
    engines: Vec<String>,
    threads: Vec<u32>,
    runs: usize,
    warmup: usize,
}

impl Sweep {
    fn new(opts: &BenchOpts, exe: &Path, cores: &Cores, engines: &[&str]) -> Result<Sweep> {
        let chosen: Vec<String> = if opts.engines.is_empty() {
            engines.iter().map(|s| s.to_string()).collect()
        } else {
            opts.engines.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        for e in &chosen {
            if !engines.contains(&e.as_str()) {
                bail!(UsageError(format!("--engines: unknown engine \"{e}\" (expected {})", engines.join(", "))));
            }
        }
        // The serial engine first: it is the reference every other run is checked against.
        let mut ordered: Vec<String> =
            engines.iter().filter(|e| chosen.iter().any(|c| c == *e)).map(|e| e.to_string()).collect();
        ordered.dedup();
        let mut threads =
            if opts.threads.is_empty() { default_sweep(cores.default_threads) } else { opts.threads.clone() };
        threads.sort_unstable();
        threads.dedup();
        Ok(Sweep {
            exe: exe.to_path_buf(),
            engines: ordered,
            threads,
            runs: opts.runs as usize,
            warmup: opts.warmup as usize,
        })
    }

    /// pframe's configurations: `base` with the engine, thread count and CSV output prepended to
    /// `rest` (so that a `--` among the user's arguments cannot swallow them).
    fn job(&self, base: &[String], engine: &str, threads: u32, rest: &[String]) -> Job {
        let mut args = base.to_vec();
        args.extend(["-e", engine, "-j", &threads.to_string()].map(String::from));
        if base.first().is_none_or(|c| c != "kernel") {
            args.extend(["-f", "csv"].map(String::from));
        }
        args.extend(rest.iter().cloned());
        Job { program: self.exe.clone(), args, env: Vec::new() }
    }

    fn plan_with(
        &self,
        workload: &str,
        base: &[String],
        rest: &[String],
        work: (f64, &str, f64),
        input: String,
    ) -> BenchPlan {
        let mut configs = Vec::new();
        for engine in &self.engines {
            // The serial engine has one thread whatever -j says: one configuration.
            let threads: &[u32] = if engine == "serial" { &[1] } else { &self.threads };
            for &t in threads {
                configs.push(Config {
                    engine: engine.clone(),
                    threads: t,
                    job: self.job(base, engine, t, rest),
                    check: Check::Table,
                });
            }
        }
        BenchPlan {
            workload: workload.to_string(),
            work: work.0,
            throughput_unit: work.1.to_string(),
            throughput_scale: work.2,
            reference: self.job(base, "serial", 1, rest),
            configs,
            runs: self.runs,
            warmup: self.warmup,
            input,
        }
    }

    fn plan(&self, workload: &str, base: &[String], work: (f64, &str, f64), input: String) -> BenchPlan {
        self.plan_with(workload, base, &[], work, input)
    }
}

/// 1, 2, ... up to `max`; past 8, powers of two and `max` itself.
fn default_sweep(max: usize) -> Vec<u32> {
    let max = max.clamp(1, 4096) as u32;
    let mut v: Vec<u32> = (1..=max.min(8)).collect();
    let mut p = 16;
    while p < max {
        v.push(p);
        p *= 2;
    }
    if max > 8 {
        v.push(max);
    }
    v
}

/// `bench count` and `bench groupby`: the rest of the line is the command's own arguments, checked
/// by parsing them as the command would.
fn plan_pass(workload: &str, a: &BenchPassArgs, exe: &Path, cores: &Cores) -> Result<BenchPlan> {
    let words: Vec<String> = std::iter::once(workload.to_string()).chain(a.args.iter().cloned()).collect();
    let (sub, files) = super::parse_inner_command(&format!("bench {workload}"), &words)?;
    for (id, flag) in [("engine", "-e"), ("threads", "-j"), ("format", "-f"), ("output", "-o")] {
        if super::given(&sub, id) {
            bail!(UsageError(format!(
                "bench {workload}: {flag} is set by the bench for each configuration: use --engines and --threads, \
                 before the {workload} options"
            )));
        }
    }
    if files.is_empty() || files.iter().any(|f| f == Path::new("-")) {
        bail!(UsageError(format!(
            "bench {workload}: give input FILEs: every run reads the input again, and stdin can be read only once"
        )));
    }
    let mut bytes = 0;
    for f in &files {
        let meta = std::fs::metadata(f).with_context(|| format!("{}: cannot read", f.display()))?;
        bytes += meta.len();
    }
    let engines: &[&str] = &["serial", "parallel", "polars"];
    let mut sweep = Sweep::new(&a.bench, exe, cores, engines)?;
    if a.bench.engines.is_empty() && workload == "count" {
        // The polars count engine is for comparison, not speed (a string column per chunk): opt-in.
        sweep.engines.retain(|e| e != "polars");
    }
    let input = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ");
    let input = format!("{input} ({:.1} MB)", bytes as f64 / 1e6);
    let mut plan = sweep.plan_with(workload, &[workload.to_string()], &a.args, (bytes as f64, "MB/s", 1e6), input);

    if a.bench.pandas {
        let file = files[0].display().to_string();
        if workload == "count" {
            let letters = sub.get_one::<UnitArg>("unit") == Some(&UnitArg::Letters)
                && sub.get_one::<usize>("top").is_none()
                && sub.get_one::<SortArg>("sort").is_none_or(|s| *s == SortArg::Key);
            if letters && files.len() == 1 {
                add_python(&mut plan, &a.bench, cores, "multiprocessing", "count_letters.py", &|mode, t| {
                    let mode = if mode == "pool" { "pool" } else { "serial" };
                    let mut args = vec!["--mode".to_string(), mode.into()];
                    if let Some(t) = t {
                        args.extend(["--processes".into(), t.to_string()]);
                    }
                    args.push(file.clone());
                    args
                })?;
            } else {
                eprintln!(
                    "pframe: bench count: --pandas: the tutorial's script counts the letters of one file, in key \
                     order; this query has no Python equivalent, continuing without"
                );
            }
        } else {
            let plain_csv = sub.get_one::<String>("delimiter").is_some_and(|d| d == ",")
                && !sub.get_flag("no_header")
                && sub.get_one::<String>("schema").is_none()
                && !files[0].extension().is_some_and(|e| e == "ndjson" || e == "jsonl")
                && files.len() == 1;
            let by: Vec<String> = sub.get_many::<String>("by").map(|v| v.cloned().collect()).unwrap_or_default();
            let agg = sub.get_one::<String>("agg").cloned().unwrap_or_default();
            if plain_csv {
                add_python(&mut plan, &a.bench, cores, "pandas", "groupby_pandas.py", &|_, _| {
                    vec![file.clone(), "--by".into(), by.join(","), "--agg".into(), agg.clone()]
                })?;
            } else {
                eprintln!(
                    "pframe: bench groupby: --pandas: the pandas script reads one comma-separated file with a header \
                     and inferred types; continuing without it"
                );
            }
        }
    }
    Ok(plan)
}

/// Adds the Python rows: for `multiprocessing` scripts a serial run and a `Pool` per thread count;
/// for pandas one single-threaded run. `args(mode, processes)` builds the script's arguments.
fn add_python(
    plan: &mut BenchPlan,
    opts: &BenchOpts,
    cores: &Cores,
    module: &str,
    script: &str,
    args: &dyn Fn(&str, Option<u32>) -> Vec<String>,
) -> Result<()> {
    let Some(path) = find_script(script) else {
        eprintln!(
            "pframe: bench: --pandas: scripts/{script} not found (set PFRAME_SCRIPTS to the scripts/ directory of \
             the pframe sources); continuing without the Python rows"
        );
        return Ok(());
    };
    if let Err(why) = python_has(module) {
        eprintln!(
            "pframe: bench: --pandas: {why}; install it with `pip install pandas` (or `apt-get install python3 \
             python3-pandas`); continuing without the Python rows"
        );
        return Ok(());
    }
    let job = |a: Vec<String>| Job {
        program: PathBuf::from("python3"),
        args: std::iter::once(path.display().to_string()).chain(a).collect(),
        env: Vec::new(),
    };
    let check = Check::Table;
    if module == "pandas" {
        plan.configs.push(Config { engine: "pandas".into(), threads: 1, job: job(args("serial", None)), check });
        return Ok(());
    }
    plan.configs.push(Config { engine: "python-serial".into(), threads: 1, job: job(args("serial", None)), check });
    let threads = if opts.threads.is_empty() { default_sweep(cores.default_threads) } else { opts.threads.clone() };
    for t in threads {
        plan.configs.push(Config { engine: "python-pool".into(), threads: t, job: job(args("pool", Some(t))), check });
    }
    Ok(())
}

/// `scripts/NAME`: from `PFRAME_SCRIPTS`, beside a binary built in the source tree
/// (`target/release/pframe` -> `scripts/`), or in the current directory.
fn find_script(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("PFRAME_SCRIPTS") {
        dirs.push(d.into());
    }
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().skip(1).take(4).map(|d| d.join("scripts")));
    }
    dirs.push(PathBuf::from("scripts"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn python_has(module: &str) -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match out {
        Ok(s) if s.success() => Ok(()),
        Ok(_) => Err(format!("python3 cannot import {module}")),
        Err(_) => Err("python3 is not installed".into()),
    }
}

fn execute(opts: &BenchOpts, plan: &BenchPlan, cores: &Cores) -> Result<()> {
    // Fail on a bad export path now, not after minutes of measuring.
    if let Some(p) = &opts.plot
        && !p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("svg") || e.eq_ignore_ascii_case("png"))
    {
        bail!(UsageError(format!("--plot: {}: the file name must end in .svg or .png", p.display())));
    }
    let exports = [&opts.export_json, &opts.export_csv, &opts.export_markdown, &opts.plot];
    for p in exports.into_iter().flatten() {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!(UsageError(format!("{}: its directory does not exist", p.display())));
        }
    }
    let machine = Machine { logical: cores.logical, physical: cores.physical, default_threads: cores.default_threads };
    let total = (plan.configs.len() * (plan.warmup + plan.runs)) as u64;
    let bar = progress::for_runs(&opts.progress, total);
    let mut on_run = |c: &Config| {
        if let Some(b) = &bar {
            b.set_message(format!("{} -j {}", c.engine, c.threads));
            b.inc(1);
        }
    };
    let mut on_config = |r: &BenchReport| export(opts, r);
    let report = run_bench(plan, machine, VERSION, &mut ProcessRunner, &mut on_run, &mut on_config);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "pframe bench {}: {}; {} runs per configuration; speedup over the {}\n",
        report.workload,
        report.input,
        report.runs,
        report.baselines()
    )?;
    report.configs_table().write(Format::Table, &mut out)?;
    writeln!(
        out,
        "\nAmdahl fit per engine, S(n) = 1 / (f + (1 - f) / n), over its own one-thread time (Python: python-serial):\n"
    )?;
    report.fits_table().write(Format::Table, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Writes every export the user asked for: called after each configuration.
fn export(opts: &BenchOpts, report: &BenchReport) -> Result<()> {
    let write = |path: &PathBuf, f: &dyn Fn(&mut OutputSink) -> Result<()>| -> Result<()> {
        let mut sink = OutputSink::open(&Destination::File(path.clone()))?;
        f(&mut sink)?;
        sink.finish()?;
        Ok(())
    };
    if let Some(p) = &opts.export_json {
        write(p, &|w| {
            serde_json::to_writer_pretty(&mut *w, report)?;
            writeln!(w)?;
            Ok(())
        })?;
    }
    if let Some(p) = &opts.export_csv {
        write(p, &|w| Ok(report.configs_table().write(Format::Csv, w)?))?;
    }
    if let Some(p) = &opts.export_markdown {
        write(p, &|w| Ok(w.write_all(report.to_markdown().as_bytes())?))?;
    }
    if let Some(p) = &opts.plot {
        plot::write_plot(report, p)?;
    }
    Ok(())
}
