"""TRex stateless profile for a UPF: UL GTP-U on the N3 port, DL plain IP on the N6 port.

Port convention (as `start -f upf.py -p 0 1` calls it): direction 0 = the port
wired to the UPF's N3 (sends G-PDUs, receives DL G-PDUs), direction 1 = the
port wired to N6 (sends plain IP to the UE pool, receives decapsulated UL).
Sessions, TEIDs and UE addresses follow `perf/gen/sessions.py`, so the config
that `sessions.py config` writes for the same tunables matches this traffic.

Tunables (TRex >= 2.89 argparse style, `-t "--sessions 10000 --qfi 5"`); the
same names as `sessions.py` for the session plan, plus:
  --traffic ul|dl|bidir   which directions send bulk streams (default bidir)
  --size N                inner IP packet bytes (UL frame = N + 58 with the
                          PDU Session Container, DL frame = N + 14)
  --imix S:W,...          inner sizes and weights instead of --size
  --pps R                 bulk packets/s per direction (split by IMIX weight)
  --latency-pps R         add a latency stream (flow stats) per direction
  --pg-id-base ID         latency pg_id = base + direction; bulk flow stats base + 2 + i
  --flow-stats            per-stream flow stats on the bulk streams too
  --no-psc                UL without the PDU Session Container (pre-5G G-PDUs)
  --session-order inc|random   how the field engine walks the sessions

Latency through a UPF: the DUT replaces the outer IPv4 header (decap/encap),
so run the TRex server in software mode (`--software`); TRex then matches
latency packets by the 16-byte trailer it writes at the end of the payload.
"""

import argparse
import ipaddress
import os
import struct
import sys

from trex.stl.api import (
    STLFlowLatencyStats,
    STLFlowStats,
    STLPktBuilder,
    STLScVmRaw,
    STLStream,
    STLTXCont,
    STLVmFixIpv4,
    STLVmFlowVar,
    STLVmWrFlowVar,
    STLVmWrMaskFlowVar,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.fields import BitField, ByteField, ConditionalField, IntField, ShortField

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "gen"))
import sessions as plan_mod  # noqa: E402  (perf/gen/sessions.py: the shared session plan)

DEFAULT_IMIX = "64:7,576:4,1400:1"


class GTPUHeader(Packet):
    """GTP-U G-PDU header (TS 29.281 §5.1); own class so it builds the same on every scapy version."""

    name = "GTP-U"
    fields_desc = [
        BitField("version", 1, 3),
        BitField("PT", 1, 1),
        BitField("reserved", 0, 1),
        BitField("E", 1, 1),
        BitField("S", 0, 1),
        BitField("PN", 0, 1),
        ByteField("gtp_type", 0xFF),
        ShortField("length", None),
        IntField("teid", 0),
        ConditionalField(ShortField("seq", 0), lambda p: p.E or p.S or p.PN),
        ConditionalField(ByteField("npdu", 0), lambda p: p.E or p.S or p.PN),
        ConditionalField(ByteField("next_ext", plan_mod.EXT_PDU_SESSION_CONTAINER), lambda p: p.E or p.S or p.PN),
    ]

    def post_build(self, p, pay):
        if self.length is None:
            p = p[:2] + struct.pack("!H", len(p) - 8 + len(pay)) + p[4:]
        return p + pay


class PDUSessionContainerUL(Packet):
    """UL PDU SESSION INFORMATION (TS 38.415 §5.5.2.2) inside a GTP-U extension header."""

    name = "PDU Session Container (UL)"
    fields_desc = [
        ByteField("ext_len", 1),
        BitField("pdu_type", plan_mod.PSC_PDU_TYPE_UL, 4),
        BitField("qmp", 0, 1),
        BitField("dl_delay_ind", 0, 1),
        BitField("ul_delay_ind", 0, 1),
        BitField("snp", 0, 1),
        BitField("n3n9_delay_ind", 0, 1),
        BitField("new_ie", 0, 1),
        BitField("qfi", 9, 6),
        ByteField("next_ext", 0),
    ]


def parse_imix(spec):
    out = []
    for part in spec.split(","):
        size, _, weight = part.partition(":")
        out.append((int(size), int(weight or "1")))
    if not out or any(s < 28 or w < 1 for s, w in out):
        raise ValueError(f"bad --imix {spec!r}: want SIZE:WEIGHT,... with inner sizes >= 28")
    return out


def parser():
    ap = argparse.ArgumentParser(prog="upf.py", description="TRex profile for a UPF (see module doc)")
    plan_mod.add_plan_args(ap)
    ap.add_argument("--traffic", choices=["ul", "dl", "bidir"], default="bidir")
    ap.add_argument("--size", type=int, default=64, help="inner IP packet bytes")
    ap.add_argument("--imix", default=None, help=f"inner SIZE:WEIGHT list, e.g. {DEFAULT_IMIX}")
    ap.add_argument("--pps", type=float, default=1_000_000.0, help="bulk packets/s per direction")
    ap.add_argument("--latency-pps", type=float, default=0.0, help="latency stream rate per direction; 0 = none")
    ap.add_argument("--latency-session", type=int, default=0, help="session index the latency stream uses")
    ap.add_argument("--pg-id-base", type=int, default=10)
    ap.add_argument("--flow-stats", action="store_true")
    ap.add_argument("--no-psc", action="store_true")
    ap.add_argument("--session-order", choices=["inc", "random"], default="inc")
    return ap


def ul_packet(plan, s, inner_size, psc):
    """Base UL frame for session `s`; the field engine rewrites TEID, UE IP and outer sport."""
    pad = inner_size - 20 - 8
    inner = IP(src=str(s.ue_ip), dst=str(plan.dn_server), id=0, flags="DF") / UDP(sport=plan_mod.UE_PORT, dport=plan_mod.DN_PORT, chksum=0)
    if psc:
        gtp = GTPUHeader(E=1, teid=s.ul_teid) / PDUSessionContainerUL(qfi=plan.qfi)
    else:
        gtp = GTPUHeader(E=0, teid=s.ul_teid)
    # Outer and inner UDP checksums are 0 (allowed over IPv4): the field engine
    # changes the inner source address and TRex appends a latency trailer.
    pkt = Ether() / IP(src=str(plan.gnb), dst=str(plan.upf_n3), id=0, flags="DF") / UDP(sport=s.outer_sport, dport=plan_mod.GTPU_PORT, chksum=0) / gtp / inner / Raw(b"\x00" * pad)
    assert len(pkt) == plan_mod.ul_overhead(psc) + inner_size
    return pkt


def dl_packet(plan, s, inner_size):
    pad = inner_size - 20 - 8
    return Ether() / IP(src=str(plan.dn_server), dst=str(s.ue_ip), id=0, flags="DF") / UDP(sport=plan_mod.DN_PORT, dport=plan_mod.UE_PORT, chksum=0) / Raw(b"\x00" * pad)


def ul_vm(plan, psc, order):
    teid_off = plan_mod.ETH_LEN + plan_mod.IPV4_LEN + plan_mod.UDP_LEN + 4
    inner_ip = plan_mod.ul_overhead(psc)
    sport_off = plan_mod.ETH_LEN + plan_mod.IPV4_LEN
    return STLScVmRaw([
        STLVmFlowVar(name="sess", min_value=0, max_value=plan.sessions - 1, size=4, op=order),
        STLVmWrFlowVar(fv_name="sess", pkt_offset=teid_off, add_val=plan.ul_teid_base),
        STLVmWrFlowVar(fv_name="sess", pkt_offset=inner_ip + 12, add_val=int(plan.ue_ip(0))),
        # Low 14 bits of the session index into the outer source port (base 0xC000 kept by the mask).
        STLVmWrMaskFlowVar(fv_name="sess", pkt_offset=sport_off, pkt_cast_size=2, mask=plan_mod.SPORT_MASK, shift=0, add_value=0),
        STLVmFixIpv4(offset=inner_ip),
    ])


def dl_vm(plan, order):
    ip_off = plan_mod.ETH_LEN
    return STLScVmRaw([
        STLVmFlowVar(name="sess", min_value=0, max_value=plan.sessions - 1, size=4, op=order),
        STLVmWrFlowVar(fv_name="sess", pkt_offset=ip_off + 16, add_val=int(plan.ue_ip(0))),
        STLVmFixIpv4(offset=ip_off),
    ])


class UPFProfile(object):
    """`get_streams(tunables, direction=0|1)`: direction 0 = N3 port (UL), 1 = N6 port (DL)."""

    # Subclasses (upf_ul.py, ...) put their defaults here; user tunables come after and win.
    defaults = []

    def get_streams(self, tunables=(), direction=0, **kwargs):
        args = parser().parse_args(list(self.defaults) + list(tunables))
        plan = plan_mod.plan_from_args(args)
        if not 0 <= args.latency_session < plan.sessions:
            raise ValueError("--latency-session outside the session plan")
        sizes = parse_imix(args.imix) if args.imix else [(args.size, 1)]
        if any(size < 28 for size, _ in sizes):
            raise ValueError("inner packets need at least 28 bytes (IPv4 + UDP)")
        psc = not args.no_psc
        wanted = {0: ("ul", "bidir"), 1: ("dl", "bidir")}[direction % 2]
        streams = []
        if args.traffic in wanted and args.pps > 0:
            total_w = sum(w for _, w in sizes)
            for i, (size, weight) in enumerate(sizes):
                s0 = plan.session(0)
                if direction % 2 == 0:
                    pkt, vm = ul_packet(plan, s0, size, psc), ul_vm(plan, psc, args.session_order)
                else:
                    pkt, vm = dl_packet(plan, s0, size), dl_vm(plan, args.session_order)
                fs = STLFlowStats(pg_id=args.pg_id_base + 2 + 2 * i + direction % 2) if args.flow_stats else None
                streams.append(STLStream(
                    name=f"{'ul' if direction % 2 == 0 else 'dl'}_{size}",
                    packet=STLPktBuilder(pkt=pkt, vm=vm),
                    mode=STLTXCont(pps=args.pps * weight / total_w),
                    flow_stats=fs,
                ))
        if args.latency_pps > 0:
            s = plan.session(args.latency_session)
            size = max(sizes[0][0], 64)  # room for TRex's 16-byte latency trailer after IP+UDP
            pkt = ul_packet(plan, s, size, psc) if direction % 2 == 0 else dl_packet(plan, s, size)
            streams.append(STLStream(
                name=f"{'ul' if direction % 2 == 0 else 'dl'}_latency",
                packet=STLPktBuilder(pkt=pkt),
                mode=STLTXCont(pps=args.latency_pps),
                flow_stats=STLFlowLatencyStats(pg_id=args.pg_id_base + direction % 2),
            ))
        return streams


def register():
    return UPFProfile()
