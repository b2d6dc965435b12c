#!/usr/bin/env python3
"""Latency of the e2e topology at fixed rates, with the scheduling under control.

A diagnostic next to perf/e2e-bench.sh (issue 7 item 3, perf/README.md "e2e
latency"): the same topology and configs (perf/lib/e2e.py's run_one: loadgen
the memif server on CPU 0, the device the memif client with its worker on
CPU 1, 10,000 sessions, QER + URR), but one loadgen `--mode fixed` trial per
rate and device instead of a search, and three knobs that tell the device's
own queueing from the shared machine's scheduling:

  --nice N        autogroup nice of loadgen and the device (-20: they get
                  their CPUs, other engineers' builds wait; keep trials short)
  --hog-cpu C     a busy loop pinned to CPU C in an autogroup of its own at the
                  same nice: a controlled competitor (the device gets ~50 %)
  --move-control C  after start, pin the upf's threads other than its worker
                  (control thread, EAL threads) to CPU C

Each trial appends one JSON line to --out: per-direction p50/p99/p99.9/max and
loss, the device's and generator's CPU shares (schedstat), loadgen's tx
counters (refused: the device's rx ring was full) and the upf's counters.

  perf/tools/e2e_sched_latency.py --systems testpmd-io,upf=/tmp/upf-main \\
      --rates 0.01,0.5 --nice -20 [--hog-cpu 1] --rounds 3 --out /tmp/lat.jsonl

Needs root, dpdk-testpmd and a release loadgen (cargo build --release -p loadgen).
Everything it starts is stopped by PID (the hog included) on every exit path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

_REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "perf", "lib"))
import e2e  # noqa: E402


def set_autogroup_nice(pid: int, nice: int) -> None:
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(str(nice))
            return
        except OSError:
            time.sleep(0.05)


class Procs(e2e.Procs):
    """e2e's process keeper, turning loadgen's search into one fixed-rate trial."""

    def __init__(self, x: argparse.Namespace, rate: float) -> None:
        super().__init__()
        self.x, self.rate = x, rate

    def start(self, argv, log, env=None):
        x = self.x
        is_lg = argv[0] == x.loadgen_bin
        if is_lg:
            i = argv.index("--mode")
            argv[i + 1] = "fixed"
            argv[i + 2:i + 2] = ["--rate-mpps", str(self.rate), "--duration-s", str(x.duration)]
        p = super().start(argv, log, env)
        if x.nice is not None:
            set_autogroup_nice(p.pid, x.nice)
        if x.move_control is not None and not is_lg:
            def mover(pid=p.pid):
                while p.poll() is None:
                    time.sleep(0.5)
                    try:
                        for t in os.listdir(f"/proc/{pid}/task"):
                            with open(f"/proc/{pid}/task/{t}/comm") as f:
                                if not f.read().startswith("rte-worker"):
                                    os.sched_setaffinity(int(t), {x.move_control})
                    except OSError:
                        return
            threading.Thread(target=mover, daemon=True).start()
        return p


def run(x: argparse.Namespace, label: str, upf_bin, rate: float) -> dict:
    system = "upf" if upf_bin else label
    a = argparse.Namespace(
        loadgen_bin=x.loadgen_bin, upf_bin=upf_bin, upf_threads="rte-worker",
        testpmd=shutil.which("dpdk-testpmd") or "dpdk-testpmd", sessions=x.sessions, qfi=9, inner_bytes=64,
        traffic=x.traffic, loadgen_lcores="0@0,1@0", loadgen_rx_lcore=None, dut_cpu=1, rsize=14,
        min_mpps=0.01, max_mpps=4.0, precision=0.05, trial_s=0.5, final_s=0.0, latency_s=0.0, latency_mpps="",
        warmup_s=0.3, drain_ms=200, link_timeout=30.0, upf_start_timeout=60.0, run_timeout=300.0)
    tmp = tempfile.mkdtemp(prefix="e2e-sched.")
    procs = Procs(x, rate)
    res = {"label": label, "rate_mpps_per_dir": rate, "nice": x.nice, "hog_cpu": x.hog_cpu,
           "move_control": x.move_control}
    try:
        doc = e2e.run_one(a, system, 1, tmp, procs)
        t = doc["results"][0]["trials"][0]
        res["dirs"] = {d["direction"]: {**{k: d["latency"][k] for k in ("p50_us", "p99_us", "p999_us", "max_us")},
                                        "loss": d["loss"], "tx": d["tx"]} for d in t["directions"]}
        res["dut_cpu"], res["generator_cpu"] = t.get("dut_cpu"), t.get("generator_cpu")
        res["upf_counters"] = doc.get("upf_counters")
    except e2e.NotMeasured as e:
        res["not_measured"] = str(e)
    finally:
        procs.stop_all()
        if x.keep_logs:
            os.makedirs(x.keep_logs, exist_ok=True)
            for d in os.listdir(tmp):
                for f in ("dut.log", "loadgen.log"):
                    src = os.path.join(tmp, d, f)
                    if os.path.exists(src):
                        shutil.copy(src, os.path.join(x.keep_logs, f"{label}-{rate:g}-{int(time.time())}-{f}"))
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default="testpmd-io,upf",
                    help="comma-separated: testpmd-io, testpmd-macswap, upf or LABEL=PATH of a upf binary")
    ap.add_argument("--rates", default="0.01,0.5", help="Mpps per direction")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=1, help="systems alternate within each round")
    ap.add_argument("--traffic", default="bidir", choices=["ul", "dl", "bidir"])
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--loadgen-bin", default=os.path.join(_REPO, "target", "release", "loadgen"))
    ap.add_argument("--nice", type=int, default=None)
    ap.add_argument("--hog-cpu", type=int, default=None)
    ap.add_argument("--move-control", type=int, default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep-logs", default=None, help="copy each trial's device and loadgen logs into this directory")
    x = ap.parse_args()
    if os.getuid() != 0:
        ap.error("needs root (DPDK runtime directories, autogroup nice)")
    systems = []
    for s in x.systems.split(","):
        label, _, path = s.partition("=")
        if label == "upf" and not path:
            path = os.path.join(_REPO, "target", "release", "upf")
        systems.append((label, path or None))
    hog = None
    if x.hog_cpu is not None:
        nice = "" if x.nice is None else f"echo {x.nice} > /proc/$$/autogroup; "
        hog = subprocess.Popen(["sh", "-c", f"{nice}exec taskset -c {x.hog_cpu} sh -c 'while :; do :; done'"],
                               start_new_session=True)
    try:
        with open(x.out, "a") as out:
            for rnd in range(x.rounds):
                for label, path in systems:
                    for rate in (float(v) for v in x.rates.split(",")):
                        r = run(x, label, path, rate)
                        r["round"] = rnd + 1
                        out.write(json.dumps(r) + "\n")
                        out.flush()
                        d = r.get("dirs", {})
                        print(f"{label:<14} {rate:>6g} Mpps/dir  " + "  ".join(
                            f"{k} p50 {v['p50_us']} p99 {v['p99_us']} p99.9 {v['p999_us']} loss {v['loss']:.4f}"
                            for k, v in d.items()) + f"  dut CPU {(r.get('dut_cpu') or {}).get('run')}"
                            + (f"  not measured: {r['not_measured']}" if "not_measured" in r else ""), flush=True)
    finally:
        if hog is not None:
            os.killpg(hog.pid, signal.SIGTERM)
            hog.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
