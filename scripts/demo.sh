#!/usr/bin/env bash
# The README's first command: installs what the demo needs, builds upf, the
# gNB simulator and the SMF simulator in release mode, and runs the demo in
# network namespaces (UE + gNB, UPF, data network; scripts/testbed.sh): the
# UPF on DPDK af_packet ports, sessions for two UEs set up over PFCP (N4) by
# smf-sim (the UPF chooses F-TEIDs and UE addresses), then the UEs' ping,
# HTTP download and iperf3 uplink/downlink through it, the sessions'
# deletion, and one summary: sessions, throughput, drops by reason, PFCP
# messages, the usage the UPF reported next to what iperf3 and the gNB
# counted. `--static` runs the same on static YAML sessions, without PFCP.
# Everything it starts is stopped and removed at the end, also on Ctrl-C.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [options]

Build upf and run the demo: a simulated SMF sets up sessions for two UEs
over PFCP (N4), a simulated UE and gNB send real traffic (ping, curl,
iperf3) through the UPF to a data network, the SMF deletes the sessions and
collects the usage the UPF reports. All in network namespaces on this
machine (no NIC, no hugepages needed). Ends with one summary.

Options:
  --pfcp         sessions from the SMF simulator over PFCP (config/demo.yaml;
                 the default): UE 1 without MBR, UE 2 with MBR 10 Mbit/s
  --static       static sessions from config/static-demo.yaml, no PFCP
  --quick        shorter traffic (iperf3 3 s instead of 10 s)
  --no-install   do not install packages or Rust
  --keep         leave the testbed, upf and gnb-sim running at the end (for
                 poking around); clean up later with: scripts/demo.sh --down
  --down         only tear down what a previous --keep run left
  -h, --help     this help

Needs root (network namespaces). Names used: namespaces upf-gnb, upf-upf,
upf-dn (scripts/testbed.sh; TESTBED_PREFIX=x- prefixes them and the DPDK
file prefix, for a private copy); DPDK file prefix upf-demo or
upf-static-demo; state and logs in /run/upf-demo/.
EOF
}

mode=pfcp install=1 keep=0 down_only=0 iperf_s=10
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
config="config/demo.yaml"
[[ "$mode" == static ]] && config="config/static-demo.yaml"
bin="$UPF_ROOT/target/release"
prefix=${TESTBED_PREFIX:-}
state=/run/upf-demo/${prefix:-default}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# TERM, wait up to 5 s, then KILL; only the PID given.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

api() { nsx "$NS_UPF" curl -sf -m 5 "http://127.0.0.1:9100$1"; }

# Starts "$@" in the background, remembers its PID as $state/NAME.pid and
# stops it at exit (unless --keep). `ip netns exec` execs the command, so $!
# is the program's PID.
spawn() { # name log cmd...
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    local pid=$!
    echo "$pid" >"$state/$name.pid"
    ((keep)) || add_cleanup "stop_pid $pid"
}

# ---------------------------------------------------------------- stages

demo_testbed_up() {
    scripts/testbed.sh up >"$state/testbed.log" 2>&1 || {
        tail -5 "$state/testbed.log" >&2
        die "scripts/testbed.sh up failed (log: $state/testbed.log)"
    }
    ((keep)) || add_cleanup "scripts/testbed.sh down >/dev/null 2>&1"
    eval "$(scripts/testbed.sh env)"
    log_ok "testbed up: namespaces $NS_GNB (UE + gNB), $NS_UPF (UPF), $NS_DN (data network)"
}

demo_start_upf() {
    local cfg=$config
    if [[ -n "$prefix" ]]; then
        # A private copy: its own DPDK file prefix.
        cfg="$state/upf.yaml"
        sed -E "s/(\"--file-prefix\", \")([^\"]*)\"/\1${prefix}\2\"/" "$config" >"$cfg"
    fi
    local n4=''
    [[ "$mode" == pfcp ]] && n4="; PFCP on 10.100.0.1:8805"
    log_info "starting upf in $NS_UPF with $config (DPDK af_packet on upf-n3, upf-n6$n4)"
    spawn upf "$state/upf.log" ip netns exec "$NS_UPF" "$bin/upf" run --config "$cfg"
    if ! wait_for 60 api /status; then
        tail -20 "$state/upf.log" >&2
        die "upf did not come up (log: $state/upf.log)"
    fi
    log_ok "upf running: $(api /status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join("%s %s MAC %s" % (i["name"], i["device"], i["mac"]) for i in d["interfaces"]))')"
    log_info "pinging the UPF's own addresses (answered by the UPF's worker, not a kernel)"
    nsx "$NS_GNB" ping -c 3 -i 0.2 -W 2 "$UPF_N3_IP" | tail -2
    nsx "$NS_DN" ping -c 3 -i 0.2 -W 2 "$UPF_N6_IP" | tail -2
}

# smf-sim in the gNB namespace (it has the N4 link): one session, the UPF
# choosing the uplink F-TEID and the UE address; deletion and association
# release when $state/gate/{delete,release} appear; usage reports printed
# (-v).
start_smf() { # name address seid gnb-teid mbr
    local name=$1
    mkdir -p "$state/gate"
    rm -f "$state/$name.sessions.json" "$state/gate/delete" "$state/gate/release"
    # Each SMF from an address of its own on the N4 link (the UPF knows a
    # PFCP peer by its address); the testbed gives the first one.
    [[ "$2" == 10.100.0.2 ]] || nsx "$NS_GNB" ip addr replace "$2/24" dev smf-n4
    spawn "$name" "$state/$name.log" ip netns exec "$NS_GNB" "$bin/smf-sim" \
        --upf 10.100.0.1:8805 --bind "$2:0" -n 1 --seid-base "$3" \
        --gnb "$GNB_N3_IP" --gnb-teid-start "$4" --mbr "$5" --delete --release --gate "$state/gate" \
        --gnb-sessions "$state/$name.sessions.json" --json "$state/$name.json" --verbose
}

# The UE addresses, in the order of the session files.
ues=()

demo_sessions() {
    local gnb_args=()
    if [[ "$mode" == pfcp ]]; then
        log_info "two SMF simulators in $NS_GNB set up a session each over N4, the UPF choosing F-TEID and UE IP:"
        log_info "  UE 1 without MBR (SMF 10.100.0.2), UE 2 with MBR 10 Mbit/s each way (SMF 10.100.0.3)"
        start_smf smf1 10.100.0.2 1 0x200 none
        start_smf smf2 10.100.0.3 2 0x201 10000:10000
        local f
        for f in smf1 smf2; do
            wait_for 20 test -s "$state/$f.sessions.json" || {
                tail -5 "$state/$f.log" >&2
                die "smf-sim $f established no session (log: $state/$f.log)"
            }
            gnb_args+=(--sessions "$state/$f.sessions.json")
        done
        mapfile -t ues < <(python3 - "$state" <<'PY'
import json, sys
for f in ("smf1", "smf2"):
    s = json.load(open(f"{sys.argv[1]}/{f}.sessions.json"))["sessions"][0]
    print(s["ue_ip"])
    print(f"  {f}: UE {s['ue_ip']}  UPF F-TEID 0x{s['ul_teid']:x}  gNB TEID 0x{s['dl_teid']:x}  UP SEID {s.get('seid', '?')}", file=sys.stderr)
PY
        )
    else
        log_info "static sessions of $config: UE 10.45.0.2 (TEIDs 0x100/0x200), UE 10.45.0.3 (0x101/0x201, MBR 10 Mbit/s)"
        ues=(10.45.0.2 10.45.0.3)
        gnb_args=(--ue "10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9" --ue "10.45.0.3,ul_teid=0x101,dl_teid=0x201,qfi=9")
    fi
    log_info "starting gnb-sim in $NS_GNB (TUN gnbsim0 for the UEs, GTP-U to $UPF_N3_IP)"
    rm -f "$state/gnb.ready" "$state/gnb-stats.json"
    spawn gnb "$state/gnb-sim.log" ip netns exec "$NS_GNB" "$bin/gnb-sim" --upf "$UPF_N3_IP" --mtu 1500 \
        "${gnb_args[@]}" --stats-file "$state/gnb-stats.json" --ready-file "$state/gnb.ready"
    wait_for 20 test -s "$state/gnb.ready" || {
        tail -5 "$state/gnb-sim.log" >&2
        die "gnb-sim not ready (log: $state/gnb-sim.log)"
    }
}

iperf_json() { # out-file iperf3-args...
    local out=$1
    shift
    # --foreground: Ctrl-C reaches iperf3 (timeout otherwise makes a process
    # group of its own), so that the cleanup runs at once.
    timeout --foreground $((iperf_s + 20)) ip netns exec "$NS_GNB" iperf3 --json "$@" >"$out" 2>&1 || true
}

demo_traffic() {
    local ue1=${ues[0]} ue2=${ues[1]}
    log_info "UE 1 $ue1: ping $DN_IP through the UPF"
    nsx "$NS_GNB" ping -c 3 -i 0.2 -W 2 -I "$ue1" "$DN_IP" | tail -2
    log_info "UE 1 $ue1: curl $HTTP_URL (10 MiB, checksum checked)"
    nsx "$NS_GNB" curl -sf -m 60 --interface "$ue1" -o "$state/testfile.bin" \
        -w '  %{size_download} bytes in %{time_total} s\n' "$HTTP_URL"
    if [[ "$(sha256sum <"$state/testfile.bin" | awk '{print $1}')" == "$(awk '{print $1}' "$TESTBED_RUNDIR/www/testfile.bin.sha256")" ]]; then
        log_ok "  download intact (sha256 matches the server's)"
    else
        die "the download does not match the server's sha256"
    fi
    rm -f "$state/testfile.bin"
    log_info "UE 1 $ue1: iperf3 TCP uplink, then downlink, ${iperf_s} s each"
    iperf_json "$state/iperf-ul.json" -B "$ue1" -c "$DN_IP" -p 5201 -t "$iperf_s"
    iperf_json "$state/iperf-dl.json" -B "$ue1" -c "$DN_IP" -p 5201 -t "$iperf_s" -R
    log_info "UE 2 $ue2 (MBR 10 Mbit/s): iperf3 UDP uplink offered at 20 Mbit/s, ${iperf_s} s"
    iperf_json "$state/iperf-mbr.json" -B "$ue2" -c "$DN_IP" -p 5202 -t "$iperf_s" -u -b 20M -l 1400
}

demo_delete() {
    # gnb-sim's counters first: nothing moves once the traffic is over.
    local gpid
    gpid=$(cat "$state/gnb.pid")
    kill -USR1 "$gpid"
    wait_for 5 test -s "$state/gnb-stats.json" || log_warn "gnb-sim wrote no counters"
    [[ "$mode" == pfcp ]] || return 0
    log_info "smf-sim deletes the sessions; the UPF reports their usage in the deletion responses"
    touch "$state/gate/delete" "$state/gate/release"
    local f pid
    for f in smf1 smf2; do
        pid=$(cat "$state/$f.pid")
        wait_for 20 bash -c "! kill -0 $pid" || die "smf-sim $f did not finish (log: $state/$f.log)"
        grep -Eq '^delete +1 ok ' "$state/$f.log" || die "smf-sim $f: deletion not accepted (log: $state/$f.log)"
    done
}

demo_summary() {
    api /metrics >"$state/metrics.txt" || die "no /metrics"
    api /status >"$state/status.json" || die "no /status"
    python3 - "$state" "$mode" "${ues[@]}" <<'PY'
import json, os, re, sys
d, mode, ues = sys.argv[1], sys.argv[2], sys.argv[3:]
m = {}
for line in open(os.path.join(d, "metrics.txt")):
    r = re.match(r'^(upf_[a-z_]+)(\{[^}]*\})?\s+(\S+)', line)
    if r:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', r.group(2) or ""))
        m.setdefault(r.group(1), []).append((labels, float(r.group(3))))
def it(name, **lab):
    return sum(v for l, v in m.get(name, []) if all(l.get(k) == x for k, x in lab.items()))
def load(f):
    try:
        return json.load(open(os.path.join(d, f)))
    except (OSError, ValueError):
        return None
def mbit(bps): return f"{bps / 1e6:7.1f} Mbit/s"
def iperf(f, udp=False):
    j = load(f)
    try:
        e = j["end"]
        if udp:
            s = e["sum"]
            got = s["bytes"] * (1 - s["lost_percent"] / 100)
            return (f"{mbit(s['bits_per_second'] * (1 - s['lost_percent'] / 100))} delivered "
                    f"({s['lost_percent']:.1f} % of {mbit(s['bits_per_second']).strip()} dropped)"), s["bytes"], got
        return mbit(e["sum_received"]["bits_per_second"]), e["sum_sent"]["bytes"], e["sum_received"]["bytes"]
    except (KeyError, TypeError) as ex:
        return f"n/a ({ex.__class__.__name__}: see {f})", 0, 0
ul, ul_sent, _ = iperf("iperf-ul.json")
dl, _, dl_got = iperf("iperf-dl.json")
mbr, mbr_sent, mbr_got = iperf("iperf-mbr.json", udp=True)
gnb = {u["ue_ip"]: u for u in (load("gnb-stats.json") or {}).get("ues", [])}

print()
print("================================ upf demo summary ================================")
st = load("status.json") or {}
if mode == "pfcp":
    assoc = st.get("pfcp", {}).get("associations", [])
    print(f"PFCP: sessions deleted and associations released by the SMFs: {it('upf_sessions'):.0f} sessions, "
          f"{len(assoc)} associations left")
    for i, f in enumerate(("smf1", "smf2")):
        s = ((load(f"{f}.sessions.json") or {}).get("sessions") or [{}])[0]
        print(f"  UE {i + 1} {s.get('ue_ip', '?'):<11} UPF F-TEID 0x{s.get('ul_teid', 0):x} (chosen by the UPF), "
              f"gNB TEID 0x{s.get('dl_teid', 0):x}, {'MBR 10 Mbit/s' if i else 'no MBR'}")
else:
    print(f"static sessions installed: {it('upf_sessions'):.0f} (UE 1 {ues[0]}, UE 2 {ues[1]} with MBR 10 Mbit/s)")
print("throughput (iperf3, payload bytes):")
print(f"  UE 1 TCP uplink   {ul}")
print(f"  UE 1 TCP downlink {dl}")
print(f"  UE 2 UDP uplink at 20 Mbit/s against its 10 Mbit/s MBR: {mbr}")
print("interfaces:            rx packets       rx bytes   tx packets       tx bytes")
for i in ("n3", "n6"):
    print(f"  {i}             {it('upf_rx_packets_total', interface=i):12.0f} {it('upf_rx_bytes_total', interface=i):14.0f} "
          f"{it('upf_tx_packets_total', interface=i):12.0f} {it('upf_tx_bytes_total', interface=i):14.0f}")
drops = {l["reason"]: v for l, v in m.get("upf_dropped_packets_total", []) if v > 0}
print("drops by reason:", ", ".join(f"{k} {v:.0f}" for k, v in sorted(drops.items())) or "none")
if mode == "pfcp":
    msgs = sorted(((l["type"], l["direction"], v) for l, v in m.get("upf_pfcp_messages_total", []) if v > 0))
    print("PFCP messages (rx = from the SMF):")
    for t, dr, v in msgs:
        print(f"  {t:<36} {dr:>2} {v:5.0f}")
    print("usage reported by the UPF (Session Deletion Response) next to what the gNB and iperf3 counted:")
    print("                 UPF UL bytes  gNB sent UL  iperf3 UL  |  UPF DL bytes  gNB recv DL  iperf3 DL")
    for i, f in enumerate(("smf1", "smf2")):
        rep = [0, 0]
        for mm in re.finditer(r"^usage: session \d+ urr \d+ .* ul (\d+) dl (\d+) bytes", open(os.path.join(d, f + ".log")).read(), re.M):
            rep[0] += int(mm.group(1)); rep[1] += int(mm.group(2))
        g = gnb.get(ues[i], {})
        ip_ul, ip_dl = (ul_sent, dl_got) if i == 0 else (mbr_got, 0)
        print(f"  UE {i + 1} {ues[i]:<11} {rep[0]:11d} {g.get('ul_bytes', 0):12d} {ip_ul:10.0f}  |  {rep[1]:12d} {g.get('dl_bytes', 0):12d} {ip_dl:10.0f}")
    print("  (UPF and gNB count whole IP packets, all of the UE's traffic: ping, curl, iperf3 and its control")
    print("   connection; iperf3 counts payload only. UE 2's UPF UL is what passed its MBR. Where the gNB sent")
    print("   more than the UPF counted without a drop above, the kernel's af_packet ring overflowed before")
    print("   the UPF saw the packets: TCP retransmitted them.)")
print("(throughput is bounded by af_packet on veths and a shared machine here, not by the UPF)")
PY
}

demo_down() {
    local f
    for f in gnb smf1 smf2 upf; do
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

log_info "building upf, gnb-sim and smf-sim (release)"
cargo build --release -p upf -p gnb-sim -p smf-sim
"$bin/upf" --version
log_info "checking $config"
"$bin/upf" check --quiet --config "$config"
log_ok "built and checked in $((SECONDS - t0)) s"

need_root "the demo (network namespaces)"
mkdir -p "$state"
for stage in testbed_up start_upf sessions traffic delete summary; do
    "demo_$stage" || die "the demo failed at stage $stage"
done
if ((keep)); then
    log_ok "left running: upf (pid $(cat "$state/upf.pid")), gnb-sim, testbed; stop with: scripts/demo.sh --down"
    log_info "try: ip netns exec $NS_UPF curl -s http://127.0.0.1:9100/metrics"
fi
log_ok "demo finished in $((SECONDS - t0)) s"
