#!/usr/bin/env bash
# Builds the kit that runs the lab on a machine with no packages and no
# network (the 16-core box of shared/PERF.md): a statically linked upf and
# loadgen (DPDK inside), Debian's dpdk-testpmd with its libraries and the
# drivers the lab uses (loaded with -d), the jitter meter, and the scripts.
#
#   perf/bundle.sh [DIR]          # default: ./devkit (ignored by git)
#   there:  DIR/../perf/bundle-run.sh   (or copy the repo's perf/ along)
#
# DIR/upf, DIR/loadgen and DIR/testpmd are wrappers that put DIR/lib on
# LD_LIBRARY_PATH (for the few system libraries the static binaries still
# link, e.g. libsystemd) so the machine's own python3 and tools are not
# affected. The kit is ~50 MB.
set -euo pipefail
case "${1:-}" in
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bundle: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
kit="$(realpath -m "${1:-devkit}")"
pmds=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
[[ -x /usr/bin/dpdk-testpmd ]] || { echo "bundle: needs Debian's dpdk (dpdk-testpmd)" >&2; exit 1; }
command -v cc >/dev/null || { echo "bundle: needs a C compiler (jitter meter)" >&2; exit 1; }
echo "bundle: cargo build --release -p upf -p loadgen --features upf/static,loadgen/static"
cargo build --release -q -p upf -p loadgen --features upf/static,loadgen/static
rm -rf "$kit"
mkdir -p "$kit/bin" "$kit/lib" "$kit/pmds"
for b in upf loadgen; do
    cp "target/release/$b" "$kit/bin/$b"
    strip "$kit/bin/$b"
done
cc -O2 -static -o "$kit/jitter" perf/tools/jitter.c
cp /usr/bin/dpdk-testpmd "$kit/bin/dpdk-testpmd"
for p in net_null net_pcap net_memif net_ring mempool_ring; do cp -L "$pmds/librte_$p.so.23" "$kit/pmds/"; done
# Every library they need but the C library itself (the target's is newer).
for f in "$kit"/bin/* "$kit"/pmds/*; do ldd "$f" 2>/dev/null || true; done |
    awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|ld-linux-x86-64)\.so' |
    while read -r l; do cp -L "$l" "$kit/lib/"; done
wrap() { # name, extra arguments before the caller's
    cat > "$kit/$1" <<W
#!/bin/sh
d="\$(cd "\$(dirname "\$0")" && pwd)"
LD_LIBRARY_PATH="\$d/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$d/bin/$2" $3 "\$@"
W
    chmod +x "$kit/$1"
}
wrap upf upf ""
wrap loadgen loadgen ""
# testpmd is linked against DPDK's shared libraries: its drivers by -d.
pm=""
for f in "$kit"/pmds/*.so.23; do pm="$pm -d \$d/pmds/$(basename "$f")"; done
wrap testpmd dpdk-testpmd "$pm"
{ echo "# built $(date -u +%FT%TZ) from git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  ldd "$kit/bin/upf" || true; } > "$kit/LDD.txt"
if grep -q librte_ "$kit/LDD.txt"; then
    echo "bundle: the upf still links DPDK dynamically: not self-contained" >&2
    exit 1
fi
echo "bundle: $kit ($(du -sh "$kit" | cut -f1)); run there: perf/bundle-run.sh --kit $kit"
