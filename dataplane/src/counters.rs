//! Per-worker counters and the events a worker hands to the control
//! thread. Counters are single-writer atomics (relaxed load + store, no
//! locked instruction) in the worker's own cache lines; the control thread
//! reads and sums them for `/metrics`.

use crate::iface::{IFACE_COUNT, Iface};

use crate::rules::SessionId;
use crate::tables::bump;
use crate::wire::ethernet::MacAddr;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a packet was dropped: the `reason` label of `upf_dropped_packets_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A header is truncated, inconsistent or has a bad checksum.
    Malformed,
    /// Addressed to a host that is not this UPF.
    NotForUs,
    /// A protocol, message or option the UPF does not handle (IP fragments
    /// of tunnels, GTP-U extension headers that need comprehension, ...).
    Unsupported,
    /// No PDR matches.
    NoPdr,
    /// A QER gate is closed.
    GateClosed,
    /// The MBR meter is exceeded.
    MbrExceeded,
    /// Uplink inner source is not the session's UE address.
    SpoofedSource,
    /// The FAR says drop.
    RuleDrop,
    /// No MAC address for the next hop (no ARP answer, no gateway, or the
    /// pending queue is full).
    NextHopUnresolved,
    /// The transmit queue did not take the packet.
    TxFull,
    /// TTL or hop limit expired.
    TtlExceeded,
    /// The BUFF buffer is full.
    BufferFull,
    /// No packet buffer or no headroom to build a packet.
    NoBuffer,
}

/// Number of [`DropReason`] values.
pub const DROP_REASONS: usize = 13;

impl DropReason {
    /// All reasons, in index order.
    pub const ALL: [Self; DROP_REASONS] = [
        Self::Malformed,
        Self::NotForUs,
        Self::Unsupported,
        Self::NoPdr,
        Self::GateClosed,
        Self::MbrExceeded,
        Self::SpoofedSource,
        Self::RuleDrop,
        Self::NextHopUnresolved,
        Self::TxFull,
        Self::TtlExceeded,
        Self::BufferFull,
        Self::NoBuffer,
    ];

    /// The metrics label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotForUs => "not_for_us",
            Self::Unsupported => "unsupported",
            Self::NoPdr => "no_pdr",
            Self::GateClosed => "gate_closed",
            Self::MbrExceeded => "mbr_exceeded",
            Self::SpoofedSource => "spoofed_source",
            Self::RuleDrop => "rule_drop",
            Self::NextHopUnresolved => "next_hop_unresolved",
            Self::TxFull => "tx_full",
            Self::TtlExceeded => "ttl_exceeded",
            Self::BufferFull => "buffer_full",
            Self::NoBuffer => "no_buffer",
        }
    }
}

/// One worker's counters (single writer: that worker).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    /// Frames received, per interface.
    pub rx_packets: [AtomicU64; IFACE_COUNT],
    /// Frame bytes received, per interface.
    pub rx_bytes: [AtomicU64; IFACE_COUNT],
    /// Frames sent, per interface.
    pub tx_packets: [AtomicU64; IFACE_COUNT],
    /// Frame bytes sent, per interface.
    pub tx_bytes: [AtomicU64; IFACE_COUNT],
    /// Drops, per [`DropReason`].
    pub drops: [AtomicU64; DROP_REASONS],
    /// Frames consumed locally without a reply (ARP replies, Error
    /// Indications and Echo Responses received, End Markers).
    pub consumed: AtomicU64,
    /// Events lost because the event ring was full.
    pub events_lost: AtomicU64,
    /// Packets currently held in the BUFF buffer.
    pub buffered: AtomicU64,
}

/// A plain copy of counters, summed over workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received, per interface.
    pub rx_packets: [u64; IFACE_COUNT],
    /// Frame bytes received, per interface.
    pub rx_bytes: [u64; IFACE_COUNT],
    /// Frames sent, per interface.
    pub tx_packets: [u64; IFACE_COUNT],
    /// Frame bytes sent, per interface.
    pub tx_bytes: [u64; IFACE_COUNT],
    /// Drops, per [`DropReason`] index.
    pub drops: [u64; DROP_REASONS],
    /// Frames consumed locally.
    pub consumed: u64,
    /// Events lost.
    pub events_lost: u64,
    /// Packets held in BUFF buffers.
    pub buffered: u64,
}

impl Counters {
    /// Drops for `r`.
    #[must_use]
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    /// Adds one worker's counters.
    pub fn add(&mut self, w: &WorkerCounters) {
        for i in 0..IFACE_COUNT {
            self.rx_packets[i] += w.rx_packets[i].load(Relaxed);
            self.rx_bytes[i] += w.rx_bytes[i].load(Relaxed);
            self.tx_packets[i] += w.tx_packets[i].load(Relaxed);
            self.tx_bytes[i] += w.tx_bytes[i].load(Relaxed);
        }
        for (d, s) in self.drops.iter_mut().zip(&w.drops) {
            *d += s.load(Relaxed);
        }
        self.consumed += w.consumed.load(Relaxed);
        self.events_lost += w.events_lost.load(Relaxed);
        self.buffered += w.buffered.load(Relaxed);
    }
}

/// Counts kept in the worker's registers during a burst and stored once.
#[derive(Debug, Default, Clone)]
pub(crate) struct LocalCounts {
    pub rx_packets: [u64; IFACE_COUNT],
    pub rx_bytes: [u64; IFACE_COUNT],
    pub tx_packets: [u64; IFACE_COUNT],
    pub tx_bytes: [u64; IFACE_COUNT],
    pub drops: [u64; DROP_REASONS],
    pub consumed: u64,
    pub events_lost: u64,
}

impl LocalCounts {
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    /// Adds everything to the shared counters and zeroes self.
    pub fn flush(&mut self, w: &WorkerCounters) {
        for i in 0..IFACE_COUNT {
            if self.rx_packets[i] != 0 {
                bump(&w.rx_packets[i], self.rx_packets[i]);
                bump(&w.rx_bytes[i], self.rx_bytes[i]);
            }
            if self.tx_packets[i] != 0 {
                bump(&w.tx_packets[i], self.tx_packets[i]);
                bump(&w.tx_bytes[i], self.tx_bytes[i]);
            }
        }
        for (s, d) in w.drops.iter().zip(&self.drops) {
            if *d != 0 {
                bump(s, *d);
            }
        }
        if self.consumed != 0 {
            bump(&w.consumed, self.consumed);
        }
        if self.events_lost != 0 {
            bump(&w.events_lost, self.events_lost);
        }
        *self = Self::default();
    }
}

/// What a worker tells the control thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An ARP packet taught the worker a neighbour's MAC.
    NeighborLearned {
        /// Interface it was seen on.
        iface: Iface,
        /// The neighbour's address.
        ip: IpAddr,
        /// Its MAC.
        mac: MacAddr,
    },
    /// The first downlink packet for a FAR that buffers or notifies the CP
    /// (Downlink Data Report, TS 29.244 section 5.2.3.1).
    DownlinkData {
        /// Session.
        session: SessionId,
        /// PDR that matched.
        pdr_id: u16,
        /// QFI of the downlink QER, if any.
        qfi: Option<u8>,
    },
    /// A GTP-U Error Indication arrived from a peer.
    ErrorIndication {
        /// TEID Data I: the remote TEID the peer does not know.
        teid: u32,
        /// GTP-U Peer Address IE (else the sender's address).
        peer: IpAddr,
    },
    /// A GTP-U Echo Response arrived (path management).
    EchoResponse {
        /// Sender.
        peer: IpAddr,
        /// Recovery IE value, if present.
        recovery: Option<u8>,
    },
    /// A UDP datagram to the N4 address ([`crate::iface::NetConfig::n4`]):
    /// PFCP served through the DPDK port. The one event that allocates:
    /// N4 traffic is control traffic, a few messages per session.
    N4Datagram {
        /// Interface it arrived on.
        iface: Iface,
        /// The sender's address and port.
        src: SocketAddr,
        /// The UDP payload.
        data: Box<[u8]>,
    },
}
