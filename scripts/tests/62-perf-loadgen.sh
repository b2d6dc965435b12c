#!/usr/bin/env bash
# Integration test of perf/loadgen: the generator against dpdk-testpmd
# --forward-mode=io over two net_memif links, a few seconds at a low rate.
#
#   scripts/tests/62-perf-loadgen.sh            (LOADGEN_BIN=path to skip the build)
#
# Topology (the one perf/e2e-bench.sh uses): loadgen is the memif server of
# both links (sockets in a temp dir), testpmd the client, both --no-huge;
# loadgen on CPU 0, testpmd's forwarding lcore on CPU 1. Passes when every
# frame sent came back (zero loss, nothing reordered or malformed, both
# directions) and the latency figures are present in loadgen's JSON.
# Unique --file-prefix and socket paths per run; everything it starts is
# stopped by PID and its files removed on every exit path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

command -v dpdk-testpmd >/dev/null || { echo "perf-loadgen: dpdk-testpmd not found (apt-get install dpdk)" >&2; exit 1; }
if [ -z "${LOADGEN_BIN:-}" ] && [ -x "${UPF_DEBUG_BIN_DIR:-/nonexistent}/loadgen" ]; then
    LOADGEN_BIN="$UPF_DEBUG_BIN_DIR/loadgen" # built by scripts/test.sh's cargo test (see debug_bins in scripts/lib.sh)
elif [ -z "${LOADGEN_BIN:-}" ]; then
    cargo build -q -p loadgen
    LOADGEN_BIN="$root/target/debug/loadgen"
fi

tag="loadgen-test-$$"
tmp="$(mktemp -d -t perf-loadgen.XXXXXX)"
runtime_root=/var/run/dpdk
[ "$(id -u)" = 0 ] || runtime_root="${XDG_RUNTIME_DIR:-/tmp}/dpdk"
pids=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "${runtime_root:?}/$tag-lg" "${runtime_root:?}/$tag-tp" "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "perf-loadgen: FAIL: $*" >&2; exit 1; }

wait_for() { # wait_for SECONDS DESCRIPTION TEST...
    local deadline=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
        sleep 0.1
    done
}

memif="socket-abstract=no,rsize=14"
"$LOADGEN_BIN" \
    --n3 "net_memif0,role=server,socket=$tmp/n3.sock,$memif,mac=02:00:00:00:33:02" \
    --n6 "net_memif1,role=server,socket=$tmp/n6.sock,$memif,mac=02:00:00:00:66:02" \
    --n3-peer-mac 02:00:00:00:33:01 --n6-peer-mac 02:00:00:00:66:01 \
    --sessions 1000 --traffic bidir --expect passthrough \
    --rate-mpps 0.02 --duration-s 3 --warmup-s 0.5 --drain-ms 500 \
    --ready-file "$tmp/ready" --linger-s 20 --json "$tmp/result.json" --label testpmd-io \
    -- --lcores 0@0,1@0 --no-huge -m 256 --no-pci --file-prefix "$tag-lg" \
    >"$tmp/loadgen.log" 2>&1 &
lg=$!
pids+=("$lg")
wait_for 120 "loadgen's ports (see $tmp/loadgen.log)" test -e "$tmp/ready"

dpdk-testpmd --lcores 0@1,1@1 --no-huge -m 512 --no-pci --file-prefix "$tag-tp" \
    --vdev "net_memif0,role=client,socket=$tmp/n3.sock,$memif,mac=02:00:00:00:33:01" \
    --vdev "net_memif1,role=client,socket=$tmp/n6.sock,$memif,mac=02:00:00:00:66:01" \
    -- --forward-mode=io --total-num-mbufs=16384 --stats-period 3600 </dev/null >"$tmp/testpmd.log" 2>&1 &
tp=$!
pids+=("$tp")

lg_done() { ! kill -0 "$lg" 2>/dev/null || [ -e "$tmp/result.json" ]; }
wait_for 180 "loadgen's result" lg_done
kill -INT "$tp" 2>/dev/null || true
set +e
wait "$lg"
lg_rc=$?
set -e
if [ "$lg_rc" != 0 ] || [ ! -e "$tmp/result.json" ]; then
    cat "$tmp/loadgen.log" >&2
    fail "loadgen exited with status $lg_rc"
fi
grep -E '^(warmup|fixed)' "$tmp/loadgen.log" | cut -c1-240

python3 - "$tmp/result.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)
check(set(doc) >= {"date", "git", "command", "machine", "results"}, "results document keys (ARCHITECTURE.md)")
rows = doc["results"]
check(len(rows) == 1, f"one row, got {len(rows)}")
r = rows[0]
check(r["bench"] == "e2e" and r["search"] == "fixed" and r["direction"] == "ul+dl", f"row identity {r['bench']} {r['search']} {r['direction']}")
check(r["loss"] == 0, f"zero loss, got {r['loss']}")
check(r["mpps"] and r["mpps"] > 0, "mpps present")
for k in ("p50_us", "p99_us", "p999_us", "max_us"):
    check(isinstance(r.get(k), (int, float)) and r[k] > 0, f"{k} present, got {r.get(k)}")
t = r["trials"][0]
check(len(t["directions"]) == 2, "both directions")
for d in t["directions"]:
    n = d["direction"]
    check(d["tx"]["offered"] > 10000, f"{n}: offered {d['tx']['offered']} (expected ~60000)")
    check(d["tx"]["refused"] == 0, f"{n}: refused {d['tx']['refused']}")
    check(d["received"] == d["tx"]["offered"] == d["tx"]["sent"], f"{n}: received {d['received']} of {d['tx']['offered']}")
    check(d["lost"] == 0 and d["reordered"] == 0 and d["duplicates"] == 0, f"{n}: lost/reordered/duplicates {d['lost']}/{d['reordered']}/{d['duplicates']}")
    check(sum(d["mismatched"].values()) == 0, f"{n}: mismatched {d['mismatched']}")
    lat = d["latency"]
    check(lat["samples"] == d["received"], f"{n}: a latency sample per packet")
    check(all(lat[k] is not None and lat[k] > 0 for k in ("min_us", "p50_us", "p99_us", "p999_us", "max_us")), f"{n}: latency {lat}")
    check(lat["min_us"] <= lat["p50_us"] <= lat["p99_us"] <= lat["p999_us"] <= lat["max_us"], f"{n}: latency order {lat}")
check(t["stale"] == 0, f"stale {t['stale']}")
if errors:
    print("perf-loadgen: FAIL:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"perf-loadgen: ok: {sum(d['received'] for d in t['directions'])} frames back of "
      f"{sum(d['tx']['offered'] for d in t['directions'])} sent, loss 0, p99 {r['p99_us']} us (shared machine: ms-scale latency is scheduling)")
EOF
