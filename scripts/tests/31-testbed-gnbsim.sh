#!/usr/bin/env bash
# Test: gnb-sim on a private testbed against gtpu-peer playing the UPF.
#   Part A (reflect): `ping -I <ue>` for two UEs gets replies through gnb-sim
#     and a peer that checks TEID / PDU Session Container / QFI strictly;
#     tshark finds the gNB's G-PDUs valid GTP-U with a UL PDU Session
#     Container of the session's QFI, nothing malformed; Echo Request from the
#     peer answered; End Marker and garbage counted by gnb-sim.
#   Part B (route): the peer forwards through the kernel into the DN
#     namespace: curl gets the test file with the right checksum, iperf3 TCP
#     and UDP run both ways, and gnb-sim's UL count equals what the peer
#     received.
# Needs root, iperf3, curl, tshark, tcpdump. Prefix gnbsim<pid>-.
# GNBSIM_BIN_DIR=dir uses prebuilt gnb-sim/gtpu-peer instead of cargo build.
set -uo pipefail
source "$(dirname "$0")/testbed-lib.sh"
need_root

P="gnbsim$$-"
WORK=$(mktemp -d /tmp/gnbsim-test.XXXXXX)
G="${P}upf-gnb"
U="${P}upf-upf"
# The data network namespace is "${P}upf-dn" (unused here).
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    TESTBED_PREFIX=$P "$TESTBED" down >/dev/null 2>&1
    if ((FAILS)); then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -n ${GNBSIM_BIN_DIR:-} ]]; then
    BIN=$GNBSIM_BIN_DIR
elif [[ -x ${UPF_DEBUG_BIN_DIR:-/nonexistent}/gnb-sim && -x $UPF_DEBUG_BIN_DIR/gtpu-peer ]]; then
    BIN=$UPF_DEBUG_BIN_DIR # built by scripts/test.sh's cargo test (see debug_bins in scripts/lib.sh)
else
    (cd "$ROOT" && cargo build -q -p gnb-sim) || die "cargo build -p gnb-sim"
    BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug
fi
[[ -x $BIN/gnb-sim && -x $BIN/gtpu-peer ]] || die "no gnb-sim/gtpu-peer in $BIN"

TESTBED_PREFIX=$P "$TESTBED" up >"$WORK/testbed.log" 2>&1 || die "testbed up (see $WORK/testbed.log)"
# Only for this test: the peer uses a kernel socket, so upf-n3 gets the UPF's
# N3 address (the real UPF has none there and answers ARP itself).
ip netns exec "$U" ip addr add 192.168.1.1/24 dev upf-n3
ip netns exec "$U" ip link set upf-n3 arp on

cat >"$WORK/sessions.json" <<'EOF'
{ "sessions": [
  { "ue_ip": "10.45.0.2", "upf_n3": "192.168.1.1", "ul_teid": "0x1000", "dl_teid": "0x200", "qfi": 9 },
  { "ue_ip": "10.45.0.3", "upf_n3": "192.168.1.1", "ul_teid": 4097, "dl_teid": 513, "qfi": 5, "seid": 7 }
] }
EOF

start_peer() { # mode
    rm -f "$WORK/peer-ready.json"
    ip netns exec "$U" "$BIN/gtpu-peer" --mode "$1" --sessions "$WORK/sessions.json" \
        --echo-interval-ms 200 --stats-file "$WORK/peer-stats.json" --ready-file "$WORK/peer-ready.json" \
        >"$WORK/peer-$1.log" 2>&1 &
    PEER=$!
    PIDS+=("$PEER")
    wait_until 10 test -s "$WORK/peer-ready.json" || die "gtpu-peer not ready"
}
stop_peer() { kill -TERM "$PEER"; wait "$PEER" 2>/dev/null; }

# Refresh a stats file: SIGUSR1 makes the process rewrite it.
stats() { # pid file
    rm -f "$2"
    kill -USR1 "$1"
    wait_until 5 test -s "$2" || die "no stats file $2"
}

# ---- Part A: reflector ----------------------------------------------------
say "A. gnb-sim against the reflecting peer"
ip netns exec "$G" tcpdump -i gnb-n3 -U -w "$WORK/n3.pcap" udp port 2152 >"$WORK/tcpdump.log" 2>&1 &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
wait_until 10 grep -q "listening on" "$WORK/tcpdump.log" || die "tcpdump did not start"

start_peer reflect
ip netns exec "$G" "$BIN/gnb-sim" --sessions "$WORK/sessions.json" \
    --stats-file "$WORK/gnb-stats.json" --ready-file "$WORK/gnb-ready.json" >"$WORK/gnb.log" 2>&1 &
GNB=$!
PIDS+=("$GNB")
wait_until 10 test -s "$WORK/gnb-ready.json" || die "gnb-sim not ready"
check "ready file lists both sessions" test "$(json "$WORK/gnb-ready.json" 'len(j["sessions"])')" = 2
check "policy rule for each UE" bash -c "ip netns exec $G ip rule | grep -q 'from 10.45.0.2 lookup 145' && ip netns exec $G ip rule | grep -q 'from 10.45.0.3 lookup 145'"

for ue in 10.45.0.2 10.45.0.3; do
    check "ping -I $ue through gnb-sim and the reflector: 5/5 replies" \
        bash -c "ip netns exec $G ping -n -q -c 5 -i 0.2 -W 2 -I $ue 10.200.0.254 | grep -q '5 received'"
done
# Large packet: 1372-byte ICMP payload = 1400-byte inner packet (TUN MTU).
check "ping -s 1372 (1400-byte inner packet) gets its reply" \
    bash -c "ip netns exec $G ping -n -q -c 2 -i 0.2 -W 2 -M do -s 1372 -I 10.45.0.2 10.200.0.254 | grep -q '2 received'"

check "gnb-sim answered the peer's Echo Requests" \
    wait_until 5 bash -c "kill -USR1 $PEER; sleep 0.1; [[ \$(json '$WORK/peer-stats.json' 'j[\"echo_responses\"]') -ge 1 ]]"

# End Marker on both DL TEIDs, then a garbage datagram to the gNB's port.
kill -USR2 "$PEER"
check "End Marker counted per UE" wait_until 5 bash -c "
    kill -USR1 $GNB; sleep 0.1
    [[ \$(json '$WORK/gnb-stats.json' '[u[\"end_markers\"] for u in j[\"ues\"]]') == '[1, 1]' ]]"
ip netns exec "$U" bash -c 'echo -n "not GTP-U" >/dev/udp/192.168.1.2/2152'
check "garbage counted as malformed" wait_until 5 bash -c "
    kill -USR1 $GNB; sleep 0.1; [[ \$(json '$WORK/gnb-stats.json' 'j[\"global\"][\"malformed\"]') == 1 ]]"
check "End Marker logged" grep -q "End Marker from 192.168.1.1:2152 on dl_teid 0x200" "$WORK/gnb.log"

stats "$GNB" "$WORK/gnb-stats.json"
stats "$PEER" "$WORK/peer-stats.json"
check "gnb-sim: 7 UL and 7 DL packets for UE .2, 5 and 5 for UE .3" test \
    "$(json "$WORK/gnb-stats.json" '[(u["ul_packets"], u["dl_packets"]) for u in j["ues"]]')" = "[(7, 7), (5, 5)]"
check "gnb-sim: DL containers all DL type with the session QFI" test \
    "$(json "$WORK/gnb-stats.json" 'sum(u["dl_no_psc"] + u["dl_bad_psc_type"] + u["dl_qfi_mismatch"] for u in j["ues"])')" = 0
check "gnb-sim: nothing unexpected from the TUN or N3" test \
    "$(json "$WORK/gnb-stats.json" '[j["global"][k] for k in ("ul_no_session","ul_not_ipv4","unknown_teid","dl_wrong_dst","tun_write_errors","ul_send_errors")]')" = "[0, 0, 0, 0, 0, 0]"
check "peer: 12 UL G-PDUs passed its checks, none failed" test \
    "$(json "$WORK/peer-stats.json" '(j["ul_ok"], j["ul_unknown_teid"] + j["ul_no_psc"] + j["ul_bad_psc_type"] + j["ul_qfi_mismatch"] + j["ul_wrong_src"] + j["malformed"])')" = "(12, 0)"

sleep 0.2 # let tcpdump flush the last frames (-U writes per packet)
kill -INT "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null
T() { tshark -r "$WORK/n3.pcap" -d udp.port==2152,gtp "$@" 2>/dev/null; }
count() { T -Y "$1" | wc -l; }
check "tshark: 12 G-PDUs from the gNB" test "$(count 'ip.src==192.168.1.2 && gtp.message==0xff')" = 12
check "tshark: all 12 carry a UL PDU Session Container" \
    test "$(count 'ip.src==192.168.1.2 && gtp.message==0xff && gtp.ext_hdr.pdu_ses_con.pdu_type==1')" = 12
check "tshark: QFI 9 on TEID 0x1000 (7), QFI 5 on TEID 0x1001 (5)" test \
    "$(count 'gtp.teid==0x1000 && gtp.ext_hdr.pdu_ses_con.qos_flow_id==9'),$(count 'gtp.teid==0x1001 && gtp.ext_hdr.pdu_ses_con.qos_flow_id==5')" = "7,5"
check "tshark: inner packets are the UEs' ICMP" \
    test "$(count 'ip.src==192.168.1.2 && gtp.message==0xff && icmp.type==8')" = 12
check "tshark: no malformed or error-level expert info in the gNB's frames" \
    test "$(count 'ip.src==192.168.1.2 && (_ws.malformed || _ws.expert.severity >= 0x00800000)')" = 0
check "tshark: Echo Responses from the gNB carry Recovery" \
    bash -c "[[ \$(tshark -r '$WORK/n3.pcap' -d udp.port==2152,gtp -Y 'ip.src==192.168.1.2 && gtp.message==2 && gtp.recovery' 2>/dev/null | wc -l) -ge 1 ]]"
stop_peer

# ---- Part B: routing peer, real servers in the DN -------------------------
say "B. gnb-sim through a kernel-routing peer to the DN servers"
ip netns exec "$U" ip addr add 10.200.0.1/24 dev upf-n6
ip netns exec "$U" ip link set upf-n6 arp on
ip netns exec "$U" sysctl -qw net.ipv4.ip_forward=1
start_peer route
ip netns exec "$U" ip route replace 10.45.0.0/16 dev gtpupeer0

want=$(cut -d' ' -f1 "/run/upf-testbed/$P/www/testfile.bin.sha256")
got=$(ip netns exec "$G" curl -m 30 -sf --interface 10.45.0.3 http://10.200.0.254:8080/testfile.bin | sha256sum | cut -d' ' -f1)
check "curl --interface 10.45.0.3 gets the test file intact" test "$got" = "$want"

iperf() { # name args...
    local name=$1; shift
    timeout 60 ip netns exec "$G" iperf3 -c 10.200.0.254 -J "$@" >"$WORK/iperf-$name.json" 2>&1
}
check "iperf3 TCP uplink from 10.45.0.2" iperf tcp-ul -B 10.45.0.2 -t 2
check "iperf3 TCP downlink to 10.45.0.3" iperf tcp-dl -B 10.45.0.3 -t 2 -R -p 5202
check "iperf3 TCP moved data both ways" test \
    "$(json "$WORK/iperf-tcp-ul.json" 'j["end"]["sum_received"]["bytes"] > 0'),$(json "$WORK/iperf-tcp-dl.json" 'j["end"]["sum_received"]["bytes"] > 0')" = "True,True"

stats "$GNB" "$WORK/gnb-stats.json"
stats "$PEER" "$WORK/peer-stats.json"
ul0=$(json "$WORK/gnb-stats.json" 'j["ues"][0]["ul_bytes"]')
pu0=$(json "$WORK/peer-stats.json" 'j["ul_bytes"]')
check "iperf3 UDP uplink 5 Mbit/s" iperf udp-ul -B 10.45.0.2 -u -b 5M -t 2
check "iperf3 UDP downlink 5 Mbit/s" iperf udp-dl -B 10.45.0.2 -u -b 5M -t 2 -R
stats "$GNB" "$WORK/gnb-stats.json"
stats "$PEER" "$WORK/peer-stats.json"
ul1=$(json "$WORK/gnb-stats.json" 'j["ues"][0]["ul_bytes"]')
pu1=$(json "$WORK/peer-stats.json" 'j["ul_bytes"]')
check "UL bytes gnb-sim sent == bytes the peer received in the UDP runs ($((ul1 - ul0)))" test $((ul1 - ul0)) -eq $((pu1 - pu0))
check "iperf3 UDP: no loss reported at 5 Mbit/s" test \
    "$(json "$WORK/iperf-udp-ul.json" 'j["end"]["sum"]["lost_packets"]'),$(json "$WORK/iperf-udp-dl.json" 'j["end"]["sum"]["lost_packets"]')" = "0,0"

say "UL/DL through gnb-sim (debug build, shared machine; figures, not checks):"
for n in tcp-ul tcp-dl; do
    say "  $n: $(json "$WORK/iperf-$n.json" 'round(j["end"]["sum_received"]["bits_per_second"]/1e6, 1)') Mbit/s"
done

# Clean stop: gnb-sim removes its rules on SIGTERM.
kill -TERM "$GNB"
wait "$GNB" 2>/dev/null
check "gnb-sim exit status 0 on SIGTERM" test $? -eq 0
check "gnb-sim removed its policy rules" bash -c "! ip netns exec $G ip rule | grep -q 'lookup 145'"
check "gnb-sim removed its TUN" bash -c "! ip netns exec $G ip link show gnbsim0 >/dev/null 2>&1"
check "final counters printed" grep -q "gnb-sim counters:" "$WORK/gnb.log"
stop_peer
finish
