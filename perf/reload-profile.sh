#!/usr/bin/env bash
# Where a reload's end-to-end time goes inside `upf run`: runs
# perf/lib/reload_bench.py (the same reloads as perf/reload-bench.sh) with
# `perf record -e cpu-clock` (software sampling, works in a VM) attached to
# the upf for the whole run, then prints the CPU time per thread (the
# control thread, the `upf-reload` parser thread, the worker) and the top
# symbols of the parser and control threads. Compare the CPU ms with the
# reloads' wall time (/status, printed by the bench): the difference is time
# the threads waited for a CPU (a shared machine) or slept.
#
#   perf/reload-profile.sh [--upf-bin BIN] [reload_bench.py args...]
#   perf/reload-profile.sh --upf-bin /tmp/upf-main --changed 0,100000 --reps 4
# Needs root (DPDK) and perf. Writes the bench's JSON as usual and
# perf/results/reload-profile-<stamp>.txt (the report).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/upf
args=()
while (($#)); do
    if [[ $1 == --upf-bin ]]; then
        bin=$2
        shift 2
    else
        args+=("$1")
        shift
    fi
done
[[ $bin == target/release/upf ]] && cargo build --release -q -p upf --bin upf
bin=$(realpath "$bin")
hz=997
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp=$(mktemp -d /tmp/reload-profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 perf/lib/reload_bench.py --upf-bin "$bin" --command "perf/reload-profile.sh" \
    --out "perf/results/reload-profile-$stamp.json" "${args[@]}" >"$tmp/bench.out" 2>&1 &
bench=$!
# Attach after the first reload (the start-up load would swamp the
# reloads): the profile covers the reloads after it, the bench's last one
# (back to the base file) included.
pid=
for _ in $(seq 1 6000); do
    if grep -q " rep 0:" "$tmp/bench.out"; then
        pid=$(pgrep -n -f -x "$bin run --config .*" || true)
        break
    fi
    kill -0 "$bench" 2>/dev/null || break
    sleep 0.05
done
[[ -n $pid ]] || { cat "$tmp/bench.out"; echo "reload-profile: no upf to attach to" >&2; wait "$bench"; exit 1; }
perf record -q -e cpu-clock -F "$hz" -p "$pid" -o "$tmp/perf.data" 2>"$tmp/perf.err" &
rec=$!
wait "$bench"
kill -INT "$rec" 2>/dev/null || true
wait "$rec" 2>/dev/null || true
cat "$tmp/bench.out"
out="perf/results/reload-profile-$stamp.txt"
{
    echo "# perf/reload-profile.sh ${args[*]} (upf $bin), cpu-clock at $hz Hz: samples / $hz = CPU seconds"
    echo "## CPU per thread"
    perf report -i "$tmp/perf.data" --no-children --sort comm -n --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$'
    # The control thread keeps the binary's name (15 characters at most).
    for t in upf-reload "$(basename "$bin" | cut -c1-15)"; do
        echo "## top symbols of thread $t"
        perf report -i "$tmp/perf.data" --no-children --comm "$t" --sort sym --stdio \
            --percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 ||
            echo "    (no symbol of this thread at 1% of all samples or more)"
    done
} | tee "$out"
