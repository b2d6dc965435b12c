//! pfcp-stub-upf: the `pfcp` crate's node on a plain UDP socket, with a user
//! plane that only records and counts. A stand-in UPF to test smf-sim and
//! to measure the N4 path (decode, session state machine, encode, socket)
//! without the dataplane. The real driver lives in the `upf` crate.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Parser;
use pfcp::codec::ies::{NodeIdBuf, SourceInterface};
use pfcp::{Config, GtpuEndpoint, Node, Session, UePool, UpError, UsageSample, UserPlane};

/// A PFCP UPF stand-in (no dataplane).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8805")]
    listen: SocketAddr,
    /// Node ID and F-SEID address (default: the listen address).
    #[arg(long)]
    node_id: Option<Ipv4Addr>,
    /// N3 address for CHOOSE F-TEIDs.
    #[arg(long, default_value = "192.168.1.1")]
    n3: Ipv4Addr,
    /// UE pool (CIDR).
    #[arg(long, default_value = "10.45.0.0/16")]
    pool: String,
    /// Heartbeat interval, seconds.
    #[arg(long, default_value_t = 5)]
    heartbeat_s: u64,
    /// Bytes each URR reports per usage poll (to exercise reports).
    #[arg(long, default_value_t = 0)]
    usage_bytes: u64,
    /// Exit after this many seconds (0: run until killed).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Print counters every this many seconds (0: never).
    #[arg(long, default_value_t = 0.0)]
    stats_every: f64,
    /// Baseline: answer every request with a fixed, pre-encoded success
    /// (only the header is read), to measure the socket path alone.
    #[arg(long)]
    canned: bool,
}

#[derive(Default)]
struct CountingUp {
    installs: u64,
    removes: u64,
    end_markers: u64,
    usage_bytes: u64,
}

impl UserPlane for CountingUp {
    fn install(&mut self, _s: &Session, _previous: Option<&Session>) -> Result<(), UpError> {
        self.installs += 1;
        Ok(())
    }
    fn remove(&mut self, _seid: u64) {
        self.removes += 1;
    }
    fn usage(&mut self, _seid: u64, urr_ids: &[u32], out: &mut Vec<UsageSample>) {
        if self.usage_bytes > 0 {
            for id in urr_ids {
                out.push(UsageSample {
                    urr_id: *id,
                    ul_bytes: self.usage_bytes,
                    dl_bytes: self.usage_bytes,
                    ..UsageSample::default()
                });
            }
        }
    }
    fn send_end_marker(&mut self, _peer: IpAddr, _teid: u32) {
        self.end_markers += 1;
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let node_ip = match (args.node_id, args.listen.ip()) {
        (Some(n), _) => n,
        (None, IpAddr::V4(a)) if !a.is_unspecified() => a,
        _ => Ipv4Addr::LOCALHOST,
    };
    let (net, len) = args.pool.split_once('/').context("--pool: CIDR expected")?;
    let mut cfg = Config::new(NodeIdBuf::Ipv4(node_ip));
    cfg.heartbeat_interval = Duration::from_secs(args.heartbeat_s.max(1));
    cfg.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(args.n3),
        ipv6: None,
        network_instance: None,
    }];
    cfg.ue_pools = vec![UePool {
        prefix: net.parse().context("--pool address")?,
        prefix_len: len.parse().context("--pool length")?,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    let t0 = Instant::now();
    let mut node = Node::new(cfg, t0, SystemTime::now())?;
    let mut up = CountingUp {
        usage_bytes: args.usage_bytes,
        ..CountingUp::default()
    };
    let sock = UdpSocket::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    eprintln!("pfcp-stub-upf: listening on {}", sock.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    let end = (args.duration > 0.0).then(|| t0 + Duration::from_secs_f64(args.duration));
    let mut next_stats =
        (args.stats_every > 0.0).then(|| t0 + Duration::from_secs_f64(args.stats_every));
    if args.canned {
        return canned(&sock, node_ip, end);
    }
    let mut read_timeout = None;
    loop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        let wake = [node.poll_timeout(), end, next_stats]
            .into_iter()
            .flatten()
            .min();
        let timeout = wake
            .map_or(Duration::from_millis(100), |w| {
                w.saturating_duration_since(now)
            })
            .max(Duration::from_micros(100));
        // One syscall less per datagram when the timeout does not change.
        let rounded = Some(Duration::from_millis(timeout.as_millis().max(1) as u64));
        if rounded != read_timeout {
            sock.set_read_timeout(rounded)?;
            read_timeout = rounded;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => node.handle(Instant::now(), from, &buf[..n], &mut up),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e).context("receiving"),
        }
        node.handle_timeout(Instant::now(), &mut up);
        while let Some(t) = node.poll_transmit() {
            sock.send_to(&t.payload, t.dst).context("sending")?;
        }
        while let Some(e) = node.poll_event() {
            if !matches!(e, pfcp::Event::Rejected { .. }) {
                eprintln!("pfcp-stub-upf: {e:?}");
            }
        }
        if next_stats.is_some_and(|n| Instant::now() >= n) {
            let s = node.stats();
            eprintln!(
                "pfcp-stub-upf: {} sessions, {} installs, {} removes, {} end markers, {} malformed, {} duplicates",
                node.session_count(),
                up.installs,
                up.removes,
                up.end_markers,
                s.rx_malformed,
                s.rx_duplicates
            );
            next_stats = Some(Instant::now() + Duration::from_secs_f64(args.stats_every));
        }
    }
    Ok(())
}

/// Answer each request with a canned success of the right type, echoing
/// the sequence number: the cost of the socket and a header parse only.
fn canned(sock: &UdpSocket, node_ip: Ipv4Addr, end: Option<Instant>) -> Result<()> {
    use pfcp::codec::ies::{Cause, FSeid, NodeId};
    use pfcp::codec::message::{self as m, Header, Pfcp};
    let node = NodeId::Ipv4(node_ip);
    let mut seid: u64 = 0;
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(512);
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    while end.is_none_or(|e| Instant::now() < e) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e).context("receiving"),
        };
        let Ok((h, _)) = Header::parse(&buf[..n]) else {
            continue;
        };
        seid += 1;
        let msg: Pfcp<'_> = match h.msg_type {
            m::msg_type::HEARTBEAT_REQUEST => Pfcp::node(
                h.seq,
                m::HeartbeatResponse {
                    recovery_time_stamp: 1,
                },
            ),
            m::msg_type::ASSOCIATION_SETUP_REQUEST => Pfcp::node(
                h.seq,
                m::AssociationSetupResponse {
                    node_id: node,
                    cause: Cause::REQUEST_ACCEPTED,
                    recovery_time_stamp: 1,
                    up_function_features: None,
                    cp_function_features: None,
                    user_plane_ip_resource_information: Vec::new(),
                },
            ),
            m::msg_type::SESSION_ESTABLISHMENT_REQUEST => Pfcp::session(
                seid,
                h.seq,
                m::SessionEstablishmentResponse {
                    node_id: Some(node),
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    up_f_seid: Some(FSeid {
                        seid,
                        ipv4: Some(node_ip),
                        ipv6: None,
                    }),
                    created_pdr: Vec::new(),
                    up_fq_csid: None,
                    failed_rule_id: None,
                },
            ),
            m::msg_type::SESSION_MODIFICATION_REQUEST => Pfcp::session(
                seid,
                h.seq,
                m::SessionModificationResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    created_pdr: Vec::new(),
                    usage_report: Vec::new(),
                    failed_rule_id: None,
                },
            ),
            m::msg_type::SESSION_DELETION_REQUEST => Pfcp::session(
                seid,
                h.seq,
                m::SessionDeletionResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    usage_report: Vec::new(),
                },
            ),
            _ => continue,
        };
        out.clear();
        msg.encode(&mut out)?;
        sock.send_to(&out, from).context("sending")?;
    }
    Ok(())
}
