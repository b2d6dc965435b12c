//! `upf run`: the control thread. The process's main thread starts DPDK
//! (it becomes the EAL main lcore, `cores.control`), then runs a tokio
//! current-thread runtime on that same thread: the HTTP API, signals, and
//! a 10 ms housekeeping tick that reclaims old table snapshots, drains
//! worker events and feeds the telemetry model (counters at most 50 ms old).
//!
//! N4 (PFCP, `crate::n4`) when `pfcp.listen` is set: its socket is one
//! more branch of the `select!` in [`control_loop`]; the driver installs
//! PFCP sessions through the dataplane's `Control` beside the static ones,
//! and takes over the tick's reclamation and worker events (final usage
//! for Session Deletion Responses, Downlink Data and Error Indication
//! reports), handing back what is not its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dataplane::control::{Batch, Control};
use dataplane::counters::Event;
use dataplane::iface::IFACE_COUNT;
use log::{debug, error, info, warn};
use tokio::signal::unix::{SignalKind, signal};

use crate::api::{self, BuildInfo, InterfaceStats, ReloadResult, RunState, Telemetry, WorkerStats};
use crate::config::{Config, ConfigDiff, HostInfo};
use crate::datapath::{self, Datapath};
use crate::n4::socket::N4Socket;
use crate::n4::{self, N4, TscClock};
use crate::reload::{self, ReloadError};
use crate::translate;

/// How long open API requests may take to finish at shutdown.
const API_DRAIN: Duration = Duration::from_millis(500);
/// Housekeeping period: snapshot reclamation and worker events.
const TICK: Duration = Duration::from_millis(10);
/// Telemetry refresh, in ticks (the Contract: counters at most 100 ms old).
const TELEMETRY_TICKS: u32 = 5;
/// Link state refresh, in ticks.
const LINK_TICKS: u32 = 100;
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
    if config.reload.watch {
        warn!("reload.watch is set but file watching is not implemented yet; use SIGHUP");
    }
    let mut ct = ControlThread::new(dp, config, telemetry.clone());
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
            _ = sighup.recv() => ct.reload(opts),
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

/// N4: the driver and its socket.
struct N4Link {
    n4: N4,
    sock: N4Socket,
}

/// Resolves when the N4 socket has datagrams or the driver a timer due
/// (never without N4).
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
    config: Config,
    telemetry: Telemetry,
    ticks: u32,
    link_up: [Option<bool>; IFACE_COUNT],
    log_ei: LogBudget,
    log_ddn: LogBudget,
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
            config,
            telemetry,
            ticks: 0,
            link_up: [None; IFACE_COUNT],
            log_ei: LogBudget::default(),
            log_ddn: LogBudget::default(),
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
        let sock = N4Socket::bind(addr)
            .with_context(|| format!("pfcp.listen: cannot listen on {addr}"))?;
        let clock = TscClock {
            hz: self.dp.control_ref().snapshot().tsc_hz,
            tsc: cpu::rdtsc(),
            wall: std::time::SystemTime::now(),
        };
        let n4 = N4::from_config(
            &self.config,
            self.config.cores.workers.len(),
            clock,
            Instant::now(),
            std::time::SystemTime::now(),
        )
        .context("pfcp")?;
        info!(
            "N4 (PFCP) listening on {}: node ID {}, UE pools {}, TEIDs {:#x}..={:#x}",
            sock.local_addr().unwrap_or(addr),
            self.config.node_id,
            self.config.ue_pools.len(),
            self.config.teid_range.first,
            self.config.teid_range.last
        );
        self.n4 = Some(N4Link { n4, sock });
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
        let left = (l.n4.busy() || l.n4.poll_timeout().is_some_and(|t| t <= now))
            .then(|| l.n4.housekeeping(now, ctl));
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
            let left = l.n4.housekeeping(Instant::now(), ctl);
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
            if let Some(n4) = n4 {
                n4.fill_telemetry(m);
            }
        });
    }

    /// SIGHUP: validate the file, refuse restart-only changes, apply the
    /// rest live (static sessions in one atomic table swap, then gateways
    /// and neighbours).
    fn reload(&mut self, opts: &RunOptions) {
        let started = Instant::now();
        info!("SIGHUP: reloading {}", opts.config_path.display());
        let plan = match reload::plan(&self.config, &opts.config_path, Some(&opts.host)) {
            Err(ReloadError::Invalid(e)) => {
                error!("reload rejected, running config unchanged:\n{e}");
                let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                self.telemetry.update(|m| {
                    m.record_reload(ReloadResult::Rejected, first, started.elapsed());
                });
                return;
            }
            Err(e @ ReloadError::NeedsRestart(_)) => {
                error!("reload rejected, running config unchanged: {e}");
                self.telemetry.update(|m| {
                    m.record_reload(ReloadResult::Rejected, e.to_string(), started.elapsed());
                });
                return;
            }
            Ok(plan) => plan,
        };
        for w in &plan.config.warnings {
            warn!(
                "{}: warning: {}: {}",
                opts.config_path.display(),
                w.path,
                w.message
            );
        }
        if let Err(e) = self.apply(&plan.config, &plan.diff) {
            error!("reload rejected, running config unchanged: {e:#}");
            self.telemetry.update(|m| {
                m.record_reload(ReloadResult::Rejected, format!("{e:#}"), started.elapsed());
            });
            return;
        }
        if !opts.log_level_from_env {
            log::set_max_level(plan.config.log_level);
        }
        if let Some(l) = self.n4.as_mut()
            && let Err(e) = l.n4.reconfigure(&plan.config)
        {
            // Validated like the rest: a refusal here is a bug; say so.
            error!("reload: PFCP settings not applied: {e}");
        }
        let took = started.elapsed();
        info!("reload applied in {took:?}: {}", plan.diff);
        self.telemetry.update(|m| {
            m.record_reload(ReloadResult::Applied, plan.diff.to_string(), took);
        });
        self.config = plan.config;
        self.refresh_telemetry(false);
    }

    /// Applies the live part of a reload to the dataplane: every static
    /// session change in one batch (all or nothing), then the interfaces.
    fn apply(&mut self, new: &Config, diff: &ConfigDiff) -> anyhow::Result<()> {
        let dp = &mut self.dp;
        let mut batch = Batch::default();
        for &id in diff.sessions_added.iter().chain(&diff.sessions_changed) {
            let s = new
                .session(id)
                .with_context(|| format!("session {id} missing from the new config"))?;
            batch.upserts.push(
                translate::check_session(&new.interfaces, s)
                    .map_err(|e| anyhow::anyhow!("sessions (id {id}): {e}"))?,
            );
        }
        batch.removals = diff
            .sessions_removed
            .iter()
            .map(|&id| translate::static_session_id(id))
            .collect();
        if !batch.upserts.is_empty() || !batch.removals.is_empty() {
            dp.control()
                .publish(batch)
                .map_err(|e| anyhow::anyhow!("the dataplane refused the sessions: {e}"))?;
        }
        if diff.live.iter().any(|k| k.starts_with("interfaces.")) {
            let mut macs = [None; IFACE_COUNT];
            for (info, _) in dp.ports() {
                macs[datapath::iface_index(info.iface)] = Some(info.mac);
            }
            let net = translate::net_config(new, &macs);
            dp.control().set_net(net);
        }
        Ok(())
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
