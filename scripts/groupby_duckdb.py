#!/usr/bin/env python3
"""DuckDB doing what `pframe groupby` does: a benchmark peer (count, sum, mean, min, max only).

    python3 scripts/groupby_duckdb.py --by id1 --agg 'count,sum(v1),mean(v3)' data.csv
"""

import sys

import duckdb

import groupby_args


def main():
    path, keys, specs = groupby_args.parse(__doc__)
    keys = ", ".join(f'"{k}"' for k in keys)
    sel = []
    for func, col in specs:
        sel.append("count(*) AS count" if not col else f'{func}("{col}") AS {func}_{col}')
    q = f"SELECT {keys}, {', '.join(sel)} FROM read_csv_auto(?) GROUP BY ALL ORDER BY {keys} NULLS LAST"
    duckdb.execute(q, [path]).df().to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main()
