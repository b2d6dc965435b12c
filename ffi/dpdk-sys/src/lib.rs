//! Raw DPDK 22.11 bindings: bindgen output for the functions the `dpdk`
//! crate calls, plus `shim_*` functions (csrc/shim.c) that give DPDK's
//! `static inline` functions (rx/tx burst, mbuf alloc/free, rte_errno,
//! rte_lcore_id) a linkable symbol. Everything here is `unsafe` to use; the
//! safe layer is the `dpdk` crate.
//!
//! Linking: shared DPDK libraries by default (pkg-config `libdpdk`); with the
//! `static` feature, DPDK's static archives with the drivers linked
//! whole-archive, so that the binary runs where DPDK is not installed
//! (`ldd` then lists only glibc, libgcc_s and libsystemd). The static driver
//! set (see `build.rs`): buses pci/vdev/auxiliary; mempools ring/stack/
//! bucket; vdevs null, ring, pcap, af_packet, memif, tap, bond, failsafe;
//! NICs ixgbe, i40e, ice, iavf, e1000 (igb/em), igc, virtio, vmxnet3, ena,
//! bnxt, enic, gve and mlx5 (with rdma-core's static libibverbs/libmlx5;
//! linked, but untested here for lack of the hardware). libpcap, libnuma,
//! libbsd, libelf, zlib, libnl and rdma-core are linked statically too when
//! their `.a` is installed (Debian's -dev packages ship them).
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
