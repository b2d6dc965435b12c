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

/// Bursts as DPDK sees them: the dataplane's `worker::BURST`.
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
    fn len(&self) -> usize {
        self.0.len()
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
    /// Receive scratch: DPDK writes the burst here, then it moves into the
    /// dataplane's vector (a pointer copy per packet).
    rx_burst: Burst<BURST>,
    /// Transmit scratch, the other way round.
    tx_burst: Burst<BURST>,
    /// Dropped frames, freed in bulk when full (one C call per 32 frames
    /// instead of one per frame).
    to_free: Burst<BURST>,
}

impl std::fmt::Debug for DpdkIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkIo")
            .field("pool", &self.pool)
            .field(
                "ifaces",
                &self.rx.iter().map(Option::is_some).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl DpdkIo {
    /// A worker's I/O over its queues (`rx[i]`/`tx[i]` for [`Iface`] index
    /// `i`) and `pool`.
    #[must_use]
    pub fn new(
        rx: [Option<RxQueue>; IFACE_COUNT],
        tx: [Option<TxQueue>; IFACE_COUNT],
        pool: Mempool,
    ) -> Self {
        Self {
            rx,
            tx,
            pool,
            rx_burst: Burst::new(),
            tx_burst: Burst::new(),
            to_free: Burst::new(),
        }
    }

    #[cold]
    fn linearize(m: &mut Mbuf) {
        // A chained mbuf (a PMD with scatter on) would show the pipeline
        // only its first segment; make it one, or let the pipeline drop it
        // as malformed (its IP length then exceeds the data it sees).
        let _ = m.linearize();
    }
}

impl WorkerIo for DpdkIo {
    type Buf = Pkt;

    #[inline]
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<Pkt>, max: usize) {
        let Some(q) = self.rx[iface.index()].as_mut() else {
            return;
        };
        if max >= BURST {
            q.rx_burst(&mut self.rx_burst);
            for mut m in self.rx_burst.drain() {
                if !m.is_contiguous() {
                    Self::linearize(&mut m);
                }
                out.push(Pkt(m));
            }
            return;
        }
        // Fewer than a burst asked for: one at a time, so that nothing is
        // received that the caller cannot take.
        let mut one = Burst::<1>::new();
        for _ in 0..max {
            if q.rx_burst(&mut one) == 0 {
                break;
            }
            if let Some(mut m) = one.pop() {
                if !m.is_contiguous() {
                    Self::linearize(&mut m);
                }
                out.push(Pkt(m));
            }
        }
    }

    #[inline]
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<Pkt>) {
        let Some(q) = self.tx[iface.index()].as_mut() else {
            return;
        };
        while !frames.is_empty() {
            let n = frames.len().min(BURST);
            for Pkt(m) in frames.drain(..n) {
                // Cannot fail: the burst is empty and n <= its capacity.
                if let Err(m) = self.tx_burst.push(m) {
                    drop(m);
                }
            }
            let sent = q.tx_burst(&mut self.tx_burst);
            if sent < n {
                // The queue is full: give the rest back, in order, in front
                // (no allocation: `frames` just lost at least as many).
                drop(frames.splice(0..0, self.tx_burst.drain().map(Pkt)));
                return;
            }
        }
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
}
