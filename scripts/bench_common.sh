# Sourced by the bench scripts: goes to the repository, builds the release binary ($PF), and
# makes the big inputs once in $BENCH_DIR (default /tmp/pframe-bench), reading each into the page
# cache before it is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pframe-bench}
mkdir -p "$BENCH_DIR"
cargo build --release -q
PF=${PF:-$PWD/target/release/pframe}

# g1 NAME ROWS SEED [GROUPS [GEN_OPTIONS...]]: prints the path of an H2O G1 file (100 groups
# unless GROUPS says otherwise), generated if missing.
g1() {
    local f=$BENCH_DIR/$1 rows=$2 seed=$3 groups=${4:-100}
    shift $(($# < 4 ? $# : 4))
    if [ ! -f "$f" ]; then
        "$PF" gen csv --rows "$rows" --groups "$groups" --seed "$seed" "$@" -o "$f" || return 1
    fi
    cat "$f" > /dev/null
    echo "$f"
}

# words_1g: prints the path of a 1 GiB word list, generated if missing.
words_1g() {
    local f=$BENCH_DIR/words_1g.txt
    [ -f "$f" ] || "$PF" gen words -n 120000000 --seed 1 -o "$f"
    cat "$f" > /dev/null
    echo "$f"
}

machine() {
    echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GiB; pframe $("$PF" --version)"
}
