#!/usr/bin/env bash
# What the testbed's paths carry, measured with iperf3 (figures for the
# README; not a pass/fail test). On a private testbed copy:
#   1. af_packet: dpdk-testpmd (io forwarding) on net_af_packet over upf-n3 and
#      upf-n6, the UPF's place; plain IP between the gNB and DN namespaces
#      (static routes and neighbours so that unchanged frames reach the
#      other side). This is the ceiling of the DPDK af_packet/veth path.
#   2. gnb-sim: UE traffic through gnb-sim's TUN and GTP-U to gtpu-peer in
#      route mode (kernel forwarding into the DN), no DPDK.
# Writes JSON to ${OUT:-perf/out}/testbed-rate-<time>.json. Root; uses a
# core at 100 % for ~30 s (testpmd busy-polls). Release build of gnb-sim
# unless GNBSIM_BIN_DIR is given. SECONDS_PER_RUN=5 by default (UDP
# steps: 3 s each, doubling the offered rate until loss exceeds 1 %).
set -uo pipefail
source "$(dirname "$0")/../tests/testbed-lib.sh"
need_root

T=${SECONDS_PER_RUN:-5}
P="gnbsimrate$$-"
G="${P}upf-gnb"
U="${P}upf-upf"
D="${P}upf-dn"
WORK=$(mktemp -d /tmp/gnbsim-rate.XXXXXX)
OUTDIR=${OUT:-$ROOT/perf/out}
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    sleep 0.5
    TESTBED_PREFIX=$P "$TESTBED" down >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -n ${GNBSIM_BIN_DIR:-} ]]; then
    BIN=$GNBSIM_BIN_DIR
else
    (cd "$ROOT" && cargo build -q --release -p gnb-sim) || die "cargo build --release -p gnb-sim"
    BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
fi
TESTBED_PREFIX=$P "$TESTBED" up >"$WORK/testbed.log" 2>&1 || die "testbed up"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
# run NAME PATH -- iperf3 client args (run in the namespace given first)
run() {
    local name=$1 path=$2 ns=$3; shift 3
    : >"$WORK/row"
    timeout $((T + 30)) ip netns exec "$ns" iperf3 -c 10.200.0.254 -t "$T" -J "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" \
        || { say "$name: iperf3 failed: $(tail -c 300 "$WORK/$name.json" "$WORK/$name.err")"; return; }
    python3 - "$WORK/$name.json" "$name" "$path" "$*" >"$WORK/row" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); e = j["end"]; name, path, args = sys.argv[2:5]
udp = j["start"]["test_start"]["protocol"] == "UDP"
r = {"name": name, "path": path, "iperf3_args": args, "protocol": "udp" if udp else "tcp",
     "mbit_s": round(e["sum_received"]["bits_per_second"] / 1e6, 1)}
if udp:
    s = e["sum"]
    r["kpps"] = round((s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3, 1)
    r["loss_pct"] = round(s["lost_percent"], 2)
    r["payload_bytes"] = j["start"]["test_start"]["blksize"]
else:
    r["retransmits"] = e["sum_sent"].get("retransmits")
print(json.dumps(r))
PY
    if [[ -z ${NO_APPEND:-} ]]; then
        cat "$WORK/row" >>"$RESULTS"
        say "$(cat "$WORK/row")"
    fi
}

# Highest offered UDP rate (Mbit/s of iperf3 payload, doubling steps) that
# is carried with at most 1 % loss: the sender does not flood the path.
search() { # NAME PATH NS iperf3-args...
    local name=$1 path=$2 ns=$3 rate loss best=""; shift 3
    for rate in 10 20 40 80 160 320 640 1280; do
        T=3 NO_APPEND=1 run "$name" "$path" "$ns" "$@" -b "${rate}M"
        [[ -s $WORK/row ]] || break
        loss=$(json "$WORK/row" 'j["loss_pct"]')
        if python3 -c "import sys; sys.exit(0 if $loss <= 1.0 else 1)"; then
            best=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r['offered_mbit_s']=$rate; print(json.dumps(r))" "$WORK/row")
        else
            break
        fi
    done
    if [[ -n $best ]]; then
        echo "$best" >>"$RESULTS"
        say "$best"
    else
        say "$name: lossy even at 10 Mbit/s"
    fi
}

# ---- 1. af_packet ceiling ---------------------------------------------------
say "1. dpdk-testpmd io on net_af_packet (upf-n3 <-> upf-n6)"
ip netns exec "$G" ip route add 10.200.0.0/24 dev gnb-n3
ip netns exec "$G" ip neigh replace 10.200.0.254 lladdr 02:00:00:00:00:fe dev gnb-n3
ip netns exec "$D" ip route add 192.168.1.0/24 dev dn-n6
ip netns exec "$D" ip neigh replace 192.168.1.2 lladdr 02:00:00:00:01:02 dev dn-n6
ip netns exec "$U" dpdk-testpmd -l 0-1 --no-huge -m 512 --no-pci --file-prefix "gnbsim-rate-$$" \
    --vdev net_af_packet0,iface=upf-n3 --vdev net_af_packet1,iface=upf-n6 -- \
    --forward-mode=io --total-num-mbufs=16384 --stats-period 600 </dev/null >"$WORK/testpmd.log" 2>&1 &
TP=$!
PIDS+=("$TP")
wait_until 30 grep -q "Start automatic packet forwarding\|io packet forwarding" "$WORK/testpmd.log" || die "testpmd did not start: $(tail -5 "$WORK/testpmd.log")"
wait_until 10 ip netns exec "$G" ping -c1 -W1 -I 192.168.1.2 10.200.0.254 >/dev/null || die "no path through testpmd"
run afpacket-tcp-ul af_packet "$G" -B 192.168.1.2
run afpacket-tcp-dl af_packet "$G" -B 192.168.1.2 -R
search afpacket-udp1372-ul af_packet "$G" -B 192.168.1.2 -u -l 1372
search afpacket-udp64-ul af_packet "$G" -B 192.168.1.2 -u -l 64
kill -INT "$TP"
wait "$TP" 2>/dev/null
ip netns exec "$G" ip route del 10.200.0.0/24 dev gnb-n3
ip netns exec "$D" ip route del 192.168.1.0/24 dev dn-n6

# ---- 2. gnb-sim + kernel peer -------------------------------------------------
say "2. gnb-sim -> GTP-U -> gtpu-peer (route mode) -> DN"
ip netns exec "$U" ip addr add 192.168.1.1/24 dev upf-n3
ip netns exec "$U" ip link set upf-n3 arp on
ip netns exec "$U" ip addr add 10.200.0.1/24 dev upf-n6
ip netns exec "$U" ip link set upf-n6 arp on
ip netns exec "$U" sysctl -qw net.ipv4.ip_forward=1
echo '{"sessions":[{"ue_ip":"10.45.0.2","ul_teid":256,"dl_teid":512,"qfi":9}]}' >"$WORK/s.json"
ip netns exec "$U" "$BIN/gtpu-peer" --mode route --sessions "$WORK/s.json" --ready-file "$WORK/peer.ready" >"$WORK/peer.log" 2>&1 &
PIDS+=($!)
ip netns exec "$G" "$BIN/gnb-sim" --sessions "$WORK/s.json" --ready-file "$WORK/gnb.ready" >"$WORK/gnb.log" 2>&1 &
PIDS+=($!)
wait_until 10 test -s "$WORK/peer.ready" -a -s "$WORK/gnb.ready" || die "gnb-sim/peer not ready"
ip netns exec "$U" ip route replace 10.45.0.0/16 dev gtpupeer0
wait_until 10 ip netns exec "$G" ping -c1 -W1 -I 10.45.0.2 10.200.0.254 >/dev/null || die "no path through gnb-sim"
run gnbsim-tcp-ul gnb-sim "$G" -B 10.45.0.2
run gnbsim-tcp-dl gnb-sim "$G" -B 10.45.0.2 -R
search gnbsim-udp1372-ul gnb-sim "$G" -B 10.45.0.2 -u -l 1372
search gnbsim-udp1372-dl gnb-sim "$G" -B 10.45.0.2 -u -l 1372 -R
search gnbsim-udp64-ul gnb-sim "$G" -B 10.45.0.2 -u -l 64

mkdir -p "$OUTDIR"
out="$OUTDIR/testbed-rate-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$RESULTS" "$out" "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)" "$0 $*" <<'PY'
import json, sys, datetime, os
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
       "git": sys.argv[3], "command": sys.argv[4],
       "machine": {"cpu": cpu, "cores": os.cpu_count()},
       "note": "shared machine; iperf3 through the testbed, one stream",
       "results": rows}
json.dump(doc, open(sys.argv[2], "w"), indent=1)
print(f"{'run':<22} {'Mbit/s':>8} {'kpps':>7} {'loss%':>6} {'offered':>8}")
for r in rows:
    print(f"{r['name']:<22} {r['mbit_s']:>8} {r.get('kpps', ''):>7} {r.get('loss_pct', ''):>6} {r.get('offered_mbit_s', ''):>8}")
PY
say "written $out"
