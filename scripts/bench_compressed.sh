#!/usr/bin/env bash
# Compressed input (issue 12): throughput of `pframe count` on a 1 GiB word list as .gz against
# `zcat` alone, BGZF and multi-frame zstd at 1 and 2 threads, and peak RSS of count and groupby on
# compressed files and pipes. Needs hyperfine, GNU time and gzip.
#
#   scripts/bench_compressed.sh          (inputs in $BENCH_DIR, default /tmp/pframe-bench)
source "$(dirname "$0")/bench_common.sh"
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
echo "## machine: $(machine)"

W=$(words_1g)
[ -f "$W.gz" ] || gzip -c -6 "$W" > "$W.gz"
[ -f "$W.bgzf" ] || "$PF" gen words -n 120000000 --seed 1 --compress bgzf -o "$W.bgzf"
[ -f "$W.zst" ] || "$PF" gen words -n 120000000 --seed 1 --compress zst -o "$W.zst"
G=$(g1 g1_1e7.csv 10000000 1)
[ -f "$G.gz" ] || gzip -c -6 "$G" > "$G.gz"
[ -f "$G.zst" ] || "$PF" gen csv --rows 10000000 --groups 100 --seed 1 --compress zst -o "$G.zst"
for f in "$W".gz "$W".bgzf "$W".zst "$G".gz "$G".zst; do cat "$f" > /dev/null; done
ls -l "$W" "$W".gz "$W".bgzf "$W".zst "$G" "$G".gz "$G".zst

echo "## every format gives the plain file's counts"
plain=$("$PF" count -f csv "$W")
for f in "$W".gz "$W".bgzf "$W".zst; do
    [ "$("$PF" count -f csv "$f")" = "$plain" ] || { echo "MISMATCH on $f" >&2; exit 1; }
done
echo ok

echo "## gzip: pframe count against zcat alone (target: at least zcat's throughput)"
hyperfine -N --warmup 1 --runs 5 --export-markdown "$BENCH_DIR/gz.md" \
    "$PF count -j 2 -f csv $W.gz" \
    "sh -c 'zcat $W.gz > /dev/null'"

echo "## BGZF and zstd frames: 1 and 2 threads (target: 2 threads at least 1.8x one)"
# Blocks decode on the -j workers, but the threads that cut blocks and chunks run beside them:
# `taskset -c 0` makes the one-thread run one core, as a one-CPU job gets.
hyperfine -N --warmup 1 --runs 10 --export-markdown "$BENCH_DIR/blocks.md" \
    "taskset -c 0 $PF count -j 1 -f csv $W.bgzf" "$PF count -j 1 -f csv $W.bgzf" "$PF count -j 2 -f csv $W.bgzf" \
    "taskset -c 0 $PF count -j 1 -f csv $W.zst" "$PF count -j 1 -f csv $W.zst" "$PF count -j 2 -f csv $W.zst"

echo "## peak RSS (targets: count under 100 MiB, a few-group groupby under 300 MiB)"
rss() { /usr/bin/time -f "%e s %M KB  $1" sh -c "$2" > /dev/null; }
rss "count .gz file" "$PF count -j 2 $W.gz"
rss "count .zst file" "$PF count -j 2 $W.zst"
rss "count .bgzf pipe" "cat $W.bgzf | $PF count -j 2 -"
rss "count .gz pipe" "cat $W.gz | $PF count -j 2 -"
rss "groupby .gz file" "$PF groupby -j 2 -b id1 -a 'sum(v1),mean(v3),count' $G.gz"
rss "groupby .zst pipe" "cat $G.zst | $PF groupby -j 2 -b id1 -a 'sum(v1),mean(v3),count' -"
rss "sql GROUP BY .gz pipe" "cat $G.gz | $PF sql 'SELECT id1, sum(v1) AS s FROM t GROUP BY id1' -"
