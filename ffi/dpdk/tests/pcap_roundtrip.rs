//! net_pcap round trip: known frames in an rx pcap are received on one port,
//! transmitted unchanged on another, and the tx pcap holds the same bytes.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, read_pcap, test_frame, with_eal, write_pcap};
use dpdk::{Burst, Mempool, Port, PortConfig, Socket};

#[test]
fn pcap_rx_to_tx_keeps_every_byte() {
    let dir = TempDir::new("pcap");
    // Sizes from the Ethernet minimum to a full 1500-byte MTU frame.
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|i| test_frame(i, 60 + (i as usize * 37) % 1455))
        .collect();
    write_pcap(&dir.path("in.pcap"), &frames);
    write_pcap(&dir.path("empty.pcap"), &[]);

    with_eal("pcap", 1, |eal| {
        let pool = Mempool::pktmbuf(
            eal,
            "pcap",
            1024,
            0,
            dpdk::MBUF_DEFAULT_BUF_SIZE,
            Socket::Any,
        )
        .unwrap();
        let dev_a = format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            dir.path("in.pcap").display(),
            dir.path("a-out.pcap").display()
        );
        let dev_b = format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            dir.path("empty.pcap").display(),
            dir.path("out.pcap").display()
        );
        let mut a = Port::open(eal, &dev_a).unwrap();
        let mut b = Port::open(eal, &dev_b).unwrap();
        assert_eq!(a.info().unwrap().driver_name, "net_pcap");
        assert_eq!(a.name(), "net_pcap0");
        for p in [&mut a, &mut b] {
            p.configure(&PortConfig::new(1), &pool).unwrap();
        }
        let (mut rx_a, _tx_a) = a.start().unwrap();
        let (_rx_b, mut tx_b) = b.start().unwrap();
        let rx = &mut rx_a[0];
        let tx = &mut tx_b[0];

        let mut burst = Burst::<32>::new();
        let mut received = 0usize;
        let mut sent = 0usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        while received < frames.len() && Instant::now() < deadline {
            let n = rx.rx_burst(&mut burst);
            for m in burst.iter() {
                assert!(m.is_contiguous());
                assert_eq!(m.port(), a.id());
                assert_eq!(m.data(), frames[received].as_slice(), "frame {received}");
                assert_eq!(m.rss_hash(), None, "net_pcap computes no RSS hash");
                received += 1;
            }
            assert_eq!(n, burst.len());
            // Retry until the pcap writer took everything: nothing may be lost.
            while !burst.is_empty() && Instant::now() < deadline {
                sent += tx.tx_burst(&mut burst);
            }
        }
        assert_eq!(
            received,
            frames.len(),
            "all frames received before the deadline"
        );
        assert_eq!(sent, frames.len());
        assert_eq!(tx.dropped(), 0);
        // End of file: nothing more arrives.
        assert_eq!(rx.rx_burst(&mut burst), 0);

        let total_bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let sa = a.stats().unwrap();
        let sb = b.stats().unwrap();
        assert_eq!(sa.ipackets, frames.len() as u64);
        assert_eq!(sa.ibytes, total_bytes);
        assert_eq!(sb.opackets, frames.len() as u64);
        assert_eq!(sb.obytes, total_bytes);
        assert_eq!(sb.ipackets, 0);

        // Stopping while queue handles are alive is refused...
        assert!(matches!(a.stop(), Err(dpdk::Error::QueuesInUse { .. })));
        drop((rx_a, _tx_a, _rx_b, tx_b));
        // ...and fine once they are gone. Closing (drop) flushes the pcap.
        a.stop().unwrap();
        b.stop().unwrap();
        drop((a, b));
        assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    });

    let out = read_pcap(&dir.path("out.pcap"));
    assert_eq!(out.len(), frames.len());
    for (i, (got, want)) in out.iter().zip(&frames).enumerate() {
        assert_eq!(got, want, "frame {i} differs in the tx pcap");
    }
    assert!(read_pcap(&dir.path("a-out.pcap")).is_empty());
}
