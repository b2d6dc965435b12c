# shellcheck shell=bash
# Source me: perfkit_venv creates (once) the Python venv of the perf kit and
# prints its python. The TRex client library comes from PyPI (lbr-trex-client:
# TRex's own client package, repackaged); nothing is vendored. The venv lives
# in the ignored build/ folder of the repo, or $PERFKIT_VENV.
#
# TREX_CLIENT_DIR=/opt/trex/vX.YY/automation/trex_client (a TRex install's own
# client) skips PyPI: useful on a lab box without registry access.

PERFKIT_TREX_CLIENT_VERSION="${PERFKIT_TREX_CLIENT_VERSION:-3.4.0}"

perfkit_base_python() {
    # Debian's python3 first: lbr-trex-client needs the `imp` module (Python <= 3.11).
    local p
    for p in /usr/bin/python3 "$(command -v python3 || true)"; do
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys, venv; sys.exit(0 if sys.version_info < (3, 12) else 1)' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    echo "perfkit: need a Python 3.8-3.11 with the venv module (apt-get install python3-venv)" >&2
    return 1
}

perfkit_venv() {
    local root="$1"
    local venv="${PERFKIT_VENV:-$root/build/perfkit-venv}"
    local stamp="$venv/.perfkit-trex-$PERFKIT_TREX_CLIENT_VERSION"
    if [ -n "${TREX_CLIENT_DIR:-}" ]; then
        perfkit_base_python
        return
    fi
    if [ ! -e "$stamp" ] || ! "$venv/bin/python" -c 'import lbr_trex_client, yaml' 2>/dev/null; then
        local base
        if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "perfkit: installing python3-venv" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 || return 1
        fi
        base="$(perfkit_base_python)" || return 1
        echo "perfkit: creating venv $venv (lbr-trex-client==$PERFKIT_TREX_CLIENT_VERSION, pyyaml)" >&2
        rm -rf "$venv"
        "$base" -m venv "$venv" >&2 || return 1
        "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            "lbr-trex-client==$PERFKIT_TREX_CLIENT_VERSION" pyyaml >&2 || return 1
        touch "$stamp"
    fi
    echo "$venv/bin/python"
}

# Python code imports the TRex API through this: lbr_trex_client sets up sys.path.
perfkit_trex_pythonpath() {
    if [ -n "${TREX_CLIENT_DIR:-}" ]; then
        echo "$TREX_CLIENT_DIR/interactive:$TREX_CLIENT_DIR/external_libs"
    fi
}
