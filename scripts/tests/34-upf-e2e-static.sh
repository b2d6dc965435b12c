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
cd "$UPF_ROOT"
if [[ -z "${UPF_BIN_DIR:-}" ]]; then
    cargo build -q -p upf -p gnb-sim
    UPF_BIN_DIR="$UPF_ROOT/target/debug"
fi
export TESTBED_PREFIX="upfe2e$$-"
work="$(mktemp -d /tmp/upfe2e.XXXXXX)"
add_cleanup "rm -rf '$work'"
add_cleanup "scripts/testbed.sh down >/dev/null 2>&1"
exec 9>/tmp/upf-dpdk-tests.lock
flock 9
scripts/testbed.sh up >"$work/testbed.log" 2>&1 || { tail -5 "$work/testbed.log"; die "testbed up"; }
eval "$(scripts/testbed.sh env)"
export NS_GNB NS_UPF NS_DN DN_IP HTTP_URL TESTBED_RUNDIR
/usr/bin/python3 scripts/tests/upf_e2e.py "$UPF_BIN_DIR/upf" "$UPF_BIN_DIR/gnb-sim" "$work"
