#!/usr/bin/env bash
# The bare-metal helpers answer --help, refuse bad arguments, and in
# --dry-run print the DPDK tool commands they would run (this machine has
# no hugepages to reserve and no NIC to bind, so nothing real is changed).
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$UPF_ROOT"
out="$(mktemp /tmp/upfcfg-setup.XXXXXX)"
add_cleanup "rm -f '$out'"

expect_fail() { # description command...
    local what="$1"
    shift
    if "$@" >"$out" 2>&1; then
        cat "$out" >&2
        die "$what: expected failure"
    fi
}

for s in hugepages bind-nic demo test; do
    scripts/$s.sh --help >"$out" || die "$s.sh --help failed"
    grep -q '^Usage: scripts/'"$s"'.sh' "$out" || die "$s.sh --help prints no usage"
done

# hugepages.sh
expect_fail "hugepages.sh with a bad size" scripts/hugepages.sh --dry-run --size lots
grep -q "not a size" "$out" || die "hugepages.sh: unclear error for a bad size"
expect_fail "hugepages.sh with a bad page size" scripts/hugepages.sh --dry-run --pagesize 4K
if [[ -e /sys/kernel/mm/hugepages/hugepages-2048kB ]]; then
    pages="$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
    # Ask for more than is reserved so that there is something to do.
    want=$(((pages + 16) * 2))M
    scripts/hugepages.sh --dry-run --size "$want" >"$out" 2>&1 || { cat "$out" >&2; die "hugepages.sh --dry-run failed"; }
    grep -q "^+ .*dpdk-hugepages.py --pagesize 2M --reserve $want" "$out" || { cat "$out" >&2; die "hugepages.sh --dry-run does not show the reserve command"; }
    [[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)" == "$pages" ]] || die "--dry-run changed the reservation"
    log_ok "hugepages.sh --dry-run shows the dpdk-hugepages.py commands and changes nothing"
fi
scripts/hugepages.sh --show >/dev/null || die "hugepages.sh --show failed"

# bind-nic.sh (finds target/debug/upf: there after test.sh's cargo test)
debug_bins upf
expect_fail "bind-nic.sh with a malformed address" scripts/bind-nic.sh --dry-run 3b:00
grep -q "not a PCI address" "$out" || die "bind-nic.sh: unclear error for a malformed address"
expect_fail "bind-nic.sh with a device that does not exist" scripts/bind-nic.sh --dry-run 0000:ff:1f.7
grep -q "no PCI device 0000:ff:1f.7" "$out" || die "bind-nic.sh: unclear error for a missing device"
# The reference config names PCI devices (absent here): found and reported.
expect_fail "bind-nic.sh --config config/upf.yaml" scripts/bind-nic.sh --dry-run --config config/upf.yaml
grep -q "no PCI device 0000:3b:00.0" "$out" || { cat "$out" >&2; die "bind-nic.sh did not take the devices from the config"; }
# The demo config has vdevs only: nothing to do.
scripts/bind-nic.sh --dry-run --config config/demo.yaml >"$out" 2>&1 || { cat "$out" >&2; die "bind-nic.sh --config config/demo.yaml failed"; }
grep -q "nothing to bind" "$out" || die "bind-nic.sh: vdev-only config not recognised"
# A device that exists and already has the requested driver is left alone.
for dev in /sys/bus/pci/devices/*; do
    [[ -e "$dev/driver" ]] || continue
    drv="$(basename "$(readlink -f "$dev/driver")")"
    scripts/bind-nic.sh --dry-run --driver "$drv" "$(basename "$dev")" >"$out" 2>&1 || { cat "$out" >&2; die "bind-nic.sh on a bound device failed"; }
    grep -q "already bound to $drv" "$out" || { cat "$out" >&2; die "bind-nic.sh is not idempotent"; }
    log_ok "bind-nic.sh leaves $(basename "$dev") on $drv alone"
    break
done
log_ok "setup scripts behave"
