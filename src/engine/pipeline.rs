//! The chunk pipeline shared by every engine: chunks in, per-chunk results out, merged in input
//! order.
//!
//! The serial driver is the reference: it reads a chunk, works on it, hands the result to the sink,
//! and repeats. The parallel driver does the same work on a rayon pool of its own (never the global
//! one, so thread counts stay explicit and local): the calling thread reads chunks and spawns one
//! task per chunk, keeping at most `2 x threads` chunks in flight, and hands results to the sink
//! strictly in input order (the ordered `imap` of `multiprocessing`). The bound on chunks in flight
//! is the memory bound of every command: a few chunks, never the whole input.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

use crate::input::InputError;

/// Chunks in flight per worker thread: enough to keep every worker busy while the reader fills the
/// next chunk, few enough to bound memory.
pub const IN_FLIGHT_PER_THREAD: usize = 2;

/// Runs `work` on every chunk on one thread, handing each result to `sink` in order.
///
/// `sink` receives the result and the chunk it came from; a sink error stops the run. A "chunk"
/// is any piece of input: bytes ([`Chunk`]) or, for table formats, a row group.
pub fn drive_serial<T, R, E, W, S>(
    chunks: impl Iterator<Item = Result<T, InputError>>,
    work: W,
    mut sink: S,
) -> Result<(), E>
where
    E: From<InputError>,
    W: Fn(&T) -> R,
    S: FnMut(R, T) -> Result<(), E>,
{
    for chunk in chunks {
        let chunk = chunk?;
        let result = work(&chunk);
        sink(result, chunk)?;
    }
    Ok(())
}

/// Runs `work` on every chunk on `pool`, handing each result to `sink` in input order.
///
/// The calling thread reads the chunks and runs the sink; `pool`'s threads run `work`. On a sink or
/// input error no further chunk is started, the chunks in flight finish, and the error is returned.
pub fn drive_parallel<T, R, E, W, S>(
    pool: &rayon::ThreadPool,
    chunks: impl Iterator<Item = Result<T, InputError>>,
    work: W,
    mut sink: S,
) -> Result<(), E>
where
    T: Send,
    R: Send,
    E: From<InputError>,
    W: Fn(&T) -> R + Sync,
    S: FnMut(R, T) -> Result<(), E>,
{
    let max_in_flight = (pool.current_num_threads() * IN_FLIGHT_PER_THREAD).max(2);
    let work = &work;
    pool.in_place_scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, thread::Result<R>, T)>();
        let mut in_flight = 0usize;
        let mut next = 0usize;
        let mut done: BTreeMap<usize, (thread::Result<R>, T)> = BTreeMap::new();

        // Hands finished results to the sink in order; returns the first sink error.
        // A worker's panic is re-raised here, on the calling thread, in input order.
        let mut drain = |done: &mut BTreeMap<usize, (thread::Result<R>, T)>, next: &mut usize| -> Result<(), E> {
            while let Some((result, chunk)) = done.remove(next) {
                *next += 1;
                let result = result.unwrap_or_else(|payload| panic::resume_unwind(payload));
                sink(result, chunk)?;
            }
            Ok(())
        };

        let mut outcome: Result<(), E> = Ok(());
        for (seq, chunk) in chunks.enumerate() {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    outcome = Err(e.into());
                    break;
                }
            };
            while in_flight >= max_in_flight {
                let (i, r, c) = rx.recv().expect("a worker holds a sender while a chunk is in flight");
                in_flight -= 1;
                done.insert(i, (r, c));
                if let Err(e) = drain(&mut done, &mut next) {
                    outcome = Err(e);
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
            let tx = tx.clone();
            let i = seq;
            in_flight += 1;
            scope.spawn(move |_| {
                // Catch a panic so that the reader, waiting for this result, is not left hanging.
                let r = panic::catch_unwind(AssertUnwindSafe(|| work(&chunk)));
                // The receiver outlives the scope, so this cannot fail.
                let _ = tx.send((i, r, chunk));
            });
        }
        while in_flight > 0 {
            let (i, r, c) = rx.recv().expect("a worker holds a sender while a chunk is in flight");
            in_flight -= 1;
            if outcome.is_ok() {
                done.insert(i, (r, c));
                if let Err(e) = drain(&mut done, &mut next) {
                    outcome = Err(e);
                }
            }
        }
        outcome
    })
}

/// Builds a pool of exactly `threads` workers for one run.
pub fn build_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("pframe-worker-{i}"))
        .build()
        .expect("the operating system refused to start worker threads")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Chunk;

    fn chunks(n: usize) -> impl Iterator<Item = Result<Chunk, InputError>> {
        (0..n).map(|i| Ok(Chunk::from_vec(i, i as u64, vec![i as u8])))
    }

    #[test]
    fn parallel_results_arrive_in_input_order() {
        let pool = build_pool(2);
        let mut seen = Vec::new();
        drive_parallel::<_, _, InputError, _, _>(
            &pool,
            chunks(500),
            |c| {
                // Uneven work so that completion order differs from input order.
                if c.index % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                c.index
            },
            |r, c| {
                assert_eq!(r, c.index);
                seen.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn a_sink_error_stops_the_run_and_is_returned() {
        let pool = build_pool(2);
        let mut calls = 0;
        let err = drive_parallel(
            &pool,
            chunks(1000),
            |c| c.index,
            |r, _| {
                calls += 1;
                if r == 10 { Err(InputError::IsDirectory { name: "x".into() }) } else { Ok(()) }
            },
        )
        .unwrap_err();
        assert!(matches!(err, InputError::IsDirectory { .. }));
        assert_eq!(calls, 11);
    }

    #[test]
    fn serial_visits_every_chunk_in_order() {
        let mut seen = Vec::new();
        drive_serial::<_, _, InputError, _, _>(
            chunks(5),
            |c| c.index * 2,
            |r, _| {
                seen.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![0, 2, 4, 6, 8]);
    }
}
