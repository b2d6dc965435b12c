//! `upf run`: the control thread. The process's main thread starts DPDK
//! (it becomes the EAL main lcore, `cores.control`), then runs a tokio
//! current-thread runtime on that same thread: the HTTP API, signals, and
//! a 10 ms housekeeping tick that reclaims old table snapshots, drains
//! worker events and feeds the telemetry model (counters at most 50 ms old).
//!
//! N4 (PFCP, `crate::n4`) when `pfcp.listen` is set: its socket is one
//! more branch of the `select!` in [`control_loop`] (on an address DPDK
//! owns, a 1 ms poll of the worker events, which carry its datagrams:
//! `n4::socket::DataplaneSocket`); the driver installs
//! PFCP sessions through the dataplane's `Control` beside the static ones,
//! and takes over the tick's reclamation and worker events (final usage
//! for Session Deletion Responses, Downlink Data and Error Indication
//! reports), handing back what is not its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dataplane::control::Control;
use dataplane::counters::Event;
use dataplane::iface::IFACE_COUNT;
use log::{debug, error, info, warn};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot::error::RecvError;

use crate::api::{
    self, BuildInfo, InterfaceStats, ReloadDetails, ReloadResult, RunState, Telemetry, WorkerStats,
};
use crate::config::{Config, ConfigDiff, HostInfo};
use crate::datapath::{self, Datapath};
use crate::n4::socket::{DataplaneSocket, N4Endpoint, N4Socket};
use crate::n4::{self, N4, TscClock};
use crate::reload::watch::ConfigWatch;
use crate::reload::{self, ReloadError, Trigger};
use crate::translate;

/// How long open API requests may take to finish at shutdown.
const API_DRAIN: Duration = Duration::from_millis(500);
/// Housekeeping period: snapshot reclamation and worker events.
const TICK: Duration = Duration::from_millis(10);
/// Telemetry refresh, in ticks (the Contract: counters at most 100 ms old).
const TELEMETRY_TICKS: u32 = 5;
/// Link state refresh, in ticks.
const LINK_TICKS: u32 = 100;
/// Ticks between two re-anchorings of N4's TSC clock (1 s).
const CLOCK_TICKS: u32 = 100;
/// Most event log lines per second of one kind (the rest are counted).
const EVENT_LOG_PER_SEC: u32 = 10;

/// What `run` needs beyond the config.
#[derive(Debug)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Set when `RUST_LOG` chose the log level: then `log.level` is ignored.
    pub log_level_from_env: bool,
    pub host: HostInfo,
}

/// Runs until SIGTERM or SIGINT. Blocks the calling thread, which becomes
/// the control thread and the EAL main lcore.
///
/// # Errors
/// If start-up fails (the API address cannot be bound, DPDK or a device
/// does not start, a static session is refused) or a worker dies. Whatever
/// was started is stopped first. A clean stop returns `Ok`.
pub fn run(config: Config, opts: &RunOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    rt.block_on(control_loop(config, opts))
}

fn seed_telemetry(t: &Telemetry, cfg: &Config) {
    t.update(|m| {
        m.node_id = cfg.node_id.to_string();
        m.pfcp_listen = cfg.pfcp.listen;
        m.interfaces = cfg
            .interfaces
            .iter()
            .map(|i| InterfaceStats {
                name: i.name.as_str().to_owned(),
                device: i.device.clone(),
                addresses: i.prefixes().map(|p| p.to_string()).collect(),
                ..InterfaceStats::default()
            })
            .collect();
        m.workers = cfg
            .cores
            .workers
            .iter()
            .enumerate()
            .map(|(i, &lcore)| WorkerStats {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                lcore,
                ..WorkerStats::default()
            })
            .collect();
        for (_, label) in datapath::drop_labels() {
            m.drops.entry(label.to_owned()).or_default();
        }
        for r in ReloadResult::ALL {
            m.reloads.entry(r).or_default();
        }
    });
}

/// Tells systemd (`Type=notify`); nothing happens when NOTIFY_SOCKET is
/// unset.
fn sd_notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!("sd_notify: {e}");
    }
}

async fn control_loop(config: Config, opts: &RunOptions) -> anyhow::Result<()> {
    let telemetry = Telemetry::new(BuildInfo::current());
    seed_telemetry(&telemetry, &config);

    let listener = api::bind(config.api.listen)
        .await
        .with_context(|| format!("api.listen: cannot listen on {}", config.api.listen))?;
    let api_addr = listener
        .local_addr()
        .context("api.listen: reading the bound address")?;
    // Signals first: one arriving while DPDK starts is acted on right after.
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(api::serve(listener, telemetry.clone(), async move {
        let _ = stop_rx.await;
    }));
    info!("API on http://{api_addr} (GET /metrics, GET /status)");

    // DPDK on this thread (the EAL main lcore). It blocks the runtime for
    // the second or two it takes; API requests wait meanwhile.
    let dp = match Datapath::start(&config) {
        Ok(dp) => dp,
        Err(e) => {
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(API_DRAIN, &mut server).await;
            return Err(e);
        }
    };
    telemetry.update(|m| m.memory_locked = dp.memory_locked());
    let mut ct = ControlThread::new(dp, config, telemetry.clone());
    // What the file held at start: a watch event reloads only when the
    // content differs from what was last read.
    ct.last_file = std::fs::read(&opts.config_path).ok();
    ct.set_watch(opts);
    if let Err(e) = ct.start_n4() {
        let _ = stop_tx.send(());
        ct.stop();
        let _ = tokio::time::timeout(API_DRAIN, &mut server).await;
        return Err(e);
    }
    ct.refresh_telemetry(true);
    telemetry.update(|m| m.state = RunState::Running);
    let status = format!(
        "running: {} static sessions, {} workers",
        ct.config.sessions.len(),
        ct.config.cores.workers.len()
    );
    sd_notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    info!(
        "running: node_id {}, {} static sessions; SIGHUP reloads {}",
        ct.config.node_id,
        ct.config.sessions.len(),
        opts.config_path.display()
    );

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut server_done = false;
    let mut result = Ok(());
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => ct.reload(opts, Trigger::Signal),
            () = watch_changed(ct.watch.as_mut()) => ct.reload(opts, Trigger::Watch),
            res = parsed(ct.parsing.as_mut()) => ct.finish_reload(opts, res),
            _ = tick.tick() => {
                if let Err(e) = ct.housekeeping() {
                    error!("{e:#}");
                    result = Err(e);
                    break;
                }
            }
            () = n4_ready(ct.n4.as_ref()) => ct.on_n4(),
            res = &mut server, if !server_done => {
                server_done = true;
                match res {
                    Ok(Ok(())) => error!("the API server stopped unexpectedly"),
                    Ok(Err(e)) => error!("the API server failed: {e}"),
                    Err(e) => error!("the API server task failed: {e}"),
                }
            }
        }
    }

    telemetry.update(|m| m.state = RunState::Stopping);
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(());
    ct.stop();
    if !server_done && tokio::time::timeout(API_DRAIN, &mut server).await.is_err() {
        warn!("API requests still open after {API_DRAIN:?}; closing them");
        server.abort();
    }
    log_final_counters(&telemetry);
    result
}

/// N4: the driver and its socket (kernel, or through the DPDK port).
struct N4Link {
    n4: N4,
    sock: N4Endpoint,
    /// The TSC clock as taken at start, and the instant it was taken at:
    /// what the clock N4 uses is re-anchored from every second.
    clock0: (TscClock, Instant),
}

impl N4Link {
    /// The driver's housekeeping, with the N4 datagrams among the worker
    /// events it took handed to the driver (N4 through the DPDK port).
    fn housekeeping(&mut self, now: Instant, ctl: &mut Control) -> n4::Leftovers {
        let mut left = self.n4.housekeeping(now, ctl);
        self.sock.take(now, &mut left.events, &mut self.n4, ctl);
        left
    }
}

/// Resolves when the N4 socket has datagrams or the driver a timer due
/// (every `BUSY_TICK` for N4 through the DPDK port; never without N4).
async fn n4_ready(l: Option<&N4Link>) {
    match l {
        Some(l) => {
            let busy = l.n4.busy().then(|| Instant::now() + n4::BUSY_TICK);
            let deadline = [l.n4.poll_timeout(), busy].into_iter().flatten().min();
            l.sock.ready(deadline).await;
        }
        None => std::future::pending().await,
    }
}

/// Resolves when the watched config file changed and went quiet (never
/// without `reload.watch`).
async fn watch_changed(w: Option<&mut ConfigWatch>) {
    match w {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// What the reload's helper thread hands back: the reload ready to
/// publish (validated, diffed, translated) or why it was refused.
type Parsed = Result<reload::Prepared, ReloadError>;

/// A reload whose file is being parsed.
#[derive(Debug)]
struct PendingReload {
    trigger: Trigger,
    started: Instant,
    rx: tokio::sync::oneshot::Receiver<Parsed>,
    /// The running config the helper thread diffed against (reloads run
    /// one at a time, so it is still the running one when it is done).
    prev: std::sync::Weak<Config>,
    /// Hands the replaced config back to the helper thread, which drops
    /// it (freeing 100,000 sessions is milliseconds the control thread
    /// need not spend). Dropped unused when the reload is refused.
    old: std::sync::mpsc::Sender<Arc<Config>>,
}

/// Resolves when the parser thread of the pending reload is done (never
/// without one).
async fn parsed(p: Option<&mut PendingReload>) -> Result<Parsed, RecvError> {
    match p {
        Some(p) => (&mut p.rx).await,
        None => std::future::pending().await,
    }
}

/// What [`ControlThread::apply`] did: the generation it published (`None`:
/// nothing in the dataplane changed), the poll-gap window it opened, and
/// how long the publish took.
#[derive(Debug)]
struct Applied {
    generation: Option<u64>,
    epochs: Vec<u64>,
    preempted: Vec<Option<u64>>,
    publish: Duration,
}

/// A reload's poll-gap window, closed once every worker runs the new
/// snapshot.
#[derive(Debug)]
struct GapProbe {
    generation: u64,
    epochs: Vec<u64>,
    opened: Instant,
    /// The workers' preemption counts when the window opened.
    preempted: Vec<Option<u64>>,
}

/// Log lines of one kind per second, and how many were left out.
#[derive(Debug, Default)]
struct LogBudget {
    window: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogBudget {
    /// Whether to log one more line now; says how many were left out when
    /// a new second starts.
    fn allow(&mut self, what: &str) -> bool {
        let now = Instant::now();
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
        {
            if self.suppressed > 0 {
                warn!("{} more {what} events not logged", self.suppressed);
            }
            self.window = Some(now);
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < EVENT_LOG_PER_SEC {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// The control thread's state: the data path, the running config, the
/// telemetry it feeds.
pub struct ControlThread {
    dp: Datapath,
    n4: Option<N4Link>,
    config: Arc<Config>,
    telemetry: Telemetry,
    ticks: u32,
    link_up: [Option<bool>; IFACE_COUNT],
    log_ei: LogBudget,
    log_ddn: LogBudget,
    /// `reload.watch`: the directory watch, when on.
    watch: Option<ConfigWatch>,
    /// The config file's bytes as last read (start or reload).
    last_file: Option<Vec<u8>>,
    /// The last applied reload's poll-gap measurement, while open.
    gap_probe: Option<GapProbe>,
    /// The reload whose file a helper thread is parsing.
    parsing: Option<PendingReload>,
    /// A reload asked for meanwhile (SIGHUP wins over a watch trigger).
    queued: Option<Trigger>,
}

impl std::fmt::Debug for ControlThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlThread")
            .field("dp", &self.dp)
            .finish_non_exhaustive()
    }
}

impl ControlThread {
    fn new(dp: Datapath, config: Config, telemetry: Telemetry) -> Self {
        Self {
            dp,
            n4: None,
            config: Arc::new(config),
            telemetry,
            ticks: 0,
            link_up: [None; IFACE_COUNT],
            log_ei: LogBudget::default(),
            log_ddn: LogBudget::default(),
            watch: None,
            last_file: None,
            gap_probe: None,
            parsing: None,
            queued: None,
        }
    }

    /// The dataplane's control facade.
    pub fn dataplane(&mut self) -> &mut Control {
        self.dp.control()
    }

    /// Binds the N4 socket and starts the PFCP node when `pfcp.listen` is
    /// set (before READY: an SMF may associate at once).
    fn start_n4(&mut self) -> anyhow::Result<()> {
        let Some(addr) = self.config.pfcp.listen else {
            return Ok(());
        };
        let sock = match translate::n4_through_dataplane(&self.config) {
            Some((iface, local, mtu)) => {
                info!(
                    "N4 (PFCP) on interfaces.{} {local} through DPDK",
                    iface.name()
                );
                N4Endpoint::Dataplane(DataplaneSocket::new(iface, local, mtu))
            }
            None => N4Endpoint::Kernel(
                N4Socket::bind(addr)
                    .with_context(|| format!("pfcp.listen: cannot listen on {addr}"))?,
            ),
        };
        let bound = match &sock {
            N4Endpoint::Kernel(k) => k.local_addr().unwrap_or(addr),
            N4Endpoint::Dataplane(_) => addr,
        };
        let clock = TscClock {
            hz: self.dp.control_ref().snapshot().tsc_hz,
            tsc: cpu::rdtsc(),
            wall: std::time::SystemTime::now(),
        };
        let t0 = Instant::now();
        let n4 = N4::from_config(
            &self.config,
            self.config.cores.workers.len(),
            clock,
            t0,
            clock.wall,
        )
        .context("pfcp")?;
        info!(
            "N4 (PFCP) listening on {}: node ID {}, UE pools {}, TEIDs {:#x}..={:#x}",
            bound,
            self.config.node_id,
            self.config.ue_pools.len(),
            self.config.teid_range.first,
            self.config.teid_range.last
        );
        self.telemetry.update(N4::list_messages_at_start);
        self.n4 = Some(N4Link {
            n4,
            sock,
            clock0: (clock, t0),
        });
        Ok(())
    }

    /// The N4 socket is readable or the driver has work due: datagrams in,
    /// rule changes published (one batch), answers and timers out.
    fn on_n4(&mut self) {
        let Some(l) = self.n4.as_mut() else { return };
        let now = Instant::now();
        let ctl = self.dp.control();
        if let Err(e) = l.sock.service(now, &mut l.n4, ctl) {
            error!("N4 socket: {e}");
        }
        let left =
            (l.sock.polled() || l.n4.busy() || l.n4.poll_timeout().is_some_and(|t| t <= now))
                .then(|| l.housekeeping(now, ctl));
        l.sock.flush(&mut l.n4, ctl);
        if let Some(left) = left {
            self.leftovers(left);
        }
    }

    /// What N4's housekeeping handed back: static sessions' final usage
    /// and the events it does not act on.
    fn leftovers(&mut self, left: n4::Leftovers) {
        for f in left.finals {
            // Static sessions have no SMF to report to: the log is where
            // their usage goes (README, "Static sessions' usage").
            info!(
                "static session {:#x} URR {}: final usage {} bytes UL, {} bytes DL",
                f.session, f.urr_id, f.usage.ul_bytes, f.usage.dl_bytes
            );
        }
        for e in left.events {
            self.on_event(e);
        }
    }

    /// Every tick: reclaim snapshots, drain events, refresh telemetry when
    /// due, and check that every worker still runs.
    fn housekeeping(&mut self) -> anyhow::Result<()> {
        self.ticks = self.ticks.wrapping_add(1);
        if let Some(l) = self.n4.as_mut() {
            // N4 reclaims (final usage of its URRs) and takes its events.
            let ctl = self.dp.control();
            let left = l.housekeeping(Instant::now(), ctl);
            l.sock.flush(&mut l.n4, ctl);
            self.leftovers(left);
        } else {
            for f in self.dp.control().reclaim() {
                info!(
                    "static session {:#x} URR {}: final usage {} bytes UL, {} bytes DL",
                    f.session, f.urr_id, f.usage.ul_bytes, f.usage.dl_bytes
                );
            }
            for e in self.dp.control().drain_events() {
                self.on_event(e);
            }
        }
        self.close_gap_probe();
        if self.ticks.is_multiple_of(CLOCK_TICKS)
            && let Some(l) = self.n4.as_mut()
        {
            let (c0, t0) = l.clock0;
            l.n4.set_tsc_clock(c0.reanchored(cpu::rdtsc(), t0.elapsed()));
        }
        if self.ticks.is_multiple_of(TELEMETRY_TICKS) {
            self.refresh_telemetry(self.ticks.is_multiple_of(LINK_TICKS));
        }
        let dead = self.dp.dead_workers();
        if !dead.is_empty() {
            anyhow::bail!("worker(s) {dead:?} stopped unexpectedly; stopping the UPF");
        }
        Ok(())
    }

    /// A worker's event N4 did not take (all of them without N4).
    pub fn on_event(&mut self, e: Event) {
        match e {
            Event::NeighborLearned { iface, ip, mac } => {
                debug!("{}: neighbour {ip} is at {mac}", iface.name());
            }
            Event::DownlinkData {
                session,
                pdr_id,
                qfi,
            } => {
                // A static session's (PFCP ones are N4's): no SMF to tell.
                if self.log_ddn.allow("downlink data") {
                    info!(
                        "session {session:#x}: downlink data for a buffering/notifying FAR (PDR {pdr_id}, QFI {qfi:?}); no SMF to report to"
                    );
                }
            }
            Event::ErrorIndication { teid, peer } => {
                // With N4 the SMFs of the sessions tunnelling there were
                // sent an Error Indication Report already.
                if self.log_ei.allow("error indication") {
                    warn!("GTP-U Error Indication from {peer}: it does not know TEID {teid:#x}");
                }
            }
            Event::EchoResponse { peer, recovery } => {
                debug!("GTP-U Echo Response from {peer} (recovery {recovery:?})");
            }
            Event::N4Datagram { iface, src, data } => {
                // Only while N4 is served through the DPDK port, which
                // takes them first.
                debug!(
                    "{}: N4 datagram of {} bytes from {src} without N4",
                    iface.name(),
                    data.len()
                );
            }
        }
    }

    /// Copies the dataplane's counters and the ports' into the telemetry
    /// model; `links`: also read the link state.
    fn refresh_telemetry(&mut self, links: bool) {
        let dp = &self.dp;
        let c = dp.control_ref().counters();
        let ports: Vec<_> = dp
            .ports()
            .map(|(info, port)| {
                let idx = datapath::iface_index(info.iface);
                if links {
                    self.link_up[idx] = port.link().ok().map(|l| l.up);
                }
                (info.clone(), idx, port.stats().ok())
            })
            .collect();
        let workers: Vec<_> = (0..dp.poll_stats().len())
            .map(|w| {
                let wc = dp.control_ref().worker_counters(w);
                let ps = &dp.poll_stats()[w];
                (
                    wc.rx_packets.iter().sum::<u64>(),
                    wc.tx_packets.iter().sum::<u64>(),
                    ps.busy.load(std::sync::atomic::Ordering::Relaxed),
                    ps.idle.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect();
        let occ = dp.control_ref().occupancy();
        let n = |x: usize| x as u64;
        let dp_occ = crate::api::DataplaneOccupancy {
            sessions: n(occ.sessions),
            teid_keys: n(occ.teid_keys),
            ue_ipv4_keys: n(occ.ue4_keys),
            ue_ipv6_keys: n(occ.ue6_keys),
            state_lines: n(occ.state_lines),
            state_lines_used: n(occ.state_lines_used()),
            state_lines_free: n(occ.state_lines_free),
            deferred_frees: n(occ.deferred_frees),
            retired_snapshots: n(occ.retired_snapshots),
            folded_urrs: n(occ.folded_urrs),
            buffered_packets: c.buffered,
            mbufs_in_use: dp.mbufs().0,
            mbufs: dp.mbufs().1,
        };
        let static_sessions = self.config.sessions.len() as u64;
        let link_up = self.link_up;
        let n4 = self.n4.as_ref().map(|l| &l.n4);
        self.telemetry.update(|m| {
            for (info, idx, stats) in &ports {
                let i = m.interface_mut(info.iface.as_str());
                i.mac = Some(fmt_mac(info.mac));
                i.rx_packets = c.rx_packets[*idx];
                i.rx_bytes = c.rx_bytes[*idx];
                i.tx_packets = c.tx_packets[*idx];
                i.tx_bytes = c.tx_bytes[*idx];
                if let Some(s) = stats {
                    i.rx_missed = s.imissed;
                    i.rx_errors = s.ierrors;
                    i.tx_errors = s.oerrors;
                }
                if link_up[*idx].is_some() {
                    i.link_up = link_up[*idx];
                }
            }
            for (idx, label) in datapath::drop_labels() {
                m.drops.insert(label.to_owned(), c.drops[idx]);
            }
            for (w, (rx, tx, busy, idle)) in workers.iter().enumerate() {
                if let Some(ws) = m.workers.get_mut(w) {
                    ws.rx_packets = *rx;
                    ws.tx_packets = *tx;
                    ws.busy_polls = *busy;
                    ws.idle_polls = *idle;
                }
            }
            m.static_sessions = static_sessions;
            m.dataplane_occupancy = dp_occ;
            if let Some(n4) = n4 {
                n4.fill_telemetry(m);
            }
        });
    }

    /// Starts or stops the file watch to match `reload.watch`.
    fn set_watch(&mut self, opts: &RunOptions) {
        let want = self.config.reload.watch;
        if !want {
            if self.watch.take().is_some() {
                info!("reload.watch off: only SIGHUP reloads now");
            }
            return;
        }
        if self
            .watch
            .as_ref()
            .is_some_and(|w| w.debounce() == self.config.reload.debounce)
        {
            return;
        }
        match ConfigWatch::new(&opts.config_path, self.config.reload.debounce) {
            Ok(w) => {
                info!(
                    "reload.watch: watching {} (debounce {:?})",
                    w.dirs()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.config.reload.debounce
                );
                self.watch = Some(w);
            }
            Err(e) => {
                error!(
                    "reload.watch: cannot watch {}: {e}; SIGHUP still reloads",
                    opts.config_path.display()
                );
                self.watch = None;
            }
        }
    }

    /// Counts and logs a reload that changed nothing.
    fn reject(&self, summary: String, started: Instant, details: Option<ReloadDetails>) {
        self.telemetry.update(|m| {
            m.record_reload(ReloadResult::Rejected, summary, started.elapsed());
            if let Some(r) = m.last_reload.as_mut() {
                r.details = details;
            }
        });
    }

    /// SIGHUP or a watched change: read the file and hand it to a helper
    /// thread for parsing and validation (seconds for a very large file:
    /// the control thread keeps serving PFCP, the API and the workers'
    /// events meanwhile); [`Self::finish_reload`] takes it from there. A
    /// reload asked for while one is being parsed runs after it.
    fn reload(&mut self, opts: &RunOptions, trigger: Trigger) {
        if self.parsing.is_some() {
            self.queued = Some(match (self.queued, trigger) {
                (Some(Trigger::Signal), _) | (_, Trigger::Signal) => Trigger::Signal,
                _ => Trigger::Watch,
            });
            info!(
                "reload ({}): queued behind the reload being read",
                trigger.as_str()
            );
            return;
        }
        let started = Instant::now();
        let path = &opts.config_path;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                error!(
                    "reload ({}) rejected, running config unchanged: {}: cannot read: {e}",
                    trigger.as_str(),
                    path.display()
                );
                self.reject(
                    format!("{}: cannot read: {e}", path.display()),
                    started,
                    None,
                );
                return;
            }
        };
        if trigger == Trigger::Watch && self.last_file.as_deref() == Some(bytes.as_slice()) {
            info!(
                "reload.watch: {} changed on disk, content unchanged: nothing to do",
                path.display()
            );
            return;
        }
        self.last_file = Some(bytes.clone());
        info!("reload ({}): reading {}", trigger.as_str(), path.display());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (old_tx, old_rx) = std::sync::mpsc::channel::<Arc<Config>>();
        let (p, host) = (path.clone(), opts.host.clone());
        // Shared, not copied: the helper thread reads the running config
        // (to skip re-checking unchanged sessions, and to diff against)
        // while the control thread keeps using it.
        let prev = Arc::clone(&self.config);
        let prev_weak = Arc::downgrade(&self.config);
        // A plain thread: it inherits the control thread's CPU affinity
        // (the control lcore), so it never lands on a worker's core. It
        // does all of the reload that does not touch the running system:
        // parse, validate, diff, translate; the control thread publishes.
        let spawned = std::thread::Builder::new()
            .name("upf-reload".into())
            .spawn(move || {
                let r = reload::prepare(&prev, &p, bytes, Some(&host));
                if tx.send(r).is_err() {
                    return;
                }
                // The config the reload replaced, once it is applied
                // (nothing comes when it is refused): dropped here, with
                // this thread's own reference to it.
                if let Ok(old) = old_rx.recv() {
                    drop(old);
                }
                drop(prev);
            });
        if let Err(e) = spawned {
            error!(
                "reload rejected, running config unchanged: cannot start the parser thread: {e}"
            );
            self.reject(
                format!("cannot start the parser thread: {e}"),
                started,
                None,
            );
            return;
        }
        self.parsing = Some(PendingReload {
            trigger,
            started,
            rx,
            prev: prev_weak,
            old: old_tx,
        });
    }

    /// The helper thread is done: diff, refuse restart-only changes (all
    /// or nothing, see `reload`), apply the rest live in one snapshot
    /// (static sessions and interfaces), then the PFCP settings and the
    /// log level. PFCP sessions are never part of the batch.
    fn finish_reload(&mut self, opts: &RunOptions, res: Result<Parsed, RecvError>) {
        let Some(p) = self.parsing.take() else {
            return;
        };
        self.finish_parsed(opts, &p, res);
        if let Some(t) = self.queued.take() {
            self.reload(opts, t);
        }
    }

    fn finish_parsed(
        &mut self,
        opts: &RunOptions,
        p: &PendingReload,
        res: Result<Parsed, RecvError>,
    ) {
        let (trigger, started) = (p.trigger, p.started);
        let path = &opts.config_path;
        let Ok(parsed) = res else {
            error!("reload rejected, running config unchanged: the parser thread died");
            self.reject("the parser thread died".into(), started, None);
            return;
        };
        let prepared = parsed.and_then(|mut r| {
            if !p.prev.ptr_eq(&Arc::downgrade(&self.config)) {
                // Not diffed against the running config (reloads run one
                // at a time, so this does not happen): do it here.
                let parse_time = r.plan.parse_time;
                r.plan = reload::plan_config(&self.config, r.plan.config, parse_time)?;
                r.changes = reload::dataplane_changes(&r.plan.config, &r.plan.diff);
            }
            Ok(r)
        });
        let (plan, changes, translate_time) =
            match prepared.map(|r| (r.plan, r.changes, r.translate_time)) {
                Err(ReloadError::Invalid(e)) => {
                    error!("reload rejected, running config unchanged:\n{e}");
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    self.reject(first, started, None);
                    return;
                }
                Err(e @ ReloadError::NeedsRestart(_)) => {
                    error!("reload rejected, running config unchanged: {e}");
                    self.reject(e.to_string(), started, None);
                    return;
                }
                Ok(r) => r,
            };
        for w in &plan.config.warnings {
            warn!("{}: warning: {}: {}", path.display(), w.path, w.message);
        }
        let mut details = ReloadDetails {
            trigger: trigger.as_str(),
            sessions_added: plan.diff.sessions_added.len() as u64,
            sessions_removed: plan.diff.sessions_removed.len() as u64,
            sessions_changed: plan.diff.sessions_changed.len() as u64,
            parse: plan.parse_time,
            diff: plan.diff_time,
            translate: translate_time,
            ..ReloadDetails::default()
        };
        let t_apply = Instant::now();
        let Applied {
            generation,
            epochs,
            preempted,
            publish,
        } = match changes.and_then(|c| self.apply(&plan.config, &plan.diff, c)) {
            Ok(a) => a,
            Err(e) => {
                error!("reload rejected, running config unchanged: {e:#}");
                self.reject(format!("{e:#}"), started, Some(details));
                return;
            }
        };
        if let Some(l) = self.n4.as_mut()
            && let Err(e) = l.n4.reconfigure(&plan.config)
        {
            // Validated like the rest: a refusal here is a bug; say so.
            error!("reload: PFCP settings not applied: {e}");
        }
        if !opts.log_level_from_env {
            log::set_max_level(plan.config.log_level);
        }
        details.apply = t_apply.elapsed();
        details.publish = publish;
        let took = started.elapsed();
        info!(
            "reload applied ({}) in {:.1} ms (parse {:.1}, diff {:.1}, translate {:.1}, apply {:.1} of which publish {:.1}): {}",
            trigger.as_str(),
            ms(took),
            ms(details.parse),
            ms(details.diff),
            ms(details.translate),
            ms(details.apply),
            ms(details.publish),
            plan.diff
        );
        self.telemetry.update(|m| {
            m.record_reload(ReloadResult::Applied, plan.diff.to_string(), took);
            if let Some(r) = m.last_reload.as_mut() {
                r.details = Some(details);
            }
        });
        // Also without a publish: the window is then the baseline (the
        // same tick-long window of ordinary polling).
        self.gap_probe = Some(GapProbe {
            generation: generation.unwrap_or_else(|| self.dp.control_ref().generation()),
            epochs,
            opened: Instant::now(),
            preempted,
        });
        let old = std::mem::replace(&mut self.config, Arc::new(plan.config));
        // Freed on the helper thread (it waits for it); here only if it
        // is gone.
        if let Err(back) = p.old.send(old) {
            drop(back.0);
        }
        self.set_watch(opts);
        self.refresh_telemetry(false);
    }

    /// Once every worker runs the reload's snapshot: the longest poll gap
    /// any of them saw since just before the publish, into the last
    /// reload's record.
    fn close_gap_probe(&mut self) {
        let Some(p) = self.gap_probe.as_ref() else {
            return;
        };
        let ctl = self.dp.control_ref();
        let stats = self.dp.poll_stats();
        let caught_up = (0..stats.len()).all(|w| ctl.worker_generation(w) >= p.generation);
        let gaps: Option<Vec<u64>> = stats
            .iter()
            .zip(&p.epochs)
            .map(|(s, &e)| s.gap_in_window(e))
            .collect();
        let (true, Some(gaps)) = (caught_up, gaps) else {
            if p.opened.elapsed() > Duration::from_secs(2) {
                warn!("reload: a worker did not take the new snapshot within 2 s");
                self.gap_probe = None;
            }
            return;
        };
        let hz = ctl.snapshot().tsc_hz.max(1);
        let max = gaps.into_iter().max().unwrap_or(0);
        let gap = Duration::from_nanos(
            u64::try_from(u128::from(max) * 1_000_000_000 / u128::from(hz)).unwrap_or(u64::MAX),
        );
        // Preemptions of the workers by the kernel within the window: a
        // gap that spans one says more about the machine than the UPF.
        let preempted: Option<u64> = stats
            .iter()
            .zip(&p.preempted)
            .map(|(s, before)| Some(s.preemptions()?.saturating_sub((*before)?)))
            .sum();
        info!(
            "reload: longest worker poll gap around the publish {:.1} us ({} preemption(s) of the worker(s) by the kernel meanwhile)",
            gap.as_secs_f64() * 1e6,
            preempted.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
        );
        self.telemetry.update(|m| {
            if let Some(d) = m.last_reload.as_mut().and_then(|r| r.details.as_mut()) {
                d.max_poll_gap = Some(gap);
                d.worker_preemptions = preempted;
            }
        });
        self.gap_probe = None;
    }

    /// Applies the live part of a reload to the dataplane: every static
    /// session change and the interfaces (gateways, neighbours) in one
    /// snapshot, all or nothing. Opens the workers' poll-gap window just
    /// before the publish.
    fn apply(
        &mut self,
        new: &Config,
        diff: &ConfigDiff,
        (batch, qos): (
            dataplane::control::Batch,
            Vec<dataplane::control::QerUpdate>,
        ),
    ) -> anyhow::Result<Applied> {
        let dp = &mut self.dp;
        let net = diff
            .live
            .iter()
            .any(|k| k.starts_with("interfaces."))
            .then(|| {
                let mut macs = [None; IFACE_COUNT];
                for (info, _) in dp.ports() {
                    macs[datapath::iface_index(info.iface)] = Some(info.mac);
                }
                translate::net_config(new, &macs)
            });
        let preempted = dp
            .poll_stats()
            .iter()
            .map(datapath::PollStats::preemptions)
            .collect();
        let epochs = dp
            .poll_stats()
            .iter()
            .map(datapath::PollStats::start_gap_window)
            .collect();
        if batch.upserts.is_empty() && batch.removals.is_empty() && qos.is_empty() && net.is_none()
        {
            return Ok(Applied {
                generation: None,
                epochs,
                preempted,
                publish: Duration::ZERO,
            });
        }
        let t = Instant::now();
        let g = dp
            .control()
            .publish_changes(batch, &qos, net)
            .map_err(|e| anyhow::anyhow!("the dataplane refused the sessions: {e}"))?;
        Ok(Applied {
            generation: Some(g),
            epochs,
            preempted,
            publish: t.elapsed(),
        })
    }

    /// Stops the workers and the ports; the telemetry keeps the final
    /// counters.
    fn stop(mut self) {
        self.dp.stop_workers();
        // Workers are joined: the counters are final.
        self.refresh_telemetry(false);
        self.dp.shutdown();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn log_final_counters(t: &Telemetry) {
    let m = t.snapshot();
    for i in &m.interfaces {
        info!(
            "final {}: rx {} pkts / {} bytes, tx {} pkts / {} bytes, missed {}",
            i.name, i.rx_packets, i.rx_bytes, i.tx_packets, i.tx_bytes, i.rx_missed
        );
    }
    let dropped: u64 = m.drops.values().sum();
    let reasons: Vec<String> = m
        .drops
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    info!(
        "final: {} sessions, {dropped} packets dropped{}, uptime {:.1}s",
        m.sessions(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        t.uptime().as_secs_f64()
    );
}
