//! The control-thread side of the data plane: the small, stable facade the
//! `upf` crate calls. It creates the state shared with N workers, validates
//! and publishes batches of session changes as new snapshots, reclaims old
//! snapshots once every worker has moved on, sums per-worker usage and
//! counters, drains worker events and queues frames for a worker to send.
//!
//! Typical use (one control thread):
//! ```
//! use dataplane::control::{Control, DataplaneConfig, Batch};
//! let (mut ctl, ports) = Control::new(DataplaneConfig::new(1, 2_000_000_000));
//! // move each `ports[i]` to worker thread i and build a `Worker` from it
//! ctl.publish(Batch::default()).unwrap();
//! ctl.reclaim();
//! ```

use crate::counters::{Counters, Event, WorkerCounters};
use crate::iface::{Iface, NetConfig};
use crate::rules::{
    ApplyAction, DestinationInterface, Direction, FilterAddr, Gate, IpNet, Pdr, Qer, RuleError,
    Session, SessionId, Urr,
};
use crate::tables::{
    CFar, CHUNK_LINES, CPdr, CQer, CSdf, FarAction, Line, MapStats, MapWriter, MeterParams, Pdrs,
    RcuMap, Rules, Snapshot, WorkerLines, line, qer_line, urr_line,
};
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

/// Largest IP packet [`Control::inject`] takes: a standard Ethernet MTU
/// (N4 answers through the DPDK port are sent this way, unfragmented).
pub const MAX_INJECT: usize = 1500;

/// A packet the control thread asks a worker to send.
#[derive(Debug, Clone)]
pub struct Inject {
    /// Output interface.
    pub iface: Iface,
    /// Bytes used in `data`.
    pub len: u16,
    /// The IP packet (the worker adds the Ethernet header).
    pub data: [u8; MAX_INJECT],
}

/// Why a packet could not be queued for a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// Longer than [`MAX_INJECT`].
    #[error("packet of {0} bytes is longer than {MAX_INJECT}")]
    TooLong(usize),
    /// The worker's inject ring is full.
    #[error("inject ring full")]
    Full,
    /// The worker is gone.
    #[error("worker stopped")]
    Disconnected,
}

/// How to build the shared state.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Number of workers.
    pub workers: usize,
    /// TSC ticks per second (meters and timeouts).
    pub tsc_hz: u64,
    /// Interfaces.
    pub net: NetConfig,
    /// Capacity of each worker's event ring.
    pub event_ring: usize,
    /// Capacity of each worker's inject ring.
    pub inject_ring: usize,
    /// Sessions expected at most (`dataplane.max_sessions`; 0: unknown).
    /// The TEID and UE-IPv4 tables stop doubling at the size that holds
    /// this many keys (one each per session in the common case).
    pub max_sessions: usize,
}

impl DataplaneConfig {
    /// Defaults: no interfaces, 4096 events, 256 injected packets,
    /// 100 Error Indications per second, 10 ARP requests per second.
    #[must_use]
    pub fn new(workers: usize, tsc_hz: u64) -> Self {
        Self {
            workers,
            tsc_hz,
            net: NetConfig {
                error_indication_pps: 100,
                arp_requests_per_sec: 10,
                ..NetConfig::default()
            },
            event_ring: 4096,
            inject_ring: 256,
            max_sessions: 0,
        }
    }
}

#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct SeenGeneration(pub AtomicU64);

/// What one worker shares with the control thread.
#[derive(Debug, Default)]
pub struct WorkerShared {
    /// Set by the worker before it takes its first snapshot; a worker that
    /// has not started holds none and does not hold back reclamation.
    pub(crate) started: std::sync::atomic::AtomicBool,
    pub(crate) seen: SeenGeneration,
    /// The worker's counters.
    pub counters: WorkerCounters,
}

/// State shared by the control thread and all workers.
#[derive(Debug)]
pub struct Shared {
    pub(crate) published: Mutex<Arc<Snapshot>>,
    pub(crate) generation: AtomicU64,
    pub(crate) workers: Box<[WorkerShared]>,
}

/// Everything one worker needs from the control side; move it to the
/// worker's thread and build a [`crate::worker::Worker`] from it.
#[derive(Debug)]
pub struct WorkerPort {
    pub(crate) id: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: SyncSender<Event>,
    pub(crate) inject: Receiver<Inject>,
}

impl WorkerPort {
    /// The worker index.
    #[must_use]
    pub fn id(&self) -> usize {
        self.id
    }
}

/// A set of changes that becomes visible to the workers at once.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Sessions to create or replace (all rules of each).
    pub upserts: Vec<Session>,
    /// Sessions to remove.
    pub removals: Vec<SessionId>,
}

/// New values for the QERs of an installed session whose other rules stay
/// as they are: a config reload that changed only a static session's
/// `qos:` ([`Control::publish_changes`]). The publish derives the new
/// table entries from those in force (meters, gates and PSC values
/// replaced) instead of compiling the session again: no key or owner
/// checks, no slot or record work, and the session's state lines
/// (meters' buckets, URR and paired counters) stay exactly as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QerUpdate {
    /// The installed session.
    pub session: SessionId,
    /// Every QER of the session, with the ids it has now (in any order)
    /// and the new values.
    pub qers: SmallVec<[Qer; 1]>,
}

/// Usage counted by a URR, summed over workers. Bytes are IP packet bytes
/// (inner packet for tunnels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uplink bytes.
    pub ul_bytes: u64,
    /// Uplink packets.
    pub ul_packets: u64,
    /// Downlink bytes.
    pub dl_bytes: u64,
    /// Downlink packets.
    pub dl_packets: u64,
    /// TSC of the first packet (earliest over workers).
    pub first_tsc: Option<u64>,
    /// TSC of the last packet (latest over workers).
    pub last_tsc: Option<u64>,
}

/// Adds `o` to `u`: counts summed, the earliest first and latest last
/// packet.
fn merge(u: &mut Usage, o: &Usage) {
    u.ul_bytes += o.ul_bytes;
    u.ul_packets += o.ul_packets;
    u.dl_bytes += o.dl_bytes;
    u.dl_packets += o.dl_packets;
    u.first_tsc = match (u.first_tsc, o.first_tsc) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    u.last_tsc = u.last_tsc.max(o.last_tsc);
}

impl Usage {
    /// Uplink plus downlink bytes.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.ul_bytes + self.dl_bytes
    }
    /// Uplink plus downlink packets.
    #[must_use]
    pub fn total_packets(&self) -> u64 {
        self.ul_packets + self.dl_packets
    }
}

/// Final usage of a URR whose session was removed or which was dropped
/// from its session, known once no worker can count it any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalUsage {
    /// Session.
    pub session: SessionId,
    /// URR id.
    pub urr_id: u32,
    /// Everything it counted.
    pub usage: Usage,
}

/// Why [`Control::check_urrs`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportTrigger {
    /// Volume since the last report reached the threshold.
    VolumeThreshold,
    /// Total volume reached the quota (reported once).
    VolumeQuota,
    /// Time threshold elapsed since the last report.
    TimeThreshold,
}

/// A usage report due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrrReport {
    /// Session.
    pub session: SessionId,
    /// URR id.
    pub urr_id: u32,
    /// Trigger.
    pub trigger: ReportTrigger,
    /// Usage since the previous report.
    pub since_last: Usage,
    /// Usage since the URR was created.
    pub total: Usage,
}

/// A URR's state slot, the QER lines that count for it, and its reporting
/// state when it has anything to report on (most URRs only count: they
/// carry no box).
#[derive(Debug, Clone)]
struct UrrRecord {
    slot: u32,
    /// The line of the QER it is paired with now (`tables::qer_line`).
    pair: Option<u32>,
    /// Lines of QERs it was paired with before a modification: their
    /// counts are its own until every worker has left them; then
    /// `reclaim` adds them to `Control::folded` and frees the lines (so a
    /// session whose pairing changes again and again holds no more lines).
    former: Box<[u32]>,
    report: Option<Box<UrrReporting>>,
}

impl UrrRecord {
    /// Every QER line holding counts of this URR.
    fn qer_lines(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.pair.iter().chain(self.former.iter()).copied()
    }
}

/// A QER's state slot and the URR whose counters its line carries, if any
/// (a slot keeps one pairing for its whole life).
#[derive(Debug, Clone, Copy)]
struct QerRecord {
    slot: u32,
    paired: Option<u32>,
}

/// The (QER id, URR id) pairs of `s`: a QER and a URR named by exactly the
/// same PDRs, each of which names no other QER or URR. Such a URR counts
/// in the QER's state line (`tables::qer_line`), one line per packet.
fn pairs(s: &Session) -> SmallVec<[(u32, u32); 1]> {
    let mut out = SmallVec::new();
    for q in &s.qers {
        let mut users = s.pdrs.iter().filter(|p| p.qer_ids.contains(&q.id));
        let Some(first) = users.next() else { continue };
        let &[u] = first.urr_ids.as_slice() else {
            continue;
        };
        let sole = |p: &&Pdr| p.qer_ids.as_slice() == [q.id] && p.urr_ids.as_slice() == [u];
        let n_q = s.pdrs.iter().filter(|p| p.qer_ids.contains(&q.id)).count();
        let n_u = s.pdrs.iter().filter(|p| p.urr_ids.contains(&u)).count();
        if sole(&first) && users.all(|p| sole(&p)) && n_q == n_u && s.urrs.iter().any(|r| r.id == u)
        {
            out.push((q.id, u));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct UrrReporting {
    rule: Urr,
    last_report: Usage,
    last_report_s: Option<u64>,
    quota_reported: bool,
}

fn reporting(u: &Urr, old: Option<&UrrReporting>) -> Option<Box<UrrReporting>> {
    if u.volume_threshold.is_none() && u.volume_quota.is_none() && u.time_threshold_s.is_none() {
        return None;
    }
    Some(Box::new(match old {
        Some(o) => UrrReporting {
            rule: *u,
            ..o.clone()
        },
        None => UrrReporting {
            rule: *u,
            last_report: Usage::default(),
            last_report_s: None,
            quota_reported: false,
        },
    }))
}

/// A small map kept as a vector: sessions have a handful of QERs and URRs,
/// and a million hash maps of four buckets would cost more than the rules.
#[derive(Debug, Clone)]
struct VecMap<V>(SmallVec<[(u32, V); 1]>);

impl<V> Default for VecMap<V> {
    fn default() -> Self {
        Self(SmallVec::new())
    }
}

impl<V> VecMap<V> {
    fn get(&self, k: &u32) -> Option<&V> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }
    fn get_mut(&mut self, k: &u32) -> Option<&mut V> {
        self.0.iter_mut().find(|(key, _)| key == k).map(|(_, v)| v)
    }
    fn contains_key(&self, k: &u32) -> bool {
        self.get(k).is_some()
    }
    fn insert(&mut self, k: u32, v: V) {
        match self.get_mut(&k) {
            Some(old) => *old = v,
            None => self.0.push((k, v)),
        }
    }
    fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<'a, V> IntoIterator for &'a VecMap<V> {
    type Item = (&'a u32, &'a V);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (u32, V)>, fn(&'a (u32, V)) -> (&'a u32, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// A lookup key a session's PDRs are installed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapKey {
    Teid(u32),
    Ue4(u32),
    Ue6(u64),
}

/// What the control thread keeps per session besides the published rules:
/// 120 bytes and no allocation of its own for the common session (one
/// TEID, one UE address, one QER, one URR), boxed so that a million-entry
/// table at half load holds pointers, not records, in its empty buckets.
#[derive(Debug, Clone, Default)]
struct Record {
    keys: SmallVec<[MapKey; 2]>,
    qers: VecMap<QerRecord>,
    urrs: VecMap<UrrRecord>,
}

impl Record {
    fn shrink(&mut self) {
        self.keys.shrink_to_fit();
        self.qers.0.shrink_to_fit();
        self.urrs.0.shrink_to_fit();
    }

    fn add_key(&mut self, k: MapKey) {
        if !self.keys.contains(&k) {
            self.keys.push(k);
        }
    }
}

const _: () = assert!(core::mem::size_of::<Record>() <= 120);

#[derive(Debug)]
struct Deferred {
    generation: u64,
    slot: u32,
    /// With a removed URR: the QER lines that counted for it.
    via: Vec<u32>,
    urr: Option<(SessionId, u32)>,
    /// A QER line that left its pairing with this URR: its counts go to
    /// the URR's folded usage and the line is freed (unless the URR is
    /// gone meanwhile: its removal frees the line).
    fold: Option<(SessionId, u32)>,
}

/// The PDRs compiled for one lookup key in a publish: one inline (a key
/// has one PDR nearly always), so that an install allocates nothing per
/// key on its way to the table (compact entries keep no list at all).
type KeyPdrs = SmallVec<[CPdr; 1]>;

/// Every worker's chunk list after a growth.
type GrownLines = Box<[WorkerLines]>;

/// Keyed by session ids and lookup keys the control plane chooses: a fast
/// hash, seeded per map.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// What [`Control`] holds at one moment ([`Control::occupancy`]): with
/// no session changes in flight, every figure but `state_lines` returns to
/// its value before a churn of sessions (a leak otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Sessions installed (PFCP and static).
    pub sessions: usize,
    /// Keys of the lookup tables in force: N3/N9 TEIDs, UE IPv4
    /// addresses, UE IPv6 /64 prefixes.
    pub teid_keys: usize,
    pub ue4_keys: usize,
    pub ue6_keys: usize,
    /// Per-worker state lines (QER meters, URR counters) allocated, in
    /// use or not: they grow by chunks and are never given back.
    pub state_lines: usize,
    /// Of those, free for new QERs and URRs.
    pub state_lines_free: usize,
    /// Removed rules whose lines wait for every worker to leave the
    /// snapshot that used them.
    pub deferred_frees: usize,
    /// Snapshots replaced but still held for a worker.
    pub retired_snapshots: usize,
    /// Live URRs with usage folded from freed QER lines.
    pub folded_urrs: usize,
}

impl Occupancy {
    /// State lines held by rules (or waiting in `deferred_frees`).
    #[must_use]
    pub const fn state_lines_used(&self) -> usize {
        self.state_lines.saturating_sub(self.state_lines_free)
    }
}

/// The control-thread handle.
#[derive(Debug)]
pub struct Control {
    shared: Arc<Shared>,
    current: Arc<Snapshot>,
    retired: VecDeque<(u64, Arc<Snapshot>)>,
    sessions: HashMap<SessionId, Box<Record>>,
    /// Usage of live URRs counted in QER lines since freed (see
    /// `UrrRecord::former`), by (session, URR).
    folded: HashMap<(SessionId, u32), Usage>,
    free_slots: Vec<u32>,
    deferred: Vec<Deferred>,
    events: Vec<Receiver<Event>>,
    inject: Vec<SyncSender<Inject>>,
    version: u32,
    tsc_hz: u64,
    /// The spare tables of the lookup maps (left-right, see `tables`).
    teid_w: MapWriter<u32>,
    ue4_w: MapWriter<u32>,
    ue6_w: MapWriter<u64>,
}

fn chunk() -> Arc<[Line]> {
    (0..CHUNK_LINES).map(|_| Line::default()).collect()
}

impl Control {
    /// Creates the shared state for `cfg.workers` workers (at least one)
    /// and one [`WorkerPort`] per worker.
    #[must_use]
    pub fn new(cfg: DataplaneConfig) -> (Self, Vec<WorkerPort>) {
        let workers = cfg.workers.max(1);
        let empty_lines: WorkerLines = Arc::from(Vec::new());
        let snap = Arc::new(Snapshot {
            generation: 1,
            teid: RcuMap::new(),
            ue4: RcuMap::new(),
            ue6: RcuMap::new(),
            lines: (0..workers).map(|_| empty_lines.clone()).collect(),
            fast_net: crate::tables::FastIface::of(&cfg.net),
            net: Arc::new(cfg.net),
            tsc_hz: cfg.tsc_hz,
        });
        let shared = Arc::new(Shared {
            published: Mutex::new(snap.clone()),
            generation: AtomicU64::new(1),
            workers: (0..workers).map(|_| WorkerShared::default()).collect(),
        });
        let mut ports = Vec::new();
        let mut events = Vec::new();
        let mut inject = Vec::new();
        for id in 0..workers {
            let (etx, erx) = sync_channel(cfg.event_ring.max(1));
            let (itx, irx) = sync_channel(cfg.inject_ring.max(1));
            events.push(erx);
            inject.push(itx);
            ports.push(WorkerPort {
                id,
                shared: shared.clone(),
                events: etx,
                inject: irx,
            });
        }
        let ctl = Self {
            shared,
            current: snap,
            retired: VecDeque::new(),
            sessions: HashMap::default(),
            folded: HashMap::default(),
            free_slots: Vec::new(),
            deferred: Vec::new(),
            events,
            inject,
            version: 0,
            tsc_hz: cfg.tsc_hz,
            teid_w: MapWriter::expecting(cfg.max_sessions),
            ue4_w: MapWriter::expecting(cfg.max_sessions),
            ue6_w: MapWriter::default(),
        };
        (ctl, ports)
    }

    /// The snapshot workers get now.
    #[must_use]
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.current
    }

    /// The generation last published.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.current.generation
    }

    /// Number of installed sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// `true` if `id` is installed.
    #[must_use]
    pub fn has_session(&self, id: SessionId) -> bool {
        self.sessions.contains_key(&id)
    }

    /// The URR ids of session `id` as published (none for an unknown one).
    pub fn urr_ids(&self, id: SessionId) -> impl Iterator<Item = u32> + '_ {
        self.sessions
            .get(&id)
            .into_iter()
            .flat_map(|r| r.urrs.iter().map(|(k, _)| *k))
    }

    /// The generation worker `w` runs (0 before its first poll).
    #[must_use]
    pub fn worker_generation(&self, w: usize) -> u64 {
        self.shared
            .workers
            .get(w)
            .map_or(0, |s| s.seen.0.load(Ordering::Acquire))
    }

    fn swap_in(&mut self, snap: Snapshot) -> u64 {
        let g = snap.generation;
        let snap = Arc::new(snap);
        {
            let mut p = match self.shared.published.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            *p = snap.clone();
        }
        self.shared.generation.store(g, Ordering::Release);
        let old = std::mem::replace(&mut self.current, snap);
        self.retired.push_back((g, old));
        g
    }

    /// Replaces the interface configuration (addresses, gateways, static
    /// neighbours, rates). Returns the new generation.
    pub fn set_net(&mut self, net: NetConfig) -> u64 {
        let c = &self.current;
        let snap = Snapshot {
            generation: c.generation + 1,
            teid: c.teid.clone(),
            ue4: c.ue4.clone(),
            ue6: c.ue6.clone(),
            lines: c.lines.clone(),
            fast_net: crate::tables::FastIface::of(&net),
            net: Arc::new(net),
            tsc_hz: c.tsc_hz,
        };
        self.swap_in(snap)
    }

    /// The interface configuration in force.
    #[must_use]
    pub fn net(&self) -> &NetConfig {
        &self.current.net
    }

    /// Takes `n` free state slots, growing every worker's state by whole
    /// chunks when needed. Returns the slots and, if it grew, the new chunk
    /// lists (the snapshot shares the old ones otherwise).
    /// (On the two fields it uses, so that a publish can hold the session
    /// records meanwhile.)
    fn alloc_slots(
        free_slots: &mut Vec<u32>,
        current: &Snapshot,
        n: usize,
    ) -> Result<(Vec<u32>, Option<GrownLines>), RuleError> {
        let missing = n.saturating_sub(free_slots.len());
        if missing == 0 {
            let at = free_slots.len() - n;
            return Ok((free_slots.split_off(at), None));
        }
        let have = current.lines.first().map_or(0, |w| w.len());
        let add = missing.div_ceil(CHUNK_LINES);
        if u32::try_from((have + add) * CHUNK_LINES).is_err() {
            return Err(RuleError::Full);
        }
        let lines: Box<[WorkerLines]> = current
            .lines
            .iter()
            .map(|w| {
                w.iter()
                    .cloned()
                    .chain((0..add).map(|_| chunk()))
                    .collect::<WorkerLines>()
            })
            .collect();
        // Hand out low slots first.
        let new = (have * CHUNK_LINES..(have + add) * CHUNK_LINES)
            .rev()
            .filter_map(|s| u32::try_from(s).ok());
        let mut grown: Vec<u32> = new.collect();
        grown.extend(std::mem::take(free_slots));
        let at = grown.len() - n;
        let out = grown.split_off(at);
        *free_slots = grown;
        Ok((out, Some(lines)))
    }

    /// Validates `batch` in full and, if it is valid, makes it visible to
    /// every worker at once. Nothing changes on error. Returns the new
    /// generation.
    pub fn publish(&mut self, batch: Batch) -> Result<u64, RuleError> {
        self.try_publish(batch).map_err(|(e, _)| e)
    }

    /// [`Control::publish`], handing the batch back on error (so that a
    /// caller with a fallback need not keep a copy).
    pub fn try_publish(&mut self, batch: Batch) -> Result<u64, (RuleError, Batch)> {
        self.try_publish_with_net(batch, &[], None)
    }

    /// [`Control::publish`], with the interface configuration replaced in
    /// the same snapshot when `net` is given (a config reload: workers see
    /// the old sessions and interfaces or the new ones, never a mix).
    pub fn publish_with_net(
        &mut self,
        batch: Batch,
        net: Option<NetConfig>,
    ) -> Result<u64, RuleError> {
        self.try_publish_with_net(batch, &[], net)
            .map_err(|(e, _)| e)
    }

    /// [`Control::publish_with_net`] with QoS-only updates of installed
    /// sessions in the same snapshot (a config reload: workers see all of
    /// it or none of it). A session of `qos` may not also be in the
    /// batch, keeps its QER ids ([`RuleError::QerSetChanged`]) and sets
    /// no RQI without a QFI ([`RuleError::RqiWithoutQfi`]: a compact
    /// entry, which keeps no precedence or FAR id, could stop being one).
    pub fn publish_changes(
        &mut self,
        batch: Batch,
        qos: &[QerUpdate],
        net: Option<NetConfig>,
    ) -> Result<u64, RuleError> {
        self.try_publish_with_net(batch, qos, net)
            .map_err(|(e, _)| e)
    }

    fn try_publish_with_net(
        &mut self,
        batch: Batch,
        qos: &[QerUpdate],
        net: Option<NetConfig>,
    ) -> Result<u64, (RuleError, Batch)> {
        match self.check(&batch, qos) {
            Ok(qos_entries) => match self.apply(&batch, qos.len(), qos_entries, net) {
                Ok(g) => Ok(g),
                Err(e) => Err((e, batch)),
            },
            Err(e) => Err((e, batch)),
        }
    }

    /// The checks of [`Control::publish_changes`] for its QoS-only
    /// updates: each names an installed session that nothing else in the
    /// publish touches, with valid QERs of the ids it has now. Their keys
    /// stay theirs (they are not in `touched`: an upsert that claims one
    /// is refused, as for any session the batch does not change).
    ///
    /// Also makes their new entries, from the records the checks looked
    /// up (a reload of 100,000 QoS changes looked each record up twice,
    /// here and in `apply`, a few cache misses each): each key of an
    /// updated session gets the entry in force with its QERs' values
    /// replaced (`with_qers`), the update's `n`-th session with version
    /// `first_version + n` as `apply` counted them. Nothing changes here;
    /// `apply` writes them.
    fn check_qos(
        &self,
        qos: &[QerUpdate],
        touched: &HashSet<SessionId>,
        first_version: u32,
    ) -> Result<Vec<(MapKey, Rules)>, RuleError> {
        if qos.is_empty() {
            return Ok(Vec::new());
        }
        // The records first, in a loop of nothing but lookups: each is a
        // cache miss or two in a map of 100,000 sessions, and lookups that
        // do not depend on each other overlap in the CPU (the checks
        // between them kept that from happening). The checks then fetch
        // each record, its QER list and its keys' table slots a few
        // updates ahead.
        let recs: Vec<Option<&Record>> = qos
            .iter()
            .map(|u| self.sessions.get(&u.session).map(|r| &**r))
            .collect();
        let c = &self.current;
        const AHEAD: usize = 16;
        let fetch_record = |i: usize| {
            if let Some(Some(rec)) = recs.get(i) {
                // Up to 120 bytes: two lines where it straddles one.
                cpu::prefetch(*rec);
                cpu::prefetch(&rec.urrs);
            }
        };
        // Reads the record, fetched `AHEAD` updates before.
        let fetch_rest = |i: usize| {
            if let Some(Some(rec)) = recs.get(i) {
                if let Some(q) = rec.qers.0.first() {
                    cpu::prefetch(q);
                }
                for k in &rec.keys {
                    match *k {
                        MapKey::Teid(k) => c.teid.prefetch(k),
                        MapKey::Ue4(k) => c.ue4.prefetch(k),
                        MapKey::Ue6(k) => c.ue6.prefetch(k),
                    }
                }
            }
        };
        (0..2 * AHEAD).for_each(fetch_record);
        (0..AHEAD).for_each(fetch_rest);
        let mut seen: HashSet<SessionId> =
            HashSet::with_capacity_and_hasher(qos.len(), Default::default());
        // Nothing changes here: on an error the entries made so far are
        // dropped, and the first update that fails names the error, as
        // when the checks of all came before the entries.
        let mut out = Vec::with_capacity(2 * qos.len());
        let mut version = first_version;
        for (i, (u, rec)) in qos.iter().zip(&recs).enumerate() {
            fetch_record(i + 2 * AHEAD);
            fetch_rest(i + AHEAD);
            let session = u.session;
            if touched.contains(&session) || !seen.insert(session) {
                return Err(RuleError::DuplicateSession { session });
            }
            let Some(rec) = *rec else {
                return Err(RuleError::UnknownSession { session });
            };
            // The smallest id that comes twice, as `Session::validate` names it.
            if let Some(qer) = u
                .qers
                .iter()
                .enumerate()
                .filter(|(i, q)| u.qers[..*i].iter().any(|o| o.id == q.id))
                .map(|(_, q)| q.id)
                .min()
            {
                return Err(RuleError::DuplicateQer { session, qer });
            }
            if let Some(q) = u.qers.iter().find(|q| q.qfi.is_some_and(|f| f > 63)) {
                return Err(RuleError::InvalidQfi {
                    session,
                    rule: q.id,
                    qfi: q.qfi.unwrap_or_default(),
                });
            }
            if let Some(q) = u.qers.iter().find(|q| q.rqi && q.qfi.is_none()) {
                return Err(RuleError::RqiWithoutQfi { session, qer: q.id });
            }
            if u.qers.len() != rec.qers.0.len()
                || u.qers.iter().any(|q| !rec.qers.contains_key(&q.id))
            {
                return Err(RuleError::QerSetChanged { session });
            }
            version = version.wrapping_add(1);
            for k in &rec.keys {
                let cur = match *k {
                    MapKey::Teid(k) => c.teid.get(k),
                    MapKey::Ue4(k) => c.ue4.get(k),
                    MapKey::Ue6(k) => c.ue6.get(k),
                };
                let Some(cur) = cur else { continue };
                out.push((*k, with_qers(cur, u, rec, version, self.tsc_hz)));
            }
        }
        Ok(out)
    }

    /// The checks of [`Control::publish`]: nothing changes. Returns the
    /// QoS-only updates' new entries (`check_qos`).
    fn check(&self, batch: &Batch, qos: &[QerUpdate]) -> Result<Vec<(MapKey, Rules)>, RuleError> {
        let Batch { upserts, removals } = batch;
        // 1. Validation, before anything changes.
        // Sized up front: a reload upserts 100,000 sessions in one batch.
        let n = upserts.len() + removals.len();
        let mut touched = HashSet::with_capacity_and_hasher(n, Default::default());
        for s in upserts {
            s.validate()?;
            if !touched.insert(s.id) {
                return Err(RuleError::DuplicateSession { session: s.id });
            }
        }
        for &id in removals {
            if !touched.insert(id) {
                return Err(RuleError::DuplicateSession { session: id });
            }
            if !self.sessions.contains_key(&id) {
                return Err(RuleError::UnknownSession { session: id });
            }
        }
        // `apply` counts a version per upserted session, then per update.
        let first_version = self.version.wrapping_add(upserts.len() as u32);
        let qos_entries = self.check_qos(qos, &touched, first_version)?;
        let keys: Vec<Keys> = upserts.iter().map(keys_of).collect();
        // The owners' lookups below miss the cache once or twice per key in
        // tables of megabytes: prefetch the slots a few sessions ahead.
        const AHEAD: usize = 8;
        let prefetch = |k: &Keys| {
            for &t in &k.teids {
                self.current.teid.prefetch(t);
            }
            for a in &k.ips {
                match a {
                    IpAddr::V4(v) => self.current.ue4.prefetch(u32::from(*v)),
                    IpAddr::V6(_) => self.current.ue6.prefetch(v6_key(*a)),
                }
            }
        };
        keys.iter().take(AHEAD).for_each(prefetch);
        let mut claimed_teid: HashMap<u32, SessionId> =
            HashMap::with_capacity_and_hasher(upserts.len(), Default::default());
        let mut claimed_ip: HashMap<IpAddr, SessionId> =
            HashMap::with_capacity_and_hasher(upserts.len(), Default::default());
        for (i, (s, k)) in upserts.iter().zip(&keys).enumerate() {
            if let Some(next) = keys.get(i + AHEAD) {
                prefetch(next);
            }
            for &t in &k.teids {
                if let Some(&o) = claimed_teid.get(&t).filter(|o| **o != s.id) {
                    return Err(RuleError::TeidInUse {
                        session: s.id,
                        teid: t,
                        owner: o,
                    });
                }
                claimed_teid.insert(t, s.id);
                if let Some(o) = self.current.teid.get(t).map(Rules::session)
                    && o != s.id
                    && !touched.contains(&o)
                {
                    return Err(RuleError::TeidInUse {
                        session: s.id,
                        teid: t,
                        owner: o,
                    });
                }
            }
            for &a in &k.ips {
                if let Some(&o) = claimed_ip.get(&a).filter(|o| **o != s.id) {
                    return Err(RuleError::UeIpInUse {
                        session: s.id,
                        addr: a,
                        owner: o,
                    });
                }
                claimed_ip.insert(a, s.id);
                let owner = match a {
                    IpAddr::V4(v) => self.current.ue4.get(u32::from(v)),
                    IpAddr::V6(_) => self.current.ue6.get(v6_key(a)),
                }
                .map(Rules::session);
                if let Some(o) = owner.filter(|o| *o != s.id && !touched.contains(o)) {
                    return Err(RuleError::UeIpInUse {
                        session: s.id,
                        addr: a,
                        owner: o,
                    });
                }
            }
        }

        Ok(qos_entries)
    }

    /// Applies a checked batch, with the new entries of its `qos_count`
    /// QoS-only updates that `check` made. Fails only when the state
    /// lines cannot grow (more than 2^32 of them), before anything
    /// changes.
    fn apply(
        &mut self,
        batch: &Batch,
        qos_count: usize,
        qos_entries: Vec<(MapKey, Rules)>,
        net: Option<NetConfig>,
    ) -> Result<u64, RuleError> {
        let Batch { upserts, removals } = batch;
        // 2. State slots: keep those of QERs/URRs that persist, so meters
        // and counters carry over a modification. A QER whose pairing with
        // a URR changes gets a new line (its old one keeps the counts of
        // the URR it was paired with).
        let g = self.current.generation + 1;
        // The spare tables are written in place once no worker can read
        // them: drop the snapshots every worker has left first.
        self.release_retired();
        // Each upserted session's record, looked up once (a reload of
        // 100,000 sessions looked each up four times, a cache miss each).
        let sessions = &self.sessions;
        let olds: Vec<Option<&Record>> = upserts
            .iter()
            .map(|s| sessions.get(&s.id).map(|r| &**r))
            .collect();
        let mut new_records = Vec::with_capacity(upserts.len());
        let mut to_free: Vec<Deferred> = Vec::new();
        let paired: Vec<SmallVec<[(u32, u32); 1]>> = upserts.iter().map(pairs).collect();
        let pair_of = |ps: &[(u32, u32)], q: u32| ps.iter().find(|(pq, _)| *pq == q).map(|p| p.1);
        let need: usize = upserts
            .iter()
            .zip(&paired)
            .zip(&olds)
            .map(|((s, ps), &old)| {
                s.qers
                    .iter()
                    .filter(|q| {
                        old.and_then(|o| o.qers.get(&q.id))
                            .is_none_or(|o| o.paired != pair_of(ps, q.id))
                    })
                    .count()
                    + s.urrs
                        .iter()
                        .filter(|u| old.is_none_or(|o| !o.urrs.contains_key(&u.id)))
                        .count()
            })
            .sum();
        let (mut fresh, grown) = Self::alloc_slots(&mut self.free_slots, &self.current, need)?;
        for ((s, ps), &old) in upserts.iter().zip(&paired).zip(&olds) {
            let mut rec = Record::default();
            for u in &s.urrs {
                let r = match old.and_then(|o| o.urrs.get(&u.id)) {
                    Some(r) => UrrRecord {
                        slot: r.slot,
                        pair: None,
                        former: r.former.clone(),
                        report: reporting(u, r.report.as_deref()),
                    },
                    None => UrrRecord {
                        slot: fresh.pop().unwrap_or(0),
                        pair: None,
                        former: Box::default(),
                        report: reporting(u, None),
                    },
                };
                rec.urrs.insert(u.id, r);
            }
            let mut retired: Vec<QerRecord> = Vec::new();
            for q in &s.qers {
                let want = pair_of(ps, q.id);
                let slot = match old.and_then(|o| o.qers.get(&q.id)) {
                    Some(o) if o.paired == want => o.slot,
                    Some(o) => {
                        retired.push(*o);
                        fresh.pop().unwrap_or(0)
                    }
                    None => fresh.pop().unwrap_or(0),
                };
                rec.qers.insert(q.id, QerRecord { slot, paired: want });
                if let Some(r) = want.and_then(|u| rec.urrs.get_mut(&u)) {
                    r.pair = Some(slot);
                }
            }
            if let Some(o) = old {
                retired.extend(
                    o.qers
                        .iter()
                        .filter(|(id, _)| !rec.qers.contains_key(id))
                        .map(|(_, q)| *q),
                );
                for (id, r) in &o.urrs {
                    if !rec.urrs.contains_key(id) {
                        to_free.push(Deferred {
                            generation: g,
                            slot: r.slot,
                            via: r.qer_lines().collect(),
                            urr: Some((s.id, *id)),
                            fold: None,
                        });
                    }
                }
            }
            for q in retired {
                match q.paired {
                    // Its counts stay with the URR (freed with it if it is gone).
                    Some(u) => {
                        if let Some(r) = rec.urrs.get_mut(&u) {
                            r.former = r.former.iter().copied().chain([q.slot]).collect();
                            to_free.push(Deferred {
                                generation: g,
                                slot: q.slot,
                                via: Vec::new(),
                                urr: None,
                                fold: Some((s.id, u)),
                            });
                        }
                    }
                    None => to_free.push(Deferred {
                        generation: g,
                        slot: q.slot,
                        via: Vec::new(),
                        urr: None,
                        fold: None,
                    }),
                }
            }
            new_records.push(rec);
        }

        // 3. Compile and build the map changes, in the order the tables
        // apply them: every key that goes away first (those of removed
        // sessions, and those an upserted session no longer has), then
        // every key an upserted session has. The batch was checked: a key
        // is claimed by one session of it at most, and a key that goes
        // away can only be claimed by another session of the batch, whose
        // insert comes later. So no map of the changes by key is needed
        // (it was most of a 100,000-change publish: 100,000 entries of a
        // PDR each, built and walked once), and each key's rules are made
        // as soon as its session is compiled.
        // QoS-only updates write a key per table too (a short-form
        // session has a TEID and a UE address): sized for them, or the
        // vectors grow (and copy) several times in a 100,000-change reload.
        let mut teid_ops = MapOps::<u32>::with_capacity(upserts.len() + qos_count, removals.len());
        let mut ue4_ops = MapOps::<u32>::with_capacity(upserts.len() + qos_count, removals.len());
        let mut ue6_ops = MapOps::<u64>::default();
        for &id in removals {
            if let Some(rec) = self.sessions.get(&id) {
                for k in &rec.keys {
                    match *k {
                        MapKey::Teid(k) => teid_ops.remove(k),
                        MapKey::Ue4(k) => ue4_ops.remove(k),
                        MapKey::Ue6(k) => ue6_ops.remove(k),
                    }
                }
                // Paired QER lines go with their URR.
                for q in rec.qers.values().filter(|q| q.paired.is_none()) {
                    to_free.push(Deferred {
                        generation: g,
                        slot: q.slot,
                        via: Vec::new(),
                        urr: None,
                        fold: None,
                    });
                }
                for (uid, r) in &rec.urrs {
                    to_free.push(Deferred {
                        generation: g,
                        slot: r.slot,
                        via: r.qer_lines().collect(),
                        urr: Some((id, *uid)),
                        fold: None,
                    });
                }
            }
        }
        let has_n9 = self.current.net.iface(Iface::N9).is_some();
        let mut keyed: SmallVec<[(MapKey, KeyPdrs); 2]> = SmallVec::new();
        for ((s, rec), &old) in upserts.iter().zip(new_records.iter_mut()).zip(&olds) {
            self.version = self.version.wrapping_add(1);
            keyed.clear();
            let mut add = |k: MapKey, c: CPdr| match keyed.iter_mut().find(|(key, _)| *key == k) {
                Some((_, v)) => v.push(c),
                None => keyed.push((k, smallvec::smallvec![c])),
            };
            for p in &s.pdrs {
                let c = compile(s, p, rec, self.version, self.tsc_hz, has_n9);
                if let Some(f) = p.pdi.local_fteid {
                    add(MapKey::Teid(f.teid), c);
                } else if let Some(ue) = p.pdi.ue_ip {
                    match (ue.ipv4, ue.ipv6) {
                        (Some(a4), Some(a6)) => {
                            add(MapKey::Ue4(u32::from(a4)), c.clone());
                            add(MapKey::Ue6(v6_key(a6.into())), c);
                        }
                        (Some(a4), None) => add(MapKey::Ue4(u32::from(a4)), c),
                        (None, Some(a6)) => add(MapKey::Ue6(v6_key(a6.into())), c),
                        (None, None) => {}
                    }
                }
            }
            if let Some(old) = old {
                for k in old
                    .keys
                    .iter()
                    .filter(|k| !keyed.iter().any(|(n, _)| n == *k))
                {
                    match *k {
                        MapKey::Teid(k) => teid_ops.remove(k),
                        MapKey::Ue4(k) => ue4_ops.remove(k),
                        MapKey::Ue6(k) => ue6_ops.remove(k),
                    }
                }
            }
            for (k, mut pdrs) in keyed.drain(..) {
                rec.add_key(k);
                pdrs.sort_by_key(|p| p.precedence);
                let rules = Rules::new(pdrs);
                match k {
                    MapKey::Teid(k) => teid_ops.insert(k, rules),
                    MapKey::Ue4(k) => ue4_ops.insert(k, rules),
                    MapKey::Ue6(k) => ue6_ops.insert(k, rules),
                }
            }
        }
        // 4. QoS-only updates: each key of the session gets the entry in
        // force with its QERs' values replaced (`with_qers`, made by
        // `check_qos` with the versions counted on from here). The keys
        // stay the session's (checked), so no other change of the batch
        // writes them; the record (keys, slots, pairings) is unchanged.
        let c = self.current.clone();
        self.version = self
            .version
            .wrapping_add(u32::try_from(qos_count).unwrap_or(u32::MAX));
        for (k, rules) in qos_entries {
            match k {
                MapKey::Teid(k) => teid_ops.insert(k, rules),
                MapKey::Ue4(k) => ue4_ops.insert(k, rules),
                MapKey::Ue6(k) => ue6_ops.insert(k, rules),
            }
        }
        let snap = Snapshot {
            generation: g,
            teid: self.teid_w.apply(&c.teid, teid_ops.finish()),
            ue4: self.ue4_w.apply(&c.ue4, ue4_ops.finish()),
            ue6: self.ue6_w.apply(&c.ue6, ue6_ops.finish()),
            lines: grown.unwrap_or_else(|| c.lines.clone()),
            fast_net: net
                .as_ref()
                .map_or(c.fast_net, crate::tables::FastIface::of),
            net: net.map_or_else(|| c.net.clone(), Arc::new),
            tsc_hz: c.tsc_hz,
        };
        self.swap_in(snap);
        for id in removals {
            self.sessions.remove(id);
        }
        for (s, mut rec) in upserts.iter().zip(new_records) {
            rec.shrink();
            // In the old record's box when there is one.
            match self.sessions.entry(s.id) {
                std::collections::hash_map::Entry::Occupied(mut e) => **e.get_mut() = rec,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Box::new(rec));
                }
            }
        }
        self.deferred.extend(to_free);
        Ok(g)
    }

    /// Usage in the URR line `slot` and the QER lines `via` that counted
    /// for it, summed over workers.
    fn sum_slots(&self, slot: u32, via: &(impl Iterator<Item = u32> + Clone)) -> Usage {
        self.sum_lines(Some(slot), via)
    }

    /// [`Control::sum_slots`] plus what was folded from freed QER lines:
    /// a live URR's usage.
    fn urr_usage(&self, session: SessionId, urr_id: u32, r: &UrrRecord) -> Usage {
        let mut u = self.sum_slots(r.slot, &r.qer_lines());
        if let Some(f) = self.folded.get(&(session, urr_id)) {
            merge(&mut u, f);
        }
        u
    }

    fn sum_lines(&self, slot: Option<u32>, via: &(impl Iterator<Item = u32> + Clone)) -> Usage {
        let mut u = Usage::default();
        let last = |u: &mut Usage, t: u64| u.last_tsc = Some(u.last_tsc.map_or(t, |l| l.max(t)));
        for w in &self.current.lines {
            if let Some(l) = slot.and_then(|slot| line(w, slot)) {
                let r = |i: usize| l.0[i].load(Ordering::Relaxed);
                u.ul_bytes += r(urr_line::UL_BYTES);
                u.ul_packets += r(urr_line::UL_PACKETS);
                u.dl_bytes += r(urr_line::DL_BYTES);
                u.dl_packets += r(urr_line::DL_PACKETS);
                let first = r(urr_line::FIRST_TSC);
                if first != 0 {
                    u.first_tsc = Some(u.first_tsc.map_or(first - 1, |f| f.min(first - 1)));
                    if r(urr_line::UL_PACKETS) | r(urr_line::DL_PACKETS) != 0 {
                        last(&mut u, r(urr_line::LAST_TSC));
                    }
                }
            }
            for q in via.clone() {
                let Some(l) = line(w, q) else { continue };
                let r = |i: usize| l.0[i].load(Ordering::Relaxed);
                u.ul_bytes += r(qer_line::UL_BYTES);
                u.ul_packets += r(qer_line::UL_PACKETS);
                u.dl_bytes += r(qer_line::DL_BYTES);
                u.dl_packets += r(qer_line::DL_PACKETS);
                // Last refill plus one: the last packet counted there.
                let t = r(qer_line::UL_LAST).max(r(qer_line::DL_LAST));
                if t != 0 {
                    last(&mut u, t - 1);
                }
            }
        }
        u
    }

    /// Usage counted so far by URR `urr_id` of `session`, summed over workers.
    #[must_use]
    pub fn usage(&self, session: SessionId, urr_id: u32) -> Option<Usage> {
        let r = self.sessions.get(&session)?.urrs.get(&urr_id)?;
        Some(self.urr_usage(session, urr_id, r))
    }

    /// Frees what no worker can still see: retired snapshots older than
    /// every worker's generation, and the state slots of removed rules.
    /// Returns the final usage of URRs removed since the last call whose
    /// counters are now complete. Call it regularly (e.g. every 10 ms).
    pub fn reclaim(&mut self) -> Vec<FinalUsage> {
        let min_seen = self.release_retired();
        if min_seen >= self.current.generation {
            // No worker reads the spare tables any more: write the last
            // publish's changes into them now, off the next publish's path.
            self.teid_w.catch_up(&self.current.teid);
            self.ue4_w.catch_up(&self.current.ue4);
            self.ue6_w.catch_up(&self.current.ue6);
        }
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for d in std::mem::take(&mut self.deferred) {
            if d.generation > min_seen {
                keep.push(d);
                continue;
            }
            if let Some((sid, uid)) = d.fold {
                let still = self
                    .sessions
                    .get_mut(&sid)
                    .and_then(|r| r.urrs.get_mut(&uid))
                    .filter(|r| r.former.contains(&d.slot));
                let Some(r) = still else {
                    // The URR went meanwhile: its removal frees the line.
                    continue;
                };
                r.former = r.former.iter().copied().filter(|&x| x != d.slot).collect();
                let add = self.sum_lines(None, &std::iter::once(d.slot));
                merge(self.folded.entry((sid, uid)).or_default(), &add);
            }
            if let Some((session, urr_id)) = d.urr {
                let mut usage = self.sum_slots(d.slot, &d.via.iter().copied());
                if let Some(f) = self.folded.remove(&(session, urr_id)) {
                    merge(&mut usage, &f);
                }
                out.push(FinalUsage {
                    session,
                    urr_id,
                    usage,
                });
            }
            for slot in std::iter::once(d.slot).chain(d.via) {
                for w in &self.current.lines {
                    if let Some(l) = line(w, slot) {
                        for a in &l.0 {
                            a.store(0, Ordering::Relaxed);
                        }
                    }
                }
                self.free_slots.push(slot);
            }
        }
        self.deferred = keep;
        out
    }

    /// The oldest generation a started worker runs (a worker that has not
    /// started holds no snapshot: it will take the current one, which is
    /// never retired).
    fn min_seen(&self) -> u64 {
        (0..self.shared.workers.len())
            .filter(|&w| self.shared.workers[w].started.load(Ordering::SeqCst))
            .map(|w| self.worker_generation(w))
            .min()
            .unwrap_or(self.current.generation)
    }

    /// Drops the retired snapshots every worker has left; returns the
    /// oldest generation in use.
    fn release_retired(&mut self) -> u64 {
        let min_seen = self.min_seen();
        while self.retired.front().is_some_and(|(g, _)| *g <= min_seen) {
            self.retired.pop_front();
        }
        min_seen
    }

    /// Whether a publish now writes the lookup tables in place: every
    /// started worker runs the current generation, so no snapshot uses the
    /// spare tables any more (the retired ones are dropped here). While it
    /// is `false` a publish copies the tables, O(sessions): a caller that
    /// can wait (gathering more changes into one batch) should.
    pub fn ready_to_publish(&mut self) -> bool {
        self.release_retired() >= self.current.generation
    }

    /// How the lookup maps' versions were made (in place, copied, resized),
    /// summed over the maps.
    #[must_use]
    pub fn map_stats(&self) -> MapStats {
        let mut s = self.teid_w.stats();
        s.add(&self.ue4_w.stats());
        s.add(&self.ue6_w.stats());
        s
    }

    /// Number of retired snapshots still kept for a worker.
    #[must_use]
    pub fn retired_count(&self) -> usize {
        self.retired.len()
    }

    /// What the control side holds now, O(1): the soak test and `/status`
    /// compare it with its value before a churn to find leaks.
    #[must_use]
    pub fn occupancy(&self) -> Occupancy {
        let lines = self.current.lines.first().map_or(0, |w| w.len()) * CHUNK_LINES;
        Occupancy {
            sessions: self.sessions.len(),
            teid_keys: self.current.teid.len(),
            ue4_keys: self.current.ue4.len(),
            ue6_keys: self.current.ue6.len(),
            state_lines: lines,
            state_lines_free: self.free_slots.len(),
            deferred_frees: self.deferred.len(),
            retired_snapshots: self.retired.len(),
            folded_urrs: self.folded.len(),
        }
    }

    /// Compares every URR's usage with its thresholds, quota and time
    /// threshold (`now_s`: the control thread's clock in seconds) and returns
    /// the reports due. The PFCP layer turns them into Session Report
    /// Requests (and, on quota, updates the FAR to drop).
    pub fn check_urrs(&mut self, now_s: u64) -> Vec<UrrReport> {
        let mut out = Vec::new();
        let sums: Vec<(SessionId, u32, Usage)> = self
            .sessions
            .iter()
            .flat_map(|(sid, r)| {
                r.urrs
                    .iter()
                    .filter(|(_, u)| u.report.is_some())
                    .map(move |(uid, u)| (*sid, *uid, u))
            })
            .map(|(s, id, u)| (s, id, self.urr_usage(s, id, u)))
            .collect();
        for (sid, uid, total) in sums {
            let Some(r) = self
                .sessions
                .get_mut(&sid)
                .and_then(|s| s.urrs.get_mut(&uid))
                .and_then(|u| u.report.as_deref_mut())
            else {
                continue;
            };
            let since = Usage {
                ul_bytes: total.ul_bytes - r.last_report.ul_bytes,
                ul_packets: total.ul_packets - r.last_report.ul_packets,
                dl_bytes: total.dl_bytes - r.last_report.dl_bytes,
                dl_packets: total.dl_packets - r.last_report.dl_packets,
                first_tsc: total.first_tsc,
                last_tsc: total.last_tsc,
            };
            let reached = |v: Option<crate::rules::Volume>, u: &Usage| {
                v.is_some_and(|v| {
                    v.total.is_some_and(|t| u.total_bytes() >= t)
                        || v.ul.is_some_and(|t| u.ul_bytes >= t)
                        || v.dl.is_some_and(|t| u.dl_bytes >= t)
                })
            };
            let start = *r.last_report_s.get_or_insert(now_s);
            let trigger = if !r.quota_reported && reached(r.rule.volume_quota, &total) {
                r.quota_reported = true;
                Some(ReportTrigger::VolumeQuota)
            } else if reached(r.rule.volume_threshold, &since) {
                Some(ReportTrigger::VolumeThreshold)
            } else if r
                .rule
                .time_threshold_s
                .is_some_and(|t| now_s.saturating_sub(start) >= u64::from(t))
            {
                Some(ReportTrigger::TimeThreshold)
            } else {
                None
            };
            if let Some(trigger) = trigger {
                r.last_report = total;
                r.last_report_s = Some(now_s);
                out.push(UrrReport {
                    session: sid,
                    urr_id: uid,
                    trigger,
                    since_last: since,
                    total,
                });
            }
        }
        out
    }

    /// Counters summed over workers.
    #[must_use]
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for w in &self.shared.workers {
            c.add(&w.counters);
        }
        c
    }

    /// Counters of worker `w`.
    #[must_use]
    pub fn worker_counters(&self, w: usize) -> Counters {
        let mut c = Counters::default();
        if let Some(w) = self.shared.workers.get(w) {
            c.add(&w.counters);
        }
        c
    }

    /// Takes every pending event from every worker.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.iter().flat_map(|r| r.try_iter()).collect()
    }

    /// Queues an IP packet for worker 0 to send out of `iface` (it adds the
    /// Ethernet header, resolving the next hop like forwarded traffic).
    pub fn inject(&self, iface: Iface, packet: &[u8]) -> Result<(), InjectError> {
        if packet.len() > MAX_INJECT {
            return Err(InjectError::TooLong(packet.len()));
        }
        let mut data = [0u8; MAX_INJECT];
        data[..packet.len()].copy_from_slice(packet);
        let len = u16::try_from(packet.len()).map_err(|_| InjectError::TooLong(packet.len()))?;
        let tx = self.inject.first().ok_or(InjectError::Disconnected)?;
        tx.try_send(Inject { iface, len, data })
            .map_err(|e| match e {
                TrySendError::Full(_) => InjectError::Full,
                TrySendError::Disconnected(_) => InjectError::Disconnected,
            })
    }
}

struct Keys {
    teids: SmallVec<[u32; 2]>,
    ips: SmallVec<[IpAddr; 2]>,
}

fn keys_of(s: &Session) -> Keys {
    let mut k = Keys {
        teids: SmallVec::new(),
        ips: SmallVec::new(),
    };
    for p in &s.pdrs {
        if let Some(f) = p.pdi.local_fteid {
            if !k.teids.contains(&f.teid) {
                k.teids.push(f.teid);
            }
        } else if let Some(ue) = p.pdi.ue_ip {
            for a in [ue.ipv4.map(IpAddr::V4), ue.ipv6.map(IpAddr::V6)]
                .into_iter()
                .flatten()
            {
                let a = match a {
                    IpAddr::V6(v) => IpAddr::V6((u128::from(v) & !(u128::from(u64::MAX))).into()),
                    a @ IpAddr::V4(_) => a,
                };
                if !k.ips.contains(&a) {
                    k.ips.push(a);
                }
            }
        }
    }
    k
}

/// One lookup map's changes in a publish: removals, then inserts (see
/// `Control::apply`, step 3), in the order [`MapWriter::apply`] writes them.
#[derive(Debug)]
struct MapOps<K> {
    removals: Vec<(K, Option<Rules>)>,
    inserts: Vec<(K, Option<Rules>)>,
}

impl<K> Default for MapOps<K> {
    fn default() -> Self {
        Self {
            removals: Vec::new(),
            inserts: Vec::new(),
        }
    }
}

impl<K> MapOps<K> {
    fn with_capacity(upserts: usize, removals: usize) -> Self {
        Self {
            removals: Vec::with_capacity(removals),
            inserts: Vec::with_capacity(upserts),
        }
    }

    fn remove(&mut self, k: K) {
        self.removals.push((k, None));
    }

    fn insert(&mut self, k: K, r: Rules) {
        self.inserts.push((k, Some(r)));
    }

    fn finish(mut self) -> Vec<(K, Option<Rules>)> {
        self.removals.append(&mut self.inserts);
        self.removals
    }
}

fn v6_key(a: IpAddr) -> u64 {
    match a {
        IpAddr::V6(v) => (u128::from(v) >> 64) as u64,
        IpAddr::V4(_) => 0,
    }
}

/// QER `q` as a PDR of direction `dir` uses it, on state line `slot`.
fn cqer(q: &Qer, dir: Direction, slot: u32, tsc_hz: u64) -> CQer {
    let (gate, mbr) = match dir {
        Direction::Ul => (q.gate_ul, q.mbr_ul_bps),
        Direction::Dl => (q.gate_dl, q.mbr_dl_bps),
    };
    let meter = mbr.map(|bps| {
        // 100 ms at the MBR: a worker that was off the CPU (idle
        // back-off, a shared core) for less than that still passes
        // everything the rate allowed meanwhile when the queued packets
        // come in one go; a 10 ms bucket lost the rest (9.9 -> 6.6
        // Mbit/s for 10 Mbit/s under CPU contention in suite 41).
        let burst = q.burst_bytes.unwrap_or_else(|| (bps / 8 / 10).max(3000));
        MeterParams::new(bps, burst, tsc_hz)
    });
    CQer::new(slot, gate == Gate::Open, meter, q.qfi, q.rqi)
}

/// The entry `cur` of a session with the values of its QERs replaced by
/// those of `u` (a QoS-only update): what compiling the session with the
/// new QERs gives (the QER of each compiled QER is found by its state
/// line, which is the QER's own in `rec`), with a new `version`.
fn with_qers(cur: &Rules, u: &QerUpdate, rec: &Record, version: u32, tsc_hz: u64) -> Rules {
    // The update's QER for the compiled QER on state line `slot`, if it
    // names that one (a QER it does not name keeps its values).
    let new_qer = |slot: u32| {
        rec.qers
            .iter()
            .find(|(_, r)| r.slot == slot)
            .and_then(|(id, _)| u.qers.iter().find(|q| q.id == *id))
    };
    // A compact entry (a static session's, nearly always): its digest
    // with the QER's fields replaced, when it stays compact (a compact
    // PDR has version 0, so the version does not show).
    if cur.is_compact() {
        let f = cur.fast();
        if f.flags & crate::tables::fast::QER == 0 {
            // No QER under this key: the entry stays as it is.
            return cur.clone();
        }
        let dir = if f.flags & crate::tables::fast::UL != 0 {
            Direction::Ul
        } else {
            Direction::Dl
        };
        let slot = f.qer_slot;
        let Some(q) = new_qer(slot) else {
            return cur.clone();
        };
        if let Some(r) = cur.with_qer(cqer(q, dir, slot, tsc_hz)) {
            return r;
        }
    }
    let mut pdrs: KeyPdrs = match cur.pdrs() {
        Pdrs::Shared(s) => s.iter().cloned().collect(),
        Pdrs::One(p) => smallvec::smallvec![p],
    };
    for p in &mut pdrs {
        p.version = version;
        let dir = p.dir;
        for cq in p.qers.iter_mut().flatten() {
            if let Some(q) = new_qer(cq.slot) {
                *cq = cqer(q, dir, cq.slot, tsc_hz);
            }
        }
    }
    Rules::new(pdrs)
}

fn compile(s: &Session, p: &Pdr, rec: &Record, version: u32, tsc_hz: u64, has_n9: bool) -> CPdr {
    let dir = p.pdi.source_interface.direction();
    let far = s.fars.iter().find(|f| f.id == p.far_id);
    let a = far.map_or(
        ApplyAction {
            drop: true,
            ..ApplyAction::default()
        },
        |f| f.apply_action,
    );
    let fp = far.and_then(|f| f.forwarding);
    let ohc = fp.and_then(|f| f.outer_header_creation);
    let out = match fp.map(|f| f.destination) {
        Some(DestinationInterface::Access) => Iface::N3,
        Some(DestinationInterface::Core) if ohc.is_some() => {
            if has_n9 {
                Iface::N9
            } else {
                Iface::N3
            }
        }
        _ => Iface::N6,
    };
    let action = if a.forw {
        FarAction::Forward
    } else if a.buff {
        FarAction::Buffer
    } else {
        FarAction::Drop
    };
    let mut qers = [None; crate::rules::MAX_QERS_PER_PDR];
    for (slot, id) in qers.iter_mut().zip(&p.qer_ids) {
        let Some(q) = s.qers.iter().find(|q| q.id == *id) else {
            continue;
        };
        *slot = Some(cqer(q, dir, rec.qers.get(id).map_or(0, |q| q.slot), tsc_hz));
    }
    let mut urrs = [0u32; crate::rules::MAX_URRS_PER_PDR];
    let mut n_urrs = 0u8;
    for (slot, id) in urrs.iter_mut().zip(&p.urr_ids) {
        if let Some(r) = rec.urrs.get(id) {
            *slot = r.slot;
            n_urrs += 1;
        }
    }
    let ue = p.pdi.ue_ip.unwrap_or_default();
    let mut sdf = Vec::new();
    for f in &p.pdi.sdf_filters {
        let assigned: Vec<Option<IpNet>> = match f.to {
            FilterAddr::Any => vec![None],
            FilterAddr::Net(n) => vec![Some(n)],
            FilterAddr::Assigned => {
                let v: Vec<Option<IpNet>> = [
                    ue.ipv4.map(|a| IpNet {
                        addr: a.into(),
                        prefix: 32,
                    }),
                    ue.ipv6.map(|a| IpNet {
                        addr: a.into(),
                        prefix: 64,
                    }),
                ]
                .into_iter()
                .flatten()
                .map(Some)
                .collect();
                if v.is_empty() { vec![None] } else { v }
            }
        };
        let remote = match f.from {
            FilterAddr::Net(n) => Some(n),
            FilterAddr::Any | FilterAddr::Assigned => None,
        };
        for ue_net in assigned {
            sdf.push(CSdf {
                protocol: f.protocol,
                remote,
                remote_ports: f.from_ports.clone().into_boxed_slice(),
                ue: ue_net,
                ue_ports: f.to_ports.clone().into_boxed_slice(),
            });
        }
    }
    CPdr {
        session: s.id,
        version,
        id: p.id,
        dir,
        precedence: p.precedence,
        qfi: p.pdi.qfi,
        ue4: ue.ipv4.map(u32::from),
        ue6: ue.ipv6.map(|a| v6_key(a.into())),
        remove_outer: p.outer_header_removal.is_some(),
        far: CFar {
            id: p.far_id,
            action,
            notify: a.nocp,
            out,
            ohc,
            dscp: fp.and_then(|f| f.transport_level_marking),
        },
        qers,
        urrs,
        n_urrs,
        urr_in_qer: matches!((p.qer_ids.as_slice(), p.urr_ids.as_slice()),
            ([q], [u]) if rec.qers.get(q).is_some_and(|r| r.paired == Some(*u))),
        sdf: sdf.into_boxed_slice(),
    }
}
