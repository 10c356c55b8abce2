#!/usr/bin/env bash
# The db-benchmark group-by questions q1..q10, end to end from the CSV, on pframe, Python polars
# (streaming engine) and DuckDB: each tool's answer checked against DuckDB's, then timed side by
# side (hyperfine, interleaved per question), with each tool's peak RSS. Prints a Markdown table.
#
#   scripts/bench_h2o.sh                 # the 1e7-row G1 file, 100 groups (~510 MB)
#   ROWS=1000000 RUNS=3 scripts/bench_h2o.sh
#
# Needs hyperfine, GNU time and `pip install polars duckdb pandas`.
source "$(dirname "$0")/bench_common.sh"
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-2}
G=$(g1 "g1_$([ "$ROWS" = 10000000 ] && echo 1e7 || echo "$ROWS").csv" "$ROWS" 1)
OUT=$BENCH_DIR/h2o
mkdir -p "$OUT"

pframe_q() {
    case $1 in
    1) echo "$PF groupby -b id1 -a 'sum(v1)' $G" ;;
    2) echo "$PF groupby -b id1,id2 -a 'sum(v1)' $G" ;;
    3) echo "$PF groupby -b id3 -a 'sum(v1),mean(v3)' $G" ;;
    4) echo "$PF groupby -b id4 -a 'mean(v1),mean(v2),mean(v3)' $G" ;;
    5) echo "$PF groupby -b id6 -a 'sum(v1),sum(v2),sum(v3)' $G" ;;
    6) echo "$PF groupby -b id4,id5 -a 'median(v3),std(v3)' $G" ;;
    8) echo "$PF groupby -b id6 -a 'top_k(v3,2)' $G" ;;
    10) echo "$PF groupby -b id1,id2,id3,id4,id5,id6 -a 'sum(v3),count(v1)' $G" ;;
    esac
}
# q7 and q9 are SQL (arithmetic of aggregates over the engine's groups).
pframe_sql() {
    case $1 in
    7) echo "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM t GROUP BY id3" ;;
    9) echo "SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM t GROUP BY id2, id4" ;;
    esac
}

echo "## machine"
machine
python3 -c 'import polars, duckdb; print("polars", polars.__version__, "duckdb", duckdb.__version__)'
echo "## $ROWS rows ($(stat -c %s "$G") bytes), $RUNS timed runs per tool and question"
echo
echo "| question | groups | pframe | Python polars (streaming) | DuckDB | pframe / polars | answers |"
echo "|---|---:|---:|---:|---:|---:|---|"
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
for q in 1 2 3 4 5 6 7 8 9 10; do
    if [ -n "$(pframe_sql $q)" ]; then
        PFCMD="$PF sql '$(pframe_sql $q)' $G"
    else
        PFCMD=$(pframe_q $q)
    fi
    PLCMD="python3 scripts/h2o.py polars $q $G"
    DDCMD="python3 scripts/h2o.py duckdb $q $G"
    # Answers, and each tool's peak RSS on that run.
    pf_rss=$( { /usr/bin/time -f "%M" bash -c "$PFCMD" > "$OUT/q$q.pframe.csv"; } 2>&1 | tail -1)
    pl_rss=$( { /usr/bin/time -f "%M" bash -c "$PLCMD" > "$OUT/q$q.polars.csv"; } 2>&1 | tail -1)
    dd_rss=$( { /usr/bin/time -f "%M" bash -c "$DDCMD" > "$OUT/q$q.duckdb.csv"; } 2>&1 | tail -1)
    check="pframe $(python3 scripts/h2o.py check $q "$OUT/q$q.pframe.csv" "$OUT/q$q.duckdb.csv" 2>&1 | tail -1)"
    check="$check; polars $(python3 scripts/h2o.py check $q "$OUT/q$q.polars.csv" "$OUT/q$q.duckdb.csv" 2>&1 | tail -1)"
    groups=$(($(wc -l < "$OUT/q$q.duckdb.csv") - 1))
    hyperfine --runs "$RUNS" --export-json "$OUT/q$q.json" "$PFCMD" "$PLCMD" "$DDCMD" > /dev/null
    python3 - "$OUT/q$q.json" "$q" "$groups" "$pf_rss" "$pl_rss" "$dd_rss" "$check" <<'PY'
import json, statistics, sys
path, q, groups, *rss, check = sys.argv[1:]
res = json.load(open(path))["results"]
med = [statistics.median(r["times"]) for r in res]
cell = lambda t, kib: f"{t:.2f} s / {int(kib) // 1024} MiB"
print(f"| q{q} | {groups} | {cell(med[0], rss[0])} | {cell(med[1], rss[1])} | {cell(med[2], rss[2])} | "
      f"{med[0] / med[1]:.2f} | {check} |")
PY
done
