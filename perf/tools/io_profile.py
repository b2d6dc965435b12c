#!/usr/bin/python3
"""`perf record -e cpu-clock` of the forwarding thread in io-worker's null-rx
topology (two net_null ports): upf binaries and testpmd io, one after the
other, so that their hot loops can be annotated side by side (this guest
has no PMU counters; cpu-clock samples work, with skid).

  sudo perf/tools/io_profile.py --bin base=target/release/upf [--bin NAME=PATH ...]
        [--testpmd] [--seconds 5] [--outdir DIR]

Writes DIR/NAME.data (and DIR/testpmd.data), then e.g.
  perf report -i DIR/NAME.data --stdio --sort dso,sym
  perf annotate -i DIR/NAME.data --stdio -s upf::datapath::worker_main
Same EAL setup as perf/io-worker.sh (lcores 0,1, --no-huge -m 1024,
65,536 mbufs).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import io_worker  # noqa: E402
import peer_ovs  # noqa: E402


def worker_tid(pid: int) -> int:
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/comm") as f:
            if f.read().strip().startswith(("rte-worker", "lcore-worker")):
                return int(t)
    raise SystemExit(f"io_profile: no rte-worker thread in process {pid}")


def record(pid: int, out: str, seconds: float) -> None:
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000", "-t", str(worker_tid(pid)),
                    "-o", out, "--", "sleep", str(seconds)], check=True, capture_output=True)
    print(f"wrote {out}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--testpmd", action="store_true", help="also testpmd --forward-mode=io")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--outdir", default=".")
    a = ap.parse_args()
    # what io_worker.upf_config reads from its arguments
    a.lcores, a.sessions, a.burst = "0,1", 1, None
    a.tmp = tempfile.mkdtemp(prefix="io-profile.")
    tag = f"ioprof-{os.getpid()}"
    try:
        for spec in a.bin:
            name, _, path = spec.partition("=")
            prefix = f"{tag}-{name}"
            cfg = io_worker.upf_config(a, name, "net_null0", "net_null1", prefix)
            api = open(cfg).read().split("api:")[1].split("listen:")[1].split()[0].strip("\"'")
            with open(os.path.join(a.tmp, f"{name}.log"), "w") as log:
                p = subprocess.Popen([path, "run", "--config", cfg], stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and p.poll() is None:
                    try:
                        if peer_ovs.metric(peer_ovs.prometheus(f"http://{api}/metrics"), "upf_ready") == 1:
                            break
                    except OSError:
                        pass
                    time.sleep(0.1)
                time.sleep(1)
                record(p.pid, os.path.join(a.outdir, f"{name}.data"), a.seconds)
            finally:
                peer_ovs.stop(p)
                peer_ovs.remove_runtime_dir(prefix)
        if a.testpmd:
            prefix = f"{tag}-testpmd"
            argv = ["stdbuf", "-o0", "-e0", "dpdk-testpmd", "-l", a.lcores, "--no-huge", "-m", "1024", "--no-pci",
                    "--file-prefix", prefix, "--vdev", "net_null0", "--vdev", "net_null1", "--", "-i",
                    "--forward-mode=io", "--total-num-mbufs=65536", "--nb-cores=1"]
            tp = peer_ovs.Interactive(argv, "testpmd> ", None, os.path.join(a.tmp, "testpmd.log"))
            try:
                tp.wait_prompt(0, 60)
                tp.cmd("start")
                time.sleep(1)
                record(tp.p.pid, os.path.join(a.outdir, "testpmd.data"), a.seconds)
            finally:
                try:
                    tp.cmd("stop", timeout=20)
                except (peer_ovs.NotMeasured, OSError):
                    pass
                tp.close()
                peer_ovs.remove_runtime_dir(prefix)
    finally:
        subprocess.run(["rm", "-rf", a.tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
