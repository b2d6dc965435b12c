#!/usr/bin/env python3
"""Session plan of the perf kit: N static UPF sessions and the traffic that hits them.

One mapping (session index -> id, UE IP, uplink/downlink TEIDs, outer source
port) feeds the UPF's static-session config (Contract YAML, `sessions:` short
form), the G-PDU pcaps replayed by `perf/peer-ovs.sh` through `net_pcap`, and
the TRex profiles in `perf/trex/`, so that config and traffic always agree.

Packets are built by hand with `struct` (no scapy): the generator must be fast
for 10^6 sessions and independent of the scapy that TRex bundles; tshark is the
independent check (scripts/tests/60-perf-trex-offline.sh).

Python 3.9+, standard library only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import re
import struct
import sys
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

GTPU_PORT = 2152
# TS 29.281 §5.2.1: next extension header type of the PDU Session Container.
EXT_PDU_SESSION_CONTAINER = 0x85
# TS 38.415 §5.5.2: PDU Type 0 = DL PDU SESSION INFORMATION, 1 = UL.
PSC_PDU_TYPE_DL = 0
PSC_PDU_TYPE_UL = 1

ETH_LEN = 14
IPV4_LEN = 20
UDP_LEN = 8
GTPU_LEN = 8
# Optional fields (sequence number, N-PDU number, next extension header type)
# plus one 4-octet PDU Session Container.
GTPU_PSC_EXTRA = 4 + 4

# Outer UDP source ports live in the ephemeral range 49152..65535; the low 14
# bits follow the session index so that one session is one flow (RSS keeps a
# session on one worker) while 16384 sessions spread over distinct ports.
SPORT_BASE = 0xC000
SPORT_MASK = 0x3FFF
# Inner UDP ports: fixed; the UE address alone tells sessions apart.
UE_PORT = 40000
DN_PORT = 5001

BITRATE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(bps|Kbps|Mbps|Gbps)$")


class PlanError(ValueError):
    """A session plan or packet request that cannot be honoured."""


@dataclass(frozen=True)
class Session:
    index: int
    id: int
    ue_ip: ipaddress.IPv4Address
    ul_teid: int
    dl_teid: int
    outer_sport: int


@dataclass(frozen=True)
class Plan:
    """Deterministic session layout; see `session(i)` for the mapping."""

    sessions: int = 10000
    ue_pool: ipaddress.IPv4Network = field(default_factory=lambda: ipaddress.IPv4Network("10.45.0.0/16"))
    # First UE address is pool network + ue_offset (skip .0 and the .1 a DN gateway often takes).
    ue_offset: int = 2
    # Above the Contract's default teid_range (0x1000..0x00ffffff), so static
    # sessions never collide with F-TEIDs that the UPF allocates for PFCP.
    ul_teid_base: int = 0x01000000
    dl_teid_base: int = 0x02000000
    first_id: int = 1
    qfi: int = 9
    gnb: ipaddress.IPv4Address = ipaddress.IPv4Address("192.168.1.2")
    upf_n3: ipaddress.IPv4Address = ipaddress.IPv4Address("192.168.1.1")
    # Data-network server: UL inner destination, DL source (RFC 5737 documentation range).
    dn_server: ipaddress.IPv4Address = ipaddress.IPv4Address("198.51.100.1")
    mbr_ul: Optional[str] = None
    mbr_dl: Optional[str] = None

    def validate(self) -> "Plan":
        if self.sessions < 1:
            raise PlanError(f"sessions must be >= 1, got {self.sessions}")
        usable = self.ue_pool.num_addresses - self.ue_offset - 1  # keep the broadcast address out
        if self.sessions > usable:
            raise PlanError(
                f"{self.sessions} sessions do not fit in UE pool {self.ue_pool} "
                f"({usable} usable from offset {self.ue_offset}); pass a larger --ue-pool, e.g. 10.64.0.0/10"
            )
        for name, base in (("ul_teid_base", self.ul_teid_base), ("dl_teid_base", self.dl_teid_base)):
            if base < 1 or base + self.sessions - 1 > 0xFFFFFFFF:
                raise PlanError(f"{name} {base:#x} + {self.sessions} sessions leaves the 32-bit TEID space (TEID 0 is reserved)")
        ul = range(self.ul_teid_base, self.ul_teid_base + self.sessions)
        dl = range(self.dl_teid_base, self.dl_teid_base + self.sessions)
        if ul.start < dl.stop and dl.start < ul.stop:
            raise PlanError("uplink and downlink TEID ranges overlap; choose bases further apart")
        if not 0 <= self.qfi <= 63:
            raise PlanError(f"QFI is 6 bits (0..63), got {self.qfi}")
        if self.first_id < 0:
            raise PlanError("first id must be >= 0")
        for name, rate in (("mbr_ul", self.mbr_ul), ("mbr_dl", self.mbr_dl)):
            if rate is not None and not BITRATE_RE.match(rate):
                raise PlanError(f"{name} {rate!r} is not a bitrate like 50Mbps (units bps, Kbps, Mbps, Gbps)")
        return self

    def ue_ip(self, i: int) -> ipaddress.IPv4Address:
        return self.ue_pool.network_address + self.ue_offset + i

    def session(self, i: int) -> Session:
        if not 0 <= i < self.sessions:
            raise PlanError(f"session index {i} out of range 0..{self.sessions - 1}")
        return Session(
            index=i,
            id=self.first_id + i,
            ue_ip=self.ue_ip(i),
            ul_teid=self.ul_teid_base + i,
            dl_teid=self.dl_teid_base + i,
            outer_sport=SPORT_BASE | (i & SPORT_MASK),
        )

    def __iter__(self) -> Iterator[Session]:
        return (self.session(i) for i in range(self.sessions))

    def to_json(self) -> dict:
        return {
            "sessions": self.sessions,
            "ue_pool": str(self.ue_pool),
            "ue_offset": self.ue_offset,
            "first_ue_ip": str(self.ue_ip(0)),
            "ul_teid_base": self.ul_teid_base,
            "dl_teid_base": self.dl_teid_base,
            "first_id": self.first_id,
            "qfi": self.qfi,
            "gnb": str(self.gnb),
            "upf_n3": str(self.upf_n3),
            "dn_server": str(self.dn_server),
            "sport_base": SPORT_BASE,
            "sport_mask": SPORT_MASK,
            "mbr_ul": self.mbr_ul,
            "mbr_dl": self.mbr_dl,
        }


# --------------------------------------------------------------------------- packets


def mac_bytes(mac: str) -> bytes:
    parts = mac.split(":")
    if len(parts) != 6:
        raise PlanError(f"bad MAC address {mac!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError as e:
        raise PlanError(f"bad MAC address {mac!r}") from e


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, proto: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    total = IPV4_LEN + len(payload)
    if total > 0xFFFF:
        raise PlanError("IPv4 packet too long")
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, ttl, proto, 0, src.packed, dst.packed)
    csum = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def udp(src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, sport: int, dport: int, payload: bytes, checksum: bool = True) -> bytes:
    length = UDP_LEN + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    if not checksum:
        return hdr + payload
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, length)
    csum = inet_checksum(pseudo + hdr + payload) or 0xFFFF  # RFC 768: 0 means "none"
    return hdr[:6] + struct.pack("!H", csum) + payload


def gtpu_gpdu(teid: int, inner: bytes, qfi: Optional[int], pdu_type: int = PSC_PDU_TYPE_UL) -> bytes:
    """G-PDU header (TS 29.281 §5.1) + optional PDU Session Container (TS 38.415 §5.5.2)."""
    if qfi is None:
        return struct.pack("!BBHI", 0x30, 0xFF, len(inner), teid) + inner
    if pdu_type == PSC_PDU_TYPE_UL:
        # UL PDU SESSION INFORMATION: PDU type | QMP DL-delay UL-delay SNP = 0; N3/N9-delay, new-IE = 0 | QFI.
        psc = struct.pack("!BBBB", 1, PSC_PDU_TYPE_UL << 4, qfi & 0x3F, 0)
    else:
        # DL PDU SESSION INFORMATION: PDU type | QMP SNP MSNP = 0; PPP RQI = 0 | QFI.
        psc = struct.pack("!BBBB", 1, PSC_PDU_TYPE_DL << 4, qfi & 0x3F, 0)
    opt = struct.pack("!HBB", 0, 0, EXT_PDU_SESSION_CONTAINER)
    return struct.pack("!BBHI", 0x34, 0xFF, len(opt) + len(psc) + len(inner), teid) + opt + psc + inner


def ul_overhead(psc: bool) -> int:
    """Bytes from the start of the frame to the inner IP header of a UL G-PDU."""
    return ETH_LEN + IPV4_LEN + UDP_LEN + GTPU_LEN + (GTPU_PSC_EXTRA if psc else 0)


def payload_bytes(n: int, s: Session) -> bytes:
    if n < 0:
        raise PlanError("frame too short for the headers")
    tag = struct.pack("!I", s.id)
    return (tag * (n // 4 + 1))[:n]


def inner_udp_ports(s: Session) -> tuple:
    """(UE port, DN port): fixed, the UE address alone tells sessions apart (TRex profiles do the same)."""
    return UE_PORT, DN_PORT


def ul_frame(plan: Plan, s: Session, frame_size: int, psc: bool = True, dst_mac: str = "02:70:63:61:70:00", src_mac: str = "02:00:00:00:01:02") -> bytes:
    """Uplink G-PDU: gNB -> UPF N3, inner UDP from the UE to the DN server; `frame_size` excludes the FCS."""
    inner_len = frame_size - ul_overhead(psc)
    payload = payload_bytes(inner_len - IPV4_LEN - UDP_LEN, s)
    sport, dport = inner_udp_ports(s)
    inner = ipv4(s.ue_ip, plan.dn_server, 17, udp(s.ue_ip, plan.dn_server, sport, dport, payload), ident=s.index)
    gtp = gtpu_gpdu(s.ul_teid, inner, plan.qfi if psc else None, PSC_PDU_TYPE_UL)
    # Outer UDP checksum 0, as gNBs commonly send over IPv4 (RFC 768 / TS 29.281 §4.4.2.0).
    outer = ipv4(plan.gnb, plan.upf_n3, 17, udp(plan.gnb, plan.upf_n3, s.outer_sport, GTPU_PORT, gtp, checksum=False), ident=s.index)
    frame = mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x08\x00" + outer
    assert len(frame) == frame_size
    return frame


def dl_frame(plan: Plan, s: Session, frame_size: int, dst_mac: str = "02:70:63:61:70:01", src_mac: str = "02:00:00:00:00:fe") -> bytes:
    """Downlink plain IP: DN server -> UE, as it arrives on N6."""
    payload = payload_bytes(frame_size - ETH_LEN - IPV4_LEN - UDP_LEN, s)
    sport, dport = inner_udp_ports(s)
    ip = ipv4(plan.dn_server, s.ue_ip, 17, udp(plan.dn_server, s.ue_ip, dport, sport, payload), ident=s.index)
    frame = mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x08\x00" + ip
    assert len(frame) == frame_size
    return frame


def write_pcap(path: str, frames: Sequence[bytes]) -> None:
    with open(path, "wb") as f:
        # Classic pcap, microsecond timestamps, LINKTYPE_ETHERNET.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n, fr in enumerate(frames):
            f.write(struct.pack("<IIII", n // 1_000_000, n % 1_000_000, len(fr), len(fr)))
            f.write(fr)


# --------------------------------------------------------------------------- config


def session_yaml(plan: Plan, s: Session) -> str:
    line = (
        f"  - {{ id: {s.id}, ue_ip: {s.ue_ip}, uplink: {{ teid: {s.ul_teid:#010x} }}, "
        f"downlink: {{ gnb: {plan.gnb}, teid: {s.dl_teid:#010x}, qfi: {plan.qfi} }}"
    )
    qos = []
    if plan.mbr_ul:
        qos.append(f"mbr_ul: {plan.mbr_ul}")
    if plan.mbr_dl:
        qos.append(f"mbr_dl: {plan.mbr_dl}")
    if qos:
        line += ", qos: { " + ", ".join(qos) + " }"
    return line + " }\n"


def yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


@dataclass
class FullConfig:
    """The rest of a runnable Contract config around the sessions (keys from ARCHITECTURE.md)."""

    n3_device: str
    n6_device: str
    n3_address: str = "192.168.1.1/24"
    n6_address: str = "10.200.0.1/24"
    gateway: str = "10.200.0.254"
    gateway_mac: str = "02:00:00:00:00:fe"
    dpdk_args: List[str] = field(default_factory=lambda: ["--no-huge", "-m", "512", "--no-pci"])
    mbufs: int = 65536
    control_core: int = 0
    workers: List[int] = field(default_factory=lambda: [1])
    api_listen: str = "127.0.0.1:9100"
    pfcp_listen: Optional[str] = None

    def header(self, plan: Plan) -> str:
        out = [f"node_id: {plan.upf_n3}\n"]
        out.append("dpdk:\n")
        out.append("  args: [" + ", ".join(yaml_str(a) for a in self.dpdk_args) + "]\n")
        out.append(f"  mbufs: {self.mbufs}\n")
        out.append("cores:\n")
        out.append(f"  control: {self.control_core}\n")
        out.append("  workers: [" + ", ".join(str(w) for w in self.workers) + "]\n")
        out.append("interfaces:\n")
        out.append("  n3:\n")
        out.append(f"    device: {yaml_str(self.n3_device)}\n")
        out.append(f"    address: {self.n3_address}\n")
        out.append("  n6:\n")
        out.append(f"    device: {yaml_str(self.n6_device)}\n")
        out.append(f"    address: {self.n6_address}\n")
        out.append(f"    gateway: {self.gateway}\n")
        out.append("    neighbors:\n")
        out.append(f"      {self.gateway}: {yaml_str(self.gateway_mac)}\n")
        if self.pfcp_listen:
            out.append("pfcp:\n")
            out.append(f"  listen: {self.pfcp_listen}\n")
        out.append("api:\n")
        out.append(f"  listen: {self.api_listen}\n")
        return "".join(out)


def write_config(path: str, plan: Plan, full: Optional[FullConfig], command: str) -> None:
    with open(path, "w") as f:
        f.write(f"# Generated by perf/gen/sessions.py ({command}); {plan.sessions} static sessions.\n")
        f.write("# Plan: " + json.dumps(plan.to_json(), sort_keys=True) + "\n")
        if full is not None:
            f.write(full.header(plan))
        f.write("sessions:\n")
        for s in plan:
            f.write(session_yaml(plan, s))


# --------------------------------------------------------------------------- CLI


def int_auto(v: str) -> int:
    return int(v, 0)


def add_plan_args(p: argparse.ArgumentParser) -> None:
    d = Plan()
    g = p.add_argument_group("session plan (must match between config and traffic)")
    g.add_argument("--sessions", "-n", type=int, default=d.sessions, help="number of sessions")
    g.add_argument("--ue-pool", default=str(d.ue_pool), help="UE addresses are taken from this CIDR")
    g.add_argument("--ue-offset", type=int, default=d.ue_offset, help="first UE = pool network + offset")
    g.add_argument("--ul-teid-base", type=int_auto, default=d.ul_teid_base, help="N3 F-TEID of session 0")
    g.add_argument("--dl-teid-base", type=int_auto, default=d.dl_teid_base, help="gNB TEID of session 0")
    g.add_argument("--first-id", type=int, default=d.first_id, help="id of session 0")
    g.add_argument("--qfi", type=int, default=d.qfi)
    g.add_argument("--gnb", default=str(d.gnb), help="gNB N3 address (UL outer source, DL outer destination)")
    g.add_argument("--upf-n3", default=str(d.upf_n3), help="UPF N3 address (UL outer destination)")
    g.add_argument("--dn-server", default=str(d.dn_server), help="DN server (UL inner destination)")
    g.add_argument("--mbr-ul", default=None, help="add qos.mbr_ul to every session, e.g. 10Gbps")
    g.add_argument("--mbr-dl", default=None, help="add qos.mbr_dl to every session")


def plan_from_args(a: argparse.Namespace) -> Plan:
    try:
        return Plan(
            sessions=a.sessions,
            ue_pool=ipaddress.IPv4Network(a.ue_pool),
            ue_offset=a.ue_offset,
            ul_teid_base=a.ul_teid_base,
            dl_teid_base=a.dl_teid_base,
            first_id=a.first_id,
            qfi=a.qfi,
            gnb=ipaddress.IPv4Address(a.gnb),
            upf_n3=ipaddress.IPv4Address(a.upf_n3),
            dn_server=ipaddress.IPv4Address(a.dn_server),
            mbr_ul=a.mbr_ul,
            mbr_dl=a.mbr_dl,
        ).validate()
    except ipaddress.AddressValueError as e:
        raise PlanError(str(e)) from e
    except ipaddress.NetmaskValueError as e:
        raise PlanError(str(e)) from e
    except ValueError as e:
        if isinstance(e, PlanError):
            raise
        raise PlanError(str(e)) from e


def cmd_config(a: argparse.Namespace, command: str) -> None:
    plan = plan_from_args(a)
    full = None
    if a.full:
        if not a.n3_device or not a.n6_device:
            raise PlanError("--full needs --n3-device and --n6-device")
        full = FullConfig(
            n3_device=a.n3_device,
            n6_device=a.n6_device,
            n3_address=a.n3_address or f"{plan.upf_n3}/24",
            n6_address=a.n6_address,
            gateway=a.gateway,
            gateway_mac=a.gateway_mac,
            dpdk_args=a.dpdk_arg if a.dpdk_arg else FullConfig.__dataclass_fields__["dpdk_args"].default_factory(),
            mbufs=a.mbufs,
            control_core=a.control_core,
            workers=[int(w) for w in a.workers.split(",")],
            api_listen=a.api_listen,
            pfcp_listen=a.pfcp_listen,
        )
        mac_bytes(full.gateway_mac)
    write_config(a.out, plan, full, command)
    print(f"wrote {a.out}: {plan.sessions} sessions{' (full config)' if full else ''}", file=sys.stderr)


def cmd_pcap(a: argparse.Namespace, _command: str) -> None:
    plan = plan_from_args(a)
    psc = not a.no_psc
    if a.direction == "ul":
        minimum = ul_overhead(psc) + IPV4_LEN + UDP_LEN
    else:
        minimum = ETH_LEN + IPV4_LEN + UDP_LEN
    if a.frame_size < minimum or a.frame_size > 9000:
        raise PlanError(f"--frame-size {a.frame_size}: a {a.direction} frame needs {minimum}..9000 bytes")
    order = list(range(plan.sessions))
    if a.order == "shuffled":
        random.Random(a.seed).shuffle(order)
    frames = []
    for i in order:
        s = plan.session(i)
        if a.direction == "ul":
            frames.append(ul_frame(plan, s, a.frame_size, psc=psc, dst_mac=a.dst_mac or "02:70:63:61:70:00", src_mac=a.src_mac or "02:00:00:00:01:02"))
        else:
            frames.append(dl_frame(plan, s, a.frame_size, dst_mac=a.dst_mac or "02:70:63:61:70:01", src_mac=a.src_mac or "02:00:00:00:00:fe"))
    write_pcap(a.out, frames)
    print(f"wrote {a.out}: {len(frames)} {a.direction} frames of {a.frame_size} B{'' if psc or a.direction == 'dl' else ' (no PDU Session Container)'}", file=sys.stderr)


def cmd_table(a: argparse.Namespace, _command: str) -> None:
    plan = plan_from_args(a)
    out = open(a.out, "w") if a.out != "-" else sys.stdout
    try:
        if a.format == "csv":
            out.write("id,ue_ip,ul_teid,dl_teid,gnb,qfi,outer_sport\n")
            for s in plan:
                out.write(f"{s.id},{s.ue_ip},{s.ul_teid},{s.dl_teid},{plan.gnb},{plan.qfi},{s.outer_sport}\n")
        else:
            json.dump({"plan": plan.to_json(), "sessions": [
                {"id": s.id, "ue_ip": str(s.ue_ip), "ul_teid": s.ul_teid, "dl_teid": s.dl_teid, "outer_sport": s.outer_sport}
                for s in plan]}, out)
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()


def cmd_plan(a: argparse.Namespace, _command: str) -> None:
    print(json.dumps(plan_from_args(a).to_json(), indent=2, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="sessions.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("config", help="write the UPF static-session config (Contract YAML)")
    add_plan_args(p)
    p.add_argument("--out", "-o", required=True)
    p.add_argument("--full", action="store_true", help="a complete runnable config, not only `sessions:`")
    p.add_argument("--n3-device")
    p.add_argument("--n6-device")
    p.add_argument("--n3-address", default=None, help="default: --upf-n3/24")
    p.add_argument("--n6-address", default="10.200.0.1/24")
    p.add_argument("--gateway", default="10.200.0.254")
    p.add_argument("--gateway-mac", default="02:00:00:00:00:fe")
    p.add_argument("--dpdk-arg", action="append", default=[], help="EAL argument (repeat); default --no-huge -m 512 --no-pci")
    p.add_argument("--mbufs", type=int, default=65536)
    p.add_argument("--control-core", type=int, default=0)
    p.add_argument("--workers", default="1", help="comma-separated worker lcores")
    p.add_argument("--api-listen", default="127.0.0.1:9100")
    p.add_argument("--pfcp-listen", default=None)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("pcap", help="write a pcap with one frame per session")
    add_plan_args(p)
    p.add_argument("--out", "-o", required=True)
    p.add_argument("--direction", choices=["ul", "dl"], default="ul", help="ul: G-PDUs to N3; dl: plain IP to the UEs")
    p.add_argument("--frame-size", type=int, default=100, help="Ethernet frame bytes without FCS")
    p.add_argument("--no-psc", action="store_true", help="UL without the PDU Session Container (8-byte GTP-U header)")
    p.add_argument("--order", choices=["shuffled", "sequential"], default="shuffled")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dst-mac", default=None, help="default 02:70:63:61:70:00 (ul) / :01 (dl)")
    p.add_argument("--src-mac", default=None)
    p.set_defaults(func=cmd_pcap)

    p = sub.add_parser("table", help="the session table as CSV or JSON (for load generators)")
    add_plan_args(p)
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--out", "-o", default="-")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("plan", help="print the resolved plan as JSON")
    add_plan_args(p)
    p.set_defaults(func=cmd_plan)

    a = ap.parse_args(argv)
    try:
        a.func(a, "sessions.py " + " ".join(argv))
    except PlanError as e:
        print(f"sessions.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
