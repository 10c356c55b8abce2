#!/usr/bin/env bash
# CPU time (user+sys) of one run against N=4 shards plus the merge.
set -euo pipefail
P=${P:-/work/main/target/release/pframe}
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.3f", $1+$2}'; }
measure() { # label, file, command words...
    local label=$1 file=$2; shift 2
    local d; d=$(mktemp -d)
    for rep in 1 2 3; do
        single=$(cpu "$P" "$@" -j 1 "$file")
        total=0
        for i in 0 1 2 3; do
            t=$(cpu "$P" "$@" -j 1 --shard $i/4 --partial-out "$d/p$i.json" "$file")
            total=$(echo "$total + $t" | bc)
        done
        m=$(cpu "$P" merge "$d"/p0.json "$d"/p1.json "$d"/p2.json "$d"/p3.json)
        total=$(echo "$total + $m" | bc)
        diff <("$P" "$@" -f csv "$file") <("$P" merge -f csv "$d"/p*.json) > /dev/null && same=identical || same=DIFFERENT
        echo "$label run $rep: single $single s CPU; 4 shards + merge $total s CPU (merge $m s); ratio $(echo "scale=3; $total / $single" | bc); result $same"
    done
    rm -rf "$d"
}
measure "count letters, words_1g.txt (1.08 GB)" /tmp/pframe-bench/words_1g.txt count
measure "groupby id1 sum/mean/count, g1_2e7.csv (1.02 GB)" /tmp/pframe-bench/g1_2e7.csv groupby -b id1 -a 'sum(v1),mean(v3),count'
