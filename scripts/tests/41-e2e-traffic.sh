#!/usr/bin/env bash
# Real traffic through `upf run` with PFCP sessions on the namespace testbed
# (private copy, prefix upfe2t<pid>-): iperf3 TCP/UDP each way, MBR
# accuracy (UDP at twice the MBR, TCP), usage reports to the byte against
# gnb-sim's counters and an N6 capture, /metrics against the traffic sent,
# deletion of one session while another runs, malformed GTP-U and garbage
# PFCP while traffic runs, a path switch with End Marker under iperf3.
# Checks in upf_traffic.py. Holds the DPDK test lock. Needs root, iperf3,
# tcpdump, python3-scapy.
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespaces)"; exit 77; }
testbed_suite upfe2t upf gnb-sim smf-sim
/usr/bin/python3 scripts/tests/upf_traffic.py "$UPF_BIN_DIR" "$work"
