#!/usr/bin/env bash
# The upf worker's I/O loop next to dpdk-testpmd on the same devices, one
# forwarding lcore, alternating rounds in one run (issue 3's speed figure).
# Three modes (perf/lib/io_worker.py says exactly what each measures):
#   null-rx  2x net_null, 64 B zero frames: upf rx+drop vs testpmd io (what
#            issue 3 names) and rxonly
#   ul       net_pcap UL G-PDUs (10,000 sessions, PSC) -> net_null: the full
#            uplink path vs testpmd io on the same pcap and null port
#   dl       net_pcap DL packets to the UEs -> net_null: the full downlink
#            path (GTP-U encapsulation) vs testpmd io
# Prints Mpps (wall and per second of the worker thread's CPU time) and
# upf÷testpmd, writes perf/results/io-worker-<time>.json.
#
#   perf/io-worker.sh [--quick] [--upf-bin PATH] [-- io_worker.py options]
#   (--sessions N --rounds R --windows W --window-s S --modes null-rx,ul,dl
#    --burst N --upf-also NAME=PATH: another upf binary in the same rounds)
#
# Needs root (EAL runtime dirs). Builds target/release/upf unless --upf-bin
# is given. Every DPDK runtime dir it creates is removed on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cmdline="perf/io-worker.sh $*"
upf_bin=""
extra=()
while (($#)); do
    case "$1" in
    --quick) extra+=(--rounds 1 --windows 3 --window-s 1 --warmup 1) ;;
    --upf-bin) upf_bin="$2"; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1") ;;
    esac
    shift
done
[[ $(id -u) -eq 0 ]] || { echo "io-worker: needs root (DPDK)" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "io-worker: dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 1; }
if [[ -z "$upf_bin" ]]; then
    cargo build --release -q -p upf
    upf_bin="$root/target/release/upf"
fi
export IO_WORKER_TAG="ioworker-$$"
cleanup() { rm -rf /var/run/dpdk/"$IO_WORKER_TAG"-*; }
trap cleanup EXIT
/usr/bin/python3 perf/lib/io_worker.py --upf-bin "$upf_bin" --command "$cmdline" "${extra[@]}"
