#!/usr/bin/env python3
"""Python polars (streaming engine) doing what `pframe groupby` does: a benchmark peer.

    python3 scripts/groupby_polars.py --by id1 --agg 'count,sum(v1),mean(v3)' data.csv
"""

import sys

import polars as pl

import groupby_args

FUNCS = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "std": "std",
         "var": "var", "median": "median", "n_unique": "n_unique", "first": "first", "last": "last"}


def main():
    path, keys, specs = groupby_args.parse(__doc__)
    exprs = []
    for func, col in specs:
        if not col:
            exprs.append(pl.len().alias("count"))
        else:
            exprs.append(getattr(pl.col(col), FUNCS[func])().alias(f"{func}_{col}"))
    out = pl.scan_csv(path).group_by(keys).agg(exprs).sort(keys, nulls_last=True).collect(engine="streaming")
    out.write_csv(sys.stdout)


if __name__ == "__main__":
    main()
