//! N4 on the control thread: the PFCP node ([`pfcp::Node`], sans-IO) driven
//! with the N4 socket's datagrams and the control thread's clock, reaching
//! the dataplane's control facade through [`userplane::DataplaneUp`].
//!
//! ```text
//!  N4 socket ──datagram──► N4::on_datagram ─► pfcp::Node ─► translate ─► Control::publish
//!            ◄─ N4::poll_transmit ◄─────────┘        usage ◄── Control::usage / reclaim
//!  control loop ──► N4::housekeeping: reclaim, worker events (DL data, Error
//!                   Indication), node timers, End Markers, node events → log
//!  /metrics, /status ◄── N4::fill_telemetry
//! ```
//!
//! [`socket::N4Socket`] is the tokio UDP socket part; [`socket::serve`] runs
//! both on their own for tests and benchmarks.

pub mod socket;
pub mod translate;
pub mod userplane;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use dataplane::control::{Control, FinalUsage};
use dataplane::counters::Event as DpEvent;
use log::{debug, error, info, warn};
use pfcp::codec::ies::{CsidNode, NodeIdBuf, SourceInterface};
use pfcp::codec::message::msg_type;
use pfcp::{Event, GtpuEndpoint, Node, Transmit, UePool};

use crate::api::{
    Association, Direction, FqCsidNode, PfcpOccupancy, PfdApplication, TelemetryModel,
};
use crate::config::Config;
use crate::config::types::NodeId;

pub use translate::{STATIC_SESSION_BIT, pfcp_session_id, static_session_id};
pub use userplane::{DataplaneUp, TscClock, UpStats, UsageBook};

/// How often the control loop should call [`N4::housekeeping`] while
/// responses or End Markers wait for the workers ([`N4::busy`]).
pub const BUSY_TICK: Duration = Duration::from_millis(1);
/// `/status` shows the FQ-CSIDs of at most this many CSID nodes...
const FQ_CSID_NODES_SHOWN: usize = 32;
/// ... and of each, the sets that most sessions carry, at most this many.
const FQ_CSID_SETS_SHOWN: usize = 16;
/// The message types of every N4 exchange, by direction, that
/// `upf_pfcp_messages_total` (and /status) lists with zero counts from the
/// start: a series that appears only with its first message makes
/// `rate()`/`increase()` miss that first increase, and a dashboard or
/// alert on it sees "no data" instead of 0. Other types appear when seen.
const MESSAGES_LISTED_AT_START: [(&str, Direction); 26] = {
    use Direction::{Rx, Tx};
    use msg_type as t;
    [
        // The SMF's requests and our answers.
        (t::name(t::HEARTBEAT_REQUEST), Rx),
        (t::name(t::HEARTBEAT_RESPONSE), Tx),
        (t::name(t::PFD_MANAGEMENT_REQUEST), Rx),
        (t::name(t::PFD_MANAGEMENT_RESPONSE), Tx),
        (t::name(t::ASSOCIATION_SETUP_REQUEST), Rx),
        (t::name(t::ASSOCIATION_SETUP_RESPONSE), Tx),
        (t::name(t::ASSOCIATION_UPDATE_REQUEST), Rx),
        (t::name(t::ASSOCIATION_UPDATE_RESPONSE), Tx),
        (t::name(t::ASSOCIATION_RELEASE_REQUEST), Rx),
        (t::name(t::ASSOCIATION_RELEASE_RESPONSE), Tx),
        (t::name(t::SESSION_SET_DELETION_REQUEST), Rx),
        (t::name(t::SESSION_SET_DELETION_RESPONSE), Tx),
        (t::name(t::SESSION_ESTABLISHMENT_REQUEST), Rx),
        (t::name(t::SESSION_ESTABLISHMENT_RESPONSE), Tx),
        (t::name(t::SESSION_MODIFICATION_REQUEST), Rx),
        (t::name(t::SESSION_MODIFICATION_RESPONSE), Tx),
        (t::name(t::SESSION_DELETION_REQUEST), Rx),
        (t::name(t::SESSION_DELETION_RESPONSE), Tx),
        // Our requests and the SMF's answers.
        (t::name(t::HEARTBEAT_REQUEST), Tx),
        (t::name(t::HEARTBEAT_RESPONSE), Rx),
        (t::name(t::NODE_REPORT_REQUEST), Tx),
        (t::name(t::NODE_REPORT_RESPONSE), Rx),
        (t::name(t::SESSION_REPORT_REQUEST), Tx),
        (t::name(t::SESSION_REPORT_RESPONSE), Rx),
        // Datagrams refused before they are messages (see `fill_telemetry`).
        ("malformed", Rx),
        ("not_allowed", Rx),
    ]
};

/// Why N4 cannot start with a config.
#[derive(Debug, thiserror::Error)]
pub enum N4Error {
    /// The config has no `pfcp.listen`.
    #[error("pfcp.listen is not set: N4 is off")]
    Disabled,
    /// The node refuses the settings derived from the config.
    #[error("PFCP settings: {0}")]
    Config(#[from] pfcp::ConfigError),
}

fn node_id(n: &NodeId) -> NodeIdBuf {
    match n {
        NodeId::Ip(IpAddr::V4(a)) => NodeIdBuf::Ipv4(*a),
        NodeId::Ip(IpAddr::V6(a)) => NodeIdBuf::Ipv6(*a),
        NodeId::Fqdn(f) => NodeIdBuf::Fqdn(f.clone()),
    }
}

/// The PFCP node's settings from the appliance config: Node ID, timers,
/// allowed SMFs, TEID range and N3/N9 addresses for CHOOSE, UE pools with
/// static sessions' addresses reserved, session capacity left by static
/// sessions. `recovery` is the process start (Recovery Time Stamp).
///
/// # Errors
/// [`N4Error::Disabled`] without `pfcp.listen`.
pub fn pfcp_config(cfg: &Config, recovery: SystemTime) -> Result<pfcp::Config, N4Error> {
    let listen = cfg.pfcp.listen.ok_or(N4Error::Disabled)?;
    let mut c = pfcp::Config::new(node_id(&cfg.node_id));
    // The UP F-SEID names where the SMF sends this session's requests
    // (commercial SMFs route session messages by it): the N4 address
    // whenever `pfcp.listen` is a specific one, even when the Node ID is an
    // IP address of another interface (config/demo.yaml: Node ID = N3
    // address, N4 on its own link). A wildcard listen keeps the Node ID's
    // address, or N3's for an FQDN.
    match listen.ip() {
        IpAddr::V4(a) if !a.is_unspecified() => (c.f_seid_ipv4, c.f_seid_ipv6) = (Some(a), None),
        IpAddr::V6(a) if !a.is_unspecified() => (c.f_seid_ipv4, c.f_seid_ipv6) = (None, Some(a)),
        _ if matches!(cfg.node_id, NodeId::Fqdn(_)) => {
            c.f_seid_ipv4 = cfg.interfaces.n3.ipv4.map(|n| n.addr());
            c.f_seid_ipv6 = cfg.interfaces.n3.ipv6.map(|n| n.addr());
        }
        _ => {}
    }
    c.recovery_time_stamp = recovery;
    c.heartbeat_interval = cfg.pfcp.heartbeat_interval;
    c.t1 = cfg.pfcp.request_timeout;
    c.n1 = u32::from(cfg.pfcp.request_retries).max(1);
    (c.allowed_peers, c.allowed_peer_nets) = allowed_peers(cfg);
    c.teid_first = cfg.teid_range.first;
    c.teid_last = cfg.teid_range.last;
    c.gtpu = std::iter::once((SourceInterface::ACCESS, &cfg.interfaces.n3))
        .chain(cfg.interfaces.n9.iter().map(|i| (SourceInterface::CORE, i)))
        .map(|(interface, i)| GtpuEndpoint {
            interface,
            ipv4: i.ipv4.map(|n| n.addr()),
            ipv6: i.ipv6.map(|n| n.addr()),
            network_instance: None,
        })
        .collect();
    c.ue_pools = cfg
        .ue_pools
        .iter()
        .map(|p| UePool {
            prefix: p.cidr.network(),
            prefix_len: p.cidr.prefix_len(),
            dnn: Some(p.dnn.clone()),
            network_instance: None,
            ue_prefix_len: 64,
        })
        .collect();
    c.reserved_ue_ips = cfg.reserved_ue_ips();
    c.max_sessions = usize::try_from(cfg.dataplane.max_sessions)
        .unwrap_or(usize::MAX)
        .saturating_sub(cfg.sessions.len());
    Ok(c)
}

/// `pfcp.peers` as the node's allowlist: host routes as addresses, the
/// rest as networks.
fn allowed_peers(cfg: &Config) -> (Vec<IpAddr>, Vec<(IpAddr, u8)>) {
    let mut hosts = Vec::new();
    let mut nets = Vec::new();
    for n in &cfg.pfcp.peers {
        if n.prefix_len() == n.max_prefix_len() {
            hosts.push(n.addr());
        } else {
            nets.push((n.network(), n.prefix_len()));
        }
    }
    (hosts, nets)
}

/// Dataplane bookkeeping that is not N4's, handed back by
/// [`N4::housekeeping`] to whoever else needs it.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Final usage of static sessions' URRs.
    pub finals: Vec<FinalUsage>,
    /// Worker events N4 does not act on (neighbours learned, echo
    /// responses, and N4 datagrams received through the DPDK port, which
    /// `socket::N4Endpoint::take` hands back to N4).
    pub events: Vec<DpEvent>,
}

/// The N4 driver: the PFCP node plus the user plane bookkeeping. The
/// dataplane's [`Control`] stays with the control loop and is lent to each
/// call.
pub struct N4 {
    node: Node,
    book: UsageBook,
    /// SMF that answered nothing so far does not matter here; kept for logs.
    started: Instant,
}

impl std::fmt::Debug for N4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("N4")
            .field("sessions", &self.node.session_count())
            .field("associations", &self.node.associations().len())
            .finish_non_exhaustive()
    }
}

impl N4 {
    /// A driver for a node configured with `cfg`, over a dataplane of
    /// `workers` workers whose TSC `clock` converts to wall time.
    ///
    /// # Errors
    /// When the node refuses `cfg`.
    pub fn new(
        cfg: pfcp::Config,
        workers: usize,
        clock: TscClock,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Self, N4Error> {
        Ok(Self {
            node: Node::new(cfg, now, wall)?,
            book: UsageBook::new(clock, workers),
            started: now,
        })
    }

    /// Map the dataplane's TSC time stamps with `clock` from now on (the
    /// control thread re-anchors it every second, see
    /// [`TscClock::reanchored`]).
    pub fn set_tsc_clock(&mut self, clock: TscClock) {
        self.book.set_clock(clock);
    }

    /// A driver for the appliance config (see [`pfcp_config`]).
    ///
    /// # Errors
    /// [`N4Error::Disabled`] without `pfcp.listen`, or settings the node
    /// refuses.
    pub fn from_config(
        cfg: &Config,
        workers: usize,
        clock: TscClock,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Self, N4Error> {
        Self::new(pfcp_config(cfg, wall)?, workers, clock, now, wall)
    }

    fn up<'a>(book: &'a mut UsageBook, ctl: &'a mut Control, now: Instant) -> DataplaneUp<'a> {
        book.now = Some(now);
        DataplaneUp { ctl, book, now }
    }

    /// One datagram received on the N4 socket from `from`. The rule
    /// changes it causes are staged; [`N4::poll_transmit`] (or
    /// [`N4::flush`]) publishes them, before any answer leaves, in one
    /// batch with those of the other datagrams of the burst.
    pub fn on_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8], ctl: &mut Control) {
        let mut up = Self::up(&mut self.book, ctl, now);
        self.node.handle(now, from, bytes, &mut up);
    }

    /// Publishes the staged rule changes to the workers (one batch).
    /// Waits (returns `false`, changes kept) while the workers have not
    /// taken the previous batch, up to `userplane::PUBLISH_WAIT`: the
    /// batch grows meanwhile and the dataplane updates its tables in place.
    pub fn flush(&mut self, ctl: &mut Control) -> bool {
        self.book.flush(ctl)
    }

    /// Timers: retransmissions, heartbeats, usage polling and reports,
    /// responses held for final usage, End Markers.
    pub fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        let mut up = Self::up(&mut self.book, ctl, now);
        self.node.handle_timeout(now, &mut up);
        self.book.flush(ctl);
        self.book.flush_end_markers(now, ctl);
    }

    /// When [`N4::on_timeout`] (or [`N4::housekeeping`]) is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.node.poll_timeout()
    }

    /// Whether responses or End Markers wait for the workers: the control
    /// loop should then reclaim and call [`N4::housekeeping`] every
    /// [`BUSY_TICK`].
    #[must_use]
    pub fn busy(&self) -> bool {
        self.node.parked() > 0
            || self.book.end_markers_pending() > 0
            || self.book.awaiting_final() > 0
            || self.book.staged()
    }

    /// The next datagram to send (to its `dst`). Publishes staged rule
    /// changes first: an SMF never hears "accepted" before the workers
    /// can see the rules.
    pub fn poll_transmit(&mut self, ctl: &mut Control) -> Option<Transmit> {
        if self.book.staged() && !self.book.flush(ctl) {
            return None;
        }
        self.node.poll_transmit()
    }

    /// Worker events: the first downlink packet of a buffering/notifying
    /// FAR becomes a Downlink Data Report, an Error Indication from a gNB a
    /// Session Report (ERIR). Returns the events N4 does not act on.
    pub fn on_dataplane_events(&mut self, now: Instant, events: Vec<DpEvent>) -> Vec<DpEvent> {
        let mut rest = Vec::new();
        for e in events {
            match e {
                DpEvent::DownlinkData {
                    session,
                    pdr_id,
                    qfi,
                } if session & STATIC_SESSION_BIT == 0 => {
                    if self.node.downlink_data(now, session, pdr_id, qfi) {
                        debug!("session {session:#x}: Downlink Data Report (PDR {pdr_id})");
                    }
                }
                DpEvent::ErrorIndication { teid, peer } => {
                    // Logged by the caller (rate-limited): passed on.
                    let n = self.node.error_indication(now, peer, teid);
                    debug!(
                        "GTP-U Error Indication from {peer} for TEID {teid:#x}: reported for {n} session(s)"
                    );
                    rest.push(e);
                }
                other => rest.push(other),
            }
        }
        rest
    }

    /// Final counts from `Control::reclaim`: N4's are booked (and held
    /// responses answered if they can be); the others are returned.
    pub fn on_reclaimed(
        &mut self,
        now: Instant,
        finals: Vec<FinalUsage>,
        ctl: &mut Control,
    ) -> Vec<FinalUsage> {
        let others = self.book.reclaimed(now, finals);
        if self.node.parked() > 0 {
            let mut up = Self::up(&mut self.book, ctl, now);
            self.node.resume(now, &mut up);
            self.book.flush(ctl);
        }
        others
    }

    /// Everything periodic in one call, for a control loop that has N4:
    /// reclaim retired snapshots (instead of calling `Control::reclaim`
    /// itself), act on worker events, run due timers, flush End Markers
    /// and log node events. Call it every [`BUSY_TICK`] while
    /// [`N4::busy`], at [`N4::poll_timeout`], and at least every 10 ms.
    pub fn housekeeping(&mut self, now: Instant, ctl: &mut Control) -> Leftovers {
        self.book.now = Some(now);
        let finals = ctl.reclaim();
        let finals = self.on_reclaimed(now, finals, ctl);
        let events = ctl.drain_events();
        let events = if events.is_empty() {
            events
        } else {
            self.on_dataplane_events(now, events)
        };
        self.book.flush(ctl);
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.on_timeout(now, ctl);
        } else {
            self.book.flush_end_markers(now, ctl);
        }
        self.log_events();
        Leftovers { finals, events }
    }

    /// Applies a reloaded config's live PFCP settings: allowed SMFs,
    /// heartbeat and retransmission timers, TEID range, UE pools and the
    /// UE addresses static sessions reserve. PFCP sessions are untouched:
    /// what they use stays theirs, and an SMF the new allowlist leaves out
    /// keeps its association and sessions until it releases them (or fails
    /// heartbeats); only new associations from it are refused
    /// ([`pfcp::Node::set_allowed_peers`]). Call it after the dataplane
    /// took the new static sessions (it refuses a static session whose
    /// keys a PFCP session holds). Returns the node IDs of the SMFs kept
    /// that way.
    ///
    /// # Errors
    /// Settings the node refuses (then the allowlist did not change).
    pub fn reconfigure(&mut self, cfg: &Config) -> Result<Vec<NodeIdBuf>, N4Error> {
        let c = pfcp_config(cfg, SystemTime::now())?;
        self.node.set_timers(c.heartbeat_interval, c.t1, c.n1)?;
        self.node.set_resources(&c)?;
        let kept = self
            .node
            .set_allowed_peers(c.allowed_peers.clone(), c.allowed_peer_nets.clone());
        for id in &kept {
            warn!(
                "reload: SMF {id:?} is no longer in pfcp.peers; its association and sessions are kept until it releases them, new associations from it will be refused"
            );
        }
        Ok(kept)
    }

    /// Node events to the log.
    pub fn log_events(&mut self) {
        while let Some(e) = self.node.poll_event() {
            match e {
                Event::AssociationUp { node_id, addr } => {
                    info!("PFCP association with {node_id:?} ({addr}) up");
                }
                Event::AssociationDown {
                    node_id,
                    reason,
                    sessions_removed,
                } => warn!(
                    "PFCP association with {node_id:?} down ({reason:?}): {sessions_removed} session(s) removed"
                ),
                Event::SessionRemoved { seid, reason } => {
                    info!("PFCP session {seid:#x} removed ({reason:?})");
                }
                Event::SessionSetDeleted {
                    node_id,
                    sessions_removed,
                } => warn!(
                    "PFCP Session Set Deletion from {node_id:?}: {sessions_removed} session(s) removed"
                ),
                Event::SessionSetModified {
                    node_id,
                    alternative,
                    moved_to,
                    sessions_modified,
                } => warn!(
                    "PFCP Session Set Modification from {node_id:?}: {sessions_modified} session(s) now report to {}{}{} (association {moved_to:?})",
                    alternative.ipv4.map_or_else(String::new, |a| a.to_string()),
                    if alternative.ipv4.is_some() && alternative.ipv6.is_some() {
                        " / "
                    } else {
                        ""
                    },
                    alternative.ipv6.map_or_else(String::new, |a| a.to_string()),
                ),
                Event::RequestTimedOut {
                    dst,
                    msg_type,
                    seid,
                } => warn!(
                    "PFCP {} to {dst} unanswered after retransmissions (session {seid:?})",
                    msg_type::name(msg_type)
                ),
                Event::Rejected {
                    peer,
                    msg_type,
                    cause,
                    offending_ie,
                } => info!(
                    "PFCP {} from {peer} rejected: cause {} ({}){}",
                    msg_type::name(msg_type),
                    cause.0,
                    cause.name(),
                    offending_ie.map_or_else(String::new, |ie| format!(
                        ", offending IE {ie} ({})",
                        pfcp::codec::ie_type::name(ie)
                    ))
                ),
                Event::UserPlaneError { seid, error } => {
                    error!("PFCP session {seid:#x}: the dataplane refused an update: {error}");
                }
            }
        }
    }

    /// Lists the message types of every N4 exchange at 0 in the telemetry
    /// model (see [`MESSAGES_LISTED_AT_START`]); once, when N4 starts:
    /// [`N4::fill_telemetry`] only ever raises counts, it removes none.
    pub fn list_messages_at_start(m: &mut TelemetryModel) {
        for (ty, dir) in MESSAGES_LISTED_AT_START {
            m.pfcp_messages.entry((ty.to_owned(), dir)).or_insert(0);
        }
    }

    /// Puts PFCP's figures into the telemetry model: PFCP sessions,
    /// messages by type and direction (plus `malformed` and `not_allowed`
    /// datagrams received), associations.
    pub fn fill_telemetry(&self, m: &mut TelemetryModel) {
        m.pfcp_sessions = self.node.session_count() as u64;
        let st = self.node.stats();
        for (ty, dir, n) in st.messages() {
            let dir = match dir {
                pfcp::Direction::Rx => Direction::Rx,
                pfcp::Direction::Tx => Direction::Tx,
            };
            *m.pfcp_message_mut(ty, dir) = n;
        }
        for (ty, n) in [
            ("malformed", st.rx_malformed),
            ("not_allowed", st.rx_not_allowed),
        ] {
            if n > 0 {
                *m.pfcp_message_mut(ty, Direction::Rx) = n;
            }
        }
        m.associations = self
            .node
            .associations()
            .into_iter()
            .map(|a| Association {
                node_id: match &a.node_id {
                    NodeIdBuf::Ipv4(x) => x.to_string(),
                    NodeIdBuf::Ipv6(x) => x.to_string(),
                    NodeIdBuf::Fqdn(f) => f.clone(),
                },
                address: a.addr,
                established: a.since,
                last_heartbeat: a.last_heartbeat,
                sessions: a.sessions as u64,
            })
            .collect();
        m.fq_csid_nodes = self
            .node
            .fq_csid_sets(FQ_CSID_NODES_SHOWN, FQ_CSID_SETS_SHOWN)
            .into_iter()
            .map(|c| FqCsidNode {
                node: match c.node {
                    CsidNode::Ipv4(a) => a.to_string(),
                    CsidNode::Ipv6(a) => a.to_string(),
                    // TS 29.244 §8.2.43 Node-ID Type 2: MCC*1000+MNC in
                    // the top 20 bits, a node number in the low 12.
                    CsidNode::Plmn(x) => format!("plmn:{}:{}", x >> 12, x & 0xfff),
                },
                csids: c.csids as u64,
                sets: c
                    .sets
                    .into_iter()
                    .map(|(csid, n)| (csid, u64::from(n)))
                    .collect(),
            })
            .collect();
        m.pfcp_occupancy = Some(self.occupancy());
        m.fq_csid_sessions = self.node.sessions_with_csids() as u64;
        m.fq_csids_dropped = self.node.csids_dropped();
        m.set_deleted_sessions = st.set_deleted_sessions;
        m.set_modified_sessions = st.set_modified_sessions;
        let table = self.node.pfd_table();
        m.pfd_applications = table
            .applications()
            .map(|app| {
                let pfds = table.get(app).unwrap_or_default();
                let sum =
                    |f: fn(&pfcp::pfd::Pfd) -> usize| pfds.iter().map(f).sum::<usize>() as u64;
                PfdApplication {
                    application_id: String::from_utf8_lossy(app).into_owned(),
                    pfds: pfds.len() as u64,
                    flow_descriptions: sum(|p| p.flow_descriptions.len()),
                    urls: sum(|p| p.urls.len()),
                    domain_names: sum(|p| p.domain_names.len()),
                    custom: sum(|p| usize::from(p.custom_pfd_content.is_some())),
                    enforceable: pfds.iter().all(pfcp::pfd::Pfd::is_flow_only),
                }
            })
            .collect();
    }

    /// What the node and the usage books hold now (O(UE pools)).
    #[must_use]
    pub fn occupancy(&self) -> PfcpOccupancy {
        let o = self.node.occupancy();
        let n = |x: usize| x as u64;
        PfcpOccupancy {
            sessions: n(o.sessions),
            cp_seid_index: n(o.cp_seid_index),
            associations: n(o.associations),
            requests_in_flight: n(o.requests_in_flight),
            response_cache: n(o.response_cache),
            timers: n(o.timers),
            parked_responses: n(o.parked),
            requests_in_progress: n(o.in_progress),
            watched_sessions: n(o.watched_sessions),
            tx_queue: n(o.tx_queue),
            event_queue: n(o.event_queue),
            teids_allocated: o.teids_allocated,
            teid_owners: n(o.teid_owners),
            ue_ips_allocated: o.ue_ips_allocated,
            ue_ip_owners: n(o.ue_ip_owners),
            tunnels: n(o.tunnels),
            interned: n(o.interned),
            csid_sessions: n(o.csid_sessions),
            csid_sets: n(o.csid_sets),
            csid_tagged_sessions: n(o.csid_tagged_sessions),
            csid_interned: n(o.csid_interned),
            pfd_applications: n(o.pfd_applications),
            pfds: n(o.pfds),
            usage_books: n(self.book.len()),
            urrs_leaving: n(self.book.leaving()),
            urrs_awaiting_final: n(self.book.awaiting_final()),
            end_markers_pending: n(self.book.end_markers_pending()),
        }
    }

    /// The PFCP node (sessions, associations, statistics).
    #[must_use]
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The PFCP node, to change settings on reload
    /// ([`Node::set_allowed_peers`], [`Node::reserve_ue_ip`]).
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// Sessions with usage bookkeeping (a report made, URRs leaving, or
    /// removed and waiting for final counts): fresh sessions have none.
    #[must_use]
    pub fn books(&self) -> usize {
        self.book.len()
    }

    /// The user plane adapter's counters.
    #[must_use]
    pub fn up_stats(&self) -> UpStats {
        self.book.stats
    }

    /// Time since the driver started.
    #[must_use]
    pub fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::config::{HostInfo, parse};

    fn config(node_id: &str, listen: &str) -> Config {
        let text = format!(
            "node_id: {node_id}\n\
             cores: {{ control: 0, workers: [1] }}\n\
             interfaces:\n  \
               n3: {{ device: net_null0, address: 192.168.1.1/24 }}\n  \
               n6: {{ device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }}\n\
             pfcp: {{ listen: '{listen}' }}\n"
        );
        parse(&text, "t.yaml", Some(&HostInfo::with_cpus(4))).unwrap()
    }

    /// SMFs that route a session's requests by the UP F-SEID (commercial
    /// SMFs; suite 42's SD-Core and Open5GS replays check the address):
    /// with the Node ID on N3 and N4 on its own address (config/demo.yaml),
    /// the F-SEID must carry the N4 address, which answers PFCP.
    #[test]
    fn f_seid_carries_the_n4_listen_address() {
        let c = pfcp_config(&config("192.168.1.1", "10.100.0.1:8805"), SystemTime::now()).unwrap();
        assert_eq!(c.f_seid_ipv4, Some(Ipv4Addr::new(10, 100, 0, 1)));
        assert_eq!(c.f_seid_ipv6, None);
        let c = pfcp_config(
            &config("upf.example.org", "10.100.0.1:8805"),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(c.f_seid_ipv4, Some(Ipv4Addr::new(10, 100, 0, 1)));
        // A wildcard listen: the Node ID's address, or N3's for an FQDN.
        let c = pfcp_config(&config("192.168.1.1", "0.0.0.0:8805"), SystemTime::now()).unwrap();
        assert_eq!(c.f_seid_ipv4, Some(Ipv4Addr::new(192, 168, 1, 1)));
        let c = pfcp_config(
            &config("upf.example.org", "0.0.0.0:8805"),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(c.f_seid_ipv4, Some(Ipv4Addr::new(192, 168, 1, 1)));
    }
}
