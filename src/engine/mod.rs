//! Engines: the kernels, the pipelines that drive them over chunks, and the jobs built on both.

pub mod compute;
pub mod count;
pub mod groupby;
pub mod grow;
pub mod kernels;
pub mod pieces;
pub mod pipeline;
pub mod polars;
pub mod sql;
pub mod words;

use std::fmt;
use std::str::FromStr;

/// How a job is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// One thread: the reference answer and the baseline of every speedup.
    Serial,
    /// A rayon pool over the chunks, the same kernels, partials merged.
    Parallel,
    /// Each chunk as a polars frame, counted by a lazy query.
    Polars,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Serial, Engine::Parallel, Engine::Polars];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Serial => "serial",
            Engine::Parallel => "parallel",
            Engine::Polars => "polars",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine \"{s}\" (expected serial, parallel or polars)"))
    }
}
