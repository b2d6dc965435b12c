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
veth_suite soak
# shellcheck disable=SC2086 # SOAK_ARGS is a list of options
nsx /usr/bin/python3 "$UPF_ROOT/scripts/tests/soak.py" "$UPF_BIN" "$work" ${SOAK_ARGS:---cycles 3 --sessions 40}
