#!/usr/bin/env bash
# The capability sets the deployment grants are enough for DPDK, and each
# listed one is needed. DPDK (dpdk-testpmd: the same EAL and af_packet PMD
# as upf) runs on a net_af_packet port over a veth pair as uid 0 with only:
#  1. upf.service's CapabilityBoundingSet (read from deploy/systemd/upf.service),
#     with no-new-privileges as in the unit: the port starts and forwards;
#  2. the k8s af-packet overlay's capabilities (NET_RAW, NET_ADMIN,
#     IPC_LOCK, read from its patch): the port starts, also under the 64 KiB
#     memlock limit container runtimes give on kernels before 5.16, and
#     without IPC_LOCK under that limit it does not (net_af_packet maps its
#     rings with MAP_LOCKED);
#  3. without CAP_NET_RAW: the af_packet device cannot be created;
#  4. without CAP_NET_ADMIN: the port cannot start;
#  5. with hugepages (64 x 2 MiB reserved for the test, hugetlbfs mounted in
#     a temporary directory): the unit's set runs DPDK on hugepage memory
#     with IOVA as VA (no CAP_SYS_ADMIN for physical addresses), and so does
#     the k8s sriov overlay's set (IPC_LOCK, SYS_NICE) on a net_null port.
# VFIO (CAP_IPC_LOCK for DMA pinning, CAP_SYS_RAWIO for no-IOMMU) needs a
# NIC, which this machine does not have. Needs root; exits 77 (skip)
# otherwise. Cleans up its veths, mount, hugepage reservation and DPDK
# runtime directories on any exit.
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
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
pool_before=""
cleanup() {
    ip link del "${veth}a" 2>/dev/null || true
    umount "$work/huge" 2>/dev/null || true
    [ -n "$pool_before" ] && echo "$pool_before" > "$pool"
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
# memory: --no-huge (default) or hugepages from a directory.
memory=(--no-huge -m 256)
vdev="net_af_packet0,iface=${veth}a"
run_dpdk() { # name bounding-set [memlock-limit-bytes]
    local limit=()
    [ -n "${3:-}" ] && limit=(prlimit "--memlock=$3:$3" --)
    echo | timeout 60 setpriv --bounding-set "$2" --inh-caps -all --no-new-privs -- "${limit[@]}" \
        dpdk-testpmd -l 0,1 "${memory[@]}" --no-pci --file-prefix "$prefix" \
        --vdev "$vdev" -- --total-num-mbufs=2048 --nb-cores=1 --auto-start \
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
run_dpdk k8s-64k "$(bounding "${k8s_caps[@]}")" 65536
if started k8s-64k; then
    ok "... and under a 64 KiB memlock limit (kernels before 5.16, container runtimes' default)"
else
    sed 's/^/    /' "$work/k8s-64k.log" | tail -15
    fail "DPDK does not start with the af-packet overlay's capabilities under a 64 KiB memlock limit"
fi
k8s_no_lock=()
for c in "${k8s_caps[@]}"; do [ "$c" = IPC_LOCK ] || k8s_no_lock+=("$c"); done
run_dpdk k8s-64k-nolock "$(bounding "${k8s_no_lock[@]}")" 65536
if ! started k8s-64k-nolock && grep -q 'call to mmap failed' "$work/k8s-64k-nolock.log"; then
    ok "without IPC_LOCK under a 64 KiB memlock limit af_packet cannot map its rings (so the overlay needs it)"
else
    fail "DPDK on af_packet worked without IPC_LOCK under a 64 KiB memlock limit: the overlay grants more than needed"
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

# Hugepages: reserve 64 more 2 MiB pages for the test, mount a hugetlbfs.
if [ -w "$pool" ]; then
    pool_before="$(cat "$pool")"
    echo $((pool_before + 64)) > "$pool" || true
    if [ "$(cat "$pool")" -ge $((pool_before + 64)) ]; then
        mkdir -p "$work/huge"
        mount -t hugetlbfs -o pagesize=2M nodev "$work/huge"
        memory=(-m 64 --huge-dir "$work/huge")
        run_dpdk huge-unit "$(bounding "${unit_caps[@]}")"
        # DPDK leaves its page files (<prefix>map_N) in the hugetlbfs: proof
        # that the memory came from hugepages.
        if started huge-unit && grep -q "IOVA mode 'VA'" "$work/huge-unit.log" \
            && compgen -G "$work/huge/${prefix}map_*" >/dev/null; then
            ok "DPDK on hugepages (IOVA as VA) with upf.service's capabilities: no CAP_SYS_ADMIN needed"
        else
            sed 's/^/    /' "$work/huge-unit.log" | tail -15
            fail "DPDK on hugepages does not start with upf.service's capabilities"
        fi
        read -r -a sriov_caps <<< "$(sed -n 's/^ *add: \[\(.*\)\]/\1/p' deploy/k8s/overlays/sriov/statefulset-patch.yaml | tr -d '",')"
        vdev="net_null0"
        run_dpdk huge-sriov "$(bounding "${sriov_caps[@]}")"
        if started huge-sriov; then
            ok "DPDK on hugepages starts with the sriov overlay's capabilities (${sriov_caps[*]}) (net_null port)"
        else
            sed 's/^/    /' "$work/huge-sriov.log" | tail -15
            fail "DPDK on hugepages does not start with the sriov overlay's capabilities (${sriov_caps[*]})"
        fi
    else
        echo "deploy-caps: note: the kernel would not reserve 64 x 2 MiB hugepages here; hugepage checks not run"
    fi
else
    echo "deploy-caps: note: no 2 MiB hugepage pool in /sys; hugepage checks not run"
fi

echo "deploy-caps: $passed passed, $failed failed"
[ "$failed" = 0 ]
