//! The DPDK side of `upf run`: EAL start-up, one mempool per NUMA socket in
//! use, one port per configured interface (a queue pair per worker), one
//! pinned poll-mode worker per `cores.workers` lcore running
//! `dataplane::worker::Worker`, and an orderly stop. The control thread (the
//! EAL main lcore) owns the [`Datapath`] and reaches the workers only
//! through the dataplane's [`Control`] (snapshots, counters, events).
//!
//! Teardown order, on every path (clean stop, start-up failure, panic):
//! stop flag → workers joined (their queues and buffers dropped on their
//! lcore) → ports stopped and closed (net_pcap flushes `tx_pcap` here) →
//! mempools → `rte_eal_cleanup` → the EAL runtime directory removed.

mod io;
mod rundir;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use dataplane::control::{Batch, Control, DataplaneConfig as DpConfig, WorkerPort};
use dataplane::iface::IFACE_COUNT;
use dataplane::worker::Worker;
use dpdk::{Eal, LaunchHandle, Lcore, Mempool, Port, PortConfig, Rss, Socket};
use log::{debug, info, warn};

pub use io::{DpdkIo, Pkt};
use rundir::RuntimeDir;

use crate::config::{Config, IdleBackoff, InterfaceName};
use crate::translate;

/// How long start-up waits for every worker to take its first snapshot.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(5);

/// Poll counts of one worker, written by that worker only (relaxed stores,
/// its own cache lines) and read by the control thread for `/status`.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PollStats {
    /// Polls that handled at least one frame.
    pub busy: AtomicU64,
    /// Polls that found nothing.
    pub idle: AtomicU64,
    /// Cleared when the worker's loop returns (stop, or a panic).
    pub running: AtomicBool,
    /// Longest gap between the starts of two consecutive polls, in TSC
    /// ticks, since the worker saw `gap_epoch` change (a stall measure: a
    /// reload must not hold a worker up). Written only when it grows.
    pub gap_max: AtomicU64,
    /// Set by the control thread to start a new measurement window.
    pub gap_epoch: AtomicU64,
    /// The window `gap_max` belongs to (the worker's copy of `gap_epoch`).
    pub gap_epoch_seen: AtomicU64,
    /// The worker thread's kernel thread id (0 until known), to read how
    /// often the kernel preempted it (`/proc/self/task/TID/status`).
    pub tid: AtomicU64,
}

impl PollStats {
    /// Starts a new poll-gap window for this worker; returns its epoch.
    pub fn start_gap_window(&self) -> u64 {
        self.gap_epoch.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How often the kernel has preempted the worker thread so far
    /// (`nonvoluntary_ctxt_switches`): a poll gap that spans one is the
    /// machine's doing, not the UPF's. `None` where /proc does not say.
    #[must_use]
    pub fn preemptions(&self) -> Option<u64> {
        let tid = self.tid.load(Ordering::Relaxed);
        if tid == 0 {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The longest poll gap (TSC ticks) of window `epoch`, once the worker
    /// has polled in it.
    #[must_use]
    pub fn gap_in_window(&self, epoch: u64) -> Option<u64> {
        (self.gap_epoch_seen.load(Ordering::Acquire) == epoch)
            .then(|| self.gap_max.load(Ordering::Relaxed))
    }
}

/// A port as the control thread knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub iface: InterfaceName,
    pub device: String,
    pub driver: String,
    pub mac: [u8; 6],
    pub socket: Option<u32>,
}

/// The running data path. Dropping it stops everything in order; prefer
/// [`Datapath::shutdown`], which also reports the final counters.
pub struct Datapath {
    // Field order is drop order: workers first, the runtime dir last.
    workers: Workers,
    ctl: Control,
    ports: Vec<(PortInfo, Port)>,
    pools: Vec<Mempool>,
    eal: Eal,
    _rundir: RuntimeDir,
    memory_locked: bool,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("eal", &self.eal)
            .field("ports", &self.ports)
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}

/// The workers' launch handles and stop flag. Dropping it stops and joins
/// them, so no lcore is left running whatever path leaves `start`.
struct Workers {
    stop: Arc<AtomicBool>,
    handles: Vec<LaunchHandle>,
    stats: Arc<[PollStats]>,
}

impl Workers {
    fn join(&mut self) -> Vec<(u32, Result<i32, dpdk::Error>)> {
        self.stop.store(true, Ordering::Release);
        self.handles
            .drain(..)
            .map(|h| (h.lcore().id(), h.wait()))
            .collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (lcore, r) in self.join() {
            if let Err(e) = r {
                warn!("worker on lcore {lcore}: {e}");
            }
        }
    }
}

/// Bytes of data room an mbuf needs for frames of `mtu` (plus Ethernet,
/// VLAN and CRC), with the standard headroom for GTP-U encapsulation.
fn data_room(mtu: u16) -> u16 {
    let frame = u32::from(mtu) + 14 + 4 + 4;
    let room = u32::from(dpdk::MBUF_DEFAULT_BUF_SIZE)
        .max(frame.next_multiple_of(64) + u32::from(dpdk::PKTMBUF_HEADROOM));
    u16::try_from(room).unwrap_or(u16::MAX)
}

/// A pktmbuf pool on `socket`, or anywhere if that socket has no memory
/// (e.g. `--no-huge`, which gives all memory to socket 0).
fn make_pool(eal: &Eal, cfg: &Config, socket: u32, room: u16) -> anyhow::Result<Mempool> {
    let n = cfg.dpdk.mbufs;
    // DPDK: cache size <= 512 and <= n / 1.5.
    let cache = 256.min(n / 3 * 2);
    let name = format!("upf-s{socket}");
    match Mempool::pktmbuf(eal, &name, n, cache, room, Socket::Id(socket)) {
        Ok(p) => Ok(p),
        Err(first) => {
            let p = Mempool::pktmbuf(eal, &name, n, cache, room, Socket::Any).with_context(|| {
                format!(
                    "dpdk.mbufs: cannot create a pool of {n} mbufs of {room} bytes (on socket {socket}: {first}); \
                     give EAL more memory (-m, hugepages) or lower dpdk.mbufs"
                )
            })?;
            warn!("mempool {name}: no memory on NUMA socket {socket} ({first}); placed anywhere");
            Ok(p)
        }
    }
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Datapath {
    /// Starts DPDK and the workers for `cfg`: EAL, mempools, ports (queue
    /// *i* of every port to worker *i*), the dataplane's tables with the
    /// interfaces and static sessions, then the workers. Returns once every
    /// worker polls.
    ///
    /// # Errors
    /// EAL start-up, a device DPDK cannot open (the error names it),
    /// memory, port configuration, a static session the dataplane refuses,
    /// or a worker that does not start. Whatever was started is stopped and
    /// removed before the error returns.
    #[allow(clippy::too_many_lines)] // one linear start-up sequence
    pub fn start(cfg: &Config) -> anyhow::Result<Self> {
        let args = cfg.eal_args("upf");
        let eal_args = &args[1..];
        let mut rundir = RuntimeDir::before_init(&cfg.file_prefix());
        info!("starting DPDK: EAL {}", eal_args.join(" "));
        let eal = Eal::init(eal_args).map_err(|e| {
            anyhow!(
                "DPDK (EAL) did not start: {e}; EAL arguments: {}",
                eal_args.join(" ")
            )
        })?;
        rundir.initialised(eal.runtime_dir());
        // Memory mapped from now on is populated and locked when it is
        // mapped, as dpdk-testpmd does: net_memif maps its shared packet
        // regions (64 MB per link here) when its link comes up, and without
        // this the worker faulted them in page by page on the first traffic
        // (~23,000 faults, ~0.1 s of slow polls and tens of ms of latency,
        // perf/README.md "e2e latency").
        let memory_locked = if dpdk::can_lock_memory() {
            match dpdk::lock_future_memory() {
                Ok(()) => {
                    debug!("memory mapped from now on is locked (mlockall MCL_FUTURE)");
                    true
                }
                Err(e) => {
                    warn!(
                        "could not lock memory (mlockall): {e}; a worker may take page faults on the first traffic"
                    );
                    false
                }
            }
        } else {
            info!(
                "memory not locked (no CAP_IPC_LOCK, RLIMIT_MEMLOCK limited): a worker may take page faults on the first traffic"
            );
            false
        };
        debug!(
            "EAL up: main lcore {}, TSC {} Hz, runtime dir {}",
            eal.main_lcore(),
            eal.tsc_hz(),
            eal.runtime_dir().display()
        );

        let lcores: Vec<Lcore> = cfg
            .cores
            .workers
            .iter()
            .map(|&id| {
                eal.lcore(id)
                    .ok_or_else(|| anyhow!("cores.workers: lcore {id} is not enabled in EAL"))
            })
            .collect::<anyhow::Result<_>>()?;
        let n_workers = lcores.len();
        let queues = u16::try_from(n_workers).context("cores.workers: too many workers")?;

        // Ports: open all first (their NUMA sockets decide the pools).
        let mut ports = Vec::new();
        for iface in cfg.interfaces.iter() {
            let port = Port::open(&eal, &iface.device)
                .with_context(|| format!("interfaces.{}.device", iface.name))?;
            let info = port
                .info()
                .with_context(|| format!("interfaces.{}: reading device info", iface.name))?;
            let mac = port
                .mac_address()
                .with_context(|| format!("interfaces.{}: reading the MAC address", iface.name))?;
            ports.push((
                PortInfo {
                    iface: iface.name,
                    device: iface.device.clone(),
                    driver: info.driver_name.clone(),
                    mac,
                    socket: info.socket_id,
                },
                port,
                iface,
            ));
        }

        // One pool per NUMA socket in use (workers' and ports').
        let worker_socket = |i: usize| lcores.get(i).map_or(0, |l| l.socket_id());
        let mut sockets: Vec<u32> = lcores.iter().map(|l| l.socket_id()).collect();
        sockets.extend(ports.iter().filter_map(|(p, _, _)| p.socket));
        sockets.sort_unstable();
        sockets.dedup();
        let max_mtu = cfg.interfaces.iter().map(|i| i.mtu).max().unwrap_or(1500);
        let room = data_room(max_mtu);
        let mut pools: BTreeMap<u32, Mempool> = BTreeMap::new();
        for &s in &sockets {
            pools.insert(s, make_pool(&eal, cfg, s, room)?);
        }
        let pool_of = |socket: u32| -> anyhow::Result<Mempool> {
            pools
                .get(&socket)
                .cloned()
                .ok_or_else(|| anyhow!("no mempool for NUMA socket {socket}"))
        };
        let single_pool = pools.len() == 1;

        let rss = if n_workers > 1 { Rss::Ip } else { Rss::None };
        let mut macs: [Option<[u8; 6]>; IFACE_COUNT] = [None; IFACE_COUNT];
        for (info, port, iface) in &mut ports {
            let pool = pool_of(info.socket.unwrap_or_else(|| worker_socket(0)))?;
            let pc = PortConfig {
                queues,
                rx_desc: cfg.dpdk.rx_descriptors,
                tx_desc: cfg.dpdk.tx_descriptors,
                rss,
                mtu: Some(iface.mtu),
                // Valid only when every mbuf sent comes from one pool.
                fast_free: single_pool,
            };
            port.configure(&pc, &pool).with_context(|| {
                format!("interfaces.{}: configuring {}", info.iface, info.device)
            })?;
            if n_workers > 1 && port.rss_hf() == 0 {
                warn!(
                    "interfaces.{}: {} has no RSS: all its traffic goes to worker 0",
                    info.iface, info.driver
                );
            }
            macs[translate::iface_of(info.iface).index()] = Some(info.mac);
        }

        // The tables, with the interfaces and every static session, before
        // any frame is received.
        let mut dcfg = DpConfig::new(n_workers, tsc_hz(&eal));
        dcfg.net = translate::net_config(cfg, &macs);
        dcfg.max_sessions = usize::try_from(cfg.dataplane.max_sessions).unwrap_or(usize::MAX);
        let (mut ctl, wports) = Control::new(dcfg);
        let mut batch = Batch::default();
        for s in &cfg.sessions {
            let t = translate::check_session(&cfg.interfaces, s)
                .map_err(|e| anyhow!("sessions (id {}): {e}", s.id))?;
            batch.upserts.push(t);
        }
        if !batch.upserts.is_empty() {
            ctl.publish(batch)
                .map_err(|e| anyhow!("static sessions refused by the dataplane: {e}"))?;
        }
        info!("{} static sessions installed", ctl.session_count());

        // Start the ports and hand queue i of each to worker i.
        let mut rx: Vec<[Option<dpdk::RxQueue>; IFACE_COUNT]> =
            (0..n_workers).map(|_| Default::default()).collect();
        let mut tx: Vec<[Option<dpdk::TxQueue>; IFACE_COUNT]> =
            (0..n_workers).map(|_| Default::default()).collect();
        for (info, port, _) in &mut ports {
            let (rq, tq) = port
                .start()
                .with_context(|| format!("interfaces.{}: starting {}", info.iface, info.device))?;
            let idx = translate::iface_of(info.iface).index();
            for (w, q) in rq.into_iter().enumerate() {
                rx[w][idx] = Some(q);
            }
            for (w, q) in tq.into_iter().enumerate() {
                tx[w][idx] = Some(q);
            }
            let link = port.link().ok();
            info!(
                "interfaces.{}: port {} {} (driver {}, MAC {}, NUMA {}): link {}{}, {} queue pair(s){}, promiscuous {}",
                info.iface,
                port.id(),
                info.device,
                info.driver,
                fmt_mac(info.mac),
                info.socket
                    .map_or_else(|| "any".to_owned(), |s| s.to_string()),
                match link {
                    Some(l) if l.up => "up",
                    Some(_) => "down",
                    None => "unknown",
                },
                link.filter(|l| l.up && l.speed_mbps > 0)
                    .map(|l| format!(" {} Mbps", l.speed_mbps))
                    .unwrap_or_default(),
                queues,
                if port.rss_hf() != 0 {
                    ", RSS on IP"
                } else {
                    ""
                },
                if port.is_promiscuous() { "on" } else { "off" },
            );
        }

        // Workers.
        let stats: Arc<[PollStats]> = (0..n_workers).map(|_| PollStats::default()).collect();
        let mut workers = Workers {
            stop: Arc::new(AtomicBool::new(false)),
            handles: Vec::with_capacity(n_workers),
            stats: stats.clone(),
        };
        let backoff = cfg.dataplane.idle_backoff;
        let burst = usize::from(cfg.dataplane.burst);
        for (((w, wport), (rxq, txq)), lcore) in wports
            .into_iter()
            .enumerate()
            .zip(rx.into_iter().zip(tx))
            .zip(lcores.iter().copied())
        {
            let io = DpdkIo::new(rxq, txq, pool_of(lcore.socket_id())?, burst);
            let stop = workers.stop.clone();
            let st = stats.clone();
            st[w].running.store(true, Ordering::Release);
            let h = eal
                .launch(lcore, move || {
                    worker_main(w, wport, io, &stop, &st, backoff)
                })
                .with_context(|| format!("launching worker {w} on {lcore}"))?;
            workers.handles.push(h);
        }
        let deadline = Instant::now() + WORKER_START_TIMEOUT;
        while (0..n_workers).any(|w| ctl.worker_generation(w) == 0) {
            if let Some(w) = (0..n_workers).find(|&w| !stats[w].running.load(Ordering::Acquire)) {
                bail!("worker {w} stopped during start-up");
            }
            if Instant::now() > deadline {
                bail!("workers did not start within {WORKER_START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        info!(
            "{n_workers} worker(s) polling on lcore(s) {}{}",
            cfg.cores
                .workers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            backoff.map_or_else(String::new, |b| format!(
                " (idle back-off: {:?} after {} empty polls)",
                b.sleep, b.empty_polls
            ))
        );

        Ok(Self {
            workers,
            ctl,
            ports: ports.into_iter().map(|(i, p, _)| (i, p)).collect(),
            pools: pools.into_values().collect(),
            eal,
            _rundir: rundir,
            memory_locked,
        })
    }

    /// Whether memory mapped after EAL start is locked (`mlockall`
    /// `MCL_FUTURE`; needs CAP_IPC_LOCK or an unlimited memlock limit).
    #[must_use]
    pub fn memory_locked(&self) -> bool {
        self.memory_locked
    }

    /// The dataplane's control facade: publish, reclaim, counters, events.
    pub fn control(&mut self) -> &mut Control {
        &mut self.ctl
    }

    /// The dataplane's control facade, read-only.
    #[must_use]
    pub fn control_ref(&self) -> &Control {
        &self.ctl
    }

    /// The ports, in interface order (n3, n6, n9).
    pub fn ports(&self) -> impl Iterator<Item = (&PortInfo, &Port)> {
        self.ports.iter().map(|(i, p)| (i, p))
    }

    /// Mbufs (all pools): (allocated now, created). Allocated counts those
    /// in NIC rings, in the workers' hands and in buffering FARs; per-lcore
    /// caches count as free. O(lcores).
    #[must_use]
    pub fn mbufs(&self) -> (u64, u64) {
        self.pools.iter().fold((0, 0), |(u, n), p| {
            (u + u64::from(p.in_use()), n + u64::from(p.size()))
        })
    }

    /// Poll counts per worker.
    #[must_use]
    pub fn poll_stats(&self) -> &[PollStats] {
        &self.workers.stats
    }

    /// Workers whose loop has returned (only a panic does that while
    /// running).
    #[must_use]
    pub fn dead_workers(&self) -> Vec<usize> {
        (0..self.workers.stats.len())
            .filter(|&w| !self.workers.stats[w].running.load(Ordering::Acquire))
            .collect()
    }

    /// Stops the workers and waits for them (idempotent). The dataplane's
    /// counters are final afterwards.
    pub fn stop_workers(&mut self) {
        for (lcore, r) in self.workers.join() {
            match r {
                Ok(_) => debug!("worker on lcore {lcore} stopped"),
                Err(e) => warn!("worker on lcore {lcore}: {e}"),
            }
        }
    }

    /// Stops the workers, then the ports, and frees everything. Returns
    /// the port counters read after the workers stopped (the final ones).
    pub fn shutdown(mut self) -> Vec<(PortInfo, Option<dpdk::Stats>)> {
        self.stop_workers();
        let mut out = Vec::new();
        for (info, port) in &mut self.ports {
            let stats = port.stats().ok();
            if let Err(e) = port.stop() {
                warn!("interfaces.{}: stopping {}: {e}", info.iface, info.device);
            }
            out.push((info.clone(), stats));
        }
        // Dropping self closes the ports, frees the pools, cleans up EAL
        // and removes its runtime directory, in that order.
        drop(self);
        out
    }
}

/// One worker's loop, on its own lcore, until the stop flag is set.
fn worker_main(
    w: usize,
    port: WorkerPort,
    io: DpdkIo,
    stop: &AtomicBool,
    stats: &[PollStats],
    backoff: Option<IdleBackoff>,
) -> i32 {
    /// Clears `running` however the loop ends (a panic unwinds through it
    /// in debug builds; release builds abort on panic).
    struct Running<'a>(&'a AtomicBool);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let Some(st) = stats.get(w) else { return -1 };
    let _running = Running(&st.running);
    // "/proc/thread-self" links to "/proc/PID/task/TID".
    if let Some(tid) = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
    {
        st.tid.store(tid, Ordering::Relaxed);
    }
    let mut worker = Worker::new(port, io);
    let (mut busy, mut idle, mut empty) = (0u64, 0u64, 0u32);
    // Poll-gap window: plain locals; the shared lines are only read (the
    // epoch, a relaxed load) or written when the maximum grows.
    let (mut last, mut gap_max, mut epoch) = (cpu::rdtsc(), 0u64, u64::MAX);
    while !stop.load(Ordering::Relaxed) {
        let now = cpu::rdtsc();
        let gap = now.wrapping_sub(last);
        last = now;
        let e = st.gap_epoch.load(Ordering::Relaxed);
        if e != epoch {
            epoch = e;
            gap_max = 0;
            st.gap_max.store(0, Ordering::Relaxed);
            st.gap_epoch_seen.store(e, Ordering::Release);
        } else if gap > gap_max {
            gap_max = gap;
            st.gap_max.store(gap, Ordering::Relaxed);
        }
        if worker.poll(now) {
            busy += 1;
            empty = 0;
            st.busy.store(busy, Ordering::Relaxed);
        } else {
            idle += 1;
            empty = empty.saturating_add(1);
            st.idle.store(idle, Ordering::Relaxed);
            if let Some(b) = backoff
                && empty >= b.empty_polls
            {
                std::thread::sleep(b.sleep);
            }
        }
    }
    drop(worker);
    0
}

/// Drop reasons and their labels, for the telemetry model.
pub fn drop_labels() -> impl Iterator<Item = (usize, &'static str)> {
    dataplane::counters::DropReason::ALL
        .iter()
        .map(|r| (*r as usize, r.label()))
}

/// The dataplane's interface index of config interface `name`.
#[must_use]
pub fn iface_index(name: InterfaceName) -> usize {
    translate::iface_of(name).index()
}

/// The TSC rate the dataplane's meters and timers use: measured against the
/// monotonic clock (50 ms at start) where that is within 1 % of EAL's
/// estimate, which on a VM is rounded to 10 MHz (2.6 GHz for this guest's
/// 2,596.1 MHz TSC): with it, every MBR was enforced 0.15 % low and N4's
/// packet times drifted 5.4 s an hour.
fn tsc_hz(eal: &Eal) -> u64 {
    let estimate = eal.tsc_hz();
    let measured = cpu::measure_tsc_hz(Duration::from_millis(50));
    if measured.abs_diff(estimate) <= estimate / 100 {
        debug!("TSC {measured} Hz (measured; EAL's estimate {estimate} Hz)");
        measured
    } else {
        warn!(
            "TSC measured at {measured} Hz, EAL says {estimate} Hz: more than 1 % apart, EAL's rate is used"
        );
        estimate
    }
}
