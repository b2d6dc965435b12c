#!/usr/bin/env bash
# Reserves and mounts hugepages for DPDK with DPDK's own dpdk-hugepages.py.
# Idempotent: does nothing when at least the requested memory is already
# reserved and a hugetlbfs of that page size is mounted.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/hugepages.sh [options]

Reserve hugepages for upf (DPDK) and mount hugetlbfs, using dpdk-hugepages.py.

Options:
  --size SIZE       memory to reserve, with K, M or G suffix (default: 1G)
  --pagesize SIZE   2M or 1G (default: 2M). 1G pages are best reserved at
                    boot: default_hugepagesz=1G hugepagesz=1G hugepages=N
  --node N          reserve on NUMA node N (default: let the kernel spread
                    them); reserve on the node of the NICs (see README)
  --mount DIR       hugetlbfs mount point (default: /dev/hugepages)
  --show            print the current hugepage configuration and exit
  --clear           release reserved pages and unmount, then exit
  --dry-run         print the commands instead of running them
  -h, --help        this help

Examples:
  scripts/hugepages.sh --size 2G                   # 1024 x 2M pages
  scripts/hugepages.sh --pagesize 1G --size 8G --node 0
EOF
}

size=1G pagesize=2M node='' mount_dir=/dev/hugepages action=reserve
while (($#)); do
    case "$1" in
    --size) size="${2:?--size needs a value}"; shift ;;
    --pagesize) pagesize="${2:?--pagesize needs a value}"; shift ;;
    --node) node="${2:?--node needs a value}"; shift ;;
    --mount) mount_dir="${2:?--mount needs a value}"; shift ;;
    --show) action=show ;;
    --clear) action=clear ;;
    --dry-run) export DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

# Bytes of a size with an optional K/M/G suffix.
to_bytes() {
    local v="$1" n unit
    [[ "$v" =~ ^([0-9]+)([KkMmGg]?)$ ]] || die "'$v' is not a size like 512M or 2G"
    n="${BASH_REMATCH[1]}" unit="${BASH_REMATCH[2]^^}"
    case "$unit" in
    K) echo $((n << 10)) ;;
    M) echo $((n << 20)) ;;
    G) echo $((n << 30)) ;;
    *) echo "$n" ;;
    esac
}

case "$pagesize" in
2M | 2m) page_kb=2048 ;;
1G | 1g) page_kb=1048576 ;;
*) die "--pagesize must be 2M or 1G" ;;
esac
[[ -z "$node" || "$node" =~ ^[0-9]+$ ]] || die "--node must be a number"

tool="$(command -v dpdk-hugepages.py || true)"
if [[ -z "$tool" ]]; then
    ensure_packages dpdk
    tool="$(command -v dpdk-hugepages.py)" || die "dpdk-hugepages.py not found (package dpdk)"
fi

if [[ -n "$node" ]]; then
    nr_file="/sys/devices/system/node/node$node/hugepages/hugepages-${page_kb}kB/nr_hugepages"
else
    nr_file="/sys/kernel/mm/hugepages/hugepages-${page_kb}kB/nr_hugepages"
fi

current_pages() { cat "$nr_file" 2>/dev/null || echo 0; }

mounted() { # hugetlbfs at $mount_dir with this page size
    local opts
    opts="$(findmnt -n -t hugetlbfs -o OPTIONS --target "$mount_dir" 2>/dev/null || true)"
    [[ -n "$opts" ]] || return 1
    case "$page_kb" in
    2048) [[ "$opts" != *pagesize=1* ]] ;;
    *) [[ "$opts" == *pagesize=1G* || "$opts" == *pagesize=1024M* ]] ;;
    esac
}

case "$action" in
show)
    "$tool" --show
    exit 0
    ;;
clear)
    need_root "releasing hugepages"
    run $SUDO "$tool" --clear
    if mounted; then run $SUDO "$tool" --unmount; fi
    log_ok "hugepages released"
    exit 0
    ;;
esac

[[ -e "/sys/kernel/mm/hugepages/hugepages-${page_kb}kB" ]] ||
    die "this kernel offers no ${pagesize} hugepages (for 1G pages: hugepagesz=1G on the kernel command line)"

bytes="$(to_bytes "$size")"
want=$(((bytes + page_kb * 1024 - 1) / (page_kb * 1024)))
have="$(current_pages)"

if ((have >= want)) && mounted; then
    log_ok "already reserved: $have x $pagesize pages${node:+ on node $node} (wanted $want), mounted at $mount_dir; nothing to do"
    exit 0
fi

need_root "reserving hugepages"
node_args=()
[[ -n "$node" ]] && node_args=(--node "$node")
if ((have < want)); then
    log_info "reserving $size as $want x $pagesize pages${node:+ on node $node} (now: $have)"
    run $SUDO "$tool" --pagesize "$pagesize" "${node_args[@]}" --reserve "$size"
fi
if ! mounted; then
    log_info "mounting hugetlbfs ($pagesize) at $mount_dir"
    run $SUDO mkdir -p "$mount_dir"
    run $SUDO "$tool" --pagesize "$pagesize" --mount --directory "$mount_dir"
fi

if [[ "${DRY_RUN:-0}" == 1 ]]; then
    exit 0
fi
got="$(current_pages)"
if ((got < want)); then
    die "the kernel reserved only $got of $want pages (memory fragmented?): reserve at boot instead (hugepages=$want on the kernel command line)"
fi
log_ok "reserved $got x $pagesize pages${node:+ on node $node}, mounted at $mount_dir"
