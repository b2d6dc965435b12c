#!/usr/bin/env python3
"""The plots of a perf/run.sh results document (PNG, matplotlib, Agg backend).

Drawn from the merged rows only, so any results document can be re-plotted
(`perfrun.py plot FILE`): cycles/packet vs sessions (pipeline), throughput vs
workers (scaling), latency CDF (e2e, from loadgen's histogram points), and
the peer-ovs bar chart. A plot whose data is missing is drawn with a "not
measured (reason)" note instead of being left out, so the README never links
to nothing.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ul": "#1f77b4", "dl": "#d62728", "mix": "#2ca02c", "ul+dl": "#9467bd"}
SYS_COLORS = {"upf": "#1f77b4", "testpmd-io": "#2ca02c", "testpmd-macswap": "#ff7f0e", "ovs": "#8c8c8c",
              "testpmd": "#2ca02c"}


def title(doc: dict, what: str) -> str:
    m = doc.get("machine") or {}
    return f"{what}\n{m.get('cpu')}, {m.get('mhz')} MHz, {m.get('cores')} cores (shared), {doc.get('date')}, git {doc.get('git')}"


def reason(doc: dict, suite: str) -> str:
    r = next((r for r in doc.get("results", []) if r.get("suite") == suite and r.get("not_measured")), None)
    return f"not measured ({r['not_measured']})" if r else "not measured (no rows)"


def empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, "\n".join(wrap(text, 70)), ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#a00")
    ax.set_xticks([])
    ax.set_yticks([])


def wrap(text: str, width: int) -> List[str]:
    out, line = [], ""
    for w in text.split():
        if len(line) + len(w) + 1 > width and line:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return out + ([line] if line else [])


def pipeline(doc: dict, path: str) -> None:
    rows = [r for r in doc["results"] if r.get("suite") == "pipeline" and r.get("bench") == "pipeline"
            and r.get("sessions") and (r.get("pipeline_cycles_per_pkt") or r.get("cycles_per_pkt"))]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    if not rows:
        empty(ax, "pipeline: " + reason(doc, "pipeline"))
    else:
        key = "pipeline_cycles_per_pkt" if all(r.get("pipeline_cycles_per_pkt") for r in rows) else "cycles_per_pkt"
        for d in ("ul", "dl", "mix"):
            for size, style in ((64, "-o"), (1400, "--s")):
                pts = sorted((r["sessions"], r[key]) for r in rows if r.get("direction") == d and r.get("inner_bytes") == size)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=COLORS[d], label=f"{d.upper()} {size} B",
                            markersize=4)
        ax.set_xscale("log")
        ax.set_xlim(0.5, 4e6)
        for s, lim in ((10000, 100), (1000000, 200)):
            ax.plot([s], [lim], marker="_", markersize=18, color="k")
            ax.annotate(f"target ≤ {lim}", (s, lim), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xlabel("sessions (uniformly random choice per packet)")
        ax.set_ylabel("TSC cycles / packet" + (" (pipeline, harness excluded)" if key == "pipeline_cycles_per_pkt" else ""))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, ncol=2)
    ax.set_title(title(doc, "dataplane pipeline, 1 worker, QER+URR on"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def scaling(doc: dict, path: str) -> None:
    rows = [r for r in doc["results"] if r.get("suite") == "scaling" and r.get("mpps") is not None and r.get("workers")]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if not rows:
        empty(ax, "scaling: " + reason(doc, "scaling"))
    else:
        maxw = 1
        for system in ("upf", "testpmd-io"):
            pts = sorted((r["workers"], r["mpps"]) for r in rows if r.get("system") == system)
            if not pts:
                continue
            maxw = max(maxw, pts[-1][0])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=SYS_COLORS[system], label=system)
            one = next((m for w, m in pts if w == 1), None)
            if one and system == "upf":
                ax.plot([1, maxw], [one, one * maxw], ":", color=SYS_COLORS[system], label="upf linear (N × 1 worker)")
                ax.plot([1, maxw], [one * 0.9, one * 0.9 * maxw], ":", color="#aaa", label="90 % of linear (target)")
        if maxw == 1:
            ax.text(0.5, 0.5, "1 worker only: N workers need N + 1 cores\n(perf/scaling.sh on a bigger machine)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#a00")
        ax.set_xlabel("workers (forwarding cores)")
        ax.set_ylabel("Mpps (median of windows)")
        ax.set_xticks(sorted({r["workers"] for r in rows}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    src = next((r.get("source") for r in rows if r.get("source")), "net_pcap replay")
    ax.set_title(title(doc, f"throughput vs workers ({src})"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def latency_cdf(doc: dict, path: str) -> None:
    import math

    rows = [r for r in doc["results"] if r.get("suite") == "e2e" and r.get("search") == "ndr" and r.get("latency_cdf")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110)
    if not rows:
        for ax in (ax1, ax2):
            empty(ax, "latency: " + reason(doc, "e2e") + " (or loadgen emitted no CDF points)")
    else:
        styles = {"ul": "-", "dl": "--"}
        for r in rows:
            for d, pts in sorted(r["latency_cdf"].items()):
                xs = [max(p[1], 1e-3) for p in pts]
                ys = [p[0] for p in pts]
                lab = f"{r['system']} {d.upper()}"
                c = SYS_COLORS.get(r["system"], None)
                ax1.plot(xs, ys, styles.get(d, "-"), color=c, label=lab, drawstyle="steps-post")
                tail = [(x, y) for x, y in zip(xs, ys) if y < 100.0]
                ax2.plot([t[0] for t in tail], [-math.log10(1 - t[1] / 100) for t in tail], styles.get(d, "-"), color=c,
                         label=lab, marker=".", markersize=3)
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.set_xlabel("latency, µs (loadgen TSC stamps, round trip through the device)")
            ax.grid(alpha=0.3, which="both")
            ax.axvline(10, color="k", lw=0.8, ls=":")
        ax1.set_ylabel("percentile")
        ax1.set_ylim(0, 100)
        ax2.set_ylabel("percentile (tail)")
        nines = [1, 2, 3, 4, 5]
        ax2.set_yticks(nines)
        ax2.set_yticklabels(["90", "99", "99.9", "99.99", "99.999"])
        ax2.set_ylim(0, 5.2)
        ax1.legend(fontsize=7)
        at = next((r.get("latency_at") for r in rows if r.get("latency_at")), "")
        ax2.text(10, 0.2, " target p99 ≤ 10 µs", fontsize=7)
        ax1.set_title("latency CDF at 50 % of NDR", fontsize=8)
        ax2.set_title(f"tail ({at})" if at else "tail", fontsize=7)
    fig.suptitle(title(doc, "end to end over memif, 1 worker"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def peer_ovs(doc: dict, path: str) -> None:
    rows = [r for r in doc["results"] if r.get("suite") == "peer-ovs" and r.get("system")]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    sizes = sorted({r["frame_bytes"] for r in rows if r.get("frame_bytes")})
    if not rows or not sizes:
        empty(ax, "peer-ovs: " + reason(doc, "peer-ovs"))
    else:
        systems = [("ovs", "OVS-DPDK gtpu"), ("upf", "upf"), ("testpmd", "testpmd io")]
        width = 0.26
        for j, (sysname, label) in enumerate(systems):
            for i, size in enumerate(sizes):
                at = [r for r in rows if r.get("system") == sysname and r.get("frame_bytes") == size]
                r = next((x for x in at if x.get("used_for_ratio")), None) or next((x for x in at if x.get("mpps") is not None), None)
                x = i + (j - 1) * width
                lab = label if i == 0 else None
                if r and r.get("mpps") is not None:
                    lo, hi = r.get("mpps_min", r["mpps"]), r.get("mpps_max", r["mpps"])
                    ax.bar(x, r["mpps"], width, color=SYS_COLORS[sysname], label=lab,
                           yerr=[[r["mpps"] - (lo if lo is not None else r["mpps"])], [(hi if hi is not None else r["mpps"]) - r["mpps"]]],
                           capsize=3)
                    txt = f"{r['mpps']:.2f}"
                    if sysname == "upf" and r.get("ratio_to_ovs"):
                        txt += f"\n{r['ratio_to_ovs']:.1f}× OVS"
                    ax.text(x, hi if hi is not None else r["mpps"], txt, ha="center", va="bottom", fontsize=7)
                else:
                    ax.bar(x, 0, width, color=SYS_COLORS[sysname], label=lab)
                    ax.text(x, 0, "not\nmeasured", ha="center", va="bottom", fontsize=7, color=SYS_COLORS[sysname])
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{s} B G-PDUs" for s in sizes])
        ax.set_ylabel("Mpps, one core (median, min–max)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    n = next((r.get("sessions") for r in rows if r.get("sessions")), None)
    ax.set_title(title(doc, f"GTP-U decap side by side, net_pcap source, {n or '?'} sessions, QER+URR on (upf)"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


PLOTS = {
    "cycles_vs_sessions": pipeline,
    "throughput_vs_workers": scaling,
    "latency_cdf": latency_cdf,
    "peer_ovs": peer_ovs,
}


def draw_all(doc: dict, out_dir: str, only: Optional[List[str]] = None) -> Dict[str, str]:
    """Every plot as out_dir/<name>.png; returns name -> path."""
    os.makedirs(out_dir, exist_ok=True)
    made = {}
    for name, fn in PLOTS.items():
        if only and name not in only:
            continue
        path = os.path.join(out_dir, f"{name}.png")
        fn(doc, path)
        made[name] = path
    return made
