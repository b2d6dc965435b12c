#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine: installs what
# is missing (system packages, Rust), then formatting, clippy, the cargo test
# suite, and each suite in scripts/tests/ (namespace and integration tests;
# they need root). Prints a pass/fail summary; exits non-zero if anything
# failed. CI runs this through .ci/run.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: scripts/test.sh [options] [SUITE...]

Runs, in order: cargo fmt --check, cargo clippy (all targets, -D warnings),
cargo test --workspace, then the suites in scripts/tests/ (all of them, or
only those named, e.g. 10-config-check, or numbered, e.g. 10).

Options:
  --no-install     do not install packages or Rust (fail if missing)
  --no-cargo       skip fmt, clippy and cargo test (run only the suites)
  --no-suites      skip scripts/tests/
  --list           list the suites and exit
  -h, --help       this help

Suites are executables scripts/tests/NN-name.sh; exit 0 = pass, 77 = skipped
(e.g. not root), anything else = fail. A line '# timeout: SECONDS' in a
suite overrides the default limit of ${UPF_SUITE_TIMEOUT:-600} s.
EOF
}

install=1 cargo_steps=1 suites=1 only=()
while (($#)); do
    case "$1" in
    --no-install) install=0 ;;
    --no-cargo) cargo_steps=0 ;;
    --no-suites) suites=0 ;;
    --list)
        for s in "$UPF_ROOT"/scripts/tests/[0-9]*.sh; do basename "$s" .sh; done
        exit 0
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) only+=("${1%.sh}") ;;
    esac
    shift
done

cd "$UPF_ROOT"
started=$SECONDS

if ((install)); then
    ensure_packages "${UPF_BUILD_PACKAGES[@]}" "${UPF_TEST_PACKAGES[@]}"
    ensure_rust
else
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
fi

names=() results=() times=() cpus=() matched=()
failed=0

# CPU seconds (user + system) of this shell's finished children so far:
# a step's share beside its wall time, which on a shared machine says
# more about the load than about the step.
tck="$(getconf CLK_TCK 2>/dev/null || echo 100)"
child_cpu() {
    local f
    read -r -a f </proc/$$/stat 2>/dev/null || { echo 0; return; }
    echo $(((f[15] + f[16]) * 100 / tck)) # centiseconds
}
cpu0=0

record() { # name result seconds
    local c=$(($(child_cpu) - cpu0))
    names+=("$1") results+=("$2") times+=("$3") cpus+=("$((c / 100))")
    case "$2" in
    PASS) log_ok "$1: PASS ($3 s, CPU $((c / 100)) s)" ;;
    SKIP) log_warn "$1: SKIPPED ($3 s)" ;;
    *)
        log_error "$1: FAIL ($3 s)"
        failed=1
        ;;
    esac
}

step() { # name command...
    local name="$1" t0=$SECONDS
    cpu0="$(child_cpu)"
    shift
    log_info "=== $name: $*"
    if "$@"; then
        record "$name" PASS $((SECONDS - t0))
    else
        record "$name" FAIL $((SECONDS - t0))
    fi
}

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# A one-shot run (CI: a fresh clone, no target dir yet; or UPF_CI_BUILD=1)
# builds with settings that only cost time when nothing is reused later:
# no incremental caches, line tables only in debug builds (file:line in
# backtraces stay; full debug info made every test binary slower to
# compile and link), and a release build (65-reload-hitless: the only
# one) without LTO, with 16 codegen units and no debug info (the suite
# needs optimized code's speed, not the last percent of it). A warm tree
# keeps its usual settings (switching would rebuild it). Explicit
# CARGO_* variables win. Timings: scripts/tests/README.md.
if [[ "${UPF_CI_BUILD:-}" == 1 || (-z "${UPF_CI_BUILD:-}" && ! -d "${CARGO_TARGET_DIR:-$UPF_ROOT/target}") ]]; then
    log_info "one-shot build settings (no incremental, dev debug = line-tables-only, release without LTO)"
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
    export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
    export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-off}"
    export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-16}"
    export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
fi

if ((cargo_steps)); then
    step "cargo fmt" cargo fmt --all -- --check
    step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
    # Built and run as two steps, so that the summary shows which costs.
    step "cargo test (build)" cargo test --workspace --no-run
    if [[ "${results[${#results[@]} - 1]}" == PASS ]]; then
        # The binaries that build made (every member with a binary has
        # integration tests) serve the suites: see debug_bins in lib.sh.
        # Hard links, so that a later build into target/debug (the Docker
        # steps of suite 20 build `upf` there) does not replace them.
        tdir="${CARGO_TARGET_DIR:-$UPF_ROOT/target}"
        rm -rf "$tdir/test-bins"
        mkdir -p "$tdir/test-bins"
        find "$tdir/debug" -maxdepth 1 -type f -executable -exec ln -f {} "$tdir/test-bins/" \;
        export UPF_DEBUG_BIN_DIR="$tdir/test-bins"
    fi
    step "cargo test (run)" cargo test --workspace
fi

if ((suites)); then
    for suite in "$UPF_ROOT"/scripts/tests/[0-9]*.sh; do
        [[ -e "$suite" ]] || continue
        name="$(basename "$suite" .sh)"
        if ((${#only[@]})); then
            # A suite by its name or its number (`50` runs 50-reload).
            hit=0
            for i in "${!only[@]}"; do
                if [[ "$name" == "${only[i]}" || "$name" == "${only[i]}-"* ]]; then
                    hit=1 matched[i]=1
                fi
            done
            ((hit)) || continue
        fi
        limit="$(sed -n 's/^# timeout: *\([0-9]\+\).*/\1/p' "$suite" | head -n1)"
        limit="${limit:-${UPF_SUITE_TIMEOUT:-600}}"
        log_info "=== suite $name (limit ${limit} s)"
        t0=$SECONDS
        cpu0="$(child_cpu)"
        set +e
        timeout --kill-after=10 "$limit" bash "$suite"
        rc=$?
        set -e
        case $rc in
        0) record "$name" PASS $((SECONDS - t0)) ;;
        77) record "$name" SKIP $((SECONDS - t0)) ;;
        124 | 137) record "$name" "FAIL (timed out after ${limit} s)" $((SECONDS - t0)) ;;
        *) record "$name" "FAIL (exit $rc)" $((SECONDS - t0)) ;;
        esac
    done
fi

for i in "${!only[@]}"; do
    if ((suites)) && [[ -z "${matched[i]:-}" ]]; then
        cpu0="$(child_cpu)"
        record "${only[i]}" "FAIL (no such suite)" 0
    fi
done

echo >&2
log_info "summary ($((SECONDS - started)) s in all, CPU $(($(child_cpu) / 100)) s):"
for i in "${!names[@]}"; do
    printf '  %-32s %-28s %5s s  (CPU %5s s)\n' "${names[i]}" "${results[i]}" "${times[i]}" "${cpus[i]}" >&2
done
if ((failed)); then
    log_error "some tests FAILED"
    exit 1
fi
log_ok "all tests passed"
