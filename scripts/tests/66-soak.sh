#!/usr/bin/env bash
# Churn/soak (CI size): `upf run` on af_packet veths in a private
# namespace soak<pid>, cycles of association setup, CHOOSE sessions with
# QER and URR thresholds (Session Reports), modifications (FAR, QER, URR
# add/remove), deletions, Session Set Deletion, association release,
# heartbeat loss of an SMF and SIGHUP reloads adding and removing static
# sessions, with traffic; after every cycle each figure of /status
# `occupancy` (table keys, state lines, deferred frees, snapshots, PFCP
# sessions, associations, requests, cache, timers, CSIDs, TEID and UE-pool
# allocations, usage books) must be back at its baseline. Checks in
# soak.py; perf/soak.sh runs the long version (SOAK_ARGS).
# Holds the DPDK test lock. Needs root (namespace, EAL runtime dir).
# timeout: 240
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespace, DPDK)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN:-}" ]]; then
    cargo build -q -p upf
    UPF_BIN="$UPF_ROOT/target/debug/upf"
fi
work="$(mktemp -d /tmp/soak.XXXXXX)"
add_cleanup "rm -rf '$work'"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9

ns="soak$$"
add_cleanup "ip netns del '$ns' 2>/dev/null || true"
ip netns add "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
nsx ip link set lo up
for side in n3 n6; do
    nsx ip link add "soak-$side" type veth peer name "soak-${side}p"
    nsx ip link set "soak-$side" up
    nsx ip link set "soak-${side}p" up
done
# shellcheck disable=SC2086 # SOAK_ARGS is a list of options
nsx /usr/bin/python3 "$UPF_ROOT/scripts/tests/soak.py" "$UPF_BIN" "$work" ${SOAK_ARGS:---cycles 3 --sessions 40}
