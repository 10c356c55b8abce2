#!/usr/bin/env python3
"""The pandas equivalent of `pframe groupby`, used as the tests' oracle and the benchmarks' peer.

    python3 scripts/groupby_pandas.py --by id1 --agg 'count,sum(v1),mean(v3)' data.csv

Prints CSV with the same columns and row order as pframe: keys, then count, sum_v1, mean_v3, ...
rows sorted by the keys, null keys last (groupby(dropna=False)). Empty fields are the only nulls
(keep_default_na=False), as in pframe; with --default-na, pandas' own list (NA, NULL, NaN, ...).
"""

import sys

import pandas as pd

import groupby_args

FUNCS = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "std": "std",
         "var": "var", "median": "median", "n_unique": "nunique", "first": "first", "last": "last"}


def main():
    path, keys, specs = groupby_args.parse(__doc__)
    if groupby_args.parse.default_na:
        df = pd.read_csv(path)
    else:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    g = df.groupby(keys, dropna=False, sort=True)
    out = pd.DataFrame(index=g.size().index)
    for func, col in specs:
        if not col:
            out["count"] = g.size()
        else:
            out[f"{func}_{col}"] = g[col].agg(FUNCS[func])
    out = out.reset_index()
    out.to_csv(sys.stdout, index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
