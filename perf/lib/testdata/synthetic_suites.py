#!/usr/bin/env python3
"""Synthetic results documents of every perf/run.sh suite, in the shapes the
real suites write (pipeline-bench, io_worker.py, e2e.py, peer_ovs.py,
scaling.py), with figures chosen so that the merged summary's ratios and
targets are known in advance. For scripts/tests/64-perf-run-offline.sh only.

    synthetic_suites.py DIR      # writes DIR/<suite>.json for every suite
"""

from __future__ import annotations

import json
import os
import sys

MACHINE = {"cpu": "Synthetic CPU", "mhz": 2600, "cores": 2}


def doc(command, rows, **extra):
    d = {"date": "2026-11-26T00:00:00Z", "git": "abc1234", "command": command, "machine": dict(MACHINE), "results": rows}
    d.update(extra)
    return d


def base(bench, **kw):
    r = {k: None for k in ("bench", "direction", "sessions", "inner_bytes", "workers", "mpps", "cycles_per_pkt",
                           "instr_per_pkt", "ratio_to_testpmd", "loss", "p50_us", "p99_us", "p999_us")}
    r["bench"] = bench
    r.update(kw)
    return r


def pipeline():
    rows = []
    # pipeline cycles: 80 + 10*log10(sessions) (UL), +5 DL; 1400 B the same + 1.
    for s in (1, 10000, 100000, 1000000):
        lg = len(str(s)) - 1
        for d, off in (("ul", 0), ("dl", 5), ("mix", 3)):
            for size, add in ((64, 0), (1400, 1)):
                pc = 80.0 + 10 * lg + off + add
                rows.append(base("pipeline", direction=d, sessions=s, inner_bytes=size, workers=1, mpps=round(2600 / (pc + 25), 3),
                                 cycles_per_pkt=pc + 25, pipeline_cycles_per_pkt=pc, io_cycles_per_pkt=25.0,
                                 instr_per_pkt=700, pipeline_instr_per_pkt=517 if d == "ul" else 557, loss=0.0))
    return doc("pipeline-bench --quick", rows, notes="synthetic")


def io_worker():
    rows = []
    for mode, tp, up in (("null-rx", 70.0, 28.0), ("ul", 35.0, 14.0), ("dl", 37.5, 7.5)):
        rows.append(base("testpmd", system="testpmd-io", mode=mode, workers=1, mpps=tp / 2, mpps_per_worker_cpu_s=tp))
        rows.append(base("testpmd", system="upf", mode=mode, workers=1, mpps=up / 2, mpps_per_worker_cpu_s=up,
                         ratio_to_testpmd=round(up / tp, 3)))
    return doc("perf/io-worker.sh --quick", rows, machine_note="synthetic")


def cdf(scale):
    pts = [0.0, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.0, 99.0, 99.5,
           99.7, 99.9, 99.95, 99.97, 99.99, 99.995, 99.999, 100.0]
    return [[p, round(scale * (1 + p / 10 + (50 if p > 99.9 else 0)), 3)] for p in pts]


def e2e():
    rows = []
    for system, ndr, p99 in (("testpmd-io", 4.0, 6.0), ("testpmd-macswap", 3.0, 7.0), ("upf", 3.2, 8.5)):
        bench = "e2e" if system == "upf" else "testpmd"
        n = base(bench, system=system, search="ndr", direction="ul+dl", sessions=10000, inner_bytes=64, workers=1,
                 mpps=ndr, loss=0.0, p50_us=p99 / 3, p99_us=p99, p999_us=p99 * 2,
                 latency_cdf={"ul": cdf(p99 / 11), "dl": cdf(p99 / 10)})
        p = base(bench, system=system, search="pdr", direction="ul+dl", sessions=10000, inner_bytes=64, workers=1, mpps=ndr * 1.1)
        if system == "upf":
            n["ratio_to_testpmd"] = 0.8
            n["ratio_to_testpmd_cpu"] = 0.75
            n["mpps_per_dut_cpu_overload"] = 4.5
            p["ratio_to_testpmd"] = 0.8
        if system == "testpmd-io":
            n["mpps_per_dut_cpu_overload"] = 6.0
        rows += [n, p]
    return doc("perf/e2e-bench.sh --quick", rows)


def peer_ovs():
    rows = []
    for size, ovs, up, tp in ((100, 2.0, 9.0, 20.0), (512, 1.6, 5.6, 16.0)):
        for psc, o in ((True, ovs), (False, ovs * 0.9)):
            rows.append(base("peer-ovs", system="ovs", frame_bytes=size, psc=psc, sessions=10000, workers=1, mpps=o,
                             mpps_min=o * 0.9, mpps_max=o * 1.1, used_for_ratio=psc))
        rows.append(base("peer-ovs", system="testpmd", frame_bytes=size, psc=True, sessions=10000, workers=1, mpps=tp,
                         mpps_min=tp * 0.9, mpps_max=tp * 1.1, ratio_to_testpmd=1.0))
        rows.append(base("peer-ovs", system="upf", frame_bytes=size, psc=True, sessions=10000, workers=1, mpps=up,
                         mpps_min=up * 0.9, mpps_max=up * 1.1, ratio_to_testpmd=round(up / tp, 4),
                         ratio_to_ovs=round(up / ovs, 4)))
    return doc("perf/peer-ovs.sh --quick", rows)


def scaling():
    rows = []
    for n, up, tp in ((1, 8.0, 30.0), (2, 15.2, 59.0), (4, 28.0, 116.0)):
        rows.append(base("e2e", system="upf", mode="scaling", direction="ul", sessions=10000, frame_bytes=100, workers=n,
                         mpps=up, mpps_min=up, mpps_max=up, linear_mpps=8.0 * n, scaling_efficiency=round(up / (8.0 * n), 4),
                         ratio_to_testpmd=round(up / tp, 4), source="synthetic"))
        rows.append(base("testpmd", system="testpmd-io", mode="scaling", direction="ul", sessions=10000, frame_bytes=100,
                         workers=n, mpps=tp, linear_mpps=30.0 * n, scaling_efficiency=round(tp / (30.0 * n), 4)))
    return doc("perf/scaling.sh --quick", rows)


SUITES = {"pipeline": pipeline, "io-worker": io_worker, "e2e": e2e, "peer-ovs": peer_ovs, "scaling": scaling}


def main() -> int:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, fn in SUITES.items():
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(fn(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
