//! Parquet output: a result table as one Parquet file (uncompressed; results are small), each
//! column typed from its values.

use std::io::{self, Write};

use polars::prelude::*;

use super::{Table, Value};

/// Writes `table` as a Parquet file to `out`.
pub fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let mut df = frame(table)?;
    ParquetWriter::new(out).with_compression(ParquetCompression::Uncompressed).finish(&mut df).map_err(to_io)?;
    Ok(())
}

/// The table as a polars frame, each column typed from its values (see [`Class`]).
pub fn frame(table: &Table) -> io::Result<DataFrame> {
    let classes: Vec<Class> = (0..table.headers.len()).map(|c| Class::of(&table.rows, c)).collect();
    block_frame(&table.headers, &table.rows, &classes)
}

/// The table whose rows are `blocks` one after another, as one polars frame typed as [`frame`]
/// types it: each column's [`Class`] gathered over every block, then each block's columns built
/// (and its rows dropped) on its own thread of the current rayon pool, then the blocks' columns
/// put end to end. Millions of groups' rows were collected into one table and converted on one
/// thread before.
pub fn frame_of_blocks(headers: &[String], blocks: Vec<Vec<Vec<Value>>>) -> io::Result<DataFrame> {
    use rayon::prelude::*;
    let classes = blocks
        .par_iter()
        .map(|rows| (0..headers.len()).map(|c| Class::of(rows, c)).collect::<Vec<_>>())
        .reduce(|| vec![Class::default(); headers.len()], |a, b| a.iter().zip(&b).map(|(x, y)| x.or(y)).collect());
    let frames: Vec<DataFrame> =
        blocks.into_par_iter().map(|rows| block_frame(headers, &rows, &classes)).collect::<io::Result<_>>()?;
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        return block_frame(headers, &[], &classes);
    };
    for df in frames {
        all.vstack_mut_owned(df).map_err(to_io)?;
    }
    Ok(all)
}

/// What a column's values are, as far as its type goes: which kinds of value it holds. Classes
/// of parts of a column combine by [`Class::or`] into the whole column's.
#[derive(Clone, Copy, Default)]
struct Class {
    text: bool,
    float: bool,
    int: bool,
    uint: bool,
    /// An unsigned value past `i64::MAX`.
    large_uint: bool,
}

impl Class {
    fn of(rows: &[Vec<Value>], c: usize) -> Class {
        let mut class = Class::default();
        for row in rows {
            match row[c] {
                Value::Str(_) => class.text = true,
                Value::Float(_) => class.float = true,
                Value::Int(_) => class.int = true,
                Value::UInt(u) => {
                    class.uint = true;
                    class.large_uint |= u > i64::MAX as u64;
                }
                Value::Null => {}
            }
        }
        class
    }

    fn or(&self, other: &Class) -> Class {
        Class {
            text: self.text || other.text,
            float: self.float || other.float,
            int: self.int || other.int,
            uint: self.uint || other.uint,
            large_uint: self.large_uint || other.large_uint,
        }
    }
}

/// A frame of `rows`, column `c` of type `classes[c]`'s (see [`column`]).
fn block_frame(headers: &[String], rows: &[Vec<Value>], classes: &[Class]) -> io::Result<DataFrame> {
    let columns = classes.iter().enumerate().map(|(c, class)| column(&headers[c], rows, c, *class)).collect::<Vec<_>>();
    DataFrame::new_infer_height(columns).map_err(to_io)
}

/// Column `c` of `rows` as a polars column of its class's type: integers (signed, or unsigned when
/// no value is negative), floats when any value is one, text when any value is text or none is
/// there; nulls stay null.
fn column(header: &str, rows: &[Vec<Value>], c: usize, class: Class) -> Column {
    let name: PlSmallStr = header.into();
    let cells = || rows.iter().map(move |r| &r[c]);
    let series = if class.text || !(class.float || class.int || class.uint) {
        // Texts borrowed from their cells (millions of groups' keys were each copied twice).
        let texts: StringChunked = cells()
            .map(|v| match v {
                Value::Null => None,
                Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                other => Some(std::borrow::Cow::Owned(other.to_string())),
            })
            .collect();
        texts.with_name(name).into_series()
    } else if class.float || (class.int && class.large_uint) {
        let xs: Vec<Option<f64>> = cells()
            .map(|v| match *v {
                Value::Int(i) => Some(i as f64),
                Value::UInt(u) => Some(u as f64),
                Value::Float(x) => Some(x),
                _ => None,
            })
            .collect();
        Series::new(name, xs)
    } else if class.int {
        let xs: Vec<Option<i64>> = cells()
            .map(|v| match *v {
                Value::Int(i) => Some(i),
                Value::UInt(u) => Some(u as i64),
                _ => None,
            })
            .collect();
        Series::new(name, xs)
    } else {
        let xs: Vec<Option<u64>> = cells().map(|v| if let Value::UInt(u) = *v { Some(u) } else { None }).collect();
        Series::new(name, xs)
    };
    series.into_column()
}

fn to_io(e: PolarsError) -> io::Error {
    io::Error::other(format!("parquet: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut into blocks anywhere, a table's frame is the whole table's: each column typed by its
    /// values in every block (a block may hold only nulls, or no float where a later one does).
    #[test]
    fn blocks_make_the_whole_tables_frame() {
        let headers: Vec<String> =
            ["nulls_then_ints", "ints_then_a_float", "uints_and_ints", "large_uint", "text", "none"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let rows: Vec<Vec<Value>> = (0..50i64)
            .map(|i| {
                vec![
                    if i < 30 { Value::Null } else { Value::Int(-i) },
                    if i == 49 { Value::Float(2.5) } else { Value::Int(i) },
                    if i % 2 == 0 { Value::UInt(i as u64) } else { Value::Int(i) },
                    if i == 0 { Value::UInt(u64::MAX) } else { Value::Int(i) },
                    if i == 10 { Value::Str("x".into()) } else { Value::Null },
                    Value::Null,
                ]
            })
            .collect();
        let whole =
            frame(&Table { headers: headers.clone(), rows: rows.clone(), json: crate::output::JsonShape::Records })
                .unwrap();
        let dtypes: Vec<DataType> = whole.dtypes();
        assert_eq!(
            dtypes,
            [
                DataType::Int64,
                DataType::Float64,
                DataType::Int64,
                DataType::Float64,
                DataType::String,
                DataType::String
            ]
        );
        for size in [1, 7, 16, 30, 49, 50] {
            let blocks: Vec<Vec<Vec<Value>>> = rows.chunks(size).map(<[_]>::to_vec).collect();
            let df = frame_of_blocks(&headers, blocks).unwrap();
            assert_eq!(df.dtypes(), dtypes, "blocks of {size}");
            assert!(df.equals_missing(&whole), "blocks of {size}:\n{df}\n{whole}");
        }
        let empty = frame_of_blocks(&headers, Vec::new()).unwrap();
        assert_eq!((empty.height(), empty.width()), (0, headers.len()));
    }
}
