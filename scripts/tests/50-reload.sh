#!/usr/bin/env bash
# Config reload while traffic flows: `upf run` as the memif client of
# perf/loadgen (per-session sequence numbers, per-packet header checks).
# A static session's DL TEID changed by SIGHUP and by the file watch,
# rejected reloads (invalid file with file:line:col, restart-only change),
# reloads during PFCP establishments/modifications (smf-sim; every PFCP
# session intact), 100 reloads (1,000 sessions' QoS; every 10th invalid)
# with zero loss/reordering/misrouting on 10,000 unchanged sessions, and
# an atomicity check (10,000 sessions' TEIDs flipped by one reload: the
# received DL stream switches version exactly once per reload). The checks
# and their reasoning are in upf_reload.py.
#
# Release binaries by default: a debug `upf` needs ~2.5 s of CPU to parse
# and validate the 11,000-session file, so 100 reloads would take minutes;
# UPF_BIN_DIR=... uses prebuilt ones (upf, loadgen, smf-sim).
# Holds the DPDK test lock (one upf at a time). Needs root (EAL runtime dir).
# timeout: 600
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (DPDK)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN_DIR:-}" ]]; then
    cargo build -q --release -p upf -p loadgen -p smf-sim
    UPF_BIN_DIR="$UPF_ROOT/target/release"
fi
work="$(mktemp -d /tmp/upfreload.XXXXXX)"
add_cleanup "rm -rf '$work'"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
/usr/bin/python3 "$UPF_ROOT/scripts/tests/upf_reload.py" \
    "$UPF_BIN_DIR/upf" "$UPF_BIN_DIR/loadgen" "$UPF_BIN_DIR/smf-sim" "$work" "$@"
