#!/usr/bin/env bash
# End to end over N4 on the namespace testbed (private copy, prefix
# upfn4<pid>-): `upf run` on af_packet with config/demo.yaml (PFCP on the
# testbed's N4 link), smf-sim in the gNB namespace establishing two sessions
# with CHOOSE, gnb-sim reading smf-sim's session file: the UEs ping the data
# network and download a file through the UPF; a path switch with SNDEM
# sends End Markers to the old TEIDs; the Session Deletion Responses report
# exactly the bytes gnb-sim sent and received. Checks in upf_n4.py.
# Holds the DPDK test lock. Needs root, curl.
# timeout: 300
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespaces)"; exit 77; }
testbed_suite upfn4 upf gnb-sim smf-sim
/usr/bin/python3 scripts/tests/upf_n4.py "$UPF_BIN_DIR" "$work"
