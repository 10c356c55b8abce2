#!/usr/bin/env bash
# The db-benchmark group-by questions q1..q10, end to end from the CSV, on pframe, Python polars
# (streaming engine) and DuckDB: each tool's answer checked against DuckDB's, then timed side by
# side (hyperfine, interleaved per question), with each tool's peak RSS. Prints a Markdown table.
#
#   scripts/bench_h2o.sh                 # the 1e7-row G1 file, 100 groups (~510 MB)
#   ROWS=1000000 RUNS=3 scripts/bench_h2o.sh
#   K=10 NA=5 SORTED=1 scripts/bench_h2o.sh   # the db-benchmark's other data sets (G1_1e7_1e1_5_1)
#   PANDAS=1 scripts/bench_h2o.sh        # pandas as a fourth tool (slow: minutes a question)
#   QUESTIONS="3 10" scripts/bench_h2o.sh    # only these questions
#   UNORDERED=1 scripts/bench_h2o.sh     # pframe's group-bys and SQL with --unordered (rows in
#                                        # any order, as polars' and DuckDB's come; default: sorted)
#
# Needs hyperfine, GNU time and `pip install polars duckdb pandas`.
source "$(dirname "$0")/bench_common.sh"
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-2}
K=${K:-100}
NA=${NA:-0}
SORTED=${SORTED:-0}
PANDAS=${PANDAS:-0}
UNORDERED=${UNORDERED:-0}
GB=groupby
SQL=sql
[ "$UNORDERED" = 1 ] && GB="groupby --unordered" && SQL="sql --unordered"
if [ "$K" = 100 ] && [ "$NA" = 0 ] && [ "$SORTED" = 0 ]; then
    G=$(g1 "g1_$([ "$ROWS" = 10000000 ] && echo 1e7 || echo "$ROWS").csv" "$ROWS" 1)
else
    G=$(g1 "g1_${ROWS}_${K}_${NA}_${SORTED}.csv" "$ROWS" 1 "$K" --na-percent "$NA" \
        $([ "$SORTED" = 1 ] && echo --sorted))
fi
OUT=$BENCH_DIR/h2o/$(basename "$G" .csv)
mkdir -p "$OUT"

pframe_q() {
    case $1 in
    1) echo "$PF $GB -b id1 -a 'sum(v1)' $G" ;;
    2) echo "$PF $GB -b id1,id2 -a 'sum(v1)' $G" ;;
    3) echo "$PF $GB -b id3 -a 'sum(v1),mean(v3)' $G" ;;
    4) echo "$PF $GB -b id4 -a 'mean(v1),mean(v2),mean(v3)' $G" ;;
    5) echo "$PF $GB -b id6 -a 'sum(v1),sum(v2),sum(v3)' $G" ;;
    6) echo "$PF $GB -b id4,id5 -a 'median(v3),std(v3)' $G" ;;
    8) echo "$PF $GB -b id6 -a 'top_k(v3,2)' $G" ;;
    10) echo "$PF $GB -b id1,id2,id3,id4,id5,id6 -a 'sum(v3),count(v1)' $G" ;;
    esac
}
# q7 and q9 are SQL (arithmetic of aggregates over the engine's groups).
pframe_sql() {
    case $1 in
    7) echo "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM t GROUP BY id3" ;;
    9) echo "SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM t GROUP BY id2, id4" ;;
    esac
}

TOOLS=(pframe polars duckdb)
[ "$PANDAS" = 1 ] && TOOLS+=(pandas)
echo "## machine"
machine
python3 -c 'import polars, duckdb; print("polars", polars.__version__, "duckdb", duckdb.__version__)'
echo "## $(basename "$G"): $ROWS rows, K=$K, NA=$NA%, sorted=$SORTED ($(stat -c %s "$G") bytes), $RUNS timed runs per tool and question; pframe \`$GB\`"
echo
header="| question | groups | pframe | Python polars (streaming) | DuckDB |"
rule="|---|---:|---:|---:|---:|"
[ "$PANDAS" = 1 ] && header="$header pandas |" && rule="$rule---:|"
echo "$header pframe / polars | pframe / DuckDB | answers |"
echo "$rule---:|---:|---|"
SUMS=$OUT/sums.txt
: > "$SUMS"
for q in ${QUESTIONS:-1 2 3 4 5 6 7 8 9 10}; do
    CMDS=()
    for tool in "${TOOLS[@]}"; do
        if [ "$tool" != pframe ]; then
            CMDS+=("python3 scripts/h2o.py $tool $q $G")
        elif [ -n "$(pframe_sql $q)" ]; then
            CMDS+=("$PF $SQL '$(pframe_sql $q)' $G")
        else
            CMDS+=("$(pframe_q $q)")
        fi
    done
    # Answers, and each tool's peak RSS on that run; every answer checked against DuckDB's.
    RSS=()
    for i in "${!TOOLS[@]}"; do
        RSS+=("$( { /usr/bin/time -f "%M" bash -c "${CMDS[$i]}" > "$OUT/q$q.${TOOLS[$i]}.csv"; } 2>&1 | tail -1)")
    done
    check=""
    for tool in "${TOOLS[@]}"; do
        [ "$tool" = duckdb ] && continue
        check="$check${check:+; }$tool $(python3 scripts/h2o.py check $q "$OUT/q$q.$tool.csv" "$OUT/q$q.duckdb.csv" 2>&1 | tail -1 || true)"
    done
    groups=$(($(wc -l < "$OUT/q$q.duckdb.csv") - 1))
    hyperfine --runs "$RUNS" --export-json "$OUT/q$q.json" "${CMDS[@]}" > /dev/null
    python3 - "$OUT/q$q.json" "$q" "$groups" "$check" "$SUMS" "${RSS[@]}" <<'PY'
import json, statistics, sys
path, q, groups, check, sums, *rss = sys.argv[1:]
res = json.load(open(path))["results"]
med = [statistics.median(r["times"]) for r in res]
with open(sums, "a") as f:
    f.write(" ".join(f"{t:.6f}" for t in med) + "\n")
cells = " | ".join(f"{t:.2f} s / {int(kib) // 1024} MiB" for t, kib in zip(med, rss))
print(f"| q{q} | {groups} | {cells} | {med[0] / med[1]:.2f} | {med[0] / med[2]:.2f} | {check} |")
PY
done
python3 - "$SUMS" <<'PY'
import sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
tot = [sum(c) for c in zip(*rows)]
cells = " | ".join(f"{t:.2f} s" for t in tot)
print(f"| total | | {cells} | {tot[0] / tot[1]:.2f} | {tot[0] / tot[2]:.2f} | |")
PY
