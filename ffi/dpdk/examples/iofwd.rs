//! A testpmd-`io`-like forwarder on the `dpdk` wrappers: one worker lcore
//! forwards every burst from port 0 to port 1 and back, untouched. It is the
//! I/O ceiling of the UPF's worker loop, compared with
//! `dpdk-testpmd --forward-mode=io` by `perf/io-baseline.sh`.
//!
//! ```text
//! iofwd [--seconds S] [--warmup S] [--port DEV]... [-- EAL args]
//! ```
//! Defaults: two `net_null` ports, 1 s warm-up, 5 s measured, EAL
//! `-l 0,1 --no-huge -m 512 --no-pci --file-prefix iofwd-<pid>`.
//! Prints `iofwd: <Mpps> Mpps` (packets transmitted on both ports per
//! second over the measured window, from the port counters, as testpmd's
//! `Tx-pps`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dpdk::{Burst, Eal, Mempool, Port, PortConfig, Rss, Socket};

const BURST: usize = 32;

struct Opts {
    seconds: f64,
    warmup: f64,
    ports: Vec<String>,
    eal: Vec<String>,
}

fn parse_args() -> anyhow::Result<Opts> {
    let mut o = Opts {
        seconds: 5.0,
        warmup: 1.0,
        ports: Vec::new(),
        eal: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => o.seconds = it.next().context("--seconds needs a value")?.parse()?,
            "--warmup" => o.warmup = it.next().context("--warmup needs a value")?.parse()?,
            "--port" => o.ports.push(it.next().context("--port needs a device")?),
            "--" => o.eal.extend(it.by_ref()),
            "-h" | "--help" => {
                println!("iofwd [--seconds S] [--warmup S] [--port DEV]... [-- EAL args]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if o.ports.is_empty() {
        o.ports = vec!["net_null0".into(), "net_null1".into()];
    }
    if o.ports.len() != 2 {
        bail!("iofwd forwards between exactly two ports");
    }
    if o.eal.is_empty() {
        o.eal = [
            "-l",
            "0,1",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--file-prefix",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([format!("iofwd-{}", std::process::id())])
        .collect();
    }
    Ok(o)
}

/// Nanoseconds a thread spent on a CPU (first field of its schedstat).
fn cpu_ns(schedstat: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(schedstat)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> anyhow::Result<()> {
    let opts = parse_args()?;
    let eal = Eal::init(&opts.eal)?;
    let runtime_dir = eal.runtime_dir();
    let result = run(&eal, &opts);
    drop(eal);
    let _ = std::fs::remove_dir_all(&runtime_dir);
    result
}

fn run(eal: &Eal, opts: &Opts) -> anyhow::Result<()> {
    let worker = *eal
        .worker_lcores()
        .first()
        .context("no worker lcore: give EAL at least two lcores (-l 0,1)")?;
    // Same pool as testpmd's --total-num-mbufs=16384 with its default cache.
    let pool = Mempool::pktmbuf(
        eal,
        "iofwd",
        16384,
        250,
        dpdk::MBUF_DEFAULT_BUF_SIZE,
        Socket::Id(worker.socket_id()),
    )?;
    let mut ports = Vec::new();
    let mut queues = Vec::new();
    for dev in &opts.ports {
        let mut p = Port::open(eal, dev)?;
        let mut cfg = PortConfig::new(1);
        cfg.rss = Rss::None;
        p.configure(&cfg, &pool)?;
        let (mut rx, mut tx) = p.start()?;
        queues.push((rx.remove(0), tx.remove(0)));
        ports.push(p);
    }
    let (rx1, tx1) = queues.pop().context("two ports")?;
    let (rx0, tx0) = queues.pop().context("two ports")?;
    let (mut rxq, mut txq) = ([rx0, rx1], [tx1, tx0]); // 0 -> 1, 1 -> 0

    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = Arc::clone(&stop);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = eal.launch(worker, move || {
        // Where the main thread reads this thread's CPU time (schedstat).
        let _ = tid_tx.send(std::fs::read_link("/proc/thread-self").ok());
        let mut burst = Burst::<BURST>::new();
        while !stop_w.load(Ordering::Relaxed) {
            for (rx, tx) in rxq.iter_mut().zip(txq.iter_mut()) {
                if rx.rx_burst(&mut burst) > 0 {
                    tx.tx_burst_or_free(&mut burst);
                }
            }
        }
        let dropped: u64 = txq.iter().map(dpdk::TxQueue::dropped).sum();
        i32::try_from(dropped.min(i32::MAX as u64)).unwrap_or(i32::MAX)
    })?;

    let schedstat = tid_rx
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .flatten()
        .map(|dir| std::path::Path::new("/proc").join(dir).join("schedstat"));
    std::thread::sleep(Duration::from_secs_f64(opts.warmup));
    let tx_total = |ports: &[Port]| -> anyhow::Result<u64> {
        ports.iter().map(|p| Ok(p.stats()?.opackets)).sum()
    };
    let c0 = tx_total(&ports)?;
    let cpu0 = schedstat.as_deref().and_then(cpu_ns);
    let t0 = Instant::now();
    let tsc0 = cpu::rdtsc();
    std::thread::sleep(Duration::from_secs_f64(opts.seconds));
    let c1 = tx_total(&ports)?;
    let cpu1 = schedstat.as_deref().and_then(cpu_ns);
    let tsc1 = cpu::rdtsc();
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let dropped = handle.wait()?;

    #[allow(clippy::cast_precision_loss)]
    let pps = (c1 - c0) as f64 / secs;
    #[allow(clippy::cast_precision_loss)]
    let cycles = (tsc1 - tsc0) as f64 / (c1 - c0).max(1) as f64;
    println!(
        "iofwd: {:.3} Mpps ({} packets in {secs:.3} s, {cycles:.1} TSC cycles/pkt, tsc_hz {}, tx dropped {dropped}, burst {BURST}, lcore {})",
        pps / 1e6,
        c1 - c0,
        eal.tsc_hz(),
        worker.id()
    );
    // On a shared machine the worker is preempted; packets per second of
    // the worker's own CPU time is the figure that compares across runs.
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        #[allow(clippy::cast_precision_loss)]
        let cpu_secs = (b - a) as f64 / 1e9;
        #[allow(clippy::cast_precision_loss)]
        let cpu_mpps = (c1 - c0) as f64 / cpu_secs / 1e6;
        println!(
            "iofwd-cpu: {cpu_mpps:.3} Mpps per worker CPU second ({cpu_secs:.3} CPU s of {secs:.3} s)"
        );
    }
    for p in &ports {
        let s = p.stats()?;
        println!(
            "  {p}: rx {} tx {} missed {} nombuf {}",
            s.ipackets, s.opackets, s.imissed, s.rx_nombuf
        );
    }
    Ok(())
}
