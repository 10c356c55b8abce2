//! How many cores this process really has: the answer to the tutorial's `get_n_cores()`.
//!
//! A job may run on fewer CPUs than the machine has, limited by any of: the CPU affinity mask
//! (`taskset`, Slurm's and SGE's binding), the cgroup CPU quota (containers, Slurm's cgroup plugin),
//! and the batch scheduler's allocation, which is only known from its environment variables. The
//! number of threads pframe uses by default is the smallest of these limits; `PFRAME_THREADS` (and
//! `-j`) override it.
//!
//! Everything is read through a [`Probe`] holding the roots of sysfs and procfs and the environment,
//! so tests can fake a machine with a directory tree and a map.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Variables that other libraries read to size their thread pools: reported, never obeyed.
pub const THREAD_VARS: [&str; 6] = [
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
];

/// pframe's own override of the default thread count.
pub const OVERRIDE_VAR: &str = "PFRAME_THREADS";

/// Where a probe reads the machine from.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The root under which `sys/` and `proc/` are found (`/` on a real machine).
    pub root: PathBuf,
    /// The environment variables.
    pub env: BTreeMap<String, String>,
}

impl Probe {
    /// This machine and this process's environment.
    pub fn system() -> Probe {
        Probe { root: PathBuf::from("/"), env: std::env::vars().collect() }
    }

    fn read(&self, path: &str) -> Option<String> {
        fs::read_to_string(self.root.join(path.trim_start_matches('/'))).ok()
    }

    fn exists(&self, path: &str) -> bool {
        self.root.join(path.trim_start_matches('/')).exists()
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }
}

/// The batch scheduler's allocation, when the process runs inside a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scheduler {
    /// `slurm`, `sge`, `pbs` or `lsf`.
    pub name: &'static str,
    /// The CPUs allocated to this task.
    pub cpus: usize,
    /// The variable the number was read from.
    pub variable: String,
}

/// The cgroup CPU quota, as a number of CPUs (possibly fractional).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CgroupLimit {
    /// `v2` (`cpu.max`) or `v1` (`cpu.cfs_quota_us` / `cpu.cfs_period_us`).
    pub version: &'static str,
    /// quota / period.
    pub cpus: f64,
    /// The file the quota was read from.
    pub file: String,
}

/// Everything `pframe cores` reports, and the thread count every command uses by default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cores {
    /// Online logical CPUs of the machine.
    pub logical: usize,
    /// Physical cores (distinct package/core pairs), when sysfs tells.
    pub physical: Option<usize>,
    /// The CPUs this process may run on (its affinity mask).
    pub affinity: Option<Vec<usize>>,
    /// The cgroup CPU quota, if one is set.
    pub cgroup_limit: Option<CgroupLimit>,
    /// The batch scheduler's allocation, if running inside a job.
    pub scheduler: Option<Scheduler>,
    /// The thread-count variables that are set (other libraries' and `PFRAME_THREADS`).
    pub env: BTreeMap<String, String>,
    /// The memory this job may use (see [`job_memory`]); group-bys spill past half of it.
    pub memory: Option<Memory>,
    /// The number of threads pframe uses when `-j` is not given.
    pub default_threads: usize,
    /// Why that number.
    pub reason: String,
}

impl Cores {
    /// Reads every limit and decides the default thread count.
    pub fn detect(probe: &Probe) -> Cores {
        let logical = logical_cpus(probe);
        let physical = physical_cores(probe);
        let affinity = affinity(probe);
        let cgroup_limit = cgroup_limit(probe);
        let scheduler = scheduler(probe);
        let env: BTreeMap<String, String> = THREAD_VARS
            .iter()
            .chain(std::iter::once(&OVERRIDE_VAR))
            .filter_map(|&k| probe.var(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
        let (default_threads, reason) =
            decide(probe, logical, affinity.as_deref(), cgroup_limit.as_ref(), scheduler.as_ref());
        let memory = job_memory(probe);
        Cores { logical, physical, affinity, cgroup_limit, scheduler, env, memory, default_threads, reason }
    }
}

/// The default thread count and why: `PFRAME_THREADS`, else the smallest limit.
fn decide(
    probe: &Probe,
    logical: usize,
    affinity: Option<&[usize]>,
    cgroup_limit: Option<&CgroupLimit>,
    scheduler: Option<&Scheduler>,
) -> (usize, String) {
    let over = probe.var(OVERRIDE_VAR);
    if let Some(n) = over.and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
        return (n, format!("{OVERRIDE_VAR}={n} overrides the detected limits"));
    }
    let mut limits: Vec<(usize, String)> = vec![(logical, format!("{logical} logical CPUs"))];
    if let Some(a) = affinity {
        limits.push((a.len(), format!("the affinity mask allows {} CPUs", a.len())));
    }
    if let Some(c) = cgroup_limit {
        // A quota of 1.5 CPUs keeps two threads busy three quarters of the time: round up.
        let n = (c.cpus.ceil() as usize).max(1);
        limits.push((n, format!("the cgroup {} quota is {} CPUs ({})", c.version, c.cpus, c.file)));
    }
    if let Some(s) = scheduler {
        limits.push((s.cpus, format!("{} allocated {} CPUs ({})", s.name, s.cpus, s.variable)));
    }
    // Of equal limits the most specific (the scheduler's, then the cgroup's) is the reason worth
    // reporting: `rev` makes min_by_key pick the last of equals.
    let (n, why) = limits.into_iter().rev().min_by_key(|(n, _)| *n).unwrap_or((1, String::new()));
    let mut reason = format!("smallest limit: {why}");
    if let Some(v) = over {
        reason.push_str(&format!(" ({OVERRIDE_VAR}={v:?} ignored: not a positive integer)"));
    }
    (n.max(1), reason)
}

/// The default thread count of this process (detected once).
///
/// Reads only what decides it (not the topology, which `pframe cores` reports), since every
/// command starts with it.
pub fn default_threads() -> usize {
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let probe = Probe::system();
        let affinity = affinity(&probe);
        let (cgroup, scheduler) = (cgroup_limit(&probe), scheduler(&probe));
        decide(&probe, logical_cpus(&probe), affinity.as_deref(), cgroup.as_ref(), scheduler.as_ref()).0
    })
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?);
                if b < a || b - a > 1 << 20 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

fn online_cpus(probe: &Probe) -> Option<Vec<usize>> {
    probe.read("sys/devices/system/cpu/online").and_then(|s| parse_cpu_list(&s)).filter(|c| !c.is_empty())
}

fn logical_cpus(probe: &Probe) -> usize {
    if let Some(cpus) = online_cpus(probe) {
        return cpus.len();
    }
    if probe.root == Path::new("/") {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if n > 0 {
            return n as usize;
        }
    }
    1
}

fn physical_cores(probe: &Probe) -> Option<usize> {
    let cpus = online_cpus(probe)?;
    let mut cores = std::collections::BTreeSet::new();
    for cpu in cpus {
        let dir = format!("sys/devices/system/cpu/cpu{cpu}/topology");
        let core = probe.read(&format!("{dir}/core_id"))?;
        let package = probe.read(&format!("{dir}/physical_package_id")).unwrap_or_default();
        cores.insert((package.trim().to_string(), core.trim().to_string()));
    }
    Some(cores.len())
}

fn affinity(probe: &Probe) -> Option<Vec<usize>> {
    let status = probe.read("proc/self/status")?;
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    parse_cpu_list(list).filter(|c| !c.is_empty())
}

/// The tightest CPU quota on the way from this process's cgroup up to the root.
fn cgroup_limit(probe: &Probe) -> Option<CgroupLimit> {
    let groups = probe.read("proc/self/cgroup")?;
    let mut best: Option<CgroupLimit> = None;
    let mut consider = |c: CgroupLimit| {
        if best.as_ref().is_none_or(|b| c.cpus < b.cpus) {
            best = Some(c);
        }
    };
    for line in groups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        if controllers.is_empty() {
            // cgroup v2: `0::/path`; `cpu.max` is `max 100000` or `150000 100000`.
            for dir in ancestors(path) {
                let file = format!("sys/fs/cgroup{dir}/cpu.max");
                if let Some(cpus) = probe.read(&file).and_then(|s| parse_cpu_max(&s)) {
                    consider(CgroupLimit { version: "v2", cpus, file: format!("/{file}") });
                }
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            // cgroup v1: the cpu controller is mounted as cpu, cpu,cpuacct or cpuacct,cpu.
            for mount in ["cpu", "cpu,cpuacct", "cpuacct,cpu"] {
                if !probe.exists(&format!("sys/fs/cgroup/{mount}")) {
                    continue;
                }
                for dir in ancestors(path) {
                    let base = format!("sys/fs/cgroup/{mount}{dir}");
                    let quota = probe.read(&format!("{base}/cpu.cfs_quota_us"));
                    let period = probe.read(&format!("{base}/cpu.cfs_period_us"));
                    if let (Some(q), Some(p)) = (quota, period)
                        && let (Ok(q), Ok(p)) = (q.trim().parse::<i64>(), p.trim().parse::<i64>())
                        && q > 0
                        && p > 0
                    {
                        consider(CgroupLimit {
                            version: "v1",
                            cpus: q as f64 / p as f64,
                            file: format!("/{base}/cpu.cfs_quota_us"),
                        });
                    }
                }
                break;
            }
        }
    }
    best
}

/// The memory this job may use, and which limit says so.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    pub bytes: u64,
    /// Where the number was read from.
    pub reason: String,
}

/// The memory this job may use: the smallest of the machine's RAM (`MemTotal`), the cgroup's
/// memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`, the tightest ancestor's), Slurm's
/// allocation (`SLURM_MEM_PER_NODE`, or `SLURM_MEM_PER_CPU` times the CPUs on the node, in MB),
/// and, on the real machine, the address-space limit (`ulimit -v`, which is how SGE enforces
/// `h_vmem`).
pub fn job_memory(probe: &Probe) -> Option<Memory> {
    let mut limits: Vec<Memory> = Vec::new();
    let mut add = |bytes: u64, reason: String| limits.push(Memory { bytes, reason });
    if let Some(kib) = probe
        .read("proc/meminfo")
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| leading_u64(v.trim())))
    {
        add(kib * 1024, "MemTotal in /proc/meminfo".into());
    }
    for line in probe.read("proc/self/cgroup").unwrap_or_default().lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let file = if controllers.is_empty() {
            "memory.max"
        } else if controllers.split(',').any(|c| c == "memory") {
            "memory.limit_in_bytes"
        } else {
            continue;
        };
        let mount = if controllers.is_empty() { "sys/fs/cgroup" } else { "sys/fs/cgroup/memory" };
        for dir in ancestors(path) {
            let at = format!("{mount}{dir}/{file}");
            // `max`, or v1's "no limit" (a page-rounded i64::MAX), are no limit.
            if let Some(bytes) = probe.read(&at).and_then(|s| s.trim().parse::<u64>().ok()).filter(|&b| b < 1 << 60) {
                add(bytes, format!("the cgroup limit in /{at}"));
            }
        }
    }
    const MB: u64 = 1 << 20;
    if let Some(mb) = probe.var("SLURM_MEM_PER_NODE").and_then(leading_u64).filter(|&m| m > 0) {
        add(mb * MB, format!("SLURM_MEM_PER_NODE={mb}"));
    } else if let Some(mb) = probe.var("SLURM_MEM_PER_CPU").and_then(leading_u64).filter(|&m| m > 0) {
        let cpus = ["SLURM_CPUS_ON_NODE", "SLURM_CPUS_PER_TASK"]
            .iter()
            .find_map(|v| probe.var(v).and_then(leading_int))
            .unwrap_or(1) as u64;
        add(mb * MB * cpus, format!("SLURM_MEM_PER_CPU={mb} times {cpus} CPUs"));
    }
    if probe.root == Path::new("/") {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0 && lim.rlim_cur != libc::RLIM_INFINITY {
            #[allow(clippy::unnecessary_cast)] // rlim_t is narrower on some targets
            add(lim.rlim_cur as u64, "the address-space limit (ulimit -v; SGE's h_vmem)".into());
        }
    }
    limits.into_iter().min_by_key(|m| m.bytes)
}

fn leading_u64(s: &str) -> Option<u64> {
    let digits: String = s.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `/a/b` -> `/a/b`, `/a`, `` (the root).
fn ancestors(path: &str) -> Vec<String> {
    let path = path.trim().trim_end_matches('/');
    let mut out = vec![path.to_string()];
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        out.push(parent.to_string());
        p = parent;
    }
    out.dedup();
    out
}

fn parse_cpu_max(s: &str) -> Option<f64> {
    let mut it = s.split_whitespace();
    let quota = it.next()?;
    let period: f64 = it.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then_some(quota / period)
}

/// The first integer of a Slurm CPU count such as `4`, `4(x2)` or `8,4(x2)`.
fn leading_int(s: &str) -> Option<usize> {
    let digits: String = s.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|&n| n > 0)
}

fn scheduler(probe: &Probe) -> Option<Scheduler> {
    const VARS: [(&str, &str); 7] = [
        ("slurm", "SLURM_CPUS_PER_TASK"),
        ("slurm", "SLURM_CPUS_ON_NODE"),
        ("slurm", "SLURM_JOB_CPUS_PER_NODE"),
        ("sge", "NSLOTS"),
        ("pbs", "PBS_NP"),
        ("pbs", "NCPUS"),
        ("lsf", "LSB_DJOB_NUMPROC"),
    ];
    VARS.iter().find_map(|&(name, var)| {
        let cpus = leading_int(probe.var(var)?)?;
        Some(Scheduler { name, cpus, variable: format!("{var}={}", probe.var(var).unwrap_or_default()) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(files: &[(&str, &str)], env: &[(&str, &str)]) -> (tempfile::TempDir, Probe) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let probe = Probe { root: dir.path().to_path_buf(), env };
        (dir, probe)
    }

    /// 8 logical CPUs, 4 cores with two hyperthreads each.
    fn eight_cpus() -> Vec<(String, String)> {
        let mut files = vec![("sys/devices/system/cpu/online".to_string(), "0-7\n".to_string())];
        for cpu in 0..8 {
            let dir = format!("sys/devices/system/cpu/cpu{cpu}/topology");
            files.push((format!("{dir}/core_id"), format!("{}\n", cpu % 4)));
            files.push((format!("{dir}/physical_package_id"), "0\n".into()));
        }
        files
    }

    fn with<'a>(base: &'a [(String, String)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        base.iter().map(|(a, b)| (a.as_str(), b.as_str())).chain(extra.iter().copied()).collect()
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn bare_machine_uses_every_logical_cpu() {
        let base = eight_cpus();
        let (_d, probe) = machine(&with(&base, &[]), &[]);
        let c = Cores::detect(&probe);
        assert_eq!((c.logical, c.physical, c.default_threads), (8, Some(4), 8));
        assert_eq!(c.reason, "smallest limit: 8 logical CPUs");
        assert_eq!((c.affinity, c.cgroup_limit, c.scheduler), (None, None, None));
    }

    #[test]
    fn affinity_mask_limits() {
        let base = eight_cpus();
        let (_d, probe) =
            machine(&with(&base, &[("proc/self/status", "Name:\tx\nCpus_allowed_list:\t2-3,6\nOther:\t1\n")]), &[]);
        let c = Cores::detect(&probe);
        assert_eq!(c.affinity, Some(vec![2, 3, 6]));
        assert_eq!(c.default_threads, 3);
        assert_eq!(c.reason, "smallest limit: the affinity mask allows 3 CPUs");
    }

    #[test]
    fn cgroup_v2_quota_is_the_tightest_ancestor_rounded_up() {
        let base = eight_cpus();
        let files = with(
            &base,
            &[
                ("proc/self/cgroup", "0::/job/step\n"),
                ("sys/fs/cgroup/cpu.max", "max 100000\n"),
                ("sys/fs/cgroup/job/cpu.max", "250000 100000\n"),
                ("sys/fs/cgroup/job/step/cpu.max", "max 100000\n"),
            ],
        );
        let (_d, probe) = machine(&files, &[]);
        let c = Cores::detect(&probe);
        assert_eq!(
            c.cgroup_limit,
            Some(CgroupLimit { version: "v2", cpus: 2.5, file: "/sys/fs/cgroup/job/cpu.max".into() })
        );
        assert_eq!(c.default_threads, 3);
    }

    #[test]
    fn cgroup_v1_quota() {
        let base = eight_cpus();
        let files = with(
            &base,
            &[
                ("proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
            ],
        );
        let (_d, probe) = machine(&files, &[]);
        let c = Cores::detect(&probe);
        assert_eq!(c.cgroup_limit.as_ref().map(|l| (l.version, l.cpus)), Some(("v1", 2.0)));
        assert_eq!(c.default_threads, 2);
        // An unlimited v1 quota is -1.
        let files = with(
            &base,
            &[
                ("proc/self/cgroup", "3:cpu,cpuacct:/\n"),
                ("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
                ("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
            ],
        );
        let (_d, probe) = machine(&files, &[]);
        assert_eq!(Cores::detect(&probe).cgroup_limit, None);
    }

    #[test]
    fn schedulers_in_order_of_precedence() {
        let base = eight_cpus();
        let files = with(&base, &[]);
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<(&'a str, usize)>);
        let cases: [Case; 7] = [
            (&[("SLURM_CPUS_PER_TASK", "2"), ("SLURM_CPUS_ON_NODE", "6")], Some(("slurm", 2))),
            (&[("SLURM_CPUS_ON_NODE", "6")], Some(("slurm", 6))),
            (&[("SLURM_JOB_CPUS_PER_NODE", "4(x2)")], Some(("slurm", 4))),
            (&[("NSLOTS", "5")], Some(("sge", 5))),
            (&[("PBS_NP", "3")], Some(("pbs", 3))),
            (&[("LSB_DJOB_NUMPROC", "7")], Some(("lsf", 7))),
            (&[("NSLOTS", "")], None),
        ];
        for (env, want) in cases {
            let (_d, probe) = machine(&files, env);
            let c = Cores::detect(&probe);
            assert_eq!(c.scheduler.as_ref().map(|s| (s.name, s.cpus)), want, "{env:?}");
            if let Some((_, n)) = want {
                assert_eq!(c.default_threads, n.min(8), "{env:?}");
            }
        }
        let (_d, probe) = machine(&files, &[("SLURM_CPUS_PER_TASK", "2")]);
        assert_eq!(Cores::detect(&probe).reason, "smallest limit: slurm allocated 2 CPUs (SLURM_CPUS_PER_TASK=2)");
    }

    #[test]
    fn override_wins_and_thread_vars_are_reported() {
        let base = eight_cpus();
        let files = with(&base, &[]);
        let env = [("PFRAME_THREADS", "16"), ("NSLOTS", "2"), ("OMP_NUM_THREADS", "4"), ("HOME", "/root")];
        let (_d, probe) = machine(&files, &env);
        let c = Cores::detect(&probe);
        assert_eq!(c.default_threads, 16);
        assert_eq!(c.reason, "PFRAME_THREADS=16 overrides the detected limits");
        assert_eq!(c.env.keys().collect::<Vec<_>>(), ["OMP_NUM_THREADS", "PFRAME_THREADS"]);

        let (_d, probe) = machine(&files, &[("PFRAME_THREADS", "lots"), ("NSLOTS", "2")]);
        let c = Cores::detect(&probe);
        assert_eq!(c.default_threads, 2);
        assert!(c.reason.ends_with("(PFRAME_THREADS=\"lots\" ignored: not a positive integer)"), "{}", c.reason);
    }

    #[test]
    fn the_real_machine_is_consistent() {
        let c = Cores::detect(&Probe::system());
        assert!(c.default_threads >= 1 && c.logical >= 1);
        if let Some(a) = &c.affinity {
            assert!(c.default_threads <= a.len() || c.env.contains_key(OVERRIDE_VAR));
        }
    }

    #[test]
    fn job_memory_is_the_smallest_limit() {
        let meminfo = ("proc/meminfo", "MemTotal:       16384000 kB\nMemFree: 1 kB\n");
        let (_d, p) = machine(&[meminfo], &[]);
        assert_eq!(
            job_memory(&p).unwrap(),
            Memory { bytes: 16384000 * 1024, reason: "MemTotal in /proc/meminfo".into() }
        );
        // cgroup v2: the tightest ancestor; "max" is no limit.
        let files = [
            meminfo,
            ("proc/self/cgroup", "0::/job/step\n"),
            ("sys/fs/cgroup/job/step/memory.max", "max\n"),
            ("sys/fs/cgroup/job/memory.max", "4294967296\n"),
        ];
        let (_d, p) = machine(&files, &[]);
        let m = job_memory(&p).unwrap();
        assert_eq!(m.bytes, 4 << 30);
        assert!(m.reason.contains("/sys/fs/cgroup/job/memory.max"), "{}", m.reason);
        // cgroup v1's unlimited value is no limit; Slurm's per-CPU memory times the CPUs.
        let files = [
            meminfo,
            ("proc/self/cgroup", "5:memory:/slurm\n"),
            ("sys/fs/cgroup/memory/slurm/memory.limit_in_bytes", "9223372036854771712\n"),
        ];
        let (_d, p) = machine(&files, &[("SLURM_MEM_PER_CPU", "1000"), ("SLURM_CPUS_ON_NODE", "2")]);
        assert_eq!(job_memory(&p).unwrap().bytes, 2000 << 20);
        let (_d, p) = machine(&[meminfo], &[("SLURM_MEM_PER_NODE", "2048")]);
        assert_eq!(job_memory(&p).unwrap().bytes, 2 << 30);
        let (_d, p) = machine(&[], &[]);
        assert_eq!(job_memory(&p), None);
    }
}
