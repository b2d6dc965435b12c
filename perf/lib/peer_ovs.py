#!/usr/bin/env python3
"""Measurement helpers of perf/peer-ovs.sh: rate windows for OVS-DPDK, testpmd and the upf, and the report.

The shell script owns the set-up and the clean-up of OVS; this module samples
a packet counter over the same windows for every system (warm-up, then N
windows of S seconds, Mpps per window from counter deltas and monotonic
timestamps) and prints one JSON line per run. `report` turns the lines into
the table, the results JSON (ARCHITECTURE.md format, bench "peer-ovs") and a
bar chart. Standard library only, except matplotlib for the chart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402

_REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class NotMeasured(Exception):
    """The system could not be measured; the message says why (it goes into the table)."""


def windows(read: Callable[[], int], warmup_s: float, n: int, window_s: float) -> Tuple[List[float], int]:
    """Mpps of each window; `read` returns a cumulative packet counter."""
    time.sleep(warmup_s)

    def sample() -> Tuple[float, int]:
        t0 = time.monotonic()
        c = read()
        return (t0 + time.monotonic()) / 2, c

    t_prev, c_prev = sample()
    start, rates = t_prev, []
    for k in range(1, n + 1):
        delay = start + k * window_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t, c = sample()
        rates.append((c - c_prev) / (t - t_prev) / 1e6)
        t_prev, c_prev = t, c
    return rates, c_prev


# --------------------------------------------------------------------------- OVS


def ovs_pmd_received(appctl: List[str]) -> int:
    out = subprocess.run(appctl + ["dpif-netdev/pmd-stats-show"], capture_output=True, text=True, check=True, timeout=10).stdout
    total, in_pmd = 0, False
    for line in out.splitlines():
        if line.startswith("pmd thread"):
            in_pmd = True
        elif line.startswith("main thread"):
            in_pmd = False
        m = re.match(r"\s+packets received:\s+(\d+)", line)
        if m and in_pmd:
            total += int(m.group(1))
    return total


def ovs_avg_cycles(appctl: List[str]) -> Optional[float]:
    out = subprocess.run(appctl + ["dpif-netdev/pmd-stats-show"], capture_output=True, text=True, check=True, timeout=10).stdout
    m = re.search(r"avg processing cycles per packet:\s+([0-9.]+)", out)
    return float(m.group(1)) if m else None


def cmd_ovs(a: argparse.Namespace) -> dict:
    appctl = ["ovs-appctl", "-t", a.ctl]
    subprocess.run(appctl + ["revalidator/purge"], check=True, capture_output=True, timeout=10)
    # The first seconds go to upcalls (one megaflow per TEID): clear after the warm-up.
    time.sleep(a.warmup)
    subprocess.run(appctl + ["dpif-netdev/pmd-stats-clear"], check=True, capture_output=True, timeout=10)
    rates, _ = windows(lambda: ovs_pmd_received(appctl), 0.2, a.windows, a.window_s)
    return {"window_mpps": rates, "ovs_avg_processing_cycles_per_pkt": ovs_avg_cycles(appctl)}


# --------------------------------------------------------------------------- testpmd


class Interactive:
    """A child driven through stdin with a prompt (testpmd -i), output collected by a thread."""

    def __init__(self, argv: List[str], prompt: str, pidfile: Optional[str], log: Optional[str]):
        self.prompt = prompt
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        if pidfile:
            with open(pidfile, "a") as f:
                f.write(f"{self.p.pid}\n")
        self.buf = bytearray()
        self.cv = threading.Condition()
        self.log = open(log, "ab") if log else None
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        assert self.p.stdout is not None
        fd = self.p.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            with self.cv:
                if not chunk:
                    self.cv.notify_all()
                    return
                self.buf += chunk
                if self.log:
                    self.log.write(chunk)
                    self.log.flush()
                self.cv.notify_all()

    def wait_prompt(self, since: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.prompt.encode() not in self.buf[since:]:
                if self.p.poll() is not None:
                    raise NotMeasured(f"exited with status {self.p.returncode}: {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotMeasured(f"no prompt within {timeout:g} s: {self.tail()}")
                self.cv.wait(min(left, 0.5))
            return self.buf[since:].decode(errors="replace")

    def cmd(self, line: str, timeout: float = 10.0) -> str:
        with self.cv:
            since = len(self.buf)
        assert self.p.stdin is not None
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        return self.wait_prompt(since, timeout)

    def tail(self) -> str:
        lines = [x for x in self.buf.decode(errors="replace").splitlines() if x.strip()]
        return " | ".join(lines[-3:])[-400:]

    def close(self, quit_cmd: str = "quit") -> None:
        if self.p.poll() is None:
            try:
                assert self.p.stdin is not None
                self.p.stdin.write((quit_cmd + "\n").encode())
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.p)
        if self.log:
            self.log.close()


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def cmd_testpmd(a: argparse.Namespace) -> dict:
    # stdbuf: testpmd prints command output through stdio, which a pipe would buffer past the prompt.
    argv = ["stdbuf", "-o0", "-e0", a.testpmd, "-l", a.lcores, "--no-huge", "-m", str(a.mem), "--no-pci", "--file-prefix", a.file_prefix,
            "--vdev", f"net_pcap0,rx_pcap={a.pcap},infinite_rx=1", "--vdev", "net_null0,no-rx=1", "--",
            "-i", "--forward-mode=io", f"--total-num-mbufs={a.mbufs}", "--nb-cores=1"]
    tp = Interactive(argv, "testpmd> ", a.pidfile, a.log)
    try:
        tp.wait_prompt(0, 60)
        tp.cmd("start")

        def tx_null() -> int:
            out = tp.cmd("show port stats 1")
            m = re.search(r"TX-packets:\s+(\d+)", out)
            if not m:
                raise NotMeasured(f"no TX-packets in testpmd output: {out[-200:]!r}")
            return int(m.group(1))

        rates, _ = windows(tx_null, a.warmup, a.windows, a.window_s)
        tp.cmd("stop", timeout=20)
    finally:
        tp.close()
        remove_runtime_dir(a.file_prefix)
    return {"window_mpps": rates}


def remove_runtime_dir(prefix: str) -> None:
    """EAL leaves /var/run/dpdk/<file-prefix> behind (or under $XDG_RUNTIME_DIR when not root)."""
    import shutil

    for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "dpdk")):
        d = os.path.join(base, prefix)
        if prefix and os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- upf


PROM_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN|[+-]Inf)')


def prometheus(url: str) -> Dict[str, float]:
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    out: Dict[str, float] = {}
    for line in text.splitlines():
        m = PROM_RE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metric(m: Dict[str, float], name: str, **labels: str) -> Optional[float]:
    """Sum of the samples of `name` whose labels include `labels` (label order and extra labels ignored)."""
    total, found = 0.0, False
    for key, v in m.items():
        base, _, lab = key.partition("{")
        if base != name:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', lab))
        if all(pairs.get(k) == val for k, val in labels.items()):
            total, found = total + v, True
    return total if found else None


def cmd_upf(a: argparse.Namespace) -> dict:
    if not a.bin or not os.path.isfile(a.bin) or not os.access(a.bin, os.X_OK):
        raise NotMeasured(f"no upf binary at {a.bin or '(unset)'}: cargo build --release -p upf, or pass --upf-bin")
    chk = subprocess.run([a.bin, "check", "--config", a.config], capture_output=True, text=True, timeout=60)
    if chk.returncode != 0:
        first = (chk.stderr.strip() or chk.stdout.strip()).splitlines()[:1]
        raise NotMeasured(f"`upf check` rejects the generated config (status {chk.returncode}): {first[0] if first else 'no message'}")
    url = f"http://{a.api}/metrics"
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    p = subprocess.Popen([a.bin, "run", "--config", a.config], stdout=log, stderr=log, start_new_session=True,
                         env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")})
    if a.pidfile:
        with open(a.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
    try:
        deadline = time.monotonic() + a.start_timeout
        m = None
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise NotMeasured(f"`upf run` exited with status {p.returncode} before serving {url}{log_tail(a.log)}")
            try:
                m = prometheus(url)
                break
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.2)
        if m is None:
            raise NotMeasured(f"`upf run` did not serve {url} within {a.start_timeout:g} s{log_tail(a.log)}")
        for name, labels in (("upf_tx_packets_total", {"interface": "n6"}), ("upf_rx_packets_total", {"interface": "n3"})):
            if metric(m, name, **labels) is None:
                raise NotMeasured(f"{url} has no {name}{{interface=\"{labels['interface']}\"}} (Contract metric)")

        def n6_tx() -> int:
            if p.poll() is not None:
                raise NotMeasured(f"`upf run` exited with status {p.returncode} while measuring{log_tail(a.log)}")
            return int(metric(prometheus(url), "upf_tx_packets_total", interface="n6") or 0)

        before = prometheus(url)
        rates, _ = windows(n6_tx, a.warmup, a.windows, a.window_s)
        after = prometheus(url)
        rx = (metric(after, "upf_rx_packets_total", interface="n3") or 0) - (metric(before, "upf_rx_packets_total", interface="n3") or 0)
        tx = (metric(after, "upf_tx_packets_total", interface="n6") or 0) - (metric(before, "upf_tx_packets_total", interface="n6") or 0)
        drops = {k: v - before.get(k, 0.0) for k, v in after.items() if k.startswith("upf_dropped_packets_total") and v - before.get(k, 0.0) > 0}
        if tx <= 0:
            raise NotMeasured(f"forwards nothing: N3 received {rx:.0f} packets, N6 sent 0 (drops: {drops or 'none counted'})")
        return {"window_mpps": rates, "n3_rx_packets": rx, "n6_tx_packets": tx, "drops": drops}
    finally:
        stop(p)
        if log is not subprocess.DEVNULL:
            log.close()


def log_tail(path: Optional[str]) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        lines = [x.strip() for x in f.read().splitlines() if x.strip()]
    return f" (log: {lines[-1][:200]})" if lines else " (log empty)"


# --------------------------------------------------------------------------- report


def summarize(rates: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def cmd_report(a: argparse.Namespace) -> None:
    with open(a.rows) as f:
        runs = [json.loads(x) for x in f if x.strip()]
    mach = results.machine()
    mhz = mach.get("mhz")
    sizes = sorted({r["frame_bytes"] for r in runs})
    out_rows, table, chart = [], [], []
    for size in sizes:
        at = [r for r in runs if r["frame_bytes"] == size]

        def summary(r):
            return summarize(r["window_mpps"]) if r.get("window_mpps") else None

        ovs_runs = [r for r in at if r["system"] == "ovs"]
        ovs_best = max((r for r in ovs_runs if summary(r)), key=lambda r: summary(r)["median"], default=None)
        tp = next((r for r in at if r["system"] == "testpmd"), None)
        upf = next((r for r in at if r["system"] == "upf"), None)
        ovs_m = summary(ovs_best)["median"] if ovs_best else None
        tp_m = summary(tp)["median"] if tp and summary(tp) else None
        for r in [*ovs_runs, tp, upf]:
            if r is None:
                continue
            s = summary(r)
            med = s["median"] if s else None
            row = results.row(
                "peer-ovs", system=r["system"], direction="ul", sessions=r["sessions"], inner_bytes=r["frame_bytes"] - r["overhead"],
                frame_bytes=r["frame_bytes"], workers=1, psc=r["psc"],
                mpps=None if med is None else round(med, 4),
                mpps_min=None if not s else round(s["min"], 4), mpps_max=None if not s else round(s["max"], 4),
                window_mpps=[round(x, 4) for x in r.get("window_mpps", [])],
                cycles_per_pkt=None if not med or not mhz else round(mhz / med, 1),
                ratio_to_testpmd=None if med is None or not tp_m else round(med / tp_m, 4),
                loss=None, note=r.get("not_measured"),
            )
            if r["system"] == "ovs":
                row["used_for_ratio"] = r is ovs_best
                row["ovs_avg_processing_cycles_per_pkt"] = r.get("ovs_avg_processing_cycles_per_pkt")
            if r["system"] == "upf":
                row["ratio_to_ovs"] = None if med is None or not ovs_m else round(med / ovs_m, 4)
                for k in ("n3_rx_packets", "n6_tx_packets", "drops"):
                    if k in r:
                        row[k] = r[k]
            out_rows.append(row)
        ovs_shown = ovs_best or (ovs_runs[0] if ovs_runs else None)
        for label, r in (("OVS-DPDK" + ("" if not ovs_best else (" (PSC)" if ovs_best["psc"] else " (no PSC)")), ovs_shown), ("upf", upf), ("testpmd io", tp)):
            s = summary(r) if r else None
            reason = (r or {}).get("not_measured") or ("not run" if r is None else None)
            table.append((size, label, s, reason))
            chart.append((size, label.split(" (")[0], s))
        for r in ovs_runs:
            if r is not ovs_best and summary(r):
                table.append((size, "OVS-DPDK" + (" (PSC)" if r["psc"] else " (no PSC)") + " [not used]", summary(r), None))
    # The table
    print()
    print(f"{'frame':>6}  {'system':<30} {'median':>8} {'min':>8} {'max':>8}   Mpps")
    for size, label, s, reason in table:
        if s:
            print(f"{size:>5}B  {label:<30} {s['median']:8.3f} {s['min']:8.3f} {s['max']:8.3f}")
        else:
            print(f"{size:>5}B  {label:<30} {'-':>8} {'-':>8} {'-':>8}   {label.split(' ')[0]}: not measured ({reason})")
    for size in sizes:
        upf_row = next((r for r in out_rows if r["frame_bytes"] == size and r["system"] == "upf"), None)
        if upf_row is None or upf_row["mpps"] is None:
            print(f"{size:>5}B  ratios upf÷OVS, upf÷testpmd: n/a (upf not measured)")
        else:
            print(f"{size:>5}B  upf÷OVS = {upf_row['ratio_to_ovs']}, upf÷testpmd = {upf_row['ratio_to_testpmd']}")
    print(f"machine: {mach['cpu']}, {mach['cores']} cores (shared with other work: figures are noisy)")
    doc = results.document(a.command, out_rows, repo=_REPO)
    path = a.out or results.default_path(os.path.join(_REPO, "perf", "results"), "peer-ovs")
    results.write(path, doc)
    print(f"results: {path}")
    if a.png:
        try:
            plot(chart, a.png, mach, doc["date"])
            print(f"chart: {a.png}")
        except ImportError:
            print("chart: skipped (python3-matplotlib missing)")


def plot(chart, path, mach, date) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({c[0] for c in chart})
    systems = ["OVS-DPDK", "upf", "testpmd io"]
    colors = {"OVS-DPDK": "#8c8c8c", "upf": "#1f77b4", "testpmd io": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    width = 0.26
    for j, sysname in enumerate(systems):
        for i, size in enumerate(sizes):
            s = next((c[2] for c in chart if c[0] == size and c[1] == sysname), None)
            x = i + (j - 1) * width
            if s:
                ax.bar(x, s["median"], width, color=colors[sysname], label=sysname if i == 0 else None,
                       yerr=[[s["median"] - s["min"]], [s["max"] - s["median"]]], capsize=3)
                ax.text(x, s["max"], f"{s['median']:.2f}", ha="center", va="bottom", fontsize=8)
            else:
                ax.bar(x, 0, width, color=colors[sysname], label=sysname if i == 0 else None)
                ax.text(x, 0, "not\nmeasured", ha="center", va="bottom", fontsize=7, color=colors[sysname])
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([f"{s} B G-PDUs" for s in sizes])
    ax.set_ylabel("Mpps, one core (median, min–max)")
    ax.set_title("GTP-U decap, 1 core, net_pcap source\n" + f"{mach['cpu']}, shared machine, {date}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


# --------------------------------------------------------------------------- CLI


def main() -> int:
    ap = argparse.ArgumentParser(prog="peer_ovs.py")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--warmup", type=float, default=2.0)
        p.add_argument("--windows", type=int, default=5)
        p.add_argument("--window-s", type=float, default=2.0)
        p.add_argument("--tag", type=json.loads, default={}, help="JSON fields copied into the output line")
        p.add_argument("--rows", required=True, help="JSON-lines file to append the run to")

    p = sub.add_parser("ovs")
    common(p)
    p.add_argument("--ctl", required=True, help="ovs-vswitchd unixctl socket")
    p = sub.add_parser("testpmd")
    common(p)
    p.add_argument("--testpmd", default="dpdk-testpmd")
    p.add_argument("--pcap", required=True)
    p.add_argument("--lcores", default="0,1")
    p.add_argument("--mem", type=int, default=512)
    p.add_argument("--mbufs", type=int, default=32768)
    p.add_argument("--file-prefix", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--log")
    p = sub.add_parser("upf")
    common(p)
    p.add_argument("--bin")
    p.add_argument("--config", required=True)
    p.add_argument("--api", required=True, help="host:port of the upf API (api.listen)")
    p.add_argument("--start-timeout", type=float, default=30.0)
    p.add_argument("--pidfile")
    p.add_argument("--log")
    p = sub.add_parser("report")
    p.add_argument("--rows", required=True)
    p.add_argument("--out")
    p.add_argument("--png")
    p.add_argument("--command", default="perf/peer-ovs.sh")
    a = ap.parse_args()

    if a.cmd == "report":
        cmd_report(a)
        return 0
    fn = {"ovs": cmd_ovs, "testpmd": cmd_testpmd, "upf": cmd_upf}[a.cmd]
    line = dict(a.tag)
    try:
        line.update(fn(a))
        s = summarize(line["window_mpps"])
        print(f"  {line.get('system', a.cmd)} {line.get('frame_bytes', '')} B{'' if line.get('psc', True) else ' no-PSC'}: "
              f"median {s['median']:.3f} Mpps (min {s['min']:.3f}, max {s['max']:.3f}) over {len(line['window_mpps'])} windows")
    except NotMeasured as e:
        line["not_measured"] = str(e)
        print(f"  {line.get('system', a.cmd)}: not measured ({e})")
    except (subprocess.SubprocessError, OSError) as e:
        line["not_measured"] = f"{type(e).__name__}: {e}"
        print(f"  {line.get('system', a.cmd)}: not measured ({line['not_measured']})")
    with open(a.rows, "a") as f:
        f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
