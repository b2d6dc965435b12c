#!/usr/bin/python3
"""Config reload under traffic (scripts/tests/50-reload.sh: run "teid";
65-reload-hitless.sh: run "hitless"): `upf run` as the
memif client of perf/loadgen, which stamps every packet with a per-session
sequence number and checks, per packet, the headers of the session the stamp
names (TEID, UE and gNB addresses, QFI: a misrouted packet is `mismatched`).

Run 1 ("teid"): 10 static sessions, DL traffic, PFCP on loopback, watch on.
  - SIGHUP after session 1's DL TEID changed in the file: its DL packets
    switch to the new TEID (loadgen --dl-teid-alt-base), exactly once; the
    watch then sees the same bytes and does nothing; a file change alone
    (rename over, as editors do) switches it back: exactly two switches.
  - rejected: an invalid file (error with file:line:col in the log) and a
    restart-only change (refused by name); counters, /status, traffic
    untouched, the process keeps running.
  - PFCP: smf-sim establishes sessions while reloads that change static
    sessions, pfcp.peers and pfcp.heartbeat_interval are applied; then
    modifies and deletes all of them: every request accepted.
Run 2 ("hitless"): 11,000 static sessions; loadgen sends both ways on
  sessions 0..9,999, which no reload changes; 100 reloads alternate two
  configs that differ in the QoS of sessions 10,000..10,999, every 10th an
  invalid file. Then the atomicity check: one reload changes the gNB TEID
  of all 10,000 sessions, a second changes it back. With one UPF worker and
  one receiving queue, loadgen receives DL packets in the order the worker
  forwarded them, so an atomic publish shows as exactly one version change
  per reload in the received DL stream (any two sessions form a pair that
  must switch together); a publish that let the worker see some sessions
  new and others old would interleave versions. Zero loss, zero
  reordering, zero mismatched packets over the whole trial.

Usage: upf_reload.py UPF LOADGEN SMF_SIM WORKDIR [teid|hitless]...
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check  # noqa: E402


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LG_MAC = {"n3": "02:00:00:00:33:02", "n6": "02:00:00:00:66:02"}
DUT_MAC = {"n3": "02:00:00:00:33:01", "n6": "02:00:00:00:66:01"}
UL_BASE, DL_BASE, ALT_BASE = 0x01000000, 0x02000000, 0x03000000
GNB, QFI = "192.168.1.2", 9
def memif(idx: int, path: str, mac: str, role: str) -> str:
    return f"net_memif{idx},role={role},socket={path},socket-abstract=no,rsize=14,mac={mac}"


def ue_ip(i: int) -> str:
    # perf/gen/sessions.py's plan: 10.45.0.0/16 from offset 2.
    n = 2 + i
    return f"10.45.{n >> 8}.{n & 255}"


class Cfg:
    """A Contract config for one run; `text(...)` renders a variant."""

    def __init__(self, d: str, prefix: str, api: str, pfcp: Optional[str]):
        self.d, self.prefix, self.api, self.pfcp = d, prefix, api, pfcp
        self.path = os.path.join(d, "upf.yaml")
        self.socks = {s: os.path.join(d, f"{s}.sock") for s in ("n3", "n6")}

    def text(self, sessions: int, alt: Callable[[int], bool] = lambda i: False,
             qos: Callable[[int], Optional[str]] = lambda i: None, watch: bool = False,
             heartbeat: str = "5s", peers: str = "[]", mbufs: int = 65536, bad_teid_at: Optional[int] = None,
             pool: str = "10.46.0.0/16", teid_last: int = 0x00FFFFFF) -> str:
        out = [f"# reload test config ({sessions} sessions)\n",
               "node_id: 192.168.1.1\n",
               "dpdk:\n",
               f'  args: ["--no-huge", "-m", "1024", "--no-pci", "--file-prefix", "{self.prefix}"]\n',
               f"  mbufs: {mbufs}\n",
               "cores: { control: 0, workers: [1] }\n",
               "interfaces:\n",
               "  n3:\n",
               f'    device: "{memif(0, self.socks["n3"], DUT_MAC["n3"], "client")}"\n',
               "    address: 192.168.1.1/24\n",
               f'    neighbors: {{ {GNB}: "{LG_MAC["n3"]}" }}\n',
               "  n6:\n",
               f'    device: "{memif(1, self.socks["n6"], DUT_MAC["n6"], "client")}"\n',
               "    address: 10.200.0.1/24\n",
               "    gateway: 10.200.0.254\n",
               f'    neighbors: {{ 10.200.0.254: "{LG_MAC["n6"]}" }}\n']
        if self.pfcp:
            out.append(f"pfcp: {{ listen: {self.pfcp}, peers: {peers}, heartbeat_interval: {heartbeat} }}\n")
        out.append(f"ue_pools: [ {{ cidr: {pool}, dnn: internet }} ]\n")
        out.append(f"teid_range: {{ first: 0x1000, last: {teid_last:#x} }}\n")
        out.append(f"api: {{ listen: {self.api} }}\n")
        out.append(f"reload: {{ watch: {'true' if watch else 'false'}, debounce: 300ms }}\n")
        out.append("sessions:\n")
        for i in range(sessions):
            teid = (ALT_BASE if alt(i) else DL_BASE) + i
            if bad_teid_at == i:
                teid = 0  # reserved: a validation error at this line
            line = (f"  - {{ id: {i + 1}, ue_ip: {ue_ip(i)}, uplink: {{ teid: {UL_BASE + i:#010x} }}, "
                    f"downlink: {{ gnb: {GNB}, teid: {teid:#010x}, qfi: {QFI} }}")
            q = qos(i)
            if q:
                line += f", qos: {{ mbr_ul: {q}, mbr_dl: {q} }}"
            out.append(line + " }\n")
        return "".join(out)

    def write(self, text: str) -> None:
        """Writes the file the way editors and ConfigMaps do: a new file,
        renamed over the old one."""
        tmp = os.path.join(self.d, ".upf.yaml.new")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)


class Run:
    """loadgen (memif server) and `upf run` (memif client) for one trial."""

    def __init__(self, a, name: str, cfg: Cfg, lg_sessions: int, traffic: str, rate_mpps: float, duration_s: float):
        self.a, self.name, self.cfg = a, name, cfg
        self.lg_log = os.path.join(cfg.d, "loadgen.log")
        self.out = os.path.join(cfg.d, "loadgen.json")
        ready = os.path.join(cfg.d, "ready")
        # Created by finish(): the trial is sized for a slow machine, and
        # the checks need its traffic only until the last step is done.
        self.stop_file = os.path.join(cfg.d, "stop")
        self.lg_prefix = f"{cfg.prefix}-lg"
        lg = [a.loadgen,
              "--n3", memif(0, cfg.socks["n3"], LG_MAC["n3"], "server"),
              "--n6", memif(1, cfg.socks["n6"], LG_MAC["n6"], "server"),
              "--n3-peer-mac", DUT_MAC["n3"], "--n6-peer-mac", DUT_MAC["n6"],
              "--sessions", str(lg_sessions), "--qfi", str(QFI), "--traffic", traffic, "--expect", "upf",
              "--dl-teid-alt-base", hex(ALT_BASE), "--mode", "fixed", "--rate-mpps", str(rate_mpps),
              "--duration-s", str(duration_s), "--warmup-s", "1", "--warmup-mpps", str(rate_mpps),
              "--drain-ms", "2000", "--ready-file", ready, "--stop-file", self.stop_file,
              "--linger-s", "30", "--json", self.out,
              "--label", f"reload-{name}",
              "--", "--lcores", "0@0,1@0", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", self.lg_prefix]
        self.upf = None
        self.lg = subprocess.Popen(lg, stdout=open(self.lg_log, "w"), stderr=subprocess.STDOUT)
        try:
            self._start(a, ready)
        except BaseException:
            self.kill()
            raise

    def _start(self, a, ready: str) -> None:
        cfg, name = self.cfg, self.name
        upfrun.wait_for("loadgen's memif ports", lambda: os.path.exists(ready) or self.lg.poll() is not None, 120)
        if self.lg.poll() is not None:
            raise AssertionError(f"loadgen exited: {self.lg_tail()}")
        self.upf = upfrun.Upf(a.upf, cfg.path, os.path.join(cfg.d, "upf.log"), cfg.prefix,
                              env={"RUST_LOG": "info"})
        self.upf.wait_running(120)
        # The warm-up trial's line: the measured trial runs from now on.
        upfrun.wait_for("loadgen's warm-up trial", lambda: self.lg_line("warmup") is not None
                        or self.lg.poll() is not None, 60)
        if self.lg_line("warmup") is None:
            raise AssertionError(f"loadgen ended in its warm-up: {self.lg_tail()}")
        print(f"{name}: {self.lg_line('warmup')[:200]}", flush=True)

    def lg_tail(self) -> str:
        with open(self.lg_log) as f:
            return "".join(f.readlines()[-8:])

    def lg_line(self, what: str) -> Optional[str]:
        with open(self.lg_log) as f:
            for line in f:
                if line.startswith(what):
                    return line.strip()
        return None

    def in_trial(self) -> bool:
        return self.lg_line("fixed") is None and self.lg.poll() is None

    def reloads(self) -> Dict[str, int]:
        r = self.upf.status()["reloads"]
        return {"applied": r["applied"], "rejected": r["rejected"]}

    def wait_reloads(self, applied: int, rejected: int, timeout: float = 60) -> dict:
        def done() -> bool:
            if self.upf.proc.poll() is not None:
                raise AssertionError(f"upf exited with status {self.upf.proc.returncode}")
            r = self.reloads()
            if r["applied"] > applied or r["rejected"] > rejected:
                raise AssertionError(f"more reloads than expected: {r}, wanted applied {applied}, rejected {rejected}")
            return r == {"applied": applied, "rejected": rejected}
        upfrun.wait_for(f"reloads applied {applied}, rejected {rejected}", done, timeout, poll=0.02)
        return self.upf.status()["reloads"]["last"]

    def poll_gap(self) -> Optional[float]:
        """The last reload's longest worker poll gap (us), once measured."""
        got: List[Optional[float]] = [None]

        def measured() -> bool:
            got[0] = self.upf.status()["reloads"]["last"].get("max_poll_gap_us")
            return got[0] is not None
        try:
            upfrun.wait_for("the poll gap", measured, 3, poll=0.01)
        except AssertionError:
            return None
        return got[0]

    def n3_tx(self) -> float:
        """Packets the UPF sent out of N3 (DL), from /metrics."""
        return upfrun.metric(self.upf.metrics(), "upf_tx_packets_total", interface="n3") or 0

    def wait_dl(self, packets: int, what: str, timeout: float = 20) -> None:
        """Waits until the UPF forwarded `packets` more DL packets: traffic
        after the last step, for loadgen to count."""
        base = self.n3_tx()
        upfrun.wait_for(f"{packets} DL packets {what}", lambda: self.n3_tx() >= base + packets, timeout)

    def finish(self, stop: bool = True) -> dict:
        """Ends loadgen's trial (with `stop`: now, else at its full
        length), waits for its result, stops the UPF (first: memif) and
        loadgen."""
        if stop:
            open(self.stop_file, "w").close()
        upfrun.wait_for("loadgen's result", lambda: os.path.exists(self.out) or self.lg.poll() is not None, 600)
        m = self.upf.metrics()
        rc = self.upf.stop(10)
        check(rc == 0, f"{self.name}: upf stops with status 0 after all reloads (got {rc})")
        try:
            self.lg.wait(45)
        except subprocess.TimeoutExpired:
            self.lg.send_signal(signal.SIGINT)
            self.lg.wait(10)
        if not os.path.exists(self.out):
            raise AssertionError(f"loadgen wrote no result: {self.lg_tail()}")
        print(f"{self.name}: {self.lg_line('fixed')}", flush=True)
        doc = json.load(open(self.out))
        doc["_metrics"] = m
        return doc

    def kill(self) -> None:
        if self.upf is not None:
            self.upf.kill()
        if self.lg.poll() is None:
            self.lg.send_signal(signal.SIGINT)
            try:
                self.lg.wait(10)
            except subprocess.TimeoutExpired:
                self.lg.kill()
        for p in (self.cfg.prefix, self.lg_prefix):
            subprocess.run(["rm", "-rf", upfrun.eal_runtime_dir(p)])


def trial_dirs(doc: dict) -> Dict[str, dict]:
    t = doc["trials"][-1] if "trials" in doc else doc["results"][0]["trials"][-1]
    return {d["direction"]: d for d in t["directions"]}


def bad(d: dict) -> int:
    return sum(v for v in d["mismatched"].values())


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_teid(a, d: str) -> None:
    os.makedirs(d)
    n = 10
    pfcp = f"127.0.0.1:{free_port()}"
    cfg = Cfg(d, f"reload-teid-{os.getpid()}", f"127.0.0.1:{free_port()}", pfcp)
    cfg.write(cfg.text(n, watch=True))
    run = Run(a, "teid", cfg, n, "dl", 0.002, 40)
    try:
        # Session 1's DL packets on the old TEID first, inside the measured
        # trial: a switch counts only from one version to the other, so a
        # reload applied before the trial's first packet of session 1 (a
        # generator stalled on a busy machine) would hide it. 400 packets
        # out of N3 at 2,000 per second, round robin over the 10 sessions
        # (the base may be up to 100 ms, 200 packets, old).
        run.wait_dl(400, "forwarded in the measured trial")
        # 1. SIGHUP: session 1 (index 0) gets the alternative gNB TEID.
        b = cfg.text(n, alt=lambda i: i == 0, watch=True)
        cfg.write(b)
        run.upf.proc.send_signal(signal.SIGHUP)
        last = run.wait_reloads(1, 0)
        check(last["result"] == "applied" and last.get("trigger") == "signal" and last.get("sessions_changed") == 1,
              f"SIGHUP applies the changed DL TEID: /status last reload {last}")
        # The watch saw the rename too: same bytes as the SIGHUP read, nothing to do.
        upfrun.wait_for("the watch's no-op", lambda: "content unchanged" in run.upf.log(), 10)
        check(run.reloads() == {"applied": 1, "rejected": 0}, "a watch event with unchanged content reloads nothing")
        m = run.upf.metrics()
        check(upfrun.metric(m, "upf_config_reloads_total", result="applied") == 1,
              'upf_config_reloads_total{result="applied"} = 1')
        run.wait_dl(400, "with session 1 on the new TEID")  # (counted by loadgen)

        # 2. The watch: the file alone switches it back.
        cfg.write(cfg.text(n, watch=True))
        last = run.wait_reloads(2, 0)
        check(last["result"] == "applied" and last.get("trigger") == "watch",
              f"a change of the file (rename over) reloads with reload.watch: {last}")
        check(re.search(r"reload applied \(watch\) in [0-9.]+ ms \(parse [0-9.]+, diff [0-9.]+, translate [0-9.]+, apply [0-9.]+ of which publish [0-9.]+\): "
                        r"sessions \+0 -0 ~1", run.upf.log()) is not None,
              "the log has the one-line summary (trigger, time to apply, sessions +added -removed ~changed)")

        # 3. Rejected: invalid value (TEID 0 in session 4), then a restart-only change.
        cfg.write(cfg.text(n, watch=True, bad_teid_at=3))
        last = run.wait_reloads(2, 1)
        log = run.upf.log()
        pos = re.search(r"upf\.yaml:(\d+):(\d+)", log[log.rfind("reload rejected"):])
        want_line = cfg.text(n, watch=True, bad_teid_at=3).splitlines().index(
            next(x for x in cfg.text(n, watch=True, bad_teid_at=3).splitlines() if "teid: 0x00000000" in x)) + 1
        check(last["result"] == "rejected" and pos is not None and int(pos.group(1)) == want_line,
              f"an invalid file is rejected with file:line:col (line {want_line}): {pos.group(0) if pos else None}; {last['summary']}")
        cfg.write(cfg.text(n, watch=True, mbufs=32768))
        last = run.wait_reloads(2, 2)
        check(last["result"] == "rejected" and "dpdk" in last["summary"] and "restart" in last["summary"],
              f"a restart-only change is refused by name: {last['summary']}")
        m = run.upf.metrics()
        check(upfrun.metric(m, "upf_config_reloads_total", result="rejected") == 2,
              'upf_config_reloads_total{result="rejected"} = 2')
        check(run.upf.proc.poll() is None and run.upf.status()["state"] == "running", "the UPF keeps running")

        # 4. PFCP: sessions established while static sessions and PFCP settings change.
        gate = os.path.join(d, "gate")
        os.mkdir(gate)
        smf_json = os.path.join(d, "smf.json")
        est_file = os.path.join(d, "smf-sessions.json")
        npfcp = 400
        sim = subprocess.Popen([a.smf_sim, "--upf", pfcp, "--bind", "127.0.0.1:0", "-n", str(npfcp), "--rate", "200",
                                "--gnb", GNB, "--gnb-teid-start", "0x5000", "--modify", "--new-gnb-teid-start", "0x9000",
                                "--delete", "--gate", gate, "--gnb-sessions", est_file, "--json", smf_json],
                               stdout=open(os.path.join(d, "smf.log"), "w"), stderr=subprocess.STDOUT)
        try:
            upfrun.wait_for("the first PFCP sessions", lambda: (run.upf.status().get("sessions", {}).get("pfcp") or 0) > 0, 30)
            variants = [
                cfg.text(n + 1, watch=True, heartbeat="2s", peers="[127.0.0.1]", pool="10.46.0.0/15",
                         teid_last=0x00FFFF00),
                cfg.text(n, qos=lambda i: "50Mbps" if i == 5 else None, watch=True, heartbeat="3s",
                         peers="[127.0.0.1, 10.9.9.9]"),
                cfg.text(n, watch=True),
            ]
            during = 0
            for k, text in enumerate(variants):
                cfg.write(text)
                run.upf.proc.send_signal(signal.SIGHUP)
                last = run.wait_reloads(3 + k, 2)
                pf = run.upf.status()["sessions"]["pfcp"]
                during += 0 < pf < npfcp
                check(last["result"] == "applied", f"reload {k + 1} during PFCP establishments applied "
                      f"({pf} PFCP sessions at that moment): {last['summary']}")
            upfrun.wait_for("smf-sim's established sessions", lambda: os.path.exists(est_file), 60)
            # /status is refreshed by the control thread's tick (at most
            # 100 ms old, per the Contract): give it a few ticks to show the
            # last answered establishments before judging the counts.
            try:
                upfrun.wait_for("/status to count every PFCP session",
                                lambda: run.upf.status()["sessions"]["pfcp"] == npfcp, 2)
            except AssertionError:
                pass  # judged (and reported with the counts) just below
            st = run.upf.status()
            check(st["sessions"]["pfcp"] == npfcp and st["sessions"]["static"] == n,
                  f"after the reloads: {npfcp} PFCP and {n} static sessions ({st['sessions']})")
            # Modifications while another reload (static session added) runs.
            open(os.path.join(gate, "modify"), "w").close()
            cfg.write(cfg.text(n + 2, watch=True))
            run.upf.proc.send_signal(signal.SIGHUP)
            run.wait_reloads(6, 2)
            open(os.path.join(gate, "delete"), "w").close()
            sim.wait(120)
            doc = json.load(open(smf_json))
        finally:
            if sim.poll() is None:
                sim.kill()
        phases = {v["phase"]: (v["accepted"], sum(v["rejected"].values()), v["timeouts"]) for v in doc["phases"]}
        want = {"establish": npfcp, "modify": npfcp, "delete": npfcp}
        check(all(phases.get(p, (None,))[0] == k and phases[p][1] == 0 and not phases[p][2] for p, k in want.items()),
              f"every PFCP session survives the reloads: established, modified and deleted {npfcp}/{npfcp}, "
              f"no rejection or timeout: {phases}")
        check(during > 0, f"at least one reload landed while PFCP establishments were under way ({during} of 3)")
        check(run.in_trial(), "every step ran inside loadgen's measured trial")
        run.wait_dl(200, "after the last step")
    except BaseException:
        run.kill()
        raise
    doc = run.finish()
    dl = trial_dirs(doc)["dl"]
    print(f"teid: DL offered {dl['tx']['offered']} received {dl['received']} alt {dl['alt_teid']} "
          f"switches {dl['version_switches']}/{dl['session_switches']} mismatched {dl['mismatched']}", flush=True)
    check(dl["alt_teid"] > 0, f"after SIGHUP, DL packets of session 1 carry the new TEID ({dl['alt_teid']} packets)")
    check(dl["session_switches"] == 2,
          f"session 1 switched to the new TEID once and back once (per-session switches {dl['session_switches']})")
    check(bad(dl) == 0 and dl["lost"] == 0 and dl["reordered"] == 0,
          f"DL: none lost ({dl['lost']}), reordered ({dl['reordered']}) or misrouted ({bad(dl)})")


def run_hitless(a, d: str) -> None:
    os.makedirs(d)
    n_traffic, n_qos = 10000, 1000
    n = n_traffic + n_qos
    cfg = Cfg(d, f"reload-hitless-{os.getpid()}", f"127.0.0.1:{free_port()}", None)

    def qos(v: int) -> Callable[[int], Optional[str]]:
        return lambda i: None if i < n_traffic else ("100Mbps" if v == 0 else "200Mbps")

    texts = [cfg.text(n, qos=qos(0)), cfg.text(n, qos=qos(1))]
    invalid = [cfg.text(n, qos=qos(1), bad_teid_at=n - 3), texts[1].replace("sessions:\n", "sessions: [\n", 1)]
    cfg.write(texts[0])
    # The trial must outlast 102 reloads: size it from what validating this
    # file takes here and now (`upf check`, the same code as a reload).
    t = time.monotonic()
    subprocess.run([a.upf, "check", "--config", cfg.path], capture_output=True, check=True, timeout=300)
    per = time.monotonic() - t
    # (a reload shares the control core with loadgen's generator: up to ~2.5x
    # the check on a loaded 2-core machine, where 102 reloads took 64 s of a
    # 154 s trial sized at 4x: the in-trial check below catches a short one)
    duration = a.hitless_s or min(480.0, max(60.0, 102 * (per * 2.5 + 0.3) + 20))
    print(f"hitless: `upf check` of the {n}-session file took {per:.2f} s; trial of {duration:.0f} s", flush=True)
    a.hitless_s = duration
    run = Run(a, "hitless", cfg, n_traffic, "bidir", a.rate_mpps, duration)
    t0 = time.monotonic()
    if a.baseline:
        # The same trial without reloads: is the rate one this machine
        # forwards with zero loss at all?
        doc = run.finish(stop=False)
        for name, x in trial_dirs(doc).items():
            check(x["lost"] == 0 and x["reordered"] == 0 and bad(x) == 0,
                  f"baseline {name} at {a.rate_mpps} Mpps, no reloads: offered {x['tx']['offered']}, lost {x['lost']}, "
                  f"reordered {x['reordered']}, misrouted {bad(x)}")
        return
    try:
        applied = rejected = 0
        worst = 0.0
        gaps: List[Optional[float]] = []
        for k in range(100):
            if k % 10 == 9:
                cfg.write(invalid[(k // 10) % 2])
                rejected += 1
            else:
                cfg.write(texts[(applied + 1) % 2])
                applied += 1
            run.upf.proc.send_signal(signal.SIGHUP)
            last = run.wait_reloads(applied, rejected)
            if last["result"] == "applied":
                worst = max(worst, last["duration_ms"])
                gaps.append(run.poll_gap())
                if last.get("sessions_changed") != n_qos:
                    check(False, f"reload {k + 1} changes the QoS of {n_qos} sessions: {last}")
        g = sorted(x for x in gaps if x is not None)
        if g:
            print(f"hitless: worker poll gap around each publish (us): median {g[len(g) // 2]:.1f}, "
                  f"max {g[-1]:.1f}, over 1 ms: {sum(x > 1000 for x in g)} of {len(g)}", flush=True)
        check(True, f"100 reloads: {applied} applied ({n_qos} sessions' QoS each), {rejected} rejected "
              f"in {time.monotonic() - t0:.1f} s (slowest applied {worst:.0f} ms)")
        # Atomicity: every traffic session's gNB TEID at once, and back.
        last_qos = qos(applied % 2)
        cfg.write(cfg.text(n, alt=lambda i: i < n_traffic, qos=last_qos))
        run.upf.proc.send_signal(signal.SIGHUP)
        last = run.wait_reloads(applied + 1, rejected)
        check(last.get("sessions_changed") == n_traffic, f"one reload changes {n_traffic} sessions' DL TEID: {last['summary']}")
        # Loadgen sends round robin over the sessions: 2 x n_traffic DL
        # packets give every session at least one on the new TEID (counted
        # by loadgen; the checks are on its counts).
        run.wait_dl(2 * n_traffic, "on the new TEIDs")
        cfg.write(cfg.text(n, qos=last_qos))
        run.upf.proc.send_signal(signal.SIGHUP)
        run.wait_reloads(applied + 2, rejected)
        run.wait_dl(2 * n_traffic, "on the TEIDs restored")  # every session switched back
        check(run.in_trial(), f"all reloads ran inside loadgen's measured trial ({time.monotonic() - t0:.0f} s "
              f"of {a.hitless_s} s)")
    except BaseException:
        run.kill()
        raise
    doc = run.finish()
    dirs = trial_dirs(doc)
    drops = {k[1][0][1]: v for k, v in doc["_metrics"].items() if k[0] == "upf_dropped_packets_total" and v}
    print(f"hitless: upf drops {drops}; loadgen tx refused by the UPF's rx ring (ingress): "
          f"{ {n: x['tx']['refused'] for n, x in dirs.items()} }", flush=True)
    for name, x in dirs.items():
        print(f"hitless {name}: offered {x['tx']['offered']} received {x['received']} lost {x['lost']} "
              f"reordered {x['reordered']} dup {x['duplicates']} mismatched {bad(x)} alt {x['alt_teid']} "
              f"switches {x['version_switches']}/{x['session_switches']}", flush=True)
        check(x["tx"]["offered"] > 0 and x["lost"] == 0 and x["reordered"] == 0 and x["duplicates"] == 0 and bad(x) == 0,
              f"{name}: every packet of the {n_traffic} unchanged sessions arrived, in order, on its own session "
              f"(offered {x['tx']['offered']}, lost {x['lost']}, reordered {x['reordered']}, misrouted {bad(x)})")
    dl = dirs["dl"]
    check(dl["alt_teid"] > 0 and dl["version_switches"] == 2,
          f"atomicity: the DL stream of {n_traffic} sessions changed TEID version exactly twice, once per reload "
          f"(switches {dl['version_switches']}; {dl['alt_teid']} packets on the new TEIDs; "
          f"{dl['session_switches']} per-session switches)")


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("upf")
    ap.add_argument("loadgen")
    ap.add_argument("smf_sim")
    ap.add_argument("workdir")
    ap.add_argument("runs", nargs="*", default=["teid", "hitless"])
    ap.add_argument("--rate-mpps", type=float, default=float(os.environ.get("RELOAD_TEST_MPPS", "0.01")))
    ap.add_argument("--hitless-s", type=float, default=float(os.environ.get("RELOAD_TEST_HITLESS_S", "0")),
                    help="length of the hitless trial (0: sized from a `upf check` of the file)")
    ap.add_argument("--baseline", action="store_true", help="hitless: the trial without reloads")
    a = ap.parse_args()
    for r in a.runs:
        try:
            {"teid": run_teid, "hitless": run_hitless}[r](a, os.path.join(a.workdir, r))
        except AssertionError as e:
            check(False, f"{r}: {e}")
    print(f"{len(FAILS)} failure(s)" if FAILS else "all checks passed", flush=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
