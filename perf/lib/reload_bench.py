#!/usr/bin/env python3
"""Reload benchmark (perf/reload-bench.sh): time from SIGHUP to applied for a
reload that changes k static sessions (the QoS of the first k of a file of
`--file-sessions`), split into parse + validate, diff, and apply (translate
+ one dataplane publish), and the longest gap between two polls of the
worker around the publish (the UPF measures it per worker with the TSC and
reports it on /status, `reloads.last.max_poll_gap_us`).

`upf run` (release) on two net_null ports: net_null's receive side hands the
worker a full burst of 64-byte frames on every poll (dropped as malformed),
so the worker is busy the whole time, as under load. k = 0 (the same file
again: nothing published) is the baseline of the poll gap: the same window
(from just before the apply to the next 10 ms tick) without a publish.

Writes perf/results/reload-<stamp>.json (ARCHITECTURE.md format, bench
"reload") and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import results  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ue_ip(i: int) -> str:
    n = 2 + i  # 10.64.0.0/10 from offset 2
    return f"10.{64 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def config(n: int, changed: int, prefix: str, api: str, eal: str = "--no-huge -m 1024") -> str:
    eal_args = ", ".join('"' + x + '"' for x in eal.split())
    out = [f"# reload bench: {n} sessions, the first {changed} with the other QoS\n",
           "node_id: 192.168.1.1\n",
           f'dpdk: {{ args: [{eal_args}, "--no-pci", "--file-prefix", "{prefix}"], '
           'mbufs: 16384 }\n',
           "cores: { control: 0, workers: [1] }\n",
           "interfaces:\n",
           '  n3: { device: "net_null0", address: 192.168.1.1/24 }\n',
           '  n6: { device: "net_null1", address: 10.200.0.1/24, gateway: 10.200.0.254, '
           'neighbors: { 10.200.0.254: "02:00:00:00:00:fe" } }\n',
           f"api: {{ listen: {api} }}\n",
           "sessions:\n"]
    for i in range(n):
        q = "200Mbps" if i < changed else "100Mbps"
        out.append(f"  - {{ id: {i + 1}, ue_ip: {ue_ip(i)}, uplink: {{ teid: {0x01000000 + i:#010x} }}, "
                   f"downlink: {{ gnb: 192.168.1.2, teid: {0x02000000 + i:#010x}, qfi: 9 }}, "
                   f"qos: {{ mbr_ul: {q}, mbr_dl: {q} }} }}\n")
    return "".join(out)


def status(api: str) -> dict:
    with urllib.request.urlopen(f"http://{api}/status", timeout=5) as r:
        return json.loads(r.read())


def wait(cond, timeout: float, what: str, proc: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"reload-bench: upf exited ({proc.returncode}) while waiting for {what}:\n"
                             + open(log).read()[-2000:])
        try:
            if cond():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"reload-bench: timed out waiting for {what}")
        time.sleep(0.01)


def worker_task(pid: int) -> Optional[str]:
    """/proc/PID/task/TID of the UPF's (single) worker thread."""
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().startswith("rte-worker"):
                    return f"/proc/{pid}/task/{t}"
    except OSError:
        return None
    return None


def worker_switches(pid: int) -> Optional[int]:
    """Involuntary context switches of the UPF's worker thread so far: a
    worker preempted by another process (a shared machine) shows here, a
    worker held up by the UPF itself does not."""
    task = worker_task(pid)
    if task is None:
        return None
    try:
        with open(f"{task}/status") as f:
            for line in f:
                if line.startswith("nonvoluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def worker_faults(pid: int) -> Optional[int]:
    """Page faults (minor + major) of the UPF's worker thread so far: a
    worker that faults during a reload waits for the address space's lock,
    which the control thread's allocations and frees hold."""
    task = worker_task(pid)
    if task is None:
        return None
    try:
        with open(f"{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[7]) + int(fields[9])  # minflt, majflt (stat fields 10 and 12)
    except (OSError, ValueError, IndexError):
        return None


WORKER_CPU = 1  # cores.workers of the config below


def cpu_interrupts(cpu: int) -> Dict[str, int]:
    """Interrupts taken so far by `cpu`, by /proc/interrupts row (TLB:
    shootdowns, CAL: function calls, LOC: timer, RES: rescheduling): what
    stops a worker that the kernel did not preempt."""
    out: Dict[str, int] = {}
    try:
        with open("/proc/interrupts") as f:
            ncpu = len(f.readline().split())
            for line in f:
                parts = line.split()
                if not parts or not parts[0].endswith(":") or cpu >= ncpu or len(parts) <= cpu + 1:
                    continue
                try:
                    out[parts[0][:-1]] = int(parts[cpu + 1])
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def irq_delta(before: Dict[str, int], after: Dict[str, int]) -> Dict[str, int]:
    keys = [k for k in ("TLB", "CAL", "RES", "LOC") if k in before and k in after]
    return {k: after[k] - before[k] for k in keys}


def med(xs: List[Optional[float]]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--upf-bin", default=os.path.join(ROOT, "target", "release", "upf"))
    ap.add_argument("--file-sessions", type=int, default=100000)
    ap.add_argument("--changed", default="0,1,1000,100000", help="comma-separated k (0: baseline, nothing changes)")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--command", default="perf/reload-bench.sh")
    ap.add_argument("--eal", default="--no-huge -m 1024",
                    help="EAL memory arguments of the upf (e.g. '-m 1024' for hugepages)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    ks = [int(k) for k in a.changed.split(",")]
    n = a.file_sessions
    if max(ks) > n:
        raise SystemExit(f"reload-bench: k {max(ks)} > --file-sessions {n}")
    tmp = tempfile.mkdtemp(prefix="reload-bench.")
    prefix = f"reload-bench-{os.getpid()}"
    api = f"127.0.0.1:{free_port()}"
    cfg, log = os.path.join(tmp, "upf.yaml"), os.path.join(tmp, "upf.log")
    texts = {k: config(n, k, prefix, api, a.eal) for k in sorted(set(ks) | {0})}

    def put(text: str) -> None:
        with open(cfg + ".new", "w") as f:
            f.write(text)
        os.replace(cfg + ".new", cfg)

    put(texts[0])
    env = dict(os.environ, RUST_LOG="info")
    proc = subprocess.Popen([a.upf_bin, "run", "--config", cfg], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    rows: List[Dict] = []
    try:
        wait(lambda: status(api)["state"] == "running", 300, "the upf to run", proc, log)
        done = 0
        current = 0
        for k in ks:
            samples = []
            for rep in range(a.reps):
                # Alternate between the base file and the k-changed one: every
                # reload changes exactly k sessions (k = 0: the same file again).
                target = 0 if (current != 0 or k == 0) else k
                put(texts[target])
                sw0, pf0, irq0 = worker_switches(proc.pid), worker_faults(proc.pid), cpu_interrupts(WORKER_CPU)
                t0 = time.monotonic()
                proc.send_signal(signal.SIGHUP)
                done += 1
                wait(lambda: status(api)["reloads"]["applied"] == done, 300, f"reload {done}", proc, log)
                ext_ms = (time.monotonic() - t0) * 1000
                wait(lambda: status(api)["reloads"]["last"].get("max_poll_gap_us") is not None, 10,
                     f"reload {done}'s poll gap", proc, log)
                last = status(api)["reloads"]["last"]
                sw1, pf1, irq1 = worker_switches(proc.pid), worker_faults(proc.pid), cpu_interrupts(WORKER_CPU)
                if last.get("sessions_changed") != k:
                    raise SystemExit(f"reload-bench: expected {k} changed sessions, /status says {last}")
                current = target
                samples.append({**{x: last.get(x) for x in ("duration_ms", "parse_ms", "diff_ms", "translate_ms", "apply_ms", "publish_ms",
                                                            "max_poll_gap_us")}, "seen_by_poller_ms": ext_ms,
                                "worker_preemptions": None if sw0 is None or sw1 is None else sw1 - sw0,
                                "worker_preemptions_in_window": last.get("worker_preemptions"),
                                "worker_page_faults": None if pf0 is None or pf1 is None else pf1 - pf0,
                                "worker_cpu_interrupts": irq_delta(irq0, irq1)})
                print(f"  k={k:>6} rep {rep}: signal->applied {last['duration_ms']:8.1f} ms (parse {last['parse_ms']:.1f}, "
                      f"diff {last['diff_ms']:.1f}, translate {last.get('translate_ms') or 0:.1f}, apply {last['apply_ms']:.1f}, publish {last.get('publish_ms') or 0:.1f}), "
                      f"max poll gap {last['max_poll_gap_us']:.1f} us (worker preempted {last.get('worker_preemptions')} "
                      f"times in that window, {samples[-1]['worker_preemptions']} in the whole reload; "
                      f"worker page faults {samples[-1]['worker_page_faults']}, interrupts on its CPU "
                      f"{samples[-1]['worker_cpu_interrupts']})", flush=True)
            if current != 0:
                put(texts[0])
                proc.send_signal(signal.SIGHUP)
                done += 1
                wait(lambda: status(api)["reloads"]["applied"] == done, 300, f"reload {done}", proc, log)
                current = 0
            rows.append(results.row(
                "reload", sessions=n, sessions_changed=k, workers=1, reps=a.reps,
                signal_to_applied_ms=med([s["duration_ms"] for s in samples]),
                signal_to_applied_ms_max=max(s["duration_ms"] for s in samples),
                parse_ms=med([s["parse_ms"] for s in samples]),
                diff_ms=med([s["diff_ms"] for s in samples]),
                # On the helper thread since branch reload5 (before: in apply_ms).
                translate_ms=med([s["translate_ms"] for s in samples]),
                apply_ms=med([s["apply_ms"] for s in samples]),
                publish_ms=med([s["publish_ms"] for s in samples]),
                worker_preemptions=med([s["worker_preemptions"] for s in samples]),
                worker_preemptions_in_window=med([s["worker_preemptions_in_window"] for s in samples]),
                max_poll_gap_us_unpreempted=max((s["max_poll_gap_us"] for s in samples
                                                 if s["worker_preemptions_in_window"] == 0), default=None),
                unpreempted_windows=sum(1 for s in samples if s["worker_preemptions_in_window"] == 0),
                max_poll_gap_us=med([s["max_poll_gap_us"] for s in samples]),
                max_poll_gap_us_max=max(s["max_poll_gap_us"] for s in samples),
                samples=samples,
                topology="upf run (release), 1 worker, net_null N3/N6 (worker busy on 64 B junk frames)"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["rm", "-rf", tmp])
    base = next((r for r in rows if r["sessions_changed"] == 0), None)
    for r in rows:
        r["max_poll_gap_ratio_to_baseline"] = (r["max_poll_gap_us"] / base["max_poll_gap_us"]
                                               if base and base["max_poll_gap_us"] else None)
    doc = results.document(a.command, rows, repo=ROOT,
                           note="shared 2-vCPU machine; figures are medians of --reps reloads; "
                                "k=0 is the baseline (same file again, nothing published)")
    path = results.write(a.out or results.default_path(os.path.join(ROOT, "perf", "results"), "reload"), doc)
    print(f"\nreload: file of {n} static sessions, 1 worker; {doc['machine']}")
    print(f"{'changed':>8} {'signal->applied ms':>19} {'parse ms':>9} {'diff ms':>8} {'apply ms':>9} {'publish ms':>10} "
          f"{'max poll gap us':>16} {'gap / k=0':>9} {'gap us, windows w/o preemption':>31}")
    def unpre(r: Dict) -> str:
        g = r["max_poll_gap_us_unpreempted"]
        return f"{'-' if g is None else f'{g:.1f}'} ({r['unpreempted_windows']} of {r['reps']})"

    for r in rows:
        ratio = r["max_poll_gap_ratio_to_baseline"]
        print(f"{r['sessions_changed']:>8} {r['signal_to_applied_ms']:>19.1f} {r['parse_ms']:>9.1f} {r['diff_ms']:>8.1f} "
              f"{r['apply_ms']:>9.1f} {r['publish_ms'] or 0:>10.1f} {r['max_poll_gap_us']:>16.1f} "
              f"{ratio if ratio is not None else float('nan'):>9.2f} "
              f"{unpre(r):>31}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
