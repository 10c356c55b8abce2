//! Command-line types (clap derive) and nothing else. Options shared by several subcommands live
//! in flattened structs so that they mean the same thing everywhere.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pframe",
    version,
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
}

const SQL_EXAMPLES: &str = "\
The input is scanned lazily by polars and the query runs on its streaming engine. stdin is first
copied to a temporary file (disk, not memory), and the query then reads it whole.

Examples:
  pframe sql 'SELECT id1, sum(v1) AS s FROM t WHERE v2 > 3 GROUP BY id1 ORDER BY id1' g1.csv
  cat g1.csv | pframe sql 'SELECT count(*) AS n FROM t' -";

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query; the input is the table `t`
    pub query: String,

    /// Input file; `-` (or none, when stdin is not a terminal) for stdin
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub csv: CsvArgs,

    #[command(flatten)]
    pub par: ParArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

const GROUPBY_EXAMPLES: &str = "\
Aggregations: count (rows), count(c) (non-null values), sum, mean, min, max, std and var (sample,
ddof = 1, as pandas), median, n_unique, first, last. Empty fields are null and skipped by every
aggregation; null keys form their own group, listed last. Output: the key columns, then one
column per aggregation (count, sum_v1, mean_v3, ...), rows sorted by the keys.

Memory grows with the number of groups, never with the input size, except for median and
n_unique, which must keep each group's values (distinct values for n_unique) to be exact.

Examples:
  pframe groupby --by id1 --agg 'count,sum(v1),mean(v3)' data.csv
  cat data.csv | pframe groupby -b id1,id2 -a 'max(v1),std(v3)' -
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
    /// Chunks end on a line boundary; results never depend on the size.
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub chunk_size: String,

    /// Read files with plain buffered reads instead of memory-mapping them
    #[arg(long)]
    pub no_mmap: bool,
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
}

/// How much parallelism to use.
#[derive(Debug, Args)]
pub struct ParArgs {
    /// Worker threads [default: the CPUs this process may run on]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
}

/// Where and how results are written.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, csv otherwise (or from -o's extension)]
    #[arg(short = 'f', long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Write results to FILE (atomically: a temporary file renamed into place on success)
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByEngineArg {
    /// the fastest engine for the query and input (parallel)
    Auto,
    /// a rayon pool over quote-aware chunks, partial aggregates merged
    Parallel,
    /// polars' lazy CSV scan and streaming group-by (one file)
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

    #[command(flatten)]
    pub par: ParArgs,

    #[command(flatten)]
    pub csv: CsvArgs,

    /// Input format [default: ndjson for .ndjson/.jsonl files, else csv]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    #[command(flatten)]
    pub output: OutputArgs,
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

    /// Write to FILE (atomically) instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
