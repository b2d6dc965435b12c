#!/usr/bin/env python3
"""Test double of `upf` for scripts/tests/63-perf-e2e-offline.sh: a device that
connects to the memif links but is no UPF.

`upf check --config F` succeeds; `upf run --config F` serves GET /metrics on
the config's api.listen (Contract counter names, zero values) and runs
dpdk-testpmd on the config's N3/N6 devices and DPDK arguments, with the
forwarding mode FAKE_UPF_FWD (rxonly: drops everything; io: returns the
frames untouched, i.e. never decapsulates or encapsulates). SIGINT/SIGTERM
stop testpmd and the server.
"""
import http.server
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import os

args = sys.argv[1:]
if len(args) != 3 or args[0] not in ("check", "run") or args[1] != "--config":
    print("usage: upf (check|run) --config PATH", file=sys.stderr)
    sys.exit(2)
text = open(args[2]).read()
if args[0] == "check":
    sys.exit(0)
host, port = re.search(r"^api:\n  listen: ([0-9.]+):([0-9]+)$", text, re.M).groups()
n3 = json.loads(re.search(r"^  n3:\n    device: (\".*\")$", text, re.M).group(1))
n6 = json.loads(re.search(r"^  n6:\n    device: (\".*\")$", text, re.M).group(1))
eal = json.loads(re.search(r"^  args: (\[.*\])$", text, re.M).group(1))
tp = subprocess.Popen([shutil.which("dpdk-testpmd") or "dpdk-testpmd", "-l", "0,1", *eal, "--vdev", n3, "--vdev", n6, "--",
                       f"--forward-mode={os.environ.get('FAKE_UPF_FWD', 'rxonly')}", "--total-num-mbufs=16384",
                       "--stats-period", "3600"], stdin=subprocess.DEVNULL)


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("".join(f'upf_{d}_packets_total{{interface="{i}"}} 0\n' for d in ("rx", "tx") for i in ("n3", "n6"))).encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer((host, int(port)), H)


def stop(*_):
    tp.send_signal(signal.SIGINT)
    threading.Thread(target=srv.shutdown).start()


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
srv.serve_forever()
try:
    tp.wait(timeout=10)
except subprocess.TimeoutExpired:
    tp.kill()
sys.exit(0)
