//! The sans-IO PFCP node (quinn-proto style) that sits behind the UPF's N4
//! socket: the control thread passes in datagrams ([`Node::handle`]) and
//! time ([`Node::handle_timeout`]), and takes out datagrams to send
//! ([`Node::poll_transmit`]), the next wake-up ([`Node::poll_timeout`]) and
//! events ([`Node::poll_event`]). It keeps the associations (setup, update,
//! release both ways, heartbeats, restart and failure detection), answers
//! duplicates from a response cache, retransmits its own requests (T1/N1),
//! runs the session state machine and the usage reporting. The user plane
//! is reached only through [`UserPlane`].
//!
//! Usage reporting: the node owns thresholds, quotas and timers. Every
//! `usage_poll_interval` it reads the counters of URRs with volume
//! triggers through [`UserPlane::usage`] (a tenth of those sessions per
//! tenth of the interval); time triggers (periodic, time threshold, time
//! quota) run on its own timers. When a quota is used up the node sets
//! [`crate::rules::Urr::quota_exhausted`] and re-installs the session so
//! that the user plane stops that traffic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use smallvec::SmallVec;

use crate::HashMap;

use crate::cache::ResponseCache;
use crate::codec::grouped::{DownlinkDataReport, ErrorIndicationReport, UsageReport};
use crate::codec::ies::{
    AlternativeSmfIpAddress, Cause, CpFunctionFeatures, CpIpAddress,
    DownlinkDataServiceInformation, FSeid, FTeid, FqCsid, Name, NodeId, NodeIdBuf, NodeReportType,
    PfcpAssociationReleaseRequest, PfcpsmReqFlags, PfcpsrRspFlags, RemoteGtpuPeer, ReportType,
    ReportingTriggers, UsageReportTrigger, encode_labels,
};
use crate::codec::message::{
    AssociationReleaseResponse, AssociationSetupRequest, AssociationSetupResponse,
    AssociationUpdateRequest, AssociationUpdateResponse, HeartbeatRequest, HeartbeatResponse,
    Message, MessageError, NodeReportRequest, Pfcp, PfdManagementRequest, PfdManagementResponse,
    SessionDeletionResponse, SessionEstablishmentRequest, SessionEstablishmentResponse,
    SessionModificationRequest, SessionModificationResponse, SessionReportRequest,
    SessionSetDeletionRequest, SessionSetDeletionResponse, SessionSetModificationRequest,
    SessionSetModificationResponse, VersionNotSupportedResponse, msg_type,
};
use crate::codec::{ErrorKind, grouped::UserPlanePathReport, ie_type as t};
use crate::config::{Config, ConfigError};
use crate::csid::{CsidBook, CsidSets};
use crate::pfd::PfdTable;
use crate::rules::{RuleRef, Session};
use crate::session::{self, Builder, Rejection, Resources};
use crate::usage::{Clock, UrrState, ntp_seconds, secs};
use crate::user_plane::{UpError, UsageSample, UserPlane};

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// What happened, for the control thread's logs, /status and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A PFCP association was set up (by the SMF or by us).
    AssociationUp {
        node_id: NodeIdBuf,
        addr: SocketAddr,
    },
    /// An association ended; its sessions were removed from the user plane.
    AssociationDown {
        node_id: NodeIdBuf,
        reason: DownReason,
        sessions_removed: usize,
    },
    /// The node removed a session on its own (not a Deletion Request).
    SessionRemoved { seid: u64, reason: RemoveReason },
    /// A Session Set Deletion Request from the CP `node_id` removed
    /// these sessions (TS 29.244 §6.2.9: partial failure).
    SessionSetDeleted {
        node_id: NodeIdBuf,
        sessions_removed: usize,
    },
    /// A Session Set Modification Request from the CP `node_id` (Rel-17,
    /// TS 29.244 §7.4.7) sent these sessions' reports to `alternative`
    /// from now on, and moved them to the association `moved_to` (the
    /// one at that address, else the requester's).
    SessionSetModified {
        node_id: NodeIdBuf,
        alternative: AlternativeSmfIpAddress,
        moved_to: NodeIdBuf,
        sessions_modified: usize,
    },
    /// One of our requests got no answer after N1 retransmissions.
    RequestTimedOut {
        dst: SocketAddr,
        msg_type: u8,
        seid: Option<u64>,
    },
    /// A request was answered with a rejection cause.
    Rejected {
        peer: SocketAddr,
        msg_type: u8,
        cause: Cause,
        offending_ie: Option<u16>,
    },
    /// The user plane refused a re-install the node needed (quota
    /// exhausted, BAR update from a Session Report Response).
    UserPlaneError { seid: u64, error: UpError },
}

/// Why an association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The SMF sent an Association Release Request.
    ReleasedByPeer,
    /// The SMF's Recovery Time Stamp changed (TS 29.244 §6.2.6.2.2 / §19A).
    PeerRestarted,
    /// N1 heartbeats went unanswered.
    HeartbeatTimeout,
}

/// Why the node removed a session on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// The SMF answered a Session Report Request with cause 65.
    UnknownAtSmf,
    /// Replaced by an establishment with RESTI for the same CP F-SEID.
    Restored,
}

/// Message direction, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Rx,
    Tx,
}

/// Counters for /metrics.
#[derive(Debug, Clone)]
pub struct Stats {
    rx: [u64; 64],
    tx: [u64; 64],
    /// Datagrams from addresses outside the allowlist (dropped).
    pub rx_not_allowed: u64,
    /// Datagrams that did not decode (answered with a cause when possible).
    pub rx_malformed: u64,
    /// Requests answered from the response cache.
    pub rx_duplicates: u64,
    /// Responses matching no request of ours.
    pub rx_unexpected: u64,
    /// Requests with a PFCP version other than 1.
    pub rx_bad_version: u64,
    /// Requests answered with a rejection cause.
    pub rejected: u64,
    /// Our requests sent again after T1.
    pub retransmissions: u64,
    /// Our requests abandoned after N1 retransmissions.
    pub request_timeouts: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Held responses sent before the user plane's counters settled.
    pub parked_overdue: u64,
    /// Session Report Requests with UPIR (User Plane Inactivity Report).
    pub inactivity_reports: u64,
    /// Sessions removed by Session Set Deletion Requests.
    pub set_deleted_sessions: u64,
    /// Sessions given an alternative SMF address by Session Set
    /// Modification Requests (counted once per request naming them).
    pub set_modified_sessions: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            rx: [0; 64],
            tx: [0; 64],
            rx_not_allowed: 0,
            rx_malformed: 0,
            rx_duplicates: 0,
            rx_unexpected: 0,
            rx_bad_version: 0,
            rejected: 0,
            retransmissions: 0,
            request_timeouts: 0,
            events_dropped: 0,
            parked_overdue: 0,
            inactivity_reports: 0,
            set_deleted_sessions: 0,
            set_modified_sessions: 0,
        }
    }
}

impl Stats {
    /// Messages by type name and direction (non-zero counts only), for
    /// `upf_pfcp_messages_total{type,direction}`.
    pub fn messages(&self) -> impl Iterator<Item = (&'static str, Direction, u64)> + '_ {
        let rx = self
            .rx
            .iter()
            .enumerate()
            .map(|(i, n)| (i, Direction::Rx, *n));
        let tx = self
            .tx
            .iter()
            .enumerate()
            .map(|(i, n)| (i, Direction::Tx, *n));
        rx.chain(tx).filter(|(_, _, n)| *n > 0).map(|(i, d, n)| {
            #[allow(clippy::cast_possible_truncation)]
            (msg_type::name(i as u8), d, n)
        })
    }
    /// Count of one message type in one direction.
    #[must_use]
    pub fn count(&self, msg_type: u8, dir: Direction) -> u64 {
        let a = if dir == Direction::Rx {
            &self.rx
        } else {
            &self.tx
        };
        a.get(usize::from(msg_type)).copied().unwrap_or(0)
    }
}

/// An association, for /status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationInfo {
    pub node_id: NodeIdBuf,
    pub addr: SocketAddr,
    /// The SMF's Recovery Time Stamp (NTP seconds).
    pub peer_recovery_time_stamp: u32,
    pub since: SystemTime,
    pub sessions: usize,
    /// Heartbeats sent without an answer so far.
    pub heartbeat_misses: u32,
    /// When the peer last showed it is alive (its heartbeat request, or
    /// its answer to ours).
    pub last_heartbeat: Option<SystemTime>,
}

/// Resources in use, for /status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceUsage {
    pub sessions: usize,
    pub teids_used: u64,
    /// (pool, used, size)
    pub ue_pools: Vec<(String, u64, u64)>,
}

/// What the node holds at one moment ([`Node::occupancy`], O(1)): the
/// soak test compares it with its value before a churn of sessions and
/// associations; every figure returns to it once the churn is over and its
/// timers ran (a leak otherwise), except `interned`, which is collected in
/// amortised sweeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    pub sessions: usize,
    /// (association, CP SEID) → session index.
    pub cp_seid_index: usize,
    pub associations: usize,
    /// Requests the node sent and waits an answer for (heartbeats,
    /// Session Reports, ...).
    pub requests_in_flight: usize,
    /// Answers kept for retransmitted requests (expire after N1 × T1).
    pub response_cache: usize,
    /// Timers armed (heartbeats, retransmissions, usage and inactivity
    /// timers; a stale one stays until it is due).
    pub timers: usize,
    /// Responses waiting for the user plane (final usage), and the
    /// requests they answer.
    pub parked: usize,
    pub in_progress: usize,
    /// Sessions polled for volume thresholds.
    pub watched_sessions: usize,
    /// Datagrams to send, events for the control thread.
    pub tx_queue: usize,
    pub event_queue: usize,
    /// Local TEIDs allocated (CHOOSE) and their owner table (CHOOSE or
    /// SMF-allocated).
    pub teids_allocated: u64,
    pub teid_owners: usize,
    /// UE addresses allocated or reserved (static sessions) in the pools,
    /// and the owner table (pool or SMF-given).
    pub ue_ips_allocated: u64,
    pub ue_ip_owners: usize,
    /// Remote GTP-U tunnels that FARs create (for Error Indications).
    pub tunnels: usize,
    /// Names, flow descriptions and rules shared between sessions.
    pub interned: usize,
    /// CSID book: sessions with FQ-CSIDs, (node, CSID) sets, sessions with
    /// Group Id / CP IP Address, node addresses and tags interned.
    pub csid_sessions: usize,
    pub csid_sets: usize,
    pub csid_tagged_sessions: usize,
    pub csid_interned: usize,
    /// PFD Management applications, and their PFDs.
    pub pfd_applications: usize,
    pub pfds: usize,
}

const EVENT_QUEUE_MAX: usize = 10_000;
/// The timer heap is swept of stale timers when it reaches this size, or
/// twice its size after the previous sweep if that is more.
const TIMERS_SWEEP_MIN: usize = 1024;
/// Largest SEID the node allocates (2^63 - 1).
pub const MAX_SEID: u64 = (1 << 63) - 1;
/// How often held responses are retried while the user plane settles.
const PARK_RETRY: Duration = Duration::from_millis(1);
/// Longest a response waits for the user plane's final counters.
const PARK_MAX: Duration = Duration::from_secs(1);
/// Internal marker (never sent: 0 is a reserved cause value) for a
/// request whose response is held until the user plane settles.
const PARKED: Cause = Cause(0);
const PFCP_PORT: u16 = 8805;

struct Association {
    node_id: NodeIdBuf,
    addr: SocketAddr,
    /// Where our requests go: the SMF's address and source port until a
    /// retransmission to port 8805 is answered instead (OAI's SMF sends
    /// from an ephemeral port and listens on 8805; TS 29.244 §7.2.2.1
    /// has requests sent to 8805).
    req_dst: SocketAddr,
    /// The SMF's Recovery Time Stamp from its Association Setup, and from
    /// its heartbeats (learned from the first one).
    peer_recovery: u32,
    peer_hb_recovery: Option<u32>,
    since: SystemTime,
    hb_due: Instant,
    hb_seq: Option<u32>,
    hb_misses: u32,
    last_heartbeat: Option<Instant>,
    sessions: usize,
    #[allow(dead_code)]
    cp_features: Option<CpFunctionFeatures>,
}

/// A response held until the user plane's counters of removed URRs are
/// final (see [`UserPlane::usage_settled`]).
struct Parked {
    peer: SocketAddr,
    seq: u32,
    req_type: u8,
    req_hash: u64,
    seid: u64,
    cp_seid: u64,
    since: Instant,
    work: ParkedWork,
}

/// What is left to do for a held response.
enum ParkedWork {
    Deletion {
        rules: Session,
        urrs: Vec<UrrState>,
    },
    Modification {
        /// URRs the modification removed, with their states.
        removed: Vec<(crate::rules::Urr, UrrState)>,
        /// URRs to report now (Query URR, QAURR).
        queried: SmallVec<[u32; 4]>,
        /// The request's Query URR Reference, echoed in those reports.
        query_ref: Option<u32>,
        created_pdr: Vec<crate::codec::grouped::CreatedPdr>,
    },
}

/// A session's URR states: the common session has one URR, kept inline
/// (no allocation of its own).
type UrrStates = SmallVec<[UrrState; 1]>;

struct SessionCtx {
    rules: Session,
    assoc: u32,
    choose_ids: session::ChooseIds,
    urrs: UrrStates,
    /// A Downlink Data Report was sent and the SMF has not modified the
    /// session since: do not report again.
    dl_reported: bool,
    /// In the volume-polling list.
    watched: bool,
    /// Generation of the User Plane Inactivity Timer: bumped when the
    /// SMF sets, changes or disables it (older timers are stale).
    inactivity_gen: u32,
    /// A Session Set Modification gave the session an alternative SMF
    /// address: its reports go to the CP F-SEID's address, not to the
    /// association's.
    redirected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Heartbeat(u32),
    AssociationSetup,
    AssociationUpdate(u32),
    NodeReport,
    SessionReport(u64),
}

struct Outstanding {
    dst: SocketAddr,
    /// The other destination retransmissions alternate with: the SMF's
    /// port 8805 when `dst` is another port (see `Association::req_dst`).
    alt: Option<SocketAddr>,
    payload: Vec<u8>,
    msg_type: u8,
    kind: ReqKind,
    deadline: Instant,
    retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Request(u32),
    Heartbeat(u32),
    Periodic {
        seid: u64,
        urr: u32,
        generation: u32,
    },
    TimeThreshold {
        seid: u64,
        urr: u32,
        generation: u32,
    },
    TimeQuota {
        seid: u64,
        urr: u32,
        generation: u32,
    },
    /// User Plane Inactivity Timer check; `reported`: the session was
    /// reported inactive and this look, one period after the previous one
    /// (or the report), waits for traffic to resume. (No time stamp here:
    /// it would make every timer of the heap 8 bytes larger.)
    Inactivity {
        seid: u64,
        generation: u32,
        reported: bool,
    },
}

/// The PFCP node of the UPF.
pub struct Node {
    cfg: Config,
    /// Our Node ID as sent (an FQDN's labels are leaked once per node).
    node_id: NodeId<'static>,
    clock: Clock,
    recovery: u32,
    res: Resources,
    /// Boxed: a million-entry table at half load would otherwise hold
    /// twice the context size per session in empty buckets.
    sessions: HashMap<u64, Box<SessionCtx>>,
    /// (association, CP SEID) → our SEID.
    by_cp: HashMap<(u32, u64), u64>,
    next_seid: u64,
    assocs: HashMap<u32, Association>,
    assoc_by_node: HashMap<NodeIdBuf, u32>,
    assoc_by_ip: HashMap<IpAddr, u32>,
    next_assoc: u32,
    requests: HashMap<u32, Outstanding>,
    next_seq: u32,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Heap size at which stale timers are swept out (see
    /// [`Node::sweep_timers`]).
    timers_sweep_at: usize,
    /// (peer, sequence number) → (hash of the request, answer, expiry).
    cache: ResponseCache,
    hasher: foldhash::fast::RandomState,
    tx: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Sessions whose URRs have volume triggers, polled round-robin.
    watch: Vec<u64>,
    watch_cursor: usize,
    next_usage_tick: Option<Instant>,
    samples: Vec<UsageSample>,
    /// Responses waiting for the user plane, in request order.
    parked: VecDeque<Parked>,
    /// (peer, sequence number) of the held requests: retransmissions of
    /// them are dropped (the answer comes once).
    in_progress: HashMap<(SocketAddr, u32), ()>,
    park_retry: Option<Instant>,
    /// Type and hash of the request being dispatched (for `park`).
    current_req: (u8, u64),
    /// Encoding scratch buffer.
    enc: Vec<u8>,
    /// PFDs provisioned by PFD Management, per Application ID.
    pfds: PfdTable,
    /// The CPs' FQ-CSIDs of the sessions that have some.
    csids: CsidBook,
}

type Reply = Result<Pfcp<'static>, Rejection>;

impl Node {
    /// A node with no association. `now` and `wall` anchor the node's
    /// clock: time stamps in reports are `wall + (t - now)`.
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration is not usable.
    pub fn new(cfg: Config, now: Instant, wall: SystemTime) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let node_id = match &cfg.node_id {
            NodeIdBuf::Ipv4(a) => NodeId::Ipv4(*a),
            NodeIdBuf::Ipv6(a) => NodeId::Ipv6(*a),
            NodeIdBuf::Fqdn(f) => {
                NodeId::Fqdn(Name(Box::leak(encode_labels(f).into_boxed_slice())))
            }
        };
        Ok(Self {
            node_id,
            recovery: ntp_seconds(cfg.recovery_time_stamp),
            res: Resources::new(&cfg),
            cfg,
            clock: Clock::new(now, wall),
            sessions: HashMap::default(),
            by_cp: HashMap::default(),
            next_seid: 1,
            assocs: HashMap::default(),
            assoc_by_node: HashMap::default(),
            assoc_by_ip: HashMap::default(),
            next_assoc: 1,
            requests: HashMap::default(),
            next_seq: 1,
            timers: BinaryHeap::new(),
            timers_sweep_at: TIMERS_SWEEP_MIN,
            cache: ResponseCache::new(now),
            hasher: foldhash::fast::RandomState::default(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            watch: Vec::new(),
            watch_cursor: 0,
            next_usage_tick: None,
            samples: Vec::new(),
            parked: VecDeque::new(),
            in_progress: HashMap::default(),
            park_retry: None,
            current_req: (0, 0),
            enc: Vec::with_capacity(4096),
            pfds: PfdTable::default(),
            csids: CsidBook::default(),
        })
    }

    // ---- the sans-IO interface ---------------------------------------------------------

    /// Process one datagram received from `peer`.
    pub fn handle<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        datagram: &[u8],
        up: &mut U,
    ) {
        if !self.cfg.peer_allowed(peer.ip())
            && !self.assocs.values().any(|a| a.addr.ip() == peer.ip())
        {
            self.stats.rx_not_allowed += 1;
            return;
        }
        let mut rest = datagram;
        while !rest.is_empty() {
            match Pfcp::decode(rest) {
                Ok((m, next)) => {
                    // A retransmitted request is byte-identical: its hash
                    // tells a duplicate from a new request that reuses the
                    // sequence number (an SMF that restarted, say).
                    let raw = &rest[..rest.len() - next.len()];
                    let hash = self.hasher.hash_one(raw);
                    self.dispatch(now, peer, m, hash, up);
                    rest = next;
                }
                Err(e) => {
                    self.malformed(now, peer, e);
                    break;
                }
            }
        }
        self.sweep_timers();
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    /// When [`Node::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.timers.peek().map(|Reverse((at, _))| *at);
        let cache = self.cache.next_expiry();
        [timers, cache, self.next_usage_tick, self.park_retry]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run what is due at `now`: retransmissions, heartbeats, usage
    /// polling and time-based reports, cache expiry.
    pub fn handle_timeout<U: UserPlane + ?Sized>(&mut self, now: Instant, up: &mut U) {
        self.cache.expire(now);
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.fire(now, at, timer, up);
        }
        if self.next_usage_tick.is_some_and(|t| t <= now) {
            self.usage_tick(now, up);
        }
        if self.park_retry.is_some_and(|t| t <= now) {
            self.resume(now, up);
        }
        self.sweep_timers();
    }

    /// Timers are cancelled lazily (a removed session's, a changed
    /// measurement period's stay in the heap until due and are ignored
    /// then), which keeps cancelling O(1); but a URR's time threshold or
    /// measurement period can be a day, so under session churn the heap
    /// would hold a day's worth of dead timers. When it has doubled since
    /// the last sweep, the dead ones are dropped: amortised O(1) per timer,
    /// and the heap stays within twice the live timers (plus
    /// [`TIMERS_SWEEP_MIN`]).
    fn sweep_timers(&mut self) {
        if self.timers.len() < self.timers_sweep_at {
            return;
        }
        let mut heap = std::mem::take(&mut self.timers);
        heap.retain(|Reverse((at, t))| self.timer_live(*at, *t));
        self.timers = heap;
        self.timers_sweep_at = (2 * self.timers.len()).max(TIMERS_SWEEP_MIN);
    }

    /// Whether `timer`, due `at`, would still act when it fires (what
    /// `fire` checks first).
    fn timer_live(&self, at: Instant, timer: Timer) -> bool {
        let urr = |seid: u64, urr: u32| {
            self.sessions
                .get(&seid)
                .and_then(|c| c.urrs.iter().find(|s| s.id == urr))
        };
        match timer {
            Timer::Request(seq) => self.requests.get(&seq).is_some_and(|o| o.deadline == at),
            Timer::Heartbeat(id) => self.assocs.get(&id).is_some_and(|a| a.hb_due == at),
            Timer::Inactivity {
                seid, generation, ..
            } => self
                .sessions
                .get(&seid)
                .is_some_and(|c| c.inactivity_gen == generation),
            Timer::Periodic {
                seid,
                urr: u,
                generation,
            } => urr(seid, u).is_some_and(|st| st.period_gen == generation),
            Timer::TimeThreshold {
                seid,
                urr: u,
                generation,
            } => urr(seid, u).is_some_and(|st| st.th_gen == generation),
            Timer::TimeQuota {
                seid,
                urr: u,
                generation,
            } => urr(seid, u).is_some_and(|st| st.quota_gen == generation),
        }
    }

    /// The next event for the control thread.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- hooks for the control thread ----------------------------------------------------

    /// Set up an association with an SMF at `addr` ourselves (UPF-initiated
    /// Association Setup, retransmitted on T1).
    pub fn associate(&mut self, now: Instant, addr: SocketAddr) {
        let msg = AssociationSetupRequest {
            node_id: self.node_id,
            recovery_time_stamp: self.recovery,
            up_function_features: Some(self.cfg.features),
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
        };
        self.request(now, addr, Pfcp::node(0, msg), ReqKind::AssociationSetup);
    }

    /// Ask the SMF to release the association (Association Update Request
    /// with SARR, TS 29.244 §6.2.7.2); the SMF then deletes the sessions
    /// and sends an Association Release Request.
    pub fn request_release(&mut self, now: Instant, node_id: &NodeIdBuf) -> bool {
        let Some(&id) = self.assoc_by_node.get(node_id) else {
            return false;
        };
        let Some(addr) = self.assocs.get(&id).map(|a| a.req_dst) else {
            return false;
        };
        let msg = AssociationUpdateRequest {
            node_id: self.node_id,
            up_function_features: None,
            cp_function_features: None,
            association_release_request: Some(PfcpAssociationReleaseRequest::SARR),
            graceful_release_period: None,
            user_plane_ip_resource_information: Vec::new(),
            pfcpaureq_flags: None,
        };
        self.request(
            now,
            addr,
            Pfcp::node(0, msg),
            ReqKind::AssociationUpdate(id),
        );
        true
    }

    /// The user plane buffered the first downlink packet of a session
    /// whose FAR has NOCP: send a Session Report Request with a Downlink
    /// Data Report (once, until the SMF modifies the session). Returns
    /// whether a report was sent.
    pub fn downlink_data(&mut self, now: Instant, seid: u64, pdr_id: u16, qfi: Option<u8>) -> bool {
        let Some(ctx) = self.sessions.get_mut(&seid) else {
            return false;
        };
        if ctx.dl_reported || ctx.rules.pdr(pdr_id).is_none() {
            return false;
        }
        let notify = ctx
            .rules
            .pdr(pdr_id)
            .and_then(|p| ctx.rules.far(p.far_id))
            .is_some_and(super::rules::Far::notifies_cp);
        if !notify {
            return false;
        }
        ctx.dl_reported = true;
        let report = SessionReportRequest {
            report_type: ReportType::DLDR,
            downlink_data_report: Some(DownlinkDataReport {
                pdr_ids: SmallVec::from_elem(pdr_id, 1),
                downlink_data_service_information: qfi
                    .map(|q| {
                        SmallVec::from_elem(
                            DownlinkDataServiceInformation {
                                ppi: None,
                                qfi: Some(q),
                            },
                            1,
                        )
                    })
                    .unwrap_or_default(),
            }),
            usage_report: Vec::new(),
            error_indication_report: None,
            pfcpsrreq_flags: None,
            old_cp_f_seid: None,
        };
        self.send_report(now, seid, report);
        true
    }

    /// A GTP-U Error Indication came from `peer` for `teid` (our downlink
    /// tunnel to it is gone): report it to the SMF of each session that
    /// forwards there (Session Report Request with ERIR). Returns how many
    /// sessions were reported.
    pub fn error_indication(&mut self, now: Instant, peer: IpAddr, teid: u32) -> usize {
        // The tunnel index narrows it to the sessions with that TEID.
        let hits: Vec<u64> = self
            .res
            .tunnel_users(teid)
            .filter_map(|s| self.sessions.get(&s).map(|c| (s, c)))
            .filter(|(_, c)| {
                c.rules.fars.iter().any(|f| {
                    f.forwarding
                        .as_ref()
                        .and_then(|x| x.outer_header_creation)
                        .is_some_and(|o| {
                            o.teid == Some(teid)
                                && (o.ipv4.map(IpAddr::V4) == Some(peer)
                                    || o.ipv6.map(IpAddr::V6) == Some(peer))
                        })
                })
            })
            .map(|(s, _)| s)
            .collect();
        let (ipv4, ipv6) = match peer {
            IpAddr::V4(a) => (Some(a), None),
            IpAddr::V6(a) => (None, Some(a)),
        };
        for seid in &hits {
            let report = SessionReportRequest {
                report_type: ReportType::ERIR,
                downlink_data_report: None,
                usage_report: Vec::new(),
                error_indication_report: Some(ErrorIndicationReport {
                    remote_f_teids: vec![FTeid::Assigned { teid, ipv4, ipv6 }],
                }),
                pfcpsrreq_flags: None,
                old_cp_f_seid: None,
            };
            self.send_report(now, *seid, report);
        }
        hits.len()
    }

    /// GTP-U paths to these peers failed (echo timeouts): tell every
    /// associated SMF (Node Report Request, User Plane Path Failure).
    pub fn path_failure(&mut self, now: Instant, peers: &[IpAddr]) {
        let remote: Vec<RemoteGtpuPeer<'static>> = peers
            .iter()
            .map(|p| match p {
                IpAddr::V4(a) => RemoteGtpuPeer {
                    ipv4: Some(*a),
                    ..RemoteGtpuPeer::default()
                },
                IpAddr::V6(a) => RemoteGtpuPeer {
                    ipv6: Some(*a),
                    ..RemoteGtpuPeer::default()
                },
            })
            .collect();
        let addrs: Vec<SocketAddr> = self.assocs.values().map(|a| a.req_dst).collect();
        for addr in addrs {
            let msg = NodeReportRequest {
                node_id: self.node_id,
                node_report_type: NodeReportType::UPFR,
                user_plane_path_failure_report: Some(UserPlanePathReport {
                    remote_gtpu_peers: remote.clone(),
                }),
                user_plane_path_recovery_report: None,
            };
            self.request(now, addr, Pfcp::node(0, msg), ReqKind::NodeReport);
        }
    }

    /// Replace the allowlist of SMF addresses and networks (a reload);
    /// both empty: any. The list admits new peers: datagrams from an
    /// address outside it are dropped and counted unless an association
    /// with that address exists. An SMF a reload leaves out therefore
    /// keeps its association and its sessions (PFCP-installed sessions
    /// survive a reload, ARCHITECTURE.md "Reload"; cutting an SMF off
    /// mid-session would strand its UEs with no SMF able to modify,
    /// delete or hear about them) until it releases the association or
    /// stops answering heartbeats; after that it is refused like any
    /// other address outside the list. Returns the node IDs of the
    /// associations kept that way, for the caller to log.
    pub fn set_allowed_peers(
        &mut self,
        peers: Vec<IpAddr>,
        nets: Vec<(IpAddr, u8)>,
    ) -> Vec<NodeIdBuf> {
        self.cfg.allowed_peers = peers;
        self.cfg.allowed_peer_nets = nets;
        self.assocs
            .values()
            .filter(|a| !self.cfg.peer_allowed(a.addr.ip()))
            .map(|a| a.node_id.clone())
            .collect()
    }

    /// New heartbeat interval and retransmission timer/count (a reload).
    /// The next heartbeat to each SMF is rescheduled to the previous one
    /// plus the new interval (at once if that is past), so a shorter
    /// interval applies now, not after one more of the old; the new T1 and
    /// N1 apply from the next request.
    ///
    /// # Errors
    /// [`ConfigError::Timers`] for a zero timer or count (nothing changes).
    pub fn set_timers(
        &mut self,
        heartbeat: Duration,
        t1: Duration,
        n1: u32,
    ) -> Result<(), ConfigError> {
        if heartbeat.is_zero() || t1.is_zero() || n1 == 0 {
            return Err(ConfigError::Timers);
        }
        let old = std::mem::replace(&mut self.cfg.heartbeat_interval, heartbeat);
        self.cfg.t1 = t1;
        self.cfg.n1 = n1;
        if old != heartbeat {
            for (&id, a) in &mut self.assocs {
                // `hb_due` is the last heartbeat (or the setup) plus the
                // old interval; the entry it leaves in the heap is stale
                // (`fire` skips a due time that is not the association's).
                let Some(due) = a
                    .hb_due
                    .checked_sub(old)
                    .and_then(|t| t.checked_add(heartbeat))
                else {
                    continue;
                };
                a.hb_due = due;
                self.timers.push(Reverse((due, Timer::Heartbeat(id))));
            }
        }
        Ok(())
    }

    /// New TEID range, UE pools, reserved UE addresses and GTP-U endpoints
    /// (a reload). TEIDs and addresses that sessions use stay theirs and are
    /// not handed out again; CHOOSE allocates from the new ranges from now
    /// on. The rest of `cfg` is ignored.
    ///
    /// # Errors
    /// A [`ConfigError`] for an unusable range or pool (nothing changes).
    pub fn set_resources(&mut self, cfg: &Config) -> Result<(), ConfigError> {
        let mut check = self.cfg.clone();
        check.teid_first = cfg.teid_first;
        check.teid_last = cfg.teid_last;
        check.ue_pools.clone_from(&cfg.ue_pools);
        check.reserved_ue_ips.clone_from(&cfg.reserved_ue_ips);
        check.gtpu.clone_from(&cfg.gtpu);
        check.validate()?;
        self.res
            .reconfigure(&check, self.sessions.values().map(|c| &c.rules));
        self.cfg = check;
        Ok(())
    }

    /// Keep `ip` out of UE address allocation from now on (a static
    /// session was added that uses it). Returns false, reserving nothing,
    /// when a PFCP session uses it already.
    pub fn reserve_ue_ip(&mut self, ip: IpAddr) -> bool {
        self.res.reserve_ue_ip(ip)
    }

    /// Give back an address reserved with [`Node::reserve_ue_ip`] or
    /// `Config::reserved_ue_ips` (its static session is gone).
    pub fn release_ue_ip(&mut self, ip: IpAddr) {
        self.res.release_ue_ip(ip);
    }

    /// Read the session's counters now and report thresholds or quotas
    /// that were reached (e.g. when the user plane saw a quota run out
    /// before the next poll).
    pub fn check_usage<U: UserPlane + ?Sized>(&mut self, now: Instant, seid: u64, up: &mut U) {
        self.poll_volume(now, seid, up);
    }

    // ---- inspection --------------------------------------------------------------------------

    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Associations, for /status.
    #[must_use]
    pub fn associations(&self) -> Vec<AssociationInfo> {
        let mut v: Vec<_> = self
            .assocs
            .values()
            .map(|a| AssociationInfo {
                node_id: a.node_id.clone(),
                addr: a.addr,
                peer_recovery_time_stamp: a.peer_recovery,
                since: a.since,
                sessions: a.sessions,
                heartbeat_misses: a.hb_misses,
                last_heartbeat: a.last_heartbeat.map(|t| self.clock.wall(t)),
            })
            .collect();
        v.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        v
    }
    /// All sessions' rule sets.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values().map(|c| &c.rules)
    }
    #[must_use]
    pub fn session(&self, seid: u64) -> Option<&Session> {
        self.sessions.get(&seid).map(|c| &c.rules)
    }
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
    /// What the node holds now (see [`Occupancy`]); O(pools).
    #[must_use]
    pub fn occupancy(&self) -> Occupancy {
        let (teid_owners, ue_ip_owners, tunnels, interned) = self.res.owners();
        let (csid_sessions, csid_sets, csid_tagged_sessions, csid_interned) =
            self.csids.occupancy();
        Occupancy {
            sessions: self.sessions.len(),
            cp_seid_index: self.by_cp.len(),
            associations: self.assocs.len(),
            requests_in_flight: self.requests.len(),
            response_cache: self.cache.len(),
            timers: self.timers.len(),
            parked: self.parked.len(),
            in_progress: self.in_progress.len(),
            watched_sessions: self.watch.len(),
            tx_queue: self.tx.len(),
            event_queue: self.events.len(),
            teids_allocated: self.res.usage_teids(),
            teid_owners,
            ue_ips_allocated: self.res.ue_ips_used(),
            ue_ip_owners,
            tunnels,
            interned,
            csid_sessions,
            csid_sets,
            csid_tagged_sessions,
            csid_interned,
            pfd_applications: self.pfds.len(),
            pfds: self.pfds.pfd_count(),
        }
    }
    /// TEIDs and UE addresses in use.
    #[must_use]
    pub fn resource_usage(&self) -> ResourceUsage {
        let (teids_used, ue_pools) = self.res.usage();
        ResourceUsage {
            sessions: self.sessions.len(),
            teids_used,
            ue_pools,
        }
    }
    /// The PFDs provisioned by PFD Management Requests.
    #[must_use]
    pub fn pfd_table(&self) -> &PfdTable {
        &self.pfds
    }
    /// The PFDs of application `app` (an Application ID as sent).
    #[must_use]
    pub fn pfds(&self, app: &[u8]) -> Option<&[crate::pfd::Pfd]> {
        self.pfds.get(app)
    }
    /// The FQ-CSIDs the CP gave session `seid` (SGW-C, MME, PGW-C/SMF,
    /// ePDG, TWAN; one per node address and node type), empty when none.
    #[must_use]
    pub fn session_fq_csids(&self, seid: u64) -> Vec<FqCsid> {
        self.csids.of(seid)
    }
    /// Sessions that have FQ-CSIDs.
    #[must_use]
    pub fn sessions_with_csids(&self) -> usize {
        self.csids.len()
    }
    /// Per CSID node address (at most `max_nodes`): how many distinct
    /// CSIDs sessions carry, and the `max_sets` CSIDs most sessions carry
    /// with their session counts. O(distinct CSIDs): for /status.
    #[must_use]
    pub fn fq_csid_sets(&self, max_nodes: usize, max_sets: usize) -> Vec<CsidSets> {
        self.csids.summary(max_nodes, max_sets)
    }
    /// FQ-CSIDs, Group Ids and CP IP Addresses not stored for lack of room
    /// (65,536 distinct node addresses, groups or CP addresses interned)
    /// or, for a Group Id, longer than 255 octets.
    #[must_use]
    pub fn csids_dropped(&self) -> u64 {
        self.csids.dropped
    }
    /// The Rel-17 Group Id and CP IP Address session `seid` carries.
    #[must_use]
    pub fn session_group(&self, seid: u64) -> (Option<&[u8]>, Option<CpIpAddress>) {
        self.csids.tags_of(seid)
    }
    /// The Node ID of the association session `seid` belongs to.
    #[must_use]
    pub fn session_association(&self, seid: u64) -> Option<&NodeIdBuf> {
        let c = self.sessions.get(&seid)?;
        self.assocs.get(&c.assoc).map(|a| &a.node_id)
    }
    /// Our Recovery Time Stamp (NTP seconds).
    #[must_use]
    pub fn recovery_time_stamp(&self) -> u32 {
        self.recovery
    }

    // ---- receiving ---------------------------------------------------------------------------

    fn malformed(&mut self, now: Instant, peer: SocketAddr, e: MessageError) {
        self.stats.rx_malformed += 1;
        let Some(h) = e.header else { return };
        if !msg_type::is_request(h.msg_type) {
            return;
        }
        match e.error.kind {
            ErrorKind::UnsupportedVersion(_) => {
                self.stats.rx_bad_version += 1;
                let _ = self.send(peer, &Pfcp::node(h.seq, VersionNotSupportedResponse {}));
            }
            ErrorKind::UnknownMessageType(_)
            | ErrorKind::InvalidSeidFlag
            | ErrorKind::TruncatedHeader => {}
            _ => {
                let rej = Rejection {
                    cause: e.error.cause(),
                    offending_ie: e.error.ie,
                    failed_rule: None,
                };
                // A session request's answer goes to the SMF's SEID, which
                // we know when the header names one of our sessions.
                let cp_seid = h
                    .seid
                    .and_then(|s| self.sessions.get(&s))
                    .map_or(0, |c| c.rules.cp_f_seid.seid);
                if let Some(reply) = self.rejection(h.msg_type, h.seq, cp_seid, rej) {
                    self.note_rejection(peer, h.msg_type, rej);
                    self.respond(now, peer, h.msg_type, &reply, None);
                }
            }
        }
    }

    fn dispatch<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        m: Pfcp<'_>,
        req_hash: u64,
        up: &mut U,
    ) {
        let t = m.message.msg_type();
        self.stats.rx[usize::from(t)] += 1;
        if msg_type::is_request(t)
            && let Some(payload) = self.cache.get(peer, m.seq, req_hash)
        {
            self.stats.rx_duplicates += 1;
            let rt = payload.get(1).copied().unwrap_or(0);
            self.stats.tx[usize::from(rt) % 64] += 1;
            self.tx.push_back(Transmit { dst: peer, payload });
            return;
        }
        if !self.in_progress.is_empty() && self.in_progress.contains_key(&(peer, m.seq)) {
            // Still waiting for the user plane: the answer comes once.
            self.stats.rx_duplicates += 1;
            return;
        }
        self.current_req = (t, req_hash);
        let seq = m.seq;
        let seid = m.seid.unwrap_or(0);
        // A refused establishment is answered to the SMF's SEID when the
        // request gave one (TS 29.244 7.2.2.4.2: SEID 0 only when the
        // peer's SEID is not available): free5GC's SMF finds the SM
        // context of an Establishment Response by its header SEID.
        let est_cp_seid = match &m.message {
            Message::SessionEstablishmentRequest(r) => r.cp_f_seid.seid,
            _ => 0,
        };
        let reply: Option<Reply> = match m.message {
            Message::HeartbeatRequest(r) => {
                self.heartbeat_request(now, peer, seq, r.recovery_time_stamp, up);
                None
            }
            Message::AssociationSetupRequest(r) => {
                Some(self.association_setup(now, peer, seq, &r, up))
            }
            Message::AssociationUpdateRequest(r) => Some(self.association_update(seq, &r)),
            Message::PfdManagementRequest(r) => Some(self.pfd_management(peer, seq, &r, up)),
            Message::SessionSetDeletionRequest(r) => {
                Some(self.session_set_deletion(peer, seq, &r, up))
            }
            Message::SessionSetModificationRequest(r) => {
                Some(self.session_set_modification(peer, seq, &r))
            }
            Message::AssociationReleaseRequest(r) => {
                Some(self.association_release(seq, &r.node_id, up))
            }
            Message::SessionEstablishmentRequest(r) => Some(self.establish(now, seq, &r, up)),
            Message::SessionModificationRequest(r) => {
                Some(self.modify(now, peer, seq, seid, &r, up))
            }
            Message::SessionDeletionRequest(_) => Some(self.delete(now, peer, seq, seid, up)),
            Message::HeartbeatResponse(r) => {
                self.response(now, peer, seq, t, up, |n, now, kind, up| {
                    n.heartbeat_response(now, kind, r.recovery_time_stamp, up);
                });
                None
            }
            Message::AssociationSetupResponse(r) => {
                let cause = r.cause;
                let node_id = r.node_id.to_owned_id();
                let rts = r.recovery_time_stamp;
                self.response(now, peer, seq, t, up, |n, now, _, up| {
                    if cause.is_success() {
                        n.associated(now, peer, node_id, rts, None, up);
                    }
                });
                None
            }
            Message::SessionReportResponse(r) => {
                let (cause, update_bar, drobu) = (
                    r.cause,
                    r.update_bar.clone(),
                    r.pfcpsrrsp_flags
                        .is_some_and(|f| f.contains(PfcpsrRspFlags::DROBU)),
                );
                self.response(now, peer, seq, t, up, |n, _, kind, up| {
                    if let ReqKind::SessionReport(s) = kind {
                        n.report_answered(s, cause, update_bar.as_ref(), drobu, up);
                    }
                });
                None
            }
            Message::AssociationUpdateResponse(_)
            | Message::AssociationReleaseResponse(_)
            | Message::NodeReportResponse(_) => {
                self.response(now, peer, seq, t, up, |_, _, _, _| {});
                None
            }
            // Requests only a UP function sends, or messages that are not
            // requests we serve: not for us.
            Message::VersionNotSupportedResponse(_) => {
                self.response(now, peer, seq, t, up, |_, _, _, _| {});
                None
            }
            _ => {
                self.stats.rx_unexpected += 1;
                None
            }
        };
        match reply {
            Some(Ok(msg)) => self.respond(now, peer, t, &msg, Some(req_hash)),
            Some(Err(rej)) if rej.cause == PARKED => {}
            Some(Err(rej)) => {
                let cp_seid = if t == msg_type::SESSION_ESTABLISHMENT_REQUEST {
                    est_cp_seid
                } else {
                    self.sessions
                        .get(&seid)
                        .map_or(0, |c| c.rules.cp_f_seid.seid)
                };
                self.note_rejection(peer, t, rej);
                if let Some(msg) = self.rejection(t, seq, cp_seid, rej) {
                    self.respond(now, peer, t, &msg, Some(req_hash));
                }
            }
            None => {}
        }
    }

    fn response<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        t: u8,
        up: &mut U,
        then: impl FnOnce(&mut Self, Instant, ReqKind, &mut U),
    ) {
        let matches = self.requests.get(&seq).is_some_and(|o| {
            o.dst.ip() == peer.ip()
                && (o.msg_type + 1 == t || t == msg_type::VERSION_NOT_SUPPORTED_RESPONSE)
        });
        if !matches {
            self.stats.rx_unexpected += 1;
            return;
        }
        if let Some(o) = self.requests.remove(&seq)
            && t != msg_type::VERSION_NOT_SUPPORTED_RESPONSE
        {
            // Keep sending where the SMF answers.
            if let Some(&id) = self.assoc_by_ip.get(&peer.ip())
                && let Some(a) = self.assocs.get_mut(&id)
            {
                a.req_dst = o.dst;
            }
            then(self, now, o.kind, up);
        }
    }

    // ---- node procedures ------------------------------------------------------------------

    fn heartbeat_request<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        rts: u32,
        up: &mut U,
    ) {
        if let Some(&id) = self.assoc_by_ip.get(&peer.ip()) {
            if self.heartbeat_restart(id, rts) {
                self.drop_association(id, DownReason::PeerRestarted, up);
            } else if let Some(a) = self.assocs.get_mut(&id) {
                a.last_heartbeat = Some(now);
            }
        }
        let msg = Pfcp::node(
            seq,
            HeartbeatResponse {
                recovery_time_stamp: self.recovery,
            },
        );
        self.respond(now, peer, msg_type::HEARTBEAT_REQUEST, &msg, None);
    }

    fn heartbeat_response<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        kind: ReqKind,
        rts: u32,
        up: &mut U,
    ) {
        let ReqKind::Heartbeat(id) = kind else { return };
        if let Some(a) = self.assocs.get_mut(&id) {
            a.hb_seq = None;
            a.hb_misses = 0;
            a.last_heartbeat = Some(now);
        }
        if self.heartbeat_restart(id, rts) {
            self.drop_association(id, DownReason::PeerRestarted, up);
        }
    }

    /// Whether a heartbeat's Recovery Time Stamp says the peer restarted.
    /// Heartbeats are compared with earlier heartbeats, not with the
    /// association setup: OAI's SMF sends different values in the two
    /// (see the golden capture), and a real restart changes both.
    fn heartbeat_restart(&mut self, id: u32, rts: u32) -> bool {
        let Some(a) = self.assocs.get_mut(&id) else {
            return false;
        };
        match a.peer_hb_recovery {
            Some(known) => known != rts,
            None => {
                a.peer_hb_recovery = Some(rts);
                false
            }
        }
    }

    fn association_setup<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        r: &AssociationSetupRequest<'_>,
        up: &mut U,
    ) -> Reply {
        let node_id = r.node_id.to_owned_id();
        self.associated(
            now,
            peer,
            node_id,
            r.recovery_time_stamp,
            r.cp_function_features,
            up,
        );
        let msg = AssociationSetupResponse {
            node_id: self.node_id,
            cause: Cause::REQUEST_ACCEPTED,
            recovery_time_stamp: self.recovery,
            up_function_features: Some(self.cfg.features),
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
        };
        Ok(Pfcp::node(seq, msg))
    }

    /// An association with `node_id` at `addr` is (re)established. A
    /// changed Recovery Time Stamp means the SMF restarted: its sessions go.
    fn associated<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        node_id: NodeIdBuf,
        rts: u32,
        cp_features: Option<CpFunctionFeatures>,
        up: &mut U,
    ) {
        if let Some(&id) = self.assoc_by_node.get(&node_id) {
            if self.assocs.get(&id).is_some_and(|a| a.peer_recovery != rts) {
                self.drop_association(id, DownReason::PeerRestarted, up);
            } else if let Some(a) = self.assocs.get_mut(&id) {
                // Same SMF instance set up again: keep its sessions.
                if a.addr != addr {
                    self.assoc_by_ip.insert(addr.ip(), id);
                    a.addr = addr;
                    a.req_dst = addr;
                }
                return;
            }
        }
        let id = self.next_assoc;
        self.next_assoc = self.next_assoc.wrapping_add(1).max(1);
        let hb_due = now + self.cfg.heartbeat_interval;
        self.assoc_by_ip.insert(addr.ip(), id);
        if let Some(ip) = node_ip(&node_id) {
            self.assoc_by_ip.insert(ip, id);
        }
        self.assoc_by_node.insert(node_id.clone(), id);
        self.assocs.insert(
            id,
            Association {
                node_id: node_id.clone(),
                addr,
                req_dst: addr,
                peer_recovery: rts,
                peer_hb_recovery: None,
                since: self.clock.wall(now),
                hb_due,
                hb_seq: None,
                hb_misses: 0,
                last_heartbeat: None,
                sessions: 0,
                cp_features,
            },
        );
        self.timers.push(Reverse((hb_due, Timer::Heartbeat(id))));
        self.event(Event::AssociationUp { node_id, addr });
    }

    fn association_update(&mut self, seq: u32, r: &AssociationUpdateRequest<'_>) -> Reply {
        let node_id = r.node_id.to_owned_id();
        let Some(&id) = self.assoc_by_node.get(&node_id) else {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        if let Some(a) = self.assocs.get_mut(&id)
            && r.cp_function_features.is_some()
        {
            a.cp_features = r.cp_function_features;
        }
        let msg = AssociationUpdateResponse {
            node_id: self.node_id,
            cause: Cause::REQUEST_ACCEPTED,
            up_function_features: None,
            cp_function_features: None,
        };
        Ok(Pfcp::node(seq, msg))
    }

    /// PFD Management (TS 29.244 §6.2.2): only from an associated SMF
    /// (known by its address, or by the Rel-16 Node ID when it sent one).
    fn pfd_management<U: UserPlane + ?Sized>(
        &mut self,
        peer: SocketAddr,
        seq: u32,
        r: &PfdManagementRequest<'_>,
        up: &mut U,
    ) -> Reply {
        let by_node = r
            .node_id
            .as_ref()
            .and_then(|n| self.assoc_by_node.get(&n.to_owned_id()));
        if self.requester(peer).is_none() && by_node.is_none() {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        }
        self.pfds
            .apply(&r.application_ids_pfds)
            .map_err(|e| Rejection {
                cause: e.cause(),
                offending_ie: e.ie,
                failed_rule: None,
            })?;
        up.set_pfds(&self.pfds);
        let named: Vec<&[u8]> = r
            .application_ids_pfds
            .iter()
            .map(|a| a.application_id)
            .collect();
        // An empty request removed every application's PFDs.
        self.reinstall_for_pfds((!named.is_empty()).then_some(&named[..]), up);
        let msg = PfdManagementResponse {
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            node_id: r.node_id.is_some().then_some(self.node_id),
        };
        Ok(Pfcp::node(seq, msg))
    }

    /// Install again, unchanged, the sessions whose PDRs name one of
    /// `apps` (every application: `None`), so that the user plane
    /// translates them with the new PFDs. One that it now refuses keeps
    /// its previous rules there; the refusal is an event (the SMF is not
    /// told: no PFCP message reports it).
    fn reinstall_for_pfds<U: UserPlane + ?Sized>(&mut self, apps: Option<&[&[u8]]>, up: &mut U) {
        let uses = |s: &Session| {
            s.pdrs.iter().any(|p| {
                p.pdi
                    .application_id()
                    .is_some_and(|a| apps.is_none_or(|l| l.contains(&a.as_bytes())))
            })
        };
        let seids: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, c)| uses(&c.rules))
            .map(|(s, _)| *s)
            .collect();
        for seid in seids {
            let Some(ctx) = self.sessions.get(&seid) else {
                continue;
            };
            if let Err(error) = up.install(&ctx.rules, Some(&ctx.rules)) {
                self.event(Event::UserPlaneError { seid, error });
            }
        }
    }

    /// Session Set Deletion (TS 29.244 §6.2.9, §7.4.6; TS 23.007 /
    /// TS 23.527 partial failure handling): remove every session of the
    /// requesting CP that holds one of the CSIDs named (each CSID with its
    /// FQ-CSID's node address, whatever the role it was sent in). The
    /// sessions leave the user plane like deleted ones; no usage report
    /// follows: the response has no Usage Report IE, and the CP removed
    /// its side of these sessions already.
    fn session_set_deletion<U: UserPlane + ?Sized>(
        &mut self,
        peer: SocketAddr,
        seq: u32,
        r: &SessionSetDeletionRequest<'_>,
        up: &mut U,
    ) -> Reply {
        let node_id = r.node_id.to_owned_id();
        let Some(assoc) = self
            .assoc_by_node
            .get(&node_id)
            .copied()
            .or_else(|| self.requester(peer))
        else {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        if r.fq_csids.is_empty() {
            // Every FQ-CSID is conditional on the sender's role, but a
            // request naming no set asks for nothing: the CP is wrong.
            return Err(Rejection::ie(Cause::CONDITIONAL_IE_MISSING, t::FQ_CSID));
        }
        let mut seids = self.csids.matching(&r.fq_csids);
        seids.retain(|s| self.sessions.get(s).is_some_and(|c| c.assoc == assoc));
        seids.sort_unstable();
        for seid in &seids {
            let _ = self.remove_session(*seid, up);
        }
        self.stats.set_deleted_sessions += seids.len() as u64;
        let owner = self
            .assocs
            .get(&assoc)
            .map_or(node_id, |a| a.node_id.clone());
        self.event(Event::SessionSetDeleted {
            node_id: owner,
            sessions_removed: seids.len(),
        });
        Ok(Pfcp::node(
            seq,
            SessionSetDeletionResponse {
                node_id: self.node_id,
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: None,
            },
        ))
    }

    /// Session Set Modification (Rel-17, TS 29.244 §7.4.7; TS 23.527
    /// restoration of the sessions of a failed SMF by another SMF of its
    /// set): every session holding one of the PGW-C/SMF FQ-CSIDs named,
    /// in one of the Group Ids, or whose CP IP Address (stored from its
    /// establishment, or its CP F-SEID's address) is one of those named,
    /// gets the Alternative SMF IP Address in its CP F-SEID (SEID kept),
    /// and its Session Report Requests go there from now on. The sessions
    /// are matched across associations (the failed SMF's are the point);
    /// they move to the association at the alternative address if there
    /// is one, else to the requester's, so that they outlive the failed
    /// SMF's association and the new SMF may modify and delete them.
    /// Nothing changes in the user plane: the CP F-SEID is not a rule.
    fn session_set_modification(
        &mut self,
        peer: SocketAddr,
        seq: u32,
        r: &SessionSetModificationRequest<'_>,
    ) -> Reply {
        let Some(requester) = r
            .node_id
            .as_ref()
            .and_then(|n| self.assoc_by_node.get(&n.to_owned_id()).copied())
            .or_else(|| self.requester(peer))
        else {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        if r.fq_csids.is_empty() && r.group_ids.is_empty() && r.cp_ip_addresses.is_empty() {
            // Each is conditional, but a request naming no session set
            // asks for nothing: the CP is wrong (as for Set Deletion).
            return Err(Rejection::ie(Cause::CONDITIONAL_IE_MISSING, t::FQ_CSID));
        }
        if r.group_ids.iter().any(|g| g.is_empty()) {
            return Err(Rejection::ie(Cause::MANDATORY_IE_INCORRECT, t::GROUP_ID));
        }
        let alt = r.alternative_smf_ip_address;
        let alt_ips = [alt.ipv4.map(IpAddr::V4), alt.ipv6.map(IpAddr::V6)];
        let target = alt_ips
            .iter()
            .flatten()
            .find_map(|ip| self.assoc_by_ip.get(ip).copied())
            .unwrap_or(requester);
        let mut seids = self.csids.matching(&r.fq_csids);
        seids.extend(self.csids.matching_groups(&r.group_ids));
        if !r.cp_ip_addresses.is_empty() {
            seids.extend(self.csids.matching_cp_ips(&r.cp_ip_addresses));
            // O(sessions): a rare message, and an index by CP address
            // would cost every session an entry.
            seids.extend(
                self.sessions
                    .iter()
                    .filter(|(_, c)| {
                        let f = CpIpAddress {
                            ipv4: c.rules.cp_f_seid.ipv4,
                            ipv6: c.rules.cp_f_seid.ipv6,
                        };
                        r.cp_ip_addresses.iter().any(|w| w.overlaps(&f))
                    })
                    .map(|(s, _)| *s),
            );
        }
        seids.sort_unstable();
        seids.dedup();
        let mut modified = 0usize;
        for seid in seids {
            let Some(ctx) = self.sessions.get_mut(&seid) else {
                continue;
            };
            ctx.rules.cp_f_seid.ipv4 = alt.ipv4;
            ctx.rules.cp_f_seid.ipv6 = alt.ipv6;
            ctx.redirected = true;
            modified += 1;
            let (from, cp_seid) = (ctx.assoc, ctx.rules.cp_f_seid.seid);
            if from == target {
                continue;
            }
            ctx.assoc = target;
            if self.by_cp.get(&(from, cp_seid)) == Some(&seid) {
                self.by_cp.remove(&(from, cp_seid));
            }
            // A session of the target with the same CP SEID keeps the
            // index (it only detects repeated establishments).
            self.by_cp.entry((target, cp_seid)).or_insert(seid);
            if let Some(a) = self.assocs.get_mut(&from) {
                a.sessions = a.sessions.saturating_sub(1);
            }
            if let Some(a) = self.assocs.get_mut(&target) {
                a.sessions += 1;
            }
        }
        self.stats.set_modified_sessions += modified as u64;
        let name = |id: u32| self.assocs.get(&id).map(|a| a.node_id.clone());
        if let (Some(node_id), Some(moved_to)) = (name(requester), name(target)) {
            self.event(Event::SessionSetModified {
                node_id,
                alternative: alt,
                moved_to,
                sessions_modified: modified,
            });
        }
        Ok(Pfcp::node(
            seq,
            SessionSetModificationResponse {
                node_id: self.node_id,
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: None,
            },
        ))
    }

    fn association_release<U: UserPlane + ?Sized>(
        &mut self,
        seq: u32,
        node_id: &NodeId<'_>,
        up: &mut U,
    ) -> Reply {
        let node_id = node_id.to_owned_id();
        let Some(&id) = self.assoc_by_node.get(&node_id) else {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        self.drop_association(id, DownReason::ReleasedByPeer, up);
        let msg = AssociationReleaseResponse {
            node_id: self.node_id,
            cause: Cause::REQUEST_ACCEPTED,
        };
        Ok(Pfcp::node(seq, msg))
    }

    /// End an association and remove its sessions.
    fn drop_association<U: UserPlane + ?Sized>(&mut self, id: u32, reason: DownReason, up: &mut U) {
        let Some(a) = self.assocs.remove(&id) else {
            return;
        };
        self.assoc_by_node.remove(&a.node_id);
        self.assoc_by_ip.retain(|_, v| *v != id);
        if let Some(seq) = a.hb_seq {
            self.requests.remove(&seq);
        }
        let seids: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, c)| c.assoc == id)
            .map(|(s, _)| *s)
            .collect();
        for seid in &seids {
            let _ = self.remove_session(*seid, up);
        }
        self.event(Event::AssociationDown {
            node_id: a.node_id,
            reason,
            sessions_removed: seids.len(),
        });
    }

    // ---- session procedures -------------------------------------------------------------------

    fn requester(&self, peer: SocketAddr) -> Option<u32> {
        self.assoc_by_ip.get(&peer.ip()).copied()
    }

    fn establish<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        seq: u32,
        r: &SessionEstablishmentRequest<'_>,
        up: &mut U,
    ) -> Reply {
        let cp = r.cp_f_seid;
        let reject = |rej: Rejection| Err(rej);
        let node_id = r.node_id.to_owned_id();
        let Some(&assoc) = self.assoc_by_node.get(&node_id) else {
            return reject(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        if r.create_traffic_endpoint {
            return reject(Rejection::ie(
                Cause::SERVICE_NOT_SUPPORTED,
                t::CREATE_TRAFFIC_ENDPOINT,
            ));
        }
        if r.create_mar {
            return reject(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, t::CREATE_MAR));
        }
        if let Some(&old) = self.by_cp.get(&(assoc, cp.seid)) {
            let resti = r
                .pfcpsereq_flags
                .is_some_and(|f| f.contains(crate::codec::ies::PfcpseReqFlags::RESTI));
            if !resti {
                // Same CP F-SEID again, not a retransmission (those are
                // answered from the cache): refuse rather than guess.
                return reject(Rejection::ie(Cause::REQUEST_REJECTED, t::F_SEID));
            }
            let _ = self.remove_session(old, up);
            self.event(Event::SessionRemoved {
                seid: old,
                reason: RemoveReason::Restored,
            });
        }
        if self.sessions.len() >= self.cfg.max_sessions {
            return reject(Rejection::cause(Cause::NO_RESOURCES_AVAILABLE));
        }
        let seid = self.alloc_seid();
        let mut s = Session {
            seid,
            cp_f_seid: cp,
            pdrs: Vec::with_capacity(r.create_pdr.len()),
            fars: SmallVec::with_capacity(r.create_far.len()),
            qers: SmallVec::with_capacity(r.create_qer.len()),
            urrs: SmallVec::with_capacity(r.create_urr.len()),
            bar: None,
            pdn_type: r.pdn_type,
            dnn: None,
            // 0 means no timer (§8.2.83).
            inactivity_timer_s: r.user_plane_inactivity_timer.filter(|t| *t != 0),
        };
        let mut b = Builder::new(&mut self.res, r.apn_dnn.as_ref(), None);
        s.dnn = b.dnn();
        let built = (|| {
            if let Some(c) = &r.create_bar {
                Builder::create_bar(&mut s, c)?;
            }
            for c in &r.create_qer {
                Builder::create_qer(&mut s, c)?;
            }
            for c in &r.create_urr {
                Builder::create_urr(&mut s, c)?;
            }
            for c in &r.create_far {
                b.create_far(&mut s, c)?;
            }
            for c in &r.create_pdr {
                b.create_pdr(&mut s, c)?;
            }
            session::validate(&mut s)
        })();
        if let Err(rej) = built {
            b.abandon();
            return reject(rej);
        }
        let session::Finished {
            tentative,
            choose_ids,
            created_pdrs: created,
            ..
        } = b.finish(&s);
        self.res.intern_rules(&mut s);
        let pending = match self.res.claim(seid, None, &s, &tentative) {
            Ok(p) => p,
            Err(rej) => {
                self.res.rollback(&tentative);
                return reject(rej);
            }
        };
        if let Err(e) = up.install(&s, None) {
            self.res.release(&pending);
            self.res.rollback(&tentative);
            return reject(up_rejection(&e));
        }
        self.res.commit(seid, None, Some(&s));
        let created_pdr = session::created_pdrs(&s, &created);
        let urrs: UrrStates = s.urrs.iter().map(|u| UrrState::new(u.id, now)).collect();
        if let Some(a) = self.assocs.get_mut(&assoc) {
            a.sessions += 1;
        }
        self.by_cp.insert((assoc, cp.seid), seid);
        self.csids.establish(seid, &r.fq_csids);
        self.csids
            .establish_tags(seid, r.group_id, r.cp_ip_address.as_ref());
        self.sessions.insert(
            seid,
            Box::new(SessionCtx {
                rules: s,
                assoc,
                choose_ids,
                urrs,
                dl_reported: false,
                watched: false,
                inactivity_gen: 0,
                redirected: false,
            }),
        );
        self.arm_session(now, seid, None);
        let msg = SessionEstablishmentResponse {
            node_id: Some(self.node_id),
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            up_f_seid: Some(FSeid {
                seid,
                ipv4: self.cfg.f_seid_ipv4,
                ipv6: self.cfg.f_seid_ipv6,
            }),
            created_pdr,
            up_fq_csid: None,
            failed_rule_id: None,
        };
        Ok(Pfcp::session(cp.seid, seq, msg))
    }

    fn alloc_seid(&mut self) -> u64 {
        loop {
            let s = self.next_seid;
            // Our SEIDs stay below 2^63: the upper half of the user
            // plane's session-id space is left to static sessions.
            self.next_seid = (self.next_seid + 1) & MAX_SEID;
            if self.next_seid == 0 {
                self.next_seid = 1;
            }
            if !self.sessions.contains_key(&s) {
                return s;
            }
        }
    }

    /// The session `seid` if it exists and belongs to `peer`'s association.
    fn own_session(&self, peer: SocketAddr, seid: u64) -> Result<u32, Rejection> {
        let Some(assoc) = self.requester(peer) else {
            return Err(Rejection::cause(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION));
        };
        match self.sessions.get(&seid) {
            Some(c) if c.assoc == assoc => Ok(assoc),
            _ => Err(Rejection::cause(Cause::SESSION_CONTEXT_NOT_FOUND)),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn modify<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        seid: u64,
        r: &SessionModificationRequest<'_>,
        up: &mut U,
    ) -> Reply {
        self.own_session(peer, seid)?;
        for (present, ie) in [
            (r.create_traffic_endpoint, t::CREATE_TRAFFIC_ENDPOINT),
            (r.update_traffic_endpoint, t::UPDATE_TRAFFIC_ENDPOINT),
            (r.remove_traffic_endpoint, t::REMOVE_TRAFFIC_ENDPOINT),
            (r.create_mar, t::CREATE_MAR),
            (r.update_mar, t::UPDATE_MAR),
            (r.remove_mar, t::REMOVE_MAR),
        ] {
            if present {
                return Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, ie));
            }
        }
        let Some(ctx) = self.sessions.get(&seid) else {
            return Err(Rejection::cause(Cause::SESSION_CONTEXT_NOT_FOUND));
        };
        let old = ctx.rules.clone();
        let mut new = old.clone();
        if let Some(f) = r.cp_f_seid {
            new.cp_f_seid = f;
        }
        if let Some(t) = r.user_plane_inactivity_timer {
            // A new value restarts the timer; 0 stops it.
            new.inactivity_timer_s = (t != 0).then_some(t);
        }
        let mut new_quota: SmallVec<[u32; 2]> = SmallVec::new();
        let mut b = Builder::new(&mut self.res, None, Some((&old, &ctx.choose_ids)));
        let built = (|| {
            for x in &r.remove_pdr {
                Builder::remove(&mut new, RuleRef::Pdr(x.pdr_id))?;
            }
            for x in &r.remove_far {
                Builder::remove(&mut new, RuleRef::Far(x.far_id))?;
            }
            for x in &r.remove_urr {
                Builder::remove(&mut new, RuleRef::Urr(x.urr_id))?;
            }
            for x in &r.remove_qer {
                Builder::remove(&mut new, RuleRef::Qer(x.qer_id))?;
            }
            if let Some(x) = &r.remove_bar {
                Builder::remove(&mut new, RuleRef::Bar(x.bar_id))?;
            }
            if let Some(c) = &r.create_bar {
                Builder::create_bar(&mut new, c)?;
            }
            for c in &r.create_qer {
                Builder::create_qer(&mut new, c)?;
            }
            for c in &r.create_urr {
                Builder::create_urr(&mut new, c)?;
            }
            for c in &r.create_far {
                b.create_far(&mut new, c)?;
            }
            for c in &r.create_pdr {
                b.create_pdr(&mut new, c)?;
            }
            for u in &r.update_pdr {
                b.update_pdr(&mut new, u)?;
            }
            for u in &r.update_far {
                b.update_far(&mut new, u)?;
            }
            for u in &r.update_qer {
                Builder::update_qer(&mut new, u)?;
            }
            for u in &r.update_urr {
                if Builder::update_urr(&mut new, u)? {
                    new_quota.push(u.urr_id);
                }
            }
            if let Some(u) = &r.update_bar {
                Builder::update_bar(&mut new, u)?;
            }
            // Queried URRs must exist.
            for q in &r.query_urr {
                if new.urr(q.urr_id).is_none() {
                    return Err(Rejection::rule(RuleRef::Urr(q.urr_id), t::URR_ID));
                }
            }
            session::validate(&mut new)
        })();
        if let Err(rej) = built {
            b.abandon();
            return Err(rej);
        }
        let session::Finished {
            tentative,
            choose_ids,
            end_markers,
            created_pdrs: created,
        } = b.finish(&new);
        self.res.intern_rules(&mut new);
        let pending = match self.res.claim(seid, Some(&old), &new, &tentative) {
            Ok(p) => p,
            Err(rej) => {
                self.res.rollback(&tentative);
                return Err(rej);
            }
        };
        let removed: SmallVec<[u32; 2]> = r.remove_urr.iter().map(|x| x.urr_id).collect();
        let qaurr = r
            .pfcpsmreq_flags
            .is_some_and(|f| f.contains(PfcpsmReqFlags::QAURR));
        let mut queried: SmallVec<[u32; 4]> = if qaurr {
            new.urrs.iter().map(|u| u.id).collect()
        } else {
            r.query_urr.iter().map(|q| q.urr_id).collect()
        };
        queried.retain(|q| !removed.contains(q));
        if let Err(e) = up.install(&new, Some(&old)) {
            self.res.release(&pending);
            self.res.rollback(&tentative);
            return Err(up_rejection(&e));
        }
        self.res.commit(seid, Some(&old), Some(&new));
        self.res.maybe_gc();
        self.csids.update(seid, &r.fq_csids);
        self.csids
            .update_tags(seid, r.group_id, r.cp_ip_address.as_ref());
        if old.cp_f_seid.seid != new.cp_f_seid.seid {
            // The SMF's SEID changed: index the session by the new one.
            let assoc = self.sessions.get(&seid).map_or(0, |c| c.assoc);
            if self.by_cp.get(&(assoc, old.cp_f_seid.seid)) == Some(&seid) {
                self.by_cp.remove(&(assoc, old.cp_f_seid.seid));
            }
            self.by_cp
                .entry((assoc, new.cp_f_seid.seid))
                .or_insert(seid);
        }
        for (ip, teid) in &end_markers {
            up.send_end_marker(*ip, *teid);
        }
        if r.pfcpsmreq_flags
            .is_some_and(|f| f.contains(PfcpsmReqFlags::DROBU))
        {
            up.drop_buffered(seid);
        }
        let created_pdr = session::created_pdrs(&new, &created);
        let Some(ctx) = self.sessions.get_mut(&seid) else {
            return Err(Rejection::cause(Cause::SESSION_CONTEXT_NOT_FOUND));
        };
        // The removed URRs leave the session now; their last packets are
        // reported with the response (once the user plane's counts of them
        // are final).
        let mut gone: Vec<(crate::rules::Urr, UrrState)> = Vec::new();
        for id in &removed {
            if let (Some(i), Some(u)) = (ctx.urrs.iter().position(|s| s.id == *id), old.urr(*id)) {
                gone.push((u.clone(), ctx.urrs.swap_remove(i)));
            }
        }
        for u in &new.urrs {
            if !ctx.urrs.iter().any(|s| s.id == u.id) {
                ctx.urrs.push(UrrState::new(u.id, now));
            }
        }
        for id in &new_quota {
            if let Some(st) = ctx.urrs.iter_mut().find(|s| s.id == *id) {
                st.reset_quota(now);
            }
        }
        let cp_seid = new.cp_f_seid.seid;
        ctx.rules = new;
        ctx.choose_ids = choose_ids;
        ctx.dl_reported = false;
        self.arm_session(now, seid, Some(&old));
        let work = ParkedWork::Modification {
            removed: gone,
            queried,
            query_ref: r.query_urr_reference,
            created_pdr,
        };
        let needs_final =
            matches!(&work, ParkedWork::Modification { removed, .. } if !removed.is_empty());
        if needs_final && !up.usage_settled(seid) {
            return Err(self.park(now, peer, seq, seid, cp_seid, work));
        }
        Ok(self.complete(now, seq, seid, cp_seid, work, up))
    }

    fn delete<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        seid: u64,
        up: &mut U,
    ) -> Reply {
        self.own_session(peer, seid)?;
        // Out of the user plane first, so that the usage read afterwards
        // is final: nothing counted after it goes unreported.
        let Some(ctx) = self.remove_session(seid, up) else {
            return Err(Rejection::cause(Cause::SESSION_CONTEXT_NOT_FOUND));
        };
        let cp_seid = ctx.rules.cp_f_seid.seid;
        let work = ParkedWork::Deletion {
            rules: ctx.rules,
            urrs: ctx.urrs.into_vec(),
        };
        if !up.usage_settled(seid) {
            return Err(self.park(now, peer, seq, seid, cp_seid, work));
        }
        Ok(self.complete(now, seq, seid, cp_seid, work, up))
    }

    /// Hold the response to a request until the user plane's counters of
    /// what it removed are final ([`UserPlane::usage_settled`]). Returns
    /// the marker that tells `dispatch` not to answer now.
    fn park(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        seq: u32,
        seid: u64,
        cp_seid: u64,
        work: ParkedWork,
    ) -> Rejection {
        self.parked.push_back(Parked {
            peer,
            seq,
            seid,
            cp_seid,
            since: now,
            req_type: self.current_req.0,
            req_hash: self.current_req.1,
            work,
        });
        self.in_progress.insert((peer, seq), ());
        if self.park_retry.is_none() {
            self.park_retry = Some(now + PARK_RETRY);
        }
        Rejection::cause(PARKED)
    }

    /// Build the response of a modification or deletion whose usage
    /// reports can now be read.
    fn complete<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        seq: u32,
        seid: u64,
        cp_seid: u64,
        work: ParkedWork,
        up: &mut U,
    ) -> Pfcp<'static> {
        let clock = self.clock;
        match work {
            ParkedWork::Deletion { rules, mut urrs } => {
                let ids: SmallVec<[u32; 4]> = urrs.iter().map(|u| u.id).collect();
                self.samples.clear();
                up.usage(seid, &ids, &mut self.samples);
                add_samples(&mut urrs, &self.samples);
                let usage_report = urrs
                    .iter_mut()
                    .filter_map(|st| {
                        let u = rules.urr(st.id)?;
                        Some(st.report(u, UsageReportTrigger::TERMR, now, &clock))
                    })
                    .collect();
                Pfcp::session(
                    cp_seid,
                    seq,
                    SessionDeletionResponse {
                        cause: Cause::REQUEST_ACCEPTED,
                        offending_ie: None,
                        usage_report,
                    },
                )
            }
            ParkedWork::Modification {
                mut removed,
                queried,
                query_ref,
                created_pdr,
            } => {
                let mut usage_report: Vec<UsageReport<'static>> = Vec::new();
                if !removed.is_empty() {
                    let ids: SmallVec<[u32; 2]> = removed.iter().map(|(u, _)| u.id).collect();
                    self.samples.clear();
                    up.usage(seid, &ids, &mut self.samples);
                    for (u, st) in &mut removed {
                        add_samples(std::slice::from_mut(st), &self.samples);
                        usage_report.push(st.report(u, UsageReportTrigger::TERMR, now, &clock));
                    }
                }
                self.collect(seid, &queried, up);
                if let Some(ctx) = self.sessions.get_mut(&seid) {
                    for id in &queried {
                        if let (Some(st), Some(u)) = (
                            ctx.urrs.iter_mut().find(|s| s.id == *id),
                            ctx.rules.urrs.iter().find(|u| u.id == *id),
                        ) {
                            let mut r = st.report(u, UsageReportTrigger::IMMER, now, &clock);
                            // TS 29.244 7.5.5.2: a queried report carries
                            // the request's Query URR Reference.
                            r.query_urr_reference = query_ref;
                            usage_report.push(r);
                        }
                    }
                }
                Pfcp::session(
                    cp_seid,
                    seq,
                    SessionModificationResponse {
                        cause: Cause::REQUEST_ACCEPTED,
                        offending_ie: None,
                        created_pdr,
                        usage_report,
                        failed_rule_id: None,
                    },
                )
            }
        }
    }

    /// Send the held responses whose usage is now final, in the order the
    /// requests came. Called from [`Node::handle_timeout`]; call it also
    /// when the user plane knows its counters settled (after reclaiming).
    pub fn resume<U: UserPlane + ?Sized>(&mut self, now: Instant, up: &mut U) {
        while let Some(p) = self.parked.front() {
            // A user plane that never settles must not hold the SMF
            // forever: answer with what it can tell after PARK_MAX.
            let overdue = now.saturating_duration_since(p.since) >= PARK_MAX;
            if !overdue && !up.usage_settled(p.seid) {
                break;
            }
            let Some(p) = self.parked.pop_front() else {
                break;
            };
            if overdue {
                self.stats.parked_overdue += 1;
            }
            self.in_progress.remove(&(p.peer, p.seq));
            let msg = self.complete(now, p.seq, p.seid, p.cp_seid, p.work, up);
            self.respond(now, p.peer, p.req_type, &msg, Some(p.req_hash));
        }
        self.park_retry = (!self.parked.is_empty()).then(|| now + PARK_RETRY);
    }

    /// Responses held for the user plane's final counters.
    #[must_use]
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Forget a session: user plane, resources, indexes. Returns its
    /// context.
    fn remove_session<U: UserPlane + ?Sized>(
        &mut self,
        seid: u64,
        up: &mut U,
    ) -> Option<SessionCtx> {
        let ctx = *self.sessions.remove(&seid)?;
        up.remove(seid);
        self.res.commit(seid, Some(&ctx.rules), None);
        let key = (ctx.assoc, ctx.rules.cp_f_seid.seid);
        if self.by_cp.get(&key) == Some(&seid) {
            self.by_cp.remove(&key);
        }
        self.csids.remove(seid);
        if let Some(a) = self.assocs.get_mut(&ctx.assoc) {
            a.sessions = a.sessions.saturating_sub(1);
        }
        Some(ctx)
    }

    /// Read the user plane's counters for `ids` into the URR states.
    fn collect<U: UserPlane + ?Sized>(&mut self, seid: u64, ids: &[u32], up: &mut U) {
        if ids.is_empty() {
            return;
        }
        self.samples.clear();
        up.usage(seid, ids, &mut self.samples);
        if let Some(ctx) = self.sessions.get_mut(&seid) {
            add_samples(&mut ctx.urrs, &self.samples);
        }
    }

    /// Start the timers of new or changed URRs and enter the session in the
    /// volume polling list if it needs it.
    fn arm_session(&mut self, now: Instant, seid: u64, old: Option<&Session>) {
        let Some(ctx) = self.sessions.get_mut(&seid) else {
            return;
        };
        let mut push = Vec::new();
        for u in &ctx.rules.urrs {
            let before = old.and_then(|o| o.urr(u.id));
            if before == Some(u) {
                continue;
            }
            let Some(st) = ctx.urrs.iter_mut().find(|s| s.id == u.id) else {
                continue;
            };
            let tr = u.reporting_triggers;
            let period_changed = before.is_none_or(|b| {
                b.measurement_period != u.measurement_period
                    || b.reporting_triggers.contains(ReportingTriggers::PERIO)
                        != tr.contains(ReportingTriggers::PERIO)
            });
            if period_changed {
                st.period_gen = st.period_gen.wrapping_add(1);
                if let (true, Some(p)) =
                    (tr.contains(ReportingTriggers::PERIO), u.measurement_period)
                {
                    push.push((
                        now + secs(p),
                        Timer::Periodic {
                            seid,
                            urr: u.id,
                            generation: st.period_gen,
                        },
                    ));
                }
            }
            if let (true, Some(th)) = (tr.contains(ReportingTriggers::TIMTH), u.time_threshold) {
                st.th_gen = st.th_gen.wrapping_add(1);
                push.push((
                    st.since + secs(th),
                    Timer::TimeThreshold {
                        seid,
                        urr: u.id,
                        generation: st.th_gen,
                    },
                ));
            }
            if let (true, Some(q), false) = (
                tr.contains(ReportingTriggers::TIMQU),
                u.time_quota,
                u.quota_exhausted,
            ) {
                st.quota_gen = st.quota_gen.wrapping_add(1);
                push.push((
                    st.quota_since + secs(q),
                    Timer::TimeQuota {
                        seid,
                        urr: u.id,
                        generation: st.quota_gen,
                    },
                ));
            }
        }
        let timer = ctx.rules.inactivity_timer_s;
        if old.is_none_or(|o| o.inactivity_timer_s != timer) {
            ctx.inactivity_gen = ctx.inactivity_gen.wrapping_add(1);
            if let Some(t) = timer {
                push.push((
                    now + secs(t),
                    Timer::Inactivity {
                        seid,
                        generation: ctx.inactivity_gen,
                        reported: false,
                    },
                ));
            }
        }
        let needs_watch = ctx.rules.urrs.iter().any(|u| {
            u.reporting_triggers
                .intersects(ReportingTriggers::VOLTH | ReportingTriggers::VOLQU)
        });
        if needs_watch && !ctx.watched {
            ctx.watched = true;
            self.watch.push(seid);
            if self.next_usage_tick.is_none() {
                self.next_usage_tick = Some(now + self.cfg.usage_poll_interval / 10);
            }
        }
        for p in push {
            self.timers.push(Reverse(p));
        }
    }

    // ---- usage reporting -------------------------------------------------------------------

    /// Poll a tenth of the watched sessions.
    fn usage_tick<U: UserPlane + ?Sized>(&mut self, now: Instant, up: &mut U) {
        let n = self.watch.len().div_ceil(10);
        let mut i = 0;
        while i < n && !self.watch.is_empty() {
            if self.watch_cursor >= self.watch.len() {
                self.watch_cursor = 0;
            }
            let seid = self.watch[self.watch_cursor];
            let still = self.sessions.get(&seid).is_some_and(|c| {
                c.rules.urrs.iter().any(|u| {
                    u.reporting_triggers
                        .intersects(ReportingTriggers::VOLTH | ReportingTriggers::VOLQU)
                })
            });
            if still {
                self.poll_volume(now, seid, up);
                self.watch_cursor += 1;
            } else {
                self.watch.swap_remove(self.watch_cursor);
                if let Some(c) = self.sessions.get_mut(&seid) {
                    c.watched = false;
                }
            }
            i += 1;
        }
        self.next_usage_tick = (!self.watch.is_empty())
            .then(|| now + (self.cfg.usage_poll_interval / 10).max(Duration::from_millis(1)));
    }

    fn poll_volume<U: UserPlane + ?Sized>(&mut self, now: Instant, seid: u64, up: &mut U) {
        let ids: SmallVec<[u32; 4]> = match self.sessions.get(&seid) {
            Some(c) => c
                .rules
                .urrs
                .iter()
                .filter(|u| {
                    u.reporting_triggers
                        .intersects(ReportingTriggers::VOLTH | ReportingTriggers::VOLQU)
                })
                .map(|u| u.id)
                .collect(),
            None => return,
        };
        self.collect(seid, &ids, up);
        let triggers: SmallVec<[(u32, UsageReportTrigger); 2]> = match self.sessions.get(&seid) {
            Some(c) => ids
                .iter()
                .filter_map(|id| {
                    let u = c.rules.urr(*id)?;
                    let st = c.urrs.iter().find(|s| s.id == *id)?;
                    st.volume_trigger(u).map(|t| (*id, t))
                })
                .collect(),
            None => return,
        };
        if !triggers.is_empty() {
            self.usage_reports(now, seid, &triggers, up);
        }
    }

    /// Send a Session Report Request with a usage report for each URR;
    /// quota triggers mark the URR exhausted and re-install the session.
    fn usage_reports<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        seid: u64,
        triggers: &[(u32, UsageReportTrigger)],
        up: &mut U,
    ) {
        let clock = self.clock;
        let Some(ctx) = self.sessions.get_mut(&seid) else {
            return;
        };
        let quota_hit = triggers
            .iter()
            .any(|(_, t)| *t == UsageReportTrigger::VOLQU || *t == UsageReportTrigger::TIMQU);
        let before = quota_hit.then(|| ctx.rules.clone());
        let mut reports = Vec::new();
        let mut exhausted = false;
        let mut rearm = Vec::new();
        for (id, trig) in triggers {
            let quota = *trig == UsageReportTrigger::VOLQU || *trig == UsageReportTrigger::TIMQU;
            let Some(u) = ctx.rules.urrs.iter_mut().find(|u| u.id == *id) else {
                continue;
            };
            let Some(st) = ctx.urrs.iter_mut().find(|s| s.id == *id) else {
                continue;
            };
            reports.push(st.report(u, *trig, now, &clock));
            if quota && !u.quota_exhausted {
                // This session's copy only (the rule may be shared).
                std::sync::Arc::make_mut(u).quota_exhausted = true;
                exhausted = true;
            }
            if let (true, Some(th)) = (
                u.reporting_triggers.contains(ReportingTriggers::TIMTH),
                u.time_threshold,
            ) {
                rearm.push((
                    now + secs(th),
                    Timer::TimeThreshold {
                        seid,
                        urr: u.id,
                        generation: st.th_gen,
                    },
                ));
            }
        }
        if exhausted {
            // The user plane stops the traffic of PDRs using this URR.
            if let Err(error) = up.install(&ctx.rules, before.as_ref()) {
                self.event(Event::UserPlaneError { seid, error });
            }
        }
        for r in rearm {
            self.timers.push(Reverse(r));
        }
        if reports.is_empty() {
            return;
        }
        let msg = SessionReportRequest {
            report_type: ReportType::USAR,
            downlink_data_report: None,
            usage_report: reports,
            error_indication_report: None,
            pfcpsrreq_flags: None,
            old_cp_f_seid: None,
        };
        self.send_report(now, seid, msg);
    }

    fn urr_timer<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        at: Instant,
        timer: Timer,
        up: &mut U,
    ) {
        let (Timer::Periodic {
            seid,
            urr,
            generation,
        }
        | Timer::TimeThreshold {
            seid,
            urr,
            generation,
        }
        | Timer::TimeQuota {
            seid,
            urr,
            generation,
        }) = timer
        else {
            return;
        };
        let live = self.sessions.get(&seid).and_then(|c| {
            let st = c.urrs.iter().find(|s| s.id == urr)?;
            let u = c.rules.urr(urr)?;
            match timer {
                Timer::Periodic { .. } => (st.period_gen == generation)
                    .then_some(u.measurement_period)
                    .flatten()
                    .map(|p| (UsageReportTrigger::PERIO, Some(p))),
                Timer::TimeThreshold { .. } => {
                    (st.th_gen == generation).then_some((UsageReportTrigger::TIMTH, None))
                }
                _ => (st.quota_gen == generation && !u.quota_exhausted)
                    .then_some((UsageReportTrigger::TIMQU, None)),
            }
        });
        let Some((trigger, period)) = live else {
            return;
        };
        if let Some(p) = period {
            // Periodic reports keep their own cadence, whatever else is reported.
            let next = (at + secs(p)).max(now);
            self.timers.push(Reverse((
                next,
                Timer::Periodic {
                    seid,
                    urr,
                    generation,
                },
            )));
        }
        self.collect(seid, &[urr], up);
        self.usage_reports(now, seid, &[(urr, trigger)], up);
    }

    /// The User Plane Inactivity Timer of `seid` expired (`reported:
    /// None`) or, after a report, its wait for traffic did. The user plane
    /// says when the session's last packet was; the check is pushed back
    /// to that packet plus the timer while traffic flows, so that the
    /// report goes out when the session has been silent for the whole
    /// period, and once per silent period: after a report the session is
    /// looked at again every period until a packet came, and the timer
    /// restarts from that packet.
    fn inactivity_timer<U: UserPlane + ?Sized>(
        &mut self,
        now: Instant,
        at: Instant,
        seid: u64,
        generation: u32,
        reported: bool,
        up: &mut U,
    ) {
        let Some(t) = self.sessions.get(&seid).and_then(|c| {
            (c.inactivity_gen == generation)
                .then_some(c.rules.inactivity_timer_s)
                .flatten()
        }) else {
            return;
        };
        let period = secs(t);
        let last = up.last_packet(seid).map(|w| self.clock.instant(w).min(now));
        // After a report, looks come exactly a period apart (from the
        // report on): a packet after the previous look is new traffic.
        let silent_since_look =
            reported && last.is_none_or(|l| at.checked_sub(period).is_some_and(|p| l <= p));
        let next = match (silent_since_look, last) {
            // Still silent since the report: look again in a period.
            (true, _) => Some((at + period, true)),
            // Traffic within the period: the timer runs from its last packet.
            (false, Some(l)) if l + period > now => Some((l + period, false)),
            _ => None,
        };
        let (due, reported) = match next {
            Some(n) => n,
            None => {
                self.stats.inactivity_reports += 1;
                let msg = SessionReportRequest {
                    report_type: ReportType::UPIR,
                    downlink_data_report: None,
                    usage_report: Vec::new(),
                    error_indication_report: None,
                    pfcpsrreq_flags: None,
                    old_cp_f_seid: None,
                };
                self.send_report(now, seid, msg);
                (now + period, true)
            }
        };
        self.timers.push(Reverse((
            due,
            Timer::Inactivity {
                seid,
                generation,
                reported,
            },
        )));
    }

    fn report_answered<U: UserPlane + ?Sized>(
        &mut self,
        seid: u64,
        cause: Cause,
        update_bar: Option<&crate::codec::grouped::UpdateBar>,
        drobu: bool,
        up: &mut U,
    ) {
        if cause == Cause::SESSION_CONTEXT_NOT_FOUND {
            // TS 29.244 §6.3.? : the SMF no longer knows the session.
            if self.sessions.contains_key(&seid) {
                let _ = self.remove_session(seid, up);
                self.event(Event::SessionRemoved {
                    seid,
                    reason: RemoveReason::UnknownAtSmf,
                });
            }
            return;
        }
        if drobu && let Some(ctx) = self.sessions.get(&seid) {
            // The rules stay as they are; the user plane drops what the
            // session buffered (it needs the rules again to do so).
            let rules = ctx.rules.clone();
            match up.install(&rules, Some(&rules)) {
                Ok(()) => up.drop_buffered(seid),
                Err(error) => self.event(Event::UserPlaneError { seid, error }),
            }
        }
        if let Some(u) = update_bar {
            let Some(ctx) = self.sessions.get_mut(&seid) else {
                return;
            };
            let mut new = ctx.rules.clone();
            if Builder::update_bar(&mut new, u).is_ok() {
                match up.install(&new, Some(&ctx.rules)) {
                    Ok(()) => ctx.rules = new,
                    Err(error) => self.event(Event::UserPlaneError { seid, error }),
                }
            }
        }
    }

    // ---- sending ---------------------------------------------------------------------------

    fn send_report(&mut self, now: Instant, seid: u64, msg: SessionReportRequest<'static>) {
        let Some(ctx) = self.sessions.get(&seid) else {
            return;
        };
        let cp_seid = ctx.rules.cp_f_seid.seid;
        let f = ctx.rules.cp_f_seid;
        let assoc = self.assocs.get(&ctx.assoc);
        let fseid_dst = || {
            // Both families given: the association's (our N4 socket's).
            let v6_first = assoc.is_some_and(|a| a.addr.is_ipv6());
            let (a, b) = (f.ipv4.map(IpAddr::V4), f.ipv6.map(IpAddr::V6));
            let ip = if v6_first { b.or(a) } else { a.or(b) }?;
            // An associated SMF at that address: where it answers.
            Some(
                self.assoc_by_ip
                    .get(&ip)
                    .and_then(|id| self.assocs.get(id))
                    .map_or(SocketAddr::new(ip, PFCP_PORT), |a| a.req_dst),
            )
        };
        let dst = if ctx.redirected {
            fseid_dst()
        } else {
            assoc.map(|a| a.req_dst).or_else(fseid_dst)
        };
        if let Some(dst) = dst {
            self.request(
                now,
                dst,
                Pfcp::session(cp_seid, 0, msg),
                ReqKind::SessionReport(seid),
            );
        }
    }

    /// Where retransmissions of a request to `dst` alternate with: between
    /// the SMF's source address and its port 8805, when they differ (so an
    /// SMF that answered late on one of them is found again either way).
    fn alternate(&self, dst: SocketAddr) -> Option<SocketAddr> {
        let listener = SocketAddr::new(dst.ip(), PFCP_PORT);
        let source = self
            .assoc_by_ip
            .get(&dst.ip())
            .and_then(|id| self.assocs.get(id))
            .map_or(dst, |a| a.addr);
        if source == listener {
            None
        } else if dst == listener {
            Some(source)
        } else {
            Some(listener)
        }
    }

    /// Send one of our requests, with a fresh sequence number, and keep it
    /// for retransmission.
    fn request(&mut self, now: Instant, dst: SocketAddr, mut msg: Pfcp<'_>, kind: ReqKind) {
        let seq = loop {
            let s = self.next_seq;
            self.next_seq = (self.next_seq + 1) & 0x00ff_ffff;
            if self.next_seq == 0 {
                self.next_seq = 1;
            }
            if !self.requests.contains_key(&s) {
                break s;
            }
        };
        msg.seq = seq;
        if !self.encode(&msg) {
            return;
        }
        let payload = self.enc.clone();
        let t = msg.message.msg_type();
        self.stats.tx[usize::from(t)] += 1;
        self.tx.push_back(Transmit {
            dst,
            payload: payload.clone(),
        });
        let deadline = now + self.cfg.t1;
        self.requests.insert(
            seq,
            Outstanding {
                dst,
                alt: self.alternate(dst),
                payload,
                msg_type: t,
                kind,
                deadline,
                retries: 0,
            },
        );
        self.timers.push(Reverse((deadline, Timer::Request(seq))));
        if let ReqKind::Heartbeat(id) = kind
            && let Some(a) = self.assocs.get_mut(&id)
        {
            a.hb_seq = Some(seq);
        }
    }

    fn fire<U: UserPlane + ?Sized>(&mut self, now: Instant, at: Instant, timer: Timer, up: &mut U) {
        match timer {
            Timer::Request(seq) => {
                let Some(o) = self.requests.get_mut(&seq) else {
                    return;
                };
                if o.deadline != at {
                    return;
                }
                if o.retries < self.cfg.n1 {
                    o.retries += 1;
                    o.deadline = now + self.cfg.t1;
                    if let Some(alt) = o.alt.as_mut() {
                        std::mem::swap(&mut o.dst, alt);
                    }
                    let (dst, payload, deadline, t) =
                        (o.dst, o.payload.clone(), o.deadline, o.msg_type);
                    self.stats.retransmissions += 1;
                    self.stats.tx[usize::from(t)] += 1;
                    self.tx.push_back(Transmit { dst, payload });
                    self.timers.push(Reverse((deadline, Timer::Request(seq))));
                    if let ReqKind::Heartbeat(id) = o.kind
                        && let Some(a) = self.assocs.get_mut(&id)
                    {
                        a.hb_misses += 1;
                    }
                } else if let Some(o) = self.requests.remove(&seq) {
                    self.stats.request_timeouts += 1;
                    let seid = match o.kind {
                        ReqKind::SessionReport(s) => Some(s),
                        _ => None,
                    };
                    self.event(Event::RequestTimedOut {
                        dst: o.dst,
                        msg_type: o.msg_type,
                        seid,
                    });
                    if let ReqKind::Heartbeat(id) = o.kind {
                        self.drop_association(id, DownReason::HeartbeatTimeout, up);
                    }
                }
            }
            Timer::Heartbeat(id) => {
                let Some(a) = self.assocs.get_mut(&id) else {
                    return;
                };
                if a.hb_due != at {
                    return;
                }
                a.hb_due = now + self.cfg.heartbeat_interval;
                let (due, addr, busy) = (a.hb_due, a.req_dst, a.hb_seq.is_some());
                self.timers.push(Reverse((due, Timer::Heartbeat(id))));
                if !busy {
                    let msg = Pfcp::node(
                        0,
                        HeartbeatRequest {
                            recovery_time_stamp: self.recovery,
                        },
                    );
                    self.request(now, addr, msg, ReqKind::Heartbeat(id));
                }
            }
            Timer::Inactivity {
                seid,
                generation,
                reported,
            } => self.inactivity_timer(now, at, seid, generation, reported, up),
            Timer::Periodic { .. } | Timer::TimeThreshold { .. } | Timer::TimeQuota { .. } => {
                self.urr_timer(now, at, timer, up);
            }
        }
    }

    /// Encode into the scratch buffer (no regrowth) and queue an exact copy.
    fn encode(&mut self, msg: &Pfcp<'_>) -> bool {
        self.enc.clear();
        msg.encode(&mut self.enc).is_ok()
    }

    /// Encode and queue; the bytes stay in `self.enc` until the next
    /// encoding. False if the message could not be encoded.
    fn send(&mut self, dst: SocketAddr, msg: &Pfcp<'_>) -> bool {
        if !self.encode(msg) {
            return false;
        }
        self.stats.tx[usize::from(msg.message.msg_type())] += 1;
        self.tx.push_back(Transmit {
            dst,
            payload: self.enc.clone(),
        });
        true
    }

    /// Answer a request; keep the answer for retransmitted copies.
    fn respond(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        req_type: u8,
        msg: &Pfcp<'_>,
        cache: Option<u64>,
    ) {
        if !self.send(peer, msg) {
            return;
        }
        if let Some(req_hash) = cache
            && req_type != msg_type::HEARTBEAT_REQUEST
            && self.cfg.response_cache_max > 0
        {
            let len = self.enc.len();
            while self.cache.len() > 0
                && (self.cache.len() >= self.cfg.response_cache_max
                    || self.cache.over(len, self.cfg.response_cache_bytes))
            {
                self.cache.pop_oldest();
            }
            let expires = now + self.cfg.response_cache_ttl;
            self.cache
                .insert(peer, msg.seq, req_hash, &self.enc, expires);
        }
    }

    /// The rejection answer to a request of type `t`.
    fn rejection(&self, t: u8, seq: u32, cp_seid: u64, rej: Rejection) -> Option<Pfcp<'static>> {
        let node_id = || self.node_id;
        let m: Message<'static> = match t {
            msg_type::ASSOCIATION_SETUP_REQUEST => AssociationSetupResponse {
                node_id: node_id(),
                cause: rej.cause,
                recovery_time_stamp: self.recovery,
                up_function_features: None,
                cp_function_features: None,
                user_plane_ip_resource_information: Vec::new(),
            }
            .into(),
            msg_type::ASSOCIATION_UPDATE_REQUEST => AssociationUpdateResponse {
                node_id: node_id(),
                cause: rej.cause,
                up_function_features: None,
                cp_function_features: None,
            }
            .into(),
            msg_type::ASSOCIATION_RELEASE_REQUEST => AssociationReleaseResponse {
                node_id: node_id(),
                cause: rej.cause,
            }
            .into(),
            msg_type::SESSION_SET_DELETION_REQUEST => SessionSetDeletionResponse {
                node_id: node_id(),
                cause: rej.cause,
                offending_ie: rej.offending_ie,
            }
            .into(),
            msg_type::SESSION_SET_MODIFICATION_REQUEST => SessionSetModificationResponse {
                node_id: node_id(),
                cause: rej.cause,
                offending_ie: rej.offending_ie,
            }
            .into(),
            msg_type::PFD_MANAGEMENT_REQUEST => PfdManagementResponse {
                cause: rej.cause,
                offending_ie: rej.offending_ie,
                node_id: None,
            }
            .into(),
            msg_type::SESSION_ESTABLISHMENT_REQUEST => SessionEstablishmentResponse {
                node_id: Some(node_id()),
                cause: rej.cause,
                offending_ie: rej.offending_ie,
                up_f_seid: None,
                created_pdr: Vec::new(),
                up_fq_csid: None,
                failed_rule_id: rej.failed_rule,
            }
            .into(),
            msg_type::SESSION_MODIFICATION_REQUEST => SessionModificationResponse {
                cause: rej.cause,
                offending_ie: rej.offending_ie,
                created_pdr: Vec::new(),
                usage_report: Vec::new(),
                failed_rule_id: rej.failed_rule,
            }
            .into(),
            msg_type::SESSION_DELETION_REQUEST => SessionDeletionResponse {
                cause: rej.cause,
                offending_ie: rej.offending_ie,
                usage_report: Vec::new(),
            }
            .into(),
            _ => return None,
        };
        let seid = msg_type::is_session(t).then_some(cp_seid);
        Some(Pfcp {
            seid,
            seq,
            priority: None,
            message: m,
        })
    }

    fn note_rejection(&mut self, peer: SocketAddr, msg_type: u8, rej: Rejection) {
        self.stats.rejected += 1;
        self.event(Event::Rejected {
            peer,
            msg_type,
            cause: rej.cause,
            offending_ie: rej.offending_ie,
        });
    }

    fn event(&mut self, e: Event) {
        if self.events.len() >= EVENT_QUEUE_MAX {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.events.push_back(e);
    }
}

fn up_rejection(e: &UpError) -> Rejection {
    let r = Rejection::cause(e.cause());
    match e {
        UpError::Rule { rule, .. } => r.on(*rule),
        UpError::Unsupported { rule, ie, .. } => {
            let r = Rejection::ie(e.cause(), *ie);
            match rule {
                Some(rule) => r.on(*rule),
                None => r,
            }
        }
        _ => r,
    }
}

fn add_samples(states: &mut [UrrState], samples: &[UsageSample]) {
    for s in samples {
        if let Some(st) = states.iter_mut().find(|u| u.id == s.urr_id) {
            st.add(s);
        }
    }
}

fn node_ip(n: &NodeIdBuf) -> Option<IpAddr> {
    match n {
        NodeIdBuf::Ipv4(a) => Some(IpAddr::V4(*a)),
        NodeIdBuf::Ipv6(a) => Some(IpAddr::V6(*a)),
        NodeIdBuf::Fqdn(_) => None,
    }
}
