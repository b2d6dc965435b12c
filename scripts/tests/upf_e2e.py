#!/usr/bin/python3
"""A simulated UE through `upf run` on the namespace testbed, static
sessions (the demo's config/static-demo.yaml with a private DPDK prefix and
API port): the UE pings the data network, downloads the testbed's 10 MiB
file (sha256 checked) and sends UDP at twice its 10 Mbit/s MBR; /metrics
counts the traffic and drops only what the meter drops; a reload that
removes the MBR session logs its final usage; SIGTERM stops the
UPF with status 0 and nothing left behind.

Usage: upf_e2e.py UPF_BIN GNBSIM_BIN WORKDIR  (testbed env in the environment:
NS_GNB, NS_UPF, NS_DN, DN_IP, HTTP_URL, TESTBED_RUNDIR)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check, nsx  # noqa: E402


def main(upf_bin: str, gnbsim: str, d: str) -> int:
    e = os.environ
    ns_gnb, ns_upf, dn, url = e["NS_GNB"], e["NS_UPF"], e["DN_IP"], e["HTTP_URL"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    prefix = f"upfe2e-{os.getpid()}"
    text = open(os.path.join(root, "config", "static-demo.yaml")).read()
    text = text.replace('"upf-static-demo"', f'"{prefix}"').replace("listen: 127.0.0.1:9100", "listen: 127.0.0.1:0")
    cfg = os.path.join(d, "upf.yaml")
    open(cfg, "w").write(text)
    upf = upfrun.Upf(upf_bin, cfg, os.path.join(d, "upf.log"), prefix, netns=ns_upf)
    gnb = None
    try:
        upf.wait_running()
        ready = os.path.join(d, "gnb.ready")
        gnb = subprocess.Popen(["ip", "netns", "exec", ns_gnb, gnbsim, "--upf", "192.168.1.1", "--mtu", "1500",
                                "--ue", "10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9",
                                "--ue", "10.45.0.3,ul_teid=0x101,dl_teid=0x201,qfi=9",
                                "--stats-file", os.path.join(d, "gnb.json"), "--ready-file", ready],
                               stdout=open(os.path.join(d, "gnb.log"), "w"), stderr=subprocess.STDOUT)
        upfrun.wait_for("gnb-sim ready", lambda: os.path.exists(ready), 20)

        r = nsx(ns_gnb, "ping", "-c", "5", "-i", "0.2", "-W", "2", "-I", "10.45.0.2", dn)
        m = re.search(r"(\d+) received", r.stdout)
        check(m is not None and m.group(1) == "5", f"UE ping {dn} through the UPF: 5 of 5 ({(m.group(0) if m else r.stdout)})")

        out = os.path.join(d, "testfile.bin")
        r = nsx(ns_gnb, "curl", "-sf", "-m", "60", "--interface", "10.45.0.2", "-o", out, url)
        want = open(os.path.join(e["TESTBED_RUNDIR"], "www", "testfile.bin.sha256")).read().split()[0]
        got = hashlib.sha256(open(out, "rb").read()).hexdigest() if r.returncode == 0 else f"curl failed: {r.stderr}"
        check(got == want, "UE downloads the 10 MiB test file through the UPF, sha256 intact")

        before = upf.metrics()
        # Delivered IP rate (1400-byte datagrams + 28 bytes of headers, what
        # the meter counts) from the server's per-second report, the first
        # second left out (the 100 ms bucket starts full). Within 10 % below
        # and 5 % above the MBR; suite 41 checks +-5 % with captures on both
        # sides of the UPF. One more try if the first is off: a generator
        # starved of CPU on a shared machine offers in clumps deeper than
        # the bucket.
        for attempt in range(2):
            r = nsx(ns_gnb, "iperf3", "--json", "-B", "10.45.0.3", "-c", dn, "-p", "5202", "-u", "-b", "20M",
                    "-l", "1400", "-w", "2M", "-t", "4", "--get-server-output", timeout=40)
            try:
                report = json.loads(r.stdout)["server_output_text"]
                ivs = [iv for iv in re.findall(r"([\d.]+)-([\d.]+)\s+sec\s.*?\s(\d+)/(\d+) \(", report)
                       if float(iv[1]) - float(iv[0]) < 1.5][1:]
                secs = sum(float(b) - float(a) for a, b, _, _ in ivs)
                rate = sum(int(t) - int(lost) for _, _, lost, t in ivs) * 1428 * 8 / secs / 1e6
            except (ValueError, KeyError, ZeroDivisionError) as ex:
                rate = -1.0
                print(f"iperf3 output: {r.stdout[-500:]} {r.stderr[-300:]} ({ex!r})")
            print(f"try {attempt + 1}: {rate:.2f} Mbit/s")
            if 9.0 <= rate <= 10.5:
                break
        check(9.0 <= rate <= 10.5, f"UDP offered at 20 Mbit/s against an MBR of 10 Mbit/s: {rate:.2f} Mbit/s delivered (IP)")
        after = upf.metrics()
        mbr = (upfrun.metric(after, "upf_dropped_packets_total", reason="mbr_exceeded") or 0) - (
            upfrun.metric(before, "upf_dropped_packets_total", reason="mbr_exceeded") or 0)
        check(mbr > 0, f"the meter's drops are counted: mbr_exceeded +{mbr:.0f}")

        m = upf.metrics()
        drops = {k[1][0][1]: v for k, v in m.items() if k[0] == "upf_dropped_packets_total" and v > 0}
        check(set(drops) <= {"mbr_exceeded"}, f"no drop but the meter's: {drops}")
        for i in ("n3", "n6"):
            rx = upfrun.metric(m, "upf_rx_packets_total", interface=i) or 0
            tx = upfrun.metric(m, "upf_tx_packets_total", interface=i) or 0
            check(rx > 5000 and tx > 2000, f"{i}: the traffic is counted (rx {rx:.0f}, tx {tx:.0f})")
        # A static session has no SMF to report to: removing it (reload)
        # logs its final usage. Session 2 carried the UDP run's uplink.
        open(cfg, "w").write(text[:text.index("  - id: 2")])
        upf.proc.send_signal(signal.SIGHUP)
        upfrun.wait_for("the final usage in the log", lambda: re.search(
            r"static session \S+ URR \d+: final usage (\d+) bytes UL", upf.log()) is not None, 20)
        mm = re.search(r"static session \S+ URR \d+: final usage (\d+) bytes UL, (\d+) bytes DL", upf.log())
        check(int(mm.group(1)) > 4_000_000, f"a removed static session's final usage is logged: {mm.group(0)}")
        rc = upf.stop()
    finally:
        if gnb is not None:
            gnb.terminate()
            gnb.wait(10)
        upf.kill()
    check(rc == 0, f"exit status 0 on SIGTERM (got {rc})")
    check(not os.path.exists(upfrun.eal_runtime_dir(prefix)), "no EAL runtime directory left behind")
    if FAILS:
        print(f"{len(FAILS)} check(s) failed; UPF log:\n{upf.log()}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
