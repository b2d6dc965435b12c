#!/usr/bin/env python3
"""Test double of the `upf` binary for scripts/tests/61-perf-peer-ovs-offline.sh.

Speaks only the parts of the Contract that perf/lib/peer_ovs.py relies on:
`upf check --config F`, `upf run --config F` serving GET /metrics on the
config's api.listen with upf_rx/tx_packets_total counters, and SIGTERM.
FAKE_UPF_MODE picks a behaviour: forward (N6 tx = N3 rx at FAKE_UPF_MPPS),
drop (N3 rx counts, N6 tx stays 0), exit (run exits at once), badcheck.
"""
import http.server
import os
import re
import signal
import sys
import threading
import time

mode = os.environ.get("FAKE_UPF_MODE", "forward")
mpps = float(os.environ.get("FAKE_UPF_MPPS", "2.0"))
args = sys.argv[1:]
if len(args) != 3 or args[0] not in ("check", "run") or args[1] != "--config":
    print("usage: upf (check|run) --config PATH", file=sys.stderr)
    sys.exit(2)
text = open(args[2]).read()
if args[0] == "check":
    if mode == "badcheck":
        print(f"{args[2]}:3:5: interfaces.n3.device: unknown vdev", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
if mode == "exit":
    sys.exit(0)
host, port = re.search(r"^api:\n  listen: ([0-9.]+):([0-9]+)$", text, re.M).groups()
t0 = time.monotonic()


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/metrics":
            self.send_error(404)
            return
        n = int((time.monotonic() - t0) * mpps * 1e6)
        tx = n if mode == "forward" else 0
        body = (
            "# TYPE upf_rx_packets_total counter\n"
            f'upf_rx_packets_total{{interface="n3"}} {n}\n'
            f'upf_rx_packets_total{{interface="n6"}} 0\n'
            "# TYPE upf_tx_packets_total counter\n"
            f'upf_tx_packets_total{{interface="n6"}} {tx}\n'
            f'upf_tx_packets_total{{interface="n3"}} 0\n'
            f'upf_dropped_packets_total{{reason="no_session"}} {n - tx}\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer((host, int(port)), H)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
srv.serve_forever()
sys.exit(0)
