//! Mbuf byte access and headroom operations (the same semantics as
//! dataplane's `PacketBuf`), chains, bursts, and the mempool's refusal to
//! free itself while mbufs are out.

mod common;

use common::with_eal;
use dpdk::{Burst, Mbuf, Mempool, PKTMBUF_HEADROOM, Socket};

#[test]
fn mbuf_operations() {
    with_eal("mbuf", 1, |eal| {
        let pool =
            Mempool::pktmbuf(eal, "mbuf", 64, 0, dpdk::MBUF_DEFAULT_BUF_SIZE, Socket::Any).unwrap();
        headroom_ops(&pool);
        reframe_is_the_four_ops_in_one(&pool);
        chains(&pool);
        bursts(&pool);
        raw_round_trip(&pool);
        assert_eq!(pool.in_use(), 0);
        pool_outlives_its_mbufs(eal);
    });
}

fn headroom_ops(pool: &Mempool) {
    let mut m = Mbuf::alloc(pool).unwrap();
    assert!(m.is_empty());
    assert_eq!(m.headroom(), usize::from(PKTMBUF_HEADROOM));
    assert_eq!(m.tailroom(), 2048);
    assert!(m.append(4));
    m.data_mut().copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(m.len(), 4);
    assert_eq!(m.pkt_len(), 4);

    // Same sequence as dataplane's VecBuf test.
    assert!(m.prepend(128));
    assert!(!m.prepend(1), "no headroom left");
    assert_eq!(m.len(), 132);
    assert_eq!(m.pkt_len(), 132);
    assert!(m.adj(128));
    assert_eq!(m.data(), &[1, 2, 3, 4]);
    assert!(!m.adj(5), "cannot remove more than the frame");
    assert_eq!(m.data(), &[1, 2, 3, 4], "a refused adj changes nothing");
    assert!(m.append(2044));
    assert!(!m.append(1), "no tailroom left");
    assert_eq!(m.tailroom(), 0);
    assert!(m.trim(2044));
    assert_eq!(m.data(), &[1, 2, 3, 4]);
    assert!(!m.trim(5));
    assert!(m.trim(4));
    assert!(m.is_empty());
    assert!(
        !m.prepend(usize::MAX) && !m.append(usize::MAX),
        "huge sizes are refused"
    );

    let frame: Vec<u8> = (0..=255u8).collect();
    let m = Mbuf::from_bytes(pool, &frame).unwrap();
    assert_eq!(m.data(), frame.as_slice());
    assert!(
        Mbuf::from_bytes(pool, &[0u8; 2049]).is_none(),
        "does not fit the data room"
    );
    assert_eq!(m.rss_hash(), None);
}

/// The reference: `reframe` as dataplane's `PacketBuf` defines it, built
/// from adj/prepend and append/trim with every check made first.
fn reframe_by_steps(m: &mut Mbuf, front: isize, len: usize) -> bool {
    let cur = m.len();
    let back = front.unsigned_abs();
    let kept = if front >= 0 {
        if back > cur {
            return false;
        }
        cur - back
    } else {
        if back > m.headroom() {
            return false;
        }
        cur + back
    };
    if len > kept && len - kept > m.tailroom() {
        return false;
    }
    let moved = if front >= 0 {
        m.adj(back)
    } else {
        m.prepend(back)
    };
    moved
        && if len >= kept {
            m.append(len - kept)
        } else {
            m.trim(kept - len)
        }
}

fn reframe_is_the_four_ops_in_one(pool: &Mempool) {
    let frame: Vec<u8> = (0..100u8).collect();
    let head = isize::try_from(PKTMBUF_HEADROOM).unwrap();
    let fronts = [
        -head - 1,
        -head,
        -50,
        -1,
        0,
        1,
        36,
        99,
        100,
        101,
        isize::MIN,
        isize::MAX,
    ];
    let lens = [0, 1, 14, 64, 100, 150, 2048, 2148, 2176, 2177, usize::MAX];
    for &front in &fronts {
        for &len in &lens {
            let mut a = Mbuf::from_bytes(pool, &frame).unwrap();
            let mut b = Mbuf::from_bytes(pool, &frame).unwrap();
            let ra = a.reframe(front, len);
            let rb = reframe_by_steps(&mut b, front, len);
            assert_eq!(ra, rb, "front {front} len {len}");
            assert_eq!(
                (a.headroom(), a.len(), a.pkt_len(), a.tailroom()),
                (b.headroom(), b.len(), b.pkt_len(), b.tailroom()),
                "front {front} len {len}"
            );
            assert_eq!(a.data(), b.data(), "front {front} len {len}");
            if !ra {
                assert_eq!(
                    a.data(),
                    frame.as_slice(),
                    "a refused reframe changes nothing"
                );
            }
        }
    }
    // Decapsulation as the fast path does it: drop 36 bytes in front, keep
    // 50 of what follows (the Ethernet padding goes).
    let mut m = Mbuf::from_bytes(pool, &frame).unwrap();
    assert!(m.reframe(36, 50));
    assert_eq!(m.data(), &frame[36..86]);
    // Encapsulation: 58 bytes into the headroom.
    assert!(m.reframe(-58, 108));
    assert_eq!(&m.data()[58..], &frame[36..86]);

    // A chain is made one segment first.
    let mut head = Mbuf::from_bytes(pool, &frame[..60]).unwrap();
    head.chain(Mbuf::from_bytes(pool, &frame[60..]).unwrap())
        .unwrap();
    assert!(head.reframe(10, 80));
    assert!(head.is_contiguous());
    assert_eq!(head.data(), &frame[10..90]);
}

fn chains(pool: &Mempool) {
    let mut head = Mbuf::from_bytes(pool, &[1, 2, 3]).unwrap();
    let tail = Mbuf::from_bytes(pool, &[4, 5]).unwrap();
    head.chain(tail).unwrap();
    assert_eq!(head.nb_segs(), 2);
    assert!(!head.is_contiguous());
    assert_eq!(head.pkt_len(), 5);
    assert_eq!(head.data(), &[1, 2, 3], "data() is the first segment");
    // append/trim act on the last segment of a chain.
    assert!(head.append(1));
    assert_eq!(head.pkt_len(), 6);
    assert!(head.trim(1));
    assert!(!head.trim(3), "more than the last segment holds");
    assert!(head.linearize());
    assert!(head.is_contiguous());
    assert_eq!(head.data(), &[1, 2, 3, 4, 5]);
    assert_eq!(pool.in_use(), 1, "linearize freed the tail");
}

fn bursts(pool: &Mempool) {
    let mut b = Burst::<4>::new();
    for i in 0..4u8 {
        b.push(Mbuf::from_bytes(pool, &[i]).unwrap()).unwrap();
    }
    let extra = Mbuf::from_bytes(pool, &[9]).unwrap();
    let extra = b.push(extra).unwrap_err();
    drop(extra);
    assert_eq!(b.swap_remove(0).data(), &[0]);
    let order: Vec<u8> = b.iter().map(|m| m.data()[0]).collect();
    assert_eq!(order, [3, 1, 2]);
    assert_eq!(b.pop().unwrap().data(), &[2]);
    let mut it = b.drain();
    assert_eq!(it.next().unwrap().data(), &[3]);
    drop(it); // frees the one not taken
    assert!(b.is_empty());
    assert_eq!(pool.in_use(), 0);

    // All-or-nothing bulk allocation.
    let mut big = Burst::<64>::new();
    assert!(pool.alloc_bulk(&mut big, 60));
    assert!(!pool.alloc_bulk(&mut big, 5), "only 4 left in the pool");
    assert_eq!(big.len(), 60, "a failed bulk alloc adds nothing");
    assert!(pool.alloc_bulk(&mut big, 4));
    assert!(Mbuf::alloc(pool).is_none(), "pool exhausted");
    drop(big); // one bulk free
    assert_eq!(pool.in_use(), 0);

    // A free queue: 11 mbufs into a burst of 4 that holds one already;
    // it frees 4 in bulk each time it is full, the last 4 wait.
    let mut q = Burst::<4>::new();
    q.push(Mbuf::from_bytes(pool, &[0]).unwrap()).unwrap();
    let more: Vec<Mbuf> = (1..12u8)
        .map(|i| Mbuf::from_bytes(pool, &[i]).unwrap())
        .collect();
    assert_eq!(pool.in_use(), 12);
    q.extend_freeing(more);
    assert_eq!(q.len(), 4);
    assert_eq!(pool.in_use(), 4, "two full bursts freed in bulk");
    let kept: Vec<u8> = q.iter().map(|m| m.data()[0]).collect();
    assert_eq!(kept, [8, 9, 10, 11], "the last ones wait, in order");
    q.extend_freeing(std::iter::empty());
    assert_eq!(q.len(), 4, "nothing added, nothing freed");
    q.extend_freeing([Mbuf::from_bytes(pool, &[12]).unwrap()]);
    assert_eq!(q.len(), 1, "full: freed before the new one went in");
    assert_eq!(pool.in_use(), 1);
    drop(q);
    assert_eq!(pool.in_use(), 0);
}

fn raw_round_trip(pool: &Mempool) {
    let m = Mbuf::from_bytes(pool, &[7, 7]).unwrap();
    let raw = m.into_raw();
    assert_eq!(pool.in_use(), 1);
    // SAFETY: `raw` came from into_raw and nobody else owns it.
    let m = unsafe { Mbuf::from_raw(raw) };
    assert_eq!(m.data(), &[7, 7]);
}

fn pool_outlives_its_mbufs(eal: &dpdk::Eal) {
    let pool = Mempool::pktmbuf(eal, "leaky", 16, 0, 512, Socket::Any).unwrap();
    let mut m = Mbuf::alloc(&pool).unwrap();
    drop(pool);
    // The pool was not freed (an mbuf is out): its name is still taken.
    let err = Mempool::pktmbuf(eal, "leaky", 16, 0, 512, Socket::Any).unwrap_err();
    assert_eq!(err.errno(), Some(libc_eexist()), "{err}");
    assert!(m.append(10));
    drop(m);

    // A pool whose mbufs are all back is freed on drop: the name is free.
    let pool = Mempool::pktmbuf(eal, "tidy", 16, 0, 512, Socket::Any).unwrap();
    drop(Mbuf::alloc(&pool).unwrap());
    drop(pool);
    Mempool::pktmbuf(eal, "tidy", 16, 0, 512, Socket::Any).unwrap();
}

const fn libc_eexist() -> i32 {
    17
}
