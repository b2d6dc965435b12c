//! Frames that can only be dropped (runts, EtherTypes the UPF does not
//! handle) leave the burst before the pipeline, counted per burst (a burst
//! that starts with such a frame right after rx, others in the burst's
//! second pass):
//! the drop counters stay exact per reason, the rx counters count them,
//! every buffer goes back to the pool exactly once, and the valid frames
//! of a mixed burst keep their order and verdicts.

use dataplane::buf::VecBuf;
use dataplane::control::Control;
use dataplane::counters::{Counters, DropReason};
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::wire::arp;
use dataplane::wire::ethernet::{MacAddr, ethertype};
use dataplane::worker::{BURST, MemIo, Worker, WorkerIo};
use std::net::Ipv4Addr;

/// `MemIo` with a burst size that counts the buffers given back.
struct Counting {
    io: MemIo,
    burst: usize,
    freed: usize,
}

impl WorkerIo for Counting {
    type Buf = VecBuf;
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
        self.io.rx_burst(iface, out, max);
    }
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<VecBuf>) {
        self.io.tx_burst(iface, frames);
    }
    fn alloc(&mut self) -> Option<VecBuf> {
        self.io.alloc()
    }
    fn free(&mut self, _: VecBuf) {
        self.freed += 1;
    }
    fn burst_size(&self) -> usize {
        self.burst
    }
}

struct H {
    ctl: Control,
    w: Worker<Counting>,
}

const NOW: u64 = 1_000_000_000;

impl H {
    fn new(burst: usize) -> Self {
        let (mut ctl, mut ports) = dataplane(1, true);
        install(&mut ctl, 64);
        let mut w = Worker::new(
            ports.remove(0),
            Counting {
                io: MemIo::default(),
                burst,
                freed: 0,
            },
        );
        w.poll(NOW);
        Self { ctl, w }
    }
    /// Queues `frames` on `iface` and polls until all are taken.
    fn run(&mut self, iface: Iface, frames: &[Vec<u8>]) {
        for f in frames {
            self.w.io_mut().io.push_rx(iface, f);
        }
        while !self.w.io_mut().io.rx[iface.index()].is_empty() {
            self.w.poll(NOW);
        }
    }
    fn tx(&mut self, iface: Iface) -> Vec<Vec<u8>> {
        self.w.io_mut().io.take_tx(iface)
    }
    fn counters(&self) -> Counters {
        self.ctl.counters()
    }
}

fn ul(k: u32) -> Vec<u8> {
    let s = SessionSpec::nth(k);
    ul_frame(
        s.ul_teid,
        s.qfi,
        &udp4(s.ue, DN_IP, 1000 + k as u16, 53, 40),
    )
}

fn dl(k: u32) -> Vec<u8> {
    dl_frame(&udp4(
        DN_IP,
        SessionSpec::nth(k).ue,
        53,
        1000 + k as u16,
        40,
    ))
}

/// Zero frame of 64 bytes (EtherType 0), LLDP, a runt, a VLAN-tagged
/// frame with an unknown inner EtherType.
fn junk(i: usize) -> (Vec<u8>, DropReason) {
    match i % 4 {
        0 => (vec![0; 64], DropReason::Unsupported),
        1 => (
            frame(
                MacAddr([0x01, 0x80, 0xc2, 0, 0, 0x0e]),
                GNB_MAC,
                0x88cc,
                &[0x02; 46],
            ),
            DropReason::Unsupported,
        ),
        2 => (vec![0xff; 1 + i % 13], DropReason::Malformed),
        _ => {
            let mut f = frame(N3_MAC, GNB_MAC, ethertype::VLAN, &[0; 50]);
            f[14..16].copy_from_slice(&7u16.to_be_bytes());
            f[16..18].copy_from_slice(&0x88b5u16.to_be_bytes());
            (f, DropReason::Unsupported)
        }
    }
}

/// What `frames` give when each is sent on its own into a fresh worker:
/// the reference for the same frames inside one mixed burst.
fn one_by_one(iface: Iface, frames: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut h = H::new(BURST);
    let (mut n3, mut n6) = (vec![], vec![]);
    for f in frames {
        h.run(iface, std::slice::from_ref(f));
        n3.extend(h.tx(Iface::N3));
        n6.extend(h.tx(Iface::N6));
    }
    (n3, n6)
}

fn arp_request() -> Vec<u8> {
    let req = arp::Repr {
        op: arp::Operation::Request,
        sha: GNB_MAC,
        spa: GNB_IP,
        tha: MacAddr::ZERO,
        tpa: N3_IP,
    };
    let mut p = vec![0u8; arp::PACKET_LEN];
    req.emit(&mut p).unwrap();
    frame(MacAddr::BROADCAST, GNB_MAC, ethertype::ARP, &p)
}

#[test]
fn a_junk_flood_is_counted_by_reason_and_every_buffer_freed() {
    let mut h = H::new(BURST);
    let frames: Vec<(Vec<u8>, DropReason)> = (0..3 * BURST + 5).map(junk).collect();
    let raw: Vec<Vec<u8>> = frames.iter().map(|f| f.0.clone()).collect();
    h.run(Iface::N3, &raw);
    let c = h.counters();
    let want = |r| frames.iter().filter(|f| f.1 == r).count() as u64;
    assert_eq!(
        c.dropped(DropReason::Malformed),
        want(DropReason::Malformed)
    );
    assert_eq!(
        c.dropped(DropReason::Unsupported),
        want(DropReason::Unsupported)
    );
    assert_eq!(c.drops.iter().sum::<u64>(), frames.len() as u64);
    assert_eq!(c.rx_packets[Iface::N3.index()], frames.len() as u64);
    assert_eq!(
        c.rx_bytes[Iface::N3.index()],
        raw.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(c.tx_packets, [0; 3]);
    assert_eq!(h.w.io_mut().freed, frames.len());
}

/// What a test frame is, and so what must become of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A valid UL (on N3) or DL (on N6) frame: forwarded.
    Valid,
    /// Can only be dropped, for this reason, without reaching the pipeline.
    Junk(DropReason),
    /// A G-PDU for a TEID without a PDR: dropped (`no_pdr`), with an Error
    /// Indication back out of N3.
    NoPdr,
    /// An ARP request for the N3 address: answered out of N3.
    Arp,
}

fn no_pdr() -> Vec<u8> {
    ul_frame(
        0xdead_beef,
        9,
        &udp4(Ipv4Addr::new(10, 45, 0, 2), DN_IP, 1, 2, 40),
    )
}

fn item(kind: Kind, i: usize, iface: Iface) -> (Vec<u8>, Kind) {
    match kind {
        Kind::Valid if iface == Iface::N3 => (ul(i as u32 % 64), kind),
        Kind::Valid => (dl(i as u32 % 64), kind),
        Kind::Junk(_) => {
            let (f, r) = junk(i);
            (f, Kind::Junk(r))
        }
        Kind::NoPdr => (no_pdr(), kind),
        Kind::Arp => (arp_request(), kind),
    }
}

/// Sends `frames` into `iface` of a worker that takes `burst` frames per
/// poll, and checks what must hold however the bursts fall: the valid
/// frames leave in order, and so do the ARP replies and Error Indications,
/// byte for byte as when the frames that are not junk are sent one by one;
/// every junk frame is counted once under its reason; rx and tx counters
/// count every frame; every buffer is sent or freed exactly once.
fn check(iface: Iface, frames: &[(Vec<u8>, Kind)], burst: usize) {
    let raw: Vec<Vec<u8>> = frames.iter().map(|f| f.0.clone()).collect();
    let count = |k: Kind| frames.iter().filter(|f| f.1 == k).count() as u64;
    let valid = count(Kind::Valid) as usize;
    let keep: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| !matches!(f.1, Kind::Junk(_)))
        .map(|f| f.0.clone())
        .collect();
    let (arps, no_pdrs) = (count(Kind::Arp), count(Kind::NoPdr));
    let runts = count(Kind::Junk(DropReason::Malformed));
    let unsupported = count(Kind::Junk(DropReason::Unsupported));
    assert!(
        iface == Iface::N3 || arps + no_pdrs == 0,
        "N6 has no ARP/TEID cases here"
    );

    let mut h = H::new(burst);
    h.run(iface, &raw);
    let out = if iface == Iface::N3 {
        Iface::N6
    } else {
        Iface::N3
    };
    let fwd = h.tx(out);
    let back = h.tx(iface);
    let (ref_n3, ref_n6) = one_by_one(iface, &keep);
    let (ref_fwd, ref_back) = if iface == Iface::N3 {
        (ref_n6, ref_n3)
    } else {
        (ref_n3, ref_n6)
    };
    assert_eq!(
        ref_fwd.len(),
        valid,
        "the reference forwards every valid frame"
    );
    assert_eq!(fwd, ref_fwd, "valid frames out of order or changed");
    // On N3: an ARP reply per request, and GTP-U Error Indications
    // (message type 26) for the unknown TEID, as many as the token bucket
    // lets out (the reference drains it in the same order).
    assert_eq!(back, ref_back, "replies out of order or changed");
    let is_arp = |f: &Vec<u8>| f[12..14] == ethertype::ARP.to_be_bytes();
    assert_eq!(back.iter().filter(|f| is_arp(f)).count() as u64, arps);
    let eis = back.iter().filter(|f| !is_arp(f)).count() as u64;
    assert!(back.iter().filter(|f| !is_arp(f)).all(|f| f[43] == 26));
    assert!(eis <= no_pdrs && (no_pdrs == 0) == (eis == 0));

    let c = h.counters();
    assert_eq!(c.dropped(DropReason::Malformed), runts);
    assert_eq!(c.dropped(DropReason::Unsupported), unsupported);
    assert_eq!(c.dropped(DropReason::NoPdr), no_pdrs);
    assert_eq!(c.drops.iter().sum::<u64>(), runts + unsupported + no_pdrs);
    assert_eq!(c.rx_packets[iface.index()], frames.len() as u64);
    assert_eq!(c.rx_packets[out.index()], 0);
    assert_eq!(
        c.rx_bytes[iface.index()],
        raw.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(c.tx_packets[out.index()], valid as u64);
    assert_eq!(
        c.tx_bytes[out.index()],
        fwd.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(c.tx_packets[iface.index()], back.len() as u64);
    // Replies and Error Indications are built in the request's buffer.
    assert_eq!(h.w.io_mut().freed + fwd.len() + back.len(), frames.len());
}

/// Valid UL frames, junk, a G-PDU for an unknown TEID and an ARP request
/// interleaved in one burst (and over several with a large burst size).
fn mixed_uplink(burst: usize) {
    let frames: Vec<(Vec<u8>, Kind)> = (0..(2 * BURST + 9))
        .map(|i| {
            let kind = match i % 5 {
                0 | 2 => Kind::Valid,
                4 if i % 3 == 0 => Kind::NoPdr,
                4 if i % 3 == 1 => Kind::Arp,
                _ => Kind::Junk(DropReason::Unsupported),
            };
            item(kind, i, Iface::N3)
        })
        .collect();
    for k in [
        Kind::NoPdr,
        Kind::Arp,
        Kind::Junk(DropReason::Malformed),
        Kind::Junk(DropReason::Unsupported),
    ] {
        assert!(frames.iter().any(|f| f.1 == k), "{k:?}");
    }
    check(Iface::N3, &frames, burst);
}

#[test]
fn a_mixed_uplink_burst_keeps_order_and_verdicts() {
    mixed_uplink(BURST);
}

#[test]
fn a_mixed_uplink_burst_larger_than_the_pipeline_burst() {
    mixed_uplink(128);
}

#[test]
fn mixed_uplink_one_frame_per_burst() {
    mixed_uplink(1);
}

/// The burst sizes the bursts below are cut into: one frame, the
/// pipeline's burst, and a configured burst of four pipeline bursts.
const SIZES: [usize; 3] = [1, BURST, 128];

/// `n` frames on `iface`, junk where `is_junk(i)` (of the four junk
/// kinds in turn), valid (and on N3 now and then an ARP request or an
/// unknown TEID) elsewhere.
fn pattern(iface: Iface, n: usize, is_junk: impl Fn(usize) -> bool) -> Vec<(Vec<u8>, Kind)> {
    (0..n)
        .map(|i| {
            let kind = if is_junk(i) {
                Kind::Junk(DropReason::Unsupported)
            } else if iface == Iface::N3 && i % 11 == 5 {
                Kind::Arp
            } else if iface == Iface::N3 && i % 13 == 7 {
                Kind::NoPdr
            } else {
                Kind::Valid
            };
            item(kind, i, iface)
        })
        .collect()
}

#[test]
fn bursts_that_start_with_junk_then_valid_frames() {
    for iface in [Iface::N3, Iface::N6] {
        for burst in SIZES {
            // Every burst starts with a few junk frames, the rest valid.
            let frames = pattern(iface, 3 * burst.max(8) + 3, |i| i % burst.max(8) < 3);
            check(iface, &frames, burst);
            // One long junk run, then only valid frames.
            let frames = pattern(iface, 2 * burst + 40, |i| i < burst + 7);
            check(iface, &frames, burst);
        }
    }
}

#[test]
fn bursts_of_junk_only() {
    for iface in [Iface::N3, Iface::N6] {
        for burst in SIZES {
            let frames = pattern(iface, 3 * burst + 5, |_| true);
            assert!(frames.iter().all(|f| matches!(f.1, Kind::Junk(_))));
            check(iface, &frames, burst);
        }
    }
}

#[test]
fn junk_only_in_the_middle_of_bursts() {
    for iface in [Iface::N3, Iface::N6] {
        for burst in SIZES {
            // Valid first frame of every burst, junk in its middle.
            let b = burst.max(8);
            let frames = pattern(iface, 3 * b + 2, |i| i % b != 0 && i % b < b / 2);
            check(iface, &frames, burst);
            // Junk last in the burst.
            let frames = pattern(iface, 2 * b, |i| i % b == b - 1);
            check(iface, &frames, burst);
        }
    }
}

/// `f` with an 802.1Q tag (VLAN 7) after its MAC addresses.
fn tagged(f: &[u8]) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&ethertype::VLAN.to_be_bytes());
    t.extend_from_slice(&7u16.to_be_bytes());
    t.extend_from_slice(&f[12..]);
    t
}

/// 802.1Q-tagged frames and ARP requests are never junk, even in a burst
/// that starts with junk: the pipeline sees them and answers or forwards
/// them as when each is sent alone.
#[test]
fn tagged_and_arp_frames_in_a_junk_burst_reach_the_pipeline() {
    let keep = vec![tagged(&arp_request()), arp_request(), tagged(&ul(1)), ul(2)];
    let (ref_n3, ref_n6) = one_by_one(Iface::N3, &keep);
    assert_eq!(ref_n3.len(), 2, "both ARP requests are answered alone");
    assert_eq!(ref_n6.len(), 2, "both UL frames are forwarded alone");
    for burst in SIZES {
        let mut h = H::new(burst);
        let frames = vec![
            vec![0; 64],
            keep[0].clone(),
            vec![0; 13],
            keep[1].clone(),
            junk(3).0,
            keep[2].clone(),
            junk(1).0,
            keep[3].clone(),
        ];
        h.run(Iface::N3, &frames);
        assert_eq!(h.tx(Iface::N3), ref_n3, "burst {burst}");
        assert_eq!(h.tx(Iface::N6), ref_n6, "burst {burst}");
        let c = h.counters();
        // The zero frame, LLDP and the tagged frame with an unknown inner
        // EtherType (dropped by the pipeline): unsupported; the runt.
        assert_eq!(c.dropped(DropReason::Unsupported), 3, "burst {burst}");
        assert_eq!(c.dropped(DropReason::Malformed), 1, "burst {burst}");
        assert_eq!(c.drops.iter().sum::<u64>(), 4, "burst {burst}");
        assert_eq!(c.rx_packets[Iface::N3.index()], 8);
        assert_eq!(h.w.io_mut().freed, 4);
    }
}

#[test]
fn a_mixed_downlink_burst_keeps_order_and_verdicts() {
    let mut frames = vec![];
    let mut valid = vec![];
    for i in 0..BURST {
        if i % 3 == 1 {
            frames.push(junk(i).0);
        } else {
            let f = dl(i as u32);
            valid.push(f.clone());
            frames.push(f);
        }
    }
    let mut h = H::new(BURST);
    h.run(Iface::N6, &frames);
    let (ref_n3, _) = one_by_one(Iface::N6, &valid);
    assert_eq!(h.tx(Iface::N3), ref_n3);
    assert_eq!(ref_n3.len(), valid.len());
    let c = h.counters();
    assert_eq!(
        c.drops.iter().sum::<u64>(),
        (frames.len() - valid.len()) as u64
    );
    assert_eq!(c.rx_packets[Iface::N6.index()], frames.len() as u64);
    assert_eq!(c.tx_packets[Iface::N3.index()], valid.len() as u64);
}
