#!/usr/bin/env bash
# Instructions per packet of the forwarding thread under callgrind, for the
# three modes of perf/io-worker.sh (null-rx, ul, dl): deterministic, so it
# shows what a change did on a shared, noisy machine where the Mpps of
# io-worker.sh move by ±15 %. perf/lib/io_callgrind.py says what is counted.
#
#   perf/io-callgrind.sh [--testpmd-too] [--bin LABEL=PATH ...] [--seconds S]
#                        [--modes null-rx,ul,dl] [--annotate DIR] [--out FILE]
#
# Without --bin: target/release/upf (built here) as "upf". Writes
# perf/results/io-callgrind-<time>.json. Needs root (EAL runtime dirs) and
# valgrind; ~2-3 minutes per run (mode × binary) at the default 20 s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cmdline="perf/io-callgrind.sh $*"
case "${1:-}" in -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[[ $(id -u) -eq 0 ]] || { echo "io-callgrind: needs root (DPDK)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "io-callgrind: valgrind missing (apt-get install valgrind)" >&2; exit 1; }
have_bin=0
for a in "$@"; do [[ "$a" == --bin ]] && have_bin=1; done
extra=()
if (( ! have_bin )); then
    cargo build --release -q -p upf
    extra=(--bin "upf=$root/target/release/upf")
fi
export IO_WORKER_TAG="iocg-$$"
cleanup() { rm -rf /var/run/dpdk/"$IO_WORKER_TAG"-*; }
trap cleanup EXIT
/usr/bin/python3 perf/lib/io_callgrind.py --command "$cmdline" "${extra[@]}" "$@"
