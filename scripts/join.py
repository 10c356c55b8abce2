#!/usr/bin/env python3
"""The db-benchmark join questions j1..j5 in Python polars (streaming) and DuckDB, as the
db-benchmark's join-polars.py words them (j3, "medium outer on int", is its left join): the peers
of scripts/bench_join.sh, and the checker of every tool's answer against DuckDB's.

    python3 scripts/join.py polars 2 DIR 1e7     # j2's joined rows as CSV on stdout
    python3 scripts/join.py duckdb 2 DIR 1e7
    python3 scripts/join.py check ours.csv duckdb.csv   # rows, sum(v1), sum(v2) (db-benchmark's chk)

DIR holds `pframe gen join --rows N` output; 1e7 is N as the file names spell it.
"""

import sys

# question: (right table, key, how)
QUESTIONS = {
    1: ("small", "id1", "inner"),
    2: ("medium", "id2", "inner"),
    3: ("medium", "id2", "left"),
    4: ("medium", "id5", "inner"),
    5: ("big", "id3", "inner"),
}


def files(d, n):
    x = f"{d}/J1_{n}_NA_0_0.csv"
    rows = int(float(n))
    def sci(k):
        s = str(k)
        return f"{s[0]}e{len(s) - 1}" if k >= 10 and set(s[1:]) == {"0"} else s
    right = {"small": max(rows // 10**6, 10), "medium": max(rows // 10**3, 10), "big": rows}
    return x, {name: f"{d}/J1_{n}_{sci(k)}_0_0.csv" for name, k in right.items()}


def pframe_sql(q):
    right, key, how = QUESTIONS[q]
    return f"SELECT * FROM x {how.upper()} JOIN {right} USING ({key})"


def run_polars(q, d, n):
    import polars as pl
    x, ys = files(d, n)
    right, key, how = QUESTIONS[q]
    pl.scan_csv(x).join(pl.scan_csv(ys[right]), on=key, how=how).sink_csv(sys.stdout.buffer)


def run_duckdb(q, d, n):
    import duckdb
    x, ys = files(d, n)
    right, key, how = QUESTIONS[q]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW x AS SELECT * FROM read_csv_auto('{x}')")
    con.execute(f"CREATE VIEW {right} AS SELECT * FROM read_csv_auto('{ys[right]}')")
    con.execute(f"COPY (SELECT * FROM x {how.upper()} JOIN {right} USING ({key})) TO '/dev/stdout' (HEADER)")


def chk(path):
    import polars as pl
    df = pl.scan_csv(path, infer_schema_length=0).select(
        pl.len().alias("rows"),
        pl.col("v1").cast(pl.Float64).sum().alias("v1"),
        pl.col("v2").cast(pl.Float64).sum().alias("v2"),
    ).collect()
    return df.row(0)


def check(ours, theirs):
    a, b = chk(ours), chk(theirs)
    ok = a[0] == b[0] and all(abs(x - y) <= 1e-9 * max(abs(y), 1) for x, y in zip(a[1:], b[1:]))
    print(f"{'ok' if ok else 'DIFFERENT'}: rows {a[0]} sum(v1) {a[1]:.6f} sum(v2) {a[2]:.6f}"
          + ("" if ok else f" against rows {b[0]} sum(v1) {b[1]:.6f} sum(v2) {b[2]:.6f}"))
    return ok


if __name__ == "__main__":
    tool = sys.argv[1]
    if tool == "check":
        sys.exit(0 if check(sys.argv[2], sys.argv[3]) else 1)
    if tool == "sql":
        print(pframe_sql(int(sys.argv[2])))
        sys.exit(0)
    q, d, n = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    {"polars": run_polars, "duckdb": run_duckdb}[tool](q, d, n)
