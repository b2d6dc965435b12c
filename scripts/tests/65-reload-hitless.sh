#!/usr/bin/env bash
# Config reload while traffic flows: `upf run` as the memif client of
# perf/loadgen (per-session sequence numbers, per-packet header checks).
# 100 reloads (alternating two files that differ in 1,000 sessions' QoS;
# every 10th file invalid) while loadgen sends both ways on 10,000
# sessions no reload changes: zero packets lost, reordered or misrouted.
# Then the atomicity check: one reload changes all 10,000 sessions' gNB
# TEID, a second changes it back; the DL stream loadgen receives (one UPF
# worker, one queue: the worker's order) must switch TEID version exactly
# once per reload. The checks and their reasoning are in upf_reload.py;
# 50-reload.sh has the rest of the reload tests.
#
# Release binaries: a debug `upf` needs ~2.5 s of CPU to validate the
# 11,000-session file, so 100 reloads would take many minutes. The suite
# sizes loadgen's trial from a `upf check` of that file (a few minutes on a
# shared 2-core machine). UPF_BIN_DIR=... uses prebuilt binaries.
# Holds the DPDK test lock (one upf at a time). Needs root (EAL runtime dir).
# timeout: 900
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (DPDK)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN_DIR:-}" ]]; then
    cargo build -q --release -p upf -p loadgen
    UPF_BIN_DIR="$UPF_ROOT/target/release"
fi
work="$(mktemp -d /tmp/upfreloadh.XXXXXX)"
add_cleanup "rm -rf '$work'"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
/usr/bin/python3 "$UPF_ROOT/scripts/tests/upf_reload.py" \
    "$UPF_BIN_DIR/upf" "$UPF_BIN_DIR/loadgen" "$UPF_BIN_DIR/smf-sim" "$work" hitless
