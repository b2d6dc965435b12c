#!/usr/bin/env bash
# SMF interoperability: realistic PFCP request sequences of free5GC,
# Open5GS, OMEC/SD-Core, a commercial (Cisco/Nokia-style) SMF and the
# recorded OAI SMF capture, built with scapy.contrib.pfcp (independent of
# our codec) and replayed over UDP against `upf run` (af_packet on veths in
# a private namespace smfi<pid>); every response is checked (type, sequence,
# SEID, cause, Created PDR, UE IP, usage reports) and UL/DL traffic is sent
# through the sessions after the modifications. Checks in smf_interop.py.
# Holds the DPDK test lock. Needs root (namespace, EAL runtime dir).
# timeout: 240
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

is_root || { log_warn "needs root (network namespace, DPDK)"; exit 77; }
veth_suite smfi
nsx /usr/bin/python3 "$UPF_ROOT/scripts/tests/smf_interop.py" "$UPF_BIN" "$work" \
    "$UPF_ROOT/pfcp/tests/data/pfcp-oai-smf-lifecycle.pcap"
