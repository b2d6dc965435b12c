"""Helpers for the suites that run `upf run` (scripts/tests/3x-*.sh): start
it as a child process, find its API, read /metrics and /status, stop it
with SIGTERM and check that it left nothing behind. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from typing import Callable, Dict, List, Optional, Tuple

Key = Tuple[str, Tuple[Tuple[str, str], ...]]


# The suites' verdicts: every check prints PASS/FAIL and a failed one is
# remembered, so that a suite reports all its failures, then exits 1.
FAILS: List[str] = []


def check(ok: bool, what: str) -> None:
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILS.append(what)


def nsx(ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs a command in network namespace `ns`, output captured as text."""
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, timeout=timeout)


def eal_runtime_dir(prefix: str) -> str:
    """Where DPDK 22.11 keeps the runtime files of `--file-prefix prefix`."""
    if os.geteuid() == 0:
        base = "/var/run"
    else:
        base = os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def wait_for(what: str, cond: Callable[[], bool], timeout: float, poll: float = 0.05) -> None:
    """Polls `cond` until it holds; raises with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def parse_metrics(text: str) -> Dict[Key, float]:
    """Prometheus text exposition -> {(name, sorted labels): value}."""
    out: Dict[Key, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(m: Dict[Key, float], name: str, **labels: str) -> Optional[float]:
    return m.get((name, tuple(sorted(labels.items()))))


class Upf:
    """`upf run --config PATH` as a child; stderr goes to `log`."""

    def __init__(self, binary: str, config: str, log: str, prefix: str, netns: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, wrap: Optional[List[str]] = None):
        """`wrap`: a command that execs its arguments (setpriv, prlimit), so
        that the child's PID stays the upf's."""
        self.log_path = log
        self.prefix = prefix
        cmd = (wrap or []) + [binary, "run", "--config", config]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        e = dict(os.environ)
        e.pop("RUST_LOG", None)
        e.update(env or {})
        self.logf = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=e)
        self.api: Optional[str] = None
        self.netns = netns

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def wait_running(self, timeout: float = 30.0) -> None:
        def api_known() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"upf exited with status {self.proc.returncode}:\n{self.log()}")
            m = re.search(r"API on http://(\S+)", self.log())
            if m:
                self.api = m.group(1)
            return self.api is not None

        wait_for("the API address in the log", api_known, timeout)

        def running() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"upf exited with status {self.proc.returncode}:\n{self.log()}")
            try:
                return self.status()["state"] == "running"
            except (OSError, subprocess.CalledProcessError):
                # Not answering yet (curl inside a namespace fails instead).
                return False

        wait_for("/status state running", running, timeout)

    def _get(self, path: str) -> bytes:
        url = f"http://{self.api}{path}"
        if self.netns:
            # The API is a kernel socket inside the namespace.
            return subprocess.run(["ip", "netns", "exec", self.netns, "curl", "-sf", "-m", "5", url],
                                  check=True, capture_output=True).stdout
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read()

    def status(self) -> dict:
        return json.loads(self._get("/status"))

    def proc_status(self, field: str) -> int:
        """A figure of /proc/PID/status in kB (VmLck, VmRSS, ...)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def metrics(self) -> Dict[Key, float]:
        return parse_metrics(self._get("/metrics").decode())

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM; returns the exit status (raises if it does not exit in time)."""
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"upf did not exit within {timeout:g} s of SIGTERM")
            self.stop_seconds = time.monotonic() - t0
        self.logf.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.logf.closed:
            self.logf.close()
