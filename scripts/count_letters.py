#!/usr/bin/env python3
"""The tutorial's letter count, as the Python reference and the speed baseline of `pframe count`.

Boston University's "Python Parallelization" tutorial reads a list of English words, strips and
lowercases each, counts its letters with collections.Counter, and adds the counts up: first in a
serial loop, then with multiprocessing.Pool.map (one task per word), then with Pool.imap and a
chunksize. This script runs those algorithms unchanged and prints the 26 counts of a-z as CSV
(`letter,count`, the same shape as `pframe count -f csv`), and the elapsed time on stderr.

    python3 scripts/count_letters.py --mode serial words.txt
    python3 scripts/count_letters.py --mode pool words.txt
    python3 scripts/count_letters.py --mode imap --chunksize 10000 words.txt

Bytes that are not valid UTF-8 are decoded as U+FFFD (errors="replace"), which is not a letter.
"""

import argparse
import string
import sys
import time
from collections import Counter
from multiprocessing import Pool


def count_letters(word):
    """The tutorial's per-word task: a Counter of the letters of one stripped, lowercased word."""
    return Counter(c for c in word.strip().lower() if c in string.ascii_lowercase)


def read_words(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readlines()


def serial(words):
    total = Counter()
    for word in words:
        total.update(count_letters(word))
    return total


def pool_map(words, processes):
    with Pool(processes) as pool:
        results = pool.map(count_letters, words)
    total = Counter()
    for c in results:
        total.update(c)
    return total


def pool_imap(words, processes, chunksize):
    total = Counter()
    with Pool(processes) as pool:
        for c in pool.imap(count_letters, words, chunksize=chunksize):
            total.update(c)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--mode", choices=["serial", "pool", "imap"], default="serial")
    parser.add_argument("--processes", type=int, default=None, help="pool size (default: all CPUs)")
    parser.add_argument("--chunksize", type=int, default=10000, help="imap chunksize")
    args = parser.parse_args()

    start = time.perf_counter()
    words = read_words(args.file)
    if args.mode == "serial":
        total = serial(words)
    elif args.mode == "pool":
        total = pool_map(words, args.processes)
    else:
        total = pool_imap(words, args.processes, args.chunksize)
    elapsed = time.perf_counter() - start

    out = ["letter,count"] + [f"{c},{total[c]}" for c in string.ascii_lowercase]
    sys.stdout.write("\n".join(out) + "\n")
    print(f"count_letters.py --mode {args.mode}: {elapsed:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
