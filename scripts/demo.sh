#!/usr/bin/env bash
# The README's first command: installs what the demo needs, builds upf in
# release mode, and runs the demo in network namespaces (UE + gNB, UPF, data
# network). The stages after the build are hooks that the testbed and
# end-to-end work fills in; a stage that does not exist yet is reported as
# missing, and the script then says the demo is incomplete (exit 2): it
# never pretends a stage ran.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [options]

Build upf and run the demo: a simulated UE and gNB send real traffic
(ping, iperf3, curl) through the UPF to a data network, all in network
namespaces on this machine (no NIC, no hugepages needed).

Options:
  --static       use static sessions (config/static-demo.yaml) instead of
                 PFCP sessions from the SMF simulator (config/demo.yaml)
  --no-install   do not install packages or Rust
  --keep         leave the testbed and upf running at the end (for poking
                 around); clean up later with: scripts/demo.sh --down
  --down         only tear down what a previous --keep run left
  -h, --help     this help

Needs root (network namespaces). Names used: namespaces upf-gnb, upf-upf,
upf-dn; veth ends upf-n3 and upf-n6 in upf-upf.
EOF
}

mode=pfcp install=1 keep=0 down_only=0
while (($#)); do
    case "$1" in
    --static) mode=static ;;
    --no-install) install=0 ;;
    --keep) keep=1 ;;
    --down) down_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

cd "$UPF_ROOT"
config="config/demo.yaml"
[[ "$mode" == static ]] && config="config/static-demo.yaml"
upf_bin="$UPF_ROOT/target/release/upf"
missing_stages=()

# A stage whose implementation does not exist yet: say so, remember it.
not_yet() { # stage description
    log_warn "stage '$1' is not implemented yet: $2"
    missing_stages+=("$1")
}

# ---------------------------------------------------------------- hooks
# TODO(e2e): each hook below is a stage of the demo. Replace the body of a
# `not_yet` hook with the real thing (keeping the function name), and
# register its undo with add_cleanup so that an interrupted run cleans up.

demo_testbed_up() {
    # TODO(e2e): create namespaces upf-gnb, upf-upf, upf-dn and the veth
    # pairs (gNB 192.168.1.2/24 <-> upf-n3; upf-n6 <-> DN 10.200.0.254/24;
    # `ip link set lo up` in upf-upf for PFCP/API on 127.0.0.1), start
    # iperf3 -s and an HTTP server in upf-dn; robust to leftovers.
    if [[ -x scripts/testbed.sh ]]; then
        scripts/testbed.sh up
        ((keep)) || add_cleanup "scripts/testbed.sh down"
    else
        not_yet testbed "scripts/testbed.sh (namespaces upf-gnb/upf-upf/upf-dn, veths upf-n3/upf-n6)"
        return 1
    fi
}

demo_start_upf() {
    # TODO(e2e): `ip netns exec upf-upf $upf_bin run --config $config`,
    # wait until GET /status answers 200, stop it with SIGTERM in cleanup.
    not_yet upf "starting upf in namespace upf-upf with $config (needs the testbed)"
    return 1
}

demo_sessions() {
    # TODO(e2e): PFCP mode: the SMF simulator (tools/smf-sim) in upf-upf
    # establishes sessions for two UEs; static mode: nothing to do. Then
    # start the gNB simulator (tools/gnb-sim) in upf-gnb with the UEs' TEIDs.
    not_yet sessions "SMF simulator ($mode mode) and gNB simulator for two UEs"
    return 1
}

demo_traffic() {
    # TODO(e2e): ping, a 10 s iperf3 uplink and downlink, and a curl from
    # the UE namespace to the data network.
    not_yet traffic "ping, iperf3 UL/DL and curl from the UEs"
    return 1
}

demo_summary() {
    # TODO(e2e): one readable summary from GET /status and /metrics:
    # sessions, throughput each way, drops by reason, PFCP message counts,
    # usage reported next to what iperf3 counted.
    not_yet summary "summary of /status and /metrics next to iperf3's figures"
    return 1
}

demo_down() {
    # TODO(e2e): tear down what --keep left (upf, simulators, testbed).
    if [[ -x scripts/testbed.sh ]]; then
        scripts/testbed.sh down
    else
        not_yet down "scripts/testbed.sh down"
        return 1
    fi
}

# ---------------------------------------------------------------- main

if ((down_only)); then
    need_root "tearing down the testbed"
    demo_down || exit 2
    exit 0
fi

t0=$SECONDS
if ((install)); then
    ensure_packages "${UPF_BUILD_PACKAGES[@]}" iproute2 iputils-ping iperf3 curl python3
    ensure_rust
elif [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log_info "building upf (release)"
cargo build --release -p upf
"$upf_bin" --version
log_info "checking $config"
"$upf_bin" check --quiet --config "$config"
log_ok "built and checked in $((SECONDS - t0)) s"

need_root "the demo (network namespaces)"
stages=(testbed_up start_upf sessions traffic summary)
not_run=() failed_stage=''
for i in "${!stages[@]}"; do
    if ! "demo_${stages[i]}"; then
        failed_stage="${stages[i]}"
        not_run=("${stages[@]:i+1}")
        break
    fi
done

if ((${#missing_stages[@]})); then
    log_warn "DEMO INCOMPLETE: not implemented yet: ${missing_stages[*]}${not_run[*]:+; not run because of it: ${not_run[*]}}"
    log_warn "what did run: $( ((install)) && printf 'install, ')release build, config check"
    exit 2
fi
[[ -z "$failed_stage" ]] || die "the demo failed at stage $failed_stage"
log_ok "demo finished in $((SECONDS - t0)) s"
