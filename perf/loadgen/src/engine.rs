//! The DPDK side of the generator: two ports (N3, N6), the tx part (paced
//! bursts built from the template pool) and the rx part (classification
//! and accounting), run for one trial on one lcore (both parts) or two (one
//! each), and the service work between trials (links, ARP, learning the
//! device's MACs) on the main lcore.
//!
//! The parts move into the lcore closures for a trial and come back when
//! it ends, so no state is shared while packets flow except one stop flag
//! and the ARP replies the rx part hands to the tx part over a channel.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use dpdk::{
    Burst, Eal, Lcore, MBUF_DEFAULT_BUF_SIZE, Mbuf, Mempool, Port, PortConfig, Rss, RxQueue,
    Socket, TxQueue,
};
use serde::Serialize;

use crate::cpustat::{self, CpuShare};
use crate::pace::Pacer;
use crate::plan::Plan;
use crate::stamp::Dir;
use crate::stats::{Latency, Mismatches, Receiver, Side};
use crate::template::Templates;
use crate::wire::{ARP_REPLY, ARP_REQUEST, Arp, Expect, FrameSpec, Mac};

/// Largest burst the tx and rx loops handle.
pub const MAX_BURST: usize = 64;

/// A frame to send outside the paced traffic (ARP).
type Inject = (Side, Vec<u8>);

/// Transmit counters of one direction in one trial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TxDir {
    /// Packets handed to the port (accepted + refused).
    pub offered: u64,
    /// Packets the port accepted.
    pub sent: u64,
    /// Packets the port refused (its ring full: over memif, the device
    /// under test not draining its receive ring — a loss at its ingress).
    pub refused: u64,
    /// Packets the schedule skipped because the generator fell behind (not
    /// offered; they lower the offered rate instead).
    pub skipped: u64,
    /// Bursts that found the mempool empty (their packets count as skipped).
    pub alloc_failures: u64,
}

/// The transmit half: queues, mbuf pool, templates, per-session sequence
/// numbers.
pub struct TxPart {
    txq: [TxQueue; 2],
    pool: Mempool,
    templates: Option<Templates>,
    cursor: [usize; 2],
    seq: [Vec<u32>; 2],
    burst: usize,
    /// Per direction.
    pub counters: [TxDir; 2],
    inject_rx: mpsc::Receiver<Inject>,
    /// Injected frames that could not be sent.
    pub inject_failures: u64,
    /// CPU share of the sending lcore while it sent (from schedstat).
    pub cpu: Option<CpuShare>,
}

impl TxPart {
    fn begin(&mut self, trial: u16) {
        if let Some(t) = &mut self.templates {
            t.set_trial(trial);
        }
        for v in &mut self.seq {
            v.fill(0);
        }
        self.counters = [TxDir::default(); 2];
        self.cpu = None;
    }

    /// Builds and sends `n` (≤ burst) frames of direction `d`.
    #[inline]
    fn send(&mut self, d: Dir, n: usize) {
        let Some(t) = &self.templates else { return };
        let di = d.index();
        let mut b = Burst::<MAX_BURST>::new();
        if !self.pool.alloc_bulk(&mut b, n) {
            self.counters[di].alloc_failures += 1;
            self.counters[di].skipped += n as u64;
            return;
        }
        let tmpl = &t.dirs[di];
        let len = tmpl.frame_len();
        let order = &t.order;
        let mut sessions = [0u32; MAX_BURST];
        for (k, m) in b.iter_mut().enumerate() {
            let s = order[self.cursor[di]];
            self.cursor[di] += 1;
            if self.cursor[di] == order.len() {
                self.cursor[di] = 0;
            }
            sessions[k] = s;
            // A fresh mbuf has 2 KB of tailroom; templates are at most
            // MAX_INNER + 58 bytes.
            let _ = m.append(len);
            tmpl.copy(s as usize, m.data_mut());
        }
        // One timestamp for the burst, as close to the hand-over as we can.
        let now = cpu::rdtsc();
        let seq = &mut self.seq[di];
        for (k, m) in b.iter_mut().enumerate() {
            let s = sessions[k] as usize;
            tmpl.stamp(m.data_mut(), seq[s], now);
            seq[s] = seq[s].wrapping_add(1);
        }
        let sent = self.txq[Side::tx_of(d).index()].tx_burst(&mut b);
        let c = &mut self.counters[di];
        c.offered += n as u64;
        c.sent += sent as u64;
        c.refused += (n - sent) as u64;
        b.clear();
    }

    /// Sends the frames the rx part asked for (ARP replies).
    #[inline]
    fn inject(&mut self) {
        while let Ok((side, frame)) = self.inject_rx.try_recv() {
            self.send_raw(side, &frame);
        }
    }

    fn send_raw(&mut self, side: Side, frame: &[u8]) {
        let Some(m) = Mbuf::from_bytes(&self.pool, frame) else {
            self.inject_failures += 1;
            return;
        };
        let mut b = Burst::<1>::new();
        let _ = b.push(m);
        if self.txq[side.index()].tx_burst(&mut b) == 0 {
            self.inject_failures += 1;
        }
    }
}

/// Who we are on each link, for ARP.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// Our MAC per side.
    pub macs: [Mac; 2],
    /// The address we answer ARP for per side (N3: the gNB, N6: the data
    /// network gateway of the UPF).
    pub ips: [Ipv4Addr; 2],
    /// The device's address per side (learned by ARP).
    pub peer_ips: [Ipv4Addr; 2],
}

/// The receive half.
pub struct RxPart {
    rxq: [RxQueue; 2],
    /// Accounting.
    pub receiver: Receiver,
    id: Identity,
    inject_tx: mpsc::Sender<Inject>,
    /// The device's MAC per side, from its ARP packets.
    pub learned: [Option<Mac>; 2],
}

impl RxPart {
    /// Polls both ports once; returns the frames received.
    #[inline]
    fn poll(&mut self) -> usize {
        let mut total = 0;
        let mut b = Burst::<MAX_BURST>::new();
        for side in Side::ALL {
            let n = self.rxq[side.index()].rx_burst(&mut b);
            if n == 0 {
                continue;
            }
            total += n;
            let now = cpu::rdtsc();
            for m in b.iter() {
                if let Some(a) = self.receiver.on_frame(side, m.data(), now) {
                    self.on_arp(side, &a);
                }
            }
            b.clear();
        }
        total
    }

    fn on_arp(&mut self, side: Side, a: &Arp) {
        let i = side.index();
        if self.id.macs.contains(&a.sha) {
            return; // our own request, looped back by a passthrough device
        }
        if a.spa == self.id.peer_ips[i] {
            self.learned[i] = Some(a.sha);
        }
        if a.op == ARP_REQUEST && a.tpa == self.id.ips[i] {
            let reply = Arp {
                op: ARP_REPLY,
                sha: self.id.macs[i],
                spa: self.id.ips[i],
                tha: a.sha,
                tpa: a.spa,
            };
            let _ = self.inject_tx.send((side, reply.frame()));
        }
    }

    /// Stamped frames of this trial received so far (good or not).
    fn stamped(&self) -> u64 {
        self.receiver
            .dirs
            .iter()
            .map(|d| d.packets + d.mismatched.total())
            .sum()
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// N3 and N6 device strings.
    pub devices: [String; 2],
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Packets per burst (≤ [`MAX_BURST`]).
    pub burst: usize,
    /// Directions sent.
    pub dirs: Vec<Dir>,
    /// Receive for this long after the last packet was sent.
    pub drain: Duration,
    /// Cap on the packets due at once after a stall, per direction.
    pub max_backlog: u64,
    /// The session plan.
    pub plan: Plan,
    /// Frame sizes.
    pub spec: FrameSpec,
    /// What the device should send back.
    pub expect: Expect,
    /// The lcore that sends (and receives, if `rx_lcore` is `None`).
    pub tx_lcore: Lcore,
    /// A separate receiving lcore.
    pub rx_lcore: Option<Lcore>,
    /// ARP identities (MACs are filled in from the ports).
    pub ips: [Ipv4Addr; 2],
    /// The device's addresses.
    pub peer_ips: [Ipv4Addr; 2],
    /// The device under test's process and the name prefix of its worker
    /// threads, to measure their CPU time per trial.
    pub dut_threads: Option<(u32, String)>,
    /// Also accept DL frames with gNB TEID `base + session` (and count
    /// switches between the two versions).
    pub alt_dl_teid_base: Option<u32>,
}

/// Everything measured in one direction of one trial.
#[derive(Clone, Debug, Serialize)]
pub struct DirReport {
    /// "ul" / "dl".
    pub direction: &'static str,
    /// Frame bytes sent (FCS excluded).
    pub frame_bytes: usize,
    /// Transmit counters.
    pub tx: TxDir,
    /// Good frames received.
    pub received: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// offered − received (can be negative only with duplicates).
    pub lost: i64,
    /// lost / offered, ≥ 0.
    pub loss: f64,
    /// Offered rate (Mpps).
    pub offered_mpps: f64,
    /// Received rate over the trial duration (Mpps).
    pub rx_mpps: f64,
    /// Received rate in Gbit/s of frame bytes (FCS excluded).
    pub rx_gbps: f64,
    /// Late frames (RFC 4737 reordered).
    pub reordered: u64,
    /// Duplicated frames.
    pub duplicates: u64,
    /// Frames with our stamp but wrong headers or port.
    pub mismatched: Mismatches,
    /// Receive TSC before stamp.
    pub clock_skew: u64,
    /// Good DL frames with the alternative TEID (`--dl-teid-alt-base`).
    pub alt_teid: u64,
    /// TEID version changes between consecutive good DL frames.
    pub version_switches: u64,
    /// TEID version changes summed over sessions.
    pub session_switches: u64,
    /// Latency.
    pub latency: Latency,
}

/// One trial.
#[derive(Clone, Debug, Serialize)]
pub struct TrialReport {
    /// Trial number (in the stamps).
    pub trial: u16,
    /// Rate asked for, Mpps per direction.
    pub target_mpps_per_dir: f64,
    /// Rate offered (the lower of the directions), Mpps per direction.
    pub offered_mpps_per_dir: f64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Worst direction's loss ratio.
    pub loss: f64,
    /// Per direction sent.
    pub directions: Vec<DirReport>,
    /// Stamped frames of earlier trials that arrived during this one.
    pub stale: u64,
    /// Unrecognised frames received.
    pub other: u64,
    /// ARP frames received.
    pub arp: u64,
    /// CPU share of the generator's sending lcore during the sending phase.
    pub generator_cpu: Option<CpuShare>,
    /// CPU share of the device's worker threads over the trial (summed
    /// over threads: 1.0 = one whole CPU).
    pub dut_cpu: Option<CpuShare>,
    /// Received Mpps (all directions) per CPU-second of the device's
    /// workers: its throughput per core, robust to a shared machine, but
    /// only a capacity figure when the device was overloaded (loss > 0).
    pub rx_mpps_per_dut_cpu: Option<f64>,
}

impl crate::search::Outcome for TrialReport {
    fn offered_pps(&self) -> f64 {
        self.offered_mpps_per_dir * 1e6
    }
    fn loss(&self) -> f64 {
        self.loss
    }
}

/// The generator with its ports open.
pub struct Engine {
    eal: Eal,
    cfg: EngineConfig,
    ports: [Port; 2],
    tx: Option<TxPart>,
    rx: Option<RxPart>,
    trial: u16,
    tsc_hz: u64,
    id: Identity,
}

impl Engine {
    /// Creates the mempool, opens, configures and starts both ports.
    ///
    /// # Errors
    /// When a device cannot be opened or started.
    pub fn open(eal: &Eal, cfg: EngineConfig) -> anyhow::Result<Engine> {
        if cfg.burst == 0 || cfg.burst > MAX_BURST {
            bail!("burst must be 1..={MAX_BURST}");
        }
        let pool = Mempool::pktmbuf(
            eal,
            "loadgen",
            cfg.mbufs,
            256,
            MBUF_DEFAULT_BUF_SIZE,
            Socket::Any,
        )
        .context("creating the mbuf pool (more EAL memory: -m)")?;
        let open = |dev: &str, side: Side| -> anyhow::Result<(Port, RxQueue, TxQueue)> {
            let mut p = Port::open(eal, dev)
                .with_context(|| format!("opening the {} port {dev:?}", side.name()))?;
            let mut pc = PortConfig::new(1);
            pc.rss = Rss::None;
            p.configure(&pc, &pool)
                .with_context(|| format!("configuring the {} port", side.name()))?;
            let (mut rx, mut tx) = p
                .start()
                .with_context(|| format!("starting the {} port {dev:?}", side.name()))?;
            if let Err(e) = p.set_promiscuous(true) {
                log::debug!("{} port: promiscuous mode: {e}", side.name());
            }
            let (Some(r), Some(t)) = (rx.pop(), tx.pop()) else {
                bail!("{} port started without queues", side.name());
            };
            Ok((p, r, t))
        };
        let (p3, r3, t3) = open(&cfg.devices[0], Side::N3)?;
        let (p6, r6, t6) = open(&cfg.devices[1], Side::N6)?;
        let macs = [p3.mac_address()?, p6.mac_address()?];
        let id = Identity {
            macs,
            ips: cfg.ips,
            peer_ips: cfg.peer_ips,
        };
        let tsc_hz = eal.tsc_hz();
        let (inject_tx, inject_rx) = mpsc::channel();
        let n = cfg.plan.sessions as usize;
        let tx = TxPart {
            txq: [t3, t6],
            pool,
            templates: None,
            cursor: [0; 2],
            seq: [vec![0; n], vec![0; n]],
            burst: cfg.burst,
            counters: [TxDir::default(); 2],
            inject_rx,
            inject_failures: 0,
            cpu: None,
        };
        let rx = RxPart {
            rxq: [r3, r6],
            receiver: {
                let mut r = Receiver::new(&cfg.plan, cfg.spec, cfg.expect, tsc_hz, macs);
                r.set_alt_dl_teid_base(cfg.alt_dl_teid_base);
                r
            },
            id,
            inject_tx,
            learned: [None; 2],
        };
        Ok(Engine {
            eal: eal.clone(),
            cfg,
            ports: [p3, p6],
            tx: Some(tx),
            rx: Some(rx),
            trial: 0,
            tsc_hz,
            id,
        })
    }

    /// Our MACs (N3, N6).
    #[must_use]
    pub fn macs(&self) -> [Mac; 2] {
        self.id.macs
    }

    /// The TSC frequency.
    #[must_use]
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Port names, for messages.
    #[must_use]
    pub fn port_names(&self) -> [String; 2] {
        [self.ports[0].to_string(), self.ports[1].to_string()]
    }

    fn parts(&mut self) -> anyhow::Result<(&mut TxPart, &mut RxPart)> {
        match (&mut self.tx, &mut self.rx) {
            (Some(t), Some(r)) => Ok((t, r)),
            _ => Err(anyhow!("a worker lcore did not hand back its queues")),
        }
    }

    /// Waits until both links are up (memif: the peer connected), serving
    /// ARP meanwhile.
    ///
    /// # Errors
    /// When `timeout` passes first.
    pub fn wait_links(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let t0 = Instant::now();
        loop {
            let up = [self.ports[0].link()?.up, self.ports[1].link()?.up];
            if up == [true, true] {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                let down: Vec<String> = Side::ALL
                    .iter()
                    .zip(up)
                    .filter(|(_, u)| !u)
                    .map(|(s, _)| format!("{} ({})", s.name(), self.ports[s.index()]))
                    .collect();
                bail!(
                    "link down after {:.1} s on {}: is the device under test running and connected (memif: the other side's socket and role)?",
                    timeout.as_secs_f64(),
                    down.join(", ")
                );
            }
            self.service(Duration::from_millis(20))?;
        }
    }

    /// Both links up.
    #[must_use]
    pub fn links_up(&self) -> bool {
        self.ports.iter().all(|p| p.link().is_ok_and(|l| l.up))
    }

    /// Receives and answers ARP for `d` on the main lcore (between trials).
    ///
    /// # Errors
    /// Only when the parts are missing.
    pub fn service(&mut self, d: Duration) -> anyhow::Result<()> {
        let (tx, rx) = self.parts()?;
        let t0 = Instant::now();
        while t0.elapsed() < d {
            if rx.poll() == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            tx.inject();
        }
        Ok(())
    }

    /// Learns the device's MAC on each side not given in `given`: sends ARP
    /// requests for its address every 200 ms and takes the sender of its
    /// ARP packets, or failing that the source of the first frame it sends.
    ///
    /// # Errors
    /// When a MAC is not learned within `timeout`, naming the side.
    pub fn resolve(
        &mut self,
        given: [Option<Mac>; 2],
        timeout: Duration,
    ) -> anyhow::Result<[Mac; 2]> {
        let t0 = Instant::now();
        let id = self.id;
        loop {
            let (tx, rx) = self.parts()?;
            let found: [Option<Mac>; 2] =
                [0, 1].map(|i| given[i].or(rx.learned[i]).or(rx.receiver.first_src[i]));
            if let [Some(a), Some(b)] = found {
                return Ok([a, b]);
            }
            if t0.elapsed() > timeout {
                let missing: Vec<&str> = Side::ALL
                    .iter()
                    .filter(|s| found[s.index()].is_none())
                    .map(|s| s.name())
                    .collect();
                bail!(
                    "could not learn the device's MAC on {} within {:.1} s (no ARP answer for {}, no frame from it): pass --{}-peer-mac",
                    missing.join(", "),
                    timeout.as_secs_f64(),
                    missing
                        .iter()
                        .map(|m| if *m == "n3" {
                            id.peer_ips[0]
                        } else {
                            id.peer_ips[1]
                        }
                        .to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    missing.join("/--")
                );
            }
            for side in Side::ALL {
                if found[side.index()].is_none() {
                    let req = Arp {
                        op: ARP_REQUEST,
                        sha: id.macs[side.index()],
                        spa: id.ips[side.index()],
                        tha: [0; 6],
                        tpa: id.peer_ips[side.index()],
                    };
                    tx.send_raw(side, &req.frame());
                }
            }
            self.service(Duration::from_millis(200))?;
        }
    }

    /// Announces our addresses (gratuitous ARP) so that a device that
    /// learns from ARP has our MACs before the first packet.
    ///
    /// # Errors
    /// Only when the parts are missing.
    pub fn announce(&mut self) -> anyhow::Result<()> {
        let id = self.id;
        let (tx, _) = self.parts()?;
        for side in Side::ALL {
            let i = side.index();
            let g = Arp {
                op: ARP_REQUEST,
                sha: id.macs[i],
                spa: id.ips[i],
                tha: [0; 6],
                tpa: id.ips[i],
            };
            tx.send_raw(side, &g.frame());
        }
        Ok(())
    }

    /// Measures the CPU time of process `pid`'s threads named `prefix*` per
    /// trial.
    pub fn set_dut_threads(&mut self, pid: u32, prefix: &str) {
        self.cfg.dut_threads = Some((pid, prefix.to_owned()));
    }

    /// Installs the frames to send.
    ///
    /// # Errors
    /// Only when the parts are missing.
    pub fn set_templates(&mut self, t: Templates) -> anyhow::Result<()> {
        self.parts()?.0.templates = Some(t);
        Ok(())
    }

    /// Runs one trial: `pps_per_dir` in every configured direction for
    /// `duration`, then receives for the drain period.
    ///
    /// # Errors
    /// When a worker lcore cannot be launched or fails.
    pub fn trial(&mut self, pps_per_dir: f64, duration: Duration) -> anyhow::Result<TrialReport> {
        self.trial_until(pps_per_dir, duration, None)
    }

    /// Like [`Engine::trial`], but the sending ends early once `stop_file`
    /// exists (looked for every 50 ms): a test that is done with the
    /// traffic need not wait out a trial sized for the slowest machine.
    /// The drain follows as always; the report's rates are over the time
    /// actually sent.
    ///
    /// # Errors
    /// As [`Engine::trial`].
    pub fn trial_until(
        &mut self,
        pps_per_dir: f64,
        duration: Duration,
        stop_file: Option<&Path>,
    ) -> anyhow::Result<TrialReport> {
        self.trial = self.trial.wrapping_add(1);
        let trial = self.trial;
        let (Some(mut tx), Some(mut rx)) = (self.tx.take(), self.rx.take()) else {
            bail!("a worker lcore did not hand back its queues");
        };
        tx.begin(trial);
        rx.receiver.begin(trial);
        let dut_cpu = |c: &EngineConfig| {
            c.dut_threads
                .as_ref()
                .and_then(|(pid, prefix)| cpustat::threads_of(*pid, prefix))
        };
        let dut0 = dut_cpu(&self.cfg);
        let t0 = Instant::now();
        let hz = self.tsc_hz;
        let secs_to_tsc = |d: Duration| (d.as_secs_f64() * hz as f64) as u64;
        let plan = TrialPlan {
            dirs: self.cfg.dirs.clone(),
            pps: pps_per_dir,
            hz,
            duration_tsc: secs_to_tsc(duration),
            drain_tsc: secs_to_tsc(self.cfg.drain),
            max_backlog: self.cfg.max_backlog,
            burst: tx.burst,
            cut: Arc::new(AtomicBool::new(false)),
        };
        let cut = Arc::clone(&plan.cut);
        let mut cut_at = None;
        // The main lcore sleeps on a channel while the workers run:
        // `rte_eal_wait_lcore` spins, and on a machine where the main and
        // the worker lcore share a CPU the spin would halve the worker.
        // Each worker sends its part back (or drops the sender by
        // panicking) just before it returns, so `wait` then spins briefly.
        let (tx, rx) = match self.cfg.rx_lcore {
            None => {
                let (back, got) = mpsc::channel();
                let h = self.eal.launch(self.cfg.tx_lcore, move || {
                    plan.run_combined(&mut tx, &mut rx);
                    let _ = back.send((tx, rx));
                    0
                })?;
                let parts = wait_part(&got, stop_file, &cut, &mut cut_at);
                h.wait().context("the generator lcore failed")?;
                parts.context("the generator lcore did not hand back its queues")?
            }
            Some(rx_lcore) => {
                let stop = Arc::new(AtomicBool::new(false));
                let (rback, rgot) = mpsc::channel();
                let s = Arc::clone(&stop);
                let hr = self.eal.launch(rx_lcore, move || {
                    while !s.load(Ordering::Relaxed) {
                        rx.poll();
                    }
                    rx.poll();
                    let _ = rback.send(rx);
                    0
                })?;
                let (tback, tgot) = mpsc::channel();
                let p = plan.clone();
                let ht = self.eal.launch(self.cfg.tx_lcore, move || {
                    p.run_tx(&mut tx);
                    let _ = tback.send(tx);
                    0
                })?;
                let tx_part = wait_part(&tgot, stop_file, &cut, &mut cut_at);
                let tx_done = ht.wait();
                // The rx lcore keeps receiving for the drain period.
                std::thread::sleep(self.cfg.drain);
                stop.store(true, Ordering::Relaxed);
                let rx_part = rgot.recv();
                let rx_done = hr.wait();
                tx_done.context("the tx lcore failed")?;
                rx_done.context("the rx lcore failed")?;
                (
                    tx_part.context("the tx lcore did not hand back its queues")?,
                    rx_part.context("the rx lcore did not hand back its queues")?,
                )
            }
        };
        let wall = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let dut = match (dut0, dut_cpu(&self.cfg)) {
            (Some(a), Some(b)) => Some(a.share_until(&b, wall)),
            _ => None,
        };
        let sent_for = cut_at.map_or(duration, |at: Instant| at.duration_since(t0).min(duration));
        let mut report = self.report(trial, pps_per_dir, sent_for, &tx, &rx);
        report.dut_cpu = dut;
        report.rx_mpps_per_dut_cpu = dut
            .filter(|d| d.run > 0.0)
            .map(|d| report.directions.iter().map(|x| x.rx_mpps).sum::<f64>() / d.run);
        self.tx = Some(tx);
        self.rx = Some(rx);
        Ok(report)
    }

    fn report(
        &self,
        trial: u16,
        pps: f64,
        duration: Duration,
        tx: &TxPart,
        rx: &RxPart,
    ) -> TrialReport {
        let secs = duration.as_secs_f64().max(1e-9);
        let r = &rx.receiver;
        let mut directions = Vec::new();
        for &d in &self.cfg.dirs {
            let i = d.index();
            let t = tx.counters[i];
            let rd = &r.dirs[i];
            let lost = t.offered as i64 - rd.packets as i64;
            directions.push(DirReport {
                direction: d.name(),
                frame_bytes: self.cfg.spec.frame_len(d),
                tx: t,
                received: rd.packets,
                received_bytes: rd.bytes,
                lost,
                loss: if t.offered == 0 {
                    1.0
                } else {
                    lost.max(0) as f64 / t.offered as f64
                },
                offered_mpps: t.offered as f64 / secs / 1e6,
                rx_mpps: rd.packets as f64 / secs / 1e6,
                rx_gbps: rd.bytes as f64 * 8.0 / secs / 1e9,
                reordered: rd.reordered,
                duplicates: rd.duplicates,
                mismatched: rd.mismatched,
                clock_skew: rd.clock_skew,
                alt_teid: rd.alt_teid,
                version_switches: rd.version_switches,
                session_switches: rd.session_switches,
                latency: Latency::of(&r.hist[i]),
            });
        }
        let loss = directions.iter().map(|d| d.loss).fold(0.0, f64::max);
        let offered = directions
            .iter()
            .map(|d| d.offered_mpps)
            .fold(f64::INFINITY, f64::min);
        TrialReport {
            trial,
            target_mpps_per_dir: pps / 1e6,
            offered_mpps_per_dir: if offered.is_finite() { offered } else { 0.0 },
            duration_s: secs,
            loss,
            directions,
            stale: r.stale,
            other: r.other,
            arp: r.arp,
            generator_cpu: tx.cpu,
            dut_cpu: None,
            rx_mpps_per_dut_cpu: None,
        }
    }

    /// Port counters (N3, N6), for diagnostics.
    #[must_use]
    pub fn port_stats(&self) -> [Option<dpdk::Stats>; 2] {
        [self.ports[0].stats().ok(), self.ports[1].stats().ok()]
    }
}

/// Waits for a worker lcore's part; meanwhile, once `stop_file` exists,
/// raises `cut` (the worker stops sending) and notes when in `cut_at`.
fn wait_part<T>(
    got: &mpsc::Receiver<T>,
    stop_file: Option<&Path>,
    cut: &AtomicBool,
    cut_at: &mut Option<Instant>,
) -> Result<T, mpsc::RecvError> {
    let Some(file) = stop_file else {
        return got.recv();
    };
    loop {
        match got.recv_timeout(Duration::from_millis(50)) {
            Ok(part) => return Ok(part),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cut_at.is_none() && file.exists() {
                    cut.store(true, Ordering::Relaxed);
                    *cut_at = Some(Instant::now());
                }
            }
        }
    }
}

/// What a worker needs to run one trial.
#[derive(Clone, Debug)]
struct TrialPlan {
    dirs: Vec<Dir>,
    pps: f64,
    hz: u64,
    duration_tsc: u64,
    drain_tsc: u64,
    max_backlog: u64,
    burst: usize,
    /// Raised to end the sending before `duration_tsc` (a stop file).
    cut: Arc<AtomicBool>,
}

impl TrialPlan {
    fn pacers(&self, start: u64) -> Vec<(Dir, Pacer)> {
        self.dirs
            .iter()
            .map(|&d| (d, Pacer::new(start, self.pps, self.hz, self.max_backlog)))
            .collect()
    }

    /// Sends one burst per due direction; returns the TSC read.
    #[inline]
    fn tx_step(&self, tx: &mut TxPart, pacers: &mut [(Dir, Pacer)]) -> u64 {
        let now = cpu::rdtsc();
        for (d, p) in pacers.iter_mut() {
            let due = p.due(now).min(self.burst as u64);
            if due > 0 {
                tx.send(*d, due as usize);
                p.consumed(due);
            }
        }
        now
    }

    fn finish_tx(
        tx: &mut TxPart,
        pacers: &[(Dir, Pacer)],
        cpu0: Option<(cpustat::CpuTime, u64)>,
        hz: u64,
    ) {
        for (d, p) in pacers {
            tx.counters[d.index()].skipped += p.skipped();
        }
        if let (Some((c0, t0)), Some(c1)) = (cpu0, cpustat::this_thread()) {
            let wall_ns = (cpu::rdtsc().saturating_sub(t0) as f64 * 1e9 / hz.max(1) as f64) as u64;
            tx.cpu = Some(c0.share_until(&c1, wall_ns));
        }
    }

    fn cpu_start() -> Option<(cpustat::CpuTime, u64)> {
        cpustat::this_thread().map(|c| (c, cpu::rdtsc()))
    }

    /// One lcore sends and receives.
    fn run_combined(&self, tx: &mut TxPart, rx: &mut RxPart) {
        let cpu0 = Self::cpu_start();
        let start = cpu::rdtsc();
        let end = start + self.duration_tsc;
        let mut pacers = self.pacers(start);
        while self.tx_step(tx, &mut pacers) < end && !self.cut.load(Ordering::Relaxed) {
            rx.poll();
            tx.inject();
        }
        Self::finish_tx(tx, &pacers, cpu0, self.hz);
        // Drain: stop early once every frame sent came back.
        let sent: u64 = tx.counters.iter().map(|c| c.sent).sum();
        let stop = end + self.drain_tsc;
        while cpu::rdtsc() < stop && rx.stamped() < sent {
            rx.poll();
            tx.inject();
        }
    }

    /// The tx lcore of a split pair.
    fn run_tx(&self, tx: &mut TxPart) {
        let cpu0 = Self::cpu_start();
        let start = cpu::rdtsc();
        let end = start + self.duration_tsc;
        let mut pacers = self.pacers(start);
        while self.tx_step(tx, &mut pacers) < end && !self.cut.load(Ordering::Relaxed) {
            tx.inject();
        }
        Self::finish_tx(tx, &pacers, cpu0, self.hz);
    }
}
