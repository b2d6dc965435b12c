//! Session lookup tables as immutable, copy-on-write snapshots (RCU), and
//! the per-worker arrays of mutable state (meters, usage counters).
//!
//! Sits between the control thread, which builds a new [`Snapshot`] per
//! batch of changes, and the workers, which look up every packet's rules in
//! the snapshot they hold. A snapshot is a set of open-addressing hash maps
//! split in 4096 shards (two levels of 64), each shard an `Arc<[Slot]>`: a
//! publish copies only the shards (and shard groups) its changes touch, so
//! its cost follows the number of changes, while a lookup is one hash, two
//! cached pointer loads and one probe sequence in a shard kept at most half
//! full: independent of the number of sessions.
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
    /// Bucket depth in bytes, times 2^32.
    pub burst_q32: u64,
    /// Ticks to fill an empty bucket.
    pub fill_ticks: u64,
}

impl MeterParams {
    /// A token bucket of `rate_bps` bits per second and `burst` bytes.
    #[must_use]
    pub fn new(rate_bps: u64, burst: u64, tsc_hz: u64) -> Self {
        let rate_q32 =
            u64::try_from((u128::from(rate_bps) << 32) / (8 * u128::from(tsc_hz.max(1))))
                .unwrap_or(u64::MAX);
        let burst_q32 = burst.min(u64::from(u32::MAX)) << 32;
        let fill_ticks = burst_q32.checked_div(rate_q32).map_or(u64::MAX, |t| t + 1);
        Self {
            rate_q32,
            burst_q32,
            fill_ticks,
        }
    }

    /// Takes `len` bytes from the bucket held in `tokens`/`last` if it holds
    /// that many; refills it for the time since the last packet first.
    /// `last` stores `now + 1` so that a zeroed line means "full bucket".
    #[inline(always)]
    pub fn conform(&self, tokens: &AtomicU64, last: &AtomicU64, now: u64, len: u64) -> bool {
        let l = last.load(Relaxed);
        let elapsed = (now + 1).saturating_sub(l);
        let mut t = if l == 0 || elapsed >= self.fill_ticks {
            self.burst_q32
        } else {
            (tokens.load(Relaxed) + elapsed * self.rate_q32).min(self.burst_q32)
        };
        let cost = len << 32;
        let ok = t >= cost;
        if ok {
            t -= cost;
        }
        tokens.store(t, Relaxed);
        last.store(now + 1, Relaxed);
        ok
    }
}

/// Word indices in a QER line.
pub mod qer_line {
    /// Uplink tokens.
    pub const UL_TOKENS: usize = 0;
    /// Uplink last refill.
    pub const UL_LAST: usize = 1;
    /// Downlink tokens.
    pub const DL_TOKENS: usize = 2;
    /// Downlink last refill.
    pub const DL_LAST: usize = 3;
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

/// A QER as one PDR uses it (its direction already chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CQer {
    /// State line of the meter.
    pub slot: u32,
    /// Gate for the PDR's direction.
    pub open: bool,
    /// Meter for the PDR's direction.
    pub meter: Option<MeterParams>,
    /// QFI for downlink PDU Session Containers.
    pub qfi: Option<u8>,
    /// RQI for downlink PDU Session Containers.
    pub rqi: bool,
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

/// The PDRs found under one key, sorted by precedence.
pub type Entry = Arc<[CPdr]>;

/// A key of a sharded map.
pub trait Key: Copy + Eq + Default + Ord + core::fmt::Debug {
    /// A well-mixed 64-bit hash.
    fn hash(self) -> u64;
}

#[inline(always)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

impl Key for u32 {
    #[inline(always)]
    fn hash(self) -> u64 {
        fmix64(u64::from(self))
    }
}

impl Key for u64 {
    #[inline(always)]
    fn hash(self) -> u64 {
        fmix64(self)
    }
}

/// One slot of a shard.
#[derive(Debug, Clone, Default)]
pub struct Slot<K> {
    key: K,
    val: Option<Entry>,
}

const GROUP_BITS: u32 = 6;
const SHARD_BITS: u32 = 6;
const GROUPS: usize = 1 << GROUP_BITS;
const SHARDS_PER_GROUP: usize = 1 << SHARD_BITS;

type Shard<K> = Arc<[Slot<K>]>;

/// A hash map from `K` to [`Entry`], copy-on-write by shard.
#[derive(Debug, Clone)]
pub struct ShardedMap<K: Key> {
    groups: Box<[Arc<[Shard<K>]>]>,
    len: usize,
}

#[inline(always)]
fn split(h: u64) -> (usize, usize) {
    let top = (h >> (64 - GROUP_BITS - SHARD_BITS)) as usize;
    (top >> SHARD_BITS, top & (SHARDS_PER_GROUP - 1))
}

impl<K: Key> Default for ShardedMap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key> ShardedMap<K> {
    /// An empty map (all shards share one empty slot array).
    #[must_use]
    pub fn new() -> Self {
        let empty: Shard<K> = Arc::from(vec![Slot::default()]);
        let group: Arc<[Shard<K>]> = (0..SHARDS_PER_GROUP).map(|_| empty.clone()).collect();
        Self {
            groups: (0..GROUPS).map(|_| group.clone()).collect(),
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

    #[inline(always)]
    fn shard(&self, h: u64) -> Option<&[Slot<K>]> {
        let (g, s) = split(h);
        self.groups.get(g).and_then(|g| g.get(s)).map(|s| &**s)
    }

    /// The entry under `k`.
    #[inline(always)]
    #[must_use]
    pub fn get(&self, k: K) -> Option<&Entry> {
        let h = k.hash();
        let shard = self.shard(h)?;
        let mask = shard.len() - 1;
        let mut i = (h as usize) & mask;
        // At most half full, so an empty slot ends every probe; the bound
        // only guards against a bug turning into a hang.
        for _ in 0..shard.len() {
            let s = shard.get(i)?;
            match &s.val {
                None => return None,
                Some(v) if s.key == k => return Some(v),
                Some(_) => i = (i + 1) & mask,
            }
        }
        None
    }

    /// Prefetches the slot `k` hashes to.
    #[inline(always)]
    pub fn prefetch(&self, k: K) {
        let h = k.hash();
        if let Some(shard) = self.shard(h) {
            cpu::prefetch_index(shard, (h as usize) & (shard.len() - 1));
        }
    }

    /// Iterates over all entries (control thread only; O(capacity)).
    pub fn iter(&self) -> impl Iterator<Item = (K, &Entry)> {
        self.groups
            .iter()
            .flat_map(|g| g.iter())
            .flat_map(|s| s.iter())
            .filter_map(|s| s.val.as_ref().map(|v| (s.key, v)))
    }

    /// A new map with `changes` applied (`None` removes). Only touched shards
    /// and groups are copied.
    #[must_use]
    pub fn apply(&self, mut changes: Vec<(K, Option<Entry>)>) -> Self {
        changes.sort_by_key(|(k, _)| split(k.hash()));
        let mut groups = self.groups.clone();
        let mut len = self.len;
        let mut i = 0;
        while i < changes.len() {
            let (g, _) = split(changes[i].0.hash());
            let mut shards: Vec<Shard<K>> = groups[g].to_vec();
            while i < changes.len() && split(changes[i].0.hash()).0 == g {
                let (_, s) = split(changes[i].0.hash());
                let mut entries: Vec<(K, Entry)> = shards[s]
                    .iter()
                    .filter_map(|sl| sl.val.clone().map(|v| (sl.key, v)))
                    .collect();
                let before = entries.len();
                while i < changes.len() && split(changes[i].0.hash()) == (g, s) {
                    let (k, v) = &changes[i];
                    entries.retain(|(ek, _)| ek != k);
                    if let Some(v) = v {
                        entries.push((*k, v.clone()));
                    }
                    i += 1;
                }
                len = len + entries.len() - before;
                shards[s] = build_shard(entries);
            }
            groups[g] = Arc::from(shards);
        }
        Self { groups, len }
    }
}

fn build_shard<K: Key>(entries: Vec<(K, Entry)>) -> Shard<K> {
    let cap = (entries.len() * 2).next_power_of_two().max(1);
    let mut slots: Vec<Slot<K>> = vec![Slot::default(); cap];
    let mask = cap - 1;
    for (k, v) in entries {
        let mut i = (k.hash() as usize) & mask;
        while slots[i].val.is_some() {
            i = (i + 1) & mask;
        }
        slots[i] = Slot {
            key: k,
            val: Some(v),
        };
    }
    Arc::from(slots)
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
    pub teid: ShardedMap<u32>,
    /// UE IPv4 → downlink PDRs (traffic from N6).
    pub ue4: ShardedMap<u32>,
    /// UE IPv6 /64 → downlink PDRs.
    pub ue6: ShardedMap<u64>,
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

    fn entry(session: u64) -> Entry {
        Arc::from(vec![CPdr {
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
            sdf: Box::new([]),
        }])
    }

    #[test]
    fn copy_on_write_shares_untouched_shards() {
        let m0 = ShardedMap::<u32>::new();
        let m1 = m0.apply(
            (0..10_000)
                .map(|k| (k, Some(entry(u64::from(k)))))
                .collect(),
        );
        assert_eq!(m1.len(), 10_000);
        let m2 = m1.apply(vec![(5, None), (20_000, Some(entry(20_000)))]);
        assert_eq!(m2.len(), 10_000);
        assert!(m2.get(5).is_none());
        assert_eq!(m2.get(20_000).map(|e| e[0].session), Some(20_000));
        assert_eq!(
            m1.get(5).map(|e| e[0].session),
            Some(5),
            "the old version is unchanged"
        );
        let shared = m1
            .groups
            .iter()
            .zip(m2.groups.iter())
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared >= GROUPS - 2,
            "only the touched groups are copied ({shared} shared)"
        );
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
        #[test]
        fn map_matches_model(ops in proptest::collection::vec((0u32..200, any::<bool>()), 0..300)) {
            let mut model = std::collections::BTreeMap::new();
            let mut m = ShardedMap::<u32>::new();
            for chunk in ops.chunks(7) {
                let mut changes = Vec::new();
                for &(k, ins) in chunk {
                    changes.retain(|(ck, _): &(u32, Option<Entry>)| *ck != k);
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
