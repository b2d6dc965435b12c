#!/usr/bin/env bash
# Binds NICs to a DPDK-capable driver (vfio-pci by default) with DPDK's own
# dpdk-devbind.py, by PCI address or from a upf config's interfaces.
# Idempotent: devices already on the driver are left alone.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/bind-nic.sh [options] [PCI-ADDRESS...]

Bind network devices to a driver DPDK can use (dpdk-devbind.py).

Options:
  --config FILE    bind the PCI devices named in interfaces.*.device of a
                   upf config (vdev strings such as net_af_packet0,... are
                   skipped); needs the upf binary (UPF_BIN, PATH or target/)
  --driver DRV     vfio-pci (default), uio_pci_generic, or a kernel driver
                   (e.g. ixgbe, i40e, ice) to give devices back to Linux
  --noiommu        allow vfio-pci without an IOMMU (unsafe no-IOMMU mode,
                   for VMs without a virtual IOMMU)
  --force          let dpdk-devbind take a device whose kernel interface is up
  --status         show dpdk-devbind.py --status-dev net and exit
  --dry-run        print the commands instead of running them
  -h, --help       this help

Mellanox/NVIDIA ConnectX NICs stay on their kernel driver (mlx5_core):
DPDK's mlx5 PMD works alongside it, nothing to bind.

Examples:
  scripts/bind-nic.sh 0000:3b:00.0 0000:3b:00.1
  scripts/bind-nic.sh --config /etc/upf/upf.yaml
  scripts/bind-nic.sh --driver ixgbe 0000:3b:00.0     # give it back to Linux
EOF
}

driver=vfio-pci config='' force=() noiommu=0 devices=()
while (($#)); do
    case "$1" in
    --config) config="${2:?--config needs a file}"; shift ;;
    --driver) driver="${2:?--driver needs a name}"; shift ;;
    --noiommu) noiommu=1 ;;
    --force) force=(--force) ;;
    --status) action=status ;;
    --dry-run) export DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) devices+=("$1") ;;
    esac
    shift
done

tool="$(command -v dpdk-devbind.py || true)"
if [[ -z "$tool" ]]; then
    ensure_packages dpdk
    tool="$(command -v dpdk-devbind.py)" || die "dpdk-devbind.py not found (package dpdk)"
fi

if [[ "${action:-}" == status ]]; then
    "$tool" --status-dev net
    exit 0
fi

pci_re='^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$'

if [[ -n "$config" ]]; then
    [[ -r "$config" ]] || die "cannot read $config"
    upf="${UPF_BIN:-$(command -v upf || true)}"
    for candidate in "$UPF_ROOT/target/release/upf" "$UPF_ROOT/target/debug/upf"; do
        [[ -n "$upf" ]] && break
        [[ -x "$candidate" ]] && upf="$candidate"
    done
    [[ -n "$upf" ]] || die "--config needs the upf binary: build it (cargo build -p upf) or set UPF_BIN"
    effective="$("$upf" check --no-host-checks --config "$config")" || die "$config is not a valid config (see above)"
    found=0
    while read -r dev; do
        found=1
        if [[ "$dev" =~ $pci_re ]]; then
            devices+=("$dev")
        else
            log_info "skipping '$dev' (not a PCI address)"
        fi
    done < <(sed -n 's/^ *device: *["'\'']\{0,1\}\([^"'\'']*\)["'\'']\{0,1\} *$/\1/p' <<<"$effective")
    ((found)) || die "no interfaces.*.device found in $config"
fi

if ((${#devices[@]} == 0)); then
    if [[ -n "$config" ]]; then
        log_ok "no PCI devices in $config (virtual devices only): nothing to bind"
        exit 0
    fi
    usage >&2
    exit 1
fi

todo=()
for dev in "${devices[@]}"; do
    [[ "$dev" =~ $pci_re ]] || die "'$dev' is not a PCI address like 0000:3b:00.0"
    [[ "$dev" == ????:* ]] || dev="0000:$dev"
    dev="${dev,,}"
    [[ -e "/sys/bus/pci/devices/$dev" ]] || die "no PCI device $dev on this machine (see: $0 --status)"
    current=''
    if [[ -e "/sys/bus/pci/devices/$dev/driver" ]]; then
        current="$(basename "$(readlink -f "/sys/bus/pci/devices/$dev/driver")")"
    fi
    if [[ "$current" == "$driver" ]]; then
        log_ok "$dev is already bound to $driver"
    else
        log_info "$dev: ${current:-no driver} -> $driver"
        todo+=("$dev")
    fi
done
((${#todo[@]})) || exit 0

need_root "binding devices"
if [[ "$driver" == vfio-pci ]]; then
    if [[ ! -d /sys/bus/pci/drivers/vfio-pci ]]; then
        run $SUDO modprobe vfio-pci
    fi
    if ((noiommu)); then
        log_warn "enabling vfio no-IOMMU mode: DMA is not isolated; use only where no IOMMU exists"
        run $SUDO sh -c 'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode'
    elif [[ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]]; then
        die "no IOMMU is active: enable it (intel_iommu=on or amd_iommu=on, iommu=pt on the kernel command line), or pass --noiommu in a VM without one"
    fi
elif [[ ! -d "/sys/bus/pci/drivers/$driver" ]]; then
    run $SUDO modprobe "$driver"
fi

run $SUDO "$tool" "${force[@]}" --bind "$driver" "${todo[@]}"
if [[ "${DRY_RUN:-0}" != 1 ]]; then
    for dev in "${todo[@]}"; do
        now="$(basename "$(readlink -f "/sys/bus/pci/devices/$dev/driver" 2>/dev/null)" 2>/dev/null || true)"
        [[ "$now" == "$driver" ]] || die "$dev is on '${now:-no driver}', not $driver"
    done
    log_ok "bound to $driver: ${todo[*]}"
fi
