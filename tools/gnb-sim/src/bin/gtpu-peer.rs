//! `gtpu-peer`: a stand-in for the UPF's N3 side, for testing `gnb-sim` and
//! the testbed before the real UPF runs. Listens on a kernel UDP socket
//! (the test gives `upf-n3` a kernel IP for this), checks every UL G-PDU
//! strictly, and either reflects it (`--mode reflect`: ICMP Echo → Reply,
//! addresses/ports swapped) or routes it through a TUN into the kernel of
//! its namespace (`--mode route`: a kernel-forwarding mini-UPF, so iperf3 and
//! curl reach the data network namespace). Not a UPF: no PFCP, no QoS.

#![forbid(unsafe_code)]

use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use gnb_sim::gtpu;
use gnb_sim::peer::{Peer, Ul};
use gnb_sim::session;
use log::{debug, info, warn};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Send every UL packet back as DL, as the DN host's answer would look.
    Reflect,
    /// Decapsulate into a TUN; DL from the TUN is encapsulated to the gNB.
    Route,
}

#[derive(Parser, Debug)]
#[command(version, about = "Test peer playing the UPF's N3 side for gnb-sim")]
struct Cli {
    #[arg(long, value_enum, default_value = "reflect")]
    mode: Mode,
    /// Sessions, same syntax as gnb-sim --ue.
    #[arg(long = "ue", value_name = "SPEC")]
    ues: Vec<String>,
    /// Sessions from a gnb-sim JSON session file.
    #[arg(long, value_name = "FILE")]
    sessions: Option<PathBuf>,
    /// Local N3 address.
    #[arg(long, default_value = "192.168.1.1:2152")]
    bind: SocketAddrV4,
    /// Where DL goes in route mode (the gNB's N3 address).
    #[arg(long, default_value = "192.168.1.2:2152")]
    gnb: SocketAddrV4,
    /// TUN name in route mode (the caller routes the UE pool into it).
    #[arg(long, default_value = "gtpupeer0")]
    tun: String,
    /// TUN MTU in route mode.
    #[arg(long, default_value_t = 1500)]
    mtu: u16,
    /// Send a GTP-U Echo Request to --gnb this often (0: never).
    #[arg(long, default_value_t = 0)]
    echo_interval_ms: u64,
    /// Counters as JSON on exit and SIGUSR1. SIGUSR2 sends an End Marker on
    /// every session's DL TEID to --gnb.
    #[arg(long, value_name = "FILE")]
    stats_file: Option<PathBuf>,
    /// Written (with the pid) once the socket and TUN are ready.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn dump(peer: &Peer, path: Option<&Path>) {
    let s = peer.counters.snapshot();
    let line: Vec<String> = s.fields().iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("gtpu-peer counters: {}", line.join(" "));
    if let Some(p) = path {
        let json = serde_json::to_string_pretty(&s).unwrap_or_default();
        if let Err(e) = write_atomic(p, &(json + "\n")) {
            warn!("stats file {}: {e}", p.display());
        }
    }
}

fn n3_loop(peer: &Peer, sock: &UdpSocket, tun: Option<&tun_rs::SyncDevice>) {
    let mut buf = vec![0u8; 65536];
    let mut out = vec![0u8; 65536 + gtpu::GPDU_PSC_HEADER_LEN];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                warn!("N3 recv: {e}");
                return;
            }
        };
        match peer.uplink(&buf[..n]) {
            Ul::Inner {
                session,
                offset,
                len,
            } => match tun {
                Some(t) => {
                    if let Err(e) = t.send(&buf[offset..offset + len]) {
                        peer.counters.send_errors.inc();
                        debug!("TUN write: {e}");
                    }
                }
                None => {
                    if let Some(dlen) = peer.reflect(&buf[..n], session, offset, len, &mut out)
                        && sock.send_to(&out[..dlen], from).is_err()
                    {
                        peer.counters.send_errors.inc();
                    }
                }
            },
            Ul::Reply(r) => {
                let _ = sock.send_to(&r, from);
            }
            Ul::Done => {}
            Ul::Bad(why) => warn!("UL from {from} rejected: {why}"),
        }
    }
}

fn tun_loop(peer: &Peer, sock: &UdpSocket, tun: &tun_rs::SyncDevice, gnb: SocketAddrV4) {
    let h = gtpu::GPDU_PSC_HEADER_LEN;
    let mut buf = vec![0u8; 65536 + h];
    loop {
        let n = match tun.recv(&mut buf[h..]) {
            Ok(n) => n,
            Err(e) => {
                warn!("TUN recv: {e}");
                return;
            }
        };
        let Some(i) = peer.dl_session(&buf[h..h + n]) else {
            continue;
        };
        if let Some(len) = peer.encap_dl(i, &mut buf, n)
            && sock.send_to(&buf[..len], gnb).is_err()
        {
            peer.counters.send_errors.inc();
        }
    }
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let upf = *cli.bind.ip();
    let mut sessions = Vec::new();
    if let Some(p) = &cli.sessions {
        sessions.extend(session::load_file(p, upf)?);
    }
    for s in &cli.ues {
        sessions.push(session::parse_spec(s, upf)?);
    }
    // Same validation as gnb-sim (duplicates, QFI range).
    session::SessionTable::new(sessions.clone())?;
    let peer = Arc::new(Peer::new(sessions));
    let sock =
        Arc::new(UdpSocket::bind(cli.bind).with_context(|| format!("binding {}", cli.bind))?);
    gnb_sim::netcfg::grow_socket_buffers(&sock, 4 << 20);

    let tun = if cli.mode == Mode::Route {
        let t = tun_rs::DeviceBuilder::new()
            .name(&cli.tun)
            .mtu(cli.mtu)
            .build_sync()
            .with_context(|| format!("creating TUN {}", cli.tun))?;
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", cli.tun),
            "1",
        );
        gnb_sim::netcfg::ip(&["link", "set", "dev", &cli.tun, "up"])?;
        Some(Arc::new(t))
    } else {
        None
    };

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2])?;
    {
        let (p, s, t) = (Arc::clone(&peer), Arc::clone(&sock), tun.clone());
        thread::spawn(move || n3_loop(&p, &s, t.as_deref()));
    }
    if let Some(t) = &tun {
        let (p, s, t, g) = (Arc::clone(&peer), Arc::clone(&sock), Arc::clone(t), cli.gnb);
        thread::spawn(move || tun_loop(&p, &s, &t, g));
    }
    if cli.echo_interval_ms > 0 {
        let (s, g, every) = (
            Arc::clone(&sock),
            cli.gnb,
            Duration::from_millis(cli.echo_interval_ms),
        );
        thread::spawn(move || {
            for seq in 0u16.. {
                let _ = s.send_to(&gtpu::echo_request(seq), g);
                thread::sleep(every);
            }
        });
    }
    info!(
        "gtpu-peer {:?} on {} with {} sessions",
        cli.mode,
        cli.bind,
        peer.sessions().len()
    );
    if let Some(p) = &cli.ready_file {
        write_atomic(p, &format!("{{\"pid\": {}}}\n", std::process::id()))?;
    }
    for sig in signals.forever() {
        if sig == SIGUSR2 {
            for s in peer.sessions() {
                info!("End Marker on dl_teid {:#x} to {}", s.dl_teid, cli.gnb);
                let _ = sock.send_to(&gtpu::end_marker(s.dl_teid), cli.gnb);
            }
            continue;
        }
        dump(&peer, cli.stats_file.as_deref());
        if sig != SIGUSR1 {
            break;
        }
    }
    std::process::exit(0);
}
