"""Word frequencies with Python polars' streaming engine: the peer of `pframe count -u words`.

    python3 scripts/words_polars.py FILE [TOP]

Each line is one word (the file has no header, no quoting, and no 0x1f byte, so that byte
separates nothing); prints the TOP (default 10) most frequent words and their counts as CSV.
"""
import sys

import polars as pl

path = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 10
lf = pl.scan_csv(path, has_header=False, quote_char=None, separator="\x1f", new_columns=["word"])
out = lf.group_by("word").len().sort(["len", "word"], descending=[True, False]).head(top)
print(out.collect(engine="streaming").write_csv(), end="")
