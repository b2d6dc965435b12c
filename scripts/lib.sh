# shellcheck shell=bash
# Shared helpers for every script in scripts/: logging, root/sudo, package
# and Rust toolchain installation (idempotent, quick when present), and
# cleanup traps that run however the script ends.
#
# Use:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"     (from scripts/)
#        . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"  (from scripts/tests/)

if [[ -n "${UPF_LIB_SH_LOADED:-}" ]]; then
    return 0
fi
UPF_LIB_SH_LOADED=1

set -euo pipefail

UPF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export UPF_ROOT
UPF_SCRIPT="$(basename "${0:-upf}")"

# ------------------------------------------------------------------ logging

if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
    _c_red=$'\e[31m' _c_yellow=$'\e[33m' _c_green=$'\e[32m' _c_bold=$'\e[1m' _c_off=$'\e[0m'
else
    _c_red='' _c_yellow='' _c_green='' _c_bold='' _c_off=''
fi

log_info() { printf '%s[%s]%s %s\n' "$_c_bold" "$UPF_SCRIPT" "$_c_off" "$*" >&2; }
log_ok() { printf '%s[%s]%s %s%s%s\n' "$_c_bold" "$UPF_SCRIPT" "$_c_off" "$_c_green" "$*" "$_c_off" >&2; }
log_warn() { printf '%s[%s]%s %swarning:%s %s\n' "$_c_bold" "$UPF_SCRIPT" "$_c_off" "$_c_yellow" "$_c_off" "$*" >&2; }
log_error() { printf '%s[%s]%s %serror:%s %s\n' "$_c_bold" "$UPF_SCRIPT" "$_c_off" "$_c_red" "$_c_off" "$*" >&2; }
die() {
    log_error "$*"
    exit 1
}

# Runs a command, or with DRY_RUN=1 only prints it.
run() {
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
        printf '+ %s\n' "$*" >&2
    else
        "$@"
    fi
}

# ------------------------------------------------------------------ root

is_root() { [[ "$(id -u)" == 0 ]]; }

# "sudo" when not root and sudo exists, else empty: prefix privileged commands with $SUDO.
if is_root; then
    SUDO=''
elif command -v sudo >/dev/null 2>&1; then
    SUDO='sudo'
else
    SUDO=''
fi

need_root() {
    if ! is_root && [[ -z "$SUDO" ]]; then
        die "${1:-this step} needs root (run as root or install sudo)"
    fi
}

# ------------------------------------------------------------------ cleanup

# Commands to run at exit, last registered first. They run on normal exit,
# on error (set -e) and on SIGINT/SIGTERM, each at most once, and a failing
# cleanup does not stop the others.
_upf_cleanups=()

add_cleanup() { _upf_cleanups+=("$*"); }

_upf_run_cleanups() {
    local status=$? i
    trap - EXIT INT TERM
    for ((i = ${#_upf_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_upf_cleanups[i]}" || log_warn "cleanup failed: ${_upf_cleanups[i]}"
    done
    _upf_cleanups=()
    exit "$status"
}

trap _upf_run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ packages

# True if every package given is installed.
packages_installed() {
    local p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || return 1
    done
}

# Installs the Debian packages that are missing; does nothing (and needs
# no root or network) when all are present. apt-get update runs at most
# once per top-level script run (UPF_APT_UPDATED is exported).
ensure_packages() {
    local missing=() p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    need_root "installing ${missing[*]}"
    log_info "installing: ${missing[*]}"
    if [[ -z "${UPF_APT_UPDATED:-}" ]]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
        export UPF_APT_UPDATED=1
    fi
    # tshark asks whether non-root users may capture: answer no, never prompt.
    if printf '%s\n' "${missing[@]}" | grep -qx 'tshark\|wireshark-common'; then
        echo 'wireshark-common wireshark-common/install-setuid boolean false' | $SUDO debconf-set-selections
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# shellcheck disable=SC2034 # the package lists are used by the scripts that source this file
# Build dependencies of the workspace (DPDK 22.11, bindgen's libclang).
UPF_BUILD_PACKAGES=(build-essential pkg-config git ca-certificates curl
    libdpdk-dev dpdk-dev dpdk clang libclang-dev libpcap-dev)

# Tools the test suites use.
# shellcheck disable=SC2034
UPF_TEST_PACKAGES=(tshark tcpdump iperf3 python3 python3-scapy iproute2
    iputils-ping curl valgrind shellcheck procps ethtool util-linux
    python3-matplotlib)

# ------------------------------------------------------------------ rust

# Makes cargo (stable, with rustfmt and clippy) available: uses the one on
# PATH or in ~/.cargo/bin, else installs rustup's minimal stable profile.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        ensure_packages curl ca-certificates
        log_info "installing the Rust toolchain (rustup, stable)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --default-toolchain stable -c rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null 2>&1; then
        local c
        for c in rustfmt clippy; do
            if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
                log_info "adding rustup component $c"
                rustup component add "$c"
            fi
        done
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is not available"
}

# ------------------------------------------------------------------ misc

# Prints the number of online CPUs.
cpu_count() { getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1; }

# Waits up to $1 seconds for the command in "$@" (after $1) to succeed.
wait_for() {
    local timeout="$1" deadline
    shift
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.1
    done
}

# debug_bins PACKAGE... : sets UPF_DEBUG_BIN_DIR to a directory holding
# the debug binaries of these packages. scripts/test.sh exports it after
# its `cargo test --workspace` build, which builds every binary the suites
# use: a `cargo build -p P...` of a few packages resolves dependency
# features differently (dev-dependencies and the other members add some),
# so each different set of packages compiled most dependencies again (about
# 100 s per set on CI). Without it (a suite run alone, or a binary
# missing there), `cargo build -q -p PACKAGE...` and target/debug.
debug_bins() {
    local p pkgs=() absent=0
    if [[ -n "${UPF_DEBUG_BIN_DIR:-}" ]]; then
        for p in "$@"; do [[ -x "$UPF_DEBUG_BIN_DIR/$p" ]] || absent=1; done
        ((absent)) || return 0
        log_warn "no $* in $UPF_DEBUG_BIN_DIR: building them"
    fi
    for p in "$@"; do pkgs+=(-p "$p"); done
    (cd "$UPF_ROOT" && cargo build -q "${pkgs[@]}")
    UPF_DEBUG_BIN_DIR="${CARGO_TARGET_DIR:-$UPF_ROOT/target}/debug"
}

# testbed_suite TAG PACKAGE... : the common start of a namespace suite
# (scripts/tests/3x-4x): the packages' debug binaries (debug_bins) unless
# UPF_BIN_DIR names prebuilt ones, takes the DPDK test lock, brings up a private
# testbed copy (prefix TAG<pid>-) torn down on exit, and exports its
# environment (NS_GNB, NS_UPF, NS_DN, DN_IP, HTTP_URL, TESTBED_RUNDIR).
# Sets UPF_BIN_DIR and `work` (a temp dir removed on exit).
testbed_suite() {
    local tag="$1"; shift
    cd "$UPF_ROOT" || die "no $UPF_ROOT"
    if [[ -z "${UPF_BIN_DIR:-}" ]]; then
        debug_bins "$@"
        UPF_BIN_DIR="$UPF_DEBUG_BIN_DIR"
    fi
    export TESTBED_PREFIX="$tag$$-"
    work="$(mktemp -d "/tmp/$tag.XXXXXX")"
    add_cleanup "rm -rf '$work'"
    add_cleanup "scripts/testbed.sh down >/dev/null 2>&1"
    exec 9>/tmp/upf-dpdk-tests.lock
    flock 9
    scripts/testbed.sh up >"$work/testbed.log" 2>&1 || { tail -5 "$work/testbed.log"; die "testbed up"; }
    eval "$(scripts/testbed.sh env)"
    export NS_GNB NS_UPF NS_DN DN_IP HTTP_URL TESTBED_RUNDIR
}

# veth_suite TAG : the common start of a suite that runs `upf run` on
# af_packet veths inside one private namespace (scripts/tests/42, 66):
# debug `upf` (debug_bins) unless UPF_BIN names one, makes `work` (a temp dir
# removed on exit), takes the DPDK test lock, and creates namespace
# `ns`=TAG<pid> (IPv6 off, lo up) with the veth pairs TAG-n3/TAG-n3p and
# TAG-n6/TAG-n6p, removed on exit. Defines nsx (run in the namespace).
veth_suite() {
    local tag="$1" side
    cd "$UPF_ROOT" || die "no $UPF_ROOT"
    if [[ -z "${UPF_BIN:-}" ]]; then
        debug_bins upf
        UPF_BIN="$UPF_DEBUG_BIN_DIR/upf"
    fi
    work="$(mktemp -d "/tmp/$tag.XXXXXX")"
    add_cleanup "rm -rf '$work'"
    exec 9>/tmp/upf-dpdk-tests.lock
    flock 9
    ns="$tag$$"
    add_cleanup "ip netns del '$ns' 2>/dev/null || true"
    ip netns add "$ns"
    nsx() { ip netns exec "$ns" "$@"; }
    nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    nsx ip link set lo up
    for side in n3 n6; do
        nsx ip link add "$tag-$side" type veth peer name "$tag-${side}p"
        nsx ip link set "$tag-$side" up
        nsx ip link set "$tag-${side}p" up
    done
}
