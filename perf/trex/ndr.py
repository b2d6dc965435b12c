#!/usr/bin/env python3
"""NDR/PDR search of a UPF with a TRex stateless server (driven by scripts/trex-run.sh).

RFC 2544 §26.1 / CSIT practice: NDR = the highest offered rate with zero
loss, PDR = the highest with loss below 0.5 %. A binary search over the
offered rate per direction (trials of --search-duration seconds) narrows each
to --precision, then a trial of --duration seconds confirms the rate (stepping
down by the precision if noise makes it fail). A latency trial at 50 % of NDR
adds p50/p99/p99.9 from TRex's latency histogram. Results: ARCHITECTURE.md
format, `bench: "trex"`, every trial included.

`--simulate-mpps C` replaces TRex by a model DUT that forwards at most C Mpps
per direction: it exercises the search and the JSON offline; such results say
`"simulated": true` and are written only where --out says.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "perf", "lib"))
sys.path.insert(0, os.path.join(_REPO, "perf", "gen"))
import results  # noqa: E402
import sessions as plan_mod  # noqa: E402

try:  # the PyPI packaging of TRex's client puts `trex` on sys.path when imported
    import lbr_trex_client  # noqa: F401,E402
except ImportError:  # TRex's own client dir on PYTHONPATH (TREX_CLIENT_DIR)
    pass

PDR_LOSS = 0.005


@dataclass
class Trial:
    pps_per_dir: float
    duration_s: float
    tx: Dict[str, int]
    rx: Dict[str, int]
    loss: float  # worst direction, 0..1
    latency: Optional[Dict[str, Dict[str, Optional[float]]]] = None
    note: str = ""

    @property
    def mpps_total(self) -> float:
        return self.pps_per_dir * max(1, len(self.tx)) / 1e6


@dataclass
class SearchResult:
    name: str
    max_loss: float
    pps_per_dir: Optional[float]
    final: Optional[Trial]
    trials: List[Trial] = field(default_factory=list)


def passes(t: Trial, max_loss: float) -> bool:
    return t.loss == 0.0 if max_loss == 0.0 else t.loss < max_loss


def bisect(trial: Callable[[float, float], Trial], name: str, max_loss: float, lo: float, hi: float,
           min_pps: float, precision: float, search_s: float, final_s: float,
           known: Optional[List[Trial]] = None, log=print) -> SearchResult:
    """Highest rate in [min_pps, hi] passing `max_loss`; `lo` is a first guess for a passing rate.

    `known` trials (of an earlier search, same traffic) narrow the bounds first,
    as MLRsearch does, so the PDR search reuses what the NDR search measured.
    """
    res = SearchResult(name=name, max_loss=max_loss, pps_per_dir=None, final=None)

    def run(rate: float, dur: float) -> bool:
        t = trial(rate, dur)
        res.trials.append(t)
        ok = passes(t, max_loss)
        log(f"  {name}: {rate / 1e6:10.4f} Mpps/dir for {dur:g} s -> loss {t.loss * 100:.4f} % {'pass' if ok else 'fail'}")
        return ok

    known = [t for t in (known or []) if t.duration_s >= search_s]
    fails = [t.pps_per_dir for t in known if not passes(t, max_loss) and t.pps_per_dir <= hi]
    hi_failed = bool(fails)
    if hi_failed:
        hi = min(fails)
    oks = [t.pps_per_dir for t in known if passes(t, max_loss) and t.pps_per_dir < hi]
    lo_passed = bool(oks)
    if lo_passed:
        lo = max(oks)

    if not hi_failed and run(hi, search_s):
        lo = hi
    else:
        lo = min(lo, hi)
        while not lo_passed and not run(lo, search_s):
            hi = lo
            lo /= 2
            if lo < min_pps:
                log(f"  {name}: fails even at {min_pps / 1e6:g} Mpps/dir")
                return res
        while hi - lo > precision * hi:
            mid = (lo + hi) / 2
            if run(mid, search_s):
                lo = mid
            else:
                hi = mid
    # Confirm with a long trial; noise may make it fail: step down, a few times at most.
    rate = lo
    for _ in range(4):
        if run(rate, final_s):
            res.pps_per_dir, res.final = rate, res.trials[-1]
            return res
        rate *= 1 - precision
        if rate < min_pps:
            break
    return res


def percentile_from_histogram(hist: Dict[str, int], q: float, max_us: Optional[float]) -> Optional[float]:
    """Upper bound of the TRex histogram bucket holding quantile q (keys: bucket lower bounds in µs)."""
    items = sorted((float(k), int(v)) for k, v in hist.items() if int(v) > 0)
    total = sum(v for _, v in items)
    if total == 0:
        return None
    bounds = sorted(float(k) for k in hist)
    acc = 0
    for lower, count in items:
        acc += count
        if acc >= q * total:
            higher = [b for b in bounds if b > lower]
            upper = higher[0] if higher else None
            if max_us is not None and (upper is None or upper > max_us):
                upper = max_us
            return upper if upper is not None else lower
    return max_us


class SimulatedDut:
    """A DUT that forwards up to `capacity_mpps` per direction and drops the excess."""

    def __init__(self, capacity_mpps: float, directions: List[str]):
        self.cap = capacity_mpps * 1e6
        self.directions = directions

    def trial(self, pps: float, duration: float, latency: bool = False) -> Trial:
        tx = {d: int(pps * duration) for d in self.directions}
        rx = {d: int(min(pps, self.cap) * duration) for d in self.directions}
        loss = max((tx[d] - rx[d]) / tx[d] if tx[d] else 0.0 for d in self.directions)
        lat = None
        if latency:
            lat = {d: {"p50_us": None, "p99_us": None, "p999_us": None, "max_us": None} for d in self.directions}
        return Trial(pps, duration, tx, rx, loss, lat, note="simulated")


class TrexDut:
    """Runs trials on a TRex stateless server: port A = N3 (UL), port B = N6 (DL)."""

    def __init__(self, a: argparse.Namespace, directions: List[str]):
        from trex.stl.api import STLClient, STLProfile  # the TRex client library (lbr-trex-client or TRex's own)

        self.STLProfile = STLProfile
        self.a = a
        self.directions = directions
        self.n3, self.n6 = a.ports
        self.c = STLClient(server=a.server, sync_port=a.sync_port, async_port=a.async_port)
        self.c.connect()
        self.c.reset(ports=[self.n3, self.n6])
        if a.l3:
            plan = plan_mod.plan_from_args(a)
            self.c.set_l3_mode(self.n3, src_ipv4=str(plan.gnb), dst_ipv4=str(plan.upf_n3))
            self.c.set_l3_mode(self.n6, src_ipv4=a.n6_gateway, dst_ipv4=a.n6_upf)
            self.c.resolve(ports=[self.n3, self.n6])

    def close(self) -> None:
        try:
            self.c.stop(ports=[self.n3, self.n6])
        finally:
            self.c.disconnect()

    def _load(self, port: int, direction: int, pps: float, latency: bool) -> None:
        tun = list(self.a.tunables) + ["--pps", repr(pps)]
        if latency:
            tun += ["--latency-pps", str(self.a.latency_pps)]
        prof = self.STLProfile.load_py(self.a.profile, direction=direction, port_id=port, tunables=tun)
        streams = prof.get_streams()
        if streams:
            self.c.add_streams(streams, ports=[port])

    def trial(self, pps: float, duration: float, latency: bool = False) -> Trial:
        ports = [self.n3, self.n6]
        self.c.remove_all_streams(ports=ports)
        self._load(self.n3, 0, pps, latency)
        self._load(self.n6, 1, pps, latency)
        self.c.clear_stats(ports=ports)
        self.c.start(ports=ports, duration=duration, force=True)
        self.c.wait_on_traffic(ports=ports, timeout=duration + 60)
        time.sleep(self.a.settle)  # let in-flight packets arrive before reading counters
        st = self.c.get_stats(ports=ports)
        pairs = {"ul": (self.n3, self.n6), "dl": (self.n6, self.n3)}
        tx, rx, losses = {}, {}, []
        for d in self.directions:
            src, dst = pairs[d]
            tx[d], rx[d] = int(st[src]["opackets"]), int(st[dst]["ipackets"])
            losses.append(max(0, tx[d] - rx[d]) / tx[d] if tx[d] else 1.0)
        lat = None
        if latency:
            lat = {}
            for d, pg in (("ul", self.a.pg_id_base), ("dl", self.a.pg_id_base + 1)):
                if d not in self.directions:
                    continue
                info = st.get("latency", {}).get(pg, {}).get("latency", {})
                hist, mx = info.get("histogram", {}), info.get("total_max")
                lat[d] = {q: percentile_from_histogram(hist, v, mx) for q, v in (("p50_us", 0.5), ("p99_us", 0.99), ("p999_us", 0.999))}
                lat[d]["max_us"] = mx
        return Trial(pps, duration, tx, rx, max(losses), lat)


def directions_of(traffic: str) -> List[str]:
    return {"ul": ["ul"], "dl": ["dl"], "bidir": ["ul", "dl"]}[traffic]


def build_rows(a, plan, directions, ndr: SearchResult, pdr: SearchResult, lat: Optional[Trial]) -> List[dict]:
    inner = None if a.imix else a.size
    rows = []
    for res in (ndr, pdr):
        r = results.row(
            "trex",
            direction="+".join(directions) if len(directions) > 1 else directions[0],
            sessions=plan.sessions,
            inner_bytes=inner,
            workers=a.workers,
            mpps=None if res.final is None else round(res.final.mpps_total, 6),
            loss=None if res.final is None else res.final.loss,
            search=res.name,
            max_loss=res.max_loss,
            mpps_per_direction=None if res.pps_per_dir is None else round(res.pps_per_dir / 1e6, 6),
            imix=a.imix,
            qfi=plan.qfi,
            psc=not a.no_psc,
            profile=os.path.relpath(a.profile, _REPO) if a.profile.startswith(_REPO) else a.profile,
            dut=a.dut,
            trials=[asdict(t) for t in res.trials],
        )
        if res.name == "ndr" and lat is not None and lat.latency:
            worst = {}
            for q in ("p50_us", "p99_us", "p999_us"):
                vals = [v[q] for v in lat.latency.values() if v.get(q) is not None]
                worst[q] = max(vals) if vals else None
            r.update(worst)
            r["latency"] = {"at_mpps_per_direction": round(lat.pps_per_dir / 1e6, 6), "per_direction": lat.latency,
                            "source": "TRex latency histogram, bucket upper bounds"}
        rows.append(r)
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="trex-run.sh", description=__doc__.split("\n\n")[0])
    plan_mod.add_plan_args(ap)
    ap.add_argument("--server", default="127.0.0.1", help="TRex server (started with -i, --software for latency)")
    ap.add_argument("--sync-port", type=int, default=4501)
    ap.add_argument("--async-port", type=int, default=4500)
    ap.add_argument("--ports", type=int, nargs=2, default=[0, 1], metavar=("N3", "N6"), help="TRex ports wired to the UPF's N3 and N6")
    ap.add_argument("--l3", action="store_true", help="TRex ports in L3 mode: ARP for the UPF's N3/N6 addresses")
    ap.add_argument("--n6-gateway", default="10.200.0.254", help="TRex N6 port address (the UPF's gateway), with --l3")
    ap.add_argument("--n6-upf", default="10.200.0.1", help="UPF N6 address, with --l3")
    ap.add_argument("--profile", default=os.path.join(_HERE, "upf.py"))
    ap.add_argument("--traffic", choices=["ul", "dl", "bidir"], default="ul")
    ap.add_argument("--size", type=int, default=64, help="inner IP bytes")
    ap.add_argument("--imix", default=None)
    ap.add_argument("--no-psc", action="store_true")
    ap.add_argument("-t", "--tunable", action="append", default=[], help="extra profile tunables (shell-quoted string)")
    ap.add_argument("--max-mpps", type=float, default=14.88, help="upper bound per direction (default 10GbE at 64 B)")
    ap.add_argument("--min-mpps", type=float, default=0.01)
    ap.add_argument("--start-mpps", type=float, default=None, help="first guess of a passing rate (default max/2)")
    ap.add_argument("--precision", type=float, default=0.01, help="relative width where the search stops")
    ap.add_argument("--search-duration", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0, help="confirmation trial seconds")
    ap.add_argument("--pdr-loss", type=float, default=PDR_LOSS)
    ap.add_argument("--latency-pps", type=float, default=1000.0, help="latency trial at 50 %% of NDR; 0 = skip")
    ap.add_argument("--pg-id-base", type=int, default=10)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=None, help="UPF workers on the DUT (recorded)")
    ap.add_argument("--dut", default=None, help="free text: DUT machine and build (recorded)")
    ap.add_argument("--simulate-mpps", type=float, default=None, help="offline: model DUT with this capacity per direction")
    ap.add_argument("--out", default=None, help="results JSON (default perf/results/trex-<time>.json)")
    a = ap.parse_args(argv)

    try:
        plan = plan_mod.plan_from_args(a)
    except plan_mod.PlanError as e:
        print(f"trex-run: {e}", file=sys.stderr)
        return 2
    if a.simulate_mpps is not None and a.out is None:
        print("trex-run: --simulate-mpps needs --out (simulated figures never go to perf/results/)", file=sys.stderr)
        return 2
    directions = directions_of(a.traffic)
    # Tunables passed to the profile: the plan, traffic shape, then the user's extras.
    tun = ["--sessions", str(plan.sessions), "--ue-pool", str(plan.ue_pool), "--ue-offset", str(plan.ue_offset),
           "--ul-teid-base", hex(plan.ul_teid_base), "--dl-teid-base", hex(plan.dl_teid_base), "--first-id", str(plan.first_id),
           "--qfi", str(plan.qfi), "--gnb", str(plan.gnb), "--upf-n3", str(plan.upf_n3), "--dn-server", str(plan.dn_server),
           "--traffic", a.traffic, "--pg-id-base", str(a.pg_id_base)]
    tun += ["--imix", a.imix] if a.imix else ["--size", str(a.size)]
    if a.no_psc:
        tun.append("--no-psc")
    for t in a.tunable:
        tun += shlex.split(t)
    a.tunables = tun

    dut = SimulatedDut(a.simulate_mpps, directions) if a.simulate_mpps is not None else TrexDut(a, directions)
    try:
        hi, lo = a.max_mpps * 1e6, (a.start_mpps or a.max_mpps / 2) * 1e6
        print(f"NDR search ({a.traffic}, {plan.sessions} sessions, {'imix ' + a.imix if a.imix else str(a.size) + ' B inner'})")
        ndr = bisect(dut.trial, "ndr", 0.0, lo, hi, a.min_mpps * 1e6, a.precision, a.search_duration, a.duration)
        print("PDR search")
        pdr = bisect(dut.trial, "pdr", a.pdr_loss, lo, hi, a.min_mpps * 1e6, a.precision, a.search_duration, a.duration,
                     known=ndr.trials)
        lat = None
        if a.latency_pps > 0 and ndr.pps_per_dir:
            print(f"latency at 50 % of NDR ({ndr.pps_per_dir / 2e6:.4f} Mpps/dir)")
            lat = dut.trial(ndr.pps_per_dir / 2, a.duration, latency=True)
    finally:
        if isinstance(dut, TrexDut):
            dut.close()

    rows = build_rows(a, plan, directions, ndr, pdr, lat)
    extra = {"simulated": True} if a.simulate_mpps is not None else {}
    doc = results.document("scripts/trex-run.sh " + " ".join(shlex.quote(x) for x in argv), rows, repo=_REPO, **extra)
    path = a.out or results.default_path(os.path.join(_REPO, "perf", "results"), "trex")
    results.write(path, doc)
    for r in rows:
        mpps = "n/a" if r["mpps"] is None else f"{r['mpps']:.4f}"
        print(f"{r['search'].upper()}: {mpps} Mpps total ({r['direction']}), loss {r['loss']}")
    if lat is not None and lat.latency:
        print("latency at 50 % NDR: " + json.dumps(lat.latency))
    print(f"results: {path}")
    return 0 if ndr.final is not None else 1


if __name__ == "__main__":
    sys.exit(main())
