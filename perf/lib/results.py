#!/usr/bin/env python3
"""Benchmark results in the format of ARCHITECTURE.md (`perf/results/*.json`).

Every bench (TRex runner, OVS peer, later the load generator) writes one JSON
document per run through `document()`: date, git revision, command, machine
(CPU model, MHz, cores) and a list of result rows. Unknown figures are null.
Standard library only; usable as a module or as `results.py machine`.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

# Keys every row carries (ARCHITECTURE.md); benches may add their own.
ROW_KEYS = (
    "bench", "direction", "sessions", "inner_bytes", "workers", "mpps", "cycles_per_pkt",
    "instr_per_pkt", "ratio_to_testpmd", "loss", "p50_us", "p99_us", "p999_us",
)


def machine() -> Dict[str, Any]:
    cpu, mhz = None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and cpu is None:
                    cpu = val.strip()
                elif key == "cpu MHz" and mhz is None:
                    mhz = round(float(val.strip()))
    except OSError:
        pass
    return {"cpu": cpu, "mhz": mhz, "cores": os.cpu_count()}


def git_rev(repo: Optional[str] = None) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    if not rev:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=5)
    return rev + ("-dirty" if dirty.stdout.strip() else "")


def row(bench: str, **fields: Any) -> Dict[str, Any]:
    r: Dict[str, Any] = {k: None for k in ROW_KEYS}
    r["bench"] = bench
    r.update(fields)
    return r


def document(command: str, rows: List[Dict[str, Any]], repo: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_rev(repo),
        "command": command,
        "machine": machine(),
        "results": rows,
    }
    doc.update(extra)
    return doc


def default_path(results_dir: str, bench: str) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join(results_dir, f"{bench}-{stamp}.json")


def write(path: str, doc: Dict[str, Any]) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["machine"]:
        print(json.dumps(machine()))
    else:
        print("usage: results.py machine", file=sys.stderr)
        sys.exit(2)
