#!/usr/bin/env bash
# CPU time of one process against 4 shards plus the merge (BENCHMARKS.md, issue 5): hyperfine's
# user + system means for each command, and a diff of the merged result against the single run.
#
#   scripts/bench_shards.sh
#
# Needs hyperfine; generates a 1 GiB word list and a 2e7-row G1 CSV in $BENCH_DIR once.
source "$(dirname "$0")/bench_common.sh"
W=$(words_1g)
G=$(g1 g1_2e7.csv 20000000 1)
python3 - "$PF" "$W" "$G" "$BENCH_DIR" <<'PY'
import json, subprocess, sys
P, W, G, D = sys.argv[1:5]
def cpu(cmd, runs):
    subprocess.run(["hyperfine", "-N", "--warmup", "1", "--runs", str(runs), "--export-json", f"{D}/hf.json", cmd],
                   check=True, capture_output=True)
    r = json.load(open(f"{D}/hf.json"))["results"][0]
    return r["user"] + r["system"]
for label, file, q in [("count letters", W, "count"),
                       ("groupby -b id1 -a sum(v1),mean(v3),count", G, "groupby -b id1 -a sum(v1),mean(v3),count")]:
    parts = [f"{D}/part{i}.json" for i in range(4)]
    single = cpu(f"{P} {q} -j 1 {file}", 5)
    shards = sum(cpu(f"{P} {q} -j 1 --shard {i}/4 --partial-out {parts[i]} {file}", 5) for i in range(4))
    merge = cpu(f"{P} merge {' '.join(parts)}", 10)
    one = subprocess.run(f"{P} {q} -f csv {file}".split(), capture_output=True, check=True).stdout
    merged = subprocess.run([P, "merge", "-f", "csv", *parts], capture_output=True, check=True).stdout
    same = "identical" if one == merged else "DIFFERENT"
    print(f"{label} ({file}): one process {single:.3f} s CPU; 4 shards {shards:.3f} s + merge {merge * 1e3:.1f} ms;"
          f" ratio {(shards + merge) / single:.3f}; result {same}")
PY
