#!/usr/bin/env python3
"""The one command of the performance lab (perf/run.sh): runs the suites,
merges their results into one JSON document, prints the summary table.

perf/run.sh builds the binaries and installs the packages, then hands over
to `perfrun.py run`, which runs each suite (pipeline-bench, io-worker.sh,
e2e-bench.sh, peer-ovs.sh, scaling.sh) as a child process with a time
limit, each writing its own results document into a temp dir. A suite that
fails, times out or writes nothing becomes a "not measured (reason)" row and
the run goes on. `merge` makes the run's document (ARCHITECTURE.md format:
date, git, command, machine, results; every row gets `suite`), `summary`
prints the table of targets and ratios, and perf/lib/plots.py draws the
PNGs next to the JSON. Standard library only (plots.py needs matplotlib).

    perfrun.py run --quick --results-dir perf/results [--skip e2e,...] ...
    perfrun.py merge --sub SUITE=FILE ... [--not-measured SUITE=REASON] --out F
    perfrun.py summary FILE [--markdown]
    perfrun.py plot FILE [--update]          # (re)draw the PNGs of a results file
    perfrun.py readme FILE [--write]         # the "latest run" block of perf/README.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

_HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, _HERE)
import results  # noqa: E402

SUITES = ("pipeline", "io-worker", "e2e", "peer-ovs", "scaling")
# The bench of a suite's "not measured" row (ARCHITECTURE.md's `bench` values).
SUITE_BENCH = {"pipeline": "pipeline", "io-worker": "testpmd", "e2e": "e2e", "peer-ovs": "peer-ovs", "scaling": "e2e"}

# Targets (issues 4, 7, 9).
TARGET_E2E_RATIO = 0.70
TARGET_P99_US = 10.0
TARGET_OVS_RATIO = 4.0
TARGET_SCALING_EFF = 0.90
TARGET_PIPELINE_CYCLES = {10000: 100.0, 1000000: 200.0}

# Time limits per suite (seconds): generous multiples of what each takes on
# the 2-core machine, so that one hung suite cannot eat the run.
TIMEOUTS = {
    "quick": {"pipeline": 180, "io-worker": 240, "e2e": 300, "peer-ovs": 300, "scaling": 180},
    "full": {"pipeline": 1500, "io-worker": 900, "e2e": 1800, "peer-ovs": 600, "scaling": 900},
}


def utc_stamp(now: Optional[datetime.datetime] = None) -> str:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H%M%SZ")


# --------------------------------------------------------------------------- the suites


def suite_commands(a: argparse.Namespace, out: Dict[str, str]) -> Dict[str, List[str]]:
    """argv of every suite; `out[suite]` is the JSON file it must write."""
    q = ["--quick"] if a.quick else []
    pipeline = [a.pipeline_bin, *(["--quick", "--callgrind"] if a.quick else ["--callgrind"]), "--out", out["pipeline"]]
    io_worker = [os.path.join(REPO, "perf", "io-worker.sh"), *q, "--upf-bin", a.upf_bin, "--", "--out", out["io-worker"]]
    e2e = [os.path.join(REPO, "perf", "e2e-bench.sh"), *q, "--loadgen-bin", a.loadgen_bin, "--upf-bin", a.upf_bin,
           "--out", out["e2e"]]
    peer = [os.path.join(REPO, "perf", "peer-ovs.sh"), *q, "--upf-bin", a.upf_bin, "--out", out["peer-ovs"],
            "--png", os.path.splitext(out["peer-ovs"])[0] + ".png"]
    scaling = [os.path.join(REPO, "perf", "scaling.sh"), *q, "--upf-bin", a.upf_bin, "--workers", a.scaling_workers,
               "--out", out["scaling"]]
    return {"pipeline": pipeline, "io-worker": io_worker, "e2e": e2e, "peer-ovs": peer, "scaling": scaling}


def last_words(log: str) -> str:
    """The last meaningful line of a suite's output, for its "not measured" reason."""
    try:
        with open(log, errors="replace") as f:
            lines = [x.strip() for x in f.read().splitlines() if x.strip()]
    except OSError:
        return ""
    for x in reversed(lines):
        if any(w in x.lower() for w in ("error", "fail", "not measured", "needs", "missing", "panic", "cannot")):
            return x[:300]
    return lines[-1][:300] if lines else ""


def run_suite(suite: str, argv: List[str], out: str, log: str, timeout: float, env: Dict[str, str]) -> Dict[str, Any]:
    """Runs one suite, its output to the terminal and to `log`. Returns its record: status, seconds, reason."""
    t0 = time.monotonic()
    print(f"\n=== {suite}: {' '.join(shlex.quote(x) for x in argv)}", flush=True)
    rec: Dict[str, Any] = {"command": " ".join(shlex.quote(x) for x in argv), "timeout_s": timeout}
    with open(log, "wb") as lf:
        try:
            # Own process group: a timeout stops the suite and everything it started.
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=env, cwd=REPO)
        except OSError as e:
            rec.update(status="error", seconds=0.0, reason=f"cannot start: {e}")
            return rec
        deadline = t0 + timeout
        timed_out = False
        assert p.stdout is not None
        os.set_blocking(p.stdout.fileno(), False)
        while True:
            chunk = p.stdout.read()
            if chunk:
                lf.write(chunk)
                lf.flush()
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if p.poll() is not None:
                rest = p.stdout.read()
                if rest:
                    lf.write(rest)
                    sys.stdout.buffer.write(rest)
                    sys.stdout.flush()
                break
            if time.monotonic() > deadline:
                timed_out = True
                stop_group(p)
                break
            time.sleep(0.05)
    rec["seconds"] = round(time.monotonic() - t0, 1)
    rec["exit_status"] = p.returncode
    if timed_out:
        rec.update(status="timeout", reason=f"timed out after {timeout:g} s (stopped)")
    elif p.returncode != 0:
        why = last_words(log)
        rec.update(status="failed", reason=f"exit status {p.returncode}" + (f": {why}" if why else ""))
    elif not os.path.exists(out):
        rec.update(status="failed", reason="wrote no results file" + (f" ({last_words(log)})" if last_words(log) else ""))
    else:
        rec["status"] = "ok"
    return rec


def stop_group(p: subprocess.Popen) -> None:
    """SIGINT to the suite's process group (its clean-up traps run), then SIGTERM and SIGKILL to whatever of
    the group is left, the leader's orphans included (a shell's background jobs ignore SIGINT)."""

    def signal_group(sig: int) -> bool:
        try:
            os.killpg(p.pid, sig)
            return True
        except ProcessLookupError:
            return False

    if not signal_group(signal.SIGINT):
        return
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not signal_group(sig):
            break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    if p.poll() is None:
        p.wait(timeout=5)

# --------------------------------------------------------------------------- merging


def load_doc(path: str) -> Dict[str, Any]:
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ValueError(f"{path}: not a results document (no `results` list)")
    return doc


def merge(subs: Dict[str, str], not_measured: Dict[str, str], command: str, runs: Optional[Dict[str, dict]] = None,
          date: Optional[str] = None) -> Dict[str, Any]:
    """One document from the suites' documents; a suite that has none gets a "not measured" row."""
    rows: List[Dict[str, Any]] = []
    meta: Dict[str, dict] = {}
    machines: List[dict] = []
    for suite in SUITES:
        rec = dict((runs or {}).get(suite, {}))
        if suite in subs:
            try:
                doc = load_doc(subs[suite])
            except (OSError, ValueError) as e:
                not_measured.setdefault(suite, f"unreadable results: {e}")
            else:
                for r in doc["results"]:
                    if not isinstance(r, dict):
                        continue
                    r = {**{k: None for k in results.ROW_KEYS}, **r}
                    r["suite"] = suite
                    rows.append(r)
                rec.update({k: doc.get(k) for k in ("date", "git", "command")})
                if doc.get("machine"):
                    machines.append({k: doc["machine"].get(k) for k in ("cpu", "mhz", "cores")})
                extra = {k: v for k, v in (doc.get("machine") or {}).items() if k not in ("cpu", "mhz", "cores")}
                if extra:
                    rec["machine_extra"] = extra
                for k in ("notes", "machine_note", "note"):
                    if doc.get(k):
                        rec[k] = doc[k]
        if suite in not_measured:
            rows.append(results.row(SUITE_BENCH[suite], suite=suite, not_measured=not_measured[suite]))
            rec["status"] = rec.get("status") if rec.get("status") not in (None, "ok") else "not measured"
            rec["reason"] = not_measured[suite]
        if rec:
            meta[suite] = rec
    doc = results.document(command, rows, repo=REPO, suites=meta)
    # Documents measured elsewhere (perf/bundle-run.sh on another machine):
    # the merged one names the machine they ran on, not the one merging.
    if machines and all(m == machines[0] for m in machines) and machines[0] != {
            k: doc["machine"].get(k) for k in ("cpu", "mhz", "cores")}:
        doc["machine"] = {**doc["machine"], **machines[0]}
        doc["machine"].pop("loadavg", None)
    if date:
        doc["date"] = date
    doc["summary"] = summary_rows(doc)
    return doc


# --------------------------------------------------------------------------- the summary


def med(xs: List[Optional[float]]) -> Optional[float]:
    v = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(v) if v else None


def suite_reason(doc: dict, suite: str) -> Optional[str]:
    r = next((r for r in doc["results"] if r.get("suite") == suite and r.get("not_measured")
              and r.get("system") is None), None)
    return r["not_measured"] if r else None


def summary_rows(doc: dict) -> List[Dict[str, Any]]:
    """The figures the issues name, each with its baseline, ratio and target: one line each."""
    rows = doc["results"]
    out: List[Dict[str, Any]] = []

    def add(figure: str, value: Any, baseline: Any = None, ratio: Any = None, target: Optional[str] = None,
            met: Optional[bool] = None, suite: str = "", reason: Optional[str] = None, unit: str = "") -> None:
        out.append({"suite": suite, "figure": figure, "value": value, "unit": unit, "baseline": baseline,
                    "ratio": ratio, "target": target, "met": met, "not_measured": reason})

    # pipeline: cycles/packet at 10k and 1M sessions, 64 B, UL and DL
    why = suite_reason(doc, "pipeline")
    for sessions, limit in TARGET_PIPELINE_CYCLES.items():
        for d in ("ul", "dl"):
            r = next((r for r in rows if r.get("suite") == "pipeline" and r.get("bench") == "pipeline"
                      and r.get("direction") == d and r.get("sessions") == sessions and r.get("inner_bytes") == 64), None)
            c = None if r is None else (r.get("pipeline_cycles_per_pkt") or r.get("cycles_per_pkt"))
            add(f"pipeline {d.upper()} cycles/pkt, 64 B, {sessions:,} sessions (harness excluded)", c,
                target=f"<= {limit:g}", met=None if c is None else c <= limit, suite="pipeline",
                reason=None if c is not None else (why or "no such row"), unit="cycles")
            ins = None if r is None else r.get("pipeline_instr_per_pkt")
            if ins is not None:
                add(f"pipeline {d.upper()} instructions/pkt, 64 B, {sessions:,} sessions", ins, suite="pipeline",
                    unit="instr")

    # io-worker: upf ÷ testpmd per mode (CPU-normalised)
    why = suite_reason(doc, "io-worker")
    for mode in ("null-rx", "ul", "dl"):
        u = next((r for r in rows if r.get("suite") == "io-worker" and r.get("system") == "upf" and r.get("mode") == mode), None)
        # The testpmd mode of the upf row's ratio (io; rxonly too for null-rx).
        tp = "testpmd-" + ((u or {}).get("ratio_testpmd_mode") or "io")
        t = next((r for r in rows if r.get("suite") == "io-worker" and r.get("system") == tp and r.get("mode") == mode), None)
        add(f"io-worker {mode}: upf Mpps per worker-CPU s (÷ {tp.replace('-', ' ')})", None if u is None else u.get("mpps_per_worker_cpu_s"),
            baseline=None if t is None else t.get("mpps_per_worker_cpu_s"), ratio=None if u is None else u.get("ratio_to_testpmd"),
            suite="io-worker", reason=None if u else (why or "not measured"), unit="Mpps")

    # e2e: NDR ratio to testpmd io, p99 at 50 % NDR
    why = suite_reason(doc, "e2e")
    u = next((r for r in rows if r.get("suite") == "e2e" and r.get("system") == "upf" and r.get("search") == "ndr"), None)
    t = next((r for r in rows if r.get("suite") == "e2e" and r.get("system") == "testpmd-io" and r.get("search") == "ndr"), None)
    ratio = None if u is None else u.get("ratio_to_testpmd")
    reason = why or (u or {}).get("not_measured") or (None if u else "not measured")
    add("e2e NDR (loadgen over memif, 10k sessions, QER+URR): upf ÷ testpmd io", None if u is None else u.get("mpps"),
        baseline=None if t is None else t.get("mpps"), ratio=ratio, target=f">= {TARGET_E2E_RATIO:.2f}",
        met=None if ratio is None else ratio >= TARGET_E2E_RATIO, suite="e2e", reason=None if ratio is not None else reason,
        unit="Mpps")
    # What makes the e2e figures weak on a shared machine: say it next to them.
    starved, limited = [], []
    for label, r in (("upf", u), ("testpmd io", t)):
        if r is None:
            continue
        share = r.get("dut_cpu_share_median")
        if isinstance(share, (int, float)) and share < 0.9:
            starved.append(f"{label} got {share:.0%} of its core")
        if r.get("generator_limited_rounds"):
            limited.append(f"the generator was the limit of {label} in {r['generator_limited_rounds']} round(s)")
    caveats = ([", ".join(starved) + " during the search (the machine's other load)"] if starved else []) + limited
    if caveats and out[-1].get("ratio") is not None:
        out[-1]["note"] = "; ".join(caveats) + ": read the ratio per device-CPU second next to the NDR ratio"
    rc = None if u is None else u.get("ratio_to_testpmd_cpu")
    if rc is not None:
        add("e2e capacity per device-CPU s: upf ÷ testpmd io", u.get("mpps_per_dut_cpu_overload"),
            baseline=None if t is None else t.get("mpps_per_dut_cpu_overload"), ratio=rc,
            target=f">= {TARGET_E2E_RATIO:.2f}", met=rc >= TARGET_E2E_RATIO, suite="e2e", unit="Mpps")
    p99 = None if u is None else u.get("p99_us")
    add("e2e upf p99 latency at 50 % of NDR", p99, baseline=None if t is None else t.get("p99_us"),
        target=f"<= {TARGET_P99_US:g} us", met=None if p99 is None else p99 <= TARGET_P99_US, suite="e2e",
        reason=None if p99 is not None else reason, unit="us")

    # peer-ovs: upf ÷ OVS per frame size
    why = suite_reason(doc, "peer-ovs")
    sizes = sorted({r.get("frame_bytes") for r in rows if r.get("suite") == "peer-ovs" and r.get("frame_bytes")}) or [100, 512]
    for size in sizes:
        u = next((r for r in rows if r.get("suite") == "peer-ovs" and r.get("system") == "upf" and r.get("frame_bytes") == size), None)
        o = [r for r in rows if r.get("suite") == "peer-ovs" and r.get("system") == "ovs" and r.get("frame_bytes") == size]
        ovs = next((r for r in o if r.get("used_for_ratio")), None) or (o[0] if o else None)
        ratio = None if u is None else u.get("ratio_to_ovs")
        target = f">= {TARGET_OVS_RATIO:g}" if size == 100 else None
        add(f"peer-ovs {size} B: upf ÷ OVS-DPDK gtpu, 1 core, {(u or {}).get('sessions') or 10000:,} sessions",
            None if u is None else u.get("mpps"), baseline=None if ovs is None else ovs.get("mpps"), ratio=ratio,
            target=target, met=None if ratio is None or target is None else ratio >= TARGET_OVS_RATIO, suite="peer-ovs",
            reason=None if ratio is not None else (why or (u or {}).get("note") or "not measured"), unit="Mpps")
        rt = None if u is None else u.get("ratio_to_testpmd")
        if rt is not None:
            add(f"peer-ovs {size} B: upf ÷ testpmd io (same pcap)", u.get("mpps"), ratio=rt, suite="peer-ovs", unit="Mpps")

    # scaling: Mpps per worker count, efficiency vs linear
    why = suite_reason(doc, "scaling")
    sc = sorted((r for r in rows if r.get("suite") == "scaling" and r.get("system") == "upf" and r.get("mpps") is not None),
                key=lambda r: r.get("workers") or 0)
    if not sc:
        add("scaling: upf Mpps per worker count", None, suite="scaling", reason=why or "not measured", unit="Mpps")
    for r in sc:
        eff = r.get("scaling_efficiency")
        add(f"scaling: upf {r.get('direction') or ''} with {r['workers']} worker(s)", r["mpps"],
            baseline=r.get("linear_mpps"), ratio=eff,
            target=f">= {TARGET_SCALING_EFF:.2f} of linear" if r["workers"] > 1 else None,
            met=None if eff is None or r["workers"] == 1 else eff >= TARGET_SCALING_EFF, suite="scaling", unit="Mpps")
    return out


def fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, int) and abs(x) >= 1000:
        return f"{x:,}"
    return str(x)


def render(doc: dict, markdown: bool = False) -> str:
    srows = summary_rows(doc)
    m = doc.get("machine") or {}
    head = (f"{doc.get('command')} — {doc.get('date')}, git {doc.get('git')}, "
            f"{m.get('cpu')} ({m.get('mhz')} MHz, {m.get('cores')} cores)")
    lines = []
    if markdown:
        lines += [head, "", "| figure | upf | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    else:
        lines += ["", head, f"{'figure':<78} {'upf':>9} {'baseline':>9} {'ratio':>7}  {'target':<18} met"]
    for s in srows:
        if s.get("not_measured") and s.get("value") is None:
            val = f"not measured ({s['not_measured']})"
            if markdown:
                lines.append(f"| {s['figure']} | {val} | | | {s.get('target') or ''} | |")
            else:
                lines.append(f"{s['figure']:<78} {val}")
            continue
        met = {True: "yes", False: "NO", None: ""}[s.get("met")]
        nd = {"instr": 0, "cycles": 1}.get(s.get("unit") or "", 2)
        if markdown:
            met = {True: "**yes**", False: "**no**", None: ""}[s.get("met")]
            lines.append(f"| {s['figure']} | {fmt(s['value'], nd)} {s.get('unit') or ''} | {fmt(s.get('baseline'), nd)} | "
                         f"{fmt(s.get('ratio'))} | {s.get('target') or ''} | {met} |")
        else:
            lines.append(f"{s['figure']:<78} {fmt(s['value'], nd):>9} {fmt(s.get('baseline'), nd):>9} "
                         f"{fmt(s.get('ratio')):>7}  {s.get('target') or '':<18} {met}")
    notes = [f"{s['suite']}: {s['note']}" for s in srows if s.get("note")]
    if markdown:
        lines += ([""] + [f"Note, {n}." for n in notes]) if notes else []
    else:
        lines += [f"note: {n}" for n in notes]
        lines.append("The machine is shared: read ratios within this run, not absolute figures across runs.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def kv(items: List[str], what: str) -> Dict[str, str]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or k not in SUITES:
            raise SystemExit(f"perfrun: {what} wants SUITE=VALUE with SUITE one of {', '.join(SUITES)}: {it!r}")
        out[k] = v
    return out


def cmd_run(a: argparse.Namespace) -> int:
    skip = {s for s in a.skip.split(",") if s}
    bad = skip - set(SUITES) - {"all"}
    if bad:
        raise SystemExit(f"perfrun: unknown suite(s) in --skip: {', '.join(sorted(bad))}")
    if "all" in skip:
        skip = set(SUITES)
    only = {s for s in a.only.split(",") if s}
    if only - set(SUITES):
        raise SystemExit(f"perfrun: unknown suite(s) in --only: {', '.join(sorted(only - set(SUITES)))}")
    overrides = kv(a.suite_cmd, "--suite-cmd")
    preset = kv(a.not_measured, "--not-measured")
    stamp = a.stamp or utc_stamp()
    out_json = os.path.join(a.results_dir, f"{stamp}.json")
    plot_dir = os.path.join(a.results_dir, stamp)
    timeouts = dict(TIMEOUTS["quick" if a.quick else "full"])
    if a.suite_timeout:
        timeouts = {k: a.suite_timeout for k in timeouts}
    tmp = tempfile.mkdtemp(prefix="perfrun-")
    outs = {s: os.path.join(tmp, f"{s}.json") for s in SUITES}
    cmds = suite_commands(a, outs)
    env = {**os.environ, "PERF_RUN": "1"}
    runs: Dict[str, dict] = {}
    not_measured: Dict[str, str] = {}
    plan: List[Tuple[str, Optional[List[str]], Optional[str]]] = []
    for s in SUITES:
        if s in skip or (only and s not in only):
            plan.append((s, None, "skipped (--skip)" if s in skip else "skipped (--only)"))
        elif s in preset:
            plan.append((s, None, preset[s]))
        elif s in overrides:
            plan.append((s, ["/bin/bash", "-c", overrides[s]], None))
        else:
            plan.append((s, cmds[s], None))
    if a.dry_run:
        print(f"perf/run.sh{' --quick' if a.quick else ''} --dry-run: would write {out_json} and {plot_dir}/*.png")
        for s, argv, why in plan:
            if argv is None:
                print(f"  {s:<10} not measured ({why})")
            else:
                print(f"  {s:<10} (limit {timeouts[s]} s) {' '.join(shlex.quote(x) for x in argv)}")
        os.rmdir(tmp)
        return 0
    t0 = time.monotonic()
    for s, argv, why in plan:
        if argv is None:
            not_measured[s] = why or "not run"
            runs[s] = {"status": "not measured", "reason": not_measured[s]}
            print(f"\n=== {s}: not measured ({not_measured[s]})", flush=True)
            continue
        senv = {**env, "OUT": outs[s], "PERF_RUN_QUICK": "1" if a.quick else "0"}
        rec = run_suite(s, argv, outs[s], os.path.join(tmp, f"{s}.log"), timeouts[s], senv)
        runs[s] = rec
        if rec["status"] != "ok":
            not_measured[s] = rec["reason"]
            print(f"=== {s}: not measured ({rec['reason']})", flush=True)
        else:
            print(f"=== {s}: done in {rec['seconds']:g} s", flush=True)
    subs = {s: outs[s] for s in SUITES if runs.get(s, {}).get("status") == "ok"}
    doc = merge(subs, not_measured, a.command, runs)
    doc["duration_s"] = round(time.monotonic() - t0, 1)
    doc["quick"] = bool(a.quick)
    doc["note"] = ("2-core machine shared with other engineers' builds and tests: absolute figures are noisy; "
                   "ratios are taken within one suite's run (same source, same core, alternating)")
    doc["plots"] = plot_files(doc, plot_dir, a.results_dir)
    results.write(out_json, doc)
    print(render(doc))
    print(f"\nresults: {out_json}")
    for p in doc["plots"].values():
        print(f"plot: {os.path.join(a.results_dir, p)}")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"suite outputs and logs kept in {tmp}")
    return 0


def plot_files(doc: dict, plot_dir: str, results_dir: str) -> Dict[str, str]:
    """Draws the plots (perf/lib/plots.py); their paths relative to the results dir. No matplotlib: none."""
    try:
        import plots
    except ImportError as e:  # matplotlib missing
        print(f"plots: skipped ({e})")
        return {}
    made = plots.draw_all(doc, plot_dir)
    return {k: os.path.relpath(v, results_dir) for k, v in made.items()}


def cmd_merge(a: argparse.Namespace) -> int:
    subs = kv(a.sub, "--sub")
    nm = kv(a.not_measured, "--not-measured")
    doc = merge(subs, nm, a.command, date=a.date)
    if a.plots_dir:
        doc["plots"] = plot_files(doc, a.plots_dir, os.path.dirname(os.path.abspath(a.out)))
    results.write(a.out, doc)
    print(render(doc))
    print(f"results: {a.out}")
    return 0


def cmd_summary(a: argparse.Namespace) -> int:
    doc = load_doc(a.file)
    print(render(doc, markdown=a.markdown))
    return 0


README_BEGIN = "<!-- perf/run.sh latest: begin (perfrun.py readme FILE --write) -->"
README_END = "<!-- perf/run.sh latest: end -->"


def readme_block(doc: dict, path: str, readme_dir: str) -> str:
    """The "latest run" block of perf/README.md: command, machine, summary table, plots."""
    m = doc.get("machine") or {}
    rel = os.path.relpath(path, readme_dir)
    base = os.path.dirname(rel)
    load = next((v.get("machine_extra", {}).get("loadavg") for v in (doc.get("suites") or {}).values()
                 if (v.get("machine_extra") or {}).get("loadavg")), None)
    lines = [README_BEGIN, "",
             f"`{doc.get('command')}`, {doc.get('date')}, git `{doc.get('git')}`, "
             f"{'%g s' % doc['duration_s'] if doc.get('duration_s') else ''} for the suites; "
             f"**{m.get('cpu')}**, {m.get('mhz')} MHz, {m.get('cores')} cores, shared with other engineers' "
             f"builds and tests{f' (load average {load} during the pipeline suite)' if load else ''}: "
             f"[JSON]({rel}).", ""]
    table = render(doc, markdown=True).split("\n")[2:]
    lines += table
    st = doc.get("suites") or {}
    bad = [f"{k}: {v.get('reason')}" for k, v in st.items() if v.get("status") not in (None, "ok")]
    if bad:
        lines += ["", "Not measured in this run: " + "; ".join(bad) + "."]
    lines += [""]
    names = {"cycles_vs_sessions": "cycles/packet vs sessions", "throughput_vs_workers": "throughput vs workers",
             "latency_cdf": "latency CDF", "peer_ovs": "peer-ovs"}
    for k, v in (doc.get("plots") or {}).items():
        lines.append(f"![{names.get(k, k)}]({os.path.join(base, v)})")
    lines += ["", README_END]
    return "\n".join(lines)


def cmd_readme(a: argparse.Namespace) -> int:
    doc = load_doc(a.file)
    readme = a.readme or os.path.join(REPO, "perf", "README.md")
    block = readme_block(doc, os.path.abspath(a.file), os.path.dirname(os.path.abspath(readme)))
    if not a.write:
        print(block)
        return 0
    with open(readme) as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"perfrun: {readme} has no {README_BEGIN} ... {README_END} markers")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with open(readme, "w") as f:
        f.write(head + block + tail)
    print(f"updated {readme}")
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    doc = load_doc(a.file)
    d = a.dir or os.path.splitext(a.file)[0]
    doc["plots"] = plot_files(doc, d, os.path.dirname(os.path.abspath(a.file)))
    if not doc["plots"]:
        return 1
    if a.update:
        doc["summary"] = summary_rows(doc)
        results.write(a.file, doc)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="perf/run.sh's driver: run the suites, merge, summarize")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--quick", action="store_true")
    r.add_argument("--dry-run", action="store_true")
    r.add_argument("--results-dir", default=os.path.join(REPO, "perf", "results"))
    r.add_argument("--stamp", help="name of the run (default: UTC time, 2026-11-26T013000Z)")
    r.add_argument("--skip", default="", help="comma-separated suites: " + ",".join(SUITES) + ", or all")
    r.add_argument("--only", default="", help="run only these suites")
    r.add_argument("--upf-bin", default=os.path.join(REPO, "target", "release", "upf"))
    r.add_argument("--loadgen-bin", default=os.path.join(REPO, "target", "release", "loadgen"))
    r.add_argument("--pipeline-bin", default=os.path.join(REPO, "target", "release", "pipeline-bench"))
    r.add_argument("--scaling-workers", default="1")
    r.add_argument("--suite-timeout", type=float, default=None, help="one limit for every suite (s)")
    r.add_argument("--suite-cmd", action="append", default=[], metavar="SUITE=SHELL",
                   help="run this shell command instead of the suite ($OUT: the JSON it must write); for tests")
    r.add_argument("--not-measured", action="append", default=[], metavar="SUITE=REASON",
                   help="do not run the suite, report it not measured for this reason (e.g. a failed build)")
    r.add_argument("--keep", action="store_true", help="keep the suites' own JSON and logs (temp dir)")
    r.add_argument("--command", default="perf/run.sh")
    m = sub.add_parser("merge")
    m.add_argument("--sub", action="append", default=[], metavar="SUITE=FILE")
    m.add_argument("--not-measured", action="append", default=[], metavar="SUITE=REASON")
    m.add_argument("--out", required=True)
    m.add_argument("--plots-dir")
    m.add_argument("--date")
    m.add_argument("--command", default="perf/run.sh")
    s = sub.add_parser("summary")
    s.add_argument("file")
    s.add_argument("--markdown", action="store_true")
    p = sub.add_parser("plot")
    p.add_argument("file")
    p.add_argument("--dir")
    p.add_argument("--update", action="store_true", help="record the plots (and a fresh summary) in the document")
    w = sub.add_parser("readme", help="the latest-run block of perf/README.md (--write: replace it there)")
    w.add_argument("file")
    w.add_argument("--readme")
    w.add_argument("--write", action="store_true")
    a = ap.parse_args(argv)
    return {"run": cmd_run, "merge": cmd_merge, "summary": cmd_summary, "plot": cmd_plot, "readme": cmd_readme}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
