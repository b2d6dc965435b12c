#!/usr/bin/env python3
"""N4 benchmark (perf/n4-bench.sh): PFCP session establishments per second
through a real UDP socket, and time and resident memory to install a large
number of sessions, with smf-sim as the SMF.

Systems, measured in the same run:
  stub   pfcp-stub-upf: the pfcp node with a user plane that only counts
         (the PFCP path alone: decode, session state machine, encode, socket)
  n4     upf's N4 driver with the dataplane's Control and worker threads
         (the upf crate's example n4_standalone: the control side of `upf run`
         without DPDK; every session is translated and published)
  upf    `upf run` itself on DPDK net_null ports (no hugepages, no NIC), one
         worker with idle back-off, PFCP on 127.0.0.1 (config written here;
         --upf-config to give one)

Rows (ARCHITECTURE.md format), bench "pfcp": per_sec (establishments/s as
smf-sim saw them), p50_us/p99_us (request to answer, pipelined), plus
system, phase, out_of_order, timeouts, retransmissions, ratio_to_stub, and
cpu_per_sec: operations per CPU-second of the server's control thread (its
main thread, from /proc: what one dedicated control core sustains, the
figure least disturbed by the other processes sharing the machine). The
deletion row's CPU is the establish+delete run's minus the establish-only
run's. The install row adds seconds, rss_mib (the server's VmRSS after the
last establishment) and hwm_mib (its peak). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import threading  # noqa: E402

import results  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def start(cmd: List[str], ready_timeout: float = 60.0) -> Tuple[subprocess.Popen, str]:
    """Start a server that logs "listening on ADDR" on stderr once ready."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + ready_timeout
    lines = []
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        lines.append(line)
        m = re.search(r"listening on (\S+?)[,:]?(\s|$)", line)
        if m and re.match(r"[\d.]+:\d+$", m.group(1)):
            # Keep draining stderr so the server never blocks on it.
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, m.group(1)
        if p.poll() is not None:
            break
    p.kill()
    raise RuntimeError(f"{cmd[0]} did not start: {''.join(lines[-20:])}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upf_config(path: str, port: int) -> None:
    """`upf run` on net_null ports, PFCP on 127.0.0.1:port, a /10 UE pool."""
    prefix = f"n4bench{os.getpid()}"
    with open(path, "w") as f:
        f.write(f"""node_id: 127.0.0.1
dpdk:
  args: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix", "{prefix}"]
  mbufs: 8192
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3: {{ device: "net_null0,no-rx=1", address: 192.168.1.1/24, neighbors: {{ 192.168.1.2: "02:00:00:00:00:02" }} }}
  n6: {{ device: "net_null1,no-rx=1", address: 192.168.2.1/24, gateway: 192.168.2.254,
        neighbors: {{ 192.168.2.254: "02:00:00:00:00:fe" }} }}
pfcp: {{ listen: 127.0.0.1:{port}, heartbeat_interval: 5s }}
ue_pools: [ {{ cidr: 100.64.0.0/10, dnn: internet }} ]
teid_range: {{ first: 0x1000, last: 0x00ffffff }}
api: {{ listen: 127.0.0.1:0 }}
dataplane:
  max_sessions: 1100000
  idle_backoff: {{ enabled: true, empty_polls: 256, sleep: 50us }}
""")


def rss_kib(pid: int, field: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> Optional[float]:
    """User + system CPU seconds of the process's main thread."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(p: subprocess.Popen) -> str:
    p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out


def smf_sim(sim: str, upf: str, n: int, window: int, extra: List[str]) -> Dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    cmd = [sim, "--upf", upf, "--bind", "127.0.0.1:0", "--node-id", "127.0.0.1",
           "-n", str(n), "--window", str(window), "--profile", "simple",
           "--t1-ms", "3000", "--json", path] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(r.stdout)
    try:
        with open(path) as f:
            doc = json.load(f)
    finally:
        os.unlink(path)
    doc["exit_status"] = r.returncode
    return doc


def phase(doc: Dict[str, Any], name: str) -> Dict[str, Any]:
    for p in doc.get("phases", []):
        if p["phase"] == name:
            return p
    raise RuntimeError(f"smf-sim ran no {name} phase: {doc}")


def rate_rows(system: str, doc: Dict[str, Any], n: int, cpu: Dict[str, Optional[float]]) -> List[Dict[str, Any]]:
    rows = []
    for name in ("establish", "delete"):
        try:
            p = phase(doc, name)
        except RuntimeError:
            continue
        ms = lambda v: None if v is None else round(v * 1000.0, 1)  # noqa: E731
        rows.append(results.row(
            "pfcp", system=system, phase=name, sessions=n, workers=1,
            per_sec=round(p["per_sec"]), p50_us=ms(p["p50_ms"]), p99_us=ms(p["p99_ms"]),
            accepted=p["accepted"], out_of_order=p.get("out_of_order"),
            cpu_s=None if cpu.get(name) is None else round(cpu[name], 2),
            cpu_per_sec=round(p["accepted"] / cpu[name]) if cpu.get(name) else None,
            timeouts=p["timeouts"], retransmissions=p["retransmissions"],
            loss=(p["requests"] - p["accepted"]) / max(p["requests"], 1),
        ))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target-dir", default=os.path.join(REPO, "target", "release"))
    ap.add_argument("--sessions", type=int, default=100_000, help="sessions for the rate test")
    ap.add_argument("--install", type=int, default=1_000_000, help="sessions for the install test (0: skip)")
    ap.add_argument("--window", type=int, default=64,
                    help="smf-sim's outstanding requests (the stub's default socket buffers drop above ~64)")
    ap.add_argument("--systems", default="stub,n4", help="comma list of stub, n4, upf")
    ap.add_argument("--upf-config", help="config for `upf run` (system upf)")
    ap.add_argument("--command", default="perf/n4-bench.sh")
    ap.add_argument("--out", help="results file (default perf/results/n4-<stamp>.json)")
    ap.add_argument("--sim-arg", action="append", default=[], metavar="ARG",
                    help="extra smf-sim argument for every run, e.g. --sim-arg=--fq-csids (repeatable)")
    a = ap.parse_args()

    bin_ = lambda name: os.path.join(a.target_dir, name)  # noqa: E731
    sim = bin_("smf-sim")
    servers = {
        "stub": [bin_("pfcp-stub-upf"), "--listen", "127.0.0.1:0", "--pool", "10.0.0.0/8"],
        "n4": [os.path.join(a.target_dir, "examples", "n4_standalone"), "--listen", "127.0.0.1:0",
               "--pool", "10.0.0.0/8"],
    }
    cfg_dir = tempfile.mkdtemp(prefix="n4bench")
    upf_cfg = a.upf_config
    if upf_cfg is None:
        upf_cfg = os.path.join(cfg_dir, "upf.yaml")
        upf_config(upf_cfg, free_port())
    servers["upf"] = [bin_("upf"), "run", "--config", upf_cfg]
    systems = [s for s in a.systems.split(",") if s]
    rows: List[Dict[str, Any]] = []
    failures = []

    # 1. Establishments (and deletions) per second.
    for system in systems:
        cpu: Dict[str, Optional[float]] = {}
        p, addr = start(servers[system])
        try:
            c0 = cpu_s(p.pid)
            est = smf_sim(sim, addr, a.sessions, a.window, a.sim_arg)
            c1 = cpu_s(p.pid)
        finally:
            stop(p)
        if c0 is not None and c1 is not None:
            cpu["establish"] = c1 - c0
        p, addr = start(servers[system])
        try:
            c0 = cpu_s(p.pid)
            doc = smf_sim(sim, addr, a.sessions, a.window, ["--delete"] + a.sim_arg)
            c1 = cpu_s(p.pid)
        finally:
            stop(p)
        if c0 is not None and c1 is not None and cpu.get("establish") is not None:
            cpu["delete"] = max(c1 - c0 - cpu["establish"], 1e-3)
        rows += rate_rows(system, doc, a.sessions, cpu)
        if doc["exit_status"] != 0 or est["exit_status"] != 0:
            failures.append(f"{system}: smf-sim failed")
    stub = {r["phase"]: r["per_sec"] for r in rows if r.get("system") == "stub"}
    for r in rows:
        base = stub.get(r["phase"])
        r["ratio_to_stub"] = round(r["per_sec"] / base, 3) if base else None

    # 2. Install N sessions and keep them: time and resident memory.
    if a.install > 0:
        for system in [s for s in systems if s != "stub"]:
            p, addr = start(servers[system])
            try:
                base_kib = rss_kib(p.pid, "VmRSS:")
                c0 = cpu_s(p.pid)
                t0 = time.monotonic()
                doc = smf_sim(sim, addr, a.install, a.window, a.sim_arg)
                secs = time.monotonic() - t0
                c1 = cpu_s(p.pid)
                kib = rss_kib(p.pid, "VmRSS:")
                hwm = rss_kib(p.pid, "VmHWM:")
            finally:
                out = stop(p)
            est = phase(doc, "establish")
            mib = lambda k: None if k is None else round(k / 1024.0, 1)  # noqa: E731
            row = results.row(
                "pfcp", system=system, phase="install", sessions=a.install, workers=1,
                per_sec=round(est["per_sec"]), accepted=est["accepted"],
                out_of_order=est.get("out_of_order"), timeouts=est["timeouts"],
                retransmissions=est["retransmissions"],
                seconds=round(est["elapsed_s"], 2), wall_seconds=round(secs, 2),
                cpu_s=None if c0 is None or c1 is None else round(c1 - c0, 2),
                cpu_per_sec=round(est["accepted"] / (c1 - c0)) if c0 is not None and c1 is not None and c1 > c0 else None,
                rss_mib=mib(kib), hwm_mib=mib(hwm), rss_at_start_mib=mib(base_kib),
                p50_us=None if est["p50_ms"] is None else round(est["p50_ms"] * 1000.0, 1),
                p99_us=None if est["p99_ms"] is None else round(est["p99_ms"] * 1000.0, 1),
                loss=(est["requests"] - est["accepted"]) / max(est["requests"], 1),
                sim_args=a.sim_arg,
            )
            try:
                row["server"] = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                row["server"] = None
            rows.append(row)
            if doc["exit_status"] != 0:
                failures.append(f"{system}: install run failed")

    doc = results.document(a.command, rows, repo=REPO,
                           note="smf-sim and the server share the machine's cores")
    path = a.out or results.default_path(os.path.join(REPO, "perf", "results"), "n4")
    results.write(path, doc)
    print(f"{'system':<6} {'phase':<9} {'sessions':>9} {'per_sec':>9} {'cpu/s':>8} {'ratio':>6} {'p50_us':>8} "
          f"{'p99_us':>9} {'ooo':>4} {'lost':>5} {'retx':>5} {'secs':>7} {'rss_mib':>8}")
    for r in rows:
        print(f"{r['system']:<6} {r['phase']:<9} {r['sessions']:>9} {r['per_sec']:>9} {str(r.get('cpu_per_sec')):>8} "
              f"{str(r.get('ratio_to_stub')):>6} {str(r['p50_us']):>8} {str(r['p99_us']):>9} "
              f"{str(r.get('out_of_order')):>4} {r['timeouts']:>5} {r['retransmissions']:>5} "
              f"{str(r.get('seconds', '')):>7} {str(r.get('rss_mib', '')):>8}")
    print(f"results: {path}")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
