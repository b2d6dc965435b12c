#!/bin/sh
# Per-instance config for a upf pod of the StatefulSet (deploy/k8s).
#
# The ConfigMap upf-config holds one template, upf.yaml.tmpl, for every
# instance; this script fills in what differs per pod and writes the result
# to /run/upf/upf.yaml (atomically: temporary file, then rename):
#   @NODE_ID@       the pod's stable DNS name, <pod>.<service>.<ns>.svc.<domain>
#                   (UPF_NODE_ID=ip: the pod IP instead)
#   @N4_ADDRESS@    the pod IP (the PFCP socket and the API listen on it)
#   @N3_ADDRESS@    UPF_N3_BASE + ordinal, with /UPF_N3_PREFIX_LEN
#   @N6_ADDRESS@    UPF_N6_BASE + ordinal, with /UPF_N6_PREFIX_LEN
#   @N6_GATEWAY@    UPF_N6_GATEWAY
#   @UE_POOL@       the ordinal-th block of /UPF_UE_POOL_PREFIX_LEN in UPF_UE_POOL
#   @N3_DEVICE@     UPF_N3_DEVICE, or the PCI address in the variable named by
#   @N6_DEVICE@     UPF_N3_DEVICE_ENV (the SR-IOV device plugin's PCIDEVICE_*)
#   @CONTROL_CORE@  the first CPU of this container's cpuset (UPF_CPUS overrides),
#   @WORKER_CORES@  the next UPF_WORKERS CPUs (default: all the others)
#   @EAL_ARGS@      UPF_EAL_ARGS, a YAML flow list body ("--no-huge", "-m", "512")
#   @IDLE_BACKOFF@  UPF_IDLE_BACKOFF (true/false)
#   @ORDINAL@ @POD_NAME@ @NAMESPACE@
# The ordinal comes from the pod-index label (Kubernetes 1.28+, passed in
# POD_INDEX) or the pod name's suffix (upf-3 -> 3).
#
#   render.sh render   write the config, print its path
#   render.sh run      write it, then exec `upf run` on it (the upf container)
#   render.sh watch    the config-sync sidecar: re-render whenever the
#                      ConfigMap changes; upf's `reload: { watch: true }`
#                      then applies it without a restart
# `run` computes the identity once and saves it to /run/upf/identity.env;
# `watch` renders with that saved identity, so both agree on the cores
# (the sidecar's own cpuset is not the upf container's).
set -eu

mode="${1:-}"
template="${UPF_TEMPLATE:-/etc/upf-template/upf.yaml.tmpl}"
out="${UPF_RENDERED:-/run/upf/upf.yaml}"
identity="${UPF_IDENTITY:-$(dirname "$out")/identity.env}"
interval="${UPF_RENDER_INTERVAL:-5}"

log() { echo "render: $*" >&2; }
die() { echo "render: error: $*" >&2; exit 1; }

ip2int() {
    case "$1" in
    *[!0-9.]* | '') die "$2: '$1' is not an IPv4 address" ;;
    esac
    old_ifs="$IFS"
    IFS=.
    # shellcheck disable=SC2086 # split on dots on purpose
    set -- $1 "$2"
    IFS="$old_ifs"
    [ $# -eq 5 ] || die "$5: not an IPv4 address"
    for o in "$1" "$2" "$3" "$4"; do
        [ "$o" -le 255 ] || die "$5: octet $o out of range"
    done
    echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}

int2ip() {
    echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

# base + ordinal, checked to stay a host address inside base/len.
addr_for() { # name base len ordinal
    case "$3" in *[!0-9]* | '') die "$1: prefix length '$3' is not a number" ;; esac
    if [ "$3" -lt 1 ] || [ "$3" -gt 30 ]; then die "$1: prefix length $3 out of 1..30"; fi
    b=$(ip2int "$2" "$1")
    a=$((b + $4))
    host_bits=$((32 - $3))
    [ $((a >> host_bits)) -eq $((b >> host_bits)) ] \
        || die "$1: $2 + ordinal $4 leaves $2/$3; use a larger prefix or fewer replicas"
    mask=$(((1 << host_bits) - 1))
    if [ $((a & mask)) -eq 0 ] || [ $((a & mask)) -eq "$mask" ]; then
        die "$1: $(int2ip "$a") is the network or broadcast address of /$3"
    fi
    echo "$(int2ip "$a")/$3"
}

# The ordinal-th /len block of the pool (each instance owns one UE block;
# the data network routes it to that instance's N6 address).
pool_for() { # pool len ordinal
    net="${1%/*}"
    plen="${1#*/}"
    [ "$net" != "$1" ] || die "UPF_UE_POOL: '$1' needs a /prefix"
    case "$2" in *[!0-9]* | '') die "UPF_UE_POOL_PREFIX_LEN: '$2' is not a number" ;; esac
    if [ "$2" -lt "$plen" ] || [ "$2" -gt 30 ]; then die "UPF_UE_POOL_PREFIX_LEN $2 must be in $plen..30"; fi
    [ $(($3 >> ($2 - plen))) -eq 0 ] \
        || die "UPF_UE_POOL $1 has $((1 << ($2 - plen))) blocks of /$2; ordinal $3 does not fit"
    n=$(ip2int "$net" UPF_UE_POOL)
    echo "$(int2ip $((n + ($3 << (32 - $2)))))/$2"
}

# CPUs of a kernel cpu list (0-3,6) one per line.
expand_cpus() {
    echo "$1" | tr ',' '\n' | while IFS=- read -r lo hi; do
        [ -n "$lo" ] || continue
        hi="${hi:-$lo}"
        i=$lo
        while [ "$i" -le "$hi" ]; do
            echo "$i"
            i=$((i + 1))
        done
    done
}

device_for() { # name literal env-name
    if [ -n "$2" ]; then
        echo "$2"
        return
    fi
    [ -n "$3" ] || die "set UPF_$1_DEVICE or UPF_$1_DEVICE_ENV"
    eval "v=\${$3:-}"
    # shellcheck disable=SC2154 # set by the eval
    [ -n "$v" ] || die "UPF_$1_DEVICE_ENV names $3, which is empty: is the SR-IOV resource requested?"
    echo "${v%%,*}"
}

compute_identity() {
    pod="${POD_NAME:-$(hostname)}"
    ordinal="${POD_INDEX:-}"
    [ -n "$ordinal" ] || ordinal="${pod##*-}"
    case "$ordinal" in *[!0-9]* | '') die "no ordinal: POD_INDEX is unset and '$pod' has no -N suffix" ;; esac
    ns="${POD_NAMESPACE:-default}"
    pod_ip="${POD_IP:?POD_IP must be set (downward API status.podIP)}"
    case "${UPF_NODE_ID:-fqdn}" in
    fqdn) node_id="$pod.${UPF_SERVICE:-upf}.$ns.svc.${UPF_CLUSTER_DOMAIN:-cluster.local}" ;;
    ip) node_id="$pod_ip" ;;
    *) die "UPF_NODE_ID must be fqdn or ip, not '$UPF_NODE_ID'" ;;
    esac

    cpus="${UPF_CPUS:-}"
    if [ -z "$cpus" ]; then
        cpus="$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)"
    fi
    # shellcheck disable=SC2046 # one CPU per word
    set -- $(expand_cpus "$cpus")
    [ $# -ge 2 ] || die "need at least 2 CPUs (control + 1 worker), have '$cpus': raise the CPU request"
    control="$1"
    shift
    want="${UPF_WORKERS:-$#}"
    if [ "$want" -lt 1 ] || [ "$want" -gt $# ]; then
        die "UPF_WORKERS=$want but only $# CPUs besides the control core ($cpus)"
    fi
    workers=""
    while [ "$want" -gt 0 ]; do
        workers="${workers:+$workers, }$1"
        shift
        want=$((want - 1))
    done

    # Plain assignments: a failing $(...) here stops the script (set -e),
    # which it would not inside printf's arguments.
    n3_address="$(addr_for UPF_N3_BASE "${UPF_N3_BASE:?}" "${UPF_N3_PREFIX_LEN:?}" "$ordinal")"
    n6_address="$(addr_for UPF_N6_BASE "${UPF_N6_BASE:?}" "${UPF_N6_PREFIX_LEN:?}" "$ordinal")"
    ue_pool="$(pool_for "${UPF_UE_POOL:?}" "${UPF_UE_POOL_PREFIX_LEN:?}" "$ordinal")"
    n3_device="$(device_for N3 "${UPF_N3_DEVICE:-}" "${UPF_N3_DEVICE_ENV:-}")"
    n6_device="$(device_for N6 "${UPF_N6_DEVICE:-}" "${UPF_N6_DEVICE_ENV:-}")"
    {
        printf "ORDINAL='%s'\nPOD='%s'\nNS='%s'\nNODE_ID='%s'\nN4_ADDRESS='%s'\n" \
            "$ordinal" "$pod" "$ns" "$node_id" "$pod_ip"
        printf "N3_ADDRESS='%s'\nN6_ADDRESS='%s'\nN6_GATEWAY='%s'\nUE_POOL='%s'\n" \
            "$n3_address" "$n6_address" "${UPF_N6_GATEWAY:?}" "$ue_pool"
        printf "N3_DEVICE='%s'\nN6_DEVICE='%s'\n" "$n3_device" "$n6_device"
        printf "CONTROL_CORE='%s'\nWORKER_CORES='%s'\n" "$control" "$workers"
        printf "EAL_ARGS='%s'\nIDLE_BACKOFF='%s'\n" "${UPF_EAL_ARGS:-}" "${UPF_IDLE_BACKOFF:-false}"
    } > "$identity.tmp"
    mv "$identity.tmp" "$identity"
}

# sed replacement text: escape \ & and the | delimiter.
esc() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }

# shellcheck disable=SC2153 # NODE_ID, ORDINAL, ... come from $identity
render() { # -> writes $out if it changed; returns 0 if it changed, 1 if not
    # shellcheck disable=SC1090 # written by compute_identity
    . "$identity"
    [ -r "$template" ] || die "no template at $template"
    tmp="$out.tmp"
    sed -e "s|@NODE_ID@|$(esc "$NODE_ID")|g" \
        -e "s|@N4_ADDRESS@|$(esc "$N4_ADDRESS")|g" \
        -e "s|@N3_ADDRESS@|$(esc "$N3_ADDRESS")|g" \
        -e "s|@N6_ADDRESS@|$(esc "$N6_ADDRESS")|g" \
        -e "s|@N6_GATEWAY@|$(esc "$N6_GATEWAY")|g" \
        -e "s|@UE_POOL@|$(esc "$UE_POOL")|g" \
        -e "s|@N3_DEVICE@|$(esc "$N3_DEVICE")|g" \
        -e "s|@N6_DEVICE@|$(esc "$N6_DEVICE")|g" \
        -e "s|@CONTROL_CORE@|$(esc "$CONTROL_CORE")|g" \
        -e "s|@WORKER_CORES@|$(esc "$WORKER_CORES")|g" \
        -e "s|@EAL_ARGS@|$(esc "$EAL_ARGS")|g" \
        -e "s|@IDLE_BACKOFF@|$(esc "$IDLE_BACKOFF")|g" \
        -e "s|@ORDINAL@|$(esc "$ORDINAL")|g" \
        -e "s|@POD_NAME@|$(esc "$POD")|g" \
        -e "s|@NAMESPACE@|$(esc "$NS")|g" \
        "$template" > "$tmp"
    left="$(grep -o '@[A-Z0-9_]*@' "$tmp" | sort -u | tr '\n' ' ')"
    if [ -n "$left" ]; then
        rm -f "$tmp"
        log "template has unknown fields: $left(not rendered; the running config stays)"
        return 2
    fi
    if [ -f "$out" ] && cmp -s "$tmp" "$out"; then
        rm -f "$tmp"
        return 1
    fi
    mv "$tmp" "$out"
    return 0
}

case "$mode" in
render)
    mkdir -p "$(dirname "$out")"
    compute_identity
    rc=0
    render || rc=$?
    [ "$rc" -le 1 ] || exit 1
    echo "$out"
    ;;
run)
    mkdir -p "$(dirname "$out")"
    compute_identity
    rc=0
    render || rc=$?
    [ "$rc" -le 1 ] || exit 1
    # shellcheck disable=SC1090
    . "$identity"
    log "$POD (ordinal $ORDINAL): node_id $NODE_ID, N4 $N4_ADDRESS, N3 $N3_ADDRESS, N6 $N6_ADDRESS, UE pool $UE_POOL, cores $CONTROL_CORE + [$WORKER_CORES]"
    exec "${UPF_BIN:-upf}" run --config "$out"
    ;;
watch)
    # Wait for the upf container's identity (it starts in parallel).
    while [ ! -f "$identity" ]; do sleep 1; done
    log "watching $template every ${interval}s"
    while :; do
        rc=0
        render || rc=$?
        [ "$rc" -eq 0 ] && log "template changed: rendered $out (upf reloads it)"
        sleep "$interval"
    done
    ;;
*)
    echo "usage: $0 render|run|watch" >&2
    exit 2
    ;;
esac
