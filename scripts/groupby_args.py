"""The command line shared by the Python group-by peers: FILE --by K1,K2 --agg 'count,sum(v1)'."""

import argparse
import re


def parse(description):
    """Returns (file, keys, specs); specs are (func, column) pairs, column '' for count of rows."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("file")
    p.add_argument("--by", required=True)
    p.add_argument("--agg", required=True)
    args = p.parse_args()
    return args.file, args.by.split(","), re.findall(r"(\w+)(?:\(([^)]*)\))?", args.agg)
