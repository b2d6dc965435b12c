#!/usr/bin/env bash
# I/O ceiling of our worker loop next to DPDK's own: `dpdk-testpmd
# --forward-mode=io` and `ffi/dpdk/examples/iofwd.rs` (the `dpdk` crate's
# wrappers) both forward between two net_null ports on one forwarding lcore,
# in alternation, ROUNDS times. Prints Mpps of each and the ratio, and writes
# perf/results/io-baseline-<time>.json (format: ARCHITECTURE.md, "Benchmark
# results"). Target: iofwd >= 90 % of testpmd.
#
#   perf/io-baseline.sh [--quick]
#   env: ROUNDS (3), SECONDS_RUN (5), WARMUP (1), LCORES ("0,1")
#
# iofwd runs twice per round: linked against the shared DPDK libraries (as
# testpmd is, the like-for-like ratio) and with the `static` feature (what
# a release appliance ships). Without --quick, and when valgrind is
# installed, each is also run once under callgrind for instructions per
# packet of the forwarding thread: a figure the noisy machine cannot move.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_RUN=${SECONDS_RUN:-5}
WARMUP=${WARMUP:-1}
LCORES=${LCORES:-0,1}
CALLGRIND=1
if [[ "${1:-}" == "--quick" ]]; then
    ROUNDS=1
    SECONDS_RUN=2
    CALLGRIND=0
fi
command -v valgrind >/dev/null || CALLGRIND=0
CMDLINE="perf/io-baseline.sh $*"

TESTPMD=$(command -v dpdk-testpmd || true)
[[ -n "$TESTPMD" ]] || { echo "dpdk-testpmd not found (apt-get install dpdk)" >&2; exit 1; }

OUT=perf/out
mkdir -p "$OUT" perf/results
RUNTIME_ROOT=/var/run/dpdk
[[ $(id -u) -eq 0 ]] || RUNTIME_ROOT="${XDG_RUNTIME_DIR:-/tmp}/dpdk"
PREFIXES=()
cleanup() {
    for p in "${PREFIXES[@]}"; do rm -rf "${RUNTIME_ROOT:?}/$p"; done
}
trap cleanup EXIT

echo "building iofwd (shared DPDK, then static DPDK)..." >&2
cargo build --release -q -p dpdk --example iofwd
cp target/release/examples/iofwd "$OUT/iofwd-shared"
cargo build --release -q -p dpdk --example iofwd --features static
cp target/release/examples/iofwd "$OUT/iofwd-static"

EAL_COMMON=(-l "$LCORES" --no-huge -m 512 --no-pci)

# CPU nanoseconds of the DPDK worker thread of process $1 (schedstat).
worker_cpu_ns() {
    local t
    for t in /proc/"$1"/task/*; do
        if [[ "$(cat "$t/comm" 2>/dev/null)" == rte-worker* ]]; then
            awk '{print $1}' "$t/schedstat"
            return
        fi
    done
    echo 0
}

# testpmd: interactive, driven from stdin. The second `show port stats all`
# reports Tx-pps over the window since the first one (after the warm-up);
# around both, the forwarding thread's CPU time is sampled.
run_testpmd() {
    local prefix="io-tp-$$-$1" cpu_a cpu_b pid=""
    PREFIXES+=("$prefix")
    rm -f "$OUT/testpmd-$1.log" "$OUT/testpmd-$1.cpu"
    {
        # Wait for the prompt (start-up takes seconds on a loaded machine).
        for _ in $(seq 300); do
            grep -q 'testpmd>' "$OUT/testpmd-$1.log" 2>/dev/null && break
            sleep 0.1
        done
        echo "start"
        sleep "$WARMUP"
        for p in $(pgrep -f -- "--file-prefix $prefix"); do
            [[ "$(cat /proc/"$p"/comm 2>/dev/null)" == dpdk-testpmd ]] && pid=$p
        done
        cpu_a=$(worker_cpu_ns "$pid")
        echo "show port stats all"
        sleep "$SECONDS_RUN"
        cpu_b=$(worker_cpu_ns "$pid")
        echo "show port stats all"
        echo "$cpu_a $cpu_b" >"$OUT/testpmd-$1.cpu"
        echo "stop"
        echo "quit"
    } | timeout $((SECONDS_RUN + WARMUP + 60)) "$TESTPMD" "${EAL_COMMON[@]}" \
        --file-prefix "$prefix" --vdev net_null0 --vdev net_null1 -- \
        -i --forward-mode=io --total-num-mbufs=16384 >"$OUT/testpmd-$1.log" 2>&1
    rm -rf "${RUNTIME_ROOT:?}/$prefix"
    # wall: sum of both ports' Tx-pps from the last show; cpu: TX-packets
    # between the two shows per second of worker CPU time.
    python3 - "$OUT/testpmd-$1.log" "$OUT/testpmd-$1.cpu" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
pps = [int(x) for x in re.findall(r"Tx-pps:\s+(\d+)", log)][-2:]
tx = [int(x) for x in re.findall(r"TX-packets:\s+(\d+)\s+TX-errors", log)][-4:]
a, b = (int(x) for x in open(sys.argv[2]).read().split())
cpu = (tx[2] + tx[3] - tx[0] - tx[1]) / ((b - a) / 1e9) / 1e6 if b > a and len(tx) == 4 else 0
print(f"{sum(pps) / 1e6:.3f} {cpu:.3f}")
PY
}

run_iofwd() { # $1 = shared|static, $2 = round; prints "wall_mpps cpu_mpps"
    local prefix="io-rs-$$-$1-$2" log="$OUT/iofwd-$1-$2.log"
    PREFIXES+=("$prefix")
    "$OUT/iofwd-$1" --seconds "$SECONDS_RUN" --warmup "$WARMUP" -- \
        "${EAL_COMMON[@]}" --file-prefix "$prefix" >"$log" 2>&1
    rm -rf "${RUNTIME_ROOT:?}/$prefix"
    echo "$(awk '/^iofwd:/ {print $2}' "$log") $(awk '/^iofwd-cpu:/ {print $2}' "$log")"
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%5.1f", 100 * a / b; else print "  n/a" }'; }

TP=() SH=() ST=() TPC=() SHC=() STC=()
TSC_HZ=0
for r in $(seq 1 "$ROUNDS"); do
    # Alternate the order so that a noisy neighbour does not favour one side.
    if (( r % 2 )); then
        tp=$(run_testpmd "$r"); sh=$(run_iofwd shared "$r"); st=$(run_iofwd static "$r")
    else
        st=$(run_iofwd static "$r"); sh=$(run_iofwd shared "$r"); tp=$(run_testpmd "$r")
    fi
    read -r tpw tpc <<<"$tp"; read -r shw shc <<<"$sh"; read -r stw stc <<<"$st"
    [[ -n "$tpw" && -n "$shw" && -n "$stw" ]] || { echo "round $r: a run failed, see $OUT/*-$r.log" >&2; exit 1; }
    TSC_HZ=$(sed -n 's/.*tsc_hz \([0-9]*\).*/\1/p' "$OUT/iofwd-shared-$r.log")
    TP+=("$tpw") SH+=("$shw") ST+=("$stw") TPC+=("${tpc:-0}") SHC+=("${shc:-0}") STC+=("${stc:-0}")
    printf 'round %d wall: testpmd %6.2f | iofwd shared %6.2f (%s %%) | static %6.2f (%s %%)   per worker CPU s: testpmd %6.2f | shared %6.2f (%s %%) | static %6.2f (%s %%)\n' \
        "$r" "$tpw" "$shw" "$(pct "$shw" "$tpw")" "$stw" "$(pct "$stw" "$tpw")" \
        "$tpc" "$shc" "$(pct "$shc" "$tpc")" "$stc" "$(pct "$stc" "$tpc")"
done

# Instructions per forwarded packet of the forwarding thread under callgrind
# (the thread with the most instructions), $1 = testpmd|shared|static.
callgrind_ipp() {
    local what=$1 dir="$OUT/cg-$1" prefix="io-cg-$$-$1" pkts
    PREFIXES+=("$prefix")
    rm -rf "$dir"; mkdir -p "$dir"
    if [[ "$what" == testpmd ]]; then
        {
            for _ in $(seq 600); do
                grep -q 'testpmd>' "$dir/log" 2>/dev/null && break
                sleep 0.1
            done
            echo start; sleep 4; echo stop; echo quit
        } | (cd "$dir" && timeout 300 valgrind --tool=callgrind --separate-threads=yes \
            "$TESTPMD" "${EAL_COMMON[@]}" --file-prefix "$prefix" --vdev net_null0 \
            --vdev net_null1 -- -i --forward-mode=io --total-num-mbufs=16384 >log 2>&1)
        pkts=$(grep -A2 'Accumulated forward' "$dir/log" | awk '/TX-packets/ {print $2}')
    else
        local bin; bin=$(realpath "$OUT/iofwd-$what")
        (cd "$dir" && timeout 300 valgrind --tool=callgrind --separate-threads=yes "$bin" \
            --seconds 3 --warmup 1 -- "${EAL_COMMON[@]}" --file-prefix "$prefix" >log 2>&1)
        pkts=$(awk '/^  port .*: rx/ {s += $7} END {print s}' "$dir/log")
    fi
    rm -rf "${RUNTIME_ROOT:?}/$prefix"
    local ir; ir=$(cat "$dir"/callgrind.out.* 2>/dev/null | awk '/^summary:/ {if ($2 > m) m = $2} END {print m + 0}')
    awk -v i="$ir" -v p="${pkts:-0}" 'BEGIN { if (p > 0 && i > 0) printf "%.1f\n", i / p; else print "null" }'
}

IPP_TP=null IPP_SH=null IPP_ST=null
if (( CALLGRIND )); then
    echo "callgrind: instructions per packet (about a minute)..." >&2
    IPP_TP=$(callgrind_ipp testpmd); IPP_SH=$(callgrind_ipp shared); IPP_ST=$(callgrind_ipp static)
    echo "callgrind instructions/packet: testpmd $IPP_TP | iofwd shared $IPP_SH | iofwd static $IPP_ST"
fi

python3 - "$CMDLINE" "$TSC_HZ" "$SECONDS_RUN" "${TP[*]}" "${SH[*]}" "${ST[*]}" "${TPC[*]}" "${SHC[*]}" "${STC[*]}" "$IPP_TP $IPP_SH $IPP_ST" <<'EOF'
import datetime, json, os, statistics, subprocess, sys

cmd, tsc_hz, secs = sys.argv[1], int(sys.argv[2] or 0), float(sys.argv[3])
tp, sh, st, tpc, shc, stc = ([float(x) for x in a.split()] for a in sys.argv[4:10])
ipp = [None if x == "null" else float(x) for x in sys.argv[10].split()]

def cpuinfo(key):
    for line in open("/proc/cpuinfo"):
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None

git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or None
mhz = cpuinfo("cpu MHz")
med_tp = statistics.median(tp)

def ratio(samples, base):
    r = [s / t for s, t in zip(samples, base) if t > 0 and s > 0]
    return round(statistics.median(r), 3) if r else None

def row(system, samples, cpu_samples, instr):
    mpps = statistics.median(samples)
    return {
        "bench": "testpmd", "system": system, "direction": None, "sessions": None,
        "inner_bytes": None, "frame_bytes": 64, "workers": 1,
        "mpps": round(mpps, 3),
        "cycles_per_pkt": round(tsc_hz / (mpps * 1e6), 1) if tsc_hz and mpps else None,
        "instr_per_pkt": instr,
        # Ratio of packets per second of worker CPU time (robust to the
        # preemption a shared machine inflicts); wall-clock ratio beside it.
        "ratio_to_testpmd": None if system == "testpmd" else ratio(cpu_samples, tpc),
        "ratio_to_testpmd_wall": None if system == "testpmd" else ratio(samples, tp),
        "mpps_per_worker_cpu_s": round(statistics.median(cpu_samples), 3) if cpu_samples else None,
        "samples_mpps_per_worker_cpu_s": cpu_samples,
        "loss": None, "p50_us": None, "p99_us": None, "p999_us": None,
        "samples_mpps": samples, "seconds_per_sample": secs,
        "device": "2x net_null (64 B), io forwarding, burst 32",
    }

doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "git": git, "command": cmd,
    "machine": {"cpu": cpuinfo("model name"), "mhz": round(float(mhz)) if mhz else None,
                "cores": os.cpu_count(), "tsc_hz": tsc_hz or None,
                "note": "shared, noisy build machine: compare ratios, not absolute Mpps"},
    "results": [row("testpmd", tp, tpc, ipp[0]), row("iofwd-shared", sh, shc, ipp[1]),
                row("iofwd-static", st, stc, ipp[2])],
}
name = "perf/results/io-baseline-" + doc["date"].replace(":", "").replace("-", "") + ".json"
with open(name, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
r = doc["results"]
print(f"median wall Mpps: testpmd {r[0]['mpps']}, iofwd shared {r[1]['mpps']}, iofwd static {r[2]['mpps']}")
print(f"median Mpps per worker CPU s: testpmd {r[0]['mpps_per_worker_cpu_s']}, "
      f"iofwd shared {r[1]['mpps_per_worker_cpu_s']}, iofwd static {r[2]['mpps_per_worker_cpu_s']}")
print(f"ratio to testpmd (median of rounds, CPU-normalised): shared {r[1]['ratio_to_testpmd']}, "
      f"static {r[2]['ratio_to_testpmd']}; wall-clock: shared {r[1]['ratio_to_testpmd_wall']}, "
      f"static {r[2]['ratio_to_testpmd_wall']}")
print(f"wrote {name}")
EOF
