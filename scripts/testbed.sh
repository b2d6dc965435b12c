#!/usr/bin/env bash
# End-to-end testbed for the UPF: three network namespaces joined by veth
# pairs, an iperf3 server and an HTTP server in the data network. The UPF runs
# in the middle namespace on DPDK net_af_packet over its veth ends.
set -Eeuo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/testbed.sh up|down|status|env|help     (as root)

  up      remove any stale testbed of the same prefix, then create it
  down    remove it; never fails on missing pieces
  status  show it; exit 0 when everything is up and the servers listen
  env     print the names and addresses as shell assignments
          (eval "$(scripts/testbed.sh env)")

Topology (names with TESTBED_PREFIX prepended to the namespaces):

  ns upf-gnb (UE + gNB)        ns upf-upf (UPF)                ns upf-dn (data network)
  gnb-n3 192.168.1.2/24 ===== upf-n3  (no kernel IP)
                               upf-n6  (no kernel IP) ======== dn-n6 10.200.0.254/24
  smf-n4 10.100.0.2/24 ====== upf-n4  10.100.0.1/24 (N4, kernel)

  UPF's own addresses (answered by the UPF itself, DPDK net_af_packet):
    N3 192.168.1.1 on upf-n3 (MAC 02:00:00:00:01:01)   gNB gnb-n3 MAC 02:00:00:00:01:02
    N6 10.200.0.1  on upf-n6 (MAC 02:00:00:00:02:01)   DN  dn-n6  MAC 02:00:00:00:00:fe
  UPF config: n3 device "net_af_packet0,iface=upf-n3", n6 "net_af_packet1,iface=upf-n6",
    n6 gateway 10.200.0.254; run it with: ip netns exec upf-upf upf run --config ...
  upf-dn: route 10.45.0.0/16 (UE pool) via 10.200.0.1; iperf3 servers on
    10.200.0.254 ports 5201 5202; HTTP on 10.200.0.254:8080 serving
    testfile.bin (10 MiB random) and testfile.bin.sha256.
  upf-gnb: gNB side; gnb-sim runs here and adds the UE TUN, the UE addresses
    and policy routing itself (UE tools must bind the UE address:
    ping -I 10.45.0.2, iperf3 -B 10.45.0.2, curl --interface 10.45.0.2).

N4 (PFCP): the UPF listens on 10.100.0.1:8805 (kernel socket in upf-upf, on
  upf-n4); the SMF simulator runs in upf-gnb and talks from 10.100.0.2
  (ip netns exec upf-gnb smf-sim ...). The smallest alternative needs no
  link: pfcp.listen 127.0.0.1:8805 and smf-sim run in upf-upf.

MTU: N3 veths 1600 so that a 1500-byte inner packet fits with GTP-U + PDU
  Session Container (+44 bytes: IPv4 20, UDP 8, GTP-U 8+4, PSC 4); gnb-sim's
  TUN defaults to 1400, which also fits a 1500 N3 MTU (if the UPF sets one).
  N6 1500. Offloads off on all veths (tx/rx checksum, TSO, GSO, GRO, VLAN):
  af_packet must see whole frames with finished checksums. IPv6 is disabled
  in the namespaces and ARP off on upf-n3/upf-n6, so the kernel never talks
  on the UPF's interfaces. rp_filter off.

Environment:
  TESTBED_PREFIX=t123-     private copy: namespaces t123-upf-gnb, t123-upf-upf,
                           t123-upf-dn (interface names are unchanged: they live
                           inside the namespaces); for parallel tests.
  TESTBED_RUNDIR=DIR       state (pid files, logs, www); default
                           /run/upf-testbed/<prefix or "default">
  TESTBED_N3_MTU=1600  TESTBED_N6_MTU=1500  TESTBED_HTTP_PORT=8080
  TESTBED_IPERF_PORTS="5201 5202"  TESTBED_FILE_BYTES=10485760
  TESTBED_SERVICES=0       do not start iperf3/HTTP
  TESTBED_STATIC_NEIGH=1   static neighbour entries for the UPF's addresses in
                           upf-gnb (192.168.1.1) and upf-dn (10.200.0.1), so
                           traffic flows without the UPF answering ARP (the
                           default, 0, exercises the UPF's ARP responder).
                           DPDK net_af_packet uses the veth's MAC as the port's.

A test uses its own copy and always removes it:
  export TESTBED_PREFIX=myarea$$-
  trap 'scripts/testbed.sh down' EXIT
  scripts/testbed.sh up && eval "$(scripts/testbed.sh env)"   # NS_GNB, NS_UPF, ...
  ip netns exec "$NS_UPF" upf run --config ...   (file prefix unique per DPDK process)

Related: gnb-sim (tools/gnb-sim/README.md), scripts/tests/30-testbed-updown.sh,
scripts/tests/31-testbed-gnbsim.sh, scripts/testbed/rate.sh (what the paths carry).
EOF
}

P=${TESTBED_PREFIX:-}
if [[ ! $P =~ ^[A-Za-z0-9_.-]{0,40}$ ]]; then
    echo "testbed: TESTBED_PREFIX '$P' must match [A-Za-z0-9_.-]{0,40}" >&2
    exit 2
fi
NS_GNB=${P}upf-gnb
NS_UPF=${P}upf-upf
NS_DN=${P}upf-dn
RUNDIR=${TESTBED_RUNDIR:-/run/upf-testbed/${P:-default}}
N3_MTU=${TESTBED_N3_MTU:-1600}
N6_MTU=${TESTBED_N6_MTU:-1500}
HTTP_PORT=${TESTBED_HTTP_PORT:-8080}
IPERF_PORTS=${TESTBED_IPERF_PORTS:-5201 5202}
FILE_BYTES=${TESTBED_FILE_BYTES:-10485760}
SERVICES=${TESTBED_SERVICES:-1}
STATIC_NEIGH=${TESTBED_STATIC_NEIGH:-0}

GNB_N3_IP=192.168.1.2
UPF_N3_IP=192.168.1.1
UPF_N6_IP=10.200.0.1
DN_IP=10.200.0.254
UE_POOL=10.45.0.0/16
SMF_N4_IP=10.100.0.2
UPF_N4_IP=10.100.0.1
MAC_UPF_N3=02:00:00:00:01:01
MAC_GNB_N3=02:00:00:00:01:02
MAC_UPF_N6=02:00:00:00:02:01
MAC_DN_N6=02:00:00:00:00:fe

log() { echo "testbed: $*"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }

need_root() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "testbed: must run as root (network namespaces)" >&2
        exit 1
    fi
}

python_bin() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

print_env() {
    cat <<EOF
TESTBED_PREFIX=$P
TESTBED_RUNDIR=$RUNDIR
NS_GNB=$NS_GNB
NS_UPF=$NS_UPF
NS_DN=$NS_DN
GNB_N3_IP=$GNB_N3_IP
UPF_N3_IP=$UPF_N3_IP
UPF_N6_IP=$UPF_N6_IP
DN_IP=$DN_IP
UE_POOL=$UE_POOL
SMF_N4_IP=$SMF_N4_IP
UPF_N4_IP=$UPF_N4_IP
MAC_UPF_N3=$MAC_UPF_N3
MAC_GNB_N3=$MAC_GNB_N3
MAC_UPF_N6=$MAC_UPF_N6
MAC_DN_N6=$MAC_DN_N6
N3_MTU=$N3_MTU
N6_MTU=$N6_MTU
HTTP_URL=http://$DN_IP:$HTTP_PORT/testfile.bin
HTTP_PORT=$HTTP_PORT
IPERF_PORTS="$IPERF_PORTS"
TESTFILE_BYTES=$FILE_BYTES
TESTFILE_SHA256=$(cut -d' ' -f1 "$RUNDIR/www/testfile.bin.sha256" 2>/dev/null || true)
EOF
}

# Kill every process still inside namespace $1 (TERM, then KILL after 3 s).
# They were started into the testbed (servers, gnb-sim, the UPF under test),
# and a namespace with processes left in it outlives `ip netns del`.
kill_ns_pids() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    log "stopping processes in $ns: $(echo $pids)"
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 30); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -z $pids ]] && return 0
        sleep 0.1
    done
    kill -KILL $pids 2>/dev/null || true
}

do_down() {
    local ns
    for ns in "$NS_GNB" "$NS_UPF" "$NS_DN"; do
        if ns_exists "$ns"; then
            kill_ns_pids "$ns"
            if ip netns del "$ns"; then
                log "removed namespace $ns"
            else
                log "warning: cannot delete namespace $ns"
            fi
        fi
    done
    # Only a directory this script made (marker inside): TESTBED_RUNDIR may
    # point anywhere.
    if [[ -e $RUNDIR/.upf-testbed ]]; then
        rm -rf -- "$RUNDIR"
        log "removed $RUNDIR"
    elif [[ -d $RUNDIR ]]; then
        log "warning: $RUNDIR has no .upf-testbed marker; left alone"
    fi
}

ns_base() {
    local ns=$1
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # Best effort: a kernel without IPv6 has no such keys.
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# Turn off what breaks af_packet and GTP-U on a veth: checksum offload (frames
# would carry partial checksums), TSO/GSO/GRO (super-frames), VLAN
# acceleration (tags moved out of the frame).
veth_offloads_off() {
    local ns=$1 dev=$2
    nsx "$ns" ethtool -K "$dev" rx off tx off sg off tso off gso off gro off rxvlan off txvlan off >/dev/null 2>&1 || true
    if nsx "$ns" ethtool -k "$dev" | grep -Eq '^(tx-checksumming|generic-segmentation-offload|generic-receive-offload): on'; then
        echo "testbed: could not disable offloads on $ns/$dev" >&2
        return 1
    fi
}

# veth pair $3 (in ns $1) <-> $4 (in ns $2), created directly in the
# namespaces so that nothing is ever left in the root namespace.
veth() {
    local ns_a=$1 ns_b=$2 a=$3 b=$4 mtu=$5 mac_a=$6 mac_b=$7
    ip link add "$a" netns "$ns_a" mtu "$mtu" address "$mac_a" type veth \
        peer name "$b" netns "$ns_b" mtu "$mtu" address "$mac_b"
    veth_offloads_off "$ns_a" "$a"
    veth_offloads_off "$ns_b" "$b"
}

wait_listen() {
    local port=$1 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if nsx "$NS_DN" ss -Hltn "sport = :$port" | grep -q .; then return 0; fi
        sleep 0.1
    done
    echo "testbed: nothing listens on $DN_IP:$port in $NS_DN after 10 s" >&2
    return 1
}

start_services() {
    local port py
    mkdir -p "$RUNDIR/www"
    head -c "$FILE_BYTES" /dev/urandom >"$RUNDIR/www/testfile.bin"
    (cd "$RUNDIR/www" && sha256sum testfile.bin >testfile.bin.sha256)
    for port in $IPERF_PORTS; do
        nsx "$NS_DN" iperf3 -s -B "$DN_IP" -p "$port" -D \
            --pidfile "$RUNDIR/iperf3-$port.pid" --logfile "$RUNDIR/iperf3-$port.log"
    done
    py=$(python_bin)
    # Not through nsx: a backgrounded function would leave a bash subshell
    # between us and python, and the pid file would name the subshell.
    ip netns exec "$NS_DN" "$py" -m http.server "$HTTP_PORT" --bind "$DN_IP" --directory "$RUNDIR/www" \
        </dev/null >"$RUNDIR/http.log" 2>&1 &
    echo $! >"$RUNDIR/http.pid"
    for port in $IPERF_PORTS $HTTP_PORT; do wait_listen "$port"; done
}

do_up() {
    command -v ethtool >/dev/null || { echo "testbed: ethtool missing (apt-get install ethtool)" >&2; exit 1; }
    if [[ $SERVICES == 1 ]]; then
        command -v iperf3 >/dev/null || { echo "testbed: iperf3 missing (apt-get install iperf3)" >&2; exit 1; }
    fi
    do_down
    if [[ -d $RUNDIR && -n $(ls -A "$RUNDIR") ]]; then
        echo "testbed: $RUNDIR exists, is not empty and is not a testbed state directory; refusing" >&2
        exit 1
    fi
    trap 'echo "testbed: up failed; cleaning up" >&2; do_down >/dev/null 2>&1' ERR
    mkdir -p "$RUNDIR"
    touch "$RUNDIR/.upf-testbed"

    ns_base "$NS_GNB"
    ns_base "$NS_UPF"
    ns_base "$NS_DN"

    # N3: gNB <-> UPF
    veth "$NS_GNB" "$NS_UPF" gnb-n3 upf-n3 "$N3_MTU" "$MAC_GNB_N3" "$MAC_UPF_N3"
    nsx "$NS_GNB" ip addr add "$GNB_N3_IP/24" dev gnb-n3
    nsx "$NS_GNB" ip link set gnb-n3 up
    nsx "$NS_UPF" ip link set upf-n3 arp off up

    # N6: UPF <-> DN
    veth "$NS_UPF" "$NS_DN" upf-n6 dn-n6 "$N6_MTU" "$MAC_UPF_N6" "$MAC_DN_N6"
    nsx "$NS_UPF" ip link set upf-n6 arp off up
    nsx "$NS_DN" ip addr add "$DN_IP/24" dev dn-n6
    nsx "$NS_DN" ip link set dn-n6 up
    nsx "$NS_DN" ip route add "$UE_POOL" via "$UPF_N6_IP" dev dn-n6

    if [[ $STATIC_NEIGH == 1 ]]; then
        nsx "$NS_GNB" ip neigh replace "$UPF_N3_IP" lladdr "$MAC_UPF_N3" dev gnb-n3 nud permanent
        nsx "$NS_DN" ip neigh replace "$UPF_N6_IP" lladdr "$MAC_UPF_N6" dev dn-n6 nud permanent
    fi

    # N4: SMF (in the gNB namespace) <-> UPF control plane, kernel IPs
    ip link add smf-n4 netns "$NS_GNB" type veth peer name upf-n4 netns "$NS_UPF"
    nsx "$NS_GNB" ip addr add "$SMF_N4_IP/24" dev smf-n4
    nsx "$NS_GNB" ip link set smf-n4 up
    nsx "$NS_UPF" ip addr add "$UPF_N4_IP/24" dev upf-n4
    nsx "$NS_UPF" ip link set upf-n4 up

    if [[ $SERVICES == 1 ]]; then start_services; fi
    print_env >"$RUNDIR/testbed.env"
    trap - ERR

    log "up (prefix '${P}', state in $RUNDIR)"
    log "  ns $NS_GNB: gnb-n3 $GNB_N3_IP/24 mtu $N3_MTU, smf-n4 $SMF_N4_IP/24"
    log "  ns $NS_UPF: upf-n3 (UPF N3 $UPF_N3_IP, no kernel IP), upf-n6 (UPF N6 $UPF_N6_IP, no kernel IP), upf-n4 $UPF_N4_IP/24"
    log "  ns $NS_DN: dn-n6 $DN_IP/24, route $UE_POOL via $UPF_N6_IP"
    if [[ $STATIC_NEIGH == 1 ]]; then
        log "  static neighbours: $UPF_N3_IP -> $MAC_UPF_N3 (upf-gnb), $UPF_N6_IP -> $MAC_UPF_N6 (upf-dn)"
    fi
    if [[ $SERVICES == 1 ]]; then
        log "  servers in $NS_DN: iperf3 $DN_IP ports $IPERF_PORTS; http://$DN_IP:$HTTP_PORT/testfile.bin ($FILE_BYTES bytes, sha256 $(cut -d' ' -f1 "$RUNDIR/www/testfile.bin.sha256"))"
    fi
}

do_status() {
    local ok=0 ns port pidf
    for ns in "$NS_GNB" "$NS_UPF" "$NS_DN"; do
        if ns_exists "$ns"; then
            echo "== ns $ns"
            nsx "$ns" ip -br addr show | sed 's/^/   /'
            nsx "$ns" ip route show | sed 's/^/   route: /'
        else
            echo "== ns $ns: MISSING"
            ok=1
        fi
    done
    if ns_exists "$NS_DN" && [[ -f $RUNDIR/testbed.env ]]; then
        for pidf in "$RUNDIR"/*.pid; do
            [[ -e $pidf ]] || continue
            # A zombie (reaped late by PID 1) is not running.
            if ps -o stat= -p "$(cat "$pidf")" 2>/dev/null | grep -qv '^Z'; then
                echo "   $(basename "$pidf" .pid): running (pid $(cat "$pidf"))"
            else
                echo "   $(basename "$pidf" .pid): NOT running"
                ok=1
            fi
        done
        if ls "$RUNDIR"/*.pid >/dev/null 2>&1; then
            for port in $IPERF_PORTS $HTTP_PORT; do
                if nsx "$NS_DN" ss -Hltn "sport = :$port" | grep -q .; then
                    echo "   listening: $DN_IP:$port"
                else
                    echo "   NOT listening: $DN_IP:$port"
                    ok=1
                fi
            done
        fi
    elif ns_exists "$NS_DN"; then
        echo "   state $RUNDIR missing (interrupted up?)"
        ok=1
    fi
    return $ok
}

cmd=${1:-help}
case $cmd in
up) need_root; do_up ;;
down) need_root; do_down; exit 0 ;;
status) need_root; do_status ;;
env) print_env ;;
help | -h | --help) usage ;;
*) usage >&2; exit 2 ;;
esac
