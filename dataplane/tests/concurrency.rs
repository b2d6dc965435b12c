//! Workers process traffic on their own threads while the control thread
//! publishes thousands of session changes: packets of unchanged sessions
//! are never lost or misrouted, and a changed session switches atomically
//! (TEID and QFI always from the same version, versions never go back).

use dataplane::control::Batch;
use dataplane::counters::DropReason;
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::wire::{ethernet, gtpu, ipv4, udp};
use dataplane::worker::{MemIo, Worker};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const STABLE: u32 = 2000;
const CHURN: u32 = 2000;
const VERSIONS: u32 = 20;

/// Version `v` of churn session `n`: DL TEID and QFI both encode `v`.
fn churn_session(n: u32, v: u32) -> dataplane::rules::Session {
    let mut spec = SessionSpec::nth(n);
    spec.dl_teid = 0x0100_0000 * (v + 1) + n;
    spec.qfi = u8::try_from(v % 63 + 1).unwrap();
    session(&spec)
}

fn decode(f: &[u8]) -> (u32, u8, u32) {
    assert!(ethernet::Frame::new_checked(f).unwrap().dst() == GNB_MAC);
    let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum());
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    let g = gtpu::Repr::parse(&gtpu::Packet::new_checked(u.payload()).unwrap()).unwrap();
    let inner = &u.payload()[g.header_len()..];
    let ue = ipv4::Packet::new_checked(inner).unwrap().dst();
    let n = u32::from(ue) - u32::from(ue_ip(0));
    (g.teid, g.psc.unwrap().qfi, n)
}

#[test]
fn updates_under_traffic_are_atomic_and_lose_nothing() {
    let workers = 2;
    let (mut ctl, ports) = dataplane(workers, true);
    install(&mut ctl, STABLE);
    ctl.publish(Batch {
        upserts: (STABLE..STABLE + CHURN)
            .map(|n| churn_session(n, 0))
            .collect(),
        removals: vec![],
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for port in ports {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let id = port.id() as u32;
            let mut w = Worker::new(port, MemIo::default());
            let mut seen = vec![0u32; CHURN as usize];
            let (mut sent_stable, mut got_stable, mut churn_out) = (0u64, 0u64, 0u64);
            let mut i = id;
            let mut now = 1_000_000_000u64;
            let frames: Vec<Vec<u8>> = (0..STABLE + CHURN)
                .map(|n| dl_frame(&udp4(DN_IP, ue_ip(n), 53, 1000, 20)))
                .collect();
            while !stop.load(Ordering::Relaxed) {
                let mut stable_in_burst = 0;
                for _ in 0..32 {
                    let n =
                        u32::try_from((u64::from(i) * 7919) % u64::from(STABLE + CHURN)).unwrap();
                    i += 2;
                    w.io_mut().push_rx(Iface::N6, &frames[n as usize]);
                    if n < STABLE {
                        stable_in_burst += 1;
                    }
                }
                now += 1000;
                w.poll(now);
                sent_stable += stable_in_burst;
                for f in w.io_mut().take_tx(Iface::N3) {
                    let (teid, qfi, n) = decode(&f);
                    if n < STABLE {
                        assert_eq!(
                            teid,
                            SessionSpec::nth(n).dl_teid,
                            "stable session {n} misrouted"
                        );
                        assert_eq!(qfi, 9);
                        got_stable += 1;
                    } else {
                        let v = teid / 0x0100_0000 - 1;
                        assert_eq!(
                            teid % 0x0100_0000,
                            n,
                            "churn session {n} got another session's TEID"
                        );
                        assert_eq!(
                            u32::from(qfi),
                            v % 63 + 1,
                            "session {n}: TEID of version {v} with the QFI of another version"
                        );
                        let k = (n - STABLE) as usize;
                        assert!(
                            v >= seen[k],
                            "session {n} went back from version {} to {v}",
                            seen[k]
                        );
                        seen[k] = v;
                        churn_out += 1;
                    }
                }
            }
            (sent_stable, got_stable, churn_out)
        }));
    }
    // Control: 20 versions of the churn sessions in batches of 100, every
    // tenth session removed in odd versions and re-added in even ones.
    let t0 = Instant::now();
    let mut publishes = 0;
    let mut removed = std::collections::HashSet::new();
    for v in 1..=VERSIONS {
        for chunk in (STABLE..STABLE + CHURN).collect::<Vec<_>>().chunks(100) {
            let mut b = Batch::default();
            for &n in chunk {
                if n % 10 == 0 && v % 2 == 1 {
                    b.removals.push(u64::from(n) + 1);
                    removed.insert(n);
                } else {
                    b.upserts.push(churn_session(n, v));
                    removed.remove(&n);
                }
            }
            ctl.publish(b).unwrap();
            publishes += 1;
            ctl.reclaim();
        }
    }
    let elapsed = t0.elapsed();
    // Let workers run on the last version a little, then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (0..workers).any(|w| ctl.worker_generation(w) != ctl.generation()) {
        assert!(
            Instant::now() < deadline,
            "workers did not pick up the last generation"
        );
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let mut stable = (0, 0);
    let mut churn = 0;
    for t in threads {
        let (s, g, c) = t.join().unwrap();
        stable.0 += s;
        stable.1 += g;
        churn += c;
    }
    ctl.reclaim();
    let c = ctl.counters();
    eprintln!(
        "{publishes} publishes in {elapsed:?}; stable packets {} in / {} out, churn packets out {churn}, no_pdr {}",
        stable.0,
        stable.1,
        c.dropped(DropReason::NoPdr)
    );
    assert!(stable.0 > 0 && churn > 0, "traffic ran during the updates");
    assert_eq!(
        stable.0, stable.1,
        "no packet of an unchanged session is lost"
    );
    for r in DropReason::ALL {
        if r != DropReason::NoPdr {
            assert_eq!(c.dropped(r), 0, "unexpected drops: {}", r.label());
        }
    }
    assert_eq!(ctl.retired_count(), 0, "all retired snapshots freed");
    assert_eq!(
        ctl.session_count() as u32,
        STABLE + CHURN - removed.len() as u32
    );
}
