#!/usr/bin/env bash
# Whole-process benchmarks of `pframe groupby` against pandas, Python polars and DuckDB (the
# numbers in BENCHMARKS.md).
#
#   scripts/bench_groupby.sh
#
# Needs hyperfine, GNU time and `pip install pandas polars duckdb`. Generates the 1e7-row H2O G1
# file (~510 MB) once in $BENCH_DIR (default /tmp/pframe-bench), and a 1e8-row one (~5.1 GB) for
# the memory runs unless BIG=0.
source "$(dirname "$0")/bench_common.sh"
G=$(g1 g1_1e7.csv 10000000 1)
BY=id1
AGG='sum(v1),mean(v3),count'

echo "## machine"
machine
python3 -c 'import pandas, polars, duckdb; print("pandas", pandas.__version__, "polars", polars.__version__, "duckdb", duckdb.__version__)'

echo "## 1e7 rows ($(stat -c %s "$G") bytes), --by $BY --agg '$AGG'"
hyperfine -N --warmup 1 --runs 5 --export-markdown "$BENCH_DIR/groupby.md" --export-json "$BENCH_DIR/groupby.json" \
    "$PF groupby -e serial -b $BY -a $AGG $G" \
    "$PF groupby -e parallel -j 1 -b $BY -a $AGG $G" \
    "$PF groupby -e parallel -j 2 -b $BY -a $AGG $G" \
    "$PF groupby -e polars -j 2 -b $BY -a $AGG $G" \
    "python3 scripts/groupby_polars.py --by $BY --agg count,sum(v1),mean(v3) $G" \
    "python3 scripts/groupby_duckdb.py --by $BY --agg count,sum(v1),mean(v3) $G" \
    "python3 scripts/groupby_pandas.py --by $BY --agg count,sum(v1),mean(v3) $G"
cat "$BENCH_DIR/groupby.md"

peak() { /usr/bin/time -f "%M KiB, %e s" "$@" 2>&1 >/dev/null | tail -1; }
echo "## peak RSS, 1e7 rows"
echo "pframe -j 2:   $(peak "$PF" groupby -j 2 -b $BY -a "$AGG" "$G")"
echo "pframe stdin:  $(/usr/bin/time -f "%M KiB, %e s" bash -c "cat $G | $PF groupby -j 2 -b $BY -a '$AGG' - >/dev/null" 2>&1 | tail -1)"
echo "polars:        $(peak python3 scripts/groupby_polars.py --by $BY --agg 'count,sum(v1),mean(v3)' "$G")"
echo "duckdb:        $(peak python3 scripts/groupby_duckdb.py --by $BY --agg 'count,sum(v1),mean(v3)' "$G")"
echo "pandas:        $(peak python3 scripts/groupby_pandas.py --by $BY --agg 'count,sum(v1),mean(v3)' "$G")"

if [ "${BIG:-1}" != 0 ]; then
    H=$(g1 g1_1e8.csv 100000000 2)
    echo "## 1e8 rows ($(stat -c %s "$H") bytes): file and piped, peak RSS, same answer"
    echo "file -j 2:     $(/usr/bin/time -f "%M KiB, %e s" "$PF" groupby -j 2 -b $BY -a "$AGG" "$H" 2>&1 >"$BENCH_DIR/big_file.csv" | tail -1)"
    echo "stdin -j 2:    $(/usr/bin/time -f "%M KiB, %e s" bash -c "cat $H | $PF groupby -j 2 -b $BY -a '$AGG' - > $BENCH_DIR/big_stdin.csv" 2>&1 | tail -1)"
    cmp "$BENCH_DIR/big_file.csv" "$BENCH_DIR/big_stdin.csv" && echo "file and stdin results identical"
fi
