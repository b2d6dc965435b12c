#!/usr/bin/env bash
# Offline test of the TRex kit (perf/trex/, scripts/trex-run.sh, perf/gen/sessions.py).
# No TRex server here: profiles load with the TRex client library from PyPI
# (installed into build/perfkit-venv on first run), the field engine is
# expanded and tshark must dissect valid GTP-U matching the generated config;
# the NDR/PDR search runs against a model DUT. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if ! command -v tshark >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "perf-trex-offline: installing tshark"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark >/dev/null
    else
        echo "perf-trex-offline: tshark is required (apt-get install tshark)" >&2
        exit 1
    fi
fi

# shellcheck source=../../perf/lib/venv.sh
. "$root/perf/lib/venv.sh"
py="$(perfkit_venv "$root")"
trex_pp="$(perfkit_trex_pythonpath)"
export PYTHONPATH="${trex_pp}${PYTHONPATH:+:$PYTHONPATH}"

work="$(mktemp -d -t perfkit-trex-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

echo "== profiles, field engine, tshark, generated config (perf/trex/check_offline.py)"
if "$py" perf/trex/check_offline.py --workdir "$work" > "$work/check.log" 2>&1; then
    cat "$work/check.log"
    ok "check_offline.py: $(tail -1 "$work/check.log")"
else
    cat "$work/check.log"
    fail "check_offline.py: $(tail -1 "$work/check.log")"
fi

echo "== NDR/PDR search against a model DUT (scripts/trex-run.sh --simulate-mpps)"
cap=3.3
if scripts/trex-run.sh --simulate-mpps "$cap" --traffic bidir --sessions 1000 --precision 0.01 \
        --search-duration 1 --duration 2 --out "$work/sim.json" > "$work/sim.log" 2>&1; then
    ok "trex-run.sh --simulate-mpps $cap finishes"
else
    cat "$work/sim.log"; fail "trex-run.sh --simulate-mpps $cap finishes"
fi
if "$py" - "$work/sim.json" "$cap" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); cap = float(sys.argv[2])
keys = {"bench", "direction", "sessions", "inner_bytes", "workers", "mpps", "cycles_per_pkt", "instr_per_pkt",
        "ratio_to_testpmd", "loss", "p50_us", "p99_us", "p999_us"}
assert {"date", "git", "command", "machine", "results"} <= set(doc), doc.keys()
assert doc.get("simulated") is True, "simulated results must say so"
assert set(doc["machine"]) == {"cpu", "mhz", "cores"}, doc["machine"]
rows = {r["search"]: r for r in doc["results"]}
for r in rows.values():
    assert keys <= set(r), keys - set(r)
    assert r["bench"] == "trex" and r["direction"] == "ul+dl" and r["sessions"] == 1000 and r["inner_bytes"] == 64, r
ndr, pdr = rows["ndr"]["mpps_per_direction"], rows["pdr"]["mpps_per_direction"]
# The model forwards `cap` Mpps per direction: NDR within 1 % below it, PDR up to cap / (1 - 0.5 %).
assert cap * 0.98 <= ndr <= cap, ("ndr", ndr)
assert ndr <= pdr <= cap / 0.995 and pdr >= cap * 0.99, ("pdr", pdr)
assert rows["ndr"]["loss"] == 0.0 and rows["pdr"]["loss"] < 0.005
assert abs(rows["ndr"]["mpps"] - 2 * ndr) < 1e-5, "bidir total = 2 x per direction"
print(f"NDR {ndr} Mpps/dir, PDR {pdr} Mpps/dir for a {cap} Mpps model")
PY
then ok "simulated NDR/PDR within the search precision of the model, results JSON in ARCHITECTURE.md format"
else fail "simulated NDR/PDR within the search precision of the model, results JSON in ARCHITECTURE.md format"
fi
if scripts/trex-run.sh --simulate-mpps 1 > "$work/noout.log" 2>&1; then
    fail "simulated results without --out are refused"
else
    grep -q "needs --out" "$work/noout.log" && ok "simulated results without --out are refused" || fail "simulated results without --out are refused"
fi
if "$py" - <<'PY'
import sys
sys.path.insert(0, "perf/trex")
from ndr import percentile_from_histogram as p
h = {"10": 50, "20": 40, "30": 9, "40": 1, "50": 0}
assert p(h, 0.5, 44.0) == 20.0, p(h, 0.5, 44.0)      # 50th sample lies in [10, 20)
assert p(h, 0.99, 44.0) == 40.0, p(h, 0.99, 44.0)    # 99th in [30, 40)
assert p(h, 0.999, 44.0) == 44.0, p(h, 0.999, 44.0)  # last bucket capped by the max seen
assert p({}, 0.5, None) is None
PY
then ok "latency percentiles from a TRex histogram (bucket upper bounds)"
else fail "latency percentiles from a TRex histogram (bucket upper bounds)"
fi

echo
echo "perf-trex-offline: $passed passed, $failed failed"
[ "$failed" = 0 ]
