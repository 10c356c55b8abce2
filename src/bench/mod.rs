//! `pframe bench`: how an engine scales with threads, against the others and against the Python
//! scripts people would otherwise run.
//!
//! Data flow: a [`BenchPlan`] lists the configurations (engine x threads), each a [`Job`]: a whole
//! command run as a child process, so that polars' process-wide thread count is honoured and every
//! engine, pframe's or Python's, is timed the same way. A [`Runner`] runs a job and returns its wall
//! time, peak RSS and stdout ([`process::ProcessRunner`] for real, a fake clock in tests). Every
//! run's answer is checked against the serial engine's; then the per-configuration statistics,
//! speedup, efficiency and the Amdahl fit are computed into one [`BenchReport`], the serde struct
//! that the table prints and that every export writes, after each configuration.

pub mod plot;
pub mod process;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::output::{JsonShape, Table, Value};

/// Core counts at which the fitted Amdahl curve is evaluated.
pub const PREDICT_AT: [u32; 3] = [8, 16, 64];

/// One command to time.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Job {
    /// The command as a shell would show it.
    pub fn display(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.env {
            let _ = write!(s, "{k}={v} ");
        }
        s.push_str(&self.program.display().to_string());
        for a in &self.args {
            let _ = write!(s, " {}", crate::cluster::shell_quote(a));
        }
        s
    }
}

/// How a configuration's answer is checked against the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// The same CSV table: identical headers and text cells, numbers within 1e-9 relative.
    Table,
    /// A Monte Carlo pi estimate from other random numbers (Python's): the same number of samples,
    /// and `pi` within six standard errors of the reference.
    MonteCarloPi,
}

/// One configuration of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub engine: String,
    pub threads: u32,
    pub job: Job,
    pub check: Check,
}

/// What a bench measures: the workload, its size and the configurations.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    /// `count`, `groupby`, `pi` or `matmul`.
    pub workload: String,
    /// The work in the throughput's unit: bytes of input, samples, or floating-point operations.
    pub work: f64,
    /// `MB/s`, `samples/s` or `GFLOP/s`: the throughput is `work / median / scale`.
    pub throughput_unit: String,
    pub throughput_scale: f64,
    /// The reference: the serial engine at one thread. Its answer is what every run must give.
    pub reference: Job,
    /// The configurations, measured in this order; the reference configuration (engine `serial`)
    /// comes first when it is part of the report.
    pub configs: Vec<Config>,
    pub runs: usize,
    pub warmup: usize,
    /// A description of the input(s) for the report.
    pub input: String,
}

/// What one run of a job gave.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    pub seconds: f64,
    pub peak_rss_bytes: u64,
    pub stdout: Vec<u8>,
}

/// Runs jobs: child processes for real, a fake clock in tests.
pub trait Runner {
    fn run(&mut self, job: &Job) -> anyhow::Result<RunOutput>;
}

/// The measurements of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResult {
    pub engine: String,
    pub threads: u32,
    /// The command that was timed.
    pub command: String,
    /// Every measured run's wall time, seconds (warm-up runs excluded).
    pub times: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Work per second at the median time, in the report's `throughput_unit`.
    pub throughput: f64,
    /// The reference's median time over this median time.
    pub speedup: Option<f64>,
    /// speedup / threads.
    pub efficiency: Option<f64>,
    /// The largest peak resident set size over the runs.
    pub peak_rss_bytes: u64,
}

/// Amdahl's law fitted to one engine's sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineFit {
    pub engine: String,
    /// `f` in `S(n) = 1 / (f + (1 - f) / n)`, where `S(n)` is the engine's own time at one thread
    /// over its time at `n`; `None` without a one-thread run and at least one more thread count.
    pub serial_fraction: Option<f64>,
    /// `S(n)` of the fit at 8, 16 and 64 cores.
    pub predicted_speedup: BTreeMap<u32, f64>,
}

/// The whole result: what the table shows and what every export writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub workload: String,
    pub input: String,
    pub throughput_unit: String,
    /// The baseline of every speedup (of the Python rows too, unless `python_reference`).
    pub reference: String,
    /// The baseline of the Python rows' speedups, when their serial loop ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_reference: Option<String>,
    pub runs: usize,
    pub warmup: usize,
    pub pframe_version: String,
    /// The CPUs of the machine: logical, physical, and pframe's default thread count.
    pub machine: Machine,
    pub configs: Vec<ConfigResult>,
    pub fits: Vec<EngineFit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub logical: usize,
    pub physical: Option<usize>,
    pub default_threads: usize,
}

/// The median of a non-empty sample (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The engine name of the tutorial's serial Python loop, the Python rows' baseline.
pub const PYTHON_SERIAL: &str = "python-serial";

/// Whether a configuration is one of the Python equivalents (`python-serial`, `python-pool`,
/// `pandas`, ...) rather than a pframe engine.
pub fn is_python(engine: &str) -> bool {
    engine.starts_with("python") || engine == "pandas"
}

/// Amdahl's law: the speedup on `n` cores of a program whose serial fraction is `f`.
pub fn amdahl(f: f64, n: f64) -> f64 {
    1.0 / (f + (1.0 - f) / n)
}

/// Least-squares fit of Amdahl's serial fraction to `(threads, speedup)` points.
///
/// `1 / S = f (1 - 1/n) + 1/n` is linear in `f`, so the fit is closed-form:
/// `f = sum((1/S - 1/n)(1 - 1/n)) / sum((1 - 1/n)^2)`, clamped to [0, 1]. Points at `n = 1` carry no
/// information about `f` and weigh nothing. `None` when no point has `n > 1`.
pub fn fit_serial_fraction(points: &[(f64, f64)]) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for &(n, s) in points {
        if n > 1.0 && s > 0.0 && s.is_finite() {
            let x = 1.0 - 1.0 / n;
            num += (1.0 / s - 1.0 / n) * x;
            den += x * x;
        }
    }
    (den > 0.0).then(|| (num / den).clamp(0.0, 1.0))
}

impl BenchReport {
    /// An empty report for `plan`.
    pub fn new(plan: &BenchPlan, machine: Machine, pframe_version: &str) -> BenchReport {
        BenchReport {
            workload: plan.workload.clone(),
            input: plan.input.clone(),
            throughput_unit: plan.throughput_unit.clone(),
            reference: "serial engine, 1 thread".into(),
            python_reference: None,
            runs: plan.runs,
            warmup: plan.warmup,
            pframe_version: pframe_version.into(),
            machine,
            configs: Vec::new(),
            fits: Vec::new(),
        }
    }

    /// Recomputes the speedups, efficiencies and fits from the configurations' times. pframe's
    /// engines are measured against its serial engine; the Python rows against their own serial
    /// loop (`python-serial`) when it ran, so that they show the tutorial's lesson (how
    /// `multiprocessing.Pool` scales over the plain loop), and against pframe's otherwise.
    fn derive(&mut self, reference_median: f64) {
        let python_serial = self.configs.iter().find(|c| c.engine == PYTHON_SERIAL).map(|c| c.median);
        self.python_reference = python_serial.map(|_| format!("{PYTHON_SERIAL}, 1 process"));
        let baseline = |engine: &str| match python_serial {
            Some(t) if is_python(engine) => t,
            _ => reference_median,
        };
        for c in &mut self.configs {
            let s = baseline(&c.engine) / c.median;
            c.speedup = s.is_finite().then_some(s);
            c.efficiency = c.speedup.map(|s| s / f64::from(c.threads));
        }
        let mut engines: Vec<&str> = Vec::new();
        for c in &self.configs {
            if !engines.contains(&c.engine.as_str()) {
                engines.push(&c.engine);
            }
        }
        self.fits = engines
            .iter()
            .map(|&engine| {
                let mine: Vec<&ConfigResult> = self.configs.iter().filter(|c| c.engine == engine).collect();
                // The fit is of a family's scaling: a Python pool over the serial loop, a pframe
                // engine over its own one-thread run.
                let own = mine.iter().find(|c| c.threads == 1).map(|c| c.median);
                let one = if is_python(engine) { python_serial.or(own) } else { own };
                let f = one.and_then(|t1| {
                    let points: Vec<(f64, f64)> = mine.iter().map(|c| (f64::from(c.threads), t1 / c.median)).collect();
                    fit_serial_fraction(&points)
                });
                EngineFit {
                    engine: engine.to_string(),
                    serial_fraction: f,
                    predicted_speedup: f
                        .map(|f| PREDICT_AT.iter().map(|&n| (n, amdahl(f, f64::from(n)))).collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
    }

    /// One row per configuration, as the table shows and `--export-csv` writes.
    pub fn configs_table(&self) -> Table {
        let headers = [
            "engine",
            "threads",
            "median_s",
            "min_s",
            "max_s",
            &format!("throughput_{}", self.throughput_unit.replace('/', "_per_")),
            "speedup",
            "efficiency",
            "peak_rss_mib",
        ];
        let opt = |x: Option<f64>| x.map_or(Value::Null, |x| Value::Float(round(x, 3)));
        let rows = self
            .configs
            .iter()
            .map(|c| {
                vec![
                    Value::Str(c.engine.clone()),
                    Value::UInt(c.threads.into()),
                    Value::Float(round(c.median, 4)),
                    Value::Float(round(c.min, 4)),
                    Value::Float(round(c.max, 4)),
                    Value::Float(round(c.throughput, 1)),
                    opt(c.speedup),
                    opt(c.efficiency),
                    Value::Float(round(c.peak_rss_bytes as f64 / (1 << 20) as f64, 1)),
                ]
            })
            .collect();
        Table { headers: headers.iter().map(|s| s.to_string()).collect(), rows, json: JsonShape::Records }
    }

    /// One row per engine: the fitted serial fraction and the predicted speedups.
    pub fn fits_table(&self) -> Table {
        let mut headers = vec!["engine".to_string(), "serial_fraction".to_string()];
        headers.extend(PREDICT_AT.iter().map(|n| format!("speedup_at_{n}")));
        let rows = self
            .fits
            .iter()
            .map(|f| {
                let mut row = vec![
                    Value::Str(f.engine.clone()),
                    f.serial_fraction.map_or(Value::Null, |x| Value::Float(round(x, 4))),
                ];
                row.extend(
                    PREDICT_AT
                        .iter()
                        .map(|n| f.predicted_speedup.get(n).map_or(Value::Null, |&s| Value::Float(round(s, 2)))),
                );
                row
            })
            .collect();
        Table { headers, rows, json: JsonShape::Records }
    }

    /// What the speedups are against, in words.
    pub fn baselines(&self) -> String {
        match &self.python_reference {
            Some(p) => format!("{} (the Python rows: {p})", self.reference),
            None => self.reference.clone(),
        }
    }

    /// The report as Markdown: a heading, the configurations and the fits.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "## pframe bench {}: {}\n\n{} runs after {} warm-up per configuration; speedup against the {}; \
             throughput in {}; pframe {}; {} logical CPUs{}.\n\n",
            self.workload,
            self.input,
            self.runs,
            self.warmup,
            self.baselines(),
            self.throughput_unit,
            self.pframe_version,
            self.machine.logical,
            self.machine.physical.map(|p| format!(", {p} physical cores")).unwrap_or_default()
        );
        s.push_str(&markdown_table(&self.configs_table()));
        s.push_str(
            "\nAmdahl's law fitted per engine, S(n) = 1 / (f + (1 - f) / n), over its own one-thread time (the \
             Python rows over python-serial's):\n\n",
        );
        s.push_str(&markdown_table(&self.fits_table()));
        s
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn markdown_table(t: &Table) -> String {
    let cell = |v: &Value| if matches!(v, Value::Null) { "-".to_string() } else { v.to_string() };
    let mut s = format!("| {} |\n", t.headers.join(" | "));
    let _ = writeln!(s, "|{}", t.headers.iter().map(|_| "---|").collect::<String>());
    for row in &t.rows {
        let _ = writeln!(s, "| {} |", row.iter().map(cell).collect::<Vec<_>>().join(" | "));
    }
    s
}

/// The reasons a bench stops.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "{engine} at {threads} thread(s) gave a different answer from the serial engine: {why}\n  command: {command}"
    )]
    Mismatch { engine: String, threads: u32, why: String, command: String },
}

/// Runs every configuration of `plan`, checks each run's answer against the reference's, and
/// calls `on_config` with the report so far after each configuration (for exports that survive an
/// interrupted bench) and `on_run` after each run (for a progress bar).
pub fn run_bench(
    plan: &BenchPlan,
    machine: Machine,
    version: &str,
    runner: &mut dyn Runner,
    on_run: &mut dyn FnMut(&Config),
    on_config: &mut dyn FnMut(&BenchReport) -> anyhow::Result<()>,
) -> anyhow::Result<BenchReport> {
    let mut report = BenchReport::new(plan, machine, version);
    // The reference answer, and its time if the serial engine is not itself a configuration.
    let reference_config = plan.configs.iter().find(|c| c.job == plan.reference);
    let mut reference: Option<(Vec<u8>, f64)> = None;
    if reference_config.is_none() {
        let mut times = Vec::new();
        let mut out = Vec::new();
        for i in 0..plan.warmup + plan.runs.max(1) {
            let r = runner.run(&plan.reference)?;
            if i >= plan.warmup {
                times.push(r.seconds);
            }
            out = r.stdout;
        }
        reference = Some((out, median(&times)));
    }
    // The reference configuration runs first, so that its answer checks all the others.
    let order = reference_config.into_iter().chain(plan.configs.iter().filter(|c| c.job != plan.reference));
    for config in order {
        let mut times = Vec::with_capacity(plan.runs);
        let mut peak = 0;
        for i in 0..plan.warmup + plan.runs {
            let out = runner.run(&config.job)?;
            on_run(config);
            let expected = match &reference {
                Some((answer, _)) => answer.as_slice(),
                None => &out.stdout, // the reference itself, on its first run
            };
            check_answer(config, expected, &out.stdout)?;
            if reference.is_none() {
                reference = Some((out.stdout.clone(), f64::NAN));
            }
            if i >= plan.warmup {
                times.push(out.seconds);
                peak = peak.max(out.peak_rss_bytes);
            }
        }
        let median = median(&times);
        if let Some((_, t)) = &mut reference
            && t.is_nan()
            && config.job == plan.reference
        {
            *t = median;
        }
        report.configs.push(ConfigResult {
            engine: config.engine.clone(),
            threads: config.threads,
            command: config.job.display(),
            min: times.iter().copied().fold(f64::INFINITY, f64::min),
            max: times.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            throughput: plan.work / median / plan.throughput_scale,
            times,
            median,
            speedup: None,
            efficiency: None,
            peak_rss_bytes: peak,
        });
        report.derive(reference.as_ref().map_or(f64::NAN, |r| r.1));
        on_config(&report)?;
    }
    Ok(report)
}

fn check_answer(config: &Config, expected: &[u8], got: &[u8]) -> Result<(), BenchError> {
    let result = match config.check {
        Check::Table => compare_tables(expected, got),
        Check::MonteCarloPi => compare_pi(expected, got),
    };
    result.map_err(|why| BenchError::Mismatch {
        engine: config.engine.clone(),
        threads: config.threads,
        why,
        command: config.job.display(),
    })
}

fn parse_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()).map_err(|e| format!("output is not CSV: {e}")))
        .collect()
}

/// Compares two CSV outputs cell by cell: text exactly, numbers within 1e-9 relative (pandas and
/// pframe may print the same float differently, `3` and `3.0` among them).
pub fn compare_tables(expected: &[u8], got: &[u8]) -> Result<(), String> {
    let (a, b) = (parse_csv(expected)?, parse_csv(got)?);
    if a.len() != b.len() {
        return Err(format!("{} lines instead of {}", b.len(), a.len()));
    }
    for (line, (ra, rb)) in a.iter().zip(&b).enumerate() {
        if ra.len() != rb.len() {
            return Err(format!("line {}: {} fields instead of {}", line + 1, rb.len(), ra.len()));
        }
        for (x, y) in ra.iter().zip(rb) {
            let same = x == y
                || match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                    _ => false,
                };
            if !same {
                return Err(format!("line {}: \"{y}\" instead of \"{x}\"", line + 1));
            }
        }
    }
    Ok(())
}

fn compare_pi(expected: &[u8], got: &[u8]) -> Result<(), String> {
    let field = |bytes: &[u8], name: &str| -> Result<f64, String> {
        let rows = parse_csv(bytes)?;
        let col = rows.first().and_then(|h| h.iter().position(|c| c == name));
        col.and_then(|i| rows.get(1)?.get(i)?.parse().ok()).ok_or_else(|| format!("no {name} in the output"))
    };
    let (n, pi_ref) = (field(expected, "samples")?, field(expected, "pi")?);
    let (m, pi) = (field(got, "samples")?, field(got, "pi")?);
    if n != m {
        return Err(format!("{m} samples instead of {n}"));
    }
    let p = std::f64::consts::FRAC_PI_4;
    let se = 4.0 * (p * (1.0 - p) / n.max(1.0)).sqrt();
    if (pi - pi_ref).abs() > 6.0 * se {
        return Err(format!("pi = {pi}, more than six standard errors ({se:.2e}) from {pi_ref}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amdahl_fit_recovers_a_known_fraction() {
        for f in [0.0, 0.01, 0.05, 0.1, 0.37, 1.0] {
            let points: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0, 8.0, 16.0].iter().map(|&n| (n, amdahl(f, n))).collect();
            let fit = fit_serial_fraction(&points).unwrap();
            assert!((fit - f).abs() < 1e-6, "f = {f}: fitted {fit}");
        }
        assert_eq!(fit_serial_fraction(&[(1.0, 1.0)]), None);
        assert_eq!(fit_serial_fraction(&[]), None);
        // Superlinear speedups clamp to 0; slowdowns to 1.
        assert_eq!(fit_serial_fraction(&[(2.0, 2.5)]), Some(0.0));
        assert_eq!(fit_serial_fraction(&[(2.0, 0.5)]), Some(1.0));
        assert!((amdahl(0.1, 8.0) - 1.0 / (0.1 + 0.9 / 8.0)).abs() < 1e-15);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn table_comparison_tolerates_float_formatting_only() {
        assert!(compare_tables(b"k,x\na,3\nb,0.1\n", b"k,x\na,3.0\nb,0.10000000000000002\n").is_ok());
        assert_eq!(compare_tables(b"k,x\na,3\n", b"k,x\na,4\n"), Err("line 2: \"4\" instead of \"3\"".into()));
        assert_eq!(compare_tables(b"k,x\na,3\n", b"k,x\n"), Err("1 lines instead of 2".into()));
        assert!(compare_tables(b"k,x\n,3\n", b"k,x\n\"\",3\n").is_ok(), "an empty field is an empty field");
        assert!(compare_tables(b"k\nid1\n", b"k\nid01\n").is_err());
    }

    #[test]
    fn pi_comparison_is_statistical() {
        let reference = b"samples,hits,pi\n1000000,785398,3.141592\n";
        assert!(compare_pi(reference, b"samples,pi\n1000000,3.1420\n").is_ok());
        assert!(compare_pi(reference, b"samples,pi\n1000000,3.2\n").is_err());
        assert!(compare_pi(reference, b"samples,pi\n999,3.1415\n").is_err());
    }
}
