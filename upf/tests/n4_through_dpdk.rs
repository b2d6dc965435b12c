//! N4 served through the DPDK port, without DPDK: an SMF on the N3 link
//! sends an Association Setup Request to the N3 address as a frame; the
//! worker (on `MemIo`) hands it to the control thread as an event, the
//! `DataplaneSocket` feeds the `N4` driver, and the answer leaves the
//! worker as an IPv4/UDP frame from the N4 address with correct checksums.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use dataplane::control::{Control, DataplaneConfig};
use dataplane::iface::Iface;
use dataplane::testkit::{self, GNB_IP, GNB_MAC, N3_IP, N3_MAC, TSC_HZ};
use dataplane::wire::ethernet::{self, ethertype};
use dataplane::wire::{ipv4, udp};
use dataplane::worker::{MemIo, Worker};
use pfcp::codec::ies::{Cause, NodeIdBuf};
use pfcp::codec::message::{Message, Pfcp};
use pfcp::sample;
use upf::n4::socket::{DataplaneSocket, N4Endpoint};
use upf::n4::{N4, TscClock};

#[test]
fn association_setup_through_the_dataplane_is_answered_from_the_n4_address() {
    let n4_addr = SocketAddr::new(N3_IP.into(), 8805);
    let smf = SocketAddr::new(GNB_IP.into(), 40000);
    let mut dcfg = DataplaneConfig::new(1, TSC_HZ);
    dcfg.net = testkit::net(true);
    dcfg.net.n4 = Some(n4_addr);
    let (mut ctl, ports) = Control::new(dcfg);
    let mut w = Worker::new(ports.into_iter().next().unwrap(), MemIo::default());
    let now = Instant::now();
    let clock = TscClock {
        hz: TSC_HZ,
        tsc: 1,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let mut cfg = pfcp::Config::new(NodeIdBuf::Ipv4(N3_IP));
    cfg.recovery_time_stamp = clock.wall;
    let mut n4 = N4::new(cfg, 1, clock, now, clock.wall).unwrap();
    let mut ep = N4Endpoint::Dataplane(DataplaneSocket::new(Iface::N3, n4_addr, 1500));
    assert!(
        ep.polled(),
        "the control loop polls worker events in this mode"
    );

    let IpAddr::V4(smf_ip) = smf.ip() else {
        unreachable!()
    };
    let mut req = Vec::new();
    sample::association_setup_request(7, smf_ip, 3_900_000_000)
        .encode(&mut req)
        .unwrap();
    let mut p = testkit::udp4(smf_ip, N3_IP, smf.port(), 8805, req.len());
    p[28..].copy_from_slice(&req);
    udp::Packet::new_checked(&mut p[20..])
        .unwrap()
        .fill_checksum(smf.ip(), n4_addr.ip());
    w.io_mut().push_rx(
        Iface::N3,
        &testkit::frame(N3_MAC, GNB_MAC, ethertype::IPV4, &p),
    );
    w.poll(1_000);

    // The control loop's step: housekeeping drains the worker events, the
    // endpoint takes the N4 datagrams, then sends the answers.
    let mut left = n4.housekeeping(now, &mut ctl);
    assert_eq!(ep.take(now, &mut left.events, &mut n4, &mut ctl), 1);
    assert!(left.events.is_empty(), "{:?}", left.events);
    ep.flush(&mut n4, &mut ctl);
    w.poll(2_000);

    let tx = w.io_mut().take_tx(Iface::N3);
    assert_eq!(tx.len(), 1, "one answer frame");
    let f = &tx[0];
    let e = ethernet::Frame::new_checked(&f[..]).unwrap();
    assert_eq!((e.dst(), e.src()), (GNB_MAC, N3_MAC));
    let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src(), ip.dst()), (N3_IP, smf_ip));
    let u = udp::Packet::new_checked(&f[14 + ip.header_len()..]).unwrap();
    assert!(u.verify_checksum(n4_addr.ip(), smf.ip()));
    assert_ne!(u.checksum(), 0);
    assert_eq!((u.src_port(), u.dst_port()), (8805, smf.port()));
    let (m, rest) = Pfcp::decode(u.payload()).unwrap();
    assert!(rest.is_empty());
    assert_eq!(m.seq, 7);
    let Message::AssociationSetupResponse(a) = m.message else {
        panic!("{m:?}")
    };
    assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    let N4Endpoint::Dataplane(d) = &ep else {
        unreachable!()
    };
    assert_eq!(
        (d.received, d.sent, d.send_errors, d.too_long),
        (1, 1, 0, 0)
    );
}
