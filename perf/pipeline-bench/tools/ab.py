#!/usr/bin/python3
"""pipeline-bench A/B: several pipeline-bench binaries (built with different
code or build settings) alternate in every round, so that a shared
machine's load falls on all of them alike; cycles per packet of each round,
medians, and per-round ratios to the first binary.

  perf/pipeline-bench/tools/ab.py --bin base=PATH --bin new=PATH [--rounds 8]
        [--sessions 10000] [--dirs ul,dl] [--reps 5] --out FILE.json

Each round runs every binary once (`--sizes 64 --reps N`), in reverse order
every other round. Read the per-round ratios (`paired_ratios`): a round hit
by a neighbour shows as an outlier there, not as a shifted median.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--sessions", default="10000")
    ap.add_argument("--dirs", default="ul,dl")
    ap.add_argument("--reps", default="5")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    bins = [tuple(b.split("=", 1)) for b in a.bin]
    tmp = tempfile.mkdtemp(prefix="pipeline-ab.")
    res: dict = {}
    for r in range(a.rounds):
        for name, path in (bins if r % 2 == 0 else list(reversed(bins))):
            out = os.path.join(tmp, f"{name}-r{r}.json")
            subprocess.run([path, "--sessions", a.sessions, "--sizes", "64", "--dirs", a.dirs,
                            "--reps", a.reps, "--out", out], check=True, capture_output=True)
            for row in json.load(open(out))["results"]:
                v = res.setdefault((name, row["direction"], row["sessions"]), {"total": [], "pipeline": []})
                v["total"].append(row["cycles_per_pkt"])
                v["pipeline"].append(row["pipeline_cycles_per_pkt"])
                print(f"round {r + 1} {name:8s} {row['direction']} {row['sessions']}: "
                      f"{row['cycles_per_pkt']:.1f} cycles/pkt (pipeline {row['pipeline_cycles_per_pkt']:.1f})", flush=True)
    rows = []
    for (name, d, s), v in res.items():
        rows.append({"bin": name, "direction": d, "sessions": s,
                     "cycles_per_pkt_median": statistics.median(v["total"]),
                     "pipeline_cycles_per_pkt_median": statistics.median(v["pipeline"]),
                     "cycles_per_pkt_rounds": v["total"], "pipeline_cycles_per_pkt_rounds": v["pipeline"]})
    base = bins[0][0]
    for row in rows:
        b = next(x for x in rows if x["bin"] == base and x["direction"] == row["direction"]
                 and x["sessions"] == row["sessions"])
        row[f"ratio_to_{base}"] = round(row["cycles_per_pkt_median"] / b["cycles_per_pkt_median"], 4)
        row["paired_ratios"] = [round(x / y, 4) for x, y in zip(row["cycles_per_pkt_rounds"], b["cycles_per_pkt_rounds"])]
        print(f"{row['direction']} {row['sessions']} {row['bin']:8s} median {row['cycles_per_pkt_median']:.1f} "
              f"(rounds {row['cycles_per_pkt_rounds']}) ratio {row[f'ratio_to_{base}']} per round {row['paired_ratios']}")
    with open(a.out, "w") as f:
        json.dump({"command": " ".join(sys.argv), "bins": dict(bins), "rows": rows}, f, indent=1)
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
