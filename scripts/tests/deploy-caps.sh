#!/usr/bin/env bash
# The capability sets the deployment grants are enough for DPDK, and each
# listed one is needed. DPDK (dpdk-testpmd: the same EAL and af_packet PMD
# as upf) runs on a net_af_packet port over a veth pair as uid 0 with only:
#  1. upf.service's CapabilityBoundingSet (read from deploy/systemd/upf.service),
#     with no-new-privileges as in the unit: the port starts and forwards;
#  2. the k8s af-packet overlay's capabilities (NET_RAW, NET_ADMIN, read
#     from its patch): the port starts;
#  3. without CAP_NET_RAW: the af_packet device cannot be created;
#  4. without CAP_NET_ADMIN: the port cannot start.
# VFIO and hugepage paths (CAP_IPC_LOCK, CAP_SYS_RAWIO) need a NIC and
# hugepages, which this machine does not have. Needs root; exits 77 (skip)
# otherwise. Cleans up its veths and DPDK runtime directory on any exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if [ "$(id -u)" != 0 ]; then
    echo "deploy-caps: skipped: needs root (veth pairs, capability sets)"
    exit 77
fi
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
    echo "deploy-caps: installing dpdk (dpdk-testpmd)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpdk >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpdk >/dev/null; }
fi
command -v setpriv >/dev/null || { echo "deploy-caps: setpriv (util-linux) is required" >&2; exit 1; }

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

veth="dplyc$$"
prefix="deploy-caps-$$"
work="$(mktemp -d -t deploy-caps.XXXXXX)"
cleanup() {
    ip link del "${veth}a" 2>/dev/null || true
    rm -rf "/var/run/dpdk/$prefix" "$work"
}
trap cleanup EXIT INT TERM
ip link add "${veth}a" type veth peer name "${veth}b"
ip link set "${veth}a" up
ip link set "${veth}b" up

# "CAP_A CAP_B" -> "-all,+a,+b" (setpriv's form)
bounding() {
    local out="-all" c
    for c in "$@"; do
        c="${c#CAP_}"
        out="$out,+$(tr 'A-Z' 'a-z' <<< "$c")"
    done
    echo "$out"
}

# testpmd starts the port, forwards, and stops at once (EOF on stdin).
run_dpdk() { # name bounding-set
    echo | timeout 60 setpriv --bounding-set "$2" --inh-caps -all --no-new-privs -- \
        dpdk-testpmd -l 0,1 --no-huge -m 256 --no-pci --file-prefix "$prefix" \
        --vdev "net_af_packet0,iface=${veth}a" -- --total-num-mbufs=2048 --nb-cores=1 --auto-start \
        > "$work/$1.log" 2>&1 || true
}
started() { # name
    grep -q '^Port 0: [0-9A-F:]\{17\}$' "$work/$1.log" && grep -q 'start packet forwarding' "$work/$1.log" \
        && ! grep -q 'Fail to start port' "$work/$1.log"
}

read -r -a unit_caps <<< "$(sed -n 's/^CapabilityBoundingSet=//p' deploy/systemd/upf.service)"
[ "${#unit_caps[@]}" -gt 0 ] || { echo "deploy-caps: no CapabilityBoundingSet in upf.service" >&2; exit 1; }
run_dpdk unit "$(bounding "${unit_caps[@]}")"
if started unit; then
    ok "DPDK on net_af_packet starts with upf.service's capabilities (${unit_caps[*]}) and no-new-privileges"
else
    sed 's/^/    /' "$work/unit.log" | tail -15
    fail "DPDK does not start with upf.service's capabilities (${unit_caps[*]})"
fi

read -r -a k8s_caps <<< "$(sed -n 's/^ *add: \[\(.*\)\]/\1/p' deploy/k8s/overlays/af-packet/statefulset-patch.yaml | tr -d '",')"
run_dpdk k8s "$(bounding "${k8s_caps[@]}")"
if started k8s; then
    ok "DPDK on net_af_packet starts with the af-packet overlay's capabilities (${k8s_caps[*]})"
else
    sed 's/^/    /' "$work/k8s.log" | tail -15
    fail "DPDK does not start with the af-packet overlay's capabilities (${k8s_caps[*]})"
fi

without() { # cap -> the unit's set without it
    local c
    for c in "${unit_caps[@]}"; do [ "$c" = "$1" ] || printf '%s ' "$c"; done
}
# shellcheck disable=SC2046 # one capability per word
run_dpdk no-raw "$(bounding $(without CAP_NET_RAW))"
if ! started no-raw && grep -q 'Could not open AF_PACKET socket' "$work/no-raw.log"; then
    ok "without CAP_NET_RAW the af_packet device cannot be created (so the unit needs it)"
else
    fail "DPDK on af_packet worked without CAP_NET_RAW: the unit grants more than needed"
fi
# shellcheck disable=SC2046
run_dpdk no-admin "$(bounding $(without CAP_NET_ADMIN))"
if ! started no-admin && grep -q 'Operation not permitted' "$work/no-admin.log"; then
    ok "without CAP_NET_ADMIN the af_packet port cannot start (so the unit needs it)"
else
    fail "DPDK on af_packet worked without CAP_NET_ADMIN: the unit grants more than needed"
fi

echo "deploy-caps: $passed passed, $failed failed"
[ "$failed" = 0 ]
