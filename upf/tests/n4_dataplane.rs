//! N4 to packets, without DPDK: a test SMF (the `pfcp` codec) talks to the
//! `N4` driver, which installs rules through the dataplane's `Control`; a
//! `Worker` on `MemIo` in the same thread carries the packets. Every test
//! checks both sides: the PFCP answers and what the worker sends.

#[path = "../../pfcp/tests/common/mod.rs"]
mod pcap;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use dataplane::control::{Batch, Control};
use dataplane::counters::DropReason;
use dataplane::iface::Iface;
use dataplane::testkit::{self, DN_IP, GNB_IP, GNB_MAC, GW_MAC, N3_IP, TSC_HZ};
use dataplane::wire::{ethernet, gtpu, ipv4, udp};
use dataplane::worker::{MemIo, Worker};
use pfcp::codec::SmallVec;
use pfcp::codec::grouped::{CreateFar, CreateQer, ForwardingParameters, UpdatePdr, UsageReport};
use pfcp::codec::ie_type as t;
use pfcp::codec::ies::{
    ApplyAction, Cause, DestinationInterface, FTeid, GateStatus, NodeIdBuf, PfcpsmReqFlags,
    PfcpsrRspFlags, ReportType, ReportingTriggers, RuleType, SourceInterface, Volume,
};
use pfcp::codec::message::{Message, Pfcp, SessionReportResponse, msg_type};
use pfcp::sample::{self, SessionParams};
use pfcp::{GtpuEndpoint, UePool};
use upf::n4::{N4, TscClock, static_session_id};

const UPF_N4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMF_RTS: u32 = 3_900_000_000;
/// A second gNB for path switches (static neighbour on N3).
const GNB2_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 3);
const GNB2_MAC: ethernet::MacAddr = ethernet::MacAddr([0x02, 0, 0, 0, 0x03, 0x03]);

fn pfcp_config() -> pfcp::Config {
    let mut c = pfcp::Config::new(NodeIdBuf::Ipv4(UPF_N4));
    c.recovery_time_stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    c.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(N3_IP),
        ipv6: None,
        network_instance: None,
    }];
    c.ue_pools = vec![UePool {
        prefix: "10.45.0.0".parse().unwrap(),
        prefix_len: 16,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    c.teid_first = 0x1000;
    c.teid_last = 0xffff;
    c
}

/// The SMF, the N4 driver, the dataplane and one worker, in one thread,
/// on a simulated clock (1 ms per step; the TSC follows).
struct Rig {
    n4: N4,
    ctl: Control,
    w: Worker<MemIo>,
    now: Instant,
    tsc: u64,
    smf: SocketAddr,
    seq: u32,
    /// Requests the UPF sent to the SMF, not yet looked at.
    from_upf: Vec<Pfcp<'static>>,
}

fn decode(b: &[u8]) -> Pfcp<'static> {
    let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
    let (m, rest) = Pfcp::decode(b).unwrap_or_else(|e| panic!("undecodable {b:02x?}: {e}"));
    assert!(rest.is_empty());
    m
}

impl Rig {
    fn new() -> Self {
        Self::with(pfcp_config())
    }

    fn with(cfg: pfcp::Config) -> Self {
        let mut net = testkit::net(true);
        if let Some(n3) = &mut net.ifaces[Iface::N3.index()] {
            n3.neighbors.push((GNB2_IP.into(), GNB2_MAC));
        }
        let mut dcfg = dataplane::control::DataplaneConfig::new(1, TSC_HZ);
        dcfg.net = net;
        let (ctl, ports) = Control::new(dcfg);
        let port = ports.into_iter().next().unwrap();
        let w = Worker::new(port, MemIo::default());
        let now = Instant::now();
        let clock = TscClock {
            hz: TSC_HZ,
            tsc: 1,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        let n4 = N4::new(cfg, 1, clock, now, clock.wall).unwrap();
        Self {
            n4,
            ctl,
            w,
            now,
            tsc: 1,
            smf: SocketAddr::new(IpAddr::V4(SMF), 8805),
            seq: 0,
            from_upf: Vec::new(),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// One step: 1 ms passes, the worker polls, N4 does its housekeeping.
    /// Returns the datagrams N4 sent to the SMF (answers and requests).
    fn step(&mut self) -> Vec<Pfcp<'static>> {
        self.now += Duration::from_millis(1);
        self.tsc += TSC_HZ / 1000;
        self.w.poll(self.tsc);
        self.n4.housekeeping(self.now, &mut self.ctl);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Pfcp<'static>> {
        let mut out = Vec::new();
        while let Some(t) = self.n4.poll_transmit(&mut self.ctl) {
            assert_eq!(
                t.dst, self.smf,
                "everything goes to the SMF's address and port"
            );
            out.push(decode(&t.payload));
        }
        out
    }

    /// Send a request and wait (stepping) for its answer; requests the
    /// UPF sends meanwhile are kept in `from_upf`.
    fn request(&mut self, m: &Pfcp<'_>) -> Pfcp<'static> {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        self.n4.on_datagram(self.now, self.smf, &b, &mut self.ctl);
        let mut got = self.drain();
        for _ in 0..2000 {
            if let Some(i) = got
                .iter()
                .position(|r| r.seq == m.seq && !msg_type::is_request(r.message.msg_type()))
            {
                let r = got.remove(i);
                self.from_upf.extend(got);
                return r;
            }
            self.from_upf.append(&mut got);
            got = self.step();
        }
        panic!("no answer to {:?}", m.message.msg_type());
    }

    fn associate(&mut self) {
        let seq = self.next_seq();
        let r = self.request(&sample::association_setup_request(seq, SMF, SMF_RTS));
        let Message::AssociationSetupResponse(a) = r.message else {
            panic!("{r:?}")
        };
        assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    }

    /// Establish; return (our SEID, UL TEID, UE address) from the answer.
    fn establish(&mut self, m: &Pfcp<'_>) -> (u64, u32, Ipv4Addr) {
        let r = self.request(m);
        let Message::SessionEstablishmentResponse(e) = &r.message else {
            panic!("{r:?}")
        };
        assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
        let seid = e.up_f_seid.unwrap().seid;
        let mut teid = None;
        let mut ue = None;
        for c in &e.created_pdr {
            if let Some(FTeid::Assigned { teid: t, ipv4, .. }) = c.local_f_teid {
                assert_eq!(ipv4, Some(N3_IP), "F-TEID on our N3 address");
                teid = Some(t);
            }
            if let Some(a) = c.ue_ip_address.and_then(|u| u.ipv4) {
                ue = Some(a);
            }
        }
        (seid, teid.unwrap(), ue.unwrap())
    }

    fn push(&mut self, iface: Iface, frame: &[u8]) {
        self.w.io_mut().push_rx(iface, frame);
    }

    /// Run the worker (a few steps) and take what it sent on `iface`.
    fn sent(&mut self, iface: Iface) -> Vec<Vec<u8>> {
        for _ in 0..3 {
            let r = self.step();
            self.from_upf.extend(r);
        }
        self.w.io_mut().take_tx(iface)
    }

    /// Let `d` pass in 10 ms steps (the worker polls, N4 runs its
    /// timers); what N4 sends meanwhile is kept in `from_upf`.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(10);
            self.tsc += TSC_HZ / 100;
            self.w.poll(self.tsc);
            self.n4.housekeeping(self.now, &mut self.ctl);
            let out = self.drain();
            self.from_upf.extend(out);
        }
    }

    /// Answer a Session Report Request from the UPF with `cause`.
    fn answer_report(&mut self, seq: u32, cause: Cause) {
        let answer = Pfcp::session(
            1,
            seq,
            SessionReportResponse {
                cause,
                offending_ie: None,
                update_bar: None,
                pfcpsrrsp_flags: None,
                cp_f_seid: None,
                n4u_f_teid: None,
                alternative_smf_ip_address: None,
            },
        );
        let mut b = Vec::new();
        answer.encode(&mut b).unwrap();
        self.n4.on_datagram(self.now, self.smf, &b, &mut self.ctl);
        assert!(self.drain().is_empty());
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.ctl.counters().dropped(r)
    }
}

fn params(cp_seid: u64) -> SessionParams {
    SessionParams {
        cp_seid,
        smf_addr: SMF,
        ue_ip: None,
        ul_teid: None,
        gnb: Some((0x200, GNB_IP)),
    }
}

/// The inner IP packet of a frame the worker sent out of N6.
fn n6_packet(f: &[u8]) -> &[u8] {
    let e = ethernet::Frame::new_checked(f).unwrap();
    assert_eq!(e.dst(), GW_MAC, "to the N6 gateway");
    &f[14..]
}

/// (outer destination, GTP-U header, inner packet) of a frame sent on N3.
fn n3_tunnel(f: &[u8]) -> (Ipv4Addr, gtpu::Repr, Vec<u8>) {
    let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
    let dst = ip.dst();
    assert_eq!(ip.src(), N3_IP, "from our N3 address");
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(u.dst_port(), gtpu::PORT);
    let g = gtpu::Packet::new_checked(u.payload()).unwrap();
    let r = gtpu::Repr::parse(&g).unwrap();
    let inner = g.message()[g.message().len() - usize::from(r.payload_len)..].to_vec();
    (dst, r, inner)
}

fn usage(reports: &[UsageReport<'_>], urr: u32) -> (u64, u64) {
    let (mut ul, mut dl) = (0, 0);
    for r in reports.iter().filter(|r| r.urr_id == urr) {
        let v = r.volume_measurement.unwrap();
        ul += v.ul.unwrap_or(0);
        dl += v.dl.unwrap_or(0);
    }
    (ul, dl)
}

// ---------------------------------------------------------------------------------

#[test]
fn establish_with_choose_then_uplink_and_downlink_flow() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (seid, teid, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    assert!(r.ctl.has_session(seid), "installed in the dataplane");
    assert!((0x1000..=0xffff).contains(&teid));
    assert_eq!(ue.octets()[..2], [10, 45]);

    // Uplink: G-PDU with the chosen TEID and QFI 9 → decapsulated on N6.
    let inner = testkit::udp4(ue, DN_IP, 4000, 53, 100);
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &inner));
    let out = r.sent(Iface::N6);
    assert_eq!(out.len(), 1, "one packet out of N6");
    let p = n6_packet(&out[0]);
    assert_eq!(p.len(), inner.len());
    assert_eq!(&p[..8], &inner[..8]);
    assert_eq!(p[8], inner[8] - 1, "TTL decremented");
    assert_eq!(&p[12..], &inner[12..], "addresses and payload unchanged");

    // Downlink: to the UE address → GTP-U to the gNB's F-TEID with QFI 9.
    let inner = testkit::udp4(DN_IP, ue, 53, 4000, 200);
    r.push(Iface::N6, &testkit::dl_frame(&inner));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    let e = ethernet::Frame::new_checked(&out[0][..]).unwrap();
    assert_eq!(e.dst(), GNB_MAC);
    let (dst, g, pkt) = n3_tunnel(&out[0]);
    assert_eq!(dst, GNB_IP);
    assert_eq!(g.teid, 0x200);
    let psc = g.psc.expect("PDU Session Container");
    assert_eq!((psc.pdu_type, psc.qfi), (gtpu::PduType::Dl, 9));
    assert_eq!(pkt.len(), inner.len());

    // SDF filter: the voice flow (UDP from 10.1/16, ports 5000-5100)
    // takes the precedence-100 PDR and its QER's QFI 5.
    let voice = testkit::udp4(Ipv4Addr::new(10, 1, 2, 3), ue, 5004, 4000, 60);
    r.push(Iface::N6, &testkit::dl_frame(&voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 5);

    // Anti-spoofing: a UE source other than the session's is dropped.
    let spoof = testkit::udp4(Ipv4Addr::new(10, 45, 99, 99), DN_IP, 1, 2, 10);
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &spoof));
    assert!(r.sent(Iface::N6).is_empty());
    assert_eq!(r.drops(DropReason::SpoofedSource), 1);
}

/// free5GC-style establishment: the downlink FAR is FORW toward Access
/// with a Network Instance but no Outer Header Creation (the gNB's tunnel
/// comes with the N2 setup). Accepted; downlink is dropped until the Update
/// FAR brings the tunnel, then forwarded. Suite 42 replays it over UDP.
#[test]
fn forw_far_without_a_tunnel_yet_free5gc() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let mut m = sample::establishment_request(seq, &params(1));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    let dl: &mut CreateFar<'_> = e.create_far.iter_mut().find(|f| f.far_id == 2).unwrap();
    let fp: &mut ForwardingParameters<'_> = dl.forwarding_parameters.as_mut().unwrap();
    assert_eq!(fp.destination_interface, DestinationInterface::ACCESS);
    assert!(fp.network_instance.is_some());
    fp.outer_header_creation = None;
    dl.apply_action = ApplyAction::FORW;
    let (seid, _, ue) = r.establish(&m);
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 1, 2, 10)),
    );
    assert!(r.sent(Iface::N3).is_empty(), "no tunnel yet: dropped");
    let seq = r.next_seq();
    let a = r.request(&sample::path_switch_request(
        seq, seid, 0x777, GNB_IP, false,
    ));
    let Message::SessionModificationResponse(x) = &a.message else {
        panic!("{a:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 1, 2, 10)),
    );
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.teid, 0x777);
}

#[test]
fn path_switch_with_sndem_sends_end_marker_to_old_gnb_after_last_packet() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (seid, _, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    // Downlink on the old path.
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 1, 2, 10)),
    );
    assert_eq!(r.sent(Iface::N3).len(), 1);
    // The switch, with downlink arriving meanwhile.
    let seq = r.next_seq();
    let m = r.request(&sample::path_switch_request(
        seq, seid, 0x777, GNB2_IP, true,
    ));
    let Message::SessionModificationResponse(x) = &m.message else {
        panic!("{m:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 1, 2, 10)),
    );
    let out = r.sent(Iface::N3);
    let tunnels: Vec<_> = out.iter().map(|f| n3_tunnel(f)).collect();
    assert_eq!(tunnels.len(), 2, "{tunnels:?}");
    let em: Vec<_> = tunnels
        .iter()
        .filter(|(_, g, _)| g.msg_type == gtpu::msg::END_MARKER)
        .collect();
    assert_eq!(em.len(), 1, "one End Marker");
    let (dst, g, inner) = em[0];
    assert_eq!((*dst, g.teid), (GNB_IP, 0x200), "to the old gNB's TEID");
    assert!(inner.is_empty());
    assert!(
        !tunnels
            .iter()
            .any(|(d, g, _)| *d == GNB_IP && g.msg_type == gtpu::msg::G_PDU),
        "nothing on the old path after the switch"
    );
    let new_path: Vec<_> = tunnels
        .iter()
        .filter(|(_, g, _)| g.msg_type == gtpu::msg::G_PDU)
        .collect();
    assert_eq!((new_path[0].0, new_path[0].1.teid), (GNB2_IP, 0x777));
    assert_eq!(r.n4.up_stats().end_markers, 1);
    // Without SNDEM: no End Marker.
    let seq = r.next_seq();
    r.request(&sample::path_switch_request(
        seq, seid, 0x778, GNB2_IP, false,
    ));
    assert!(r.sent(Iface::N3).is_empty());
    assert_eq!(r.n4.up_stats().end_markers, 1);
}

#[test]
fn usage_query_and_deletion_report_exactly_the_inner_bytes() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (seid, teid, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    assert_eq!(r.n4.books(), 0, "nothing reported yet: no book");
    let mut ul_bytes = 0;
    let mut dl_bytes = 0;
    for i in 0..5 {
        let p = testkit::udp4(ue, DN_IP, 1000, 80, 10 + i * 37);
        ul_bytes += p.len() as u64;
        r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    }
    for i in 0..3 {
        let p = testkit::udp4(DN_IP, ue, 80, 1000, 500 + i);
        dl_bytes += p.len() as u64;
        r.push(Iface::N6, &testkit::dl_frame(&p));
    }
    assert_eq!(r.sent(Iface::N6).len(), 5);
    assert_eq!(r.sent(Iface::N3).len(), 3);
    // Query URR: everything so far, once.
    let seq = r.next_seq();
    let q = r.request(&sample::query_urr_request(seq, seid, &[1]));
    let Message::SessionModificationResponse(x) = &q.message else {
        panic!("{q:?}")
    };
    assert_eq!(usage(&x.usage_report, 1), (ul_bytes, dl_bytes));
    let v = x.usage_report[0].volume_measurement.unwrap();
    assert_eq!(v.total, Some(ul_bytes + dl_bytes));
    assert_eq!(r.n4.books(), 1, "what was reported is kept");
    // More traffic, then the deletion: its report has what came since.
    let p = testkit::udp4(ue, DN_IP, 1000, 80, 333);
    let late = p.len() as u64;
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    assert_eq!(r.sent(Iface::N6).len(), 1);
    let seq = r.next_seq();
    let d = r.request(&sample::deletion_request(seq, seid));
    let Message::SessionDeletionResponse(x) = &d.message else {
        panic!("{d:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(
        usage(&x.usage_report, 1),
        (late, 0),
        "the final report has what came after the query, no more, no less"
    );
    assert!(!r.ctl.has_session(seid));
    assert_eq!(r.n4.up_stats().unsettled_reads, 0);
    assert_eq!(r.n4.books(), 0, "reported in full: forgotten");
    // Traffic for the deleted session goes nowhere.
    r.push(
        Iface::N3,
        &testkit::ul_frame(teid, 9, &testkit::udp4(ue, DN_IP, 1, 2, 10)),
    );
    assert!(r.sent(Iface::N6).is_empty());
}

/// A worker I/O fed from another thread: uplink frames in on N3, what
/// leaves N6 out.
struct ChanIo {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    tx: std::sync::mpsc::Sender<Vec<u8>>,
}

impl dataplane::worker::WorkerIo for ChanIo {
    type Buf = dataplane::buf::VecBuf;
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<Self::Buf>, max: usize) {
        if iface != Iface::N3 {
            return;
        }
        for _ in 0..max {
            match self.rx.try_recv() {
                Ok(f) => out.push(dataplane::buf::VecBuf::from_frame(&f)),
                Err(_) => break,
            }
        }
    }
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<Self::Buf>) {
        for f in frames.drain(..) {
            if iface == Iface::N6 {
                use dataplane::buf::PacketBuf;
                let _ = self.tx.send(f.data().to_vec());
            }
        }
    }
    fn alloc(&mut self) -> Option<Self::Buf> {
        Some(dataplane::buf::VecBuf::with_room(
            &[],
            dataplane::buf::DEFAULT_HEADROOM,
            dataplane::buf::DEFAULT_CAPACITY - dataplane::buf::DEFAULT_HEADROOM,
        ))
    }
}

#[test]
fn deletion_reports_packets_a_busy_worker_counts_while_it_switches() {
    // The worker runs on its own thread and is busy with uplink traffic
    // when the deletion is published: packets it counts after the node
    // read the counters but before it switched to the new rules must be
    // in the Session Deletion Response. Reported bytes must equal the
    // bytes forwarded on N6, exactly.
    let mut dcfg = dataplane::control::DataplaneConfig::new(1, 2_500_000_000);
    dcfg.net = testkit::net(true);
    let (mut ctl, ports) = Control::new(dcfg);
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (out_tx, out_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = ports.into_iter().next().unwrap();
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = Worker::new(
                port,
                ChanIo {
                    rx: in_rx,
                    tx: out_tx,
                },
            );
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if !w.poll(cpu::rdtsc()) {
                    std::thread::yield_now();
                }
            }
        })
    };
    let now = Instant::now();
    let clock = TscClock {
        hz: 2_500_000_000,
        tsc: cpu::rdtsc(),
        wall: SystemTime::now(),
    };
    let mut n4 = N4::new(pfcp_config(), 1, clock, now, SystemTime::now()).unwrap();
    let smf = SocketAddr::new(IpAddr::V4(SMF), 8805);
    let send = |n4: &mut N4, ctl: &mut Control, m: &Pfcp<'_>| {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        n4.on_datagram(Instant::now(), smf, &b, ctl);
    };
    let answer = |n4: &mut N4, ctl: &mut Control, seq: u32| -> Option<Pfcp<'static>> {
        std::iter::from_fn(|| n4.poll_transmit(ctl))
            .map(|t| decode(&t.payload))
            .find(|m| m.seq == seq)
    };
    send(
        &mut n4,
        &mut ctl,
        &sample::association_setup_request(1, SMF, SMF_RTS),
    );
    answer(&mut n4, &mut ctl, 1).unwrap();
    let mut p = params(1);
    p.ue_ip = Some(Ipv4Addr::new(10, 45, 1, 1));
    p.ul_teid = Some((0x4242, N3_IP));
    send(
        &mut n4,
        &mut ctl,
        &sample::simple_establishment_request(2, &p),
    );
    let Message::SessionEstablishmentResponse(e) = answer(&mut n4, &mut ctl, 2).unwrap().message
    else {
        panic!()
    };
    let seid = e.up_f_seid.unwrap().seid;
    // Packets the 50 Mbit/s meter drops are not counted: reported must
    // still equal forwarded.
    let pkt = testkit::ul_frame(
        0x4242,
        9,
        &testkit::udp4(Ipv4Addr::new(10, 45, 1, 1), DN_IP, 1, 2, 72),
    );
    let inner_len = 100u64;
    let mut deleted = None;
    let mut delete_sent = false;
    let mut sent = 0u64;
    let mut forwarded = 0u64;
    let start = Instant::now();
    while deleted.is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "no answer");
        // Keep the worker busy: up to 256 frames queued at any time.
        let taken = ctl.counters().rx_packets[Iface::N3.index()];
        while sent - taken < 256 {
            in_tx.send(pkt.clone()).unwrap();
            sent += 1;
        }
        forwarded += out_rx.try_iter().count() as u64;
        // Delete once traffic flows, while the worker is at work.
        if !delete_sent && forwarded >= 500 {
            send(&mut n4, &mut ctl, &sample::deletion_request(3, seid));
            delete_sent = true;
        }
        n4.housekeeping(Instant::now(), &mut ctl);
        if delete_sent {
            deleted = answer(&mut n4, &mut ctl, 3);
        }
        std::thread::yield_now();
    }
    // Let the worker finish the queue, then stop it.
    while ctl.counters().rx_packets[Iface::N3.index()] < sent {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::yield_now();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().unwrap();
    forwarded += out_rx.try_iter().count() as u64;
    let Message::SessionDeletionResponse(x) = deleted.unwrap().message else {
        panic!()
    };
    assert!(forwarded > 0 && forwarded < sent, "{forwarded} of {sent}");
    let mut reported = usage(&x.usage_report, 1).0;
    assert_eq!(reported % inner_len, 0, "whole packets: {reported} bytes");
    reported /= inner_len;
    assert_eq!(reported, forwarded, "every forwarded packet reported, once");
    assert_eq!(n4.up_stats().unsettled_reads, 0);
}

/// Open5GS / free5GC: the Session Modification that ends buffering (Update
/// FAR FORW with the gNB's tunnel) carries PFCPSMReq-Flags DROBU: what was
/// buffered is discarded, not delivered; what comes after is forwarded.
#[test]
fn drobu_discards_the_buffered_packets_open5gs() {
    let mut r = Rig::new();
    r.associate();
    let mut p = params(1);
    p.gnb = None; // BUFF + NOCP until the gNB answers
    let seq = r.next_seq();
    let (seid, _, ue) = r.establish(&sample::establishment_request(seq, &p));
    for i in 0..2 {
        r.push(
            Iface::N6,
            &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 80, 1000, 100 + i)),
        );
    }
    assert!(r.sent(Iface::N3).is_empty(), "buffered");
    assert_eq!(r.w.buffered_len(), 2);
    let seq = r.next_seq();
    let mut m = sample::path_switch_request(seq, seid, 0x300, GNB_IP, false);
    let Message::SessionModificationRequest(x) = &mut m.message else {
        unreachable!()
    };
    x.pfcpsmreq_flags = Some(PfcpsmReqFlags::DROBU);
    let a = r.request(&m);
    let Message::SessionModificationResponse(x) = &a.message else {
        panic!("{a:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    assert!(r.sent(Iface::N3).is_empty(), "nothing buffered delivered");
    assert_eq!(r.w.buffered_len(), 0, "the buffer is empty");
    assert_eq!(r.n4.up_stats().drobu, 1);
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 80, 1000, 10)),
    );
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1, "new downlink forwarded");
    assert_eq!(n3_tunnel(&out[0]).1.teid, 0x300);
}

/// The SMF answers the Downlink Data Report with PFCPSRRsp-Flags DROBU
/// (paging failed, as Open5GS does when the UE cannot be reached): the
/// buffered packets are dropped, the session keeps buffering what comes
/// next, and the later FORW delivers only that.
#[test]
fn drobu_in_the_report_response_drops_the_buffer_open5gs() {
    let mut r = Rig::new();
    r.associate();
    let mut p = params(1);
    p.gnb = None;
    let seq = r.next_seq();
    let (seid, _, ue) = r.establish(&sample::establishment_request(seq, &p));
    for i in 0..2 {
        r.push(
            Iface::N6,
            &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 80, 1000, 100 + i)),
        );
    }
    assert!(r.sent(Iface::N3).is_empty());
    assert_eq!(r.w.buffered_len(), 2);
    let report = r
        .from_upf
        .drain(..)
        .find(|m| matches!(m.message, Message::SessionReportRequest(_)))
        .expect("a Downlink Data Report");
    let answer = Pfcp::session(
        seid,
        report.seq,
        SessionReportResponse {
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            update_bar: None,
            pfcpsrrsp_flags: Some(PfcpsrRspFlags::DROBU),
            cp_f_seid: None,
            n4u_f_teid: None,
            alternative_smf_ip_address: None,
        },
    );
    let mut b = Vec::new();
    answer.encode(&mut b).unwrap();
    r.n4.on_datagram(r.now, r.smf, &b, &mut r.ctl);
    for _ in 0..20 {
        r.step();
    }
    assert_eq!(r.w.buffered_len(), 0, "the buffer is dropped");
    assert_eq!(r.n4.up_stats().drobu, 1);
    // Still buffering: a new packet waits, and FORW delivers only it.
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 80, 1000, 7)),
    );
    assert!(r.sent(Iface::N3).is_empty());
    assert_eq!(r.w.buffered_len(), 1);
    let seq = r.next_seq();
    r.request(&sample::path_switch_request(
        seq, seid, 0x300, GNB_IP, false,
    ));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1, "only the packet buffered after the DROBU");
    assert_eq!(n3_tunnel(&out[0]).2.len(), 20 + 8 + 7);
}

#[test]
fn buffering_reports_downlink_data_once_and_releases_on_forward() {
    let mut r = Rig::new();
    r.associate();
    let mut p = params(1);
    p.gnb = None; // BUFF + NOCP until the gNB answers
    let seq = r.next_seq();
    let (seid, _, ue) = r.establish(&sample::establishment_request(seq, &p));
    let pkts: Vec<Vec<u8>> = (0..3)
        .map(|i| testkit::udp4(DN_IP, ue, 80, 1000, 100 + i))
        .collect();
    for p in &pkts {
        r.push(Iface::N6, &testkit::dl_frame(p));
    }
    assert!(r.sent(Iface::N3).is_empty(), "buffered");
    assert_eq!(r.w.buffered_len(), 3);
    let reports: Vec<_> = r
        .from_upf
        .drain(..)
        .filter(|m| matches!(m.message, Message::SessionReportRequest(_)))
        .collect();
    assert_eq!(reports.len(), 1, "one Downlink Data Report");
    let Message::SessionReportRequest(rep) = &reports[0].message else {
        unreachable!()
    };
    assert_eq!(reports[0].seid, Some(1), "to the SMF's SEID");
    let dldr = rep.downlink_data_report.as_ref().unwrap();
    assert_eq!(dldr.pdr_ids.as_slice(), &[2]);
    assert_eq!(dldr.downlink_data_service_information[0].qfi, Some(9));
    // The SMF answers; more downlink: no second report.
    let answer = Pfcp::session(
        seid,
        reports[0].seq,
        SessionReportResponse {
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            update_bar: None,
            pfcpsrrsp_flags: None,
            cp_f_seid: None,
            n4u_f_teid: None,
            alternative_smf_ip_address: None,
        },
    );
    let mut b = Vec::new();
    answer.encode(&mut b).unwrap();
    r.n4.on_datagram(r.now, r.smf, &b, &mut r.ctl);
    r.push(Iface::N6, &testkit::dl_frame(&pkts[0]));
    assert!(r.sent(Iface::N3).is_empty());
    assert!(
        !r.from_upf
            .iter()
            .any(|m| matches!(m.message, Message::SessionReportRequest(_))),
        "reported once until the SMF modifies the session"
    );
    // The gNB tunnel arrives: FORW releases the buffered packets, in order.
    let seq = r.next_seq();
    r.request(&sample::path_switch_request(
        seq, seid, 0x300, GNB_IP, false,
    ));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 4);
    for (f, p) in out.iter().zip(pkts.iter().chain([&pkts[0]])) {
        let (dst, g, inner) = n3_tunnel(f);
        assert_eq!((dst, g.teid), (GNB_IP, 0x300));
        assert_eq!(inner.len(), p.len());
    }
    assert_eq!(r.w.buffered_len(), 0);
}

#[test]
fn used_up_volume_quota_stops_the_traffic() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let mut m = sample::establishment_request(seq, &params(1));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    e.create_urr[0].reporting_triggers = ReportingTriggers::VOLQU;
    e.create_urr[0].measurement_period = None;
    e.create_urr[0].volume_threshold = None;
    e.create_urr[0].volume_quota = Some(Volume {
        total: Some(1000),
        ul: None,
        dl: None,
    });
    let (seid, teid, ue) = r.establish(&m);
    let p = testkit::udp4(ue, DN_IP, 1, 2, 272); // 300 bytes
    for _ in 0..4 {
        r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    }
    assert_eq!(r.sent(Iface::N6).len(), 4, "within the quota when sent");
    // The node polls the counters (a tenth of the sessions every 100 ms).
    let mut report = None;
    for _ in 0..300 {
        let got = r.step();
        r.from_upf.extend(got);
        if let Some(i) = r
            .from_upf
            .iter()
            .position(|m| matches!(m.message, Message::SessionReportRequest(_)))
        {
            report = Some(r.from_upf.remove(i));
            break;
        }
    }
    let report = report.expect("a quota report");
    let Message::SessionReportRequest(rep) = &report.message else {
        unreachable!()
    };
    let u = &rep.usage_report[0];
    assert!(
        u.usage_report_trigger
            .contains(pfcp::codec::ies::UsageReportTrigger::VOLQU)
    );
    assert_eq!(u.volume_measurement.unwrap().total, Some(1200));
    // From now on the session's uplink is dropped by rule.
    let before = r.drops(DropReason::RuleDrop);
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    assert!(r.sent(Iface::N6).is_empty());
    assert_eq!(r.drops(DropReason::RuleDrop), before + 1);
    // A new quota lets it through again.
    let mut m = sample::empty_modification();
    m.update_urr = vec![sample::quota_update(1, 10_000)];
    let seq = r.next_seq();
    r.request(&Pfcp::session(seid, seq, m));
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    assert_eq!(r.sent(Iface::N6).len(), 1);
}

fn rejection(m: &Pfcp<'_>) -> (Cause, Option<u16>, Option<(RuleType, u32)>) {
    match &m.message {
        Message::SessionEstablishmentResponse(x) => (
            x.cause,
            x.offending_ie,
            x.failed_rule_id.map(|f| (f.rule_type, f.id)),
        ),
        Message::SessionModificationResponse(x) => (
            x.cause,
            x.offending_ie,
            x.failed_rule_id.map(|f| (f.rule_type, f.id)),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_rules_change_nothing_in_the_dataplane() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (seid, teid, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    // A static session owns TEID 0x99 (outside teid_range).
    let mut st = testkit::session(&testkit::SessionSpec::nth(50));
    st.id = static_session_id(7).unwrap();
    st.pdrs[0].pdi.local_fteid = Some(dataplane::rules::Fteid {
        teid: 0x99,
        ipv4: Some(N3_IP),
        ipv6: None,
    });
    r.ctl
        .publish(Batch {
            upserts: vec![st],
            removals: vec![],
        })
        .unwrap();
    let generation = r.ctl.generation();
    let sessions = r.ctl.session_count();

    // 73: an SMF-given F-TEID that a static session uses: the dataplane
    // refuses, the PDR is named.
    let mut p = params(2);
    p.ul_teid = Some((0x99, N3_IP));
    let seq = r.next_seq();
    let a = r.request(&sample::establishment_request(seq, &p));
    let (cause, _, rule) = rejection(&a);
    assert_eq!(cause, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    assert_eq!(rule.unwrap().0, RuleType::Pdr);

    // 73: a PDR with more QERs than the data plane applies (its
    // validation), named by its PDR id. (A FAR forwarding toward Access
    // without a tunnel yet, the former example here, is accepted: see
    // `forw_far_without_a_tunnel_yet_free5gc`.)
    let seq = r.next_seq();
    let mut m = sample::establishment_request(seq, &params(3));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    let mut extra = Vec::new();
    for id in [91, 92, 93] {
        let mut q = e.create_qer[0].clone();
        q.qer_id = id;
        q.qfi = None;
        extra.push(q);
        e.create_pdr[0].qer_ids.push(id);
    }
    e.create_qer.extend(extra);
    let pdr = u32::from(e.create_pdr[0].pdr_id);
    let a = r.request(&m);
    assert_eq!(
        rejection(&a),
        (
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            None,
            Some((RuleType::Pdr, pdr))
        )
    );

    // 76: a deny rule in an SDF filter, with the Offending IE.
    let seq = r.next_seq();
    let mut m = sample::establishment_request(seq, &params(4));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    e.create_pdr[2].pdi.sdf_filters[0].flow_description =
        Some(b"deny out 17 from 10.1.0.0/16 to assigned");
    let a = r.request(&m);
    assert_eq!(
        rejection(&a),
        (
            Cause::SERVICE_NOT_SUPPORTED,
            Some(t::SDF_FILTER),
            Some((RuleType::Pdr, 3))
        )
    );

    // A refused modification leaves the installed rules as they were: the
    // UL PDR updated to three QERs (the data plane applies two).
    let seq = r.next_seq();
    let mut m = sample::empty_modification();
    m.create_qer = [91, 92, 93]
        .map(|qer_id| CreateQer {
            qer_id,
            qer_correlation_id: None,
            gate_status: GateStatus::default(),
            mbr: None,
            gbr: None,
            packet_rate: false,
            dl_flow_level_marking: false,
            qfi: None,
            rqi: None,
            paging_policy_indicator: None,
            averaging_window: None,
        })
        .to_vec();
    m.update_pdr = vec![UpdatePdr {
        pdr_id: 1,
        outer_header_removal: None,
        precedence: None,
        pdi: None,
        far_id: None,
        urr_ids: SmallVec::new(),
        qer_ids: SmallVec::from_slice(&[91, 92, 93]),
        activate_predefined_rules: false,
        deactivate_predefined_rules: false,
        activation_time: false,
        deactivation_time: false,
    }];
    let a = r.request(&Pfcp::session(seid, seq, m));
    assert_eq!(rejection(&a).0, Cause::RULE_CREATION_MODIFICATION_FAILURE);

    assert_eq!(r.ctl.generation(), generation, "nothing published");
    assert_eq!(r.ctl.session_count(), sessions);
    assert_eq!(r.n4.node().session_count(), 1);
    // And the first session still forwards.
    r.push(
        Iface::N3,
        &testkit::ul_frame(teid, 9, &testkit::udp4(ue, DN_IP, 1, 2, 10)),
    );
    assert_eq!(r.sent(Iface::N6).len(), 1);
}

#[test]
fn static_sessions_ue_addresses_are_not_chosen() {
    let mut cfg = pfcp_config();
    cfg.ue_pools[0].prefix_len = 30; // 10.45.0.1 and .2
    cfg.reserved_ue_ips = vec!["10.45.0.1".parse().unwrap()];
    let mut r = Rig::with(cfg);
    r.associate();
    let seq = r.next_seq();
    let (_, _, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    assert_eq!(ue, Ipv4Addr::new(10, 45, 0, 2));
    let seq = r.next_seq();
    let a = r.request(&sample::establishment_request(seq, &params(2)));
    assert_eq!(rejection(&a).0, Cause::ALL_DYNAMIC_ADDRESSES_OCCUPIED);
}

#[test]
fn oai_capture_requests_install_sessions_in_the_dataplane() {
    // Source: the OAI SMF capture of pfcp/tests/data (orion-belt/tempo
    // upf.pcap): association, establishment with CHOOSE, modification
    // adding the downlink tunnel, deletion, heartbeats.
    let pcap = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pfcp/tests/data/pfcp-oai-smf-lifecycle.pcap"
    ))
    .unwrap();
    let smf_ip: IpAddr = "192.168.61.196".parse().unwrap();
    let mut cfg = pfcp_config();
    cfg.gtpu[0].ipv4 = Some(Ipv4Addr::new(172, 20, 16, 2));
    let mut r = Rig::with(cfg);
    let mut our_seid = None;
    let mut kinds = Vec::new();
    for d in pcap::udp_datagrams(&pcap, 8805)
        .iter()
        .filter(|d| d.src.ip() == smf_ip)
    {
        let mut payload = d.payload.clone();
        let (m, _) = Pfcp::decode(&d.payload).unwrap();
        let ty = m.message.msg_type();
        if !msg_type::is_request(ty) {
            continue;
        }
        if let Some(s) = our_seid
            && ty != msg_type::SESSION_ESTABLISHMENT_REQUEST
            && m.seid.is_some()
        {
            payload[4..12].copy_from_slice(&u64::to_be_bytes(s));
        }
        r.smf = d.src;
        let (m, _) = Pfcp::decode(&payload).unwrap();
        let a = r.request(&m);
        let cause = match &a.message {
            Message::HeartbeatResponse(_) => Cause::REQUEST_ACCEPTED,
            Message::AssociationSetupResponse(x) => x.cause,
            Message::SessionEstablishmentResponse(x) => {
                our_seid = x.up_f_seid.map(|f| f.seid);
                x.cause
            }
            Message::SessionModificationResponse(x) => x.cause,
            Message::SessionDeletionResponse(x) => x.cause,
            other => panic!("{other:?}"),
        };
        assert_eq!(cause, Cause::REQUEST_ACCEPTED, "{:?}", a.message);
        kinds.push(ty);
        match ty {
            msg_type::SESSION_ESTABLISHMENT_REQUEST | msg_type::SESSION_MODIFICATION_REQUEST => {
                assert!(r.ctl.has_session(our_seid.unwrap()), "installed");
                assert_eq!(r.ctl.session_count(), 1);
            }
            msg_type::SESSION_DELETION_REQUEST => assert_eq!(r.ctl.session_count(), 0),
            _ => {}
        }
    }
    for ty in [
        msg_type::ASSOCIATION_SETUP_REQUEST,
        msg_type::SESSION_ESTABLISHMENT_REQUEST,
        msg_type::SESSION_MODIFICATION_REQUEST,
        msg_type::SESSION_DELETION_REQUEST,
    ] {
        assert!(kinds.contains(&ty), "{ty} in the capture");
    }
}

#[test]
fn error_indication_from_gnb_becomes_a_session_report() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (_, _, _) = r.establish(&sample::establishment_request(seq, &params(1)));
    // The gNB no longer knows TEID 0x200: GTP-U Error Indication (TEID
    // Data I 0x200, GTP-U Peer Address = the gNB).
    let mut ies = Vec::new();
    ies.extend_from_slice(&[16, 0, 0, 0x02, 0x00]); // TEID Data I
    ies.extend_from_slice(&[133, 0, 4]);
    ies.extend_from_slice(&GNB_IP.octets());
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::ERROR_INDICATION,
        seq: Some(0),
        ..gtpu::Repr::gpdu(0, 0)
    };
    let f = testkit::frame(
        testkit::N3_MAC,
        GNB_MAC,
        ethernet::ethertype::IPV4,
        &testkit::gtpu4(GNB_IP, N3_IP, gtpu::PORT, gh, &ies),
    );
    r.push(Iface::N3, &f);
    r.sent(Iface::N3);
    let rep = r
        .from_upf
        .iter()
        .find_map(|m| match &m.message {
            Message::SessionReportRequest(x) => Some(x.clone()),
            _ => None,
        })
        .expect("an error indication report");
    let eir = rep.error_indication_report.unwrap();
    assert!(matches!(
        eir.remote_f_teids[0],
        FTeid::Assigned { teid: 0x200, ipv4: Some(a), .. } if a == GNB_IP
    ));
}

#[test]
fn telemetry_counts_messages_sessions_and_associations() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    r.establish(&sample::establishment_request(seq, &params(1)));
    let mut m = upf::api::TelemetryModel::default();
    r.n4.fill_telemetry(&mut m);
    assert_eq!(m.pfcp_sessions, 1);
    assert_eq!(m.associations.len(), 1);
    assert_eq!(m.associations[0].node_id, SMF.to_string());
    assert_eq!(m.associations[0].sessions, 1);
    use upf::api::Direction as D;
    assert_eq!(
        m.pfcp_messages[&("session_establishment_request".to_owned(), D::Rx)],
        1
    );
    assert_eq!(
        m.pfcp_messages[&("session_establishment_response".to_owned(), D::Tx)],
        1
    );
    // Garbage is counted as malformed.
    r.n4.on_datagram(r.now, r.smf, b"\xff\x00garbage", &mut r.ctl);
    r.n4.fill_telemetry(&mut m);
    assert_eq!(m.pfcp_messages[&("malformed".to_owned(), D::Rx)], 1);
}

#[test]
fn establishment_before_association_is_refused_with_72() {
    let mut r = Rig::new();
    let seq = r.next_seq();
    let a = r.request(&sample::establishment_request(seq, &params(1)));
    assert_eq!(rejection(&a).0, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert_eq!(r.ctl.session_count(), 0);
}

/// Send several requests as one burst (no answer read in between), then
/// read all the answers.
fn burst(r: &mut Rig, msgs: &[Pfcp<'_>]) -> Vec<Pfcp<'static>> {
    for m in msgs {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        r.n4.on_datagram(r.now, r.smf, &b, &mut r.ctl);
    }
    let mut out = r.drain();
    // A flush waits for the workers to take the previous batch (the
    // answers with it): the worker polls once.
    r.w.poll(r.tsc);
    out.extend(r.drain());
    out
}

#[test]
fn a_burst_of_establishments_is_one_publish() {
    let mut r = Rig::new();
    r.associate();
    let before = r.n4.up_stats().publishes;
    let g = r.ctl.generation();
    let msgs: Vec<_> = (1..=20)
        .map(|i| sample::establishment_request(100 + i as u32, &params(i)))
        .collect();
    let answers = burst(&mut r, &msgs);
    assert_eq!(answers.len(), 20);
    let mut ues = Vec::new();
    for a in &answers {
        let Message::SessionEstablishmentResponse(e) = &a.message else {
            panic!("{a:?}")
        };
        assert_eq!(e.cause, Cause::REQUEST_ACCEPTED);
        assert!(r.ctl.has_session(e.up_f_seid.unwrap().seid));
        ues.extend(e.created_pdr.iter().filter_map(|c| c.ue_ip_address?.ipv4));
    }
    assert_eq!(r.n4.up_stats().publishes, before + 1, "one batch");
    assert_eq!(r.ctl.generation(), g + 1, "one new snapshot");
    assert_eq!(r.ctl.session_count(), 20);
    // Every session forwards.
    ues.sort_unstable();
    ues.dedup();
    for ue in ues {
        r.push(
            Iface::N6,
            &testkit::dl_frame(&testkit::udp4(DN_IP, ue, 1, 2, 10)),
        );
    }
    assert_eq!(r.sent(Iface::N3).len(), 20);
}

#[test]
fn establish_modify_and_delete_in_one_burst() {
    let mut r = Rig::new();
    r.associate();
    let g = r.ctl.generation();
    // The SMF does not know our SEIDs before the answer, so a burst can
    // only change sessions it established earlier: establish two, then in
    // one burst modify the first, delete the second, establish a third.
    let seq = r.next_seq();
    let (s1, _, ue1) = r.establish(&sample::establishment_request(seq, &params(1)));
    let seq = r.next_seq();
    let (s2, t2, _) = r.establish(&sample::establishment_request(seq, &params(2)));
    let answers = burst(
        &mut r,
        &[
            sample::path_switch_request(50, s1, 0x999, GNB_IP, false),
            sample::deletion_request(51, s2),
            sample::establishment_request(52, &params(3)),
        ],
    );
    // The deletion waits for the worker's final counts; the others are in.
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(r.ctl.has_session(s1) && !r.ctl.has_session(s2));
    assert_eq!(r.ctl.session_count(), 2);
    assert_eq!(r.ctl.generation(), g + 3, "two establishments, one burst");
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue1, 1, 2, 10)),
    );
    let out = r.sent(Iface::N3);
    assert_eq!(
        n3_tunnel(&out[0]).1.teid,
        0x999,
        "the modification is in force"
    );
    assert!(
        r.from_upf.iter().any(|m| m.seq == 51
            && matches!(&m.message, Message::SessionDeletionResponse(d) if d.cause == Cause::REQUEST_ACCEPTED)),
        "deletion answered once the worker moved on"
    );
    r.push(
        Iface::N3,
        &testkit::ul_frame(
            t2,
            9,
            &testkit::udp4(Ipv4Addr::new(10, 45, 0, 2), DN_IP, 1, 2, 10),
        ),
    );
    assert!(r.sent(Iface::N6).is_empty(), "the deleted session is gone");
}

#[test]
fn a_session_established_and_deleted_in_one_burst_never_reaches_the_workers() {
    let mut r = Rig::new();
    r.associate();
    // The SMF cannot know the SEID before the answer; but an association
    // release in the same burst removes what the burst established.
    let g = r.ctl.generation();
    let answers = burst(
        &mut r,
        &[
            sample::establishment_request(60, &params(1)),
            Pfcp::node(
                61,
                pfcp::codec::message::AssociationReleaseRequest {
                    node_id: pfcp::codec::ies::NodeId::Ipv4(SMF),
                },
            ),
        ],
    );
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(r.ctl.session_count(), 0);
    assert_eq!(r.ctl.generation(), g, "nothing published");
    assert_eq!(r.n4.node().session_count(), 0);
}

#[test]
fn deleting_one_session_leaves_another_untouched() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (s1, t1, ue1) = r.establish(&sample::establishment_request(seq, &params(1)));
    let mut p2 = params(2);
    p2.gnb = Some((0x300, GNB_IP));
    let seq = r.next_seq();
    let (_, t2, ue2) = r.establish(&sample::establishment_request(seq, &p2));
    let both = |r: &mut Rig| {
        r.push(
            Iface::N3,
            &testkit::ul_frame(t1, 9, &testkit::udp4(ue1, DN_IP, 1, 2, 10)),
        );
        r.push(
            Iface::N3,
            &testkit::ul_frame(t2, 9, &testkit::udp4(ue2, DN_IP, 1, 2, 11)),
        );
        r.sent(Iface::N6)
            .iter()
            .map(|f| n6_packet(f).len())
            .collect::<Vec<_>>()
    };
    assert_eq!(both(&mut r), [38, 39]);
    let seq = r.next_seq();
    r.request(&sample::deletion_request(seq, s1));
    assert_eq!(
        both(&mut r),
        [39],
        "only the deleted session's traffic stops"
    );
    // The gNB hears that the deleted session's TEID is gone.
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.msg_type, gtpu::msg::ERROR_INDICATION);
    // The other session's downlink still goes to its own tunnel.
    r.push(
        Iface::N6,
        &testkit::dl_frame(&testkit::udp4(DN_IP, ue2, 1, 2, 10)),
    );
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.teid, 0x300);
}

#[test]
fn garbage_on_n4_is_counted_and_valid_peers_are_still_served() {
    let mut r = Rig::new();
    r.associate();
    let junk: [&[u8]; 5] = [
        b"",
        b"\x21",
        b"\x21\x32\x00\x04\x00\x00\x00\x01", // session establishment, no body, no SEID flag
        &[0xff; 300],
        b"\x21\x01\x00\x0c\x00\x00\x01\x00\x00\x60\x00\x04", // heartbeat, truncated IE
    ];
    for (i, j) in junk.iter().enumerate() {
        r.n4.on_datagram(r.now, r.smf, j, &mut r.ctl);
        let seq = r.next_seq();
        let (seid, _, _) = r.establish(&sample::establishment_request(seq, &params(10 + i as u64)));
        assert!(r.ctl.has_session(seid), "served after garbage #{i}");
    }
    let mut m = upf::api::TelemetryModel::default();
    r.n4.fill_telemetry(&mut m);
    let malformed = m
        .pfcp_messages
        .get(&("malformed".to_owned(), upf::api::Direction::Rx))
        .copied()
        .unwrap_or(0);
    assert!(malformed >= 4, "{malformed} malformed datagrams counted");
    assert_eq!(r.ctl.session_count(), 5);
}

#[test]
fn a_batch_waits_for_the_workers_to_take_the_previous_one() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    r.establish(&sample::establishment_request(seq, &params(1)));
    // The worker has not polled since that publish: the next establishments
    // are accepted by the node but wait, answers included, so that the
    // dataplane can update its spare lookup tables in place.
    let g = r.ctl.generation();
    let mut b = Vec::new();
    for i in 2..=4u64 {
        b.clear();
        sample::establishment_request(200 + i as u32, &params(i))
            .encode(&mut b)
            .unwrap();
        r.n4.on_datagram(r.now, r.smf, &b, &mut r.ctl);
        assert!(r.drain().is_empty(), "no answer before the rules are out");
    }
    assert_eq!(r.ctl.generation(), g);
    assert!(r.n4.busy(), "the control loop ticks while changes wait");
    // Once the worker runs the previous version, the three go out in one
    // batch, written in place, and their answers follow.
    r.w.poll(r.tsc);
    let copies = r.ctl.map_stats().copies;
    let answers = r.drain();
    assert_eq!(answers.len(), 3);
    assert_eq!(r.ctl.generation(), g + 1, "one batch");
    assert_eq!(r.ctl.session_count(), 4);
    assert_eq!(r.ctl.map_stats().copies, copies, "no table copied");
    assert_eq!(r.n4.up_stats().forced_publishes, 0);

    // A worker that stops polling holds changes back for PUBLISH_WAIT at
    // most: then they are published anyway (the tables copied).
    b.clear();
    sample::establishment_request(300, &params(5))
        .encode(&mut b)
        .unwrap();
    r.n4.on_datagram(r.now, r.smf, &b, &mut r.ctl);
    assert!(r.drain().is_empty());
    let t0 = r.now;
    let mut answers = Vec::new();
    while answers.is_empty() {
        assert!(
            r.now - t0 <= upf::n4::userplane::PUBLISH_WAIT,
            "answer held too long"
        );
        r.now += Duration::from_millis(1);
        r.n4.housekeeping(r.now, &mut r.ctl);
        answers = r.drain();
    }
    assert_eq!(r.now - t0, upf::n4::userplane::PUBLISH_WAIT);
    assert_eq!(r.n4.up_stats().forced_publishes, 1);
    assert_eq!(r.ctl.session_count(), 5);
}

/// The appliance config a reload hands to `N4::reconfigure`: N4 on
/// `UPF_N4`, `peers` allowed, the rig's pool and TEID range.
fn reloaded(peers: &str) -> upf::config::Config {
    let text = format!(
        "node_id: {UPF_N4}
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3: {{ device: net_null0, address: {N3_IP}/24 }}
  n6: {{ device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }}
pfcp: {{ listen: \"{UPF_N4}:8805\", peers: {peers} }}
ue_pools: [ {{ cidr: 10.45.0.0/16, dnn: internet }} ]
teid_range: {{ first: 0x1000, last: 0xffff }}
"
    );
    upf::config::parse(&text, "reload.yaml", None).unwrap()
}

#[test]
fn a_reload_that_drops_the_smf_from_the_allowlist_keeps_its_sessions_forwarding() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    let (seid, teid, ue) = r.establish(&sample::establishment_request(seq, &params(1)));
    let ul = testkit::ul_frame(teid, 9, &testkit::udp4(ue, DN_IP, 4000, 53, 100));
    r.push(Iface::N3, &ul);
    assert_eq!(r.sent(Iface::N6).len(), 1);
    // A reload that keeps the SMF (by its network) changes nothing.
    assert!(
        r.n4.reconfigure(&reloaded("[10.0.0.0/24]"))
            .unwrap()
            .is_empty()
    );
    r.push(Iface::N3, &ul);
    assert_eq!(r.sent(Iface::N6).len(), 1);
    // One that leaves it out: PFCP sessions survive a reload; the session
    // keeps forwarding and the SMF keeps its association.
    assert_eq!(r.n4.reconfigure(&reloaded("[10.0.0.9]")).unwrap().len(), 1);
    r.push(Iface::N3, &ul);
    assert_eq!(r.sent(Iface::N6).len(), 1);
    assert!(r.ctl.has_session(seid));
    assert_eq!(r.n4.node().associations().len(), 1);
    assert_eq!(r.n4.node().session_count(), 1);
    assert_eq!(r.n4.node().stats().rx_not_allowed, 0);
}

/// The Session Report Requests with UPIR among what the UPF sent (taken
/// out of `from_upf`), as (sequence number, SEID in the header).
fn upir_reports(r: &mut Rig) -> Vec<(u32, Option<u64>)> {
    let mut out = Vec::new();
    r.from_upf.retain(|m| match &m.message {
        Message::SessionReportRequest(x) if x.report_type.contains(ReportType::UPIR) => {
            assert_eq!(x.report_type, ReportType::UPIR, "UPIR alone");
            assert!(
                x.usage_report.is_empty(),
                "no usage in an inactivity report"
            );
            out.push((m.seq, m.seid));
            false
        }
        _ => true,
    });
    out
}

/// User Plane Inactivity Timer with real packets, for a session without
/// any URR (the dataplane watches its PDRs with the internal URR): no
/// report while packets flow, one 2 s after the last, none while the
/// session stays silent, one again after traffic resumed and stopped,
/// none once a modification disabled the timer; the internal URR never
/// shows in a report and leaves nothing behind.
#[test]
fn inactivity_timer_reports_a_silent_session_from_the_workers_counters() {
    let mut cfg = pfcp_config();
    cfg.heartbeat_interval = Duration::from_secs(3600);
    let mut r = Rig::with(cfg);
    r.associate();
    let seq = r.next_seq();
    let mut m = sample::establishment_request(seq, &params(1));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    e.create_urr.clear();
    for p in &mut e.create_pdr {
        p.urr_ids.clear();
    }
    e.user_plane_inactivity_timer = Some(2);
    let (seid, teid, ue) = r.establish(&m);
    // Uplink every 0.5 s for 3 s: longer than the timer, never silent.
    for _ in 0..6 {
        let p = testkit::udp4(ue, DN_IP, 1000, 80, 50);
        r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
        assert_eq!(r.sent(Iface::N6).len(), 1);
        r.wait(Duration::from_millis(500));
    }
    assert!(upir_reports(&mut r).is_empty(), "traffic flows: no report");
    // 1.5 s after the last packet: not yet; 2.5 s: reported once.
    r.wait(Duration::from_millis(1000));
    assert!(upir_reports(&mut r).is_empty());
    r.wait(Duration::from_millis(1000));
    let reports = upir_reports(&mut r);
    assert_eq!(reports.len(), 1, "{:?}", r.from_upf);
    assert_eq!(reports[0].1, Some(1), "to the SMF's SEID");
    r.answer_report(reports[0].0, Cause::REQUEST_ACCEPTED);
    r.wait(Duration::from_secs(6));
    assert!(upir_reports(&mut r).is_empty(), "once per silent period");
    // Downlink resumes, then stops: reported again, not before the timer.
    let p = testkit::udp4(DN_IP, ue, 80, 1000, 70);
    r.push(Iface::N6, &testkit::dl_frame(&p));
    assert_eq!(r.sent(Iface::N3).len(), 1);
    r.wait(Duration::from_millis(1900));
    assert!(upir_reports(&mut r).is_empty());
    r.wait(Duration::from_millis(2200));
    let reports = upir_reports(&mut r);
    assert_eq!(reports.len(), 1, "{:?}", r.from_upf);
    r.answer_report(reports[0].0, Cause::REQUEST_ACCEPTED);
    // Disabled by a modification: no report, whatever the traffic.
    let seq = r.next_seq();
    let a = r.request(&Pfcp::session(
        seid,
        seq,
        pfcp::codec::message::SessionModificationRequest {
            user_plane_inactivity_timer: Some(0),
            ..sample::empty_modification()
        },
    ));
    let Message::SessionModificationResponse(x) = &a.message else {
        panic!("{a:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    let p = testkit::udp4(ue, DN_IP, 1000, 80, 50);
    r.push(Iface::N3, &testkit::ul_frame(teid, 9, &p));
    assert_eq!(r.sent(Iface::N6).len(), 1, "still forwarding");
    r.wait(Duration::from_secs(6));
    assert!(upir_reports(&mut r).is_empty(), "disabled");
    // Deletion: no URR of the SMF's, so no usage report; nothing kept.
    let seq = r.next_seq();
    let d = r.request(&sample::deletion_request(seq, seid));
    let Message::SessionDeletionResponse(x) = &d.message else {
        panic!("{d:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    assert!(x.usage_report.is_empty(), "{:?}", x.usage_report);
    r.wait(Duration::from_millis(100));
    assert_eq!(r.n4.books(), 0);
    assert_eq!(r.n4.up_stats().unsettled_reads, 0);
}

/// PFD Management then an Application ID in a PDI (TS 29.244 §6.2.2,
/// §5.4.1): the application's Flow Description PFDs become the PDR's SDF
/// filters. The sample's voice PDRs (QER with QFI 5) name application
/// "voice" instead of their SDF filter; without PFDs they are refused
/// with cause 76; new PFDs reach the live session; PFDs removed, the live
/// session's voice PDRs match nothing and it stays modifiable.
#[test]
fn application_id_with_flow_description_pfds_is_detected() {
    use pfcp::codec::grouped::{ApplicationIdsPfds, PfdContext};
    use pfcp::codec::ies::PfdContents;
    use pfcp::codec::message::{PfdManagementRequest, PfdManagementResponse};

    let mut r = Rig::new();
    r.associate();
    let by_app = |seq: u32, cp_seid: u64| {
        let mut m = sample::establishment_request(seq, &params(cp_seid));
        let Message::SessionEstablishmentRequest(e) = &mut m.message else {
            unreachable!()
        };
        // The voice PDRs, uplink and downlink (precedence 100).
        let mut n = 0;
        for p in e.create_pdr.iter_mut().filter(|p| {
            p.pdi.sdf_filters.iter().any(|f| {
                f.flow_description
                    .is_some_and(|d| d.windows(11).any(|w| w == b"10.1.0.0/16"))
            })
        }) {
            p.pdi.sdf_filters.clear();
            p.pdi.application_id = Some(b"voice");
            n += 1;
        }
        assert_eq!(n, 2, "the sample's two voice PDRs");
        m
    };
    let seq = r.next_seq();
    let a = r.request(&by_app(seq, 1));
    let (cause, ie, _) = rejection(&a);
    assert_eq!(
        (cause, ie),
        (Cause::SERVICE_NOT_SUPPORTED, Some(t::APPLICATION_ID))
    );
    assert_eq!(r.ctl.session_count(), 0);

    let provision = |r: &mut Rig, fd: &'static [u8]| {
        let seq = r.next_seq();
        let pfd = Pfcp::node(
            seq,
            PfdManagementRequest {
                application_ids_pfds: vec![ApplicationIdsPfds {
                    application_id: b"voice",
                    pfd_contexts: vec![PfdContext {
                        pfd_contents: vec![PfdContents {
                            flow_description: Some(fd),
                            ..PfdContents::default()
                        }],
                    }],
                }],
                node_id: None,
            },
        );
        let a = r.request(&pfd);
        let Message::PfdManagementResponse(PfdManagementResponse { cause, .. }) = a.message else {
            panic!("{a:?}")
        };
        assert_eq!(cause, Cause::REQUEST_ACCEPTED);
    };
    provision(
        &mut r,
        b"permit out 17 from 10.1.0.0/16 5000-5100 to assigned",
    );

    let seq = r.next_seq();
    let (seid, _, ue) = r.establish(&by_app(seq, 2));
    // The application's flow takes the voice PDR (its QER's QFI 5) ...
    let voice = testkit::udp4(Ipv4Addr::new(10, 1, 2, 3), ue, 5004, 4000, 60);
    r.push(Iface::N6, &testkit::dl_frame(&voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 5);
    // ... other traffic the default PDR (QFI 9).
    let other = testkit::udp4(DN_IP, ue, 53, 4000, 60);
    r.push(Iface::N6, &testkit::dl_frame(&other));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 9);

    // New PFDs for the application reach the live session without a
    // Session Modification: the old flow falls to the default PDR, the
    // new one takes the voice PDR.
    provision(&mut r, b"permit out 17 from 10.2.0.0/16 6000 to assigned");
    r.push(Iface::N6, &testkit::dl_frame(&voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 9);
    let new_voice = testkit::udp4(Ipv4Addr::new(10, 2, 0, 1), ue, 6000, 4000, 60);
    r.push(Iface::N6, &testkit::dl_frame(&new_voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 5);

    // Found by the soak (suite 66): the application's PFDs removed, the
    // session's voice PDRs were refused on every later install, so that
    // any Session Modification of the session (a handover's Update FAR,
    // a quota) was refused with 76. Now those PDRs match nothing (the
    // application is not detected: its flow takes the default PDR) and
    // the session stays modifiable.
    let seq = r.next_seq();
    let a = r.request(&Pfcp::node(
        seq,
        PfdManagementRequest {
            application_ids_pfds: vec![ApplicationIdsPfds {
                application_id: b"voice",
                pfd_contexts: vec![],
            }],
            node_id: None,
        },
    ));
    assert!(matches!(
        a.message,
        Message::PfdManagementResponse(PfdManagementResponse {
            cause: Cause::REQUEST_ACCEPTED,
            ..
        })
    ));
    r.push(Iface::N6, &testkit::dl_frame(&new_voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(
        n3_tunnel(&out[0]).1.psc.unwrap().qfi,
        9,
        "not detected any more"
    );
    let mut m = sample::empty_modification();
    m.update_urr = vec![sample::quota_update(1, 1_000_000)];
    let seq = r.next_seq();
    let a = r.request(&Pfcp::session(seid, seq, m));
    let Message::SessionModificationResponse(x) = &a.message else {
        panic!("{a:?}")
    };
    assert_eq!(
        x.cause,
        Cause::REQUEST_ACCEPTED,
        "a modification not naming the application"
    );
    // A new session naming it is still refused; PFDs again: detected again.
    let seq = r.next_seq();
    let a = r.request(&by_app(seq, 3));
    assert_eq!(rejection(&a).0, Cause::SERVICE_NOT_SUPPORTED);
    provision(&mut r, b"permit out 17 from 10.2.0.0/16 6000 to assigned");
    r.push(Iface::N6, &testkit::dl_frame(&new_voice));
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.psc.unwrap().qfi, 5);
}

/// PFD Management's table on /status (`pfcp.pfd_applications`): every
/// provisioned application with its PFD counts, and whether a PDR may name
/// it (flow descriptions only: yes; a URL needs payload inspection: no).
/// An application provisioned without PFD context disappears; `occupancy.pfcp`
/// counts the applications and their PFDs.
#[test]
fn telemetry_lists_pfd_applications() {
    use pfcp::codec::grouped::{ApplicationIdsPfds, PfdContext};
    use pfcp::codec::ies::PfdContents;
    use pfcp::codec::message::{PfdManagementRequest, PfdManagementResponse};
    use upf::api::PfdApplication;

    let mut r = Rig::new();
    r.associate();
    let send = |r: &mut Rig, apps: Vec<ApplicationIdsPfds<'static>>| {
        let seq = r.next_seq();
        let a = r.request(&Pfcp::node(
            seq,
            PfdManagementRequest {
                application_ids_pfds: apps,
                node_id: None,
            },
        ));
        let Message::PfdManagementResponse(PfdManagementResponse { cause, .. }) = a.message else {
            panic!("{a:?}")
        };
        assert_eq!(cause, Cause::REQUEST_ACCEPTED);
    };
    let flows = PfdContents {
        flow_description: Some(b"permit out 17 from 10.1.0.0/16 to assigned"),
        additional_flow_description: Some(b"\x00\x29permit out 6 from 10.9.0.0/16 to assigned"),
        ..PfdContents::default()
    };
    let url = PfdContents {
        url: Some(b"https://video.example/"),
        ..PfdContents::default()
    };
    send(
        &mut r,
        vec![
            ApplicationIdsPfds {
                application_id: b"voice",
                pfd_contexts: vec![PfdContext {
                    pfd_contents: vec![flows],
                }],
            },
            ApplicationIdsPfds {
                application_id: b"video",
                pfd_contexts: vec![PfdContext {
                    pfd_contents: vec![flows, url],
                }],
            },
        ],
    );
    let mut m = upf::api::TelemetryModel::default();
    r.n4.fill_telemetry(&mut m);
    let held = |r: &Rig| {
        let o = r.n4.occupancy();
        (o.pfd_applications, o.pfds)
    };
    assert_eq!(
        held(&r),
        (2, 3),
        "/status occupancy.pfcp: applications, PFDs"
    );
    let mut got = m.pfd_applications.clone();
    got.sort_by(|a, b| a.application_id.cmp(&b.application_id));
    assert_eq!(
        got,
        vec![
            PfdApplication {
                application_id: "video".into(),
                pfds: 2,
                flow_descriptions: 2,
                urls: 1,
                domain_names: 0,
                custom: 0,
                enforceable: false,
            },
            PfdApplication {
                application_id: "voice".into(),
                pfds: 1,
                flow_descriptions: 2,
                urls: 0,
                domain_names: 0,
                custom: 0,
                enforceable: true,
            },
        ]
    );
    // "video" without PFD context: its PFDs are removed.
    send(
        &mut r,
        vec![ApplicationIdsPfds {
            application_id: b"video",
            pfd_contexts: vec![],
        }],
    );
    r.n4.fill_telemetry(&mut m);
    let ids: Vec<&str> = m
        .pfd_applications
        .iter()
        .map(|a| a.application_id.as_str())
        .collect();
    assert_eq!(ids, ["voice"]);
    assert_eq!(held(&r), (1, 1));
}

/// Session Set Deletion (TS 29.244 §6.2.9): the SMF names its FQ-CSID 1;
/// the two sessions established with it leave the workers in one publish,
/// the third keeps forwarding both ways, and no usage report follows.
#[test]
fn session_set_deletion_stops_the_named_sessions_and_leaves_the_others() {
    use pfcp::codec::ies::{CsidNode, FqCsid, NodeId};
    use pfcp::codec::message::SessionSetDeletionRequest;
    let fq = |csid: u16| FqCsid {
        node: CsidNode::Ipv4(SMF),
        csids: SmallVec::from_elem(csid, 1),
        node_type: None,
    };
    let mut r = Rig::new();
    r.associate();
    let mut sessions = Vec::new();
    for (cp_seid, csid, gnb_teid) in [(1, 1, 0x201), (2, 2, 0x202), (3, 1, 0x203)] {
        let seq = r.next_seq();
        let mut m = sample::establishment_request(
            seq,
            &SessionParams {
                gnb: Some((gnb_teid, GNB_IP)),
                ..params(cp_seid)
            },
        );
        if let Message::SessionEstablishmentRequest(e) = &mut m.message {
            e.fq_csids = vec![fq(csid)];
        }
        sessions.push(r.establish(&m));
    }
    let uplink = |r: &mut Rig| {
        for (i, (_, teid, ue)) in sessions.iter().enumerate() {
            let len = 10 + i;
            r.push(
                Iface::N3,
                &testkit::ul_frame(*teid, 9, &testkit::udp4(*ue, DN_IP, 1, 2, len)),
            );
        }
        r.sent(Iface::N6)
            .iter()
            .map(|f| n6_packet(f).len())
            .collect::<Vec<_>>()
    };
    assert_eq!(uplink(&mut r), [38, 39, 40], "all three forward");
    let seq = r.next_seq();
    let a = r.request(&Pfcp::node(
        seq,
        SessionSetDeletionRequest {
            node_id: NodeId::Ipv4(SMF),
            fq_csids: vec![fq(1)],
        },
    ));
    let Message::SessionSetDeletionResponse(a) = &a.message else {
        panic!("{a:?}")
    };
    assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(a.node_id, NodeId::Ipv4(UPF_N4));
    assert_eq!(a.offending_ie, None);
    let (s1, s2, s3) = (sessions[0].0, sessions[1].0, sessions[2].0);
    assert!(
        !r.ctl.has_session(s1) && !r.ctl.has_session(s3),
        "out of the dataplane"
    );
    assert!(r.ctl.has_session(s2));
    assert_eq!(uplink(&mut r), [39], "only the session of set 2 forwards");
    // The gNB hears that the deleted sessions' TEIDs are gone.
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 2);
    assert!(
        out.iter()
            .all(|f| n3_tunnel(f).1.msg_type == gtpu::msg::ERROR_INDICATION)
    );
    // Downlink to a deleted session's UE address goes nowhere; the kept
    // session's still reaches its tunnel.
    for (_, _, ue) in &sessions {
        r.push(
            Iface::N6,
            &testkit::dl_frame(&testkit::udp4(DN_IP, *ue, 1, 2, 10)),
        );
    }
    let out = r.sent(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(n3_tunnel(&out[0]).1.teid, 0x202);
    // Telemetry: one session left; the request and response counted.
    let mut m = upf::api::TelemetryModel::default();
    r.n4.fill_telemetry(&mut m);
    assert_eq!(m.pfcp_sessions, 1);
    assert_eq!(m.associations[0].sessions, 1);
    assert_eq!(m.set_deleted_sessions, 2);
    assert_eq!(m.fq_csid_sessions, 1);
    assert_eq!(
        m.fq_csid_nodes,
        [upf::api::FqCsidNode {
            node: SMF.to_string(),
            csids: 1,
            sets: vec![(2, 1)],
        }],
        "/status: the CSID left and the session carrying it"
    );
    use upf::api::Direction as D;
    assert_eq!(
        m.pfcp_messages[&("session_set_deletion_request".to_owned(), D::Rx)],
        1
    );
    assert_eq!(
        m.pfcp_messages[&("session_set_deletion_response".to_owned(), D::Tx)],
        1
    );
    // No usage report for the deleted sessions (the response has none and
    // the SMF already dropped them), however long we wait.
    r.from_upf.clear();
    r.wait(Duration::from_secs(2));
    assert!(
        r.from_upf
            .iter()
            .all(|m| m.message.msg_type() == msg_type::HEARTBEAT_REQUEST),
        "{:?}",
        r.from_upf
    );
}

/// Soak finding: a session the node removes without asking for its usage
/// (Association Release here; Session Set Deletion and heartbeat loss
/// alike) kept its URRs "leaving" for the 10 s its book is remembered,
/// and N4 counted them as waiting for the workers: `busy()` held the
/// control loop at 1 ms ticks all that time. Once the workers gave the
/// final counts nothing waits; the book alone stays until it is forgotten,
/// and then nothing at all is left.
#[test]
fn sessions_removed_without_a_usage_query_do_not_keep_n4_busy() {
    let mut r = Rig::new();
    r.associate();
    let seq = r.next_seq();
    r.establish(&sample::establishment_request(seq, &params(1)));
    let seq = r.next_seq();
    let a = r.request(&Pfcp::node(
        seq,
        pfcp::codec::message::AssociationReleaseRequest {
            node_id: pfcp::codec::ies::NodeId::Ipv4(SMF),
        },
    ));
    assert!(matches!(a.message, Message::AssociationReleaseResponse(_)));
    for _ in 0..20 {
        r.step();
    }
    assert_eq!(r.ctl.session_count(), 0);
    let o = r.n4.occupancy();
    assert_eq!(o.urrs_leaving, 1, "the book is kept for a late query");
    assert_eq!(o.urrs_awaiting_final, 0, "the final count came");
    assert!(!r.n4.busy(), "nothing waits for the workers");
    r.wait(Duration::from_secs(11));
    let o = r.n4.occupancy();
    assert_eq!(
        (
            o.usage_books,
            o.urrs_leaving,
            o.sessions,
            o.teids_allocated,
            o.ue_ips_allocated
        ),
        (0, 0, 0, 0, 0),
        "{o:?}"
    );
    let d = r.ctl.occupancy();
    assert_eq!(
        (d.sessions, d.teid_keys, d.ue4_keys, d.deferred_frees),
        (0, 0, 0, 0)
    );
    assert_eq!(d.state_lines_used(), 0);
}
