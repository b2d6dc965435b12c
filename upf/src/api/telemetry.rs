//! The numbers and facts the HTTP API serves, as a plain struct that the
//! control thread fills in (from dataplane counters every ≤ 100 ms, from
//! PFCP events as they happen, from reload). The API reads a consistent
//! copy on each request; workers never touch it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Lifecycle of the appliance, as `/status` reports it. `/status` answers
/// 200 only in `Running` so that it can serve as a readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunState {
    #[default]
    Starting,
    Running,
    Stopping,
}

impl RunState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
        }
    }
}

/// Counters of one port (`name` is the config key: n3, n6, n9). Bytes are
/// frame bytes as the port counts them (Ethernet header, no CRC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    pub name: String,
    pub device: String,
    /// The interface's own addresses with prefix, as text.
    pub addresses: Vec<String>,
    /// The port's MAC address (`02:70:63:61:70:00`), once the port is open.
    pub mac: Option<String>,
    /// `None` until the port reports link status.
    pub link_up: Option<bool>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Dropped by the NIC for want of rx descriptors (`imissed`).
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// Counters of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Position in `cores.workers` (= its rx/tx queue index).
    pub index: u32,
    pub lcore: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Polls that returned packets / returned none: their ratio is the
    /// worker's load.
    pub busy_polls: u64,
    pub idle_polls: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Rx,
    Tx,
}

impl Direction {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rx => "rx",
            Self::Tx => "tx",
        }
    }
}

/// A PFCP association with a control-plane peer (an SMF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The peer's Node ID as text (IP or FQDN).
    pub node_id: String,
    pub address: SocketAddr,
    pub established: SystemTime,
    pub last_heartbeat: Option<SystemTime>,
    pub sessions: u64,
}

/// The PFDs an SMF provisioned for one Application ID (PFD Management);
/// `/status` shows it as is (`pfcp.pfd_applications`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PfdApplication {
    /// The Application ID as text (lossy UTF-8 of its bytes).
    pub application_id: String,
    pub pfds: u64,
    pub flow_descriptions: u64,
    pub urls: u64,
    pub domain_names: u64,
    pub custom: u64,
    /// Whether a PDR may name it: every PFD is flow descriptions only
    /// (matched as SDF filters); URL, domain-name and custom PFDs need
    /// payload inspection, which the UPF does not do.
    pub enforceable: bool,
}

/// The FQ-CSIDs sessions carry, per CSID node address (the SGW-C, MME,
/// PGW-C/SMF, ... that allocated them); `/status` shows it as is under
/// `pfcp.fq_csids.nodes`. Bounded: at most 32 nodes, 16 sets each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FqCsidNode {
    /// The node address as text (IPv4, IPv6, or `plmn:<MCC*1000+MNC>:<node>`).
    pub node: String,
    /// Distinct CSIDs of this node that sessions carry.
    pub csids: u64,
    /// (CSID, sessions carrying it), most sessions first; at most 16.
    #[serde(serialize_with = "sets_as_objects")]
    pub sets: Vec<(u16, u64)>,
}

fn sets_as_objects<S: serde::Serializer>(sets: &[(u16, u64)], s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Set {
        csid: u16,
        sessions: u64,
    }
    s.collect_seq(sets.iter().map(|&(csid, sessions)| Set { csid, sessions }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReloadResult {
    /// Everything in the new file is in effect.
    Applied,
    /// The file was invalid, or changed a restart-only setting: nothing
    /// changed (see `reload` for the all-or-nothing policy).
    Rejected,
}

impl ReloadResult {
    pub const ALL: [Self; 2] = [Self::Applied, Self::Rejected];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadRecord {
    pub at: SystemTime,
    pub result: ReloadResult,
    /// One line: the diff summary, or the first error.
    pub summary: String,
    /// From trigger to applied.
    pub duration: Duration,
    /// What started it and where the time went; `None` for a reload that
    /// did not get as far as a validated file.
    pub details: Option<ReloadDetails>,
}

/// The parts of a reload that got as far as a validated file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadDetails {
    /// `signal` (SIGHUP) or `watch` (the file changed).
    pub trigger: &'static str,
    pub sessions_added: u64,
    pub sessions_removed: u64,
    pub sessions_changed: u64,
    /// Reading, parsing and validating the file (what `upf check` does).
    pub parse: Duration,
    /// Comparing it with the running config.
    pub diff: Duration,
    /// Translating the changed sessions into the dataplane's rules (on
    /// the reload's helper thread, like parse and diff).
    pub translate: Duration,
    /// On the control thread: publishing one snapshot, the PFCP settings
    /// and the log level.
    pub apply: Duration,
    /// Of `apply`: the dataplane publish alone.
    pub publish: Duration,
    /// The longest gap between two polls of any worker from just before
    /// the publish until every worker ran the new snapshot (filled in a
    /// tick later; `None` until then or when not measured).
    pub max_poll_gap: Option<Duration>,
    /// How often the kernel preempted the workers in that window (another
    /// process on their cores); `None` when unknown.
    pub worker_preemptions: Option<u64>,
}

/// What the dataplane's control side holds (`/status` `occupancy.dataplane`;
/// see `dataplane::control::Occupancy`). Kept up to date by the control
/// thread every telemetry tick; each figure is a counter read, O(1).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DataplaneOccupancy {
    /// Sessions installed (PFCP and static).
    pub sessions: u64,
    /// Lookup-table keys: N3/N9 TEIDs, UE IPv4 addresses, UE IPv6 /64s.
    pub teid_keys: u64,
    pub ue_ipv4_keys: u64,
    pub ue_ipv6_keys: u64,
    /// Per-worker QER/URR state lines: allocated (grows by chunks, never
    /// shrinks), held by rules, free.
    pub state_lines: u64,
    pub state_lines_used: u64,
    pub state_lines_free: u64,
    /// Removed rules' lines waiting for the workers to leave the snapshot.
    pub deferred_frees: u64,
    /// Replaced snapshots still held for a worker.
    pub retired_snapshots: u64,
    /// Live URRs whose usage includes counts folded from freed QER lines.
    pub folded_urrs: u64,
    /// Downlink packets held by buffering FARs (all workers).
    pub buffered_packets: u64,
    /// Packet buffers (DPDK mbufs) allocated now, of `mbufs` created: in
    /// NIC rings, in the workers' hands, buffered. Idle, this returns to
    /// its value before traffic (a leak of packets otherwise).
    pub mbufs_in_use: u64,
    pub mbufs: u64,
}

/// What N4 holds (`/status` `occupancy.pfcp`; see `pfcp::Occupancy`), plus
/// the user plane adapter's books.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PfcpOccupancy {
    pub sessions: u64,
    pub cp_seid_index: u64,
    pub associations: u64,
    pub requests_in_flight: u64,
    pub response_cache: u64,
    pub timers: u64,
    pub parked_responses: u64,
    pub requests_in_progress: u64,
    pub watched_sessions: u64,
    pub tx_queue: u64,
    pub event_queue: u64,
    pub teids_allocated: u64,
    pub teid_owners: u64,
    pub ue_ips_allocated: u64,
    pub ue_ip_owners: u64,
    pub tunnels: u64,
    pub interned: u64,
    pub csid_sessions: u64,
    pub csid_sets: u64,
    pub csid_tagged_sessions: u64,
    pub csid_interned: u64,
    pub pfd_applications: u64,
    /// PFDs of those applications (PFD Management).
    pub pfds: u64,
    /// Sessions with usage bookkeeping (reported usage, URRs leaving, or
    /// removed and waiting for final counts; forgotten 10 s after removal).
    pub usage_books: u64,
    /// Removed URRs kept for their final counts (until reported or
    /// forgotten), and of those, the ones the workers have not counted out
    /// yet (N4 keeps the control loop ticking every 1 ms meanwhile).
    pub urrs_leaving: u64,
    pub urrs_awaiting_final: u64,
    /// End Markers waiting for the workers.
    pub end_markers_pending: u64,
}

/// Everything the API shows that changes while running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryModel {
    pub state: RunState,
    pub node_id: String,
    /// Whether memory mapped after DPDK's start is locked into RAM
    /// (`mlockall(MCL_FUTURE)`: CAP_IPC_LOCK or an unlimited memlock limit).
    pub memory_locked: bool,
    pub interfaces: Vec<InterfaceStats>,
    /// Dropped packets by reason (`no_pdr`, `malformed`, ...). List every
    /// reason the dataplane knows, zeros included, so series exist from the start.
    pub drops: BTreeMap<String, u64>,
    pub workers: Vec<WorkerStats>,
    pub pfcp_sessions: u64,
    pub static_sessions: u64,
    pub pfcp_listen: Option<SocketAddr>,
    /// PFCP messages by (message type, direction); the type is snake case
    /// (`heartbeat_request`, `session_establishment_response`, ...).
    pub pfcp_messages: BTreeMap<(String, Direction), u64>,
    pub associations: Vec<Association>,
    /// PFD Management's table, by Application ID.
    pub pfd_applications: Vec<PfdApplication>,
    /// FQ-CSIDs per CSID node (bounded, see [`FqCsidNode`]).
    pub fq_csid_nodes: Vec<FqCsidNode>,
    /// Sessions that carry FQ-CSIDs.
    pub fq_csid_sessions: u64,
    /// FQ-CSIDs, Group Ids and CP IP Addresses the PFCP node could not
    /// store (its tables of distinct node addresses, groups or CP
    /// addresses full; a Group Id over 255 octets).
    pub fq_csids_dropped: u64,
    /// Sessions removed by Session Set Deletion Requests.
    pub set_deleted_sessions: u64,
    /// Sessions redirected by Session Set Modification Requests.
    pub set_modified_sessions: u64,
    pub reloads: BTreeMap<ReloadResult, u64>,
    pub last_reload: Option<ReloadRecord>,
    /// What the dataplane holds.
    pub dataplane_occupancy: DataplaneOccupancy,
    /// What N4 holds (`None` without `pfcp.listen`).
    pub pfcp_occupancy: Option<PfcpOccupancy>,
}

impl TelemetryModel {
    /// The entry for interface `name`, created (zeroed) if absent.
    pub fn interface_mut(&mut self, name: &str) -> &mut InterfaceStats {
        let idx = match self.interfaces.iter().position(|i| i.name == name) {
            Some(i) => i,
            None => {
                self.interfaces.push(InterfaceStats {
                    name: name.to_owned(),
                    ..InterfaceStats::default()
                });
                self.interfaces.len() - 1
            }
        };
        &mut self.interfaces[idx]
    }

    /// The counter of PFCP messages of `msg_type` in `dir`.
    pub fn pfcp_message_mut(&mut self, msg_type: &str, dir: Direction) -> &mut u64 {
        self.pfcp_messages
            .entry((msg_type.to_owned(), dir))
            .or_default()
    }

    /// Counts a reload and makes it the last one.
    pub fn record_reload(
        &mut self,
        result: ReloadResult,
        summary: impl Into<String>,
        duration: Duration,
    ) {
        *self.reloads.entry(result).or_default() += 1;
        self.last_reload = Some(ReloadRecord {
            at: SystemTime::now(),
            result,
            summary: summary.into(),
            duration,
            details: None,
        });
    }

    #[must_use]
    pub const fn sessions(&self) -> u64 {
        self.pfcp_sessions + self.static_sessions
    }
}

/// Build facts fixed for the life of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub git: String,
}

impl BuildInfo {
    /// This binary's version and git commit.
    #[must_use]
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git: env!("UPF_GIT_HASH").to_owned(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    build: BuildInfo,
    started: Instant,
    started_at: SystemTime,
    model: Mutex<TelemetryModel>,
}

/// Shared handle: the control thread writes through [`Telemetry::update`],
/// the API reads with [`Telemetry::snapshot`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl Telemetry {
    #[must_use]
    pub fn new(build: BuildInfo) -> Self {
        Self {
            inner: Arc::new(Inner {
                build,
                started: Instant::now(),
                started_at: SystemTime::now(),
                model: Mutex::new(TelemetryModel::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TelemetryModel> {
        // A panic while holding the lock leaves plain counters behind, still
        // worth serving: take the data rather than propagate the poison.
        self.inner
            .model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the model under the lock; keep `f` short (no I/O).
    pub fn update<R>(&self, f: impl FnOnce(&mut TelemetryModel) -> R) -> R {
        f(&mut self.lock())
    }

    /// A copy of the model as it is now.
    #[must_use]
    pub fn snapshot(&self) -> TelemetryModel {
        self.lock().clone()
    }

    #[must_use]
    pub fn build(&self) -> &BuildInfo {
        &self.inner.build
    }

    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.inner.started_at
    }

    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}
