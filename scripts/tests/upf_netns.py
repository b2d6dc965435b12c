#!/usr/bin/python3
"""`upf run` on net_af_packet over veth pairs in private network namespaces
(issue 3 item 6): the kernel's `ping` from the peer namespace gets replies
from the UPF's N3 and N6 addresses (the kernel resolves them with ARP, which
the UPF answers), /metrics counts them, the UPF locks the memory it maps
after EAL start, exits 0 on SIGTERM and leaves no EAL runtime directory;
run again without CAP_IPC_LOCK and with a small memlock limit, it locks
nothing, says so, and still answers ping. N4 on the N3 address (the
Contract's layout, `pfcp.listen: 192.168.1.1:8805`) is served through the
DPDK port: a PFCP Heartbeat Request and an Association Setup Request from a
plain UDP socket in the peer namespace are answered from 192.168.1.1:8805.

Names (all with the PID): namespaces upfnet<pid>-u (the UPF) and
upfnet<pid>-p (the peer: 192.168.1.2/24 on N3, 10.200.0.254/24 on N6);
veth pairs n3u/n3p and n6u/n6p created straight inside them. The caller
(33-upf-netns.sh) removes the namespaces whatever happens.

Usage: upf_netns.py UPF_BINARY WORKDIR NS_PREFIX
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check  # noqa: E402


def sh(*args: str, check_rc: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


# Sends a Heartbeat Request (seq 0x10203) and an Association Setup Request
# (seq 0x10204, Node ID IPv4 192.168.1.2) from 192.168.1.2 to
# 192.168.1.1:8805, both with a Recovery Time Stamp (TS 29.244 sections
# 7.4.4.1, 7.4.4.3; IE types 60 and 96), and prints what came back, as hex,
# with the sender. Runs in the peer namespace.
PFCP_PEER = r'''
import json, socket, struct, sys, time
def ie(t, v):
    return struct.pack("!HH", t, len(v)) + v
def msg(t, seq, body):
    return struct.pack("!BBH", 0x20, t, len(body) + 4) + struct.pack("!I", seq << 8) + body
rts = ie(96, struct.pack("!I", int(time.time()) + 2208988800))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.1.2", 0))
s.settimeout(1.0)
out = []
for m in (msg(1, 0x10203, rts), msg(5, 0x10204, ie(60, bytes([0, 192, 168, 1, 2])) + rts)):
    got = None
    for attempt in range(1, 6):  # the SMF's T1/N1: the first may wait for ARP
        s.sendto(m, ("192.168.1.1", 8805))
        try:
            data, src = s.recvfrom(65535)
            got = [data.hex(), src[0], src[1], attempt]
            break
        except socket.timeout:
            pass
    out.append(got)
print(json.dumps(out))
'''


def pfcp_ies(data: bytes) -> dict:
    """The top-level IEs of a node message (no SEID), by type."""
    ies, o = {}, 8
    while o + 4 <= len(data):
        t, n = int.from_bytes(data[o:o + 2], "big"), int.from_bytes(data[o + 2:o + 4], "big")
        ies[t] = data[o + 4:o + 4 + n]
        o += 4 + n
    return ies


def pfcp_exchange(ns_p: str, upf) -> None:
    r = sh("ip", "netns", "exec", ns_p, "/usr/bin/python3", "-c", PFCP_PEER)
    hb, assoc = json.loads(r.stdout)
    check(hb is not None, f"N4 through DPDK: a Heartbeat Response came back (attempt {hb and hb[3]})")
    if hb is not None:
        data = bytes.fromhex(hb[0])
        check(data[1] == 2 and int.from_bytes(data[4:7], "big") == 0x10203 and (hb[1], hb[2]) == ("192.168.1.1", 8805),
              f"... a Heartbeat Response (type {data[1]}) with the request's sequence number "
              f"({int.from_bytes(data[4:7], 'big'):#x}) from 192.168.1.1:8805 ({hb[1]}:{hb[2]})")
        check(96 in pfcp_ies(data), "... carrying a Recovery Time Stamp")
    check(assoc is not None,
          f"N4 through DPDK: an Association Setup Response came back (attempt {assoc and assoc[3]})")
    if assoc is not None:
        data = bytes.fromhex(assoc[0])
        ies = pfcp_ies(data)
        check(data[1] == 6 and int.from_bytes(data[4:7], "big") == 0x10204 and (assoc[1], assoc[2]) == ("192.168.1.1", 8805),
              f"... an Association Setup Response (type {data[1]}, seq {int.from_bytes(data[4:7], 'big'):#x}) "
              f"from 192.168.1.1:8805 ({assoc[1]}:{assoc[2]})")
        check(ies.get(19) == b"\x01", f"... with Cause 1, Request accepted ({ies.get(19)!r})")

    def counted():
        return (upfrun.metric(upf.metrics(), "upf_pfcp_messages_total",
                              type="heartbeat_request", direction="rx") or 0) >= 1

    upfrun.wait_for("the Heartbeat Request on /metrics", counted, 5)
    m = upf.metrics()
    hb_rx = upfrun.metric(m, "upf_pfcp_messages_total", type="heartbeat_request", direction="rx")
    as_tx = upfrun.metric(m, "upf_pfcp_messages_total", type="association_setup_response", direction="tx")
    check(hb_rx is not None and hb_rx >= 1 and as_tx is not None and as_tx >= 1,
          f"/metrics: heartbeat_request rx {hb_rx} >= 1, association_setup_response tx {as_tx} >= 1")


def main(binary: str, d: str, nsp: str) -> int:
    ns_u, ns_p = f"{nsp}u", f"{nsp}p"
    for ns in (ns_u, ns_p):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    for side in ("n3", "n6"):
        sh("ip", "link", "add", f"{side}u", "netns", ns_u, "type", "veth", "peer", "name", f"{side}p", "netns", ns_p)
    sh("ip", "-n", ns_p, "addr", "add", "192.168.1.2/24", "dev", "n3p")
    sh("ip", "-n", ns_p, "addr", "add", "10.200.0.254/24", "dev", "n6p")
    for ns, dev in ((ns_u, "n3u"), (ns_u, "n6u"), (ns_p, "n3p"), (ns_p, "n6p")):
        # af_packet must see whole frames with finished checksums; the UPF's
        # side carries no kernel IP and no kernel chatter (no IPv6, no ARP).
        sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off", "gso", "off",
           "gro", "off", check_rc=False)
        if ns == ns_u:
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", dev, "arp", "off")
        sh("ip", "-n", ns, "link", "set", dev, "up")
    mac_n3 = sh("ip", "-n", ns_u, "-br", "link", "show", "n3u").stdout.split()[2]

    prefix = f"upfnetns-{os.getpid()}"
    cfg = f"{d}/upf.yaml"
    with open(cfg, "w") as f:
        f.write(f"""\
node_id: 192.168.1.1
dpdk:
  args: [--no-huge, -m, '256', --no-pci, --file-prefix, {prefix}]
  mbufs: 8192
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3: {{ device: 'net_af_packet0,iface=n3u', address: 192.168.1.1/24 }}
  n6: {{ device: 'net_af_packet1,iface=n6u', address: 10.200.0.1/24, gateway: 10.200.0.254 }}
api: {{ listen: 127.0.0.1:0 }}
pfcp: {{ listen: 192.168.1.1:8805 }}
dataplane: {{ idle_backoff: {{ enabled: true, empty_polls: 64, sleep: 100us }} }}
""")
    upf = upfrun.Upf(binary, cfg, f"{d}/upf.log", prefix, netns=ns_u)
    try:
        upf.wait_running()
        st = upf.status()
        n3 = next(i for i in st["interfaces"] if i["name"] == "n3")
        check(n3["mac"] == mac_n3, f"the N3 port has its veth's MAC ({n3['mac']} = {mac_n3})")
        check(n3["link_up"] is True, "N3 link up")
        for addr in ("192.168.1.1", "10.200.0.1"):
            r = sh("ip", "netns", "exec", ns_p, "ping", "-c", "3", "-i", "0.2", "-W", "2", addr, check_rc=False)
            m = re.search(r"(\d+) received", r.stdout)
            check(r.returncode == 0 and m is not None and m.group(1) == "3",
                  f"ping {addr} from the peer namespace: 3 of 3 replies ({r.stdout.strip().splitlines()[-2:]})")
        neigh = sh("ip", "-n", ns_p, "neigh", "show", "192.168.1.1").stdout
        check(mac_n3 in neigh, f"the kernel learned the UPF's N3 MAC by ARP ({neigh.strip()})")

        def counted():
            m = upf.metrics()
            return all((upfrun.metric(m, "upf_tx_packets_total", interface=i) or 0) >= 4 for i in ("n3", "n6"))

        upfrun.wait_for("the replies on /metrics", counted, 5)
        m = upf.metrics()
        for i in ("n3", "n6"):
            rx = upfrun.metric(m, "upf_rx_packets_total", interface=i)
            tx = upfrun.metric(m, "upf_tx_packets_total", interface=i)
            # 3 echo replies + 1 ARP reply at least; the kernel may ARP again.
            check(tx is not None and tx >= 4 and rx is not None and rx >= tx,
                  f"{i}: /metrics counts rx {rx} >= tx {tx} >= 4 (3 echo replies, an ARP reply)")
        check("N4 (PFCP) on interfaces.n3 192.168.1.1:8805 through DPDK" in upf.log(),
              "the log says N4 is served through the DPDK port")
        pfcp_exchange(ns_p, upf)
        # Root has CAP_IPC_LOCK: the upf locks what is mapped after EAL
        # start (mlockall MCL_FUTURE; net_memif's regions, grown tables), so
        # a worker never takes a page fault on it.
        check(st.get("memory_locked") is True, f"/status: memory_locked true as root ({st.get('memory_locked')})")
        rc = upf.stop()
    finally:
        upf.kill()
    check(rc == 0, f"exit status 0 on SIGTERM (got {rc})")
    check(upf.stop_seconds < 1.0, f"stopped within a second ({upf.stop_seconds:.2f} s)")
    check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "no EAL runtime directory left behind")

    # Without CAP_IPC_LOCK and with a small RLIMIT_MEMLOCK the upf must not
    # lock (every later mapping beyond the limit would fail): it says so and
    # works as before.
    # 8 MiB: the kernel's default limit (since 5.16); net_af_packet maps its
    # rings with MAP_LOCKED, which needs some of it.
    wrap = ["setpriv", "--bounding-set", "-ipc_lock", "--", "prlimit", "--memlock=8388608:8388608", "--"]
    upf = upfrun.Upf(binary, cfg, f"{d}/upf-nolock.log", prefix, netns=ns_u, wrap=wrap)
    try:
        upf.wait_running()
        st = upf.status()
        check(st.get("memory_locked") is False and
              "memory not locked (no CAP_IPC_LOCK, RLIMIT_MEMLOCK limited)" in upf.log(),
              "without CAP_IPC_LOCK and with an 8 MiB memlock limit: /status memory_locked false "
              f"({st.get('memory_locked')}), and the log says why")
        locked = upf.proc_status("VmLck")
        check(locked == 0, f"... nothing is locked (VmLck {locked} kB)")
        r = sh("ip", "netns", "exec", ns_p, "ping", "-c", "2", "-i", "0.2", "-W", "2", "192.168.1.1", check_rc=False)
        check(r.returncode == 0 and " 0% packet loss" in r.stdout,
              f"... and it answers ping on N3 ({r.stdout.strip().splitlines()[-2:]})")
        rc = upf.stop()
    finally:
        upf.kill()
    check(rc == 0, f"... and exits 0 on SIGTERM (got {rc})")
    check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "... leaving no EAL runtime directory")
    if FAILS:
        print(f"{len(FAILS)} check(s) failed; UPF log:\n{upf.log()}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
