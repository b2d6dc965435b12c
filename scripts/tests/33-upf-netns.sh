#!/usr/bin/env bash
# `upf run` on net_af_packet over veth pairs in two private network
# namespaces: the kernel's ping from the peer namespace gets replies from the
# UPF's N3 and N6 addresses. Checks in upf_netns.py. Names: namespaces
# upfnet<pid>-u / -p, removed on every path. Holds the DPDK test lock.
# timeout: 180
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespaces)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN:-}" ]]; then
    debug_bins upf
    UPF_BIN="$UPF_DEBUG_BIN_DIR/upf"
fi
nsp="upfnet$$-"
work="$(mktemp -d /tmp/upfnetns.XXXXXX)"
add_cleanup "rm -rf '$work'"
add_cleanup "ip netns del '${nsp}u' 2>/dev/null; ip netns del '${nsp}p' 2>/dev/null; true"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
/usr/bin/python3 "$UPF_ROOT/scripts/tests/upf_netns.py" "$UPF_BIN" "$work" "$nsp"
