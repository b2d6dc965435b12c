#!/usr/bin/env bash
# pcap in, pcap out through `upf run` on net_pcap ports (N3, N6, N9): ARP,
# ICMP echo, junk, UL/DL/N9 forwarding, GTP-U echo, Error Indication,
# anti-spoofing, closed gates, MBR, unresolved next hop; replies compared
# byte by byte with frames scapy builds, tshark cross-check, drop counters
# from /metrics, clean exit. The checks are in upf_pcap.py.
# Holds the DPDK test lock (one upf at a time). Needs root (EAL runtime dir).
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (DPDK)"; exit 77; }
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN:-}" ]]; then
    debug_bins upf
    UPF_BIN="$UPF_DEBUG_BIN_DIR/upf"
fi
work="$(mktemp -d /tmp/upfpcap.XXXXXX)"
add_cleanup "rm -rf '$work'"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
/usr/bin/python3 "$UPF_ROOT/scripts/tests/upf_pcap.py" "$UPF_BIN" "$work"
