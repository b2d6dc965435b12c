#!/usr/bin/env python3
"""Offline checks of the TRex kit, run by scripts/tests/60-perf-trex-offline.sh.

No TRex server runs here, so: the profiles load with the TRex client library,
their field engine is expanded for chosen session indexes (perf/lib/trex_fe.py),
tshark (an independent dissector) must read the packets as valid GTP-U with
the PDU Session Container and the QFI asked for, and every TEID / UE address
must belong to the same session in the config that perf/gen/sessions.py
writes, read back with PyYAML. The pcap generator of the OVS peer bench gets
the same checks, and both constructions must agree field by field.
"""

import argparse
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import lbr_trex_client  # noqa: F401  (puts TRex's `trex` package on sys.path)
except ImportError:
    pass
from trex.stl.api import STLProfile  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "perf", "lib"))
sys.path.insert(0, os.path.join(_REPO, "perf", "gen"))
import sessions as plan_mod  # noqa: E402
import trex_fe  # noqa: E402

PASSED, FAILED = [], []


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok or not detail else ': ' + str(detail)}")
    return ok


def write_pcap(path, frames):
    plan_mod.write_pcap(path, frames)


TSHARK_FIELDS = [
    "frame.number", "frame.len", "ip.src", "ip.dst", "ip.len", "udp.srcport", "udp.dstport", "udp.length",
    "gtp.flags.e", "gtp.teid", "gtp.length", "gtp.ext_hdr.pdu_ses_con.pdu_type", "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
    "ip.checksum.status", "udp.checksum.status", "_ws.expert.severity", "_ws.malformed", "_ws.expert.message",
]
EXPERT_WARN = 0x600000  # wireshark's PI_WARN; PI_ERROR is 0x800000


def tshark(pcap):
    """Per frame: dict of field -> list of values (outer header first); and the frames with expert problems."""
    cmd = ["tshark", "-n", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    out = subprocess.run(cmd + sum((["-e", f] for f in TSHARK_FIELDS), []), capture_output=True, text=True, check=True).stdout
    rows, bad = [], []
    for line in out.splitlines():
        cols = line.split("\t")
        r = {f: (c.split("|") if c else []) for f, c in zip(TSHARK_FIELDS, cols + [""] * len(TSHARK_FIELDS))}
        rows.append(r)
        sev = [int(x, 0) for x in r["_ws.expert.severity"] if x]
        if r["_ws.malformed"] or any(x >= EXPERT_WARN for x in sev):
            bad.append(f"#{r['frame.number'][0]}: {r['_ws.expert.message'] or 'malformed'}")
    return rows, "; ".join(bad)


def lengths_problem(r, frame_len, ul, psc):
    """Every length field must agree with the frame (tshark does not flag a wrong GTP-U length)."""
    ip_len = [int(x) for x in r["ip.len"]]
    udp_len = [int(x) for x in r["udp.length"]]
    if ul:
        want_ip = [frame_len - 14, frame_len - plan_mod.ul_overhead(psc)]
        want_udp = [frame_len - 34, frame_len - plan_mod.ul_overhead(psc) - 20]
        gtp = [int(x) for x in r["gtp.length"]]
        if gtp != [frame_len - 42 - 8]:
            return f"GTP-U length {gtp} != {frame_len - 50}"
    else:
        want_ip, want_udp = [frame_len - 14], [frame_len - 34]
    if ip_len != want_ip or udp_len != want_udp:
        return f"IP lengths {ip_len} (want {want_ip}), UDP lengths {udp_len} (want {want_udp})"
    return None


def load_config(path):
    # PyYAML in a child process: TRex's client bundles an old PyYAML that
    # shadows the real one once lbr_trex_client is imported (and fails on 3.10+).
    code = ("import json, sys, yaml; L = getattr(yaml, 'CSafeLoader', yaml.SafeLoader); "
            "json.dump(yaml.load(open(sys.argv[1]), Loader=L), sys.stdout, default=str)")
    doc = json.loads(subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True).stdout)
    by_teid, by_ue = {}, {}
    for s in doc["sessions"]:
        by_teid[int(s["uplink"]["teid"])] = s
        by_ue[str(s["ue_ip"])] = s
    return doc, by_teid, by_ue


def verify_ul_frames(label, rows, bad, by_teid, qfi, psc, frame_len):
    check(f"{label}: tshark finds no malformed packet or expert warning", bad == "", bad[:400])
    problems = []
    for r in rows:
        n = r["frame.number"][0]
        ips, teids = r["ip.src"], r["gtp.teid"]
        if len(ips) != 2 or len(teids) != 1:
            problems.append(f"#{n}: not IP/UDP/GTP-U/IP ({ips}, {teids})")
            continue
        if int(r["frame.len"][0]) != frame_len:
            problems.append(f"#{n}: frame length {r['frame.len'][0]} != {frame_len}")
        lp = lengths_problem(r, frame_len, True, psc)
        if lp:
            problems.append(f"#{n}: {lp}")
        if r["udp.dstport"][0] != str(plan_mod.GTPU_PORT):
            problems.append(f"#{n}: outer UDP dport {r['udp.dstport'][0]}")
        sport = int(r["udp.srcport"][0])
        if not plan_mod.SPORT_BASE <= sport <= 0xFFFF:
            problems.append(f"#{n}: outer sport {sport} outside 49152..65535")
        if any(st != "1" for st in r["ip.checksum.status"]):  # 1 = Good (0 bad, 2 unverified)
            problems.append(f"#{n}: IPv4 checksum status {r['ip.checksum.status']}")
        teid = int(teids[0], 16)
        sess = by_teid.get(teid)
        if sess is None:
            problems.append(f"#{n}: TEID {teid:#x} is in no configured session")
            continue
        if ips[1] != str(sess["ue_ip"]):
            problems.append(f"#{n}: inner source {ips[1]} but TEID {teid:#x} belongs to UE {sess['ue_ip']}")
        expected_sport = plan_mod.SPORT_BASE | ((teid - min(by_teid)) & plan_mod.SPORT_MASK)
        if sport != expected_sport:
            problems.append(f"#{n}: outer sport {sport} != {expected_sport} for its session")
        if psc:
            if r["gtp.ext_hdr.pdu_ses_con.qos_flow_id"] != [str(qfi)] or r["gtp.ext_hdr.pdu_ses_con.pdu_type"] != ["1"]:
                problems.append(f"#{n}: PDU Session Container QFI/type {r['gtp.ext_hdr.pdu_ses_con.qos_flow_id']}/{r['gtp.ext_hdr.pdu_ses_con.pdu_type']}")
        elif r["gtp.ext_hdr.pdu_ses_con.qos_flow_id"] or r["gtp.flags.e"] not in (["0"], ["False"]):
            problems.append(f"#{n}: extension header present in a --no-psc packet")
    check(f"{label}: {len(rows)} frames are G-PDUs of {frame_len} B, TEID<->UE pairs match the config, "
          f"{'QFI ' + str(qfi) + ' in a UL PDU Session Container' if psc else 'no extension header'}, checksums good",
          bool(rows) and not problems, "; ".join(problems[:5]))
    return rows


def verify_dl_frames(label, rows, bad, by_ue, frame_len):
    check(f"{label}: tshark finds no malformed packet or expert warning", bad == "", bad[:400])
    problems = []
    for r in rows:
        n = r["frame.number"][0]
        if r["gtp.teid"] or len(r["ip.dst"]) != 1:
            problems.append(f"#{n}: not plain IPv4")
            continue
        if r["ip.dst"][0] not in by_ue:
            problems.append(f"#{n}: destination {r['ip.dst'][0]} is no configured UE")
        if int(r["frame.len"][0]) != frame_len:
            problems.append(f"#{n}: frame length {r['frame.len'][0]} != {frame_len}")
        lp = lengths_problem(r, frame_len, False, False)
        if lp:
            problems.append(f"#{n}: {lp}")
        if r["ip.checksum.status"] != ["1"]:
            problems.append(f"#{n}: IPv4 checksum status {r['ip.checksum.status']}")
    check(f"{label}: {len(rows)} frames are plain IPv4 to configured UEs, {frame_len} B, checksums good",
          bool(rows) and not problems, "; ".join(problems[:5]))


def sample_indexes(n, k=12, seed=7):
    rnd = random.Random(seed)
    fixed = {0, 1, 2, n // 2, n - 2, n - 1, min(n - 1, plan_mod.SPORT_MASK), min(n - 1, plan_mod.SPORT_MASK + 1)}
    return sorted({i for i in fixed if 0 <= i < n} | {rnd.randrange(n) for _ in range(k)})


def load(profile, direction, tunables):
    return STLProfile.load_py(os.path.join(_HERE, profile), direction=direction, port_id=direction, tunables=tunables)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=17000, help="> 16384 so that outer source ports wrap")
    ap.add_argument("--qfi", type=int, default=5)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="perfkit-trex-check-")
    n, qfi = a.sessions, a.qfi
    plan_args = ["--sessions", str(n), "--qfi", str(qfi), "--ue-pool", "10.45.0.0/16"]
    plan = plan_mod.plan_from_args(argparse.Namespace(**{**vars(plan_mod_defaults()), "sessions": n, "qfi": qfi}))

    # The config the UPF would run, written by the generator and read back independently.
    cfg_path = os.path.join(work, "sessions.yaml")
    subprocess.run([sys.executable, os.path.join(_REPO, "perf", "gen", "sessions.py"), "config", *plan_args, "--out", cfg_path],
                   check=True, capture_output=True)
    doc, by_teid, by_ue = load_config(cfg_path)
    sess_list = doc["sessions"]
    check(f"generated config has {n} sessions with unique ids, TEIDs and UE addresses",
          len(sess_list) == n and len(by_teid) == n and len(by_ue) == n and len({s["id"] for s in sess_list}) == n)
    check("config sessions use the Contract short form (id, ue_ip, uplink.teid, downlink.gnb/teid/qfi)",
          all(set(s) == {"id", "ue_ip", "uplink", "downlink"} and set(s["downlink"]) == {"gnb", "teid", "qfi"}
              and s["downlink"]["qfi"] == qfi and ipaddress.IPv4Address(s["ue_ip"]) for s in sess_list))

    # --- profiles load, with the streams each direction should carry
    expect = {
        "upf_ul.py": ({0: ["ul_64"], 1: []}),
        "upf_dl.py": ({0: [], 1: ["dl_64"]}),
        "upf_bidir_imix.py": ({0: ["ul_64", "ul_576", "ul_1400"], 1: ["dl_64", "dl_576", "dl_1400"]}),
        "upf_latency.py": ({0: ["ul_64", "ul_latency"], 1: ["dl_64", "dl_latency"]}),
    }
    loaded = {}
    for prof, per_dir in expect.items():
        for d, names in per_dir.items():
            try:
                p = load(prof, d, plan_args + ["--pps", "2000000"])
                streams = p.get_streams()
                got = [s.get_name() for s in streams]
                js = [s.to_json() for s in streams]
                json.dumps(js)  # what the client sends to the server must serialise
                loaded[(prof, d)] = js
                check(f"{prof} direction {d} loads with the TRex client: streams {names}", got == names, got)
            except Exception as e:  # noqa: BLE001 - report any loader failure as a failed check
                check(f"{prof} direction {d} loads with the TRex client", False, repr(e)[:300])

    if ("upf_bidir_imix.py", 0) in loaded:
        rates = [s["mode"]["rate"]["value"] for s in loaded[("upf_bidir_imix.py", 0)]]
        check("IMIX rates split 7:4:1 and add up to --pps", abs(sum(rates) - 2e6) < 1 and abs(rates[0] / rates[2] - 7) < 1e-9
              and abs(rates[1] / rates[2] - 4) < 1e-9, rates)
    if ("upf_latency.py", 0) in loaded:
        lat = [s for s in loaded[("upf_latency.py", 0)] + loaded.get(("upf_latency.py", 1), []) if s["name"].endswith("latency")]
        check("latency streams carry flow stats of type latency, pg_id 10 (UL) and 11 (DL), 1000 pps",
              [(s["flow_stats"].get("rule_type"), s["flow_stats"].get("stream_id"), s["mode"]["rate"]["value"]) for s in lat]
              == [("latency", 10, 1000.0), ("latency", 11, 1000.0)], [s["flow_stats"] for s in lat])

    # --- field engine: ranges cover exactly the configured sessions
    idx = sample_indexes(n)
    for prof, d in (("upf_ul.py", 0), ("upf_dl.py", 1)):
        js = loaded.get((prof, d))
        if not js:
            continue
        fv = trex_fe.flow_vars(js[0])
        check(f"{prof}: one flow var 'sess' over 0..{n - 1}", list(fv) == ["sess"] and trex_fe.var_values(fv["sess"]) == range(n), fv)
        writes = [i for i in trex_fe.instructions(js[0]) if i["type"] == "write_flow_var"]
        adds = sorted(i["add_value"] for i in writes)
        if d == 0:
            # Arithmetic over all N values: var v -> TEID base+v and UE first+v must be config session v.
            ok = adds == sorted([plan.ul_teid_base, int(plan.ue_ip(0))]) and all(
                by_teid.get(plan.ul_teid_base + v, {}).get("ue_ip") == str(ipaddress.IPv4Address(int(plan.ue_ip(0)) + v)) for v in range(n))
            check(f"{prof}: for every var value v, TEID and UE address written are those of one config session", ok, adds)
        else:
            ok = adds == [int(plan.ue_ip(0))] and all(str(ipaddress.IPv4Address(int(plan.ue_ip(0)) + v)) in by_ue for v in range(n))
            check(f"{prof}: for every var value v, the destination is a configured UE", ok, adds)

    # --- expanded packets through tshark
    cases = [("upf_ul.py", 0, True, 64), ("upf_bidir_imix.py", 0, True, None), ("upf_dl.py", 1, None, 64), ("upf_bidir_imix.py", 1, None, None)]
    for prof, d, psc, _ in cases:
        for sj in loaded.get((prof, d), []):
            frames = [trex_fe.expand(sj, {"sess": v}) for v in idx]
            path = os.path.join(work, f"{prof[:-3]}-{sj['name']}.pcap")
            write_pcap(path, frames)
            rows, bad = tshark(path)
            inner = int(sj["name"].split("_")[1])
            if d == 0:
                verify_ul_frames(f"{prof} {sj['name']}", rows, bad, by_teid, qfi, True, inner + plan_mod.ul_overhead(True))
            else:
                verify_dl_frames(f"{prof} {sj['name']}", rows, bad, by_ue, inner + plan_mod.ETH_LEN)
            if len(rows) == len(idx) and d == 0:
                got = [int(r["gtp.teid"][0], 16) for r in rows]
                check(f"{prof} {sj['name']}: var v expands to TEID of session v", got == [plan.ul_teid_base + v for v in idx])

    # --no-psc variant and latency packets
    try:
        js = [s.to_json() for s in load("upf_ul.py", 0, plan_args + ["--no-psc"]).get_streams()]
        frames = [trex_fe.expand(js[0], {"sess": v}) for v in idx]
        path = os.path.join(work, "upf_ul-nopsc.pcap")
        write_pcap(path, frames)
        rows, bad = tshark(path)
        verify_ul_frames("upf_ul.py --no-psc", rows, bad, by_teid, qfi, False, 64 + plan_mod.ul_overhead(False))
    except Exception as e:  # noqa: BLE001
        check("upf_ul.py --no-psc loads", False, repr(e)[:300])
    for d in (0, 1):
        js = loaded.get(("upf_latency.py", d))
        if js:
            path = os.path.join(work, f"latency-{d}.pcap")
            write_pcap(path, [trex_fe.base_packet(js[-1])])
            rows, bad = tshark(path)
            if d == 0:
                verify_ul_frames("latency stream UL", rows, bad, by_teid, qfi, True, 64 + plan_mod.ul_overhead(True))
            else:
                verify_dl_frames("latency stream DL", rows, bad, by_ue, 64 + plan_mod.ETH_LEN)

    # --- the pcap generator of the OVS peer bench: same checks, and agreement with TRex's packets
    gen = os.path.join(_REPO, "perf", "gen", "sessions.py")
    for size, psc in ((100, True), (512, True), (100, False)):
        path = os.path.join(work, f"gen-ul-{size}-{'psc' if psc else 'nopsc'}.pcap")
        subprocess.run([sys.executable, gen, "pcap", *plan_args, "--frame-size", str(size), "--out", path] + ([] if psc else ["--no-psc"]),
                       check=True, capture_output=True)
        rows, bad = tshark(path)
        verify_ul_frames(f"sessions.py pcap {size} B{'' if psc else ' --no-psc'}", rows, bad, by_teid, qfi, psc, size)
        teids = [int(r["gtp.teid"][0], 16) for r in rows if r["gtp.teid"]]
        check(f"sessions.py pcap {size} B: one frame per session, all {n} TEIDs", sorted(teids) == sorted(by_teid), len(set(teids)))
        good = sum(1 for r in rows if r["udp.checksum.status"][-1:] == ["1"])  # 1 = Good
        check(f"sessions.py pcap {size} B: every inner UDP checksum verified good by tshark", good == n, good)
    path = os.path.join(work, "gen-dl.pcap")
    subprocess.run([sys.executable, gen, "pcap", *plan_args, "--direction", "dl", "--frame-size", "78", "--out", path], check=True, capture_output=True)
    rows, bad = tshark(path)
    verify_dl_frames("sessions.py pcap dl 78 B", rows, bad, by_ue, 78)

    js = loaded.get(("upf_ul.py", 0))
    if js:
        # Same session, same inner size: both constructions must carry the same header fields.
        mism = []
        for v in idx:
            a_ = trex_fe.expand(js[0], {"sess": v})
            b_ = plan_mod.ul_frame(plan, plan.session(v), len(a_))
            # Outer IP/UDP/GTP-U/PSC headers and inner addresses/ports; ids, checksums and MACs may differ.
            for lo, hi, what in ((26, 38, "outer addrs+ports"), (40, 58, "GTP-U+PSC"), (58 + 12, 58 + 24, "inner addrs+ports")):
                if a_[lo:hi] != b_[lo:hi]:
                    mism.append(f"session {v} {what}")
        check("TRex profile and sessions.py build the same headers for the same session", not mism, mism[:4])

    # --- error handling of the plan
    r = subprocess.run([sys.executable, gen, "config", "--sessions", "70000", "--out", os.path.join(work, "x.yaml")], capture_output=True, text=True)
    check("a plan that does not fit the UE pool is refused with a clear error",
          r.returncode == 2 and "do not fit in UE pool" in r.stderr and not os.path.exists(os.path.join(work, "x.yaml")), r.stderr.strip())
    r = subprocess.run([sys.executable, gen, "config", "--qfi", "64", "--out", os.path.join(work, "y.yaml")], capture_output=True, text=True)
    check("QFI 64 is refused (6 bits)", r.returncode == 2 and "QFI" in r.stderr, r.stderr.strip())

    print(f"\ncheck_offline: work files in {work}")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


def plan_mod_defaults():
    ap = argparse.ArgumentParser()
    plan_mod.add_plan_args(ap)
    return ap.parse_args([])


if __name__ == "__main__":
    sys.exit(main())
