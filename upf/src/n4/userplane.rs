//! The PFCP node's [`pfcp::UserPlane`] over the dataplane's control facade
//! ([`dataplane::control::Control`]): rule sets are translated and published
//! (one batch per PFCP message: the workers see all of it or none), usage is
//! read from the workers' counters, End Markers are injected on N3.
//!
//! Usage bookkeeping: the dataplane counts cumulatively per URR (summed
//! over workers) and, once the workers have moved past a removal, hands the
//! final count of each removed URR back from `reclaim()`. The PFCP node
//! wants "since the previous call", every packet once. [`UsageBook`] keeps,
//! per URR, what was reported so far; removed URRs wait here for their
//! final count (the node holds the response meanwhile, see
//! [`pfcp::UserPlane::usage_settled`]) so that packets counted between the
//! last read and the workers' switch are reported too.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use dataplane::control::{Batch, Control, FinalUsage, Usage};
use dataplane::iface::Iface;
use dataplane::rules::{self as dp, SessionId};
use log::{debug, warn};
use pfcp::codec::ies::ApplyAction;
use pfcp::{Session, UpError, UsageSample, UserPlane};
use smallvec::SmallVec;

use super::translate;

/// How long a removed URR's final count is waited for before the last
/// count read is reported instead (a worker that stopped polling).
pub const SETTLE_MAX: Duration = Duration::from_millis(500);
/// How long an End Marker waits for every worker to run the new rules
/// before it is sent anyway.
pub const END_MARKER_WAIT: Duration = Duration::from_millis(100);
/// Longest a staged batch waits for the workers to leave the dataplane's
/// spare lookup tables (then it is published with a copy of them).
pub const PUBLISH_WAIT: Duration = Duration::from_millis(20);
/// Final counts of removed sessions nobody asked for (purged sessions)
/// are forgotten after this.
const FORGET_AFTER: Duration = Duration::from_secs(10);

/// Shortest interval over which [`TscClock::reanchored`] measures the
/// TSC rate itself; before, it keeps the rate it was given (EAL's).
const TSC_RATE_MEASURE_MIN: Duration = Duration::from_secs(10);

/// Maps the dataplane's TSC time stamps to wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscClock {
    /// TSC ticks per second.
    pub hz: u64,
    /// A TSC reading...
    pub tsc: u64,
    /// ...and the wall-clock time it was taken at.
    pub wall: SystemTime,
}

impl TscClock {
    /// This clock (taken at start) moved to TSC reading `tsc`, read
    /// `elapsed` of monotonic time after its own: anchored at `wall +
    /// elapsed` (the PFCP node's timeline: its wall clock is the start's
    /// plus monotonic time), with the TSC rate measured over `elapsed`
    /// once that is long enough. EAL's rate is an estimate rounded to
    /// 10 MHz where the CPU does not tell it (2,600,000,000 for this VM's
    /// 2,596.1 MHz TSC: 0.15 % fast), so a clock anchored only at start
    /// ran 5.4 s an hour behind: last-packet times looked older than they
    /// were, and the User Plane Inactivity Timer missed or invented
    /// silences. The control thread re-anchors it every second.
    #[must_use]
    pub fn reanchored(&self, tsc: u64, elapsed: Duration) -> TscClock {
        let ticks = u128::from(tsc.saturating_sub(self.tsc));
        let hz = if elapsed >= TSC_RATE_MEASURE_MIN {
            u64::try_from(ticks * 1_000_000_000 / elapsed.as_nanos().max(1)).unwrap_or(self.hz)
        } else {
            self.hz
        };
        TscClock {
            hz: hz.max(1),
            tsc,
            wall: self.wall + elapsed,
        }
    }

    /// The wall-clock time of TSC reading `t`.
    #[must_use]
    pub fn wall(&self, t: u64) -> SystemTime {
        let hz = u128::from(self.hz.max(1));
        let ns = |d: u64| {
            let n = u128::from(d) * 1_000_000_000 / hz;
            Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
        };
        if t >= self.tsc {
            self.wall + ns(t - self.tsc)
        } else {
            self.wall - ns(self.tsc - t)
        }
    }
}

/// Packets and bytes of a URR reported so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    ul_bytes: u64,
    ul_packets: u64,
    dl_bytes: u64,
    dl_packets: u64,
}

impl From<Usage> for Counts {
    fn from(u: Usage) -> Self {
        Self {
            ul_bytes: u.ul_bytes,
            ul_packets: u.ul_packets,
            dl_bytes: u.dl_bytes,
            dl_packets: u.dl_packets,
        }
    }
}

/// A URR that left the dataplane and waits for its final count.
#[derive(Debug, Clone)]
struct Leaving {
    urr_id: u32,
    /// What was reported of it so far.
    reported: Counts,
    /// Its count just before it was removed (reported if the final count
    /// does not come in time).
    last_seen: Usage,
    since: Instant,
    final_usage: Option<Usage>,
}

/// What N4 remembers of a session beyond its rules, kept only while there
/// is something to remember: a URR reported with counts, URRs leaving, or
/// the session removed. A session without a book has nothing reported
/// yet on any URR: nearly every session between its establishment and
/// its first report, so that a million fresh sessions take no book and
/// no slot of a million-entry table (about 130 bytes each).
#[derive(Debug, Default)]
struct Book {
    /// Live URRs with what was reported of them so far (absent: nothing).
    urrs: SmallVec<[(u32, Counts); 1]>,
    leaving: Vec<Leaving>,
    /// The session is out of the dataplane.
    removed_at: Option<Instant>,
}

/// Counters of the N4 user plane adapter, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpStats {
    /// Batches published.
    pub publishes: u64,
    /// Rule sets the dataplane or the translation refused.
    pub refused: u64,
    /// Final counts reported before the workers had moved on (lost
    /// packets possible: a worker stalled for over [`SETTLE_MAX`]).
    pub unsettled_reads: u64,
    /// End Markers queued to a worker.
    pub end_markers: u64,
    /// End Markers that could not be queued (inject ring full or too long).
    pub end_marker_failures: u64,
    /// DROBU requests carried out: a Session Modification's buffering
    /// FARs published as DROP first, so that the workers discard what
    /// they buffered before the new rules (FORW) take over.
    pub drobu: u64,
    /// DROBU requests not preceded by the session's install (the node
    /// always installs first; a bug if it counts): nothing dropped.
    pub drobu_unsupported: u64,
    /// Staged batches the dataplane refused (a bug: staging checks what
    /// publishing checks).
    pub flush_failures: u64,
    /// Flushes that waited for the workers to take the previous batch
    /// (the changes went out with a later, larger batch).
    pub deferred_flushes: u64,
    /// Batches published after [`PUBLISH_WAIT`] with workers still on an
    /// older version (the dataplane copied its lookup tables).
    pub forced_publishes: u64,
}

/// Keyed by SEIDs the node allocates: foldhash is fast and, seeded per
/// map, resists crafted keys.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// An End Marker waiting for every worker to run the new rules, so that
/// it follows the last packet sent on the old path.
#[derive(Debug, Clone)]
struct PendingEndMarker {
    packet: Vec<u8>,
    iface: Iface,
    generation: u64,
    since: Instant,
}

/// Rule changes accepted but not yet published: every change of a burst
/// of PFCP messages goes out in one batch ([`UsageBook::flush`]), each
/// message's changes whole (the workers see a message's rules all or not
/// at all). What `Control::publish` would refuse is refused when staged,
/// so the batch cannot fail.
#[derive(Debug, Default)]
struct Staged {
    upserts: Vec<dp::Session>,
    removals: Vec<SessionId>,
    /// Lookup keys the staged upserts claim, and by whom.
    teids: HashMap<u32, SessionId>,
    ips: HashMap<IpAddr, SessionId>,
}

/// The keys `Control::publish` indexes a session by: local TEIDs, and the
/// UE addresses (IPv6 as its /64) of PDRs without a local F-TEID.
fn keys(s: &dp::Session) -> (SmallVec<[u32; 2]>, SmallVec<[IpAddr; 2]>) {
    let mut teids = SmallVec::new();
    let mut ips = SmallVec::new();
    for p in &s.pdrs {
        if let Some(f) = p.pdi.local_fteid {
            if !teids.contains(&f.teid) {
                teids.push(f.teid);
            }
        } else if let Some(ue) = p.pdi.ue_ip {
            let v4 = ue.ipv4.map(IpAddr::V4);
            let v6 = ue
                .ipv6
                .map(|a| IpAddr::V6((u128::from(a) & !u128::from(u64::MAX)).into()));
            for a in [v4, v6].into_iter().flatten() {
                if !ips.contains(&a) {
                    ips.push(a);
                }
            }
        }
    }
    (teids, ips)
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }

    fn touches(&self, id: SessionId) -> bool {
        self.removals.contains(&id) || self.upserts.iter().any(|u| u.id == id)
    }

    /// Drops the claims of the staged upsert of `id`, if any; returns it.
    fn take_upsert(&mut self, id: SessionId) -> Option<dp::Session> {
        let i = self.upserts.iter().position(|u| u.id == id)?;
        let old = self.upserts.swap_remove(i);
        let (teids, ips) = keys(&old);
        for t in teids {
            if self.teids.get(&t) == Some(&id) {
                self.teids.remove(&t);
            }
        }
        for a in ips {
            if self.ips.get(&a) == Some(&id) {
                self.ips.remove(&a);
            }
        }
        Some(old)
    }

    /// What `Control::publish` would say about this batch plus `s`
    /// (replacing a staged version of it): the same checks, in the same
    /// terms.
    fn check(&self, ctl: &Control, s: &dp::Session) -> Result<(), dp::RuleError> {
        s.validate()?;
        let snap = ctl.snapshot();
        let touched = |o: SessionId| o == s.id || self.touches(o);
        let (teids, ips) = keys(s);
        for t in teids {
            let owner = self
                .teids
                .get(&t)
                .copied()
                .filter(|o| *o != s.id)
                .or_else(|| {
                    snap.teid
                        .get(t)
                        .map(dataplane::tables::Rules::session)
                        .filter(|o| !touched(*o))
                });
            if let Some(owner) = owner {
                return Err(dp::RuleError::TeidInUse {
                    session: s.id,
                    teid: t,
                    owner,
                });
            }
        }
        for a in ips {
            let live = match a {
                IpAddr::V4(v) => snap.ue4.get(u32::from(v)),
                IpAddr::V6(v) => snap.ue6.get((u128::from(v) >> 64) as u64),
            };
            let owner = self
                .ips
                .get(&a)
                .copied()
                .filter(|o| *o != s.id)
                .or_else(|| {
                    live.map(dataplane::tables::Rules::session)
                        .filter(|o| !touched(*o))
                });
            if let Some(owner) = owner {
                return Err(dp::RuleError::UeIpInUse {
                    session: s.id,
                    addr: a,
                    owner,
                });
            }
        }
        Ok(())
    }

    fn add(&mut self, s: dp::Session) {
        let (teids, ips) = keys(&s);
        for t in teids {
            self.teids.insert(t, s.id);
        }
        for a in ips {
            self.ips.insert(a, s.id);
        }
        self.upserts.push(s);
    }
}

/// What the N4 user plane remembers between calls: per-URR reported usage,
/// removed URRs awaiting their final count, End Markers to send, rule
/// changes not yet published.
#[derive(Debug)]
pub struct UsageBook {
    /// Boxed: a million-entry table at half load holds pointers, not
    /// books, in its empty buckets.
    sessions: HashMap<SessionId, Box<Book>>,
    /// Removed URRs kept for their final count, over all sessions...
    leaving: usize,
    /// ... of which the workers have not yet given the final count (the
    /// rest wait for the SMF to ask, or to be forgotten).
    awaiting_final: usize,
    /// Removed sessions, oldest first, to forget those nobody asks about.
    removed: VecDeque<(SessionId, Instant)>,
    end_markers: VecDeque<PendingEndMarker>,
    staged: Staged,
    /// The FARs that buffered before the latest install, by session: what
    /// a DROBU in the same Session Modification turns into DROP.
    buffering_fars: Option<(SessionId, SmallVec<[u32; 2]>)>,
    /// When a flush first found the workers behind (the staged batch waits).
    waiting_since: Option<Instant>,
    /// The time of the latest call from the driver (what a flush waits by).
    pub(crate) now: Option<Instant>,
    clock: TscClock,
    workers: usize,
    /// The PFDs the node last passed (PFD Management): sessions installed
    /// from then on translate their Application IDs with them.
    pfds: pfcp::pfd::PfdTable,
    /// Counters.
    pub stats: UpStats,
}

impl UsageBook {
    /// What was reported so far of live URR `urr_id` of session `id`.
    fn reported(&self, id: SessionId, urr_id: u32) -> Counts {
        self.sessions
            .get(&id)
            .and_then(|b| b.urrs.iter().find(|(u, _)| *u == urr_id))
            .map_or_else(Counts::default, |(_, r)| *r)
    }

    /// Records `to` as reported of live URR `urr_id` of session `id` (a
    /// book only when there is something to keep).
    fn set_reported(&mut self, id: SessionId, urr_id: u32, to: Counts) {
        if to == Counts::default() && !self.sessions.contains_key(&id) {
            return;
        }
        let book = self.sessions.entry(id).or_default();
        match book.urrs.iter_mut().find(|(u, _)| *u == urr_id) {
            Some((_, r)) => *r = to,
            None => book.urrs.push((urr_id, to)),
        }
    }
}

fn sub(a: Usage, b: Counts) -> Counts {
    Counts {
        ul_bytes: a.ul_bytes.saturating_sub(b.ul_bytes),
        ul_packets: a.ul_packets.saturating_sub(b.ul_packets),
        dl_bytes: a.dl_bytes.saturating_sub(b.dl_bytes),
        dl_packets: a.dl_packets.saturating_sub(b.dl_packets),
    }
}

impl UsageBook {
    /// The TSC mapping from now on (see [`TscClock::reanchored`]).
    pub fn set_clock(&mut self, clock: TscClock) {
        self.clock = clock;
    }

    /// A book for a dataplane of `workers` workers whose time stamps
    /// `clock` converts.
    #[must_use]
    pub fn new(clock: TscClock, workers: usize) -> Self {
        Self {
            sessions: HashMap::default(),
            leaving: 0,
            awaiting_final: 0,
            removed: VecDeque::new(),
            end_markers: VecDeque::new(),
            staged: Staged::default(),
            buffering_fars: None,
            waiting_since: None,
            now: None,
            clock,
            workers: workers.max(1),
            pfds: pfcp::pfd::PfdTable::default(),
            stats: UpStats::default(),
        }
    }

    /// The usage between `reported` and `now` as a sample, or `None` when
    /// nothing was counted.
    fn sample(&self, urr_id: u32, now: Usage, reported: Counts) -> Option<UsageSample> {
        let d = sub(now, reported);
        if d.ul_packets == 0 && d.dl_packets == 0 {
            return None;
        }
        let first = (reported.ul_packets == 0 && reported.dl_packets == 0)
            .then_some(now.first_tsc)
            .flatten();
        Some(UsageSample {
            urr_id,
            ul_bytes: d.ul_bytes,
            dl_bytes: d.dl_bytes,
            ul_packets: d.ul_packets,
            dl_packets: d.dl_packets,
            first_packet: first.map(|t| self.clock.wall(t)),
            last_packet: now.last_tsc.map(|t| self.clock.wall(t)),
        })
    }

    /// Takes the final counts `Control::reclaim` returned. Returns those
    /// that are not N4's (static sessions' URRs).
    pub fn reclaimed(&mut self, now: Instant, finals: Vec<FinalUsage>) -> Vec<FinalUsage> {
        let mut others = Vec::new();
        for f in finals {
            let slot = self.sessions.get_mut(&f.session).and_then(|b| {
                b.leaving
                    .iter_mut()
                    .find(|l| l.urr_id == f.urr_id && l.final_usage.is_none())
            });
            match slot {
                Some(l) => {
                    l.final_usage = Some(f.usage);
                    self.awaiting_final = self.awaiting_final.saturating_sub(1);
                }
                // The inactivity timer's own counter: nobody's usage.
                None if f.urr_id == translate::INACTIVITY_URR_ID
                    && f.session & translate::STATIC_SESSION_BIT == 0 => {}
                None => others.push(f),
            }
        }
        // Removed sessions whose final counts nobody asked for (purged).
        while let Some(&(id, at)) = self.removed.front() {
            if now.saturating_duration_since(at) < FORGET_AFTER {
                break;
            }
            self.removed.pop_front();
            if let Some(b) = self.sessions.get(&id)
                && b.removed_at == Some(at)
            {
                self.leaving -= b.leaving.len();
                let unsettled = b.leaving.iter().filter(|l| l.final_usage.is_none()).count();
                self.awaiting_final = self.awaiting_final.saturating_sub(unsettled);
                self.sessions.remove(&id);
            }
        }
        others
    }

    /// Number of sessions with bookkeeping (reported usage, URRs leaving,
    /// or removed and waiting for their final counts).
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session has bookkeeping.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Removed URRs kept for their final count (until the SMF is told, or
    /// forgotten 10 s after their session was removed).
    #[must_use]
    pub fn leaving(&self) -> usize {
        self.leaving
    }

    /// Of [`UsageBook::leaving`], those whose final count the workers
    /// have not given yet: while there are any, the control loop must
    /// keep reclaiming.
    #[must_use]
    pub fn awaiting_final(&self) -> usize {
        self.awaiting_final
    }

    /// End Markers waiting for the workers.
    #[must_use]
    pub fn end_markers_pending(&self) -> usize {
        self.end_markers.len()
    }

    /// Whether rule changes wait for [`UsageBook::flush`].
    #[must_use]
    pub fn staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Publishes every staged change in one batch, once the workers run
    /// the previous one (so that the dataplane writes its spare lookup
    /// tables in place; more changes gather meanwhile) or after
    /// [`PUBLISH_WAIT`]. Returns `false` when changes stay staged: the
    /// PFCP answers of the messages that staged them must wait.
    pub fn flush(&mut self, ctl: &mut Control) -> bool {
        if self.staged.is_empty() {
            return true;
        }
        if !ctl.ready_to_publish() {
            let now = self.now.unwrap_or_else(Instant::now);
            let since = *self.waiting_since.get_or_insert(now);
            if now.saturating_duration_since(since) < PUBLISH_WAIT {
                self.stats.deferred_flushes += 1;
                return false;
            }
            self.stats.forced_publishes += 1;
        }
        self.flush_now(ctl);
        true
    }

    /// Publishes every staged change in one batch now (even if that copies
    /// the dataplane's lookup tables).
    pub fn flush_now(&mut self, ctl: &mut Control) {
        if self.staged.is_empty() {
            return;
        }
        self.waiting_since = None;
        let st = std::mem::take(&mut self.staged);
        let batch = Batch {
            upserts: st.upserts,
            removals: st.removals,
        };
        match ctl.try_publish(batch) {
            Ok(_) => self.stats.publishes += 1,
            Err((e, batch)) => {
                // The staging checks mirror publish's: this is a bug. Do
                // what can be done, one session at a time, and say so.
                self.stats.flush_failures += 1;
                log::error!(
                    "N4: the dataplane refused a checked batch ({e}); publishing one by one"
                );
                for id in batch.removals {
                    if let Err(e) = ctl.publish(Batch {
                        upserts: Vec::new(),
                        removals: vec![id],
                    }) {
                        log::error!("N4: removing session {id:#x}: {e}");
                    }
                }
                for s in batch.upserts {
                    let id = s.id;
                    if let Err(e) = ctl.publish(Batch {
                        upserts: vec![s],
                        removals: Vec::new(),
                    }) {
                        log::error!(
                            "N4: session {id:#x} accepted over PFCP but not installed: {e}"
                        );
                    }
                }
            }
        }
    }

    /// Sends the End Markers whose rules every worker now runs (or that
    /// waited [`END_MARKER_WAIT`]).
    pub fn flush_end_markers(&mut self, now: Instant, ctl: &Control) {
        let seen = (0..self.workers)
            .map(|w| ctl.worker_generation(w))
            .min()
            .unwrap_or(0);
        while let Some(e) = self.end_markers.front() {
            if e.generation > seen && now.saturating_duration_since(e.since) < END_MARKER_WAIT {
                break;
            }
            let Some(e) = self.end_markers.pop_front() else {
                break;
            };
            match ctl.inject(e.iface, &e.packet) {
                Ok(()) => self.stats.end_markers += 1,
                Err(err) => {
                    self.stats.end_marker_failures += 1;
                    warn!("End Marker not sent: {err}");
                }
            }
        }
    }
}

/// The [`UserPlane`] the PFCP node calls: the dataplane's control facade
/// and the book, for the duration of one node call.
pub struct DataplaneUp<'a> {
    /// The dataplane.
    pub ctl: &'a mut Control,
    /// The bookkeeping.
    pub book: &'a mut UsageBook,
    /// The time of the node call.
    pub now: Instant,
}

impl DataplaneUp<'_> {
    /// The count of URR `urr_id` before it leaves the dataplane; `None`
    /// (with a final count of zero) when it never reached it (staged only).
    fn leaving(&self, id: SessionId, urr_id: u32, reported: Counts) -> Leaving {
        let seen = self.ctl.usage(id, urr_id);
        Leaving {
            urr_id,
            reported,
            last_seen: seen.unwrap_or_default(),
            since: self.now,
            final_usage: if seen.is_some() {
                None
            } else {
                Some(Usage::default())
            },
        }
    }
}

impl UserPlane for DataplaneUp<'_> {
    fn install(&mut self, session: &Session, previous: Option<&Session>) -> Result<(), UpError> {
        let id = translate::pfcp_session_id(session.seid);
        let rules = translate::session_replacing(session, previous, id, &self.book.pfds)
            .inspect_err(|_| {
                self.book.stats.refused += 1;
            })?;
        if self.book.staged.removals.contains(&id) {
            // A removal and an upsert of one id cannot share a batch.
            self.book.flush_now(self.ctl);
        }
        let previous_staged = self.book.staged.take_upsert(id);
        if let Err(e) = self.book.staged.check(self.ctl, &rules) {
            if let Some(p) = previous_staged {
                self.book.staged.add(p);
            }
            self.book.stats.refused += 1;
            return Err(translate::rule_error(&e, &rules));
        }
        self.book.staged.add(rules);
        self.book.buffering_fars = previous.map(|p| {
            let fars = p
                .fars
                .iter()
                .filter(|f| f.apply_action.contains(ApplyAction::BUFF));
            (id, fars.map(|f| f.id).collect())
        });
        // URRs this version drops: read their count now, while the
        // dataplane still counts them. (A new URR has nothing reported:
        // no entry.)
        let gone: Vec<u32> = previous
            .map(|p| {
                p.urrs
                    .iter()
                    .filter(|u| session.urr(u.id).is_none())
                    .map(|u| u.id)
                    .collect()
            })
            .unwrap_or_default();
        let leaving: Vec<Leaving> = gone
            .into_iter()
            .map(|urr_id| self.leaving(id, urr_id, self.book.reported(id, urr_id)))
            .collect();
        if leaving.is_empty() {
            if let Some(book) = self.book.sessions.get_mut(&id) {
                book.removed_at = None;
            }
            return Ok(());
        }
        let book = self.book.sessions.entry(id).or_default();
        book.removed_at = None;
        for l in leaving {
            book.urrs.retain(|(u, _)| *u != l.urr_id);
            self.book.leaving += 1;
            self.book.awaiting_final += 1;
            book.leaving.push(l);
        }
        Ok(())
    }

    fn remove(&mut self, seid: u64) {
        let id = translate::pfcp_session_id(seid);
        let now = self.now;
        // The live URRs: the staged version's, else the published one's.
        let live: SmallVec<[u32; 2]> = match self.book.staged.upserts.iter().find(|u| u.id == id) {
            Some(s) => s.urrs.iter().map(|u| u.id).collect(),
            None => self.ctl.urr_ids(id).collect(),
        };
        let live: SmallVec<[u32; 2]> = live
            .into_iter()
            .filter(|u| *u != translate::INACTIVITY_URR_ID)
            .collect();
        let leaving: Vec<Leaving> = live
            .into_iter()
            .map(|u| self.leaving(id, u, self.book.reported(id, u)))
            .collect();
        self.book.staged.take_upsert(id);
        if self.ctl.has_session(id) {
            self.book.staged.removals.push(id);
        }
        if leaving.is_empty() && !self.book.sessions.contains_key(&id) {
            return;
        }
        let book = self.book.sessions.entry(id).or_default();
        book.urrs.clear();
        self.book.leaving += leaving.len();
        self.book.awaiting_final += leaving.len();
        book.leaving.extend(leaving);
        book.removed_at = Some(now);
        if book.leaving.is_empty() {
            self.book.sessions.remove(&id);
        } else {
            self.book.removed.push_back((id, now));
        }
    }

    fn usage(&mut self, seid: u64, urr_ids: &[u32], out: &mut Vec<UsageSample>) {
        let id = translate::pfcp_session_id(seid);
        let mut samples = Vec::with_capacity(urr_ids.len());
        let mut unsettled = 0;
        for &urr_id in urr_ids {
            let left = self.book.sessions.get_mut(&id).and_then(|b| {
                let i = b.leaving.iter().position(|l| l.urr_id == urr_id)?;
                Some(b.leaving.remove(i))
            });
            if let Some(l) = left {
                self.book.leaving -= 1;
                let last = match l.final_usage {
                    Some(f) => f,
                    None => {
                        self.book.awaiting_final = self.book.awaiting_final.saturating_sub(1);
                        unsettled += 1;
                        l.last_seen
                    }
                };
                samples.push((urr_id, last, l.reported));
            } else if let Some(now) = self.ctl.usage(id, urr_id) {
                // Live (not leaving, so in the version in force).
                let reported = self.book.reported(id, urr_id);
                samples.push((urr_id, now, reported));
                self.book.set_reported(id, urr_id, now.into());
            }
        }
        if let Some(book) = self.book.sessions.get(&id)
            && book.removed_at.is_some()
            && book.leaving.is_empty()
        {
            self.book.sessions.remove(&id);
        }
        if unsettled > 0 {
            self.book.stats.unsettled_reads += unsettled;
            warn!(
                "session {seid:#x}: {unsettled} URR(s) reported before every worker moved on; packets counted since may be missing"
            );
        }
        for (urr_id, now, reported) in samples {
            if let Some(s) = self.book.sample(urr_id, now, reported) {
                out.push(s);
            }
        }
    }

    fn last_packet(&mut self, seid: u64) -> Option<SystemTime> {
        // Every PDR of a session with the timer counts against some URR
        // (the internal one where it has none, see `translate`): the
        // latest of their last packets is the session's.
        let id = translate::pfcp_session_id(seid);
        let last = self
            .ctl
            .urr_ids(id)
            .filter_map(|u| self.ctl.usage(id, u)?.last_tsc)
            .max()?;
        Some(self.book.clock.wall(last))
    }

    fn usage_settled(&mut self, seid: u64) -> bool {
        let now = self.now;
        self.book
            .sessions
            .get(&translate::pfcp_session_id(seid))
            .is_none_or(|b| {
                b.leaving.iter().all(|l| {
                    l.final_usage.is_some() || now.saturating_duration_since(l.since) >= SETTLE_MAX
                })
            })
    }

    fn send_end_marker(&mut self, peer: IpAddr, teid: u32) {
        let net = self.ctl.net();
        // The old tunnel leaves on N9 when the peer is an N9 neighbour,
        // on N3 otherwise.
        let on_n9 = net.iface(Iface::N9).is_some_and(|c| {
            c.next_hop(peer) == Some(peer) && c.ipv4.is_some_and(|_| peer.is_ipv4())
                || c.ipv6.is_some_and(|_| peer.is_ipv6()) && c.next_hop(peer) == Some(peer)
        });
        let iface = if on_n9 { Iface::N9 } else { Iface::N3 };
        let src = net.iface(iface).and_then(|c| match peer {
            IpAddr::V4(_) => c.ipv4.map(|(a, _)| IpAddr::V4(a)),
            IpAddr::V6(_) => c.ipv6.map(|(a, _)| IpAddr::V6(a)),
        });
        let Some(src) = src else {
            self.book.stats.end_marker_failures += 1;
            warn!(
                "End Marker to {peer} TEID {teid:#x}: no {} address of the family on {}",
                iface.name(),
                iface.name()
            );
            return;
        };
        debug!("End Marker to {peer} TEID {teid:#x} queued");
        // After the path switch is visible to the workers.
        self.book.flush_now(self.ctl);
        self.book.end_markers.push_back(PendingEndMarker {
            packet: dataplane::pipeline::end_marker(src, peer, teid),
            iface,
            generation: self.ctl.generation(),
            since: self.now,
        });
        self.book.flush_end_markers(self.now, self.ctl);
    }

    /// DROBU (Open5GS, free5GC: PFCPSMReq-Flags of the Session
    /// Modification that ends buffering, or PFCPSRRsp-Flags of the answer
    /// to a Downlink Data Report, after which the node reinstalls the
    /// unchanged rules). The workers run their buffered
    /// packets again whenever they take a new version, so the session goes
    /// out twice: first with the FARs that buffered set to DROP (the
    /// buffered packets are discarded), then, once every worker has run
    /// that (the next flush waits for them), as modified.
    /// Kept for the sessions installed from now on, which include the live
    /// sessions naming a changed application: the node installs them again
    /// right after this call.
    fn set_pfds(&mut self, pfds: &pfcp::pfd::PfdTable) {
        self.book.pfds = pfds.clone();
    }

    fn drop_buffered(&mut self, seid: u64) {
        let id = translate::pfcp_session_id(seid);
        let fars = match self.book.buffering_fars.take() {
            Some((s, fars)) if s == id => fars,
            _ => {
                self.book.stats.drobu_unsupported += 1;
                warn!(
                    "session {seid:#x}: DROBU without the session's rules just installed: the buffered packets stay until the rules release or drop them"
                );
                return;
            }
        };
        if fars.is_empty() {
            return; // nothing buffered
        }
        let Some(modified) = self.book.staged.take_upsert(id) else {
            return;
        };
        let mut dropping = modified.clone();
        for f in dropping.fars.iter_mut().filter(|f| fars.contains(&f.id)) {
            f.apply_action = dp::ApplyAction {
                drop: true,
                forw: false,
                buff: false,
                nocp: false,
                dupl: false,
            };
        }
        self.book.staged.add(dropping);
        self.book.flush_now(self.ctl);
        self.book.staged.add(modified);
        self.book.stats.drobu += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::control::DataplaneConfig;
    use dataplane::testkit::{self, SessionSpec};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    #[derive(Debug, Clone)]
    enum Op {
        Upsert { id: u64, teid: u32, ue: u8 },
        Remove { id: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u64..7, 1u32..5, 0u8..4).prop_map(|(id, teid, ue)| Op::Upsert { id, teid, ue }),
            1 => (1u64..7).prop_map(|id| Op::Remove { id }),
        ]
    }

    fn session(id: u64, teid: u32, ue: u8) -> dp::Session {
        let mut spec = SessionSpec::nth(0);
        spec.id = id;
        spec.ul_teid = teid;
        spec.ue = Ipv4Addr::new(10, 45, 0, ue);
        testkit::session(&spec)
    }

    fn batch(st: &Staged) -> Batch {
        Batch {
            upserts: st.upserts.clone(),
            removals: st.removals.clone(),
        }
    }

    proptest! {
        /// Staging refuses exactly what publishing the batch would: what
        /// it accepts publishes without error, and what it refuses would
        /// have failed the batch.
        #[test]
        fn staging_checks_what_publish_checks(
            before in proptest::collection::vec((1u64..7, 1u32..5, 0u8..4), 0..6),
            ops in proptest::collection::vec(op(), 1..12),
        ) {
            let (mut ctl, _ports) = Control::new(DataplaneConfig::new(1, testkit::TSC_HZ));
            for (id, teid, ue) in before {
                let _ = ctl.publish(Batch { upserts: vec![session(id, teid, ue)], removals: vec![] });
            }
            let mut st = Staged::default();
            for op in ops {
                match op {
                    Op::Upsert { id, teid, ue } => {
                        let s = session(id, teid, ue);
                        if st.removals.contains(&id) {
                            prop_assert!(ctl.publish(batch(&st)).is_ok());
                            st = Staged::default();
                        }
                        let prev = st.take_upsert(id);
                        match st.check(&ctl, &s) {
                            Ok(()) => st.add(s),
                            Err(e) => {
                                if let Some(p) = prev {
                                    st.add(p);
                                }
                                let mut b = batch(&st);
                                b.upserts.retain(|u| u.id != id);
                                b.upserts.push(s);
                                let g = ctl.generation();
                                prop_assert!(ctl.publish(b).is_err(), "refused without cause: {e}");
                                prop_assert_eq!(ctl.generation(), g);
                            }
                        }
                    }
                    Op::Remove { id } => {
                        st.take_upsert(id);
                        if ctl.has_session(id) && !st.removals.contains(&id) {
                            st.removals.push(id);
                        }
                    }
                }
            }
            let b = batch(&st);
            let r = ctl.publish(b);
            prop_assert!(r.is_ok(), "staged batch refused: {:?}", r);
        }
    }

    /// EAL's 2.6 GHz for a 2,596.136 MHz TSC (this machine): anchored at
    /// start only, an hour later a packet of one second ago mapped 5.3 s
    /// too early; re-anchored with the measured rate, to within 1 µs.
    #[test]
    fn reanchored_tsc_clock_does_not_drift_with_a_rounded_rate() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let true_hz: u64 = 2_596_136_000;
        let start = TscClock {
            hz: 2_600_000_000,
            tsc: 7_000_000,
            wall,
        };
        let hour = Duration::from_secs(3600);
        let now_tsc = start.tsc + true_hz * 3600;
        let packet = now_tsc - true_hz; // one second ago
        let want = wall + hour - Duration::from_secs(1);
        let off = |got: SystemTime| match got.duration_since(want) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(
            off(start.wall(packet)) > Duration::from_secs(5),
            "the drift"
        );
        let c = start.reanchored(now_tsc, hour);
        assert_eq!(c.hz, true_hz);
        assert!(
            off(c.wall(packet)) < Duration::from_micros(1),
            "{:?}",
            off(c.wall(packet))
        );
        assert_eq!(c.wall(now_tsc), wall + hour);
        // Early on the given rate stays, but the anchor moves: the error
        // is the rate's over at most a second, not over the uptime.
        let early = start.reanchored(start.tsc + true_hz * 5, Duration::from_secs(5));
        assert_eq!(early.hz, start.hz);
        assert_eq!(early.wall(early.tsc), wall + Duration::from_secs(5));
    }

    #[test]
    fn tsc_clock_maps_ticks_to_wall_time() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let c = TscClock {
            hz: 2_000_000_000,
            tsc: 4_000_000_000,
            wall,
        };
        assert_eq!(c.wall(6_000_000_000), wall + Duration::from_secs(1));
        assert_eq!(c.wall(3_000_000_000), wall - Duration::from_millis(500));
    }
}
