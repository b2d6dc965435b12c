#!/usr/bin/env bash
# The README's first command: installs what the demo needs, builds upf and
# the gNB simulator in release mode, and runs the demo in network namespaces
# (UE + gNB, UPF, data network): the UPF on DPDK af_packet ports with static
# sessions, ping to its N3 and N6 addresses, then a simulated UE's ping,
# HTTP download and iperf3 through it, and a summary of its counters.
# Everything it starts is stopped and removed at the end, also on Ctrl-C.
#
# PFCP mode (sessions from the SMF simulator over N4) is the next stage: it
# is reported as not implemented yet (exit 2) rather than pretended.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [options]

Build upf and run the demo: a simulated UE and gNB send real traffic
(ping, curl, iperf3) through the UPF to a data network, all in network
namespaces on this machine (no NIC, no hugepages needed).

Options:
  --static       static sessions from config/static-demo.yaml (the default
                 until N4 is wired in)
  --pfcp         sessions from the SMF simulator over PFCP (config/demo.yaml):
                 not implemented yet
  --quick        shorter traffic (iperf3 3 s instead of 10 s)
  --no-install   do not install packages or Rust
  --keep         leave the testbed, upf and gnb-sim running at the end (for
                 poking around); clean up later with: scripts/demo.sh --down
  --down         only tear down what a previous --keep run left
  -h, --help     this help

Needs root (network namespaces). Names used: namespaces upf-gnb, upf-upf,
upf-dn (scripts/testbed.sh); DPDK file prefix upf-static-demo.
EOF
}

mode=static install=1 keep=0 down_only=0 iperf_s=10
while (($#)); do
    case "$1" in
    --static) mode=static ;;
    --pfcp) mode=pfcp ;;
    --quick) iperf_s=3 ;;
    --no-install) install=0 ;;
    --keep) keep=1 ;;
    --down) down_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

cd "$UPF_ROOT"
config="config/static-demo.yaml"
[[ "$mode" == pfcp ]] && config="config/demo.yaml"
upf_bin="$UPF_ROOT/target/release/upf"
gnbsim_bin="$UPF_ROOT/target/release/gnb-sim"
state=/run/upf-demo
missing_stages=()

# A stage whose implementation does not exist yet: say so, remember it.
not_yet() { # stage description
    log_warn "stage '$1' is not implemented yet: $2"
    missing_stages+=("$1")
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# TERM, wait up to 5 s, then KILL; only the PID given.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

api() { nsx "$NS_UPF" curl -sf -m 5 "http://127.0.0.1:9100$1"; }

# ---------------------------------------------------------------- stages

demo_testbed_up() {
    scripts/testbed.sh up >"$state/testbed.log" 2>&1 || {
        tail -5 "$state/testbed.log" >&2
        die "scripts/testbed.sh up failed (log: $state/testbed.log)"
    }
    ((keep)) || add_cleanup "scripts/testbed.sh down >/dev/null 2>&1"
    eval "$(scripts/testbed.sh env)"
    log_ok "testbed up: namespaces $NS_GNB, $NS_UPF, $NS_DN"
}

demo_start_upf() {
    if [[ "$mode" == pfcp ]]; then
        not_yet upf "config/demo.yaml needs N4 (pfcp.listen), which upf run does not serve yet; try --static"
        return 1
    fi
    log_info "starting upf in $NS_UPF with $config (DPDK af_packet on upf-n3, upf-n6)"
    # `ip netns exec` execs upf: $! is upf's PID (a shell function would not be).
    ip netns exec "$NS_UPF" "$upf_bin" run --config "$config" >"$state/upf.log" 2>&1 &
    upf_pid=$!
    echo "$upf_pid" >"$state/upf.pid"
    ((keep)) || add_cleanup "stop_pid $upf_pid"
    if ! wait_for 60 api /status; then
        tail -20 "$state/upf.log" >&2
        die "upf did not come up (log: $state/upf.log)"
    fi
    log_ok "upf running (pid $upf_pid): $(api /status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join("%s %s MAC %s" % (i["name"], i["device"], i["mac"]) for i in d["interfaces"]))')"
    log_info "pinging the UPF's own addresses (answered by the UPF's worker, not a kernel)"
    nsx "$NS_GNB" ping -c 3 -i 0.2 -W 2 "$UPF_N3_IP" | tail -2
    nsx "$NS_DN" ping -c 3 -i 0.2 -W 2 "$UPF_N6_IP" | tail -2
}

demo_sessions() {
    # The static sessions of config/static-demo.yaml, seen from the gNB.
    log_info "starting gnb-sim in $NS_GNB: UE 10.45.0.2 (TEIDs 0x100/0x200), UE 10.45.0.3 (0x101/0x201, MBR 10 Mbit/s)"
    rm -f "$state/gnb.ready"
    ip netns exec "$NS_GNB" "$gnbsim_bin" --upf "$UPF_N3_IP" --mtu 1500 \
        --ue 10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9 \
        --ue 10.45.0.3,ul_teid=0x101,dl_teid=0x201,qfi=9 \
        --stats-file "$state/gnb-stats.json" --ready-file "$state/gnb.ready" >"$state/gnb-sim.log" 2>&1 &
    gnb_pid=$!
    echo "$gnb_pid" >"$state/gnb.pid"
    ((keep)) || add_cleanup "stop_pid $gnb_pid"
    wait_for 20 test -s "$state/gnb.ready" || {
        tail -5 "$state/gnb-sim.log" >&2
        die "gnb-sim not ready (log: $state/gnb-sim.log)"
    }
}

iperf_json() { # out-file iperf3-args...
    local out=$1
    shift
    timeout $((iperf_s + 20)) ip netns exec "$NS_GNB" iperf3 --json "$@" >"$out" 2>&1 || true
}

demo_traffic() {
    log_info "UE 10.45.0.2: ping $DN_IP through the UPF"
    nsx "$NS_GNB" ping -c 3 -i 0.2 -W 2 -I 10.45.0.2 "$DN_IP" | tail -2
    log_info "UE 10.45.0.2: curl $HTTP_URL (10 MiB, checksum checked)"
    nsx "$NS_GNB" curl -sf -m 60 --interface 10.45.0.2 -o "$state/testfile.bin" \
        -w '  %{size_download} bytes in %{time_total} s\n' "$HTTP_URL"
    if [[ "$(sha256sum <"$state/testfile.bin" | awk '{print $1}')" == "$(awk '{print $1}' "$TESTBED_RUNDIR/www/testfile.bin.sha256")" ]]; then
        log_ok "  download intact (sha256 matches the server's)"
    else
        die "the download does not match the server's sha256"
    fi
    rm -f "$state/testfile.bin"
    log_info "UE 10.45.0.2: iperf3 TCP uplink and downlink, ${iperf_s} s each"
    iperf_json "$state/iperf-ul.json" -B 10.45.0.2 -c "$DN_IP" -p 5201 -t "$iperf_s"
    iperf_json "$state/iperf-dl.json" -B 10.45.0.2 -c "$DN_IP" -p 5201 -t "$iperf_s" -R
    log_info "UE 10.45.0.3 (MBR 10 Mbit/s): iperf3 UDP uplink offered at 20 Mbit/s"
    iperf_json "$state/iperf-mbr.json" -B 10.45.0.3 -c "$DN_IP" -p 5202 -t "$iperf_s" -u -b 20M
}

demo_summary() {
    api /metrics >"$state/metrics.txt" || die "no /metrics"
    python3 - "$state" <<'PY'
import json, os, re, sys
d = sys.argv[1]
m = {}
for line in open(os.path.join(d, "metrics.txt")):
    r = re.match(r'^(upf_[a-z_]+)(\{[^}]*\})?\s+(\S+)', line)
    if r:
        m[r.group(1) + (r.group(2) or "")] = float(r.group(3))
def it(name, **lab):
    key = name + "{" + ",".join(f'{k}="{v}"' for k, v in lab.items()) + "}" if lab else name
    return m.get(key, 0)
def iperf(f, udp=False):
    try:
        j = json.load(open(os.path.join(d, f)))
        e = j["end"]
        if udp:
            s = e["sum"]
            rx = s["bits_per_second"] * (1 - s["lost_percent"] / 100)
            return f"{rx/1e6:7.2f} Mbit/s received, {s['lost_percent']:.1f} % lost"
        return f"{e['sum_received']['bits_per_second']/1e6:7.1f} Mbit/s"
    except Exception as ex:  # noqa: BLE001
        return f"n/a ({ex.__class__.__name__})"
print()
print("=== upf demo summary ===")
print(f"sessions installed: {it('upf_sessions'):.0f}")
print(f"{'iface':6} {'rx pkts':>10} {'rx bytes':>13} {'tx pkts':>10} {'tx bytes':>13}")
for i in ("n3", "n6"):
    print(f"{i:6} {it('upf_rx_packets_total', interface=i):10.0f} {it('upf_rx_bytes_total', interface=i):13.0f} "
          f"{it('upf_tx_packets_total', interface=i):10.0f} {it('upf_tx_bytes_total', interface=i):13.0f}")
drops = {k.split('"')[1]: v for k, v in m.items() if k.startswith("upf_dropped_packets_total") and v > 0}
print("drops by reason:", ", ".join(f"{k} {v:.0f}" for k, v in sorted(drops.items())) or "none")
print(f"iperf3 TCP uplink   (UE 10.45.0.2): {iperf('iperf-ul.json')}")
print(f"iperf3 TCP downlink (UE 10.45.0.2): {iperf('iperf-dl.json')}")
print(f"iperf3 UDP uplink at 20 Mbit/s, MBR 10 Mbit/s (UE 10.45.0.3): {iperf('iperf-mbr.json', udp=True)}")
print("(throughput is bounded by af_packet on veths and a shared 2-core machine, not by the UPF;")
print(" per-session usage reports come with PFCP)")
PY
}

demo_down() {
    local f
    for f in gnb upf; do
        [[ -s "$state/$f.pid" ]] && stop_pid "$(cat "$state/$f.pid")"
        rm -f "$state/$f.pid"
    done
    scripts/testbed.sh down
}

# ---------------------------------------------------------------- main

if ((down_only)); then
    need_root "tearing down the testbed"
    demo_down
    exit 0
fi

t0=$SECONDS
if ((install)); then
    ensure_packages "${UPF_BUILD_PACKAGES[@]}" iproute2 iputils-ping iperf3 curl python3 ethtool
    ensure_rust
elif [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log_info "building upf and gnb-sim (release)"
cargo build --release -p upf -p gnb-sim
"$upf_bin" --version
log_info "checking $config"
"$upf_bin" check --quiet --config "$config"
log_ok "built and checked in $((SECONDS - t0)) s"

need_root "the demo (network namespaces)"
mkdir -p "$state"
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
    exit 2
fi
[[ -z "$failed_stage" ]] || die "the demo failed at stage $failed_stage"
if ((keep)); then
    log_ok "left running: upf (pid $(cat "$state/upf.pid")), gnb-sim, testbed; stop with: scripts/demo.sh --down"
    log_info "try: ip netns exec $NS_GNB ping -I 10.45.0.2 $DN_IP; ip netns exec $NS_UPF curl -s http://127.0.0.1:9100/metrics"
fi
log_ok "demo finished in $((SECONDS - t0)) s"
