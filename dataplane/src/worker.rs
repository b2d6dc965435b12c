//! The poll-mode worker loop body, generic over the I/O ([`WorkerIo`]): one
//! [`Worker::poll`] receives a burst from every interface, runs the
//! pipeline with table prefetch across the burst, and transmits. Also owns
//! what must wait: packets pending ARP resolution (bounded, with rate-
//! limited ARP requests) and BUFF packets (bounded, released when a new
//! snapshot changes their FAR). The DPDK binding implements [`WorkerIo`]
//! with its rx/tx queues and mempool; tests use [`MemIo`].

use crate::buf::{PacketBuf, VecBuf};
use crate::control::{Inject, Shared, WorkerPort};
use crate::counters::{DropReason, Event, LocalCounts};
use crate::iface::{IFACE_COUNT, Iface};
use crate::pipeline::{Ctx, LookupKey, Pipeline, State, Verdict, prefetch_slot, set_frame};
use crate::rules::SessionId;
use crate::tables::{Key as _, Line, Rules, Slot, Snapshot, WorkerLines, find_in, prefetch_home};
use crate::wire::{arp, ethernet};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, TryLockError};

/// Frames per rx/tx burst.
pub const BURST: usize = 32;
/// Most frames waiting for ARP per worker.
pub const PENDING_CAP: usize = 256;
/// Most BUFF frames per worker.
pub const BUFFER_CAP: usize = 1024;

/// The I/O a worker runs on: one rx and one tx queue per interface and a
/// buffer pool. Implemented by the DPDK binding and by [`MemIo`].
pub trait WorkerIo {
    /// The packet buffer (a DPDK mbuf, or [`VecBuf`]).
    type Buf: PacketBuf;
    /// Receives up to `max` frames from `iface`, appending them to `out`.
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<Self::Buf>, max: usize);
    /// Sends frames from the front of `frames`, removing those sent; what
    /// remains was not taken (the caller drops it as "tx full").
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<Self::Buf>);
    /// A buffer from the pool (empty frame, default headroom).
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// Returns a buffer to the pool.
    fn free(&mut self, buf: Self::Buf) {
        drop(buf);
    }
    /// Returns several buffers to the pool (a DPDK binding frees them
    /// with one bulk call).
    fn free_all<I: Iterator<Item = Self::Buf>>(&mut self, bufs: I) {
        for b in bufs {
            self.free(b);
        }
    }
    /// Returns to the pool the buffers [`free`](Self::free) holds back
    /// for a bulk call. The worker calls it at the end of every poll, so
    /// that an idle worker holds no freed buffer (a binding that batches
    /// frees would otherwise keep up to a batch of them for as long as no
    /// more drops come).
    fn flush_frees(&mut self) {}

    /// Readies the frames of a burst for the pipeline, right before it
    /// runs, after the junk is gone: a DPDK binding prefetches each
    /// frame's first line and makes chained frames contiguous here rather
    /// than in its rx, so that junk frames never pay for it (perf/README.md,
    /// "the rx binding's header pass").
    #[inline(always)]
    fn prepare(&mut self, _frames: &mut [Self::Buf]) {}

    /// Frames the worker asks [`rx_burst`](Self::rx_burst) for per
    /// interface and poll (a configured burst size); more than [`BURST`]
    /// are run through the pipeline [`BURST`] at a time.
    fn burst_size(&self) -> usize {
        BURST
    }
}

struct Waiting<B> {
    iface: Iface,
    next_hop: IpAddr,
    since: u64,
    buf: B,
}

/// One worker: its I/O, its view of the tables and its local state.
pub struct Worker<Io: WorkerIo> {
    id: usize,
    io: Io,
    shared: Arc<Shared>,
    snap: Arc<Snapshot>,
    lines: WorkerLines,
    pipe: Pipeline,
    rx: Vec<Io::Buf>,
    tx: [Vec<Io::Buf>; IFACE_COUNT],
    /// Frames of this burst with a verdict other than Tx or Drop, acted on
    /// once the burst is through the pipeline.
    rare: Vec<(Verdict, Io::Buf)>,
    pending: Vec<Waiting<Io::Buf>>,
    buffered: Vec<(Iface, SessionId, Io::Buf)>,
    rebuffer: Vec<(Iface, SessionId, Io::Buf)>,
    events: SyncSender<Event>,
    inject: Receiver<Inject>,
    next_expiry: u64,
}

impl<Io: WorkerIo> core::fmt::Debug for Worker<Io> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("generation", &self.snap.generation)
            .finish_non_exhaustive()
    }
}

fn current(shared: &Shared) -> Option<Arc<Snapshot>> {
    match shared.published.try_lock() {
        Ok(p) => Some(p.clone()),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
        Err(TryLockError::WouldBlock) => None,
    }
}

fn ethertype_of(b: &[u8]) -> u16 {
    if b.first().is_some_and(|v| v >> 4 == 6) {
        ethernet::ethertype::IPV6
    } else {
        ethernet::ethertype::IPV4
    }
}

/// The EtherTypes the pipeline takes (untagged, or the outer tag).
const HANDLED: [u16; 5] = [
    ethernet::ethertype::IPV4,
    ethernet::ethertype::IPV6,
    ethernet::ethertype::ARP,
    ethernet::ethertype::VLAN,
    ethernet::ethertype::QINQ,
];

/// Multiplier of a perfect hash of [`HANDLED`] into 8 slots (found by
/// search; [`HANDLED_BY_SLOT`] fails to compile if it ever collides).
const HASH_MUL: u32 = 0xd8f1_6adf;

/// The slot of an EtherType as it lies in the frame, read little-endian
/// (`raw`: no byte swap on x86): the top 3 bits of `raw × HASH_MUL`.
#[allow(clippy::cast_lossless)] // `u32::from` is not const
#[inline(always)]
const fn hash_slot(raw: u16) -> usize {
    ((raw as u32).wrapping_mul(HASH_MUL) >> 29) as usize
}

/// [`HANDLED`] (little-endian reads of) by [`hash_slot`]; a free slot holds
/// a handled value too, which only that value's own slot can match. One
/// multiply and one compare per frame instead of a tree of five compares:
/// the junk loop (`drop_junk`) runs this for every frame of a flood.
const HANDLED_BY_SLOT: [u16; 8] = {
    let mut t = [HANDLED[0].swap_bytes(); 8];
    let mut used = [false; 8];
    let mut i = 0;
    while i < HANDLED.len() {
        let raw = HANDLED[i].swap_bytes();
        let s = hash_slot(raw);
        assert!(!used[s], "HASH_MUL: two handled EtherTypes share a slot");
        used[s] = true;
        t[s] = raw;
        i += 1;
    }
    t
};

/// Why a received frame can only be dropped, decided from its Ethernet
/// header alone, or `None` if the pipeline must look at it: a runt (under
/// 14 bytes: `malformed`) or an EtherType the UPF does not handle (not in
/// [`HANDLED`]: `unsupported`). Exactly what the pipeline's general path
/// would say of such a frame (`Pipeline::process` parses the Ethernet
/// header first and drops these two cases before anything else, counting
/// nothing else); tagged frames go to the pipeline, which reads the inner
/// EtherType.
#[inline(always)]
fn junk_reason(d: &[u8]) -> Option<DropReason> {
    let Some(h) = d.get(..ethernet::HEADER_LEN) else {
        return Some(DropReason::Malformed);
    };
    let raw = u16::from_le_bytes([h[12], h[13]]);
    if HANDLED_BY_SLOT[hash_slot(raw)] == raw {
        None
    } else {
        Some(DropReason::Unsupported)
    }
}

fn dst_of(b: &[u8]) -> Option<IpAddr> {
    match b.first()? >> 4 {
        4 => {
            let a: [u8; 4] = b.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(a))
        }
        6 => {
            let a: [u8; 16] = b.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(a))
        }
        _ => None,
    }
}

impl<Io: WorkerIo> Worker<Io> {
    /// A worker on `io` for `port` (from [`crate::control::Control::new`]).
    pub fn new(port: WorkerPort, io: Io) -> Self {
        if let Some(w) = port.shared.workers.get(port.id) {
            w.started.store(true, Ordering::SeqCst);
        }
        let snap = loop {
            // The control thread holds the lock only for a pointer swap.
            if let Some(s) = current(&port.shared) {
                break s;
            }
            std::hint::spin_loop();
        };
        let lines = snap
            .lines
            .get(port.id)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        let mut pipe = Pipeline::new();
        pipe.neigh.load_static(&snap.net);
        let rx_cap = io.burst_size().max(BURST);
        if let Some(w) = port.shared.workers.get(port.id) {
            w.seen.0.store(snap.generation, Ordering::Release);
        }
        Self {
            id: port.id,
            io,
            shared: port.shared,
            snap,
            lines,
            pipe,
            rx: Vec::with_capacity(rx_cap),
            tx: std::array::from_fn(|_| Vec::with_capacity(BURST)),
            rare: Vec::with_capacity(BURST),
            pending: Vec::with_capacity(PENDING_CAP),
            buffered: Vec::with_capacity(BUFFER_CAP),
            rebuffer: Vec::with_capacity(BUFFER_CAP),
            events: port.events,
            inject: port.inject,
            next_expiry: 0,
        }
    }

    /// The worker index.
    #[must_use]
    pub fn id(&self) -> usize {
        self.id
    }

    /// The generation of the snapshot in use.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.snap.generation
    }

    /// The I/O (tests read what was sent).
    pub fn io_mut(&mut self) -> &mut Io {
        &mut self.io
    }

    /// Turns the fast path on or off (to compare it with the general path).
    pub fn set_fast_path(&mut self, on: bool) {
        self.pipe.fast_path = on;
    }

    /// Frames the fast path handled so far.
    #[must_use]
    pub fn fast_hits(&self) -> u64 {
        self.pipe.fast_hits
    }

    /// Frames waiting for ARP.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Frames held by BUFF.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        self.buffered.len()
    }

    /// One round: new snapshot if any, injected frames, an rx burst from
    /// every interface processed and sent, expiries. `now` is the TSC.
    /// Returns `true` if any frame was handled (for an idle back-off).
    pub fn poll(&mut self, now: u64) -> bool {
        let mut work = self.refresh(now);
        work |= self.drain_inject(now);
        for iface in Iface::ALL {
            if self.snap.net.iface(iface).is_none() {
                continue;
            }
            self.rx.clear();
            let max = self.io.burst_size().max(1);
            self.io.rx_burst(iface, &mut self.rx, max);
            let Some(first) = self.rx.first() else {
                continue;
            };
            work = true;
            // A burst that starts with a frame that can only be dropped
            // (see `junk_reason`; a flood of junk, such as net_null's zero
            // frames) is sorted out before the pipeline's passes, in one
            // cold loop (`drop_junk`); its other frames stay, in order,
            // for `burst`. The valid traffic pays one predictable test of
            // its first frame per burst. This form of the test left the
            // valid frames' code as it was (instructions per packet within
            // 1 %); others moved them by up to +4 % (perf/README.md).
            if junk_reason(first.data()).is_some() {
                let n = self.rx.len();
                drop_junk(&mut self.io, &mut self.pipe.counts, iface, &mut self.rx, n);
                if self.rx.is_empty() {
                    continue;
                }
            }
            self.io.prepare(&mut self.rx);
            self.burst(iface, now);
        }
        if !self.pipe.learned.is_empty() {
            self.release_resolved(now);
        }
        if !self.pending.is_empty() && now >= self.next_expiry {
            self.expire(now);
        }
        for iface in Iface::ALL {
            self.flush_tx(iface);
        }
        self.io.flush_frees();
        self.flush_events();
        if let Some(w) = self.shared.workers.get(self.id) {
            self.pipe.counts.flush(&w.counters);
            w.counters
                .buffered
                .store(self.buffered.len() as u64, Ordering::Relaxed);
        }
        work
    }

    fn refresh(&mut self, now: u64) -> bool {
        if self.shared.generation.load(Ordering::Acquire) == self.snap.generation {
            return false;
        }
        let Some(new) = current(&self.shared) else {
            return false;
        };
        let net_changed = !Arc::ptr_eq(&new.net, &self.snap.net);
        if let Some(l) = new.lines.get(self.id) {
            self.lines = l.clone();
        }
        // Drop our reference to the old snapshot before saying so: the
        // control thread frees it once every worker reports a newer one.
        self.snap = new;
        if let Some(w) = self.shared.workers.get(self.id) {
            w.seen.0.store(self.snap.generation, Ordering::Release);
        }
        if net_changed {
            self.pipe.neigh.load_static(&self.snap.net);
            self.pipe.neighbors_changed();
        }
        if self.buffered.is_empty() {
            return true;
        }
        // A new version may have turned BUFF into FORW: run them again.
        std::mem::swap(&mut self.buffered, &mut self.rebuffer);
        let mut held = std::mem::take(&mut self.rebuffer);
        for (iface, _, mut buf) in held.drain(..) {
            let v = self.run(iface, &mut buf, now, (LookupKey::None, None));
            self.dispatch(v, buf, now, iface);
        }
        self.rebuffer = held;
        true
    }

    fn run(
        &mut self,
        iface: Iface,
        buf: &mut Io::Buf,
        now: u64,
        hint: (LookupKey, Option<&Rules>),
    ) -> Verdict {
        let ctx = Ctx {
            snap: &self.snap,
            lines: &self.lines,
            now,
        };
        self.pipe.process(ctx, iface, buf, hint)
    }

    /// One rx burst in three passes, so that memory latency overlaps
    /// across the burst instead of stalling each packet: (1) peek every
    /// frame's key and prefetch its table slot, (2) find the slots and
    /// prefetch the state lines they name, (3) run the pipeline; then hand
    /// each frame to its verdict. Fixed-size arrays, no allocation, and no
    /// reference count touched.
    fn burst(&mut self, iface: Iface, now: u64) {
        // More than a burst only from a `WorkerIo` that ignores `max`.
        while !self.rx.is_empty() {
            self.burst_of(iface, now);
        }
    }

    fn burst_of(&mut self, iface: Iface, now: u64) {
        let n = self.rx.len().min(BURST);
        let Self {
            io,
            snap,
            lines,
            pipe,
            rx,
            tx,
            rare,
            ..
        } = self;
        let snap: &Snapshot = snap;
        let lines: &[Arc<[Line]>] = lines;
        let mut keys = [LookupKey::None; BURST];
        let mut shards: [&[Slot<u32>]; BURST] = [&[]; BURST];
        let mut homes = [0usize; BURST];
        let mut bytes = 0u64;
        // Untagged IPv4, by far the most common: the key (TEID, or UE
        // address as destination) at a fixed offset, the map known.
        let gtpu = iface.is_gtpu();
        let (map, at) = if gtpu {
            (&snap.teid, 14 + 32)
        } else {
            (&snap.ue4, 14 + 16)
        };
        for (j, b) in rx.iter().take(n).enumerate() {
            let d = b.data();
            bytes += d.len() as u64;
            let k = match d.get(..at + 4) {
                Some(h) if h[12] == 0x08 && h[13] == 0x00 => {
                    let k = u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
                    let (shard, i) = map.locate(k.hash());
                    prefetch_home(shard, i);
                    shards[j] = shard;
                    homes[j] = i;
                    if gtpu {
                        LookupKey::Teid(k)
                    } else {
                        LookupKey::Ue4(k)
                    }
                }
                _ => {
                    let k = LookupKey::peek(iface, d);
                    match k {
                        LookupKey::Teid(t) | LookupKey::Ue4(t) => {
                            let m = if gtpu { &snap.teid } else { &snap.ue4 };
                            let (shard, i) = m.locate(t.hash());
                            prefetch_home(shard, i);
                            shards[j] = shard;
                            homes[j] = i;
                        }
                        LookupKey::Ue6(p) => snap.ue6.prefetch(p),
                        LookupKey::None => {}
                    }
                    k
                }
            };
            keys[j] = k;
        }
        let i = iface.index();
        let mut no_key = false;
        let mut slots: [Option<&Slot<u32>>; BURST] = [None; BURST];
        let mut entries: [Option<&Rules>; BURST] = [None; BURST];
        let mut states: [State<'_>; BURST] = [(None, None); BURST];
        for j in 0..n {
            match keys[j] {
                LookupKey::Teid(k) | LookupKey::Ue4(k) => {
                    if let Some(s) = find_in(shards[j], homes[j], k) {
                        states[j] = prefetch_slot(s, lines);
                        slots[j] = Some(s);
                        entries[j] = Some(s.rules());
                    }
                }
                LookupKey::Ue6(p) => {
                    if let Some(s) = snap.ue6.slot(p) {
                        prefetch_slot(s, lines);
                        entries[j] = Some(s.rules());
                    }
                }
                LookupKey::None => no_key = true,
            }
        }
        // A frame without a key (seen by the second pass, where the test
        // costs the valid frames nothing) may be one that can only be
        // dropped (see `junk_reason`): those leave the burst here, counted
        // per burst, and never reach the pipeline; the rest of the burst,
        // in order, is the next round of `burst`.
        if no_key && drop_junk(io, &mut pipe.counts, iface, rx, n) {
            return;
        }
        pipe.counts.rx_packets[i] += n as u64;
        pipe.counts.rx_bytes[i] += bytes;
        let ctx = Ctx { snap, lines, now };
        for (j, mut buf) in rx.drain(..n).enumerate() {
            let found = (keys[j], slots[j], entries[j], states[j]);
            match pipe.process_found(&ctx, iface, &mut buf, found) {
                Verdict::Tx(out) => {
                    let q = &mut tx[out.index()];
                    q.push(buf);
                    if q.len() >= BURST {
                        send(io, q, &mut pipe.counts, out);
                    }
                }
                Verdict::Drop(r) => {
                    pipe.counts.drop(r);
                    io.free(buf);
                }
                v => rare.push((v, buf)),
            }
        }
        if !self.rare.is_empty() {
            let mut rare = std::mem::take(&mut self.rare);
            for (v, buf) in rare.drain(..) {
                self.dispatch(v, buf, now, iface);
            }
            self.rare = rare;
        }
    }

    #[inline(never)]
    fn dispatch(&mut self, v: Verdict, buf: Io::Buf, now: u64, input: Iface) {
        match v {
            Verdict::Tx(out) => {
                let q = &mut self.tx[out.index()];
                q.push(buf);
                if q.len() >= BURST {
                    self.flush_tx(out);
                }
            }
            Verdict::Drop(r) => {
                self.pipe.counts.drop(r);
                self.io.free(buf);
            }
            Verdict::Consumed => {
                self.pipe.counts.consumed += 1;
                self.io.free(buf);
            }
            Verdict::Pending { iface, next_hop } => {
                if next_hop.is_ipv6() || self.pending.len() >= PENDING_CAP {
                    // No neighbour discovery: IPv6 next hops need static entries.
                    self.pipe.counts.drop(DropReason::NextHopUnresolved);
                    self.io.free(buf);
                    return;
                }
                self.pending.push(Waiting {
                    iface,
                    next_hop,
                    since: now,
                    buf,
                });
                self.solicit(iface, next_hop, now);
            }
            Verdict::Buffer { session } => {
                if self.buffered.len() >= BUFFER_CAP {
                    self.pipe.counts.drop(DropReason::BufferFull);
                    self.io.free(buf);
                } else {
                    self.buffered.push((input, session, buf));
                }
            }
        }
    }

    /// Sends an ARP request for `ip` out of `iface` unless one went out recently.
    fn solicit(&mut self, iface: Iface, ip: IpAddr, now: u64) {
        let IpAddr::V4(target) = ip else { return };
        let net = &self.snap.net;
        let Some(cfg) = net.iface(iface) else { return };
        let Some((own, _)) = cfg.ipv4 else { return };
        let interval = self.snap.tsc_hz / u64::from(net.arp_requests_per_sec.max(1));
        if !self.pipe.neigh.should_request(iface, ip, now, interval) {
            return;
        }
        let mut f = [0u8; 64];
        let eth = ethernet::Repr {
            dst: ethernet::MacAddr::BROADCAST,
            src: cfg.mac,
            vlan: cfg.vlan,
            ethertype: ethernet::ethertype::ARP,
        };
        let el = eth.header_len();
        let req = arp::Repr {
            op: arp::Operation::Request,
            sha: cfg.mac,
            spa: own,
            tha: ethernet::MacAddr::ZERO,
            tpa: target,
        };
        if eth.emit(&mut f).is_err() || req.emit(&mut f[el..]).is_err() {
            return;
        }
        // Pad to the 60-byte Ethernet minimum.
        let len = (el + arp::PACKET_LEN).max(60);
        match self.io.alloc() {
            Some(mut b) => {
                if set_frame(&mut b, &f[..len]) {
                    self.dispatch(Verdict::Tx(iface), b, now, iface);
                } else {
                    self.pipe.counts.drop(DropReason::NoBuffer);
                    self.io.free(b);
                }
            }
            None => self.pipe.counts.drop(DropReason::NoBuffer),
        }
    }

    fn release_resolved(&mut self, now: u64) {
        let learned = std::mem::take(&mut self.pipe.learned);
        for &(iface, ip) in &learned {
            let Some(mac) = self.pipe.neigh.lookup(iface, ip) else {
                continue;
            };
            let mut i = 0;
            while i < self.pending.len() {
                if self.pending[i].iface == iface && self.pending[i].next_hop == ip {
                    let mut w = self.pending.swap_remove(i);
                    ethernet::Frame::new_unchecked(w.buf.data_mut()).set_dst(mac);
                    self.dispatch(Verdict::Tx(iface), w.buf, now, iface);
                } else {
                    i += 1;
                }
            }
        }
        self.pipe.learned = learned;
        self.pipe.learned.clear();
    }

    /// Drops frames that waited over a second; asks again for the others.
    fn expire(&mut self, now: u64) {
        let hz = self.snap.tsc_hz.max(1);
        self.next_expiry = now + hz / 100;
        let mut i = 0;
        while i < self.pending.len() {
            if now.saturating_sub(self.pending[i].since) >= hz {
                let w = self.pending.swap_remove(i);
                self.pipe.counts.drop(DropReason::NextHopUnresolved);
                self.io.free(w.buf);
            } else {
                let (iface, ip) = (self.pending[i].iface, self.pending[i].next_hop);
                self.solicit(iface, ip, now);
                i += 1;
            }
        }
    }

    fn drain_inject(&mut self, now: u64) -> bool {
        let mut any = false;
        while let Ok(f) = self.inject.try_recv() {
            any = true;
            let pkt = f.data.get(..usize::from(f.len)).unwrap_or(&[]);
            let Some(mut b) = self.io.alloc() else {
                self.pipe.counts.drop(DropReason::NoBuffer);
                continue;
            };
            let Some(dst) = dst_of(pkt).filter(|_| set_frame(&mut b, pkt)) else {
                self.pipe.counts.drop(DropReason::Malformed);
                self.io.free(b);
                continue;
            };
            let ctx = Ctx {
                snap: &self.snap,
                lines: &self.lines,
                now,
            };
            let v = self
                .pipe
                .route_out(ctx, f.iface, &mut b, dst, ethertype_of(pkt))
                .unwrap_or_else(Verdict::Drop);
            self.dispatch(v, b, now, f.iface);
        }
        any
    }

    fn flush_tx(&mut self, iface: Iface) {
        let q = &mut self.tx[iface.index()];
        if !q.is_empty() {
            send(&mut self.io, q, &mut self.pipe.counts, iface);
        }
    }

    fn flush_events(&mut self) {
        for e in self.pipe.events.drain(..) {
            if self.events.try_send(e).is_err() {
                self.pipe.counts.events_lost += 1;
            }
        }
    }
}

/// Takes the frames of `rx[..n]` that can only be dropped out of the
/// burst (the others stay in front, in arrival order), counts them (rx and
/// drop reason, once per burst) and frees them; `false` if there were none.
/// Cold and out of line: the loops that run the pipeline stay as the
/// compiler lays them out without junk.
#[cold]
#[inline(never)]
fn drop_junk<Io: WorkerIo>(
    io: &mut Io,
    counts: &mut LocalCounts,
    iface: Iface,
    rx: &mut Vec<Io::Buf>,
    n: usize,
) -> bool {
    let n = n.min(rx.len());
    let frames = &mut rx[..n];
    // One register each: the junk frames' bytes and runts; the unsupported
    // ones are the rest of the junk.
    let (mut kept, mut bytes, mut runts) = (0usize, 0u64, 0u64);
    for j in 0..frames.len() {
        let d = frames[j].data();
        match junk_reason(d) {
            None => {
                frames.swap(kept, j);
                kept += 1;
            }
            Some(r) => {
                bytes += d.len() as u64;
                runts += u64::from(r == DropReason::Malformed);
            }
        }
    }
    if kept == n {
        return false;
    }
    let junk = (n - kept) as u64;
    let i = iface.index();
    counts.rx_packets[i] += junk;
    counts.rx_bytes[i] += bytes;
    counts.drops[DropReason::Malformed as usize] += runts;
    counts.drops[DropReason::Unsupported as usize] += junk - runts;
    io.free_all(rx.drain(kept..n));
    true
}

/// Hands the frames of `q` to `iface`'s tx queue, counting what was sent
/// and dropping (as "tx full") what was not.
fn send<Io: WorkerIo>(io: &mut Io, q: &mut Vec<Io::Buf>, counts: &mut LocalCounts, iface: Iface) {
    let before: usize = q.iter().map(PacketBuf::len).sum();
    let n = q.len();
    io.tx_burst(iface, q);
    let i = iface.index();
    counts.tx_packets[i] += (n - q.len()) as u64;
    if q.is_empty() {
        counts.tx_bytes[i] += before as u64;
        return;
    }
    let after: usize = q.iter().map(PacketBuf::len).sum();
    counts.tx_bytes[i] += (before - after) as u64;
    while let Some(b) = q.pop() {
        counts.drop(DropReason::TxFull);
        io.free(b);
    }
}

/// An in-memory [`WorkerIo`] for tests, fuzzing and benchmarks: frames to
/// receive are queued per interface, sent frames are collected per interface.
#[derive(Debug, Default)]
pub struct MemIo {
    /// Frames waiting to be received, per interface.
    pub rx: [VecDeque<VecBuf>; IFACE_COUNT],
    /// Frames sent, per interface.
    pub tx: [Vec<VecBuf>; IFACE_COUNT],
    /// Most frames each tx queue takes before reporting full (`None`: unlimited).
    pub tx_limit: Option<usize>,
    /// Buffers the pool still hands out (`None`: unlimited).
    pub pool: Option<usize>,
}

impl MemIo {
    /// Queues `frame` for reception on `iface`.
    pub fn push_rx(&mut self, iface: Iface, frame: &[u8]) {
        self.rx[iface.index()].push_back(VecBuf::from_frame(frame));
    }

    /// Takes every frame sent on `iface`.
    pub fn take_tx(&mut self, iface: Iface) -> Vec<Vec<u8>> {
        self.tx[iface.index()]
            .drain(..)
            .map(|b| b.data().to_vec())
            .collect()
    }
}

impl WorkerIo for MemIo {
    type Buf = VecBuf;

    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
        let q = &mut self.rx[iface.index()];
        for _ in 0..max {
            match q.pop_front() {
                Some(b) => out.push(b),
                None => break,
            }
        }
    }

    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<VecBuf>) {
        let q = &mut self.tx[iface.index()];
        let room = self.tx_limit.map_or(frames.len(), |l| {
            l.saturating_sub(q.len()).min(frames.len())
        });
        q.extend(frames.drain(..room));
    }

    fn alloc(&mut self) -> Option<VecBuf> {
        if let Some(p) = &mut self.pool {
            if *p == 0 {
                return None;
            }
            *p -= 1;
        }
        Some(VecBuf::with_room(
            &[],
            crate::buf::DEFAULT_HEADROOM,
            crate::buf::DEFAULT_CAPACITY - crate::buf::DEFAULT_HEADROOM,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testkit;
    use proptest::prelude::*;

    /// What the pipeline's general path says of `frame` on `iface`, with
    /// the test kit's tables (one session installed).
    fn general(iface: Iface, frame: &[u8]) -> Verdict {
        let (mut ctl, mut ports) = testkit::dataplane(1, true);
        testkit::install(&mut ctl, 1);
        let port = ports.remove(0);
        let snap = current(&port.shared).unwrap();
        let lines = snap.lines[0].clone();
        let ctx = Ctx {
            snap: &snap,
            lines: &lines,
            now: 1,
        };
        let mut buf = VecBuf::from_frame(frame);
        Pipeline::new().process(ctx, iface, &mut buf, (LookupKey::None, None))
    }

    proptest! {
        /// The burst's early drop decides exactly what the pipeline would:
        /// any frame it calls junk gets the same drop reason there.
        #[test]
        fn junk_is_what_the_pipeline_drops(
            frame in proptest::collection::vec(any::<u8>(), 0..80),
            et in prop_oneof![
                Just(None),
                Just(Some(0u16)),
                Just(Some(0x88cc)),
                Just(Some(0x8100)),
                Just(Some(0x0806)),
                any::<u16>().prop_map(Some),
            ],
            n3 in any::<bool>(),
        ) {
            let mut frame = frame;
            if let (Some(et), Some(b)) = (et, frame.get_mut(12..14)) {
                b.copy_from_slice(&et.to_be_bytes());
            }
            if let Some(r) = junk_reason(&frame) {
                let iface = if n3 { Iface::N3 } else { Iface::N6 };
                prop_assert_eq!(general(iface, &frame), Verdict::Drop(r));
            }
        }
    }

    /// The perfect hash says "handled" for exactly the five EtherTypes
    /// the pipeline takes, over all 65,536.
    #[test]
    fn the_hash_knows_exactly_the_handled_ethertypes() {
        let mut f = [0u8; 14];
        for et in 0..=u16::MAX {
            f[12..14].copy_from_slice(&et.to_be_bytes());
            let handled = matches!(et, 0x0800 | 0x86dd | 0x0806 | 0x8100 | 0x88a8);
            assert_eq!(junk_reason(&f).is_none(), handled, "{et:#06x}");
        }
    }

    #[test]
    fn junk_reasons() {
        for len in 0..14 {
            assert_eq!(junk_reason(&vec![0x08; len]), Some(DropReason::Malformed));
        }
        let mut f = [0u8; 60];
        for (et, junk) in [
            (0u16, true),
            (0x88cc, true),
            (0x86dd, false),
            (0x0800, false),
            (0x0806, false),
            (0x8100, false),
            (0x88a8, false),
        ] {
            f[12..14].copy_from_slice(&et.to_be_bytes());
            assert_eq!(
                junk_reason(&f),
                junk.then_some(DropReason::Unsupported),
                "{et:#06x}"
            );
        }
    }

    /// An I/O that holds freed buffers back for a bulk free, as the DPDK
    /// binding does.
    #[derive(Default)]
    struct BatchingIo {
        mem: MemIo,
        held: Vec<VecBuf>,
        freed: usize,
    }

    impl WorkerIo for BatchingIo {
        type Buf = VecBuf;
        fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
            self.mem.rx_burst(iface, out, max);
        }
        fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<VecBuf>) {
            self.mem.tx_burst(iface, frames);
        }
        fn alloc(&mut self) -> Option<VecBuf> {
            self.mem.alloc()
        }
        fn free(&mut self, buf: VecBuf) {
            self.held.push(buf);
        }
        fn flush_frees(&mut self) {
            self.freed += self.held.len();
            self.held.clear();
        }
    }

    /// Soak finding: the DPDK binding frees dropped frames 32 at a time,
    /// so after a few drops (here the downlink packets a buffering FAR
    /// held for a session that was then deleted) an idle worker kept them
    /// allocated until 32 more drops came: mbufs in use never returned to
    /// their idle value. Every poll now hands them back.
    #[test]
    fn dropped_frames_are_not_held_past_the_poll() {
        let (mut ctl, mut ports) = testkit::dataplane(1, true);
        testkit::install(&mut ctl, 1);
        let mut w = Worker::new(ports.remove(0), BatchingIo::default());
        // No PDR for this UE address: dropped.
        let inner = testkit::udp4(
            testkit::DN_IP,
            std::net::Ipv4Addr::new(10, 99, 0, 1),
            9,
            9,
            1,
        );
        w.io_mut()
            .mem
            .push_rx(Iface::N6, &testkit::dl_frame(&inner));
        assert!(w.poll(2));
        assert_eq!(ctl.counters().dropped(DropReason::NoPdr), 1);
        assert!(w.io_mut().held.is_empty(), "nothing held after the poll");
        assert_eq!(w.io_mut().freed, 1);
    }
}
