#!/usr/bin/env bash
# Runs commands alternately, one after another, for N rounds (a, b, a, b, ...), and prints each
# command's wall times, median, median user time and largest peak RSS. On a machine whose speed
# drifts from minute to minute, alternating runs compares commands under the same conditions,
# where hyperfine's back-to-back runs of one command and then the next can carry the drift.
#
#   scripts/alternate.sh 4 "/tmp/pframe-before groupby ... > /tmp/a.csv" "target/release/pframe groupby ... > /tmp/b.csv"
#
# Needs GNU time (/usr/bin/time) and python3. Each command runs under `bash -c`, stdout and stderr
# to /dev/null unless the command redirects them itself.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 ROUNDS COMMAND..." >&2
    exit 2
fi
rounds=$1
shift
times=$(mktemp)
trap 'rm -f "$times" "$times.t"' EXIT
for _ in $(seq "$rounds"); do
    for i in $(seq 0 $(($# - 1))); do
        cmd=${*:$((i + 1)):1}
        /usr/bin/time -o "$times.t" -f "%e %U %M" bash -c "$cmd" > /dev/null 2>&1 || {
            echo "failed: $cmd" >&2
            exit 1
        }
        echo "$i $(tail -1 "$times.t")" >> "$times"
    done
done
python3 - "$times" "$@" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for i, cmd in enumerate(sys.argv[2:]):
    mine = [r for r in rows if int(r[0]) == i]
    wall = [float(r[1]) for r in mine]
    user = [float(r[2]) for r in mine]
    rss = max(int(r[3]) for r in mine) // 1024
    print(f"median {statistics.median(wall):.2f} s (runs {' '.join(f'{w:.2f}' for w in wall)}), "
          f"user {statistics.median(user):.2f} s, max RSS {rss} MiB: {cmd}")
PY
