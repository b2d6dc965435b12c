#!/usr/bin/python3
"""Sessions set up over N4 carry a simulated UE's traffic through `upf run`
on the namespace testbed: config/demo.yaml with a private DPDK prefix and
API port and PFCP on the testbed's N4 link (10.100.0.1:8805); smf-sim in the
gNB namespace (from 10.100.0.2) establishes two sessions, the UPF choosing
F-TEIDs and UE addresses; gnb-sim takes them from smf-sim's session file.
Checks: the association and the sessions on /status and /metrics, ping and
an HTTP download (sha256) from a UE through the UPF, a path switch with
SNDEM (End Marker on each old tunnel, traffic on the new one), and the
Session Deletion Responses' usage equal, to the byte, to the inner bytes
gnb-sim sent and received. SIGTERM stops the UPF with status 0.

Usage: upf_n4.py BIN_DIR WORKDIR  (testbed env: NS_GNB, NS_UPF, DN_IP,
HTTP_URL, TESTBED_RUNDIR)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upfrun  # noqa: E402
from upfrun import FAILS, check, nsx  # noqa: E402


def main(bin_dir: str, d: str) -> int:
    e = os.environ
    ns_gnb, ns_upf, dn, url = e["NS_GNB"], e["NS_UPF"], e["DN_IP"], e["HTTP_URL"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    prefix = f"upfn4-{os.getpid()}"
    text = open(os.path.join(root, "config", "demo.yaml")).read()
    text = re.sub(r'"--file-prefix", "[^"]*"', f'"--file-prefix", "{prefix}"', text)
    text = text.replace("listen: 127.0.0.1:9100", "listen: 127.0.0.1:0")
    text = re.sub(r"listen: 127\.0\.0\.1:8805", "listen: 10.100.0.1:8805", text)
    cfg = os.path.join(d, "upf.yaml")
    open(cfg, "w").write(text)
    upf = upfrun.Upf(os.path.join(bin_dir, "upf"), cfg, os.path.join(d, "upf.log"), prefix, netns=ns_upf)
    gnb = sim = None
    gnb_stats = os.path.join(d, "gnb.json")
    try:
        upf.wait_running()
        check("N4 (PFCP) listening on 10.100.0.1:8805" in upf.log(), "upf run listens for PFCP on pfcp.listen")
        # Before any PFCP message: the N4 exchanges are listed at 0, so that
        # rate() sees the first increase and dashboards see 0, not no data.
        m0 = upf.metrics()
        at_start = {(t, d): upfrun.metric(m0, "upf_pfcp_messages_total", type=t, direction=d)
                    for t, d in (("association_setup_request", "rx"), ("session_establishment_request", "rx"),
                                 ("session_establishment_response", "tx"), ("session_report_request", "tx"),
                                 ("heartbeat_request", "tx"), ("malformed", "rx"))}
        check(all(v == 0 for v in at_start.values()),
              f"upf_pfcp_messages_total lists the N4 exchanges at 0 before the first message: {at_start}")

        # smf-sim: two sessions with CHOOSE, kept while the UEs work, then a
        # path switch with End Markers, a query and the deletion.
        sessions = os.path.join(d, "sessions.json")
        gate = os.path.join(d, "gate")
        os.mkdir(gate)
        sim = subprocess.Popen(
            ["ip", "netns", "exec", ns_gnb, os.path.join(bin_dir, "smf-sim"), "--upf", "10.100.0.1:8805",
             "--bind", "10.100.0.2:0", "-n", "2", "--gnb", "192.168.1.2", "--gnb-teid-start", "0x200",
             "--modify", "--sndem", "--new-gnb-teid-start", "0x300", "--delete",
             "--gate", gate, "--gnb-sessions", sessions, "--verbose", "--json", os.path.join(d, "smf.json")],
            stdout=open(os.path.join(d, "smf.log"), "w"), stderr=subprocess.STDOUT)
        upfrun.wait_for("smf-sim's session file", lambda: os.path.exists(sessions), 20)
        est = json.load(open(sessions))["sessions"]
        check(len(est) == 2 and all(s["ue_ip"].startswith("10.45.") for s in est),
              f"two sessions established with UE addresses from the pool: {[s['ue_ip'] for s in est]}")
        st = upf.status()
        assoc = st.get("pfcp", {}).get("associations", [])
        check(len(assoc) == 1 and assoc[0].get("sessions") == 2, f"/status lists the association with 2 sessions: {assoc}")
        m = upf.metrics()
        check((upfrun.metric(m, "upf_sessions"), upfrun.metric(m, "upf_sessions_by_origin", origin="pfcp")) == (2, 2),
              "upf_sessions counts the PFCP sessions")
        check((upfrun.metric(m, "upf_pfcp_messages_total", type="session_establishment_request", direction="rx") or 0) >= 2,
              "upf_pfcp_messages_total counts the establishments")

        ready = os.path.join(d, "gnb.ready")
        gnb = subprocess.Popen(["ip", "netns", "exec", ns_gnb, os.path.join(bin_dir, "gnb-sim"), "--upf", "192.168.1.1",
                                "--mtu", "1500", "--sessions", sessions, "--stats-file", gnb_stats, "--ready-file", ready],
                               stdout=open(os.path.join(d, "gnb.log"), "w"), stderr=subprocess.STDOUT)
        upfrun.wait_for("gnb-sim ready", lambda: os.path.exists(ready), 20)
        ue0, ue1 = est[0]["ue_ip"], est[1]["ue_ip"]
        for ue in (ue0, ue1):
            r = nsx(ns_gnb, "ping", "-c", "5", "-i", "0.2", "-W", "2", "-I", ue, dn)
            mm = re.search(r"(\d+) received", r.stdout)
            check(mm is not None and mm.group(1) == "5", f"UE {ue} pings {dn} through the UPF: 5 of 5")
        out = os.path.join(d, "testfile.bin")
        r = nsx(ns_gnb, "curl", "-sf", "-m", "60", "--interface", ue0, "-o", out, url)
        want = open(os.path.join(e["TESTBED_RUNDIR"], "www", "testfile.bin.sha256")).read().split()[0]
        got = hashlib.sha256(open(out, "rb").read()).hexdigest() if r.returncode == 0 else f"curl failed: {r.stderr}"
        check(got == want, f"UE {ue0} downloads the test file through the UPF, sha256 intact")

        # A reload that adds a static session (its UE address in the pool,
        # now reserved) leaves the PFCP sessions alone.
        open(cfg, "w").write(text + """
sessions:
  - id: 1
    ue_ip: 10.45.255.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1.2, teid: 0x200, qfi: 9 }
""")
        upf.proc.send_signal(signal.SIGHUP)
        upfrun.wait_for("the reload", lambda: (upfrun.metric(upf.metrics(), "upf_config_reloads_total",
                                                              result="applied") or 0) >= 1, 20)
        m = upf.metrics()
        by = (upfrun.metric(m, "upf_sessions_by_origin", origin="static"),
              upfrun.metric(m, "upf_sessions_by_origin", origin="pfcp"), upfrun.metric(m, "upf_sessions"))
        check(by == (1, 2, 3), f"after the reload: 1 static and 2 PFCP sessions, 3 in all ({by})")
        r = nsx(ns_gnb, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", ue0, dn)
        mm = re.search(r"(\d+) received", r.stdout)
        check(mm is not None and mm.group(1) == "3", f"UE {ue0}'s PFCP session carries traffic after the reload: 3 of 3")

        # Path switch (DL to TEID 0x300+i, SNDEM), then traffic on the new tunnel.
        open(os.path.join(gate, "modify"), "w").close()
        smf_log = os.path.join(d, "smf.log")
        upfrun.wait_for("the path switch", lambda: re.search(r"^modify", open(smf_log).read(), re.M) is not None, 20)
        r = nsx(ns_gnb, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", ue1, dn)
        mm = re.search(r"(\d+) received", r.stdout)
        check(mm is not None and mm.group(1) == "3", f"UE {ue1} pings after the path switch: 3 of 3")
        # Traffic stopped: delete; the reports must hold every byte.
        open(os.path.join(gate, "delete"), "w").close()
        sim.wait(60)
        check(sim.returncode == 0, f"smf-sim: every request accepted (exit {sim.returncode})")
        # gnb-sim's counters, then compare with the usage reports.
        gnb.send_signal(signal.SIGTERM)
        gnb.wait(10)
        g = json.load(open(gnb_stats))
        by_ue = {u["ue_ip"]: u for u in g["ues"]}
        ems = sum(u["end_markers"] for u in g["ues"])
        check(ems == 2, f"an End Marker on each old tunnel (gnb-sim saw {ems})")
        alt = {u["ue_ip"]: u["dl_packets_alt"] for u in g["ues"]}
        check(alt.get(ue1, 0) >= 3, f"downlink on the new tunnel after the switch ({alt})")
        # Usage reports per session (smf-sim -v: "usage: session CP urr ..
        # ul X dl Y bytes"), summed: each report covers what came since the
        # previous one.
        reported = {}
        for mm in re.finditer(r"^usage: session (\d+) urr \d+ .* ul (\d+) dl (\d+) bytes", open(smf_log).read(), re.M):
            cp, u, dd = int(mm.group(1)), int(mm.group(2)), int(mm.group(3))
            a, b = reported.get(cp, (0, 0))
            reported[cp] = (a + u, b + dd)
        cp_of = {s["ue_ip"]: int(s["id"]) for s in est}
        for ue, exact in ((ue1, True), (ue0, False)):
            rep_ul, rep_dl = reported.get(cp_of[ue], (0, 0))
            ul, dl = by_ue[ue]["ul_bytes"], by_ue[ue]["dl_bytes"]
            print(f"UE {ue}: usage reported UL {rep_ul} DL {rep_dl}; gnb-sim sent UL {ul}, received DL {dl}")
            if exact:
                # ping only: nothing dropped anywhere.
                check((rep_ul, rep_dl) == (ul, dl), f"UE {ue}: reported usage = inner bytes the gNB sent and received, to the byte")
            else:
                # The download runs at the MBR: the UPF may drop beyond it,
                # and af_packet may drop; never more reported than sent UL.
                check(0 < rep_ul <= ul and rep_dl >= dl > 10 * 2**20,
                      f"UE {ue}: reported usage within what crossed the UPF (UL {rep_ul} <= {ul}, DL {rep_dl} >= {dl})")
        # The metrics follow the control thread every 50 ms: wait for the
        # deletions to show (this read once raced them).
        def counts():
            m = upf.metrics()
            return (upfrun.metric(m, "upf_sessions_by_origin", origin="pfcp"), upfrun.metric(m, "upf_sessions"))
        deadline = time.monotonic() + 2.0
        got = counts()
        while got != (0, 1) and time.monotonic() < deadline:
            time.sleep(0.05)
            got = counts()
        check(got == (0, 1), f"no PFCP session left, the static one stays (pfcp, all: {got})")
        status = upf.stop()
        check(status == 0, f"SIGTERM stops the UPF with status 0 (got {status})")
    finally:
        for p in (gnb, sim):
            if p and p.poll() is None:
                p.kill()
        upf.kill()
        if FAILS:
            for f in ("upf.log", "smf.log", "gnb.log"):
                path = os.path.join(d, f)
                if os.path.exists(path):
                    print(f"---- {f} (tail)\n" + "".join(open(path).readlines()[-25:]))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
