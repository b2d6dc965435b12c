#!/usr/bin/python3
"""The upf worker's I/O loop next to dpdk-testpmd on the same devices, same
lcore, same run (perf/io-worker.sh; issue 3's speed benchmark).

What "the I/O loop" is measured as, honestly:

  null-rx  two net_null ports that produce 64-byte all-zero frames. The upf
           can only receive and drop them (ethertype 0: `unsupported`), so
           this is rx + parse + drop + bulk free, next to testpmd
           `--forward-mode=io` (rx + tx into the other net_null port, which
           frees; what issue 3 names) and `--forward-mode=rxonly` (rx +
           bulk free) on the same two ports. The pure I/O cost of the worker
           loop.
  ul       N3 = net_pcap replaying valid G-PDUs of N sessions
           (`infinite_rx=1`), N6 = net_null: the full uplink path (lookup,
           QER with MBR meter, URR, decap, Ethernet rewrite toward a static
           gateway neighbour) and tx, next to testpmd io forwarding the same
           pcap into the same net_null.
  dl       N6 = net_pcap replaying IP packets to the UEs, N3 = net_null: the
           full downlink path (lookup, QER, URR, GTP-U encapsulation with a
           PDU Session Container) and tx, next to testpmd io on the same.

Mpps: upf from /metrics counters (rx for null-rx, tx of the output port
otherwise), testpmd from `show port stats`, over the same warm-up and
windows. Both per wall-clock second and per second of the forwarding
thread's CPU time (schedstat of its `rte-worker-*` thread), which cancels
the preemption a shared machine inflicts. Ratios: upf ÷ testpmd of the same
round; `ratio_to_testpmd` uses testpmd io in every mode (`ratio_testpmd_mode`
says so), and `ratios` holds one per testpmd mode run (null-rx: io and
rxonly).

Usage: io_worker.py --upf-bin B [--sessions N] [--rounds R] [--windows W]
       [--window-s S] [--warmup S] [--modes null-rx,ul,dl] [--burst N]
       [--upf-also NAME=PATH ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_ovs  # noqa: E402  (Interactive, windows, prometheus, metric, stop)
import results  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GEN = os.path.join(REPO, "perf", "gen", "sessions.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
GNB_MAC = "02:00:00:00:01:02"


class NotMeasured(Exception):
    pass


def worker_cpu_ns(pid: int) -> int:
    """CPU nanoseconds of the process's EAL worker threads (`rte-worker-*`),
    all of them together (one with io-worker's single worker; perf/scaling.sh
    runs several)."""
    total, found = 0, False
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                comm = f.read().strip()
            if comm.startswith(("rte-worker", "lcore-worker")):
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
                found = True
        except OSError:
            continue
    if not found:
        raise NotMeasured(f"no rte-worker thread in process {pid}")
    return total


def measure(read: Callable[[], int], pid: int, a: argparse.Namespace,
            warmup: Optional[float] = None) -> Tuple[List[float], List[float]]:
    """Wall Mpps and Mpps per worker-CPU second of each window (`a.warmup`
    first unless `warmup` says otherwise)."""
    time.sleep(a.warmup if warmup is None else warmup)
    wall, cpu = [], []
    t0, c0, n0 = time.monotonic(), worker_cpu_ns(pid), read()
    for _ in range(a.windows):
        time.sleep(a.window_s)
        t1, c1, n1 = time.monotonic(), worker_cpu_ns(pid), read()
        wall.append((n1 - n0) / (t1 - t0) / 1e6)
        cpu.append((n1 - n0) / ((c1 - c0) / 1e9) / 1e6 if c1 > c0 else 0.0)
        t0, c0, n0 = t1, c1, n1
    return wall, cpu


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------ testpmd

def run_testpmd(a, devices: List[str], mode: str, count: Callable[[str], int], prefix: str) -> Tuple[List[float], List[float]]:
    argv = ["stdbuf", "-o0", "-e0", a.testpmd, "-l", a.lcores, "--no-huge", "-m", "1024", "--no-pci",
            "--file-prefix", prefix]
    for d in devices:
        argv += ["--vdev", d]
    argv += ["--", "-i", f"--forward-mode={mode}", "--total-num-mbufs=65536", "--nb-cores=1"]
    if getattr(a, "burst", None):
        argv += [f"--burst={a.burst}"]
    tp = peer_ovs.Interactive(argv, "testpmd> ", None, os.path.join(a.tmp, f"{prefix}.log"))
    try:
        tp.wait_prompt(0, 60)
        tp.cmd("start")

        def read() -> int:
            return count(tp.cmd("show port stats all"))

        return measure(read, tp.p.pid, a)
    finally:
        try:
            tp.cmd("stop", timeout=20)
        except (peer_ovs.NotMeasured, OSError):  # testpmd already gone: its error is the one to report
            pass
        tp.close()
        peer_ovs.remove_runtime_dir(prefix)


def stat_sum(text: str, key: str, ports: Optional[List[int]] = None) -> int:
    """Sum of `key` (RX-packets / TX-packets) over the ports of `show port stats all`."""
    blocks = re.split(r"#+ NIC statistics for port (\d+)", text)
    total = 0
    for i in range(1, len(blocks) - 1, 2):
        port = int(blocks[i])
        if ports is not None and port not in ports:
            continue
        m = re.search(rf"{key}:\s+(\d+)", blocks[i + 1])
        if m:
            total += int(m.group(1))
    return total


# ------------------------------------------------------------------ upf

def run_upf(a, upf_bin: str, config: str, read_metric: Tuple[str, List[str]], prefix: str) -> Tuple[List[float], List[float], dict]:
    log_path = os.path.join(a.tmp, f"{prefix}.log")
    chk = subprocess.run([upf_bin, "check", "--quiet", "--config", config], capture_output=True, text=True)
    if chk.returncode != 0:
        raise NotMeasured(f"upf check rejects the config: {chk.stderr.strip().splitlines()[:1]}")
    api = re.search(r"listen: (127\.0\.0\.1:\d+)", open(config).read().split("api:")[1]).group(1)
    url = f"http://{api}/metrics"
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    with open(log_path, "w") as log:
        p = subprocess.Popen([upf_bin, "run", "--config", config], stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if p.poll() is not None:
                raise NotMeasured(f"upf exited with {p.returncode}: {open(log_path).read()[-400:]}")
            try:
                m = peer_ovs.prometheus(url)
                if peer_ovs.metric(m, "upf_ready") == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise NotMeasured("upf not ready within 60 s")
            time.sleep(0.1)
        name, ifaces = read_metric

        def read() -> int:
            m = peer_ovs.prometheus(url)
            return int(sum(peer_ovs.metric(m, name, interface=i) or 0 for i in ifaces))

        before = peer_ovs.prometheus(url)
        wall, cpu = measure(read, p.pid, a)
        after = peer_ovs.prometheus(url)
        drops = {k: after[k] - before.get(k, 0) for k in after
                 if k.startswith("upf_dropped_packets_total") and after[k] - before.get(k, 0) > 0}
        return wall, cpu, drops
    finally:
        peer_ovs.stop(p)
        peer_ovs.remove_runtime_dir(prefix)


def upf_config(a, tag: str, n3: str, n6: str, prefix: str) -> str:
    path = os.path.join(a.tmp, f"upf-{tag}.yaml")
    port = free_port()
    subprocess.run([PY, GEN, "config", "--sessions", str(a.sessions), "--full", "--out", path,
                    "--n3-device", n3, "--n6-device", n6,
                    "--dpdk-arg=--no-huge", "--dpdk-arg=-m", "--dpdk-arg=1024", "--dpdk-arg=--no-pci",
                    "--dpdk-arg=--file-prefix", f"--dpdk-arg={prefix}", "--mbufs", "65536",
                    "--control-core", a.lcores.split(",")[0], "--workers", a.lcores.split(",")[1],
                    "--api-listen", f"127.0.0.1:{port}", "--mbr-ul", "100Gbps", "--mbr-dl", "100Gbps"],
                   check=True, capture_output=True)
    text = open(path).read()
    # Downlink goes to the gNB: a static neighbour (nobody answers ARP on net_null).
    text = text.replace("    address: 192.168.1.1/24\n",
                        f"    address: 192.168.1.1/24\n    neighbors:\n      192.168.1.2: \"{GNB_MAC}\"\n", 1)
    if getattr(a, "burst", None):
        if re.search(r"^dataplane:\n", text, re.M):
            text = re.sub(r"^dataplane:\n", f"dataplane:\n  burst: {a.burst}\n", text, count=1, flags=re.M)
        else:
            text += f"\ndataplane:\n  burst: {a.burst}\n"
    with open(path, "w") as f:
        f.write(text)
    return path


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upf-bin", required=True)
    ap.add_argument("--upf-also", action="append", default=[], metavar="NAME=PATH",
                    help="another upf binary, run as system upf-NAME in the same rounds (A/B)")
    ap.add_argument("--testpmd", default="dpdk-testpmd")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--window-s", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--lcores", default="0,1", help="control/main lcore, forwarding lcore")
    ap.add_argument("--modes", default="null-rx,ul,dl")
    ap.add_argument("--burst", type=int, help="rx burst of both (testpmd --burst, upf dataplane.burst); default: each one's 32")
    ap.add_argument("--ul-frame", type=int, default=100)
    ap.add_argument("--dl-frame", type=int, default=64)
    ap.add_argument("--out")
    ap.add_argument("--command", default="perf/io-worker.sh")
    a = ap.parse_args()
    a.tmp = tempfile.mkdtemp(prefix="io-worker.")
    upf_bins = {"upf": a.upf_bin}
    for spec in a.upf_also:
        name, _, path = spec.partition("=")
        upf_bins[f"upf-{name}"] = path
    upfs = list(upf_bins)
    tag = os.environ.get("IO_WORKER_TAG", f"ioworker-{os.getpid()}")

    ul_pcap, dl_pcap = os.path.join(a.tmp, "ul.pcap"), os.path.join(a.tmp, "dl.pcap")
    subprocess.run([PY, GEN, "pcap", "--sessions", str(a.sessions), "--frame-size", str(a.ul_frame), "--out", ul_pcap],
                   check=True, capture_output=True)
    subprocess.run([PY, GEN, "pcap", "--sessions", str(a.sessions), "--direction", "dl", "--frame-size", str(a.dl_frame),
                    "--out", dl_pcap], check=True, capture_output=True)

    # mode -> (testpmd devices, [(testpmd mode, its counter)], upf n3, upf n6,
    # upf metric, frame); the first testpmd mode is the one of ratio_to_testpmd.
    modes = {
        "null-rx": (["net_null0", "net_null1"],
                    [("io", lambda t: stat_sum(t, "TX-packets")), ("rxonly", lambda t: stat_sum(t, "RX-packets"))],
                    "net_null0", "net_null1", ("upf_rx_packets_total", ["n3", "n6"]), 64),
        "ul": ([f"net_pcap0,rx_pcap={ul_pcap},infinite_rx=1", "net_null0,no-rx=1"],
               [("io", lambda t: stat_sum(t, "TX-packets", [1]))],
               f"net_pcap0,rx_pcap={ul_pcap},infinite_rx=1", "net_null0,no-rx=1", ("upf_tx_packets_total", ["n6"]), a.ul_frame),
        "dl": ([f"net_pcap0,rx_pcap={dl_pcap},infinite_rx=1", "net_null0,no-rx=1"],
               [("io", lambda t: stat_sum(t, "TX-packets", [1]))],
               "net_null0,no-rx=1", f"net_pcap0,rx_pcap={dl_pcap},infinite_rx=1", ("upf_tx_packets_total", ["n3"]), a.dl_frame),
    }
    wanted = [m for m in a.modes.split(",") if m]
    samples: Dict[Tuple[str, str], Dict[str, List[float]]] = {}
    notes: Dict[str, str] = {}
    drops_seen: Dict[Tuple[str, str], dict] = {}
    for r in range(1, a.rounds + 1):
        for mode in wanted:
            tp_dev, tp_modes, n3, n6, metric, _ = modes[mode]
            tps = [f"testpmd-{m}" for m, _ in tp_modes]
            order = [*tps, *upfs] if r % 2 else [*reversed(upfs), *reversed(tps)]
            for system in order:
                prefix = f"{tag}-{mode}-{system}-{r}"
                key = (mode, system)
                try:
                    if not system.startswith("upf"):
                        tp_mode, tp_count = next((m, c) for m, c in tp_modes if f"testpmd-{m}" == system)
                        wall, cpu = run_testpmd(a, tp_dev, tp_mode, tp_count, prefix)
                    else:
                        cfg = upf_config(a, f"{mode}-{r}", n3, n6, prefix)
                        wall, cpu, drops = run_upf(a, upf_bins[system], cfg, metric, prefix)
                        if drops:
                            drops_seen[(mode, system)] = drops
                except NotMeasured as e:
                    notes[f"{mode}/{system}"] = str(e)
                    print(f"round {r} {mode} {system}: not measured: {e}", flush=True)
                    continue
                s = samples.setdefault(key, {"wall": [], "cpu": []})
                s["wall"].append(statistics.median(wall))
                s["cpu"].append(statistics.median(cpu))
                print(f"round {r} {mode:7s} {system:7s} {statistics.median(wall):7.3f} Mpps wall, "
                      f"{statistics.median(cpu):7.3f} Mpps per worker-CPU second", flush=True)

    mach = results.machine()
    tsc_hz = None
    rows = []
    print("\nmode     system          Mpps wall (median)  Mpps/worker-CPU-s  upf÷testpmd <mode> (CPU-normalised, wall)")
    for mode in wanted:
        tp_modes = [m for m, _ in modes[mode][1]]
        frame = modes[mode][5]
        direction = None if mode == "null-rx" else mode
        for system in [f"testpmd-{m}" for m in tp_modes] + upfs:
            s = samples.get((mode, system))
            if s is None:
                continue
            ratios: Dict[str, dict] = {}
            if system.startswith("upf"):
                for m in tp_modes:
                    tp = samples.get((mode, f"testpmd-{m}"))
                    if not tp:
                        continue
                    rc = [u / t for u, t in zip(s["cpu"], tp["cpu"]) if t > 0]
                    rw = [u / t for u, t in zip(s["wall"], tp["wall"]) if t > 0]
                    ratios[m] = {"cpu": round(statistics.median(rc), 3) if rc else None,
                                 "wall": round(statistics.median(rw), 3) if rw else None}
            first = ratios.get(tp_modes[0], {})
            mpps = statistics.median(s["wall"])
            rows.append(results.row(
                "testpmd", system=system, mode=mode,
                direction=direction, sessions=None if mode == "null-rx" else a.sessions,
                frame_bytes=frame, workers=1, burst=a.burst or 32, mpps=round(mpps, 3),
                mpps_per_worker_cpu_s=round(statistics.median(s["cpu"]), 3),
                cycles_per_pkt=None, ratio_to_testpmd=first.get("cpu"), ratio_to_testpmd_wall=first.get("wall"),
                ratio_testpmd_mode=tp_modes[0] if system.startswith("upf") else None,
                ratios=ratios or None,
                samples_mpps=s["wall"], samples_mpps_per_worker_cpu_s=s["cpu"],
                drops=drops_seen.get((mode, system)),
                upf_bin=upf_bins.get(system),
                device={"null-rx": "2x net_null (64 B zero frames): upf rx+drop vs testpmd io (rx + tx to the "
                                   "other null port) and rxonly",
                        "ul": f"net_pcap (UL G-PDUs, {a.sessions} sessions, PSC) -> net_null",
                        "dl": f"net_pcap (DL IP to {a.sessions} UEs) -> net_null"}[mode]))
            shown = "; ".join(f"{m} {r['cpu']:.3f}, {r['wall']:.3f}" for m, r in ratios.items()
                              if r["cpu"] is not None and r["wall"] is not None)
            print(f"{mode:8s} {system:15s} {mpps:10.3f} {statistics.median(s['cpu']):18.3f}    {shown}")
    doc = results.document(a.command, rows, repo=REPO, notes=notes or None,
                           machine_note="shared build machine: compare ratios within the run, not absolute Mpps")
    doc["machine"]["tsc_hz"] = tsc_hz
    path = a.out or results.default_path(os.path.join(REPO, "perf", "results"), "io-worker")
    results.write(path, doc)
    print(f"wrote {path}")
    subprocess.run(["rm", "-rf", a.tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
