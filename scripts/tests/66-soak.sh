#!/usr/bin/env bash
# Churn/soak (CI size): `upf run` on af_packet veths in a private
# namespace soak<pid>, cycles of association setup, CHOOSE sessions with
# QER and URR thresholds (Session Reports), IPv6 UEs (CHOOSE from an IPv6
# pool, fixed, IPv4v6) with traffic, modifications (FAR, QER, URR
# add/remove), PFD Management (add, change, remove applications that
# sessions' PDRs name), SIGHUP reloads adding and removing static sessions
# (IPv4 and IPv6) and changing the UE pools and TEID range under live
# sessions and back (and one refused: a static UE address a PFCP session
# holds), User Plane Inactivity Timer sessions (UPIR reports,
# one answered "context not found"), Session Set Modification (Rel-17
# takeover), deletions, Session Set Deletion, association release and
# heartbeat loss of an SMF, with traffic; after every cycle each figure of
# /status `occupancy` (table keys, state lines, deferred frees, snapshots,
# PFCP sessions, associations, requests, cache, timers, CSIDs, TEID and
# UE-pool allocations, the PFD store, usage books) must be back at its
# baseline. Checks in soak.py; perf/soak.sh runs the long version
# (SOAK_ARGS).
# Holds the DPDK test lock. Needs root (namespace, EAL runtime dir).
# timeout: 240
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespace, DPDK)"; exit 77; }
veth_suite soak
# shellcheck disable=SC2086 # SOAK_ARGS is a list of options
nsx /usr/bin/python3 "$UPF_ROOT/scripts/tests/soak.py" "$UPF_BIN" "$work" ${SOAK_ARGS:---cycles 3 --sessions 40}
