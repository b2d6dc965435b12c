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
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN_DIR:-}" ]]; then
    cargo build -q -p upf -p gnb-sim -p smf-sim
    UPF_BIN_DIR="$UPF_ROOT/target/debug"
fi
export TESTBED_PREFIX="upfn4$$-"
work="$(mktemp -d /tmp/upfn4.XXXXXX)"
add_cleanup "rm -rf '$work'"
add_cleanup "scripts/testbed.sh down >/dev/null 2>&1"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
scripts/testbed.sh up >"$work/testbed.log" 2>&1 || { tail -5 "$work/testbed.log"; die "testbed up"; }
eval "$(scripts/testbed.sh env)"
export NS_GNB NS_UPF NS_DN DN_IP HTTP_URL TESTBED_RUNDIR
/usr/bin/python3 scripts/tests/upf_n4.py "$UPF_BIN_DIR" "$work"
