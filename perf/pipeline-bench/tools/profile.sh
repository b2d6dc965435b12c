#!/bin/bash
# Per-instruction callgrind profile of the pipeline loop, then instructions
# per packet by stage (where.py). Build first: cargo build --release -p pipeline-bench
#   perf/pipeline-bench/tools/profile.sh [ul|dl|mix] [SESSIONS] [INNER_BYTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=${PIPELINE_BENCH:-$root/target/release/pipeline-bench}
dir=${1:-ul} sessions=${2:-10000} size=${3:-64} packets=100000
out=$(mktemp -d /tmp/pipeline-profile.XXXXXX)
valgrind --tool=callgrind --collect-atstart=no --compress-strings=no --compress-pos=no \
    --dump-instr=yes --toggle-collect=pipeline_bench::collected \
    --dump-after=pipeline_bench::collected --callgrind-out-file="$out/cg" \
    "$bin" --inner-run --reps 1 --publishes 0 --dirs "$dir" --sizes "$size" \
    --sessions "$sessions" --packets "$packets" > /dev/null 2>&1
echo "profile: $out/cg.1 (callgrind_annotate --auto=yes $out/cg.1 for the source lines)"
python3 "$here/where.py" "$out/cg.1" "$bin" "$packets"
