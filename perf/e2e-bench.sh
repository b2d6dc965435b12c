#!/usr/bin/env bash
# End to end: the load generator (perf/loadgen) through the upf, next to
# dpdk-testpmd io and macswap (the baseline) on the identical topology and
# load, in the same run. NDR and PDR by binary search, latency at 50 % of
# NDR; the upf's figures as ratios to testpmd io of the same round.
#
#   perf/e2e-bench.sh [--quick] [--rounds 3] [--sessions 10000] [--inner-bytes 64]
#                     [--traffic ul|dl|bidir] [--max-mpps 4] [--trial-s 1]
#                     [--precision 0.02] [--latency-s 2] [--latency-mpps 0.01,0.5] [--rsize 14]
#                     [--upf-bin PATH] [--build-upf] [--upf-threads PREFIX]
#                     [--skip testpmd-io,testpmd-macswap,upf] [--out FILE] [--keep]
#                     [--loadgen-lcores 0@0,1@0] [--loadgen-rx-lcore N] [--dut-cpu 1]
#
# Topology: two net_memif links (N3, N6), loadgen the memif server (CPU 0,
# one lcore sending and receiving), the device under test the memif client
# (its forwarding lcore / worker on CPU 1), all --no-huge, sockets in a temp
# dir (with more cores, --loadgen-lcores 0@0,1@2,2@3 --loadgen-rx-lcore 2
# gives the generator a tx and an rx core). The upf runs one worker with
# 10,000 static sessions (QER with an MBR far above the offered rate, and
# URR) on a config that perf/gen/sessions.py writes for the same session
# plan as the traffic. Latency is measured at 50 % of each system's NDR and
# at the same fixed rates per direction for all (--latency-mpps), with the
# device's CPU share in each trial: a poll-mode device that the shared
# machine deschedules queues for a scheduler slice. Until the upf forwards,
# its row says "upf: not measured (reason)". Targets: upf NDR >= 70 % of
# testpmd io; p99 <= 10 us at 50 % of NDR.
#
# Output: a table and perf/results/e2e-<time>.json (ARCHITECTURE.md format:
# bench "testpmd" rows for the baseline, bench "e2e" rows for the upf).
# --quick: one round, short trials (about a minute once loadgen is built).
# Everything it starts is stopped by PID, the DPDK runtime dirs and the temp
# dir are removed on exit, error or Ctrl-C (--keep keeps the temp dir).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cmdline="perf/e2e-bench.sh $*"

args=()
build_upf=0
loadgen_bin="${LOADGEN_BIN:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --build-upf) build_upf=1; shift ;;
        --loadgen-bin) loadgen_bin="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "e2e-bench: needs root (DPDK runtime directories, memif sockets)" >&2
    exit 1
fi
command -v dpdk-testpmd >/dev/null || {
    echo "e2e-bench: installing dpdk (dpdk-testpmd)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpdk >/dev/null
}

if [ -z "$loadgen_bin" ]; then
    echo "e2e-bench: building loadgen (release)" >&2
    cargo build --release -q -p loadgen
    loadgen_bin="$root/target/release/loadgen"
fi
if [ "$build_upf" = 1 ]; then
    echo "e2e-bench: building upf (release)" >&2
    cargo build --release -q -p upf
fi

# Python owns the processes from here: it stops them on every exit path.
exec python3 "$root/perf/lib/e2e.py" --loadgen-bin "$loadgen_bin" --command "$cmdline" "${args[@]}"
