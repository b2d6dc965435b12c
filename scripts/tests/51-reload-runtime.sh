#!/usr/bin/env bash
# What a reload changes at run time, end to end on the namespace testbed
# (private copy, prefix rle2e<pid>-): `upf run` on af_packet, smf-sim and
# gnb-sim in the gNB namespace, a small PFCP peer, tcpdump on the data
# network side. One SIGHUP per setting, each checked on /status
# (reloads.last) and upf_config_reloads_total, then its effect: log.level
# (a debug line appears, then stops), the N6 gateway and neighbours (UL
# frames' destination MAC), ue_pools and teid_range (old session keeps
# working, a new one allocates from the new pool and range), pfcp.peers (a
# peer added associates; one removed loses its association and sessions,
# its messages dropped and counted), pfcp.heartbeat_interval (the UPF's
# heartbeats at the new spacing). Checks in upf_reload_runtime.py.
# Holds the DPDK test lock. Needs root, tcpdump.
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespaces)"; exit 77; }
command -v tcpdump >/dev/null || { log_warn "needs tcpdump"; exit 77; }
testbed_suite rle2e upf gnb-sim smf-sim
/usr/bin/python3 scripts/tests/upf_reload_runtime.py "$UPF_BIN_DIR" "$work"
