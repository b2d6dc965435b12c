#!/usr/bin/env bash
# Soak: `upf run` under PFCP session churn for N minutes (the cycles of
# suite 66: associations, CHOOSE sessions with QER/URR thresholds, reports,
# modifications, deletions, Session Set Deletion, release, heartbeat loss,
# SIGHUP reloads, traffic, DL buffering). After every cycle each /status
# occupancy figure must be back at its baseline (failures are printed and
# make the exit status non-zero); the UPF's RSS per cycle, the cycle and
# settle times go to perf/results/soak-<stamp>.json with the RSS growth
# after warm-up against its bound (see RSS_BOUND_KIB in soak.py).
# Needs root (namespace, DPDK). Debug build unless UPF_BIN names another.
#
#   perf/soak.sh --minutes 10                 # 10 minutes, 40 sessions/cycle
#   perf/soak.sh --minutes 60 --sessions 200
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=5 sessions=40
while (($#)); do
    case "$1" in
    --minutes) minutes="$2"; shift ;;
    --sessions) sessions="$2"; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$PWD/perf/results/soak-$stamp.json"
SOAK_ARGS="--minutes $minutes --sessions $sessions --json $out" \
    SOAK_COMMAND="perf/soak.sh --minutes $minutes --sessions $sessions" \
    exec scripts/tests/66-soak.sh
