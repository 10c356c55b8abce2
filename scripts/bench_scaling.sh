#!/usr/bin/env bash
# The scaling reports of BENCHMARKS.md, produced by `pframe bench` itself: count, groupby, pi and
# matmul at 1 and 2 threads (or THREADS), with plots, and the harness's overhead against hyperfine.
#
#   scripts/bench_scaling.sh            # writes docs/bench/*.{md,json,svg}
#
# Needs hyperfine (apt-get install hyperfine) for the overhead check and pandas for --pandas.
# Generates a 1 GiB word list and the 1e7-row G1 CSV once in $BENCH_DIR (default /tmp/pframe-bench).
source "$(dirname "$0")/bench_common.sh"
OUT=${OUT:-docs/bench}
THREADS=${THREADS:-1,2}
RUNS=${RUNS:-5}
mkdir -p "$OUT"
W=$(words_1g)
G=$(g1 g1_1e7.csv 10000000 1)

echo "## machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'); pframe $("$PF" --version)"
"$PF" cores

report() { # name, workload, then more bench options and the command's own arguments
    local name=$1 workload=$2; shift 2
    "$PF" bench "$workload" --threads "$THREADS" --runs "$RUNS" --no-progress \
        --export-json "$OUT/$name.json" --export-markdown "$OUT/$name.md" --plot "$OUT/$name.svg" "$@"
}
report count count "$W"
report groupby groupby --pandas --by id1 --agg 'sum(v1),mean(v3),count' "$G"
report pi pi --samples 1000000000
# Python's loop is ~100x slower: its own, smaller report.
RUNS=3 report pi_python pi --pandas --samples 10000000
report matmul matmul --size 1536

# The harness's own cost: the same command timed by hyperfine and by pframe bench.
if command -v hyperfine > /dev/null; then
    S=datasets/words_100k.txt
    hyperfine -N --warmup 3 --runs 50 --export-json "$BENCH_DIR/overhead.json" "$PF count -e parallel -j 2 -f csv $S"
    "$PF" bench count --engines parallel --threads 2 --runs 50 --warmup 3 --no-progress \
        --export-json "$BENCH_DIR/overhead_bench.json" "$S"
    python3 - "$BENCH_DIR/overhead.json" "$BENCH_DIR/overhead_bench.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["results"][0]["median"]
b = json.load(open(sys.argv[2]))["configs"][-1]["median"]
print(f"hyperfine median {h*1e3:.2f} ms, pframe bench median {b*1e3:.2f} ms: harness overhead {(b-h)*1e3:+.2f} ms")
PY
fi
