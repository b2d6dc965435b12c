#!/usr/bin/env python3
"""Multi-core scaling of the upf (perf/scaling.sh, issue 7 item 6): Mpps per
worker count and efficiency against linear, next to testpmd io on the same
devices.

How the workers get traffic: the upf gives worker i queue i of every port
(upf/src/datapath: one queue pair per worker, RSS on IP when there are
several). The source is net_pcap with one `rx_pcap=` per queue (DPDK's pcap
PMD makes one rx queue per `rx_pcap`), `infinite_rx=1`: each queue replays
its own slice of the sessions (queue k: sessions k·M … k·M+M-1, M =
sessions ÷ workers), as RSS would spread them. No generator process, no
NIC: the figure is what the workers themselves sustain, including the
replay's own per-packet cost (an mbuf allocation and copy in the rx path,
which testpmd pays the same way). The sink is net_null (`no-rx=1`) with one
queue per worker. UL: N3 = the pcap, N6 = null; DL: N6 = the pcap, N3 = null.

Mpps: upf from `upf_tx_packets_total` of the output interface at GET
/metrics (and each worker's share of `upf_worker_rx_packets`, to show the balance);
testpmd io with `--nb-cores=N --rxq=N --txq=N` from the null port's
TX-packets; over the same warm-up and windows. Also Mpps per second of the
workers' CPU time (schedstat of the `rte-worker-*` threads), which cancels
preemption on a shared machine. Efficiency(N) = Mpps(N) ÷ (N × Mpps(1)).

Runs from a bundle on a machine without packages or network (Python 3
standard library only; testpmd optional): see perf/scaling.sh --bundle.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import peer_ovs  # noqa: E402  (Interactive, windows, prometheus, metric, stop, remove_runtime_dir)
import results  # noqa: E402
from io_worker import NotMeasured, free_port, measure  # noqa: E402  (windows of Mpps and worker-CPU Mpps)

REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
GEN = os.path.join(REPO, "perf", "gen", "sessions.py")
GNB_MAC = "02:00:00:00:01:02"
TARGET_EFF = 0.90


def eal_common(a, prefix: str, n: int) -> List[str]:
    args = [] if a.huge else ["--no-huge"]
    return args + ["-m", str(a.mem or (512 + 96 * n)), "--no-pci", "--file-prefix", prefix]


def pcaps(a, n: int) -> List[str]:
    """One pcap per queue, each a slice of the sessions (the plan is linear in the session index)."""
    per = a.sessions // n
    out = []
    for k in range(n):
        path = os.path.join(a.tmp, f"{a.direction}-{n}w-q{k}.pcap")
        argv = [sys.executable, GEN, "pcap", "--sessions", str(per), "--direction", a.direction,
                "--frame-size", str(a.frame), "--ue-offset", str(2 + k * per), "--first-id", str(1 + k * per),
                "--ul-teid-base", str(0x01000000 + k * per), "--dl-teid-base", str(0x02000000 + k * per),
                "--seed", str(k + 1), "--out", path]
        subprocess.run(argv, check=True, capture_output=True)
        out.append(path)
    return out


def devices(a, n: int) -> Tuple[str, str]:
    src = "net_pcap0," + ",".join(f"rx_pcap={p}" for p in pcaps(a, n)) + ",infinite_rx=1"
    sink = "net_null0,no-rx=1"
    return (src, sink) if a.direction == "ul" else (sink, src)


def upf_config(a, n: int, prefix: str, port: int) -> str:
    n3, n6 = devices(a, n)
    path = os.path.join(a.tmp, f"upf-{n}w.yaml")
    cores = a.cores[: n + 1]
    dargs = [f"--dpdk-arg={x}" for x in eal_common(a, prefix, n)]
    subprocess.run([sys.executable, GEN, "config", "--sessions", str(a.sessions), "--full", "--out", path,
                    "--n3-device", n3, "--n6-device", n6, *dargs, "--mbufs", str(a.mbufs),
                    "--control-core", str(cores[0]), "--workers", ",".join(str(c) for c in cores[1:]),
                    "--api-listen", f"127.0.0.1:{port}", "--mbr-ul", "100Gbps", "--mbr-dl", "100Gbps"],
                   check=True, capture_output=True)
    with open(path) as f:
        text = f.read()
    # Downlink goes to the gNB: a static neighbour (nobody answers ARP on net_null).
    text = text.replace("    address: 192.168.1.1/24\n",
                        f"    address: 192.168.1.1/24\n    neighbors:\n      192.168.1.2: \"{GNB_MAC}\"\n", 1)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_upf(a, n: int) -> dict:
    if not os.path.isfile(a.upf_bin) or not os.access(a.upf_bin, os.X_OK):
        raise NotMeasured(f"no upf binary at {a.upf_bin}")
    prefix = f"{a.tag}-upf-{n}"
    port = free_port()
    cfg = upf_config(a, n, prefix, port)
    chk = subprocess.run([a.upf_bin, "check", "--config", cfg], capture_output=True, text=True, timeout=120)
    if chk.returncode != 0:
        first = (chk.stderr.strip() or chk.stdout.strip()).splitlines()[:1]
        raise NotMeasured(f"`upf check` rejects the config: {first[0] if first else chk.returncode}")
    log_path = os.path.join(a.tmp, f"upf-{n}w.log")
    url = f"http://127.0.0.1:{port}/metrics"
    out_iface = "n6" if a.direction == "ul" else "n3"
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    with open(log_path, "w") as log:
        p = subprocess.Popen([a.upf_bin, "run", "--config", cfg], stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + a.start_timeout
        while True:
            if p.poll() is not None:
                raise NotMeasured(f"`upf run` exited with status {p.returncode}{peer_ovs.log_tail(log_path)}")
            try:
                if peer_ovs.metric(peer_ovs.prometheus(url), "upf_ready") == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise NotMeasured(f"upf not ready within {a.start_timeout:g} s{peer_ovs.log_tail(log_path)}")
            time.sleep(0.2)

        def read() -> int:
            if p.poll() is not None:
                raise NotMeasured(f"`upf run` exited with status {p.returncode} while measuring")
            return int(peer_ovs.metric(peer_ovs.prometheus(url), "upf_tx_packets_total", interface=out_iface) or 0)

        # Warm-up first, so that the per-worker rates cover the windows only.
        time.sleep(a.warmup)
        before = peer_ovs.prometheus(url)
        wall, cpu = measure(read, p.pid, a, warmup=0.0)
        after = peer_ovs.prometheus(url)
        per_worker = []
        for w in range(n):
            b = peer_ovs.metric(before, "upf_worker_rx_packets_total", worker=str(w))
            if b is None:
                b = peer_ovs.metric(before, "upf_worker_rx_packets", worker=str(w))
            e = peer_ovs.metric(after, "upf_worker_rx_packets_total", worker=str(w))
            if e is None:
                e = peer_ovs.metric(after, "upf_worker_rx_packets", worker=str(w))
            per_worker.append(None if b is None or e is None else e - b)
        # Balance, not rate: the worker counters are published on the upf's own
        # schedule and lag the port counters over short windows.
        tot = sum(x for x in per_worker if x is not None)
        per_worker = [None if x is None or not tot else round(x / tot, 3) for x in per_worker]
        drops = {k: v - before.get(k, 0.0) for k, v in after.items()
                 if k.startswith("upf_dropped_packets_total") and v - before.get(k, 0.0) > 0}
        if not any(x > 0 for x in wall):
            raise NotMeasured(f"forwards nothing (drops: {drops or 'none counted'})")
        return {"wall": wall, "cpu": cpu, "per_worker_rx_share": per_worker, "drops": drops}
    finally:
        peer_ovs.stop(p)
        peer_ovs.remove_runtime_dir(prefix)


def run_testpmd(a, n: int) -> dict:
    tp_bin = a.testpmd and shutil.which(a.testpmd)
    if not tp_bin:
        raise NotMeasured(f"no testpmd ({a.testpmd or 'disabled'})")
    prefix = f"{a.tag}-testpmd-{n}"
    n3, n6 = devices(a, n)
    cores = a.cores[: n + 1]
    sink_port = 1 if a.direction == "ul" else 0
    argv = ["stdbuf", "-o0", "-e0", tp_bin, "-l", ",".join(str(c) for c in cores), *eal_common(a, prefix, n),
            "--vdev", n3, "--vdev", n6, "--", "-i", "--forward-mode=io", f"--total-num-mbufs={a.mbufs}",
            f"--nb-cores={n}", f"--rxq={n}", f"--txq={n}"]
    if not shutil.which("stdbuf"):
        argv = argv[3:]
    tp = peer_ovs.Interactive(argv, "testpmd> ", None, os.path.join(a.tmp, f"testpmd-{n}w.log"))
    try:
        tp.wait_prompt(0, a.start_timeout)
        tp.cmd("start")

        def read() -> int:
            out = tp.cmd(f"show port stats {sink_port}")
            m = re.search(r"TX-packets:\s+(\d+)", out)
            if not m:
                raise NotMeasured(f"no TX-packets in testpmd output: {out[-200:]!r}")
            return int(m.group(1))

        wall, cpu = measure(read, tp.p.pid, a)
        return {"wall": wall, "cpu": cpu}
    finally:
        try:
            tp.cmd("stop", timeout=20)
        except (peer_ovs.NotMeasured, OSError):  # testpmd already gone: its error is the one to report
            pass
        tp.close()
        peer_ovs.remove_runtime_dir(prefix)


def summarize(a, samples: Dict[Tuple[str, int], dict], notes: Dict[str, str]) -> List[dict]:
    rows = []
    one = {}
    for system in ("upf", "testpmd-io"):
        s1 = samples.get((system, 1))
        one[system] = (statistics.median(s1["wall"]), statistics.median(s1["cpu"])) if s1 else None
    for n in a.workers:
        for system in ("upf", "testpmd-io"):
            s = samples.get((system, n))
            bench = "e2e" if system == "upf" else "testpmd"
            r = results.row(bench, system=system, mode="scaling", direction=a.direction, sessions=a.sessions,
                            frame_bytes=a.frame, workers=n,
                            source=f"net_pcap replay (infinite_rx), one rx_pcap queue per worker -> net_null; "
                                   f"{'hugepages' if a.huge else '--no-huge'}")
            if s is None:
                r["not_measured"] = notes.get(f"{system}/{n}", "not run")
                rows.append(r)
                continue
            mpps, cpu = statistics.median(s["wall"]), statistics.median(s["cpu"])
            r.update(mpps=round(mpps, 4), mpps_min=round(min(s["wall"]), 4), mpps_max=round(max(s["wall"]), 4),
                     window_mpps=[round(x, 4) for x in s["wall"]], mpps_per_worker_cpu_s=round(cpu, 4))
            base = one.get(system)
            if base:
                r["linear_mpps"] = round(base[0] * n, 4)
                r["scaling_efficiency"] = round(mpps / (base[0] * n), 4) if base[0] else None
                r["scaling_efficiency_cpu"] = round(cpu / base[1], 4) if base[1] else None
            if system == "upf":
                r["per_worker_rx_share"] = s.get("per_worker_rx_share")
                r["drops"] = s.get("drops") or None
                tp = samples.get(("testpmd-io", n))
                if tp:
                    r["ratio_to_testpmd"] = round(mpps / statistics.median(tp["wall"]), 4)
                if n > 1 and r.get("scaling_efficiency") is not None:
                    r["targets"] = {"scaling_efficiency_min": TARGET_EFF, "met": r["scaling_efficiency"] >= TARGET_EFF}
            rows.append(r)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upf-bin", required=True)
    ap.add_argument("--testpmd", default="dpdk-testpmd", help="testpmd binary ('' to skip the baseline)")
    ap.add_argument("--workers", default="1", help="worker counts, e.g. 1,2,4,8,14 or 1-14")
    ap.add_argument("--cores", default=None, help="CPUs: control core, then worker cores (default 0,1,2,...)")
    ap.add_argument("--direction", choices=["ul", "dl"], default="ul")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--frame", type=int, default=None, help="frame bytes (default 100 UL, 64 DL)")
    ap.add_argument("--huge", action="store_true", help="use hugepages (no --no-huge)")
    ap.add_argument("--mem", type=int, default=None, help="EAL -m MB (default 512 + 96 per worker)")
    ap.add_argument("--mbufs", type=int, default=65536)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--window-s", type=float, default=1.0)
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="1 s warm-up, 3 windows of 1 s")
    ap.add_argument("--out")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--command", default="perf/scaling.sh")
    a = ap.parse_args()
    if a.quick:
        a.warmup, a.windows, a.window_s = 1.0, 3, 1.0
    a.workers = parse_counts(a.workers)
    a.frame = a.frame or (100 if a.direction == "ul" else 64)
    ncpu = os.cpu_count() or 1
    a.cores = [int(x) for x in a.cores.split(",")] if a.cores else list(range(ncpu))
    if len(a.cores) < max(a.workers) + 1:
        print(f"scaling: {max(a.workers)} workers need {max(a.workers) + 1} cores (a control core and one per worker); "
              f"this machine has {ncpu}: worker counts above {len(a.cores) - 1} are not measured", flush=True)
    if a.sessions % max(a.workers):
        print(f"scaling: {a.sessions} sessions do not split evenly over {max(a.workers)} workers: "
              f"each queue replays {a.sessions} // N of them", flush=True)
    a.tag = f"scaling-{os.getpid()}"
    a.tmp = tempfile.mkdtemp(prefix="perf-scaling-")
    samples: Dict[Tuple[str, int], dict] = {}
    notes: Dict[str, str] = {}
    try:
        for rnd in range(1, a.rounds + 1):
            for n in a.workers:
                order = ["testpmd-io", "upf"] if (rnd + n) % 2 else ["upf", "testpmd-io"]
                for system in order:
                    if len(a.cores) < n + 1:
                        notes[f"{system}/{n}"] = f"{n + 1} cores needed, {len(a.cores)} available"
                        continue
                    try:
                        got = run_upf(a, n) if system == "upf" else run_testpmd(a, n)
                    except (NotMeasured, peer_ovs.NotMeasured, subprocess.SubprocessError) as e:
                        notes[f"{system}/{n}"] = str(e)
                        print(f"round {rnd} {n:2d} worker(s) {system:10s}: not measured ({e})", flush=True)
                        continue
                    s = samples.setdefault((system, n), {"wall": [], "cpu": []})
                    # Per round the median window; over rounds the median of those.
                    s["wall"].append(statistics.median(got["wall"]))
                    s["cpu"].append(statistics.median(got["cpu"]))
                    for k in ("per_worker_rx_share", "drops"):
                        if k in got:
                            s[k] = got[k]
                    print(f"round {rnd} {n:2d} worker(s) {system:10s}: {statistics.median(got['wall']):8.3f} Mpps "
                          f"({statistics.median(got['cpu']):.3f} per worker-CPU s)"
                          + (f", share of rx per worker {got['per_worker_rx_share']}" if got.get("per_worker_rx_share") else ""),
                          flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(a.tmp, ignore_errors=True)
        else:
            print(f"scaling: temp dir kept: {a.tmp}")
    rows = summarize(a, samples, notes)
    print_table(a, rows)
    doc = results.document(a.command, rows, repo=REPO if os.path.isdir(os.path.join(REPO, ".git")) else None,
                           note="Mpps of the output port; efficiency = Mpps(N) / (N x Mpps(1)) of the same system and run")
    path = a.out or results.default_path(os.path.join(REPO, "perf", "results"), "scaling")
    results.write(path, doc)
    print(f"results: {path}")
    return 0 if any(r.get("mpps") is not None for r in rows) else 1


def parse_counts(spec: str) -> List[int]:
    out: List[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            out += list(range(lo, hi + 1))
        else:
            out.append(int(part))
    if not out or any(n < 1 for n in out):
        raise SystemExit(f"scaling: bad --workers {spec!r}")
    return sorted(set(out))


def print_table(a, rows: List[dict]) -> None:
    print(f"\nscaling: {a.direction.upper()}, {a.sessions} sessions, {a.frame} B frames, QER+URR on every session")
    print(f"{'workers':>7}  {'upf Mpps':>9} {'/worker':>8} {'eff.':>6} {'eff.CPU':>7}  {'testpmd Mpps':>12} {'eff.':>6}  upf÷testpmd")
    for n in a.workers:
        u = next(r for r in rows if r["system"] == "upf" and r["workers"] == n)
        t = next(r for r in rows if r["system"] == "testpmd-io" and r["workers"] == n)

        def f(x, nd=3):
            return "-" if x is None else f"{x:.{nd}f}"
        if u.get("mpps") is None:
            ustr = f"not measured ({u.get('not_measured')})"
            print(f"{n:>7}  {ustr}")
            continue
        print(f"{n:>7}  {f(u['mpps']):>9} {f(u['mpps'] / n):>8} {f(u.get('scaling_efficiency'), 2):>6} "
              f"{f(u.get('scaling_efficiency_cpu'), 2):>7}  {f(t.get('mpps')):>12} {f(t.get('scaling_efficiency'), 2):>6}  "
              f"{f(u.get('ratio_to_testpmd'))}")
    print(f"target: efficiency >= {TARGET_EFF:.0%} of linear (N x the 1-worker figure)")


if __name__ == "__main__":
    sys.exit(main())
