//! Finds the system DPDK with pkg-config, compiles the C shim for DPDK's
//! `static inline` functions, generates bindings for what the `dpdk` crate
//! calls, and tells rustc how to link DPDK: shared libraries by default, or
//! static archives (whole-archive drivers) with the `static` feature.

use std::env;
use std::path::{Path, PathBuf};

/// DPDK drivers linked into a static binary. Drivers register themselves
/// from constructors, so they are linked whole-archive; a driver whose
/// archive is missing is skipped with a warning.
const STATIC_DRIVERS: &[&str] = &[
    // buses and mempool handlers
    "bus_pci",
    "bus_vdev",
    "bus_auxiliary",
    "mempool_ring",
    "mempool_stack",
    "mempool_bucket",
    // virtual devices
    "net_null",
    "net_ring",
    "net_pcap",
    "net_af_packet",
    "net_memif",
    "net_tap",
    "net_bond",
    "net_failsafe",
    // NICs
    "common_iavf",
    "net_ixgbe",
    "net_i40e",
    "net_ice",
    "net_iavf",
    "net_e1000",
    "net_igc",
    "net_virtio",
    "net_vmxnet3",
    "net_ena",
    "net_bnxt",
    "net_enic",
    "net_gve",
    "common_mlx5",
    "net_mlx5",
];

/// DPDK libraries, in link order (users before what they use). Linked
/// whole-archive too, as `pkg-config --static libdpdk` does, so that their
/// constructors (log types, telemetry, handlers) are kept.
const STATIC_LIBS: &[&str] = &[
    "gso",
    "hash",
    "timer",
    "security",
    "cryptodev",
    "ethdev",
    "meter",
    "net",
    "mbuf",
    "mempool",
    "stack",
    "rcu",
    "ring",
    "pci",
    "eal",
    "telemetry",
    "kvargs",
];

/// Libraries outside DPDK that the drivers above need. Linked statically
/// when their archive is installed, dynamically otherwise. The rdma-core
/// ones serve mlx5: the verbs provider registers from a constructor in the
/// same object (`mlx5.c.o`) as the `mlx5dv_*` functions DPDK calls, so it
/// is linked without whole-archive.
const STATIC_SYSTEM_LIBS: &[&str] = &[
    "mlx5",
    "ibverbs",
    "nl-route-3",
    "nl-3",
    "pcap",
    "dbus-1",
    "elf",
    "z",
    "numa",
    "bsd",
    "md",
];

/// Always dynamic: glibc, which is present on every target machine, and
/// libsystemd (needed by the static libdbus that libpcap pulls in).
const DYNAMIC_SYSTEM_LIBS: &[&str] = &["atomic", "pthread", "m", "dl", "rt"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let want_static = env::var_os("CARGO_FEATURE_STATIC").is_some();

    // Include paths and defines come from pkg-config in both modes; the link
    // line from pkg-config only in the dynamic one.
    let dpdk = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!(
                "DPDK >= 22.11 not found by pkg-config ({e}); on Debian 12: \
                 apt-get install libdpdk-dev pkg-config"
            )
        });
    let cflags = cflags_of("libdpdk");

    compile_shim(&cflags);
    if want_static {
        link_static(&dpdk);
    } else {
        link_dynamic();
    }
    generate_bindings(&cflags);
}

/// All of pkg-config's `--cflags`, including `-include rte_config.h` and
/// `-march`, which DPDK's headers rely on and the pkg-config crate drops.
fn cflags_of(lib: &str) -> Vec<String> {
    let out = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
        .args(["--cflags", lib])
        .output()
        .expect("pkg-config runs");
    assert!(out.status.success(), "pkg-config --cflags {lib} failed");
    String::from_utf8(out.stdout)
        .expect("pkg-config prints UTF-8")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn compile_shim(cflags: &[String]) {
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").opt_level(3).warnings(true);
    // `-include x.h` is two words: pass them as one flag pair.
    let mut it = cflags.iter();
    while let Some(flag) = it.next() {
        if flag == "-include" {
            if let Some(h) = it.next() {
                build.flag("-include").flag(h);
            }
        } else if let Some(dir) = flag.strip_prefix("-I") {
            build.include(dir);
        } else {
            build.flag(flag);
        }
    }
    build.compile("dpdk_shim");
}

fn link_dynamic() {
    // Let the pkg-config crate emit `-L`/`-l` for the shared libraries.
    pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect("libdpdk found above");
}

fn link_static(dpdk: &pkg_config::Library) {
    let libdir = dpdk
        .link_paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(pkg_variable("libdpdk", "libdir")));
    println!("cargo:rustc-link-search=native={}", libdir.display());

    let archive = |name: &str| libdir.join(format!("lib{name}.a"));
    for drv in STATIC_DRIVERS {
        let name = format!("rte_{drv}");
        if archive(&name).exists() {
            println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={name}");
        } else {
            println!("cargo:warning=static DPDK: driver {drv} not installed, skipped");
        }
    }
    for lib in STATIC_LIBS {
        let name = format!("rte_{lib}");
        assert!(
            archive(&name).exists(),
            "static DPDK: {} missing (install libdpdk-dev)",
            archive(&name).display()
        );
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={name}");
    }
    for lib in STATIC_SYSTEM_LIBS {
        if let Some(dir) = find_archive(lib, &libdir) {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static:-bundle={lib}");
        } else {
            println!("cargo:warning=static DPDK: lib{lib}.a not found, linking it dynamically");
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    // libdbus-1.a (pulled in by libpcap.a) calls two sd_* functions; the
    // shared libsystemd is on every systemd machine, the `.so` dev link is not.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libsystemd.so.0");
    for lib in DYNAMIC_SYSTEM_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}

fn find_archive(lib: &str, dpdk_libdir: &Path) -> Option<PathBuf> {
    let file = format!("lib{lib}.a");
    [
        dpdk_libdir.to_path_buf(),
        PathBuf::from("/usr/lib/x86_64-linux-gnu"),
        PathBuf::from("/usr/lib64"),
        PathBuf::from("/usr/lib"),
        PathBuf::from("/usr/local/lib"),
    ]
    .into_iter()
    .find(|d| d.join(&file).exists())
}

fn pkg_variable(lib: &str, var: &str) -> String {
    let out = std::process::Command::new("pkg-config")
        .args([&format!("--variable={var}"), lib])
        .output()
        .expect("pkg-config runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn generate_bindings(cflags: &[String]) {
    let mut clang_args: Vec<String> = Vec::new();
    let mut it = cflags.iter();
    while let Some(flag) = it.next() {
        if flag == "-include" {
            if let Some(h) = it.next() {
                clang_args.push("-include".into());
                clang_args.push(h.clone());
            }
        } else if flag.starts_with("-I") || flag.starts_with("-D") || flag.starts_with("-march") {
            clang_args.push(flag.clone());
        }
    }

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        // Only what the safe crate calls.
        .allowlist_function("shim_.*")
        .allowlist_var("shim_.*")
        .allowlist_function("rte_eal_(init|cleanup|get_runtime_dir|remote_launch|wait_lcore|hotplug_remove)")
        .allowlist_function("rte_(get_main_lcore|get_next_lcore|lcore_to_socket_id|lcore_is_enabled|get_tsc_hz|strerror)")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
        .allowlist_function("rte_eth_dev_(get_port_by_name|info_get|configure|start|stop|close|socket_id|set_mtu|get_mtu|adjust_nb_rx_tx_desc)")
        .allowlist_function("rte_eth_(rx_queue_setup|tx_queue_setup|promiscuous_enable|promiscuous_disable|promiscuous_get|macaddr_get|link_get_nowait|stats_get|stats_reset)")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_eth_(conf|dev_info|stats|link|rxconf|txconf)")
        .allowlist_type("rte_ether_addr")
        .allowlist_type("rte_eth_rx_mq_mode")
        .allowlist_var("RTE_MAX_LCORE|RTE_MAX_ETHPORTS|RTE_ETH_NAME_MAX_LEN|RTE_DEV_NAME_MAX_LEN")
        // Packed-in-packed layouts bindgen cannot express (DPDK 22.11).
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_.*")
        .opaque_type("rte_flow_item_gtp_psc")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .expect("bindgen over the DPDK headers");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");
}
