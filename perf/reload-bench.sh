#!/usr/bin/env bash
# Reload benchmark: time from SIGHUP to applied for reloads that change 1,
# 1,000 and 100,000 static sessions of a 100,000-session file (parse, diff
# and apply separately), and the longest gap between two polls of the
# worker around the publish, against the baseline of a reload that changes
# nothing. `upf run` (release) on net_null ports; needs root (DPDK).
# Writes perf/results/reload-<stamp>.json (ARCHITECTURE.md format, bench
# "reload") and prints a table.
#
#   perf/reload-bench.sh                 # 100,000-session file, k = 0,1,1000,100000
#   perf/reload-bench.sh --quick         # 10,000-session file, k = 0,1,1000,10000
#   perf/reload-bench.sh --file-sessions 20000 --changed 0,20000 --reps 6
set -euo pipefail
cd "$(dirname "$0")/.."

# --help before anything is built.
for a in "$@"; do
    if [[ $a == -h || $a == --help ]]; then
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        echo
        exec python3 perf/lib/reload_bench.py --help
    fi
done

args=()
quick=0
for a in "$@"; do
    if [[ $a == --quick ]]; then quick=1; else args+=("$a"); fi
done
if ((quick)); then
    args=(--file-sessions 10000 --changed "0,1,1000,10000" --reps 3 "${args[@]}")
fi
cargo build --release -q -p upf --bin upf
exec python3 perf/lib/reload_bench.py --command "perf/reload-bench.sh $*" "${args[@]}"
