#!/usr/bin/python3
"""pcap in, pcap out through `upf run` (issue 3 item 6, issue 4 item 7).

The UPF runs on three net_pcap ports (N3, N6, N9), each replaying an input
pcap once (`rx_pcap=`) and writing what it sends to an output pcap
(`tx_pcap=`, flushed when the port stops, so the UPF is stopped with SIGTERM
before the outputs are read). The inputs, built here with scapy, hold:

  local:   ARP requests and ICMP echo requests for the N3, N6 and N9
           addresses, an ARP request for someone else, GTP-U Echo Request;
  junk:    a truncated frame, an unknown ethertype, an IPv4 header with a bad
           checksum, UDP to a closed port, IPv4 for another host, TTL 1;
  traffic: UL G-PDUs of a static session (with and without PDU Session
           Container) -> decapsulated on N6 toward the gateway's static
           neighbour MAC; DL for the session -> GTP-U with a PDU Session
           Container (DL, QFI) toward the gNB; N9 both ways (UL re-encapsulated
           toward a peer UPF, DL from it to the gNB); a G-PDU with an unknown
           TEID -> Error Indication; a spoofed inner source, closed gates, an
           MBR of 1 kbit/s (bucket 3000 B: 3 of 6 1000-byte packets pass), DL
           toward a gNB nobody answers ARP for (ARP requests, then dropped).

Every expected frame is built independently with scapy (checksums and
lengths computed by scapy) and compared byte by byte with what the UPF sent;
the UPF's free choices are taken from its frame and checked against their
rules (outer UDP source port in 49152..65535). The Error Indication is
checked field by field. Every IPv4/UDP/ICMP checksum the UPF wrote is
recomputed. tshark dissects the GTP-U output independently (no malformed
packet or expert error; TEIDs, QFIs, PDU types, message types as expected).
/metrics must show the drops by reason, rx/tx packets and frame bytes per
interface exactly, and the UPF must exit 0 on SIGTERM within a second,
leaving no EAL runtime directory.

Usage: upf_pcap.py UPF_BINARY WORKDIR
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check  # noqa: E402

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, ICMP, IP, UDP, Ether, Padding, Raw, rdpcap, wrpcap  # noqa: E402
from scapy.contrib.gtp import GTP_U_Header, GTPHeader, GTPPDUSessionContainer  # noqa: E402

# ---------------------------------------------------------------- the plan
N3_MAC, N6_MAC, N9_MAC = "02:70:63:61:70:00", "02:70:63:61:70:01", "02:70:63:61:70:02"  # net_pcap ports 0, 1, 2
GNB_MAC, GW_MAC, PEER_MAC = "02:00:00:00:01:02", "02:00:00:00:00:fe", "02:00:00:00:09:02"
N3_IP, GNB_IP, GNB2_IP = "192.168.1.1", "192.168.1.2", "192.168.1.3"
N6_IP, GW_IP = "10.200.0.1", "10.200.0.254"
N9_IP, PEER_IP = "172.16.9.1", "172.16.9.2"
DN_IP = "198.51.100.1"
BCAST = "ff:ff:ff:ff:ff:ff"

CONFIG = """\
node_id: 192.168.1.1
dpdk:
  args: [--no-huge, -m, '256', --no-pci, --file-prefix, {prefix}]
  mbufs: 8192
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3:
    device: 'net_pcap0,rx_pcap={d}/n3-in.pcap,tx_pcap={d}/n3-out.pcap'
    address: 192.168.1.1/24
    neighbors: {{ 192.168.1.2: '02:00:00:00:01:02' }}
  n6:
    device: 'net_pcap1,rx_pcap={d}/n6-in.pcap,tx_pcap={d}/n6-out.pcap'
    address: 10.200.0.1/24
    gateway: 10.200.0.254
    neighbors: {{ 10.200.0.254: '02:00:00:00:00:fe' }}
  n9:
    device: 'net_pcap2,rx_pcap={d}/n9-in.pcap,tx_pcap={d}/n9-out.pcap'
    address: 172.16.9.1/24
    neighbors: {{ 172.16.9.2: '02:00:00:00:09:02' }}
api: {{ listen: 127.0.0.1:0 }}
dataplane: {{ idle_backoff: {{ enabled: true, empty_polls: 64, sleep: 100us }} }}
sessions:
  # 1: the plain case, short form (QER with QFI 9, URR).
  - {{ id: 1, ue_ip: 10.45.0.2, uplink: {{ teid: 0x100 }}, downlink: {{ gnb: 192.168.1.2, teid: 0x200, qfi: 9 }} }}
  # 2: gates closed both ways.
  - id: 2
    pdrs:
      - {{ id: 1, precedence: 10, source: access, teid: 0x101, ue_ip: 10.45.0.3, outer_header_removal: gtpu-udp-ipv4, far_id: 1, qer_ids: [1] }}
      - {{ id: 2, precedence: 10, source: core, ue_ip: 10.45.0.3, far_id: 2, qer_ids: [1] }}
    fars:
      - {{ id: 1, action: forward, destination: core }}
      - {{ id: 2, action: forward, destination: access, outer_header_creation: {{ teid: 0x201, address: 192.168.1.2 }} }}
    qers:
      - {{ id: 1, gate: {{ ul: closed, dl: closed }} }}
  # 3: uplink MBR 1 kbit/s (bucket: the 3000-byte minimum).
  - {{ id: 3, ue_ip: 10.45.0.4, uplink: {{ teid: 0x102 }}, downlink: {{ gnb: 192.168.1.2, teid: 0x202 }}, qos: {{ mbr_ul: 1Kbps }} }}
  # 4: an I-UPF: uplink re-encapsulated toward the PSA on N9, downlink from it.
  - id: 4
    pdrs:
      - {{ id: 1, precedence: 10, source: access, teid: 0x103, ue_ip: 10.45.0.5, outer_header_removal: gtpu-udp-ipv4, far_id: 1, urr_ids: [1] }}
      - {{ id: 2, precedence: 10, source: core, teid: 0x104, outer_header_removal: gtpu-udp-ipv4, far_id: 2, urr_ids: [1] }}
    fars:
      - {{ id: 1, action: forward, destination: core, outer_header_creation: {{ teid: 0x500, address: 172.16.9.2 }} }}
      - {{ id: 2, action: forward, destination: access, outer_header_creation: {{ teid: 0x204, address: 192.168.1.2 }} }}
    urrs: [ {{ id: 1 }} ]
  # 5: downlink toward a gNB without a static neighbour that never answers ARP.
  - {{ id: 5, ue_ip: 10.45.0.6, uplink: {{ teid: 0x105 }}, downlink: {{ gnb: 192.168.1.3, teid: 0x205 }} }}
"""

def pad60(f):
    """Ethernet minimum frame (without FCS): 60 bytes, zero padded."""
    n = len(bytes(f))
    return f / Padding(b"\0" * (60 - n)) if n < 60 else f


def inner_udp(src, dst, sport, dport, payload_len, ttl=64, ident=0x2222):
    return IP(src=src, dst=dst, ttl=ttl, id=ident) / UDP(sport=sport, dport=dport) / Raw((bytes(range(256)) * 8)[:payload_len])


def inner_ip(frame):
    """The IP packet a frame carries: behind the GTP-U header (and its
    extension headers) for a G-PDU, else the frame's own."""
    e = Ether(bytes(frame))
    if not e.haslayer(GTP_U_Header):
        return e[IP]
    lay = e[GTP_U_Header].payload
    while not isinstance(lay, IP):
        lay = lay.payload
    return lay


def gpdu(src, dst, teid, inner, qfi=None, ul=True, sport=50000, smac=GNB_MAC, dmac=N3_MAC):
    g = GTP_U_Header(teid=teid)
    if qfi is not None:
        g = GTP_U_Header(teid=teid, next_ex=0x85) / GTPPDUSessionContainer(type=1 if ul else 0, QFI=qfi)
    return Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, id=0x3333) / UDP(sport=sport, dport=2152) / g / inner


def ttl_minus_one(pkt):
    p = IP(bytes(pkt))
    p.ttl -= 1
    del p.chksum
    return IP(bytes(p))


def build_inputs(d):
    ul_inner = inner_udp("10.45.0.2", DN_IP, 40000, 5001, 64)
    n3 = [
        ("arp-n3", pad60(Ether(src=GNB_MAC, dst=BCAST) / ARP(op=1, hwsrc=GNB_MAC, psrc=GNB_IP, pdst=N3_IP))),
        ("arp-other", pad60(Ether(src=GNB_MAC, dst=BCAST) / ARP(op=1, hwsrc=GNB_MAC, psrc=GNB_IP, pdst="192.168.1.77"))),
        ("ping-n3", Ether(src=GNB_MAC, dst=N3_MAC) / IP(src=GNB_IP, dst=N3_IP, id=0x1111) / ICMP(id=0x42, seq=1) / Raw(b"upf-pcap-test-payload-0123456789")),
        ("junk-short", Raw(b"\x02\x70\x63\x61\x70\x00\x02\x00\x00\x00")),
        ("junk-ethertype", Ether(src=GNB_MAC, dst=N3_MAC, type=0x88B5) / Raw(b"\x00" * 50)),
        ("junk-ipcsum", Ether(src=GNB_MAC, dst=N3_MAC) / IP(src=GNB_IP, dst=N3_IP, chksum=0xBEEF) / UDP(sport=1, dport=2152) / Raw(b"x" * 20)),
        ("junk-udpport", Ether(src=GNB_MAC, dst=N3_MAC) / IP(src=GNB_IP, dst=N3_IP) / UDP(sport=1000, dport=9999) / Raw(b"x" * 20)),
        ("junk-notforus", Ether(src=GNB_MAC, dst=N3_MAC) / IP(src=GNB_IP, dst="192.168.1.50") / UDP(sport=1000, dport=2152) / Raw(b"x" * 20)),
        ("ul-psc", gpdu(GNB_IP, N3_IP, 0x100, ul_inner, qfi=9)),
        ("ul-nopsc", gpdu(GNB_IP, N3_IP, 0x100, inner_udp("10.45.0.2", DN_IP, 40001, 5001, 100))),
        ("echo-req", Ether(src=GNB_MAC, dst=N3_MAC) / IP(src=GNB_IP, dst=N3_IP) / UDP(sport=2152, dport=2152)
         / GTPHeader(gtp_type=1, teid=0, S=1, seq=0x1234)),
        ("ul-unknown-teid", gpdu(GNB_IP, N3_IP, 0x999, inner_udp("10.45.0.2", DN_IP, 40000, 5001, 64), qfi=9, sport=50002)),
        ("ul-spoofed", gpdu(GNB_IP, N3_IP, 0x100, inner_udp("10.45.0.99", DN_IP, 40000, 5001, 64), qfi=9)),
        ("ul-gate-closed", gpdu(GNB_IP, N3_IP, 0x101, inner_udp("10.45.0.3", DN_IP, 40000, 5001, 64), qfi=9)),
    ]
    for i in range(6):
        # 1000-byte inner IP packets: 28 bytes of IP + UDP header, 972 of data.
        n3.append((f"ul-mbr-{i}", gpdu(GNB_IP, N3_IP, 0x102, inner_udp("10.45.0.4", DN_IP, 40000 + i, 5001, 972, ident=0x4000 + i), qfi=9)))
    n3.append(("ul-n9", gpdu(GNB_IP, N3_IP, 0x103, inner_udp("10.45.0.5", DN_IP, 40005, 5001, 64), qfi=9)))

    n6 = [
        ("arp-n6", pad60(Ether(src=GW_MAC, dst=BCAST) / ARP(op=1, hwsrc=GW_MAC, psrc=GW_IP, pdst=N6_IP))),
        ("ping-n6", Ether(src=GW_MAC, dst=N6_MAC) / IP(src=DN_IP, dst=N6_IP, id=0x1112) / ICMP(id=0x43, seq=7) / Raw(b"n6-ping")),
        ("dl", Ether(src=GW_MAC, dst=N6_MAC) / inner_udp(DN_IP, "10.45.0.2", 5001, 40000, 64)),
        ("dl-no-pdr", Ether(src=GW_MAC, dst=N6_MAC) / inner_udp(DN_IP, "10.45.9.9", 5001, 40000, 64)),
        ("dl-gate-closed", Ether(src=GW_MAC, dst=N6_MAC) / inner_udp(DN_IP, "10.45.0.3", 5001, 40000, 64)),
        ("dl-ttl1", Ether(src=GW_MAC, dst=N6_MAC) / inner_udp(DN_IP, "10.45.0.2", 5001, 40000, 64, ttl=1)),
        ("dl-unresolved", Ether(src=GW_MAC, dst=N6_MAC) / inner_udp(DN_IP, "10.45.0.6", 5001, 40000, 64)),
    ]
    n9 = [
        ("n9-dl", gpdu(PEER_IP, N9_IP, 0x104, inner_udp(DN_IP, "10.45.0.5", 5001, 40005, 64), qfi=9, ul=False,
                       smac=PEER_MAC, dmac=N9_MAC)),
        ("ping-n9", Ether(src=PEER_MAC, dst=N9_MAC) / IP(src=PEER_IP, dst=N9_IP, id=0x1113) / ICMP(id=0x44, seq=9) / Raw(b"n9")),
    ]
    for name, frames in (("n3", n3), ("n6", n6), ("n9", n9)):
        wrpcap(f"{d}/{name}-in.pcap", [f for _, f in frames])
    return dict(n3), dict(n6), dict(n9)


def gtpu_out(src, dst, teid, inner, qfi, dl, sport, smac, dmac):
    """A G-PDU as the UPF must build it: IPv4 TTL 64, ID 0, DF, UDP checksum 0
    (allowed for IPv4, TS 29.281 4.4.2.0 / RFC 768), GTP-U with the PDU
    Session Container of `qfi`."""
    return (Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, ttl=64, id=0, flags="DF")
            / UDP(sport=sport, dport=2152, chksum=0)
            / GTP_U_Header(teid=teid, next_ex=0x85) / GTPPDUSessionContainer(type=0 if dl else 1, QFI=qfi) / inner)


def checksums_ok(raw: bytes) -> bool:
    """Every IPv4, UDP (when not 0) and ICMP checksum and every IPv4/UDP
    length in the frame is what scapy computes from the bytes."""
    q = Ether(raw)
    for cls in (IP, UDP, ICMP):
        n = 1
        while True:
            lay = q.getlayer(cls, n)
            if lay is None:
                break
            if not (cls is UDP and lay.chksum == 0):
                lay.chksum = None
            if cls in (IP, UDP):
                lay.len = None
            n += 1
    return bytes(q) == raw


def main(binary: str, d: str) -> int:
    prefix = f"upfpcap-{os.getpid()}"
    n3_in, n6_in, n9_in = build_inputs(d)
    cfg = f"{d}/upf.yaml"
    with open(cfg, "w") as f:
        f.write(CONFIG.format(prefix=prefix, d=d))
    chk = subprocess.run([binary, "check", "--quiet", "--config", cfg], capture_output=True, text=True)
    if chk.returncode != 0:
        print(chk.stderr)
        check(False, "upf check accepts the test config")
        return 1

    upf = upfrun.Upf(binary, cfg, f"{d}/upf.log", prefix)
    try:
        upf.wait_running()
        st = upf.status()
        macs = {i["name"]: i["mac"] for i in st["interfaces"]}
        check(macs == {"n3": N3_MAC, "n6": N6_MAC, "n9": N9_MAC},
              f"net_pcap ports have the MACs the test frames use: {macs}")
        n_in = {"n3": len(n3_in), "n6": len(n6_in), "n9": len(n9_in)}

        def consumed():
            m = upf.metrics()
            return (all(upfrun.metric(m, "upf_rx_packets_total", interface=i) == n for i, n in n_in.items())
                    # DL toward a gNB nobody answers: dropped after 1 s of ARP.
                    and upfrun.metric(m, "upf_dropped_packets_total", reason="next_hop_unresolved") == 1)

        upfrun.wait_for("every input frame received and the unresolved next hop given up", consumed, 20)
        m = upf.metrics()
        rc = upf.stop()
    finally:
        upf.kill()
    log = upf.log()
    check(rc == 0, f"exit status 0 on SIGTERM (got {rc})")
    check(upf.stop_seconds < 1.0, f"stopped within a second ({upf.stop_seconds:.2f} s)")
    check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "no EAL runtime directory left behind")
    check("final n3: rx" in log, "final counters logged")

    out = {i: [bytes(p) for p in rdpcap(f"{d}/{i}-out.pcap")] for i in ("n3", "n6", "n9")}

    # ------------------------------------------------------------ metrics
    expected_drops = {
        "malformed": 2,            # truncated frame, bad IPv4 header checksum
        "unsupported": 2,          # unknown ethertype, UDP to a closed port
        "not_for_us": 1,           # IPv4 for another host on N3
        "no_pdr": 2,               # DL for an unknown UE; the G-PDU of the unknown TEID (answered with an EI)
        "gate_closed": 2,          # UL and DL of session 2
        "mbr_exceeded": 3,         # 3 of the 6 1000-byte UL packets of session 3
        "spoofed_source": 1,       # UL with a foreign inner source
        "next_hop_unresolved": 1,  # DL toward a gNB nobody answers ARP for
        "ttl_exceeded": 1,         # DL with TTL 1
    }
    for reason in ["malformed", "not_for_us", "unsupported", "no_pdr", "gate_closed", "mbr_exceeded",
                   "spoofed_source", "rule_drop", "next_hop_unresolved", "tx_full", "ttl_exceeded",
                   "buffer_full", "no_buffer"]:
        got = upfrun.metric(m, "upf_dropped_packets_total", reason=reason)
        check(got == expected_drops.get(reason, 0),
              f"upf_dropped_packets_total{{reason=\"{reason}\"}} = {expected_drops.get(reason, 0)} (got {got})")
    for i, frames in (("n3", n3_in), ("n6", n6_in), ("n9", n9_in)):
        rx_bytes = sum(len(bytes(f)) for f in frames.values())
        check(upfrun.metric(m, "upf_rx_packets_total", interface=i) == len(frames), f"{i}: rx packets = {len(frames)}")
        check(upfrun.metric(m, "upf_rx_bytes_total", interface=i) == rx_bytes, f"{i}: rx bytes = {rx_bytes} (frames with Ethernet header)")
        tx_bytes = sum(len(f) for f in out[i])
        check(upfrun.metric(m, "upf_tx_packets_total", interface=i) == len(out[i]), f"{i}: tx packets = {len(out[i])} frames in its tx_pcap")
        check(upfrun.metric(m, "upf_tx_bytes_total", interface=i) == tx_bytes, f"{i}: tx bytes = {tx_bytes}")
    check(upfrun.metric(m, "upf_sessions") == 5, "upf_sessions = 5")

    # ------------------------------------------------------------ checksums
    for i in out:
        bad = [f.hex() for f in out[i] if not checksums_ok(f)]
        check(not bad, f"{i}: every checksum and length the UPF wrote is right ({len(out[i])} frames)")

    # ------------------------------------------------------------ byte-exact frames
    remaining = {i: collections.Counter(out[i]) for i in out}

    def expect(iface, frame, what):
        b = bytes(frame)
        if remaining[iface][b] > 0:
            remaining[iface][b] -= 1
            check(True, f"{iface}: {what}")
        else:
            close = [f.hex() for f in out[iface] if len(f) == len(b)]
            check(False, f"{iface}: {what}\n  expected {b.hex()}\n  same-length frames sent: {close}")

    def take(iface, pred, what):
        for f in out[iface]:
            if remaining[iface][f] > 0 and pred(f):
                remaining[iface][f] -= 1
                return f
        check(False, f"{iface}: no frame for {what}")
        return None

    # ARP and ICMP replies.
    expect("n3", pad60(Ether(dst=GNB_MAC, src=N3_MAC) / ARP(op=2, hwsrc=N3_MAC, psrc=N3_IP, hwdst=GNB_MAC, pdst=GNB_IP)),
           "ARP reply for the N3 address")
    expect("n6", pad60(Ether(dst=GW_MAC, src=N6_MAC) / ARP(op=2, hwsrc=N6_MAC, psrc=N6_IP, hwdst=GW_MAC, pdst=GW_IP)),
           "ARP reply for the N6 address")
    for iface, req, mac in (("n3", n3_in["ping-n3"], N3_MAC), ("n6", n6_in["ping-n6"], N6_MAC), ("n9", n9_in["ping-n9"], N9_MAC)):
        r = Ether(bytes(req))
        rep = (Ether(dst=r.src, src=mac) / IP(src=r[IP].dst, dst=r[IP].src, id=r[IP].id, ttl=64)
               / ICMP(type=0, id=r[ICMP].id, seq=r[ICMP].seq) / r[Raw])
        expect(iface, rep, f"ICMP echo reply from the {iface.upper()} address")

    # UL decapsulated toward the gateway's static neighbour MAC (TTL - 1).
    for name in ("ul-psc", "ul-nopsc"):
        inner = inner_ip(n3_in[name])
        expect("n6", Ether(src=N6_MAC, dst=GW_MAC) / ttl_minus_one(inner), f"UL {name} decapsulated to the gateway")
    # MBR: the first three 1000-byte packets pass.
    for i in range(3):
        inner = inner_ip(n3_in[f"ul-mbr-{i}"])
        expect("n6", Ether(src=N6_MAC, dst=GW_MAC) / ttl_minus_one(inner), f"MBR: packet {i} within the bucket passes")

    # DL encapsulated toward the gNB with a DL PDU Session Container, QFI 9.
    def dl_expect(iface, src_frame, teid, qfi, smac, dmac, src, dst, what, dl=True):
        inner = ttl_minus_one(inner_ip(src_frame))
        got = take(iface, lambda f: Ether(f).haslayer(GTP_U_Header) and Ether(f)[GTP_U_Header].teid == teid, what)
        if got is None:
            return
        sport = Ether(got)[UDP].sport
        check(49152 <= sport <= 65535, f"{iface}: {what}: outer UDP source port {sport} in 49152..65535 (flow hash)")
        want = bytes(gtpu_out(src, dst, teid, inner, qfi, dl, sport, smac, dmac))
        check(got == want, f"{iface}: {what} byte for byte"
              + ("" if got == want else f"\n  expected {want.hex()}\n  got      {got.hex()}"))

    dl_expect("n3", n6_in["dl"], 0x200, 9, N3_MAC, GNB_MAC, N3_IP, GNB_IP, "DL GTP-U to the gNB, TEID 0x200, PSC DL QFI 9")
    dl_expect("n3", n9_in["n9-dl"], 0x204, 9, N3_MAC, GNB_MAC, N3_IP, GNB_IP, "N9 DL relayed to the gNB, TEID 0x204, PSC QFI 9")
    dl_expect("n9", n3_in["ul-n9"], 0x500, 9, N9_MAC, PEER_MAC, N9_IP, PEER_IP,
              "N9 UL re-encapsulated to the PSA, TEID 0x500, PSC UL QFI 9", dl=False)

    # GTP-U Echo Response: to the sender's address and port, Recovery IE 0.
    echo = (Ether(src=N3_MAC, dst=GNB_MAC) / IP(src=N3_IP, dst=GNB_IP, ttl=64, id=0, flags="DF")
            / UDP(sport=2152, dport=2152, chksum=0) / GTPHeader(gtp_type=2, teid=0, S=1, seq=0x1234) / Raw(b"\x0e\x00"))
    expect("n3", echo, "GTP-U Echo Response (same sequence number, Recovery 0)")

    # Error Indication for the unknown TEID, field by field (TS 29.281 7.3.1).
    def is_ei(f):
        e = Ether(f)
        return e.haslayer(UDP) and bytes(e[UDP].payload)[1:2] == bytes([26])

    ei = take("n3", is_ei, "Error Indication")
    if ei is not None:
        e = Ether(ei)
        g = bytes(e[UDP].payload)
        check(e.dst == GNB_MAC and e[IP].src == N3_IP and e[IP].dst == GNB_IP, "Error Indication: to the gNB from the N3 address")
        # TS 29.281 4.4.2.3: to port 2152; the G-PDU's source port goes in
        # the UDP Port extension header (5.2.2.1).
        check(e[UDP].dport == 2152 and e[UDP].sport == 2152,
              f"Error Indication: UDP 2152 -> 2152 (got {e[UDP].sport}->{e[UDP].dport})")
        check(g[0] == 0x36 and g[1] == 26 and g[4:8] == b"\0\0\0\0",
              f"Error Indication: version 1, E and S set, message type 26, TEID 0 ({g[:8].hex()})")
        check(g[11] == 0x40 and g[12:16] == bytes([1]) + (50002).to_bytes(2, "big") + bytes([0]),
              f"Error Indication: UDP Port extension header = 50002, the G-PDU's source port ({g[11:16].hex()})")
        ies = g[8 + (4 if g[0] & 0x07 else 0):]
        # Skip extension headers (UDP Port, 0x40) if E is set.
        if g[0] & 0x04 and g[11] != 0:
            nxt, off = g[11], 12
            while nxt != 0:
                ln = g[off] * 4
                nxt = g[off + ln - 1]
                off += ln
            ies = g[off:]
        check(ies[:5] == bytes([16]) + (0x999).to_bytes(4, "big"), f"Error Indication: TEID Data I = 0x999 ({ies[:5].hex()})")
        check(ies[5:12] == bytes([133, 0, 4, 192, 168, 1, 1]) and len(ies) == 12,
              f"Error Indication: GTP-U Peer Address = {N3_IP}, nothing more ({ies[5:].hex()})")

    # ARP requests for the gNB nobody answers, then nothing else.
    arp_req = bytes(pad60(Ether(src=N3_MAC, dst=BCAST) / ARP(op=1, hwsrc=N3_MAC, psrc=N3_IP, hwdst="00:00:00:00:00:00", pdst=GNB2_IP)))
    n_arp = remaining["n3"][arp_req]
    check(1 <= n_arp <= 12, f"n3: {n_arp} ARP request(s) for {GNB2_IP} (rate-limited to 10/s for 1 s)")
    remaining["n3"][arp_req] = 0
    for i in remaining:
        left = [f.hex() for f, n in remaining[i].items() for _ in range(n)]
        check(not left, f"{i}: nothing else sent ({left})")

    # ------------------------------------------------------------ tshark
    for i in ("n3", "n9"):
        r = subprocess.run(["tshark", "-r", f"{d}/{i}-out.pcap", "-Y", "gtp", "-T", "fields", "-E", "separator=;",
                            "-e", "gtp.message", "-e", "gtp.teid", "-e", "gtp.ext_hdr.pdu_ses_con.pdu_type",
                            "-e", "gtp.ext_hdr.pdu_ses_con.qos_flow_id", "-e", "_ws.expert.severity"],
                           capture_output=True, text=True)
        rows = sorted(tuple(line.split(";")) for line in r.stdout.splitlines())
        print(f"tshark {i}: {rows}")
        want = {
            "n3": sorted([("0x02", "0x00000000", "", "", ""), ("0x1a", "0x00000000", "", "", ""),
                          ("0xff", "0x00000200", "0", "9", ""), ("0xff", "0x00000204", "0", "9", "")]),
            "n9": [("0xff", "0x00000500", "1", "9", "")],
        }[i]
        check(r.returncode == 0 and rows == want, f"tshark dissects the {i} GTP-U as {want}")
        mal = subprocess.run(["tshark", "-r", f"{d}/{i}-out.pcap", "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"],
                             capture_output=True, text=True)
        check(mal.stdout.strip() == "", f"tshark: nothing malformed and no expert warning in {i}-out.pcap: {mal.stdout.strip()}")

    if FAILS:
        print(f"{len(FAILS)} check(s) failed; UPF log:\n{log}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
