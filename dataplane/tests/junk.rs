//! Frames that can only be dropped (runts, EtherTypes the UPF does not
//! handle) leave the burst in the worker's first pass, counted per burst:
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

/// Valid UL frames, junk, a G-PDU for an unknown TEID and an ARP request
/// interleaved in one burst (and over several with a large burst size):
/// the valid ones leave in order, byte for byte as when sent alone.
fn mixed_uplink(burst: usize) {
    let mut frames = vec![];
    let mut valid = vec![];
    let mut want_junk = [0u64; 2];
    for i in 0..(2 * BURST + 9) {
        match i % 5 {
            0 | 2 => {
                let f = ul(i as u32 % 64);
                valid.push(f.clone());
                frames.push(f);
            }
            4 if i % 3 == 0 => frames.push(ul_frame(
                0xdead_beef,
                9,
                &udp4(Ipv4Addr::new(10, 45, 0, 2), DN_IP, 1, 2, 40),
            )),
            4 if i % 3 == 1 => frames.push(arp_request()),
            _ => {
                let (f, r) = junk(i);
                want_junk[usize::from(r == DropReason::Unsupported)] += 1;
                frames.push(f);
            }
        }
    }
    let no_pdr = frames
        .iter()
        .filter(|f| f.get(46..50) == Some(&0xdead_beefu32.to_be_bytes()[..]))
        .count() as u64;
    let arps = frames.iter().filter(|f| **f == arp_request()).count();
    assert!(no_pdr > 0 && arps > 0 && want_junk[0] > 0 && want_junk[1] > 0);

    let mut h = H::new(burst);
    h.run(Iface::N3, &frames);
    let n6 = h.tx(Iface::N6);
    let n3 = h.tx(Iface::N3);
    let (ref_n3, ref_n6) = one_by_one(Iface::N3, &valid);
    assert!(ref_n3.is_empty());
    assert_eq!(n6.len(), valid.len());
    assert_eq!(n6, ref_n6, "uplink frames out of order or changed");
    // On N3: an ARP reply per request, and a GTP-U Error Indication
    // (message type 26) per G-PDU for the unknown TEID.
    let is_arp = |f: &Vec<u8>| f[12..14] == ethertype::ARP.to_be_bytes();
    assert_eq!(n3.iter().filter(|f| is_arp(f)).count(), arps);
    assert!(n3.iter().filter(|f| !is_arp(f)).all(|f| f[43] == 26));
    assert_eq!(n3.len() as u64, arps as u64 + no_pdr);

    let c = h.counters();
    assert_eq!(c.dropped(DropReason::Malformed), want_junk[0]);
    assert_eq!(c.dropped(DropReason::Unsupported), want_junk[1]);
    assert_eq!(c.dropped(DropReason::NoPdr), no_pdr);
    assert_eq!(
        c.drops.iter().sum::<u64>(),
        want_junk[0] + want_junk[1] + no_pdr
    );
    assert_eq!(c.rx_packets[Iface::N3.index()], frames.len() as u64);
    assert_eq!(
        c.rx_bytes[Iface::N3.index()],
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(c.tx_packets[Iface::N6.index()], valid.len() as u64);
    assert_eq!(
        c.tx_bytes[Iface::N6.index()],
        n6.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(c.tx_packets[Iface::N3.index()], n3.len() as u64);
    // Every buffer either leaves or goes back to the pool, once (replies
    // and Error Indications are built in the request's buffer).
    assert_eq!(h.w.io_mut().freed + n6.len() + n3.len(), frames.len());
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
