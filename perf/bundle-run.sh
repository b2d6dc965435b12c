#!/bin/bash
# The lab on a machine without packages or network, from a kit that
# perf/bundle.sh built (static upf and loadgen, testpmd with its libraries,
# the jitter meter). Needs root and python3 (standard library only). Run
# from the repository root (perf/ must be there).
#
#   perf/bundle-run.sh [--kit DIR] [--out DIR] [--parts info,jitter,scaling,e2e,reload]
#
# Parts: info (CPU, kernel), jitter (the machine's own poll gaps: a TSC loop
# on an idle CPU for 3 s: the floor under any worker's stall figure),
# scaling (1,2,4,8,14 workers and testpmd, hugepages), e2e (loadgen over
# memif through testpmd io and the upf, generator on its own cores), reload
# (100,000-session file, 0/1/1,000/100,000 changed, with the jitter meter
# beside it), io (worker I/O loop vs testpmd). Tunables (environment):
# WORKERS, ROUNDS (scaling and e2e), HUGE=0 (no hugepages), RS (reload file
# sessions), REPS, T_<PART> (timeouts, s). Results: one JSON per part and
# the logs under --out, packed into results.tar.gz there as well (one file
# to carry back).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
D="$PWD/devkit" OUT="${OUT:-/tmp/bundle-run}" parts="info,jitter,scaling,e2e,reload"
while (($#)); do
    case "$1" in
    --kit) D="$(realpath "$2")"; shift ;;
    --out) OUT="$2"; shift ;;
    --parts) parts="$2"; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bundle-run: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
stamp() { echo "=== $1 at +$(($(date +%s) - t0)) s"; }
has() { [[ ",$parts," == *",$1,"* ]]; }
note="$(nproc)-core machine, perf/bundle-run.sh"
rounds="${ROUNDS:-2}"
jcpu=3 # an idle CPU for the jitter meter (the reload bench uses 0 and 1)
(($(nproc) > 3)) || jcpu=1
if has info; then
    stamp info
    { nproc; lscpu; uname -a; head -3 /etc/os-release; python3 --version; free -g; cat "$D/LDD.txt"; } > "$OUT/machine.txt" 2>&1
    grep -m1 "model name" /proc/cpuinfo; nproc; "$D/upf" --version
fi
huge=()
if [[ ${HUGE:-1} == 1 ]]; then
    echo 4096 > /proc/sys/vm/nr_hugepages; mkdir -p /dev/hugepages
    mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
    grep -i "HugePages_Total" /proc/meminfo
    huge=(--huge)
fi
if has jitter; then
    stamp jitter
    for c in 1 "$jcpu"; do "$D/jitter" "$c" 3; done | tee "$OUT/jitter-quiet.txt"
fi
if has scaling; then
    stamp scaling
    timeout "${T_SCALING:-240}" python3 perf/lib/scaling.py --upf-bin "$D/upf" --testpmd "$D/testpmd" "${huge[@]}" \
        --workers "${WORKERS:-1,2,4,8,14}" --rounds "$rounds" --quick --out "$OUT/scaling.json" \
        --command "perf/scaling.sh ${huge[*]} --workers ${WORKERS:-1,2,4,8,14} --rounds $rounds --quick ($note)" 2>&1 |
        tee "$OUT/scaling.log" | grep -v "^ *$"
fi
if has e2e; then
    stamp e2e
    timeout "${T_E2E:-240}" python3 perf/lib/e2e.py --loadgen-bin "$D/loadgen" --upf-bin "$D/upf" --testpmd "$D/testpmd" \
        --rounds "$rounds" --skip testpmd-macswap --loadgen-lcores 0@0,1@2,2@3 --loadgen-rx-lcore 2 --dut-cpu 5 \
        --max-mpps 8 --out "$OUT/e2e.json" \
        --command "perf/e2e-bench.sh --rounds $rounds --skip testpmd-macswap --loadgen-lcores 0@0,1@2,2@3 --loadgen-rx-lcore 2 --dut-cpu 5 --max-mpps 8 ($note)" \
        2>&1 | tee "$OUT/e2e.log"
fi
if has reload; then
    stamp reload
    rs="${RS:-100000}"
    ( "$D/jitter" "$jcpu" "${JITTER_S:-15}" > "$OUT/jitter-during-reload.txt" ) &
    timeout "${T_RELOAD:-120}" python3 perf/lib/reload_bench.py --upf-bin "$D/upf" --file-sessions "$rs" \
        --changed "0,1,1000,$rs" --reps "${REPS:-3}" --out "$OUT/reload.json" \
        --command "perf/reload-bench.sh --reps ${REPS:-3} ($note)" 2>&1 | tee "$OUT/reload.log" | grep -E "k=|^ +[0-9]"
    wait
    cat "$OUT/jitter-during-reload.txt"
fi
if has io; then
    stamp io
    timeout "${T_IO:-90}" python3 perf/lib/io_worker.py --upf-bin "$D/upf" --testpmd "$D/testpmd" --rounds 1 --windows 3 \
        --window-s 1 --warmup 1 --lcores 6,7 --out "$OUT/io.json" --command "perf/io-worker.sh --quick ($note)" 2>&1 |
        tee "$OUT/io.log"
fi
tar -C "$OUT" --exclude results.tar.gz -czf "/tmp/bundle-results.$$.tgz" . && mv "/tmp/bundle-results.$$.tgz" "$OUT/results.tar.gz"
stamp finished
