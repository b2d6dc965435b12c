#!/usr/bin/env bash
# Test: scripts/testbed.sh comes up and goes down cleanly, twice in a row,
# after a killed `up`, with stray processes left in its namespaces, and two
# private copies (TESTBED_PREFIX) side by side without touching each other.
# Needs root. Uses prefixes gnbsim<pid>a- / gnbsim<pid>b-, never the demo's.
set -uo pipefail
source "$(dirname "$0")/testbed-lib.sh"
need_root

PA="gnbsim$$a-"
PB="gnbsim$$b-"
cleanup() {
    TESTBED_PREFIX=$PA "$TESTBED" down >/dev/null 2>&1
    TESTBED_PREFIX=$PB "$TESTBED" down >/dev/null 2>&1
}
trap cleanup EXIT

nsx() { ip netns exec "$@"; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }
no_ns_left() { ! ip netns list | awk '{print $1}' | grep -q -- "^$1"; }

# Everything a healthy testbed with prefix $1 must have.
verify_up() {
    local p=$1 rundir="/run/upf-testbed/$1" ok=0
    TESTBED_PREFIX=$p "$TESTBED" status >/dev/null || { say "status failed for $p"; ok=1; }
    for ns in upf-gnb upf-upf upf-dn; do ns_exists "$p$ns" || { say "missing ns $p$ns"; ok=1; }; done
    nsx "${p}upf-gnb" ip -4 -br addr show gnb-n3 | grep -q '192.168.1.2/24' || { say "gnb-n3 address"; ok=1; }
    nsx "${p}upf-dn" ip -4 -br addr show dn-n6 | grep -q '10.200.0.254/24' || { say "dn-n6 address"; ok=1; }
    # The UPF's interfaces carry no kernel IP and no ARP.
    for dev in upf-n3 upf-n6; do
        [[ -z $(nsx "${p}upf-upf" ip -4 -o addr show dev $dev) ]] || { say "$dev has a kernel IP"; ok=1; }
        nsx "${p}upf-upf" ip link show $dev | grep -q NOARP || { say "$dev ARP on"; ok=1; }
        nsx "${p}upf-upf" ip link show $dev | grep -q 'state UP\|,UP' || { say "$dev not up"; ok=1; }
    done
    nsx "${p}upf-upf" ip link show upf-n3 | grep -q 'mtu 1600' || { say "upf-n3 mtu"; ok=1; }
    nsx "${p}upf-gnb" ip link show gnb-n3 | grep -q 'link/ether 02:00:00:00:01:02' || { say "gnb-n3 mac"; ok=1; }
    nsx "${p}upf-dn" ip route show 10.45.0.0/16 | grep -q 'via 10.200.0.1' || { say "UE pool route"; ok=1; }
    for spec in "${p}upf-gnb gnb-n3" "${p}upf-upf upf-n3" "${p}upf-upf upf-n6" "${p}upf-dn dn-n6"; do
        set -- $spec
        if nsx "$1" ethtool -k "$2" | grep -Eq '^(tx-checksumming|generic-segmentation-offload|generic-receive-offload|tcp-segmentation-offload): on'; then
            say "offloads still on: $1/$2"; ok=1
        fi
    done
    [[ $(nsx "${p}upf-upf" sysctl -n net.ipv6.conf.upf-n3.disable_ipv6) == 1 ]] || { say "IPv6 on upf-n3"; ok=1; }
    nsx "${p}upf-upf" ip -4 -br addr show upf-n4 | grep -q '10.100.0.1/24' || { say "upf-n4"; ok=1; }
    nsx "${p}upf-gnb" ping -c1 -W2 10.100.0.1 >/dev/null || { say "N4 link does not ping"; ok=1; }
    [[ -s $rundir/www/testfile.bin ]] && (cd "$rundir/www" && sha256sum -c --quiet testfile.bin.sha256) \
        || { say "test file or checksum"; ok=1; }
    # The servers answer inside the DN namespace.
    nsx "${p}upf-dn" curl -m 10 -sf "http://10.200.0.254:8080/testfile.bin.sha256" | cmp -s - "$rundir/www/testfile.bin.sha256" \
        || { say "HTTP server"; ok=1; }
    timeout 20 ip netns exec "${p}upf-dn" iperf3 -c 10.200.0.254 -p 5201 -n 1M >/dev/null 2>&1 || { say "iperf3 server 5201"; ok=1; }
    # Nothing of ours in the root namespace.
    ! ip -br link | grep -Eq '^(gnb-n3|upf-n3|upf-n6|dn-n6|smf-n4|upf-n4)[@ ]' || { say "veth leaked to root ns"; ok=1; }
    return $ok
}

verify_down() {
    local p=$1
    no_ns_left "$p" && [[ ! -e /run/upf-testbed/$p ]]
}

say "1. up, up again (replaces the first), down, down again"
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "first up"
check "first up is complete" verify_up "$PA"
first_pid=$(cat "/run/upf-testbed/$PA/http.pid")
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "second up"
check "second up is complete" verify_up "$PA"
check "second up replaced the first's servers" bash -c "! alive $first_pid"
TESTBED_PREFIX=$PA "$TESTBED" down >/dev/null
check "down removes namespaces and state" verify_down "$PA"
check "down on nothing succeeds" env TESTBED_PREFIX=$PA "$TESTBED" down
check "status on nothing fails" bash -c "! TESTBED_PREFIX=$PA '$TESTBED' status >/dev/null 2>&1"

say "2. stray processes left in the namespaces (an interrupted test)"
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "up"
ip netns exec "${PA}upf-upf" sleep 600 &
stray1=$!
ip netns exec "${PA}upf-gnb" bash -c 'trap "" TERM; exec sleep 600' &
stray2=$!
wait_until 5 bash -c "ip netns pids ${PA}upf-gnb | grep -qx $stray2" || fail "stray not in namespace"
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "up over strays"
check "up over strays is complete" verify_up "$PA"
check "stray processes were stopped (one ignored TERM)" \
    wait_until 5 bash -c "! alive $stray1 && ! alive $stray2"
wait $stray1 $stray2 2>/dev/null

say "3. up killed with SIGKILL part-way, then up and down"
TESTBED_PREFIX=$PA "$TESTBED" down >/dev/null
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null 2>&1 &
upid=$!
# Kill as soon as the first namespace exists (somewhere inside `up`).
wait_until 10 ns_exists "${PA}upf-gnb" || fail "up did not start"
kill -KILL $upid 2>/dev/null
wait $upid 2>/dev/null
say "   left behind: $(ip netns list | awk '{print $1}' | grep -c -- "^$PA") namespace(s)"
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "up after killed up"
check "up after a killed up is complete" verify_up "$PA"
TESTBED_PREFIX=$PA "$TESTBED" down >/dev/null
check "down after that is clean" verify_down "$PA"

say "4. two private copies side by side"
TESTBED_PREFIX=$PA "$TESTBED" up >/dev/null || fail "up A"
TESTBED_PREFIX=$PB "$TESTBED" up >/dev/null || fail "up B"
check "copy A complete" verify_up "$PA"
check "copy B complete" verify_up "$PB"
TESTBED_PREFIX=$PA "$TESTBED" down >/dev/null
check "A down" verify_down "$PA"
check "B untouched by A's down" verify_up "$PB"
TESTBED_PREFIX=$PB "$TESTBED" down >/dev/null
check "B down" verify_down "$PB"

say "5. bad prefix and foreign state directories are refused"
check "prefix with a slash refused" bash -c "! TESTBED_PREFIX='a/b' '$TESTBED' up >/dev/null 2>&1"
foreign=$(mktemp -d /tmp/gnbsim-foreign.XXXXXX)
echo keep >"$foreign/precious"
check "up refuses a non-empty TESTBED_RUNDIR it did not make" \
    bash -c "! TESTBED_PREFIX=$PA TESTBED_RUNDIR=$foreign '$TESTBED' up >/dev/null 2>&1"
TESTBED_PREFIX=$PA TESTBED_RUNDIR=$foreign "$TESTBED" down >/dev/null 2>&1
check "down leaves a foreign TESTBED_RUNDIR alone" test -e "$foreign/precious"
rm -rf "$foreign"

finish
