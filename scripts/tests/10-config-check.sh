#!/usr/bin/env bash
# Every shipped config in config/ passes `upf check`; a broken one fails
# with exit status 1 and a file:line:column: key: message error; what
# `check` prints is itself a valid config; the README's example error is
# what the product prints for it.
# timeout: 600
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$UPF_ROOT"
debug_bins upf
upf="$UPF_DEBUG_BIN_DIR/upf"

"$upf" --version | grep -q '^upf [0-9].* (git ' || die "--version does not name the version and git commit"

scratch="$(mktemp -d /tmp/upfcfg-check.XXXXXX)"
add_cleanup "rm -rf '$scratch'"

for f in config/*.yaml; do
    "$upf" check --config "$f" >"$scratch/effective.yaml" || die "$f does not pass upf check"
    "$upf" check --quiet --config "$scratch/effective.yaml" || die "the effective config of $f does not pass upf check"
    log_ok "$f passes; its effective config passes too"
done

# A broken file: exit 1, error at the exact place.
sed 's/^  workers: \[1\]/  workers: [1, 1]/' config/demo.yaml >"$scratch/broken.yaml"
line="$(grep -n 'workers: \[1, 1\]' "$scratch/broken.yaml" | cut -d: -f1)"
set +e
"$upf" check --config "$scratch/broken.yaml" >/dev/null 2>"$scratch/err"
rc=$?
set -e
[[ $rc == 1 ]] || die "a broken config must exit 1, got $rc"
first="$(head -n1 "$scratch/err")"
expected="$scratch/broken.yaml:$line:16: cores.workers[1]: core 1 is listed twice"
[[ "$first" == "$expected"* ]] || die "unexpected error text: '$first' (expected '$expected...')"
log_ok "a broken config is rejected: $first"

# The README's example (the same mistake in config/demo.yaml, given by that
# relative path) is exactly what upf check prints, caret line included.
mkdir -p "$scratch/readme/config"
cp "$scratch/broken.yaml" "$scratch/readme/config/demo.yaml"
readme_example="$(grep -A2 '^  config/demo.yaml:[0-9]*:[0-9]*: ' README.md | sed 's/^  //')"
[[ -n "$readme_example" ]] || die "README.md has no example error for config/demo.yaml"
set +e
actual="$(cd "$scratch/readme" && "$upf" check --config config/demo.yaml 2>&1 >/dev/null)"
set -e
[[ "$actual" == "$readme_example" ]] \
    || die "README.md's example error differs from upf check's:"$'\n'"$readme_example"$'\n'"--- upf check prints:"$'\n'"$actual"
log_ok "README.md's example error is what upf check prints"
