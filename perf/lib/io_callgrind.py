#!/usr/bin/python3
"""Instructions per packet of the forwarding thread under callgrind: the
deterministic companion of io_worker.py (perf/io-callgrind.sh). Same modes,
devices and configs as io_worker.py (null-rx, ul, dl); each upf binary given
(`--bin LABEL=PATH`, several for a before/after) and dpdk-testpmd run under
`valgrind --tool=callgrind --separate-threads=yes` for `--seconds`, then
stop; the thread with the most instructions is the forwarding thread.

  instructions/packet = that thread's Ir ÷ packets
  packets: null-rx: frames received on both ports (testpmd io: frames
  forwarded, each received on one null port and sent on the other); ul /
  dl: frames sent on the output port.

With --testpmd-too, testpmd runs in io mode for every mode and, for
null-rx, in rxonly mode as well; each upf row carries `ratios`
(testpmd's instructions/packet ÷ the upf's, i.e. the upf's speed relative
to testpmd at equal instructions per second) per testpmd mode, and
`ratio_to_testpmd` for io (`ratio_testpmd_mode`), the baseline issue 3
names.

The whole run counts, for both: the packets are exact (the upf's `final
<iface>` log lines, testpmd's accumulated forward statistics), and the
forwarding thread does nothing but poll from its start (a few million
instructions of set-up against ~10^10). A window between two
`callgrind_control -d` dumps with packets from /metrics was tried and
discarded: under valgrind the control thread's counter aggregation lags
the worker by a varying amount (null-rx read 320 instead of 282). `--annotate DIR` keeps `callgrind_annotate` of each
thread file there.

Usage: io_callgrind.py --bin LABEL=PATH [--bin ...] [--testpmd-too]
       [--modes null-rx,ul,dl] [--seconds S] [--sessions N] [--out FILE]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import io_worker  # noqa: E402  (upf_config, GEN, PY)
import peer_ovs  # noqa: E402
import results  # noqa: E402

REPO = io_worker.REPO


def reap(p: subprocess.Popen, prefix: str) -> None:
    """Kills what is still running and removes its DPDK runtime directory."""
    if p.poll() is None:
        p.kill()
        p.wait()
    peer_ovs.remove_runtime_dir(prefix)

def worker_ir(d: str, part: Optional[int] = None) -> Tuple[int, str]:
    """The largest `summary:` of the thread files in `d` (of dump `part`
    only, when given), and that file."""
    best, path = 0, ""
    for f in glob.glob(os.path.join(d, "callgrind.out.*")):
        this_part, total = None, 0
        with open(f) as fh:
            for line in fh:
                if line.startswith("part:"):
                    this_part = int(line.split()[1])
                elif line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        if part is not None and this_part != part:
            continue
        if total > best:
            best, path = total, f
    return best, path


def annotate(path: str, out: str) -> None:
    """Functions and source lines of the thread file `path` into `out`
    (and the file itself beside it, for further annotation)."""
    shutil.copy(path, out + ".callgrind")
    with open(out, "w") as f:
        subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=yes", "--context=2", path],
                       cwd=REPO, stdout=f, stderr=subprocess.STDOUT)


def run_upf(a, label: str, binary: str, mode: str, cfg_devs, d: str) -> Tuple[int, int]:
    n3, n6, ifaces, what = cfg_devs
    prefix = f"{a.tag}-{mode}-{label}"
    cfg = io_worker.upf_config(a, f"cg-{mode}-{label}", n3, n6, prefix)
    log = os.path.join(d, "log")
    env = dict(os.environ)
    env["RUST_LOG"] = "info"
    with open(log, "w") as lf:
        p = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes", binary, "run",
                              "--config", cfg], cwd=d, stdout=lf, stderr=lf, env=env)
    try:
        # Ready when the log says so: under valgrind a busy worker can starve
        # the control thread's HTTP server for minutes (null-rx), and the
        # figure needs only the final counters.
        deadline = time.monotonic() + 600
        while "running: node_id" not in open(log).read():
            if p.poll() is not None:
                raise io_worker.NotMeasured(f"upf exited with {p.returncode}: {open(log).read()[-400:]}")
            if time.monotonic() > deadline:
                raise io_worker.NotMeasured("upf not running under valgrind within 600 s")
            time.sleep(0.5)
        time.sleep(a.seconds)
        p.send_signal(2)
        p.wait(timeout=300)
    finally:
        reap(p, prefix)
    text = open(log).read()
    pkts = 0
    for iface in ifaces:
        m = re.search(rf"final {iface}: rx (\d+) pkts / \d+ bytes, tx (\d+) pkts", text)
        if not m:
            raise io_worker.NotMeasured(f"no final counters for {iface} in {log}")
        pkts += int(m.group(1 if what == "rx" else 2))
    ir, _ = worker_ir(d)
    return ir, pkts


def run_testpmd(a, mode: str, devices: List[str], fwd: str, d: str) -> Tuple[int, int]:
    prefix = f"{a.tag}-{mode}-testpmd"
    argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes", a.testpmd,
            "-l", a.lcores, "--no-huge", "-m", "1024", "--no-pci", "--file-prefix", prefix]
    for dev in devices:
        argv += ["--vdev", dev]
    argv += ["--", "-i", f"--forward-mode={fwd}", "--total-num-mbufs=65536", "--nb-cores=1"]
    log = os.path.join(d, "log")
    with open(log, "w") as lf:
        p = subprocess.Popen(argv, cwd=d, stdin=subprocess.PIPE, stdout=lf, stderr=lf, text=True)
    try:
        deadline = time.monotonic() + 300
        while "testpmd>" not in open(log).read():
            if p.poll() is not None or time.monotonic() > deadline:
                raise io_worker.NotMeasured(f"testpmd did not start: {open(log).read()[-400:]}")
            time.sleep(0.5)
        p.stdin.write("start\n")
        p.stdin.flush()
        time.sleep(a.seconds)
        p.stdin.write("stop\nquit\n")
        p.stdin.flush()
        p.wait(timeout=300)
    finally:
        reap(p, prefix)
    text = open(log).read()
    block = text.split("Accumulated forward statistics")[-1]
    m = re.search(rf"{'RX' if fwd == 'rxonly' else 'TX'}-packets:\s+(\d+)", block)
    if not m:
        raise io_worker.NotMeasured(f"no forward statistics in {log}")
    ir, _ = worker_ir(d)
    return ir, int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, help="LABEL=PATH of a upf binary")
    ap.add_argument("--testpmd-too", action="store_true")
    ap.add_argument("--testpmd", default="dpdk-testpmd")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--lcores", default="0,1")
    ap.add_argument("--modes", default="null-rx,ul,dl")
    ap.add_argument("--ul-frame", type=int, default=100)
    ap.add_argument("--dl-frame", type=int, default=64)
    ap.add_argument("--annotate", help="directory for callgrind_annotate of each run")
    ap.add_argument("--out")
    ap.add_argument("--command", default="perf/io-callgrind.sh")
    a = ap.parse_args()
    a.tmp = tempfile.mkdtemp(prefix="io-callgrind.")
    a.tag = os.environ.get("IO_WORKER_TAG", f"iocg-{os.getpid()}")
    bins = [tuple(b.split("=", 1)) for b in a.bin]

    ul_pcap, dl_pcap = os.path.join(a.tmp, "ul.pcap"), os.path.join(a.tmp, "dl.pcap")
    gen = [io_worker.PY, io_worker.GEN, "pcap", "--sessions", str(a.sessions)]
    subprocess.run([*gen, "--frame-size", str(a.ul_frame), "--out", ul_pcap], check=True, capture_output=True)
    subprocess.run([*gen, "--direction", "dl", "--frame-size", str(a.dl_frame), "--out", dl_pcap],
                   check=True, capture_output=True)
    ul_dev, dl_dev = f"net_pcap0,rx_pcap={ul_pcap},infinite_rx=1", f"net_pcap0,rx_pcap={dl_pcap},infinite_rx=1"
    sink = "net_null0,no-rx=1"
    # mode -> (upf n3, n6, counted interfaces, rx|tx), (testpmd devices,
    # forward modes: the first is the one of ratio_to_testpmd)
    modes = {
        "null-rx": (("net_null0", "net_null1", ["n3", "n6"], "rx"), (["net_null0", "net_null1"], ["io", "rxonly"])),
        "ul": ((ul_dev, sink, ["n6"], "tx"), ([ul_dev, sink], ["io"])),
        "dl": ((sink, dl_dev, ["n3"], "tx"), ([dl_dev, sink], ["io"])),
    }
    rows = []
    notes: Dict[str, str] = {}
    for mode in [m for m in a.modes.split(",") if m]:
        upf_devs, (tp_devs, tp_modes) = modes[mode]
        runs: List[Tuple[str, Optional[str]]] = [(label, path) for label, path in bins]
        if a.testpmd_too:
            runs += [(f"testpmd-{m}", None) for m in tp_modes]
        mode_rows = []
        for label, path in runs:
            d = os.path.join(a.tmp, f"{mode}-{label}")
            os.makedirs(d)
            try:
                if path is None:
                    ir, pkts = run_testpmd(a, mode, tp_devs, label.removeprefix("testpmd-"), d)
                else:
                    ir, pkts = run_upf(a, label, os.path.abspath(path), mode, upf_devs, d)
            except (io_worker.NotMeasured, subprocess.SubprocessError, OSError) as e:
                notes[f"{mode}/{label}"] = str(e)
                print(f"{mode} {label}: not measured: {e}", flush=True)
                continue
            ipp = ir / pkts if pkts else None
            if a.annotate:
                os.makedirs(a.annotate, exist_ok=True)
                _, f = worker_ir(d)
                if f:
                    annotate(f, os.path.join(a.annotate, f"{mode}-{label}.txt"))
            print(f"{mode:8s} {label:14s} Ir {ir:>14,d}  packets {pkts:>12,d}  "
                  f"instructions/packet {ipp if ipp is None else round(ipp, 1)}", flush=True)
            mode_rows.append(results.row(
                "io-callgrind", system=label if path is None else f"upf:{label}", mode=mode,
                direction=None if mode == "null-rx" else mode, sessions=None if mode == "null-rx" else a.sessions,
                frame_bytes={"null-rx": 64, "ul": a.ul_frame, "dl": a.dl_frame}[mode], workers=1,
                instructions=ir, packets=pkts, instructions_per_pkt=None if ipp is None else round(ipp, 1),
                instr_per_pkt=None if ipp is None else round(ipp, 1), binary=path))
        # Speed relative to testpmd at equal instructions per second.
        tp_ipp = {r["system"].removeprefix("testpmd-"): r["instructions_per_pkt"] for r in mode_rows
                  if r["binary"] is None and r["instructions_per_pkt"]}
        for r in mode_rows:
            if r["binary"] is None or not r["instructions_per_pkt"]:
                continue
            r["ratios"] = {m: round(t / r["instructions_per_pkt"], 3) for m, t in tp_ipp.items()} or None
            if tp_modes[0] in tp_ipp:
                r["ratio_to_testpmd"] = r["ratios"][tp_modes[0]]
                r["ratio_testpmd_mode"] = tp_modes[0]
            if r["ratios"]:
                print(f"{mode:8s} {r['system']:14s} testpmd ÷ upf instructions/packet: "
                      + ", ".join(f"{m} {v:.3f}" for m, v in r["ratios"].items()), flush=True)
        rows += mode_rows
    doc = results.document(a.command, rows, repo=REPO, notes=notes or None,
                           method="valgrind --tool=callgrind --separate-threads=yes; forwarding thread's Ir / packets")
    path = a.out or results.default_path(os.path.join(REPO, "perf", "results"), "io-callgrind")
    results.write(path, doc)
    print(f"wrote {path}")
    shutil.rmtree(a.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
