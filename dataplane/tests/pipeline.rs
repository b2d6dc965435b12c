//! Pipeline behaviour through the worker loop on in-memory I/O: uplink,
//! downlink, N9, local handling, QoS, usage, buffering, ARP, updates.

use dataplane::control::{Batch, Control};
use dataplane::counters::{DropReason, Event};
use dataplane::iface::Iface;
use dataplane::rules::*;
use dataplane::testkit::*;
use dataplane::wire::ethernet::{self, MacAddr, ethertype};
use dataplane::wire::{arp, gtpu, icmp, ipv4, ipv6, udp};
use dataplane::worker::{MemIo, Worker};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

struct H {
    ctl: Control,
    w: Worker<MemIo>,
    now: u64,
}

impl H {
    fn new(static_neighbors: bool) -> Self {
        let (ctl, mut ports) = dataplane(1, static_neighbors);
        let w = Worker::new(ports.remove(0), MemIo::default());
        Self {
            ctl,
            w,
            now: 1_000_000_000,
        }
    }
    fn with_sessions(n: u32) -> Self {
        let mut h = Self::new(true);
        install(&mut h.ctl, n);
        h.poll();
        h
    }
    fn publish(&mut self, b: Batch) {
        self.ctl.publish(b).unwrap();
    }
    fn poll(&mut self) {
        self.w.poll(self.now);
    }
    fn send(&mut self, iface: Iface, f: &[u8]) {
        self.w.io_mut().push_rx(iface, f);
        self.poll();
    }
    fn tx(&mut self, iface: Iface) -> Vec<Vec<u8>> {
        self.w.io_mut().take_tx(iface)
    }
    fn drops(&self, r: DropReason) -> u64 {
        self.ctl.counters().dropped(r)
    }
}

/// Outer IPv4, UDP, GTP-U header and the bytes after it.
type Decoded<'a> = (
    ipv4::Packet<&'a [u8]>,
    udp::Packet<&'a [u8]>,
    gtpu::Repr,
    Vec<u8>,
);

fn parse_gtpu_frame(f: &[u8]) -> Decoded<'_> {
    let e = ethernet::Frame::new_checked(f).unwrap();
    assert_eq!(e.ethertype(), ethertype::IPV4);
    let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum(), "outer IPv4 checksum");
    assert_eq!(
        usize::from(ip.total_len()),
        f.len() - 14,
        "outer IPv4 length"
    );
    let u = udp::Packet::new_checked(&f[34..]).unwrap();
    assert_eq!(usize::from(u.len()), f.len() - 34, "UDP length");
    let g = gtpu::Repr::parse(&gtpu::Packet::new_checked(u.payload()).unwrap()).unwrap();
    let inner = u.payload()[g.header_len()..].to_vec();
    assert_eq!(usize::from(g.payload_len), inner.len(), "GTP-U length");
    (ip, u, g, inner)
}

#[test]
fn uplink_decapsulates_to_the_gateway() {
    let mut h = H::with_sessions(3);
    let s = SessionSpec::nth(1);
    let inner = udp4(s.ue, DN_IP, 1234, 53, 100);
    h.send(Iface::N3, &ul_frame(s.ul_teid, 9, &inner));
    let out = h.tx(Iface::N6);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    let e = ethernet::Frame::new_checked(&f[..]).unwrap();
    assert_eq!(
        (e.dst(), e.src(), e.ethertype()),
        (GW_MAC, N6_MAC, ethertype::IPV4)
    );
    let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.ttl(), 63, "TTL decremented");
    assert!(ip.verify_checksum());
    assert_eq!(&f[14 + 9..14 + 10], &inner[9..10]);
    assert_eq!(
        &f[14 + 12..],
        &inner[12..],
        "addresses and payload untouched"
    );
    assert_eq!(f.len(), 14 + inner.len());
    let u = h.ctl.usage(s.id, 1).unwrap();
    assert_eq!(
        (u.ul_packets, u.ul_bytes, u.dl_packets),
        (1, inner.len() as u64, 0)
    );
    let c = h.ctl.counters();
    assert_eq!((c.rx_packets[0], c.tx_packets[1]), (1, 1));
    assert_eq!(c.tx_bytes[1], f.len() as u64);
}

#[test]
fn downlink_encapsulates_with_psc_qfi_and_dscp() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.fars[1]
        .forwarding
        .as_mut()
        .unwrap()
        .transport_level_marking = Some(46);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let inner = udp4(DN_IP, spec.ue, 53, 1234, 64);
    h.send(Iface::N6, &dl_frame(&inner));
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    let e = ethernet::Frame::new_checked(&f[..]).unwrap();
    assert_eq!((e.dst(), e.src()), (GNB_MAC, N3_MAC));
    let (ip, u, g, got) = parse_gtpu_frame(f);
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (N3_IP, GNB_IP, 17));
    assert_eq!(ip.tos() >> 2, 46, "DSCP from transport level marking");
    assert_eq!(u.dst_port(), 2152);
    assert!(u.src_port() >= 0xc000, "source port from the flow hash");
    assert_eq!(g.msg_type, gtpu::msg::G_PDU);
    assert_eq!(g.teid, spec.dl_teid);
    assert_eq!(
        g.psc,
        Some(gtpu::PduSessionContainer {
            pdu_type: gtpu::PduType::Dl,
            qfi: 9,
            rqi: false,
            ppi: None
        })
    );
    let mut want = inner.clone();
    want[8] = 63;
    let mut p = ipv4::Packet::new_checked(&mut want[..]).unwrap();
    p.fill_checksum();
    assert_eq!(got, want, "inner packet with TTL decremented");
    assert_eq!(
        h.ctl.usage(spec.id, 1).unwrap().dl_bytes,
        inner.len() as u64
    );
}

#[test]
fn n9_uplink_is_reencapsulated_toward_the_peer_upf() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.fars[0].forwarding = Some(ForwardingParameters {
        destination: DestinationInterface::Core,
        outer_header_creation: Some(OuterHeaderCreation {
            teid: 0xabcd,
            peer: PEER_IP.into(),
        }),
        transport_level_marking: None,
    });
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let inner = udp4(spec.ue, DN_IP, 1, 2, 10);
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    let out = h.tx(Iface::N9);
    assert_eq!(out.len(), 1, "sent on N9");
    assert_eq!(
        ethernet::Frame::new_checked(&out[0][..]).unwrap().dst(),
        PEER_MAC
    );
    let (ip, _, g, got) = parse_gtpu_frame(&out[0]);
    assert_eq!((ip.src(), ip.dst()), (N9_IP, PEER_IP));
    assert_eq!(g.teid, 0xabcd);
    assert_eq!(
        g.psc.map(|p| (p.pdu_type, p.qfi)),
        Some((gtpu::PduType::Ul, 9))
    );
    assert_eq!(got.len(), inner.len());
    assert_eq!(got[8], 63);
}

#[test]
fn gtpu_echo_request_gets_a_response_with_recovery() {
    let mut h = H::new(true);
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::ECHO_REQUEST,
        seq: Some(0x4242),
        ..gtpu::Repr::gpdu(0, 0)
    };
    h.send(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, gh, &[]),
        ),
    );
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let (ip, u, g, ies) = parse_gtpu_frame(&out[0]);
    assert_eq!((ip.src(), ip.dst(), u.dst_port()), (N3_IP, GNB_IP, 2152));
    assert_eq!(
        (g.msg_type, g.seq, g.teid),
        (gtpu::msg::ECHO_RESPONSE, Some(0x4242), 0)
    );
    assert_eq!(gtpu::Ies::parse(&ies).unwrap().recovery, Some(0));
    assert_eq!(
        ethernet::Frame::new_checked(&out[0][..]).unwrap().dst(),
        GNB_MAC
    );
}

#[test]
fn unknown_teid_gets_rate_limited_error_indications() {
    let mut h = H::new(true);
    let inner = udp4(ue_ip(0), DN_IP, 1, 2, 10);
    for _ in 0..100 {
        h.w.io_mut().push_rx(Iface::N3, &ul_frame(0x777, 9, &inner));
    }
    for _ in 0..4 {
        h.poll();
    }
    let out = h.tx(Iface::N3);
    // 100 per second with a burst of 10: all 100 arrive at the same instant.
    assert_eq!(out.len(), 10);
    assert_eq!(h.drops(DropReason::NoPdr), 100);
    let (ip, u, g, ies) = parse_gtpu_frame(&out[0]);
    assert_eq!((ip.src(), ip.dst(), u.dst_port()), (N3_IP, GNB_IP, 2152));
    assert_eq!(g.msg_type, gtpu::msg::ERROR_INDICATION);
    assert_eq!(
        g.udp_port,
        Some(40000),
        "UDP Port extension header names the G-PDU's source port"
    );
    let ies = gtpu::Ies::parse(&ies).unwrap();
    assert_eq!(ies.teid_data_i, Some(0x777));
    assert_eq!(ies.peer_address, Some(N3_IP.into()));
    // A second later the bucket has refilled.
    h.now += 1_000_000_000;
    h.send(Iface::N3, &ul_frame(0x777, 9, &inner));
    assert_eq!(h.tx(Iface::N3).len(), 1);
}

/// TS 29.281 section 5.2.1 / 7.2.2: a G-PDU with an extension header
/// that must be comprehended and is unknown (0x81, RAN Container) is
/// dropped and answered with a Supported Extension Headers Notification
/// to the sender's GTP-U port: TEID 0, the G-PDU's sequence number, and
/// the Extension Header Type List (one-octet length) of what we take.
#[test]
fn unknown_comprehension_required_extension_gets_supported_extension_headers() {
    let mut h = H::with_sessions(1);
    let s = SessionSpec::nth(0);
    let inner = udp4(s.ue, DN_IP, 1234, 53, 40);
    let mut f = ul_frame(s.ul_teid, 9, &inner);
    // The PSC's type (the GTP-U header's next extension type, and the
    // header starts at 42) becomes RAN Container; S set, sequence 0x0102.
    assert_eq!(f[53], gtpu::ext::PDU_SESSION);
    f[53] = 0x81;
    f[42] |= gtpu::flags::S;
    f[50..52].copy_from_slice(&[1, 2]);
    h.send(Iface::N3, &f);
    assert!(h.tx(Iface::N6).is_empty(), "the G-PDU is not forwarded");
    assert_eq!(h.drops(DropReason::Unsupported), 1);
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let (ip, u, g, ies) = parse_gtpu_frame(&out[0]);
    assert_eq!((ip.src(), ip.dst(), u.dst_port()), (N3_IP, GNB_IP, 2152));
    assert_eq!(g.msg_type, gtpu::msg::SUPPORTED_EXT_HEADERS);
    assert_eq!((g.teid, g.seq), (0, Some(0x0102)));
    assert_eq!(ies, [141, 5, 0x20, 0x40, 0x82, 0x85, 0xc0]);
    // Comprehension not required (0x01): skipped, the G-PDU forwarded.
    let mut f = ul_frame(s.ul_teid, 9, &inner);
    f[53] = 0x01;
    h.send(Iface::N3, &f);
    assert_eq!(h.tx(Iface::N6).len(), 1);
    assert!(h.tx(Iface::N3).is_empty());
}

#[test]
fn received_error_indication_and_echo_response_become_events() {
    let mut h = H::new(true);
    let ies = gtpu::Ies {
        recovery: None,
        teid_data_i: Some(0x20000),
        peer_address: Some(GNB_IP.into()),
    };
    let mut p = vec![0u8; ies.wire_len()];
    ies.emit(&mut p).unwrap();
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::ERROR_INDICATION,
        seq: Some(0),
        ..gtpu::Repr::gpdu(0, 0)
    };
    h.send(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, gh, &p),
        ),
    );
    let gh = gtpu::Repr {
        msg_type: gtpu::msg::ECHO_RESPONSE,
        seq: Some(1),
        ..gtpu::Repr::gpdu(0, 0)
    };
    h.send(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, gh, &[14, 3]),
        ),
    );
    let ev = h.ctl.drain_events();
    assert!(
        ev.contains(&Event::ErrorIndication {
            teid: 0x20000,
            peer: GNB_IP.into()
        }),
        "{ev:?}"
    );
    assert!(
        ev.contains(&Event::EchoResponse {
            peer: GNB_IP.into(),
            recovery: Some(3)
        }),
        "{ev:?}"
    );
    assert_eq!(h.ctl.counters().consumed, 2);
}

#[test]
fn spoofed_uplink_source_is_dropped() {
    let mut h = H::with_sessions(2);
    let s = SessionSpec::nth(0);
    h.send(
        Iface::N3,
        &ul_frame(s.ul_teid, 9, &udp4(ue_ip(1), DN_IP, 1, 2, 10)),
    );
    assert!(h.tx(Iface::N6).is_empty());
    assert_eq!(h.drops(DropReason::SpoofedSource), 1);
    assert_eq!(h.ctl.usage(s.id, 1).unwrap().ul_packets, 0, "not counted");
}

#[test]
fn closed_gate_drops() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.qers[0].gate_ul = Gate::Closed;
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    h.send(
        Iface::N3,
        &ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1, 2, 10)),
    );
    h.send(Iface::N6, &dl_frame(&udp4(DN_IP, spec.ue, 1, 2, 10)));
    assert_eq!(h.drops(DropReason::GateClosed), 1);
    assert_eq!(h.tx(Iface::N3).len(), 1, "the downlink gate is open");
}

#[test]
fn mbr_delivers_the_rate_within_two_percent_at_twice_the_offered_load() {
    for (mbr, size) in [
        (10_000_000u64, 1400usize),
        (10_000_000, 64),
        (1_000_000, 500),
    ] {
        let mut h = H::new(true);
        let spec = SessionSpec {
            mbr_dl: Some(mbr),
            ..SessionSpec::nth(0)
        };
        h.publish(Batch {
            upserts: vec![session(&spec)],
            removals: vec![],
        });
        h.poll();
        let inner = udp4(DN_IP, spec.ue, 1, 2, size - 28);
        let bits = (inner.len() * 8) as u64;
        // Offer 2x the MBR for 10 simulated seconds.
        let pps = 2 * mbr / bits;
        let gap = 1_000_000_000 / pps;
        let start = h.now;
        let total = pps * 10;
        let mut passed = 0u64;
        for i in 0..total {
            h.now = start + i * gap;
            h.send(Iface::N6, &dl_frame(&inner));
            passed += h.tx(Iface::N3).len() as u64;
        }
        let rate = (passed * bits) as f64 / ((total * gap) as f64 / 1e9);
        let err = (rate - mbr as f64).abs() / mbr as f64;
        assert!(
            err < 0.02,
            "mbr {mbr} size {size}: delivered {rate:.0} bit/s ({:.2} %)",
            err * 100.0
        );
        assert_eq!(h.drops(DropReason::MbrExceeded), total - passed);
    }
}

#[test]
fn mbr_burst_is_bounded_by_the_burst_size() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.qers[0].mbr_dl_bps = Some(8_000_000);
    s.qers[0].burst_bytes = Some(5000);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let inner = udp4(DN_IP, spec.ue, 1, 2, 972); // 1000 bytes
    for _ in 0..20 {
        h.w.io_mut().push_rx(Iface::N6, &dl_frame(&inner));
    }
    h.poll();
    assert_eq!(
        h.tx(Iface::N3).len(),
        5,
        "a 5000-byte bucket passes 5 packets of 1000 bytes back to back"
    );
}

/// The default bucket holds 100 ms at the MBR: a worker that was off the
/// CPU for 80 ms (idle back-off, a shared core) and then gets the queued
/// packets in one go still passes everything the rate allowed meanwhile
/// (a 10 ms bucket passed an eighth of it: the MBR under-delivered).
#[test]
fn mbr_default_bucket_rides_out_an_80_ms_gap() {
    let mut h = H::new(true);
    let spec = SessionSpec {
        mbr_dl: Some(8_000_000), // 1000 bytes per ms
        ..SessionSpec::nth(0)
    };
    h.publish(Batch {
        upserts: vec![session(&spec)],
        removals: vec![],
    });
    h.poll();
    let inner = udp4(DN_IP, spec.ue, 1, 2, 972); // 1000 bytes
    let clump = |h: &mut H, n: usize| {
        for _ in 0..n {
            h.w.io_mut().push_rx(Iface::N6, &dl_frame(&inner));
        }
        // One rx burst per poll, all at the same time.
        (0..n.div_ceil(32))
            .map(|_| {
                h.poll();
                h.tx(Iface::N3).len()
            })
            .sum::<usize>()
    };
    assert_eq!(clump(&mut h, 150), 100, "a full bucket: 100 ms at the MBR");
    // 80.5 ms: the fixed-point rate rounds down by a hair.
    h.now += 80_500_000;
    assert_eq!(clump(&mut h, 150), 80, "80 ms later: 80 ms worth");
}

#[test]
fn urr_counts_both_directions_and_survives_modification() {
    let mut h = H::with_sessions(1);
    let spec = SessionSpec::nth(0);
    let ul = udp4(spec.ue, DN_IP, 1, 2, 100);
    let dl = udp4(DN_IP, spec.ue, 2, 1, 300);
    for _ in 0..5 {
        h.w.io_mut()
            .push_rx(Iface::N3, &ul_frame(spec.ul_teid, 9, &ul));
        h.w.io_mut().push_rx(Iface::N6, &dl_frame(&dl));
    }
    h.poll();
    let u = h.ctl.usage(spec.id, 1).unwrap();
    assert_eq!(
        (u.ul_packets, u.ul_bytes, u.dl_packets, u.dl_bytes),
        (5, 5 * 128, 5, 5 * 328)
    );
    assert_eq!(u.total_bytes(), 5 * 456);
    assert_eq!(u.first_tsc, Some(h.now));
    // Modify the session (new DL TEID): the URR keeps counting from where it was.
    let mut s = session(&spec);
    s.fars[1]
        .forwarding
        .as_mut()
        .unwrap()
        .outer_header_creation
        .as_mut()
        .unwrap()
        .teid = 0x999;
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.send(Iface::N6, &dl_frame(&dl));
    assert_eq!(h.ctl.usage(spec.id, 1).unwrap().dl_packets, 6);
    let (_, _, g, _) = parse_gtpu_frame(h.tx(Iface::N3).last().unwrap());
    assert_eq!(g.teid, 0x999);
    // Removal: the final usage comes out of reclaim once the worker moved on.
    h.publish(Batch {
        upserts: vec![],
        removals: vec![spec.id],
    });
    assert!(
        h.ctl.reclaim().is_empty(),
        "the worker has not seen the removal yet"
    );
    h.poll();
    let fin = h.ctl.reclaim();
    assert_eq!(fin.len(), 1);
    assert_eq!(
        (fin[0].session, fin[0].urr_id, fin[0].usage.dl_packets),
        (spec.id, 1, 6)
    );
    h.send(Iface::N6, &dl_frame(&dl));
    assert_eq!(h.drops(DropReason::NoPdr), 1);
}

/// Soak finding: every time a modification broke a QER/URR pairing, the
/// old QER line joined the URR's "former" lines for as long as the URR
/// lived, so a long-lived session whose PDRs gained and lost a second URR
/// again and again (a dedicated flow's URR added and removed) held one
/// more state line per round. Once the workers have left an old line its
/// counts are folded into the URR's usage and the line is freed: the
/// lines in use stay flat and no count is lost.
#[test]
fn repeated_pairing_changes_hold_no_more_lines() {
    let mut h = H::with_sessions(1);
    let spec = SessionSpec::nth(0);
    let ul = udp4(spec.ue, DN_IP, 1, 2, 100);
    let split = || {
        let mut s = session(&spec);
        s.urrs.push(Urr {
            id: 2,
            ..Urr::default()
        });
        s.pdrs[0].urr_ids.push(2);
        s
    };
    let mut used = Vec::new();
    for round in 0..50u64 {
        for s in [split(), session(&spec)] {
            h.publish(Batch {
                upserts: vec![s],
                removals: vec![],
            });
            h.now += 1000;
            h.w.io_mut()
                .push_rx(Iface::N3, &ul_frame(spec.ul_teid, 9, &ul));
            h.poll();
            h.ctl.reclaim();
        }
        used.push(h.ctl.occupancy().state_lines_used());
        let u = h.ctl.usage(spec.id, 1).unwrap();
        assert_eq!(
            u.ul_packets,
            2 * (round + 1),
            "no count lost in round {round}"
        );
    }
    assert_eq!(
        used.first(),
        used.last(),
        "lines in use per round: {used:?}"
    );
    h.publish(Batch {
        upserts: vec![],
        removals: vec![spec.id],
    });
    h.poll();
    let fin = h.ctl.reclaim();
    let u1 = fin.iter().find(|f| f.urr_id == 1).unwrap();
    assert_eq!(u1.usage.ul_packets, 100, "the final usage has every packet");
    let o = h.ctl.occupancy();
    assert_eq!(
        (o.state_lines_used(), o.folded_urrs, o.deferred_frees),
        (0, 0, 0)
    );
}

/// A URR paired with its QER (same PDRs, nothing else named) counts in the
/// QER's state line; when a modification breaks or restores the pairing,
/// the URR's usage goes on from where it was, and its final usage includes
/// every line that counted for it.
#[test]
fn paired_urr_usage_survives_pairing_changes() {
    let mut h = H::with_sessions(1);
    let spec = SessionSpec::nth(0);
    let ul = udp4(spec.ue, DN_IP, 1, 2, 100);
    let dl = udp4(DN_IP, spec.ue, 2, 1, 300);
    let traffic = |h: &mut H, n: u64| {
        h.now += 1000;
        for _ in 0..n {
            h.w.io_mut()
                .push_rx(Iface::N3, &ul_frame(spec.ul_teid, 9, &ul));
            h.w.io_mut().push_rx(Iface::N6, &dl_frame(&dl));
        }
        h.poll();
    };
    let paired = |h: &H| {
        let snap = h.ctl.snapshot();
        let ul = snap.teid.get(spec.ul_teid).unwrap().pdrs()[0].urr_in_qer;
        let dl = snap.ue4.get(u32::from(spec.ue)).unwrap().pdrs()[0].urr_in_qer;
        (ul, dl)
    };
    assert_eq!(paired(&h), (true, true));
    let start = h.now + 1000;
    traffic(&mut h, 3);
    let u = h.ctl.usage(spec.id, 1).unwrap();
    assert_eq!((u.ul_packets, u.dl_bytes), (3, 3 * 328));
    assert_eq!((u.first_tsc, u.last_tsc), (Some(start), Some(h.now)));
    // URR 2 on the uplink PDR too: no longer a pair.
    let mut split = session(&spec);
    split.urrs.push(Urr {
        id: 2,
        ..Urr::default()
    });
    split.pdrs[0].urr_ids.push(2);
    h.publish(Batch {
        upserts: vec![split],
        removals: vec![],
    });
    assert_eq!(paired(&h), (false, false));
    traffic(&mut h, 2);
    let u = h.ctl.usage(spec.id, 1).unwrap();
    assert_eq!((u.ul_packets, u.dl_packets), (5, 5));
    assert_eq!((u.first_tsc, u.last_tsc), (Some(start), Some(h.now)));
    assert_eq!(h.ctl.usage(spec.id, 2).unwrap().ul_packets, 2);
    // Back to the short form: paired again, with a new line.
    h.publish(Batch {
        upserts: vec![session(&spec)],
        removals: vec![],
    });
    assert_eq!(paired(&h), (true, true));
    traffic(&mut h, 4);
    let u = h.ctl.usage(spec.id, 1).unwrap();
    assert_eq!(
        (u.ul_packets, u.ul_bytes, u.dl_packets, u.dl_bytes),
        (9, 9 * 128, 9, 9 * 328)
    );
    assert_eq!((u.first_tsc, u.last_tsc), (Some(start), Some(h.now)));
    h.poll();
    let fin = h.ctl.reclaim();
    assert_eq!(fin.len(), 1, "URR 2 is gone");
    assert_eq!((fin[0].urr_id, fin[0].usage.ul_packets), (2, 2));
    h.publish(Batch {
        upserts: vec![],
        removals: vec![spec.id],
    });
    h.poll();
    let fin = h.ctl.reclaim();
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].usage.ul_packets + fin[0].usage.dl_packets, 18);
    // Every line was zeroed and handed back: a new session starts from zero.
    install(&mut h.ctl, 1);
    h.poll();
    traffic(&mut h, 1);
    let u = h.ctl.usage(spec.id, 1).unwrap();
    assert_eq!((u.ul_packets, u.dl_packets), (1, 1));
    assert_eq!(u.first_tsc, Some(h.now));
}

#[test]
fn urr_thresholds_and_quota_are_reported() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.urrs[0].volume_threshold = Some(Volume {
        total: Some(1000),
        ..Volume::default()
    });
    s.urrs[0].volume_quota = Some(Volume {
        dl: Some(2500),
        ..Volume::default()
    });
    s.urrs[0].time_threshold_s = Some(60);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    assert!(h.ctl.check_urrs(0).is_empty());
    let dl = udp4(DN_IP, spec.ue, 2, 1, 472); // 500 bytes
    for _ in 0..2 {
        h.send(Iface::N6, &dl_frame(&dl));
    }
    let r = h.ctl.check_urrs(1);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].trigger, r[0].since_last.dl_bytes),
        (dash::VolumeThreshold, 1000)
    );
    for _ in 0..3 {
        h.send(Iface::N6, &dl_frame(&dl));
    }
    let r = h.ctl.check_urrs(2);
    assert_eq!(
        (r[0].trigger, r[0].total.dl_bytes),
        (dash::VolumeQuota, 2500)
    );
    assert!(h.ctl.check_urrs(3).is_empty());
    let r = h.ctl.check_urrs(70);
    assert_eq!(r[0].trigger, dash::TimeThreshold);
}

use dataplane::control::ReportTrigger as dash;

#[test]
fn buffered_downlink_is_released_when_the_far_forwards() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.fars[1].apply_action = ApplyAction {
        buff: true,
        nocp: true,
        ..ApplyAction::default()
    };
    h.publish(Batch {
        upserts: vec![s.clone()],
        removals: vec![],
    });
    h.poll();
    let dl = udp4(DN_IP, spec.ue, 2, 1, 50);
    for _ in 0..3 {
        h.send(Iface::N6, &dl_frame(&dl));
    }
    assert!(h.tx(Iface::N3).is_empty());
    assert_eq!(h.w.buffered_len(), 3);
    let ev = h.ctl.drain_events();
    assert_eq!(
        ev,
        vec![Event::DownlinkData {
            session: spec.id,
            pdr_id: 2,
            qfi: Some(9)
        }],
        "one report, not one per packet"
    );
    s.fars[1].apply_action = ApplyAction {
        forw: true,
        ..ApplyAction::default()
    };
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 3, "all released");
    assert_eq!(h.w.buffered_len(), 0);
    assert_eq!(h.ctl.usage(spec.id, 1).unwrap().dl_packets, 3);
}

#[test]
fn next_hop_is_resolved_by_arp() {
    let mut h = H::new(false);
    install(&mut h.ctl, 1);
    h.poll();
    let spec = SessionSpec::nth(0);
    let inner = udp4(spec.ue, DN_IP, 1, 2, 10);
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    assert_eq!(h.w.pending_len(), 2);
    let req = h.tx(Iface::N6);
    assert_eq!(req.len(), 1, "one ARP request, rate limited");
    let e = ethernet::Frame::new_checked(&req[0][..]).unwrap();
    assert_eq!(
        (e.dst(), e.src(), e.ethertype()),
        (MacAddr::BROADCAST, N6_MAC, ethertype::ARP)
    );
    let a = arp::Repr::parse(&arp::Packet::new_checked(&req[0][14..]).unwrap()).unwrap();
    assert_eq!(
        (a.op, a.spa, a.tpa),
        (arp::Operation::Request, N6_IP, GW_IP)
    );
    // The gateway answers.
    let mut p = [0u8; 28];
    arp::Repr {
        op: arp::Operation::Reply,
        sha: GW_MAC,
        spa: GW_IP,
        tha: N6_MAC,
        tpa: N6_IP,
    }
    .emit(&mut p)
    .unwrap();
    h.send(Iface::N6, &frame(N6_MAC, GW_MAC, ethertype::ARP, &p));
    let out = h.tx(Iface::N6);
    assert_eq!(out.len(), 2);
    for f in &out {
        assert_eq!(ethernet::Frame::new_checked(&f[..]).unwrap().dst(), GW_MAC);
    }
    assert!(h.ctl.drain_events().contains(&Event::NeighborLearned {
        iface: Iface::N6,
        ip: GW_IP.into(),
        mac: GW_MAC
    }));
    // Unanswered next hops are dropped after a second.
    let spec2 = SessionSpec::nth(0);
    let _ = spec2;
    h.ctl.set_net({
        let mut n = net(false);
        n.ifaces[1].as_mut().unwrap().gateway4 = Some(Ipv4Addr::new(10, 200, 0, 253));
        n
    });
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    assert_eq!(h.w.pending_len(), 1);
    h.now += 2_000_000_000;
    h.poll();
    assert_eq!(h.w.pending_len(), 0);
    assert_eq!(h.drops(DropReason::NextHopUnresolved), 1);
}

#[test]
fn arp_and_ping_for_own_addresses_are_answered() {
    let mut h = H::new(true);
    let mut p = [0u8; 28];
    let who = MacAddr([2, 9, 9, 9, 9, 9]);
    arp::Repr {
        op: arp::Operation::Request,
        sha: who,
        spa: Ipv4Addr::new(10, 200, 0, 7),
        tha: MacAddr::ZERO,
        tpa: N6_IP,
    }
    .emit(&mut p)
    .unwrap();
    h.send(
        Iface::N6,
        &frame(MacAddr::BROADCAST, who, ethertype::ARP, &p),
    );
    let out = h.tx(Iface::N6);
    assert_eq!(out.len(), 1);
    let a = arp::Repr::parse(&arp::Packet::new_checked(&out[0][14..]).unwrap()).unwrap();
    assert_eq!(
        (a.op, a.sha, a.spa, a.tha),
        (arp::Operation::Reply, N6_MAC, N6_IP, who)
    );
    // A request for someone else is not answered.
    arp::Repr {
        op: arp::Operation::Request,
        sha: who,
        spa: Ipv4Addr::new(10, 200, 0, 7),
        tha: MacAddr::ZERO,
        tpa: Ipv4Addr::new(10, 200, 0, 9),
    }
    .emit(&mut p)
    .unwrap();
    h.send(
        Iface::N6,
        &frame(MacAddr::BROADCAST, who, ethertype::ARP, &p),
    );
    assert!(h.tx(Iface::N6).is_empty());
    // Ping N3.
    let mut m = vec![0u8; 28 + 8];
    ipv4::Repr {
        src: GNB_IP,
        dst: N3_IP,
        protocol: 1,
        ttl: 64,
        tos: 0,
        ident: 5,
        dont_frag: false,
        payload_len: 16,
    }
    .emit(&mut m)
    .unwrap();
    icmp::EchoRepr {
        v6: false,
        request: true,
        ident: 7,
        seq: 3,
    }
    .emit(&mut m[20..])
    .unwrap();
    icmp::Packet::new_checked(&mut m[20..])
        .unwrap()
        .fill_checksum_v4();
    h.send(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::IPV4, &m));
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let ip = ipv4::Packet::new_checked(&out[0][14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src(), ip.dst()), (N3_IP, GNB_IP));
    let ic = icmp::Packet::new_checked(ip.payload()).unwrap();
    assert!(ic.verify_checksum_v4());
    assert_eq!(
        icmp::EchoRepr::parse(&ic, false).unwrap(),
        icmp::EchoRepr {
            v6: false,
            request: false,
            ident: 7,
            seq: 3
        }
    );
}

#[test]
fn ttl_expiry_and_malformed_frames_are_counted() {
    let mut h = H::with_sessions(1);
    let spec = SessionSpec::nth(0);
    let mut inner = udp4(spec.ue, DN_IP, 1, 2, 10);
    inner[8] = 1;
    let mut p = ipv4::Packet::new_checked(&mut inner[..]).unwrap();
    p.fill_checksum();
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    assert_eq!(h.drops(DropReason::TtlExceeded), 1);
    let good = ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1, 2, 10));
    for cut in [5, 20, 40, 45, 50] {
        h.send(Iface::N3, &good[..cut]);
    }
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    h.send(Iface::N3, &bad_csum);
    assert_eq!(h.drops(DropReason::Malformed), 6);
    // A G-PDU with an extension header that requires comprehension.
    let mut ext = good.clone();
    ext[42 + 11] = 0xa1;
    h.send(Iface::N3, &ext);
    assert_eq!(h.drops(DropReason::Unsupported), 1);
    let c = h.ctl.counters();
    assert_eq!(c.rx_packets[0], 8);
}

#[test]
fn ipv6_ue_traffic_both_ways() {
    let mut h = H::new(true);
    let ue6: Ipv6Addr = "2001:db8:45::1".parse().unwrap();
    let dn6: Ipv6Addr = "2001:4860::8888".parse().unwrap();
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    for p in &mut s.pdrs {
        p.pdi.ue_ip = Some(UeIp {
            ipv4: None,
            ipv6: Some(ue6),
        });
    }
    let mut n = net(true);
    n.ifaces[1].as_mut().unwrap().ipv6 = Some(("2001:db8:6::1".parse().unwrap(), 64));
    n.ifaces[1].as_mut().unwrap().gateway6 = Some("2001:db8:6::fe".parse().unwrap());
    n.ifaces[1]
        .as_mut()
        .unwrap()
        .neighbors
        .push(("2001:db8:6::fe".parse().unwrap(), GW_MAC));
    h.ctl.set_net(n);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let ul = udp6(ue6, dn6, 1, 2, 20);
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &ul));
    let out = h.tx(Iface::N6);
    assert_eq!(out.len(), 1);
    assert_eq!(
        ethernet::Frame::new_checked(&out[0][..])
            .unwrap()
            .ethertype(),
        ethertype::IPV6
    );
    assert_eq!(
        ipv6::Packet::new_checked(&out[0][14..])
            .unwrap()
            .hop_limit(),
        63
    );
    let dl = udp6(dn6, "2001:db8:45::99".parse().unwrap(), 2, 1, 20);
    h.send(Iface::N6, &dl_frame(&dl));
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1, "any address in the UE's /64");
    let (_, _, g, inner) = parse_gtpu_frame(&out[0]);
    assert_eq!(g.teid, spec.dl_teid);
    assert_eq!(inner.len(), dl.len());
    // Spoofed IPv6 source.
    h.send(
        Iface::N3,
        &ul_frame(spec.ul_teid, 9, &udp6(dn6, dn6, 1, 2, 20)),
    );
    assert_eq!(h.drops(DropReason::SpoofedSource), 1);
}

#[test]
fn sdf_filters_pick_the_pdr_by_precedence() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    // A second DL PDR for DNS from 8.8.8.8, with precedence 10, to another TEID and QFI.
    let mut p = s.pdrs[1].clone();
    p.id = 3;
    p.precedence = 10;
    p.pdi.sdf_filters = vec!["permit out 17 from 8.8.8.8 53 to assigned".parse().unwrap()];
    p.far_id = 3;
    p.qer_ids = vec![2];
    s.pdrs.push(p);
    let mut f = s.fars[1];
    f.id = 3;
    f.forwarding
        .as_mut()
        .unwrap()
        .outer_header_creation
        .as_mut()
        .unwrap()
        .teid = 0x333;
    s.fars.push(f);
    s.qers.push(Qer {
        id: 2,
        qfi: Some(5),
        ..Qer::default()
    });
    // And an UL PDR with a filter on the remote port: matched reversed.
    let mut u = s.pdrs[0].clone();
    u.id = 4;
    u.precedence = 5;
    u.pdi.sdf_filters = vec!["permit out 17 from any 9999 to assigned".parse().unwrap()];
    u.far_id = 4;
    s.pdrs.push(u);
    s.fars.push(Far {
        id: 4,
        apply_action: ApplyAction {
            drop: true,
            ..ApplyAction::default()
        },
        forwarding: None,
    });
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    h.send(Iface::N6, &dl_frame(&udp4(DN_IP, spec.ue, 53, 1000, 10)));
    h.send(Iface::N6, &dl_frame(&udp4(DN_IP, spec.ue, 80, 1000, 10)));
    h.send(
        Iface::N6,
        &dl_frame(&udp4(Ipv4Addr::new(1, 1, 1, 1), spec.ue, 53, 1000, 10)),
    );
    let out = h.tx(Iface::N3);
    let got: Vec<(u32, u8)> = out
        .iter()
        .map(|f| parse_gtpu_frame(f).2)
        .map(|g| (g.teid, g.psc.unwrap().qfi))
        .collect();
    assert_eq!(got, vec![(0x333, 5), (spec.dl_teid, 9), (spec.dl_teid, 9)]);
    h.send(
        Iface::N3,
        &ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1000, 9999, 10)),
    );
    h.send(
        Iface::N3,
        &ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1000, 9998, 10)),
    );
    assert_eq!(h.drops(DropReason::RuleDrop), 1);
    assert_eq!(h.tx(Iface::N6).len(), 1);
}

#[test]
fn uplink_qfi_must_match_when_the_pdr_names_one() {
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.pdrs[0].pdi.qfi = Some(9);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let inner = udp4(spec.ue, DN_IP, 1, 2, 10);
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 8, &inner));
    h.send(Iface::N3, &ul_frame(spec.ul_teid, 9, &inner));
    assert_eq!(h.drops(DropReason::NoPdr), 1);
    assert_eq!(h.tx(Iface::N6).len(), 1);
}

#[test]
fn publish_rejects_conflicts_and_changes_nothing() {
    let mut h = H::with_sessions(2);
    let g = h.ctl.generation();
    let mut s = session(&SessionSpec::nth(5));
    s.pdrs[0].pdi.local_fteid.as_mut().unwrap().teid = SessionSpec::nth(0).ul_teid;
    assert_eq!(
        h.ctl.publish(Batch {
            upserts: vec![s],
            removals: vec![]
        }),
        Err(RuleError::TeidInUse {
            session: 6,
            teid: 0x1000,
            owner: 1
        })
    );
    let mut s = session(&SessionSpec::nth(5));
    s.pdrs[1].pdi.ue_ip = Some(UeIp {
        ipv4: Some(ue_ip(1)),
        ipv6: None,
    });
    assert!(matches!(
        h.ctl.publish(Batch {
            upserts: vec![s],
            removals: vec![]
        }),
        Err(RuleError::UeIpInUse { owner: 2, .. })
    ));
    assert_eq!(
        h.ctl.publish(Batch {
            upserts: vec![],
            removals: vec![77]
        }),
        Err(RuleError::UnknownSession { session: 77 })
    );
    let mut bad = session(&SessionSpec::nth(6));
    bad.fars[0].apply_action.dupl = true;
    let ok = session(&SessionSpec::nth(7));
    assert!(
        h.ctl
            .publish(Batch {
                upserts: vec![ok, bad],
                removals: vec![]
            })
            .is_err()
    );
    assert_eq!(h.ctl.generation(), g, "nothing published");
    assert_eq!(h.ctl.session_count(), 2);
    // Moving a TEID from one session to another in one batch is fine.
    let mut moved = session(&SessionSpec::nth(5));
    moved.pdrs[0].pdi.local_fteid.as_mut().unwrap().teid = 0x1000;
    h.ctl
        .publish(Batch {
            upserts: vec![moved],
            removals: vec![1],
        })
        .unwrap();
    assert_eq!(h.ctl.session_count(), 2);
}

#[test]
fn injected_end_marker_goes_out_with_resolved_mac() {
    let mut h = H::new(true);
    let pkt = dataplane::pipeline::end_marker(IpAddr::V4(N3_IP), IpAddr::V4(GNB_IP), 0x20000);
    h.ctl.inject(Iface::N3, &pkt).unwrap();
    h.poll();
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(
        ethernet::Frame::new_checked(&out[0][..]).unwrap().dst(),
        GNB_MAC
    );
    let (_, _, g, _) = parse_gtpu_frame(&out[0]);
    assert_eq!((g.msg_type, g.teid), (gtpu::msg::END_MARKER, 0x20000));
}

#[test]
fn tx_full_is_counted() {
    let mut h = H::with_sessions(1);
    h.w.io_mut().tx_limit = Some(3);
    let spec = SessionSpec::nth(0);
    for _ in 0..10 {
        h.w.io_mut().push_rx(
            Iface::N3,
            &ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1, 2, 10)),
        );
    }
    h.poll();
    assert_eq!(h.drops(DropReason::TxFull), 7);
    assert_eq!(h.ctl.counters().tx_packets[1], 3);
}

#[test]
fn retired_snapshots_are_freed_on_the_control_thread() {
    let mut h = H::with_sessions(10);
    for i in 0..5 {
        install(&mut h.ctl, 10 + i);
    }
    assert!(h.ctl.retired_count() >= 5);
    h.ctl.reclaim();
    assert!(
        h.ctl.retired_count() >= 5,
        "the worker still holds an old generation"
    );
    h.poll();
    assert_eq!(h.w.generation(), h.ctl.generation());
    h.ctl.reclaim();
    assert_eq!(h.ctl.retired_count(), 0);
}

#[test]
fn a_worker_that_never_started_does_not_hold_back_reclamation() {
    let (mut ctl, mut ports) = dataplane(2, true);
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    // ports[0] (worker 1) is never turned into a worker.
    for i in 1..=5 {
        install(&mut ctl, i);
    }
    w.poll(1);
    ctl.reclaim();
    assert_eq!(ctl.retired_count(), 0, "worker 0 runs the latest version");
    // Once it starts, it takes the current version and reclamation waits for it.
    let mut w1 = Worker::new(ports.remove(0), MemIo::default());
    assert_eq!(w1.generation(), ctl.generation());
    install(&mut ctl, 6);
    w.poll(2);
    ctl.reclaim();
    assert_eq!(
        ctl.retired_count(),
        1,
        "worker 1 still runs the previous one"
    );
    w1.poll(2);
    ctl.reclaim();
    assert_eq!(ctl.retired_count(), 0);
}

#[test]
fn vlan_tagged_frames_are_accepted_and_the_configured_tag_is_sent() {
    let mut h = H::new(true);
    let mut n = net(true);
    n.ifaces[1].as_mut().unwrap().vlan = Some(200);
    h.ctl.set_net(n);
    install(&mut h.ctl, 1);
    h.poll();
    let spec = SessionSpec::nth(0);
    let mut f = ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1, 2, 10));
    // Insert an 802.1Q tag (VLAN 100) on the received frame.
    f.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    h.send(Iface::N3, &f);
    let out = h.tx(Iface::N6);
    assert_eq!(out.len(), 1);
    let e = ethernet::Frame::new_checked(&out[0][..]).unwrap();
    assert_eq!(
        (e.vlan(), e.ethertype(), e.dst()),
        (Some(200), ethertype::IPV4, GW_MAC)
    );
    assert_eq!(ipv4::Packet::new_checked(&out[0][18..]).unwrap().ttl(), 63);
}

#[test]
fn ipv6_transport_on_n3_both_ways() {
    let mut h = H::new(true);
    let upf6: Ipv6Addr = "2001:db8:3::1".parse().unwrap();
    let gnb6: Ipv6Addr = "2001:db8:3::2".parse().unwrap();
    let mut n = net(true);
    let n3 = n.ifaces[0].as_mut().unwrap();
    n3.ipv6 = Some((upf6, 64));
    n3.neighbors.push((gnb6.into(), GNB_MAC));
    h.ctl.set_net(n);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.fars[1]
        .forwarding
        .as_mut()
        .unwrap()
        .outer_header_creation
        .as_mut()
        .unwrap()
        .peer = gnb6.into();
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    // Uplink G-PDU over IPv6 (UDP checksum filled, as IPv6 requires).
    let inner = udp4(spec.ue, DN_IP, 1, 2, 30);
    let gh = gtpu::Repr {
        psc: Some(gtpu::PduSessionContainer {
            pdu_type: gtpu::PduType::Ul,
            qfi: 9,
            rqi: false,
            ppi: None,
        }),
        ..gtpu::Repr::gpdu(spec.ul_teid, 0)
    };
    let gl = gh.header_len() + inner.len();
    let mut p = vec![0u8; 48 + gl];
    ipv6::Repr {
        src: gnb6,
        dst: upf6,
        next_header: 17,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: u16::try_from(8 + gl).unwrap(),
    }
    .emit(&mut p)
    .unwrap();
    udp::Repr {
        src_port: 2152,
        dst_port: 2152,
        payload_len: u16::try_from(gl).unwrap(),
    }
    .emit(&mut p[40..])
    .unwrap();
    let gh = gtpu::Repr {
        payload_len: u16::try_from(inner.len()).unwrap(),
        ..gh
    };
    gh.emit(&mut p[48..]).unwrap();
    p[48 + gh.header_len()..].copy_from_slice(&inner);
    udp::Packet::new_checked(&mut p[40..])
        .unwrap()
        .fill_checksum(gnb6.into(), upf6.into());
    h.send(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::IPV6, &p));
    assert_eq!(h.tx(Iface::N6).len(), 1, "decapsulated from IPv6 transport");
    // Downlink toward an IPv6 gNB address.
    h.send(Iface::N6, &dl_frame(&udp4(DN_IP, spec.ue, 2, 1, 30)));
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(
        ethernet::Frame::new_checked(&f[..]).unwrap().ethertype(),
        ethertype::IPV6
    );
    let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.next_header()), (upf6, gnb6, 17));
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(
        u.verify_checksum(upf6.into(), gnb6.into()),
        "IPv6 UDP checksum"
    );
    let g = gtpu::Repr::parse(&gtpu::Packet::new_checked(u.payload()).unwrap()).unwrap();
    assert_eq!(g.teid, spec.dl_teid);
    // ICMPv6 echo to the N3 IPv6 address.
    let mut m = vec![0u8; 48];
    ipv6::Repr {
        src: gnb6,
        dst: upf6,
        next_header: 58,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: 8,
    }
    .emit(&mut m)
    .unwrap();
    icmp::EchoRepr {
        v6: true,
        request: true,
        ident: 1,
        seq: 2,
    }
    .emit(&mut m[40..])
    .unwrap();
    icmp::Packet::new_checked(&mut m[40..])
        .unwrap()
        .fill_checksum_v6(&gnb6, &upf6);
    h.send(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::IPV6, &m));
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let ip = ipv6::Packet::new_checked(&out[0][14..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (upf6, gnb6));
    let ic = icmp::Packet::new_checked(ip.payload()).unwrap();
    assert!(ic.verify_checksum_v6(&upf6, &gnb6));
    assert_eq!(
        icmp::EchoRepr::parse(&ic, true).unwrap(),
        icmp::EchoRepr {
            v6: true,
            request: false,
            ident: 1,
            seq: 2
        }
    );
}

#[test]
fn end_marker_is_relayed_on_the_outgoing_tunnel() {
    // An I-UPF: DL arrives from the PSA on N9 (TEID 0x9000) and goes to the gNB.
    let mut h = H::new(true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.pdrs[1].pdi.local_fteid = Some(Fteid {
        teid: 0x9000,
        ipv4: Some(N9_IP),
        ipv6: None,
    });
    s.pdrs[1].outer_header_removal = Some(OuterHeaderRemoval::GtpuUdpIpv4);
    h.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    });
    h.poll();
    let em = gtpu::Repr {
        msg_type: gtpu::msg::END_MARKER,
        ..gtpu::Repr::gpdu(0x9000, 0)
    };
    h.send(
        Iface::N9,
        &frame(
            N9_MAC,
            PEER_MAC,
            ethertype::IPV4,
            &gtpu4(PEER_IP, N9_IP, 2152, em, &[]),
        ),
    );
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let (ip, _, g, rest) = parse_gtpu_frame(&out[0]);
    assert_eq!((ip.src(), ip.dst()), (N3_IP, GNB_IP));
    assert_eq!((g.msg_type, g.teid), (gtpu::msg::END_MARKER, spec.dl_teid));
    assert!(rest.is_empty());
    // G-PDUs on the same tunnel are re-encapsulated toward the gNB.
    let inner = udp4(DN_IP, spec.ue, 1, 2, 10);
    let gh = gtpu::Repr::gpdu(0x9000, 0);
    h.send(
        Iface::N9,
        &frame(
            N9_MAC,
            PEER_MAC,
            ethertype::IPV4,
            &gtpu4(PEER_IP, N9_IP, 2152, gh, &inner),
        ),
    );
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    assert_eq!(parse_gtpu_frame(&out[0]).2.teid, spec.dl_teid);
    // An End Marker on an uplink tunnel (no outer header creation) just ends.
    let em = gtpu::Repr {
        msg_type: gtpu::msg::END_MARKER,
        ..gtpu::Repr::gpdu(spec.ul_teid, 0)
    };
    h.send(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, em, &[]),
        ),
    );
    assert!(h.tx(Iface::N6).is_empty());
    assert_eq!(h.ctl.counters().consumed, 1);
}

#[test]
fn config_short_form_carries_traffic_both_ways() {
    let mut h = H::new(true);
    let ue = ue_ip(3);
    let s = ShortForm {
        id: 42,
        ue_ip: ue.into(),
        ul_teid: 0x100,
        n3_addr: Some(N3_IP.into()),
        gnb: GNB_IP.into(),
        dl_teid: 0x200,
        qfi: Some(9),
        mbr_ul_bps: Some(50_000_000),
        mbr_dl_bps: Some(100_000_000),
    };
    h.publish(Batch {
        upserts: vec![s.to_session()],
        removals: vec![],
    });
    h.poll();
    h.send(Iface::N3, &ul_frame(0x100, 9, &udp4(ue, DN_IP, 1, 2, 10)));
    h.send(Iface::N6, &dl_frame(&udp4(DN_IP, ue, 2, 1, 10)));
    assert_eq!(h.tx(Iface::N6).len(), 1);
    let out = h.tx(Iface::N3);
    assert_eq!(out.len(), 1);
    let (_, _, g, _) = parse_gtpu_frame(&out[0]);
    assert_eq!((g.teid, g.psc.map(|p| p.qfi)), (0x200, Some(9)));
    let u = h.ctl.usage(42, 1).unwrap();
    assert_eq!((u.ul_packets, u.dl_packets), (1, 1));
}

/// N4 served through the DPDK port (`NetConfig::n4`): a datagram to
/// exactly the N4 address and port on the interface that owns it becomes
/// an `N4Datagram` event with the sender and the UDP payload; UDP to
/// another port or address, or with a bad checksum, does not, and GTP-U to
/// the same address still works.
#[test]
fn udp_to_the_n4_address_becomes_an_n4_datagram_event() {
    use std::net::SocketAddr;
    let mut h = H::with_sessions(1);
    let n4 = SocketAddr::new(N3_IP.into(), 8805);
    let mut net = h.ctl.net().clone();
    net.n4 = Some(n4);
    h.ctl.set_net(net);
    h.poll();
    let consumed0 = h.ctl.counters().consumed;
    // A PFCP Heartbeat Request (TS 29.244 §7.4.4.1): header, Recovery Time Stamp.
    let pfcp = [
        0x20, 1, 0, 12, 0, 0, 7, 0, 0, 96, 0, 4, 0xe9, 0x1e, 0x3c, 0x40,
    ];
    let mut p = udp4(GNB_IP, N3_IP, 40000, 8805, pfcp.len());
    p[28..].copy_from_slice(&pfcp);
    let mut u = udp::Packet::new_checked(&mut p[20..]).unwrap();
    u.fill_checksum(GNB_IP.into(), N3_IP.into());
    h.send(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::IPV4, &p));
    let ev = h.ctl.drain_events();
    assert_eq!(
        ev,
        vec![Event::N4Datagram {
            iface: Iface::N3,
            src: SocketAddr::new(GNB_IP.into(), 40000),
            data: pfcp.to_vec().into_boxed_slice(),
        }]
    );
    assert_eq!(h.ctl.counters().consumed, consumed0 + 1);
    assert!(h.tx(Iface::N3).is_empty());

    // Another port, another address (N6's own, to 8805), a bad checksum:
    // no event.
    let unsupported0 = h.drops(DropReason::Unsupported);
    let other_port = udp4(GNB_IP, N3_IP, 40000, 8806, 16);
    h.send(
        Iface::N3,
        &frame(N3_MAC, GNB_MAC, ethertype::IPV4, &other_port),
    );
    assert_eq!(h.drops(DropReason::Unsupported), unsupported0 + 1);
    let other_addr = udp4(GW_IP, N6_IP, 40000, 8805, 16);
    h.send(
        Iface::N6,
        &frame(N6_MAC, GW_MAC, ethertype::IPV4, &other_addr),
    );
    let malformed0 = h.drops(DropReason::Malformed);
    let mut bad = p.clone();
    *bad.last_mut().unwrap() ^= 1;
    h.send(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::IPV4, &bad));
    assert_eq!(h.drops(DropReason::Malformed), malformed0 + 1);
    let ev = h.ctl.drain_events();
    assert!(
        !ev.iter().any(|e| matches!(e, Event::N4Datagram { .. })),
        "{ev:?}"
    );

    // GTP-U uplink to the same address is forwarded as before.
    h.send(
        Iface::N3,
        &ul_frame(
            SessionSpec::nth(0).ul_teid,
            9,
            &udp4(ue_ip(0), GW_IP, 1, 2, 10),
        ),
    );
    assert_eq!(h.tx(Iface::N6).len(), 1);
    assert!(h.ctl.drain_events().is_empty());
}

/// The datagrams N4 answers with through the DPDK port carry correct IPv4
/// and UDP checksums, and an IPv6 datagram a correct UDP checksum.
#[test]
fn udp_datagram_builds_checksummed_ipv4_and_ipv6() {
    use dataplane::pipeline::udp_datagram;
    use std::net::SocketAddr;
    let src = SocketAddr::new(N3_IP.into(), 8805);
    let dst = SocketAddr::new(GNB_IP.into(), 40000);
    let v = udp_datagram(src, dst, b"hello").unwrap();
    let ip = ipv4::Packet::new_checked(&v[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(usize::from(ip.total_len()), v.len());
    let u = udp::Packet::new_checked(&v[20..]).unwrap();
    assert_ne!(u.checksum(), 0);
    assert!(u.verify_checksum(src.ip(), dst.ip()));
    assert_eq!(
        (u.src_port(), u.dst_port(), u.payload()),
        (8805, 40000, &b"hello"[..])
    );
    let s6: SocketAddr = "[2001:db8::1]:8805".parse().unwrap();
    let d6: SocketAddr = "[2001:db8::2]:40000".parse().unwrap();
    let v = udp_datagram(s6, d6, b"hi").unwrap();
    let u = udp::Packet::new_checked(&v[40..]).unwrap();
    assert!(u.verify_checksum(s6.ip(), d6.ip()));
    assert_eq!(u.payload(), b"hi");
    assert!(udp_datagram(src, d6, b"x").is_none());
}
