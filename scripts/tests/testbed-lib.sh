# shellcheck shell=bash
# Helpers shared by scripts/tests/testbed-*.sh (sourced, not run).
# Each test brings up a private testbed copy: TESTBED_PREFIX=gnbsim<pid>-.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export TESTBED="$ROOT/scripts/testbed.sh"
FAILS=0

say() { echo "[$(basename "$0")] $*"; }
pass() { say "PASS: $*"; }
fail() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { say "FATAL: $*"; exit 1; }
check() { # check "description" cmd...
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"; }

# wait_until SECONDS cmd... : poll cmd every 50 ms until it succeeds or the
# deadline passes (returns 1 then).
wait_until() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# json FILE EXPR : evaluate a Python expression on the JSON document `j`.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
export -f json

# alive PID : the process exists and is not a zombie (a process whose parent
# exited is reaped by PID 1 whenever it gets to it; kill -0 still sees it).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
export -f alive

finish() {
    if ((FAILS)); then say "$FAILS check(s) failed"; exit 1; fi
    say "all checks passed"
}
