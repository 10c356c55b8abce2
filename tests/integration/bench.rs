//! `pframe bench`, `pframe cores`, `completions` and `--version`: the report's arithmetic through a
//! fake clock (deterministic), and real sweeps of the real binary on tiny inputs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use pframe::bench::{BenchPlan, BenchReport, Check, Config, Job, Machine, RunOutput, Runner, amdahl, run_bench};

use super::{path_str, run, run_ok};

const ANSWER: &[u8] = b"letter,count\na,3\nb,1\n";

fn job(engine: &str, threads: u32) -> Job {
    Job { program: PathBuf::from("pframe"), args: vec![engine.into(), threads.to_string()], env: Vec::new() }
}

fn config(engine: &str, threads: u32) -> Config {
    Config { engine: engine.into(), threads, job: job(engine, threads), check: Check::Table }
}

/// serial at 1 thread, parallel at 1, 2 and 4 threads.
fn plan() -> BenchPlan {
    BenchPlan {
        workload: "count".into(),
        work: 100e6,
        throughput_unit: "MB/s".into(),
        throughput_scale: 1e6,
        reference: job("serial", 1),
        configs: vec![config("serial", 1), config("parallel", 1), config("parallel", 2), config("parallel", 4)],
        runs: 3,
        warmup: 1,
        input: "words.txt (100.0 MB)".into(),
    }
}

/// A fake clock: the serial engine takes 1 s; the parallel engine follows Amdahl's law with a
/// serial fraction of 0.2 from 1.25 s at one thread, its runs spread by +-1%. Answers are
/// `ANSWER` except where `wrong` says.
struct FakeRunner {
    calls: usize,
    wrong: Option<(String, u32)>,
    fail_at: Option<usize>,
    peaks: VecDeque<u64>,
}

impl FakeRunner {
    fn new() -> FakeRunner {
        FakeRunner { calls: 0, wrong: None, fail_at: None, peaks: VecDeque::new() }
    }
}

impl Runner for FakeRunner {
    fn run(&mut self, job: &Job) -> anyhow::Result<RunOutput> {
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            anyhow::bail!("the child was killed");
        }
        let engine = job.args[0].as_str();
        let threads: u32 = job.args[1].parse().unwrap();
        let spread = [1.0, 0.99, 1.01, 1.0][self.calls % 4];
        let seconds = match engine {
            "serial" => 1.0,
            _ => 1.25 / amdahl(0.2, f64::from(threads)),
        } * spread;
        let stdout = if self.wrong.as_ref().is_some_and(|(e, t)| e == engine && *t == threads) {
            b"letter,count\na,3\nb,2\n".to_vec()
        } else {
            ANSWER.to_vec()
        };
        let peak = self.peaks.pop_front().unwrap_or(10 << 20);
        Ok(RunOutput { seconds, peak_rss_bytes: peak, stdout })
    }
}

const MACHINE: Machine = Machine { logical: 4, physical: Some(2), default_threads: 4 };

fn bench(runner: &mut FakeRunner) -> (anyhow::Result<BenchReport>, Vec<BenchReport>) {
    let mut snapshots = Vec::new();
    let result = run_bench(&plan(), MACHINE, "0.1.0 (test)", runner, &mut |_| {}, &mut |r| {
        snapshots.push(r.clone());
        Ok(())
    });
    (result, snapshots)
}

#[test]
fn report_statistics_speedup_and_amdahl_fit_through_a_fake_clock() {
    let mut runner = FakeRunner::new();
    runner.peaks = (0..16).map(|i| (10 + i) << 20).collect();
    let (report, snapshots) = bench(&mut runner);
    let report = report.unwrap();
    assert_eq!(runner.calls, 16, "4 configurations x (1 warm-up + 3 runs)");
    let summary: Vec<(&str, u32, usize)> =
        report.configs.iter().map(|c| (c.engine.as_str(), c.threads, c.times.len())).collect();
    assert_eq!(summary, [("serial", 1, 3), ("parallel", 1, 3), ("parallel", 2, 3), ("parallel", 4, 3)]);

    let serial = &report.configs[0];
    // Calls 2, 3, 4 are the measured runs (call 1 is the warm-up): spreads 1.01, 1.0, 1.0.
    assert_eq!(serial.times, [1.01, 1.0, 1.0]);
    assert_eq!((serial.median, serial.min, serial.max), (1.0, 1.0, 1.01));
    assert_eq!(serial.speedup, Some(1.0));
    assert_eq!(serial.throughput, 100.0);
    assert_eq!(serial.peak_rss_bytes, 13 << 20, "the largest of the measured runs, warm-up excluded");

    let p4 = &report.configs[3];
    let t4 = 1.25 / amdahl(0.2, 4.0);
    assert!((p4.median - t4).abs() < 1e-12);
    assert!((p4.speedup.unwrap() - 1.0 / t4).abs() < 1e-12);
    assert!((p4.efficiency.unwrap() - 1.0 / t4 / 4.0).abs() < 1e-12);

    // The fit is of each engine's own scaling: f = 0.2 comes back.
    let fits: Vec<(&str, Option<f64>)> = report.fits.iter().map(|f| (f.engine.as_str(), f.serial_fraction)).collect();
    assert_eq!(fits[0], ("serial", None), "one thread count: nothing to fit");
    let f = fits[1].1.unwrap();
    assert!((f - 0.2).abs() < 1e-6, "fitted {f}");
    let predicted = &report.fits[1].predicted_speedup;
    assert_eq!(predicted.keys().copied().collect::<Vec<_>>(), [8, 16, 64]);
    assert!((predicted[&64] - amdahl(0.2, 64.0)).abs() < 1e-4);

    // The report was handed over after every configuration, growing.
    assert_eq!(snapshots.iter().map(|s| s.configs.len()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(snapshots.last().unwrap(), &report);
}

#[test]
fn exports_are_deterministic_under_a_fake_clock() {
    let (report, _) = bench(&mut FakeRunner::new());
    let report = report.unwrap();
    let mut csv = Vec::new();
    report.configs_table().write(pframe::output::Format::Csv, &mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "engine,threads,median_s,min_s,max_s,throughput_MB_per_s,speedup,efficiency,peak_rss_mib\n\
         serial,1,1.0,1.0,1.01,100.0,1.0,1.0,10.0\n\
         parallel,1,1.25,1.25,1.2625,80.0,0.8,0.8,10.0\n\
         parallel,2,0.75,0.75,0.7575,133.3,1.333,0.667,10.0\n\
         parallel,4,0.5,0.5,0.505,200.0,2.0,0.5,10.0\n"
    );
    assert_eq!(
        report.to_markdown(),
        "## pframe bench count: words.txt (100.0 MB)\n\n\
         3 runs after 1 warm-up per configuration; speedup against the serial engine, 1 thread; throughput in MB/s; \
         pframe 0.1.0 (test); 4 logical CPUs, 2 physical cores.\n\n\
         | engine | threads | median_s | min_s | max_s | throughput_MB_per_s | speedup | efficiency | peak_rss_mib |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | serial | 1 | 1.0 | 1.0 | 1.01 | 100.0 | 1.0 | 1.0 | 10.0 |\n\
         | parallel | 1 | 1.25 | 1.25 | 1.2625 | 80.0 | 0.8 | 0.8 | 10.0 |\n\
         | parallel | 2 | 0.75 | 0.75 | 0.7575 | 133.3 | 1.333 | 0.667 | 10.0 |\n\
         | parallel | 4 | 0.5 | 0.5 | 0.505 | 200.0 | 2.0 | 0.5 | 10.0 |\n\
         \nAmdahl's law fitted per engine, S(n) = 1 / (f + (1 - f) / n), over its own one-thread time (the Python \
         rows over python-serial's):\n\n\
         | engine | serial_fraction | speedup_at_8 | speedup_at_16 | speedup_at_64 |\n\
         |---|---|---|---|---|\n\
         | serial | - | - | - | - |\n\
         | parallel | 0.2 | 3.33 | 4.0 | 4.71 |\n"
    );
    // The JSON export is the report itself, and reads back into it.
    let json = serde_json::to_string_pretty(&report).unwrap();
    let back: BenchReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c = &v["configs"][2];
    for key in
        ["engine", "threads", "times", "median", "min", "max", "throughput", "speedup", "efficiency", "peak_rss_bytes"]
    {
        assert!(!c[key].is_null(), "configs[2].{key} missing in {c}");
    }
    assert_eq!(v["fits"][1]["predicted_speedup"]["64"].as_f64().map(|x| (x * 100.0).round()), Some(471.0));
    assert!(v["fits"][1]["serial_fraction"].is_number());
}

#[test]
fn a_wrong_answer_stops_the_bench_loudly() {
    let mut runner = FakeRunner::new();
    runner.wrong = Some(("parallel".into(), 2));
    let (result, snapshots) = bench(&mut runner);
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.starts_with("parallel at 2 thread(s) gave a different answer from the serial engine: line 3"), "{err}");
    assert_eq!(snapshots.len(), 2, "what was measured before is kept");
}

#[test]
fn an_interrupted_bench_keeps_what_it_measured() {
    let mut runner = FakeRunner::new();
    runner.fail_at = Some(10);
    let (result, snapshots) = bench(&mut runner);
    assert!(format!("{:#}", result.unwrap_err()).contains("the child was killed"));
    assert_eq!(snapshots.last().map(|s| s.configs.len()), Some(2));
}

#[test]
fn the_reference_runs_even_when_not_reported() {
    let mut p = plan();
    p.configs.retain(|c| c.engine == "parallel");
    let mut runner = FakeRunner::new();
    runner.wrong = Some(("parallel".into(), 4));
    let err = run_bench(&p, MACHINE, "t", &mut runner, &mut |_| {}, &mut |_| Ok(())).unwrap_err();
    assert!(format!("{err:#}").contains("parallel at 4 thread(s) gave a different answer"));
    let report = run_bench(&p, MACHINE, "t", &mut FakeRunner::new(), &mut |_| {}, &mut |_| Ok(())).unwrap();
    assert_eq!(report.configs.len(), 3);
    assert_eq!(report.configs[0].speedup, Some(0.8), "still against the serial engine");
}

fn dataset(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets").join(name).display().to_string()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn engines_and_threads(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["engine"].as_str().unwrap().to_string(), c["threads"].as_u64().unwrap()))
        .collect()
}

#[test]
fn a_real_count_sweep_with_every_export_and_both_plots() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (json, csv, md, svg, png) = (p("r.json"), p("r.csv"), p("r.md"), p("s.svg"), p("s.png"));
    let words = dataset("words_100k.txt");
    let args = [
        "bench",
        "count",
        "--threads",
        "1,2",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--export-json",
        path_str(&json),
        "--export-csv",
        path_str(&csv),
        "--export-markdown",
        path_str(&md),
        "--plot",
        path_str(&svg),
        "-u",
        "words",
        &words,
    ];
    let out = run_ok(&args, None);
    assert!(out.starts_with("pframe bench count: "), "{out}");
    let v = read_json(&json);
    assert_eq!(engines_and_threads(&v), [("serial".into(), 1), ("parallel".into(), 1), ("parallel".into(), 2)]);
    for c in v["configs"].as_array().unwrap() {
        assert_eq!(c["times"].as_array().unwrap().len(), 2);
        assert!(c["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
        assert!(c["command"].as_str().unwrap().contains(" count -e "), "{c}");
    }
    assert_eq!(v["throughput_unit"], "MB/s");
    assert!(v["fits"][1]["serial_fraction"].is_number());
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 4);
    assert!(std::fs::read_to_string(&md).unwrap().contains("| parallel | 2 |"));

    // The SVG parses and names the engines and the fit.
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let labels: Vec<&str> = doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).map(str::trim).collect();
    for want in [
        "serial",
        "parallel",
        "threads",
        "ideal (speedup = threads)",
        "speedup against threads",
        "median time (log scale)",
        "serial time",
        "parallel time",
        "seconds",
    ] {
        assert!(labels.contains(&want), "no \"{want}\" in {labels:?}");
    }
    assert!(labels.iter().any(|l| l.starts_with("parallel Amdahl fit, f = ")), "{labels:?}");

    // The same as PNG, from a second (one-configuration) run.
    run_ok(
        &[
            "bench",
            "count",
            "--engines",
            "parallel",
            "--threads",
            "1,2",
            "--runs",
            "1",
            "--plot",
            path_str(&png),
            &words,
        ],
        None,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn real_pi_and_matmul_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pi.json");
    run_ok(
        &["bench", "pi", "--samples", "300000", "--threads", "1,2", "--runs", "1", "--export-json", path_str(&json)],
        None,
    );
    let v = read_json(&json);
    assert_eq!(engines_and_threads(&v), [("serial".into(), 1), ("parallel".into(), 1), ("parallel".into(), 2)]);
    assert_eq!(v["throughput_unit"], "Msamples/s");

    run_ok(
        &["bench", "matmul", "--size", "96", "--threads", "2", "--runs", "1", "--export-json", path_str(&json)],
        None,
    );
    let v = read_json(&json);
    assert_eq!(engines_and_threads(&v), [("serial".into(), 1), ("parallel".into(), 2)]);
    assert_eq!(v["throughput_unit"], "GFLOP/s");

    // The kernels themselves: the same answer from every engine and thread count.
    let serial = run_ok(&["kernel", "pi", "--samples", "200000", "-e", "serial"], None);
    assert_eq!(run_ok(&["kernel", "pi", "--samples", "200000", "-e", "parallel", "-j", "3"], None), serial);
    assert!(serial.starts_with("samples,hits,pi\n200000,"), "{serial}");
    let serial = run_ok(&["kernel", "matmul", "--size", "70", "-e", "serial"], None);
    assert_eq!(run_ok(&["kernel", "matmul", "--size", "70", "-e", "parallel", "-j", "2"], None), serial);
}

#[test]
fn python_rows_with_pandas() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("g.json");
    let g1 = dataset("g1_10k.csv");
    let args = [
        "bench",
        "groupby",
        "--pandas",
        "--engines",
        "serial,parallel",
        "--threads",
        "2",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--export-json",
        path_str(&json),
        "--by",
        "id1",
        "--agg",
        "count,sum(v1),mean(v3)",
        &g1,
    ];
    let out = run(&args, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("continuing without"), "pandas must be installed by the test command: {stderr}");
    let v = read_json(&json);
    assert_eq!(engines_and_threads(&v), [("serial".into(), 1), ("parallel".into(), 2), ("pandas".into(), 1)]);
    assert!(v["configs"][2]["command"].as_str().unwrap().contains("groupby_pandas.py"));

    // The tutorial's letter count: the serial loop and Pool.map, on a small file.
    let (_d, words) = super::temp_file("w.txt", b"Apple\r\nbanana\r\nCherry\r\n");
    // The bench's options after the file, as with hyperfine.
    let args = [
        "bench",
        "count",
        path_str(&words),
        "--pandas",
        "--threads",
        "1,2",
        "--runs",
        "1",
        "--export-json",
        path_str(&json),
    ];
    let out = run(&args, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = read_json(&json);
    let engines: Vec<String> = engines_and_threads(&v).into_iter().map(|(e, t)| format!("{e}@{t}")).collect();
    assert_eq!(engines, ["serial@1", "parallel@1", "parallel@2", "python-serial@1", "python-pool@1", "python-pool@2"]);
    // Python's rows are measured against the serial Python loop, pframe's against its serial
    // engine: python-serial is 1 by definition, and each speedup is the ratio of the medians.
    assert_eq!(v["python_reference"], "python-serial, 1 process");
    let median = |i: usize| v["configs"][i]["median"].as_f64().unwrap();
    let speedup = |i: usize| v["configs"][i]["speedup"].as_f64().unwrap();
    assert_eq!(speedup(3), 1.0);
    for i in [4, 5] {
        assert!((speedup(i) - median(3) / median(i)).abs() < 1e-9, "{v}");
    }
    for i in [1, 2] {
        assert!((speedup(i) - median(0) / median(i)).abs() < 1e-9, "{v}");
    }

    // Monte Carlo pi: Python's estimate is checked statistically.
    let args = [
        "bench",
        "pi",
        "--pandas",
        "--samples",
        "20000",
        "--threads",
        "2",
        "--runs",
        "1",
        "--export-json",
        path_str(&json),
    ];
    run_ok(&args, None);
    let engines: Vec<String> =
        engines_and_threads(&read_json(&json)).into_iter().map(|(e, t)| format!("{e}@{t}")).collect();
    assert_eq!(engines, ["serial@1", "parallel@2", "python-serial@1", "python-pool@2"]);
}

#[test]
fn bench_usage_errors() {
    let words = dataset("words_100k.txt");
    let cases: [(&[&str], &str); 5] = [
        (
            &["bench", "count", "-e", "serial", &words],
            "pframe: bench count: -e is set by the bench for each configuration",
        ),
        (&["bench", "count", "-"], "pframe: bench count: give input FILEs"),
        (
            &["bench", "count", "--plot", "x.txt", &words],
            "pframe: --plot: x.txt: the file name must end in .svg or .png",
        ),
        (&["bench", "count", "--engines", "gpu", &words], "pframe: --engines: unknown engine \"gpu\""),
        (&["bench", "groupby", "--by", "id1", &words], "pframe: bench groupby: "),
    ];
    for (args, want) in cases {
        let out = run(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(want), "{args:?}: {stderr}");
    }
}

fn cores_json(env: &[(&str, &str)], prefix: &[&str]) -> serde_json::Value {
    let exe = env!("CARGO_BIN_EXE_pframe");
    let (program, mut args): (&str, Vec<&str>) = match prefix.split_first() {
        Some((p, rest)) => (p, rest.to_vec()),
        None => (exe, Vec::new()),
    };
    if !prefix.is_empty() {
        args.push(exe);
    }
    args.extend(["cores", "-f", "json"]);
    let mut cmd = std::process::Command::new(program);
    cmd.args(&args);
    for var in [
        "PFRAME_THREADS",
        "SLURM_CPUS_PER_TASK",
        "SLURM_CPUS_ON_NODE",
        "SLURM_JOB_CPUS_PER_NODE",
        "NSLOTS",
        "SLURM_MEM_PER_NODE",
        "SLURM_MEM_PER_CPU",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cores_reports_and_obeys_the_real_limits() {
    let v = cores_json(&[], &[]);
    for key in
        ["logical", "physical", "affinity", "cgroup_limit", "scheduler", "env", "memory", "default_threads", "reason"]
    {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    // The job's memory: at most the machine's, and Slurm's allocation when it is less.
    let ram = v["memory"]["bytes"].as_u64().unwrap();
    assert!(ram > 0);
    let v = cores_json(&[("SLURM_MEM_PER_NODE", "100")], &[]);
    assert_eq!(v["memory"]["bytes"].as_u64().unwrap(), 100 << 20, "{v}");
    assert_eq!(v["memory"]["reason"], "SLURM_MEM_PER_NODE=100");
    let logical = v["logical"].as_u64().unwrap();
    assert!(v["default_threads"].as_u64().unwrap() <= logical);

    let v = cores_json(&[("SLURM_CPUS_PER_TASK", "1")], &[]);
    assert_eq!(v["default_threads"], 1);
    assert_eq!(v["scheduler"]["name"], "slurm");
    assert_eq!(v["reason"], "smallest limit: slurm allocated 1 CPUs (SLURM_CPUS_PER_TASK=1)");

    let v = cores_json(&[("PFRAME_THREADS", "7"), ("OMP_NUM_THREADS", "3")], &[]);
    assert_eq!(v["default_threads"], 7);
    assert_eq!(v["env"]["OMP_NUM_THREADS"], "3");

    // The real affinity mask, under taskset (util-linux, installed by the test command).
    if std::process::Command::new("taskset").arg("-V").output().is_ok() {
        let v = cores_json(&[], &["taskset", "-c", "0"]);
        assert_eq!(v["affinity"], serde_json::json!([0]));
        assert_eq!(v["default_threads"], 1);
        assert_eq!(v["reason"], "smallest limit: the affinity mask allows 1 CPUs");
    } else {
        eprintln!("skipping the taskset case: taskset is not installed");
    }
}

#[test]
fn completions_and_version() {
    let bash = run_ok(&["completions", "bash"], None);
    assert!(bash.contains("_pframe()") && bash.contains("groupby"), "{}", &bash[..200.min(bash.len())]);
    assert!(run_ok(&["completions", "fish"], None).contains("complete -c pframe"));
    let version = run_ok(&["--version"], None);
    assert!(version.starts_with(&format!("pframe {} (git ", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(version.trim_end().ends_with("; engines: serial, parallel, polars 0.55.2)"), "{version}");
}

#[test]
fn bench_options_before_after_and_mixed_with_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let j = path_str(&json);
    let words = dataset("words_100k.txt");
    let orders: [&[&str]; 3] = [
        &[
            "bench",
            "count",
            "--engines",
            "parallel",
            "--threads",
            "1,2",
            "--runs",
            "1",
            "-u",
            "words",
            &words,
            "--export-json",
            j,
        ],
        &[
            "bench",
            "count",
            "-u",
            "words",
            &words,
            "--engines=parallel",
            "--runs",
            "1",
            "--threads",
            "1,2",
            "--export-json",
            j,
        ],
        &[
            "bench",
            "count",
            "--runs",
            "1",
            "--export-json",
            j,
            "--engines",
            "parallel",
            "--threads",
            "1,2",
            "--",
            "-u",
            "words",
            &words,
        ],
    ];
    for args in orders {
        run_ok(args, None);
        let v = read_json(&json);
        assert_eq!(engines_and_threads(&v), [("parallel".into(), 1), ("parallel".into(), 2)], "{args:?}");
        assert!(v["configs"][1]["command"].as_str().unwrap().contains(" -u words "), "{args:?}: {v}");
    }
    // After `--` everything is the command's: a bench option there reaches the command.
    let out = run(&["bench", "count", "--runs", "1", "--", &words, "--runs", "2"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--runs"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn help_man_page_and_completions_agree_on_the_commands() {
    let help = run_ok(&["--help"], None);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 8 && commands.contains(&"count") && commands.contains(&"man"), "{help}");
    let man = run_ok(&["man"], None);
    let mut in_man: Vec<&str> = man
        .split("pframe\\-")
        .skip(1)
        .filter_map(|s| s.split_once("(1)").map(|(name, _)| name))
        .filter(|c| *c != "help")
        .collect();
    in_man.dedup();
    assert_eq!(in_man, commands, "{man}");
    let bash = run_ok(&["completions", "bash"], None);
    let top = bash.lines().find(|l| l.contains("opts=\"-h -V --help --version")).expect("the top-level options");
    let completed: Vec<&str> = top.split('"').nth(1).unwrap().split(' ').filter(|w| !w.starts_with('-')).collect();
    for c in &commands {
        assert!(completed.contains(c), "{c} not completed: {top}");
        // Each command's own page exists.
        assert!(run_ok(&["man", c], None).contains(&format!(".TH pframe-{c} 1")), "{c}");
    }
    // Anything completed but not listed is a real (hidden) command.
    for c in completed.iter().filter(|c| !commands.contains(c) && **c != "help") {
        assert!(run(&[c, "--help"], None).status.success(), "{c}");
    }
}
