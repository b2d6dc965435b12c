//! Burst behaviour on virtual devices: net_null fills whole bursts and
//! swallows everything sent; net_ring loops tx back to rx in order and
//! refuses what does not fit, which tx_burst returns and tx_burst_or_free
//! drops and counts.

mod common;

use common::{test_frame, with_eal};
use dpdk::{Burst, Mbuf, Mempool, Port, PortConfig, Rss, Socket};

#[test]
fn null_and_ring_bursts() {
    with_eal("burst", 1, |eal| {
        let pool = Mempool::pktmbuf(
            eal,
            "burst",
            4095,
            0,
            dpdk::MBUF_DEFAULT_BUF_SIZE,
            Socket::Any,
        )
        .unwrap();
        null_port(eal, &pool);
        ring_port(eal, &pool);
        vec_bursts(eal, &pool);
        assert_eq!(pool.in_use(), 0, "no mbuf leaked");
    });
}

fn null_port(eal: &dpdk::Eal, pool: &Mempool) {
    let mut port = Port::open(eal, "net_null0,size=100").unwrap();
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_null");
    let mut cfg = PortConfig::new(1);
    cfg.rss = Rss::None;
    port.configure(&cfg, pool).unwrap();
    assert_eq!(port.rss_hf(), 0);
    // RSS applies what the device supports of what was asked for.
    cfg.rss = Rss::IpUdp;
    port.configure(&cfg, pool).unwrap();
    assert_eq!(port.rss_hf(), Rss::IpUdp.hash_types() & info.rss_offloads);
    assert_ne!(port.rss_hf(), 0, "net_null emulates RSS");
    let (mut rxq, mut txq) = port.start().unwrap();
    assert!(port.link().unwrap().up);
    assert_eq!(port.mtu().unwrap(), 1500, "default MTU");
    let mac = port.mac_address().unwrap();
    assert_eq!(mac[0] & 1, 0, "a unicast MAC: {mac:02x?}");

    let mut burst = Burst::<32>::new();
    assert_eq!(
        rxq[0].rx_burst(&mut burst),
        32,
        "net_null fills the whole burst"
    );
    assert!(burst.is_full());
    assert_eq!(
        rxq[0].rx_burst(&mut burst),
        0,
        "a full burst receives nothing"
    );
    for m in burst.iter() {
        assert_eq!(m.len(), 100);
        assert_eq!(m.port(), port.id());
    }
    // Receiving into a partly filled burst only fills the free slots.
    burst.truncate(20);
    assert_eq!(rxq[0].rx_burst(&mut burst), 12);
    assert_eq!(pool.in_use(), 32);

    assert_eq!(txq[0].tx_burst_or_free(&mut burst), 32);
    assert!(burst.is_empty());
    assert_eq!(txq[0].dropped(), 0);
    assert_eq!(pool.in_use(), 0, "net_null frees what it transmits");
    let s = port.stats().unwrap();
    assert_eq!((s.ipackets, s.opackets), (44, 32));
}

fn ring_port(eal: &dpdk::Eal, pool: &Mempool) {
    let mut port = Port::open(eal, "net_ring0").unwrap();
    assert_eq!(port.info().unwrap().driver_name, "net_ring");
    port.configure(&PortConfig::new(1), pool).unwrap();
    let (mut rxq, mut txq) = port.start().unwrap();
    let (rx, tx) = (&mut rxq[0], &mut txq[0]);
    port.set_promiscuous(true).unwrap();
    assert!(port.is_promiscuous());
    port.set_promiscuous(false).unwrap();
    assert!(!port.is_promiscuous());

    // Fill the loopback ring until it refuses.
    let mut seq = 0u32;
    let mut accepted = 0usize;
    let mut burst = Burst::<32>::new();
    loop {
        while !burst.is_full() {
            burst
                .push(Mbuf::from_bytes(pool, &test_frame(seq, 64)).unwrap())
                .unwrap();
            seq += 1;
        }
        let first_unsent = seq - 32;
        let n = tx.tx_burst(&mut burst);
        accepted += n;
        if n < 32 {
            // The unsent ones stay in the burst, moved to the front in order.
            assert_eq!(burst.len(), 32 - n);
            assert_eq!(
                burst[0].data(),
                test_frame(first_unsent + n as u32, 64).as_slice()
            );
            break;
        }
        assert!(accepted <= 65536, "the ring never fills");
    }
    assert!(accepted > 0);
    // tx_burst_or_free on a full ring drops and counts.
    let left = burst.len();
    assert_eq!(tx.tx_burst_or_free(&mut burst), 0);
    assert!(burst.is_empty());
    assert_eq!(tx.dropped(), left as u64);
    assert_eq!(pool.in_use() as usize, accepted, "refused mbufs were freed");

    // Everything accepted comes back, in order, byte for byte.
    let mut got = 0usize;
    while got < accepted {
        let n = rx.rx_burst(&mut burst);
        assert!(n > 0, "ring ran dry after {got} of {accepted}");
        for m in burst.drain() {
            assert_eq!(m.data(), test_frame(got as u32, 64).as_slice());
            got += 1;
        }
    }
    assert_eq!(rx.rx_burst(&mut burst), 0);
    assert_eq!(pool.in_use(), 0);
}

/// A worker's packet type: an mbuf newtype in a `Vec`.
#[derive(Debug)]
struct Frame(Mbuf);

impl From<Mbuf> for Frame {
    fn from(m: Mbuf) -> Self {
        Frame(m)
    }
}

impl From<Frame> for Mbuf {
    fn from(f: Frame) -> Self {
        f.0
    }
}

/// rx_burst_into / tx_burst_from: `max` is honoured, order is kept, and a
/// full queue leaves the unsent frames in the `Vec`, in order, in front.
fn vec_bursts(eal: &dpdk::Eal, pool: &Mempool) {
    let mut null = Port::open(eal, "net_null1,size=64").unwrap();
    null.configure(&PortConfig::new(1), pool).unwrap();
    let (mut nrx, _ntx) = null.start().unwrap();
    let mut v: Vec<Frame> = Vec::new();
    assert_eq!(nrx[0].rx_burst_into(&mut v, 5), 5, "max is honoured");
    assert_eq!(nrx[0].rx_burst_into(&mut v, 0), 0);
    assert_eq!(
        nrx[0].rx_burst_into(&mut v, 64),
        64,
        "more than 32 in one call"
    );
    assert_eq!(v.len(), 69, "appended, not replaced");
    assert!(v.iter().all(|f| f.0.len() == 64));
    v.clear();
    assert_eq!(pool.in_use(), 0);

    let mut port = Port::open(eal, "net_ring1").unwrap();
    port.configure(&PortConfig::new(1), pool).unwrap();
    let (mut rxq, mut txq) = port.start().unwrap();
    let (rx, tx) = (&mut rxq[0], &mut txq[0]);
    // Fill the loopback ring until it refuses.
    let mut seq = 0u32;
    let mut accepted = 0usize;
    loop {
        let first = seq;
        let mut frames: Vec<Frame> = (0..40)
            .map(|i| Frame(Mbuf::from_bytes(pool, &test_frame(first + i, 64)).unwrap()))
            .collect();
        seq += 40;
        let n = tx.tx_burst_from(&mut frames);
        accepted += n;
        assert_eq!(frames.len(), 40 - n);
        if n < 40 {
            assert_eq!(
                frames[0].0.data(),
                test_frame(first + n as u32, 64).as_slice(),
                "the first unsent frame is in front"
            );
            let last = frames.last().unwrap().0.data().to_vec();
            assert_eq!(last, test_frame(first + 39, 64), "in order");
            break;
        }
        assert!(accepted <= 65536, "the ring never fills");
    }
    // Everything accepted comes back, in order, byte for byte.
    let mut got = 0usize;
    let mut back: Vec<Frame> = Vec::new();
    while got < accepted {
        back.clear();
        let n = rx.rx_burst_into(&mut back, 48);
        assert!(n > 0 && n <= 48, "{n} frames after {got} of {accepted}");
        for f in &back {
            assert_eq!(f.0.data(), test_frame(got as u32, 64).as_slice());
            got += 1;
        }
    }
    back.clear();
    assert_eq!(rx.rx_burst_into(&mut back, 32), 0);

    // A chained frame comes out of rx_burst_into as it went in (the rx
    // binding reads no mbuf header; the worker's `prepare` linearizes
    // what it keeps), and `linearize` then gives one segment with the
    // same bytes; a chain is freed whole (no leak, checked by the caller).
    let whole = test_frame(7, 200);
    let mut head = Mbuf::from_bytes(pool, &whole[..120]).unwrap();
    let tail = Mbuf::from_bytes(pool, &whole[120..]).unwrap();
    head.chain(tail).unwrap();
    let junk = {
        let mut j = Mbuf::from_bytes(pool, &whole[..64]).unwrap();
        j.chain(Mbuf::from_bytes(pool, &whole[64..]).unwrap())
            .unwrap();
        j
    };
    let mut frames = vec![Frame(head), Frame(junk)];
    assert_eq!(tx.tx_burst_from(&mut frames), 2);
    assert_eq!(rx.rx_burst_into(&mut back, 32), 2);
    assert_eq!(back[0].0.nb_segs(), 2, "received chained, as sent");
    assert!(!back[0].0.is_contiguous());
    assert_eq!((back[0].0.len(), back[0].0.pkt_len()), (120, 200));
    assert!(back[0].0.linearize(), "200 bytes fit one segment");
    assert!(back[0].0.is_contiguous());
    assert_eq!(
        back[0].0.data(),
        whole.as_slice(),
        "same bytes, one segment"
    );
    back.clear(); // the chained second frame is freed whole
}
