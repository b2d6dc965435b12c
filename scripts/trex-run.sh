#!/usr/bin/env bash
# NDR/PDR search of a UPF with a TRex stateless server on a bare-metal box.
#
#   scripts/trex-run.sh --server 10.0.0.5 --traffic bidir --sessions 100000 \
#       --ue-pool 10.64.0.0/10 --size 64 --max-mpps 14.88 --dut "upf $(git rev-parse --short HEAD), 1 worker"
#
# The UPF must run the config that perf/gen/sessions.py writes for the same
# session options (`sessions.py config --sessions N ...`). TRex ports: --ports
# N3 N6 (default 0 1); the TRex server runs `t-rex-64 -i --software` (software
# mode for latency through encap/decap). Results: perf/results/trex-*.json
# (ARCHITECTURE.md format, bench "trex"). All options: scripts/trex-run.sh --help.
# The TRex client library is installed from PyPI into build/perfkit-venv on
# first use; set TREX_CLIENT_DIR to use a TRex install's own client instead.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../perf/lib/venv.sh
. "$root/perf/lib/venv.sh"
py="$(perfkit_venv "$root")"
extra_path="$(perfkit_trex_pythonpath)"
exec env PYTHONPATH="${extra_path}${PYTHONPATH:+:$PYTHONPATH}" "$py" "$root/perf/trex/ndr.py" "$@"
