#!/usr/bin/env bash
# Lints every shell script of the project with shellcheck (warnings are
# failures), following sourced files.
# timeout: 120
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$UPF_ROOT"
command -v shellcheck >/dev/null || die "shellcheck is not installed (scripts/test.sh installs it)"
pids=()
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.sh' '.ci/run' | sort -u)
((${#files[@]})) || die "no shell scripts found"
# One shellcheck per core, on interleaved shares of the list (each follows
# what its files source by itself); their reports are shown one after the other.
jobs="$(cpu_count)"
out="$(mktemp -d /tmp/shellcheck.XXXXXX)"
add_cleanup "rm -rf '$out'"
for ((j = 0; j < jobs; j++)); do
    share=()
    for ((i = j; i < ${#files[@]}; i += jobs)); do share+=("${files[i]}"); done
    ((${#share[@]})) || continue
    shellcheck -x --severity=warning "${share[@]}" >"$out/$j" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
cat "$out"/*
((failed == 0)) || die "shellcheck found problems (above)"
log_ok "shellcheck: ${#files[@]} scripts clean"
