//! smf-sim: an SMF simulator for tests, demos and N4 benchmarks, built on
//! the `pfcp` crate's codec over a plain UDP socket. It associates with a
//! UPF, establishes N sessions (letting the UPF CHOOSE F-TEIDs and UE
//! addresses, or giving them), optionally switches their downlink path,
//! queries usage and deletes them, at a given rate with a window of
//! outstanding requests (pipelining). Meanwhile it answers the UPF's
//! heartbeats and Session Report Requests. Prints a summary with rates and
//! latencies; `--json` writes the sessions (UE address, uplink F-TEID) and
//! the figures for the gNB simulator, the demo and perf scripts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use pfcp::codec::ies::{Cause, FTeid, NodeId};
use pfcp::codec::message::{
    AssociationSetupResponse, AssociationUpdateResponse, HeartbeatResponse, Message,
    NodeReportResponse, Pfcp, SessionReportResponse, msg_type,
};
use pfcp::sample::{self, SessionParams};
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Profile {
    /// UL + DL PDR, a FAR each way, one QER, one URR.
    Simple,
    /// 4 PDRs with SDF filters and QFIs, 2 FARs, 2 QERs, 1 URR.
    Typical,
}

/// An SMF simulator speaking PFCP (N4) to a UPF.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The UPF's PFCP address.
    #[arg(long, default_value = "127.0.0.1:8805")]
    upf: SocketAddr,
    /// Local address to bind (port 0: any).
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// Our Node ID (IPv4); default: the local address towards the UPF.
    #[arg(long)]
    node_id: Option<Ipv4Addr>,
    /// Sessions to establish.
    #[arg(long, short = 'n', default_value_t = 1)]
    sessions: usize,
    /// Requests per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Most requests outstanding at once.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Session shape.
    #[arg(long, value_enum, default_value_t = Profile::Simple)]
    profile: Profile,
    /// First CP SEID (then +1 per session).
    #[arg(long, default_value_t = 1)]
    seid_base: u64,
    /// Give UE addresses from here (+1 per session) instead of CHOOSE.
    #[arg(long)]
    ue_ip_start: Option<Ipv4Addr>,
    /// Give uplink TEIDs from here (+1 per session) instead of CHOOSE
    /// (decimal or 0x hex); needs --upf-n3.
    #[arg(long, value_parser = parse_u32)]
    ul_teid_start: Option<u32>,
    /// The UPF's N3 address, for given uplink F-TEIDs.
    #[arg(long)]
    upf_n3: Option<Ipv4Addr>,
    /// The gNB's N3 address (downlink tunnel).
    #[arg(long, default_value = "192.168.1.2")]
    gnb: Ipv4Addr,
    /// First downlink TEID at the gNB (+1 per session).
    #[arg(long, value_parser = parse_u32, default_value = "0x200")]
    gnb_teid_start: u32,
    /// Establish with the downlink FAR buffering (BUFF+NOCP), as before the
    /// gNB answers; the modification then sets the tunnel.
    #[arg(long)]
    buffer_dl: bool,
    /// Keep the sessions this long (seconds) after establishing them,
    /// answering heartbeats and reports, before the next phases.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Before each phase after the establishment (modify, query, delete,
    /// release), wait until the file DIR/<phase> exists, answering the
    /// UPF's heartbeats and reports meanwhile: a test drives the steps.
    #[arg(long, value_name = "DIR")]
    gate: Option<std::path::PathBuf>,
    /// Path switch: update the downlink FAR to a new gNB tunnel.
    #[arg(long)]
    modify: bool,
    /// New gNB address for the path switch (default: --gnb).
    #[arg(long)]
    new_gnb: Option<Ipv4Addr>,
    /// First TEID at the new gNB.
    #[arg(long, value_parser = parse_u32, default_value = "0x10000")]
    new_gnb_teid_start: u32,
    /// Ask for End Markers on the old path (SNDEM).
    #[arg(long)]
    sndem: bool,
    /// Query the usage of URR 1.
    #[arg(long)]
    query: bool,
    /// Delete the sessions at the end (and print their usage).
    #[arg(long)]
    delete: bool,
    /// Release the association at the end.
    #[arg(long)]
    release: bool,
    /// Retransmission timer (ms) and count.
    #[arg(long, default_value_t = 3000)]
    t1_ms: u64,
    #[arg(long, default_value_t = 3)]
    n1: u32,
    /// Write sessions and figures as JSON here ("-": stdout).
    #[arg(long)]
    json: Option<String>,
    /// Write the established sessions in gnb-sim's session file format
    /// (tools/gnb-sim/README.md) here, once they are established.
    #[arg(long)]
    gnb_sessions: Option<String>,
    /// The default flow's MBR as UL:DL in kbit/s (e.g. 10000:10000), or
    /// "none" for a QER without MBR; default: the profile's (simple:
    /// 50000:100000).
    #[arg(long, value_parser = parse_mbr)]
    mbr: Option<MbrArg>,
    /// QFI the gNB simulator sends uplink with (the profile's default flow).
    #[arg(long, default_value_t = 9)]
    qfi: u8,
    /// Send the FQ-CSIDs of an EPC core with partial failure handling in
    /// each establishment: SGW-C (10.0.0.11), PGW-C (our Node ID) and
    /// MME (10.1.1.1), one CSID each, 256 sessions per CSID.
    #[arg(long)]
    fq_csids: bool,
    /// Print every usage report received.
    #[arg(long, short)]
    verbose: bool,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s}: {e}"))
}

/// `--mbr`: the default QER's MBR, or none.
#[derive(Debug, Clone, Copy)]
enum MbrArg {
    None,
    Kbps(pfcp::codec::ies::Bitrate),
}

fn parse_mbr(s: &str) -> Result<MbrArg, String> {
    if s == "none" {
        return Ok(MbrArg::None);
    }
    let (ul, dl) = s
        .split_once(':')
        .ok_or_else(|| format!("{s}: expected UL:DL in kbit/s, or none"))?;
    let kbps = |x: &str| x.parse::<u64>().map_err(|e| format!("{x}: {e}"));
    Ok(MbrArg::Kbps(pfcp::codec::ies::Bitrate {
        ul_kbps: kbps(ul)?,
        dl_kbps: kbps(dl)?,
    }))
}

/// A session as created: what a gNB simulator needs to send uplink.
#[derive(Debug, Clone, Serialize)]
struct SimSession {
    cp_seid: u64,
    up_seid: Option<u64>,
    ue_ipv4: Option<Ipv4Addr>,
    /// The UPF's uplink F-TEID (chosen by it or given).
    ul_teid: Option<u32>,
    ul_addr: Option<Ipv4Addr>,
    gnb: Ipv4Addr,
    gnb_teid: u32,
    established: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Associate,
    Establish,
    Modify,
    Query,
    Delete,
    Release,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Associate => "associate",
            Phase::Establish => "establish",
            Phase::Modify => "modify",
            Phase::Query => "query",
            Phase::Delete => "delete",
            Phase::Release => "release",
        }
    }
}

/// Figures of one phase.
#[derive(Debug, Serialize)]
struct PhaseStats {
    phase: &'static str,
    requests: usize,
    accepted: usize,
    /// Rejections by cause value.
    rejected: BTreeMap<u8, usize>,
    timeouts: usize,
    retransmissions: usize,
    elapsed_s: f64,
    per_sec: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    /// Answers that came before the answer to an earlier request.
    out_of_order: usize,
}

struct Outstanding {
    idx: usize,
    payload: Vec<u8>,
    first_sent: Instant,
    deadline: Instant,
    attempts: u32,
}

#[derive(Default, Serialize)]
struct Usage {
    reports: u64,
    ul_bytes: u64,
    dl_bytes: u64,
}

struct Sim {
    args: Args,
    sock: UdpSocket,
    node_id: Ipv4Addr,
    recovery: u32,
    seq: u32,
    sessions: Vec<SimSession>,
    outstanding: HashMap<u32, Outstanding>,
    deadlines: VecDeque<(Instant, u32)>,
    /// Usage received: in deletion/modification answers, and in reports.
    usage: Usage,
    upf_requests: BTreeMap<&'static str, u64>,
    rx: Vec<u8>,
    /// Whether the socket is in blocking mode (with a read timeout).
    blocking: bool,
    /// Index of the last request answered in the current phase.
    last_answered: Option<usize>,
}

impl Sim {
    fn new(args: Args) -> Result<Self> {
        let sock = UdpSocket::bind(args.bind).with_context(|| format!("binding {}", args.bind))?;
        let node_id = match args.node_id {
            Some(n) => n,
            None => {
                let probe = UdpSocket::bind(SocketAddr::new(args.bind.ip(), 0))?;
                probe.connect(args.upf).context("no route to the UPF")?;
                match probe.local_addr()?.ip() {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => bail!("IPv6 N4 needs --node-id"),
                }
            }
        };
        sock.set_read_timeout(Some(Duration::from_millis(2)))?;
        let recovery = pfcp::ntp_seconds(SystemTime::now());
        Ok(Self {
            args,
            sock,
            node_id,
            recovery,
            seq: 0,
            sessions: Vec::new(),
            outstanding: HashMap::new(),
            deadlines: VecDeque::new(),
            usage: Usage::default(),
            upf_requests: BTreeMap::new(),
            rx: vec![0; 65_536],
            blocking: true,
            last_answered: None,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq + 1) & 0x00ff_ffff;
        self.seq
    }

    fn params(&self, i: usize) -> SessionParams {
        let off = u32::try_from(i).unwrap_or(u32::MAX);
        SessionParams {
            cp_seid: self.args.seid_base + i as u64,
            smf_addr: self.node_id,
            ue_ip: self
                .args
                .ue_ip_start
                .map(|a| Ipv4Addr::from(u32::from(a).wrapping_add(off))),
            ul_teid: self.args.ul_teid_start.map(|t| {
                (
                    t.wrapping_add(off),
                    self.args.upf_n3.unwrap_or(Ipv4Addr::UNSPECIFIED),
                )
            }),
            gnb: (!self.args.buffer_dl)
                .then(|| (self.args.gnb_teid_start.wrapping_add(off), self.args.gnb)),
        }
    }

    /// The request of `phase` for session `i`, or `None` to skip it.
    fn build(&mut self, phase: Phase, i: usize, seq: u32) -> Option<Pfcp<'static>> {
        let off = u32::try_from(i).unwrap_or(u32::MAX);
        match phase {
            Phase::Associate => Some(sample::association_setup_request(
                seq,
                self.node_id,
                self.recovery,
            )),
            Phase::Release => Some(Pfcp::node(
                seq,
                pfcp::codec::message::AssociationReleaseRequest {
                    node_id: NodeId::Ipv4(self.node_id),
                },
            )),
            Phase::Establish => {
                let p = self.params(i);
                self.sessions.push(SimSession {
                    cp_seid: p.cp_seid,
                    up_seid: None,
                    ue_ipv4: p.ue_ip,
                    ul_teid: p.ul_teid.map(|t| t.0),
                    ul_addr: p.ul_teid.map(|t| t.1),
                    gnb: self.args.gnb,
                    gnb_teid: self.args.gnb_teid_start.wrapping_add(off),
                    established: false,
                });
                let mut m = match self.args.profile {
                    Profile::Simple => sample::simple_establishment_request(seq, &p),
                    Profile::Typical => sample::establishment_request(seq, &p),
                };
                if self.args.fq_csids
                    && let Message::SessionEstablishmentRequest(r) = &mut m.message
                {
                    r.fq_csids = fq_csids(i, self.node_id);
                }
                if let (Some(mbr), Message::SessionEstablishmentRequest(r)) =
                    (self.args.mbr, &mut m.message)
                    && let Some(q) = r.create_qer.first_mut()
                {
                    q.mbr = match mbr {
                        MbrArg::None => None,
                        MbrArg::Kbps(b) => Some(b),
                    };
                }
                Some(m)
            }
            Phase::Modify | Phase::Query | Phase::Delete => {
                let s = self.sessions.get(i)?;
                let up = s.up_seid?;
                Some(match phase {
                    Phase::Modify => {
                        let gnb = self.args.new_gnb.unwrap_or(self.args.gnb);
                        sample::path_switch_request(
                            seq,
                            up,
                            self.args.new_gnb_teid_start.wrapping_add(off),
                            gnb,
                            self.args.sndem,
                        )
                    }
                    Phase::Query => sample::query_urr_request(seq, up, &[1]),
                    _ => sample::deletion_request(seq, up),
                })
            }
        }
    }

    fn send(&mut self, payload: &[u8]) -> Result<()> {
        loop {
            match self.sock.send_to(payload, self.args.upf) {
                Ok(_) => return Ok(()),
                // The kernel's buffer is full at high rates: wait a moment.
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.raw_os_error() == Some(105) => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(e).context("sending to the UPF"),
            }
        }
    }

    /// Run one phase over `count` items with pipelining.
    fn phase(&mut self, phase: Phase, count: usize) -> Result<PhaseStats> {
        let t1 = Duration::from_millis(self.args.t1_ms);
        let start = Instant::now();
        let mut stats = PhaseStats {
            phase: phase.name(),
            requests: 0,
            accepted: 0,
            rejected: BTreeMap::new(),
            timeouts: 0,
            retransmissions: 0,
            elapsed_s: 0.0,
            per_sec: 0.0,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            out_of_order: 0,
        };
        let mut latencies: Vec<Duration> = Vec::with_capacity(count);
        self.last_answered = None;
        let mut next = 0;
        while next < count || !self.outstanding.is_empty() {
            let now = Instant::now();
            while next < count && self.outstanding.len() < self.args.window.max(1) {
                if self.args.rate > 0.0 {
                    let due = start + Duration::from_secs_f64(next as f64 / self.args.rate);
                    if due > now {
                        break;
                    }
                }
                let seq = self.next_seq();
                let i = next;
                next += 1;
                let Some(msg) = self.build(phase, i, seq) else {
                    continue;
                };
                let mut payload = Vec::with_capacity(256);
                msg.encode(&mut payload)?;
                self.send(&payload)?;
                stats.requests += 1;
                let deadline = now + t1;
                self.outstanding.insert(
                    seq,
                    Outstanding {
                        idx: i,
                        payload,
                        first_sent: now,
                        deadline,
                        attempts: 0,
                    },
                );
                self.deadlines.push_back((deadline, seq));
            }
            // Wait for answers only when nothing more can be sent now.
            let can_send = next < count
                && self.outstanding.len() < self.args.window.max(1)
                && (self.args.rate <= 0.0
                    || start + Duration::from_secs_f64(next as f64 / self.args.rate)
                        <= Instant::now());
            self.receive(phase, !can_send, &mut stats, &mut latencies)?;
            // Retransmissions, in deadline order.
            let now = Instant::now();
            while let Some(&(at, seq)) = self.deadlines.front() {
                if at > now {
                    break;
                }
                self.deadlines.pop_front();
                let Some(o) = self.outstanding.get_mut(&seq) else {
                    continue;
                };
                if o.deadline != at {
                    continue;
                }
                if o.attempts >= self.args.n1 {
                    self.outstanding.remove(&seq);
                    stats.timeouts += 1;
                    continue;
                }
                o.attempts += 1;
                o.deadline = now + t1;
                let (payload, deadline) = (o.payload.clone(), o.deadline);
                self.send(&payload)?;
                stats.retransmissions += 1;
                self.deadlines.push_back((deadline, seq));
            }
        }
        let elapsed = start.elapsed();
        stats.elapsed_s = elapsed.as_secs_f64();
        stats.per_sec = if stats.elapsed_s > 0.0 {
            stats.accepted as f64 / stats.elapsed_s
        } else {
            0.0
        };
        latencies.sort_unstable();
        let pct = |q: f64| {
            (!latencies.is_empty()).then(|| {
                let i =
                    ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
                latencies[i].as_secs_f64() * 1e3
            })
        };
        stats.p50_ms = pct(0.50);
        stats.p99_ms = pct(0.99);
        stats.max_ms = latencies.last().map(|d| d.as_secs_f64() * 1e3);
        Ok(stats)
    }

    /// Switch the socket between blocking (with a 2 ms timeout) and not,
    /// with a syscall only when the mode changes.
    fn set_blocking(&mut self, block: bool) -> Result<()> {
        if self.blocking != block {
            self.sock.set_nonblocking(!block)?;
            self.blocking = block;
        }
        Ok(())
    }

    /// Read what is waiting. With `block`, wait (up to 2 ms) for the first
    /// datagram, then drain the rest without waiting.
    fn receive(
        &mut self,
        phase: Phase,
        block: bool,
        stats: &mut PhaseStats,
        latencies: &mut Vec<Duration>,
    ) -> Result<()> {
        self.set_blocking(block)?;
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.rx) {
                Ok(x) => x,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(());
                }
                Err(e) => return Err(e).context("receiving"),
            };
            let data = self.rx[..n].to_vec();
            self.datagram(phase, from, &data, stats, latencies)?;
            self.set_blocking(false)?;
        }
    }

    fn datagram(
        &mut self,
        phase: Phase,
        from: SocketAddr,
        data: &[u8],
        stats: &mut PhaseStats,
        latencies: &mut Vec<Duration>,
    ) -> Result<()> {
        for m in pfcp::codec::message::decode_datagram(data) {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("smf-sim: undecodable datagram from {from}: {e}");
                    break;
                }
            };
            let t = m.message.msg_type();
            if msg_type::is_request(t) {
                self.answer_upf(from, &m)?;
                continue;
            }
            let Some(o) = self.outstanding.remove(&m.seq) else {
                continue;
            };
            // Requests go out in index order: an answer for an earlier
            // index after a later one is out of order.
            if self.last_answered.is_some_and(|l| o.idx < l) {
                stats.out_of_order += 1;
            }
            self.last_answered = Some(o.idx);
            latencies.push(o.first_sent.elapsed());
            match self.response(phase, o.idx, &m) {
                Ok(()) => stats.accepted += 1,
                Err(c) => *stats.rejected.entry(c.0).or_default() += 1,
            }
        }
        Ok(())
    }

    /// Take the answer to our request for session `idx`.
    fn response(&mut self, phase: Phase, idx: usize, m: &Pfcp<'_>) -> Result<(), Cause> {
        match &m.message {
            Message::AssociationSetupResponse(AssociationSetupResponse { cause, .. })
            | Message::AssociationReleaseResponse(
                pfcp::codec::message::AssociationReleaseResponse { cause, .. },
            ) => cause.is_success().then_some(()).ok_or(*cause),
            Message::SessionEstablishmentResponse(r) if phase == Phase::Establish => {
                if !r.cause.is_success() {
                    return Err(r.cause);
                }
                let s = self.sessions.get_mut(idx).ok_or(Cause::REQUEST_REJECTED)?;
                s.up_seid = r.up_f_seid.map(|f| f.seid);
                s.established = true;
                for c in &r.created_pdr {
                    if let Some(FTeid::Assigned { teid, ipv4, .. }) = c.local_f_teid {
                        s.ul_teid = Some(teid);
                        s.ul_addr = ipv4;
                    }
                    if let Some(a) = c.ue_ip_address.and_then(|u| u.ipv4) {
                        s.ue_ipv4 = Some(a);
                    }
                }
                Ok(())
            }
            Message::SessionModificationResponse(r) => {
                self.add_usage(&r.usage_report, idx);
                r.cause.is_success().then_some(()).ok_or(r.cause)
            }
            Message::SessionDeletionResponse(r) => {
                self.add_usage(&r.usage_report, idx);
                if r.cause.is_success()
                    && let Some(s) = self.sessions.get_mut(idx)
                {
                    s.established = false;
                }
                r.cause.is_success().then_some(()).ok_or(r.cause)
            }
            _ => Err(Cause::REQUEST_REJECTED),
        }
    }

    fn add_usage(&mut self, reports: &[pfcp::codec::grouped::UsageReport<'_>], idx: usize) {
        for u in reports {
            let v = u.volume_measurement.unwrap_or_default();
            self.usage.reports += 1;
            self.usage.ul_bytes += v.ul.unwrap_or(0);
            self.usage.dl_bytes += v.dl.unwrap_or(0);
            if self.args.verbose {
                let cp = self.sessions.get(idx).map_or(0, |s| s.cp_seid);
                println!(
                    "usage: session {cp} urr {} seqn {} trigger {:?} ul {} dl {} bytes, {} s",
                    u.urr_id,
                    u.ur_seqn,
                    u.usage_report_trigger.names().collect::<Vec<_>>(),
                    v.ul.unwrap_or(0),
                    v.dl.unwrap_or(0),
                    u.duration_measurement.unwrap_or(0)
                );
            }
        }
    }

    /// Answer a request the UPF sent us (heartbeat, session report, ...).
    fn answer_upf(&mut self, from: SocketAddr, m: &Pfcp<'_>) -> Result<()> {
        let t = m.message.msg_type();
        *self.upf_requests.entry(msg_type::name(t)).or_default() += 1;
        let node_id = NodeId::Ipv4(self.node_id);
        let answer: Pfcp<'_> = match &m.message {
            Message::HeartbeatRequest(_) => Pfcp::node(
                m.seq,
                HeartbeatResponse {
                    recovery_time_stamp: self.recovery,
                },
            ),
            Message::SessionReportRequest(r) => {
                let idx = self
                    .sessions
                    .iter()
                    .position(|s| Some(s.cp_seid) == m.seid)
                    .unwrap_or(usize::MAX);
                self.add_usage(&r.usage_report, idx);
                Pfcp::session(
                    self.sessions.get(idx).and_then(|s| s.up_seid).unwrap_or(0),
                    m.seq,
                    SessionReportResponse {
                        cause: Cause::REQUEST_ACCEPTED,
                        offending_ie: None,
                        update_bar: None,
                        pfcpsrrsp_flags: None,
                        cp_f_seid: None,
                        n4u_f_teid: None,
                        alternative_smf_ip_address: None,
                    },
                )
            }
            Message::AssociationUpdateRequest(_) => Pfcp::node(
                m.seq,
                AssociationUpdateResponse {
                    node_id,
                    cause: Cause::REQUEST_ACCEPTED,
                    up_function_features: None,
                    cp_function_features: None,
                },
            ),
            Message::NodeReportRequest(_) => Pfcp::node(
                m.seq,
                NodeReportResponse {
                    node_id,
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                },
            ),
            _ => return Ok(()),
        };
        let mut b = Vec::new();
        answer.encode(&mut b)?;
        self.sock.send_to(&b, from).context("answering the UPF")?;
        Ok(())
    }

    /// Answer the UPF until `path` exists (heartbeats, reports).
    fn gate(&mut self, path: &std::path::Path) -> Result<()> {
        while !path.exists() {
            self.hold(0.05)?;
        }
        Ok(())
    }

    /// Answer the UPF for `secs` seconds (heartbeats, reports).
    fn hold(&mut self, secs: f64) -> Result<()> {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut dummy = PhaseStats {
            phase: "hold",
            requests: 0,
            accepted: 0,
            rejected: BTreeMap::new(),
            timeouts: 0,
            retransmissions: 0,
            elapsed_s: 0.0,
            per_sec: 0.0,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            out_of_order: 0,
        };
        let mut lat = Vec::new();
        while Instant::now() < end {
            self.receive(Phase::Establish, true, &mut dummy, &mut lat)?;
        }
        Ok(())
    }

    /// The established sessions as gnb-sim's session file.
    fn write_gnb_sessions(&self) -> Result<()> {
        let Some(path) = &self.args.gnb_sessions else {
            return Ok(());
        };
        let sessions: Vec<serde_json::Value> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.established)
            .filter_map(|(i, s)| {
                let off = u32::try_from(i).unwrap_or(u32::MAX);
                let mut v = serde_json::json!({
                    "ue_ip": s.ue_ipv4?.to_string(),
                    "ul_teid": s.ul_teid?,
                    "dl_teid": s.gnb_teid,
                    "qfi": self.args.qfi,
                    "id": s.cp_seid,
                });
                if let Some(a) = s.ul_addr.filter(|a| !a.is_unspecified()) {
                    v["upf_n3"] = a.to_string().into();
                }
                if let Some(seid) = s.up_seid {
                    v["seid"] = seid.into();
                }
                if self.args.modify {
                    v["alt_dl_teids"] =
                        serde_json::json!([self.args.new_gnb_teid_start.wrapping_add(off)]);
                }
                Some(v)
            })
            .collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({ "sessions": sessions }))?;
        if path == "-" {
            println!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    }

    fn write_json(&self, phases: &[PhaseStats]) -> Result<()> {
        let Some(path) = &self.args.json else {
            return Ok(());
        };
        let doc = serde_json::json!({
            "upf": self.args.upf.to_string(),
            "node_id": self.node_id.to_string(),
            "sessions": self.sessions,
            "phases": phases,
            "usage": self.usage,
            "upf_requests": self.upf_requests,
        });
        let text = serde_json::to_string_pretty(&doc)?;
        if path == "-" {
            println!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    }
}

fn print_phase(s: &PhaseStats) {
    let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    println!(
        "{:<10} {:>8} ok {:>8} rejected {:>6} timeouts {:>6} retx {:>8.3} s {:>10.0}/s  p50 {} ms  p99 {} ms  max {} ms",
        s.phase,
        s.accepted,
        s.rejected.values().sum::<usize>(),
        s.timeouts,
        s.retransmissions,
        s.elapsed_s,
        s.per_sec,
        ms(s.p50_ms),
        ms(s.p99_ms),
        ms(s.max_ms),
    );
    if s.out_of_order > 0 {
        println!("           {} answers out of order", s.out_of_order);
    }
    for (c, n) in &s.rejected {
        println!("           cause {c} ({}): {n}", Cause(*c).name());
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.ul_teid_start.is_some() && args.upf_n3.is_none() {
        bail!("--ul-teid-start needs --upf-n3 (the address of the given F-TEIDs)");
    }
    let n = args.sessions;
    let (modify, query, delete, release, hold) = (
        args.modify,
        args.query,
        args.delete,
        args.release,
        args.hold,
    );
    let mut sim = Sim::new(args)?;
    println!(
        "smf-sim: node {} -> UPF {}, {} sessions",
        sim.node_id, sim.args.upf, n
    );
    let mut phases = Vec::new();
    let assoc = sim.phase(Phase::Associate, 1)?;
    print_phase(&assoc);
    let ok = assoc.accepted == 1;
    phases.push(assoc);
    if !ok {
        sim.write_json(&phases)?;
        bail!("association with {} failed", sim.args.upf);
    }
    let est = sim.phase(Phase::Establish, n)?;
    print_phase(&est);
    phases.push(est);
    sim.write_json(&phases)?;
    sim.write_gnb_sessions()?;
    if hold > 0.0 {
        sim.hold(hold)?;
    }
    for (on, p) in [
        (modify, Phase::Modify),
        (query, Phase::Query),
        (delete, Phase::Delete),
        (release, Phase::Release),
    ] {
        if on {
            if let Some(dir) = sim.args.gate.clone() {
                sim.gate(&dir.join(p.name()))?;
            }
            let count = if p == Phase::Release { 1 } else { n };
            let s = sim.phase(p, count)?;
            print_phase(&s);
            phases.push(s);
        }
    }
    if sim.usage.reports > 0 {
        println!(
            "usage: {} reports, {} bytes up, {} bytes down",
            sim.usage.reports, sim.usage.ul_bytes, sim.usage.dl_bytes
        );
    }
    sim.write_json(&phases)?;
    let failed: usize = phases
        .iter()
        .map(|p| p.timeouts + p.rejected.values().sum::<usize>())
        .sum();
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(())
}

/// The FQ-CSIDs of session `i` (`--fq-csids`): SGW-C, PGW-C (`node`) and
/// MME, one CSID each; 256 sessions share a CSID.
fn fq_csids(i: usize, node: Ipv4Addr) -> Vec<pfcp::codec::ies::FqCsid> {
    use pfcp::codec::ies::{CsidNode, FqCsid};
    let set = u16::try_from(i / 256 % 65_536).unwrap_or(0);
    [
        Ipv4Addr::new(10, 0, 0, 11),
        node,
        Ipv4Addr::new(10, 1, 1, 1),
    ]
    .into_iter()
    .map(|a| FqCsid {
        node: CsidNode::Ipv4(a),
        csids: pfcp::codec::SmallVec::from_elem(set, 1),
        node_type: None,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_argument() {
        assert!(matches!(parse_mbr("none"), Ok(MbrArg::None)));
        let Ok(MbrArg::Kbps(b)) = parse_mbr("10000:20000") else {
            panic!("10000:20000 not parsed");
        };
        assert_eq!((b.ul_kbps, b.dl_kbps), (10_000, 20_000));
        for bad in ["", "10000", "10000:", ":5", "a:b", "1:2:3", "-1:5"] {
            assert!(parse_mbr(bad).is_err(), "{bad:?} accepted");
        }
    }
}
