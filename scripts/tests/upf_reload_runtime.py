#!/usr/bin/python3
"""What a reload changes at run time, end to end (scripts/tests/51-reload-runtime.sh):
`upf run` on the namespace testbed (af_packet), smf-sim and gnb-sim in the
gNB namespace, a small PFCP peer of our own (`peer` below), tcpdump on the
data network side. Every step is a SIGHUP with one setting changed, then
/status `reloads.last` (applied, the changed key in its summary) and
`upf_config_reloads_total{result="applied"}` counted, then the behaviour:

  - log.level: a GTP-U Error Indication from the gNB logs a debug line (and
    a warning) in N4's handling; at info only the warning shows, after a
    reload to debug both, after one back to info the warning alone again.
  - interfaces.n6: UL packets leave N6 toward the next hop the file names:
    the gateway's ARP-resolved MAC, a static neighbour's MAC overriding
    it, a new gateway address with its own neighbour entry, then the first
    gateway again without a static entry (ARP again). tcpdump on the data
    network's veth reads each frame's destination MAC.
  - ue_pools / teid_range: a PFCP session whose UE address and UL TEID
    came from the old pool and range keeps carrying traffic; a session
    established after the reload (another SMF) gets both from the new ones.
  - pfcp.peers: our peer's Association Setup from an address outside the
    allowlist is dropped and counted (`not_allowed`); once a reload adds
    the address it associates. A reload that removes an associated SMF
    leaves its association and sessions alone (PFCP sessions survive a
    reload; see docs/DESIGN.md "Config reload"): its heartbeats are still
    answered, the UE of its session still gets through, a warning names
    it. Once it releases the association, its next Association Setup
    Requests are dropped and counted.
  - pfcp.heartbeat_interval: the UPF's Heartbeat Requests to our peer
    arrive at the new interval (median spacing within 25%), the first one
    counted from the previous heartbeat, not after one more old interval.

Usage: upf_reload_runtime.py BIN_DIR WORKDIR  (testbed env: NS_GNB, NS_UPF,
NS_DN, DN_IP)
       upf_reload_runtime.py peer BIND_IP UPF_ADDR LOG  (the PFCP peer, run
inside the gNB namespace)
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check, nsx  # noqa: E402

N4_UPF = "10.100.0.1"
SMF_A, PEER_P, SMF_B = "10.100.0.2", "10.100.0.3", "10.100.0.4"
GW1, GW2 = "10.200.0.254", "10.200.0.253"
OFF_LINK = "198.51.100.7"  # TEST-NET-2: routed via the N6 gateway
DN_MAC = "02:00:00:00:00:fe"  # the testbed's dn-n6 (answers ARP for GW1)
MAC_FD, MAC_FC = "02:00:00:00:00:fd", "02:00:00:00:00:fc"
POOL_A, POOL_B = ("10.45.1.0/24", 0x10000, 0x1FFFF), ("10.45.2.0/24", 0x20000, 0x2FFFF)

# ---- the PFCP peer (TS 29.244 node messages, hand-encoded) ----------------------------------

T_HB_REQ, T_HB_RESP, T_ASSOC_REQ, T_ASSOC_RESP = 1, 2, 5, 6
T_ASSOC_REL_REQ, T_ASSOC_REL_RESP = 9, 10
IE_CAUSE, IE_NODE_ID, IE_RTS = 19, 60, 96


def ie(t: int, v: bytes) -> bytes:
    return struct.pack("!HH", t, len(v)) + v


def node_msg(t: int, seq: int, ies: bytes) -> bytes:
    # Version 1, no SEID: 4 header bytes, then the 3-byte sequence number and a spare.
    return struct.pack("!BBH", 0x20, t, 4 + len(ies)) + seq.to_bytes(3, "big") + b"\0" + ies


def ies_of(msg: bytes) -> Dict[int, bytes]:
    out, off = {}, 16 if msg[0] & 1 else 8
    while off + 4 <= len(msg):
        t, n = struct.unpack("!HH", msg[off:off + 4])
        out[t] = msg[off + 4:off + 4 + n]
        off += 4 + n
    return out


def peer(bind_ip: str, upf: str, log_path: str) -> int:
    """Associates with the UPF (a Setup Request every 250 ms until one is
    accepted), then sends a Heartbeat Request every 250 ms; answers the
    UPF's Heartbeat Requests. Once the file LOG.release exists it sends an
    Association Release Request (every 250 ms until answered) and then
    Setup Requests again. Every event is a JSON line in LOG, stamped
    with CLOCK_MONOTONIC (the test reads it in the same clock)."""
    host, port = upf.rsplit(":", 1)
    dst = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind_ip, 0))
    s.settimeout(0.02)
    rts = struct.pack("!I", (int(time.time()) + 2208988800) & 0xFFFFFFFF)
    node_id = ie(IE_NODE_ID, b"\0" + socket.inet_aton(bind_ip))
    log = open(log_path, "a", buffering=1)

    def out(ev: str, **kw) -> None:
        log.write(json.dumps({"ev": ev, "t": time.monotonic(), **kw}) + "\n")

    seq, associated, released, next_send = 1, False, False, 0.0
    while True:
        now = time.monotonic()
        if now >= next_send:
            if associated and not released and os.path.exists(log_path + ".release"):
                s.sendto(node_msg(T_ASSOC_REL_REQ, seq, node_id), dst)
                out("release_sent", seq=seq)
            elif associated:
                s.sendto(node_msg(T_HB_REQ, seq, ie(IE_RTS, rts)), dst)
                out("hb_sent", seq=seq)
            else:
                s.sendto(node_msg(T_ASSOC_REQ, seq, node_id + ie(IE_RTS, rts)), dst)
                out("setup_sent", seq=seq)
            seq, next_send = seq + 1, now + 0.25
        try:
            data, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        if len(data) < 8:
            continue
        t, sq = data[1], int.from_bytes(data[4:7], "big")
        if t == T_ASSOC_RESP:
            cause = ies_of(data).get(IE_CAUSE, b"\0")[0]
            out("setup_resp", seq=sq, cause=cause)
            associated = associated or cause == 1
        elif t == T_ASSOC_REL_RESP:
            cause = ies_of(data).get(IE_CAUSE, b"\0")[0]
            out("release_resp", seq=sq, cause=cause)
            associated, released = False, True
        elif t == T_HB_REQ:
            s.sendto(node_msg(T_HB_RESP, sq, ie(IE_RTS, rts)), addr)
            out("hb_req", seq=sq)
        elif t == T_HB_RESP:
            out("hb_resp", seq=sq)
        else:
            out("other", type=t)


def peer_events(path: str, ev: str, after: float = 0.0) -> List[dict]:
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line being written
        if e["ev"] == ev and e["t"] >= after:
            out.append(e)
    return out


# ---- the test -------------------------------------------------------------------------------

class Rig:
    def __init__(self, bin_dir: str, d: str):
        self.bin, self.d = bin_dir, d
        e = os.environ
        self.ns_gnb, self.ns_upf, self.ns_dn, self.dn = e["NS_GNB"], e["NS_UPF"], e["NS_DN"], e["DN_IP"]
        self.prefix = f"rle2e-{os.getpid()}"
        self.cfg = os.path.join(d, "upf.yaml")
        self.applied = 0
        self.procs: List[subprocess.Popen] = []
        self.gnb: Optional[subprocess.Popen] = None
        # The settings a reload may change; text() renders the whole file.
        self.s = dict(level="info", gateway=GW1, neighbors="", peers=f"[{SMF_A}, {SMF_B}]",
                      heartbeat="30s", pool=POOL_A)
        self.upf: Optional[upfrun.Upf] = None

    def text(self) -> str:
        s = self.s
        cidr, first, last = s["pool"]
        neigh = f"\n    neighbors: {{ {s['neighbors']} }}" if s["neighbors"] else ""
        return f"""# suite 51: reload at run time
node_id: 192.168.1.1
dpdk:
  args: ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "{self.prefix}"]
  mbufs: 16384
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3:
    device: "net_af_packet0,iface=upf-n3"
    address: 192.168.1.1/24
  n6:
    device: "net_af_packet1,iface=upf-n6"
    address: 10.200.0.1/24
    gateway: {s['gateway']}{neigh}
pfcp: {{ listen: "{N4_UPF}:8805", peers: {s['peers']}, heartbeat_interval: {s['heartbeat']} }}
ue_pools: [ {{ cidr: {cidr}, dnn: internet }} ]
teid_range: {{ first: {first:#x}, last: {last:#x} }}
api: {{ listen: "127.0.0.1:0" }}
log: {{ level: {s['level']} }}
dataplane:
  idle_backoff: {{ enabled: true, empty_polls: 256, sleep: 100us }}
"""

    def write(self) -> None:
        tmp = self.cfg + ".new"
        open(tmp, "w").write(self.text())
        os.replace(tmp, self.cfg)

    def reload(self, key: str, **changes) -> dict:
        """Changes settings, SIGHUP, waits for the reload to be applied;
        checks /status and the counter. Returns /status `reloads.last`
        with the times (monotonic) of the signal and of seeing it applied
        under "_sent" and "_seen"."""
        self.s.update(changes)
        self.write()
        sent = time.monotonic()
        self.upf.proc.send_signal(signal.SIGHUP)
        self.applied += 1
        want = self.applied

        def done() -> bool:
            if self.upf.proc.poll() is not None:
                raise AssertionError(f"upf exited with status {self.upf.proc.returncode}")
            r = self.upf.status()["reloads"]
            if r["rejected"]:
                raise AssertionError(f"reload rejected: {r['last']}")
            return r["applied"] >= want
        upfrun.wait_for(f"reload {want} ({key}) applied", done, 20, poll=0.02)
        seen = time.monotonic()
        last = self.upf.status()["reloads"]["last"]
        n = upfrun.metric(self.upf.metrics(), "upf_config_reloads_total", result="applied")
        check(last["result"] == "applied" and last.get("trigger") == "signal" and key in last["summary"]
              and n == want,
              f"reload {want}: /status reloads.last applied, summary names {key} ({last['summary']!r}); "
              f'upf_config_reloads_total{{result="applied"}} = {n}')
        last["_sent"], last["_seen"] = sent, seen
        return last

    def spawn(self, name: str, cmd: List[str], ns: Optional[str] = None) -> subprocess.Popen:
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        p = subprocess.Popen(cmd, stdout=open(os.path.join(self.d, f"{name}.log"), "w"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def smf(self, name: str, addr: str, gnb_teid: int) -> Tuple[subprocess.Popen, dict]:
        """smf-sim from `addr`: one session with CHOOSE, then holds it
        (answering heartbeats) until the test ends."""
        sessions = os.path.join(self.d, f"{name}-sessions.json")
        gate = os.path.join(self.d, f"{name}-gate")
        os.mkdir(gate)
        p = self.spawn(name, [os.path.join(self.bin, "smf-sim"), "--upf", f"{N4_UPF}:8805", "--bind", f"{addr}:0",
                              "-n", "1", "--gnb", "192.168.1.2", "--gnb-teid-start", hex(gnb_teid),
                              "--gate", gate, "--delete", "--gnb-sessions", sessions], ns=self.ns_gnb)
        upfrun.wait_for(f"{name}'s session file", lambda: os.path.exists(sessions) or p.poll() is not None, 30)
        if p.poll() is not None:
            raise AssertionError(f"{name} exited: {open(os.path.join(self.d, name + '.log')).read()[-800:]}")
        return p, json.load(open(sessions))["sessions"][0]

    def start_gnb(self, files: List[str]) -> None:
        if self.gnb is not None:
            self.gnb.send_signal(signal.SIGTERM)
            self.gnb.wait(10)
        ready = os.path.join(self.d, "gnb.ready")
        if os.path.exists(ready):
            os.remove(ready)
        cmd = [os.path.join(self.bin, "gnb-sim"), "--upf", "192.168.1.1"]
        for f in files:
            cmd += ["--sessions", f]
        self.gnb = self.spawn("gnb", cmd + ["--ready-file", ready], ns=self.ns_gnb)
        upfrun.wait_for("gnb-sim ready", lambda: os.path.exists(ready) or self.gnb.poll() is not None, 20)
        if self.gnb.poll() is not None:
            raise AssertionError("gnb-sim exited")

    def ping(self, ue: str, n: int = 3) -> int:
        r = nsx(self.ns_gnb, "ping", "-c", str(n), "-i", "0.2", "-W", "1", "-I", ue, self.dn)
        m = re.search(r"(\d+) received", r.stdout)
        return int(m.group(1)) if m else 0

    def ul_dst_macs(self, ue: str, n: int = 3, timeout: float = 15) -> List[str]:
        """Sends pings from `ue` to an address beyond N6's subnet (so that
        they go to the gateway; the data network's own 10.200.0.254 is on
        the link) until tcpdump on the data network's veth captured `n` of
        them; returns their destination MACs."""
        out, err = os.path.join(self.d, "tcpdump.out"), os.path.join(self.d, "tcpdump.err")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns_dn, "tcpdump", "-l", "-n", "-e", "-i", "dn-n6", "-c", str(n),
                              f"icmp[icmptype] == icmp-echo and src host {ue}"],
                             stdout=open(out, "w"), stderr=open(err, "w"))
        try:
            upfrun.wait_for("tcpdump listening", lambda: "listening on" in open(err).read() or p.poll() is not None, 10)
            deadline = time.monotonic() + timeout
            while p.poll() is None and time.monotonic() < deadline:
                nsx(self.ns_gnb, "ping", "-c", str(n), "-i", "0.2", "-W", "1", "-I", ue, OFF_LINK)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
        return re.findall(r"[0-9a-f:]{17} > ([0-9a-f:]{17}),", open(out).read())

    def error_indication(self, teid: int) -> None:
        """A GTP-U Error Indication (TS 29.281 7.3.1) from the gNB to the UPF's N3."""
        ies = bytes([16]) + struct.pack("!I", teid) + bytes([133, 0, 4]) + socket.inet_aton("192.168.1.2")
        msg = struct.pack("!BBHIHBB", 0x32, 26, 4 + len(ies), 0, 0, 0, 0) + ies
        code = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.sendto(bytes.fromhex(sys.argv[1]), ('192.168.1.1', 2152))")
        r = nsx(self.ns_gnb, "python3", "-c", code, msg.hex())
        if r.returncode != 0:
            raise AssertionError(f"sending the Error Indication: {r.stderr}")

    def associations(self) -> List[str]:
        return sorted(a["node_id"] for a in self.upf.status()["pfcp"]["associations"])

    def not_allowed(self) -> float:
        return upfrun.metric(self.upf.metrics(), "upf_pfcp_messages_total", type="not_allowed", direction="rx") or 0


def step_log_level(r: Rig) -> None:
    def ei_debug_line(teid: int) -> bool:
        """Sends an Error Indication for `teid`; waits for its warning (the
        control thread handled it: N4's debug line comes just before it);
        says whether the debug line is in the log."""
        r.error_indication(teid)
        warn = f"GTP-U Error Indication from 192.168.1.2: it does not know TEID {teid:#x}"
        upfrun.wait_for(f"the warning for TEID {teid:#x}", lambda: warn in r.upf.log(), 10)
        dbg = f"GTP-U Error Indication from 192.168.1.2 for TEID {teid:#x}: reported for"
        return dbg in r.upf.log()

    dbg = ei_debug_line(0xE1)
    check(not dbg, "log.level info: an Error Indication logs its warning, not N4's debug line")
    r.reload("log.level", level="debug")
    dbg = ei_debug_line(0xE2)
    check(dbg, "after a reload to log.level debug: N4's debug line for the Error Indication appears")
    r.reload("log.level", level="info")
    dbg = ei_debug_line(0xE3)
    check(not dbg, "after a reload back to info: the debug line no longer appears")


def step_gateway(r: Rig, ue: str) -> None:
    macs = r.ul_dst_macs(ue)
    check(macs == [DN_MAC] * 3, f"n6 gateway {GW1} (ARP): UL frames leave N6 to {DN_MAC}: {macs}")
    r.reload("interfaces.n6.neighbors", neighbors=f'{GW1}: "{MAC_FD}"')
    macs = r.ul_dst_macs(ue)
    check(macs == [MAC_FD] * 3, f"a static neighbour for the gateway overrides the learned MAC: UL to {MAC_FD}: {macs}")
    r.reload("interfaces.n6.gateway", gateway=GW2, neighbors=f'{GW2}: "{MAC_FC}"')
    macs = r.ul_dst_macs(ue)
    check(macs == [MAC_FC] * 3, f"a new gateway {GW2} (with its neighbour entry): UL to {MAC_FC}: {macs}")
    r.reload("interfaces.n6.gateway", gateway=GW1, neighbors="")
    macs = r.ul_dst_macs(ue)
    check(macs == [DN_MAC] * 3, f"back to {GW1} without a static entry: resolved by ARP again, UL to {DN_MAC}: {macs}")
    got = r.ping(ue)
    check(got == 3, f"UE {ue} pings the data network again: {got} of 3")


def in_pool(ip: str, pool: Tuple[str, int, int]) -> bool:
    import ipaddress
    return ipaddress.ip_address(ip) in ipaddress.ip_network(pool[0])


def teid(x) -> int:
    return int(x, 0) if isinstance(x, str) else int(x)


def main(bin_dir: str, d: str) -> int:
    r = Rig(bin_dir, d)
    t_start = time.monotonic()
    for a in (PEER_P, SMF_B):
        subprocess.run(["ip", "-n", r.ns_gnb, "addr", "add", f"{a}/24", "dev", "smf-n4"], check=True)
    r.write()
    r.upf = upfrun.Upf(os.path.join(bin_dir, "upf"), r.cfg, os.path.join(d, "upf.log"), r.prefix, netns=r.ns_upf)
    peer_log = os.path.join(d, "peer.jsonl")
    try:
        r.upf.wait_running(60)
        # A PFCP session from SMF A, with the UE address and UL TEID chosen
        # from pool A and its TEID range.
        _, sa = r.smf("smf-a", SMF_A, 0x200)
        ue_a, teid_a = sa["ue_ip"], teid(sa["ul_teid"])
        check(in_pool(ue_a, POOL_A) and POOL_A[1] <= teid_a <= POOL_A[2],
              f"SMF A's session: UE {ue_a} from {POOL_A[0]}, UL TEID {teid_a:#x} from the range")
        files = [os.path.join(d, "smf-a-sessions.json")]
        r.start_gnb(files)
        got = r.ping(ue_a)
        check(got == 3, f"UE {ue_a} pings the data network through the UPF: {got} of 3")

        step_log_level(r)
        step_gateway(r, ue_a)

        # UE pool and TEID range.
        r.reload("ue_pools", pool=POOL_B)
        last = r.upf.status()["reloads"]["last"]
        check("teid_range" in last["summary"], f"the same reload changes teid_range: {last['summary']!r}")
        got = r.ping(ue_a)
        check(got == 3, f"after the pool/range reload, UE {ue_a} (old pool and TEID) still gets through: {got} of 3")
        _, sb = r.smf("smf-b", SMF_B, 0x300)
        ue_b, teid_b = sb["ue_ip"], teid(sb["ul_teid"])
        check(in_pool(ue_b, POOL_B) and POOL_B[1] <= teid_b <= POOL_B[2],
              f"a session established after it (SMF B): UE {ue_b} from {POOL_B[0]}, UL TEID {teid_b:#x} "
              f"from {POOL_B[1]:#x}..={POOL_B[2]:#x}")
        files.append(os.path.join(d, "smf-b-sessions.json"))
        r.start_gnb(files)
        got = (r.ping(ue_a), r.ping(ue_b))
        check(got == (3, 3), f"both UEs get through, old and new pool: {got} of 3 each")

        # The allowlist: our peer from an address not (yet) on it.
        r.spawn("peer", ["/usr/bin/python3", os.path.abspath(__file__), "peer", PEER_P, f"{N4_UPF}:8805", peer_log],
                ns=r.ns_gnb)
        na0 = r.not_allowed()
        upfrun.wait_for("3 Association Setup Requests from the peer",
                        lambda: len(peer_events(peer_log, "setup_sent")) >= 3, 10)
        upfrun.wait_for("the UPF counting them as not allowed", lambda: r.not_allowed() >= na0 + 3, 5)
        check(not peer_events(peer_log, "setup_resp") and PEER_P not in r.associations(),
              f"a peer outside pfcp.peers is not answered; counted as not_allowed "
              f"({r.not_allowed():.0f}); associations {r.associations()}")
        r.reload("pfcp.peers", peers=f"[{SMF_A}, {SMF_B}, {PEER_P}]")
        upfrun.wait_for("the peer's association", lambda: bool(peer_events(peer_log, "setup_resp")), 10)
        resp = peer_events(peer_log, "setup_resp")
        # /status is refreshed every 50 ms: give it that to list the association.
        try:
            upfrun.wait_for("/status to list the peer", lambda: PEER_P in r.associations(), 2)
        except AssertionError:
            pass  # judged just below
        check(resp[0]["cause"] == 1 and PEER_P in r.associations(),
              f"after a reload adding it, the peer associates (cause {resp[0]['cause']}); associations {r.associations()}")

        # The heartbeat interval: 30 s so far (no heartbeat to the peer yet).
        check(not peer_events(peer_log, "hb_req"), "at 30 s, no heartbeat reached the peer yet")
        for interval, label in ((1.0, "1s"), (0.4, "400ms")):
            last = r.reload("pfcp.heartbeat_interval", heartbeat=label)
            t0 = last["_sent"]
            upfrun.wait_for(f"5 heartbeats at {label}", lambda: len(peer_events(peer_log, "hb_req", t0)) >= 5,
                            10 * interval + 5)
            ts = [e["t"] for e in peer_events(peer_log, "hb_req", t0)]
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            med = statistics.median(gaps)
            check(abs(med - interval) <= 0.25 * interval,
                  f"heartbeat_interval {label}: the UPF's heartbeats reach the peer every {med:.3f} s "
                  f"(median of {', '.join(f'{g:.3f}' for g in gaps)})")
            # The next heartbeat is due one new interval after the previous
            # one (at once when that is past), never an old interval later;
            # counted from when /status showed the reload applied, so that a
            # slow apply on a busy machine does not count against it.
            first = ts[0] - last["_seen"]
            check(first <= interval + 0.3,
                  f"heartbeat_interval {label}: the first heartbeat comes {max(first, 0.0):.3f} s after the "
                  f"reload, not one old interval later")

        # Removing the peer: its association stays (and is still served)
        # until it releases it; then it is refused like any stranger.
        last = r.reload("pfcp.peers", peers=f"[{SMF_A}, {SMF_B}]")
        t0 = last["_seen"]
        upfrun.wait_for("2 of the peer's heartbeats answered after the reload",
                        lambda: len(peer_events(peer_log, "hb_resp", t0)) >= 2, 10)
        check(PEER_P in r.associations() and re.search(
                  rf"SMF Ipv4\({re.escape(PEER_P)}\) is no longer in pfcp.peers", r.upf.log()) is not None,
              f"after a reload removing it, the associated peer keeps its association ({r.associations()}), "
              f"its heartbeats are still answered, and a warning names it")
        na0 = r.not_allowed()
        open(peer_log + ".release", "w").close()
        upfrun.wait_for("the peer's Association Release answered",
                        lambda: bool(peer_events(peer_log, "release_resp")), 10)
        t1 = time.monotonic()
        upfrun.wait_for("3 Setup Requests after the release",
                        lambda: len(peer_events(peer_log, "setup_sent", t1)) >= 3, 10)
        upfrun.wait_for("them counted as not allowed", lambda: r.not_allowed() >= na0 + 3, 5)
        try:
            upfrun.wait_for("/status to drop the peer", lambda: PEER_P not in r.associations(), 2)
        except AssertionError:
            pass  # judged just below
        rel = peer_events(peer_log, "release_resp")[0]
        again = [e for e in peer_events(peer_log, "setup_resp") if e["t"] > t1]
        check(rel["cause"] == 1 and not again and PEER_P not in r.associations(),
              f"once it released the association (cause {rel['cause']}), the peer's new Setup Requests are "
              f"dropped and counted as not_allowed (+{r.not_allowed() - na0:.0f}, answered {len(again)}); "
              f"associations {r.associations()}")

        # Removing an SMF with a session: the session survives the reload.
        st = r.upf.status()["sessions"]
        check(st["pfcp"] == 2, f"two PFCP sessions before removing SMF A: {st}")
        r.reload("pfcp.peers", peers=f"[{SMF_B}]")
        got = (r.ping(ue_a), r.ping(ue_b))
        st = r.upf.status()["sessions"]
        check(got == (3, 3) and st["pfcp"] == 2 and sorted(r.associations()) == sorted([SMF_A, SMF_B]),
              f"after a reload removing SMF A, its session and association stay: pings {got} of 3 each, "
              f"sessions {st}, associations {r.associations()}")

        n = upfrun.metric(r.upf.metrics(), "upf_config_reloads_total", result="applied")
        rej = upfrun.metric(r.upf.metrics(), "upf_config_reloads_total", result="rejected")
        check((n, rej) == (r.applied, 0), f"upf_config_reloads_total: applied {n}, rejected {rej} ({r.applied} reloads)")
        rc = r.upf.stop(10)
        check(rc == 0, f"SIGTERM stops the UPF with status 0 (got {rc})")
        print(f"reload-runtime: {r.applied} reloads, {time.monotonic() - t_start:.1f} s", flush=True)
    except AssertionError as e:
        check(False, str(e))
    finally:
        for p in r.procs[::-1]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        r.upf.kill()
        subprocess.run(["rm", "-rf", upfrun.eal_runtime_dir(r.prefix)])
        if FAILS:
            for f in ("upf.log", "smf-a.log", "smf-b.log", "gnb.log", "peer.jsonl"):
                path = os.path.join(d, f)
                if os.path.exists(path):
                    print(f"---- {f} (tail)\n" + "".join(open(path).readlines()[-30:]))
    print(f"{len(FAILS)} failure(s)" if FAILS else "all checks passed", flush=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "peer":
        sys.exit(peer(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(main(sys.argv[1], sys.argv[2]))
