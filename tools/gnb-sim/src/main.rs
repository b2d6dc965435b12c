//! `gnb-sim`: a gNB's N3 user plane for the testbed. UE packets from a TUN
//! are sent to the UPF as GTP-U G-PDUs; GTP-U from the UPF goes back into the
//! TUN. Two threads (UL: TUN → socket, DL: socket → TUN), blocking I/O, the
//! sans-IO logic in `gnb_sim::gnb`. See README.md for usage.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use gnb_sim::gnb::{Downlink, Event, Gnb, Report, UL_HEADROOM, UlDrop};
use gnb_sim::netcfg::{NetConfig, Routing};
use gnb_sim::session::{self, SessionTable};
use log::{debug, error, info, warn};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

#[derive(Parser, Debug)]
#[command(version, about = "gNB simulator: UE TUN <-> GTP-U (N3) toward a UPF")]
struct Cli {
    /// A session: UE_IP,ul_teid=T,dl_teid=T,qfi=Q[,upf=IP][,alt_dl_teid=T]...[,id=N]
    /// (TEIDs decimal or 0x-hex; alt_dl_teid: a further DL TEID accepted for
    /// this UE, for path switches). Repeat for several UEs.
    #[arg(long = "ue", value_name = "SPEC")]
    ues: Vec<String>,
    /// JSON session file (format in README.md / `session` module doc),
    /// e.g. written by smf-sim. Repeat for several files (several SMF
    /// simulators); combined with --ue.
    #[arg(long, value_name = "FILE")]
    sessions: Vec<PathBuf>,
    /// The UPF's N3 address for sessions that do not name one.
    #[arg(long, default_value = "192.168.1.1")]
    upf: Ipv4Addr,
    /// Local N3 address and port (GTP-U is received here).
    #[arg(long, default_value = "0.0.0.0:2152")]
    bind: SocketAddrV4,
    /// TUN device name.
    #[arg(long, default_value = "gnbsim0")]
    tun: String,
    /// TUN MTU: inner packets are at most this long. 1400 keeps the GTP-U
    /// frame (inner + 44 bytes) under a 1500-byte N3 MTU.
    #[arg(long, default_value_t = 1400)]
    mtu: u16,
    /// Routing table for UE traffic (`ip rule from <ue> lookup TABLE`).
    #[arg(long, default_value_t = 145)]
    table: u32,
    /// Priority of the per-UE policy rules.
    #[arg(long, default_value_t = 1000)]
    rule_priority: u32,
    /// Destinations routed into the TUN in that table (repeatable).
    #[arg(long = "route", value_name = "CIDR", default_value = "0.0.0.0/0")]
    routes: Vec<String>,
    /// Create the TUN and the UE addresses only; no routes or rules.
    #[arg(long)]
    no_routing: bool,
    /// N3 socket receive/send buffer size in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    socket_buffer: usize,
    /// Hold every uplink packet this many milliseconds before sending it to
    /// the UPF: adds to every round trip through the gNB, as a radio link
    /// and backhaul would (TCP through an MBR policer needs a realistic
    /// RTT: at the testbed's ~0.2 ms, one segment per RTT already exceeds
    /// 10 Mbit/s). 0: none.
    #[arg(long, default_value_t = 0)]
    ul_delay_ms: u64,
    /// Write the per-UE and global counters as JSON here on exit and on SIGUSR1.
    #[arg(long, value_name = "FILE")]
    stats_file: Option<PathBuf>,
    /// Write a small JSON file here once the TUN and the socket are ready
    /// (tests wait for it instead of sleeping).
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

fn print_report(r: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "gnb-sim counters:");
    for u in &r.ues {
        let c: Vec<String> = u
            .counters
            .fields()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  ue {} {}", u.session.ue_ip, c.join(" "));
    }
    let g: Vec<String> = r
        .global
        .fields()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "  global {}", g.join(" "));
}

fn dump(gnb: &Gnb, stats_file: Option<&Path>) {
    let r = gnb.report();
    print_report(&r);
    if let Some(p) = stats_file {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => {
                if let Err(e) = write_atomic(p, &(s + "\n")) {
                    error!("{e:#}");
                }
            }
            Err(e) => error!("stats to JSON: {e}"),
        }
    }
}

/// An uplink packet held back: when to send it, where, the datagram.
type Delayed = (Instant, SocketAddrV4, Vec<u8>);

/// Sends what the uplink hands it once each packet's time has come (the
/// packets come in time order: one deadline queue, no reordering).
fn delay_line(rx: &mpsc::Receiver<Delayed>, gnb: &Gnb, sock: &UdpSocket) {
    while let Ok((at, to, pkt)) = rx.recv() {
        let now = Instant::now();
        if at > now {
            thread::sleep(at - now);
        }
        if let Err(e) = sock.send_to(&pkt, to) {
            gnb.global().ul_send_errors.inc();
            debug!("UL send to {to}: {e}");
        }
    }
}

fn uplink_loop(
    gnb: &Gnb,
    tun: &tun_rs::SyncDevice,
    sock: &UdpSocket,
    delay: Option<&(Duration, mpsc::Sender<Delayed>)>,
) {
    let mut buf = vec![0u8; UL_HEADROOM + 65536];
    loop {
        let n = match tun.recv(&mut buf[UL_HEADROOM..]) {
            Ok(n) => n,
            Err(e) => {
                error!("TUN read: {e}; uplink stops");
                return;
            }
        };
        match gnb.uplink(&mut buf, n) {
            Ok((to, len)) => {
                if let Some((d, tx)) = delay {
                    let _ = tx.send((Instant::now() + *d, to, buf[..len].to_vec()));
                    continue;
                }
                if let Err(e) = sock.send_to(&buf[..len], to) {
                    gnb.global().ul_send_errors.inc();
                    debug!("UL send to {to}: {e}");
                }
            }
            Err(UlDrop::NoSession(src)) => debug!("UL from {src}: no session, dropped"),
            Err(d) => debug!("UL dropped: {d:?}"),
        }
    }
}

fn downlink_loop(gnb: &Gnb, tun: &tun_rs::SyncDevice, sock: &UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                error!("N3 socket read: {e}; downlink stops");
                return;
            }
        };
        match gnb.downlink(&buf[..n]) {
            Downlink::ToTun { offset, len, .. } => {
                if let Err(e) = tun.send(&buf[offset..offset + len]) {
                    gnb.global().tun_write_errors.inc();
                    debug!("TUN write: {e}");
                }
            }
            Downlink::Reply(r) => {
                debug!("Echo Request from {from}, answering");
                if let Err(e) = sock.send_to(&r, from) {
                    warn!("Echo Response to {from}: {e}");
                }
            }
            Downlink::Consumed(Event::EndMarker { session }) => {
                let s = &gnb.sessions()[session];
                info!(
                    "End Marker from {from} on dl_teid {:#x} (ue {})",
                    s.dl_teid, s.ue_ip
                );
            }
            Downlink::Consumed(Event::ErrorIndication { teid }) => {
                warn!("Error Indication from {from} for TEID {teid:#x?}");
            }
            Downlink::Consumed(Event::EchoResponse { seq }) => {
                debug!("Echo Response from {from} seq {seq:?}");
            }
            Downlink::Drop(d) => debug!("N3 datagram from {from} dropped: {d:?}"),
        }
    }
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();

    let mut sessions = Vec::new();
    for p in &cli.sessions {
        sessions.extend(session::load_file(p, cli.upf)?);
    }
    for spec in &cli.ues {
        sessions.push(session::parse_spec(spec, cli.upf)?);
    }
    let table = SessionTable::new(sessions)?;
    if cli.tun.is_empty() || cli.tun.len() > 15 {
        bail!("--tun {:?}: interface names are 1..=15 characters", cli.tun);
    }

    let sock =
        UdpSocket::bind(cli.bind).with_context(|| format!("binding N3 socket {}", cli.bind))?;
    gnb_sim::netcfg::grow_socket_buffers(&sock, cli.socket_buffer);
    let tun = tun_rs::DeviceBuilder::new()
        .name(&cli.tun)
        .mtu(cli.mtu)
        .build_sync()
        .with_context(|| format!("creating TUN {} (needs CAP_NET_ADMIN)", cli.tun))?;
    let net = NetConfig {
        tun: cli.tun.clone(),
        ues: table.sessions().iter().map(|s| s.ue_ip).collect(),
        routing: (!cli.no_routing).then(|| Routing {
            table: cli.table,
            priority: cli.rule_priority,
            routes: cli.routes.clone(),
        }),
    };
    if let Err(e) = net.apply() {
        net.remove();
        return Err(e.context("configuring the UE side"));
    }

    let gnb = Arc::new(Gnb::new(table));
    for s in gnb.sessions() {
        info!("session: {s}");
    }
    info!(
        "N3 on {}, TUN {} (mtu {})",
        sock.local_addr()?,
        cli.tun,
        cli.mtu
    );

    let tun = Arc::new(tun);
    let sock = Arc::new(sock);
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGUSR1]).context("installing signal handlers")?;
    {
        let delay = (cli.ul_delay_ms > 0)
            .then(|| -> Result<_> {
                let (tx, rx) = mpsc::channel();
                let (g, s) = (Arc::clone(&gnb), Arc::clone(&sock));
                thread::Builder::new()
                    .name("ul-delay".into())
                    .spawn(move || delay_line(&rx, &g, &s))?;
                Ok((Duration::from_millis(cli.ul_delay_ms), tx))
            })
            .transpose()?;
        let (g, t, s) = (Arc::clone(&gnb), Arc::clone(&tun), Arc::clone(&sock));
        thread::Builder::new()
            .name("ul".into())
            .spawn(move || uplink_loop(&g, &t, &s, delay.as_ref()))?;
        let (g, t, s) = (Arc::clone(&gnb), Arc::clone(&tun), Arc::clone(&sock));
        thread::Builder::new()
            .name("dl".into())
            .spawn(move || downlink_loop(&g, &t, &s))?;
    }

    if let Some(p) = &cli.ready_file {
        let ready = serde_json::json!({
            "pid": std::process::id(),
            "tun": cli.tun,
            "n3": sock.local_addr()?.to_string(),
            "sessions": gnb.sessions(),
        });
        write_atomic(p, &format!("{ready:#}\n"))?;
    }

    for sig in signals.forever() {
        dump(&gnb, cli.stats_file.as_deref());
        if sig != SIGUSR1 {
            info!("signal {sig}: stopping");
            break;
        }
    }
    net.remove();
    if let Some(p) = &cli.ready_file {
        let _ = std::fs::remove_file(p);
    }
    // The I/O threads are blocked in recv; the process exit ends them and
    // closes the TUN (which takes its addresses and routes with it).
    std::process::exit(0);
}
