#!/usr/bin/python3
"""`upf run` on net_af_packet over veth pairs in private network namespaces
(issue 3 item 6): the kernel's `ping` from the peer namespace gets replies
from the UPF's N3 and N6 addresses (the kernel resolves them with ARP, which
the UPF answers), /metrics counts them, the UPF locks the memory it maps
after EAL start, exits 0 on SIGTERM and leaves no EAL runtime directory;
run again without CAP_IPC_LOCK and with a small memlock limit, it locks
nothing, says so, and still answers ping.

Names (all with the PID): namespaces upfnet<pid>-u (the UPF) and
upfnet<pid>-p (the peer: 192.168.1.2/24 on N3, 10.200.0.254/24 on N6);
veth pairs n3u/n3p and n6u/n6p created straight inside them. The caller
(33-upf-netns.sh) removes the namespaces whatever happens.

Usage: upf_netns.py UPF_BINARY WORKDIR NS_PREFIX
"""

from __future__ import annotations

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
