//! Criterion benchmarks of the counting kernels and of the whole count job per engine, in bytes
//! per second, on a deterministic English-like word list held in memory (kernels) or a temporary
//! file in the page cache (engines).
//!
//!     cargo bench --bench kernels
//!     cargo bench --bench kernels -- letters     # one group
//!     cargo bench --bench kernels -- floats      # the output's float formatting
//!     cargo bench --bench kernels -- word_stages # what each stage of `count -u words` costs

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use pframe::agg::Unit;
use pframe::engine::Engine;
use pframe::engine::count::{CountPlan, count};
use pframe::engine::kernels;
use pframe::input::{ReadOptions, Source};

fn words(bytes: usize) -> Vec<u8> {
    let mut v = Vec::new();
    // ~9 bytes per word.
    pframe::datagen::write_words((bytes / 9) as u64, 1, true, &mut v).unwrap();
    v
}

fn bench_kernels(c: &mut Criterion) {
    let data = words(16 << 20);
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("byte_histogram", |b| b.iter(|| kernels::byte_histogram(&data)));
    g.bench_function("letters", |b| b.iter(|| kernels::count_letters(&data)));
    g.bench_function("newlines", |b| b.iter(|| kernels::count_newlines(&data)));
    g.bench_function("chars", |b| b.iter(|| kernels::count_chars(&data, false).unwrap()));
    g.bench_function("words", |b| b.iter(|| kernels::count_words(&data, false, false).unwrap()));
    g.finish();
}

fn bench_engines(c: &mut Criterion) {
    let data = words(64 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.txt");
    std::fs::write(&path, &data).unwrap();
    let mut g = c.benchmark_group("count_letters");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for (engine, threads) in [(Engine::Serial, 1), (Engine::Parallel, 1), (Engine::Parallel, 2)] {
        let plan = CountPlan {
            unit: Unit::Letters,
            engine,
            threads,
            read: ReadOptions::default(),
            lossy: false,
            ignore_case: false,
            words_shared_from: None,
        };
        let sources = [Source::File(path.clone())];
        g.bench_with_input(BenchmarkId::new(engine.name(), threads), &plan, |b, plan| {
            b.iter(|| count(plan, &sources).unwrap())
        });
    }
    g.finish();
}

/// Floats written as the output writes them: numbers read from six-decimal text (as the db-benchmark's
/// `v1`), and doubles of any bits (the general case, no short decimal).
fn bench_floats(c: &mut Criterion) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = 1 << 20;
    let decimals: Vec<f64> =
        (0..n).map(|_| format!("{:.6}", (next() % 100_000_000) as f64 / 1e6).parse().unwrap()).collect();
    let any: Vec<f64> = (0..n).map(|_| f64::from_bits(next() >> 2)).filter(|x| x.is_finite()).collect();
    let mut g = c.benchmark_group("floats");
    let mut out = Vec::with_capacity(n * 24);
    for (name, values) in [("six_decimals", &decimals), ("any_bits", &any)] {
        g.throughput(Throughput::Elements(values.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                values.iter().for_each(|&x| pframe::output::number::push_f64(&mut out, x));
                out.len()
            })
        });
    }
    g.finish();
}

/// The stages of `count -u words` on one thread, each adding one to the last, in bytes per
/// second: the split alone, the split and each word's hash, and the whole of a worker's count
/// into its store (kept across iterations, so that after the first the words are found): on the
/// default vocabulary (about 43,000 words: the table in the caches) and on a million-word one
/// (the table far beyond them). What a run can reach is bounded by these, per core.
fn bench_word_stages(c: &mut Criterion) {
    use pframe::engine::groupby::table::hash_key;
    use pframe::engine::words;
    let mut g = c.benchmark_group("word_stages");
    g.sample_size(10);
    let mut million = Vec::new();
    pframe::datagen::write_words_from(((16 << 20) / 9) as u64, 1, true, Some(1_000_000), &mut million).unwrap();
    for (name, data) in [("default", words(16 << 20)), ("1m_vocabulary", million)] {
        let text = std::str::from_utf8(&data).unwrap();
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(BenchmarkId::new("split", name), |b| {
            b.iter(|| {
                let mut n = 0u64;
                kernels::split_words(text, |_| n += 1);
                n
            })
        });
        g.bench_function(BenchmarkId::new("split_hash", name), |b| {
            b.iter(|| {
                let mut h = 0u64;
                kernels::split_words(text, |w| h ^= hash_key(w.as_bytes()));
                h
            })
        });
        let mut store = words::new_store();
        g.bench_function(BenchmarkId::new("store", name), |b| {
            b.iter(|| words::count_into(&data, false, false, &mut store).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_kernels, bench_engines, bench_floats, bench_word_stages);
criterion_main!(benches);
