#!/usr/bin/env bash
# Multi-core scaling (issue 7 item 6): the upf with 1..N workers next to
# testpmd io with as many forwarding cores, same devices, same run; Mpps per
# worker count and efficiency against linear (target >= 90 %).
#
#   perf/scaling.sh [--workers 1,2,4,8,14 | 1-14] [--direction ul|dl]
#                   [--sessions 10000] [--frame BYTES] [--huge] [--mem MB]
#                   [--cores 0,1,2,...] [--rounds R] [--quick] [--upf-bin P]
#                   [--testpmd P | --no-testpmd] [--out FILE] [--keep]
#   perf/scaling.sh --bundle DIR   # static upf + this script, to carry away
#
# Traffic: net_pcap with one rx_pcap (one queue) per worker, each a slice of
# the sessions, infinite_rx=1, into net_null; the upf gives worker i queue i
# of every port (perf/lib/scaling.py says exactly what is measured). The
# control thread takes the first of --cores, worker i the (i+1)th: N workers
# need N+1 cores. Output: a table and perf/results/scaling-<time>.json
# (upf rows bench "e2e", testpmd rows bench "testpmd", mode "scaling").
#
# On a machine without packages or network (e.g. the 16-core box of
# shared/PERF.md): here, `perf/scaling.sh --bundle /tmp/upf-scaling` builds
# the upf statically (cargo --features static: DPDK and its drivers inside)
# and writes DIR and DIR.tar.gz (upf, this script, perf/lib, perf/gen). There:
#   tar xzf upf-scaling.tar.gz && cd upf-scaling
#   echo 4096 > /proc/sys/vm/nr_hugepages; mount -t hugetlbfs nodev /dev/hugepages
#   ./perf/scaling.sh --upf-bin ./upf --huge --workers 1-14 --no-testpmd
# It needs only python3 (standard library) and root. testpmd is optional
# (--testpmd PATH to one that runs there).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
cmdline="perf/scaling.sh${*:+ $*}"
py=/usr/bin/python3
[[ -x $py ]] || py="$(command -v python3)"
upf_bin=""
bundle=""
args=()
while (($#)); do
    case "$1" in
    --upf-bin) upf_bin="$2"; shift ;;
    --bundle) bundle="$2"; shift ;;
    --no-testpmd) args+=(--testpmd "") ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1") ;;
    esac
    shift
done

if [[ -n $bundle ]]; then
    command -v cargo >/dev/null || { echo "scaling: --bundle needs cargo (build machine)" >&2; exit 1; }
    echo "scaling: cargo build --release -p upf --features static"
    cargo build --release -q -p upf --features static
    rm -rf "$bundle"
    mkdir -p "$bundle/perf/lib" "$bundle/perf/gen"
    cp target/release/upf "$bundle/upf"
    cp perf/scaling.sh "$bundle/perf/"
    cp perf/lib/scaling.py perf/lib/io_worker.py perf/lib/peer_ovs.py perf/lib/results.py "$bundle/perf/lib/"
    cp perf/gen/sessions.py "$bundle/perf/gen/"
    # What the binary still needs from the target machine (glibc and friends only, when static worked).
    { echo "# ldd upf (built $(date -u +%FT%TZ), git $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
      ldd "$bundle/upf" || true; } > "$bundle/LDD.txt"
    tar -C "$(dirname "$bundle")" -czf "$bundle.tar.gz" "$(basename "$bundle")"
    echo "scaling: bundle $bundle ($(du -sh "$bundle.tar.gz" | cut -f1) as $bundle.tar.gz); its upf links:"
    sed 1d "$bundle/LDD.txt" | sed 's/^/    /'
    if grep -q "librte_" "$bundle/LDD.txt"; then
        echo "scaling: the upf still links DPDK dynamically: not self-contained" >&2
        exit 1
    fi
    exit 0
fi

[[ $(id -u) == 0 ]] || { echo "scaling: needs root (DPDK runtime directories)" >&2; exit 1; }
if [[ -z $upf_bin ]]; then
    if [[ -f ./upf && -x ./upf ]]; then
        upf_bin="$here/upf" # a bundle
    else
        command -v cargo >/dev/null && cargo build --release -q -p upf
        upf_bin="$here/target/release/upf"
    fi
fi
exec "$py" perf/lib/scaling.py --upf-bin "$upf_bin" --command "$cmdline" "${args[@]}"
