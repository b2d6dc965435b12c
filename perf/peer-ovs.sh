#!/usr/bin/env bash
# Side by side: the upf's GTP-U decap next to OVS-DPDK's userspace gtpu port
# and testpmd io (the I/O ceiling), same pcap source, same core, same run.
#
#   perf/peer-ovs.sh [--sessions 10000] [--sizes "100 512"] [--windows 5]
#                    [--window-s 2] [--warmup 2] [--quick] [--upf-bin PATH]
#                    [--build-upf] [--skip ovs,upf,testpmd] [--out FILE]
#                    [--png FILE] [--keep]
#
# 1. perf/gen/sessions.py writes a pcap of valid G-PDUs per frame size (one
#    per session, PDU Session Container with QFI, inner UDP; also a copy
#    without the container, see PERF.md) and the matching upf config.
# 2. OVS-DPDK (private db/run dirs in a temp dir, its own network namespace
#    for br-phy's tap, --no-huge --legacy-mem, one PMD core) decapsulates
#    the pcap into net_null; Mpps from dpif-netdev/pmd-stats-show.
# 3. dpdk-testpmd --forward-mode=io on the same pcap source into net_null.
# 4. upf run --config (one worker, N3 = the pcap, N6 = net_null with a static
#    gateway neighbour); Mpps from upf_tx_packets_total{interface="n6"} at
#    GET /metrics. Until the upf forwards, it prints "upf: not measured (why)".
# Output: a table, perf/results/peer-ovs-<time>.json (bench "peer-ovs"), and
# perf/results/peer-ovs-<time>.png. Everything it starts is stopped by PID and
# its files removed on exit, error or interrupt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmdline="perf/peer-ovs.sh $*"

sessions=10000
sizes="100 512"
windows=5
window_s=2
warmup=2
upf_bin="${UPF_BIN:-$root/target/release/upf}"
build_upf=0
skip=""
out=""
png=""
keep=0
qfi=9

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --sessions) sessions="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --windows) windows="$2"; shift 2 ;;
        --window-s) window_s="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --quick) windows=3; window_s=1; warmup=1; shift ;;
        --upf-bin) upf_bin="$2"; shift 2 ;;
        --build-upf) build_upf=1; shift ;;
        --skip) skip="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --png) png="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "peer-ovs: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
skipped() { case ",$skip," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ "$(id -u)" != 0 ]; then
    echo "peer-ovs: needs root (DPDK vdevs, a network namespace for OVS's bridge tap)" >&2
    exit 1
fi

# --- dependencies: Debian packages only, installed on first use
apt_updated=0
need_pkg() { # need_pkg CHECK-COMMAND PACKAGE...
    local check="$1"; shift
    if ! eval "$check" >/dev/null 2>&1; then
        echo "peer-ovs: installing $*"
        if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
    fi
}
need_pkg "command -v ip" iproute2
need_pkg "command -v stdbuf" coreutils
need_pkg "command -v dpdk-testpmd" dpdk
need_pkg "test -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk && command -v ovsdb-tool" openvswitch-switch-dpdk
need_pkg "/usr/bin/python3 -c 'import matplotlib'" python3-matplotlib
py=/usr/bin/python3
vswitchd=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
schema=/usr/share/openvswitch/vswitch.ovsschema

# --- temp dir, names, clean-up
tag="perfkit-$$"
tmp="$(mktemp -d -t perfkit-peer-ovs.XXXXXX)"
ns="perfkit-ovs-$$"
ovs_prefix="perfkit-ovs-$$"
pids="$tmp/pids"          # every process we start, one PID a line
prefixes="$tmp/prefixes"  # every EAL --file-prefix we use
: > "$pids"; : > "$prefixes"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -S "$tmp/ovs/run/ovs-vswitchd.ctl" ]; then
        timeout 10 ovs-appctl -t "$tmp/ovs/run/ovs-vswitchd.ctl" exit --cleanup >/dev/null 2>&1 || true
    fi
    local pid
    # Newest first, and each one's children before it (a helper's own children are in the list too).
    for pid in $(tac "$pids" 2>/dev/null); do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $(cat "$pids" 2>/dev/null); do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
    local p
    for p in $(cat "$prefixes" 2>/dev/null); do
        rm -rf "/var/run/dpdk/$p"
    done
    if [ "$keep" = 1 ]; then echo "peer-ovs: kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Long steps run as background jobs that the shell waits for: `wait` returns
# at once when a signal arrives, so the trap runs now, not after the step.
bg_wait() {
    "$@" &
    local p=$!
    echo "$p" >> "$pids"
    wait "$p"
}

rows="$tmp/rows.jsonl"
: > "$rows"
measure=("$py" "$root/perf/lib/peer_ovs.py")
wargs=(--warmup "$warmup" --windows "$windows" --window-s "$window_s" --rows "$rows")
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${out:-$root/perf/results/peer-ovs-$stamp.json}"
png="${png:-${out%.json}.png}"

# --- 1. traffic and config, once
gen=("$py" "$root/perf/gen/sessions.py")
plan=(--sessions "$sessions" --qfi "$qfi")
if [ "$sessions" -gt 65533 ]; then plan+=(--ue-pool 10.64.0.0/10); fi
psc_overhead=58  # Ethernet + IPv4 + UDP + GTP-U (8) + optional fields (4) + PDU Session Container (4)
nopsc_overhead=50
echo "peer-ovs: generating $sessions sessions, frames of $sizes bytes in $tmp"
for size in $sizes; do
    "${gen[@]}" pcap "${plan[@]}" --frame-size "$size" --out "$tmp/ul-$size.pcap" 2>/dev/null
    "${gen[@]}" pcap "${plan[@]}" --frame-size "$size" --no-psc --out "$tmp/ul-$size-nopsc.pcap" 2>/dev/null
done

# --- 2. OVS-DPDK
ovs_run() {
    local d="$tmp/ovs"
    mkdir -p "$d/run" "$d/log" "$d/db" "$d/etc"
    export OVS_RUNDIR="$d/run" OVS_LOGDIR="$d/log" OVS_DBDIR="$d/db" OVS_SYSCONFDIR="$d/etc"
    local db="unix:$d/run/db.sock" ctl="$d/run/ovs-vswitchd.ctl"
    local vsctl=(ovs-vsctl --db="$db" --timeout=30)
    ovsdb-tool create "$d/db/conf.db" "$schema"
    ovsdb-server "$d/db/conf.db" --remote="punix:$d/run/db.sock" --unixctl="$d/run/ovsdb-server.ctl" \
        --no-chdir --log-file="$d/log/ovsdb-server.log" >/dev/null 2>&1 &
    local ovsdb_pid=$!
    echo "$ovsdb_pid" >> "$pids"
    for _ in $(seq 100); do [ -S "$d/run/db.sock" ] && break; sleep 0.1; done
    "${vsctl[@]}" --no-wait init
    # PERF.md: OVS adds --in-memory, which clashes with --no-huge unless --legacy-mem is given.
    "${vsctl[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true other_config:dpdk-lcore-mask=0x1 \
        other_config:pmd-cpu-mask=0x2 "other_config:dpdk-extra=--no-huge --legacy-mem -m 1024 --no-pci --file-prefix $ovs_prefix"
    echo "$ovs_prefix" >> "$prefixes"
    # Its own namespace: br-phy's tap (with the underlay address) stays off the host.
    ip netns add "$ns"
    ip netns exec "$ns" "$vswitchd" "$db" --unixctl="$ctl" --no-chdir --log-file="$d/log/ovs-vswitchd.log" >/dev/null 2>&1 &
    local vswitchd_pid=$!
    echo "$vswitchd_pid" >> "$pids"
    for _ in $(seq 150); do ovs-appctl -t "$ctl" version >/dev/null 2>&1 && break; sleep 0.2; done
    if [ "$("${vsctl[@]}" get Open_vSwitch . dpdk_initialized 2>/dev/null)" != true ]; then
        echo "peer-ovs: OVS-DPDK did not initialise DPDK; log: $(tail -3 "$d/log/ovs-vswitchd.log" 2>/dev/null)" >&2
        return 1
    fi
    # br-phy answers for the UPF's N3 address; its MAC is the pcap's destination (net_pcap's port MAC).
    "${vsctl[@]}" add-br br-phy -- set bridge br-phy datapath_type=netdev other-config:hwaddr=02:70:63:61:70:00
    ip netns exec "$ns" ip addr add 192.168.1.1/24 dev br-phy
    ip netns exec "$ns" ip link set br-phy up
    "${vsctl[@]}" add-br br-int -- set bridge br-int datapath_type=netdev
    "${vsctl[@]}" add-port br-int gtp0 -- set interface gtp0 type=gtpu options:remote_ip=flow options:key=flow
    "${vsctl[@]}" add-port br-int sink0 -- set interface sink0 type=dpdk "options:dpdk-devargs=net_null0,no-rx=1"
    ovs-ofctl add-flow br-int "in_port=gtp0,actions=output:sink0"
    local n=0 size variant pcap psc overhead
    for size in $sizes; do
        for variant in psc nopsc; do
            n=$((n + 1))
            if [ "$variant" = psc ]; then pcap="$tmp/ul-$size.pcap"; psc=true; overhead=$psc_overhead
            else pcap="$tmp/ul-$size-nopsc.pcap"; psc=false; overhead=$nopsc_overhead; fi
            "${vsctl[@]}" add-port br-phy "src$n" -- set Interface "src$n" type=dpdk \
                "options:dpdk-devargs=net_pcap$n,rx_pcap=$pcap,infinite_rx=1"
            "${measure[@]}" ovs --ctl "$ctl" "${wargs[@]}" \
                --tag "{\"system\":\"ovs\",\"frame_bytes\":$size,\"psc\":$psc,\"sessions\":$sessions,\"overhead\":$overhead}"
            "${vsctl[@]}" del-port br-phy "src$n"
        done
    done
    # Stop OVS now, so that the next systems get the core to themselves.
    timeout 10 ovs-appctl -t "$ctl" exit --cleanup >/dev/null 2>&1 || true
    stop_pid "$vswitchd_pid"
    stop_pid "$ovsdb_pid"
    ip netns del "$ns"
    rm -rf "/var/run/dpdk/$ovs_prefix"
}

stop_pid() { # TERM, wait up to 5 s, then KILL
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

record_not_measured() { # system size reason
    "$py" -c 'import json,sys; print(json.dumps({"system":sys.argv[1],"frame_bytes":int(sys.argv[2]),"psc":True,"sessions":int(sys.argv[3]),"overhead":58,"not_measured":sys.argv[4]}))' \
        "$1" "$2" "$sessions" "$4" >> "$rows"
    echo "  $1: not measured ($4)"
}

if skipped ovs; then
    for size in $sizes; do record_not_measured ovs "$size" "$sessions" "skipped (--skip)"; done
else
    echo "peer-ovs: OVS-DPDK 3.1 gtpu decap, PMD on core 1"
    # A subshell outside any condition, so that `set -e` holds inside ovs_run;
    # in the background, so that a signal reaches the trap at once.
    set +e
    (set -e; ovs_run) &
    ovs_job=$!
    echo "$ovs_job" >> "$pids"
    wait "$ovs_job"
    ovs_rc=$?
    set -e
    if [ "$ovs_rc" != 0 ]; then
        for size in $sizes; do
            grep -q "\"system\": \"ovs\", \"frame_bytes\": $size" "$rows" ||
                record_not_measured ovs "$size" "$sessions" "OVS-DPDK set-up failed (status $ovs_rc, see above)"
        done
    fi
fi

# --- 3. testpmd io, same source
if skipped testpmd; then
    for size in $sizes; do record_not_measured testpmd "$size" "$sessions" "skipped (--skip)"; done
else
    echo "peer-ovs: dpdk-testpmd io, net_pcap -> net_null, forwarding on core 1"
    for size in $sizes; do
        prefix="$tag-testpmd-$size"
        echo "$prefix" >> "$prefixes"
        bg_wait "${measure[@]}" testpmd --pcap "$tmp/ul-$size.pcap" --file-prefix "$prefix" --lcores 0,1 \
            --pidfile "$pids" --log "$tmp/testpmd-$size.log" "${wargs[@]}" \
            --tag "{\"system\":\"testpmd\",\"frame_bytes\":$size,\"psc\":true,\"sessions\":$sessions,\"overhead\":$psc_overhead}"
    done
fi

# --- 4. upf, one worker, same source
if skipped upf; then
    for size in $sizes; do record_not_measured upf "$size" "$sessions" "skipped (--skip)"; done
else
    echo "peer-ovs: upf, one worker on core 1, N3 = the pcap, N6 = net_null"
    if [ "$build_upf" = 1 ]; then
        (cd "$root" && cargo build --release -p upf)
    fi
    for size in $sizes; do
        prefix="$tag-upf-$size"
        echo "$prefix" >> "$prefixes"
        api_port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
        # QER (an MBR far above the offered rate) and URR (always) on, as the issue asks.
        "${gen[@]}" config "${plan[@]}" --full --out "$tmp/upf-$size.yaml" \
            --n3-device "net_pcap0,rx_pcap=$tmp/ul-$size.pcap,infinite_rx=1" --n6-device "net_null0,no-rx=1" \
            --dpdk-arg=--no-huge --dpdk-arg=-m --dpdk-arg=1024 --dpdk-arg=--no-pci \
            --dpdk-arg=--file-prefix --dpdk-arg="$prefix" --mbufs 65536 --control-core 0 --workers 1 \
            --api-listen "127.0.0.1:$api_port" --mbr-ul 100Gbps --mbr-dl 100Gbps 2>/dev/null
        bg_wait "${measure[@]}" upf --bin "$upf_bin" --config "$tmp/upf-$size.yaml" --api "127.0.0.1:$api_port" \
            --pidfile "$pids" --log "$tmp/upf-$size.log" "${wargs[@]}" \
            --tag "{\"system\":\"upf\",\"frame_bytes\":$size,\"psc\":true,\"sessions\":$sessions,\"overhead\":$psc_overhead}"
    done
fi

# --- 5. table, JSON, chart
"${measure[@]}" report --rows "$rows" --out "$out" --png "$png" --command "$cmdline"
