//! The UPF's control side without DPDK, for N4 benchmarks and experiments:
//! the N4 driver on a real UDP socket, the dataplane's `Control`, and
//! worker threads on in-memory I/O (no packets; they poll so that retired
//! snapshots and removed sessions' counters are reclaimed as in `upf run`).
//!
//! `cargo run --release -p upf --example n4_standalone -- --listen 127.0.0.1:8805`
//! then point `smf-sim` at it. SIGTERM/SIGINT stop it; it prints one JSON
//! line with its figures (sessions, peak resident memory) on the way out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Parser;
use dataplane::control::{Control, DataplaneConfig};
use dataplane::iface::{IfaceConfig, NetConfig};
use dataplane::wire::ethernet::MacAddr;
use dataplane::worker::{MemIo, Worker};
use pfcp::codec::ies::{NodeIdBuf, SourceInterface};
use pfcp::{GtpuEndpoint, UePool};
use upf::n4::socket::{N4Socket, serve};
use upf::n4::{N4, TscClock};

#[derive(Debug, Parser)]
struct Args {
    /// N4 address.
    #[arg(long, default_value = "127.0.0.1:8805")]
    listen: SocketAddr,
    /// Worker threads (each polls an empty in-memory port).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The UPF's N3 address (CHOOSE F-TEIDs).
    #[arg(long, default_value = "192.168.1.1")]
    n3: Ipv4Addr,
    /// UE pool for CHOOSE.
    #[arg(long, default_value = "10.0.0.0/8")]
    pool: ipnet::Ipv4Net,
    /// Pause of a worker between polls, in microseconds (0: busy poll).
    #[arg(long, default_value_t = 20)]
    worker_sleep_us: u64,
    /// Sessions expected at most (as `dataplane.max_sessions`: the lookup
    /// tables stop doubling at the size that holds them).
    #[arg(long, default_value_t = 1_100_000)]
    max_sessions: usize,
}

fn rss_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() -> Result<()> {
    env_logger::init();
    let args = Args::parse();
    let tsc_hz = cpu::measure_tsc_hz(Duration::from_millis(50));
    let mut dcfg = DataplaneConfig::new(args.workers, tsc_hz);
    dcfg.max_sessions = args.max_sessions;
    let mut n3 = IfaceConfig::v4(MacAddr([2, 0, 0, 0, 3, 1]), args.n3, 24);
    n3.neighbors.clear();
    let n6 = IfaceConfig::v4(
        MacAddr([2, 0, 0, 0, 6, 1]),
        Ipv4Addr::new(10, 200, 0, 1),
        24,
    );
    dcfg.net = NetConfig {
        ifaces: [Some(n3), Some(n6), None],
        error_indication_pps: 100,
        arp_requests_per_sec: 10,
        n4: None,
    };
    let (mut ctl, ports) = Control::new(dcfg);
    let stop = Arc::new(AtomicBool::new(false));
    let sleep = Duration::from_micros(args.worker_sleep_us);
    let workers: Vec<_> = ports
        .into_iter()
        .map(|port| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut w = Worker::new(port, MemIo::default());
                while !stop.load(Ordering::Relaxed) {
                    w.poll(cpu::rdtsc());
                    if !sleep.is_zero() {
                        std::thread::sleep(sleep);
                    }
                }
            })
        })
        .collect();

    let node_ip = match args.listen.ip() {
        IpAddr::V4(a) if !a.is_unspecified() => a,
        _ => args.n3,
    };
    let mut cfg = pfcp::Config::new(NodeIdBuf::Ipv4(node_ip));
    cfg.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(args.n3),
        ipv6: None,
        network_instance: None,
    }];
    cfg.ue_pools = vec![UePool {
        prefix: args.pool.network().into(),
        prefix_len: args.pool.prefix_len(),
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    let now = Instant::now();
    let clock = TscClock {
        hz: tsc_hz,
        tsc: cpu::rdtsc(),
        wall: SystemTime::now(),
    };
    let mut n4 = N4::new(cfg, args.workers, clock, now, SystemTime::now())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (received, sent) = rt.block_on(async {
        let mut sock = N4Socket::bind(args.listen).context("binding the N4 socket")?;
        // First line: the address, last word (scripts read it).
        eprintln!("n4_standalone: listening on {}", sock.local_addr()?);
        eprintln!(
            "n4_standalone: receive buffer {:?} bytes, {} worker(s), TSC {tsc_hz} Hz",
            sock.recv_buffer_size(),
            args.workers
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        serve(&mut sock, &mut n4, &mut ctl, async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
        anyhow::Ok((sock.received, sock.sent))
    })?;
    let doc = serde_json::json!({
        "uptime_s": started.elapsed().as_secs_f64(),
        "pfcp_sessions": n4.node().session_count(),
        "dataplane_sessions": ctl.session_count(),
        "datagrams_received": received,
        "datagrams_sent": sent,
        "vm_rss_kib": rss_kib("VmRSS:"),
        "vm_hwm_kib": rss_kib("VmHWM:"),
        "up": format!("{:?}", n4.up_stats()),
        "tables": format!("{:?}", ctl.map_stats()),
    });
    println!("{doc}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
