#!/usr/bin/env bash
# Tests of the Debian package and its systemd units, without installing
# anything on this machine:
#  1. scripts/build-deb.sh packages a upf binary ($UPF_BIN, else
#     target/release/upf, else target/debug/upf, built if missing);
#  2. contents (dpkg-deb -c): binary, config, units, man page, docs, k8s
#     manifests, dashboard; control (dpkg-deb -I): conffiles is exactly
#     /etc/upf/upf.yaml, Depends covers DPDK's plugin drivers
#     (scripts/runtime-packages.txt) and kmod; maintainer scripts parse;
#  3. the package unpacked into a scratch root (dpkg -x): `systemd-analyze
#     verify` of both units there prints nothing (it works offline; no
#     running systemd needed), and the hardening summary is printed;
#  4. the packaged binary accepts the packaged config (`upf check`);
#  5. the man page renders without groff warnings and documents exactly the
#     options that `upf <command> --help` lists, for run, check, prepare;
#  6. as root, the packaged `upf prepare` on this machine's kernel, with a
#     small config (2 MiB hugepages, a hugetlbfs in a temporary directory,
#     vdevs): the dry run changes nothing, the run reserves and mounts, the
#     second run finds everything "already"; the hugepage pool, the mount
#     and /run/upf/prepare.env are restored afterwards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
say() { echo "deploy-deb: $*"; }

work="$(mktemp -d -t deploy-deb.XXXXXX)"
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
pool_before=""
env_file=/run/upf/prepare.env
env_saved=""
cleanup() {
    umount "$work/huge" 2>/dev/null || true
    [ -n "$pool_before" ] && echo "$pool_before" > "$pool"
    if [ "$env_saved" = none ]; then
        rm -f "$env_file"
        rmdir /run/upf 2>/dev/null || true
    elif [ "$env_saved" = saved ]; then
        cp "$work/env.saved" "$env_file"
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

need() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing $2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "deploy-deb: $1 is required (apt-get install $2)" >&2; exit 1; }
}
need systemd-analyze systemd
need groff groff-base
need man man-db
need taskset util-linux
need readelf binutils

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="${UPF_BIN:-}"
if [ -z "$bin" ]; then
    if [ -x "$target_dir/release/upf" ]; then
        bin="$target_dir/release/upf"
    else
        [ -x "$target_dir/debug/upf" ] || { say "building upf (cargo build -p upf)"; cargo build -q -p upf; }
        bin="$target_dir/debug/upf"
    fi
fi
say "packaging $bin"

# --- 1. build ------------------------------------------------------------------
if deb="$(scripts/build-deb.sh --binary "$bin" --out "$work/out" 2> "$work/build.log" | tail -1)" && [ -f "$deb" ]; then
    ok "build-deb.sh made $(basename "$deb")"
else
    cat "$work/build.log"
    fail "build-deb.sh failed"
    echo "deploy-deb: $passed passed, $failed failed"
    exit 1
fi
grep -q 'config: deploy/upf.yaml' "$work/build.log" \
    && fail "the package ships the fallback deploy/upf.yaml: config/upf.yaml is not in this tree (merge the config work, then delete deploy/upf.yaml)"

# --- 2. contents and control -------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $1, $6 }' > "$work/contents"
for want in "-rwxr-xr-x ./usr/bin/upf" \
    "-rw-r--r-- ./etc/upf/upf.yaml" \
    "-rw-r--r-- ./usr/lib/systemd/system/upf.service" \
    "-rw-r--r-- ./usr/lib/systemd/system/upf-prepare.service" \
    "-rw-r--r-- ./usr/share/man/man8/upf.8.gz" \
    "-rw-r--r-- ./usr/share/doc/upf/README.deploy.md" \
    "-rw-r--r-- ./usr/share/doc/upf/copyright" \
    "-rw-r--r-- ./usr/share/doc/upf/k8s/README.md" \
    "-rw-r--r-- ./usr/share/doc/upf/k8s/base/kustomization.yaml" \
    "-rw-r--r-- ./usr/share/doc/upf/k8s/overlays/af-packet/kustomization.yaml" \
    "-rw-r--r-- ./usr/share/doc/upf/k8s/overlays/sriov/kustomization.yaml" \
    "-rw-r--r-- ./usr/share/doc/upf/grafana/upf-dashboard.json"; do
    if grep -qxF -- "$want" "$work/contents"; then ok "contains $want"; else fail "missing $want"; fi
done
if [ "$(dpkg-deb -I "$deb" conffiles)" = "/etc/upf/upf.yaml" ]; then
    ok "conffiles: /etc/upf/upf.yaml (local edits survive upgrades)"
else
    fail "conffiles is '$(dpkg-deb -I "$deb" conffiles 2>&1)', expected /etc/upf/upf.yaml"
fi
[ "$(dpkg-deb -f "$deb" Package)" = upf ] && ok "Package: upf" || fail "Package: $(dpkg-deb -f "$deb" Package)"
depends="$(dpkg-deb -f "$deb" Depends)"
missing=""
# kmod, the DPDK plugins (drivers EAL loads at run time, which dpkg-shlibdeps
# cannot see: buses, mempool handlers, NIC drivers; the Docker image's list
# in scripts/runtime-packages.txt when this tree has it), and the package of
# every DPDK library the binary links (librte_eal.so.23 -> librte-eal23,
# librte_net_e1000.so.23 -> librte-net-e1000-23).
required="kmod librte-mempool-ring23 librte-bus-pci23 librte-bus-vdev23 librte-net-af-packet23"
if [ -f scripts/runtime-packages.txt ]; then
    required="$required $(grep -v '^#' scripts/runtime-packages.txt | grep -E '^librte-(net|bus|mempool)-' | tr -s ' \n' ' ')"
else
    say "note: scripts/runtime-packages.txt not in this tree: checking the DPDK plugins named here only"
fi
need_bin="$(readelf -d "$bin" 2>/dev/null | sed -n 's/.*Shared library: \[librte_\(.*\)\.so\.\([0-9]*\)\]/\1 \2/p' \
    | while read -r lib so; do
        name="librte-${lib//_/-}"
        case "$name" in *[0-9]) echo "$name-$so" ;; *) echo "$name$so" ;; esac
    done | tr '\n' ' ')"
[ -n "$need_bin" ] || say "note: $bin links no DPDK library (not wired to DPDK yet, or built with the static feature)"
required="$required $need_bin"
for p in $required; do
    printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$p" || missing="$missing $p"
done
if [ -z "$missing" ]; then ok "Depends covers kmod and DPDK's runtime packages"; else fail "Depends lacks:$missing"; fi
mkdir -p "$work/ctrl"
dpkg-deb -e "$deb" "$work/ctrl"
for s in postinst prerm postrm; do
    if [ -f "$work/ctrl/$s" ] && sh -n "$work/ctrl/$s"; then ok "maintainer script $s parses"; else fail "maintainer script $s missing or broken"; fi
done
grep -q 'try-restart upf.service\|restart upf.service' "$work/ctrl/postinst" \
    && fail "postinst restarts upf on upgrade (drops traffic)" || ok "postinst never restarts a running upf"

# --- 3. scratch root and systemd units ------------------------------------------
sr="$work/root"
dpkg -x "$deb" "$sr"
ok "dpkg -x unpacked the package into a scratch root"
# verify resolves ExecStart= binaries and unit dependencies inside --root:
# give it the commands the units call and systemd's own units.
mkdir -p "$sr/usr/bin" "$sr/bin" "$sr/usr/lib/systemd/system"
cp "$(type -P taskset)" "$sr/usr/bin/taskset"
cp "$(type -P kill)" "$sr/bin/kill"
cp -Rn /usr/lib/systemd/system/. "$sr/usr/lib/systemd/system/" 2>/dev/null || true
units=("$sr/usr/lib/systemd/system/upf.service" "$sr/usr/lib/systemd/system/upf-prepare.service")
if MANPATH="$sr/usr/share/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify --root="$sr" "${units[@]}" > "$work/verify.log" 2>&1 \
    && [ ! -s "$work/verify.log" ]; then
    ok "systemd-analyze verify: upf.service and upf-prepare.service are clean"
else
    sed 's/^/    /' "$work/verify.log"
    fail "systemd-analyze verify reported problems"
fi
if systemd-analyze security --offline=true --root="$sr" upf.service > "$work/security.log" 2>&1; then
    say "hardening of upf.service: $(grep -o 'Overall exposure level for upf.service: .*' "$work/security.log")"
fi
grep -q '^Type=notify$' "${units[0]}" && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "${units[0]}" \
    && grep -q '^LimitMEMLOCK=infinity$' "${units[0]}" && grep -q '^Restart=on-failure$' "${units[0]}" \
    && ok "upf.service: Type=notify, SIGHUP reload, LimitMEMLOCK=infinity, Restart=on-failure" \
    || fail "upf.service lacks one of Type=notify, ExecReload, LimitMEMLOCK, Restart"
caps="$(sed -n 's/^CapabilityBoundingSet=//p' "${units[0]}")"
[ -n "$caps" ] && ! grep -q 'CAP_SYS_ADMIN' <<< "$caps" \
    && ok "upf.service: capability bounding set without CAP_SYS_ADMIN ($caps)" \
    || fail "upf.service capability bounding set: '$caps'"

# --- 4. the packaged binary checks the packaged config -----------------------
if "$sr/usr/bin/upf" check --help 2>&1 | grep -q -- --config; then
    if "$sr/usr/bin/upf" check --config "$sr/etc/upf/upf.yaml" > "$work/check.out" 2> "$work/check.err"; then
        ok "packaged upf check accepts the packaged /etc/upf/upf.yaml"
        grep -q '^node_id:' "$work/check.out" && ok "upf check prints the effective config" \
            || fail "upf check printed no effective config"
    else
        sed 's/^/    /' "$work/check.err"
        fail "packaged upf check rejects the packaged /etc/upf/upf.yaml"
    fi
else
    fail "the packaged binary has no 'upf check --config' (this tree's upf CLI is not the Contract's yet: merge the config work; see git log)"
fi

# --- 5. man page ---------------------------------------------------------------
man8="$sr/usr/share/man/man8/upf.8.gz"
if zcat "$man8" | groff -ww -z -man 2> "$work/groff.log" && [ ! -s "$work/groff.log" ]; then
    ok "man page renders without groff warnings"
else
    fail "man page: $(head -3 "$work/groff.log")"
fi
zcat "$man8" | grep -q '@VERSION@' && fail "man page still has @VERSION@" || ok "man page carries the version"
# The long options of the SYNOPSIS and OPTIONS sections (the rest of the
# page may mention DPDK's or systemctl's) against those of every --help.
man_opts="$(zcat "$man8" | awk '/^\.SH /{ on = ($2 == "SYNOPSIS" || $2 == "OPTIONS") } on' \
    | sed 's/\\f[BIRP]//g; s/\\-/-/g' | grep -o -- '--[a-z][a-z-]*' | sort -u)"
help_opts=""
cli_ok=1
for cmd in "" run check prepare; do
    # shellcheck disable=SC2086 # empty cmd = top level
    if out="$("$sr/usr/bin/upf" $cmd --help 2>&1)" && grep -q -- '--' <<< "$out"; then
        help_opts="$help_opts
$(grep -o -- '--[a-z][a-z-]*' <<< "$out")"
    else
        cli_ok=0
        if [ "$cmd" = prepare ]; then
            fail "upf prepare --help lists no options: 'upf prepare' is not wired to upf::prepare yet (see upf/src/prepare.rs)"
        else
            fail "upf ${cmd:-(top level)} --help lists no options: this binary lacks the Contract's CLI (merge the config work)"
        fi
    fi
done
help_opts="$(printf '%s\n' "$help_opts" | { grep . || true; } | sort -u)"
if [ "$cli_ok" = 1 ]; then
    undocumented="$(comm -13 <(printf '%s\n' "$man_opts") <(printf '%s\n' "$help_opts") | tr '\n' ' ')"
    stale="$(comm -23 <(printf '%s\n' "$man_opts") <(printf '%s\n' "$help_opts") | tr '\n' ' ')"
    [ -z "$undocumented" ] && ok "man page documents every option of upf --help" \
        || fail "options missing from the man page: $undocumented"
    [ -z "$stale" ] && ok "man page documents no option the binary lacks" \
        || fail "man page options the binary does not have: $stale"
fi

# --- 6. upf prepare on this kernel ------------------------------------------
if [ "$(id -u)" != 0 ]; then
    say "note: not root: the packaged upf prepare was not run on this kernel"
elif ! "$sr/usr/bin/upf" prepare --help 2>&1 | grep -q -- --dry-run; then
    fail "the packaged binary has no 'upf prepare --dry-run': not run on this kernel (wire upf::prepare, see upf/src/prepare.rs)"
elif [ ! -w "$pool" ]; then
    say "note: no 2 MiB hugepage pool here: the packaged upf prepare was not run on this kernel"
else
    pool_before="$(cat "$pool")"
    if [ -f "$env_file" ]; then cp "$env_file" "$work/env.saved"; env_saved=saved; else env_saved=none; fi
    # Ask for 2 pages more than the pool has, so the run has something to do.
    mib=$(((pool_before + 2) * 2))
    mkdir -p "$work/huge"
    printf '%s\n' \
        'node_id: 192.0.2.1' \
        'dpdk:' \
        "  args: [\"-m\", \"$mib\", \"--huge-dir\", \"$work/huge\", \"--no-pci\", \"--file-prefix\", \"deploy-deb-$$\"]" \
        '  mbufs: 8192' \
        'cores: { control: 0, workers: [1] }' \
        'interfaces:' \
        '  n3: { device: "net_null0", address: 192.0.2.1/24 }' \
        '  n6: { device: "net_null1", address: 198.51.100.1/24, gateway: 198.51.100.254 }' \
        'api: { listen: "127.0.0.1:0" }' > "$work/prep.yaml"
    prep() { "$sr/usr/bin/upf" prepare "$@" --config "$work/prep.yaml" > "$work/prep.out" 2>&1; }
    if prep --dry-run && grep -q '^hugepages: would: reserve' "$work/prep.out" \
        && [ "$(cat "$pool")" = "$pool_before" ] && ! grep -q " $work/huge " /proc/mounts; then
        ok "upf prepare --dry-run on this kernel says what it would do and changes nothing"
    else
        sed 's/^/    /' "$work/prep.out"
        fail "upf prepare --dry-run on this kernel"
    fi
    if prep && grep -q '^hugepages: done: reserved' "$work/prep.out" \
        && grep -q "^hugetlbfs: done: mounted 2 MiB pages at $work/huge\$" "$work/prep.out" \
        && [ "$(cat "$pool")" -ge $((pool_before + 2)) ] && grep -q " $work/huge hugetlbfs " /proc/mounts \
        && grep -qx 'UPF_CPUS=0-1' "$env_file"; then
        ok "upf prepare on this kernel reserves hugepages, mounts hugetlbfs, writes UPF_CPUS"
    else
        sed 's/^/    /' "$work/prep.out"
        fail "upf prepare on this kernel"
    fi
    if prep && ! grep -qv ': \(already\|skip\): ' "$work/prep.out"; then
        ok "upf prepare run again: every step 'already' or 'skip'"
    else
        sed 's/^/    /' "$work/prep.out"
        fail "upf prepare is not idempotent on this kernel"
    fi
fi

echo "deploy-deb: $passed passed, $failed failed"
[ "$failed" = 0 ]
