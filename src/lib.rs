//! pframe: parallel dataframe and word processing for the command line.
//!
//! Data flows one way: [`input`] cuts files and pipes into record-aligned chunks, [`engine`] runs
//! kernels over them (serially, on a rayon pool, or through polars), [`agg`] merges the partial
//! results, and [`output`] writes them. The binary's `cmd` modules only wire these together.

pub mod agg;
pub mod bench;
pub mod cluster;
pub mod cores;
pub mod datagen;
pub mod engine;
pub mod input;
pub mod output;
