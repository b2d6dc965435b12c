#!/usr/bin/env bash
# Builds the upf Debian package (.deb) with cargo-deb.
#
#   scripts/build-deb.sh --release             # cargo build --release -p upf, then package
#   scripts/build-deb.sh --binary PATH         # package a prebuilt upf binary
#   scripts/build-deb.sh                       # package target/release/upf as it is
#   options: --out DIR (default build/deb/out), --no-strip, --deb-version V
#
# What goes in (metadata: [package.metadata.deb] in upf/Cargo.toml):
#   /usr/bin/upf                        the binary (debug info stripped unless --no-strip)
#   /etc/upf/upf.yaml                   config/upf.yaml (conffile)
#   /usr/lib/systemd/system/upf.service, upf-prepare.service   deploy/systemd/
#   /usr/share/man/man8/upf.8.gz        deploy/man/upf.8
#   /usr/share/doc/upf/                 README.deploy.md (deploy/README.md), k8s/
#                                       (deploy/k8s), grafana/ (deploy/grafana)
# Everything is staged under build/deb/ and cargo-deb runs with --no-build.
# Needs: cargo, cargo-deb (installed with `cargo install cargo-deb --locked`
# when missing), dpkg-dev (dpkg-shlibdeps, for the shared-library Depends),
# binutils (strip). Prints the path of the .deb on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { echo "build-deb: $*" >&2; }
die() { echo "build-deb: error: $*" >&2; exit 1; }

build=0
binary=""
out="$root/build/deb/out"
strip=1
deb_version=""
while [ $# -gt 0 ]; do
    case "$1" in
        --release) build=1 ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
        --binary=*) binary="${1#--binary=}" ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift ;;
        --out=*) out="${1#--out=}" ;;
        --no-strip) strip=0 ;;
        --deb-version) [ $# -ge 2 ] || die "--deb-version needs a value"; deb_version="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[ "$build" = 1 ] && [ -n "$binary" ] && die "--release and --binary exclude each other"

need_apt() {
    # $1: command, $2: Debian package that provides it
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing $2 (for $1)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || die "$1 is required (apt-get install $2)"
}
need_apt dpkg-shlibdeps dpkg-dev
need_apt dpkg-deb dpkg
[ "$strip" = 1 ] && need_apt strip binutils

if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb (cargo install cargo-deb --locked)"
    cargo install cargo-deb --locked >&2
fi

# --- the binary ----------------------------------------------------------
if [ "$build" = 1 ]; then
    say "cargo build --release -p upf"
    cargo build --release -p upf >&2
    binary="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/upf"
elif [ -z "$binary" ]; then
    binary="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/upf"
    [ -x "$binary" ] || die "no $binary: pass --release to build it, or --binary PATH"
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "$binary is not an executable file"
head -c4 "$binary" | grep -q 'ELF' || die "$binary is not an ELF binary"

# --- staging -------------------------------------------------------------
stage="$root/build/deb"
rm -rf "$stage/doc" "$stage/upf" "$stage/upf.yaml" "$stage/upf.8"
mkdir -p "$stage/doc" "$out"

cp "$binary" "$stage/upf"
chmod 755 "$stage/upf"
[ "$strip" = 1 ] && strip --strip-debug "$stage/upf"

[ -f config/upf.yaml ] || die "config/upf.yaml is missing: run from a complete checkout"
cp config/upf.yaml "$stage/upf.yaml"
say "config: config/upf.yaml"

version="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="upf"))')"
sed "s/@VERSION@/$version/g" deploy/man/upf.8 > "$stage/upf.8"

cp deploy/README.md "$stage/doc/README.deploy.md"
mkdir -p "$stage/doc/k8s"
cp -R deploy/k8s/. "$stage/doc/k8s/"
if [ -f deploy/grafana/upf-dashboard.json ]; then
    mkdir -p "$stage/doc/grafana"
    cp deploy/grafana/upf-dashboard.json "$stage/doc/grafana/"
else
    say "note: deploy/grafana/upf-dashboard.json not in this tree yet; the package has no dashboard"
fi

# --- package -------------------------------------------------------------
args=(deb -p upf --no-build --no-strip --output "$out")
[ -n "$deb_version" ] && args+=(--deb-version "$deb_version")
say "cargo ${args[*]}"
deb="$(cargo "${args[@]}" | tail -1)"
[ -f "$deb" ] || die "cargo deb did not report a package (got: $deb)"
echo "$deb"
