#!/usr/bin/env bash
# The db-benchmark join questions j1..j5 (small inner on int, medium inner on int, medium left on
# int, medium inner on factor, big inner on int), end to end from the CSVs to the joined rows as
# CSV, on pframe (`pframe sql --table`), Python polars (streaming, sink_csv) and DuckDB: each
# tool's answer checked against DuckDB's (rows, sum(v1), sum(v2)), then timed side by side
# (hyperfine, interleaved per question), with each tool's peak RSS. Prints a Markdown table. Then
# the probe side through a pipe: pframe's peak RSS against the size of the piped input.
#
#   scripts/bench_join.sh                  # J1 with 1e7 rows (~0.9 GB of CSV)
#   ROWS=1000000 RUNS=3 scripts/bench_join.sh
#
# Needs hyperfine, GNU time and `pip install polars duckdb`.
source "$(dirname "$0")/bench_common.sh"
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-2}
N=$(python3 -c "s=str($ROWS); print(f'{s[0]}e{len(s)-1}' if set(s[1:])=={'0'} else s)")
D=$BENCH_DIR/j1_$N
if [ ! -f "$D/J1_${N}_NA_0_0.csv" ]; then
    "$PF" gen join --rows "$ROWS" --out-dir "$D" > /dev/null
fi
cat "$D"/*.csv > /dev/null
OUT=$BENCH_DIR/join
mkdir -p "$OUT"
X=$D/J1_${N}_NA_0_0.csv
right_file() { python3 -c "import sys; sys.path.insert(0, 'scripts'); import join; print(join.files('$D', '$N')[1]['$1'])"; }

echo "## machine"
machine
python3 -c 'import polars, duckdb; print("polars", polars.__version__, "duckdb", duckdb.__version__)'
echo "## J1 $N: x $(stat -c %s "$X") bytes; $RUNS timed runs per tool and question; output CSV to /dev/null"
echo
echo "| question | rows out | pframe | Python polars (streaming) | DuckDB | pframe / polars | answers |"
echo "|---|---:|---:|---:|---:|---:|---|"
declare -a PFT PLT
for q in 1 2 3 4 5; do
    right=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); import join; print(join.QUESTIONS[$q][0])")
    Y=$(right_file "$right")
    PFCMD="$PF sql '$(python3 scripts/join.py sql $q)' --table x=$X --table $right=$Y"
    PLCMD="python3 scripts/join.py polars $q $D $N"
    DDCMD="python3 scripts/join.py duckdb $q $D $N"
    pf_rss=$( { /usr/bin/time -f "%M" bash -c "$PFCMD" > "$OUT/j$q.pframe.csv"; } 2>&1 | tail -1)
    pl_rss=$( { /usr/bin/time -f "%M" bash -c "$PLCMD" > "$OUT/j$q.polars.csv"; } 2>&1 | tail -1)
    dd_rss=$( { /usr/bin/time -f "%M" bash -c "$DDCMD" > "$OUT/j$q.duckdb.csv"; } 2>&1 | tail -1)
    check="pframe $(python3 scripts/join.py check "$OUT/j$q.pframe.csv" "$OUT/j$q.duckdb.csv" | cut -d: -f1)"
    check="$check; polars $(python3 scripts/join.py check "$OUT/j$q.polars.csv" "$OUT/j$q.duckdb.csv" | cut -d: -f1)"
    rows=$(($(wc -l < "$OUT/j$q.duckdb.csv") - 1))
    rm -f "$OUT"/j$q.*.csv
    hyperfine --runs "$RUNS" --export-json "$OUT/j$q.json" "$PFCMD > /dev/null" "$PLCMD > /dev/null" "$DDCMD > /dev/null" > /dev/null
    python3 - "$OUT/j$q.json" "$q" "$rows" "$pf_rss" "$pl_rss" "$dd_rss" "$check" <<'PY'
import json, statistics, sys
path, q, rows, *rss, check = sys.argv[1:]
res = json.load(open(path))["results"]
med = [statistics.median(r["times"]) for r in res]
cell = lambda t, kib: f"{t:.2f} s / {int(kib) // 1024} MiB"
print(f"| j{q} | {rows} | {cell(med[0], rss[0])} | {cell(med[1], rss[1])} | {cell(med[2], rss[2])} | "
      f"{med[0] / med[1]:.2f} | {check} |")
PY
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
tot = [0.0, 0.0, 0.0]
for q in range(1, 6):
    res = json.load(open(f"{sys.argv[1]}/j{q}.json"))["results"]
    for i, r in enumerate(res):
        tot[i] += statistics.median(r["times"])
print(f"| total | | {tot[0]:.2f} s | {tot[1]:.2f} s | {tot[2]:.2f} s | {tot[0] / tot[1]:.2f} | |")
PY

# The probe side through a pipe, x repeated: peak RSS against the piped bytes (medium on id2).
echo
echo "| x piped (copies) | bytes piped | pframe peak RSS |"
echo "|---:|---:|---:|"
M=$(right_file medium)
for copies in 1 4; do
    bytes=$(( $(stat -c %s "$X") * copies ))
    kib=$( { /usr/bin/time -f "%M" bash -c "(cat $X; for i in \$(seq 2 $copies); do tail -n +2 $X; done) | $PF sql 'SELECT * FROM x JOIN medium USING (id2)' --table x=- --table medium=$M > /dev/null"; } 2>&1 | tail -1)
    echo "| $copies | $bytes | $((kib / 1024)) MiB |"
done
