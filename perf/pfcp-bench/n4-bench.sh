#!/usr/bin/env bash
# Session establishments per second through a real N4 UDP socket:
# smf-sim (pipelined) against pfcp-stub-upf (the pfcp node, no dataplane),
# with the baseline in the same run: the same stub answering canned
# successes (socket + header parse only). Writes perf/results/pfcp-n4-*.json.
#
# Usage: perf/pfcp-bench/n4-bench.sh [SESSIONS] [WINDOW] [T1_MS]
# (a window much above 64 overflows the default UDP socket buffers on
# loopback: losses then cost T1 each and dominate the figures)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-50000}
window=${2:-64}
t1_ms=${3:-500}
cargo build --release -q -p smf-sim
bin=target/release
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

run() { # name, stub args..., then smf-sim profile
    local name=$1 profile=$2; shift 2
    local port=$((20000 + RANDOM % 20000))
    "$bin/pfcp-stub-upf" --listen 127.0.0.1:$port --duration 300 --pool 10.0.0.0/8 "$@" 2>"$out/$name.stub.log" &
    local stub=$!
    sleep 0.3
    "$bin/smf-sim" --upf 127.0.0.1:$port -n "$n" --window "$window" --profile "$profile" \
        --t1-ms "$t1_ms" --modify --delete --json "$out/$name.json" >"$out/$name.txt" || true
    kill $stub 2>/dev/null || true
    wait $stub 2>/dev/null || true
    cat "$out/$name.txt"
}

for profile in simple typical; do
    echo "== $profile: canned baseline"; run "canned-$profile" "$profile" --canned
    echo "== $profile: pfcp node"; run "node-$profile" "$profile"
done

mkdir -p perf/results
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
python3 - "$out" "$date" "$(git rev-parse --short HEAD)" "$n" "$window" >"perf/results/pfcp-n4-${date//:/}.json" <<'PY'
import json, sys, os
out, date, git, n, window = sys.argv[1:6]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
rows = []
for profile in ("simple", "typical"):
    phases = {}
    for system in ("canned", "node"):
        doc = json.load(open(os.path.join(out, f"{system}-{profile}.json")))
        phases[system] = {p["phase"]: p for p in doc["phases"]}
    for phase in ("establish", "modify", "delete"):
        base = phases["canned"][phase]["per_sec"]
        for system in ("canned", "node"):
            p = phases[system][phase]
            rows.append({
                "bench": "pfcp", "op": f"n4_{phase}", "message": profile, "system": system,
                "sessions": int(n), "window": int(window), "per_sec": round(p["per_sec"]),
                "ratio_to_canned": round(p["per_sec"] / base, 3) if base else None,
                "p50_us": round(p["p50_ms"] * 1000) if p["p50_ms"] is not None else None,
                "p99_us": round(p["p99_ms"] * 1000) if p["p99_ms"] is not None else None,
                "timeouts": p["timeouts"], "retransmissions": p["retransmissions"],
                "mpps": None, "cycles_per_pkt": None,
            })
print(json.dumps({
    "date": date, "git": git, "command": "perf/pfcp-bench/n4-bench.sh " + n + " " + window,
    "machine": {"cpu": cpu, "mhz": None, "cores": os.cpu_count()},
    "note": "smf-sim and the stub share the machine's cores with each other and with other work",
    "results": rows,
}, indent=2))
PY
echo "wrote perf/results/pfcp-n4-${date//:/}.json"
