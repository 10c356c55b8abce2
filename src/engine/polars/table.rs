//! Table formats as inputs: Parquet and Arrow IPC files, read by polars a piece at a time (a
//! Parquet row group, or a slice of an IPC file's rows), so that the engines parallelise and shard
//! over pieces as they do over chunks. Their columns are typed by the file, not inferred.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::input::TableFormat;
use crate::input::value::Kind;

/// Rows per piece of an IPC file (which has no row groups to follow).
const IPC_PIECE: usize = 1 << 16;

/// A Parquet or IPC file opened for reading in pieces.
pub struct TableInput {
    path: PathBuf,
    format: TableFormat,
    schema: SchemaRef,
    /// Each piece's first row and number of rows.
    pieces: Vec<(usize, usize)>,
    /// Each piece's first byte in the file, and the file's size: shards are byte ranges.
    byte_starts: Vec<u64>,
    size: u64,
    /// An IPC file, read whole (polars maps it): its pieces are slices of it.
    whole: Option<DataFrame>,
}

impl TableInput {
    pub fn open(path: &Path, format: TableFormat) -> PolarsResult<TableInput> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        match format {
            TableFormat::Parquet => {
                let mut reader = ParquetReader::new(file);
                let arrow = reader.schema()?;
                let schema = Arc::new(Schema::from_arrow_schema(&arrow));
                let (mut pieces, mut byte_starts) = (Vec::new(), Vec::new());
                let mut at = 0usize;
                for rg in &reader.get_metadata()?.row_groups {
                    pieces.push((at, rg.num_rows()));
                    byte_starts.push(rg.full_byte_range().start);
                    at += rg.num_rows();
                }
                Ok(TableInput { path: path.to_path_buf(), format, schema, pieces, byte_starts, size, whole: None })
            }
            TableFormat::Ipc => {
                let df = IpcReader::new(file).finish()?;
                let height = df.height();
                let n = height.div_ceil(IPC_PIECE);
                let pieces = (0..n).map(|i| (i * IPC_PIECE, IPC_PIECE.min(height - i * IPC_PIECE))).collect();
                // Record batches are not indexed by byte here: a piece's share of the file stands in.
                let byte_starts = (0..n as u64).map(|i| i * size / n as u64).collect();
                let schema = df.schema().clone();
                Ok(TableInput { path: path.to_path_buf(), format, schema, pieces, byte_starts, size, whole: Some(df) })
            }
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.schema.iter_names().map(|n| n.to_string()).collect()
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// pframe's kinds of the columns: integers, floats, and text for anything else (strings,
    /// booleans, dates), which reaches the group-by as its printed form.
    pub fn kinds(&self) -> Vec<Kind> {
        self.schema
            .iter_values()
            .map(|t| {
                if t.is_integer() {
                    Kind::Int
                } else if t.is_float() {
                    Kind::Float
                } else {
                    Kind::Str
                }
            })
            .collect()
    }

    /// The number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The rows before piece `i`.
    pub fn first_row(&self, i: usize) -> u64 {
        self.pieces[i].0 as u64
    }

    pub fn rows(&self) -> u64 {
        self.pieces.last().map_or(0, |(at, n)| (at + n) as u64)
    }

    /// Piece `i` with the columns `columns` (header indices).
    pub fn piece(&self, i: usize, columns: &[usize]) -> PolarsResult<DataFrame> {
        let (at, n) = self.pieces[i];
        let names: Vec<String> =
            columns.iter().map(|&c| self.schema.get_at_index(c).expect("a column").0.to_string()).collect();
        match &self.whole {
            Some(df) => df.slice(at as i64, n).select(names),
            None => ParquetReader::new(std::fs::File::open(&self.path)?)
                .with_columns(Some(names))
                .with_slice(Some((at, n)))
                .read_parallel(ParallelStrategy::None)
                .finish(),
        }
    }

    /// The pieces of shard `shard`, and its byte range in the file: shards tile the file (the
    /// first starts at 0, the last ends at its size) and share out its pieces.
    pub fn shard(&self, shard: crate::input::Shard) -> (std::ops::Range<usize>, (u64, u64)) {
        let n = self.pieces.len();
        let cut = |i: u32| (n as u64 * u64::from(i) / u64::from(shard.count)) as usize;
        let (from, to) = (cut(shard.index), cut(shard.index + 1));
        let byte = |p: usize| {
            if p == 0 {
                0
            } else if p >= n {
                self.size
            } else {
                self.byte_starts[p]
            }
        };
        (from..to, (byte(from), byte(to)))
    }

    /// A lazy scan of the whole file (no globbing of its name), for queries that need all of it.
    pub fn scan(&self) -> PolarsResult<LazyFrame> {
        let path = self.path.to_str().ok_or_else(|| polars_err!(ComputeError: "path is not valid UTF-8"))?;
        let args = UnifiedScanArgs { glob: false, ..UnifiedScanArgs::default() };
        match self.format {
            TableFormat::Parquet => {
                LazyFrame::scan_parquet(PlRefPath::new(path), ScanArgsParquet { glob: false, ..Default::default() })
            }
            TableFormat::Ipc => LazyFrame::scan_ipc(PlRefPath::new(path), IpcScanOptions::default(), args),
        }
    }
}

/// A column read a cell at a time.
enum Cells {
    Str(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
    /// Anything else, printed as polars prints it (booleans, dates, ...).
    Other(Series),
}

impl Cells {
    fn of(c: &Column) -> PolarsResult<Cells> {
        let s = c.as_materialized_series().rechunk();
        Ok(match s.dtype() {
            DataType::String => Cells::Str(s.str()?.clone()),
            t if t.is_integer() => Cells::Int(s.cast(&DataType::Int64)?.i64()?.clone()),
            t if t.is_float() => Cells::Float(s.cast(&DataType::Float64)?.f64()?.clone()),
            _ => Cells::Other(s),
        })
    }

    /// Appends the text of row `row` (nothing for a null).
    fn write(&self, out: &mut Vec<u8>, row: usize) {
        use std::io::Write;
        match self {
            Cells::Str(c) => out.extend_from_slice(c.get(row).unwrap_or_default().as_bytes()),
            Cells::Int(c) => {
                if let Some(i) = c.get(row) {
                    let _ = write!(out, "{i}");
                }
            }
            Cells::Float(c) => {
                if let Some(x) = c.get(row) {
                    let _ = write!(out, "{x:?}");
                }
            }
            Cells::Other(s) => match s.get(row) {
                Ok(AnyValue::Null) | Err(_) => {}
                Ok(v) => {
                    let _ = write!(out, "{v}");
                }
            },
        }
    }
}

/// Hands `visit` each row of `df` as the text fields the group-by's aggregator reads (numbers in
/// pframe's printed form, which reads back to the same value; null as an empty field), with its
/// row number in `df` (from 1).
pub fn for_each_text_row<E: From<PolarsError>>(
    df: &DataFrame,
    mut visit: impl FnMut(&[&[u8]], u64) -> Result<(), E>,
) -> Result<(), E> {
    let columns = df.columns().iter().map(Cells::of).collect::<PolarsResult<Vec<_>>>()?;
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); columns.len()];
    for row in 0..df.height() {
        for (text, cells) in texts.iter_mut().zip(&columns) {
            text.clear();
            cells.write(text, row);
        }
        let fields: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        visit(&fields, row as u64 + 1)?;
    }
    Ok(())
}

/// A failure reading a piece, as a fault of the piece's first row.
impl From<PolarsError> for crate::input::dialect::Fault {
    fn from(e: PolarsError) -> Self {
        crate::input::dialect::Fault { line: 1, message: crate::engine::sql::first_line(&e) }
    }
}
