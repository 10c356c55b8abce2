#!/usr/bin/env python3
"""Monte Carlo pi as the tutorial's pool_basics.py computes it: the peer of `pframe bench pi`.

Draws SAMPLES points in the unit square with random.random() and counts those inside the quarter
circle: in one loop (--mode serial), or split into one task per process and summed from
multiprocessing.Pool.map (--mode pool). Prints `samples,hits,pi` as CSV, like `pframe kernel pi`.
The random numbers differ from pframe's, so the estimates agree only statistically.

    python3 scripts/pi_pool.py --samples 10000000 --mode pool --processes 4
"""

import argparse
import random
import sys
from multiprocessing import Pool


def hits(task):
    """Points inside the quarter circle among n draws of a generator seeded with `seed`."""
    n, seed = task
    rng = random.Random(seed)
    inside = 0
    for _ in range(n):
        x = rng.random()
        y = rng.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return inside


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--mode", choices=["serial", "pool"], default="serial")
    p.add_argument("--processes", type=int, default=None, help="pool size (default: all CPUs)")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()

    if args.mode == "serial":
        total = hits((args.samples, args.seed))
    else:
        procs = args.processes or 1
        per, extra = divmod(args.samples, procs)
        tasks = [(per + (1 if i < extra else 0), args.seed * 1000 + i) for i in range(procs)]
        with Pool(procs) as pool:
            total = sum(pool.map(hits, tasks))
    pi = 4.0 * total / args.samples if args.samples else 0.0
    sys.stdout.write(f"samples,hits,pi\n{args.samples},{total},{pi!r}\n")


if __name__ == "__main__":
    main()
