#!/usr/bin/env python3
"""End-to-end bench driver of perf/e2e-bench.sh: loadgen through a device under test over memif.

For each round and each system (testpmd io, testpmd macswap, the upf), in an
order that alternates between rounds:

1. loadgen (perf/loadgen) starts as the memif *server* of two links (N3, N6;
   sockets in a temp dir, ring size 2^rsize), --no-huge, on CPU 0, and says
   when its ports are started (--ready-file);
2. the device under test starts as the memif *client* of both links, its
   forwarding lcore on CPU 1: `dpdk-testpmd --forward-mode=io|macswap`, or
   `upf run --config` on a config that perf/gen/sessions.py writes for the
   same session plan (one worker, QER with a 100 Gbps MBR and URR on every
   session, N3/N6 on the memif links, N6 gateway = loadgen's MAC);
3. loadgen runs the NDR search, the PDR search, the latency trial at 50 %
   of NDR and latency trials at fixed rates (--latency-mpps: the same
   absolute load for every system, so that their latencies compare; 50 % of
   each one's own NDR is a different load per system), measuring the
   device's worker threads' CPU time per trial, writes its JSON, then waits
   (--linger-s) for the device to disconnect;
4. the device is stopped (SIGINT), then loadgen exits.

The upf's figures are reported as ratios to testpmd io of the same round
(median over rounds), plus the CPU-normalised ratio (received Mpps per CPU
second of the device's worker in the overload trial), which a shared machine
distorts less. When the upf cannot be measured (no binary, `upf check`
rejects the config, `upf run` exits or serves no metrics, the memif links
never come up, nothing comes back), the row says "not measured (reason)";
no figure is ever invented. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from typing import Dict, List, Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, _HERE)
import results  # noqa: E402
from peer_ovs import metric, prometheus  # noqa: E402

SYSTEMS = ("testpmd-io", "testpmd-macswap", "upf")
# Locally administered MACs of the four memif ports: loadgen's end, the device's end.
LG_MAC = {"n3": "02:00:00:00:33:02", "n6": "02:00:00:00:66:02"}
DUT_MAC = {"n3": "02:00:00:00:33:01", "n6": "02:00:00:00:66:01"}
EXIT_NOTHING_BACK = 3
TARGET_RATIO = 0.70
TARGET_P99_US = 10.0


class NotMeasured(Exception):
    """The system could not be measured; the message says why."""


class Procs:
    """Every process we start, stopped by PID on every exit path."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen] = []
        self.prefixes: List[str] = []

    def start(self, argv: List[str], log: str, env: Optional[dict] = None) -> subprocess.Popen:
        f = open(log, "ab")
        # A session of its own: its own scheduler autogroup, so that the
        # generator and the device each get a fair share of a shared machine.
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, start_new_session=True, env=env)
        f.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 10.0) -> Optional[int]:
        if p.poll() is None:
            p.send_signal(sig)
            try:
                return p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                return p.wait(timeout=10)
        return p.returncode

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            self.stop(p, signal.SIGTERM, 5.0)
        for prefix in self.prefixes:
            for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "dpdk")):
                d = os.path.join(base, prefix)
                if os.path.isdir(d):
                    shutil.rmtree(d, ignore_errors=True)


def wait_until(cond, timeout: float, what: str, alive: Optional[subprocess.Popen] = None, log: Optional[str] = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if alive is not None and alive.poll() is not None:
            raise NotMeasured(f"{what}: the process exited with status {alive.returncode}{tail(log)}")
        if time.monotonic() > deadline:
            raise NotMeasured(f"{what}: not within {timeout:g} s{tail(log)}")
        time.sleep(0.1)


def tail(path: Optional[str], pattern: str = "") -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        lines = [x.strip() for x in f.read().splitlines() if x.strip() and pattern in x]
    return f" (log: {lines[-1][:300]})" if lines else ""


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def memif(idx: int, path: str, mac: str, role: str, rsize: int) -> str:
    return f"net_memif{idx},role={role},socket={path},socket-abstract=no,rsize={rsize},mac={mac}"


def run_one(a: argparse.Namespace, system: str, rnd: int, tmp: str, procs: Procs) -> dict:
    """One system, one round: loadgen's results document, or NotMeasured."""
    d = os.path.join(tmp, f"r{rnd}-{system}")
    os.makedirs(d)
    tag = f"e2e-{os.getpid()}-r{rnd}-{system}"
    lg_prefix, dut_prefix = f"{tag}-lg", f"{tag}-dut"
    procs.prefixes += [lg_prefix, dut_prefix]
    socks = {s: os.path.join(d, f"{s}.sock") for s in ("n3", "n6")}
    lg_log, dut_log = os.path.join(d, "loadgen.log"), os.path.join(d, "dut.log")
    out, ready, pidfile = os.path.join(d, "loadgen.json"), os.path.join(d, "ready"), os.path.join(d, "dut.pid")

    # --- the device's command line (and, for the upf, checks before anything runs)
    api = None
    if system.startswith("testpmd"):
        mode = system.split("-", 1)[1]
        dut = [a.testpmd, "--lcores", f"0@0,1@{a.dut_cpu}", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", dut_prefix,
               "--vdev", memif(0, socks["n3"], DUT_MAC["n3"], "client", a.rsize),
               "--vdev", memif(1, socks["n6"], DUT_MAC["n6"], "client", a.rsize),
               "--", f"--forward-mode={mode}", "--total-num-mbufs=16384", "--stats-period", "3600"]
        expect, threads = "passthrough", "rte-worker"
    else:
        if not a.upf_bin or not (os.path.isfile(a.upf_bin) and os.access(a.upf_bin, os.X_OK)):
            raise NotMeasured(f"no upf binary at {a.upf_bin}: cargo build --release -p upf, or pass --upf-bin")
        api = f"127.0.0.1:{free_port()}"
        cfg = os.path.join(d, "upf.yaml")
        gen = [sys.executable, os.path.join(_REPO, "perf", "gen", "sessions.py"), "config", "--sessions", str(a.sessions),
               "--qfi", str(a.qfi), "--full", "--out", cfg,
               "--n3-device", memif(0, socks["n3"], DUT_MAC["n3"], "client", a.rsize),
               "--n6-device", memif(1, socks["n6"], DUT_MAC["n6"], "client", a.rsize),
               "--gateway-mac", LG_MAC["n6"], "--mbufs", "65536", "--control-core", "0", "--workers", str(a.dut_cpu),
               "--api-listen", api, "--mbr-ul", "100Gbps", "--mbr-dl", "100Gbps"]
        if a.sessions > 65533:
            gen += ["--ue-pool", "10.64.0.0/10"]
        for arg in ("--no-huge", "-m", "1024", "--no-pci", "--file-prefix", dut_prefix):
            gen.append(f"--dpdk-arg={arg}")
        g = subprocess.run(gen, capture_output=True, text=True, timeout=300)
        if g.returncode != 0:
            raise NotMeasured(f"sessions.py could not write the config: {g.stderr.strip()[-300:]}")
        chk = subprocess.run([a.upf_bin, "check", "--config", cfg], capture_output=True, text=True, timeout=120)
        if chk.returncode != 0:
            first = (chk.stderr.strip() or chk.stdout.strip()).splitlines()[:1]
            raise NotMeasured(f"`upf check` rejects the generated config (status {chk.returncode}): {first[0] if first else 'no message'}")
        dut = [a.upf_bin, "run", "--config", cfg]
        expect, threads = "upf", a.upf_threads

    # --- loadgen first: it is the memif server
    lg = [a.loadgen_bin,
          "--n3", memif(0, socks["n3"], LG_MAC["n3"], "server", a.rsize),
          "--n6", memif(1, socks["n6"], LG_MAC["n6"], "server", a.rsize),
          "--n3-peer-mac", DUT_MAC["n3"], "--n6-peer-mac", DUT_MAC["n6"],
          "--sessions", str(a.sessions), "--qfi", str(a.qfi), "--inner-bytes", str(a.inner_bytes),
          "--traffic", a.traffic, "--expect", expect, "--mode", "search",
          "--min-mpps", str(a.min_mpps), "--max-mpps", str(a.max_mpps), "--precision", str(a.precision),
          "--trial-s", str(a.trial_s), "--final-s", str(a.final_s), "--latency-s", str(a.latency_s),
          "--warmup-s", str(a.warmup_s), "--drain-ms", str(a.drain_ms),
          "--link-timeout-s", str(a.link_timeout), "--ready-file", ready, "--linger-s", "30",
          "--dut-pidfile", pidfile, "--dut-threads", threads, "--json", out, "--label", system]
    if a.sessions > 65533:
        lg += ["--ue-pool", "10.64.0.0/10"]
    if a.loadgen_rx_lcore is not None:
        lg += ["--rx-lcore", str(a.loadgen_rx_lcore)]
    if a.latency_mpps:
        lg += ["--latency-mpps", a.latency_mpps]
    lg += ["--", "--lcores", a.loadgen_lcores, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", lg_prefix]
    lgp = procs.start(lg, lg_log)
    wait_until(lambda: os.path.exists(ready), 120, "loadgen did not start its ports", lgp, lg_log)

    # --- then the device (it writes its own PID: loadgen measures its worker threads)
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    dutp = procs.start(["sh", "-c", f'echo $$ > "{pidfile}"; exec "$@"', "dut"] + dut, dut_log, env=env)
    before = None
    try:
        if api:
            url = f"http://{api}/metrics"

            def served() -> bool:
                nonlocal before
                try:
                    before = prometheus(url)
                    return True
                except (urllib.error.URLError, OSError, ValueError):
                    return False
            wait_until(served, a.upf_start_timeout, f"`upf run` did not serve {url}", dutp, dut_log)
            for name, labels in (("upf_rx_packets_total", {"interface": "n3"}), ("upf_tx_packets_total", {"interface": "n6"})):
                if metric(before, name, **labels) is None:
                    raise NotMeasured(f"{url} has no {name}{{interface=\"{labels['interface']}\"}} (Contract metric)")

        def finished() -> bool:
            return os.path.exists(out) or lgp.poll() is not None
        deadline = time.monotonic() + a.run_timeout
        while not finished():
            if dutp.poll() is not None and not os.path.exists(out):
                raise NotMeasured(f"the device exited with status {dutp.returncode} during the run{tail(dut_log)}")
            if time.monotonic() > deadline:
                raise NotMeasured(f"loadgen did not finish within {a.run_timeout} s{tail(lg_log)}")
            time.sleep(0.2)
        after = None
        if api:
            try:
                after = prometheus(f"http://{api}/metrics")
            except (urllib.error.URLError, OSError, ValueError):
                after = None
    finally:
        # The device stops first (DPDK 22.11 can crash stopping a memif
        # port whose peer is gone); loadgen sees its links go down and exits
        # by itself.
        dut_rc = procs.stop(dutp)
        lg_rc = None
        if os.path.exists(out):
            try:
                lg_rc = lgp.wait(timeout=45)
            except subprocess.TimeoutExpired:
                pass
        if lg_rc is None:
            lg_rc = procs.stop(lgp, signal.SIGINT, 10.0)
    upf_counters = None
    if before is not None and after is not None:
        keys = [("upf_rx_packets_total", "n3"), ("upf_tx_packets_total", "n6"), ("upf_rx_packets_total", "n6"), ("upf_tx_packets_total", "n3")]
        upf_counters = {f"{n}{{{i}}}": (metric(after, n, interface=i) or 0) - (metric(before, n, interface=i) or 0) for n, i in keys}
        upf_counters["drops"] = {k: v - before.get(k, 0.0) for k, v in after.items()
                                 if k.startswith("upf_dropped_packets_total") and v - before.get(k, 0.0) > 0}
    if lg_rc == EXIT_NOTHING_BACK:
        why = "forwards nothing: " + (tail(lg_log, "nothing came back")[7:-1].replace("loadgen: ", "")
                                      or "no frame came back in the warm-up trial")
        if upf_counters:
            why += f" (upf counters during the run: {json.dumps(upf_counters)})"
        raise NotMeasured(why)
    if not os.path.exists(out):
        down = tail(lg_log, "link down after")
        if down and system == "upf":
            raise NotMeasured(f"its memif links never came up within {a.link_timeout:g} s: the upf did not connect "
                              f"to loadgen's memif sockets as a client (does it open its N3/N6 devices yet?)")
        err = tail(lg_log, "loadgen: error") or tail(lg_log)
        raise NotMeasured(f"loadgen failed (status {lg_rc}){err}")
    with open(out) as f:
        doc = json.load(f)
    doc["dut_exit_status"] = dut_rc
    doc["loadgen_exit_status"] = lg_rc
    doc["upf_counters"] = upf_counters
    return doc


def row_of(doc: dict, search: str) -> Optional[dict]:
    return next((r for r in doc.get("results", []) if r.get("search") == search), None)


def overload_capacity(ndr: dict) -> Optional[float]:
    """Received Mpps per CPU-second of the device's workers in the first search trial, if it lost packets (overloaded)."""
    trials = ndr.get("trials") or []
    if not trials:
        return None
    t = trials[0]
    if t.get("loss", 0) > 0.001 and t.get("rx_mpps_per_dut_cpu"):
        return t["rx_mpps_per_dut_cpu"]
    return None


def latency_cdf(ndr: dict) -> Optional[Dict[str, list]]:
    """The latency trial's CDF points per direction ([percentile, us] pairs, loadgen >= the `cdf` field)."""
    per = (ndr.get("latency") or {}).get("per_direction") or {}
    out = {d: l["cdf"] for d, l in per.items() if isinstance(l, dict) and l.get("cdf")}
    return out or None


def latency_rates(ndr: dict) -> Dict[float, dict]:
    """The latency trials at fixed rates of one round (loadgen --latency-mpps), by rate per direction."""
    return {float(x["at_mpps_per_direction"]): x for x in ndr.get("latency_at_rates") or []
            if x.get("at_mpps_per_direction") is not None}


def cpu_run(x: Optional[dict]) -> Optional[float]:
    return x.get("run") if isinstance(x, dict) else None


def at_rates_summary(docs_rates: List[Dict[float, dict]], base_rates: Optional[List[Dict[float, dict]]]) -> List[dict]:
    """Per rate: medians over rounds of the worst direction's p50/p99/p99.9/max and of the device's CPU share in
    the trial; with `base_rates` (testpmd io's rounds), p50 and p99 ratios paired by round."""
    rates = sorted({r for d in docs_rates for r in d})
    out = []
    for r in rates:
        got = [d.get(r) for d in docs_rates]
        row = {"mpps_per_direction": r, "rounds": sum(1 for g in got if g)}
        for k in ("p50_us", "p99_us", "p999_us", "max_us", "loss"):
            row[k] = med([g.get(k) if g else None for g in got])
        row["dut_cpu_share"] = med([cpu_run(g.get("dut_cpu")) if g else None for g in got])
        if base_rates is not None:
            base = [b.get(r) for b in base_rates] + [None] * max(0, len(got) - len(base_rates))
            for k in ("p50_us", "p99_us"):
                row[f"{k[:-3]}_ratio_to_testpmd"] = paired_ratio([g.get(k) if g else None for g in got],
                                                                 [b.get(k) if b else None for b in base])
        out.append(row)
    return out


def median_round_cdf(p99s: List[Optional[float]], cdfs: List[Optional[dict]]) -> Optional[dict]:
    """The CDF of the round whose p99 is the median one (the round the row's p99 comes from, for odd counts)."""
    have = [(p, c) for p, c in zip(p99s, cdfs) if p is not None and c]
    if not have:
        return None
    have.sort(key=lambda x: x[0])
    return have[(len(have) - 1) // 2][1]


def med(xs: List[Optional[float]]) -> Optional[float]:
    v = [x for x in xs if x is not None]
    return round(statistics.median(v), 6) if v else None


def paired_ratio(cand: List[Optional[float]], base: List[Optional[float]]) -> Optional[float]:
    r = [c / b for c, b in zip(cand, base) if c is not None and b]
    return round(statistics.median(r), 4) if r else None


def summarize(a: argparse.Namespace, runs: Dict[str, List[dict]]) -> List[dict]:
    """One NDR and one PDR row per system; the upf's carry ratios to testpmd io of the same rounds."""
    per: Dict[str, dict] = {}
    for system in SYSTEMS:
        docs = runs.get(system, [])
        s = {"ndr": [], "pdr": [], "p50": [], "p99": [], "p999": [], "max": [], "cap": [], "limited": 0,
             "dut_cpu": [], "cdf": [], "lat_cpu": [], "at_rates": [], "not_measured": [d["not_measured"] for d in docs if "not_measured" in d], "rounds": []}
        for d in docs:
            if "not_measured" in d:
                s["ndr"].append(None), s["pdr"].append(None), s["cap"].append(None)
                for k in ("p50", "p99", "p999", "max"):
                    s[k].append(None)
                s["lat_cpu"].append(None), s["at_rates"].append({})
                continue
            n, p = row_of(d, "ndr") or {}, row_of(d, "pdr") or {}
            s["ndr"].append(n.get("mpps"))
            s["pdr"].append(p.get("mpps"))
            s["p50"].append(n.get("p50_us")), s["p99"].append(n.get("p99_us")), s["p999"].append(n.get("p999_us")), s["max"].append(n.get("max_us"))
            s["cap"].append(overload_capacity(n))
            s["cdf"].append(latency_cdf(n))
            s["lat_cpu"].append(cpu_run((n.get("latency") or {}).get("dut_cpu")))
            s["at_rates"].append(latency_rates(n))
            s["limited"] += int(bool(n.get("generator_limited")))
            shares = [t["dut_cpu"]["run"] for t in n.get("trials", []) if t.get("dut_cpu")]
            s["dut_cpu"].append(round(statistics.median(shares), 3) if shares else None)
            s["rounds"].append({"ndr_mpps": n.get("mpps"), "pdr_mpps": p.get("mpps"), "p99_us": n.get("p99_us"),
                                "mpps_per_dut_cpu_overload": overload_capacity(n), "generator_limited": n.get("generator_limited"),
                                "dut_exit_status": d.get("dut_exit_status"), "loadgen_exit_status": d.get("loadgen_exit_status"),
                                "upf_counters": d.get("upf_counters")})
        per[system] = s

    base = per["testpmd-io"]
    rows = []
    machine_note = "shared 2-core machine: generator, device and other work compete; compare ratios of the same round"
    for system in SYSTEMS:
        s = per[system]
        measured = any(x is not None for x in s["ndr"])
        bench = "e2e" if system == "upf" else "testpmd"
        for search, key in (("ndr", "ndr"), ("pdr", "pdr")):
            r = results.row(bench, system=system, direction=a.traffic.replace("bidir", "ul+dl"), sessions=a.sessions,
                            inner_bytes=a.inner_bytes, workers=1, search=search)
            r["mpps"] = med(s[key])
            r["samples_mpps"] = s[key]
            r["loss"] = 0.0 if search == "ndr" and r["mpps"] is not None else None
            r["max_loss"] = 0.0 if search == "ndr" else 0.005
            if search == "ndr":
                r["p50_us"], r["p99_us"], r["p999_us"] = med(s["p50"]), med(s["p99"]), med(s["p999"])
                r["max_us"] = med(s["max"])
                r["latency_at"] = "50 % of NDR (median over rounds of the worst direction)"
                r["latency_cdf"] = median_round_cdf(s["p99"], s["cdf"])
                # The device's CPU share in the latency trial: on a shared machine a
                # poll-mode device that is descheduled queues for a scheduler slice.
                r["latency_dut_cpu_share"] = med(s["lat_cpu"])
                if any(s["at_rates"]):
                    r["latency_at_rates"] = at_rates_summary(
                        s["at_rates"], None if system == "testpmd-io" else base["at_rates"])
                r["mpps_per_dut_cpu_overload"] = med(s["cap"])
                r["dut_cpu_share_median"] = med(s["dut_cpu"])
                r["generator_limited_rounds"] = s["limited"]
                r["rounds"] = s["rounds"]
            if system != "testpmd-io" and measured:
                r["ratio_to_testpmd"] = paired_ratio(s[key], base[key])
                if search == "ndr":
                    r["ratio_to_testpmd_cpu"] = paired_ratio(s["cap"], base["cap"])
            if not measured:
                r["not_measured"] = "; ".join(sorted(set(s["not_measured"]))) or "not run"
            r["topology"] = (f"loadgen (memif server, lcores {a.loadgen_lcores}"
                             f"{'' if a.loadgen_rx_lcore is None else f', rx lcore {a.loadgen_rx_lcore}'}) <-> "
                             f"{system} (memif client, worker on CPU {a.dut_cpu}), "
                             f"two net_memif links, rsize {a.rsize}, --no-huge")
            r["note"] = machine_note
            if system == "upf" and search == "ndr":
                ratio, p99 = r.get("ratio_to_testpmd"), r.get("p99_us")
                r["targets"] = {
                    "ratio_to_testpmd_min": TARGET_RATIO, "p99_us_max_at_50pct_ndr": TARGET_P99_US,
                    "ratio_met": None if ratio is None else ratio >= TARGET_RATIO,
                    "p99_met": None if p99 is None else p99 <= TARGET_P99_US,
                }
            rows.append(r)
    return rows


def fmt(x: Optional[float], nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def print_table(a: argparse.Namespace, rows: List[dict], mach: dict) -> None:
    print(f"\ne2e: {a.sessions} sessions, {a.traffic}, inner {a.inner_bytes} B, memif rsize {a.rsize}, "
          f"{a.rounds} round(s), trials {a.trial_s:g} s, precision {a.precision:g}")
    print(f"{'system':<16} {'NDR Mpps':>9} {'PDR Mpps':>9} {'Mpps/CPU-s':>10} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} "
          f"{'dut CPU':>7}  {'÷ testpmd io (NDR, PDR, per CPU)':<34}")
    for system in SYSTEMS:
        n = next(r for r in rows if r["system"] == system and r["search"] == "ndr")
        p = next(r for r in rows if r["system"] == system and r["search"] == "pdr")
        if n.get("not_measured"):
            print(f"{system:<16} {system.split('-')[0]}: not measured ({n['not_measured']})")
            continue
        ratios = "-" if system == "testpmd-io" else \
            f"{fmt(n.get('ratio_to_testpmd'))}, {fmt(p.get('ratio_to_testpmd'))}, {fmt(n.get('ratio_to_testpmd_cpu'))}"
        lim = " (generator-limited in %d round(s))" % n["generator_limited_rounds"] if n.get("generator_limited_rounds") else ""
        print(f"{system:<16} {fmt(n['mpps']):>9} {fmt(p['mpps']):>9} {fmt(n.get('mpps_per_dut_cpu_overload')):>10} "
              f"{fmt(n['p50_us'], 1):>9} {fmt(n['p99_us'], 1):>9} {fmt(n['p999_us'], 1):>9} "
              f"{fmt(n.get('latency_dut_cpu_share'), 2):>7}  {ratios}{lim}")
    ndrs = [r for r in rows if r["search"] == "ndr" and not r.get("not_measured")]
    if any(r.get("latency_at_rates") for r in ndrs):
        print("latency at the same rates for every system (worst direction; dut CPU: the device's share of its "
              "CPU in the trial; ratios to testpmd io paired by round):")
        print(f"{'system':<16} {'Mpps/dir':>8} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'max us':>9} {'dut CPU':>7}  "
              f"{'p50, p99 ÷ testpmd io':<22}")
        for r in ndrs:
            for x in r.get("latency_at_rates") or []:
                ratios = "-" if "p50_ratio_to_testpmd" not in x else \
                    f"{fmt(x.get('p50_ratio_to_testpmd'), 2)}, {fmt(x.get('p99_ratio_to_testpmd'), 2)}"
                print(f"{r['system']:<16} {x['mpps_per_direction']:>8g} {fmt(x['p50_us'], 1):>9} {fmt(x['p99_us'], 1):>9} "
                      f"{fmt(x['p999_us'], 1):>9} {fmt(x['max_us'], 1):>9} {fmt(x['dut_cpu_share'], 2):>7}  {ratios}")
    u = next(r for r in rows if r["system"] == "upf" and r["search"] == "ndr")
    t = u.get("targets", {})
    def verdict(v):
        return "n/a (upf not measured)" if v is None else ("met" if v else "NOT met")
    print(f"targets: upf NDR >= {TARGET_RATIO:.0%} of testpmd io: {verdict(t.get('ratio_met'))}; "
          f"p99 <= {TARGET_P99_US:g} us at 50 % NDR: {verdict(t.get('p99_met'))}")
    print(f"machine: {mach.get('cpu')}, {mach.get('cores')} cores; shared with other work (figures noisy, "
          f"latency dominated by scheduling): read the ratios of the same round")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loadgen-bin", required=True)
    ap.add_argument("--upf-bin", default=os.path.join(_REPO, "target", "release", "upf"))
    ap.add_argument("--upf-threads", default="rte-worker", help="name prefix of the upf's worker threads (CPU time)")
    ap.add_argument("--testpmd", default=shutil.which("dpdk-testpmd") or "dpdk-testpmd")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--qfi", type=int, default=9)
    ap.add_argument("--inner-bytes", type=int, default=64)
    ap.add_argument("--traffic", choices=["ul", "dl", "bidir"], default="bidir")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated systems to skip: " + ",".join(SYSTEMS))
    ap.add_argument("--loadgen-lcores", default="0@0,1@0",
                    help="EAL --lcores of loadgen: main lcore, then the generator lcore(s) (lcore@cpu)")
    ap.add_argument("--loadgen-rx-lcore", type=int, default=None,
                    help="a separate receiving lcore of loadgen (one of --loadgen-lcores), e.g. on a 16-core machine")
    ap.add_argument("--dut-cpu", type=int, default=1, help="CPU of the device's forwarding lcore / upf worker")
    ap.add_argument("--rsize", type=int, default=14, help="memif ring size, log2 (DPDK allows up to 14)")
    ap.add_argument("--min-mpps", type=float, default=0.01)
    ap.add_argument("--max-mpps", type=float, default=4.0, help="per direction")
    ap.add_argument("--precision", type=float, default=0.02)
    ap.add_argument("--trial-s", type=float, default=1.0)
    ap.add_argument("--final-s", type=float, default=0.0)
    ap.add_argument("--latency-s", type=float, default=2.0)
    ap.add_argument("--latency-mpps", default="0.01,0.5",
                    help="also measure latency at these rates per direction (Mpps, comma-separated), the same for "
                         "every system; '' for none")
    ap.add_argument("--warmup-s", type=float, default=0.5)
    ap.add_argument("--drain-ms", type=int, default=300)
    ap.add_argument("--link-timeout", type=float, default=30.0)
    ap.add_argument("--upf-start-timeout", type=float, default=30.0)
    ap.add_argument("--run-timeout", type=float, default=900.0)
    ap.add_argument("--quick", action="store_true", help="1 round, 0.5 s trials, 5 %% precision, 1 s latency trial")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs, loadgen JSON)")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rounds, a.trial_s, a.precision, a.latency_s, a.warmup_s, a.drain_ms = 1, 0.5, 0.05, 1.0, 0.3, 200
    skip = {s for s in a.skip.split(",") if s}
    unknown = skip - set(SYSTEMS)
    if unknown:
        ap.error(f"--skip: unknown system(s) {sorted(unknown)}")

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="perf-e2e.")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    runs: Dict[str, List[dict]] = {s: [] for s in SYSTEMS}
    try:
        for rnd in range(1, a.rounds + 1):
            order = SYSTEMS if rnd % 2 else tuple(reversed(SYSTEMS))
            for system in order:
                if system in skip:
                    runs[system].append({"not_measured": "skipped (--skip)"})
                    continue
                print(f"e2e: round {rnd}/{a.rounds}: {system}", flush=True)
                try:
                    doc = run_one(a, system, rnd, tmp, procs)
                    n, p = row_of(doc, "ndr") or {}, row_of(doc, "pdr") or {}
                    print(f"  {system}: NDR {fmt(n.get('mpps'))} Mpps, PDR {fmt(p.get('mpps'))} Mpps, "
                          f"p99 {fmt(n.get('p99_us'), 1)} us at 50 % NDR, {fmt(overload_capacity(n))} Mpps/CPU-s (overload)", flush=True)
                    runs[system].append(doc)
                except NotMeasured as e:
                    print(f"  {system.split('-')[0]}: not measured ({e})", flush=True)
                    runs[system].append({"not_measured": str(e)})
    except KeyboardInterrupt:
        print("e2e: interrupted", file=sys.stderr)
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        procs.stop_all()

    rows = summarize(a, runs)
    cmd = a.command or "perf/e2e-bench.sh " + " ".join(argv if argv is not None else sys.argv[1:])
    doc = results.document(cmd, rows, repo=_REPO, note="machine shared with other engineers' builds and tests")
    out = a.out or results.default_path(os.path.join(_REPO, "perf", "results"), "e2e")
    results.write(out, doc)
    print_table(a, rows, doc["machine"])
    print(f"wrote {os.path.relpath(out, _REPO) if out.startswith(_REPO) else out}")
    if a.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
