//! Command-line types (clap derive) and nothing else. Options shared by several subcommands live
//! in flattened structs so that they mean the same thing everywhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--version`: the package version, the git revision it was built from, and the engines.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PFRAME_GIT_REV"),
    "; engines: serial, parallel, polars ",
    env!("PFRAME_POLARS_VERSION"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "pframe",
    version = VERSION,
    about = "Parallel dataframe and word processing: the tutorial's jobs, fast, exact and in bounded memory",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count letters, characters, words, lines or bytes, with serial and parallel engines
    #[command(after_help = COUNT_EXAMPLES)]
    Count(CountArgs),
    /// Group CSV rows by key columns and aggregate them, from files or stdin, in bounded memory
    #[command(after_help = GROUPBY_EXAMPLES)]
    Groupby(GroupByArgs),
    /// Run a SQL query (polars SQL) over CSV input, registered as table `t`
    #[command(after_help = SQL_EXAMPLES)]
    Sql(SqlArgs),
    /// Generate deterministic datasets
    #[command(subcommand)]
    Gen(GenCommand),
    /// How many cores this job really has: CPUs, affinity, cgroup quota, batch scheduler
    #[command(after_help = CORES_HELP)]
    Cores(CoresArgs),
    /// Measure how the engines scale with threads, against each other and against Python
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script: pframe completions bash > /etc/bash_completion.d/pframe
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), of pframe or of one command: pframe man > pframe.1; man ./pframe.1
    Man {
        /// A command to print the page of (pframe man groupby > pframe-groupby.1)
        command: Option<String>,
    },
    /// Merge the partial results of the shards of a job into the result of one run
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Run count or groupby as a Slurm or SGE job array, one shard per task, plus a merge job
    #[command(after_help = SUBMIT_HELP)]
    Submit(SubmitArgs),
    /// The compute kernels that `pframe bench pi|matmul` times (one run, CSV on stdout)
    #[command(subcommand, hide = true)]
    Kernel(KernelCommand),
}

const MERGE_HELP: &str = "\
Every part must come from the same command, query and input (same path, size, modification time
and checksum), and the shards 0..N-1 must all be there, each once; the merged result is the one a
single run prints.

Examples:
  pframe count --shard 0/2 --partial-out p0.json words.txt
  pframe count --shard 1/2 --partial-out p1.json words.txt
  pframe merge p0.json p1.json";

const SUBMIT_HELP: &str = "\
Writes, in --workdir (which compute nodes must share), a job array of N tasks, each running the
command with --shard auto --partial-out, and a merge job that runs after all of them succeeded
(Slurm --dependency=afterok, SGE -hold_jid). Each task's -j is its allocation (pframe cores).

Examples:
  pframe submit --scheduler slurm --tasks 8 --cpus-per-task 4 -- pframe count big.txt
  pframe submit --scheduler slurm --tasks 4 --wait -- pframe groupby -b id1 -a 'sum(v1)' g1.csv
  pframe submit --scheduler sge --tasks 4 --dry-run -- pframe count big.txt";

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Partial files written by --partial-out
    #[arg(value_name = "PART", required = true)]
    pub parts: Vec<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerArg {
    Slurm,
    Sge,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The batch scheduler
    #[arg(long, value_enum)]
    pub scheduler: SchedulerArg,

    /// Number of array tasks (shards)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub tasks: u32,

    /// CPUs per task (Slurm -c, SGE -pe smp)
    #[arg(long, value_name = "C")]
    pub cpus_per_task: Option<u32>,

    /// Partition (Slurm) or queue (SGE)
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,

    /// Time limit per task (Slurm --time, SGE h_rt), e.g. 01:00:00
    #[arg(long, value_name = "T")]
    pub time: Option<String>,

    /// Directory for the job scripts, partial files, logs and result [default: ./pframe-job-<timestamp>]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Print the job scripts instead of submitting them
    #[arg(long)]
    pub dry_run: bool,

    /// Wait for the merge job and print the merged result on stdout
    #[arg(long)]
    pub wait: bool,

    /// The pframe command to run: `pframe count ...` or `pframe groupby ...` (after `--`)
    #[arg(value_name = "COMMAND", last = true, required = true)]
    pub command: Vec<String>,
}

const CORES_HELP: &str = "\
The default thread count of every command (-j) is the smallest of: the online logical CPUs, the
CPU affinity mask, the cgroup CPU quota (rounded up) and the batch scheduler's allocation (Slurm
SLURM_CPUS_PER_TASK, SLURM_CPUS_ON_NODE or SLURM_JOB_CPUS_PER_NODE; SGE NSLOTS; PBS PBS_NP or
NCPUS; LSF LSB_DJOB_NUMPROC). PFRAME_THREADS=N overrides it. OMP_NUM_THREADS, MKL_NUM_THREADS,
NUMBA_NUM_THREADS, NUMEXPR_NUM_THREADS, POLARS_MAX_THREADS and RAYON_NUM_THREADS are reported
(other libraries read them) but do not change pframe's choice.

Examples:
  pframe cores
  taskset -c 0 pframe cores -f json
  srun -c 4 pframe cores";

#[derive(Debug, Args)]
pub struct CoresArgs {
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = CoresFormat::Table)]
    pub format: CoresFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CoresFormat {
    Table,
    Json,
}

const BENCH_HELP: &str = "\
Every configuration (engine x threads) runs as a child process of pframe, --warmup times
unmeasured and then --runs times, timed from outside (wall clock) with its peak RSS; every run's
answer is checked against the serial engine's, and a mismatch stops the bench. The report gives
the median, min and max time, throughput, speedup over the serial engine at 1 thread, parallel
efficiency (speedup / threads), and Amdahl's serial fraction f fitted by least squares over each
engine's sweep, with the speedup it predicts at 8, 16 and 64 cores. Exports are rewritten after
each configuration, so an interrupted bench keeps what it measured.

Bench options come first; the rest of the line is the command's own options and files
(-e, -j, -f and -o are set by the bench for each configuration).";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// pframe count, per engine and thread count
    #[command(after_help = concat!(
        "Examples:\n  pframe bench count --threads 1,2 --plot speedup.svg words.txt\n",
        "  pframe bench count --pandas --engines serial,parallel -u letters words.txt"
    ))]
    Count(BenchPassArgs),
    /// pframe groupby, per engine and thread count
    #[command(after_help = concat!(
        "Examples:\n  pframe bench groupby --pandas --export-json g.json --by id1 --agg 'sum(v1),mean(v3)' g1.csv"
    ))]
    Groupby(BenchPassArgs),
    /// Monte Carlo pi (the tutorial's pool_basics.py): deterministic per seed, whatever the threads
    Pi(BenchPiArgs),
    /// A blocked, rayon-parallel f64 matrix product (the tutorial's lin_alg.py)
    Matmul(BenchMatmulArgs),
}

/// The options of every bench.
#[derive(Debug, Args)]
#[command(after_long_help = BENCH_HELP)]
pub struct BenchOpts {
    /// Engines to measure, comma-separated [default: serial,parallel; for groupby also polars]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub engines: Vec<String>,

    /// Thread counts, comma-separated [default: 1 up to the default thread count]
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Vec<u32>,

    /// Measured runs per configuration
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Unmeasured runs before them
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,

    /// Also run the Python equivalents from scripts/ (serial loop, multiprocessing.Pool, pandas)
    #[arg(long)]
    pub pandas: bool,

    /// Write the report as JSON
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,

    /// Write one CSV row per configuration
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,

    /// Write the report as Markdown tables
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,

    /// Plot speedup against threads, with the Amdahl fit: FILE.svg or FILE.png
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// A progress bar on stderr, shown only when stderr is a terminal.
#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Show a progress bar on stderr [default: for inputs over 256 MiB, and benches, on a terminal]
    #[arg(long, overrides_with = "no_progress")]
    pub progress: bool,

    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct BenchPassArgs {
    #[command(flatten)]
    pub bench: BenchOpts,

    /// The command's options and files, as for the command itself
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BenchPiArgs {
    #[command(flatten)]
    pub bench: BenchOpts,

    /// Number of random points
    #[arg(long, default_value_t = 200_000_000)]
    pub samples: u64,

    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BenchMatmulArgs {
    #[command(flatten)]
    pub bench: BenchOpts,

    /// Matrix size N (N x N times N x N)
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub size: u32,

    /// Random seed of the matrices
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Monte Carlo pi: prints samples,hits,pi
    Pi {
        #[arg(long)]
        samples: u64,
        #[command(flatten)]
        run: KernelRunArgs,
    },
    /// A x B for random N x N matrices: prints size,sum,trace of the product
    Matmul {
        #[arg(long)]
        size: u32,
        #[command(flatten)]
        run: KernelRunArgs,
    },
}

/// How a kernel runs: its seed, engine and threads.
#[derive(Debug, Args)]
pub struct KernelRunArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(short = 'e', long, value_enum, default_value_t = KernelEngineArg::Parallel)]
    pub engine: KernelEngineArg,
    #[command(flatten)]
    pub par: ParArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KernelEngineArg {
    Serial,
    Parallel,
}

const SQL_EXAMPLES: &str = "\
The input is read as groupby reads it (one CSV dialect, the same types and null markers) and handed
to polars as typed columns. A query that only selects, filters and computes per row (no
aggregation, ORDER BY, LIMIT, DISTINCT or window; a join, see below) streams: the input, file or
stdin, is cut into chunks, several queried at once, and rows are written in input order (CSV, TSV
and NDJSON as they come; table, JSON and Parquet at the end). Column types then come from the first
10000 rows (or --schema), and a later value a type cannot hold widens it from that row on. A GROUP
BY of columns with count/sum/avg/min/max/stddev/variance/median (after a WHERE or a join too, from
a stream) runs on pframe groupby's engine in bounded memory. Any other query reads the whole input:
its columns are typed over all of it and spooled to disk as Arrow IPC, and polars' streaming engine
runs the query over that; stdin is first copied to a temporary file (disk, not memory).

Several tables: --table NAME=PATH adds one (a plain FILE stays `t`). The stdin table, or else the
largest file, is streamed; the others are read whole into memory. A row-wise query over one join of
the streamed table that keeps its rows (inner; left, semi, anti with it on the left) streams it in
chunks, rows in its order; other queries read it whole. Null keys never match.

Examples:
  pframe sql 'SELECT id1, sum(v1) AS s FROM t WHERE v2 > 3 GROUP BY id1 ORDER BY id1' g1.csv
  cat g1.csv | pframe sql 'SELECT id1, v1 * 2 AS w FROM t WHERE v3 > 50' -
  pframe sql --null-values NA 'SELECT site, avg(ozone) AS o FROM t GROUP BY site' airquality.csv
  zcat big.csv.gz | pframe sql 'SELECT t.*, s.region FROM t JOIN s ON t.site = s.id' - \\
      --table 's=sites.tsv;delimiter=\\t'";

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query; the input is the table `t`
    pub query: String,

    /// Input file; `-` (or none, when stdin is not a terminal and no --table is given) for stdin
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Another table for the query: NAME=PATH (`-` for stdin), then its own CSV options if they
    /// differ from the command's, each after a `;`: delimiter=X, no-header, schema=SPEC,
    /// null-values=LIST. Repeatable.
    #[arg(long = "table", value_name = "NAME=PATH[;OPTION...]")]
    pub tables: Vec<String>,

    #[command(flatten)]
    pub csv: CsvArgs,

    /// Chunk size for a query run in chunks (row-wise, or a plain GROUP BY): 4096, 64KiB, 4MiB
    /// [default: 1MiB, or, joined to other tables, their size in memory up to 64MiB]. Results
    /// never depend on it.
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,

    /// Of a zip archive, read the member NAME (needed when it holds several)
    #[arg(long, value_name = "NAME")]
    pub zip_member: Option<String>,

    /// A GROUP BY's groups in no particular order, where the keys allow (as groupby
    /// --unordered): not sorted by key before what the query does over them, so that without an
    /// ORDER BY its rows come in any order (as polars' and DuckDB's do). Faster with millions of
    /// groups; the order may change from run to run
    #[arg(long)]
    pub unordered: bool,

    #[command(flatten)]
    pub par: ParArgs,

    #[command(flatten)]
    pub memory: MemoryArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

const GROUPBY_EXAMPLES: &str = "\
Aggregations: count (rows), count(c) (non-null values), sum, mean, min, max, std and var (sample,
ddof = 1, as pandas), median, n_unique, first, last. Empty fields are null and skipped by every
aggregation; null keys form their own group, listed last. Output: the key columns, then one
column per aggregation (count, sum_v1, mean_v3, ...), rows sorted by the keys (with --unordered,
in no particular order, where the keys allow: faster with millions of groups).

Memory grows with the number of groups, never with the input size, except for median and
n_unique, which must keep each group's values (distinct values for n_unique) to be exact. Groups
beyond --memory-limit (default: half of the memory the job has) spill to temporary files in
TMPDIR and are merged back at the end: the same rows, in bounded memory, said on stderr.

Examples:
  pframe groupby --by id1 --agg 'count,sum(v1),mean(v3)' data.csv
  cat data.csv | pframe groupby -b id1,id2 -a 'max(v1),std(v3)' -
  zcat big.csv.gz | pframe groupby -b id1,id2,id3 -a 'sum(v3),count' --memory-limit 1GiB -
  pframe gen csv --rows 10000000 --groups 100 -o g1.csv";

const COUNT_EXAMPLES: &str = "\
Examples:
  pframe count words.txt                      letters a-z, all 26, in key order
  pframe count -e serial --stats words.txt    the one-thread reference, with timing on stderr
  pframe count -u words --top 10 book.txt     the ten most frequent words
  cat big.txt | pframe count -u lines -       stdin, streamed in bounded memory
  pframe count -f json -o counts.json a.txt b.txt

Memory maps: files are memory-mapped by default. If another process truncates a file while it is
being counted, the process may be killed by SIGBUS; use --no-mmap for files that may change and
for network filesystems.";

/// Where the input comes from and how it is cut into chunks.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Input files; `-` is stdin. With no FILE, stdin is read when it is not a terminal.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Target chunk size (the analog of Pool.imap's chunksize): 4096, 64KiB, 4MiB, 1GiB.
    /// Chunks end on a record boundary; results never depend on the size. [default: 1MiB; 4MiB
    /// for groupby -e polars, whose per-chunk parser setup wants bigger chunks]
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,

    /// Read files with plain buffered reads instead of memory-mapping them
    #[arg(long)]
    pub no_mmap: bool,

    /// Of a zip archive, read only the member NAME [default: every member, each an input]
    #[arg(long, value_name = "NAME")]
    pub zip_member: Option<String>,
}

/// The CSV dialect and column types of a dataframe input.
#[derive(Debug, Args)]
pub struct CsvArgs {
    /// Field delimiter (one byte; `\t` for tab)
    #[arg(short = 'd', long, default_value = ",")]
    pub delimiter: String,

    /// The input has no header row: columns are named column_1, column_2, ...
    #[arg(long)]
    pub no_header: bool,

    /// Column types instead of inferring them: 'col:int,col2:float,col3:str'
    #[arg(long, value_name = "SPEC")]
    pub schema: Option<String>,

    /// Values that mean missing, besides the empty field (which always does): 'NA,NULL,\N'
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub null_values: Option<String>,
}

/// How much memory a group-by may use.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// The memory a group-by may use: 512MiB, 4GiB. When its groups pass about half of it, they
    /// spill to temporary files (in TMPDIR) and the result is merged back from them, the same
    /// rows. [default: half of the memory this job has: RAM, cgroup, Slurm, ulimit -v]
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

/// How much parallelism to use.
#[derive(Debug, Args)]
pub struct ParArgs {
    /// Worker threads [default: the cores this job has, see `pframe cores`]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
}

/// Where and how results are written.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, csv otherwise (or from -o's extension)]
    #[arg(short = 'f', long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Write results to FILE (atomically: a temporary file renamed into place on success; a device,
    /// pipe or symbolic link is written through)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Tsv,
    Json,
    Ndjson,
    /// a Parquet file (with -o FILE, or into a pipe)
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// a-z after lowercasing, as the tutorial's Python counts them (all 26 listed)
    Letters,
    /// every Unicode character except line endings
    Chars,
    /// whitespace-separated tokens, as Python's str.split()
    Words,
    /// number of newlines, as `wc -l`
    Lines,
    /// number of bytes, as `wc -c`
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CountEngineArg {
    /// one thread: the reference answer
    Serial,
    /// a rayon pool over the chunks, partial counts merged
    Parallel,
    /// each chunk counted by a polars lazy query
    Polars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// by key (letter, character or word) ascending
    Key,
    /// by count descending, ties by key
    Count,
}

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// What to count
    #[arg(short = 'u', long, value_enum, default_value_t = UnitArg::Letters)]
    pub unit: UnitArg,

    /// Engine
    #[arg(short = 'e', long, value_enum, default_value_t = CountEngineArg::Parallel)]
    pub engine: CountEngineArg,

    #[command(flatten)]
    pub par: ParArgs,

    /// Count invalid UTF-8 as U+FFFD instead of failing (chars, words)
    #[arg(long)]
    pub lossy: bool,

    /// Fold words to lowercase before counting them (words)
    #[arg(short = 'i', long)]
    pub ignore_case: bool,

    /// Only the K most frequent keys (sorted by count unless --sort key)
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,

    /// Row order [default: key, or count with --top]
    #[arg(long, value_enum)]
    pub sort: Option<SortArg>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Print the engine, threads, bytes, chunks, time and throughput to stderr
    #[arg(long)]
    pub stats: bool,

    #[command(flatten)]
    pub shard: ShardArgs,

    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// One shard of a job split across processes or cluster tasks.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Process only shard I of N of the FILE (I from 0), cut on record boundaries; `auto` takes I
    /// and N from a Slurm (SLURM_ARRAY_TASK_ID) or SGE (SGE_TASK_ID) array task
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,

    /// Write this run's mergeable partial state to FILE instead of the result (`pframe merge`
    /// combines the shards)
    #[arg(long, value_name = "FILE")]
    pub partial_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByEngineArg {
    /// the fastest engine for the query and input (parallel)
    Auto,
    /// a rayon pool over quote-aware chunks, partial aggregates merged
    Parallel,
    /// each chunk parsed by polars' CSV reader (on polars' pool), aggregated into the same
    /// mergeable states
    Polars,
    /// one thread: the reference answer
    Serial,
}

#[derive(Debug, Args)]
pub struct GroupByArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Key columns, comma-separated
    #[arg(short = 'b', long, value_name = "COLS", value_delimiter = ',', required = true)]
    pub by: Vec<String>,

    /// Aggregations, comma-separated: count, sum(c), mean(c), ...
    #[arg(short = 'a', long, value_name = "SPECS", required = true)]
    pub agg: String,

    /// Engine
    #[arg(short = 'e', long, value_enum, default_value_t = GroupByEngineArg::Auto)]
    pub engine: GroupByEngineArg,

    /// Rows in no particular order, as pandas' sort=False: the groups are not sorted by key (a
    /// third of the run with millions of groups). The order may change from run to run
    #[arg(long)]
    pub unordered: bool,

    #[command(flatten)]
    pub par: ParArgs,

    #[command(flatten)]
    pub csv: CsvArgs,

    /// Input format [default: ndjson for .ndjson/.jsonl files, else csv]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    #[command(flatten)]
    pub memory: MemoryArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub shard: ShardArgs,

    #[command(flatten)]
    pub progress: ProgressArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    Csv,
    /// one JSON object per line
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// English-like word lists, one word per line (Zipf-distributed, deterministic per seed)
    #[command(
        after_help = "Examples:\n  pframe gen words -n 1000000 --seed 42 -o words.txt\n  pframe gen words -n 100 --crlf | pframe count"
    )]
    Words(GenWordsArgs),
    /// The H2O db-benchmark group-by table (G1): id1..id6, v1, v2, v3
    #[command(after_help = "Examples:\n  pframe gen csv --rows 10000000 --groups 100 --seed 1 -o g1.csv")]
    Csv(GenCsvArgs),
    /// The H2O db-benchmark join tables (J1): x and its small, medium and big right-hand tables
    #[command(after_help = JOIN_GEN_HELP)]
    Join(GenJoinArgs),
}

const JOIN_GEN_HELP: &str = "\
Writes four CSV files named as the db-benchmark's (J1_1e7_NA_0_0.csv is x; J1_1e7_1e1_0_0.csv,
J1_1e7_1e4_0_0.csv and J1_1e7_1e7_0_0.csv are small, medium and big, of N/1e6, N/1e3 and N rows,
at least 10) into DIR, and prints their paths. x: id1, id2, id3 integer keys, id4, id5, id6 the
same as factors (\"id\" and the number), v1; small: id1, id4, v2; medium: id1, id2, id4, id5, v2;
big: id1..id6, v2. 90% of each key's values are on both sides, 10% on one only.

Examples:
  pframe gen join --rows 10000000 --out-dir data
  pframe sql 'SELECT * FROM x JOIN small USING (id1)' --table x=data/J1_1e7_NA_0_0.csv \\
      --table small=data/J1_1e7_1e1_0_0.csv";

#[derive(Debug, Args)]
pub struct GenJoinArgs {
    /// Rows of x (and of the big table)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(10..=4_000_000_000))]
    pub rows: u64,

    /// Random seed: the same seed gives the same files
    #[arg(long, default_value_t = 108)]
    pub seed: u64,

    /// Missing values in x, as the db-benchmark's `_5_0`: this percentage of each key's distinct
    /// values (every row holding one), and of v1's rows, are empty
    #[arg(long, value_name = "P", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub na_percent: u32,

    /// x sorted by id1, id2, id3 and each right table by its last integer key (`_0_1`)
    #[arg(long)]
    pub sorted: bool,

    /// Directory to write the files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressArg {
    Gz,
    Bgzf,
    Zst,
    Bz2,
    Xz,
}

#[derive(Debug, Args)]
pub struct GenCsvArgs {
    /// Number of rows
    #[arg(long, value_name = "N")]
    pub rows: u64,

    /// Number of groups K (id1, id2, id4, id5 take K values; id3, id6 take N/K)
    #[arg(long, value_name = "K", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub groups: u64,

    /// Random seed: the same seed gives the same file
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Missing values, as the db-benchmark's datasets `_5_0`: this percentage of each id
    /// column's distinct values, and of each value column's rows, are empty
    #[arg(long, value_name = "P", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub na_percent: u32,

    /// Rows sorted by id1..id6, as the db-benchmark's datasets `_0_1` (built in memory first)
    #[arg(long)]
    pub sorted: bool,

    /// Compress the output: gz, bgzf (gzip in independent blocks), zst (1 MiB frames), bz2, xz
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub compress: Option<CompressArg>,

    /// Write to FILE (atomically) instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenWordsArgs {
    /// Number of words (lines)
    #[arg(short = 'n', long, value_name = "N")]
    pub count: u64,

    /// Random seed: the same seed gives the same file
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// End lines with \r\n, like the tutorial's 1m_words.txt
    #[arg(long)]
    pub crlf: bool,

    /// Draw the words from N distinct words (by Zipf's law); by default from 50,000 generated
    /// words, about 42,600 of them distinct
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub vocabulary: Option<u64>,

    /// Compress the output: gz, bgzf (gzip in independent blocks), zst (1 MiB frames), bz2, xz
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub compress: Option<CompressArg>,

    /// Write to FILE (atomically) instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `pframe bench count|groupby` takes its own options before or after the command's files, as
/// hyperfine and most tools do: every bench option found among the command's arguments (up to a
/// `--`, after which everything is the command's, untouched) is moved before them, where clap
/// reads it as the bench's. A bench option wins over a command option of the same name
/// (`--threads 1,2` is the bench's sweep; `-j N` stays the command's).
pub fn hoist_bench_options(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is = |i: usize, s: &str| args.get(i).is_some_and(|a| a == s);
    if !(is(1, "bench") && (is(2, "count") || is(2, "groupby"))) {
        return args;
    }
    let options = {
        let cmd = BenchOpts::augment_args(clap::Command::new("bench"));
        cmd.get_arguments()
            .filter_map(|a| Some((a.get_long()?.to_string(), a.get_action().takes_values())))
            .collect::<Vec<_>>()
    };
    let mut args = args.into_iter();
    let mut head: Vec<std::ffi::OsString> = args.by_ref().take(3).collect();
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(args.by_ref());
            break;
        }
        let bench = arg.to_str().and_then(|a| a.strip_prefix("--")).and_then(|long| {
            let (name, inline) = long.split_once('=').map_or((long, false), |(n, _)| (n, true));
            options.iter().find(|(o, _)| o == name).map(|(_, takes)| *takes && !inline)
        });
        match bench {
            Some(takes_value) => {
                head.push(arg);
                if takes_value && let Some(value) = args.next() {
                    head.push(value);
                }
            }
            None => rest.push(arg),
        }
    }
    head.extend(rest);
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoisted(line: &str) -> String {
        let args = line.split(' ').map(std::ffi::OsString::from).collect();
        let out: Vec<String> = hoist_bench_options(args).into_iter().map(|a| a.into_string().unwrap()).collect();
        out.join(" ")
    }

    #[test]
    fn bench_options_move_before_the_commands_arguments() {
        assert_eq!(hoisted("pframe bench count w.txt --threads 1,2"), "pframe bench count --threads 1,2 w.txt");
        assert_eq!(
            hoisted("pframe bench count -u words w.txt --runs=3 --pandas -j 2"),
            "pframe bench count --runs=3 --pandas -u words w.txt -j 2"
        );
        assert_eq!(
            hoisted("pframe bench groupby --runs 2 --by id1 g.csv -- --threads x"),
            "pframe bench groupby --runs 2 --by id1 g.csv -- --threads x"
        );
        assert_eq!(hoisted("pframe count w.txt --threads 2"), "pframe count w.txt --threads 2");
        assert_eq!(hoisted("pframe bench pi --runs 2"), "pframe bench pi --runs 2");
    }
}
