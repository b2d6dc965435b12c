#!/bin/bash
# Hugepage mode of upf run (needs root and hugepages; run from the repo root
# with a kit from perf/bundle.sh in ./devkit): a failed start and a clean stop
# leave no hugepage files, and the pages come back.
cd "$(dirname "$0")/../.." || exit 1
D="${KIT:-$PWD/devkit}"
echo 1024 > /proc/sys/vm/nr_hugepages; mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
grep -E "HugePages_(Total|Free)" /proc/meminfo
left() {
    echo "hugepage files: $(find /dev/hugepages -type f | wc -l); free: $(awk '/HugePages_Free/{print $2}' /proc/meminfo);" \
        "runtime dir: $(find /var/run/dpdk/hugechk -mindepth 1 2>/dev/null | wc -l) entries"
}
cfg() { cat <<Y
node_id: 192.168.1.1
dpdk: { args: ["-m", "256", "--file-prefix", "hugechk"], mbufs: 8192 }
cores: { control: 0, workers: [1] }
interfaces:
  n3: { device: "$1", address: 192.168.1.1/24 }
  n6: { device: "net_null1", address: 10.200.0.1/24, gateway: 10.200.0.254, neighbors: { 10.200.0.254: "02:00:00:00:00:fe" } }
api: { listen: 127.0.0.1:19100 }
sessions:
  - { id: 1, ue_ip: 10.45.0.2, uplink: { teid: 0x100 }, downlink: { gnb: 192.168.1.2, teid: 0x200, qfi: 9 } }
Y
}
cfg "net_bogus0" > /tmp/bad.yaml; cfg "net_null0" > /tmp/good.yaml
echo "--- bad device"; timeout 30 "$D/upf" run --config /tmp/bad.yaml 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
left
echo "--- good run, SIGTERM after 4 s"
"$D/upf" run --config /tmp/good.yaml > /tmp/good.log 2>&1 & p=$!
sleep 4; echo "while running: files $(find /dev/hugepages -type f | wc -l), free $(awk '/HugePages_Free/{print $2}' /proc/meminfo)"
curl -s 127.0.0.1:19100/metrics 2>/dev/null | grep -E "^upf_rx_packets_total" | head -2
kill -TERM $p; wait $p; echo "exit $?"; tail -2 /tmp/good.log
left
