#!/usr/bin/env bash
# Whole-process benchmarks of `pframe count` (the numbers in BENCHMARKS.md).
#
#   scripts/bench_count.sh            # all of them
#   BENCH_DIR=/tmp/pf scripts/bench_count.sh
#
# Needs hyperfine (apt-get install hyperfine) and GNU time (/usr/bin/time, apt-get install time).
# Generates a 1 GiB word list in $BENCH_DIR (default /tmp/pframe-bench) once and keeps it in the
# page cache for the runs. Results go to $BENCH_DIR/*.md and *.json, and a summary to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pframe-bench}
mkdir -p "$BENCH_DIR"
command -v hyperfine >/dev/null || { echo "bench_count.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_count.sh: needs GNU time (apt-get install time)" >&2; exit 1; }

cargo build --release -q
PF=$PWD/target/release/pframe
WORDS=../shared/datasets/1m_words.txt
BIG=$BENCH_DIR/words_1g.txt

echo "## machine"
echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GiB; $(uname -sr)"
echo "pframe $(git rev-parse --short HEAD), $(rustc --version)"

# 1. The tutorial's file: pframe against the tutorial's Python, measured in the same run.
if [ -f "$WORDS" ]; then
    echo "## 1m_words.txt: pframe vs the tutorial's Python"
    hyperfine -N --warmup 1 --runs 3 --export-markdown "$BENCH_DIR/python.md" --export-json "$BENCH_DIR/python.json" \
        "python3 scripts/count_letters.py --mode serial $WORDS" \
        "python3 scripts/count_letters.py --mode pool $WORDS" \
        "python3 scripts/count_letters.py --mode imap --chunksize 10000 $WORDS"
    hyperfine -N --warmup 5 --runs 50 --export-markdown "$BENCH_DIR/words1m.md" --export-json "$BENCH_DIR/words1m.json" \
        "$PF count -e serial $WORDS" "$PF count -e parallel -j 2 $WORDS" "$PF count -e polars -j 2 $WORDS"
    cat "$BENCH_DIR/python.md" "$BENCH_DIR/words1m.md"
else
    echo "skipped: $WORDS is not present"
fi

# 2. A 1 GiB generated word list in the page cache: serial and parallel at 1 and 2 threads, wc -l.
if [ ! -f "$BIG" ]; then
    "$PF" gen words -n 123500000 --seed 7 -o "$BIG"
fi
cat "$BIG" > /dev/null
echo "## 1 GiB word list ($(stat -c %s "$BIG") bytes), page cache"
hyperfine -N --warmup 2 --runs 10 --export-markdown "$BENCH_DIR/big.md" --export-json "$BENCH_DIR/big.json" \
    "$PF count -e serial $BIG" \
    "$PF count -e parallel -j 1 $BIG" \
    "$PF count -e parallel -j 2 $BIG" \
    "wc -l $BIG"
cat "$BENCH_DIR/big.md"

# 3. Peak memory: file mode and a 4 GiB stream through stdin.
peak() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
echo "## peak RSS (KiB)"
echo "file mode, 1 GiB, -j 2:  $(peak "$PF" count -j 2 "$BIG")"
echo "file mode, 1 GiB, serial: $(peak "$PF" count -e serial "$BIG")"
echo "stdin, 4 GiB, -j 2:      $(/usr/bin/time -f "%M" bash -c "cat $BIG $BIG $BIG $BIG | $PF count -j 2 - >/dev/null" 2>&1 | tail -1)"

# 4. stdin throughput against file mode on the same 4 GiB.
echo "## 4 GiB: stdin (cat | pframe) vs file mode"
hyperfine --warmup 1 --runs 5 --export-markdown "$BENCH_DIR/stdin.md" --export-json "$BENCH_DIR/stdin.json" \
    "$PF count -j 2 $BIG $BIG $BIG $BIG" \
    "cat $BIG $BIG $BIG $BIG | $PF count -j 2 -"
cat "$BENCH_DIR/stdin.md"
