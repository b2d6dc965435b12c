#!/usr/bin/env bash
# Lints every shell script of the project with shellcheck (warnings are
# failures), following sourced files.
# timeout: 120
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$UPF_ROOT"
command -v shellcheck >/dev/null || die "shellcheck is not installed (scripts/test.sh installs it)"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.sh' '.ci/run' | sort -u)
((${#files[@]})) || die "no shell scripts found"
shellcheck -x --severity=warning "${files[@]}"
log_ok "shellcheck: ${#files[@]} scripts clean"
