//! The DPDK binding of the dataplane's I/O traits: [`Pkt`] (an mbuf as a
//! [`PacketBuf`]) and [`DpdkIo`] (one worker's rx/tx queue of every port
//! and its mempool, as a [`WorkerIo`]). This is the bottom of the packet
//! path: the worker loop calls these once per burst.
//!
//! Newtypes because of the orphan rule: `PacketBuf` lives in `dataplane`,
//! `Mbuf` in `dpdk`, and neither depends on the other.

use dataplane::buf::PacketBuf;
use dataplane::iface::{IFACE_COUNT, Iface};
use dataplane::worker::WorkerIo;
use dpdk::{Burst, Mbuf, Mempool, RxQueue, TxQueue};

/// Dropped frames freed per bulk call: the dataplane's `worker::BURST`.
const BURST: usize = dataplane::worker::BURST;

/// A received or allocated frame: one single-segment mbuf.
#[derive(Debug)]
#[repr(transparent)]
pub struct Pkt(pub Mbuf);

impl PacketBuf for Pkt {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        self.0.data()
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }
    #[inline(always)]
    fn headroom(&self) -> usize {
        self.0.headroom()
    }
    #[inline(always)]
    fn tailroom(&self) -> usize {
        self.0.tailroom()
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> bool {
        self.0.prepend(n)
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        self.0.adj(n)
    }
    #[inline(always)]
    fn append(&mut self, n: usize) -> bool {
        self.0.append(n)
    }
    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        self.0.trim(n)
    }
    #[inline(always)]
    fn reframe(&mut self, front: isize, len: usize) -> bool {
        self.0.reframe(front, len)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The queues of one worker: queue *i* of every port for worker *i*
/// (`None` for an interface that is not configured), plus the mempool of
/// the worker's NUMA socket for the frames it builds itself (ARP requests,
/// injected packets).
pub struct DpdkIo {
    rx: [Option<RxQueue>; IFACE_COUNT],
    tx: [Option<TxQueue>; IFACE_COUNT],
    pool: Mempool,
    /// Frames per rx burst (`dataplane.burst`).
    burst: usize,
    /// Dropped frames, freed in bulk when full or at the end of the poll
    /// (one C call per poll or 32 frames instead of one per frame).
    to_free: Burst<BURST>,
}

impl std::fmt::Debug for DpdkIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkIo")
            .field("pool", &self.pool)
            .field("burst", &self.burst)
            .field(
                "ifaces",
                &self.rx.iter().map(Option::is_some).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl DpdkIo {
    /// A worker's I/O over its queues (`rx[i]`/`tx[i]` for [`Iface`] index
    /// `i`) and `pool`, receiving up to `burst` frames per queue and poll
    /// (clamped to `1..=`[`dpdk::MAX_BURST`]).
    #[must_use]
    pub fn new(
        rx: [Option<RxQueue>; IFACE_COUNT],
        tx: [Option<TxQueue>; IFACE_COUNT],
        pool: Mempool,
        burst: usize,
    ) -> Self {
        Self {
            rx,
            tx,
            pool,
            burst: burst.clamp(1, dpdk::MAX_BURST),
            to_free: Burst::new(),
        }
    }
}

impl From<Mbuf> for Pkt {
    #[inline(always)]
    fn from(m: Mbuf) -> Self {
        Pkt(m)
    }
}

impl From<Pkt> for Mbuf {
    #[inline(always)]
    fn from(p: Pkt) -> Self {
        p.0
    }
}

impl WorkerIo for DpdkIo {
    type Buf = Pkt;

    /// Prefetches each frame's first line and linearizes chained frames
    /// (those that fit one segment; others go on chained), which
    /// `rx_burst_into` leaves to this hook.
    #[inline(always)]
    fn prepare(&mut self, frames: &mut [Pkt]) {
        for f in frames {
            f.0.prefetch_data();
            if !f.0.is_contiguous() {
                let _ = f.0.linearize();
            }
        }
    }

    #[inline]
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<Pkt>, max: usize) {
        if let Some(q) = self.rx[iface.index()].as_mut() {
            q.rx_burst_into(out, max.min(self.burst));
        }
    }

    #[inline]
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<Pkt>) {
        if let Some(q) = self.tx[iface.index()].as_mut() {
            q.tx_burst_from(frames);
        }
    }

    #[inline]
    fn flush_frees(&mut self) {
        if !self.to_free.is_empty() {
            self.to_free.clear();
        }
    }

    #[inline]
    fn burst_size(&self) -> usize {
        self.burst
    }

    #[inline]
    fn alloc(&mut self) -> Option<Pkt> {
        self.pool.alloc().map(Pkt)
    }

    #[inline]
    fn free(&mut self, buf: Pkt) {
        if let Err(m) = self.to_free.push(buf.0) {
            self.to_free.clear();
            if let Err(m) = self.to_free.push(m) {
                drop(m);
            }
        }
    }

    #[inline]
    fn free_all<I: Iterator<Item = Pkt>>(&mut self, bufs: I) {
        self.to_free.extend_freeing(bufs.map(|p| p.0));
    }
}
