#!/usr/bin/env bash
# Config reload while traffic flows: `upf run` as the memif client of
# perf/loadgen (per-session sequence numbers, per-packet header checks).
# A static session's DL TEID changed by SIGHUP and by the file watch (new
# DL packets carry the new TEID), rejected reloads (invalid file with
# file:line:col, restart-only change: counters, /status, traffic and the
# process unaffected), reloads during PFCP establishments and
# modifications (smf-sim: every PFCP session intact). Debug binaries.
# The 100-reload and atomicity runs on 11,000 sessions are in
# 65-reload-hitless.sh (release binaries). The checks and their reasoning
# are in upf_reload.py. UPF_BIN_DIR=... uses prebuilt binaries (upf,
# loadgen, smf-sim).
# Holds the DPDK test lock (one upf at a time). Needs root (EAL runtime dir).
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (DPDK)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN_DIR:-}" ]]; then
    debug_bins upf loadgen smf-sim
    UPF_BIN_DIR="$UPF_DEBUG_BIN_DIR"
fi
work="$(mktemp -d /tmp/upfreload.XXXXXX)"
add_cleanup "rm -rf '$work'"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
/usr/bin/python3 "$UPF_ROOT/scripts/tests/upf_reload.py" \
    "$UPF_BIN_DIR/upf" "$UPF_BIN_DIR/loadgen" "$UPF_BIN_DIR/smf-sim" "$work" teid
