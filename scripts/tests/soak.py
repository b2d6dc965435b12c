#!/usr/bin/python3
"""Churn/soak test of `upf run` (suite 66, perf/soak.sh): cycles of PFCP
churn against one long-lived UPF, after each of which everything the UPF
holds (`/status` `occupancy`: lookup-table keys, state lines, deferred
frees, retired snapshots, PFCP sessions, associations, requests in
flight, response cache, timers, CSID book, TEID and UE-pool allocations,
the PFD store, usage books) must be back at its value before the first
cycle, exactly.

One cycle (SMFs A, B, C on 127.0.0.21-23, scapy.contrib.pfcp messages
built with smf_interop's helpers, independent of our codec):
  SIGHUP reload adding three static sessions (one with a UE address in the
  IPv4 pool, one with a /64 in the IPv6 pool, which the pools then
  reserve); A, B, C associate; B and C each establish a session with a 1 s
  User Plane Inactivity Timer (no URR); A establishes N sessions (CHOOSE
  F-TEID, CHOOSE UE IP from the pool, QER with MBR, URR with a 300-byte
  volume threshold, PGW-C/SMF FQ-CSID 1 or 2), B and C N/4 (their URRs
  also with an hourly measurement period);
  PFD Management: A provisions two applications (1 and 2 PFDs) and
  establishes two sessions (CSID 3) whose third PDR names the first by
  Application ID; IPv6: A establishes a session with a /64 CHOOSE'd from
  the IPv6 pool, one with a fixed IPv6 address, one IPv4v6 (CHOOSE both);
  uplink traffic through some of A's sessions crosses the thresholds:
  Session Report Requests, answered; two modifications per session of A
  (IPv6 ones included: Update FAR with a new gNB TEID, Update QER, Create
  URR 2 + Update PDR; then Remove URR 2 + Update PDR, whose final usage
  comes in the response); downlink through some, IPv6 uplink and downlink
  through every IPv6 session and downlink to the static IPv6 one; the
  application's PFD flow reaches its FAR, other flows the default one; a
  PFD change (new flow) reaches the live sessions before its answer; the
  unused application's PFDs removed; a SIGHUP adding a static session on
  the UE address a PFCP session holds is refused as a whole (that session
  still forwards);
  SIGHUP reload changing the UE pools (IPv4 pool shrunk to /17, leaving
  the static address out; pool for DNN "ims" added; IPv6 pool removed)
  and the TEID range (moved above every TEID in use) under the live
  sessions: two "ims" sessions get addresses and TEIDs from the new ones,
  CHOOSE IPv6 is refused (75) and gives back its TEID, old sessions still
  forward; a reload back; an IPv6 and an IPv4 session more; /status
  pfcp.teids_allocated and ue_ips_allocated must count exactly the live
  sessions' and static sessions' values inside the current range and
  pools, before, during and after; no TEID or address twice, none that the
  last cycle's sessions freed (a reload must not restart the allocators);
  B's inactivity-timer session: one UPIR report (answered), traffic again,
  a second one a period later, deleted, no report after; C's answered
  "Session context not found": the UPF removes it (its deletion: 65);
  DL FAR BUFF|NOCP on one session and two downlink packets (Downlink Data
  Report; held, then dropped when the session goes); the application's
  PFDs removed while sessions name it (the application is no longer
  detected, the sessions stay modifiable: an Update FAR accepted; an
  establishment naming it is refused, 76); B takes A's CSID-3 sessions
  over with a Session Set Modification (Rel-17; /status moves them to B's
  association), deletes one, its association release takes the other;
  A deletes half its sessions one by one (and the later ones), the rest
  with one Session Set Deletion (CSIDs 1 and 2) and releases its
  association; B releases its association with its sessions; C stops
  answering heartbeats (its association and sessions go); a last SIGHUP
  removes the static sessions again. Then the occupancy must return to the
  baseline (within a deadline: removed sessions' usage books are kept 10 s
  for late queries), exactly, but for the state lines allocated and the
  interning tables (kept and swept by design), the timer heap (dead
  timers swept when it doubles: bounded) and the response cache (answers
  kept 30 s: checked empty once at the end). SMF D stays associated
  throughout with one long-lived session that every cycle modifies the
  same way (its figures are part of the baseline).

The UPF's RSS (/proc/PID/status VmRSS) is printed after every cycle and,
with the cycle times, written as JSON (--json): a trend for perf/, not a
pass/fail check (see perf/soak.sh for the bound it is judged by).

Runs inside the namespace 66-soak.sh prepares (veths soak-n3/soak-n6 for
the UPF, soak-n3p/soak-n6p for the gNB and the data network).
Usage: soak.py UPF_BINARY WORKDIR [--cycles N | --minutes M] [--sessions N] [--json PATH]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import signal
import socket
import struct
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smf_interop as S  # noqa: E402
import upfrun  # noqa: E402
from upfrun import FAILS  # noqa: E402

P = S.P
from scapy.all import IP, IPv6, UDP, Ether, Raw  # noqa: E402
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer  # noqa: E402

# One line per failed check, a count of the passed ones: a cycle makes
# hundreds of requests whose every response smf_interop checks.
PASSED = [0]


def check(ok: bool, what: str) -> None:
    if ok:
        PASSED[0] += 1
        return
    print("FAIL: " + what, flush=True)
    FAILS.append(what)


S.check = check

CONFIG = """\
node_id: 192.168.1.1
dpdk:
  args: [--no-huge, -m, '256', --no-pci, --file-prefix, {prefix}]
  mbufs: 4096
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3:
    device: 'net_af_packet0,iface=soak-n3'
    address: 192.168.1.1/24
    neighbors: {{ 192.168.1.2: '{gnb}' }}
  n6:
    device: 'net_af_packet1,iface=soak-n6'
    address: [10.200.0.1/24, '2001:db8:200::1/64']
    gateway: [10.200.0.254, '2001:db8:200::fe']
    neighbors: {{ 10.200.0.254: '{gw}', '2001:db8:200::fe': '{gw}' }}
pfcp:
  listen: 127.0.0.1:{port}
  heartbeat_interval: 1s
  request_timeout: 200ms
  request_retries: 2
ue_pools:
{pools}teid_range: {teid}
api:
  listen: 127.0.0.1:0
dataplane:
  idle_backoff: {{ enabled: true, empty_polls: 256, sleep: 100us }}
sessions:
  - id: 1
    ue_ip: 10.46.0.1
    uplink: {{ teid: 0x100 }}
    downlink: {{ gnb: 192.168.1.2, teid: 0x200, qfi: 9 }}
{extra}"""

# The UE pools and TEID range of the baseline, and those a reload in the
# middle of every cycle switches to while sessions hold addresses and TEIDs
# of the first (and back): the IPv4 pool shrunk to /17 (the static
# session's 10.45.255.200 falls outside it), a pool for DNN "ims" added,
# the IPv6 pool gone, the TEID range moved above every TEID in use.
POOLS = "  - { cidr: 10.45.0.0/16, dnn: internet }\n  - { cidr: '2001:db8:45::/48', dnn: internet }\n"
POOLS_ALT = "  - { cidr: 10.45.0.0/17, dnn: internet }\n  - { cidr: 10.47.0.0/16, dnn: ims }\n"
TEIDS = "{ first: 0x1000, last: 0x00ffffff }"
TEIDS_ALT = "{ first: 0x00800000, last: 0x00ffffff }"
TEID_ALT_FIRST = 0x00800000
V6_POOL = "2001:db8:45:"
DN6 = "2001:db8:ff::1"
# PFD Management: the application the sessions' third PDR names, its
# flows before and after the change, and one more that no session uses.
APP, APP2 = "soak-app", "soak-app2"
APP_FLOW = "permit out 17 from 198.51.100.0/24 to assigned"
APP_FLOW2 = "permit out 17 from 203.0.113.0/24 to assigned"
APP_SRC2 = "203.0.113.9"
INACTIVITY_S = 1

# Added by the first reload of a cycle, removed by the last: one UE
# address inside the IPv4 pool and one /64 inside the IPv6 pool (reserved
# in them while the sessions exist).
EXTRA_STATIC = """\
  - id: 2
    ue_ip: 10.45.255.200
    uplink: { teid: 0x101 }
    downlink: { gnb: 192.168.1.2, teid: 0x201, qfi: 9 }
    qos: { mbr_ul: 10Mbps, mbr_dl: 10Mbps }
  - id: 3
    ue_ip: 10.46.0.3
    uplink: { teid: 0x102 }
    downlink: { gnb: 192.168.1.2, teid: 0x202, qfi: 9 }
  - id: 4
    ue_ip: '2001:db8:45:ffff::1'
    uplink: { teid: 0x103 }
    downlink: { gnb: 192.168.1.2, teid: 0x203, qfi: 9 }
"""
STATICS = 4
STATIC_V6, STATIC_V6_TEID = "2001:db8:45:ffff::1", 0x203

# Occupancy figures that are not counts of live things: `state_lines`
# (and so `_free`) grows by whole chunks and is kept; `interned` is swept
# in amortised steps; the response cache keeps every answer 30 s (checked
# once at the end). Everything else must return to its baseline after
# every cycle.
NOT_EXACT = {"state_lines", "state_lines_free", "interned", "response_cache", "timers"}
# Timers are cancelled lazily: B's and C's sessions' hourly periodic-report
# timers stay in the heap until swept, which the node does when the heap
# has doubled (at least 1024): bounded, not exact.
TIMERS_SLACK = 1024
CACHE_TTL = 30.0
D_IP = "127.0.0.24"

# RSS after warm-up: the first cycles grow the hash tables, rings and
# allocator arenas to the churn's peak (N sessions, their books and 30 s of
# cached answers); later cycles repeat that peak, so the heap is reused and
# RSS stays flat. What may still move is allocator fragmentation and the
# response cache's ring when cycles get faster: 4 MiB (about 6 % of the
# ~65 MiB the debug build holds after start) is the bound perf/soak.sh
# judges a run by. Warm-up: the first fifth of the cycles, at least 2.
RSS_BOUND_KIB = 4096


def rss_summary(rows: List[dict], bound: int) -> dict:
    """RSS over the run: at the end of warm-up, its most after, growth."""
    if not rows:
        return {}
    warm = min(max(2, len(rows) // 5), len(rows))
    base = rows[warm - 1]["rss_kib"]
    after = [r["rss_kib"] for r in rows[warm:]] or [base]
    half = rows[len(rows) // 2:]
    slope = None
    if len(half) >= 2 and half[-1]["t_s"] > half[0]["t_s"]:
        slope = round((half[-1]["rss_kib"] - half[0]["rss_kib"]) / ((half[-1]["t_s"] - half[0]["t_s"]) / 60), 1)
    return {"warmup_cycles": warm, "rss_kib_start": rows[0]["rss_kib"], "rss_kib_after_warmup": base,
            "rss_kib_max_after_warmup": max(after), "rss_kib_end": rows[-1]["rss_kib"],
            "rss_growth_kib": max(after) - base, "rss_kib_per_min_second_half": slope,
            "rss_bound_kib": bound, "rss_within_bound": max(after) - base <= bound}


class Wire(S.Wire):
    """smf_interop's packet sockets, on this suite's veths."""

    def __init__(self):  # noqa: super().__init__ names smfi-* veths
        self.s = {}
        for side in ("n3", "n6"):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((f"soak-{side}p", 0))
            s.setblocking(False)
            self.s[side] = s
        self.mac = {side: open(f"/sys/class/net/soak-{side}/address").read().strip() for side in ("n3", "n6")}


def flat(occ: dict) -> Dict[str, int]:
    out = {}
    for part, figs in occ.items():
        for k, v in figs.items():
            out[f"{part}.{k}"] = v
    return out


def exact(f: Dict[str, int]) -> Dict[str, int]:
    return {k: v for k, v in f.items() if k.split(".", 1)[1] not in NOT_EXACT}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def session_ies(node, me: str, cp: int, csid: int, gnb_teid: int, period: Optional[int] = None,
                dnn: str = "internet") -> list:
    """A session of the cycle; `period`: URR 1 also reports every `period`
    seconds (PERIO), as SMFs set for charging (an hour, say)."""
    urr = [S.urr_id(1), S.meas_method(volum=True)]
    if period:
        urr += [S.rep_triggers(b"\x03\x00"), S.raw(64, struct.pack("!I", period))]
    else:
        urr += [S.rep_triggers(b"\x02\x00")]
    return [
        node, S.fseid(cp, me), P.IE_APN_DNN(apn_dnn=dnn),
        S.create_pdr(S.pdr_id(1), S.prec(255),
                     S.pdi(S.src_if(0), S.fteid_choose(), S.ni_plain("internet"),
                           S.ueip(None, dst=False, chv4=True)),
                     S.ohr(0), S.far_id(1), S.qer_id(1), S.urr_id(1)),
        S.create_pdr(S.pdr_id(2), S.prec(255),
                     S.pdi(S.src_if(1), S.ni_plain("internet"),
                           S.ueip(None, dst=True, chv4=True, v4_with_ch=True)),
                     S.far_id(2), S.qer_id(1), S.urr_id(1)),
        S.create_far(S.far_id(1), S.apply(forw=True), S.fwd(S.dst_if(1), S.ni_plain("internet"))),
        S.create_far(S.far_id(2), S.apply(forw=True), S.fwd(S.dst_if(0), S.ohc(gnb_teid, S.GNB_IP))),
        S.create_qer(S.qer_id(1), S.gate(), S.mbr(100_000, 100_000)),
        S.create_urr(*urr, S.vol_threshold(300)),
        S.pdn_type_v4(),
        S.fq_csid(me, csid),
    ]


def ueip_ies(dst: bool, v6: Optional[str] = None, chv6: bool = False, chv4: bool = False):
    """UE IP Address (TS 29.244 §8.2.62) with IPv6: a fixed address (V6),
    or CHOOSE IPv6 (V6 + CHV6, no address) and optionally IPv4 (V4 + CHV4)."""
    flags = 0x04 if dst else 0
    data = b""
    if chv4:
        flags |= 0x12
    if chv6:
        flags |= 0x21
    elif v6:
        flags |= 0x01
        data += socket.inet_pton(socket.AF_INET6, v6)
    return S.raw(93, bytes([flags]) + data)


def ue_addrs(c) -> Tuple[Optional[str], Optional[str]]:
    """The IPv4 and IPv6 address of a Created PDR's UE IP Address (read
    from its bytes: scapy's class knows no CHOOSE flags)."""
    u = S.find(c, 93) if c is not None else None
    if u is None:
        return (None, None)
    b = bytes(u)[4:]
    flags, rest = b[0], b[1:]
    v4 = v6 = None
    if flags & 0x02 and len(rest) >= 4:
        v4, rest = socket.inet_ntoa(rest[:4]), rest[4:]
    if flags & 0x01 and len(rest) >= 16:
        v6 = socket.inet_ntop(socket.AF_INET6, rest[:16])
    return (v4, v6)


def session6_ies(node, me: str, cp: int, csid: int, gnb_teid: int, fixed6: Optional[str], dual: bool) -> list:
    """An IPv6 (or IPv4v6) session: CHOOSE F-TEID, the UE's /64 CHOOSE'd
    from the IPv6 pool (`fixed6` None) or given by the SMF, a URR."""
    def ue(dst: bool):
        return ueip_ies(dst, v6=fixed6, chv6=fixed6 is None, chv4=dual)
    return [
        node, S.fseid(cp, me), P.IE_APN_DNN(apn_dnn="internet"),
        S.create_pdr(S.pdr_id(1), S.prec(255), S.pdi(S.src_if(0), S.fteid_choose(), S.ni_plain("internet"), ue(False)),
                     S.ohr(0), S.far_id(1), S.qer_id(1), S.urr_id(1)),
        S.create_pdr(S.pdr_id(2), S.prec(255), S.pdi(S.src_if(1), S.ni_plain("internet"), ue(True)),
                     S.far_id(2), S.qer_id(1), S.urr_id(1)),
        S.create_far(S.far_id(1), S.apply(forw=True), S.fwd(S.dst_if(1), S.ni_plain("internet"))),
        S.create_far(S.far_id(2), S.apply(forw=True), S.fwd(S.dst_if(0), S.ohc(gnb_teid, S.GNB_IP))),
        S.create_qer(S.qer_id(1), S.gate(), S.mbr(100_000, 100_000)),
        S.create_urr(S.urr_id(1), S.meas_method(volum=True), S.rep_triggers(b"\x00\x00")),
        S.raw(113, b"\x03" if dual else b"\x02"),
        S.fq_csid(me, csid),
    ]


def plain_session_ies(node, me: str, cp: int, gnb_teid: int) -> list:
    """The IEs of a session with the default UL and DL PDRs (CHOOSE F-TEID
    and IPv4 UE address), no QER or URR; callers append theirs."""
    return [
        node, S.fseid(cp, me), P.IE_APN_DNN(apn_dnn="internet"),
        S.create_pdr(S.pdr_id(1), S.prec(255),
                     S.pdi(S.src_if(0), S.fteid_choose(), S.ni_plain("internet"), S.ueip(None, dst=False, chv4=True)),
                     S.ohr(0), S.far_id(1)),
        S.create_pdr(S.pdr_id(2), S.prec(255),
                     S.pdi(S.src_if(1), S.ni_plain("internet"), S.ueip(None, dst=True, chv4=True, v4_with_ch=True)),
                     S.far_id(2)),
        S.create_far(S.far_id(1), S.apply(forw=True), S.fwd(S.dst_if(1))),
        S.create_far(S.far_id(2), S.apply(forw=True), S.fwd(S.dst_if(0), S.ohc(gnb_teid, S.GNB_IP))),
        S.pdn_type_v4(),
    ]


def app_session_ies(node, me: str, cp: int, csid: int, gnb_teid: int, app_teid: int) -> list:
    """A session whose third PDR (DL, precedence 100, above the default
    DL PDR's 255) names Application ID APP: downlink of the application's
    PFD flows goes to the gNB in `app_teid`, the rest in `gnb_teid`."""
    return plain_session_ies(node, me, cp, gnb_teid) + [
        S.create_pdr(S.pdr_id(3), S.prec(100),
                     S.pdi(S.src_if(1), S.ni_plain("internet"), S.ueip(None, dst=True, chv4=True, v4_with_ch=True),
                           P.IE_ApplicationId(id=APP)),
                     S.far_id(3)),
        S.create_far(S.far_id(3), S.apply(forw=True), S.fwd(S.dst_if(0), S.ohc(app_teid, S.GNB_IP))),
        S.fq_csid(me, csid),
    ]


def inactivity_ies(node, me: str, cp: int, gnb_teid: int) -> list:
    """A session with a short User Plane Inactivity Timer and no URR (the
    UPF watches it with its internal counter)."""
    return plain_session_ies(node, me, cp, gnb_teid) + [P.IE_UserPlaneInactivityTimer(timer=INACTIVITY_S)]


def pfd_ies(apps: Dict[str, List[str]]) -> list:
    """Application ID's PFDs IEs: each application with one PFD per flow
    description, or none (its PFDs removed)."""
    out = []
    for app, flows in apps.items():
        ctx = [P.IE_PFDContext(IE_list=[P.IE_PFDContents(FD=1, flow=f) for f in flows])] if flows else []
        out.append(P.IE_ApplicationID_PFDs(IE_list=[P.IE_ApplicationId(id=app)] + ctx))
    return out


def update_pdr1(*urrs: int):
    return P.IE_UpdatePDR(IE_list=[S.pdr_id(1), S.far_id(1), S.qer_id(1)] + [S.urr_id(u) for u in urrs])


def ul6(traffic: S.Traffic, name: str, teid: int, ue6: str, n: int = 2) -> None:
    """n UL G-PDUs with an IPv6 packet from the UE (outer IPv4): they
    leave N6 decapsulated towards the IPv6 gateway."""
    w = traffic.w
    w.drain()
    inner = IPv6(src=ue6, dst=DN6) / UDP(sport=4000, dport=9) / Raw(b"u" * 100)
    for _ in range(n):
        w.send("n3", Ether(src=S.GNB_MAC, dst=w.mac["n3"]) / IP(src=S.GNB_IP, dst=S.N3_IP) /
               UDP(sport=2152, dport=2152) / GTP_U_Header(teid=teid, gtp_type=255) /
               GTPPDUSessionContainer(type=1, QFI=9) / inner)
    got = w.collect("n6", lambda e: IPv6 in e and e[IPv6].src == ue6 and e[IPv6].dst == DN6, n)
    check(len(got) == n and all(e.dst == S.GW_MAC and bytes(e[IPv6].payload) == bytes(inner.payload) for e in got),
          f"{name}: {n} UL IPv6 packets from UE {ue6} on TEID {teid:#x} leave N6 decapsulated ({len(got)})")


def dl6(traffic: S.Traffic, name: str, ue6: str, teid: int, n: int = 2) -> None:
    """n DL IPv6 packets to the UE reach the gNB in GTP-U `teid`."""
    w = traffic.w
    w.drain()
    inner = IPv6(src=DN6, dst=ue6) / UDP(sport=9, dport=4000) / Raw(b"d" * 200)
    for _ in range(n):
        w.send("n6", Ether(src=S.GW_MAC, dst=w.mac["n6"]) / inner)

    def want(e) -> bool:
        g = S.gtpu_of(e)
        return g is not None and e[IP].dst == S.GNB_IP and g.teid == teid and IPv6 in e and e[IPv6].dst == ue6
    got = w.collect("n3", want, n)
    check(len(got) == n, f"{name}: {n} DL IPv6 packets to UE {ue6} reach the gNB in TEID {teid:#x} ({len(got)})")


def is_upir(rep) -> bool:
    rt = S.find(S.body_of(rep), 39)
    return rt is not None and rt.UPIR == 1


def report_kinds(smf: S.Smf) -> List[Tuple[int, str]]:
    """The Session Reports an SMF holds: (CP SEID, report type flags)."""
    out = []
    for t, _s, p in list(smf.upf_requests):
        if t == S.REPORT:
            rt = S.find(S.body_of(p), 39)
            out.append((p.seid, "" if rt is None else
                        "|".join(f for f in ("DLDR", "USAR", "ERIR", "UPIR") if getattr(rt, f, 0))))
    return out


def take_report(smf: S.Smf, want, timeout: float):
    """The first Session Report Request to `smf` that `want` accepts
    (taken from its list), waiting up to `timeout` s; None if none came."""
    deadline = time.monotonic() + timeout
    while True:
        for item in list(smf.upf_requests):
            if item[0] == S.REPORT and want(item[2]):
                smf.upf_requests.remove(item)
                return item[2]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


class Soak:
    def __init__(self, upf: upfrun.Upf, cfg_path: str, cfg: dict, n4: Tuple[str, int], sessions: int,
                 traffic: S.Traffic):
        self.upf, self.cfg_path, self.cfg, self.n4 = upf, cfg_path, cfg, n4
        self.n = sessions
        self.traffic = traffic
        self.cp_next = 0x50A0000000000001
        self.d: Optional[S.Smf] = None
        self.long: Optional[dict] = None
        # (kind, value) of the TEIDs and UE addresses the last cycle's
        # sessions of A held.
        self.freed: set = set()

    def write_config(self, extra: str, pools: str = POOLS, teids: str = TEIDS) -> None:
        tmp = self.cfg_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(CONFIG.format(extra=extra, pools=pools, teid=teids, **self.cfg))
        os.replace(tmp, self.cfg_path)

    def reload(self, extra: str, statics: int, what: str, pools: str = POOLS, teids: str = TEIDS) -> None:
        applied = self.upf.status()["reloads"]["applied"]
        self.write_config(extra, pools, teids)
        self.upf.proc.send_signal(signal.SIGHUP)
        try:
            upfrun.wait_for(what, lambda: self.upf.status()["reloads"]["applied"] > applied
                            and self.upf.status()["sessions"]["static"] == statics, 10.0)
            check(True, what)
        except AssertionError as e:
            check(False, f"{what}: {e} (last reload {self.upf.status()['reloads']['last']})")

    def reload_refused(self, extra: str, what: str, why: str) -> None:
        """A SIGHUP with `extra` static sessions that must be rejected
        (the last reload's summary naming `why`): the running config
        (STATICS static sessions) stays."""
        before = self.upf.status()["reloads"]
        self.write_config(extra)
        self.upf.proc.send_signal(signal.SIGHUP)
        try:
            upfrun.wait_for(what, lambda: self.upf.status()["reloads"]["rejected"] > before["rejected"], 10.0)
            st = self.upf.status()
            last = st["reloads"]["last"] or {}
            check(st["reloads"]["applied"] == before["applied"] and st["sessions"]["static"] == STATICS
                  and why in (last.get("summary") or ""), f"{what}: nothing applied, because of {why} ({last})")
        except AssertionError as e:
            check(False, f"{what}: {e} (last reload {self.upf.status()['reloads']['last']})")
        # The file as the UPF runs it, for the next reloads.
        self.write_config(EXTRA_STATIC)

    def establish(self, smf: S.Smf, node, me: str, csid: int, period: Optional[int] = None) -> Optional[dict]:
        cp = self.cp_next
        self.cp_next += 1
        gnb_teid = 0x7000_0000 | (cp & 0xFFFFFF)
        rsp, up = smf.establish(cp, session_ies(node, me, cp, csid, gnb_teid, period), what="Session Establishment (CHOOSE)")
        if rsp is None or up is None:
            return None
        cps = S.created_pdrs(rsp)
        f = S.find(cps[1], 21) if 1 in cps else None
        ue = S.created_ue_ip(cps.get(1)) or S.created_ue_ip(cps.get(2))
        check(f is not None and ue is not None and ue.startswith(S.POOL),
              f"{smf.name}: Created PDR with a chosen F-TEID and a UE address from the pool ({ue})")
        if f is None or ue is None:
            return None
        return {"cp": cp, "up": up, "teid": f.TEID, "ue": ue, "gnb_teid": gnb_teid}

    def modify_all(self, smf: S.Smf, sess: List[dict]) -> None:
        for i, s in enumerate(sess):
            s["gnb_teid"] ^= 0x0100_0000
            smf.modify(s["up"], s["cp"], [
                S.upd_far(S.far_id(2), S.apply(forw=True),
                          S.upd_fwd(S.dst_if(0), S.ohc(s["gnb_teid"], S.GNB_IP))),
                P.IE_UpdateQER(IE_list=[S.qer_id(1), S.mbr(200_000 + i, 200_000 + i)]),
                S.create_urr(S.urr_id(2), S.meas_method(volum=True), S.rep_triggers(b"\x00\x00")),
                update_pdr1(1, 2),
            ], what="Session Modification (Update FAR, Update QER, Create URR 2)")
            rsp = smf.modify(s["up"], s["cp"], [P.IE_RemoveURR(IE_list=[S.urr_id(2)]), update_pdr1(1)],
                             what="Session Modification (Remove URR 2)")
            check(rsp is not None and 2 in S.usage_reports(rsp, 78),
                  f"{smf.name}: the Modification Response reports the removed URR 2's final usage")

    def establish_with(self, smf: S.Smf, ies_of, what: str, pool: str = S.POOL) -> Optional[dict]:
        """A session from `ies_of(cp, gnb_teid)`: its CHOOSE'd F-TEID and
        UE addresses (IPv4 checked in `pool` when one was chosen)."""
        cp = self.cp_next
        self.cp_next += 1
        gnb_teid = 0x7000_0000 | (cp & 0xFFFFFF)
        rsp, up = smf.establish(cp, ies_of(cp, gnb_teid), what=what)
        if rsp is None or up is None:
            return None
        cps = S.created_pdrs(rsp)
        f = S.find(cps[1], 21) if 1 in cps else None
        v4, v6 = ue_addrs(cps.get(1))
        if v4 is None and v6 is None:
            v4, v6 = ue_addrs(cps.get(2))
        check(f is not None and (v4 is None or v4.startswith(pool)),
              f"{smf.name}: {what}: Created PDR with a chosen F-TEID and UE address ({v4}, {v6}) in {pool}")
        if f is None:
            return None
        return {"cp": cp, "up": up, "teid": f.TEID, "ue": v4, "ue6": v6, "gnb_teid": gnb_teid}

    def establish_v6(self, smf: S.Smf, node, me: str, k: int, fixed: bool = False, dual: bool = False,
                     csid: int = 1) -> Optional[dict]:
        fixed6 = f"2001:db8:46:{k:x}::" if fixed else None
        kind = "fixed IPv6" if fixed else ("CHOOSE IPv4v6" if dual else "CHOOSE IPv6")
        s = self.establish_with(smf, lambda cp, g: session6_ies(node, me, cp, csid, g, fixed6, dual),
                                f"Session Establishment ({kind})")
        if s is None:
            return None
        # A Created PDR carries the UE IP Address only when the UPF chose it.
        got = s["ue6"]
        ok = got is None if fixed6 else got is not None and got.startswith(V6_POOL)
        check(ok and (s["ue"] is not None) == dual,
              f"{smf.name}: {kind} session: Created PDR's UE IP Address {s['ue']} / {got}"
              + (" (none: the SMF's)" if fixed6 else f" from the IPv6 pool {V6_POOL}:/48"))
        got = fixed6 or got
        if got is None:
            return None
        # The UE's address inside its /64.
        s["ue6"] = str(ipaddress.IPv6Address(int(ipaddress.IPv6Address(got)) | 1))
        return s

    def pfd(self, smf: S.Smf, apps: Dict[str, List[str]], want: Tuple[int, int], what: str) -> None:
        """A PFD Management Request; then the PFD store holds `want`
        (applications, PFDs) on /status."""
        smf.request(3, P.PFCPPFDManagementRequest, pfd_ies(apps), what=what)
        self.pfcp_occupancy(what, ("pfd_applications", "pfds"), want)

    def pfcp_occupancy(self, what: str, keys: Tuple[str, ...], want: tuple) -> None:
        """/status occupancy.pfcp's figures `keys` reach `want` (it is up to
        100 ms old: waited for, 2 s at most)."""
        got = None

        def same() -> bool:
            nonlocal got
            o = self.upf.status()["occupancy"]["pfcp"]
            got = tuple(o[k] for k in keys)
            return got == want
        try:
            upfrun.wait_for(f"{what}: /status occupancy.pfcp {keys} == {want}", same, 2.0)
            check(True, what)
        except AssertionError as e:
            check(False, f"{e} (got {got})")

    def allocations(self, what: str, sessions: List[dict], teids: str, pools: str) -> None:
        """/status pfcp.teids_allocated and ue_ips_allocated count exactly
        the TEIDs and UE addresses of `sessions` (and the static
        sessions' addresses) inside the TEID range and pools of the config
        text given: a reload neither forgets nor invents an allocation."""
        lo, hi = (int(x, 0) for x in re.findall(r"0x[0-9a-f]+", teids))
        nets = [ipaddress.ip_network(c) for c in re.findall(r"cidr: '?([0-9a-f.:/]+)'?", pools)]
        ips = [s[key] for s in sessions for key in ("ue", "ue6") if s.get(key)] + ["10.45.255.200", STATIC_V6]
        want = (sum(1 for s in sessions if lo <= s["teid"] <= hi),
                sum(1 for ip in ips if any(ipaddress.ip_address(ip) in n for n in nets)))
        self.pfcp_occupancy(what, ("teids_allocated", "ue_ips_allocated"), want)

    def per_association(self, what: str, want: Dict[str, int]) -> None:
        """/status pfcp.associations: sessions per association == `want`."""
        got: Dict[str, int] = {}

        def same() -> bool:
            nonlocal got
            got = {x["node_id"]: x["sessions"] for x in self.upf.status()["pfcp"]["associations"]}
            return got == want
        # /status is up to 100 ms old.
        try:
            upfrun.wait_for(what, same, 2.0)
            check(True, what)
        except AssertionError as e:
            check(False, f"{e}: {got} != {want}")

    def app_dl(self, name: str, s: dict, src: str, teid: int) -> None:
        """One DL packet from `src` to the app session's UE reaches the gNB
        in `teid` (the application's FAR or the default one)."""
        self.traffic.dl(name, s["ue"], S.GNB_IP, teid, n=1, src=src)

    def cycle(self, k: int) -> None:
        self.reload(EXTRA_STATIC, STATICS, f"cycle {k}: SIGHUP adds 3 static sessions")
        a_ip, b_ip, c_ip = "127.0.0.21", "127.0.0.22", "127.0.0.23"
        # An SMF's sequence numbers go on across its associations: a
        # request repeated byte for byte with the same number within the
        # response cache's 30 s is a retransmission, answered from the cache.
        seq = 1 + (k * 4096) % 0xFF0000
        a = S.Smf(f"A{k}", self.n4, (a_ip, 8805), seq=seq)
        b = S.Smf(f"B{k}", self.n4, (b_ip, 8805), seq=seq)
        c = S.Smf(f"C{k}", self.n4, (c_ip, 8805), seq=seq)
        na, nb, nc = S.node_v4(a_ip), S.node_v4(b_ip), S.node_v4(c_ip)
        try:
            for smf, node in ((a, na), (b, nb), (c, nc)):
                smf.associate(node)
            # B's session with a short User Plane Inactivity Timer first:
            # its UPIR report comes while the rest of the cycle runs.
            quiet = self.establish_with(b, lambda cp, g: inactivity_ies(nb, b_ip, cp, g),
                                        f"Session Establishment (User Plane Inactivity Timer {INACTIVITY_S} s)")
            if quiet is not None:
                self.traffic.ul(f"cycle {k}: inactivity-timer session", quiet["teid"], quiet["ue"], n=1)
            # C's too, but C answers its report "Session context not
            # found" (an SMF that lost the session): the UPF removes it.
            c.report_cause = 65
            lost = self.establish_with(c, lambda cp, g: inactivity_ies(nc, c_ip, cp, g),
                                       f"Session Establishment (User Plane Inactivity Timer {INACTIVITY_S} s)")
            sa = [s for s in (self.establish(a, na, a_ip, 1 + i % 2) for i in range(self.n)) if s]
            others_of: Dict[str, List[dict]] = {}
            for smf, node, ip in ((b, nb, b_ip), (c, nc, c_ip)):
                got = [self.establish(smf, node, ip, 9, period=3600) for _ in range(max(1, self.n // 4))]
                others_of[ip] = [s for s in got if s]
            others = others_of[b_ip] + others_of[c_ip]
            # PFD Management: two applications provisioned, then sessions
            # whose third PDR names the first (CSID 3: B takes them over
            # by Session Set Modification below).
            self.pfd(a, {APP: [APP_FLOW], APP2: [APP_FLOW, APP_FLOW2]}, (2, 3),
                     f"cycle {k}: PFD Management (PFDs of {APP} and {APP2})")
            apps = [s for s in (self.establish_with(
                a, lambda cp, g: app_session_ies(na, a_ip, cp, 3, g, g ^ 0x0080_0000),
                f"Session Establishment (PDR with Application ID {APP})") for _ in range(2)) if s]
            # IPv6: a /64 CHOOSE'd from the IPv6 pool, a fixed one, IPv4v6.
            v6 = [s for s in (self.establish_v6(a, na, a_ip, k), self.establish_v6(a, na, a_ip, k, fixed=True),
                              self.establish_v6(a, na, a_ip, k, dual=True)) if s]
            # Thresholds crossed: 4 UL packets of 128 inner bytes > 300.
            hot = sa[:4]
            for s in hot:
                self.traffic.ul(f"cycle {k}", s["teid"], s["ue"], n=4)
            want = len(hot)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and \
                    sum(1 for t, _s, _p in list(a.upf_requests) if t == S.REPORT) < want:
                time.sleep(0.02)
            got = sum(1 for t, _s, _p in list(a.upf_requests) if t == S.REPORT)
            check(got >= want, f"cycle {k}: {want} Session Reports (volume threshold) sent to A ({got})")
            a.upf_requests.clear()
            self.modify_all(a, sa + v6)
            if self.d is not None and self.long is not None:
                self.modify_all(self.d, [self.long])
            for s in hot[:2]:
                self.traffic.dl(f"cycle {k} (after Update FAR)", s["ue"], S.GNB_IP, s["gnb_teid"], n=2)
            for s in v6:
                ul6(self.traffic, f"cycle {k}: IPv6 UE (after the modifications)", s["teid"], s["ue6"])
                dl6(self.traffic, f"cycle {k}: IPv6 UE (after the modifications)", s["ue6"], s["gnb_teid"])
            dl6(self.traffic, f"cycle {k}: static session with an IPv6 UE in the pool", STATIC_V6, STATIC_V6_TEID, n=1)
            # The application's PFD flows go to its FAR; a PFD change
            # reaches the live sessions before its answer.
            for s in apps:
                self.app_dl(f"cycle {k}: DL of {APP}'s PFD flow to its FAR", s, S.DN_IP, s["gnb_teid"] ^ 0x0080_0000)
                self.app_dl(f"cycle {k}: DL outside {APP}'s PFD flows to the default FAR", s, APP_SRC2, s["gnb_teid"])
            self.pfd(a, {APP: [APP_FLOW2]}, (2, 3), f"cycle {k}: PFD Management (PFDs of {APP} changed)")
            for s in apps[:1]:
                self.app_dl(f"cycle {k}: after the PFD change, the new flow to {APP}'s FAR", s, APP_SRC2,
                            s["gnb_teid"] ^ 0x0080_0000)
                self.app_dl(f"cycle {k}: after the PFD change, the old flow to the default FAR", s, S.DN_IP,
                            s["gnb_teid"])
            self.pfd(a, {APP2: []}, (1, 1), f"cycle {k}: PFD Management ({APP2}'s PFDs removed)")
            # A static session on the UE address a PFCP session holds: the
            # reload is refused as a whole and changes nothing.
            if sa:
                clash = EXTRA_STATIC + (f"  - id: 5\n    ue_ip: {sa[0]['ue']}\n    uplink: {{ teid: 0x104 }}\n"
                                        "    downlink: { gnb: 192.168.1.2, teid: 0x204, qfi: 9 }\n")
                self.reload_refused(clash, f"cycle {k}: SIGHUP adding a static session on a PFCP session's UE "
                                           "address is refused", f"UE address {sa[0]['ue']} is already used")
                self.traffic.ul(f"cycle {k}: that PFCP session after the refused reload", sa[0]["teid"],
                                sa[0]["ue"], n=1)
            # C's inactivity report was answered 65: that session is gone.
            if lost is not None:
                rep = take_report(c, lambda r: r.seid == lost["cp"] and is_upir(r), INACTIVITY_S + 3.0)
                check(rep is not None,
                      f"cycle {k}: a Session Report (UPIR) to C, answered 'Session context not found'")
                c.request(S.DEL, P.PFCPSessionDeletionRequest, [], seid=lost["up"], cp_seid=0, cause=65,
                          what="Session Deletion of the session the UPF removed on cause 65 (65)")
            held = sa + others + apps + v6 + ([quiet] if quiet else []) + ([self.long] if self.long else [])
            self.allocations(f"cycle {k}: before the reload", held, TEIDS, POOLS)
            # Reload: pools and TEID range changed under live sessions.
            self.reload(EXTRA_STATIC, STATICS, f"cycle {k}: SIGHUP changes the UE pools and the TEID range",
                        pools=POOLS_ALT, teids=TEIDS_ALT)
            ims = [s for s in (self.establish_with(
                a, lambda cp, g: session_ies(na, a_ip, cp, 1, g, dnn="ims"),
                "Session Establishment (DNN ims, CHOOSE, after the reload)", pool="10.47.") for _ in range(2)) if s]
            # No IPv6 pool now: CHOOSE IPv6 is refused, and gives back
            # the TEID it had chosen.
            cp = self.cp_next
            self.cp_next += 1
            a.establish(cp, session6_ies(na, a_ip, cp, 1, 0x7100_0000, None, False), cause=75,
                        what="Session Establishment (CHOOSE IPv6 without an IPv6 pool: 75)")
            check(all(s["teid"] >= TEID_ALT_FIRST for s in ims),
                  f"cycle {k}: TEIDs CHOOSE'd after the reload are in the new range "
                  f"({[hex(s['teid']) for s in ims]})")
            self.allocations(f"cycle {k}: after the reload", held + ims, TEIDS_ALT, POOLS_ALT)
            if hot:
                self.traffic.ul(f"cycle {k}: a session from before the pool/TEID reload", hot[0]["teid"],
                                hot[0]["ue"], n=1)
            for s in v6[:1]:
                dl6(self.traffic, f"cycle {k}: IPv6 UE of a pool the reload removed", s["ue6"], s["gnb_teid"], n=1)
            for s in ims[:1]:
                self.traffic.ul(f"cycle {k}: a session of the new ims pool", s["teid"], s["ue"], n=1)
            self.reload(EXTRA_STATIC, STATICS, f"cycle {k}: SIGHUP restores the UE pools and the TEID range")
            late = [s for s in (self.establish_v6(a, na, a_ip, k), self.establish(a, na, a_ip, 1)) if s]
            self.allocations(f"cycle {k}: after the reload back", held + ims + late, TEIDS, POOLS)
            live = sa + apps + v6 + ims + late + ([quiet] if quiet else []) + ([self.long] if self.long else [])
            teids = [s["teid"] for s in live]
            ues = [s[key] for s in live for key in ("ue", "ue6") if s.get(key)] + ["10.45.255.200", STATIC_V6]
            check(len(set(teids)) == len(teids) and len(set(ues)) == len(ues),
                  f"cycle {k}: after two reloads of the pools and TEID range, CHOOSE gave no TEID or UE address "
                  f"twice ({len(teids) - len(set(teids))} TEIDs, {len(ues) - len(set(ues))} addresses)")
            # What this cycle's sessions were given, against what the last
            # cycle's gave back ~10 s ago: a reload must not make the
            # allocators hand those out again at once.
            # (Every TEID and address CHOOSE gave this cycle: the IPv4 pool
            # and TEID range went on across two reloads, the ims pool and
            # the moved TEID range came back from the last cycle, the IPv6
            # pool was removed and added again.)
            chosen = sa + late + ims + apps + v6 + others + [x for x in (quiet, lost) if x]
            mine = {(key, s[key]) for s in chosen for key in ("teid", "ue", "ue6") if s.get(key)}
            mine.discard(("ue6", v6[1]["ue6"] if len(v6) > 1 else None))  # the SMF's
            again = sorted(mine & self.freed)
            check(not again, f"cycle {k}: CHOOSE after reloads does not hand out what the last cycle's sessions "
                             f"freed ({len(again)}: {again[:4]})")
            self.freed = mine
            # The inactivity timer's report (answered by B's reader).
            if quiet is not None:
                rep = take_report(b, lambda r: r.seid == quiet["cp"] and is_upir(r), INACTIVITY_S + 3.0)
                check(rep is not None, f"cycle {k}: a Session Report (UPIR) for the silent session with the "
                                       f"inactivity timer (other reports to B: {report_kinds(b)})")
                more = [p for t, _s, p in list(b.upf_requests) if t == S.REPORT and p.seid == quiet["cp"]]
                check(not more, f"cycle {k}: one UPIR report per silent period ({len(more)} more)")
                # Traffic resumes and stops: reported again, a period later.
                self.traffic.ul(f"cycle {k}: inactivity-timer session, traffic again", quiet["teid"], quiet["ue"], n=1)
                resumed = time.monotonic()
            # Idle mode on the last session (deleted by the Session Set
            # Deletion below): its DL FAR buffers, the first packet is
            # reported (Downlink Data Report), the packets stay held.
            idle = sa[-1]
            a.modify(idle["up"], idle["cp"], [S.upd_far(S.far_id(2), S.apply(buff=True, nocp=True))],
                     what="Session Modification (DL FAR BUFF|NOCP)")
            self.traffic.send_dl(idle["ue"], 2)
            try:
                upfrun.wait_for(f"cycle {k}: 2 DL packets buffered", lambda: self.upf.status()["occupancy"][
                    "dataplane"]["buffered_packets"] == 2, 5.0)
                check(True, "buffered")
            except AssertionError as e:
                check(False, f"{e} ({self.upf.status()['occupancy']['dataplane']['buffered_packets']})")
            # Other reports may come first (the hot sessions' thresholds,
            # crossed again by the downlink above): wait for this one.
            rep = take_report(a, lambda r: r.seid == idle["cp"] and S.find(S.body_of(r), 83) is not None, 3.0)
            check(rep is not None, f"cycle {k}: a Downlink Data Report for the buffering session "
                                   f"(other reports to A: {report_kinds(a)})")
            # The application loses its PFDs while sessions name it: it is
            # no longer detected (its flow takes the default PDR), and the
            # sessions stay modifiable (a handover's Update FAR).
            self.pfd(a, {APP: []}, (0, 0), f"cycle {k}: PFD Management ({APP}'s PFDs removed while sessions use it)")
            for s in apps[:1]:
                self.app_dl(f"cycle {k}: {APP} without PFDs: not detected any more", s, APP_SRC2, s["gnb_teid"])
                s["gnb_teid"] ^= 0x0100_0000
                a.modify(s["up"], s["cp"], [S.upd_far(S.far_id(2), S.apply(forw=True),
                                                      S.upd_fwd(S.dst_if(0), S.ohc(s["gnb_teid"], S.GNB_IP)))],
                         what=f"Session Modification (Update FAR) of a session naming {APP}, which has no PFDs")
                self.app_dl(f"cycle {k}: after that Update FAR", s, APP_SRC2, s["gnb_teid"])
            cp = self.cp_next
            self.cp_next += 1
            a.establish(cp, app_session_ies(na, a_ip, cp, 3, 0x7200_0000, 0x7300_0000), cause=76,
                        what=f"Session Establishment naming {APP} without PFDs (76)")
            if quiet is not None:
                rep = take_report(b, lambda r: r.seid == quiet["cp"] and is_upir(r), INACTIVITY_S + 3.0)
                after = time.monotonic() - resumed
                check(rep is not None and after >= INACTIVITY_S - 0.1,
                      f"cycle {k}: a second UPIR report, a period after traffic stopped again ({after:.2f} s)")
                b.delete(quiet["up"], quiet["cp"], what="Session Deletion (inactivity-timer session)")
            # B takes A's CSID-3 sessions over (Session Set Modification):
            # they move to B's association, B deletes one, the other goes
            # with B's association.
            held_by = {a_ip: len(sa + apps + v6 + ims + late), b_ip: len(others_of[b_ip]),
                       c_ip: len(others_of[c_ip]), D_IP: 1 if self.long else 0}
            self.per_association(f"cycle {k}: /status sessions per association before the takeover", held_by)
            alt = S.raw(178, b"\x02" + socket.inet_aton(b_ip))
            b.request(16, S.SsmRequest, [alt, S.fq_csid(a_ip, 3)],
                      what="Session Set Modification Request (A's CSID 3 -> B)")
            held_by[a_ip] -= len(apps)
            held_by[b_ip] += len(apps)
            self.per_association(f"cycle {k}: /status: A's CSID-3 sessions now B's", held_by)
            # One deleted by B, the other goes with B's association.
            for s in apps[:1]:
                b.delete(s["up"], s["cp"], what="Session Deletion by B of a session it took over")
            half = len(sa) // 2
            for s in sa[:half] + v6[:1] + ims + late:
                a.delete(s["up"], s["cp"])
            a.request(14, P.PFCPSessionSetDeletionRequest, [na, S.fq_csid(a_ip, 1, 2)],
                      what="Session Set Deletion (CSIDs 1, 2)")
            a.release(na)
            late_upir = [p for t, _s, p in list(b.upf_requests)
                         if t == S.REPORT and quiet is not None and p.seid == quiet["cp"]]
            check(not late_upir, f"cycle {k}: no UPIR report after the inactivity-timer session's deletion "
                                 f"({len(late_upir)})")
            b.release(nb)
        finally:
            a.close()
            b.close()
            # C goes silent: its heartbeats go unanswered.
            c.close()
        try:
            upfrun.wait_for(f"cycle {k}: C's association lost (heartbeats)",
                            lambda: all(x["node_id"] != c_ip for x in self.upf.status()["pfcp"]["associations"]),
                            10.0)
            check(True, "heartbeat loss")
        except AssertionError as e:
            check(False, str(e))
        self.reload("", 1, f"cycle {k}: SIGHUP removes the 3 static sessions")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("workdir")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=0.0, help="run cycles for this long instead of --cycles")
    ap.add_argument("--sessions", type=int, default=40, help="sessions of SMF A per cycle")
    ap.add_argument("--settle", type=float, default=20.0, help="deadline for the occupancy to return (s)")
    ap.add_argument("--json", default="", help="write the figures (perf/results format) here")
    ap.add_argument("--command", default=os.environ.get("SOAK_COMMAND", "scripts/tests/66-soak.sh"), help="the command line, for the JSON")
    ap.add_argument("--rss-bound-kib", type=int, default=RSS_BOUND_KIB,
                    help="largest RSS growth after warm-up the JSON calls within bound")
    args = ap.parse_args()

    prefix = f"soak-{os.getpid()}"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = {"prefix": prefix, "port": port, "gnb": S.GNB_MAC, "gw": S.GW_MAC}
    path = os.path.join(args.workdir, "upf.yaml")
    with open(path, "w") as f:
        f.write(CONFIG.format(extra="", pools=POOLS, teid=TEIDS, **cfg))
    upf = upfrun.Upf(args.binary, path, os.path.join(args.workdir, "upf.log"), prefix,
                     env={"RUST_LOG": os.environ.get("SOAK_RUST_LOG", "info")})
    t0 = time.monotonic()
    rows = []
    try:
        upf.wait_running()
        pid = upf.proc.pid
        soak = Soak(upf, path, cfg, ("127.0.0.1", port), args.sessions, S.Traffic(Wire()))
        # SMF D stays associated for the whole run with one session that
        # every cycle modifies (a second URR on its uplink PDR and back):
        # what a long-lived session holds must not grow either.
        d = S.Smf("D", ("127.0.0.1", port), (D_IP, 8805))
        nd = S.node_v4(D_IP)
        d.associate(nd)
        soak.long = soak.establish(d, nd, D_IP, 7)
        soak.d = d
        if soak.long is not None:
            # Its first round folds URR 1's old QER line (one folded_urrs
            # entry for as long as the URR lives): part of the baseline.
            soak.modify_all(d, [soak.long])
        # Nothing in flight: publishes reclaimed, no heartbeat unanswered,
        # and D's modification settled: the same occupancy in two reads
        # half a second apart (/status is up to 100 ms old, and the fold of
        # URR 1's old QER line frees the line and books its counts a few
        # steps after the response; a baseline read between those steps
        # made every later cycle "fail" with lines 4 != 5, books 1 != 0).
        base: Dict[str, int] = {}
        prev: Dict[str, int] = {}

        def quiet() -> bool:
            nonlocal base, prev
            prev, base = base, flat(upf.status()["occupancy"])
            return (base["dataplane.retired_snapshots"], base["dataplane.deferred_frees"],
                    base["pfcp.requests_in_flight"], base["pfcp.tx_queue"], base["dataplane.sessions"],
                    base["pfcp.sessions"], base["dataplane.folded_urrs"]) == (0, 0, 0, 0, 2, 1, 1) \
                and exact(prev) == exact(base)
        upfrun.wait_for("nothing in flight and the same occupancy twice for the baseline", quiet, 15.0, poll=0.5)

        print("baseline occupancy: " + ", ".join(f"{k}={v}" for k, v in sorted(base.items()) if v), flush=True)
        check("pfcp.sessions" in base, "/status has occupancy.pfcp")
        print(f"{'cycle':>5} {'t_s':>7} {'churn_s':>7} {'settle_s':>8} {'rss_kib':>8} {'pfcp_msgs':>9} "
              f"{'lines':>6} {'interned':>8} {'timers':>6} {'cache':>6}", flush=True)
        k = 0
        end = t0 + args.minutes * 60 if args.minutes > 0 else None
        while (end is None and k < args.cycles) or (end is not None and time.monotonic() < end):
            k += 1
            c0 = time.monotonic()
            fails = len(FAILS)
            soak.cycle(k)
            c1 = time.monotonic()
            want = exact(base)
            last: Dict[str, int] = flat(upf.status()["occupancy"])
            # What still settles right after the churn (timers, books).
            pending = {key: v for key, v in exact(last).items() if want.get(key) != v}

            def back() -> bool:
                nonlocal last
                last = flat(upf.status()["occupancy"])
                return exact(last) == want and last["pfcp.timers"] <= base["pfcp.timers"] + TIMERS_SLACK
            try:
                upfrun.wait_for(f"cycle {k}: occupancy back to the baseline", back, args.settle, poll=0.2)
                check(True, "occupancy")
            except AssertionError as e:
                diff = {key: (want.get(key), v) for key, v in exact(last).items() if want.get(key) != v}
                diff["pfcp.timers (bounded)"] = (base["pfcp.timers"], last["pfcp.timers"])
                check(False, f"{e}: (baseline, now) {diff}")
            c2 = time.monotonic()
            st = upf.status()
            msgs = sum(m["count"] for m in st["pfcp"]["messages"])
            row = {"cycle": k, "t_s": round(c2 - t0, 2), "churn_s": round(c1 - c0, 2),
                   "settle_s": round(c2 - c1, 2), "rss_kib": rss_kib(pid), "pfcp_messages": msgs,
                   "state_lines": last.get("dataplane.state_lines"), "interned": last.get("pfcp.interned"),
                   "timers": last.get("pfcp.timers"), "response_cache": last.get("pfcp.response_cache"),
                   "pending_after_churn": pending, "failures": len(FAILS) - fails}
            rows.append(row)
            print(f"{k:>5} {row['t_s']:>7} {row['churn_s']:>7} {row['settle_s']:>8} {row['rss_kib']:>8} "
                  f"{msgs:>9} {row['state_lines']!s:>6} {row['interned']!s:>8} {row['timers']!s:>6} "
                  f"{row['response_cache']!s:>6}  settling: {pending}", flush=True)
        check(k > 0, "at least one cycle ran")
        try:
            upfrun.wait_for("the response cache empty (answers expire after 30 s)",
                            lambda: upf.status()["occupancy"]["pfcp"]["response_cache"] == 0, CACHE_TTL + 5, poll=0.5)
            check(True, "response cache")
        except AssertionError as e:
            check(False, f"{e}: {upf.status()['occupancy']['pfcp']['response_cache']} answers kept")
        final = flat(upf.status()["occupancy"])
        print("final occupancy: " + ", ".join(f"{k}={v}" for k, v in sorted(final.items()) if v), flush=True)
        status = upf.stop()
        check(status == 0, f"SIGTERM stops the UPF with status 0 (got {status})")
        check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "no EAL runtime directory left behind")
    finally:
        if "soak" in locals() and getattr(soak, "d", None) is not None:
            soak.d.close()
        upf.kill()
        if FAILS:
            print("---- upf.log (tail)\n" + "".join(open(os.path.join(args.workdir, "upf.log")).readlines()[-60:]))
    summary = rss_summary(rows, args.rss_bound_kib)
    if summary:
        print("RSS: " + ", ".join(f"{k} {v}" for k, v in summary.items()), flush=True)
    if args.json:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.insert(0, os.path.join(root, "perf", "lib"))
        import results  # noqa: E402
        row = results.row("soak", sessions=args.sessions, workers=1, cycles=len(rows),
                          seconds=round(time.monotonic() - t0, 1), binary=args.binary,
                          failures=len(FAILS), checks_passed=PASSED[0], **summary,
                          pfcp_messages=rows[-1]["pfcp_messages"] if rows else 0, samples=rows)
        print("wrote " + results.write(args.json, results.document(args.command, [row], repo=root)))
    for f in FAILS:
        # Again at the end: the first lines of a failed run are far above.
        print("FAILED: " + f)
    print(f"soak: {len(rows)} cycles, {PASSED[0]} checks passed, {len(FAILS)} failed, "
          f"{time.monotonic() - t0:.1f} s")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
