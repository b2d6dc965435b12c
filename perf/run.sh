#!/usr/bin/env bash
# The performance lab in one command (issue 7): builds what it needs in
# release (once), runs every suite, writes ONE results document and the
# plots, prints the summary table with ratios and targets.
#
#   perf/run.sh [--quick] [--dry-run] [--skip SUITES] [--only SUITES]
#               [--scaling-workers LIST] [--results-dir DIR] [--keep]
#               [--no-build] [--upf-bin P] [--loadgen-bin P] [--pipeline-bin P]
#               [--suite-timeout S] [--suite-cmd SUITE=SHELL]...
#   perf/run.sh --plot FILE.json      # (re)draw the plots of a results file
#   perf/run.sh --summary FILE.json   # print its summary table (--markdown)
#
# Suites, in order (SUITES: comma-separated names, or "all" for --skip):
#   pipeline   perf/pipeline-bench --callgrind (quick: --quick --callgrind)
#   io-worker  perf/io-worker.sh: the upf worker loop vs testpmd, net_null/net_pcap
#   e2e        perf/e2e-bench.sh: loadgen over memif through testpmd io/macswap
#              and the upf (NDR, PDR, latency at 50 % NDR, ratios by round)
#   peer-ovs   perf/peer-ovs.sh: GTP-U decap, OVS-DPDK vs upf vs testpmd io
#   scaling    perf/scaling.sh --workers LIST (default: 1; more needs cores)
# A suite that fails, times out or writes nothing is reported "not measured
# (reason)" and the run goes on.
#
# Output: perf/results/<UTC time>.json (ARCHITECTURE.md's format: every
# suite's rows, each with `suite`, plus `suites` (command, status, seconds)
# and `summary`), and perf/results/<UTC time>/*.png: cycles_vs_sessions,
# throughput_vs_workers, latency_cdf, peer_ovs. --quick finishes in under 5
# minutes on a 2-core machine once the release binaries are built.
# --dry-run prints what would run and what is missing, and runs nothing.
# --suite-cmd replaces a suite by a shell command that must write $OUT (tests).
# Needs root (DPDK). Installs python3-matplotlib (and, through the suites,
# dpdk and openvswitch-switch-dpdk) from Debian if missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cmdline="perf/run.sh${*:+ $*}"
py=/usr/bin/python3
[[ -x $py ]] || py="$(command -v python3)"

dry=0 build=1 skip="" only="" plot_file="" summary_file="" markdown=0
fwd=()
upf_bin="$root/target/release/upf"
loadgen_bin="$root/target/release/loadgen"
pipeline_bin="$root/target/release/pipeline-bench"
usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case "$1" in
    --quick) fwd+=(--quick) ;;
    --dry-run) dry=1; fwd+=(--dry-run) ;;
    --no-build) build=0 ;;
    --skip) skip="$2"; fwd+=(--skip "$2"); shift ;;
    --only) only="$2"; fwd+=(--only "$2"); shift ;;
    --upf-bin) upf_bin="$2"; shift ;;
    --loadgen-bin) loadgen_bin="$2"; shift ;;
    --pipeline-bin) pipeline_bin="$2"; shift ;;
    --scaling-workers | --results-dir | --suite-timeout | --suite-cmd | --stamp | --not-measured)
        fwd+=("$1" "$2"); shift ;;
    --keep) fwd+=(--keep) ;;
    --plot) plot_file="$2"; shift ;;
    --summary) summary_file="$2"; shift ;;
    --markdown) markdown=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# Debian's matplotlib, once; the Agg backend needs no display.
ensure_matplotlib() {
    "$py" -c 'import matplotlib' 2>/dev/null && return 0
    if ((dry)); then
        echo "run.sh: would install python3-matplotlib (missing)"
        return 0
    fi
    if [[ $(id -u) != 0 ]]; then
        echo "run.sh: python3-matplotlib missing and not root: no plots" >&2
        return 1
    fi
    echo "run.sh: installing python3-matplotlib"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null
    } || { echo "run.sh: could not install python3-matplotlib: no plots" >&2; return 1; }
}

if [[ -n $plot_file ]]; then
    ensure_matplotlib
    exec "$py" perf/lib/perfrun.py plot "$plot_file" --update
fi
if [[ -n $summary_file ]]; then
    md=()
    ((markdown)) && md=(--markdown)
    exec "$py" perf/lib/perfrun.py summary "$summary_file" "${md[@]}"
fi

if ((!dry)) && [[ $(id -u) != 0 ]]; then
    echo "run.sh: needs root (DPDK runtime directories, memif sockets, OVS)" >&2
    exit 1
fi
ensure_matplotlib || true

wanted() { # wanted SUITE: not skipped, and in --only if given
    [[ ",$skip," == *",$1,"* || ",$skip," == *",all,"* ]] && return 1
    [[ -z $only || ",$only," == *",$1,"* ]]
}

# Release binaries, once for all suites (the suites get their paths). A build that fails makes the suites
# that need it "not measured (release build of X failed)".
declare -A need=([upf]=0 [loadgen]=0 [pipeline-bench]=0)
for s in io-worker e2e peer-ovs scaling; do wanted "$s" && need[upf]=1; done
wanted e2e && need[loadgen]=1
wanted pipeline && need[pipeline-bench]=1
failed=()
if ((build && !dry)); then
    # One package at a time: building them together unifies their
    # dependencies' features into a third set of artifacts, rebuilt from
    # scratch, where each alone is usually up to date already.
    for p in upf loadgen pipeline-bench; do
        ((need[$p])) || continue
        echo "run.sh: cargo build --release -p $p"
        cargo build --release -q -p "$p" || failed+=("$p")
    done
fi
nm=()
for p in "${failed[@]}"; do
    case "$p" in
    upf) for s in io-worker e2e peer-ovs scaling; do nm+=(--not-measured "$s=release build of upf failed"); done ;;
    loadgen) nm+=(--not-measured "e2e=release build of loadgen failed") ;;
    pipeline-bench) nm+=(--not-measured "pipeline=release build of pipeline-bench failed") ;;
    esac
done
if ((dry)); then
    for b in "$upf_bin" "$loadgen_bin" "$pipeline_bin"; do
        [[ -x $b ]] || echo "run.sh: $b not built yet (run.sh builds it unless --no-build)"
    done
    for t in dpdk-testpmd valgrind; do command -v "$t" >/dev/null || echo "run.sh: $t missing (the suites install dpdk; valgrind: apt-get install valgrind)"; done
fi

exec "$py" perf/lib/perfrun.py run "${fwd[@]}" "${nm[@]}" --upf-bin "$upf_bin" --loadgen-bin "$loadgen_bin" \
    --pipeline-bin "$pipeline_bin" --command "$cmdline"
