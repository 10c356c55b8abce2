#!/usr/bin/env bash
# Word frequencies at the issue's shape: `pframe count -u words --top 10` against Python polars'
# streaming `group_by(word).len()` (scripts/words_polars.py) on a 1 GiB word list of about 1M
# distinct words (`gen words --vocabulary 1000000`), and on the default list (about 42,600
# distinct), side by side in one hyperfine call each, with each tool's peak RSS.
#
#   scripts/bench_words.sh
#   WORDS=20000000 RUNS=3 scripts/bench_words.sh     # a smaller list
#
# Needs hyperfine, GNU time and `pip install polars`.
source "$(dirname "$0")/bench_common.sh"
WORDS=${WORDS:-120000000}
RUNS=${RUNS:-2}
echo "## machine"
machine
python3 -c 'import polars; print("polars", polars.__version__)'
for vocabulary in 1000000 default; do
    f=$BENCH_DIR/words_${WORDS}_${vocabulary}.txt
    if [ ! -f "$f" ]; then
        if [ "$vocabulary" = default ]; then
            "$PF" gen words -n "$WORDS" --seed 1 -o "$f"
        else
            "$PF" gen words -n "$WORDS" --seed 1 --vocabulary "$vocabulary" -o "$f"
        fi
    fi
    cat "$f" > /dev/null
    PCMD="$PF count -u words --top 10 $f"
    LCMD="python3 scripts/words_polars.py $f 10"
    echo
    echo "## $(basename "$f"): $(stat -L -c %s "$f") bytes, $WORDS words, vocabulary $vocabulary"
    for cmd in "$PCMD" "$LCMD"; do
        { /usr/bin/time -f "peak RSS %M KiB: $cmd" $cmd > /dev/null; } 2>&1
    done
    # The same ten words and counts (polars prints a header).
    diff <($PCMD --format csv | tail -n +2) <($LCMD | tail -n +2) > /dev/null \
        && echo "answers: equal" || echo "answers: DIFFERENT"
    hyperfine -N -w 1 -r "$RUNS" "$PCMD" "$LCMD"
done
