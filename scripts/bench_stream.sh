#!/usr/bin/env bash
# Whole-process runs of the chunked paths (the numbers in BENCHMARKS.md): the polars engine's
# group-by, a row-wise `pframe sql` query and a GROUP BY one, on files and through a pipe; best
# wall time of 3, peak RSS, and the answers compared.
#
#   scripts/bench_stream.sh
#
# Needs GNU time. Generates the 1e7-row H2O G1 file (~510 MB) once in $BENCH_DIR (default
# /tmp/pframe-bench), and with BIG=1 a 1e8-row one (~5.1 GB) for the memory runs.
source "$(dirname "$0")/bench_common.sh"
G=$(g1 g1_1e7.csv 10000000 1)
AGG='sum(v1),mean(v3),count'
Q='SELECT id1, id4, v1 * 2 AS w, v3 FROM t WHERE v2 > 3'
QG='SELECT id1, sum(v1) AS s, avg(v3) AS m, count(*) AS n FROM t GROUP BY id1 ORDER BY id1'
O=$BENCH_DIR/stream
mkdir -p "$O"

echo "## machine"
machine

# Runs a shell pipeline 3 times; prints its last run's peak RSS and the best wall time.
measure() {
    local best="" rss=""
    for _ in 1 2 3; do
        local line
        line=$( { /usr/bin/time -f "%M %e" bash -c "$1" >/dev/null; } 2>&1 | tail -1)
        rss=${line% *}
        local t=${line#* }
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    printf '%-58s %8s s %8s MiB\n' "$2" "$best" "$((rss / 1024))"
}

for G in "$G" ${BIG:+"$(g1 g1_1e8.csv 100000000 2)"}; do
    echo "## $(basename "$G") ($(stat -c %s "$G") bytes): best of 3, peak RSS"
    measure "$PF groupby -e parallel -j 2 -b id1 -a '$AGG' $G" "groupby -e parallel -j 2, file"
    measure "cat $G | $PF groupby -e parallel -j 2 -b id1 -a '$AGG' -" "groupby -e parallel -j 2, stdin"
    measure "$PF groupby -e polars -j 2 -b id1 -a '$AGG' $G" "groupby -e polars -j 2, file"
    measure "cat $G | $PF groupby -e polars -j 1 -b id1 -a '$AGG' -" "groupby -e polars -j 1, stdin"
    measure "cat $G | $PF groupby -e polars -j 2 -b id1 -a '$AGG' -" "groupby -e polars -j 2, stdin"
    measure "$PF sql -j 2 '$Q' $G" "sql row-wise -j 2, file"
    measure "cat $G | $PF sql -j 1 '$Q' -" "sql row-wise -j 1, stdin"
    measure "cat $G | $PF sql -j 2 '$Q' -" "sql row-wise -j 2, stdin"
    measure "cat $G | $PF sql -j 2 '$QG' -" "sql GROUP BY -j 2, stdin (group-by engine)"
    measure "$PF sql -j 2 '$QG LIMIT 1000' $G" "sql GROUP BY ... LIMIT -j 2, file (polars lazy)"
    "$PF" groupby -b id1 -a "$AGG" "$G" > "$O/native.csv"
    cat "$G" | "$PF" groupby -e polars -b id1 -a "$AGG" - > "$O/polars_stdin.csv"
    cmp "$O/native.csv" "$O/polars_stdin.csv" && echo "groupby: polars on stdin identical to the native engine"
    "$PF" sql "$Q" "$G" | md5sum > "$O/sql_file.md5"
    cat "$G" | "$PF" sql "$Q" - | md5sum > "$O/sql_stdin.md5"
    cmp "$O/sql_file.md5" "$O/sql_stdin.md5" && echo "sql: stdin output identical to the file's ($(cut -c1-12 "$O/sql_file.md5"))"
done
