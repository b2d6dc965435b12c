#!/usr/bin/env bash
# End to end on the namespace testbed (private copy, prefix upfe2e<pid>-):
# `upf run` on af_packet with the static sessions of config/static-demo.yaml,
# gnb-sim as the gNB: a UE's ping, HTTP download (sha256) and UDP at twice
# its MBR through the UPF; counters on /metrics. Checks in upf_e2e.py.
# Holds the DPDK test lock. Needs root, iperf3, curl.
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespaces)"; exit 77; }
testbed_suite upfe2e upf gnb-sim
/usr/bin/python3 scripts/tests/upf_e2e.py "$UPF_BIN_DIR/upf" "$UPF_BIN_DIR/gnb-sim" "$work"
