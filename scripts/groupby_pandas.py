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
    exploded = None
    for func, col in specs:
        args = col.split(",")
        if not col:
            out["count"] = g.size()
        elif func == "corr":
            a, b = args
            out[f"corr_{a}_{b}"] = g[[a, b]].apply(lambda d: d[a].corr(d[b]))
        elif func == "quantile":
            c, q = args
            out[f"quantile_{q}_{c}"] = g[c].quantile(float(q), interpolation="linear")
        elif func in ("top_k", "bottom_k"):
            c, k = args
            largest = func == "top_k"
            out[f"{func}_{c}"] = g[c].agg(
                lambda s: sorted(s.dropna(), reverse=largest)[: int(k)])
            exploded = f"{func}_{c}"
        else:
            out[f"{func}_{col}"] = g[col].agg(FUNCS[func])
    out = out.reset_index()
    if exploded:
        # One row per value, as polars' top_k + explode; a group with none keeps one null row.
        out = out.explode(exploded)
    out.to_csv(sys.stdout, index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
