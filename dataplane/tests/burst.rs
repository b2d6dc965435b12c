//! The worker asks its I/O for `WorkerIo::burst_size` frames per interface
//! and poll (the config's `dataplane.burst`): fewer than the pipeline's
//! `BURST` leave the rest queued for the next poll, more go through the
//! pipeline `BURST` at a time, in order, in one poll.

use dataplane::buf::VecBuf;
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::worker::{BURST, MemIo, Worker, WorkerIo};

/// `MemIo` with a configured burst size.
struct Sized(MemIo, usize);

impl WorkerIo for Sized {
    type Buf = VecBuf;
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
        assert!(max <= self.1, "asked for {max}, burst is {}", self.1);
        self.0.rx_burst(iface, out, max);
    }
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<VecBuf>) {
        self.0.tx_burst(iface, frames);
    }
    fn alloc(&mut self) -> Option<VecBuf> {
        self.0.alloc()
    }
    fn burst_size(&self) -> usize {
        self.1
    }
}

/// Queues one UL frame for each of `n` sessions and polls once; returns the
/// UE addresses (inner sources) of what N6 sent, in order, and how many
/// frames are still waiting on N3.
fn one_poll(burst: usize, n: u32) -> (Vec<[u8; 4]>, usize) {
    let (mut ctl, mut ports) = dataplane(1, true);
    install(&mut ctl, n);
    let mut w = Worker::new(ports.remove(0), Sized(MemIo::default(), burst));
    w.poll(1_000_000_000);
    for k in 0..n {
        let s = SessionSpec::nth(k);
        let inner = udp4(s.ue, DN_IP, 1234, 53, 64);
        w.io_mut()
            .0
            .push_rx(Iface::N3, &ul_frame(s.ul_teid, s.qfi, &inner));
    }
    w.poll(1_000_000_000);
    let sent = w
        .io_mut()
        .0
        .take_tx(Iface::N6)
        .iter()
        .map(|f| f[14 + 12..14 + 16].try_into().unwrap())
        .collect();
    (sent, w.io_mut().0.rx[Iface::N3.index()].len())
}

fn ues(range: std::ops::Range<u32>) -> Vec<[u8; 4]> {
    range.map(|k| SessionSpec::nth(k).ue.octets()).collect()
}

#[test]
fn a_small_burst_leaves_the_rest_for_the_next_poll() {
    let (sent, left) = one_poll(5, 40);
    assert_eq!(sent, ues(0..5));
    assert_eq!(left, 35);
}

#[test]
fn a_large_burst_runs_through_the_pipeline_in_one_poll_in_order() {
    let n = 3 * BURST as u32 + 7;
    let (sent, left) = one_poll(128, n);
    assert_eq!(sent, ues(0..n));
    assert_eq!(left, 0);
}

#[test]
fn the_default_is_the_pipeline_burst() {
    assert_eq!(MemIo::default().burst_size(), BURST);
    let (sent, left) = one_poll(BURST, 40);
    assert_eq!(sent, ues(0..BURST as u32));
    assert_eq!(left, 40 - BURST);
}
