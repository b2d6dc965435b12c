#!/usr/bin/env bash
# Offline test of perf/peer-ovs.sh's upf measurement and report (no DPDK, no OVS):
# a test double of `upf` (perf/lib/testdata/fake_upf.py) speaks the Contract
# (check/run, GET /metrics); the helper must measure its rate from
# upf_tx_packets_total{interface="n6"}, print "not measured (why)" when it
# cannot, and the report must compute the ratios, write ARCHITECTURE.md JSON
# and a PNG. The generated full config is read back with PyYAML.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "perf-peer-ovs-offline: installing python3-matplotlib python3-yaml"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib python3-yaml >/dev/null
    else
        echo "perf-peer-ovs-offline: python3-matplotlib is required" >&2
        exit 1
    fi
fi
work="$(mktemp -d -t perfkit-peer-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$py" perf/gen/sessions.py config --sessions 1000 --full --out "$work/upf.yaml" \
    --n3-device "net_pcap0,rx_pcap=$work/x.pcap,infinite_rx=1" --n6-device "net_null0,no-rx=1" \
    --dpdk-arg=--no-huge --dpdk-arg=-m --dpdk-arg=1024 --dpdk-arg=--file-prefix --dpdk-arg=perfkit-t \
    --api-listen "127.0.0.1:$port" --mbr-ul 100Gbps --mbr-dl 100Gbps 2>/dev/null

# The full config carries the Contract keys (read back independently when PyYAML is there).
if "$py" -c 'import yaml' 2>/dev/null; then
    if "$py" - "$work/upf.yaml" "$port" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert set(c) == {"node_id", "dpdk", "cores", "interfaces", "api", "sessions"}, set(c)
assert c["dpdk"]["args"] == ["--no-huge", "-m", "1024", "--file-prefix", "perfkit-t"] and c["dpdk"]["mbufs"] == 65536
assert c["cores"] == {"control": 0, "workers": [1]}
n3, n6 = c["interfaces"]["n3"], c["interfaces"]["n6"]
assert n3["device"].startswith("net_pcap0,rx_pcap=") and n3["address"] == "192.168.1.1/24"
assert n6 == {"device": "net_null0,no-rx=1", "address": "10.200.0.1/24", "gateway": "10.200.0.254",
              "neighbors": {"10.200.0.254": "02:00:00:00:00:fe"}}, n6
assert c["api"]["listen"] == "127.0.0.1:" + sys.argv[2]
s = c["sessions"]
assert len(s) == 1000 and s[0] == {"id": 1, "ue_ip": "10.45.0.2", "uplink": {"teid": 0x01000000},
    "downlink": {"gnb": "192.168.1.2", "teid": 0x02000000, "qfi": 9}, "qos": {"mbr_ul": "100Gbps", "mbr_dl": "100Gbps"}}, s[0]
PY
    then ok "full upf config: Contract keys, N3 pcap / N6 net_null with static gateway neighbour, 1000 sessions with qos"
    else fail "full upf config: Contract keys"
    fi
else
    echo "skip full-config YAML read-back (python3-yaml not installed)"
fi

run_upf() { # mode -> appends one line to $work/rows.jsonl, prints the helper's line
    FAKE_UPF_MODE="$1" FAKE_UPF_MPPS=2.5 "$py" perf/lib/peer_ovs.py upf --bin perf/lib/testdata/fake_upf.py \
        --config "$work/upf.yaml" --api "127.0.0.1:$port" --pidfile "$work/pids" --log "$work/upf-$1.log" \
        --warmup 0.3 --windows 3 --window-s 0.5 --rows "$work/rows-$1.jsonl" \
        --tag '{"system":"upf","frame_bytes":100,"psc":true,"sessions":1000,"overhead":58}'
}

out="$(run_upf forward)"
if "$py" - "$work/rows-forward.jsonl" <<'PY'
import json, sys, statistics
r = json.loads(open(sys.argv[1]).read())
assert "not_measured" not in r, r
w = r["window_mpps"]
assert len(w) == 3 and abs(statistics.median(w) - 2.5) < 0.25, w   # the double counts 2.5 Mpps
assert r["n6_tx_packets"] > 0 and r["n3_rx_packets"] > 0
PY
then ok "upf rate from upf_tx_packets_total{interface=\"n6\"} over the windows ($out)"
else fail "upf rate from the metrics" "$out"
fi
alive=""
for pid in $(cat "$work/pids"); do
    if kill -0 "$pid" 2>/dev/null; then alive="$alive $pid"; kill "$pid"; fi
done
[ -s "$work/pids" ] && [ -z "$alive" ] && ok "every upf the helper started is gone" || fail "upf stopped after measuring" "alive:$alive"

for case in "exit:exited with status 0 before serving" "drop:forwards nothing: N3 received" "badcheck:upf check\` rejects the generated config (status 1): "; do
    mode="${case%%:*}"; want="${case#*:}"
    out="$(run_upf "$mode")"
    if grep -qF "upf: not measured (" <<<"$out" && grep -qF "$want" "$work/rows-$mode.jsonl" && ! grep -q window_mpps "$work/rows-$mode.jsonl"; then
        ok "upf mode $mode: not measured, no figure ($out)"
    else
        fail "upf mode $mode: not measured" "$out"
    fi
done
out="$("$py" perf/lib/peer_ovs.py upf --bin "$work/none" --config "$work/upf.yaml" --api "127.0.0.1:$port" \
    --rows "$work/rows-nobin.jsonl" --tag '{"system":"upf"}')"
grep -qF "upf: not measured (no upf binary" <<<"$out" && ok "missing binary: not measured" || fail "missing binary" "$out"

# Report: ratios against the best OVS variant and testpmd, JSON format, PNG.
cat > "$work/rows.jsonl" <<'JL'
{"system":"ovs","frame_bytes":100,"psc":true,"sessions":1000,"overhead":58,"window_mpps":[1.0,1.2,1.1]}
{"system":"ovs","frame_bytes":100,"psc":false,"sessions":1000,"overhead":50,"window_mpps":[2.0,1.9,2.1]}
{"system":"testpmd","frame_bytes":100,"psc":true,"sessions":1000,"overhead":58,"window_mpps":[20.0,22.0,21.0]}
{"system":"upf","frame_bytes":100,"psc":true,"sessions":1000,"overhead":58,"window_mpps":[8.0,8.4,8.2]}
{"system":"ovs","frame_bytes":512,"psc":true,"sessions":1000,"overhead":58,"window_mpps":[1.0,1.0,1.0]}
{"system":"testpmd","frame_bytes":512,"psc":true,"sessions":1000,"overhead":58,"window_mpps":[5.0,5.0,5.0]}
{"system":"upf","frame_bytes":512,"psc":true,"sessions":1000,"overhead":58,"not_measured":"forwards nothing"}
JL
if "$py" perf/lib/peer_ovs.py report --rows "$work/rows.jsonl" --out "$work/r.json" --png "$work/r.png" > "$work/report.txt" &&
   "$py" - "$work/r.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert {"date", "git", "command", "machine", "results"} <= set(d)
rows = {(r["frame_bytes"], r["system"], r["psc"]): r for r in d["results"]}
u = rows[(100, "upf", True)]
assert u["bench"] == "peer-ovs" and u["mpps"] == 8.2 and u["mpps_min"] == 8.0 and u["mpps_max"] == 8.4
assert u["ratio_to_ovs"] == round(8.2 / 2.0, 4), u["ratio_to_ovs"]        # the higher OVS variant (no PSC)
assert u["ratio_to_testpmd"] == round(8.2 / 21.0, 4), u["ratio_to_testpmd"]
assert rows[(100, "ovs", False)]["used_for_ratio"] is True and rows[(100, "ovs", True)]["used_for_ratio"] is False
assert rows[(100, "testpmd", True)]["inner_bytes"] == 42
n = rows[(512, "upf", True)]
assert n["mpps"] is None and n["ratio_to_ovs"] is None and n["note"] == "forwards nothing"
PY
then
    if grep -q "upf: not measured (forwards nothing)" "$work/report.txt" && grep -q "upf÷OVS = 4.1, upf÷testpmd = 0.3905" "$work/report.txt" &&
       [ "$(head -c 8 "$work/r.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
        ok "report: table with ratios against the best OVS variant and testpmd, not-measured rows, JSON, PNG"
    else
        cat "$work/report.txt"; fail "report table/PNG"
    fi
else
    cat "$work/report.txt" 2>/dev/null; fail "report JSON"
fi

echo
echo "perf-peer-ovs-offline: $passed passed, $failed failed"
[ "$failed" = 0 ]
