#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with the Rust toolchain.
#
# Installs what the tests need (python3 for the tutorial's reference script, pandas for the
# group-by oracle, pyarrow for Parquet files written outside pframe, runuser for the permission
# test as root, taskset for `pframe cores`), starts a one-node Slurm cluster when run as root
# (scripts/slurm-local.sh), then runs every test in the release profile, so that the tests, the
# benchmarks and the binary share one build.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        echo "test.sh: missing $*; install them (apt-get install $*) or run as root" >&2
        return 1
    fi
}

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v runuser >/dev/null || need_apt+=(util-linux)
command -v wc >/dev/null || need_apt+=(coreutils)
if ((${#need_apt[@]})); then
    apt_install "${need_apt[@]}" || true
fi

# pandas: the oracle of the group-by tests; pyarrow writes the Parquet files of the table tests.
# pip first (a pyenv or venv Python); Debian's own Python refuses system-wide pip installs (PEP
# 668), where Debian's packages serve.
if command -v python3 >/dev/null && ! python3 -c 'import pandas, pyarrow' 2>/dev/null; then
    python3 -m pip install -q pandas pyarrow 2>/dev/null ||
        python3 -m pip install -q --break-system-packages pandas pyarrow 2>/dev/null ||
        apt_install python3-pandas python3-pyarrow ||
        echo "test.sh: could not install pandas and pyarrow; their oracle tests will be skipped" >&2
fi

# A real one-node Slurm cluster for the `pframe submit` tests: installing and starting daemons
# needs root; without it those tests skip with a message.
if [ "$(id -u)" = 0 ]; then
    scripts/slurm-local.sh start
    trap 'scripts/slurm-local.sh stop' EXIT
else
    echo "test.sh: not running as root: no Slurm cluster, the submit tests will be skipped" >&2
fi

cargo test --release "$@"
