#!/usr/bin/env python3
"""DuckDB doing what `pframe groupby` does: a benchmark peer (count, sum, mean, min, max only).

    python3 scripts/groupby_duckdb.py --by id1 --agg 'count,sum(v1),mean(v3)' data.csv
"""

import argparse
import re
import sys

import duckdb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--by", required=True)
    p.add_argument("--agg", required=True)
    args = p.parse_args()
    keys = ", ".join(f'"{k}"' for k in args.by.split(","))
    sel = []
    for func, col in re.findall(r"(\w+)(?:\(([^)]*)\))?", args.agg):
        sel.append("count(*) AS count" if not col else f'{func}("{col}") AS {func}_{col}')
    q = f"SELECT {keys}, {', '.join(sel)} FROM read_csv_auto(?) GROUP BY ALL ORDER BY {keys} NULLS LAST"
    duckdb.execute(q, [args.file]).df().to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main()
