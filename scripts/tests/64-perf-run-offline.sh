#!/usr/bin/env bash
# timeout: 180
# Test of perf/run.sh's bookkeeping without measuring anything (about 20 s):
#  1. merging synthetic results of every suite (perf/lib/testdata/
#     synthetic_suites.py) into one document: the Contract's fields, every
#     row tagged with its suite, a "not measured" row with null figures for
#     a missing suite, the summary's ratios and targets (met and not met);
#  2. the four plots as valid PNGs, from full data and from an empty run
#     (each then says "not measured");
#  3. perf/run.sh itself with fake suites (--suite-cmd): one writes its
#     results, one fails with a message, one hangs past the time limit (it is
#     stopped, with its children), one writes nothing, one is skipped; each
#     failure becomes "not measured (reason)" and the run goes on to write
#     one JSON, the plots and the table;
#  4. perf/run.sh --quick --dry-run: the plan of all five suites, no files;
#  5. scaling.py's efficiency arithmetic and worker-count parsing, and
#     e2e.py's choice of the latency CDF of the median round.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
py=/usr/bin/python3
work="$(mktemp -d -t perf-run-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# Plots need Debian's matplotlib; run.sh installs it (root) the way a run does.
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
    [[ $(id -u) == 0 ]] || { echo "SKIP: python3-matplotlib missing and not root"; exit 77; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null
fi

echo "1. merge synthetic suite results"
"$py" perf/lib/testdata/synthetic_suites.py "$work/subs"
"$py" perf/lib/perfrun.py merge --out "$work/merged.json" --plots-dir "$work/merged" --command "perf/run.sh --quick" \
    --sub pipeline="$work/subs/pipeline.json" --sub io-worker="$work/subs/io-worker.json" \
    --sub e2e="$work/subs/e2e.json" --sub peer-ovs="$work/subs/peer-ovs.json" \
    --not-measured scaling="no 16-core machine" > "$work/merge.out"
grep -q "not measured (no 16-core machine)" "$work/merge.out" || fail "summary lacks the not-measured scaling line"
"$py" - "$work/merged.json" <<'PY'
import json, sys
sys.path.insert(0, "perf/lib")
import results
d = json.load(open(sys.argv[1]))
for k in ("date", "git", "command", "machine", "results"):
    assert k in d, k
assert d["command"] == "perf/run.sh --quick"
assert set(d["machine"]) >= {"cpu", "mhz", "cores"}, d["machine"]
rows = d["results"]
for r in rows:
    assert set(results.ROW_KEYS) <= set(r), r
    assert r["suite"] in ("pipeline", "io-worker", "e2e", "peer-ovs", "scaling"), r
    assert r["bench"] in ("pipeline", "e2e", "testpmd", "peer-ovs"), r["bench"]
by = lambda s: [r for r in rows if r["suite"] == s]
assert len(by("pipeline")) == 24 and len(by("io-worker")) == 6 and len(by("e2e")) == 6 and len(by("peer-ovs")) == 8
nm = by("scaling")
assert len(nm) == 1 and nm[0]["not_measured"] == "no 16-core machine", nm
assert all(nm[0][k] is None for k in ("mpps", "ratio_to_testpmd", "p99_us")), nm
assert d["suites"]["scaling"]["status"] == "not measured"
assert d["suites"]["e2e"]["command"] == "perf/e2e-bench.sh --quick"
s = {x["figure"]: x for x in d["summary"]}
def one(prefix):
    m = [v for k, v in s.items() if k.startswith(prefix)]
    assert len(m) == 1, (prefix, list(s))
    return m[0]
ul10k = one("pipeline UL cycles/pkt, 64 B, 10,000")
assert ul10k["value"] == 120.0 and ul10k["met"] is False, ul10k
dl1m = one("pipeline DL cycles/pkt, 64 B, 1,000,000")
assert dl1m["value"] == 145.0 and dl1m["met"] is True, dl1m
e = one("e2e NDR")
assert (e["value"], e["baseline"], e["ratio"], e["met"]) == (3.2, 4.0, 0.8, True), e
p = one("e2e upf p99")
assert (p["value"], p["baseline"], p["met"]) == (8.5, 6.0, True), p
o = one("peer-ovs 100 B: upf ÷ OVS")
assert (o["value"], o["baseline"], o["ratio"], o["met"]) == (9.0, 2.0, 4.5, True), o
o5 = one("peer-ovs 512 B: upf ÷ OVS")
assert o5["ratio"] == 3.5 and o5["target"] is None and o5["met"] is None, o5
io = one("io-worker ul")
assert (io["value"], io["baseline"], io["ratio"]) == (14.0, 35.0, 0.4), io
sc = one("scaling")
assert sc["value"] is None and sc["not_measured"] == "no 16-core machine", sc
assert set(d["plots"]) == {"cycles_vs_sessions", "throughput_vs_workers", "latency_cdf", "peer_ovs"}, d["plots"]
print("   merged document, rows and summary: ok")
PY

echo "2. plots are PNGs (full data, and a run where nothing was measured)"
"$py" perf/lib/perfrun.py merge --out "$work/sc.json" --plots-dir "$work/sc" --sub scaling="$work/subs/scaling.json" \
    --not-measured e2e="loadgen failed" > "$work/sc.out"
grep -Eq "scaling: upf ul with 4 worker\(s\) +28\.00 +32\.00 +0\.875 +>= 0\.90 of linear +NO" "$work/sc.out" ||
    { cat "$work/sc.out"; fail "4-worker efficiency 0.875 not reported as missing the target"; }
grep -Eq "with 2 worker\(s\) +15\.20 +16\.00 +0\.950 .* yes" "$work/sc.out" || fail "2-worker efficiency 0.95 not reported as met"
"$py" perf/lib/perfrun.py merge --out "$work/none.json" --plots-dir "$work/none" > /dev/null
for d in merged sc none; do
    for p in cycles_vs_sessions throughput_vs_workers latency_cdf peer_ovs; do
        f="$work/$d/$p.png"
        [[ -s $f ]] || fail "$f missing"
        [[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] || fail "$f is not a PNG"
        (($(stat -c %s "$f") > 10000)) || fail "$f is suspiciously small"
    done
done
# A plot with data differs from the same plot without.
cmp -s "$work/merged/latency_cdf.png" "$work/none/latency_cdf.png" && fail "latency CDF drawn without data"
echo "   12 PNGs: ok"

echo "3. perf/run.sh with fake suites (success, failure, timeout, nothing written, skipped)"
if [[ $(id -u) == 0 ]]; then
    hang_pid="$work/hang.pid"
    set +e
    timeout 120 perf/run.sh --quick --no-build --results-dir "$work/res" --stamp T1 --suite-timeout 3 --skip scaling \
        --suite-cmd "pipeline=cp '$work/subs/pipeline.json' \"\$OUT\"" \
        --suite-cmd "io-worker=echo 'io-worker: error: no rte-worker thread' >&2; exit 3" \
        --suite-cmd "e2e=sleep 300 & echo \$! > '$hang_pid'; wait" \
        --suite-cmd "peer-ovs=echo measured nothing" > "$work/run.out" 2>&1
    rc=$?
    set -e
    [[ $rc == 0 ]] || { tail -20 "$work/run.out"; fail "run.sh exited $rc"; }
    [[ -s $work/res/T1.json ]] || fail "no results JSON"
    for p in cycles_vs_sessions throughput_vs_workers latency_cdf peer_ovs; do
        [[ -s $work/res/T1/$p.png ]] || fail "no $p.png next to the JSON"
    done
    # The hung suite's child was stopped with its process group.
    hp="$(cat "$hang_pid")"
    ! kill -0 "$hp" 2>/dev/null || { kill "$hp"; fail "the timed-out suite's child $hp still runs"; }
    "$py" - "$work/res/T1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
st = {k: v["status"] for k, v in d["suites"].items()}
assert st == {"pipeline": "ok", "io-worker": "failed", "e2e": "timeout", "peer-ovs": "failed", "scaling": "not measured"}, st
nm = {r["suite"]: r["not_measured"] for r in d["results"] if r.get("not_measured")}
assert nm["io-worker"] == "exit status 3: io-worker: error: no rte-worker thread", nm
assert nm["e2e"].startswith("timed out after 3 s"), nm
assert nm["peer-ovs"].startswith("wrote no results file"), nm
assert nm["scaling"] == "skipped (--skip)", nm
assert len([r for r in d["results"] if r["suite"] == "pipeline"]) == 24
assert d["command"].startswith("perf/run.sh --quick --no-build"), d["command"]
assert d["quick"] is True and d["plots"]["peer_ovs"] == "T1/peer_ovs.png", d["plots"]
print("   statuses and reasons: ok")
PY
    grep -q "io-worker: not measured (exit status 3" "$work/run.out" || fail "no not-measured line for io-worker"
    grep -Eq "e2e NDR .*not measured \(timed out after 3 s" "$work/run.out" || fail "summary table lacks the e2e timeout"
    grep -q "results: $work/res/T1.json" "$work/run.out" || fail "run.sh did not print where the results are"
else
    echo "   skipped (needs root: run.sh refuses to run suites without it)"
fi

echo "4. perf/run.sh --quick --dry-run"
perf/run.sh --quick --dry-run --results-dir "$work/dry" --stamp D > "$work/dry.out"
for s in pipeline io-worker e2e peer-ovs scaling; do
    grep -Eq "^  $s +\(limit [0-9]+ s\) " "$work/dry.out" || { cat "$work/dry.out"; fail "dry run does not plan $s"; }
done
grep -q -- "pipeline-bench --quick --callgrind --out" "$work/dry.out" || fail "quick pipeline command"
grep -q -- "e2e-bench.sh --quick --loadgen-bin" "$work/dry.out" || fail "quick e2e command"
[[ ! -e $work/dry ]] || fail "the dry run wrote files"
perf/run.sh --dry-run --skip e2e,peer-ovs --results-dir "$work/dry" > "$work/dry2.out"
grep -q "e2e        not measured (skipped (--skip))" "$work/dry2.out" || fail "dry run: skipped suite"
echo "   plan: ok"

echo "5. scaling arithmetic, e2e latency CDF choice"
"$py" - <<'PY'
import argparse, sys
sys.path.insert(0, "perf/lib")
import scaling, e2e
assert scaling.parse_counts("1-3,8,2") == [1, 2, 3, 8]
a = argparse.Namespace(workers=[1, 2, 4], direction="ul", sessions=10000, frame=100, huge=False)
samples = {("upf", 1): {"wall": [4.0, 4.2, 3.8], "cpu": [8.0]}, ("upf", 2): {"wall": [7.6], "cpu": [7.9]},
           ("testpmd-io", 1): {"wall": [20.0], "cpu": [40.0]}, ("testpmd-io", 2): {"wall": [40.0], "cpu": [40.0]}}
rows = scaling.summarize(a, samples, {"upf/4": "5 cores needed, 2 available"})
u = {r["workers"]: r for r in rows if r["system"] == "upf"}
assert u[1]["mpps"] == 4.0 and u[1]["scaling_efficiency"] == 1.0 and "targets" not in u[1], u[1]
assert u[2]["linear_mpps"] == 8.0 and u[2]["scaling_efficiency"] == 0.95 and u[2]["targets"]["met"] is True, u[2]
assert u[2]["scaling_efficiency_cpu"] == round(7.9 / 8.0, 4) and u[2]["ratio_to_testpmd"] == 0.19, u[2]
assert u[4]["mpps"] is None and u[4]["not_measured"] == "5 cores needed, 2 available", u[4]
assert {r["bench"] for r in rows} == {"e2e", "testpmd"}
cdf = lambda s: {"ul": [[50.0, s], [100.0, 2 * s]]}
nd = lambda p99, s: {"p99_us": p99, "latency": {"per_direction": {"ul": {"p99_us": p99, "cdf": cdf(s)["ul"]}}}}
cdfs = [e2e.latency_cdf(nd(9.0, 1.0)), e2e.latency_cdf(nd(3.0, 2.0)), e2e.latency_cdf(nd(5.0, 3.0))]
assert e2e.median_round_cdf([9.0, 3.0, 5.0], cdfs) == cdf(3.0), "median round is the p99 = 5 one"
assert e2e.median_round_cdf([None, None], [None, None]) is None
assert e2e.latency_cdf({"latency": {"per_direction": {"ul": {"p99_us": 1.0}}}}) is None, "old loadgen: no CDF"
print("   ok")
PY
echo "PASS"
