//! Session lookup tables as immutable, copy-on-write snapshots (RCU), and
//! the per-worker arrays of mutable state (meters, usage counters).
//!
//! Sits between the control thread, which builds a new [`Snapshot`] per
//! batch of changes, and the workers, which look up every packet's rules in
//! the snapshot they hold. A snapshot holds open-addressing hash maps
//! ([`RcuMap`]: one table each, at most 7/8 full, slots of one cache line)
//! behind `Arc`s. The control thread keeps two tables per map, left-right
//! ([`MapWriter`]): a publish writes its changes (and replays the previous
//! publish's) in place into the table no worker uses any more, so its cost
//! follows the number of changes, not the number of sessions, while a
//! lookup is one hash, one cached pointer load and one probe sequence.
//!
//! Why RCU rather than per-worker command rings: a command ring needs a
//! mutable per-worker table (N copies of 1M sessions, or a lock), and a
//! batch (one PFCP message, one reload) would not become visible atomically
//! across workers. With snapshots a batch is one pointer swap and the
//! memory is shared. Safe Rust gives the reclamation for free: the control
//! thread keeps every retired snapshot until each worker has reported a
//! newer generation, so the last `Arc` reference (and the free) is always
//! on the control thread.

use crate::iface::{Iface, NetConfig};
use crate::rules::{Direction, IpNet, OuterHeaderCreation, PortRange, SessionId};
use smallvec::SmallVec;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One cache line of per-worker mutable state (a QER's meters or a URR's
/// counters), written by one worker with relaxed load + store.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Line(pub [AtomicU64; 8]);

/// Lines per chunk of per-worker state (256 KiB).
pub const CHUNK_LINES: usize = 4096;

/// One worker's state lines: chunks allocated by the control thread.
pub type WorkerLines = Arc<[Arc<[Line]>]>;

/// The line `slot` of a worker's state, if allocated.
#[inline(always)]
#[must_use]
pub fn line(lines: &[Arc<[Line]>], slot: u32) -> Option<&Line> {
    let s = slot as usize;
    lines
        .get(s / CHUNK_LINES)
        .and_then(|c| c.get(s % CHUNK_LINES))
}

/// Adds to a single-writer counter without a locked instruction.
#[inline(always)]
pub fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Meter parameters in TSC units (fixed point, 32 fractional bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterParams {
    /// Bytes per TSC tick, times 2^32.
    pub rate_q32: u64,
    /// Bucket depth in bytes, times 2^32 (at most `u32::MAX` bytes).
    pub burst_q32: u64,
}

impl MeterParams {
    /// A token bucket of `rate_bps` bits per second and `burst` bytes.
    #[must_use]
    pub fn new(rate_bps: u64, burst: u64, tsc_hz: u64) -> Self {
        let rate_q32 =
            u64::try_from((u128::from(rate_bps) << 32) / (8 * u128::from(tsc_hz.max(1))))
                .unwrap_or(u64::MAX);
        let burst_q32 = burst.min(u64::from(u32::MAX)) << 32;
        Self {
            rate_q32,
            burst_q32,
        }
    }

    /// Takes `len` bytes from the bucket held in `tokens`/`last` if it holds
    /// that many; refills it for the time since the last packet first.
    /// `last` stores `now + 1` so that a zeroed line means "full bucket".
    #[inline(always)]
    pub fn conform(&self, tokens: &AtomicU64, last: &AtomicU64, now: u64, len: u64) -> bool {
        conform(self.rate_q32, self.burst_q32, tokens, last, now, len)
    }
}

/// The token bucket of [`MeterParams::conform`], on its two numbers (the
/// fast path keeps them inline in the table slot). No division, no clock
/// read: saturating arithmetic instead of a "time to fill" bound.
#[inline(always)]
pub fn conform(
    rate_q32: u64,
    burst_q32: u64,
    tokens: &AtomicU64,
    last: &AtomicU64,
    now: u64,
    len: u64,
) -> bool {
    let l = last.load(Relaxed);
    let t = if l == 0 {
        burst_q32
    } else {
        let elapsed = (now + 1).saturating_sub(l);
        tokens
            .load(Relaxed)
            .saturating_add(elapsed.saturating_mul(rate_q32))
            .min(burst_q32)
    };
    let cost = len << 32;
    if t < cost {
        // Nothing stored: refilling later from the same (tokens, last)
        // gives the same bucket, and `last` stays the time of the last
        // packet that passed (a paired URR's time of last packet).
        return false;
    }
    tokens.store(t - cost, Relaxed);
    last.store(now + 1, Relaxed);
    true
}

/// Word indices in a QER line.
///
/// A QER used by the same PDRs as exactly one URR of its session (each of
/// them naming just that QER and that URR: the config short form and most
/// SMFs' sessions) also carries that URR's counters, so that a packet
/// touches one state line, not two ([`count_paired`]). The last-refill
/// words are then also the time of the last packet counted (plus one): a
/// meter only writes on a conforming packet, and every counted packet is one.
pub mod qer_line {
    /// Uplink tokens.
    pub const UL_TOKENS: usize = 0;
    /// Uplink last refill (plus one; 0: never).
    pub const UL_LAST: usize = 1;
    /// Downlink tokens.
    pub const DL_TOKENS: usize = 2;
    /// Downlink last refill (plus one; 0: never).
    pub const DL_LAST: usize = 3;
    /// Paired URR: uplink bytes.
    pub const UL_BYTES: usize = 4;
    /// Paired URR: uplink packets.
    pub const UL_PACKETS: usize = 5;
    /// Paired URR: downlink bytes.
    pub const DL_BYTES: usize = 6;
    /// Paired URR: downlink packets.
    pub const DL_PACKETS: usize = 7;
}

/// Counts a packet of `len` bytes in a URR's own line.
#[inline(always)]
pub fn count_urr(l: &Line, dl: bool, len: u64, now: u64) {
    let (b, n) = if dl {
        (urr_line::DL_BYTES, urr_line::DL_PACKETS)
    } else {
        (urr_line::UL_BYTES, urr_line::UL_PACKETS)
    };
    bump(&l.0[b], len);
    bump(&l.0[n], 1);
    if l.0[urr_line::FIRST_TSC].load(Relaxed) == 0 {
        l.0[urr_line::FIRST_TSC].store(now + 1, Relaxed);
    }
    l.0[urr_line::LAST_TSC].store(now, Relaxed);
}

/// Counts a packet of `len` bytes for the URR (state slot `urr_slot`)
/// paired with the QER whose line is `q`. The URR's own line is touched
/// only by the first packet the pair counts, for the time of first packet.
#[inline(always)]
pub fn count_paired(q: &Line, lines: &[Arc<[Line]>], urr_slot: u32, dl: bool, len: u64, now: u64) {
    let (b, n, last) = if dl {
        (qer_line::DL_BYTES, qer_line::DL_PACKETS, qer_line::DL_LAST)
    } else {
        (qer_line::UL_BYTES, qer_line::UL_PACKETS, qer_line::UL_LAST)
    };
    if q.0[qer_line::UL_PACKETS].load(Relaxed) | q.0[qer_line::DL_PACKETS].load(Relaxed) == 0 {
        first_packet(lines, urr_slot, now);
    }
    bump(&q.0[b], len);
    bump(&q.0[n], 1);
    q.0[last].store(now + 1, Relaxed);
}

#[cold]
fn first_packet(lines: &[Arc<[Line]>], urr_slot: u32, now: u64) {
    if let Some(u) = line(lines, urr_slot)
        && u.0[urr_line::FIRST_TSC].load(Relaxed) == 0
    {
        u.0[urr_line::FIRST_TSC].store(now + 1, Relaxed);
    }
}

/// Word indices in a URR line.
pub mod urr_line {
    /// Uplink bytes.
    pub const UL_BYTES: usize = 0;
    /// Uplink packets.
    pub const UL_PACKETS: usize = 1;
    /// Downlink bytes.
    pub const DL_BYTES: usize = 2;
    /// Downlink packets.
    pub const DL_PACKETS: usize = 3;
    /// TSC of the first packet, plus one (0: none yet).
    pub const FIRST_TSC: usize = 4;
    /// TSC of the last packet.
    pub const LAST_TSC: usize = 5;
    /// Packets dropped by a gate or meter of the PDR (for reporting).
    pub const DROPPED: usize = 6;
}

/// What a FAR does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarAction {
    /// Forward out of `CFar::out`.
    Forward,
    /// Drop.
    Drop,
    /// Hold in the worker's buffer until the FAR changes.
    Buffer,
}

/// A FAR compiled for the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CFar {
    /// FAR id.
    pub id: u32,
    /// Forward, drop or buffer.
    pub action: FarAction,
    /// Send a Downlink Data Report event (NOCP).
    pub notify: bool,
    /// Output interface when forwarding.
    pub out: Iface,
    /// GTP-U encapsulation.
    pub ohc: Option<OuterHeaderCreation>,
    /// DSCP of the outer header (transport level marking).
    pub dscp: Option<u8>,
}

/// A QER as one PDR uses it (its direction already chosen). 24 bytes, not
/// the 32 of an `Option<MeterParams>` field: every compiled PDR holds two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CQer {
    /// Meter rate (`MeterParams::rate_q32`), when `metered`.
    rate_q32: u64,
    /// Meter bucket depth in whole bytes, when `metered`.
    burst: u32,
    /// State line of the meter.
    pub slot: u32,
    /// Gate for the PDR's direction.
    pub open: bool,
    /// A meter runs for the PDR's direction.
    metered: bool,
    /// QFI for downlink PDU Session Containers.
    pub qfi: Option<u8>,
    /// RQI for downlink PDU Session Containers.
    pub rqi: bool,
}

const _: () = assert!(core::mem::size_of::<Option<CQer>>() == 24);

impl CQer {
    /// A QER on state line `slot`. The meter's burst is kept in whole
    /// bytes, as [`MeterParams::new`] makes it.
    #[must_use]
    pub fn new(
        slot: u32,
        open: bool,
        meter: Option<MeterParams>,
        qfi: Option<u8>,
        rqi: bool,
    ) -> Self {
        let (rate_q32, burst) = meter.map_or((0, 0), |m| {
            (
                m.rate_q32,
                u32::try_from(m.burst_q32 >> 32).unwrap_or(u32::MAX),
            )
        });
        Self {
            rate_q32,
            burst,
            slot,
            open,
            metered: meter.is_some(),
            qfi,
            rqi,
        }
    }

    /// Meter for the PDR's direction.
    #[inline(always)]
    #[must_use]
    pub fn meter(&self) -> Option<MeterParams> {
        self.metered.then_some(MeterParams {
            rate_q32: self.rate_q32,
            burst_q32: u64::from(self.burst) << 32,
        })
    }
}

/// An SDF filter compiled for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSdf {
    /// Protocol; `None` for any.
    pub protocol: Option<u8>,
    /// Remote network; `None` for any.
    pub remote: Option<IpNet>,
    /// Remote ports; empty for any.
    pub remote_ports: Box<[PortRange]>,
    /// UE-side network (`assigned` resolved to the UE address); `None` for any.
    pub ue: Option<IpNet>,
    /// UE ports; empty for any.
    pub ue_ports: Box<[PortRange]>,
}

/// The fields of a packet SDF filters look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: u8,
    /// Source port (0 without one).
    pub sport: u16,
    /// Destination port (0 without one).
    pub dport: u16,
}

fn ports_match(r: &[PortRange], p: u16) -> bool {
    r.is_empty() || r.iter().any(|r| r.lo <= p && p <= r.hi)
}

impl CSdf {
    /// `true` when the packet matches, read in the PDR's direction.
    #[must_use]
    pub fn matches(&self, f: &Flow, dir: Direction) -> bool {
        let (remote, rport, ue, uport) = match dir {
            Direction::Dl => (f.src, f.sport, f.dst, f.dport),
            Direction::Ul => (f.dst, f.dport, f.src, f.sport),
        };
        self.protocol.is_none_or(|p| p == f.protocol)
            && self.remote.is_none_or(|n| n.contains(remote))
            && self.ue.is_none_or(|n| n.contains(ue))
            && ports_match(&self.remote_ports, rport)
            && ports_match(&self.ue_ports, uport)
    }
}

/// A PDR compiled for the hot path, with its FAR, QERs and URR slots inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CPdr {
    /// Owning session.
    pub session: SessionId,
    /// Version of the session's rules (changes on every update).
    pub version: u32,
    /// PDR id.
    pub id: u16,
    /// Direction (from the source interface).
    pub dir: Direction,
    /// Precedence (entries are sorted by it).
    pub precedence: u32,
    /// Uplink QFI to match.
    pub qfi: Option<u8>,
    /// UE IPv4 address: uplink source must equal it (anti-spoofing).
    pub ue4: Option<u32>,
    /// UE IPv6 /64: uplink source must lie in it.
    pub ue6: Option<u64>,
    /// Strip the GTP-U tunnel.
    pub remove_outer: bool,
    /// The FAR.
    pub far: CFar,
    /// QERs used (first `n_qers`).
    pub qers: [Option<CQer>; crate::rules::MAX_QERS_PER_PDR],
    /// URR state slots (first `n_urrs`).
    pub urrs: [u32; crate::rules::MAX_URRS_PER_PDR],
    /// How many of `urrs` are used.
    pub n_urrs: u8,
    /// The one URR counts in the line of the one QER (a pair, see
    /// [`qer_line`]).
    pub urr_in_qer: bool,
    /// SDF filters; empty matches all.
    pub sdf: Box<[CSdf]>,
}

impl CPdr {
    /// URR slots in use.
    #[inline(always)]
    #[must_use]
    pub fn urr_slots(&self) -> &[u32] {
        &self.urrs[..usize::from(self.n_urrs).min(self.urrs.len())]
    }
}

// One per PDR per key of an entry that is not compact (see [`Rules`]).
const _: () = assert!(core::mem::size_of::<CPdr>() <= 168);

/// The PDRs found under one key, sorted by precedence, when they are kept
/// as a list (not a compact entry, see [`Rules`]): shared by both tables
/// of a map and by every snapshot that holds them. A thin pointer, so
/// that the slot also has room for its session.
#[allow(clippy::redundant_allocation)]
pub type Entry = Arc<Box<[CPdr]>>;

/// What a table slot holds for its key: the owning session, the fast
/// path's digest ([`FastRule`]) and the PDRs.
///
/// An entry of the fast shape whose one PDR the digest describes exactly
/// (every field the workers read) is *compact*: its PDR is kept nowhere
/// else, and the slow paths rebuild it from the digest ([`Rules::pdrs`]).
/// That is nearly every session's two entries: two heap blocks of 192
/// bytes (a one-PDR `Arc<[CPdr]>`) fewer per session, about 370 MB at
/// 1,000,000 sessions. A rebuilt PDR has version, precedence and FAR id
/// 0: a single PDR needs no precedence, nothing reads the FAR id, and the
/// version only tags Downlink Data Reports (NOCP or BUFF, never of the
/// fast shape). Anything else keeps its PDRs in an [`Entry`].
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pdrs: Option<Entry>,
    session: SessionId,
    fast: FastRule,
}

/// The PDRs of a [`Rules`], borrowed from the table or rebuilt from a
/// compact entry's digest; derefs to the slice.
#[derive(Debug)]
pub enum Pdrs<'a> {
    /// Kept as a list in the table.
    Shared(&'a [CPdr]),
    /// A compact entry's one PDR, rebuilt.
    One(CPdr),
}

impl core::ops::Deref for Pdrs<'_> {
    type Target = [CPdr];

    #[inline(always)]
    fn deref(&self) -> &[CPdr] {
        match self {
            Self::Shared(s) => s,
            Self::One(p) => std::slice::from_ref(p),
        }
    }
}

impl Rules {
    /// The rules of one key: `pdrs` (sorted by precedence, all of one
    /// session), compact when the digest describes them exactly.
    #[must_use]
    pub fn new(pdrs: impl Into<SmallVec<[CPdr; 1]>>) -> Self {
        let pdrs = pdrs.into();
        let fast = FastRule::of(&pdrs);
        let session = pdrs.first().map_or(0, |p| p.session);
        if let [p] = &pdrs[..]
            && fast.flags != 0
        {
            let exact = CPdr {
                version: 0,
                precedence: 0,
                far: CFar { id: 0, ..p.far },
                ..p.clone()
            };
            if fast.expand(session) == exact {
                return Self {
                    pdrs: None,
                    session,
                    fast,
                };
            }
        }
        Self {
            pdrs: Some(Arc::new(pdrs.into_vec().into_boxed_slice())),
            session,
            fast,
        }
    }

    /// A compact entry with the values of its one QER replaced by `q`
    /// (same state line): what [`Rules::new`] gives for its PDR with that
    /// QER, without rebuilding the PDR twice and digesting it again (a
    /// reload's QoS edit of 100,000 static sessions, two entries each).
    /// `None` when the entry is not compact, has no QER on `q`'s line, or
    /// would not stay compact with `q` (then build it with
    /// [`Rules::new`]).
    #[must_use]
    pub fn with_qer(&self, q: CQer) -> Option<Self> {
        let mut f = self.fast;
        if !self.is_compact() || f.flags & fast::QER == 0 || f.qer_slot != q.slot {
            return None;
        }
        // The QER's fields of the digest, as `FastRule::of` sets them;
        // nothing else of it depends on the QER's values.
        f.flags &= !(fast::GATE_OPEN | fast::METER);
        if q.open {
            f.flags |= fast::GATE_OPEN;
        }
        (f.rate_q32, f.burst) = (0, 0);
        if let Some(m) = q.meter() {
            f.flags |= fast::METER;
            f.rate_q32 = m.rate_q32;
            f.burst = u32::try_from(m.burst_q32 >> 32).ok()?;
        }
        f.psc = q
            .qfi
            .map_or(fast::NONE, |qfi| (qfi & 0x3f) | (u8::from(q.rqi) << 6));
        // Compact only if the digest gives this QER back exactly (the
        // rest of the PDR it gave back before, unchanged).
        let back = f.expand(self.session).qers[0];
        (back == Some(q)).then_some(Self {
            pdrs: None,
            session: self.session,
            fast: f,
        })
    }

    /// `false` for an empty slot.
    #[inline(always)]
    #[must_use]
    pub fn is_used(&self) -> bool {
        // The digest first: one test for compact entries (most of them).
        self.fast.flags != 0 || self.pdrs.is_some()
    }

    /// `true` when the PDR lives only in the digest.
    #[must_use]
    pub fn is_compact(&self) -> bool {
        self.pdrs.is_none() && self.fast.flags != 0
    }

    /// The session the key belongs to.
    #[inline(always)]
    #[must_use]
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The fast path's digest.
    #[inline(always)]
    #[must_use]
    pub fn fast(&self) -> &FastRule {
        &self.fast
    }

    /// The PDRs when kept as a list (`None` for a compact entry).
    #[inline(always)]
    #[must_use]
    pub fn shared(&self) -> Option<&[CPdr]> {
        self.pdrs.as_deref().map(|b| &b[..])
    }

    /// The PDRs, rebuilt for a compact entry (slow paths only).
    #[inline]
    #[must_use]
    pub fn pdrs(&self) -> Pdrs<'_> {
        match &self.pdrs {
            Some(p) => Pdrs::Shared(p),
            None => Pdrs::One(self.fast.expand(self.session)),
        }
    }
}

/// The fast path's digest of an entry that is a single PDR of the common
/// shape: no SDF filter, at most one QER and one URR, FORW without NOCP,
/// GTP-U/IPv4 outer header creation or none, and (uplink) a UE IPv4
/// address to check the inner source against and outer header removal or
/// creation. It sits in the table slot next to the key, so forwarding such
/// a packet reads one line of the table. Anything else has `flags == 0` and
/// takes the slower paths, which read the [`CPdr`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastRule {
    /// `fast::*` flags; 0 when the entry is not of the fast shape.
    pub flags: u8,
    /// Output interface.
    pub out: Iface,
    /// TOS byte of the outer IPv4 header (DSCP << 2).
    pub tos: u8,
    /// Uplink QFI the PDR matches; `fast::NONE` for any.
    pub qfi: u8,
    /// QFI (bits 0-5) and RQI (bit 6) of the QER for PDU Session
    /// Containers sent; `fast::NONE` when the QER sets no QFI.
    pub psc: u8,
    /// `fast::extra::*` flags: what a compact entry's PDR has beyond what
    /// the fast path reads (in the padding of the first word).
    pub extra: u8,
    /// PDR id (for a compact entry's rebuilt PDR).
    pub pdr: u16,
    /// UE IPv4 address (uplink: the only inner source accepted; downlink:
    /// only for a compact entry's rebuilt PDR, with `extra::UE4`).
    pub ue4: u32,
    /// Outer header creation: peer IPv4 address.
    pub peer: u32,
    /// Outer header creation: TEID.
    pub teid: u32,
    /// QER state line.
    pub qer_slot: u32,
    /// URR state line.
    pub urr_slot: u32,
    /// Meter bucket depth in bytes.
    pub burst: u32,
    /// Meter rate in bytes per TSC tick, times 2^32.
    pub rate_q32: u64,
}

/// Flags and sentinels of [`FastRule`].
pub mod fast {
    /// The entry has the fast shape.
    pub const VALID: u8 = 1;
    /// Uplink PDR (else downlink).
    pub const UL: u8 = 2;
    /// GTP-U/IPv4 outer header creation.
    pub const ENCAP: u8 = 4;
    /// One QER applies.
    pub const QER: u8 = 8;
    /// Its gate is open for the PDR's direction.
    pub const GATE_OPEN: u8 = 16;
    /// Its meter runs for the PDR's direction.
    pub const METER: u8 = 32;
    /// One URR counts.
    pub const URR: u8 = 64;
    /// ... in the QER's line (a pair, see [`super::qer_line`]).
    pub const PAIRED: u8 = 128;
    /// No QFI.
    pub const NONE: u8 = 0xff;

    /// Bits of [`super::FastRule::extra`].
    pub mod extra {
        /// The PDR removes the outer header.
        pub const REMOVE_OUTER: u8 = 1;
        /// The FAR sets a DSCP (`tos >> 2`), possibly 0.
        pub const DSCP: u8 = 2;
        /// The PDR has a UE IPv4 address (`ue4`).
        pub const UE4: u8 = 4;
    }
}

const _: () = assert!(core::mem::size_of::<FastRule>() == 40);

impl Default for FastRule {
    fn default() -> Self {
        Self {
            flags: 0,
            out: Iface::N6,
            tos: 0,
            qfi: fast::NONE,
            psc: fast::NONE,
            extra: 0,
            pdr: 0,
            ue4: 0,
            peer: 0,
            teid: 0,
            qer_slot: 0,
            urr_slot: 0,
            burst: 0,
            rate_q32: 0,
        }
    }
}

impl FastRule {
    /// The digest of `entry`, or the default (not fast) one.
    #[must_use]
    pub fn of(entry: &[CPdr]) -> Self {
        Self::try_of(entry).unwrap_or_default()
    }

    fn try_of(entry: &[CPdr]) -> Option<Self> {
        let [p] = entry else { return None };
        let far = &p.far;
        if !p.sdf.is_empty() || far.action != FarAction::Forward || far.notify {
            return None;
        }
        let ul = p.dir == Direction::Ul;
        let mut flags = fast::VALID;
        let (mut peer, mut teid) = (0, 0);
        if let Some(o) = far.ohc {
            let IpAddr::V4(a) = o.peer else { return None };
            flags |= fast::ENCAP;
            peer = u32::from(a);
            teid = o.teid;
        }
        if ul {
            flags |= fast::UL;
            if p.ue4.is_none() || !(p.remove_outer || far.ohc.is_some()) {
                return None;
            }
        }
        let ue4 = p.ue4.unwrap_or(0);
        let extra = if p.remove_outer {
            fast::extra::REMOVE_OUTER
        } else {
            0
        } | if far.dscp.is_some() {
            fast::extra::DSCP
        } else {
            0
        } | if p.ue4.is_some() { fast::extra::UE4 } else { 0 };
        let mut qers = p.qers.iter().flatten();
        let q = qers.next();
        if qers.next().is_some() || p.n_urrs > 1 {
            return None;
        }
        let (mut qer_slot, mut psc, mut burst, mut rate_q32) = (0, fast::NONE, 0, 0);
        if let Some(q) = q {
            flags |= fast::QER;
            qer_slot = q.slot;
            if q.open {
                flags |= fast::GATE_OPEN;
            }
            if let Some(m) = q.meter() {
                flags |= fast::METER;
                rate_q32 = m.rate_q32;
                burst = u32::try_from(m.burst_q32 >> 32).ok()?;
            }
            if let Some(qfi) = q.qfi {
                psc = (qfi & 0x3f) | (u8::from(q.rqi) << 6);
            }
        }
        let urr_slot = match p.urr_slots() {
            [] => 0,
            [s] => {
                flags |= fast::URR;
                if p.urr_in_qer && q.is_some() {
                    flags |= fast::PAIRED;
                }
                *s
            }
            _ => return None,
        };
        Some(Self {
            flags,
            out: far.out,
            tos: far.dscp.map_or(0, |d| d << 2),
            qfi: p.qfi.map_or(fast::NONE, |q| q),
            psc,
            extra,
            pdr: p.id,
            ue4,
            peer,
            teid,
            qer_slot,
            urr_slot,
            burst,
            rate_q32,
        })
    }
}

impl FastRule {
    /// The one PDR of session `session` this digest describes, as far as
    /// it can (see [`Rules`] for when that is exactly).
    fn expand(&self, session: SessionId) -> CPdr {
        let has = |f: u8| self.flags & f != 0;
        let qer = has(fast::QER).then(|| {
            let meter = has(fast::METER).then_some(MeterParams {
                rate_q32: self.rate_q32,
                burst_q32: u64::from(self.burst) << 32,
            });
            let (qfi, rqi) = if self.psc == fast::NONE {
                (None, false)
            } else {
                (Some(self.psc & 0x3f), self.psc & 0x40 != 0)
            };
            CQer::new(self.qer_slot, has(fast::GATE_OPEN), meter, qfi, rqi)
        });
        let mut urrs = [0; crate::rules::MAX_URRS_PER_PDR];
        let mut n_urrs = 0;
        if has(fast::URR) {
            urrs[0] = self.urr_slot;
            n_urrs = 1;
        }
        let extra = |f: u8| self.extra & f != 0;
        CPdr {
            session,
            version: 0,
            id: self.pdr,
            dir: if has(fast::UL) {
                Direction::Ul
            } else {
                Direction::Dl
            },
            precedence: 0,
            qfi: (self.qfi != fast::NONE).then_some(self.qfi),
            ue4: extra(fast::extra::UE4).then_some(self.ue4),
            ue6: None,
            remove_outer: extra(fast::extra::REMOVE_OUTER),
            far: CFar {
                id: 0,
                action: FarAction::Forward,
                notify: false,
                out: self.out,
                ohc: has(fast::ENCAP).then(|| OuterHeaderCreation {
                    teid: self.teid,
                    peer: IpAddr::V4(self.peer.into()),
                }),
                dscp: extra(fast::extra::DSCP).then_some(self.tos >> 2),
            },
            qers: [qer, None],
            urrs,
            n_urrs,
            urr_in_qer: has(fast::PAIRED),
            sdf: Box::new([]),
        }
    }
}

/// A key of a sharded map.
pub trait Key: Copy + Eq + Default + Ord + core::fmt::Debug {
    /// A 64-bit hash whose upper bits are well mixed (they pick the shard
    /// and the position in it).
    fn hash(self) -> u64;
}

/// 2^64 / golden ratio: multiplicative (Fibonacci) hashing. TEIDs and UE
/// addresses are mostly sequential, which it spreads evenly; one multiply
/// instead of a full mixer on every packet. Keys are chosen by the control
/// plane (F-TEIDs, UE pools), not by the traffic, so no seeded hash is needed.
const FIB: u64 = 0x9e37_79b9_7f4a_7c15;

impl Key for u32 {
    #[inline(always)]
    fn hash(self) -> u64 {
        u64::from(self).wrapping_mul(FIB)
    }
}

impl Key for u64 {
    #[inline(always)]
    fn hash(self) -> u64 {
        // Fold the top half in first: a product's upper bits depend only on
        // the factor's lower bits up to the same position.
        (self ^ (self >> 32)).wrapping_mul(FIB)
    }
}

/// One slot of a shard: the key, the PDRs and the fast path's digest of
/// them, in one cache line, so that a lookup touches one line (no pointer
/// to follow before the key compare or before forwarding).
#[derive(Debug, Clone, Default)]
#[repr(align(64))]
pub struct Slot<K> {
    key: K,
    rules: Rules,
}

impl<K: Key> Slot<K> {
    /// The key.
    #[inline(always)]
    #[must_use]
    pub fn key(&self) -> K {
        self.key
    }

    /// What the key maps to.
    #[inline(always)]
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The fast path's digest of the entry.
    #[inline(always)]
    #[must_use]
    pub fn fast(&self) -> &FastRule {
        &self.rules.fast
    }
}

const _: () = assert!(core::mem::size_of::<Slot<u64>>() == 64);
const _: () = assert!(core::mem::size_of::<Slot<u32>>() == 64);

/// Fewest slots of a table (an empty map's size).
const MIN_SLOTS: usize = 64;

/// Most keys per slot, `LOAD_NUM / LOAD_DEN` (7/8). Keys are mostly
/// sequential (F-TEIDs from a range, UE addresses from a pool) and
/// Fibonacci hashing spreads those evenly, so probes stay short at this
/// load (see the `probe_lengths` test); random keys probe longer.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

/// Slots that hold `keys` at the maximum load.
fn slots_for(keys: usize) -> usize {
    keys.saturating_mul(LOAD_DEN) / LOAD_NUM + 1
}

/// A hash map from `K` to [`Entry`] that the workers read without locks:
/// one open-addressing array (linear probing, at most 7/8 full), shared
/// through an `Arc` by every snapshot that uses it.
///
/// Only [`MapWriter`] (the control thread) makes new versions. It keeps two
/// tables, left-right: the snapshot in force reads one while the writer
/// updates the other *in place*, once the workers have left every snapshot
/// that used it (the retired snapshots are dropped, so the writer's handle
/// is the only one). A publish therefore costs what it changes, whatever
/// the number of keys; the tables are rebuilt only when the map doubles or
/// shrinks (amortised), or when a worker still holds the spare table (a
/// copy, counted in [`MapStats::copies`]).
#[derive(Debug, Clone)]
pub struct RcuMap<K: Key> {
    slots: Arc<[Slot<K>]>,
    len: usize,
}

/// Home position of hash `h` in a table of `len` slots.
#[inline(always)]
fn home(h: u64, len: usize) -> usize {
    (((h >> 32) * len as u64) >> 32) as usize
}

impl<K: Key> Default for RcuMap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key> RcuMap<K> {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self {
            slots: empty_table(MIN_SLOTS),
            len: 0,
        }
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots (8/7 of the keys at least).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot holding `k`, given `h = k.hash()`.
    #[inline(always)]
    #[must_use]
    pub fn find(&self, k: K, h: u64) -> Option<&Slot<K>> {
        let (table, i) = self.locate(h);
        find_in(table, i, k)
    }

    /// The table and the home position of hash `h` in it; the burst loop
    /// keeps both between prefetching and probing.
    #[inline(always)]
    #[must_use]
    pub fn locate(&self, h: u64) -> (&[Slot<K>], usize) {
        let table: &[Slot<K>] = &self.slots;
        (table, home(h, table.len()))
    }

    /// The slot holding `k`.
    #[inline(always)]
    #[must_use]
    pub fn slot(&self, k: K) -> Option<&Slot<K>> {
        self.find(k, k.hash())
    }

    /// The rules under `k`.
    #[inline(always)]
    #[must_use]
    pub fn get(&self, k: K) -> Option<&Rules> {
        self.slot(k).map(Slot::rules)
    }

    /// Prefetches the home slot of hash `h` and the one after it (where a
    /// key displaced by one sits).
    #[inline(always)]
    pub fn prefetch_hash(&self, h: u64) {
        let (table, i) = self.locate(h);
        prefetch_home(table, i);
    }

    /// Prefetches the slots `k` hashes to.
    #[inline(always)]
    pub fn prefetch(&self, k: K) {
        self.prefetch_hash(k.hash());
    }

    /// Iterates over all entries (control thread only; O(capacity)).
    pub fn iter(&self) -> impl Iterator<Item = (K, &Rules)> {
        self.slots
            .iter()
            .filter(|s| s.rules.is_used())
            .map(|s| (s.key, &s.rules))
    }

    /// A new map with `changes` applied (`None` removes), built without a
    /// writer: a full copy (tests and one-off builds).
    #[must_use]
    pub fn apply(&self, changes: Vec<(K, Option<Rules>)>) -> Self {
        MapWriter::default().apply(self, changes)
    }
}

/// How a [`MapWriter`] made its versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Publishes applied in place to the spare table (the normal case).
    pub in_place: u64,
    /// Publishes that copied the table because a worker still held the
    /// spare one (or there was none yet).
    pub copies: u64,
    /// Rebuilds at a new size (the map doubled or shrank).
    pub rebuilds: u64,
}

impl MapStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &Self) {
        self.in_place += o.in_place;
        self.copies += o.copies;
        self.rebuilds += o.rebuilds;
    }
}

/// The control thread's side of a [`RcuMap`]: the spare table and the
/// changes it has not seen yet (those of the last publish).
#[derive(Debug)]
pub struct MapWriter<K: Key> {
    spare: Option<Arc<[Slot<K>]>>,
    /// Changes of the version in force that the spare table misses, as
    /// the slots they write (unused rules remove).
    log: Vec<Slot<K>>,
    stats: MapStats,
    /// Keys expected at most (`dataplane.max_sessions`; 0: unknown): the
    /// tables stop doubling at the size that holds them.
    expected: usize,
}

impl<K: Key> Default for MapWriter<K> {
    fn default() -> Self {
        Self {
            spare: None,
            log: Vec::new(),
            stats: MapStats::default(),
            expected: 0,
        }
    }
}

impl<K: Key> MapWriter<K> {
    /// A writer whose tables grow by doubling up to the size that holds
    /// `keys` keys at the maximum load, rather than doubling past it (a
    /// map of 1,000,000 keys then takes 1,142,858 slots, not 2^21).
    #[must_use]
    pub fn expecting(keys: usize) -> Self {
        Self {
            expected: keys,
            ..Self::default()
        }
    }

    /// How versions were made so far.
    #[must_use]
    pub fn stats(&self) -> MapStats {
        self.stats
    }

    /// Brings the spare table up to the version in force (`cur`, the last
    /// this writer made) once no snapshot uses it any more: the previous
    /// publish's changes, which [`MapWriter::apply`] would otherwise write
    /// first. Called between publishes (`Control::reclaim`), so that a
    /// publish writes only its own changes. A log of more than a quarter
    /// of the table is applied as a copy of the table in force (one
    /// sequential pass instead of a cache miss per change). Returns the
    /// number of changes caught up (0: nothing to do, or the spare table
    /// is still in use).
    pub fn catch_up(&mut self, cur: &RcuMap<K>) -> usize {
        let n = self.log.len();
        if n == 0 {
            return 0;
        }
        let Some(slots) = self
            .spare
            .as_mut()
            .filter(|s| s.len() == cur.slots.len())
            .and_then(Arc::get_mut)
        else {
            return 0;
        };
        let mut log = std::mem::take(&mut self.log);
        if n.saturating_mul(4) > slots.len() {
            slots.clone_from_slice(&cur.slots);
        } else {
            for j in 0..log.len() {
                prefetch_ahead(slots, &log, j);
                put(slots, std::mem::take(&mut log[j]));
            }
        }
        // Keep the log's buffer for the next publish's log.
        log.clear();
        self.log = log;
        n
    }

    /// The next version of `cur` (the version in force, the last this
    /// writer made) with `changes` applied in order (`None` removes; a key
    /// may come more than once, the last change wins). Cost: the changes,
    /// plus the previous publish's changes replayed on the spare table
    /// unless [`MapWriter::catch_up`] did it already; a full copy only
    /// when the spare table is still in use. Drop every snapshot the
    /// workers have left before calling it.
    pub fn apply(&mut self, cur: &RcuMap<K>, changes: Vec<(K, Option<Rules>)>) -> RcuMap<K> {
        let ops: Vec<Slot<K>> = changes
            .into_iter()
            .map(|(key, val)| Slot {
                key,
                rules: val.unwrap_or_default(),
            })
            .collect();
        let inserts = ops.iter().filter(|o| o.rules.is_used()).count();
        let cap = cur.slots.len();
        if slots_for(cur.len + inserts) > cap {
            return self.rebuild(cur, ops, self.grown(cur.len + inserts));
        }
        let spare = self
            .spare
            .take()
            .filter(|s| s.len() == cap)
            .and_then(|mut s| Arc::get_mut(&mut s).is_some().then_some(s));
        let (mut table, replay) = match spare {
            Some(s) => {
                self.stats.in_place += 1;
                (s, std::mem::take(&mut self.log))
            }
            None => {
                self.stats.copies += 1;
                self.log.clear();
                (Arc::from(&cur.slots[..]), Vec::new())
            }
        };
        let Some(slots) = Arc::get_mut(&mut table) else {
            // Unreachable: the table is fresh or was checked unique.
            return self.rebuild(cur, ops, cap);
        };
        let mut replay = replay;
        for j in 0..replay.len() {
            prefetch_ahead(slots, &replay, j);
            put(slots, std::mem::take(&mut replay[j]));
        }
        let mut len = cur.len;
        for (j, op) in ops.iter().enumerate() {
            prefetch_ahead(slots, &ops, j);
            len = len.saturating_add_signed(put(slots, op.clone()));
        }
        if len * 8 < cap && cap > MIN_SLOTS {
            // Mostly empty now: a smaller table (the spare is dropped).
            let next = RcuMap { slots: table, len };
            return self.rebuild(&next, Vec::new(), (len * 2).next_power_of_two());
        }
        self.spare = Some(cur.slots.clone());
        self.log = ops;
        RcuMap { slots: table, len }
    }

    /// Slots of a table grown for `keys` keys: twice the keys (a power of
    /// two, so that growing is amortised), but no more than the expected
    /// keys need when they are enough, and straight to that size when the
    /// next doubling would pass it (one rebuild of both copies fewer, the
    /// one with the most keys).
    fn grown(&self, keys: usize) -> usize {
        let doubled = keys.saturating_mul(2).max(MIN_SLOTS).next_power_of_two();
        let cap = slots_for(self.expected);
        if self.expected > 0 && keys <= self.expected && cap < doubled.saturating_mul(2) {
            cap
        } else {
            doubled
        }
    }

    /// A new table of `want` slots (at least `MIN_SLOTS`) with `cur`'s entries and
    /// `ops`, and its twin as the spare (so that the next publish writes
    /// in place: the copy is part of the amortised cost of resizing).
    fn rebuild(&mut self, cur: &RcuMap<K>, ops: Vec<Slot<K>>, want: usize) -> RcuMap<K> {
        self.stats.rebuilds += 1;
        self.spare = None;
        self.log.clear();
        let cap = want.max(MIN_SLOTS);
        let mut slots: Vec<Slot<K>> = vec![Slot::default(); cap];
        let mut len = 0usize;
        for s in cur.slots.iter().filter(|s| s.rules.is_used()) {
            len = len.saturating_add_signed(put(&mut slots, s.clone()));
        }
        for op in ops {
            len = len.saturating_add_signed(put(&mut slots, op));
        }
        self.spare = Some(Arc::from(&slots[..]));
        RcuMap {
            slots: Arc::from(slots),
            len,
        }
    }
}

fn empty_table<K: Key>(n: usize) -> Arc<[Slot<K>]> {
    Arc::from(vec![Slot::default(); n])
}

/// Writes `op` into `t` (linear probing from its home): replaces the
/// entry of its key, inserts it, or (unused rules) removes the key with a
/// backward shift, so that no tombstone is left and every probe still
/// ends at an empty slot. Returns the change in the number of keys.
/// `t` has at least one empty slot.
fn put<K: Key>(t: &mut [Slot<K>], op: Slot<K>) -> isize {
    let n = t.len();
    let mut i = home(op.key.hash(), n);
    for _ in 0..n {
        let s = &mut t[i];
        if !s.rules.is_used() {
            if op.rules.is_used() {
                *s = op;
                return 1;
            }
            return 0;
        }
        if s.key == op.key {
            if op.rules.is_used() {
                *s = op;
                return 0;
            }
            remove_at(t, i);
            return -1;
        }
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    0
}

fn remove_at<K: Key>(t: &mut [Slot<K>], i: usize) {
    let n = t.len();
    t[i] = Slot::default();
    let mut hole = i;
    let mut j = i;
    for _ in 0..n {
        j = if j + 1 == n { 0 } else { j + 1 };
        if !t[j].rules.is_used() {
            return;
        }
        // The key at j may fill the hole if the hole lies between its
        // home and j (its probe passes the hole).
        let d_key = (j + n - home(t[j].key.hash(), n)) % n;
        let d_hole = (j + n - hole) % n;
        if d_hole <= d_key {
            t.swap(hole, j);
            hole = j;
        }
    }
}

/// Writes ahead of the `put` of `ops[j]`: the home slots of the op
/// [`AHEAD`] places on, and the entry that the op half as far on will
/// replace (its reference count is written when it is dropped). A publish
/// of 100,000 changes is otherwise a cache miss or two per change, one
/// after the other, in a table of megabytes.
fn prefetch_ahead<K: Key>(t: &[Slot<K>], ops: &[Slot<K>], j: usize) {
    const AHEAD: usize = 16;
    let n = t.len();
    if let Some(op) = ops.get(j + AHEAD) {
        prefetch_home(t, home(op.key.hash(), n));
    }
    if let Some(op) = ops.get(j + AHEAD / 2)
        && let Some(s) = t.get(home(op.key.hash(), n))
        && s.key == op.key
        && let Some(first) = s.rules.pdrs.as_deref().and_then(|e| e.first())
    {
        cpu::prefetch(first);
    }
}

/// Prefetches the slot at `i` in `table` and the one after it.
#[inline(always)]
pub fn prefetch_home<K>(table: &[Slot<K>], i: usize) {
    cpu::prefetch_index(table, i);
    cpu::prefetch_index(table, i + 1);
}

/// Probes `table` for `k` from its home position `i` (from
/// [`RcuMap::locate`]).
#[inline(always)]
#[must_use]
pub fn find_in<K: Key>(table: &[Slot<K>], mut i: usize, k: K) -> Option<&Slot<K>> {
    let n = table.len();
    // At most 7/8 full, so an empty slot ends every probe; the bound
    // only guards against a bug turning into a hang.
    for _ in 0..n {
        let s = table.get(i)?;
        if !s.rules.is_used() {
            return None;
        }
        if s.key == k {
            return Some(s);
        }
        i += 1;
        if i == n {
            i = 0;
        }
    }
    None
}

/// An interface's IPv4 setup, flattened for the fast path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastIface {
    /// Configured, with an IPv4 address and no VLAN tag on transmit.
    pub usable: bool,
    /// Own IPv4 address.
    pub own: u32,
    /// Netmask of the own address.
    pub mask: u32,
    /// IPv4 gateway (0: none).
    pub gateway: u32,
    /// Own MAC.
    pub mac: crate::wire::ethernet::MacAddr,
    /// One's-complement sum of the constant words of an outer IPv4 header
    /// from this interface (version/IHL, DF, TTL 64 / UDP, own address), so
    /// that encapsulation adds only TOS, length and peer to get the checksum.
    pub ip_sum: u32,
}

impl FastIface {
    /// The fast-path view of every interface of `net`.
    #[must_use]
    pub fn of(net: &NetConfig) -> [Self; crate::iface::IFACE_COUNT] {
        core::array::from_fn(|i| {
            let Some(c) = &net.ifaces[i] else {
                return Self::default();
            };
            let Some((own, plen)) = c.ipv4 else {
                return Self::default();
            };
            let mask = if plen == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(plen.min(32)))
            };
            Self {
                usable: c.vlan.is_none(),
                own: u32::from(own),
                mask,
                gateway: c.gateway4.map_or(0, u32::from),
                mac: c.mac,
                ip_sum: 0x4500
                    + 0x4000
                    + 0x4011
                    + (u32::from(own) >> 16)
                    + (u32::from(own) & 0xffff),
            }
        })
    }
}

/// An immutable version of everything the workers read.
#[derive(Debug)]
pub struct Snapshot {
    /// Generation number, increasing with every publish.
    pub generation: u64,
    /// Local TEID → PDRs (GTP-U traffic on N3/N9).
    pub teid: RcuMap<u32>,
    /// UE IPv4 → downlink PDRs (traffic from N6).
    pub ue4: RcuMap<u32>,
    /// UE IPv6 /64 → downlink PDRs.
    pub ue6: RcuMap<u64>,
    /// Per worker, its state lines.
    pub lines: Box<[WorkerLines]>,
    /// Interfaces and parameters.
    pub net: Arc<NetConfig>,
    /// The IPv4 facts of each interface the fast path needs, flattened.
    pub fast_net: [FastIface; crate::iface::IFACE_COUNT],
    /// TSC ticks per second.
    pub tsc_hz: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pdr(session: u64) -> CPdr {
        CPdr {
            session,
            version: 0,
            id: 1,
            dir: Direction::Ul,
            precedence: 0,
            qfi: None,
            ue4: None,
            ue6: None,
            remove_outer: true,
            far: CFar {
                id: 1,
                action: FarAction::Drop,
                notify: false,
                out: Iface::N6,
                ohc: None,
                dscp: None,
            },
            qers: [None, None],
            urrs: [0; 4],
            n_urrs: 0,
            urr_in_qer: false,
            sdf: Box::new([]),
        }
    }

    fn entry(session: u64) -> Rules {
        Rules::new(vec![pdr(session)])
    }

    #[test]
    fn left_right_updates_the_spare_in_place_and_keeps_old_versions() {
        let mut w = MapWriter::<u32>::default();
        let m0 = RcuMap::<u32>::new();
        let m1 = w.apply(
            &m0,
            (0..10_000)
                .map(|k| (k, Some(entry(u64::from(k)))))
                .collect(),
        );
        assert_eq!(m1.len(), 10_000);
        assert_eq!(m1.capacity(), 32_768, "doubled to a power of two");
        drop(m0);
        // A resize makes the spare too: the next version is written in place.
        let m2 = w.apply(&m1, vec![(5, None), (20_000, Some(entry(20_000)))]);
        assert_eq!((w.stats().in_place, w.stats().copies), (1, 0));
        assert_eq!(m2.len(), 10_000);
        assert!(m2.get(5).is_none());
        assert_eq!(m2.get(20_000).map(Rules::session), Some(20_000));
        assert_eq!(
            m1.get(5).map(Rules::session),
            Some(5),
            "the old version is unchanged while it is held"
        );
        // A reader still holds m1: its table cannot be written, so the
        // next version is a copy again.
        let m3 = w.apply(&m2, vec![(6, None)]);
        assert_eq!((w.stats().in_place, w.stats().copies), (1, 1));
        assert_eq!(m1.get(6).map(Rules::session), Some(6));
        drop((m1, m2));
        // Everyone left m1 and m2: m2's table is written in place, after
        // replaying what it missed (6 removed).
        let spare_ptr = m3.slots.as_ptr();
        let m4 = w.apply(&m3, vec![(7, None)]);
        drop(m3);
        let m5 = w.apply(&m4, vec![(8, None), (5, Some(entry(55)))]);
        assert_eq!((w.stats().in_place, w.stats().copies), (3, 1));
        assert_ne!(m4.slots.as_ptr(), m5.slots.as_ptr());
        assert_eq!(m5.slots.as_ptr(), spare_ptr, "the two tables alternate");
        for (k, want) in [(5, Some(55)), (6, None), (7, None), (8, None), (9, Some(9))] {
            assert_eq!(m5.get(k).map(Rules::session), want, "key {k}");
        }
        assert_eq!(m5.len(), 9_998);
        assert_eq!(m4.get(8).map(Rules::session), Some(8), "m4 untouched");
    }

    #[test]
    fn map_grows_and_shrinks() {
        let mut w = MapWriter::<u32>::default();
        let mut m = RcuMap::<u32>::new();
        for k in 0..1000u32 {
            m = w.apply(&m, vec![(k, Some(entry(u64::from(k))))]);
            assert!(slots_for(m.len()) <= m.capacity());
        }
        assert_eq!(m.capacity(), 2048);
        let grown = w.stats();
        assert!(grown.rebuilds >= 5 && grown.in_place > 900, "{grown:?}");
        for k in 0..990u32 {
            m = w.apply(&m, vec![(k, None)]);
        }
        assert_eq!(m.len(), 10);
        assert!(m.capacity() <= 128, "shrank to {}", m.capacity());
        for k in 990..1000u32 {
            assert_eq!(m.get(k).map(Rules::session), Some(u64::from(k)));
        }
    }

    #[test]
    fn expected_keys_stop_the_doubling() {
        let mut w = MapWriter::<u32>::expecting(10_000);
        let mut m = RcuMap::<u32>::new();
        for b in 0..10u32 {
            let keys = b * 1000..(b + 1) * 1000;
            m = w.apply(&m, keys.map(|k| (k, Some(entry(u64::from(k))))).collect());
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.capacity(), 11_429, "8/7 of the expected keys, not 16,384");
        assert_eq!(
            w.stats().rebuilds,
            3,
            "2,048 and 4,096 slots, then at 4,000 keys the expected size (not 8,192, then 16,384)"
        );
        // More keys than expected: doubling again.
        m = w.apply(
            &m,
            (10_000..10_500)
                .map(|k| (k, Some(entry(u64::from(k)))))
                .collect(),
        );
        assert_eq!(m.capacity(), 32_768);
        for k in 0..10_500u32 {
            assert_eq!(m.get(k).map(Rules::session), Some(u64::from(k)));
        }
    }

    /// Mean and largest distance of the keys from their home slot.
    fn displacement(m: &RcuMap<u32>) -> (f64, usize) {
        let n = m.slots.len();
        let (mut sum, mut max) = (0usize, 0usize);
        for (i, s) in m.slots.iter().enumerate() {
            if s.rules.is_used() {
                let d = (i + n - home(s.key.hash(), n)) % n;
                sum += d;
                max = max.max(d);
            }
        }
        (sum as f64 / m.len().max(1) as f64, max)
    }

    // The maximum load is only affordable because the keys the control
    // plane makes (TEIDs from a range, UE addresses from a pool) are
    // spread evenly by Fibonacci hashing: at 7/8 their probes stay within
    // the two prefetched slots nearly always.
    #[test]
    fn probe_lengths() {
        let n = 100_000u32;
        let fill = |keys: &mut dyn Iterator<Item = u32>| {
            let mut w = MapWriter::<u32>::expecting(n as usize);
            let m = RcuMap::<u32>::new();
            let m = w.apply(&m, keys.map(|k| (k, Some(entry(u64::from(k))))).collect());
            assert_eq!(m.capacity(), slots_for(n as usize));
            displacement(&m)
        };
        let teids = fill(&mut (0x0100_0000..0x0100_0000 + n));
        let ue = fill(&mut (0x0a00_0001..0x0a00_0001 + n));
        // Every 3rd TEID (sessions released in between) and random keys.
        let sparse = fill(&mut (0..n).map(|i| 0x2000_0000 + 3 * i));
        let mut x = 0x1234_5678u32;
        let random = fill(&mut (0..n).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        }));
        eprintln!(
            "displacement at 7/8 (mean, max): teid {teids:?} ue {ue:?} sparse {sparse:?} random {random:?}"
        );
        for (what, (mean, max)) in [("teid", teids), ("ue", ue), ("sparse", sparse)] {
            assert!(mean < 0.5 && max <= 8, "{what}: mean {mean}, max {max}");
        }
        assert!(random.0 < 5.0, "random: {random:?}");
    }

    fn qer(slot: u32, meter: bool, qfi: Option<u8>) -> Option<CQer> {
        Some(CQer::new(
            slot,
            true,
            meter.then(|| MeterParams::new(8_000_000, 5000, 1_000_000_000)),
            qfi,
            true,
        ))
    }

    #[test]
    fn fast_rule_digests_the_common_shapes_only() {
        let mut ul: CPdr = pdr(1);
        ul.ue4 = Some(0x0a2d_0002);
        ul.far.action = FarAction::Forward;
        ul.qers = [qer(7, true, Some(9)), None];
        ul.urrs[0] = 8;
        ul.n_urrs = 1;
        let r = FastRule::of(std::slice::from_ref(&ul));
        assert_eq!(
            r.flags,
            fast::VALID | fast::UL | fast::QER | fast::GATE_OPEN | fast::METER | fast::URR
        );
        assert_eq!((r.qer_slot, r.urr_slot, r.ue4), (7, 8, 0x0a2d_0002));
        assert_eq!(r.psc, 9 | 0x40, "QFI with RQI in bit 6");
        assert_eq!(r.burst, 5000);
        let mut paired = ul.clone();
        paired.urr_in_qer = true;
        assert_eq!(FastRule::of(&[paired]).flags & fast::PAIRED, fast::PAIRED);
        assert_eq!(
            r.rate_q32,
            MeterParams::new(8_000_000, 5000, 1_000_000_000).rate_q32
        );

        let mut dl = ul.clone();
        dl.dir = Direction::Dl;
        dl.ue4 = None;
        dl.far.out = Iface::N3;
        dl.far.dscp = Some(46);
        dl.far.ohc = Some(OuterHeaderCreation {
            teid: 0x99,
            peer: IpAddr::from([192, 168, 1, 2]),
        });
        let r = FastRule::of(std::slice::from_ref(&dl));
        assert_eq!(r.flags & (fast::UL | fast::ENCAP), fast::ENCAP);
        assert_eq!(
            (r.peer, r.teid, r.tos, r.out),
            (0xc0a8_0102, 0x99, 46 << 2, Iface::N3)
        );

        let not_fast = |f: &dyn Fn(&mut CPdr)| {
            let mut p = ul.clone();
            f(&mut p);
            FastRule::of(&[p]).flags
        };
        assert_eq!(
            not_fast(&|p| p.qers[1] = qer(9, false, None)),
            0,
            "two QERs"
        );
        assert_eq!(not_fast(&|p| p.n_urrs = 2), 0, "two URRs");
        assert_eq!(not_fast(&|p| p.ue4 = None), 0, "uplink without a UE IPv4");
        assert_eq!(not_fast(&|p| p.far.notify = true), 0, "NOCP");
        assert_eq!(not_fast(&|p| p.far.action = FarAction::Buffer), 0, "BUFF");
        assert_eq!(not_fast(&|p| p.remove_outer = false), 0, "no decapsulation");
        assert_eq!(
            not_fast(&|p| {
                p.far.ohc = Some(OuterHeaderCreation {
                    teid: 1,
                    peer: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                });
            }),
            0,
            "IPv6 outer header"
        );
        assert_eq!(
            not_fast(&|p| {
                p.sdf = Box::new([CSdf {
                    protocol: Some(17),
                    remote: None,
                    remote_ports: Box::new([]),
                    ue: None,
                    ue_ports: Box::new([]),
                }]);
            }),
            0,
            "SDF filter"
        );
        assert_eq!(FastRule::of(&[ul.clone(), ul]).flags, 0, "two PDRs");
    }

    #[test]
    fn fast_shape_entries_are_compact_and_rebuild_their_pdr() {
        let mut ul = pdr(7);
        ul.id = 3;
        ul.version = 12;
        ul.precedence = 255;
        ul.ue4 = Some(0x0a2d_0002);
        ul.far.id = 9;
        ul.far.action = FarAction::Forward;
        ul.qers = [qer(7, true, Some(9)), None];
        ul.urrs[0] = 8;
        ul.n_urrs = 1;
        ul.urr_in_qer = true;
        let mut dl = ul.clone();
        dl.dir = Direction::Dl;
        dl.remove_outer = false;
        dl.qfi = None;
        dl.far.out = Iface::N3;
        dl.far.dscp = Some(0);
        dl.far.ohc = Some(OuterHeaderCreation {
            teid: 0x99,
            peer: IpAddr::from([192, 168, 1, 2]),
        });
        let mut no_ue = dl.clone();
        no_ue.ue4 = None;
        no_ue.qers = [qer(7, false, Some(5)), None];
        for p in [ul.clone(), dl, no_ue] {
            let r = Rules::new(vec![p.clone()]);
            assert!(r.is_compact() && r.is_used(), "{p:?}");
            assert_eq!(r.session(), 7);
            let want = CPdr {
                version: 0,
                precedence: 0,
                far: CFar { id: 0, ..p.far },
                ..p
            };
            assert_eq!(&r.pdrs()[..], &[want][..]);
        }
        // What the digest cannot say keeps the list.
        let kept = |f: &dyn Fn(&mut CPdr)| {
            let mut p = ul.clone();
            f(&mut p);
            let r = Rules::new(vec![p.clone()]);
            assert_eq!(&r.pdrs()[..], &[p][..]);
            r.is_compact()
        };
        assert!(!kept(&|p| p.ue6 = Some(0x2001_0db8_0000_0001)), "UE IPv6");
        assert!(
            !kept(&|p| p.qers[0] = Some(CQer::new(7, true, None, None, true))),
            "RQI without a QFI"
        );
        assert!(!kept(&|p| p.urrs[3] = 5), "a stray URR slot");
        assert!(!kept(&|p| p.far.action = FarAction::Drop), "not fast");
        assert!(!Rules::default().is_used(), "an empty slot");
    }

    #[test]
    fn meter_rate_and_burst() {
        let hz = 1_000_000_000;
        let m = MeterParams::new(8_000_000, 10_000, hz); // 1 MB/s, 10 kB bucket
        let (t, l) = (AtomicU64::new(0), AtomicU64::new(0));
        // A fresh bucket is full: exactly 10 packets of 1000 bytes pass at once.
        let burst = (0..20).filter(|_| m.conform(&t, &l, 5, 1000)).count();
        assert_eq!(burst, 10);
        // Offered 2 MB/s for 10 s: about 1 MB/s passes.
        let mut passed = 0u64;
        for i in 0..20_000u64 {
            if m.conform(&t, &l, 5 + i * 500_000, 1000) {
                passed += 1000;
            }
        }
        let rate = passed as f64 / 10.0;
        assert!(
            (rate - 1_000_000.0).abs() / 1_000_000.0 < 0.02,
            "rate {rate}"
        );
    }

    proptest! {
        // `Rules::with_qer` (a QoS edit of a compact entry) gives what
        // `Rules::new` gives for the PDR with the new QER: the same
        // digest and compactness, or `None` where it would not stay
        // compact (then the caller builds it whole). Entries of the fast
        // shape, UL and DL, with random old and new QER values.
        #[test]
        fn with_qer_is_rules_new_of_the_new_qer(
            ul in any::<bool>(),
            old in (any::<bool>(), proptest::option::of((1u64..50_000_000_000, 1u64..20_000_000)),
                proptest::option::of(0u8..=70), any::<bool>()),
            new in (any::<bool>(), proptest::option::of((1u64..50_000_000_000, 1u64..20_000_000)),
                proptest::option::of(0u8..=70), any::<bool>()),
            slot in 1u32..1000,
            hz in prop_oneof![Just(1_000_000_000u64), Just(2_600_000_000u64), 1u64..10_000_000_000],
        ) {
            let cq = |(open, m, qfi, rqi): (bool, Option<(u64, u64)>, Option<u8>, bool)| {
                CQer::new(slot, open, m.map(|(bps, burst)| MeterParams::new(bps, burst, hz)), qfi, rqi)
            };
            let mut p = pdr(7);
            p.dir = if ul { Direction::Ul } else { Direction::Dl };
            p.ue4 = Some(0x0a00_0002);
            p.remove_outer = ul;
            p.far.action = FarAction::Forward;
            p.far.out = if ul { Iface::N6 } else { Iface::N3 };
            p.far.ohc = (!ul).then_some(OuterHeaderCreation {
                teid: 5,
                peer: IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 2)),
            });
            p.urrs[0] = slot + 1;
            p.n_urrs = 1;
            p.qers = [Some(cq(old)), None];
            let cur = Rules::new(smallvec::smallvec![p.clone()]);
            let mut n = p.clone();
            n.version = 9;
            n.qers[0] = Some(cq(new));
            let want = Rules::new(smallvec::smallvec![n]);
            // A QFI in range (or an RQI only with one) keeps it compact.
            let fits = |(_, _, qfi, rqi): (bool, Option<(u64, u64)>, Option<u8>, bool)| {
                qfi.is_none_or(|q| q <= 63) && (qfi.is_some() || !rqi)
            };
            prop_assert_eq!(cur.is_compact(), fits(old));
            prop_assert_eq!(cur.with_qer(cq(new)).is_some(), fits(old) && fits(new));
            match cur.with_qer(cq(new)) {
                Some(got) => {
                    prop_assert!(cur.is_compact());
                    prop_assert!(got.is_compact() && want.is_compact());
                    prop_assert_eq!(got.fast(), want.fast());
                    prop_assert_eq!(got.session(), want.session());
                    prop_assert_eq!(&*got.pdrs(), &*want.pdrs());
                }
                None => prop_assert!(!cur.is_compact() || !want.is_compact()),
            }
        }


        // wrap around the shard's end; every key is found where the burst
        // loop looks (home position, then onwards), absent keys are not.
        #[test]
        fn crowded_table_finds_every_key(
            keys in proptest::collection::btree_set(any::<u32>(), 1..600),
        ) {
            let keys: Vec<u32> = keys.into_iter().collect();
            // A table at the maximum load: probes run past their home
            // slot and wrap around its end; every key is found where the
            // burst loop looks (home position, then onwards).
            let mut t: Vec<Slot<u32>> = vec![Slot::default(); slots_for(keys.len())];
            for &k in &keys {
                put(&mut t, Slot { key: k, rules: entry(u64::from(k)) });
            }
            for &k in &keys {
                let s = find_in(&t, home(k.hash(), t.len()), k);
                prop_assert_eq!(s.map(|s| (s.key(), Some(s.rules().session()))),
                    Some((k, Some(u64::from(k)))));
                let other = k.wrapping_add(1);
                if keys.binary_search(&other).is_err() {
                    prop_assert!(find_in(&t, home(other.hash(), t.len()), other).is_none());
                }
            }
            // Removing half of them by backward shift leaves the others
            // reachable.
            for &k in keys.iter().step_by(2) {
                prop_assert_eq!(put(&mut t, Slot { key: k, rules: Rules::default() }), -1);
            }
            for (i, &k) in keys.iter().enumerate() {
                let s = find_in(&t, home(k.hash(), t.len()), k);
                prop_assert_eq!(s.is_some(), i % 2 == 1, "key {}", k);
            }
        }

        // Random batches (a key may come more than once in one, applied
        // in order) with readers holding random old versions (so that
        // publishes alternate between in-place updates, copies and
        // resizes) and catch-ups of the spare table between publishes
        // (by replay for small batches, by copy for large ones): every
        // version reads as the model did when it was made.
        #[test]
        fn writer_matches_model(
            ops in proptest::collection::vec(
                (0u32..300, any::<bool>(), any::<bool>(), any::<bool>()), 0..400),
            batch in 1usize..40,
        ) {
            let mut w = MapWriter::<u32>::default();
            let mut model = std::collections::BTreeMap::new();
            let mut m = RcuMap::<u32>::new();
            let mut held: Vec<(RcuMap<u32>, std::collections::BTreeMap<u32, u64>)> = Vec::new();
            for (n, chunk) in ops.chunks(batch).enumerate() {
                let mut changes = Vec::new();
                for &(k, ins, _, _) in chunk {
                    let v = u64::from(k) + 1000 * n as u64;
                    if ins { model.insert(k, v); changes.push((k, Some(entry(v)))); }
                    else { model.remove(&k); changes.push((k, None)); }
                }
                m = w.apply(&m, changes);
                if chunk.iter().any(|c| c.2) {
                    held.push((m.clone(), model.clone()));
                } else {
                    held.clear();
                    if chunk.iter().any(|c| c.3) {
                        w.catch_up(&m);
                    }
                }
                prop_assert_eq!(m.len(), model.len());
            }
            held.push((m, model));
            for (m, model) in &held {
                prop_assert_eq!(m.len(), model.len());
                prop_assert!(slots_for(m.len()) <= m.capacity());
                for k in 0..300u32 {
                    prop_assert_eq!(m.get(k).map(Rules::session), model.get(&k).copied());
                }
                prop_assert_eq!(m.iter().count(), model.len());
            }
        }

        #[test]
        fn map_matches_model(ops in proptest::collection::vec((0u32..200, any::<bool>()), 0..300)) {
            let mut model = std::collections::BTreeMap::new();
            let mut m = RcuMap::<u32>::new();
            for chunk in ops.chunks(7) {
                let mut changes = Vec::new();
                for &(k, ins) in chunk {
                    changes.retain(|(ck, _): &(u32, Option<Rules>)| *ck != k);
                    if ins { model.insert(k, ()); changes.push((k, Some(entry(u64::from(k))))); }
                    else { model.remove(&k); changes.push((k, None)); }
                }
                m = m.apply(changes);
            }
            prop_assert_eq!(m.len(), model.len());
            for k in 0..200u32 {
                prop_assert_eq!(m.get(k).is_some(), model.contains_key(&k));
            }
        }
    }
}
