#!/usr/bin/python3
"""Replays of real SMFs' PFCP behaviour against `upf run` (suite 42).

Each SMF profile below is a request sequence built with scapy.contrib.pfcp
(or raw TLVs where scapy cannot express the quirk), independent of our
`pfcp` codec, following what that SMF's code sends:

  free5GC (smf + free5gc/pfcp): IPv4 Node ID unlike its source address,
      SMF-allocated F-TEIDs (one inside our CHOOSE range, which CHOOSE then
      avoids; one another session CHOOSE'd, refused) and UE addresses,
      plain-text Network Instance, PDR/FAR/QER/URR IDs restarting at 1 in
      every session, URR with MNOP, DL FAR FORW to Access without Outer
      Header Creation until the N2 setup's Update FAR, Association Setup
      sent again (same Recovery Time Stamp: sessions kept), N2 handover
      with Update PDR and SNDEM (End Marker), a repeated deletion (65).
  Open5GS (lib/pfcp/build.c, smf/n4-build.c): F-SEID with IPv4 and IPv6,
      CHOOSE F-TEID with CHOOSE ID, DNS-label Network Instance, APN/DNN,
      Outer Header Removal GTP-U/UDP/IP, `permit out ip from any to
      assigned`, DL FAR BUFF|NOCP with a BAR until the gNB tunnel exists
      (Downlink Data Report, buffered packet delivered on FORW); a
      retransmitted Establishment; idle mode three times (Update BAR,
      Update URR; DROBU in the Modification; DROBU in the Session Report
      Response); a dedicated QoS flow with the same CHOOSE ID (same TEID)
      and its own QER and URR, replaced by Remove + Create PDR in one
      message, Update QER, Query URR, Remove PDR/QER/URR (final report in
      the Modification Response); Rel-16 heartbeat IE; SMF restart (new
      Association Setup with a later Recovery Time Stamp: sessions gone).
      IPv4v6 session: CHOOSE with V4 and V6 on an IPv4-only N3, UE IP with
      IPv4 and IPv6, the cp2up/up2cp rules for SMF-sent Router Adverts.
  OMEC/SD-Core (smf, upf-epc pfcpiface expectations): FQDN Node ID, UP
      Function Features in its request (ignored), CHOOSE without CHOOSE ID,
      two QERs per PDR (session AMBR + flow), DL FAR BUFF without a BAR,
      `permit out ip from 0.0.0.0/0 to assigned`, a periodic Usage Report,
      a gNB Error Indication reported (ERIR).
  Session Set Deletion (partial failure, an EPC/5GC core that supports
      it): PGW-C/SMF and MME FQ-CSIDs in the establishments, a Session Set
      Deletion Request naming one CSID (those sessions stop, the other
      keeps forwarding, /status follows, no usage report), 66 without
      Node ID, 72 from an unassociated node.
  Session Set Modification (Rel-17 SMF set restoration, TS 29.244
      §7.4.7; no scapy class: type 16/17 bodies are IE lists): SMF A's
      sessions carry its PGW-C/SMF FQ-CSID or a Group Id; SMF B of its
      set names A's CSID 1 and the group with B's address as Alternative
      SMF IP Address: those sessions' Downlink Data Reports go to B (the
      other one's still to A), B deletes them; /status and metrics count
      them; 66 (Offending IE 178) without the alternative address, 72
      from an unassociated node.
  commercial (Cisco/Nokia style): FQDN Node ID, ephemeral source port,
      message priority, sequence numbers wrapping past 2^24-1,
      enterprise-specific and unknown IEs at message and grouped level,
      Rel-16 IEs (S-NSSAI, PFCPSEReq-Flags, User ID), APN with Operator
      Identifier, CHOOSE F-TEID without address family flag, UE IP CHOOSE
      (CHV4) on UL and DL PDRs, zero-length Network Instance, SGi-LAN
      destination, Transport Level Marking, extended Apply Action, Outer
      Header Removal with extension header deletion, Association Update,
      CP F-SEID change (reports follow it), volume threshold report, QAURR
      with a Query URR Reference, two URRs in the Deletion Response,
      Association Release (then cause 72).
  SDF filters as SMFs and PCFs write them, one session each.
  OAI: the recorded capture (pfcp/tests/data) replayed over UDP from an
      ephemeral port, SEIDs rewritten to those this UPF allocates; its
      heartbeats' Recovery Time Stamp differs from its Association
      Setup's; the UPF's heartbeats must reach its port 8805.

Every response is checked: message type, sequence number echoed, header
SEID = the SMF's CP SEID, Cause 1 (or the expected rejection), Created PDR
with the CHOOSE'd F-TEID on our N3 address, UE IP from the pool, usage
reports in Query and Deletion Responses. Heartbeats both ways. After the
modifications UL and DL packets go through the UPF (af_packet on veths in
this namespace; sent and received with packet sockets) and the usage
reports count them.

Runs inside the namespace that 42-smf-interop.sh prepares (veths smfi-n3,
smfi-n6 for the UPF; smfi-n3p, smfi-n6p for the gNB and the data network).
Usage: smf_interop.py UPF_BINARY WORKDIR OAI_PCAP
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import struct
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, UDP, Ether, Packet, PacketListField, Raw, bind_layers, conf  # noqa: E402
from scapy.contrib import pfcp as P  # noqa: E402
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer  # noqa: E402

conf.verb = 0

N3_IP, N6_IP = "192.168.1.1", "10.200.0.1"
GNB_IP, GNB2_IP = "192.168.1.2", "192.168.1.3"
GNB_MAC, GNB2_MAC, GW_MAC = "02:00:00:00:01:02", "02:00:00:00:01:03", "02:00:00:00:00:fe"
GW_IP, DN_IP = "10.200.0.254", "198.51.100.1"
POOL = "10.45."
TEID_FIRST, TEID_LAST = 0x1000, 0xFFFFFF

CONFIG = """\
node_id: 192.168.1.1
dpdk:
  args: [--no-huge, -m, '256', --no-pci, --file-prefix, {prefix}]
  mbufs: 4096
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3:
    device: 'net_af_packet0,iface=smfi-n3'
    address: 192.168.1.1/24
    neighbors: {{ 192.168.1.2: '{gnb}', 192.168.1.3: '{gnb2}' }}
  n6:
    device: 'net_af_packet1,iface=smfi-n6'
    address: 10.200.0.1/24
    gateway: 10.200.0.254
    neighbors: {{ 10.200.0.254: '{gw}' }}
pfcp:
  listen: 127.0.0.1:{port}
  heartbeat_interval: 1s
  request_timeout: 300ms
ue_pools:
  - {{ cidr: 10.45.0.0/16, dnn: internet }}
teid_range: {{ first: 0x1000, last: 0x00ffffff }}
api:
  listen: 127.0.0.1:0
dataplane:
  idle_backoff: {{ enabled: true, empty_polls: 256, sleep: 100us }}
"""

# PFCP message types (TS 29.244 table 7.3-1).
HB_REQ, HB_RSP = 1, 2
ASSOC_SETUP, ASSOC_RELEASE = 5, 9
EST, MOD, DEL, REPORT = 50, 52, 54, 56
NODE_MSGS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
REQUESTS = {1, 3, 5, 7, 9, 12, 14, 50, 52, 54, 56}


# ---------------------------------------------------------------- IE helpers

def raw(t: int, data: bytes = b"") -> P.IE_NotImplemented:
    """An IE as bytes we write ourselves (quirks scapy cannot express)."""
    return P.IE_NotImplemented(ietype=t, length=len(data), data=data)


def enterprise(t: int, ent: int, data: bytes) -> P.IE_NotImplemented:
    """Vendor-specific IE: type with bit 15 set, Enterprise ID first."""
    return raw(t | 0x8000, struct.pack("!H", ent) + data)


def node_v4(ip: str):
    return P.IE_NodeId(id_type=0, ipv4=ip)


def node_fqdn(name: str):
    return P.IE_NodeId(id_type=2, id=name)  # scapy writes DNS labels


def rts(t: Optional[int] = None):
    return P.IE_RecoveryTimeStamp(timestamp=t if t is not None else int(time.time()) + 2208988800)


def fseid(seid: int, v4: str, v6: Optional[str] = None):
    if v6:
        return P.IE_FSEID(v4=1, v6=1, seid=seid, ipv4=v4, ipv6=v6)
    return P.IE_FSEID(v4=1, seid=seid, ipv4=v4)


def ni_plain(s: str):
    return raw(22, s.encode())


def ni_labels(s: str):
    return P.IE_NetworkInstance(instance=s)


def fteid_choose(chid: Optional[int] = None, v4: bool = True):
    flags = 0x04 | (0x01 if v4 else 0) | (0x08 if chid is not None else 0)
    return raw(21, bytes([flags]) + (bytes([chid]) if chid is not None else b""))


def fteid(teid: int, ip: str):
    return P.IE_FTEID(V4=1, TEID=teid, ipv4=ip)


def ueip(ip: Optional[str], dst: bool, chv4: bool = False, v4_with_ch: bool = False):
    """UE IP Address: V4 + address, or CHV4 (with or without V4)."""
    flags = (0x04 if dst else 0)
    if chv4:
        return raw(93, bytes([flags | 0x10 | (0x02 if v4_with_ch else 0)]))
    return raw(93, bytes([flags | 0x02]) + socket.inet_aton(ip))


def sdf(flow: str):
    return P.IE_SDF_Filter(FD=1, flow_description=flow)


def pdr_id(i: int):
    return P.IE_PDR_Id(id=i)


def far_id(i: int):
    return P.IE_FAR_Id(id=i)


def qer_id(i: int):
    return P.IE_QER_Id(id=i)


def urr_id(i: int):
    return P.IE_URR_Id(id=i)


def prec(p: int):
    return P.IE_Precedence(precedence=p)


def src_if(v: int):
    return raw(20, bytes([v]))


def dst_if(v: int):
    return raw(42, bytes([v]))


def qfi(q: int):
    return raw(124, bytes([q]))


def ohr(desc: int = 0):
    return raw(95, bytes([desc]))


def apply(forw=False, drop=False, buff=False, nocp=False, dupl=False, extended: bool = False):
    v = (1 if drop else 0) | (2 if forw else 0) | (4 if buff else 0) | (8 if nocp else 0) | (16 if dupl else 0)
    return raw(44, bytes([v]) + (b"\x00" if extended else b""))


def ohc(teid: int, ip: str):
    return raw(84, b"\x01\x00" + struct.pack("!I", teid) + socket.inet_aton(ip))


def gate(ul_open=True, dl_open=True):
    return raw(25, bytes([(0 if ul_open else 1) << 2 | (0 if dl_open else 1)]))


def mbr(ul_kbps: int, dl_kbps: int):
    return raw(26, ul_kbps.to_bytes(5, "big") + dl_kbps.to_bytes(5, "big"))


def meas_method(volum=True, durat=False):
    return raw(62, bytes([(2 if volum else 0) | (1 if durat else 0)]))


def rep_triggers(octets: bytes):
    return raw(37, octets)


def vol_threshold(total: int):
    return raw(31, b"\x01" + struct.pack("!Q", total))


def smreq_flags(sndem=False, drobu=False, qaurr=False):
    return raw(49, bytes([(4 if qaurr else 0) | (2 if sndem else 0) | (1 if drobu else 0)]))


def pdn_type_v4():
    return raw(113, b"\x01")


def create_pdr(*ies):
    return P.IE_CreatePDR(IE_list=list(ies))


def pdi(*ies):
    return P.IE_PDI(IE_list=list(ies))


def create_far(*ies):
    return P.IE_CreateFAR(IE_list=list(ies))


def fwd(*ies):
    return P.IE_ForwardingParameters(IE_list=list(ies))


def upd_far(*ies):
    return P.IE_UpdateFAR(IE_list=list(ies))


def upd_fwd(*ies):
    return P.IE_UpdateForwardingParameters(IE_list=list(ies))


def create_qer(*ies):
    return P.IE_CreateQER(IE_list=list(ies))


def create_urr(*ies):
    return P.IE_CreateURR(IE_list=list(ies))


def create_bar(bar: int, count: Optional[int] = None):
    ies = [P.IE_BAR_Id(id=bar)]
    if count is not None:
        ies.append(P.IE_SuggestedBufferingPacketsCount(count=count))
    return P.IE_Create_BAR(IE_list=ies)


# ---------------------------------------------------------------- reading responses

def ies_of(p) -> list:
    return list(getattr(p, "IE_list", None) or [])


def find_all(p, t: int) -> list:
    return [ie for ie in ies_of(p) if ie.ietype == t]


def find(p, t: int):
    xs = find_all(p, t)
    return xs[0] if xs else None


def cause_of(body) -> Optional[int]:
    c = find(body, 19)
    return None if c is None else c.cause


def body_of(pkt):
    return pkt.payload


def volume(ie) -> Tuple[Optional[int], Optional[int]]:
    v = find(ie, 66)
    if v is None:
        return (None, None)
    return (v.uplink if v.ULVOL else None, v.downlink if v.DLVOL else None)


# ---------------------------------------------------------------- the SMF

class Smf:
    """One SMF: a UDP socket, sequence numbers, a reader thread that answers
    the UPF's requests (heartbeats, session reports) and queues responses."""

    def __init__(self, name: str, upf: Tuple[str, int], bind: Tuple[str, int], seq: int = 1,
                 listen: Optional[Tuple[str, int]] = None):
        """`bind`: where requests go from; `listen`: a second socket for
        the UPF's requests (OAI: ephemeral source port, listener on 8805)."""
        self.name, self.upf = name, upf
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.seq = seq
        self.responses: "queue.Queue[bytes]" = queue.Queue()
        self.upf_requests: List[Tuple[int, int, object]] = []  # (type, seq, parsed)
        self.request_ports: List[int] = []  # our port each UPF request came to
        self.report_cause = 1
        self.report_drobu = False  # PFCPSRRsp-Flags DROBU in our Session Report Responses
        self.stop = False
        self.socks = [self.sock]
        if listen is not None:
            ls = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            ls.bind(listen)
            ls.settimeout(0.2)
            self.socks.append(ls)
        self.rx = [threading.Thread(target=self._reader, args=(s,), daemon=True) for s in self.socks]
        for t in self.rx:
            t.start()

    def _reader(self, sock: socket.socket) -> None:
        while not self.stop:
            try:
                data, src = sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 4:
                continue
            mtype = data[1]
            if mtype in REQUESTS:
                p = P.PFCP(data)
                self.request_ports.append(sock.getsockname()[1])
                if sock is not self.socks[-1]:
                    continue  # a request to the sending socket: OAI ignores it
                if mtype == HB_REQ:
                    ans = P.PFCP(version=1, S=0, seq=p.seq, message_type=HB_RSP) / \
                        P.PFCPHeartbeatResponse(IE_list=[rts(self.rts)])
                elif mtype == REPORT:
                    flags = [raw(50, b"\x01")] if self.report_drobu else []
                    ans = P.PFCP(version=1, S=1, seid=self.cp_seid_of_up.get(p.seid, 0), seq=p.seq,
                                 message_type=REPORT + 1) / \
                        P.PFCPSessionReportResponse(IE_list=[P.IE_Cause(cause=self.report_cause)] + flags)
                else:
                    self.upf_requests.append((mtype, p.seq, p))
                    continue
                sock.sendto(bytes(ans), src)
                # Recorded once answered: what the test does next comes
                # after the answer on the wire.
                self.upf_requests.append((mtype, p.seq, p))
            else:
                self.responses.put(data)

    rts = int(time.time()) + 2208988800 - 1000
    cp_seid_of_up: Dict[int, int] = {}

    def next_seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFF
        return s

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.upf)

    def wait_response(self, seq: int, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                data = self.responses.get(timeout=left)
            except queue.Empty:
                return None
            p = P.PFCP(data)
            if p.seq == seq:
                return p
            print(f"  {self.name}: stray response seq {p.seq} type {p.message_type}")

    def request(self, mtype: int, cls, ies: list, seid: Optional[int] = None, cp_seid: Optional[int] = None,
                cause: int = 1, what: str = "", mp: Optional[int] = None, also_seid: Optional[int] = None):
        """Sends a request; checks the response's type, sequence, SEID and
        cause; returns the parsed response (None when none came)."""
        seq = self.next_seq()
        if mtype in NODE_MSGS:
            hdr = P.PFCP(version=1, S=0, seq=seq, message_type=mtype)
        elif mp is not None:
            hdr = P.PFCP(version=1, S=1, MP=1, priority=mp, seid=seid or 0, seq=seq, message_type=mtype)
        else:
            hdr = P.PFCP(version=1, S=1, seid=seid or 0, seq=seq, message_type=mtype)
        self.last = bytes(hdr / cls(IE_list=ies))
        self.send_raw(self.last)
        rsp = self.wait_response(seq)
        what = what or f"{mtype}"
        if rsp is None:
            check(False, f"{self.name}: {what}: response (seq {seq})")
            return None
        body = body_of(rsp)
        got = (rsp.message_type, rsp.seq, cause_of(body))
        ok = got == (mtype + 1, seq, cause)
        if mtype not in NODE_MSGS:
            ok = ok and rsp.S == 1 and rsp.seid in (cp_seid or 0, also_seid)
        check(ok, f"{self.name}: {what}: response type {mtype + 1}, seq {seq}, cause {cause}"
                  + ("" if mtype in NODE_MSGS else f", SEID {cp_seid:#x}") + f" (got {got}"
                  + ("" if mtype in NODE_MSGS else f", SEID {rsp.seid:#x}") + ")")
        if not ok:
            off = find(body, 40)
            if off is not None:
                print(f"  offending IE: {off.type}")
        return rsp

    # --- node messages

    def associate(self, node, extra: Optional[list] = None, what: str = "Association Setup", cp_ff: bool = True):
        ies = [node, rts(self.rts)] + ([P.IE_CPFunctionFeatures()] if cp_ff else []) + (extra or [])
        rsp = self.request(ASSOC_SETUP, P.PFCPAssociationSetupRequest, ies, what=what)
        if rsp is not None:
            b = body_of(rsp)
            check(find(b, 60) is not None and find(b, 96) is not None and find(b, 43) is not None,
                  f"{self.name}: Association Setup Response has Node ID, Recovery Time Stamp, UP Function Features")
        return rsp

    def retransmit(self):
        """The last request again, byte for byte (the SMF's T1 expired):
        the raw answer."""
        self.send_raw(self.last)
        rsp = self.wait_response(P.PFCP(self.last).seq)
        return None if rsp is None else bytes(rsp)

    def heartbeat(self, extra: Optional[list] = None):
        rsp = self.request(HB_REQ, P.PFCPHeartbeatRequest, [rts(self.rts)] + (extra or []), cause=None,
                           what="Heartbeat Request")
        if rsp is not None:
            check(find(body_of(rsp), 96) is not None, f"{self.name}: Heartbeat Response has a Recovery Time Stamp")

    def release(self, node):
        return self.request(ASSOC_RELEASE, P.PFCPAssociationReleaseRequest, [node], what="Association Release")

    # --- sessions

    def establish(self, cp_seid: int, ies: list, what: str = "Session Establishment", cause: int = 1):
        rsp = self.request(EST, P.PFCPSessionEstablishmentRequest, ies, seid=0, cp_seid=cp_seid, cause=cause,
                           what=what)
        if rsp is None or cause != 1:
            return rsp, None
        f = find(body_of(rsp), 57)
        check(f is not None and f.v4 == 1 and f.ipv4 == "127.0.0.1" and f.seid != 0,
              f"{self.name}: {what}: F-SEID with our N4 address and a nonzero UP SEID")
        up = f.seid if f is not None else 0
        Smf.cp_seid_of_up[up] = cp_seid
        return rsp, up

    def modify(self, up: int, cp_seid: int, ies: list, what: str = "Session Modification", cause: int = 1,
               mp: Optional[int] = None, also_seid: Optional[int] = None):
        return self.request(MOD, P.PFCPSessionModificationRequest, ies, seid=up, cp_seid=cp_seid, cause=cause,
                            what=what, mp=mp, also_seid=also_seid)

    def delete(self, up: int, cp_seid: int, what: str = "Session Deletion", cause: int = 1):
        return self.request(DEL, P.PFCPSessionDeletionRequest, [], seid=up, cp_seid=cp_seid, cause=cause,
                            what=what)

    def close(self) -> None:
        self.stop = True
        for t in self.rx:
            t.join(1)
        for s in self.socks:
            s.close()


def created_pdrs(rsp) -> Dict[int, object]:
    """Created PDR IEs by PDR ID."""
    out = {}
    for c in find_all(body_of(rsp), 8) if rsp is not None else []:
        i = find(c, 56)
        if i is not None:
            out[i.id] = c
    return out


def check_choose(smf: Smf, rsp, ids: List[int], what: str) -> Dict[int, int]:
    """Created PDR with a CHOOSE'd F-TEID on N3 for each id; TEID by id."""
    out = {}
    cp = created_pdrs(rsp)
    for i in ids:
        c = cp.get(i)
        f = find(c, 21) if c is not None else None
        ok = f is not None and f.CH == 0 and f.V4 == 1 and f.ipv4 == N3_IP and TEID_FIRST <= f.TEID <= TEID_LAST
        check(ok, f"{smf.name}: {what}: Created PDR {i} carries the chosen F-TEID on {N3_IP}"
                  + (f" (TEID {f.TEID:#x})" if f is not None else " (missing)"))
        if f is not None:
            out[i] = f.TEID
    return out


def created_ue_ip(c) -> Optional[str]:
    u = find(c, 93) if c is not None else None
    if u is None or not u.V4:
        return None
    return u.ipv4


def usage_reports(rsp, t: int) -> Dict[int, object]:
    out = {}
    for r in find_all(body_of(rsp), t) if rsp is not None else []:
        i = find(r, 81)
        if i is not None:
            out[i.id] = r
    return out


# ---------------------------------------------------------------- the dataplane side

class Wire:
    """Packet sockets on the veth peers: the gNB (n3p) and the DN (n6p)."""

    def __init__(self):
        self.s = {}
        for side in ("n3", "n6"):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((f"smfi-{side}p", 0))
            s.setblocking(False)
            self.s[side] = s
        self.mac = {side: open(f"/sys/class/net/smfi-{side}/address").read().strip() for side in ("n3", "n6")}

    def drain(self) -> None:
        for s in self.s.values():
            try:
                while True:
                    s.recv(65535)
            except BlockingIOError:
                pass

    def send(self, side: str, frame) -> None:
        self.s[side].send(bytes(frame))

    def collect(self, side: str, want: Callable[[Ether], bool], n: int, timeout: float = 3.0) -> List[Ether]:
        got: List[Ether] = []
        s = self.s[side]
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            e = Ether(data)
            if want(e):
                got.append(e)
        return got


def gtpu_of(e: Ether):
    if IP in e and UDP in e and e[UDP].dport == 2152 and GTP_U_Header in e:
        return e[GTP_U_Header]
    return None


class Traffic:
    def __init__(self, wire: Wire):
        self.w = wire

    def ul(self, name: str, teid: int, ue: str, gnb_ip: str = GNB_IP, gnb_mac: str = GNB_MAC, q: int = 9,
           n: int = 3, sport: int = 4000, dst: str = DN_IP) -> int:
        """n UL G-PDUs on `teid`; checks they leave N6 decapsulated; inner bytes."""
        self.w.drain()
        inner = IP(src=ue, dst=dst) / UDP(sport=sport, dport=9) / Raw(b"u" * 100)
        ib = len(bytes(inner))
        for _ in range(n):
            f = Ether(src=gnb_mac, dst=self.w.mac["n3"]) / IP(src=gnb_ip, dst=N3_IP) / UDP(sport=2152, dport=2152) / \
                GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=q) / inner
            self.w.send("n3", f)
        got = self.w.collect("n6", lambda e: IP in e and e[IP].src == ue and e[IP].dst == dst, n)
        check(len(got) == n and all(e.dst == GW_MAC and bytes(e[IP].payload) == bytes(inner.payload) for e in got),
              f"{name}: {n} UL packets from UE {ue} on TEID {teid:#x} leave N6 decapsulated ({len(got)})")
        return ib * len(got)

    def dl(self, name: str, ue: str, gnb_ip: str, teid: int, n: int = 3, expect: bool = True,
           src: str = DN_IP) -> int:
        """n DL packets to `ue`; checks they reach the gNB in GTP-U `teid`."""
        self.w.drain()
        inner = IP(src=src, dst=ue) / UDP(sport=9, dport=4000) / Raw(b"d" * 200)
        ib = len(bytes(inner))
        self.send_dl(ue, n, src)

        def want(e: Ether) -> bool:
            g = gtpu_of(e)
            return g is not None and e[IP].dst == gnb_ip and g.teid == teid and g.gtp_type == 255
        got = self.w.collect("n3", want, n, timeout=3.0 if expect else 0.5)
        if expect:
            check(len(got) == n, f"{name}: {n} DL packets to UE {ue} reach gNB {gnb_ip} in TEID {teid:#x} ({len(got)})")
        return ib * len(got)

    def send_dl(self, ue: str, n: int = 1, src: str = DN_IP) -> int:
        inner = IP(src=src, dst=ue) / UDP(sport=9, dport=4000) / Raw(b"d" * 200)
        for _ in range(n):
            self.w.send("n6", Ether(src=GW_MAC, dst=self.w.mac["n6"]) / inner)
        return len(bytes(inner)) * n


# ---------------------------------------------------------------- profiles

def wait_report(smf: Smf, mtype: int, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, _s, p in list(smf.upf_requests):
            if t == mtype:
                smf.upf_requests.remove((t, _s, p))
                return p
        time.sleep(0.02)
    return None


def check_deletion_usage(smf: Smf, rsp, urr: int, ul: int, dl: int, what: str = "Session Deletion") -> None:
    reps = usage_reports(rsp, 79)
    r = reps.get(urr)
    check(r is not None, f"{smf.name}: {what} Response carries a Usage Report for URR {urr}")
    if r is None:
        return
    trig = find(r, 63)
    check(trig is not None and trig.TERMR == 1, f"{smf.name}: the Usage Report's trigger is TERMR")
    check(find(r, 104) is not None, f"{smf.name}: the Usage Report has a UR-SEQN")
    got = volume(r)
    check(got[0] is not None and got[1] is not None and got[0] >= ul and got[1] >= dl,
          f"{smf.name}: usage UL/DL {got} covers the {ul}/{dl} inner bytes sent")


def free5gc(upf_n4, traffic: Traffic) -> None:
    """free5GC SMF: SMF-allocated F-TEIDs and UE IPs, per-session IDs from 1."""
    smf = Smf("free5GC", upf_n4, ("127.0.0.2", 8805))
    me = "127.0.0.2"
    # Its Node ID (the configured nodeID) is not the address it sends from.
    node = node_v4("10.10.0.2")
    smf.associate(node)
    smf.heartbeat()
    sessions = []
    for k in range(2):
        cp = 0x100 + k
        ue = f"10.60.0.{k + 1}"
        # Chosen by the SMF, inside our CHOOSE range; 0x1000 is the first
        # TEID CHOOSE would hand out.
        teid = (0x2000, 0x1000)[k]
        ies = [
            node, fseid(cp, me),
            create_pdr(pdr_id(1), prec(255),
                       pdi(src_if(0), fteid(teid, N3_IP), ni_plain("internet"), ueip(ue, dst=False), qfi(9)),
                       ohr(0), far_id(1), qer_id(1), urr_id(1)),
            create_pdr(pdr_id(2), prec(255),
                       pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True)),
                       far_id(2), qer_id(1), urr_id(1)),
            create_far(far_id(1), apply(forw=True), fwd(dst_if(1), ni_plain("internet"))),
            # Before the N2 setup: FORW toward Access, no tunnel yet.
            create_far(far_id(2), apply(forw=True), fwd(dst_if(0), ni_plain("internet"))),
            create_qer(qer_id(1), gate(), mbr(100000, 200000), qfi(9)),
            create_urr(urr_id(1), meas_method(volum=True, durat=True), rep_triggers(b"\x03\x00"),
                       raw(64, struct.pack("!I", 60)), vol_threshold(10 * 2**30),
                       raw(100, b"\x10")),  # Measurement Information: MNOP
            pdn_type_v4(),
        ]
        _rsp, up = smf.establish(cp, ies, what=f"Session Establishment {k + 1} (SMF-chosen TEID {teid:#x})")
        sessions.append((cp, up, ue, teid))
    # Another SMF's CHOOSE never hands out a TEID an SMF chose and uses;
    # an SMF-chosen TEID that CHOOSE gave to another session is refused.
    other = Smf("free5GC + CHOOSE peer", upf_n4, ("127.0.0.10", 8805))
    onode = node_v4("127.0.0.10")
    other.associate(onode)
    ies_c = [onode, fseid(0x9999, "127.0.0.10"),
             create_pdr(pdr_id(1), prec(255), pdi(src_if(0), fteid_choose(), ueip("10.65.0.1", dst=False)),
                        ohr(0), far_id(1)),
             create_far(far_id(1), apply(forw=True), fwd(dst_if(1)))]
    rsp, up_c = other.establish(0x9999, ies_c, what="CHOOSE establishment beside SMF-chosen TEIDs")
    chosen = check_choose(other, rsp, [1], "CHOOSE beside SMF-chosen TEIDs").get(1, 0)
    check(chosen not in (0x1000, 0x2000), f"free5GC: CHOOSE avoids the SMF-chosen TEIDs in use ({chosen:#x})")
    ies_x = list(ies)
    ies_x[1] = fseid(0x102, me)
    ies_x[2] = create_pdr(pdr_id(1), prec(255),
                          pdi(src_if(0), fteid(chosen, N3_IP), ni_plain("internet"), ueip("10.60.0.9", dst=False),
                              qfi(9)),
                          ohr(0), far_id(1), qer_id(1), urr_id(1))
    ies_x[3] = create_pdr(pdr_id(2), prec(255), pdi(src_if(1), ni_plain("internet"), ueip("10.60.0.9", dst=True)),
                          far_id(2), qer_id(1), urr_id(1))
    rsp, _ = smf.establish(0x102, ies_x, what="Session Establishment with a TEID another session chose",
                           cause=73)
    ul_c = traffic.ul("CHOOSE peer (its TEID still its own)", chosen, "10.65.0.1")
    check(ul_c > 0, "free5GC: the refused TEID still carries the CHOOSE session's uplink")
    if up_c:
        other.delete(up_c, 0x9999)
    other.close()
    # free5GC sets the association up again (same Recovery Time Stamp, so
    # the same SMF instance): its sessions stay.
    smf.associate(node, what="Association Setup again (same Recovery Time Stamp)")
    # N2 PDU Session Resource Setup Response: the gNB's tunnel.
    for k, (cp, up, ue, teid) in enumerate(sessions):
        smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True),
                                    upd_fwd(dst_if(0), ni_plain("internet"), ohc(0x5000 + k, GNB_IP)))],
                   what="Session Modification (Update FAR: gNB tunnel)")
    cp, up, ue, teid = sessions[0]
    ul = traffic.ul("free5GC", teid, ue)
    dl = traffic.dl("free5GC", ue, GNB_IP, 0x5000)
    # N2 handover to gNB2, End Marker to the old gNB; the DL PDR restated
    # in an Update PDR (whole PDI) as free5GC does.
    traffic.w.drain()
    smf.modify(up, cp, [P.IE_UpdatePDR(IE_list=[pdr_id(2), prec(255),
                                                pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True)),
                                                far_id(2), qer_id(1), urr_id(1)]),
                        upd_far(far_id(2), apply(forw=True),
                                upd_fwd(dst_if(0), ni_plain("internet"), ohc(0x6000, GNB2_IP), smreq_flags(sndem=True)))],
               what="Session Modification (handover: Update PDR, Update FAR with SNDEM)")
    em = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).gtp_type == 254, 1)
    check(len(em) == 1 and em[0][IP].dst == GNB_IP and gtpu_of(em[0]).teid == 0x5000,
          "free5GC: End Marker to the old gNB's TEID 0x5000 after SNDEM")
    # The SMF's T1 expired: the same Modification again is answered from
    # the cache, without a second End Marker.
    first = bytes(smf.last)
    again = smf.retransmit()
    em2 = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).gtp_type == 254, 1, timeout=0.5)
    check(again is not None and P.PFCP(again).seq == P.PFCP(first).seq and cause_of(body_of(P.PFCP(again))) == 1
          and not em2, "free5GC: a retransmitted handover Modification is answered again, no second End Marker")
    dl += traffic.dl("free5GC", ue, GNB2_IP, 0x6000)
    ul += traffic.ul("free5GC", teid, ue, gnb_ip=GNB2_IP, gnb_mac=GNB2_MAC)
    for cp, up, _ue, _t in sessions:
        rsp = smf.delete(up, cp)
        if cp == sessions[0][0]:
            check_deletion_usage(smf, rsp, 1, ul, dl)
            r = usage_reports(rsp, 79).get(1)
            v = find(r, 66) if r is not None else None
            check(v is not None and v.TOVOL == 1 and v.total == v.uplink + v.downlink,
                  "free5GC: the Volume Measurement's total is UL + DL")
            check(r is not None and find(r, 67) is not None and find(r, 75) is not None and find(r, 76) is not None,
                  "free5GC: DURAT: the report has Duration Measurement, Start Time and End Time")
        else:
            # No traffic at all: the URR is still reported (TS 29.244
            # 7.5.7.2), so that the SMF can close its charging.
            r = usage_reports(rsp, 79).get(1)
            check(r is not None and volume(r) == (0, 0),
                  f"free5GC: a session without traffic still reports its URR at deletion ({volume(r) if r else None})")
    # A deletion the SMF retries after its own timeout, with a new sequence
    # number: the session is gone (65, SEID 0).
    smf.delete(sessions[0][1], 0, cause=65, what="Session Deletion of a deleted session")
    smf.close()


def open5gs(upf_n4, traffic: Traffic) -> None:
    """Open5GS SMF: CHOOSE with CHOOSE ID, labels, BUFF|NOCP with a BAR."""
    smf = Smf("Open5GS", upf_n4, ("127.0.0.3", 8805))
    me = "127.0.0.3"
    node = node_v4(me)
    smf.associate(node)
    cp = 0x5001
    ue = "10.61.0.7"
    ni = ni_labels("internet")
    ies = [
        node, fseid(cp, me, "fd00::3"),
        create_pdr(pdr_id(1), prec(255),
                   pdi(src_if(0), fteid_choose(chid=5), ni, ueip(ue, dst=False),
                       sdf("permit out ip from any to assigned"), qfi(1)),
                   ohr(6), far_id(1), urr_id(1), qer_id(1)),
        create_pdr(pdr_id(2), prec(255),
                   pdi(src_if(1), ni, ueip(ue, dst=True), sdf("permit out ip from any to assigned")),
                   far_id(2), urr_id(1), qer_id(1)),
        create_far(far_id(1), apply(forw=True), fwd(dst_if(1), ni)),
        create_far(far_id(2), apply(buff=True, nocp=True), P.IE_BAR_Id(id=1)),
        create_urr(urr_id(1), meas_method(volum=True), rep_triggers(b"\x02\x00"), vol_threshold(2**40)),
        create_qer(qer_id(1), gate(), mbr(1000000, 1000000), qfi(1)),
        create_bar(1, 10),
        pdn_type_v4(),
        P.IE_APN_DNN(apn_dnn="internet"),
    ]
    rsp, up = smf.establish(cp, ies)
    teids = check_choose(smf, rsp, [1], "Session Establishment")
    teid = teids.get(1, 0)
    # Its T1 expired: the same request again gets the same answer, and no
    # second session.
    again = smf.retransmit()
    check(again is not None and again == bytes(rsp),
          "Open5GS: a retransmitted Establishment Request gets the identical response (same UP SEID)")
    # DL before the gNB tunnel exists: buffered, and the SMF is told.
    traffic.send_dl(ue, 1)
    rep = wait_report(smf, REPORT)
    check(rep is not None and rep.seid == cp, "Open5GS: DL to a BUFF|NOCP FAR sends a Session Report Request to the SMF's SEID")
    if rep is not None:
        b = body_of(rep)
        rt = find(b, 39)
        dd = find(b, 83)
        check(rt is not None and rt.DLDR == 1 and dd is not None and find(dd, 56) is not None and find(dd, 56).id == 2,
              "Open5GS: Report Type DLDR with a Downlink Data Report naming PDR 2")
    # N2 setup: Update FAR FORW with the tunnel (the FAR had no Forwarding Parameters).
    traffic.w.drain()
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True), upd_fwd(dst_if(0), ni, ohc(0x7001, GNB_IP)))],
               what="Session Modification (BUFF|NOCP -> FORW with Outer Header Creation)")
    buffered = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).teid == 0x7001, 1)
    check(len(buffered) == 1, "Open5GS: the buffered DL packet is delivered to the gNB once the FAR forwards")
    ul = traffic.ul("Open5GS", teid, ue, q=1)
    dl = traffic.dl("Open5GS", ue, GNB_IP, 0x7001) + 228 * len(buffered)
    # Idle (N2 release): BUFF|NOCP again, with an Update BAR and an Update
    # URR (new threshold); DL then reported once more.
    smf.modify(up, cp, [upd_far(far_id(2), apply(buff=True, nocp=True), P.IE_BAR_Id(id=1)),
                        P.IE_Update_BAR_SMR(IE_list=[P.IE_BAR_Id(id=1), P.IE_SuggestedBufferingPacketsCount(count=5)]),
                        P.IE_UpdateURR(IE_list=[urr_id(1), vol_threshold(2**41)])],
               what="Session Modification (idle: BUFF|NOCP, Update BAR, Update URR)")
    smf.upf_requests.clear()
    traffic.send_dl(ue, 1)
    rep = wait_report(smf, REPORT)
    check(rep is not None, "Open5GS: DL in idle mode sends a Downlink Data Report")
    # Service request with a new gNB TEID; DROBU-less: buffered packet delivered.
    traffic.w.drain()
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True), upd_fwd(dst_if(0), ni, ohc(0x7002, GNB_IP)))],
               what="Session Modification (service request: FORW)")
    buffered = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).teid == 0x7002, 1)
    check(len(buffered) == 1, "Open5GS: the packet buffered in idle mode reaches the new gNB TEID")
    dl += 228 * len(buffered)
    # Idle again; this time the SMF drops the buffer (PFCPSMReq-Flags DROBU).
    smf.modify(up, cp, [upd_far(far_id(2), apply(buff=True, nocp=True), P.IE_BAR_Id(id=1))],
               what="Session Modification (idle again)")
    smf.upf_requests.clear()
    traffic.send_dl(ue, 1)
    check(wait_report(smf, REPORT) is not None, "Open5GS: DL in the second idle period is reported")
    traffic.w.drain()
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True), upd_fwd(dst_if(0), ni, ohc(0x7003, GNB_IP))),
                        smreq_flags(drobu=True)],
               what="Session Modification (FORW with DROBU)")
    late = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).teid == 0x7003, 1, timeout=0.5)
    check(len(late) == 0, "Open5GS: with DROBU the buffered packet is dropped, not delivered")
    dl += traffic.dl("Open5GS", ue, GNB_IP, 0x7003)
    # Idle a third time; paging fails: the SMF answers the report with
    # PFCPSRRsp-Flags DROBU, then the UE comes back (FORW, no DROBU).
    smf.modify(up, cp, [upd_far(far_id(2), apply(buff=True, nocp=True), P.IE_BAR_Id(id=1))],
               what="Session Modification (idle a third time)")
    smf.upf_requests.clear()
    smf.report_drobu = True
    traffic.send_dl(ue, 1)
    check(wait_report(smf, REPORT) is not None, "Open5GS: DL in the third idle period is reported")
    smf.report_drobu = False
    traffic.w.drain()
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True), upd_fwd(dst_if(0), ni, ohc(0x7004, GNB_IP)))],
               what="Session Modification (FORW after a report answered with DROBU)")
    late = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).teid == 0x7004, 1, timeout=0.5)
    check(len(late) == 0, "Open5GS: Session Report Response DROBU: the buffered packet is dropped")
    dl += traffic.dl("Open5GS", ue, GNB_IP, 0x7004)
    # A dedicated QoS flow: new PDR with the same CHOOSE ID (same N3 tunnel),
    # its own QER; the session QER's MBR updated.
    rsp = smf.modify(up, cp, [
        create_pdr(pdr_id(3), prec(100),
                   pdi(src_if(0), fteid_choose(chid=5), ni, ueip(ue, dst=False),
                       sdf("permit out udp from 10.0.0.0/8 to assigned"), qfi(2)),
                   ohr(6), far_id(1), urr_id(1), urr_id(2), qer_id(2)),
        create_qer(qer_id(2), gate(), mbr(5000, 5000), qfi(2)),
        create_urr(urr_id(2), meas_method(volum=True), rep_triggers(b"\x02\x00"), vol_threshold(2**40)),
        P.IE_UpdateQER(IE_list=[qer_id(1), mbr(2000000, 2000000)]),
    ], what="Session Modification (Create PDR with CHOOSE ID 5, Create QER, Create URR, Update QER)")
    t3 = check_choose(smf, rsp, [3], "dedicated flow")
    check(t3.get(3) == teid, f"Open5GS: the PDR with the same CHOOSE ID gets the same TEID ({t3.get(3, 0):#x} == {teid:#x})")
    # The flow's PDR replaced in one message: Remove PDR 3 and Create PDR 3
    # (new filter), as a QoS flow modification does.
    smf.modify(up, cp, [
        P.IE_RemovePDR(IE_list=[pdr_id(3)]),
        create_pdr(pdr_id(3), prec(100),
                   pdi(src_if(0), fteid_choose(chid=5), ni, ueip(ue, dst=False),
                       sdf("permit out udp from 10.0.0.0/8 to assigned"), qfi(2)),
                   ohr(6), far_id(1), urr_id(1), urr_id(2), qer_id(2)),
    ], what="Session Modification (Remove PDR 3 and Create PDR 3 in one message)")
    ded = traffic.ul("Open5GS dedicated flow", teid, ue, q=2, dst="10.9.9.9")
    ul += ded
    # Query URR: the usage so far.
    rsp = smf.modify(up, cp, [P.IE_QueryURR(IE_list=[urr_id(1)])], what="Session Modification (Query URR)")
    r = usage_reports(rsp, 78).get(1)
    check(r is not None and find(r, 63) is not None and find(r, 63).IMMER == 1,
          "Open5GS: Query URR answered with a Usage Report (trigger IMMER)")
    q_ul, q_dl = volume(r) if r is not None else (None, None)
    check(q_ul is not None and q_dl is not None and q_ul >= ul and q_dl >= dl,
          f"Open5GS: queried usage UL/DL ({q_ul}, {q_dl}) covers {ul}/{dl}")
    # QoS flow released.
    rsp = smf.modify(up, cp, [P.IE_RemovePDR(IE_list=[pdr_id(3)]), P.IE_RemoveQER(IE_list=[qer_id(2)]),
                              P.IE_RemoveURR(IE_list=[urr_id(2)])],
                     what="Session Modification (Remove PDR, Remove QER, Remove URR)")
    r = usage_reports(rsp, 78).get(2)
    v = volume(r) if r is not None else (None, None)
    check(v[0] == ded, f"Open5GS: the removed URR's final usage is in the Modification Response (UL {v[0]} == {ded})")
    ul2 = traffic.ul("Open5GS", teid, ue, q=1)
    rsp = smf.delete(up, cp)
    r = usage_reports(rsp, 79).get(1)
    got = volume(r) if r is not None else (None, None)
    check(got[0] is not None and got[0] >= ul2, f"Open5GS: deletion report covers the UL since the query ({got[0]} >= {ul2})")
    # Rel-16 heartbeat with the Source IP Address IE.
    smf.heartbeat(extra=[raw(192, b"\x02" + socket.inet_aton(me))])
    # The SMF restarts: a new Association Setup with a later Recovery Time
    # Stamp; the sessions of its previous life are gone (TS 29.244 19A).
    ies[1] = fseid(0x5002, me, "fd00::3")
    _rsp, up2 = smf.establish(0x5002, ies, what="Session Establishment (before the SMF restart)")
    smf.rts += 100
    smf.associate(node, what="Association Setup after an SMF restart")
    smf.delete(up2 or 1, 0, cause=65, what="Session Deletion of a session from before the restart")
    smf.close()


def dual_stack(upf_n4, traffic: Traffic) -> None:
    """Open5GS IPv4v6 PDU session: CHOOSE with V4 and V6 on a UPF whose
    N3 is IPv4 only, UE IP Address with both an IPv4 address and an IPv6
    prefix (interface identifier 0), PDN Type IPv4v6, and the rules
    through which the SMF itself sends IPv6 Router Advertisements
    (smf_sess_create_cp_up_data_forwarding): up2cp, the UE's Router
    Solicitations on the session's N3 TEID to the CP function over N4-u;
    cp2up, GTP-U from the SMF (source interface CP-function) to the UE."""
    smf = Smf("Open5GS IPv4v6", upf_n4, ("127.0.0.8", 8805))
    me = "127.0.0.8"
    node = node_v4(me)
    smf.associate(node)
    cp = 0x6001
    ue, ue6 = "10.63.0.5", "2001:db8:63::"
    ni = ni_labels("internet")

    def ueip46(dst: bool):
        return raw(93, bytes([0x03 | (0x04 if dst else 0)]) + socket.inet_aton(ue)
                   + socket.inet_pton(socket.AF_INET6, ue6))
    ies = [
        node, fseid(cp, me),
        create_pdr(pdr_id(1), prec(255),
                   pdi(src_if(0), raw(21, b"\x0f\x05"), ni, ueip46(False), qfi(1)),
                   ohr(6), far_id(1), urr_id(1)),
        create_pdr(pdr_id(2), prec(255), pdi(src_if(1), ni, ueip46(True)), far_id(2), urr_id(1)),
        create_pdr(pdr_id(3), prec(1),
                   pdi(src_if(0), raw(21, b"\x0f\x05"), ni, sdf("permit out 58 from ff02::2/128 to assigned")),
                   ohr(6), far_id(3)),
        create_pdr(pdr_id(4), prec(1), pdi(src_if(3), raw(21, b"\x0d\x06")), ohr(6), far_id(4)),
        create_far(far_id(1), apply(forw=True), fwd(dst_if(1), ni)),
        # A dual-stack gNB: Outer Header Creation GTP-U/UDP/IPv4 and IPv6.
        create_far(far_id(2), apply(forw=True),
                   fwd(dst_if(0), ni, raw(84, b"\x03\x00" + struct.pack("!I", 0xA001) + socket.inet_aton(GNB_IP)
                                          + socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")))),
        create_far(far_id(3), apply(forw=True), fwd(dst_if(3), ohc(0x0C0C, me))),
        create_far(far_id(4), apply(forw=True), fwd(dst_if(0), ni, ohc(0xA001, GNB_IP))),
        create_urr(urr_id(1), meas_method(volum=True), rep_triggers(b"\x02\x00"), vol_threshold(2**40)),
        raw(113, b"\x03"),
    ]
    rsp, up = smf.establish(cp, ies, what="Session Establishment (IPv4v6, CHOOSE V4+V6)")
    teids = check_choose(smf, rsp, [1, 3, 4], "IPv4v6 establishment")
    teid = teids.get(1, 0)
    check(teids.get(3) == teid, "Open5GS IPv4v6: the up2cp PDR shares the session's N3 TEID (CHOOSE ID 5)")
    f = find(created_pdrs(rsp).get(1), 21) if rsp is not None else None
    check(f is not None and f.V6 == 0, "Open5GS IPv4v6: no IPv6 F-TEID from an IPv4-only N3")
    ul = traffic.ul("Open5GS IPv4v6", teid, ue, q=1)
    dl = traffic.dl("Open5GS IPv4v6", ue, GNB_IP, 0xA001)
    rsp = smf.delete(up, cp)
    check_deletion_usage(smf, rsp, 1, ul, dl)
    smf.close()


# SDF filters as SMFs and their PCFs write them (TS 29.212 5.4.2 IPFilterRule,
# remote side first, "assigned" for the UE).
SDF_ZOO = [
    ("free5GC / Open5GS default", "permit out ip from any to assigned"),
    ("SD-Core default", "permit out ip from 0.0.0.0/0 to assigned"),
    ("Open5GS PCF flow, explicit UE address", "permit out 17 from 10.45.0.1 20001 to 10.64.0.1 20002"),
    ("IMS voice (P-CSCF over N5), port ranges", "permit out 17 from 192.168.10.10 50000-50010 to assigned 40000-40010"),
    ("commercial, port list", "permit out 6 from 198.51.100.0/24 80,443 to assigned"),
    ("protocol by name with a port", "permit out tcp from any 80 to assigned"),
    ("ICMP by name", "permit out icmp from any to assigned"),
    ("ESP by number", "permit out 50 from any to assigned"),
    ("IPv6 remote network", "permit out ip from 2001:db8::/32 to assigned"),
    ("any to any", "permit out ip from any to any"),
]


def many_rules(upf_n4, traffic: Traffic) -> None:
    """A commercial SMF's session with many PCC rules: twelve DL PDRs, each
    an SDF filter on one remote UDP port with its own QER (QFI 1..12), and a
    default DL PDR (QFI 9) at the lowest precedence. DL traffic must take
    the rule its port selects (the QFI in the PDU Session Container says
    which)."""
    smf = Smf("many PCC rules", upf_n4, ("127.0.0.11", 8805))
    me = "127.0.0.11"
    node = node_fqdn("smf02.example.net")
    smf.associate(node)
    cp, ue = 0xD001, "10.66.0.1"
    ies = [node, fseid(cp, me),
           create_pdr(pdr_id(1), prec(1000), pdi(src_if(0), fteid_choose(), ueip(ue, dst=False)), ohr(0),
                      far_id(1)),
           create_pdr(pdr_id(2), prec(1000), pdi(src_if(1), ueip(ue, dst=True),
                                                sdf("permit out ip from any to assigned")),
                      far_id(2), qer_id(100)),
           create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
           create_far(far_id(2), apply(forw=True), fwd(dst_if(0), ohc(0xD0D0, GNB_IP))),
           create_qer(qer_id(100), gate(), qfi(9))]
    for i in range(1, 13):
        ies.append(create_pdr(pdr_id(10 + i), prec(100 + i),
                              pdi(src_if(1), ueip(ue, dst=True), sdf(f"permit out 17 from any {5000 + i} to assigned")),
                              far_id(2), qer_id(i)))
        ies.append(create_qer(qer_id(i), gate(), qfi(i)))
    _rsp, up = smf.establish(cp, ies, what="Session Establishment with 14 PDRs and 13 QERs")

    def qfi_of(sport: int) -> Optional[int]:
        traffic.w.drain()
        inner = IP(src=DN_IP, dst=ue) / UDP(sport=sport, dport=4000) / Raw(b"q" * 20)
        traffic.w.send("n6", Ether(src=GW_MAC, dst=traffic.w.mac["n6"]) / inner)
        got = traffic.w.collect("n3", lambda e: gtpu_of(e) is not None and gtpu_of(e).teid == 0xD0D0, 1)
        if not got or GTPPDUSessionContainer not in got[0]:
            return None
        return got[0][GTPPDUSessionContainer].QFI
    seen = {sp: qfi_of(sp) for sp in (5007, 5012, 6000)}
    check(seen == {5007: 7, 5012: 12, 6000: 9},
          f"many PCC rules: DL takes the rule its source port selects (port: QFI {seen})")
    if up:
        smf.delete(up, cp)
    smf.close()


def sdf_zoo(upf_n4) -> None:
    """One session per flow description, on the UL and DL PDRs."""
    smf = Smf("SDF filters", upf_n4, ("127.0.0.9", 8805))
    me = "127.0.0.9"
    node = node_v4(me)
    smf.associate(node)
    for k, (who, flow) in enumerate(SDF_ZOO):
        cp = 0x7000 + k
        ue = "10.64.0.1"
        ies = [
            node, fseid(cp, me),
            create_pdr(pdr_id(1), prec(100), pdi(src_if(0), fteid_choose(), ueip(ue, dst=False), sdf(flow)),
                       ohr(0), far_id(1)),
            create_pdr(pdr_id(2), prec(100), pdi(src_if(1), ueip(ue, dst=True), sdf(flow)), far_id(2)),
            create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
            create_far(far_id(2), apply(forw=True), fwd(dst_if(0), ohc(0xB000 + k, GNB_IP))),
        ]
        _rsp, up = smf.establish(cp, ies, what=f"Session Establishment with SDF filter {flow!r} ({who})")
        if up:
            smf.delete(up, cp, what=f"Session Deletion ({who})")
    smf.close()


def omec(upf_n4, traffic: Traffic) -> None:
    """OMEC/SD-Core SMF: FQDN Node ID, two QERs per PDR, BUFF without BAR."""
    smf = Smf("SD-Core", upf_n4, ("127.0.0.4", 8805))
    node = node_fqdn("smf.omec.svc.cluster.local")
    # No CP Function Features (optional); UP Function Features instead,
    # which a UPF must ignore in a request.
    smf.associate(node, extra=[raw(43, b"\x10\x00")], cp_ff=False)
    cp = 0xAB00000000000001
    ue = "10.62.0.9"
    ies = [
        node, fseid(cp, "127.0.0.4"),
        create_pdr(pdr_id(1), prec(255),
                   pdi(src_if(0), fteid_choose(), ni_plain("internet"), ueip(ue, dst=False),
                       sdf("permit out ip from 0.0.0.0/0 to assigned"), qfi(5)),
                   ohr(0), far_id(1), qer_id(1), qer_id(2), urr_id(1)),
        create_pdr(pdr_id(2), prec(255),
                   pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True),
                       sdf("permit out ip from 0.0.0.0/0 to assigned")),
                   far_id(2), qer_id(1), qer_id(2), urr_id(1)),
        create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
        create_far(far_id(2), apply(buff=True)),
        create_qer(qer_id(1), gate(), mbr(500000, 500000)),  # session AMBR
        create_qer(qer_id(2), gate(), mbr(100000, 100000), qfi(5)),
        create_urr(urr_id(1), meas_method(volum=True), rep_triggers(b"\x02\x00"), vol_threshold(2**40)),
        # Periodic usage every second.
        create_urr(urr_id(2), meas_method(volum=True, durat=True), rep_triggers(b"\x01\x00"),
                   raw(64, struct.pack("!I", 1))),
    ]
    ies[2].IE_list.append(urr_id(2))
    rsp, up = smf.establish(cp, ies)
    teid = check_choose(smf, rsp, [1], "Session Establishment").get(1, 0)
    rep = wait_report(smf, REPORT, timeout=3.5)
    u = find(body_of(rep), 80) if rep is not None else None
    trig = find(u, 63) if u is not None else None
    check(rep is not None and rep.seid == cp and find(body_of(rep), 39).USAR == 1 and u is not None
          and find(u, 81).id == 2 and trig is not None and trig.PERIO == 1,
          "SD-Core: a periodic Usage Report (USAR, trigger PERIO, URR 2) reaches the SMF's SEID within the period")
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True), upd_fwd(dst_if(0), ohc(0x8001, GNB_IP)))],
               what="Session Modification (Update FAR: gNB tunnel)")
    ul = traffic.ul("SD-Core", teid, ue, q=5)
    dl = traffic.dl("SD-Core", ue, GNB_IP, 0x8001)
    # The gNB restarted and no longer knows TEID 0x8001: GTP-U Error
    # Indication (TEID Data I, GTP-U Peer Address); the SMF hears of it.
    smf.upf_requests.clear()
    ei = Ether(src=GNB_MAC, dst=traffic.w.mac["n3"]) / IP(src=GNB_IP, dst=N3_IP) / UDP(sport=2152, dport=2152) / \
        GTP_U_Header(gtp_type=26, teid=0, S=1, seq=0) / \
        Raw(b"\x10" + struct.pack("!I", 0x8001) + b"\x85\x00\x04" + socket.inet_aton(GNB_IP))
    traffic.w.send("n3", ei)
    rep = wait_report(smf, REPORT)
    eir = find(body_of(rep), 99) if rep is not None else None
    ft = find(eir, 21) if eir is not None else None
    check(rep is not None and rep.seid == cp and find(body_of(rep), 39).ERIR == 1 and ft is not None
          and ft.TEID == 0x8001 and ft.ipv4 == GNB_IP,
          "SD-Core: a gNB's Error Indication becomes a Session Report (ERIR, remote F-TEID 0x8001 at the gNB)")
    rsp = smf.delete(up, cp)
    check_deletion_usage(smf, rsp, 1, ul, dl)
    smf.close()


def inactivity(upf_n4, traffic: Traffic) -> None:
    """SD-Core (optional there) / commercial SMF with the User Plane
    Inactivity Timer (IE 117): the session is accepted (was cause 76), a
    UPIR Session Report comes once the session is silent for the timer,
    none while packets flow, none after a modification disables it."""
    smf = Smf("inactivity", upf_n4, ("127.0.0.12", 8805))
    node = node_fqdn("smf.upit.example")
    smf.associate(node)
    cp = 0xAB00000000000117
    ue = "10.62.0.17"
    timer = 2
    ies = [
        node, fseid(cp, "127.0.0.12"),
        # No URR: the UPF watches the PDRs with its internal counter.
        create_pdr(pdr_id(1), prec(255),
                   pdi(src_if(0), fteid_choose(), ni_plain("internet"), ueip(ue, dst=False)),
                   ohr(0), far_id(1)),
        create_pdr(pdr_id(2), prec(255), pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True)), far_id(2)),
        create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
        create_far(far_id(2), apply(forw=True), fwd(dst_if(0), ohc(0x8117, GNB_IP))),
        P.IE_UserPlaneInactivityTimer(timer=timer),
    ]
    rsp, up = smf.establish(cp, ies, what="Session Establishment (User Plane Inactivity Timer 2 s)")
    teid = check_choose(smf, rsp, [1], "Session Establishment").get(1, 0)
    smf.upf_requests.clear()
    # Uplink every 0.5 s for 3 s (longer than the timer): never silent.
    last = time.monotonic()
    for _ in range(6):
        last = time.monotonic()
        traffic.ul("inactivity", teid, ue, n=1)
        time.sleep(max(0.0, 0.5 - (time.monotonic() - last)))
    early = [p for t, _s, p in list(smf.upf_requests) if t == REPORT]
    check(not early, f"inactivity: no report while packets flow ({len(early)})")
    rep = wait_report(smf, REPORT, timeout=timer + 3.0)
    after = time.monotonic() - last
    rt = find(body_of(rep), 39) if rep is not None else None
    check(rep is not None and rep.seid == cp and rt is not None and rt.UPIR == 1 and rt.USAR == 0
          and find(body_of(rep), 80) is None,
          "inactivity: a Session Report Request with Report Type UPIR reaches the SMF's SEID")
    check(rep is None or after >= timer - 0.1,
          f"inactivity: reported after the timer, not before ({after:.2f} s after the last packet)")
    time.sleep(timer + 0.5)
    again = [p for t, _s, p in list(smf.upf_requests) if t == REPORT]
    check(not again, f"inactivity: once per silent period ({len(again)} more)")
    smf.modify(up, cp, [P.IE_UserPlaneInactivityTimer(timer=0)],
               what="Session Modification (User Plane Inactivity Timer 0: disabled)")
    traffic.ul("inactivity", teid, ue, n=1)
    smf.upf_requests.clear()
    time.sleep(timer + 1.0)
    late = [p for t, _s, p in list(smf.upf_requests) if t == REPORT]
    check(not late, f"inactivity: no report once disabled ({len(late)})")
    smf.delete(up, cp)
    smf.close()


def fq_csid(ip: str, *csids: int):
    return P.IE_FqCSID(node_id_type=0, ipv4=ip, csids=list(csids))


def set_deletion(upf_n4, traffic: Traffic, upf) -> None:
    """Partial failure (TS 29.244 §6.2.9, TS 23.007): a PGW-C/SMF whose
    sessions carry its own FQ-CSID and the MME's (EPC, or an SMF+PGW-C
    that supports partial failure handling, e.g. commercial EPC/5GC cores)
    sends a Session Set Deletion Request naming its CSID 1: the two
    sessions of that set stop forwarding and leave /status and
    upf_sessions, the third keeps forwarding, no usage report follows;
    without Node ID: cause 66 (Offending IE 60); from an unassociated
    node: cause 72."""
    me = "127.0.0.13"
    smf = Smf("set deletion", upf_n4, (me, 8805))
    node = node_v4(me)
    smf.associate(node)
    before = upf.status()["sessions"]["pfcp"]
    sessions = []
    for i, csid in enumerate((1, 2, 1)):
        cp = 0x5E7D000000000001 + i
        ue = f"10.63.0.{i + 1}"
        ies = [
            node, fseid(cp, me),
            create_pdr(pdr_id(1), prec(255),
                       pdi(src_if(0), fteid_choose(), ni_plain("internet"), ueip(ue, dst=False)),
                       ohr(0), far_id(1), urr_id(1)),
            create_pdr(pdr_id(2), prec(255), pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True)),
                       far_id(2), urr_id(1)),
            create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
            create_far(far_id(2), apply(forw=True), fwd(dst_if(0), ohc(0x5E70 + i, GNB_IP))),
            create_urr(urr_id(1), meas_method(volum=True), rep_triggers(b"\x00\x00")),
            pdn_type_v4(),
            # PGW-C/SMF FQ-CSID (its own address) and MME FQ-CSID.
            fq_csid(me, csid),
            fq_csid("10.1.1.1", 7),
        ]
        rsp, up = smf.establish(cp, ies, what=f"Session Establishment (FQ-CSIDs {me}/{csid}, MME 10.1.1.1/7)")
        check(rsp is None or find(body_of(rsp), 65) is None,
              "set deletion: no PGW-U/UPF FQ-CSID in the response (this UPF allocates none)")
        teid = check_choose(smf, rsp, [1], "Session Establishment").get(1, 0)
        sessions.append((cp, up, teid, ue))
        traffic.ul(f"set deletion: session {i + 1}", teid, ue, n=1)
    upfrun.wait_for("/status counts the 3 sessions",
                    lambda: upf.status()["sessions"]["pfcp"] == before + 3, 5.0)
    smf.upf_requests.clear()
    rsp = smf.request(14, P.PFCPSessionSetDeletionRequest, [node, fq_csid(me, 1)],
                      what="Session Set Deletion Request (PGW-C/SMF FQ-CSID, CSID 1)")
    if rsp is not None:
        n = find(body_of(rsp), 60)
        check(n is not None and n.ipv4 == "192.168.1.1" and find(body_of(rsp), 40) is None,
              "set deletion: the response carries our Node ID and no Offending IE")

    def ul_lost(teid: int, ue: str) -> bool:
        traffic.w.drain()
        inner = IP(src=ue, dst=DN_IP) / UDP(sport=4000, dport=9) / Raw(b"u" * 100)
        traffic.w.send("n3", Ether(src=GNB_MAC, dst=traffic.w.mac["n3"]) / IP(src=GNB_IP, dst=N3_IP) /
                       UDP(sport=2152, dport=2152) / GTP_U_Header(teid=teid, gtp_type=255) /
                       GTPPDUSessionContainer(type=1, QFI=9) / inner)
        got = traffic.w.collect("n6", lambda e: IP in e and e[IP].src == ue and e[IP].dst == DN_IP, 1, timeout=0.5)
        return not got

    for i in (0, 2):
        _cp, _up, teid, ue = sessions[i]
        check(ul_lost(teid, ue), f"set deletion: session {i + 1} (CSID 1) no longer forwards uplink")
    cp2, up2, teid2, ue2 = sessions[1]
    traffic.ul("set deletion: session 2 (CSID 2) still", teid2, ue2, n=1)
    traffic.dl("set deletion: session 2 (CSID 2) still", ue2, GNB_IP, 0x5E71, n=1)
    upfrun.wait_for("/status: the 2 sessions of CSID 1 are gone",
                    lambda: upf.status()["sessions"]["pfcp"] == before + 1, 5.0)
    time.sleep(0.5)
    reports = [t for t, _s, _p in list(smf.upf_requests) if t == REPORT]
    check(not reports, f"set deletion: no Session Report Request for the deleted sessions ({len(reports)})")
    # The MME's set 7 now names only session 2; without Node ID: 66.
    rsp = smf.request(14, P.PFCPSessionSetDeletionRequest, [fq_csid("10.1.1.1", 7)], cause=66,
                      what="Session Set Deletion Request without Node ID")
    off = find(body_of(rsp), 40) if rsp is not None else None
    check(off is not None and off.type == 60, "set deletion: Offending IE is the Node ID (60)")
    check(upf.status()["sessions"]["pfcp"] == before + 1, "set deletion: a refused request deletes nothing")
    stranger = Smf("set deletion (unassociated)", upf_n4, ("127.0.0.14", 8805))
    stranger.request(14, P.PFCPSessionSetDeletionRequest, [node_v4("127.0.0.14"), fq_csid("10.1.1.1", 7)],
                     cause=72, what="Session Set Deletion Request from an unassociated node")
    stranger.close()
    smf.delete(up2, cp2)
    smf.release(node)
    smf.close()


class SsmRequest(Packet):
    """Session Set Modification Request body (scapy 2.5 has none)."""
    name = "PFCP Session Set Modification Request"
    fields_desc = [PacketListField("IE_list", [], P.IE_Dispatcher)]


class SsmResponse(Packet):
    name = "PFCP Session Set Modification Response"
    fields_desc = [PacketListField("IE_list", [], P.IE_Dispatcher)]


bind_layers(P.PFCP, SsmResponse, message_type=17)


def set_modification(upf_n4, traffic: Traffic, upf) -> None:
    """SMF set restoration (Rel-17, TS 29.244 §7.4.7, TS 23.527): SMF A's
    sessions 1 and 3 carry its PGW-C/SMF FQ-CSID 1 and Group Id
    "grp-a" respectively, session 2 its CSID 2; all three buffer downlink
    (BUFF|NOCP, so a DL packet makes a Downlink Data Report). SMF B of
    the same set sends a Session Set Modification Request with its own
    address as Alternative SMF IP Address naming A's CSID 1 and the
    group: sessions 1 and 3 report to B from then on (SEID kept), session
    2 still to A; B may delete them. Without the Alternative SMF IP
    Address: 66 naming IE 178; from an unassociated node: 72."""
    a_ip, b_ip = "127.0.0.15", "127.0.0.16"
    a = Smf("set modification A", upf_n4, (a_ip, 8805))
    b = Smf("set modification B", upf_n4, (b_ip, 8805))
    a.associate(node_v4(a_ip))
    b.associate(node_v4(b_ip))
    sessions = []
    tags = ((fq_csid(a_ip, 1), "PGW-C/SMF FQ-CSID 1"), (fq_csid(a_ip, 2), "PGW-C/SMF FQ-CSID 2"),
            (raw(291, b"grp-a"), "Group Id grp-a"))
    for i, (tag, label) in enumerate(tags):
        cp = 0x55E7000000000001 + i
        ue = f"10.64.0.{i + 1}"
        ies = [
            node_v4(a_ip), fseid(cp, a_ip),
            create_pdr(pdr_id(1), prec(255),
                       pdi(src_if(0), fteid_choose(), ni_plain("internet"), ueip(ue, dst=False)),
                       ohr(0), far_id(1)),
            create_pdr(pdr_id(2), prec(255), pdi(src_if(1), ni_plain("internet"), ueip(ue, dst=True)),
                       far_id(2)),
            create_far(far_id(1), apply(forw=True), fwd(dst_if(1))),
            create_far(far_id(2), apply(buff=True, nocp=True)),
            pdn_type_v4(),
            tag,
        ]
        _rsp, up = a.establish(cp, ies, what=f"Session Establishment {i + 1} ({label})")
        sessions.append((cp, up, ue))
    alt = raw(178, b"\x02" + socket.inet_aton(b_ip))
    rsp = b.request(16, SsmRequest, [alt, fq_csid(a_ip, 1), raw(291, b"grp-a")],
                    what="Session Set Modification Request (A's CSID 1, group grp-a -> B)")
    if rsp is not None:
        n = find(body_of(rsp), 60)
        check(n is not None and n.ipv4 == "192.168.1.1" and find(body_of(rsp), 40) is None,
              "set modification: the response carries our Node ID and no Offending IE")
    for i, smf, other in ((0, b, a), (1, a, b), (2, b, a)):
        cp, _up, ue = sessions[i]
        smf.upf_requests.clear()
        other.upf_requests.clear()
        traffic.send_dl(ue, 1)
        r = wait_report(smf, REPORT)
        check(r is not None and r.seid == cp,
              f"set modification: session {i + 1}'s Downlink Data Report goes to {smf.name[-1]} "
              f"with the SEID {cp:#x}")
        check(wait_report(other, REPORT, timeout=0.3) is None,
              f"set modification: and not to {other.name[-1]}")
    st = upf.status()["pfcp"]["fq_csids"]
    check(st["set_modified_sessions"] >= 2 and
          any(n["node"] == a_ip and {s["csid"] for s in n["sets"]} == {1, 2} for n in st["nodes"]),
          f"set modification: /status pfcp.fq_csids counts them and shows A's CSIDs 1 and 2 ({st})")
    m = upf.metrics()
    check((upfrun.metric(m, "upf_pfcp_session_set_sessions_total", operation="modified") or 0) >= 2,
          "set modification: upf_pfcp_session_set_sessions_total{operation=modified}")
    rsp = b.request(16, SsmRequest, [fq_csid(a_ip, 2)], cause=66,
                    what="Session Set Modification Request without Alternative SMF IP Address")
    off = find(body_of(rsp), 40) if rsp is not None else None
    check(off is not None and off.type == 178, "set modification: Offending IE is the Alternative SMF IP Address (178)")
    stranger = Smf("set modification (unassociated)", upf_n4, ("127.0.0.14", 8805))
    stranger.request(16, SsmRequest, [alt, fq_csid(a_ip, 2)], cause=72,
                     what="Session Set Modification Request from an unassociated node")
    stranger.close()
    # B controls sessions 1 and 3 now, A session 2.
    for i, smf in ((0, b), (1, a), (2, b)):
        cp, up, _ue = sessions[i]
        smf.delete(up, cp, what=f"Session Deletion {i + 1} by {smf.name[-1]}")
    a.release(node_v4(a_ip))
    b.release(node_v4(b_ip))
    a.close()
    b.close()


def commercial(upf_n4, traffic: Traffic) -> None:
    """Cisco/Nokia-style SMF: FQDN, vendor IEs, CHV4, sequence wrap, release."""
    smf = Smf("commercial", upf_n4, ("127.0.0.5", 0), seq=0xFFFFFE)
    node = node_fqdn("smf01.mnc001.mcc001.3gppnetwork.org")
    # Vendor IE, Alternative SMF IP Address, SMF Set ID (Rel-16).
    smf.associate(node, extra=[enterprise(1, 9, b"\x01\x02\x03"), raw(178, b"\x02\x7f\x00\x00\x05"),
                               raw(180, b"\x00" + b"\x04set1\x03smf\x07example")])
    smf.heartbeat()  # sequence 0 after the wrap
    smf.request(7, P.PFCPAssociationUpdateRequest, [node, P.IE_CPFunctionFeatures(LOAD=1)],
                what="Association Update (CP Function Features)")
    cp = 0x0123456789ABCDEF
    vendor = enterprise(7, 637, b"nokia")
    ies = [
        node, fseid(cp, "127.0.0.5", "2001:db8::5"), vendor,
        # The DNN with the APN Operator Identifier (TS 23.003 9.1), as
        # PGW-C+SMF combos write it: still the pool of DNN "internet".
        P.IE_APN_DNN(apn_dnn="internet.mnc001.mcc001.gprs"),
        # Rel-16 IEs newer SMFs add: S-NSSAI, PFCPSEReq-Flags (RESTI), User ID.
        raw(257, b"\x01\x00\x00\x01"), raw(186, b"\x01"),
        raw(141, b"\x01\x08" + bytes.fromhex("0910101032547698")),
        create_pdr(pdr_id(1), prec(0),
                   pdi(src_if(0), fteid_choose(v4=False), ueip(None, dst=False, chv4=True), qfi(9), vendor),
                   raw(95, b"\x00\x01"),  # GTP-U/UDP/IPv4, delete the PDU Session Container
                   far_id(1), urr_id(1), urr_id(2), vendor),
        create_pdr(pdr_id(2), prec(100),
                   pdi(src_if(1), raw(22), ueip(None, dst=True, chv4=True, v4_with_ch=True),
                       sdf("permit out ip from 10.0.0.0/8 to assigned")),
                   far_id(2), urr_id(1)),
        create_pdr(pdr_id(3), prec(200),
                   pdi(src_if(1), raw(22), ueip(None, dst=True, chv4=True, v4_with_ch=True),
                       sdf("permit out ip from any to assigned")),
                   far_id(2), urr_id(1)),
        create_far(far_id(1), apply(forw=True, extended=True), fwd(dst_if(2), raw(22))),  # SGi-LAN/N6-LAN
        create_far(far_id(2), apply(drop=True, extended=True)),
        create_urr(urr_id(1), meas_method(volum=True, durat=True), rep_triggers(b"\x06\x00\x00"),
                   vol_threshold(2**40), raw(32, struct.pack("!I", 86400)), raw(64, struct.pack("!I", 3600))),
        # Uplink volume threshold: 300 bytes, crossed by the third packet.
        create_urr(urr_id(2), meas_method(volum=True), rep_triggers(b"\x02\x00"), vol_threshold(300)),
    ]
    rsp, up = smf.establish(cp, ies, what="Session Establishment (CHOOSE without V4, CHV4, vendor IEs)")
    teid = check_choose(smf, rsp, [1], "Session Establishment").get(1, 0)
    cps = created_pdrs(rsp)
    ips = {i: created_ue_ip(cps.get(i)) for i in (1, 2, 3)}
    ue = ips.get(2)
    check(ue is not None and ue.startswith(POOL) and len(set(ips.values())) == 1,
          f"commercial: CHV4 allocates one UE address from the pool for the session's PDRs ({ips})")
    ue = ue or "10.45.255.255"
    # SMF fail-over: the session moves to another CP F-SEID.
    new_cp = 0x0FEDCBA987654321
    smf.modify(up, cp, [fseid(new_cp, "127.0.0.5")], what="Session Modification (new CP F-SEID)", also_seid=new_cp)
    Smf.cp_seid_of_up[up] = new_cp
    cp = new_cp
    smf.modify(up, cp, [upd_far(far_id(2), apply(forw=True, extended=True),
                                upd_fwd(dst_if(0), ohc(0x9001, GNB_IP), raw(30, b"\xb8\xff")))],
               what="Session Modification (Update FAR with Transport Level Marking, message priority)", mp=3)
    smf.upf_requests.clear()
    ul = traffic.ul("commercial", teid, ue)
    rep = wait_report(smf, REPORT)
    u = find(body_of(rep), 80) if rep is not None else None
    check(rep is not None and rep.seid == cp and u is not None and find(u, 81).id == 2 and find(u, 63).VOLTH == 1,
          "commercial: the volume threshold report (URR 2, VOLTH) goes to the new CP F-SEID")
    dl = traffic.dl("commercial", ue, GNB_IP, 0x9001)
    dl += traffic.dl("commercial (10/8 PDR)", ue, GNB_IP, 0x9001, src="10.1.2.3")
    rsp = smf.modify(up, cp, [smreq_flags(qaurr=True), raw(125, struct.pack("!I", 0xC0FFEE))],
                     what="Session Modification (QAURR with a Query URR Reference)")
    r = usage_reports(rsp, 78).get(1)
    v = volume(r) if r is not None else (None, None)
    check(v[0] is not None and v[0] >= ul and v[1] >= dl,
          f"commercial: PFCPSMReq-Flags QAURR answered with URR 1's usage {v} >= {ul}/{dl}")
    qref = [find(x, 125) for x in usage_reports(rsp, 78).values()]
    check(len(qref) == 2 and all(q is not None and q.reference == 0xC0FFEE for q in qref),
          "commercial: every queried Usage Report carries the Query URR Reference")
    rsp = smf.delete(up, cp)
    reps = usage_reports(rsp, 79)
    check(sorted(reps) == [1, 2], f"commercial: the Deletion Response reports both URRs ({sorted(reps)})")
    smf.release(node)
    # After the release the UPF must refuse sessions with cause 72.
    ies[1] = fseid(cp + 1, "127.0.0.5", "2001:db8::5")
    smf.establish(cp + 1, ies, what="Session Establishment after Association Release", cause=72)
    smf.close()


def oai_replay(upf_n4, pcap: str) -> None:
    """The recorded OAI SMF capture, SMF-side requests sent in order."""
    from scapy.all import rdpcap
    pkts = rdpcap(pcap)
    # The SMF is the sender of the session requests; the UPF's own
    # heartbeats (also to port 8805) stay out.
    smf_ip = next(p[IP].src for p in pkts if UDP in p and bytes(p[UDP].payload)[1:2] == bytes([EST]))
    reqs = []
    for p in pkts:
        if UDP in p and p[IP].src == smf_ip and p[UDP].dport == 8805:
            data = bytes(p[UDP].payload)
            if len(data) >= 4 and data[1] in REQUESTS:
                reqs.append(data)
    check(len(reqs) >= 4, f"OAI capture: {len(reqs)} SMF requests found")
    # OAI's SMF sends its requests from an ephemeral port and takes the
    # UPF's requests on 8805 (the capture: Heartbeat Request to 8805).
    smf = Smf("OAI replay", upf_n4, ("127.0.0.6", 0), listen=("127.0.0.6", 8805))
    # Our answers to the UPF's heartbeats carry the recorded SMF's Recovery
    # Time Stamp (that of its heartbeats, which differs from its Association
    # Setup's: an OAI quirk the UPF must live with).
    hb = [P.PFCP(d) for d in reqs if d[1] == HB_REQ]
    if hb:
        smf.rts = find(body_of(hb[-1]), 96).timestamp
    up_of: Dict[int, int] = {}
    for data in reqs:
        p = P.PFCP(data)
        mtype = p.message_type
        seq = smf.next_seq()
        p.seq = seq
        if p.S == 1 and mtype != EST:
            p.seid = up_of.get(p.seid, p.seid)
        cap_cp = None
        if mtype == EST:
            f = find(body_of(p), 57)
            cap_cp = f.seid if f is not None else 0
        p.length = None
        smf.send_raw(bytes(p))
        rsp = smf.wait_response(seq)
        if rsp is None:
            check(False, f"OAI replay: response to type {mtype} seq {seq}")
            continue
        c = cause_of(body_of(rsp))
        check(rsp.message_type == mtype + 1 and (c == 1 or mtype == HB_REQ),
              f"OAI replay: type {mtype} answered with type {rsp.message_type}, cause {c}")
        if mtype == EST and c == 1:
            f = find(body_of(rsp), 57)
            # Later requests carry the capture UPF's SEID; map it to ours.
            cap_up = None
            for q in pkts:
                if UDP in q:
                    d = bytes(q[UDP].payload)
                    if len(d) > 4 and d[1] == EST + 1:
                        r = P.PFCP(d)
                        if r.seid == cap_cp:
                            ff = find(body_of(r), 57)
                            cap_up = ff.seid if ff is not None else None
            check(rsp.seid == cap_cp and f is not None, "OAI replay: Establishment Response to the capture's CP SEID")
            if cap_up is not None and f is not None:
                up_of[cap_up] = f.seid
            check(len(created_pdrs(rsp)) >= 1, "OAI replay: Created PDR for the CHOOSE F-TEID")
    # The UPF's heartbeats must reach the SMF's 8805 listener (after at most
    # one try on the ephemeral port), and keep the association up.
    upfrun.wait_for("two UPF heartbeats on the OAI SMF's port 8805",
                    lambda: smf.request_ports.count(8805) >= 2, 6)
    check(smf.request_ports[-2:] == [8805, 8805],
          f"OAI replay: the UPF's Heartbeat Requests reach the SMF's port 8805 (ports {smf.request_ports})")
    smf.close()


def upf_heartbeats(upf_n4) -> None:
    """The UPF's own heartbeats reach an associated SMF, which answers."""
    smf = Smf("heartbeat peer", upf_n4, ("127.0.0.7", 8805))
    smf.associate(node_v4("127.0.0.7"))
    deadline = time.monotonic() + 4
    hb = None
    while time.monotonic() < deadline and hb is None:
        hb = next((p for t, _s, p in smf.upf_requests if t == HB_REQ), None)
        time.sleep(0.05)
    check(hb is not None and find(body_of(hb), 96) is not None,
          "the UPF sends Heartbeat Requests (with Recovery Time Stamp) to an associated SMF")
    smf.release(node_v4("127.0.0.7"))
    smf.close()


def main(binary: str, d: str, pcap: str) -> int:
    prefix = f"smfi-{os.getpid()}"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = os.path.join(d, "upf.yaml")
    open(cfg, "w").write(CONFIG.format(prefix=prefix, port=port, gnb=GNB_MAC, gnb2=GNB2_MAC, gw=GW_MAC))
    upf = upfrun.Upf(binary, cfg, os.path.join(d, "upf.log"), prefix, env={"RUST_LOG": os.environ.get("SMFI_RUST_LOG", "info")})
    upf_n4 = ("127.0.0.1", port)
    t0 = time.monotonic()
    try:
        upf.wait_running()
        wire = Wire()
        traffic = Traffic(wire)
        for name, fn in (("free5GC", lambda: free5gc(upf_n4, traffic)),
                         ("Open5GS", lambda: open5gs(upf_n4, traffic)),
                         ("Open5GS IPv4v6", lambda: dual_stack(upf_n4, traffic)),
                         ("SD-Core", lambda: omec(upf_n4, traffic)),
                         ("inactivity timer", lambda: inactivity(upf_n4, traffic)),
                         ("Session Set Deletion", lambda: set_deletion(upf_n4, traffic, upf)),
                         ("Session Set Modification", lambda: set_modification(upf_n4, traffic, upf)),
                         ("SDF filters", lambda: sdf_zoo(upf_n4)),
                         ("many PCC rules", lambda: many_rules(upf_n4, traffic)),
                         ("commercial", lambda: commercial(upf_n4, traffic)),
                         ("OAI", lambda: oai_replay(upf_n4, pcap)),
                         ("heartbeat", lambda: upf_heartbeats(upf_n4))):
            t = time.monotonic()
            print(f"---- {name}", flush=True)
            try:
                fn()
            except Exception as e:  # a profile's crash is a failure, not the end of the run
                import traceback
                traceback.print_exc()
                check(False, f"{name}: profile ran to the end ({e!r})")
            print(f"---- {name}: {time.monotonic() - t:.1f} s", flush=True)
        m = upf.metrics()
        check((upfrun.metric(m, "upf_sessions_by_origin", origin="pfcp") or 0) == 0,
              "no PFCP session left after the deletions")
        status = upf.stop()
        check(status == 0, f"SIGTERM stops the UPF with status 0 (got {status})")
        check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "no EAL runtime directory left behind")
    finally:
        upf.kill()
        if FAILS:
            print("---- upf.log (tail)\n" + "".join(open(os.path.join(d, "upf.log")).readlines()[-80:]))
    print(f"smf-interop: {time.monotonic() - t0:.1f} s, {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
