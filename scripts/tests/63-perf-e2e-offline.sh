#!/usr/bin/env bash
# Test of perf/e2e-bench.sh's bookkeeping without a working upf:
#  1. the summary (perf/lib/e2e.py) on synthetic loadgen results: medians,
#     ratios paired by round, CPU-normalised ratio, targets, "not measured"
#     rows with null figures;
#  2. "upf: not measured (reason)" for each way the upf can fail, with a
#     Contract test double (perf/lib/testdata/fake_upf.py): no binary,
#     `upf check` rejecting the config, `upf run` exiting, `upf run` serving
#     metrics but never connecting its memif links, and (with a second
#     double running dpdk-testpmd on the config's devices) a device that
#     connects but drops everything or returns frames untouched. These runs
#     start loadgen and testpmd, so they need DPDK and root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
work="$(mktemp -d -t perf-e2e-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM

python3 - <<'PY'
import argparse, sys
sys.path.insert(0, "perf/lib")
import e2e

def doc(ndr, pdr, p99, cap, limited=False):
    trials = [{"loss": 0.2 if cap else 0.0, "rx_mpps_per_dut_cpu": cap, "dut_cpu": {"run": 0.5, "wait": 0.5}}]
    return {"results": [
        {"search": "ndr", "mpps": ndr, "p50_us": p99 / 2, "p99_us": p99, "p999_us": p99 * 2, "max_us": p99 * 3,
         "generator_limited": limited, "trials": trials},
        {"search": "pdr", "mpps": pdr, "trials": []}]}

a = argparse.Namespace(traffic="bidir", sessions=10000, inner_bytes=64, rsize=14, loadgen_lcores="0@0,1@0",
                       loadgen_rx_lcore=None, dut_cpu=1)
runs = {
    "testpmd-io": [doc(2.0, 2.2, 8.0, 4.0), doc(1.0, 1.1, 9.0, 5.0), doc(4.0, 4.4, 7.0, 4.5)],
    "testpmd-macswap": [doc(1.0, 1.1, 8.0, 2.0), {"not_measured": "x"}, doc(2.0, 2.2, 8.0, 2.5)],
    "upf": [doc(1.6, 2.0, 12.0, 3.0, True), doc(0.7, 0.9, 9.5, 4.0), doc(3.0, 3.3, 11.0, 4.0)],
}
rows = {(r["system"], r["search"]): r for r in e2e.summarize(a, runs)}
u, up = rows[("upf", "ndr")], rows[("upf", "pdr")]
assert u["bench"] == "e2e" and rows[("testpmd-io", "ndr")]["bench"] == "testpmd", u["bench"]
assert u["mpps"] == 1.6 and u["samples_mpps"] == [1.6, 0.7, 3.0], u
# Paired by round: 1.6/2.0, 0.7/1.0, 3.0/4.0 -> median 0.75 (not 1.6/2.0 of the medians, 0.8).
assert u["ratio_to_testpmd"] == 0.75, u["ratio_to_testpmd"]
assert up["ratio_to_testpmd"] == round(sorted([2.0 / 2.2, 0.9 / 1.1, 3.3 / 4.4])[1], 4), up["ratio_to_testpmd"]
assert u["ratio_to_testpmd_cpu"] == round(sorted([3.0 / 4.0, 4.0 / 5.0, 4.0 / 4.5])[1], 4), u["ratio_to_testpmd_cpu"]
assert u["p99_us"] == 11.0 and u["generator_limited_rounds"] == 1
assert u["targets"]["ratio_met"] is True and u["targets"]["p99_met"] is False, u["targets"]
m = rows[("testpmd-macswap", "ndr")]
assert m["mpps"] == 1.5 and m["samples_mpps"] == [1.0, None, 2.0] and m["ratio_to_testpmd"] == 0.5, m
assert rows[("testpmd-io", "ndr")]["ratio_to_testpmd"] is None
# A upf that was never measured: null figures, the reasons, no ratio, targets unknown.
runs["upf"] = [{"not_measured": "no upf binary at /x"}, {"not_measured": "no upf binary at /x"}, {"not_measured": "no upf binary at /x"}]
rows = {(r["system"], r["search"]): r for r in e2e.summarize(a, runs)}
u = rows[("upf", "ndr")]
assert u["mpps"] is None and u["ratio_to_testpmd"] is None and u["p99_us"] is None, u
assert u["not_measured"] == "no upf binary at /x", u["not_measured"]
assert u["targets"]["ratio_met"] is None and u["targets"]["p99_met"] is None
print("ok   summary: medians, ratios paired by round, CPU-normalised ratio, targets, not-measured rows")

# Latency at the same fixed rates for every system (loadgen --latency-mpps): medians per
# rate, the device's CPU share, p50/p99 ratios to testpmd io paired by round; a rate
# missing from a round counts as not measured there.
def lat(doc, p50s, cpu=0.9):
    n = doc["results"][0]
    n["latency"] = {"dut_cpu": {"run": cpu, "wait": 1 - cpu}}
    n["latency_at_rates"] = [{"at_mpps_per_direction": r, "p50_us": p, "p99_us": p * 10, "p999_us": p * 20,
                              "max_us": p * 30, "loss": 0.0, "dut_cpu": {"run": cpu, "wait": 1 - cpu}}
                             for r, p in p50s]
    return doc
runs = {
    "testpmd-io": [lat(doc(2.0, 2.2, 8.0, 4.0), [(0.01, 2.0), (0.5, 1.0)], 0.5),
                   lat(doc(1.0, 1.1, 9.0, 5.0), [(0.01, 4.0), (0.5, 2.0)], 0.7),
                   lat(doc(4.0, 4.4, 7.0, 4.5), [(0.01, 1.0), (0.5, 1.0)], 0.9)],
    "testpmd-macswap": [{"not_measured": "x"}] * 3,
    "upf": [lat(doc(1.6, 2.0, 12.0, 3.0), [(0.01, 3.0), (0.5, 4.0)], 0.4),
            lat(doc(0.7, 0.9, 9.5, 4.0), [(0.01, 4.0)], 0.6),
            lat(doc(3.0, 3.3, 11.0, 4.0), [(0.01, 5.0), (0.5, 2.0)], 0.8)],
}
rows = {(r["system"], r["search"]): r for r in e2e.summarize(a, runs)}
u, t = rows[("upf", "ndr")], rows[("testpmd-io", "ndr")]
assert u["latency_dut_cpu_share"] == 0.6 and t["latency_dut_cpu_share"] == 0.7, (u["latency_dut_cpu_share"], t["latency_dut_cpu_share"])
by = {x["mpps_per_direction"]: x for x in u["latency_at_rates"]}
assert sorted(by) == [0.01, 0.5], by
# 0.01: upf 3, 4, 5 against 2, 4, 1 -> ratios 1.5, 1.0, 5.0 -> 1.5 (not 4 / 2 of the medians, 2.0).
assert by[0.01]["p50_us"] == 4.0 and by[0.01]["p50_ratio_to_testpmd"] == 1.5, by[0.01]
assert by[0.01]["p99_ratio_to_testpmd"] == 1.5 and by[0.01]["dut_cpu_share"] == 0.6 and by[0.01]["rounds"] == 3, by[0.01]
# 0.5: round 2 has no upf trial: ratios 4/1 and 2/1 -> median 3.0.
assert by[0.5]["rounds"] == 2 and by[0.5]["p50_us"] == 3.0 and by[0.5]["p50_ratio_to_testpmd"] == 3.0, by[0.5]
tb = {x["mpps_per_direction"]: x for x in t["latency_at_rates"]}
assert "p50_ratio_to_testpmd" not in tb[0.01] and tb[0.01]["p50_us"] == 2.0, tb[0.01]
assert "latency_at_rates" not in rows[("testpmd-macswap", "ndr")]
print("ok   summary: latency at the same rates for every system, paired p50/p99 ratios, the device's CPU share")
PY

if [ "$(id -u)" != 0 ]; then
    echo "skip the upf detection runs: they start loadgen (DPDK) and need root"
    exit 0
fi
if [ -x "${UPF_DEBUG_BIN_DIR:-/nonexistent}/loadgen" ]; then
    lg="$UPF_DEBUG_BIN_DIR/loadgen" # built by scripts/test.sh's cargo test (see debug_bins in scripts/lib.sh)
else
    cargo build -q -p loadgen
    lg="$root/target/debug/loadgen"
fi
fake="$work/upf"
printf '#!/bin/sh\nexec python3 %s "$@"\n' "$root/perf/lib/testdata/fake_upf.py" > "$fake"
chmod +x "$fake"

check_reason() { # name expected-substring fake-mode e2e-args...
    local name="$1" want="$2" mode="$3"; shift 3
    local out="$work/$name.json"
    FAKE_UPF_MODE="$mode" python3 perf/lib/e2e.py --loadgen-bin "$lg" --skip testpmd-io,testpmd-macswap \
        --rounds 1 --sessions 100 --link-timeout 3 --upf-start-timeout 10 --out "$out" "$@" >"$work/$name.log" 2>&1 ||
        { cat "$work/$name.log"; echo "FAIL $name: e2e.py failed"; exit 1; }
    python3 - "$out" "$want" "$name" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
u = next(r for r in doc["results"] if r["system"] == "upf" and r["search"] == "ndr")
assert u["mpps"] is None and u["ratio_to_testpmd"] is None, u
assert sys.argv[2] in u.get("not_measured", ""), f"{sys.argv[3]}: {u.get('not_measured')!r} lacks {sys.argv[2]!r}"
print(f"ok   upf {sys.argv[3]}: not measured ({u['not_measured'][:120]})")
PY
    grep -q "upf: not measured (" "$work/$name.log" || { echo "FAIL $name: no 'upf: not measured' line"; exit 1; }
}
check_reason no-binary "no upf binary at /nonexistent" forward --upf-bin /nonexistent
check_reason badcheck "\`upf check\` rejects the generated config" badcheck --upf-bin "$fake"
check_reason run-exits "\`upf run\` did not serve" exit --upf-bin "$fake"
# Serves its metrics but opens no device: loadgen's memif links never come up.
check_reason no-links "memif links never came up within 3 s" forward --upf-bin "$fake"
# Connects, but drops everything / returns frames untouched (not decapsulated or encapsulated).
fake2="$work/upf2"
printf '#!/bin/sh\nexec python3 %s "$@"\n' "$root/perf/lib/testdata/fake_upf_testpmd.py" > "$fake2"
chmod +x "$fake2"
# testpmd's start on a busy 2-core CI machine can take more than 3 s: these
# cases are about what comes back, not about the link, so give it time.
FAKE_UPF_FWD=rxonly check_reason drops-all "forwards nothing: nothing came back in the warm-up trial" x --upf-bin "$fake2" --link-timeout 20
FAKE_UPF_FWD=io check_reason no-gtp "came back with wrong headers" x --upf-bin "$fake2" --link-timeout 20
left="$(find /var/run/dpdk -maxdepth 1 -name 'e2e-*-r1-upf-*' -printf '%f ' 2>/dev/null || true)"
[ -z "$left" ] || { echo "FAIL DPDK runtime dirs left behind: $left"; exit 1; }
echo "ok   nothing left behind"
