"""The command line shared by the Python group-by peers: FILE --by K1,K2 --agg 'count,sum(v1)'."""

import argparse
import re


def parse(description):
    """Returns (file, keys, specs); specs are (func, column) pairs, column '' for count of rows."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("file")
    p.add_argument("--by", required=True)
    p.add_argument("--agg", required=True)
    p.add_argument("--default-na", action="store_true",
                   help="read NA, NULL, NaN, ... as missing (the reader's defaults) instead of only empty fields")
    args = p.parse_args()
    parse.default_na = args.default_na
    return args.file, args.by.split(","), re.findall(r"(\w+)(?:\(([^)]*)\))?", args.agg)


parse.default_na = False
