#!/usr/bin/env bash
# N4 benchmark: PFCP establishments per second through a real UDP socket
# (smf-sim as the SMF), and time + resident memory to install N sessions.
# Compares the pfcp node alone (pfcp-stub-upf, the baseline) with upf's N4
# driver over the dataplane without DPDK (n4_standalone) and `upf run` on
# DPDK net_null ports (--systems stub,n4,upf; needs root for DPDK).
# Writes perf/results/n4-<stamp>.json (ARCHITECTURE.md format, bench "pfcp").
#
#   perf/n4-bench.sh                # 100,000-session rate runs, 1,000,000-session install
#   perf/n4-bench.sh --quick        # 20,000 / 100,000
#   perf/n4-bench.sh --sessions 50000 --install 0 --systems n4
set -euo pipefail
cd "$(dirname "$0")/.."

# --help before anything is built.
for a in "$@"; do
    if [[ $a == -h || $a == --help ]]; then
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
        echo
        exec python3 perf/lib/n4_bench.py --help
    fi
done

args=()
quick=0
for a in "$@"; do
    if [[ $a == --quick ]]; then quick=1; else args+=("$a"); fi
done
if ((quick)); then
    args=(--sessions 20000 --install 100000 --command "perf/n4-bench.sh --quick" "${args[@]}")
else
    args=(--command "perf/n4-bench.sh $*" "${args[@]}")
fi

cargo build --release -q -p smf-sim --bins
cargo build --release -q -p upf --example n4_standalone
if [[ " $* " == *upf* ]]; then cargo build --release -q -p upf --bin upf; fi
exec python3 perf/lib/n4_bench.py "${args[@]}"
