//! The per-packet path: parse a received frame once, answer what is for
//! the UPF itself (ARP, ping, GTP-U Echo, Error Indication), find the PDR
//! (uplink by TEID, downlink by UE address, then QFI/UE address/SDF by
//! precedence), apply QERs (gate, MBR meter), URRs (counters) and the FAR
//! (forward with outer header removal/creation, drop, buffer), and rewrite
//! the frame in place. Called by [`crate::worker::Worker`] for every frame;
//! never allocates, never blocks.

use crate::buf::PacketBuf;
use crate::counters::{DropReason, Event, LocalCounts};
use crate::iface::{Iface, IfaceConfig};
use crate::neighbor::NeighborCache;
use crate::rules::{Direction, SessionId};
use crate::tables::{
    CPdr, Flow, Key as _, Line, MeterParams, Rules, Slot, Snapshot, count_paired, count_urr,
    fast as fr, line, qer_line,
};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::gtpu::{self, PduSessionContainer, PduType};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{Error as WireError, arp, icmp, ipv6, udp};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use DropReason as D;

/// What to do with a frame after processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it out of this interface (the frame is complete).
    Tx(Iface),
    /// Drop it, counting the reason.
    Drop(DropReason),
    /// Handled locally, nothing to send.
    Consumed,
    /// Complete except the destination MAC: resolve `next_hop` on `iface`.
    Pending {
        /// Output interface.
        iface: Iface,
        /// Address to resolve.
        next_hop: IpAddr,
    },
    /// Hold it unmodified until the session's FAR changes (BUFF).
    Buffer {
        /// The session whose FAR buffers.
        session: SessionId,
    },
}

/// The key a frame will be looked up with, found by a quick peek so the
/// table slot can be prefetched before the frame is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LookupKey {
    /// Not known from the peek.
    #[default]
    None,
    /// GTP-U TEID.
    Teid(u32),
    /// Downlink UE IPv4.
    Ue4(u32),
    /// Downlink UE IPv6 /64.
    Ue6(u64),
}

impl LookupKey {
    /// Peeks at the usual layouts (optional VLAN, IPv4 without options or
    /// IPv6 without extension headers, UDP 2152).
    #[inline(always)]
    #[must_use]
    pub fn peek(iface: Iface, d: &[u8]) -> Self {
        let mut l3 = 14;
        let mut et = d
            .get(12..14)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        if et == ethertype::VLAN {
            l3 = 18;
            et = d
                .get(16..18)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        }
        let word = |o: usize| {
            d.get(o..o + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        match (iface.is_gtpu(), et) {
            (true, ethertype::IPV4) => word(l3 + 32).map_or(Self::None, Self::Teid),
            (true, ethertype::IPV6) => word(l3 + 52).map_or(Self::None, Self::Teid),
            (false, ethertype::IPV4) => word(l3 + 16).map_or(Self::None, Self::Ue4),
            (false, ethertype::IPV6) => d.get(l3 + 24..l3 + 32).map_or(Self::None, |b| {
                Self::Ue6(u64::from_be_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }),
            _ => Self::None,
        }
    }

    /// Looks the key up in `snap`.
    #[inline(always)]
    #[must_use]
    pub fn get(self, snap: &Snapshot) -> Option<&Rules> {
        match self {
            Self::None => None,
            Self::Teid(t) => snap.teid.get(t),
            Self::Ue4(a) => snap.ue4.get(a),
            Self::Ue6(p) => snap.ue6.get(p),
        }
    }

    /// Prefetches the table slot of the key.
    #[inline(always)]
    pub fn prefetch(self, snap: &Snapshot) {
        self.prefetch_hash(snap, self.hash());
    }

    /// The key's table hash (0 for [`LookupKey::None`]).
    #[inline(always)]
    #[must_use]
    pub fn hash(self) -> u64 {
        match self {
            Self::None => 0,
            Self::Teid(t) | Self::Ue4(t) => t.hash(),
            Self::Ue6(p) => p.hash(),
        }
    }

    /// Prefetches the table slot of the key whose hash is `h`.
    #[inline(always)]
    pub fn prefetch_hash(self, snap: &Snapshot, h: u64) {
        match self {
            Self::None => {}
            Self::Teid(_) => snap.teid.prefetch_hash(h),
            Self::Ue4(_) => snap.ue4.prefetch_hash(h),
            Self::Ue6(_) => snap.ue6.prefetch_hash(h),
        }
    }

    /// The slot of an IPv4-keyed lookup (TEID or UE IPv4), whose hash is `h`.
    #[inline(always)]
    #[must_use]
    pub fn slot(self, snap: &Snapshot, h: u64) -> Option<&Slot<u32>> {
        match self {
            Self::Teid(t) => snap.teid.find(t, h),
            Self::Ue4(a) => snap.ue4.find(a, h),
            Self::None | Self::Ue6(_) => None,
        }
    }
}

/// The QER and URR state lines of a slot's fast digest, found (and
/// prefetched) by the burst loop.
pub type State<'a> = (Option<&'a Line>, Option<&'a Line>);

/// Prefetches the state lines a slot's packet will touch: those named by
/// its fast digest (returned), else those of its first PDR (and that PDR's
/// lines).
#[inline(always)]
pub fn prefetch_slot<'a, K: crate::tables::Key>(
    s: &Slot<K>,
    lines: &'a [Arc<[Line]>],
) -> State<'a> {
    let f = s.fast();
    if f.flags & fr::VALID != 0 {
        let q = if f.flags & fr::QER != 0 {
            line(lines, f.qer_slot)
        } else {
            None
        };
        // A paired URR counts in the QER's line: its own is not needed.
        let u = if f.flags & (fr::URR | fr::PAIRED) == fr::URR {
            line(lines, f.urr_slot)
        } else {
            None
        };
        if let Some(l) = q {
            cpu::prefetch(l);
        }
        if let Some(l) = u {
            cpu::prefetch(l);
        }
        return (q, u);
    }
    if let Some(e) = s.rules().shared() {
        if let Some(p) = e.first() {
            cpu::prefetch(p);
            cpu::prefetch(&p.far);
            cpu::prefetch(&p.qers[1]);
            cpu::prefetch(&p.sdf);
        }
        prefetch_state(e, lines);
    }
    (None, None)
}

/// Prefetches the state lines the first PDR of `e` will touch.
#[inline(always)]
pub fn prefetch_state(e: &[CPdr], lines: &[Arc<[Line]>]) {
    if let Some(p) = e.first() {
        for q in p.qers.iter().flatten() {
            if let Some(l) = line(lines, q.slot) {
                cpu::prefetch(l);
            }
        }
        for &s in p.urr_slots() {
            if let Some(l) = line(lines, s) {
                cpu::prefetch(l);
            }
        }
    }
}

/// What the pipeline reads for one burst.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The snapshot in use.
    pub snap: &'a Snapshot,
    /// This worker's state lines.
    pub lines: &'a [Arc<[Line]>],
    /// TSC now.
    pub now: u64,
}

/// Most events held between two flushes to the event ring.
pub const EVENT_BATCH: usize = 256;
const DDN_CACHE: usize = 256;

/// A worker's local pipeline state.
#[derive(Debug)]
pub struct Pipeline {
    /// Neighbour cache.
    pub neigh: NeighborCache,
    /// Events to hand to the control thread.
    pub events: Vec<Event>,
    /// Neighbours learned in this burst (pending packets wait for them).
    pub learned: Vec<(Iface, IpAddr)>,
    /// Counts of this burst.
    pub(crate) counts: LocalCounts,
    ddn: Box<[(SessionId, u32, u16)]>,
    ei_tokens: AtomicU64,
    ei_last: AtomicU64,
    /// Last next hop resolved per output interface (IPv4, MAC).
    nh_cache: [(u32, MacAddr); crate::iface::IFACE_COUNT],
    /// Use the fast path (off only to compare it with the general one).
    pub fast_path: bool,
    /// Frames the fast path handled.
    pub fast_hits: u64,
}

mod fast;

impl Default for Pipeline {
    fn default() -> Self {
        Self::new()
    }
}

struct Ip {
    v6: bool,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    /// Offset of the transport header from the IP header.
    l4: usize,
    total_len: usize,
    fragment: bool,
    later_fragment: bool,
}

fn wire(e: WireError) -> DropReason {
    match e {
        WireError::Unsupported | WireError::ComprehensionRequired(_) => D::Unsupported,
        WireError::Truncated | WireError::Malformed | WireError::Checksum => D::Malformed,
    }
}

fn parse_ip(d: &[u8], verify: bool) -> Result<Ip, DropReason> {
    match d.first().map(|b| b >> 4) {
        Some(4) => {
            let p = ipv4::Packet::new_checked(d).map_err(wire)?;
            if verify && !p.verify_checksum() {
                return Err(D::Malformed);
            }
            Ok(Ip {
                v6: false,
                src: p.src().into(),
                dst: p.dst().into(),
                protocol: p.protocol(),
                l4: p.header_len(),
                total_len: usize::from(p.total_len()),
                fragment: p.is_fragment(),
                later_fragment: p.is_later_fragment(),
            })
        }
        Some(6) => {
            let p = ipv6::Packet::new_checked(d).map_err(wire)?;
            let t = p.transport().map_err(wire)?;
            Ok(Ip {
                v6: true,
                src: p.src().into(),
                dst: p.dst().into(),
                protocol: t.protocol,
                l4: t.offset,
                total_len: p.total_len(),
                fragment: t.later_fragment
                    || t.offset > ipv6::HEADER_LEN && has_fragment_header(&p),
                later_fragment: t.later_fragment,
            })
        }
        _ => Err(D::Malformed),
    }
}

fn has_fragment_header<T: AsRef<[u8]>>(p: &ipv6::Packet<T>) -> bool {
    // Only walked for packets that have extension headers at all.
    let b = p.payload();
    let mut nh = p.next_header();
    let mut off = 0;
    for _ in 0..8 {
        match nh {
            ipv6::ext::FRAGMENT => return true,
            ipv6::ext::HOP_BY_HOP | ipv6::ext::ROUTING | ipv6::ext::DEST_OPTS | ipv6::ext::AH => {
                let Some(h) = b.get(off..off + 2) else {
                    return false;
                };
                off += if nh == ipv6::ext::AH {
                    (usize::from(h[1]) + 2) * 4
                } else {
                    (usize::from(h[1]) + 1) * 8
                };
                nh = h[0];
            }
            _ => return false,
        }
    }
    false
}

fn flow_of(ip: &Ip, d: &[u8]) -> Flow {
    let (mut sport, mut dport) = (0, 0);
    if matches!(ip.protocol, protocol::TCP | protocol::UDP)
        && !ip.later_fragment
        && let Some(b) = d.get(ip.l4..ip.l4 + 4)
    {
        sport = u16::from_be_bytes([b[0], b[1]]);
        dport = u16::from_be_bytes([b[2], b[3]]);
    }
    Flow {
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        sport,
        dport,
    }
}

fn ue6_key(a: IpAddr) -> u64 {
    match a {
        IpAddr::V6(a) => (u128::from(a) >> 64) as u64,
        IpAddr::V4(_) => 0,
    }
}

/// Makes `b` hold exactly `frame`.
pub fn set_frame<B: PacketBuf>(b: &mut B, frame: &[u8]) -> bool {
    let l = b.len();
    let ok = if l > frame.len() {
        b.trim(l - frame.len())
    } else {
        b.append(frame.len() - l)
    };
    if ok {
        b.data_mut().copy_from_slice(frame);
    }
    ok
}

/// Writes an IPv4 or IPv6 + UDP header for `payload_len` bytes of payload at
/// the start of `b`; returns the header length. The UDP checksum is zero for
/// IPv4 and must be filled by the caller for IPv6 once the payload is there.
fn emit_ip_udp(
    b: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    tos: u8,
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Result<usize, DropReason> {
    let udp_len = u16::try_from(payload_len + udp::HEADER_LEN).map_err(|_| D::Malformed)?;
    let hl = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4::Repr {
                src: s,
                dst: d,
                protocol: protocol::UDP,
                ttl: 64,
                tos,
                ident: 0,
                dont_frag: true,
                payload_len: udp_len,
            }
            .emit(b)
            .map_err(|_| D::NoBuffer)?;
            ipv4::HEADER_LEN
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ipv6::Repr {
                src: s,
                dst: d,
                next_header: protocol::UDP,
                hop_limit: 64,
                traffic_class: tos,
                flow_label: 0,
                payload_len: udp_len,
            }
            .emit(b)
            .map_err(|_| D::NoBuffer)?;
            ipv6::HEADER_LEN
        }
        _ => return Err(D::NextHopUnresolved),
    };
    udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: udp_len - 8,
    }
    .emit(&mut b[hl..])
    .map_err(|_| D::NoBuffer)?;
    Ok(hl)
}

fn fill_udp6(b: &mut [u8], hl: usize, src: IpAddr, dst: IpAddr) {
    if hl == ipv6::HEADER_LEN
        && let Ok(mut u) = udp::Packet::new_checked(&mut b[hl..])
    {
        u.fill_checksum(src, dst);
    }
}

fn own_addr(cfg: &IfaceConfig, v6: bool) -> Option<IpAddr> {
    if v6 {
        cfg.ipv6.map(|(a, _)| IpAddr::V6(a))
    } else {
        cfg.ipv4.map(|(a, _)| IpAddr::V4(a))
    }
}

/// A hash of an IPv4 packet's flow (addresses, protocol, ports of the first
/// fragment), read at fixed offsets; `p` is the IPv4 packet (ihl 5 or more).
#[inline(always)]
fn flow_hash_v4(p: &[u8]) -> u32 {
    let w = |o: usize| {
        p.get(o..o + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let hl = usize::from(p.first().map_or(5, |b| b & 0x0f)) * 4;
    let proto = p.get(9).copied().unwrap_or(0);
    let first = p.get(6..8).is_some_and(|b| (b[0] & 0x1f) | b[1] == 0);
    let ports = if (proto == protocol::TCP || proto == protocol::UDP) && first && p.len() >= hl + 4
    {
        w(hl)
    } else {
        0
    };
    w(12) ^ w(16).rotate_left(16) ^ ports ^ u32::from(proto)
}

/// The outer UDP source port for a flow hash: 49152..=65535 (RSS entropy
/// at the receiver, one port per inner flow).
#[inline(always)]
fn port_of_hash(h: u32) -> u16 {
    0xc000 | ((h.wrapping_mul(0x9e37_79b1) >> 18) as u16 & 0x3fff)
}

fn flow_port(f: &Flow, inner: &[u8]) -> u16 {
    if !f.src.is_ipv6() {
        return port_of_hash(flow_hash_v4(inner));
    }
    let a = |x: IpAddr| match x {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u32) ^ ((v >> 32) as u32) ^ ((v >> 64) as u32) ^ ((v >> 96) as u32)
        }
    };
    port_of_hash(
        a(f.src)
            ^ a(f.dst).rotate_left(16)
            ^ (u32::from(f.sport) << 16 | u32::from(f.dport))
            ^ u32::from(f.protocol),
    )
}

struct Matched<'e> {
    pdr: &'e CPdr,
    /// Offset of the IP packet the FAR acts on (inner for tunnels).
    inner: usize,
    /// Offset of the outer IP header (equals `inner` for plain IP).
    l3: usize,
    ip_len: usize,
    tunnelled: bool,
    flow: Flow,
    psc_qfi: Option<u8>,
}

impl Pipeline {
    /// A fresh pipeline state.
    #[must_use]
    pub fn new() -> Self {
        Self {
            neigh: NeighborCache::new(),
            events: Vec::with_capacity(EVENT_BATCH),
            learned: Vec::with_capacity(64),
            counts: LocalCounts::default(),
            ddn: vec![(u64::MAX, 0, 0); DDN_CACHE].into_boxed_slice(),
            ei_tokens: AtomicU64::new(0),
            ei_last: AtomicU64::new(0),
            nh_cache: [(0, MacAddr::ZERO); crate::iface::IFACE_COUNT],
            fast_path: true,
            fast_hits: 0,
        }
    }

    /// Forgets cached next hops (after the neighbour cache changed).
    pub fn neighbors_changed(&mut self) {
        self.nh_cache = [(0, MacAddr::ZERO); crate::iface::IFACE_COUNT];
    }

    fn event(&mut self, e: Event) {
        if self.events.len() < EVENT_BATCH {
            self.events.push(e);
        } else {
            self.counts.events_lost += 1;
        }
    }

    /// A datagram to the N4 address: checked like the kernel would (IPv4
    /// header and UDP checksums), then its payload handed to the control
    /// thread. Lost (counted in `events_lost`) when the event batch is full.
    #[cold]
    #[inline(never)]
    fn n4_datagram(&mut self, iface: Iface, ip: &Ip, ipd: &[u8]) -> Result<Verdict, DropReason> {
        if !ip.v6
            && !ipv4::Packet::new_checked(ipd)
                .map_err(wire)?
                .verify_checksum()
        {
            return Err(D::Malformed);
        }
        let u = udp::Packet::new_checked(&ipd[ip.l4..]).map_err(wire)?;
        if !u.verify_checksum(ip.src, ip.dst) {
            return Err(D::Malformed);
        }
        self.event(Event::N4Datagram {
            iface,
            src: SocketAddr::new(ip.src, u.src_port()),
            data: u.payload().into(),
        });
        Ok(Verdict::Consumed)
    }

    /// Processes one received frame whose peeked key the burst loop looked
    /// up: its slot for TEID / UE IPv4 keys, the PDRs found (from the slot,
    /// or the IPv6 map) and the state lines of the slot's fast digest.
    #[inline(always)]
    pub(crate) fn process_found<B: PacketBuf>(
        &mut self,
        ctx: &Ctx<'_>,
        iface: Iface,
        buf: &mut B,
        found: (LookupKey, Option<&Slot<u32>>, Option<&Rules>, State<'_>),
    ) -> Verdict {
        let (key, slot, entry, state) = found;
        if self.fast_path
            && let Some(s) = slot
            && let Some(v) = self.fast_slot(ctx, iface, buf, s, state)
        {
            self.fast_hits += 1;
            return v;
        }
        self.process(*ctx, iface, buf, (key, entry))
    }

    /// Processes one received frame. `hint` is the entry found for the
    /// peeked key (prefetched by the burst loop).
    pub fn process<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        iface: Iface,
        buf: &mut B,
        hint: (LookupKey, Option<&Rules>),
    ) -> Verdict {
        if self.fast_path
            && let Some(v) = self.fast(ctx, iface, buf, hint)
        {
            self.fast_hits += 1;
            return v;
        }
        match self.process_inner(ctx, iface, buf, hint) {
            Ok(v) => v,
            Err(r) => Verdict::Drop(r),
        }
    }

    fn process_inner<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        iface: Iface,
        buf: &mut B,
        hint: (LookupKey, Option<&Rules>),
    ) -> Result<Verdict, DropReason> {
        let Some(cfg) = ctx.snap.net.iface(iface) else {
            return Err(D::NotForUs);
        };
        let d = buf.data();
        let eth = ethernet::Frame::new_checked(d).map_err(wire)?;
        let l3 = eth.header_len();
        let vlan = eth.vlan();
        let src_mac = eth.src();
        match eth.ethertype() {
            ethertype::ARP => return self.arp(ctx, iface, cfg, buf, l3),
            ethertype::IPV4 | ethertype::IPV6 => {}
            _ => return Err(D::Unsupported),
        }
        let ip = parse_ip(&d[l3..], iface.is_gtpu())?;
        let ipd = &d[l3..l3 + ip.total_len];
        let lookup = |k: LookupKey| if hint.0 == k { hint.1 } else { k.get(ctx.snap) };

        // N4 through the DPDK port: UDP to exactly `pfcp.listen` on the
        // interface that owns it goes to the control thread (unfragmented
        // only: PFCP messages fit the MTU, and nothing here reassembles).
        if let Some(n4) = ctx.snap.net.n4
            && ip.dst == n4.ip()
            && ip.protocol == protocol::UDP
            && !ip.fragment
            && ipd.get(ip.l4 + 2..ip.l4 + 4) == Some(&n4.port().to_be_bytes()[..])
            && cfg.is_own(ip.dst)
        {
            return self.n4_datagram(iface, &ip, ipd);
        }

        if !iface.is_gtpu() {
            if cfg.is_own(ip.dst) {
                return self.icmp_echo(iface, cfg, buf, l3, &ip);
            }
            let key = match ip.dst {
                IpAddr::V4(a) => LookupKey::Ue4(u32::from(a)),
                IpAddr::V6(_) => LookupKey::Ue6(ue6_key(ip.dst)),
            };
            let entry = lookup(key).ok_or(D::NoPdr)?.pdrs();
            let flow = flow_of(&ip, ipd);
            let pdr = entry
                .iter()
                .find(|p| p.sdf.is_empty() || p.sdf.iter().any(|s| s.matches(&flow, p.dir)))
                .ok_or(D::NoPdr)?;
            let m = Matched {
                pdr,
                inner: l3,
                l3,
                ip_len: ip.total_len,
                tunnelled: false,
                flow,
                psc_qfi: None,
            };
            return self.apply(ctx, buf, &m);
        }

        if !cfg.is_own(ip.dst) {
            return Err(D::NotForUs);
        }
        match ip.protocol {
            protocol::UDP => {}
            protocol::ICMP | protocol::ICMPV6 => return self.icmp_echo(iface, cfg, buf, l3, &ip),
            _ => return Err(D::Unsupported),
        }
        if ip.fragment {
            return Err(D::Unsupported);
        }
        let u = udp::Packet::new_checked(&ipd[ip.l4..]).map_err(wire)?;
        if u.dst_port() != gtpu::PORT {
            return Err(D::Unsupported);
        }
        let sport = u.src_port();
        let g = gtpu::Packet::new_checked(u.payload()).map_err(wire)?;
        let gh = match gtpu::Repr::parse(&g) {
            Ok(gh) => gh,
            // TS 29.281 section 5.2.1: an extension header we do not know
            // and must comprehend: tell the sender what we support.
            Err(WireError::ComprehensionRequired(_)) => {
                let m = g.message();
                let seq = (g.flags() & gtpu::flags::S != 0)
                    .then(|| m.get(8..10).map(|b| u16::from_be_bytes([b[0], b[1]])))
                    .flatten();
                return self.supported_ext_headers(
                    &ctx,
                    iface,
                    cfg,
                    buf,
                    (src_mac, vlan),
                    &ip,
                    seq,
                );
            }
            Err(e) => return Err(wire(e)),
        };
        let gtp_off = l3 + ip.l4 + udp::HEADER_LEN;
        // The header as received: a sender may set E (or S/PN) with nothing
        // behind it, which `Repr` does not keep; the payload length is exact.
        let inner =
            gtp_off + gtpu::HEADER_LEN + usize::from(g.length()) - usize::from(gh.payload_len);
        match gh.msg_type {
            gtpu::msg::G_PDU => {}
            gtpu::msg::ECHO_REQUEST => {
                return self.echo_response(
                    iface,
                    cfg,
                    buf,
                    (src_mac, vlan),
                    &ip,
                    sport,
                    gh.seq.unwrap_or(0),
                );
            }
            gtpu::msg::ECHO_RESPONSE => {
                let ies = gtpu::Ies::parse(&d[inner..inner + usize::from(gh.payload_len)])
                    .unwrap_or_default();
                self.event(Event::EchoResponse {
                    peer: ip.src,
                    recovery: ies.recovery,
                });
                return Ok(Verdict::Consumed);
            }
            gtpu::msg::ERROR_INDICATION => {
                let ies = gtpu::Ies::parse(&d[inner..inner + usize::from(gh.payload_len)])
                    .map_err(wire)?;
                let teid = ies.teid_data_i.ok_or(D::Malformed)?;
                self.event(Event::ErrorIndication {
                    teid,
                    peer: ies.peer_address.unwrap_or(ip.src),
                });
                return Ok(Verdict::Consumed);
            }
            gtpu::msg::END_MARKER => {
                let teid = gh.teid;
                let entry = lookup(LookupKey::Teid(teid));
                return self.relay_end_marker(ctx, buf, entry);
            }
            _ => return Err(D::Unsupported),
        }
        let Some(entry) = lookup(LookupKey::Teid(gh.teid)).map(Rules::pdrs) else {
            return self.error_indication(
                ctx,
                iface,
                cfg,
                buf,
                (src_mac, vlan),
                &ip,
                sport,
                gh.teid,
            );
        };
        let idata = &d[inner..inner + usize::from(gh.payload_len)];
        let iip = parse_ip(idata, false)?;
        let flow = flow_of(&iip, idata);
        let psc_qfi = gh.psc.map(|p| p.qfi);
        let mut spoofed = false;
        let pdr = entry
            .iter()
            .find(|p| {
                if p.qfi.is_some() && p.qfi != psc_qfi {
                    return false;
                }
                let ue_ok = match flow.src {
                    IpAddr::V4(a) => {
                        p.ue4.is_none_or(|u| u == u32::from(a))
                            && (p.ue4.is_some() || p.ue6.is_none())
                    }
                    IpAddr::V6(_) => {
                        p.ue6.is_none_or(|u| u == ue6_key(flow.src))
                            && (p.ue6.is_some() || p.ue4.is_none())
                    }
                };
                if p.dir == Direction::Ul && !ue_ok {
                    spoofed = true;
                    return false;
                }
                p.sdf.is_empty() || p.sdf.iter().any(|s| s.matches(&flow, p.dir))
            })
            .ok_or(if spoofed { D::SpoofedSource } else { D::NoPdr })?;
        let m = Matched {
            pdr,
            inner,
            l3,
            ip_len: iip.total_len,
            tunnelled: true,
            flow,
            psc_qfi,
        };
        self.apply(ctx, buf, &m)
    }

    /// An End Marker on a tunnel whose FAR re-encapsulates (an I-UPF
    /// between a PSA and a gNB, TS 29.281 section 7.3.2 and TS 23.502
    /// 4.9.1.3) is relayed on the outgoing tunnel; anywhere else it ends here.
    fn relay_end_marker<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        buf: &mut B,
        entry: Option<&Rules>,
    ) -> Result<Verdict, DropReason> {
        let pdrs = entry.map(Rules::pdrs);
        let Some(ohc) = pdrs
            .as_deref()
            .and_then(|e| {
                e.iter().find(|p| {
                    p.far.action == crate::tables::FarAction::Forward && p.far.ohc.is_some()
                })
            })
            .map(|p| (p.far.out, p.far.ohc, p.far.dscp))
            .and_then(|(o, h, d)| h.map(|h| (o, h, d)))
        else {
            return Ok(Verdict::Consumed);
        };
        let (out, ohc, dscp) = ohc;
        let ocfg = ctx.snap.net.iface(out).ok_or(D::NextHopUnresolved)?;
        let src = own_addr(ocfg, ohc.peer.is_ipv6()).ok_or(D::NextHopUnresolved)?;
        let gh = gtpu::Repr {
            msg_type: gtpu::msg::END_MARKER,
            ..gtpu::Repr::gpdu(ohc.teid, 0)
        };
        let mut f = [0u8; 64];
        let hl = emit_ip_udp(
            &mut f,
            src,
            ohc.peer,
            dscp.map_or(0, |d| d << 2),
            gtpu::PORT,
            gtpu::PORT,
            gh.header_len(),
        )?;
        gh.emit(&mut f[hl + udp::HEADER_LEN..])
            .map_err(|_| D::NoBuffer)?;
        let end = hl + udp::HEADER_LEN + gh.header_len();
        fill_udp6(&mut f[..end], hl, src, ohc.peer);
        if !set_frame(buf, &f[..end]) {
            return Err(D::NoBuffer);
        }
        let et = if ohc.peer.is_ipv6() {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        };
        self.route_out(ctx, out, buf, ohc.peer, et)
    }

    fn downlink_data(&mut self, pdr: &CPdr, qfi: Option<u8>) {
        let i = ((pdr.session as usize) ^ usize::from(pdr.id)) % DDN_CACHE;
        let tag = (pdr.session, pdr.version, pdr.id);
        if self.ddn[i] != tag {
            self.ddn[i] = tag;
            self.event(Event::DownlinkData {
                session: pdr.session,
                pdr_id: pdr.id,
                qfi,
            });
        }
    }

    fn apply<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        buf: &mut B,
        m: &Matched<'_>,
    ) -> Result<Verdict, DropReason> {
        let pdr = m.pdr;
        let far = &pdr.far;
        let dl = pdr.dir == Direction::Dl;
        let mut qfi = None;
        let mut rqi = false;
        for q in pdr.qers.iter().flatten() {
            if qfi.is_none() {
                qfi = q.qfi;
                rqi = q.rqi;
            }
        }
        if far.notify || far.action == crate::tables::FarAction::Buffer {
            self.downlink_data(pdr, qfi);
        }
        match far.action {
            crate::tables::FarAction::Drop => return Err(D::RuleDrop),
            crate::tables::FarAction::Buffer => {
                return Ok(Verdict::Buffer {
                    session: pdr.session,
                });
            }
            crate::tables::FarAction::Forward => {}
        }
        let len = m.ip_len as u64;
        for q in pdr.qers.iter().flatten() {
            if !q.open {
                return Err(D::GateClosed);
            }
            if let (Some(meter), Some(l)) = (q.meter(), line(ctx.lines, q.slot))
                && !meter_conform(&meter, l, dl, ctx.now, len)
            {
                return Err(D::MbrExceeded);
            }
        }
        count(pdr, ctx.lines, dl, len, ctx.now);

        let out = far.out;
        let ocfg = ctx.snap.net.iface(out).ok_or(D::NextHopUnresolved)?;
        // Keep the IP packet the FAR acts on: strip the tunnel when asked
        // (or when re-encapsulating), drop link padding.
        let strip = if m.tunnelled && (pdr.remove_outer || far.ohc.is_some()) {
            m.inner
        } else {
            m.l3
        };
        let keep = if strip == m.inner {
            m.ip_len
        } else {
            buf.len() - m.l3
        };
        if !buf.adj(strip) || !buf.trim(buf.len().saturating_sub(keep)) {
            return Err(D::Malformed);
        }
        let d = buf.data_mut();
        let v6_inner = d.first().is_some_and(|b| b >> 4 == 6);
        if strip == m.inner {
            let alive = if v6_inner {
                ipv6::Packet::new_unchecked(&mut *d).decrement_hop_limit()
            } else {
                ipv4::Packet::new_unchecked(&mut *d).decrement_ttl()
            };
            if !alive {
                return Err(D::TtlExceeded);
            }
        }
        let (dst, et) = if let Some(ohc) = far.ohc {
            let psc = qfi.or(m.psc_qfi).map(|qfi| PduSessionContainer {
                pdu_type: if dl { PduType::Dl } else { PduType::Ul },
                qfi,
                rqi: rqi && dl,
                ppi: None,
            });
            let src = own_addr(ocfg, ohc.peer.is_ipv6()).ok_or(D::NextHopUnresolved)?;
            let payload_len = u16::try_from(buf.len()).map_err(|_| D::Malformed)?;
            let gh = gtpu::Repr {
                psc,
                ..gtpu::Repr::gpdu(ohc.teid, payload_len)
            };
            let ghl = gh.header_len();
            let iphl = if ohc.peer.is_ipv6() {
                ipv6::HEADER_LEN
            } else {
                ipv4::HEADER_LEN
            };
            let sport = flow_port(&m.flow, buf.data());
            if !buf.prepend(iphl + udp::HEADER_LEN + ghl) {
                return Err(D::NoBuffer);
            }
            let b = buf.data_mut();
            let tos = far.dscp.map_or(0, |d| d << 2);
            let hl = emit_ip_udp(
                b,
                src,
                ohc.peer,
                tos,
                sport,
                gtpu::PORT,
                ghl + usize::from(payload_len),
            )?;
            gh.emit(&mut b[hl + udp::HEADER_LEN..])
                .map_err(|_| D::NoBuffer)?;
            fill_udp6(b, hl, src, ohc.peer);
            (
                ohc.peer,
                if ohc.peer.is_ipv6() {
                    ethertype::IPV6
                } else {
                    ethertype::IPV4
                },
            )
        } else {
            (
                m.flow.dst,
                if v6_inner {
                    ethertype::IPV6
                } else {
                    ethertype::IPV4
                },
            )
        };
        self.route_out(ctx, out, buf, dst, et)
    }

    /// Puts an Ethernet header on the IP packet in `buf` toward the next hop
    /// of `dst` out of `out`: [`Verdict::Tx`] when the neighbour is known,
    /// else [`Verdict::Pending`] with the destination MAC left zero.
    pub fn route_out<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        out: Iface,
        buf: &mut B,
        dst: IpAddr,
        et: u16,
    ) -> Result<Verdict, DropReason> {
        let ocfg = ctx.snap.net.iface(out).ok_or(D::NextHopUnresolved)?;
        let nh = ocfg.next_hop(dst).ok_or(D::NextHopUnresolved)?;
        let eth = ethernet::Repr {
            dst: MacAddr::ZERO,
            src: ocfg.mac,
            vlan: ocfg.vlan,
            ethertype: et,
        };
        if !buf.prepend(eth.header_len()) {
            return Err(D::NoBuffer);
        }
        match self.neigh.lookup(out, nh) {
            Some(mac) => {
                ethernet::Repr { dst: mac, ..eth }
                    .emit(buf.data_mut())
                    .map_err(|_| D::NoBuffer)?;
                Ok(Verdict::Tx(out))
            }
            None => {
                eth.emit(buf.data_mut()).map_err(|_| D::NoBuffer)?;
                Ok(Verdict::Pending {
                    iface: out,
                    next_hop: nh,
                })
            }
        }
    }

    fn arp<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        iface: Iface,
        cfg: &IfaceConfig,
        buf: &mut B,
        l3: usize,
    ) -> Result<Verdict, DropReason> {
        let a = arp::Repr::parse(&arp::Packet::new_checked(&buf.data()[l3..]).map_err(wire)?)
            .map_err(wire)?;
        let own = cfg.ipv4.map(|(o, _)| o);
        let for_us = Some(a.tpa) == own;
        let on_link = cfg.next_hop(a.spa.into()) == Some(a.spa.into());
        if (for_us || a.op == arp::Operation::Reply)
            && on_link
            && !a.sha.is_multicast()
            && a.sha != MacAddr::ZERO
        {
            let ip = IpAddr::V4(a.spa);
            if self.neigh.learn(iface, ip, a.sha, ctx.now) {
                self.neighbors_changed();
                self.event(Event::NeighborLearned {
                    iface,
                    ip,
                    mac: a.sha,
                });
            }
            if self.learned.len() < self.learned.capacity() {
                self.learned.push((iface, ip));
            }
        }
        if a.op == arp::Operation::Request && for_us {
            let reply = arp::Repr {
                op: arp::Operation::Reply,
                sha: cfg.mac,
                spa: a.tpa,
                tha: a.sha,
                tpa: a.spa,
            };
            let d = buf.data_mut();
            let mut f = ethernet::Frame::new_unchecked(&mut *d);
            f.set_dst(a.sha);
            f.set_src(cfg.mac);
            reply.emit(&mut d[l3..]).map_err(|_| D::Malformed)?;
            return Ok(Verdict::Tx(iface));
        }
        Ok(Verdict::Consumed)
    }

    fn icmp_echo<B: PacketBuf>(
        &mut self,
        iface: Iface,
        cfg: &IfaceConfig,
        buf: &mut B,
        l3: usize,
        ip: &Ip,
    ) -> Result<Verdict, DropReason> {
        let want = if ip.v6 {
            protocol::ICMPV6
        } else {
            protocol::ICMP
        };
        if ip.protocol != want || ip.fragment {
            return Err(D::Unsupported);
        }
        let end = l3 + ip.total_len;
        let trim = buf.len() - end;
        if !buf.trim(trim) {
            return Err(D::Malformed);
        }
        let d = buf.data_mut();
        let msg = l3 + ip.l4;
        let p = icmp::Packet::new_checked(&d[msg..]).map_err(wire)?;
        let e = icmp::EchoRepr::parse(&p, ip.v6).map_err(wire)?;
        if !e.request {
            return Err(D::Unsupported);
        }
        // Swap link and network addresses, answer with the same id/seq/data.
        let (dm, sm) = (
            ethernet::Frame::new_unchecked(&*d).dst(),
            ethernet::Frame::new_unchecked(&*d).src(),
        );
        let mut f = ethernet::Frame::new_unchecked(&mut *d);
        f.set_dst(sm);
        f.set_src(if dm.is_multicast() { cfg.mac } else { dm });
        if ip.v6 {
            let (IpAddr::V6(s), IpAddr::V6(t)) = (ip.src, ip.dst) else {
                return Err(D::Malformed);
            };
            d[l3 + 8..l3 + 24].copy_from_slice(&t.octets());
            d[l3 + 24..l3 + 40].copy_from_slice(&s.octets());
            d[l3 + 7] = 64;
            let mut p = icmp::Packet::new_checked(&mut d[msg..]).map_err(wire)?;
            p.set_msg_type(icmp::kind::V6_ECHO_REPLY);
            p.fill_checksum_v6(&t, &s);
        } else {
            let (IpAddr::V4(s), IpAddr::V4(t)) = (ip.src, ip.dst) else {
                return Err(D::Malformed);
            };
            d[l3 + 12..l3 + 16].copy_from_slice(&t.octets());
            d[l3 + 16..l3 + 20].copy_from_slice(&s.octets());
            d[l3 + 8] = 64;
            ipv4::Packet::new_unchecked(&mut d[l3..]).fill_checksum();
            let mut p = icmp::Packet::new_checked(&mut d[msg..]).map_err(wire)?;
            p.set_msg_type(icmp::kind::V4_ECHO_REPLY);
            p.fill_checksum_v4();
        }
        Ok(Verdict::Tx(iface))
    }

    /// Replaces the frame with a UDP datagram from `src` to `dst` on the
    /// link the request came from.
    #[allow(clippy::too_many_arguments)]
    fn udp_reply<B: PacketBuf>(
        buf: &mut B,
        cfg: &IfaceConfig,
        link: (MacAddr, Option<u16>),
        src: IpAddr,
        dst: IpAddr,
        dport: u16,
        payload: &[u8],
    ) -> Result<(), DropReason> {
        let mut f = [0u8; 256];
        let eth = ethernet::Repr {
            dst: link.0,
            src: cfg.mac,
            vlan: link.1,
            ethertype: if dst.is_ipv6() {
                ethertype::IPV6
            } else {
                ethertype::IPV4
            },
        };
        let el = eth.header_len();
        eth.emit(&mut f).map_err(|_| D::NoBuffer)?;
        let hl = emit_ip_udp(&mut f[el..], src, dst, 0, gtpu::PORT, dport, payload.len())?;
        let start = el + hl + udp::HEADER_LEN;
        let end = start + payload.len();
        f.get_mut(start..end)
            .ok_or(D::NoBuffer)?
            .copy_from_slice(payload);
        fill_udp6(&mut f[el..end], hl, src, dst);
        if set_frame(buf, &f[..end]) {
            Ok(())
        } else {
            Err(D::NoBuffer)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn echo_response<B: PacketBuf>(
        &mut self,
        iface: Iface,
        cfg: &IfaceConfig,
        buf: &mut B,
        link: (MacAddr, Option<u16>),
        ip: &Ip,
        sport: u16,
        seq: u16,
    ) -> Result<Verdict, DropReason> {
        let ies = gtpu::Ies {
            recovery: Some(0),
            ..gtpu::Ies::default()
        };
        let gh = gtpu::Repr {
            msg_type: gtpu::msg::ECHO_RESPONSE,
            seq: Some(seq),
            ..gtpu::Repr::gpdu(0, 2)
        };
        let mut p = [0u8; 16];
        gh.emit(&mut p).map_err(|_| D::NoBuffer)?;
        ies.emit(&mut p[12..]).map_err(|_| D::NoBuffer)?;
        Self::udp_reply(buf, cfg, link, ip.dst, ip.src, sport, &p[..14])?;
        Ok(Verdict::Tx(iface))
    }

    /// Supported Extension Headers Notification (TS 29.281 section
    /// 7.2.2): the G-PDU named an extension header that must be
    /// comprehended and is not ours; the sender learns the types we take
    /// (path management message: TEID 0, sent to port 2152). Rate-limited
    /// with the Error Indications; the PDU itself is dropped as unsupported.
    #[allow(clippy::too_many_arguments)]
    fn supported_ext_headers<B: PacketBuf>(
        &mut self,
        ctx: &Ctx<'_>,
        iface: Iface,
        cfg: &IfaceConfig,
        buf: &mut B,
        link: (MacAddr, Option<u16>),
        ip: &Ip,
        seq: Option<u16>,
    ) -> Result<Verdict, DropReason> {
        if !self.error_reply_allowed(ctx) {
            return Err(D::Unsupported);
        }
        let list = gtpu::ext::SUPPORTED;
        let gh = gtpu::Repr {
            msg_type: gtpu::msg::SUPPORTED_EXT_HEADERS,
            seq: Some(seq.unwrap_or(0)),
            ..gtpu::Repr::gpdu(0, u16::try_from(2 + list.len()).unwrap_or(0))
        };
        let mut p = [0u8; 32];
        let hl = gh.header_len();
        gh.emit(&mut p).map_err(|_| D::NoBuffer)?;
        p[hl] = gtpu::ie::EXT_HEADER_TYPE_LIST;
        p[hl + 1] = u8::try_from(list.len()).unwrap_or(0);
        p[hl + 2..hl + 2 + list.len()].copy_from_slice(&list);
        Self::udp_reply(
            buf,
            cfg,
            link,
            ip.dst,
            ip.src,
            gtpu::PORT,
            &p[..hl + 2 + list.len()],
        )?;
        self.counts.drop(D::Unsupported);
        Ok(Verdict::Tx(iface))
    }

    /// The token bucket shared by the GTP-U error replies (Error Indication,
    /// Supported Extension Headers Notification): `error_indication_pps`.
    fn error_reply_allowed(&mut self, ctx: &Ctx<'_>) -> bool {
        let pps = u64::from(ctx.snap.net.error_indication_pps);
        let limiter = MeterParams::new(pps * 8, pps.div_ceil(10).max(1), ctx.snap.tsc_hz);
        pps != 0 && limiter.conform(&self.ei_tokens, &self.ei_last, ctx.now, 1)
    }

    #[allow(clippy::too_many_arguments)]
    fn error_indication<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        iface: Iface,
        cfg: &IfaceConfig,
        buf: &mut B,
        link: (MacAddr, Option<u16>),
        ip: &Ip,
        sport: u16,
        teid: u32,
    ) -> Result<Verdict, DropReason> {
        if !self.error_reply_allowed(&ctx) {
            return Err(D::NoPdr);
        }
        let ies = gtpu::Ies {
            recovery: None,
            teid_data_i: Some(teid),
            peer_address: Some(ip.dst),
        };
        let il = ies.wire_len();
        let gh = gtpu::Repr {
            msg_type: gtpu::msg::ERROR_INDICATION,
            seq: Some(0),
            udp_port: Some(sport),
            ..gtpu::Repr::gpdu(0, u16::try_from(il).unwrap_or(0))
        };
        let mut p = [0u8; 64];
        let hl = gh.header_len();
        gh.emit(&mut p).map_err(|_| D::NoBuffer)?;
        ies.emit(&mut p[hl..]).map_err(|_| D::NoBuffer)?;
        Self::udp_reply(buf, cfg, link, ip.dst, ip.src, gtpu::PORT, &p[..hl + il])?;
        // The G-PDU itself is dropped for lack of a PDR; its buffer carries the reply.
        self.counts.drop(D::NoPdr);
        Ok(Verdict::Tx(iface))
    }
}

/// Counts a packet of `len` bytes in every URR of `pdr`: in the line of
/// its QER when the two are a pair, else in each URR's own line.
#[inline(always)]
fn count(pdr: &CPdr, lines: &[Arc<[Line]>], dl: bool, len: u64, now: u64) {
    if pdr.urr_in_qer
        && let (Some(q), [u]) = (pdr.qers.iter().flatten().next(), pdr.urr_slots())
    {
        if let Some(l) = line(lines, q.slot) {
            count_paired(l, lines, *u, dl, len, now);
        }
        return;
    }
    for &s in pdr.urr_slots() {
        if let Some(l) = line(lines, s) {
            count_urr(l, dl, len, now);
        }
    }
}

fn meter_conform(m: &MeterParams, l: &Line, dl: bool, now: u64, len: u64) -> bool {
    let (t, s) = if dl {
        (qer_line::DL_TOKENS, qer_line::DL_LAST)
    } else {
        (qer_line::UL_TOKENS, qer_line::UL_LAST)
    };
    m.conform(&l.0[t], &l.0[s], now, len)
}

/// Builds a GTP-U End Marker (TS 29.281 section 7.3.2) from `src` to `dst`
/// for `teid`, as an IP packet for [`crate::control::Control::inject`].
#[must_use]
pub fn end_marker(src: IpAddr, dst: IpAddr, teid: u32) -> Vec<u8> {
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::END_MARKER,
        ..gtpu::Repr::gpdu(teid, 0)
    };
    ip_udp_gtp(src, dst, &gh, &[])
}

/// Builds a GTP-U Echo Request (TS 29.281 section 7.2.1) from `src` to `dst`.
#[must_use]
pub fn echo_request(src: IpAddr, dst: IpAddr, seq: u16) -> Vec<u8> {
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::ECHO_REQUEST,
        seq: Some(seq),
        ..gtpu::Repr::gpdu(0, 0)
    };
    ip_udp_gtp(src, dst, &gh, &[])
}

/// Builds an IPv4 or IPv6 UDP datagram from `src` to `dst` carrying
/// `payload`, with both checksums, as an IP packet for
/// [`crate::control::Control::inject`] (N4 answers through the DPDK port).
/// `None` when the families differ or it exceeds 65,535 bytes.
#[must_use]
pub fn udp_datagram(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let iphl = if dst.is_ipv6() {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let mut v = vec![0u8; iphl + udp::HEADER_LEN + payload.len()];
    let hl = emit_ip_udp(
        &mut v,
        src.ip(),
        dst.ip(),
        0,
        src.port(),
        dst.port(),
        payload.len(),
    )
    .ok()?;
    v[hl + udp::HEADER_LEN..].copy_from_slice(payload);
    let mut u = udp::Packet::new_checked(&mut v[hl..]).ok()?;
    u.fill_checksum(src.ip(), dst.ip());
    Some(v)
}

fn ip_udp_gtp(src: IpAddr, dst: IpAddr, gh: &gtpu::Repr, payload: &[u8]) -> Vec<u8> {
    let gh = gtpu::Repr {
        payload_len: u16::try_from(payload.len()).unwrap_or(0),
        ..*gh
    };
    let ghl = gh.header_len();
    let iphl = if dst.is_ipv6() {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let mut v = vec![0u8; iphl + udp::HEADER_LEN + ghl + payload.len()];
    if let Ok(hl) = emit_ip_udp(
        &mut v,
        src,
        dst,
        0,
        gtpu::PORT,
        gtpu::PORT,
        ghl + payload.len(),
    ) {
        let _ = gh.emit(&mut v[hl + udp::HEADER_LEN..]);
        v[hl + udp::HEADER_LEN + ghl..].copy_from_slice(payload);
        fill_udp6(&mut v, hl, src, dst);
    }
    v
}
