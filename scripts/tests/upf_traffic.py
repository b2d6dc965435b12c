#!/usr/bin/python3
"""Real traffic through `upf run` with sessions set up over N4, on the
namespace testbed (suite 41): config/demo.yaml with a private DPDK prefix
and API port, PFCP on the testbed's N4 link; three SMF simulators (distinct
Node IDs, so distinct associations) in the gNB namespace each establish one
session, the UPF choosing F-TEID and UE address; one gnb-sim carries them:

  A  no MBR            iperf3 TCP and UDP, uplink and downlink; bad input
                       while its ping runs; path switch (SNDEM) under iperf3
  M  MBR 10 Mbit/s     UDP offered at 20 Mbit/s each way -> 10 Mbit/s +-5 %
                       (IP bytes, first second left out); TCP >= 85 %
  U  no MBR            a UDP run each way; /metrics deltas equal what the
                       gNB sent and received; deleted while A's ping runs:
                       its Usage Report equals, to the byte, what crossed N3
                       (gnb-sim's counters) and N6 (a capture on the DN
                       side); its traffic stops, A loses nothing.

Figures (throughput, MBR accuracy) are printed and written to
WORKDIR/figures.json. Usage: upf_traffic.py BIN_DIR WORKDIR (testbed env:
NS_GNB, NS_UPF, NS_DN, DN_IP).
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check, nsx  # noqa: E402


# gnb-sim holds uplink packets this long: a radio link's round trip, without
# which TCP cannot live under a 10 Mbit/s policer (see gnb-sim --help).
UL_DELAY_MS = int(os.environ.get("UPF_E2E_UL_DELAY_MS", "10"))
FIG: dict = {}


class Smf:
    """One smf-sim: one session, phases after the establishment gated."""

    def __init__(self, bin_dir, d, name, ns, addr, seid, gnb_teid, mbr, modify=False):
        self.name, self.d = name, d
        self.gate = os.path.join(d, f"{name}.gate")
        os.mkdir(self.gate)
        self.sessions = os.path.join(d, f"{name}.sessions.json")
        self.log = os.path.join(d, f"{name}.log")
        # Each SMF from its own address: the UPF knows a peer by its address.
        cmd = [os.path.join(bin_dir, "smf-sim"), "--upf", "10.100.0.1:8805", "--bind", f"{addr}:0", "-n", "1", "--seid-base", str(seid), "--gnb", "192.168.1.2",
               "--gnb-teid-start", hex(gnb_teid), "--mbr", mbr, "--delete", "--gate", self.gate,
               "--gnb-sessions", self.sessions, "--verbose"]
        if modify:
            cmd += ["--modify", "--sndem", "--new-gnb-teid-start", hex(gnb_teid + 0x100)]
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)

    def session(self) -> dict:
        upfrun.wait_for(f"{self.name}'s session file", lambda: os.path.exists(self.sessions), 20)
        return json.load(open(self.sessions))["sessions"][0]

    def step(self, phase: str) -> None:
        open(os.path.join(self.gate, phase), "w").close()
        upfrun.wait_for(f"{self.name}: {phase}", lambda: re.search(rf"^{phase} +\d+ ok", self.text(), re.M), 20)

    def text(self) -> str:
        return open(self.log).read()

    def usage(self):
        """Sum of the usage reports received: (UL bytes, DL bytes)."""
        ul = dl = 0
        for m in re.finditer(r"^usage: session \d+ urr \d+ .* ul (\d+) dl (\d+) bytes", self.text(), re.M):
            ul, dl = ul + int(m.group(1)), dl + int(m.group(2))
        return ul, dl


class Gnb:
    def __init__(self, bin_dir, d, ns, session_files):
        self.stats = os.path.join(d, "gnb.json")
        ready = os.path.join(d, "gnb.ready")
        cmd = [os.path.join(bin_dir, "gnb-sim"), "--upf", "192.168.1.1", "--mtu", "1500",
               "--stats-file", self.stats, "--ready-file", ready, "--ul-delay-ms", str(UL_DELAY_MS)]
        for f in session_files:
            cmd += ["--sessions", f]
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=open(os.path.join(d, "gnb.log"), "w"),
                                     stderr=subprocess.STDOUT)
        upfrun.wait_for("gnb-sim ready", lambda: os.path.exists(ready), 20)

    def counters(self) -> dict:
        """Fresh counters: {ue_ip: {...}, "global": {...}}."""
        if os.path.exists(self.stats):
            os.unlink(self.stats)
        self.proc.send_signal(signal.SIGUSR1)
        upfrun.wait_for("gnb-sim's counters", lambda: os.path.exists(self.stats), 5)
        j = json.load(open(self.stats))
        out = {u["ue_ip"]: u for u in j["ues"]}
        out["global"] = j.get("global", {})
        return out


def iperf(ns, ue, dn, *args, port=5201, t=3, timeout=40):
    """iperf3 --json from `ue`; UDP runs get 2 MB socket buffers on both ends
    (-w) so that a receiver starved of CPU on the shared machine does not
    drop what the UPF delivered. A run that fails in the control exchange
    (the server still busy with the previous run, or resetting it) is
    retried, up to 5 times."""
    if "-u" in args:
        args = (*args, "-w", "2M")
    for _ in range(5):
        r = nsx(ns, "iperf3", "--json", "-B", ue, "-c", dn, "-p", str(port), "-t", str(t), *args, timeout=timeout)
        try:
            j = json.loads(r.stdout)
        except ValueError:
            j = {"error": f"no JSON: {r.stdout[-300:]} {r.stderr[-300:]}"}
        if "error" not in j:
            return j
        print(f"iperf3 {' '.join(args)}: {j['error']} (retrying)")
        time.sleep(0.5)
    return j


def udp_ip_mbps(j, reverse: bool, size: int) -> float:
    """Delivered IP bit rate of a UDP run of `size`-byte datagrams from the
    receiver's intervals, the first second left out (the bucket starts
    full): size + 28 bytes (IPv4 + UDP headers) per datagram received, what
    a meter counts."""
    try:
        if reverse:
            # The receiving client's intervals: bytes received.
            ivs = [i["sum"] for i in j["intervals"]][1:]
            secs = sum(i["seconds"] for i in ivs)
            got = sum(i["bytes"] for i in ivs) // size
        else:
            # The server's (text) report: "a-b sec ... lost/total (x%)".
            ivs = re.findall(r"([\d.]+)-([\d.]+)\s+sec\s.*?\s(\d+)/(\d+) \(", j["server_output_text"])[1:]
            ivs = [iv for iv in ivs if float(iv[1]) - float(iv[0]) < 1.5]  # not the summary line
            secs = sum(float(b) - float(a) for a, b, _, _ in ivs)
            got = sum(int(t) - int(lost) for _, _, lost, t in ivs)
        return got * (size + 28) * 8 / secs / 1e6
    except (KeyError, ZeroDivisionError, TypeError) as ex:
        print(f"iperf3: {j.get('error', '')} ({ex!r})")
        return -1.0


def tcp_mbps(j) -> float:
    try:
        return j["end"]["sum_received"]["bits_per_second"] / 1e6
    except (KeyError, TypeError):
        print(f"iperf3: {j.get('error', '')}")
        return -1.0


def udp_summary(j):
    """(received Mbit/s payload, lost %) of a UDP run."""
    try:
        s = j["end"]["sum"]
        return s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, s["lost_percent"]
    except (KeyError, TypeError):
        print(f"iperf3: {j.get('error', '')}")
        return -1.0, 100.0


def pcap_frames(path: str):
    """(timestamp, frame) of each packet of a pcap file (microsecond or
    nanosecond stamps)."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        endian = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        frac = 1e-9 if hdr[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, sub, incl, _ = struct.unpack(endian + "IIII", rh)
            yield sec + sub * frac, f.read(incl)


def inner_ipv4(frame: bytes, gtpu: bool):
    """(src, dst, total length) of the IPv4 packet in an Ethernet frame, or
    of the T-PDU in its GTP-U (with the 8-byte extension part and a 4-byte
    PDU Session Container, as the UPF sends them) when `gtpu`."""
    off = 14
    if len(frame) < off + 20 or frame[12:14] != b"\x08\x00":
        return None
    if gtpu:
        if frame[off + 9] != 17 or frame[off + 22:off + 24] != b"\x08\x68" or frame[off + 29] != 0xFF:
            return None
        off += 20 + 8 + 16
        if len(frame) < off + 20:
            return None
    return frame[off + 12:off + 16], frame[off + 16:off + 20], struct.unpack(">H", frame[off + 2:off + 4])[0]


def pcap_ip_bytes(path: str, ue: str):
    """(bytes from ue, bytes to ue) of the IPv4 packets in an Ethernet pcap."""
    ip = bytes(int(x) for x in ue.split("."))
    up = down = 0
    for _, fr in pcap_frames(path):
        p = inner_ipv4(fr, gtpu=False)
        if p and p[0] == ip:
            up += p[2]
        elif p and p[1] == ip:
            down += p[2]
    return up, down


def pcap_flow(path: str, ue: str, dl: bool, gtpu: bool):
    """(timestamp, IP length) of the packets to (dl) or from `ue` in a
    capture."""
    ip = bytes(int(x) for x in ue.split("."))
    return [(t, p[2]) for t, fr in pcap_frames(path) if (p := inner_ipv4(fr, gtpu)) and p[1 if dl else 0] == ip]


def window_mbps(pk, t0: float, t1: float) -> float:
    win = [n for t, n in pk if t0 <= t < t1]
    return sum(win) * 8 / (t1 - t0) / 1e6 if t1 > t0 else -1.0


def max_gap(pk, t0: float, t1: float) -> float:
    ts = [t for t, _ in pk if t0 <= t < t1]
    return max((b - a for a, b in zip(ts, ts[1:])), default=t1 - t0)


class Capture:
    """tcpdump in a namespace, to a file; `stop()` once the traffic is over."""

    def __init__(self, ns, dev, path, bpf):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "-s", "96", "-B", "16384", "-U",
                                   "-w", path, *bpf.split()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        self.first = self.p.stderr.readline()

    def stop(self) -> str:
        self.p.send_signal(signal.SIGINT)
        _, err = self.p.communicate(timeout=10)
        return err


class Ping:
    """`count` pings in the background; `wait()` gives (sent, received)
    once the last one is answered or 2 s late (no reply is cut off)."""

    def __init__(self, ns, ue, dn, count, interval="0.05"):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-c", str(count), "-i", interval, "-W", "2",
                                   "-I", ue, dn], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self):
        out, _ = self.p.communicate(timeout=60)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        return (int(m.group(1)), int(m.group(2))) if m else (0, -1)


def settle(gnb, ues) -> None:
    """Waits until the UEs' counters stop moving (stragglers of a run)."""
    last = [gnb.counters()]

    def quiet() -> bool:
        time.sleep(0.3)
        cur = gnb.counters()
        same = all(cur[u] == last[0][u] for u in ues)
        last[0] = cur
        return same
    upfrun.wait_for("the UEs' traffic to end", quiet, 15)


def drops(m) -> dict:
    return {k[1][0][1]: v for k, v in m.items() if k[0] == "upf_dropped_packets_total"}


def pfcp_counts(m) -> dict:
    return {dict(k[1])["type"] + "/" + dict(k[1])["direction"]: v for k, v in m.items()
            if k[0] == "upf_pfcp_messages_total"}


def delta(a: dict, b: dict) -> dict:
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def stable_metrics(upf):
    """/metrics once two reads 150 ms apart agree (counters are <= 100 ms old)."""
    prev = upf.metrics()
    for _ in range(40):
        time.sleep(0.15)
        cur = upf.metrics()
        if cur == prev:
            return cur
        prev = cur
    return prev


def part(name: str) -> bool:
    """UPF_E2E_PARTS=mbr,usage runs only those parts (all by default)."""
    want = os.environ.get("UPF_E2E_PARTS")
    return not want or name in want.split(",")


def main(bin_dir: str, d: str) -> int:
    e = os.environ
    ns_gnb, ns_upf, ns_dn, dn = e["NS_GNB"], e["NS_UPF"], e["NS_DN"], e["DN_IP"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    prefix = f"upfe2t-{os.getpid()}"
    text = open(os.path.join(root, "config", "demo.yaml")).read()
    text = re.sub(r'"--file-prefix", "[^"]*"', f'"--file-prefix", "{prefix}"', text)
    text = text.replace("listen: 127.0.0.1:9100", "listen: 127.0.0.1:0")
    cfg = os.path.join(d, "upf.yaml")
    open(cfg, "w").write(text)
    upf = upfrun.Upf(os.path.join(bin_dir, "upf"), cfg, os.path.join(d, "upf.log"), prefix, netns=ns_upf)
    procs = []
    try:
        upf.wait_running()
        for a in ("10.100.0.3", "10.100.0.4", "10.100.0.9"):
            nsx(ns_gnb, "ip", "addr", "add", f"{a}/24", "dev", "smf-n4")
        sa = Smf(bin_dir, d, "A", ns_gnb, "10.100.0.2", 1, 0x200, "none", modify=True)
        procs.append(sa.proc)
        sm = Smf(bin_dir, d, "M", ns_gnb, "10.100.0.3", 100, 0x210, "10000:10000")
        procs.append(sm.proc)
        su = Smf(bin_dir, d, "U", ns_gnb, "10.100.0.4", 200, 0x220, "none")
        procs.append(su.proc)
        ua, um, uu = sa.session()["ue_ip"], sm.session()["ue_ip"], su.session()["ue_ip"]
        check(len({ua, um, uu}) == 3, f"three sessions over three associations, UE addresses chosen: {ua} {um} {uu}")
        gnb = Gnb(bin_dir, d, ns_gnb, [sa.sessions, sm.sessions, su.sessions])
        procs.append(gnb.proc)

        if part("basic"):
            # ---- iperf3 TCP and UDP, uplink and downlink (session A, no MBR).
            for name, args, port in (("TCP uplink", [], 5201), ("TCP downlink", ["-R"], 5201)):
                r = tcp_mbps(iperf(ns_gnb, ua, dn, *args, port=port))
                FIG[f"tcp_{'dl' if args else 'ul'}_mbps"] = round(r, 2)
                check(r > 5, f"iperf3 {name} through the UPF (no MBR): {r:.1f} Mbit/s")
            for name, args in (("UDP uplink", []), ("UDP downlink", ["-R"])):
                rate, lost = udp_summary(iperf(ns_gnb, ua, dn, "-u", "-b", "20M", "-l", "1400", *args, port=5202))
                FIG[f"udp_{'dl' if args else 'ul'}_20M"] = {"mbps": round(rate, 2), "lost_percent": lost}
                check(rate > 15 and lost < 5, f"iperf3 {name} at 20 Mbit/s through the UPF: {rate:.2f} Mbit/s, {lost:.2f} % lost")

        if part("mbr"):
            # ---- MBR 10 Mbit/s (session M).
            for name, args in (("uplink", ["--get-server-output"]), ("downlink", ["-R"])):
                # Counted on the wire on both sides of the UPF (the gNB's N3
                # veth and the DN's N6 veth), from the second second of the
                # run on (the bucket starts full). The policer can only pass
                # 10 Mbit/s of what comes in time: a generator starved of
                # CPU on the shared machine (a gap over 80 ms in what it
                # offers) makes a run that is off void, and it is run
                # again (3 tries).
                dl = args == ["-R"]
                for attempt in range(3):
                    c3 = Capture(ns_gnb, "gnb-n3", os.path.join(d, "mbr-n3.pcap"), "udp port 2152")
                    c6 = Capture(ns_dn, "dn-n6", os.path.join(d, "mbr-n6.pcap"), f"host {um}")
                    m0 = upf.metrics()
                    j = iperf(ns_gnb, um, dn, "-u", "-b", "20M", "-l", "1400", *args, port=5202, t=5)
                    m1 = stable_metrics(upf)
                    errs = [c.stop().strip().splitlines()[-1:] for c in (c3, c6)]
                    n3 = pcap_flow(os.path.join(d, "mbr-n3.pcap"), um, dl, gtpu=True)
                    n6 = pcap_flow(os.path.join(d, "mbr-n6.pcap"), um, dl, gtpu=False)
                    offered, passed = (n6, n3) if dl else (n3, n6)
                    if len(offered) < 100:
                        r, gap, off = -1.0, 0.0, 0.0
                        print(f"  no traffic captured: {errs}; iperf3 {j.get('error', '')}")
                        continue
                    t0, t1 = offered[0][0] + 1.0, offered[-1][0]
                    off, r, gap = window_mbps(offered, t0, t1), window_mbps(passed, t0, t1), max_gap(offered, t0, t1)
                    print(f"  try {attempt + 1}: offered {off:.2f} Mbit/s (largest gap {gap * 1e3:.0f} ms), passed "
                          f"{r:.2f} Mbit/s, UPF drops {delta(drops(m0), drops(m1))}, iperf3 receiver "
                          f"{udp_ip_mbps(j, reverse=dl, size=1400):.2f} Mbit/s; tcpdump: {errs}")
                    # Void: a gap in the offered load longer than most of
                    # the bucket (its tokens beyond 100 ms are lost), or
                    # too little offered. Retried only when also off.
                    if 9.5 <= r <= 10.5 or (gap <= 0.08 and off >= 15):
                        break
                FIG[f"mbr_udp_{name}_ip_mbps"] = round(r, 3)
                check(9.5 <= r <= 10.5, f"MBR 10 Mbit/s, UDP {name} offered at {off:.1f} Mbit/s: {r:.2f} Mbit/s "
                                        "passed (IP bytes on the wire, from the second second on)")
            for name, args in (("uplink", []), ("downlink", ["-R"])):
                r = tcp_mbps(iperf(ns_gnb, um, dn, *args, port=5201, t=5))
                FIG[f"mbr_tcp_{name}_mbps"] = round(r, 2)
                check(r >= 8.5, f"MBR 10 Mbit/s, TCP {name}: {r:.2f} Mbit/s (>= 85 % of the MBR)")

        if part("usage"):
            # ---- Metrics and usage: only session U moves traffic now.
            settle(gnb, (ua, um, uu))
            g0, m0 = gnb.counters(), stable_metrics(upf)
            cap = os.path.join(d, "n6.pcap")
            tcpdump = subprocess.Popen(["ip", "netns", "exec", ns_dn, "tcpdump", "-i", "dn-n6", "-s", "128", "-U",
                                        "-w", cap, "host", uu], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            procs.append(tcpdump)
            line = tcpdump.stderr.readline()
            check("listening" in line, f"tcpdump on the DN side's N6 veth: {line.strip()}")
            for args in ([], ["-R"]):
                rate, lost = udp_summary(iperf(ns_gnb, uu, dn, "-u", "-b", "5M", "-l", "1000", *args, port=5202, t=2))
                # Loss is possible (a receiver starved of CPU): the counts
                # below are taken on the wire, not from iperf3.
                print(f"UDP at 5 Mbit/s {'downlink' if args else 'uplink'} for the usage check: "
                      f"{rate:.2f} Mbit/s, {lost} % lost at the receiver")
            # Quiet: the counters stop moving (iperf3's control connection closed).
            settle(gnb, (ua, um, uu))
            g1, m1 = gnb.counters(), stable_metrics(upf)
            ue1 = g1[uu]
            # Every UE's packets (the others may still have had a straggler
            # of an earlier TCP run at the start of the window).
            ul_p, ul_b, dl_p, dl_b = (sum(g1[u][k] - g0[u][k] for u in (ua, um, uu))
                                      for k in ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes"))

            def md(name, i):
                return (upfrun.metric(m1, name, interface=i) or 0) - (upfrun.metric(m0, name, interface=i) or 0)
            # Frame bytes: inner + 14 Ethernet on N6; + 14 + 20 IPv4 + 8 UDP +
            # 8 GTP-U + 4 extension + 4 PSC on N3.
            want = {("upf_rx_packets_total", "n3"): ul_p, ("upf_rx_bytes_total", "n3"): ul_b + 58 * ul_p,
                    ("upf_tx_packets_total", "n6"): ul_p, ("upf_tx_bytes_total", "n6"): ul_b + 14 * ul_p,
                    ("upf_rx_packets_total", "n6"): dl_p, ("upf_rx_bytes_total", "n6"): dl_b + 14 * dl_p,
                    ("upf_tx_packets_total", "n3"): dl_p, ("upf_tx_bytes_total", "n3"): dl_b + 58 * dl_p}
            got = {k: md(*k) for k in want}
            # Housekeeping (ARP, GTP-U echo) may add a few small frames.
            hk = {k: got[k] - want[k] for k in want}
            ok = all(0 <= hk[k] <= (4 if "packets" in k[0] else 4 * 100) for k in want)
            FIG["metrics_housekeeping"] = {f"{a}{{{b}}}": v for (a, b), v in hk.items()}
            check(ok, f"/metrics deltas = gnb-sim's UL {ul_p} pkts/{ul_b} B and DL {dl_p} pkts/{dl_b} B as frames "
                      f"(extra, housekeeping: {FIG['metrics_housekeeping']})")
            dd = delta(drops(m0), drops(m1))
            check(not dd, f"no drop during the metrics window: {dd}")

            # ---- Deletion of U while A pings: U's traffic stops, A loses nothing.
            ping = Ping(ns_gnb, ua, dn, 100)
            upfrun.wait_for("A's ping going", lambda: gnb.counters()[ua]["dl_packets"] > g1[ua]["dl_packets"] + 10, 10)
            tcpdump.send_signal(signal.SIGINT)
            tcpdump.wait(10)
            su.step("delete")
            su.proc.wait(20)
            check(su.proc.returncode == 0, f"smf-sim U: every request accepted (exit {su.proc.returncode})")
            n6_ul, n6_dl = pcap_ip_bytes(cap, uu)
            rep_ul, rep_dl = su.usage()
            FIG["usage"] = {"reported": [rep_ul, rep_dl], "gnb": [ue1["ul_bytes"], ue1["dl_bytes"]], "n6_capture": [n6_ul, n6_dl]}
            print(f"UE {uu}: usage reported UL {rep_ul} DL {rep_dl}; gnb-sim (N3) sent UL {ue1['ul_bytes']} received "
                  f"DL {ue1['dl_bytes']}; N6 capture UL {n6_ul} DL {n6_dl} (from the session's start: ping-free)")
            check((rep_ul, rep_dl) == (ue1["ul_bytes"], ue1["dl_bytes"]),
                  "the Deletion Response's usage = the inner bytes the gNB sent and received on N3, to the byte")
            check((rep_ul, rep_dl) == (n6_ul, n6_dl), "the Deletion Response's usage = the IP bytes captured on N6, to the byte")
            d0 = drops(upf.metrics())
            r = nsx(ns_gnb, "ping", "-c", "5", "-i", "0.1", "-W", "1", "-I", uu, dn)
            mm = re.search(r"(\d+) received", r.stdout)
            check(mm is not None and mm.group(1) == "0", f"after its deletion, UE {uu} gets nothing through: "
                                                         f"{mm.group(0) if mm else r.stdout[-200:]}")
            dd = delta(d0, drops(stable_metrics(upf)))
            check(sum(dd.values()) >= 5, f"its uplink is dropped and counted: {dd}")
            sent, recv = ping.wait()
            check(sent > 20 and recv == sent, f"UE {ua}'s ping throughout the deletion: {recv} of {sent}")

        if part("bad"):
            # ---- Bad input while A's traffic runs.
            ping = Ping(ns_gnb, ua, dn, 200, interval="0.02")
            m0 = upf.metrics()
            bad = subprocess.run(["ip", "netns", "exec", ns_gnb, "/usr/bin/python3", "-c", BAD_INPUT],
                                 capture_output=True, text=True, timeout=60)
            print(bad.stdout.strip() + bad.stderr.strip()[-500:])
            nbad = json.loads(bad.stdout.splitlines()[-1]) if bad.returncode == 0 else {}
            check(bad.returncode == 0, "malformed GTP-U and garbage PFCP sent from the gNB namespace")
            # A new session can still be established meanwhile.
            r = nsx(ns_gnb, os.path.join(bin_dir, "smf-sim"), "--upf", "10.100.0.1:8805", "--bind", "10.100.0.9:0", "-n", "1", "--seid-base", "900", "--delete", "--release", timeout=30)
            check(r.returncode == 0, f"a new association and session after the garbage: smf-sim exit {r.returncode}")
            m1 = stable_metrics(upf)
            sent, recv = ping.wait()
            check(sent > 20 and recv == sent, f"UE {ua}'s ping while the bad input comes: {recv} of {sent}")
            dd = delta(drops(m0), drops(m1))
            check(dd.get("malformed", 0) + dd.get("unsupported", 0) >= nbad.get("gtpu_malformed", 1),
                  f"malformed GTP-U counted as drops (malformed, or unsupported for version 2): {dd}")
            check(dd.get("no_pdr", 0) >= nbad.get("gtpu_unknown_teid", 1), f"G-PDUs for unknown TEIDs counted as drops: {dd}")
            pd = delta(pfcp_counts(m0), pfcp_counts(m1))
            # Each garbage datagram: counted as malformed, or (version 7)
            # answered with Version Not Supported.
            junk = pd.get("malformed/rx", 0) + pd.get("version_not_supported_response/tx", 0)
            check(junk == nbad.get("pfcp", -1), f"garbage PFCP datagrams counted: {junk} of {nbad.get('pfcp')} ({pd})")

        if part("switch"):
            # ---- Path switch under iperf3 (A): DL to TEID 0x300, SNDEM.
            g0 = gnb.counters()
            res = {}

            def run_iperf():
                res["j"] = iperf(ns_gnb, ua, dn, "-R", port=5201, t=4)
            import threading
            th = threading.Thread(target=run_iperf)
            th.start()
            upfrun.wait_for("iperf3 downlink running", lambda: gnb.counters()[ua]["dl_packets"] > g0[ua]["dl_packets"] + 500, 10,
                            poll=0.1)
            sa.step("modify")
            gm = gnb.counters()
            th.join(40)
            g1 = gnb.counters()
            r = tcp_mbps(res.get("j", {}))
            FIG["path_switch_tcp_dl_mbps"] = r
            check(r > 5, f"iperf3 TCP downlink across the path switch: {r:.1f} Mbit/s")
            check(g1[ua]["end_markers"] - g0[ua]["end_markers"] == 1, "one End Marker on the old tunnel (SNDEM)")
            alt = g1[ua]["dl_packets_alt"] - gm[ua]["dl_packets_alt"]
            after = g1[ua]["dl_packets"] - gm[ua]["dl_packets"]
            check(alt > 500 and alt >= 0.95 * after, f"after the switch, the downlink comes on the new TEID: {alt} of {after} packets")
        left = [x for x in (sa, sm, su) if x.proc.poll() is None]
        for x in left:
            if x is sa and not part("switch"):
                x.step("modify")
            x.step("delete")
        for s in left:
            s.proc.wait(20)
            check(s.proc.returncode == 0, f"smf-sim {s.name}: every request accepted (exit {s.proc.returncode})")
        # /metrics and /status are refreshed every 50 ms: a deletion just
        # answered may not show yet; give it a deadline, then judge.
        try:
            upfrun.wait_for("upf_sessions 0", lambda: upfrun.metric(upf.metrics(), "upf_sessions") == 0, 5)
        except AssertionError:
            pass  # judged just below
        st = upf.status()
        check(upfrun.metric(upf.metrics(), "upf_sessions") == 0, f"no session left ({st.get('pfcp')})")
        rc = upf.stop()
        check(rc == 0, f"SIGTERM stops the UPF with status 0 (got {rc})")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        upf.kill()
        json.dump(FIG, open(os.path.join(d, "figures.json"), "w"), indent=1)
        print("figures: " + json.dumps(FIG))
        if FAILS:
            for f in sorted(os.listdir(d)):
                if f.endswith(".log"):
                    print(f"---- {f} (tail)\n" + "".join(open(os.path.join(d, f)).readlines()[-20:]))
    return 1 if FAILS else 0


# Sent from the gNB namespace: GTP-U that the UPF must drop as malformed
# (short, wrong version, length beyond the datagram, not IP inside), G-PDUs
# for TEIDs nobody holds, and datagrams to N4 that are not PFCP. Prints the
# counts as JSON on its last line.
BAD_INPUT = r"""
import json, socket, struct, random
from scapy.all import IP, UDP, Raw, send, conf
conf.verb = 0
rnd = random.Random(6)
upf, n4 = "192.168.1.1", ("10.100.0.1", 8805)
mal = [b"\x30", b"\x30\xff\x00",                      # shorter than the header
       b"\x50\xff\x00\x04\x00\x00\x01\x00abcd",       # version 2
       b"\x30\xff\x05\xdc\x00\x00\x01\x00" + b"x" * 20,  # length beyond the datagram
       b"\x34\xff\x00\x08\x00\x00\x01\x00\x00\x00\x00\x85"]  # extension header chain cut off
unknown = [struct.pack(">BBHI", 0x30, 0xff, 28, 0x00dead00 + i) + bytes(IP(src="10.45.9.9", dst="10.200.0.254") / UDP())
           for i in range(10)]
pkts = [IP(dst=upf) / UDP(sport=40000, dport=2152) / Raw(p) for p in mal * 4 + unknown]
send(pkts, inter=0.01)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pfcp = [b"", b"\x00", b"\x21", b"\x20\x01\x00\x10" + b"\x00" * 4,      # empty, short, bad length
        b"\xe0\x01\x00\x04\x00\x00\x01\x00",                          # version 7
        b"\x20\xfe\x00\x04\x00\x00\x01\x00",                          # unknown message type
        bytes(rnd.getrandbits(8) for _ in range(100))]
for p in pfcp:
    s.sendto(p, n4)
print(json.dumps({"gtpu_malformed": len(mal) * 4, "gtpu_unknown_teid": len(unknown), "pfcp": len(pfcp)}))
"""

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
