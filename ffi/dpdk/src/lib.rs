//! Safe RAII wrappers over DPDK (`dpdk-sys`): the I/O layer under the UPF's
//! workers. Everything the packet path touches — EAL start-up, lcores,
//! mempools, ports, rx/tx queues, mbufs — with lifetimes owned by Rust.
//!
//! # Ownership
//!
//! - [`Eal`] is a clonable guard; every other object holds a clone, so
//!   `rte_eal_cleanup` runs after the last of them is gone. EAL starts once
//!   per process ([`Error::AlreadyInitialized`] afterwards).
//! - [`Mempool`] is freed when its last handle drops *and* every mbuf is
//!   back; otherwise it is leaked with a warning. [`Mbuf`]s therefore need no
//!   lifetime and can never dangle.
//! - [`Port`] hands out [`RxQueue`]/[`TxQueue`] on [`Port::start`]; they are
//!   `Send` and move to the worker that owns them. [`Port::stop`] and
//!   [`Port::configure`] refuse while any handle lives, and the port is
//!   stopped and closed when the port and all handles are dropped.
//! - [`Eal::launch`] runs a `Send + 'static` closure on a worker lcore;
//!   its [`LaunchHandle`] joins on `wait` or drop.
//!
//! # A worker loop
//!
//! ```no_run
//! # fn worker(mut rxq: dpdk::RxQueue, mut txq: dpdk::TxQueue, stop: &std::sync::atomic::AtomicBool) {
//! let mut burst = dpdk::Burst::<32>::new();
//! while !stop.load(std::sync::atomic::Ordering::Relaxed) {
//!     if rxq.rx_burst(&mut burst) == 0 {
//!         continue;
//!     }
//!     for m in burst.iter_mut() {
//!         let _frame: &mut [u8] = m.data_mut(); // rewrite headers in place
//!     }
//!     txq.tx_burst_or_free(&mut burst);
//! }
//! # }
//! ```
//!
//! # What makes I/O fast (measured with `examples/iofwd.rs` against
//! `dpdk-testpmd --forward-mode=io`, see `perf/io-baseline.sh`)
//!
//! - **Bursts of 32** in a stack array ([`Burst`]): one C call per burst for
//!   rx and one for tx; the array is the `rte_mbuf *` array DPDK writes
//!   (`Mbuf` is a transparent pointer), so nothing is copied or converted.
//! - **Per-packet accessors in Rust**: `data()`, `len()`, `headroom()`,
//!   `prepend`/`adj`/`append`/`trim` read and write the `rte_mbuf` fields
//!   directly and inline; no C call per packet.
//! - **Bulk free**: unsent or dropped mbufs go back with one
//!   `rte_pktmbuf_free_bulk` ([`Burst::clear`], [`TxQueue::tx_burst_or_free`]);
//!   dropping single [`Mbuf`]s costs a C call each, so collect drops in a
//!   burst on the hot path.
//! - **Prefetch** the mbuf header and frame of packet *i + k* while working
//!   on packet *i* ([`Mbuf::prefetch_header`], [`Mbuf::prefetch_data`]) when
//!   the work per packet touches the frame; pure forwarding needs none.
//! - **Static linking** (`static` feature) removes the `__tls_get_addr`
//!   calls that shared DPDK libraries pay for per-lcore variables.
//! - The mempool cache (`cache` in [`Mempool::pktmbuf`], 250–512) keeps
//!   alloc/free local to the lcore; the worker must be an EAL lcore
//!   (launched with [`Eal::launch`]) to have one.
//!
//! Measured (shared 2-vCPU AMD EPYC build machine, `perf/io-baseline.sh`,
//! two net_null ports, 64 B): under callgrind the forwarding thread runs
//! 124.9 instructions per packet against testpmd io's 124.8 with shared
//! DPDK libraries, and 112.5 with the `static` feature; our own code (loop,
//! shim calls, burst bookkeeping) is about 2 of them. In packets per second
//! of worker CPU time (so that preemption by neighbours cancels out),
//! medians of 5 alternating rounds gave 0.97–0.99× testpmd (shared) and
//! 1.01–1.09× (static); wall-clock ratios on that machine swing from 0.65
//! to 1.35 with the neighbours' load.
#![deny(clippy::undocumented_unsafe_blocks)]

mod eal;
mod error;
mod mbuf;
mod memlock;
mod mempool;
mod port;

pub use dpdk_sys as sys;
pub use eal::{Eal, LaunchHandle, Lcore};
pub use error::{Error, Result};
pub use mbuf::{Burst, Drain, Mbuf};
pub use memlock::{can_lock_memory, lock_future_memory};
pub use mempool::{MBUF_DEFAULT_BUF_SIZE, Mempool, PKTMBUF_HEADROOM};
pub use port::{
    DevInfo, Link, MAX_BURST, Port, PortConfig, Rss, RxQueue, Stats, TxQueue, pci_address,
};

/// A NUMA socket to place memory on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Socket {
    /// Wherever DPDK finds memory (`SOCKET_ID_ANY`).
    #[default]
    Any,
    /// This socket id.
    Id(u32),
}

impl Socket {
    fn as_raw(self) -> std::ffi::c_int {
        match self {
            Socket::Any => -1,
            Socket::Id(id) => std::ffi::c_int::try_from(id).unwrap_or(-1),
        }
    }
}
